//! The few raw system calls nix does not wrap safely; the only module allowed `unsafe`.
#![allow(unsafe_code)]

use std::ffi::{CStr, OsString, c_char, c_int};
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use nix::libc;
use nix::sys::signal::SigSet;

/// The program's arguments from the C `main`, without the program name.
///
/// # Safety
/// `argv` must point to `argc` valid C strings, as the C runtime passes them.
pub unsafe fn args_from_c(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
    (1..argc.max(0) as isize)
        .map(|i| {
            // SAFETY: the caller guarantees argv[0..argc] are valid NUL-terminated strings.
            let arg = unsafe { CStr::from_ptr(*argv.offset(i)) };
            OsString::from_vec(arg.to_bytes().to_vec())
        })
        .collect()
}

/// Whether `signal`'s disposition is SIG_IGN.
pub fn is_ignored(signal: c_int) -> bool {
    // SAFETY: querying with a null new action changes nothing; `old` is a valid out-pointer.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Signals whose disposition usher itself has set (bit N-1 = signal N). Until one is set, every
/// disposition is still the inherited one, so nothing needs restoring before an exec.
static CHANGED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Whether usher has set any signal's disposition since it started.
pub fn dispositions_changed() -> bool {
    CHANGED.load(std::sync::atomic::Ordering::Relaxed) != 0
}

/// Sets `signal` to SIG_IGN or SIG_DFL. Async-signal-safe: usable between fork and exec.
pub fn set_ignored(signal: c_int, ignored: bool) {
    if (1..=64).contains(&signal) {
        CHANGED.fetch_or(1 << (signal - 1), std::sync::atomic::Ordering::Relaxed);
    }
    // SAFETY: installs no handler function, only SIG_IGN or SIG_DFL, with an empty mask.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = if ignored {
            libc::SIG_IGN
        } else {
            libc::SIG_DFL
        };
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

/// Takes one pending signal of `set` (which must be blocked), waiting at most `timeout`;
/// `None` when none arrived. `sigtimedwait(2)`.
pub fn take_signal(set: &SigSet, timeout: Duration) -> Option<c_int> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    loop {
        // SAFETY: `set` is a valid sigset; siginfo may be null; `ts` outlives the call.
        let signal = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
        if signal > 0 {
            return Some(signal);
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
    }
}

/// Sets the calling thread's signal mask. Async-signal-safe.
pub fn set_mask(mask: &SigSet) {
    // SAFETY: a valid sigset pointer; the old mask is not needed.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, mask.as_ref(), std::ptr::null_mut());
    }
}

/// The real, effective and saved ids, to prove a privilege drop happened and holds.
pub fn res_ids() -> ((u32, u32, u32), (u32, u32, u32)) {
    let (mut ru, mut eu, mut su) = (0, 0, 0);
    let (mut rg, mut eg, mut sg) = (0, 0, 0);
    // SAFETY: valid out-pointers.
    unsafe {
        libc::getresuid(&mut ru, &mut eu, &mut su);
        libc::getresgid(&mut rg, &mut eg, &mut sg);
    }
    ((ru, eu, su), (rg, eg, sg))
}

/// Sets usher's own `HOME` (not only the app's) after the privilege drop, so that what usher
/// itself does afterwards — a database driver looking for `~/.pgpass` or `~/.postgresql/` — acts
/// as the target user, not as root.
pub fn set_own_home(home: &str) {
    // SAFETY: `set_var` is unsafe because another thread may read the environment at the same
    // time. usher is single-threaded here: the privilege drop runs before the wait stage starts
    // its threads and before the database stage starts its runtime, and nothing before it
    // spawns any.
    unsafe { std::env::set_var("HOME", home) }
}

/// This process's effective capabilities as a bit set (bit N = capability N), from
/// `capget(2)`: the same set as `CapEff` in /proc/self/status, without needing /proc and without
/// the kernel formatting the whole status file. `None` if the call fails.
pub fn effective_capabilities() -> Option<u64> {
    /// `struct __user_cap_header_struct` (linux/capability.h).
    #[repr(C)]
    struct Header {
        version: u32,
        pid: c_int,
    }
    /// `struct __user_cap_data_struct`; version 3 fills two of them (capabilities 0–31, 32–63).
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget reads the header and writes two data structs, which both point to.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut Header,
            data.as_mut_ptr(),
        )
    };
    (r == 0).then(|| u64::from(data[0].effective) | u64::from(data[1].effective) << 32)
}

/// A signal set as bits: bit N-1 is signal N, for N in 1..=64 (real-time signals included,
/// which nix's `Signal` does not cover).
pub fn mask_bits(set: &SigSet) -> u64 {
    (1..=64)
        // SAFETY: sigismember only reads a valid set.
        .filter(|&n| unsafe { libc::sigismember(set.as_ref(), n) } == 1)
        .fold(0, |bits, n| bits | 1 << (n - 1))
}

/// The inverse of `mask_bits`. Signals the C library reserves for itself are left out.
pub fn mask_from_bits(bits: u64) -> SigSet {
    // SAFETY: the set is initialised by sigemptyset before any use.
    unsafe {
        let mut raw: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut raw);
        for n in 1..=64 {
            if bits & (1 << (n - 1)) != 0 {
                libc::sigaddset(&mut raw, n);
            }
        }
        SigSet::from_sigset_t_unchecked(raw)
    }
}

/// Registers an owned descriptor (the stop signalfd's duplicate) with tokio's reactor.
#[cfg(feature = "_db")]
pub fn async_fd(
    fd: std::os::fd::OwnedFd,
) -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    // SAFETY: the AsyncFd takes ownership of the OwnedFd, so the descriptor stays open and
    // refers to the same file description until the AsyncFd drops it; OwnedFd::as_raw_fd
    // always returns that one descriptor.
    unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
            .map_err(std::io::Error::from)
    }
}

/// The allocator: start-up's small allocations come from a bump arena in `.bss`, the rest from
/// the C library's `malloc`.
///
/// Why: musl's malloc maps a fresh page for each size class it meets, so the few hundred small
/// allocations of a start-up (configuration, environment, paths) cost a dozen `mmap`/`munmap`
/// calls and page faults — a measurable share of the time between `execve` of usher and of
/// the app. Packed into one arena they touch a few pages. Arena memory is never reused (a free
/// is a no-op), so the arena is bounded: once it is full, everything goes to `malloc`.
pub struct Allocator;

const ARENA_BYTES: usize = 48 * 1024;
/// Allocations larger than this never come from the arena.
const ARENA_MAX_ALLOCATION: usize = 1024;

#[repr(C, align(4096))]
struct Arena(std::cell::UnsafeCell<[u8; ARENA_BYTES]>);

// SAFETY: the bytes are handed out in disjoint ranges claimed with an atomic bump pointer.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(std::cell::UnsafeCell::new([0; ARENA_BYTES]));
static ARENA_USED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn arena_base() -> usize {
    ARENA.0.get() as usize
}

fn in_arena(ptr: *mut u8) -> bool {
    let p = ptr as usize;
    p >= arena_base() && p < arena_base() + ARENA_BYTES
}

/// Claims `layout` in the arena, or `None` when it is too large or the arena is full.
fn arena_alloc(layout: std::alloc::Layout) -> Option<*mut u8> {
    use std::sync::atomic::Ordering;
    if layout.size() > ARENA_MAX_ALLOCATION || layout.align() > 4096 {
        return None;
    }
    let base = arena_base();
    let mut used = ARENA_USED.load(Ordering::Relaxed);
    loop {
        let start = (base + used).next_multiple_of(layout.align()) - base;
        let end = start + layout.size().max(1);
        if end > ARENA_BYTES {
            return None;
        }
        match ARENA_USED.compare_exchange_weak(used, end, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Some((base + start) as *mut u8),
            Err(now) => used = now,
        }
    }
}

// SAFETY: every pointer returned is valid for its layout: arena ranges are disjoint and
// aligned; the rest is the system allocator's. Arena pointers are never passed to it.
unsafe impl std::alloc::GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        match arena_alloc(layout) {
            Some(ptr) => ptr,
            // SAFETY: forwarded with the caller's guarantees.
            None => unsafe { std::alloc::System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        match arena_alloc(layout) {
            Some(ptr) => {
                // SAFETY: a fresh arena range of `layout.size()` bytes, handed out once. (It is
                // still zero from .bss; zeroing it again keeps the rule local and costs little.)
                unsafe { std::ptr::write_bytes(ptr, 0, layout.size()) };
                ptr
            }
            // SAFETY: forwarded with the caller's guarantees.
            None => unsafe { std::alloc::System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        if !in_arena(ptr) {
            // SAFETY: `ptr` came from the system allocator with this layout.
            unsafe { std::alloc::System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if !in_arena(ptr) {
            // SAFETY: `ptr` came from the system allocator with this layout.
            return unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid layout.
        let new_layout =
            unsafe { std::alloc::Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `alloc` upholds the GlobalAlloc contract; the copy stays within both blocks.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            }
            new
        }
    }
}
