//! Rule: root without the capabilities a change needs (`docker run --cap-drop ALL`) fails up
//! front, before anything is changed, with exit 77 and a message naming the missing
//! capabilities and how to grant them: CAP_SETUID/CAP_SETGID for `--user`, CAP_CHOWN for
//! `--chown` when a file needs a new owner. What needs no change needs no capability.
//!
//! usher runs as root under `setpriv --inh-caps=-… --bounding-set=-…`, which leaves uid 0 with
//! those capabilities gone from its effective set after the exec, as in such a container.

mod common;

use common::{TempDir, require_root, require_tool, run, usher_path};
use std::os::unix::fs::MetadataExt;
use std::process::Command;

/// usher as root without the capabilities in `caps` (`all`, or `setuid,setgid`).
fn without_caps(caps: &str) -> Command {
    let drop = caps
        .split(',')
        .map(|c| format!("-{c}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--inh-caps={drop}"))
        .arg(format!("--bounding-set={drop}"))
        .arg("--")
        .arg(usher_path())
        .current_dir("/")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    cmd
}

fn prerequisites() -> bool {
    require_root() && require_tool("setpriv")
}

#[test]
fn without_setuid_and_setgid_the_drop_fails_up_front_with_the_fix() {
    if !prerequisites() {
        return;
    }
    let dir = TempDir::new("caps-setid");
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("file"), "x").unwrap();
    for (caps, named) in [
        ("all", &["CAP_SETUID", "CAP_SETGID"][..]),
        ("setuid,setgid", &["CAP_SETUID", "CAP_SETGID"]),
        ("setuid", &["CAP_SETUID"]),
        ("setgid", &["CAP_SETGID"]),
    ] {
        let out = run(without_caps(caps)
            .args(["--user", "nobody", "--chown"])
            .arg(&data)
            .args(["--", "echo", "app-ran"]));
        out.expect_code(77)
            .expect_stderr_contains("nobody (uid 65534")
            .expect_stderr_contains("docker run --cap-add")
            .expect_stderr_contains("securityContext.capabilities.add");
        for cap in named {
            out.expect_stderr_contains(cap);
        }
        assert!(!out.stderr().contains("setgroups("), "{}", out.describe());
        assert!(out.stdout().is_empty(), "the app ran\n{}", out.describe());
        // Nothing was half done: the tree was not chowned before the failure.
        assert_eq!(std::fs::metadata(data.join("file")).unwrap().uid(), 0);
    }
    // With CAP_SETUID and CAP_SETGID (only CAP_CHOWN gone), the same drop works.
    run(without_caps("chown").args(["--user", "nobody", "--", "id", "-u"]))
        .expect_code(0)
        .expect_stdout_contains("65534");
}

/// usher as root, without any capability, with supplementary groups `groups` ("" for none).
fn root_without_caps_in_groups(groups: &str, spec: &str) -> common::Run {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--inh-caps=-all", "--bounding-set=-all"]);
    match groups {
        "" => cmd.arg("--clear-groups"),
        g => cmd.arg(format!("--groups={g}")),
    };
    cmd.arg("--")
        .arg(usher_path())
        .args(["--user", spec, "--", "sh", "-c"])
        .arg("id -u; grep CapEff /proc/self/status")
        .current_dir("/")
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    run(&mut cmd)
}

#[test]
fn a_spec_that_changes_nothing_needs_no_capability() {
    if !prerequisites() {
        return;
    }
    // uid 0, gid 0, no supplementary groups: exactly what `0:0` asks for.
    root_without_caps_in_groups("", "0:0")
        .expect_code(0)
        .expect_stdout_contains("0\nCapEff:\t0000000000000000");
    // With a group to drop, CAP_SETGID is needed; starting "as root" is no alternative.
    let out = root_without_caps_in_groups("4", "0:0");
    out.expect_code(77)
        .expect_stderr_contains("without CAP_SETGID ")
        .expect_stderr_contains("--cap-add SETGID");
    assert!(
        !out.stderr().contains("docker run --user"),
        "{}",
        out.describe()
    );
    assert!(out.stdout().is_empty(), "the app ran\n{}", out.describe());
}

#[test]
fn without_chown_a_tree_that_needs_changing_fails_and_nothing_changes() {
    if !prerequisites() {
        return;
    }
    let dir = TempDir::new("caps-chown");
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    for i in 0..1000 {
        std::fs::write(data.join("sub").join(format!("f{i}")), "x").unwrap();
    }
    let out = run(without_caps("chown")
        .args(["--user", "nobody", "--chown"])
        .arg(&data)
        .args(["--", "echo", "app-ran"]));
    out.expect_code(77)
        .expect_stderr_contains("CAP_CHOWN")
        .expect_stderr_contains("--cap-add CHOWN")
        .expect_stderr_contains("capabilities.add: [\"CHOWN\"]")
        .expect_stderr_contains("pre-own the volume for 65534:65534");
    assert!(out.stdout().is_empty(), "the app ran\n{}", out.describe());
    assert_eq!(
        out.stderr().lines().count(),
        1,
        "one line, not one per file\n{}",
        out.describe()
    );
    // A read-only mount of it needs no capability either: nothing could change there.
    if require_tool("unshare") {
        let script = "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" && \
                      shift && exec \"$@\"";
        let mut cmd = common::in_mount_namespace(script);
        cmd.arg(&data)
            .args([
                "setpriv",
                "--inh-caps=-chown",
                "--bounding-set=-chown",
                "--",
            ])
            .arg(usher_path())
            .args(["--user", "nobody", "--chown"])
            .arg(&data)
            .args(["--", "echo", "app-ran"]);
        run(&mut cmd)
            .expect_code(0)
            .expect_stdout_contains("app-ran");
    }
    // A tree already owned by the user needs no capability: the app starts.
    let status = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&data)
        .status()
        .unwrap();
    assert!(status.success());
    run(without_caps("chown")
        .args(["--user", "nobody", "--chown"])
        .arg(&data)
        .args(["--", "echo", "app-ran"]))
    .expect_code(0)
    .expect_stdout_contains("app-ran");
}
