//! PostgreSQL, through sqlx: `pg_try_advisory_lock` polled on the migrating session, the lock
//! holder named from `pg_locks` and `pg_stat_activity`, cancel with `pg_cancel_backend`, and
//! libpq's `sslmode` / `sslrootcert` (sqlx parses them from the URL; the Mozilla roots are
//! compiled in through webpki-roots).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgDatabaseError, PgErrorPosition, PgRow};
use sqlx::{ConnectOptions, Connection, Row};

use super::database::{Canceller, ConnectError, Database, DbError, Dialect, Stmt, Value};
use super::driver::{self, DecodeValues, RowsAffected};
use super::sql::{self, Lexing};
use crate::redact::redact;

pub struct Postgres {
    conn: PgConnection,
    options: PgConnectOptions,
    pid: i32,
    database: String,
}

pub struct PgCanceller {
    options: PgConnectOptions,
    pid: i32,
}

impl Canceller for PgCanceller {
    async fn cancel(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, async {
            let mut c = PgConnection::connect_with(&self.options)
                .await
                .map_err(error)?;
            let cancel = format!("SELECT pg_cancel_backend({})", self.pid);
            driver::run_script(&mut c, &cancel, error).await?;
            c.close().await.map_err(error)
        })
        .await;
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl DecodeValues for PgRow {
    fn values(&self) -> Result<Vec<Value>, DbError> {
        (0..self.len())
            .map(|i| driver::decode_column(self, i))
            .collect()
    }
}

/// A driver error as usher shows it: the server's code, message, detail, hint and position.
fn error(e: sqlx::Error) -> DbError {
    if let sqlx::Error::Database(db) = &e
        && let Some(pg) = db.try_downcast_ref::<PgDatabaseError>()
    {
        return DbError {
            code: Some(pg.code().to_string()),
            message: redact(pg.message()),
            detail: pg.detail().map(redact),
            hint: pg.hint().map(redact),
            position: match pg.position() {
                Some(PgErrorPosition::Original(p)) => Some(p),
                _ => None,
            },
            statement: None,
            // 57P01 admin_shutdown, 57P02 crash_shutdown, class 08: connection exceptions.
            connection_lost: pg.code().starts_with("08") || matches!(pg.code(), "57P01" | "57P02"),
        };
    }
    DbError {
        connection_lost: matches!(e, sqlx::Error::Io(_) | sqlx::Error::Protocol(_)),
        ..DbError::other(redact(&e.to_string()))
    }
}

/// Retry what may pass (unreachable, starting up, too many connections); refuse the rest
/// with what to check.
fn classify(e: sqlx::Error, options: &PgConnectOptions) -> ConnectError {
    let user = options.get_username();
    let database = options.get_database().unwrap_or(user);
    match &e {
        // rustls reports a failed handshake (unknown issuer, wrong host name) as InvalidData.
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            ConnectError::Refused(format!(
                "TLS failed: {}; check sslmode and sslrootcert in the URL (sslmode=verify-full needs \
                 a server certificate for this host name, signed by a trusted or sslrootcert CA)",
                redact(&io.to_string())
            ))
        }
        sqlx::Error::Io(io) => ConnectError::Retry(redact(&io.to_string())),
        sqlx::Error::Tls(t) => ConnectError::Refused(format!(
            "TLS failed: {}; check sslmode and sslrootcert in the URL (sslmode=verify-full needs \
             a server certificate for this host name, signed by a trusted or sslrootcert CA)",
            redact(&t.to_string())
        )),
        sqlx::Error::Configuration(c) => ConnectError::BadUrl(redact(&c.to_string())),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            let message = redact(db.message());
            match code.as_str() {
                // cannot_connect_now ("the database system is starting up"), too_many_connections,
                // admin/crash shutdown (a restart), connection exceptions.
                "57P03" | "53300" | "57P01" | "57P02" => {
                    ConnectError::Retry(format!("{message} [{code}]"))
                }
                c if c.starts_with("08") => ConnectError::Retry(format!("{message} [{code}]")),
                "28P01" => ConnectError::Refused(format!(
                    "{message} [{code}]; check the user name and password of user {user:?} in the \
                     URL (or its _FILE secret)"
                )),
                "28000" => ConnectError::Refused(format!(
                    "{message} [{code}]; check the user name, and that pg_hba.conf lets user \
                     {user:?} in from this host (and whether it requires TLS: sslmode)"
                )),
                "3D000" => ConnectError::Refused(format!(
                    "{message} [{code}]; create database {database:?}, or fix the database name \
                     in the URL"
                )),
                "42501" => ConnectError::Refused(format!(
                    "{message} [{code}]; grant user {user:?} CONNECT on database {database:?}"
                )),
                _ => ConnectError::Refused(format!("{message} [{code}]")),
            }
        }
        _ => ConnectError::Refused(redact(&e.to_string())),
    }
}

const DIALECT: Dialect = Dialect {
    name: "PostgreSQL",
    numbered_placeholders: true,
    bytes_type: "BYTEA",
    timestamp_default_now: "TIMESTAMPTZ NOT NULL DEFAULT now()",
    text_cast_type: "TEXT",
    ddl_commits: false,
    lexing: Lexing::Postgres,
    // Everything `DISCARD ALL` resets except the advisory locks (the migration lock) and the
    // prepared statements (sqlx's cache of usher's history statements; see reset_session).
    // RESET ALL returns every setting to its session default: the server's, the role's and
    // database's, and the connection's start-up parameters.
    session_reset: Some(
        "CLOSE ALL; RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL; UNLISTEN *; \
         DISCARD TEMP; DISCARD SEQUENCES",
    ),
};

impl Database for Postgres {
    type Canceller = PgCanceller;
    const DIALECT: &'static Dialect = &DIALECT;

    async fn connect(
        url: &str,
        application_name: &str,
        timeout: Duration,
    ) -> Result<Self, ConnectError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| ConnectError::BadUrl(redact(&e.to_string())))?
            .application_name(application_name)
            .disable_statement_logging();
        let connecting = async {
            let mut conn = PgConnection::connect_with(&options).await?;
            let row = sqlx::query("SELECT pg_backend_pid(), current_database()::text")
                .fetch_one(&mut conn)
                .await?;
            Ok::<_, sqlx::Error>((
                conn,
                row.try_get::<i32, _>(0)?,
                row.try_get::<String, _>(1)?,
            ))
        };
        match tokio::time::timeout(timeout, connecting).await {
            Err(_) => Err(ConnectError::Retry(format!(
                "no answer within {timeout:.1?} (--wait-attempt-timeout)"
            ))),
            Ok(Err(e)) => Err(classify(e, &options)),
            Ok(Ok((conn, pid, database))) => Ok(Postgres {
                conn,
                options,
                pid,
                database,
            }),
        }
    }

    fn canceller(&self) -> PgCanceller {
        PgCanceller {
            options: self.options.clone(),
            pid: self.pid,
        }
    }

    async fn database_name(&mut self) -> Result<String, DbError> {
        Ok(self.database.clone())
    }

    async fn try_lock(&mut self, key: i64) -> Result<bool, DbError> {
        let rows = Database::query(
            self,
            &Stmt::new("SELECT pg_try_advisory_lock($1)", vec![Value::Int(key)]),
        )
        .await?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_bool)
            == Some(true))
    }

    async fn lock_holder(&mut self, key: i64) -> Option<String> {
        // A bigint advisory key shows in pg_locks as classid = high 32 bits, objid = low 32
        // bits, objsubid = 1 (PostgreSQL docs, "pg_locks").
        let holder = Stmt::new(
            "SELECT coalesce(a.application_name, ''), a.pid::int8, \
                    coalesce(EXTRACT(EPOCH FROM (now() - a.backend_start))::int8, -1) \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
               AND l.classid::int8 = $1 AND l.objid::int8 = $2 \
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            vec![
                Value::Int((key >> 32) & 0xffff_ffff),
                Value::Int(key & 0xffff_ffff),
            ],
        );
        let rows = Database::query(self, &holder).await.ok()?;
        let row = rows.first()?;
        let name = row.first()?.as_text()?;
        let pid = row.get(1)?.as_i64()?;
        let age = row.get(2)?.as_i64()?;
        let name = if name.is_empty() {
            "a session without application_name".to_string()
        } else {
            name
        };
        Some(if age >= 0 {
            format!("{name} (backend pid {pid}, connected {age} s ago)")
        } else {
            format!("{name} (backend pid {pid})")
        })
    }

    async fn unlock(&mut self, key: i64) -> Result<(), DbError> {
        let unlock = Stmt::new("SELECT pg_advisory_unlock($1)", vec![Value::Int(key)]);
        Database::query(self, &unlock).await.map(drop)
    }

    async fn existing_tables(&mut self, tables: &[&str]) -> Result<Vec<String>, DbError> {
        // Names are usher's own constants; visible = what an unqualified name resolves to.
        let list = tables
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT c.relname::text FROM pg_catalog.pg_class c \
             WHERE c.relkind IN ('r', 'p') AND c.relname IN ({list}) \
               AND pg_catalog.pg_table_is_visible(c.oid)"
        );
        let rows = Database::query(self, &Stmt::new(sql, vec![])).await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.first().and_then(Value::as_text))
            .collect())
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

    /// The schema where the name resolves (the first visible table of that name), or else
    /// `current_schema()` (where CREATE TABLE would put it).
    async fn qualify(&mut self, tables: &[&str]) -> Result<Vec<String>, DbError> {
        let values = tables
            .iter()
            .enumerate()
            .map(|(i, t)| format!("({i}, '{t}')"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT coalesce((SELECT quote_ident(n.nspname) || '.' FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relname = v.t AND c.relkind IN ('r', 'p') \
                   AND pg_catalog.pg_table_is_visible(c.oid)), \
               quote_ident(current_schema()) || '.', '') || v.t \
             FROM (VALUES {values}) AS v(i, t) ORDER BY v.i"
        );
        let rows = Database::query(self, &Stmt::new(sql, vec![])).await?;
        Ok(rows
            .iter()
            .zip(tables)
            .map(|(r, t)| r.first().and_then(Value::as_text).unwrap_or(t.to_string()))
            .collect())
    }

    /// The rest is `DIALECT.session_reset`; here, the statements a script PREPAREd, if it
    /// mentions PREPARE (with sqlx's cached ones, which sqlx then prepares again).
    async fn reset_session(&mut self, script: &str) -> Result<(), DbError> {
        if !sql::mentions(script, "prepare") {
            return Ok(());
        }
        self.conn.clear_cached_statements().await.map_err(error)?;
        driver::run_script(&mut self.conn, "DEALLOCATE ALL", error).await
    }

    async fn close(self) {
        let _ = self.conn.close().await;
    }
}
