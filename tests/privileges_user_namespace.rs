//! Rule: in a user namespace where root cannot make the switch (an id outside its uid_map or
//! gid_map, setgroups disabled), usher says so up front with exit 77 — not a misleading "add
//! CAP_SETUID" — and the app does not start. A spec inside the namespace's means still works.
//!
//! `unshare --user --map-root-user` maps only root and disables setgroups, as a minimal
//! rootless set-up does.

mod common;

use common::{TempDir, require_root, require_tool, run, usher_path};
use std::process::Command;

fn in_user_namespace() -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--user", "--map-root-user", "--"])
        .arg(usher_path())
        .current_dir("/")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    cmd
}

#[test]
fn an_unmapped_user_is_named_with_the_map() {
    if !require_root() || !require_tool("unshare") {
        return;
    }
    for spec in ["nobody", "1000:0", "0:1000"] {
        let out = run(in_user_namespace().args(["--user", spec, "--", "echo", "app-ran"]));
        out.expect_code(77)
            .expect_stderr_contains("is not mapped in usher's user namespace")
            .expect_stderr_contains("_map: 0 0 1");
        assert!(!out.stderr().contains("CAP_"), "{}", out.describe());
        assert!(out.stdout().is_empty(), "the app ran\n{}", out.describe());
    }
    // Root of the namespace, with no change of groups, needs nothing the namespace lacks.
    run(in_user_namespace().args(["--user", "0:0", "--", "id", "-u"]))
        .expect_code(0)
        .expect_stdout_contains("0");
}

#[test]
fn groups_that_need_setgroups_where_it_is_denied_are_named() {
    if !require_root() || !require_tool("unshare") || !require_tool("setpriv") {
        return;
    }
    // usher starts with no supplementary groups, and root is a member of `adm` (4) here, so
    // `--user root` needs setgroups([4]). (4 is not mapped either; setgroups is named first.)
    let dir = TempDir::new("userns-setgroups");
    std::fs::write(dir.join("passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(dir.join("group"), "root:x:0:\nadm:x:4:root\n").unwrap();
    let script = "mount --bind \"$1\" /etc/passwd && mount --bind \"$2\" /etc/group && shift 2 && exec \"$@\"";
    let out = run(common::in_mount_namespace(script)
        .arg(dir.join("passwd"))
        .arg(dir.join("group"))
        .args(["setpriv", "--clear-groups", "--"])
        .args(["unshare", "--user", "--map-root-user", "--"])
        .arg(usher_path())
        .args(["--user", "root", "--", "echo", "app-ran"]));
    out.expect_code(77)
        .expect_stderr_contains("setgroups is disabled")
        .expect_stderr_contains("root (uid 0, gid 0, groups 4)");
    assert!(!out.stderr().contains("CAP_"), "{}", out.describe());
    assert!(out.stdout().is_empty(), "the app ran\n{}", out.describe());
}
