//! The few operating-system calls the shell needs that std does not offer: the CPU
//! affinity mask, handing configured sockets (UDP, TCP streams and listeners) to glommio,
//! and the epoll set of the TCP and TLS sockets a shard polls itself (`Epoll`).
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

/// Readiness a polled socket is watched for (`Epoll`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest {
    pub read: bool,
    pub write: bool,
}

/// Readiness reported for one socket by `Epoll::wait`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    /// The token the socket was registered with.
    pub token: u64,
    /// Data, a close or an error is waiting: read.
    pub read: bool,
    /// Room to write, or an error: write (or finish connecting).
    pub write: bool,
}

/// One epoll instance: the sockets a shard loop polls itself (TCP and TLS, see
/// `transport::polled`). Level-triggered, so a socket not drained in one turn is reported
/// again in the next.
#[derive(Debug)]
pub struct Epoll {
    fd: std::os::fd::OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    /// A new, empty epoll set that reports up to `batch` sockets per wait.
    #[allow(unsafe_code)]
    pub fn new(batch: usize) -> std::io::Result<Epoll> {
        use std::os::fd::FromRawFd;
        // SAFETY: epoll_create1 takes no pointer; a non-negative result is a new fd that
        // nothing else owns.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is the open epoll fd created above, owned by no one else.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        Ok(Epoll {
            fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; batch.max(1)],
        })
    }

    fn mask(i: Interest) -> u32 {
        let mut m = libc::EPOLLRDHUP as u32;
        if i.read {
            m |= libc::EPOLLIN as u32;
        }
        if i.write {
            m |= libc::EPOLLOUT as u32;
        }
        m
    }

    #[allow(unsafe_code)]
    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64, i: Interest) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let mut ev = libc::epoll_event {
            events: Self::mask(i),
            u64: token,
        };
        // SAFETY: `ev` lives on this frame for the call; epoll_ctl only reads it.
        let rc = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Watches `fd` (which must stay open until `remove`) under `token`.
    pub fn add(&self, fd: RawFd, token: u64, i: Interest) -> std::io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, i)
    }

    /// Changes what `fd` is watched for.
    pub fn modify(&self, fd: RawFd, token: u64, i: Interest) -> std::io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, i)
    }

    /// Stops watching `fd` (before it is closed).
    pub fn remove(&self, fd: RawFd) -> std::io::Result<()> {
        self.ctl(
            libc::EPOLL_CTL_DEL,
            fd,
            0,
            Interest {
                read: false,
                write: false,
            },
        )
    }

    /// Waits until a watched socket is ready or `timeout` passes (zero: just looks),
    /// and appends what is ready to `out`. One system call (epoll_pwait2: the timeout
    /// is not rounded to milliseconds).
    #[allow(unsafe_code)]
    pub fn wait(&mut self, out: &mut Vec<Ready>, timeout: std::time::Duration) {
        use std::os::fd::AsRawFd;
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        let max = self.events.len().min(i32::MAX as usize) as libc::c_int;
        // SAFETY: `events` holds `max` writable entries owned by `self`; `ts` lives for
        // the call; a null signal mask leaves the thread's mask unchanged.
        let n = unsafe {
            libc::epoll_pwait2(
                self.fd.as_raw_fd(),
                self.events.as_mut_ptr(),
                max,
                &ts,
                std::ptr::null(),
            )
        };
        let n = if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
            // Kernels before 5.11: millisecond timeouts, rounded up.
            let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
            // SAFETY: as above.
            unsafe { libc::epoll_wait(self.fd.as_raw_fd(), self.events.as_mut_ptr(), max, ms) }
        } else {
            n
        };
        let n = usize::try_from(n).unwrap_or(0);
        let read = (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLRDHUP | libc::EPOLLERR) as u32;
        let write = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        for ev in self.events.iter().take(n) {
            let (bits, token) = (ev.events, ev.u64);
            out.push(Ready {
                token,
                read: bits & read != 0,
                write: bits & write != 0,
            });
        }
    }
}
