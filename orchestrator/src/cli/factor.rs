//! `orchestrator factor`: numbers through a pool of persistent `worker serve` processes.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{cpu_count, exit, io_msg, parse_duration};
use crate::pipes;
use crate::pool::{
    Mode, Pool, PoolError, PoolEvent, RunSummary, TextFormat, TextInput, TextJob, TextSink,
};
use crate::signal::{ShutdownSignals, exit_code_for};
use crate::sys::{self, Signal};

const AFTER_HELP: &str = "\
Starts --procs `worker serve` processes (the `worker` program next to this one, or
--worker PATH) and keeps them for the whole run. Numbers go to them in chunks of about
20 ms of work; a faster worker takes more chunks. The output is in input order and byte
for byte what `worker factor` and GNU coreutils `factor` print (`N: p1 p2 ...`; with
--mode divisors, every divisor: `12: 1 2 3 4 6 12`), or one JSON object per line.

Numbers are decimal, 0 to 2^128 - 1, with an optional `+` and leading zeros. They come from
the arguments, from --input FILE, or from standard input (the default), separated by
spaces, tabs or newlines, and are factored as they arrive. An input that is not a number
(`abc`, `-5`, 2^128) gets a message on standard error naming it, as coreutils does, and
the others are still factored.

Nothing is lost when a worker dies (killed, crashed, or writing garbage): it is replaced
and the numbers it held go to another worker; a number whose worker dies 3 times
(--max-attempts) is reported instead of factored. A number that runs longer than
--timeout gets its worker killed and replaced and is reported as timed out; the run goes
on. Ctrl-C stops the workers (SIGTERM, then SIGKILL after 2 s), keeps what was done and
exits 130; a second Ctrl-C quits at once. A progress line is shown on standard error when
it is a terminal.

Examples:
  orchestrator factor 12 2139079          # 12: 2 2 3 / 2139079: 101 21179
  seq 1000000 | orchestrator factor --procs 2 > factors.txt
  orchestrator factor --input numbers.txt --timeout 2s --json
  orchestrator factor --mode divisors 720720

Exit codes:
  0    every input was factored
  1    some input was not a number (or a number failed; none timed out)
  2    usage error
  124  some number timed out
  125  internal error (no worker could be started, unreadable input...)
  130  interrupted by SIGINT (143: SIGTERM)
  141  standard output was closed early (as `factor` killed by SIGPIPE)";

/// Options of `orchestrator factor`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// Worker processes (default: the number of CPUs). With --hosts/-S: workers on each host
    /// whose sshlogin has no `N/` [default: its core count]. Example: --procs 2
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub procs: Option<u32>,

    /// What to print for each number: `primes` (its prime factors, as `factor`) or
    /// `divisors` (all its divisors, ascending). Example: --mode divisors
    #[arg(long, value_name = "MODE", default_value = "primes", value_parser = parse_mode)]
    pub mode: Mode,

    /// Give up on a number that takes longer than this: its worker is killed and replaced,
    /// and the number is reported as timed out. Example: --timeout 2s (also 500ms, 1m)
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// One JSON object per input and line (see the help text).
    #[arg(
        long,
        help = r#"One JSON object per input and line: {"n":12,"factors":[2,2,3]} (or "divisors"), or {"input":"abc","error":"..."} for an input that is not a number; numbers are JSON numbers (u128: parse them with a big-integer-aware reader)"#
    )]
    pub json: bool,

    /// Read the numbers from FILE (`-`: standard input, the default). Example: --input
    /// numbers.txt
    #[arg(
        short = 'i',
        long = "input",
        value_name = "FILE",
        conflicts_with = "numbers"
    )]
    pub input: Option<PathBuf>,

    /// The worker program (default: `worker` in this program's directory). It is run as
    /// `PATH serve`. Example: --worker target/release/worker
    #[arg(long, value_name = "PATH")]
    pub worker: Option<PathBuf>,

    /// Times a worker may die on one number before that number is reported as failed.
    /// Example: --max-attempts 5
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,

    /// In divisors mode, refuse (with a message) a number with more divisors than this:
    /// a u128 can have 3 * 10^8 of them. Every u64 has at most 184320. Example:
    /// --max-divisors 10000000
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_divisors: u64,

    /// Where the workers run (ssh hosts, Slurm).
    #[command(flatten)]
    pub remote: super::remote::RemoteArgs,

    /// Numbers to factor, each taken whole (as `factor` takes its arguments). Without any,
    /// they are read from --input or standard input. (`-5` is taken as a number and
    /// rejected, not as an option.) Example: 12 2139079
    #[arg(value_name = "NUMBER", allow_negative_numbers = true)]
    pub numbers: Vec<OsString>,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

/// Runs `orchestrator factor` and returns the exit code.
pub fn execute(args: Args) -> i32 {
    let input = match input_of(&args) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("orchestrator factor: {e}");
            return exit::INTERNAL;
        }
    };
    let show_progress = io::stderr().is_terminal();
    let bar = show_progress.then(|| progress_bar(&input));
    let procs = args.procs.map_or_else(cpu_count, |n| n as usize);
    let mut builder = Pool::builder()
        .procs(procs)
        .timeout(args.timeout)
        .max_attempts(args.max_attempts);
    if let Some(w) = &args.worker {
        builder = builder.worker(w);
    }
    // Bad --hosts/-S/--launcher values are usage errors, found before any worker starts.
    let placement = match args.remote.placement() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("orchestrator factor: error: {e}");
            return exit::USAGE;
        }
    };
    let (builder, hosts) = match remote_workers(&args, placement, builder) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("orchestrator factor: {e}");
            return exit::INTERNAL;
        }
    };
    let builder = builder.on_event(event_printer(bar.clone(), hosts));
    let signals = ShutdownSignals::install().ok();
    let mut pool = match builder.start() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("orchestrator factor: {e}");
            return exit::INTERNAL;
        }
    };
    let stdout = match io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => File::from(fd),
        Err(e) => {
            eprintln!(
                "orchestrator factor: cannot use standard output: {}",
                io_msg(&e)
            );
            return exit::INTERNAL;
        }
    };
    let mut sink = CliSink {
        out: stdout,
        buf: Vec::with_capacity(OUT_BUF),
        bar: bar.clone(),
    };
    let job = TextJob {
        mode: args.mode,
        format: if args.json {
            TextFormat::Json
        } else {
            TextFormat::Plain
        },
        divisor_cap: (args.mode == Mode::Divisors).then_some(args.max_divisors),
    };
    let (done_r, done_w) = match pipes::pipe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("orchestrator factor: cannot set up: {}", io_msg(&e));
            return exit::INTERNAL;
        }
    };
    let stopper = pool.stopper();
    let (result, signal) = std::thread::scope(|scope| {
        let watcher = signals
            .as_ref()
            .map(|s| {
                scope.spawn(|| {
                    // The first signal stops the run (workers get SIGTERM, then SIGKILL); the
                    // second quits at once (the workers die with us: parent-death signal).
                    super::watch_signals(s, &done_r, |sig, first| {
                        if !first {
                            std::process::exit(exit_code_for(sig));
                        }
                        eprintln!(
                            "orchestrator factor: {} received: stopping the workers (again to quit at once)",
                            sys::signal_name(sig.raw())
                        );
                        stopper.stop();
                    })
                })
            });
        let result = pool.run_text(job, input, &mut sink);
        drop(done_w);
        let signal = watcher.and_then(|h| h.join().ok()).flatten();
        (result, signal)
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    // Stop the workers before reporting (a no-op for idle ones: their input just ends).
    drop(pool);
    finish(result, signal)
}

/// How long a remote worker may take to say hello (a new ssh connection, a Slurm step).
const REMOTE_HANDSHAKE: Duration = Duration::from_secs(30);
/// A remote worker holding work that sends nothing for this long is lost (its host or the
/// network went away; its ssh would notice only after ServerAlive's ~15 s).
const REMOTE_SILENCE: Duration = Duration::from_secs(5);

/// With --hosts/-S, --slurm or --launcher: workers through the launch layer, one per slot.
/// Also returns where each slot's worker runs (empty: here).
fn remote_workers(
    args: &Args,
    placement: super::remote::Placement,
    builder: crate::pool::PoolBuilder,
) -> Result<(crate::pool::PoolBuilder, Vec<String>), String> {
    use super::remote::Placement;
    use crate::launch::{Launcher, SshLogin, Target, probe};
    use crate::pool::{Launched, LocalWorker};
    if matches!(placement, Placement::Local) {
        return Ok((builder, Vec::new()));
    }
    // The same path on every host (hosts sharing the file system), unless --worker says.
    let worker = match &args.worker {
        Some(w) => LocalWorker::new(w),
        None => LocalWorker::next_to_current_exe().map_err(|e| e.to_string())?,
    };
    let (launchers, total) = match placement {
        Placement::Local => unreachable!("returned above"),
        Placement::Through(l) => {
            let procs = args.procs.map_or_else(cpu_count, |n| n as usize);
            (vec![l], procs)
        }
        Placement::Hosts(logins, ssh) => {
            // Slots: N/, else --procs, else the host's core count (asked in parallel).
            let fixed = |l: &SshLogin| {
                l.slots()
                    .map(|n| n.get() as usize)
                    .or(args.procs.map(|n| n as usize))
            };
            let within = Duration::from_secs(20);
            let counts: Vec<Result<usize, String>> = std::thread::scope(|s| {
                let handles: Vec<_> = logins
                    .iter()
                    .map(|l| {
                        let ssh = &ssh;
                        s.spawn(move || match (fixed(l), l.target()) {
                            (Some(n), _) => Ok(n),
                            (None, Target::Local) => Ok(cpu_count()),
                            (None, Target::Remote(_)) => {
                                let launcher = Launcher::for_login(l, ssh);
                                probe::probe_through(&launcher, None, within)
                                    .map(|f| f.nproc.map_or(1, |n| n as usize))
                            }
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
                    .collect()
            });
            let mut launchers = Vec::new();
            let mut left_out = Vec::new();
            for (login, count) in logins.iter().zip(counts) {
                match count {
                    Ok(n) => {
                        let l = Launcher::for_login(login, &ssh);
                        launchers.extend(std::iter::repeat_n(l, n.max(1)));
                    }
                    Err(e) => {
                        let msg = format!("host {} is not used: {e}", login.target());
                        eprintln!("orchestrator factor: warning: {msg}");
                        left_out.push(msg);
                    }
                }
            }
            if launchers.is_empty() {
                return Err(format!("no host can be used ({})", left_out.join("; ")));
            }
            let n = launchers.len();
            (launchers, n)
        }
    };
    let hosts: Vec<String> = (0..total)
        .map(|slot| launchers[slot % launchers.len()].host_label())
        .collect();
    let launched = Launched::new(launchers, worker).map_err(|e| e.to_string())?;
    Ok((
        builder
            .launcher(launched)
            .procs(total)
            .handshake_timeout(REMOTE_HANDSHAKE)
            .silence_limit(Some(REMOTE_SILENCE)),
        hosts,
    ))
}

/// The exit code (and the closing message, if there is one to say).
fn finish(result: Result<RunSummary, PoolError>, signal: Option<Signal>) -> i32 {
    match result {
        Err(PoolError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => exit::BROKEN_PIPE,
        Err(PoolError::Output(e)) => {
            eprintln!(
                "orchestrator factor: cannot write the results: {}",
                io_msg(&e)
            );
            exit::INTERNAL
        }
        Err(PoolError::Input(e)) => {
            eprintln!(
                "orchestrator factor: cannot read the numbers: {}",
                io_msg(&e)
            );
            exit::INTERNAL
        }
        Err(e) => {
            eprintln!("orchestrator factor: {e}");
            exit::INTERNAL
        }
        Ok(s) => {
            if let Some(sig) = signal {
                eprintln!(
                    "orchestrator factor: interrupted by {}: the first {} input(s) were answered; the workers were stopped",
                    sys::signal_name(sig.raw()),
                    s.inputs
                );
                return exit_code_for(sig);
            }
            if s.workers_lost > 0 || s.timed_out > 0 || s.failed > 0 {
                eprintln!("orchestrator factor: {}", describe(&s));
            }
            if s.timed_out > 0 {
                exit::TIMED_OUT
            } else if s.bad > 0 || s.failed > 0 {
                exit::FAILED
            } else {
                exit::OK
            }
        }
    }
}

/// One line about what went wrong in a run that finished.
fn describe(s: &RunSummary) -> String {
    let mut parts = vec![format!("{} input(s) answered", s.inputs)];
    if s.bad > 0 {
        parts.push(format!("{} not a number or refused", s.bad));
    }
    if s.timed_out > 0 {
        parts.push(format!("{} timed out", s.timed_out));
    }
    if s.failed > 0 {
        parts.push(format!("{} failed (their workers kept dying)", s.failed));
    }
    if s.workers_lost > 0 {
        parts.push(format!(
            "{} worker(s) lost and replaced, {} input(s) retried",
            s.workers_lost, s.retried
        ));
    }
    parts.join("; ")
}

/// Where the numbers come from.
fn input_of(args: &Args) -> Result<TextInput, String> {
    if !args.numbers.is_empty() {
        let numbers = args.numbers.iter().map(|a| a.clone().into_vec()).collect();
        return Ok(TextInput::Args(numbers));
    }
    let fd: OwnedFd = match &args.input {
        Some(p) if p.as_os_str() != "-" => File::open(p)
            .map_err(|e| format!("cannot open {}: {}", p.display(), io_msg(&e)))?
            .into(),
        _ => io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| format!("cannot use standard input: {}", io_msg(&e)))?,
    };
    Ok(TextInput::Fd(fd))
}

fn progress_bar(input: &TextInput) -> ProgressBar {
    let bar = match input {
        TextInput::Args(a) => ProgressBar::with_draw_target(
            Some(a.len() as u64),
            ProgressDrawTarget::stderr_with_hz(10),
        ),
        _ => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10)),
    };
    let style = match input {
        TextInput::Args(_) => "{bar:30} {human_pos}/{human_len} numbers  {rate}  {elapsed}",
        _ => "{spinner} {human_pos} numbers  {rate}  {elapsed}",
    };
    if let Ok(s) = ProgressStyle::with_template(style) {
        bar.set_style(s.with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        ));
    }
    bar
}

/// Prints the pool's events worth a person's attention on stderr.
fn event_printer(
    bar: Option<ProgressBar>,
    hosts: Vec<String>,
) -> impl FnMut(&PoolEvent) + Send + 'static {
    let bar = Arc::new(Mutex::new(bar));
    // " on HOST" for a worker slot that runs elsewhere.
    let on = move |slot: usize| match hosts.get(slot) {
        Some(h) if h != ":" => format!(" on {h}"),
        _ => String::new(),
    };
    move |e: &PoolEvent| {
        let line = match e {
            PoolEvent::Started { .. } => return,
            PoolEvent::StartFailed { slot, error, .. } => {
                format!("worker {slot} failed to start: {error}")
            }
            PoolEvent::GaveUp { slot, failures, .. } => {
                format!(
                    "worker {slot}{}: giving up after {failures} failed starts in a row",
                    on(*slot)
                )
            }
            PoolEvent::Lost {
                slot,
                pid,
                cause,
                inputs_in_hand,
            } => format!(
                "worker {slot}{} (pid {pid}) lost: {cause}; replacing it ({inputs_in_hand} input(s) in hand are retried or reported)",
                on(*slot)
            ),
        };
        let line = format!("orchestrator factor: {line}\n");
        let bar = bar.lock().unwrap_or_else(|e| e.into_inner());
        match bar.as_ref() {
            Some(b) => b.suspend(|| {
                let _ = io::stderr().write_all(line.as_bytes());
            }),
            None => {
                let _ = io::stderr().write_all(line.as_bytes());
            }
        }
    }
}

/// Output buffer size.
const OUT_BUF: usize = 256 * 1024;

/// Standard output through one large buffer (written when full, or when no more output is
/// ready), messages on standard error in their place.
struct CliSink {
    out: File,
    buf: Vec<u8>,
    bar: Option<ProgressBar>,
}

impl CliSink {
    fn write_buf(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let r = self.out.write_all(&self.buf);
            self.buf.clear();
            r?;
        }
        Ok(())
    }
}

impl TextSink for CliSink {
    fn output(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buf.len() + bytes.len() > OUT_BUF {
            self.write_buf()?;
        }
        if bytes.len() >= OUT_BUF {
            self.out.write_all(bytes)
        } else {
            self.buf.extend_from_slice(bytes);
            Ok(())
        }
    }

    fn message(&mut self, message: &str) -> io::Result<()> {
        // The lines before it first, so `2>&1` shows everything in input order.
        self.write_buf()?;
        let line = format!("orchestrator: {message}\n");
        match &self.bar {
            Some(b) => b.suspend(|| io::stderr().write_all(line.as_bytes())),
            None => io::stderr().write_all(line.as_bytes()),
        }
        .or(Ok(()))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_buf()
    }

    fn progress(&mut self, inputs_done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(inputs_done);
        }
    }
}
