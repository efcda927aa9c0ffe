//! An empty migration — no bytes, or only comments and whitespace — applies and is recorded
//! the same way on every database (MySQL refuses an empty query with "Query was empty", so
//! usher never sends one), in a transaction or not, in both history formats.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::{TempDir, run, usher};
use servers::Target;

#[test]
fn empty_migrations_apply_and_are_recorded_everywhere() {
    let sqlx: &[(&str, &str)] = &[
        ("1_nothing.sql", ""),
        ("2_comments.sql", "-- only a comment\n/* and; another */\n"),
        ("3_blank.up.sql", "\n\n   \n"),
        ("4_no_tx.sql", "-- no-transaction\n-- nothing else\n"),
        ("5_semicolons.sql", ";\n;\n"),
        ("6_table.sql", "CREATE TABLE after_empty (x INTEGER);\n"),
    ];
    let refinery: &[(&str, &str)] = &[
        ("V1__nothing.sql", ""),
        ("V2__comments.sql", "/* only a comment */\n"),
        ("V3__table.sql", "CREATE TABLE after_empty (x INTEGER);\n"),
    ];
    for (files, table, versions) in [
        (sqlx, "_sqlx_migrations", &[1, 2, 3, 4, 5, 6][..]),
        (refinery, "refinery_schema_history", &[1, 2, 3][..]),
    ] {
        for t in Target::all("empty") {
            let dir = TempDir::new("m");
            servers::write_migrations(dir.path(), files);
            let r = run(usher()
                .env("DATABASE_URL", t.url())
                .arg("--migrations")
                .arg(dir.path())
                .args(["--", "echo", "app-started"]));
            r.expect_code(0).expect_stdout_contains("app-started");
            assert_eq!(
                t.versions(table),
                versions,
                "{}\n{}",
                t.kind(),
                r.describe()
            );
            assert!(t.has_table("after_empty"), "{}", t.kind());
            if t.has_table("usher_unfinished_migrations") {
                let left = t.sql("SELECT count(*) FROM usher_unfinished_migrations");
                assert_eq!(left, "0", "{}: nothing left unfinished", t.kind());
            }
            // The next start agrees with the history.
            let again = run(usher()
                .env("DATABASE_URL", t.url())
                .arg("--migrations")
                .arg(dir.path())
                .args(["--", "echo", "app-started"]));
            again.expect_code(0).expect_stderr_contains("up to date");
        }
    }
}
