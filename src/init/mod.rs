//! PID-1 init mode: run the app as a child, forward signals, reap zombies, pass the exit
//! status. (Being built: issue "PID-1 init mode".)

use crate::config::InitSettings;
use crate::exit::Result;
use crate::handover::App;
use crate::signals::Startup;

/// Entry for a re-executed supervisor; `None` when usher was started normally.
pub fn run_if_supervisor(_args: &[std::ffi::OsString]) -> Option<i32> {
    None
}

/// Whether to supervise the app instead of exec'ing it.
pub fn wanted(_settings: &InitSettings) -> bool {
    false
}

pub fn supervise(app: App, _settings: &InitSettings, startup: &Startup) -> Result<i32> {
    Err(crate::handover::exec(&app, &startup.inherited()))
}
