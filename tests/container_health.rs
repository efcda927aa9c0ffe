//! Rule: `usher health` works as a Docker `HEALTHCHECK` in an image with no shell or curl:
//! exec form, `healthy` while the server answers and `unhealthy` once it answers 503 or is gone
//! (nothing listens: connection refused); and
//! `usher health db --no-pending` keeps a container unhealthy until its migrations are applied.
mod common;
#[path = "common/docker.rs"]
mod docker;
#[path = "common/servers.rs"]
mod servers;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::loopback::{Answer, HttpServer};
use docker::{Container, DerivedImage};

#[test]
fn healthcheck_http_is_healthy_then_unhealthy_when_the_server_answers_503() {
    let Some(base) = docker::base_image() else {
        return;
    };
    let up = Arc::new(AtomicBool::new(true));
    let flag = up.clone();
    let server = HttpServer::start(move |_| {
        if flag.load(Ordering::SeqCst) {
            Answer::Status("200 OK")
        } else {
            Answer::Status("503 Service Unavailable")
        }
    });
    let image = DerivedImage::new(
        base,
        &format!(
            "HEALTHCHECK --interval=1s --timeout=2s --retries=1 \
             CMD [\"/usr/local/bin/usher\", \"health\", \"http://127.0.0.1:{}/healthz\"]",
            server.port
        ),
    );
    let c = Container::start("health-http", &[&image.tag, "sleep", "1000"]);
    c.wait_for_health("healthy", Duration::from_secs(30));
    up.store(false, Ordering::SeqCst);
    c.wait_for_health("unhealthy", Duration::from_secs(30));
    let log = c.inspect("{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}");
    assert!(log.contains("1 unhealthy"), "{log}");
    // The exit codes alone: the probe's output holds numbers too ("in 2 ms").
    let codes = c.inspect("{{range .State.Health.Log}}{{.ExitCode}},{{end}}");
    assert!(
        codes.split(',').all(|code| code.trim() != "2"),
        "Docker reserves exit 2: {codes}; {log}"
    );
}

#[test]
fn healthcheck_http_is_unhealthy_once_nothing_listens() {
    let Some(base) = docker::base_image() else {
        return;
    };
    let server = HttpServer::start(|_| Answer::Status("200 OK"));
    let port = server.port;
    let image = DerivedImage::new(
        base,
        &format!(
            "HEALTHCHECK --interval=1s --timeout=2s --retries=1 \
             CMD [\"/usr/local/bin/usher\", \"health\", \"http://127.0.0.1:{port}/healthz\"]"
        ),
    );
    let c = Container::start("health-gone", &[&image.tag, "sleep", "1000"]);
    c.wait_for_health("healthy", Duration::from_secs(30));
    // The server goes away: its listening socket is closed, so the probe's connection is
    // refused (not answered with an error status).
    server.stop();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still accepts connections"
    );
    c.wait_for_health("unhealthy", Duration::from_secs(30));
    let log = c.inspect("{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}|{{end}}");
    let refused =
        format!("1 unhealthy: http://127.0.0.1:{port}/healthz: connect: connection refused");
    assert!(log.contains(&refused), "no {refused:?} in {log}");
}

#[test]
fn health_db_no_pending_gates_readiness_until_migrated() {
    let Some(base) = docker::base_image() else {
        return;
    };
    let Some(pg) = servers::Postgres::shared() else {
        return;
    };
    let db = pg.create_database("container_health_db");
    let dir = common::TempDir::new("container-health-db");
    servers::write_migrations(
        &dir.join("migrations"),
        &[(
            "20250101000000_create_items.sql",
            "CREATE TABLE items (id int);",
        )],
    );
    let image = DerivedImage::new(
        base,
        "HEALTHCHECK --interval=1s --timeout=3s --retries=1 \
         CMD [\"/usr/local/bin/usher\", \"health\", \"db\", \"--no-pending\"]",
    );
    let url = pg.url(&db);
    let mount = format!("{}:/migrations:ro", dir.join("migrations").display());
    let c = Container::start(
        "health-db",
        &[
            "-e",
            &format!("DATABASE_URL={url}"),
            "-e",
            "USHER_MIGRATIONS=/migrations",
            "-e",
            "USHER_MIGRATE=never",
            "-v",
            &mount,
            &image.tag,
            "sleep",
            "1000",
        ],
    );
    c.wait_for_health("unhealthy", Duration::from_secs(30));
    // A migration job (here: `usher migrate` in the same container) applies them.
    docker::docker_ok(&[
        "exec",
        "-e",
        "USHER_MIGRATE=always",
        &c.name,
        "/usr/local/bin/usher",
        "migrate",
    ]);
    c.wait_for_health("healthy", Duration::from_secs(30));
}
