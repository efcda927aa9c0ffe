//! Rule: `--rewrite-signal FROM:TO` forwards FROM as TO (e.g. TERM:QUIT for a graceful nginx
//! stop), and `FROM:0` drops FROM, as dumb-init's `--rewrite` does.
mod common;

use common::live::{
    Live, example, namespace_init, require_pid_namespaces, send, usher_in_pid_namespace,
};
use nix::sys::signal::Signal;

#[test]
fn a_rewritten_signal_arrives_as_its_replacement() {
    if !require_pid_namespaces() {
        return;
    }
    let mut run = Live::start(
        usher_in_pid_namespace()
            .args([
                "--rewrite-signal",
                "TERM:QUIT",
                "--rewrite-signal",
                "USR1:USR2",
            ])
            .arg(example("init_sigprint"))
            .args(["--exit-on", "QUIT"]),
    );
    let usher = namespace_init(&mut run);
    run.wait_for_stdout("child ready");
    send(usher, Signal::SIGUSR1);
    run.wait_for_stdout("child got SIGUSR2\n");
    send(usher, Signal::SIGTERM);
    run.expect_code(0);
    let out = run.stdout();
    assert!(out.contains("child got SIGQUIT\n"), "{}", run.describe());
    assert!(
        !out.contains("SIGUSR1") && !out.contains("SIGTERM"),
        "{}",
        run.describe()
    );
}

#[test]
fn a_signal_rewritten_to_0_is_dropped() {
    if !require_pid_namespaces() {
        return;
    }
    let mut run = Live::start(
        usher_in_pid_namespace()
            .args(["--rewrite-signal", "HUP:0"])
            .arg(example("init_sigprint")),
    );
    let usher = namespace_init(&mut run);
    run.wait_for_stdout("child ready");
    send(usher, Signal::SIGHUP);
    // WINCH after HUP: usher handles them in order, and a forwarded HUP would reach the app
    // before WINCH (the printer takes the lower number first), so once WINCH is seen, HUP
    // was dropped, not delayed.
    send(usher, Signal::SIGWINCH);
    run.wait_for_stdout("child got SIGWINCH\n");
    send(usher, Signal::SIGTERM);
    run.expect_code(0);
    assert!(!run.stdout().contains("SIGHUP"), "{}", run.describe());
}

/// The same through the environment variable, as a comma list.
#[test]
fn rewrites_from_the_environment() {
    if !require_pid_namespaces() {
        return;
    }
    let mut run = Live::start(
        usher_in_pid_namespace()
            .env("USHER_REWRITE_SIGNAL", "USR1:0,USR2:HUP")
            .arg(example("init_sigprint"))
            .args(["--exit-on", "HUP"]),
    );
    let usher = namespace_init(&mut run);
    run.wait_for_stdout("child ready");
    send(usher, Signal::SIGUSR1);
    send(usher, Signal::SIGUSR2);
    run.expect_code(0);
    let out = run.stdout();
    assert!(out.contains("child got SIGHUP\n"), "{}", run.describe());
    assert!(!out.contains("SIGUSR"), "{}", run.describe());
}
