//! `--json`: one JSON object per job on one line of stdout (JSON Lines).
//!
//! ```text
//! {"seq":1,"input":"a.txt","argv":["gzip","a.txt"],"host":":","start":1764000000.123,
//!  "duration":0.012,"exit_code":0,"signal":null,"timed_out":false,"leaked":false,
//!  "attempts":1,"status":"ok","error":null,"lost_hosts":[],"stdout":"","stderr":""}
//! ```
//! `host` is where the last attempt ran (`:` is this machine, `[user@]host[:port]` an ssh
//! host, `srun` a Slurm step); `lost_hosts` lists the hosts that were lost while the job ran
//! there (it was run again elsewhere each time, and `attempts` counts those runs too).
//! `start` is Unix time in seconds, `duration` seconds; `exit_code` is null when the job was
//! killed by a signal (`signal` then names it, e.g. `"SIGKILL"`) or never started (`error`
//! says why). `stdout`/`stderr` hold the job's output (invalid UTF-8 replaced by U+FFFD),
//! streamed from the job's buffer so a large output is never copied whole.

use std::io::{self, Write};
use std::time::UNIX_EPOCH;

use serde::Serialize;

use super::JobReport;
use super::buffer::{Budget, Buffered};
use crate::sys;

#[derive(Serialize)]
struct Head<'a> {
    seq: u64,
    input: Option<String>,
    argv: Vec<String>,
    host: &'a str,
    start: f64,
    duration: f64,
    exit_code: Option<i32>,
    signal: Option<String>,
    timed_out: bool,
    leaked: bool,
    attempts: u32,
    status: &'a str,
    error: Option<&'a str>,
    lost_hosts: &'a [String],
}

/// Writes job `r` as one JSON line, draining its buffered `stdout` and `stderr` into it.
///
/// # Errors
/// Write errors of `w`.
pub fn write_job(
    w: &mut dyn Write,
    r: &JobReport,
    stdout: &mut Buffered,
    stderr: &mut Buffered,
    budget: &mut Budget,
) -> io::Result<()> {
    let head = Head {
        seq: r.seq,
        input: r
            .input
            .as_ref()
            .map(|i| String::from_utf8_lossy(i).into_owned()),
        argv: r
            .argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        host: &r.host,
        start: r
            .start
            .duration_since(UNIX_EPOCH)
            .map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0)
            .unwrap_or(0.0),
        duration: (r.runtime.as_secs_f64() * 1_000_000.0).round() / 1_000_000.0,
        exit_code: r.exit.and_then(|e| e.code()),
        signal: r.exit.and_then(|e| e.signal()).map(sys::signal_name),
        timed_out: r.timed_out.is_some(),
        leaked: r.leaked,
        attempts: r.attempts,
        status: r.status.as_str(),
        error: r.error.as_deref(),
        lost_hosts: &r.lost_hosts,
    };
    let mut text = serde_json::to_vec(&head).map_err(io::Error::other)?;
    text.pop(); // the closing brace: the output fields follow
    w.write_all(&text)?;
    for (name, buf) in [("stdout", stdout), ("stderr", stderr)] {
        write!(w, ",\"{name}\":\"")?;
        let mut s = JsonStr::default();
        buf.drain_into(budget, &mut |d| s.push(w, d))?;
        s.finish(w)?;
        w.write_all(b"\"")?;
    }
    w.write_all(b"}\n")
}

/// Escapes bytes into the inside of a JSON string, chunk by chunk, replacing invalid UTF-8
/// with U+FFFD (a character split across chunks is carried over).
#[derive(Debug, Default)]
struct JsonStr {
    carry: Vec<u8>,
}

impl JsonStr {
    fn push(&mut self, w: &mut dyn Write, data: &[u8]) -> io::Result<()> {
        let joined;
        let mut rest: &[u8] = if self.carry.is_empty() {
            data
        } else {
            self.carry.extend_from_slice(data);
            joined = std::mem::take(&mut self.carry);
            &joined
        };
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => return escape(w, s),
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // `good` is valid UTF-8: that is what `valid_up_to` measures.
                    escape(w, std::str::from_utf8(good).unwrap_or_default())?;
                    match e.error_len() {
                        None => {
                            self.carry = bad.to_vec(); // incomplete: wait for more
                            return Ok(());
                        }
                        Some(n) => {
                            w.write_all("\u{fffd}".as_bytes())?;
                            rest = &bad[n..];
                        }
                    }
                }
            }
        }
    }

    fn finish(&mut self, w: &mut dyn Write) -> io::Result<()> {
        if !std::mem::take(&mut self.carry).is_empty() {
            w.write_all("\u{fffd}".as_bytes())?;
        }
        Ok(())
    }
}

fn escape(w: &mut dyn Write, s: &str) -> io::Result<()> {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        w.write_all(&bytes[start..i])?;
        match esc {
            Some(e) => w.write_all(e)?,
            None => write!(w, "\\u{b:04x}")?,
        }
        start = i + 1;
    }
    w.write_all(&bytes[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(chunks: &[&[u8]]) -> String {
        let mut out = Vec::new();
        let mut s = JsonStr::default();
        for c in chunks {
            s.push(&mut out, c).unwrap();
        }
        s.finish(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_and_repairs_utf8_across_chunks() {
        assert_eq!(esc(&[b"a\"b\\c\nd\te\x01"]), r#"a\"b\\c\nd\te\u0001"#);
        let e = "é".as_bytes();
        assert_eq!(esc(&[&e[..1], &e[1..]]), "é");
        assert_eq!(esc(&[b"x\xffy"]), "x\u{fffd}y");
        assert_eq!(esc(&[&e[..1]]), "\u{fffd}");
    }

    #[test]
    fn a_record_is_one_parseable_line() {
        let r = JobReport {
            seq: 3,
            input: Some(b"a \"b\"".to_vec()),
            argv: vec!["echo".into(), "a \"b\"".into()],
            host: ":".into(),
            start: UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123),
            runtime: std::time::Duration::from_millis(12),
            exit: Some(crate::ExitStatus::Signal {
                signal: 9,
                core_dumped: false,
            }),
            timed_out: None,
            leaked: true,
            attempts: 2,
            status: super::super::JobStatus::Failed,
            error: None,
            stdout_bytes: 4,
            lost_hosts: Vec::new(),
        };
        let mut budget = Budget::new(1000);
        let mut out = Buffered::default();
        out.push(b"hi\n\xff", &mut budget);
        let mut err = Buffered::default();
        let mut line = Vec::new();
        write_job(&mut line, &r, &mut out, &mut err, &mut budget).unwrap();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["seq"], 3);
        assert_eq!(v["input"], "a \"b\"");
        assert_eq!(v["argv"][1], "a \"b\"");
        assert_eq!(v["signal"], "SIGKILL");
        assert!(v["exit_code"].is_null());
        assert_eq!(v["leaked"], true);
        assert_eq!(v["attempts"], 2);
        assert_eq!(v["start"], 1_700_000_000.123);
        assert_eq!(v["stdout"], "hi\n\u{fffd}");
        assert_eq!(v["stderr"], "");
        assert_eq!(budget.used(), 0);
    }
}
