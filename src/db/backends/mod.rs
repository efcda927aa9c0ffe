//! What usher needs from a database, as one small trait; one file per database implements it
//! (postgres.rs, mysql.rs, sqlite.rs) and `backend` below registers it by URL scheme; `driver`
//! is the glue to sqlx they share.
//!
//! History formats never see a driver: they write SQL against a `Dialect` and read rows as
//! `Value`s, so a new database works with every format, and a new format with every database.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::db::sql::Lexing;

mod driver;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

/// The registration of databases: URL scheme → implementation of `database::Database`.
/// Add a database with one line here.
pub fn backend(scheme: &str) -> Option<Backend> {
    Some(match scheme {
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => Backend::of::<postgres::Postgres>(),
        #[cfg(feature = "mysql")]
        "mysql" | "mariadb" => Backend::of::<mysql::MySql>(),
        #[cfg(feature = "sqlite")]
        "sqlite" => Backend::of::<sqlite::Sqlite>(),
        _ => return None,
    })
}

/// The URL schemes this build supports, for messages.
pub const SCHEMES: &[&str] = &[
    #[cfg(feature = "postgres")]
    "postgres://",
    #[cfg(feature = "mysql")]
    "mysql:// (MariaDB too)",
    #[cfg(feature = "sqlite")]
    "sqlite://",
];

/// A value bound to, or read from, a history-table statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
}

impl Value {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Text(t) => t.trim().parse().ok(),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// Text, or bytes that are UTF-8 (MySQL reports some text columns as binary).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Text(t) => Some(t.clone()),
            Value::Bytes(b) => String::from_utf8(b.clone()).ok(),
            Value::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Value::Bytes(b) => Some(b.clone()),
            Value::Text(t) => Some(t.as_bytes().to_vec()),
            _ => None,
        }
    }

    /// Booleans are TINYINT(1) on MySQL and INTEGER on SQLite.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            Value::Text(t) => match t.as_str() {
                "t" | "true" | "1" => Some(true),
                "f" | "false" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
}

/// The history tables that exist, and the rows of a read of one of them (`None`: missing).
pub type TablesAndRows = (Vec<String>, Option<Vec<Vec<Value>>>);

/// What `try_lock_and_read` learned with the lock.
pub struct Locked {
    /// The history tables that exist.
    pub tables: Vec<String>,
    /// The rows of the read, `None` when its table is missing or there was no read.
    pub rows: Option<Vec<Vec<Value>>>,
    /// The pinned names (`qualify`).
    pub names: Vec<String>,
}

/// A statement with its parameters, written for one `Dialect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stmt {
    pub sql: String,
    pub params: Vec<Value>,
}

impl Stmt {
    pub fn new(sql: impl Into<String>, params: Vec<Value>) -> Stmt {
        Stmt {
            sql: sql.into(),
            params,
        }
    }
}

/// How a database spells what history formats need. Each database provides one constant.
#[derive(Debug)]
pub struct Dialect {
    /// For messages: `PostgreSQL`, `MySQL/MariaDB`, `SQLite`.
    pub name: &'static str,
    /// `$n` (true) or `?` placeholders.
    pub numbered_placeholders: bool,
    /// Binary column type (`BYTEA`, `BLOB`).
    pub bytes_type: &'static str,
    /// A timestamp column that defaults to the insertion time, as sqlx creates it.
    pub timestamp_default_now: &'static str,
    /// `CAST(x AS <text_type>)` turns any column into text.
    pub text_cast_type: &'static str,
    /// DDL commits the open transaction (MySQL/MariaDB): a failed script can leave part of
    /// itself applied, so usher records it as started before it runs.
    pub ddl_commits: bool,
    pub lexing: Lexing,
    /// Statements that put the session back as it was at connect, whatever a migration SET,
    /// sent with the end of each script (no round trip of their own); `None` where they
    /// depend on the session (`Database::session_reset` writes them once `save_session` saw
    /// it: MySQL).
    pub session_reset: Option<&'static str>,
    /// Statements around a script whose run time `Database::inline` measures from a mark of
    /// its own (sent before the script, and after the history row); `None`: measured from
    /// the message's arrival.
    pub timer: Option<(&'static str, &'static str)>,
}

impl Dialect {
    /// The placeholder for the `n`th (1-based) parameter.
    pub fn param(&self, n: usize) -> String {
        if self.numbered_placeholders {
            format!("${n}")
        } else {
            "?".to_string()
        }
    }

    pub fn as_text(&self, expr: &str) -> String {
        format!("CAST({expr} AS {})", self.text_cast_type)
    }
}

/// A failure reported by the database or the driver, already redacted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbError {
    /// SQLSTATE (PostgreSQL, SQLite's extended code) or the MySQL error number.
    pub code: Option<String>,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// PostgreSQL's error position: 1-based, in characters of the statement text.
    pub position: Option<usize>,
    /// Index of the failing statement in a script, counted from 0 (see `run_script`).
    pub statement: Option<usize>,
    /// The connection is gone (not an error in the SQL).
    pub connection_lost: bool,
}

impl DbError {
    pub fn other(message: impl Into<String>) -> DbError {
        DbError {
            message: message.into(),
            ..DbError::default()
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, "; detail: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

/// Why a connection attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// Worth retrying until the deadline: unreachable, not resolvable, starting up, too many
    /// connections, the attempt timed out.
    Retry(String),
    /// Retrying cannot help: wrong password, unknown database, TLS verification failed.
    Refused(String),
    /// The URL itself is unusable.
    BadUrl(String),
}

/// Where and as whom to connect: what every database's `connect` gets.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))] // the name and pgpass are PostgreSQL's
pub struct Endpoint<'a> {
    pub url: &'a str,
    /// Identifies the process to other sessions (the lock holder's name).
    pub application_name: &'a str,
    /// The password file to read when the URL has no password: `PGPASSFILE`, else
    /// `$HOME/.pgpass`, both from the app's environment — after the privilege drop usher's own
    /// `HOME` is still root's, which the drivers would read.
    pub pgpass: Option<&'a std::path::Path>,
}

/// The password file named by an environment: `PGPASSFILE`, else `$HOME/.pgpass` (libpq).
pub fn pgpass_file(env: &crate::environment::Environment) -> Option<PathBuf> {
    if let Some(file) = env.non_empty("PGPASSFILE") {
        return Some(PathBuf::from(file));
    }
    env.non_empty("HOME")
        .map(|home| PathBuf::from(home).join(".pgpass"))
}

/// The address inside an IPv6 literal's brackets (`[::1]` → `::1`), which URL parsers keep
/// in the host name; `None` for any other host.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub fn unbracket(host: &str) -> Option<String> {
    let inner = host.strip_prefix('[')?.strip_suffix(']')?;
    inner.contains(':').then(|| inner.to_string())
}

/// Cancels the statement a connection is running, from another connection.
pub trait Canceller {
    /// Asks the server to cancel the running statement; best effort, bounded by `timeout`.
    async fn cancel(&self, timeout: Duration);
}

/// A connection to one database, with what migrations need.
///
/// Every method that returns a `DbError` must redact it (`crate::redact::redact`) before
/// returning: messages are printed as they are.
pub trait Database: Sized {
    type Canceller: Canceller;

    /// The SQL spellings formats use; one constant per database.
    const DIALECT: &'static Dialect;

    /// Opens one connection, within `timeout`. `application_name` identifies the process to
    /// other sessions (the lock holder's name). SQLite creates a missing file.
    /// Must classify failures into retryable and refused ones (see `ConnectError`).
    async fn connect(endpoint: &Endpoint<'_>, timeout: Duration) -> Result<Self, ConnectError>;

    /// A handle that can cancel this connection's running statement from elsewhere.
    fn canceller(&self) -> Self::Canceller;

    /// The name of the database this connection is in (`current_database()`), for lock keys.
    async fn database_name(&mut self) -> Result<String, DbError>;

    /// Before the first `try_lock`: proves that this connection's session — where the lock
    /// lives — belongs to this connection alone, for as long as it is open. A transaction-mode
    /// connection pooler (PgBouncer) hands the server session to other clients between
    /// transactions, so a session lock would neither exclude them nor go away with usher.
    /// `Ok(Some(why))` names the pooler and the fix; `Ok(None)`: the session is usher's own.
    /// Also where a database asks the server to notice a dead client quickly, so a killed
    /// holder's lock goes away within seconds. Default: nothing to check (SQLite, MySQL).
    async fn exclusive_session(
        &mut self,
        _endpoint: &Endpoint<'_>,
    ) -> Result<Option<String>, DbError> {
        Ok(None)
    }

    /// Tries once, without waiting, to take the exclusive migration lock `key` for this
    /// session. Must be a session-level lock that the server releases when the connection
    /// closes or the process dies, and must never block (a blocking advisory lock deadlocks
    /// with `CREATE INDEX CONCURRENTLY`).
    async fn try_lock(&mut self, key: i64) -> Result<bool, DbError>;

    /// Who holds `key` right now, for the "waiting for the lock" message; `None` if unknown.
    async fn lock_holder(&mut self, key: i64) -> Option<String>;

    /// Releases the lock taken by `try_lock`.
    async fn unlock(&mut self, key: i64) -> Result<(), DbError>;

    /// `try_lock`, and where the lock is taken, what the first migration needs, in the same
    /// round trip where the database allows: the history tables that exist (`tables`), the
    /// rows of `read` (a query of table `read.0`, which may not exist; see `tables_and_read`),
    /// the names of `pin` (`qualify`) and the session saved (`save_session`). `None`: the
    /// lock is held elsewhere (whatever else was read is dropped).
    async fn try_lock_and_read(
        &mut self,
        key: i64,
        tables: &[&str],
        read: Option<(&str, &Stmt)>,
        pin: &[&str],
    ) -> Result<Option<Locked>, DbError> {
        if !self.try_lock(key).await? {
            return Ok(None);
        }
        let (tables, rows) = match read {
            Some(read) => self.tables_and_read(tables, read).await?,
            None => (self.existing_tables(tables).await?, None),
        };
        let names = self.qualify(pin).await?;
        self.save_session().await?;
        Ok(Some(Locked {
            tables,
            rows,
            names,
        }))
    }

    /// Which of `tables` exist where unqualified names resolve (search path, current
    /// database, main schema).
    async fn existing_tables(&mut self, tables: &[&str]) -> Result<Vec<String>, DbError>;

    /// `existing_tables`, and `read.1`, a query of table `read.0`, which may not exist: its
    /// rows, or `None` when the table is not there. PostgreSQL and MySQL send both (and what
    /// they learn about the session) in one message: a start with nothing to apply is this
    /// one round trip after authentication.
    async fn tables_and_read(
        &mut self,
        tables: &[&str],
        read: (&str, &Stmt),
    ) -> Result<TablesAndRows, DbError> {
        let found = self.existing_tables(tables).await?;
        if !found.iter().any(|t| t.eq_ignore_ascii_case(read.0)) {
            return Ok((found, None));
        }
        let rows = self.query(read.1).await?;
        Ok((found, Some(rows)))
    }

    /// `stmt` as statement text with its parameters written in as literals, so that history
    /// statements can travel in the same message as a script (one round trip per migration);
    /// an integer parameter equal to `elapsed` becomes the server's count of nanoseconds
    /// since that message arrived (the script's run time). `None`: not supported here.
    fn inline(&self, _stmt: &Stmt, _elapsed: i64) -> Option<String> {
        None
    }

    /// Runs one statement with parameters; returns the number of rows affected.
    async fn execute(&mut self, stmt: &Stmt) -> Result<u64, DbError>;

    /// Runs one query; every column decoded into a `Value`.
    async fn query(&mut self, stmt: &Stmt) -> Result<Vec<Vec<Value>>, DbError>;

    /// Runs a whole migration script as written, in one round trip where the protocol allows
    /// (`sqlx::raw_sql`: many statements, dollar quotes, DO blocks). On failure,
    /// `DbError::statement` must hold the index of the failing statement (the number of
    /// statements that completed before it), so the caller can name its line.
    async fn run_script(&mut self, sql: &str) -> Result<(), DbError>;

    /// How history statements must name each of `tables` once migrations have run on this
    /// session: qualified with the schema (PostgreSQL) or database (MySQL) that an
    /// unqualified name resolves to now, or where it would be created — so that a migration's
    /// `SET search_path` or `USE` can never send the history elsewhere. Called before the
    /// first migration of a run. The names are usher's own constants (no quoting needed).
    async fn qualify(&mut self, tables: &[&str]) -> Result<Vec<String>, DbError> {
        Ok(tables.iter().map(|t| t.to_string()).collect())
    }

    /// The statements that reset the session after each migration script, sent with its last
    /// piece: `Dialect::session_reset`, plus whatever this connection set for itself after
    /// connecting (PostgreSQL's dead-client settings, which `RESET ALL` would undo), or what
    /// `save_session` wrote out (MySQL: every saved variable set back, without a look first).
    fn session_reset(&self) -> Option<&str> {
        Self::DIALECT.session_reset
    }

    /// Remembers the session state a migration can change (MySQL's session variables,
    /// SQLite's PRAGMAs), before the first migration of a run.
    async fn save_session(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    /// Puts the session back as it was at `save_session` after each migration script (and
    /// after `Dialect::session_reset`), before its history row is written: what one
    /// migration SETs (a timeout, sql_mode, a role, the search path, the current database,
    /// temporary tables) must reach neither usher's bookkeeping nor the next migration, so
    /// that a database migrated in one run ends like one migrated one start at a time.
    /// `script` is the migration's text. Must keep the migration lock (never `DISCARD ALL`,
    /// `RESET CONNECTION`).
    async fn reset_session(&mut self, _script: &str) -> Result<(), DbError> {
        Ok(())
    }

    // Transaction control goes through the simple protocol (`run_script`): one message, no
    // prepared statement.

    /// Starts a transaction on this connection.
    async fn begin(&mut self) -> Result<(), DbError> {
        self.run_script("BEGIN").await
    }

    async fn commit(&mut self) -> Result<(), DbError> {
        self.run_script("COMMIT").await
    }

    /// Rolls back whatever transaction is open; must succeed when none is.
    async fn rollback(&mut self) -> Result<(), DbError> {
        self.run_script("ROLLBACK").await
    }

    /// Closes the connection cleanly (the server releases session locks).
    async fn close(self);
}

/// The lock key usher uses when the history format has none of its own (refinery takes no
/// lock): sqlx's formula (crc32 of the database name times a constant, after Rails) with a
/// different constant, so the two never collide by design.
pub fn usher_lock_key(database: &str) -> i64 {
    0x5e5a_11ce * i64::from(crc32_ieee(database.as_bytes()))
}

/// CRC-32 (IEEE 802.3, the `crc` crate's `CRC_32_ISO_HDLC` that sqlx uses for its lock key).
pub fn crc32_ieee(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32_ieee(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_ieee(b""), 0);
    }

    #[test]
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    fn ipv6_literals_lose_their_brackets() {
        assert_eq!(unbracket("[::1]").as_deref(), Some("::1"));
        assert_eq!(unbracket("[2001:db8::5]").as_deref(), Some("2001:db8::5"));
        assert_eq!(unbracket("db.example"), None);
        assert_eq!(unbracket("127.0.0.1"), None);
    }

    #[test]
    fn values_convert_leniently() {
        assert_eq!(Value::Int(1).as_bool(), Some(true));
        assert_eq!(Value::Text("42".into()).as_i64(), Some(42));
        assert_eq!(Value::Bytes(b"x".to_vec()).as_text().as_deref(), Some("x"));
        assert_eq!(Value::Null.as_text(), None);
    }
}

/// A boxed future, for the object-safe `Db`.
pub type Fut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>>;

/// `Database` behind a pointer, which is what the engine uses: the procedure is compiled once
/// rather than once per database (the binary-size budget); one allocation per call costs
/// nothing next to a round trip. Implemented for every `Database` below.
pub trait Db {
    fn dialect(&self) -> &'static Dialect;
    fn canceller(&self) -> Box<dyn DynCanceller>;
    fn database_name(&mut self) -> Fut<'_, Result<String, DbError>>;
    fn exclusive_session<'a>(
        &'a mut self,
        endpoint: &'a Endpoint<'a>,
    ) -> Fut<'a, Result<Option<String>, DbError>>;
    fn try_lock(&mut self, key: i64) -> Fut<'_, Result<bool, DbError>>;
    fn try_lock_and_read<'a>(
        &'a mut self,
        key: i64,
        tables: &'a [&'a str],
        read: Option<(&'a str, &'a Stmt)>,
        pin: &'a [&'a str],
    ) -> Fut<'a, Result<Option<Locked>, DbError>>;
    fn lock_holder(&mut self, key: i64) -> Fut<'_, Option<String>>;
    fn unlock(&mut self, key: i64) -> Fut<'_, Result<(), DbError>>;
    fn existing_tables<'a>(
        &'a mut self,
        tables: &'a [&'a str],
    ) -> Fut<'a, Result<Vec<String>, DbError>>;
    fn tables_and_read<'a>(
        &'a mut self,
        tables: &'a [&'a str],
        read: (&'a str, &'a Stmt),
    ) -> Fut<'a, Result<TablesAndRows, DbError>>;
    fn inline(&self, stmt: &Stmt, elapsed: i64) -> Option<String>;
    fn execute<'a>(&'a mut self, stmt: &'a Stmt) -> Fut<'a, Result<u64, DbError>>;
    fn query<'a>(&'a mut self, stmt: &'a Stmt) -> Fut<'a, Result<Vec<Vec<Value>>, DbError>>;
    fn run_script<'a>(&'a mut self, sql: &'a str) -> Fut<'a, Result<(), DbError>>;
    fn qualify<'a>(&'a mut self, tables: &'a [&'a str]) -> Fut<'a, Result<Vec<String>, DbError>>;
    fn session_reset(&self) -> Option<&str>;
    fn save_session(&mut self) -> Fut<'_, Result<(), DbError>>;
    fn reset_session<'a>(&'a mut self, script: &'a str) -> Fut<'a, Result<(), DbError>>;
    fn begin(&mut self) -> Fut<'_, Result<(), DbError>>;
    fn commit(&mut self) -> Fut<'_, Result<(), DbError>>;
    fn rollback(&mut self) -> Fut<'_, Result<(), DbError>>;
    fn close(self: Box<Self>) -> Fut<'static, ()>;
}

pub trait DynCanceller {
    fn cancel(&self, timeout: Duration) -> Fut<'_, ()>;
}

impl<C: Canceller> DynCanceller for C {
    fn cancel(&self, timeout: Duration) -> Fut<'_, ()> {
        Box::pin(Canceller::cancel(self, timeout))
    }
}

impl<D: Database + 'static> Db for D
where
    D::Canceller: 'static,
{
    fn dialect(&self) -> &'static Dialect {
        D::DIALECT
    }
    fn canceller(&self) -> Box<dyn DynCanceller> {
        Box::new(Database::canceller(self))
    }
    fn database_name(&mut self) -> Fut<'_, Result<String, DbError>> {
        Box::pin(Database::database_name(self))
    }
    fn exclusive_session<'a>(
        &'a mut self,
        endpoint: &'a Endpoint<'a>,
    ) -> Fut<'a, Result<Option<String>, DbError>> {
        Box::pin(Database::exclusive_session(self, endpoint))
    }
    fn try_lock(&mut self, key: i64) -> Fut<'_, Result<bool, DbError>> {
        Box::pin(Database::try_lock(self, key))
    }
    fn try_lock_and_read<'a>(
        &'a mut self,
        key: i64,
        tables: &'a [&'a str],
        read: Option<(&'a str, &'a Stmt)>,
        pin: &'a [&'a str],
    ) -> Fut<'a, Result<Option<Locked>, DbError>> {
        Box::pin(Database::try_lock_and_read(self, key, tables, read, pin))
    }
    fn lock_holder(&mut self, key: i64) -> Fut<'_, Option<String>> {
        Box::pin(Database::lock_holder(self, key))
    }
    fn unlock(&mut self, key: i64) -> Fut<'_, Result<(), DbError>> {
        Box::pin(Database::unlock(self, key))
    }
    fn existing_tables<'a>(
        &'a mut self,
        tables: &'a [&'a str],
    ) -> Fut<'a, Result<Vec<String>, DbError>> {
        Box::pin(Database::existing_tables(self, tables))
    }
    fn tables_and_read<'a>(
        &'a mut self,
        tables: &'a [&'a str],
        read: (&'a str, &'a Stmt),
    ) -> Fut<'a, Result<TablesAndRows, DbError>> {
        Box::pin(Database::tables_and_read(self, tables, read))
    }
    fn inline(&self, stmt: &Stmt, elapsed: i64) -> Option<String> {
        Database::inline(self, stmt, elapsed)
    }
    fn execute<'a>(&'a mut self, stmt: &'a Stmt) -> Fut<'a, Result<u64, DbError>> {
        Box::pin(Database::execute(self, stmt))
    }
    fn query<'a>(&'a mut self, stmt: &'a Stmt) -> Fut<'a, Result<Vec<Vec<Value>>, DbError>> {
        Box::pin(Database::query(self, stmt))
    }
    fn run_script<'a>(&'a mut self, sql: &'a str) -> Fut<'a, Result<(), DbError>> {
        Box::pin(Database::run_script(self, sql))
    }
    fn qualify<'a>(&'a mut self, tables: &'a [&'a str]) -> Fut<'a, Result<Vec<String>, DbError>> {
        Box::pin(Database::qualify(self, tables))
    }
    fn session_reset(&self) -> Option<&str> {
        Database::session_reset(self)
    }
    fn save_session(&mut self) -> Fut<'_, Result<(), DbError>> {
        Box::pin(Database::save_session(self))
    }
    fn reset_session<'a>(&'a mut self, script: &'a str) -> Fut<'a, Result<(), DbError>> {
        Box::pin(Database::reset_session(self, script))
    }
    fn begin(&mut self) -> Fut<'_, Result<(), DbError>> {
        Box::pin(Database::begin(self))
    }
    fn commit(&mut self) -> Fut<'_, Result<(), DbError>> {
        Box::pin(Database::commit(self))
    }
    fn rollback(&mut self) -> Fut<'_, Result<(), DbError>> {
        Box::pin(Database::rollback(self))
    }
    fn close(self: Box<Self>) -> Fut<'static, ()> {
        Box::pin(Database::close(*self))
    }
}

/// Opens a connection: `(endpoint, attempt timeout)`.
pub type ConnectFn =
    for<'a> fn(&'a Endpoint<'a>, Duration) -> Fut<'a, Result<Box<dyn Db>, ConnectError>>;

/// A registered database: its name and how to connect to it.
#[derive(Clone, Copy)]
pub struct Backend {
    pub name: &'static str,
    pub connect: ConnectFn,
}

impl Backend {
    pub fn of<D: Database + 'static>() -> Backend
    where
        D::Canceller: 'static,
    {
        Backend {
            name: D::DIALECT.name,
            connect: connect::<D>,
        }
    }
}

fn connect<'a, D: Database + 'static>(
    endpoint: &'a Endpoint<'a>,
    timeout: Duration,
) -> Fut<'a, Result<Box<dyn Db>, ConnectError>>
where
    D::Canceller: 'static,
{
    Box::pin(async move {
        D::connect(endpoint, timeout)
            .await
            .map(|d| Box::new(d) as Box<dyn Db>)
    })
}
