//! MySQL and MariaDB, through sqlx: `GET_LOCK(name, 0)` polled (the name is the lock key in
//! lowercase hex, as sqlx names its lock), the holder named from `IS_USED_LOCK` and the process
//! list, cancel with `KILL QUERY`. DDL commits implicitly here (`Dialect::ddl_commits`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow};
use sqlx::{ConnectOptions, Connection, Row};

use super::driver::{self, DecodeValues, RowsAffected};
use super::{Canceller, ConnectError, Database, DbError, Dialect, Endpoint, Stmt, Value};
use crate::db::sql::Lexing;
use crate::redact::redact;

pub struct MySql {
    conn: MySqlConnection,
    options: MySqlConnectOptions,
    id: u64,
    database: Option<String>,
    /// Session variables as they were before the first migration (`save_session`).
    saved: Vec<(&'static str, Value)>,
    /// The server lists user variables (MariaDB's `information_schema.USER_VARIABLES`).
    user_variables: bool,
}

/// Session variables a migration may SET that change how later statements behave (or how
/// the history is written), and that any user may set back. Those this server does not
/// have are left out at `save_session`.
const SESSION_VARIABLES: &[&str] = &[
    "sql_mode",
    "time_zone",
    "autocommit",
    "foreign_key_checks",
    "unique_checks",
    "sql_safe_updates",
    "sql_auto_is_null",
    "sql_select_limit",
    "sql_big_selects",
    "max_join_size",
    "sql_notes",
    "sql_warnings",
    "sql_quote_show_create",
    "sql_if_exists",
    "big_tables",
    "lock_wait_timeout",
    "innodb_lock_wait_timeout",
    "innodb_strict_mode",
    "max_statement_time",
    "max_execution_time",
    "tx_isolation",
    "transaction_isolation",
    "tx_read_only",
    "transaction_read_only",
    "div_precision_increment",
    "group_concat_max_len",
    "default_storage_engine",
    "default_tmp_storage_engine",
    "auto_increment_increment",
    "auto_increment_offset",
    "check_constraint_checks",
    "updatable_views_with_limit",
    "old_mode",
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
    "last_insert_id",
    "insert_id",
];

/// A value as a literal for `SET`: numbers bare (numeric variables refuse strings), text
/// quoted without backslashes (read the same whatever NO_BACKSLASH_ESCAPES says), NULL.
fn literal(v: &Value) -> String {
    match v.as_text() {
        None => "NULL".to_string(),
        Some(t) if is_number(&t) => t,
        Some(t) if t.contains('\\') => {
            let hex: String = t.bytes().map(|b| format!("{b:02x}")).collect();
            format!("X'{hex}'")
        }
        Some(t) => format!("'{}'", t.replace('\'', "''")),
    }
}

/// A decimal number: an optional `-`, then digits with at most one `.` (`12`, `-0.5`, `3.`,
/// `.5`) — the texts of digits, dots and minus signs that parse as a float. Checked by hand:
/// `str::parse::<f64>` would link the float parser and its tables for this check.
fn is_number(t: &str) -> bool {
    let digits = t.strip_prefix('-').unwrap_or(t);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    !(whole.is_empty() && fraction.is_empty())
        && whole
            .bytes()
            .chain(fraction.bytes())
            .all(|c| c.is_ascii_digit())
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
            // 2006 server gone away, 2013 lost connection, 1053 server shutdown, 1927
            // connection killed (MariaDB's KILL CONNECTION), 4031 disconnected (MySQL 8).
            connection_lost: matches!(my.number(), 2006 | 2013 | 1053 | 1927 | 4031),
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
                // Too many connections (server-wide, per user), server shutdown in progress.
                1040 | 1203 | 1053 => ConnectError::Retry(format!("{message} [{number}]")),
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
    session_reset: None,
};

impl MySql {
    /// The current values of `names`, as text (NULL stays NULL).
    async fn read_variables(&mut self, names: &[&str]) -> Result<Vec<Value>, DbError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let columns = names
            .iter()
            .map(|v| format!("CAST(@@{v} AS CHAR)"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = Database::query(self, &Stmt::new(format!("SELECT {columns}"), vec![])).await?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }
}

impl Database for MySql {
    type Canceller = MySqlCanceller;
    const DIALECT: &'static Dialect = &DIALECT;

    async fn connect(endpoint: &Endpoint<'_>, timeout: Duration) -> Result<Self, ConnectError> {
        // sqlx knows the mysql:// scheme; MariaDB users often write mariadb://.
        let url = match endpoint.url.strip_prefix("mariadb:") {
            Some(rest) => format!("mysql:{rest}"),
            None => endpoint.url.to_string(),
        };
        let mut options = MySqlConnectOptions::from_str(&url)
            .map_err(|e| ConnectError::BadUrl(redact(&e.to_string())))?
            .disable_statement_logging();
        // An IPv6 literal keeps its URL brackets in sqlx's host (`[::1]`), which then fails to
        // resolve as a name.
        if let Some(ip) = super::unbracket(options.get_host()) {
            options = options.host(&ip);
        }
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
            saved: Vec::new(),
            user_variables: false,
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
        let about = match rows.first() {
            Some(r) => format!(
                "{}@{}, {} s in its current state; ",
                r.first().and_then(Value::as_text).unwrap_or_default(),
                r.get(1).and_then(Value::as_text).unwrap_or_default(),
                r.get(2).and_then(Value::as_i64).unwrap_or_default()
            ),
            None => String::new(),
        };
        Some(format!(
            "connection {id} ({about}if it is stuck, end it with KILL CONNECTION {id})"
        ))
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

    async fn qualify(&mut self, tables: &[&str]) -> Result<Vec<String>, DbError> {
        let prefix = match &self.database {
            Some(db) => format!("`{}`.", db.replace('`', "``")),
            None => String::new(),
        };
        Ok(tables.iter().map(|t| format!("{prefix}{t}")).collect())
    }

    async fn save_session(&mut self) -> Result<(), DbError> {
        let list = SESSION_VARIABLES
            .iter()
            .map(|v| format!("'{v}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let show = format!("SHOW SESSION VARIABLES WHERE Variable_name IN ({list})");
        let rows = Database::query(self, &Stmt::new(show, vec![])).await?;
        let present: Vec<&'static str> = SESSION_VARIABLES
            .iter()
            .copied()
            .filter(|v| {
                rows.iter()
                    .any(|r| r.first().and_then(Value::as_text).as_deref() == Some(*v))
            })
            .collect();
        let values = self.read_variables(&present).await?;
        self.saved = present.into_iter().zip(values).collect();
        let probe = Stmt::new(
            "SELECT COUNT(*) FROM information_schema.USER_VARIABLES",
            vec![],
        );
        self.user_variables = Database::query(self, &probe).await.is_ok();
        Ok(())
    }

    /// Sets back what differs from `save_session`: session variables, a frozen `timestamp`,
    /// user variables (MariaDB lists them; they become NULL, as on a new connection), and the
    /// current database after a `USE`. One query when nothing changed. Temporary tables and
    /// prepared statements cannot be listed on MySQL/MariaDB 10.x and are left as they are.
    async fn reset_session(&mut self, _script: &str) -> Result<(), DbError> {
        let mut columns = vec![
            "CAST(DATABASE() AS CHAR)".to_string(),
            "ABS(@@timestamp - UNIX_TIMESTAMP(SYSDATE(6))) > 1".to_string(),
        ];
        if self.user_variables {
            columns.push(
                "(SELECT CAST(GROUP_CONCAT(REPLACE(VARIABLE_NAME, '`', '``') SEPARATOR \
                 '` = NULL, @`') AS CHAR) FROM information_schema.USER_VARIABLES \
                 WHERE VARIABLE_VALUE IS NOT NULL)"
                    .to_string(),
            );
        }
        let first_variable = columns.len();
        columns.extend(
            self.saved
                .iter()
                .map(|(v, _)| format!("CAST(@@{v} AS CHAR)")),
        );
        let now = Stmt::new(format!("SELECT {}", columns.join(", ")), vec![]);
        let rows = Database::query(self, &now).await?;
        let row = rows.into_iter().next().unwrap_or_default();
        let mut sets: Vec<String> = self
            .saved
            .iter()
            .zip(row.iter().skip(first_variable))
            .filter(|((_, saved), now)| saved.as_text() != now.as_text())
            .map(|((name, saved), _)| format!("{name} = {}", literal(saved)))
            .collect();
        if row.get(1).and_then(Value::as_bool) == Some(true) {
            sets.push("timestamp = DEFAULT".to_string());
        }
        let mut script = Vec::new();
        if !sets.is_empty() {
            script.push(format!("SET SESSION {}", sets.join(", ")));
        }
        if self.user_variables
            && let Some(names) = row.get(2).and_then(Value::as_text)
        {
            script.push(format!("SET @`{names}` = NULL"));
        }
        if let Some(db) = &self.database
            && row.first().and_then(Value::as_text).as_deref() != Some(db.as_str())
        {
            script.push(format!("USE `{}`", db.replace('`', "``")));
        }
        if script.is_empty() {
            return Ok(());
        }
        driver::run_script(&mut self.conn, &script.join("; "), error).await
    }

    async fn close(self) {
        let _ = self.conn.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::is_number;

    #[test]
    fn numbers_are_the_texts_that_parse_as_floats() {
        // Every text of up to five digits, dots and minus signs: the hand check agrees with
        // `str::parse::<f64>`, which it replaces.
        let mut texts = vec![String::new()];
        let mut longest = texts.clone();
        for _ in 0..5 {
            longest = longest
                .iter()
                .flat_map(|t| ["0", "7", ".", "-"].map(|c| format!("{t}{c}")))
                .collect();
            texts.extend(longest.iter().cloned());
        }
        for t in &texts {
            assert_eq!(is_number(t), t.parse::<f64>().is_ok(), "{t:?}");
        }
    }
}
