//! usher's record of migration files applied with mixed line endings (some lines CRLF, some
//! LF): a checksum of the text with every line ending LF. A history format's own checksum is of
//! the bytes as applied; once git (`autocrlf`, `.gitattributes`) or an editor normalises such a
//! file, no guess of where the CRs were can be sure to find them again (2^lines mixes), but
//! this record recognises the file whatever its endings have become, and nothing else.
//!
//! The table is created only when such a file is applied, and read only when an applied
//! file's checksum no longer matches: a database that never sees one knows nothing of it.

use super::source::Migration;
use crate::db::backends::{Dialect, Stmt, Value};

pub const TABLE: &str = "usher_line_endings";

/// Whether `text` has both CRLF and bare LF line endings.
pub fn mixed(text: &str) -> bool {
    let crlf = text.matches("\r\n").count();
    crlf > 0 && text.matches('\n').count() > crlf
}

/// SHA-256 of `text` without a leading byte-order mark, every CRLF turned into LF.
pub fn digest(text: &str) -> Vec<u8> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lf = body.replace("\r\n", "\n");
    ring::digest::digest(&ring::digest::SHA256, lf.as_bytes())
        .as_ref()
        .to_vec()
}

pub fn create_table(d: &Dialect) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (
    history VARCHAR(64) NOT NULL,
    version BIGINT NOT NULL,
    checksum {} NOT NULL,
    PRIMARY KEY (history, version)
)",
        d.bytes_type
    )
}

/// The record of `m`, applied now (replacing one left by an earlier attempt).
pub fn record(d: &Dialect, history: &str, m: &Migration) -> Vec<Stmt> {
    let key = || vec![Value::Text(history.to_string()), Value::Int(m.version)];
    let mut values = key();
    values.push(Value::Bytes(digest(&m.sql)));
    vec![
        Stmt::new(
            format!(
                "DELETE FROM {TABLE} WHERE history = {} AND version = {}",
                d.param(1),
                d.param(2)
            ),
            key(),
        ),
        Stmt::new(
            format!(
                "INSERT INTO {TABLE} (history, version, checksum) VALUES ({}, {}, {})",
                d.param(1),
                d.param(2),
                d.param(3)
            ),
            values,
        ),
    ]
}

pub fn select(d: &Dialect, history: &str) -> Stmt {
    Stmt::new(
        format!(
            "SELECT version, checksum FROM {TABLE} WHERE history = {}",
            d.param(1)
        ),
        vec![Value::Text(history.to_string())],
    )
}

/// `(version, checksum)` of each row.
pub fn decode(rows: Vec<Vec<Value>>) -> Vec<(i64, Vec<u8>)> {
    rows.into_iter()
        .filter_map(|r| Some((r.first()?.as_i64()?, r.get(1)?.as_bytes()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_endings_and_their_digest() {
        assert!(mixed("a;\r\nb;\nc;\r\n"));
        assert!(!mixed("a;\r\nb;\r\n"));
        assert!(!mixed("a;\nb;\n"));
        // Any mix, the BOM or not: one digest; a real edit: another.
        let d = digest("\u{feff}a;\r\nb;\nc;\r\n");
        assert_eq!(d, digest("a;\nb;\nc;\n"));
        assert_eq!(d, digest("a;\r\nb;\r\nc;\r\n"));
        assert_ne!(d, digest("a;\nb;\nc;\n\n"));
    }
}
