//! Decimal formatting of `u64`/`u128` into a byte buffer, and quoting of user input for
//! error messages.
//!
//! The formatter is hand-written because it sits on the hot path of `worker factor`: every
//! number and every factor passes through it. It converts 8 digits at a time inside one
//! register and appends them with one 8-byte store (see [`push_u64`]); a `u128` above
//! `u64::MAX` is split into 19-digit `u64` pieces, so the slow 128-bit division runs at most
//! twice per number. (`itoa` is the well-known crate for this; it formats into its own
//! buffer, which costs a copy per number here.)

/// 10^19, the largest power of ten below 2^64.
const E19: u64 = 10_000_000_000_000_000_000;

/// Longest decimal `u128` (2^128 - 1 has 39 digits).
pub const U128_MAX_DIGITS: usize = 39;

/// 10^8 and 10^16: the formatter works in blocks of 8 digits.
const E8: u64 = 100_000_000;
const E16: u64 = E8 * E8;

/// Number of decimal digits of `n` (1 for 0).
#[inline]
fn digit_count(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// The 8 ASCII digits of `n < 10^8` (leading zeros included), the first digit in the lowest
/// byte, computed in one register ("SWAR"): split into two 4-digit lanes, each lane into two
/// 2-digit lanes, each of those into two digits, with multiply-shift divisions that are exact
/// for the lane ranges (x * 10486 >> 20 == x / 100 for x < 10^4, p * 103 >> 10 == p / 10 for
/// p < 100; checked exhaustively in the tests). No lane overflows into the next.
#[inline(always)]
fn eight_digits(n: u32) -> u64 {
    debug_assert!(u64::from(n) < E8);
    let x = u64::from(n / 10_000) | (u64::from(n % 10_000) << 32);
    let hundreds = ((x * 10486) >> 20) & 0x0000_007F_0000_007F;
    let pairs = hundreds | ((x - hundreds * 100) << 16);
    let tens = ((pairs * 103) >> 10) & 0x000F_000F_000F_000F;
    let digits = tens | ((pairs - tens * 10) << 8);
    digits + 0x3030_3030_3030_3030
}

/// Appends the last `width` (1..=8) digits of `n < 10^8`, leading zeros included.
///
/// The 8 digits are appended as one 8-byte store from a register, then the buffer is cut
/// back: no per-digit loop, no variable-length `memcpy`, and no store-forwarding stall (which
/// building the digits in a stack array and copying them costs).
#[inline(always)]
fn push_block(out: &mut Vec<u8>, n: u64, width: usize) {
    debug_assert!((1..=8).contains(&width));
    // `n < 10^8` fits in a u32; the cast cannot truncate.
    let word = eight_digits(n as u32) >> (8 * (8 - width));
    let end = out.len() + width;
    out.extend_from_slice(&word.to_le_bytes());
    out.truncate(end);
}

/// Appends the decimal digits of `n`.
///
/// ```
/// let mut out = Vec::new();
/// worker::format::push_u64(&mut out, 2139079);
/// assert_eq!(out, b"2139079");
/// ```
#[inline(always)]
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    let len = digit_count(n);
    if len <= 8 {
        push_block(out, n, len);
    } else if len <= 16 {
        push_block(out, n / E8, len - 8);
        push_block(out, n % E8, 8);
    } else {
        push_block(out, n / E16, len - 16);
        push_block(out, (n / E8) % E8, 8);
        push_block(out, n % E8, 8);
    }
}

/// Appends exactly 19 digits of `n < 10^19`, with leading zeros.
fn push_u64_pad19(out: &mut Vec<u8>, n: u64) {
    debug_assert!(n < E19);
    push_block(out, n / E16, 3);
    push_block(out, (n / E8) % E8, 8);
    push_block(out, n % E8, 8);
}

/// Appends the decimal digits of `n`.
///
/// ```
/// let mut out = Vec::new();
/// worker::format::push_u128(&mut out, u128::MAX);
/// assert_eq!(out, u128::MAX.to_string().as_bytes());
/// ```
#[inline]
pub fn push_u128(out: &mut Vec<u8>, n: u128) {
    if let Ok(small) = u64::try_from(n) {
        push_u64(out, small);
        return;
    }
    push_u128_wide(out, n);
}

/// The `n > u64::MAX` half of [`push_u128`], kept out of line so the fast path stays small.
#[cold]
fn push_u128_wide(out: &mut Vec<u8>, n: u128) {
    let e19 = u128::from(E19);
    // n < 2^128 < 10^39, so n = top * 10^38 + mid * 10^19 + low with top <= 3.
    let low = (n % e19) as u64;
    let high = n / e19;
    match u64::try_from(high) {
        Ok(high) => push_u64(out, high),
        Err(_) => {
            push_u64(out, (high / e19) as u64);
            push_u64_pad19(out, (high % e19) as u64);
        }
    }
    push_u64_pad19(out, low);
}

/// Longest input shown in an error message; longer input is cut and its length given.
pub const QUOTE_MAX: usize = 64;

/// `input` between ‘curly quotes’ for an error message, as coreutils shows it: control
/// characters as C escapes (`\t`, `\n`, ...), bytes that are not UTF-8 as octal `\377`, and
/// input longer than [`QUOTE_MAX`] bytes cut short with its full length appended.
/// `total_len` is the input's real length when `input` is already a cut prefix of it.
///
/// ```
/// use worker::format::quote;
/// assert_eq!(quote(b"abc", 3), "‘abc’");
/// assert_eq!(quote(b"\t12\n", 4), "‘\\t12\\n’");
/// assert_eq!(quote(b"\xff7", 2), "‘\\3777’");
/// ```
pub fn quote(input: &[u8], total_len: u64) -> String {
    let shown = &input[..input.len().min(QUOTE_MAX)];
    let mut s = String::with_capacity(shown.len() + 8);
    s.push('‘');
    for chunk in shown.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\x07' => s.push_str("\\a"),
                '\x08' => s.push_str("\\b"),
                '\t' => s.push_str("\\t"),
                '\n' => s.push_str("\\n"),
                '\x0b' => s.push_str("\\v"),
                '\x0c' => s.push_str("\\f"),
                '\r' => s.push_str("\\r"),
                '\\' => s.push_str("\\\\"),
                c if c.is_control() => {
                    let mut utf8 = [0u8; 4];
                    for b in c.encode_utf8(&mut utf8).bytes() {
                        s.push_str(&format!("\\{b:03o}"));
                    }
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\{b:03o}"));
        }
    }
    let cut = (shown.len() as u64) < total_len;
    if cut {
        s.push('…');
    }
    s.push('’');
    if cut {
        s.push_str(&format!(" ({total_len} bytes)"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fmt128(n: u128) -> String {
        let mut v = Vec::new();
        push_u128(&mut v, n);
        String::from_utf8(v).expect("digits are ASCII")
    }

    #[test]
    fn boundaries() {
        for n in [
            0u128,
            9,
            10,
            99,
            100,
            E19 as u128 - 1,
            E19 as u128,
            u64::MAX as u128,
            u64::MAX as u128 + 1,
            (E19 as u128) * (E19 as u128) - 1,
            (E19 as u128) * (E19 as u128),
            (E19 as u128) * (E19 as u128) + 1,
            u128::MAX,
        ] {
            assert_eq!(fmt128(n), n.to_string());
        }
    }

    #[test]
    fn eight_digits_is_exact_for_every_lane_value() {
        // The two 4-digit lanes are computed independently: every value of each lane, with
        // a few values in the other, covers every case.
        for a in 0..10_000u32 {
            for b in [0, 1, 99, 100, 9999, a] {
                for n in [a * 10_000 + b, b * 10_000 + a] {
                    assert_eq!(eight_digits(n).to_le_bytes(), *format!("{n:08}").as_bytes());
                }
            }
        }
    }

    #[test]
    fn every_power_of_ten_and_neighbours() {
        let mut p = 1u128;
        while let Some(next) = p.checked_mul(10) {
            for n in [p - 1, p, p + 1] {
                assert_eq!(fmt128(n), n.to_string());
            }
            p = next;
        }
    }

    #[test]
    fn quote_cuts_long_input() {
        let long = vec![b'7'; 1000];
        let q = quote(&long, 1000);
        assert!(q.starts_with("‘7777"));
        assert!(q.ends_with("…’ (1000 bytes)"), "{q}");
        assert_eq!(quote(b"", 0), "‘’");
        assert_eq!(quote(b"5\r\x0b6", 4), "‘5\\r\\v6’");
        assert_eq!(quote("٣".as_bytes(), 2), "‘٣’");
    }

    proptest! {
        #[test]
        fn u64_matches_std(n in any::<u64>()) {
            let mut v = Vec::new();
            push_u64(&mut v, n);
            prop_assert_eq!(v, n.to_string().into_bytes());
        }

        #[test]
        fn u128_matches_std(n in any::<u128>()) {
            prop_assert_eq!(fmt128(n), n.to_string());
        }
    }
}
