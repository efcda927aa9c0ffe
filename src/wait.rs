//! The wait stage: before the app starts, wait for every `--wait` dependency at once, within
//! the `--wait-timeout` deadline it shares with the database wait that follows.
//!
//! Each dependency gets a thread that tries it, pauses `--wait-interval`, and tries again,
//! each attempt bounded by `--wait-attempt-timeout` (dockerize's model). The stage's own
//! thread only collects results, so it sees a stop signal or the deadline at once even while
//! every probe is stuck in DNS or connect. On timeout usher exits 69 and never runs the app
//! (wait-for-it runs it anyway unless given `-s`; a half-started app is worse than none).

use std::time::{Duration, Instant};

use crate::config::WaitSettings;
use crate::exit::{Error, Kind, Result};
use crate::readiness::{self, Next, Reached, Report, Target, elapsed, setting};
use crate::redact::redact;
use crate::signals::Startup;

/// One dependency as the stage tracks it.
struct Dependency {
    /// The URL with any password hidden: the only form that is ever printed.
    shown: String,
    ready: bool,
    /// Why the latest attempt failed; `None` until one has.
    last_error: Option<String>,
}

/// Waits until every `--wait` dependency is ready, the deadline passes (`Kind::Unavailable`),
/// or a stop signal arrives (`Kind::Interrupted`).
pub fn dependencies(settings: &WaitSettings, deadline: Instant, startup: &Startup) -> Result<()> {
    if settings.targets.is_empty() {
        return Ok(());
    }
    let start = Instant::now();
    let mut deps = Vec::with_capacity(settings.targets.len());
    let (sender, inbox) = readiness::channel().map_err(|e| Error::os("socketpair", e))?;
    for (index, url) in settings.targets.iter().enumerate() {
        // Config::from_args validated every URL; a failure here would be a bug.
        let target = Target::parse(url)
            .map_err(|fix| Error::new(Kind::Internal, format!("--wait {}: {fix}", redact(url))))?;
        let sender = sender.clone();
        let (interval, attempt_timeout) = (settings.interval, settings.attempt_timeout);
        std::thread::Builder::new()
            .spawn(move || {
                keep_trying(index, &target, interval, attempt_timeout, deadline, &sender)
            })
            .map_err(|e| Error::os("spawn a thread for --wait", e))?;
        deps.push(Dependency {
            shown: redact(url),
            ready: false,
            last_error: None,
        });
    }
    drop(sender);
    crate::log::log_step!(
        INFO,
        "wait",
        "waiting up to {} for {}",
        setting(settings.timeout),
        deps.iter()
            .map(|d| d.shown.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    while deps.iter().any(|d| !d.ready) {
        match inbox.next(deadline, startup) {
            Next::Report(Report { index, result }) => {
                let dep = &mut deps[index];
                match result {
                    Ok(reached) => {
                        dep.ready = true;
                        crate::log::log_step!(
                            INFO,
                            "wait",
                            "{} is ready ({reached}) after {}",
                            dep.shown,
                            elapsed(start.elapsed())
                        );
                    }
                    Err(why) => {
                        // The first failure is worth a line (the user sees what is being
                        // waited for and why); the rest only at debug.
                        if dep.last_error.is_none() {
                            crate::log::log_step!(
                                INFO,
                                "wait",
                                "{} is not ready yet: {why}; retrying every {}",
                                dep.shown,
                                setting(settings.interval)
                            );
                        } else {
                            crate::log::log_step!(
                                DEBUG,
                                "wait",
                                "{} is not ready yet: {why}",
                                dep.shown
                            );
                        }
                        dep.last_error = Some(why);
                    }
                }
            }
            Next::Deadline => return Err(timed_out(&deps, settings.timeout)),
            Next::Stopped(signal) => {
                return Err(Error::interrupted(signal, "the wait for dependencies"));
            }
        }
    }
    Ok(())
}

/// A probe thread: attempt, pause, attempt again, until ready or the deadline. (When the
/// stage ends early, usher exits, and the thread with it.)
fn keep_trying(
    index: usize,
    target: &Target,
    interval: Duration,
    attempt_timeout: Duration,
    deadline: Instant,
    sender: &readiness::Sender,
) {
    while let Some(left) = readiness::remaining(deadline) {
        let result = ready(target, Instant::now() + left.min(attempt_timeout));
        let done = result.is_ok();
        sender.send(Report { index, result });
        if done {
            return;
        }
        let pause =
            readiness::remaining(deadline).map_or(Duration::ZERO, |left| left.min(interval));
        std::thread::sleep(pause);
    }
}

/// One attempt, judged by the `--wait` rule: a connection, an existing path, or an HTTP
/// status of 200–399 (the kubelet's rule; a redirect means the server is up).
fn ready(target: &Target, deadline: Instant) -> std::result::Result<Reached, String> {
    match target.attempt(deadline)? {
        Reached::Http(status) if !(200..=399).contains(&status.code) => {
            Err(format!("HTTP status {status}"))
        }
        reached => Ok(reached),
    }
}

/// Logs every dependency still missing with its last error; the error names them all.
fn timed_out(deps: &[Dependency], timeout: Duration) -> Error {
    let missing: Vec<&Dependency> = deps.iter().filter(|d| !d.ready).collect();
    for dep in &missing {
        let why = dep
            .last_error
            .as_deref()
            .unwrap_or("no attempt finished (still resolving or connecting)");
        crate::log::log_step!(
            WARN,
            "wait",
            "{} is still not ready; last error: {why}",
            dep.shown
        );
    }
    let names: Vec<&str> = missing.iter().map(|d| d.shown.as_str()).collect();
    Error::new(
        Kind::Unavailable,
        format!(
            "not ready within --wait-timeout {}: {}; the app was not started. Check that \
             they start and are reachable from here, or raise --wait-timeout (USHER_WAIT_TIMEOUT)",
            setting(timeout),
            names.join(", ")
        ),
    )
}
