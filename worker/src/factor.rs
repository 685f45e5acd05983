//! Integer factorization: pure functions, no I/O.
//!
//! PLACEHOLDER implementation (trial division) with the final API; the real algorithms
//! replace the bodies, not the signatures.

/// Prime factors of `n` in ascending order, with multiplicity (`12 -> [2, 2, 3]`).
/// `0` and `1` have no prime factors (as in coreutils `factor`).
pub fn factor(n: u128) -> Vec<u128> {
    let mut out = Vec::new();
    if n < 2 {
        return out;
    }
    let mut n = n;
    let mut d: u128 = 2;
    while d * d <= n {
        while n % d == 0 {
            out.push(d);
            n /= d;
        }
        d += 1;
    }
    if n > 1 {
        out.push(n);
    }
    out
}

/// Calls `visit` with every divisor of the number whose ascending prime factors are
/// `primes`, in ascending order, without building the whole list.
pub fn for_each_divisor(primes: &[u128], mut visit: impl FnMut(u128)) {
    let n: u128 = primes.iter().product();
    if n == 0 {
        return;
    }
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
