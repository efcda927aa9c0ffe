//! Rule: `--user SPEC` gives the app exactly the uid, gid, supplementary groups and HOME that
//! gosu gives for the same spec and the same /etc/passwd and /etc/group; specs naming an
//! unknown user or group fail with exit 67 and the app never runs.
//!
//! Each case runs in a private mount namespace (`unshare --mount`) with fixture passwd and
//! group files bind-mounted over the real ones, and reads the app's identity from
//! /proc/self/status, as the kernel sees it.

mod common;

use common::{TempDir, require_root, require_tool, run, usher_path};

// Debian's base users as in gosu's test image, `games` a member of `users`, root of `wheel`.
const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
    daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
    games:x:5:60:games:/usr/games:/usr/sbin/nologin\n\
    nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\n\
    daemon:x:1:\n\
    wheel:x:10:root\n\
    games:x:60:\n\
    users:x:100:games\n\
    nogroup:x:65534:\n";

/// What the app saw: uid, gid, supplementary groups, HOME.
#[derive(Debug, PartialEq)]
struct Identity {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    home: String,
}

fn fixture() -> TempDir {
    let dir = TempDir::new("gosu");
    std::fs::write(dir.join("passwd"), PASSWD).unwrap();
    std::fs::write(dir.join("group"), GROUP).unwrap();
    dir
}

/// Runs usher with `--user spec` inside a mount namespace using the fixture files.
fn run_with_spec(dir: &TempDir, spec: &str) -> common::Run {
    let script = "mount --bind \"$1\" /etc/passwd && mount --bind \"$2\" /etc/group && shift 2 && exec \"$@\"";
    let mut cmd = common::in_mount_namespace(script);
    cmd.arg(dir.join("passwd"))
        .arg(dir.join("group"))
        .arg(usher_path())
        .args(["--user", spec, "--"])
        .args([
            "sh",
            "-c",
            "grep -E '^(Uid|Gid|Groups):' /proc/self/status; echo \"HOME=$HOME\"",
        ])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", "/wrong");
    run(&mut cmd)
}

fn identity(out: &common::Run) -> Identity {
    let text = out.stdout();
    let field = |name: &str| -> Vec<u32> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} line\n{}", out.describe()))
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect()
    };
    let uids = field("Uid:");
    let gids = field("Gid:");
    assert!(
        uids.iter().all(|u| *u == uids[0]),
        "real/effective/saved uids differ\n{}",
        out.describe()
    );
    assert!(
        gids.iter().all(|g| *g == gids[0]),
        "real/effective/saved gids differ\n{}",
        out.describe()
    );
    Identity {
        uid: uids[0],
        gid: gids[0],
        groups: field("Groups:"),
        home: text
            .lines()
            .find_map(|l| l.strip_prefix("HOME="))
            .unwrap_or_default()
            .to_string(),
    }
}

#[test]
fn gosu_conformance_table() {
    if !require_root() || !require_tool("unshare") {
        return;
    }
    let dir = fixture();
    // gosu's table, for a caller that is root (uid 0, gid 0): an unknown uid keeps the
    // caller's gid; an explicit group means no supplementary groups.
    let table: &[(&str, u32, u32, &[u32], &str)] = &[
        ("0", 0, 0, &[10], "/root"),
        ("root", 0, 0, &[10], "/root"),
        ("0:", 0, 0, &[10], "/root"),
        ("0:0", 0, 0, &[], "/root"),
        ("root:root", 0, 0, &[], "/root"),
        ("1000", 1000, 0, &[], "/"),
        ("0:1000", 0, 1000, &[], "/root"),
        ("1000:root", 1000, 0, &[], "/"),
        ("games", 5, 60, &[100], "/usr/games"),
        ("games:daemon", 5, 1, &[], "/usr/games"),
        ("games:users", 5, 100, &[], "/usr/games"),
        ("nobody", 65534, 65534, &[], "/nonexistent"),
        ("", 0, 0, &[10], "/root"),
        (":0", 0, 0, &[], "/root"),
        (":games", 0, 60, &[], "/root"),
        ("65534:65534", 65534, 65534, &[], "/nonexistent"),
    ];
    for (spec, uid, gid, groups, home) in table {
        let out = run_with_spec(&dir, spec);
        out.expect_code(0);
        assert_eq!(
            identity(&out),
            Identity {
                uid: *uid,
                gid: *gid,
                groups: groups.to_vec(),
                home: home.to_string()
            },
            "spec {spec:?}\n{}",
            out.describe()
        );
    }
}

#[test]
fn unknown_users_and_groups_fail_before_the_app_runs() {
    if !require_root() || !require_tool("unshare") {
        return;
    }
    let dir = fixture();
    for spec in ["bogus", "0day", "0:bogus", "0:0day", "games:nosuchgroup"] {
        let out = run_with_spec(&dir, spec);
        out.expect_code(67);
        assert!(
            !out.stdout().contains("Uid:"),
            "the app ran\n{}",
            out.describe()
        );
        out.expect_stderr_contains(
            spec.split(':')
                .find(|p| p.contains("bogus") || p.contains("0day") || p.contains("nosuch"))
                .unwrap(),
        );
    }
}

#[test]
fn ids_out_of_range_never_wrap_to_root() {
    if !require_root() || !require_tool("unshare") {
        return;
    }
    let dir = fixture();
    for spec in [
        "4294967296",
        "4294967296:0",
        "0:4294967296",
        "2147483648",
        "-1",
    ] {
        let out = run_with_spec(&dir, spec);
        out.expect_code(64);
        out.expect_stderr_contains("out of range");
        assert!(
            !out.stdout().contains("Uid:"),
            "the app ran\n{}",
            out.describe()
        );
    }
}
