//! Rule: `usher health` exits 0 (healthy) or 1 (unhealthy) and nothing else — Docker reserves
//! 2 — even for bad arguments, bad settings, a secret conflict, or a target that cannot be
//! reached or resolved.

mod common;

use std::net::TcpListener;

use common::loopback::closed_port;
use common::usher;

/// `(what, arguments after "health", environment)`.
type Case = (&'static str, Vec<String>, Vec<(&'static str, String)>);

/// Every one must exit 1.
fn unhealthy_cases(closed: u16) -> Vec<Case> {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        ("no target", args(&[]), vec![]),
        (
            "two targets",
            args(&["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"]),
            vec![],
        ),
        ("unknown flag", args(&["db", "--bogus"]), vec![]),
        ("bad --timeout", args(&["db", "--timeout", "soon"]), vec![]),
        (
            "--timeout without value",
            args(&["db", "--timeout"]),
            vec![],
        ),
        (
            "--expect-status out of range",
            args(&["http://127.0.0.1/", "--expect-status", "700"]),
            vec![],
        ),
        (
            "--expect-status on tcp",
            args(&["tcp://127.0.0.1:1", "--expect-status", "200"]),
            vec![],
        ),
        (
            "--no-pending on http",
            args(&["http://127.0.0.1/", "--no-pending"]),
            vec![],
        ),
        ("no scheme", args(&["localhost:8080"]), vec![]),
        ("https", args(&["https://127.0.0.1/"]), vec![]),
        (
            "bad USHER_ variable",
            args(&["db"]),
            vec![("USHER_LOG_FORMAT", "xml".to_string())],
        ),
        (
            "secret given twice",
            args(&["db"]),
            vec![
                ("DATABASE_URL", "sqlite:///nonexistent/a.db".to_string()),
                ("DATABASE_URL_FILE", "/nonexistent/secret".to_string()),
            ],
        ),
        ("db without DATABASE_URL", args(&["db"]), vec![]),
        ("refused", vec![format!("tcp://127.0.0.1:{closed}")], vec![]),
        (
            "unresolvable",
            args(&["http://probe.usher-test.invalid/"]),
            vec![],
        ),
    ]
}

#[test]
fn every_failure_exits_1_never_2() {
    for (what, args, env) in unhealthy_cases(closed_port()) {
        let mut cmd = usher();
        cmd.arg("health")
            .args(&args)
            .envs(env.iter().map(|(k, v)| (k, v)));
        let run = common::run(&mut cmd);
        assert_eq!(run.code(), Some(1), "{what}\n{}", run.describe());
        assert!(
            !run.all_output().is_empty(),
            "{what}: says why\n{}",
            run.describe()
        );
    }
}

#[test]
fn a_bad_global_option_before_health_still_exits_1() {
    let run = common::run(usher().args(["--log-format", "xml", "health", "tcp://127.0.0.1:1"]));
    run.expect_code(1)
        .expect_stderr_contains("--log-format: invalid value");
    // The same mistake without health keeps its usage code.
    common::run(usher().args(["--log-format", "xml", "true"])).expect_code(64);
}

#[test]
fn healthy_exits_0() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://127.0.0.1:{}", listener.local_addr().unwrap().port());
    common::run(usher().args(["health", &url])).expect_code(0);
    // Global options around the subcommand are accepted.
    common::run(usher().args(["--log-level", "debug", "health", &url, "--timeout", "2s"]))
        .expect_code(0);
}
