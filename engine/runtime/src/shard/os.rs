//! The few operating-system calls the shell needs that std does not offer: the CPU
//! affinity mask and kernel receive timestamps. (The epoll set is `poller`'s, batched
//! UDP I/O `mmsg`'s, the hand-off's eventfd `handoff`'s.)
//!
//! One of the few places with `unsafe` (STYLE.md §6), each use with its SAFETY note.

use std::os::fd::RawFd;

/// CPUs this process may run on (`taskset` narrows it), in ascending order.
#[allow(unsafe_code)]
pub fn affinity_cpus() -> Vec<usize> {
    // SAFETY: `set` is a plain bitmask owned by this frame; sched_getaffinity writes at
    // most size_of::<cpu_set_t>() bytes into it, and CPU_ISSET only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect();
        if cpus.is_empty() { vec![0] } else { cpus }
    }
}

/// Asks the kernel to stamp every datagram received on `fd` with its arrival time
/// (SO_TIMESTAMPNS, read by `mmsg::RecvBatch::received_at`): a client that drains its
/// socket once per frame still measures response times to the microsecond.
#[allow(unsafe_code)]
pub fn enable_receive_timestamps(fd: RawFd) -> std::io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` lives for the call and its size is passed with it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
