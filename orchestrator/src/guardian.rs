//! A guardian process that kills every job's process group if the orchestrator dies.
//!
//! `PR_SET_PDEATHSIG` (see [`Command::kill_on_parent_death`](crate::Command)) has two
//! limits: it reaches only the direct child, not the grandchildren in its group, and it
//! needs `fork`+`exec` instead of the faster `posix_spawn`. The guardian lifts both. It is
//! a small child forked at start-up (while the process is single-threaded), in its own
//! process group, holding only the read end of a pipe. The orchestrator writes each job's
//! process group id when it starts and again (negated) when it is finished; if the
//! orchestrator exits or is killed — even with SIGKILL — the kernel closes the pipe and the
//! guardian sends SIGKILL to every group it still watches, grandchildren included.
//!
//! Limits: a process that left its job's group (`setsid`, `setpgid`) is not reached; a group
//! is watched from just after its spawn returns (a SIGKILL landing in those microseconds
//! leaves that one job unwatched); killing the guardian itself removes the protection (the
//! next write fails and a warning says so).

use std::fs::File;
use std::io::{self, Write};

use crate::sys::{self, Pid};

/// The orchestrator's end of the guardian (see the module docs).
#[derive(Debug)]
pub struct Guardian {
    pid: Pid,
    pipe: Option<File>,
    /// Groups finished but not yet told (batched: one write per loop turn).
    forget: Vec<u8>,
    /// Groups watched and not forgotten.
    watched: usize,
    failed: Option<io::Error>,
}

impl Guardian {
    /// Forks the guardian. Call it before any other thread is started.
    ///
    /// # Errors
    /// If the process already has several threads, or the pipe or fork fails.
    pub fn start() -> io::Result<Self> {
        let (pid, w) = sys::spawn_guardian()?;
        Ok(Self {
            pid,
            pipe: Some(File::from(w)),
            forget: Vec::new(),
            watched: 0,
            failed: None,
        })
    }

    /// Watch process group `pgid` (a job just started). Sent at once, after any pending
    /// "forget" records, so a reused id is never forgotten after being watched.
    pub fn watch(&mut self, pgid: u32) {
        let mut rec = std::mem::take(&mut self.forget);
        rec.extend_from_slice(&(pgid as i32).to_ne_bytes());
        self.send(&rec);
        self.watched += 1;
    }

    /// Stop watching `pgid` (its job is finished and its group empty); sent at the next
    /// [`Guardian::flush`] or [`Guardian::watch`].
    pub fn forget(&mut self, pgid: u32) {
        self.forget
            .extend_from_slice(&(-(pgid as i32)).to_ne_bytes());
        self.watched = self.watched.saturating_sub(1);
    }

    /// Sends the pending "forget" records.
    pub fn flush(&mut self) {
        if !self.forget.is_empty() {
            let rec = std::mem::take(&mut self.forget);
            self.send(&rec);
        }
    }

    /// The first write error (the guardian is gone: protection is lost), once.
    pub fn take_failure(&mut self) -> Option<io::Error> {
        self.failed.take()
    }

    fn send(&mut self, rec: &[u8]) {
        let Some(p) = &mut self.pipe else {
            return;
        };
        if let Err(e) = p.write_all(rec) {
            self.pipe = None;
            self.failed = Some(e);
        }
    }
}

impl Drop for Guardian {
    fn drop(&mut self) {
        if self.watched == 0 {
            // Nothing left for it to do: end it now rather than wait for it to notice the
            // end of file (it naps up to 5 ms between reads). Unreaped, its pid is ours.
            let _ = sys::kill(self.pid, sys::Signal::Kill);
        } else {
            // End of file: it kills the groups still watched, then exits.
            self.flush();
        }
        self.pipe = None;
        // Reap it so it does not outlive us even for a moment.
        let _ = sys::reap(self.pid);
    }
}
