//! Option values that are more than a word: switches, durations and signal names. Pure
//! functions (std and nix's signal table only), so the fuzz targets in `fuzz/` include this
//! file as it is.

use std::time::Duration;

use nix::sys::signal::Signal;

/// `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`, any case.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `30`, `30s`, `500ms`, `10m`, `1h`, `1.5s`: a bare number is seconds.
///
/// The number is read as an exact decimal, in integers: parsing it as an `f64` links the
/// standard library's float parser and its tables (~15 KB of the static binary) for this one
/// use. The result is the same, rounded to the nearest nanosecond.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let millis_per_unit: u128 = match unit.trim() {
        "" | "s" | "sec" => 1_000,
        "ms" => 1,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return None;
    }
    // The value is whole + digits / 10^scale. Fraction digits past the 12th change it by less
    // than a nanosecond's rounding; 10^12 and more whole units are at least 10^9 s, refused
    // below — so the products stay far inside u128.
    let whole = whole.trim_start_matches('0');
    if whole.len() > 12 {
        return None;
    }
    let fraction = &fraction[..fraction.len().min(12)];
    let scale = 10u128.pow(fraction.len() as u32);
    let digits = |s: &str| s.bytes().fold(0u128, |n, b| n * 10 + u128::from(b - b'0'));
    let scaled = digits(whole) * scale + digits(fraction);
    let nanos = (scaled * millis_per_unit * 1_000_000 + scale / 2) / scale;
    (nanos < 1_000_000_000 * 1_000_000_000).then(|| {
        Duration::new(
            (nanos / 1_000_000_000) as u64,
            (nanos % 1_000_000_000) as u32,
        )
    })
}

/// A signal by name (`TERM`, `SIGTERM`, `term`) or number.
pub fn parse_signal(v: &str) -> Option<Signal> {
    if let Ok(n) = v.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = v.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse().ok()
}
