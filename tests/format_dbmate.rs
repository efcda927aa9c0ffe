//! The dbmate format on every database: only a file's `-- migrate:up` section runs (its down
//! section never), `transaction:false` runs it outside a transaction, and `schema_migrations`
//! gets one row per file holding its leading digits as dbmate writes them (dbmate's
//! `pkg/driver/*/…go`: `CreateMigrationsTable`, `InsertMigration`). Also: such a file is never
//! run whole under another format, a CRLF copy is the same migration, and replicas racing on
//! PostgreSQL apply each file once. dbmate itself judging these rows is in takeover_dbmate.rs.

mod common;
#[path = "common/servers.rs"]
mod servers;

use common::TempDir;
use servers::Target;

fn dbmate_file(up: &str, down: &str) -> String {
    format!("-- migrate:up\n{up}\n-- migrate:down\n{down}\n")
}

fn versions(t: &Target) -> Vec<String> {
    t.sql("SELECT version FROM schema_migrations ORDER BY version")
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn up_sections_run_and_rows_are_dbmates() {
    for t in Target::all("dbmate_rows") {
        let dir = TempDir::new("dbmate");
        servers::write_migrations(
            dir.path(),
            &[
                (
                    "20240101000000_create_users.sql",
                    &dbmate_file(
                        "CREATE TABLE users (id INTEGER PRIMARY KEY);",
                        "DROP TABLE users;\nTHIS WOULD FAIL;",
                    ),
                ),
                (
                    "0002_posts.sql",
                    &format!(
                        "-- a comment before the mark is allowed\n{}",
                        dbmate_file(
                            "CREATE TABLE posts (id INTEGER);\nINSERT INTO posts VALUES (1);",
                            "DROP TABLE users;",
                        )
                    ),
                ),
            ],
        );
        t.usher(dir.path(), &["migrate"]).expect_code(0);
        // The down sections never ran: users still exists.
        assert_eq!(t.sql("SELECT count(*) FROM users"), "0", "{}", t.kind());
        assert_eq!(t.sql("SELECT count(*) FROM posts"), "1");
        // The leading digits as written, zeros kept.
        assert_eq!(versions(&t), ["0002", "20240101000000"], "{}", t.kind());
        let ty = match t.kind() {
            "postgres" => t.sql(
                "SELECT data_type || ' ' || COALESCE(character_maximum_length::text, '-') FROM \
                 information_schema.columns WHERE table_name = 'schema_migrations'",
            ),
            "mariadb" => t.sql(
                "SELECT column_type FROM information_schema.columns WHERE table_schema = \
                 DATABASE() AND table_name = 'schema_migrations'",
            ),
            _ => t.sql("SELECT sql FROM sqlite_master WHERE name = 'schema_migrations'"),
        };
        let expected = match t.kind() {
            "postgres" => "character varying -",
            "mariadb" => "varchar(128)",
            _ => "CREATE TABLE schema_migrations (version varchar(128) primary key)",
        };
        assert_eq!(ty.trim(), expected, "{}", t.kind());
        t.usher(dir.path(), &["migrate"])
            .expect_code(0)
            .expect_stderr_contains("up to date");
        // A CRLF copy is the same file (dbmate records no checksum).
        let f = dir.join("0002_posts.sql");
        let text = std::fs::read_to_string(&f).unwrap();
        std::fs::write(&f, text.replace('\n', "\r\n")).unwrap();
        t.usher(dir.path(), &["migrate"]).expect_code(0);
        assert_eq!(versions(&t).len(), 2);
    }
}

#[test]
fn rows_written_by_dbmate_are_continued() {
    for t in Target::all("dbmate_takeover_rows") {
        let dir = TempDir::new("dbmate");
        servers::write_migrations(
            dir.path(),
            &[(
                "20240101000000_a.sql",
                &dbmate_file("CREATE TABLE a (x INTEGER);", "DROP TABLE a;"),
            )],
        );
        // As dbmate's driver does: the table, then the migration and its row.
        let ddl = match t.kind() {
            "postgres" => {
                "create table if not exists public.schema_migrations (version varchar primary key)"
            }
            _ => "create table if not exists schema_migrations (version varchar(128) primary key)",
        };
        t.sql(ddl);
        t.sql("CREATE TABLE a (x INTEGER)");
        t.sql("insert into schema_migrations (version) values ('20240101000000')");
        servers::write_migrations(
            dir.path(),
            &[(
                "20240102000000_b.sql",
                &dbmate_file("CREATE TABLE b (x INTEGER);", "DROP TABLE b;"),
            )],
        );
        t.usher(dir.path(), &["migrate"]).expect_code(0);
        assert_eq!(versions(&t), ["20240101000000", "20240102000000"]);
    }
}

#[test]
fn transaction_false_runs_outside_a_transaction() {
    let Some(t) = Target::postgres("dbmate_no_tx") else {
        return;
    };
    let dir = TempDir::new("dbmate");
    servers::write_migrations(
        dir.path(),
        &[
            (
                "1_table.sql",
                &dbmate_file("CREATE TABLE t (x INTEGER);", "DROP TABLE t;"),
            ),
            (
                "2_index.sql",
                "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY t_x ON t (x);\n\n-- migrate:down\nDROP INDEX t_x;\n",
            ),
        ],
    );
    t.usher(dir.path(), &["migrate"]).expect_code(0);
    assert_eq!(
        t.sql("SELECT count(*) FROM pg_indexes WHERE indexname = 't_x'"),
        "1"
    );
    assert_eq!(versions(&t), ["1", "2"]);
}

#[test]
fn marked_files_never_run_whole_and_bad_files_are_refused() {
    let Some(t) = Target::sqlite("dbmate_refusals") else {
        return;
    };
    let dir = TempDir::new("dbmate");
    servers::write_migrations(
        dir.path(),
        &[(
            "1_a.sql",
            &dbmate_file("CREATE TABLE a (x INTEGER);", "DROP TABLE a;"),
        )],
    );
    // Forced to sqlx, whose files run whole: refused, naming the file and the setting.
    t.usher(dir.path(), &["--format", "sqlx", "migrate"])
        .expect_code(66)
        .expect_stderr_contains("1_a.sql")
        .expect_stderr_contains("--format dbmate");
    assert!(!t.has_table("a"));
    // Statements before the up mark, which dbmate refuses too.
    servers::write_migrations(
        dir.path(),
        &[(
            "2_b.sql",
            "CREATE TABLE early (x INTEGER);\n-- migrate:up\nCREATE TABLE b (x INTEGER);\n",
        )],
    );
    t.usher(dir.path(), &["migrate"])
        .expect_code(66)
        .expect_stderr_contains("2_b.sql")
        .expect_stderr_contains("before");
    assert!(!t.has_table("a"));
}

#[test]
fn replicas_racing_apply_each_file_once() {
    let Some(t) = Target::postgres("dbmate_race") else {
        return;
    };
    let dir = TempDir::new("dbmate");
    for i in 1..=10 {
        std::fs::write(
            dir.join(format!("2024010100{i:04}_m.sql")),
            dbmate_file(
                &format!("CREATE TABLE t{i} (x INTEGER);\nSELECT pg_sleep(0.02);"),
                &format!("DROP TABLE t{i};"),
            ),
        )
        .unwrap();
    }
    t.race(dir.path(), &["migrate"], 8);
    assert_eq!(versions(&t).len(), 10);
}
