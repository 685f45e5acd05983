#!/usr/bin/env python3
"""Side by side: coreutils `factor`, `worker factor`, and the `io_path` example's engine
stand-ins, on the same input, interleaved, pinned to one CPU.

Reports the CPU time (user + sys, from wait4) per number, the median and the best of the
runs, and the ratio to coreutils. CPU time rather than wall time because this 2-vCPU VM is
shared: wall times swing 2x with the load, CPU times much less. Compare ratios, not
absolute figures.

    cargo build --release -p worker --bin worker --example io_path
    python3 -c 'import sys; s=[2139079,1214759,1516637,1852285]; \
        sys.stdout.write("".join(f"{s[i%4]}\\n" for i in range(10**7)))' > /tmp/seed10m.txt
    python3 worker/examples/io_path_bench.py /tmp/seed10m.txt [--runs 7] [--cpu 1] [--pipe]

--pipe sends stdout through `cat` to /dev/null instead of straight to /dev/null.
"""
import argparse
import os
import statistics
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--cpu", default="1")
    ap.add_argument("--pipe", action="store_true")
    ap.add_argument("--target", default=os.path.join(ROOT, "target", "release"))
    args = ap.parse_args()

    with open(args.input, "rb") as f:
        n = sum(len(line.split()) for line in f)
    io_path = os.path.join(args.target, "examples", "io_path")
    cmds = {
        "coreutils factor": ["factor"],
        "worker factor": [os.path.join(args.target, "worker"), "factor"],
        "io_path identity": [io_path, "identity"],
        "io_path table": [io_path, "table"],
    }
    cpu = {k: [] for k in cmds}
    for _ in range(args.runs):
        for name, cmd in cmds.items():
            with open(args.input, "rb") as stdin:
                if args.pipe:
                    cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
                    out = cat.stdin
                else:
                    out = open(os.devnull, "wb")
                p = subprocess.Popen(["taskset", "-c", args.cpu] + cmd, stdin=stdin, stdout=out,
                                     stderr=subprocess.DEVNULL)
                _, status, ru = os.wait4(p.pid, 0)
                out.close()
                if args.pipe:
                    cat.wait()
                if status != 0:
                    raise SystemExit(f"{name} failed with status {status}")
                cpu[name].append(ru.ru_utime + ru.ru_stime)

    base_med = statistics.median(cpu["coreutils factor"])
    base_min = min(cpu["coreutils factor"])
    sink = "a pipe (cat)" if args.pipe else "/dev/null"
    print(f"{args.input}: {n} numbers, stdout to {sink}, {args.runs} interleaved runs, "
          f"CPU {args.cpu}, CPU time per number")
    print(f"{'':18s} {'median':>10s} {'best':>10s} {'M/s(med)':>9s} {'x coreutils':>12s}")
    for name, v in cpu.items():
        med, best = statistics.median(v), min(v)
        print(f"{name:18s} {med / n * 1e9:7.1f} ns {best / n * 1e9:7.1f} ns {n / med / 1e6:9.2f} "
              f"{base_med / med:6.2f} (best {base_min / best:4.2f})")


if __name__ == "__main__":
    main()
