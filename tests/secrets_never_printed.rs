//! Rule: no password usher is given — in DATABASE_URL, MIGRATION_DATABASE_URL, their `_FILE`s,
//! a `--wait` URL or a `usher health` target — appears in anything usher prints (stdout or
//! stderr, text or JSON logs, at any level), however odd its characters; and a database URL
//! that is not a URL at all is never echoed.

mod common;

use common::loopback::closed_port;
use common::{Run, TempDir, run, usher};

/// Passwords that end a "word" early, hold URL delimiters, escapes or non-ASCII; each is
/// written into the URL as given (percent-encoded where the parsers require it).
const PASSWORDS: &[(&str, &str)] = &[
    // (as written in the URL, as the server would see it)
    ("Hunter2'Pa55 word", "Hunter2'Pa55 word"),
    ("p\"q@r s@t", "p\"q@r s@t"),
    ("sp ace,semi;colon&amp=x", "sp ace,semi;colon&amp=x"),
    ("ünï cødé €", "ünï cødé €"),
    ("pct%2Fslash%3Fq%23h%25", "pct/slash?q#h%"),
    ("back\\slash*star`tick", "back\\slash*star`tick"),
];

/// Fails when `secret` (or its decoded form) is anywhere in what `run` printed.
#[track_caller]
fn never_printed(run: &Run, secrets: &[&str]) {
    let all = run.all_output();
    for secret in secrets {
        assert!(
            !all.contains(secret),
            "{secret:?} was printed\n{}",
            run.describe()
        );
        // JSON escapes quotes and backslashes: check the decoded lines too.
        for line in run.stderr().lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                assert!(
                    !v.to_string().contains(secret) && !format!("{v:?}").contains(secret),
                    "{secret:?} in a JSON line\n{}",
                    run.describe()
                );
                if let Some(msg) = v["msg"].as_str() {
                    assert!(!msg.contains(secret), "{secret:?} in {msg:?}");
                }
            }
        }
    }
}

fn migrations() -> TempDir {
    let dir = TempDir::new("never-printed");
    std::fs::write(
        dir.join("1_create.sql"),
        "CREATE TABLE never_printed (id INT);\n",
    )
    .unwrap();
    dir
}

fn formats() -> [&'static [&'static str]; 3] {
    [
        &["--log-format", "text"],
        &["--log-format", "json"],
        &["--log-format", "json", "--log-level", "debug"],
    ]
}

#[test]
fn a_database_password_is_never_printed_while_waiting_or_failing() {
    let dir = migrations();
    let port = closed_port();
    for (written, plain) in PASSWORDS {
        for scheme in ["postgres", "mysql"] {
            let url = format!("{scheme}://app:{written}@127.0.0.1:{port}/db");
            for format in formats() {
                let out = run(usher()
                    .env("DATABASE_URL", &url)
                    .args(format)
                    .args(["--wait-timeout", "300ms", "--migrations"])
                    .arg(dir.path())
                    .arg("migrate"));
                out.expect_code(69)
                    .expect_stderr_contains("app:****@127.0.0.1");
                never_printed(&out, &[written, plain]);
            }
        }
    }
}

#[test]
fn a_migration_url_from_a_file_is_never_printed() {
    let dir = migrations();
    let port = closed_port();
    for (written, plain) in PASSWORDS {
        let file = dir.join("url");
        std::fs::write(
            &file,
            format!("postgres://ddl:{written}@127.0.0.1:{port}/db\r\n"),
        )
        .unwrap();
        for format in formats() {
            let out = run(usher()
                .env("MIGRATION_DATABASE_URL_FILE", &file)
                .args(format)
                .args(["--wait-timeout", "300ms", "--migrations"])
                .arg(dir.path())
                .args(["--", "true"]));
            out.expect_code(69);
            never_printed(&out, &[written, plain]);
        }
    }
}

#[test]
fn a_wait_url_or_health_target_password_is_never_printed() {
    let port = closed_port();
    for (written, plain) in PASSWORDS {
        let url = format!("http://user:{written}@127.0.0.1:{port}/healthz");
        for format in formats() {
            let out =
                run(usher()
                    .args(format)
                    .args(["--wait", &url, "--wait-timeout", "300ms", "true"]));
            out.expect_code(69);
            never_printed(&out, &[written, plain]);
            let out = run(usher()
                .args(format)
                .args(["health", &url, "--timeout", "1s"]));
            out.expect_code(1).expect_stdout_contains("unhealthy");
            never_printed(&out, &[written, plain]);
        }
        // A --wait URL usher cannot use is refused without showing its password.
        let bad = format!("tcp://user:{written}@db");
        let out = run(usher().args(["--wait", &bad, "true"]));
        out.expect_code(64);
        never_printed(&out, &[written, plain]);
        let out = run(usher().env("USHER_WAIT", &bad).arg("true"));
        out.expect_code(78);
        never_printed(&out, &[written, plain]);
    }
}

#[test]
fn a_value_that_is_not_a_url_is_never_echoed() {
    let dir = migrations();
    let secret = "Hunter2-Pa55word-xyz";
    let not_urls = [
        format!("host=db password={secret}"),
        // DATABASE_URL_FILE naming the password file by mistake.
        secret.to_string(),
        format!("{secret}:with-colon"),
        format!("redis{secret}://x"),
    ];
    for value in &not_urls {
        let file = dir.join("secret");
        std::fs::write(&file, format!("{value}\n")).unwrap();
        for format in formats() {
            let out = run(usher()
                .env("DATABASE_URL", value)
                .args(format)
                .arg("--migrations")
                .arg(dir.path())
                .arg("migrate"));
            out.expect_code(78).expect_stderr_contains("DATABASE_URL");
            never_printed(&out, &[secret, value]);
            let out = run(usher()
                .env("DATABASE_URL_FILE", &file)
                .args(format)
                .arg("--migrations")
                .arg(dir.path())
                .args(["--", "true"]));
            out.expect_code(78).expect_stderr_contains("DATABASE_URL");
            never_printed(&out, &[secret, value]);
            let out = run(usher()
                .env("MIGRATION_DATABASE_URL", value)
                .args(format)
                .arg("--migrations")
                .arg(dir.path())
                .arg("migrate"));
            out.expect_code(78)
                .expect_stderr_contains("MIGRATION_DATABASE_URL");
            never_printed(&out, &[secret, value]);
            // `usher health db`: its output ends up in `docker inspect`.
            let out = run(usher().env("DATABASE_URL", value).args(["health", "db"]));
            out.expect_code(1)
                .expect_stdout_contains("unhealthy: db: DATABASE_URL");
            never_printed(&out, &[secret, value]);
        }
    }
}

/// A value with a database scheme but no `//` (a typo, or a password file whose password
/// starts with `postgres:`) is a URL to the parser sqlx uses — one with no host, which would
/// connect to localhost and be quoted whole as "the URL". It is refused before anything
/// connects (78, naming the variable or its `_FILE`), and no part of it is printed, on every
/// path: the app's start-up, migrate, status, health db; text and JSON logs.
#[test]
fn a_database_url_without_slashes_is_refused_and_never_echoed() {
    let dir = migrations();
    let port = closed_port();
    let secret = "Hunter2Pa55word";
    let values = [
        format!("postgres:u:{secret}@127.0.0.1:{port}/db"),
        format!("postgres:/u:{secret}@127.0.0.1:{port}/db"),
        format!("postgres:\\\\u:{secret}@h/db"),
        format!("postgresql:/\\u:{secret}@h/db"),
        format!("POSTGRES:{secret}"),
        format!("postgres:{secret}"),
        format!("mysql:{secret}"),
        format!("mariadb:u:{secret}@127.0.0.1:{port}/db"),
    ];
    for value in &values {
        let file = dir.join("secret");
        std::fs::write(&file, format!("{value}\n")).unwrap();
        for format in formats() {
            let app = |cmd: &mut std::process::Command, args: &[&str]| {
                let out = run(cmd
                    .current_dir(dir.path())
                    .args(format)
                    .args(["--wait-timeout", "300ms", "--migrations"])
                    .arg(dir.path())
                    .args(args));
                out.expect_code(78)
                    .expect_stderr_contains("is not a well-formed URL");
                never_printed(&out, &[secret, value]);
                out
            };
            let env = |var: &str, value: &std::ffi::OsStr| {
                let mut cmd = usher();
                cmd.env(var, value);
                cmd
            };
            let (url, file) = (value.as_ref(), file.as_os_str());
            app(&mut env("DATABASE_URL", url), &["migrate"])
                .expect_stderr_contains("DATABASE_URL is not");
            app(&mut env("DATABASE_URL", url), &["--", "true"]);
            app(&mut env("DATABASE_URL_FILE", file), &["--", "true"])
                .expect_stderr_contains("DATABASE_URL (read from DATABASE_URL_FILE=");
            app(&mut env("DATABASE_URL_FILE", file), &["migrate"]);
            app(&mut env("MIGRATION_DATABASE_URL_FILE", file), &["status"]).expect_stderr_contains(
                "MIGRATION_DATABASE_URL (read from MIGRATION_DATABASE_URL_FILE=",
            );
            app(
                &mut env("MIGRATION_DATABASE_URL", url),
                &["resolve", "1", "--applied"],
            );
            app(&mut env("DATABASE_URL", url), &["baseline", "1"]);
            for health in [&["health", "db"][..], &["health", "db", "--no-pending"]] {
                let out = run(usher()
                    .current_dir(dir.path())
                    .env("DATABASE_URL_FILE", file)
                    .args(format)
                    .args(health));
                out.expect_code(1)
                    .expect_stdout_contains("unhealthy: db: DATABASE_URL (read from");
                never_printed(&out, &[secret, value]);
            }
        }
        // SQLite was never asked to create a file named after the secret.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains(secret)), "{names:?}");
    }
}

/// A `--wait` URL or `usher health` target whose password holds a character that ends the
/// authority early ('#', '/', '?', '\') — the parsers then read part of the password as a
/// port or a path — or a comma (which splits USHER_WAIT's list): no error, log line or probe
/// output quotes any part of it, in text or JSON.
#[test]
fn a_password_that_ends_the_authority_early_is_never_quoted() {
    let port = closed_port();
    let passwords = [
        "Hunter2#Pa55word",
        "Hunter2/Pa55word",
        "Hunter2?Pa55word",
        "Hunter2\\Pa55word",
        "#Hunter2Pa55word",
        "Hunter2 Pa55#word",
        "Hun/ter2?Pa55#word",
        "Hunter2'Pa55\"word#x",
        // A comma does not end the authority, but does end an item of USHER_WAIT's list.
        "Hunter2,Pa55word",
        "Hunter2,Pa55/word",
    ];
    let parts = ["Hunter2", "Pa55word", "ter2", "Pa55"];
    for pass in passwords {
        for url in [
            format!("http://user:{pass}@127.0.0.1:{port}/healthz"),
            format!("http://user:{pass}@127.0.0.1/"),
            format!("http://user:{pass}@[::1]:{port}/"),
            format!("tcp://user:{pass}@127.0.0.1:{port}"),
            format!("tcp://user:{pass}@db"),
        ] {
            for format in formats() {
                let wait = ["--wait", url.as_str(), "--wait-timeout", "300ms", "true"];
                let out = run(usher().args(format).args(wait));
                assert!(
                    [64, 69].contains(&out.code().unwrap_or(0)),
                    "{}",
                    out.describe()
                );
                never_printed(&out, &parts);
                let out = run(usher()
                    .env("USHER_WAIT", &url)
                    .env("USHER_WAIT_TIMEOUT", "300ms")
                    .args(format)
                    .arg("true"));
                assert!(
                    [78, 69].contains(&out.code().unwrap_or(0)),
                    "{}",
                    out.describe()
                );
                never_printed(&out, &parts);
                let out = run(usher()
                    .args(format)
                    .args(["health", &url, "--timeout", "300ms"]));
                out.expect_code(1);
                never_printed(&out, &parts);
            }
        }
    }
}
