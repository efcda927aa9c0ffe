//! Exit codes and the one error type every stage returns; `main` turns it into a code here, and
//! only here.
//!
//! usher's own codes sit in 64..=78, away from the app's own statuses and from the shell
//! conventions it also follows (126 not executable, 127 not found, 128+N killed by signal N;
//! `docker run` uses 125 for itself). The table below is printed by `--help` and copied into
//! README.md; a test checks that they agree.

use std::fmt;

/// Why usher stopped without handing over to the app.
///
/// The migration kinds exist in every build, so the exit-code table is one table; a build
/// without database drivers never produces them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "_db"), allow(dead_code))]
pub enum Kind {
    /// A flag or argument is wrong.
    Usage,
    /// A migration failed to apply; it was rolled back and nothing was recorded.
    MigrationFailed,
    /// The migration files cannot be used: directory missing, bad or duplicate file name,
    /// not UTF-8, format ambiguous.
    MigrationsInvalid,
    /// The user or group in `--user` does not exist in /etc/passwd or /etc/group.
    UnknownUser,
    /// The database's migration history disagrees with the files: an applied file changed,
    /// a pending file is older than the newest applied one, an applied migration has no file
    /// (with `--on-unknown error`), or a migration was left partly applied.
    HistoryConflict,
    /// The database or a `--wait` dependency was not ready within `--wait-timeout`, or the
    /// connection to the database was lost (server restarted, session terminated).
    Unavailable,
    /// A bug in usher.
    Internal,
    /// A system call failed (fork, exec of itself, prctl, …).
    Os,
    /// A pre-start task (`--hooks`) failed, could not be executed, or its directory is
    /// missing.
    Hook,
    /// Another process held the migration lock for longer than `--lock-timeout`.
    LockTimeout,
    /// The database refused the connection for good: wrong password, unknown database,
    /// TLS verification failed, permission denied.
    DatabaseRefused,
    /// The privilege drop or `--chown` cannot or did not happen: not root, a missing
    /// capability (CAP_SETUID, CAP_SETGID, CAP_CHOWN), a failing set*id call, an
    /// irreversible-drop check that failed, a volume whose owner cannot be changed, or usher
    /// installed setuid.
    Privileges,
    /// The configuration is wrong: `NAME` and `NAME_FILE` both set, an unreadable secret file,
    /// a missing `DATABASE_URL`, an invalid `USHER_*` value.
    Config,
    /// `usher health` / `usher status --exit-code`: unhealthy, or migrations pending.
    Unhealthy,
    /// The command was found but cannot be executed (permissions, a directory, bad format).
    NotExecutable,
    /// The command was not found.
    NotFound,
    /// A signal stopped usher before the app started.
    Interrupted(i32),
}

impl Kind {
    pub fn code(self) -> i32 {
        match self {
            Kind::Unhealthy => 1,
            Kind::Usage => 64,
            Kind::MigrationFailed => 65,
            Kind::MigrationsInvalid => 66,
            Kind::UnknownUser => 67,
            Kind::HistoryConflict => 68,
            Kind::Unavailable => 69,
            Kind::Internal => 70,
            Kind::Os => 71,
            Kind::Hook => 73,
            Kind::LockTimeout => 75,
            Kind::DatabaseRefused => 76,
            Kind::Privileges => 77,
            Kind::Config => 78,
            Kind::NotExecutable => 126,
            Kind::NotFound => 127,
            Kind::Interrupted(signal) => 128 + signal,
        }
    }
}

/// The documented exit codes: `(code, meaning)`. Printed by `--help`, mirrored in README.md.
pub const TABLE: &[(&str, &str)] = &[
    (
        "0",
        "the app's own status (exec, or init mode), or a subcommand succeeded",
    ),
    (
        "1",
        "usher health: unhealthy; usher status --exit-code: migrations pending",
    ),
    ("64", "usage: an unknown flag or a bad argument"),
    (
        "65",
        "a migration failed; it was rolled back, and recorded only as failed by the formats that \
         do so (Prisma, golang-migrate)",
    ),
    (
        "66",
        "migration files unusable: missing directory, bad or duplicate name, not UTF-8, a NUL \
         byte, an unreadable .sql entry, a DELIMITER line, no known layout or more than one, \
         another tool's sections, a Prisma provider mismatch",
    ),
    ("67", "the --user user or group does not exist"),
    (
        "68",
        "history conflict: applied file changed, out-of-order or unknown migration, partial migration",
    ),
    (
        "69",
        "the database or a --wait dependency was not ready within --wait-timeout, or the \
         connection to the database was lost",
    ),
    ("70", "internal error (a bug: please report it)"),
    ("71", "a system call failed"),
    (
        "73",
        "a pre-start task (--hooks) failed or is not executable, or its directory is missing",
    ),
    (
        "75",
        "the migration lock was held longer than --lock-timeout",
    ),
    (
        "76",
        "the database refused the connection: credentials, database name, TLS, permissions",
    ),
    (
        "77",
        "privilege drop or --chown impossible or failed: not root, a missing capability \
         (CAP_SETUID, CAP_SETGID, CAP_CHOWN), set*id failed, installed setuid",
    ),
    (
        "78",
        "configuration: NAME and NAME_FILE both set, unreadable secret, bad USHER_* value, a \
         database URL that is not a URL or names no database, migrating through a \
         transaction-mode pooler",
    ),
    (
        "126",
        "the command was found but is not executable (permissions, directory, format)",
    ),
    ("127", "the command was not found"),
    (
        "128+N",
        "the app died from signal N, or signal N stopped usher before the app started",
    ),
];

/// An error a user can see: what went wrong, naming the thing and the fix.
///
/// The message must already be safe to print: database URLs go through `redact` before they
/// are put in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    /// The boot stage that failed (`secrets`, `migrate`, …), for the log line that reports
    /// it; set by `main` as the error leaves the stage.
    pub step: Option<&'static str>,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            step: None,
        }
    }

    /// The error, as having happened in boot stage `step` (unless a stage was already named).
    pub fn at(mut self, step: &'static str) -> Self {
        self.step.get_or_insert(step);
        self
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error::new(Kind::Usage, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        Error::new(Kind::Config, message)
    }

    pub fn privileges(message: impl Into<String>) -> Self {
        Error::new(Kind::Privileges, message)
    }

    /// A failed system call, named with its argument.
    pub fn os(call: &str, err: impl fmt::Display) -> Self {
        Error::new(Kind::Os, format!("{call} failed: {err}"))
    }

    pub fn interrupted(signal: i32, during: &str) -> Self {
        Error::new(
            Kind::Interrupted(signal),
            format!("stopped by {} during {during}", signal_name(signal)),
        )
    }

    pub fn code(&self) -> i32 {
        self.kind.code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `SIGTERM`-style name of a signal number, for messages.
pub fn signal_name(signal: i32) -> String {
    match nix::sys::signal::Signal::try_from(signal) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("signal {signal}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_outside_app_conventions() {
        let kinds = [
            Kind::Usage,
            Kind::MigrationFailed,
            Kind::MigrationsInvalid,
            Kind::UnknownUser,
            Kind::HistoryConflict,
            Kind::Unavailable,
            Kind::Internal,
            Kind::Os,
            Kind::Hook,
            Kind::LockTimeout,
            Kind::DatabaseRefused,
            Kind::Privileges,
            Kind::Config,
        ];
        let mut codes: Vec<i32> = kinds.iter().map(|k| k.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), kinds.len());
        assert!(codes.iter().all(|c| (64..=78).contains(c)));
        assert_eq!(Kind::Interrupted(15).code(), 143);
        assert_eq!(Kind::Unhealthy.code(), 1);
    }

    #[test]
    fn table_lists_every_code() {
        for kind in [
            Kind::Usage,
            Kind::MigrationFailed,
            Kind::MigrationsInvalid,
            Kind::UnknownUser,
            Kind::HistoryConflict,
            Kind::Unavailable,
            Kind::Internal,
            Kind::Os,
            Kind::Hook,
            Kind::LockTimeout,
            Kind::DatabaseRefused,
            Kind::Privileges,
            Kind::Config,
            Kind::Unhealthy,
            Kind::NotExecutable,
            Kind::NotFound,
        ] {
            let code = kind.code().to_string();
            assert!(TABLE.iter().any(|(c, _)| *c == code), "{code} missing");
        }
    }
}
