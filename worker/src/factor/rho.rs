//! Pollard's rho with Brent's cycle detection, on any [`Monty`] arithmetic: the walk
//! `y -> y^2 + c` runs in Montgomery form, and the products `prod (x - y)` are gcd'ed with
//! `n` once per batch; a batch whose gcd is `n` is replayed step by step.

use super::monty::Monty;

/// Steps between gcds.
const BATCH: u64 = 128;

/// Looks for a non-trivial factor of the odd composite `n` with the walk constant `c` and
/// start `x0`. Gives up (`None`) after about `max_steps` steps, or when the walk closes on
/// all prime factors at once (then try another `c`).
pub(crate) fn brent<M: Monty>(m: &M, c: u64, x0: u64, max_steps: u64) -> Option<u128> {
    let n = m.modulus();
    let c = m.residue(c as u128);
    let f = |y: M::R| m.add(m.sqr(y), c);
    let mut y = m.residue(x0 as u128);
    let mut x = y;
    let mut ys = y;
    let mut q = m.one();
    let mut g: u128 = 1;
    let mut r: u64 = 1;
    let mut steps: u64 = 0;
    while g == 1 {
        x = y;
        for _ in 0..r {
            y = f(y);
        }
        let mut k = 0;
        while k < r && g == 1 {
            ys = y;
            let lim = BATCH.min(r - k);
            for _ in 0..lim {
                y = f(y);
                q = m.mul(q, m.sub(x, y));
            }
            g = m.gcd_n(q);
            k += lim;
        }
        steps += 2 * r;
        r *= 2;
        if g == 1 && steps > max_steps {
            return None;
        }
    }
    if g == n {
        // The batch overshot: replay it one step at a time.
        g = 1;
        for _ in 0..BATCH {
            ys = f(ys);
            g = m.gcd_n(m.sub(x, ys));
            if g != 1 {
                break;
            }
        }
    }
    (g != 1 && g != n).then_some(g)
}

#[cfg(test)]
mod tests {
    use super::super::mont64::Mont64;
    use super::super::mont128::Mont128;
    use super::*;

    #[test]
    fn splits_u64_semiprime() {
        let (p, q) = (1_000_003u64, 998_244_353u64);
        let m = Mont64::new(p * q);
        let g = (1..20).find_map(|c| brent(&m, c, 2, 1 << 24)).unwrap() as u64;
        assert!(g == p || g == q);
    }

    #[test]
    fn splits_u128_with_small_factor() {
        let p = 1_000_000_007u128;
        let q = (1u128 << 89) - 1; // prime
        let m = Mont128::new(p * q);
        let g = (1..20).find_map(|c| brent(&m, c, 2, 1 << 24)).unwrap();
        assert_eq!(g, p);
    }
}
