//! Adopting a database that has a schema and no history (a hand-written runner ran every
//! file, recording nothing): `usher baseline VERSION` — and `USHER_BASELINE` at start-up —
//! records the migrations up to VERSION as applied without running them, in the format's own
//! rows; the next start applies only the newer ones; `status` shows the baselined rows as such;
//! a database whose history has rows is refused. For every format and database.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::{TempDir, run, usher};
use servers::Target;

/// Three migrations of `format`, as `(relative path, file text, SQL to run by hand)`.
fn layout(format: &str, provider: &str) -> Vec<(String, String, String)> {
    let sql = [
        "CREATE TABLE a (x INTEGER);\n",
        "CREATE TABLE b (x INTEGER);\n",
        "CREATE TABLE c (x INTEGER);\n",
    ];
    let _ = provider;
    (1..=3)
        .map(|i| {
            let body = sql[i - 1].to_string();
            let (path, text) = match format {
                "sqlx" => (format!("{i}_step.sql"), body.clone()),
                "refinery" => (format!("V{i}__step.sql"), body.clone()),
                "prisma" => (format!("2024010100000{i}_step/migration.sql"), body.clone()),
                "dbmate" => (
                    format!("{i}_step.sql"),
                    format!("-- migrate:up\n{body}\n-- migrate:down\nDROP TABLE x;\n"),
                ),
                _ => unreachable!(),
            };
            (path, text, body)
        })
        .collect()
}

fn version(format: &str, i: u32) -> String {
    match format {
        "prisma" => format!("2024010100000{i}"),
        _ => i.to_string(),
    }
}

#[test]
fn baseline_then_one_new_migration_for_every_format() {
    for format in ["sqlx", "refinery", "prisma", "dbmate"] {
        for t in Target::all(&format!("baseline_{format}")) {
            let provider = match t.kind() {
                "postgres" => "postgresql",
                "mariadb" => "mysql",
                _ => "sqlite",
            };
            let dir = TempDir::new("baseline");
            let files = layout(format, provider);
            if format == "prisma" {
                std::fs::write(
                    dir.join("migration_lock.toml"),
                    format!("provider = \"{provider}\"\n"),
                )
                .unwrap();
            }
            // The hand-written runner: the first two files, run by hand, nothing recorded.
            for (path, text, body) in &files[..2] {
                let p = dir.join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, text).unwrap();
                t.sql(body);
            }
            let what = format!("{format} on {}", t.kind());
            t.usher(dir.path(), &["baseline", &version(format, 2)])
                .expect_code(0)
                .expect_stderr_contains("baselined 2 migration(s)");
            // Refused once the history has rows.
            t.usher(dir.path(), &["baseline", &version(format, 2)])
                .expect_code(64);
            // A new file: only it runs (re-running the others would fail: the tables exist).
            let (path, text, _) = &files[2];
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            let out = t.usher(dir.path(), &["migrate"]);
            assert_eq!(out.code(), Some(0), "{what}: {}", out.describe());
            assert!(t.has_table("c"), "{what}");
            let status = t.usher(dir.path(), &["status"]);
            status.expect_code(0);
            let stdout = status.stdout();
            let lines: Vec<&str> = stdout.lines().skip(1).map(str::trim).collect();
            assert_eq!(lines.len(), 3, "{what}: {stdout}");
            let state = |l: &str| l.split_whitespace().nth(2).unwrap_or_default().to_string();
            assert_eq!(
                lines.iter().map(|l| state(l)).collect::<Vec<_>>(),
                ["baselined", "baselined", "applied"],
                "{what}: {lines:?}"
            );
        }
    }
}

#[test]
fn usher_baseline_at_start_up_applies_once_and_then_stays_quiet() {
    for t in Target::all("baseline_env") {
        let dir = TempDir::new("baseline");
        servers::write_migrations(
            dir.path(),
            &[
                ("1_a.sql", "CREATE TABLE a (x INTEGER);\n"),
                ("2_b.sql", "CREATE TABLE b (x INTEGER);\n"),
            ],
        );
        t.sql("CREATE TABLE a (x INTEGER)");
        let start = || {
            run(usher()
                .env("DATABASE_URL", t.url())
                .env("USHER_BASELINE", "1")
                .arg("--migrations")
                .arg(dir.path())
                .arg("migrate"))
        };
        start()
            .expect_code(0)
            .expect_stderr_contains("baselined 1 migration(s)");
        assert!(t.has_table("b"));
        // Set for good in the image: later starts find a history and do nothing more.
        start().expect_code(0).expect_stderr_contains("up to date");
        // A baseline above every file is an error naming the oldest file, not silence.
        let fresh = TempDir::new("baseline");
        servers::write_migrations(fresh.path(), &[("5_e.sql", "SELECT 1;\n")]);
        let t2 = match t.kind() {
            "postgres" => Target::postgres("baseline_env2"),
            "mariadb" => Target::mariadb("baseline_env2"),
            _ => Target::sqlite("baseline_env2"),
        }
        .unwrap();
        t2.usher(fresh.path(), &["baseline", "3"])
            .expect_code(64)
            .expect_stderr_contains("5_e.sql");
    }
}
