"""Anchor: run N `true` jobs with at most J running, refilling a slot as soon as os.wait()
reports any child done (BASELINE.md §1, "python Popen, <=2 running, refill on os.wait()").
Timed as a whole process by the driver. Usage: spawn_refill.py N J"""

import os
import subprocess
import sys


def main():
    n, j = int(sys.argv[1]), int(sys.argv[2])
    running = {}
    started = failed = 0
    while started < n or running:
        while len(running) < j and started < n:
            p = subprocess.Popen(["true"])
            running[p.pid] = p
            started += 1
        pid, status = os.wait()
        p = running.pop(pid, None)
        if p is not None:
            p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
            failed += p.returncode != 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
