//! Rule: a `DATABASE_URL_FILE` secret readable by root only is read before the privilege
//! drop, so the app's user can start and migrate with it, and its password appears nowhere in
//! `docker logs` or `docker inspect`.
mod common;
#[path = "common/docker.rs"]
mod docker;
#[path = "common/servers.rs"]
mod servers;

use std::os::unix::fs::PermissionsExt;

use docker::Container;

#[test]
fn root_only_secret_file_with_user_drop_never_leaks() {
    let Some(image) = docker::base_image() else {
        return;
    };
    let Some(pg) = servers::Postgres::shared() else {
        return;
    };
    let db = pg.create_database("container_secrets");
    let dir = common::TempDir::new("container-secrets");
    servers::write_migrations(
        &dir.join("migrations"),
        &[(
            "20250101000000_create_items.sql",
            "CREATE TABLE items (id int);",
        )],
    );
    let secret = dir.join("database_url");
    std::fs::write(&secret, format!("{}\n", pg.url(&db))).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let secret_mount = format!("{}:/run/secrets/database_url:ro", secret.display());
    let migrations_mount = format!("{}:/migrations:ro", dir.join("migrations").display());
    let (code, logs, c) = Container::run(
        "secrets",
        &[
            "-e",
            "DATABASE_URL_FILE=/run/secrets/database_url",
            "-e",
            "USHER_USER=app",
            "-e",
            "USHER_MIGRATIONS=/migrations",
            "-v",
            &secret_mount,
            "-v",
            &migrations_mount,
            image,
            "sh",
            "-c",
            "echo app started as $(id -u); cat /run/secrets/database_url || echo secret unreadable; \
             test -n \"$DATABASE_URL\" && echo url set; env | grep -c _FILE= || true",
        ],
    );
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("app started as 1000"), "{logs}");
    assert!(
        logs.contains("secret unreadable"),
        "the app's user must not read it: {logs}"
    );
    assert!(logs.contains("url set"), "{logs}");
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM _sqlx_migrations"), "1");
    let inspect = docker::docker_ok(&["inspect", &c.name]);
    for (what, text) in [("docker logs", &logs), ("docker inspect", &inspect)] {
        assert!(
            !text.contains(servers::PASSWORD),
            "the password leaked into {what}:\n{text}"
        );
    }
}
