//! Rule: a replica killed with `kill -9` in the middle of a long statement does not keep the
//! migration lock until the statement ends: usher asks PostgreSQL to check its client during a
//! query (`client_connection_check_interval`, and TCP keepalives), so the server ends the dead
//! session and the next replica gets the lock within seconds — also after an earlier migration
//! of the same run, whose session reset (RESET ALL) must keep those settings. While it waits,
//! that replica names the holder — application_name, backend pid, state — and how to end it.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{TempDir, usher};
use servers::Postgres;

#[test]
fn a_killed_holder_releases_the_lock_within_seconds() {
    let Some(pg) = Postgres::shared() else { return };
    let db = pg.create_database("dead_holder");
    // The migration sleeps 20 s only while slow_marker has a row: the next replica, which
    // applies it again after the kill, runs through.
    pg.psql(
        &db,
        "CREATE TABLE slow_marker (x INTEGER); INSERT INTO slow_marker VALUES (1)",
    );
    let dir = TempDir::new("dead_holder");
    let m = dir.join("migrations");
    servers::write_migrations(
        &m,
        &[
            // A migration before the slow one: the session reset after it (RESET ALL) must
            // not undo the dead-client settings.
            ("1_quick.sql", "CREATE TABLE q (x INTEGER);\n"),
            (
                "2_slow.sql",
                "CREATE TABLE t (x INTEGER);\nSELECT pg_sleep(20) FROM slow_marker;\n",
            ),
        ],
    );
    let start = || {
        usher()
            .env("DATABASE_URL", pg.url(&db))
            .env("USHER_MIGRATIONS", &m)
            .args(["--lock-timeout", "60s", "migrate"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start usher")
    };
    let mut first = start();
    let sleeping = "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' \
                    AND pid <> pg_backend_pid() AND state = 'active'";
    let deadline = Instant::now() + Duration::from_secs(20);
    let holder_pid = loop {
        let pid = pg.psql(&db, sleeping);
        if !pid.is_empty() {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "the first usher never started its migration"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    pg.psql(&db, "DELETE FROM slow_marker");

    let mut second = start();
    let (tx, rx) = mpsc::channel();
    let stderr = second.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send((Instant::now(), line));
        }
    });
    let mut seen = Vec::new();
    let waiting = loop {
        let (_, line) = rx
            .recv_timeout(Duration::from_secs(15))
            .unwrap_or_else(|_| panic!("no waiting line; saw {seen:#?}"));
        seen.push(line.clone());
        if line.contains("waiting for the migration lock") {
            break line;
        }
    };
    assert!(waiting.contains("usher@"), "{waiting}");
    assert!(
        waiting.contains(&format!("backend pid {holder_pid}")),
        "{waiting}"
    );
    assert!(waiting.contains("active for"), "{waiting}");
    assert!(
        waiting.contains(&format!("SELECT pg_terminate_backend({holder_pid})")),
        "{waiting}"
    );

    first.kill().unwrap(); // SIGKILL
    let killed = Instant::now();
    let _ = first.wait();
    let got = loop {
        let (at, line) = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the lock never came; saw {seen:#?}"));
        seen.push(line.clone());
        if line.contains("got the migration lock") {
            break at;
        }
    };
    let took = got.duration_since(killed);
    assert!(
        took < Duration::from_secs(10),
        "the second replica got the lock {took:?} after the kill; saw {seen:#?}"
    );
    let status = second.wait().unwrap();
    assert!(
        status.success(),
        "second replica: {status:?}; saw {seen:#?}"
    );
    assert_eq!(
        pg.psql(&db, "SELECT count(*) FROM _sqlx_migrations WHERE success"),
        "2"
    );
    eprintln!("lock taken over {took:?} after the kill");
}
