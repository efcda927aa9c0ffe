//! The hand-over: find the app's program (after the drop, with the app's PATH, as gosu does)
//! and replace usher with it, or hand it to the init supervisor.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::sys::statvfs::{FsFlags, statvfs};
use nix::unistd::{AccessFlags, access};

use crate::config;
use crate::environment::Environment;
use crate::exit::{Error, Kind, Result};
use crate::signals::Startup;

/// The app, ready to start: its program resolved, its argv and environment as C strings.
#[derive(Debug, Clone)]
pub struct App {
    /// The file that will be executed.
    pub path: PathBuf,
    /// argv, with argv[0] as the user wrote the command.
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
}

impl App {
    /// The command as given, for messages.
    pub fn name(&self) -> String {
        self.argv
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Resolves `program` like `execvp` would, but as gosu does: with the app's `PATH` (after the
/// privilege drop, so permissions are the app's), skipping relative PATH entries such as `.`
/// or an empty one, which would run whatever sits in the working directory.
pub fn prepare(program: &OsStr, args: &[OsString], env: &Environment) -> Result<App> {
    let argv = std::iter::once(program)
        .chain(args.iter().map(OsString::as_os_str))
        .map(|a| {
            CString::new(a.as_bytes()).map_err(|_| {
                Error::usage(format!(
                    "argument {:?} contains a NUL byte",
                    a.to_string_lossy()
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let path = find_program(program, env).map_err(|e| with_usher_hint(e, program, args))?;
    Ok(App {
        path,
        argv,
        envp: env.to_envp(),
    })
}

/// Fails early, before any waiting or migrating, when the app's command is a usher subcommand
/// or flag that is not also a program in PATH: `ENTRYPOINT ["usher", "--"]` and then
/// `docker run IMAGE migrate` would otherwise migrate and then exit 127.
pub fn refuse_usher_word(program: &OsStr, args: &[OsString], env: &Environment) -> Result<()> {
    if usher_word(program).is_none() {
        return Ok(());
    }
    match find_program(program, env) {
        Err(e) if e.kind == Kind::NotFound => Err(with_usher_hint(e, program, args)),
        _ => Ok(()),
    }
}

/// A "command not found" for one of usher's own words, with how to run usher instead.
fn with_usher_hint(mut e: Error, program: &OsStr, args: &[OsString]) -> Error {
    if e.kind == Kind::NotFound && usher_word(program).is_some() {
        e.message = format!("{}; {}", e.message, usher_word_hint(program, args));
    }
    e
}

/// `program` as text when it is one of usher's own words.
fn usher_word(program: &OsStr) -> Option<&str> {
    program.to_str().filter(|w| config::is_usher_word(w))
}

/// How to run usher's own subcommand when the ENTRYPOINT's `--` made it the app's command.
fn usher_word_hint(program: &OsStr, args: &[OsString]) -> String {
    let word = program.to_string_lossy();
    let what = if word.starts_with('-') {
        "a usher option"
    } else {
        "a usher subcommand"
    };
    let usher = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/usr/local/bin/usher".to_string());
    let words = std::iter::once(program)
        .chain(args.iter().map(OsString::as_os_str))
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    format!(
        "{word} is {what}, but it came after `--` (an ENTRYPOINT [\"usher\", \"--\"]), which \
         makes it the app's command; to run usher itself: `docker run --entrypoint {usher} \
         IMAGE {}` (Kubernetes: command: [\"{usher}\", \"{}\"]), or remove the `--` from \
         the ENTRYPOINT",
        words.join(" "),
        words.join("\", \"")
    )
}

fn find_program(program: &OsStr, env: &Environment) -> Result<PathBuf> {
    let name = program.to_string_lossy();
    if program.is_empty() {
        return Err(Error::new(Kind::NotFound, "the command is an empty string"));
    }
    if program.as_bytes().contains(&b'/') {
        let path = PathBuf::from(program);
        return match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::new(
                Kind::NotFound,
                format!("{name}: no such file; check the path in CMD/ENTRYPOINT"),
            )),
            Ok(m) if m.is_dir() => Err(Error::new(
                Kind::NotExecutable,
                format!("{name}: is a directory, not a program"),
            )),
            _ => Ok(path),
        };
    }
    let default_path =
        OsString::from("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let path_var = env
        .get("PATH")
        .map(OsStr::to_os_string)
        .unwrap_or(default_path);
    let mut not_executable: Option<PathBuf> = None;
    let mut skipped_relative = false;
    for dir in path_var.as_bytes().split(|b| *b == b':') {
        let dir = Path::new(OsStr::from_bytes(dir));
        if !dir.is_absolute() {
            skipped_relative = true;
            continue;
        }
        let candidate = dir.join(program);
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if meta.is_file() && access(&candidate, AccessFlags::X_OK).is_ok() {
            return Ok(candidate);
        }
        if not_executable.is_none() && !meta.is_dir() {
            not_executable = Some(candidate);
        }
    }
    if let Some(candidate) = not_executable {
        return Err(Error::new(
            Kind::NotExecutable,
            format!(
                "{}: permission denied: {}",
                candidate.display(),
                why_not_executable(&candidate)
            ),
        ));
    }
    let hint = if skipped_relative {
        " (relative PATH entries such as '.' are skipped; give ./name instead)"
    } else {
        ""
    };
    Err(Error::new(
        Kind::NotFound,
        format!(
            "{name}: command not found in PATH={}{hint}",
            path_var.to_string_lossy()
        ),
    ))
}

/// Why this user may not execute `path`, with the fix: a noexec mount (where chmod cannot
/// help), no execute bit at all, execute bits that do not include this user, or — when the file
/// itself may be executed — its `#!` interpreter, for the same reasons.
fn why_not_executable(path: &Path) -> String {
    if on_noexec_mount(path) {
        return "the filesystem it is on is mounted noexec, so nothing there can be executed \
                (chmod +x cannot help); mount it without noexec, or copy the program to an \
                executable location"
            .to_string();
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return "check its permissions and those of the directories above it".to_string();
    };
    let mode = meta.mode() & 0o7777;
    if mode & 0o111 == 0 {
        return format!("it has no execute bit (mode {mode:04o}); chmod +x it");
    }
    if access(path, AccessFlags::X_OK).is_err() {
        return format!(
            "it is executable (mode {mode:04o}, owner {}:{}) but not by uid {} gid {}; chmod \
             a+x it, or run as a user that may",
            meta.uid(),
            meta.gid(),
            nix::unistd::geteuid(),
            nix::unistd::getegid()
        );
    }
    match interpreter(path) {
        Some(interp) if on_noexec_mount(&interp) => format!(
            "its #! interpreter {} is on a filesystem mounted noexec (chmod +x cannot help); \
             mount it without noexec, or use an interpreter elsewhere",
            interp.display()
        ),
        Some(interp) => format!(
            "its #! interpreter {} cannot be executed by uid {}; chmod +x it or use another",
            interp.display(),
            nix::unistd::geteuid()
        ),
        None => "check the permissions of the directories above it and any security profile \
                 (AppArmor, SELinux) that confines the app"
            .to_string(),
    }
}

fn on_noexec_mount(path: &Path) -> bool {
    statvfs(path).is_ok_and(|fs| fs.flags().contains(FsFlags::ST_NOEXEC))
}

/// The interpreter named by a script's `#!` line, if it has one.
fn interpreter(path: &Path) -> Option<PathBuf> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|b| *b == b'\n').next()?;
    let word = line
        .split(|b| *b == b' ' || *b == b'\t')
        .find(|w| !w.is_empty())?;
    Some(PathBuf::from(OsStr::from_bytes(word)))
}

/// Replaces usher with the app: same PID, nothing of usher left. Restores the inherited signal
/// mask and dispositions right before `execve`. Returns only on failure.
pub fn exec(app: &App, startup: &Startup) -> Error {
    let path = match CString::new(app.path.as_os_str().as_bytes()) {
        Ok(p) => p,
        Err(_) => return Error::usage("the program path contains a NUL byte"),
    };
    startup.restore_for_exec();
    let errno = match nix::unistd::execve(&path, &app.argv, &app.envp) {
        Err(errno) => errno,
        Ok(never) => match never {},
    };
    // Back in usher: block again, so nothing reaches the default dispositions just restored.
    let _ = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&crate::signals::blockable()),
        None,
    );
    exec_error(app, errno)
}

/// The error for a failed `execve`, with the shell's codes: 127 not found, 126 otherwise.
pub fn exec_error(app: &App, errno: Errno) -> Error {
    let path = app.path.display();
    match errno {
        Errno::ENOENT => Error::new(
            Kind::NotFound,
            format!(
                "{path}: cannot execute: a file it needs is missing (the #! interpreter or the \
                 dynamic loader); install it or use a static binary"
            ),
        ),
        Errno::ENOEXEC => Error::new(
            Kind::NotExecutable,
            format!(
                "{path}: not an executable format; add a #! line to the script or build for this CPU"
            ),
        ),
        Errno::EACCES => Error::new(
            Kind::NotExecutable,
            format!(
                "{path}: permission denied: {}",
                why_not_executable(&app.path)
            ),
        ),
        other => Error::new(
            Kind::NotExecutable,
            format!("{path}: cannot execute: {}", other.desc()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usher_words_are_its_subcommands_and_flags() {
        for word in [
            "migrate",
            "status",
            "resolve",
            "health",
            "help",
            "version",
            "--help",
            "-h",
            "--version",
            "-V",
            "--user",
            "--user=app",
            "--init",
        ] {
            assert!(usher_word(OsStr::new(word)).is_some(), "{word}");
        }
        for word in ["node", "migrations", "--no-such-flag", "-x", "", "sh"] {
            assert!(usher_word(OsStr::new(word)).is_none(), "{word}");
        }
    }

    #[test]
    fn the_hint_gives_the_whole_command() {
        let hint = usher_word_hint(OsStr::new("migrate"), &["--dry-run".into()]);
        assert!(hint.contains("IMAGE migrate --dry-run`"), "{hint}");
        assert!(hint.contains("\"migrate\", \"--dry-run\"]"), "{hint}");
        assert!(hint.contains("a usher subcommand"), "{hint}");
        let hint = usher_word_hint(OsStr::new("--help"), &[]);
        assert!(hint.contains("a usher option"), "{hint}");
    }
}
