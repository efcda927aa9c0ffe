//! Rule: when a `--wait` dependency is not ready within `--wait-timeout`, usher exits 69
//! without starting the app, logging each missing dependency with its last error and naming
//! every one (and only those) in the final error; the timeout bounds the whole wait.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::loopback::{Answer, HttpServer, closed_port};
use common::{TempDir, usher};

#[test]
fn the_one_dependency_that_never_comes_is_named() {
    let dir = TempDir::new("wait-timeout");
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let up = format!("tcp://127.0.0.1:{}", up.local_addr().unwrap().port());
    let file = format!("file://{}", dir.path().display());
    let down_port = closed_port();
    let down = format!("tcp://127.0.0.1:{down_port}");
    let run = common::run(usher().args([
        "--wait",
        &up,
        "--wait",
        &down,
        "--wait",
        &file,
        "--wait-timeout",
        "1s",
        "--wait-interval",
        "100ms",
        "echo",
        "app-started",
    ]));
    run.expect_code(69)
        .expect_stderr_contains(&format!("{up} is ready"))
        .expect_stderr_contains(&format!("{file} is ready"))
        .expect_stderr_contains(&format!(
            "{down} is still not ready; last error: connect: connection refused"
        ))
        .expect_stderr_contains(&format!(
            "error: not ready within --wait-timeout 1s: {down};"
        ));
    assert!(!run.stdout().contains("app-started"), "{}", run.describe());
}

#[test]
fn a_name_that_never_resolves_is_retried_then_named() {
    // RFC 6761: .invalid names never resolve.
    let url = "tcp://db.usher-test.invalid:5432";
    let run = common::run(usher().args([
        "--wait",
        url,
        "--wait-timeout",
        "1s",
        "--wait-interval",
        "100ms",
        "echo",
        "app-started",
    ]));
    run.expect_code(69)
        .expect_stderr_contains(&format!(
            "{url} is not ready yet: cannot resolve db.usher-test.invalid"
        ))
        .expect_stderr_contains(&format!(
            "error: not ready within --wait-timeout 1s: {url};"
        ));
    assert!(!run.stdout().contains("app-started"), "{}", run.describe());
}

#[test]
fn an_attempt_in_progress_does_not_stretch_the_deadline() {
    let server = HttpServer::start(|_| Answer::Silence);
    let start = Instant::now();
    let run = common::run(usher().args([
        "--wait",
        &server.url("/"),
        "--wait-timeout",
        "1s",
        // One attempt alone would outlast the whole wait.
        "--wait-attempt-timeout",
        "60s",
        "echo",
        "app-started",
    ]));
    let took = start.elapsed();
    run.expect_code(69)
        .expect_stderr_contains("no attempt finished (still resolving or connecting)");
    assert!(took >= Duration::from_secs(1), "gave up early: {took:?}");
    // Generous for a loaded machine; a stretched deadline would take 60 s.
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}\n{}",
        run.describe()
    );
}

#[test]
fn passwords_in_missing_urls_are_hidden() {
    let url = format!("http://user:hunter2@127.0.0.1:{}/", closed_port());
    let run = common::run(usher().args(["--wait", &url, "--wait-timeout", "300ms", "true"]));
    run.expect_code(69)
        .expect_stderr_contains("http://user:****@127.0.0.1:");
    assert!(!run.all_output().contains("hunter2"), "{}", run.describe());
}

#[test]
fn a_bad_wait_url_is_a_usage_error_before_any_wait() {
    let run = common::run(usher().args(["--wait", "db:5432", "true"]));
    run.expect_code(64)
        .expect_stderr_contains("--wait: invalid value")
        .expect_stderr_contains("tcp://HOST:PORT");
}
