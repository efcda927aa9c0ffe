//! Rule: examples/compose.yaml works as written with docker-compose: `web` waits for a healthy
//! `db` (depends_on with a healthcheck), its three replicas start at once with the URL from a
//! secret file, each migration is applied once, and every replica serves.
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

/// A Compose project, taken down (containers and volumes) when dropped.
struct Project {
    name: String,
    files: Vec<PathBuf>,
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

#[test]
fn compose_example_starts_three_replicas_that_migrate_once() {
    let Some(app) = docker::example_app_image() else {
        return;
    };
    let Some(base) = docker::base_image() else {
        return;
    };
    if !common::require_tool("docker-compose") {
        return;
    }
    let Some(pg) = servers::Postgres::shared() else {
        return;
    };
    let db = pg.create_database("container_compose_example");
    let dir = common::TempDir::new("container-compose-example");
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
        name: docker::unique_name("compose-example"),
        files: vec![
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/compose.yaml"),
            override_file,
        ],
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
