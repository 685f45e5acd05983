//! Lenstra's elliptic curve method on Montgomery curves `B y^2 = x^3 + A x^2 + x`, x-only
//! projective arithmetic (`X : Z`), generic over the [`Monty`] arithmetic (u64 and u128).
//!
//! - Curves: Suyama's parametrisation from a random `sigma` (group order divisible by 12); one
//!   modular inversion per curve normalises the start point to `Z = 1`, so the stage-1 ladder's
//!   differential additions cost 3M + 2S. A failed inversion is itself a factor.
//! - Stage 1: a Montgomery ladder over `k = prod p^floor(log_p B1)` (precomputed per `B1`).
//! - Stage 2: baby-step giant-step continuation up to `B2`: each prime `q = m*D +- j` is
//!   covered by one cross product `X_G Z_j - X_j Z_G = (X_G - X_j)(Z_G + Z_j) - X_G Z_G + X_j Z_j`
//!   (2 multiplications with `X_j Z_j` precomputed), primes `m*D + j` and `m*D - j` sharing it.
//! - One gcd per curve, of the product of everything with `n`.

use std::sync::OnceLock;

use super::arith::SplitMix;
use super::monty::Monty;

/// The stage-1 multiplier and stage-2 schedule for one `(B1, B2)`.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Stage-1 multiplier, little-endian 64-bit words.
    k: Vec<u64>,
    /// Giant-step modulus.
    d: u32,
    /// Baby steps: the `j < d/2` coprime to `d`.
    babies: Vec<u32>,
    /// First giant step index `m`.
    m_first: u32,
    /// Per giant step `m_first + i`, a bit mask over `babies` of the pairs to accumulate.
    masks: Vec<u64>,
}

/// Search levels: `(B1, B2)`.
pub(crate) const LEVELS: [(u32, u32); 14] = [
    (27, 405),
    (47, 705),
    (70, 1050),
    (85, 1275),
    (125, 3125),
    (165, 4125),
    (205, 5125),
    (300, 15_000),
    (500, 25_000),
    (1000, 50_000),
    (2000, 100_000),
    (3000, 150_000),
    (6000, 300_000),
    (11_000, 550_000),
];

static PLANS: [OnceLock<Plan>; LEVELS.len()] = [const { OnceLock::new() }; LEVELS.len()];

/// The plan for `LEVELS[level]`, built on first use.
pub(crate) fn plan(level: usize) -> &'static Plan {
    PLANS[level].get_or_init(|| {
        let (b1, b2) = LEVELS[level];
        Plan::new(b1, b2)
    })
}

const D210_MIN_B2: u32 = 3000;

fn primes_upto(n: u32) -> Vec<u32> {
    let n = n as usize;
    let mut composite = vec![false; n + 1];
    let mut out = Vec::new();
    for i in 2..=n {
        if !composite[i] {
            out.push(i as u32);
            let mut j = i * i;
            while j <= n {
                composite[j] = true;
                j += i;
            }
        }
    }
    out
}

fn gcd32(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Plan {
    fn new(b1: u32, b2: u32) -> Plan {
        let primes = primes_upto(b2);
        // k = prod of the largest power of each prime p <= B1 that is <= B1.
        let mut k: Vec<u64> = vec![1];
        for &p in primes.iter().take_while(|&&p| p <= b1) {
            let mut pe = p as u64;
            while pe * p as u64 <= b1 as u64 {
                pe *= p as u64;
            }
            let mut carry: u128 = 0;
            for w in k.iter_mut() {
                let t = *w as u128 * pe as u128 + carry;
                *w = t as u64;
                carry = t >> 64;
            }
            if carry != 0 {
                k.push(carry as u64);
            }
        }
        // Giant-step modulus: large enough to pair primes well, small enough that the baby
        // steps do not dominate, and at most 2 * B1 so every prime above B1 has m >= 1.
        let d = if b2 >= D210_MIN_B2 && b1 >= 105 {
            210
        } else if b1 >= 30 {
            60
        } else {
            30
        };
        let babies: Vec<u32> = (1..d / 2).filter(|&j| gcd32(j, d) == 1).collect();
        debug_assert!(babies.len() <= 64);
        let mut index = vec![usize::MAX; d as usize / 2 + 1];
        for (i, &j) in babies.iter().enumerate() {
            index[j as usize] = i;
        }
        let stage2: Vec<u32> = primes.into_iter().filter(|&q| q > b1).collect();
        let m_of = |q: u32| (q + d / 2) / d; // nearest multiple of d
        let m_first = stage2.first().map_or(1, |&q| m_of(q)).max(1);
        let m_last = stage2.last().map_or(m_first, |&q| m_of(q));
        let mut masks = vec![0u64; (m_last - m_first + 1) as usize];
        for q in stage2 {
            let m = m_of(q);
            let j = (q as i64 - (m * d) as i64).unsigned_abs() as usize;
            if m >= m_first && index[j] != usize::MAX {
                masks[(m - m_first) as usize] |= 1 << index[j];
            }
        }
        Plan {
            k,
            d,
            babies,
            m_first,
            masks,
        }
    }
}

/// A projective x-only point.
#[derive(Clone, Copy, Debug)]
struct Pt<R> {
    x: R,
    z: R,
}

/// `2P`.
#[inline(always)]
fn dbl<M: Monty>(m: &M, p: Pt<M::R>, a24: M::R) -> Pt<M::R> {
    let s = m.add(p.x, p.z);
    let d = m.sub(p.x, p.z);
    let t1 = m.sqr(s);
    let t2 = m.sqr(d);
    let t3 = m.sub(t1, t2);
    Pt {
        x: m.mul(t1, t2),
        z: m.mul(t3, m.add(t2, m.mul(a24, t3))),
    }
}

/// `P + Q` given `P - Q`.
#[inline(always)]
fn dadd<M: Monty>(m: &M, p: Pt<M::R>, q: Pt<M::R>, diff: Pt<M::R>) -> Pt<M::R> {
    let u = m.mul(m.sub(p.x, p.z), m.add(q.x, q.z));
    let v = m.mul(m.add(p.x, p.z), m.sub(q.x, q.z));
    let s = m.add(u, v);
    let t = m.sub(u, v);
    Pt {
        x: m.mul(diff.z, m.sqr(s)),
        z: m.mul(diff.x, m.sqr(t)),
    }
}

/// `P + Q` given `P - Q = (x : 1)`.
#[inline(always)]
fn dadd_z1<M: Monty>(m: &M, p: Pt<M::R>, q: Pt<M::R>, diff_x: M::R) -> Pt<M::R> {
    let u = m.mul(m.sub(p.x, p.z), m.add(q.x, q.z));
    let v = m.mul(m.add(p.x, p.z), m.sub(q.x, q.z));
    let s = m.add(u, v);
    let t = m.sub(u, v);
    Pt {
        x: m.sqr(s),
        z: m.mul(diff_x, m.sqr(t)),
    }
}

/// `k P` for a small `k >= 1` (general Montgomery ladder).
fn ladder_small<M: Monty>(m: &M, p: Pt<M::R>, k: u64, a24: M::R) -> (Pt<M::R>, Pt<M::R>) {
    debug_assert!(k >= 1);
    let mut r0 = p;
    let mut r1 = dbl(m, p, a24);
    for bit in (0..(63 - k.leading_zeros())).rev() {
        if (k >> bit) & 1 == 1 {
            r0 = dadd(m, r1, r0, p);
            r1 = dbl(m, r1, a24);
        } else {
            r1 = dadd(m, r1, r0, p);
            r0 = dbl(m, r0, a24);
        }
    }
    (r0, r1) // kP, (k+1)P
}

/// Outcome of one curve.
enum Curve {
    Factor(u128),
    Nothing,
    /// The curve's order was smooth modulo every prime factor at once (gcd = n).
    All,
}

/// What a run of curves found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// A proper factor.
    Factor(u128),
    /// Nothing within the curves given.
    Nothing,
    /// A curve found every prime factor at once: they are all small for this level, and a
    /// method that finds the smallest first (rho) should take over.
    AllAtOnce,
}

/// Runs up to `curves` curves at `plan` on odd composite `n` (the arithmetic `m`), with
/// `sigma` drawn from `rng`, until one gives a proper factor.
pub(crate) fn ecm<M: Monty>(m: &M, plan: &Plan, curves: u32, rng: &mut SplitMix) -> Found {
    // One curve smooth for every factor at once happens by chance with two large factors;
    // twice means the factors are small for this level.
    let mut all = 0;
    for _ in 0..curves {
        let sigma = 6 + rng.next_u64() % (1 << 31);
        match one_curve(m, plan, sigma) {
            Curve::Factor(f) => return Found::Factor(f),
            Curve::All => {
                all += 1;
                if all == 2 {
                    return Found::AllAtOnce;
                }
            }
            Curve::Nothing => {}
        }
    }
    Found::Nothing
}

/// A proper factor from `g = gcd(x, n)`, if there is one.
#[inline]
fn proper<M: Monty>(m: &M, g: u128) -> Curve {
    if g == m.modulus() {
        Curve::All
    } else if g != 1 {
        Curve::Factor(g)
    } else {
        Curve::Nothing
    }
}

fn one_curve<M: Monty>(m: &M, plan: &Plan, sigma: u64) -> Curve {
    // Suyama: u = s^2 - 5, v = 4s, P = (u^3 : v^3), a24 = (v-u)^3 (3u+v) / (16 u^3 v).
    let s = m.residue(sigma as u128);
    let five = m.residue(5);
    let u = m.sub(m.sqr(s), five);
    let v = m.add(m.add(s, s), m.add(s, s));
    let x0 = m.mul(m.sqr(u), u);
    let z0 = m.mul(m.sqr(v), v);
    let vmu = m.sub(v, u);
    let t = m.mul(m.mul(m.sqr(vmu), vmu), m.add(m.add(m.add(u, u), u), v));
    let x0_4 = m.add(m.add(x0, x0), m.add(x0, x0));
    let den = m.mul(x0_4, m.add(m.add(v, v), m.add(v, v))); // 16 u^3 v
    let inv = match m.inv(m.mul(den, z0)) {
        Ok(i) => i,
        // A degenerate sigma (0 mod n) tells nothing; a partial gcd is a factor.
        Err(g) if g == m.modulus() => return Curve::Nothing,
        Err(g) => return proper(m, g),
    };
    let a24 = m.mul(m.mul(t, inv), z0);
    let px = m.mul(m.mul(x0, inv), den); // x0 / z0
    let p = Pt { x: px, z: m.one() };

    // Stage 1: Montgomery ladder over the bits of k, the difference always P = (px : 1).
    let top_word = plan.k.len() - 1;
    let top_bit = 63 - plan.k[top_word].leading_zeros();
    let mut r0 = p;
    let mut r1 = dbl(m, p, a24);
    for w in (0..=top_word).rev() {
        let word = plan.k[w];
        let hi = if w == top_word { top_bit } else { 64 };
        for bit in (0..hi).rev() {
            let b = (word >> bit) & 1 == 1;
            let (a, c) = if b { (r1, r0) } else { (r0, r1) };
            let sum = dadd_z1(m, a, c, px);
            let twice = dbl(m, a, a24);
            (r0, r1) = if b { (sum, twice) } else { (twice, sum) };
        }
    }
    let q = r0;
    let mut acc = q.z;
    if acc == m.zero() {
        return Curve::All; // Q is the identity mod n: every factor at once
    }

    // Stage 2 baby steps: jQ for odd j < d/2 (chain j -> j + 2), keep those coprime to d.
    let half = plan.d / 2;
    let q2 = dbl(m, q, a24);
    let mut babies: [Pt<M::R>; 64] = [q; 64];
    let mut baby_xz: [M::R; 64] = [m.zero(); 64];
    let mut bi = 0;
    let (mut prev, mut cur) = (q, q); // ((j-2)Q, jQ); 3Q is formed from 2Q + Q specially
    let mut j = 1;
    loop {
        if bi < plan.babies.len() && plan.babies[bi] == j {
            babies[bi] = cur;
            baby_xz[bi] = m.mul(cur.x, cur.z);
            bi += 1;
        }
        if j + 2 >= half {
            break;
        }
        let next = if j == 1 {
            dadd(m, q2, q, q)
        } else {
            dadd(m, cur, q2, prev)
        };
        prev = cur;
        cur = next;
        j += 2;
    }
    // Giant steps: G = m D Q for m = m_first.., stepping by DQ (difference: the previous G).
    let dq = ladder_small(m, q, plan.d as u64, a24).0;
    let (mut g_prev, mut g) = if plan.m_first == 1 {
        (None, dq)
    } else {
        let (a, b) = ladder_small(m, dq, (plan.m_first - 1) as u64, a24);
        (Some(a), b)
    };
    for (i, &mask) in plan.masks.iter().enumerate() {
        if mask != 0 {
            let gxz = m.mul(g.x, g.z);
            let mut bits = mask;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let bj = babies[b];
                let cross = m.mul(m.sub(g.x, bj.x), m.add(g.z, bj.z));
                let term = m.add(m.sub(cross, gxz), baby_xz[b]);
                acc = m.mul(acc, term);
            }
        }
        if i + 1 < plan.masks.len() {
            // With no previous G (m = 1), 2DQ is a doubling.
            let next = match g_prev {
                Some(gp) => dadd(m, g, dq, gp),
                None => dbl(m, g, a24),
            };
            g_prev = Some(g);
            g = next;
        }
    }
    proper(m, m.gcd_n(acc))
}

#[cfg(test)]
mod tests {
    use super::super::mont64::Mont64;
    use super::super::mont128::Mont128;
    use super::*;

    #[test]
    fn plans_cover_stage2_primes() {
        for (level, &(b1, b2)) in LEVELS.iter().enumerate() {
            let p = plan(level);
            let ps = primes_upto(b2 + p.d);
            let mut covered = 0;
            for (i, &mask) in p.masks.iter().enumerate() {
                covered += mask.count_ones();
                let mm = p.m_first + i as u32;
                for (b, &j) in p.babies.iter().enumerate() {
                    if mask >> b & 1 == 1 {
                        let hi = mm * p.d + j;
                        let lo = mm * p.d - j;
                        let is_p = |x: u32| x > b1 && x <= b2 && ps.binary_search(&x).is_ok();
                        assert!(is_p(hi) || is_p(lo), "level {level}: m={mm} j={j}");
                    }
                }
            }
            let n2 = ps.iter().filter(|&&q| q > b1 && q <= b2).count();
            // Pairing can only reduce the count.
            assert!(covered as usize <= n2 && covered > 0, "level {level}");
        }
    }

    #[test]
    fn finds_factors_u64() {
        let mut rng = SplitMix::new(1);
        // 32-bit x 32-bit semiprimes.
        for (p, q) in [
            (3_000_000_019u64, 4_000_000_007u64),
            (2_147_483_659, 4_294_967_291),
        ] {
            let m = Mont64::new(p * q);
            let f = (0..LEVELS.len())
                .find_map(|l| match ecm(&m, plan(l.min(7)), 40, &mut rng) {
                    Found::Factor(f) => Some(f),
                    _ => None,
                })
                .expect("ECM finds a factor");
            assert!(f as u64 == p || f as u64 == q);
        }
    }

    #[test]
    fn reports_all_factors_at_once() {
        // Four primes just above 4096: B1 = 2000 makes every curve smooth for all of them.
        let n = 4099u64 * 4111 * 4127 * 4129;
        let m = Mont64::new(n);
        let mut rng = SplitMix::new(3);
        let f = ecm(&m, plan(10), 20, &mut rng);
        assert!(matches!(f, Found::AllAtOnce | Found::Factor(_)), "{f:?}");
    }

    #[test]
    fn finds_factors_u128() {
        let mut rng = SplitMix::new(2);
        let p = 804948253099u128; // 40 bits
        let q = 12296099661005056177u128; // 64 bits
        let m = Mont128::new(p * q);
        let Found::Factor(f) = ecm(&m, plan(8), 200, &mut rng) else {
            panic!("ECM finds a factor")
        };
        assert_eq!((p * q) % f, 0);
        assert!(f != 1 && f != p * q);
    }
}
