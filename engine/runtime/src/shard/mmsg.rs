//! Batched UDP I/O with recvmmsg(2) and sendmmsg(2): one system call moves many
//! datagrams. glommio issues one io_uring operation per datagram (reference/rust-deps.md),
//! which costs more than the call itself at tens of thousands of calls per second; the
//! shard loop waits in its poller and then drains and fills sockets here.
//!
//! The one other place with `unsafe` besides `os.rs`, each block with its SAFETY note.

use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::time::{Duration, SystemTime};

/// Datagrams per recvmmsg call.
pub const BATCH: usize = 32;
/// Datagrams per sendmmsg call, at most. Larger than [`BATCH`]: a turn's datagrams
/// leave in one call unless they are more than this. At 32 a framed client at 10,000
/// calls/s (30–33 requests per 1.08 ms frame) split most frames into 32 + 1, and the
/// lone datagram woke the server a second time (perf/README.md). The headers live on
/// the stack (~27 KiB); the kernel allows 1,024 (UIO_MAXIOV).
pub const SEND_BATCH: usize = 128;
/// Receive buffer per datagram: larger datagrams are truncated and then fail to parse
/// (counted as malformed). SIP over UDP stays well under this (RFC 3261 §18.1.1).
pub const SLOT: usize = 16 * 1024;

/// Reused receive buffers and headers for one shard.
pub struct RecvBatch {
    bufs: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    lens: Vec<usize>,
    from: Vec<Option<SocketAddr>>,
    /// Ancillary data per datagram: room for one SCM_TIMESTAMPNS (a socket with
    /// `os::enable_receive_timestamps` gets the kernel's receive time of each datagram).
    ctrl: Vec<[u64; CTRL_WORDS]>,
    stamps: Vec<Option<SystemTime>>,
    count: usize,
}

/// 64 bytes of control buffer per datagram: a cmsghdr (16) and a timespec (16) need 32.
const CTRL_WORDS: usize = 8;

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch {
            bufs: vec![0; BATCH * SLOT],
            // SAFETY-free: zeroed sockaddr_storage is a valid (AF_UNSPEC) value.
            addrs: vec![zeroed_storage(); BATCH],
            lens: vec![0; BATCH],
            from: vec![None; BATCH],
            ctrl: vec![[0; CTRL_WORDS]; BATCH],
            stamps: vec![None; BATCH],
            count: 0,
        }
    }
}

#[allow(unsafe_code)]
fn zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain old data; all-zero bytes are a valid value.
    unsafe { MaybeUninit::<libc::sockaddr_storage>::zeroed().assume_init() }
}

impl RecvBatch {
    /// Number of datagrams of the last `recv`.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Datagram `i` of the last `recv` and its source.
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let len = *self.lens.get(i)?;
        let from = (*self.from.get(i)?)?;
        let start = i * SLOT;
        Some((self.bufs.get(start..start + len.min(SLOT))?, from))
    }

    /// When the kernel received datagram `i` of the last `recv` (wall clock), if the
    /// socket asked for receive timestamps.
    pub fn received_at(&self, i: usize) -> Option<SystemTime> {
        self.stamps.get(i).copied().flatten()
    }

    /// Receives up to `BATCH` datagrams without blocking. `Ok(0)` when none is waiting.
    #[allow(unsafe_code)]
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let mut iovs: [MaybeUninit<libc::iovec>; BATCH] = [const { MaybeUninit::uninit() }; BATCH];
        let mut hdrs: [MaybeUninit<libc::mmsghdr>; BATCH] =
            [const { MaybeUninit::uninit() }; BATCH];
        let base = self.bufs.as_mut_ptr();
        for i in 0..BATCH {
            // SAFETY: `base + i*SLOT` stays inside `bufs` (BATCH*SLOT bytes long); the iovec
            // and header arrays live on this frame for the whole call; `addrs[i]` is a valid
            // sockaddr_storage the kernel may overwrite, and `ctrl[i]` a buffer of the
            // length given in msg_controllen that it may write control messages into.
            unsafe {
                iovs[i].write(libc::iovec {
                    iov_base: base.add(i * SLOT).cast(),
                    iov_len: SLOT,
                });
                let mut h: libc::mmsghdr = std::mem::zeroed();
                h.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
                h.msg_hdr.msg_namelen =
                    std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_hdr.msg_iov = iovs[i].as_mut_ptr();
                h.msg_hdr.msg_iovlen = 1;
                h.msg_hdr.msg_control = self.ctrl[i].as_mut_ptr().cast();
                h.msg_hdr.msg_controllen = std::mem::size_of::<[u64; CTRL_WORDS]>() as _;
                hdrs[i].write(h);
            }
        }
        // SAFETY: every header was initialised above and points at live buffers.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr().cast(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            self.count = 0;
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(0)
            } else {
                Err(e)
            };
        }
        let n = n as usize;
        for (i, hdr) in hdrs.iter().take(n).enumerate() {
            // SAFETY: the kernel filled the first `n` headers.
            let h = unsafe { hdr.assume_init_ref() };
            self.lens[i] = h.msg_len as usize;
            self.from[i] = to_socket_addr(&self.addrs[i]);
            self.stamps[i] = receive_timestamp(&h.msg_hdr);
        }
        self.count = n;
        Ok(n)
    }
}

/// The SCM_TIMESTAMPNS the kernel attached to a received message, if any.
#[allow(unsafe_code)]
fn receive_timestamp(hdr: &libc::msghdr) -> Option<SystemTime> {
    // SAFETY: `hdr` was filled by recvmmsg: msg_control points at this datagram's control
    // buffer and msg_controllen says how much of it the kernel wrote, which is what the
    // CMSG_* macros walk; the payload is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                let since = Duration::new(u64::try_from(ts.tv_sec).ok()?, ts.tv_nsec as u32);
                return SystemTime::UNIX_EPOCH.checked_add(since);
            }
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
    None
}

fn to_socket_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            let sin = storage_as::<libc::sockaddr_in>(s);
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            let sin6 = storage_as::<libc::sockaddr_in6>(s);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[allow(unsafe_code)]
fn storage_as<T: Copy>(s: &libc::sockaddr_storage) -> T {
    // SAFETY: sockaddr_storage is larger than and aligned for every sockaddr type, and the
    // family was checked by the caller.
    unsafe { std::ptr::read((s as *const libc::sockaddr_storage).cast::<T>()) }
}

fn from_socket_addr(a: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    let mut s = zeroed_storage();
    let len = match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*v4.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            write_storage(&mut s, sin);
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            write_storage(&mut s, sin6);
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (s, len as libc::socklen_t)
}

#[allow(unsafe_code)]
fn write_storage<T>(s: &mut libc::sockaddr_storage, v: T) {
    // SAFETY: T is a sockaddr type, smaller than sockaddr_storage and no more aligned.
    unsafe { std::ptr::write((s as *mut libc::sockaddr_storage).cast::<T>(), v) }
}

/// Sends datagrams `0..count` (`at(i)` gives each one's bytes and destination) with as few
/// sendmmsg calls as possible, without blocking, skipping (and counting) a datagram the
/// kernel refuses with an error (an ICMP error reported late) so one bad destination does
/// not stop the rest. Stops at the first one the socket has no room for: `sent + failed`
/// is where the caller resumes, once the socket is writable again.
pub fn send_all<'a>(fd: RawFd, count: usize, at: &dyn Fn(usize) -> (&'a [u8], SocketAddr)) -> Sent {
    send_all_via(fd, None, count, at)
}

/// [`send_all`] on a socket `connect`ed to `peer`: datagrams for `peer` go without a
/// destination address, so the kernel uses the socket's cached route and IP-ID state
/// instead of looking the route up per datagram (about 5 % of a loopback datagram's
/// kernel cost, `perf/README.md`); datagrams for anyone else carry their address as usual.
#[allow(unsafe_code)]
pub fn send_all_via<'a>(
    fd: RawFd,
    peer: Option<SocketAddr>,
    count: usize,
    at: &dyn Fn(usize) -> (&'a [u8], SocketAddr),
) -> Sent {
    let mut done = Sent::default();
    // A connected socket reports a late ICMP error once, on the next send, which then
    // sends nothing: that datagram did not fail, so it is tried again (once per error).
    let mut refused_at = None;
    loop {
        let first = done.sent + done.failed;
        if first >= count {
            return done;
        }
        let chunk = (count - first).min(SEND_BATCH);
        let mut addrs: [MaybeUninit<(libc::sockaddr_storage, libc::socklen_t)>; SEND_BATCH] =
            [const { MaybeUninit::uninit() }; SEND_BATCH];
        let mut iovs: [MaybeUninit<libc::iovec>; SEND_BATCH] =
            [const { MaybeUninit::uninit() }; SEND_BATCH];
        let mut hdrs: [MaybeUninit<libc::mmsghdr>; SEND_BATCH] =
            [const { MaybeUninit::uninit() }; SEND_BATCH];
        for i in 0..chunk {
            let (bytes, dest) = at(first + i);
            addrs[i].write(from_socket_addr(&dest));
            // SAFETY: addrs[i] was just initialised; the iovec points at `bytes`, which the
            // caller keeps alive for this call; the kernel only reads through msg_iov.
            unsafe {
                let (storage, len) = addrs[i].assume_init_mut();
                iovs[i].write(libc::iovec {
                    iov_base: bytes.as_ptr() as *mut libc::c_void,
                    iov_len: bytes.len(),
                });
                let mut h: libc::mmsghdr = std::mem::zeroed();
                if peer != Some(dest) {
                    h.msg_hdr.msg_name = (storage as *mut libc::sockaddr_storage).cast();
                    h.msg_hdr.msg_namelen = *len;
                }
                h.msg_hdr.msg_iov = iovs[i].as_mut_ptr();
                h.msg_hdr.msg_iovlen = 1;
                hdrs[i].write(h);
            }
        }
        // SAFETY: the first `chunk` headers are initialised and point at live memory.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                hdrs.as_mut_ptr().cast(),
                chunk as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) {
                return done;
            }
            if peer.is_some()
                && e.kind() == io::ErrorKind::ConnectionRefused
                && refused_at != Some(first)
            {
                refused_at = Some(first);
                continue;
            }
            // The first datagram of the chunk failed: skip it, send the rest.
            done.failed += 1;
            continue;
        }
        if n == 0 {
            return done;
        }
        done.sent += n as usize;
    }
}

/// What `send_all` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// Datagrams the kernel took.
    pub sent: usize,
    /// Datagrams it refused with an error (lost).
    pub failed: usize,
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests on real sockets give the kernel time to deliver"
)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_batch_sent_is_a_batch_received() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = b.local_addr().unwrap();
        let msgs: Vec<Vec<u8>> = (0..40)
            .map(|i| format!("message {i}").into_bytes())
            .collect();
        let sent = send_all(a.as_raw_fd(), msgs.len(), &|i| (&msgs[i][..], to));
        assert_eq!(
            sent,
            Sent {
                sent: 40,
                failed: 0
            }
        );
        let mut rb = RecvBatch::default();
        let mut got = Vec::new();
        for _ in 0..10 {
            let n = rb.recv(b.as_raw_fd()).unwrap();
            for i in 0..n {
                let (bytes, from) = rb.get(i).unwrap();
                assert_eq!(from, a.local_addr().unwrap());
                got.push(bytes.to_vec());
            }
            if got.len() == 40 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(got, msgs);
        assert_eq!(
            rb.recv(b.as_raw_fd()).unwrap(),
            0,
            "nothing left: WouldBlock is Ok(0)"
        );
    }

    #[test]
    fn a_socket_asking_for_timestamps_gets_each_datagrams_arrival_time() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut rb = RecvBatch::default();
        a.send_to(b"plain", b.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(rb.recv(b.as_raw_fd()).unwrap(), 1);
        assert_eq!(rb.received_at(0), None, "not asked for: no stamp");

        crate::shard::os::enable_receive_timestamps(b.as_raw_fd()).unwrap();
        // The kernel turns stamping on for the whole system from a work queue: until it
        // has, a datagram is stamped when it is read. So a few tries are allowed.
        let mut last = String::new();
        for _ in 0..10 {
            #[allow(clippy::disallowed_methods)] // a test bounds the stamp by the wall clock
            let before = SystemTime::now();
            a.send_to(b"stamped", b.local_addr().unwrap()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            #[allow(clippy::disallowed_methods)]
            let after = SystemTime::now();
            assert_eq!(rb.recv(b.as_raw_fd()).unwrap(), 1);
            let at = rb.received_at(0).expect("a stamp");
            let read_late = after
                .duration_since(at)
                .is_ok_and(|d| d >= std::time::Duration::from_millis(15));
            if before <= at && read_late {
                return; // the arrival time, not the time it was read
            }
            last = format!("{at:?} for a datagram sent at {before:?} and read at {after:?}");
        }
        panic!("no arrival stamp in 10 tries; last: {last}");
    }
}
