//! `usher health TARGET`: one probe for Docker `HEALTHCHECK` and Kubernetes exec probes in
//! images with no shell or curl. It prints one short line and exits 0 (healthy) or 1
//! (unhealthy) — never 2, which Docker reserves — whatever goes wrong, bad arguments included.
//!
//! Docker keeps only the first 4 KiB of a probe's output, so the line stays short: the
//! verdict, the target (password hidden), what answered, and how long it took.

use std::time::{Duration, Instant};

use crate::config::{Config, HealthSettings};
use crate::exit::{Kind, signal_name};
use crate::readiness::{self, Next, Reached, Report, Target, elapsed, setting};
use crate::redact::redact;
use crate::signals::Startup;

/// Extra time given to the probe thread past `--timeout`, so its own precise error (which
/// step timed out) is printed rather than the generic one.
const GRACE: Duration = Duration::from_millis(250);

/// Longest line printed: far below Docker's 4 KiB, and one line in `docker inspect`.
const MAX_LINE: usize = 512;

const HEALTHY: i32 = 0;

/// What to probe.
#[derive(Debug)]
enum Probe {
    Url {
        shown: String,
        target: Target,
    },
    /// `DATABASE_URL`, after `*_FILE` secrets were resolved into the config.
    Database,
}

/// How a probe ended.
enum Verdict {
    Healthy(String),
    /// An answer that is not the healthy one (an HTTP status).
    Unhealthy(String),
    /// No usable answer: the reason.
    Failed(String),
}

/// Runs the probe in `settings`; returns the exit code, 0 or 1.
pub fn run(settings: &HealthSettings, config: &Config, startup: &Startup) -> i32 {
    let start = Instant::now();
    let probe = match plan(settings) {
        Ok(probe) => probe,
        Err(fix) => return usage_error(&fix),
    };
    let shown = match &probe {
        Probe::Url { shown, .. } => shown.clone(),
        Probe::Database => "db".to_string(),
    };
    let is_db = matches!(probe, Probe::Database);
    let deadline = start + settings.timeout;
    let verdict = match attempt_on_a_thread(probe, settings, config, deadline) {
        Err(why) => Verdict::Failed(why),
        Ok(inbox) => match inbox.next(deadline + GRACE, startup) {
            Next::Report(report) if is_db => database_verdict(report.result, settings),
            Next::Report(report) => judge(report.result, settings),
            Next::Deadline => Verdict::Failed(format!(
                "no answer within --timeout {}",
                setting(settings.timeout)
            )),
            Next::Stopped(signal) => Verdict::Failed(format!(
                "stopped by {} before an answer",
                signal_name(signal)
            )),
        },
    };
    let took = elapsed(start.elapsed());
    let (line, code) = match verdict {
        Verdict::Healthy(what) => (format!("healthy: {shown} {what} in {took}"), HEALTHY),
        Verdict::Unhealthy(what) => (
            format!("unhealthy: {shown} {what} in {took}"),
            Kind::Unhealthy.code(),
        ),
        Verdict::Failed(why) => (
            format!("unhealthy: {shown}: {why} (after {took})"),
            Kind::Unhealthy.code(),
        ),
    };
    // Redacted as every log line is: a password known from the arguments or the environment
    // is masked wherever a driver's message might quote it.
    println!("{}", shorten(&redact(&line)));
    code
}

/// Checks the target and the flags that only fit some targets; the error is the fix.
fn plan(settings: &HealthSettings) -> Result<Probe, String> {
    if settings.target == "db" {
        if settings.expect_status.is_some() {
            return Err("--expect-status applies to http:// targets, not db".to_string());
        }
        return Ok(Probe::Database);
    }
    let shown = redact(&settings.target);
    let target = Target::parse(&settings.target)
        .map_err(|fix| format!("target {shown}: {fix}; or give db to probe DATABASE_URL"))?;
    if settings.no_pending {
        return Err(format!(
            "--no-pending applies to usher health db only, not {shown}"
        ));
    }
    if settings.expect_status.is_some() && !matches!(target, Target::Http { .. }) {
        return Err(format!(
            "--expect-status applies to http:// targets only, not {shown}"
        ));
    }
    Ok(Probe::Url { shown, target })
}

/// Starts the probe on its own thread, so the caller can give up at the deadline or on a
/// stop signal even while getaddrinfo or a database driver is stuck.
fn attempt_on_a_thread(
    probe: Probe,
    settings: &HealthSettings,
    config: &Config,
    deadline: Instant,
) -> Result<readiness::Inbox, String> {
    let (sender, inbox) = readiness::channel().map_err(|e| format!("socketpair failed: {e}"))?;
    let (no_pending, timeout) = (settings.no_pending, settings.timeout);
    // Only `health db` needs the configuration (its environment holds DATABASE_URL).
    let config = matches!(probe, Probe::Database).then(|| config.clone());
    std::thread::Builder::new()
        .spawn(move || {
            let result = match probe {
                Probe::Url { target, .. } => target.attempt(deadline),
                Probe::Database => database(config.as_ref(), no_pending, timeout),
            };
            sender.send(Report { index: 0, result });
        })
        .map_err(|e| format!("cannot start the probe thread: {e}"))?;
    Ok(inbox)
}

/// The probe's rule: HTTP 200–399 as the kubelet, or exactly `--expect-status`; for the
/// other targets, reaching them is enough.
fn judge(attempt: Result<Reached, String>, settings: &HealthSettings) -> Verdict {
    match attempt {
        Err(why) => Verdict::Failed(why),
        Ok(Reached::Http(status)) => match settings.expect_status {
            Some(expected) if status.code == expected => Verdict::Healthy(status.to_string()),
            Some(expected) => Verdict::Unhealthy(format!("{status} (expected {expected})")),
            None if (200..=399).contains(&status.code) => Verdict::Healthy(status.to_string()),
            None => Verdict::Unhealthy(status.to_string()),
        },
        Ok(reached) => Verdict::Healthy(reached.to_string()),
    }
}

fn database_verdict(attempt: Result<Reached, String>, settings: &HealthSettings) -> Verdict {
    match attempt {
        Ok(_) if settings.no_pending => {
            Verdict::Healthy("answers SELECT 1, no migration pending".to_string())
        }
        Ok(_) => Verdict::Healthy("answers SELECT 1".to_string()),
        // The database module redacts its reasons; redacting again costs little and keeps
        // the promise local.
        Err(why) => Verdict::Failed(redact(&why)),
    }
}

/// `health db` on the probe thread: `Connected` once the database answered.
#[cfg(feature = "_db")]
fn database(
    config: Option<&Config>,
    no_pending: bool,
    timeout: Duration,
) -> Result<Reached, String> {
    let config = config.ok_or("internal error: no configuration for health db")?;
    crate::db::health(config, no_pending, timeout).map(|()| Reached::Connected)
}

#[cfg(not(feature = "_db"))]
fn database(_: Option<&Config>, _: bool, _: Duration) -> Result<Reached, String> {
    Err(
        "this usher was built without database drivers (--no-default-features); use a build \
         with the postgres, mysql or sqlite feature, or probe tcp://HOST:PORT instead"
            .to_string(),
    )
}

/// A bad argument: said on stderr (as a log line, so in JSON with --log-format json), and
/// still exit 1, never 64 or 2.
fn usage_error(fix: &str) -> i32 {
    crate::log::log_step!(ERROR, "health", "{fix}; see usher --help");
    Kind::Unhealthy.code()
}

/// `line` cut to `MAX_LINE` bytes on a character boundary, on one line.
fn shorten(line: &str) -> String {
    let one_line: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.len() <= MAX_LINE {
        return one_line;
    }
    let mut end = MAX_LINE - 3;
    while !one_line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &one_line[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::Status;

    fn settings(target: &str) -> HealthSettings {
        HealthSettings {
            target: target.to_string(),
            timeout: Duration::from_secs(5),
            expect_status: None,
            no_pending: false,
        }
    }

    fn status(code: u16) -> Result<Reached, String> {
        Ok(Reached::Http(Status {
            code,
            reason: String::new(),
        }))
    }

    #[test]
    fn http_statuses_are_judged_like_the_kubelet() {
        let s = settings("http://x/");
        assert!(matches!(judge(status(200), &s), Verdict::Healthy(_)));
        assert!(matches!(judge(status(399), &s), Verdict::Healthy(_)));
        assert!(matches!(judge(status(199), &s), Verdict::Unhealthy(_)));
        assert!(matches!(judge(status(400), &s), Verdict::Unhealthy(_)));
        assert!(matches!(judge(status(503), &s), Verdict::Unhealthy(_)));
        assert!(matches!(
            judge(Err("refused".into()), &s),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn expect_status_is_the_only_healthy_one() {
        let s = HealthSettings {
            expect_status: Some(418),
            ..settings("http://x/")
        };
        assert!(matches!(judge(status(418), &s), Verdict::Healthy(_)));
        let Verdict::Unhealthy(why) = judge(status(200), &s) else {
            panic!("200 is unhealthy when 418 is expected");
        };
        assert_eq!(why, "200 (expected 418)");
    }

    #[test]
    fn flags_that_do_not_fit_the_target_are_refused() {
        let no_pending = HealthSettings {
            no_pending: true,
            ..settings("tcp://db:5432")
        };
        assert!(plan(&no_pending).unwrap_err().contains("health db only"));
        let expect = HealthSettings {
            expect_status: Some(204),
            ..settings("tcp://db:5432")
        };
        assert!(plan(&expect).unwrap_err().contains("http:// targets only"));
        let expect_db = HealthSettings {
            expect_status: Some(204),
            ..settings("db")
        };
        assert!(plan(&expect_db).is_err());
        assert!(
            plan(&settings("localhost:8080"))
                .unwrap_err()
                .contains("http://HOST")
        );
        assert!(matches!(plan(&settings("db")), Ok(Probe::Database)));
    }

    #[test]
    fn passwords_are_hidden_in_what_is_shown() {
        let Ok(Probe::Url { shown, .. }) = plan(&settings("http://me:hunter2@api:8080/")) else {
            panic!("a valid URL");
        };
        assert_eq!(shown, "http://me:****@api:8080/");
        let e = plan(&settings("http://me:hunter2@api:x/")).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn output_is_one_short_line() {
        let long = format!("unhealthy: {}\nsecond", "é".repeat(600));
        let short = shorten(&long);
        assert!(short.len() <= MAX_LINE);
        assert!(!short.contains('\n'));
        assert!(short.ends_with("..."));
    }
}
