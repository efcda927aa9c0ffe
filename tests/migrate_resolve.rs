//! A migration that may have committed part of itself — a `-- no-transaction` script, or DDL
//! on MySQL/MariaDB — is recorded as unfinished when it fails; every later start stops on it
//! (68) naming the repair, and `usher resolve VERSION --applied|--rolled-back` repairs it in
//! a way the original tool agrees with.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::path::Path;
use std::process::Command;

use common::{Run, TempDir, run, usher};
use servers::{Target, expect_failure};

fn start(t: &Target, dir: &Path) -> Run {
    run(usher()
        .env("DATABASE_URL", t.url())
        .arg("--migrations")
        .arg(dir)
        .args(["--", "echo", "app-started"]))
}

fn resolve(t: &Target, dir: &Path, args: &[&str]) -> Run {
    run(usher()
        .env("DATABASE_URL", t.url())
        .arg("--migrations")
        .arg(dir)
        .arg("resolve")
        .args(args))
}

#[test]
fn failed_no_transaction_migration_on_postgres_is_kept_as_sqlx_dirty() {
    let Some(t) = Target::postgres("notx") else {
        return;
    };
    let dir = TempDir::new("m");
    servers::write_migrations(
        dir.path(),
        &[
            (
                "1_a.sql",
                "CREATE TABLE a (x int);\nINSERT INTO a SELECT generate_series(1, 50);\n",
            ),
            (
                "2_index.sql",
                "-- no-transaction\nCREATE INDEX CONCURRENTLY a_x ON a (x);\nCREATE INDEX CONCURRENTLY a_y ON a (y);\n",
            ),
        ],
    );
    let r = start(&t, dir.path());
    expect_failure(&r, 65);
    r.expect_stderr_contains("2_index.sql:3:1")
        .expect_stderr_contains("column \"y\" does not exist")
        .expect_stderr_contains("recorded as unfinished")
        .expect_stderr_contains("usher resolve 2");
    // sqlx's own marker: sqlx itself would refuse this database as dirty, too.
    assert_eq!(
        t.sql("SELECT version, success FROM _sqlx_migrations ORDER BY version"),
        "1\tt\n2\tf"
    );

    let r = start(&t, dir.path());
    expect_failure(&r, 68);
    r.expect_stderr_contains("migration 2 (")
        .expect_stderr_contains("may be partly applied");
    assert!(!r.stdout().contains("app-started"));

    let r = run(usher()
        .env("DATABASE_URL", t.url())
        .arg("--migrations")
        .arg(dir.path())
        .args(["status", "--exit-code"]));
    r.expect_code(1).expect_stdout_contains("failed");

    // Undo by hand, fix the file, tell usher it was rolled back; the next start runs it.
    t.sql("DROP INDEX a_x");
    servers::write_migrations(
        dir.path(),
        &[(
            "2_index.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY a_x ON a (x);\n",
        )],
    );
    resolve(&t, dir.path(), &["2", "--rolled-back"]).expect_code(0);
    start(&t, dir.path())
        .expect_code(0)
        .expect_stdout_contains("app-started");
    assert_eq!(
        t.sql("SELECT version, success FROM _sqlx_migrations ORDER BY version"),
        "1\tt\n2\tt"
    );

    // Nothing left to resolve.
    let r = resolve(&t, dir.path(), &["2", "--applied"]);
    expect_failure(&r, 64);
    r.expect_stderr_contains("nothing to resolve");
}

/// refinery has no failure flag: usher keeps its own marker, and `--applied` writes the
/// refinery row that refinery itself would have written.
#[test]
fn mariadb_ddl_failure_in_refinery_format_is_marked_and_resolved_as_applied() {
    let Some(t) = Target::mariadb("ddl") else {
        return;
    };
    let dir = TempDir::new("m");
    servers::write_migrations(
        dir.path(),
        &[
            ("V1__a.sql", "CREATE TABLE a (x INTEGER);\n"),
            (
                "V2__half.sql",
                "CREATE TABLE half (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n",
            ),
        ],
    );
    let r = start(&t, dir.path());
    expect_failure(&r, 65);
    r.expect_stderr_contains("V2__half.sql:2:1")
        .expect_stderr_contains("MySQL commits DDL at once")
        .expect_stderr_contains("recorded as unfinished");
    assert_eq!(t.versions("refinery_schema_history"), [1]);
    assert_eq!(
        t.sql("SELECT history, version, name FROM usher_unfinished_migrations"),
        "refinery_schema_history\t2\thalf"
    );
    let r = start(&t, dir.path());
    expect_failure(&r, 68);
    r.expect_stderr_contains("usher resolve 2 --applied");

    // The part that committed is what the migration should be: keep it, record it.
    servers::write_migrations(
        dir.path(),
        &[("V2__half.sql", "CREATE TABLE half (x INTEGER);\n")],
    );
    resolve(&t, dir.path(), &["2", "--applied"])
        .expect_code(0)
        .expect_stderr_contains("now recorded as applied");
    assert_eq!(t.versions("refinery_schema_history"), [1, 2]);
    assert_eq!(
        t.sql("SELECT count(*) FROM usher_unfinished_migrations"),
        "0"
    );
    start(&t, dir.path())
        .expect_code(0)
        .expect_stderr_contains("up to date at version 2");

    if let Some(cli) = servers::require_cli("refinery", servers::REFINERY_INSTALL) {
        run(Command::new(cli)
            .env("DATABASE_URL", t.url())
            .args(["migrate", "-e", "DATABASE_URL", "-d", "-m", "-p"])
            .arg(dir.path()))
        .expect_code(0);
    }
}

/// On MySQL a failing DML-only migration rolls back completely: no marker stays.
#[test]
fn mariadb_dml_failure_leaves_nothing() {
    let Some(t) = Target::mariadb("dml") else {
        return;
    };
    let dir = TempDir::new("m");
    servers::write_migrations(
        dir.path(),
        &[
            ("1_a.sql", "CREATE TABLE a (x INTEGER);\n"),
            (
                "2_fill.sql",
                "INSERT INTO a VALUES (1);\nINSERT INTO nowhere VALUES (1);\n",
            ),
        ],
    );
    let r = start(&t, dir.path());
    expect_failure(&r, 65);
    r.expect_stderr_contains("nothing was recorded");
    assert_eq!(t.versions("_sqlx_migrations"), [1]);
    assert_eq!(t.sql("SELECT count(*) FROM a"), "0");
}
