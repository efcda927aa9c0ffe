//! Rule: in init mode usher exits with the app's exit status, or 128+N when signal N killed
//! it; an app that cannot be executed gives 127/126 with the same message as in exec mode.
mod common;

use common::live::{Live, require_pid_namespaces, usher_in_pid_namespace};

#[test]
fn exit_statuses_pass_through() {
    if !require_pid_namespaces() {
        return;
    }
    for code in [0, 1, 2, 127, 255] {
        let mut run =
            Live::start(usher_in_pid_namespace().args(["sh", "-c", &format!("exit {code}")]));
        run.expect_code(code);
    }
}

#[test]
fn death_by_signal_gives_128_plus_n() {
    if !require_pid_namespaces() {
        return;
    }
    for (signal, code) in [("USR1", 138), ("KILL", 137), ("SEGV", 139)] {
        let mut run =
            Live::start(usher_in_pid_namespace().args(["sh", "-c", &format!("kill -{signal} $$")]));
        run.expect_code(code);
    }
}

/// Outside a namespace (`--init always`, as a subreaper) the same holds.
#[test]
fn statuses_pass_through_as_a_subreaper_too() {
    let mut run = Live::start(common::usher().args(["--init", "always", "sh", "-c", "exit 3"]));
    run.expect_code(3);
    let mut run =
        Live::start(common::usher().args(["--init", "always", "sh", "-c", "kill -TERM $$"]));
    run.expect_code(143);
}

/// execve fails in the child: the errno comes back to usher, which reports it as exec mode
/// does. A script whose interpreter is missing: ENOENT, 127; a file in no executable format:
/// ENOEXEC, 126.
#[test]
fn a_failed_exec_gives_the_same_code_and_message_as_exec_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = common::TempDir::new("init-exec-fail");
    let no_interpreter = dir.join("no-interpreter");
    std::fs::write(&no_interpreter, "#!/nonexistent/interpreter\n").unwrap();
    let not_a_program = dir.join("not-a-program");
    std::fs::write(&not_a_program, [0u8, 1, 2, 3, 4, 5, 6, 7]).unwrap();
    for file in [&no_interpreter, &not_a_program] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for (file, code, message) in [
        (&no_interpreter, 127, "a file it needs is missing"),
        (&not_a_program, 126, "not an executable format"),
    ] {
        let exec = common::run(common::usher().args(["--init", "never"]).arg(file));
        exec.expect_code(code).expect_stderr_contains(message);
        let init = common::run(common::usher().args(["--init", "always"]).arg(file));
        init.expect_code(code).expect_stderr_contains(message);
    }
}
