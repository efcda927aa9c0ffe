//! Rule: a database URL that names no database — `mysql://host/` with no database, a bare
//! `sqlite://` — is a configuration error (exit 78) before any connection is tried, naming the
//! variable and what is missing, and never printing the password.

mod common;

use common::{TempDir, usher};

const PASSWORD: &str = "Url-s3cr3t-91";

fn start(variable: &str, url: &str, args: &[&str]) -> common::Run {
    let dir = TempDir::new("url");
    std::fs::write(dir.join("1_t.sql"), "CREATE TABLE t (x INTEGER);\n").unwrap();
    common::run(
        usher()
            .env(variable, url)
            .env("USHER_MIGRATIONS", dir.path())
            .args(["--wait-timeout", "30s"])
            .args(args),
    )
}

fn refused(run: &common::Run, variable: &str, says: &str) {
    run.expect_code(78)
        .expect_stderr_contains(&format!("{variable} ("))
        .expect_stderr_contains(says);
    assert!(!run.all_output().contains(PASSWORD), "{}", run.describe());
}

#[test]
fn mysql_url_without_a_database() {
    for url in [
        format!("mysql://usher:{PASSWORD}@127.0.0.1:3306/"),
        format!("mariadb://usher:{PASSWORD}@127.0.0.1"),
    ] {
        refused(
            &start("DATABASE_URL", &url, &["--", "true"]),
            "DATABASE_URL",
            "names no database",
        );
        refused(
            &start("MIGRATION_DATABASE_URL", &url, &["migrate"]),
            "MIGRATION_DATABASE_URL",
            "names no database",
        );
    }
}

#[test]
fn sqlite_url_without_a_file() {
    for url in ["sqlite://", "sqlite:"] {
        refused(
            &start("DATABASE_URL", url, &["--", "true"]),
            "DATABASE_URL",
            "names no database file",
        );
    }
}

/// sqlx's own spelling of a SQLite URL, `sqlite:path` (no `//`: a SQLite URL holds no
/// password), works like `sqlite://path`, relative to the working directory or absolute.
#[test]
fn sqlite_url_in_sqlx_spelling_works() {
    let dir = TempDir::new("sqlite-spelling");
    std::fs::write(dir.join("1_t.sql"), "CREATE TABLE t (x INTEGER);\n").unwrap();
    let absolute = format!("sqlite:{}", dir.join("abs.db").display());
    for url in ["sqlite:rel.db", absolute.as_str()] {
        common::run(
            usher()
                .current_dir(dir.path())
                .env("DATABASE_URL", url)
                .env("USHER_MIGRATIONS", dir.path())
                .args(["--", "true"]),
        )
        .expect_code(0)
        .expect_stderr_contains("applied 1 migration");
    }
    assert!(dir.join("rel.db").exists() && dir.join("abs.db").exists());
}
