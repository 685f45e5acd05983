//! Dependencies among relations over GF(2): Gaussian elimination on bit-packed rows, each
//! carrying a history of which relations were added into it.

/// Subsets of `rows` (each the list of its odd-exponent columns) whose sum is zero mod 2.
/// Returns up to `max` of them, as lists of row indices.
///
/// Rows holding a column that no other row has cannot be in any dependency: they are
/// removed first (repeatedly), which shrinks the matrix by a third or more, then the rest is
/// eliminated densely.
pub(super) fn dependencies(rows: &[Vec<u32>], ncols: usize, max: usize) -> Vec<Vec<usize>> {
    let mut count = vec![0u32; ncols];
    for row in rows {
        for &c in row {
            count[c as usize] += 1;
        }
    }
    let mut alive = vec![true; rows.len()];
    loop {
        let mut changed = false;
        for (i, row) in rows.iter().enumerate() {
            if alive[i] && row.iter().any(|&c| count[c as usize] == 1) {
                alive[i] = false;
                changed = true;
                for &c in row {
                    count[c as usize] -= 1;
                }
            }
        }
        if !changed {
            break;
        }
    }
    // Renumber the columns still in use, and keep the surviving rows.
    let mut newcol = vec![u32::MAX; ncols];
    let mut used = 0u32;
    for (c, &k) in count.iter().enumerate() {
        if k > 0 {
            newcol[c] = used;
            used += 1;
        }
    }
    let keep: Vec<usize> = (0..rows.len()).filter(|&i| alive[i]).collect();
    let pruned: Vec<Vec<u32>> = keep
        .iter()
        .map(|&i| rows[i].iter().map(|&c| newcol[c as usize]).collect())
        .collect();
    dense_dependencies(&pruned, used as usize, max)
        .into_iter()
        .map(|dep| dep.into_iter().map(|i| keep[i]).collect())
        .collect()
}

/// Dense Gaussian elimination for [`dependencies`].
fn dense_dependencies(rows: &[Vec<u32>], ncols: usize, max: usize) -> Vec<Vec<usize>> {
    let r = rows.len();
    let wc = ncols.div_ceil(64);
    let wh = r.div_ceil(64);
    let w = wc + wh;
    let mut m = vec![0u64; r * w];
    for (i, cols) in rows.iter().enumerate() {
        let row = &mut m[i * w..(i + 1) * w];
        for &c in cols {
            row[c as usize / 64] ^= 1 << (c % 64);
        }
        row[wc + i / 64] |= 1 << (i % 64);
    }
    let mut is_pivot = vec![false; r];
    // Sparse columns (large primes, numbered last) first: less fill-in.
    for c in (0..ncols).rev() {
        let (word, bit) = (c / 64, 1u64 << (c % 64));
        let Some(p) = (0..r).find(|&i| !is_pivot[i] && m[i * w + word] & bit != 0) else {
            continue;
        };
        is_pivot[p] = true;
        let pivot: Vec<u64> = m[p * w..(p + 1) * w].to_vec();
        for i in 0..r {
            if !is_pivot[i] && m[i * w + word] & bit != 0 {
                let row = &mut m[i * w..(i + 1) * w];
                // Columns above c are zero in both rows now: XOR up to c's word, and the
                // history.
                for (x, y) in row[..=word].iter_mut().zip(&pivot[..=word]) {
                    *x ^= y;
                }
                for (x, y) in row[wc..].iter_mut().zip(&pivot[wc..]) {
                    *x ^= y;
                }
            }
        }
    }
    let mut deps = Vec::new();
    for i in 0..r {
        if is_pivot[i] {
            continue;
        }
        let row = &m[i * w..(i + 1) * w];
        debug_assert!(row[..wc].iter().all(|&x| x == 0));
        let mut dep = Vec::new();
        for (k, &h) in row[wc..].iter().enumerate() {
            let mut h = h;
            while h != 0 {
                dep.push(k * 64 + h.trailing_zeros() as usize);
                h &= h - 1;
            }
        }
        if !dep.is_empty() {
            deps.push(dep);
            if deps.len() == max {
                break;
            }
        }
    }
    deps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_sum_to_zero() {
        let mut rng = crate::factor::arith::SplitMix::new(5);
        let ncols = 60;
        let rows: Vec<Vec<u32>> = (0..80)
            .map(|_| {
                let mut v: Vec<u32> = (0..4).map(|_| (rng.next_u64() % ncols) as u32).collect();
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let deps = dependencies(&rows, ncols as usize, 100);
        assert!(deps.len() >= 20);
        for dep in deps {
            let mut parity = vec![0u8; ncols as usize];
            for &i in &dep {
                for &c in &rows[i] {
                    parity[c as usize] ^= 1;
                }
            }
            assert!(parity.iter().all(|&p| p == 0));
        }
    }

    #[test]
    fn finds_a_dependency() {
        // rows: {0,1}, {1,2}, {0,2}, {3}: the first three sum to zero.
        let rows = vec![vec![0, 1], vec![1, 2], vec![0, 2], vec![3]];
        let deps = dependencies(&rows, 4, 10);
        assert_eq!(deps, vec![vec![0, 1, 2]]);
    }
}
