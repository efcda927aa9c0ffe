//! Rule: the database wait uses the whole --wait-timeout — the last attempt gets what is left —
//! and ends soon after it: an unreachable port with --wait-timeout 3s exits 69 after 3 s and
//! well before 4.5 s.

mod common;

use std::time::{Duration, Instant};

use common::loopback::closed_port;
use common::{TempDir, usher};

#[test]
fn the_database_wait_lasts_the_whole_timeout() {
    let dir = TempDir::new("wait_db");
    std::fs::write(dir.join("1_t.sql"), "CREATE TABLE t (x INTEGER);\n").unwrap();
    for (url, interval) in [
        (
            format!("postgres://u:p@127.0.0.1:{}/db", closed_port()),
            "1s",
        ),
        (
            format!("mysql://u:p@127.0.0.1:{}/db", closed_port()),
            "700ms",
        ),
    ] {
        let started = Instant::now();
        let run = common::run(
            usher()
                .env("DATABASE_URL", &url)
                .env("USHER_MIGRATIONS", dir.path())
                .args([
                    "--wait-timeout",
                    "3s",
                    "--wait-interval",
                    interval,
                    "--",
                    "true",
                ]),
        );
        let took = started.elapsed();
        run.expect_code(69);
        assert!(
            took >= Duration::from_secs(3) && took < Duration::from_millis(4500),
            "{url}: exited after {took:?}\n{}",
            run.describe()
        );
    }
}
