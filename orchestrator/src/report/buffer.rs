//! A job's buffered output: in memory while a run-wide budget lasts, then spilled to an
//! unnamed temporary file (`O_TMPFILE` where available, deleted when closed).
//!
//! So grouped and ordered output never holds more than the budget in memory, however much
//! the jobs print, and never blocks a job (its pipe is always read). If a spill file cannot
//! be created (out of fds or disk), the output stays in memory and a warning says so once.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// In-memory bytes allowed across all buffered output of a run, by default.
pub const DEFAULT_MEMORY_BUDGET: usize = 16 << 20;

/// The run-wide count of buffered bytes held in memory.
#[derive(Debug)]
pub struct Budget {
    used: usize,
    limit: usize,
    spill_failed: Option<io::Error>,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            used: 0,
            limit,
            spill_failed: None,
        }
    }

    /// Bytes held in memory now.
    pub fn used(&self) -> usize {
        self.used
    }

    /// The first spill failure, once (for a warning).
    pub fn take_spill_failure(&mut self) -> Option<io::Error> {
        self.spill_failed.take()
    }
}

/// One stream of one job: a memory prefix, then a spill file.
#[derive(Debug, Default)]
pub struct Buffered {
    mem: Vec<u8>,
    spill: Option<File>,
    spilled: u64,
    /// What came after a failed write to the spill file (kept in memory, after the file).
    tail: Vec<u8>,
    /// A spill was attempted and failed: keep everything in memory.
    no_spill: bool,
}

impl Buffered {
    /// Total bytes held.
    pub fn len(&self) -> u64 {
        (self.mem.len() + self.tail.len()) as u64 + self.spilled
    }

    /// True if nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The in-memory part (all of it unless spilled).
    pub fn memory(&self) -> &[u8] {
        &self.mem
    }

    /// Appends `data`.
    pub fn push(&mut self, data: &[u8], budget: &mut Budget) {
        if self.spill.is_none() && (self.no_spill || budget.used + data.len() <= budget.limit) {
            budget.used += data.len();
            self.mem.extend_from_slice(data);
            return;
        }
        if self.no_spill {
            // A write to the spill file failed earlier: the rest goes after it, in memory.
            budget.used += data.len();
            self.tail.extend_from_slice(data);
            return;
        }
        if self.spill.is_none() {
            match tempfile::tempfile() {
                Ok(f) => self.spill = Some(f),
                Err(e) => {
                    if budget.spill_failed.is_none() {
                        budget.spill_failed = Some(e);
                    }
                    self.no_spill = true;
                    budget.used += data.len();
                    self.mem.extend_from_slice(data);
                    return;
                }
            }
        }
        let f = self.spill.as_mut().expect("spill file just ensured");
        match f.write_all(data) {
            Ok(()) => self.spilled += data.len() as u64,
            Err(e) => {
                // Disk full: keep the rest in memory rather than lose it.
                if budget.spill_failed.is_none() {
                    budget.spill_failed = Some(e);
                }
                budget.used += data.len();
                self.tail.extend_from_slice(data);
                self.no_spill = true;
            }
        }
    }

    /// Writes everything held to `w` in order through `emit` (which may add tags) and
    /// empties the buffer, giving its memory back to `budget`.
    ///
    /// # Errors
    /// A write error of `w`, or a read error of the spill file.
    pub fn drain_into(
        &mut self,
        budget: &mut Budget,
        emit: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let mem = std::mem::take(&mut self.mem);
        let tail = std::mem::take(&mut self.tail);
        budget.used -= mem.len() + tail.len();
        let spilled = std::mem::take(&mut self.spilled);
        if !mem.is_empty() {
            emit(&mem)?;
        }
        if let Some(mut f) = self.spill.take() {
            f.seek(SeekFrom::Start(0))?;
            let mut buf = vec![0u8; 64 * 1024];
            let mut left = spilled;
            while left > 0 {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                let n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
                left -= n as u64;
                emit(&buf[..n])?;
            }
        }
        if !tail.is_empty() {
            emit(&tail)?;
        }
        self.no_spill = false;
        Ok(())
    }

    /// Drops everything held (a failed attempt that will be retried).
    pub fn clear(&mut self, budget: &mut Budget) {
        budget.used -= self.mem.len() + self.tail.len();
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(b: &mut Buffered, budget: &mut Budget) -> Vec<u8> {
        let mut out = Vec::new();
        b.drain_into(budget, &mut |d| {
            out.extend_from_slice(d);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn spills_past_the_budget_and_keeps_the_order() {
        let mut budget = Budget::new(10);
        let mut a = Buffered::default();
        let mut b = Buffered::default();
        a.push(b"0123456", &mut budget);
        b.push(b"abc", &mut budget);
        assert_eq!(budget.used(), 10);
        a.push(b"789xyz", &mut budget); // over budget: spilled
        b.push(b"def", &mut budget);
        assert_eq!(budget.used(), 10);
        assert_eq!(a.len(), 13);
        assert_eq!(a.memory(), b"0123456");
        assert_eq!(collect(&mut a, &mut budget), b"0123456789xyz");
        assert_eq!(budget.used(), 3);
        assert_eq!(collect(&mut b, &mut budget), b"abcdef");
        assert_eq!(budget.used(), 0);
        assert!(a.is_empty() && b.is_empty());
    }

    #[test]
    fn clear_returns_the_memory() {
        let mut budget = Budget::new(100);
        let mut a = Buffered::default();
        a.push(b"hello", &mut budget);
        a.clear(&mut budget);
        assert_eq!(budget.used(), 0);
        assert!(a.is_empty());
    }
}
