//! Starts the test cluster and keeps it up until Enter or Ctrl-C, printing how to reach it:
//! for poking around by hand and for benchmarks against the same hosts.
//!
//! ```sh
//! cargo run -p testkit --example cluster            # 3 hosts + Slurm
//! cargo run -p testkit --example cluster -- 2       # 2 hosts
//! ```

use std::io::BufRead;
use std::process::ExitCode;

use testkit::cluster::{Cluster, ClusterOptions, StartError};

fn main() -> ExitCode {
    let hosts = match std::env::args().nth(1).map(|a| a.parse::<usize>()) {
        None => 3,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("usage: cluster [HOSTS]: {e}");
            return ExitCode::from(2);
        }
    };
    let cluster = match Cluster::start(&ClusterOptions {
        hosts,
        ..ClusterOptions::default()
    }) {
        Ok(c) => std::sync::Arc::new(c),
        Err(StartError::Unavailable(why)) => {
            eprintln!("cluster unavailable here: {why}");
            return ExitCode::from(3);
        }
        Err(StartError::Failed(why)) => {
            eprintln!("cluster failed to start: {why}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "up in {:.2} s: {}",
        cluster.setup_time().as_secs_f64(),
        cluster.describe()
    );
    println!(
        "ssh:       ssh -F {} root@ADDR",
        cluster.ssh_config().display()
    );
    println!("hosts:     {}", cluster.hosts_file(1).display());
    for host in cluster.hosts() {
        println!(
            "  {}  {}  netns {}",
            host.hostname,
            host.sshlogin(1),
            host.netns
        );
    }
    println!(
        "  loopback  root@127.0.0.1:{}  ({})",
        cluster.loopback_port(),
        cluster.loopback_hostname()
    );
    for (k, v) in cluster.slurm_env() {
        println!(
            "slurm:     export {}={}",
            k.to_string_lossy(),
            v.to_string_lossy()
        );
    }
    println!("press Enter (or Ctrl-C) to tear down");
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]);
    if let Ok(mut signals) = signals {
        let c = std::sync::Arc::clone(&cluster);
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                c.teardown();
                std::process::exit(130);
            }
        });
    }
    let _ = std::io::stdin().lock().lines().next();
    cluster.teardown();
    ExitCode::SUCCESS
}
