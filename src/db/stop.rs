//! TERM/INT/QUIT while waiting or migrating: the start-up signalfd, watched from async code.

use std::os::fd::OwnedFd;

use tokio::io::unix::AsyncFd;

use crate::exit::{Error, Result};
use crate::signals::Startup;

/// Resolves when a stop signal has arrived (one that arrived earlier counts at once).
pub struct Stop<'a> {
    startup: &'a Startup,
    /// A duplicate of the signalfd: tokio's reactor owns its registration, the original stays
    /// with `Startup` (both read the same queue).
    fd: Option<AsyncFd<OwnedFd>>,
}

impl<'a> Stop<'a> {
    /// Must be called inside the tokio runtime.
    pub fn new(startup: &'a Startup) -> Result<Stop<'a>> {
        let owned = startup
            .stop_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::os("dup(signalfd)", e))?;
        let fd = crate::sys::async_fd(owned).map_err(|e| Error::os("epoll_ctl(signalfd)", e))?;
        Ok(Stop {
            startup,
            fd: Some(fd),
        })
    }

    /// The stop signal, once one arrives.
    pub async fn signal(&self) -> i32 {
        loop {
            if let Some(signal) = self.startup.stop_signal() {
                return signal;
            }
            let Some(fd) = &self.fd else {
                return std::future::pending().await;
            };
            match fd.readable().await {
                Ok(mut guard) => {
                    if let Some(signal) = self.startup.stop_signal() {
                        return signal;
                    }
                    guard.clear_ready();
                }
                Err(_) => return std::future::pending().await,
            }
        }
    }

    /// Sleeps for `d` unless a stop signal comes first.
    pub async fn sleep(&self, d: std::time::Duration, during: &str) -> Result<()> {
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            signal = self.signal() => Err(Error::interrupted(signal, during)),
        }
    }
}
