//! Shutdown signals (SIGINT, SIGTERM, SIGHUP) delivered to an event loop, never acted on
//! inside a signal handler.
//!
//! A library must not own process-wide signal state, so nothing here is installed behind the
//! caller's back: the CLI calls [`ShutdownSignals::install`]; library users and tests pass
//! [`ShutdownSignals::noop`] (as nextest's `SignalHandlerKind::Noop`). Each signal gets a
//! self-pipe (signal-hook writes one byte per delivery); loops `poll` the read ends from
//! [`ShutdownSignals::fds`] and call [`ShutdownSignals::take`] to learn what arrived.
//!
//! Dropping the value unregisters its actions, but (as signal-hook documents for
//! `unregister`) the process-wide handler stays installed and the default action is **not**
//! restored: from then on these signals do nothing to the process. The CLI drops it only on
//! its way out; a long-lived program should keep it for as long as it wants Ctrl-C handled.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};

use crate::pipes::{self, PipeReader};
use crate::sys::{self, Signal};

/// The signals that ask a run to stop.
pub const SHUTDOWN_SIGNALS: [Signal; 3] = [Signal::Int, Signal::Term, Signal::Hup];

/// Receives shutdown signals for an event loop (see the module docs).
///
/// ```
/// use orchestrator::signal::ShutdownSignals;
/// use orchestrator::supervisor::{Event, Supervisor};
/// use orchestrator::{Signal, sys};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // The CLI's way: the loop reports each delivery as an event, and decides what to do.
/// let mut sup: Supervisor<()> = Supervisor::new()?.with_signals(ShutdownSignals::install()?)?;
/// sys::kill(sys::getpid(), Signal::Hup)?; // as if the terminal went away
/// let mut got = Vec::new();
/// while got.is_empty() {
///     sup.turn(None, &mut |event| {
///         if let Event::Signal(s) = event {
///             got.push(s);
///         }
///     })?;
/// }
/// assert_eq!(got, [Signal::Hup]);
///
/// // Library code and tests: nothing is caught.
/// assert_eq!(ShutdownSignals::noop().fds().count(), 0);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ShutdownSignals {
    pipes: Vec<(Signal, PipeReader)>,
    ids: Vec<signal_hook::SigId>,
}

impl ShutdownSignals {
    /// Catches SIGINT, SIGTERM and SIGHUP from now until the value is dropped.
    ///
    /// # Errors
    /// If a pipe cannot be created or a handler cannot be registered.
    pub fn install() -> io::Result<Self> {
        let mut me = Self::noop();
        for sig in SHUTDOWN_SIGNALS {
            let (r, w) = pipes::pipe()?;
            sys::set_nonblocking(r.as_fd(), true)?;
            let id = signal_hook::low_level::pipe::register(sig.raw(), w)?;
            me.ids.push(id);
            me.pipes.push((sig, r));
        }
        Ok(me)
    }

    /// Catches nothing: for library use and tests.
    pub fn noop() -> Self {
        Self {
            pipes: Vec::new(),
            ids: Vec::new(),
        }
    }

    /// Read ends to poll for readability; readable when a signal has arrived.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.pipes.iter().map(|(_, r)| r.as_fd())
    }

    /// Signals received since the last call, in no particular order, one entry per delivery.
    pub fn take(&self) -> Vec<Signal> {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        for (sig, r) in &self.pipes {
            loop {
                match (&*r).read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend(std::iter::repeat_n(*sig, n)),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break, // WouldBlock: nothing more
                }
            }
        }
        got
    }
}

impl Drop for ShutdownSignals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// The exit code a process should use after stopping because of `sig` (128 + its number:
/// 130 for SIGINT, 143 for SIGTERM), as shells and GNU parallel do.
pub fn exit_code_for(sig: Signal) -> i32 {
    128 + sig.raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(s: &ShutdownSignals, n: usize) -> Vec<Signal> {
        let mut got = Vec::new();
        for _ in 0..400 {
            got.extend(s.take());
            if got.len() >= n {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        got
    }

    #[test]
    fn a_delivered_signal_is_seen_once_per_delivery() {
        let s = ShutdownSignals::install().unwrap();
        assert!(s.take().is_empty());
        // Standard signals do not queue: send the second only after the first was seen.
        sys::kill(sys::getpid(), Signal::Hup).unwrap();
        assert_eq!(wait_for(&s, 1), vec![Signal::Hup]);
        sys::kill(sys::getpid(), Signal::Hup).unwrap();
        assert_eq!(wait_for(&s, 1), vec![Signal::Hup]);
        assert!(s.take().is_empty());
        assert_eq!(exit_code_for(Signal::Int), 130);
        assert_eq!(exit_code_for(Signal::Term), 143);
    }
}
