//! What a migration changes in its session — settings (`statement_timeout`, `sql_mode`,
//! `max_statement_time`, PRAGMAs), the role, the search path, the current database (`USE`),
//! user variables, temporary tables, attached databases — reaches neither the next migration nor usher's bookkeeping: a database
//! migrated in one run ends exactly like one migrated one start at a time, and the history
//! is recorded in the schema / database where it was found at connect.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::{TempDir, run, usher};
use servers::Target;

const TABLE: &str = "_sqlx_migrations";

/// Migration 1 changes the session; migration 2 would behave differently (or fail) if those
/// changes reached it; the query shows the end state.
fn case(t: &Target, db: &str) -> ([String; 2], &'static str, &'static str) {
    match t {
        Target::Postgres(..) => (
            [
                format!(
                    "CREATE SCHEMA elsewhere;\nCREATE ROLE r_{db};\nSET search_path = elsewhere;\nSET ROLE r_{db};\nSET statement_timeout = 1;\n"
                ),
                "CREATE TABLE t2 (x int);\nSELECT pg_sleep(0.05);\nCREATE TEMP TABLE scratch (x int);\n".to_string(),
            ],
            "SELECT table_schema || '.' || table_name FROM information_schema.tables \
             WHERE table_schema IN ('public', 'elsewhere') ORDER BY 1",
            "public._sqlx_migrations\npublic.t2",
        ),
        Target::MariaDb(..) => (
            [
                format!(
                    "CREATE DATABASE {db}_other;\nSET @marker = 'leaked';\nUSE {db}_other;\nSET SESSION sql_mode = 'ANSI_QUOTES';\nSET SESSION max_statement_time = 0.01;\n"
                ),
                "CREATE TABLE t2 (v VARCHAR(20) DEFAULT \"plain\");\nINSERT INTO t2 (v) SELECT @marker;\nINSERT INTO t2 () VALUES ();\nDO SLEEP(0.2);\n".to_string(),
            ],
            "SELECT CONCAT(table_schema = DATABASE(), ':', table_name) FROM information_schema.tables \
             WHERE table_schema LIKE CONCAT(DATABASE(), '%') \
             UNION ALL SELECT COALESCE(v, 'null') FROM t2 ORDER BY 1",
            "1:t2\n1:_sqlx_migrations\nnull\nplain",
        ),
        Target::Sqlite(..) => (
            [
                "-- no-transaction\nATTACH ':memory:' AS scratch;\nCREATE TEMP TABLE leftover (x);\nPRAGMA foreign_keys = OFF;\nPRAGMA query_only = 1;\n".to_string(),
                "ATTACH ':memory:' AS scratch;\nCREATE TEMP TABLE leftover (y);\nCREATE TABLE p (id INTEGER PRIMARY KEY);\nCREATE TABLE c (p INTEGER REFERENCES p(id) ON DELETE CASCADE);\nINSERT INTO p VALUES (1);\nINSERT INTO c VALUES (1);\nDELETE FROM p;\n".to_string(),
            ],
            "SELECT name FROM sqlite_master WHERE type = 'table' UNION ALL SELECT count(*) FROM c",
            "_sqlx_migrations\np\nc\n0",
        ),
    }
}

fn database(t: &Target) -> String {
    match t {
        Target::Postgres(_, db) | Target::MariaDb(_, db) => db.clone(),
        Target::Sqlite(..) => "main".to_string(),
    }
}

fn start(t: &Target, dir: &std::path::Path) -> common::Run {
    run(usher()
        .env("DATABASE_URL", t.url())
        .arg("--migrations")
        .arg(dir)
        .args(["--", "echo", "app-started"]))
}

#[test]
fn one_run_and_one_start_per_migration_end_the_same() {
    let kinds: Vec<&str> = Target::all("kinds").iter().map(|t| t.kind()).collect();
    for kind in kinds {
        let target = |tag: &str| {
            match kind {
                "postgres" => Target::postgres(tag),
                "mariadb" => Target::mariadb(tag),
                _ => Target::sqlite(tag),
            }
            .unwrap()
        };
        // Fresh: both migrations in one run.
        let fresh = target("fresh");
        let (files, query, expected) = case(&fresh, &database(&fresh));
        let dir = TempDir::new("m");
        servers::write_migrations(
            dir.path(),
            &[
                ("1_change_session.sql", &files[0]),
                ("2_after.sql", &files[1]),
            ],
        );
        let r = start(&fresh, dir.path());
        r.expect_code(0).expect_stdout_contains("app-started");
        assert_eq!(fresh.sql(query), expected, "{kind} fresh\n{}", r.describe());
        assert_eq!(fresh.versions(TABLE), [1, 2], "{kind}");

        // Incremental: one start per migration.
        let step = target("step");
        let (files, query, expected) = case(&step, &database(&step));
        let dir = TempDir::new("m");
        servers::write_migrations(dir.path(), &[("1_change_session.sql", &files[0])]);
        start(&step, dir.path()).expect_code(0);
        servers::write_migrations(dir.path(), &[("2_after.sql", &files[1])]);
        let r = start(&step, dir.path());
        r.expect_code(0);
        assert_eq!(
            step.sql(query),
            expected,
            "{kind} incremental\n{}",
            r.describe()
        );
        assert_eq!(step.versions(TABLE), [1, 2], "{kind}");
    }
}
