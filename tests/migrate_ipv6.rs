//! Rule: an IPv6 literal host in the database URL (`postgres://u:p@[::1]:5432/db`, the same
//! for mysql://) connects and migrates; the URL parser's brackets are not looked up as a name.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::time::{Duration, Instant};

use common::{TempDir, usher};
use servers::{MariaDb, Postgres};

/// The servers listen on ::1 only where the machine has it.
fn have_ipv6() -> bool {
    common::prerequisite(
        servers::ipv6_loopback(),
        "an IPv6 loopback (::1); this machine has IPv6 turned off",
    )
}

fn migrate(url: &str) {
    let dir = TempDir::new("v6");
    servers::write_migrations(dir.path(), &[("1_t.sql", "CREATE TABLE t (x INTEGER);\n")]);
    let started = Instant::now();
    let run = common::run(
        usher()
            .env("DATABASE_URL", url)
            .env("USHER_MIGRATIONS", dir.path())
            .args(["--wait-timeout", "20s", "migrate"]),
    );
    run.expect_code(0);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}\n{}",
        started.elapsed(),
        run.describe()
    );
    let run = common::run(usher().env("DATABASE_URL", url).args(["health", "db"]));
    run.expect_code(0);
}

#[test]
fn postgres_over_ipv6_literal() {
    let Some(pg) = Postgres::shared() else { return };
    if !have_ipv6() {
        return;
    }
    let db = pg.create_database("v6");
    migrate(&pg.url_v6(&db));
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM _sqlx_migrations"), "1");
}

#[test]
fn mariadb_over_ipv6_literal() {
    let Some(m) = MariaDb::shared() else { return };
    if !have_ipv6() {
        return;
    }
    let db = m.create_database("v6");
    migrate(&m.url_v6(&db));
    assert_eq!(m.sql(&db, "SELECT count(*) FROM _sqlx_migrations"), "1");
}
