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
fn a_read_only_tree_is_one_summarised_warning_not_a_failure() {
    if !require_root() || !require_tool("unshare") || !require_tool("mount") {
        return;
    }
    let dir = TempDir::new("chown-ro");
    let data = dir.join("ro");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..500 {
        std::fs::write(data.join(format!("file{i}")), "x").unwrap();
    }
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
        .expect_stderr_contains("501 files (")
        .expect_stderr_contains("and 498 more)")
        .expect_stderr_contains("read-only filesystem")
        .expect_stderr_contains(&data.join("file").display().to_string());
    let chown_lines = out.stderr().lines().filter(|l| l.contains("chown")).count();
    assert_eq!(chown_lines, 1, "one summary line\n{}", out.describe());
    assert!(out.stderr().len() < 2000, "{}", out.describe());
}

/// When the kernel refuses every change even to root with CAP_CHOWN (here: immutable files;
/// in real life NFS root_squash or a user-namespaced mount), the app could not write its
/// volume: usher fails with exit 77 and the fix, and the app does not start.
#[test]
fn a_tree_where_every_change_is_refused_fails_with_the_fix() {
    if !require_root() || !require_tool("chattr") {
        return;
    }
    let dir = TempDir::new("chown-immutable");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..20 {
        std::fs::write(data.join(format!("f{i}")), "x").unwrap();
    }
    let chattr = |flag: &str| {
        let status = Command::new("chattr")
            .args(["-R", flag])
            .arg(&data)
            .status()
            .unwrap();
        status.success()
    };
    if !common::prerequisite(chattr("+i"), "chattr +i works on the temporary directory") {
        return;
    }
    let out = run(usher()
        .args(["--user", "nobody", "--chown"])
        .arg(&data)
        .args(["--", "echo", "app-started"]));
    assert!(chattr("-i"));
    out.expect_code(77)
        .expect_stderr_contains("21 files (")
        .expect_stderr_contains("and 18 more)")
        .expect_stderr_contains("pre-own the volume for 65534:65534");
    assert!(out.stdout().is_empty(), "the app ran\n{}", out.describe());
    assert_eq!(out.stderr().lines().count(), 1, "{}", out.describe());
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

/// Fixture users for the cases below: `app` (uid 1000) is a member of `extra` (2000), and
/// `crowd` (uid 1001) of 65,536 groups (NGROUPS_MAX).
fn fixture(dir: &TempDir) {
    std::fs::write(
        dir.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         app:x:1000:1000:app:/home/app:/bin/sh\n\
         crowd:x:1001:1001:crowd:/home/crowd:/bin/sh\n",
    )
    .unwrap();
    let mut group = String::from("root:x:0:\napp:x:1000:\nextra:x:2000:app\ncrowd:x:1001:\n");
    for g in 0..65_536 {
        group.push_str(&format!("g{g}:x:{}:crowd\n", 100_000 + g));
    }
    std::fs::write(dir.join("group"), group).unwrap();
}

/// `prefix… usher ARGS` in a private mount namespace with the fixture passwd and group.
fn with_fixture(dir: &TempDir, prefix: &[&str], args: &[&str]) -> common::Run {
    let script = "mount --bind \"$1\" /etc/passwd && mount --bind \"$2\" /etc/group && shift 2 && exec \"$@\"";
    let copy = public_copy(dir);
    let mut cmd = common::in_mount_namespace(script);
    cmd.arg(dir.join("passwd"))
        .arg(dir.join("group"))
        .args(prefix)
        .arg(copy)
        .args(args);
    run(&mut cmd)
}

/// Started as the right uid and gid but without the groups the spec gives (`docker run --user
/// 1000:1000` with `USHER_USER=app`), usher says who it is, with its groups, and who it cannot
/// become, with theirs, and how to start with those groups.
#[test]
fn not_root_the_error_shows_both_identities_and_groups() {
    if !require_root() || !require_tool("unshare") || !require_tool("setpriv") {
        return;
    }
    let dir = TempDir::new("nonroot-groups");
    fixture(&dir);
    let as_app = [
        "setpriv",
        "--reuid=1000",
        "--regid=1000",
        "--clear-groups",
        "--",
    ];
    let out = with_fixture(&dir, &as_app, &["--user", "app", "--", "echo", "app-ran"]);
    out.expect_code(77)
        .expect_stderr_contains("usher runs as app (uid 1000, gid 1000, groups none), not root")
        .expect_stderr_contains("cannot switch to app (uid 1000, gid 1000, groups 2000)")
        .expect_stderr_contains("--group-add 2000");
    assert!(out.stdout().is_empty(), "the app ran\n{}", out.describe());
    // Started with that group, the spec is its own identity: no switch, the app runs.
    let as_app_in_extra = [
        "setpriv",
        "--reuid=1000",
        "--regid=1000",
        "--groups=2000",
        "--",
    ];
    with_fixture(&dir, &as_app_in_extra, &["--user", "app", "--", "id", "-G"])
        .expect_code(0)
        .expect_stdout_contains("2000");
    // A different uid: both identities again, and the fix is to start as root.
    let out = with_fixture(&dir, &as_app, &["--user", "root", "--", "echo", "app-ran"]);
    out.expect_code(77)
        .expect_stderr_contains("usher runs as app (uid 1000, gid 1000, groups none)")
        .expect_stderr_contains("cannot switch to root (uid 0, gid 0, groups none)")
        .expect_stderr_contains("start the container as root");
}

/// A user in 65,536 groups gets all of them, but the log line names the first 16 only.
#[test]
fn the_running_as_line_is_capped_for_a_user_in_many_groups() {
    if !require_root() || !require_tool("unshare") {
        return;
    }
    let dir = TempDir::new("many-groups");
    fixture(&dir);
    let out = with_fixture(
        &dir,
        &[],
        &["--user", "crowd", "--", "sh", "-c", "id -G | wc -w"],
    );
    out.expect_code(0)
        .expect_stdout_contains("65537")
        .expect_stderr_contains("100015… and 65520 more)");
    assert!(out.stderr().len() < 1000, "{} bytes", out.stderr().len());
}

/// After the drop, usher's own HOME is the target's, not root's, so what usher does after it
/// (a database driver reading ~/.pgpass) acts as that user; the log line reads it back from
/// usher's environment.
#[test]
fn after_the_drop_usher_s_own_home_is_the_target_s() {
    if !require_root() || !require_tool("unshare") {
        return;
    }
    let dir = TempDir::new("own-home");
    fixture(&dir);
    let out = with_fixture(
        &dir,
        &["env", "HOME=/root"],
        &["--user", "app", "--", "sh", "-c", "echo HOME=$HOME"],
    );
    out.expect_code(0)
        .expect_stdout_contains("HOME=/home/app")
        .expect_stderr_contains(
            "running as app (uid 1000, gid 1000, groups 2000) with HOME /home/app",
        );
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
