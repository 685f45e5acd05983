//! Plain integer helpers shared by the algorithms: gcd, modular inverse, integer roots,
//! a 128x128 -> 256-bit product, and a small deterministic random generator.

/// Binary gcd of two u64 (`gcd(0, b) = b`).
#[inline]
pub(crate) fn gcd64(mut a: u64, mut b: u64) -> u64 {
    if a == 0 {
        return b;
    }
    if b == 0 {
        return a;
    }
    let shift = (a | b).trailing_zeros();
    a >>= a.trailing_zeros();
    loop {
        b >>= b.trailing_zeros();
        if a > b {
            core::mem::swap(&mut a, &mut b);
        }
        b -= a;
        if b == 0 {
            return a << shift;
        }
    }
}

/// Binary gcd of two u128 (`gcd(0, b) = b`); runs in u64 once both fit.
#[inline]
pub(crate) fn gcd128(mut a: u128, mut b: u128) -> u128 {
    if a == 0 {
        return b;
    }
    if b == 0 {
        return a;
    }
    let shift = (a | b).trailing_zeros();
    a >>= a.trailing_zeros();
    loop {
        b >>= b.trailing_zeros();
        if a > b {
            core::mem::swap(&mut a, &mut b);
        }
        if b <= u64::MAX as u128 {
            return (gcd64(a as u64, b as u64) as u128) << shift;
        }
        b -= a;
        if b == 0 {
            return a << shift;
        }
    }
}

/// `x^-1 mod n` for `0 <= x < n`, `n > 1`, or `Err(g)` with `g = gcd(x, n) > 1`
/// (`Err(n)` when `x == 0`).
///
/// Extended Euclid on magnitudes: the Bezout coefficients alternate in sign, so their
/// absolute values are tracked unsigned and the sign is recovered from the step parity.
pub(crate) fn inverse_mod(x: u128, n: u128) -> Result<u128, u128> {
    let (mut r0, mut r1) = (n, x % n);
    let (mut t0, mut t1) = (0u128, 1u128);
    let mut steps = 0u32;
    while r1 > 1 {
        let q = r0 / r1;
        let r2 = r0 - q * r1;
        // |t2| = |t0| + q |t1| <= n: the magnitudes stay below the modulus.
        let t2 = t0 + q * t1;
        (r0, r1) = (r1, r2);
        (t0, t1) = (t1, t2);
        steps += 1;
    }
    if r1 == 0 {
        return Err(r0);
    }
    // t1 carries sign (-1)^steps.
    Ok(if steps.is_multiple_of(2) { t1 } else { n - t1 })
}

/// [`inverse_mod`] for u64 operands (hardware 64-bit division: several times faster).
pub(crate) fn inverse_mod_u64(x: u64, n: u64) -> Result<u64, u64> {
    let (mut r0, mut r1) = (n, x % n);
    let (mut t0, mut t1) = (0u64, 1u64);
    let mut steps = 0u32;
    while r1 > 1 {
        let q = r0 / r1;
        let r2 = r0 - q * r1;
        let t2 = t0 + q * t1;
        (r0, r1) = (r1, r2);
        (t0, t1) = (t1, t2);
        steps += 1;
    }
    if r1 == 0 {
        return Err(r0);
    }
    Ok(if steps.is_multiple_of(2) { t1 } else { n - t1 })
}

/// Floor of the square root of a u128.
#[inline]
pub(crate) fn isqrt128(n: u128) -> u128 {
    n.isqrt()
}

/// Floor of the k-th root of `n` (`k >= 1`).
pub(crate) fn iroot128(n: u128, k: u32) -> u128 {
    if k == 1 || n < 2 {
        return n;
    }
    if k >= 128 {
        return 1;
    }
    // Start from a float estimate, then correct exactly with checked powers.
    let mut r = (n as f64).powf(1.0 / k as f64) as u128;
    while r > 0 && pow_exceeds(r, k, n) {
        r -= 1;
    }
    while !pow_exceeds(r + 1, k, n) {
        r += 1;
    }
    r
}

/// Whether `r^k > n`, without overflow.
fn pow_exceeds(r: u128, k: u32, n: u128) -> bool {
    let mut acc: u128 = 1;
    for _ in 0..k {
        match acc.checked_mul(r) {
            Some(v) if v <= n => acc = v,
            _ => return true,
        }
    }
    false
}

/// If `n = r^k` for some `k >= 2`, the smallest such root `r` with its exponent `k`
/// (so `r` itself is not a perfect power). `min_root` is a lower bound on any prime
/// factor of `n`, used to bound the exponents tried.
pub(crate) fn perfect_power(n: u128, min_root: u128) -> Option<(u128, u32)> {
    if n < 4 {
        return None;
    }
    let bits = 128 - n.leading_zeros();
    let min_bits = (128 - min_root.max(2).leading_zeros())
        .saturating_sub(1)
        .max(1);
    // Largest exponent worth trying: min_root^k <= n.
    let kmax = (bits / min_bits).max(2);
    // Try prime exponents from the largest down, so the root found is as small as possible,
    // then recurse on the root for composite exponents.
    for k in (2..=kmax).rev() {
        if !is_small_prime(k) {
            continue;
        }
        let r = iroot128(n, k);
        if r >= 2 && r.checked_pow(k) == Some(n) {
            return Some(match perfect_power(r, min_root) {
                Some((rr, kk)) => (rr, kk * k),
                None => (r, k),
            });
        }
    }
    None
}

fn is_small_prime(k: u32) -> bool {
    k >= 2
        && (2..k)
            .take_while(|d| d * d <= k)
            .all(|d| !k.is_multiple_of(d))
}

/// Full 128x128-bit product as (low, high).
#[inline(always)]
pub(crate) fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    let (a0, a1) = (a as u64 as u128, a >> 64);
    let (b0, b1) = (b as u64 as u128, b >> 64);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 as u64 as u128) + (p10 as u64 as u128);
    let lo = (p00 as u64 as u128) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (lo, hi)
}

/// `(a * b) mod n` for any u128 operands (slow path: shift-and-subtract reduction of the
/// 256-bit product; used outside hot loops only).
pub(crate) fn mulmod128_slow(a: u128, b: u128, n: u128) -> u128 {
    let (lo, hi) = mul_wide(a % n, b % n);
    rem256(hi, lo, n)
}

/// `(hi * 2^128 + lo) mod n`, for `n > 0`.
pub(crate) fn rem256(hi: u128, lo: u128, n: u128) -> u128 {
    if hi == 0 {
        return lo % n;
    }
    // Reduce hi first, then bring in lo bit by bit from the top (128 steps).
    let mut r = hi % n;
    for i in (0..128).rev() {
        // r = 2r + bit, mod n, without overflow.
        let top = r >> 127;
        r = (r << 1) | ((lo >> i) & 1);
        if top == 1 || r >= n {
            r = r.wrapping_sub(n);
        }
    }
    r
}

/// Tiny deterministic generator (splitmix64) for curve and walk parameters: results must be
/// reproducible, and the engine must not depend on a system RNG.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcds() {
        assert_eq!(gcd64(0, 7), 7);
        assert_eq!(gcd64(12, 18), 6);
        assert_eq!(gcd128(1 << 100, 3 << 90), 1 << 90);
        assert_eq!(gcd128(u128::MAX, 641 * 3), 641 * 3);
    }

    #[test]
    fn inverses() {
        for n in [3u128, 7, 101, 65537, (1 << 61) - 1, u128::MAX - 158] {
            for x in [1u128, 2, 5, 99, n - 1] {
                if let Ok(i) = inverse_mod(x % n, n) {
                    assert_eq!(mulmod128_slow(i, x, n), 1 % n, "x={x} n={n}");
                }
            }
        }
        assert_eq!(inverse_mod(6, 15), Err(3));
        for n in [3u64, 7, 101, 65537, (1 << 61) - 1, u64::MAX - 58] {
            for x in [1u64, 2, 5, 97, n - 1] {
                let i = inverse_mod_u64(x % n, n).unwrap();
                assert_eq!(
                    (i as u128 * x as u128 % n as u128) as u64,
                    1 % n,
                    "x={x} n={n}"
                );
            }
        }
        assert_eq!(inverse_mod_u64(6, 15), Err(3));
        assert_eq!(inverse_mod(0, 15), Err(15));
    }

    #[test]
    fn roots_and_powers() {
        assert_eq!(iroot128(u128::MAX, 2), u64::MAX as u128);
        assert_eq!(iroot128(1 << 120, 3), 1 << 40);
        assert_eq!(iroot128((1 << 120) - 1, 3), (1 << 40) - 1);
        assert_eq!(perfect_power(3u128.pow(80), 2), Some((3, 80)));
        assert_eq!(perfect_power(1_000_003u128.pow(6), 2), Some((1_000_003, 6)));
        assert_eq!(perfect_power(1_000_003u128 * 1_000_033, 2), None);
        assert_eq!(perfect_power(36, 2), Some((6, 2)));
    }

    #[test]
    fn rem256_matches_small_cases() {
        assert_eq!(rem256(1, 0, 7), 4); // 2^128 = 2^2 mod 7
        let n = (1u128 << 127) - 1; // prime
        // 2^128 = 2 mod n
        assert_eq!(rem256(1, 0, n), 2);
        assert_eq!(mulmod128_slow(1 << 100, 1 << 100, n), (1 << 73) % n);
    }
}
