//! Rule: usher waits for every `--wait` dependency that is not ready yet — a port that opens,
//! a unix socket that starts accepting, a file that appears — and starts the app once all
//! are, logging one line per dependency with how long it took.
//!
//! Each test starts usher first and makes the dependency ready only once usher has logged
//! that it is not, so the wait is real whatever the machine's load.

mod common;

use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use common::loopback::{Watched, closed_port};
use common::{TempDir, usher};

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn a_port_that_opens_later_is_waited_for() {
    let port = closed_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let watched = Watched::spawn(usher().args([
        "--wait",
        &url,
        "--wait-interval",
        "50ms",
        "echo",
        "app-started",
    ]));
    watched.wait_for_stderr(&format!(
        "{url} is not ready yet: connect: connection refused"
    ));
    let _listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the delayed port");
    let (run, _) = watched.finish(LIMIT);
    run.expect_code(0)
        .expect_stdout_contains("app-started")
        .expect_stderr_contains(&format!("{url} is ready (connected) after "));
}

#[test]
fn a_unix_socket_is_ready_when_it_accepts_not_when_the_file_exists() {
    let dir = TempDir::new("wait-unix");
    let sock = dir.join("app.sock");
    // A stale socket file left by a previous run: it exists, but nobody accepts on it.
    drop(UnixListener::bind(&sock).unwrap());
    let url = format!("unix://{}", sock.display());
    let watched = Watched::spawn(usher().args([
        "--wait",
        &url,
        "--wait-interval",
        "50ms",
        "echo",
        "app-started",
    ]));
    watched.wait_for_stderr(&format!(
        "{url} is not ready yet: connect: connection refused"
    ));
    std::fs::remove_file(&sock).unwrap();
    let _listener = UnixListener::bind(&sock).unwrap();
    let (run, _) = watched.finish(LIMIT);
    run.expect_code(0)
        .expect_stdout_contains("app-started")
        .expect_stderr_contains(&format!("{url} is ready (connected)"));
}

#[test]
fn a_file_that_appears_later_is_waited_for() {
    let dir = TempDir::new("wait-file");
    let marker = dir.join("seeded");
    let url = format!("file://{}", marker.display());
    let watched = Watched::spawn(usher().args([
        "--wait",
        &url,
        "--wait-interval",
        "50ms",
        "echo",
        "app-started",
    ]));
    watched.wait_for_stderr(&format!("{url} is not ready yet: does not exist"));
    std::fs::write(&marker, "").unwrap();
    let (run, _) = watched.finish(LIMIT);
    run.expect_code(0)
        .expect_stdout_contains("app-started")
        .expect_stderr_contains(&format!("{url} is ready (exists)"));
}

#[test]
fn usher_wait_lists_several_dependencies_all_waited_for_together() {
    let dir = TempDir::new("wait-env");
    let marker = dir.join("seeded");
    let port = closed_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let file = format!("file://{}", marker.display());
    let watched = Watched::spawn(
        usher()
            .env("USHER_WAIT", format!("{tcp}, {file}"))
            .env("USHER_WAIT_INTERVAL", "50ms")
            .args(["echo", "app-started"]),
    );
    // Both are tried at once: each reports its own first failure before either is ready.
    watched.wait_for_stderr(&format!("{tcp} is not ready yet"));
    watched.wait_for_stderr(&format!("{file} is not ready yet"));
    std::fs::write(&marker, "").unwrap();
    watched.wait_for_stderr(&format!("{file} is ready"));
    let _listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (run, _) = watched.finish(LIMIT);
    run.expect_code(0)
        .expect_stdout_contains("app-started")
        .expect_stderr_contains(&format!("{tcp} is ready"));
}

#[test]
fn ready_dependencies_cost_no_wait() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let run = common::run(usher().args([
        "--wait",
        &format!("tcp://127.0.0.1:{port}"),
        "--wait",
        "file:///",
        // A retry would take this long: the test fails if usher pauses before the first try.
        "--wait-interval",
        "1h",
        "echo",
        "app-started",
    ]));
    run.expect_code(0).expect_stdout_contains("app-started");
    assert!(
        !run.stderr().contains("not ready"),
        "nothing should have failed\n{}",
        run.describe()
    );
}
