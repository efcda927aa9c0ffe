//! Waiting for the database: a server that comes up late is waited for (one log line per
//! attempt window, not per retry); one that never comes is given up at --wait-timeout (69);
//! permanent refusals — wrong password, unknown database, TLS required but impossible — fail
//! at once with 76 and say what to check.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{TempDir, run, usher};
use servers::{PASSWORD, Postgres, expect_failure};

fn dir_with_one_migration() -> TempDir {
    let dir = TempDir::new("m");
    servers::write_migrations(dir.path(), &[("1_a.sql", "CREATE TABLE a (x INTEGER);\n")]);
    dir
}

#[test]
fn database_down_at_start_then_started() {
    let Some(_) = Postgres::shared() else {
        return;
    };
    let port = servers::free_port();
    let mut pg = Postgres::start_on(port, &[]);
    pg.stop();
    let dir = dir_with_one_migration();
    let child = usher()
        .env("DATABASE_URL", pg.url("postgres"))
        .args(["--wait-timeout", "60s", "--migrations"])
        .arg(dir.path())
        .args(["--", "echo", "app-started"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    pg.restart(&[]);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("app-started"));
    assert!(
        err.contains("waiting for PostgreSQL at postgres://postgres:****@127.0.0.1"),
        "{err}"
    );
    assert!(err.contains("PostgreSQL is ready after"), "{err}");
    // About 15 retries happened; the log has one line per reason (maybe two, if the server
    // was caught starting up), not one per retry.
    let waits = err.matches("waiting for PostgreSQL").count();
    assert!((1..=3).contains(&waits), "{waits} wait lines:\n{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    assert_eq!(
        pg.psql("postgres", "SELECT count(*) FROM _sqlx_migrations"),
        "1"
    );
}

#[test]
fn unreachable_until_the_deadline() {
    let dir = dir_with_one_migration();
    let started = Instant::now();
    let r = run(usher()
        .env(
            "DATABASE_URL",
            format!(
                "postgres://app:{PASSWORD}@127.0.0.1:{}/app",
                servers::free_port()
            ),
        )
        .args(["--wait-timeout", "1500ms", "--migrations"])
        .arg(dir.path())
        .args(["--", "true"]));
    let took = started.elapsed();
    expect_failure(&r, 69);
    r.expect_stderr_contains("was not ready within --wait-timeout")
        .expect_stderr_contains("Connection refused");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(
        r.stderr().matches("waiting for PostgreSQL").count(),
        1,
        "{}",
        r.describe()
    );
}

#[test]
fn wrong_password_fails_at_once() {
    let Some(pg) = Postgres::shared() else {
        return;
    };
    let dir = dir_with_one_migration();
    let url = format!(
        "postgres://postgres:not-{PASSWORD}@127.0.0.1:{}/postgres",
        pg.port
    );
    let started = Instant::now();
    let r = run(usher()
        .env("DATABASE_URL", url)
        .arg("--migrations")
        .arg(dir.path())
        .args(["--", "true"]));
    let took = started.elapsed();
    expect_failure(&r, 76);
    assert!(took < Duration::from_secs(2), "took {took:?}");
    r.expect_stderr_contains("password authentication failed for user \"postgres\"")
        .expect_stderr_contains("[28P01]")
        .expect_stderr_contains("check the user name and password");

    let Some(m) = servers::MariaDb::shared() else {
        return;
    };
    let started = Instant::now();
    let r = run(usher()
        .env(
            "DATABASE_URL",
            format!("mysql://usher:not-{PASSWORD}@127.0.0.1:{}/mysql", m.port),
        )
        .arg("--migrations")
        .arg(dir.path())
        .args(["--", "true"]));
    expect_failure(&r, 76);
    assert!(started.elapsed() < Duration::from_secs(2));
    r.expect_stderr_contains("Access denied for user 'usher'");
}

#[test]
fn unknown_database_fails_at_once() {
    let Some(pg) = Postgres::shared() else {
        return;
    };
    let dir = dir_with_one_migration();
    let r = run(usher()
        .env("DATABASE_URL", pg.url("no_such_db"))
        .arg("--migrations")
        .arg(dir.path())
        .args(["--", "true"]));
    expect_failure(&r, 76);
    r.expect_stderr_contains("database \"no_such_db\" does not exist")
        .expect_stderr_contains("create database \"no_such_db\"");
}

/// sslmode as libpq defines it: verify-full and require cannot be met by a server without
/// TLS (a clear refusal, not a retry); disable and prefer connect.
#[test]
fn tls_modes() {
    let Some(pg) = Postgres::shared() else {
        return;
    };
    let dir = dir_with_one_migration();
    for mode in ["verify-full", "verify-ca", "require"] {
        let url = format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres?sslmode={mode}",
            pg.port
        );
        let started = Instant::now();
        let r = run(usher()
            .env("DATABASE_URL", url)
            .args(["--migrations"])
            .arg(dir.path())
            .arg("status"));
        expect_failure(&r, 76);
        assert!(started.elapsed() < Duration::from_secs(2), "{mode}");
        r.expect_stderr_contains("TLS")
            .expect_stderr_contains("check sslmode and sslrootcert");
    }
    for mode in ["disable", "prefer"] {
        let db = pg.create_database("tls");
        let url = format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/{db}?sslmode={mode}",
            pg.port
        );
        run(usher()
            .env("DATABASE_URL", url)
            .args(["--migrations"])
            .arg(dir.path())
            .arg("migrate"))
        .expect_code(0);
    }
}

/// A server with a certificate from a private CA (as RDS has): verify-full works with
/// `sslrootcert` naming that CA, and is refused without it (the compiled-in Mozilla roots do
/// not know it); `require` encrypts without verifying.
#[test]
fn private_ca_through_sslrootcert() {
    if Postgres::shared().is_none() || !common::require_tool("openssl") {
        return;
    }
    let certs = TempDir::new("tls");
    let sh = |script: &str| {
        let out = std::process::Command::new("sh")
            .args(["-ec", script])
            .current_dir(certs.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=usher-test-ca \
          -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key \
          -out server.csr 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
          -extfile san.ext -out server.pem 2>/dev/null
        chown postgres server.key server.pem && chmod 600 server.key
        chmod 755 .",
    );
    let cert = certs.join("server.pem");
    let key = certs.join("server.key");
    let settings = [
        "ssl=on".to_string(),
        format!("ssl_cert_file={}", cert.display()),
        format!("ssl_key_file={}", key.display()),
    ];
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    let pg = Postgres::start_on(servers::free_port(), &settings);
    let dir = dir_with_one_migration();
    let url = |query: &str| {
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres?{query}",
            pg.port
        )
    };
    let status = |u: String| {
        run(usher()
            .env("DATABASE_URL", u)
            .arg("--migrations")
            .arg(dir.path())
            .arg("status"))
    };
    let ca = certs.join("ca.pem");
    status(url(&format!(
        "sslmode=verify-full&sslrootcert={}",
        ca.display()
    )))
    .expect_code(0);
    status(url(&format!(
        "sslmode=verify-ca&sslrootcert={}",
        ca.display()
    )))
    .expect_code(0);
    status(url("sslmode=require")).expect_code(0);
    let started = Instant::now();
    let r = status(url("sslmode=verify-full"));
    expect_failure(&r, 76);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once, not retried"
    );
    r.expect_stderr_contains("TLS failed")
        .expect_stderr_contains("UnknownIssuer")
        .expect_stderr_contains("sslrootcert");
}
