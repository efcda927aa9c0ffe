//! Rule: a refusal no retry can cure fails at once (exit 76) instead of being retried as "not
//! ready" for the whole --wait-timeout: PgBouncer's default configuration refuses the driver's
//! `extra_float_digits` start-up parameter, and usher names the setting to change.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::time::{Duration, Instant};

use common::{TempDir, usher};
use servers::{PgBouncer, Postgres};

#[test]
fn pgbouncer_default_settings_fail_at_once_naming_the_setting() {
    let Some(pg) = Postgres::shared() else { return };
    let Some(bouncer) = PgBouncer::start(pg, "transaction", false) else {
        return;
    };
    let db = pg.create_database("pool_param");
    let dir = TempDir::new("pool_param");
    servers::write_migrations(
        &dir.join("migrations"),
        &[("1_t.sql", "CREATE TABLE t (x INTEGER);\n")],
    );
    let started = Instant::now();
    let run = common::run(
        usher()
            .env("DATABASE_URL", bouncer.url(&db))
            .env("USHER_MIGRATIONS", dir.join("migrations"))
            .args(["--wait-timeout", "30s", "--", "true"]),
    );
    servers::expect_failure(&run, 76);
    run.expect_stderr_contains("ignore_startup_parameters = extra_float_digits");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}: retried instead of failing at once\n{}",
        started.elapsed(),
        run.describe()
    );
    // `usher health db` says the same, at once.
    let run = common::run(
        usher()
            .env("DATABASE_URL", bouncer.url(&db))
            .args(["health", "db"]),
    );
    run.expect_code(1)
        .expect_stdout_contains("ignore_startup_parameters = extra_float_digits");
}
