//! The binaries build and start.

use std::process::Command;

#[test]
fn worker_binary_exists() {
    let path = testkit::bin("worker");
    assert!(path.exists());
    let mut guard = testkit::LeakGuard::new();
    let _ = guard
        .apply(&mut Command::new(&path))
        .arg("--help")
        .output()
        .expect("worker starts");
    guard.assert_none_left();
}
