//! Self-initialising quadratic sieve (SIQS) for composites of about 60 to 130 bits, the ones
//! with two large factors where ECM needs many curves.
//!
//! For `kN` (`k` the Knuth-Schroeppel multiplier) it collects relations
//! `(a x + b)^2 = a Q(x) (mod N)` whose right side factors over the factor base (full) or
//! with one extra prime below a bound (partial; two partials with the same prime combine
//! into a full one), until there are more relations than primes; then a GF(2) dependency gives
//! `X^2 = Y^2 (mod N)` and `gcd(X - Y, N)` is a factor with probability 1/2 or better.
//!
//! Everything fits native integers: `|Q(x)| < 2^90` and `a x + b < 2^80` for these sizes,
//! and `c = (b^2 - kN) / a` is computed modulo 2^128 (see [`poly`]).

mod fb;
mod linalg;
mod params;
mod poly;
mod sieve;

use std::collections::{HashMap, HashSet};

use super::arith::gcd128;
use super::mont128::Mont128;
use super::monty::Monty;

/// A relation `x^2 = (-1)^neg * prod(fb primes in factors) * large (mod N)`; for a combined
/// pair of partials, the product holds `large^2` and `large` goes into the square root.
#[derive(Clone, Debug)]
pub(super) struct Relation {
    /// `|a x + b| mod N` (or the product of two, for a combined pair).
    pub x: u128,
    /// Factor-base indices, with multiplicity.
    pub factors: Vec<u32>,
    pub neg: bool,
    /// 1, or the large prime.
    pub large: u64,
}

/// Relations beyond the factor-base size, for enough independent dependencies.
const EXTRA: usize = 24;
/// Primes below this are not sieved (their contribution is folded into the threshold).
const SMALL_PRIME: u32 = 40;
/// Give up (the caller falls back to ECM) after this many `a` values.
const MAX_A: usize = 5000;

/// A proper factor of the odd composite `n` (not a perfect power), or `None` if the sieve
/// gave up (too few relations after [`MAX_A`] polynomials, or no dependency split `n`).
pub(crate) fn factor(n: u128) -> Option<u128> {
    let mut sieve = match Sieve::new(n) {
        Ok(s) => s,
        Err(f) => return Some(f),
    };
    let mut need = sieve.fb.len() + EXTRA;
    for _ in 0..MAX_RETRIES {
        if !sieve.collect(need) {
            return None;
        }
        if let Some(f) = finish(n, &sieve.fb, &sieve.rels) {
            return Some(f);
        }
        // Every dependency gave a trivial split (probability about 2^-deps): more relations
        // give new dependencies.
        need += EXTRA;
    }
    None
}

/// Square-root attempts before giving up.
const MAX_RETRIES: usize = 4;

/// The sieve state for one `n`: factor base, parameters, and the relations so far.
struct Sieve {
    n: u128,
    kn_lo: u128,
    fb: fb::FactorBase,
    m: usize,
    first: usize,
    lp_bound: u64,
    init: u8,
    sel: poly::ASelector,
    a_used: usize,
    rels: Vec<Relation>,
    partials: HashMap<u64, Relation>,
    /// The same relation can come from several polynomials (`a x + b` takes the same value):
    /// duplicates would give trivial dependencies.
    seen: HashSet<u128>,
}

impl Sieve {
    /// Chooses the multiplier and parameters and builds the factor base; `Err(p)` if a
    /// factor-base prime `p` divides `n`.
    fn new(n: u128) -> Result<Sieve, u128> {
        let k = params::choose_multiplier(n);
        let kn_f = n as f64 * k as f64;
        let bits = kn_f.log2().ceil() as u32;
        let prm = params::params(bits);
        let fb = match fb::build(n, k, prm.fb_size) {
            fb::Built::Factor(f) => return Err(f),
            fb::Built::Base(fb) => fb,
        };
        let m = prm.m;
        let first = fb.primes.partition_point(|&p| p < SMALL_PRIME).max(1);
        let lp_bound = fb.pmax() as u64 * prm.lp_mult;
        let target_a = (2.0 * kn_f).sqrt() / m as f64;
        // |Q(x)| reaches about M sqrt(kN / 2) at the ends of the interval.
        let qmax_bits = (m as f64 * (kn_f / 2.0).sqrt()).log2();
        let thresh = (qmax_bits - prm.slack).max(8.0);
        let init = (128.0 - thresh).round().clamp(1.0, 127.0) as u8;
        let sel = poly::ASelector::new(&fb, target_a, first, n as u64 ^ (n >> 64) as u64);
        Ok(Sieve {
            n,
            kn_lo: n.wrapping_mul(k as u128),
            fb,
            m,
            first,
            lp_bound,
            init,
            sel,
            a_used: 0,
            rels: Vec::new(),
            partials: HashMap::new(),
            seen: HashSet::new(),
        })
    }

    /// Sieves polynomials until there are `need` relations (finishing the current `a`'s
    /// polynomials is not required). `false` if no more polynomials are available.
    fn collect(&mut self, need: usize) -> bool {
        let mut arr = vec![0u8; 2 * self.m];
        let mut cands = Vec::new();
        let mut factors = Vec::new();
        let mut found = Vec::new();
        while self.rels.len() < need {
            if self.a_used == MAX_A {
                return false;
            }
            self.a_used += 1;
            let Some(qidx) = self.sel.next(&self.fb) else {
                return false;
            };
            let pa = poly::PolyA::new(&self.fb, qidx);
            let mut pb = pa.first(&self.fb, self.kn_lo, self.m);
            let count = pa.count();
            for i in 1..=count {
                sieve::sieve(&self.fb, &pb, self.first, self.init, &mut arr);
                sieve::scan(&arr, &mut cands);
                if !cands.is_empty() {
                    let mut div =
                        sieve::Divider::new(&self.fb, &pa, &pb, self.n, self.m, self.lp_bound);
                    found.extend(cands.iter().filter_map(|&c| div.relation(c, &mut factors)));
                }
                for r in found.drain(..) {
                    self.add(r);
                }
                if self.rels.len() >= need {
                    return true;
                }
                if i < count {
                    pa.next(&self.fb, &mut pb, i, self.kn_lo);
                }
            }
        }
        true
    }

    /// Keeps a new relation: full ones directly, partials paired by their large prime.
    fn add(&mut self, r: Relation) {
        if !self.seen.insert(r.x) {
            return;
        }
        if r.large == 1 {
            self.rels.push(r);
        } else if let Some(other) = self.partials.get(&r.large) {
            self.rels.push(combine(self.n, other, &r));
        } else {
            self.partials.insert(r.large, r);
        }
    }
}

/// Two partial relations with the same large prime `L` make a full one: the product holds
/// `L^2`, whose root `L` joins `Y`.
fn combine(n: u128, r1: &Relation, r2: &Relation) -> Relation {
    let mut factors = r1.factors.clone();
    factors.extend_from_slice(&r2.factors);
    Relation {
        x: super::arith::mulmod128_slow(r1.x, r2.x, n),
        factors,
        neg: r1.neg ^ r2.neg,
        large: r1.large,
    }
}

/// Linear algebra and square roots: a proper factor from the first dependency that splits.
fn finish(n: u128, fb: &fb::FactorBase, rels: &[Relation]) -> Option<u128> {
    let mut rows: Vec<Vec<u32>> = Vec::with_capacity(rels.len());
    let mut parity = vec![0u8; fb.len()];
    for r in rels {
        parity.fill(0);
        for &f in &r.factors {
            parity[f as usize] ^= 1;
        }
        let mut cols: Vec<u32> = Vec::new();
        if r.neg {
            cols.push(0);
        }
        cols.extend(
            parity
                .iter()
                .enumerate()
                .filter(|(_, v)| **v == 1)
                .map(|(i, _)| i as u32 + 1),
        );
        rows.push(cols);
    }
    let deps = linalg::dependencies(&rows, fb.len() + 1, 64);
    let mm = Mont128::new(n);
    let mut counts = vec![0u32; fb.len()];
    for dep in deps {
        let mut xm = mm.one();
        let mut ym = mm.one();
        counts.fill(0);
        for &ri in &dep {
            let r = &rels[ri];
            xm = mm.mul(xm, mm.residue(r.x));
            if r.large != 1 {
                ym = mm.mul(ym, mm.residue(r.large as u128));
            }
            for &f in &r.factors {
                counts[f as usize] += 1;
            }
        }
        for (i, &c) in counts.iter().enumerate() {
            debug_assert!(c % 2 == 0);
            if c >= 2 {
                let pm = mm.residue(fb.primes[i] as u128);
                ym = mm.mul(ym, mm.pow(pm, (c / 2) as u128));
            }
        }
        let (x, y) = (mm.value_of(xm), mm.value_of(ym));
        for d in [
            x.wrapping_sub(y).wrapping_add(if x < y { n } else { 0 }),
            add_mod(x, y, n),
        ] {
            let g = gcd128(d, n);
            if g != 1 && g != n {
                return Some(g);
            }
        }
    }
    None
}

/// Whether `x^2 = sign * prod * large^(1 or 2)` holds mod `n`.
#[cfg(test)]
fn check_relation(mm: &Mont128, fb: &fb::FactorBase, r: &Relation) -> bool {
    let x = mm.residue(r.x);
    let lhs = mm.sqr(x);
    let mut rhs = mm.one();
    for &f in &r.factors {
        rhs = mm.mul(rhs, mm.residue(fb.primes[f as usize] as u128));
    }
    if r.neg {
        rhs = mm.neg(rhs);
    }
    let l = mm.residue(r.large as u128);
    lhs == mm.mul(rhs, l) || lhs == mm.mul(rhs, mm.sqr(l))
}

fn add_mod(a: u128, b: u128, n: u128) -> u128 {
    let (s, c) = a.overflowing_add(b);
    if c || s >= n { s.wrapping_sub(n) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_hold() {
        let n = 877477028911442269u128 * 723129352390467679;
        let mut s = Sieve::new(n).expect("no small factor");
        assert!(s.collect(s.fb.len() + EXTRA));
        let mm = Mont128::new(n);
        assert!(s.rels.len() >= s.fb.len() + EXTRA);
        for r in s.rels.iter().chain(s.partials.values()) {
            assert!(check_relation(&mm, &s.fb, r), "{r:?}");
        }
    }

    #[test]
    fn splits_semiprimes_of_several_sizes() {
        let cases: [(u128, u128); 5] = [
            (1_000_000_007, 998_244_353),
            (804948253099, 897691841113),
            (240699839850839, 262273760246401),
            (877477028911442269, 723129352390467679),
            (12296099661005056177, 13018128892235147341),
        ];
        for (p, q) in cases {
            let n = p * q;
            let f = factor(n).unwrap_or_else(|| panic!("SIQS failed on {p} * {q}"));
            assert!(f == p || f == q, "{n}: got {f}");
        }
    }
}
