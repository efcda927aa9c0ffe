//! The privilege drop, with gosu's semantics: refuse a setuid install, hand `--chown` trees to
//! the target user, then setgroups → setgid → setuid, and prove the drop cannot be undone.

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

/// At most this many per-file chown warnings are printed; the rest are counted.
const CHOWN_WARNINGS: usize = 10;

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

/// Resolves `--user` against the system's /etc/passwd and /etc/group. `None`: no drop asked.
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
    users::resolve(spec, caller, &passwd, &group)
        .map(Some)
        .map_err(|e| match e.kind {
            // A malformed spec from USHER_USER is a bad variable value: configuration.
            Kind::Usage if settings.user_from_env => {
                Error::config(e.message.replacen("--user", "USHER_USER", 1))
            }
            _ => e,
        })
}

/// Gives each tree to the target user and group: every entry not already owned by the user,
/// like the official images' `find PATH \! -user U -exec chown U:G {} +`.
///
/// Symbolic links are changed themselves, never followed (`lchown`): following one would let
/// a link planted in a volume hand any file on the system to the app's user. A file that
/// cannot be changed (read-only mount, NFS root squash) is a warning, not a failure.
pub fn chown_trees(paths: &[PathBuf], target: &Target) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    if !geteuid().is_root() {
        warn!(
            step = "chown",
            "usher is not root, so --chown is skipped; start the container as root (no USER) to use it"
        );
        return Ok(());
    }
    for root in paths {
        let mut stats = ChownStats::default();
        if let Err(e) = std::fs::symlink_metadata(root) {
            warn!(step = "chown", path = %root.display(), "cannot chown: {e}");
            continue;
        }
        chown_tree(root, target, &mut stats);
        if stats.failed > CHOWN_WARNINGS {
            warn!(
                step = "chown",
                path = %root.display(),
                "{} more files could not be changed", stats.failed - CHOWN_WARNINGS
            );
        }
        if stats.changed > 0 || stats.failed > 0 {
            info!(
                step = "chown",
                path = %root.display(),
                changed = stats.changed,
                failed = stats.failed,
                "gave files to {}:{}", target.uid, target.gid
            );
        }
    }
    Ok(())
}

#[derive(Default)]
struct ChownStats {
    changed: u64,
    failed: usize,
}

fn chown_tree(path: &Path, target: &Target, stats: &mut ChownStats) {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return chown_failed(path, &e, stats),
    };
    if meta.uid() != target.uid {
        match std::os::unix::fs::lchown(path, Some(target.uid), Some(target.gid)) {
            Ok(()) => stats.changed += 1,
            Err(e) => chown_failed(path, &e, stats),
        }
    }
    if meta.is_dir() {
        match std::fs::read_dir(path) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    chown_tree(&entry.path(), target, stats);
                }
            }
            Err(e) => chown_failed(path, &e, stats),
        }
    }
}

fn chown_failed(path: &Path, e: &std::io::Error, stats: &mut ChownStats) {
    stats.failed += 1;
    if stats.failed <= CHOWN_WARNINGS {
        warn!(step = "chown", path = %path.display(), "cannot chown (continuing): {e}");
    }
}

/// Becomes `target` for good and sets HOME for the app.
///
/// As root: setgroups → setgid → setuid, then checks that every id changed and that uid 0
/// cannot be regained. Not root: a target equal to the current identity is a no-op; anything
/// else is an error, since only root can switch users.
pub fn drop_to(target: &Target, env: &mut Environment) -> Result<()> {
    env.set("HOME", &target.home);
    if !geteuid().is_root() {
        return already_target(target);
    }
    let groups: Vec<Gid> = target.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    setgroups(&groups)
        .map_err(|e| Error::privileges(format!("setgroups({:?}) failed: {e}", target.groups)))?;
    setgid(Gid::from_raw(target.gid))
        .map_err(|e| Error::privileges(format!("setgid({}) failed: {e}", target.gid)))?;
    setuid(Uid::from_raw(target.uid))
        .map_err(|e| Error::privileges(format!("setuid({}) failed: {e}", target.uid)))?;
    verify(target)?;
    info!(
        step = "privileges",
        "running as {}",
        users::describe(target)
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
    let want = group_set(target.groups.iter().map(|g| Gid::from_raw(*g)), None);
    if have != want {
        return Err(Error::privileges(format!(
            "privilege drop incomplete: groups {have:?}, wanted {want:?}; not starting the app"
        )));
    }
    if target.uid != 0 && setuid(Uid::from_raw(0)).is_ok() {
        return Err(Error::privileges(
            "privilege drop is reversible (setuid(0) succeeded); not starting the app",
        ));
    }
    Ok(())
}

/// Not root: fine when the target is who usher already is (USER in the Dockerfile and the same
/// --user); otherwise say how to fix it.
fn already_target(target: &Target) -> Result<()> {
    let uid = getuid().as_raw();
    let gid = getgid().as_raw();
    // The primary gid may or may not be listed among the supplementary groups: ignore it.
    let have = group_set(getgroups().unwrap_or_default(), Some(gid));
    let want = group_set(target.groups.iter().map(|g| Gid::from_raw(*g)), Some(gid));
    if uid == target.uid && gid == target.gid && have == want {
        return Ok(());
    }
    Err(Error::privileges(format!(
        "usher runs as uid {uid} gid {gid}, not root, so it cannot switch to {}; \
         start the container as root (remove USER from the Dockerfile or --user from \
         docker run) and let --user drop privileges, or unset --user/USHER_USER",
        users::describe(target)
    )))
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
