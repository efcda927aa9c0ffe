//! Results from probe threads, waited for together with the stop signal and a deadline.
//!
//! A probe thread can sit in getaddrinfo or connect for seconds; the thread that waits for
//! it must still notice a SIGTERM at once and its deadline to the millisecond. So the waiting
//! thread sleeps in poll(2) on the start-up signalfd and on a wake-up socket that every
//! sender writes a byte to after queueing a message — no polling in slices.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::signals::Startup;

/// The sending half, one clone per probe thread.
pub struct Sender<T> {
    queue: mpsc::Sender<T>,
    wake: Arc<UnixStream>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            queue: self.queue.clone(),
            wake: Arc::clone(&self.wake),
        }
    }
}

impl<T> Sender<T> {
    /// Queues `message` and wakes the receiver; `false` once the receiver is gone (the
    /// sender's thread may then stop).
    pub fn send(&self, message: T) -> bool {
        let delivered = self.queue.send(message).is_ok();
        // Non-blocking: a full socket buffer already holds a wake-up the receiver will see.
        let _ = (&*self.wake).write(&[1]);
        delivered
    }
}

/// The receiving half, used by the thread that owns the `Startup`.
pub struct Inbox<T> {
    queue: mpsc::Receiver<T>,
    wake: UnixStream,
}

/// What ended one `Inbox::next`.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<T> {
    Message(T),
    /// The deadline passed with no message.
    Deadline,
    /// TERM, INT or QUIT arrived (the signal number).
    Stopped(i32),
}

/// A connected sender and inbox.
pub fn channel<T>() -> std::io::Result<(Sender<T>, Inbox<T>)> {
    let (tx_wake, rx_wake) = UnixStream::pair()?;
    tx_wake.set_nonblocking(true)?;
    rx_wake.set_nonblocking(true)?;
    let (queue_tx, queue_rx) = mpsc::channel();
    Ok((
        Sender {
            queue: queue_tx,
            wake: Arc::new(tx_wake),
        },
        Inbox {
            queue: queue_rx,
            wake: rx_wake,
        },
    ))
}

impl<T> Inbox<T> {
    /// The next message, unless a stop signal comes first or `deadline` passes. A stop
    /// signal wins over queued messages: nothing more should start once one is asked to stop.
    pub fn next(&self, deadline: Instant, startup: &Startup) -> Next<T> {
        loop {
            if let Some(signal) = startup.stop_signal() {
                return Next::Stopped(signal);
            }
            if let Ok(message) = self.queue.try_recv() {
                return Next::Message(message);
            }
            let Some(left) = super::remaining(deadline) else {
                return Next::Deadline;
            };
            // Round up, so a sub-millisecond remainder does not spin on a zero timeout.
            let ms = left.as_millis().saturating_add(1);
            let timeout =
                PollTimeout::try_from(Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX)))
                    .unwrap_or(PollTimeout::MAX);
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
