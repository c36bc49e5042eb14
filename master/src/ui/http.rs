//! tiny_http glue: a small pool of threads, each looping on `server.recv()`, turning
//! tiny_http requests into [`Incoming`] and [`Reply`] into responses.
//!
//! Owns: the socket side of the master. Body limits are enforced while reading (by the
//! api's `Call`), and a declared `Content-Length` beyond any limit is refused before a
//! byte of body is read. A panic in a handler costs that request a 500, never a thread.
//! Streaming replies and WebSocket sessions get a thread of their own, so a
//! long-lived client never holds a request thread. Must not: route or authorize (the
//! api does).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Response, Server, StatusCode};

use super::api::{self, ApiError, BodySource, Ctx, Incoming, MEDIA_BODY, Reply};

/// Declared bodies larger than this are refused without being drained (see
/// [`refuse_without_draining`]). Above every route limit.
const HARD_BODY_CAP: u64 = 2 * MEDIA_BODY;

impl BodySource for tiny_http::Request {
    fn reader(&mut self) -> &mut dyn Read {
        self.as_reader()
    }
}

/// Starts `threads` request threads on the server.
pub(crate) fn serve(
    server: Arc<Server>,
    ctx: Arc<Ctx>,
    threads: usize,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    (0..threads.max(1))
        .map(|i| {
            let (server, ctx) = (Arc::clone(&server), Arc::clone(&ctx));
            std::thread::Builder::new()
                .name(format!("ui-http-{i}"))
                .spawn(move || {
                    loop {
                        match server.recv() {
                            Ok(req) => handle(&ctx, req),
                            Err(e) => {
                                eprintln!("gossipper ui: accept failed: {e}");
                                std::thread::sleep(std::time::Duration::from_millis(100));
                            }
                        }
                    }
                })
        })
        .collect()
}

fn handle(ctx: &Ctx, mut req: tiny_http::Request) {
    let method = req.method().as_str().to_string();
    let url = req.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let remote_ip = req
        .remote_addr()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());
    let content_length = req.body_length().map(|n| n as u64);
    if content_length.is_some_and(|n| n > HARD_BODY_CAP) {
        refuse_without_draining(req);
        return;
    }
    let reply = catch_unwind(AssertUnwindSafe(|| {
        let mut inc = Incoming {
            method: &method,
            path,
            query,
            headers: &headers,
            remote_ip,
            content_length,
            body: &mut req,
        };
        api::dispatch(ctx, &mut inc)
    }))
    .unwrap_or_else(|_| {
        Reply::error(&ApiError::Internal(format!(
            "handler panicked on {method} {path}"
        )))
    });
    respond(req, reply);
}

/// tiny_http drains an unread body when the request is dropped, allocating a buffer of
/// the remaining declared length first; a client declaring terabytes would abort the
/// process. So such a request is answered 413 on the raw stream, which is then leaked
/// (one socket and one tiny_http connection thread) instead of dropped.
///
/// `Request::upgrade` prints no `Content-Length` (and `Response` refuses to carry one
/// through it), so the length rides in the `Upgrade` value after a CRLF: the client
/// then sees a complete, well-framed 413. Pinned by the e2e test that declares 10 TB.
fn refuse_without_draining(req: tiny_http::Request) {
    let body = ApiError::TooLarge(HARD_BODY_CAP).body();
    let resp =
        Response::empty(StatusCode(413)).with_header(header("Content-Type", "application/json"));
    let protocol = format!("close\r\nContent-Length: {}", body.len());
    let mut stream = req.upgrade(&protocol, resp);
    let _ = stream.write_all(&body);
    let _ = stream.flush();
    std::mem::forget(stream);
}

fn header(name: &str, value: &str) -> Header {
    // Names and values here are ASCII without CR/LF, which tiny_http always accepts.
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header is valid")
}

/// Writes a chunked response by hand, flushing every chunk (tiny_http's own chunked
/// writer buffers 8 KiB, which would hold live lines back).
fn stream(
    req: tiny_http::Request,
    content_type: &'static str,
    chunks: Box<dyn Iterator<Item = Vec<u8>> + Send>,
) {
    let spawned = std::thread::Builder::new().name("ui-stream".into()).spawn(move || {
        let mut w = req.into_writer();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
        );
        if w.write_all(head.as_bytes()).and_then(|()| w.flush()).is_err() {
            return;
        }
        for chunk in chunks {
            if chunk.is_empty() {
                continue;
            }
            let framed = format!("{:x}\r\n", chunk.len());
            let ok = w
                .write_all(framed.as_bytes())
                .and_then(|()| w.write_all(&chunk))
                .and_then(|()| w.write_all(b"\r\n"))
                .and_then(|()| w.flush());
            if ok.is_err() {
                return;
            }
        }
        let _ = w.write_all(b"0\r\n\r\n");
        let _ = w.flush();
    });
    if let Err(e) = spawned {
        eprintln!("gossipper ui: cannot start a stream thread: {e}");
    }
}

/// Completes a WebSocket handshake and runs the session on its own thread.
fn websocket(
    req: tiny_http::Request,
    accept: &str,
    session: Box<dyn FnOnce(Box<dyn api::Duplex>) + Send>,
) {
    let resp = Response::empty(StatusCode(101)).with_header(header("Sec-WebSocket-Accept", accept));
    let stream = req.upgrade("websocket", resp);
    let spawned = std::thread::Builder::new()
        .name("ui-websocket".into())
        .spawn(move || session(Box::new(stream)));
    if let Err(e) = spawned {
        eprintln!("gossipper ui: cannot start a WebSocket thread: {e}");
    }
}

fn respond(req: tiny_http::Request, reply: Reply) {
    let nosniff = header("X-Content-Type-Options", "nosniff");
    let result = match reply {
        Reply::Stream { content_type, chunks } => {
            stream(req, content_type, chunks);
            return;
        }
        Reply::WebSocket { accept, session } => {
            websocket(req, &accept, session);
            return;
        }
        Reply::Page { path, content_type } => match std::fs::File::open(&path) {
            Ok(f) => req.respond(
                Response::from_file(f)
                    .with_header(header("Content-Type", content_type))
                    .with_header(header(
                        "Content-Security-Policy",
                        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'",
                    ))
                    .with_header(header("X-Frame-Options", "SAMEORIGIN"))
                    .with_header(header("Cache-Control", "no-store"))
                    .with_header(nosniff),
            ),
            Err(_) => {
                let e = ApiError::NotFound("report not found".into());
                req.respond(
                    Response::from_data(e.body())
                        .with_status_code(StatusCode(404))
                        .with_header(header("Content-Type", "application/json")),
                )
            }
        },
        // The body is in memory: send its length rather than tiny_http's chunking (which
        // it picks above 32 KiB), so a client reads a large list in one go.
        Reply::Json { status, body } => req.respond(
            Response::from_data(body)
                .with_chunked_threshold(usize::MAX)
                .with_status_code(StatusCode(status))
                .with_header(header("Content-Type", "application/json"))
                .with_header(header("Cache-Control", "no-store"))
                .with_header(nosniff),
        ),
        Reply::Text { status, body } => req.respond(
            Response::from_data(body.as_bytes())
                .with_status_code(StatusCode(status))
                .with_header(header("Content-Type", "text/plain; charset=utf-8"))
                .with_header(nosniff),
        ),
        Reply::Static {
            content_type,
            body,
            cache_control,
            etag,
        } => req.respond(
            Response::from_data(body)
                .with_header(header("Content-Type", content_type))
                .with_header(header("Cache-Control", cache_control))
                .with_header(header("ETag", &etag))
                .with_header(header("X-Frame-Options", "DENY"))
                .with_header(nosniff),
        ),
        Reply::NotModified {
            etag,
            cache_control,
        } => req.respond(
            Response::empty(StatusCode(304))
                .with_header(header("Cache-Control", cache_control))
                .with_header(header("ETag", &etag)),
        ),
        Reply::Empty(status) => req.respond(Response::empty(StatusCode(status))),
        Reply::File {
            path,
            content_type,
            file_name,
        } => match std::fs::File::open(&path) {
            Ok(f) => req.respond(
                Response::from_file(f)
                    .with_header(header("Content-Type", content_type))
                    .with_header(header(
                        "Content-Disposition",
                        &format!("attachment; filename=\"{file_name}\""),
                    ))
                    .with_header(nosniff),
            ),
            Err(_) => {
                let e = ApiError::NotFound(format!("{file_name} not found"));
                req.respond(
                    Response::from_data(e.body())
                        .with_status_code(StatusCode(404))
                        .with_header(header("Content-Type", "application/json")),
                )
            }
        },
    };
    // The client went away mid-response: nothing to tell anyone.
    let _ = result;
}

/// Binds the listening socket with `TCP_NODELAY`, which Linux passes on to every accepted
/// connection. Without it, tiny_http's header write (through its 1 KiB buffer) and body
/// write go out as two segments, Nagle holds the body until the client ACKs the headers,
/// and the client delays that ACK by 40 ms: every reply over ~1 KiB took 40+ ms
/// (perf/api_latency.py measured p50 ≈ 44 ms on every such endpoint before this).
pub(crate) fn bind(addr: &str) -> std::io::Result<Server> {
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
    socket.listen(128)?;
    Server::from_listener(std::net::TcpListener::from(socket), None)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Resolves `--listen`: `:8080` means all interfaces; `host:port` is used as given.
pub(crate) fn listen_addr(listen: &str) -> String {
    match listen.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => listen.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_port_listens_on_every_interface() {
        assert_eq!(listen_addr(":8080"), "0.0.0.0:8080");
        assert_eq!(listen_addr("127.0.0.1:0"), "127.0.0.1:0");
        assert_eq!(listen_addr("[::1]:9000"), "[::1]:9000");
    }

    #[test]
    fn replies_over_a_kilobyte_are_not_held_by_nagle() {
        let server = bind("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let handle = std::thread::spawn(move || {
            for _ in 0..20 {
                let Ok(req) = server.recv() else { return };
                let _ = req.respond(Response::from_data(vec![b'x'; 8000]));
            }
        });
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let started = std::time::Instant::now();
        let mut buf = vec![0u8; 16384];
        for _ in 0..20 {
            conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut got = Vec::new();
            while !got.ends_with(&[b'x'; 8000][..]) {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "connection closed");
                got.extend_from_slice(&buf[..n]);
            }
        }
        handle.join().unwrap();
        // 20 round trips of an 8 KB reply: with Nagle they would cost 20 × 40 ms.
        assert!(
            started.elapsed() < std::time::Duration::from_millis(400),
            "20 replies took {:?}",
            started.elapsed()
        );
    }
}
