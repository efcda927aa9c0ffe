//! Property: any duration text (`--wait-timeout`, `USHER_STOP_TIMEOUT`, …) parses without a
//! panic into a bounded duration or is refused; whole seconds and milliseconds round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/values.rs"]
#[allow(dead_code)]
mod values;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(d) = values::parse_duration(text) {
        assert!(d.as_secs() < 1_000_000_000, "{text:?} -> {d:?}");
    }
    let _ = values::parse_bool(text);
    if data.len() >= 4 {
        let n = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) % 1_000_000_000;
        assert_eq!(
            values::parse_duration(&format!("{n}s")),
            Some(std::time::Duration::from_secs(n.into()))
        );
        assert_eq!(
            values::parse_duration(&format!("{n}ms")),
            Some(std::time::Duration::from_millis(n.into()))
        );
    }
});
