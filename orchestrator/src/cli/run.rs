//! `orchestrator run`: options, help and exit codes; the work is [`crate::run`].

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use super::remote::Placement;
use super::{exit, parse_duration};
use crate::guardian::Guardian;
use crate::report::output::{Mode, OutputOptions};
use crate::report::progress::Progress;
use crate::report::{JobStatus, NotStarted, Summary};
use crate::run::{
    HaltPolicy, Hosts, HostsConfig, Inputs, LineSource, Local, Resume, RunConfig, RunEnv,
    RunResult, Template, Through,
};
use crate::signal::{ShutdownSignals, exit_code_for};
use crate::sys;

const AFTER_HELP: &str = "\
EXAMPLES
  orchestrator run -j 10 -- sleep 1                  10 copies at once: about 1 s
  orchestrator run --args urls.txt -j 8 -- curl -sO   one job per line, the line appended
  orchestrator run -a files.txt -- gzip -9 {}        {} is the line, as ONE argument
  find . -name '*.log' -print0 | orchestrator run -0 -a - -- xz {}
  orchestrator run -a hosts.txt --tag --timeout 5s -- ping -c1 {}
  orchestrator run -a in.txt --shell -- 'grep -c foo {} > {}.count'
  orchestrator run -a jobs.txt --joblog log.tsv --retries 3 -- ./task {}
  orchestrator run -a jobs.txt --joblog log.tsv --resume -- ./task {}   # after a crash
  orchestrator run -a in.txt --json -- stat -c %s {} | jq .stdout

INPUT IS NEVER A COMMAND
  Without --shell, no shell is involved: an input line such as `; rm -rf ~` or `$(reboot)`
  reaches the program as one argument, byte for byte. With --shell the line is inserted
  single-quoted, so the shell sees one word; do not put quotes around {} yourself.

OUTPUT
  stdout carries only what the jobs print (or --json records); stderr carries the jobs'
  stderr, notes about failed jobs, the progress bar (only on a terminal) and a summary line.
  Grouped output is held in memory up to 16 MiB in all, then spilled to unnamed temporary
  files: memory stays bounded however much the jobs print. Jobs' stdin is /dev/null.

CTRL-C AND DYING CLEANLY
  Every job runs in its own process group. The first SIGINT/SIGTERM/SIGHUP stops starting
  jobs and sends SIGTERM to every running job's group (SIGKILL after --kill-after); a second
  one sends SIGKILL at once. The summary still prints. If the orchestrator itself is killed,
  even with SIGKILL, a small guardian process it forked at start sends SIGKILL to every
  job's process group, grandchildren included. Not covered: processes that left their
  job's group (setsid), and a job started in the microseconds before the kill.

EXIT CODES
  0    every job succeeded
  1    some job failed (non-zero exit, or killed by a signal it did not get from us)
  124  some job timed out (--timeout)
  126  some job's program could not be executed (permission denied, a directory, ...)
  127  some job's program was not found
  2    usage error (bad option, unreadable --args file or joblog)
  125  the run itself failed (input unreadable mid-way, joblog unwritable, out of processes)
  130  interrupted by SIGINT (Ctrl-C); 143 by SIGTERM; 129 by SIGHUP
  141  our stdout was closed (broken pipe); running jobs were stopped
  When several apply, the first of 130/143/129, 141, 125, 127, 126, 124, 1 wins. With
  --halt, the job that triggered the halt decides (0 if it succeeded: --halt now,success=1).";

/// Options of `orchestrator run`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// Jobs to run at once [default: number of CPUs]. 0 means as many as the fd and process
    /// limits allow. With --hosts/-S: jobs at once on each host whose sshlogin has no `N/`
    /// [default: its core count]. Example: `-j 10`.
    #[arg(short = 'j', long = "procs", value_name = "N")]
    pub procs: Option<usize>,

    /// Without --args: run the command K times [default: --procs]. `{#}` is the copy's
    /// number. Example: `--count 100 -- curl -s http://localhost/`.
    #[arg(long, value_name = "K", conflicts_with = "args")]
    pub count: Option<u64>,

    /// One job per line of FILE (`-` for stdin), read as it goes (bounded memory). The line
    /// replaces `{}`, or is appended as the last argument if there is no `{}`. Example:
    /// `--args files.txt -- gzip {}`.
    #[arg(short = 'a', long = "args", value_name = "FILE")]
    pub args: Option<String>,

    /// Input records end with a NUL byte instead of a newline (for `find -print0`).
    /// Example: `find . -name '*.log' -print0 | orchestrator run -0 -a - -- xz {}`.
    #[arg(short = '0', long = "null")]
    pub null: bool,

    /// Run the command through `sh -c` (arguments joined with spaces); the input line is
    /// inserted single-quoted. Example: `--shell -- 'sort {} | uniq -c > {}.counts'`.
    #[arg(long)]
    pub shell: bool,

    /// Stop a job that runs longer than D (SIGTERM to its process group, SIGKILL after
    /// --kill-after). Example: `--timeout 30s` (also 500ms, 2m, 1h).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Time between SIGTERM and SIGKILL, at a timeout and at Ctrl-C [default: 2s]. 0 sends
    /// SIGKILL at once. Example: `--kill-after 200ms`.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub kill_after: Option<Duration>,

    /// Try a failed job again, up to N attempts in all (GNU parallel's meaning: `--retries 3`
    /// is at most three tries). Only the last attempt's output and record are kept.
    /// Example: `--retries 3`.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub retries: u32,

    /// Stop early: `never` (default), `soon,fail=N` (start no new jobs after N failures,
    /// let running ones finish), `now,fail=N` (also stop the running ones); `success=N` or
    /// `done=N` instead of `fail=N`. Example: `--halt now,fail=1`.
    #[arg(long, value_name = "POLICY", default_value = "never")]
    pub halt: HaltPolicy,

    /// Print whole lines as jobs write them, instead of each job's output when it ends
    /// (lines of different jobs never mix). Example: `--line-buffer -a hosts.txt -- ping -c3`.
    #[arg(long)]
    pub line_buffer: bool,

    /// Prefix every output line with the job's input line (or its number) and a tab.
    /// Example: `--tag -a hosts.txt -- ping -c1`.
    #[arg(long)]
    pub tag: bool,

    /// Print jobs' output in input order (a finished job waits for the ones before it).
    /// Example: `-k -a urls.txt -- curl -s {}`.
    #[arg(short = 'k', long = "keep-order")]
    pub keep_order: bool,

    /// Write a job log (GNU parallel's TSV: Seq Host Starttime JobRuntime Send Receive
    /// Exitval Signal Command; a timed-out job's Exitval is -1). Example: `--joblog log.tsv`.
    #[arg(long, value_name = "FILE")]
    pub joblog: Option<PathBuf>,

    /// Skip the jobs the --joblog records (any outcome) and append to it: rerun the same
    /// command after a crash or Ctrl-C to finish the rest. Example: `--joblog log.tsv --resume`.
    #[arg(long, requires = "joblog", conflicts_with = "resume_failed")]
    pub resume: bool,

    /// Like --resume, but run again the jobs the joblog records as failed. Example:
    /// `--joblog log.tsv --resume-failed`.
    #[arg(long, requires = "joblog")]
    pub resume_failed: bool,

    /// Print one JSON object per job on stdout (seq, input, argv, host, start, duration,
    /// exit_code, signal, timed_out, leaked, attempts, status, error, stdout, stderr)
    /// instead of the jobs' raw output. Example: `--json -a files.txt -- wc -c | jq -r .stdout`.
    #[arg(long, conflicts_with_all = ["line_buffer", "tag"])]
    pub json: bool,

    /// Never show the progress bar (it is shown only when stderr is a terminal), e.g. in a
    /// terminal session that is being recorded. Example: `--no-progress`.
    #[arg(long)]
    pub no_progress: bool,

    /// Also set PR_SET_PDEATHSIG on every job (forces fork+exec instead of posix_spawn; for
    /// measurements: the guardian already covers a killed orchestrator).
    #[arg(long, hide = true)]
    pub pdeathsig: bool,

    /// Do not start the guardian process (for measurements: jobs then outlive a SIGKILLed
    /// orchestrator unless --pdeathsig is given).
    #[arg(long, hide = true)]
    pub no_guardian: bool,

    /// Where the jobs run (ssh hosts, Slurm).
    #[command(flatten)]
    pub remote: super::remote::RemoteArgs,

    /// Give each job on an ssh host a connection of its own, instead of a session on one
    /// connection per host (a ControlMaster the orchestrator runs for the run; a timed-out or
    /// killed job still leaves nothing behind either way).
    #[arg(long, help_heading = "Hosts")]
    pub no_multiplex: bool,

    /// The command and its arguments; `{}` is the input line, `{#}` the job number.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Runs `orchestrator run` and returns the exit code.
pub fn execute(args: Args) -> i32 {
    let progress = !args.no_progress && std::io::stderr().is_terminal();
    let guardian = !args.no_guardian;
    match prepare(args) {
        Ok(prepared) => launch(prepared, progress, guardian),
        Err(msg) => {
            eprintln!("orchestrator run: error: {msg}");
            exit::USAGE
        }
    }
}

/// The checked options, before anything starts.
struct Prepared {
    cfg: RunConfig,
    /// `None`: `--count` defaults to the number of slots, known once the hosts answered.
    inputs: Option<Inputs>,
    placement: Placement,
    /// `-j` as given.
    procs: Option<usize>,
    multiplex: bool,
}

/// Checks the options and opens the input.
fn prepare(args: Args) -> Result<Prepared, String> {
    if args.command.is_empty() || args.command[0].is_empty() {
        return Err("no command given (usage: orchestrator run [OPTIONS] -- CMD [ARG...])".into());
    }
    let template = Template::new(&args.command, args.shell);
    let placement = args.remote.placement()?;
    let on_hosts = matches!(placement, Placement::Hosts(..));
    if on_hosts && args.procs == Some(0) {
        return Err(
            "-j 0 cannot be used with hosts: give -j N (jobs per host) or N/ in the \
                    sshlogins"
                .into(),
        );
    }
    let procs = args.procs.unwrap_or_else(super::cpu_count);
    let inputs = match &args.args {
        Some(path) => {
            let sep = if args.null { 0 } else { b'\n' };
            Some(Inputs::Lines(
                LineSource::open(path, sep).map_err(|e| format!("--args: {e}"))?,
            ))
        }
        None => {
            if template.uses_input() {
                return Err(
                    "`{}` stands for an input line, but there is no --args input \
                            (use {#} for the job number)"
                        .into(),
                );
            }
            match args.count {
                Some(c) => Some(Inputs::Count(c)),
                None if procs == 0 => {
                    return Err("--procs 0 needs --count or --args to know how many jobs".into());
                }
                // With hosts: one job per slot, known once they answered.
                None if on_hosts => None,
                None => Some(Inputs::Count(procs as u64)),
            }
        }
    };
    let mut cfg = RunConfig::new(template);
    cfg.procs = procs;
    cfg.timeout = args.timeout;
    if let Some(g) = args.kill_after {
        cfg.grace = g;
    }
    cfg.retries = args.retries.max(1);
    cfg.halt = args.halt;
    cfg.output = OutputOptions {
        mode: if args.line_buffer {
            Mode::Line
        } else {
            Mode::Group
        },
        keep_order: args.keep_order,
        tag: args.tag,
        json: args.json,
        ..cfg.output
    };
    cfg.joblog = args.joblog;
    cfg.resume = match (args.resume, args.resume_failed) {
        (true, _) => Resume::All,
        (_, true) => Resume::Failed,
        _ => Resume::No,
    };
    cfg.kill_on_parent_death = args.pdeathsig;
    Ok(Prepared {
        cfg,
        inputs,
        placement,
        procs: args.procs,
        multiplex: !args.no_multiplex,
    })
}

/// The launcher for the placement; for hosts, connects to them first (warnings printed).
fn start_launcher(p: &mut Prepared) -> Result<Box<dyn crate::run::Launcher>, String> {
    match &p.placement {
        Placement::Local => Ok(Box::new(Local)),
        Placement::Through(l) => Ok(Box::new(Through::new(l.clone(), p.cfg.grace))),
        Placement::Hosts(logins, ssh) => {
            let mut hc = HostsConfig::new(logins.clone(), ssh.clone());
            hc.default_slots = p
                .procs
                .and_then(|n| u32::try_from(n).ok())
                .and_then(std::num::NonZeroU32::new);
            hc.multiplex = p.multiplex;
            hc.grace = p.cfg.grace;
            let (hosts, warnings) = Hosts::start(hc)?;
            for w in warnings {
                eprintln!("orchestrator run: warning: {w}");
            }
            let total: usize = hosts.describe().iter().map(|(_, n, _)| n).sum();
            p.cfg.procs = total.max(1);
            if p.inputs.is_none() {
                p.inputs = Some(Inputs::Count(hosts.usable_slots().max(1) as u64));
            }
            Ok(Box::new(hosts))
        }
    }
}

fn launch(mut p: Prepared, show_progress: bool, guardian: bool) -> i32 {
    // Capturing 1000 children takes ~3000 fds: use the hard limit, as Go's runtime does.
    let _ = sys::raise_nofile_limit();
    // First, while this process still has one thread.
    let cfg = &mut p.cfg;
    let guardian = if guardian {
        match Guardian::start() {
            Ok(g) => Some(g),
            Err(e) => {
                // Fall back to the kernel's parent-death signal: direct children only.
                eprintln!(
                    "orchestrator run: warning: no guardian process ({e}); if the \
                     orchestrator is killed, only its direct children are (PR_SET_PDEATHSIG)"
                );
                cfg.kill_on_parent_death = true;
                None
            }
        }
    } else {
        None
    };
    // Then the hosts (a thread of their own for the ssh masters and checks).
    let launcher = match start_launcher(&mut p) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("orchestrator run: error: {e}");
            return exit::INTERNAL;
        }
    };
    let Prepared { cfg, inputs, .. } = p;
    let inputs = inputs.unwrap_or(Inputs::Count(1));
    let signals = match ShutdownSignals::install() {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("orchestrator run: warning: cannot catch Ctrl-C ({e})");
            None
        }
    };
    let progress = if show_progress {
        Progress::stderr()
    } else {
        Progress::hidden()
    };
    let env = RunEnv {
        signals,
        launcher,
        stdout: Box::new(std::io::stdout()),
        stderr: Box::new(std::io::stderr()),
        progress,
        guardian,
    };
    let result = match crate::run::run(cfg, inputs, env) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("orchestrator run: error: {e}");
            return if e.kind() == std::io::ErrorKind::Other {
                exit::INTERNAL
            } else {
                exit::USAGE
            };
        }
    };
    if let Some(f) = &result.fatal {
        eprintln!("orchestrator run: error: {f}");
    }
    eprintln!("orchestrator run: {}", result.summary);
    exit_code(&result)
}

/// The documented exit code of a finished run (see `--help`).
pub fn exit_code(r: &RunResult) -> i32 {
    if let Some(sig) = r.interrupted {
        return exit_code_for(sig);
    }
    if r.stdout_broken {
        return 128 + sys::SIGPIPE;
    }
    if r.fatal.is_some() {
        return exit::INTERNAL;
    }
    if let Some(status) = r.halted_by {
        return status_code(status);
    }
    summary_code(&r.summary)
}

fn status_code(s: JobStatus) -> i32 {
    match s {
        JobStatus::Ok | JobStatus::Stopped => exit::OK,
        JobStatus::Failed => exit::FAILED,
        JobStatus::TimedOut => exit::TIMED_OUT,
        JobStatus::NotStarted(NotStarted::NotFound) => exit::NOT_FOUND,
        JobStatus::NotStarted(NotStarted::CannotExecute) => exit::NOT_EXECUTABLE,
        JobStatus::NotStarted(NotStarted::Other) => exit::FAILED,
    }
}

fn summary_code(s: &Summary) -> i32 {
    if s.not_found > 0 {
        127
    } else if s.cannot_execute > 0 {
        126
    } else if s.timed_out > 0 {
        exit::TIMED_OUT
    } else if s.failed > 0 || s.not_started_other > 0 {
        exit::FAILED
    } else {
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Signal;

    #[test]
    fn exit_codes_follow_the_documented_precedence() {
        let mut r = RunResult::default();
        assert_eq!(exit_code(&r), 0);
        r.summary.failed = 1;
        assert_eq!(exit_code(&r), 1);
        r.summary.timed_out = 1;
        assert_eq!(exit_code(&r), 124);
        r.summary.cannot_execute = 1;
        assert_eq!(exit_code(&r), 126);
        r.summary.not_found = 1;
        assert_eq!(exit_code(&r), 127);
        r.fatal = Some("x".into());
        assert_eq!(exit_code(&r), 125);
        r.stdout_broken = true;
        assert_eq!(exit_code(&r), 141);
        r.interrupted = Some(Signal::Int);
        assert_eq!(exit_code(&r), 130);
        r.interrupted = Some(Signal::Term);
        assert_eq!(exit_code(&r), 143);
        let halted = RunResult {
            halted_by: Some(JobStatus::Ok),
            summary: Summary {
                failed: 3,
                ..Summary::default()
            },
            ..RunResult::default()
        };
        assert_eq!(exit_code(&halted), 0);
    }
}
