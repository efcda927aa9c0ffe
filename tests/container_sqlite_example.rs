//! Rule: examples/sqlite/Dockerfile builds here (its `usher` and `busybox` images replaced by
//! local ones, see the file) and runs as one container with its database on a volume: the
//! volume is handed to the app's user, the migrations are applied to the SQLite file in it,
//! the server answers, and `docker stop` is prompt.
mod common;
#[path = "common/docker.rs"]
mod docker;
#[path = "common/servers.rs"]
mod servers;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use docker::{Container, Volume};

#[test]
fn sqlite_example_builds_and_migrates_its_volume() {
    let Some(base) = docker::base_image() else {
        return;
    };
    let Some(prebuilt) = docker::prebuilt_usher_image() else {
        return;
    };
    if !common::require_tool("sqlite3") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tag = format!("usher-test/{}", docker::unique_name("sqlite-example"));
    let usher_arg = format!("USHER_IMAGE={prebuilt}");
    let base_arg = format!("BASE_IMAGE={base}");
    let dockerfile = root.join("examples/sqlite/Dockerfile");
    let mut build = std::process::Command::new("docker");
    build
        .args([
            "build",
            "-q",
            "--force-rm",
            "--network",
            "host",
            "-t",
            &tag,
            "-f",
        ])
        .arg(&dockerfile)
        .args(["--build-arg", &usher_arg, "--build-arg", &base_arg])
        .arg(root)
        .env("DOCKER_BUILDKIT", "0");
    common::run(&mut build).expect_code(0);
    let _image = docker::DerivedImage { tag: tag.clone() };

    let volume = Volume::new("sqlite-example");
    let mount = format!("{}:/data", volume.name);
    let port = servers::free_port();
    let listen = format!("127.0.0.1:{port}");
    let c = Container::start(
        "sqlite-example",
        &[
            "-v", &mount, &tag, "httpd", "-f", "-p", &listen, "-h", "/app/www",
        ],
    );
    let started = std::time::Instant::now();
    let answer = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            write!(s, "GET / HTTP/1.0\r\n\r\n").unwrap();
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            break answer;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server never answered\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(answer.contains("200 OK"), "{answer}");
    let logs = c.logs();
    assert!(logs.contains("applied 2 migrations"), "{logs}");
    let file = PathBuf::from(docker::docker_ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Mountpoint}}",
        &volume.name,
    ]))
    .join("app.db");
    assert_eq!(
        servers::sqlite(&file, "SELECT body FROM notes"),
        "migrated by usher"
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().uid(),
        10002,
        "owned by the app's user"
    );
    let took = c.stop(10);
    assert_eq!(c.exit_code(), 143, "{}", c.logs());
    assert!(took < Duration::from_secs(2), "docker stop took {took:?}");
}
