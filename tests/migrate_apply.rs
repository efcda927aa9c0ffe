//! Applying migrations: a fresh database gets every migration and its history row, in both
//! history formats, on PostgreSQL, MariaDB and SQLite; the next start is a no-op; the app
//! starts after the migrations; no-transaction and own-transaction scripts, dollar-quoted
//! bodies and DO blocks work; `status`, `migrate --dry-run` and `--format` behave.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::{TempDir, run, usher};
use servers::Target;

const SQLX_FILES: &[(&str, &str)] = &[
    (
        "1_create_items.sql",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL);\n",
    ),
    (
        "2_seed_items.sql",
        "INSERT INTO items (id, name) VALUES (1, 'a');\nINSERT INTO items (id, name) VALUES (2, 'b; not a separator');\n",
    ),
    (
        "3_add_price.up.sql",
        "ALTER TABLE items ADD COLUMN price INTEGER;\n",
    ),
    (
        "3_add_price.down.sql",
        "ALTER TABLE items DROP COLUMN price;\n",
    ),
];

const REFINERY_FILES: &[(&str, &str)] = &[
    (
        "V1__create_items.sql",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL);\n",
    ),
    (
        "V2__seed_items.sql",
        "INSERT INTO items (id, name) VALUES (1, 'a');\nINSERT INTO items (id, name) VALUES (2, 'b; not a separator');\n",
    ),
    (
        "V3__add_price.sql",
        "ALTER TABLE items ADD COLUMN price INTEGER;\n",
    ),
];

fn start(target: &Target, dir: &std::path::Path) -> common::Run {
    run(usher()
        .env("DATABASE_URL", target.url())
        .arg("--migrations")
        .arg(dir)
        .args(["--", "sh", "-c", "echo app-started"]))
}

/// Fresh apply then a no-op start, for one format on every database.
fn fresh_then_noop(format: &str, files: &[(&str, &str)], table: &str) {
    for target in Target::all(&format!("apply_{format}")) {
        let dir = TempDir::new("m");
        servers::write_migrations(dir.path(), files);

        let first = start(&target, dir.path());
        first
            .expect_code(0)
            .expect_stdout_contains("app-started")
            .expect_stderr_contains("applied 3 migrations");
        assert_eq!(target.versions(table), [1, 2, 3], "{}", target.kind());
        assert_eq!(
            target.sql("SELECT count(*) FROM items"),
            "2",
            "{}",
            target.kind()
        );
        assert_eq!(
            target.sql("SELECT count(price) FROM items"),
            "0",
            "{}: the third migration added the column",
            target.kind()
        );

        let second = start(&target, dir.path());
        second
            .expect_code(0)
            .expect_stdout_contains("app-started")
            .expect_stderr_contains("up to date at version 3");
        assert!(
            !second.stderr().contains("applied"),
            "{}",
            second.describe()
        );
        assert_eq!(target.versions(table), [1, 2, 3]);

        let status = run(usher()
            .env("DATABASE_URL", target.url())
            .arg("--migrations")
            .arg(dir.path())
            .args(["status", "--exit-code"]));
        status.expect_code(0);
        let out = status.stdout();
        assert_eq!(
            out.lines().filter(|l| l.contains(" applied ")).count(),
            3,
            "{out}"
        );
        assert!(
            out.lines().nth(1).is_some_and(|l| l.contains(" 20")),
            "{}: applied-at dates are shown\n{out}",
            target.kind()
        );
    }
}

#[test]
fn sqlx_format_fresh_apply_then_noop_on_every_database() {
    fresh_then_noop("sqlx", SQLX_FILES, "_sqlx_migrations");
}

#[test]
fn refinery_format_fresh_apply_then_noop_on_every_database() {
    fresh_then_noop("refinery", REFINERY_FILES, "refinery_schema_history");
}

/// The history rows are the tools' own: sqlx's description, success flag, 48-byte checksum and
/// execution time; refinery's name, RFC 3339 date and decimal checksum.
#[test]
fn history_rows_have_the_tools_columns() {
    let Some(t) = Target::postgres("rows") else {
        return;
    };
    let dir = TempDir::new("m");
    servers::write_migrations(dir.path(), SQLX_FILES);
    start(&t, dir.path()).expect_code(0);
    let rows = t.sql(
        "SELECT version, description, success, length(checksum), execution_time > 0 \
         FROM _sqlx_migrations ORDER BY version",
    );
    assert_eq!(
        rows,
        "1\tcreate items\tt\t48\tt\n2\tseed items\tt\t48\tt\n3\tadd price\tt\t48\tt"
    );
    let types = t.sql(
        "SELECT column_name || ' ' || data_type FROM information_schema.columns \
         WHERE table_name = '_sqlx_migrations' ORDER BY ordinal_position",
    );
    assert_eq!(
        types,
        "version bigint\ndescription text\ninstalled_on timestamp with time zone\nsuccess boolean\nchecksum bytea\nexecution_time bigint"
    );

    let Some(t) = Target::sqlite("rows") else {
        return;
    };
    let dir = TempDir::new("m");
    servers::write_migrations(dir.path(), REFINERY_FILES);
    start(&t, dir.path()).expect_code(0);
    let rows = t.sql("SELECT version, name, applied_on, checksum FROM refinery_schema_history");
    for (line, name) in rows
        .lines()
        .zip(["create_items", "seed_items", "add_price"])
    {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols[1], name);
        assert!(
            cols[2].len() >= 20 && cols[2].ends_with('Z') && cols[2].as_bytes()[10] == b'T',
            "{line}"
        );
        assert!(cols[3].parse::<u64>().is_ok(), "{line}");
    }
}

/// Dollar-quoted function bodies, DO blocks, a script with its own BEGIN/COMMIT and a
/// `-- no-transaction` CREATE INDEX CONCURRENTLY all run as written on PostgreSQL.
#[test]
fn postgres_script_shapes() {
    let Some(t) = Target::postgres("shapes") else {
        return;
    };
    let dir = TempDir::new("m");
    servers::write_migrations(
        dir.path(),
        &[
            (
                "1_table.sql",
                "CREATE TABLE t (id int PRIMARY KEY, n text);\nINSERT INTO t SELECT g, 'x' FROM generate_series(1, 100) g;\n",
            ),
            (
                "2_function.sql",
                "CREATE FUNCTION bump(i int) RETURNS int AS $body$\nBEGIN\n  RETURN i + 1; -- a ; inside\nEND;\n$body$ LANGUAGE plpgsql;\n\nDO $$ BEGIN PERFORM bump(1); END $$;\n",
            ),
            (
                "3_own_transaction.sql",
                "BEGIN;\nCREATE TABLE own (x int);\nINSERT INTO own VALUES (1);\nCOMMIT;\n",
            ),
            (
                "4_index.sql",
                "-- no-transaction\nCREATE INDEX CONCURRENTLY t_n ON t (n);\nCREATE INDEX CONCURRENTLY t_n2 ON t (n, id);\n",
            ),
        ],
    );
    start(&t, dir.path())
        .expect_code(0)
        .expect_stderr_contains("applied 4 migrations");
    assert_eq!(t.versions("_sqlx_migrations"), [1, 2, 3, 4]);
    assert_eq!(t.sql("SELECT bump(41)"), "42");
    assert_eq!(t.sql("SELECT count(*) FROM own"), "1");
    assert_eq!(
        t.sql("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname IN ('t_n', 't_n2') AND i.indisvalid"),
        "2"
    );
    assert_eq!(
        t.sql("SELECT count(*) FROM _sqlx_migrations WHERE NOT success"),
        "0"
    );
    assert!(!t.has_table("usher_unfinished_migrations"));
}

/// `usher migrate` applies and exits; `--dry-run` changes nothing; `status` lists every state.
#[test]
fn migrate_dry_run_and_status_subcommands() {
    let Some(t) = Target::sqlite("sub") else {
        return;
    };
    let dir = TempDir::new("m");
    servers::write_migrations(dir.path(), &SQLX_FILES[..2]);
    let env = |cmd: &mut std::process::Command| {
        cmd.env("DATABASE_URL", t.url())
            .arg("--migrations")
            .arg(dir.path());
    };

    let mut cmd = usher();
    env(&mut cmd);
    let dry = run(cmd.args(["migrate", "--dry-run"]));
    dry.expect_code(0)
        .expect_stdout_contains("would apply 2 migrations")
        .expect_stdout_contains("1_create_items.sql");
    assert!(!t.has_table("_sqlx_migrations"), "dry run changed nothing");

    let mut cmd = usher();
    env(&mut cmd);
    let status = run(cmd.args(["status", "--exit-code"]));
    status.expect_code(1).expect_stdout_contains("pending");

    let mut cmd = usher();
    env(&mut cmd);
    run(cmd.arg("migrate"))
        .expect_code(0)
        .expect_stderr_contains("applied 2 migrations");

    servers::write_migrations(dir.path(), &SQLX_FILES[2..]);
    let mut cmd = usher();
    env(&mut cmd);
    let status = run(cmd.args(["status", "--exit-code"]));
    status.expect_code(1);
    let out = status.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("VERSION") && lines[0].contains("APPLIED AT"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("1 ") && lines[1].contains("applied"),
        "{out}"
    );
    assert!(
        lines[3].starts_with("3 ") && lines[3].contains("pending"),
        "{out}"
    );

    let mut cmd = usher();
    env(&mut cmd);
    run(cmd.arg("migrate")).expect_code(0);
    let mut cmd = usher();
    env(&mut cmd);
    run(cmd.args(["status", "--exit-code"])).expect_code(0);
}

/// `--format` overrides detection; an unknown format is a configuration error.
#[test]
fn format_flag() {
    let Some(t) = Target::sqlite("fmt") else {
        return;
    };
    let dir = TempDir::new("m");
    servers::write_migrations(dir.path(), REFINERY_FILES);
    run(usher()
        .env("DATABASE_URL", t.url())
        .env("USHER_FORMAT", "flyway")
        .arg("--migrations")
        .arg(dir.path())
        .arg("migrate"))
    .expect_code(78)
    .expect_stderr_contains("refinery or sqlx");
    run(usher()
        .env("DATABASE_URL", t.url())
        .args(["--format", "sqlx", "--migrations"])
        .arg(dir.path())
        .arg("migrate"))
    .expect_code(66)
    .expect_stderr_contains("not a sqlx migration name");
}

/// No directory in auto mode: nothing happens, the app starts, no URL needed. A directory
/// with migrations and no URL is a configuration error.
#[test]
fn auto_mode_without_directory_or_url() {
    let dir = TempDir::new("m");
    run(usher()
        .arg("--migrations")
        .arg(dir.join("missing"))
        .args(["--", "true"]))
    .expect_code(0);
    servers::write_migrations(dir.path(), REFINERY_FILES);
    run(usher()
        .arg("--migrations")
        .arg(dir.path())
        .args(["--", "true"]))
    .expect_code(78)
    .expect_stderr_contains("DATABASE_URL is not set");
    run(usher()
        .args(["--migrate", "never", "--migrations"])
        .arg(dir.path())
        .args(["--", "true"]))
    .expect_code(0);
}
