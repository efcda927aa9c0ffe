//! Many replicas at once: 20 usher processes started together on an empty database with 50
//! migrations (one a `-- no-transaction` index build on a table with rows, CONCURRENTLY on
//! PostgreSQL) all exit 0 and every migration is applied exactly once — on PostgreSQL, MariaDB
//! and a SQLite file shared by all of them.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::path::Path;
use std::process::Stdio;

use common::{TempDir, usher};
use servers::Target;

const REPLICAS: usize = 20;
const MIGRATIONS: i64 = 50;
const INDEX_AT: i64 = 25;

/// 50 migrations: a table with rows, a log every migration appends to (a second run of any
/// migration would show as a duplicate), and a non-transactional index build in the middle.
fn write(dir: &Path, kind: &str) {
    let mut files: Vec<(String, String)> = vec![
        (
            "1_create.sql".into(),
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER);\nCREATE TABLE applied_log (v INTEGER NOT NULL);\n".into(),
        ),
        (
            "2_rows.sql".into(),
            {
                let values: Vec<String> = (1..=500).map(|i| format!("({i}, {})", i % 17)).collect();
                format!("INSERT INTO t (id, n) VALUES {};\nINSERT INTO applied_log (v) VALUES (2);\n", values.join(", "))
            },
        ),
    ];
    for v in 3..=MIGRATIONS {
        let body = if v == INDEX_AT {
            let concurrently = if kind == "postgres" {
                "CONCURRENTLY "
            } else {
                ""
            };
            format!("-- no-transaction\nCREATE INDEX {concurrently}t_n ON t (n);\n")
        } else {
            format!("CREATE TABLE t{v} (x INTEGER);\nINSERT INTO applied_log (v) VALUES ({v});\n")
        };
        files.push((format!("{v}_step_{v}.sql"), body));
    }
    for (name, body) in files {
        std::fs::write(dir.join(name), body).unwrap();
    }
}

fn race(t: &Target) {
    let dir = TempDir::new("m");
    write(dir.path(), t.kind());
    let children: Vec<_> = (0..REPLICAS)
        .map(|_| {
            usher()
                .env("DATABASE_URL", t.url())
                .arg("--migrations")
                .arg(dir.path())
                .args(["--", "true"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start usher")
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for (i, out) in outputs.iter().enumerate() {
        assert!(
            out.status.success(),
            "{}: replica {i} failed: {:?}\n{}",
            t.kind(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let appliers = outputs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("applied 1 "))
        .count();
    assert!(
        appliers >= 1,
        "{}: somebody applied the first migration",
        t.kind()
    );

    let versions = t.versions("_sqlx_migrations");
    assert_eq!(
        versions,
        (1..=MIGRATIONS).collect::<Vec<_>>(),
        "{}",
        t.kind()
    );
    assert_eq!(
        t.sql("SELECT count(*) FROM _sqlx_migrations WHERE success = TRUE"),
        MIGRATIONS.to_string()
    );
    // Every logging migration ran exactly once.
    assert_eq!(
        t.sql("SELECT count(*), count(DISTINCT v) FROM applied_log")
            .replace('\t', " "),
        format!("{n} {n}", n = MIGRATIONS - 2),
        "{}",
        t.kind()
    );
}

#[test]
fn twenty_replicas_on_postgres() {
    let Some(t) = Target::postgres("race") else {
        return;
    };
    race(&t);
    assert_eq!(
        t.sql("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 't_n'"),
        "t",
        "the concurrently built index is valid"
    );
    assert!(
        !t.has_table("usher_unfinished_migrations")
            || t.sql("SELECT count(*) FROM usher_unfinished_migrations") == "0"
    );
}

#[test]
fn twenty_replicas_on_mariadb() {
    let Some(t) = Target::mariadb("race") else {
        return;
    };
    race(&t);
    assert_eq!(
        t.sql("SELECT count(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name = 't_n'"),
        "1"
    );
}

#[test]
fn twenty_replicas_on_a_shared_sqlite_file() {
    let Some(t) = Target::sqlite("race") else {
        return;
    };
    race(&t);
    assert_eq!(
        t.sql("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 't_n'"),
        "1"
    );
}
