//! Migration files usher cannot use are refused by name (exit 66), never skipped: a NUL byte
//! (before any connection: it made SQLite loop forever), a dangling or looping `.sql`
//! symlink, a `.sql` file usher cannot read. An unreadable subdirectory (`lost+found`) only
//! matters to refinery, the format that reads subdirectories. A file applied with mixed
//! CRLF/LF line endings and normalised since is accepted; a real edit is not.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Run, TempDir, run, usher};
use servers::{Target, expect_failure};

fn start(url: &str, dir: &Path, extra: &[&str]) -> Run {
    run(usher()
        .env("DATABASE_URL", url)
        .arg("--migrations")
        .arg(dir)
        .args(extra)
        .args(["--", "echo", "app-started"]))
}

fn sqlite_url(dir: &TempDir) -> String {
    format!("sqlite://{}", dir.join("app.db").display())
}

/// A directory anyone may enter and write (for `--user nobody`).
fn open_dir(tag: &str) -> TempDir {
    let d = TempDir::new(tag);
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

#[test]
fn nul_byte_is_refused_before_connecting() {
    let dir = TempDir::new("m");
    servers::write_migrations(
        dir.path(),
        &[
            ("1_ok.sql", "CREATE TABLE a (x INTEGER);\n"),
            ("2_nul.sql", "CREATE TABLE b (x INTEGER);\0"),
        ],
    );
    // Nothing listens there: a connection attempt would wait until --wait-timeout.
    let closed = servers::free_port();
    let began = Instant::now();
    let r = start(
        &format!("postgres://u:{}@127.0.0.1:{closed}/db", servers::PASSWORD),
        dir.path(),
        &["--wait-timeout", "60s"],
    );
    expect_failure(&r, 66);
    r.expect_stderr_contains("2_nul.sql contains a NUL byte at byte offset 27 (line 1, column 28)");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{}",
        r.describe()
    );

    // In a subdirectory, for refinery (the format that reads them), on SQLite.
    let db = TempDir::new("db");
    let dir = TempDir::new("m");
    servers::write_migrations(dir.path(), &[("V1__ok.sql", "SELECT 1;\n")]);
    std::fs::create_dir(dir.join("more")).unwrap();
    std::fs::write(dir.join("more/V2__nul.sql"), "SELECT 1;\n\0\n").unwrap();
    let r = start(&sqlite_url(&db), dir.path(), &[]);
    expect_failure(&r, 66);
    r.expect_stderr_contains(
        "more/V2__nul.sql contains a NUL byte at byte offset 10 (line 2, column 1)",
    );
}

#[test]
fn dangling_and_looping_symlinks_are_refused() {
    let db = TempDir::new("db");
    let dir = TempDir::new("m");
    servers::write_migrations(dir.path(), &[("1_ok.sql", "CREATE TABLE a (x INTEGER);\n")]);
    std::os::unix::fs::symlink(dir.join("../not-there.sql"), dir.join("2_later.sql")).unwrap();
    let r = start(&sqlite_url(&db), dir.path(), &[]);
    expect_failure(&r, 66);
    r.expect_stderr_contains("2_later.sql cannot be read")
        .expect_stderr_contains("symbolic link");
    assert!(!r.stdout().contains("app-started"));

    std::fs::remove_file(dir.join("2_later.sql")).unwrap();
    std::os::unix::fs::symlink("2_later.sql", dir.join("2_later.sql")).unwrap();
    let r = start(&sqlite_url(&db), dir.path(), &[]);
    expect_failure(&r, 66);
    r.expect_stderr_contains("2_later.sql cannot be read");
}

#[test]
fn unreadable_file_is_refused_by_name() {
    if !common::require_root() {
        return;
    }
    let db = open_dir("db");
    let dir = open_dir("m");
    servers::write_migrations(
        dir.path(),
        &[
            ("1_ok.sql", "CREATE TABLE a (x INTEGER);\n"),
            ("2_secret.sql", "SELECT 1;\n"),
        ],
    );
    std::fs::set_permissions(
        dir.join("2_secret.sql"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let r = start(&sqlite_url(&db), dir.path(), &["--user", "nobody"]);
    expect_failure(&r, 66);
    r.expect_stderr_contains("cannot read the migration file")
        .expect_stderr_contains("2_secret.sql");
}

#[test]
fn unreadable_subdirectory_matters_only_to_refinery() {
    if !common::require_root() {
        return;
    }
    for (files, code) in [
        (&[("1_ok.sql", "CREATE TABLE a (x INTEGER);\n")][..], 0),
        (&[("V1__ok.sql", "CREATE TABLE a (x INTEGER);\n")][..], 66),
    ] {
        let db = open_dir("db");
        let dir = open_dir("m");
        servers::write_migrations(dir.path(), files);
        let lost = dir.join("lost+found");
        std::fs::create_dir(&lost).unwrap();
        std::fs::set_permissions(&lost, std::fs::Permissions::from_mode(0o000)).unwrap();
        let r = start(&sqlite_url(&db), dir.path(), &["--user", "nobody"]);
        if code == 0 {
            r.expect_code(0).expect_stdout_contains("app-started");
        } else {
            expect_failure(&r, code);
            r.expect_stderr_contains("lost+found")
                .expect_stderr_contains("refinery reads subdirectories");
        }
    }
}

/// Any mix of CRLF and LF endings — here one no guess of usher's finds again — applied, then
/// normalised either way, is the applied migration (usher records such a file's text with LF
/// endings in `usher_line_endings` when it applies it); a real edit still is not.
#[test]
fn any_mix_of_line_endings_normalised_later_is_accepted() {
    let mixed: String = (0..40)
        .map(|i| {
            let end = if (i * 7 + i / 3) % 5 < 2 {
                "\r\n"
            } else {
                "\n"
            };
            format!("INSERT INTO a VALUES ({i});{end}")
        })
        .collect();
    let mixed = format!("CREATE TABLE a (x INTEGER);\n{mixed}");
    for (name, table) in [
        ("1_mixed.sql", "_sqlx_migrations"),
        ("V1__mixed.sql", "refinery_schema_history"),
    ] {
        for t in Target::all("anymix") {
            let dir = TempDir::new("m");
            servers::write_migrations(dir.path(), &[(name, &mixed)]);
            start(&t.url(), dir.path(), &[]).expect_code(0);
            assert_eq!(t.sql("SELECT count(*) FROM usher_line_endings"), "1");
            let lf = mixed.replace("\r\n", "\n");
            for now in [lf.clone(), lf.replace('\n', "\r\n")] {
                servers::write_migrations(dir.path(), &[(name, &now)]);
                start(&t.url(), dir.path(), &[])
                    .expect_code(0)
                    .expect_stdout_contains("app-started");
            }
            // A real edit is refused, whatever its endings.
            servers::write_migrations(dir.path(), &[(name, &lf.replace("(39)", "(40)"))]);
            expect_failure(&start(&t.url(), dir.path(), &[]), 68);
            assert_eq!(t.versions(table), [1], "{}", t.kind());
            assert_eq!(t.sql("SELECT count(*) FROM a"), "40", "{}", t.kind());
        }
    }
}

#[test]
fn mixed_line_endings_normalised_later_are_accepted() {
    let mixed = "CREATE TABLE a (x INTEGER);\r\nINSERT INTO a VALUES (1);\r\nINSERT INTO a VALUES (2);\nINSERT INTO a VALUES (3);\r\n";
    for (name, table) in [
        ("1_mixed.sql", "_sqlx_migrations"),
        ("V1__mixed.sql", "refinery_schema_history"),
    ] {
        for t in Target::all("crlf") {
            let dir = TempDir::new("m");
            servers::write_migrations(dir.path(), &[(name, mixed)]);
            start(&t.url(), dir.path(), &[]).expect_code(0);
            // git renormalises the file: every line LF, then every line CRLF.
            for now in [
                mixed.replace("\r\n", "\n"),
                mixed.replace("\r\n", "\n").replace('\n', "\r\n"),
            ] {
                servers::write_migrations(dir.path(), &[(name, &now)]);
                let r = start(&t.url(), dir.path(), &[]);
                r.expect_code(0)
                    .expect_stdout_contains("app-started")
                    .expect_stderr_contains("only in line endings");
            }
            // A real edit is refused.
            servers::write_migrations(dir.path(), &[(name, &mixed.replace("(3)", "(4)"))]);
            let r = start(&t.url(), dir.path(), &[]);
            expect_failure(&r, 68);
            assert_eq!(t.versions(table), [1], "{}", t.kind());
        }
    }
}
