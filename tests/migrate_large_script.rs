//! A multi-megabyte script (tens of thousands of statements, with strings holding `;`)
//! applies completely and correctly on every database, in a transaction and without one.
//! The work is linear in the script's length — the lexer in one pass (its unit test
//! `work_is_linear`) and the script sent in runs of bounded size — so this takes seconds, not
//! the minutes a quadratic path took; no timing is asserted here.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::{TempDir, run, usher};
use servers::Target;

/// About `bytes` of INSERTs into `big`; returns the script and the number of rows.
fn script(bytes: usize, no_transaction: bool) -> (String, usize) {
    let mut s = String::with_capacity(bytes + 200);
    if no_transaction {
        s.push_str("-- no-transaction\n");
    }
    s.push_str("CREATE TABLE big (id INTEGER PRIMARY KEY, name VARCHAR(100), n INTEGER);\n");
    let mut rows = 0;
    while s.len() < bytes {
        s.push_str(&format!(
            "INSERT INTO big (id, name, n) VALUES ({rows}, 'row {rows}; it''s -- not a comment', {});\n",
            rows * 7
        ));
        rows += 1;
    }
    (s, rows)
}

#[test]
fn multi_megabyte_scripts_apply_on_every_database() {
    for (bytes, no_transaction) in [(4 << 20, false), (256 << 10, true)] {
        for t in Target::all("large") {
            let (sql, rows) = script(bytes, no_transaction);
            let dir = TempDir::new("m");
            servers::write_migrations(dir.path(), &[("1_big.sql", &sql)]);
            let r = run(usher()
                .env("DATABASE_URL", t.url())
                .arg("--migrations")
                .arg(dir.path())
                .args(["--", "echo", "app-started"]));
            r.expect_code(0).expect_stdout_contains("app-started");
            let expected = format!("{rows}\t{}", (0..rows).map(|r| r * 7).sum::<usize>());
            assert_eq!(
                t.sql("SELECT count(*), sum(n) FROM big"),
                expected,
                "{} {bytes} bytes no_transaction={no_transaction}",
                t.kind()
            );
            assert_eq!(
                t.sql("SELECT name FROM big WHERE id = 5"),
                "row 5; it's -- not a comment"
            );
            assert_eq!(t.versions("_sqlx_migrations"), [1]);
        }
    }
}
