//! golang-migrate's history, continued as migrate writes it: one `schema_migrations` row
//! holding the newest version and a dirty flag, on PostgreSQL, MariaDB and SQLite. migrate
//! cannot be installed here (no registry has it), so the tests write its table and rows with
//! the statements of its source (migrate v4.19, `database/{postgres,mysql,sqlite3}/*.go`).

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TempDir, usher};
use servers::{Target, expect_failure};

/// `ensureVersionTable`, word for word.
fn migrate_creates_table(t: &Target) {
    t.sql(match t {
        Target::Postgres(..) => {
            "CREATE TABLE IF NOT EXISTS \"public\".\"schema_migrations\" (version bigint not null primary key, dirty boolean not null)"
        }
        Target::MariaDb(..) => {
            "CREATE TABLE `schema_migrations` (version bigint not null primary key, dirty boolean not null)"
        }
        Target::Sqlite(..) => {
            "\n\tCREATE TABLE IF NOT EXISTS schema_migrations (version uint64,dirty bool);\n  CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON schema_migrations (version);\n  "
        }
    });
}

/// `SetVersion(version, dirty)` (Go's bool bound as `true`/`false` by lib/pq, 1/0 by the
/// MySQL and SQLite drivers), for a version >= 0.
fn migrate_sets_version(t: &Target, version: i64, dirty: bool) {
    let sql = match t {
        Target::Postgres(..) => format!(
            "BEGIN; TRUNCATE \"public\".\"schema_migrations\"; INSERT INTO \"public\".\"schema_migrations\" (version, dirty) VALUES ({version}, {dirty}); COMMIT;"
        ),
        Target::MariaDb(..) => format!(
            "START TRANSACTION; DELETE FROM `schema_migrations` LIMIT 1; INSERT INTO `schema_migrations` (version, dirty) VALUES ({version}, {}); COMMIT;",
            u8::from(dirty)
        ),
        Target::Sqlite(..) => format!(
            "BEGIN; DELETE FROM schema_migrations; INSERT INTO schema_migrations (version, dirty) VALUES ({version}, {}); COMMIT;",
            u8::from(dirty)
        ),
    };
    t.sql(&sql);
}

/// `migrate up` of one file: dirty, the file as one Exec, clean (`runMigrations`).
fn migrate_applies(t: &Target, version: i64, sql: &str) {
    migrate_sets_version(t, version, true);
    t.sql(sql);
    migrate_sets_version(t, version, false);
}

fn row(t: &Target) -> String {
    t.sql("SELECT version, dirty FROM schema_migrations")
}

/// The row as each database shows `(version, dirty)`.
fn expected(t: &Target, version: i64, dirty: bool) -> String {
    match (t, dirty) {
        (Target::Postgres(..), true) => format!("{version}\tt"),
        (Target::Postgres(..), false) => format!("{version}\tf"),
        (_, d) => format!("{version}\t{}", u8::from(d)),
    }
}

const USERS: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(200));\n";

#[test]
fn fresh_database_gets_migrates_table_and_one_row() {
    for t in Target::all("gm_fresh") {
        let dir = TempDir::new("m");
        servers::write_migrations(
            dir.path(),
            &[
                ("1_create_users.up.sql", USERS),
                ("1_create_users.down.sql", "DROP TABLE users;\n"),
                (
                    "2_add_posts.up.sql",
                    "CREATE TABLE posts (id INTEGER PRIMARY KEY);\r\nINSERT INTO posts VALUES (1);\r\n",
                ),
                ("2_add_posts.down.sql", "DROP TABLE posts;\n"),
            ],
        );
        t.usher(dir.path(), &["--format", "golang-migrate", "migrate"])
            .expect_code(0)
            .expect_stderr_contains("applied 2 migrations");
        assert_eq!(row(&t), expected(&t, 2, false), "{}", t.kind());
        assert!(t.has_table("users"), "{}: a down file ran", t.kind());

        let reference = match t {
            Target::Postgres(..) => Target::postgres("gm_ref"),
            Target::MariaDb(..) => Target::mariadb("gm_ref"),
            Target::Sqlite(..) => Target::sqlite("gm_ref"),
        }
        .unwrap();
        migrate_creates_table(&reference);
        let shape = t.shape("schema_migrations");
        assert!(shape.contains("dirty"), "{shape}");
        assert_eq!(shape, reference.shape("schema_migrations"), "{}", t.kind());

        // The table now tells the format apart from sqlx's, which reads the same names.
        t.usher(dir.path(), &["migrate"])
            .expect_code(0)
            .expect_stderr_contains("up to date at version 2 (golang-migrate format)");
    }
}

#[test]
fn migrates_history_is_continued_without_reapplying() {
    for t in Target::all("gm_takeover") {
        let dir = TempDir::new("m");
        servers::write_migrations(dir.path(), &[("1_create_users.up.sql", USERS)]);
        migrate_creates_table(&t);
        migrate_applies(&t, 1, USERS);

        servers::write_migrations(
            dir.path(),
            &[
                (
                    "2_add_name.up.sql",
                    "ALTER TABLE users ADD COLUMN name VARCHAR(100);\n",
                ),
                ("3_more.up.sql", "CREATE TABLE more (x INTEGER);\n"),
            ],
        );
        // 1 ran again would fail: users exists.
        t.usher(dir.path(), &["migrate"])
            .expect_code(0)
            .expect_stderr_contains("applied 2 migrations");
        assert_eq!(row(&t), expected(&t, 3, false), "{}", t.kind());
        assert_eq!(t.sql("SELECT count(*) FROM schema_migrations"), "1");
    }
}

/// A dirty row, left by migrate or by usher, stops every start with migrate's own words and
/// the repair; `usher resolve` leaves what `migrate force` would.
#[test]
fn dirty_version_stops_the_start_until_resolved() {
    for t in Target::all("gm_dirty") {
        let dir = TempDir::new("m");
        servers::write_migrations(
            dir.path(),
            &[
                ("1_create_users.up.sql", USERS),
                (
                    "2_posts.up.sql",
                    "CREATE TABLE posts (id INTEGER PRIMARY KEY);\n",
                ),
            ],
        );
        // migrate failed in 2 after marking it dirty.
        migrate_creates_table(&t);
        migrate_applies(&t, 1, USERS);
        migrate_sets_version(&t, 2, true);

        let r = t.usher(dir.path(), &["--", "echo", "app-started"]);
        expect_failure(&r, 68);
        r.expect_stderr_contains("Dirty database version 2. Fix and force version.")
            .expect_stderr_contains("usher resolve 2 --applied")
            .expect_stderr_contains("usher resolve 2 --rolled-back");
        assert!(!r.stdout().contains("app-started"));

        // As `migrate force 1`: the next start runs 2.
        t.usher(dir.path(), &["resolve", "2", "--rolled-back"])
            .expect_code(0);
        assert_eq!(row(&t), expected(&t, 1, false), "{}", t.kind());
        t.usher(dir.path(), &["migrate"])
            .expect_code(0)
            .expect_stderr_contains("applied 1 migration");
        assert_eq!(row(&t), expected(&t, 2, false));

        // usher's own failure leaves the row dirty, as migrate does.
        servers::write_migrations(
            dir.path(),
            &[(
                "3_bad.up.sql",
                "CREATE TABLE half (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n",
            )],
        );
        expect_failure(&t.usher(dir.path(), &["migrate"]), 65);
        assert_eq!(row(&t), expected(&t, 3, true), "{}", t.kind());
        t.usher(dir.path(), &["migrate"])
            .expect_code(68)
            .expect_stderr_contains("Dirty database version 3.");
        // Fixed by hand: as `migrate force 3`.
        if !t.has_table("half") {
            t.sql("CREATE TABLE half (x INTEGER)");
        }
        t.usher(dir.path(), &["resolve", "3", "--applied"])
            .expect_code(0);
        assert_eq!(row(&t), expected(&t, 3, false));
        t.usher(dir.path(), &["migrate"])
            .expect_code(0)
            .expect_stderr_contains("up to date at version 3");
    }
}

/// The first file failing leaves `(1, dirty)`; rolled back, migrate's `force -1` leaves no
/// row at all.
#[test]
fn first_file_rolled_back_leaves_no_row() {
    let Some(t) = Target::sqlite("gm_first") else {
        return;
    };
    let dir = TempDir::new("m");
    servers::write_migrations(dir.path(), &[("1_bad.up.sql", "CREATE TABLE (;\n")]);
    expect_failure(
        &t.usher(dir.path(), &["--format", "golang-migrate", "migrate"]),
        65,
    );
    assert_eq!(row(&t), expected(&t, 1, true));
    t.usher(dir.path(), &["resolve", "1", "--rolled-back"])
        .expect_code(0);
    assert_eq!(t.sql("SELECT count(*) FROM schema_migrations"), "0");
}

/// Several replicas at once on a fresh PostgreSQL database: one migrates, the others wait
/// and find nothing to do; the one row ends clean at the newest version.
#[test]
fn replicas_race_on_postgres() {
    let Some(t) = Target::postgres("gm_race") else {
        return;
    };
    let dir = TempDir::new("m");
    let mut files = vec![(
        "1_log.up.sql".to_string(),
        "CREATE TABLE applied_log (v INTEGER NOT NULL);\n".to_string(),
    )];
    for v in 2..=20 {
        files.push((
            format!("{v}_step.up.sql"),
            format!("CREATE TABLE t{v} (x INTEGER);\nINSERT INTO applied_log VALUES ({v});\n"),
        ));
    }
    for (name, body) in &files {
        std::fs::write(dir.join(name), body).unwrap();
    }
    t.race(dir.path(), &["--format", "golang-migrate", "--", "true"], 8);
    assert_eq!(row(&t), "20\tf");
    assert_eq!(
        t.sql("SELECT count(*), count(DISTINCT v) FROM applied_log")
            .replace('\t', " "),
        "19 19"
    );
}

/// usher takes migrate's own PostgreSQL advisory lock: while a migrate process holds it,
/// usher waits.
#[test]
fn migrates_lock_holds_usher_back_on_postgres() {
    let Some(t) = Target::postgres("gm_lock") else {
        return;
    };
    let Target::Postgres(_, db) = &t else {
        unreachable!()
    };
    // migrate's database/util.go GenerateAdvisoryLockId(db, "public", "schema_migrations").
    let key =
        crc32(format!("public\0schema_migrations\0{db}").as_bytes()).wrapping_mul(1_486_364_155);
    let mut holder = Command::new("psql")
        .arg(t.url())
        .args(["-X", "-q", "-c", &format!("SELECT pg_advisory_lock({key})")])
        .args(["-c", "SELECT pg_sleep(3)"])
        .stdout(Stdio::null())
        .spawn()
        .expect("run psql");
    let waited = Instant::now();
    while t.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())") == "0" {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "psql took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = TempDir::new("m");
    servers::write_migrations(dir.path(), &[("1_create_users.up.sql", USERS)]);
    let started = Instant::now();
    t.usher(dir.path(), &["--format", "golang-migrate", "migrate"])
        .expect_code(0);
    assert!(
        started.elapsed() > Duration::from_millis(1500),
        "usher did not wait for migrate's lock ({:?})",
        started.elapsed()
    );
    holder.wait().unwrap();
}

/// CRC-32 (IEEE), as Go's `crc32.ChecksumIEEE`.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// `usher baseline 2` on a database whose files 1 and 2 were run by hand writes the one row
/// `migrate force 2` writes; the next start applies only 3.
#[test]
fn baseline_writes_the_row_force_writes() {
    for t in Target::all("gm_baseline") {
        let dir = TempDir::new("m");
        for v in 1..=2 {
            let body = format!("CREATE TABLE t{v} (x INTEGER);\n");
            servers::write_migrations(dir.path(), &[(&format!("{v}_t.up.sql"), &body)]);
            t.sql(&body);
        }
        t.usher(dir.path(), &["--format", "golang-migrate", "baseline", "2"])
            .expect_code(0)
            .expect_stderr_contains("baselined 2 migration(s)");
        assert_eq!(row(&t), expected(&t, 2, false), "{}", t.kind());
        servers::write_migrations(
            dir.path(),
            &[("3_t.up.sql", "CREATE TABLE t3 (x INTEGER);\n")],
        );
        t.usher(dir.path(), &["migrate"])
            .expect_code(0)
            .expect_stderr_contains("applied 1 migration");
        assert_eq!(row(&t), expected(&t, 3, false), "{}", t.kind());
    }
}

/// migrate sends a file as one query, where a lone `CREATE INDEX CONCURRENTLY` runs; usher
/// runs it outside a transaction when the file starts with `-- no-transaction`, the dirty
/// row still written before it and cleared after.
#[test]
fn no_transaction_file_builds_an_index_concurrently_on_postgres() {
    let Some(t) = Target::postgres("gm_notx") else {
        return;
    };
    let dir = TempDir::new("m");
    servers::write_migrations(
        dir.path(),
        &[
            (
                "1_t.up.sql",
                "CREATE TABLE t (n INTEGER);\nINSERT INTO t SELECT generate_series(1, 100);\n",
            ),
            (
                "2_index.up.sql",
                "-- no-transaction\nCREATE INDEX CONCURRENTLY t_n ON t (n);\n",
            ),
        ],
    );
    t.usher(dir.path(), &["--format", "golang-migrate", "migrate"])
        .expect_code(0);
    assert_eq!(row(&t), "2\tf");
    assert_eq!(
        t.sql("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 't_n'"),
        "t"
    );
}

/// A stop signal while a file runs in its transaction on PostgreSQL: the transaction is rolled
/// back and the dirty row withdrawn to the version before, so the next start runs the file
/// again instead of stopping on "Dirty database version".
#[test]
fn sigterm_mid_file_withdraws_the_dirty_row_on_postgres() {
    let Some(t) = Target::postgres("gm_term") else {
        return;
    };
    let dir = TempDir::new("m");
    servers::write_migrations(
        dir.path(),
        &[
            ("1_a.up.sql", "CREATE TABLE a (x INTEGER);\n"),
            (
                "2_slow.up.sql",
                "CREATE TABLE slow (x INTEGER);\nSELECT pg_sleep(5);\n",
            ),
        ],
    );
    let child = usher()
        .env("DATABASE_URL", t.url())
        .env("USHER_FORMAT", "golang-migrate")
        .arg("--migrations")
        .arg(dir.path())
        .arg("migrate")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waited = Instant::now();
    while t.sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid()") == "0" {
        assert!(waited.elapsed() < Duration::from_secs(10), "the slow file started");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(row(&t), "2\tt", "dirty while it runs");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(row(&t), "1\tf");
    assert!(!t.has_table("slow"));
}
