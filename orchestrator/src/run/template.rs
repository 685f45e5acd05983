//! The command template: `{}` and `{#}` replaced per job, without a shell unless asked.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// One piece of a template argument.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(Vec<u8>),
    /// `{}`: the input line.
    Input,
    /// `{#}`: the job number.
    Seq,
}

/// Why a job's command line could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// An argument cannot contain a NUL byte.
    #[error("the input contains a NUL byte, which cannot be passed in an argument")]
    NulInInput,
}

/// `CMD [ARG...]` with its replacement strings, turned into one argv per job.
///
/// * `{}` is replaced by the job's input line, `{#}` by its number (1, 2, ...), anywhere in
///   any argument (`--out={}.txt` works).
/// * Without `--shell`, each argument stays one argument: the line is never split, globbed
///   or interpreted. If no argument has `{}`, the line is appended as the last argument.
/// * With `--shell`, the arguments are joined with spaces into one `sh -c` script and the
///   line is inserted **single-quoted**, so the shell sees it as one word and runs nothing
///   from it (do not quote `{}` yourself there).
///
/// ```
/// use orchestrator::run::Template;
/// let t = Template::new(&["echo", "<{}>", "#{#}"], false);
/// let argv = t.argv(3, Some(b"a; rm -rf /")).unwrap();
/// assert_eq!(argv, ["echo", "<a; rm -rf />", "#3"]);
/// let sh = Template::new(&["echo {} | wc -c"], true);
/// assert_eq!(sh.argv(1, Some(b"it's")).unwrap(), ["sh", "-c", r"echo 'it'\''s' | wc -c"]);
/// ```
#[derive(Debug, Clone)]
pub struct Template {
    args: Vec<Vec<Piece>>,
    shell: bool,
    uses_input: bool,
}

impl Template {
    /// Parses `args` (`CMD` first).
    pub fn new<S: AsRef<std::ffi::OsStr>>(args: &[S], shell: bool) -> Self {
        let args: Vec<Vec<Piece>> = args.iter().map(|a| parse(a.as_ref().as_bytes())).collect();
        let uses_input = args.iter().flatten().any(|p| *p == Piece::Input);
        Self {
            args,
            shell,
            uses_input,
        }
    }

    /// True if some argument contains `{}`.
    pub fn uses_input(&self) -> bool {
        self.uses_input
    }

    /// True if the command runs through `sh -c`.
    pub fn shell(&self) -> bool {
        self.shell
    }

    /// The argv of job number `seq` with input line `input` (`None`: the job has no input,
    /// and `{}` becomes the empty string).
    ///
    /// # Errors
    /// [`TemplateError::NulInInput`] if the line contains a NUL byte.
    pub fn argv(&self, seq: u64, input: Option<&[u8]>) -> Result<Vec<OsString>, TemplateError> {
        if input.is_some_and(|i| i.contains(&0)) {
            return Err(TemplateError::NulInInput);
        }
        let seq_text = seq.to_string();
        if self.shell {
            let quoted = input.map(shell_quote).unwrap_or_else(|| b"''".to_vec());
            let mut script = Vec::new();
            for (i, arg) in self.args.iter().enumerate() {
                if i > 0 {
                    script.push(b' ');
                }
                expand(arg, &quoted, seq_text.as_bytes(), &mut script);
            }
            if !self.uses_input
                && let Some(_) = input
            {
                script.push(b' ');
                script.extend_from_slice(&quoted);
            }
            return Ok(vec![
                OsString::from("sh"),
                OsString::from("-c"),
                OsString::from_vec(script),
            ]);
        }
        let line = input.unwrap_or(b"");
        let mut argv: Vec<OsString> = self
            .args
            .iter()
            .map(|arg| {
                let mut out = Vec::new();
                expand(arg, line, seq_text.as_bytes(), &mut out);
                OsString::from_vec(out)
            })
            .collect();
        if !self.uses_input
            && let Some(line) = input
        {
            argv.push(OsString::from_vec(line.to_vec()));
        }
        Ok(argv)
    }
}

fn expand(pieces: &[Piece], input: &[u8], seq: &[u8], out: &mut Vec<u8>) {
    for p in pieces {
        match p {
            Piece::Text(t) => out.extend_from_slice(t),
            Piece::Input => out.extend_from_slice(input),
            Piece::Seq => out.extend_from_slice(seq),
        }
    }
}

fn parse(arg: &[u8]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = Vec::new();
    let mut i = 0;
    while i < arg.len() {
        let rest = &arg[i..];
        let (piece, len) = if rest.starts_with(b"{}") {
            (Some(Piece::Input), 2)
        } else if rest.starts_with(b"{#}") {
            (Some(Piece::Seq), 3)
        } else {
            (None, 1)
        };
        match piece {
            Some(p) => {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(p);
            }
            None => text.push(arg[i]),
        }
        i += len;
    }
    if !text.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

/// `s` as one single-quoted shell word: `'...'`, each `'` written as `'\''`.
pub fn shell_quote(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'\'');
    for &b in s {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// An argv as one line a person can paste into a shell: words quoted only when needed,
/// control characters (tabs, newlines) written as `$'\t'` so the line stays one TSV field.
pub fn display_argv(argv: &[OsString]) -> String {
    let mut out = String::new();
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&display_word(a.as_bytes()));
    }
    out
}

fn display_word(w: &[u8]) -> String {
    let plain = !w.is_empty()
        && w.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b) || (b >= 0x80));
    let text = String::from_utf8_lossy(w);
    if plain {
        return text.into_owned();
    }
    if w.iter().any(|b| b.is_ascii_control()) {
        let mut s = String::from("$'");
        for c in text.chars() {
            match c {
                '\t' => s.push_str("\\t"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\'' => s.push_str("\\'"),
                '\\' => s.push_str("\\\\"),
                c if c.is_ascii_control() => s.push_str(&format!("\\x{:02x}", c as u32)),
                c => s.push(c),
            }
        }
        s.push('\'');
        return s;
    }
    String::from_utf8_lossy(&shell_quote(text.as_bytes())).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(t: &Template, seq: u64, input: Option<&str>) -> Vec<String> {
        t.argv(seq, input.map(str::as_bytes))
            .unwrap()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn the_line_is_appended_when_there_is_no_placeholder() {
        let t = Template::new(&["echo", "x"], false);
        assert!(!t.uses_input());
        assert_eq!(argv(&t, 1, Some("a  b")), ["echo", "x", "a  b"]);
        assert_eq!(argv(&t, 1, None), ["echo", "x"]);
    }

    #[test]
    fn placeholders_anywhere_and_repeated() {
        let t = Template::new(&["cp", "{}", "{}.{#}.bak", "{#}"], false);
        assert_eq!(argv(&t, 12, Some("f")), ["cp", "f", "f.12.bak", "12"]);
        let t = Template::new(&["echo", "{#}"], false);
        assert_eq!(argv(&t, 5, None), ["echo", "5"]);
        // Braces that are not placeholders stay.
        let t = Template::new(&["echo", "{x}", "{", "}{", ""], false);
        assert_eq!(argv(&t, 1, None), ["echo", "{x}", "{", "}{", ""]);
    }

    #[test]
    fn hostile_lines_stay_one_argument() {
        let t = Template::new(&["printf", "%s|", "{}"], false);
        for line in [
            "; touch x",
            "$(touch x)",
            "`touch x`",
            "'\"",
            "  a  b  ",
            "",
        ] {
            assert_eq!(argv(&t, 1, Some(line)), ["printf", "%s|", line]);
        }
        assert_eq!(
            t.argv(1, Some(b"a\0b")).unwrap_err(),
            TemplateError::NulInInput
        );
    }

    #[test]
    fn shell_mode_quotes_the_line() {
        let t = Template::new(&["echo", "{}", "|", "wc", "-c"], true);
        assert_eq!(
            argv(&t, 1, Some("$(touch x)")),
            ["sh", "-c", "echo '$(touch x)' | wc -c"]
        );
        let t = Template::new(&["echo"], true);
        assert_eq!(argv(&t, 1, Some("a'b")), ["sh", "-c", r"echo 'a'\''b'"]);
        assert_eq!(argv(&t, 1, None), ["sh", "-c", "echo"]);
    }

    #[test]
    fn display_quotes_only_what_needs_it() {
        let a: Vec<OsString> = ["echo", "a b", "it's", "tab\there", "", "x=1"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            display_argv(&a),
            r#"echo 'a b' 'it'\''s' $'tab\there' '' x=1"#
        );
    }
}
