"""Anchor: subprocess.run(['cat'], input=data, capture_output=True) on BYTES bytes, timed
in-process (the input buffer is built before the clock starts). Prints elapsed seconds as a
float on stdout, as ours (examples/bench_communicate) does. Usage: communicate.py --bytes N"""

import argparse
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bytes", type=int, required=True)
    n = ap.parse_args().bytes
    data = b"\x5a" * n  # real pages, not calloc's lazily mapped zeros
    t0 = time.perf_counter()
    r = subprocess.run(["cat"], input=data, capture_output=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0 or len(r.stdout) != n:
        sys.exit(f"communicate.py: cat returned {r.returncode}, {len(r.stdout)} of {n} bytes")
    print(f"{dt:.6f}")


if __name__ == "__main__":
    main()
