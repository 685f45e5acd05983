"""Anchor: all divisors of N in ascending order by the plain Python way: factor by trial
division, expand the divisors from the factorization, sort, format one line like
`worker divisors` ("N: d1 d2 ..."), write it to OUT. Timed in-process from N to the written
line; prints seconds on stdout. Usage: divisors.py N OUT"""

import sys
import time


def factorize(n):
    f, d = {}, 2
    while d * d <= n:
        while n % d == 0:
            f[d] = f.get(d, 0) + 1
            n //= d
        d += 1 if d == 2 else 2
    if n > 1:
        f[n] = f.get(n, 0) + 1
    return f


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    t0 = time.perf_counter()
    divs = [1]
    for p, e in factorize(n).items():
        divs = [d * p**k for d in divs for k in range(e + 1)]
    divs.sort()
    with open(out, "w") as f:
        f.write(f"{n}: {' '.join(map(str, divs))}\n")
    print(f"{time.perf_counter() - t0:.6f}")


if __name__ == "__main__":
    main()
