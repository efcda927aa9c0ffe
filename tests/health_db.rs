//! Rule: `usher health db` is healthy (exit 0) when `DATABASE_URL` — or the file named by
//! `DATABASE_URL_FILE` — answers `SELECT 1`; with `--no-pending` it is also unhealthy (exit 1)
//! while migrations are pending, so a rollout waits for them. It never prints the password.

mod common;

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::loopback::closed_port;
use common::{Run, TempDir, usher};

/// A migrations directory with one migration that creates a table.
fn migrations(dir: &TempDir) -> PathBuf {
    let migrations = dir.join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("V1__create_items.sql"),
        "CREATE TABLE items (id INTEGER PRIMARY KEY);\n",
    )
    .unwrap();
    migrations
}

fn health_db(url: &str, migrations: &Path, extra: &[&str]) -> Run {
    common::run(
        usher()
            .env("DATABASE_URL", url)
            .env("USHER_MIGRATIONS", migrations)
            .args(["health", "db", "--timeout", "10s"])
            .args(extra),
    )
}

/// `health db` with and without `--no-pending`, before and after `usher migrate`.
fn check_pending_gate(url: &str, dir: &TempDir) {
    let migrations = migrations(dir);
    health_db(url, &migrations, &[])
        .expect_code(0)
        .expect_stdout_contains("healthy: db answers SELECT 1");
    health_db(url, &migrations, &["--no-pending"])
        .expect_code(1)
        .expect_stdout_contains("unhealthy: db: ")
        .expect_stdout_contains("pending");
    common::run(
        usher()
            .env("DATABASE_URL", url)
            .env("USHER_MIGRATIONS", &migrations)
            .arg("migrate"),
    )
    .expect_code(0);
    let run = health_db(url, &migrations, &["--no-pending"]);
    run.expect_code(0)
        .expect_stdout_contains("healthy: db answers SELECT 1, no migration pending");
    assert_eq!(run.stdout().lines().count(), 1, "{}", run.describe());
}

#[test]
fn sqlite_with_and_without_pending_migrations() {
    let dir = TempDir::new("health-sqlite");
    let db = dir.join("app.db");
    // An empty file is an empty SQLite database.
    std::fs::write(&db, "").unwrap();
    check_pending_gate(&format!("sqlite://{}", db.display()), &dir);
}

#[test]
fn database_url_file_is_read_and_nothing_else_is_printed() {
    let dir = TempDir::new("health-secret");
    let db = dir.join("app.db");
    std::fs::write(&db, "").unwrap();
    let secret = dir.join("database_url");
    std::fs::write(&secret, format!("sqlite://{}\n", db.display())).unwrap();
    let run = common::run(
        usher()
            .env("DATABASE_URL_FILE", &secret)
            .args(["health", "db"]),
    );
    run.expect_code(0)
        .expect_stdout_contains("healthy: db answers SELECT 1");
    assert_eq!(run.stderr(), "", "a probe logs nothing\n{}", run.describe());
}

#[test]
fn an_unreachable_database_is_unhealthy_without_printing_the_password() {
    let url = format!("postgres://app:hunter2@127.0.0.1:{}/app", closed_port());
    let dir = TempDir::new("health-down");
    let run = health_db(&url, &dir.join("migrations"), &[]);
    run.expect_code(1).expect_stdout_contains("unhealthy: db: ");
    assert!(!run.all_output().contains("hunter2"), "{}", run.describe());
}

/// A throwaway PostgreSQL 15 in a temporary directory, on a loopback port, trusting local
/// connections; stopped (fast shutdown) when dropped.
struct Postgres {
    port: u16,
    child: Child,
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

impl Postgres {
    /// `None` (with the reason printed) when root or the PostgreSQL binaries are missing.
    fn start(dir: &TempDir) -> Option<Postgres> {
        let have = Path::new(PG_BIN).join("initdb").is_file();
        if !common::require_root()
            || !common::prerequisite(
                have,
                "PostgreSQL 15 server binaries in /usr/lib/postgresql/15/bin",
            )
        {
            return None;
        }
        // PostgreSQL refuses to run as root: run it as the postgres user, in a directory it owns.
        let user = nix::unistd::User::from_name("postgres")
            .ok()
            .flatten()
            .expect("a postgres user (the Debian package creates it)");
        nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid)).unwrap();
        let data = dir.join("data");
        let as_postgres = |program: &str| {
            let mut cmd = Command::new(Path::new(PG_BIN).join(program));
            cmd.uid(user.uid.as_raw())
                .gid(user.gid.as_raw())
                .env_clear()
                .env("LC_ALL", "C")
                .current_dir(dir.path());
            cmd
        };
        let init = as_postgres("initdb")
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .expect("run initdb");
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let port = closed_port();
        let child = as_postgres("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-p"])
            .arg(port.to_string())
            .arg("-k")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let pg = Postgres { port, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        // Listening is not ready: until recovery ends it answers "starting up" (57P03).
        let ready = || {
            Command::new(Path::new(PG_BIN).join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success())
        };
        while TcpStream::connect(("127.0.0.1", port)).is_err() || !ready() {
            assert!(
                Instant::now() < deadline,
                "postgres did not accept connections within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(pg)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let _ = self.child.wait();
    }
}

#[test]
fn postgres_with_and_without_pending_migrations() {
    let dir = TempDir::new("health-postgres");
    let Some(pg) = Postgres::start(&dir) else {
        return;
    };
    check_pending_gate(&pg.url(), &dir);
}
