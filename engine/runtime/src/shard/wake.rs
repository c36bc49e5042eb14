//! Wakes a run's shards when its control block changes (a new rate, a pause or resume,
//! accepting, a quit, a scenario, the capture switch), so a change is applied at once
//! instead of when a sleeping shard next turns (up to `QUIET_SLEEP`, 25 ms, for an idle
//! shard; up to its next call timer or pacer deadline otherwise).
//!
//! Owns: one eventfd per control block. Every shard watches it edge-triggered, in its
//! epoll set and in its blind sleeps (`Poller::watch_wake`): a write is one edge that
//! wakes every shard once, and nobody reads the counter (a u64 that one write per control
//! change never fills). Must not: carry data (the shard reads the control block itself).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The control block's wake-up (no fd if the system would not give one: the shards then
/// see changes when they next turn, as before).
#[derive(Debug)]
pub struct Wake {
    fd: Option<OwnedFd>,
}

impl Default for Wake {
    #[allow(unsafe_code)]
    fn default() -> Wake {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new fd we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        // SAFETY: `fd` was just created and is owned by nobody else.
        let fd = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) });
        Wake { fd }
    }
}

impl Wake {
    /// Wakes every shard watching it.
    #[allow(unsafe_code)]
    pub fn signal(&self) {
        let Some(fd) = &self.fd else {
            return;
        };
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an eventfd; a full counter (EAGAIN)
        // cannot happen at one write per control change, and would only lose a wake-up.
        unsafe {
            libc::write(fd.as_raw_fd(), (&raw const one).cast(), 8);
        }
    }

    /// The eventfd the shards watch.
    pub(crate) fn fd(&self) -> Option<RawFd> {
        self.fd.as_ref().map(AsRawFd::as_raw_fd)
    }
}
