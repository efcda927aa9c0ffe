//! Rule: `--init auto` (the default) supervises only as PID 1 and otherwise execs the app
//! (no usher left); `--init always` supervises anywhere, as a child subreaper outside PID 1,
//! so orphans are still reaped; `--init never` always execs.
mod common;

use common::live::{Live, example, require_pid_namespaces, usher_in_pid_namespace};

/// Prints the app's PID and its parent's PID and command name.
const WHO: &str = r#"echo "pid=$$ ppid=$PPID parent=$(cat /proc/$PPID/comm)""#;

fn field(run: &Live, name: &str) -> String {
    run.stdout()
        .split_whitespace()
        .find_map(|w| w.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name}\n{}", run.describe()))
        .to_string()
}

#[test]
fn auto_outside_pid_1_execs_the_app() {
    let mut run = Live::start(common::usher().args(["sh", "-c", WHO]));
    run.expect_code(0);
    // Same PID as the usher the test started: usher replaced itself.
    assert_eq!(
        field(&run, "pid="),
        run.pid().to_string(),
        "{}",
        run.describe()
    );
    assert!(!run.stderr().contains("supervising"), "{}", run.describe());
}

#[test]
fn always_outside_pid_1_supervises_as_a_subreaper() {
    let mut run = Live::start(common::usher().args(["--init", "always", "sh", "-c", WHO]));
    run.expect_code(0);
    assert_eq!(
        field(&run, "ppid="),
        run.pid().to_string(),
        "{}",
        run.describe()
    );
    // The re-executed supervisor names itself usher (not "exe").
    assert_eq!(field(&run, "parent="), "usher", "{}", run.describe());
    assert!(
        run.stderr().contains("as child subreaper"),
        "{}",
        run.describe()
    );
}

/// Orphans of the app come back to usher (not to the machine's init) and are reaped.
#[test]
fn always_outside_pid_1_reaps_orphans_as_a_subreaper() {
    let mut run = Live::start(
        common::usher()
            .args(["--init", "always"])
            .arg(example("init_orphans"))
            .arg("20"),
    );
    run.expect_code(0);
    let out = run.stdout();
    assert!(
        out.contains(&format!("orphans: 20 parents: {}\n", run.pid())),
        "{}",
        run.describe()
    );
    assert!(
        out.contains("reaped: 20 of 20 zombies: 0\n"),
        "{}",
        run.describe()
    );
}

#[test]
fn auto_as_pid_1_supervises() {
    if !require_pid_namespaces() {
        return;
    }
    let mut run = Live::start(usher_in_pid_namespace().args(["sh", "-c", WHO]));
    run.expect_code(0);
    assert_eq!(field(&run, "ppid="), "1", "{}", run.describe());
    assert_eq!(field(&run, "parent="), "usher", "{}", run.describe());
    assert!(run.stderr().contains("as PID 1"), "{}", run.describe());
}

#[test]
fn never_as_pid_1_execs_the_app() {
    if !require_pid_namespaces() {
        return;
    }
    let mut run = Live::start(usher_in_pid_namespace().args(["--init", "never", "sh", "-c", WHO]));
    run.expect_code(0);
    assert_eq!(field(&run, "pid="), "1", "{}", run.describe());
}

/// Exec'ing the app as PID 1 is allowed, with a warning that the app alone must then handle
/// SIGTERM and reap zombies (from the flag or from USHER_INIT); outside PID 1 there is nothing
/// to warn about.
#[test]
fn never_as_pid_1_warns_that_the_app_must_handle_sigterm_and_zombies() {
    if !require_pid_namespaces() {
        return;
    }
    for cmd in [
        usher_in_pid_namespace().args(["--init", "never", "true"]),
        usher_in_pid_namespace()
            .env("USHER_INIT", "never")
            .arg("true"),
    ] {
        let mut run = Live::start(cmd);
        run.expect_code(0);
        for needle in ["PID 1", "SIGTERM", "zombies", "--init auto"] {
            assert!(
                run.stderr().contains(needle),
                "{needle}\n{}",
                run.describe()
            );
        }
    }
    let mut run = Live::start(common::usher().args(["--init", "never", "true"]));
    run.expect_code(0);
    assert!(run.stderr().is_empty(), "{}", run.describe());
}

/// The mode also comes from USHER_INIT; a bad value is a usage error naming it.
#[test]
fn the_mode_comes_from_the_environment_too() {
    let mut run = Live::start(
        common::usher()
            .env("USHER_INIT", "always")
            .args(["sh", "-c", WHO]),
    );
    run.expect_code(0);
    assert_eq!(
        field(&run, "ppid="),
        run.pid().to_string(),
        "{}",
        run.describe()
    );
    common::run(common::usher().env("USHER_INIT", "sometimes").arg("true"))
        .expect_code(64)
        .expect_stderr_contains("USHER_INIT");
}

/// When usher cannot re-execute its own binary (here: after dropping to `nobody`, a copy only
/// root may execute), it warns and supervises from the start-up process: same behaviour.
#[test]
fn without_a_re_exec_usher_supervises_in_process() {
    use std::os::unix::fs::PermissionsExt;
    if !common::require_root() {
        return;
    }
    let dir = common::TempDir::new("init-fallback");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join("usher");
    std::fs::copy(common::usher_path(), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o700)).unwrap();
    let usher = |args: &[&str]| {
        let mut cmd = std::process::Command::new(&copy);
        cmd.current_dir("/")
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .args(["--user", "nobody", "--init", "always"])
            .args(args)
            .stdin(std::process::Stdio::null());
        cmd
    };
    let mut run = Live::start(&mut usher(&["sh", "-c", WHO]));
    run.expect_code(0);
    assert!(
        run.stderr()
            .contains("supervising from this process instead"),
        "{}",
        run.describe()
    );
    assert_eq!(
        field(&run, "ppid="),
        run.pid().to_string(),
        "{}",
        run.describe()
    );

    // Signals are still forwarded and statuses passed on.
    let mut run = Live::start(&mut usher(&["sleep", "1000"]));
    let pid = run.pid();
    common::live::wait_for_child_named(&mut run, pid, "sleep");
    common::live::send(pid, nix::sys::signal::Signal::SIGTERM);
    run.expect_code(143);
}
