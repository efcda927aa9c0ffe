//! The supervisor loop: start the app as a child, forward every signal to it, reap every
//! zombie, stop it for good after `--stop-timeout`, terminate what it leaves behind, and
//! return its exit status.
//!
//! The loop is tini's: wait for one signal and forward it, then reap everything reapable with
//! `waitpid(-1, WNOHANG)`. Unlike tini it waits without a timeout (zero wake-ups while idle):
//! SIGCHLD is blocked and in the waited set, so a child that exits at any moment leaves
//! SIGCHLD pending and the next wait returns at once; SIGCHLDs that coalesce are harmless
//! because the reap loop takes every finished child. A timeout is armed only while a
//! `--stop-timeout` deadline is running.

use std::ffi::{CString, c_int};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::unistd::Pid;
use tracing::{debug, info};

use super::sys::{self, ExecImage, SpawnError};
use crate::config::{InitSettings, LEFTOVER_GRACE};

/// How long the other members of a SIGKILLed process group get to be gone before they count
/// as left behind (on a loaded machine the kernel can take a moment to finish them).
const GROUP_KILL_SETTLE: Duration = Duration::from_millis(200);
use crate::exit::{Error, Result};
use crate::handover::{self, App};
use crate::signals::{self, Inherited};

/// Why orphans come back to usher, if they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reaper {
    /// The namespace's init: the kernel re-parents every orphan to it.
    Pid1,
    /// Registered with PR_SET_CHILD_SUBREAPER: orphans among its descendants come to it.
    Subreaper,
    /// Neither: orphans go to the real init.
    No,
}

/// Runs `app` under supervision; returns its exit code (its status, or 128+N).
pub fn run(app: &App, settings: &InitSettings, inherited: &Inherited) -> Result<i32> {
    // 1. Make orphans come back to usher.
    let reaper = register_reaper();
    // 2. Set usher's own dispositions for supervising.
    let waited = configure_signals()?;
    // 3. A stop signal that arrived after the last start-up check: the app never starts. Any
    //    other signal from start-up is dropped: the app could not handle it yet.
    refuse_pending_stop()?;
    signals::drop_early_signals(&waited, "init");
    // 4. Start the app in its own process group.
    let child = spawn_app(app, inherited)?;
    info!(
        step = "init",
        pid = child.as_raw(),
        "started {} and supervising it{}",
        app.name(),
        match reaper {
            Reaper::Pid1 => " as PID 1",
            Reaper::Subreaper => " as child subreaper",
            Reaper::No => "",
        }
    );
    let mut supervisor = Supervisor {
        settings,
        reaper,
        child,
        waited,
        kill_at: None,
        group_killed: false,
    };
    // 5. Forward and reap until the app exits.
    let code = supervisor.supervise_app();
    crate::log::log_step!(INFO, "init", "{} exited with status {code}", app.name());
    // 6. Terminate what it left behind, then pass its status on.
    supervisor.terminate_leftovers();
    Ok(code)
}

/// As PID 1 the kernel already re-parents orphans to usher; otherwise register as a child
/// subreaper (prctl(2) PR_SET_CHILD_SUBREAPER, Linux 3.4), as `tini -s` does.
fn register_reaper() -> Reaper {
    if nix::unistd::getpid().as_raw() == 1 {
        return Reaper::Pid1;
    }
    match nix::sys::prctl::set_child_subreaper(true) {
        Ok(()) => Reaper::Subreaper,
        Err(e) => {
            crate::log::log_step!(
                WARN,
                "init",
                "prctl(PR_SET_CHILD_SUBREAPER) failed: {e}; orphans of the app will not be \
                 reaped by usher: run usher as the container's first process (ENTRYPOINT), \
                 where it is PID 1"
            );
            Reaper::No
        }
    }
}

/// usher's own signal set-up while it supervises; returns the set the loop waits for.
///
/// - SIGCHLD back to its default: if usher inherited it ignored, the kernel would reap the
///   children itself and the app's status would be lost (wait(2), NOTES). The app still gets
///   the inherited disposition back (`Inherited::restore`).
/// - SIGTTIN and SIGTTOU ignored and not forwarded, as tini does: once the app's group owns
///   the terminal, usher is a background process, and writing its log to a terminal with
///   `tostop` set must not stop it. Ignored, they are discarded on arrival, so they are
///   unblocked too.
/// - Everything else stays blocked (since `Startup::begin`) and is waited for.
fn configure_signals() -> Result<SigSet> {
    crate::sys::set_ignored(Signal::SIGCHLD as c_int, false);
    let mut tty = SigSet::empty();
    for s in [Signal::SIGTTIN, Signal::SIGTTOU] {
        crate::sys::set_ignored(s as c_int, true);
        tty.add(s);
    }
    pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&tty), None)
        .map_err(|e| Error::os("sigprocmask(SIG_UNBLOCK, SIGTTIN SIGTTOU)", e))?;
    let mut waited = signals::blockable();
    for s in tty.iter() {
        waited.remove(s);
    }
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&waited), None)
        .map_err(|e| Error::os("sigprocmask(SIG_BLOCK)", e))?;
    Ok(waited)
}

/// A TERM, INT or QUIT still pending from start-up ends usher with 128+N, before the app
/// starts, as during the rest of start-up.
fn refuse_pending_stop() -> Result<()> {
    let pending = sys::pending_bits();
    match signals::STOP
        .iter()
        .find(|s| pending & (1 << (**s as i32 - 1)) != 0)
    {
        Some(s) => Err(Error::interrupted(*s as i32, "start-up")),
        None => Ok(()),
    }
}

/// Forks and execs the app. When stdin is the terminal and usher's group is its foreground
/// group (`docker run -it`), the app's group becomes the foreground group, so Ctrl-C and job
/// control reach the app directly. Without a terminal nothing is attempted (no errors), and
/// a usher started in the background never steals the terminal (tini's spawn() leaves that
/// as a TODO).
fn spawn_app(app: &App, inherited: &Inherited) -> Result<Pid> {
    let path = CString::new(app.path.as_os_str().as_bytes())
        .map_err(|_| Error::usage("the program path contains a NUL byte"))?;
    let image = ExecImage::new(path, app.argv.clone(), app.envp.clone());
    let stdin = std::io::stdin();
    let foreground = nix::unistd::isatty(&stdin).unwrap_or(false)
        && nix::unistd::tcgetpgrp(&stdin).ok() == Some(nix::unistd::getpgrp());
    debug!(step = "init", foreground, "starting {}", app.name());
    match sys::spawn(&image, inherited, foreground) {
        Ok(pid) => Ok(pid),
        // The same 126/127 and message as a failed exec in exec mode.
        Err(SpawnError::Exec(errno)) => Err(handover::exec_error(app, errno)),
        Err(SpawnError::Fork(e)) => Err(Error::os(&format!("fork for {}", app.name()), e)),
        Err(SpawnError::Pipe(e)) => Err(Error::os("pipe2(O_CLOEXEC)", e)),
    }
}

struct Supervisor<'a> {
    settings: &'a InitSettings,
    reaper: Reaper,
    /// The app; also its process group's id.
    child: Pid,
    waited: SigSet,
    /// When the app gets SIGKILL: armed by the first terminating signal forwarded under
    /// `--stop-timeout`, never extended by later ones.
    kill_at: Option<Instant>,
    /// The app's process group got SIGKILL (`kill_app`).
    group_killed: bool,
}

impl Supervisor<'_> {
    /// Waits for signals and forwards them until the app has exited; returns its exit code.
    fn supervise_app(&mut self) -> i32 {
        let released = sys::release_code_pages();
        debug!(
            step = "init",
            released_kb = released / 1024,
            "released start-up code pages"
        );
        loop {
            if let Some(code) = self.reap_zombies() {
                return code;
            }
            // Before each wait, give back the code pages the last wake-up mapped (64 KiB at a
            // time), so the idle supervisor holds only what waiting needs: about 250 KB instead
            // of 500 KB of VmRSS (docs/init.md). It costs one madvise per signal and a few
            // minor faults on the next one, microseconds against the milliseconds an app
            // takes to react.
            sys::release_code_pages();
            let timeout = self
                .kill_at
                .map(|at| at.saturating_duration_since(Instant::now()));
            match sys::wait_signal(&self.waited, timeout) {
                Some(signal) if signal == Signal::SIGCHLD as c_int => {}
                Some(signal) => self.forward_signal(signal),
                None if self.kill_at.is_some_and(|at| Instant::now() >= at) => self.kill_app(),
                None => {}
            }
        }
    }

    /// Reaps every finished child; returns the app's exit code when it was among them.
    fn reap_zombies(&self) -> Option<i32> {
        let mut app_code = None;
        loop {
            match sys::reap_one() {
                Ok(Some((pid, status))) if pid == self.child => {
                    app_code = sys::exit_code(status);
                }
                Ok(Some((pid, status))) => {
                    debug!(
                        step = "init",
                        pid = pid.as_raw(),
                        status = sys::exit_code(status),
                        "reaped an orphan"
                    );
                }
                Ok(None) | Err(Errno::ECHILD) => return app_code,
                Err(e) => {
                    crate::log::log_step!(WARN, "init", "waitpid(-1, WNOHANG) failed: {e}");
                    return app_code;
                }
            }
        }
    }

    /// Forwards `signal` to the app (or its group), after `--rewrite-signal`; arms the
    /// stop timeout when it is a terminating one.
    fn forward_signal(&mut self, signal: c_int) {
        let name = crate::exit::signal_name(signal);
        let sent = match self
            .settings
            .rewrite
            .iter()
            .find(|r| r.from as c_int == signal)
        {
            Some(r) => r.to.map(|s| s as c_int),
            None => Some(signal),
        };
        let Some(sent) = sent else {
            crate::log::log_step!(DEBUG, "init", "dropped {name} (--rewrite-signal)");
            return;
        };
        let target = if self.settings.signal_group {
            -self.child.as_raw()
        } else {
            self.child.as_raw()
        };
        match sys::send_signal(target, sent) {
            Ok(()) => crate::log::log_step!(
                DEBUG,
                "init",
                "forwarded {name} as {}",
                crate::exit::signal_name(sent)
            ),
            // The app exited and is not reaped yet: the next reap sees it.
            Err(Errno::ESRCH) => {
                crate::log::log_step!(DEBUG, "init", "{name} not forwarded: the app is gone")
            }
            Err(e) => crate::log::log_step!(
                WARN,
                "init",
                "kill({target}, {}) failed: {e}; the app did not get {name}",
                crate::exit::signal_name(sent)
            ),
        }
        let terminating = |s: c_int| signals::STOP.iter().any(|t| *t as c_int == s);
        if let Some(timeout) = self.settings.stop_timeout
            && self.kill_at.is_none()
            && (terminating(signal) || terminating(sent))
        {
            self.kill_at = Some(Instant::now() + timeout);
            crate::log::log_step!(
                INFO,
                "init",
                "{name} forwarded; SIGKILL in {} unless the app exits (--stop-timeout)",
                seconds(timeout)
            );
        }
    }

    /// The stop timeout expired: SIGKILL the app's whole process group. The app's status
    /// is then 128+9, reported as usual.
    fn kill_app(&mut self) {
        let timeout = self.settings.stop_timeout.unwrap_or_default();
        crate::log::log_step!(
            WARN,
            "init",
            "the app did not exit within {} of the stop signal; sending SIGKILL to its process \
             group (raise --stop-timeout if it needs longer)",
            seconds(timeout)
        );
        let kill = Signal::SIGKILL as c_int;
        // The group first (what the app started dies with it), then the app itself in case it
        // left its group with setsid(2).
        let _ = sys::send_signal(-self.child.as_raw(), kill);
        let _ = sys::send_signal(self.child.as_raw(), kill);
        self.kill_at = None;
        self.group_killed = true;
    }

    /// After the app exited: when processes it started are still running (daemons,
    /// background jobs re-parented to usher), send them SIGTERM, give them `--stop-timeout`
    /// (or `LEFTOVER_GRACE`) to exit, then SIGKILL them. Returns at once when none is left.
    fn terminate_leftovers(&self) {
        // The app's group was killed with it: its other members have SIGKILL pending and are
        // gone within moments (the app's own exit can be reaped first); they are not left
        // behind.
        if self.group_killed {
            let until = Instant::now() + GROUP_KILL_SETTLE;
            while self.children_remain() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        if !self.children_remain() {
            return;
        }
        let grace = self.settings.stop_timeout.unwrap_or(LEFTOVER_GRACE);
        crate::log::log_step!(
            INFO,
            "init",
            "the app left processes behind; sending them SIGTERM, and SIGKILL after {}",
            seconds(grace)
        );
        self.signal_leftovers(Signal::SIGTERM);
        if self.wait_for_leftovers(grace) {
            crate::log::log_step!(INFO, "init", "the processes left behind have exited");
            return;
        }
        crate::log::log_step!(
            WARN,
            "init",
            "processes left behind by the app did not exit within {} of SIGTERM; sending \
             SIGKILL (set --stop-timeout to give them longer)",
            seconds(grace)
        );
        self.signal_leftovers(Signal::SIGKILL);
        // SIGKILL cannot be caught, but a process in uninterruptible sleep dies only when it
        // wakes: do not hang on it. As PID 1, usher's exit kills it anyway (pid_namespaces(7)).
        self.wait_for_leftovers(Duration::from_secs(1));
    }

    /// Reaps children for up to `limit`; true once none is left.
    fn wait_for_leftovers(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        loop {
            if !self.children_remain() {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Some(signal) = sys::wait_signal(&self.waited, Some(left))
                && signal != Signal::SIGCHLD as c_int
            {
                crate::log::log_step!(
                    DEBUG,
                    "init",
                    "{} not forwarded: the app has exited",
                    crate::exit::signal_name(signal)
                );
            }
        }
    }

    /// Reaps what has finished; true when children remain.
    fn children_remain(&self) -> bool {
        loop {
            match sys::reap_one() {
                Ok(Some(_)) => continue,
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Sends `signal` to what the app left behind.
    fn signal_leftovers(&self, signal: Signal) {
        match self.reaper {
            // From a namespace's init, kill(-1) reaches every other process of the namespace
            // (kill(2)): exactly those the kernel kills when usher exits (pid_namespaces(7)).
            Reaper::Pid1 => {
                if let Err(e) = sys::send_signal(-1, signal as c_int) {
                    crate::log::log_step!(
                        DEBUG,
                        "init",
                        "kill(-1, {}) failed: {e}",
                        signal.as_str()
                    );
                }
            }
            // Elsewhere kill(-1) would reach the whole machine: only usher's descendants.
            Reaper::Subreaper | Reaper::No => match descendants(nix::unistd::getpid().as_raw()) {
                Ok(pids) => {
                    for pid in pids {
                        let _ = sys::send_signal(pid, signal as c_int);
                    }
                }
                Err(e) => crate::log::log_step!(
                    WARN,
                    "init",
                    "cannot list /proc to find the processes the app left behind: {e}; they \
                     keep running: mount /proc, or run usher as PID 1"
                ),
            },
        }
    }
}

/// Every descendant of `root`, from the parent links in /proc/PID/stat.
fn descendants(root: i32) -> std::io::Result<Vec<i32>> {
    let mut links = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Some(pid) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        // Gone since the listing: skip.
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            && let Some(ppid) = parent_of(&stat)
        {
            links.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            links
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    Ok(found)
}

/// The parent PID in a /proc/PID/stat line: `pid (comm) state ppid …`, where comm may hold
/// spaces and parentheses, so the fields start after the last `)` (proc(5)).
fn parent_of(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// `8s`, `1.5s`, `250ms`, for messages.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_from_stat_with_awkward_command_names() {
        assert_eq!(parent_of("42 (sleep) S 7 42 42 0 -1"), Some(7));
        assert_eq!(parent_of("42 (a) b (c) R 1 42 42"), Some(1));
        assert_eq!(parent_of("42 (x y) Z 300 0"), Some(300));
        assert_eq!(parent_of("garbage"), None);
    }

    #[test]
    fn durations_for_messages() {
        assert_eq!(seconds(Duration::from_secs(8)), "8s");
        assert_eq!(seconds(Duration::from_millis(250)), "250ms");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn own_descendants_are_found() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let found = descendants(std::process::id() as i32).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.contains(&(child.id() as i32)), "{found:?}");
    }
}
