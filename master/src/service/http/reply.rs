//! Writing a [`Reply`] on a connection: the status line and headers of each kind of
//! reply, `Content-Length` bodies (in memory or a file), chunked streams, and the
//! WebSocket upgrade.
//!
//! Owns: the bytes on the wire after a handler returned, and the write deadlines: each
//! write waits at most `request_timeout`, and a whole fixed-length reply must be taken
//! by the client by [`Limits::deadline`] (its length at [`MIN_RATE`](super::limits::MIN_RATE)
//! plus the grace), so a client that reads slowly or never cannot hold its thread.
//! Streams and WebSocket sessions are long-lived by design: only each write is timed,
//! and they hold their connection's slot. Must not: read the request (`conn` does) or
//! decide a reply (the api does).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Instant, SystemTime};

use super::error::HttpError;
use super::limits::{Limits, io_timeout};
use super::message::{Duplex, Reply, error_body};
use crate::service::timefmt;

/// Bytes written at once: the deadline is looked at between writes.
const WRITE_CHUNK: usize = 64 << 10;
/// In-memory bodies up to this size go out in the same write as the head.
const COALESCE: usize = 16 << 10;
const NOSNIFF: (&str, &str) = ("X-Content-Type-Options", "nosniff");
const JSON: (&str, &str) = ("Content-Type", "application/json");
const NO_STORE: (&str, &str) = ("Cache-Control", "no-store");
const REPORT_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'";

/// What the connection does after a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum After {
    /// The reply went out whole; the connection may serve another request.
    Open,
    /// The connection is done (a write failed or timed out, `close` was asked, or the
    /// reply was a stream or a WebSocket session).
    Close,
}

/// How a reply goes out.
pub(super) struct Out<'a> {
    pub(super) stream: &'a TcpStream,
    pub(super) limits: &'a Limits,
    /// A `HEAD` request: the head only, with the length the body would have.
    pub(super) head_only: bool,
    /// `Connection: close` goes into the head, and the connection ends after it.
    pub(super) close: bool,
    /// Bytes the client sent after the request head (a WebSocket client may already
    /// have sent its first frames); handed to a WebSocket session.
    pub(super) leftover: Vec<u8>,
}

/// The length framing of a reply's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    Length(u64),
    Chunked,
    /// 101, 204, 304: no body and no length.
    None,
}

/// Writes `reply`; says whether the connection may go on.
pub(super) fn send(out: Out<'_>, reply: Reply) -> After {
    let nosniff = NOSNIFF;
    let sent = match reply {
        Reply::Json { status, body } => fixed(&out, status, &[JSON, NO_STORE, nosniff], &body),
        Reply::RetryLater {
            body,
            retry_after_s,
        } => fixed(
            &out,
            429,
            &[
                JSON,
                ("Retry-After", &retry_after_s.to_string()),
                NO_STORE,
                nosniff,
            ],
            &body,
        ),
        Reply::Text { status, body } => fixed(
            &out,
            status,
            &[("Content-Type", "text/plain; charset=utf-8"), nosniff],
            body.as_bytes(),
        ),
        Reply::Generated { content_type, body } => fixed(
            &out,
            200,
            &[("Content-Type", content_type), NO_STORE, nosniff],
            &body,
        ),
        Reply::Download {
            content_type,
            file_name,
            body,
        } => fixed(
            &out,
            200,
            &[
                ("Content-Type", content_type),
                (
                    "Content-Disposition",
                    &format!("attachment; filename=\"{file_name}\""),
                ),
                NO_STORE,
                nosniff,
            ],
            &body,
        ),
        Reply::Static {
            content_type,
            body,
            cache_control,
            etag,
        } => fixed(
            &out,
            200,
            &[
                ("Content-Type", content_type),
                ("Cache-Control", cache_control),
                ("ETag", &etag),
                ("X-Frame-Options", "DENY"),
                nosniff,
            ],
            body,
        ),
        Reply::NotModified {
            etag,
            cache_control,
        } => fixed(
            &out,
            304,
            &[("Cache-Control", cache_control), ("ETag", &etag)],
            &[],
        ),
        Reply::Empty(status) => fixed(&out, status, &[], &[]),
        Reply::Page { path, content_type } => file(
            &out,
            &path,
            &[
                ("Content-Type", content_type),
                ("Content-Security-Policy", REPORT_CSP),
                ("X-Frame-Options", "SAMEORIGIN"),
                NO_STORE,
                nosniff,
            ],
            "report not found",
        ),
        Reply::File {
            path,
            content_type,
            file_name,
        } => {
            let disposition = format!("attachment; filename=\"{file_name}\"");
            file(
                &out,
                &path,
                &[
                    ("Content-Type", content_type),
                    ("Content-Disposition", &disposition),
                    nosniff,
                ],
                &format!("{file_name} not found"),
            )
        }
        Reply::Stream {
            content_type,
            chunks,
        } => {
            stream(&out, content_type, chunks);
            return After::Close;
        }
        Reply::WebSocket { accept, session } => {
            websocket(out, &accept, session);
            return After::Close;
        }
    };
    match sent {
        Ok(()) if !out.close => After::Open,
        _ => After::Close,
    }
}

/// Writes an [`HttpError`] as a JSON reply.
pub(super) fn refusal(out: &Out<'_>, e: &HttpError) -> std::io::Result<()> {
    fixed(out, e.status(), &[JSON, NO_STORE, NOSNIFF], &e.body())
}

/// A reply whose body is in memory.
fn fixed(out: &Out<'_>, status: u16, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<()> {
    let framing = match status {
        204 | 304 => Framing::None,
        _ => Framing::Length(body.len() as u64),
    };
    let mut bytes = render(status, headers, framing, out.close);
    let deadline = out
        .limits
        .deadline(Instant::now(), (bytes.len() + body.len()) as u64);
    if out.head_only || framing == Framing::None {
        return write_all(out, Some(deadline), &bytes);
    }
    if body.len() <= COALESCE {
        bytes.extend_from_slice(body);
        return write_all(out, Some(deadline), &bytes);
    }
    write_all(out, Some(deadline), &bytes)?;
    write_all(out, Some(deadline), body)
}

/// A file's bytes with its length (a file that cannot be opened is a 404).
fn file(
    out: &Out<'_>,
    path: &std::path::Path,
    headers: &[(&str, &str)],
    missing: &str,
) -> std::io::Result<()> {
    let opened = std::fs::File::open(path).and_then(|f| Ok((f.metadata()?.len(), f)));
    let Ok((len, f)) = opened else {
        return fixed(out, 404, &[JSON, NO_STORE, NOSNIFF], &error_body(missing));
    };
    let bytes = render(200, headers, Framing::Length(len), out.close);
    let deadline = out.limits.deadline(Instant::now(), len);
    write_all(out, Some(deadline), &bytes)?;
    if out.head_only {
        return Ok(());
    }
    let mut reader = f.take(len);
    let mut buf = vec![0u8; WRITE_CHUNK];
    let mut sent = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        write_all(out, Some(deadline), buf.get(..n).unwrap_or_default())?;
        sent += n as u64;
    }
    if sent < len {
        // The file shrank while it was sent: the length promised cannot be kept.
        return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "file shrank"));
    }
    Ok(())
}

/// A chunked body, one chunk per item, each flushed as it comes (live lines must not
/// wait in a buffer); the connection closes after it.
fn stream(
    out: &Out<'_>,
    content_type: &'static str,
    chunks: Box<dyn Iterator<Item = Vec<u8>> + Send>,
) {
    let headers = [("Content-Type", content_type), NO_STORE, NOSNIFF];
    let bytes = render(200, &headers, Framing::Chunked, true);
    if write_all(out, None, &bytes).is_err() || out.head_only {
        return;
    }
    let mut framed = Vec::new();
    for chunk in chunks {
        if chunk.is_empty() {
            continue;
        }
        framed.clear();
        framed.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        framed.extend_from_slice(&chunk);
        framed.extend_from_slice(b"\r\n");
        if write_all(out, None, &framed).is_err() {
            return;
        }
    }
    let _ = write_all(out, None, b"0\r\n\r\n");
}

/// Completes a WebSocket handshake and runs the session on this connection's thread
/// (it holds the connection's slot for as long as it lasts).
fn websocket(out: Out<'_>, accept: &str, session: Box<dyn FnOnce(Box<dyn Duplex>) + Send>) {
    if out.head_only {
        let _ = refusal(&out, &HttpError::Malformed("a WebSocket upgrade needs GET"));
        return;
    }
    let headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept),
    ];
    let bytes = render(101, &headers, Framing::None, false);
    if write_all(&out, None, &bytes).is_err() {
        return;
    }
    // The session owns its stream; a second handle to the socket (closed with the
    // first when the thread ends). Each write still waits at most `request_timeout`.
    let Ok(stream) = out.stream.try_clone() else {
        return;
    };
    let _ = stream.set_write_timeout(Some(out.limits.request_timeout));
    session(Box::new(Upgraded {
        leftover: out.leftover,
        at: 0,
        stream,
    }));
}

/// An upgraded connection: first the bytes read past the request head, then the socket.
struct Upgraded {
    leftover: Vec<u8>,
    at: usize,
    stream: TcpStream,
}

impl Read for Upgraded {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.leftover.get(self.at..).unwrap_or_default();
        if rest.is_empty() {
            return self.stream.read(buf);
        }
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

impl Write for Upgraded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// Writes all of `bytes`, each write waiting at most `request_timeout` and all of them
/// done by `deadline` (if any).
fn write_all(out: &Out<'_>, deadline: Option<Instant>, bytes: &[u8]) -> std::io::Result<()> {
    let mut at = 0;
    while at < bytes.len() {
        let now = Instant::now();
        let until = match deadline {
            Some(d) => out.limits.step_deadline(now, d),
            None => now + out.limits.request_timeout,
        };
        let Some(wait) = io_timeout(now, until) else {
            return Err(ErrorKind::TimedOut.into());
        };
        out.stream.set_write_timeout(Some(wait))?;
        let end = bytes.len().min(at + WRITE_CHUNK);
        match (&*out.stream).write(bytes.get(at..end).unwrap_or_default()) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => at += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The status line and headers of a reply.
pub(super) fn render(
    status: u16,
    headers: &[(&str, &str)],
    framing: Framing,
    close: bool,
) -> Vec<u8> {
    let mut h = String::with_capacity(256);
    h.push_str(&format!("HTTP/1.1 {status} {}\r\n", reason(status)));
    h.push_str(&format!(
        "Date: {}\r\n",
        timefmt::http_date(SystemTime::now())
    ));
    for (name, value) in headers {
        // Values are ours (content types, ETags, checked file names), but a CR or LF
        // would split the head: drop control characters rather than trust that.
        let value: String = value
            .chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .collect();
        h.push_str(&format!("{name}: {value}\r\n"));
    }
    match framing {
        Framing::Length(n) => h.push_str(&format!("Content-Length: {n}\r\n")),
        Framing::Chunked => h.push_str("Transfer-Encoding: chunked\r\n"),
        Framing::None => {}
    }
    if close {
        h.push_str("Connection: close\r\n");
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// The reason phrase of a status (informative only: clients read the code).
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn heads_carry_the_length_or_chunking_and_close_when_asked() {
        let h = text(render(200, &[JSON], Framing::Length(12), false));
        assert!(h.starts_with("HTTP/1.1 200 OK\r\nDate: "), "{h}");
        assert!(h.contains("\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n"));
        assert!(!h.contains("Connection"));
        let h = text(render(200, &[], Framing::Chunked, true));
        assert!(h.ends_with("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"));
        let h = text(render(304, &[("ETag", "\"x\"")], Framing::None, false));
        assert!(h.starts_with("HTTP/1.1 304 Not Modified\r\n") && !h.contains("Content-Length"));
    }

    #[test]
    fn a_header_value_cannot_split_the_head() {
        let h = text(render(
            200,
            &[("X-Name", "a\r\nSet-Cookie: x")],
            Framing::None,
            false,
        ));
        assert!(h.contains("X-Name: aSet-Cookie: x\r\n"), "{h}");
        assert_eq!(h.matches("\r\n").count(), 4, "{h}");
    }
}
