#!/usr/bin/env python3
"""Side-by-side figures for `orchestrator factor` (issue 5), complementing `make bench`.

Runs each command of a case alternately (ours, anchor, ours, ...), REPS times, and prints the
median wall time, the ratio, and for `orchestrator` its *own* CPU time apart from its
workers': the process is waited for with waitid(WNOWAIT), so /proc/PID/stat still holds its
utime/stime (itself) and cutime/cstime (the workers it reaped) before it is reaped. Its peak
RSS is read from /proc/PID/status (VmHWM, a high-water mark) while it runs.

Inputs are bench/gen_inputs.py's (small_3m, small_300k, small_10m, u96_semi).

Usage: bench/pool_side_by_side.py DATA_DIR [REPS [CASE...]]   (binaries from target/release)
CASE: small, speedup, rss (default: all). U96_COUNT=N limits the speed-up case to the first N
semiprimes (each takes ~0.8 s of CPU with the rho-only engine of 2026-12-01).
"""

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORCH = ROOT / "target/release/orchestrator"
PY = "/root/.pyenv/versions/3.11.7/bin/python3"
TICK = os.sysconf("SC_CLK_TCK")


def busy_jiffies():
    """Non-idle CPU time of the whole machine so far, in seconds."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = f[3] + f[4]
    return (sum(f[:8]) - idle) / TICK


def run(argv, stdin, stdout=subprocess.DEVNULL):
    """Runs argv; returns wall s, own cpu s, children cpu s, peak RSS MiB (own), and the
    share of the machine's CPU (0..1) that other processes used meanwhile."""
    with open(stdin, "rb") as fin:
        busy0 = busy_jiffies()
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=fin, stdout=stdout, stderr=subprocess.PIPE)
        hwm = 0
        while True:
            try:
                info = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
            except ChildProcessError:
                info = None
            if info is not None:
                break
            try:
                for line in open(f"/proc/{p.pid}/status"):
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        fields = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
        own = (int(fields[11]) + int(fields[12])) / TICK
        kids = (int(fields[13]) + int(fields[14])) / TICK
        err = p.stderr.read()
        p.wait()
        busy = busy_jiffies() - busy0
    if p.returncode not in (0, 1):
        sys.exit(f"{argv}: exit {p.returncode}: {err[-500:]!r}")
    other = max(0.0, busy - own - kids) / (wall * os.cpu_count())
    return wall, own, kids, hwm / 1024, other


def lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def case(name, cmds, reps):
    """cmds: list of (label, argv, stdin). Alternates; prints medians."""
    res = {label: [] for label, _, _ in cmds}
    for _ in range(reps):
        for label, argv, stdin in cmds:
            res[label].append(run(argv, stdin))
    print(f"\n## {name}  (median of {reps}, alternating; load avg {os.getloadavg()[0]:.1f})")
    out = {}
    for label, _, stdin in cmds:
        rows = res[label]
        wall = statistics.median(r[0] for r in rows)
        own = statistics.median(r[1] for r in rows)
        kids = statistics.median(r[2] for r in rows)
        rss = max(r[3] for r in rows)
        other = statistics.median(r[4] for r in rows)
        n = lines(stdin)
        out[label] = (wall, n)
        print(
            f"  {label:40s} wall {wall:7.3f} s  {n / wall / 1e6:7.3f} M/s  "
            f"own cpu {own:6.2f} s ({own / n * 1e9:6.1f} ns/number)  workers cpu {kids:6.2f} s  "
            f"peak RSS (own) {rss:6.1f} MiB  other load {other:4.0%}"
        )
    return out


def main():
    data = Path(sys.argv[1])
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    cases = sys.argv[3:] or ["small", "speedup", "rss"]
    if "small" in cases:
        small_case(data, reps)
    if "speedup" in cases:
        speedup_case(data, reps)
    if "rss" in cases:
        rss_case(data)


def small_case(data, reps):
    ppe = ROOT / "bench/anchors/ppe_factor.py"
    if not ppe.exists():
        ppe = data.parent / "ppe_factor.py"
    small = data / "small_3m.txt"
    r = case(
        "3M small numbers (< 10^6), stdin to stdout",
        [
            ("orchestrator factor --procs 2", [str(ORCH), "factor", "--procs", "2"], small),
            ("coreutils factor", ["factor"], small),
            ("worker factor (1 process, no pool)", [str(ROOT / "target/release/worker"), "factor"], small),
        ],
        reps,
    )
    py = case(
        "Python ProcessPoolExecutor(2).map(chunksize=1000), first 300k of the same numbers",
        [("python ppe_factor.py", [PY, str(ppe)], data / "small_300k.txt")],
        1,
    )
    ours_rate = r["orchestrator factor --procs 2"][1] / r["orchestrator factor --procs 2"][0]
    cu_rate = r["coreutils factor"][1] / r["coreutils factor"][0]
    py_rate = py["python ppe_factor.py"][1] / py["python ppe_factor.py"][0]
    print(f"  => ours / coreutils = {ours_rate / cu_rate:.2f}x   ours / Python PPE = {ours_rate / py_rate:.1f}x")


def clean_pairs(cmds, want, max_tries, max_other=0.10):
    """Runs the commands in turn until `want` rounds had every run with other processes
    using under `max_other` of the machine; returns those rounds and the tries made."""
    clean, tries = [], 0
    while len(clean) < want and tries < max_tries:
        tries += 1
        rnd = [run(argv, stdin) for _, argv, stdin in cmds]
        if all(r[4] < max_other for r in rnd):
            clean.append(rnd)
    return clean, tries


def speedup_case(data, reps):
    u96 = data / "u96_semi.txt"
    count = int(os.environ.get("U96_COUNT", "400"))
    if count < 400:
        subset = Path(f"/tmp/u96_semi_{count}.txt")
        subset.write_text("".join(open(u96).readlines()[:count]))
        u96 = subset
    r = case(
        f"{count} u96 semiprimes (48+48-bit), --procs 2 vs --procs 1",
        [
            ("orchestrator factor --procs 2", [str(ORCH), "factor", "--procs", "2"], u96),
            ("orchestrator factor --procs 1", [str(ORCH), "factor", "--procs", "1"], u96),
        ],
        reps,
    )
    print(f"  => speed-up = {r['orchestrator factor --procs 1'][0] / r['orchestrator factor --procs 2'][0]:.2f}x")
    cmds = [
        ("--procs 2", [str(ORCH), "factor", "--procs", "2"], u96),
        ("--procs 1", [str(ORCH), "factor", "--procs", "1"], u96),
    ]
    clean, tries = clean_pairs(cmds, reps, reps * 8)
    if clean:
        w2 = statistics.median(r[0][0] for r in clean)
        w1 = statistics.median(r[1][0] for r in clean)
        print(
            f"  quiet pairs only (other load < 10% in both runs): {len(clean)} of {tries} tries: "
            f"--procs 2 {w2:.3f} s, --procs 1 {w1:.3f} s => speed-up {w1 / w2:.2f}x"
        )
    else:
        print(f"  no quiet pair in {tries} tries")


def rss_case(data):
    big = data / "small_10m.txt"
    case(
        "10M small numbers: peak RSS",
        [
            ("orchestrator factor --procs 2", [str(ORCH), "factor", "--procs", "2"], big),
            ("coreutils factor", ["factor"], big),
        ],
        1,
    )


if __name__ == "__main__":
    main()
