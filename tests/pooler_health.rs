//! Rule: `usher health db` works through PgBouncer in transaction mode: every statement usher
//! sends is one simple-protocol message, so no prepared statement has to survive the pooler
//! handing the server session to another client. 20 probes, 4 at a time, all healthy.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::process::Stdio;

use common::{TempDir, usher};
use servers::{PgBouncer, Postgres};

#[test]
fn health_db_through_a_transaction_pooler_is_always_healthy() {
    let Some(pg) = Postgres::shared() else { return };
    let Some(bouncer) = PgBouncer::start(pg, "transaction", true) else {
        return;
    };
    let db = pg.create_database("pool_health");
    // --no-pending reads the history too: more statements, and through the pooler.
    let dir = TempDir::new("pool_health");
    servers::write_migrations(
        &dir.join("migrations"),
        &[("1_t.sql", "CREATE TABLE t (x INTEGER);\n")],
    );
    common::run(
        usher()
            .env("DATABASE_URL", pg.url(&db))
            .env("USHER_MIGRATIONS", dir.join("migrations"))
            .arg("migrate"),
    )
    .expect_code(0);
    for round in 0..5 {
        let children: Vec<_> = (0..4)
            .map(|_| {
                usher()
                    .env("DATABASE_URL", bouncer.url(&db))
                    .env("USHER_MIGRATIONS", dir.join("migrations"))
                    .args(["health", "db", "--no-pending", "--timeout", "10s"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start usher")
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: unhealthy through PgBouncer: {}{}\n--- pgbouncer log ---\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                bouncer.log()
            );
        }
    }
}
