//! The Prisma history format (`prisma migrate deploy`, Prisma 6).
//!
//! Migrations are folders `<timestamp>_<name>/migration.sql`, beside `migration_lock.toml`
//! (whose `provider` must be the database's); table `_prisma_migrations` with Prisma's columns
//! per database. Every attempt is a row inserted before the script runs (`id` a random UUID
//! v4, `checksum` the lowercase hex SHA-256 of `migration.sql`); success sets `finished_at` and
//! counts the step, failure writes the error to `logs` and leaves `finished_at` NULL, which
//! blocks every later deploy (Prisma's P3009) until `resolve` marks the row rolled back or
//! applied. All from prisma-engines' schema-engine: `sql_migration_persistence.rs` (the rows),
//! `flavour/{postgres,mysql,sqlite}.rs` (tables, lock), `commands/mark_migration_applied.rs`
//! and `mark_migration_rolled_back.rs` (resolve).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{AppliedRow, HistoryFormat, NameMatch, Script};
use crate::db::backends::{Dialect, Stmt, Value};
use crate::db::source::{Migration, SqlFile};
use crate::db::sql::Lexing;

pub struct Prisma;

const TABLE: &str = "_prisma_migrations";

impl HistoryFormat for Prisma {
    fn name(&self) -> &'static str {
        "prisma"
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn pattern(&self) -> &'static str {
        "{timestamp}_{name}/migration.sql"
    }

    fn parse_file_name(&self, _file_name: &str) -> NameMatch {
        NameMatch::NotMine
    }

    /// Prisma reads `migration.sql` in each folder of the directory and nothing else; usher
    /// orders the folders by the number their name starts with (Prisma sorts the names, which
    /// is the same order for its `YYYYMMDDHHMMSS_` names).
    fn classify(&self, file: &SqlFile) -> NameMatch {
        if file.depth != 1 {
            return match file.depth {
                0 => NameMatch::Ignored,
                _ => NameMatch::NotMine,
            };
        }
        if file.file_name != "migration.sql" {
            return NameMatch::Ignored;
        }
        let folder = file
            .path
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        match folder_version(folder) {
            Some(version) => NameMatch::Migration {
                version,
                name: folder.to_string(),
                any_order: false,
            },
            None => NameMatch::Malformed(format!(
                "the folder name {folder:?} does not start with a timestamp and an underscore \
                 (as `prisma migrate dev` names them), which usher orders migrations by"
            )),
        }
    }

    fn marked(&self, file: &SqlFile) -> bool {
        matches!(self.classify(file), NameMatch::Migration { .. })
    }

    fn needs_marks(&self) -> bool {
        true
    }

    /// Prisma runs `migration.sql` as it is (on PostgreSQL one multi-statement query, which
    /// the server runs in one implicit transaction; usher's own transaction is equivalent).
    fn script(&self, sql: &str) -> Result<Script, String> {
        super::whole_file(self.name(), sql).map(|s| Script {
            no_transaction: false,
            ..s
        })
    }

    fn checksum(&self, _version: i64, _name: &str, sql: &str) -> Option<Vec<u8>> {
        let digest = ring::digest::digest(&ring::digest::SHA256, sql.as_bytes());
        Some(hex(digest.as_ref()).into_bytes())
    }

    /// `acquire_lock` in flavour/postgres.rs: `pg_advisory_lock(72707369)`. (On MySQL Prisma
    /// takes `GET_LOCK('prisma_migrate')`, a name; usher's MySQL lock is named by the key.)
    fn lock_key(&self, _database: &str) -> i64 {
        72_707_369
    }

    fn check_directory(&self, dir: &Path, d: &Dialect) -> Result<(), String> {
        let lock_file = dir.join("migration_lock.toml");
        let Ok(text) = std::fs::read_to_string(&lock_file) else {
            return Ok(());
        };
        let wanted = match d.lexing {
            Lexing::Postgres => "postgresql",
            Lexing::MySql => "mysql",
            Lexing::Sqlite => "sqlite",
        };
        match lock_provider(&text) {
            Some(p) if p == wanted || (wanted == "postgresql" && p == "postgres") => Ok(()),
            Some(p) => Err(format!(
                "{} says provider = {p:?}, but DATABASE_URL is a {} database (Prisma's P3019): \
                 the migrations were written for another database; point DATABASE_URL at a \
                 {p} database, or generate the migrations for {wanted}",
                lock_file.display(),
                d.name
            )),
            None => Ok(()),
        }
    }

    /// `create_migrations_table` of each flavour.
    fn create_table(&self, d: &Dialect) -> Vec<String> {
        vec![match d.lexing {
            Lexing::Postgres => format!(
                "CREATE TABLE IF NOT EXISTS {TABLE} (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);"
            ),
            Lexing::MySql => format!(
                "CREATE TABLE IF NOT EXISTS {TABLE} (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             DATETIME(3),
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          DATETIME(3),
    started_at              DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    applied_steps_count     INTEGER UNSIGNED NOT NULL DEFAULT 0
) DEFAULT CHARACTER SET utf8mb4"
            ),
            Lexing::Sqlite => format!(
                "CREATE TABLE IF NOT EXISTS \"{TABLE}\" (
    \"id\"                    TEXT PRIMARY KEY NOT NULL,
    \"checksum\"              TEXT NOT NULL,
    \"finished_at\"           DATETIME,
    \"migration_name\"        TEXT NOT NULL,
    \"logs\"                  TEXT,
    \"rolled_back_at\"        DATETIME,
    \"started_at\"            DATETIME NOT NULL DEFAULT current_timestamp,
    \"applied_steps_count\"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)"
            ),
        }]
    }

    /// The fifth column says whether an unfinished row can only be an abandoned attempt that
    /// applied nothing: on PostgreSQL, where Prisma and usher both run `migration.sql` in one
    /// transaction, a row with no `logs` was left by a process killed mid-run (a failure
    /// writes its error), and its transaction died with its connection.
    fn select_rows(&self, d: &Dialect) -> Stmt {
        Stmt::new(
            format!(
                "SELECT migration_name, checksum, {}, {}, {} FROM {TABLE} ORDER BY started_at",
                d.as_text("finished_at"),
                d.as_text("rolled_back_at"),
                match d.lexing {
                    Lexing::Postgres => "CASE WHEN logs IS NULL THEN 1 ELSE 0 END",
                    _ => "0",
                }
            ),
            vec![],
        )
    }

    /// One entry per migration name: applied when a row finished (and was not rolled back),
    /// failed when a row neither finished nor was rolled back; rolled-back rows are history
    /// only, as in Prisma's `diagnose_migration_history`. An abandoned attempt (see
    /// `select_rows`) of a file that cannot have committed part of itself counts as not
    /// applied: the next run closes it (`record_started`) and runs the migration again, where
    /// Prisma would stop every deploy until someone resolves it.
    fn decode_rows(
        &self,
        rows: Vec<Vec<Value>>,
        files: &[Migration],
    ) -> Result<Vec<AppliedRow>, String> {
        let mut out: Vec<AppliedRow> = Vec::new();
        for row in rows {
            let name = row.first().and_then(Value::as_text).unwrap_or_default();
            let finished = row.get(2).and_then(Value::as_text);
            let rolled_back = row.get(3).and_then(Value::as_text).is_some();
            let abandoned = row.get(4).and_then(Value::as_i64) == Some(1);
            if rolled_back {
                continue;
            }
            if finished.is_none()
                && abandoned
                && files
                    .iter()
                    .find(|m| m.name == name)
                    .is_some_and(|m| one_transaction(&m.sql))
            {
                continue;
            }
            let version = folder_version(&name).ok_or_else(|| {
                format!(
                    "{TABLE} has the migration {name:?}, whose name does not start with a \
                     timestamp and an underscore, which usher orders migrations by"
                )
            })?;
            let entry = AppliedRow {
                version,
                checksum: row.get(1).and_then(Value::as_text).map(String::into_bytes),
                failed: finished.is_none(),
                applied_at: finished,
                name,
            };
            match out.iter_mut().find(|r| r.name == entry.name) {
                // A finished row outweighs a failed attempt of the same migration.
                Some(r) if !r.failed => {}
                Some(r) if !entry.failed => *r = entry,
                Some(_) => {}
                None => out.push(entry),
            }
        }
        out.sort_by_key(|r| r.version);
        Ok(out)
    }

    /// `mark_migration_applied_impl`: a finished row with empty `logs` and no step counted —
    /// how Prisma records a migration applied without running it (`migrate resolve
    /// --applied`, baselining).
    fn record_applied(&self, d: &Dialect, m: &Migration, _took: Duration) -> Vec<Stmt> {
        let now = now(d);
        vec![Stmt::new(
            format!(
                "INSERT INTO {TABLE} (id, checksum, logs, started_at, finished_at, \
                 migration_name) VALUES ({}, {}, '', {now}, {now}, {})",
                d.param(1),
                d.param(2),
                d.param(3)
            ),
            vec![
                Value::Text(uuid_v4()),
                Value::Text(checksum_text(m)),
                Value::Text(m.name.clone()),
            ],
        )]
    }

    /// `record_migration_started_impl`, after closing the migration's abandoned attempts
    /// (`decode_rows`) as `resolve --rolled-back` would.
    fn record_started(&self, d: &Dialect, m: &Migration) -> Option<Vec<Stmt>> {
        let abandoned = AppliedRow {
            version: m.version,
            name: m.name.clone(),
            checksum: None,
            applied_at: None,
            failed: true,
        };
        let mut stmts = self.forget(d, &abandoned, &[]);
        stmts.push(Stmt::new(
            format!(
                "INSERT INTO {TABLE} (id, checksum, started_at, migration_name) VALUES ({}, {}, \
                 {}, {})",
                d.param(1),
                d.param(2),
                now(d),
                d.param(3)
            ),
            vec![
                Value::Text(uuid_v4()),
                Value::Text(checksum_text(m)),
                Value::Text(m.name.clone()),
            ],
        ));
        Some(stmts)
    }

    fn records_attempts(&self) -> bool {
        true
    }

    /// `record_failed_step`.
    fn record_failed(&self, d: &Dialect, m: &Migration, error: &str) -> Vec<Stmt> {
        vec![Stmt::new(
            format!(
                "UPDATE {TABLE} SET logs = {} WHERE {}",
                d.param(1),
                open_attempt(d, 2)
            ),
            vec![Value::Text(error.to_string()), Value::Text(m.name.clone())],
        )]
    }

    /// `record_successful_step`, then `record_migration_finished`, in one statement.
    fn record_finished(&self, d: &Dialect, m: &Migration, _took: Duration) -> Vec<Stmt> {
        vec![Stmt::new(
            format!(
                "UPDATE {TABLE} SET applied_steps_count = applied_steps_count + 1, finished_at = \
                 {} WHERE {}",
                now(d),
                open_attempt(d, 1)
            ),
            vec![Value::Text(m.name.clone())],
        )]
    }

    /// `mark_migration_applied`: the failed attempts are marked rolled back, then a new row
    /// records the migration as applied.
    fn resolve_applied(
        &self,
        d: &Dialect,
        row: &AppliedRow,
        file: Option<&Migration>,
    ) -> Option<Vec<Stmt>> {
        let mut stmts = self.forget(d, row, &[]);
        let from_row = Migration {
            version: row.version,
            name: row.name.clone(),
            file: String::new(),
            sql: String::new(),
            run: None,
            checksum: row.checksum.clone(),
            no_transaction: false,
            any_order: false,
        };
        stmts.extend(self.record_applied(d, file.unwrap_or(&from_row), Duration::ZERO));
        Some(stmts)
    }

    /// `mark_migration_rolled_back_by_id` for every open attempt of the migration.
    fn forget(&self, d: &Dialect, row: &AppliedRow, _files: &[Migration]) -> Vec<Stmt> {
        vec![Stmt::new(
            format!(
                "UPDATE {TABLE} SET rolled_back_at = {} WHERE {}",
                now(d),
                open_attempt(d, 1)
            ),
            vec![Value::Text(row.name.clone())],
        )]
    }

    fn failed_meaning(&self, row: &AppliedRow) -> Option<String> {
        Some(format!(
            "Prisma's P3009: the migration {} failed, and `prisma migrate deploy` applies \
             nothing after a failed migration either",
            row.name
        ))
    }
}

/// Whether a `migration.sql` runs as one transaction, so that an attempt killed mid-run left
/// nothing behind: it neither ends transactions itself nor runs a statement PostgreSQL refuses
/// in one (`… CONCURRENTLY`, `VACUUM`). Conservative: the words anywhere, comments included.
fn one_transaction(sql: &str) -> bool {
    let upper = sql.to_ascii_uppercase();
    !["COMMIT", "CONCURRENTLY", "VACUUM", "ROLLBACK", "END;"]
        .iter()
        .any(|w| upper.contains(w))
}

/// The rows of `name` that neither finished nor were rolled back; `name` is parameter `n`.
fn open_attempt(d: &Dialect, n: usize) -> String {
    format!(
        "migration_name = {} AND finished_at IS NULL AND rolled_back_at IS NULL",
        d.param(n)
    )
}

/// The checksum as Prisma stores it (text), from the migration or the row it came from.
fn checksum_text(m: &Migration) -> String {
    m.checksum
        .as_deref()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .unwrap_or_default()
}

/// The current time as each database's Prisma row holds it: the server's clock on
/// PostgreSQL and MySQL (millisecond precision, like Prisma's own values), and on SQLite the
/// text Prisma writes, `2026-12-02T05:37:54.479+00:00`.
fn now(d: &Dialect) -> String {
    match d.lexing {
        Lexing::Postgres => "date_trunc('milliseconds', clock_timestamp())".to_string(),
        Lexing::MySql => "CURRENT_TIMESTAMP(3)".to_string(),
        Lexing::Sqlite => format!("'{}'", sqlite_timestamp(SystemTime::now())),
    }
}

fn sqlite_timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = crate::log::civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// The number a folder name starts with, when an underscore follows it.
fn folder_version(folder: &str) -> Option<i64> {
    let (digits, _) = folder.split_once('_')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `provider = "postgresql"` in `migration_lock.toml`.
fn lock_provider(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "provider").then(|| value.trim().trim_matches('"').to_string())
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// A random UUID, version 4 (RFC 9562), as `Uuid::new_v4().to_string()` writes it.
fn uuid_v4() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    // The system's random source cannot fail on Linux ≥ 3.17 (getrandom); should it, the
    // time keeps ids distinct enough for a primary key.
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b = (t ^ u128::from(std::process::id()) << 64).to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, depth: usize) -> SqlFile {
        SqlFile {
            path: path.into(),
            rel: path.to_string(),
            file_name: path.rsplit('/').next().unwrap().to_string(),
            depth,
            problem: None,
            bytes: None,
        }
    }

    #[test]
    fn folders_are_migrations() {
        assert_eq!(
            Prisma.classify(&file("m/20240101120000_init/migration.sql", 1)),
            NameMatch::Migration {
                version: 20240101120000,
                name: "20240101120000_init".into(),
                any_order: false
            }
        );
        assert_eq!(Prisma.classify(&file("m/1_a.sql", 0)), NameMatch::Ignored);
        assert_eq!(
            Prisma.classify(&file("m/20240101120000_init/other.sql", 1)),
            NameMatch::Ignored
        );
        assert!(matches!(
            Prisma.classify(&file("m/init/migration.sql", 1)),
            NameMatch::Malformed(_)
        ));
        assert_eq!(
            Prisma.classify(&file("m/a/b/migration.sql", 2)),
            NameMatch::NotMine
        );
    }

    #[test]
    fn checksum_is_lowercase_hex_sha256() {
        // `printf 'SELECT 1;\n' | sha256sum`
        let c = |sql: &str| String::from_utf8(Prisma.checksum(1, "x", sql).unwrap()).unwrap();
        assert_eq!(
            c("SELECT 1;\n"),
            "b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd"
        );
        assert_eq!(
            c(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn uuids_are_version_4() {
        let a = uuid_v4();
        let b = uuid_v4();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn rows_fold_into_one_entry_per_migration() {
        let row = |name: &str, finished: Option<&str>, rolled: Option<&str>| {
            vec![
                Value::Text(name.into()),
                Value::Text("c".into()),
                finished.map_or(Value::Null, |f| Value::Text(f.into())),
                rolled.map_or(Value::Null, |f| Value::Text(f.into())),
            ]
        };
        let rows = vec![
            row("1_a", None, Some("t")),
            row("1_a", Some("t1"), None),
            row("2_b", None, None),
            row("3_c", None, Some("t")),
        ];
        let h = Prisma.decode_rows(rows, &[]).unwrap();
        assert_eq!(h.len(), 2);
        assert!(!h[0].failed && h[0].applied_at.as_deref() == Some("t1"));
        assert!(h[1].failed && h[1].name == "2_b");
    }

    #[test]
    fn lock_file_provider() {
        assert_eq!(
            lock_provider("# comment\nprovider = \"postgresql\"\n").as_deref(),
            Some("postgresql")
        );
        assert_eq!(lock_provider("x = 1"), None);
        assert_eq!(
            sqlite_timestamp(UNIX_EPOCH + Duration::from_millis(1_500)),
            "1970-01-01T00:00:01.500+00:00"
        );
    }
}
