//! `NAME_FILE` secrets, exactly as the official docker-library images' `file_env` does it.
//!
//! For each NAME in the list: `NAME` and `NAME_FILE` both non-empty is an error; a non-empty
//! `NAME` wins; otherwise `NAME` becomes the contents of the file `NAME_FILE` names, trailing
//! newlines stripped. `NAME_FILE` is removed from the app's environment either way. Runs as
//! root before the privilege drop, so secret files may be readable by root only.
//!
//! Two guards the shell's `$(< file)` lacks: a file is read up to `MAX_SECRET` bytes (a
//! `NAME_FILE` naming `/dev/urandom` or a log file is an error, not an endless read), and a
//! read that blocks (a FIFO no one writes to) still stops at once on TERM, INT or QUIT.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::config::ALWAYS_FILE_ENV;
use crate::environment::Environment;
use crate::exit::{Error, Result};
use crate::signals::Startup;

/// The most a secret file may hold: far more than any password, key or URL.
pub const MAX_SECRET: usize = 64 * 1024;

/// What the stage did for one variable, for the log (never the value).
#[derive(Debug, PartialEq, Eq)]
pub struct Resolved {
    pub name: String,
    pub file: String,
}

/// Rewrites `env` in place; returns the variables that were read from files. A stop signal
/// (`startup`) ends a read that blocks.
///
/// Nothing is changed when any variable fails: errors are collected first, so the app never
/// starts with half its secrets.
pub fn resolve(
    env: &mut Environment,
    names: &[String],
    startup: &Startup,
) -> Result<Vec<Resolved>> {
    let mut updates: Vec<(String, OsString, String)> = Vec::new();
    let mut file_vars: Vec<String> = Vec::new();
    for name in names {
        let file_var = format!("{name}_FILE");
        let value = env.non_empty(name);
        let file = env.non_empty(&file_var);
        match (value, file) {
            (Some(_), Some(_)) => {
                return Err(Error::config(format!(
                    "both {name} and {file_var} are set (but are exclusive); unset one of them"
                )));
            }
            (None, Some(path)) => {
                let contents = read_secret(name, &file_var, Path::new(path), startup)?;
                updates.push((name.clone(), contents, path.to_string_lossy().into_owned()));
            }
            _ => {}
        }
        if env.get(&file_var).is_some() {
            file_vars.push(file_var);
        }
    }
    for file_var in file_vars {
        env.remove(&file_var);
    }
    Ok(updates
        .into_iter()
        .map(|(name, contents, file)| {
            env.set(&name, contents);
            Resolved { name, file }
        })
        .collect())
}

fn read_secret(name: &str, file_var: &str, path: &Path, startup: &Startup) -> Result<OsString> {
    let shown = format!("{file_var}={}", path.display());
    let cannot = |e: std::io::Error| {
        let fix = match e.kind() {
            std::io::ErrorKind::NotFound => "check the path and that the secret is mounted",
            std::io::ErrorKind::PermissionDenied => {
                "make it readable by the user usher starts as (usually root)"
            }
            _ => "check the file",
        };
        Error::config(format!(
            "{shown}: cannot read the file for {name}: {e}; {fix}"
        ))
    };
    // Non-blocking, so that opening a FIFO does not wait for a writer and a read never
    // blocks: `poll` waits instead, together with the stop signals.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(cannot)?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let mut fds = [
            PollFd::new(file.as_fd(), PollFlags::POLLIN),
            PollFd::new(startup.stop_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::os(&format!("poll on {shown}"), e)),
        }
        if let Some(signal) = startup.stop_signal() {
            return Err(Error::interrupted(
                signal,
                &format!("the read of {file_var}"),
            ));
        }
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                bytes.extend_from_slice(&chunk[..n]);
                if bytes.len() > MAX_SECRET {
                    return Err(Error::config(format!(
                        "{shown}: the file for {name} holds more than {} KiB, which is no \
                         secret value; check that {file_var} names the secret's file",
                        MAX_SECRET / 1024
                    )));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(cannot(e)),
        }
    }
    strip_end(name, &mut bytes);
    Ok(OsString::from_vec(bytes))
}

/// The shell's `$(< file)` strips every trailing newline, and so do the official images: for
/// any variable, exactly that. A database URL never ends in whitespace, so for those all of
/// it goes: a secret file saved on Windows (`sqlite:///data/app.db\r\n`) would otherwise
/// make SQLite create `app.db\r`.
fn strip_end(name: &str, bytes: &mut Vec<u8>) {
    let url = ALWAYS_FILE_ENV.contains(&name);
    while let Some(&last) = bytes.last() {
        if last == b'\n' || (url && last.is_ascii_whitespace()) {
            bytes.pop();
        } else {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup() -> Startup {
        Startup::begin().unwrap()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn temp_file(contents: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "usher-secrets-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn file_becomes_variable_and_file_var_is_removed() {
        let path = temp_file(b"s3cret\n\n");
        let mut env = Environment::from_pairs([("DB_PASSWORD_FILE", path.as_os_str())]);
        let done = resolve(&mut env, &names(&["DB_PASSWORD"]), &startup()).unwrap();
        assert_eq!(done[0].name, "DB_PASSWORD");
        assert_eq!(env.get("DB_PASSWORD").unwrap(), "s3cret");
        assert!(env.get("DB_PASSWORD_FILE").is_none());
    }

    #[test]
    fn only_trailing_newlines_are_stripped() {
        let path = temp_file(b"\n line one\nline two \r\n\n");
        let mut env = Environment::from_pairs([("X_FILE", path.as_os_str())]);
        resolve(&mut env, &names(&["X"]), &startup()).unwrap();
        assert_eq!(env.get("X").unwrap(), "\n line one\nline two \r");
    }

    #[test]
    fn both_set_is_an_error_naming_both() {
        let path = temp_file(b"x");
        let mut env = Environment::from_pairs([
            ("API_KEY", std::ffi::OsStr::new("inline")),
            ("API_KEY_FILE", path.as_os_str()),
        ]);
        let before = env.clone();
        let e = resolve(&mut env, &names(&["API_KEY"]), &startup()).unwrap_err();
        assert!(e.message.contains("API_KEY and API_KEY_FILE"), "{e}");
        assert_eq!(e.kind, crate::exit::Kind::Config);
        assert_eq!(env, before);
    }

    #[test]
    fn empty_counts_as_unset() {
        let path = temp_file(b"from-file");
        let mut env = Environment::from_pairs([
            ("A", std::ffi::OsStr::new("")),
            ("A_FILE", path.as_os_str()),
            ("B", std::ffi::OsStr::new("inline")),
            ("B_FILE", std::ffi::OsStr::new("")),
        ]);
        resolve(&mut env, &names(&["A", "B"]), &startup()).unwrap();
        assert_eq!(env.get("A").unwrap(), "from-file");
        assert_eq!(env.get("B").unwrap(), "inline");
        assert!(env.get("B_FILE").is_none());
    }

    #[test]
    fn missing_file_names_variable_and_path_and_changes_nothing() {
        let mut env = Environment::from_pairs([
            ("A_FILE", "/nonexistent/usher/a"),
            ("B_FILE", "/nonexistent/usher/b"),
        ]);
        let before = env.clone();
        let e = resolve(&mut env, &names(&["A", "B"]), &startup()).unwrap_err();
        assert!(e.message.contains("A_FILE=/nonexistent/usher/a"), "{e}");
        assert_eq!(env, before);
    }

    #[test]
    fn database_urls_lose_trailing_whitespace_other_variables_only_newlines() {
        let path = temp_file(b"sqlite:///data/app.db \r\n");
        let mut env = Environment::from_pairs([
            ("DATABASE_URL_FILE", path.as_os_str()),
            ("MIGRATION_DATABASE_URL_FILE", path.as_os_str()),
            ("API_KEY_FILE", path.as_os_str()),
        ]);
        resolve(
            &mut env,
            &names(&["DATABASE_URL", "MIGRATION_DATABASE_URL", "API_KEY"]),
            &startup(),
        )
        .unwrap();
        assert_eq!(env.get("DATABASE_URL").unwrap(), "sqlite:///data/app.db");
        assert_eq!(
            env.get("MIGRATION_DATABASE_URL").unwrap(),
            "sqlite:///data/app.db"
        );
        assert_eq!(env.get("API_KEY").unwrap(), "sqlite:///data/app.db \r");
    }

    #[test]
    fn a_file_larger_than_a_secret_is_an_error() {
        let path = temp_file(&vec![b'x'; MAX_SECRET + 1]);
        let mut env = Environment::from_pairs([("A_FILE", path.as_os_str())]);
        let e = resolve(&mut env, &names(&["A"]), &startup()).unwrap_err();
        assert_eq!(e.kind, crate::exit::Kind::Config);
        assert!(e.message.contains("A_FILE="), "{e}");
        assert!(e.message.contains("64 KiB"), "{e}");
        let path = temp_file(&vec![b'x'; MAX_SECRET]);
        let mut env = Environment::from_pairs([("A_FILE", path.as_os_str())]);
        resolve(&mut env, &names(&["A"]), &startup()).unwrap();
    }

    #[test]
    fn names_not_in_the_list_are_left_alone() {
        let mut env = Environment::from_pairs([("OTHER_FILE", "/nonexistent")]);
        resolve(&mut env, &names(&["A"]), &startup()).unwrap();
        assert_eq!(env.get("OTHER_FILE").unwrap(), "/nonexistent");
    }
}
