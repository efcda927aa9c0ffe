//! Re-executing usher as a bare supervisor: after the start-up pipeline, usher execs its own
//! binary in a supervise-only mode, so the supervising process holds nothing of the start-up
//! (database driver, async runtime, TLS roots, configuration): only the init loop's pages.
//!
//! Everything the supervisor needs travels in its argv; its environment is the app's:
//!
//! ```text
//! usher --supervise-internal signals=BLOCKED:IGNORED group=0|1 rewrite=FROM:TO,...
//!       stop-timeout=MILLISECONDS|off log=text|json:LEVEL -- PATH ARGV0 ARGS...
//! ```
//!
//! Signals survive the `execve`: the mask and pending signals are kept, and an ignored signal
//! stays ignored (execve(2), "Signals"), so none that arrives in between is lost. The process
//! keeps its PID, so PID 1 stays PID 1.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::sys::ExecImage;
use crate::config::{InitSettings, LogFormat, LogSettings, Mode, SignalRewrite};
use crate::environment::Environment;
use crate::exit::{Error, Kind, Result};
use crate::handover::App;
use crate::signals::Inherited;

/// The hidden first argument that selects supervise-only mode.
pub const FLAG: &str = "--supervise-internal";

/// What the re-executed supervisor needs.
#[derive(Debug, Clone)]
pub struct Handoff {
    pub app: App,
    pub settings: InitSettings,
    pub log: LogSettings,
    pub inherited: Inherited,
}

/// Replaces usher with a bare supervisor of `handoff.app`. Returns only on failure.
pub fn exec_supervisor(handoff: &Handoff) -> Error {
    let Ok(argv) = encode(handoff) else {
        return Error::new(Kind::Internal, "a NUL byte in the supervisor's arguments");
    };
    let image = ExecImage::new(c"/proc/self/exe".to_owned(), argv, handoff.app.envp.clone());
    let errno = image.exec();
    Error::os("execve(/proc/self/exe) of usher as supervisor", errno)
}

/// The supervisor's argv (with argv[0]).
pub fn encode(h: &Handoff) -> std::result::Result<Vec<CString>, std::ffi::NulError> {
    let rewrite = h
        .settings
        .rewrite
        .iter()
        .map(|r| format!("{}:{}", r.from as i32, r.to.map_or(0, |s| s as i32)))
        .collect::<Vec<_>>()
        .join(",");
    let stop = match h.settings.stop_timeout {
        Some(t) => t.as_millis().to_string(),
        None => "off".to_string(),
    };
    let format = match h.log.format {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    };
    let mut argv = vec![
        CString::new("usher")?,
        CString::new(FLAG)?,
        CString::new(format!("signals={}", h.inherited.encode()))?,
        CString::new(format!("group={}", u8::from(h.settings.signal_group)))?,
        CString::new(format!("rewrite={rewrite}"))?,
        CString::new(format!("stop-timeout={stop}"))?,
        CString::new(format!("log={format}:{}", h.log.level.as_str()))?,
        CString::new("--")?,
        CString::new(h.app.path.as_os_str().as_bytes())?,
    ];
    argv.extend(h.app.argv.iter().cloned());
    Ok(argv)
}

/// Reads a supervisor's argv (without argv[0]); the app's environment is this process's.
pub fn decode(args: &[OsString], env: &Environment) -> Result<Handoff> {
    let bad = |what: &str| {
        Error::new(
            Kind::Internal,
            format!("{FLAG}: {what} (this mode is for usher's own use only)"),
        )
    };
    let mut args = args.iter();
    if args.next().map(|a| a.as_os_str()) != Some(FLAG.as_ref()) {
        return Err(bad("missing"));
    }
    let mut inherited = None;
    let mut settings = InitSettings {
        mode: Mode::Always,
        signal_group: false,
        rewrite: Vec::new(),
        stop_timeout: None,
    };
    let mut log = None;
    for arg in args.by_ref() {
        let text = arg.to_str().ok_or_else(|| bad("argument not UTF-8"))?;
        if text == "--" {
            break;
        }
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| bad(&format!("{text:?} is not KEY=VALUE")))?;
        match key {
            "signals" => inherited = Inherited::decode(value),
            "group" => settings.signal_group = value == "1",
            "rewrite" => {
                for pair in value.split(',').filter(|p| !p.is_empty()) {
                    let rewrite =
                        decode_rewrite(pair).ok_or_else(|| bad(&format!("rewrite {pair:?}")))?;
                    settings.rewrite.push(rewrite);
                }
            }
            "stop-timeout" => {
                settings.stop_timeout = match value {
                    "off" => None,
                    ms => Some(Duration::from_millis(
                        ms.parse()
                            .map_err(|_| bad(&format!("stop-timeout {ms:?}")))?,
                    )),
                }
            }
            "log" => log = decode_log(value),
            _ => return Err(bad(&format!("unknown key {key:?}"))),
        }
    }
    let path = args.next().ok_or_else(|| bad("no program"))?;
    let argv = args
        .map(|a| CString::new(a.clone().into_vec()).map_err(|_| bad("NUL byte")))
        .collect::<Result<Vec<_>>>()?;
    if argv.is_empty() {
        return Err(bad("no argv[0]"));
    }
    Ok(Handoff {
        app: App {
            path: PathBuf::from(path),
            argv,
            envp: env.to_envp(),
        },
        settings,
        log: log.ok_or_else(|| bad("log= missing or invalid"))?,
        inherited: inherited.ok_or_else(|| bad("signals= missing or invalid"))?,
    })
}

fn decode_rewrite(pair: &str) -> Option<SignalRewrite> {
    let (from, to) = pair.split_once(':')?;
    let from = Signal::try_from(from.parse::<i32>().ok()?).ok()?;
    let to = match to.parse::<i32>().ok()? {
        0 => None,
        n => Some(Signal::try_from(n).ok()?),
    };
    Some(SignalRewrite { from, to })
}

fn decode_log(value: &str) -> Option<LogSettings> {
    let (format, level) = value.split_once(':')?;
    Some(LogSettings {
        format: match format {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return None,
        },
        level: level.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handoff() -> Handoff {
        Handoff {
            app: App {
                path: PathBuf::from("/usr/bin/nginx"),
                argv: vec![
                    CString::new("nginx").unwrap(),
                    CString::new("-g").unwrap(),
                    CString::new("daemon off; --").unwrap(),
                    CString::new("--").unwrap(),
                ],
                envp: vec![CString::new("A=1").unwrap(), CString::new("B=x=y").unwrap()],
            },
            settings: InitSettings {
                mode: Mode::Always,
                signal_group: true,
                rewrite: vec![
                    SignalRewrite {
                        from: Signal::SIGTERM,
                        to: Some(Signal::SIGQUIT),
                    },
                    SignalRewrite {
                        from: Signal::SIGUSR1,
                        to: None,
                    },
                ],
                stop_timeout: Some(Duration::from_millis(8500)),
            },
            log: LogSettings {
                format: LogFormat::Json,
                level: tracing::Level::DEBUG,
            },
            inherited: Inherited {
                blocked: 0x8000_0000_0000_0400,
                ignored: 0x1,
            },
        }
    }

    fn args_of(h: &Handoff) -> Vec<OsString> {
        encode(h)
            .unwrap()
            .into_iter()
            .skip(1)
            .map(|c| OsString::from_vec(c.into_bytes()))
            .collect()
    }

    #[test]
    fn round_trips_through_argv() {
        let h = handoff();
        let env = Environment::from_pairs([("A", "1"), ("B", "x=y")]);
        let back = decode(&args_of(&h), &env).unwrap();
        assert_eq!(back.app.path, h.app.path);
        assert_eq!(back.app.argv, h.app.argv);
        assert_eq!(back.app.envp, h.app.envp);
        assert_eq!(back.settings, h.settings);
        assert_eq!(back.log, h.log);
        assert_eq!(back.inherited, h.inherited);
    }

    #[test]
    fn defaults_round_trip() {
        let mut h = handoff();
        h.settings.rewrite.clear();
        h.settings.stop_timeout = None;
        h.settings.signal_group = false;
        h.log = LogSettings {
            format: LogFormat::Text,
            level: tracing::Level::INFO,
        };
        let back = decode(&args_of(&h), &Environment::default()).unwrap();
        assert_eq!(back.settings, h.settings);
        assert_eq!(back.log, h.log);
    }

    #[test]
    fn rejects_garbage() {
        let mut args = args_of(&handoff());
        args[1] = "signals=zz".into();
        assert_eq!(
            decode(&args, &Environment::default()).unwrap_err().kind,
            Kind::Internal
        );
        let args: Vec<OsString> = vec![FLAG.into(), "bogus=1".into(), "--".into()];
        assert!(decode(&args, &Environment::default()).is_err());
        let mut args = args_of(&handoff());
        args.truncate(args.iter().position(|a| a == "--").unwrap() + 2);
        assert!(decode(&args, &Environment::default()).is_err(), "no argv");
    }
}
