//! Montgomery arithmetic modulo an odd u64 (`R = 2^64`), REDC with the positive inverse.

use super::arith::{gcd64, inverse_mod_u64};
use super::monty::Monty;

/// `n^-1 mod 2^64` for odd `n` (Newton iteration; 5 correct bits to start, doubling each step).
#[inline]
pub(crate) const fn inverse_u64(n: u64) -> u64 {
    let mut x = n.wrapping_mul(3) ^ 2;
    let mut i = 0;
    while i < 4 {
        x = x.wrapping_mul(2u64.wrapping_sub(n.wrapping_mul(x)));
        i += 1;
    }
    x
}

/// Arithmetic modulo an odd `n` with `1 < n < 2^64`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mont64 {
    n: u64,
    /// `n^-1 mod 2^64`.
    ninv: u64,
    /// `R mod n`.
    one: u64,
    /// `R^2 mod n`.
    r2: u64,
}

impl Mont64 {
    /// Set up arithmetic modulo `n` (odd, `> 1`).
    #[inline]
    pub(crate) fn new(n: u64) -> Self {
        debug_assert!(n & 1 == 1 && n > 1);
        let ninv = inverse_u64(n);
        let one = n.wrapping_neg() % n;
        let r2 = ((one as u128 * one as u128) % n as u128) as u64;
        Mont64 { n, ninv, one, r2 }
    }

    /// The modulus.
    #[inline(always)]
    pub(crate) fn n(&self) -> u64 {
        self.n
    }

    /// `t * R^-1 mod n` for `t < n * 2^64`.
    #[inline(always)]
    pub(crate) fn redc(&self, t: u128) -> u64 {
        let lo = t as u64;
        let hi = (t >> 64) as u64;
        let m = lo.wrapping_mul(self.ninv);
        let mn_hi = ((m as u128 * self.n as u128) >> 64) as u64;
        let (r, borrow) = hi.overflowing_sub(mn_hi);
        if borrow { r.wrapping_add(self.n) } else { r }
    }

    /// `a * b * R^-1 mod n`.
    #[inline(always)]
    pub(crate) fn mulm(&self, a: u64, b: u64) -> u64 {
        self.redc(a as u128 * b as u128)
    }

    /// `a + b mod n`.
    #[inline(always)]
    pub(crate) fn addm(&self, a: u64, b: u64) -> u64 {
        let (s, c) = a.overflowing_add(b);
        if c || s >= self.n {
            s.wrapping_sub(self.n)
        } else {
            s
        }
    }

    /// `a - b mod n`.
    #[inline(always)]
    pub(crate) fn subm(&self, a: u64, b: u64) -> u64 {
        let (d, b) = a.overflowing_sub(b);
        if b { d.wrapping_add(self.n) } else { d }
    }

    /// `R mod n` (the Montgomery form of 1).
    #[inline(always)]
    pub(crate) fn one_m(&self) -> u64 {
        self.one
    }

    /// `x mod n` into Montgomery form.
    #[inline(always)]
    pub(crate) fn enter(&self, x: u64) -> u64 {
        self.mulm(x % self.n, self.r2)
    }
}

impl Monty for Mont64 {
    type R = u64;

    #[inline(always)]
    fn modulus(&self) -> u128 {
        self.n as u128
    }
    #[inline(always)]
    fn zero(&self) -> u64 {
        0
    }
    #[inline(always)]
    fn one(&self) -> u64 {
        self.one
    }
    #[inline(always)]
    fn residue(&self, x: u128) -> u64 {
        self.mulm((x % self.n as u128) as u64, self.r2)
    }
    #[inline(always)]
    fn value_of(&self, a: u64) -> u128 {
        self.redc(a as u128) as u128
    }
    #[inline(always)]
    fn mul(&self, a: u64, b: u64) -> u64 {
        self.mulm(a, b)
    }
    #[inline(always)]
    fn sqr(&self, a: u64) -> u64 {
        self.mulm(a, a)
    }
    #[inline(always)]
    fn add(&self, a: u64, b: u64) -> u64 {
        self.addm(a, b)
    }
    #[inline(always)]
    fn sub(&self, a: u64, b: u64) -> u64 {
        self.subm(a, b)
    }
    #[inline(always)]
    fn half(&self, a: u64) -> u64 {
        // n odd: (a + n) / 2 when a is odd, computed without overflow.
        if a & 1 == 0 {
            a >> 1
        } else {
            (a >> 1) + (self.n >> 1) + 1
        }
    }
    #[inline(always)]
    fn gcd_n(&self, a: u64) -> u128 {
        gcd64(a, self.n) as u128
    }
    fn inv(&self, a: u64) -> Result<u64, u128> {
        let plain = self.redc(a as u128);
        let i = inverse_mod_u64(plain, self.n).map_err(|g| g as u128)?;
        Ok(self.mulm(i, self.r2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_plain_arithmetic() {
        for n in [
            3u64,
            5,
            1_000_003,
            (1 << 61) - 1,
            u64::MAX,
            u64::MAX - 2,
            0x8000_0000_0000_0001,
        ] {
            let m = Mont64::new(n);
            assert_eq!(inverse_u64(n).wrapping_mul(n), 1);
            for (a, b) in [
                (0u64, 5u64),
                (1, 1),
                (n - 1, n - 1),
                (12345, n / 3),
                (n / 2, n - 2),
            ] {
                let (a, b) = (a % n, b % n);
                let (am, bm) = (m.enter(a), m.enter(b));
                let want = (a as u128 * b as u128 % n as u128) as u64;
                assert_eq!(m.value_of(m.mul(am, bm)), want as u128, "n={n} a={a} b={b}");
                assert_eq!(
                    m.value_of(m.add(am, bm)),
                    (a as u128 + b as u128) % n as u128
                );
                assert_eq!(
                    m.value_of(m.sub(am, bm)),
                    (a as u128 + n as u128 - b as u128) % n as u128
                );
                assert_eq!(m.value_of(m.add(m.half(am), m.half(am))), a as u128);
            }
        }
    }

    #[test]
    fn inverse_and_pow() {
        let n = 1_000_000_007u64;
        let m = Mont64::new(n);
        let a = m.residue(123_456_789);
        let i = m.inv(a).unwrap();
        assert_eq!(m.mul(a, i), m.one());
        // Fermat: a^(n-1) = 1.
        assert_eq!(m.pow(a, (n - 1) as u128), m.one());
        let m15 = Mont64::new(15);
        assert_eq!(m15.inv(m15.residue(6)), Err(3));
    }
}
