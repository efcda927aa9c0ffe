//! Rule: TERM, INT or QUIT during the wait for dependencies ends usher at once — even while
//! an attempt is blocked in connect or read — with 128+N, and the app never starts.

mod common;

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use common::loopback::{Answer, HttpServer, Watched, closed_port};
use common::usher;

/// A prompt stop takes milliseconds; the bound leaves room for a loaded 2-core machine while
/// staying far below the 30 s a stop noticed only between attempts would take here.
const PROMPT: Duration = Duration::from_secs(2);

fn stop_during_wait(url: &str, signal: Signal) {
    let watched = Watched::spawn(usher().args([
        "--wait",
        url,
        "--wait-attempt-timeout",
        "30s",
        "--wait-interval",
        "30s",
        "echo",
        "app-started",
    ]));
    watched.wait_for_stderr("waiting up to");
    kill(Pid::from_raw(watched.pid()), signal).unwrap();
    let (run, took) = watched.finish(Duration::from_secs(60));
    run.expect_code(128 + signal as i32)
        .expect_stderr_contains(&format!(
            "stopped by {} during the wait for dependencies; the app was not started",
            signal.as_str()
        ));
    assert!(!run.stdout().contains("app-started"), "{}", run.describe());
    assert!(took < PROMPT, "took {took:?} to stop\n{}", run.describe());
}

#[test]
fn sigterm_while_a_read_hangs_exits_143_at_once() {
    let server = HttpServer::start(|_| Answer::Silence);
    stop_during_wait(&server.url("/"), Signal::SIGTERM);
}

#[test]
fn sigint_while_pausing_between_attempts_exits_130_at_once() {
    let url = format!("tcp://127.0.0.1:{}", closed_port());
    stop_during_wait(&url, Signal::SIGINT);
}
