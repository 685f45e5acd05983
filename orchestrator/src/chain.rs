//! Parsing a command chain such as `openssl enc -des3 | openssl dgst -sha256` into the argv
//! of each stage — as a POSIX shell splits words, but **without running a shell**.
//!
//! Honoured: single quotes (everything literal), double quotes (`\` escapes `"`, `\`, `$`,
//! `` ` `` and newline inside them), backslash outside quotes, and unquoted `|` between stages
//! (with or without spaces around it).
//!
//! Refused with a clear error, because no shell is there to give them their meaning: unquoted
//! `;`, `&`, `<`, `>`, `(`, `)`, `` ` ``, `$` before a name, `{` or `(` (no variable is
//! expanded: pass secrets through the environment, e.g. `-pass env:password`), `*` and `?`
//! (no globbing), an empty stage, an unterminated quote. Quote any of them to pass it
//! literally.

use std::fmt;

/// Why a chain could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ChainError {
    /// Byte offset in the chain where the problem is.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

/// Splits `chain` into stages, each a non-empty argv.
///
/// ```
/// use orchestrator::chain::parse;
/// let stages = parse(r#"openssl enc -pass env:pw|tr 'a b' "c\"d""#).unwrap();
/// assert_eq!(stages, vec![
///     vec!["openssl", "enc", "-pass", "env:pw"],
///     vec!["tr", "a b", "c\"d"],
/// ]);
/// assert!(parse("cat x > y").unwrap_err().to_string().contains("unquoted `>`"));
/// ```
///
/// # Errors
/// A [`ChainError`] naming the offending character and its offset.
pub fn parse(chain: &str) -> Result<Vec<Vec<String>>, ChainError> {
    let err = |offset, message: String| Err(ChainError { offset, message });
    let mut stages: Vec<Vec<String>> = Vec::new();
    let mut argv: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false; // a word has started (even an empty quoted one: '')
    let mut chars = chain.char_indices().peekable();
    let mut stage_start = 0;

    while let Some((i, c)) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    argv.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '|' => {
                if in_word {
                    argv.push(std::mem::take(&mut word));
                    in_word = false;
                }
                if chars.peek().map(|(_, c)| *c) == Some('|') {
                    return err(
                        i,
                        "unquoted `||`: no shell runs the chain; quote it to pass it literally"
                            .into(),
                    );
                }
                if argv.is_empty() {
                    return err(stage_start, "empty stage in the chain".into());
                }
                stages.push(std::mem::take(&mut argv));
                stage_start = i + 1;
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, c)) => word.push(c),
                        None => return err(i, "unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.peek().map(|(_, c)| *c) {
                            Some(n @ ('"' | '\\' | '$' | '`')) => {
                                word.push(n);
                                chars.next();
                            }
                            Some('\n') => {
                                chars.next();
                            }
                            _ => word.push('\\'),
                        },
                        Some((j, '$')) if starts_expansion(chars.peek().map(|(_, c)| *c)) => {
                            return err(
                                j,
                                "`$` expansion inside double quotes: no shell runs the chain, \
                                 so nothing is expanded; use single quotes to pass it literally, \
                                 and pass secrets through the environment (e.g. -pass env:NAME)"
                                    .into(),
                            );
                        }
                        Some((j, '`')) => {
                            return err(
                                j,
                                "backquote inside double quotes: no shell runs the chain; \
                                 use single quotes to pass it literally"
                                    .into(),
                            );
                        }
                        Some((_, c)) => word.push(c),
                        None => return err(i, "unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some((_, '\n')) => {}
                    Some((_, n)) => word.push(n),
                    None => return err(i, "backslash at the end of the chain".into()),
                }
            }
            ';' | '&' | '<' | '>' | '(' | ')' | '`' | '*' | '?' => {
                let what = match c {
                    '*' | '?' => "no glob is expanded",
                    '<' | '>' => "no redirection is done (use --input/--output-dir)",
                    _ => "no shell runs the chain",
                };
                let shown = if c == '`' {
                    "backquote".to_string()
                } else {
                    format!("`{c}`")
                };
                return err(
                    i,
                    format!("unquoted {shown}: {what}; quote it to pass it literally"),
                );
            }
            '$' if starts_expansion(chars.peek().map(|(_, c)| *c)) => {
                return err(
                    i,
                    "unquoted `$`: no shell runs the chain, so nothing is expanded; quote it to \
                     pass it literally, and pass secrets through the environment \
                     (e.g. -pass env:NAME)"
                        .into(),
                );
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        argv.push(word);
    }
    if argv.is_empty() {
        return err(
            stage_start,
            if stages.is_empty() {
                "empty chain".into()
            } else {
                "empty stage at the end of the chain".into()
            },
        );
    }
    stages.push(argv);
    Ok(stages)
}

fn starts_expansion(next: Option<char>) -> bool {
    matches!(next, Some(c) if c == '{' || c == '(' || c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Vec<Vec<String>> {
        parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn words_quotes_and_pipes() {
        assert_eq!(ok("a"), vec![vec!["a"]]);
        assert_eq!(ok("  a   b  "), vec![vec!["a", "b"]]);
        assert_eq!(ok("a|b"), vec![vec!["a"], vec!["b"]]);
        assert_eq!(ok("a 'x|y' | b"), vec![vec!["a", "x|y"], vec!["b"]]);
        assert_eq!(ok("a '' b"), vec![vec!["a", "", "b"]]);
        assert_eq!(
            ok(r#"a "x\"y\\z" 'q"r'"#),
            vec![vec!["a", "x\"y\\z", "q\"r"]]
        );
        assert_eq!(ok(r"a b\ c \|"), vec![vec!["a", "b c", "|"]]);
        assert_eq!(ok("a 'it''s'"), vec![vec!["a", "its"]]);
        assert_eq!(ok("echo '$HOME' \\$x"), vec![vec!["echo", "$HOME", "$x"]]);
        assert_eq!(ok("printf '%s' a$"), vec![vec!["printf", "%s", "a$"]]);
        assert_eq!(ok("a -pass env:pw"), vec![vec!["a", "-pass", "env:pw"]]);
    }

    #[test]
    fn shell_syntax_is_refused_with_a_reason() {
        for (chain, needle) in [
            ("a; b", "unquoted `;`"),
            ("a && b", "unquoted `&`"),
            ("a || b", "unquoted `||`"),
            ("a > f", "no redirection"),
            ("a < f", "no redirection"),
            ("ls *.txt", "no glob"),
            ("echo $HOME", "nothing is expanded"),
            ("echo \"$HOME\"", "nothing is expanded"),
            ("echo `id`", "unquoted backquote"),
            ("echo $(id)", "nothing is expanded"),
            ("a | | b", "empty stage"),
            ("| a", "empty stage"),
            ("a |", "empty stage at the end"),
            ("", "empty chain"),
            ("a 'b", "unterminated single quote"),
            ("a \"b", "unterminated double quote"),
        ] {
            let e = parse(chain).expect_err(chain).to_string();
            assert!(e.contains(needle), "{chain:?}: {e}");
        }
    }
}
