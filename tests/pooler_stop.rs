//! Rule: SIGTERM during a migration through a session-mode pooler cancels usher's own
//! statement — the backend pid it cancels is the one its session is proven to own — rolls back,
//! records nothing and exits 143 within a second or two; the pooler and the server stay usable.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{TempDir, usher};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use servers::{PgBouncer, Postgres};

#[test]
fn sigterm_through_a_session_pooler_cancels_usher_own_statement() {
    let Some(pg) = Postgres::shared() else { return };
    let Some(bouncer) = PgBouncer::start(pg, "session", true) else {
        return;
    };
    let db = pg.create_database("pool_stop");
    let dir = TempDir::new("pool_stop");
    servers::write_migrations(
        dir.path(),
        &[(
            "1_slow.sql",
            "CREATE TABLE t (x INTEGER);\nSELECT pg_sleep(30);\n",
        )],
    );
    let child = usher()
        .env("DATABASE_URL", bouncer.url(&db))
        .env("USHER_MIGRATIONS", dir.path())
        .arg("migrate")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start usher");
    let sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' \
                    AND pid <> pg_backend_pid() AND state = 'active'";
    let deadline = Instant::now() + Duration::from_secs(20);
    while pg.psql(&db, sleeping) != "1" {
        assert!(Instant::now() < deadline, "the migration never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    let took = sent.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(took < Duration::from_secs(3), "took {took:?}: {stderr}");
    assert!(stderr.contains("nothing was recorded"), "{stderr}");
    // The statement was cancelled on the server, not left running.
    let deadline = Instant::now() + Duration::from_secs(3);
    while pg.psql(&db, sleeping) != "0" {
        assert!(
            Instant::now() < deadline,
            "pg_sleep still runs after the stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        pg.psql(&db, "SELECT count(*) FROM pg_tables WHERE tablename = 't'"),
        "0"
    );
    // The pooler and the lock are free: a new start through it applies a quick version.
    servers::write_migrations(
        dir.path(),
        &[("1_slow.sql", "CREATE TABLE t (x INTEGER);\n")],
    );
    common::run(
        usher()
            .env("DATABASE_URL", bouncer.url(&db))
            .env("USHER_MIGRATIONS", dir.path())
            .args(["--lock-timeout", "5s", "migrate"]),
    )
    .expect_code(0);
}
