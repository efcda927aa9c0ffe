//! Rule: in a real container, usher as PID 1 makes `docker stop` prompt for an app with no
//! signal handler (exit 143 in `.State.ExitCode`, well under Docker's 10 s grace), kills an app
//! that ignores SIGTERM after `--stop-timeout` and reports 137, leaves Docker's own grace
//! period (`docker run --stop-timeout`) in charge when usher has none (Docker's SIGKILL, 137),
//! and forwards whatever `docker kill -s` sends.
mod common;
#[path = "common/docker.rs"]
mod docker;

use std::time::Duration;

use docker::Container;

#[test]
fn docker_stop_of_an_app_without_handlers_is_prompt_with_143() {
    let Some(image) = docker::base_image() else {
        return;
    };
    let c = Container::start("stop", &[image, "sh", "-c", "echo ready; exec sleep 1000"]);
    c.wait_for_log("ready", Duration::from_secs(30));
    let took = c.stop(10);
    assert_eq!(c.exit_code(), 143, "{}", c.logs());
    assert!(
        took < Duration::from_secs(1),
        "docker stop took {took:?}\n{}",
        c.logs()
    );
}

#[test]
fn stop_timeout_kills_an_app_that_ignores_term_and_reports_137() {
    let Some(image) = docker::base_image() else {
        return;
    };
    // `trap '' TERM` makes the shell and the sleeps it starts ignore SIGTERM.
    let c = Container::start(
        "stop-timeout",
        &[
            "-e",
            "USHER_STOP_TIMEOUT=1s",
            image,
            "sh",
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 1; done",
        ],
    );
    c.wait_for_log("ready", Duration::from_secs(30));
    let took = c.stop(20);
    assert_eq!(c.exit_code(), 137, "{}", c.logs());
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "docker stop took {took:?}: usher's own 1 s kill, not Docker's 20 s one\n{}",
        c.logs()
    );
}

#[test]
fn dockers_own_stop_timeout_kills_an_app_that_ignores_term_and_reports_137() {
    let Some(image) = docker::base_image() else {
        return;
    };
    // No USHER_STOP_TIMEOUT: usher forwards TERM and waits; Docker SIGKILLs it (PID 1, and so
    // the whole container) when the grace period set with `docker run --stop-timeout` ends.
    let c = Container::start(
        "docker-stop-timeout",
        &[
            "--stop-timeout",
            "2",
            image,
            "sh",
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 1; done",
        ],
    );
    c.wait_for_log("ready", Duration::from_secs(30));
    assert_eq!(c.inspect("{{.Config.StopTimeout}}"), "2");
    let started = std::time::Instant::now();
    // No `-t`: the container's own stop timeout applies.
    docker::docker_ok(&["stop", &c.name]);
    let took = started.elapsed();
    assert_eq!(c.exit_code(), 137, "{}", c.logs());
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(8),
        "docker stop took {took:?}: Docker's 2 s grace, not its default 10 s\n{}",
        c.logs()
    );
}

#[test]
fn docker_kill_signals_reach_the_app() {
    let Some(image) = docker::base_image() else {
        return;
    };
    let c = Container::start(
        "kill",
        &[
            image,
            "sh",
            "-c",
            "trap 'echo got HUP' HUP; trap 'echo got USR1' USR1; echo ready; \
             while :; do sleep 0.1; done",
        ],
    );
    c.wait_for_log("ready", Duration::from_secs(30));
    c.kill("HUP");
    c.wait_for_log("got HUP", Duration::from_secs(10));
    c.kill("USR1");
    c.wait_for_log("got USR1", Duration::from_secs(10));
    assert_eq!(c.inspect("{{.State.Running}}"), "true", "{}", c.logs());
    c.stop(10);
    // The shell exits on TERM (no trap for it): 143.
    assert_eq!(c.exit_code(), 143, "{}", c.logs());
}
