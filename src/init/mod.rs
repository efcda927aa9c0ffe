//! PID-1 init mode: run the app as a child, forward signals, reap zombies, pass the exit
//! status, stop it for good after `--stop-timeout`, terminate what it leaves behind.
//!
//! Why: the kernel does not deliver a signal whose disposition is the default to a PID
//! namespace's init (pid_namespaces(7)), so an app exec'd as PID 1 without a SIGTERM handler
//! ignores `docker stop` until the SIGKILL 10 s later, and orphans re-parented to it stay
//! zombies unless it waits for them. usher then stays as a minimal init, as tini does.
//!
//! - `reexec`: after the start-up pipeline, usher re-executes its own binary in a
//!   supervise-only mode, so the supervising process holds only the init loop (measured in
//!   docs/init.md); if that exec fails it supervises from the same process.
//! - `supervisor`: the loop itself.
//! - `sys`: the raw system calls it needs.

mod reexec;
mod supervisor;
/// Also used to run pre-start tasks (`hooks`).
pub(crate) mod sys;

use std::ffi::OsString;

use tracing::debug;

use crate::config::{InitSettings, LogFormat, LogSettings, Mode};
use crate::environment::Environment;
use crate::exit::Result;
use crate::handover::App;
use crate::signals::Startup;

/// Entry for a re-executed supervisor (argv starts with the hidden `--supervise-internal`);
/// `None` when usher was started normally.
pub fn run_if_supervisor(args: &[OsString]) -> Option<Result<i32>> {
    if args.first().map(OsString::as_os_str) != Some(reexec::FLAG.as_ref()) {
        return None;
    }
    let handoff = match reexec::decode(args, &Environment::from_process()) {
        Ok(h) => h,
        Err(e) => {
            // So that main's report of this error is printed.
            crate::log::init(LogSettings {
                format: LogFormat::Text,
                level: tracing::Level::INFO,
            });
            return Some(Err(e));
        }
    };
    crate::log::init(handoff.log);
    // The exec of /proc/self/exe named the process "exe"; ps and top should say usher.
    let _ = nix::sys::prctl::set_name(c"usher");
    Some(supervisor::run(
        &handoff.app,
        &handoff.settings,
        &handoff.inherited,
    ))
}

/// Whether to supervise the app instead of exec'ing it: `always`, or `auto` as PID 1.
///
/// `never` as PID 1 is allowed (an app that is a complete init itself), with a warning: the
/// app becomes PID 1, which the kernel sends no signal it has no handler for, and to which
/// every orphan of the container is re-parented.
pub fn wanted(settings: &InitSettings) -> bool {
    let pid1 = nix::unistd::getpid().as_raw() == 1;
    match settings.mode {
        Mode::Never => {
            if pid1 {
                crate::log::log_step!(
                    WARN,
                    "exec",
                    "usher is PID 1 and --init never (USHER_INIT=never) makes the app PID 1: \
                     it alone must handle SIGTERM (the kernel drops signals PID 1 has no handler \
                     for, so docker stop would wait and SIGKILL it) and reap the zombies of its \
                     children; unless it does both, use --init auto (the default)"
                );
            }
            false
        }
        Mode::Always => true,
        Mode::Auto => pid1,
    }
}

/// Runs the app as a child and supervises it; returns its exit code (its status, or 128+N
/// when signal N killed it).
pub fn supervise(
    app: App,
    settings: &InitSettings,
    log: LogSettings,
    startup: &Startup,
) -> Result<i32> {
    let handoff = reexec::Handoff {
        app,
        settings: settings.clone(),
        log,
        inherited: startup.inherited(),
    };
    if tracing::enabled!(tracing::Level::DEBUG) {
        debug!(
            step = "init",
            rss_kb = resident_kb(),
            "re-executing usher as a bare supervisor, releasing the start-up's memory"
        );
    }
    // Returns only when the exec failed.
    let error = reexec::exec_supervisor(&handoff);
    crate::log::log_step!(
        WARN,
        "init",
        "{error}; supervising from this process instead, which keeps the start-up's memory: \
         mount /proc and let the app's user execute usher's binary"
    );
    supervisor::run(&handoff.app, &handoff.settings, &handoff.inherited)
}

/// This process's resident memory in KiB (VmRSS in /proc/self/status), for the debug log.
fn resident_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
