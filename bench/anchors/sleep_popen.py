"""Anchor: start N `sleep SECS` children with subprocess.Popen (no pipes), then wait() each
(BASELINE.md §2 and §8). Timed as a whole process by the driver. Usage: sleep_popen.py N SECS"""

import subprocess
import sys


def main():
    n, secs = int(sys.argv[1]), sys.argv[2]
    procs = [subprocess.Popen(["sleep", secs]) for _ in range(n)]
    sys.exit(1 if any(p.wait() != 0 for p in procs) else 0)


if __name__ == "__main__":
    main()
