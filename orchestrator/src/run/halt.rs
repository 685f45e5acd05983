//! `--halt`: when to stop a run early (GNU parallel's meanings).

use std::fmt;
use std::str::FromStr;

/// How to stop once the condition is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltWhen {
    /// Never stop early.
    Never,
    /// Start no new jobs; let the running ones finish.
    Soon,
    /// Start no new jobs and stop the running ones (TERM, KILL after the grace).
    Now,
}

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltOn {
    /// Jobs that failed (non-zero exit, killed by a signal, timed out, could not start).
    Fail,
    /// Jobs that succeeded.
    Success,
    /// Jobs that finished either way.
    Done,
}

/// A `--halt` policy: `never`, or `soon|now,fail|success|done=N`.
///
/// ```
/// use orchestrator::run::{HaltOn, HaltPolicy, HaltWhen};
/// let p: HaltPolicy = "now,fail=2".parse().unwrap();
/// assert_eq!((p.when, p.on, p.count), (HaltWhen::Now, HaltOn::Fail, 2));
/// assert!(p.triggered(2, 0));
/// assert!(!"never".parse::<HaltPolicy>().unwrap().triggered(100, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaltPolicy {
    /// How to stop.
    pub when: HaltWhen,
    /// What is counted.
    pub on: HaltOn,
    /// How many it takes (at least 1).
    pub count: u64,
}

impl Default for HaltPolicy {
    fn default() -> Self {
        Self {
            when: HaltWhen::Never,
            on: HaltOn::Fail,
            count: 1,
        }
    }
}

impl HaltPolicy {
    /// True once `failed` failures and `succeeded` successes meet the condition.
    pub fn triggered(&self, failed: u64, succeeded: u64) -> bool {
        let n = match self.on {
            HaltOn::Fail => failed,
            HaltOn::Success => succeeded,
            HaltOn::Done => failed + succeeded,
        };
        self.when != HaltWhen::Never && n >= self.count
    }
}

impl FromStr for HaltPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not a halt policy (expected never, soon,fail=N, now,fail=N, \
                 or success=/done= instead of fail=)"
            )
        };
        let t = s.trim();
        // GNU parallel's old numeric forms.
        match t {
            "never" | "0" => return Ok(Self::default()),
            "1" => return "soon,fail=1".parse(),
            "2" => return "now,fail=1".parse(),
            _ => {}
        }
        let (when, cond) = t.split_once(',').ok_or_else(bad)?;
        let when = match when {
            "soon" => HaltWhen::Soon,
            "now" => HaltWhen::Now,
            _ => return Err(bad()),
        };
        let (on, count) = cond.split_once('=').ok_or_else(bad)?;
        let on = match on {
            "fail" => HaltOn::Fail,
            "success" => HaltOn::Success,
            "done" => HaltOn::Done,
            _ => return Err(bad()),
        };
        if count.ends_with('%') {
            return Err(format!(
                "`{s}`: percentages are not supported; give a number of jobs"
            ));
        }
        let count: u64 = count.parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!("`{s}`: the count must be at least 1"));
        }
        Ok(Self { when, on, count })
    }
}

impl fmt::Display for HaltPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = match self.when {
            HaltWhen::Never => return f.write_str("never"),
            HaltWhen::Soon => "soon",
            HaltWhen::Now => "now",
        };
        let on = match self.on {
            HaltOn::Fail => "fail",
            HaltOn::Success => "success",
            HaltOn::Done => "done",
        };
        write!(f, "{when},{on}={}", self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gnu_parallel_forms() {
        for (s, want) in [
            ("never", "never"),
            ("soon,fail=3", "soon,fail=3"),
            ("now,success=1", "now,success=1"),
            ("now,done=10", "now,done=10"),
            ("1", "soon,fail=1"),
            ("2", "now,fail=1"),
        ] {
            assert_eq!(s.parse::<HaltPolicy>().unwrap().to_string(), want);
        }
        for bad in [
            "sometimes",
            "now",
            "now,fail",
            "now,fail=x",
            "now,fail=0",
            "soon,err=1",
        ] {
            let e = bad.parse::<HaltPolicy>().unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        assert!(
            "now,fail=10%"
                .parse::<HaltPolicy>()
                .unwrap_err()
                .contains("percent")
        );
    }

    #[test]
    fn triggers_on_its_count() {
        let p: HaltPolicy = "soon,success=2".parse().unwrap();
        assert!(!p.triggered(5, 1));
        assert!(p.triggered(0, 2));
        let p: HaltPolicy = "now,done=3".parse().unwrap();
        assert!(p.triggered(1, 2));
    }
}
