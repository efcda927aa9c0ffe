//! Real database servers for the migration tests: PostgreSQL and MariaDB started from the
//! system's binaries in temporary directories on free ports, one of each per test binary
//! (`postgres()`, `mariadb()`), each test in its own database; plus helpers for SQLite files
//! and the `sqlx` / `refinery` CLIs.
//!
//! Include with `mod common;` and `#[path = "common/servers.rs"] mod servers;`.
//!
//! A shared server lives in a `static` and is never dropped, so each one gets a watchdog: a
//! small shell loop that stops the server and removes its directory once the test process is
//! gone. A server a test starts for itself (`Postgres::start`) stops when dropped.
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::common::{self, prerequisite};

/// The password of the test servers' users; the password-leak tests grep for it.
pub const PASSWORD: &str = "Pw-s3cr3t-7f1e";

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Whether this machine has an IPv6 loopback (a container may have IPv6 turned off): the
/// servers listen on `::1` too only then.
pub fn ipv6_loopback() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// A name no other test of this run uses (database names, file names).
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}_{}_{}",
        tag.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("usher-{}", unique(tag)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create server dir");
    dir
}

/// Stops `pid` (with `signal`, then KILL) and removes `dir` once this test process is gone.
fn watchdog(pid: u32, signal: &str, dir: &Path) {
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; kill -{signal} {pid} 2>/dev/null; \
         for i in 1 2 3 4 5 6; do kill -0 {pid} 2>/dev/null || break; sleep 0.5; done; \
         kill -KILL {pid} 2>/dev/null; rm -rf {dir}",
        me = std::process::id(),
        dir = common::sh_quote(dir)
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
}

fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < timeout,
            "{what} did not start within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn uid_gid(user: &str) -> Option<(u32, u32)> {
    let u = nix::unistd::User::from_name(user).ok()??;
    Some((u.uid.as_raw(), u.gid.as_raw()))
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// The directory of PostgreSQL's server binaries (`initdb`, `postgres`).
pub fn pg_bindir() -> Option<PathBuf> {
    if let Some(initdb) = common::which("initdb") {
        return initdb.parent().map(Path::to_path_buf);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// A PostgreSQL server: superuser `postgres` with `PASSWORD` (scram-sha-256 over TCP, trust
/// on its private Unix socket for `psql`).
pub struct Postgres {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    owned: bool,
}

impl Postgres {
    /// The server shared by every test of this binary; `None` (after `prerequisite`) when
    /// PostgreSQL is not installed.
    pub fn shared() -> Option<&'static Postgres> {
        static SHARED: OnceLock<Option<Postgres>> = OnceLock::new();
        let server = SHARED.get_or_init(|| {
            let available = pg_bindir().is_some() && uid_gid("postgres").is_some();
            if !available {
                return None;
            }
            let mut pg = Postgres::start_on(free_port(), &[]);
            pg.owned = false;
            if let Some(child) = &pg.child {
                watchdog(child.id(), "INT", &pg.dir);
            }
            Some(pg)
        });
        if !prerequisite(
            server.is_some(),
            "PostgreSQL server binaries (initdb, postgres) and a postgres user; .ci/run installs \
             the postgresql package",
        ) {
            return None;
        }
        server.as_ref()
    }

    /// A server of the test's own (stopped when dropped), on `port`, with extra `-c` settings.
    pub fn start_on(port: u16, settings: &[&str]) -> Postgres {
        let bin = pg_bindir().expect("PostgreSQL binaries");
        let (uid, gid) = uid_gid("postgres").expect("postgres user");
        let dir = scratch_dir("pg");
        chown(&dir, Some(uid), Some(gid)).expect("chown server dir");
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        chown(&pwfile, Some(uid), Some(gid)).unwrap();
        let data = dir.join("data");
        let out = Command::new(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-E", "UTF8", "--no-sync", "--locale=C"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .uid(uid)
            .gid(gid)
            .current_dir(&dir)
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = Postgres {
            port,
            dir,
            child: None,
            owned: true,
        };
        pg.launch(settings);
        pg
    }

    fn launch(&mut self, settings: &[&str]) {
        let bin = pg_bindir().expect("PostgreSQL binaries");
        let (uid, gid) = uid_gid("postgres").expect("postgres user");
        let mut cmd = Command::new(bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.dir.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(&self.dir)
            // IPv6 too, where there is one: the URL tests connect to [::1].
            .args([
                "-c",
                if ipv6_loopback() {
                    "listen_addresses=127.0.0.1,::1"
                } else {
                    "listen_addresses=127.0.0.1"
                },
            ])
            // Test data is disposable: trade durability for speed.
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=300"]);
        for s in settings {
            cmd.args(["-c", s]);
        }
        let log = std::fs::File::create(self.dir.join("log")).unwrap();
        let child = cmd
            .uid(uid)
            .gid(gid)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start postgres");
        self.child = Some(child);
        let port = self.port;
        let dir = self.dir.clone();
        wait_until("PostgreSQL", Duration::from_secs(60), || {
            Command::new("psql")
                .args(["-X", "-q", "-h"])
                .arg(&dir)
                .args(["-p", &port.to_string(), "-U", "postgres", "-d", "postgres"])
                .args(["-c", "SELECT 1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    }

    /// Stops the server (fast shutdown), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGINT,
            );
            let _ = child.wait();
        }
    }

    /// Starts a stopped server again, on the same port and data.
    pub fn restart(&mut self, settings: &[&str]) {
        self.stop();
        self.launch(settings);
    }

    /// A URL for `database` as the `postgres` superuser with the password.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// The same over IPv6, as `[::1]`.
    pub fn url_v6(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@[::1]:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// A fresh, empty database; returns its name.
    pub fn create_database(&self, tag: &str) -> String {
        let name = unique(tag).to_lowercase();
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        name
    }

    /// Runs SQL through psql on the private socket; returns the unaligned, tuples-only output.
    #[track_caller]
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(["-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.owned {
            self.stop();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PgBouncer

/// A PgBouncer in front of a PostgreSQL server, run as the postgres user from a private
/// directory; stopped when dropped. Any database name is passed through to the server as
/// user postgres; clients are not authenticated (`auth_type = any`).
pub struct PgBouncer {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

impl PgBouncer {
    /// `pool_mode` is `transaction` or `session`; `ignore_extra_float_digits` adds the
    /// `ignore_startup_parameters = extra_float_digits` that sqlx-based clients need (PgBouncer's
    /// default refuses it). `None` (after `prerequisite`) when PgBouncer is not installed.
    pub fn start(
        pg: &Postgres,
        pool_mode: &str,
        ignore_extra_float_digits: bool,
    ) -> Option<PgBouncer> {
        let bin = common::which("pgbouncer").or_else(|| {
            let p = PathBuf::from("/usr/sbin/pgbouncer");
            p.is_file().then_some(p)
        });
        if !prerequisite(
            bin.is_some() && uid_gid("postgres").is_some(),
            "PgBouncer (the pgbouncer package; .ci/run installs it) and a postgres user",
        ) {
            return None;
        }
        let (uid, gid) = uid_gid("postgres").unwrap();
        let dir = scratch_dir("pgbouncer");
        chown(&dir, Some(uid), Some(gid)).expect("chown pgbouncer dir");
        let port = free_port();
        let ignore = if ignore_extra_float_digits {
            "ignore_startup_parameters = extra_float_digits\n"
        } else {
            ""
        };
        let ini = format!(
            "[databases]\n* = host=127.0.0.1 port={pg} user=postgres password={PASSWORD}\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = any\npool_mode = {pool_mode}\n{ignore}\
             max_client_conn = 500\ndefault_pool_size = 20\n\
             logfile = {dir}/log\npidfile = {dir}/pid\n",
            pg = pg.port,
            dir = dir.display()
        );
        let file = dir.join("pgbouncer.ini");
        std::fs::write(&file, ini).unwrap();
        let log = std::fs::File::create(dir.join("stderr")).unwrap();
        chown(dir.join("stderr"), Some(uid), Some(gid)).unwrap();
        let child = Command::new(bin.unwrap())
            .arg(&file)
            .uid(uid)
            .gid(gid)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start pgbouncer");
        watchdog(child.id(), "INT", &dir);
        wait_until("PgBouncer", Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Some(PgBouncer { port, dir, child })
    }

    /// A URL for `database` through this pooler.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// PgBouncer's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// MariaDB

/// A MariaDB server: user `usher` with `PASSWORD` over TCP, root on its private socket.
pub struct MariaDb {
    pub port: u16,
    dir: PathBuf,
    /// Kept, never waited for: the watchdog stops it when the tests are done.
    _server: Child,
}

fn mariadbd() -> Option<PathBuf> {
    ["mariadbd", "mysqld"]
        .iter()
        .find_map(|t| common::which(t))
        .or_else(|| {
            ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        })
}

impl MariaDb {
    pub fn shared() -> Option<&'static MariaDb> {
        static SHARED: OnceLock<Option<MariaDb>> = OnceLock::new();
        let server = SHARED.get_or_init(|| {
            let available = mariadbd().is_some()
                && common::which("mariadb-install-db").is_some()
                && common::which("mariadb").is_some();
            available.then(MariaDb::start)
        });
        if !prerequisite(
            server.is_some(),
            "MariaDB (mariadbd, mariadb-install-db, mariadb client); .ci/run installs the \
             mariadb-server and mariadb-client packages",
        ) {
            return None;
        }
        server.as_ref()
    }

    fn start() -> MariaDb {
        let dir = scratch_dir("maria");
        let data = dir.join("data");
        let out = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .output()
            .expect("run mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let child = Command::new(mariadbd().unwrap())
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.join("sock").display()))
            .arg(format!("--pid-file={}", dir.join("pid").display()))
            .arg(format!("--port={port}"))
            // IPv6 too, where there is one: the URL tests connect to [::1].
            .arg(if ipv6_loopback() {
                "--bind-address=127.0.0.1,::1"
            } else {
                "--bind-address=127.0.0.1"
            })
            .args([
                "--user=root",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--max-connections=400",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--innodb-buffer-pool-size=64M",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start mariadbd");
        watchdog(child.id(), "TERM", &dir);
        let server = MariaDb {
            port,
            dir,
            _server: child,
        };
        wait_until("MariaDB", Duration::from_secs(60), || {
            server.root_sql("", "SELECT 1").is_ok()
        });
        server
            .root_sql(
                "",
                &format!(
                    "CREATE USER usher@'%' IDENTIFIED BY '{PASSWORD}'; \
                     GRANT ALL ON *.* TO usher@'%' WITH GRANT OPTION;"
                ),
            )
            .expect("create the usher user");
        server
    }

    fn root_sql(&self, database: &str, sql: &str) -> Result<String, String> {
        let out = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .args(["-uroot", "-N", "-B", "-e", sql])
            .args((!database.is_empty()).then_some(database))
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    pub fn url(&self, database: &str) -> String {
        format!(
            "mysql://usher:{PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// The same over IPv6, as `[::1]`.
    pub fn url_v6(&self, database: &str) -> String {
        format!("mysql://usher:{PASSWORD}@[::1]:{}/{database}", self.port)
    }

    pub fn create_database(&self, tag: &str) -> String {
        let name = unique(tag).to_lowercase();
        self.sql("", &format!("CREATE DATABASE {name}"));
        name
    }

    #[track_caller]
    pub fn sql(&self, database: &str, sql: &str) -> String {
        self.root_sql(database, sql)
            .unwrap_or_else(|e| panic!("mariadb {sql:?} failed: {e}"))
    }
}

// ---------------------------------------------------------------------------------------------
// SQLite and the CLIs

/// `sqlite3 FILE SQL`, output trimmed.
#[track_caller]
pub fn sqlite(file: &Path, sql: &str) -> String {
    // Wait (up to 5 s) instead of failing while usher holds SQLite's write lock.
    let out = Command::new("sqlite3")
        .args(["-cmd", ".timeout 5000"])
        .arg(file)
        .arg(sql)
        .output()
        .expect("run sqlite3");
    assert!(
        out.status.success(),
        "sqlite3 {sql:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A migration tool's CLI (`sqlx`, `refinery`) on PATH or in cargo's bin directory.
pub fn cli(name: &str) -> Option<PathBuf> {
    if let Some(p) = common::which(name) {
        return Some(p);
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let p = cargo_home.join("bin").join(name);
    p.is_file().then_some(p)
}

/// The CLI, or a skip (a failure under CI) naming how to install it.
pub fn require_cli(name: &str, install: &str) -> Option<PathBuf> {
    let found = cli(name);
    if !prerequisite(
        found.is_some(),
        &format!("the `{name}` CLI; install it with `{install}`"),
    ) {
        return None;
    }
    found
}

pub const SQLX_INSTALL: &str = "cargo install sqlx-cli --version 0.9.0 --locked --no-default-features --features rustls,postgres,mysql,sqlite";
pub const REFINERY_INSTALL: &str = "cargo install refinery_cli --version 0.10.0 --locked --no-default-features --features postgresql,mysql,sqlite-bundled";

/// Writes migration files into `dir` (created), from `(file name, content)` pairs.
pub fn write_migrations(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// One database of any kind, for tests that run against all three

/// A fresh database on one of the servers, or a fresh SQLite file.
pub enum Target {
    Postgres(&'static Postgres, String),
    MariaDb(&'static MariaDb, String),
    Sqlite(PathBuf, common::TempDir),
}

impl Target {
    pub fn postgres(tag: &str) -> Option<Target> {
        let pg = Postgres::shared()?;
        Some(Target::Postgres(pg, pg.create_database(tag)))
    }

    pub fn mariadb(tag: &str) -> Option<Target> {
        let m = MariaDb::shared()?;
        Some(Target::MariaDb(m, m.create_database(tag)))
    }

    pub fn sqlite(tag: &str) -> Option<Target> {
        if !common::require_tool("sqlite3") {
            return None;
        }
        let dir = common::TempDir::new(tag);
        Some(Target::Sqlite(dir.join("app.db"), dir))
    }

    /// Every kind available here (missing servers are skipped, or fail under CI).
    pub fn all(tag: &str) -> Vec<Target> {
        [
            Target::postgres(tag),
            Target::mariadb(tag),
            Target::sqlite(tag),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Target::Postgres(..) => "postgres",
            Target::MariaDb(..) => "mariadb",
            Target::Sqlite(..) => "sqlite",
        }
    }

    pub fn url(&self) -> String {
        match self {
            Target::Postgres(pg, db) => pg.url(db),
            Target::MariaDb(m, db) => m.url(db),
            Target::Sqlite(file, _) => format!("sqlite://{}", file.display()),
        }
    }

    /// `usher --migrations DIR ARGS…` against this database.
    pub fn usher(&self, dir: &Path, args: &[&str]) -> common::Run {
        common::run(
            common::usher()
                .env("DATABASE_URL", self.url())
                .arg("--migrations")
                .arg(dir)
                .args(args),
        )
    }

    /// `replicas` usher processes started at once, each `usher --migrations DIR ARGS…`;
    /// panics with the output of any that failed.
    pub fn race(&self, dir: &Path, args: &[&str], replicas: usize) {
        let children: Vec<Child> = (0..replicas)
            .map(|_| {
                common::usher()
                    .env("DATABASE_URL", self.url())
                    .arg("--migrations")
                    .arg(dir)
                    .args(args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start usher")
            })
            .collect();
        for (i, c) in children.into_iter().enumerate() {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "replica {i}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Runs SQL as the administrator; tab-separated rows, trimmed.
    #[track_caller]
    pub fn sql(&self, sql: &str) -> String {
        match self {
            Target::Postgres(pg, db) => pg.psql(db, sql).replace('|', "\t"),
            Target::MariaDb(m, db) => m.sql(db, sql),
            Target::Sqlite(file, _) => sqlite(file, sql).replace('|', "\t"),
        }
    }

    /// Whether a table exists.
    pub fn has_table(&self, table: &str) -> bool {
        let q = match self {
            Target::Postgres(..) => {
                format!("SELECT count(*) FROM pg_tables WHERE tablename = '{table}'")
            }
            Target::MariaDb(..) => format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '{table}'"
            ),
            Target::Sqlite(..) => {
                format!("SELECT count(*) FROM sqlite_master WHERE name = '{table}'")
            }
        };
        self.sql(&q) != "0"
    }

    /// How `table` is defined, for comparing a table usher created with the one a tool
    /// creates: `SHOW CREATE TABLE` on MariaDB; the columns (type, nullability, default) and
    /// the indexes on PostgreSQL and SQLite.
    pub fn shape(&self, table: &str) -> String {
        match self {
            Target::Postgres(..) => self.sql(&format!(
                "SELECT column_name, data_type, is_nullable, column_default, is_identity \
                 FROM information_schema.columns WHERE table_name = '{table}' ORDER BY \
                 ordinal_position; SELECT indexdef FROM pg_indexes WHERE tablename = '{table}'"
            )),
            // Without the table's next AUTO_INCREMENT value, which depends on the rows.
            Target::MariaDb(..) => {
                let ddl = self.sql(&format!("SHOW CREATE TABLE {table}"));
                match ddl.split_once(" AUTO_INCREMENT=") {
                    Some((head, tail)) => {
                        format!(
                            "{head}{}",
                            tail.trim_start_matches(|c: char| c.is_ascii_digit())
                        )
                    }
                    None => ddl,
                }
            }
            Target::Sqlite(..) => self.sql(&format!(
                "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{table}'); \
                 SELECT l.name, l.\"unique\", i.name FROM pragma_index_list('{table}') AS l, \
                 pragma_index_info(l.name) AS i ORDER BY 1, 3"
            )),
        }
    }

    /// The versions recorded in `table` (a history table), in order.
    pub fn versions(&self, table: &str) -> Vec<i64> {
        if !self.has_table(table) {
            return Vec::new();
        }
        self.sql(&format!("SELECT version FROM {table} ORDER BY version"))
            .lines()
            .map(|l| l.trim().parse().expect("version"))
            .collect()
    }
}

/// Asserts a failing run's exit code, and that nothing it printed holds the password (every
/// failing case of the migration tests goes through here).
#[track_caller]
pub fn expect_failure(run: &common::Run, code: i32) {
    run.expect_code(code);
    assert!(
        !run.all_output().contains(PASSWORD),
        "the password leaked into the output\n{}",
        run.describe()
    );
}
