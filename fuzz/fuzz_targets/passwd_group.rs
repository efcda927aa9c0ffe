//! Property: any /etc/passwd and /etc/group text (a volume-mounted or hand-edited file) and
//! any spec resolve without a panic, and uid 0 is only ever reached by asking for it: the
//! number 0, or a name whose passwd entry says 0.
//!
//! Input: `passwd \0 group \0 spec`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/exit.rs"]
#[allow(dead_code)]
mod exit;
#[path = "../../src/users.rs"]
#[allow(dead_code)]
mod users;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\0');
    let (passwd, group, spec) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("app"),
    );
    let caller = users::Caller {
        uid: 1000,
        gid: 1000,
    };
    let Ok(t) = users::resolve(spec, caller, passwd, group) else {
        return;
    };
    let user = spec.split(':').next().unwrap_or("");
    if t.uid == 0 {
        assert!(
            user.parse::<i64>() == Ok(0)
                || passwd
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{user}:"))),
            "{spec:?} became root with passwd {passwd:?}"
        );
    }
    let _ = users::describe(&t);
});
