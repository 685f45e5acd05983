//! Self-initialising polynomials `Q(x) = a x^2 + 2 b x + c` with `(a x + b)^2 - kN = a Q(x)`.
//!
//! `a` is a product of `s` factor-base primes `q_j` close to `sqrt(2 kN) / M`; for it there are
//! `2^(s-1)` values of `b` with `b^2 = kN (mod a)`, `b = sum +-B_j`, visited in Gray-code order
//! so that each step changes one sign and every sieve root moves by a precomputed amount.

use std::collections::HashSet;

use super::fb::{FactorBase, fast_mod};
use crate::factor::arith::SplitMix;
use crate::factor::mont128::inverse_u128;

/// Root marker for primes that are not sieved for this `a` (its own factors).
pub(super) const NO_ROOT: u32 = u32::MAX;

/// Everything that depends on `a` only.
#[derive(Debug)]
pub(super) struct PolyA {
    pub a: u128,
    /// Factor-base indices of the primes of `a`.
    pub qidx: Vec<usize>,
    /// `B_j`, with `b = sum +-B_j`.
    pub big_b: Vec<u128>,
    /// `a^-1 mod p` per factor-base prime (0 for the primes of `a`).
    pub ainv: Vec<u32>,
    /// `2 B_j a^-1 mod p`, laid out `[j * fb_len + i]`.
    pub bainv2: Vec<u32>,
}

/// The current polynomial's `b`, `c` and sieve roots (as indices into `[-M, M)` shifted by `M`).
#[derive(Debug)]
pub(super) struct PolyB {
    pub b: i128,
    pub c: i128,
    pub root1: Vec<u32>,
    pub root2: Vec<u32>,
}

/// Picks the primes of `a` and remembers every `a` used, so no polynomial repeats.
#[derive(Debug)]
pub(super) struct ASelector {
    /// Factor-base index window the first `s - 1` primes are drawn from.
    lo: usize,
    hi: usize,
    s: usize,
    target: f64,
    used: HashSet<u128>,
    rng: SplitMix,
}

impl ASelector {
    /// Plans `a ~ target` (`target = sqrt(2 kN) / M`).
    pub(super) fn new(fb: &FactorBase, target: f64, first_sieved: usize, seed: u64) -> ASelector {
        let lt = target.log2();
        // About 11 bits per prime keeps them mid-sized (hundreds to thousands) and gives
        // 2^(s-1) polynomials per a.
        // ... but small enough that the whole window lies inside the factor base.
        let mut s = ((lt / 11.0).round() as usize).clamp(2, 12);
        let cap = fb.primes[fb.len() * 2 / 3] as f64;
        while s < 12 && target.powf(1.0 / s as f64) * 1.6 > cap {
            s += 1;
        }
        let q = target.powf(1.0 / s as f64);
        let lo = fb
            .primes
            .iter()
            .position(|&p| p as f64 >= q / 1.6)
            .unwrap_or(fb.len() / 2)
            .max(first_sieved);
        let hi = fb
            .primes
            .iter()
            .position(|&p| p as f64 > q * 1.6)
            .unwrap_or(fb.len())
            .max(lo + 2 * s + 4)
            .min(fb.len());
        ASelector {
            lo,
            hi,
            s,
            target,
            used: HashSet::new(),
            rng: SplitMix::new(seed),
        }
    }

    /// A fresh `a` (factor-base indices of its primes), or `None` if none can be found.
    pub(super) fn next(&mut self, fb: &FactorBase) -> Option<Vec<usize>> {
        let span = self.hi.saturating_sub(self.lo);
        if span < self.s {
            return None;
        }
        for _ in 0..1000 {
            let mut idx: Vec<usize> = Vec::with_capacity(self.s);
            let mut prod = 1f64;
            while idx.len() + 1 < self.s {
                let i = self.lo + (self.rng.next_u64() % span as u64) as usize;
                if fb.sqrt[i] == 0 || idx.contains(&i) {
                    continue;
                }
                idx.push(i);
                prod *= fb.primes[i] as f64;
            }
            // The last prime brings the product closest to the target.
            let want = self.target / prod;
            let pos = fb.primes.partition_point(|&p| (p as f64) < want);
            let mut best: Option<(f64, usize)> = None;
            for cand in pos.saturating_sub(3)..(pos + 3).min(fb.len()) {
                if cand < self.lo.min(2)
                    || fb.sqrt[cand] == 0
                    || idx.contains(&cand)
                    || fb.primes[cand] < 3
                {
                    continue;
                }
                let err = ((prod * fb.primes[cand] as f64) / self.target).ln().abs();
                if best.is_none_or(|(e, _)| err < e) {
                    best = Some((err, cand));
                }
            }
            let Some((_, last)) = best else { continue };
            idx.push(last);
            idx.sort_unstable();
            let a: u128 = idx.iter().map(|&i| fb.primes[i] as u128).product();
            if self.used.insert(a) {
                return Some(idx);
            }
        }
        None
    }
}

/// `b^e mod p` for `p < 2^16` with the [`fast_mod`] constant `fm`.
fn pow_fast(b: u32, mut e: u32, fm: u64, p: u32) -> u32 {
    let mut r = 1 % p;
    let mut b = b;
    while e > 0 {
        if e & 1 == 1 {
            r = fast_mod(r * b, fm, p);
        }
        b = fast_mod(b * b, fm, p);
        e >>= 1;
    }
    r
}

/// `x^-1 mod p` for `0 < x < p`, `p` prime `< 2^32`.
fn inv_mod_u32(x: u32, p: u32) -> u32 {
    let (mut r0, mut r1) = (p as i64, x as i64);
    let (mut t0, mut t1) = (0i64, 1i64);
    while r1 != 0 {
        let q = r0 / r1;
        (r0, r1) = (r1, r0 - q * r1);
        (t0, t1) = (t1, t0 - q * t1);
    }
    t0.rem_euclid(p as i64) as u32
}

impl PolyA {
    /// Sets up `a` from the primes `qidx`, with `kn_mod_a = kN mod a` known.
    pub(super) fn new(fb: &FactorBase, qidx: Vec<usize>) -> PolyA {
        let a: u128 = qidx.iter().map(|&i| fb.primes[i] as u128).product();
        let mut big_b = Vec::with_capacity(qidx.len());
        for &i in &qidx {
            let q = fb.primes[i];
            let a_q = a / q as u128;
            let g = inv_mod_u32((a_q % q as u128) as u32, q) as u64 * fb.sqrt[i] as u64 % q as u64;
            let g = if g > q as u64 / 2 { q as u64 - g } else { g };
            big_b.push(a_q * g as u128);
        }
        let len = fb.len();
        let s = qidx.len();
        // Per prime p: a mod p and (B_j mod p) from the small factors of a, in u32 (values
        // below 2^15, products below 2^30: 32-bit divisions, no u128 `%`).
        let qs: Vec<u32> = qidx.iter().map(|&i| fb.primes[i]).collect();
        let gammas: Vec<u32> = big_b
            .iter()
            .zip(&qs)
            .map(|(&bj, &q)| (bj / (a / q as u128)) as u32)
            .collect();
        let mut ainv = vec![0u32; len];
        let mut bainv2 = vec![0u32; s * len];
        let mut rest = [0u32; 16]; // (a / q_j) mod p
        let mut qm = [0u32; 16];
        for i in 1..len {
            if qidx.contains(&i) {
                continue;
            }
            let p = fb.primes[i];
            let fm = fb.fastmod[i];
            let md = |x: u32| fast_mod(x, fm, p);
            for (m, &q) in qm.iter_mut().zip(&qs) {
                *m = md(q);
            }
            // (a / q_j) mod p as prefix * suffix products; a mod p on the way.
            let mut prefix = 1u32;
            for j in 0..s {
                rest[j] = prefix;
                prefix = md(prefix * qm[j]);
            }
            let a_mod = prefix;
            let mut suffix = 1u32;
            for j in (0..s).rev() {
                rest[j] = md(rest[j] * suffix);
                suffix = md(suffix * qm[j]);
            }
            // a^-1 = a^(p-2) (Fermat): multiplications only, no division chain.
            let ai = pow_fast(a_mod, p - 2, fm, p);
            ainv[i] = ai;
            let ai2 = md(2 * ai);
            for j in 0..s {
                let bj = md(rest[j] * md(gammas[j]));
                bainv2[j * len + i] = md(bj * ai2);
            }
        }
        PolyA {
            a,
            qidx,
            big_b,
            ainv,
            bainv2,
        }
    }

    /// The first polynomial (`b = sum B_j`) for `kN` given as `kn_lo = kN mod 2^128` and
    /// residues of `kN` per prime via `fb`; `m` is the sieve half-width.
    pub(super) fn first(&self, fb: &FactorBase, kn_lo: u128, m: usize) -> PolyB {
        let b: i128 = self.big_b.iter().sum::<u128>() as i128;
        let mut pb = PolyB {
            b,
            c: 0,
            root1: vec![NO_ROOT; fb.len()],
            root2: vec![NO_ROOT; fb.len()],
        };
        pb.c = c_of(self.a, b, kn_lo);
        for i in 1..fb.len() {
            if self.qidx.contains(&i) {
                continue;
            }
            let p = fb.primes[i] as i64;
            let bm = (b % p as i128) as i64;
            let t = fb.sqrt[i] as i64;
            let ai = self.ainv[i] as i64;
            let mm = (m as i64) % p;
            let r1 = (ai * (t - bm).rem_euclid(p) % p + mm) % p;
            let r2 = (ai * (-t - bm).rem_euclid(p) % p + mm) % p;
            pb.root1[i] = r1 as u32;
            pb.root2[i] = r2 as u32;
        }
        pb
    }

    /// Moves `pb` from polynomial number `i` (1-based) to number `i + 1` in Gray-code order.
    pub(super) fn next(&self, fb: &FactorBase, pb: &mut PolyB, i: usize, kn_lo: u128) {
        let v = i.trailing_zeros() as usize;
        let plus = (i >> v) & 3 == 3; // sign of the change of b
        let delta = 2 * self.big_b[v] as i128;
        pb.b = if plus { pb.b + delta } else { pb.b - delta };
        pb.c = c_of(self.a, pb.b, kn_lo);
        let len = fb.len();
        let row = &self.bainv2[v * len..(v + 1) * len];
        // b grows by 2 B_v: roots move by -2 B_v a^-1; b shrinks: by +2 B_v a^-1.
        let roots = pb.root1[1..].iter_mut().zip(pb.root2[1..].iter_mut());
        for ((r1, r2), (&d, &p)) in roots.zip(row[1..].iter().zip(&fb.primes[1..])) {
            if *r1 == NO_ROOT {
                continue;
            }
            if plus {
                *r1 = if *r1 >= d { *r1 - d } else { *r1 + p - d };
                *r2 = if *r2 >= d { *r2 - d } else { *r2 + p - d };
            } else {
                let (s1, s2) = (*r1 + d, *r2 + d);
                *r1 = if s1 >= p { s1 - p } else { s1 };
                *r2 = if s2 >= p { s2 - p } else { s2 };
            }
        }
    }

    /// Number of `b` values for this `a`.
    pub(super) fn count(&self) -> usize {
        1 << (self.qidx.len() - 1)
    }
}

/// `c = (b^2 - kN) / a`, exact: computed modulo 2^128 by multiplying with `a^-1` (a is odd),
/// which is exact because `|c| < 2^127`.
fn c_of(a: u128, b: i128, kn_lo: u128) -> i128 {
    let b2 = (b.unsigned_abs()).wrapping_mul(b.unsigned_abs());
    b2.wrapping_sub(kn_lo).wrapping_mul(inverse_u128(a)) as i128
}
