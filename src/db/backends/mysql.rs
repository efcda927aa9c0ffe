//! MySQL and MariaDB, through sqlx: `GET_LOCK(name, 0)` polled (the name is the lock key in
//! lowercase hex, as sqlx names its lock), the holder named from `IS_USED_LOCK` and the process
//! list, cancel with `KILL QUERY`. DDL commits implicitly here (`Dialect::ddl_commits`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlRow};
use sqlx::{ConnectOptions, Connection, Row};

use super::driver::{self, DecodeValues, RowsAffected};
use super::{
    Canceller, ConnectError, Database, DbError, Dialect, Endpoint, Locked, Stmt, TablesAndRows,
    Value,
};
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
    /// sqlx's session set-up, not yet sent (`deferred_setup`).
    setup: Option<String>,
    /// The statements that put the session back as `save_session` found it.
    reset: Option<String>,
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

/// A parameter as a literal in a history statement: text quoted when it is plain printable
/// ASCII, else written in hex (read the same whatever NO_BACKSLASH_ESCAPES or the connection's
/// character set say), bytes in hex.
fn value_literal(v: &Value) -> String {
    let hex = |b: &[u8]| -> String { b.iter().map(|x| format!("{x:02x}")).collect() };
    match v {
        Value::Null => "NULL".to_string(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Value::Text(t) if t.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'\\') => {
            format!("'{}'", t.replace('\'', "''"))
        }
        Value::Text(t) => format!("X'{}'", hex(t.as_bytes())),
        Value::Bytes(b) => format!("X'{}'", hex(b)),
    }
}

/// `?` placeholders outside quotes replaced by literals; the run time from the timer
/// (`Dialect::timer`), in nanoseconds as sqlx records it.
fn inline(stmt: &Stmt, elapsed: i64) -> Option<String> {
    let mut out = String::with_capacity(stmt.sql.len() + 32);
    let mut params = stmt.params.iter();
    let mut quote: Option<char> = None;
    for c in stmt.sql.chars() {
        match (c, quote) {
            ('\'' | '`' | '"', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            ('?', None) => {
                match params.next()? {
                    Value::Int(i) if *i == elapsed => out.push_str(
                        "(TIMESTAMPDIFF(MICROSECOND, @usher_started, SYSDATE(6)) * 1000)",
                    ),
                    v => out.push_str(&value_literal(v)),
                }
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    Some(out)
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
        if self.id == 0 {
            return;
        }
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
    timer: Some(TIMER),
};

/// The script's run time for a one-message migration (`Database::inline`): its start, kept in
/// a user variable until the history row is written, then cleared.
const TIMER: (&str, &str) = (
    "SET @usher_started = SYSDATE(6)",
    "SET @usher_started = NULL",
);

/// Session variables `SHOW VARIABLES` prints as empty when they are NULL, for which the empty
/// string is no valid value.
const NULLABLE: &[&str] = &["default_tmp_storage_engine", "character_set_results"];

/// Which session variables this server has, and their values (`SHOW` prints NULL as empty).
fn show_variables() -> String {
    let list = SESSION_VARIABLES
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("SHOW SESSION VARIABLES WHERE Variable_name IN ({list})")
}

/// Whether the server lists user variables (MariaDB's `information_schema.USER_VARIABLES`).
const HAS_USER_VARIABLES: &str = "SELECT COUNT(*) FROM information_schema.TABLES \
    WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'USER_VARIABLES'";

impl MySql {
    /// Takes `SHOW VARIABLES`' answer (`variables`) and whether user variables can be
    /// listed; builds the reset (`session_reset`).
    fn saved_from(&mut self, variables: &[Vec<Value>], user_variables: &[Vec<Value>]) {
        self.saved = SESSION_VARIABLES
            .iter()
            .filter_map(|name| {
                let row = variables
                    .iter()
                    .find(|r| r.first().and_then(Value::as_text).as_deref() == Some(*name))?;
                let value = row.get(1).and_then(Value::as_text).unwrap_or_default();
                Some(match value.is_empty() && NULLABLE.contains(name) {
                    true => (*name, Value::Null),
                    false => (*name, Value::Text(value)),
                })
            })
            .collect();
        self.user_variables = user_variables
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_i64)
            .is_some_and(|n| n > 0);
        let mut sets: Vec<String> = self
            .saved
            .iter()
            .map(|(name, value)| format!("{name} = {}", literal(value)))
            .collect();
        sets.push("timestamp = DEFAULT".to_string());
        let mut script = vec![format!("SET SESSION {}", sets.join(", "))];
        if let Some(db) = &self.database {
            script.push(format!("USE `{}`", db.replace('`', "``")));
        }
        if self.user_variables {
            script.push(
                "SET @usher_reset = (SELECT COALESCE(CONCAT('SET ', GROUP_CONCAT(CONCAT('@`', \
                 REPLACE(VARIABLE_NAME, '`', '``'), '` = NULL'))), 'DO 0') \
                 FROM information_schema.USER_VARIABLES \
                 WHERE VARIABLE_VALUE IS NOT NULL AND VARIABLE_NAME <> 'usher_started')"
                    .to_string(),
            );
            script.push("PREPARE usher_reset FROM @usher_reset".to_string());
            script.push("EXECUTE usher_reset".to_string());
            script.push("DEALLOCATE PREPARE usher_reset".to_string());
            script.push("SET @usher_reset = NULL".to_string());
        }
        self.reset = Some(script.join("; "));
    }

    /// `driver::query_many` of `sql`, with sqlx's session set-up in front when it is still
    /// due (its rows are not returned; a failure of the set-up itself is an error).
    async fn query_many(&mut self, sql: String) -> Result<Many, DbError> {
        let Some(setup) = self.setup.take() else {
            return Ok(driver::query_many(&mut self.conn, sql, error).await);
        };
        let sql = format!("{setup}; {sql}");
        let (mut results, failed) = driver::query_many(&mut self.conn, sql, error).await;
        if results.len() < 2 {
            self.setup = Some(setup);
            return Err(failed.unwrap_or_else(|| DbError::other("no session set-up")));
        }
        results.remove(0);
        Ok((results, failed))
    }

    /// Sends sqlx's session set-up if it is still due.
    async fn set_up(&mut self) -> Result<(), DbError> {
        if let Some(setup) = self.setup.take() {
            driver::run_script(&mut self.conn, &setup, error).await?;
        }
        Ok(())
    }

    /// Takes the answer to `WHO`.
    fn who(&mut self, rows: &[Vec<Value>]) {
        let first = rows.first().map(Vec::as_slice).unwrap_or_default();
        self.id = first.first().and_then(Value::as_i64).unwrap_or_default() as u64;
        self.database = first.get(1).and_then(Value::as_text);
    }
}

/// The session set-up sqlx sends after connecting — PIPES_AS_CONCAT, NO_ENGINE_SUBSTITUTION,
/// UTC, the connection's character set — which migrations are written against: sent with
/// usher's first query instead, so it costs no round trip of its own. `None` when the URL
/// sets a time zone (sqlx then sends its set-up itself).
fn deferred_setup(options: &MySqlConnectOptions, url: &str) -> Option<String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    if query.contains("timezone") || query.contains("time-zone") {
        return None;
    }
    let names = match options.get_collation() {
        Some(c) => format!("NAMES {} COLLATE {c}", options.get_charset()),
        None => format!("NAMES {}", options.get_charset()),
    };
    Some(format!(
        "SET sql_mode=(SELECT CONCAT(@@sql_mode, ',PIPES_AS_CONCAT,NO_ENGINE_SUBSTITUTION')),\
         time_zone='+00:00',{names}"
    ))
}

/// The rows of each statement of a multi-statement query, up to the first failure, with it.
type Many = (Vec<Vec<Vec<Value>>>, Option<DbError>);

/// The connection's id (for `KILL QUERY`) and database (for the lock key).
const WHO: &str = "SELECT CONNECTION_ID(), DATABASE()";

/// Which of `tables` exist in the current database (usher's own constant names).
fn tables_sql(tables: &[&str]) -> String {
    let list = tables
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name IN ({list})"
    )
}

fn texts(rows: &[Vec<Value>]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| r.first().and_then(Value::as_text))
        .collect()
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
        let setup = deferred_setup(&options, &url);
        let connect_options = match setup {
            Some(_) => options
                .clone()
                .pipes_as_concat(false)
                .no_engine_substitution(false)
                .timezone(None)
                .set_names(false),
            None => options.clone(),
        };
        let conn =
            match tokio::time::timeout(timeout, MySqlConnection::connect_with(&connect_options))
                .await
            {
                Err(_) => {
                    return Err(ConnectError::Retry(format!(
                        "no answer within {timeout:.1?} (--wait-attempt-timeout)"
                    )));
                }
                Ok(Err(e)) => return Err(classify(e, &options)),
                Ok(Ok(conn)) => conn,
            };
        // The connection id and database are read with the first query (`who`), not here.
        Ok(MySql {
            conn,
            options,
            id: 0,
            database: None,
            saved: Vec::new(),
            user_variables: false,
            setup,
            reset: None,
        })
    }

    fn canceller(&self) -> MySqlCanceller {
        MySqlCanceller {
            options: self.options.clone(),
            id: self.id,
        }
    }

    async fn database_name(&mut self) -> Result<String, DbError> {
        if self.id == 0 {
            let rows = Database::query(self, &Stmt::new(WHO, vec![])).await?;
            self.who(&rows);
        }
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

    /// One message: the lock, the listing, the session variables and whether user variables
    /// can be listed (`save_session`), the read last (it fails when its table is missing,
    /// which the listing then explains). The names are the database's (`qualify`).
    async fn try_lock_and_read(
        &mut self,
        key: i64,
        tables: &[&str],
        read: Option<(&str, &Stmt)>,
        pin: &[&str],
    ) -> Result<Option<Locked>, DbError> {
        let mut sql = format!(
            "SELECT GET_LOCK('{key:x}', 0); {}; {}; {HAS_USER_VARIABLES}",
            tables_sql(tables),
            show_variables()
        );
        let read = read.filter(|r| r.1.params.is_empty());
        if let Some(read) = read {
            sql.push_str("; ");
            sql.push_str(&read.1.sql);
        }
        let (results, failed) = self.query_many(sql).await?;
        // `query_many` starts a new list of rows after each statement that completed.
        let completed = results.len() - 1;
        if completed < 4 {
            return Err(failed.unwrap_or_else(|| DbError::other("no answer to the lock")));
        }
        let locked = results[0]
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_i64);
        if locked != Some(1) {
            return Ok(None);
        }
        let found = texts(&results[1]);
        let (variables, user_variables) = (results[2].clone(), results[3].clone());
        self.saved_from(&variables, &user_variables);
        let rows = match (read, failed) {
            (None, None) => None,
            (Some(_), None) => results.get(4).cloned(),
            (Some(read), Some(_)) if !found.iter().any(|t| t.eq_ignore_ascii_case(read.0)) => None,
            (_, Some(e)) => return Err(e),
        };
        let names = self.qualify(pin).await?;
        Ok(Some(Locked {
            tables: found,
            rows,
            names,
        }))
    }

    async fn existing_tables(&mut self, tables: &[&str]) -> Result<Vec<String>, DbError> {
        let rows = Database::query(self, &Stmt::new(tables_sql(tables), vec![])).await?;
        Ok(texts(&rows))
    }

    /// One multi-statement text query: who this connection is, the listing, the read (when
    /// it has no parameters). The read fails when its table is missing, which the listing
    /// then explains.
    async fn tables_and_read(
        &mut self,
        tables: &[&str],
        read: (&str, &Stmt),
    ) -> Result<TablesAndRows, DbError> {
        if !read.1.params.is_empty() {
            let found = self.existing_tables(tables).await?;
            let rows = match found.iter().any(|t| t.eq_ignore_ascii_case(read.0)) {
                true => Some(self.query(read.1).await?),
                false => None,
            };
            return Ok((found, rows));
        }
        let sql = format!("{WHO}; {}; {}", tables_sql(tables), read.1.sql);
        let (mut results, failed) = self.query_many(sql).await?;
        if results.len() < 3 {
            return Err(failed.unwrap_or_else(|| DbError::other("no table listing")));
        }
        self.who(&results[0]);
        let found = texts(&results[1]);
        match failed {
            None => Ok((found, results.drain(2..).next())),
            Some(_) if !found.iter().any(|t| t.eq_ignore_ascii_case(read.0)) => Ok((found, None)),
            Some(e) => Err(e),
        }
    }

    fn inline(&self, stmt: &Stmt, elapsed: i64) -> Option<String> {
        inline(stmt, elapsed)
    }

    async fn execute(&mut self, stmt: &Stmt) -> Result<u64, DbError> {
        self.set_up().await?;
        driver::execute(&mut self.conn, stmt, error).await
    }

    async fn query(&mut self, stmt: &Stmt) -> Result<Vec<Vec<Value>>, DbError> {
        self.set_up().await?;
        driver::query(&mut self.conn, stmt, error).await
    }

    async fn run_script(&mut self, sql: &str) -> Result<(), DbError> {
        self.set_up().await?;
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
        let sql = format!("{}; {HAS_USER_VARIABLES}", show_variables());
        let (results, failed) = self.query_many(sql).await?;
        if let Some(e) = failed {
            return Err(e);
        }
        self.saved_from(&results[0], &results[1]);
        Ok(())
    }

    /// `save_session`'s reset: the session variables set back (unconditionally: one SET
    /// costs nothing next to a round trip to look first), a frozen `timestamp` released, the
    /// current database after a `USE`, and user variables (MariaDB lists them; they become
    /// NULL, as on a new connection; the timer's stays until the row is written). Temporary
    /// tables and prepared statements cannot be listed on MySQL/MariaDB 10.x and are left as
    /// they are.
    fn session_reset(&self) -> Option<&str> {
        self.reset.as_deref()
    }

    async fn close(self) {
        let _ = self.conn.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::{Stmt, Value, inline, is_number};

    #[test]
    fn parameters_become_literals() {
        let stmt = Stmt::new(
            "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, '?', `a?`, ?)",
            vec![
                Value::Int(-5),
                Value::Text("it's".into()),
                Value::Text("a\\b é".into()),
                Value::Bytes(vec![0, 0xab]),
                Value::Bool(true),
                Value::Null,
                Value::Int(77),
            ],
        );
        assert_eq!(
            inline(&stmt, 77).unwrap(),
            "INSERT INTO t VALUES (-5, 'it''s', X'615c6220c3a9', X'00ab', TRUE, NULL, '?', `a?`, \
             (TIMESTAMPDIFF(MICROSECOND, @usher_started, SYSDATE(6)) * 1000))"
        );
        // A placeholder without a parameter: not inlined.
        assert_eq!(inline(&Stmt::new("SELECT ?", vec![]), 0), None);
    }

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
