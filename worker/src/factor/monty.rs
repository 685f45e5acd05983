//! The arithmetic interface the generic algorithms (rho, ECM, Lucas) are written against,
//! implemented by [`Mont64`](super::mont64::Mont64) and [`Mont128`](super::mont128::Mont128).

/// Arithmetic modulo an odd `n > 1` on residues in Montgomery form (`x` stored as `x*R mod n`).
/// All residues are fully reduced (`< n`), so equality of residues is equality mod `n`.
pub(crate) trait Monty: Copy {
    /// A residue in Montgomery form.
    type R: Copy + Eq + core::fmt::Debug;

    /// The modulus.
    fn modulus(&self) -> u128;
    /// `0`.
    fn zero(&self) -> Self::R;
    /// `1` (that is, `R mod n`).
    fn one(&self) -> Self::R;
    /// `x mod n`, into Montgomery form.
    fn residue(&self, x: u128) -> Self::R;
    /// Out of Montgomery form: the plain residue in `0..n`.
    fn value_of(&self, a: Self::R) -> u128;
    /// `a * b`.
    fn mul(&self, a: Self::R, b: Self::R) -> Self::R;
    /// `a * a`.
    fn sqr(&self, a: Self::R) -> Self::R;
    /// `a + b`.
    fn add(&self, a: Self::R, b: Self::R) -> Self::R;
    /// `a - b`.
    fn sub(&self, a: Self::R, b: Self::R) -> Self::R;
    /// `a / 2`.
    fn half(&self, a: Self::R) -> Self::R;
    /// `gcd(a, n)` (the same whether `a` is read in Montgomery form or not).
    fn gcd_n(&self, a: Self::R) -> u128;
    /// `a^-1`, or `Err(gcd(a, n))` when `a` is not invertible.
    fn inv(&self, a: Self::R) -> Result<Self::R, u128>;

    /// `-a`.
    #[inline]
    fn neg(&self, a: Self::R) -> Self::R {
        self.sub(self.zero(), a)
    }

    /// Small signed constant in Montgomery form.
    #[inline]
    fn residue_i64(&self, x: i64) -> Self::R {
        let m = self.residue(x.unsigned_abs() as u128);
        if x < 0 { self.neg(m) } else { m }
    }

    /// `a^e` by left-to-right square and multiply.
    fn pow(&self, a: Self::R, e: u128) -> Self::R {
        if e == 0 {
            return self.one();
        }
        let mut r = a;
        for i in (0..(127 - e.leading_zeros())).rev() {
            r = self.sqr(r);
            if (e >> i) & 1 == 1 {
                r = self.mul(r, a);
            }
        }
        r
    }
}
