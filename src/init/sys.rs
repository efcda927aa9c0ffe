//! The raw system calls of init mode: fork and exec of the app, waiting for signals without a
//! timeout, `kill` and `waitpid` with plain numbers (real-time signals and their statuses do
//! not fit nix's `Signal`), and `sigpending`. The only part of `init` allowed `unsafe`.
#![allow(unsafe_code)]

use std::ffi::{CString, c_char, c_int};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::signal::SigSet;
use nix::unistd::{ForkResult, Pid};

use crate::signals::Inherited;

/// A program ready for `execve(2)`: the strings and the NULL-terminated pointer arrays are
/// built before `fork`, because the child of a multi-threaded process may only make
/// async-signal-safe calls until it execs, and allocating is not one (fork(2), signal-safety(7)).
pub struct ExecImage {
    path: CString,
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    envp_ptrs: Vec<*const c_char>,
}

impl ExecImage {
    pub fn new(path: CString, argv: Vec<CString>, envp: Vec<CString>) -> ExecImage {
        // The pointers stay valid while the CStrings live: their buffers are on the heap and do
        // not move when the vectors holding them move.
        let nul_terminated = |strings: &[CString]| {
            strings
                .iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect::<Vec<_>>()
        };
        ExecImage {
            argv_ptrs: nul_terminated(&argv),
            envp_ptrs: nul_terminated(&envp),
            path,
            _argv: argv,
            _envp: envp,
        }
    }

    /// Replaces this process with the program. Returns only on failure, with its errno.
    pub fn exec(&self) -> Errno {
        // SAFETY: every pointer is a valid NUL-terminated string and both arrays end in NULL.
        unsafe {
            libc::execve(
                self.path.as_ptr(),
                self.argv_ptrs.as_ptr(),
                self.envp_ptrs.as_ptr(),
            );
        }
        Errno::last()
    }
}

/// Which call failed while starting the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// `pipe2(O_CLOEXEC)` for the exec report.
    Pipe(Errno),
    Fork(Errno),
    /// `execve` in the child.
    Exec(Errno),
}

/// Starts `image` as a child in its own process group; with `foreground`, that group becomes
/// the foreground group of the terminal on stdin. The child gets the signal mask and
/// dispositions usher was started with, not usher's own blocking.
///
/// A failed `execve` is reported through a close-on-exec pipe (the errno, 4 bytes), so the
/// caller can exit 126/127 with the same message as in exec mode; the failed child is reaped
/// here. End of file on the pipe means the exec succeeded.
pub fn spawn(
    image: &ExecImage,
    inherited: &Inherited,
    foreground: bool,
) -> Result<Pid, SpawnError> {
    let (report_read, report_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(SpawnError::Pipe)?;
    // SAFETY: the child runs only `child_exec`, which makes async-signal-safe calls only.
    match unsafe { nix::unistd::fork() }.map_err(SpawnError::Fork)? {
        ForkResult::Child => child_exec(image, inherited, foreground, &report_write),
        ForkResult::Parent { child } => {
            drop(report_write);
            // Also set the group from the parent, as shells do (POSIX setpgid rationale), so a
            // signal forwarded to -pgid right after fork finds the group even if the child has
            // not run yet. EACCES (the child has already exec'd) and ESRCH are fine.
            let _ = nix::unistd::setpgid(child, child);
            let mut errno = [0u8; 4];
            let got = read_full(&report_read, &mut errno);
            if got == errno.len() {
                let _ = nix::sys::wait::waitpid(child, None);
                return Err(SpawnError::Exec(Errno::from_raw(i32::from_ne_bytes(errno))));
            }
            Ok(child)
        }
    }
}

/// The child's side of `spawn`, between fork and exec: async-signal-safe calls only.
fn child_exec(image: &ExecImage, inherited: &Inherited, foreground: bool, report: &OwnedFd) -> ! {
    // SAFETY: plain system calls on valid arguments; no allocation, no locks.
    unsafe {
        // Its own process group, so a group signal (--signal-group, the stop-timeout's KILL)
        // reaches the app and what it starts, never usher (tini's isolate_child).
        libc::setpgid(0, 0);
        if foreground {
            // Done in the child, as tini does, so the group is in the foreground before the app
            // runs. SIGTTOU is still blocked here, which the kernel treats like ignored: a
            // background process may then call tcsetpgrp without being stopped
            // (tty_check_change in drivers/tty/tty_jobctrl.c; tcsetpgrp(3)). A failure (no
            // controlling terminal: ENOTTY, ENXIO) only means Ctrl-C goes to usher, which
            // forwards it: harmless.
            libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
        }
        // Last, so nothing above runs with the app's mask (tini's restore_signals).
        inherited.restore();
        let errno = image.exec() as i32;
        let bytes = errno.to_ne_bytes();
        libc::write(report.as_raw_fd(), bytes.as_ptr().cast(), bytes.len());
        libc::_exit(127)
    }
}

/// Reads until `buf` is full or end of file; returns how many bytes were read.
fn read_full(fd: &OwnedFd, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(fd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    got
}

/// Takes one pending signal of `set` (which must be blocked), waiting at most `timeout`, or
/// for as long as it takes with `None`: `sigwaitinfo(2)` / `sigtimedwait(2)`. `None` when the
/// timeout passed.
pub fn wait_signal(set: &SigSet, timeout: Option<Duration>) -> Option<c_int> {
    loop {
        let signal = match timeout {
            // SAFETY: a valid set; siginfo may be null.
            None => unsafe { libc::sigwaitinfo(set.as_ref(), std::ptr::null_mut()) },
            Some(t) => {
                let ts = nix::sys::time::TimeSpec::from_duration(t);
                // SAFETY: a valid set and timespec; siginfo may be null.
                unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), ts.as_ref()) }
            }
        };
        if signal > 0 {
            return Some(signal);
        }
        match Errno::last() {
            Errno::EINTR => continue,
            // EAGAIN: the timeout passed.
            _ => return None,
        }
    }
}

/// `kill(2)` with a plain signal number: `pid` may be a process, `-pgid`, or -1.
pub fn send_signal(pid: i32, signal: c_int) -> Result<(), Errno> {
    // SAFETY: kill has no memory arguments.
    Errno::result(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// One finished child, if any: `waitpid(-1, WNOHANG)`. `Ok(None)`: children remain, none has
/// finished; `Err(ECHILD)`: no children at all. The status is raw, so a death by a real-time
/// signal is reported too.
pub fn reap_one() -> Result<Option<(Pid, c_int)>, Errno> {
    let mut status: c_int = 0;
    // SAFETY: a valid out-pointer.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    match pid {
        -1 => Err(Errno::last()),
        0 => Ok(None),
        pid => Ok(Some((Pid::from_raw(pid), status))),
    }
}

/// The exit code a shell would report for a raw wait status: the code, or 128+N for a death
/// by signal N. `None` for a stop or continue report (not requested, so not expected).
pub fn exit_code(status: c_int) -> Option<i32> {
    if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Some(128 + libc::WTERMSIG(status))
    } else {
        None
    }
}

/// Pending signals of this thread and process, as bits (bit N-1 = signal N): `sigpending(2)`.
pub fn pending_bits() -> u64 {
    // SAFETY: the set is initialised by sigpending before it is read.
    let set = unsafe {
        let mut raw: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut raw);
        libc::sigpending(&mut raw);
        SigSet::from_sigset_t_unchecked(raw)
    };
    crate::sys::mask_bits(&set)
}

/// Drops this program's read-only pages (code and constants) from its page tables with
/// `madvise(MADV_DONTNEED)`; returns how many bytes that covered.
///
/// Why: VmRSS counts every page of the binary mapped into the process, and the kernel maps
/// code in 64 KiB blocks around each page that is executed (fault-around), so the start-up
/// code leaves most of the binary resident though the loop uses a few pages of it. Dropped
/// pages of a private file mapping that was never written come back from the page cache on
/// the next access, unchanged (madvise(2), MADV_DONTNEED), so this is safe for the segments
/// without PF_W. Writable segments are never touched: for them the same call would discard
/// the program's data. Only whole pages inside a segment are released, never a page shared
/// with a neighbouring segment.
pub fn release_code_pages() -> usize {
    extern "C" fn main_program(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        total: *mut std::ffi::c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info whose dlpi_phdr has dlpi_phnum entries;
        // `total` is the &mut usize given below.
        unsafe {
            let info = &*info;
            let page = libc::sysconf(libc::_SC_PAGESIZE).max(4096) as usize;
            let headers = std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize);
            for h in headers {
                if h.p_type != libc::PT_LOAD || h.p_flags & libc::PF_W != 0 {
                    continue;
                }
                let start = (info.dlpi_addr as usize + h.p_vaddr as usize).next_multiple_of(page);
                let end =
                    (info.dlpi_addr as usize + (h.p_vaddr + h.p_memsz) as usize) / page * page;
                if end > start
                    && libc::madvise(start as *mut _, end - start, libc::MADV_DONTNEED) == 0
                {
                    *(total as *mut usize) += end - start;
                }
            }
        }
        // The main program is the first object listed (dl_iterate_phdr(3)): stop there.
        1
    }
    let mut total: usize = 0;
    // SAFETY: the callback only reads the headers it is given and writes `total`.
    unsafe {
        libc::dl_iterate_phdr(Some(main_program), (&mut total as *mut usize).cast());
    }
    total
}
