//! Redaction: the one function every database URL, and every driver message that may hold
//! one, goes through before it is printed.
//!
//! Hides the userinfo password (`user:****@`) and the values of `password=`/`sslpassword=`
//! query parameters (any case, URL-encoded or not). Input that does not parse as a URL is still
//! scanned for `scheme://user:secret@` and `password=` patterns, so a password never leaks
//! through an error message that quotes a malformed URL.

const MASK: &str = "****";

/// Query-parameter names whose values are secrets (compared case-insensitively).
const SECRET_PARAMS: &[&str] = &["password", "sslpassword", "pass", "pwd"];

/// `text` with every URL password and secret parameter value replaced by `****`.
///
/// Works on a bare URL and on free text containing URLs (driver error messages).
pub fn redact(text: &str) -> String {
    let userinfo_done = redact_userinfo(text);
    redact_params(&userinfo_done)
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
    use super::redact;

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
}
