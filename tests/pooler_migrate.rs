//! Rule: migrating through a transaction-mode pooler never loses exclusivity: usher detects
//! that the server session is not its own and refuses (exit 78) naming PgBouncer and
//! MIGRATION_DATABASE_URL, before it takes any lock or applies anything. The set-up the README
//! recommends — the app through the pooler, MIGRATION_DATABASE_URL straight to the server —
//! works with 10 replicas at once, and so does a session-mode pooler.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::process::{Output, Stdio};

use common::{TempDir, usher};
use servers::{PASSWORD, PgBouncer, Postgres};

const REPLICAS: usize = 10;

fn migrations(dir: &TempDir) -> std::path::PathBuf {
    let m = dir.join("migrations");
    let mut files = vec![(
        "1_log.sql".to_string(),
        "CREATE TABLE applied_log (v INTEGER NOT NULL);\n".to_string(),
    )];
    for v in 2..=10 {
        files.push((
            format!("{v}_step.sql"),
            format!("CREATE TABLE t{v} (x INTEGER);\nINSERT INTO applied_log (v) VALUES ({v});\n"),
        ));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    servers::write_migrations(&m, &files);
    m
}

/// Starts `REPLICAS` ushers at once with `env`, returns their outputs.
fn replicas(dir: &std::path::Path, env: &[(&str, String)]) -> Vec<Output> {
    let children: Vec<_> = (0..REPLICAS)
        .map(|_| {
            let mut cmd = usher();
            for (k, v) in env {
                cmd.env(k, v);
            }
            cmd.env("USHER_MIGRATIONS", dir)
                .args(["--", "true"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start usher")
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

fn applied_once(pg: &Postgres, db: &str) {
    assert_eq!(
        pg.psql(
            db,
            "SELECT string_agg(v::text, ',' ORDER BY v) FROM applied_log"
        ),
        "2,3,4,5,6,7,8,9,10"
    );
    assert_eq!(
        pg.psql(db, "SELECT count(*) FROM _sqlx_migrations WHERE success"),
        "10"
    );
}

#[test]
fn transaction_pooler_is_refused_before_anything_is_applied() {
    let Some(pg) = Postgres::shared() else { return };
    let Some(bouncer) = PgBouncer::start(pg, "transaction", true) else {
        return;
    };
    let db = pg.create_database("pool_txn");
    let dir = TempDir::new("pool_txn");
    let m = migrations(&dir);
    let outs = replicas(&m, &[("DATABASE_URL", bouncer.url(&db))]);
    for (i, out) in outs.iter().enumerate() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(78),
            "replica {i}: {stderr}\n--- pgbouncer log ---\n{}",
            bouncer.log()
        );
        assert!(stderr.contains("PgBouncer"), "replica {i}: {stderr}");
        assert!(
            stderr.contains("MIGRATION_DATABASE_URL"),
            "replica {i}: {stderr}"
        );
        assert!(!stderr.contains(PASSWORD), "replica {i}: {stderr}");
    }
    assert_eq!(
        pg.psql(
            &db,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'"
        ),
        "0",
        "nothing may be applied"
    );
    let history = pg.psql(
        &db,
        "SELECT CASE WHEN to_regclass('_sqlx_migrations') IS NULL THEN 0 ELSE 1 END",
    );
    if history == "1" {
        assert_eq!(pg.psql(&db, "SELECT count(*) FROM _sqlx_migrations"), "0");
    }
    // No migration lock is left behind in the pool: a direct start migrates at once.
    common::run(
        usher()
            .env("DATABASE_URL", pg.url(&db))
            .env("USHER_MIGRATIONS", &m)
            .args(["--lock-timeout", "5s", "migrate"]),
    )
    .expect_code(0);
    applied_once(pg, &db);
}

#[test]
fn app_through_the_pooler_and_migrations_direct_work_with_ten_replicas() {
    let Some(pg) = Postgres::shared() else { return };
    let Some(bouncer) = PgBouncer::start(pg, "transaction", true) else {
        return;
    };
    let db = pg.create_database("pool_split");
    let dir = TempDir::new("pool_split");
    let m = migrations(&dir);
    let outs = replicas(
        &m,
        &[
            ("DATABASE_URL", bouncer.url(&db)),
            ("MIGRATION_DATABASE_URL", pg.url(&db)),
        ],
    );
    for (i, out) in outs.iter().enumerate() {
        assert!(
            out.status.success(),
            "replica {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    applied_once(pg, &db);
    // The app's URL (through the pooler) answers health probes meanwhile.
    common::run(
        usher()
            .env("DATABASE_URL", bouncer.url(&db))
            .env("USHER_MIGRATIONS", &m)
            .args(["health", "db", "--no-pending"]),
    )
    .expect_code(0);
}

#[test]
fn session_pooler_works_with_ten_replicas() {
    let Some(pg) = Postgres::shared() else { return };
    let Some(bouncer) = PgBouncer::start(pg, "session", true) else {
        return;
    };
    let db = pg.create_database("pool_session");
    let dir = TempDir::new("pool_session");
    let m = migrations(&dir);
    let outs = replicas(&m, &[("DATABASE_URL", bouncer.url(&db))]);
    for (i, out) in outs.iter().enumerate() {
        assert!(
            out.status.success(),
            "replica {i}: {}\n--- pgbouncer log ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            bouncer.log()
        );
    }
    applied_once(pg, &db);
}
