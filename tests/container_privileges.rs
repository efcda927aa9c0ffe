//! Rule: in a real container usher drops root to `USHER_USER` after handing a volume to that
//! user, works when Docker already starts it as a non-root user, on a read-only root file
//! system and under `no-new-privileges`, and refuses with exit 77 naming the missing
//! capability and how to grant it (`docker run --cap-add`, the Kubernetes securityContext)
//! when `--cap-drop ALL` makes the drop impossible.
mod common;
#[path = "common/docker.rs"]
mod docker;

use docker::{Container, Volume};

/// The app prints its ids; exit status and log.
fn ids_script() -> &'static str {
    "echo uid=$(id -u) gid=$(id -g) groups=$(id -G)"
}

#[test]
fn user_and_chown_hand_a_volume_to_the_app_user() {
    let Some(image) = docker::base_image() else {
        return;
    };
    let volume = Volume::new("chown");
    let mount = format!("{}:/data", volume.name);
    let script = format!(
        "{}; echo owner=$(stat -c %u:%g /data); touch /data/written && echo wrote",
        ids_script()
    );
    let (code, logs, _c) = Container::run(
        "chown",
        &[
            "-e",
            "USHER_USER=app",
            "-e",
            "USHER_CHOWN=/data",
            "-v",
            &mount,
            image,
            "sh",
            "-c",
            &script,
        ],
    );
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("uid=1000 gid=1000 groups=1000"), "{logs}");
    assert!(logs.contains("owner=1000:1000"), "{logs}");
    assert!(logs.contains("wrote"), "{logs}");
}

#[test]
fn docker_run_user_starts_usher_as_that_user() {
    let Some(image) = docker::base_image() else {
        return;
    };
    // USHER_USER naming the identity Docker already gave is a no-op, not an error.
    let (code, logs, _c) = Container::run(
        "run-user",
        &[
            "--user",
            "1000",
            "-e",
            "USHER_USER=app",
            image,
            "sh",
            "-c",
            ids_script(),
        ],
    );
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("uid=1000 gid=1000"), "{logs}");
}

#[test]
fn read_only_root_file_system() {
    let Some(image) = docker::base_image() else {
        return;
    };
    let (code, logs, _c) = Container::run(
        "read-only",
        &[
            "--read-only",
            "-e",
            "USHER_USER=app",
            image,
            "sh",
            "-c",
            ids_script(),
        ],
    );
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("uid=1000 gid=1000"), "{logs}");
}

#[test]
fn no_new_privileges_security_option() {
    let Some(image) = docker::base_image() else {
        return;
    };
    let (code, logs, _c) = Container::run(
        "no-new-privs",
        &[
            "--security-opt",
            "no-new-privileges",
            "-e",
            "USHER_USER=app",
            "-e",
            "USHER_NO_NEW_PRIVS=1",
            image,
            "sh",
            "-c",
            &format!("{}; grep NoNewPrivs /proc/self/status", ids_script()),
        ],
    );
    assert_eq!(code, 0, "{logs}");
    assert!(logs.contains("uid=1000 gid=1000"), "{logs}");
    assert!(logs.contains("NoNewPrivs:\t1"), "{logs}");
}

#[test]
fn cap_drop_all_refuses_with_77_naming_the_capability_and_the_fix() {
    let Some(image) = docker::base_image() else {
        return;
    };
    let (code, logs, _c) = Container::run(
        "cap-drop",
        &[
            "--cap-drop",
            "ALL",
            "-e",
            "USHER_USER=app",
            image,
            "sh",
            "-c",
            "echo the app started",
        ],
    );
    assert_eq!(code, 77, "{logs}");
    assert!(logs.contains("SETUID"), "{logs}");
    // It names the fix, for Docker and for Kubernetes.
    assert!(logs.contains("docker run --cap-add"), "{logs}");
    assert!(logs.contains("securityContext.capabilities.add"), "{logs}");
    assert!(!logs.contains("the app started"), "{logs}");
}
