//! Rule: the app starts with the signal mask and dispositions usher itself was started with,
//! not with usher's internal blocking: a signal ignored by usher's parent stays ignored in the
//! app, a blocked one stays blocked, and nothing else is (tini's `sigconf` test).
mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;

use common::live::{Live, require_pid_namespaces, usher_in_pid_namespace};
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal};

/// Makes `cmd` start with `ignored` set to SIG_IGN and `blocked` in its mask.
fn with_signal_state(cmd: &mut Command, ignored: &'static [Signal], blocked: &'static [Signal]) {
    // SAFETY: sigaction and sigprocmask are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            for s in ignored {
                nix::sys::signal::signal(*s, SigHandler::SigIgn).map_err(std::io::Error::from)?;
            }
            let mut set = SigSet::empty();
            for s in blocked {
                set.add(*s);
            }
            nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&set), None)
                .map_err(std::io::Error::from)
        });
    }
}

/// `(SigBlk, SigIgn)` as printed by `cat /proc/self/status`, for the standard signals 1-31.
///
/// The first real-time signals (32-33 with glibc, 32-34 with musl) belong to the C library:
/// sigaction(2) refuses them, so no program (usher, tini, unshare) can reset them, and their
/// state depends on how the test itself was started (a glibc posix_spawn leaves them ignored).
fn masks(run: &Live) -> (u64, u64) {
    let out = run.stdout();
    let field = |name: &str| {
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} line\n{}", run.describe()));
        u64::from_str_radix(line.trim(), 16).unwrap() & 0x7fff_ffff
    };
    (field("SigBlk:"), field("SigIgn:"))
}

fn bit(s: Signal) -> u64 {
    1 << (s as i32 - 1)
}

#[test]
fn as_pid_1_the_app_gets_the_inherited_mask_and_dispositions() {
    if !require_pid_namespaces() {
        return;
    }
    const IGNORED: &[Signal] = &[Signal::SIGUSR1, Signal::SIGHUP];
    const BLOCKED: &[Signal] = &[Signal::SIGUSR2, Signal::SIGWINCH];
    // The control: the same app under unshare without usher (unshare restores the mask it
    // changed for itself before it runs its child).
    let mut control = Command::new("unshare");
    control.args([
        "--pid",
        "--fork",
        "--mount-proc",
        "cat",
        "/proc/self/status",
    ]);
    with_signal_state(&mut control, IGNORED, BLOCKED);
    let mut control = Live::start(&mut control);
    control.expect_code(0);
    let expected = masks(&control);

    let mut cmd = usher_in_pid_namespace();
    cmd.args(["cat", "/proc/self/status"]);
    with_signal_state(&mut cmd, IGNORED, BLOCKED);
    let mut run = Live::start(&mut cmd);
    run.expect_code(0);
    let (blocked, ignored) = masks(&run);
    assert_eq!((blocked, ignored), expected, "\n{}", run.describe());
    assert_eq!(blocked, bit(Signal::SIGUSR2) | bit(Signal::SIGWINCH));
    assert_eq!(ignored, bit(Signal::SIGUSR1) | bit(Signal::SIGHUP));
}

/// As a subreaper too; and an inherited ignored SIGCHLD, which would make the kernel reap the
/// app behind usher's back, is given back to the app while usher still gets its status.
#[test]
fn as_a_subreaper_too_with_sigchld_ignored() {
    const IGNORED: &[Signal] = &[Signal::SIGUSR1, Signal::SIGCHLD, Signal::SIGPIPE];
    const BLOCKED: &[Signal] = &[Signal::SIGUSR2];
    let mut cmd = common::usher();
    cmd.args(["--init", "always", "cat", "/proc/self/status"]);
    with_signal_state(&mut cmd, IGNORED, BLOCKED);
    let mut run = Live::start(&mut cmd);
    run.expect_code(0);
    assert!(run.stderr().contains("subreaper"), "{}", run.describe());
    let (blocked, ignored) = masks(&run);
    assert_eq!(blocked, bit(Signal::SIGUSR2), "\n{}", run.describe());
    assert_eq!(
        ignored,
        bit(Signal::SIGUSR1) | bit(Signal::SIGCHLD) | bit(Signal::SIGPIPE),
        "\n{}",
        run.describe()
    );

    let mut cmd = common::usher();
    cmd.args(["--init", "always", "sh", "-c", "exit 7"]);
    with_signal_state(&mut cmd, IGNORED, BLOCKED);
    let mut run = Live::start(&mut cmd);
    run.expect_code(7);
}

/// Nothing inherited: the app starts with an empty mask and no ignored signal, although usher
/// blocks nearly everything while it runs.
#[test]
fn nothing_inherited_means_nothing_blocked() {
    let mut cmd = common::usher();
    cmd.args(["--init", "always", "cat", "/proc/self/status"]);
    with_signal_state(&mut cmd, &[], &[]);
    let mut run = Live::start(&mut cmd);
    run.expect_code(0);
    assert_eq!(masks(&run), (0, 0), "\n{}", run.describe());
}
