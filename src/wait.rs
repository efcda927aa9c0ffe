//! Waiting for dependencies before the app starts: `--wait tcp://…`, `http://…`, `unix://…`,
//! `file://…`, all in parallel within `--wait-timeout`.

use std::time::Instant;

use crate::config::WaitSettings;
use crate::exit::{Error, Result};
use crate::signals::Startup;

/// One dependency, parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Tcp {
        host: String,
        port: u16,
    },
    Http {
        host: String,
        port: u16,
        path: String,
    },
    Unix(std::path::PathBuf),
    File(std::path::PathBuf),
}

impl Target {
    /// Parses a `--wait` URL; the error is the fix to show the user.
    pub fn parse(url: &str) -> std::result::Result<Target, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            "use tcp://HOST:PORT, http://HOST:PORT/PATH, unix:///PATH or file:///PATH".to_string()
        })?;
        match scheme {
            "tcp" => {
                let (host, port) = host_port(rest.trim_end_matches('/'), None)?;
                Ok(Target::Tcp { host, port })
            }
            "http" => {
                let (authority, path) = match rest.find('/') {
                    Some(i) => (&rest[..i], &rest[i..]),
                    None => (rest, "/"),
                };
                let (host, port) = host_port(authority, Some(80))?;
                Ok(Target::Http {
                    host,
                    port,
                    path: path.to_string(),
                })
            }
            "unix" | "file" if rest.starts_with('/') => {
                let path = std::path::PathBuf::from(rest);
                Ok(if scheme == "unix" {
                    Target::Unix(path)
                } else {
                    Target::File(path)
                })
            }
            "unix" | "file" => Err(format!("use an absolute path: {scheme}:///path/to/it")),
            "https" => Err("https is not supported; wait on tcp://HOST:443 instead".to_string()),
            _ => Err(format!(
                "unknown scheme {scheme:?}; use tcp, http, unix or file"
            )),
        }
    }
}

fn host_port(authority: &str, default: Option<u16>) -> std::result::Result<(String, u16), String> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, Some(p)),
        _ => (authority, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("the host is missing: tcp://HOST:PORT".to_string());
    }
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| format!("{p:?} is not a port number"))?,
        None => default.ok_or_else(|| "the port is missing: tcp://HOST:PORT".to_string())?,
    };
    Ok((host.to_string(), port))
}

pub fn dependencies(settings: &WaitSettings, _deadline: Instant, _startup: &Startup) -> Result<()> {
    if settings.targets.is_empty() {
        return Ok(());
    }
    Err(Error::config("--wait is being built"))
}
