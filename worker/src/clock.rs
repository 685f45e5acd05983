//! The progress rule of protocol version 2: while a request is in work, the orchestrator
//! hears how far it is at least every [`PROGRESS_INTERVAL_MS`].
//!
//! A clock thread ticks every half interval. While a request is in work it raises
//! [`Clock::due`]; the serving thread checks that flag (one relaxed load) after each number
//! and, when it is up, sends the results it has and flushes ([`Clock::reported`]). If the
//! serving thread has not reported for a whole interval — it is inside one long number — the
//! clock thread itself sends [`Response::Working`] naming the input in hand, so the
//! orchestrator can tell which input is slow even while the computation is stuck in it.
//! Both threads write through one mutex, so frames never interleave.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use shared::frame::FrameWriter;
use shared::{PROGRESS_INTERVAL_MS, RequestId, Response};

/// Shared between the serving thread and the clock thread.
#[derive(Debug)]
pub(crate) struct Clock {
    epoch: Instant,
    busy: AtomicBool,
    id: AtomicU64,
    index: AtomicU32,
    due: AtomicBool,
    /// Milliseconds since `epoch` of the last report (by either thread).
    last_report: AtomicU64,
    stop: AtomicBool,
}

/// Locks the shared writer (a panic elsewhere leaves a usable writer behind).
pub(crate) fn lock<W>(w: &Mutex<FrameWriter<W>>) -> MutexGuard<'_, FrameWriter<W>> {
    w.lock().unwrap_or_else(|e| e.into_inner())
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            busy: AtomicBool::new(false),
            id: AtomicU64::new(0),
            index: AtomicU32::new(0),
            due: AtomicBool::new(false),
            last_report: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Work on request `id` begins.
    pub(crate) fn begin(&self, id: RequestId) {
        self.id.store(id.0, Ordering::SeqCst);
        self.index.store(0, Ordering::SeqCst);
        self.reported();
        self.busy.store(true, Ordering::SeqCst);
    }

    /// Work on the request is over. Call it before taking the writer's lock to send the
    /// request's end: the clock thread checks `busy` under that lock, so no `Working` frame
    /// can follow the end of its request.
    pub(crate) fn end(&self) {
        self.busy.store(false, Ordering::SeqCst);
    }

    /// Work on input `index` begins.
    #[inline]
    pub(crate) fn at(&self, index: u32) {
        self.index.store(index, Ordering::Relaxed);
    }

    /// True when the serving thread should report (send what it has and flush).
    #[inline]
    pub(crate) fn due(&self) -> bool {
        self.due.load(Ordering::Relaxed)
    }

    /// The serving thread has just reported (and flushed).
    pub(crate) fn reported(&self) {
        self.due.store(false, Ordering::Relaxed);
        self.last_report.store(self.now_ms(), Ordering::SeqCst);
    }

    /// Ends [`Clock::run`] (at its next tick; unpark the thread to make it immediate).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The clock thread's loop.
    pub(crate) fn run<W: Write>(&self, writer: &Mutex<FrameWriter<W>>) {
        let tick = Duration::from_millis(PROGRESS_INTERVAL_MS / 2);
        while !self.stop.load(Ordering::SeqCst) {
            std::thread::park_timeout(tick);
            if !self.busy.load(Ordering::SeqCst) {
                continue;
            }
            self.due.store(true, Ordering::Relaxed);
            let now = self.now_ms();
            if now.saturating_sub(self.last_report.load(Ordering::SeqCst)) < PROGRESS_INTERVAL_MS {
                continue;
            }
            let mut w = lock(writer);
            if !self.busy.load(Ordering::SeqCst) {
                continue;
            }
            let working = Response::Working {
                id: RequestId(self.id.load(Ordering::SeqCst)),
                index: self.index.load(Ordering::SeqCst),
            };
            if w.write(&working).is_err() || w.flush().is_err() {
                // The serving thread will meet the same error and end the conversation.
                return;
            }
            self.last_report.store(now, Ordering::SeqCst);
        }
    }
}
