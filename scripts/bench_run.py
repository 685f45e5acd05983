#!/usr/bin/env python3
"""Side-by-side figures for `orchestrator run` against its anchors (issue 4).

Each case runs every contender in turn, round after round (A B C A B C ...), so a burst of
load from elsewhere hits all of them alike; medians and ratios to ours are printed. The
machine is shared: compare ratios from one run, not absolute times across runs.

Usage: scripts/bench_run.py [--rounds N] [--only spawn|sleep10|sleep1000] [--bin PATH]
       [--no-parallel] [--rt]   (rust-parallel is used if on PATH or in $RUST_PARALLEL)
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PY = "/root/.pyenv/versions/3.11.7/bin/python3"

POPEN_REFILL = r"""
import os, subprocess, sys
n, j = int(sys.argv[1]), int(sys.argv[2])
procs = {}
started = 0
while started < n or procs:
    while len(procs) < j and started < n:
        p = subprocess.Popen(["true"])
        procs[p.pid] = p
        started += 1
    pid, _ = os.wait()
    procs.pop(pid, None)
"""

POPEN_SLEEP = r"""
import subprocess, sys
n, secs = int(sys.argv[1]), sys.argv[2]
ps = [subprocess.Popen(["sleep", secs], stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(n)]
for p in ps:
    p.communicate()
"""


def cpu_busy():
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


RT_PREFIX = []


def timed(cmd, sample_pid_stats=False):
    """Runs `cmd` (argv or shell string); returns wall seconds, peak RSS KiB (largest
    waited-for process), max threads seen (if sampled), other load share, exit code."""
    if RT_PREFIX:
        cmd = RT_PREFIX + (["sh", "-c", cmd] if isinstance(cmd, str) else cmd)
    shell = isinstance(cmd, str)
    b0, t0 = cpu_busy()
    start = time.perf_counter()
    p = subprocess.Popen(cmd, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak_threads = [0]
    peak_hwm = [0]
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            try:
                with open(f"/proc/{p.pid}/status") as f:
                    for line in f:
                        if line.startswith("Threads:"):
                            peak_threads[0] = max(peak_threads[0], int(line.split()[1]))
                        elif line.startswith("VmHWM:"):
                            peak_hwm[0] = max(peak_hwm[0], int(line.split()[1]))
            except OSError:
                pass
            stop.wait(0.02)

    th = None
    if sample_pid_stats:
        th = threading.Thread(target=sampler, daemon=True)
        th.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    stop.set()
    if th:
        th.join()
    b1, t1 = cpu_busy()
    hz = os.sysconf("SC_CLK_TCK")
    ncpu = os.cpu_count()
    ours = (ru.ru_utime + ru.ru_stime) * hz
    busy = max(0.0, (b1 - b0) - ours)
    other = busy / max(1, (t1 - t0)) if t1 > t0 else 0.0
    del ncpu
    return {
        "wall": wall,
        # ru_maxrss would count the benchmark's own pages copied at fork: sample VmHWM.
        "rss_kib": peak_hwm[0],
        "threads": peak_threads[0],
        "other": other,
        "code": os.waitstatus_to_exitcode(status),
        "cpu": ru.ru_utime + ru.ru_stime,
    }


def case(title, contenders, rounds, reference, sample=False):
    results = {name: [] for name, _ in contenders}
    for _ in range(rounds):
        for name, cmd in contenders:
            results[name].append(timed(cmd, sample_pid_stats=sample))
    print(f"\n## {title}  ({rounds} rounds, interleaved)\n")
    print("| contender | median wall s | min-max s | cpu s | peak RSS MiB (sampled) | max threads | other load | ratio (contender/ours) |")
    print("|---|---|---|---|---|---|---|---|")
    ref = statistics.median(r["wall"] for r in results[reference])
    for name, _ in contenders:
        rs = results[name]
        walls = [r["wall"] for r in rs]
        med = statistics.median(walls)
        codes = {r["code"] for r in rs}
        note = "" if codes == {0} else f" exit {sorted(codes)}"
        threads = max(r["threads"] for r in rs)
        print(
            f"| {name}{note} | {med:.3f} | {min(walls):.3f}-{max(walls):.3f} | "
            f"{statistics.median(r['cpu'] for r in rs):.3f} | "
            f"{(max(r['rss_kib'] for r in rs) / 1024 if sample else 0):.1f} | "
            f"{threads if sample else '-'} | {statistics.median(r['other'] for r in rs):.0%} | "
            f"{med / ref:.2f} |"
        )
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only")
    ap.add_argument("--bin", default="target/release/orchestrator")
    ap.add_argument("--no-parallel", action="store_true", help="skip GNU parallel (slow)")
    ap.add_argument(
        "--rt",
        action="store_true",
        help="run every contender (and its children) under `chrt -r 10` (SCHED_RR): on a "
        "machine shared with CPU-bound work this approximates a quiet machine",
    )
    a = ap.parse_args()
    if a.rt:
        RT_PREFIX.extend(["chrt", "-r", "10"])
    orch = os.path.abspath(a.bin)
    if not os.path.exists(orch):
        sys.exit(f"{orch} missing: cargo build --release -p orchestrator")
    tmp = tempfile.mkdtemp()
    refill = os.path.join(tmp, "refill.py")
    with open(refill, "w") as f:
        f.write(POPEN_REFILL)
    sleeper = os.path.join(tmp, "sleep.py")
    with open(sleeper, "w") as f:
        f.write(POPEN_SLEEP)
    have_parallel = not a.no_parallel and subprocess.run(
        ["sh", "-c", "command -v parallel"], stdout=subprocess.DEVNULL).returncode == 0
    with open("/proc/loadavg") as f:
        print(f"loadavg before: {f.read().strip()}; cpus: {os.cpu_count()}; "
              f"{'SCHED_RR priority 10 (chrt -r 10)' if a.rt else 'normal priority'}")

    if a.only in (None, "spawn"):
        c = [
            ("ours: run -j 2 --count 2000 -- true", [orch, "run", "-j", "2", "--count", "2000", "--", "true"]),
            ("ours, fork+exec for PR_SET_PDEATHSIG (--pdeathsig --no-guardian)",
             [orch, "run", "-j", "2", "--count", "2000", "--pdeathsig", "--no-guardian", "--", "true"]),
            ("ours, posix_spawn without guardian (--no-guardian)",
             [orch, "run", "-j", "2", "--count", "2000", "--no-guardian", "--", "true"]),
            ("python Popen, refill on os.wait()", [PY, refill, "2000", "2"]),
            ("seq 2000 | xargs -P2 -n1 true", "seq 2000 | xargs -P2 -n1 true"),
        ]
        if have_parallel:
            c.append(("seq 2000 | parallel --will-cite -j2 true", "seq 2000 | parallel --will-cite -j2 true"))
        rp = os.environ.get("RUST_PARALLEL") or shutil.which("rust-parallel")
        if rp:
            c.append(("seq 2000 | rust-parallel -j2 true", f"seq 2000 | {rp} -j2 true"))
        case("2000 x true at concurrency 2", c, a.rounds, c[0][0])

    if a.only in (None, "sleep10"):
        c = [
            ("ours: run --procs 10 -- sleep 1", [orch, "run", "--procs", "10", "--", "sleep", "1"]),
            ("python 10 x Popen(PIPE) + communicate", [PY, sleeper, "10", "1"]),
            ("seq 10 | xargs -P10 -I{} sleep 1", "seq 10 | xargs -P10 -I{} sleep 1"),
            ("bash: 10 x (sleep 1 &); wait", ["bash", "-c", "for i in $(seq 10); do sleep 1 & done; wait"]),
        ]
        case("10 x sleep 1 (overhead = wall - 1 s)", c, a.rounds, c[0][0])

    if a.only in (None, "sleep1000"):
        c = [
            ("ours: run --procs 1000 --count 1000 -- sleep 2",
             [orch, "run", "--procs", "1000", "--count", "1000", "--", "sleep", "2"]),
            ("python 1000 x Popen(PIPE) + communicate", [PY, sleeper, "1000", "2"]),
            ("bash: 1000 x (sleep 2 &); wait", ["bash", "-c", "for i in $(seq 1000); do sleep 2 & done; wait"]),
            ("seq 1000 | xargs -P1000 -I{} sleep 2", "seq 1000 | xargs -P1000 -I{} sleep 2"),
        ]
        case("1000 x sleep 2 at --procs 1000", c, max(3, a.rounds // 2), c[0][0], sample=True)


if __name__ == "__main__":
    main()
