//! Rule: five replicas started at once by `docker-compose up --scale` on a fresh database
//! all start, and each migration is applied exactly once (one replica migrates under the lock,
//! the others find nothing left to do).
mod common;
#[path = "common/docker.rs"]
mod docker;
#[path = "common/servers.rs"]
mod servers;

use std::path::Path;
use std::process::{Command, Stdio};

/// A Compose project, taken down (containers and volumes) when dropped.
struct Project {
    name: String,
    file: std::path::PathBuf,
}

impl Project {
    fn compose(&self, args: &[&str]) -> common::Run {
        let mut cmd = Command::new("docker-compose");
        cmd.arg("-p")
            .arg(&self.name)
            .arg("-f")
            .arg(&self.file)
            .args(args)
            .stdin(Stdio::null());
        common::run(&mut cmd)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans"]);
    }
}

fn compose_file(dir: &Path, image: &str, url: &str) -> std::path::PathBuf {
    let file = dir.join("compose.yaml");
    std::fs::write(
        &file,
        format!(
            r#"version: "2.4"
services:
  app:
    image: {image}
    network_mode: host
    environment:
      DATABASE_URL: "{url}"
      USHER_MIGRATIONS: /migrations
      USHER_USER: app
    volumes:
      - {migrations}:/migrations:ro
    command: ["echo", "app started"]
"#,
            migrations = dir.join("migrations").display()
        ),
    )
    .unwrap();
    file
}

#[test]
fn five_replicas_at_once_apply_each_migration_once() {
    let Some(image) = docker::base_image() else {
        return;
    };
    if !common::require_tool("docker-compose") {
        return;
    }
    let Some(pg) = servers::Postgres::shared() else {
        return;
    };
    let db = pg.create_database("container_compose_scale");
    let dir = common::TempDir::new("container-compose");
    servers::write_migrations(
        &dir.join("migrations"),
        &[
            (
                "20250101000000_log.sql",
                "CREATE TABLE applied (name text); INSERT INTO applied VALUES ('one'); \
                 SELECT pg_sleep(0.5);",
            ),
            (
                "20250102000000_two.sql",
                "INSERT INTO applied VALUES ('two');",
            ),
            (
                "20250103000000_three.sql",
                "INSERT INTO applied VALUES ('three');",
            ),
        ],
    );
    let project = Project {
        name: docker::unique_name("scale"),
        file: compose_file(dir.path(), image, &pg.url(&db)),
    };
    let up = project.compose(&["up", "--scale", "app=5", "--no-color"]);
    up.expect_code(0);
    let ids = project.compose(&["ps", "-q"]).stdout();
    let ids: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(ids.len(), 5, "{}", up.describe());
    for id in &ids {
        let code = docker::docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", id]);
        let logs = docker::docker(&["logs", id]).all_output();
        assert_eq!(code, "0", "{logs}");
        assert!(logs.contains("app started"), "{logs}");
    }
    assert_eq!(
        pg.psql(
            &db,
            "SELECT string_agg(name, ',' ORDER BY name) FROM applied"
        ),
        "one,three,two"
    );
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM _sqlx_migrations"), "3");
}
