//! PostgreSQL, through sqlx: `pg_try_advisory_lock` polled on the migrating session, the lock
//! holder named from `pg_locks` and `pg_stat_activity`, cancel with `pg_cancel_backend`, and
//! libpq's `sslmode` / `sslrootcert` (sqlx parses them from the URL; the Mozilla roots are
//! compiled in through webpki-roots).
//!
//! Every statement goes out as one simple-protocol `Query` message, parameters written into it
//! as literals (`inline`): no prepared statement survives a transaction-mode pooler (PgBouncer
//! hands the server session to another client at every ReadyForQuery, so sqlx's Parse … Sync,
//! Bind … Sync pairs can land on two different servers), and one message is one round trip.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection, PgDatabaseError, PgErrorPosition, PgRow};
use sqlx::{ConnectOptions, Connection, Row};

use super::driver::{self, DecodeValues};
use super::{
    Canceller, ConnectError, Database, DbError, Dialect, Endpoint, Locked, Stmt, TablesAndRows,
    Value, unbracket,
};
use crate::db::sql::{self, Lexing};
use crate::redact::redact;

pub struct Postgres {
    conn: PgConnection,
    options: PgConnectOptions,
    pid: i32,
    database: String,
    /// `exclusive_session` proved that `pid` is this connection's own backend for as long as
    /// the connection lives (no transaction-mode pooler in between).
    pinned: bool,
    /// `DIALECT.session_reset` followed by the dead-client settings once they were made, so
    /// that the reset after each migration does not undo them.
    session_reset: Option<String>,
}

/// Cancels with `pg_cancel_backend(pid)` from a second connection — only once the backend is
/// known to be usher's own (`Postgres::pinned`): through a transaction-mode pooler that pid
/// would be whichever client's transaction the server runs now. (The protocol's CancelRequest
/// would be routed by the pooler, but sqlx 0.9 keeps the BackendKeyData it needs private.)
pub struct PgCanceller {
    options: PgConnectOptions,
    pid: i32,
    pinned: bool,
}

impl Canceller for PgCanceller {
    async fn cancel(&self, timeout: Duration) {
        if !self.pinned {
            return;
        }
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

/// Retry what may pass (unreachable, starting up, too many connections, a pooler that cannot
/// reach the server yet); refuse at once what no retry can cure, with what to check.
fn classify(e: sqlx::Error, options: &PgConnectOptions) -> ConnectError {
    let user = options.get_username();
    let database = options.get_database().unwrap_or(user);
    let tls = |what: String| {
        ConnectError::Refused(format!(
            "TLS failed: {what}; check sslmode and sslrootcert in the URL (sslmode=verify-full \
             needs a server certificate for this host name, signed by a trusted or sslrootcert CA)"
        ))
    };
    match &e {
        // rustls reports a failed handshake (unknown issuer, wrong host name) as InvalidData.
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            tls(redact(&io.to_string()))
        }
        sqlx::Error::Io(io) => ConnectError::Retry(redact(&io.to_string())),
        sqlx::Error::Tls(t) => tls(redact(&t.to_string())),
        sqlx::Error::Configuration(c) => ConnectError::BadUrl(redact(&c.to_string())),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            let message = redact(db.message());
            refusal(&code, &message, user, database)
                .map(ConnectError::Refused)
                .unwrap_or_else(|| ConnectError::Retry(format!("{message} [{code}]")))
        }
        _ => ConnectError::Refused(redact(&e.to_string())),
    }
}

/// Whether a server's (or pooler's) answer to a connection attempt is final: `Some(what to
/// say)`, or `None` when a later attempt may pass.
fn refusal(code: &str, message: &str, user: &str, database: &str) -> Option<String> {
    let fix = match code {
        // cannot_connect_now ("the database system is starting up"), admin/crash shutdown (a
        // restart), insufficient resources (too many connections, out of memory, disk full).
        "57P03" | "57P01" | "57P02" => return None,
        c if c.starts_with("53") => return None,
        // PgBouncer answers 08P01 for everything it refuses itself: some are settings no retry
        // changes, most (server down, login failing, pool full, paused) pass.
        "08P01" => {
            if let Some(param) = message.strip_prefix("unsupported startup parameter: ") {
                format!(
                    "; a connection pooler (PgBouncer) refuses the start-up parameter {param:?} \
                     the driver sends: add `ignore_startup_parameters = {param}` to the \
                     [pgbouncer] section of pgbouncer.ini (keep any names already listed there)"
                )
            } else if message.starts_with("no such database") {
                format!(
                    "; the pooler (PgBouncer) has no database {database:?}: add it to the \
                     [databases] section of pgbouncer.ini, or fix the database name in the URL"
                )
            } else if message.starts_with("no such user") || message.contains("not allowed") {
                format!("; check user {user:?} in the pooler's auth_file / auth_query")
            } else {
                return None;
            }
        }
        // Other connection exceptions: the server went away during start-up.
        c if c.starts_with("08") => return None,
        "28P01" => format!(
            "; check the user name and password of user {user:?} in the URL (or its _FILE \
             secret, or the .pgpass file)"
        ),
        "28000" => format!(
            "; check the user name, and that pg_hba.conf lets user {user:?} in from this host \
             (and whether it requires TLS: sslmode)"
        ),
        "3D000" => format!("; create database {database:?}, or fix the database name in the URL"),
        "42501" => format!("; grant user {user:?} CONNECT on database {database:?}"),
        // Bad start-up settings (`options=-c …` in the URL): invalid value, unknown parameter.
        "22023" | "42704" => "; fix the options parameter of the URL".to_string(),
        _ => String::new(),
    };
    Some(format!("{message} [{code}]{fix}"))
}

/// `stmt` as one simple-protocol statement: each `$n` outside quotes replaced by its
/// parameter as a literal. Text goes in an escape string (`E'…'`), whose meaning does not
/// depend on `standard_conforming_strings`; bytes through `decode(hex)`.
///
/// An integer parameter equal to `elapsed` becomes the nanoseconds since the server received
/// the message (`statement_timestamp()` is that moment for every statement of a message).
fn inline(stmt: &Stmt, elapsed: Option<i64>) -> String {
    let sql = &stmt.sql;
    let mut out = String::with_capacity(sql.len() + 32);
    let mut chars = sql.char_indices().peekable();
    let mut quoted = false;
    while let Some((_, c)) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        let digits = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
            let mut n = 0usize;
            let mut any = false;
            while let Some(&(_, d)) = chars.peek() {
                let Some(v) = d.to_digit(10) else { break };
                n = n * 10 + v as usize;
                any = true;
                chars.next();
            }
            any.then_some(n)
        };
        if c == '$'
            && !quoted
            && let Some(n) = digits(&mut chars)
        {
            match n.checked_sub(1).and_then(|i| stmt.params.get(i)) {
                Some(Value::Int(i)) if Some(*i) == elapsed => out.push_str(
                    "(EXTRACT(EPOCH FROM clock_timestamp() - statement_timestamp()) \
                     * 1000000000)::int8",
                ),
                Some(v) => out.push_str(&literal(v)),
                None => out.push_str(&format!("${n}")),
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".to_string(),
        Value::Int(i) => format!("({i})"),
        Value::Bool(b) => b.to_string(),
        Value::Text(t) => format!("E'{}'", t.replace('\\', "\\\\").replace('\'', "''")),
        Value::Bytes(b) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("decode('{hex}', 'hex')")
        }
    }
}

/// The statement listing which of `tables` exist where unqualified names resolve (the
/// names are usher's own constants).
fn tables_sql(tables: &[&str]) -> String {
    let list = tables
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT c.relname::text FROM pg_catalog.pg_class c \
         WHERE c.relkind IN ('r', 'p') AND c.relname IN ({list}) \
           AND pg_catalog.pg_table_is_visible(c.oid)"
    )
}

/// The first column of each row, as text.
fn texts(rows: &[Vec<Value>]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| r.first().and_then(Value::as_text))
        .collect()
}

fn first_text(rows: &[Vec<Value>]) -> String {
    texts(rows).into_iter().next().unwrap_or_default()
}

/// Whether the URL's user information carries a password (`user:password@`).
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// libpq's password file: `host:port:database:user:password` lines, `*` matching anything,
/// `\` escaping `:` and `\`; the first match wins. Ignored, as libpq does, when group or others
/// may read it.
fn pgpass_password(
    file: &Path,
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        crate::log::log_step!(
            WARN,
            "migrate",
            "password file {} has group or world access; ignored (chmod 0600 it)",
            file.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let port = port.to_string();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let fields = pgpass_fields(line);
            let [h, p, d, u, password] = <[String; 5]>::try_from(fields).ok()?;
            let hit = |pattern: &str, value: &str| pattern == "*" || pattern == value;
            let local = host.starts_with('/') && h == "localhost";
            ((hit(&h, host) || local) && hit(&p, &port) && hit(&d, database) && hit(&u, user))
                .then_some(password)
        })
}

fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().unwrap().push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// The settings that make the server notice a dead client while a statement runs, so a
/// killed lock holder's lock goes within seconds instead of when its statement ends:
/// `client_connection_check_interval` (PostgreSQL 14+) polls the socket during a query; TCP
/// keepalives (any version) find a peer that vanished without closing the connection. SET,
/// not start-up options: PgBouncer refuses unknown start-up parameters. A session reset between
/// migrations (`RESET ALL`, `DISCARD ALL`) undoes them: run them again after one.
fn dead_client_settings(server_version: Option<u32>) -> String {
    let mut settings = vec![
        ("tcp_keepalives_idle", "5"),
        ("tcp_keepalives_interval", "1"),
        ("tcp_keepalives_count", "3"),
    ];
    if server_version.is_some_and(|v| v >= 140000) {
        settings.push(("client_connection_check_interval", "1000"));
    }
    settings
        .iter()
        .map(|(name, value)| format!("set_config('{name}', '{value}', false)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The bigint advisory lock `key` in `pg_locks`: classid = high 32 bits, objid = low 32 bits,
/// objsubid = 1 (PostgreSQL docs, "pg_locks").
fn advisory(key: i64) -> String {
    format!(
        "locktype = 'advisory' AND objsubid = 1 AND classid::int8 = {} AND objid::int8 = {}",
        (key >> 32) & 0xffff_ffff,
        key & 0xffff_ffff
    )
}

/// The query `qualify` sends: for each of `tables`, the schema where the name resolves (the
/// first visible table of that name), or else `current_schema()`, and the name.
fn qualify_sql(tables: &[&str]) -> String {
    let values = tables
        .iter()
        .enumerate()
        .map(|(i, t)| format!("({i}, '{t}')"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT coalesce((SELECT quote_ident(n.nspname) || '.' FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname = v.t AND c.relkind IN ('r', 'p') \
               AND pg_catalog.pg_table_is_visible(c.oid)), \
           quote_ident(current_schema()) || '.', '') || v.t \
         FROM (VALUES {values}) AS v(i, t) ORDER BY v.i"
    )
}

/// The answer to `qualify_sql(tables)`, a name per table.
fn names_from(rows: &[Vec<Value>], tables: &[&str]) -> Vec<String> {
    rows.iter()
        .zip(tables)
        .map(|(r, t)| r.first().and_then(Value::as_text).unwrap_or(t.to_string()))
        .collect()
}

fn second_connection_failed(m: String) -> DbError {
    DbError {
        connection_lost: true,
        ..DbError::other(format!("a second connection failed: {m}"))
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
    timer: None,
};

impl Postgres {
    /// `exclusive_session`'s probe: a second connection takes an advisory lock on a random
    /// key (returned) and disconnects.
    async fn probe(&self) -> Result<i64, DbError> {
        let name = format!(
            "{}-probe",
            self.options.get_application_name().unwrap_or("usher")
        );
        let options = self.options.clone().application_name(&name);

        let mut bytes = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| DbError::other("no random numbers (getrandom failed)"))?;
        let key = i64::from_ne_bytes(bytes);
        // The server just let usher in; a second connection can still meet a full server.
        let tried = Instant::now();
        let mut conn = loop {
            let attempt =
                tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&options))
                    .await;
            let m = match attempt {
                Ok(Ok(conn)) => break conn,
                Err(_) => "no answer within 5 s".to_string(),
                Ok(Err(e)) => match classify(e, &options) {
                    ConnectError::Retry(m) => m,
                    ConnectError::Refused(m) | ConnectError::BadUrl(m) => {
                        return Err(second_connection_failed(m));
                    }
                },
            };
            if tried.elapsed() >= Duration::from_secs(10) {
                return Err(second_connection_failed(m));
            }
            crate::log::log_step!(DEBUG, "migrate", "second connection: {m}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let lock = format!("SELECT pg_try_advisory_lock({key})");
        let probed = driver::run_script(&mut conn, &lock, error).await;
        let _ = conn.close().await;
        probed.map(|()| key)
    }

    /// Whether the probe's lock `probe` is gone: `Ok(None)` when it went with the probe's
    /// connection, `Ok(Some(why))` when it stays (a transaction-mode pooler).
    async fn held(&mut self, probe: i64) -> Result<Option<String>, DbError> {
        let settings = dead_client_settings(self.conn.server_version_num());
        let held = format!(
            "SELECT count(*), pg_backend_pid() FROM pg_locks WHERE {}; \
             SELECT {settings} WHERE NOT EXISTS (SELECT FROM pg_locks WHERE {})",
            advisory(probe),
            advisory(probe)
        );
        let started = Instant::now();
        let mut delay = Duration::from_millis(2);
        loop {
            let (results, failed) = driver::query_many(&mut self.conn, held.clone(), error).await;
            let Some(row) = results.first().and_then(|r| r.first()) else {
                return Err(failed.unwrap_or_else(|| DbError::other("no answer to pg_locks")));
            };
            if row.first().and_then(Value::as_i64) == Some(0) {
                if let Some(pid) = row.get(1).and_then(Value::as_i64) {
                    self.pid = pid as i32;
                }
                self.pinned = true;
                match failed {
                    None => {
                        let reset = DIALECT.session_reset.unwrap_or_default();
                        self.session_reset = Some(format!("{reset}; SELECT {settings}"));
                    }
                    Some(e) => {
                        crate::log::log_step!(DEBUG, "migrate", "cannot set {settings}: {e}")
                    }
                }
                return Ok(None);
            }
            if started.elapsed() >= Duration::from_secs(5) {
                return Ok(Some(
                    "PostgreSQL is reached through a connection pooler in transaction (or \
                     statement) pooling mode, such as PgBouncer with pool_mode = transaction: it \
                     hands usher's server session to other clients between transactions, so the \
                     migration lock would not keep other replicas out (a session that closed \
                     kept its advisory lock). Point MIGRATION_DATABASE_URL at the PostgreSQL \
                     server itself (or at a PgBouncer database with pool_mode = session); the \
                     app can keep using the pooler through DATABASE_URL"
                        .to_string(),
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }
}

impl Database for Postgres {
    type Canceller = PgCanceller;
    const DIALECT: &'static Dialect = &DIALECT;

    async fn connect(endpoint: &Endpoint<'_>, timeout: Duration) -> Result<Self, ConnectError> {
        let mut options = PgConnectOptions::from_str(endpoint.url)
            .map_err(|e| ConnectError::BadUrl(redact(&e.to_string())))?
            .application_name(endpoint.application_name)
            .statement_cache_capacity(0)
            .disable_statement_logging();
        // An IPv6 literal keeps its URL brackets in sqlx's host (`[::1]`), which then fails to
        // resolve as a name.
        if let Some(ip) = unbracket(options.get_host()) {
            options = options.host(&ip);
        }
        // sqlx read the password file from usher's own HOME; the app's may differ.
        if let Some(file) = endpoint.pgpass
            && !url_has_password(endpoint.url)
            && std::env::var_os("PGPASSWORD").is_none()
        {
            let host = options
                .get_socket()
                .map(|s| s.display().to_string())
                .unwrap_or_else(|| options.get_host().to_string());
            let user = options.get_username().to_string();
            let database = options.get_database().unwrap_or(&user).to_string();
            if let Some(password) =
                pgpass_password(file, &host, options.get_port(), &database, &user)
            {
                options = options.password(&password);
            }
        }
        // No query of its own: the backend pid matters once the session is proven usher's
        // own (`exclusive_session` reads it), the database name once a lock key is needed.
        match tokio::time::timeout(timeout, PgConnection::connect_with(&options)).await {
            Err(_) => Err(ConnectError::Retry(format!(
                "no answer within {timeout:.1?} (--wait-attempt-timeout)"
            ))),
            Ok(Err(e)) => Err(classify(e, &options)),
            Ok(Ok(conn)) => Ok(Postgres {
                conn,
                options,
                pid: 0,
                database: String::new(),
                pinned: false,
                session_reset: None,
            }),
        }
    }

    fn canceller(&self) -> PgCanceller {
        PgCanceller {
            options: self.options.clone(),
            pid: self.pid,
            pinned: self.pinned,
        }
    }

    async fn database_name(&mut self) -> Result<String, DbError> {
        if self.database.is_empty() {
            let rows = Database::query(self, &Stmt::new("SELECT current_database()::text", vec![]))
                .await?;
            self.database = first_text(&rows);
        }
        Ok(self.database.clone())
    }

    /// A probe connection takes an advisory lock on a random key and disconnects. Straight to
    /// the server, its backend exits and the lock goes with it; through a session-mode pooler,
    /// the pooler resets the server session for the next client (`DISCARD ALL`) and the lock
    /// goes too. Through a transaction-mode pooler nothing happens at a disconnect between
    /// transactions: the server session, lock and all, waits in the pool for the next client —
    /// which is exactly why a migration lock cannot work there. The answer does not depend on
    /// which server session the pooler picks for which query.
    ///
    /// Then, polled on this connection, whether the probe's lock went with its connection (a
    /// backend exits within milliseconds of its client's Terminate; allow for a loaded
    /// server). A transaction-mode pooler keeps it until it closes that server connection
    /// (server_lifetime, an hour by default); nobody else uses the random key. The dead-client
    /// settings travel with the poll, made only once the session proved usher's own.
    async fn exclusive_session(
        &mut self,
        _endpoint: &Endpoint<'_>,
    ) -> Result<Option<String>, DbError> {
        let probe = self.probe().await?;
        self.held(probe).await
    }

    /// One message: the lock, the listing, the read (when its table was there at the first
    /// read), the schema of the history tables. The session-level lock stays taken whatever
    /// happens to the rest of the message.
    async fn try_lock_and_read(
        &mut self,
        key: i64,
        tables: &[&str],
        read: Option<(&str, &Stmt)>,
        pin: &[&str],
    ) -> Result<Option<Locked>, DbError> {
        let mut sql = format!(
            "SELECT pg_try_advisory_lock({key}); {}; ",
            tables_sql(tables)
        );
        if let Some(read) = read {
            sql.push_str(&inline(read.1, None));
            sql.push_str("; ");
        }
        sql.push_str(&qualify_sql(pin));
        let (results, failed) = driver::query_many(&mut self.conn, sql, error).await;
        let locked = results
            .first()
            .and_then(|r| r.first())
            .and_then(|r| r.first())
            .and_then(Value::as_bool);
        // `query_many` starts a new list of rows after each statement that completed.
        let completed = results.len() - 1;
        let (Some(locked), true) = (locked, completed >= 1) else {
            return Err(failed.unwrap_or_else(|| DbError::other("no answer to the lock")));
        };
        if !locked {
            return Ok(None);
        }
        if completed < 2 {
            return Err(failed.unwrap_or_else(|| DbError::other("no table listing")));
        }
        let found = texts(&results[1]);
        let expected = 3 + usize::from(read.is_some());
        if failed.is_none() && completed >= expected {
            let names = names_from(&results[expected - 1], pin);
            let rows = read.map(|_| results[2].clone());
            return Ok(Some(Locked {
                tables: found,
                rows,
                names,
            }));
        }
        // The read failed: its table is gone (or was never there), which the listing says.
        match (read, failed) {
            (Some(read), Some(_)) if !found.iter().any(|t| t.eq_ignore_ascii_case(read.0)) => {
                let names = self.qualify(pin).await?;
                Ok(Some(Locked {
                    tables: found,
                    rows: None,
                    names,
                }))
            }
            (_, failed) => Err(failed.unwrap_or_else(|| DbError::other("no answer to the read"))),
        }
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
        // bits, objsubid = 1 (PostgreSQL docs, "pg_locks"). The holder's query text is not
        // shown: a migration may carry a password (CREATE ROLE … PASSWORD).
        let holder = Stmt::new(
            "SELECT coalesce(a.application_name, ''), a.pid::int8, \
                    coalesce(EXTRACT(EPOCH FROM (now() - a.backend_start))::int8, -1), \
                    coalesce(a.state, ''), \
                    coalesce(EXTRACT(EPOCH FROM (now() - a.state_change))::int8, -1) \
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
        let state = row.get(3).and_then(Value::as_text).unwrap_or_default();
        let in_state = row.get(4).and_then(Value::as_i64).unwrap_or(-1);
        let name = if name.is_empty() {
            "a session without application_name".to_string()
        } else {
            name
        };
        let mut about = format!("backend pid {pid}");
        if age >= 0 {
            about.push_str(&format!(", connected {age} s ago"));
        }
        if !state.is_empty() {
            about.push_str(&format!(", {state}"));
            if in_state >= 0 {
                about.push_str(&format!(" for {in_state} s"));
            }
        }
        Some(format!(
            "{name} ({about}; if it is stuck, end it with SELECT pg_terminate_backend({pid}))"
        ))
    }

    async fn unlock(&mut self, key: i64) -> Result<(), DbError> {
        let unlock = Stmt::new("SELECT pg_advisory_unlock($1)", vec![Value::Int(key)]);
        Database::query(self, &unlock).await.map(drop)
    }

    async fn existing_tables(&mut self, tables: &[&str]) -> Result<Vec<String>, DbError> {
        let rows = Database::query(self, &Stmt::new(tables_sql(tables), vec![])).await?;
        Ok(texts(&rows))
    }

    /// One message: the database name, the listing, the read. The read fails when its table
    /// is missing (the first start on a database), which the listing then explains.
    async fn tables_and_read(
        &mut self,
        tables: &[&str],
        read: (&str, &Stmt),
    ) -> Result<TablesAndRows, DbError> {
        let sql = format!(
            "SELECT current_database()::text; {}; {}",
            tables_sql(tables),
            inline(read.1, None)
        );
        let (mut results, failed) = driver::query_many(&mut self.conn, sql, error).await;
        if results.len() < 3 {
            return Err(failed.unwrap_or_else(|| DbError::other("no table listing")));
        }
        self.database = first_text(&results[0]);
        let found = texts(&results[1]);
        match failed {
            None => Ok((found, results.drain(2..).next())),
            Some(_) if !found.iter().any(|t| t.eq_ignore_ascii_case(read.0)) => Ok((found, None)),
            Some(e) => Err(e),
        }
    }

    fn inline(&self, stmt: &Stmt, elapsed: i64) -> Option<String> {
        Some(inline(stmt, Some(elapsed)))
    }

    async fn execute(&mut self, stmt: &Stmt) -> Result<u64, DbError> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(inline(stmt, None)))
            .execute(&mut self.conn)
            .await
            .map(|r| r.rows_affected())
            .map_err(error)
    }

    async fn query(&mut self, stmt: &Stmt) -> Result<Vec<Vec<Value>>, DbError> {
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(inline(stmt, None)))
            .fetch_all(&mut self.conn)
            .await
            .map_err(error)?;
        rows.iter().map(DecodeValues::values).collect()
    }

    async fn run_script(&mut self, sql: &str) -> Result<(), DbError> {
        driver::run_script(&mut self.conn, sql, error).await
    }

    /// The schema where the name resolves (the first visible table of that name), or else
    /// `current_schema()` (where CREATE TABLE would put it).
    async fn qualify(&mut self, tables: &[&str]) -> Result<Vec<String>, DbError> {
        let rows = Database::query(self, &Stmt::new(qualify_sql(tables), vec![])).await?;
        Ok(names_from(&rows, tables))
    }

    fn session_reset(&self) -> Option<&str> {
        self.session_reset.as_deref().or(DIALECT.session_reset)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_literals() {
        let stmt = Stmt::new(
            "INSERT INTO t VALUES ($1, $2, $3, $4, $5, '$1', $10)",
            vec![
                Value::Int(-5),
                Value::Text("it's a \\ test".into()),
                Value::Bytes(vec![0, 0xab]),
                Value::Bool(true),
                Value::Null,
            ],
        );
        assert_eq!(
            inline(&stmt, None),
            "INSERT INTO t VALUES ((-5), E'it''s a \\\\ test', decode('00ab', 'hex'), true, NULL, \
             '$1', $10)"
        );
    }

    #[test]
    fn password_in_url() {
        assert!(url_has_password("postgres://u:p@h/db"));
        assert!(url_has_password("postgres://u:p%40x@[::1]:5/db?x=y@z"));
        assert!(!url_has_password("postgres://u@h/db"));
        assert!(!url_has_password("postgres://h/db?user=a:b@c"));
    }

    #[test]
    fn pgpass_lines() {
        assert_eq!(
            pgpass_fields(r"h\:x:5432:*:u:pa\\ss:w"),
            vec!["h:x", "5432", "*", "u", "pa\\ss:w"]
        );
        let dir = std::env::temp_dir().join(format!("usher-pgpass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pgpass");
        std::fs::write(&file, "# comment\nother:*:*:*:no\n127.0.0.1:*:app:*:yes\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            pgpass_password(&file, "127.0.0.1", 5432, "app", "u").as_deref(),
            Some("yes")
        );
        assert_eq!(pgpass_password(&file, "127.0.0.1", 5432, "db", "u"), None);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(pgpass_password(&file, "127.0.0.1", 5432, "app", "u"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn permanent_refusals() {
        let r = |code, msg| refusal(code, msg, "u", "d");
        assert!(
            r("08P01", "unsupported startup parameter: extra_float_digits")
                .unwrap()
                .contains("ignore_startup_parameters = extra_float_digits")
        );
        assert!(r("08P01", "pgbouncer cannot connect to server").is_none());
        assert!(r("08006", "connection failure").is_none());
        assert!(r("57P03", "the database system is starting up").is_none());
        assert!(r("53300", "too many connections").is_none());
        assert!(r("28P01", "password authentication failed").is_some());
        assert!(r("3D000", "database does not exist").is_some());
    }
}
