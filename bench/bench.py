#!/usr/bin/env python3
"""`make bench`: every benchmark the issues define, ours side by side with its anchors, one table.

Run through bench/run (which installs the tools and generates the inputs first):

    bench/run                    every benchmark (6-10 minutes on the 2-core machine)
    bench/run NAME...            a subset, e.g. `bench/run factor-classes run-true`
    bench/run --list             the benchmarks, what they compare, and their goals
    bench/run --slow ...         also time coreutils `factor` on one number of classes d and e
                                 (25 s to minutes each; skipped by default)

Method (docs/BENCHMARKS.md has the long form):
  * ours and the anchors run alternately, rep after rep (the starting command rotates each rep),
    and every figure is a median over the reps (every sample is kept in the JSON); a per-benchmark
    time budget stops the reps early on a loaded machine (each command still runs once);
  * each run is one child process started by this driver, in its own session; wall time is taken
    around spawn and wait4(), CPU from wait4()'s rusage, peak RSS from GNU time's %M (rss=True);
    rows run through `bash -c` have bash's own start-up (measured at the start) subtracted;
  * "other load" is the CPU the rest of the machine used while a run went on: busy time from
    /proc/stat minus our children's and this driver's rusage, as a share of all CPUs;
    before each benchmark the driver waits up to --quiet-max seconds for the machine to go quiet;
  * our side may not be built yet: a missing binary, or one that says "not implemented" or
    rejects the arguments, is reported as `n/a (not built)`; any other failure as the error. No
    figure is ever made up: a row without a measurement shows why.

Results: the table on stdout, bench/out/results.md (the same table as Markdown) and
bench/out/results.json (every sample, load, machine and tool versions).
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DATA = OUT / "data"
TMP = OUT / "tmp"
ANCHORS = ROOT / "bench" / "anchors"
REL = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target").resolve() / "release"
WORKER = REL / "worker"
ORCH = REL / "orchestrator"
EXAMPLES = REL / "examples"
RUST_PARALLEL = OUT / "tools" / "bin" / "rust-parallel"
_PYENV = Path("/root/.pyenv/versions/3.11.7/bin/python3")
PY = str(_PYENV) if _PYENV.exists() else sys.executable  # the pyenv shim costs ~50 ms a start
NCPU = os.cpu_count() or 1
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOAD_NOISY = 10.0  # % other load above which a row is flagged
NOT_BUILT = re.compile(
    r"not implemented|unexpected argument|unrecognized subcommand|unrecognized option|"
    r"unknown option|invalid value|no such (sub)?command|usage:",
    re.I,
)
OPENSSL_CHAIN = (
    "openssl enc -des3 -pbkdf2 -pass env:password | "
    "openssl dgst -whirlpool -provider legacy -provider default"
)

ARGS = None  # parsed command line (set in main)
SHELL_STARTUP = 0.0  # median wall of `bash -c :`, subtracted from shell rows


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Running one command


def cpu_busy_seconds():
    """Busy CPU time of the whole machine so far (all CPUs; idle and iowait excluded)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / CLK_TCK


def self_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dataclass
class Cmd:
    """One command of a benchmark: ours or an anchor."""

    label: str
    argv: list | None = None  # exec'd directly ...
    shell: str | None = None  # ... or run by `bash -c` (shell start-up subtracted)
    ours: bool = False
    needs: list = field(default_factory=list)  # files that must exist (ours: built binaries)
    stdin: Path | None = None
    stdout: Path | None = None  # None: /dev/null
    env: dict = field(default_factory=dict)
    timeout: float = 60.0
    ok_rc: tuple = (0,)
    reps: int | None = None  # cap on timed reps for this command
    metric: object = None  # fn(Sample) -> float; default: wall seconds
    threads: bool = False  # sample /proc/PID/status Threads while it runs
    rss: bool = False  # run under GNU time and take its %M (peak RSS)
    check: object = None  # fn() -> None or "what is wrong", after the first successful run
    min_wall: float = 0.0  # a run faster than this cannot have done the work (e.g. sleeps)


@dataclass
class Sample:
    wall: float
    cpu: float
    maxrss_mib: float | None
    load: float
    rc: int
    timed_out: bool
    stdout: str
    stderr: str
    threads: int | None = None
    value: float | None = None


def run_once(cmd):
    """Runs cmd once in a new session; returns a Sample (never raises for the command's faults)."""
    TMP.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9]+", "_", cmd.label)[:60]
    out_path = cmd.stdout or (TMP / f"{safe}.stdout" if cmd.metric else None)
    err_path = TMP / f"{safe}.stderr"
    args = cmd.argv if cmd.argv is not None else ["bash", "-c", cmd.shell]
    rss_path = TMP / f"{safe}.rss"
    if cmd.rss:
        # wait4()'s ru_maxrss of a child forked from this driver starts at the driver's own RSS
        # (Linux keeps the peak across fork and exec), so RSS is taken by GNU time, a small
        # process, exactly as `/usr/bin/time -f %M` reports it for the command.
        rss_path.unlink(missing_ok=True)
        args = ["/usr/bin/time", "-f", "%M", "-o", str(rss_path)] + list(args)
    env = dict(os.environ, **cmd.env)
    fin = open(cmd.stdin, "rb") if cmd.stdin else subprocess.DEVNULL
    fout = open(out_path, "wb") if out_path else subprocess.DEVNULL
    ferr = open(err_path, "wb")
    peak_threads = [None]
    busy0, self0 = cpu_busy_seconds(), self_cpu_seconds()
    t0 = time.perf_counter()
    try:
        p = subprocess.Popen(
            args, stdin=fin, stdout=fout, stderr=ferr, env=env, start_new_session=True, cwd=ROOT
        )
    except OSError as e:
        for f in (fin, fout, ferr):
            if f is not subprocess.DEVNULL:
                f.close()
        return Sample(0, 0, 0, 0, 127, False, "", f"cannot start {args[0]}: {e}")
    timed_out = threading.Event()
    done = threading.Event()

    def on_timeout():
        # TERM to the group first, so an orchestrator can take its own children (in their own
        # groups) down; KILL to the group if it is still there 3 s later.
        timed_out.set()
        try:
            os.killpg(p.pid, signal.SIGTERM)
            if not done.wait(3):
                os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(cmd.timeout, on_timeout)
    timer.daemon = True
    timer.start()
    sampler = None
    if cmd.threads:

        def sample_threads():
            pid = p.pid
            if cmd.rss:  # the command is GNU time's child
                kids = f"/proc/{p.pid}/task/{p.pid}/children"
                while not done.is_set():
                    try:
                        with open(kids) as f:
                            found = f.read().split()
                    except OSError:
                        found = []
                    if found:
                        pid = int(found[0])
                        break
                    done.wait(0.001)
            path = f"/proc/{pid}/status"
            while not done.is_set():
                try:
                    with open(path) as f:
                        for line in f:
                            if line.startswith("Threads:"):
                                n = int(line.split()[1])
                                peak_threads[0] = max(peak_threads[0] or 0, n)
                                break
                except (OSError, ValueError):
                    pass
                done.wait(0.005)

        sampler = threading.Thread(target=sample_threads, daemon=True)
        sampler.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    busy1, self1 = cpu_busy_seconds(), self_cpu_seconds()
    done.set()
    timer.cancel()
    if sampler:
        sampler.join()
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    if timed_out.is_set():
        try:  # whatever of the timed-out group outlived its leader
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for f in (fin, fout, ferr):
        if f is not subprocess.DEVNULL:
            f.close()
    cpu = ru.ru_utime + ru.ru_stime
    other = (busy1 - busy0) - cpu - (self1 - self0)
    load = max(0.0, 100.0 * other / (wall * NCPU)) if wall > 0 else 0.0
    if cmd.shell is not None:
        wall = max(0.0, wall - SHELL_STARTUP)
    stdout = ""
    if cmd.metric and out_path:
        stdout = Path(out_path).read_text(errors="replace")[-4000:]
    stderr = err_path.read_text(errors="replace")[-4000:]
    maxrss = None
    if cmd.rss:
        try:  # GNU time writes "Command exited with non-zero status N" first when it fails
            maxrss = int(rss_path.read_text().split()[-1]) / 1024
        except (OSError, ValueError, IndexError):
            maxrss = None
    return Sample(
        wall, cpu, maxrss, load, p.returncode, timed_out.is_set(), stdout, stderr, peak_threads[0]
    )


def failure_text(cmd, s):
    """Why a run failed, for the table; None when it succeeded."""
    if s.timed_out:
        return f"timed out after {cmd.timeout:g} s"
    if s.rc in cmd.ok_rc:
        if s.wall < cmd.min_wall:
            return (
                f"WRONG: finished in {s.wall:.3f} s, before its children could ({cmd.min_wall:g} s)"
            )
        return None
    lines = [ln.strip() for ln in s.stderr.splitlines() if ln.strip()]
    first = lines[0] if lines else "(no stderr)"
    how = f"signal {-s.rc}" if s.rc < 0 else f"exit {s.rc}"
    if cmd.ours and NOT_BUILT.search(s.stderr):
        return f"n/a (not built: {first[:90]})"
    return f"error ({how}: {first[:90]})"


# --------------------------------------------------------------------------------------------
# Measuring a set of commands alternately


@dataclass
class Result:
    cmd: Cmd
    samples: list = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self):
        return self.error is None and bool(self.samples)

    def values(self):
        return [s.value for s in self.samples]

    def median(self, attr="value"):
        return statistics.median(getattr(s, attr) for s in self.samples)

    def load(self):
        return statistics.median(s.load for s in self.samples) if self.samples else None

    def to_json(self):
        return {
            "label": self.cmd.label,
            "ours": self.cmd.ours,
            "command": self.cmd.shell
            if self.cmd.shell is not None
            else " ".join(map(str, self.cmd.argv))
            + (f" < {rel(self.cmd.stdin)}" if self.cmd.stdin else ""),
            "error": self.error,
            "samples": [
                {
                    "value": s.value,
                    "wall_s": round(s.wall, 6),
                    "cpu_s": round(s.cpu, 4),
                    "maxrss_mib": None if s.maxrss_mib is None else round(s.maxrss_mib, 2),
                    "other_load_pct": round(s.load, 1),
                    "threads": s.threads,
                    "rc": s.rc,
                }
                for s in self.samples
            ],
        }


def rel(p):
    try:
        return str(Path(p).relative_to(ROOT))
    except ValueError:
        return str(p)


def run_check(cmd):
    """cmd's output check: None if it passed, else what is wrong (never raises)."""
    try:
        return cmd.check()
    except Exception as e:  # a check that cannot run is reported, not fatal
        return f"error (output check failed to run: {type(e).__name__}: {e})"


def measure(cmds, reps, warmup=False, budget=40.0):
    """Runs every command `reps` times, alternating (the first command rotates each rep).
    Returns {label: Result}. A command whose first run fails is not run again. Stops early
    (every command has run at least once) when another rep would end past `budget` seconds,
    which keeps a benchmark near a minute on a loaded machine; the JSON keeps each n."""
    results = {c.label: Result(c) for c in cmds}
    t_start = time.monotonic()
    took = {}  # label -> seconds its last run took, driver overhead included
    for c in cmds:
        missing = [rel(n) for n in c.needs if not Path(n).exists()]
        if missing:
            results[c.label].error = (
                f"n/a (not built: {missing[0]} missing)"
                if c.ours
                else f"not installed: {missing[0]}"
            )
            log(f"    {c.label}: {results[c.label].error}")
    live = [c for c in cmds if results[c.label].error is None]
    if warmup:
        for c in live:
            s = run_once(c)
            err = failure_text(c, s)
            if err:
                results[c.label].error = err
                log(f"    {c.label}: {err}")
            elif c.check:
                results[c.label].error = run_check(c)

    def due(c):
        res = results[c.label]
        return res.error is None and (c.reps is None or len(res.samples) < c.reps)

    for r in range(reps):
        spent = time.monotonic() - t_start
        next_rep = sum(took.get(c.label, 0.0) for c in live if due(c))
        if r > 0 and spent + next_rep > budget * ARGS.budget_scale:
            log(f"    (time budget: stopped after {r} of {reps} reps, {spent:.0f} s)")
            break
        order = live[r % len(live) :] + live[: r % len(live)] if live else []
        for c in order:
            res = results[c.label]
            if not due(c):
                continue
            t_run = time.monotonic()
            s = run_once(c)
            took[c.label] = time.monotonic() - t_run
            err = failure_text(c, s)
            if err is None:
                try:
                    s.value = c.metric(s) if c.metric else s.wall
                except (ValueError, IndexError) as e:
                    err = f"error (cannot read its output: {e}; stdout: {s.stdout.strip()[:60]!r})"
            if err is None and not res.samples and not warmup and c.check:
                err = run_check(c)
            if err:
                res.error = err
                log(f"    {c.label}: {err}")
                continue
            res.samples.append(s)
            log(f"    {c.label}: {s.value:.6g} (wall {s.wall:.3f} s, other load {s.load:.0f}%)")
    return results


def wait_quiet(max_wait):
    """Waits up to max_wait s for other load below LOAD_NOISY; returns the last load seen (%)."""
    deadline = time.monotonic() + max_wait
    while True:
        b0, s0, t0 = cpu_busy_seconds(), self_cpu_seconds(), time.monotonic()
        time.sleep(0.5)
        load = (
            100
            * max(0.0, (cpu_busy_seconds() - b0) - (self_cpu_seconds() - s0))
            / ((time.monotonic() - t0) * NCPU)
        )
        if load < LOAD_NOISY or time.monotonic() >= deadline:
            return load


# --------------------------------------------------------------------------------------------
# Rows of the table


def fmt_rate(v):
    for div, unit in ((1e6, "M/s"), (1e3, "k/s")):
        if v >= div:
            return f"{v / div:.3g} {unit}"
    return f"{v:.3g}/s"


def fmt_s(v):
    return f"{v:.3g} s" if v >= 0.1 else f"{v * 1e3:.3g} ms"


def fmt_ms(v):
    return f"{v:.3g} ms"


def fmt_mib(v):
    return f"{v:.3g} MiB"


def fmt_x(v):
    return f"{v:.3g}x"


def fmt_int(v):
    return f"{v:.0f}"


@dataclass
class Row:
    bench: str
    case: str
    ours: str
    anchor: str
    ratio: str = "–"
    goal: str = "–"
    met: str = "–"
    load: str = "–"
    n: str = "–"
    data: dict = field(default_factory=dict)


def n_text(*results):
    """Reps behind each side's median, e.g. "3/5" (ours/anchor)."""
    return "/".join(str(len(r.samples)) if r is not None else "–" for r in results)


def load_text(*results):
    loads = [s.load for r in results if r is not None for s in r.samples]
    if not loads:
        return "–"
    m = statistics.median(loads)
    return f"{m:.0f}%" + (" (noisy)" if m > LOAD_NOISY else "")


def compare(bench, case, ours, anchor, fmt, better, goal=None, value=None, anchor_value=None):
    """A row comparing ours with one anchor.

    better: "lower" (times, latencies, RSS) or "higher" (rates); the ratio is always "how many
    times better ours is" (> 1: ours better). goal: None, ("ratio", x) for ratio >= x,
    ("max", x, text) / ("min", x, text) for an absolute bound on our value.
    value / anchor_value: functions of the Result giving the figure (default: median value)."""
    value = value or (lambda r: r.median())
    anchor_value = anchor_value or value
    a_txt, a_val = "–", None
    if anchor is not None:
        if anchor.ok:
            a_val = anchor_value(anchor)
            a_txt = f"{anchor.cmd.label}: {fmt(a_val)}"
        else:
            a_txt = f"{anchor.cmd.label}: {anchor.error or 'not run'}"
    o_val = None
    if ours.ok:
        o_val = value(ours)
        o_txt = fmt(o_val)
    else:
        o_txt = ours.error or "not run"
    ratio = None
    if o_val is not None and a_val is not None and o_val > 0 and a_val > 0:
        ratio = a_val / o_val if better == "lower" else o_val / a_val
    goal_txt, met = "–", "–"
    if goal:
        if goal[0] == "ratio":
            goal_txt = f">= {goal[1]:g}x"
            if ratio is not None:
                met = "yes" if ratio >= goal[1] else "NO"
        else:
            kind, bound, goal_txt = goal
            if o_val is not None:
                ok = o_val <= bound if kind == "max" else o_val >= bound
                met = "yes" if ok else "NO"
        if o_val is None:
            met = "n/a"
    return Row(
        bench,
        case,
        o_txt,
        a_txt,
        fmt_x(ratio) if ratio else "–",
        goal_txt,
        met,
        load_text(ours, anchor),
        n_text(ours, anchor),
        {
            "ours_value": o_val,
            "anchor_value": a_val,
            "anchor_name": anchor.cmd.label if anchor else None,
            "ratio_value": ratio,
        },
    )


def info(bench, case, res, fmt, value=None, note=""):
    """A row with one measured anchor figure and no comparison (e.g. an extra reference)."""
    value = value or (lambda r: r.median())
    txt = f"{res.cmd.label}: {fmt(value(res))}" if res.ok else f"{res.cmd.label}: {res.error}"
    return Row(
        bench,
        case,
        note or "–",
        txt,
        load=load_text(res),
        n=n_text(None, res),
        data={"anchor_value": value(res) if res.ok else None, "anchor_name": res.cmd.label},
    )


def output_check(shell, expected, what):
    """A check that runs a small shell command and compares its stdout with expected."""

    def check():
        r = subprocess.run(
            ["bash", "-c", shell], capture_output=True, text=True, timeout=60, cwd=ROOT
        )
        got = r.stdout.strip()
        if got != expected:
            return f"WRONG OUTPUT: {what}: expected {expected!r}, got {got[:40]!r}"
        return None

    return check


def rate_of(count):
    return lambda r: count / r.median()


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def same_files(a, b, what, prefix=False):
    """None if files a and b are identical (with prefix: a is the start of b), else a short
    description of the first difference."""

    def check():
        if not Path(b).exists():
            log(f"    output not checked: no reference {rel(b)}")
            return None
        with open(a, "rb") as fa, open(b, "rb") as fb:
            for i, (la, lb) in enumerate(zip(fa, fb, strict=False), 1):
                if la != lb:
                    return (
                        f"WRONG OUTPUT vs {what} at line {i}: "
                        f"{la.decode(errors='replace').strip()[:50]!r}"
                    )
            if fa.read(1) or (fb.read(1) and not prefix):
                return f"WRONG OUTPUT vs {what}: different number of lines"
        return None

    return check


# --------------------------------------------------------------------------------------------
# The benchmarks


BENCHMARKS = {}


def benchmark(name, issue, summary):
    def deco(fn):
        BENCHMARKS[name] = (issue, summary, fn)
        return fn

    return deco


def worker_factor(path, out, timeout=60):
    return Cmd(
        "ours: worker factor",
        ["taskset", "-c", "1", str(WORKER), "factor"],
        ours=True,
        needs=[WORKER],
        stdin=path,
        stdout=out,
        timeout=timeout,
    )


@benchmark(
    "factor-classes",
    2,
    "worker factor vs coreutils factor (a, b, c) and PARI/GP factorint (d, e), single "
    "thread pinned to CPU 1, end to end stdin to stdout; goals a >= 1.5x, b >= 3.5x, "
    "c >= 5x coreutils, d >= 60/s, e >= 35/s (+ worst single number of e)",
)
def bench_factor_classes():
    rows, raw = [], {}
    B = "factor-classes"
    classes = [
        ("a", "a_seed_1m.txt", "seed numbers x1M", 5, 6, ("ratio", 1.5)),
        ("b", "b_rand_u64_50k.txt", "random u64 (50k)", 3, 12, ("ratio", 3.5)),
        ("c", "c_semi_u64_3k.txt", "u64 semiprimes 32+32 (3k)", 3, 12, ("ratio", 5)),
    ]
    for cls, fname, what, reps, budget, goal in classes:
        path = DATA / fname
        n = count_lines(path)
        log(f"  class {cls}: {what}")
        ref = TMP / f"factor_{cls}.coreutils"
        ours = worker_factor(path, TMP / f"factor_{cls}.ours")
        ours.check = same_files(ours.stdout, ref, "coreutils")
        cu = Cmd(
            "coreutils factor", ["taskset", "-c", "1", "factor"], stdin=path, stdout=ref, timeout=60
        )
        # coreutils first: its output is the reference ours is checked against.
        res = measure([cu, ours], reps, warmup=(cls == "a"), budget=budget)
        raw[cls] = res
        rows.append(
            compare(
                B,
                f"{cls}: {what}",
                res[ours.label],
                res[cu.label],
                fmt_rate,
                "higher",
                goal,
                value=rate_of(n),
            )
        )

    for cls, fname, what, reps, bound in (
        ("d", "d_semi_u128_60.txt", "u128 semiprimes 60+60 (100)", 3, 60),
        ("e", "e_semi_u128_64.txt", "u128 semiprimes 64+64 (50)", 3, 35),
    ):
        path = DATA / fname
        n = count_lines(path)
        log(f"  class {cls}: {what}")
        ref = TMP / f"factor_{cls}.pari"
        stats = TMP / f"factor_{cls}.pari_stats"
        stats.unlink(missing_ok=True)
        gp = Cmd(
            "PARI/GP factorint",
            ["taskset", "-c", "1", "gp", "-q", "-f", str(ANCHORS / "factor.gp")],
            needs=[shutil.which("gp") or "gp (apt pari-gp)"],
            stdout=ref,
            env={"BENCH_IN": str(path), "BENCH_STATS": str(stats)},
            timeout=60,
        )
        # 30 s for 100 or 50 numbers is 10-20x below the goal: no need to wait longer.
        ours = worker_factor(path, TMP / f"factor_{cls}.ours", timeout=30)
        ours.check = same_files(ours.stdout, ref, "PARI (coreutils format)")
        res = measure([gp, ours], reps, budget=8)
        raw[cls] = res
        rows.append(
            compare(
                B,
                f"{cls}: {what}",
                res[ours.label],
                res[gp.label],
                fmt_rate,
                "higher",
                ("min", bound, f">= {bound}/s"),
                value=rate_of(n),
            )
        )
        if ARGS.slow:
            first = path.read_text().split()[0]
            cu = Cmd(
                "coreutils factor (1 number)", ["taskset", "-c", "1", "factor", first], timeout=300
            )
            r1 = measure([cu], 1)
            rows.append(
                info(B, f"{cls}: coreutils on 1 number", r1[cu.label], fmt_s, note="(anchor only)")
            )
        else:
            rows.append(
                Row(
                    B,
                    f"{cls}: coreutils",
                    "–",
                    "coreutils factor: skipped (25 s to minutes a number; --slow times 1)",
                )
            )
        if cls == "e":
            # Worst single number: ours one process per number (process start included);
            # PARI's from its own per-number clock (ms resolution) in the runs above.
            nums = path.read_text().split()
            per = [
                Cmd(
                    f"ours: worker factor #{i}",
                    ["taskset", "-c", "1", str(WORKER), "factor", x],
                    ours=True,
                    needs=[WORKER],
                    timeout=30,
                )
                for i, x in enumerate(nums)
            ]
            worst_ours = Result(Cmd("ours: worker factor, worst", ours=True))
            if res[ours.label].ok:
                pr = measure(per, 1)
                bad = [r for r in pr.values() if not r.ok]
                if bad:
                    worst_ours.error = bad[0].error
                else:
                    worst_ours.samples = [
                        max((r.samples[0] for r in pr.values()), key=lambda s: s.wall)
                    ]
                    worst_ours.samples[0].value = worst_ours.samples[0].wall
            else:
                worst_ours.error = res[ours.label].error
            worst_pari = Result(gp)
            if res[gp.label].ok:
                # factor.gp appends one "count total_ms worst_ms" line per run: take the last
                _, _, worst_ms = stats.read_text().split("\n")[-2].split()
                s = res[gp.label].samples[-1]
                worst_pari.samples = [
                    Sample(
                        s.wall,
                        s.cpu,
                        s.maxrss_mib,
                        s.load,
                        0,
                        False,
                        "",
                        "",
                        value=float(worst_ms) / 1e3,
                    )
                ]
            else:
                worst_pari.error = res[gp.label].error
            rows.append(
                compare(B, "e: worst single number", worst_ours, worst_pari, fmt_s, "lower", None)
            )
    return rows, raw


@benchmark(
    "factor-divisors",
    2,
    "worker divisors 18401055938125660800 (184,320 divisors, the worst u64) end to end "
    "vs a Python sort-based generator timed in-process; goal <= 5 ms",
)
def bench_factor_divisors():
    n = "18401055938125660800"
    ref = TMP / "divisors.python"
    py = Cmd(
        "Python sort-based (in-process)",
        [PY, str(ANCHORS / "divisors.py"), n, str(ref)],
        metric=lambda s: float(s.stdout.split()[-1]),
    )
    ours = Cmd(
        "ours: worker divisors",
        [str(WORKER), "divisors", n],
        ours=True,
        needs=[WORKER],
        stdout=TMP / "divisors.ours",
        timeout=30,
    )
    ours.check = same_files(ours.stdout, ref, "the Python generator")
    res = measure([py, ours], 10, warmup=True, budget=10)
    return [
        compare(
            "factor-divisors",
            "all divisors of 18401055938125660800",
            res[ours.label],
            res[py.label],
            fmt_s,
            "lower",
            ("max", 0.005, "<= 5 ms"),
        )
    ], res


@benchmark(
    "pipe-cat3",
    3,
    "2 GiB through `cat | cat | cat`: orchestrator pipeline vs the same bash pipeline; "
    "goal >= 1.0x bash",
)
def bench_pipe_cat3():
    bash = Cmd("bash pipeline", shell="head -c 2G /dev/zero | cat | cat | cat > /dev/null")
    ours = Cmd(
        "ours: orchestrator pipeline",
        shell=f"head -c 2G /dev/zero | {ORCH} pipeline -- 'cat | cat | cat' > /dev/null",
        ours=True,
        needs=[ORCH],
        timeout=60,
        check=output_check(
            f"head -c 64M /dev/zero | {ORCH} pipeline -- 'cat | cat | cat' | wc -c",
            str(64 << 20),
            "64 MiB through it",
        ),
    )
    res = measure([bash, ours], 5, budget=30)
    return [
        compare(
            "pipe-cat3",
            "2 GiB through cat | cat | cat",
            res[ours.label],
            res[bash.label],
            fmt_s,
            "lower",
            ("ratio", 1.0),
        )
    ], res


@benchmark(
    "communicate",
    3,
    "communicate 1 GiB through `cat` (in-process times): examples/bench_communicate vs "
    "Python subprocess.run(input=, capture_output=True); goal >= 1.5x Python",
)
def bench_communicate():
    n = 1 << 30
    py = Cmd(
        "Python subprocess.run",
        [PY, str(ANCHORS / "communicate.py"), "--bytes", str(n)],
        metric=lambda s: float(s.stdout.split()[-1]),
        timeout=120,
    )
    ours = Cmd(
        "ours: bench_communicate",
        [str(EXAMPLES / "bench_communicate"), "--bytes", str(n)],
        ours=True,
        needs=[EXAMPLES / "bench_communicate"],
        metric=lambda s: float(s.stdout.split()[-1]),
        timeout=60,
    )
    res = measure([py, ours], 3, budget=40)
    return [
        compare(
            "communicate",
            "1 GiB in and out through cat",
            res[ours.label],
            res[py.label],
            fmt_s,
            "lower",
            ("ratio", 1.5),
        )
    ], res


@benchmark(
    "kill-latency",
    3,
    "deadline -> reaped for a TERM-obeying child: examples/bench_kill_latency --runs 50 "
    "(median ms) vs the overshoot of coreutils `timeout 0.5 sleep 10`; goal median <= 2 ms",
)
def bench_kill_latency():
    def ms(s):
        return float(s.stdout.split()[-1])

    tmo = Cmd(
        "coreutils timeout 0.5 sleep 10 (overshoot)",
        ["timeout", "0.5", "sleep", "10"],
        ok_rc=(124,),
        metric=lambda s: (s.wall - 0.5) * 1e3,
    )
    py = Cmd(
        "Python run(timeout=0.5) (overshoot, KILL)",
        [PY, str(ANCHORS / "run_timeout.py")],
        metric=ms,
    )
    ours = Cmd(
        "ours: bench_kill_latency",
        [str(EXAMPLES / "bench_kill_latency"), "--runs", "50"],
        ours=True,
        needs=[EXAMPLES / "bench_kill_latency"],
        metric=ms,
        reps=1,
        timeout=60,
    )
    res = measure([tmo, py, ours], 10, budget=20)
    o = res[ours.label]
    return [
        compare(
            "kill-latency",
            "deadline -> reaped (median)",
            o,
            res[tmo.label],
            fmt_ms,
            "lower",
            ("max", 2.0, "<= 2 ms"),
        ),
        compare("kill-latency", "deadline -> reaped (median)", o, res[py.label], fmt_ms, "lower"),
    ], res


@benchmark(
    "openssl-pipeline",
    3,
    "the seed's openssl enc -des3 | dgst -whirlpool chain on 100 random 1 MiB inputs at "
    "concurrency 2, the same files for all: orchestrator pipeline --procs 2 --input vs xargs "
    "-P2 and GNU parallel -j2 (informational)",
)
def bench_openssl_pipeline():
    files = sorted((DATA / "rand1m").glob("*.bin"))
    env = {"password": "bench-secret"}
    flist = TMP / "rand1m.list"
    flist.write_text("".join(f"{f}\n" for f in files))
    xargs = Cmd(
        "xargs -P2 sh -c",
        # The redirection goes first: `< file a | b` feeds `a`; `a | b < file` would feed `b`
        # and leave the encryption nothing to do.
        shell=(f"xargs -P2 -I{{}} sh -c '< \"$1\" {OPENSSL_CHAIN}' _ {{}} < {flist} > /dev/null"),
        env=env,
    )
    par = Cmd(
        "GNU parallel -j2",
        shell=(f"parallel --will-cite -j2 '< {{}} {OPENSSL_CHAIN}' < {flist} > /dev/null"),
        env=env,
        needs=[shutil.which("parallel") or "parallel (apt parallel)"],
    )
    ours = Cmd(
        "ours: orchestrator pipeline",
        [str(ORCH), "pipeline", "--procs", "2", "--input", *map(str, files), "--", OPENSSL_CHAIN],
        ours=True,
        needs=[ORCH],
        env=env,
        timeout=60,
        check=output_check(
            f"password=x {ORCH} pipeline --procs 2 --random 3:1024 -- '{OPENSSL_CHAIN}' "
            "| grep -c WHIRLPOOL",
            "3",
            "3 random inputs: WHIRLPOOL digest lines",
        ),
    )
    res = measure([xargs, par, ours], 3, budget=30)
    o = res[ours.label]
    return [
        compare(
            "openssl-pipeline",
            "100 x 1 MiB, enc -des3 | dgst -whirlpool, -P2",
            o,
            res[xargs.label],
            fmt_s,
            "lower",
        ),
        compare(
            "openssl-pipeline",
            "100 x 1 MiB, enc -des3 | dgst -whirlpool, -P2",
            o,
            res[par.label],
            fmt_s,
            "lower",
        ),
    ], res


@benchmark(
    "run-true",
    4,
    "2,000 `true` jobs at concurrency 2: orchestrator run vs a Python Popen loop "
    "(>= 1.0x), xargs -P2 (>= 1.1x), GNU parallel (>= 5x), rust-parallel (>= 1.5x)",
)
def bench_run_true():
    py = Cmd(
        "Python Popen refill on os.wait()", [PY, str(ANCHORS / "spawn_refill.py"), "2000", "2"]
    )
    xargs = Cmd("xargs -P2", shell="seq 2000 | xargs -P2 -n1 true")
    par = Cmd(
        "GNU parallel -j2",
        shell="seq 2000 | parallel --will-cite -j2 true",
        reps=3,
        needs=[shutil.which("parallel") or "parallel (apt parallel)"],
    )
    rp_note = OUT / "tools" / "rust-parallel.note"
    rp = Cmd(
        "rust-parallel -j2", shell=f"seq 2000 | {RUST_PARALLEL} -j2 true", needs=[RUST_PARALLEL]
    )
    ours = Cmd(
        "ours: orchestrator run",
        [str(ORCH), "run", "-j", "2", "--count", "2000", "--", "true"],
        ours=True,
        needs=[ORCH],
        timeout=60,
        check=output_check(
            f"{ORCH} run -j 2 --count 20 -- echo x 2>/dev/null | grep -c '^x$'",
            "20",
            "run -j 2 --count 20 -- echo x: lines of x",
        ),
    )
    res = measure([py, xargs, par, rp, ours], 5, budget=45)
    if not RUST_PARALLEL.exists() and rp_note.exists():
        res[rp.label].error = "not installed: " + rp_note.read_text().strip()[:80]
    o = res[ours.label]
    B, case = "run-true", "2000 x true, concurrency 2"
    return [
        compare(B, case, o, res[py.label], fmt_s, "lower", ("ratio", 1.0)),
        compare(B, case, o, res[xargs.label], fmt_s, "lower", ("ratio", 1.1)),
        compare(B, case, o, res[par.label], fmt_s, "lower", ("ratio", 5)),
        compare(B, case, o, res[rp.label], fmt_s, "lower", ("ratio", 1.5)),
    ], res


@benchmark(
    "run-sleep10",
    4,
    "10 x `sleep 1` at once: overhead above 1 s of orchestrator run --procs 10 vs a bash "
    "`&` loop and xargs -P10; goal <= 20 ms",
)
def bench_run_sleep10():
    def over(s):
        return (s.wall - 1.0) * 1e3

    bash = Cmd(
        "bash & loop", shell="for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait", metric=over
    )
    xargs = Cmd("xargs -P10", shell="seq 10 | xargs -P10 -I{} sleep 1", metric=over)
    ours = Cmd(
        "ours: orchestrator run",
        [str(ORCH), "run", "--procs", "10", "--", "sleep", "1"],
        ours=True,
        needs=[ORCH],
        metric=over,
        timeout=30,
        min_wall=1.0,
    )
    res = measure([bash, xargs, ours], 5, budget=20)
    o, B, case = res[ours.label], "run-sleep10", "10 x sleep 1: overhead above 1 s"
    return [
        compare(B, case, o, res[bash.label], fmt_ms, "lower", ("max", 20.0, "<= 20 ms")),
        compare(B, case, o, res[xargs.label], fmt_ms, "lower"),
    ], res


@benchmark(
    "run-1000",
    4,
    "1,000 concurrent `sleep 2`: orchestrator run --procs 1000 wall (<= 2.55 s), threads "
    "(<= cores + 4) and peak RSS (<= 64 MiB) vs bash &, Python Popen, xargs -P1000, "
    "GNU parallel -j1000",
)
def bench_run_1000():
    bash = Cmd("bash & loop", shell="for i in $(seq 1000); do sleep 2 & done; wait", rss=True)
    py = Cmd(
        "Python Popen x1000",
        [PY, str(ANCHORS / "sleep_popen.py"), "1000", "2"],
        threads=True,
        rss=True,
    )
    xargs = Cmd("xargs -P1000", shell="seq 1000 | xargs -P1000 -I{} sleep 2", rss=True)
    par = Cmd(
        "GNU parallel -j1000",
        shell=("ulimit -n $(ulimit -Hn); seq 1000 | parallel --will-cite -j1000 -N0 sleep 2"),
        reps=1,
        needs=[shutil.which("parallel") or "parallel (apt parallel)"],
        rss=True,
    )
    ours = Cmd(
        "ours: orchestrator run",
        [str(ORCH), "run", "--procs", "1000", "--count", "1000", "--", "sleep", "2"],
        ours=True,
        needs=[ORCH],
        threads=True,
        rss=True,
        timeout=30,
        min_wall=2.0,
    )
    res = measure([bash, py, xargs, par, ours], 3, budget=45)
    o, B = res[ours.label], "run-1000"

    def rss(r):
        return r.median("maxrss_mib")

    def thr(r):
        return max(s.threads or 0 for s in r.samples)

    rows = [
        compare(
            B,
            "1000 x sleep 2: wall",
            o,
            res[bash.label],
            fmt_s,
            "lower",
            ("max", 2.55, "<= 2.55 s"),
        )
    ]
    for a in (py, xargs, par):
        rows.append(compare(B, "1000 x sleep 2: wall", o, res[a.label], fmt_s, "lower"))
    rows.append(
        compare(
            B,
            "1000 x sleep 2: max threads",
            o,
            res[py.label],
            fmt_int,
            "lower",
            ("max", NCPU + 4, f"<= {NCPU + 4} (cores + 4)"),
            value=thr,
        )
    )
    rows.append(
        compare(
            B,
            "1000 x sleep 2: peak RSS",
            o,
            res[py.label],
            fmt_mib,
            "lower",
            ("max", 64, "<= 64 MiB"),
            value=rss,
        )
    )
    for a in (bash, xargs, par):
        rows.append(
            compare(B, "1000 x sleep 2: peak RSS", o, res[a.label], fmt_mib, "lower", value=rss)
        )
    return rows, res


def pari_reference(path):
    """Coreutils-format factorization of path by PARI (cached per input); also times it once."""
    ref = TMP / (path.stem + ".pari")
    gp = Cmd(
        "PARI/GP factorint (1 thread)",
        ["gp", "-q", "-f", str(ANCHORS / "factor.gp")],
        needs=[shutil.which("gp") or "gp (apt pari-gp)"],
        stdout=ref,
        env={"BENCH_IN": str(path), "BENCH_STATS": str(TMP / (path.stem + ".pari_stats"))},
        timeout=120,
    )
    return ref, measure([gp], 1)[gp.label]


@benchmark(
    "pool-speedup",
    5,
    "orchestrator factor --procs 2 vs --procs 1 on 400 CPU-heavy u96 semiprimes "
    "(48+48 bit); goal speed-up >= 1.8",
)
def bench_pool_speedup():
    path = DATA / "u96_semi.txt"
    ref, gp = pari_reference(path)

    def mk(j):
        return Cmd(
            f"ours: orchestrator factor --procs {j}",
            [str(ORCH), "factor", "--procs", str(j)],
            ours=True,
            needs=[ORCH],
            stdin=path,
            stdout=TMP / f"pool_speedup_{j}.ours",
            timeout=30,
            check=same_files(TMP / f"pool_speedup_{j}.ours", ref, "PARI"),
        )

    p1, p2 = mk(1), mk(2)
    res = measure([p1, p2], 3, budget=40)
    res[gp.cmd.label] = gp
    n = count_lines(path)
    return [
        compare(
            "pool-speedup",
            "400 u96 semiprimes: --procs 2 vs --procs 1",
            res[p2.label],
            res[p1.label],
            fmt_rate,
            "higher",
            ("ratio", 1.8),
            value=rate_of(n),
        ),
        info(
            "pool-speedup",
            "400 u96 semiprimes: reference",
            gp,
            fmt_rate,
            value=rate_of(n),
            note="(anchor only)",
        ),
    ], res


@benchmark(
    "pool-small",
    5,
    "3 million small numbers (< 10^6) from stdin: orchestrator factor --procs 2 vs "
    "coreutils factor (>= 1.0x) and Python ProcessPoolExecutor(2) trial division (>= 20x)",
)
def bench_pool_small():
    path = DATA / "small_3m.txt"
    ref = TMP / "small_3m.coreutils"
    cu = Cmd("coreutils factor", ["factor"], stdin=path, stdout=ref)
    # Python takes ~20 s for the 3M on a quiet machine: it runs on the first 300k of the same
    # numbers, and the rates are compared.
    py = Cmd(
        "Python ProcessPoolExecutor(2) (first 300k)",
        [PY, str(ANCHORS / "ppe_factor.py")],
        stdin=DATA / "small_300k.txt",
        stdout=TMP / "small_300k.python",
        timeout=120,
        check=same_files(TMP / "small_300k.python", ref, "coreutils", prefix=True),
    )
    ours = Cmd(
        "ours: orchestrator factor --procs 2",
        [str(ORCH), "factor", "--procs", "2"],
        ours=True,
        needs=[ORCH],
        stdin=path,
        stdout=TMP / "small_3m.ours",
        timeout=60,
        check=same_files(TMP / "small_3m.ours", ref, "coreutils"),
    )
    res = measure([cu, ours, py], 3, budget=40)
    o, B, case = res[ours.label], "pool-small", "3M numbers < 10^6, stdin to stdout"
    n, n_py = count_lines(path), count_lines(DATA / "small_300k.txt")
    return [
        compare(B, case, o, res[cu.label], fmt_rate, "higher", ("ratio", 1.0), value=rate_of(n)),
        compare(
            B,
            case,
            o,
            res[py.label],
            fmt_rate,
            "higher",
            ("ratio", 20),
            value=rate_of(n),
            anchor_value=rate_of(n_py),
        ),
    ], res


@benchmark(
    "pool-rss",
    5,
    "peak RSS of orchestrator factor --procs 2 on 10 million numbers (issue 5: "
    "<= 64 MiB) vs coreutils factor",
)
def bench_pool_rss():
    path = DATA / "small_10m.txt"
    cu = Cmd("coreutils factor", ["factor"], stdin=path, rss=True)
    ours = Cmd(
        "ours: orchestrator factor --procs 2",
        [str(ORCH), "factor", "--procs", "2"],
        ours=True,
        needs=[ORCH],
        stdin=path,
        timeout=60,
        rss=True,
    )
    res = measure([cu, ours], 1)

    def rss(r):
        return r.median("maxrss_mib")

    return [
        compare(
            "pool-rss",
            "10M numbers: peak RSS",
            res[ours.label],
            res[cu.label],
            fmt_mib,
            "lower",
            ("max", 64, "<= 64 MiB"),
            value=rss,
        ),
        compare("pool-rss", "10M numbers: wall", res[ours.label], res[cu.label], fmt_s, "lower"),
    ], res


class TestCluster:
    """The testkit's cluster (sshd and Slurm in network namespaces on this machine), started
    through its example binary for the length of a benchmark and torn down after (by closing
    the example's stdin). `error` says why it is not there (not root, tools missing...)."""

    def __init__(self, hosts):
        self.hosts = []  # (hostname, address)
        self.ssh_config = None
        self.error = None
        self.proc = None
        exe = EXAMPLES / "cluster"
        if not exe.exists():
            self.error = f"n/a (not built: {rel(exe)} missing)"
            return
        self.proc = subprocess.Popen(
            [str(exe), str(hosts)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            m = re.match(r"ssh:\s+ssh -F (\S+) ", line)
            if m:
                self.ssh_config = m.group(1)
            m = re.match(r"\s+(orch-h\d+)\s+\d+/root@(\S+)\s", line)
            if m:
                self.hosts.append((m.group(1), m.group(2)))
            if line.startswith("press Enter"):
                return
        err = self.proc.stderr.read() if self.proc.poll() is not None else ""
        self.close()
        why = (err.strip().splitlines() or lines or ["no output"])[-1]
        self.error = f"skipped: the test cluster cannot start here ({why[:100]})"

    def sshlogins(self, slots, n=None):
        return ",".join(f"{slots}/root@{addr}" for _, addr in self.hosts[:n])

    def env(self):
        return {"ORCHESTRATOR_SSH": f"ssh -F {self.ssh_config}", "PARALLEL_SSH": f"ssh -F {self.ssh_config}"}

    def close(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait()
        self.proc = None


@benchmark(
    "cluster",
    7,
    "on two network-namespace ssh hosts of this machine: orchestrator factor with a worker "
    "on each vs two local workers (>= 0.9x local: same cores, so it measures overhead); per-job "
    "latency of orchestrator run over ssh (multiplexed) vs GNU parallel --sshlogin (>= 2x)",
)
def bench_cluster():
    B = "cluster"
    cl = TestCluster(2)
    try:
        if cl.error:
            log(f"    {cl.error}")
            return [Row(B, "ssh hosts (testkit cluster)", cl.error, "–")], {}
        rows, raw = [], {}
        env = cl.env()
        # 1. Per-job latency: 60 `true` jobs over one slot on each of the two hosts.
        jobs, slots = 60, 2
        hosts = cl.sshlogins(1)
        per_job = lambda r: r.median() * slots / jobs * 1e3  # noqa: E731  ms per job per slot
        check = output_check(
            f"ORCHESTRATOR_SSH='ssh -F {cl.ssh_config}' {ORCH} run -S {hosts} --count 4 "
            "-- hostname 2>/dev/null | sort -u | tr '\\n' ' '",
            " ".join(sorted(h for h, _ in cl.hosts)),
            "run -S both hosts --count 4 -- hostname: both hostnames",
        )
        mux = Cmd(
            "ours: orchestrator run -S (multiplexed)",
            [str(ORCH), "run", "-S", hosts, "--count", str(jobs), "--", "true"],
            ours=True,
            needs=[ORCH],
            env=env,
            timeout=120,
            check=check,
        )
        own = Cmd(
            "ours: orchestrator run -S --no-multiplex",
            [str(ORCH), "run", "-S", hosts, "--no-multiplex", "--count", str(jobs), "--", "true"],
            ours=True,
            needs=[ORCH],
            env=env,
            timeout=120,
        )
        par = Cmd(
            "GNU parallel -S",
            shell=f"seq {jobs} | parallel --will-cite -S {hosts} true",
            needs=[shutil.which("parallel") or "parallel (apt parallel)"],
            env=env,
            timeout=120,
        )
        res = measure([par, mux, own], 3, budget=60)
        raw["run_latency"] = res
        case = f"run: per-job latency, {jobs} x true on 2 hosts x 1 slot"
        rows.append(
            compare(B, case, res[mux.label], res[par.label], fmt_ms, "lower", ("ratio", 2),
                    value=per_job)
        )
        rows.append(
            compare(B, case + " (no multiplexing)", res[own.label], res[par.label], fmt_ms,
                    "lower", value=per_job)
        )
        rows.extend(cluster_factor_rows(cl, raw))
        return rows, raw
    finally:
        cl.close()


def cluster_factor_rows(cl, raw):
    """factor with one worker on each of two namespace hosts vs two local workers."""
    B = "cluster"
    # The 400 numbers five times over (~2 s of work for two workers): each ssh worker pays its
    # connection (150-300 ms) once, and the run is long enough that the figure measures what
    # the issue asks, the cost of frames through ssh, rather than that one-time start.
    base = DATA / "u96_semi.txt"
    base_ref, _gp = pari_reference(base)
    path = TMP / "u96_semi_x5.txt"
    ref = TMP / "u96_semi_x5.ref"
    path.write_bytes(base.read_bytes() * 5)
    if Path(base_ref).exists():
        ref.write_bytes(Path(base_ref).read_bytes() * 5)
    env = cl.env()
    local = Cmd(
        "ours: orchestrator factor --procs 2 (local)",
        [str(ORCH), "factor", "--procs", "2"],
        ours=True,
        needs=[ORCH],
        stdin=path,
        stdout=TMP / "cluster_factor_local.ours",
        timeout=60,
        check=same_files(TMP / "cluster_factor_local.ours", ref, "PARI"),
    )
    remote = Cmd(
        "ours: orchestrator factor -S 1/h1,1/h2",
        [str(ORCH), "factor", "-S", cl.sshlogins(1), "--worker", str(WORKER)],
        ours=True,
        needs=[ORCH, WORKER],
        stdin=path,
        stdout=TMP / "cluster_factor_ssh.ours",
        env=env,
        timeout=60,
        check=same_files(TMP / "cluster_factor_ssh.ours", ref, "PARI"),
    )
    res = measure([local, remote], 3, budget=60)
    raw["factor"] = res
    n = count_lines(path)
    return [
        compare(
            B,
            "factor: 2000 u96 semiprimes, 2 ssh hosts x 1 worker vs 2 local workers",
            res[remote.label],
            res[local.label],
            fmt_rate,
            "higher",
            ("ratio", 0.9),
            value=rate_of(n),
        )
    ]


# --------------------------------------------------------------------------------------------
# Table, JSON, main


COLUMNS = [
    ("benchmark", "bench"),
    ("case", "case"),
    ("ours", "ours"),
    ("anchor", "anchor"),
    ("ratio", "ratio"),
    ("goal", "goal"),
    ("met", "met"),
    ("n", "n"),
    ("other load", "load"),
]


def table_text(rows):
    widths = [max(len(h), *(len(getattr(r, a)) for r in rows)) for h, a in COLUMNS]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()

    out = [line([h for h, _ in COLUMNS]), line(["-" * w for w in widths])]
    out += [line([getattr(r, a) for _, a in COLUMNS]) for r in rows]
    return "\n".join(out)


def table_md(rows):
    def esc(s):
        return s.replace("|", "\\|")

    out = ["| " + " | ".join(h for h, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(esc(getattr(r, a)) for _, a in COLUMNS) + " |" for r in rows]
    return "\n".join(out)


def tool_version(args):
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=10, input="quit\n")
        return (r.stdout or r.stderr).strip().splitlines()[0][:100]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "not found"


def machine_info():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": model,
        "nproc": NCPU,
        "mem_gib": round(mem, 1),
        "kernel": platform.release(),
        "os": tool_version(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "commit": commit + ("+dirty" if dirty else ""),
        "shell_startup_ms": round(SHELL_STARTUP * 1e3, 3),
        "nofile_soft_hard": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        "tools": {
            "python": tool_version([PY, "--version"]),
            "bash": tool_version(["bash", "--version"]),
            "coreutils": tool_version(["factor", "--version"]),
            "xargs": tool_version(["xargs", "--version"]),
            "parallel": tool_version(["parallel", "--will-cite", "--version"]),
            "rust-parallel": tool_version([str(RUST_PARALLEL), "--version"]),
            "pari-gp": tool_version(["gp", "-q", "-f", "--version-short"]),
            "openssl": tool_version(["openssl", "version"]),
            "rustc": tool_version(["rustc", "--version"]),
        },
    }


def flatten(res):
    """The Results of a benchmark's (possibly nested) {label: Result} dict."""
    for v in res.values():
        if isinstance(v, dict):
            yield from flatten(v)
        else:
            yield v


def main():
    global ARGS, SHELL_STARTUP
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("names", nargs="*", help="benchmarks to run (default: all); see --list")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument(
        "--slow",
        action="store_true",
        help="also time coreutils factor on one number of classes d and e",
    )
    ap.add_argument(
        "--quiet-max",
        type=float,
        default=float(os.environ.get("QUIET_MAX", 3)),
        help="seconds to wait for a quiet machine before each benchmark (default 3)",
    )
    ap.add_argument(
        "--budget-scale",
        type=float,
        default=1.0,
        help="multiply every benchmark's time budget (default 1; 3 = more reps)",
    )
    ARGS = ap.parse_args()
    if ARGS.list:
        for name, (issue, summary, _) in BENCHMARKS.items():
            print(f"{name:18} issue {issue}: {summary}")
        return 0
    unknown = [n for n in ARGS.names if n not in BENCHMARKS]
    if unknown:
        print(
            f"bench: unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    names = ARGS.names or list(BENCHMARKS)
    TMP.mkdir(parents=True, exist_ok=True)
    os.environ["PARALLEL_HOME"] = str(OUT / "parallel-home")  # keeps GNU parallel's state here

    sh = Cmd("bash -c :", ["bash", "-c", ":"])
    SHELL_STARTUP = statistics.median(run_once(sh).wall for _ in range(10))
    machine = machine_info()
    log(
        f"bench: {machine['cpu']}, {NCPU} CPUs, {machine['kernel']}, commit {machine['commit']}; "
        f"bash start-up {SHELL_STARTUP * 1e3:.2f} ms (subtracted from shell rows)"
    )

    all_rows, report = [], {"machine": machine, "benchmarks": {}}
    t_all = time.monotonic()
    for name in names:
        issue, summary, fn = BENCHMARKS[name]
        load0 = wait_quiet(ARGS.quiet_max)
        log(f"== {name} (issue {issue}); other load before: {load0:.0f}%")
        t0 = time.monotonic()
        try:
            rows, res = fn()
        except Exception as e:  # one broken benchmark must not lose the others' figures
            import traceback

            traceback.print_exc()
            rows, res = [Row(name, "(harness)", f"harness error: {type(e).__name__}: {e}", "–")], {}
        dt = time.monotonic() - t0
        log(f"   {name}: {dt:.1f} s")
        all_rows += rows
        report["benchmarks"][name] = {
            "issue": issue,
            "summary": summary,
            "seconds": round(dt, 1),
            "other_load_before_pct": round(load0, 1),
            "rows": [{**{a: getattr(r, a) for _, a in COLUMNS}, **r.data} for r in rows],
            "commands": [r.to_json() for r in flatten(res)],
        }
    report["seconds"] = round(time.monotonic() - t_all, 1)

    head = (
        f"make bench: {machine['date']}, {machine['cpu']} x{NCPU}, {machine['kernel']}, "
        f"commit {machine['commit']}, {report['seconds']:.0f} s"
    )
    (OUT / "results.json").write_text(json.dumps(report, indent=1) + "\n")
    (OUT / "results.md").write_text(f"{head}\n\n{table_md(all_rows)}\n")
    print()
    print(head)
    print(
        "ratio: how many times better ours is than the anchor (> 1: ours better); "
        "figures are medians; other load: CPU used by the rest of the machine"
    )
    print(table_text(all_rows))
    print(f"\nresults: {rel(OUT / 'results.json')}, {rel(OUT / 'results.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
