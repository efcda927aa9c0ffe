//! Rule: as PID 1 usher reaps every orphan re-parented to it: 100 orphaned grandchildren leave
//! no zombie, and a double-forked daemon is reaped when it exits, while the app keeps running.
mod common;

use common::live::{Live, example, require_pid_namespaces, usher_in_pid_namespace};

#[test]
fn a_hundred_orphaned_grandchildren_leave_no_zombie() {
    if !require_pid_namespaces() {
        return;
    }
    let mut run = Live::start(
        usher_in_pid_namespace()
            .arg(example("init_orphans"))
            .arg("100"),
    );
    run.expect_code(0);
    assert!(
        run.stdout().contains("orphans: 100 parents: 1\n"),
        "{}",
        run.describe()
    );
    assert!(
        run.stdout().contains("reaped: 100 of 100 zombies: 0\n"),
        "{}",
        run.describe()
    );
}

#[test]
fn a_double_forked_daemon_is_reaped() {
    if !require_pid_namespaces() {
        return;
    }
    let mut run = Live::start(
        usher_in_pid_namespace()
            .arg(example("init_orphans"))
            .args(["1", "--daemon"]),
    );
    run.expect_code(0);
    assert!(
        run.stdout().contains("reaped: 1 of 1 zombies: 0\n"),
        "{}",
        run.describe()
    );
}

/// The control: with the app itself as PID 1 (`--init never`), the orphans stay zombies, so
/// the checks above can fail.
#[test]
fn control_without_usher_as_init_orphans_stay_zombies() {
    if !require_pid_namespaces() {
        return;
    }
    let mut run = Live::start(
        usher_in_pid_namespace()
            .args(["--init", "never"])
            .arg(example("init_orphans"))
            .args(["5", "--wait", "1"]),
    );
    run.expect_code(1);
    assert!(
        run.stdout().contains("reaped: 0 of 5 zombies: 5\n"),
        "{}",
        run.describe()
    );
}
