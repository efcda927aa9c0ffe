//! Property: any `--user` spec resolves without a panic against fixed /etc/passwd and
//! /etc/group files, and never lands on root unless it names root: an out-of-range id
//! (`4294967296`) is an error, never a wrap-around to uid 0 (su-exec's `strtol` bug).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/exit.rs"]
#[allow(dead_code)]
mod exit;
#[path = "../../src/users.rs"]
#[allow(dead_code)]
mod users;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
games:x:5:60:games:/usr/games:/usr/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
app:x:1000:1000::/home/app:/bin/sh\n";
const GROUP: &str = "root:x:0:\ndaemon:x:1:\nusers:x:100:games,app\ngames:x:60:\n\
nogroup:x:65534:\napp:x:1000:\n";

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = std::str::from_utf8(data) else {
        return;
    };
    let caller = users::Caller {
        uid: 1000,
        gid: 1000,
    };
    let (user, group) = spec.split_once(':').unwrap_or((spec, ""));
    match users::resolve(spec, caller, PASSWD, GROUP) {
        Ok(t) => {
            if t.uid == 0 {
                assert!(
                    user == "root" || user.parse::<i64>() == Ok(0),
                    "{spec:?} became root"
                );
            }
            if t.gid == 0 {
                assert!(
                    group == "root"
                        || group.parse::<i64>() == Ok(0)
                        || (group.is_empty() && (user == "root" || user.parse::<i64>() == Ok(0))),
                    "{spec:?} got gid 0"
                );
            }
            assert!(
                t.uid <= i32::MAX as u32 && t.gid <= i32::MAX as u32,
                "{spec:?}"
            );
        }
        Err(e) => assert!(!e.message.is_empty()),
    }
    for part in [user, group] {
        let digits = part.strip_prefix(['+', '-']).unwrap_or(part);
        let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        if numeric && !matches!(part.parse::<i64>(), Ok(0..=0x7fff_ffff)) {
            assert!(
                users::resolve(spec, caller, PASSWD, GROUP).is_err(),
                "{spec:?}: out-of-range id accepted"
            );
        }
    }
});
