//! `orchestrator hosts check`: can the jobs and workers run there?

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::exit;
use super::remote::{Placement, RemoteArgs};
use crate::launch::probe::{HostFacts, WorkerHello, handshake, probe_through};
use crate::launch::{Launcher, SshLogin};

const AFTER_HELP: &str = "\
For each host (or the Slurm launcher): connects, runs a small sh script (hostname, core count,
util-linux's setsid and setpriv, which the remote wrappers need), looks for the worker and
starts it for a protocol handshake. Prints one line per host; exit code 0 if every host is
usable, 1 if any is not (unreachable, tools missing, worker missing or of another protocol
version; with --no-worker the worker is not checked), 2 for a usage error.

EXAMPLES
  orchestrator hosts check --hosts nodes.txt
  orchestrator hosts check -S alice@node1,node2:2222 --ssh 'ssh -i ~/.ssh/cluster'
  orchestrator hosts check --slurm --worker /shared/bin/worker
  orchestrator hosts check -S node1 --no-worker --json";

/// Options of `orchestrator hosts`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: HostsCommand,
}

/// The `hosts` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum HostsCommand {
    /// Check that every host answers and has what the orchestrator needs there.
    #[command(after_long_help = AFTER_HELP)]
    Check(CheckArgs),
}

/// Options of `orchestrator hosts check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The hosts (or launcher) to check.
    #[command(flatten)]
    pub remote: RemoteArgs,

    /// The worker program as the hosts know it [default: the path of the `worker` next to
    /// this orchestrator, which suits hosts sharing its file system]. Example:
    /// `--worker /opt/orchestrator/bin/worker`.
    #[arg(long, value_name = "PATH")]
    pub worker: Option<PathBuf>,

    /// Do not look for the worker (hosts only used by `orchestrator run`).
    #[arg(long, conflicts_with = "worker")]
    pub no_worker: bool,

    /// How long one host may take to answer. Example: `--timeout 5s`.
    #[arg(long, value_name = "D", value_parser = super::parse_duration, default_value = "20s")]
    pub timeout: Duration,

    /// One JSON object per host on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `orchestrator hosts ...` and returns the exit code.
pub fn execute(args: Args) -> i32 {
    match args.command {
        HostsCommand::Check(a) => check(a),
    }
}

/// One host's verdict, as printed and as `--json`.
#[derive(Debug, Serialize)]
struct Row {
    host: String,
    reachable: bool,
    usable: bool,
    error: Option<String>,
    hostname: Option<String>,
    cores: Option<u32>,
    latency_ms: Option<f64>,
    missing_tools: Vec<String>,
    worker: Option<String>,
    worker_software: Option<String>,
    worker_protocol: Option<u32>,
}

fn check(args: CheckArgs) -> i32 {
    let targets: Vec<(String, Launcher)> = match args.remote.placement() {
        Err(e) => {
            eprintln!("orchestrator hosts check: error: {e}");
            return exit::USAGE;
        }
        Ok(Placement::Local) => {
            eprintln!(
                "orchestrator hosts check: error: no host given (--hosts FILE, -S HOST, --slurm \
                 or --launcher)"
            );
            return exit::USAGE;
        }
        Ok(Placement::Through(l)) => vec![(l.host_label(), l)],
        Ok(Placement::Hosts(logins, ssh)) => logins
            .iter()
            .map(|l: &SshLogin| (l.target().to_string(), Launcher::for_login(l, &ssh)))
            .collect(),
    };
    let worker: Option<OsString> = if args.no_worker {
        None
    } else {
        match &args.worker {
            Some(p) => Some(p.clone().into_os_string()),
            None => match default_worker() {
                Ok(p) => Some(p.into_os_string()),
                Err(e) => {
                    eprintln!("orchestrator hosts check: error: {e} (or pass --worker PATH)");
                    return exit::USAGE;
                }
            },
        }
    };
    let within = args.timeout;
    let rows: Vec<Row> = std::thread::scope(|s| {
        let handles: Vec<_> = targets
            .iter()
            .map(|(label, launcher)| {
                let worker = worker.as_deref();
                s.spawn(move || check_one(label, launcher, worker, within))
            })
            .collect();
        handles
            .into_iter()
            .zip(&targets)
            .map(|(h, (label, _))| {
                h.join().unwrap_or_else(|_| Row {
                    error: Some("the check panicked".into()),
                    ..empty_row(label)
                })
            })
            .collect()
    });
    if args.json {
        for r in &rows {
            match serde_json::to_string(r) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("orchestrator hosts check: error: {e}"),
            }
        }
    } else {
        print_table(&rows, worker.is_some());
    }
    let bad = rows.iter().filter(|r| !r.usable).count();
    if bad > 0 {
        eprintln!(
            "orchestrator hosts check: {bad} of {} host(s) not usable",
            rows.len()
        );
        exit::FAILED
    } else {
        eprintln!("orchestrator hosts check: {} host(s) usable", rows.len());
        exit::OK
    }
}

/// `worker` next to the running executable.
fn default_worker() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let dir = exe
        .parent()
        .ok_or_else(|| "this program's path has no directory".to_string())?;
    Ok(dir.join("worker"))
}

fn empty_row(label: &str) -> Row {
    Row {
        host: label.to_string(),
        reachable: false,
        usable: false,
        error: None,
        hostname: None,
        cores: None,
        latency_ms: None,
        missing_tools: Vec::new(),
        worker: None,
        worker_software: None,
        worker_protocol: None,
    }
}

fn check_one(
    label: &str,
    launcher: &Launcher,
    worker: Option<&std::ffi::OsStr>,
    within: Duration,
) -> Row {
    let mut row = empty_row(label);
    let facts: HostFacts = match probe_through(launcher, worker, within) {
        Ok(f) => f,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    row.reachable = true;
    row.hostname = Some(facts.hostname.clone());
    row.cores = facts.nproc;
    row.latency_ms = Some((facts.latency.as_secs_f64() * 1e4).round() / 10.0);
    row.missing_tools = facts.missing_tools.clone();
    let mut problems: Vec<String> = Vec::new();
    // This machine (`:`) runs jobs without the remote wrappers.
    if !row.missing_tools.is_empty() && !matches!(launcher, Launcher::Local) {
        problems.push(format!(
            "missing {} (util-linux): the remote wrappers need them",
            row.missing_tools.join(", ")
        ));
    }
    if let Some(w) = worker {
        match facts.worker.as_deref() {
            Some("") | None => problems.push(format!(
                "no worker at `{}` (install it there, or pass --worker PATH)",
                w.to_string_lossy()
            )),
            Some(found) => {
                row.worker = Some(found.to_string());
                match handshake(launcher, w, within) {
                    Ok(WorkerHello {
                        software,
                        protocol_version,
                    }) => {
                        row.worker_software = Some(software);
                        row.worker_protocol = Some(protocol_version);
                        if protocol_version != shared::PROTOCOL_VERSION {
                            problems.push(format!(
                                "the worker speaks protocol {protocol_version}, this orchestrator \
                                 {}: install the same version on every host",
                                shared::PROTOCOL_VERSION
                            ));
                        }
                    }
                    Err(e) => problems.push(format!("the worker does not start: {e}")),
                }
            }
        }
    }
    row.usable = problems.is_empty();
    if !problems.is_empty() {
        row.error = Some(problems.join("; "));
    }
    row
}

fn print_table(rows: &[Row], with_worker: bool) {
    let mut lines = vec![vec![
        "HOST".to_string(),
        "STATUS".to_string(),
        "HOSTNAME".to_string(),
        "CORES".to_string(),
        "LATENCY".to_string(),
        if with_worker {
            "WORKER".to_string()
        } else {
            String::new()
        },
    ]];
    for r in rows {
        let status = if r.usable {
            "ok"
        } else if r.reachable {
            "PROBLEM"
        } else {
            "UNREACHABLE"
        };
        let worker = match (&r.worker_software, r.worker_protocol) {
            (Some(s), Some(p)) => format!("{s}, protocol {p}"),
            _ => "-".to_string(),
        };
        lines.push(vec![
            r.host.clone(),
            status.to_string(),
            r.hostname.clone().unwrap_or_else(|| "-".into()),
            r.cores.map_or_else(|| "-".into(), |c| c.to_string()),
            r.latency_ms
                .map_or_else(|| "-".into(), |ms| format!("{ms:.0} ms")),
            if with_worker { worker } else { String::new() },
        ]);
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for l in &lines {
        let text: Vec<String> = l
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    }
    for r in rows {
        if let Some(e) = &r.error {
            println!("{}: {e}", r.host);
        }
    }
}
