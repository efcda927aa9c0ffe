//! Processes a test watches while they run (init mode): output gathered line by line as it
//! comes, readiness polled instead of slept for, signals sent from outside, exits waited for
//! with a time limit. Also the PID-namespace helpers: a test starts usher as PID 1 of a fresh
//! namespace with `unshare --pid --fork --mount-proc` and signals it from outside, as
//! `docker stop` does.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// How long to wait for something that must happen: generous, for a loaded 2-core CI machine.
pub const READY: Duration = Duration::from_secs(30);

/// A running command with its output collected in the background.
pub struct Live {
    child: Child,
    shown: String,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Live {
    /// Starts `cmd` with stdout and stderr captured; stdin as the command set it.
    pub fn start(cmd: &mut Command) -> Live {
        Live::spawn(cmd, false)
    }

    /// Like `start`, with a pipe to the command's stdin (`write_stdin`).
    pub fn start_with_stdin(cmd: &mut Command) -> Live {
        Live::spawn(cmd, true)
    }

    fn spawn(cmd: &mut Command, with_stdin: bool) -> Live {
        let shown = format!("{cmd:?}");
        if with_stdin {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Live {
            stdin: child.stdin.take(),
            child,
            shown,
            stdout,
            stderr,
            readers,
            status: None,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    pub fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.shown,
            self.status,
            self.stdout(),
            self.stderr()
        )
    }

    pub fn write_stdin(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("started with start_with_stdin");
        stdin.write_all(bytes).expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Waits until stdout contains `needle`; panics with everything printed otherwise.
    #[track_caller]
    pub fn wait_for_stdout(&mut self, needle: &str) {
        self.wait_until(&format!("stdout to contain {needle:?}"), |l| {
            l.stdout().contains(needle)
        });
    }

    /// Waits until stderr contains `needle`; panics with everything printed otherwise.
    #[track_caller]
    pub fn wait_for_stderr(&mut self, needle: &str) {
        self.wait_until(&format!("stderr to contain {needle:?}"), |l| {
            l.stderr().contains(needle)
        });
    }

    /// Polls `done` every 10 ms for up to `READY`; panics (describing the run) otherwise, or
    /// when the command exits first.
    #[track_caller]
    pub fn wait_until(&mut self, what: &str, mut done: impl FnMut(&Live) -> bool) {
        let until = Instant::now() + READY;
        while Instant::now() < until {
            if done(self) {
                return;
            }
            if self.poll_exit().is_some() {
                self.join_readers();
                if done(self) {
                    return;
                }
                panic!("exited while waiting for {what}\n{}", self.describe());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("waited {READY:?} for {what}\n{}", self.describe());
    }

    fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// The exit status once the command exits within `limit`; `None` if it is still running.
    pub fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = self.poll_exit() {
                return Some(status);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits up to `READY` for the exit, then for the output; returns the exit code.
    #[track_caller]
    pub fn expect_exit(&mut self) -> i32 {
        let Some(status) = self.exit_within(READY) else {
            panic!("still running after {READY:?}\n{}", self.describe());
        };
        self.join_readers();
        status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal\n{}", self.describe()))
    }

    /// Waits up to `READY` for the exit; asserts the code, printing everything otherwise.
    #[track_caller]
    pub fn expect_code(&mut self, code: i32) {
        let got = self.expect_exit();
        assert_eq!(got, code, "\n{}", self.describe());
    }

    /// Output readers end when every process holding the pipes is gone; a leftover process
    /// would hold them, so wait a bounded time.
    fn join_readers(&mut self) {
        let until = Instant::now() + Duration::from_secs(5);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if self.poll_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn collect(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

/// `unshare --pid --fork --mount-proc --kill-child usher`: usher as PID 1 of a new PID
/// namespace, with the clean environment of `common::usher()`. `--kill-child` makes a test that
/// gives up (dropping its `Live`) take the whole namespace down with it.
pub fn usher_in_pid_namespace() -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
    cmd.arg(super::usher_path());
    cmd.current_dir("/");
    cmd.env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd.stdin(Stdio::null());
    cmd
}

/// Whether PID namespaces can be made here (root, unshare present, kernel allows it).
#[must_use]
pub fn require_pid_namespaces() -> bool {
    super::require_root() && super::require_tool("unshare")
}

/// The children of `pid`, from /proc/PID/task/PID/children (Linux 3.5).
pub fn children_of(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The host PID of the namespace's PID 1 (usher): unshare's only child. Waits for it.
#[track_caller]
pub fn namespace_init(live: &mut Live) -> i32 {
    let unshare = live.pid();
    let mut found = 0;
    live.wait_until("unshare to fork the namespace's init", |_| {
        children_of(unshare).first().is_some_and(|p| {
            found = *p;
            true
        })
    });
    found
}

/// Waits until `parent` has a child whose command name (comm) is `comm`; returns its PID.
#[track_caller]
pub fn wait_for_child_named(live: &mut Live, parent: i32, comm: &str) -> i32 {
    let found = std::cell::Cell::new(0);
    live.wait_until(&format!("pid {parent} to run a child named {comm}"), |_| {
        children_of(parent).into_iter().any(|c| {
            let hit = command_name(c).as_deref() == Some(comm);
            if hit {
                found.set(c);
            }
            hit
        })
    });
    found.get()
}

pub fn command_name(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// A field of /proc/PID/status, e.g. `VmRSS` or `voluntary_ctxt_switches`.
pub fn status_field(pid: i32, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

/// Sends `signal` from outside, as `docker stop` or `docker kill -s` does.
#[track_caller]
pub fn send(pid: i32, signal: Signal) {
    nix::sys::signal::kill(Pid::from_raw(pid), signal)
        .unwrap_or_else(|e| panic!("kill({pid}, {signal}) failed: {e}"));
}

/// A test helper program built from `examples/` (see `super::example_path`).
pub fn example(name: &str) -> PathBuf {
    super::example_path(name)
}
