//! Pre-start tasks (`--hooks DIR`): every executable file in DIR, in name order, after the
//! migrations and before the app — what the official images do from shell with
//! `/docker-entrypoint.d`, for images that have no shell.
//!
//! Each task runs as the app's user (the privilege drop has already happened) with the app's
//! environment, the signal state usher inherited, and usher's stdout and stderr; usher logs it
//! with its duration. The rules, each from a way entrypoint scripts go wrong:
//! - a task that fails (non-zero status, killed by a signal, cannot be executed) stops the
//!   start with exit 73 naming it: the app must not start half set up;
//! - a file that is not executable is an error naming it, never skipped: a forgotten `chmod`
//!   must not silently skip a task;
//! - names starting with `.` (editor and `kubectl cp` leftovers) and subdirectories are
//!   ignored; a missing DIR is an error, since it was asked for;
//! - TERM, INT or QUIT while a task runs is forwarded to its process group and usher exits
//!   128+N once it has ended (after SIGKILL when `--stop-timeout` passes first): the app is not
//!   started.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{AccessFlags, Pid, access};
use tracing::debug;

use crate::config::Config;
use crate::exit::{Error, Kind, Result};
use crate::handover::{self, App};
use crate::init::sys::{self as init_sys, ExecImage, SpawnError};
use crate::signals::Startup;

/// How often usher looks for a stop signal while a task runs (it sleeps on SIGCHLD between).
const POLL: Duration = Duration::from_millis(50);

/// Runs every task in `dir`, in name order; stops at the first failure.
pub fn run(dir: &Path, config: &Config, startup: &Startup) -> Result<()> {
    let tasks = list(dir)?;
    if config.privileges.no_new_privs {
        // The tasks run as the app does, so they get the same guarantee.
        crate::privileges::set_no_new_privs()?;
    }
    for task in &tasks {
        startup.check("pre-start tasks")?;
        run_one(task, config, startup)?;
    }
    Ok(())
}

fn hook_error(message: String) -> Error {
    Error::new(Kind::Hook, message)
}

/// The files to run, in byte order of their names: dotfiles and directories left out, a file
/// that cannot be executed refused.
fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        hook_error(format!(
            "--hooks / USHER_HOOKS: cannot read the directory {}: {e}; create it or unset the \
             option",
            dir.display()
        ))
    })?;
    let mut names: Vec<OsString> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            hook_error(format!(
                "cannot list pre-start tasks in {}: {e}",
                dir.display()
            ))
        })?;
        let name = entry.file_name();
        if name.as_bytes().starts_with(b".") {
            continue;
        }
        // Kept in byte order as they come, rather than sorted afterwards: a slice sort would
        // link a whole sort implementation (~3 KB) for this one list.
        let at = names.partition_point(|n| n.as_bytes() < name.as_bytes());
        names.insert(at, name);
    }
    let mut tasks = Vec::new();
    for name in names {
        let path = dir.join(&name);
        // Follows symbolic links: a link to a script is the script.
        let meta = std::fs::metadata(&path)
            .map_err(|e| hook_error(format!("pre-start task {}: {e}", path.display())))?;
        if meta.is_dir() {
            crate::log::log_step!(DEBUG, "hooks", "{} is a directory; ignored", path.display());
            continue;
        }
        let executable = meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
            && access(&path, AccessFlags::X_OK).is_ok();
        if !executable {
            return Err(hook_error(format!(
                "pre-start task {} is not executable by this user (mode {:o}): make it \
                 executable (chmod +x) or remove it; a task is never skipped",
                path.display(),
                meta.permissions().mode() & 0o7777
            )));
        }
        tasks.push(path);
    }
    Ok(tasks)
}

/// Runs one task to its end; `Err` unless it exited 0.
fn run_one(path: &Path, config: &Config, startup: &Startup) -> Result<()> {
    let name = path.display().to_string();
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| hook_error(format!("pre-start task {name}: the path has a NUL byte")))?;
    let app = App {
        path: path.to_path_buf(),
        argv: vec![c_path.clone()],
        envp: config.env.to_envp(),
    };
    let inherited = startup.inherited();
    // If usher inherited SIGCHLD ignored, the kernel would reap the task itself and its status
    // would be lost (wait(2), NOTES); the task still gets the inherited disposition back.
    if inherited.ignored & (1 << (Signal::SIGCHLD as i32 - 1)) != 0 {
        crate::sys::set_ignored(Signal::SIGCHLD as i32, false);
    }
    let image = ExecImage::new(c_path, app.argv.clone(), app.envp.clone());
    let started = Instant::now();
    // ETXTBSY: the file is open for writing somewhere — often only for an instant, by a
    // process that forked while writing it (a deploy step, a test harness); tried again a few
    // times before it counts.
    let mut spawned = init_sys::spawn(&image, &inherited, false);
    for _ in 0..20 {
        if !matches!(spawned, Err(SpawnError::Exec(nix::errno::Errno::ETXTBSY))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
        spawned = init_sys::spawn(&image, &inherited, false);
    }
    let child = match spawned {
        Ok(pid) => pid,
        Err(SpawnError::Exec(errno)) => {
            let why = handover::exec_error(&app, errno);
            return Err(hook_error(format!("pre-start task {why}")));
        }
        Err(SpawnError::Fork(e)) => return Err(Error::os(&format!("fork for {name}"), e)),
        Err(SpawnError::Pipe(e)) => return Err(Error::os("pipe2(O_CLOEXEC)", e)),
    };
    debug!(step = "hooks", pid = child.as_raw(), "started {name}");
    let (status, stopped_by) = wait_for(child, config, startup);
    let duration_ms = started.elapsed().as_millis() as u64;
    if let Some(signal) = stopped_by {
        return Err(Error::interrupted(
            signal,
            &format!("pre-start task {name} (it was forwarded the signal and has ended)"),
        ));
    }
    match status {
        Ok(0) => {
            crate::log::timed_line("hooks", duration_ms, format_args!("ran {name}"));
            Ok(())
        }
        Ok(code) if code > 128 => Err(hook_error(format!(
            "pre-start task {name} was killed by {} after {duration_ms} ms; the app was not \
             started",
            crate::exit::signal_name(code - 128)
        ))),
        Ok(code) => Err(hook_error(format!(
            "pre-start task {name} failed with exit status {code} after {duration_ms} ms; the \
             app was not started"
        ))),
        Err(e) => Err(Error::os(&format!("waitpid for pre-start task {name}"), e)),
    }
}

/// Waits for the task; forwards the first stop signal to its group and, with
/// `--stop-timeout`, SIGKILLs the group when it has not ended in time. Returns its exit code
/// (128+N for a death by signal N) and the stop signal that arrived, if any.
fn wait_for(
    child: Pid,
    config: &Config,
    startup: &Startup,
) -> (std::result::Result<i32, nix::errno::Errno>, Option<i32>) {
    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    let mut stopped_by: Option<i32> = None;
    let mut kill_at: Option<Instant> = None;
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return (Ok(code), stopped_by),
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                return (Ok(128 + signal as i32), stopped_by);
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return (Err(e), stopped_by),
        }
        if stopped_by.is_none()
            && let Some(signal) = startup.stop_signal()
        {
            stopped_by = Some(signal);
            crate::log::log_step!(
                INFO,
                "hooks",
                "{} arrived; forwarding it to the running pre-start task",
                crate::exit::signal_name(signal)
            );
            let _ = init_sys::send_signal(-child.as_raw(), signal);
            kill_at = config.init.stop_timeout.map(|t| Instant::now() + t);
        }
        if kill_at.is_some_and(|at| Instant::now() >= at) {
            let _ = init_sys::send_signal(-child.as_raw(), Signal::SIGKILL as i32);
            kill_at = None;
        }
        crate::sys::take_signal(&chld, POLL);
    }
}
