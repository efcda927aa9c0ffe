//! SQLite, through sqlx (bundled SQLite). The file is created when missing. The migration
//! lock is an exclusive `flock` on the database file: it serialises every usher sharing the
//! file (containers on one host sharing a volume) and goes away with the process; SQLite's own
//! locks are POSIX record locks, which `flock` does not interfere with on local file systems.
//! Each migration runs in `BEGIN IMMEDIATE`, so it holds SQLite's write lock from its start.

use std::fs::File;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{ConnectOptions, Connection, Row};

use super::driver::{self, DecodeValues, RowsAffected};
use super::{Canceller, ConnectError, Database, DbError, Dialect, Endpoint, Stmt, Value};
use crate::db::sql::{self, Lexing};
use crate::redact::redact;

pub struct Sqlite {
    conn: SqliteConnection,
    /// The database file; `None` in memory.
    path: Option<PathBuf>,
    lock: Option<Flock<File>>,
    /// PRAGMAs as they were before the first migration (`save_session`).
    saved: Vec<(&'static str, Value)>,
}

/// Connection-level PRAGMAs that change how later statements behave (or block the history
/// write: `query_only`), readable as table-valued functions.
const PRAGMAS: &[&str] = &[
    "foreign_keys",
    "recursive_triggers",
    "legacy_alter_table",
    "ignore_check_constraints",
    "query_only",
    "trusted_schema",
    "reverse_unordered_selects",
    "automatic_index",
    "defer_foreign_keys",
    "cell_size_check",
    "busy_timeout",
    "temp_store",
];

/// SQLite statements run in-process: there is no other session to cancel from, and sqlx does
/// not expose `sqlite3_interrupt`. A stop abandons the statement; the process exits and SQLite
/// rolls the open transaction back from its journal.
pub struct NoCancel;

impl Canceller for NoCancel {
    async fn cancel(&self, _timeout: Duration) {}
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl DecodeValues for SqliteRow {
    fn values(&self) -> Result<Vec<Value>, DbError> {
        (0..self.len())
            .map(|i| driver::decode_column(self, i))
            .collect()
    }
}

fn error(e: sqlx::Error) -> DbError {
    if let sqlx::Error::Database(db) = &e {
        return DbError {
            code: db.code().map(|c| c.to_string()),
            message: redact(db.message()),
            ..DbError::default()
        };
    }
    DbError {
        connection_lost: matches!(e, sqlx::Error::Io(_)),
        ..DbError::other(redact(&e.to_string()))
    }
}

const DIALECT: Dialect = Dialect {
    name: "SQLite",
    numbered_placeholders: false,
    bytes_type: "BLOB",
    timestamp_default_now: "TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP",
    text_cast_type: "TEXT",
    ddl_commits: false,
    lexing: Lexing::Sqlite,
    session_reset: None,
    timer: None,
};

impl Sqlite {
    async fn read_pragmas(&mut self) -> Result<Vec<Value>, DbError> {
        let columns = PRAGMAS
            .iter()
            .map(|p| format!("(SELECT * FROM pragma_{p})"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = driver::query(
            &mut self.conn,
            &Stmt::new(format!("SELECT {columns}"), vec![]),
            error,
        )
        .await?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }
}

impl Database for Sqlite {
    type Canceller = NoCancel;
    const DIALECT: &'static Dialect = &DIALECT;

    async fn connect(endpoint: &Endpoint<'_>, timeout: Duration) -> Result<Self, ConnectError> {
        let url = endpoint.url;
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| ConnectError::BadUrl(redact(&e.to_string())))?
            .create_if_missing(true)
            .disable_statement_logging();
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let path = (!in_memory).then(|| options.get_filename().to_path_buf());
        match tokio::time::timeout(timeout, SqliteConnection::connect_with(&options)).await {
            Err(_) => Err(ConnectError::Retry(format!(
                "the database file did not open within {timeout:.1?}"
            ))),
            Ok(Err(e)) => {
                let shown = path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                Err(ConnectError::Refused(format!(
                    "cannot open {shown}: {}; check that its directory exists and is writable \
                     by this user",
                    error(e)
                )))
            }
            Ok(Ok(conn)) => Ok(Sqlite {
                conn,
                path,
                lock: None,
                saved: Vec::new(),
            }),
        }
    }

    fn canceller(&self) -> NoCancel {
        NoCancel
    }

    async fn database_name(&mut self) -> Result<String, DbError> {
        Ok("main".to_string())
    }

    async fn try_lock(&mut self, _key: i64) -> Result<bool, DbError> {
        let Some(path) = &self.path else {
            return Ok(true);
        };
        let file = File::open(path)
            .map_err(|e| DbError::other(format!("cannot open {}: {e}", path.display())))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => {
                self.lock = Some(lock);
                Ok(true)
            }
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(false),
            Err((_, e)) => Err(DbError::other(format!(
                "flock({}) failed: {e}",
                path.display()
            ))),
        }
    }

    async fn lock_holder(&mut self, _key: i64) -> Option<String> {
        self.path
            .as_ref()
            .map(|p| format!("another process using {}", p.display()))
    }

    async fn unlock(&mut self, _key: i64) -> Result<(), DbError> {
        self.lock = None;
        Ok(())
    }

    async fn existing_tables(&mut self, tables: &[&str]) -> Result<Vec<String>, DbError> {
        let list = tables
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql =
            format!("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({list})");
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut self.conn)
            .await
            .map_err(error)
    }

    async fn execute(&mut self, stmt: &Stmt) -> Result<u64, DbError> {
        driver::execute(&mut self.conn, stmt, error).await
    }

    async fn query(&mut self, stmt: &Stmt) -> Result<Vec<Vec<Value>>, DbError> {
        driver::query(&mut self.conn, stmt, error).await
    }

    async fn run_script(&mut self, sql: &str) -> Result<(), DbError> {
        driver::run_script(&mut self.conn, sql, error).await
    }

    async fn qualify(&mut self, tables: &[&str]) -> Result<Vec<String>, DbError> {
        Ok(tables.iter().map(|t| format!("main.{t}")).collect())
    }

    async fn save_session(&mut self) -> Result<(), DbError> {
        let values = self.read_pragmas().await?;
        self.saved = PRAGMAS.iter().copied().zip(values).collect();
        Ok(())
    }

    /// PRAGMAs set back (only a script that mentions PRAGMA can have changed them; also the
    /// deprecated, write-only `case_sensitive_like`), attached databases detached, temporary
    /// tables, views and triggers dropped.
    async fn reset_session(&mut self, script: &str) -> Result<(), DbError> {
        let mut reset = Vec::new();
        if sql::mentions(script, "pragma") {
            let now = self.read_pragmas().await?;
            for ((name, saved), now) in self.saved.iter().zip(now) {
                if let (Some(v), true) = (saved.as_i64(), saved != &now) {
                    reset.push(format!("PRAGMA {name} = {v}"));
                }
            }
            reset.push("PRAGMA case_sensitive_like = 0".to_string());
        }
        // One query for both, through the statement path usher already has (binary size).
        let attach = sql::mentions(script, "attach");
        let temp = sql::mentions(script, "temp");
        if attach || temp {
            let list = Stmt::new(
                format!(
                    "SELECT 'DETACH', name FROM pragma_database_list \
                     WHERE {attach} AND name NOT IN ('main', 'temp') \
                     UNION ALL SELECT 'DROP ' || type || ' IF EXISTS temp.', name \
                     FROM temp.sqlite_master WHERE {temp} \
                     AND type IN ('table', 'view', 'trigger') AND name NOT LIKE 'sqlite_%'"
                ),
                vec![],
            );
            for row in driver::query(&mut self.conn, &list, error).await? {
                let text = |i: usize| row.get(i).and_then(Value::as_text).unwrap_or_default();
                reset.push(format!("{} \"{}\"", text(0), text(1).replace('"', "\"\"")));
            }
        }
        if reset.is_empty() {
            return Ok(());
        }
        self.run_script(&reset.join("; ")).await
    }

    /// IMMEDIATE takes the write lock now, so a concurrent writer makes this wait (busy
    /// timeout) at the start instead of failing at the first write.
    async fn begin(&mut self) -> Result<(), DbError> {
        self.run_script("BEGIN IMMEDIATE").await
    }

    async fn rollback(&mut self) -> Result<(), DbError> {
        // SQLite errors on ROLLBACK without a transaction; that is the "nothing to undo" case.
        match self.run_script("ROLLBACK").await {
            Err(e) if e.message.contains("no transaction is active") => Ok(()),
            other => other,
        }
    }

    async fn close(self) {
        let _ = self.conn.close().await;
    }
}
