//! Rule: usher continues a Prisma history exactly as `prisma migrate deploy` would, and Prisma
//! continues usher's: on PostgreSQL and SQLite, the real Prisma 6.19.3 (WASM schema engine, see
//! tests/common/tools.rs) judges usher's `_prisma_migrations` rows with its engine's own
//! diagnostic (edited checksums, failed, unapplied and unknown migrations), and nothing is ever
//! applied twice (the migrations are plain `CREATE TABLE`s: a second run would fail).
//!
//! usher reads the layout Prisma writes, `prisma/migrations/<timestamp>_<name>/migration.sql`
//! with `migration_lock.toml`, detected without `--format`. A failed migration leaves the row
//! Prisma leaves (P3009 for both tools) until `usher resolve NAME --rolled-back|--applied`;
//! a CRLF copy of an applied file is the same migration; a lock file for another database is
//! refused before anything runs.

mod common;
#[path = "common/servers.rs"]
mod servers;

use std::path::Path;
use std::process::Command;

use common::tools::{self, Diagnosis};
use common::{Run, TempDir, run, usher};
use servers::Target;

const M1: (&str, &str) = (
    "20250101000000_create_users",
    "-- CreateTable\nCREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n",
);
const M2: (&str, &str) = (
    "20250102000000_seed_users",
    "INSERT INTO users (id, email) VALUES (1, 'a@example.com');\n\
     INSERT INTO users (id, email) VALUES (2, 'b@example.com');\n",
);
const M3: (&str, &str) = (
    "20250103000000_create_posts",
    "-- CreateTable\nCREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n",
);
const M4: (&str, &str) = (
    "20250104000000_seed_posts",
    "INSERT INTO posts (id, title) VALUES (1, 'hello');\n",
);

/// The databases Prisma's WASM engine reaches here, each with its `migration_lock.toml`
/// provider.
fn targets(tag: &str) -> Vec<(Target, &'static str)> {
    if !tools::require_prisma() {
        return Vec::new();
    }
    [
        Target::postgres(tag).map(|t| (t, "postgresql")),
        Target::sqlite(tag).map(|t| (t, "sqlite")),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `usher ARGS…` with the project's migrations directory and the target's URL.
fn usher_in(t: &Target, project: &Path, args: &[&str]) -> Run {
    t.usher(&tools::prisma_migrations(project), args)
}

fn usher_migrate(t: &Target, project: &Path) -> Run {
    usher_in(t, project, &["migrate"])
}

fn deploy(t: &Target, project: &Path) -> Run {
    tools::prisma(project, &t.url(), &["migrate", "deploy"])
}

/// `sha256sum FILE` in lowercase hex: Prisma's checksum of a migration.sql.
fn sha256(file: &Path) -> String {
    let out = Command::new("sha256sum").arg(file).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Each row of `_prisma_migrations` as Prisma writes a successful one: a UUID v4 `id`, the
/// SHA-256 of the file, `finished_at` set, `logs` and `rolled_back_at` NULL, one step.
#[track_caller]
fn expect_applied_rows(t: &Target, project: &Path, names: &[&str]) {
    let rows = t.sql(
        "SELECT migration_name, id, checksum, \
         CASE WHEN finished_at IS NULL THEN 'unfinished' ELSE 'finished' END, \
         CASE WHEN logs IS NULL THEN 'nologs' ELSE logs END, \
         CASE WHEN rolled_back_at IS NULL THEN 'live' ELSE 'rolledback' END, \
         applied_steps_count FROM _prisma_migrations \
         WHERE rolled_back_at IS NULL ORDER BY migration_name",
    );
    let rows: Vec<Vec<&str>> = rows.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        rows.iter().map(|r| r[0]).collect::<Vec<_>>(),
        names,
        "{}: {rows:?}",
        t.kind()
    );
    for r in &rows {
        let file = tools::prisma_migrations(project)
            .join(r[0])
            .join("migration.sql");
        let id = r[1];
        assert!(
            id.len() == 36
                && id.as_bytes()[14] == b'4'
                && matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b')
                && id
                    .chars()
                    .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "{}: id {id:?} is not a lowercase random UUID v4",
            t.kind()
        );
        assert_eq!(r[2], sha256(&file), "{}: checksum of {}", t.kind(), r[0]);
        assert_eq!(
            &r[3..],
            ["finished", "nologs", "live", "1"],
            "{}: {}",
            t.kind(),
            r[0]
        );
    }
}

/// `_prisma_migrations`' columns as the database reports them: name, type, nullability,
/// default (PostgreSQL: information_schema; SQLite: the table's pragma).
fn history_columns(t: &Target) -> String {
    match t {
        Target::Sqlite(..) => t.sql(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('_prisma_migrations') \
             ORDER BY cid",
        ),
        _ => t.sql(
            "SELECT column_name, data_type, coalesce(character_maximum_length, 0), is_nullable, \
             coalesce(column_default, '') FROM information_schema.columns \
             WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position",
        ),
    }
}

fn status_line(status: &Run, name: &str) -> String {
    status
        .stdout()
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == name))
        .unwrap_or_else(|| panic!("usher status has no line for {name}\n{}", status.describe()))
        .to_string()
}

#[test]
fn prisma_deploys_then_usher_continues_then_prisma_agrees() {
    for (t, provider) in targets("prisma_then_usher") {
        let project = TempDir::new("prisma-takeover");
        tools::write_prisma_migrations(project.path(), provider, &[M1, M2]);
        deploy(&t, project.path()).expect_code(0);

        tools::write_prisma_migrations(project.path(), provider, &[M3, M4]);
        usher_migrate(&t, project.path())
            .expect_code(0)
            .expect_stderr_contains("applied 2 migrations");
        assert_eq!(t.sql("SELECT count(*) FROM users"), "2", "{}", t.kind());
        assert_eq!(t.sql("SELECT count(*) FROM posts"), "1", "{}", t.kind());
        expect_applied_rows(&t, project.path(), &[M1.0, M2.0, M3.0, M4.0]);
        tools::prisma_diagnose(project.path(), &t.url()).expect_clean();

        // Prisma finds nothing to do: a re-run of M3 would fail on CREATE TABLE.
        let again = deploy(&t, project.path());
        again
            .expect_code(0)
            .expect_stdout_contains("No pending migrations to apply");
        assert_eq!(t.sql("SELECT count(*) FROM _prisma_migrations"), "4");

        // usher's second start is a no-op, and its status names each directory.
        let second = usher_migrate(&t, project.path());
        second.expect_code(0);
        assert!(
            !second.stderr().contains("applied 1") && !second.stderr().contains("applied 2"),
            "{}",
            second.describe()
        );
        let status = usher_in(&t, project.path(), &["status"]);
        status.expect_code(0).expect_stdout_contains("APPLIED AT");
        for (name, _) in [M1, M2, M3, M4] {
            let line = status_line(&status, name);
            let version = &name[..14];
            assert!(
                line.split_whitespace().next() == Some(version) && line.contains(" applied"),
                "{}: status line {line:?} for {name}\n{}",
                t.kind(),
                status.describe()
            );
        }
    }
}

#[test]
fn usher_first_then_prisma_continues_with_nothing_reapplied() {
    for (t, provider) in targets("usher_then_prisma") {
        let project = TempDir::new("prisma-usher-first");
        tools::write_prisma_migrations(project.path(), provider, &[M1, M2]);
        usher_migrate(&t, project.path())
            .expect_code(0)
            .expect_stderr_contains("applied 2 migrations");
        expect_applied_rows(&t, project.path(), &[M1.0, M2.0]);
        tools::prisma_diagnose(project.path(), &t.url()).expect_clean();

        // The table usher created is Prisma's, column for column: compare it with the one
        // Prisma creates itself in a database of the same kind.
        let Some(reference) = (match t {
            Target::Postgres(..) => Target::postgres("prisma_reference"),
            _ => Target::sqlite("prisma_reference"),
        }) else {
            return;
        };
        let ref_project = TempDir::new("prisma-reference");
        tools::write_prisma_migrations(ref_project.path(), provider, &[M1]);
        deploy(&reference, ref_project.path()).expect_code(0);
        assert_eq!(
            history_columns(&t),
            history_columns(&reference),
            "{}: usher's _prisma_migrations differs from Prisma's",
            t.kind()
        );

        // Prisma applies the next one only.
        tools::write_prisma_migrations(project.path(), provider, &[M3]);
        let next = deploy(&t, project.path());
        next.expect_code(0).expect_stdout_contains(M3.0);
        assert!(!next.stdout().contains(M1.0), "{}", next.describe());
        assert_eq!(t.sql("SELECT count(*) FROM users"), "2", "{}", t.kind());
        expect_applied_rows(&t, project.path(), &[M1.0, M2.0, M3.0]);
        tools::prisma_diagnose(project.path(), &t.url()).expect_clean();

        // And usher, back again, sees Prisma's row as its own.
        tools::write_prisma_migrations(project.path(), provider, &[M4]);
        usher_migrate(&t, project.path())
            .expect_code(0)
            .expect_stderr_contains("applied 1 migration");
        expect_applied_rows(&t, project.path(), &[M1.0, M2.0, M3.0, M4.0]);
        tools::prisma_diagnose(project.path(), &t.url()).expect_clean();
    }
}

/// A failed migration: usher exits 65 and leaves Prisma's failed row, which Prisma reports
/// (P3009); usher's next start stops with the repair; `--rolled-back`, a fixed file, and the
/// migration applies.
#[test]
fn failed_migration_is_prismas_p3009_until_resolved_rolled_back() {
    const BROKEN: (&str, &str) = (
        "20250102000000_add_posts",
        "INSERT INTO no_such_table (id) VALUES (1);\nCREATE TABLE posts (id INTEGER PRIMARY KEY);\n",
    );
    for (t, provider) in targets("prisma_failed") {
        let project = TempDir::new("prisma-failed");
        tools::write_prisma_migrations(project.path(), provider, &[M1, BROKEN]);
        let failed = usher_migrate(&t, project.path());
        servers::expect_failure(&failed, 65);
        failed.expect_stderr_contains(BROKEN.0);
        assert!(!t.has_table("posts"), "{}", t.kind());

        // The row Prisma leaves for a failed migration: unfinished, not rolled back, the
        // error in `logs`, no step applied.
        assert_eq!(
            t.sql(&format!(
                "SELECT count(*) FROM _prisma_migrations WHERE migration_name = '{}' \
                 AND finished_at IS NULL AND rolled_back_at IS NULL AND logs IS NOT NULL \
                 AND logs <> '' AND applied_steps_count = 0",
                BROKEN.0
            )),
            "1",
            "{}: {}",
            t.kind(),
            t.sql("SELECT * FROM _prisma_migrations")
        );
        let d: Diagnosis = tools::prisma_diagnose(project.path(), &t.url());
        assert_eq!(d.failed, [BROKEN.0], "{}: {d:#?}", t.kind());
        assert_eq!(d.status_code, Some(1), "{d:#?}");
        let prisma_deploy = deploy(&t, project.path());
        assert!(
            prisma_deploy.all_output().contains("P3009"),
            "{}",
            prisma_deploy.describe()
        );

        // Every later start stops, naming the migration and the repair.
        for args in [&["migrate"][..], &["--", "true"][..]] {
            let stopped = usher_in(&t, project.path(), args);
            servers::expect_failure(&stopped, 68);
            stopped
                .expect_stderr_contains(BROKEN.0)
                .expect_stderr_contains("usher resolve");
        }
        let status = usher_in(&t, project.path(), &["status"]);
        let line = status_line(&status, BROKEN.0);
        assert!(line.contains("failed"), "{line:?}\n{}", status.describe());

        // Resolve as Prisma does: the row is marked rolled back, kept.
        usher_in(&t, project.path(), &["resolve", BROKEN.0, "--rolled-back"]).expect_code(0);
        assert_eq!(
            t.sql(&format!(
                "SELECT count(*) FROM _prisma_migrations WHERE migration_name = '{}' \
                 AND rolled_back_at IS NOT NULL AND finished_at IS NULL",
                BROKEN.0
            )),
            "1",
            "{}",
            t.kind()
        );
        // What Prisma's engine says after its own `resolve --rolled-back` (measured with
        // 6.19.3): nothing failed, nothing edited, and no history verdict at all.
        let d = tools::prisma_diagnose(project.path(), &t.url());
        assert!(
            d.failed.is_empty() && d.edited.is_empty() && d.diagnostic.is_none(),
            "{}: {d:#?}",
            t.kind()
        );

        // Fix the file; usher applies it as a new row.
        let fixed = "CREATE TABLE posts (id INTEGER PRIMARY KEY);\n";
        tools::write_prisma_migrations(project.path(), provider, &[(BROKEN.0, fixed)]);
        usher_migrate(&t, project.path())
            .expect_code(0)
            .expect_stderr_contains("applied 1 migration");
        assert!(t.has_table("posts"), "{}", t.kind());
        expect_applied_rows(&t, project.path(), &[M1.0, BROKEN.0]);
        assert_eq!(
            t.sql("SELECT count(*) FROM _prisma_migrations"),
            "3",
            "{}",
            t.kind()
        );
        // Prisma's verdict on its own history after the same steps (rolled back, file fixed,
        // `migrate deploy`), measured with 6.19.3: the rolled-back row keeps the broken file's
        // checksum, so the engine lists the migration as edited; nothing else, and `migrate
        // status` exits 0. usher's rows must get exactly that verdict.
        let d = tools::prisma_diagnose(project.path(), &t.url());
        assert_eq!(d.edited, [BROKEN.0], "{}: {d:#?}", t.kind());
        assert!(
            d.failed.is_empty()
                && d.unapplied.is_empty()
                && d.unpersisted.is_empty()
                && d.diagnostic.is_none()
                && d.status_code == Some(0),
            "{}: {d:#?}",
            t.kind()
        );
        deploy(&t, project.path())
            .expect_code(0)
            .expect_stdout_contains("No pending migrations to apply");
    }
}

/// `--applied`: the operator finished the migration by hand; usher records it as applied
/// (Prisma's semantics: the failed row is marked rolled back, a finished row is added) and
/// never runs it. (Prisma 6.19.3's own `migrate resolve` needs the native engine, which
/// cannot be downloaded here, so only the resulting history is judged.)
#[test]
fn failed_migration_resolved_as_applied_is_never_run() {
    const BROKEN: (&str, &str) = (
        "20250102000000_add_posts",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY);\nINSERT INTO no_such_table (id) VALUES (1);\n",
    );
    for (t, provider) in targets("prisma_resolve_applied") {
        let project = TempDir::new("prisma-resolve-applied");
        tools::write_prisma_migrations(project.path(), provider, &[M1, BROKEN]);
        servers::expect_failure(&usher_migrate(&t, project.path()), 65);
        // By hand: what the migration meant to do; the file stays as it is.
        t.sql("CREATE TABLE IF NOT EXISTS posts (id INTEGER PRIMARY KEY)");
        usher_in(&t, project.path(), &["resolve", BROKEN.0, "--applied"]).expect_code(0);
        assert_eq!(
            t.sql(&format!(
                "SELECT count(*) FROM _prisma_migrations WHERE migration_name = '{}' \
                 AND finished_at IS NOT NULL AND rolled_back_at IS NULL",
                BROKEN.0
            )),
            "1",
            "{}: {}",
            t.kind(),
            t.sql("SELECT * FROM _prisma_migrations")
        );

        let again = usher_migrate(&t, project.path());
        again.expect_code(0);
        assert!(
            !again.stderr().contains("applied 1"),
            "{}",
            again.describe()
        );
        tools::prisma_diagnose(project.path(), &t.url()).expect_clean();
        deploy(&t, project.path())
            .expect_code(0)
            .expect_stdout_contains("No pending migrations to apply");
    }
}

/// A migration.sql re-saved with CRLF line endings is the migration Prisma applied (Prisma
/// accepts both spellings too); a real edit is a history conflict naming the migration.
#[test]
fn crlf_copy_is_accepted_and_an_edit_is_refused() {
    for (t, provider) in targets("prisma_crlf") {
        let project = TempDir::new("prisma-crlf");
        tools::write_prisma_migrations(project.path(), provider, &[M1, M2]);
        deploy(&t, project.path()).expect_code(0);

        let crlf = M2.1.replace('\n', "\r\n");
        tools::write_prisma_migrations(project.path(), provider, &[(M2.0, &crlf), M3]);
        usher_migrate(&t, project.path())
            .expect_code(0)
            .expect_stderr_contains("applied 1 migration");
        assert_eq!(t.sql("SELECT count(*) FROM users"), "2", "{}", t.kind());
        let d = tools::prisma_diagnose(project.path(), &t.url());
        assert!(
            d.edited.is_empty() && d.failed.is_empty() && d.unapplied.is_empty(),
            "{}: {d:#?}",
            t.kind()
        );

        let edited = M2.1.replace("b@example.com", "c@example.com");
        tools::write_prisma_migrations(project.path(), provider, &[(M2.0, &edited)]);
        let refused = usher_migrate(&t, project.path());
        servers::expect_failure(&refused, 68);
        refused.expect_stderr_contains(M2.0);
    }
}

/// `migration_lock.toml` naming another database: refused before anything runs.
#[test]
fn provider_mismatch_is_refused_before_anything_runs() {
    for (t, provider) in targets("prisma_provider") {
        let other = if provider == "sqlite" {
            "postgresql"
        } else {
            "mysql"
        };
        let project = TempDir::new("prisma-provider");
        tools::write_prisma_migrations(project.path(), other, &[M1]);
        let refused = usher_migrate(&t, project.path());
        servers::expect_failure(&refused, 66);
        refused
            .expect_stderr_contains("migration_lock.toml")
            .expect_stderr_contains(other);
        assert!(!t.has_table("users"), "{}", t.kind());
        assert!(!t.has_table("_prisma_migrations"), "{}", t.kind());
    }
}

/// `--format prisma` (and `USHER_FORMAT`) choose the format explicitly, with the same result.
#[test]
fn format_prisma_forced_by_flag_and_variable() {
    for (t, provider) in targets("prisma_forced") {
        let project = TempDir::new("prisma-forced");
        tools::write_prisma_migrations(project.path(), provider, &[M1]);
        usher_in(&t, project.path(), &["--format", "prisma", "migrate"])
            .expect_code(0)
            .expect_stderr_contains("applied 1 migration");
        tools::write_prisma_migrations(project.path(), provider, &[M2]);
        run(usher()
            .env("DATABASE_URL", t.url())
            .env("USHER_FORMAT", "prisma")
            .env("USHER_MIGRATIONS", tools::prisma_migrations(project.path()))
            .arg("migrate"))
        .expect_code(0)
        .expect_stderr_contains("applied 1 migration");
        expect_applied_rows(&t, project.path(), &[M1.0, M2.0]);
        tools::prisma_diagnose(project.path(), &t.url()).expect_clean();
    }
}
