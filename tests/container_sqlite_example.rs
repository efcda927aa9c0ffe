//! Rule: examples/sqlite/Dockerfile builds here (its `usher` and `busybox` images replaced by
//! local ones, see the file) and runs as one container with its database on a volume: the
//! volume is handed to the app's user, the migrations are applied to the SQLite file in it,
//! the server answers (the image's own CMD and HEALTHCHECK: Docker reports it `healthy`), and
//! `docker stop` is prompt.
mod common;
#[path = "common/docker.rs"]
mod docker;
#[path = "common/servers.rs"]
mod servers;

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
    // The image as written: its own CMD (httpd on port 8080) and HEALTHCHECK. `--network none`
    // gives the container a loopback of its own, so port 8080 cannot clash with the host's.
    let c = Container::start_on("none", "sqlite-example", &["-v", &mount, &tag]);
    assert_eq!(
        c.inspect("{{json .Config.Healthcheck.Test}}"),
        r#"["CMD","/usr/local/bin/usher","health","http://127.0.0.1:8080/"]"#
    );
    // Docker runs the first probe one interval (10 s) after the start.
    c.wait_for_health("healthy", Duration::from_secs(40));
    let probes = c.inspect("{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}");
    assert!(
        probes.contains("0 healthy: http://127.0.0.1:8080/ 200 OK"),
        "{probes}"
    );
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
