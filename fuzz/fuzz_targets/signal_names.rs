//! Property: any signal text (`--rewrite-signal FROM:TO`) parses without a panic; a parsed
//! signal is found again by its name and by its number; naming any signal number (for
//! messages and exit codes) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/exit.rs"]
#[allow(dead_code)]
mod exit;
#[path = "../../src/values.rs"]
#[allow(dead_code)]
mod values;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(signal) = values::parse_signal(text)
    {
        assert_eq!(values::parse_signal(signal.as_str()), Some(signal));
        assert_eq!(
            values::parse_signal(&(signal as i32).to_string()),
            Some(signal)
        );
        let short = signal
            .as_str()
            .trim_start_matches("SIG")
            .to_ascii_lowercase();
        assert_eq!(values::parse_signal(&short), Some(signal));
    }
    if data.len() >= 4 {
        let n = i32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        let name = exit::signal_name(n);
        if nix::sys::signal::Signal::try_from(n).is_ok() {
            assert_eq!(values::parse_signal(&name).map(|s| s as i32), Some(n));
        }
    }
});
