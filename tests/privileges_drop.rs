//! Rule: the drop is all-or-nothing and irreversible; `--chown` hands a tree to the target user
//! before it, never following symbolic links and warning (not failing) on files it cannot
//! change; a non-root usher only accepts a spec that is already its own identity; and a
//! setuid-installed usher refuses to run.

mod common;

use common::{TempDir, require_root, require_tool, run, usher, usher_path};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

/// A copy of usher in a world-readable directory, so unprivileged users can run it wherever the
/// checkout lives (CI may clone under /root).
fn public_copy(dir: &TempDir) -> std::path::PathBuf {
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join("usher");
    std::fs::copy(usher_path(), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

#[test]
fn the_drop_is_complete_and_cannot_be_undone() {
    if !require_root() {
        return;
    }
    // The app, now nobody, tries to become root again with a setuid-free `su`-like call.
    let out = run(usher().args([
        "--user",
        "nobody",
        "--",
        "sh",
        "-c",
        "grep -E '^(Uid|Gid|Groups|CapEff):' /proc/self/status; echo HOME=$HOME",
    ]));
    out.expect_code(0);
    let text = out.stdout();
    assert!(
        text.contains("Uid:\t65534\t65534\t65534\t65534"),
        "{}",
        out.describe()
    );
    assert!(
        text.contains("Gid:\t65534\t65534\t65534\t65534"),
        "{}",
        out.describe()
    );
    assert!(
        text.contains("CapEff:\t0000000000000000"),
        "{}",
        out.describe()
    );
    out.expect_stderr_contains("running as nobody");
}

#[test]
fn chown_gives_the_tree_to_the_user_without_following_links() {
    if !require_root() {
        return;
    }
    let dir = TempDir::new("chown");
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("sub/deeper")).unwrap();
    std::fs::write(data.join("a"), "a").unwrap();
    std::fs::write(data.join("sub/deeper/b"), "b").unwrap();
    let outside = dir.join("outside-secret");
    std::fs::write(&outside, "root's").unwrap();
    std::os::unix::fs::symlink(&outside, data.join("link")).unwrap();

    let out = run(usher()
        .args(["--user", "nobody", "--chown"])
        .arg(&data)
        .args(["--", "sh", "-c", "echo ok > \"$1/sub/deeper/new\"", "sh"])
        .arg(&data));
    out.expect_code(0);
    for p in [
        "",
        "a",
        "sub",
        "sub/deeper",
        "sub/deeper/b",
        "sub/deeper/new",
        "link",
    ] {
        let meta = std::fs::symlink_metadata(data.join(p)).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (65534, 65534),
            "{p}\n{}",
            out.describe()
        );
    }
    let meta = std::fs::metadata(&outside).unwrap();
    assert_eq!(meta.uid(), 0, "a symlink was followed out of the tree");
}

#[test]
fn chown_from_env_list() {
    if !require_root() {
        return;
    }
    let dir = TempDir::new("chown-env");
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let out = run(usher()
        .env("USHER_USER", "nobody")
        .env("USHER_CHOWN", format!("{},{}", a.display(), b.display()))
        .args(["--", "true"]));
    out.expect_code(0);
    assert_eq!(std::fs::metadata(&a).unwrap().uid(), 65534);
    assert_eq!(std::fs::metadata(&b).unwrap().uid(), 65534);
}

#[test]
fn a_file_that_cannot_be_changed_is_a_warning_not_a_failure() {
    if !require_root() || !require_tool("unshare") || !require_tool("mount") {
        return;
    }
    let dir = TempDir::new("chown-ro");
    let data = dir.join("ro");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("file"), "x").unwrap();
    // A read-only bind mount in a private mount namespace, as a read-only volume would be.
    let script =
        "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" && shift && exec \"$@\"";
    let out = run(common::in_mount_namespace(script)
        .arg(&data)
        .arg(usher_path())
        .args(["--user", "nobody", "--chown"])
        .arg(&data)
        .args(["--", "echo", "app-started"]));
    out.expect_code(0)
        .expect_stdout_contains("app-started")
        .expect_stderr_contains("cannot chown (continuing)")
        .expect_stderr_contains(&data.join("file").display().to_string());
}

#[test]
fn chown_without_user_is_a_usage_error() {
    run(usher().args(["--chown", "/tmp", "--", "true"]))
        .expect_code(64)
        .expect_stderr_contains("--chown needs --user");
}

#[test]
fn not_root_the_same_identity_is_a_no_op_and_anything_else_an_error() {
    if !require_root() || !require_tool("setpriv") {
        return;
    }
    let dir = TempDir::new("nonroot");
    let copy = public_copy(&dir);
    let as_nobody = |args: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&copy)
            .args(args)
            .current_dir("/")
            .env_clear()
            .env("PATH", "/usr/bin:/bin");
        run(&mut cmd)
    };
    as_nobody(&["--user", "nobody", "--", "id", "-u"])
        .expect_code(0)
        .expect_stdout_contains("65534");
    as_nobody(&["--user", "65534:65534", "--", "id", "-u"]).expect_code(0);
    let out = as_nobody(&["--user", "root", "--", "id", "-u"]);
    out.expect_code(77)
        .expect_stderr_contains("not root")
        .expect_stderr_contains("USER");
    assert!(out.stdout().is_empty(), "the app ran\n{}", out.describe());
    as_nobody(&["--user", "1000", "--", "id", "-u"]).expect_code(77);
    // No --user: no drop asked, the app runs as whoever started usher.
    as_nobody(&["--", "id", "-u"])
        .expect_code(0)
        .expect_stdout_contains("65534");
}

#[test]
fn a_setuid_install_refuses_to_run() {
    if !require_root() {
        return;
    }
    let dir = TempDir::new("setuid");
    let copy = public_copy(&dir);
    for mode in [0o4755, 0o2755] {
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = run(Command::new(&copy).args(["--", "echo", "app-ran"]));
        out.expect_code(77).expect_stderr_contains("setuid");
        assert!(out.stdout().is_empty(), "the app ran\n{}", out.describe());
    }
}
