//! Rule: `--hooks DIR` runs every executable file in DIR in name order, after the migrations
//! and before the app, as the app's user with its environment, output passed through and each
//! logged with its duration; a failing, non-executable or missing task stops the start with
//! exit 73 naming it; dotfiles and subdirectories are ignored; TERM, INT or QUIT during a task
//! is forwarded to it (SIGKILL after `--stop-timeout`) and usher exits 128+N without starting
//! the app.
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::live::Live;

fn write_task(dir: &Path, name: &str, body: &str, mode: u32) {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn tasks_run_in_name_order_with_the_apps_environment_then_the_app() {
    let dir = common::TempDir::new("hooks-order");
    write_task(dir.path(), "20-second", "#!/bin/sh\necho task two\n", 0o755);
    write_task(
        dir.path(),
        "10-first",
        "#!/bin/sh\necho task one GREETING=$GREETING\n",
        0o755,
    );
    write_task(dir.path(), ".hidden", "#!/bin/sh\necho hidden ran\n", 0o755);
    std::fs::create_dir(dir.join("30-subdir")).unwrap();
    write_task(
        &dir.join("30-subdir"),
        "inner",
        "#!/bin/sh\necho inner ran\n",
        0o755,
    );
    let run = common::run(
        common::usher()
            .env("GREETING", "hello")
            .arg("--hooks")
            .arg(dir.path())
            .args(["sh", "-c", "echo app started"]),
    );
    run.expect_code(0);
    assert_eq!(
        run.stdout(),
        "task one GREETING=hello\ntask two\napp started\n",
        "{}",
        run.describe()
    );
    let err = run.stderr();
    for task in ["10-first", "20-second"] {
        let line = err
            .lines()
            .find(|l| l.contains("hooks") && l.contains(task))
            .unwrap_or_else(|| panic!("no log line for {task}\n{}", run.describe()));
        assert!(line.contains("duration_ms="), "{line}");
    }
}

/// The order is migrations, then tasks, then the app: the task reads a table a migration
/// created and adds a row, which the app then reads.
#[test]
fn tasks_run_after_the_migrations_and_before_the_app() {
    if !common::require_tool("sqlite3") {
        return;
    }
    let dir = common::TempDir::new("hooks-after-migrations");
    let migrations = dir.join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    std::fs::write(
        migrations.join("20250101000000_notes.sql"),
        "CREATE TABLE notes (body text);\nINSERT INTO notes VALUES ('from the migration');\n",
    )
    .unwrap();
    let hooks = dir.join("hooks");
    std::fs::create_dir(&hooks).unwrap();
    let db = dir.join("app.db");
    write_task(
        &hooks,
        "10-seed",
        &format!(
            "#!/bin/sh\nset -e\necho \"task saw: $(sqlite3 {db} 'SELECT body FROM notes')\"\n\
             sqlite3 {db} \"INSERT INTO notes VALUES ('from the task')\"\n",
            db = db.display()
        ),
        0o755,
    );
    let run = common::run(
        common::usher()
            .env("DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("USHER_MIGRATIONS", &migrations)
            .arg("--hooks")
            .arg(&hooks)
            .args([
                "sh",
                "-c",
                &format!(
                    "echo \"app saw: $(sqlite3 {} 'SELECT body FROM notes ORDER BY rowid' | tr '\\n' ,)\"",
                    db.display()
                ),
            ]),
    );
    run.expect_code(0);
    assert_eq!(
        run.stdout(),
        "task saw: from the migration\napp saw: from the migration,from the task,\n",
        "{}",
        run.describe()
    );
    // The log says so in the same order.
    let err = run.stderr();
    let applied = err
        .find("usher: migrate: applied")
        .expect("a migration log line");
    let ran = err.find("usher: hooks: ran").expect("a task log line");
    assert!(applied < ran, "{}", run.describe());
}

#[test]
fn the_variable_works_like_the_flag() {
    let dir = common::TempDir::new("hooks-env");
    write_task(dir.path(), "task", "#!/bin/sh\necho task ran\n", 0o755);
    let run = common::run(
        common::usher()
            .env("USHER_HOOKS", dir.path())
            .args(["echo", "app started"]),
    );
    run.expect_code(0);
    assert_eq!(
        run.stdout(),
        "task ran\napp started\n",
        "{}",
        run.describe()
    );
}

#[test]
fn a_failing_task_stops_the_start_with_73_naming_it() {
    let dir = common::TempDir::new("hooks-fail");
    write_task(dir.path(), "10-ok", "#!/bin/sh\necho first ran\n", 0o755);
    write_task(
        dir.path(),
        "20-broken",
        "#!/bin/sh\necho failing >&2\nexit 4\n",
        0o755,
    );
    write_task(dir.path(), "30-never", "#!/bin/sh\necho third ran\n", 0o755);
    let run = common::run(
        common::usher()
            .arg("--hooks")
            .arg(dir.path())
            .args(["echo", "app started"]),
    );
    run.expect_code(73)
        .expect_stderr_contains("20-broken")
        .expect_stderr_contains("exit status 4")
        .expect_stderr_contains("failing");
    assert_eq!(run.stdout(), "first ran\n", "{}", run.describe());
}

#[test]
fn a_task_that_is_not_executable_is_an_error_not_a_skip() {
    let dir = common::TempDir::new("hooks-chmod");
    write_task(dir.path(), "10-ok", "#!/bin/sh\necho first ran\n", 0o755);
    write_task(
        dir.path(),
        "20-forgot-chmod",
        "#!/bin/sh\necho never\n",
        0o644,
    );
    let run = common::run(
        common::usher()
            .arg("--hooks")
            .arg(dir.path())
            .args(["echo", "app started"]),
    );
    run.expect_code(73)
        .expect_stderr_contains("20-forgot-chmod")
        .expect_stderr_contains("chmod +x");
    // Checked before any task runs: nothing half done.
    assert_eq!(run.stdout(), "", "{}", run.describe());
}

#[test]
fn a_script_without_an_interpreter_line_is_a_failure() {
    let dir = common::TempDir::new("hooks-noexec");
    write_task(dir.path(), "task", "echo no shebang\n", 0o755);
    let run = common::run(
        common::usher()
            .arg("--hooks")
            .arg(dir.path())
            .args(["echo", "app started"]),
    );
    run.expect_code(73).expect_stderr_contains("#!");
    assert!(!run.stdout().contains("app started"), "{}", run.describe());
}

#[test]
fn a_missing_directory_is_an_error() {
    let run =
        common::run(common::usher().args(["--hooks", "/nonexistent/hooks", "echo", "app started"]));
    run.expect_code(73)
        .expect_stderr_contains("/nonexistent/hooks");
    assert_eq!(run.stdout(), "", "{}", run.describe());
}

#[test]
fn tasks_run_as_the_apps_user() {
    if !common::require_root() {
        return;
    }
    let dir = common::TempDir::new("hooks-user");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    write_task(
        dir.path(),
        "task",
        "#!/bin/sh\necho task uid=$(id -u) home=$HOME\n",
        0o755,
    );
    let run = common::run(
        common::usher()
            .args(["--user", "nobody", "--hooks"])
            .arg(dir.path())
            .args(["sh", "-c", "echo app uid=$(id -u)"]),
    );
    run.expect_code(0);
    let uid = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("a nobody user")
        .uid;
    run.expect_stdout_contains(&format!("task uid={uid}"))
        .expect_stdout_contains(&format!("app uid={uid}"));
}

/// Starts usher with one task that reports `signal` and runs until it gets it, and sends
/// `signal` to usher once the task runs (the directory lives as long as the run is looked at).
fn signal_during_a_task(signal: nix::sys::signal::Signal) -> (common::TempDir, Live) {
    let dir = common::TempDir::new("hooks-signal");
    let name = &signal.as_str()[3..];
    write_task(
        dir.path(),
        "task",
        &format!(
            "#!/bin/sh\ntrap 'echo task got {name}; exit 0' {name}\necho task running\n\
             while :; do sleep 0.1; done\n"
        ),
        0o755,
    );
    let mut live = Live::start(
        common::usher()
            .arg("--hooks")
            .arg(dir.path())
            .args(["echo", "app started"]),
    );
    live.wait_for_stdout("task running");
    common::live::send(live.pid(), signal);
    (dir, live)
}

#[test]
fn term_during_a_task_is_forwarded_and_usher_exits_143() {
    let (_dir, mut live) = signal_during_a_task(nix::sys::signal::Signal::SIGTERM);
    live.expect_code(143);
    assert!(
        live.stdout().contains("task got TERM"),
        "{}",
        live.describe()
    );
    assert!(
        !live.stdout().contains("app started"),
        "{}",
        live.describe()
    );
}

#[test]
fn a_task_ignoring_term_is_killed_after_the_stop_timeout() {
    let dir = common::TempDir::new("hooks-stop-timeout");
    write_task(
        dir.path(),
        "task",
        "#!/bin/sh\ntrap '' TERM\necho task running\nwhile :; do sleep 0.1; done\n",
        0o755,
    );
    let mut live = Live::start(
        common::usher()
            .args(["--stop-timeout", "500ms", "--hooks"])
            .arg(dir.path())
            .args(["echo", "app started"]),
    );
    live.wait_for_stdout("task running");
    let sent = std::time::Instant::now();
    common::live::send(live.pid(), nix::sys::signal::Signal::SIGTERM);
    live.expect_code(143);
    let took = sent.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(400) && took < std::time::Duration::from_secs(5),
        "stopped after {took:?}\n{}",
        live.describe()
    );
    assert!(
        !live.stdout().contains("app started"),
        "{}",
        live.describe()
    );
}

#[test]
fn quit_during_a_task_is_forwarded_too() {
    let (_dir, mut live) = signal_during_a_task(nix::sys::signal::Signal::SIGQUIT);
    live.expect_code(131);
    assert!(
        live.stdout().contains("task got QUIT"),
        "{}",
        live.describe()
    );
}

#[test]
fn int_during_a_task_is_forwarded_and_usher_exits_130() {
    let (_dir, mut live) = signal_during_a_task(nix::sys::signal::Signal::SIGINT);
    live.expect_code(130);
    assert!(
        live.stdout().contains("task got INT"),
        "{}",
        live.describe()
    );
    assert!(
        !live.stdout().contains("app started"),
        "{}",
        live.describe()
    );
}
