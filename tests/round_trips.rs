//! Round trips to the database, counted (not timed) through `bench/rtproxy.py`, the proxy the
//! latency benchmark uses: a start with nothing to apply costs authentication plus one round
//! trip of usher's own; K migrations cost about one round trip each, plus a constant.
//!
//! PostgreSQL authenticates with SCRAM here (3 round trips: start-up → SASL, SASL initial →
//! continue, SASL response → final + ready); MariaDB with mysql_native_password (1: the
//! handshake response → OK).

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TempDir, run, usher};
use servers::Target;

/// The proxy, in front of `port`; stopped when dropped.
struct Proxy {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl Proxy {
    fn start(port: u16) -> Option<Proxy> {
        Proxy::start_on(port, 0)
    }

    /// The proxy listening on `listen` (0: any free port).
    fn start_on(port: u16, listen: u16) -> Option<Proxy> {
        if !common::require_tool("python3") {
            return None;
        }
        let dir = TempDir::new("rtproxy");
        let log = dir.join("log");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/rtproxy.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--target")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--log")
            .arg(&log)
            .arg("--listen-port")
            .arg(listen.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start bench/rtproxy.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the proxy's port");
        let port = line.trim().parse().expect("the proxy prints its port");
        Some(Proxy {
            child,
            port,
            log,
            _dir: dir,
        })
    }

    /// The round trips of each connection since `clear`, in order of opening, once every
    /// connection opened has closed.
    fn trips(&self) -> Vec<u32> {
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let opened = text.lines().filter(|l| l.starts_with("opened ")).count();
            let mut closed: Vec<(u32, u32)> = text
                .lines()
                .filter_map(|l| {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    (w.first() == Some(&"connection"))
                        .then(|| Some((w.get(1)?.parse().ok()?, w.get(3)?.parse().ok()?)))?
                })
                .collect();
            let done = closed.len() >= opened.max(1);
            if done || started.elapsed() > Duration::from_secs(5) {
                closed.sort();
                return closed.into_iter().map(|(_, t)| t).collect();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn clear(&self) {
        std::fs::write(&self.log, "").unwrap();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `url` with its port replaced by `port`.
fn through(url: &str, from: u16, to: u16) -> String {
    url.replacen(&format!(":{from}/"), &format!(":{to}/"), 1)
}

/// (authentication round trips, server port, round trips per migration).
fn server(t: &Target) -> (u32, u16, u32) {
    match t {
        Target::Postgres(pg, _) => (3, pg.port, 1),
        // One message too: BEGIN, the "started" row, the script, the reset, the finished row,
        // COMMIT.
        Target::MariaDb(m, _) => (1, m.port, 1),
        Target::Sqlite(..) => unreachable!(),
    }
}

const K: usize = 20;

#[test]
fn a_start_costs_one_round_trip_and_a_migration_one_each() {
    let targets: Vec<Target> = [Target::postgres("rt"), Target::mariadb("rt")]
        .into_iter()
        .flatten()
        .collect();
    for t in targets {
        let (auth, port, each) = server(&t);
        let Some(proxy) = Proxy::start(port) else {
            return;
        };
        let url = through(&t.url(), port, proxy.port);
        let dir = TempDir::new("m");
        let files: Vec<(String, String)> = (1..=K)
            .map(|i| {
                (
                    format!("{i}_t{i}.sql"),
                    format!("CREATE TABLE rt{i} (id INT);\nINSERT INTO rt{i} VALUES ({i});\n"),
                )
            })
            .collect();
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        servers::write_migrations(dir.path(), &files);
        let start = || {
            run(usher()
                .env("DATABASE_URL", &url)
                .arg("--migrations")
                .arg(dir.path())
                .args(["--", "true"]))
        };

        // K migrations on a fresh database.
        let r = start();
        r.expect_code(0);
        assert_eq!(t.versions("_sqlx_migrations").len(), K, "{}", t.kind());
        // The run time the server measured (PostgreSQL) is a run time: positive, short.
        let odd = t.sql(
            "SELECT count(*) FROM _sqlx_migrations WHERE NOT success OR execution_time <= 0 \
             OR execution_time > 60000000000",
        );
        assert_eq!(odd, "0", "{}: execution_time", t.kind());
        let all = proxy.trips();
        let main = all[0];
        eprintln!("{}: {K} migrations: {all:?} round trips", t.kind());
        let limit = auth + each * K as u32 + MIGRATE_OVERHEAD;
        assert!(
            main <= limit,
            "{}: {K} migrations took {main} round trips on the migrating connection (at most \
             {limit}); all connections: {all:?}\n{}",
            t.kind(),
            r.describe()
        );

        // Nothing to apply.
        proxy.clear();
        let r = start();
        r.expect_code(0).expect_stderr_contains("up to date");
        let all = proxy.trips();
        eprintln!("{}: no-op start: {all:?} round trips", t.kind());
        assert_eq!(all.len(), 1, "{}: one connection: {all:?}", t.kind());
        assert!(
            all[0] <= auth + 1,
            "{}: a start with nothing to apply took {} round trips ({auth} of authentication; at \
             most 1 more)\n{}",
            t.kind(),
            all[0],
            r.describe()
        );
    }
}

/// Round trips of a run with work beyond those of each migration: the first read; on
/// PostgreSQL the pooler check's query (polled until the probe's backend is gone: 1 here,
/// more on a loaded server; the probe's own connection is not counted here), the lock with the
/// re-read under it (one message), creating the history table. No unlock (it goes with the
/// goodbye), no last read. 4 (PostgreSQL) and 3 (MariaDB) measured.
const MIGRATE_OVERHEAD: u32 = 6;

/// A database that comes up while usher waits is used within about 100 ms of accepting
/// connections: refused connections are retried every 50 ms, whatever `--wait-interval` says
/// (with the old backoff, a server up after 1.6 s was noticed at 2.55 s).
#[test]
fn a_database_that_comes_up_is_used_at_once() {
    let Some(t) = Target::postgres("up") else {
        return;
    };
    let (_, port, _) = server(&t);
    let listen = servers::free_port();
    let url = through(&t.url(), port, listen);
    let dir = TempDir::new("m");
    servers::write_migrations(dir.path(), &[("1_t.sql", "CREATE TABLE up (id INT);\n")]);
    let mut child = usher()
        .env("DATABASE_URL", &url)
        .args([
            "--wait-timeout",
            "30s",
            "--wait-interval",
            "5s",
            "--migrations",
        ])
        .arg(dir.path())
        .arg("migrate")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1600));
    assert!(child.try_wait().unwrap().is_none(), "usher waits");
    let Some(proxy) = Proxy::start_on(port, listen) else {
        return;
    };
    let up = Instant::now();
    while !std::fs::read_to_string(&proxy.log)
        .unwrap_or_default()
        .contains("opened")
    {
        assert!(up.elapsed() < Duration::from_secs(10), "no connection");
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = up.elapsed();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(t.versions("_sqlx_migrations"), [1]);
    // 50 ms between attempts; generous for a loaded machine, far below the seconds of a
    // backoff up to --wait-interval.
    assert!(
        took < Duration::from_millis(300),
        "usher connected {took:?} after the database came up"
    );
    eprintln!("connected {took:?} after the database came up");
}
