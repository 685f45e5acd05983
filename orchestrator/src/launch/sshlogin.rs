//! GNU parallel's sshlogin format: `[N/][user@]host[:port]`, with `:` meaning this machine.
//!
//! Accepted from `-S/--sshlogin` (one value may hold a comma-separated list, as in GNU parallel)
//! and from `--hosts FILE` (one or more entries per line, `#` starts a comment, blank lines are
//! skipped). `N/` is the number of slots (concurrent jobs or workers) on that host; without it the
//! caller decides (GNU parallel asks the host for its CPU count).
//!
//! Not supported, with an error that says so: GNU parallel's `@group/` host groups, and its
//! "whole ssh command" form (`'ssh -p 2222 host'`): ssh options go into `--ssh` instead, ports
//! into `host:port`. IPv6 addresses are written in brackets when a port follows (`[::1]:2222`);
//! a bare IPv6 address (two or more `:`) is taken as a host without a port.

use std::fmt;
use std::num::NonZeroU32;
use std::path::Path;
use std::str::FromStr;

/// One parsed sshlogin: how many slots, and where.
///
/// ```
/// use orchestrator::launch::{SshLogin, Target};
/// let login: SshLogin = "4/root@10.77.0.11:2222".parse()?;
/// assert_eq!(login.slots().map(|n| n.get()), Some(4));
/// let Target::Remote(host) = login.target() else { unreachable!() };
/// assert_eq!((host.user(), host.host(), host.port()), (Some("root"), "10.77.0.11", Some(2222)));
/// assert_eq!(login.to_string(), "4/root@10.77.0.11:2222");
/// assert!("2/:".parse::<SshLogin>()?.is_local());
/// # Ok::<(), orchestrator::launch::SshLoginError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SshLogin {
    slots: Option<NonZeroU32>,
    target: Target,
}

/// Where an sshlogin points: this machine (`:`) or a remote host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `:`, this machine: jobs run here without ssh.
    Local,
    /// A host reached through ssh.
    Remote(RemoteHost),
}

/// A remote host: `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemoteHost {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

impl RemoteHost {
    /// A remote host from its parts, validated as [`SshLogin::parse`] validates them.
    ///
    /// # Errors
    /// If the user or host name is empty or holds characters a host or user name cannot have.
    pub fn new(user: Option<&str>, host: &str, port: Option<u16>) -> Result<Self, SshLoginError> {
        let entry = match (user, port) {
            (Some(u), Some(p)) => format!("{u}@{host}:{p}"),
            (Some(u), None) => format!("{u}@{host}"),
            (None, Some(p)) => format!("{host}:{p}"),
            (None, None) => host.to_string(),
        };
        let fail = |problem| SshLoginError::entry(&entry, problem);
        if let Some(u) = user {
            check_user(u).map_err(fail)?;
        }
        check_host(host).map_err(fail)?;
        if port == Some(0) {
            return Err(fail(Problem::BadPort("0".into())));
        }
        Ok(Self {
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
        })
    }

    /// The login user, if one was given (`user@`); otherwise ssh's default applies.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The host name or address, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, if one was given; otherwise ssh's default (its config, or 22) applies.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl fmt::Display for RemoteHost {
    /// `[user@]host[:port]`, with an IPv6 address in brackets when a port follows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        match self.port {
            Some(port) if self.host.contains(':') => write!(f, "[{}]:{port}", self.host),
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

impl fmt::Display for Target {
    /// `:` for this machine, `[user@]host[:port]` otherwise (the joblog's host column).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local => f.write_str(":"),
            Target::Remote(host) => host.fmt(f),
        }
    }
}

impl SshLogin {
    /// Parses one entry, `[N/][user@]host[:port]` or `[N/]:`. Surrounding blanks are ignored.
    ///
    /// # Errors
    /// An [`SshLoginError`] naming the entry and what is wrong with it.
    pub fn parse(entry: &str) -> Result<Self, SshLoginError> {
        parse_entry(entry.trim()).map_err(|problem| SshLoginError::entry(entry.trim(), problem))
    }

    /// A login for `target` with an explicit slot count (`None`: let the caller decide).
    pub fn new(slots: Option<NonZeroU32>, target: Target) -> Self {
        Self { slots, target }
    }

    /// The slot count `N/`, if given.
    pub fn slots(&self) -> Option<NonZeroU32> {
        self.slots
    }

    /// Where the jobs go.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// True for `:` (this machine).
    pub fn is_local(&self) -> bool {
        self.target == Target::Local
    }
}

impl FromStr for SshLogin {
    type Err = SshLoginError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for SshLogin {
    /// The canonical form, which [`SshLogin::parse`] reads back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.slots {
            write!(f, "{n}/")?;
        }
        self.target.fmt(f)
    }
}

/// Parses an `-S/--sshlogin` value: one entry or a comma-separated list of entries.
///
/// ```
/// let logins = orchestrator::launch::parse_sshlogins("2/:, 4/root@h1,h2:2222")?;
/// assert_eq!(logins.len(), 3);
/// assert_eq!(logins[2].to_string(), "h2:2222");
/// # Ok::<(), orchestrator::launch::SshLoginError>(())
/// ```
///
/// # Errors
/// The first bad entry, named (an empty entry such as in `a,,b` is one).
pub fn parse_sshlogins(value: &str) -> Result<Vec<SshLogin>, SshLoginError> {
    value.split(',').map(SshLogin::parse).collect()
}

/// Parses the text of a hosts file; `origin` names it in errors (usually the path).
///
/// One or more comma-separated entries per line; `#` starts a comment that runs to the end of
/// the line; blank lines are skipped.
///
/// # Errors
/// The first bad entry, with its line number; [`SshLoginError::NoHosts`] when the text names no
/// host at all.
pub fn parse_hosts(text: &str, origin: &str) -> Result<Vec<SshLogin>, SshLoginError> {
    let mut logins = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line
            .split_once('#')
            .map_or(line, |(before, _)| before)
            .trim();
        if line.is_empty() {
            continue;
        }
        for entry in line.split(',') {
            let login = SshLogin::parse(entry).map_err(|e| e.at(origin, index + 1))?;
            logins.push(login);
        }
    }
    if logins.is_empty() {
        return Err(SshLoginError::NoHosts {
            origin: origin.to_string(),
        });
    }
    Ok(logins)
}

/// Reads and parses a `--hosts FILE`.
///
/// # Errors
/// [`SshLoginError::Read`] if the file cannot be read (or is not UTF-8), otherwise as
/// [`parse_hosts`].
pub fn read_hosts_file(path: &Path) -> Result<Vec<SshLogin>, SshLoginError> {
    let text = std::fs::read_to_string(path).map_err(|source| SshLoginError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_hosts(&text, &path.display().to_string())
}

/// A bad sshlogin, a hosts file that cannot be read, or one with no hosts.
#[derive(Debug, thiserror::Error)]
pub enum SshLoginError {
    /// One entry is malformed.
    #[error("bad sshlogin `{entry}`{}: {problem}", location.as_ref().map(|(o, l)| format!(" (line {l} of {o})")).unwrap_or_default())]
    Entry {
        /// The entry as written (trimmed).
        entry: String,
        /// File (or other origin) and 1-based line, when the entry came from a hosts file.
        location: Option<(String, usize)>,
        /// What is wrong with it.
        problem: Problem,
    },
    /// A hosts file that names no host.
    #[error("no hosts in {origin}")]
    NoHosts {
        /// The file (or other origin).
        origin: String,
    },
    /// A hosts file that cannot be read.
    #[error("cannot read hosts file {path}: {}", crate::error::io_reason(source))]
    Read {
        /// The path given.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl SshLoginError {
    fn entry(entry: &str, problem: Problem) -> Self {
        Self::Entry {
            entry: entry.to_string(),
            location: None,
            problem,
        }
    }

    fn at(self, origin: &str, line: usize) -> Self {
        match self {
            Self::Entry { entry, problem, .. } => Self::Entry {
                entry,
                location: Some((origin.to_string(), line)),
                problem,
            },
            other => other,
        }
    }
}

/// What is wrong with an sshlogin entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// Nothing between the separators.
    #[error("empty entry")]
    Empty,
    /// `N/` is not a positive integer.
    #[error("slot count `{0}` is not a positive integer")]
    BadSlots(String),
    /// Blanks inside the entry: GNU parallel's "ssh command" form.
    #[error(
        "blanks inside an entry (GNU parallel's `ssh command` form) are not supported: put ssh options in --ssh and the port in host:port"
    )]
    Whitespace,
    /// GNU parallel's `@group/` prefix.
    #[error("host groups (`@group/`) are not supported")]
    HostGroup,
    /// `user@` with nothing before the `@`.
    #[error("empty user name before `@`")]
    EmptyUser,
    /// A user name with characters a user name cannot have.
    #[error(
        "user name `{0}` has a character that is not allowed (letters, digits, `.`, `_`, `-`, `$`)"
    )]
    BadUser(String),
    /// No host.
    #[error("empty host name")]
    EmptyHost,
    /// A host name with characters a host name cannot have, or one starting with `-`.
    #[error(
        "host name `{0}` is not valid (letters, digits, `.`, `-`, `_`, `:` for IPv6; not starting with `-`)"
    )]
    BadHost(String),
    /// `[` without its `]`, or something other than `:port` after `]`.
    #[error("bad bracketed address (write `[ipv6]` or `[ipv6]:port`)")]
    BadBrackets,
    /// The port is not a number in 1..=65535.
    #[error("port `{0}` is not a number in 1..=65535")]
    BadPort(String),
}

fn parse_entry(entry: &str) -> Result<SshLogin, Problem> {
    if entry.is_empty() {
        return Err(Problem::Empty);
    }
    if entry.chars().any(char::is_whitespace) {
        return Err(Problem::Whitespace);
    }
    if entry.starts_with('@') {
        return Err(Problem::HostGroup);
    }
    let (slots, rest) = match entry.split_once('/') {
        Some((n, rest)) => (Some(parse_slots(n)?), rest),
        None => (None, entry),
    };
    if rest == ":" {
        return Ok(SshLogin::new(slots, Target::Local));
    }
    let (user, hostport) = match rest.split_once('@') {
        Some((user, hostport)) => {
            check_user(user)?;
            (Some(user.to_string()), hostport)
        }
        None => (None, rest),
    };
    let (host, port) = split_port(hostport)?;
    check_host(host)?;
    Ok(SshLogin::new(
        slots,
        Target::Remote(RemoteHost {
            user,
            host: host.to_string(),
            port,
        }),
    ))
}

fn parse_slots(n: &str) -> Result<NonZeroU32, Problem> {
    if !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::BadSlots(n.to_string()));
    }
    n.parse::<NonZeroU32>()
        .map_err(|_| Problem::BadSlots(n.to_string()))
}

/// Splits `host[:port]`, `[v6]`, `[v6]:port`; a bare address with two or more `:` is IPv6.
fn split_port(hostport: &str) -> Result<(&str, Option<u16>), Problem> {
    if let Some(inner) = hostport.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or(Problem::BadBrackets)?;
        return match after {
            "" => Ok((host, None)),
            _ => {
                let port = after.strip_prefix(':').ok_or(Problem::BadBrackets)?;
                Ok((host, Some(parse_port(port)?)))
            }
        };
    }
    match hostport.matches(':').count() {
        0 => Ok((hostport, None)),
        1 => {
            let (host, port) = hostport.split_once(':').ok_or(Problem::EmptyHost)?;
            Ok((host, Some(parse_port(port)?)))
        }
        _ => Ok((hostport, None)),
    }
}

fn parse_port(port: &str) -> Result<u16, Problem> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(Problem::BadPort(port.to_string())),
    }
}

fn check_user(user: &str) -> Result<(), Problem> {
    if user.is_empty() {
        return Err(Problem::EmptyUser);
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '$');
    if user.starts_with('-') || !user.chars().all(ok) {
        return Err(Problem::BadUser(user.to_string()));
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), Problem> {
    if host.is_empty() {
        return Err(Problem::EmptyHost);
    }
    // `%` is an IPv6 zone (`fe80::1%eth0`), only valid together with `:`.
    let ok = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(c, '.' | '-' | '_' | ':')
            || (c == '%' && host.contains(':'))
    };
    if host.starts_with('-') || !host.chars().all(ok) {
        return Err(Problem::BadHost(host.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(login: &SshLogin) -> &RemoteHost {
        match login.target() {
            Target::Remote(h) => h,
            Target::Local => panic!("{login} parsed as local"),
        }
    }

    /// Entry, slots, user, host, port.
    type Case = (
        &'static str,
        Option<u32>,
        Option<&'static str>,
        &'static str,
        Option<u16>,
    );

    #[test]
    fn parses_every_part() {
        let cases: &[Case] = &[
            ("host", None, None, "host", None),
            ("8/host", Some(8), None, "host", None),
            ("root@10.77.0.11", None, Some("root"), "10.77.0.11", None),
            (
                "1/root@10.77.0.11",
                Some(1),
                Some("root"),
                "10.77.0.11",
                None,
            ),
            (
                "h.example.org:2222",
                None,
                None,
                "h.example.org",
                Some(2222),
            ),
            ("3/u_1@h-2:65535", Some(3), Some("u_1"), "h-2", Some(65535)),
            ("[::1]:2222", None, None, "::1", Some(2222)),
            ("[fe80::1%eth0]", None, None, "fe80::1%eth0", None),
            ("2/me@::1", Some(2), Some("me"), "::1", None),
            ("  padded  ", None, None, "padded", None),
        ];
        for &(text, slots, user, host, port) in cases {
            let login = SshLogin::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(login.slots().map(NonZeroU32::get), slots, "{text}");
            let h = remote(&login);
            assert_eq!((h.user(), h.host(), h.port()), (user, host, port), "{text}");
        }
    }

    #[test]
    fn colon_is_this_machine() {
        assert_eq!(SshLogin::parse(":").unwrap().target(), &Target::Local);
        let login = SshLogin::parse("4/:").unwrap();
        assert!(login.is_local());
        assert_eq!(login.slots().map(NonZeroU32::get), Some(4));
        assert_eq!(login.target().to_string(), ":");
    }

    #[test]
    fn display_reads_back_to_the_same_login() {
        for text in [
            ":",
            "2/:",
            "h",
            "5/u@h:22",
            "[::1]:2222",
            "u@::1",
            "[fe80::1%eth0]:22",
        ] {
            let login = SshLogin::parse(text).unwrap();
            let again = SshLogin::parse(&login.to_string()).unwrap();
            assert_eq!(login, again, "{text} -> {login}");
        }
        assert_eq!(SshLogin::parse("u@[::1]").unwrap().to_string(), "u@::1");
    }

    #[test]
    fn bad_entries_are_named_with_the_reason() {
        let cases: &[(&str, &str)] = &[
            ("", "empty entry"),
            ("0/host", "slot count `0`"),
            ("x/host", "slot count `x`"),
            ("-1/host", "slot count `-1`"),
            ("99999999999/host", "slot count `99999999999`"),
            ("ssh -p 22 host", "blanks inside an entry"),
            ("@grp/host", "host groups"),
            ("@host", "host groups"),
            ("u@", "empty host name"),
            ("u@@h", "host name `@h`"),
            ("host:", "port ``"),
            ("host:0", "port `0`"),
            ("host:65536", "port `65536`"),
            ("host:+22", "port `+22`"),
            ("host:ssh", "port `ssh`"),
            ("-oProxyCommand=x", "host name `-oProxyCommand=x`"),
            ("-l/host", "slot count `-l`"),
            ("h;rm", "host name `h;rm`"),
            ("[::1", "bracketed"),
            ("[::1]x", "bracketed"),
            ("-u@h", "user name `-u`"),
            ("a b@h", "blanks"),
            ("h%1", "host name `h%1`"),
        ];
        for &(text, want) in cases {
            let err = SshLogin::parse(text).expect_err(text).to_string();
            assert!(err.contains(want), "{text:?}: error `{err}` lacks `{want}`");
            assert!(
                err.contains(&format!("`{}`", text.trim())),
                "{text:?}: `{err}` does not name the entry"
            );
        }
    }

    #[test]
    fn comma_lists_as_in_gnu_parallel() {
        let logins = parse_sshlogins("1/:,2/a@h1,h2:22").unwrap();
        let shown: Vec<String> = logins.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["1/:", "2/a@h1", "h2:22"]);
        let err = parse_sshlogins("h1,,h2").unwrap_err().to_string();
        assert!(err.contains("empty entry"), "{err}");
    }

    #[test]
    fn hosts_file_with_comments_blank_lines_and_line_numbers() {
        let text = "# cluster\n\n2/root@10.77.0.11   # first\n  root@10.77.0.12:2222\n1/:,h3\n";
        let logins = parse_hosts(text, "hosts.txt").unwrap();
        let shown: Vec<String> = logins.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["2/root@10.77.0.11", "root@10.77.0.12:2222", "1/:", "h3"]
        );

        let err = parse_hosts("h1\n# ok\nh2:99999\n", "hosts.txt")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "bad sshlogin `h2:99999` (line 3 of hosts.txt): port `99999` is not a number in 1..=65535"
        );
        let err = parse_hosts("# nothing\n\n", "empty.txt").unwrap_err();
        assert_eq!(err.to_string(), "no hosts in empty.txt");
    }

    #[test]
    fn hosts_file_read_errors_name_the_path() {
        let err = read_hosts_file(Path::new("/nonexistent/hosts")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/hosts"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "2/:\nroot@h1\n").unwrap();
        assert_eq!(read_hosts_file(&path).unwrap().len(), 2);
    }

    #[test]
    fn remote_host_new_validates_like_parse() {
        let h = RemoteHost::new(Some("root"), "10.0.0.1", Some(22)).unwrap();
        assert_eq!(h.to_string(), "root@10.0.0.1:22");
        assert!(RemoteHost::new(None, "-bad", None).is_err());
        assert!(RemoteHost::new(Some(""), "h", None).is_err());
        assert!(RemoteHost::new(None, "h", Some(0)).is_err());
    }
}
