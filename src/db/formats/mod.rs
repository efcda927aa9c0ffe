//! History formats: how a migration tool names its files and records what it applied.
//!
//! One file per tool implements `HistoryFormat`: sqlx.rs, refinery.rs, prisma.rs,
//! golang_migrate.rs, dbmate.rs, goose.rs; `FORMATS` registers them and `detect` chooses one;
//! `file_names` holds the tools' file-name and section-mark rules as pure functions (fuzzed).
//! A history is rows — one per migration, or one for the whole table (golang-migrate, decoded
//! against the files) — with an optional checksum and an optional "failed / dirty" state; a
//! file is a whole script or the up section of one; an attempt is recorded before it runs
//! where the tool does so (Prisma, golang-migrate).

use std::time::Duration;

use crate::db::backends::{Dialect, Stmt, Value, usher_lock_key};
use crate::db::source::{Migration, SqlFile};
use crate::exit::{Error, Kind, Result};

pub use file_names::NameMatch;

pub mod dbmate;
mod file_names;
pub mod golang_migrate;
pub mod goose;
pub mod prisma;
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

/// The part of a migration file to run, as its tool would run it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    /// The text to send, when not the whole file: the file with the parts the tool does not
    /// run (down sections) blanked, every newline kept, so that line and column numbers in
    /// errors still point into the file.
    pub text: Option<String>,
    /// Runs outside a transaction (sqlx's `-- no-transaction`, dbmate's `transaction:false`,
    /// goose's `NO TRANSACTION`).
    pub no_transaction: bool,
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

    /// Classifies a file of the migration directory: by default its name, for files the tool
    /// reads (top level, or anywhere for `recursive` tools). A format whose migrations are
    /// folders (Prisma) looks at the path instead.
    fn classify(&self, file: &SqlFile) -> NameMatch {
        if file.depth == 0 || self.recursive() {
            self.parse_file_name(&file.file_name)
        } else {
            NameMatch::NotMine
        }
    }

    /// Whether the file carries this tool's own marks (dbmate's `-- migrate:up`, goose's
    /// `-- +goose Up`, Prisma's `<name>/migration.sql`): such a claim beats formats that claim
    /// a file by its name alone. Only called for files `classify` accepts.
    fn marked(&self, _file: &SqlFile) -> bool {
        false
    }

    /// Whether the tool's files are told apart only by their marks (dbmate and goose name
    /// files as sqlx does): unmarked, such a format never claims a file in detection.
    fn needs_marks(&self) -> bool {
        false
    }

    /// What of the file runs, and how. The default is the whole file, outside a transaction
    /// when its first line is sqlx's `-- no-transaction`; it refuses a file that carries
    /// another tool's up/down marks, which must never run as a whole. The error says what is
    /// wrong; the caller names the file.
    fn script(&self, sql: &str) -> std::result::Result<Script, String> {
        whole_file(self.name(), sql)
    }

    /// Checks the migration directory as a whole before anything connects further (Prisma's
    /// `migration_lock.toml` must name the database's provider). The error says what to fix.
    fn check_directory(
        &self,
        _dir: &std::path::Path,
        _d: &Dialect,
    ) -> std::result::Result<(), String> {
        Ok(())
    }

    /// The checksum the tool stores for this file, in the bytes `decode_rows` returns for
    /// stored checksums; `None` when the format stores none. `sql` is the file as read.
    fn checksum(&self, version: i64, name: &str, sql: &str) -> Option<Vec<u8>>;

    /// The advisory-lock key for this database; the tool's own key where it has one, so that
    /// replicas still running the tool are excluded too.
    fn lock_key(&self, database: &str) -> i64 {
        usher_lock_key(database)
    }

    /// The statements creating the history table with the tool's exact column types for
    /// this database (`CREATE TABLE IF NOT EXISTS …`, then whatever the tool writes with it:
    /// an index, goose's version-0 row). Run once, in order, under the migration lock.
    fn create_table(&self, d: &Dialect) -> Vec<String>;

    /// The query that reads the history; its rows go to `decode_rows`.
    fn select_rows(&self, d: &Dialect) -> Stmt;

    /// Turns the rows of `select_rows` into one `AppliedRow` per recorded migration, sorted by
    /// version. `files` are the migrations of the directory, for formats that record only
    /// the newest version (golang-migrate: every file up to it is applied). The error names
    /// what is unreadable.
    fn decode_rows(
        &self,
        rows: Vec<Vec<Value>>,
        files: &[Migration],
    ) -> std::result::Result<Vec<AppliedRow>, String>;

    /// Statements recording `m` as applied, run in the same transaction as the migration.
    fn record_applied(&self, d: &Dialect, m: &Migration, took: Duration) -> Vec<Stmt>;

    /// Statements recording `m` as started and not finished, for formats with their own
    /// failure flag; `None` makes usher keep its own marker instead. Run before the script
    /// when the script may commit part of itself, or always (`records_attempts`).
    fn record_started(&self, _d: &Dialect, _m: &Migration) -> Option<Vec<Stmt>> {
        None
    }

    /// Whether the tool records every attempt before running it, committed, so that a
    /// failure stays visible (Prisma's row with `finished_at` NULL, golang-migrate's `dirty`):
    /// usher then does the same, and runs `record_failed` after a failure.
    fn records_attempts(&self) -> bool {
        false
    }

    /// Statements recording why a started migration failed (Prisma's `logs`), run after the
    /// rollback; `error` is the message usher prints.
    fn record_failed(&self, _d: &Dialect, _m: &Migration, _error: &str) -> Vec<Stmt> {
        Vec::new()
    }

    /// Statements turning a `record_started` row into an applied one.
    fn record_finished(&self, d: &Dialect, m: &Migration, took: Duration) -> Vec<Stmt> {
        self.record_applied(d, m, took)
    }

    /// `usher resolve --applied` of a failed row, when the tool's own repair differs from
    /// `record_finished` (Prisma marks the failed attempt rolled back and records a new,
    /// applied one). `file` is the migration's file when there is one.
    fn resolve_applied(
        &self,
        _d: &Dialect,
        _row: &AppliedRow,
        _file: Option<&Migration>,
    ) -> Option<Vec<Stmt>> {
        None
    }

    /// Statements removing the record of a failed `row` (`usher resolve --rolled-back`), so
    /// that the migration runs again; `files` as for `decode_rows`.
    fn forget(&self, d: &Dialect, row: &AppliedRow, files: &[Migration]) -> Vec<Stmt>;

    /// Statements recording `migrations` (ascending) as applied without running them
    /// (`usher baseline`), as the tool's own way of doing that writes them.
    fn record_baseline(&self, d: &Dialect, migrations: &[Migration]) -> Vec<Stmt> {
        migrations
            .iter()
            .flat_map(|m| self.record_applied(d, m, Duration::ZERO))
            .collect()
    }

    /// What the tool itself says about a failed row, for the message that stops the start
    /// (Prisma's P3009, golang-migrate's "Dirty database version").
    fn failed_meaning(&self, _row: &AppliedRow) -> Option<String> {
        None
    }
}

/// The default `HistoryFormat::script`: the whole file, refusing one with another tool's
/// up/down marks.
pub fn whole_file(format: &str, sql: &str) -> std::result::Result<Script, String> {
    if let Some((tool, mark)) = file_names::foreign_marks(sql) {
        return Err(format!(
            "it has {tool}'s `{mark}` line, so it holds sections that must not all run, but the \
             history format is {format}; set --format {tool} (USHER_FORMAT={tool}) if this is \
             {tool}'s directory, or remove the line"
        ));
    }
    Ok(Script {
        text: None,
        no_transaction: sql
            .strip_prefix('\u{feff}')
            .unwrap_or(sql)
            .starts_with("-- no-transaction"),
    })
}

/// Every history format usher knows, in detection order. Register a new format here.
pub static FORMATS: &[&dyn HistoryFormat] = &[
    &refinery::Refinery,
    &sqlx::Sqlx,
    &prisma::Prisma,
    &dbmate::Dbmate,
    &golang_migrate::GolangMigrate,
    &goose::Goose,
];

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
    let mut tables: Vec<&'static str> = FORMATS.iter().map(|f| f.table()).collect();
    tables.dedup();
    tables
}

/// Chooses the format: `--format` if given, else from the files and the history tables.
///
/// A file carrying a tool's own marks (`HistoryFormat::marked`) decides; otherwise the formats
/// that claim files by name alone, and when more than one does (sqlx and golang-migrate both
/// read `{version}_{name}.up.sql`), the history table that exists. Whatever is chosen must
/// agree with the history tables present. `None`: no files and no history, nothing to do.
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
    // Which formats claim which files (a malformed name of a format still counts as its own),
    // and whether by their own marks.
    let mut claimed: Vec<(&'static dyn HistoryFormat, Vec<&SqlFile>, bool)> = Vec::new();
    for file in files.iter().filter(|f| f.problem.is_none()) {
        for f in FORMATS {
            if f.classify(file) == NameMatch::NotMine {
                continue;
            }
            let marked = f.marked(file);
            match claimed.iter_mut().find(|(c, ..)| c.name() == f.name()) {
                Some((_, list, m)) => {
                    list.push(file);
                    *m |= marked;
                }
                None => claimed.push((*f, vec![file], marked)),
            }
        }
    }
    let set_format = format!("set --format (USHER_FORMAT) to {}", names());
    let summary = |list: &[&(&'static dyn HistoryFormat, Vec<&SqlFile>, bool)]| {
        list.iter()
            .map(|(f, files, _)| format!("{} ({}: {})", f.name(), f.pattern(), files[0].rel))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let marked: Vec<_> = claimed.iter().filter(|c| c.2).collect();
    // By name: the formats that claim the most files (sqlx reads `1_a.sql` and `2_b.up.sql`,
    // golang-migrate only the second, so a mix is sqlx's).
    let most = claimed
        .iter()
        .filter(|c| !c.0.needs_marks())
        .map(|c| c.1.len())
        .max()
        .unwrap_or(0);
    let by_name: Vec<_> = claimed
        .iter()
        .filter(|c| !c.0.needs_marks() && c.1.len() == most)
        .collect();
    let by_files = match (marked.as_slice(), by_name.as_slice()) {
        ([one], _) => Some(one.0),
        ([_, _, ..], _) => {
            return Err(Error::new(
                Kind::MigrationsInvalid,
                format!(
                    "cannot tell the history format: the files carry the marks of more than one \
                     tool: {}; keep one tool's migrations in the directory, or {set_format}",
                    summary(&marked)
                ),
            ));
        }
        ([], []) => None,
        ([], [one]) => Some(one.0),
        ([], many) => {
            let with_table: Vec<_> = many.iter().filter(|c| has_table(c.0)).collect();
            match with_table.as_slice() {
                [one] => Some(one.0),
                _ => {
                    return Err(Error::new(
                        Kind::MigrationsInvalid,
                        format!(
                            "cannot tell the history format: the file names fit more than one \
                             tool: {}, and the database has {}; {set_format}",
                            summary(many),
                            match with_table.len() {
                                0 => "no history table yet".to_string(),
                                _ => "the history tables of each".to_string(),
                            }
                        ),
                    ));
                }
            }
        }
    };
    if by_files.is_none()
        && let Some(stray) = files.iter().find(|f| f.depth == 0 || f.problem.is_none())
    {
        return Err(Error::new(
            Kind::MigrationsInvalid,
            format!(
                "{} is in no migration layout usher knows, so nothing would run: name the files \
                 as one tool does ({}), or {set_format}",
                stray.rel,
                FORMATS
                    .iter()
                    .map(|f| format!("{}: {}", f.name(), f.pattern()))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
    }
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
                    .map(|f| format!("{} ({})", f.name(), f.table()))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration checks --format against its own list, so that a bad value is
    /// refused before any step runs: it must name exactly the formats registered here.
    #[test]
    fn the_configuration_knows_every_format_by_name() {
        let mut registered: Vec<&str> = FORMATS.iter().map(|f| f.name()).collect();
        let mut known = crate::config::FORMAT_NAMES.to_vec();
        registered.sort_unstable();
        known.sort_unstable();
        assert_eq!(registered, known);
    }

    fn file(name: &str) -> SqlFile {
        SqlFile {
            path: name.into(),
            rel: name.to_string(),
            file_name: name.to_string(),
            depth: 0,
            problem: None,
            bytes: None,
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

    /// Files on disk, for the formats that read their marks.
    fn on_disk(files: &[(&str, &str)], tables: &[&str]) -> Result<Option<&'static str>> {
        let dir = std::env::temp_dir().join(format!(
            "usher-detect-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (rel, text) in files {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
        let listed = crate::db::source::list(&dir).unwrap();
        let tables: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
        let found = detect(None, &listed, &tables).map(|f| f.map(|f| f.name()));
        let _ = std::fs::remove_dir_all(&dir);
        found
    }

    #[test]
    fn a_tools_own_marks_decide() {
        let dbmate = "-- migrate:up\nCREATE TABLE a (x int);\n-- migrate:down\n";
        assert_eq!(
            on_disk(&[("1_a.sql", dbmate), ("2_b.sql", dbmate)], &[]).unwrap(),
            Some("dbmate")
        );
        assert_eq!(
            on_disk(&[("20240101000000_init/migration.sql", "SELECT 1;")], &[]).unwrap(),
            Some("prisma")
        );
        // Unmarked files of the same names are sqlx's.
        assert_eq!(
            on_disk(&[("1_a.sql", "SELECT 1;")], &[]).unwrap(),
            Some("sqlx")
        );
        // Marks of two tools cannot be one directory.
        let e = on_disk(
            &[
                ("1_a.sql", dbmate),
                ("20240101000000_init/migration.sql", "SELECT 1;"),
            ],
            &[],
        )
        .unwrap_err();
        assert_eq!(e.kind, Kind::MigrationsInvalid);
        assert!(e.message.contains("--format"), "{e}");
    }

    #[test]
    fn up_sql_files_need_a_table_or_format_to_tell_sqlx_from_golang_migrate() {
        let files = ["1_a.up.sql", "1_a.down.sql", "2_b.up.sql"];
        let e = detected(&files, &[]).unwrap_err();
        assert_eq!(e.kind, Kind::MigrationsInvalid);
        for needle in ["sqlx", "golang-migrate", "1_a.up.sql", "--format"] {
            assert!(e.message.contains(needle), "{needle}: {e}");
        }
        assert_eq!(
            detected(&files, &["schema_migrations"]).unwrap(),
            Some("golang-migrate")
        );
        assert_eq!(
            detected(&files, &["_sqlx_migrations"]).unwrap(),
            Some("sqlx")
        );
        // A plain `.sql` file among them is sqlx's alone.
        assert_eq!(
            detected(&["1_a.sql", "2_b.up.sql"], &[]).unwrap(),
            Some("sqlx")
        );
    }

    #[test]
    fn sql_files_in_no_layout_are_an_error_not_nothing_to_do() {
        for files in [
            &[("schema.sql", "SELECT 1;")][..],
            &[("seed/data.sql", "SELECT 1;")],
        ] {
            let e = on_disk(files, &[]).unwrap_err();
            assert_eq!(e.kind, Kind::MigrationsInvalid, "{e}");
            assert!(e.message.contains(files[0].0), "{e}");
            assert!(e.message.contains("--format"), "{e}");
        }
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

    /// goose's annotations decide (its names are sqlx's); golang-migrate's `.up.sql` names are
    /// sqlx's too, so its table decides, and without one `--format` must.
    #[test]
    fn go_tools_by_marks_and_by_table() {
        let goose = "-- +goose Up\nCREATE TABLE a (x int);\n-- +goose Down\nDROP TABLE a;\n";
        assert_eq!(
            on_disk(&[("1_a.sql", goose), ("2_b.sql", goose)], &[]).unwrap(),
            Some("goose")
        );
        let up = [("1_a.up.sql", "SELECT 1;"), ("1_a.down.sql", "SELECT 1;")];
        assert_eq!(
            on_disk(&up, &["schema_migrations"]).unwrap(),
            Some("golang-migrate")
        );
        assert_eq!(on_disk(&up, &["_sqlx_migrations"]).unwrap(), Some("sqlx"));
        let e = on_disk(&up, &[]).unwrap_err();
        assert!(e.message.contains("golang-migrate"), "{e}");
    }
}
