//! A test binary's `main` for cluster tests (`harness = false`): start the cluster once, run
//! every case in order on the main thread, tear down, report like libtest.
//!
//! - Skips are loud: when the cluster (or its Slurm part) cannot start here, a line
//!   `SKIPPED <suite> tests: <reason>` goes to stderr, each affected case is listed as
//!   `ignored`, and the reason is appended to the skip file ([`skip_file`]) that `.ci/run` prints
//!   after `make test`.
//! - A case that panics fails; the others still run; the cluster is torn down in every case.
//! - A case that runs longer than [`CASE_LIMIT`] is a hang: the watchdog tears the cluster down
//!   and exits 101. SIGINT, SIGTERM and SIGHUP also tear down before exiting.
//! - Arguments as libtest takes them: words filter cases by substring (`--exact` for whole
//!   names), `--skip WORD` excludes, `--list` lists; other flags are ignored.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Cluster, ClusterOptions, StartError};

/// The longest one case may run before it counts as hung.
pub const CASE_LIMIT: Duration = Duration::from_secs(180);

/// What a case needs from the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The ssh hosts (always there when the cluster is).
    Ssh,
    /// Slurm as well.
    Slurm,
}

/// One test case.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Its name, as printed and filtered.
    pub name: &'static str,
    /// What it needs.
    pub needs: Needs,
    /// The test: panics on failure.
    pub run: fn(&Cluster),
}

/// Where skip reasons are recorded: `$TESTKIT_SKIP_FILE` if set, else
/// `<target dir>/skipped-tests.txt`.
pub fn skip_file() -> PathBuf {
    if let Some(path) = std::env::var_os("TESTKIT_SKIP_FILE") {
        return PathBuf::from(path);
    }
    let profile = crate::profile_dir();
    profile
        .parent()
        .map_or(profile.clone(), PathBuf::from)
        .join("skipped-tests.txt")
}

/// Prints `SKIPPED <suite> tests: <reason>` on stderr and appends it to [`skip_file`].
pub fn report_skip(suite: &str, reason: &str) {
    let line = format!("SKIPPED {suite} tests: {reason}");
    eprintln!("{line}");
    let path = skip_file();
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        eprintln!("testkit: cannot record the skip in {}: {e}", path.display());
    }
}

struct Args {
    filters: Vec<String>,
    skips: Vec<String>,
    exact: bool,
    list: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        filters: Vec::new(),
        skips: Vec::new(),
        exact: false,
        list: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--exact" => args.exact = true,
            "--list" => args.list = true,
            "--skip" => args.skips.extend(it.next()),
            "--test-threads" | "--color" | "--format" | "--logfile" | "-Z" => {
                it.next();
            }
            flag if flag.starts_with('-') => {}
            word => args.filters.push(word.to_string()),
        }
    }
    args
}

impl Args {
    fn selects(&self, name: &str) -> bool {
        let hit = |f: &String| {
            if self.exact {
                name == f
            } else {
                name.contains(f.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(hit)) && !self.skips.iter().any(hit)
    }
}

/// Runs `cases` against one cluster started with `opts`; the whole `main` of a cluster test
/// binary.
pub fn run_suite(suite: &str, opts: &ClusterOptions, cases: &[Case]) -> ExitCode {
    let args = parse_args();
    let selected: Vec<&Case> = cases.iter().filter(|c| args.selects(c.name)).collect();
    if args.list {
        for case in &selected {
            println!("{}: test", case.name);
        }
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    println!("\nrunning {} tests", selected.len());
    if selected.is_empty() {
        summary(0, 0, 0, started);
        return ExitCode::SUCCESS;
    }

    let cluster = match Cluster::start(opts) {
        Ok(cluster) => Arc::new(cluster),
        Err(StartError::Unavailable(reason)) => {
            report_skip(suite, &reason);
            for case in &selected {
                println!("test {} ... ignored, {reason}", case.name);
            }
            summary(0, 0, selected.len(), started);
            return ExitCode::SUCCESS;
        }
        Err(StartError::Failed(why)) => {
            eprintln!("{suite}: the test cluster failed to start: {why}");
            for case in &selected {
                println!("test {} ... FAILED (no cluster)", case.name);
            }
            summary(0, selected.len(), 0, started);
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "{suite}: cluster up in {:.2} s: {}",
        cluster.setup_time().as_secs_f64(),
        cluster.describe()
    );
    tear_down_on_signals(&cluster);
    let watchdog = Watchdog::start(Arc::clone(&cluster));

    let slurm_skip = cluster.slurm_unavailable().map(str::to_string);
    if let Some(reason) = &slurm_skip
        && selected.iter().any(|c| c.needs == Needs::Slurm)
    {
        report_skip(&format!("{suite} slurm"), reason);
    }
    let (mut passed, mut failed, mut ignored) = (0, Vec::new(), 0);
    for case in &selected {
        if let (Needs::Slurm, Some(reason)) = (case.needs, &slurm_skip) {
            println!("test {} ... ignored, {reason}", case.name);
            ignored += 1;
            continue;
        }
        print!("test {} ... ", case.name);
        let _ = std::io::stdout().flush();
        watchdog.arm(case.name);
        let t0 = Instant::now();
        let result = std::panic::catch_unwind(|| (case.run)(&cluster));
        watchdog.disarm();
        let took = t0.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                println!("ok ({took:.2} s)");
                passed += 1;
            }
            Err(_) => {
                println!("FAILED ({took:.2} s)");
                failed.push(case.name);
            }
        }
    }
    let t0 = Instant::now();
    cluster.teardown();
    eprintln!(
        "{suite}: cluster torn down in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        println!("\nfailures:");
        for name in &failed {
            println!("    {name}");
        }
    }
    summary(passed, failed.len(), ignored, started);
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn summary(passed: usize, failed: usize, ignored: usize, started: Instant) {
    let result = if failed == 0 { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {result}. {passed} passed; {failed} failed; {ignored} ignored; 0 measured; 0 filtered out; finished in {:.2}s\n",
        started.elapsed().as_secs_f64()
    );
}

/// SIGINT/SIGTERM/SIGHUP: tear down, then exit with 128 + the signal.
fn tear_down_on_signals(cluster: &Arc<Cluster>) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        eprintln!("testkit: cannot watch signals; an interrupted run leaves the network behind");
        return;
    };
    let cluster = Arc::clone(cluster);
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            eprintln!("testkit: signal {signal}: tearing the cluster down");
            cluster.teardown();
            std::process::exit(128 + signal);
        }
    });
}

/// Tears the cluster down and exits if one case runs longer than [`CASE_LIMIT`].
struct Watchdog {
    tx: mpsc::Sender<Option<&'static str>>,
}

impl Watchdog {
    fn start(cluster: Arc<Cluster>) -> Self {
        let (tx, rx) = mpsc::channel::<Option<&'static str>>();
        std::thread::spawn(move || {
            let mut current: Option<(&'static str, Instant)> = None;
            loop {
                let wait = current.map_or(Duration::from_secs(3600), |(_, since)| {
                    CASE_LIMIT.saturating_sub(since.elapsed())
                });
                match rx.recv_timeout(wait) {
                    Ok(Some(name)) => current = Some((name, Instant::now())),
                    Ok(None) => current = None,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if let Some((name, _)) = current {
                            eprintln!(
                                "\ntestkit: case `{name}` still running after {CASE_LIMIT:?}: a hang; tearing down"
                            );
                            cluster.teardown();
                            std::process::exit(101);
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        });
        Self { tx }
    }

    fn arm(&self, name: &'static str) {
        let _ = self.tx.send(Some(name));
    }

    fn disarm(&self) {
        let _ = self.tx.send(None);
    }
}
