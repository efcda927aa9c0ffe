//! Redaction: the one function every message goes through before it is printed — log lines,
//! probe output, errors printed before logging starts.
//!
//! Two layers. First, the *known* secrets: every URL usher is given (arguments, environment,
//! `NAME_FILE` values) is parsed by its structure, the way the `url` crate (sqlx's URL parser)
//! and usher's own readiness parser read it, and its password — the userinfo password and the
//! values of `password=`-like query parameters — is registered with every form a message could
//! show it in (as written, percent-decoded, percent-encoded as the `url` crate and sqlx
//! re-encode it, Debug-escaped). Every occurrence of any of them, anywhere in a message, is
//! masked: a password with a space, a quote or an `@` cannot end a "word" early and slip out.
//! Second, a scan for secrets that were never registered (a driver quoting some other URL):
//! `scheme://user:secret@` and `password=secret` patterns.
//!
//! This module is pure std, so the fuzz targets in `fuzz/` include it as it is.

#[cfg(not(test))]
use std::sync::Mutex;

const MASK: &str = "****";

/// Query-parameter names whose values are secrets (compared case-insensitively).
const SECRET_PARAMS: &[&str] = &["password", "sslpassword", "pass", "pwd"];

/// Secrets registered by `register_url`, in every printable form, longest first. A process-wide
/// registry rather than a value passed around: the log subscriber, which is process-wide too,
/// must mask them in every line, including lines from libraries that never saw the URL.
#[cfg(not(test))]
static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[cfg(not(test))]
fn with_known<R>(f: impl FnOnce(&mut Vec<String>) -> R) -> R {
    f(&mut KNOWN.lock().unwrap_or_else(|e| e.into_inner()))
}

// Unit tests run in parallel threads: each keeps its own registry, so the secrets one test
// registers never mask another's expected output.
#[cfg(test)]
thread_local! {
    static KNOWN: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(test)]
fn with_known<R>(f: impl FnOnce(&mut Vec<String>) -> R) -> R {
    KNOWN.with(|k| f(&mut k.borrow_mut()))
}

/// Registers the passwords `value` holds when it is a URL, so that every later message masks
/// them. Values that are not URLs, or URLs without a password, register nothing.
pub fn register_url(value: &str) {
    let found = registered_forms(value);
    if found.is_empty() {
        return;
    }
    with_known(|known| {
        for form in found {
            if !known.contains(&form) {
                // Inserted in place, longest first, rather than sorted: a slice sort would
                // link a whole sort implementation (~3 KB) for this one list.
                let at = known.iter().position(|k| k.len() < form.len());
                known.insert(at.unwrap_or(known.len()), form);
            }
        }
    });
}

/// `text` with every known secret, the password of `text` itself when it is a URL, and every
/// URL-password or `password=` pattern replaced by `****`.
pub fn redact(text: &str) -> String {
    // `text` itself may be a URL; one already redacted (`user:****@`) is not masked again.
    let mut secrets: Vec<String> = secret_forms(text)
        .into_iter()
        .filter(|s| s != MASK)
        .collect();
    with_known(|known| secrets.extend(known.iter().cloned()));
    redact_with(text, &secrets)
}

/// `redact` with an explicit list of secrets instead of the registry (pure; for tests and
/// fuzzing).
pub fn redact_with(text: &str, secrets: &[String]) -> String {
    let masked = mask(text, secrets);
    let scanned = redact_params(&redact_userinfo(&masked));
    // The scan only replaces text by `****`, which could complete a secret holding `*`.
    mask(&scanned, secrets)
}

/// Every form in which a message could show the passwords of the URL `value`: empty when
/// `value` is not a URL or holds no password.
pub fn secret_forms(value: &str) -> Vec<String> {
    forms_of(passwords(value))
}

/// What `register_url` registers for a value usher was given: `secret_forms`, and the forms
/// of the passwords a looser reading finds (`loose_passwords`). Only given values are read
/// loosely, never the messages being redacted.
pub fn registered_forms(value: &str) -> Vec<String> {
    let mut raws = passwords(value);
    for p in loose_passwords(value) {
        if !raws.contains(&p) {
            raws.push(p);
        }
    }
    forms_of(raws)
}

/// The password of `value` read as a person would write it, when the parsers read none or a
/// shorter one: after `scheme:` (and any slashes), the userinfo runs to the *last* `@` of the
/// value and the password from its first `:`. A password holding an unencoded `#`, `/` or
/// `?` ends the authority early for the parsers (`http://u:Hunter2#Pa55@h/`), and a value
/// without `//` has no authority for them at all (`postgres:u:Hunter2@h/db`); either is still
/// quoted whole by messages about it.
pub fn loose_passwords(value: &str) -> Vec<String> {
    let value = value.trim_start_matches(|c: char| c <= ' ');
    let Some((scheme, rest)) = value.split_once(':') else {
        return Vec::new();
    };
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let rest = rest.trim_start_matches(['/', '\\']);
    let password = rest
        .rsplit_once('@')
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password);
    match password {
        Some(p) if is_scheme && !p.is_empty() => vec![p.to_string()],
        _ => Vec::new(),
    }
}

/// Every printable form of each of the passwords `raws`.
fn forms_of(raws: Vec<String>) -> Vec<String> {
    let mut forms = Vec::new();
    for raw in raws {
        let mut add = |s: String| {
            if !s.is_empty() && !forms.contains(&s) {
                forms.push(s);
            }
        };
        // The WHATWG parser (the `url` crate) drops tabs and newlines anywhere in the input.
        let parsed: String = raw
            .chars()
            .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
            .collect();
        // It also trims C0 controls and spaces at both ends of the input, which may end a
        // query value: both readings are kept.
        let c0 = |c: char| c <= ' ';
        let readings = [
            parsed.trim_end_matches(c0).to_string(),
            parsed.trim_start_matches(c0).to_string(),
            parsed.trim_matches(c0).to_string(),
            parsed,
        ];
        for parsed in readings {
            let decoded = percent_decode(&parsed, false);
            let form_decoded = percent_decode(&parsed, true);
            for s in [&parsed, &decoded, &form_decoded] {
                with_escapes(s).into_iter().for_each(&mut add);
            }
            add(userinfo_encode(&parsed));
            add(encode_non_alphanumeric(&decoded));
            add(encode_non_alphanumeric(&decoded).to_ascii_lowercase());
            add(encode_non_alphanumeric(&form_decoded));
        }
        with_escapes(&raw).into_iter().for_each(&mut add);
    }
    forms
}

/// `s` as written, as `escape_debug`, `escape_default` and Debug output (`{:?}`) show it. Built
/// with `format!` rather than `.to_string()`, which would inline each escape iterator into a
/// copy of its own string building (~4 KB).
fn with_escapes(s: &str) -> [String; 4] {
    // `{:?}` of a string escapes `"` but not `'`, unlike `escape_debug`.
    let debug = format!("{s:?}");
    [
        s.to_string(),
        format!("{}", s.escape_debug()),
        format!("{}", s.escape_default()),
        debug[1..debug.len() - 1].to_string(),
    ]
}

/// The password substrings of `value` as written, when it is a URL: the userinfo password
/// and the values of secret query parameters.
///
/// The authority is found as the WHATWG URL standard (the `url` crate) finds it: after
/// `scheme:` and `//` (any mix of `/` and `\`, or none, for the special schemes http, https,
/// ws, wss, ftp), up to the first `/`, `?` or `#` (or `\` for special schemes); the userinfo
/// ends at the *last* `@` in it, and the password starts after its first `:`. usher's own
/// `--wait`/`health` parser reads `http://` URLs the same way.
pub fn passwords(value: &str) -> Vec<String> {
    let mut found = Vec::new();
    // Most environment values are not URLs: the exec path pays one scan for them.
    if !value.contains(':') {
        return found;
    }
    // Positions in `value` of its characters, without the tabs and newlines the parser drops,
    // so the password is returned as written, tabs included.
    let chars: Vec<(usize, char)> = value
        .char_indices()
        .filter(|(_, c)| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let text_of = |from: usize, to: usize| -> String {
        // What lies in `value` between the delimiter before character `from` and character
        // `to` (or the end): the text as written, tabs and newlines included, which usher's
        // readiness parser keeps.
        let start = chars[from - 1].0 + chars[from - 1].1.len_utf8();
        let end = chars.get(to).map_or(value.len(), |c| c.0);
        value.get(start..end).unwrap_or_default().to_string()
    };
    // Leading C0 controls and spaces are ignored by the parser.
    let mut i = 0;
    while i < chars.len() && chars[i].1 <= ' ' {
        i += 1;
    }
    let scheme_start = i;
    if i >= chars.len() || !chars[i].1.is_ascii_alphabetic() {
        return found;
    }
    while i < chars.len() && (chars[i].1.is_ascii_alphanumeric() || "+-.".contains(chars[i].1)) {
        i += 1;
    }
    if i >= chars.len() || chars[i].1 != ':' {
        return found;
    }
    let scheme: String = chars[scheme_start..i]
        .iter()
        .map(|(_, c)| c.to_ascii_lowercase())
        .collect();
    i += 1;
    let special = matches!(scheme.as_str(), "http" | "https" | "ws" | "wss" | "ftp");
    let has_authority = if special {
        while i < chars.len() && matches!(chars[i].1, '/' | '\\') {
            i += 1;
        }
        true
    } else if i + 1 < chars.len() && chars[i].1 == '/' && chars[i + 1].1 == '/' {
        i += 2;
        true
    } else {
        false
    };
    let mut query_start = None;
    if has_authority {
        // A special scheme's authority also ends at a backslash for the `url` crate, but not
        // for usher's readiness parser: both readings are taken.
        let start = i;
        let mut ends = Vec::new();
        for backslash_ends in [special, false] {
            let end = (start..chars.len())
                .find(|&k| match chars[k].1 {
                    '/' | '?' | '#' => true,
                    '\\' => backslash_ends,
                    _ => false,
                })
                .unwrap_or(chars.len());
            if let Some(at) = (start..end).rev().find(|&k| chars[k].1 == '@') {
                // The password starts after the first ':' — or after a first `%3A`, as usher's
                // readiness parser decodes the whole userinfo before splitting it.
                let colon = (start..at).find(|&k| chars[k].1 == ':');
                let encoded = (start..at.saturating_sub(2)).find(|&k| {
                    chars[k].1 == '%'
                        && chars[k + 1].1 == '3'
                        && chars[k + 2].1.eq_ignore_ascii_case(&'a')
                });
                if let Some(colon) = colon {
                    found.push(text_of(colon + 1, at));
                }
                if let Some(encoded) = encoded.filter(|e| colon.is_none_or(|c| *e < c)) {
                    found.push(text_of(encoded + 3, at));
                }
            }
            ends.push(end);
        }
        i = ends[0];
    }
    // The query: after the first '?', up to '#'; pairs `key=value` split at '&' (the `url`
    // crate's reading) — and, read a second time, also at ';', which some drivers accept.
    while i < chars.len() {
        match chars[i].1 {
            '?' if query_start.is_none() => query_start = Some(i + 1),
            '#' => break,
            _ => {}
        }
        i += 1;
    }
    if let Some(q) = query_start {
        for semicolon_splits in [false, true] {
            let mut pair_start = q;
            for k in q..=i {
                if k == i || chars[k].1 == '&' || (semicolon_splits && chars[k].1 == ';') {
                    if let Some(eq) = (pair_start..k).find(|&e| chars[e].1 == '=') {
                        // The key as the parser sees it: without the tabs and newlines it
                        // drops.
                        let key: String = chars[pair_start..eq].iter().map(|(_, c)| c).collect();
                        let key = percent_decode(&key, true);
                        if SECRET_PARAMS.iter().any(|p| key.eq_ignore_ascii_case(p)) {
                            found.push(text_of(eq + 1, k));
                        }
                    }
                    pair_start = k + 1;
                }
            }
        }
    }
    found.retain(|p| !p.is_empty());
    let mut seen = Vec::new();
    found.retain(|p| {
        let new = !seen.contains(p);
        seen.push(p.clone());
        new
    });
    found
}

/// Secrets this long are masked wherever they appear; shorter ones only where a URL shows a
/// password (`:pw@`, `=pw&`): masking every `p` of a message for the password `p` would make
/// it unreadable, and a password of one to three characters is no secret anyway.
pub const MIN_MASKED_ANYWHERE: usize = 4;

/// Replaces the secrets in `text` (see `MIN_MASKED_ANYWHERE`), until none is left.
///
/// The mask never holds the secret it replaces (`****` for a secret with a character other
/// than `*`, `[hidden]` for one made of stars only), so each round removes characters of the
/// secret and the loop ends; a message still holding a secret after a few rounds (secrets
/// that complete one another) is hidden whole.
fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for _ in 0..8 {
        let mut changed = false;
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            let mask = if secret.chars().all(|c| c == '*') {
                "[hidden]"
            } else {
                MASK
            };
            if secret.chars().count() < MIN_MASKED_ANYWHERE {
                if let Some(masked) = mask_in_place(&out, secret, mask) {
                    out = masked;
                    changed = true;
                }
            } else if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), mask);
                changed = true;
            }
        }
        if !changed {
            return out;
        }
    }
    let hidden = "[a message holding a secret was hidden]";
    match secrets
        .iter()
        .any(|s| s.chars().count() >= MIN_MASKED_ANYWHERE && hidden.contains(s.as_str()))
    {
        false => hidden.to_string(),
        true => String::new(),
    }
}

/// `text` with `secret` masked where it stands as a URL password: after `:` (or `%3A`) and
/// before `@`, or after `=` and before the end of a parameter. `None`: nothing to mask.
fn mask_in_place(text: &str, secret: &str, mask: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    // `copied`: how much of `text` is in `out`; `from`: where the next search starts. The
    // context of a match is read in `text` itself, so a match right after another (the
    // password `:` in `u::@h`) still sees the `:` before it.
    let (mut copied, mut from) = (0, 0);
    while let Some(found) = text[from..].find(secret) {
        let pos = from + found;
        let before = &text.as_bytes()[..pos];
        let after = &text[pos + secret.len()..];
        let encoded_colon =
            before.len() >= 3 && before[before.len() - 3..].eq_ignore_ascii_case(b"%3a");
        let userinfo = (before.ends_with(b":") || encoded_colon) && after.starts_with('@');
        let parameter = before.ends_with(b"=")
            && after.chars().next().is_none_or(|c| {
                c.is_whitespace() || matches!(c, '&' | '#' | ';' | '"' | '\'' | ',')
            });
        if userinfo || parameter {
            out.push_str(&text[copied..pos]);
            out.push_str(mask);
            copied = pos + secret.len();
            from = copied;
        } else {
            // Matches may overlap (`::` in `:::@`): the next search starts one character on.
            from = pos + secret.chars().next().map_or(1, char::len_utf8);
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// `%41` → `A` (and `+` → space in form encoding); invalid escapes are kept as written,
/// invalid UTF-8 becomes U+FFFD.
fn percent_decode(text: &str, form: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if form => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `url` crate's serialization of a password: the USERINFO percent-encode set
/// (controls, space, `"#<>?`{}/:;=@[\]^|`, non-ASCII), `%` left as it is.
fn userinfo_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if !(0x20..0x7f).contains(&b) || b" \"#<>?`{}/:;=@[\\]^|".contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Every byte but ASCII letters and digits as `%XX`: how sqlx re-encodes a password.
fn encode_non_alphanumeric(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `scheme://user:secret@host` → `scheme://user:****@host`, for every URL in `text`.
///
/// The password ends at the *last* `@` before the end of the authority (`/`, `?`, `#`, a space
/// or the end): an unencoded `@` inside a password is common in hand-written URLs.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let authority_start = pos + 3;
        out.push_str(&rest[..authority_start]);
        let after = &rest[authority_start..];
        // The password may hold an unencoded '@', '/', '?' or '#', so the userinfo ends at the
        // last '@' of the word; over-masking a host is safer than printing a password.
        let word_end = after
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(after.len());
        let userinfo = after[..word_end]
            .rfind('@')
            .map(|at| (at, &after[..at]))
            .and_then(|(at, userinfo)| userinfo.find(':').map(|colon| (at, colon)));
        match userinfo {
            Some((at, colon)) => {
                out.push_str(&after[..colon]);
                out.push(':');
                out.push_str(MASK);
                out.push('@');
                rest = &after[at + 1..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// `password=secret` → `password=****` for every secret parameter name, in a query string or
/// in a libpq-style `key=value` string.
fn redact_params(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hit = SECRET_PARAMS.iter().find_map(|name| {
            let key = format!("{name}=");
            lower[i..].starts_with(&key).then_some(key.len())
        });
        let at_boundary = i == 0
            || matches!(
                text.as_bytes()[i - 1],
                b'?' | b'&' | b';' | b' ' | b'\t' | b'\n' | b'"' | b'\'' | b','
            );
        match hit {
            Some(key_len) if at_boundary => {
                out.push_str(&text[i..i + key_len]);
                out.push_str(MASK);
                i += key_len;
                // The value ends at the next separator.
                while i < text.len() {
                    let b = text.as_bytes()[i];
                    if matches!(
                        b,
                        b'&' | b'#' | b' ' | b'\t' | b'\n' | b'"' | b'\'' | b',' | b';'
                    ) {
                        break;
                    }
                    i += 1;
                }
            }
            _ => {
                let ch = text[i..].chars().next().expect("i is on a char boundary");
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{passwords, redact, redact_with, secret_forms};

    #[test]
    fn userinfo_password() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/app"),
            "postgres://app:****@db:5432/app"
        );
    }

    #[test]
    fn at_sign_inside_password() {
        assert_eq!(
            redact("postgres://app:p@ss@word@db/app?sslmode=require"),
            "postgres://app:****@db/app?sslmode=require"
        );
    }

    #[test]
    fn slash_and_question_mark_inside_password() {
        assert_eq!(
            redact("mysql://root:a/b?c@localhost:3306/x"),
            "mysql://root:****@localhost:3306/x"
        );
    }

    #[test]
    fn user_without_password_is_kept() {
        assert_eq!(redact("postgres://app@db/app"), "postgres://app@db/app");
        assert_eq!(redact("sqlite://data/app.db"), "sqlite://data/app.db");
    }

    #[test]
    fn query_parameters() {
        assert_eq!(
            redact("postgres://db/app?user=app&password=hunter2&sslmode=verify-full"),
            "postgres://db/app?user=app&password=****&sslmode=verify-full"
        );
        assert_eq!(
            redact("postgres://db/app?sslpassword=k3y&PASSWORD=x"),
            "postgres://db/app?sslpassword=****&PASSWORD=****"
        );
    }

    #[test]
    fn libpq_keyword_string_and_free_text() {
        assert_eq!(
            redact("host=db user=app password=hunter2 dbname=app"),
            "host=db user=app password=**** dbname=app"
        );
        assert_eq!(
            redact("error connecting to postgres://u:pw@h/d: timed out"),
            "error connecting to postgres://u:****@h/d: timed out"
        );
    }

    #[test]
    fn unparseable_input_is_still_redacted() {
        assert_eq!(redact("postgres://u:pw@"), "postgres://u:****@");
        assert_eq!(redact("://:pw@x"), "://:****@x");
        assert_eq!(redact("not a url"), "not a url");
        assert_eq!(redact(""), "");
        assert_eq!(redact("pg://u:päss@h"), "pg://u:****@h");
    }

    #[test]
    fn parameter_names_inside_other_words_are_not_touched() {
        assert_eq!(redact("?mypassword=x"), "?mypassword=x");
    }

    #[test]
    fn two_urls_in_one_message() {
        assert_eq!(
            redact("from mysql://a:1@h1/x to postgres://b:2@h2/y"),
            "from mysql://a:****@h1/x to postgres://b:****@h2/y"
        );
    }

    #[test]
    fn passwords_are_found_by_structure() {
        assert_eq!(
            passwords("postgres://u:Hunter2'Pa55 word@127.0.0.1:1/db"),
            ["Hunter2'Pa55 word"]
        );
        assert_eq!(passwords("http:u:p w@h/x"), ["p w"]);
        // The `url` crate ends the authority at a backslash, usher's readiness parser does not.
        assert_eq!(passwords("HTTP:\\\\u:p@h\\x@y"), ["p", "p@h\\x"]);
        assert_eq!(passwords("pg://u:a\tb@h"), ["a\tb"]);
        assert_eq!(
            passwords("  pg://u:x@h?a=1&Password=s%20t#f"),
            ["x", "s%20t"]
        );
        assert!(passwords("pg:/u:p@h").is_empty());
        assert!(passwords("host=db password=x").is_empty());
        assert!(passwords("1pg://u:p@h").is_empty());
    }

    #[test]
    fn every_form_of_a_known_password_is_masked() {
        let url = "postgres://u:Hunter2'Pa55 w%40rd@127.0.0.1:1/db";
        let forms = secret_forms(url);
        for shown in [
            "Hunter2'Pa55 w%40rd",
            "Hunter2'Pa55 w@rd",
            "Hunter2%27Pa55%20w%40rd",
            "Hunter2\\'Pa55 w@rd",
        ] {
            let out = redact_with(&format!("x {shown} y"), &forms);
            assert_eq!(out, "x **** y", "{shown}");
        }
    }

    /// A password of `len` characters drawn from an alphabet of everything that ends a
    /// "word" or has a meaning in a URL, plus letters, digits and non-ASCII.
    fn password(seed: &mut u64, len: usize) -> String {
        const ALPHABET: &[char] = &[
            ' ', '\'', '"', '@', '/', '?', '#', '%', ':', ';', '&', '=', '+', '*', '\\', '\t', '<',
            '>', '[', ']', '{', '}', '|', '^', '`', ',', '!', '$', '(', ')', '~', 'é', '€', 'ß',
            '😀', '\u{7f}', '\u{1}', 'a', 'Z', 'q', '7', '0', 'x', 'K', '-', '.', '_',
        ];
        (0..len)
            .map(|_| {
                // xorshift64*: deterministic, so a failure can be replayed.
                *seed ^= *seed >> 12;
                *seed ^= *seed << 25;
                *seed ^= *seed >> 27;
                let r = seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
                ALPHABET[(r >> 33) as usize % ALPHABET.len()]
            })
            .collect()
    }

    /// Every output path that can be driven without a server: the URL shown by the wait,
    /// health and migrate stages, messages quoting it (as drivers do, with Debug escaping),
    /// configuration errors about it, readiness-parser errors, the database-URL check. For
    /// thousands of generated passwords, none survives in any of them, in any form.
    #[test]
    fn no_output_holds_a_generated_password() {
        use crate::config::Config;
        use crate::environment::Environment;
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut checked = 0;
        for round in 0..500 {
            let p = password(&mut seed, 6 + round % 20);
            let urls = [
                format!("postgres://app:{p}@127.0.0.1:1/db"),
                format!("mysql://root:{p}@db:3306/app?ssl-mode=disabled"),
                format!("http://user:{p}@127.0.0.1:1/healthz"),
                format!("tcp://user:{p}@db:5432"),
                format!("postgres://db/app?user=app&password={p}"),
                format!("  POSTGRES://app:{p}@db/app#frag"),
                // No `//`: the parsers read no password at all.
                format!("postgres:app:{p}@127.0.0.1:1/db"),
                format!("mysql:/root:{p}@db:3306/app"),
            ];
            for url in &urls {
                // The passwords the parsers find, and the password as written (up to the last
                // '@'), which a '/', '?' or '#' in it, or a missing `//`, hides from them.
                let mut found = passwords(url);
                found.extend(super::loose_passwords(url));
                let Some(secret) = found.iter().find(|f| f.chars().count() >= 6) else {
                    continue;
                };
                let secret = secret.clone();
                let decoded = super::percent_decode(&secret, false);
                super::with_known(Vec::clear);
                super::register_url(url);
                let mut outputs = vec![
                    redact(url),
                    redact(&format!("error connecting to {url}: timed out")),
                    redact(&format!("error: {url:?} is bad")),
                    redact(&format!("{{\"url\":\"{url}\"}}")),
                ];
                if let Err(fix) = crate::readiness::Target::parse(url) {
                    outputs.push(redact(&fix));
                }
                for args in [
                    vec!["--wait".to_string(), url.clone(), "true".to_string()],
                    vec!["--user".to_string(), url.clone(), "true".to_string()],
                ] {
                    let args = args.into_iter().map(Into::into).collect();
                    if let Err(e) = Config::from_args(args, Environment::default()) {
                        outputs.push(redact(&e.message));
                    }
                }
                let env = Environment::from_pairs([("USHER_WAIT", url.as_str())]);
                if let Err(e) = Config::from_args(vec!["true".into()], env) {
                    outputs.push(redact(&e.message));
                }
                #[cfg(feature = "_db")]
                if let Err(e) = crate::db::backend_for("DATABASE_URL", url) {
                    outputs.push(redact(&e.message));
                }
                for out in &outputs {
                    assert!(!out.contains(&secret), "{url:?}: {secret:?} in {out:?}");
                    assert!(!out.contains(&decoded), "{url:?}: {decoded:?} in {out:?}");
                }
                checked += 1;
            }
        }
        assert!(checked > 1000, "only {checked} URLs had a password");
    }

    /// A password holding a character that ends the authority early for the parsers ('#',
    /// '/', '?', '\\'), or a URL with a scheme but no `//`: the parsers read no password (or
    /// a shorter one), yet messages quote the value whole. Registered by the looser reading,
    /// no part of the password survives in any output that can be driven without a server.
    #[test]
    fn a_password_the_parsers_cut_short_or_miss_is_never_shown() {
        use crate::config::Config;
        use crate::environment::Environment;
        for pass in [
            "Hunter2#Pa55",
            "Hunter2/Pa55",
            "Hunter2?Pa55",
            "Hunter2\\Pa55",
            "#Hunter2Pa55",
            "Hunter2Pa55?",
            "Hun#ter2/Pa55?x",
            "Hunter2 Pa55#x",
            "Hunter2'Pa55/\"x",
            "Hunter2@Pa55#x",
        ] {
            for url in [
                format!("http://user:{pass}@127.0.0.1:1/healthz"),
                format!("http://user:{pass}@[::1]:8080/"),
                format!("tcp://user:{pass}@db:5432"),
                format!("redis://user:{pass}@db:6379/0"),
                format!("postgres://app:{pass}@db:5432/app"),
                format!("postgres:app:{pass}@db/app"),
                format!("postgres:/app:{pass}@db/app"),
                format!("postgres:\\\\app:{pass}@db/app"),
                format!("mysql:app:{pass}@db:3306/app"),
                format!("tcp:user:{pass}@db:5432"),
            ] {
                super::with_known(Vec::clear);
                super::register_url(&url);
                let mut outputs = vec![
                    redact(&url),
                    redact(&format!("error connecting to {url}: timed out")),
                    redact(&format!("error: {url:?} is bad")),
                ];
                if let Err(fix) = crate::readiness::Target::parse(&url) {
                    outputs.push(redact(&fix));
                }
                let args = ["--wait", &url, "true"].map(Into::into).to_vec();
                if let Err(e) = Config::from_args(args, Environment::default()) {
                    outputs.push(redact(&e.message));
                }
                let env = Environment::from_pairs([("USHER_WAIT", url.as_str())]);
                if let Err(e) = Config::from_args(vec!["true".into()], env) {
                    outputs.push(redact(&e.message));
                }
                #[cfg(feature = "_db")]
                if let Err(e) = crate::db::backend_for("DATABASE_URL", &url) {
                    outputs.push(redact(&e.message));
                }
                for out in &outputs {
                    for part in ["Hunter2", "Pa55", "ter2"] {
                        assert!(!out.contains(part), "{url:?}: {part:?} in {out:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_looser_reading_finds_what_the_parsers_miss() {
        use super::loose_passwords;
        assert_eq!(loose_passwords("http://u:a#b@h/"), ["a#b"]);
        assert_eq!(loose_passwords("postgres:u:pw@h/db"), ["pw"]);
        assert_eq!(loose_passwords(" postgres:\\\\u:p/w@h"), ["p/w"]);
        assert_eq!(loose_passwords("postgres://u:p@h@i/x?y"), ["p@h"]);
        assert!(loose_passwords("mysql:Hunter2Pa55").is_empty());
        assert!(loose_passwords("host=db password=x").is_empty());
        assert!(loose_passwords("1x:u:p@h").is_empty());
        // Read from the values usher is given only: a message is not read loosely.
        assert_eq!(redact("config: a:bcdef@x"), "config: a:bcdef@x");
    }

    /// Found by fuzz/ (target redact, with the looser reading): the password `:` right after
    /// the user's `:` was not masked, the match before it having used that `:` up.
    #[test]
    fn fuzz_regression_a_colon_password_after_the_colon() {
        let url = "untP:\\\\utP::@ph8";
        let out = redact_with(url, &super::registered_forms(url));
        assert_eq!(out, "untP:\\\\utP:****@ph8");
        let out = redact_with("pg://u:::@h", &secret_forms("pg://u:::@h"));
        assert!(!out.contains(":::@"), "{out}");
    }

    /// Found by fuzz/ (target redact): usher's readiness parser does not end an authority at
    /// a backslash, the `url` crate does for http.
    #[test]
    fn fuzz_regression_backslash_in_an_http_authority() {
        let url = "http:// ser:pa%\u{1a})5sHTTP:\\\\u:p@h\\x8800passWordhz";
        let forms = secret_forms(url);
        let out = redact_with(url, &forms);
        assert!(!out.contains("pa%\u{1a})5sHTTP:\\\\u:p"), "{out}");
    }

    /// Found by fuzz/ (target redact): the `url` crate trims trailing spaces off the input,
    /// and so off a query value at its end.
    #[test]
    fn fuzz_regression_trailing_space_after_a_query_password() {
        let url = "my-------srqysrsl:/:=@sr}qoh//:oT\u{4}//d\u{4}//d=Zpbl:/x?pwd=y-------srqysrs ";
        let out = redact_with(url, &secret_forms(url));
        assert!(!out.contains("y-------srqysrs"), "{out}");
    }

    /// Found by fuzz/ (target redact): a newline inside a parameter name is dropped by the
    /// `url` crate, so `pw\nd=` is `pwd=`.
    #[test]
    fn fuzz_regression_newline_inside_a_parameter_name() {
        let url = "gres://app:x@3/x?pw\nd=ss ";
        assert_eq!(passwords(url), ["x", "ss "]);
        assert!(!redact_with(url, &secret_forms(url)).contains("ss"));
    }

    /// Found by fuzz/ (target redact): the `url` crate splits a query at '&' only, so
    /// `pwd=;t` holds the password `;t`.
    #[test]
    fn fuzz_regression_semicolon_in_a_query_password() {
        let url = "mysql://r:+\0\0:p@@do\u{1}Dlhost:7232/x?pwd=;t";
        assert!(!redact_with(url, &secret_forms(url)).contains(";t"));
    }

    /// Found by fuzz/ (target redact): usher's readiness parser keeps the newlines the
    /// `url` crate drops, so a password may be nothing but a newline.
    #[test]
    fn fuzz_regression_a_newline_password() {
        let url = "http://user:\n@host/";
        assert_eq!(passwords(url), ["\n"]);
        assert!(!redact_with(url, &secret_forms(url)).contains('\n'));
    }

    /// Found by fuzz/ (target redact): NUL characters are not trimmed off a userinfo
    /// password.
    #[test]
    fn fuzz_regression_a_password_of_nul_characters() {
        let url = "ttmymsql://root:\n\0\0\0\0\0\0@,asp#\0\0\0\0\0\0\0pa%\u{1a}1s";
        assert!(!redact_with(url, &secret_forms(url)).contains("\0\0\0\0\0\0"));
    }

    /// Found by fuzz/ (target redact): usher's readiness parser decodes the userinfo before
    /// splitting it, so `user%3Apass@` holds the password `pass`.
    #[test]
    fn fuzz_regression_an_encoded_colon_in_the_userinfo() {
        let url = "http://eus0%2f%2frpa%25http%3a5le0th\u{1}\0\u{11}\0@";
        assert!(!redact_with(url, &secret_forms(url)).contains("5le0th"));
        assert_eq!(passwords("http://user%3Apass@h/"), ["pass"]);
    }

    #[test]
    fn a_short_password_is_masked_where_the_url_shows_it_not_everywhere() {
        let url = "postgres://u:p@127.0.0.1:1/x";
        let out = redact_with(
            &format!("waiting for PostgreSQL at {url}; stopped by SIGTERM"),
            &secret_forms(url),
        );
        assert_eq!(
            out,
            "waiting for PostgreSQL at postgres://u:****@127.0.0.1:1/x; stopped by SIGTERM"
        );
        let url = "postgres://db/x?password=pw&sslmode=disable";
        assert_eq!(
            redact_with(&format!("{url} pw"), &secret_forms(url)),
            "postgres://db/x?password=****&sslmode=disable pw"
        );
    }

    /// Found by fuzz/ (target redact): only the end of the input is trimmed, so a value at
    /// the end keeps its leading NULs.
    #[test]
    fn fuzz_regression_a_query_password_trimmed_at_one_end_only() {
        let url = "postgres:/?a=1&pass=\0\0\0r\0";
        assert!(!redact_with(url, &secret_forms(url)).contains("\0\0\0r"));
    }

    #[test]
    fn a_password_made_of_stars_is_masked_too() {
        let forms = secret_forms("pg://u:*****@h");
        let out = redact_with("pg://u:*****@h and ***** and ******", &forms);
        assert!(!out.contains("*****"), "{out}");
        let forms = secret_forms("pg://u:**@h");
        let out = redact_with("pg://u:**@h and **", &forms);
        assert_eq!(out, "pg://u:****@h and **");
    }
}
