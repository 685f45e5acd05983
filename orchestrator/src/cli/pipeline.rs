//! `orchestrator pipeline`: one instance of a command chain per input, joined by kernel pipes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{cpu_count, exit, parse_duration};
use crate::chain;
use crate::communicate::Cancel;
use crate::pipeline::{Pipeline, PipelineOutcome};
use crate::pipes;
use crate::signal::{ShutdownSignals, exit_code_for};
use crate::sys;
use crate::{Command, Ending, ExitStatus, SpawnErrorKind, Stdio};

const AFTER_HELP: &str = "\
The chain is split into words as a POSIX shell would (quotes and backslashes honoured) and
into stages at each unquoted `|`, but no shell runs it: `$VAR`, globs, `;`, `&&` and
redirections are refused with an error (quote them to pass them literally). Secrets reach
the stages through the environment (they inherit ours), e.g. `-pass env:password`, never
through argv.

Each input gets its own instance of the chain: a file (--input, read by the first stage
straight from the file), a random block (--random), or stdin when neither is given. With a
single input from stdin the chain reads our stdin and writes our stdout directly, so it
works inside a shell pipeline. Otherwise each chain's final output is printed in input
order as `NAME: TEXT` (binary output as hex), or written to --output-dir, or given as JSON.
Every stage's stderr is shown on our stderr, prefixed with its input and stage.

A chain succeeds when every stage exits 0, except that a stage killed by SIGPIPE is not a
failure when the stage after it succeeded (`yes | head -1` succeeds).

Examples:
  password=s3cret orchestrator pipeline --random 3:1M -- \\
      'openssl enc -des3 -pbkdf2 -pass env:password | openssl dgst -whirlpool -provider legacy -provider default'
  orchestrator pipeline --input a.txt b.txt --timeout 5s -- 'gzip -9 | wc -c'
  head -c 1G /dev/zero | orchestrator pipeline -- 'cat | cat | cat' > /dev/null

Exit codes:
  0    every chain succeeded
  1    some chain failed
  2    usage error (bad option, unparsable chain)
  124  some chain timed out
  125  internal error
  126  a stage's program could not be executed (permission denied, a directory)
  127  a stage's program was not found
  130  interrupted by SIGINT (143: SIGTERM, 129: SIGHUP)
  When several apply, the first of 130/143/129, 127, 126, 124, 1 wins.";

/// Options of `orchestrator pipeline`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// Chains to run at once (default: the number of CPUs). Example: -j 4
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub procs: Option<u32>,

    /// Stop a chain that runs longer than this (e.g. 500ms, 2s, 1m): SIGTERM to all its
    /// stages, then SIGKILL after --kill-after. Example: --timeout 30s
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Grace between SIGTERM and SIGKILL when a chain is stopped (0: SIGKILL at once).
    /// Example: --kill-after 500ms
    #[arg(long, value_name = "D", default_value = "2s", value_parser = parse_duration)]
    pub kill_after: Duration,

    /// Input files, one chain each (`-` is stdin). Example: --input a.bin b.bin
    #[arg(short = 'i', long = "input", value_name = "FILE", num_args = 1..)]
    pub inputs: Vec<PathBuf>,

    /// COUNT random inputs of BYTES each (suffixes K, M, G = KiB, MiB, GiB). Example: 3:1M
    #[arg(long, value_name = "COUNT:BYTES", value_parser = parse_random)]
    pub random: Option<(u64, u64)>,

    /// Write each chain's final output to DIR/NAME.out instead of printing it (NAME is the
    /// input's name with `/` and other odd characters made `_`). Example: --output-dir out
    /// --input a.txt (writes out/a.txt.out)
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// Print one JSON object per chain (input, every stage's status and timings, output).
    /// Example: --json --input a.txt -- 'gzip | wc -c' | jq .stages
    #[arg(long)]
    pub json: bool,

    /// The chain, after `--`: one string such as 'cmd1 args | cmd2 args', or words with
    /// separate `|` words (`-- cat '|' wc -c`).
    #[arg(required = true, last = true, value_name = "CHAIN")]
    pub chain: Vec<String>,
}

/// Parses `COUNT:BYTES`.
fn parse_random(s: &str) -> Result<(u64, u64), String> {
    let (c, b) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not COUNT:BYTES (example: 3:1M)"))?;
    let count: u64 = c
        .trim()
        .parse()
        .map_err(|_| format!("`{c}` is not a count (example: 3:1M)"))?;
    if count == 0 {
        return Err("the count must be at least 1".into());
    }
    Ok((count, parse_bytes(b)?))
}

/// Parses a byte size: `1048576`, `64K`, `1M`, `1MiB`, `2G`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (examples: 10, 64K, 1M)"))?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return Err(format!("`{s}`: unknown size unit `{unit}` (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// Where a chain's input comes from.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Random(u64),
    Stdin,
}

#[derive(Debug, Clone)]
struct Input {
    name: String,
    source: Source,
}

/// What one chain produced (or why it could not run).
struct Done {
    input: Input,
    result: Result<PipelineOutcome, String>,
    output_file: Option<PathBuf>,
    started: Instant,
    bytes_in: Option<u64>,
    /// Why a stage could not start, if that is why the chain failed.
    spawn_failure: Option<SpawnErrorKind>,
}

/// Most bytes of a chain's final output kept in memory (more: use --output-dir).
const STDOUT_CAP: usize = 256 << 20;
/// Most bytes of each stage's stderr kept.
const STDERR_CAP: usize = 1 << 20;

/// Runs `orchestrator pipeline` and returns the exit code.
pub fn execute(args: Args) -> i32 {
    let stages = match chain_of(&args.chain) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("orchestrator pipeline: cannot parse the chain: {e}");
            return exit::USAGE;
        }
    };
    warn_about_argv_secrets(&stages);
    let _ = sys::raise_nofile_limit();
    let inputs = inputs_of(&args);
    let signals = ShutdownSignals::install().ok();
    let cancel = match Cancel::new() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("orchestrator pipeline: cannot set up: {e}");
            return exit::INTERNAL;
        }
    };
    if let Some(dir) = &args.output_dir
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!(
            "orchestrator pipeline: cannot create --output-dir {}: {e}",
            dir.display()
        );
        return exit::USAGE;
    }
    let passthrough =
        args.inputs.is_empty() && args.random.is_none() && !args.json && args.output_dir.is_none();
    let (done_r, done_w) = match pipes::pipe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("orchestrator pipeline: cannot set up: {e}");
            return exit::INTERNAL;
        }
    };
    let (code, interrupted) = std::thread::scope(|scope| {
        let stop_watch = signals
            .as_ref()
            .map(|s| {
                scope.spawn(|| {
                    // The first signal stops the chains gracefully, the second kills them.
                    super::watch_signals(s, &done_r, |sig, first| {
                        if first {
                            eprintln!(
                                "orchestrator pipeline: {} received: stopping the chains (again to kill at once)",
                                sys::signal_name(sig.raw())
                            );
                            cancel.stop();
                        } else {
                            cancel.kill();
                        }
                    })
                })
            });
        let code = if passthrough {
            run_passthrough(&args, &stages, &cancel)
        } else {
            run_many(&args, &stages, inputs, &cancel)
        };
        // Closing the write end wakes the watcher with end-of-file: the run is over.
        drop(done_w);
        let sig = stop_watch.and_then(|h| h.join().ok()).flatten();
        (code, sig)
    });
    match interrupted {
        Some(sig) => exit_code_for(sig),
        None => code,
    }
}

fn chain_of(words: &[String]) -> Result<Vec<Vec<String>>, chain::ChainError> {
    if let [one] = words {
        return chain::parse(one);
    }
    // Already split by the calling shell: `|` words separate the stages.
    let mut stages = vec![Vec::new()];
    for (i, w) in words.iter().enumerate() {
        if w == "|" {
            stages.push(Vec::new());
        } else {
            stages.last_mut().expect("never empty").push(w.clone());
        }
        if w == "|" && stages[stages.len() - 2].is_empty() {
            return Err(chain::ChainError {
                offset: i,
                message: "empty stage in the chain".into(),
            });
        }
    }
    if stages.last().is_some_and(Vec::is_empty) {
        return Err(chain::ChainError {
            offset: words.len(),
            message: "empty stage at the end of the chain".into(),
        });
    }
    Ok(stages)
}

/// openssl's `-pass pass:SECRET` (or `-k SECRET`) puts the secret where every user can see it.
fn warn_about_argv_secrets(stages: &[Vec<String>]) {
    for argv in stages {
        let leaky = argv.iter().any(|a| a.starts_with("pass:"))
            || argv.windows(2).any(|w| w[0] == "-k" || w[0] == "-kfile");
        if leaky {
            eprintln!(
                "orchestrator pipeline: warning: `{}` gets a password in its arguments, which any \
                 user can read (ps, /proc); pass it through the environment instead \
                 (-pass env:NAME)",
                argv[0]
            );
        }
    }
}

fn inputs_of(args: &Args) -> Vec<Input> {
    let mut inputs: Vec<Input> = args
        .inputs
        .iter()
        .map(|p| {
            if p.as_os_str() == "-" {
                Input {
                    name: "-".into(),
                    source: Source::Stdin,
                }
            } else {
                Input {
                    name: p.display().to_string(),
                    source: Source::File(p.clone()),
                }
            }
        })
        .collect();
    if let Some((count, bytes)) = args.random {
        inputs.extend((1..=count).map(|i| Input {
            name: format!("random-{i}"),
            source: Source::Random(bytes),
        }));
    }
    if inputs.is_empty() {
        inputs.push(Input {
            name: "-".into(),
            source: Source::Stdin,
        });
    }
    inputs
}

fn commands(stages: &[Vec<String>]) -> Vec<Command> {
    stages
        .iter()
        .map(|argv| {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]).kill_on_parent_death(true);
            c
        })
        .collect()
}

/// Human description of a stage: `stage 2 (`openssl`)`.
fn stage_name(i: usize, program: &str) -> String {
    format!("stage {} (`{program}`)", i + 1)
}

fn describe_failure(o: &PipelineOutcome) -> Option<String> {
    if o.cancelled {
        return Some("interrupted".into());
    }
    if let Some(t) = o.timed_out {
        let running: Vec<String> = o
            .stages_running_at_deadline()
            .map(|(i, s)| stage_name(i, &s.program))
            .collect();
        let how = match t.ending {
            Ending::Killed => "SIGTERM was not enough: killed",
            _ => "stopped by SIGTERM",
        };
        return Some(format!(
            "timed out after {} in {} ({how}, {} ms)",
            humantime::format_duration(t.after),
            if running.is_empty() {
                "its last moments".to_string()
            } else {
                running.join(", ")
            },
            t.stop_took.as_millis()
        ));
    }
    let i = o.failed_stage?;
    Some(format!(
        "failed: {} {}",
        stage_name(i, &o.stages[i].program),
        o.status
    ))
}

fn run_passthrough(args: &Args, stages: &[Vec<String>], cancel: &Cancel) -> i32 {
    // Stage 1 reads our stdin, the last stage writes our stdout, stderr is shared: the data
    // never passes through this process.
    let p = match Pipeline::new(commands(stages)).spawn() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("orchestrator pipeline: {e}");
            return spawn_failure_code(e.source.kind());
        }
    };
    let mut c = p
        .communicate()
        .grace(args.kill_after)
        .cancel_on(cancel)
        .drain_timeout(Duration::from_millis(100));
    if let Some(t) = args.timeout {
        c = c.timeout(t);
    }
    match c.run() {
        Ok(o) => {
            if let Some(why) = describe_failure(&o) {
                eprintln!("orchestrator pipeline: {why}");
            }
            if o.leaked {
                eprintln!("orchestrator pipeline: a process left behind by the chain was killed");
            }
            code_of(&o)
        }
        Err(e) => {
            eprintln!("orchestrator pipeline: {e}");
            exit::INTERNAL
        }
    }
}

/// 127 for a program that was not found, 126 for one that cannot be executed (as shells,
/// xargs and `orchestrator run` say it), 1 otherwise.
fn spawn_failure_code(kind: SpawnErrorKind) -> i32 {
    match kind {
        SpawnErrorKind::NotFound => exit::NOT_FOUND,
        SpawnErrorKind::PermissionDenied
        | SpawnErrorKind::IsADirectory
        | SpawnErrorKind::NotExecutable => exit::NOT_EXECUTABLE,
        _ => exit::FAILED,
    }
}

fn code_of(o: &PipelineOutcome) -> i32 {
    if o.timed_out.is_some() {
        exit::TIMED_OUT
    } else if o.status.success() {
        exit::OK
    } else {
        exit::FAILED
    }
}

/// A limited window of inputs that may run ahead of the printer, so the reorder buffer
/// stays bounded however slow the first chain is.
struct Window {
    state: Mutex<(usize, usize)>, // (next input to hand out, next input to print)
    turn: Condvar,
    size: usize,
}

impl Window {
    fn next(&self, total: usize, cancel: &Cancel) -> Option<usize> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if st.0 >= total || cancel.level() > 0 {
                return None;
            }
            if st.0 < st.1 + self.size {
                st.0 += 1;
                return Some(st.0 - 1);
            }
            st = self.turn.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn printed(&self, next: usize) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.1 = next;
        self.turn.notify_all();
    }

    fn wake_all(&self) {
        self.turn.notify_all();
    }
}

fn run_many(args: &Args, stages: &[Vec<String>], inputs: Vec<Input>, cancel: &Cancel) -> i32 {
    let procs = args
        .procs
        .map_or_else(cpu_count, |n| n as usize)
        .min(inputs.len())
        .max(1);
    let started = Instant::now();
    let window = Window {
        state: Mutex::new((0, 0)),
        turn: Condvar::new(),
        size: procs * 4,
    };
    let (tx, rx) = crossbeam_channel::unbounded::<(usize, Done)>();
    let total = inputs.len();
    let mut counts = Counts::default();
    let mut stdout = io::stdout().lock();
    std::thread::scope(|scope| {
        for _ in 0..procs {
            let tx = tx.clone();
            let (window, inputs) = (&window, &inputs);
            scope.spawn(move || {
                while let Some(i) = window.next(total, cancel) {
                    let done = run_one(args, stages, &inputs[i], cancel);
                    if tx.send((i, done)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<usize, Done> = BTreeMap::new();
        let mut next = 0;
        for (i, done) in rx.iter() {
            pending.insert(i, done);
            while let Some(done) = pending.remove(&next) {
                report(args, &done, started, &mut stdout, &mut counts);
                next += 1;
                window.printed(next);
            }
            if cancel.level() > 0 {
                window.wake_all();
            }
        }
        // After an interrupt, chains that finished out of order are still reported.
        for (_, done) in std::mem::take(&mut pending) {
            report(args, &done, started, &mut stdout, &mut counts);
        }
    });
    let _ = stdout.flush();
    counts.not_run = total - counts.total();
    eprintln!(
        "orchestrator pipeline: {} chain(s): {} ok, {} failed, {} timed out{} in {:.3} s",
        counts.total(),
        counts.ok,
        counts.failed,
        counts.timed_out,
        if counts.not_run > 0 {
            format!(", {} not run", counts.not_run)
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64()
    );
    if counts.not_found > 0 {
        exit::NOT_FOUND
    } else if counts.not_executable > 0 {
        exit::NOT_EXECUTABLE
    } else if counts.timed_out > 0 {
        exit::TIMED_OUT
    } else if counts.failed > 0 {
        exit::FAILED
    } else {
        exit::OK
    }
}

#[derive(Default)]
struct Counts {
    ok: usize,
    failed: usize,
    timed_out: usize,
    not_run: usize,
    /// Chains that failed because a stage's program was not found / not executable.
    not_found: usize,
    not_executable: usize,
}

impl Counts {
    fn total(&self) -> usize {
        self.ok + self.failed + self.timed_out
    }
}

fn random_block(bytes: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; usize::try_from(bytes).map_err(io::Error::other)?];
    File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

fn run_one(args: &Args, stages: &[Vec<String>], input: &Input, cancel: &Cancel) -> Done {
    let started = Instant::now();
    let mut done = Done {
        input: input.clone(),
        result: Err(String::new()),
        output_file: None,
        started,
        bytes_in: None,
        spawn_failure: None,
    };
    let mut cmds = commands(stages);
    let mut feed: Option<Vec<u8>> = None;
    match &input.source {
        Source::File(p) => match File::open(p) {
            Ok(f) => {
                done.bytes_in = f.metadata().ok().map(|m| m.len());
                cmds[0].stdin(f);
            }
            Err(e) => {
                done.result = Err(format!(
                    "cannot read input {}: {}",
                    p.display(),
                    super::io_msg(&e)
                ));
                return done;
            }
        },
        Source::Random(n) => match random_block(*n) {
            Ok(b) => {
                done.bytes_in = Some(*n);
                cmds[0].stdin(Stdio::piped());
                feed = Some(b);
            }
            Err(e) => {
                done.result = Err(format!("cannot make random input: {}", super::io_msg(&e)));
                return done;
            }
        },
        Source::Stdin => {
            cmds[0].stdin(Stdio::inherit());
        }
    }
    let last = cmds.len() - 1;
    if let Some(dir) = &args.output_dir {
        let path = dir.join(format!("{}.out", file_name_of(&input.name)));
        match File::create(&path) {
            Ok(f) => {
                cmds[last].stdout(f);
                done.output_file = Some(path);
            }
            Err(e) => {
                done.result = Err(format!(
                    "cannot create {}: {}",
                    path.display(),
                    super::io_msg(&e)
                ));
                return done;
            }
        }
    } else {
        cmds[last].stdout(Stdio::piped());
    }
    for c in &mut cmds {
        c.stderr(Stdio::piped());
    }
    let p = match Pipeline::new(cmds).spawn() {
        Ok(p) => p,
        Err(e) => {
            done.spawn_failure = Some(e.source.kind());
            done.result = Err(e.to_string());
            return done;
        }
    };
    let mut c = p
        .communicate()
        .grace(args.kill_after)
        .capture_limit(STDOUT_CAP)
        .stderr_capture_limit(STDERR_CAP)
        .cancel_on(cancel);
    if let Some(t) = args.timeout {
        c = c.timeout(t);
    }
    if let Some(b) = feed {
        c = c.input(b);
    }
    done.result = c.run().map_err(|e| e.to_string());
    done
}

/// A file name for an input name: path separators and odd characters become `_`.
fn file_name_of(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn is_text(b: &[u8]) -> bool {
    std::str::from_utf8(b).is_ok_and(|s| {
        !s.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    })
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn status_json(s: &ExitStatus) -> serde_json::Value {
    match s {
        ExitStatus::Code(c) => json!({ "exit_code": c }),
        ExitStatus::Signal {
            signal,
            core_dumped,
        } => {
            json!({ "signal": sys::signal_name(*signal), "signal_number": signal, "core_dumped": core_dumped })
        }
    }
}

fn report(args: &Args, done: &Done, run_start: Instant, out: &mut impl Write, counts: &mut Counts) {
    let name = &done.input.name;
    let o = match &done.result {
        Ok(o) => o,
        Err(e) => {
            counts.failed += 1;
            match done.spawn_failure {
                Some(SpawnErrorKind::NotFound) => counts.not_found += 1,
                Some(
                    SpawnErrorKind::PermissionDenied
                    | SpawnErrorKind::IsADirectory
                    | SpawnErrorKind::NotExecutable,
                ) => counts.not_executable += 1,
                _ => {}
            }
            eprintln!("{name}: {e}");
            if args.json {
                let v = json!({ "input": name, "success": false, "error": e });
                let _ = writeln!(out, "{v}");
            }
            return;
        }
    };
    if o.timed_out.is_some() {
        counts.timed_out += 1;
    } else if o.success() {
        counts.ok += 1;
    } else {
        counts.failed += 1;
    }
    for (i, s) in o.stages.iter().enumerate() {
        if !s.stderr.is_empty() {
            let text = String::from_utf8_lossy(&s.stderr);
            for line in text.lines() {
                eprintln!("{name}: {}: {line}", stage_name(i, &s.program));
            }
        }
    }
    if let Some(why) = describe_failure(o) {
        eprintln!("{name}: {why}");
    }
    if o.leaked {
        eprintln!("{name}: a process left behind by the chain was killed");
    }
    if o.stdout_dropped > 0 {
        eprintln!(
            "{name}: output longer than {} MiB: {} bytes not shown (use --output-dir)",
            STDOUT_CAP >> 20,
            o.stdout_dropped
        );
    }
    if args.json {
        let stages: Vec<serde_json::Value> = o
            .stages
            .iter()
            .map(|s| {
                json!({
                    "program": s.program,
                    "pid": s.pid,
                    "status": status_json(&s.status),
                    "success": s.status.success() || s.forgiven_sigpipe,
                    "forgiven_sigpipe": s.forgiven_sigpipe,
                    "running_at_deadline": s.running_at_deadline,
                    "stderr": String::from_utf8_lossy(&s.stderr),
                })
            })
            .collect();
        let mut v = json!({
            "input": name,
            "bytes_in": done.bytes_in,
            "success": o.success(),
            "status": status_json(&o.status),
            "failed_stage": o.failed_stage.map(|i| i + 1),
            "timed_out": o.timed_out.is_some(),
            "ending": o.timed_out.map(|t| t.ending),
            "leaked": o.leaked,
            "cancelled": o.cancelled,
            "start_ms": done.started.saturating_duration_since(run_start).as_secs_f64() * 1000.0,
            "duration_ms": o.elapsed.as_secs_f64() * 1000.0,
            "stages": stages,
        });
        if let Some(p) = &done.output_file {
            v["output_file"] = json!(p.display().to_string());
        } else if is_text(&o.stdout) {
            v["stdout"] = json!(String::from_utf8_lossy(&o.stdout));
        } else {
            v["stdout_hex"] = json!(hex(&o.stdout));
        }
        let _ = writeln!(out, "{v}");
        return;
    }
    if o.stdout.is_empty() && !o.success() {
        return; // nothing to show; stderr said what went wrong
    }
    if let Some(p) = &done.output_file {
        let _ = writeln!(out, "{name}: {}", p.display());
    } else if is_text(&o.stdout) {
        let text = String::from_utf8_lossy(&o.stdout);
        let body = text.strip_suffix('\n').unwrap_or(&text);
        if body.contains('\n') {
            let _ = writeln!(out, "{name}:\n{body}");
        } else {
            let _ = writeln!(out, "{name}: {body}");
        }
    } else {
        let _ = writeln!(out, "{name}: {}", hex(&o.stdout));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_random_specs() {
        assert_eq!(parse_bytes("10"), Ok(10));
        assert_eq!(parse_bytes("64K"), Ok(65536));
        assert_eq!(parse_bytes("1M"), Ok(1 << 20));
        assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
        assert!(parse_bytes("1X").unwrap_err().contains("unknown size unit"));
        assert!(parse_bytes("abc").is_err());
        assert_eq!(parse_random("3:1M"), Ok((3, 1 << 20)));
        assert!(parse_random("3").is_err());
        assert!(parse_random("0:1").is_err());
    }

    #[test]
    fn presplit_words_form_stages() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            chain_of(&w(&["cat", "|", "wc", "-c"])).unwrap(),
            vec![w(&["cat"]), w(&["wc", "-c"])]
        );
        assert_eq!(
            chain_of(&w(&["cat | wc -c"])).unwrap(),
            vec![w(&["cat"]), w(&["wc", "-c"])]
        );
        assert!(chain_of(&w(&["cat", "|"])).is_err());
        assert!(chain_of(&w(&["|", "cat"])).is_err());
    }

    #[test]
    fn output_is_text_or_hex() {
        assert!(is_text(b"WHIRLPOOL(stdin)= 0a1b\n"));
        assert!(!is_text(&[0, 159, 146, 150]));
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
        assert_eq!(file_name_of("dir/a b.txt"), "dir_a_b.txt");
    }
}
