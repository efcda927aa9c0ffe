//! The privilege drop, with gosu's semantics: refuse a setuid install, check before anything is
//! changed that the drop can happen (root, its capabilities, its user namespace), hand
//! `--chown` trees to the target user, then setgroups → setgid → setuid, and prove the drop
//! cannot be undone.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{
    Gid, Uid, getegid, geteuid, getgid, getgroups, getuid, setgid, setgroups, setuid,
};
use tracing::{info, warn};

use crate::config::PrivilegeSettings;
use crate::environment::Environment;
use crate::exit::{Error, Kind, Result};
use crate::users::{self, Caller, Target};

/// A summarised chown failure names at most this many files; the rest are counted.
const NAMES_SHOWN: usize = 3;

/// Capability numbers (linux/capability.h) of the calls usher makes as root.
const CAP_CHOWN: u32 = 0;
const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;

/// gosu refuses to run installed setuid or setgid: anyone could then become any user.
pub fn refuse_setuid_install() -> Result<()> {
    let setid = std::fs::metadata("/proc/self/exe")
        .map(|m| m.permissions().mode() & 0o6000 != 0)
        .unwrap_or(false);
    if setid || getuid() != geteuid() || getgid() != getegid() {
        return Err(Error::privileges(
            "usher is installed setuid or setgid, which would let any user become any other; \
             remove the bit (chmod u-s,g-s) and start the container as root instead",
        ));
    }
    Ok(())
}

/// Resolves `--user` against the system's /etc/passwd and /etc/group, and checks up front that
/// usher can become that user, so a drop that cannot happen fails before anything is changed
/// (no chown, no half-done drop). `None`: no drop asked.
pub fn target(settings: &PrivilegeSettings) -> Result<Option<Target>> {
    let Some(spec) = &settings.user else {
        if !settings.chown.is_empty() {
            let message = "--chown needs --user: it gives the files to the user the app runs as";
            return Err(match settings.chown_from_env {
                true => Error::config(
                    message
                        .replace("--chown", "USHER_CHOWN")
                        .replace("--user", "--user (USHER_USER)"),
                ),
                false => Error::usage(message),
            });
        }
        return Ok(None);
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let caller = Caller {
        uid: getuid().as_raw(),
        gid: getgid().as_raw(),
    };
    let target = users::resolve(spec, caller, &passwd, &group).map_err(|e| match e.kind {
        // A malformed spec from USHER_USER is a bad variable value: configuration.
        Kind::Usage if settings.user_from_env => {
            Error::config(e.message.replacen("--user", "USHER_USER", 1))
        }
        _ => e,
    })?;
    check_can_become(&target, &passwd)?;
    Ok(Some(target))
}

/// Who usher is now: real, effective and saved ids, and the supplementary groups.
struct Current {
    uids: (u32, u32, u32),
    gids: (u32, u32, u32),
    groups: Vec<u32>,
}

impl Current {
    fn read() -> Result<Current> {
        let (uids, gids) = crate::sys::res_ids();
        let groups = getgroups().map_err(|e| Error::os("getgroups", e))?;
        Ok(Current {
            uids,
            gids,
            groups: group_set(groups, None),
        })
    }

    fn uid(&self) -> u32 {
        self.uids.0
    }

    fn gid(&self) -> u32 {
        self.gids.0
    }

    /// The user and group ids need changing to become `t`.
    fn uids_differ(&self, t: &Target) -> bool {
        self.uids != (t.uid, t.uid, t.uid)
    }

    /// The supplementary groups need changing (setgroups).
    fn groups_differ(&self, t: &Target) -> bool {
        self.groups != group_set(ids(&t.groups), None)
    }

    /// The group ids or the supplementary groups need changing (setgroups, setgid).
    fn gids_differ(&self, t: &Target) -> bool {
        self.gids != (t.gid, t.gid, t.gid) || self.groups_differ(t)
    }

    /// Already `t`, as far as a non-root process can tell (one that cannot change anything):
    /// the primary gid may or may not be listed among the supplementary groups (docker run
    /// --user lists it), so it is ignored. Root compares exactly, as gosu sets exactly.
    fn is(&self, t: &Target) -> bool {
        !self.uids_differ(t)
            && self.gids == (t.gid, t.gid, t.gid)
            && group_set(ids(&self.groups), Some(t.gid)) == group_set(ids(&t.groups), Some(t.gid))
    }

    fn describe(&self, passwd: &str) -> String {
        let name = users::name_of(self.uid(), passwd);
        users::describe_ids(name.as_deref(), self.uid(), self.gid(), &self.groups)
    }
}

fn ids(groups: &[u32]) -> impl Iterator<Item = Gid> + '_ {
    groups.iter().map(|g| Gid::from_raw(*g))
}

/// Fails, naming both identities and the fix, when usher cannot become `target`: it is not
/// root and not already `target`; it is root without the capabilities the set*id calls need
/// (`docker run --cap-drop ALL`); or its user namespace forbids the change (setgroups denied,
/// an id that is not mapped).
fn check_can_become(target: &Target, passwd: &str) -> Result<()> {
    let current = Current::read()?;
    if !geteuid().is_root() {
        if current.is(target) {
            return Ok(());
        }
        return Err(not_root(&current, target, passwd));
    }
    // As root, each call is needed exactly when it changes something, as in `drop_to`.
    let caps = crate::sys::effective_capabilities();
    let lacks = |cap: u32| caps.is_some_and(|caps| caps & (1 << cap) == 0);
    let mut missing = Vec::new();
    if current.uids_differ(target) && lacks(CAP_SETUID) {
        missing.push("SETUID");
    }
    if current.gids_differ(target) && lacks(CAP_SETGID) {
        missing.push("SETGID");
    }
    if !missing.is_empty() {
        return Err(missing_capabilities(&missing, target));
    }
    check_user_namespace(&current, target)
}

/// In a user namespace (rootless Docker or Podman, `unshare --user`), root may still be unable
/// to switch: setgroups(2) is refused when /proc/self/setgroups says `deny`, and an id outside
/// /proc/self/uid_map or gid_map cannot be taken (EINVAL). Outside one (the uid map covers every
/// id), there is nothing more to read.
fn check_user_namespace(current: &Current, target: &Target) -> Result<()> {
    let uid_map = IdMap::read("/proc/self/uid_map");
    if uid_map.is_whole() {
        return Ok(());
    }
    let who = users::describe(target);
    if current.groups_differ(target)
        && std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
    {
        return Err(Error::privileges(format!(
            "usher runs in a user namespace where setgroups is disabled (/proc/self/setgroups \
             is \"deny\", as after `unshare --map-root-user`), so it cannot set the groups of \
             {who}; run it in a user namespace whose id maps were written by a privileged \
             helper (newuidmap/newgidmap, as rootless Docker and Podman do), or start it as \
             that user directly"
        )));
    }
    let gid_map = IdMap::read("/proc/self/gid_map");
    let unmapped_gid = std::iter::once(target.gid)
        .chain(target.groups.iter().copied())
        .find(|g| !gid_map.contains(*g));
    let (kind, id, map) = match unmapped_gid {
        _ if !uid_map.contains(target.uid) => ("uid", target.uid, &uid_map),
        Some(gid) => ("gid", gid, &gid_map),
        None => return Ok(()),
    };
    Err(Error::privileges(format!(
        "{kind} {id} is not mapped in usher's user namespace (/proc/self/{kind}_map: {}), so no \
         process there can take it and usher cannot switch to {who}; give the container more \
         ids (the /etc/subuid and /etc/subgid ranges of rootless Docker or Podman) or choose a \
         --user inside the mapped range",
        map.text
    )))
}

/// A uid_map or gid_map: `inside outside count` per line (user_namespaces(7)).
struct IdMap {
    /// The ranges of ids inside the namespace, as `start..end`.
    ranges: Vec<std::ops::Range<u64>>,
    /// The file's numbers on one line, for messages.
    text: String,
    /// Unreadable (no /proc): every id counts as mapped, and the set*id calls will tell.
    unknown: bool,
}

impl IdMap {
    fn read(path: &str) -> IdMap {
        let Ok(text) = std::fs::read_to_string(path) else {
            return IdMap {
                ranges: Vec::new(),
                text: String::new(),
                unknown: true,
            };
        };
        let ranges = text
            .lines()
            .filter_map(|line| {
                let f: Vec<u64> = line
                    .split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect();
                (f.len() == 3).then(|| f[0]..f[0] + f[2])
            })
            .collect();
        IdMap {
            ranges,
            text: text.split_whitespace().collect::<Vec<_>>().join(" "),
            unknown: false,
        }
    }

    fn contains(&self, id: u32) -> bool {
        self.unknown || self.ranges.iter().any(|r| r.contains(&u64::from(id)))
    }

    /// The initial namespace's map, `0 0 4294967295`, or unknown: nothing to check.
    fn is_whole(&self) -> bool {
        self.unknown
            || self
                .ranges
                .iter()
                .any(|r| r.start == 0 && r.end >= u64::from(u32::MAX))
    }
}

/// Whether usher has capability `cap` in its effective set; `None` when it cannot tell.
fn has_capability(cap: u32) -> Option<bool> {
    crate::sys::effective_capabilities().map(|caps| caps & (1 << cap) != 0)
}

/// Root, but without CAP_SETUID/CAP_SETGID: say which, and how to grant them.
fn missing_capabilities(missing: &[&str], target: &Target) -> Error {
    let caps = missing
        .iter()
        .map(|c| format!("CAP_{c}"))
        .collect::<Vec<_>>()
        .join(" and ");
    let docker = missing
        .iter()
        .map(|c| format!("--cap-add {c}"))
        .collect::<Vec<_>>()
        .join(" ");
    let kubernetes = missing
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let (them, grant) = if missing.len() == 1 {
        ("it", "grant it")
    } else {
        ("them", "grant them")
    };
    // Starting as the target directly is an alternative only for a user other than root.
    let or_start_as = if target.uid == 0 {
        String::new()
    } else {
        format!(
            ", or start the container as that user directly (`docker run --user {}`) so no \
             switch is needed",
            docker_user(target)
        )
    };
    Error::privileges(format!(
        "usher runs as root but without {caps} (the container was started with --cap-drop ALL \
         or without {them}), so it cannot switch to {}; {grant} with `docker run {docker}` \
         (Kubernetes: securityContext.capabilities.add: [{kubernetes}]){or_start_as}",
        users::describe(target),
    ))
}

/// Not root and not already `target`: both identities, and the fix that fits the difference.
fn not_root(current: &Current, target: &Target, passwd: &str) -> Error {
    let same_ids = current.uid() == target.uid && current.gid() == target.gid;
    let fix = if same_ids {
        format!(
            "only the supplementary groups differ: start the container with exactly the \
             target's (`docker run --user {}`; Kubernetes: securityContext.supplementalGroups), \
             or as root and let --user drop privileges, or unset --user/USHER_USER",
            docker_user(target)
        )
    } else {
        "start the container as root (remove USER from the Dockerfile or --user from docker \
         run) and let --user drop privileges, or unset --user/USHER_USER"
            .to_string()
    };
    Error::privileges(format!(
        "usher runs as {}, not root, so it cannot switch to {}; {fix}",
        current.describe(passwd),
        users::describe(target)
    ))
}

/// `UID:GID --group-add G …`: the `docker run --user` arguments that start as `target`.
fn docker_user(target: &Target) -> String {
    let mut text = format!("{}:{}", target.uid, target.gid);
    for g in target.groups.iter().take(users::GROUPS_SHOWN) {
        text.push_str(&format!(" --group-add {g}"));
    }
    if target.groups.len() > users::GROUPS_SHOWN {
        text.push_str(" …");
    }
    text
}

/// Gives each tree to the target user and group: every entry not already owned by the user,
/// like the official images' `find PATH \! -user U -exec chown U:G {} +`.
///
/// Symbolic links are changed themselves, never followed (`lchown`): following one would let
/// a link planted in a volume hand any file on the system to the app's user.
///
/// What cannot be changed: when usher may not change owners at all (not root, no CAP_CHOWN,
/// checked before anything is changed) or when every attempt on a tree is refused (EPERM: NFS
/// root squash, a user-namespaced mount), the app could not write its volume, so usher fails
/// with the fix (exit 77). Files on a read-only filesystem (EROFS) and other failures are one
/// summarised warning per tree (a count and the first few names), not one line per file.
pub fn chown_trees(paths: &[PathBuf], target: &Target) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    if !geteuid().is_root() || has_capability(CAP_CHOWN) == Some(false) {
        return refuse_if_foreign(paths, target);
    }
    for root in paths {
        if let Err(e) = std::fs::symlink_metadata(root) {
            warn!(step = "chown", path = %root.display(), "cannot chown: {e}");
            continue;
        }
        let mut stats = ChownStats::default();
        chown_tree(root, target, &mut stats);
        report_tree(root, target, &stats)?;
    }
    Ok(())
}

/// usher cannot change owners here: fine when every entry already belongs to the user,
/// otherwise an error naming the first one and the ways to fix it.
fn refuse_if_foreign(paths: &[PathBuf], target: &Target) -> Result<()> {
    let Some((path, uid, gid)) = paths.iter().find_map(|p| first_foreign(p, target.uid)) else {
        return Ok(());
    };
    let who = if geteuid().is_root() {
        "usher runs as root but without CAP_CHOWN (the container was started with \
         --cap-drop ALL or without it)"
            .to_string()
    } else {
        format!("usher is not root (uid {})", getuid())
    };
    let grant = if geteuid().is_root() {
        "grant it with `docker run --cap-add CHOWN` (Kubernetes: \
         securityContext.capabilities.add: [\"CHOWN\"])"
    } else {
        "start the container as root and let --user drop privileges"
    };
    Err(Error::privileges(format!(
        "--chown: {who}, so it cannot give {} (owned by {uid}:{gid}) to {}:{}, and the app could \
         not write there; {grant}, or pre-own the volume for {}:{} (chown -R on the host or in \
         the image) and remove it from --chown/USHER_CHOWN",
        path.display(),
        target.uid,
        target.gid,
        target.uid,
        target.gid
    )))
}

/// The first entry of the tree not owned by `uid`, with its owner; links are not followed.
/// Entries on a read-only mount do not count: no one could change them, and the app only reads
/// them (with CAP_CHOWN they would be the read-only warning, not an error).
fn first_foreign(path: &Path, uid: u32) -> Option<(PathBuf, u32, u32)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.uid() != uid && !on_read_only_mount(path) {
        return Some((path.to_path_buf(), meta.uid(), meta.gid()));
    }
    if !meta.is_dir() {
        return None;
    }
    std::fs::read_dir(path)
        .ok()?
        .flatten()
        .find_map(|entry| first_foreign(&entry.path(), uid))
}

fn on_read_only_mount(path: &Path) -> bool {
    use nix::sys::statvfs::{FsFlags, statvfs};
    statvfs(path).is_ok_and(|fs| fs.flags().contains(FsFlags::ST_RDONLY))
}

/// One kind of chown failure in a tree: how many, and the first few files with their error.
#[derive(Default)]
struct Failures {
    count: u64,
    first: Vec<(String, String)>,
}

impl Failures {
    fn add(&mut self, path: &Path, e: &std::io::Error) {
        self.count += 1;
        if self.first.len() < NAMES_SHOWN {
            self.first.push((path.display().to_string(), e.to_string()));
        }
    }

    /// `N files (a, b, c and N-3 more)`; with `errors`, each name is followed by its error.
    fn summary(&self, errors: bool) -> String {
        let names = self
            .first
            .iter()
            .map(|(path, e)| {
                if errors {
                    format!("{path}: {e}")
                } else {
                    path.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(if errors { "; " } else { ", " });
        let more = self.count - self.first.len() as u64;
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let files = if self.count == 1 { "file" } else { "files" };
        format!("{} {files} ({names}{tail})", self.count)
    }
}

#[derive(Default)]
struct ChownStats {
    changed: u64,
    /// EROFS: a read-only mount.
    read_only: Failures,
    /// EPERM: the kernel or the filesystem refuses root the change.
    denied: Failures,
    other: Failures,
}

fn chown_tree(path: &Path, target: &Target, stats: &mut ChownStats) {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return stats.other.add(path, &e),
    };
    if meta.uid() != target.uid {
        match std::os::unix::fs::lchown(path, Some(target.uid), Some(target.gid)) {
            Ok(()) => stats.changed += 1,
            Err(e) if e.raw_os_error() == Some(nix::libc::EROFS) => stats.read_only.add(path, &e),
            Err(e) if e.raw_os_error() == Some(nix::libc::EPERM) => stats.denied.add(path, &e),
            Err(e) => stats.other.add(path, &e),
        }
    }
    if meta.is_dir() {
        match std::fs::read_dir(path) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    chown_tree(&entry.path(), target, stats);
                }
            }
            Err(e) => stats.other.add(path, &e),
        }
    }
}

/// One line per tree: what changed, and one summarised warning per kind of failure; an error
/// when every attempt was refused.
fn report_tree(root: &Path, target: &Target, stats: &ChownStats) -> Result<()> {
    let (uid, gid) = (target.uid, target.gid);
    if stats.denied.count > 0 && stats.changed == 0 {
        // With CAP_CHOWN known to be missing, `chown_trees` has already refused.
        let who = match has_capability(CAP_CHOWN) {
            Some(_) => format!(
                "the filesystem refuses to give files to {uid}:{gid} even to root (NFS with \
                 root_squash, a rootless or user-namespaced mount, immutable files)"
            ),
            None => "usher may lack CAP_CHOWN (capget(2) failed, so it cannot tell: \
                     `docker run --cap-add CHOWN`), or the filesystem refuses the change even to \
                     root (NFS with root_squash, immutable files)"
                .to_string(),
        };
        return Err(Error::privileges(format!(
            "--chown {}: {}, so the app could not write there: {}; pre-own the volume for \
             {uid}:{gid} where it is served and remove it from --chown/USHER_CHOWN",
            root.display(),
            who,
            stats.denied.summary(false)
        )));
    }
    if stats.read_only.count > 0 {
        kept_owner(
            root,
            stats.read_only.count,
            format_args!(
                "{} on a read-only filesystem keep their owner; fine for a read-only volume, \
             otherwise mount it read-write",
                stats.read_only.summary(false)
            ),
        );
    }
    if stats.denied.count > 0 {
        kept_owner(
            root,
            stats.denied.count,
            format_args!(
                "{} refused by the filesystem keep their owner; pre-own them for {uid}:{gid}",
                stats.denied.summary(false)
            ),
        );
    }
    if stats.other.count > 0 {
        kept_owner(
            root,
            stats.other.count,
            format_args!(
                "{} could not be changed (continuing)",
                stats.other.summary(true)
            ),
        );
    }
    if stats.changed > 0 {
        info!(
            step = "chown",
            path = %root.display(),
            changed = stats.changed,
            "gave files to {uid}:{gid}"
        );
    }
    Ok(())
}

/// The warning for files of the `--chown` tree `root` that keep their owner. One call site for
/// the three kinds: each `tracing` call site is static metadata plus inlined dispatch code.
fn kept_owner(root: &Path, files: u64, message: std::fmt::Arguments<'_>) {
    warn!(step = "chown", path = %root.display(), files, "{message}");
}

/// Becomes `target` for good, sets HOME for the app, and sets usher's own HOME too, so that
/// what usher does after the drop (the database driver's ~/.pgpass, for one) acts as the
/// target user.
///
/// As root: setgroups → setgid → setuid (each only when it changes something, so a drop to
/// the identity usher already has needs no capability), then checks that every id changed and
/// that uid 0 cannot be regained. Not root: a target equal to the current identity is a
/// no-op; anything else is an error, since only root can switch users.
pub fn drop_to(target: &Target, env: &mut Environment) -> Result<()> {
    env.set("HOME", &target.home);
    let current = Current::read()?;
    if !geteuid().is_root() {
        if !current.is(target) {
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            return Err(not_root(&current, target, &passwd));
        }
        crate::sys::set_own_home(&target.home);
        return Ok(());
    }
    // The checks in `target` make these failures unexpected; what is said stays true anyway.
    let failed = |call: String, cap: u32, e: nix::errno::Errno| {
        let hint = match (e, has_capability(cap)) {
            (nix::errno::Errno::EPERM, Some(false)) => {
                "usher lacks the capability: `docker run --cap-add SETUID --cap-add SETGID` \
                 (Kubernetes: securityContext.capabilities.add: [\"SETUID\", \"SETGID\"])"
            }
            (nix::errno::Errno::EPERM, None) => {
                "usher may lack CAP_SETUID/CAP_SETGID (capget(2) failed, so it cannot tell: \
                 `docker run --cap-add SETUID --cap-add SETGID`), or a seccomp profile or an \
                 LSM forbids the call"
            }
            (nix::errno::Errno::EPERM, Some(true)) => {
                "the kernel refused although usher has the capability: a seccomp profile, an \
                 LSM (AppArmor, SELinux) or the user namespace forbids it"
            }
            (nix::errno::Errno::EINVAL, _) => {
                "the id is not mapped in usher's user namespace (/proc/self/uid_map, gid_map)"
            }
            _ => "unexpected",
        };
        Error::privileges(format!("{call} failed: {e}; {hint}; not starting the app"))
    };
    if current.groups_differ(target) {
        let groups: Vec<Gid> = ids(&target.groups).collect();
        setgroups(&groups).map_err(|e| {
            let call = format!("setgroups({})", users::group_list(&target.groups));
            failed(call, CAP_SETGID, e)
        })?;
    }
    if current.gids_differ(target) {
        setgid(Gid::from_raw(target.gid))
            .map_err(|e| failed(format!("setgid({})", target.gid), CAP_SETGID, e))?;
    }
    if current.uids_differ(target) {
        setuid(Uid::from_raw(target.uid))
            .map_err(|e| failed(format!("setuid({})", target.uid), CAP_SETUID, e))?;
    }
    verify(target)?;
    crate::sys::set_own_home(&target.home);
    crate::log::log_step!(
        INFO,
        "privileges",
        "running as {} with HOME {}",
        users::describe(target),
        std::env::var("HOME").unwrap_or_default()
    );
    Ok(())
}

/// The drop holds: real, effective and saved ids are the target's, the groups are exactly the
/// target's, and a non-root target cannot become root again.
fn verify(target: &Target) -> Result<()> {
    let (uids, gids) = crate::sys::res_ids();
    let want_u = (target.uid, target.uid, target.uid);
    let want_g = (target.gid, target.gid, target.gid);
    if uids != want_u || gids != want_g {
        return Err(Error::privileges(format!(
            "privilege drop incomplete: uids {uids:?}, gids {gids:?}, wanted {want_u:?}/{want_g:?}; \
             not starting the app"
        )));
    }
    let have = group_set(getgroups().map_err(|e| Error::os("getgroups", e))?, None);
    let want = group_set(ids(&target.groups), None);
    if have != want {
        return Err(Error::privileges(format!(
            "privilege drop incomplete: groups {}, wanted {}; not starting the app",
            users::group_list(&have),
            users::group_list(&want)
        )));
    }
    if target.uid != 0 && setuid(Uid::from_raw(0)).is_ok() {
        return Err(Error::privileges(
            "privilege drop is reversible (setuid(0) succeeded); not starting the app",
        ));
    }
    Ok(())
}

/// Supplementary groups as a sorted set of ids, without `except`.
fn group_set(groups: impl IntoIterator<Item = Gid>, except: Option<u32>) -> Vec<u32> {
    let mut set: Vec<u32> = groups
        .into_iter()
        .map(|g| g.as_raw())
        .filter(|g| Some(*g) != except)
        .collect();
    set.sort_unstable();
    set.dedup();
    set
}

/// PR_SET_NO_NEW_PRIVS: execve can no longer grant privileges (setuid binaries, file caps).
pub fn set_no_new_privs() -> Result<()> {
    nix::sys::prctl::set_no_new_privs().map_err(|e| Error::os("prctl(PR_SET_NO_NEW_PRIVS)", e))
}
