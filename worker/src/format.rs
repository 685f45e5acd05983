//! Decimal formatting of `u64`/`u128` into a byte buffer, and quoting of user input for
//! error messages.
//!
//! The formatter is hand-written because it sits on the hot path of `worker factor`: every
//! number and every factor passes through it. It writes two digits per step from a 200-byte
//! table into a stack array and appends the digits with one copy; a `u128` above `u64::MAX`
//! is split into 19-digit `u64` pieces, so the slow 128-bit division runs at most twice per
//! number. (`itoa` does the same; we keep the ~60 lines to append straight into our buffer.)

/// "00" "01" ... "99": two ASCII digits per entry.
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// 10^19, the largest power of ten below 2^64.
const E19: u64 = 10_000_000_000_000_000_000;

/// Longest decimal `u128` (2^128 - 1 has 39 digits).
pub const U128_MAX_DIGITS: usize = 39;

/// Number of decimal digits of `n` (1 for 0).
#[inline]
fn digit_count(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// Fills `dst` with the last `dst.len()` digits of `n` (all of them when `dst` is
/// [`digit_count`] long; leading zeros when it is longer).
#[inline]
fn write_digits(n: u64, dst: &mut [u8]) {
    match u32::try_from(n) {
        // 32-bit division by a constant is a shorter multiply-shift than 64-bit.
        Ok(small) => write_digits_u32(small, dst),
        Err(_) => write_digits_u64(n, dst),
    }
}

#[inline]
fn write_digits_u32(mut n: u32, dst: &mut [u8]) {
    let mut i = dst.len();
    while n >= 100 && i >= 2 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        dst[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    while i > 0 {
        i -= 1;
        dst[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

#[inline]
fn write_digits_u64(mut n: u64, dst: &mut [u8]) {
    let mut i = dst.len();
    while n >= 100 && i >= 2 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        dst[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    while i > 0 {
        i -= 1;
        dst[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Appends the decimal digits of `n`.
///
/// The digits are written straight into the buffer: 20 zero bytes are appended (a
/// fixed-size store the compiler inlines), the digits overwrite the first ones, and the
/// buffer is cut back. Building them in a stack array and copying would cost a `memcpy`
/// call, or a store-forwarding stall when the copy is inlined.
///
/// ```
/// let mut out = Vec::new();
/// worker::format::push_u64(&mut out, 2139079);
/// assert_eq!(out, b"2139079");
/// ```
#[inline]
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    let len = digit_count(n);
    let start = out.len();
    out.extend_from_slice(&[0u8; 20]);
    write_digits(n, &mut out[start..start + len]);
    out.truncate(start + len);
}

/// Appends exactly 19 digits of `n < 10^19`, with leading zeros.
fn push_u64_pad19(out: &mut Vec<u8>, n: u64) {
    debug_assert!(n < E19);
    let start = out.len();
    out.extend_from_slice(&[0u8; 19]);
    write_digits(n, &mut out[start..]);
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
