//! The few operating-system calls the shell needs that std does not offer: the CPU
//! affinity mask and handing configured sockets (UDP, TCP streams and listeners) to glommio.
//!
//! This is the one place with `unsafe` (STYLE.md §6), each use with its SAFETY note.

use std::os::fd::{IntoRawFd, RawFd};

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

/// Turns a bound, configured socket2 UDP socket into a glommio socket.
///
/// glommio 0.9 only converts from socket2 0.4 (reference/rust-deps.md), so the fd is moved
/// across by hand.
#[allow(unsafe_code)]
pub fn into_glommio_udp(sock: socket2::Socket) -> glommio::net::UdpSocket {
    use std::os::fd::FromRawFd;
    let fd: RawFd = sock.into_raw_fd();
    // SAFETY: `fd` was just released by `into_raw_fd`, so it is an open UDP socket that
    // nothing else owns; glommio takes ownership and closes it on drop.
    unsafe { glommio::net::UdpSocket::from_raw_fd(fd) }
}

/// Turns a connected std TCP stream into a glommio stream (same fd hand-over as UDP).
#[allow(unsafe_code)]
pub fn into_glommio_tcp(stream: std::net::TcpStream) -> glommio::net::TcpStream {
    use std::os::fd::FromRawFd;
    let _ = stream.set_nonblocking(true);
    let fd: RawFd = stream.into_raw_fd();
    // SAFETY: `fd` was just released by `into_raw_fd`, so it is an open, connected TCP
    // socket that nothing else owns; glommio takes ownership and closes it on drop.
    unsafe { glommio::net::TcpStream::from_raw_fd(fd) }
}

/// Turns a bound, listening std TCP listener into a glommio listener.
#[allow(unsafe_code)]
pub fn into_glommio_listener(listener: std::net::TcpListener) -> glommio::net::TcpListener {
    use std::os::fd::FromRawFd;
    let fd: RawFd = listener.into_raw_fd();
    // SAFETY: `fd` was just released by `into_raw_fd`, so it is an open, listening TCP
    // socket that nothing else owns; glommio takes ownership and closes it on drop.
    unsafe { glommio::net::TcpListener::from_raw_fd(fd) }
}

/// Waits until one of `fds` is readable or `timeout` passes, with poll(2): one system
/// call. The UDP shard loop waits this way because it has nothing else to run, and a
/// plain poll costs a third of the kernel time of glommio's io_uring peek-or-timer
/// (measured: 0.35 s against 1.17 s of system time for 50,000 calls).
#[allow(unsafe_code)]
pub fn poll_readable(fds: &[RawFd], timeout: std::time::Duration) {
    let mut pfds: [libc::pollfd; 4] = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; 4];
    let n = fds.len().min(pfds.len());
    for (p, &fd) in pfds.iter_mut().zip(fds) {
        p.fd = fd;
        p.events = libc::POLLIN;
    }
    // ppoll takes a timespec: sub-millisecond waits are not rounded down to zero.
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `pfds` holds `n` initialised entries on this frame; `ts` lives for the call;
    // a null signal mask leaves the process's mask unchanged.
    unsafe {
        libc::ppoll(pfds.as_mut_ptr(), n as libc::nfds_t, &ts, std::ptr::null());
    }
}
