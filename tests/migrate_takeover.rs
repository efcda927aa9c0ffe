//! Taking over from, and handing back to, the real tools: a database migrated by
//! `sqlx migrate run` or `refinery migrate` is continued by usher, and afterwards the tool's
//! own check (`sqlx migrate info` / `run`, `refinery migrate` with divergent and missing
//! checks on) sees a complete history with matching checksums, and can go on migrating.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::path::Path;
use std::process::Command;

use common::{Run, TempDir, run, usher};
use servers::Target;

fn usher_migrate(t: &Target, dir: &Path) -> Run {
    run(usher()
        .env("DATABASE_URL", t.url())
        .arg("--migrations")
        .arg(dir)
        .arg("migrate"))
}

fn sqlx(cli: &Path, t: &Target, dir: &Path, sub: &str) -> Run {
    run(Command::new(cli)
        .args(["migrate", sub, "--source"])
        .arg(dir)
        .args(["--database-url", &t.url()]))
}

fn refinery(cli: &Path, t: &Target, dir: &Path) -> Run {
    // -d / -m: abort on divergent (checksum or name) and missing migrations.
    run(Command::new(cli)
        .current_dir(dir)
        .env("DATABASE_URL", t.url())
        .args(["migrate", "-e", "DATABASE_URL", "-d", "-m", "-p"])
        .arg(dir))
}

/// A database file for the tools that do not create one themselves.
fn prepare(t: &Target) {
    if let Target::Sqlite(file, _) = t {
        std::fs::File::create(file).unwrap();
    }
}

#[test]
fn sqlx_cli_then_usher_then_sqlx_cli() {
    let Some(cli) = servers::require_cli("sqlx", servers::SQLX_INSTALL) else {
        return;
    };
    for t in Target::all("sqlx_takeover") {
        prepare(&t);
        let dir = TempDir::new("m");
        servers::write_migrations(
            dir.path(),
            &[
                (
                    "20240101000000_create_users.sql",
                    "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(200));\n",
                ),
                (
                    "20240102000000_add_name.up.sql",
                    "ALTER TABLE users ADD COLUMN name VARCHAR(100);\n",
                ),
                (
                    "20240102000000_add_name.down.sql",
                    "ALTER TABLE users DROP COLUMN name;\n",
                ),
            ],
        );
        sqlx(&cli, &t, dir.path(), "run").expect_code(0);

        servers::write_migrations(
            dir.path(),
            &[
                (
                    "20240103000000_create_posts.sql",
                    "CREATE TABLE posts (id INTEGER PRIMARY KEY, title VARCHAR(200));\n",
                ),
                (
                    "20240104000000_seed_posts.sql",
                    "INSERT INTO posts (id, title) VALUES (1, 'hello');\r\n",
                ),
            ],
        );
        usher_migrate(&t, dir.path())
            .expect_code(0)
            .expect_stderr_contains("applied 2 migrations");

        let info = sqlx(&cli, &t, dir.path(), "info");
        info.expect_code(0);
        let out = info.stdout();
        assert_eq!(
            out.lines().filter(|l| l.contains("/installed ")).count(),
            4,
            "{}: {}",
            t.kind(),
            info.describe()
        );
        assert!(
            !out.contains("different checksum") && !out.contains("pending"),
            "{}",
            info.describe()
        );
        let again = sqlx(&cli, &t, dir.path(), "run");
        again.expect_code(0);
        assert!(!again.stdout().contains("Applied"), "{}", again.describe());

        // Hand back and forth once more.
        servers::write_migrations(
            dir.path(),
            &[(
                "20240105000000_more.sql",
                "CREATE TABLE more (x INTEGER);\n",
            )],
        );
        sqlx(&cli, &t, dir.path(), "run")
            .expect_code(0)
            .expect_stdout_contains("Applied 20240105000000/migrate more");
        usher_migrate(&t, dir.path())
            .expect_code(0)
            .expect_stderr_contains("up to date at version 20240105000000");
        assert_eq!(t.versions("_sqlx_migrations").len(), 5);
    }
}

#[test]
fn refinery_cli_then_usher_then_refinery_cli() {
    let Some(cli) = servers::require_cli("refinery", servers::REFINERY_INSTALL) else {
        return;
    };
    for t in Target::all("refinery_takeover") {
        prepare(&t);
        let dir = TempDir::new("m");
        servers::write_migrations(
            dir.path(),
            &[
                (
                    "V1__create_users.sql",
                    "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(200));\n",
                ),
                (
                    "V2__add_name.sql",
                    "ALTER TABLE users ADD COLUMN name VARCHAR(100);\n",
                ),
            ],
        );
        refinery(&cli, &t, dir.path()).expect_code(0);
        assert_eq!(
            t.versions("refinery_schema_history"),
            [1, 2],
            "{}",
            t.kind()
        );

        std::fs::create_dir_all(dir.join("later")).unwrap();
        servers::write_migrations(
            dir.path(),
            &[
                (
                    "V3__create_posts.sql",
                    "CREATE TABLE posts (id INTEGER PRIMARY KEY, title VARCHAR(200));\n",
                ),
                (
                    "later/V4__seed_posts.sql",
                    "INSERT INTO posts (id, title) VALUES (1, 'h\u{e9}llo');\r\n",
                ),
            ],
        );
        usher_migrate(&t, dir.path())
            .expect_code(0)
            .expect_stderr_contains("applied 2 migrations");
        assert_eq!(t.versions("refinery_schema_history"), [1, 2, 3, 4]);

        // refinery re-reads the history (its checksums, names and dates must all parse and
        // match) and finds nothing to do.
        let check = refinery(&cli, &t, dir.path());
        check.expect_code(0);
        assert_eq!(t.versions("refinery_schema_history"), [1, 2, 3, 4]);

        servers::write_migrations(
            dir.path(),
            &[("V5__more.sql", "CREATE TABLE more (x INTEGER);\n")],
        );
        refinery(&cli, &t, dir.path()).expect_code(0);
        assert_eq!(t.versions("refinery_schema_history"), [1, 2, 3, 4, 5]);
        usher_migrate(&t, dir.path())
            .expect_code(0)
            .expect_stderr_contains("up to date at version 5");
    }
}

/// A migration left failed by sqlx (`success = false`) stops usher with the repair, and
/// `usher resolve` repairs it so that sqlx agrees.
#[test]
fn sqlx_dirty_migration_is_refused_and_resolved() {
    let Some(cli) = servers::require_cli("sqlx", servers::SQLX_INSTALL) else {
        return;
    };
    let Some(t) = Target::mariadb("dirty") else {
        return;
    };
    let dir = TempDir::new("m");
    // DDL commits at once on MariaDB: sqlx leaves its success = false row behind.
    servers::write_migrations(
        dir.path(),
        &[(
            "1_half.sql",
            "CREATE TABLE half (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n",
        )],
    );
    let r = sqlx(&cli, &t, dir.path(), "run");
    assert_ne!(r.code(), Some(0), "{}", r.describe());
    assert_eq!(
        t.sql("SELECT success FROM _sqlx_migrations WHERE version = 1"),
        "0"
    );

    let r = usher_migrate(&t, dir.path());
    servers::expect_failure(&r, 68);
    r.expect_stderr_contains("migration 1 (")
        .expect_stderr_contains("usher resolve 1 --applied")
        .expect_stderr_contains("usher resolve 1 --rolled-back");

    // Undo by hand, fix the file, tell usher, run again.
    t.sql("DROP TABLE half");
    servers::write_migrations(
        dir.path(),
        &[("1_half.sql", "CREATE TABLE half (x INTEGER);\n")],
    );
    run(usher()
        .env("DATABASE_URL", t.url())
        .args(["resolve", "1", "--rolled-back"]))
    .expect_code(0)
    .expect_stderr_contains("will run at the next start");
    usher_migrate(&t, dir.path()).expect_code(0);
    sqlx(&cli, &t, dir.path(), "info")
        .expect_code(0)
        .expect_stdout_contains("1/installed half");
}
