//! Rule: when the connection is lost in the middle of a migration (the session terminated, the
//! server restarted), usher exits 69 saying the connection was lost and only what it knows
//! about the state left behind — read through a new connection: a migration in a transaction
//! was rolled back and nothing is recorded (start again); one outside a transaction, or MySQL
//! DDL, may be partly applied and is recorded as unfinished only when that mark was written,
//! in which case `usher resolve` works on it. Never "fix the file", never "not ready".

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Run, TempDir, usher};
use servers::{MariaDb, Postgres};

fn start(url: &str, dir: &Path) -> Child {
    usher()
        .env("DATABASE_URL", url)
        .env("USHER_MIGRATIONS", dir)
        .arg("migrate")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start usher")
}

/// Polls `find` (an SQL runner returning the session id of the sleeping migration) until it
/// answers, then ends that session with `kill` and returns usher's run.
fn lose_connection(child: Child, find: impl Fn() -> String, kill: impl Fn(&str)) -> Run {
    let deadline = Instant::now() + Duration::from_secs(20);
    let id = loop {
        let id = find();
        if !id.is_empty() {
            break id;
        }
        assert!(Instant::now() < deadline, "the migration never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    kill(&id);
    let output = child.wait_with_output().unwrap();
    Run {
        shown: "usher migrate".into(),
        output,
    }
}

fn lost(run: &Run) {
    servers::expect_failure(run, 69);
    run.expect_stderr_contains("connection to");
    run.expect_stderr_contains("was lost during migration 1");
    assert!(!run.stderr().contains("fix the file"), "{}", run.describe());
    assert!(!run.stderr().contains("not ready"), "{}", run.describe());
}

fn resolve(url: &str, dir: &Path, mark: &str) -> Run {
    common::run(
        usher()
            .env("DATABASE_URL", url)
            .env("USHER_MIGRATIONS", dir)
            .args(["resolve", "1", mark]),
    )
}

#[test]
fn postgres_terminated_backend() {
    let Some(pg) = Postgres::shared() else { return };
    let find = |db: &str| {
        pg.psql(
            db,
            "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' \
             AND pid <> pg_backend_pid() AND state = 'active'",
        )
    };
    let terminate = |db: &str, pid: &str| {
        pg.psql(db, &format!("SELECT pg_terminate_backend({pid})"));
    };

    // In a transaction: rolled back, nothing recorded, a new start applies it.
    let db = pg.create_database("lost_tx");
    pg.psql(
        &db,
        "CREATE TABLE marker (x INTEGER); INSERT INTO marker VALUES (1)",
    );
    let dir = TempDir::new("lost_tx");
    servers::write_migrations(
        dir.path(),
        &[(
            "1_slow.sql",
            "CREATE TABLE t (x INTEGER);\nSELECT pg_sleep(30) FROM marker;\n",
        )],
    );
    let run = lose_connection(
        start(&pg.url(&db), dir.path()),
        || find(&db),
        |p| terminate(&db, p),
    );
    lost(&run);
    run.expect_stderr_contains("nothing is recorded");
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM _sqlx_migrations"), "0");
    assert_eq!(
        pg.psql(&db, "SELECT count(*) FROM pg_tables WHERE tablename = 't'"),
        "0"
    );
    pg.psql(&db, "DELETE FROM marker");
    common::run(
        usher()
            .env("DATABASE_URL", pg.url(&db))
            .env("USHER_MIGRATIONS", dir.path())
            .arg("migrate"),
    )
    .expect_code(0);

    // Outside a transaction: the unfinished mark was written first, and resolve accepts it.
    let db = pg.create_database("lost_notx");
    pg.psql(
        &db,
        "CREATE TABLE marker (x INTEGER); INSERT INTO marker VALUES (1)",
    );
    let dir = TempDir::new("lost_notx");
    servers::write_migrations(
        dir.path(),
        &[(
            "1_slow.sql",
            "-- no-transaction\nCREATE TABLE t (x INTEGER);\nSELECT pg_sleep(30) FROM marker;\n",
        )],
    );
    let run = lose_connection(
        start(&pg.url(&db), dir.path()),
        || find(&db),
        |p| terminate(&db, p),
    );
    lost(&run);
    run.expect_stderr_contains("recorded as unfinished");
    run.expect_stderr_contains("usher resolve 1 --applied");
    resolve(&pg.url(&db), dir.path(), "--applied").expect_code(0);
}

#[test]
fn mariadb_killed_connection() {
    let Some(m) = MariaDb::shared() else { return };
    let find = |db: &str| {
        m.sql(
            db,
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%SLEEP(30)%' \
             AND ID <> CONNECTION_ID()",
        )
    };
    let kill = |db: &str, id: &str| {
        m.sql(db, &format!("KILL CONNECTION {id}"));
    };

    // DDL committed the unfinished mark before the connection went: resolve works on it.
    let db = m.create_database("lost_ddl");
    m.sql(
        &db,
        "CREATE TABLE marker (x INTEGER); INSERT INTO marker VALUES (1)",
    );
    let dir = TempDir::new("lost_ddl");
    servers::write_migrations(
        dir.path(),
        &[(
            "1_slow.sql",
            "CREATE TABLE t (x INTEGER);\nSELECT SLEEP(30) FROM marker;\n",
        )],
    );
    let run = lose_connection(
        start(&m.url(&db), dir.path()),
        || find(&db),
        |id| kill(&db, id),
    );
    lost(&run);
    run.expect_stderr_contains("recorded as unfinished");
    resolve(&m.url(&db), dir.path(), "--applied").expect_code(0);

    // Nothing committed yet (no DDL before the loss): nothing recorded, a new start applies it.
    let db = m.create_database("lost_dml");
    m.sql(
        &db,
        "CREATE TABLE marker (x INTEGER); INSERT INTO marker VALUES (1)",
    );
    let dir = TempDir::new("lost_dml");
    servers::write_migrations(
        dir.path(),
        &[(
            "1_slow.sql",
            "SELECT SLEEP(30) FROM marker;\nCREATE TABLE t (x INTEGER);\n",
        )],
    );
    let run = lose_connection(
        start(&m.url(&db), dir.path()),
        || find(&db),
        |id| kill(&db, id),
    );
    lost(&run);
    run.expect_stderr_contains("nothing is recorded");
    assert_eq!(m.sql(&db, "SELECT count(*) FROM _sqlx_migrations"), "0");
    m.sql(&db, "DELETE FROM marker");
    common::run(
        usher()
            .env("DATABASE_URL", m.url(&db))
            .env("USHER_MIGRATIONS", dir.path())
            .arg("migrate"),
    )
    .expect_code(0);
}
