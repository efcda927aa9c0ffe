//! The refinery history format (`refinery migrate`, refinery_core 0.10).
//!
//! Files `V{version}__{name}.sql` (and `U…` for "unversioned" ones that may arrive in any
//! order), found in subdirectories too; table `refinery_schema_history`; checksum SipHash-1-3
//! over the name, the version and the SQL — all as in refinery_core's `util.rs`, `runner.rs`
//! and `traits/mod.rs`. Computed here with `siphasher` (what refinery_core itself uses) rather
//! than linking refinery_core, which pulls regex, time and walkdir (~0.8 MB); the unit tests
//! prove both give the same checksums.

use std::hash::{Hash, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use siphasher::sip::SipHasher13;

use super::file_names;
use super::{AppliedRow, HistoryFormat, NameMatch};
use crate::db::backends::{Dialect, Stmt, Value};
use crate::db::source::Migration;

pub struct Refinery;

const TABLE: &str = "refinery_schema_history";

impl HistoryFormat for Refinery {
    fn name(&self) -> &'static str {
        "refinery"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn pattern(&self) -> &'static str {
        "V{version}__{name}.sql"
    }

    /// refinery walks the directory tree (`find_migration_files` uses WalkDir).
    fn recursive(&self) -> bool {
        true
    }

    /// refinery's rule is the regex `^([U|V])(\d+(?:\.\d+)?)__(\w+)\.sql$` and an `i32`
    /// version (without the `int8-versions` feature, which refinery_cli does not enable).
    /// refinery silently skips names that do not match; usher refuses them instead, so that a
    /// typo never leaves a migration unapplied.
    fn parse_file_name(&self, file_name: &str) -> NameMatch {
        file_names::refinery(file_name)
    }

    fn checksum(&self, version: i64, name: &str, sql: &str) -> Option<Vec<u8>> {
        Some(checksum(name, version as i32, sql).to_string().into_bytes())
    }

    /// `ASSERT_MIGRATIONS_TABLE_QUERY` in refinery_core's traits/mod.rs, the same text on every
    /// database.
    fn create_table(&self, _d: &Dialect) -> Vec<String> {
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {TABLE}(
             version int4 PRIMARY KEY,
             name VARCHAR(255),
             applied_on VARCHAR(255),
             checksum VARCHAR(255));"
        )]
    }

    fn select_rows(&self, _d: &Dialect) -> Stmt {
        Stmt::new(
            format!("SELECT version, name, applied_on, checksum FROM {TABLE} ORDER BY version ASC"),
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
                let version = row.first().and_then(Value::as_i64).ok_or_else(|| {
                    format!("{TABLE} has a row without a readable version: {row:?}")
                })?;
                let text = |i: usize| row.get(i).and_then(Value::as_text);
                Ok(AppliedRow {
                    version,
                    name: text(1).unwrap_or_default(),
                    applied_at: text(2),
                    checksum: Some(text(3).unwrap_or_default().into_bytes()),
                    failed: false,
                })
            })
            .collect()
    }

    /// refinery's `insert_migration_query`, with bound parameters instead of inlined text.
    fn record_applied(&self, d: &Dialect, m: &Migration, _took: Duration) -> Vec<Stmt> {
        let checksum = m
            .checksum
            .as_deref()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .unwrap_or_default();
        vec![Stmt::new(
            format!(
                "INSERT INTO {TABLE} (version, name, applied_on, checksum) VALUES ({}, {}, {}, {})",
                d.param(1),
                d.param(2),
                d.param(3),
                d.param(4)
            ),
            vec![
                Value::Int(m.version),
                Value::Text(m.name.clone()),
                Value::Text(rfc3339(SystemTime::now())),
                Value::Text(checksum),
            ],
        )]
    }

    fn forget(&self, d: &Dialect, row: &AppliedRow, _files: &[Migration]) -> Vec<Stmt> {
        vec![Stmt::new(
            format!("DELETE FROM {TABLE} WHERE version = {}", d.param(1)),
            vec![Value::Int(row.version)],
        )]
    }
}

/// refinery's checksum (`Migration::unapplied` in runner.rs): SipHash-1-3 with zero keys over
/// `name` as a Rust `str` hash (bytes then 0xff), `version` as `i32::hash` (4 native-endian
/// bytes) and `sql` as a `str` hash.
pub fn checksum(name: &str, version: i32, sql: &str) -> u64 {
    let mut hasher = SipHasher13::new();
    name.hash(&mut hasher);
    version.hash(&mut hasher);
    sql.hash(&mut hasher);
    hasher.finish()
}

/// `applied_on` as refinery writes it (`time`'s RFC 3339: UTC `Z`, the fraction of a second
/// without trailing zeros, none when zero), so refinery can parse usher's rows.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = crate::log::civil_from_days(days as i64);
    let mut out = format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let nanos = d.subsec_nanos();
    if nanos != 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str) -> NameMatch {
        Refinery.parse_file_name(name)
    }

    #[test]
    fn names() {
        assert_eq!(
            parse("V1__initial.sql"),
            NameMatch::Migration {
                version: 1,
                name: "initial".into(),
                any_order: false
            }
        );
        assert_eq!(
            parse("U007__add_cars_and_motos_table.sql"),
            NameMatch::Migration {
                version: 7,
                name: "add_cars_and_motos_table".into(),
                any_order: true
            }
        );
        // `\w+` takes the third underscore into the name, as refinery's regex does.
        assert_eq!(
            parse("V2___x.sql"),
            NameMatch::Migration {
                version: 2,
                name: "_x".into(),
                any_order: false
            }
        );
        assert!(matches!(parse("V1_initial.sql"), NameMatch::Malformed(_)));
        assert!(matches!(
            parse("V1__create-users.sql"),
            NameMatch::Malformed(_)
        ));
        assert!(matches!(parse("V1__.sql"), NameMatch::Malformed(_)));
        assert!(matches!(
            parse("V3000000000__big.sql"),
            NameMatch::Malformed(_)
        ));
        assert_eq!(parse("1_initial.sql"), NameMatch::NotMine);
        assert_eq!(parse("V1__initial.rs"), NameMatch::NotMine);
        assert_eq!(parse("Vacuum.sql"), NameMatch::NotMine);
    }

    /// The same checksums as refinery_core itself, for every kind of content.
    #[test]
    fn checksums_equal_refinery_core() {
        let cases = [
            (
                "V1__initial.sql",
                "CREATE TABLE persons (id int, name varchar(255));",
            ),
            ("V2__empty.sql", ""),
            (
                "V10__unicode_é.sql",
                "INSERT INTO t VALUES ('héllo — ✓');\r\n",
            ),
            ("V2147483647__max.sql", "\u{feff}SELECT 1;\n"),
            (
                "U3__any_order.sql",
                "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);",
            ),
        ];
        for (file, sql) in cases {
            let stem = file.strip_suffix(".sql").unwrap();
            let theirs = refinery_core::Migration::unapplied(stem, sql).unwrap();
            let NameMatch::Migration { version, name, .. } = parse(file) else {
                panic!("{file}")
            };
            assert_eq!(name, theirs.name(), "{file}");
            assert_eq!(version, i64::from(theirs.version()), "{file}");
            assert_eq!(
                Refinery.checksum(version, &name, sql),
                Some(theirs.checksum().to_string().into_bytes()),
                "{file}"
            );
        }
    }

    #[test]
    fn applied_on_is_rfc3339_like_time() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(1_795_329_843, 120_000_000);
        assert_eq!(rfc3339(t), "2026-11-22T06:44:03.12Z");
        let t = UNIX_EPOCH + Duration::new(1_795_329_843, 1);
        assert_eq!(rfc3339(t), "2026-11-22T06:44:03.000000001Z");
    }

    #[test]
    fn insert_binds_every_column() {
        let d = &crate::db::backends::Dialect {
            name: "test",
            numbered_placeholders: true,
            bytes_type: "BYTEA",
            timestamp_default_now: "",
            text_cast_type: "TEXT",
            ddl_commits: false,
            lexing: crate::db::sql::Lexing::Postgres,
            session_reset: None,
            timer: None,
        };
        let m = Migration::for_tests(3, "users", "SELECT 1;", &Refinery);
        let stmts = Refinery.record_applied(d, &m, Duration::ZERO);
        assert!(stmts[0].sql.contains("VALUES ($1, $2, $3, $4)"));
        assert_eq!(stmts[0].params[0], Value::Int(3));
        assert_eq!(stmts[0].params[1], Value::Text("users".into()));
    }
}
