//! Rule: a container applies its migrations at start on PostgreSQL, MariaDB and SQLite (a
//! file on a volume), and a second start finds nothing to do; `docker stop` during a long
//! migration is prompt (exit 143), records nothing and leaves no lock behind.
mod common;
#[path = "common/docker.rs"]
mod docker;
#[path = "common/servers.rs"]
mod servers;

use std::time::Duration;

use docker::{Container, Volume};
use servers::Postgres;

const FILES: &[(&str, &str)] = &[
    (
        "20250101000000_create_users.sql",
        "CREATE TABLE users (id int PRIMARY KEY);",
    ),
    (
        "20250102000000_create_posts.sql",
        "CREATE TABLE posts (id int PRIMARY KEY);",
    ),
];

/// Starts the image twice on `url` with the migrations mounted; checks both starts.
fn migrate_twice(image: &str, url: &str, extra: &[&str], versions: impl Fn() -> Vec<i64>) {
    let dir = common::TempDir::new("container-migrations");
    servers::write_migrations(&dir.join("migrations"), FILES);
    let mount = format!("{}:/migrations:ro", dir.join("migrations").display());
    let env_url = format!("DATABASE_URL={url}");
    let mut args = vec![
        "-e",
        &env_url,
        "-e",
        "USHER_MIGRATIONS=/migrations",
        "-e",
        "USHER_USER=app",
        "-v",
        &mount,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[image, "echo", "app started"]);
    let (code, first, _c) = Container::run("migrate", &args);
    assert_eq!(code, 0, "{first}");
    assert!(first.contains("applied 2 migrations"), "{first}");
    assert!(first.contains("app started"), "{first}");
    assert_eq!(versions(), vec![20250101000000, 20250102000000]);
    let (code, second, _c) = Container::run("migrate-again", &args);
    assert_eq!(code, 0, "{second}");
    assert!(
        !second.contains("applied"),
        "a second start must be a no-op: {second}"
    );
    assert!(second.contains("app started"), "{second}");
    assert_eq!(versions(), vec![20250101000000, 20250102000000]);
}

#[test]
fn postgres_migrates_at_start_then_no_op() {
    let Some(image) = docker::base_image() else {
        return;
    };
    let Some(target) = servers::Target::postgres("container_migrate_pg") else {
        return;
    };
    migrate_twice(image, &target.url(), &[], || {
        target.versions("_sqlx_migrations")
    });
}

#[test]
fn mariadb_migrates_at_start_then_no_op() {
    let Some(image) = docker::base_image() else {
        return;
    };
    let Some(target) = servers::Target::mariadb("container_migrate_maria") else {
        return;
    };
    migrate_twice(image, &target.url(), &[], || {
        target.versions("_sqlx_migrations")
    });
}

#[test]
fn sqlite_on_a_volume_migrates_at_start_then_no_op() {
    let Some(image) = docker::base_image() else {
        return;
    };
    if !common::require_tool("sqlite3") {
        return;
    }
    let volume = Volume::new("sqlite");
    let mount = format!("{}:/data", volume.name);
    // The engine runs on this machine: the volume's files are readable here.
    let file = std::path::PathBuf::from(docker::docker_ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Mountpoint}}",
        &volume.name,
    ]))
    .join("app.db");
    // The volume is handed to the app's user, which creates the database file in it.
    migrate_twice(
        image,
        "sqlite:///data/app.db",
        &["-v", &mount, "-e", "USHER_CHOWN=/data"],
        || {
            servers::sqlite(
                &file,
                "SELECT version FROM _sqlx_migrations ORDER BY version",
            )
            .lines()
            .map(|l| l.parse().expect("a version"))
            .collect()
        },
    );
}

#[test]
fn docker_stop_during_a_long_migration_is_prompt_and_leaves_nothing() {
    let Some(image) = docker::base_image() else {
        return;
    };
    let Some(pg) = Postgres::shared() else {
        return;
    };
    let db = pg.create_database("container_migrate_stop");
    let dir = common::TempDir::new("container-migrate-stop");
    servers::write_migrations(
        &dir.join("migrations"),
        &[(
            "20250101000000_slow.sql",
            "CREATE TABLE slow (id int); SELECT pg_sleep(60);",
        )],
    );
    let mount = format!("{}:/migrations:ro", dir.join("migrations").display());
    let env_url = format!("DATABASE_URL={}", pg.url(&db));
    let c = Container::start(
        "migrate-stop",
        &[
            "-e",
            &env_url,
            "-e",
            "USHER_MIGRATIONS=/migrations",
            "-v",
            &mount,
            image,
            "echo",
            "app started",
        ],
    );
    // Wait until the migration is running in the database.
    let started = std::time::Instant::now();
    while pg.psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND query LIKE '%pg_sleep%' \
             AND state = 'active'"
        ),
    ) == "0"
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the migration never started\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = c.stop(10);
    let logs = c.logs();
    assert_eq!(c.exit_code(), 143, "{logs}");
    assert!(
        took < Duration::from_secs(3),
        "docker stop took {took:?}\n{logs}"
    );
    assert!(!logs.contains("app started"), "{logs}");
    let recorded = pg.psql(
        &db,
        "SELECT count(*) FROM pg_tables WHERE tablename IN ('slow')",
    );
    assert_eq!(recorded, "0", "the migration's table survived\n{logs}");
    let history = pg.psql(
        &db,
        "SELECT CASE WHEN to_regclass('_sqlx_migrations') IS NULL THEN 0 \
         ELSE (SELECT count(*) FROM _sqlx_migrations) END",
    );
    assert_eq!(history, "0", "{logs}");
    let locks = pg.psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = '{db}')"
        ),
    );
    assert_eq!(locks, "0", "a migration lock was left behind\n{logs}");
}
