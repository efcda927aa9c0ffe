//! Rule: with `--log-format json`, everything usher writes to `docker logs` is one JSON
//! object per line (a log collector can parse every line).
mod common;
#[path = "common/docker.rs"]
mod docker;

use docker::Container;

#[test]
fn every_usher_line_in_docker_logs_is_json() {
    let Some(image) = docker::base_image() else {
        return;
    };
    let dir = common::TempDir::new("container-json");
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(
        dir.join("migrations/20250101000000_create_items.sql"),
        "CREATE TABLE items (id int);",
    )
    .unwrap();
    let mount = format!("{}:/migrations:ro", dir.join("migrations").display());
    // The app prints nothing, so every line of the logs is usher's.
    let (code, logs, _c) = Container::run(
        "json",
        &[
            "-e",
            "USHER_LOG_FORMAT=json",
            "-e",
            "USHER_USER=app",
            "-e",
            "DATABASE_URL=sqlite:///tmp/app.db",
            "-e",
            "USHER_MIGRATIONS=/migrations",
            "-v",
            &mount,
            image,
            "true",
        ],
    );
    assert_eq!(code, 0, "{logs}");
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines.len() >= 2,
        "expected the migration and init lines: {logs}"
    );
    for line in lines {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\n{logs}"));
        for key in ["ts", "level", "msg"] {
            assert!(value.get(key).is_some(), "no {key} in {line}");
        }
    }
}
