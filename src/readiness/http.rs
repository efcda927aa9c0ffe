//! A minimal HTTP/1.1 GET over a plain TCP stream: send one request, read the status line.
//!
//! Probes need only the status (the kubelet judges on it alone), so the headers and body are
//! never read and redirects are not followed: a 3xx is an answer in itself. An HTTP client
//! crate would cost more of the size budget than this whole module.

use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use super::{reason, remaining};

/// The status line of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    /// The reason phrase, printable ASCII only and cut short: it ends up in one output line.
    pub reason: String,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if !self.reason.is_empty() {
            write!(f, " {}", self.reason)?;
        }
        Ok(())
    }
}

/// What to ask for.
pub struct Request<'a> {
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
    /// `user:password`, already percent-decoded.
    pub credentials: Option<&'a str>,
}

/// A status line longer than this is not HTTP.
const MAX_STATUS_LINE: usize = 1024;
/// Longest reason phrase kept.
const MAX_REASON: usize = 60;

/// Sends a GET and reads the status line, all before `deadline`.
pub fn get(
    mut stream: TcpStream,
    request: &Request<'_>,
    deadline: Instant,
) -> Result<Status, String> {
    let timed_out = || "timed out waiting for the response".to_string();
    let left = remaining(deadline).ok_or_else(timed_out)?;
    stream
        .set_write_timeout(Some(left))
        .and_then(|()| stream.write_all(request.to_bytes().as_bytes()))
        .map_err(|e| format!("send the request: {}", reason(&e)))?;

    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    loop {
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            return parse_status_line(&buf[..end]);
        }
        if buf.len() > MAX_STATUS_LINE {
            return Err("the answer is not HTTP (no status line)".to_string());
        }
        let left = remaining(deadline).ok_or_else(timed_out)?;
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| format!("set the read timeout: {}", reason(&e)))?;
        match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => {
                return Err("the connection was closed without an answer".to_string());
            }
            Ok(0) => return parse_status_line(&buf),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out());
            }
            Err(e) => return Err(format!("read the answer: {}", reason(&e))),
        }
    }
}

impl Request<'_> {
    fn to_bytes(&self) -> String {
        // RFC 9112 §3.2: Host carries the port unless it is the scheme's default; an IPv6
        // literal goes in brackets.
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.to_string()
        };
        let host = if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        };
        let mut text = format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: usher/{}\r\nAccept: */*\r\n\
             Connection: close\r\n",
            self.path,
            env!("CARGO_PKG_VERSION")
        );
        if let Some(credentials) = self.credentials {
            text.push_str("Authorization: Basic ");
            text.push_str(&base64(credentials.as_bytes()));
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        text
    }
}

/// `HTTP/1.1 200 OK` → 200, "OK".
fn parse_status_line(line: &[u8]) -> Result<Status, String> {
    let line = String::from_utf8_lossy(line);
    let line = line.trim_end_matches('\r');
    let not_http = || {
        let shown: String = line
            .chars()
            .take(40)
            .map(|c| if c.is_ascii_graphic() { c } else { ' ' })
            .collect();
        format!("the answer is not HTTP: {:?}", shown.trim())
    };
    let rest = line.strip_prefix("HTTP/").ok_or_else(not_http)?;
    let mut parts = rest.splitn(3, ' ');
    let _version = parts.next();
    let code = parts
        .next()
        .filter(|c| c.len() == 3)
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (100..=599).contains(c))
        .ok_or_else(not_http)?;
    let reason: String = parts
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| *c == ' ' || c.is_ascii_graphic())
        .take(MAX_REASON)
        .collect();
    Ok(Status {
        code,
        reason: reason.trim().to_string(),
    })
}

/// Standard base64 with padding (RFC 4648 §4), for Basic authorization.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 200 OK\r"),
            Ok(Status {
                code: 200,
                reason: "OK".into()
            })
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.0 503 Service Unavailable"),
            Ok(Status {
                code: 503,
                reason: "Service Unavailable".into()
            })
        );
        // The reason phrase is optional (RFC 9112 §4).
        assert_eq!(
            parse_status_line(b"HTTP/1.1 204").unwrap().to_string(),
            "204"
        );
        assert!(
            parse_status_line(b"SSH-2.0-OpenSSH_9.6")
                .unwrap_err()
                .contains("SSH-2.0")
        );
        assert!(parse_status_line(b"HTTP/1.1 2000 Big").is_err());
        assert!(parse_status_line(b"HTTP/1.1 099 Low").is_err());
        let long = format!("HTTP/1.1 500 {}\x1b[31m", "x".repeat(200));
        let status = parse_status_line(long.as_bytes()).unwrap();
        assert_eq!(status.reason.len(), MAX_REASON);
        assert!(!status.reason.contains('\x1b'));
    }

    #[test]
    fn request_bytes() {
        let r = Request {
            host: "::1",
            port: 8080,
            path: "/healthz?x=1",
            credentials: Some("me:p@ss"),
        };
        let text = r.to_bytes();
        assert!(
            text.starts_with("GET /healthz?x=1 HTTP/1.1\r\nHost: [::1]:8080\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.contains(concat!("User-Agent: usher/", env!("CARGO_PKG_VERSION"))));
        assert!(text.contains("Authorization: Basic bWU6cEBzcw==\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        let plain = Request {
            host: "api",
            port: 80,
            path: "/",
            credentials: None,
        };
        assert!(plain.to_bytes().contains("\r\nHost: api\r\n"));
        assert!(!plain.to_bytes().contains("Authorization"));
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), output);
        }
    }
}
