//! Rule: outside init mode, usher replaces itself with the app (same PID, nothing of usher
//! left), finds it with the app's PATH skipping relative entries, passes its arguments byte for
//! byte, starts it with the signal mask and dispositions usher was started with, and fails with
//! the shell's codes: 127 not found, 126 found but not executable.

mod common;

use common::{TempDir, run, usher};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Stdio;

#[test]
fn the_app_takes_over_usher_s_pid() {
    let child = usher()
        .args(["--", "sh", "-c", "echo $$ $PPID; cat /proc/$$/comm"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let ids: Vec<u32> = lines
        .next()
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(ids[0], pid, "the app runs under usher's PID");
    assert_eq!(
        ids[1],
        std::process::id(),
        "the app's parent is usher's parent"
    );
    assert_eq!(lines.next(), Some("sh"), "the process image is the app's");
    assert!(out.status.success());
}

#[test]
fn arguments_pass_through_byte_for_byte() {
    let weird: Vec<&OsStr> = vec![
        OsStr::new("--user"),
        OsStr::new("--"),
        OsStr::new(""),
        OsStr::new("two words"),
        OsStr::new("-h"),
        OsStr::new("--help"),
        OsStr::new("migrate"),
        OsStr::from_bytes(b"\xff\xfe not utf-8"),
        OsStr::new("quote ' and \" and \\"),
    ];
    let out = run(usher()
        .args(["--", "sh", "-c", "printf '%s\\0' \"$@\"", "sh"])
        .args(&weird));
    out.expect_code(0);
    let got: Vec<&[u8]> = out.output.stdout.split(|b| *b == 0).collect();
    let want: Vec<&[u8]> = weird
        .iter()
        .map(|a| a.as_bytes())
        .chain([&b""[..]])
        .collect();
    assert_eq!(got, want, "\n{}", out.describe());
}

#[test]
fn a_first_word_that_is_not_an_option_starts_the_command() {
    let out = run(usher().args(["echo", "--user", "x"]));
    out.expect_code(0).expect_stdout_contains("--user x");
}

#[test]
fn the_app_s_status_is_its_own() {
    run(usher().args(["--", "sh", "-c", "exit 42"])).expect_code(42);
}

#[test]
fn command_not_found_is_127() {
    let out = run(usher().args(["--", "no-such-command-anywhere"]));
    out.expect_code(127)
        .expect_stderr_contains("no-such-command-anywhere: command not found in PATH=");
    run(usher().args(["--", "/no/such/file"])).expect_code(127);
}

#[test]
fn a_directory_or_non_executable_file_is_126() {
    let dir = TempDir::new("exec126");
    run(usher().args(["--"]).arg(dir.path()))
        .expect_code(126)
        .expect_stderr_contains("directory");

    let file = dir.join("data.txt");
    std::fs::write(&file, "not a program\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    run(usher().arg("--").arg(&file))
        .expect_code(126)
        .expect_stderr_contains("permission denied");

    // Found on PATH but not executable: 126, like a shell.
    let out = run(usher().env("PATH", dir.path()).args(["--", "data.txt"]));
    out.expect_code(126)
        .expect_stderr_contains("permission denied");
}

#[test]
fn a_script_without_interpreter_line_is_126_and_a_missing_interpreter_is_127() {
    let dir = TempDir::new("exec-script");
    let no_shebang = dir.join("no-shebang");
    std::fs::write(&no_shebang, "echo hi\n").unwrap();
    std::fs::set_permissions(&no_shebang, std::fs::Permissions::from_mode(0o755)).unwrap();
    run(usher().arg("--").arg(&no_shebang))
        .expect_code(126)
        .expect_stderr_contains("#!");

    let bad_interp = dir.join("bad-interp");
    std::fs::write(&bad_interp, "#!/no/such/interpreter\necho hi\n").unwrap();
    std::fs::set_permissions(&bad_interp, std::fs::Permissions::from_mode(0o755)).unwrap();
    run(usher().arg("--").arg(&bad_interp))
        .expect_code(127)
        .expect_stderr_contains("interpreter");
}

#[test]
fn relative_path_entries_are_skipped() {
    let dir = TempDir::new("exec-dot");
    let prog = dir.join("hello");
    std::fs::write(&prog, "#!/bin/sh\necho from-cwd\n").unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(usher()
        .current_dir(dir.path())
        .env("PATH", ".:/usr/bin:/bin")
        .args(["--", "hello"]));
    out.expect_code(127).expect_stderr_contains("./name");
    // An explicit path still works.
    run(usher().current_dir(dir.path()).args(["--", "./hello"]))
        .expect_code(0)
        .expect_stdout_contains("from-cwd");
}

#[test]
fn path_lookup_uses_the_app_s_path() {
    let dir = TempDir::new("exec-path");
    let prog = dir.join("only-here");
    std::fs::write(&prog, "#!/bin/sh\necho found-it\n").unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", dir.path().display());
    run(usher().env("PATH", path).args(["--", "only-here"]))
        .expect_code(0)
        .expect_stdout_contains("found-it");
}

/// Signals 32–34 belong to the C library (glibc's thread cancellation and set*id broadcast,
/// musl's too): it manages their dispositions itself and refuses anyone else's, so they are
/// left out of the comparisons.
const LIBC_INTERNAL: u64 = 0b111 << 31;

/// Parses `SigBlk:`/`SigIgn:` hex masks from /proc/self/status output.
fn mask(text: &str, field: &str) -> u64 {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_else(|| panic!("no {field} in {text}"));
    u64::from_str_radix(line.trim(), 16).unwrap() & !LIBC_INTERNAL
}

const USR1: u64 = 1 << (10 - 1);
const USR2: u64 = 1 << (12 - 1);
const PIPE: u64 = 1 << (13 - 1);
const TERM: u64 = 1 << (15 - 1);

/// The masks a process sees when started directly by `cmd_setup` (the test harness's own
/// spawn may leave C-library-internal signals ignored; usher must pass on exactly that).
fn direct_masks(setup: impl Fn(&mut std::process::Command)) -> (u64, u64) {
    let mut cmd = std::process::Command::new("grep");
    cmd.args(["-E", "^Sig(Blk|Ign)", "/proc/self/status"]);
    setup(&mut cmd);
    let out = run(&mut cmd);
    (
        mask(&out.stdout(), "SigBlk:"),
        mask(&out.stdout(), "SigIgn:"),
    )
}

fn usher_masks(setup: impl Fn(&mut std::process::Command)) -> (u64, u64) {
    let mut cmd = usher();
    cmd.args(["--", "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]);
    setup(&mut cmd);
    let out = run(&mut cmd);
    out.expect_code(0);
    (
        mask(&out.stdout(), "SigBlk:"),
        mask(&out.stdout(), "SigIgn:"),
    )
}

/// Starts the process with USR1 ignored and USR2 blocked.
fn ignore_usr1_block_usr2(cmd: &mut std::process::Command) {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            use nix::sys::signal::{
                SigHandler, SigSet, SigmaskHow, Signal, pthread_sigmask, signal,
            };
            signal(Signal::SIGUSR1, SigHandler::SigIgn).map_err(std::io::Error::from)?;
            let mut set = SigSet::empty();
            set.add(Signal::SIGUSR2);
            pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&set), None)
                .map_err(std::io::Error::from)?;
            Ok(())
        });
    }
}

#[test]
fn the_app_starts_with_usher_s_own_mask_and_dispositions() {
    // Plain start: usher blocks and ignores nothing of its own in the app — not even SIGPIPE,
    // which the Rust runtime would ignore in a program with a Rust `main`.
    let plain = usher_masks(|_| {});
    assert_eq!(plain, direct_masks(|_| {}));
    assert_eq!(plain.0, 0, "nothing blocked");
    assert_eq!(
        plain.1 & (USR1 | PIPE | TERM),
        0,
        "nothing of usher's ignored"
    );

    // Started with USR1 ignored and USR2 blocked: the app gets exactly that (tini's sigconf).
    let changed = usher_masks(ignore_usr1_block_usr2);
    assert_eq!(changed, direct_masks(ignore_usr1_block_usr2));
    assert_eq!(changed.0, USR2);
    assert_eq!(changed.1 & (USR1 | PIPE | TERM), USR1);
}

#[test]
fn no_new_privs_reaches_the_app() {
    let out = run(usher().args([
        "--no-new-privs",
        "--",
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]));
    out.expect_code(0);
    assert!(
        out.stdout().contains("NoNewPrivs:\t1"),
        "\n{}",
        out.describe()
    );
    let out = run(usher().env("USHER_NO_NEW_PRIVS", "true").args([
        "--",
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]));
    assert!(
        out.stdout().contains("NoNewPrivs:\t1"),
        "\n{}",
        out.describe()
    );
    let out = run(usher().args(["--", "grep", "NoNewPrivs", "/proc/self/status"]));
    assert!(
        out.stdout().contains("NoNewPrivs:\t0"),
        "\n{}",
        out.describe()
    );
}

#[test]
fn the_environment_reaches_the_app_unchanged() {
    let out = run(usher()
        .env("APP_SETTING", "value with spaces")
        .env("USHER_LOG_LEVEL", "warn")
        .args([
            "--",
            "sh",
            "-c",
            "echo \"$APP_SETTING\"; echo \"$USHER_LOG_LEVEL\"",
        ]));
    out.expect_code(0)
        .expect_stdout_contains("value with spaces\nwarn\n");
    assert_eq!(
        out.stderr(),
        "",
        "the happy path without a drop prints nothing"
    );
}

#[test]
fn a_migration_run_before_the_exec_leaves_no_trace_in_the_app_s_signal_state() {
    // The database stage (async runtime, driver, TLS) runs in usher's process before the exec;
    // none of it may leave a blocked or ignored signal behind for the app.
    let dir = TempDir::new("exec-after-migrate");
    let migrate = |cmd: &mut std::process::Command| {
        cmd.env(
            "DATABASE_URL",
            format!("sqlite://{}/app.db", dir.path().display()),
        )
        .env(
            "USHER_MIGRATIONS",
            concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"),
        );
    };
    let plain = usher_masks(migrate);
    assert_eq!(plain, direct_masks(|_| {}));
    let changed = usher_masks(|cmd| {
        migrate(cmd);
        ignore_usr1_block_usr2(cmd);
    });
    assert_eq!(changed, direct_masks(ignore_usr1_block_usr2));
    assert!(
        dir.join("app.db").exists(),
        "the migration stage did not run"
    );
}

/// A usher subcommand or flag given as the app's command (`ENTRYPOINT ["usher", "--"]`, then
/// `docker run IMAGE migrate`) fails at once with 127 and says how to run usher itself —
/// before waiting or migrating, so nothing else happens.
#[test]
fn a_usher_subcommand_after_the_double_dash_says_how_to_run_usher() {
    let dir = TempDir::new("exec-usher-word");
    for words in [
        &["migrate"][..],
        &["migrate", "--dry-run"],
        &["status"],
        &["resolve", "20250101000000", "--applied"],
        &["health", "db"],
        &["help"],
        &["version"],
        &["--help"],
        &["-h"],
        &["--version"],
        &["--user=app"],
    ] {
        let started = std::time::Instant::now();
        // A dependency that never appears: usher must not wait for it (60 s) first.
        let out = run(usher()
            .arg("--wait")
            .arg(format!("file://{}", dir.join("never").display()))
            .arg("--")
            .args(words));
        out.expect_code(127)
            .expect_stderr_contains("command not found")
            .expect_stderr_contains("docker run --entrypoint ")
            .expect_stderr_contains(&format!("IMAGE {}", words.join(" ")))
            .expect_stderr_contains("remove the `--`");
        assert_eq!(
            out.stderr().matches("docker run --entrypoint").count(),
            1,
            "the advice once\n{}",
            out.describe()
        );
        assert!(
            !out.stderr().contains("waiting"),
            "usher waited first\n{}",
            out.describe()
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{}",
            out.describe()
        );
    }
    // A program of the image that happens to share the name runs as usual.
    let prog = dir.join("status");
    std::fs::write(&prog, "#!/bin/sh\necho the-image-s-status\n").unwrap();
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
    run(usher()
        .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
        .args(["--", "status"]))
    .expect_code(0)
    .expect_stdout_contains("the-image-s-status");
    // Any other missing command gets no such advice.
    let out = run(usher().args(["--", "no-such-command-anywhere"]));
    out.expect_code(127);
    assert!(!out.stderr().contains("entrypoint"), "{}", out.describe());
}

/// A program on a filesystem mounted noexec is reported as such, not as "chmod +x it" (which
/// cannot help), whether it is found through PATH or given as a path.
#[test]
fn a_program_on_a_noexec_mount_is_reported_as_such() {
    if !common::require_root() || !common::require_tool("unshare") {
        return;
    }
    let dir = TempDir::new("exec-noexec");
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    // A private tmpfs mounted noexec, holding an executable script and a copy of a binary.
    let script = "mount -t tmpfs -o noexec tmpfs \"$1\" && \
                  printf '#!/bin/sh\\necho ran\\n' > \"$1/tool\" && cp /bin/true \"$1/bin-true\" && \
                  chmod 755 \"$1/tool\" \"$1/bin-true\" && shift && exec \"$@\"";
    for (path_var, command) in [
        (
            format!("{}:/usr/bin:/bin", mnt.display()),
            "tool".to_string(),
        ),
        (
            format!("{}:/usr/bin:/bin", mnt.display()),
            "bin-true".to_string(),
        ),
        (
            "/usr/bin:/bin".to_string(),
            mnt.join("tool").display().to_string(),
        ),
        (
            "/usr/bin:/bin".to_string(),
            mnt.join("bin-true").display().to_string(),
        ),
    ] {
        let out = run(common::in_mount_namespace(script)
            .arg(&mnt)
            .arg(common::usher_path())
            .args(["--", &command])
            .env("PATH", &path_var));
        out.expect_code(126)
            .expect_stderr_contains("mounted noexec")
            .expect_stderr_contains("mount it without noexec");
        assert!(!out.stderr().contains("chmod +x it"), "{}", out.describe());
        assert!(!out.stdout().contains("ran"), "{}", out.describe());
    }
    // The same in init mode, where the supervisor's child fails to exec.
    let out = run(common::in_mount_namespace(script)
        .arg(&mnt)
        .arg(common::usher_path())
        .args(["--init", "always", "--"])
        .arg(mnt.join("bin-true")));
    out.expect_code(126)
        .expect_stderr_contains("mounted noexec");
    // A script elsewhere whose #! interpreter sits on the noexec mount: the interpreter is named.
    let script_elsewhere = dir.join("uses-noexec-interpreter");
    std::fs::write(
        &script_elsewhere,
        format!("#!{}/bin-true\necho ran\n", mnt.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script_elsewhere, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(common::in_mount_namespace(script)
        .arg(&mnt)
        .arg(common::usher_path())
        .arg("--")
        .arg(&script_elsewhere));
    out.expect_code(126)
        .expect_stderr_contains(&format!("#! interpreter {}/bin-true", mnt.display()))
        .expect_stderr_contains("mounted noexec");
}
