//! Bad input stops the start with a named error and its exit code, and records nothing
//! partial: an edited applied file (68), an unknown applied migration (warning, or 68 on
//! request), an out-of-order file (68), a duplicate version, a malformed name or non-UTF-8 SQL
//! (66), a missing directory (66), a failing statement (65, with file:line:column). Files that
//! differ only in line endings or a BOM are accepted. No output ever holds the password.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::path::Path;

use common::{Run, TempDir, run, usher};
use servers::{PASSWORD, Target, expect_failure};

const TABLE: &str = "_sqlx_migrations";

fn files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("1_create_a.sql", "CREATE TABLE a (x INTEGER);\n"),
        (
            "2_fill_a.sql",
            "INSERT INTO a (x) VALUES (1);\nINSERT INTO a (x) VALUES (2);\n",
        ),
    ]
}

fn migrate(t: &Target, dir: &Path, extra: &[&str]) -> Run {
    run(usher()
        .env("DATABASE_URL", t.url())
        .arg("--migrations")
        .arg(dir)
        .args(extra)
        .args(["--", "echo", "app-started"]))
}

#[test]
fn edited_applied_file_is_refused_and_nothing_else_runs() {
    for t in [Target::postgres("edit"), Target::sqlite("edit")]
        .into_iter()
        .flatten()
    {
        let dir = TempDir::new("m");
        servers::write_migrations(dir.path(), &files());
        migrate(&t, dir.path(), &[]).expect_code(0);
        servers::write_migrations(
            dir.path(),
            &[
                ("2_fill_a.sql", "INSERT INTO a (x) VALUES (1);\n"),
                ("3_more.sql", "INSERT INTO a (x) VALUES (3);\n"),
            ],
        );
        let r = migrate(&t, dir.path(), &[]);
        expect_failure(&r, 68);
        r.expect_stderr_contains("2_fill_a.sql was changed after it was applied")
            .expect_stderr_contains("put the change in a new migration");
        assert!(!r.stdout().contains("app-started"));
        assert_eq!(t.versions(TABLE), [1, 2], "{}", t.kind());
    }
}

#[test]
fn line_ending_and_bom_only_changes_are_accepted() {
    for t in [Target::postgres("crlf"), Target::sqlite("crlf")]
        .into_iter()
        .flatten()
    {
        let dir = TempDir::new("m");
        let refinery = [(
            "V1__create_a.sql",
            "CREATE TABLE a (x INTEGER);\nCREATE TABLE b (y INTEGER);\n",
        )];
        servers::write_migrations(dir.path(), &refinery);
        migrate(&t, dir.path(), &[]).expect_code(0);
        servers::write_migrations(
            dir.path(),
            &[(
                "V1__create_a.sql",
                "\u{feff}CREATE TABLE a (x INTEGER);\r\nCREATE TABLE b (y INTEGER);\r\n",
            )],
        );
        migrate(&t, dir.path(), &[])
            .expect_code(0)
            .expect_stdout_contains("app-started")
            .expect_stderr_contains("only in line endings or a byte-order mark");
    }
}

#[test]
fn unknown_applied_migrations_warn_by_default_and_refuse_on_request() {
    let Some(t) = Target::sqlite("unknown") else {
        return;
    };
    let dir = TempDir::new("m");
    let mut f = files();
    f.push(("3_newer.sql", "CREATE TABLE newer (x INTEGER);\n"));
    servers::write_migrations(dir.path(), &f);
    migrate(&t, dir.path(), &[]).expect_code(0);
    // An older image: it has no file for 3.
    std::fs::remove_file(dir.join("3_newer.sql")).unwrap();
    migrate(&t, dir.path(), &[])
        .expect_code(0)
        .expect_stdout_contains("app-started")
        .expect_stderr_contains(
            "warning: the database has applied migrations with no file here: 3 (newer)",
        );
    let r = migrate(&t, dir.path(), &["--on-unknown", "error"]);
    expect_failure(&r, 68);
    r.expect_stderr_contains("3 (newer)")
        .expect_stderr_contains("--on-unknown warn");
    assert_eq!(t.versions(TABLE), [1, 2, 3]);
}

#[test]
fn out_of_order_file_is_refused_unless_allowed() {
    let Some(t) = Target::postgres("order") else {
        return;
    };
    let dir = TempDir::new("m");
    servers::write_migrations(
        dir.path(),
        &[
            ("1_a.sql", "CREATE TABLE a (x int);"),
            ("3_c.sql", "CREATE TABLE c (x int);"),
        ],
    );
    migrate(&t, dir.path(), &[]).expect_code(0);
    servers::write_migrations(dir.path(), &[("2_b.sql", "CREATE TABLE b (x int);")]);
    let r = migrate(&t, dir.path(), &[]);
    expect_failure(&r, 68);
    r.expect_stderr_contains("out-of-order migration")
        .expect_stderr_contains("2_b.sql is older than 3")
        .expect_stderr_contains("--allow-out-of-order");
    assert_eq!(t.versions(TABLE), [1, 3]);
    migrate(&t, dir.path(), &["--allow-out-of-order"]).expect_code(0);
    assert_eq!(t.versions(TABLE), [1, 2, 3]);
}

/// Unusable files stop the start before anything touches the database.
#[test]
fn bad_files_are_named_and_nothing_is_recorded() {
    let Some(t) = Target::sqlite("files") else {
        return;
    };
    // (what, files, expected message)
    type Case = (
        &'static str,
        Vec<(&'static str, &'static [u8])>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "duplicate version",
            vec![("1_a.sql", b"SELECT 1;"), ("1_b.sql", b"SELECT 2;")],
            "duplicate migration version 1",
        ),
        (
            "malformed name",
            vec![("V1__a.sql", b"SELECT 1;"), ("V2_b.sql", b"SELECT 2;")],
            "bad migration file name",
        ),
        (
            "malformed sqlx version",
            vec![("1_a.sql", b"SELECT 1;"), ("2b_b.sql", b"SELECT 2;")],
            "is not a whole number",
        ),
        (
            "non-UTF-8",
            vec![("1_a.sql", b"SELECT 1;"), ("2_b.sql", b"SELECT 'caf\xe9';")],
            "is not valid UTF-8 (invalid byte at line 1, column 12)",
        ),
        (
            "two formats",
            vec![("1_a.sql", b"SELECT 1;"), ("V2__b.sql", b"SELECT 2;")],
            "set --format",
        ),
    ];
    for (what, files, expected) in cases {
        let dir = TempDir::new("m");
        for (name, content) in &files {
            std::fs::write(dir.join(name), content).unwrap();
        }
        let r = migrate(&t, dir.path(), &[]);
        expect_failure(&r, 66);
        r.expect_stderr_contains(expected);
        assert!(!r.stdout().contains("app-started"), "{what}");
        assert!(!t.has_table(TABLE), "{what}: nothing recorded");
        assert!(!t.has_table("refinery_schema_history"), "{what}");
    }
    let dir = TempDir::new("m");
    let r = run(usher()
        .env("DATABASE_URL", t.url())
        .args(["--migrate", "always", "--migrations"])
        .arg(dir.join("nope"))
        .args(["--", "true"]));
    expect_failure(&r, 66);
    r.expect_stderr_contains("the migration directory")
        .expect_stderr_contains("does not exist");
}

/// A failing statement: exit 65, the file with line and column, the database's code and
/// message; the migration is rolled back and not recorded.
#[test]
fn failing_statement_is_located_and_rolled_back_on_every_database() {
    for t in Target::all("syntax") {
        let dir = TempDir::new("m");
        servers::write_migrations(
            dir.path(),
            &[("1_create_a.sql", "CREATE TABLE a (x INTEGER);\n")],
        );
        migrate(&t, dir.path(), &[]).expect_code(0);
        // DML only, so MySQL can roll it back too.
        servers::write_migrations(
            dir.path(),
            &[(
                "2_broken.sql",
                "INSERT INTO a (x) VALUES (1);\nINSERT INTO a (x) VALUES (2);\n\n  SELEC 3;\n",
            )],
        );
        let r = migrate(&t, dir.path(), &[]);
        expect_failure(&r, 65);
        let location = format!("{}:4:3", dir.join("2_broken.sql").display());
        r.expect_stderr_contains(&format!("migration 2 failed at {location}"))
            .expect_stderr_contains("nothing was recorded");
        let code = match t.kind() {
            "postgres" => "[42601]",
            "mariadb" => "[1064 / SQLSTATE 42000]",
            _ => "syntax error",
        };
        r.expect_stderr_contains(code);
        assert_eq!(t.versions(TABLE), [1], "{}", t.kind());
        assert_eq!(
            t.sql("SELECT count(*) FROM a"),
            "0",
            "{}: rolled back",
            t.kind()
        );
        assert!(!r.stdout().contains("app-started"));
    }
}

/// PostgreSQL's hint is part of the message.
#[test]
fn postgres_hint_is_shown() {
    let Some(t) = Target::postgres("hint") else {
        return;
    };
    let dir = TempDir::new("m");
    servers::write_migrations(
        dir.path(),
        &[(
            "1_a.sql",
            "CREATE TABLE a (x int);\nSELECT * FROM a WHERE x = 'a' || 1 + now();\n",
        )],
    );
    let r = migrate(&t, dir.path(), &[]);
    expect_failure(&r, 65);
    r.expect_stderr_contains("hint: No operator matches");
    r.expect_stderr_contains("1_a.sql:2:");
}

/// Connection and URL failures never print the password, wherever it was given.
#[test]
fn no_password_in_any_failure_output() {
    let closed = servers::free_port();
    let mut cases: Vec<(String, i32)> = vec![
        (
            format!("postgres://app:{PASSWORD}@127.0.0.1:{closed}/app"),
            69,
        ),
        (
            format!("postgres://127.0.0.1:{closed}/app?user=app&password={PASSWORD}"),
            69,
        ),
        (format!("mysql://app:{PASSWORD}@127.0.0.1:{closed}/app"), 69),
        (
            format!("postgres://app:{PASSWORD}@127.0.0.1:notaport/app"),
            78,
        ),
        (format!("oracle://app:{PASSWORD}@db/app"), 78),
    ];
    if let Some(pg) = servers::Postgres::shared() {
        let db = pg.create_database("leak");
        cases.push((
            format!(
                "postgres://postgres:wrong-{PASSWORD}@127.0.0.1:{}/{db}",
                pg.port
            ),
            76,
        ));
        cases.push((pg.url("no_such_database"), 76));
    }
    if let Some(m) = servers::MariaDb::shared() {
        cases.push((
            format!("mysql://usher:wrong-{PASSWORD}@127.0.0.1:{}/x", m.port),
            76,
        ));
    }
    let dir = TempDir::new("m");
    servers::write_migrations(dir.path(), &files());
    for (url, code) in cases {
        // A refusal (76) fails at the first answer, however long the wait may be; a closed
        // port (69) waits it out, so it is kept short. (300 ms for both was too short for a
        // SCRAM exchange on a loaded machine.)
        let wait = if code == 76 { "20s" } else { "300ms" };
        for sub in [&["migrate"][..], &["status"], &["--", "true"]] {
            let r = run(usher()
                .env("DATABASE_URL", &url)
                .args(["--wait-timeout", wait, "--migrations"])
                .arg(dir.path())
                .args(sub));
            expect_failure(&r, code);
        }
    }
}
