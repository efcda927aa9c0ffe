//! The sqlx history format (`sqlx migrate run`, `sqlx::migrate!`, sqlx 0.9).
//!
//! Files `{version}_{description}.sql` and reversible `….up.sql` / `….down.sql`; table
//! `_sqlx_migrations` with sqlx's column types per database; checksum SHA-384 of the file's
//! bytes; `success = false` marks a migration that started and did not finish. Every rule
//! below is from sqlx-core's `migrate/source.rs`, `migrate/migration.rs` and the per-database
//! `migrate.rs` files.

use std::time::Duration;

use super::file_names;
use super::{AppliedRow, HistoryFormat, NameMatch};
use crate::db::backends::{Dialect, Stmt, Value, crc32_ieee};
use crate::db::source::Migration;

pub struct Sqlx;

const TABLE: &str = "_sqlx_migrations";

impl HistoryFormat for Sqlx {
    fn name(&self) -> &'static str {
        "sqlx"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn pattern(&self) -> &'static str {
        "{version}_{description}.sql"
    }

    /// sqlx splits the name at the first `_`; the part before must parse as `i64`; the
    /// description is the rest without `.up.sql` / `.down.sql` / `.sql`, with `_` turned into
    /// spaces. sqlx ignores `.sql` files without `_` and fails on a non-numeric version; usher
    /// refuses both (a number-led name that is not a migration is a typo).
    fn parse_file_name(&self, file_name: &str) -> NameMatch {
        file_names::sqlx(file_name)
    }

    fn checksum(&self, _version: i64, _name: &str, sql: &str) -> Option<Vec<u8>> {
        Some(
            ring::digest::digest(&ring::digest::SHA384, sql.as_bytes())
                .as_ref()
                .to_vec(),
        )
    }

    /// `generate_lock_id` in sqlx-postgres and sqlx-mysql: `0x3d32ad9e * crc32(database)`
    /// (MySQL uses the same number in lowercase hex as the `GET_LOCK` name).
    fn lock_key(&self, database: &str) -> i64 {
        0x3d32_ad9e * i64::from(crc32_ieee(database.as_bytes()))
    }

    /// `ensure_migrations_table` of each sqlx driver.
    fn create_table(&self, d: &Dialect) -> Vec<String> {
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on {},
    success BOOLEAN NOT NULL,
    checksum {} NOT NULL,
    execution_time BIGINT NOT NULL
);",
            d.timestamp_default_now, d.bytes_type
        )]
    }

    fn select_rows(&self, d: &Dialect) -> Stmt {
        Stmt::new(
            format!(
                "SELECT version, description, {}, success, checksum FROM {TABLE} ORDER BY version",
                d.as_text("installed_on")
            ),
            vec![],
        )
    }

    fn decode_rows(
        &self,
        rows: Vec<Vec<Value>>,
        _files: &[Migration],
    ) -> Result<Vec<AppliedRow>, String> {
        rows.into_iter()
            .map(|row| {
                let unreadable = || format!("{TABLE} has an unreadable row: {row:?}");
                Ok(AppliedRow {
                    version: row.first().and_then(Value::as_i64).ok_or_else(unreadable)?,
                    name: row.get(1).and_then(Value::as_text).unwrap_or_default(),
                    applied_at: row.get(2).and_then(Value::as_text),
                    failed: !row.get(3).and_then(Value::as_bool).ok_or_else(unreadable)?,
                    checksum: Some(
                        row.get(4)
                            .and_then(Value::as_bytes)
                            .ok_or_else(unreadable)?,
                    ),
                })
            })
            .collect()
    }

    /// sqlx's `INSERT … success TRUE`, with the measured time (sqlx inserts -1 and updates it
    /// after the commit; the value is the same, one round trip fewer).
    fn record_applied(&self, d: &Dialect, m: &Migration, took: Duration) -> Vec<Stmt> {
        vec![insert(d, m, true, nanos(took))]
    }

    /// sqlx's MySQL `apply`: the row goes in with `success = FALSE` first, so a migration cut
    /// short after an implicit commit shows as dirty to sqlx and usher alike.
    fn record_started(&self, d: &Dialect, m: &Migration) -> Option<Vec<Stmt>> {
        Some(vec![insert(d, m, false, -1)])
    }

    fn record_finished(&self, d: &Dialect, m: &Migration, took: Duration) -> Vec<Stmt> {
        vec![Stmt::new(
            format!(
                "UPDATE {TABLE} SET success = TRUE, execution_time = {} WHERE version = {}",
                d.param(1),
                d.param(2)
            ),
            vec![Value::Int(nanos(took)), Value::Int(m.version)],
        )]
    }

    fn forget(&self, d: &Dialect, row: &AppliedRow, _files: &[Migration]) -> Vec<Stmt> {
        vec![Stmt::new(
            format!("DELETE FROM {TABLE} WHERE version = {}", d.param(1)),
            vec![Value::Int(row.version)],
        )]
    }
}

fn insert(d: &Dialect, m: &Migration, success: bool, execution_time: i64) -> Stmt {
    Stmt::new(
        format!(
            "INSERT INTO {TABLE} ( version, description, success, checksum, execution_time ) \
             VALUES ( {}, {}, {}, {}, {} )",
            d.param(1),
            d.param(2),
            if success { "TRUE" } else { "FALSE" },
            d.param(3),
            d.param(4)
        ),
        vec![
            Value::Int(m.version),
            Value::Text(m.name.clone()),
            Value::Bytes(m.checksum.clone().unwrap_or_default()),
            Value::Int(execution_time),
        ],
    )
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str) -> NameMatch {
        Sqlx.parse_file_name(name)
    }

    fn migration(version: i64, name: &str) -> NameMatch {
        NameMatch::Migration {
            version,
            name: name.into(),
            any_order: false,
        }
    }

    #[test]
    fn names_and_descriptions_as_sqlx() {
        assert_eq!(
            parse("20240101120000_create_users.sql"),
            migration(20240101120000, "create users")
        );
        assert_eq!(parse("1_init.up.sql"), migration(1, "init"));
        assert_eq!(parse("1_init.down.sql"), NameMatch::Ignored);
        // Only the first underscore separates; the rest become spaces.
        assert_eq!(parse("2_a__b_.sql"), migration(2, "a  b "));
        // `trim_end_matches` removes a repeated suffix, as sqlx does.
        assert_eq!(parse("3_x.sql.sql"), migration(3, "x"));
        assert!(matches!(parse("1x_init.sql"), NameMatch::Malformed(_)));
        assert!(matches!(parse("001.sql"), NameMatch::Malformed(_)));
        assert_eq!(parse("V1__init.sql"), NameMatch::NotMine);
        assert_eq!(parse("1_init.txt"), NameMatch::NotMine);
    }

    /// SHA-384 known answers (FIPS 180-2 "abc"; the empty string), so the checksum is the
    /// raw digest of the bytes, as sqlx stores it.
    #[test]
    fn checksum_is_sha384_of_the_bytes() {
        let hex = |b: Vec<u8>| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(Sqlx.checksum(1, "", "abc").unwrap()),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7"
        );
        assert_eq!(
            hex(Sqlx.checksum(1, "", "").unwrap()),
            "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da\
             274edebfe76f65fbd51ad2f14898b95b"
        );
    }

    #[test]
    fn lock_key_as_sqlx() {
        // Known answers computed with Python's zlib.crc32: 0x3d32ad9e * crc32(name).
        assert_eq!(Sqlx.lock_key("postgres"), 368_907_709_894_077_238);
        assert_eq!(
            format!("{:x}", Sqlx.lock_key("postgres")),
            "51e9f9b8b23ab36"
        );
        assert_eq!(Sqlx.lock_key("app"), 3_469_795_979_745_788_610);
    }
}
