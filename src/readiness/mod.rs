//! Readiness checks shared by `--wait` and `usher health`: what a target is (parsed from its
//! URL), one attempt at reaching it bounded by a deadline, and the inbox through which
//! attempts made on other threads are waited for together with the stop signal.
//!
//! The rules of what counts as ready (2xx/3xx for `--wait`, `--expect-status` for a probe)
//! belong to the callers; this module only reports what it reached.

mod http;
mod inbox;

use std::fmt;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use http::Status;
pub use inbox::{Inbox, Next, Report, Sender, channel};

/// One dependency or probe target, parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `tcp://host:port`: a connection is accepted.
    Tcp { host: String, port: u16 },
    /// `http://[user:password@]host[:port][/path]`: an HTTP/1.1 GET gets a status line.
    Http {
        host: String,
        port: u16,
        /// The request target: path and query, never empty.
        path: String,
        /// `user:password` from the URL, percent-decoded, sent as Basic authorization.
        credentials: Option<String>,
    },
    /// `unix:///path/to.sock`: a connection is accepted.
    Unix(PathBuf),
    /// `file:///path`: the path exists.
    File(PathBuf),
}

/// What one successful attempt reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reached {
    Connected,
    Exists,
    /// An HTTP answer, whatever its status: judging it is the caller's rule.
    Http(Status),
}

impl fmt::Display for Reached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reached::Connected => f.write_str("connected"),
            Reached::Exists => f.write_str("exists"),
            Reached::Http(status) => status.fmt(f),
        }
    }
}

const FORMS: &str = "use tcp://HOST:PORT, http://HOST:PORT/PATH, unix:///PATH or file:///PATH";

impl Target {
    /// Parses a `--wait` or `usher health` URL; the error is the fix to show the user.
    pub fn parse(url: &str) -> Result<Target, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| FORMS.to_string())?;
        match scheme {
            "tcp" => {
                // Nothing of what was written is quoted back: a user or password put in a
                // tcp:// URL must not be echoed in part as a "host" or "port".
                if rest.contains('@') {
                    return Err(
                        "a tcp:// target takes no user or password: tcp://HOST:PORT".to_string()
                    );
                }
                let (host, port) = host_port(rest.trim_end_matches('/'), None)?;
                Ok(Target::Tcp { host, port })
            }
            "http" => {
                // The authority ends at the first '/', '?' or '#' (RFC 3986 §3.2); a password
                // holding one of those must be percent-encoded.
                let rest = rest.split('#').next().unwrap_or_default();
                let end = rest.find(['/', '?']).unwrap_or(rest.len());
                let (authority, path) = rest.split_at(end);
                let (credentials, authority) = match authority.rsplit_once('@') {
                    Some((userinfo, host)) => (Some(percent_decode(userinfo)?), host),
                    None => (None, authority),
                };
                // A password holding an unencoded '/', '?' or '#' ends the authority early:
                // the error says so without quoting any of it.
                let (host, port) = host_port(authority, Some(80)).map_err(|e| {
                    match !authority.contains('@') && url.contains('@') {
                        true => format!(
                            "{e}; a password holding '/', '?' or '#' must be percent-encoded \
                             (%2F, %3F, %23)"
                        ),
                        false => e,
                    }
                })?;
                if path.contains(|c: char| c.is_ascii_whitespace() || c.is_ascii_control()) {
                    return Err(
                        "the path holds a space or control character; percent-encode it (%20)"
                            .to_string(),
                    );
                }
                let path = match path {
                    "" => "/".to_string(),
                    p if p.starts_with('?') => format!("/{p}"),
                    p => p.to_string(),
                };
                Ok(Target::Http {
                    host,
                    port,
                    path,
                    credentials,
                })
            }
            "unix" | "file" if rest.starts_with('/') => {
                let path = PathBuf::from(rest);
                Ok(if scheme == "unix" {
                    Target::Unix(path)
                } else {
                    Target::File(path)
                })
            }
            "unix" | "file" => Err(format!("use an absolute path: {scheme}:///path/to/it")),
            "https" => Err(
                "https is not supported; wait on tcp://HOST:443, or probe a plain-HTTP port"
                    .to_string(),
            ),
            // The scheme is quoted only when it is one: anything else may hold a secret.
            _ if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
            {
                Err(format!(
                    "unknown scheme {scheme:?}; use tcp, http, unix or file"
                ))
            }
            _ => Err(FORMS.to_string()),
        }
    }

    /// One attempt, given up at `deadline`: what was reached, or why not (short, for a log
    /// line; it never holds the URL's password).
    ///
    /// Name resolution has no timeout of its own (getaddrinfo offers none); callers run
    /// attempts on a thread and stop waiting for it at their deadline.
    pub fn attempt(&self, deadline: Instant) -> Result<Reached, String> {
        match self {
            Target::Tcp { host, port } => {
                connect(host, *port, deadline).map(|_| Reached::Connected)
            }
            Target::Http {
                host,
                port,
                path,
                credentials,
            } => {
                let stream = connect(host, *port, deadline)?;
                let request = http::Request {
                    host,
                    port: *port,
                    path,
                    credentials: credentials.as_deref(),
                };
                http::get(stream, &request, deadline).map(Reached::Http)
            }
            // A local connect either succeeds or fails at once: no timeout needed.
            Target::Unix(path) => UnixStream::connect(path)
                .map(|_| Reached::Connected)
                .map_err(|e| format!("connect: {}", reason(&e))),
            Target::File(path) => std::fs::metadata(path)
                .map(|_| Reached::Exists)
                .map_err(|e| reason(&e)),
        }
    }
}

/// Connects to the first address of `host` that accepts, within `deadline`. A name that does
/// not resolve is an ordinary failed attempt: a Compose service is in DNS only once its
/// container has started.
fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            // std prefixes getaddrinfo's own message with this; the name is already said.
            let why = reason(&e);
            let why = why
                .strip_prefix("failed to lookup address information: ")
                .unwrap_or(&why);
            format!("cannot resolve {host}: {}", why.to_ascii_lowercase())
        })?
        .collect();
    // The address is not named in the error: the URL beside it says host and port, and
    // formatting socket addresses costs several KB of the size budget.
    let mut last = format!("{host} resolves to no address");
    for addr in addrs {
        let left = remaining(deadline).ok_or("connect: timed out")?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = format!("connect: {}", reason(&e)),
        }
    }
    Err(last)
}

/// Time left before `deadline`, or `None` once it has passed (a zero timeout means "block
/// forever" to the socket calls, so it must never reach them).
pub(crate) fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

/// An I/O error as a short lower-case reason, without the "(os error N)" suffix.
pub(crate) fn reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".to_string(),
        NotFound => "does not exist".to_string(),
        PermissionDenied => "permission denied".to_string(),
        TimedOut | WouldBlock => "timed out".to_string(),
        _ => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or_default();
            // ASCII only: the messages are English, and Unicode case tables cost size.
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                None => "unknown error".to_string(),
            }
        }
    }
}

fn host_port(authority: &str, default: Option<u16>) -> Result<(String, u16), String> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, Some(p)),
        _ => (authority, None),
    };
    // An IPv6 literal without brackets (::1) splits at its last colon above; refuse it rather
    // than connect to a wrong port.
    if host.contains(':') && !host.starts_with('[') {
        return Err("put an IPv6 address in brackets: tcp://[::1]:PORT".to_string());
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("the host is missing: tcp://HOST:PORT".to_string());
    }
    // Neither the host nor the port is quoted: either may be part of a password.
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| "the port is not a number up to 65535".to_string())?,
        None => default.ok_or_else(|| "the port is missing: tcp://HOST:PORT".to_string())?,
    };
    Ok((host.to_string(), port))
}

/// `%40` → `@`, for credentials in a URL.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(
                    "a '%' in the user or password is not followed by two hex digits; write %25",
                )?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the user or password is not UTF-8 once decoded".to_string())
}

/// A configured duration as the user would write it: `60s`, `500ms`, `1.5s`.
pub fn setting(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", tenths(d))
    }
}

/// How long something took, for log lines and probe output: `3 ms`, `1.2 s`.
pub fn elapsed(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", tenths(d))
    }
}

/// Seconds to a tenth, truncated, without a trailing `.0`: integer arithmetic, because
/// float formatting with a precision costs several KB of the size budget.
fn tenths(d: Duration) -> String {
    let tenths = d.as_millis() / 100;
    match tenths % 10 {
        0 => format!("{}", tenths / 10),
        t => format!("{}.{t}", tenths / 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(host: &str, port: u16, path: &str, credentials: Option<&str>) -> Target {
        Target::Http {
            host: host.into(),
            port,
            path: path.into(),
            credentials: credentials.map(Into::into),
        }
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            Target::parse("tcp://db:5432"),
            Ok(Target::Tcp {
                host: "db".into(),
                port: 5432
            })
        );
        assert_eq!(
            Target::parse("tcp://[::1]:6379/"),
            Ok(Target::Tcp {
                host: "::1".into(),
                port: 6379
            })
        );
        assert_eq!(
            Target::parse("http://api:8080/healthz?full=1"),
            Ok(http("api", 8080, "/healthz?full=1", None))
        );
        assert_eq!(Target::parse("http://api"), Ok(http("api", 80, "/", None)));
        assert_eq!(
            Target::parse("http://api:81?x#frag"),
            Ok(http("api", 81, "/?x", None))
        );
        assert_eq!(
            Target::parse("http://me:p%40ss@api:8080/"),
            Ok(http("api", 8080, "/", Some("me:p@ss")))
        );
        assert_eq!(
            Target::parse("unix:///run/app.sock"),
            Ok(Target::Unix("/run/app.sock".into()))
        );
        assert_eq!(
            Target::parse("file:///tmp/ready"),
            Ok(Target::File("/tmp/ready".into()))
        );
    }

    #[test]
    fn errors_say_the_fix() {
        for (url, fix) in [
            ("db:5432", "tcp://HOST:PORT"),
            ("tcp://db", "port is missing"),
            ("tcp://:5432", "host is missing"),
            ("tcp://db:http", "port is not a number"),
            ("tcp://u:pw@db:5432", "no user or password"),
            ("http://u:pw#x@db/", "percent-encoded"),
            ("u:pw@x://y", "tcp://HOST:PORT"),
            ("tcp://::1:80", "brackets"),
            ("unix://run/app.sock", "absolute path"),
            ("https://api/", "tcp://HOST:443"),
            ("ftp://x/", "unknown scheme"),
            ("http://api/a b", "percent-encode"),
            ("http://u:100%@api/", "%25"),
        ] {
            let e = Target::parse(url).unwrap_err();
            assert!(e.contains(fix), "{url}: {e}");
        }
    }

    /// A password holding a character that ends the authority early ('#', '/', '?', '\\') or
    /// a space: no error of the parser quotes any part of it.
    #[test]
    fn errors_never_quote_a_userinfo() {
        for pass in [
            "Hunter2#Pa55",
            "Hunter2/Pa55",
            "Hunter2?Pa55",
            "Hunter2\\Pa55",
            "#Hunter2Pa55",
            "Hunter2Pa55#",
            "Hun/ter2?Pa55#word",
            "Hunter2 Pa55#x",
            "Hunter2:Pa55/x",
        ] {
            for url in [
                format!("http://user:{pass}@127.0.0.1:1/healthz"),
                format!("http://user:{pass}@db/"),
                format!("http://user:{pass}@[::1]:8080/x"),
                format!("tcp://user:{pass}@db:5432"),
                format!("tcp://user:{pass}@db"),
                format!("user:{pass}@db://x"),
            ] {
                let Err(e) = Target::parse(&url) else {
                    continue;
                };
                for part in ["Hunter2", "Pa55", "ter2", "user:"] {
                    assert!(!e.contains(part), "{url}: {e}");
                }
            }
        }
    }

    #[test]
    fn durations_read_like_flags() {
        assert_eq!(setting(Duration::from_secs(60)), "60s");
        assert_eq!(setting(Duration::from_millis(500)), "500ms");
        assert_eq!(setting(Duration::from_millis(1500)), "1.5s");
        assert_eq!(elapsed(Duration::from_millis(3)), "3 ms");
        assert_eq!(setting(Duration::from_millis(90_050)), "90s");
        assert_eq!(elapsed(Duration::from_millis(1250)), "1.2 s");
        assert_eq!(elapsed(Duration::from_millis(2000)), "2 s");
    }

    #[test]
    fn attempts_report_what_they_reached() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let soon = || Instant::now() + Duration::from_secs(5);
        let tcp = Target::parse(&format!("tcp://127.0.0.1:{port}")).unwrap();
        assert_eq!(tcp.attempt(soon()), Ok(Reached::Connected));
        drop(listener);
        let e = tcp.attempt(soon()).unwrap_err();
        assert_eq!(e, "connect: connection refused");
        let file = Target::File("/nonexistent/usher".into());
        assert_eq!(file.attempt(soon()), Err("does not exist".to_string()));
        assert_eq!(
            Target::File("/".into()).attempt(soon()),
            Ok(Reached::Exists)
        );
        let past = Instant::now() - Duration::from_millis(1);
        assert!(tcp.attempt(past).unwrap_err().contains("timed out"));
    }
}
