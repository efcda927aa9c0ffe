//! Rule: the exit codes are an interface documented once — README's table, `--help`'s table
//! (printed from src/exit.rs `TABLE`) agree row for row — and every documented code but 70
//! (a bug) is what the real binary returns in a situation that must produce it.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::loopback::closed_port;
use common::{TempDir, require_root, require_tool, run, usher, usher_path};

/// `code → meaning` from README.md's "Exit codes" table, backticks removed.
fn readme_table() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("\n## Exit codes")
        .nth(1)
        .expect("README has an Exit codes section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| {
            let mut cells = l.trim_end_matches('|').split(" | ");
            let code = cells.next()?.trim().to_string();
            let meaning = cells.next()?.trim().replace('`', "");
            (code != "code" && !code.starts_with("---")).then_some((code, meaning))
        })
        .collect()
}

/// `code → meaning` from `usher --help`.
fn help_table() -> BTreeMap<String, String> {
    let out = run(usher().arg("--help"));
    out.expect_code(0);
    out.stdout()
        .split("Exit codes:\n")
        .nth(1)
        .expect("--help has an exit-code table")
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let (code, meaning) = l.split_once(' ')?;
            Some((code.to_string(), meaning.trim().to_string()))
        })
        .collect()
}

/// The codes the tests below produce with the real binary.
const EXERCISED: &[&str] = &[
    "0", "1", "64", "65", "66", "67", "68", "69", "71", "73", "75", "76", "77", "78", "126", "127",
    "128+N",
];

#[test]
fn readme_and_help_list_the_same_codes_and_meanings() {
    let readme = readme_table();
    let help = help_table();
    assert!(readme.len() >= 15, "{readme:?}");
    assert_eq!(readme, help, "README.md's table and --help's differ");
    // Every documented code but 70 (a bug) has a test below: a new row needs one.
    for code in readme.keys() {
        assert!(
            code == "70" || EXERCISED.contains(&code.as_str()),
            "exit code {code} is documented but no test below produces it"
        );
    }
    // src/exit.rs TABLE is what --help prints; its source names every code too.
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/exit.rs")).unwrap();
    let table = source
        .split("pub const TABLE")
        .nth(1)
        .and_then(|t| t.split("\n];").next())
        .expect("src/exit.rs has TABLE");
    for code in readme.keys() {
        assert!(
            table.contains(&format!("\"{code}\"")),
            "{code} is not in src/exit.rs TABLE"
        );
    }
}

/// A directory with one migration, and a SQLite URL for a fresh database beside it.
struct Sqlite {
    dir: TempDir,
}

impl Sqlite {
    fn new(sql: &str) -> Sqlite {
        let dir = TempDir::new("exit-codes");
        std::fs::create_dir(dir.join("migrations")).unwrap();
        std::fs::write(dir.join("migrations/1_first.sql"), sql).unwrap();
        Sqlite { dir }
    }

    fn usher(&self) -> Command {
        let mut cmd = usher();
        cmd.env(
            "DATABASE_URL",
            format!("sqlite://{}", self.dir.join("app.db").display()),
        )
        .arg("--migrations")
        .arg(self.dir.join("migrations"));
        cmd
    }
}

#[track_caller]
fn expect(code: i32, cmd: &mut Command) {
    run(cmd).expect_code(code);
}

#[test]
fn code_0_and_1() {
    expect(0, usher().arg("true"));
    expect(
        0,
        Sqlite::new("CREATE TABLE a (x INT);\n")
            .usher()
            .arg("migrate"),
    );
    let closed = format!("tcp://127.0.0.1:{}", closed_port());
    expect(1, usher().args(["health", &closed]));
    let pending = Sqlite::new("CREATE TABLE a (x INT);\n");
    expect(1, pending.usher().args(["status", "--exit-code"]));
}

#[test]
fn code_64_usage() {
    expect(64, usher().arg("--bogus"));
    expect(64, usher().args(["--wait-timeout", "soon", "true"]));
    expect(64, usher().args(["--user", "4294967296", "true"]));
    // A bad flag value is refused by the configuration step, before any other step runs.
    let db = Sqlite::new("CREATE TABLE a (x INT);\n");
    run(db.usher().args(["--format", "flyway", "true"]))
        .expect_code(64)
        .expect_stderr_contains("config: error: --format: invalid value \"flyway\"")
        .expect_stderr_contains("golang-migrate");
    run(db.usher().args(["--log-level", "trace", "true"]))
        .expect_code(64)
        .expect_stderr_contains("--log-level");
}

/// A version beyond 64 bits is a whole number: it is said to be out of range, with the
/// largest version allowed, by the exit code of where it came from.
#[test]
fn versions_beyond_64_bits_are_out_of_range() {
    let db = Sqlite::new("CREATE TABLE a (x INT);\n");
    for big in [
        "9223372036854775808",
        "99999999999999999999",
        "18446744073709551616_init",
    ] {
        for args in [
            vec!["resolve", big, "--applied"],
            vec!["resolve", big, "--rolled-back"],
            vec!["baseline", big],
            vec!["--baseline", big, "migrate"],
            vec!["--baseline", big, "true"],
        ] {
            let out = run(db.usher().args(&args));
            out.expect_code(64)
                .expect_stderr_contains("out of range")
                .expect_stderr_contains("9223372036854775807");
            assert!(!out.stderr().contains("whole number"), "{}", out.describe());
        }
        let out = run(db.usher().env("USHER_BASELINE", big).arg("migrate"));
        out.expect_code(78)
            .expect_stderr_contains("USHER_BASELINE: ")
            .expect_stderr_contains("out of range")
            .expect_stderr_contains("9223372036854775807");
    }
    // The largest version itself is accepted.
    run(db
        .usher()
        .args(["resolve", "9223372036854775807", "--applied"]))
    .expect_stderr_contains("9223372036854775807");
}

/// Every option README's table documents with an enumerated value — `auto|always|never` in
/// the flag column, or the names in backticks of a `NAME`/`LEVEL` option's meaning — accepts
/// each documented value, and refuses any other: exit 64 naming the flag when it came from
/// the flag, 78 naming the variable when it came from the variable (the sentence under
/// README's table), before any other step runs.
#[test]
fn enumerated_options_accept_their_documented_values_only() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut checked = Vec::new();
    for row in readme.lines().filter(|l| l.starts_with("| `--")) {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        let (flag_cell, variable, meaning) = (cells[0], cells[1].trim_matches('`'), cells[3]);
        let flag_cell = flag_cell.split('`').nth(1).unwrap();
        let Some((flag, value)) = flag_cell.split_once(' ') else {
            continue;
        };
        let values: Vec<String> = if value.contains("\\|") {
            value.split("\\|").map(str::to_string).collect()
        } else if value == "NAME" || value == "LEVEL" {
            meaning
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        } else {
            continue;
        };
        assert!(values.len() >= 2, "{row}");
        for v in &values {
            let out = run(usher().args([flag, v.as_str(), "true"]));
            assert!(
                ![64, 78].contains(&out.code().unwrap_or(0)),
                "{flag} {v} is documented but refused\n{}",
                out.describe()
            );
            let out = run(usher().env(variable, v).arg("true"));
            assert!(
                ![64, 78].contains(&out.code().unwrap_or(0)),
                "{variable}={v} is documented but refused\n{}",
                out.describe()
            );
        }
        for bad in ["bogus", "trace", "flyway", "Always", "", "json,text"] {
            if values.iter().any(|v| v == bad) {
                continue;
            }
            run(usher().args([flag, bad, "true"]))
                .expect_code(64)
                .expect_stderr_contains(&format!("{flag}: invalid value"));
            if !bad.is_empty() {
                run(usher().env(variable, bad).arg("true"))
                    .expect_code(78)
                    .expect_stderr_contains(&format!("{variable}: invalid value"));
            }
        }
        checked.push(flag.to_string());
    }
    for flag in [
        "--migrate",
        "--format",
        "--on-unknown",
        "--init",
        "--log-format",
        "--log-level",
    ] {
        assert!(
            checked.iter().any(|c| c == flag),
            "{flag} not checked: {checked:?}"
        );
    }
}

#[test]
fn code_65_a_migration_failed() {
    let db = Sqlite::new("CREATE TABLE a (x INT);\nNOT SQL AT ALL;\n");
    expect(65, db.usher().arg("migrate"));
}

#[test]
fn code_66_migration_files_unusable() {
    let db = Sqlite::new("CREATE TABLE a (x INT);\n");
    std::fs::write(db.dir.join("migrations/1_again.sql"), "SELECT 1;\n").unwrap();
    expect(66, db.usher().arg("migrate"));
    // A version beyond 64 bits is said to be too large, not "not a whole number".
    let db = Sqlite::new("CREATE TABLE a (x INT);\n");
    std::fs::write(
        db.dir.join("migrations/99999999999999999999_huge.sql"),
        "SELECT 1;\n",
    )
    .unwrap();
    run(db.usher().arg("migrate"))
        .expect_code(66)
        .expect_stderr_contains("too large");
    expect(
        66,
        usher().env("DATABASE_URL", "sqlite::memory:").args([
            "--migrate",
            "always",
            "--migrations",
            "/nonexistent/usher",
            "true",
        ]),
    );
    // A regular file is not a directory, and is said to be one that exists.
    let db = Sqlite::new("CREATE TABLE a (x INT);\n");
    let file = db.dir.join("migrations/1_first.sql");
    for mode in ["auto", "always"] {
        let out = run(usher()
            .env("DATABASE_URL", "sqlite::memory:")
            .env("USHER_MIGRATIONS", &file)
            .args(["--migrate", mode, "true"]));
        out.expect_code(66)
            .expect_stderr_contains("1_first.sql is not a directory");
        assert!(
            !out.stderr().contains("does not exist"),
            "{}",
            out.describe()
        );
    }
}

#[test]
fn code_67_unknown_user() {
    expect(67, usher().args(["--user", "no-such-user-usher", "true"]));
}

#[test]
fn code_68_history_conflict() {
    let db = Sqlite::new("CREATE TABLE a (x INT);\n");
    expect(0, db.usher().arg("migrate"));
    std::fs::write(
        db.dir.join("migrations/1_first.sql"),
        "CREATE TABLE a (x INT, y INT);\n",
    )
    .unwrap();
    expect(68, db.usher().arg("migrate"));
}

#[test]
fn code_69_not_ready() {
    let closed = format!("tcp://127.0.0.1:{}", closed_port());
    expect(
        69,
        usher().args(["--wait", &closed, "--wait-timeout", "200ms", "true"]),
    );
}

#[test]
fn code_71_a_system_call_failed() {
    // Four descriptors: stdin, stdout, stderr and usher's signalfd; the socketpair of the
    // --wait stage cannot be made.
    let closed = format!("tcp://127.0.0.1:{}", closed_port());
    let script = format!(
        "ulimit -n 4 && exec {} --wait {closed} true",
        common::sh_quote(usher_path())
    );
    let out = run(Command::new("sh")
        .args(["-c", &script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin"));
    out.expect_code(71).expect_stderr_contains("socketpair");
}

#[test]
fn code_73_a_pre_start_task_failed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("exit-codes-hooks");
    let task = dir.join("10-fail");
    std::fs::write(&task, "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::set_permissions(&task, std::fs::Permissions::from_mode(0o755)).unwrap();
    expect(73, usher().arg("--hooks").arg(dir.path()).arg("true"));
    // A task left without its execute bit is not skipped.
    std::fs::set_permissions(&task, std::fs::Permissions::from_mode(0o644)).unwrap();
    expect(73, usher().arg("--hooks").arg(dir.path()).arg("true"));
    expect(
        73,
        usher().args(["--hooks", "/nonexistent/usher-hooks", "true"]),
    );
}

#[test]
fn code_75_lock_held_too_long() {
    if !require_tool("flock") {
        return;
    }
    let db = Sqlite::new("CREATE TABLE a (x INT);\n");
    let file = db.dir.join("app.db");
    std::fs::write(&file, b"").unwrap();
    // Another "replica" holds the database file's migration lock (an exclusive flock).
    let mut holder = Command::new("flock")
        .args(["-x"])
        .arg(&file)
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let out = run(db.usher().args(["--lock-timeout", "300ms", "migrate"]));
    let _ = holder.kill();
    let _ = holder.wait();
    out.expect_code(75);
}

#[test]
fn code_76_the_database_refused() {
    let Some(pg) = servers::Postgres::shared() else {
        return;
    };
    let wrong_password = pg
        .url("postgres")
        .replace(servers::PASSWORD, "not-the-password");
    let unknown_database = pg.url("no_such_database_usher");
    let db = Sqlite::new("CREATE TABLE a (x INT);\n");
    for url in [wrong_password, unknown_database] {
        let out =
            run(usher()
                .env("DATABASE_URL", &url)
                .args(["--wait-timeout", "10s", "health", "db"]));
        out.expect_code(1);
        let out = run(usher()
            .env("DATABASE_URL", &url)
            .args(["--wait-timeout", "10s", "--migrations"])
            .arg(db.dir.join("migrations"))
            .arg("migrate"));
        servers::expect_failure(&out, 76);
    }
}

#[test]
fn code_77_privilege_drop_impossible() {
    if !require_root() || !require_tool("setpriv") {
        return;
    }
    // usher started as nobody cannot become root.
    let out = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(usher_path())
        .args(["--user", "0:0", "true"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin"));
    out.expect_code(77);
}

#[test]
fn code_78_configuration() {
    expect(78, usher().env("USHER_WAIT_TIMEOUT", "soon").arg("true"));
    expect(
        78,
        usher()
            .env("DATABASE_URL", "x")
            .env("DATABASE_URL_FILE", "/etc/hostname")
            .arg("true"),
    );
    expect(
        78,
        usher()
            .env("DATABASE_URL_FILE", "/nonexistent/usher")
            .arg("true"),
    );
    let db = Sqlite::new("CREATE TABLE a (x INT);\n");
    run(db.usher().env("USHER_FORMAT", "flyway").arg("true"))
        .expect_code(78)
        .expect_stderr_contains("config: error: USHER_FORMAT: invalid value \"flyway\"");
    run(usher().env("USHER_LOG_LEVEL", "trace").arg("true"))
        .expect_code(78)
        .expect_stderr_contains("USHER_LOG_LEVEL: invalid value \"trace\"");
    // A database URL with no `//` is refused before anything connects.
    run(db
        .usher()
        .env("DATABASE_URL", "postgres:u:Hunter2Pa55@h/db")
        .arg("migrate"))
    .expect_code(78)
    .expect_stderr_contains("DATABASE_URL is not a well-formed URL");
}

#[test]
fn codes_126_127_and_128_plus_n() {
    expect(126, usher().arg("/etc/hostname"));
    expect(127, usher().arg("no-such-command-usher"));
    // The app killed by SIGTERM: the supervisor exits 128+15.
    expect(
        143,
        usher().args(["--init", "always", "sh", "-c", "kill -TERM $$"]),
    );
    expect(
        137,
        usher().args(["--init", "always", "sh", "-c", "kill -KILL $$"]),
    );
}
