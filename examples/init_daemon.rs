//! Test helper for init mode: an app that leaves a daemon behind and exits.
//!
//! `init_daemon [--ignore-term] CODE`
//!
//! Starts a daemon by double fork and setsid, waits until the daemon is ready, then exits with
//! CODE. The daemon prints `daemon ready pid=P`, then `daemon got SIGXXX` for each signal it
//! receives; it exits on SIGTERM, unless `--ignore-term`, where it keeps running (only SIGKILL
//! ends it).
use std::io::{Read, Write};

use nix::libc;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::unistd::{ForkResult, fork, pipe};

fn main() {
    let mut ignore_term = false;
    let mut code = 0;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--ignore-term" => ignore_term = true,
            n => code = n.parse().expect("CODE"),
        }
    }
    let (read_end, write_end) = pipe().expect("pipe");
    // SAFETY: the children only make plain system calls and print.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let _ = nix::unistd::setsid();
            // SAFETY: as above.
            if let ForkResult::Child = unsafe { fork() }.expect("fork") {
                drop(read_end);
                daemon(ignore_term, write_end);
            }
            // SAFETY: leave without running the parent's exit handlers.
            unsafe { libc::_exit(0) };
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            nix::sys::wait::waitpid(child, None).expect("waitpid");
            let mut ready = [0u8; 1];
            std::fs::File::from(read_end)
                .read_exact(&mut ready)
                .expect("the daemon did not get ready");
            std::process::exit(code);
        }
    }
}

fn daemon(ignore_term: bool, ready: std::os::fd::OwnedFd) -> ! {
    let all = SigSet::all();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&all), None).expect("sigprocmask");
    say(&format!("daemon ready pid={}", std::process::id()));
    let _ = std::fs::File::from(ready).write_all(b"r");
    loop {
        // SAFETY: a valid set; siginfo may be null.
        let signal = unsafe { libc::sigwaitinfo(all.as_ref(), std::ptr::null_mut()) };
        let Ok(signal) = Signal::try_from(signal) else {
            continue;
        };
        say(&format!("daemon got {}", signal.as_str()));
        if signal == Signal::SIGTERM && !ignore_term {
            std::process::exit(0);
        }
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("{line}\n").as_bytes());
    let _ = out.flush();
}
