//! Signals during start-up: what usher inherited, and a prompt, clean stop on TERM/INT/QUIT.
//!
//! The first thing usher does is block every signal it may have to forward (all but SIGKILL,
//! SIGSTOP and the synchronous faults), so nothing that arrives during start-up goes unnoticed:
//! - TERM, INT and QUIT mean "stop": they are readable on a signalfd, which the long stages
//!   (waiting, migrating) watch, and which every stage boundary checks. usher then exits
//!   128+N after cleaning up (no app is started).
//! - Any other signal (HUP, USR1, USR2, WINCH, …) stays pending until the hand-over, then is
//!   dropped with a warning, in exec mode and in init mode alike: it arrived before any app
//!   could install a handler for it, and delivered then it would kill the app (a HUP meant as
//!   "reload" would stop it with 129) or, in exec mode, usher itself. Once the app runs, init
//!   mode forwards every signal.
//!
//! The app must start with the mask and dispositions usher itself was started with (tini's
//! `sigconf` rule), so they are captured before anything changes and restored right before
//! `execve` — in usher itself, or in the child between fork and exec.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::exit::{Error, Result};
use crate::sys;

/// Signals the kernel raises synchronously for a fault in this process: never blocked, never
/// forwarded (tini, dumb-init).
pub const SYNCHRONOUS: &[Signal] = &[
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
];

/// Signals that stop start-up.
pub const STOP: &[Signal] = &[Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT];

/// Highest signal number handled (real-time signals included).
const MAX_SIGNAL: i32 = 64;

/// The signal state usher was started with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inherited {
    /// Blocked signals, as a bit set (bit N-1 = signal N).
    pub blocked: u64,
    /// Signals whose disposition was SIG_IGN.
    pub ignored: u64,
}

impl Inherited {
    /// Puts the inherited dispositions and mask back: every signal that was ignored is
    /// ignored, every other one is default; the mask is the inherited one. Uses only
    /// async-signal-safe calls, so it may run between fork and exec.
    pub fn restore(&self) {
        for n in 1..=MAX_SIGNAL {
            if n == Signal::SIGKILL as i32 || n == Signal::SIGSTOP as i32 {
                continue;
            }
            sys::set_ignored(n, self.ignored & (1 << (n - 1)) != 0);
        }
        sys::set_mask(&self.blocked_set());
    }

    pub fn blocked_set(&self) -> SigSet {
        sys::mask_from_bits(self.blocked)
    }

    /// `blocked:ignored` in hex, to hand the state to a re-executed usher.
    pub fn encode(&self) -> String {
        format!("{:x}:{:x}", self.blocked, self.ignored)
    }

    pub fn decode(text: &str) -> Option<Inherited> {
        let (blocked, ignored) = text.split_once(':')?;
        Some(Inherited {
            blocked: u64::from_str_radix(blocked, 16).ok()?,
            ignored: u64::from_str_radix(ignored, 16).ok()?,
        })
    }
}

/// Every signal usher blocks from its first instruction on.
pub fn blockable() -> SigSet {
    let mut set = SigSet::all();
    for s in SYNCHRONOUS {
        set.remove(*s);
    }
    set
}

/// Start-up signal handling: created first thing in `main`, finished at the hand-over.
pub struct Startup {
    /// The inherited mask, read before blocking anything.
    blocked: u64,
    /// The inherited dispositions, read when first needed: usher sets none before the hand-over
    /// (no handlers: stop signals come through a signalfd; no Rust runtime `main` ignoring
    /// SIGPIPE), so they are still the inherited ones then, and the exec path never pays for
    /// reading 64 of them.
    ignored: std::cell::OnceCell<u64>,
    stop: SignalFd,
    stopped_by: std::cell::Cell<Option<i32>>,
}

impl Startup {
    /// Captures the inherited state, then blocks every forwardable signal.
    pub fn begin() -> Result<Startup> {
        let mut old = SigSet::empty();
        let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, None, Some(&mut old));
        let mut stop_set = SigSet::empty();
        for s in STOP {
            stop_set.add(*s);
        }
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&blockable()), None)
            .map_err(|e| Error::os("sigprocmask(SIG_BLOCK)", e))?;
        let stop = SignalFd::with_flags(&stop_set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| Error::os("signalfd", e))?;
        Ok(Startup {
            blocked: sys::mask_bits(&old),
            ignored: std::cell::OnceCell::new(),
            stop,
            stopped_by: std::cell::Cell::new(None),
        })
    }

    /// The signal state usher was started with.
    pub fn inherited(&self) -> Inherited {
        debug_assert!(
            self.ignored.get().is_some() || !sys::dispositions_changed(),
            "dispositions read after usher changed one"
        );
        Inherited {
            blocked: self.blocked,
            ignored: *self.ignored.get_or_init(|| {
                (1..=MAX_SIGNAL)
                    .filter(|&n| sys::is_ignored(n))
                    .fold(0, |bits, n| bits | 1 << (n - 1))
            }),
        }
    }

    /// Right before usher execs the app: puts the inherited mask back, and the inherited
    /// dispositions too if usher changed any (it does not on this path).
    pub fn restore_for_exec(&self) {
        if sys::dispositions_changed() {
            self.inherited().restore();
        } else {
            sys::set_mask(&sys::mask_from_bits(self.blocked));
        }
    }

    /// Readable once TERM, INT or QUIT is pending: for `poll` and async waits.
    pub fn stop_fd(&self) -> BorrowedFd<'_> {
        self.stop.as_fd()
    }

    /// The stop signal received so far, if any (reads the signalfd without blocking).
    pub fn stop_signal(&self) -> Option<i32> {
        if self.stopped_by.get().is_none()
            && let Ok(Some(info)) = self.stop.read_signal()
        {
            self.stopped_by.set(Some(info.ssi_signo as i32));
        }
        self.stopped_by.get()
    }

    /// `Err(Interrupted)` when a stop signal arrived; call at every stage boundary.
    pub fn check(&self, during: &str) -> Result<()> {
        match self.stop_signal() {
            Some(signal) => Err(Error::interrupted(signal, during)),
            None => Ok(()),
        }
    }

    /// Exec mode: drops the signals other than TERM/INT/QUIT that arrived during start-up
    /// (`drop_early_signals`), so restoring the mask does not deliver them to usher itself.
    pub fn drop_pending(&self, step: &str) {
        drop_early_signals(&blockable(), step);
    }
}

/// Takes the signals of `set` (which must be blocked) other than TERM/INT/QUIT off the pending
/// set and drops them, with a warning for those whose default action is not to do nothing:
/// they arrived during start-up, before the app could install a handler. TERM/INT/QUIT are
/// left pending for the caller, which turns them into a clean stop.
pub fn drop_early_signals(set: &SigSet, step: &str) {
    let mut others = *set;
    for s in STOP {
        others.remove(*s);
    }
    while let Some(signal) = sys::take_signal(&others, Duration::ZERO) {
        if !ignored_by_default(signal) {
            crate::log::log_step!(
                WARN,
                step,
                "{} arrived during start-up, before the app could handle it; dropped",
                crate::exit::signal_name(signal)
            );
        }
    }
}

/// Signals that are harmless to drop (their default action is to do nothing).
pub fn ignored_by_default(signal: i32) -> bool {
    [
        Signal::SIGCHLD,
        Signal::SIGWINCH,
        Signal::SIGURG,
        Signal::SIGCONT,
    ]
    .iter()
    .any(|s| *s as i32 == signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_round_trips() {
        let s = Inherited {
            blocked: 0x8000_0000_0000_0001,
            ignored: 0x1000,
        };
        assert_eq!(Inherited::decode(&s.encode()), Some(s));
        assert_eq!(Inherited::decode("zz:1"), None);
        assert_eq!(Inherited::decode("1"), None);
    }

    #[test]
    fn synchronous_signals_are_never_blocked() {
        let set = blockable();
        for s in SYNCHRONOUS {
            assert!(!set.contains(*s));
        }
        assert!(set.contains(Signal::SIGTERM));
        assert!(set.contains(Signal::SIGCHLD));
    }
}
