//! Integer factorization: pure functions, no I/O.
//!
//! PLACEHOLDER implementation (trial division) with the final API; the real algorithms
//! replace the bodies, not the signatures.

/// Prime factors of `n` in ascending order, with multiplicity (`12 -> [2, 2, 3]`).
/// `0` and `1` have no prime factors (as in coreutils `factor`).
pub fn factor(n: u128) -> Vec<u128> {
    let mut out = Vec::new();
    factor_into(n, &mut out);
    out
}

/// As [`factor`], into a caller-owned buffer (cleared first), so a hot loop allocates nothing.
pub fn factor_into(n: u128, out: &mut Vec<u128>) {
    out.clear();
    if n < 2 {
        return;
    }
    let mut n = n;
    let mut d: u128 = 2;
    while d * d <= n {
        while n.is_multiple_of(d) {
            out.push(d);
            n /= d;
        }
        d += 1;
    }
    if n > 1 {
        out.push(n);
    }
}

/// Number of divisors of the number whose ascending prime factors are `primes`
/// (`0` when `primes` is empty and the number is 0 is the caller's business: 1 has one divisor).
pub fn divisor_count(primes: &[u128]) -> u64 {
    let mut count = 1u64;
    let mut i = 0;
    while i < primes.len() {
        let mut k = 0u64;
        let p = primes[i];
        while i < primes.len() && primes[i] == p {
            k += 1;
            i += 1;
        }
        count *= k + 1;
    }
    count
}

/// Calls `visit` with every divisor of the number whose ascending prime factors are
/// `primes`, in ascending order, without building the whole list.
pub fn for_each_divisor(primes: &[u128], mut visit: impl FnMut(u128)) {
    let mut ds = vec![1u128];
    let mut i = 0;
    while i < primes.len() {
        let p = primes[i];
        let mut k = 0;
        while i < primes.len() && primes[i] == p {
            k += 1;
            i += 1;
        }
        let base = ds.clone();
        let mut pk = 1u128;
        for _ in 0..k {
            pk *= p;
            ds.extend(base.iter().map(|d| d * pk));
        }
    }
    ds.sort_unstable();
    for d in ds {
        visit(d);
    }
}
