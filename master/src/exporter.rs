//! A run's own Prometheus endpoint: `-metrics_addr ip:port` on the SIPp command line, or
//! `trace.metrics_addr` in a worker's spec, serves `GET /metrics` for that one run.
//!
//! Owns: the listening socket, a small accept thread, and the text of the newest scrape
//! (the observers hand it a stats line every second; `job::metrics` writes the text).
//! There is no authentication: the endpoint shows counters only (no settings, no
//! addresses of the run), and README says to keep it on loopback or a private network.
//! Every connection is answered on a thread of its own, at most [`MAX_CONNECTIONS`] at
//! once (more are closed at once), and each has [`DEADLINE`] to send its request head,
//! so a client that never finishes its request blocks neither the accept thread nor other
//! scrapers. Must not: touch the run (it only reads the text it was given).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gossipper_engine::output::stats_line::StatsLine;
use gossipper_engine::stats::ShardStats;

use crate::job::metrics::{CONTENT_TYPE, Exposition, RunMetrics};

/// Connections served at once.
const MAX_CONNECTIONS: usize = 8;
/// The longest a connection may take to send its request head (and the longest one
/// read or write may wait).
const DEADLINE: Duration = Duration::from_secs(5);
/// The largest request head read.
const MAX_HEAD: usize = 8 << 10;

/// The endpoint: the accept thread runs until the process ends.
pub(crate) struct Exporter {
    labels: Vec<(&'static str, String)>,
    text: Arc<Mutex<Arc<Vec<u8>>>>,
    addr: SocketAddr,
}

impl Exporter {
    /// Binds `addr` and starts serving (an empty scrape until the first
    /// [`publish`](Self::publish)); every sample carries `labels`.
    pub(crate) fn start(
        addr: SocketAddr,
        labels: Vec<(&'static str, String)>,
    ) -> std::io::Result<Exporter> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let text: Arc<Mutex<Arc<Vec<u8>>>> = Arc::default();
        let shared = Arc::clone(&text);
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || accept(listener, shared))?;
        Ok(Exporter { labels, text, addr })
    }

    /// The address it listens on (port 0 resolved).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Makes `stats` what the next scrape shows.
    pub(crate) fn publish(&self, stats: &StatsLine) {
        let mut text = Exposition::new();
        text.runs(&[RunMetrics {
            labels: self.labels.clone(),
            stats,
        }]);
        let body = Arc::new(text.finish().into_bytes());
        *self.text.lock().unwrap_or_else(|p| p.into_inner()) = body;
    }
}

/// How often a [`Feed`] refreshes the scrape.
const PERIOD: Duration = Duration::from_secs(1);

/// An exporter fed from a run's ticks (the SIPp command line, whose observer writes no
/// stats lines of its own): a stats line every second, its rate over that second.
pub(crate) struct Feed {
    exporter: Exporter,
    prev: ShardStats,
    prev_at: Option<Instant>,
    next_at: Option<Instant>,
}

impl Feed {
    /// A feed starting from `empty` (the run's zero statistics).
    pub(crate) fn new(exporter: Exporter, empty: ShardStats) -> Feed {
        Feed {
            exporter,
            prev: empty,
            prev_at: None,
            next_at: None,
        }
    }

    /// Publishes when a period has passed since the last time (missed periods are
    /// skipped, not made up).
    pub(crate) fn on_tick(&mut self, stats: &ShardStats, started: Instant, now: Instant) {
        let next = *self.next_at.get_or_insert(started + PERIOD);
        if now < next {
            return;
        }
        let mut n = next + PERIOD;
        while n <= now {
            n += PERIOD;
        }
        self.next_at = Some(n);
        let prev_at = *self.prev_at.get_or_insert(started);
        let line = StatsLine::between(&self.prev, stats, now.saturating_duration_since(prev_at));
        self.exporter.publish(&line);
        self.prev = stats.clone();
        self.prev_at = Some(now);
    }
}

/// Gives a connection slot back when its thread ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn accept(listener: TcpListener, text: Arc<Mutex<Arc<Vec<u8>>>>) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            // Out of descriptors, or a connection reset before accept: try the next.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        if active.fetch_add(1, Ordering::Relaxed) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::Relaxed);
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        let slot = Slot(Arc::clone(&active));
        let body = Arc::clone(&text.lock().unwrap_or_else(|p| p.into_inner()));
        let spawned = std::thread::Builder::new()
            .name("metrics-conn".into())
            .stack_size(64 << 10)
            .spawn(move || {
                let _slot = slot;
                serve(stream, &body);
            });
        if spawned.is_err() {
            // The slot went back with the closure; the connection is dropped.
            continue;
        }
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Ask {
    Metrics {
        head_only: bool,
    },
    NotFound,
    WrongMethod,
    /// Not an HTTP request head we can read (cut short, too large, not HTTP).
    Bad,
}

/// Reads one request head within [`DEADLINE`] and answers it, then closes.
fn serve(mut stream: TcpStream, body: &[u8]) {
    let started = Instant::now();
    let _ = stream.set_write_timeout(Some(DEADLINE));
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let ask = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break parse(head.get(..end).unwrap_or_default());
        }
        let left = DEADLINE.saturating_sub(started.elapsed());
        if left.is_zero() || head.len() > MAX_HEAD {
            break Ask::Bad;
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut buf) {
            Ok(0) => break Ask::Bad,
            Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Timed out or reset: nothing to answer.
            Err(_) => return,
        }
    };
    let reply = match ask {
        Ask::Metrics { head_only } => render(200, "OK", CONTENT_TYPE, body, head_only, ""),
        Ask::NotFound => render(
            404,
            "Not Found",
            "text/plain",
            b"only /metrics here\n",
            false,
            "",
        ),
        Ask::WrongMethod => render(
            405,
            "Method Not Allowed",
            "text/plain",
            b"GET only\n",
            false,
            "Allow: GET, HEAD\r\n",
        ),
        Ask::Bad => render(
            400,
            "Bad Request",
            "text/plain",
            b"bad request\n",
            false,
            "",
        ),
    };
    let _ = stream.write_all(&reply);
    let _ = stream.shutdown(Shutdown::Write);
}

/// The request line of a head: `GET /metrics[?…] HTTP/1.x`.
fn parse(head: &[u8]) -> Ask {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let Ok(line) = std::str::from_utf8(line) else {
        return Ask::Bad;
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ask::Bad;
    };
    if !version.starts_with("HTTP/1.") {
        return Ask::Bad;
    }
    let path = target.split('?').next().unwrap_or_default();
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => Ask::Metrics {
            head_only: method == "HEAD",
        },
        ("GET" | "HEAD", _) => Ask::NotFound,
        _ => Ask::WrongMethod,
    }
}

fn render(
    status: u16,
    reason: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
    extra: &str,
) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn request_lines_are_read_strictly() {
        assert_eq!(
            parse(b"GET /metrics HTTP/1.1"),
            Ask::Metrics { head_only: false }
        );
        assert_eq!(
            parse(b"HEAD /metrics?x=1 HTTP/1.0\r\nHost: a"),
            Ask::Metrics { head_only: true }
        );
        assert_eq!(parse(b"GET / HTTP/1.1"), Ask::NotFound);
        assert_eq!(parse(b"POST /metrics HTTP/1.1"), Ask::WrongMethod);
        assert_eq!(parse(b"GET /metrics"), Ask::Bad);
        assert_eq!(parse(b"GET /metrics SPDY/3"), Ask::Bad);
        assert_eq!(parse(b"\xff\xfe"), Ask::Bad);
    }

    #[test]
    fn a_stalled_client_does_not_keep_the_next_scrape_waiting() {
        let e = Exporter::start(
            "127.0.0.1:0".parse().unwrap(),
            vec![("scenario", "uac".into())],
        )
        .unwrap();
        let addr = e.local_addr();
        e.publish(&StatsLine {
            calls_created: 42,
            ..Default::default()
        });
        // Opens a request and never finishes it.
        let mut stalled = TcpStream::connect(addr).unwrap();
        stalled.write_all(b"GET /metr").unwrap();
        let started = Instant::now();
        let reply = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "waited {:?} behind a stalled client",
            started.elapsed()
        );
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(reply.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(
            reply.contains("gossipper_calls_created_total{scenario=\"uac\"} 42\n"),
            "{reply}"
        );
        let reply = get(addr, "GET /other HTTP/1.1\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 404 "), "{reply}");
        let reply = get(addr, "DELETE /metrics HTTP/1.1\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 405 "), "{reply}");
        drop(stalled);
    }

    #[test]
    fn a_taken_address_is_a_bind_error() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let err = Exporter::start(taken.local_addr().unwrap(), Vec::new())
            .err()
            .expect("the port is taken");
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
    }
}
