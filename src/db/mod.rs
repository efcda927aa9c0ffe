//! The database stage and subcommands: wait for the database named by `DATABASE_URL` (or
//! `MIGRATION_DATABASE_URL`), lock, apply pending SQL migrations, then let the app start.
//!
//! Split as sqlx splits its migrator: `source` (files → migrations), `plan` (the rules, one
//! pure function), `migrator` (the procedure), `backends/` (what a database must provide, in
//! its `mod.rs`; one file per database, registered in `backends::backend`) and `formats/`
//! (what a history format must provide, in its `mod.rs`; one file per migration tool,
//! registered in `formats::FORMATS`).

// `DbError` carries the server's code, message, detail, hint and position; it travels only on
// the failure path, so its size does not matter.
#![allow(clippy::result_large_err)]
// The unit-test build has no C `main` (see main.rs), so the entry points look unused there.
#![cfg_attr(test, allow(dead_code))]

mod backends;
mod baseline;
mod formats;
mod line_endings;
mod migrator;
mod plan;
mod source;
mod sql;
mod stop;
mod unfinished;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::config::{Command, Config, Mode};
use crate::exit::{Error, Kind, Result};
use crate::redact::redact;
use crate::signals::Startup;
use backends::{Backend, SCHEMES, backend};
use migrator::{Action, Context};
use source::SqlFile;

/// The start-up stage: migrate when there is something to migrate.
///
/// `auto` migrates when the directory exists; a directory with migrations but no database URL
/// is a configuration error (the app must not start on an unmigrated database), unless
/// `--migrate never`.
pub fn stage(config: &Config, deadline: Instant, startup: &Startup) -> Result<()> {
    let dir = &config.migrate.dir;
    match config.migrate.mode {
        Mode::Never => return Ok(()),
        Mode::Auto if !dir.exists() => {
            crate::log::log_step!(
                DEBUG,
                "migrate",
                "no directory {}; nothing to migrate",
                dir.display()
            );
            return Ok(());
        }
        _ => {}
    }
    let files = files_in(dir)?;
    let Some(url) = database_url(config)? else {
        if files.is_empty() && config.migrate.mode == Mode::Auto {
            return Ok(());
        }
        return Err(Error::config(format!(
            "{} holds {} migration file(s) but DATABASE_URL is not set; set DATABASE_URL (or \
             DATABASE_URL_FILE, or MIGRATION_DATABASE_URL), or skip migrations with \
             --migrate never (USHER_MIGRATE=never)",
            dir.display(),
            files.len()
        )));
    };
    run(config, url, files, deadline, startup, Action::Stage).map(drop)
}

/// `usher migrate`, `usher status`, `usher resolve`; returns the exit code.
pub fn command(
    command: &Command,
    config: &Config,
    deadline: Instant,
    startup: &Startup,
) -> Result<i32> {
    let (action, needs_dir) = match *command {
        Command::Migrate { dry_run } => (Action::Migrate { dry_run }, true),
        Command::Status { exit_code } => (Action::Status { exit_code }, true),
        Command::Resolve { version, mark } => (Action::Resolve { version, mark }, false),
        Command::Baseline { version } => (Action::Baseline { version }, true),
        _ => {
            return Err(Error::new(
                Kind::Internal,
                "db::command called for a command that is not a database command",
            ));
        }
    };
    let dir = &config.migrate.dir;
    let files = if needs_dir || dir.exists() {
        files_in(dir)?
    } else {
        Vec::new()
    };
    let url = database_url(config)?.ok_or_else(|| {
        Error::config(
            "DATABASE_URL is not set; set it (or DATABASE_URL_FILE, or MIGRATION_DATABASE_URL) \
             to the database to migrate",
        )
    })?;
    run(config, url, files, deadline, startup, action)
}

/// `usher health db`: connects to `DATABASE_URL` and runs `SELECT 1`; with `no_pending`, also
/// unhealthy while migrations in the migration directory are pending or unfinished. The error
/// is one short line, with any URL redacted. Called by `usher health db` (health.rs).
#[allow(dead_code)] // until health.rs calls it
pub fn health(
    config: &Config,
    no_pending: bool,
    timeout: Duration,
) -> std::result::Result<(), String> {
    let (variable, url) = match ["DATABASE_URL", "MIGRATION_DATABASE_URL"]
        .into_iter()
        .find_map(|var| config.env.text(var).transpose().map(|url| (var, url)))
    {
        Some((var, Ok(url))) => (var, url),
        Some((_, Err(e))) => return Err(e.message),
        None => return Err("DATABASE_URL is not set".to_string()),
    };
    check_url(&source_of(config, variable), url)?;
    let dir = &config.migrate.dir;
    let files = if no_pending && dir.is_dir() {
        source::list(dir).map_err(|e| e.message)?
    } else {
        Vec::new()
    };
    let runtime = runtime().map_err(|e| e.message)?;
    let name = application_name("usher-health");
    let backend = backend_for(variable, url).map_err(|e| e.message)?;
    let pgpass = backends::pgpass_file(&config.env);
    let endpoint = backends::Endpoint {
        url,
        application_name: &name,
        pgpass: pgpass.as_deref(),
    };
    let probe = migrator::health(
        backend,
        &endpoint,
        &config.migrate,
        &files,
        no_pending,
        timeout,
    );
    runtime
        .block_on(async {
            tokio::time::timeout(timeout, probe)
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
        })
        .map_err(|e| redact(&e))
}

fn run(
    config: &Config,
    url: (&str, &str),
    files: Vec<SqlFile>,
    deadline: Instant,
    startup: &Startup,
    action: Action,
) -> Result<i32> {
    // An unknown --format is a usage error (64), an unknown USHER_FORMAT a configuration
    // error (78): said before any connection.
    if let Some(name) = &config.migrate.format {
        formats::by_name(name).map_err(|e| match config.migrate.format_from_env {
            true => e,
            false => Error::usage(e.message),
        })?;
    }
    let (var, url) = url;
    let backend = backend_for(var, url)?;
    // The runtime is dropped before returning: nothing of it survives into the app.
    let runtime = runtime()?;
    runtime.block_on(async {
        let stop = stop::Stop::new(startup)?;
        let cx = Context {
            settings: &config.migrate,
            wait: &config.wait,
            url,
            deadline,
            files,
            stop: &stop,
            application_name: application_name("usher"),
            pgpass: backends::pgpass_file(&config.env),
            backend,
        };
        migrator::run(&cx, action).await
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::os("creating the async runtime (epoll)", e))
}

/// The database behind the URL in variable `var`.
///
/// The value is never shown in an error: one that is not a URL may be anything — a libpq
/// `host=… password=…` string, or a password file's contents when `DATABASE_URL_FILE` names
/// the wrong file. Only a well-known scheme is named.
pub(crate) fn backend_for(var: &str, url: &str) -> Result<Backend> {
    check_authority(var, url).map_err(Error::config)?;
    let expected = format!(
        "expected a URL such as postgres://app@db:5432/app (a password goes after the user: \
         app:PASSWORD@db), with one of the schemes {}",
        SCHEMES.join(", ")
    );
    let scheme = url
        .split_once(':')
        .map(|(scheme, _)| scheme)
        .filter(|s| {
            s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        })
        .ok_or_else(|| {
            Error::config(format!(
                "{var} is not a URL; {expected} (its value is not shown: it may hold a password)"
            ))
        })?
        .to_ascii_lowercase();
    if let Some(backend) = backend(&scheme) {
        return Ok(backend);
    }
    // Only a well-known scheme is named: any other word before a ':' may be part of a secret.
    let known = [
        "postgres",
        "postgresql",
        "mysql",
        "mariadb",
        "sqlite",
        "http",
        "https",
        "redis",
        "rediss",
        "mongodb",
        "mongodb+srv",
        "amqp",
        "amqps",
        "mssql",
        "sqlserver",
        "oracle",
        "jdbc",
        "cockroachdb",
        "clickhouse",
        "file",
        "tcp",
    ];
    let shown = if known.contains(&scheme.as_str()) {
        format!(" {scheme:?}")
    } else {
        String::new()
    };
    Err(Error::config(format!(
        "{var}: the URL scheme{shown} is not supported by this build; {expected}"
    )))
}

/// `MIGRATION_DATABASE_URL` (DDL rights) if set, else `DATABASE_URL`, with the variable's
/// name; both were resolved from their `_FILE` secrets by the secrets stage.
fn database_url(config: &Config) -> Result<Option<(&'static str, &str)>> {
    for var in ["MIGRATION_DATABASE_URL", "DATABASE_URL"] {
        if let Some(url) = config.env.text(var)? {
            check_url(&source_of(config, var), url).map_err(Error::config)?;
            return Ok(Some((var, url)));
        }
    }
    Ok(None)
}

/// How errors name the variable `var`: with the file it came from when the secrets stage
/// read it from `var_FILE` (that variable is gone from the environment by then).
fn source_of(config: &Config, var: &str) -> String {
    match config.from_files.iter().find(|(name, _)| name == var) {
        Some((_, file)) => format!("{var} (read from {var}_FILE={file})"),
        None => var.to_string(),
    }
}

/// A database URL must have an authority: `//` right after `scheme:`. The URL parser sqlx
/// uses also accepts `postgres:user:PASSWORD@host/db`, `postgres:/user:…`,
/// `postgres:\\user:…` or a password file's `mysql:PASSWORD` — as a URL with no host (sqlx
/// then connects to localhost) whose password redaction cannot find by structure, and every
/// message would quote the whole value as "the URL". Such a value is refused before anything
/// else, naming the variable (`label`) and the expected shape, and is never shown.
fn check_authority(label: &str, url: &str) -> std::result::Result<(), String> {
    let Some((scheme, rest)) = url.split_once(':') else {
        return Ok(());
    };
    let scheme = scheme.to_ascii_lowercase();
    // A SQLite URL holds no password, and `sqlite:app.db` is sqlx's own spelling.
    let expected = match scheme.as_str() {
        "postgres" | "postgresql" => "postgres://USER:PASSWORD@HOST:5432/DATABASE",
        "mysql" | "mariadb" => "mysql://USER:PASSWORD@HOST:3306/DATABASE",
        _ => return Ok(()),
    };
    let usable = rest.starts_with("//")
        // A bare `mysql:` holds nothing to hide: check_url says what it lacks.
        || (rest.is_empty() && !scheme.starts_with("postgres"));
    match usable {
        true => Ok(()),
        false => Err(format!(
            "{label} is not a well-formed URL: \"{scheme}:\" must be followed by // and the \
             host; expected {expected} (the value is not shown: it may hold a password)"
        )),
    }
}

/// What a URL must name before any connection is tried, so a URL no attempt can use is a
/// configuration error naming the variable (78), not a failure halfway through: a MySQL URL
/// needs a database (`mysql://host/` connects, then nothing can be migrated), a SQLite URL a
/// file. The URL is shown redacted.
fn check_url(variable: &str, url: &str) -> std::result::Result<(), String> {
    check_authority(variable, url)?;
    let scheme = url
        .split_once(':')
        .map_or(String::new(), |(scheme, _)| scheme.to_ascii_lowercase());
    let rest = url.get(scheme.len() + 1..).unwrap_or("");
    let before_query = rest.split(['?', '#']).next().unwrap_or("");
    let missing = match scheme.as_str() {
        "mysql" | "mariadb" => {
            let path = before_query.strip_prefix("//").unwrap_or(before_query);
            let database = path.split_once('/').map_or("", |(_, d)| d);
            database.trim_matches('/').is_empty().then_some(
                "names no database: add it after the host, as in \
                 mysql://user:password@host:3306/DATABASE",
            )
        }
        "sqlite" => {
            let path = before_query.strip_prefix("//").unwrap_or(before_query);
            (path.is_empty() || path.ends_with('/')).then_some(
                "names no database file: use sqlite:///absolute/path.db, \
                 sqlite://relative/path.db or sqlite::memory:",
            )
        }
        _ => None,
    };
    match missing {
        Some(what) => Err(format!("{variable} ({}) {what}", redact(url))),
        None => Ok(()),
    }
}

/// The migration directory's `.sql` files; a missing directory is an error here (`auto` mode
/// has already skipped it).
fn files_in(dir: &Path) -> Result<Vec<SqlFile>> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::new(
            Kind::MigrationsInvalid,
            format!(
                "the migration directory {} is not a directory; set --migrations \
                 (USHER_MIGRATIONS) to the directory that holds the migration files",
                dir.display()
            ),
        ));
    }
    if !dir.is_dir() {
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        return Err(Error::new(
            Kind::MigrationsInvalid,
            format!(
                "the migration directory {} does not exist (working directory {cwd}); set \
                 --migrations (USHER_MIGRATIONS) to where the image has its migrations, or use \
                 --migrate auto to skip a missing directory",
                dir.display()
            ),
        ));
    }
    source::list(dir)
}

/// `usher@<hostname>`: what other sessions see as this one's name (PostgreSQL
/// `application_name`), so a waiting replica can say who holds the lock.
fn application_name(prefix: &str) -> String {
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{prefix}@{host}")
}

#[cfg(test)]
mod tests {
    use super::{backend_for, check_url};

    /// A value with a database scheme but no `//` is refused by the check every path runs
    /// first (and again where the backend is chosen), naming the variable and the shape, and
    /// never quoting any of it.
    #[test]
    fn urls_without_an_authority_are_refused_unseen() {
        let secret = "Hunter2Pa55";
        for url in [
            format!("postgres:u:{secret}@h/db"),
            format!("postgres:/u:{secret}@h/db"),
            format!("postgres:\\\\u:{secret}@h/db"),
            format!("postgresql:/\\u:{secret}@h:5432/db"),
            format!("POSTGRES:{secret}"),
            format!("postgres:{secret}"),
            "postgres:".to_string(),
            format!("mysql:{secret}"),
            format!("mysql:u:{secret}@h/db"),
            format!("MariaDB:/u:{secret}@h:3306/db"),
        ] {
            for variable in [
                "DATABASE_URL",
                "MIGRATION_DATABASE_URL (read from x_FILE=/f)",
            ] {
                let e = check_url(variable, &url).unwrap_err();
                assert!(
                    e.starts_with(&format!("{variable} is not a well-formed URL")),
                    "{e}"
                );
                assert!(e.contains("expected "), "{e}");
                assert!(!e.contains(secret), "{e}");
                assert!(url.len() < 10 || !e.contains(&url), "{e}");
            }
            let e = backend_for("DATABASE_URL", &url).err().expect(&url).message;
            assert!(!e.contains(secret), "{e}");
        }
    }

    #[test]
    fn urls_that_name_no_database_are_refused() {
        let refused = |u: &str| check_url("DATABASE_URL", u).unwrap_err();
        let e = refused("mysql://u:secret@db:3306/");
        assert!(
            e.starts_with("DATABASE_URL (mysql://u:****@db:3306/) names no database"),
            "{e}"
        );
        assert!(!e.contains("secret"));
        refused("mysql://u:secret@db");
        refused("mariadb://db:3306?ssl-mode=disabled");
        refused("sqlite://");
        refused("sqlite:");
        refused("sqlite://?mode=rwc");
        refused("sqlite:///");
        refused("sqlite:///data/");
        for ok in [
            "mysql://u:p@db/app",
            "mysql://u:p@[::1]:3306/app?ssl-mode=disabled",
            "sqlite:///tmp/a.db",
            "sqlite://a.db",
            "sqlite::memory:",
            "sqlite:a.db",
            "sqlite:/tmp/a.db",
            "postgres://u@db",
            "postgres://",
        ] {
            assert_eq!(check_url("DATABASE_URL", ok), Ok(()), "{ok}");
        }
    }
}
