//! Rule: examples/compose.yaml works as written with docker-compose: `web` waits for a healthy
//! `db` (depends_on with a healthcheck), its three replicas start at once with the URL from a
//! secret file, each migration is applied once, and every replica serves; its `migrate` job
//! (profile `jobs`) applies the migrations and exits 0 with nothing left pending.
//!
//! What the test changes, in an override file (no registry, host networking only): both
//! services on the host's network; `db` is a stand-in for the harness's PostgreSQL (the usher
//! base image, healthy when `usher health tcp://` reaches that server); the secret files are
//! the test's; the app listens on any free port (`PORT=0`), as three replicas share one
//! network.
mod common;
#[path = "common/docker.rs"]
mod docker;
#[path = "common/servers.rs"]
mod servers;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A Compose project, taken down (containers and volumes) when dropped, before the directory
/// that holds its override file and secrets is removed.
struct Project {
    name: String,
    files: Vec<PathBuf>,
    _dir: common::TempDir,
}

impl Project {
    fn compose(&self, args: &[&str]) -> common::Run {
        let mut cmd = Command::new("docker-compose");
        cmd.arg("-p").arg(&self.name);
        for f in &self.files {
            cmd.arg("-f").arg(f);
        }
        cmd.args(args).stdin(Stdio::null());
        common::run(&mut cmd)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans"]);
    }
}

/// The example, its secrets and the override, on a fresh database of the harness's PostgreSQL;
/// `None` (a loud skip, a failure under `CI=true`) when a prerequisite is missing.
fn example_project(tag: &str) -> Option<(Project, &'static servers::Postgres, String)> {
    let app = docker::example_app_image()?;
    let base = docker::base_image()?;
    if !common::require_tool("docker-compose") {
        return None;
    }
    let pg = servers::Postgres::shared()?;
    let db = pg.create_database(tag);
    let dir = common::TempDir::new(tag);
    for (name, value) in [
        ("db_password.txt", servers::PASSWORD.to_string()),
        ("database_url.txt", pg.url(&db)),
    ] {
        std::fs::write(dir.join(name), value).unwrap();
        std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let override_file = dir.join("override.yaml");
    std::fs::write(
        &override_file,
        format!(
            r#"services:
  db:
    image: {base}
    network_mode: host
    command: ["sleep", "1000000"]
    healthcheck:
      test: ["CMD", "/usr/local/bin/usher", "health", "tcp://127.0.0.1:{port}"]
  web:
    image: {app}
    network_mode: host
    environment:
      PORT: "0"
  migrate:
    image: {app}
    network_mode: host
secrets:
  db_password:
    file: {dir}/db_password.txt
  database_url:
    file: {dir}/database_url.txt
"#,
            port = pg.port,
            dir = dir.path().display()
        ),
    )
    .unwrap();
    let project = Project {
        name: docker::unique_name(tag),
        files: vec![
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/compose.yaml"),
            override_file,
        ],
        _dir: dir,
    };
    Some((project, pg, db))
}

#[test]
fn compose_example_starts_three_replicas_that_migrate_once() {
    let Some((project, pg, db)) = example_project("compose-example") else {
        return;
    };
    project.compose(&["up", "-d", "--no-color"]).expect_code(0);
    let ids = project.compose(&["ps", "-q", "web"]).stdout();
    let ids: Vec<String> = ids
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    assert_eq!(ids.len(), 3, "three replicas of web: {ids:?}");
    let started = Instant::now();
    for id in &ids {
        loop {
            let logs = docker::docker(&["logs", id]).all_output();
            if logs.contains("listening on port") {
                assert!(!logs.contains(servers::PASSWORD), "{logs}");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "replica {id} never served:\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM _sqlx_migrations"), "2");
    let applied: usize = ids
        .iter()
        .map(|id| {
            docker::docker(&["logs", id])
                .all_output()
                .matches("applied 20250101000000")
                .count()
        })
        .sum();
    assert_eq!(
        applied, 1,
        "exactly one replica applied the first migration"
    );
}

/// The `migrate` service (profile `jobs`) is the one-off alternative: `docker-compose run`
/// applies every migration and exits 0, after which `usher status --exit-code` in the same
/// service finds nothing pending.
#[test]
fn compose_example_migrate_job_applies_everything_and_exits_0() {
    let Some((project, pg, db)) = example_project("compose-migrate-job") else {
        return;
    };
    let run = project.compose(&["--profile", "jobs", "run", "--rm", "-T", "migrate"]);
    run.expect_code(0);
    let out = run.all_output();
    assert!(out.contains("applied 2 migrations"), "{}", run.describe());
    assert!(!out.contains(servers::PASSWORD), "{}", run.describe());
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM _sqlx_migrations"), "2");
    let status = project.compose(&[
        "--profile",
        "jobs",
        "run",
        "--rm",
        "-T",
        "--entrypoint",
        "/usr/local/bin/usher",
        "migrate",
        "status",
        "--exit-code",
    ]);
    status.expect_code(0);
    // The web replicas were never started: a job runs alone.
    assert_eq!(project.compose(&["ps", "-q", "web"]).stdout().trim(), "");
}
