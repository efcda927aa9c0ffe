//! Rule: while the app runs and nothing happens, usher never wakes up (no periodic timer;
//! tini wakes once a second), and the supervising process is small.
mod common;

use std::time::Duration;

use common::live::{
    Live, children_of, namespace_init, require_pid_namespaces, status_field,
    usher_in_pid_namespace, wait_for_child_named,
};

#[test]
fn an_idle_supervisor_never_wakes_up() {
    if !require_pid_namespaces() {
        return;
    }
    let mut run = Live::start(usher_in_pid_namespace().args(["sleep", "1000"]));
    let usher = namespace_init(&mut run);
    wait_for_child_named(&mut run, usher, "sleep");
    let switches = || {
        status_field(usher, "voluntary_ctxt_switches")
            .and_then(|v| v.parse::<u64>().ok())
            .expect("voluntary_ctxt_switches")
    };
    let before = switches();
    std::thread::sleep(Duration::from_secs(3));
    let after = switches();
    assert_eq!(
        after - before,
        0,
        "usher woke up {} times in 3 s while idle\n{}",
        after - before,
        run.describe()
    );
    assert_eq!(children_of(usher).len(), 1);
}

/// The supervisor is a fresh exec of usher: its memory is the init loop's, not the
/// start-up's. The 400 KB target is for the static release build (bench/init.sh); this debug
/// build is larger, so the bound here only catches a supervisor that kept the start-up
/// (several MB with the database drivers).
#[test]
fn the_supervisor_is_a_fresh_small_process() {
    if !require_pid_namespaces() {
        return;
    }
    let mut run = Live::start(usher_in_pid_namespace().args(["sleep", "1000"]));
    let usher = namespace_init(&mut run);
    wait_for_child_named(&mut run, usher, "sleep");
    let cmdline = std::fs::read_to_string(format!("/proc/{usher}/cmdline")).unwrap();
    assert!(cmdline.contains("--supervise-internal"), "{cmdline:?}");
    let rss_kb: u64 = status_field(usher, "VmRSS")
        .and_then(|v| v.trim_end_matches(" kB").trim().parse().ok())
        .expect("VmRSS");
    assert!(rss_kb < 4096, "supervisor VmRSS {rss_kb} kB");
}
