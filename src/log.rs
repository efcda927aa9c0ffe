//! Logging to stderr: a small `tracing` subscriber with two formats.
//!
//! text: `usher: <step>: <msg> key=value …` (warnings and errors say so);
//! json: one object per line with `ts`, `level`, `msg`, `step` and the event's other fields.
//!
//! usher's own events carry a `step` field naming the pipeline stage. Events from libraries
//! (sqlx, rustls, …) are shown only at `debug`. tracing-subscriber's formatter would cost
//! ~150 KB of the size budget for what these hundred lines do.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::config::{LogFormat, LogSettings};
use crate::redact::redact;

/// Installs the subscriber for the rest of the process. Called once: after the configuration
/// is read, or, when reading it failed, with the format `config::early_log` found, so that
/// even that error is printed in the format asked for.
/// `log_step!(INFO, "step", "format", args…)`: a log line with a step and a message only,
/// the same line as `tracing::info!(step = "step", "format", args…)` prints. Each `tracing`
/// macro call site is a static callsite with its own metadata and inlined dispatch code, a few
/// hundred bytes apiece; the many lines of this shape share the four in `step_line`. (Lines
/// with fields of their own, `pid = …`, keep their own call sites.)
macro_rules! log_step {
    ($level:ident, $step:expr, $($message:tt)+) => {
        $crate::log::step_line(tracing::Level::$level, $step, format_args!($($message)+))
    };
}
pub(crate) use log_step;

/// The one call site per level behind `log_step!`. Not inlined, so that each use is one call.
#[inline(never)]
pub fn step_line(level: Level, step: &str, message: std::fmt::Arguments<'_>) {
    match level {
        Level::ERROR => tracing::error!(step, "{message}"),
        Level::WARN => tracing::warn!(step, "{message}"),
        Level::INFO => tracing::info!(step, "{message}"),
        _ => tracing::debug!(step, "{message}"),
    }
}

/// `step_line` at INFO with a `duration_ms` field: the lines that report how long something
/// took share this one call site.
#[inline(never)]
pub fn timed_line(step: &str, duration_ms: u64, message: std::fmt::Arguments<'_>) {
    tracing::info!(step, duration_ms, "{message}");
}

pub fn init(settings: LogSettings) {
    let _ = tracing::subscriber::set_global_default(Stderr {
        settings,
        next_span: AtomicU64::new(1),
    });
}

struct Stderr {
    settings: LogSettings,
    next_span: AtomicU64,
}

impl Subscriber for Stderr {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        let own = meta.target().starts_with("usher");
        meta.level() <= &self.settings.level && (own || self.settings.level >= Level::DEBUG)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::from_level(
            self.settings.level,
        ))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        // Every line passes through redaction, whatever produced it (usher or a library):
        // a known password is masked wherever it appears.
        fields.message = redact(&fields.message);
        for (_, value, is_text) in &mut fields.others {
            if *is_text {
                *value = redact(value);
            }
        }
        let line = match self.settings.format {
            LogFormat::Text => text_line(event.metadata(), &fields),
            LogFormat::Json => json_line(event.metadata(), &fields, SystemTime::now()),
        };
        // One write per line, so lines from usher and the app do not interleave mid-line.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The fields of one event, in the order they were given; values are already strings.
#[derive(Default)]
struct Fields {
    message: String,
    step: Option<String>,
    /// `(name, value, is_text)`: text values are quoted in JSON, numbers and bools are not.
    others: Vec<(&'static str, String, bool)>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        self.put(field, text, true);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string(), true);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.to_string(), false);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.to_string(), false);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.to_string(), !value.is_finite());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.to_string(), false);
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: String, is_text: bool) {
        match field.name() {
            "message" => self.message = value,
            "step" => self.step = Some(value),
            name => self.others.push((name, value, is_text)),
        }
    }
}

fn text_line(meta: &Metadata<'_>, f: &Fields) -> String {
    let mut line = String::from("usher: ");
    if let Some(step) = &f.step {
        line.push_str(step);
        line.push_str(": ");
    } else if !meta.target().starts_with("usher") {
        line.push_str(meta.target());
        line.push_str(": ");
    }
    match *meta.level() {
        Level::ERROR => line.push_str("error: "),
        Level::WARN => line.push_str("warning: "),
        _ => {}
    }
    line.push_str(&f.message);
    for (name, value, is_text) in &f.others {
        if *is_text && (value.is_empty() || value.contains(char::is_whitespace)) {
            let _ = write!(line, " {name}={value:?}");
        } else {
            let _ = write!(line, " {name}={value}");
        }
    }
    line.push('\n');
    line
}

fn json_line(meta: &Metadata<'_>, f: &Fields, now: SystemTime) -> String {
    let mut line = String::from("{\"ts\":\"");
    line.push_str(&rfc3339(now));
    line.push_str("\",\"level\":\"");
    line.push_str(&meta.level().as_str().to_ascii_lowercase());
    line.push_str("\",\"msg\":");
    json_string(&mut line, &f.message);
    line.push_str(",\"step\":");
    match &f.step {
        Some(step) => json_string(&mut line, step),
        None => json_string(&mut line, meta.target()),
    }
    for (name, value, is_text) in &f.others {
        line.push(',');
        json_string(&mut line, name);
        line.push(':');
        if *is_text {
            json_string(&mut line, value);
        } else {
            line.push_str(value);
        }
    }
    line.push_str("}\n");
    line
}

/// Appends `s` as a JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `2026-11-22T06:44:03.123Z`.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_329_843_123);
        assert_eq!(rfc3339(t), "2026-11-22T06:44:03.123Z");
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn json_escaping() {
        let mut s = String::new();
        json_string(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }
}
