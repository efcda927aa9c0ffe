//! Rule: with `--log-format json` or `USHER_LOG_FORMAT=json`, every line usher writes to
//! stderr is one JSON object — configuration errors found before logging starts included —
//! and a fatal error names the stage that failed in `step` (`config`, `secrets`,
//! `privileges`, `wait`, `migrate`, `exec`, …), never a bare `usher`.

mod common;

use common::loopback::closed_port;
use common::{TempDir, run, usher};

struct Case {
    name: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    code: i32,
    step: &'static str,
}

fn case(
    name: &'static str,
    args: &[&str],
    env: &[(&'static str, &str)],
    code: i32,
    step: &'static str,
) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        env: env.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        code,
        step,
    }
}

fn cases(dir: &TempDir) -> Vec<Case> {
    let migrations = dir.join("migrations");
    let migrations = migrations.to_str().unwrap();
    let wait = format!("tcp://127.0.0.1:{}", closed_port());
    let db = format!("sqlite://{}", dir.join("app.db").display());
    vec![
        case("unknown flag", &["--bogus", "true"], &[], 64, "config"),
        case("no command", &[], &[], 64, "config"),
        case(
            "bad duration flag",
            &["--wait-timeout", "soon", "true"],
            &[],
            64,
            "config",
        ),
        case(
            "bad variable",
            &["true"],
            &[("USHER_WAIT_TIMEOUT", "soon")],
            78,
            "config",
        ),
        case(
            "bad switch variable",
            &["true"],
            &[("USHER_SIGNAL_GROUP", "maybe")],
            78,
            "config",
        ),
        case(
            "missing secret file",
            &["true"],
            &[("DATABASE_URL_FILE", "/nonexistent/usher/url")],
            78,
            "secrets",
        ),
        case(
            "both set",
            &["true"],
            &[
                ("DATABASE_URL", "x"),
                ("DATABASE_URL_FILE", "/etc/hostname"),
            ],
            78,
            "secrets",
        ),
        case(
            "unknown user",
            &["--user", "no-such-user-usher", "true"],
            &[],
            67,
            "privileges",
        ),
        case(
            "bad user variable",
            &["true"],
            &[("USHER_USER", "4294967296")],
            78,
            "privileges",
        ),
        case(
            "wait timeout",
            &["--wait", &wait, "--wait-timeout", "200ms", "true"],
            &[],
            69,
            "wait",
        ),
        case(
            "not a URL",
            &["--migrations", migrations, "true"],
            &[("DATABASE_URL", "host=db password=x")],
            78,
            "migrate",
        ),
        case(
            "missing directory",
            &[
                "--migrate",
                "always",
                "--migrations",
                "/nonexistent/usher",
                "true",
            ],
            &[("DATABASE_URL", &db)],
            66,
            "migrate",
        ),
        case(
            "status without a URL",
            &["--migrations", migrations, "status"],
            &[],
            78,
            "status",
        ),
        case("not found", &["no-such-command-usher"], &[], 127, "exec"),
        case("not executable", &["/etc/hostname"], &[], 126, "exec"),
    ]
}

#[test]
fn every_stderr_line_is_json_and_a_fatal_error_names_its_step() {
    let dir = TempDir::new("json");
    std::fs::create_dir(dir.join("migrations")).unwrap();
    std::fs::write(dir.join("migrations/1_a.sql"), "CREATE TABLE a (id INT);\n").unwrap();
    for case in cases(&dir) {
        for by_flag in [true, false] {
            let mut cmd = usher();
            if by_flag {
                cmd.args(["--log-format", "json"]);
            } else {
                cmd.env("USHER_LOG_FORMAT", "json");
            }
            for (k, v) in &case.env {
                cmd.env(k, v);
            }
            let out = run(cmd.args(&case.args));
            out.expect_code(case.code);
            let lines: Vec<serde_json::Value> = out
                .stderr()
                .lines()
                .map(|line| {
                    serde_json::from_str(line).unwrap_or_else(|e| {
                        panic!("{}: not JSON ({e}): {line}\n{}", case.name, out.describe())
                    })
                })
                .collect();
            let fatal = lines
                .iter()
                .find(|l| l["level"] == "error")
                .unwrap_or_else(|| panic!("{}: no error line\n{}", case.name, out.describe()));
            assert_eq!(
                fatal["step"],
                case.step,
                "{}: wrong step\n{}",
                case.name,
                out.describe()
            );
            for line in &lines {
                assert!(line["ts"].is_string() && line["msg"].is_string());
                assert_ne!(line["step"], "usher", "{}\n{}", case.name, out.describe());
            }
        }
    }
}

#[test]
fn a_bad_log_format_is_said_in_text() {
    // The format itself is what is wrong: the error cannot be in it.
    let out = run(usher().args(["--log-format", "yaml", "true"]));
    out.expect_code(64)
        .expect_stderr_contains("usher: config: error: --log-format");
    let out = run(usher().env("USHER_LOG_FORMAT", "yaml").arg("true"));
    out.expect_code(78)
        .expect_stderr_contains("usher: config: error: USHER_LOG_FORMAT");
}
