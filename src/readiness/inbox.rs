//! Reports from probe threads, waited for together with the stop signal and a deadline.
//!
//! A probe thread can sit in getaddrinfo or connect for seconds; the thread that waits for
//! it must still notice a SIGTERM at once and its deadline to the millisecond. So the waiting
//! thread sleeps in poll(2) on the start-up signalfd and on a wake-up socket that every
//! sender writes a byte to after queueing a report — no polling in slices.
//!
//! A mutex-guarded queue, not `std::sync::mpsc`: the reports are few, and the channel's
//! machinery costs several KB of the size budget.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::Reached;
use crate::signals::Startup;

/// The outcome of one attempt on target number `index`.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    pub index: usize,
    pub result: Result<Reached, String>,
}

struct Shared {
    queue: Mutex<VecDeque<Report>>,
    /// Written to after each report; the inbox polls the other end.
    wake: UnixStream,
}

/// The sending half, one clone per probe thread.
#[derive(Clone)]
pub struct Sender(Arc<Shared>);

impl Sender {
    /// Queues `report` and wakes the inbox.
    pub fn send(&self, report: Report) {
        // A thread that panicked while holding the lock left a valid queue: keep using it.
        let mut queue = self.0.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.push_back(report);
        drop(queue);
        // Non-blocking: a full socket buffer already holds a wake-up the inbox will see.
        let _ = (&self.0.wake).write(&[1]);
    }
}

/// The receiving half, used by the thread that owns the `Startup`.
pub struct Inbox {
    shared: Arc<Shared>,
    wake: UnixStream,
}

/// What ended one `Inbox::next`.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Report(Report),
    /// The deadline passed with no report.
    Deadline,
    /// TERM, INT or QUIT arrived (the signal number).
    Stopped(i32),
}

/// A connected sender and inbox.
pub fn channel() -> std::io::Result<(Sender, Inbox)> {
    let (tx_wake, rx_wake) = UnixStream::pair()?;
    tx_wake.set_nonblocking(true)?;
    rx_wake.set_nonblocking(true)?;
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        wake: tx_wake,
    });
    Ok((
        Sender(Arc::clone(&shared)),
        Inbox {
            shared,
            wake: rx_wake,
        },
    ))
}

impl Inbox {
    /// The next report, unless a stop signal comes first or `deadline` passes. A stop
    /// signal wins over queued reports: nothing more should start once one is asked to stop.
    pub fn next(&self, deadline: Instant, startup: &Startup) -> Next {
        loop {
            if let Some(signal) = startup.stop_signal() {
                return Next::Stopped(signal);
            }
            let queued = self
                .shared
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            if let Some(report) = queued {
                return Next::Report(report);
            }
            let Some(left) = super::remaining(deadline) else {
                return Next::Deadline;
            };
            // Round up, so a sub-millisecond remainder does not spin on a zero timeout.
            let ms = u64::try_from(left.as_millis().saturating_add(1)).unwrap_or(u64::MAX);
            let timeout =
                PollTimeout::try_from(Duration::from_millis(ms)).unwrap_or(PollTimeout::MAX);
            let mut fds = [
                PollFd::new(startup.stop_fd(), PollFlags::POLLIN),
                PollFd::new(self.wake.as_fd(), PollFlags::POLLIN),
            ];
            // EINTR (every stop signal is blocked, but SIGCONT after SIGSTOP can still
            // interrupt) only means "look again", as does any other poll failure.
            let _ = poll(&mut fds, timeout);
            let mut drain = [0u8; 64];
            while matches!((&self.wake).read(&mut drain), Ok(n) if n > 0) {}
        }
    }
}
