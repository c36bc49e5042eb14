//! One admitted connection, on its own thread: read a request head by its deadline, hand
//! the request to the handler with a body reader that keeps the body's deadline, write
//! the reply, and go round again while the client keeps the connection alive.
//!
//! Owns: the connection's socket and read buffer, the head deadline (`request_timeout`
//! from the accept, or from the first byte of a kept-alive connection's next request),
//! the idle wait between requests (`idle_timeout`), the body deadline and the 408 of a
//! body that does not come, `100 Continue`, and how a connection ends. Must not: parse a
//! head (`head` does), frame a reply (`reply` does) or route (the handler does).
//!
//! A body is never drained on the server's time: what a handler leaves unread is read
//! and dropped only when it is at most [`DRAIN_MAX`] and arrives by the body's deadline;
//! otherwise the connection closes (after a bounded lingering close, so the reply is not
//! destroyed by a reset).

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use super::error::HttpError;
use super::head::{self, Head};
use super::limits::{
    DRAIN_MAX, LINGER_BYTES, LINGER_TIME, Limits, MAX_HEAD_BYTES, MAX_REQUESTS_PER_CONNECTION,
    io_timeout,
};
use super::message::{BodySource, Incoming, Reply, error_body};
use super::reply::{self, After, Out};
use super::{HARD_BODY_CAP, Handler};

/// Serves one connection until it ends. `accepted_at` starts the first head's deadline.
pub(super) fn run(handler: &Handler, stream: TcpStream, limits: Limits, accepted_at: Instant) {
    let Ok(peer) = stream.peer_addr() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        stream,
        peer: peer.ip(),
        limits,
        buf: Vec::with_capacity(4096),
    };
    let mut wait = Wait::Head(accepted_at + limits.request_timeout);
    for served in 1..=MAX_REQUESTS_PER_CONNECTION {
        let head = match conn.read_head(wait) {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                // What follows a refused head is unknown: linger so the reply arrives
                // (not after a timeout: that client had its time).
                let linger = !matches!(e, HttpError::HeadTimeout(_));
                conn.refuse(&e, linger);
                return;
            }
        };
        let last = served == MAX_REQUESTS_PER_CONNECTION;
        if !conn.serve(handler, &head, last) {
            return;
        }
        wait = Wait::Idle(Instant::now() + limits.idle_timeout);
    }
}

/// What the next head read waits for.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// The whole head must be there by then.
    Head(Instant),
    /// A kept-alive connection: the next request's first byte by then (or a silent
    /// close), and then its whole head within `request_timeout`.
    Idle(Instant),
}

struct Conn {
    stream: TcpStream,
    peer: IpAddr,
    limits: Limits,
    /// Bytes read and not used yet: the rest of a head, the start of a body, a
    /// pipelined request. At most [`MAX_HEAD_BYTES`] are read ahead.
    buf: Vec<u8>,
}

impl Conn {
    /// The next request head; `Ok(None)` when the client closed or went quiet before
    /// sending a byte of it (nothing to answer).
    fn read_head(&mut self, wait: Wait) -> Result<Option<Head>, HttpError> {
        let (mut deadline, idle_until) = match wait {
            Wait::Head(d) => (Some(d), d),
            Wait::Idle(d) => (None, d),
        };
        loop {
            if !self.buf.is_empty() {
                if deadline.is_none() {
                    deadline = Some(Instant::now() + self.limits.request_timeout);
                }
                if let Some((head, len)) = head::parse(&self.buf)? {
                    self.buf.drain(..len);
                    return Ok(Some(head));
                }
            }
            let Some(timeout) = io_timeout(Instant::now(), deadline.unwrap_or(idle_until)) else {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(HttpError::HeadTimeout(
                    self.limits.request_timeout.as_secs(),
                ));
            };
            if self.stream.set_read_timeout(Some(timeout)).is_err() {
                return Ok(None);
            }
            let old = self.buf.len();
            // `parse` refused a full buffer, so there is room.
            let room = MAX_HEAD_BYTES.saturating_sub(old).clamp(1, 4096);
            self.buf.resize(old + room, 0);
            let got = self.stream.read(&mut self.buf[old..]);
            self.buf.truncate(old + *got.as_ref().unwrap_or(&0));
            match got {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) if retry(&e) || timed_out(&e) => {}
                Err(_) => return Ok(None),
            }
        }
    }

    /// Runs one request through the handler and writes its reply. Returns whether the
    /// connection may serve another.
    fn serve(&mut self, handler: &Handler, head: &Head, last: bool) -> bool {
        let declared = head.content_length.unwrap_or(0);
        if declared > HARD_BODY_CAP {
            self.refuse(&HttpError::TooLarge(HARD_BODY_CAP), true);
            return false;
        }
        let remote_ip = self.peer;
        let mut body = Body {
            deadline: self.limits.deadline(Instant::now(), declared),
            remaining: declared,
            continue_pending: head.expect_continue,
            failure: None,
            conn: self,
        };
        let reply = catch_unwind(AssertUnwindSafe(|| {
            let mut inc = Incoming {
                method: &head.method,
                path: &head.path,
                query: &head.query,
                headers: &head.headers,
                remote_ip,
                content_length: head.content_length,
                body: &mut body,
            };
            handler(&mut inc)
        }))
        .unwrap_or_else(|_| {
            // The detail goes to the log, never to the client.
            eprintln!(
                "gossipper ui: internal error: handler panicked on {} {}",
                head.method, head.path
            );
            Reply::Json {
                status: 500,
                body: error_body("internal error"),
            }
        });
        let Body {
            remaining,
            continue_pending,
            failure,
            deadline,
            ..
        } = body;
        match failure {
            Some(Failure::TimedOut) => {
                // Whatever the handler made of a cut body, the answer is the timeout.
                self.refuse(&HttpError::BodyTimeout(declared), false);
                return false;
            }
            // The client closed its side or the socket failed: answer if it still
            // listens, then end.
            Some(Failure::Closed) => {
                let _ = reply::send(self.out(head, true), reply);
                return false;
            }
            None => {}
        }
        // A client waiting for `100 Continue` that was never sent has no body coming;
        // a small unread rest is read and dropped; a large one ends the connection.
        let drain = remaining > 0 && remaining <= DRAIN_MAX && !continue_pending;
        let keep = head.keep_alive && !last && (remaining == 0 || drain);
        let leftover = match reply {
            Reply::WebSocket { .. } => std::mem::take(&mut self.buf),
            _ => Vec::new(),
        };
        let out = Out {
            leftover,
            ..self.out(head, !keep)
        };
        if reply::send(out, reply) == After::Close {
            if remaining > 0 {
                self.linger();
            }
            return false;
        }
        if remaining == 0 {
            return true;
        }
        let mut rest = Body {
            deadline,
            remaining,
            continue_pending: false,
            failure: None,
            conn: self,
        };
        std::io::copy(&mut rest, &mut std::io::sink()).is_ok() && rest.remaining == 0
    }

    fn out<'a>(&'a self, head: &Head, close: bool) -> Out<'a> {
        Out {
            stream: &self.stream,
            limits: &self.limits,
            head_only: head.method == "HEAD",
            close,
            leftover: Vec::new(),
        }
    }

    /// Answers `e` and closes; `linger` when request bytes may still be on their way.
    fn refuse(&mut self, e: &HttpError, linger: bool) {
        let out = Out {
            stream: &self.stream,
            limits: &self.limits,
            head_only: false,
            close: true,
            leftover: Vec::new(),
        };
        if reply::refusal(&out, e).is_ok() && linger {
            self.linger();
        }
    }

    /// A lingering close: no more writes, then read and drop what the client still
    /// sends, at most [`LINGER_BYTES`] for at most [`LINGER_TIME`], so the close does not
    /// reset the connection under a reply the client has not read yet.
    fn linger(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let until = Instant::now() + LINGER_TIME;
        let mut sink = [0u8; 8192];
        let mut dropped = 0u64;
        while dropped < LINGER_BYTES {
            let Some(t) = io_timeout(Instant::now(), until) else {
                return;
            };
            if self.stream.set_read_timeout(Some(t)).is_err() {
                return;
            }
            match self.stream.read(&mut sink) {
                Ok(0) => return,
                Ok(n) => dropped += n as u64,
                Err(e) if retry(&e) => {}
                Err(_) => return,
            }
        }
    }
}

/// Why a body read stopped for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Nothing came for `request_timeout`, or not all by the body's deadline.
    TimedOut,
    /// The client closed before the declared length, or the socket failed.
    Closed,
}

/// A request body: the declared length, read from the connection's buffer then its
/// socket, by its deadline; `100 Continue` goes out before the first socket read.
struct Body<'c> {
    conn: &'c mut Conn,
    remaining: u64,
    deadline: Instant,
    continue_pending: bool,
    failure: Option<Failure>,
}

impl Body<'_> {
    fn fail(&mut self, f: Failure) -> std::io::Error {
        self.failure = Some(f);
        match f {
            Failure::TimedOut => {
                std::io::Error::new(ErrorKind::TimedOut, "body not received in time")
            }
            Failure::Closed => std::io::Error::new(ErrorKind::UnexpectedEof, "body cut short"),
        }
    }
}

impl Read for Body<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.remaining == 0 || out.is_empty() {
            return Ok(0);
        }
        if let Some(f) = self.failure {
            return Err(self.fail(f));
        }
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(out.len());
        let buffered = want.min(self.conn.buf.len());
        if buffered > 0 {
            out[..buffered].copy_from_slice(&self.conn.buf[..buffered]);
            self.conn.buf.drain(..buffered);
            self.remaining -= buffered as u64;
            return Ok(buffered);
        }
        if self.continue_pending {
            self.continue_pending = false;
            let stream = &self.conn.stream;
            let sent = stream
                .set_write_timeout(Some(self.conn.limits.request_timeout))
                .and_then(|()| (&*stream).write_all(b"HTTP/1.1 100 Continue\r\n\r\n"));
            if sent.is_err() {
                return Err(self.fail(Failure::Closed));
            }
        }
        loop {
            let now = Instant::now();
            let until = self.conn.limits.step_deadline(now, self.deadline);
            let Some(t) = io_timeout(now, until) else {
                return Err(self.fail(Failure::TimedOut));
            };
            if self.conn.stream.set_read_timeout(Some(t)).is_err() {
                return Err(self.fail(Failure::Closed));
            }
            match self.conn.stream.read(&mut out[..want]) {
                Ok(0) => return Err(self.fail(Failure::Closed)),
                Ok(n) => {
                    self.remaining -= n as u64;
                    return Ok(n);
                }
                Err(e) if retry(&e) => {}
                Err(e) if timed_out(&e) => return Err(self.fail(Failure::TimedOut)),
                Err(_) => return Err(self.fail(Failure::Closed)),
            }
        }
    }
}

impl BodySource for Body<'_> {
    fn reader(&mut self) -> &mut dyn Read {
        self
    }
}

fn retry(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::Interrupted
}

/// A socket timeout (`SO_RCVTIMEO` expiring reads as `WouldBlock` on Unix).
fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
