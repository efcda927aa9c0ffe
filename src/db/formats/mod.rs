//! History formats: how a migration tool names its files and records what it applied.
//!
//! One file per format implements `HistoryFormat` (refinery.rs, sqlx.rs); `FORMATS`
//! registers it; `file_names` holds the tools' file-name rules as pure functions. The trait is shaped for the formats still to come (Prisma, golang-migrate,
//! dbmate, goose): a history is rows, one per migration or one per table (decoded as a whole),
//! with an optional checksum and an optional "failed / dirty" flag.

use std::time::Duration;

use crate::db::backends::{Dialect, Stmt, Value, usher_lock_key};
use crate::db::source::{Migration, SqlFile};
use crate::exit::{Error, Kind, Result};

pub use file_names::NameMatch;

mod file_names;
pub mod refinery;
pub mod sqlx;

/// One row of the history as usher understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRow {
    pub version: i64,
    pub name: String,
    /// `None` for formats that record no checksum.
    pub checksum: Option<Vec<u8>>,
    /// As the database shows it, for `usher status`.
    pub applied_at: Option<String>,
    /// Recorded as started but never finished (sqlx `success = false`, golang-migrate
    /// `dirty`, or usher's own marker): it may be partly applied.
    pub failed: bool,
}

/// A migration tool's history format.
///
/// Implementations must produce exactly what the tool itself writes (table, column types per
/// database, checksum, names), so that the tool sees usher's rows as its own and vice versa.
pub trait HistoryFormat: Sync {
    /// The `--format` name.
    fn name(&self) -> &'static str;

    /// The history table, unqualified.
    fn table(&self) -> &'static str;

    /// The file-name pattern, for messages (`V{version}__{name}.sql`).
    fn pattern(&self) -> &'static str;

    /// Whether the tool also reads migrations in subdirectories.
    fn recursive(&self) -> bool {
        false
    }

    /// Classifies a file name (without directory). Must return `NotMine` for every name the
    /// tool itself would not consider, so that detection can tell formats apart.
    fn parse_file_name(&self, file_name: &str) -> NameMatch;

    /// The checksum the tool stores for this file, in the bytes `decode_rows` returns for
    /// stored checksums; `None` when the format stores none. `sql` is the file as read.
    fn checksum(&self, version: i64, name: &str, sql: &str) -> Option<Vec<u8>>;

    /// The advisory-lock key for this database; the tool's own key where it has one, so that
    /// replicas still running the tool are excluded too.
    fn lock_key(&self, database: &str) -> i64 {
        usher_lock_key(database)
    }

    /// `CREATE TABLE IF NOT EXISTS …` with the tool's exact column types for this database.
    fn create_table(&self, d: &Dialect) -> String;

    /// The query that reads the history; its rows go to `decode_rows`.
    fn select_rows(&self, d: &Dialect) -> Stmt;

    /// Turns the rows of `select_rows` into one `AppliedRow` per recorded migration, sorted by
    /// version. The error names what is unreadable.
    fn decode_rows(&self, rows: Vec<Vec<Value>>) -> std::result::Result<Vec<AppliedRow>, String>;

    /// Statements recording `m` as applied, run in the same transaction as the migration.
    fn record_applied(&self, d: &Dialect, m: &Migration, took: Duration) -> Vec<Stmt>;

    /// Statements recording `m` as started and not finished, for formats with their own
    /// failure flag; `None` makes usher keep its own marker instead. Run before the script
    /// when the script may commit part of itself.
    fn record_started(&self, _d: &Dialect, _m: &Migration) -> Option<Vec<Stmt>> {
        None
    }

    /// Statements turning a `record_started` row into an applied one.
    fn record_finished(&self, d: &Dialect, m: &Migration, took: Duration) -> Vec<Stmt> {
        self.record_applied(d, m, took)
    }

    /// Statements removing the record of `version` (`usher resolve --rolled-back`).
    fn forget(&self, d: &Dialect, version: i64) -> Vec<Stmt>;
}

/// Every history format usher knows, in detection order. Register a new format here.
pub static FORMATS: &[&dyn HistoryFormat] = &[&refinery::Refinery, &sqlx::Sqlx];

pub fn by_name(name: &str) -> Result<&'static dyn HistoryFormat> {
    FORMATS
        .iter()
        .copied()
        .find(|f| f.name() == name)
        .ok_or_else(|| {
            Error::config(format!(
                "--format / USHER_FORMAT: unknown history format {name:?}; use {}",
                names()
            ))
        })
}

fn names() -> String {
    FORMATS
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Every history table usher knows, for one existence query.
pub fn tables() -> Vec<&'static str> {
    FORMATS.iter().map(|f| f.table()).collect()
}

/// Chooses the format: `--format` if given, else the one every migration file's name fits,
/// checked against the history tables that exist. `None`: no files and no history, nothing
/// to do.
pub fn detect(
    forced: Option<&str>,
    files: &[SqlFile],
    existing_tables: &[String],
) -> Result<Option<&'static dyn HistoryFormat>> {
    if let Some(name) = forced {
        return by_name(name).map(Some);
    }
    let has_table = |f: &dyn HistoryFormat| {
        existing_tables
            .iter()
            .any(|t| t.eq_ignore_ascii_case(f.table()))
    };
    // Which formats claim which files (a malformed name of a format still counts as its own).
    let mut claimed: Vec<(&'static dyn HistoryFormat, Vec<&SqlFile>)> = Vec::new();
    for file in files {
        for f in FORMATS {
            if !file.top_level && !f.recursive() {
                continue;
            }
            if f.parse_file_name(&file.file_name) != NameMatch::NotMine {
                match claimed.iter_mut().find(|(c, _)| c.name() == f.name()) {
                    Some((_, list)) => list.push(file),
                    None => claimed.push((*f, vec![file])),
                }
            }
        }
    }
    let set_format = format!("set --format (USHER_FORMAT) to {}", names());
    let by_files = match claimed.len() {
        0 => None,
        1 => Some(claimed[0].0),
        _ => {
            let summary = claimed
                .iter()
                .map(|(f, list)| format!("{} ({}: {})", f.name(), f.pattern(), list[0].rel))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::new(
                Kind::MigrationsInvalid,
                format!(
                    "cannot tell the history format: the files are named for more than one tool: \
                     {summary}; rename them to one pattern, or {set_format}"
                ),
            ));
        }
    };
    let with_table: Vec<&'static dyn HistoryFormat> =
        FORMATS.iter().copied().filter(|f| has_table(*f)).collect();
    match (by_files, with_table.as_slice()) {
        (Some(f), []) => Ok(Some(f)),
        (Some(f), tables) if tables.iter().any(|t| t.name() == f.name()) => Ok(Some(f)),
        (Some(f), tables) => Err(Error::new(
            Kind::MigrationsInvalid,
            format!(
                "cannot tell the history format: the files are named for {} ({}) but the database \
                 has the history table of {} ({}); {set_format}",
                f.name(),
                f.pattern(),
                tables[0].name(),
                tables[0].table()
            ),
        )),
        (None, []) => Ok(None),
        (None, [one]) => Ok(Some(*one)),
        (None, many) => Err(Error::new(
            Kind::MigrationsInvalid,
            format!(
                "cannot tell the history format: there are no migration files and the database \
                 has the history tables of {}; {set_format}",
                many.iter()
                    .map(|f| f.table())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> SqlFile {
        SqlFile {
            path: name.into(),
            rel: name.to_string(),
            file_name: name.to_string(),
            top_level: true,
            problem: None,
        }
    }

    fn detected(files: &[&str], tables: &[&str]) -> Result<Option<&'static str>> {
        let files: Vec<SqlFile> = files.iter().map(|f| file(f)).collect();
        let tables: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
        detect(None, &files, &tables).map(|f| f.map(|f| f.name()))
    }

    #[test]
    fn by_file_names() {
        assert_eq!(
            detected(&["V1__init.sql", "V2__users.sql"], &[]).unwrap(),
            Some("refinery")
        );
        assert_eq!(
            detected(&["20240101_init.sql", "2_users.up.sql"], &[]).unwrap(),
            Some("sqlx")
        );
        // A malformed refinery name still says "refinery".
        assert_eq!(
            detected(&["V1__init.sql", "V2_users.sql"], &[]).unwrap(),
            Some("refinery")
        );
        assert_eq!(detected(&[], &[]).unwrap(), None);
    }

    #[test]
    fn by_tables_when_no_files() {
        assert_eq!(detected(&[], &["_sqlx_migrations"]).unwrap(), Some("sqlx"));
        assert_eq!(
            detected(&["1_a.sql"], &["_sqlx_migrations"]).unwrap(),
            Some("sqlx")
        );
    }

    #[test]
    fn ambiguity_says_which_setting_to_use() {
        for (files, tables) in [
            (&["V1__a.sql", "2_b.sql"][..], &[][..]),
            (&["V1__a.sql"][..], &["_sqlx_migrations"][..]),
            (
                &[][..],
                &["_sqlx_migrations", "refinery_schema_history"][..],
            ),
        ] {
            let e = detected(files, tables).unwrap_err();
            assert_eq!(e.kind, Kind::MigrationsInvalid);
            assert!(e.message.contains("--format"), "{e}");
        }
    }

    #[test]
    fn forced_format_and_unknown_name() {
        let f = detect(Some("sqlx"), &[file("V1__a.sql")], &[]).unwrap();
        assert_eq!(f.map(|f| f.name()), Some("sqlx"));
        let e = detect(Some("flyway"), &[], &[]).err().unwrap();
        assert_eq!(e.kind, Kind::Config);
        assert!(e.message.contains("refinery or sqlx"), "{e}");
    }
}
