//! `orchestrator pipeline` end to end: the fault matrix through the CLI.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use testkit::LeakGuard;

fn orch(g: &LeakGuard) -> Command {
    let mut c = Command::new(testkit::bin("orchestrator"));
    g.apply(&mut c);
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(c: &mut Command) -> Output {
    c.stdin(Stdio::null())
        .output()
        .expect("orchestrator starts")
}

const ENC: &str = "openssl enc -des3 -pbkdf2 -nosalt -pass env:password";
const DGST: &str = "openssl dgst -whirlpool -provider legacy -provider default";

fn have_openssl() -> bool {
    Command::new("openssl").arg("version").output().is_ok()
}

#[test]
fn openssl_chain_gives_the_same_digest_as_bash_per_input() {
    if !have_openssl() {
        eprintln!("SKIPPED: openssl is not installed");
        return;
    }
    let mut g = LeakGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for i in 0..3u8 {
        let p = dir.path().join(format!("in{i}"));
        let data: Vec<u8> = (0..100_000u32)
            .map(|j| (j as u8) ^ i.wrapping_mul(37))
            .collect();
        std::fs::write(&p, data).unwrap();
        files.push(p);
    }
    let out = run(orch(&g)
        .env("password", "s3cret-value")
        .args(["pipeline", "--procs", "2", "--input"])
        .args(&files)
        .arg("--")
        .arg(format!("{ENC} | {DGST}")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3);
    for (f, line) in files.iter().zip(&lines) {
        let bash = Command::new("bash")
            .args(["-c", &format!("{ENC} < '{}' | {DGST}", f.display())])
            .env("password", "s3cret-value")
            .output()
            .unwrap();
        let want = format!("{}: {}", f.display(), text(&bash.stdout).trim_end());
        assert_eq!(*line, want, "input order and digest");
    }
    assert!(!stdout.contains("s3cret-value") && !text(&out.stderr).contains("s3cret-value"));
    g.assert_none_left();
}

#[test]
fn single_stdin_input_passes_straight_through() {
    let mut g = LeakGuard::new();
    let mut child = orch(&g)
        .args(["pipeline", "--", "tr a-z A-Z | rev"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"OLLEH\n");
    assert_eq!(
        text(&out.stderr),
        "",
        "nothing extra on stderr in a shell pipeline"
    );
    g.assert_none_left();
}

#[test]
fn a_chain_that_times_out_names_the_running_stage_and_leaves_nothing() {
    let mut g = LeakGuard::new();
    let t = Instant::now();
    let out = run(orch(&g).args([
        "pipeline",
        "--timeout",
        "1s",
        "--kill-after",
        "300ms",
        "--random",
        "2:10",
        "--",
        "cat | sh -c 'sleep 1000 & sleep 1000'",
    ]));
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("random-1: timed out after 1s in stage 2 (`sh`)"),
        "{err}"
    );
    assert!(err.contains("2 timed out"), "{err}");
    g.assert_none_left();
}

#[test]
fn a_term_ignoring_stage_is_killed_after_the_grace() {
    let mut g = LeakGuard::new();
    let out = run(orch(&g).args([
        "pipeline",
        // Ample time for the shell to set its trap before the TERM.
        "--timeout",
        "1s",
        "--kill-after",
        "200ms",
        "--random",
        "1:1",
        "--",
        "sh -c \"trap '' TERM; exec sleep 1000\"",
    ]));
    assert_eq!(out.status.code(), Some(124));
    assert!(
        text(&out.stderr).contains("SIGTERM was not enough: killed"),
        "{}",
        text(&out.stderr)
    );
    g.assert_none_left();
}

#[test]
fn missing_program_and_directory_get_clear_errors() {
    let g = LeakGuard::new();
    let out = run(orch(&g).args(["pipeline", "--random", "1:1", "--", "cat | no-such-prog-42"]));
    assert_eq!(
        out.status.code(),
        Some(127),
        "not found, as a shell says it"
    );
    assert!(
        text(&out.stderr).contains(
            "stage 2 of the pipeline: cannot start `no-such-prog-42`: no such file or directory"
        ),
        "{}",
        text(&out.stderr)
    );
    let out = run(orch(&g).args(["pipeline", "--random", "1:1", "--", "/tmp"]));
    assert_eq!(
        out.status.code(),
        Some(126),
        "cannot execute, as a shell says it"
    );
    assert!(
        text(&out.stderr).contains("cannot start `/tmp`: is a directory"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn shell_syntax_is_a_usage_error() {
    let g = LeakGuard::new();
    for (chain, needle) in [
        ("cat > out", "no redirection"),
        ("echo $SECRET", "nothing is expanded"),
        ("cat ||", "unquoted `||`"),
    ] {
        let out = run(orch(&g).args(["pipeline", "--", chain]));
        assert_eq!(out.status.code(), Some(2), "{chain}");
        assert!(
            text(&out.stderr).contains(needle),
            "{chain}: {}",
            text(&out.stderr)
        );
    }
    let out = run(orch(&g).args(["pipeline", "--timeout", "abc", "--", "cat"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`abc` is not a valid duration"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn json_reports_every_stage() {
    let g = LeakGuard::new();
    let out = run(orch(&g).args([
        "pipeline",
        "--json",
        "--random",
        "2:1000",
        "--",
        "yes | head -c 5 | wc -c",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let objs: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(objs.len(), 2);
    for (i, o) in objs.iter().enumerate() {
        assert_eq!(o["input"], format!("random-{}", i + 1));
        assert_eq!(o["success"], true);
        assert_eq!(o["stdout"], "5\n");
        assert_eq!(o["bytes_in"], 1000);
        let stages = o["stages"].as_array().unwrap();
        assert_eq!(stages.len(), 3);
        assert_eq!(stages[0]["program"], "yes");
        assert_eq!(stages[0]["status"]["signal"], "SIGPIPE");
        assert_eq!(stages[0]["forgiven_sigpipe"], true);
        assert_eq!(stages[2]["status"]["exit_code"], 0);
    }
}

#[test]
fn at_most_procs_chains_run_at_once() {
    let g = LeakGuard::new();
    let t = Instant::now();
    let out = run(orch(&g).args([
        "pipeline",
        "--procs",
        "2",
        "--random",
        "4:1",
        "--",
        "cat | sleep 0.4",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Four 0.4 s chains, two at a time: two waves.
    assert!(
        t.elapsed() >= Duration::from_millis(800),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn output_dir_receives_each_chains_output() {
    let g = LeakGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data");
    std::fs::write(&input, vec![0u8; 4096]).unwrap();
    let outdir = dir.path().join("out");
    let out = run(orch(&g)
        .args(["pipeline", "--output-dir"])
        .arg(&outdir)
        .arg("--input")
        .arg(&input)
        .args(["--", "gzip -c | gzip -dc"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let name = input.display().to_string().replace('/', "_");
    let written = std::fs::read(outdir.join(format!("{name}.out"))).unwrap();
    assert_eq!(written, vec![0u8; 4096]);
}

#[test]
fn sigint_stops_the_chains_and_exits_130() {
    let mut g = LeakGuard::new();
    let mut c = orch(&g);
    c.args(["pipeline", "--random", "3:1", "--", "cat | sleep 1000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a background job of a non-interactive shell ignores SIGINT.
        .process_group(0);
    let child = c.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("SIGINT received"),
        "{}",
        text(&out.stderr)
    );
    g.assert_none_left();
}
