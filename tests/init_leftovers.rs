//! Rule: when the app exits and processes it started are still running (daemons re-parented
//! to usher), usher sends them SIGTERM, waits up to `--stop-timeout` (2 s without it), sends
//! SIGKILL, and exits with the app's status — as PID 1 and as a subreaper.
mod common;

use std::time::{Duration, Instant};

use common::live::{Live, example, require_pid_namespaces, usher_in_pid_namespace};

#[test]
fn a_leftover_daemon_gets_sigterm_and_the_apps_status_is_kept() {
    if !require_pid_namespaces() {
        return;
    }
    let started = Instant::now();
    let mut run = Live::start(
        usher_in_pid_namespace()
            .arg(example("init_daemon"))
            .arg("3"),
    );
    run.expect_code(3);
    assert!(
        run.stdout().contains("daemon got SIGTERM\n"),
        "{}",
        run.describe()
    );
    // It obeyed TERM: no need to wait for the 2 s grace.
    assert!(
        !run.stderr().contains("did not exit within"),
        "{}",
        run.describe()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_leftover_ignoring_sigterm_is_killed_after_the_stop_timeout() {
    if !require_pid_namespaces() {
        return;
    }
    let mut run = Live::start(
        usher_in_pid_namespace()
            .args(["--stop-timeout", "1s"])
            .arg(example("init_daemon"))
            .args(["--ignore-term", "4"]),
    );
    run.wait_for_stdout("daemon ready");
    run.wait_for_stdout("daemon got SIGTERM\n");
    let term_seen = Instant::now();
    run.expect_code(4);
    let took = term_seen.elapsed();
    assert!(
        run.stderr().contains("did not exit within 1s"),
        "{}",
        run.describe()
    );
    // The grace is 1 s from the TERM; the test saw the TERM a little after it was sent.
    assert!(took >= Duration::from_millis(500), "KILL after {took:?}");
    assert!(took < Duration::from_secs(6), "KILL after {took:?}");
}

/// Without `--stop-timeout`, leftovers get `LEFTOVER_GRACE` (2 s).
#[test]
fn without_a_stop_timeout_leftovers_get_two_seconds() {
    if !require_pid_namespaces() {
        return;
    }
    let mut run = Live::start(
        usher_in_pid_namespace()
            .arg(example("init_daemon"))
            .args(["--ignore-term", "0"]),
    );
    run.wait_for_stdout("daemon got SIGTERM\n");
    let term_seen = Instant::now();
    run.expect_code(0);
    let took = term_seen.elapsed();
    assert!(
        run.stderr().contains("SIGKILL after 2s"),
        "{}",
        run.describe()
    );
    assert!(took >= Duration::from_millis(1500), "KILL after {took:?}");
}

/// As a subreaper (`--init always`, not PID 1) the leftovers are found among usher's
/// descendants (kill(-1) would reach the whole machine) and terminated the same way; none
/// survives usher.
#[test]
fn as_a_subreaper_leftovers_are_terminated_too() {
    let mut run = Live::start(
        common::usher()
            .args(["--init", "always", "--stop-timeout", "500ms"])
            .arg(example("init_daemon"))
            .args(["--ignore-term", "5"]),
    );
    run.wait_for_stdout("daemon ready pid=");
    run.expect_code(5);
    let out = run.stdout();
    assert!(out.contains("daemon got SIGTERM\n"), "{}", run.describe());
    let pid: i32 = out
        .split("daemon ready pid=")
        .nth(1)
        .and_then(|s| s.lines().next())
        .and_then(|s| s.trim().parse().ok())
        .expect("the daemon's pid");
    // usher reaped it before exiting: no process, not even a zombie.
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "daemon {pid} survived usher\n{}",
        run.describe()
    );
}
