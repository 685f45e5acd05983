//! All divisors in ascending order from a prime factorization, streamed.
//!
//! Up to [`FULL_LIMIT`] divisors, the sorted list is built directly by merging: with `L` the
//! sorted divisors so far and a new prime power `p^e`, `M_0 = L`, `M_k = merge(L, p * M_(k-1))`
//! gives the sorted divisors including `p^e` (multiplying a sorted list by `p` keeps it sorted);
//! the last merge (half of the work) goes straight to the visitor. About 10 ns per divisor
//! for the largest u64 case (the merges are bound by their dependent loads). Above that (only u128s have so many: up to 3.2e8 divisors) memory
//! stays bounded: the prime powers are split into two halves with sorted divisor lists `A` and
//! `B` (about `sqrt(d)` each); every divisor is exactly one product `a * b`, and the products are
//! emitted range by range: for a bound `hi`, row `i` contributes `B[c_i..e_i]` where `e_i` counts
//! `b <= hi / A[i]`; each range of at most [`CHUNK_MAX`] products is sorted and visited.

/// Largest divisor count produced by the direct merge (covers every u64: at most 184,320).
const FULL_LIMIT: u64 = 1 << 18;
/// Most divisors sorted at once in the chunked mode.
const CHUNK_MAX: u64 = 1 << 17;
/// Chunk size the chunked mode aims for.
const CHUNK_TARGET: u64 = 1 << 15;

/// Groups sorted primes into (prime, exponent) pairs; sorts a copy first if needed.
fn prime_powers(primes: &[u128]) -> Vec<(u128, u32)> {
    let mut sorted;
    let primes = if primes.is_sorted() {
        primes
    } else {
        sorted = primes.to_vec();
        sorted.sort_unstable();
        &sorted[..]
    };
    let mut out: Vec<(u128, u32)> = Vec::new();
    for &p in primes {
        match out.last_mut() {
            Some((q, e)) if *q == p => *e += 1,
            _ => out.push((p, 1)),
        }
    }
    out
}

/// Number of divisors of the number whose prime factors (with multiplicity) are `primes`
/// (1 for an empty slice: the number 1). Saturates at `u64::MAX`.
pub fn divisor_count(primes: &[u128]) -> u64 {
    if primes.is_empty() {
        return 1;
    }
    prime_powers(primes)
        .iter()
        .fold(1u64, |acc, &(_, e)| acc.saturating_mul(e as u64 + 1))
}

/// Calls `visit` with every divisor, in ascending order, of the number whose prime factors
/// (with multiplicity, as [`factor`](super::factor) returns them) are `primes`. Memory stays
/// bounded (a few MB) however many divisors there are.
///
/// The product of `primes` must fit in a u128; if it does not, nothing is visited.
/// An empty slice is the number 1, whose only divisor is 1.
///
/// ```
/// let mut ds = Vec::new();
/// worker::factor::for_each_divisor(&worker::factor::factor(12), |d| ds.push(d));
/// assert_eq!(ds, [1, 2, 3, 4, 6, 12]);
/// ```
pub fn for_each_divisor(primes: &[u128], mut visit: impl FnMut(u128)) {
    let pp = prime_powers(primes);
    let Some(n) = pp.iter().try_fold(1u128, |acc, &(p, e)| {
        p.checked_pow(e).and_then(|pe| acc.checked_mul(pe))
    }) else {
        return;
    };
    let count = divisor_count(primes);
    if count <= FULL_LIMIT {
        if n <= u64::MAX as u128 {
            let pp64: Vec<(u64, u32)> = pp.iter().map(|&(p, e)| (p as u64, e)).collect();
            stream_divisors(&pp64, |d| visit(d as u128));
        } else {
            stream_divisors(&pp, visit);
        }
        return;
    }
    chunked(&pp, n, &mut visit);
}

/// Visits the divisors of the product of the prime powers `pp` in ascending order: all merge
/// stages but the last are built in memory (see the module docs), the last one (half of the
/// work) is merged straight into `visit`.
fn stream_divisors<T>(pp: &[(T, u32)], mut visit: impl FnMut(T))
where
    T: Copy + Ord + core::ops::Mul<Output = T> + From<u8>,
{
    if pp.is_empty() {
        visit(T::from(1u8));
        return;
    }
    // Larger exponents first, while the list is short; the last prime power is streamed.
    let mut order: Vec<(T, u32)> = pp.to_vec();
    order.sort_by_key(|&(_, e)| core::cmp::Reverse(e));
    let (p, e) = order.pop().unwrap_or((T::from(1u8), 0));
    let base = sorted_divisors(&order);
    // Divisors = merge of base * p^k for k = 0..=e; with e = 1 (the usual last prime) this is
    // a two-way merge. Larger e: build all but the last power, stream the last merge.
    let mut cur = Vec::new();
    if e > 1 {
        cur = base.clone();
        let mut next = Vec::with_capacity(base.len() * (e as usize + 1));
        for _ in 1..e {
            merge_scaled(&base, &cur, p, &mut next);
            core::mem::swap(&mut cur, &mut next);
        }
    }
    let (lo, hi_src): (&[T], &[T]) = if e > 1 { (&base, &cur) } else { (&base, &base) };
    // Stream merge(lo, p * hi_src).
    let (mut i, mut j) = (0, 0);
    while i < lo.len() && j < hi_src.len() {
        let y = hi_src[j] * p;
        if lo[i] < y {
            visit(lo[i]);
            i += 1;
        } else {
            visit(y);
            j += 1;
        }
    }
    for &x in &lo[i..] {
        visit(x);
    }
    for &y in &hi_src[j..] {
        visit(y * p);
    }
}

/// Sorted divisors of the product of the prime powers `pp`, by repeated merging.
fn sorted_divisors<T>(pp: &[(T, u32)]) -> Vec<T>
where
    T: Copy + Ord + core::ops::Mul<Output = T> + From<u8>,
{
    // Larger exponents first, while the list is short.
    let mut order: Vec<(T, u32)> = pp.to_vec();
    order.sort_by_key(|&(_, e)| core::cmp::Reverse(e));
    let total: usize = pp.iter().map(|&(_, e)| e as usize + 1).product();
    let mut cur: Vec<T> = Vec::with_capacity(total);
    cur.push(T::from(1u8));
    let mut base: Vec<T> = Vec::new();
    let mut next: Vec<T> = Vec::with_capacity(total);
    for &(p, e) in &order {
        if e == 1 {
            merge_scaled(&cur, &cur, p, &mut next);
            core::mem::swap(&mut cur, &mut next);
            continue;
        }
        base.clear();
        base.extend_from_slice(&cur);
        for _ in 0..e {
            merge_scaled(&base, &cur, p, &mut next);
            core::mem::swap(&mut cur, &mut next);
        }
    }
    cur
}

/// `out = merge(a, p * b)` for sorted `a`, `b`, without branches on the data (the choice
/// is a conditional move: its outcome is unpredictable).
fn merge_scaled<T>(a: &[T], b: &[T], p: T, out: &mut Vec<T>)
where
    T: Copy + Ord + core::ops::Mul<Output = T> + From<u8>,
{
    out.clear();
    out.reserve(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let x = a[i];
        let y = b[j] * p;
        let take_a = x < y;
        out.push(if take_a { x } else { y });
        i += take_a as usize;
        j += !take_a as usize;
    }
    out.extend_from_slice(&a[i..]);
    out.extend(b[j..].iter().map(|&y| y * p));
}

/// The bounded-memory mode for very many divisors (see the module docs).
fn chunked(pp: &[(u128, u32)], n: u128, visit: &mut impl FnMut(u128)) {
    // Split the prime powers so both halves have about sqrt(d) divisors.
    let mut order = pp.to_vec();
    order.sort_by_key(|&(_, e)| core::cmp::Reverse(e));
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let (mut dl, mut dr) = (1u64, 1u64);
    for pe in order {
        if dl <= dr {
            dl *= pe.1 as u64 + 1;
            left.push(pe);
        } else {
            dr *= pe.1 as u64 + 1;
            right.push(pe);
        }
    }
    let a = sorted_divisors(&left);
    let b = sorted_divisors(&right);
    // cursor[i]: products a[i] * b[j] with j < cursor[i] are already emitted.
    let mut cursor = vec![0usize; a.len()];
    let mut end = vec![0usize; a.len()];
    let mut first_open = 0; // rows before this are exhausted
    let mut buf: Vec<u128> = Vec::with_capacity(CHUNK_MAX as usize);
    let mut lo: u128 = 0; // every divisor <= lo has been visited
    let mut step: f64 = 2.0; // the ratio hi / lo to try first
    while lo < n {
        let hi = choose_bound(&a, &b, &cursor, first_open, lo, n, step, &mut end);
        let mut count = 0u64;
        buf.clear();
        for i in first_open..a.len() {
            if a[i] > hi {
                break;
            }
            let ai = a[i];
            buf.extend(b[cursor[i]..end[i]].iter().map(|&bj| ai * bj));
            count += (end[i] - cursor[i]) as u64;
            cursor[i] = end[i];
        }
        while first_open < a.len() && cursor[first_open] == b.len() {
            first_open += 1;
        }
        buf.sort_unstable();
        for &d in &buf {
            visit(d);
        }
        // Aim the next chunk at about CHUNK_TARGET products (log-scale step).
        let span = if lo == 0 {
            2.0f64.ln()
        } else {
            (hi as f64 / lo as f64).ln()
        };
        let scale = (CHUNK_TARGET as f64 / count.max(1) as f64).clamp(0.25, 4.0);
        step = (span.max(1e-15) * scale).exp();
        lo = hi;
    }
}

/// A bound `hi` in `(lo, n]` with at most [`CHUNK_MAX`] products in `(lo, hi]` (at least
/// `CHUNK_TARGET / 4` unless `hi == n` or no better bound exists), leaving the matching row
/// ends in `end`. Bisects between a bound known to be small enough and one known to be too big.
#[allow(clippy::too_many_arguments)]
fn choose_bound(
    a: &[u128],
    b: &[u128],
    cursor: &[usize],
    first: usize,
    lo: u128,
    n: u128,
    mut step: f64,
    end: &mut [usize],
) -> u128 {
    let mut good = lo; // (lo, good] holds at most CHUNK_MAX products (none for good == lo)
    let mut bad: Option<u128> = None; // (lo, bad] holds more
    let mut hi = next_bound(lo, step, n);
    let mut counted;
    loop {
        let c = count_upto(a, b, cursor, first, hi, end);
        counted = Some(hi);
        if c <= CHUNK_MAX {
            good = hi;
            if c >= CHUNK_TARGET / 4 || hi == n {
                break;
            }
            match bad {
                Some(bd) if bd - good <= 1 => break,
                Some(bd) => hi = mid(good, bd),
                None => {
                    step *= step;
                    hi = next_bound(lo, step, n).max(good + 1);
                }
            }
        } else {
            bad = Some(hi);
            if hi - good <= 1 {
                break; // unreachable in practice: one more bound adds at most one divisor
            }
            hi = mid(good, hi);
        }
    }
    if good == lo {
        // Only possible if even lo + 1 was over the limit, which cannot happen (divisors
        // are distinct); keep progress anyway.
        good = lo + 1;
    }
    if counted != Some(good) {
        count_upto(a, b, cursor, first, good, end);
    }
    good
}

/// `lo * step`, clamped to `(lo, n]`.
fn next_bound(lo: u128, step: f64, n: u128) -> u128 {
    let x = (lo.max(1) as f64) * step;
    let hi = if x >= n as f64 { n } else { x as u128 };
    hi.clamp(lo + 1, n)
}

/// Geometric midpoint of `lo < hi` (falls back to the arithmetic one when they are close).
fn mid(lo: u128, hi: u128) -> u128 {
    let g = ((lo.max(1) as f64) * (hi as f64)).sqrt() as u128;
    if g > lo && g < hi {
        g
    } else {
        lo + (hi - lo) / 2
    }
}

/// For every open row, `end[i]` = number of `b` with `a[i] * b <= hi`; returns the count of
/// products in `(lo, hi]` (those past each row's cursor).
fn count_upto(
    a: &[u128],
    b: &[u128],
    cursor: &[usize],
    first: usize,
    hi: u128,
    end: &mut [usize],
) -> u64 {
    let mut total = 0u64;
    for i in first..a.len() {
        if a[i] > hi {
            break;
        }
        let lim = hi / a[i];
        let c = cursor[i];
        // Gallop from the cursor: the answer is usually close to it.
        let rest = &b[c..];
        let mut span = 1;
        while span < rest.len() && rest[span - 1] <= lim {
            span *= 2;
        }
        let span = span.min(rest.len());
        let e = c + rest[..span].partition_point(|&x| x <= lim);
        end[i] = e;
        total += (e - c) as u64;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oracle(primes: &[u128]) -> Vec<u128> {
        let pp = prime_powers(primes);
        let mut ds = vec![1u128];
        for (p, e) in pp {
            let base = ds.clone();
            let mut pk = 1u128;
            for _ in 0..e {
                pk *= p;
                ds.extend(base.iter().map(|d| d * pk));
            }
        }
        ds.sort_unstable();
        ds
    }

    fn collect(primes: &[u128]) -> Vec<u128> {
        let mut v = Vec::new();
        for_each_divisor(primes, |d| v.push(d));
        v
    }

    #[test]
    fn small_cases() {
        assert_eq!(collect(&[]), vec![1]);
        assert_eq!(collect(&[2, 2, 3]), vec![1, 2, 3, 4, 6, 12]);
        assert_eq!(collect(&[101, 21179]), vec![1, 101, 21179, 2139079]);
        assert_eq!(divisor_count(&[2, 2, 3]), 6);
        assert_eq!(divisor_count(&[]), 1);
        // Unsorted input is tolerated.
        assert_eq!(collect(&[3, 2, 2]), vec![1, 2, 3, 4, 6, 12]);
        // Overflowing product: nothing visited.
        assert!(collect(&[u128::MAX - 158, 3]).is_empty());
    }

    #[test]
    fn chunked_mode_matches_oracle() {
        // Force the chunked path on a moderate number through the internal function.
        let primes: Vec<u128> = vec![
            2,
            2,
            2,
            3,
            3,
            5,
            7,
            11,
            13,
            17,
            19,
            23,
            29,
            31,
            37,
            41,
            43,
            (1u128 << 61) - 1,
        ];
        let want = oracle(&primes);
        let pp = prime_powers(&primes);
        let n: u128 = primes.iter().product();
        let mut got = Vec::new();
        chunked(&pp, n, &mut |d| got.push(d));
        assert_eq!(got.len(), want.len());
        assert_eq!(got, want);
    }
}
