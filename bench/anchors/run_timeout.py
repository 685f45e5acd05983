"""Anchor: subprocess.run(['sleep', '10'], timeout=0.5), timed in-process; prints the overshoot
past the 0.5 s deadline in milliseconds (Python sends SIGKILL, then waits). Usage: run_timeout.py"""

import subprocess
import sys
import time


def main():
    t0 = time.perf_counter()
    try:
        subprocess.run(["sleep", "10"], timeout=0.5)
    except subprocess.TimeoutExpired:
        print(f"{(time.perf_counter() - t0 - 0.5) * 1e3:.3f}")
        return
    sys.exit("run_timeout.py: sleep 10 ended before the timeout")


if __name__ == "__main__":
    main()
