//! Sieving one polynomial over `[-M, M)`, scanning for candidates, and trial-dividing them.

use super::fb::FactorBase;
use super::poly::{NO_ROOT, PolyA, PolyB};

/// A relation: `x^2 = sign * prod(primes) * large^2-or-large (mod N)`, see [`super::Relation`].
pub(super) use super::Relation;

/// Adds `log2 p` at every root of every sieved prime. `arr` starts at `init` everywhere, so a
/// byte reaching 128 (top bit set) marks a candidate.
pub(super) fn sieve(fb: &FactorBase, pb: &PolyB, first: usize, init: u8, arr: &mut [u8]) {
    arr.fill(init);
    let len = arr.len();
    for idx in first..fb.len() {
        let r1 = pb.root1[idx];
        if r1 == NO_ROOT {
            continue;
        }
        let p = fb.primes[idx] as usize;
        let lg = fb.logp[idx];
        let r2 = pb.root2[idx] as usize;
        let r1 = r1 as usize;
        if r1 < len {
            for v in arr[r1..].iter_mut().step_by(p) {
                *v = v.wrapping_add(lg);
            }
        }
        if r2 != r1 && r2 < len {
            for v in arr[r2..].iter_mut().step_by(p) {
                *v = v.wrapping_add(lg);
            }
        }
    }
}

/// Indices whose sieve byte has its top bit set.
pub(super) fn scan(arr: &[u8], out: &mut Vec<u32>) {
    out.clear();
    for (w, chunk) in arr.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let mut hits = word & 0x8080_8080_8080_8080;
        while hits != 0 {
            let b = hits.trailing_zeros() / 8;
            out.push((w * 8) as u32 + b);
            hits &= hits - 1;
        }
    }
}

/// Context for trial division of candidates of one polynomial.
pub(super) struct Divider<'a> {
    pub fb: &'a FactorBase,
    pub pa: &'a PolyA,
    pub pb: &'a PolyB,
    pub n: u128,
    pub m: usize,
    /// Largest cofactor kept as a large prime.
    pub lp_bound: u64,
}

impl Divider<'_> {
    /// Factors `Q(x)` for the sieve index `i` over the factor base; a full relation, a partial
    /// one (one large prime below the bound), or `None`.
    pub(super) fn relation(&self, i: u32, factors: &mut Vec<u32>) -> Option<Relation> {
        let (fb, pa, pb) = (self.fb, self.pa, self.pb);
        let x = i as i64 - self.m as i64;
        let x128 = x as i128;
        let a = pa.a as i128;
        let qv = a * x128 * x128 + 2 * pb.b * x128 + pb.c;
        if qv == 0 {
            return None;
        }
        let neg = qv < 0;
        let mut q = qv.unsigned_abs();
        factors.clear();
        factors.extend(pa.qidx.iter().map(|&j| j as u32));
        let tz = q.trailing_zeros();
        q >>= tz;
        for _ in 0..tz {
            factors.push(0);
        }
        let iu = i as u64;
        for idx in 1..fb.len() {
            let r1 = pb.root1[idx];
            let divides = if r1 == NO_ROOT {
                true // a prime of a: test directly
            } else {
                let p = fb.primes[idx] as u64;
                let r = (iu - ((iu * fb.recip[idx] as u64) >> 32) * p) as u32;
                r == r1 || r == pb.root2[idx]
            };
            if divides {
                let (inv, lim) = fb.inv[idx];
                loop {
                    let t = q.wrapping_mul(inv);
                    if t > lim {
                        break;
                    }
                    q = t;
                    factors.push(idx as u32);
                }
            }
        }
        let large = if q == 1 {
            1
        } else if q <= self.lp_bound as u128 {
            q as u64
        } else {
            return None;
        };
        let xv = (a * x128 + pb.b).unsigned_abs() % self.n;
        Some(Relation {
            x: xv,
            factors: factors.clone(),
            neg,
            large,
        })
    }
}
