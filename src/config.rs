//! Configuration: flags and `USHER_*` variables, read once into one documented struct.
//!
//! Every option has a flag and an environment variable; a flag wins over its variable (for a
//! repeatable option, any flag replaces the whole variable's list). `OPTIONS` is the single
//! table of names, variables, defaults and help; `--help` is printed from it. Raw strings
//! become validated settings in `Config::from_args`, and nowhere else.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::environment::Environment;
use crate::exit::{Error, Result};
pub use crate::values::{parse_bool, parse_duration, parse_signal};

/// The history formats `--format` accepts (besides `detect`); the database module's
/// `formats::FORMATS` implements them (a unit test there keeps the two lists equal).
pub const FORMAT_NAMES: &[&str] = &[
    "refinery",
    "sqlx",
    "prisma",
    "dbmate",
    "golang-migrate",
    "goose",
];

/// Variables that always accept `NAME_FILE`, whatever `--file-env` says.
pub const ALWAYS_FILE_ENV: &[&str] = &["DATABASE_URL", "MIGRATION_DATABASE_URL"];

/// Everything usher was asked to do, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to do after the common start-up: run an app, or a subcommand.
    pub command: Command,
    pub log: LogSettings,
    pub privileges: PrivilegeSettings,
    /// Variables that accept `NAME_FILE` (always includes `ALWAYS_FILE_ENV`).
    pub file_env: Vec<String>,
    pub wait: WaitSettings,
    pub migrate: MigrateSettings,
    pub init: InitSettings,
    /// `--hooks DIR`: pre-start tasks to run after the migrations; `None`: none.
    pub hooks: Option<PathBuf>,
    /// The environment usher was started with; the stages turn it into the app's.
    pub env: Environment,
    /// `(NAME, path)` for each variable the secrets stage read from `NAME_FILE`, so that an
    /// error about its value can name the file it came from.
    pub from_files: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `usher [OPTIONS] [--] PROGRAM [ARGS...]`: run the pipeline, then hand over.
    Run {
        program: OsString,
        args: Vec<OsString>,
    },
    /// `usher migrate [--dry-run]`: wait, lock, apply, exit.
    Migrate {
        dry_run: bool,
    },
    /// `usher status [--exit-code]`: the table of migrations and their states.
    Status {
        exit_code: bool,
    },
    /// `usher resolve VERSION --applied|--rolled-back`: repair a partly applied migration.
    Resolve {
        version: i64,
        mark: ResolveMark,
    },
    /// `usher baseline VERSION`: record every migration up to VERSION as applied without
    /// running it, in a database that has no history yet.
    Baseline {
        version: i64,
    },
    /// `usher health TARGET`: one probe, exit 0 healthy or 1 unhealthy.
    Health(HealthSettings),
    Help,
    Version,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveMark {
    /// The migration's changes are all in the database: record it as applied.
    Applied,
    /// The migration's changes were undone by hand: forget it, so it runs again.
    RolledBack,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSettings {
    /// `http://…`, `tcp://host:port` or `db`.
    pub target: String,
    pub timeout: Duration,
    /// The one HTTP status that counts as healthy; default any of 200–399.
    pub expect_status: Option<u16>,
    /// `health db`: also unhealthy while migrations are pending.
    pub no_pending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: tracing::Level,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegeSettings {
    /// gosu-style user spec; `None` keeps the current user.
    pub user: Option<String>,
    /// Trees to hand to the target user before the drop.
    pub chown: Vec<PathBuf>,
    /// Set PR_SET_NO_NEW_PRIVS before the hand-over.
    pub no_new_privs: bool,
    /// Whether `user` and `chown` came from `USHER_USER`/`USHER_CHOWN` rather than flags: a
    /// bad value found later is then a configuration error (78), not a usage error (64).
    pub user_from_env: bool,
    pub chown_from_env: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitSettings {
    /// Dependencies to wait for, as given (`tcp://`, `http://`, `unix://`, `file://`).
    pub targets: Vec<String>,
    /// Bounds the whole wait, shared by the database and the `--wait` dependencies.
    pub timeout: Duration,
    /// Pause between two attempts on one dependency.
    pub interval: Duration,
    /// Bound on one connection attempt.
    pub attempt_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnknown {
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateSettings {
    pub dir: PathBuf,
    /// auto: migrate when the directory exists.
    pub mode: Mode,
    /// History format to force (`refinery`, `sqlx`, …); `None` detects it. The database
    /// module owns the list of formats and rejects an unknown name.
    pub format: Option<String>,
    /// Whether `format` came from `USHER_FORMAT` (an unknown name is then exit 78, not 64).
    pub format_from_env: bool,
    pub lock_timeout: Duration,
    pub on_unknown: OnUnknown,
    pub allow_out_of_order: bool,
    /// `--baseline`: on a database with no history, record the migrations up to this version
    /// as applied without running them (Flyway's baseline-on-migrate).
    pub baseline: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalRewrite {
    pub from: Signal,
    /// `None` drops the signal.
    pub to: Option<Signal>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSettings {
    /// auto: supervise when usher is PID 1, exec otherwise.
    pub mode: Mode,
    /// Forward signals to the child's whole process group.
    pub signal_group: bool,
    pub rewrite: Vec<SignalRewrite>,
    /// After forwarding a terminating signal, SIGKILL the child's group when it has not exited
    /// within this time; also the grace given to leftover descendants. `None`: never escalate.
    pub stop_timeout: Option<Duration>,
}

/// Grace given to descendants left behind by the app when `--stop-timeout` is not set.
pub const LEFTOVER_GRACE: Duration = Duration::from_secs(2);

/// What kind of value an option takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// A switch: the flag takes no value; the variable takes 1/true/yes/on or 0/false/no/off.
    Switch,
    Value,
    /// Repeatable flag; the variable is a comma list.
    List,
}

/// One global option: its flag, variable, value name, default and help line.
struct Opt {
    flag: &'static str,
    env: &'static str,
    takes: Takes,
    value: &'static str,
    default: &'static str,
    help: &'static str,
    section: &'static str,
}

const fn opt(
    section: &'static str,
    flag: &'static str,
    env: &'static str,
    takes: Takes,
    value: &'static str,
    default: &'static str,
    help: &'static str,
) -> Opt {
    Opt {
        flag,
        env,
        takes,
        value,
        default,
        help,
        section,
    }
}

use Takes::{List, Switch, Value};

const PRIV: &str = "Privileges";
const SECRETS: &str = "Secrets";
const READY: &str = "Readiness";
const MIGRATE: &str = "Migrations";
const INIT: &str = "Init (PID 1)";
const LOG: &str = "Logging";
const HOOKS: &str = "Pre-start tasks";

#[rustfmt::skip]
const OPTIONS: &[Opt] = &[
    opt(PRIV, "user", "USHER_USER", Value, "SPEC", "keep the current user",
        "drop to user[:group] (names or ids, as gosu and docker --user) before the app starts"),
    opt(PRIV, "chown", "USHER_CHOWN", List, "PATH", "none",
        "before the drop, give PATH and everything under it not owned by the user to user:group"),
    opt(PRIV, "no-new-privs", "USHER_NO_NEW_PRIVS", Switch, "", "off",
        "set PR_SET_NO_NEW_PRIVS so the app can never gain privileges (setuid binaries)"),
    opt(SECRETS, "file-env", "USHER_FILE_ENV", List, "NAMES", "DATABASE_URL,MIGRATION_DATABASE_URL",
        "variables that may be given as NAME_FILE=/path (comma list; the two defaults always are)"),
    opt(READY, "wait", "USHER_WAIT", List, "URL", "none",
        "wait for tcp://host:port, http://host:port/path, unix:///path or file:///path"),
    opt(READY, "wait-timeout", "USHER_WAIT_TIMEOUT", Value, "DURATION", "60s",
        "how long to wait for the database and every --wait dependency, in all"),
    opt(READY, "wait-interval", "USHER_WAIT_INTERVAL", Value, "DURATION", "1s",
        "pause between two attempts on one dependency"),
    opt(READY, "wait-attempt-timeout", "USHER_WAIT_ATTEMPT_TIMEOUT", Value, "DURATION", "2s",
        "bound on one connection attempt"),
    opt(MIGRATE, "migrations", "USHER_MIGRATIONS", Value, "DIR", "migrations",
        "directory of SQL migration files"),
    opt(MIGRATE, "migrate", "USHER_MIGRATE", Value, "auto|always|never", "auto",
        "auto: migrate when DIR exists; always: a missing DIR is an error; never: skip"),
    opt(MIGRATE, "format", "USHER_FORMAT", Value, "NAME", "detect",
        "history format: sqlx, refinery, prisma, golang-migrate, dbmate or goose (detected from the files and tables)"),
    opt(MIGRATE, "baseline", "USHER_BASELINE", Value, "VERSION", "none",
        "on a database with no history yet, record every migration up to VERSION as applied without running it"),
    opt(MIGRATE, "lock-timeout", "USHER_LOCK_TIMEOUT", Value, "DURATION", "10m",
        "how long to wait for another replica's migration lock"),
    opt(MIGRATE, "on-unknown", "USHER_ON_UNKNOWN", Value, "warn|error", "warn",
        "what to do when the database has applied migrations with no file (a rollback)"),
    opt(MIGRATE, "allow-out-of-order", "USHER_ALLOW_OUT_OF_ORDER", Switch, "", "off",
        "apply a pending file older than the newest applied migration instead of failing"),
    opt(HOOKS, "hooks", "USHER_HOOKS", Value, "DIR", "none",
        "after migrating, run every executable file in DIR in name order, as the app's user"),
    opt(INIT, "init", "USHER_INIT", Value, "auto|always|never", "auto",
        "auto: stay as init when PID 1, else exec; always: supervise (as subreaper if not PID 1)"),
    opt(INIT, "signal-group", "USHER_SIGNAL_GROUP", Switch, "", "off",
        "forward signals to the app's whole process group"),
    opt(INIT, "rewrite-signal", "USHER_REWRITE_SIGNAL", List, "FROM:TO", "none",
        "forward signal FROM as TO (TERM:QUIT); TO=0 drops FROM"),
    opt(INIT, "stop-timeout", "USHER_STOP_TIMEOUT", Value, "DURATION", "off",
        "SIGKILL the app's group this long after a TERM/INT/QUIT it has not obeyed"),
    opt(LOG, "log-format", "USHER_LOG_FORMAT", Value, "text|json", "text",
        "text lines, or one JSON object per line (ts, level, msg, step, …)"),
    opt(LOG, "log-level", "USHER_LOG_LEVEL", Value, "LEVEL", "info",
        "error, warn, info or debug"),
];

const SUBCOMMANDS: &[&str] = &[
    "migrate", "status", "resolve", "baseline", "health", "help", "version",
];

/// Whether `word` means something to usher itself: a subcommand or one of its flags. Given as
/// the app's command (`ENTRYPOINT ["usher", "--"]` then `docker run IMAGE migrate`), it was
/// surely meant for usher; the hand-over then says how to reach usher instead.
pub fn is_usher_word(word: &str) -> bool {
    if SUBCOMMANDS.contains(&word) || ["-h", "-V"].contains(&word) {
        return true;
    }
    let Some(flag) = word.strip_prefix("--") else {
        return false;
    };
    let name = flag.split_once('=').map_or(flag, |(name, _)| name);
    ["help", "version"].contains(&name) || OPTIONS.iter().any(|o| o.flag == name)
}

/// Options as strings, before validation: env first, flags on top.
#[derive(Default)]
struct Raw {
    values: Vec<(&'static str, Vec<OsString>)>,
    flagged: Vec<&'static str>,
}

impl Raw {
    fn from_env(env: &Environment) -> Result<Raw> {
        let mut raw = Raw::default();
        for o in OPTIONS {
            let Some(v) = env.non_empty(o.env) else {
                continue;
            };
            let values = if o.takes == List {
                let text = v.to_str().ok_or_else(|| {
                    Error::config(format!("{} is not valid UTF-8; fix its value", o.env))
                })?;
                let mut items: Vec<String> = Vec::new();
                for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    // A URL's password may hold a comma: in USHER_WAIT, an item that is not
                    // a URL of its own continues the one before it (never quoted in part).
                    match items.last_mut() {
                        Some(last) if o.flag == "wait" && !item.contains("://") => {
                            last.push(',');
                            last.push_str(item);
                        }
                        _ => items.push(item.to_string()),
                    }
                }
                items.into_iter().map(OsString::from).collect()
            } else {
                vec![v.to_os_string()]
            };
            raw.values.push((o.flag, values));
        }
        Ok(raw)
    }

    /// A flag replaces what the variable said; a repeated list flag adds to the list.
    fn flag(&mut self, o: &Opt, value: OsString) {
        let first = !self.flagged.contains(&o.flag);
        if first {
            self.flagged.push(o.flag);
            self.values.retain(|(f, _)| *f != o.flag);
        }
        match self.values.iter_mut().find(|(f, _)| *f == o.flag) {
            Some((_, vs)) if o.takes == List => vs.push(value),
            Some((_, vs)) => *vs = vec![value],
            None => self.values.push((o.flag, vec![value])),
        }
    }

    fn all(&self, flag: &str) -> &[OsString] {
        self.values
            .iter()
            .find(|(f, _)| *f == flag)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// The one value of an option, as text; names the flag and variable when it is not UTF-8.
    fn text(&self, flag: &str) -> Result<Option<String>> {
        match self.all(flag).last() {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(|s| Some(s.to_string()))
                .ok_or_else(|| self.bad(flag, None, "give it as valid UTF-8")),
        }
    }

    fn texts(&self, flag: &str) -> Result<Vec<String>> {
        self.all(flag)
            .iter()
            .map(|v| {
                v.to_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.bad(flag, None, "give it as valid UTF-8"))
            })
            .collect()
    }

    /// A bad option value, naming where it came from and the fix: a bad flag is a usage
    /// error (exit 64), a bad `USHER_*` variable a configuration error (exit 78) — the
    /// README's exit-code table. `value` is `None` when it must not be shown (not UTF-8).
    fn bad(&self, flag: &str, value: Option<&str>, fix: &str) -> Error {
        let value = match value {
            Some(v) => format!("invalid value {v:?}"),
            None => "invalid value".to_string(),
        };
        if self.flagged.contains(&flag) {
            Error::usage(format!("--{flag}: {value}; {fix}"))
        } else {
            Error::config(format!("{}: {value}; {fix}", env_of(flag)))
        }
    }

    fn switch(&self, flag: &str) -> Result<bool> {
        match self.text(flag)? {
            None => Ok(false),
            Some(v) => parse_bool(&v).ok_or_else(|| {
                self.bad(
                    flag,
                    Some(&v),
                    "use 1, true, yes or on (or 0, false, no, off)",
                )
            }),
        }
    }

    fn duration(&self, flag: &str, default: Duration) -> Result<Duration> {
        match self.text(flag)? {
            None => Ok(default),
            Some(v) => parse_duration(&v).ok_or_else(|| {
                self.bad(
                    flag,
                    Some(&v),
                    "use a number of seconds or 500ms, 30s, 10m, 1h",
                )
            }),
        }
    }

    fn mode(&self, flag: &str) -> Result<Mode> {
        match self.text(flag)?.as_deref() {
            None | Some("auto") => Ok(Mode::Auto),
            Some("always") => Ok(Mode::Always),
            Some("never") => Ok(Mode::Never),
            Some(v) => Err(self.bad(flag, Some(v), "use auto, always or never")),
        }
    }
}

fn env_of(flag: &str) -> &'static str {
    OPTIONS
        .iter()
        .find(|o| o.flag == flag)
        .map(|o| o.env)
        .unwrap_or("")
}

impl Config {
    /// Reads the command line (without the program name) and the environment.
    pub fn from_args(args: Vec<OsString>, env: Environment) -> Result<Config> {
        let mut raw = Raw::from_env(&env)?;
        let command = parse_command_line(args, &mut raw)?;

        let log = LogSettings {
            format: match raw.text("log-format")?.as_deref() {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(v) => return Err(raw.bad("log-format", Some(v), "use text or json")),
            },
            level: match raw.text("log-level")? {
                None => tracing::Level::INFO,
                Some(v) => parse_level(&v).ok_or_else(|| {
                    raw.bad("log-level", Some(&v), "use error, warn, info or debug")
                })?,
            },
        };

        let user = raw.text("user")?;
        let privileges = PrivilegeSettings {
            user,
            chown: raw.all("chown").iter().map(PathBuf::from).collect(),
            no_new_privs: raw.switch("no-new-privs")?,
            user_from_env: !raw.flagged.contains(&"user"),
            chown_from_env: !raw.flagged.contains(&"chown"),
        };

        let mut file_env: Vec<String> = ALWAYS_FILE_ENV.iter().map(|s| s.to_string()).collect();
        for list in raw.texts("file-env")? {
            for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !valid_env_name(name) {
                    return Err(raw.bad(
                        "file-env",
                        Some(name),
                        "give variable names such as API_KEY, separated by commas",
                    ));
                }
                if !file_env.iter().any(|n| n == name) {
                    file_env.push(name.to_string());
                }
            }
        }

        let wait = WaitSettings {
            targets: raw.texts("wait")?,
            timeout: raw.duration("wait-timeout", Duration::from_secs(60))?,
            interval: raw.duration("wait-interval", Duration::from_secs(1))?,
            attempt_timeout: raw.duration("wait-attempt-timeout", Duration::from_secs(2))?,
        };
        for target in &wait.targets {
            // The URL is shown redacted: a --wait URL may hold a password.
            crate::readiness::Target::parse(target)
                .map_err(|fix| raw.bad("wait", Some(&crate::redact::redact(target)), &fix))?;
        }

        let migrate = MigrateSettings {
            dir: raw
                .all("migrations")
                .last()
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("migrations")),
            mode: raw.mode("migrate")?,
            format: match raw.text("format")? {
                Some(f) if f == "auto" || f == "detect" => None,
                Some(f) if FORMAT_NAMES.contains(&f.as_str()) => Some(f),
                Some(f) => {
                    let fix = format!("use {} (or detect)", FORMAT_NAMES.join(" or "));
                    return Err(raw.bad("format", Some(&f), &fix));
                }
                None => None,
            },
            format_from_env: !raw.flagged.contains(&"format"),
            lock_timeout: raw.duration("lock-timeout", Duration::from_secs(600))?,
            on_unknown: match raw.text("on-unknown")?.as_deref() {
                None | Some("warn") => OnUnknown::Warn,
                Some("error") => OnUnknown::Error,
                Some(v) => return Err(raw.bad("on-unknown", Some(v), "use warn or error")),
            },
            allow_out_of_order: raw.switch("allow-out-of-order")?,
            baseline: match raw.text("baseline")? {
                None => None,
                Some(v) => {
                    Some(migration_version(&v).map_err(|fix| raw.bad("baseline", Some(&v), fix))?)
                }
            },
        };

        let init = InitSettings {
            mode: raw.mode("init")?,
            signal_group: raw.switch("signal-group")?,
            rewrite: raw
                .texts("rewrite-signal")?
                .iter()
                .map(|r| {
                    parse_rewrite(r).ok_or_else(|| {
                        raw.bad(
                            "rewrite-signal",
                            Some(r),
                            "use FROM:TO with signal names or numbers, e.g. TERM:QUIT or USR1:0",
                        )
                    })
                })
                .collect::<Result<_>>()?,
            stop_timeout: match raw.text("stop-timeout")?.as_deref() {
                None | Some("off") | Some("0") => None,
                Some(v) => Some(parse_duration(v).ok_or_else(|| {
                    raw.bad("stop-timeout", Some(v), "use a duration such as 8s, or off")
                })?),
            },
        };

        Ok(Config {
            command,
            log,
            privileges,
            file_env,
            wait,
            migrate,
            init,
            hooks: raw.all("hooks").last().map(PathBuf::from),
            env,
            from_files: Vec::new(),
        })
    }
}

/// Splits the command line into global options (into `raw`) and the command.
///
/// Options come before the command; after `--`, or from the first word that is not an option
/// or a subcommand name, everything is the app's command line, passed through untouched.
fn parse_command_line(args: Vec<OsString>, raw: &mut Raw) -> Result<Command> {
    let mut args = args.into_iter();
    let mut sub: Option<String> = None;
    let mut positionals: Vec<String> = Vec::new();
    let mut sub_flags: Vec<(String, Option<String>)> = Vec::new();

    while let Some(arg) = args.next() {
        let bytes = arg.as_encoded_bytes();
        if bytes == b"--" {
            if sub.is_some() {
                return Err(Error::usage(
                    "'--' only goes before the app's command, not after a subcommand",
                ));
            }
            let Some(program) = args.next() else {
                return Err(Error::usage(
                    "no command after '--'; usage: usher [OPTIONS] -- COMMAND [ARGS...]",
                ));
            };
            return Ok(Command::Run {
                program,
                args: args.collect(),
            });
        }
        if bytes == b"-h" {
            return Ok(Command::Help);
        }
        if bytes == b"-V" {
            return Ok(Command::Version);
        }
        if bytes.starts_with(b"--") {
            let text = arg
                .to_str()
                .ok_or_else(|| Error::usage(format!("unknown option {}", arg.to_string_lossy())))?;
            let (name, inline) = match text[2..].split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (&text[2..], None),
            };
            if name == "help" {
                return Ok(Command::Help);
            }
            if name == "version" {
                return Ok(Command::Version);
            }
            if let Some(o) = OPTIONS.iter().find(|o| o.flag == name) {
                let value = match (o.takes, inline) {
                    (Switch, None) => OsString::from("true"),
                    (Switch, Some(v)) => OsString::from(v),
                    (_, Some(v)) => OsString::from(v),
                    (_, None) => args.next().ok_or_else(|| {
                        Error::usage(format!("--{name} needs a value ({})", o.value))
                    })?,
                };
                raw.flag(o, value);
                continue;
            }
            if sub.is_some() {
                sub_flags.push((name.to_string(), inline));
                continue;
            }
            return Err(Error::usage(format!(
                "unknown option --{name}; see usher --help"
            )));
        }
        if bytes.len() > 1 && bytes[0] == b'-' && sub.is_none() {
            return Err(Error::usage(format!(
                "unknown option {}; see usher --help",
                arg.to_string_lossy()
            )));
        }
        // A word: a subcommand name, a subcommand's argument, or the app's command.
        match &sub {
            None => match arg.to_str() {
                Some(word) if SUBCOMMANDS.contains(&word) => sub = Some(word.to_string()),
                _ => {
                    return Ok(Command::Run {
                        program: arg,
                        args: args.collect(),
                    });
                }
            },
            Some(_) => positionals.push(arg.to_str().map(str::to_string).ok_or_else(|| {
                Error::usage(format!("argument {} is not UTF-8", arg.to_string_lossy()))
            })?),
        }
        // A subcommand's own value flags take the next word.
        if let Some((name, None)) = sub_flags.last()
            && takes_value(sub.as_deref(), name)
            && let Some(v) = positionals.pop()
        {
            let name = name.clone();
            sub_flags.pop();
            sub_flags.push((name, Some(v)));
        }
    }

    match sub.as_deref() {
        None => Err(Error::usage(
            "no command given; usage: usher [OPTIONS] [--] COMMAND [ARGS...] (see usher --help)",
        )),
        Some(name) => subcommand(name, positionals, sub_flags),
    }
}

fn takes_value(sub: Option<&str>, flag: &str) -> bool {
    matches!((sub, flag), (Some("health"), "timeout" | "expect-status"))
}

fn subcommand(
    name: &str,
    positionals: Vec<String>,
    flags: Vec<(String, Option<String>)>,
) -> Result<Command> {
    let unknown = |flag: &str| {
        Error::usage(format!(
            "usher {name}: unknown option --{flag}; see usher --help"
        ))
    };
    let extra = |p: &[String]| -> Result<()> {
        match p.first() {
            Some(a) => Err(Error::usage(format!(
                "usher {name}: unexpected argument {a:?}; see usher --help"
            ))),
            None => Ok(()),
        }
    };
    let switch = |value: &Option<String>, flag: &str| -> Result<bool> {
        match value {
            None => Ok(true),
            Some(v) => parse_bool(v).ok_or_else(|| {
                Error::usage(format!("usher {name}: --{flag}={v}: use true or false"))
            }),
        }
    };
    match name {
        "help" => Ok(Command::Help),
        "version" => Ok(Command::Version),
        "migrate" => {
            extra(&positionals)?;
            let mut dry_run = false;
            for (flag, value) in &flags {
                match flag.as_str() {
                    "dry-run" => dry_run = switch(value, flag)?,
                    _ => return Err(unknown(flag)),
                }
            }
            Ok(Command::Migrate { dry_run })
        }
        "status" => {
            extra(&positionals)?;
            let mut exit_code = false;
            for (flag, value) in &flags {
                match flag.as_str() {
                    "exit-code" => exit_code = switch(value, flag)?,
                    _ => return Err(unknown(flag)),
                }
            }
            Ok(Command::Status { exit_code })
        }
        "resolve" => {
            let mut positionals = positionals.into_iter();
            let version = positionals.next().ok_or_else(|| {
                Error::usage("usher resolve VERSION --applied|--rolled-back: VERSION is missing")
            })?;
            extra(&positionals.collect::<Vec<_>>())?;
            let version = migration_version(&version)
                .map_err(|fix| Error::usage(format!("usher resolve: {version:?}: {fix}")))?;
            let mut mark = None;
            for (flag, _) in &flags {
                let m = match flag.as_str() {
                    "applied" => ResolveMark::Applied,
                    "rolled-back" => ResolveMark::RolledBack,
                    _ => return Err(unknown(flag)),
                };
                if mark.is_some_and(|old| old != m) {
                    return Err(Error::usage(
                        "usher resolve: give one of --applied or --rolled-back, not both",
                    ));
                }
                mark = Some(m);
            }
            let mark = mark.ok_or_else(|| {
                Error::usage(format!(
                    "usher resolve {version}: say what happened: --applied (its changes are in \
                     the database) or --rolled-back (they were undone)"
                ))
            })?;
            Ok(Command::Resolve { version, mark })
        }
        "baseline" => {
            if let Some((flag, _)) = flags.first() {
                return Err(unknown(flag));
            }
            let mut positionals = positionals.into_iter();
            let version = positionals
                .next()
                .ok_or_else(|| Error::usage("usher baseline VERSION: VERSION is missing"))?;
            extra(&positionals.collect::<Vec<_>>())?;
            let version = migration_version(&version)
                .map_err(|fix| Error::usage(format!("usher baseline: {version:?}: {fix}")))?;
            Ok(Command::Baseline { version })
        }
        "health" => {
            let mut positionals = positionals.into_iter();
            let target = positionals.next().ok_or_else(|| {
                Error::usage(
                    "usher health: give a target: http://HOST:PORT/PATH, tcp://HOST:PORT or db",
                )
            })?;
            extra(&positionals.collect::<Vec<_>>())?;
            let mut settings = HealthSettings {
                target,
                timeout: Duration::from_secs(5),
                expect_status: None,
                no_pending: false,
            };
            for (flag, value) in &flags {
                let need = || {
                    value.clone().ok_or_else(|| {
                        Error::usage(format!("usher health: --{flag} needs a value"))
                    })
                };
                match flag.as_str() {
                    "timeout" => {
                        let v = need()?;
                        settings.timeout = parse_duration(&v).ok_or_else(|| {
                            Error::usage(format!(
                                "usher health: --timeout {v:?}: use a duration such as 5s or 500ms"
                            ))
                        })?;
                    }
                    "expect-status" => {
                        let v = need()?;
                        settings.expect_status =
                            Some(v.parse().ok().filter(|s| (100..=599).contains(s)).ok_or_else(
                                || {
                                    Error::usage(format!(
                                        "usher health: --expect-status {v:?}: use an HTTP status such as 204"
                                    ))
                                },
                            )?);
                    }
                    "no-pending" => settings.no_pending = switch(value, flag)?,
                    _ => return Err(unknown(flag)),
                }
            }
            Ok(Command::Health(settings))
        }
        _ => unreachable!("SUBCOMMANDS lists only the names handled here"),
    }
}

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The levels --help and README document, and no others.
fn parse_level(v: &str) -> Option<tracing::Level> {
    Some(match v {
        "info" => tracing::Level::INFO,
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "debug" => tracing::Level::DEBUG,
        _ => return None,
    })
}

fn parse_rewrite(v: &str) -> Option<SignalRewrite> {
    let (from, to) = v.split_once(':')?;
    let from = parse_signal(from)?;
    let to = if to.trim() == "0" {
        None
    } else {
        Some(parse_signal(to)?)
    };
    Some(SignalRewrite { from, to })
}

/// What `usher resolve` and `usher baseline` accept as VERSION.
const VERSION_FIX: &str = "give a migration version (a whole number), or a migration name that \
                           starts with one (Prisma's 20240101120000_init)";

/// What `usher resolve` and `usher baseline` say about a whole number beyond 64 bits.
const VERSION_TOO_LARGE: &str =
    "out of range: a migration version is at most 9223372036854775807 (a signed 64-bit number)";

/// A migration version: a whole number, or the number a migration's name starts with, before
/// an underscore (Prisma's folder names, golang-migrate's and dbmate's file names). The error
/// is the fix to show.
fn migration_version(text: &str) -> std::result::Result<i64, &'static str> {
    let digits = match text.split_once('_') {
        Some((digits, _)) => digits,
        None => text,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VERSION_FIX);
    }
    digits.parse().map_err(|_| VERSION_TOO_LARGE)
}

/// `usher --help`: every option with its variable and default, the subcommands, the exit codes.
pub fn help_text() -> String {
    let mut out = String::new();
    out.push_str(concat!(
        "usher ",
        env!("CARGO_PKG_VERSION"),
        ": container entrypoint: secrets, privilege drop, migrations, init\n\n"
    ));
    out.push_str(
        "Usage:\n  usher [OPTIONS] [--] COMMAND [ARGS...]   run the start-up pipeline, then the app\n  \
         usher [OPTIONS] migrate [--dry-run]       wait, lock, apply pending migrations, exit\n  \
         usher [OPTIONS] status [--exit-code]      list migrations and their state\n  \
         usher [OPTIONS] resolve VERSION --applied|--rolled-back\n                                            \
         repair a migration left partly applied\n  \
         usher [OPTIONS] baseline VERSION          record migrations up to VERSION as applied\n                                            \
         without running them (a database with no history)\n  \
         usher health TARGET [--timeout D] [--expect-status N] [--no-pending]\n                                            \
         one probe: http://HOST:PORT/PATH, tcp://HOST:PORT, unix:///PATH, file:///PATH, db\n\n\
         Start-up pipeline: configuration -> NAME_FILE secrets -> chown -> privilege drop ->\n\
         wait for dependencies -> migrate -> pre-start tasks -> exec the app (or, as PID 1, run it\n\
         and stay as init).\n\
         Arguments after COMMAND are passed to it untouched.\n",
    );
    let mut section = "";
    for o in OPTIONS {
        if o.section != section {
            section = o.section;
            out.push_str(&format!("\n{section}:\n"));
        }
        let flag = match o.takes {
            Switch => format!("--{}", o.flag),
            Value | List => format!("--{} {}", o.flag, o.value),
        };
        let repeat = if o.takes == List {
            " (repeatable; env: comma list)"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {flag:<34} {}{repeat}\n  {:<34} env {}, default: {}\n",
            o.help, "", o.env, o.default
        ));
    }
    out.push_str(
        "\nDatabase (environment only; each also accepts NAME_FILE):\n  \
         DATABASE_URL              postgres://, mysql:// (MariaDB too) or sqlite:// URL of the app's database\n  \
         MIGRATION_DATABASE_URL    optional URL with DDL rights used for migrations instead\n\n\
         A flag wins over its variable. Durations: 30 (seconds), 500ms, 30s, 10m, 1h.\n\n\
         Exit codes:\n",
    );
    for (code, meaning) in crate::exit::TABLE {
        out.push_str(&format!("  {code:<6} {meaning}\n"));
    }
    out
}

/// Whether the command line asks for `usher health`, decided without validating anything:
/// a probe exits 1 even when its arguments are wrong, never 64 or 78 (Docker reserves 2 and
/// counts every other failure as unhealthy, so 1 is the honest answer for a broken probe).
pub fn is_health(args: &[OsString]) -> bool {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            return false;
        };
        if text == "--" {
            return false;
        }
        if let Some(flag) = text.strip_prefix("--") {
            // A global option's value is the next word unless given as --flag=value.
            if OPTIONS.iter().any(|o| o.flag == flag && o.takes != Switch) {
                args.next();
            }
            continue;
        }
        if text.len() > 1 && text.starts_with('-') {
            continue;
        }
        return text == "health";
    }
    false
}

/// The log settings asked for, found without validating anything else: when reading the
/// configuration fails, its error is still printed in the format asked for (one JSON object
/// with `--log-format json` or `USHER_LOG_FORMAT=json`, even when another option is wrong).
/// A flag wins over its variable, as in `Config::from_args`; what cannot be read is text/info.
pub fn early_log(args: &[OsString], env: &Environment) -> LogSettings {
    let mut format = env.non_empty("USHER_LOG_FORMAT").map(OsString::from);
    let mut level = env.non_empty("USHER_LOG_LEVEL").map(OsString::from);
    let mut in_subcommand = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            break;
        };
        if text == "--" {
            break;
        }
        if let Some(flag) = text.strip_prefix("--") {
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(OsString::from(v))),
                None => (flag, None),
            };
            let takes_value = OPTIONS.iter().any(|o| o.flag == name && o.takes != Switch);
            let value = match inline {
                Some(v) => Some(v),
                None if takes_value => args.next().cloned(),
                None => None,
            };
            match name {
                "log-format" => format = value,
                "log-level" => level = value,
                _ => {}
            }
            continue;
        }
        if text.starts_with('-') && text.len() > 1 {
            continue;
        }
        // A subcommand takes global options after it too; any other word starts the app's
        // command, whose arguments are not usher's.
        if SUBCOMMANDS.contains(&text) {
            in_subcommand = true;
        } else if !in_subcommand {
            break;
        }
    }
    LogSettings {
        format: match format.as_deref().and_then(|f| f.to_str()) {
            Some("json") => LogFormat::Json,
            _ => LogFormat::Text,
        },
        level: level
            .as_deref()
            .and_then(|l| l.to_str())
            .and_then(parse_level)
            .unwrap_or(tracing::Level::INFO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config> {
        Config::from_args(
            args.iter().map(OsString::from).collect(),
            Environment::from_pairs(env.iter().copied()),
        )
    }

    #[test]
    fn command_after_double_dash_is_passed_through_untouched() {
        let c = parse(&["--user", "app", "--", "node", "--user", "--", "-x"], &[]).unwrap();
        assert_eq!(
            c.command,
            Command::Run {
                program: "node".into(),
                args: vec!["--user".into(), "--".into(), "-x".into()]
            }
        );
        assert_eq!(c.privileges.user.as_deref(), Some("app"));
    }

    #[test]
    fn first_word_starts_the_command() {
        let c = parse(&["python", "-m", "app", "--help"], &[]).unwrap();
        assert_eq!(
            c.command,
            Command::Run {
                program: "python".into(),
                args: vec!["-m".into(), "app".into(), "--help".into()]
            }
        );
    }

    #[test]
    fn double_dash_makes_a_subcommand_name_a_program() {
        let c = parse(&["--", "migrate"], &[]).unwrap();
        assert!(matches!(c.command, Command::Run { .. }));
    }

    #[test]
    fn flag_wins_over_env_and_lists_split_on_commas() {
        let c = parse(
            &["--user=web", "--chown", "/a", "--chown", "/b", "true"],
            &[
                ("USHER_USER", "db"),
                ("USHER_CHOWN", "/x,/y"),
                ("USHER_FILE_ENV", "API_KEY, SMTP_PASSWORD"),
            ],
        )
        .unwrap();
        assert_eq!(c.privileges.user.as_deref(), Some("web"));
        assert_eq!(
            c.privileges.chown,
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(
            c.file_env,
            [
                "DATABASE_URL",
                "MIGRATION_DATABASE_URL",
                "API_KEY",
                "SMTP_PASSWORD"
            ]
        );
    }

    #[test]
    fn env_list_is_used_without_flags() {
        let c = parse(&["true"], &[("USHER_CHOWN", "/x, /y")]).unwrap();
        assert_eq!(
            c.privileges.chown,
            [PathBuf::from("/x"), PathBuf::from("/y")]
        );
    }

    #[test]
    fn defaults() {
        let c = parse(&["true"], &[]).unwrap();
        assert_eq!(c.log.format, LogFormat::Text);
        assert_eq!(c.log.level, tracing::Level::INFO);
        assert_eq!(c.migrate.dir, PathBuf::from("migrations"));
        assert_eq!(c.migrate.lock_timeout, Duration::from_secs(600));
        assert_eq!(c.wait.timeout, Duration::from_secs(60));
        assert_eq!(c.init.mode, Mode::Auto);
        assert_eq!(c.init.stop_timeout, None);
        assert!(!c.privileges.no_new_privs);
    }

    #[test]
    fn bad_values_name_flag_variable_and_fix() {
        let e = parse(&["true"], &[("USHER_LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(e.kind, crate::exit::Kind::Config);
        assert!(e.message.contains("USHER_LOG_FORMAT"), "{e}");
        assert!(e.message.contains("text or json"), "{e}");
        let e = parse(&["--log-format", "xml", "true"], &[]).unwrap_err();
        assert_eq!(e.kind, crate::exit::Kind::Usage);
        assert!(e.message.contains("--log-format"), "{e}");
        let e = parse(&["--no-new-privs=maybe", "true"], &[]).unwrap_err();
        assert_eq!(e.kind, crate::exit::Kind::Usage);
        assert!(e.message.contains("--no-new-privs"), "{e}");
        let e = parse(&["true"], &[("USHER_NO_NEW_PRIVS", "maybe")]).unwrap_err();
        assert_eq!(e.kind, crate::exit::Kind::Config);
        assert!(e.message.contains("USHER_NO_NEW_PRIVS"), "{e}");
        let e = parse(&["--wait-timeout", "soon", "true"], &[]).unwrap_err();
        assert!(e.message.contains("10m"), "{e}");
        let e = parse(&["--file-env", "A-B", "true"], &[]).unwrap_err();
        assert!(e.message.contains("A-B"), "{e}");
    }

    /// Every option with an enumerated value: an unknown value is a usage error (64) naming
    /// the flag when it came from the flag, a configuration error (78) naming the variable
    /// when it came from the variable, and the message lists what is accepted.
    #[test]
    fn unknown_values_of_enumerated_options_are_refused_where_they_came_from() {
        for (flag, variable, bad, accepted) in [
            ("format", "USHER_FORMAT", "flyway", "golang-migrate"),
            ("format", "USHER_FORMAT", "SQLX", "refinery"),
            ("migrate", "USHER_MIGRATE", "sometimes", "always"),
            ("init", "USHER_INIT", "yes", "never"),
            ("on-unknown", "USHER_ON_UNKNOWN", "ignore", "warn or error"),
            ("log-format", "USHER_LOG_FORMAT", "logfmt", "text or json"),
            (
                "log-level",
                "USHER_LOG_LEVEL",
                "trace",
                "error, warn, info or debug",
            ),
            (
                "log-level",
                "USHER_LOG_LEVEL",
                "warning",
                "error, warn, info or debug",
            ),
            (
                "log-level",
                "USHER_LOG_LEVEL",
                "INFO",
                "error, warn, info or debug",
            ),
            (
                "log-level",
                "USHER_LOG_LEVEL",
                "verbose",
                "error, warn, info or debug",
            ),
        ] {
            let e = parse(&[&format!("--{flag}"), bad, "true"], &[]).unwrap_err();
            assert_eq!(e.kind, crate::exit::Kind::Usage, "--{flag} {bad}: {e}");
            assert!(e.message.starts_with(&format!("--{flag}: ")), "{e}");
            assert!(e.message.contains(accepted), "{e}");
            let e = parse(&["true"], &[(variable, bad)]).unwrap_err();
            assert_eq!(e.kind, crate::exit::Kind::Config, "{variable}={bad}: {e}");
            assert!(e.message.starts_with(&format!("{variable}: ")), "{e}");
            assert!(e.message.contains(accepted), "{e}");
        }
        for name in FORMAT_NAMES.iter().chain(&["detect", "auto"]) {
            parse(&["--format", name, "true"], &[]).unwrap();
        }
        for level in ["error", "warn", "info", "debug"] {
            parse(&["--log-level", level, "true"], &[]).unwrap();
        }
    }

    /// A comma in a USHER_WAIT URL's password does not split the URL.
    #[test]
    fn a_comma_in_a_wait_password_does_not_split_the_url() {
        let env = [(
            "USHER_WAIT",
            "tcp://db:5432, http://u:Hun,ter2,x@api:8080/ready,unix:///run/a.sock",
        )];
        let c = parse(&["true"], &env).unwrap();
        assert_eq!(
            c.wait.targets,
            [
                "tcp://db:5432",
                "http://u:Hun,ter2,x@api:8080/ready",
                "unix:///run/a.sock"
            ]
        );
        let e = parse(&["true"], &[("USHER_WAIT", "db:5432,tcp://db:1")]).unwrap_err();
        assert!(e.message.contains("\"db:5432\""), "{e}");
    }

    /// A version beyond 64 bits is said to be out of range, with the largest allowed — not
    /// "not a whole number" — by the subcommands (64), --baseline (64) and USHER_BASELINE (78).
    #[test]
    fn versions_beyond_64_bits_are_out_of_range() {
        for big in [
            "9223372036854775808",
            "99999999999999999999",
            "18446744073709551616_init",
        ] {
            for sub in [vec!["resolve", big, "--applied"], vec!["baseline", big]] {
                let e = parse(&sub, &[]).unwrap_err();
                assert_eq!(e.kind, crate::exit::Kind::Usage, "{e}");
                assert!(e.message.contains("out of range"), "{e}");
                assert!(e.message.contains("9223372036854775807"), "{e}");
                assert!(!e.message.contains("whole number"), "{e}");
            }
            let e = parse(&["--baseline", big, "true"], &[]).unwrap_err();
            assert_eq!(e.kind, crate::exit::Kind::Usage, "{e}");
            assert!(e.message.contains("out of range"), "{e}");
            let e = parse(&["true"], &[("USHER_BASELINE", big)]).unwrap_err();
            assert_eq!(e.kind, crate::exit::Kind::Config, "{e}");
            assert!(e.message.starts_with("USHER_BASELINE: "), "{e}");
            assert!(e.message.contains("9223372036854775807"), "{e}");
        }
        assert_eq!(migration_version("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(migration_version("x1"), Err(VERSION_FIX));
    }

    #[test]
    fn unknown_option_and_missing_command_are_usage_errors() {
        assert_eq!(
            parse(&["--frobnicate", "true"], &[]).unwrap_err().kind,
            crate::exit::Kind::Usage
        );
        assert_eq!(parse(&[], &[]).unwrap_err().kind, crate::exit::Kind::Usage);
        assert_eq!(
            parse(&["--"], &[]).unwrap_err().kind,
            crate::exit::Kind::Usage
        );
        assert_eq!(
            parse(&["--user"], &[]).unwrap_err().kind,
            crate::exit::Kind::Usage
        );
    }

    #[test]
    fn subcommands() {
        assert_eq!(
            parse(&["migrate", "--dry-run"], &[]).unwrap().command,
            Command::Migrate { dry_run: true }
        );
        assert_eq!(
            parse(&["--migrations", "db", "status", "--exit-code"], &[])
                .unwrap()
                .command,
            Command::Status { exit_code: true }
        );
        assert_eq!(
            parse(&["resolve", "20240101", "--rolled-back"], &[])
                .unwrap()
                .command,
            Command::Resolve {
                version: 20240101,
                mark: ResolveMark::RolledBack
            }
        );
        assert!(parse(&["resolve", "1"], &[]).is_err());
        assert!(parse(&["resolve", "x", "--applied"], &[]).is_err());
        let Command::Health(h) = parse(
            &[
                "health",
                "http://127.0.0.1:8080/",
                "--timeout",
                "2s",
                "--expect-status=204",
            ],
            &[],
        )
        .unwrap()
        .command
        else {
            panic!()
        };
        assert_eq!(h.target, "http://127.0.0.1:8080/");
        assert_eq!(h.timeout, Duration::from_secs(2));
        assert_eq!(h.expect_status, Some(204));
        // Global options after the subcommand still count.
        let c = parse(&["migrate", "--migrations", "db/m"], &[]).unwrap();
        assert_eq!(c.migrate.dir, PathBuf::from("db/m"));
    }

    #[test]
    fn health_is_recognised_before_parsing() {
        let is = |args: &[&str]| is_health(&args.iter().map(OsString::from).collect::<Vec<_>>());
        assert!(is(&["health", "http://x/"]));
        assert!(is(&["--log-level", "debug", "health", "--bogus"]));
        assert!(is(&["--wait=tcp://x:1", "--no-new-privs", "health"]));
        // A value that happens to be the word is not the subcommand.
        assert!(!is(&["--user", "health", "node"]));
        assert!(!is(&["--", "health"]));
        assert!(!is(&["node", "health"]));
        assert!(!is(&[]));
    }

    #[test]
    fn the_log_format_is_found_before_anything_is_validated() {
        let early = |args: &[&str], env: &[(&str, &str)]| {
            early_log(
                &args.iter().map(OsString::from).collect::<Vec<_>>(),
                &Environment::from_pairs(env.iter().copied()),
            )
        };
        assert_eq!(
            early(&["--bogus", "--log-format", "json"], &[]).format,
            LogFormat::Json
        );
        assert_eq!(
            early(&["--log-format=json", "x"], &[]).format,
            LogFormat::Json
        );
        assert_eq!(
            early(&["x"], &[("USHER_LOG_FORMAT", "json")]).format,
            LogFormat::Json
        );
        assert_eq!(
            early(&["--log-format=text"], &[("USHER_LOG_FORMAT", "json")]).format,
            LogFormat::Text
        );
        assert_eq!(
            early(&["migrate", "--log-format", "json"], &[]).format,
            LogFormat::Json
        );
        // The app's own arguments are not usher's.
        assert_eq!(
            early(&["app", "--log-format", "json"], &[]).format,
            LogFormat::Text
        );
        assert_eq!(
            early(&["--", "--log-format=json"], &[]).format,
            LogFormat::Text
        );
        assert_eq!(
            early(&["--log-level", "debug"], &[]).level,
            tracing::Level::DEBUG
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("-1"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("3 days"), None);
        // The number is an exact decimal (no float parsing), refused past 10^9 s.
        assert_eq!(parse_duration("1."), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration(".5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("0.1"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("2.25m"), Some(Duration::from_secs(135)));
        assert_eq!(
            parse_duration("0.0000000005"),
            Some(Duration::from_nanos(1))
        );
        assert_eq!(parse_duration("0.0015ms"), Some(Duration::from_nanos(1500)));
        assert_eq!(parse_duration("."), None);
        assert_eq!(parse_duration("1.2.3"), None);
        assert_eq!(
            parse_duration("999999999.5"),
            Some(Duration::new(999_999_999, 500_000_000))
        );
        assert_eq!(parse_duration("1000000000"), None);
        assert_eq!(parse_duration("277778h"), None);
        assert_eq!(parse_duration("99999999999999999999999ms"), None);
    }

    #[test]
    fn signal_rewrites() {
        let c = parse(
            &[
                "--rewrite-signal",
                "TERM:QUIT",
                "--rewrite-signal",
                "sigusr1:0",
                "true",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            c.init.rewrite,
            [
                SignalRewrite {
                    from: Signal::SIGTERM,
                    to: Some(Signal::SIGQUIT)
                },
                SignalRewrite {
                    from: Signal::SIGUSR1,
                    to: None
                }
            ]
        );
        assert!(parse(&["--rewrite-signal", "TERM", "true"], &[]).is_err());
        assert!(parse(&["--rewrite-signal", "TERM:BOGUS", "true"], &[]).is_err());
        assert_eq!(parse_signal("15"), Some(Signal::SIGTERM));
    }

    #[test]
    fn help_lists_every_option_variable_and_exit_code() {
        let help = help_text();
        for o in OPTIONS {
            assert!(help.contains(&format!("--{}", o.flag)), "{}", o.flag);
            assert!(help.contains(o.env), "{}", o.env);
        }
        for (code, _) in crate::exit::TABLE {
            assert!(help.contains(&format!("  {code}")), "{code}");
        }
    }
}
