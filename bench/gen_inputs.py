#!/usr/bin/env python3
"""Generate the benchmark inputs into a directory (default bench/out/data).

Deterministic: every file comes from its own fixed seed (random.Random), and primes are found
with our own Miller-Rabin (deterministic for n < 3.3e24 with the first 13 prime bases, which
covers every prime drawn here: at most 64 bits), so no Python package is needed and a fresh
machine gets byte-identical files. The classes follow /work/shared/FACTOR-ANCHORS.md, with
subsets sized so that each benchmark stays under about a minute:

  a_seed_1m.txt        the seed's 2139079 1214759 1516637 1852285, repeated to 1,000,000 lines
                       (class a is "x100k"; 10x more lines keeps process start-up out of the figure)
  b_rand_u64_50k.txt   50,000 uniformly random u64 in [1, 2^64)                   (class b subset)
  c_semi_u64_3k.txt    3,000 semiprimes p*q, p, q random primes in [2^31, 2^32)     (class c subset)
  d_semi_u128_60.txt   100 semiprimes, p, q random primes in [2^59, 2^60)           (class d subset)
  e_semi_u128_64.txt   50 semiprimes, p, q random primes in [2^63, 2^64)            (class e subset)
  f_hcn.txt            highly composite numbers (all-divisors mode)
  u96_semi.txt         400 semiprimes, p, q random primes in [2^47, 2^48) (CPU-heavy, for the pool)
  small_3m.txt         3,000,000 uniformly random integers in [2, 10^6)
  small_300k.txt       its first 300,000 lines (for the slow Python anchor)
  small_10m.txt        10,000,000 uniformly random integers in [2, 10^6)
  rand1m/NNN.bin       100 random blocks of 1 MiB (the seed's openssl pipeline)

Usage: gen_inputs.py [OUTDIR]. A file that already exists with the current generator version is
kept, so a second run is instant.
"""

import os
import random
import sys

VERSION = "1"  # bump when any output changes, so stale files are regenerated
SEED_NUMBERS = [2139079, 1214759, 1516637, 1852285]
MR_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
SMALL_PRIMES = [p for p in range(3, 1000, 2) if all(p % q for q in range(3, int(p**0.5) + 1, 2))]


def is_prime(n):
    """Miller-Rabin with the first 13 primes as bases: deterministic for n < 3.3e24."""
    if n < 2:
        return False
    for p in (2,) + tuple(SMALL_PRIMES):
        if n % p == 0:
            return n == p
    assert n < 3_317_044_064_679_887_385_961_981, "bases prove primality only below 3.3e24"
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in MR_BASES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def random_prime(rng, bits):
    """A uniformly drawn odd candidate in [2^(bits-1), 2^bits), stepped up to the next prime."""
    lo, hi = 1 << (bits - 1), 1 << bits
    while True:
        n = rng.randrange(lo, hi) | 1
        while n < hi:
            if is_prime(n):
                return n
            n += 2


def semiprimes(seed, count, bits):
    rng = random.Random(seed)
    return [random_prime(rng, bits) * random_prime(rng, bits) for _ in range(count)]


def uniform(seed, count, lo, hi):
    rng = random.Random(seed)
    return [rng.randrange(lo, hi) for _ in range(count)]


def write_numbers(path, nums):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(map(str, nums)))
        f.write("\n")
    os.replace(tmp, path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "out", "data")
    os.makedirs(outdir, exist_ok=True)
    stamp = os.path.join(outdir, "VERSION")
    fresh = not os.path.exists(stamp) or open(stamp).read().strip() != VERSION

    jobs = {
        "a_seed_1m.txt": lambda: [SEED_NUMBERS[i % 4] for i in range(1_000_000)],
        "b_rand_u64_50k.txt": lambda: uniform(0xB, 50_000, 1, 1 << 64),
        "c_semi_u64_3k.txt": lambda: semiprimes(0xC, 3_000, 32),
        "d_semi_u128_60.txt": lambda: semiprimes(0xD, 100, 60),
        "e_semi_u128_64.txt": lambda: semiprimes(0xE, 50, 64),
        "f_hcn.txt": lambda: [963761198400, 897612484786617600, 18401055938125660800],
        "u96_semi.txt": lambda: semiprimes(0x96, 400, 48),
        "small_3m.txt": lambda: uniform(0x53, 3_000_000, 2, 10**6),
        "small_10m.txt": lambda: uniform(0x510, 10_000_000, 2, 10**6),
    }
    for name, make in jobs.items():
        path = os.path.join(outdir, name)
        if fresh or not os.path.exists(path):
            print(f"gen_inputs: {name}", file=sys.stderr)
            write_numbers(path, make())

    small = os.path.join(outdir, "small_300k.txt")
    if fresh or not os.path.exists(small):
        with open(os.path.join(outdir, "small_3m.txt")) as f:
            write_numbers(small, [next(f).strip() for _ in range(300_000)])

    rdir = os.path.join(outdir, "rand1m")
    os.makedirs(rdir, exist_ok=True)
    rng = random.Random(0x1313)
    for i in range(100):
        path = os.path.join(rdir, f"{i:03d}.bin")
        block = rng.randbytes(1 << 20)  # drawn even when kept, so the sequence stays fixed
        if fresh or not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(block)

    with open(stamp, "w") as f:
        f.write(VERSION + "\n")


if __name__ == "__main__":
    main()
