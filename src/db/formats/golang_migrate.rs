//! The golang-migrate history format (`migrate -path DIR -database URL up`, migrate v4.19).
//!
//! Files `{version}_{title}.up.sql` (the `.down.sql` ones are never run); table
//! `schema_migrations` holding ONE row: the newest applied version and whether it is `dirty`
//! (started and not finished). Every file up to that version counts as applied; migrate marks
//! the row dirty, committed, before it runs a file and clean after, so a failure stops every
//! later run with "Dirty database version N. Fix and force version." Rules from migrate's
//! `source/parse.go`, `migrate.go` and `database/{postgres,mysql,sqlite3}`.

use std::time::Duration;

use super::file_names;
use super::{AppliedRow, HistoryFormat, NameMatch};
use crate::db::backends::{Dialect, Stmt, Value, crc32_ieee};
use crate::db::source::Migration;
use crate::db::sql::Lexing;

pub struct GolangMigrate;

const TABLE: &str = "schema_migrations";

impl HistoryFormat for GolangMigrate {
    fn name(&self) -> &'static str {
        "golang-migrate"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn pattern(&self) -> &'static str {
        "{version}_{title}.up.sql"
    }

    fn parse_file_name(&self, file_name: &str) -> NameMatch {
        file_names::golang_migrate(file_name)
    }

    fn checksum(&self, _version: i64, _name: &str, _sql: &str) -> Option<Vec<u8>> {
        None
    }

    /// migrate's PostgreSQL key (`GenerateAdvisoryLockId` in `database/util.go`, called with
    /// the current schema and the table): `crc32("public\0schema_migrations\0<database>")`
    /// times 1486364155, in 32 bits — for the default schema `public`. Its MySQL lock is a
    /// `GET_LOCK` name in decimal, which usher's hex names cannot be.
    fn lock_key(&self, database: &str) -> i64 {
        advisory_lock_id(&format!("public\0{TABLE}\0{database}"))
    }

    /// `ensureVersionTable` of each driver, word for word (MySQL's without the backquotes;
    /// SQLite's index names its table quoted, which keeps usher from qualifying it as
    /// `main.schema_migrations`, a name `CREATE INDEX … ON` does not accept).
    fn create_table(&self, d: &Dialect) -> Vec<String> {
        match d.lexing {
            Lexing::Sqlite => vec![
                format!("CREATE TABLE IF NOT EXISTS {TABLE} (version uint64,dirty bool)"),
                format!(
                    "CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON \"{TABLE}\" (version)"
                ),
            ],
            _ => vec![format!(
                "CREATE TABLE IF NOT EXISTS {TABLE} (version bigint not null primary key, dirty \
                 boolean not null)"
            )],
        }
    }

    fn select_rows(&self, _d: &Dialect) -> Stmt {
        Stmt::new(format!("SELECT version, dirty FROM {TABLE}"), vec![])
    }

    /// The one row `(V, dirty)` becomes a row for every file up to V (migrate's `up` starts
    /// after V), V's own failed when dirty; V has a row even without a file (migrate then
    /// fails with "no migration found for version V"; usher reports it as unknown). Should
    /// there be more rows, the newest version counts, dirty if any is.
    fn decode_rows(
        &self,
        rows: Vec<Vec<Value>>,
        files: &[Migration],
    ) -> Result<Vec<AppliedRow>, String> {
        let mut newest: Option<(i64, bool)> = None;
        for row in &rows {
            let (Some(v), Some(dirty)) = (
                row.first().and_then(Value::as_i64),
                row.get(1).and_then(Value::as_bool),
            ) else {
                return Err(format!("{TABLE} has an unreadable row: {row:?}"));
            };
            let (top, any_dirty) = newest.unwrap_or((v, false));
            newest = Some((top.max(v), any_dirty || dirty));
        }
        let Some((version, dirty)) = newest else {
            return Ok(Vec::new());
        };
        let row = |v: i64, name: &str, failed: bool| AppliedRow {
            version: v,
            name: name.to_string(),
            checksum: None,
            applied_at: None,
            failed,
        };
        let mut applied: Vec<AppliedRow> = files
            .iter()
            .filter(|m| m.version < version)
            .map(|m| row(m.version, &m.name, false))
            .collect();
        let name = files.iter().find(|m| m.version == version);
        applied.push(row(version, name.map_or("", |m| &m.name), dirty));
        Ok(applied)
    }

    /// `SetVersion(v, false)`: migrate truncates the table and inserts the row in one
    /// transaction; the same row is written here in two statements that each leave one valid
    /// row (update it, or insert it into the empty table), so no crash can leave none.
    fn record_applied(&self, _d: &Dialect, m: &Migration, _took: Duration) -> Vec<Stmt> {
        set_version(m.version, false)
    }

    /// `SetVersion(v, true)`, committed before the file runs, as `runMigrations` does.
    fn record_started(&self, _d: &Dialect, m: &Migration) -> Option<Vec<Stmt>> {
        Some(set_version(m.version, true))
    }

    fn records_attempts(&self) -> bool {
        true
    }

    fn record_finished(&self, _d: &Dialect, m: &Migration, _took: Duration) -> Vec<Stmt> {
        vec![Stmt::new(
            format!(
                "UPDATE {TABLE} SET dirty = FALSE WHERE version = {}",
                m.version
            ),
            vec![],
        )]
    }

    /// `migrate force P` with P the file before the failed one, or `force -1` (no row) when
    /// there is none: the failed migration runs again at the next start.
    fn forget(&self, _d: &Dialect, row: &AppliedRow, files: &[Migration]) -> Vec<Stmt> {
        match files.iter().rev().find(|m| m.version < row.version) {
            Some(before) => set_version(before.version, false),
            None => vec![Stmt::new(format!("DELETE FROM {TABLE}"), vec![])],
        }
    }

    fn failed_meaning(&self, row: &AppliedRow) -> Option<String> {
        Some(format!(
            "golang-migrate: Dirty database version {}. Fix and force version.",
            row.version
        ))
    }
}

/// migrate's `GenerateAdvisoryLockId` of the names joined by NUL.
fn advisory_lock_id(names: &str) -> i64 {
    i64::from(crc32_ieee(names.as_bytes()).wrapping_mul(1_486_364_155))
}

/// The one row set to `(version, dirty)`: an update of the row there is, then an insert when
/// there was none (the derived table lets MySQL read the table it inserts into).
fn set_version(version: i64, dirty: bool) -> Vec<Stmt> {
    let dirty = if dirty { "TRUE" } else { "FALSE" };
    vec![
        Stmt::new(
            format!("UPDATE {TABLE} SET version = {version}, dirty = {dirty}"),
            vec![],
        ),
        Stmt::new(
            format!(
                "INSERT INTO {TABLE} (version, dirty) SELECT {version}, {dirty} FROM (SELECT \
                 COUNT(*) AS n FROM {TABLE}) AS c WHERE c.n = 0"
            ),
            vec![],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(versions: &[i64]) -> Vec<Migration> {
        versions
            .iter()
            .map(|v| Migration::for_tests(*v, &format!("m{v}"), "SELECT 1;", &GolangMigrate))
            .collect()
    }

    fn decoded(rows: &[(i64, bool)], on_disk: &[i64]) -> Vec<(i64, String, bool)> {
        let rows = rows
            .iter()
            .map(|(v, d)| vec![Value::Int(*v), Value::Bool(*d)])
            .collect();
        GolangMigrate
            .decode_rows(rows, &files(on_disk))
            .unwrap()
            .into_iter()
            .map(|r| (r.version, r.name, r.failed))
            .collect()
    }

    #[test]
    fn one_row_means_every_file_up_to_it() {
        assert_eq!(decoded(&[], &[1, 2]), vec![]);
        assert_eq!(
            decoded(&[(2, false)], &[1, 2, 3]),
            vec![(1, "m1".into(), false), (2, "m2".into(), false)]
        );
        assert_eq!(
            decoded(&[(3, true)], &[1, 3, 4]),
            vec![(1, "m1".into(), false), (3, "m3".into(), true)]
        );
        // A version with no file is still recorded (and reported as unknown).
        assert_eq!(
            decoded(&[(5, false)], &[1]),
            vec![(1, "m1".into(), false), (5, String::new(), false)]
        );
        // migrate's NilVersion kept dirty after a failed first down.
        assert_eq!(
            decoded(&[(-1, true)], &[1]),
            vec![(-1, String::new(), true)]
        );
        assert!(
            GolangMigrate
                .decode_rows(vec![vec![Value::Null]], &[])
                .is_err()
        );
    }

    #[test]
    fn rolled_back_is_the_version_before_as_force_writes_it() {
        let d = Dialect {
            name: "test",
            numbered_placeholders: true,
            bytes_type: "BYTEA",
            timestamp_default_now: "",
            text_cast_type: "TEXT",
            ddl_commits: false,
            lexing: Lexing::Postgres,
            session_reset: None,
            timer: None,
        };
        let row = |v| AppliedRow {
            version: v,
            name: String::new(),
            checksum: None,
            applied_at: None,
            failed: true,
        };
        let on_disk = files(&[1, 4, 9]);
        let sql = |stmts: Vec<Stmt>| stmts.into_iter().map(|s| s.sql).collect::<Vec<_>>();
        assert!(sql(GolangMigrate.forget(&d, &row(9), &on_disk))[0].contains("version = 4,"));
        assert_eq!(
            sql(GolangMigrate.forget(&d, &row(1), &on_disk)),
            ["DELETE FROM schema_migrations"]
        );
    }

    /// migrate's own test vectors for `GenerateAdvisoryLockId` (database/util_test.go), and
    /// the key it takes on PostgreSQL for database `app` in schema `public`.
    #[test]
    fn lock_key_as_migrate() {
        let id = advisory_lock_id;
        assert_eq!(id("database_name"), 1_764_327_054);
        assert_eq!(id("schema_name_1\0database_name"), 2_453_313_553);
        assert_eq!(GolangMigrate.lock_key("app"), 1_787_120_056);
    }
}
