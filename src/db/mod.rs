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
