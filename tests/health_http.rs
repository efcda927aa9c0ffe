//! Rule: `usher health http://…` is healthy (exit 0) on a 200–399 answer, or on exactly
//! `--expect-status`, and unhealthy (exit 1) otherwise or when no answer comes within
//! `--timeout`; `usher health tcp://…` is healthy when the port accepts. Either prints one
//! short line on stdout and nothing else.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::loopback::{Answer, HttpServer, closed_port};
use common::{Run, usher};

fn health(args: &[&str]) -> Run {
    common::run(usher().arg("health").args(args))
}

/// The probe printed exactly one line, on stdout, starting with `prefix`.
#[track_caller]
fn one_line(run: &Run, prefix: &str) {
    let out = run.stdout();
    assert_eq!(out.lines().count(), 1, "{}", run.describe());
    assert!(out.starts_with(prefix), "{}", run.describe());
    assert_eq!(run.stderr(), "", "{}", run.describe());
}

#[test]
fn a_200_is_healthy() {
    let server = HttpServer::start(|_| Answer::Status("200 OK"));
    let url = server.url("/healthz");
    let run = health(&[&url]);
    run.expect_code(0);
    one_line(&run, &format!("healthy: {url} 200 OK in "));
    let request = &server.requests()[0];
    assert!(
        request.starts_with("GET /healthz HTTP/1.1\r\n"),
        "{request}"
    );
}

#[test]
fn a_redirect_is_healthy_like_the_kubelet_says() {
    let server = HttpServer::start(|_| Answer::Status("301 Moved Permanently"));
    health(&[&server.url("/")]).expect_code(0);
}

#[test]
fn a_500_is_unhealthy() {
    let server = HttpServer::start(|_| Answer::Status("500 Internal Server Error"));
    let url = server.url("/healthz");
    let run = health(&[&url]);
    run.expect_code(1);
    one_line(
        &run,
        &format!("unhealthy: {url} 500 Internal Server Error in "),
    );
}

#[test]
fn expect_status_is_the_only_healthy_status() {
    let server = HttpServer::start(|n| {
        if n == 0 {
            Answer::Status("204 No Content")
        } else {
            Answer::Status("200 OK")
        }
    });
    let url = server.url("/");
    health(&[&url, "--expect-status", "204"]).expect_code(0);
    let run = health(&[&url, "--expect-status=204"]);
    run.expect_code(1);
    one_line(&run, &format!("unhealthy: {url} 200 OK (expected 204) in "));
}

#[test]
fn a_server_that_never_answers_is_unhealthy_after_the_timeout() {
    let server = HttpServer::start(|_| Answer::Silence);
    let url = server.url("/");
    let start = Instant::now();
    let run = health(&[&url, "--timeout", "500ms"]);
    let took = start.elapsed();
    run.expect_code(1);
    one_line(
        &run,
        &format!("unhealthy: {url}: timed out waiting for the response (after "),
    );
    assert!(took >= Duration::from_millis(500), "{took:?}");
    // Generous for a loaded machine; the default timeout (5 s) is what it must not take.
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn nothing_listening_is_unhealthy() {
    let port = closed_port();
    let run = health(&[&format!("http://127.0.0.1:{port}/")]);
    run.expect_code(1);
    one_line(
        &run,
        &format!("unhealthy: http://127.0.0.1:{port}/: connect: connection refused"),
    );
}

#[test]
fn tcp_is_healthy_when_the_port_accepts() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let run = health(&[&url]);
    run.expect_code(0);
    one_line(&run, &format!("healthy: {url} connected in "));
    drop(listener);
    let run = health(&[&url]);
    run.expect_code(1);
    one_line(
        &run,
        &format!("unhealthy: {url}: connect: connection refused"),
    );
}

#[test]
fn a_password_in_the_probe_url_is_never_printed() {
    let server = HttpServer::start(|_| Answer::Status("401 Unauthorized"));
    let url = format!("http://probe:hunter2@127.0.0.1:{}/", server.port);
    let run = health(&[&url]);
    run.expect_code(1);
    one_line(&run, "unhealthy: http://probe:****@127.0.0.1:");
    assert!(!run.all_output().contains("hunter2"), "{}", run.describe());
}
