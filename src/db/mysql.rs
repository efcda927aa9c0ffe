//! MySQL and MariaDB, through sqlx: `GET_LOCK(name, 0)` polled (the name is the lock key in
//! lowercase hex, as sqlx names its lock), the holder named from `IS_USED_LOCK` and the process
//! list, cancel with `KILL QUERY`. DDL commits implicitly here (`Dialect::ddl_commits`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow};
use sqlx::{ConnectOptions, Connection, Row};

use super::database::{Canceller, ConnectError, Database, DbError, Dialect, Stmt, Value};
use super::driver::{self, DecodeValues, RowsAffected};
use super::sql::Lexing;
use crate::redact::redact;

pub struct MySql {
    conn: MySqlConnection,
    options: MySqlConnectOptions,
    id: u64,
    database: Option<String>,
}

pub struct MySqlCanceller {
    options: MySqlConnectOptions,
    id: u64,
}

impl Canceller for MySqlCanceller {
    async fn cancel(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, async {
            let mut c = MySqlConnection::connect_with(&self.options)
                .await
                .map_err(error)?;
            driver::run_script(&mut c, &format!("KILL QUERY {}", self.id), error).await?;
            c.close().await.map_err(error)
        })
        .await;
    }
}

impl RowsAffected for sqlx::mysql::MySqlQueryResult {
    fn affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl DecodeValues for MySqlRow {
    fn values(&self) -> Result<Vec<Value>, DbError> {
        (0..self.len())
            .map(|i| {
                // CONNECTION_ID() and IS_USED_LOCK() are BIGINT UNSIGNED.
                match self.try_get::<Option<u64>, _>(i) {
                    Ok(v) => Ok(v.map_or(Value::Null, |v| Value::Int(v as i64))),
                    Err(_) => driver::decode_column(self, i),
                }
            })
            .collect()
    }
}

fn error(e: sqlx::Error) -> DbError {
    if let sqlx::Error::Database(db) = &e
        && let Some(my) = db.try_downcast_ref::<MySqlDatabaseError>()
    {
        return DbError {
            code: Some(match my.code() {
                Some(state) => format!("{} / SQLSTATE {state}", my.number()),
                None => my.number().to_string(),
            }),
            message: redact(my.message()),
            // 2006 server gone away, 2013 lost connection, 1053 server shutdown.
            connection_lost: matches!(my.number(), 2006 | 2013 | 1053),
            ..DbError::default()
        };
    }
    DbError {
        connection_lost: matches!(e, sqlx::Error::Io(_) | sqlx::Error::Protocol(_)),
        ..DbError::other(redact(&e.to_string()))
    }
}

fn classify(e: sqlx::Error, options: &MySqlConnectOptions) -> ConnectError {
    let user = options.get_username();
    let database = options.get_database().unwrap_or_default();
    match &e {
        // rustls reports a failed handshake (unknown issuer, wrong host name) as InvalidData.
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            ConnectError::Refused(format!(
                "TLS failed: {}; check ssl-mode and ssl-ca in the URL",
                redact(&io.to_string())
            ))
        }
        sqlx::Error::Io(io) => ConnectError::Retry(redact(&io.to_string())),
        sqlx::Error::Tls(t) => ConnectError::Refused(format!(
            "TLS failed: {}; check ssl-mode and ssl-ca in the URL",
            redact(&t.to_string())
        )),
        sqlx::Error::Configuration(c) => ConnectError::BadUrl(redact(&c.to_string())),
        sqlx::Error::Database(db) => {
            let number = db
                .try_downcast_ref::<MySqlDatabaseError>()
                .map(|m| m.number())
                .unwrap_or(0);
            let message = redact(db.message());
            match number {
                // Too many connections, server shutdown in progress.
                1040 | 1053 => ConnectError::Retry(format!("{message} [{number}]")),
                1045 => ConnectError::Refused(format!(
                    "{message} [{number}]; check the user name and password of user {user:?} in \
                     the URL (or its _FILE secret)"
                )),
                1044 => ConnectError::Refused(format!(
                    "{message} [{number}]; grant user {user:?} access to database {database:?}"
                )),
                1049 => ConnectError::Refused(format!(
                    "{message} [{number}]; create database {database:?}, or fix the database \
                     name in the URL"
                )),
                _ => ConnectError::Refused(format!("{message} [{number}]")),
            }
        }
        _ => ConnectError::Refused(redact(&e.to_string())),
    }
}

const DIALECT: Dialect = Dialect {
    name: "MySQL/MariaDB",
    numbered_placeholders: false,
    bytes_type: "BLOB",
    timestamp_default_now: "TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP",
    text_cast_type: "CHAR",
    ddl_commits: true,
    lexing: Lexing::MySql,
};

impl Database for MySql {
    type Canceller = MySqlCanceller;
    const DIALECT: &'static Dialect = &DIALECT;

    async fn connect(
        url: &str,
        _application_name: &str,
        timeout: Duration,
    ) -> Result<Self, ConnectError> {
        // sqlx knows the mysql:// scheme; MariaDB users often write mariadb://.
        let url = match url.strip_prefix("mariadb:") {
            Some(rest) => format!("mysql:{rest}"),
            None => url.to_string(),
        };
        let options = MySqlConnectOptions::from_str(&url)
            .map_err(|e| ConnectError::BadUrl(redact(&e.to_string())))?
            .disable_statement_logging();
        let conn =
            match tokio::time::timeout(timeout, MySqlConnection::connect_with(&options)).await {
                Err(_) => {
                    return Err(ConnectError::Retry(format!(
                        "no answer within {timeout:.1?} (--wait-attempt-timeout)"
                    )));
                }
                Ok(Err(e)) => return Err(classify(e, &options)),
                Ok(Ok(conn)) => conn,
            };
        let mut db = MySql {
            conn,
            options,
            id: 0,
            database: None,
        };
        let who = Stmt::new("SELECT CONNECTION_ID(), DATABASE()", vec![]);
        let rows = Database::query(&mut db, &who)
            .await
            .map_err(|e| ConnectError::Retry(e.to_string()))?;
        let first = rows.first().map(Vec::as_slice).unwrap_or_default();
        db.id = first.first().and_then(Value::as_i64).unwrap_or_default() as u64;
        db.database = first.get(1).and_then(Value::as_text);
        Ok(db)
    }

    fn canceller(&self) -> MySqlCanceller {
        MySqlCanceller {
            options: self.options.clone(),
            id: self.id,
        }
    }

    async fn database_name(&mut self) -> Result<String, DbError> {
        self.database.clone().ok_or_else(|| {
            DbError::other("the URL names no database; add it: mysql://user@host/DATABASE")
        })
    }

    async fn try_lock(&mut self, key: i64) -> Result<bool, DbError> {
        let get = Stmt::new(
            "SELECT GET_LOCK(?, 0)",
            vec![Value::Text(format!("{key:x}"))],
        );
        let rows = Database::query(self, &get).await?;
        Ok(rows.first().and_then(|r| r.first()).and_then(Value::as_i64) == Some(1))
    }

    async fn lock_holder(&mut self, key: i64) -> Option<String> {
        let used = Stmt::new(
            "SELECT IS_USED_LOCK(?)",
            vec![Value::Text(format!("{key:x}"))],
        );
        let rows = Database::query(self, &used).await.ok()?;
        let id = rows.first()?.first()?.as_i64()?;
        let who = Stmt::new(
            "SELECT CAST(USER AS CHAR), CAST(HOST AS CHAR), CAST(TIME AS SIGNED) \
             FROM information_schema.PROCESSLIST WHERE ID = ?",
            vec![Value::Int(id)],
        );
        let rows = Database::query(self, &who).await.unwrap_or_default();
        Some(match rows.first() {
            Some(r) => format!(
                "connection {id} ({}@{}, {} s in its current state)",
                r.first().and_then(Value::as_text).unwrap_or_default(),
                r.get(1).and_then(Value::as_text).unwrap_or_default(),
                r.get(2).and_then(Value::as_i64).unwrap_or_default()
            ),
            None => format!("connection {id}"),
        })
    }

    async fn unlock(&mut self, key: i64) -> Result<(), DbError> {
        let release = Stmt::new(
            "SELECT RELEASE_LOCK(?)",
            vec![Value::Text(format!("{key:x}"))],
        );
        Database::query(self, &release).await.map(drop)
    }

    async fn existing_tables(&mut self, tables: &[&str]) -> Result<Vec<String>, DbError> {
        let list = tables
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name IN ({list})"
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

    async fn close(self) {
        let _ = self.conn.close().await;
    }
}
