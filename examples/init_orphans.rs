//! Test helper for init mode: makes orphans and reports whether whoever inherited them reaped
//! them.
//!
//! `init_orphans COUNT [--daemon] [--wait SECONDS]`
//!
//! Starts COUNT grandchildren by double fork: each intermediate child exits at once, so its
//! child is re-parented to the init (or subreaper) above us. Each grandchild waits until it
//! has been re-parented, reports its new parent through a pipe, lives a little (`--daemon`: it
//! also calls setsid and lives longer, as a daemon would), then exits. We then watch /proc
//! until every grandchild is gone (reaped) or `--wait` seconds pass (default 10), and print:
//!
//! ```text
//! orphans: COUNT parents: P[,P...]
//! reaped: R of COUNT zombies: Z
//! ```
//!
//! Exit 0 when all were reaped, 1 otherwise. While it watches, this process keeps running, so
//! the reaping must be done by the init above it, not by the kernel at the init's exit.
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::libc;
use nix::unistd::{ForkResult, Pid, fork, getppid, pipe};

fn main() {
    let mut count: usize = 0;
    let mut daemon = false;
    let mut wait = Duration::from_secs(10);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--daemon" => daemon = true,
            "--wait" => wait = Duration::from_secs_f64(args.next().unwrap().parse().unwrap()),
            n => count = n.parse().expect("COUNT"),
        }
    }
    let (read_end, write_end) = pipe().expect("pipe");
    let mut intermediates = Vec::new();
    for _ in 0..count {
        // SAFETY: the children only make plain system calls before _exit.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let me = nix::unistd::getpid();
                // SAFETY: as above.
                if let ForkResult::Child = unsafe { fork() }.expect("fork") {
                    orphan(me, daemon, write_end.as_raw_fd());
                }
                // SAFETY: leave without running the parent's exit handlers.
                unsafe { libc::_exit(0) };
            }
            ForkResult::Parent { child } => intermediates.push(child),
        }
    }
    drop(write_end);
    for child in intermediates {
        nix::sys::wait::waitpid(child, None).expect("waitpid intermediate");
    }
    // Each orphan wrote "pid ppid\n"; EOF once all have written and exited or closed.
    let mut reports = String::new();
    std::fs::File::from(read_end)
        .read_to_string(&mut reports)
        .expect("read reports");
    let orphans: Vec<(i32, i32)> = reports
        .lines()
        .map(|l| {
            let (p, pp) = l.split_once(' ').unwrap();
            (p.parse().unwrap(), pp.parse().unwrap())
        })
        .collect();
    let mut parents: Vec<i32> = orphans.iter().map(|(_, pp)| *pp).collect();
    parents.sort();
    parents.dedup();
    let parents: Vec<String> = parents.iter().map(i32::to_string).collect();
    say(&format!(
        "orphans: {} parents: {}",
        orphans.len(),
        parents.join(",")
    ));

    let until = Instant::now() + wait;
    let (mut reaped, mut zombies);
    loop {
        reaped = 0;
        zombies = 0;
        for (pid, _) in &orphans {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => reaped += 1,
                Ok(stat) if state(&stat) == Some('Z') => zombies += 1,
                Ok(_) => {}
            }
        }
        if reaped == count || Instant::now() >= until {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    say(&format!("reaped: {reaped} of {count} zombies: {zombies}"));
    std::process::exit(if reaped == count { 0 } else { 1 });
}

/// A grandchild: wait to be re-parented, report, live a little, exit.
fn orphan(first_parent: Pid, daemon: bool, report: i32) -> ! {
    if daemon {
        let _ = nix::unistd::setsid();
    }
    while getppid() == first_parent {
        std::thread::sleep(Duration::from_millis(1));
    }
    let line = format!("{} {}\n", nix::unistd::getpid(), getppid());
    // SAFETY: writing a valid buffer to the inherited pipe; a short line is written at once.
    unsafe {
        libc::write(report, line.as_ptr().cast(), line.len());
        libc::close(report);
    }
    std::thread::sleep(Duration::from_millis(if daemon { 300 } else { 50 }));
    // SAFETY: leave without running the parent's exit handlers.
    unsafe { libc::_exit(0) }
}

/// The state letter of a /proc/PID/stat line (after the last ')', proc(5)).
fn state(stat: &str) -> Option<char> {
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("{line}\n").as_bytes());
    let _ = out.flush();
}
