//! Sieving one polynomial over `[-M, M)`, scanning for candidates, and trial-dividing them.

use super::fb::FactorBase;
use super::poly::{NO_ROOT, PolyA, PolyB};

/// A relation: `x^2 = sign * prod(primes) * large^2-or-large (mod N)`, see [`super::Relation`].
pub(super) use super::Relation;

/// Adds `log2 p` at every root of every sieved prime. `arr` starts at `init` everywhere, so a
/// byte reaching 128 (top bit set) marks a candidate.
#[inline(never)]
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
        let (lo, hi) = if r1 <= r2 { (r1, r2) } else { (r2, r1) };
        if lo >= len {
            continue;
        }
        let diff = hi - lo;
        if diff == 0 {
            for v in arr[lo..].iter_mut().step_by(p) {
                *v = v.wrapping_add(lg);
            }
            continue;
        }
        // Both roots in one pass: each chunk of p bytes holds one hit of each root.
        for chunk in arr[lo..].chunks_mut(p) {
            chunk[0] = chunk[0].wrapping_add(lg);
            if let Some(v) = chunk.get_mut(diff) {
                *v = v.wrapping_add(lg);
            }
        }
    }
}

/// Indices whose sieve byte has its top bit set (blocks of 64 bytes are OR-ed first: hits
/// are rare).
#[inline(never)]
pub(super) fn scan(arr: &[u8], out: &mut Vec<u32>) {
    out.clear();
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
    for (b, block) in arr.chunks(64).enumerate() {
        let any = block.chunks_exact(8).fold(0u64, |acc, c| acc | word(c));
        let tail = block.chunks_exact(8).remainder();
        if any & HIGH == 0 && tail.iter().all(|&v| v < 128) {
            continue;
        }
        for (i, &v) in block.iter().enumerate() {
            if v >= 128 {
                out.push((b * 64 + i) as u32);
            }
        }
    }
}

/// Context for trial division of candidates of one polynomial.
pub(super) struct Divider<'a> {
    fb: &'a FactorBase,
    pa: &'a PolyA,
    pb: &'a PolyB,
    n: u128,
    m: usize,
    /// Largest cofactor kept as a large prime.
    lp_bound: u64,
    /// The roots as f32 (-1 for primes of `a`, which never match).
    r1: Vec<f32>,
    r2: Vec<f32>,
    /// Per prime: whether it divides the current candidate's `Q(x)`.
    hits: Vec<u8>,
}

impl<'a> Divider<'a> {
    pub(super) fn new(
        fb: &'a FactorBase,
        pa: &'a PolyA,
        pb: &'a PolyB,
        n: u128,
        m: usize,
        lp_bound: u64,
    ) -> Divider<'a> {
        debug_assert!(2 * m <= 1 << 15 && fb.pmax() < 1 << 15);
        let conv = |r: &u32| if *r == NO_ROOT { -1.0 } else { *r as f32 };
        Divider {
            fb,
            pa,
            pb,
            n,
            m,
            lp_bound,
            r1: pb.root1.iter().map(conv).collect(),
            r2: pb.root2.iter().map(conv).collect(),
            hits: vec![0; fb.len().next_multiple_of(8)],
        }
    }

    /// Marks the primes with `i = root (mod p)`. In f32 so the loop vectorises with plain SSE2:
    /// `q = round(i / p)` (rounded by adding and subtracting 2^23) is off by at most one
    /// (`i, p < 2^15`), corrected both ways, and all values are small integers, exact in f32.
    fn mark(&mut self, i: u32) {
        let x = i as f32;
        let fb = self.fb;
        let it = fb.pf.iter().zip(&fb.invf).zip(self.r1.iter().zip(&self.r2));
        for (h, ((&p, &inv), (&r1, &r2))) in self.hits.iter_mut().zip(it) {
            const ROUND: f32 = 8_388_608.0; // 2^23
            let q = (x * inv + ROUND) - ROUND;
            let mut r = x - q * p;
            r = if r < 0.0 { r + p } else { r };
            r = if r >= p { r - p } else { r };
            *h = ((r == r1) | (r == r2)) as u8;
        }
    }

    /// Factors `Q(x)` for the sieve index `i` over the factor base; a full relation, a partial
    /// one (one large prime below the bound), or `None`.
    pub(super) fn relation(&mut self, i: u32, factors: &mut Vec<u32>) -> Option<Relation> {
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
        let mut divide = |idx: usize, q: &mut u128| {
            let (inv, lim) = fb.inv[idx];
            loop {
                let t = q.wrapping_mul(inv);
                if t > lim {
                    break;
                }
                *q = t;
                factors.push(idx as u32);
            }
        };
        // The primes of a: tested directly (their roots are not defined).
        for &j in &pa.qidx {
            divide(j, &mut q);
        }
        self.mark(i);
        self.hits[0] = 0; // 2 is done
        for (w, chunk) in self.hits.chunks_exact(8).enumerate() {
            let mut word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            while word != 0 {
                let idx = w * 8 + (word.trailing_zeros() / 8) as usize;
                word &= word - 1;
                divide(idx, &mut q);
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
