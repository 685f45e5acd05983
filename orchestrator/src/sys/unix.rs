//! libc wrappers: one safe function per syscall, errors through [`check_err`].

use std::io;

/// Turns a libc return value of `-1` into the thread's `errno` as an [`io::Error`].
pub fn check_err<T: PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
