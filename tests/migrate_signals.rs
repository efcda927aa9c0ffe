//! Stop signals while migrating: SIGTERM or SIGINT during a long migration, the lock wait or
//! the wait for the database exits 143/130 within a second, cancels the running statement,
//! records nothing, and leaves the lock free for the next process at once.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{TempDir, usher};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use servers::Target;

fn spawn(t: &Target, dir: &Path, extra: &[&str]) -> Child {
    usher()
        .env("DATABASE_URL", t.url())
        .arg("--migrations")
        .arg(dir)
        .args(extra)
        .args(["--", "true"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start usher")
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal`; returns the exit code, the time to exit and stderr.
fn stop(mut child: Child, signal: Signal) -> (Option<i32>, Duration, String) {
    let sent = Instant::now();
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), took, err)
}

fn write_sleeper(dir: &Path, sleep: &str) {
    servers::write_migrations(
        dir,
        &[
            ("1_table.sql", "CREATE TABLE a (x INTEGER);\n"),
            (
                "2_slow.sql",
                &format!("INSERT INTO a (x) VALUES (1);\n{sleep};\n"),
            ),
        ],
    );
}

#[test]
fn sigterm_during_a_postgres_migration() {
    let Some(t) = Target::postgres("term") else {
        return;
    };
    let Target::Postgres(_, db) = &t else {
        unreachable!()
    };
    let dir = TempDir::new("m");
    write_sleeper(dir.path(), "SELECT pg_sleep(30)");
    let child = spawn(&t, dir.path(), &[]);
    let running = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND state = 'active' AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()"
    );
    wait_for("the slow migration", || t.sql(&running) == "1");

    let (code, took, err) = stop(child, Signal::SIGTERM);
    assert_eq!(code, Some(143), "{err}");
    assert!(took < Duration::from_secs(1), "took {took:?}\n{err}");
    assert!(
        err.contains("stopped by SIGTERM during migration 2"),
        "{err}"
    );
    assert!(err.contains("nothing was recorded"), "{err}");
    // Nothing recorded, the statement is gone, the lock is free at once.
    assert_eq!(t.versions("_sqlx_migrations"), [1]);
    assert_eq!(t.sql("SELECT count(*) FROM a"), "0");
    assert_eq!(t.sql(&running), "0", "the statement was cancelled");
    assert_eq!(
        t.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
        "0",
        "the lock is free"
    );
    // The next process gets the lock and applies the fixed file.
    write_sleeper(dir.path(), "SELECT pg_sleep(0)");
    let next = spawn(&t, dir.path(), &[]).wait_with_output().unwrap();
    assert!(
        next.status.success(),
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    assert_eq!(t.versions("_sqlx_migrations"), [1, 2]);
}

/// A replica waiting for the lock names the holder, and stops promptly on SIGINT.
#[test]
fn sigint_during_the_lock_wait_names_the_holder() {
    let Some(t) = Target::postgres("lockwait") else {
        return;
    };
    let dir = TempDir::new("m");
    write_sleeper(dir.path(), "SELECT pg_sleep(30)");
    let holder = spawn(&t, dir.path(), &[]);
    wait_for("the lock holder", || {
        t.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())") == "1"
    });
    let mut waiter = spawn(&t, dir.path(), &[]);
    // Let it reach the lock wait and log it.
    let mut err = Vec::new();
    let mut stderr = waiter.stderr.take().unwrap();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    while !String::from_utf8_lossy(&err).contains("waiting for the migration lock") {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            String::from_utf8_lossy(&err)
        );
        let n = stderr.read(&mut buf).unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&err));
        err.extend_from_slice(&buf[..n]);
    }
    let host = nix::unistd::gethostname().unwrap();
    let text = String::from_utf8_lossy(&err).into_owned();
    assert!(
        text.contains(&format!(
            "held by usher@{} (backend pid",
            host.to_string_lossy()
        )),
        "{text}"
    );
    waiter.stderr = Some(stderr);
    let (code, took, rest) = stop(waiter, Signal::SIGINT);
    assert_eq!(code, Some(130), "{rest}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(
        rest.contains("stopped by SIGINT during the wait for the migration lock"),
        "{rest}"
    );

    let (code, took, _) = stop(holder, Signal::SIGTERM);
    assert_eq!(code, Some(143));
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(t.versions("_sqlx_migrations"), [1]);
}

#[test]
fn sigterm_during_a_mariadb_migration() {
    let Some(t) = Target::mariadb("term") else {
        return;
    };
    let dir = TempDir::new("m");
    write_sleeper(dir.path(), "SELECT SLEEP(30)");
    let child = spawn(&t, dir.path(), &[]);
    let running = "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%SLEEP(30)%' AND INFO NOT LIKE '%PROCESSLIST%'";
    wait_for("the slow migration", || t.sql(running) == "1");
    let (code, took, err) = stop(child, Signal::SIGTERM);
    assert_eq!(code, Some(143), "{err}");
    assert!(took < Duration::from_secs(1), "took {took:?}\n{err}");
    assert!(err.contains("nothing was recorded"), "{err}");
    assert_eq!(t.versions("_sqlx_migrations"), [1]);
    assert_eq!(t.sql("SELECT count(*) FROM a"), "0");
    assert_eq!(t.sql(running), "0", "the statement was killed");
}

#[test]
fn sigterm_during_a_sqlite_migration() {
    let Some(t) = Target::sqlite("term") else {
        return;
    };
    let dir = TempDir::new("m");
    write_sleeper(
        dir.path(),
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000000000) SELECT count(*) FROM c",
    );
    let mut child = spawn(&t, dir.path(), &[]);
    // The first migration is committed before the slow one starts.
    let Target::Sqlite(file, _) = &t else {
        unreachable!()
    };
    wait_for("the first migration", || {
        t.versions("_sqlx_migrations") == [1] || child.try_wait().unwrap().is_some()
    });
    std::thread::sleep(Duration::from_millis(200));
    let (code, took, err) = stop(child, Signal::SIGTERM);
    assert_eq!(code, Some(143), "{err}");
    assert!(took < Duration::from_secs(1), "took {took:?}\n{err}");
    assert_eq!(t.versions("_sqlx_migrations"), [1], "{}", file.display());
    assert_eq!(t.sql("SELECT count(*) FROM a"), "0");
}

/// SIGTERM while the database is still unreachable.
#[test]
fn sigterm_during_the_wait_for_the_database() {
    let dir = TempDir::new("m");
    write_sleeper(dir.path(), "SELECT 1");
    let child = usher()
        .env(
            "DATABASE_URL",
            format!("postgres://u:p@127.0.0.1:{}/x", servers::free_port()),
        )
        .arg("--migrations")
        .arg(dir.path())
        .args(["--", "true"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (code, took, err) = stop(child, Signal::SIGTERM);
    assert_eq!(code, Some(143), "{err}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(
        err.contains("stopped by SIGTERM during the wait for the database"),
        "{err}"
    );
}
