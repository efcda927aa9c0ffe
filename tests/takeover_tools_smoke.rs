//! Rule: the real dbmate and Prisma, as tests/common/tools.rs runs them, work against the
//! harness's servers and report what the take-over tests rely on: Prisma applies migrations on
//! PostgreSQL and SQLite, its engine's diagnostic says up to date, and names an edited, a
//! pending and a failed migration; dbmate applies on PostgreSQL, MariaDB and SQLite, runs only
//! the `-- migrate:up` part, and `status --exit-code` is 0. No usher here: this checks the
//! judges before they judge.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::TempDir;
use common::tools::{self, Diagnosis};
use servers::Target;

fn prisma_smoke(t: &Target, provider: &str) {
    let project = TempDir::new("prisma-smoke");
    let url = t.url();
    tools::write_prisma_migrations(
        project.path(),
        provider,
        &[
            (
                "20250101000000_create_users",
                "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n",
            ),
            (
                "20250102000000_seed_users",
                "INSERT INTO users (id, email) VALUES (1, 'a@example.com');\n",
            ),
        ],
    );
    tools::prisma(project.path(), &url, &["migrate", "deploy"]).expect_code(0);
    assert_eq!(
        t.sql("SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND applied_steps_count = 1"),
        "2",
        "{}",
        t.kind()
    );
    assert_eq!(t.sql("SELECT count(*) FROM users"), "1");
    tools::prisma_diagnose(project.path(), &url).expect_clean();

    // A pending directory: databaseIsBehind, and `migrate status` exits 1.
    tools::write_prisma_migrations(
        project.path(),
        provider,
        &[(
            "20250103000000_pending",
            "CREATE TABLE later (id INTEGER);\n",
        )],
    );
    let d = tools::prisma_diagnose(project.path(), &url);
    assert_eq!(d.unapplied, ["20250103000000_pending"], "{d:#?}");
    assert_eq!(d.diagnostic.as_deref(), Some("databaseIsBehind"), "{d:#?}");
    assert_eq!(d.status_code, Some(1), "{d:#?}");
    std::fs::remove_dir_all(
        tools::prisma_migrations(project.path()).join("20250103000000_pending"),
    )
    .unwrap();

    // An edited migration.sql: named by the engine (status alone would say "up to date").
    let seed =
        tools::prisma_migrations(project.path()).join("20250102000000_seed_users/migration.sql");
    std::fs::write(
        &seed,
        "INSERT INTO users (id, email) VALUES (2, 'b@example.com');\n",
    )
    .unwrap();
    let d = tools::prisma_diagnose(project.path(), &url);
    assert_eq!(d.edited, ["20250102000000_seed_users"], "{d:#?}");
    assert!(!d.is_clean());
    // The same bytes with CRLF line endings are not an edit: Prisma accepts both.
    std::fs::write(
        &seed,
        "INSERT INTO users (id, email) VALUES (1, 'a@example.com');\r\n",
    )
    .unwrap();
    tools::prisma_diagnose(project.path(), &url).expect_clean();

    // A failing migration: deploy fails, the row stays unfinished, the engine names it.
    tools::write_prisma_migrations(
        project.path(),
        provider,
        &[(
            "20250104000000_broken",
            "CREATE TABLE broken (id INTEGER);\nSELECT * FROM no_such_table;\n",
        )],
    );
    let deploy = tools::prisma(project.path(), &url, &["migrate", "deploy"]);
    assert_ne!(deploy.code(), Some(0), "{}", deploy.describe());
    let d: Diagnosis = tools::prisma_diagnose(project.path(), &url);
    assert_eq!(d.failed, ["20250104000000_broken"], "{d:#?}");
    assert_eq!(d.status_code, Some(1), "{d:#?}");
    let again = tools::prisma(project.path(), &url, &["migrate", "deploy"]);
    assert!(again.all_output().contains("P3009"), "{}", again.describe());
}

#[test]
fn prisma_applies_and_diagnoses_on_postgres() {
    if !tools::require_prisma() {
        return;
    }
    let Some(t) = Target::postgres("prisma_smoke") else {
        return;
    };
    prisma_smoke(&t, "postgresql");
}

#[test]
fn prisma_applies_and_diagnoses_on_sqlite() {
    if !tools::require_prisma() {
        return;
    }
    let Some(t) = Target::sqlite("prisma_smoke") else {
        return;
    };
    prisma_smoke(&t, "sqlite");
}

#[test]
fn dbmate_applies_up_sections_everywhere() {
    let Some(_) = tools::require_dbmate() else {
        return;
    };
    for t in Target::all("dbmate_smoke") {
        let dir = TempDir::new("dbmate-smoke");
        servers::write_migrations(
            dir.path(),
            &[
                (
                    "20250101000000_create_users.sql",
                    "-- migrate:up\nCREATE TABLE users (id INTEGER PRIMARY KEY);\n\n\
                     -- migrate:down\nDROP TABLE users;\n",
                ),
                (
                    "20250102000000_seed.sql",
                    "-- migrate:up\nINSERT INTO users (id) VALUES (1);\n\n\
                     -- migrate:down\nDELETE FROM users;\n",
                ),
            ],
        );
        tools::dbmate(dir.path(), &t.url(), &["up"]).expect_code(0);
        assert_eq!(
            t.sql("SELECT version FROM schema_migrations ORDER BY version"),
            "20250101000000\n20250102000000",
            "{}",
            t.kind()
        );
        assert_eq!(t.sql("SELECT count(*) FROM users"), "1", "{}", t.kind());
        tools::dbmate(dir.path(), &t.url(), &["status", "--exit-code"]).expect_code(0);

        servers::write_migrations(
            dir.path(),
            &[(
                "20250103000000_pending.sql",
                "-- migrate:up\nCREATE TABLE later (id INTEGER);\n\n-- migrate:down\n",
            )],
        );
        tools::dbmate(dir.path(), &t.url(), &["status", "--exit-code"]).expect_code(1);
    }
}
