//! Shell quoting for the remote side of ssh.
//!
//! ssh does not pass an argv: it joins its arguments with spaces and the remote login shell
//! parses that string again. So every argument is quoted here, byte for byte, such that the
//! remote shell gives back exactly the argv we meant: empty strings, blanks, quotes, `$`, `*`,
//! `~`, newlines and non-UTF-8 bytes included.
//!
//! The quoting itself is the `shlex` crate's ([`shlex::bytes::Quoter`]): it works on bytes,
//! uses single quotes where it can and double quotes where it must, and is tested by its
//! authors against bash, dash, zsh, busybox ash, mksh and fish. Our property test checks the
//! round trip through the local `sh` and `bash`.
//!
//! **Non-UTF-8 arguments** pass unchanged: quoting never splits a byte sequence, ssh carries the
//! command as bytes, and a POSIX shell keeps bytes inside quotes as they are. **NUL bytes**
//! cannot be in an argv at all and are an error. Control characters are quoted, not escaped;
//! that is safe for `sh -c` (which is what sshd runs), not for pasting into a terminal.
//!
//! Limits: the remote login shell must be POSIX-like (sh, bash, dash, zsh, ksh): the launcher also
//! relies on `$PPID`. csh and tcsh treat a newline inside quotes as an error.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// An argument that cannot be passed through a shell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("argument {arg:?} contains a NUL byte, which no command line can carry")]
pub struct QuoteError {
    /// The argument, lossily decoded for display.
    pub arg: String,
}

/// Quotes one argument for a POSIX shell, as bytes.
///
/// ```
/// use std::ffi::OsStr;
/// use orchestrator::launch::quote_arg;
/// assert_eq!(quote_arg(OsStr::new("plain-word"))?, b"plain-word");
/// assert_eq!(quote_arg(OsStr::new(""))?, b"''");
/// assert_eq!(quote_arg(OsStr::new("it's $HOME"))?, br#""it's "'$HOME'"#);
/// # Ok::<(), orchestrator::launch::QuoteError>(())
/// ```
///
/// # Errors
/// If `arg` contains a NUL byte.
pub fn quote_arg(arg: &OsStr) -> Result<Vec<u8>, QuoteError> {
    shlex::bytes::Quoter::new()
        .quote(arg.as_bytes())
        .map(|quoted| quoted.into_owned())
        .map_err(|_| QuoteError {
            arg: arg.to_string_lossy().into_owned(),
        })
}

/// Quotes every argument and joins them with single spaces: a command line that a POSIX shell
/// splits back into exactly `args`.
///
/// # Errors
/// If any argument contains a NUL byte.
pub fn quote_join<S: AsRef<OsStr>>(args: &[S]) -> Result<Vec<u8>, QuoteError> {
    let mut out = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(&quote_arg(arg.as_ref())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::process::Command;

    /// Runs `shell -c "printf '%s\0' <quoted args>"` and splits its output back into arguments.
    fn through_shell(shell: &str, args: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let os: Vec<OsString> = args.iter().cloned().map(OsString::from_vec).collect();
        let mut script = b"printf '%s\\0' ".to_vec();
        script.extend(quote_join(&os).expect("no NUL in the generated arguments"));
        let out = Command::new(shell)
            .arg("-c")
            .arg(OsString::from_vec(script))
            .output()
            .expect("the shell starts");
        assert!(out.status.success(), "{shell} failed: {out:?}");
        let mut parts: Vec<Vec<u8>> = out.stdout.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
        // printf ends every argument with NUL, so the split leaves one empty tail.
        assert_eq!(parts.pop(), Some(Vec::new()));
        parts
    }

    fn shells() -> Vec<&'static str> {
        ["sh", "bash"]
            .into_iter()
            .filter(|s| Command::new(s).arg("-c").arg("true").status().is_ok())
            .collect()
    }

    #[test]
    fn awkward_arguments_survive_sh_and_bash() {
        let args: Vec<Vec<u8>> = [
            &b""[..],
            b" ",
            b"two  spaces",
            b"'",
            b"\"",
            b"it's \"quoted\"",
            b"$HOME",
            b"${x:-y}",
            b"`id`",
            b"$(touch /nonexistent/x)",
            b"; echo injected",
            b"a\nb",
            b"\n",
            b"tab\there",
            b"*",
            b"~",
            b"=x",
            b"!",
            b"^caret",
            b"back\\slash",
            b"\\",
            b"{a,b}",
            b"#comment",
            b"-n",
            b"--",
            b"\xff\xfe not utf-8 \x80",
            "ünïcödé ✓".as_bytes(),
            b"\x01\x1f\x7f",
            b"\r",
            b"\xc2\xa0nbsp",
        ]
        .iter()
        .map(|s| s.to_vec())
        .collect();
        for shell in shells() {
            assert_eq!(through_shell(shell, &args), args, "through {shell}");
        }
    }

    #[test]
    fn nul_is_an_error_naming_the_argument() {
        let err = quote_arg(OsStr::from_bytes(b"a\0b")).unwrap_err();
        assert!(err.to_string().contains("NUL"), "{err}");
        assert!(err.to_string().contains("a\\0b"), "{err}");
        assert!(quote_join(&[OsStr::new("ok"), OsStr::from_bytes(b"\0")]).is_err());
    }

    #[test]
    fn safe_words_stay_readable() {
        let joined = quote_join(&["worker", "serve", "--mode=primes", "/usr/bin/x"]).unwrap();
        assert_eq!(joined, b"worker serve '--mode=primes' /usr/bin/x");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        /// Any argv without NUL comes back unchanged from `sh -c` (and `bash -c`).
        #[test]
        fn any_argv_round_trips_through_the_shell(
            args in prop::collection::vec(prop::collection::vec(1u8..=255, 0..24), 1..6)
        ) {
            for shell in shells() {
                prop_assert_eq!(&through_shell(shell, &args), &args, "through {}", shell);
            }
        }

        /// Same, for printable ASCII and shell metacharacters, which random bytes rarely hit.
        #[test]
        fn shell_metacharacters_round_trip(
            args in prop::collection::vec("[ -~\\n\\t]{0,16}", 1..6)
        ) {
            let args: Vec<Vec<u8>> = args.into_iter().map(String::into_bytes).collect();
            for shell in shells() {
                prop_assert_eq!(&through_shell(shell, &args), &args, "through {}", shell);
            }
        }
    }
}
