//! Rule: with `--signal-group` usher forwards signals to the app's whole process group, so a
//! grandchild gets them too; without it, only the app does.
mod common;

use common::live::{
    Live, example, namespace_init, require_pid_namespaces, send, usher_in_pid_namespace,
};
use nix::sys::signal::Signal;

fn start(group: bool) -> (Live, i32) {
    let mut cmd = usher_in_pid_namespace();
    if group {
        cmd.arg("--signal-group");
    }
    cmd.arg(example("init_sigprint")).arg("--spawn-grandchild");
    let mut run = Live::start(&mut cmd);
    let usher = namespace_init(&mut run);
    run.wait_for_stdout("grandchild ready");
    run.wait_for_stdout("child ready");
    (run, usher)
}

#[test]
fn signal_group_reaches_a_grandchild() {
    if !require_pid_namespaces() {
        return;
    }
    let (mut run, usher) = start(true);
    send(usher, Signal::SIGUSR1);
    run.wait_for_stdout("grandchild got SIGUSR1\n");
    run.wait_for_stdout("\nchild got SIGUSR1\n");
    // TERM ends both: the app and its grandchild print it and exit.
    send(usher, Signal::SIGTERM);
    run.expect_code(0);
    assert!(
        run.stdout().contains("grandchild got SIGTERM"),
        "{}",
        run.describe()
    );
}

/// The control: without `--signal-group`, the grandchild does not get the signal.
#[test]
fn without_signal_group_only_the_app_gets_it() {
    if !require_pid_namespaces() {
        return;
    }
    let (mut run, usher) = start(false);
    send(usher, Signal::SIGUSR1);
    run.wait_for_stdout("\nchild got SIGUSR1\n");
    // Then TERM: the app exits, and the grandchild gets TERM only as a leftover.
    send(usher, Signal::SIGTERM);
    run.expect_code(0);
    assert!(
        !run.stdout().contains("grandchild got SIGUSR1"),
        "{}",
        run.describe()
    );
}
