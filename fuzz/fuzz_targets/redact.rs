//! Property: a password that a URL parser in use accepts — the `url` crate's (sqlx's parser:
//! the userinfo password, `password=`-like query values), or usher's own readiness parser's
//! (`http://` for `--wait`/`usher health`) — never survives redaction, in any message quoting
//! the URL, in the form written or percent-decoded. (A password of one to three characters is
//! checked where it stands as a userinfo password: it is not masked wherever its characters
//! occur.)
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
    secrets.retain(|s| !s.is_empty());
    if secrets.is_empty() {
        return;
    }
    let forms = redact::secret_forms(text);
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
