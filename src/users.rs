//! User specs resolved against /etc/passwd and /etc/group text, as gosu and `docker run --user`
//! do it (moby/sys `user.GetExecUser`). Pure functions: no system calls, no NSS (it does not
//! work in a static binary).
//!
//! Rules: the spec splits at the first `:`. A part that parses as a number in 0..=2^31-1 is an
//! id, anything else is a name; a numeric-looking part out of range (`4294967296`) is an error,
//! never a wrap-around to root. The first passwd match wins and gives uid, gid and HOME. An
//! unknown name is an error; an unknown number is used as-is, keeps the caller's gid and gets
//! HOME `/`. With an explicit group the gid comes from /etc/group (name or number) and there
//! are no supplementary groups; without one they are every group whose member list names the
//! user.

use crate::exit::{Error, Kind, Result};

/// The highest id accepted, as in moby/sys (ids above it break 32-bit user space).
const MAX_ID: u64 = (1 << 31) - 1;

/// Who the process becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, in /etc/group order.
    pub groups: Vec<u32>,
    pub home: String,
    /// The passwd name, when the spec matched an entry.
    pub name: Option<String>,
}

/// The caller's identity: the defaults a spec starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

/// One side of a spec.
#[derive(Debug, PartialEq, Eq)]
enum Part<'a> {
    Empty,
    Id(u32),
    Name(&'a str),
}

fn parse_part<'a>(spec: &str, part: &'a str) -> Result<Part<'a>> {
    if part.is_empty() {
        return Ok(Part::Empty);
    }
    // Go's strconv.Atoi accepts an optional sign; so does the spec parser we match.
    let digits = part.strip_prefix(['+', '-']).unwrap_or(part);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match part.parse::<i64>() {
            Ok(id) if (0..=MAX_ID as i64).contains(&id) => Ok(Part::Id(id as u32)),
            _ => Err(Error::usage(format!(
                "--user {spec:?}: {part} is out of range; ids go from 0 to {MAX_ID}"
            ))),
        };
    }
    Ok(Part::Name(part))
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split(':').collect();
        Some(PasswdEntry {
            name: f.first()?,
            uid: f.get(2)?.parse().ok()?,
            gid: f.get(3)?.parse().ok()?,
            home: f.get(5).copied().unwrap_or(""),
        })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = line.split(':').collect();
        Some(GroupEntry {
            name: f.first()?,
            gid: f.get(2)?.parse().ok()?,
            members: f
                .get(3)
                .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
        })
    })
}

/// Resolves `spec` for `caller`, with the contents of /etc/passwd and /etc/group (empty text
/// when a file is missing).
pub fn resolve(spec: &str, caller: Caller, passwd: &str, group: &str) -> Result<Target> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = parse_part(spec, user_part)?;
    let group_arg = match group_part {
        None => Part::Empty,
        Some(g) => parse_part(spec, g)?,
    };

    let mut target = Target {
        uid: caller.uid,
        gid: caller.gid,
        groups: Vec::new(),
        home: "/".to_string(),
        name: None,
    };

    // An empty user part means "the caller": it is looked up by uid like a number.
    let found = passwd_entries(passwd).find(|e| match user {
        Part::Empty => e.uid == caller.uid,
        Part::Id(id) => e.uid == id,
        Part::Name(name) => e.name == name,
    });
    match (found, &user) {
        (Some(e), _) => {
            target.uid = e.uid;
            target.gid = e.gid;
            target.home = if e.home.is_empty() {
                "/".to_string()
            } else {
                e.home.to_string()
            };
            target.name = Some(e.name.to_string());
        }
        (None, Part::Name(name)) => {
            return Err(Error::new(
                Kind::UnknownUser,
                format!(
                    "--user {spec:?}: no user named {name:?} in /etc/passwd; \
                     create it in the image (useradd/adduser) or give a numeric uid"
                ),
            ));
        }
        (None, Part::Id(id)) => target.uid = *id,
        (None, Part::Empty) => {}
    }

    match group_arg {
        Part::Empty => {
            if let Some(name) = &target.name {
                target.groups = group_entries(group)
                    .filter(|g| g.members.contains(&name.as_str()))
                    .map(|g| g.gid)
                    .collect();
            }
        }
        Part::Id(gid) => {
            target.gid = group_entries(group)
                .find(|g| g.gid == gid)
                .map(|g| g.gid)
                .unwrap_or(gid);
        }
        Part::Name(name) => {
            target.gid = group_entries(group)
                .find(|g| g.name == name)
                .map(|g| g.gid)
                .ok_or_else(|| {
                    Error::new(
                        Kind::UnknownUser,
                        format!(
                            "--user {spec:?}: no group named {name:?} in /etc/group; \
                             create it in the image (groupadd/addgroup) or give a numeric gid"
                        ),
                    )
                })?;
        }
    }
    Ok(target)
}

/// At most this many supplementary groups are listed in a message; a user in thousands of
/// groups (the kernel allows 65,536) would otherwise make one log line hundreds of kilobytes.
pub const GROUPS_SHOWN: usize = 16;

/// Like the `id` command, for log lines: `app (uid 1000, gid 1000, groups 27,100)`.
pub fn describe(t: &Target) -> String {
    describe_ids(t.name.as_deref(), t.uid, t.gid, &t.groups)
}

/// `describe` from its parts, for identities that are not a `Target` (usher's own).
pub fn describe_ids(name: Option<&str>, uid: u32, gid: u32, groups: &[u32]) -> String {
    let groups = group_list(groups);
    match name {
        Some(name) => format!("{name} (uid {uid}, gid {gid}, groups {groups})"),
        None => format!("uid {uid}, gid {gid}, groups {groups}"),
    }
}

/// `27,100`, `none`, or the first `GROUPS_SHOWN` and `… and N more`.
pub fn group_list(groups: &[u32]) -> String {
    if groups.is_empty() {
        return "none".to_string();
    }
    let shown = groups
        .iter()
        .take(GROUPS_SHOWN)
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    match groups.len().saturating_sub(GROUPS_SHOWN) {
        0 => shown,
        more => format!("{shown}… and {more} more"),
    }
}

/// The name of the first /etc/passwd entry with `uid`, for messages about usher's own identity.
pub fn name_of(uid: u32, passwd: &str) -> Option<String> {
    passwd_entries(passwd)
        .find(|e| e.uid == uid)
        .map(|e| e.name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The fixture of gosu's own tests: Debian's base users, `games` a member of `users`.
    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        games:x:5:60:games:/usr/games:/usr/sbin/nologin\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\n\
        daemon:x:1:\n\
        wheel:x:10:root\n\
        games:x:60:\n\
        users:x:100:games\n\
        nogroup:x:65534:\n";
    const NOBODY: Caller = Caller {
        uid: 65534,
        gid: 65534,
    };

    fn ids(spec: &str) -> (u32, u32, Vec<u32>, String) {
        let t = resolve(spec, NOBODY, PASSWD, GROUP).unwrap();
        (t.uid, t.gid, t.groups, t.home)
    }

    #[test]
    fn gosu_conformance_table() {
        // (spec, uid, gid, supplementary groups, HOME) — gosu's table, run as nobody.
        let table: &[(&str, u32, u32, &[u32], &str)] = &[
            ("0", 0, 0, &[10], "/root"),
            ("root", 0, 0, &[10], "/root"),
            ("0:", 0, 0, &[10], "/root"),
            ("0:0", 0, 0, &[], "/root"),
            ("root:root", 0, 0, &[], "/root"),
            ("1000", 1000, 65534, &[], "/"),
            ("0:1000", 0, 1000, &[], "/root"),
            ("1000:root", 1000, 0, &[], "/"),
            ("games", 5, 60, &[100], "/usr/games"),
            ("games:daemon", 5, 1, &[], "/usr/games"),
            ("", 65534, 65534, &[], "/nonexistent"),
            (":0", 65534, 0, &[], "/nonexistent"),
        ];
        for (spec, uid, gid, groups, home) in table {
            assert_eq!(
                ids(spec),
                (*uid, *gid, groups.to_vec(), home.to_string()),
                "spec {spec:?}"
            );
        }
    }

    #[test]
    fn gosu_failures() {
        for spec in ["bogus", "0day", "0:bogus", "0:0day"] {
            let e = resolve(spec, NOBODY, PASSWD, GROUP).unwrap_err();
            assert_eq!(e.kind, Kind::UnknownUser, "{spec}: {e}");
            assert!(e.message.contains(spec), "{e}");
        }
    }

    #[test]
    fn out_of_range_ids_never_wrap_to_root() {
        for spec in [
            "4294967296",
            "2147483648",
            "-1",
            "0:4294967296",
            "99999999999999999999",
        ] {
            let e = resolve(spec, NOBODY, PASSWD, GROUP).unwrap_err();
            assert_eq!(e.kind, Kind::Usage, "{spec}");
        }
        assert_eq!(ids("2147483647").0, 2147483647);
    }

    #[test]
    fn first_passwd_match_wins_and_comments_are_skipped() {
        let passwd = "# comment\napp:x:1000:1000::/home/app:/bin/sh\napp:x:2000:2000::/x:/bin/sh\n";
        let t = resolve("app", NOBODY, passwd, "").unwrap();
        assert_eq!((t.uid, t.gid, t.home.as_str()), (1000, 1000, "/home/app"));
    }

    #[test]
    fn missing_files_allow_numeric_specs_only() {
        let t = resolve("1000:1000", NOBODY, "", "").unwrap();
        assert_eq!((t.uid, t.gid, t.home.as_str()), (1000, 1000, "/"));
        assert!(resolve("app", NOBODY, "", "").is_err());
    }

    #[test]
    fn long_group_lists_are_capped() {
        let groups: Vec<u32> = (1000..1000 + 65_536).collect();
        let t = Target {
            uid: 1,
            gid: 1,
            groups,
            home: "/".into(),
            name: Some("many".into()),
        };
        let line = describe(&t);
        assert!(line.len() < 200, "{line}");
        assert!(line.ends_with("1015… and 65520 more)"), "{line}");
        assert_eq!(group_list(&[]), "none");
        assert_eq!(group_list(&[27, 100]), "27,100");
    }

    #[test]
    fn empty_home_becomes_root_dir() {
        let t = resolve("app", NOBODY, "app:x:7:7:::/bin/sh\n", "").unwrap();
        assert_eq!(t.home, "/");
    }
}
