//! Montgomery arithmetic modulo an odd u128 (`R = 2^128`, two 64-bit limbs), REDC with the
//! positive inverse: `m = T_lo * n^-1 mod R`, result `T_hi - hi(m*n)` (+ n on borrow).

use super::arith::{gcd128, inverse_mod, mul_wide, mulmod128_slow};
use super::monty::Monty;

/// `n^-1 mod 2^128` for odd `n`.
#[inline]
pub(crate) const fn inverse_u128(n: u128) -> u128 {
    let mut x = n.wrapping_mul(3) ^ 2; // 5 bits
    let mut i = 0;
    while i < 5 {
        x = x.wrapping_mul(2u128.wrapping_sub(n.wrapping_mul(x)));
        i += 1;
    }
    x
}

/// Full square of a u128 as (low, high): 3 limb products.
#[inline(always)]
fn sqr_wide(a: u128) -> (u128, u128) {
    let (a0, a1) = (a as u64 as u128, a >> 64);
    let p00 = a0 * a0;
    let p01 = a0 * a1;
    let p11 = a1 * a1;
    let mid = (p00 >> 64) + ((p01 as u64 as u128) << 1);
    let lo = (p00 as u64 as u128) | (mid << 64);
    let hi = p11 + ((p01 >> 64) << 1) + (mid >> 64);
    (lo, hi)
}

/// High half of the 128x128 product.
#[inline(always)]
fn mul_hi(a: u128, b: u128) -> u128 {
    mul_wide(a, b).1
}

/// Arithmetic modulo an odd `n > 1` (any size up to `2^128 - 1`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mont128 {
    n: u128,
    ninv: u128,
    one: u128,
    r2: u128,
}

impl Mont128 {
    /// Set up arithmetic modulo `n` (odd, `> 1`).
    pub(crate) fn new(n: u128) -> Self {
        debug_assert!(n & 1 == 1 && n > 1);
        let ninv = inverse_u128(n);
        let one = n.wrapping_neg() % n;
        let r2 = mulmod128_slow(one, one, n);
        Mont128 { n, ninv, one, r2 }
    }

    #[inline(always)]
    fn redc(&self, lo: u128, hi: u128) -> u128 {
        let m = lo.wrapping_mul(self.ninv);
        let mn_hi = mul_hi(m, self.n);
        let (r, borrow) = hi.overflowing_sub(mn_hi);
        if borrow { r.wrapping_add(self.n) } else { r }
    }
}

impl Monty for Mont128 {
    type R = u128;

    #[inline(always)]
    fn modulus(&self) -> u128 {
        self.n
    }
    #[inline(always)]
    fn zero(&self) -> u128 {
        0
    }
    #[inline(always)]
    fn one(&self) -> u128 {
        self.one
    }
    #[inline(always)]
    fn residue(&self, x: u128) -> u128 {
        self.mul(x % self.n, self.r2)
    }
    #[inline(always)]
    fn value_of(&self, a: u128) -> u128 {
        self.redc(a, 0)
    }
    #[inline(always)]
    fn mul(&self, a: u128, b: u128) -> u128 {
        let (lo, hi) = mul_wide(a, b);
        self.redc(lo, hi)
    }
    #[inline(always)]
    fn sqr(&self, a: u128) -> u128 {
        let (lo, hi) = sqr_wide(a);
        self.redc(lo, hi)
    }
    #[inline(always)]
    fn add(&self, a: u128, b: u128) -> u128 {
        let (s, c) = a.overflowing_add(b);
        if c || s >= self.n {
            s.wrapping_sub(self.n)
        } else {
            s
        }
    }
    #[inline(always)]
    fn sub(&self, a: u128, b: u128) -> u128 {
        let (d, b) = a.overflowing_sub(b);
        if b { d.wrapping_add(self.n) } else { d }
    }
    #[inline(always)]
    fn half(&self, a: u128) -> u128 {
        if a & 1 == 0 {
            a >> 1
        } else {
            (a >> 1) + (self.n >> 1) + 1
        }
    }
    #[inline(always)]
    fn gcd_n(&self, a: u128) -> u128 {
        gcd128(a, self.n)
    }
    fn inv(&self, a: u128) -> Result<u128, u128> {
        let plain = self.redc(a, 0);
        let i = inverse_mod(plain, self.n)?;
        Ok(self.mul(i, self.r2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_slow_arithmetic() {
        let ns = [
            3u128,
            (1u128 << 89) - 1,
            (1u128 << 127) - 1,
            u128::MAX,
            u128::MAX - 158,
            (1u128 << 64) + 13,
            0x8000_0000_0000_0000_0000_0000_0000_0001,
        ];
        for n in ns {
            let m = Mont128::new(n);
            assert_eq!(inverse_u128(n).wrapping_mul(n), 1);
            let vals = [
                0u128,
                1,
                2,
                n - 1,
                n / 2,
                n / 3 + 7,
                u64::MAX as u128,
                0xdead_beef_1234_5678_9abc_def0_1111,
            ];
            for &a in &vals {
                for &b in &vals {
                    let (a, b) = (a % n, b % n);
                    let (am, bm) = (m.residue(a), m.residue(b));
                    assert_eq!(
                        m.value_of(m.mul(am, bm)),
                        mulmod128_slow(a, b, n),
                        "n={n} a={a} b={b}"
                    );
                    assert_eq!(m.value_of(m.sqr(am)), mulmod128_slow(a, a, n));
                    assert_eq!(m.value_of(m.add(am, bm)), add_slow(a, b, n));
                    assert_eq!(m.value_of(m.sub(am, bm)), add_slow(a, n - b, n));
                }
                let a = a % n;
                assert_eq!(
                    m.value_of(m.half(m.residue(a))),
                    mulmod128_slow(a, n / 2 + 1, n)
                );
            }
        }
    }

    fn add_slow(a: u128, b: u128, n: u128) -> u128 {
        let (s, c) = a.overflowing_add(b);
        if c || s >= n { s.wrapping_sub(n) } else { s }
    }

    #[test]
    fn fermat_on_mersenne_prime() {
        let n = (1u128 << 127) - 1;
        let m = Mont128::new(n);
        let a = m.residue(3);
        assert_eq!(m.pow(a, n - 1), m.one());
        let i = m.inv(a).unwrap();
        assert_eq!(m.mul(a, i), m.one());
    }
}
