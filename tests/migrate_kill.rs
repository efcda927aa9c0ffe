//! `kill -9` at any moment: usher is killed at random points of a 100-migration run, 20 times,
//! and restarted each time; after every kill the history matches the schema exactly (each
//! recorded migration's table exists and logged once, no unrecorded table), and the last run
//! completes. On PostgreSQL and SQLite, where DDL is transactional; on MySQL/MariaDB an
//! implicit commit makes the unfinished marker the answer, which migrate_takeover.rs covers.
//! Once per history format on PostgreSQL: a format's own bookkeeping (Prisma's attempt rows)
//! must not turn a kill into a stop. Not golang-migrate's: its one `dirty` row cannot tell a
//! kill from a failure, and dirty stops every start, as migrate does (takeover_golang_migrate.rs).

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use common::{TempDir, usher};
use servers::Target;

const MIGRATIONS: i64 = 100;
const KILLS: usize = 20;

/// A history format as this test needs it: where a migration's text goes, and what the
/// history says is applied.
#[derive(Clone, Copy)]
struct Format {
    name: &'static str,
    write: fn(&Path, i64, &str),
    applied: fn(&Target) -> Vec<i64>,
}

const SQLX: Format = Format {
    name: "sqlx",
    write: |dir, v, sql| std::fs::write(dir.join(format!("{v}_step.sql")), sql).unwrap(),
    applied: |t| t.versions("_sqlx_migrations"),
};

const PRISMA: Format = Format {
    name: "prisma",
    write: |dir, v, sql| {
        let folder = dir.join(format!("{v:04}_step"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("migration.sql"), sql).unwrap();
    },
    applied: |t| {
        if !t.has_table("_prisma_migrations") {
            return Vec::new();
        }
        let mut v: Vec<i64> = t
            .sql(
                "SELECT split_part(migration_name, '_', 1) FROM _prisma_migrations WHERE \
                 finished_at IS NOT NULL AND rolled_back_at IS NULL",
            )
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect();
        v.sort();
        v
    },
};

const DBMATE: Format = Format {
    name: "dbmate",
    write: |dir, v, sql| {
        std::fs::write(
            dir.join(format!("{v}_step.sql")),
            format!("-- migrate:up\n{sql}\n-- migrate:down\nDROP TABLE k{v};\n"),
        )
        .unwrap()
    },
    applied: |t| {
        // Text versions: sorted as numbers here.
        let mut v = t.versions("schema_migrations");
        v.sort();
        v
    },
};

const GOOSE: Format = Format {
    name: "goose",
    write: |dir, v, sql| {
        std::fs::write(
            dir.join(format!("{v}_step.sql")),
            format!("-- +goose Up\n{sql}\n-- +goose Down\nDROP TABLE k{v};\n"),
        )
        .unwrap()
    },
    applied: |t| {
        if !t.has_table("goose_db_version") {
            return Vec::new();
        }
        t.sql("SELECT version_id FROM goose_db_version WHERE version_id > 0 ORDER BY version_id")
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect()
    },
};

/// `pause` slows each migration down (PostgreSQL runs them faster than the test can watch).
fn write(dir: &Path, pause: &str, format: Format) {
    (format.write)(dir, 1, "CREATE TABLE applied_log (v INTEGER NOT NULL);\n");
    for v in 2..=MIGRATIONS {
        (format.write)(
            dir,
            v,
            &format!(
                "CREATE TABLE k{v} (x INTEGER);\nINSERT INTO k{v} (x) VALUES ({v});\n{pause}INSERT INTO applied_log (v) VALUES ({v});\n"
            ),
        );
    }
}

/// A small deterministic generator seeded from the clock (printed, to reproduce a failure).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

fn tables(t: &Target) -> Vec<i64> {
    let q = match t.kind() {
        "postgres" => {
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^k[0-9]+$'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'k[0-9]*'",
    };
    let mut v: Vec<i64> = t
        .sql(q)
        .lines()
        .filter_map(|l| l.trim().strip_prefix('k')?.parse().ok())
        .collect();
    v.sort();
    v
}

/// History and schema agree: the recorded versions are exactly the created tables (plus the
/// first), and the log has each once.
fn consistent(t: &Target, round: usize, format: Format) {
    let history = (format.applied)(t);
    let recorded: Vec<i64> = history.iter().copied().filter(|v| *v > 1).collect();
    assert_eq!(
        tables(t),
        recorded,
        "{} round {round}: tables vs history",
        t.kind()
    );
    if history.contains(&1) {
        let log = t.sql("SELECT v FROM applied_log ORDER BY v");
        let logged: Vec<i64> = log.lines().map(|l| l.trim().parse().unwrap()).collect();
        assert_eq!(
            logged,
            recorded,
            "{} round {round}: log vs history",
            t.kind()
        );
    } else {
        assert!(!t.has_table("applied_log"), "{} round {round}", t.kind());
    }
    if t.has_table("_sqlx_migrations") {
        assert_eq!(
            t.sql("SELECT count(*) FROM _sqlx_migrations WHERE success = FALSE"),
            "0",
            "{} round {round}",
            t.kind()
        );
    }
}

fn kill_and_restart(t: &Target, format: Format) {
    let dir = TempDir::new("m");
    // About 5-30 ms per migration, so that kills land inside the run, not after it (a
    // PostgreSQL migration is one round trip).
    let pause = if t.kind() == "postgres" {
        "SELECT pg_sleep(0.03);\n"
    } else {
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000) SELECT count(*) FROM c;\n"
    };
    write(dir.path(), pause, format);
    let start = || {
        usher()
            .env("DATABASE_URL", t.url())
            .arg("--migrations")
            .arg(dir.path())
            .arg("migrate")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("{} ({}): seed {seed}", t.kind(), format.name);
    let mut rng = Lcg(seed);
    let mut kills = 0;
    for round in 0..KILLS {
        let done = (format.applied)(t).len() as u64;
        // Spread the kills over the run: wait for a random amount of progress, then a random
        // fraction of a migration more.
        let rounds_left = (KILLS - round) as u64;
        let step = ((MIGRATIONS as u64).saturating_sub(done) / rounds_left).max(1);
        let target = done + rng.below(step * 2);
        let mut child = start();
        while ((format.applied)(t).len() as u64) < target && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        consistent(t, round, format);
    }
    eprintln!("{}: {kills} kills landed mid-run", t.kind());
    assert!(
        kills >= KILLS / 2,
        "most kills must land while usher runs ({kills})"
    );
    let out = start().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    consistent(t, KILLS, format);
    assert_eq!((format.applied)(t), (1..=MIGRATIONS).collect::<Vec<_>>());
}

#[test]
fn kill_9_during_a_postgres_run() {
    if let Some(t) = Target::postgres("kill") {
        kill_and_restart(&t, SQLX);
    }
}

#[test]
fn kill_9_during_a_sqlite_run() {
    if let Some(t) = Target::sqlite("kill") {
        kill_and_restart(&t, SQLX);
    }
}

#[test]
fn kill_9_during_a_postgres_run_prisma_format() {
    if let Some(t) = Target::postgres("kill_prisma") {
        kill_and_restart(&t, PRISMA);
    }
}

#[test]
fn kill_9_during_a_postgres_run_dbmate_format() {
    if let Some(t) = Target::postgres("kill_dbmate") {
        kill_and_restart(&t, DBMATE);
    }
}

#[test]
fn kill_9_during_a_postgres_run_goose_format() {
    if let Some(t) = Target::postgres("kill_goose") {
        kill_and_restart(&t, GOOSE);
    }
}
