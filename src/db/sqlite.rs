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

use super::database::{Canceller, ConnectError, Database, DbError, Dialect, Stmt, Value};
use super::driver::{self, DecodeValues, RowsAffected};
use super::sql::Lexing;
use crate::redact::redact;

pub struct Sqlite {
    conn: SqliteConnection,
    /// The database file; `None` in memory.
    path: Option<PathBuf>,
    lock: Option<Flock<File>>,
}

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
};

impl Database for Sqlite {
    type Canceller = NoCancel;
    const DIALECT: &'static Dialect = &DIALECT;

    async fn connect(
        url: &str,
        _application_name: &str,
        timeout: Duration,
    ) -> Result<Self, ConnectError> {
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
