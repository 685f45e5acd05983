"""Anchor: factor the numbers on stdin with ProcessPoolExecutor(2).map(f, numbers,
chunksize=1000), f = trial division up to the square root; print coreutils `factor` lines.
Timed as a whole process by the driver. Usage: ppe_factor.py < FILE > OUT"""

import sys
from concurrent.futures import ProcessPoolExecutor


def f(n):
    out, d = [], 2
    while d * d <= n:
        while n % d == 0:
            out.append(d)
            n //= d
        d += 1 if d == 2 else 2
    if n > 1:
        out.append(n)
    return out


def main():
    numbers = [int(tok) for tok in sys.stdin.buffer.read().split()]
    with ProcessPoolExecutor(2) as pool:
        lines = [
            f"{n}: {' '.join(map(str, fs))}" if fs else f"{n}:"
            for n, fs in zip(numbers, pool.map(f, numbers, chunksize=1000), strict=True)
        ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
