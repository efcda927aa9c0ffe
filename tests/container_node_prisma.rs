//! Rule: examples/node-prisma builds here in both forms and each does what its README says,
//! against the harness's PostgreSQL: the "before" image (Prisma CLI inside, `start.sh` running
//! `npx prisma migrate deploy && node server.js`) answers HTTP once Prisma has migrated, and
//! `docker stop` ends in SIGKILL (137); the "after" image (usher as ENTRYPOINT, no Prisma CLI,
//! no dev dependencies) has usher apply `prisma/migrations` into Prisma's own
//! `_prisma_migrations`, which the real Prisma then finds complete, answers at once, is
//! smaller, and stops promptly with 143. Times and sizes are printed for the example's README.
//!
//! Local images stand in for the registry's (see docker.rs): NODE_IMAGE is a Debian bookworm
//! base with Node 20 and npm, USHER_IMAGE the static usher CI built; `npm ci` reaches the npm
//! registry at build time.
mod common;
#[path = "common/docker.rs"]
mod docker;
#[path = "common/servers.rs"]
mod servers;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::tools;
use docker::Container;

/// What Dockerfile copies in; Dockerfile.before copies the whole directory.
const SOURCES: &[&str] = &[
    "examples/node-prisma/package.json",
    "examples/node-prisma/package-lock.json",
    "examples/node-prisma/server.js",
    "examples/node-prisma/prisma",
];
const MIGRATIONS: [&str; 2] = ["20250101000000_init", "20250102000000_add_visit_path"];

fn before_image() -> Option<String> {
    let node = docker::node_npm_base_image()?;
    Some(docker::checkout_image(
        "node-prisma-before",
        "examples/node-prisma/Dockerfile.before",
        &["examples/node-prisma"],
        &[("NODE_IMAGE", node)],
    ))
}

fn after_image() -> Option<String> {
    let node = docker::node_npm_base_image()?;
    let usher = docker::prebuilt_usher_image()?;
    // Its tag is a hash of the static usher: a new build of usher rebuilds this image.
    Some(docker::checkout_image(
        "node-prisma-after",
        "examples/node-prisma/Dockerfile",
        SOURCES,
        &[("NODE_IMAGE", node), ("USHER_IMAGE", usher)],
    ))
}

/// `GET path` on 127.0.0.1:port: the whole answer, or `None` when nothing answers yet.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    (!answer.is_empty()).then_some(answer)
}

/// Polls `GET /` until it answers; returns the answer and the time since `started`.
#[track_caller]
fn first_answer(c: &Container, port: u16, started: Instant) -> (String, Duration) {
    loop {
        if let Some(answer) = http_get(port, "/") {
            return (answer, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} did not answer HTTP within 120 s; state {}\n--- logs ---\n{}",
            c.name,
            c.inspect("{{json .State}}"),
            c.logs()
        );
        assert_eq!(
            c.inspect("{{.State.Running}}"),
            "true",
            "{} exited\n--- logs ---\n{}",
            c.name,
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn image_size_mb(image: &str) -> f64 {
    let bytes: f64 = docker::docker_ok(&["image", "inspect", "-f", "{{.Size}}", image])
        .parse()
        .expect("a size");
    bytes / 1e6
}

/// Starts `image` on a fresh database; returns the container, the database, the first answer
/// and how long it took from `docker run`.
fn start(image: &str, pg: &servers::Postgres, tag: &str) -> (Container, String, String, Duration) {
    let db = pg.create_database(tag);
    let port = servers::free_port();
    let url = format!("DATABASE_URL={}", pg.url(&db));
    let env_port = format!("PORT={port}");
    let started = Instant::now();
    let c = Container::start(tag, &["-e", &url, "-e", &env_port, image]);
    let (answer, took) = first_answer(&c, port, started);
    (c, db, answer, took)
}

#[test]
fn before_image_migrates_with_the_prisma_cli_and_is_killed_on_stop() {
    let Some(image) = before_image() else {
        return;
    };
    let Some(pg) = servers::Postgres::shared() else {
        return;
    };
    let (c, db, answer, took) = start(&image, pg, "prisma_before");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("visits: 1"),
        "{answer}\n{}",
        c.logs()
    );
    assert_eq!(
        pg.psql(
            &db,
            "SELECT string_agg(migration_name, ',' ORDER BY migration_name) FROM \
             _prisma_migrations WHERE finished_at IS NOT NULL"
        ),
        MIGRATIONS.join(",")
    );
    // The shell as PID 1 ignores SIGTERM: the stop waits out the grace period, then SIGKILL.
    let grace = 3;
    let stop = c.stop(grace);
    assert_eq!(c.exit_code(), 137, "{}", c.logs());
    assert!(stop >= Duration::from_secs(grace.into()), "{stop:?}");
    eprintln!(
        "node-prisma before: image {:.0} MB, first HTTP answer after {took:?}, docker stop -t \
         {grace}: {stop:?}, exit 137",
        image_size_mb(&image)
    );
}

#[test]
fn after_image_migrates_with_usher_answers_at_once_and_stops_with_143() {
    let Some(image) = after_image() else {
        return;
    };
    let Some(pg) = servers::Postgres::shared() else {
        return;
    };
    // The runtime image holds no Prisma CLI, engine or dev dependency.
    let (code, listing, _c) = Container::run(
        "prisma_after_ls",
        &[
            "--entrypoint",
            "sh",
            &image,
            "-c",
            "ls /app/node_modules /app/node_modules/.bin 2>&1; ls -d /app/node_modules/@prisma \
             /app/node_modules/prisma /app/prisma.config.ts 2>/dev/null && exit 1; exit 0",
        ],
    );
    assert_eq!(code, 0, "the image has Prisma in it:\n{listing}");
    assert!(listing.contains("pg"), "{listing}");

    let (c, db, answer, took) = start(&image, pg, "prisma_after");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("visits: 1"),
        "{answer}\n{}",
        c.logs()
    );
    let logs = c.logs();
    assert!(logs.contains("applied 2 migrations"), "{logs}");
    assert!(!logs.contains(servers::PASSWORD), "{logs}");
    assert_eq!(
        pg.psql(
            &db,
            "SELECT string_agg(migration_name, ',' ORDER BY migration_name) FROM \
             _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL \
             AND applied_steps_count = 1"
        ),
        MIGRATIONS.join(",")
    );
    let stop = c.stop(10);
    assert_eq!(c.exit_code(), 143, "{}", c.logs());
    assert!(stop < Duration::from_secs(2), "docker stop took {stop:?}");

    // The real Prisma CLI, outside the image, finds usher's history complete and unchanged.
    if tools::require_prisma() {
        let project = common::TempDir::new("node-prisma-check");
        let migrations = tools::prisma_migrations(project.path());
        std::fs::create_dir_all(&migrations).unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/node-prisma/prisma/migrations");
        for entry in std::fs::read_dir(&src).unwrap().flatten() {
            let target = migrations.join(entry.file_name());
            if entry.path().is_dir() {
                std::fs::create_dir_all(&target).unwrap();
                std::fs::copy(
                    entry.path().join("migration.sql"),
                    target.join("migration.sql"),
                )
                .unwrap();
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
        tools::prisma_diagnose(project.path(), &pg.url(&db)).expect_clean();
    }

    // Smaller than the "before" image on the same base (the Prisma CLI is ~90 MB).
    let after_mb = image_size_mb(&image);
    if let Some(before) = before_image() {
        let before_mb = image_size_mb(&before);
        assert!(
            after_mb + 50.0 < before_mb,
            "after {after_mb:.0} MB, before {before_mb:.0} MB"
        );
    }
    eprintln!(
        "node-prisma after: image {after_mb:.0} MB, first HTTP answer after {took:?}, docker \
         stop: {stop:?}, exit 143"
    );
}
