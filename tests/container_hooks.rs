//! Rule: in a container, `USHER_HOOKS` runs the pre-start tasks as the app's user with the
//! app's environment before the app, with their output in `docker logs`; a failing task
//! stops the container with exit 73 naming it, and the app never starts.
mod common;
#[path = "common/docker.rs"]
mod docker;

use std::os::unix::fs::PermissionsExt;

use docker::Container;

#[test]
fn hooks_run_as_the_app_user_before_the_app_and_a_failure_is_73() {
    let Some(image) = docker::base_image() else {
        return;
    };
    let dir = common::TempDir::new("container-hooks");
    let hooks = dir.join("hooks");
    std::fs::create_dir(&hooks).unwrap();
    std::fs::set_permissions(&hooks, std::fs::Permissions::from_mode(0o755)).unwrap();
    let task = |name: &str, body: &str| {
        std::fs::write(hooks.join(name), body).unwrap();
        std::fs::set_permissions(hooks.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    task(
        "10-whoami",
        "#!/bin/sh\necho task uid=$(id -u) GREETING=$GREETING\n",
    );
    let mount = format!("{}:/hooks:ro", hooks.display());
    let args = [
        "-e",
        "USHER_USER=app",
        "-e",
        "USHER_HOOKS=/hooks",
        "-e",
        "GREETING=hello",
        "-v",
        &mount,
        image,
        "sh",
        "-c",
        "echo app started",
    ];
    let (code, logs, _c) = Container::run("hooks", &args);
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("task uid=1000 GREETING=hello"), "{logs}");
    assert!(logs.contains("app started"), "{logs}");
    assert!(logs.contains("hooks: ran /hooks/10-whoami"), "{logs}");

    task(
        "20-fails",
        "#!/bin/sh\necho cannot warm the cache >&2\nexit 1\n",
    );
    let (code, logs, _c) = Container::run("hooks-fail", &args);
    assert_eq!(code, 73, "{logs}");
    assert!(logs.contains("/hooks/20-fails"), "{logs}");
    assert!(!logs.contains("app started"), "{logs}");
}
