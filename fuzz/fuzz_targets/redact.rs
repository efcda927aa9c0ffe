//! Property: a password that a URL parser in use accepts — the `url` crate's (sqlx's parser:
//! the userinfo password, `password=`-like query values), or usher's own readiness parser's
//! (`http://` for `--wait`/`usher health`) — never survives redaction, in any message quoting
//! the URL, in the form written or percent-decoded. (A password of one to three characters is
//! checked where it stands as a userinfo password: it is not masked wherever its characters
//! occur.)
//!
//! The same holds for the password as a person reads it where those parsers read none or a
//! shorter one (`http://u:Hunter2#Pa55@h/`, `postgres:u:Hunter2@h/db`: the userinfo runs to
//! the last `@`), for a value usher was given (`redact::registered_forms`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/redact.rs"]
#[allow(dead_code)]
mod redact;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
});

const SECRET_PARAMS: &[&str] = &["password", "sslpassword", "pass", "pwd"];

fn check(text: &str) {
    let mut secrets: Vec<String> = Vec::new();
    if let Ok(url) = url::Url::parse(text) {
        if let Some(p) = url.password() {
            secrets.push(p.to_string());
            if let Ok(decoded) = percent_decode(p) {
                secrets.push(decoded);
            }
        }
        for (key, value) in url.query_pairs() {
            if SECRET_PARAMS.iter().any(|p| key.eq_ignore_ascii_case(p)) {
                secrets.push(value.into_owned());
            }
        }
    }
    secrets.extend(readiness_passwords(text));
    secrets.extend(read_as_written(text));
    secrets.retain(|s| !s.is_empty());
    if secrets.is_empty() {
        return;
    }
    let forms = redact::registered_forms(text);
    for message in [
        text.to_string(),
        format!("error connecting to {text}: timed out"),
        format!("{text:?} is bad"),
    ] {
        let out = redact::redact_with(&message, &forms);
        for secret in &secrets {
            // A password shorter than MIN_MASKED_ANYWHERE is masked where it stands as the
            // userinfo password, not wherever its characters occur.
            let shown = if secret.chars().count() < redact::MIN_MASKED_ANYWHERE {
                format!(":{secret}@")
            } else {
                secret.clone()
            };
            assert!(
                !out.contains(shown.as_str()),
                "{shown:?} survives in {out:?} (input {text:?})"
            );
        }
    }
}

/// The password as usher's readiness parser (src/readiness/mod.rs, `Target::parse`) reads an
/// `http://` URL: the authority ends at the first '/' or '?' (after the fragment is cut), the
/// userinfo at its last '@'; the userinfo is percent-decoded and sent as Basic credentials.
fn readiness_passwords(url: &str) -> Vec<String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Vec::new();
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some((userinfo, _)) = rest[..end].rsplit_once('@') else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if let Some((_, raw)) = userinfo.split_once(':') {
        found.push(raw.to_string());
    }
    if let Ok(decoded) = percent_decode(userinfo)
        && let Some((_, password)) = decoded.split_once(':')
    {
        found.push(password.to_string());
    }
    found
}

/// The password as written, read without a parser's rules: after `scheme:` and any slashes
/// or backslashes, the userinfo ends at the last '@' of the value, the password starts after
/// its first ':' — and percent-decoded.
fn read_as_written(text: &str) -> Vec<String> {
    let text = text.trim_start_matches(|c: char| c <= ' ');
    let Some(colon) = text.find(':') else {
        return Vec::new();
    };
    let scheme = &text[..colon];
    if !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return Vec::new();
    }
    let rest = text[colon + 1..].trim_start_matches(['/', '\\']);
    let Some(at) = rest.rfind('@') else {
        return Vec::new();
    };
    let Some((_, password)) = rest[..at].split_once(':') else {
        return Vec::new();
    };
    let mut found = vec![password.to_string()];
    if let Ok(decoded) = percent_decode(password) {
        found.push(decoded);
    }
    found
}

/// Strict percent-decoding, as usher's readiness parser does it.
fn percent_decode(text: &str) -> Result<String, ()> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}
