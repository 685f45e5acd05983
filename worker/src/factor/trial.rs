//! Trial division by the primes below [`TRIAL_LIMIT`], without hardware division: `p | n`
//! exactly when `n * p^-1 mod 2^w <= (2^w - 1) / p`, and then `n * p^-1 mod 2^w` is `n / p`.
//! The tables are built at compile time.

use super::mont64::inverse_u64;
use super::mont128::inverse_u128;

/// Primes below this bound are found by trial division; every factor the later stages
/// see is at least this large.
pub(crate) const TRIAL_LIMIT: u32 = 4096;

const fn sieve() -> [bool; TRIAL_LIMIT as usize] {
    let mut composite = [false; TRIAL_LIMIT as usize];
    composite[0] = true;
    composite[1] = true;
    let mut i = 2;
    while i * i < TRIAL_LIMIT as usize {
        if !composite[i] {
            let mut j = i * i;
            while j < TRIAL_LIMIT as usize {
                composite[j] = true;
                j += i;
            }
        }
        i += 1;
    }
    composite
}

const fn count_primes() -> usize {
    let c = sieve();
    let mut k = 0;
    let mut i = 0;
    while i < TRIAL_LIMIT as usize {
        if !c[i] {
            k += 1;
        }
        i += 1;
    }
    k
}

/// Number of primes below [`TRIAL_LIMIT`].
pub(crate) const NUM_PRIMES: usize = count_primes();

const fn make_primes() -> [u32; NUM_PRIMES] {
    let c = sieve();
    let mut out = [0u32; NUM_PRIMES];
    let mut k = 0;
    let mut i = 0;
    while i < TRIAL_LIMIT as usize {
        if !c[i] {
            out[k] = i as u32;
            k += 1;
        }
        i += 1;
    }
    out
}

/// The primes below [`TRIAL_LIMIT`], ascending (`PRIMES[0] == 2`).
pub(crate) static PRIMES: [u32; NUM_PRIMES] = make_primes();

/// Divisibility test data for one odd prime `p` in w-bit words.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InvLim<T> {
    /// `p^-1 mod 2^w`.
    pub inv: T,
    /// `(2^w - 1) / p`.
    pub lim: T,
}

const fn make_inv64() -> [InvLim<u64>; NUM_PRIMES] {
    let p = make_primes();
    let mut out = [InvLim { inv: 0, lim: 0 }; NUM_PRIMES];
    let mut i = 1; // index 0 is 2: handled with shifts
    while i < NUM_PRIMES {
        let q = p[i] as u64;
        out[i] = InvLim {
            inv: inverse_u64(q),
            lim: u64::MAX / q,
        };
        i += 1;
    }
    out
}

const fn make_inv128() -> [InvLim<u128>; NUM_PRIMES] {
    let p = make_primes();
    let mut out = [InvLim { inv: 0, lim: 0 }; NUM_PRIMES];
    let mut i = 1;
    while i < NUM_PRIMES {
        let q = p[i] as u128;
        out[i] = InvLim {
            inv: inverse_u128(q),
            lim: u128::MAX / q,
        };
        i += 1;
    }
    out
}

const fn make_inv32() -> [InvLim<u32>; NUM_PRIMES] {
    let p = make_primes();
    let mut out = [InvLim { inv: 0, lim: 0 }; NUM_PRIMES];
    let mut i = 1;
    while i < NUM_PRIMES {
        let q = p[i] as u64;
        out[i] = InvLim {
            inv: inverse_u64(q) as u32,
            lim: (u32::MAX as u64 / q) as u32,
        };
        i += 1;
    }
    out
}

/// 32-bit divisibility data, index-aligned with [`PRIMES`].
pub(crate) static INV32: [InvLim<u32>; NUM_PRIMES] = make_inv32();

/// Odd numbers below this are factored by [`SMALLEST_FACTOR`] lookups.
const TABLE_LIMIT: u32 = 1 << 19;

const fn make_smallest_factor() -> [u8; TABLE_LIMIT as usize / 2] {
    let limit = TABLE_LIMIT as usize;
    let mut t = [0u8; TABLE_LIMIT as usize / 2];
    let mut i = 3;
    let mut idx = 1u8; // index of i in PRIMES while i runs over the odd primes
    while i * i < limit {
        if t[i / 2] == 0 {
            let mut j = i * i;
            while j < limit {
                if t[j / 2] == 0 {
                    t[j / 2] = idx;
                }
                j += 2 * i;
            }
            idx += 1;
        }
        i += 2;
    }
    t
}

/// For odd `n = 2k + 1 < 2^19`, entry `k` is the [`PRIMES`] index of the smallest prime factor
/// of `n`, or 0 when `n` is prime (or 1). 256 KB, built at compile time: a small cofactor is
/// factored by a few lookups and exact divisions.
static SMALLEST_FACTOR: [u8; TABLE_LIMIT as usize / 2] = make_smallest_factor();

/// Factors an odd `n < 2^19` completely by table lookups.
#[inline(always)]
fn factor_by_table(mut n: u32, out: &mut Vec<u128>) {
    debug_assert!(n & 1 == 1 && n < TABLE_LIMIT);
    while n > 1 {
        let e = SMALLEST_FACTOR[(n / 2) as usize] as usize;
        if e == 0 {
            out.push(n as u128);
            return;
        }
        out.push(PRIMES[e] as u128);
        n = n.wrapping_mul(INV32[e].inv); // exact: PRIMES[e] divides n
    }
}

/// 64-bit divisibility data, index-aligned with [`PRIMES`].
pub(crate) static INV64: [InvLim<u64>; NUM_PRIMES] = make_inv64();
/// 128-bit divisibility data, index-aligned with [`PRIMES`].
pub(crate) static INV128: [InvLim<u128>; NUM_PRIMES] = make_inv128();

/// Outcome of trial division.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Trial<T> {
    /// The number is completely factored (the last cofactor, if any, was pushed as a prime).
    Done,
    /// A cofactor with no prime factor below [`TRIAL_LIMIT`], at least `TRIAL_LIMIT^2`.
    Rest(T),
}

/// Divides odd `n > 1` by the odd primes of the table, starting at index `from`,
/// pushing the factors found. Stops early once `p^2 > n` (then `n` is 1 or prime).
#[inline]
pub(crate) fn trial_u64(mut n: u64, from: usize, out: &mut Vec<u128>) -> Trial<u64> {
    debug_assert!(n & 1 == 1);
    let mut i = from.max(1);
    // Groups of 8 primes: one combined test for the whole group, since hits are rare.
    while i < NUM_PRIMES {
        if n < TABLE_LIMIT as u64 {
            factor_by_table(n as u32, out);
            return Trial::Done;
        }
        let p = PRIMES[i] as u64;
        if p * p > n {
            if n > 1 {
                out.push(n as u128);
            }
            return Trial::Done;
        }
        let end = (i + 8).min(NUM_PRIMES);
        let mut hit = false;
        for il in &INV64[i..end] {
            hit |= n.wrapping_mul(il.inv) <= il.lim;
        }
        if hit {
            for j in i..end {
                let il = INV64[j];
                let mut q = n.wrapping_mul(il.inv);
                while q <= il.lim {
                    out.push(PRIMES[j] as u128);
                    n = q;
                    q = n.wrapping_mul(il.inv);
                }
            }
            if n == 1 {
                return Trial::Done;
            }
        }
        i = end;
    }
    let last = TRIAL_LIMIT as u64;
    if n < last * last {
        if n > 1 {
            out.push(n as u128);
        }
        return Trial::Done;
    }
    Trial::Rest(n)
}

/// Trial division of an odd `n > 1` below 2^32 (the common small case): 32-bit inverse tests
/// eight primes at a time until the cofactor is below 2^19, which the smallest-factor table
/// finishes, so most small numbers take a group or two.
#[inline]
pub(crate) fn trial_u32(mut n: u32, out: &mut Vec<u128>) -> Trial<u64> {
    debug_assert!(n & 1 == 1 && n > 1);
    let mut i = 1;
    while i < NUM_PRIMES {
        if n < TABLE_LIMIT {
            factor_by_table(n, out);
            return Trial::Done;
        }
        let p = PRIMES[i];
        if p * p > n {
            out.push(n as u128);
            return Trial::Done;
        }
        let end = (i + 8).min(NUM_PRIMES);
        let mut hit = false;
        for il in &INV32[i..end] {
            hit |= n.wrapping_mul(il.inv) <= il.lim;
        }
        if hit {
            for j in i..end {
                let il = INV32[j];
                let mut q = n.wrapping_mul(il.inv);
                while q <= il.lim {
                    out.push(PRIMES[j] as u128);
                    n = q;
                    q = n.wrapping_mul(il.inv);
                }
            }
        }
        i = end;
    }
    if n == 1 {
        return Trial::Done;
    }
    let last = TRIAL_LIMIT as u64;
    if (n as u64) < last * last {
        out.push(n as u128);
        return Trial::Done;
    }
    Trial::Rest(n as u64)
}

/// As [`trial_u64`] for odd u128 `n > 1`; switches to the u64 routine once the cofactor fits.
#[inline]
pub(crate) fn trial_u128(mut n: u128, out: &mut Vec<u128>) -> Trial<u128> {
    debug_assert!(n & 1 == 1);
    let mut i = 1;
    while i < NUM_PRIMES {
        if n <= u64::MAX as u128 {
            return match trial_u64(n as u64, i, out) {
                Trial::Done => Trial::Done,
                Trial::Rest(r) => Trial::Rest(r as u128),
            };
        }
        let il = INV128[i];
        let mut q = n.wrapping_mul(il.inv);
        while q <= il.lim {
            out.push(PRIMES[i] as u128);
            n = q;
            q = n.wrapping_mul(il.inv);
        }
        i += 1;
    }
    if n <= u64::MAX as u128 {
        // Fully divided by the table: the u64 helper only decides prime-or-rest.
        return match trial_u64(n as u64, NUM_PRIMES, out) {
            Trial::Done => Trial::Done,
            Trial::Rest(r) => Trial::Rest(r as u128),
        };
    }
    Trial::Rest(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_the_primes() {
        assert_eq!(&PRIMES[..10], &[2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert_eq!(*PRIMES.last().unwrap(), 4093);
        assert_eq!(NUM_PRIMES, 564);
        for i in 1..NUM_PRIMES {
            let p = PRIMES[i] as u64;
            assert_eq!(p.wrapping_mul(INV64[i].inv), 1);
            assert_eq!((p as u128).wrapping_mul(INV128[i].inv), 1);
        }
    }

    #[test]
    fn table_and_u32_path() {
        for n in (3..TABLE_LIMIT).step_by(2) {
            let spf = (3..)
                .step_by(2)
                .take_while(|d| d * d <= n)
                .find(|d| n % d == 0)
                .unwrap_or(n);
            let e = SMALLEST_FACTOR[(n / 2) as usize] as usize;
            if spf == n {
                assert_eq!(e, 0, "n={n}");
            } else {
                assert_eq!(PRIMES[e], spf, "n={n}");
            }
        }
        let mut out = Vec::new();
        assert_eq!(trial_u32(1_852_285, &mut out), Trial::Done);
        assert_eq!(out, vec![5, 271, 1367]);
        out.clear();
        assert_eq!(trial_u32(4099 * 4111, &mut out), Trial::Rest(4099 * 4111));
        out.clear();
        assert_eq!(
            trial_u32(4_294_967_291, &mut out),
            Trial::Rest(4_294_967_291)
        );
    }

    #[test]
    fn small_numbers_are_done() {
        let mut out = Vec::new();
        assert_eq!(trial_u64(1_214_759, 1, &mut out), Trial::Done);
        assert_eq!(out, vec![7, 7, 13, 1907]);
        out.clear();
        assert_eq!(trial_u64(4093 * 4099, 1, &mut out), Trial::Done);
        assert_eq!(out, vec![4093, 4099]);
        out.clear();
        assert_eq!(
            trial_u64(4099 * 4111, 1, &mut out),
            Trial::Rest(4099 * 4111)
        );
        assert!(out.is_empty());
        assert_eq!(
            trial_u128(3 * (1u128 << 64 | 13) * 5, &mut out),
            Trial::Rest(1u128 << 64 | 13)
        );
        assert_eq!(out, vec![3, 5]);
    }
}
