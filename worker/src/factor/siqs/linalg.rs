//! Dependencies among relations over GF(2): Gaussian elimination on bit-packed rows, each
//! carrying a history of which relations were added into it.

/// Subsets of `rows` (each the list of its odd-exponent columns) whose sum is zero mod 2.
/// Returns up to `max` of them, as lists of row indices.
pub(super) fn dependencies(rows: &[Vec<u32>], ncols: usize, max: usize) -> Vec<Vec<usize>> {
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
    for c in 0..ncols {
        let (word, bit) = (c / 64, 1u64 << (c % 64));
        let Some(p) = (0..r).find(|&i| !is_pivot[i] && m[i * w + word] & bit != 0) else {
            continue;
        };
        is_pivot[p] = true;
        let pivot: Vec<u64> = m[p * w..(p + 1) * w].to_vec();
        for i in 0..r {
            if !is_pivot[i] && m[i * w + word] & bit != 0 {
                let row = &mut m[i * w..(i + 1) * w];
                // Columns below c are zero in both rows now: start at c's word.
                for (x, y) in row[word..].iter_mut().zip(&pivot[word..]) {
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
    fn finds_a_dependency() {
        // rows: {0,1}, {1,2}, {0,2}, {3}: the first three sum to zero.
        let rows = vec![vec![0, 1], vec![1, 2], vec![0, 2], vec![3]];
        let deps = dependencies(&rows, 4, 10);
        assert_eq!(deps, vec![vec![0, 1, 2]]);
    }
}
