//! Rule: the command line and its documentation agree: `--help` lists every option with its
//! variable and default and the exit-code table, README.md documents every option, variable and
//! exit code and every log `step`, bad input is a usage error (64) naming the flag, and logs
//! come in text or JSON.

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

/// The string literal that starts at or after `text[from..]`'s first `"`, if only blanks come
/// before it.
fn literal_after(text: &str) -> Option<&str> {
    let rest = text.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

/// Every `step` value the sources log, read from the code: `log_step!(LEVEL, "step", …)`,
/// `timed_line("step", …)`, `step = "step"`, an error's `.at("step")`, the signal-dropping
/// helpers' step argument, the fallback `step.unwrap_or("…")`, and the subcommands'
/// `let step = match …` in main.rs.
fn steps_in_source() -> Vec<String> {
    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    rust_files(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut steps = Vec::new();
    for file in files {
        // Comments (the macros' own documentation) are not code.
        let code: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for (start, after_comma) in [
            ("log_step!(", true),
            ("timed_line(", false),
            ("step = ", false),
            (".at(", false),
            ("drop_pending(", false),
            ("drop_early_signals(", true),
            ("step.unwrap_or(", false),
        ] {
            for (at, _) in code.match_indices(start) {
                let mut rest = &code[at + start.len()..];
                if after_comma {
                    rest = &rest[rest.find(',').unwrap() + 1..];
                }
                if let Some(step) = literal_after(rest) {
                    steps.push(step.to_string());
                }
            }
        }
        if let Some(at) = code.find("let step = match") {
            let block = &code[at..at + code[at..].find("};").unwrap()];
            for (arm, _) in block.match_indices("=> ") {
                steps.extend(literal_after(&block[arm + 3..]).map(String::from));
            }
        }
    }
    steps.sort();
    steps.dedup();
    steps
}

#[test]
fn readme_logging_lists_every_step_the_binary_logs() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let logging = readme
        .split("\n## Logging\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README.md has a Logging section");
    let steps = steps_in_source();
    for expected in ["config", "migrate", "hooks", "baseline", "init"] {
        assert!(
            steps.iter().any(|s| s == expected),
            "the scan of src/ missed {expected:?}: {steps:?}"
        );
    }
    for step in &steps {
        // `usher` is the fallback of an error that names no step; none does today.
        if step == "usher" {
            continue;
        }
        assert!(
            logging.contains(&format!("`{step}`")),
            "README.md's Logging section does not list the step `{step}` (found in src/: {steps:?})"
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
