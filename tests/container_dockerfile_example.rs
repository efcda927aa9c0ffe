//! Rule: Dockerfile.example builds here (with local base images in place of the registry's,
//! see docker.rs) and the image works as documented: a root-only secret, the drop to `app`,
//! migrations and the pre-start task before the Node app starts, and a prompt `docker stop`.
mod common;
#[path = "common/docker.rs"]
mod docker;
#[path = "common/servers.rs"]
mod servers;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use docker::Container;

fn http_get(port: u16, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn dockerfile_example_builds_and_runs() {
    let Some(image) = docker::example_app_image() else {
        return;
    };
    let Some(pg) = servers::Postgres::shared() else {
        return;
    };
    let db = pg.create_database("container_example");
    let dir = common::TempDir::new("container-example");
    let secret = dir.join("database_url");
    std::fs::write(&secret, pg.url(&db)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let port = servers::free_port();
    let secret_mount = format!("{}:/run/secrets/database_url:ro", secret.display());
    let env_port = format!("PORT={port}");
    let c = Container::start(
        "example",
        &[
            "-e",
            "DATABASE_URL_FILE=/run/secrets/database_url",
            "-e",
            &env_port,
            "-v",
            &secret_mount,
            image,
        ],
    );
    c.wait_for_log(
        &format!("listening on port {port}"),
        Duration::from_secs(60),
    );
    let logs = c.logs();
    assert!(logs.contains("applied 2 migrations"), "{logs}");
    assert!(logs.contains("10-check-config: ok (uid 10001)"), "{logs}");
    assert!(logs.contains("as uid 10001"), "{logs}");
    assert!(!logs.contains(servers::PASSWORD), "{logs}");
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM _sqlx_migrations"), "2");
    let answer = http_get(port, "/healthz");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The image's HEALTHCHECK is usher's own probe, exec form.
    let health = c.inspect("{{json .Config.Healthcheck.Test}}");
    assert!(
        health.contains("/usr/local/bin/usher") && health.contains("health"),
        "{health}"
    );
    let took = c.stop(10);
    assert_eq!(c.exit_code(), 143, "{}", c.logs());
    assert!(took < Duration::from_secs(2), "docker stop took {took:?}");
}
