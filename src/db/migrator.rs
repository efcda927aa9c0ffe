//! The procedure, for any database and any history format: connect (waiting for the server),
//! choose the format, then — under the migration lock — ensure the history table, read the
//! history, decide (`plan.rs`) and apply; and the read-only `status` and `--dry-run`, and
//! `resolve`.
//!
//! Every wait and every statement is raced against TERM/INT/QUIT: a stop cancels the running
//! statement from a second connection, rolls back, releases the lock and returns
//! `Interrupted`, well within a second.

use std::future::Future;
use std::time::{Duration, Instant};

use super::formats::{self, AppliedRow, HistoryFormat};
use super::plan::{self, Policy, State};
use super::source::{self, ChecksumMatch, Migration, SqlFile};
use super::sql;
use super::stop::Stop;
use super::{baseline, line_endings, unfinished};
use crate::config::{MigrateSettings, ResolveMark, WaitSettings};
use crate::db::backends::{
    Backend, ConnectError, Db, DbError, DynCanceller, Endpoint, Locked, Stmt, Value,
};
use crate::exit::{Error, Kind, Result};
use crate::redact::redact;

/// What one invocation needs to know.
pub struct Context<'a> {
    pub settings: &'a MigrateSettings,
    pub wait: &'a WaitSettings,
    pub url: &'a str,
    /// Connecting gives up here (`--wait-timeout`, shared with `--wait` dependencies).
    pub deadline: Instant,
    /// The `.sql` files of the migration directory.
    pub files: Vec<SqlFile>,
    pub stop: &'a Stop<'a>,
    /// `usher@<hostname>`, so that waiting replicas can name the lock holder.
    pub application_name: String,
    /// The app's password file (`PGPASSFILE` or `$HOME/.pgpass`), see `Endpoint::pgpass`.
    pub pgpass: Option<std::path::PathBuf>,
    /// The database named by the URL's scheme.
    pub backend: Backend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The start-up stage before the app.
    Stage,
    Migrate {
        dry_run: bool,
    },
    Status {
        exit_code: bool,
    },
    Resolve {
        version: i64,
        mark: ResolveMark,
    },
    Baseline {
        version: i64,
    },
}

/// Runs `action`; returns the exit code.
pub async fn run(cx: &Context<'_>, action: Action) -> Result<i32> {
    let mut db = connect_waiting(cx).await?;
    let result = session(&mut *db, cx, action).await;
    // After an interruption the connection may be mid-statement: never wait long on it; the
    // server releases session locks when the socket closes.
    let _ = tokio::time::timeout(Duration::from_millis(300), db.close()).await;
    result
}

impl Context<'_> {
    fn endpoint(&self) -> Endpoint<'_> {
        Endpoint {
            url: self.url,
            application_name: &self.application_name,
            pgpass: self.pgpass.as_deref(),
        }
    }
}

/// `usher health db`: one connection, `SELECT 1`, and with `no_pending` no pending or
/// unfinished migration. The error is one short, redacted line.
#[allow(dead_code)] // through db::health
pub async fn health(
    backend: Backend,
    endpoint: &Endpoint<'_>,
    settings: &MigrateSettings,
    files: &[SqlFile],
    no_pending: bool,
    timeout: Duration,
) -> std::result::Result<(), String> {
    let mut db = match (backend.connect)(endpoint, timeout).await {
        Ok(db) => db,
        Err(ConnectError::Retry(e) | ConnectError::Refused(e) | ConnectError::BadUrl(e)) => {
            return Err(e);
        }
    };
    let result = async {
        db.query(&Stmt::new("SELECT 1", vec![]))
            .await
            .map_err(|e| e.to_string())?;
        if !no_pending {
            return Ok(());
        }
        let tables = db
            .existing_tables(&known_tables())
            .await
            .map_err(|e| e.to_string())?;
        let Some(format) =
            formats::detect(settings.format.as_deref(), files, &tables).map_err(|e| e.message)?
        else {
            return Ok(());
        };
        let migrations = source::load(files, format).map_err(|e| e.message)?;
        let history = read_history(&mut *db, format, &tables, &[], &migrations)
            .await
            .map_err(|e| e.message)?;
        let entries = plan::status(&migrations, &history, format);
        let waiting: Vec<&plan::Entry> = entries
            .iter()
            .filter(|e| matches!(e.state, State::Pending | State::Failed))
            .collect();
        match waiting.last() {
            None => Ok(()),
            Some(last) => Err(format!(
                "{} migration(s) pending or unfinished (newest: {} {})",
                waiting.len(),
                last.version,
                last.name
            )),
        }
    }
    .await;
    let _ = tokio::time::timeout(Duration::from_millis(300), db.close()).await;
    result
}

/// Connects, retrying with backoff while the server is unreachable, unresolvable or starting
/// up, until the deadline. Logs one line when the wait starts, one when the reason changes
/// and one every 10 s — not one per retry.
async fn connect_waiting(cx: &Context<'_>) -> Result<Box<dyn Db>> {
    let started = Instant::now();
    let shown = redact(cx.url);
    let endpoint = cx.endpoint();
    let mut delay = Duration::from_millis(50);
    let mut attempts = 0u32;
    let mut last_reason = String::new();
    let mut last_log: Option<Instant> = None;
    loop {
        // The last attempt gets what is left of the wait, so the wait lasts --wait-timeout,
        // no less (and no more than a moment longer).
        let remaining = cx.deadline.saturating_duration_since(Instant::now());
        let attempt_timeout = cx
            .wait
            .attempt_timeout
            .min(remaining)
            .max(Duration::from_millis(50));
        let attempt = tokio::select! {
            r = (cx.backend.connect)(&endpoint, attempt_timeout) => r,
            signal = cx.stop.signal() => {
                return Err(Error::interrupted(signal, "the wait for the database"));
            }
        };
        attempts += 1;
        let reason = match attempt {
            Ok(db) => {
                if attempts > 1 {
                    crate::log::timed_line(
                        "migrate",
                        started.elapsed().as_millis() as u64,
                        format_args!("{} is ready after {attempts} attempts", cx.backend.name),
                    );
                }
                return Ok(db);
            }
            Err(ConnectError::Refused(e)) => {
                return Err(Error::new(
                    Kind::DatabaseRefused,
                    format!("{} at {shown} refused the connection: {e}", cx.backend.name),
                ));
            }
            Err(ConnectError::BadUrl(e)) => {
                return Err(Error::config(format!(
                    "the database URL {shown} is not usable: {e}; fix DATABASE_URL \
                     (or MIGRATION_DATABASE_URL)"
                )));
            }
            Err(ConnectError::Retry(e)) => e,
        };
        let left = cx.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::new(
                Kind::Unavailable,
                format!(
                    "{} at {shown} was not ready within --wait-timeout ({:.0?}, {attempts} \
                     attempts): {reason}; check that it runs and is reachable from here, or \
                     raise --wait-timeout (USHER_WAIT_TIMEOUT)",
                    cx.backend.name, cx.wait.timeout
                ),
            ));
        }
        let quick = reason.contains("refused") || reason.contains("starting up");
        let due = last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
        if reason != last_reason || due {
            crate::log::log_step!(
                INFO,
                "migrate",
                "waiting for {} at {shown}: {reason}",
                cx.backend.name
            );
            last_reason = reason;
            last_log = Some(Instant::now());
        }
        // A refused connection, or a server still starting up, answers at once and costs the
        // server next to nothing: poll those every 50 ms, so a server that starts is used
        // within 100 ms of accepting connections; back off on anything slower.
        let pause = if quick { QUICK_POLL } else { delay };
        cx.stop
            .sleep(pause.min(left), "the wait for the database")
            .await?;
        delay = (delay * 2).min(cx.wait.interval.max(QUICK_POLL));
    }
}

/// The pause between connection attempts while the server refuses them or starts up.
const QUICK_POLL: Duration = Duration::from_millis(50);

/// A statement that needs the client to send or receive a data stream — `COPY … FROM STDIN` /
/// `TO STDOUT` (PostgreSQL), `LOAD DATA LOCAL INFILE` (MySQL): a migration runner has no such
/// stream (psql and mysql feed it from their own input), and the driver would fail with a
/// protocol error. `(statement index, what to say)`.
fn client_data_transfer(
    statements: &[sql::Statement],
    text: &str,
) -> Option<(usize, &'static str)> {
    statements.iter().enumerate().find_map(|(i, s)| {
        let words: Vec<String> = text[s.start..s.end]
            .split_whitespace()
            .map(str::to_ascii_uppercase)
            .collect();
        let has = |a: &str, b: &str| words.windows(2).any(|w| w[0] == a && w[1] == b);
        match s.keyword.as_str() {
            "COPY" if has("FROM", "STDIN") || has("TO", "STDOUT") => Some((
                i,
                "COPY FROM STDIN / TO STDOUT is not supported in a migration file (that data \
                 stream is psql's): use INSERT, or COPY FROM a file on the database server",
            )),
            "LOAD" if has("LOCAL", "INFILE") => Some((
                i,
                "LOAD DATA LOCAL INFILE is not supported in a migration file (that file is the \
                 mysql client's): use INSERT, or LOAD DATA INFILE from a file on the database \
                 server",
            )),
            _ => None,
        }
    })
}

/// Every table usher may need to know about, for one existence query.
fn known_tables() -> Vec<&'static str> {
    let mut t = formats::tables();
    t.push(unfinished::TABLE);
    t.push(baseline::TABLE);
    t.push(line_endings::TABLE);
    t
}

async fn session(db: &mut dyn Db, cx: &Context<'_>, action: Action) -> Result<i32> {
    let (tables, prefetched) = first_read(db, cx).await?;
    let Some(format) = formats::detect(cx.settings.format.as_deref(), &cx.files, &tables)? else {
        return nothing_to_do(cx, action);
    };
    format
        .check_directory(&cx.settings.dir, db.dialect())
        .map_err(|why| Error::new(Kind::MigrationsInvalid, why))?;
    // The rows read with the listing, if they are this format's.
    let prefetched = prefetched.filter(|(f, _)| f.name() == format.name());
    let migrations = source::load(&cx.files, format)?;
    let mut s = Session {
        db,
        cx,
        format,
        migrations,
        tables,
        lock: None,
        names: Vec::new(),
        prefetched: prefetched.map(|(_, rows)| rows),
    };
    match action {
        Action::Stage => s.migrate(false).await.map(|()| 0),
        Action::Migrate { dry_run } => s.migrate(dry_run).await.map(|()| 0),
        Action::Status { exit_code } => s.status(exit_code).await,
        Action::Resolve { version, mark } => s.resolve(version, mark).await.map(|()| 0),
        Action::Baseline { version } => s.baseline(version).await.map(|()| 0),
    }
}

/// The history tables that exist and — in the same round trip where the database allows —
/// the rows of the history table of the format the files name (`None` when it is missing,
/// or the files name no format).
async fn first_read(
    db: &mut dyn Db,
    cx: &Context<'_>,
) -> Result<(
    Vec<String>,
    Option<(&'static dyn HistoryFormat, Vec<Vec<Value>>)>,
)> {
    let listing = |e| db_error("cannot list the history tables", e);
    let guess = formats::detect(cx.settings.format.as_deref(), &cx.files, &[])
        .ok()
        .flatten();
    let Some(format) = guess else {
        return Ok((
            db.existing_tables(&known_tables()).await.map_err(listing)?,
            None,
        ));
    };
    let read = format.select_rows(db.dialect());
    let (tables, rows) = db
        .tables_and_read(&known_tables(), (format.table(), &read))
        .await
        .map_err(|e| db_error(&format!("cannot read {}", format.table()), e))?;
    Ok((tables, rows.map(|r| (format, r))))
}

fn nothing_to_do(cx: &Context<'_>, action: Action) -> Result<i32> {
    let dir = cx.settings.dir.display();
    match action {
        Action::Resolve { version, .. } => Err(Error::usage(format!(
            "usher resolve {version}: the database has no migration history: nothing to resolve"
        ))),
        Action::Baseline { version } => Err(Error::usage(format!(
            "usher baseline {version}: there are no migrations in {dir} to record"
        ))),
        Action::Status { .. } => {
            println!("no migrations in {dir} and no migration history in the database");
            Ok(0)
        }
        _ => {
            crate::log::log_step!(INFO, "migrate", "no migrations in {dir}; nothing to do");
            Ok(0)
        }
    }
}

async fn read_history(
    db: &mut dyn Db,
    format: &dyn HistoryFormat,
    tables: &[String],
    names: &[(&'static str, String)],
    files: &[Migration],
) -> Result<Vec<AppliedRow>> {
    read_history_from(db, format, tables, names, files, None).await
}

/// `read_history`, with the history table's rows already read (`first_read`) if `prefetched`.
async fn read_history_from(
    db: &mut dyn Db,
    format: &dyn HistoryFormat,
    tables: &[String],
    names: &[(&'static str, String)],
    files: &[Migration],
    prefetched: Option<Vec<Vec<Value>>>,
) -> Result<Vec<AppliedRow>> {
    let has = |t: &str| tables.iter().any(|x| x.eq_ignore_ascii_case(t));
    let mut history = Vec::new();
    if has(format.table()) {
        let rows = match prefetched {
            Some(rows) => rows,
            None => db
                .query(&qualified(format.select_rows(db.dialect()), names))
                .await
                .map_err(|e| db_error(&format!("cannot read {}", format.table()), e))?,
        };
        history = format.decode_rows(rows, files).map_err(|e| {
            Error::new(
                Kind::HistoryConflict,
                format!("{e}; repair or remove that row"),
            )
        })?;
    }
    // A file applied with mixed line endings and normalised since: usher's record knows it.
    let changed = |r: &AppliedRow| {
        files.iter().any(|m| {
            m.version == r.version
                && m.compare(format, r.checksum.as_deref()) == ChecksumMatch::Different
        })
    };
    if has(line_endings::TABLE) && history.iter().any(changed) {
        let select = qualified(line_endings::select(db.dialect(), format.table()), names);
        let rows = db
            .query(&select)
            .await
            .map_err(|e| db_error(&format!("cannot read {}", line_endings::TABLE), e))?;
        let recorded = line_endings::decode(rows);
        for row in history.iter_mut() {
            let Some(m) = files.iter().find(|m| m.version == row.version) else {
                continue;
            };
            let known = recorded
                .iter()
                .any(|(v, c)| *v == row.version && *c == line_endings::digest(&m.sql));
            if known {
                row.checksum = m.checksum.clone();
            }
        }
    }
    if has(unfinished::TABLE) {
        let rows = db
            .query(&qualified(
                unfinished::select(db.dialect(), format.table()),
                names,
            ))
            .await
            .map_err(|e| db_error(&format!("cannot read {}", unfinished::TABLE), e))?;
        for marker in unfinished::decode(rows) {
            match history.iter_mut().find(|r| r.version == marker.version) {
                Some(row) => row.failed = true,
                None => history.push(marker),
            }
        }
        history.sort_by_key(|r| r.version);
    }
    Ok(history)
}

/// A run time no migration has (about 290 years, in nanoseconds): the placeholder for the
/// server's measure in a one-message migration (`Db::inline`).
const ELAPSED: i64 = 0x7e57_e1a9_5ed0_0001;

/// A migration as one message (`Session::one_message`).
struct OneMessage {
    sent: String,
    /// What precedes the script: its length in bytes and characters, and its statements.
    prefix_bytes: usize,
    prefix_chars: usize,
    prefix_statements: usize,
    /// The statements up to the recorded attempt's COMMIT; 0 when there is none.
    attempt_statements: usize,
}

/// Sends a migration built by `one_message`; a failure inside `piece` is the script's, with
/// its statement index and position counted in the script. With the failure, whether the
/// recorded attempt at the head of the message (if any) was committed.
async fn run_one_message(
    db: &mut dyn Db,
    message: &OneMessage,
    piece: Option<&Piece>,
) -> std::result::Result<(), (Failure, bool)> {
    db.run_script(&message.sent).await.map_err(|mut error| {
        let done = error.statement.unwrap_or(0);
        let attempt_kept = done >= message.attempt_statements;
        let before = message.prefix_statements;
        // PostgreSQL parses the whole message before running any of it: a syntax error says
        // where, not how many statements ran.
        let at = error
            .position
            .and_then(|at| at.checked_sub(message.prefix_chars))
            .filter(|&at| at > 0);
        let in_script = |p: &Piece| match at {
            Some(at) => {
                let script = &message.sent[message.prefix_bytes..][..p.text.len()];
                at <= script.chars().count()
            }
            None => done >= before && done < before + p.count,
        };
        let failure = match piece {
            Some(p) if in_script(p) => {
                error.statement = (done >= before).then(|| p.first + done - before);
                error.position = at;
                Failure::Script {
                    error,
                    offset: p.text.start,
                }
            }
            _ => Failure::Bookkeeping(error),
        };
        (failure, attempt_kept)
    })
}

/// What ends a script's last statement before usher's own follow: `;` on a line of its own,
/// unless the script already ends with one (where the lexer took it for part of a string the
/// server ends earlier), as MySQL refuses an empty statement.
fn terminator(script: &str) -> &'static str {
    match script.trim_end().ends_with(';') {
        true => "\n",
        false => "\n;\n",
    }
}

/// A part of a script sent in one call: its text, and the index of its first statement.
struct Piece {
    text: std::ops::Range<usize>,
    first: usize,
    /// How many statements it holds.
    count: usize,
}

/// How a script is sent: a `-- no-transaction` script one statement at a time (PostgreSQL
/// runs a multi-statement query in one implicit transaction, where `CREATE INDEX
/// CONCURRENTLY` cannot run), and so is a PostgreSQL script that turns
/// `standard_conforming_strings` off or on (the server parses a whole message with the
/// setting it had when the message arrived); a PostgreSQL script with its own BEGIN/COMMIT whole (how
/// its statements group into implicit transactions depends on it); any other in runs of
/// statements of bounded size (`sql::runs`), so that work stays linear in the script's length.
/// An empty script (nothing but comments) is not sent at all.
fn pieces(
    text: &str,
    statements: &[sql::Statement],
    no_transaction: bool,
    own_transaction: bool,
    lexing: sql::Lexing,
) -> Vec<Piece> {
    if statements.is_empty() {
        return Vec::new();
    }
    let by_statement = no_transaction
        || (lexing == sql::Lexing::Postgres && sql::changes_escapes(text, statements, lexing));
    if by_statement {
        return statements
            .iter()
            .enumerate()
            .map(|(i, s)| Piece {
                text: s.start..s.end,
                first: i,
                count: 1,
            })
            .collect();
    }
    if own_transaction && lexing == sql::Lexing::Postgres {
        return vec![Piece {
            text: 0..text.len(),
            first: 0,
            count: statements.len(),
        }];
    }
    sql::runs(statements, lexing.run_bytes())
        .into_iter()
        .map(|r| Piece {
            text: if r.start == 0 {
                0
            } else {
                statements[r.start].start
            }..statements[r.end - 1].end,
            first: r.start,
            count: r.len(),
        })
        .collect()
}

/// `stmt` with every history table named as `names` says (schema- or database-qualified,
/// see `Db::qualify`). The statements are usher's own, so a table name is a whole word
/// wherever it occurs.
fn qualified(mut stmt: Stmt, names: &[(&'static str, String)]) -> Stmt {
    for (table, name) in names {
        let mut out = String::with_capacity(stmt.sql.len() + name.len());
        let mut rest = stmt.sql.as_str();
        while let Some(at) = rest.find(table) {
            let before = rest[..at].chars().next_back();
            let after = rest[at + table.len()..].chars().next();
            let word =
                |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || "_.`\"".contains(c));
            out.push_str(&rest[..at]);
            out.push_str(if word(before) || word(after) {
                table
            } else {
                name
            });
            rest = &rest[at + table.len()..];
        }
        out.push_str(rest);
        stmt.sql = out;
    }
    stmt
}

/// Runs `stmts` in one transaction; rolled back on a failure.
async fn in_transaction(db: &mut dyn Db, stmts: &[Stmt]) -> std::result::Result<(), DbError> {
    let result = async {
        db.begin().await?;
        for s in stmts {
            db.execute(s).await?;
        }
        db.commit().await
    }
    .await;
    if result.is_err() {
        let _ = db.rollback().await;
    }
    result
}

fn db_error(what: &str, e: DbError) -> Error {
    if e.connection_lost {
        return Error::new(
            Kind::Unavailable,
            format!(
                "{what}: the connection to the database was lost: {e}; start again once it is back"
            ),
        );
    }
    Error::new(Kind::MigrationFailed, format!("{what}: {e}"))
}

/// One connection's work on one history.
struct Session<'s> {
    db: &'s mut dyn Db,
    cx: &'s Context<'s>,
    format: &'static dyn HistoryFormat,
    migrations: Vec<Migration>,
    /// History tables known to exist.
    tables: Vec<String>,
    /// The lock key, while held.
    lock: Option<i64>,
    /// The history tables as statements must name them once migrations have run (empty
    /// before: unqualified names resolve as at connect).
    names: Vec<(&'static str, String)>,
    /// The history table's rows, read with the table listing; used by the first read.
    prefetched: Option<Vec<Vec<Value>>>,
}

/// How a migration failed.
enum Failure {
    /// The script itself.
    Script { error: DbError, offset: usize },
    /// Usher's own statements around it.
    Bookkeeping(DbError),
}

impl From<DbError> for Failure {
    fn from(e: DbError) -> Failure {
        Failure::Bookkeeping(e)
    }
}

/// The outcome of work raced against a stop signal.
enum Guarded<T> {
    Done(T),
    /// Stopped by this signal; the work's own result if it returned after the cancel.
    Stopped(i32, Option<T>),
}

/// Runs `work`; on a stop signal, cancels its statement through `canceller` and gives it a
/// moment to return (so the connection is usable for the rollback).
async fn guarded<T>(
    work: impl Future<Output = T>,
    canceller: &dyn DynCanceller,
    stop: &Stop<'_>,
) -> Guarded<T> {
    let mut work = std::pin::pin!(work);
    tokio::select! {
        biased;
        r = &mut work => Guarded::Done(r),
        signal = stop.signal() => {
            canceller.cancel(Duration::from_millis(400)).await;
            let returned = tokio::time::timeout(Duration::from_millis(300), &mut work).await.ok();
            Guarded::Stopped(signal, returned)
        }
    }
}

impl Session<'_> {
    fn has(&self, table: &str) -> bool {
        self.tables.iter().any(|t| t.eq_ignore_ascii_case(table))
    }

    fn policy(&self) -> Policy {
        Policy {
            on_unknown: self.cx.settings.on_unknown,
            allow_out_of_order: self.cx.settings.allow_out_of_order,
        }
    }

    async fn history(&mut self) -> Result<Vec<AppliedRow>> {
        let prefetched = self.prefetched.take();
        read_history_from(
            self.db,
            self.format,
            &self.tables,
            &self.names,
            &self.migrations,
            prefetched,
        )
        .await
    }

    /// The history tables whose names `pin_session` pins.
    fn pinned(&self) -> [&'static str; 4] {
        [
            self.format.table(),
            unfinished::TABLE,
            baseline::TABLE,
            line_endings::TABLE,
        ]
    }

    /// A history statement, named as `names` says.
    fn q(&self, stmt: Stmt) -> Stmt {
        qualified(stmt, &self.names)
    }

    /// Before the first migration of this run: where the history tables are, and the session
    /// state every migration must start from (`Db::qualify`, `Db::save_session`).
    async fn pin_session(&mut self) -> Result<()> {
        if !self.names.is_empty() {
            return Ok(());
        }
        let tables = self.pinned();
        let names = self
            .db
            .qualify(&tables)
            .await
            .map_err(|e| db_error("cannot find the history tables' schema", e))?;
        self.names = tables.into_iter().zip(names).collect();
        self.db
            .save_session()
            .await
            .map_err(|e| db_error("cannot read the session settings", e))
    }

    /// Refuses, before anything runs, a pending script the server cannot run as written
    /// (MySQL's `DELIMITER`, a command of the mysql client).
    fn check_scripts(&self, pending: &[Migration]) -> Result<()> {
        let lexing = self.db.dialect().lexing;
        for m in pending {
            let text = m.executable_sql();
            if let Some(c) = sql::client_command(&sql::statements(text, lexing), lexing) {
                let (line, column) = sql::line_col(text, c.start);
                return Err(Error::new(
                    Kind::MigrationsInvalid,
                    format!(
                        "migration {} ({}:{line}:{column}): `DELIMITER` is a command of the mysql \
                         client, not SQL, and the server cannot run it; nothing was applied. \
                         Remove the DELIMITER lines and end each statement, including CREATE \
                         PROCEDURE/FUNCTION/TRIGGER, with a plain `;` (usher sends a routine's \
                         BEGIN … END body as one statement)",
                        m.version, m.file
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `usher migrate` and the start-up stage.
    async fn migrate(&mut self, dry_run: bool) -> Result<()> {
        let history = self.history().await?;
        if dry_run {
            let p = plan::plan(&self.migrations, &history, self.format, self.policy())?;
            self.print_plan(&p);
            return Ok(());
        }
        // Without the lock: when everything is applied and nothing is unfinished, there is
        // nothing to do whatever other replicas are doing (the common start).
        if let Ok(p) = plan::plan(&self.migrations, &history, self.format, self.policy())
            && p.pending.is_empty()
        {
            self.report(&p, 0, Duration::ZERO);
            return Ok(());
        }
        // Anything else is decided again under the lock: another replica may be applying
        // right now (its unfinished marker, its pending rows).
        let locked = self.lock(true).await?;
        let result = self.migrate_locked(locked).await;
        // After a success the lock goes with the connection's goodbye (closing it releases a
        // session lock, and a file lock): no round trip of its own.
        if result.is_err() {
            self.unlock().await;
        }
        result
    }

    /// Re-lists the history tables: another replica may have created one since the start.
    /// The rows read with the first listing are stale from here on.
    async fn refresh_tables(&mut self) -> Result<()> {
        self.prefetched = None;
        self.tables = self
            .db
            .existing_tables(&known_tables())
            .await
            .map_err(|e| db_error("cannot list the history tables", e))?;
        Ok(())
    }

    /// Under the lock: the history tables and the history again (another replica may have
    /// created or changed them since the first read), in one round trip where the database
    /// allows.
    async fn reread(&mut self) -> Result<Vec<AppliedRow>> {
        let table = self.format.table();
        let read = self.q(self.format.select_rows(self.db.dialect()));
        let (tables, rows) = self
            .db
            .tables_and_read(&known_tables(), (table, &read))
            .await
            .map_err(|e| db_error(&format!("cannot read {table}"), e))?;
        self.tables = tables;
        self.prefetched = rows;
        self.history().await
    }

    async fn migrate_locked(&mut self, locked: Option<Locked>) -> Result<()> {
        let started = Instant::now();
        let mut history = match locked {
            Some(l) => {
                self.tables = l.tables;
                self.prefetched = l.rows;
                self.names = self.pinned().into_iter().zip(l.names).collect();
                self.history().await?
            }
            None => self.reread().await?,
        };
        if let (Some(version), true) = (self.cx.settings.baseline, history.is_empty())
            && self.baseline_locked(version, &history).await?
        {
            history = self.history().await?;
        }
        let p = plan::plan(&self.migrations, &history, self.format, self.policy())?;
        let pending: Vec<Migration> = p.pending.iter().map(|m| (*m).clone()).collect();
        // Nothing is created or changed for a script that cannot run.
        self.check_scripts(&pending)?;
        self.pin_session().await?;
        self.ensure_table().await?;
        for m in &pending {
            let took = self.apply(m).await?;
            crate::log::timed_line(
                "migrate",
                took.as_millis() as u64,
                format_args!("applied {} {}", m.version, m.name),
            );
        }
        // The history now, without reading it again: under the lock, nobody else wrote it.
        history.retain(|r| !pending.iter().any(|m| m.version == r.version));
        history.extend(pending.iter().map(|m| AppliedRow {
            version: m.version,
            name: m.name.clone(),
            checksum: m.checksum.clone(),
            applied_at: None,
            failed: false,
        }));
        history.sort_by_key(|r| r.version);
        let p = plan::plan(&self.migrations, &history, self.format, self.policy())?;
        self.report(&p, pending.len(), started.elapsed());
        Ok(())
    }

    /// The summary line, and the warnings that go with a start.
    fn report(&self, p: &plan::Plan<'_>, applied_now: usize, took: Duration) {
        for m in &p.equivalent {
            crate::log::log_step!(
                INFO,
                "migrate",
                "{} differs from the applied migration {} only in line endings or a byte-order \
                 mark; accepted",
                m.file,
                m.version
            );
        }
        if !p.unknown.is_empty() {
            crate::log::log_step!(
                WARN,
                "migrate",
                "the database has applied migrations with no file here: {} (an older image \
                 after a newer one migrated?); starting anyway (--on-unknown error refuses)",
                plan::list_rows(&p.unknown)
            );
        }
        let at = p
            .newest_applied
            .map(|v| format!("version {v}"))
            .unwrap_or_else(|| "no version".into());
        if applied_now == 0 {
            crate::log::log_step!(
                INFO,
                "migrate",
                "database is up to date at {at} ({} format)",
                self.format.name()
            );
        } else {
            crate::log::timed_line(
                "migrate",
                took.as_millis() as u64,
                format_args!(
                    "applied {applied_now} migration{} in {} ms; now at {at} ({} format)",
                    if applied_now == 1 { "" } else { "s" },
                    took.as_millis(),
                    self.format.name()
                ),
            );
        }
    }

    fn print_plan(&self, p: &plan::Plan<'_>) {
        if p.pending.is_empty() {
            println!(
                "nothing to apply: up to date at version {} ({} format)",
                p.newest_applied
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
                self.format.name()
            );
        } else {
            println!(
                "would apply {} migration{} ({} format):",
                p.pending.len(),
                if p.pending.len() == 1 { "" } else { "s" },
                self.format.name()
            );
            for m in &p.pending {
                let mode = if m.no_transaction {
                    "  (no transaction)"
                } else {
                    ""
                };
                println!("  {:<16} {}{mode}", m.version, m.file);
            }
        }
        if !p.unknown.is_empty() {
            println!(
                "applied with no file here (unknown): {}",
                plan::list_rows(&p.unknown)
            );
        }
    }

    /// Takes the migration lock, polling with backoff (never a blocking lock: it deadlocks
    /// with CREATE INDEX CONCURRENTLY), logging who holds it while waiting. With `read`, the
    /// first attempt also reads what the first migration needs (`Db::try_lock_and_read`):
    /// `Some` when that attempt got the lock.
    async fn lock(&mut self, read: bool) -> Result<Option<Locked>> {
        let database = self
            .db
            .database_name()
            .await
            .map_err(|e| db_error("cannot read the database name", e))?;
        let key = self.format.lock_key(&database);
        let endpoint = self.cx.endpoint();
        let pooled = tokio::select! {
            r = self.db.exclusive_session(&endpoint) => {
                r.map_err(|e| db_error("cannot check the migration session", e))?
            }
            signal = self.cx.stop.signal() => {
                return Err(Error::interrupted(signal, "the wait for the migration lock"));
            }
        };
        if let Some(why) = pooled {
            return Err(Error::config(format!("{why} ({})", redact(self.cx.url))));
        }
        let started = Instant::now();
        let mut delay = Duration::from_millis(20);
        let mut last_holder: Option<String> = None;
        let mut last_log: Option<Instant> = None;
        let tables = known_tables();
        let pinned = self.pinned();
        let select = self.format.select_rows(self.db.dialect());
        // The rows are read with the lock where their table was there at the first read.
        let rows = self
            .has(self.format.table())
            .then_some((self.format.table(), &select));
        let mut first = read;
        loop {
            let db = &mut *self.db;
            let attempt = async {
                match std::mem::take(&mut first) {
                    true => db
                        .try_lock_and_read(key, &tables, rows, &pinned)
                        .await
                        .map(|l| (l.is_some(), l)),
                    false => db.try_lock(key).await.map(|got| (got, None)),
                }
            };
            let (got, locked) = tokio::select! {
                r = attempt => r.map_err(|e| db_error("cannot take the migration lock", e))?,
                signal = self.cx.stop.signal() => {
                    return Err(Error::interrupted(signal, "the wait for the migration lock"));
                }
            };
            if got {
                self.lock = Some(key);
                if last_log.is_some() {
                    crate::log::timed_line(
                        "migrate",
                        started.elapsed().as_millis() as u64,
                        format_args!("got the migration lock"),
                    );
                }
                return Ok(locked);
            }
            let waited = started.elapsed();
            let due = last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
            let holder = if due || last_holder.is_none() {
                self.db.lock_holder(key).await
            } else {
                last_holder.clone()
            };
            let named = holder
                .clone()
                .unwrap_or_else(|| "another process".to_string());
            if waited >= self.cx.settings.lock_timeout {
                return Err(Error::new(
                    Kind::LockTimeout,
                    format!(
                        "the migration lock was held by {named} for longer than --lock-timeout \
                         ({:.0?}); if that process is stuck, stop it (the lock goes with its \
                         connection), or raise --lock-timeout (USHER_LOCK_TIMEOUT)",
                        self.cx.settings.lock_timeout
                    ),
                ));
            }
            if due || holder != last_holder {
                crate::log::log_step!(
                    INFO,
                    "migrate",
                    "waiting for the migration lock held by {named}"
                );
                last_log = Some(Instant::now());
                last_holder = holder;
            }
            let left = self.cx.settings.lock_timeout.saturating_sub(waited);
            self.cx
                .stop
                .sleep(delay.min(left), "the wait for the migration lock")
                .await?;
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }

    async fn unlock(&mut self) {
        if let Some(key) = self.lock.take() {
            let _ = tokio::time::timeout(Duration::from_millis(300), self.db.unlock(key)).await;
        }
    }

    async fn ensure_table(&mut self) -> Result<()> {
        if self.has(self.format.table()) {
            return Ok(());
        }
        // Every statement in one message.
        let ddl: Vec<String> = self
            .format
            .create_table(self.db.dialect())
            .into_iter()
            .map(|ddl| self.q(Stmt::new(ddl, vec![])).sql)
            .collect();
        self.db
            .run_script(&ddl.join(";\n"))
            .await
            .map_err(|e| db_error(&format!("cannot create {}", self.format.table()), e))?;
        self.tables.push(self.format.table().to_string());
        Ok(())
    }

    /// Creates one of usher's own tables (`table`, by `ddl`) the first time it is needed.
    async fn ensure_own_table(&mut self, table: &'static str, ddl: String) -> Result<()> {
        if self.has(table) {
            return Ok(());
        }
        let ddl = self.q(Stmt::new(ddl, vec![]));
        self.db
            .run_script(&ddl.sql)
            .await
            .map_err(|e| db_error(&format!("cannot create {table}"), e))?;
        self.tables.push(table.to_string());
        Ok(())
    }

    /// Applies one migration and records it, atomically where the database allows.
    ///
    /// - In a transaction (the default): BEGIN, script, history row, COMMIT. On MySQL, DDL
    ///   commits implicitly, so the row goes in first as "started" (sqlx's `success = false`,
    ///   or usher's marker) and is completed before the COMMIT: a failure after an implicit
    ///   commit leaves the marker behind, and the next start stops on it.
    /// - Outside a transaction (`-- no-transaction`, or a script with its own BEGIN/COMMIT):
    ///   the "started" marker is committed first, the script runs as written (a no-transaction
    ///   script one statement at a time, as PostgreSQL runs a multi-statement query in one
    ///   implicit transaction), then the row is completed in its own transaction.
    async fn apply(&mut self, m: &Migration) -> Result<Duration> {
        let d = self.db.dialect();
        let format = self.format;
        let text = m.executable_sql();
        let statements = sql::statements(text, d.lexing);
        if let Some(refusal) = client_data_transfer(&statements, text) {
            let at = statements[refusal.0].start;
            let (line, column) = sql::line_col(text, at);
            return Err(Error::new(
                Kind::MigrationFailed,
                format!(
                    "migration {} failed at {}:{line}:{column}: {}; nothing was applied or \
                     recorded; change the file and start again",
                    m.version, m.file, refusal.1
                ),
            ));
        }
        let outside = m.no_transaction || sql::manages_transaction(&statements);
        // The attempt is recorded, committed, before the script: always for a tool that does
        // so (Prisma, golang-migrate), else when the script can commit part of itself.
        let attempts = format.records_attempts();
        let marked = outside || d.ddl_commits || attempts;
        let own_flag = format.record_started(d, m);
        let uses_own_flag = own_flag.is_some();
        let started: Vec<Stmt> = match (marked, own_flag) {
            (false, _) => vec![],
            (true, Some(stmts)) => stmts,
            (true, None) => {
                self.ensure_own_table(unfinished::TABLE, unfinished::create_table())
                    .await?;
                vec![unfinished::insert(d, format.table(), m)]
            }
        };
        let started: Vec<Stmt> = started.into_iter().map(|s| self.q(s)).collect();
        let mixed_endings = line_endings::mixed(&m.sql);
        if mixed_endings {
            let ddl = line_endings::create_table(self.db.dialect());
            self.ensure_own_table(line_endings::TABLE, ddl).await?;
        }
        let names = &self.names;
        let finish = |took: Duration| -> Vec<Stmt> {
            let mut stmts = if !marked {
                format.record_applied(d, m, took)
            } else if uses_own_flag {
                format.record_finished(d, m, took)
            } else {
                let mut stmts = format.record_applied(d, m, took);
                stmts.push(unfinished::delete(d, format.table(), m.version));
                stmts
            };
            if mixed_endings {
                stmts.extend(line_endings::record(d, format.table(), m));
            }
            stmts.into_iter().map(|s| qualified(s, names)).collect()
        };
        let pieces = pieces(text, &statements, m.no_transaction, outside, d.lexing);
        // (A version equal to the placeholder would be taken for it.)
        let one = match m.version == ELAPSED {
            true => None,
            false => self.one_message(text, &pieces, outside, &started, &finish),
        };

        let canceller = self.db.canceller();
        let session_reset = self.db.session_reset().map(str::to_owned);
        let db = &mut *self.db;
        let began = Instant::now();
        let work = async {
            if let Some(message) = &one {
                let sent = run_one_message(db, message, pieces.first()).await;
                if let Err((_, false)) = &sent {
                    // The recorded attempt did not run (PostgreSQL refuses a message with a
                    // syntax error before running any of it): record it now, as the tool
                    // records an attempt whose script then fails.
                    let _ = db.rollback().await;
                    for s in &started {
                        let _ = db.execute(s).await;
                    }
                }
                return sent.map(|()| began.elapsed()).map_err(|(f, _)| f);
            }
            // A recorded attempt is committed before usher's transaction begins.
            let attempt_first = attempts && !outside;
            if attempt_first {
                for s in &started {
                    db.execute(s).await?;
                }
            }
            if !outside {
                db.begin().await?;
            }
            if !attempt_first {
                for s in &started {
                    db.execute(s).await?;
                }
            }
            let resetting = |mut e: DbError| {
                e.message = format!("resetting the session after the script: {}", e.message);
                Failure::Bookkeeping(e)
            };
            // In usher's transaction, the static reset rides with the last piece (no round
            // trip of its own); outside one it goes alone, as a multi-statement query is an
            // implicit transaction where `CREATE INDEX CONCURRENTLY` cannot run.
            let mut reset = session_reset.as_deref();
            for (i, piece) in pieces.iter().enumerate() {
                let mut sent = std::borrow::Cow::Borrowed(&text[piece.text.clone()]);
                let with_reset = reset.is_some() && !outside && i + 1 == pieces.len();
                if let (Some(r), true) = (reset, with_reset) {
                    sent = format!("{sent}{}{r}", terminator(&sent)).into();
                    reset = None;
                }
                db.run_script(&sent).await.map_err(|mut error| {
                    match error.statement {
                        Some(done) if with_reset && done >= piece.count => {
                            return resetting(error);
                        }
                        _ => {}
                    }
                    error.statement = error.statement.map(|done| piece.first + done);
                    Failure::Script {
                        error,
                        offset: piece.text.start,
                    }
                })?;
            }
            let took = began.elapsed();
            if let (Some(r), false) = (reset, pieces.is_empty()) {
                db.run_script(r).await.map_err(resetting)?;
            }
            db.reset_session(text).await.map_err(resetting)?;
            if outside {
                db.begin().await?;
            }
            for s in finish(took) {
                db.execute(&s).await?;
            }
            db.commit().await?;
            Ok::<Duration, Failure>(took)
        };
        let outcome = guarded(work, &*canceller, self.cx.stop).await;
        let what = format!("migration {} ({})", m.version, m.file);
        match outcome {
            Guarded::Done(Ok(took)) => Ok(took),
            Guarded::Done(Err(failure)) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), self.db.rollback()).await;
                let error = self.failure(m, failure, &statements, marked).await;
                if attempts {
                    self.record_failed(m, &error.message).await;
                }
                Err(error)
            }
            Guarded::Stopped(signal, Some(Ok(_))) => Err(Error::interrupted(
                signal,
                &format!("migrations, just after {what} was applied"),
            )),
            Guarded::Stopped(signal, returned) => {
                // The statement returned after the cancel: the connection is usable, so roll
                // back and look whether a "started" marker survived (an implicit commit).
                let left_behind = match returned {
                    Some(_) => {
                        let _ =
                            tokio::time::timeout(Duration::from_millis(300), self.db.rollback())
                                .await;
                        // A recorded attempt whose transaction rolled back applied nothing:
                        // withdraw it, so that the next start runs it again.
                        if attempts && !outside && !d.ddl_commits {
                            self.withdraw_attempt(m).await;
                        }
                        marked && self.left_behind(m.version).await
                    }
                    None => marked,
                };
                let outcome = if left_behind {
                    "part of it may have been committed, so it is recorded as unfinished: see \
                     usher status and usher resolve"
                } else {
                    "it was rolled back and nothing was recorded"
                };
                Err(Error::interrupted(signal, &format!("{what}; {outcome}")))
            }
        }
    }

    /// A transactional migration as one message, one round trip: the recorded attempt (in a
    /// transaction of its own, committed first), `BEGIN`, the "started" marker, the script (one
    /// piece), the session reset, the history row (its run time measured by the server),
    /// `COMMIT`. An error skips the rest and leaves the transaction aborted; the caller's
    /// ROLLBACK follows. `None` where the database cannot write the rows into the message, or
    /// the script is sent in several pieces, outside usher's transaction (`outside`), or
    /// PREPAREs (the reset then looks at the session first).
    fn one_message(
        &self,
        text: &str,
        pieces: &[Piece],
        outside: bool,
        started: &[Stmt],
        finish: &dyn Fn(Duration) -> Vec<Stmt>,
    ) -> Option<OneMessage> {
        if outside || pieces.len() > 1 || sql::mentions(text, "prepare") {
            return None;
        }
        let d = self.db.dialect();
        let inline = |s: &Stmt| self.db.inline(s, ELAPSED);
        let mut prefix: Vec<String> = Vec::new();
        let mut attempt_statements = 0;
        if self.format.records_attempts() && !started.is_empty() {
            prefix.push("BEGIN".into());
            for s in started {
                prefix.push(inline(s)?);
            }
            prefix.push("COMMIT".into());
            attempt_statements = prefix.len();
            prefix.push("BEGIN".into());
        } else {
            prefix.push("BEGIN".into());
            for s in started {
                prefix.push(inline(s)?);
            }
        }
        if let Some((start, _)) = d.timer {
            prefix.push(start.into());
        }
        let mut sent = String::new();
        for s in &prefix {
            sent.push_str(s);
            sent.push_str(";\n");
        }
        let prefix_bytes = sent.len();
        if let Some(piece) = pieces.first() {
            let script = &text[piece.text.clone()];
            sent.push_str(script);
            sent.push_str(terminator(script));
            if let Some(reset) = self.db.session_reset() {
                sent.push_str(reset);
                sent.push_str(";\n");
            }
        }
        for row in &finish(Duration::from_nanos(ELAPSED as u64)) {
            sent.push_str(&inline(row)?);
            sent.push_str(";\n");
        }
        if let Some((_, end)) = d.timer {
            sent.push_str(end);
            sent.push_str(";\n");
        }
        sent.push_str("COMMIT");
        Some(OneMessage {
            prefix_chars: sent[..prefix_bytes].chars().count(),
            prefix_bytes,
            prefix_statements: prefix.len(),
            attempt_statements,
            sent,
        })
    }

    /// Records why an attempt failed, as the format's tool does (Prisma's `logs`); best
    /// effort: the attempt itself is already recorded.
    async fn record_failed(&mut self, m: &Migration, error: &str) {
        let stmts = self.format.record_failed(self.db.dialect(), m, error);
        for s in stmts {
            let s = self.q(s);
            if tokio::time::timeout(Duration::from_secs(2), self.db.execute(&s))
                .await
                .is_err()
            {
                return;
            }
        }
    }

    /// Removes the record of an attempt that applied nothing (its transaction rolled back
    /// after a stop signal); best effort, within 300 ms.
    async fn withdraw_attempt(&mut self, m: &Migration) {
        let row = AppliedRow {
            version: m.version,
            name: m.name.clone(),
            checksum: m.checksum.clone(),
            applied_at: None,
            failed: true,
        };
        let stmts: Vec<Stmt> = self
            .format
            .forget(self.db.dialect(), &row, &self.migrations)
            .into_iter()
            .map(|s| self.q(s))
            .collect();
        let db = &mut *self.db;
        let _ = tokio::time::timeout(Duration::from_millis(300), async {
            for s in &stmts {
                db.execute(s).await?;
            }
            Ok::<(), DbError>(())
        })
        .await;
    }

    /// Whether the history shows `version` as started and not finished (checked after a
    /// failure; an unreadable history counts as yes, the safe answer).
    async fn left_behind(&mut self, version: i64) -> bool {
        let read = tokio::time::timeout(Duration::from_millis(300), self.history()).await;
        match read {
            Ok(Ok(h)) => h.iter().any(|r| r.version == version && r.failed),
            _ => true,
        }
    }

    /// The error for a failed migration: file, line:column, the database's code, message and
    /// hint, and whether anything was left behind.
    async fn failure(
        &mut self,
        m: &Migration,
        failure: Failure,
        statements: &[sql::Statement],
        marked: bool,
    ) -> Error {
        let lost = match &failure {
            Failure::Script { error, .. } | Failure::Bookkeeping(error) => error.connection_lost,
        };
        if lost {
            return self.lost(m, failure).await;
        }
        let (error, offset) = match failure {
            Failure::Bookkeeping(e) => {
                // Where DDL commits (MySQL) or the script ran outside a transaction, its work
                // and the "started" marker may have been kept: say so when the marker is there.
                let kept = marked
                    && (self.db.dialect().ddl_commits || m.no_transaction)
                    && self.left_behind(m.version).await;
                let outcome = match kept {
                    true => format!(
                        "part of it may have been committed, so it is recorded as unfinished: \
                         check the schema, then run `usher resolve {v} --applied` or undo it and \
                         run `usher resolve {v} --rolled-back`",
                        v = m.version
                    ),
                    false => "it was rolled back".to_string(),
                };
                return db_error(
                    &format!(
                        "cannot record migration {} ({}) in {}; {outcome}",
                        m.version,
                        m.file,
                        self.format.table()
                    ),
                    e,
                );
            }
            Failure::Script { error, offset } => (error, offset),
        };
        let text = m.executable_sql();
        let at = match (error.position, error.statement) {
            (Some(pos), _) => {
                let piece = &text[offset..];
                Some(offset + sql::char_position_to_byte(piece, pos))
            }
            (None, Some(i)) => statements.get(i).map(|s| s.start),
            (None, None) => None,
        };
        let location = match at {
            Some(at) => {
                let (line, column) = sql::line_col(text, at);
                format!("{}:{line}:{column}", m.file)
            }
            None => m.file.clone(),
        };
        // Did the "started" marker survive the rollback (an implicit commit)?
        let in_transaction = !(m.no_transaction
            || self.db.dialect().ddl_commits
            || sql::manages_transaction(statements));
        // A recorded attempt stays (committed before the script); then only the script's own
        // transaction decides what was kept.
        let attempt_kept = self.format.records_attempts() && in_transaction;
        let left_behind = marked && (attempt_kept || self.left_behind(m.version).await);
        let outcome = if attempt_kept {
            format!(
                "it was rolled back, and so it is recorded as failed, as {} records a failed \
                 migration; fix the file, then run `usher resolve {} --rolled-back` and start \
                 again",
                self.format.name(),
                m.version
            )
        } else if left_behind {
            format!(
                "part of it may have been committed ({}), so it is recorded as unfinished: check \
                 the schema, then run `usher resolve {v} --applied` or undo it and run `usher \
                 resolve {v} --rolled-back`",
                if m.no_transaction || !self.db.dialect().ddl_commits {
                    "it ran outside a transaction"
                } else {
                    "MySQL commits DDL at once"
                },
                v = m.version
            )
        } else {
            "it was rolled back and nothing was recorded; fix the file and start again".to_string()
        };
        let kind = if error.connection_lost {
            Kind::Unavailable
        } else {
            Kind::MigrationFailed
        };
        Error::new(
            kind,
            format!(
                "migration {} failed at {location}: {error}; {outcome}",
                m.version
            ),
        )
    }

    /// The error for a connection lost during a migration (server restarted or killed,
    /// `pg_terminate_backend`, `KILL CONNECTION`): only what is known. The old connection
    /// cannot say what the server kept, so a new one reads the history: a transaction the
    /// server saw no COMMIT for was rolled back; a migration run outside one (or MySQL DDL)
    /// may be partly applied, and is recorded as unfinished only if that mark was written.
    async fn lost(&mut self, m: &Migration, failure: Failure) -> Error {
        let (Failure::Script { error, .. } | Failure::Bookkeeping(error)) = failure;
        let name = self.cx.backend.name;
        let v = m.version;
        let state = self.recorded_state(v).await;
        let outcome = match state {
            Some(Some(false)) => "it completed and is recorded as applied; start again to apply \
                                  the rest once the database is back"
                .to_string(),
            Some(Some(true)) => format!(
                "it may be partly applied and is recorded as unfinished: check the schema, then \
                 run `usher resolve {v} --applied` if all of its changes are in place, or undo \
                 them and run `usher resolve {v} --rolled-back`"
            ),
            Some(None) => "nothing of it was committed and nothing is recorded (the server \
                           rolls back the transaction of a connection that drops); start again \
                           once the database is back"
                .to_string(),
            None => "the database could not be reached again to see what was kept: run `usher \
                     status` once it is back (a migration in a transaction was rolled back; one \
                     outside a transaction, or MySQL DDL, may be partly applied and is then \
                     listed as failed)"
                .to_string(),
        };
        Error::new(
            Kind::Unavailable,
            format!(
                "the connection to {name} was lost during migration {v} ({}): {error}; {outcome}",
                m.file
            ),
        )
    }

    /// How a new connection sees `version` in the history: `Some(None)` not recorded,
    /// `Some(Some(unfinished))` recorded; `None` when the database cannot be read.
    async fn recorded_state(&self, version: i64) -> Option<Option<bool>> {
        let endpoint = self.cx.endpoint();
        let mut db = (self.cx.backend.connect)(&endpoint, self.cx.wait.attempt_timeout)
            .await
            .ok()?;
        let read = async {
            let tables = db.existing_tables(&known_tables()).await.ok()?;
            let history = read_history(
                &mut *db,
                self.format,
                &tables,
                &self.names,
                &self.migrations,
            )
            .await
            .ok()?;
            Some(
                history
                    .iter()
                    .find(|r| r.version == version)
                    .map(|r| r.failed),
            )
        };
        let state = tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .ok()
            .flatten();
        let _ = tokio::time::timeout(Duration::from_millis(300), db.close()).await;
        state
    }

    /// `usher status`: a table of every migration and its state.
    async fn status(&mut self, exit_code: bool) -> Result<i32> {
        let history = self.history().await?;
        let mut entries = plan::status(&self.migrations, &history, self.format);
        if let Some(up_to) = self.baselined_up_to().await {
            for e in entries
                .iter_mut()
                .filter(|e| e.state == State::Applied && e.version <= up_to)
            {
                e.state = State::Baselined;
            }
        }
        let rows: Vec<[String; 4]> = entries
            .iter()
            .map(|e| {
                [
                    e.version.to_string(),
                    e.name.clone(),
                    e.state.label().to_string(),
                    e.applied_at.clone().unwrap_or_default(),
                ]
            })
            .collect();
        let header = [
            "VERSION".to_string(),
            "NAME".to_string(),
            "STATE".to_string(),
            "APPLIED AT".to_string(),
        ];
        let mut widths = [0usize; 4];
        for row in std::iter::once(&header).chain(rows.iter()) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(rows.iter()) {
            let line = format!(
                "{:<w0$}  {:<w1$}  {:<w2$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        print!("{out}");
        crate::log::log_step!(
            INFO,
            "status",
            "{} format, {}",
            self.format.name(),
            redact(self.cx.url)
        );
        let unhealthy = entries.iter().any(|e| match e.state {
            State::Pending | State::Failed | State::Modified => true,
            State::Unknown => self.cx.settings.on_unknown == crate::config::OnUnknown::Error,
            State::Applied | State::Baselined => false,
        });
        Ok(if exit_code && unhealthy {
            Kind::Unhealthy.code()
        } else {
            0
        })
    }

    /// `usher baseline VERSION`, under the lock.
    async fn baseline(&mut self, version: i64) -> Result<()> {
        self.lock(false).await?;
        let result = async {
            self.refresh_tables().await?;
            let history = self.history().await?;
            self.baseline_locked(version, &history).await
        }
        .await;
        self.unlock().await;
        result.map(drop)
    }

    /// Records every migration up to `version` as applied, without running it, in the
    /// format's own way (`HistoryFormat::record_baseline`), and the baseline in usher's table,
    /// in one transaction. Refuses a database whose history has rows: a baseline adopts a
    /// database that has none.
    async fn baseline_locked(&mut self, version: i64, history: &[AppliedRow]) -> Result<bool> {
        let format = self.format;
        if let Some(newest) = history.last() {
            return Err(Error::usage(format!(
                "baseline {version}: {} already records {} migration(s), the newest {} ({}); a \
                 baseline is for a database with no history: see usher status, and usher \
                 resolve for a failed migration",
                format.table(),
                history.len(),
                newest.version,
                newest.name
            )));
        }
        let upto: Vec<Migration> = self
            .migrations
            .iter()
            .filter(|m| m.version <= version)
            .cloned()
            .collect();
        if upto.is_empty() {
            return Err(Error::usage(format!(
                "baseline {version}: no migration in {} has a version up to {version}{}",
                self.cx.settings.dir.display(),
                match self.migrations.first() {
                    Some(m) => format!("; the oldest is {} ({})", m.version, m.file),
                    None => String::new(),
                }
            )));
        }
        self.pin_session().await?;
        self.ensure_table().await?;
        self.ensure_own_table(baseline::TABLE, baseline::create_table())
            .await?;
        let d = self.db.dialect();
        let mut stmts = format.record_baseline(d, &upto);
        stmts.push(baseline::insert(d, format.table(), version));
        let stmts: Vec<Stmt> = stmts.into_iter().map(|s| self.q(s)).collect();
        if let Err(e) = in_transaction(self.db, &stmts).await {
            return Err(db_error(
                &format!("cannot record the baseline in {}", format.table()),
                e,
            ));
        }
        crate::log::log_step!(
            INFO,
            "migrate",
            "baselined {} migration(s) up to version {version} in {} ({} format) without running \
             them",
            upto.len(),
            format.table(),
            format.name()
        );
        Ok(true)
    }

    /// The version a baseline recorded for this format's history, if any.
    async fn baselined_up_to(&mut self) -> Option<i64> {
        if !self.has(baseline::TABLE) {
            return None;
        }
        let stmt = self.q(baseline::select(self.db.dialect(), self.format.table()));
        let rows = self.db.query(&stmt).await.ok()?;
        rows.first()?.first()?.as_i64()
    }

    /// `usher resolve VERSION --applied|--rolled-back`, under the lock.
    async fn resolve(&mut self, version: i64, mark: ResolveMark) -> Result<()> {
        self.lock(false).await?;
        let result = self.resolve_locked(version, mark).await;
        self.unlock().await;
        result
    }

    async fn resolve_locked(&mut self, version: i64, mark: ResolveMark) -> Result<()> {
        let d = self.db.dialect();
        let format = self.format;
        self.refresh_tables().await?;
        let history = self.history().await?;
        let Some(row) = history.iter().find(|r| r.version == version) else {
            return Err(Error::usage(format!(
                "usher resolve {version}: migration {version} has no record in {}: nothing to \
                 resolve (usher status lists what is recorded)",
                format.table()
            )));
        };
        if !row.failed {
            return Err(Error::usage(format!(
                "usher resolve {version}: migration {version} is recorded as fully applied, not \
                 as unfinished: nothing to resolve"
            )));
        }
        let file = self
            .migrations
            .iter()
            .find(|m| m.version == version)
            .cloned();
        // The format's own flag (sqlx's success = false) or usher's marker?
        let synthetic = Migration {
            version,
            name: row.name.clone(),
            file: String::new(),
            sql: String::new(),
            run: None,
            checksum: row.checksum.clone(),
            no_transaction: false,
            any_order: false,
        };
        let own_flag = format.record_started(d, &synthetic).is_some();
        let stmts: Vec<Stmt> = match (mark, own_flag) {
            (ResolveMark::Applied, true) => format
                .resolve_applied(d, row, file.as_ref())
                .unwrap_or_else(|| {
                    format.record_finished(d, file.as_ref().unwrap_or(&synthetic), Duration::ZERO)
                }),
            (ResolveMark::Applied, false) => {
                let Some(file) = &file else {
                    return Err(Error::usage(format!(
                        "usher resolve {version} --applied: there is no file for migration \
                         {version} in {}, so its checksum cannot be recorded; run this with \
                         the image that has it",
                        self.cx.settings.dir.display()
                    )));
                };
                let mut s = format.record_applied(d, file, Duration::ZERO);
                s.push(unfinished::delete(d, format.table(), version));
                s
            }
            (ResolveMark::RolledBack, true) => format.forget(d, row, &self.migrations),
            (ResolveMark::RolledBack, false) => {
                vec![unfinished::delete(d, format.table(), version)]
            }
        };
        if let Err(e) = in_transaction(self.db, &stmts).await {
            return Err(db_error(&format!("cannot update {}", format.table()), e));
        }
        match mark {
            ResolveMark::Applied => crate::log::log_step!(
                INFO,
                "resolve",
                "migration {version} ({}) is now recorded as applied",
                row.name
            ),
            ResolveMark::RolledBack => crate::log::log_step!(
                INFO,
                "resolve",
                "migration {version} ({}) is no longer recorded; it will run at the next start",
                row.name
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_tables_are_qualified_as_whole_words_only() {
        let names = [
            ("_sqlx_migrations", "\"app\"._sqlx_migrations".to_string()),
            (
                unfinished::TABLE,
                "\"app\".usher_unfinished_migrations".to_string(),
            ),
        ];
        let stmt = Stmt::new(
            "INSERT INTO _sqlx_migrations (version) SELECT 1 FROM x._sqlx_migrations, \
             my_sqlx_migrations, _sqlx_migrations2; DELETE FROM usher_unfinished_migrations",
            vec![],
        );
        assert_eq!(
            qualified(stmt, &names).sql,
            "INSERT INTO \"app\"._sqlx_migrations (version) SELECT 1 FROM x._sqlx_migrations, \
             my_sqlx_migrations, _sqlx_migrations2; DELETE FROM \"app\".usher_unfinished_migrations"
        );
    }

    /// The bytes SQLite copies while preparing a script sent as `pieces`: for each statement,
    /// the rest of its piece (sqlite3Prepare copies text that is not NUL-terminated).
    fn sqlite_prepare_copies(statements: &[sql::Statement], pieces: &[Piece]) -> usize {
        pieces
            .iter()
            .flat_map(|p| {
                statements[p.first..p.first + p.count]
                    .iter()
                    .map(|s| p.text.end - s.start)
            })
            .sum()
    }

    /// The work a script costs grows linearly with its length: 4 MB of INSERTs cost four
    /// times 1 MB, in statements lexed and in bytes SQLite copies (counted, not timed). Sent
    /// whole, as before, the copies grow with the square of the length.
    #[test]
    fn work_grows_linearly_with_the_script() {
        let lexing = sql::Lexing::Sqlite;
        let line = "INSERT INTO t (id, name) VALUES (12345, 'a name; with text');\n";
        // About 1 MB and 4 MB.
        let work = |lines: usize| {
            let text = line.repeat(lines);
            let statements = sql::statements(&text, lexing);
            let p = pieces(&text, &statements, false, false, lexing);
            let whole = [Piece {
                text: 0..text.len(),
                first: 0,
                count: statements.len(),
            }];
            (
                statements.len(),
                sqlite_prepare_copies(&statements, &p),
                sqlite_prepare_copies(&statements, &whole),
                text.len(),
            )
        };
        let (n1, copies1, whole1, len1) = work(16_000);
        let (n4, copies4, whole4, len4) = work(64_000);
        assert_eq!(n4, 4 * n1);
        assert!(copies4 * 100 <= copies1 * 4 * 101, "{copies1} {copies4}");
        // A bounded multiple of the text, whatever its length.
        assert!(copies1 <= 40 * len1 && copies4 <= 40 * len4);
        // What sending the whole script cost: sixteen times as much for four times the text.
        assert!(whole4 > 15 * whole1);
    }

    #[test]
    fn scripts_are_sent_in_bounded_runs() {
        let text = "-- lead\nSELECT 1; SELECT 2;\nSELECT 3;";
        let lexing = sql::Lexing::Sqlite;
        let statements = sql::statements(text, lexing);
        let texts = |p: Vec<Piece>| -> Vec<(&str, usize)> {
            p.into_iter().map(|p| (&text[p.text], p.first)).collect()
        };
        // Short: one run, from the start of the file.
        assert_eq!(
            texts(pieces(text, &statements, false, false, lexing)),
            [("-- lead\nSELECT 1; SELECT 2;\nSELECT 3", 0)]
        );
        // No transaction: one statement at a time.
        assert_eq!(
            texts(pieces(text, &statements, true, false, lexing)),
            [("SELECT 1", 0), ("SELECT 2", 1), ("SELECT 3", 2)]
        );
        // Own transaction on PostgreSQL: whole.
        let pg = sql::statements(text, sql::Lexing::Postgres);
        assert_eq!(
            texts(pieces(text, &pg, false, true, sql::Lexing::Postgres)),
            [(text, 0)]
        );
        // Empty: nothing to send.
        assert!(pieces("-- x\n;", &[], false, false, lexing).is_empty());
        // Long: runs of at most run_bytes.
        let long = "INSERT INTO t VALUES (1);\n".repeat(1000);
        let s = sql::statements(&long, lexing);
        let p = pieces(&long, &s, false, false, lexing);
        assert!(p.len() > 1);
        assert!(p.iter().all(|p| p.text.len() <= lexing.run_bytes()));
        assert_eq!(
            p.iter().map(|p| p.first).collect::<Vec<_>>()[1],
            p[0].text.len() / 26 + 1
        );
    }
}
