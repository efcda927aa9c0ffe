//! Rule: with `--stop-timeout T`, an app that has not exited T after a forwarded TERM, INT or
//! QUIT (or the signal one of them was rewritten to) gets SIGKILL on its process group, and
//! usher exits 137 (128+9); without it, usher never escalates.
mod common;

use std::time::{Duration, Instant};

use common::live::{
    Live, example, namespace_init, require_pid_namespaces, send, usher_in_pid_namespace,
};
use nix::sys::signal::Signal;

/// An app that ignores TERM (prints it and keeps running), under `--stop-timeout 1s`.
fn start(extra: &[&str]) -> (Live, i32) {
    let mut run = Live::start(
        usher_in_pid_namespace()
            .args(["--stop-timeout", "1s"])
            .args(extra)
            .arg(example("init_sigprint"))
            .args(["--exit-on", "none"]),
    );
    let usher = namespace_init(&mut run);
    run.wait_for_stdout("child ready");
    (run, usher)
}

#[test]
fn an_app_ignoring_sigterm_is_killed_after_the_timeout() {
    if !require_pid_namespaces() {
        return;
    }
    let (mut run, usher) = start(&[]);
    let sent = Instant::now();
    send(usher, Signal::SIGTERM);
    run.wait_for_stdout("child got SIGTERM");
    run.expect_code(137);
    let took = sent.elapsed();
    // Not before the timeout (a few ms of clock slack), and well before `docker stop`'s 10 s.
    assert!(took >= Duration::from_millis(950), "killed after {took:?}");
    assert!(took < Duration::from_secs(6), "killed after {took:?}");
    assert!(run.stderr().contains("SIGKILL"), "{}", run.describe());
}

/// TERM rewritten to WINCH (Apache httpd's graceful stop): it arms the timeout just the same.
#[test]
fn a_rewritten_stop_signal_arms_the_timeout() {
    if !require_pid_namespaces() {
        return;
    }
    let (mut run, usher) = start(&["--rewrite-signal", "TERM:WINCH"]);
    send(usher, Signal::SIGTERM);
    run.wait_for_stdout("child got SIGWINCH");
    run.expect_code(137);
}

/// A signal that is not a stop signal does not arm it, and a TERM rewritten to 0 (dropped)
/// does not either: the app is still running after twice the timeout.
#[test]
fn other_signals_do_not_arm_the_timeout() {
    if !require_pid_namespaces() {
        return;
    }
    let (mut run, usher) = start(&["--rewrite-signal", "TERM:0"]);
    send(usher, Signal::SIGUSR1);
    send(usher, Signal::SIGTERM);
    run.wait_for_stdout("child got SIGUSR1");
    assert!(
        run.exit_within(Duration::from_secs(2)).is_none(),
        "escalated without a stop signal\n{}",
        run.describe()
    );
}

/// The control: without `--stop-timeout`, the TERM-ignoring app keeps running.
#[test]
fn without_a_stop_timeout_usher_never_escalates() {
    if !require_pid_namespaces() {
        return;
    }
    let mut run = Live::start(
        usher_in_pid_namespace()
            .arg(example("init_sigprint"))
            .args(["--exit-on", "none"]),
    );
    let usher = namespace_init(&mut run);
    run.wait_for_stdout("child ready");
    send(usher, Signal::SIGTERM);
    run.wait_for_stdout("child got SIGTERM");
    assert!(
        run.exit_within(Duration::from_secs(3)).is_none(),
        "the app was stopped without --stop-timeout\n{}",
        run.describe()
    );
}

/// The KILL goes to the app's process group: a grandchild that ignores TERM dies too, and no
/// leftover grace is needed afterwards.
#[test]
fn the_kill_reaches_the_apps_process_group() {
    if !require_pid_namespaces() {
        return;
    }
    let mut run = Live::start(
        usher_in_pid_namespace()
            .args(["--stop-timeout", "1s"])
            .arg(example("init_sigprint"))
            .args(["--exit-on", "none", "--spawn-grandchild"]),
    );
    let usher = namespace_init(&mut run);
    run.wait_for_stdout("grandchild ready");
    run.wait_for_stdout("child ready");
    send(usher, Signal::SIGTERM);
    run.expect_code(137);
    assert!(
        !run.stderr().contains("left processes behind"),
        "the grandchild survived the group KILL\n{}",
        run.describe()
    );
}
