//! The database stage: wait for `DATABASE_URL`, lock, apply pending migrations.

use std::time::Instant;

use crate::config::{Command, Config};
use crate::exit::{Error, Result};
use crate::signals::Startup;

pub fn stage(_config: &Config, _deadline: Instant, _startup: &Startup) -> Result<()> {
    Ok(())
}

pub fn command(
    _command: &Command,
    _config: &Config,
    _deadline: Instant,
    _startup: &Startup,
) -> Result<i32> {
    Err(Error::config("being built"))
}

/// `usher health db`: connect to `DATABASE_URL`, run `SELECT 1`, and with `no_pending` also
/// fail while migrations are pending. `Err` is a short, redacted reason.
///
/// TEMPORARY placeholder so `usher health db` builds before the database engine lands; the
/// engine's own implementation replaces it when the branches are merged.
pub fn health(
    _config: &Config,
    _no_pending: bool,
    _timeout: std::time::Duration,
) -> std::result::Result<(), String> {
    Err("database probe not built yet".into())
}
