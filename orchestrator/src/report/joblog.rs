//! `--joblog FILE`: GNU parallel's tab-separated job log, and `--resume` from it.
//!
//! Columns: `Seq Host Starttime JobRuntime Send Receive Exitval Signal Command`, one record
//! per job when it finishes (so in completion order), flushed at once so a crashed run still
//! leaves a usable log. As in GNU parallel: `Starttime` is Unix time with milliseconds,
//! `JobRuntime` seconds, `Send` the bytes sent to its stdin (always 0 here), `Receive` the
//! bytes of its stdout; a job killed by a signal has `Exitval` 0 and the signal number in
//! `Signal`; a **timed-out job has `Exitval` -1** and the signal that ended it. A job that
//! could not start has `Exitval` 127 (not found) or 126 (cannot execute), as a shell reports
//! it. Jobs the run itself stopped (Ctrl-C, `--halt now`) are not recorded, so `--resume`
//! runs them again.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::UNIX_EPOCH;

use super::{JobReport, JobStatus};
use crate::run::template::display_argv;

/// The header line.
pub const HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";

/// An open joblog.
#[derive(Debug)]
pub struct Joblog {
    file: File,
    path: String,
}

impl Joblog {
    /// Creates (truncates) `path` and writes the header; with `append`, keeps what is there
    /// and writes the header only if the file is empty.
    ///
    /// # Errors
    /// If the file cannot be opened or written (the error names it).
    pub fn open(path: &Path, append: bool) -> io::Result<Self> {
        let name = path.display().to_string();
        let named = |e: io::Error| io::Error::new(e.kind(), format!("joblog `{name}`: {e}"));
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .map_err(named)?;
        let len = file.metadata().map_err(named)?.len();
        if len == 0 {
            writeln!(file, "{HEADER}").map_err(named)?;
        } else {
            // A record cut short by a crash: end its line so ours start on a fresh one.
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1)).map_err(named)?;
            file.read_exact(&mut last).map_err(named)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(named)?;
            }
        }
        Ok(Self { file, path: name })
    }

    /// Appends the record of a finished job (nothing for a job the run stopped).
    ///
    /// # Errors
    /// If writing fails (the error names the file).
    pub fn record(&mut self, r: &JobReport) -> io::Result<()> {
        if r.status == JobStatus::Stopped {
            return Ok(());
        }
        let line = format_record(r);
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| io::Error::new(e.kind(), format!("joblog `{}`: {e}", self.path)))
    }
}

/// One TSV line (with its newline).
pub fn format_record(r: &JobReport) -> String {
    let start = r
        .start
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let (exitval, signal) = match (r.status, r.exit) {
        (JobStatus::NotStarted(n), _) => (n.shell_code(), 0),
        (JobStatus::TimedOut, exit) => {
            let sig = exit.and_then(|e| e.signal()).unwrap_or_else(|| {
                // It exited by itself during the grace: the TERM we sent ended it.
                crate::sys::Signal::Term.raw()
            });
            (-1, sig)
        }
        (_, Some(e)) => (e.code().unwrap_or(0), e.signal().unwrap_or(0)),
        (_, None) => (0, 0),
    };
    format!(
        "{}\t{}\t{:.3}\t{:10.3}\t0\t{}\t{}\t{}\t{}\n",
        r.seq,
        r.host,
        start,
        r.runtime.as_secs_f64(),
        r.stdout_bytes,
        exitval,
        signal,
        display_argv(&r.argv)
    )
}

/// The jobs a joblog records as done, for `--resume` (any outcome) or `--resume-failed`
/// (successes only: failed jobs run again).
#[derive(Debug, Default, Clone)]
pub struct Done {
    bits: Vec<u64>,
    count: u64,
}

impl Done {
    /// True if job `seq` is recorded as done.
    pub fn contains(&self, seq: u64) -> bool {
        let (w, b) = ((seq / 64) as usize, seq % 64);
        self.bits.get(w).is_some_and(|word| word & (1 << b) != 0)
    }

    /// Number of jobs recorded.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True if nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn insert(&mut self, seq: u64) {
        let (w, b) = ((seq / 64) as usize, seq % 64);
        if self.bits.len() <= w {
            self.bits.resize(w + 1, 0);
        }
        if self.bits[w] & (1 << b) == 0 {
            self.bits[w] |= 1 << b;
            self.count += 1;
        }
    }

    /// Reads the joblog at `path` (a missing file records nothing). A record counts if it
    /// parses; with `successes_only`, only if its `Exitval` and `Signal` are 0. Lines that
    /// do not parse (a record cut short by a crash) are skipped and counted in the second
    /// value. Memory: one bit per job number.
    ///
    /// # Errors
    /// If the file exists but cannot be read (the error names it).
    pub fn load(path: &Path, successes_only: bool) -> io::Result<(Self, u64)> {
        let name = path.display();
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Self::default(), 0)),
            Err(e) => {
                return Err(io::Error::new(e.kind(), format!("joblog `{name}`: {e}")));
            }
        };
        let mut done = Self::default();
        let mut bad = 0;
        let mut r = BufReader::new(f);
        let mut line = Vec::new();
        let mut first = true;
        loop {
            line.clear();
            let n = r
                .read_until(b'\n', &mut line)
                .map_err(|e| io::Error::new(e.kind(), format!("joblog `{name}`: {e}")))?;
            if n == 0 {
                break;
            }
            let is_header = first && line.starts_with(b"Seq\t");
            first = false;
            if is_header {
                continue;
            }
            match parse_record(&line) {
                Some((seq, exitval, signal)) => {
                    if !successes_only || (exitval == 0 && signal == 0) {
                        done.insert(seq);
                    }
                }
                None => bad += 1,
            }
        }
        Ok((done, bad))
    }
}

fn parse_record(line: &[u8]) -> Option<(u64, i64, i64)> {
    if !line.ends_with(b"\n") {
        return None; // cut short
    }
    let text = std::str::from_utf8(line).ok()?;
    let cols: Vec<&str> = text.trim_end_matches('\n').splitn(9, '\t').collect();
    if cols.len() < 9 {
        return None;
    }
    let seq = cols[0].trim().parse().ok()?;
    let exitval = cols[6].trim().parse().ok()?;
    let signal = cols[7].trim().parse().ok()?;
    Some((seq, exitval, signal))
}

#[cfg(test)]
mod tests {
    use super::super::NotStarted;
    use super::*;
    use crate::ExitStatus;
    use std::time::Duration;

    fn report(seq: u64, status: JobStatus, exit: Option<ExitStatus>) -> JobReport {
        JobReport {
            seq,
            input: None,
            argv: vec!["echo".into(), "a\tb".into()],
            host: ":".into(),
            start: UNIX_EPOCH + Duration::from_millis(1_700_000_000_250),
            runtime: Duration::from_millis(1500),
            exit,
            timed_out: None,
            leaked: false,
            attempts: 1,
            status,
            error: None,
            stdout_bytes: 6,
            lost_hosts: Vec::new(),
        }
    }

    #[test]
    fn records_follow_gnu_parallel() {
        let ok = report(1, JobStatus::Ok, Some(ExitStatus::Code(0)));
        assert_eq!(
            format_record(&ok),
            "1\t:\t1700000000.250\t     1.500\t0\t6\t0\t0\techo $'a\\tb'\n"
        );
        let killed = report(
            2,
            JobStatus::Failed,
            Some(ExitStatus::Signal {
                signal: 9,
                core_dumped: false,
            }),
        );
        assert!(format_record(&killed).contains("\t0\t9\t"));
        let timed = report(3, JobStatus::TimedOut, Some(ExitStatus::Code(0)));
        assert!(format_record(&timed).contains("\t-1\t15\t"));
        let missing = report(4, JobStatus::NotStarted(NotStarted::NotFound), None);
        assert!(format_record(&missing).contains("\t127\t0\t"));
    }

    #[test]
    fn resume_reads_back_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let mut j = Joblog::open(&p, false).unwrap();
        j.record(&report(1, JobStatus::Ok, Some(ExitStatus::Code(0))))
            .unwrap();
        j.record(&report(3, JobStatus::Failed, Some(ExitStatus::Code(2))))
            .unwrap();
        j.record(&report(4, JobStatus::Stopped, Some(ExitStatus::Code(0))))
            .unwrap();
        drop(j);
        // A record cut short by a crash is ignored.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"5\t:\t17000").unwrap();
        drop(f);
        let (done, bad) = Done::load(&p, false).unwrap();
        assert_eq!(bad, 1);
        assert_eq!(done.len(), 2);
        assert!(done.contains(1) && done.contains(3));
        assert!(!done.contains(2) && !done.contains(4) && !done.contains(5));
        let (ok_only, _) = Done::load(&p, true).unwrap();
        assert!(ok_only.contains(1) && !ok_only.contains(3));
        // Appending keeps the header single.
        drop(Joblog::open(&p, true).unwrap());
        let mut j = Joblog::open(&p, true).unwrap();
        j.record(&report(6, JobStatus::Ok, Some(ExitStatus::Code(0))))
            .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.matches("Seq\t").count(), 1);
        assert!(text.contains("\n6\t:\t"), "{text}");
        assert!(Done::load(&p, false).unwrap().0.contains(6));
        let (none, _) = Done::load(&dir.path().join("missing"), false).unwrap();
        assert!(none.is_empty());
    }
}
