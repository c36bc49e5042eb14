//! The master's HTTP/1.1 server: one acceptor, one thread per admitted connection (kept
//! a while for the next one: `pool`), and a deadline on every read and write, so no
//! client, however slow, holds the service.
//!
//! Owns: the listening socket (`bind`, `--listen`), admission (`limits::Admission`: a
//! global cap and a per-client cap; past either, a short 503 written without waiting,
//! then close) and starting connection threads (`conn`), each with a small explicit
//! stack. Must not: route or authorize (the handler, `api::dispatch`, does).
//!
//! Submodules: `limits` (the numbers and the admission count), `head` (request heads,
//! parsed by httparse), `conn` (one connection: head, body, keep-alive), `reply` (status
//! line, headers, bodies, streams, WebSocket upgrade), `error` (protocol refusals),
//! `pool` (connection threads reused), `slice` (their short scheduler slice).
//!
//! Why our own server rather than tiny_http 0.12: tiny_http starts a thread per
//! connection without limit, offers no read or write timeout and no head deadline, and
//! drains an unread body on drop by allocating its declared length; eight connections
//! declaring a body and sending one byte blocked all of its request threads. Here the
//! number of threads is the connection cap, and every wait has an end.

mod conn;
mod error;
mod head;
mod limits;
mod message;
mod pool;
mod reply;
mod slice;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use error::HttpError;
use limits::Admission;
pub(crate) use limits::Limits;
pub(crate) use message::{EncodeError, Incoming, Reply, error_body};
use pool::Pool;

/// Declared bodies larger than this are refused before a byte of body is read: 512 MiB,
/// above every route limit (an api's routes refuse what is over their own).
pub(crate) const HARD_BODY_CAP: u64 = 512 << 20;
/// After a failed accept (out of descriptors), wait this long before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The same accept error is logged at most this often.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);

/// What answers a request: the api's `dispatch` (any function in tests).
pub(crate) type Handler = Arc<dyn Fn(&mut Incoming<'_>) -> Reply + Send + Sync>;

/// Accepts connections for ever: each admitted one is served on a thread of its own
/// (an idle one from an earlier connection, else a new one).
pub(crate) fn serve(listener: TcpListener, limits: Limits, handler: Handler) -> ! {
    slice::ask_short_slice();
    let admission = Admission::new(&limits);
    let pool = Pool::new(pool::MAX_IDLE, pool::IDLE_FOR, pool::KEEP);
    if let Err(e) = pool.prestart() {
        // Connections still get threads, made as they come.
        eprintln!("gossipper ui: cannot start an idle connection thread: {e}");
    }
    let mut last_error: Option<Instant> = None;
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) => {
                if last_error.is_none_or(|t| t.elapsed() >= ACCEPT_LOG_EVERY) {
                    eprintln!("gossipper ui: accept failed: {e}");
                    last_error = Some(Instant::now());
                }
                std::thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        let accepted_at = Instant::now();
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        let slot = match admission.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                turn_away(stream, &HttpError::from(refusal));
                continue;
            }
        };
        let handler = Arc::clone(&handler);
        let spawned = pool.run(Box::new(move || {
            // Given back when the connection ends, panic or not.
            let _slot = slot;
            conn::run(&handler, stream, limits, accepted_at);
        }));
        if let Err(e) = spawned {
            eprintln!("gossipper ui: cannot start a connection thread: {e}");
        }
    }
}

/// Answers a connection over a cap without waiting for anything: one nonblocking
/// write of a short 503 (lost if the socket cannot take it at once), then close.
fn turn_away(stream: TcpStream, e: &HttpError) {
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let body = e.body();
    let headers = [
        ("Content-Type", "application/json"),
        ("Retry-After", "1"),
        ("Cache-Control", "no-store"),
    ];
    let mut bytes = reply::render(
        e.status(),
        &headers,
        reply::Framing::Length(body.len() as u64),
        true,
    );
    bytes.extend_from_slice(&body);
    let _ = (&stream).write(&bytes);
    let _ = stream.shutdown(Shutdown::Write);
    // Take what the client sent already, so the close is not a reset that could destroy
    // the reply; never wait for more.
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        if !matches!((&stream).read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
}

/// Binds the listening socket with `TCP_NODELAY`, which Linux passes on to every
/// accepted connection (`conn` sets it again). Without it a reply's head and body can
/// go out as two segments, Nagle holds the body until the client ACKs the head, and the
/// client delays that ACK by 40 ms (perf/api_latency.py measured p50 ≈ 44 ms on every
/// reply over ~1 KiB before this).
pub(crate) fn bind(addr: &str) -> std::io::Result<TcpListener> {
    use std::net::ToSocketAddrs;
    let sock_addr = addr.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{addr} resolves to no address"),
        )
    })?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(sock_addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    // As std's TcpListener::bind does on Unix: a restart may reuse a port in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&sock_addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests;
