//! Test helper for init mode: prints every signal it receives, one line each, so a test can
//! see which signals reached the app.
//!
//! `init_sigprint [--name NAME] [--exit-on SIG|none] [--spawn-grandchild]`
//!
//! - Blocks every signal it can and takes them with `sigwaitinfo`, so none kills it.
//! - Prints `NAME ready pid=P pgid=G fg=F` (F: the terminal's foreground group, or -1), then
//!   `NAME got SIGXXX` for each signal (`signal N` for real-time ones).
//! - Exits 0 on the `--exit-on` signal (default TERM; `none`: never).
//! - `--spawn-grandchild` first starts another copy named `grandchild` as a plain child (same
//!   process group), to test `--signal-group`.
use std::io::Write;

use nix::libc;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};

fn main() {
    // First thing: nothing may kill us before we report.
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None).expect("sigprocmask");
    let mut name = "child".to_string();
    let mut exit_on = Some(libc::SIGTERM);
    let mut spawn_grandchild = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--name" => name = args.next().expect("--name NAME"),
            "--exit-on" => {
                let v = args.next().expect("--exit-on SIG");
                exit_on = (v != "none").then(|| signal_number(&v));
            }
            "--spawn-grandchild" => spawn_grandchild = true,
            other => panic!("unknown argument {other}"),
        }
    }
    let _grandchild = spawn_grandchild.then(|| {
        std::process::Command::new(std::env::current_exe().expect("current_exe"))
            .args(["--name", "grandchild"])
            .spawn()
            .expect("spawn grandchild")
    });
    let fg = nix::unistd::tcgetpgrp(std::io::stdin()).map_or(-1, |p| p.as_raw());
    say(&format!(
        "{name} ready pid={} pgid={} fg={fg}",
        std::process::id(),
        nix::unistd::getpgrp()
    ));
    let all = SigSet::all();
    loop {
        // SAFETY: a valid set; siginfo may be null.
        let signal = unsafe { libc::sigwaitinfo(all.as_ref(), std::ptr::null_mut()) };
        if signal <= 0 {
            continue;
        }
        let signal_name = match Signal::try_from(signal) {
            Ok(s) => s.as_str().to_string(),
            Err(_) => format!("signal {signal}"),
        };
        say(&format!("{name} got {signal_name}"));
        if Some(signal) == exit_on {
            std::process::exit(0);
        }
    }
}

fn signal_number(v: &str) -> i32 {
    if let Ok(n) = v.parse() {
        return n;
    }
    let full = if v.starts_with("SIG") {
        v.to_string()
    } else {
        format!("SIG{v}")
    };
    full.parse::<Signal>().expect("a signal name") as i32
}

/// One line, written at once and flushed, so lines from several processes do not mix.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("{line}\n").as_bytes());
    let _ = out.flush();
}
