//! `orchestrator demo --json`: every section runs, the numbers are sane, nothing is left.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::LeakGuard;

#[test]
fn demo_json_measures_every_lesson_and_leaves_nothing() {
    let mut g = LeakGuard::new();
    let t = Instant::now();
    let out = g
        .apply(&mut Command::new(testkit::bin("orchestrator")))
        .args(["demo", "--json"])
        .stdin(Stdio::null())
        .output()
        .expect("orchestrator starts");
    assert!(t.elapsed() < Duration::from_secs(120), "hang detector");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");

    // 1. Ten sleeps at once take about one second, far less than one after another.
    let par = v["sleeps"]["parallel_10_seconds"].as_f64().unwrap();
    assert!((0.99..5.0).contains(&par), "{par}");
    assert!(v["sleeps"]["speedup"].as_f64().unwrap() > 2.0);

    // 3. Every timed-out child was stopped and nothing of it is left.
    for case in v["timeouts"]["cases"].as_array().unwrap() {
        assert_eq!(case["processes_left"], 0, "{case}");
    }
    assert_eq!(
        v["timeouts"]["cases"][1]["ending"], "killed",
        "TERM-ignoring child"
    );

    // 4. Threads and processes computed what the serial loop did (checked in the demo).
    assert_eq!(v["seed_numbers"]["tasks"], 48);
    if v["seed_numbers"].get("worker_matches_naive").is_some() {
        assert_eq!(v["seed_numbers"]["worker_matches_naive"], true);
    }

    // 5. Backpressure bounded the queue; the pool lost a worker and no number.
    let q = &v["bounded_queues"];
    assert_eq!(q["done"], q["items"]);
    assert!(q["max_queue_depth"].as_u64().unwrap() <= q["capacity"].as_u64().unwrap());
    let crash = &q["pool_crash"];
    if crash.get("skipped").is_none() {
        assert_eq!(crash["wrong"], 0);
        assert_eq!(crash["answers"], crash["numbers"]);
        assert!(crash["workers_lost"].as_u64().unwrap() >= 1, "{crash}");
    }
    g.assert_none_left();
}
