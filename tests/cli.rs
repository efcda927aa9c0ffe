//! Rule: the command line and its documentation agree: `--help` lists every option with its
//! variable and default and the exit-code table, README.md documents every option, variable and
//! exit code, bad input is a usage error (64) naming the flag, and logs come in text or JSON.

mod common;

use common::{run, usher};

fn help() -> String {
    let out = run(usher().arg("--help"));
    out.expect_code(0);
    out.stdout()
}

/// Every `--flag` and `USHER_*` name the help text mentions.
fn names_in_help() -> Vec<String> {
    let text = help();
    let mut names: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| (w.starts_with("--") && w.len() > 2) || w.starts_with("USHER_"))
        .map(|w| w.trim_end_matches(['.', ':']).to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn help_documents_options_variables_defaults_and_exit_codes() {
    let text = help();
    for needle in [
        "--user SPEC",
        "USHER_USER",
        "--chown PATH",
        "--file-env NAMES",
        "--no-new-privs",
        "--log-format text|json",
        "--log-level",
        "default: info",
        "DATABASE_URL",
        "Exit codes:",
        "127",
        "126",
        "128+N",
    ] {
        assert!(text.contains(needle), "--help lacks {needle:?}\n{text}");
    }
    assert!(names_in_help().len() > 20);
}

#[test]
fn readme_documents_every_option_variable_and_exit_code() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    for name in names_in_help() {
        assert!(readme.contains(&name), "README.md does not mention {name}");
    }
    let text = help();
    let table = text.split("Exit codes:").nth(1).unwrap();
    for line in table.lines().filter(|l| !l.trim().is_empty()) {
        let code = line.split_whitespace().next().unwrap();
        assert!(
            readme.contains(&format!("| {code} ")) || readme.contains(&format!("| `{code}` ")),
            "README.md's exit-code table lacks {code}"
        );
    }
}

#[test]
fn version() {
    run(usher().arg("--version"))
        .expect_code(0)
        .expect_stdout_contains(concat!("usher ", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_are_64_and_name_the_flag_bad_variables_78() {
    run(&mut usher())
        .expect_code(64)
        .expect_stderr_contains("no command given");
    run(usher().args(["--bogus", "true"]))
        .expect_code(64)
        .expect_stderr_contains("--bogus");
    run(usher().args(["--log-format", "xml", "true"]))
        .expect_code(64)
        .expect_stderr_contains("--log-format: invalid value \"xml\"; use text or json");
    // A bad variable is configuration (78), not usage: README's exit-code table.
    run(usher().env("USHER_LOG_LEVEL", "loud").arg("true"))
        .expect_code(78)
        .expect_stderr_contains("USHER_LOG_LEVEL");
    run(usher().args(["--user"]))
        .expect_code(64)
        .expect_stderr_contains("--user needs a value");
    run(usher().args(["--"]))
        .expect_code(64)
        .expect_stderr_contains("no command after '--'");
}

#[test]
fn json_logs_are_one_object_per_line() {
    if !common::require_root() {
        return;
    }
    let out = run(usher().args(["--log-format", "json", "--user", "nobody", "--", "true"]));
    out.expect_code(0);
    let lines: Vec<&str> = out
        .output
        .stderr
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    assert!(!lines.is_empty(), "{}", out.describe());
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in ["ts", "level", "msg", "step"] {
            assert!(v.get(key).is_some(), "{key} missing in {line}");
        }
        assert_eq!(v["level"], "info");
        assert_eq!(v["step"], "privileges");
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
    }
}

#[test]
fn log_level_error_silences_the_happy_path() {
    if !common::require_root() {
        return;
    }
    let out = run(usher().args(["--log-level", "error", "--user", "nobody", "--", "true"]));
    out.expect_code(0);
    assert_eq!(out.stderr(), "", "{}", out.describe());
}

#[test]
fn health_never_exits_2() {
    for args in [
        &["health"][..],
        &["health", "--bogus"],
        &["health", "nonsense://x"],
    ] {
        let out = run(usher().args(args));
        assert_ne!(out.code(), Some(2), "{}", out.describe());
    }
}
