//! Rule: usher continues a dbmate history exactly as `dbmate up` would, and dbmate continues
//! usher's: on PostgreSQL, MariaDB and SQLite the real dbmate 2.36.0 (tests/common/tools.rs)
//! finds every file applied (`dbmate status --exit-code` is 0) and re-applies nothing (the
//! migrations are plain `CREATE TABLE`s and `INSERT`s: a second run would fail or double the
//! rows).
//!
//! usher reads dbmate's layout, `{digits}_{name}.sql` with `-- migrate:up` / `-- migrate:down`
//! sections, detected without `--format`; only the up section runs (the down sections here
//! would fail if run), `-- migrate:up transaction:false` runs outside a transaction, and
//! `schema_migrations(version)` gets one row per file holding its leading digits.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::path::Path;

use common::tools;
use common::{Run, TempDir, run, usher};
use servers::Target;

/// A dbmate file; the down section is not SQL at all, so running it would fail.
fn file(version: &str, name: &str, up: &str) -> (String, String) {
    (
        format!("{version}_{name}.sql"),
        format!("-- migrate:up\n{up}\n\n-- migrate:down\nTHIS IS NEVER RUN {name};\n"),
    )
}

fn m1() -> (String, String) {
    file(
        "20250101000000",
        "create_users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL);",
    )
}
fn m2() -> (String, String) {
    file(
        "20250102000000",
        "seed_users",
        "INSERT INTO users (id, email) VALUES (1, 'a@example.com');\n\
         INSERT INTO users (id, email) VALUES (2, 'b@example.com');",
    )
}
fn m3() -> (String, String) {
    file(
        "20250103000000",
        "create_posts",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, title VARCHAR(200) NOT NULL);",
    )
}
fn m4() -> (String, String) {
    file(
        "20250104000000",
        "seed_posts",
        "INSERT INTO posts (id, title) VALUES (1, 'hello');",
    )
}

fn write(dir: &Path, files: &[(String, String)]) {
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_str()))
        .collect();
    servers::write_migrations(dir, &files);
}

fn usher_migrate(t: &Target, dir: &Path) -> Run {
    t.usher(dir, &["migrate"])
}

/// The versions in `schema_migrations`, in order, as text (dbmate stores strings).
fn versions(t: &Target) -> Vec<String> {
    t.sql("SELECT version FROM schema_migrations ORDER BY version")
        .lines()
        .map(str::to_string)
        .collect()
}

/// `schema_migrations`' columns as the database reports them.
fn history_columns(t: &Target) -> String {
    match t {
        Target::Sqlite(..) => t.sql(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('schema_migrations') \
             ORDER BY cid",
        ),
        Target::MariaDb(..) => t.sql(
            "SELECT column_name, column_type, is_nullable, column_key, coalesce(column_default, '') \
             FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND table_name = 'schema_migrations' ORDER BY ordinal_position",
        ),
        Target::Postgres(..) => t.sql(
            "SELECT c.column_name, c.data_type, coalesce(c.character_maximum_length, 0), \
             c.is_nullable, coalesce(c.column_default, ''), \
             (SELECT count(*) FROM information_schema.key_column_usage k \
              WHERE k.table_name = c.table_name AND k.column_name = c.column_name) \
             FROM information_schema.columns c WHERE c.table_name = 'schema_migrations' \
             ORDER BY c.ordinal_position",
        ),
    }
}

fn same_kind(t: &Target, tag: &str) -> Option<Target> {
    match t {
        Target::Postgres(..) => Target::postgres(tag),
        Target::MariaDb(..) => Target::mariadb(tag),
        Target::Sqlite(..) => Target::sqlite(tag),
    }
}

#[test]
fn dbmate_applies_then_usher_continues_then_dbmate_agrees() {
    if tools::require_dbmate().is_none() {
        return;
    }
    for t in Target::all("dbmate_then_usher") {
        let dir = TempDir::new("dbmate-takeover");
        write(dir.path(), &[m1(), m2()]);
        tools::dbmate(dir.path(), &t.url(), &["up"]).expect_code(0);

        write(dir.path(), &[m3(), m4()]);
        usher_migrate(&t, dir.path())
            .expect_code(0)
            .expect_stderr_contains("applied 2 migrations");
        assert_eq!(
            versions(&t),
            [
                "20250101000000",
                "20250102000000",
                "20250103000000",
                "20250104000000"
            ],
            "{}",
            t.kind()
        );
        assert_eq!(t.sql("SELECT count(*) FROM users"), "2", "{}", t.kind());
        assert_eq!(t.sql("SELECT count(*) FROM posts"), "1", "{}", t.kind());

        let status = tools::dbmate(dir.path(), &t.url(), &["status", "--exit-code"]);
        status.expect_code(0).expect_stdout_contains("Pending: 0");
        let up = tools::dbmate(dir.path(), &t.url(), &["up"]);
        up.expect_code(0);
        assert!(!up.stdout().contains("Applying"), "{}", up.describe());
        assert_eq!(t.sql("SELECT count(*) FROM posts"), "1", "{}", t.kind());

        // usher's second start is a no-op; its status lists the four as applied.
        let second = usher_migrate(&t, dir.path());
        second.expect_code(0);
        assert!(
            !second.stderr().contains("applied 1") && !second.stderr().contains("applied 2"),
            "{}",
            second.describe()
        );
        let status = t.usher(dir.path(), &["status"]);
        status.expect_code(0).expect_stdout_contains("APPLIED AT");
        for v in [
            "20250101000000",
            "20250102000000",
            "20250103000000",
            "20250104000000",
        ] {
            let line = status
                .stdout()
                .lines()
                .find(|l| l.split_whitespace().next() == Some(v))
                .map(str::to_string)
                .unwrap_or_else(|| panic!("no status line for {v}\n{}", status.describe()));
            assert!(line.contains(" applied"), "{line:?}\n{}", status.describe());
        }
    }
}

#[test]
fn usher_first_then_dbmate_continues_with_nothing_reapplied() {
    if tools::require_dbmate().is_none() {
        return;
    }
    for t in Target::all("usher_then_dbmate") {
        let dir = TempDir::new("dbmate-usher-first");
        write(dir.path(), &[m1(), m2()]);
        usher_migrate(&t, dir.path())
            .expect_code(0)
            .expect_stderr_contains("applied 2 migrations");
        assert_eq!(
            versions(&t),
            ["20250101000000", "20250102000000"],
            "{}",
            t.kind()
        );
        tools::dbmate(dir.path(), &t.url(), &["status", "--exit-code"]).expect_code(0);

        // The table usher created is dbmate's, column for column.
        let Some(reference) = same_kind(&t, "dbmate_reference") else {
            return;
        };
        let ref_dir = TempDir::new("dbmate-reference");
        write(ref_dir.path(), &[m1()]);
        tools::dbmate(ref_dir.path(), &reference.url(), &["up"]).expect_code(0);
        assert_eq!(
            history_columns(&t),
            history_columns(&reference),
            "{}: usher's schema_migrations differs from dbmate's",
            t.kind()
        );

        // dbmate applies the next file only.
        write(dir.path(), &[m3()]);
        let up = tools::dbmate(dir.path(), &t.url(), &["up"]);
        up.expect_code(0)
            .expect_stdout_contains("Applying: 20250103000000_create_posts.sql");
        assert!(!up.stdout().contains("20250101000000"), "{}", up.describe());
        assert_eq!(t.sql("SELECT count(*) FROM users"), "2", "{}", t.kind());

        // usher, back again, sees dbmate's row as its own.
        write(dir.path(), &[m4()]);
        usher_migrate(&t, dir.path())
            .expect_code(0)
            .expect_stderr_contains("applied 1 migration");
        assert_eq!(versions(&t).len(), 4, "{}", t.kind());
        tools::dbmate(dir.path(), &t.url(), &["status", "--exit-code"]).expect_code(0);
    }
}

/// Only the up section runs: the down sections of these files are not SQL, and a file with a
/// down section that would undo the up section leaves the up section's result.
#[test]
fn down_sections_are_never_run() {
    if tools::require_dbmate().is_none() {
        return;
    }
    for t in Target::all("dbmate_down") {
        let dir = TempDir::new("dbmate-down");
        let undo = (
            "20250102000000_undo_in_down.sql".to_string(),
            "-- migrate:up\nCREATE TABLE kept (id INTEGER);\n\n\
             -- migrate:down\nDROP TABLE kept;\nDROP TABLE users;\n"
                .to_string(),
        );
        write(dir.path(), &[m1(), undo]);
        usher_migrate(&t, dir.path())
            .expect_code(0)
            .expect_stderr_contains("applied 2 migrations");
        assert!(t.has_table("kept"), "{}", t.kind());
        assert!(t.has_table("users"), "{}", t.kind());
        tools::dbmate(dir.path(), &t.url(), &["status", "--exit-code"]).expect_code(0);
    }
}

/// `-- migrate:up transaction:false`: `CREATE INDEX CONCURRENTLY` (which PostgreSQL refuses
/// inside a transaction) applies, under usher's migration lock, and dbmate agrees.
#[test]
fn transaction_false_runs_create_index_concurrently_on_postgres() {
    if tools::require_dbmate().is_none() {
        return;
    }
    let Some(t) = Target::postgres("dbmate_no_tx") else {
        return;
    };
    let dir = TempDir::new("dbmate-no-tx");
    let concurrently = (
        "20250102000000_index_users.sql".to_string(),
        "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY users_by_email ON users (email);\n\n\
         -- migrate:down\nDROP INDEX users_by_email;\n"
            .to_string(),
    );
    write(dir.path(), &[m1(), concurrently]);
    usher_migrate(&t, dir.path())
        .expect_code(0)
        .expect_stderr_contains("applied 2 migrations");
    assert_eq!(
        t.sql("SELECT count(*) FROM pg_indexes WHERE indexname = 'users_by_email'"),
        "1"
    );
    // A valid index: CONCURRENTLY completed (an interrupted one stays invalid).
    assert_eq!(
        t.sql("SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_by_email'::regclass"),
        "t"
    );
    assert_eq!(versions(&t), ["20250101000000", "20250102000000"]);
    tools::dbmate(dir.path(), &t.url(), &["status", "--exit-code"]).expect_code(0);
}

/// `--format dbmate` (and `USHER_FORMAT`) choose the format explicitly, with the same result.
#[test]
fn format_dbmate_forced_by_flag_and_variable() {
    if tools::require_dbmate().is_none() {
        return;
    }
    for t in Target::all("dbmate_forced") {
        let dir = TempDir::new("dbmate-forced");
        write(dir.path(), &[m1()]);
        t.usher(dir.path(), &["--format", "dbmate", "migrate"])
            .expect_code(0)
            .expect_stderr_contains("applied 1 migration");
        write(dir.path(), &[m2()]);
        run(usher()
            .env("DATABASE_URL", t.url())
            .env("USHER_FORMAT", "dbmate")
            .env("USHER_MIGRATIONS", dir.path())
            .arg("migrate"))
        .expect_code(0)
        .expect_stderr_contains("applied 1 migration");
        assert_eq!(versions(&t).len(), 2, "{}", t.kind());
        tools::dbmate(dir.path(), &t.url(), &["status", "--exit-code"]).expect_code(0);
    }
}
