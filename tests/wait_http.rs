//! Rule: an `http://` dependency is ready on a 2xx or 3xx answer to a GET; any other status,
//! and a server that accepts but never answers, is retried until `--wait-timeout`.

mod common;

use common::loopback::{Answer, HttpServer};
use common::usher;

#[test]
fn a_server_that_answers_500_then_200_is_ready_at_the_200() {
    let server = HttpServer::start(|n| {
        if n < 2 {
            Answer::Status("500 Internal Server Error")
        } else {
            Answer::Status("200 OK")
        }
    });
    let url = server.url("/ready?deep=1");
    let run = common::run(usher().args([
        "--wait",
        &url,
        "--wait-interval",
        "50ms",
        "echo",
        "app-started",
    ]));
    run.expect_code(0)
        .expect_stdout_contains("app-started")
        .expect_stderr_contains(&format!(
            "{url} is not ready yet: HTTP status 500 Internal Server Error"
        ))
        .expect_stderr_contains(&format!("{url} is ready (200 OK)"));
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    let first = &requests[0];
    for line in [
        "GET /ready?deep=1 HTTP/1.1\r\n".to_string(),
        format!("\r\nHost: 127.0.0.1:{}\r\n", server.port),
        format!("\r\nUser-Agent: usher/{}\r\n", env!("CARGO_PKG_VERSION")),
        "\r\nConnection: close\r\n".to_string(),
    ] {
        assert!(first.contains(&line), "request lacks {line:?}:\n{first}");
    }
}

#[test]
fn a_redirect_counts_as_ready() {
    let server = HttpServer::start(|_| Answer::Status("302 Found"));
    let run = common::run(usher().args(["--wait", &server.url("/"), "echo", "app-started"]));
    run.expect_code(0)
        .expect_stdout_contains("app-started")
        .expect_stderr_contains("is ready (302 Found)");
    assert_eq!(server.requests().len(), 1, "a redirect is not followed");
}

#[test]
fn a_client_error_is_not_ready_and_is_the_last_error_on_timeout() {
    let server = HttpServer::start(|_| Answer::Status("404 Not Found"));
    let url = server.url("/healthz");
    let run = common::run(usher().args([
        "--wait",
        &url,
        "--wait-timeout",
        "1s",
        "--wait-interval",
        "100ms",
        "echo",
        "app-started",
    ]));
    run.expect_code(69).expect_stderr_contains(&format!(
        "{url} is still not ready; last error: HTTP status 404 Not Found"
    ));
    assert!(!run.stdout().contains("app-started"), "{}", run.describe());
    assert!(server.requests().len() >= 2, "the GET was retried");
}

#[test]
fn a_server_that_never_answers_times_out_each_attempt_and_is_retried() {
    let server = HttpServer::start(|_| Answer::Silence);
    let url = server.url("/");
    let run = common::run(usher().args([
        "--wait",
        &url,
        "--wait-timeout",
        "2s",
        "--wait-attempt-timeout",
        "300ms",
        "--wait-interval",
        "50ms",
        "echo",
        "app-started",
    ]));
    run.expect_code(69).expect_stderr_contains(&format!(
        "{url} is still not ready; last error: timed out waiting for the response"
    ));
    assert!(!run.stdout().contains("app-started"), "{}", run.describe());
    // Each attempt gave up after 300 ms instead of holding the whole 2 s.
    assert!(server.requests().len() >= 2, "{:#?}", server.requests());
}

#[test]
fn credentials_in_the_url_are_sent_and_never_printed() {
    let server = HttpServer::start(|n| {
        if n == 0 {
            Answer::Status("503 Service Unavailable")
        } else {
            Answer::Status("204 No Content")
        }
    });
    let url = format!("http://probe:s3cr%40t@127.0.0.1:{}/", server.port);
    let run = common::run(usher().args([
        "--wait",
        &url,
        "--wait-interval",
        "50ms",
        "echo",
        "app-started",
    ]));
    run.expect_code(0)
        .expect_stderr_contains("http://probe:****@127.0.0.1");
    assert!(!run.all_output().contains("s3cr"), "{}", run.describe());
    // "probe:s3cr@t" in base64.
    assert!(
        server.requests()[0].contains("\r\nAuthorization: Basic cHJvYmU6czNjckB0\r\n"),
        "{:#?}",
        server.requests()
    );
}
