//! Rule: a migration that needs the client to stream data — `COPY … FROM STDIN` (psql feeds
//! it), `LOAD DATA LOCAL INFILE` (the mysql client's file) — fails with a clear message naming
//! the file, line and what to use instead, exit 65, and nothing applied or recorded; migrations
//! before it are applied as usual.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::{TempDir, usher};
use servers::Target;

fn check(t: &Target, body: &str, says: &str) {
    let dir = TempDir::new("copy");
    servers::write_migrations(
        dir.path(),
        &[
            ("1_ok.sql", "CREATE TABLE ok (x INTEGER);\n"),
            ("2_load.sql", body),
        ],
    );
    let run = common::run(
        usher()
            .env("DATABASE_URL", t.url())
            .env("USHER_MIGRATIONS", dir.path())
            .arg("migrate"),
    );
    servers::expect_failure(&run, 65);
    run.expect_stderr_contains("2_load.sql:3:1");
    run.expect_stderr_contains(says);
    run.expect_stderr_contains("nothing was applied or recorded");
    assert_eq!(
        t.versions("_sqlx_migrations"),
        vec![1],
        "{}",
        run.describe()
    );
    assert!(!t.has_table("items"), "{}", run.describe());
}

#[test]
fn postgres_copy_from_stdin() {
    let Some(t) = Target::postgres("copy") else {
        return;
    };
    check(
        &t,
        "CREATE TABLE items (id INTEGER, name TEXT);\n-- data follows\nCOPY items (id, name) FROM stdin;\n1\tone\n\\.\n",
        "COPY FROM STDIN / TO STDOUT is not supported in a migration file",
    );
}

#[test]
fn postgres_copy_to_stdout() {
    let Some(t) = Target::postgres("copy_out") else {
        return;
    };
    check(
        &t,
        "CREATE TABLE items (id INTEGER);\n\nCOPY (SELECT 1)\n  TO STDOUT;\n",
        "use INSERT, or COPY FROM a file on the database server",
    );
}

#[test]
fn mariadb_load_data_local() {
    let Some(t) = Target::mariadb("load") else {
        return;
    };
    check(
        &t,
        "CREATE TABLE items (id INTEGER);\n\nLOAD DATA LOCAL INFILE '/tmp/items.csv' INTO TABLE items;\n",
        "LOAD DATA LOCAL INFILE is not supported in a migration file",
    );
}
