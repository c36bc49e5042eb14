//! The shard loop's one wait: every descriptor of a shard (its SIP UDP socket, `-t un`
//! call sockets, stream connections and listener, the RTP socket, the hand-off eventfd)
//! is registered in one epoll set under a [`Token`], and the loop blocks in exactly one
//! place per turn, [`Poller::wait`].
//!
//! Owns: the epoll instance and its readiness buffer; [`Registry`] is the cheap handle
//! sources keep to add, change and remove their descriptors (mio's split). Must not:
//! read or write sockets, or decide how long to wait (`shard::wait::WaitPolicy` does).
//! Used by the shard loop and the stream transport, which registers its connections.
//!
//! A [`Wait::Sleep`] does not wake for input (a gather): it sleeps without a system call
//! on the sockets. After it, and after [`Wait::Now`], readiness is unknown: sources that
//! only read on readiness (stream connections, call sockets) ask for a zero-timeout look
//! ([`Poller::look`]); the shard's SIP UDP socket, the RTP socket and the hand-off are
//! read without one, as they always were. A framed UDP client waits [`Wait::Quiet`]: an
//! epoll wait for its frame on a set that holds its shard socket but not the connected
//! twin its traffic comes on (that one sits beside the set, [`Poller::set_beside`], and
//! only [`Wait::Readable`] wakes for it), so a frame is one wait, the twin's recvmmsg
//! batches and one sendmmsg.
//!
//! The UDP socket of each WebRTC call (`shard::webrtc_io`) registers like a `-t un`
//! call socket: a `Token` of its own, its datagrams fed to the endpoint on readiness, its
//! deadlines merged into the endpoint's `poll_timeout`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

/// What the loop does before its next turn (`shard::wait::WaitPolicy` decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Turn again at once: a deadline is due.
    Now,
    /// Sleep this long without waking for input.
    Sleep(Duration),
    /// Sleep until a descriptor is readable or this long has passed.
    Readable(Duration),
    /// Sleep this long, waking early only for a descriptor of the epoll set (not the
    /// one beside it, `Poller::set_beside`): a framed client's frame, which then knows
    /// without a read whether its shard socket holds anything.
    Quiet(Duration),
}

/// What a registered descriptor is; encoded in the epoll event's 64-bit data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    /// The shard's SIP UDP socket.
    Sip,
    /// A `-t un` call's UDP socket, by its local port.
    CallUdp(u16),
    /// The shard's RTP socket.
    Rtp,
    /// The hand-off eventfd (another shard queued datagrams for this one).
    Handoff,
    /// The stream transport's listening socket.
    Listener,
    /// A stream connection, by its id (`transport::routing`).
    Conn(u64),
    /// A WebRTC call's UDP socket, by its local port (`shard::webrtc_io`).
    Webrtc(u16),
    /// A `-t ui` source address's UDP socket, by its index (`endpoint::source_ips`).
    IpUdp(u32),
    /// The shard's RTCP socket (RTP port + 1).
    Rtcp,
    /// The 3PCC twin listening socket (`shard::twin_io`).
    TwinListener,
    /// A 3PCC twin connection, by its slot (`shard::twin_io`).
    Twin(u64),
    /// The run's control block changed (`shard::wake`): nothing to read.
    Wake,
}

const TAG_SHIFT: u32 = 56;
const VALUE_MASK: u64 = (1 << TAG_SHIFT) - 1;

impl Token {
    pub(crate) fn raw(self) -> u64 {
        let (tag, value) = match self {
            Token::Sip => (1, 0),
            Token::CallUdp(port) => (2, u64::from(port)),
            Token::Rtp => (3, 0),
            Token::Handoff => (4, 0),
            Token::Listener => (5, 0),
            Token::Conn(id) => (6, id & VALUE_MASK),
            Token::Webrtc(port) => (7, u64::from(port)),
            Token::IpUdp(i) => (8, u64::from(i)),
            Token::Rtcp => (9, 0),
            Token::TwinListener => (10, 0),
            Token::Twin(slot) => (11, slot & VALUE_MASK),
            Token::Wake => (12, 0),
        };
        (tag << TAG_SHIFT) | value
    }

    fn from_raw(raw: u64) -> Option<Token> {
        let value = raw & VALUE_MASK;
        Some(match raw >> TAG_SHIFT {
            1 => Token::Sip,
            2 => Token::CallUdp(u16::try_from(value).ok()?),
            3 => Token::Rtp,
            4 => Token::Handoff,
            5 => Token::Listener,
            6 => Token::Conn(value),
            7 => Token::Webrtc(u16::try_from(value).ok()?),
            8 => Token::IpUdp(u32::try_from(value).ok()?),
            9 => Token::Rtcp,
            10 => Token::TwinListener,
            11 => Token::Twin(value),
            12 => Token::Wake,
            _ => return None,
        })
    }
}

/// Readiness a registered descriptor is watched for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Interest {
    pub(crate) read: bool,
    pub(crate) write: bool,
}

pub(crate) const READ: Interest = Interest {
    read: true,
    write: false,
};
pub(crate) const READ_WRITE: Interest = Interest {
    read: true,
    write: true,
};

/// Readiness reported for one descriptor by a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ready {
    pub(crate) token: Token,
    /// Data, a close or an error is waiting: read.
    pub(crate) read: bool,
    /// Room to write, or an error: write (or finish connecting).
    pub(crate) write: bool,
}

/// A handle to register descriptors in a shard's epoll set. Descriptors must stay open
/// until they are removed.
#[derive(Clone, Debug)]
pub(crate) struct Registry {
    epoll: Rc<OwnedFd>,
}

impl Registry {
    #[allow(unsafe_code)]
    fn ctl(&self, op: libc::c_int, fd: RawFd, token: Token, i: Interest) -> std::io::Result<()> {
        let mut events = libc::EPOLLRDHUP as u32;
        if i.read {
            events |= libc::EPOLLIN as u32;
        }
        if i.write {
            events |= libc::EPOLLOUT as u32;
        }
        let mut ev = libc::epoll_event {
            events,
            u64: token.raw(),
        };
        // SAFETY: `ev` lives on this frame for the call; epoll_ctl only reads it.
        let rc = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut ev) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Watches `fd` under `token`.
    pub(crate) fn add(&self, fd: RawFd, token: Token, i: Interest) -> std::io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, i)
    }

    /// Changes what `fd` is watched for.
    pub(crate) fn modify(&self, fd: RawFd, token: Token, i: Interest) -> std::io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, i)
    }

    /// Stops watching `fd` (before it is closed).
    pub(crate) fn remove(&self, fd: RawFd) -> std::io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, Token::Sip, READ)
    }
}

/// One shard's epoll set and the readiness its last wait found.
#[derive(Debug)]
pub(crate) struct Poller {
    registry: Registry,
    events: Vec<libc::epoll_event>,
    ready: Vec<Ready>,
    /// The last wait or look reported readiness (a sleep does not).
    known: bool,
    /// An epoll set holding only the control block's wake-up (`watch_wake`): a blind
    /// sleep waits on it, so a control change ends the sleep.
    sleeper: Option<OwnedFd>,
    /// A descriptor `Readable` waits also wake for, outside the epoll set (`set_beside`).
    beside: Option<RawFd>,
}

impl Poller {
    /// A new, empty epoll set that reports up to `batch` descriptors per wait.
    #[allow(unsafe_code)]
    pub(crate) fn new(batch: usize) -> std::io::Result<Poller> {
        // SAFETY: epoll_create1 takes no pointer; a non-negative result is a new fd that
        // nothing else owns.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is the open epoll fd created above, owned by no one else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Poller {
            registry: Registry { epoll: Rc::new(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; batch.max(1)],
            ready: Vec::with_capacity(batch.max(1)),
            known: false,
            sleeper: None,
            beside: None,
        })
    }

    /// Ends every wait and sleep when `fd` (the control block's eventfd, `shard::wake`)
    /// is written: watched edge-triggered, so it is never read.
    #[allow(unsafe_code)]
    pub(crate) fn watch_wake(&mut self, fd: RawFd) -> std::io::Result<()> {
        let edge = |epfd: RawFd, token: Token| {
            let mut ev = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLET) as u32,
                u64: token.raw(),
            };
            // SAFETY: `ev` lives on this frame for the call; epoll_ctl only reads it.
            let rc = unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        };
        // SAFETY: epoll_create1 takes no pointer; a non-negative result is a new fd that
        // nothing else owns.
        let sleeper = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if sleeper < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `sleeper` is the open epoll fd created above, owned by no one else.
        let sleeper = unsafe { OwnedFd::from_raw_fd(sleeper) };
        edge(sleeper.as_raw_fd(), Token::Wake)?;
        edge(self.registry.epoll.as_raw_fd(), Token::Wake)?;
        self.sleeper = Some(sleeper);
        Ok(())
    }

    /// The handle sources register with.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// What the last wait or look found ready (empty after a sleep).
    pub(crate) fn ready(&self) -> &[Ready] {
        &self.ready
    }

    /// Whether the last wait reported readiness (a `Readable` wait or a look) rather than
    /// sleeping blind: `false` means "anything may be ready".
    pub(crate) fn readiness_known(&self) -> bool {
        self.known
    }

    /// Whether `token` was reported readable by the last wait, or readiness is unknown.
    pub(crate) fn may_read(&self, token: Token) -> bool {
        !self.known || self.ready.iter().any(|r| r.token == token && r.read)
    }

    /// The turn's one wait: sleep, wait for readiness, or return at once.
    pub(crate) fn wait(&mut self, wait: Wait) {
        match wait {
            Wait::Now => {
                self.ready.clear();
                self.known = false;
            }
            Wait::Sleep(d) => {
                self.ready.clear();
                self.known = false;
                match &self.sleeper {
                    Some(s) => sleep_or_wake(s, d),
                    None => sleep(d),
                }
            }
            Wait::Readable(d) => self.epoll_wait(d, true),
            Wait::Quiet(d) => self.epoll_wait(d, false),
        }
    }

    /// A socket that `Readable` waits also wake for without its being in the epoll set
    /// (its owner reads it every turn, so its readiness is never reported): the wait is
    /// then a `ppoll` of the epoll descriptor and it. A socket in an epoll set carries the
    /// set's wait entry all the time, so the kernel runs epoll's wake-up callback for
    /// every datagram it receives and for every one it sent (`sock_wfree`, when the
    /// datagram is freed), turn or no turn; under `ppoll` the entry exists only while the
    /// loop sleeps. `None` removes it.
    pub(crate) fn set_beside(&mut self, fd: Option<RawFd>) {
        self.beside = fd;
    }

    /// Looks at readiness without waiting (after a sleep, for sources that read only
    /// when ready).
    pub(crate) fn look(&mut self) {
        self.epoll_wait(Duration::ZERO, false);
    }

    /// One epoll_pwait2 (the timeout is not rounded to milliseconds); with `beside`
    /// and a descriptor set beside the epoll set, a ppoll of the two first.
    #[allow(unsafe_code)]
    fn epoll_wait(&mut self, timeout: Duration, beside: bool) {
        self.ready.clear();
        self.known = true;
        let epfd = self.registry.epoll.as_raw_fd();
        let mut ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        if let Some(fd) = self.beside.filter(|_| beside)
            && !timeout.is_zero()
        {
            let mut fds = [epfd, fd].map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
            // SAFETY: `fds` and `ts` live on this frame for the call; a null signal mask
            // leaves the thread's mask unchanged.
            let n = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, &ts, std::ptr::null()) };
            if n <= 0 || fds[0].revents == 0 {
                // Timed out, or only the descriptor beside the set is ready (its owner
                // reads it every turn): nothing in the set is.
                return;
            }
            // Something in the set is ready: collect what, without waiting.
            ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
        }
        let max = self.events.len().min(i32::MAX as usize) as libc::c_int;
        // SAFETY: `events` holds `max` writable entries owned by `self`; `ts` lives for
        // the call; a null signal mask leaves the thread's mask unchanged.
        let n = unsafe {
            libc::epoll_pwait2(epfd, self.events.as_mut_ptr(), max, &ts, std::ptr::null())
        };
        let n = if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
            // Kernels before 5.11: millisecond timeouts, rounded up.
            let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
            // SAFETY: as above.
            unsafe { libc::epoll_wait(epfd, self.events.as_mut_ptr(), max, ms) }
        } else {
            n
        };
        let n = usize::try_from(n).unwrap_or(0);
        let read = (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLRDHUP | libc::EPOLLERR) as u32;
        let write = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        for ev in self.events.iter().take(n) {
            let (bits, raw) = (ev.events, ev.u64);
            if let Some(token) = Token::from_raw(raw) {
                self.ready.push(Ready {
                    token,
                    read: bits & read != 0,
                    write: bits & write != 0,
                });
            }
        }
    }
}

/// Sleeps `d` without waking for input, but for a control change: one epoll_pwait2 on
/// the set that holds only the wake-up (on kernels before 5.11, whose epoll_wait rounds
/// to milliseconds, a plain sleep: a 200 µs gather must not last 1 ms).
#[allow(unsafe_code)]
fn sleep_or_wake(sleeper: &OwnedFd, d: Duration) {
    let ts = libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    };
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: `ev` is one writable entry on this frame; `ts` lives for the call; a null
    // signal mask leaves the thread's mask unchanged.
    let n = unsafe { libc::epoll_pwait2(sleeper.as_raw_fd(), &mut ev, 1, &ts, std::ptr::null()) };
    if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        sleep(d);
    }
}

/// Sleeps `d` without waking for input (clock_nanosleep, one system call).
fn sleep(d: Duration) {
    #[allow(clippy::disallowed_methods)] // the loop's deliberate blind sleep (`Wait::Sleep`)
    std::thread::sleep(d);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_survive_the_round_trip_through_epoll_data() {
        for t in [
            Token::Sip,
            Token::CallUdp(0),
            Token::CallUdp(u16::MAX),
            Token::Rtp,
            Token::Handoff,
            Token::Listener,
            Token::Conn(0),
            Token::Conn(VALUE_MASK),
            Token::Webrtc(0),
            Token::Webrtc(u16::MAX),
        ] {
            assert_eq!(Token::from_raw(t.raw()), Some(t));
        }
        assert_eq!(Token::from_raw(0), None);
    }

    #[test]
    fn a_readable_socket_is_reported_under_its_token_and_a_sleep_knows_nothing() {
        use std::net::UdpSocket;
        let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let b = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let mut p = Poller::new(8).expect("epoll");
        p.registry()
            .add(b.as_raw_fd(), Token::CallUdp(7), READ)
            .expect("add");
        p.wait(Wait::Readable(Duration::ZERO));
        assert!(p.readiness_known() && p.ready().is_empty());
        assert!(!p.may_read(Token::CallUdp(7)));
        a.send_to(b"x", b.local_addr().expect("addr"))
            .expect("send");
        p.wait(Wait::Readable(Duration::from_secs(5)));
        assert_eq!(p.ready().len(), 1);
        assert!(p.may_read(Token::CallUdp(7)));
        p.wait(Wait::Sleep(Duration::from_micros(10)));
        assert!(!p.readiness_known() && p.may_read(Token::Rtp));
        p.registry().remove(b.as_raw_fd()).expect("remove");
        p.look();
        assert!(p.ready().is_empty(), "removed: no longer reported");
    }

    /// A control change (the control block's eventfd written) ends a blind sleep and a
    /// wait for input at once; each set reports it once (edge-triggered, never read), and
    /// then a sleep lasts its full time again.
    #[test]
    #[allow(clippy::disallowed_methods)] // real time: the test measures a wake-up
    fn a_control_change_ends_a_sleep_and_a_wait_at_once() {
        use crate::shard::wake::Wake;
        use std::sync::Arc;
        use std::time::Instant;
        let wake = Arc::new(Wake::default());
        let mut p = Poller::new(8).expect("epoll");
        p.watch_wake(wake.fd().expect("eventfd")).expect("watch");
        let later = |w: &Arc<Wake>| {
            let w = Arc::clone(w);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                w.signal();
            })
        };
        let woken = |r: &[Ready]| r.iter().any(|r| r.token == Token::Wake);
        let t = later(&wake);
        let start = Instant::now();
        p.wait(Wait::Sleep(Duration::from_secs(10)));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the sleep was not woken"
        );
        t.join().expect("signal");
        // The same change, in the loop's set: reported once.
        p.wait(Wait::Readable(Duration::ZERO));
        assert!(woken(p.ready()), "{:?}", p.ready());
        p.wait(Wait::Readable(Duration::ZERO));
        assert!(p.ready().is_empty(), "reported once: {:?}", p.ready());

        let t = later(&wake);
        let start = Instant::now();
        p.wait(Wait::Readable(Duration::from_secs(10)));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the wait was not woken"
        );
        assert!(woken(p.ready()), "{:?}", p.ready());
        t.join().expect("signal");
        // That change ends the next sleep at once; the one after sleeps its time.
        let start = Instant::now();
        p.wait(Wait::Sleep(Duration::from_secs(10)));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the pending change"
        );
        let start = Instant::now();
        p.wait(Wait::Sleep(Duration::from_millis(30)));
        assert!(
            start.elapsed() >= Duration::from_millis(30),
            "no stale wake-up"
        );
    }

    #[test]
    #[allow(
        clippy::disallowed_methods,
        reason = "the test times the waits themselves"
    )]
    fn a_socket_beside_the_set_wakes_a_readable_wait_but_not_a_quiet_one() {
        use std::net::UdpSocket;
        use std::time::Instant;
        let a = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let beside = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let watched = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let mut p = Poller::new(8).expect("epoll");
        p.registry()
            .add(watched.as_raw_fd(), Token::Sip, READ)
            .expect("add");
        p.set_beside(Some(beside.as_raw_fd()));
        a.send_to(b"x", beside.local_addr().expect("addr"))
            .expect("send");
        let quiet = Duration::from_millis(30);
        let t = Instant::now();
        p.wait(Wait::Quiet(quiet));
        assert!(t.elapsed() >= quiet, "a quiet wait sleeps through it");
        assert!(p.readiness_known() && !p.may_read(Token::Sip));
        let t = Instant::now();
        p.wait(Wait::Readable(Duration::from_secs(5)));
        assert!(
            t.elapsed() < Duration::from_secs(4),
            "a readable wait wakes for it"
        );
        assert!(
            p.readiness_known() && p.ready().is_empty(),
            "but does not report it"
        );
        a.send_to(b"y", watched.local_addr().expect("addr"))
            .expect("send");
        p.wait(Wait::Readable(Duration::from_secs(5)));
        assert!(
            p.may_read(Token::Sip),
            "the set's own readiness is still reported"
        );
        p.wait(Wait::Quiet(Duration::from_secs(5)));
        assert!(p.may_read(Token::Sip), "and wakes a quiet wait");
    }
}
