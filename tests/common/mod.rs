//! Shared helpers for the integration tests: they run the real `usher` binary.
//!
//! Each test file includes this with `mod common;`. A helper not used by every file is fine:
//! the `allow(dead_code)` below keeps per-file builds quiet.
#![allow(dead_code)]

pub mod live;
pub mod loopback;
pub mod tools;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The usher binary cargo built for these tests.
pub fn usher_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_usher"))
}

/// A helper program from `examples/` (e.g. `init_sigprint`). `cargo test` builds the examples
/// into target/debug/examples/, next to the usher binary's directory; `cargo test --test NAME`
/// alone does not, so run `cargo build --examples` first when iterating on one file.
pub fn example_path(name: &str) -> PathBuf {
    let path = usher_path()
        .parent()
        .expect("the usher binary has a directory")
        .join("examples")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo test` (which builds the examples) or `cargo build --examples`",
        path.display()
    );
    path
}

/// A `Command` for usher with a clean, predictable environment: only PATH is kept, so the
/// developer's own `USHER_*` or `DATABASE_URL` cannot leak into a test. It runs in `/`, not in
/// the checkout, whose example `migrations/` directory would otherwise be picked up (a test
/// that wants a working directory sets its own).
pub fn usher() -> Command {
    let mut cmd = Command::new(usher_path());
    cmd.current_dir("/");
    cmd.env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd.stdin(Stdio::null());
    cmd
}

/// Whether the tests run in CI, where a missing prerequisite is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Skips the calling test loudly when `why` is missing; fails it under `CI=true`.
/// Returns `false` when the test must return early.
#[must_use]
pub fn prerequisite(available: bool, why: &str) -> bool {
    if available {
        return true;
    }
    if in_ci() {
        panic!("prerequisite missing in CI: {why}");
    }
    eprintln!("\n*** SKIPPED: {why} (this test fails under CI=true) ***\n");
    false
}

/// Root is needed (privilege drop, namespaces, chown).
#[must_use]
pub fn require_root() -> bool {
    prerequisite(
        nix::unistd::geteuid().is_root(),
        "this test needs root (privilege drop, namespaces); run the suite as root",
    )
}

/// A system tool is needed on PATH.
#[must_use]
pub fn require_tool(tool: &str) -> bool {
    prerequisite(
        which(tool).is_some(),
        &format!("this test needs `{tool}` on PATH; .ci/run installs it"),
    )
}

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// Runs a command to completion; on any later assertion failure the caller can print it.
pub fn run(cmd: &mut Command) -> Run {
    let shown = format!("{cmd:?}");
    let output = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    Run { shown, output }
}

/// A finished command with helpers that print everything when an expectation fails.
pub struct Run {
    pub shown: String,
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Everything the command printed, for "never prints a password" checks.
    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout(), self.stderr())
    }

    pub fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.shown,
            self.output.status,
            self.stdout(),
            self.stderr()
        )
    }

    /// Asserts the exit code, printing the command and its output otherwise.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), Some(code), "\n{}", self.describe());
        self
    }

    #[track_caller]
    pub fn expect_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr().contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn expect_stdout_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout().contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.describe()
        );
        self
    }
}

/// A fresh temporary directory, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "usher-test-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Quotes for `sh -c` scripts built in tests.
pub fn sh_quote(s: impl AsRef<OsStr>) -> String {
    let s = s.as_ref().to_string_lossy();
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A command that runs `setup` (a shell script whose positional parameters are the first
/// arguments added to the command) in a private mount namespace, then execs the rest of its
/// arguments: `setup` ends with `shift N && exec "$@"`. The namespace disappears with the
/// process, so bind mounts over /etc never leak into the host.
pub fn in_mount_namespace(setup: &str) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        setup,
        "sh",
    ])
    .current_dir("/")
    .env_clear()
    .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    cmd
}
