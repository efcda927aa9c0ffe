//! Rule: when stdin is a terminal (`docker run -it`), the app's process group is the
//! terminal's foreground group, so Ctrl-C reaches the app straight from the terminal.
//!
//! The terminal is a pty made by `script`; usher runs as PID 1 of a PID namespace inside it.
//! usher is told to drop SIGINT (`--rewrite-signal INT:0`), so the app can only get the
//! Ctrl-C from the terminal itself, never from usher forwarding it.
mod common;

use common::live::{Live, example, require_pid_namespaces};

#[test]
fn ctrl_c_reaches_the_app_through_the_terminal() {
    if !require_pid_namespaces() || !common::require_tool("script") {
        return;
    }
    let command = format!(
        "exec unshare --pid --fork --mount-proc --kill-child {} --rewrite-signal INT:0 {} --exit-on INT",
        common::sh_quote(common::usher_path()),
        common::sh_quote(example("init_sigprint")),
    );
    let mut cmd = std::process::Command::new("script");
    // -q: no banner; -e: script's exit code is the command's; the typescript is discarded.
    cmd.args(["-q", "-e", "-c", &command, "/dev/null"]);
    cmd.current_dir("/");
    cmd.env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    let mut run = Live::start_with_stdin(&mut cmd);
    run.wait_for_stdout("child ready");
    // The app's own group is in the foreground.
    let ready = run.stdout();
    let ready = ready
        .lines()
        .find(|l| l.starts_with("child ready"))
        .unwrap()
        .trim_end()
        .to_string();
    let field = |name: &str| {
        ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {ready:?}"))
            .to_string()
    };
    assert_eq!(field("fg="), field("pgid="), "{}", run.describe());
    // Ctrl-C, typed on the terminal.
    run.write_stdin(b"\x03");
    run.wait_for_stdout("child got SIGINT");
    run.expect_code(0);
}

/// No terminal (no `-it`): no terminal handling and nothing about it in the log.
#[test]
fn without_a_terminal_nothing_is_attempted() {
    let mut run =
        Live::start(common::usher().args(["--init", "always", "--log-level", "debug", "true"]));
    run.expect_code(0);
    let err = run.stderr();
    assert!(err.contains("foreground=false"), "{}", run.describe());
    assert!(
        !err.contains("warning") && !err.contains("error"),
        "{}",
        run.describe()
    );
}
