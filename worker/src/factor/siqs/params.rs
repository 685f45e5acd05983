//! SIQS parameters by size, and the Knuth-Schroeppel multiplier.

/// Tuning for one input size.
#[derive(Clone, Copy, Debug)]
pub(super) struct Params {
    /// Factor base size (primes, including 2).
    pub fb_size: usize,
    /// Half-width `M` of the sieve interval `[-M, M)`.
    pub m: usize,
    /// Large-prime bound as a multiple of the largest factor-base prime.
    pub lp_mult: u64,
    /// Bits below `log2(max |Q|)` at which a sieve value becomes a candidate.
    pub slack: f64,
}

/// `(bits of kN, fb_size, M, lp_mult, slack)`, interpolated linearly between rows.
const TABLE: [(u32, usize, usize, u64, f64); 8] = [
    (60, 40, 8192, 30, 18.0),
    (70, 60, 8192, 30, 19.0),
    (80, 90, 16384, 40, 20.0),
    (90, 130, 16384, 40, 21.0),
    (100, 190, 16384, 50, 22.5),
    (110, 280, 16384, 50, 23.5),
    (120, 380, 16384, 50, 24.5),
    (135, 620, 16384, 60, 26.0),
];

/// Parameters for a `kN` of `bits` bits.
pub(super) fn params(bits: u32) -> Params {
    let t = &TABLE;
    let row = |i: usize| Params {
        fb_size: t[i].1,
        m: t[i].2,
        lp_mult: t[i].3,
        slack: t[i].4,
    };
    if bits <= t[0].0 {
        return row(0);
    }
    for i in 1..t.len() {
        if bits <= t[i].0 {
            let (lo, hi) = (t[i - 1], t[i]);
            let f = (bits - lo.0) as f64 / (hi.0 - lo.0) as f64;
            let lerp = |a: f64, b: f64| a + (b - a) * f;
            return Params {
                fb_size: lerp(lo.1 as f64, hi.1 as f64).round() as usize,
                m: if f < 0.5 { lo.2 } else { hi.2 },
                lp_mult: lerp(lo.3 as f64, hi.3 as f64).round() as u64,
                slack: lerp(lo.4, hi.4),
            };
        }
    }
    row(t.len() - 1)
}

/// Squarefree multipliers tried.
const MULTIPLIERS: [u64; 32] = [
    1, 2, 3, 5, 6, 7, 10, 11, 13, 14, 15, 17, 19, 21, 22, 23, 26, 29, 30, 31, 33, 34, 35, 37, 38,
    39, 41, 42, 43, 46, 47, 51,
];

/// The Knuth-Schroeppel multiplier: the `k` maximising the expected contribution of small
/// primes to `Q(x)` over `kN`, less `log(k) / 2` for the larger values.
pub(super) fn choose_multiplier(n: u128) -> u64 {
    let small: [u64; 24] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    ];
    let mut best = (f64::NEG_INFINITY, 1u64);
    for &k in &MULTIPLIERS {
        let kn8 = (n as u64 & 7).wrapping_mul(k) & 7;
        let mut score = -0.5 * (k as f64).ln();
        score += match kn8 {
            1 => 2.0 * 2f64.ln(),
            5 => 2f64.ln(),
            3 | 7 => 0.5 * 2f64.ln(),
            _ => 0.0,
        };
        for &p in &small {
            let knp = (k % p) * (n % p as u128) as u64 % p;
            let lp = (p as f64).ln();
            if knp == 0 {
                score += lp / (p - 1) as f64;
            } else if pow_mod(knp, (p - 1) / 2, p) == 1 {
                score += 2.0 * lp / (p - 1) as f64;
            }
        }
        if score > best.0 {
            best = (score, k);
        }
    }
    best.1
}

/// `b^e mod m` for `m < 2^32`.
pub(super) fn pow_mod(mut b: u64, mut e: u64, m: u64) -> u64 {
    let mut r = 1 % m;
    b %= m;
    while e > 0 {
        if e & 1 == 1 {
            r = r * b % m;
        }
        b = b * b % m;
        e >>= 1;
    }
    r
}
