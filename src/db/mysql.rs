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
            let mut c = MySqlConnection::connect_with(&self.options).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL QUERY {}", self.id)))
                .execute(&mut c)
                .await?;
            c.close().await
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
            .map(|i| driver::decode_column(self, i))
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
    lexing: Lexing {
        backslash_escapes: true,
        dollar_quotes: false,
        backticks: true,
    },
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
        let connecting = async {
            let mut conn = MySqlConnection::connect_with(&options).await?;
            let row = sqlx::query("SELECT CONNECTION_ID(), DATABASE()")
                .fetch_one(&mut conn)
                .await?;
            Ok::<_, sqlx::Error>((
                conn,
                row.try_get::<u64, _>(0)?,
                row.try_get::<Option<String>, _>(1)?,
            ))
        };
        match tokio::time::timeout(timeout, connecting).await {
            Err(_) => Err(ConnectError::Retry(format!(
                "no answer within {timeout:.1?} (--wait-attempt-timeout)"
            ))),
            Ok(Err(e)) => Err(classify(e, &options)),
            Ok(Ok((conn, id, database))) => Ok(MySql {
                conn,
                options,
                id,
                database,
            }),
        }
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
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)")
            .bind(format!("{key:x}"))
            .fetch_one(&mut self.conn)
            .await
            .map_err(error)?;
        Ok(got == Some(1))
    }

    async fn lock_holder(&mut self, key: i64) -> Option<String> {
        let id: Option<u64> = sqlx::query_scalar("SELECT IS_USED_LOCK(?)")
            .bind(format!("{key:x}"))
            .fetch_one(&mut self.conn)
            .await
            .ok()?;
        let id = id?;
        let row = sqlx::query(
            "SELECT CAST(USER AS CHAR), CAST(HOST AS CHAR), CAST(TIME AS SIGNED) \
             FROM information_schema.PROCESSLIST WHERE ID = ?",
        )
        .bind(id)
        .fetch_optional(&mut self.conn)
        .await
        .ok()
        .flatten();
        Some(match row {
            Some(r) => format!(
                "connection {id} ({}@{}, {} s in its current state)",
                r.try_get::<String, _>(0).unwrap_or_default(),
                r.try_get::<String, _>(1).unwrap_or_default(),
                r.try_get::<i64, _>(2).unwrap_or_default()
            ),
            None => format!("connection {id}"),
        })
    }

    async fn unlock(&mut self, key: i64) -> Result<(), DbError> {
        sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(format!("{key:x}"))
            .execute(&mut self.conn)
            .await
            .map(drop)
            .map_err(error)
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

    async fn begin(&mut self) -> Result<(), DbError> {
        self.run_script("BEGIN").await
    }

    async fn commit(&mut self) -> Result<(), DbError> {
        self.run_script("COMMIT").await
    }

    async fn rollback(&mut self) -> Result<(), DbError> {
        self.run_script("ROLLBACK").await
    }

    async fn close(self) {
        let _ = self.conn.close().await;
    }
}
