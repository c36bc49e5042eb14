//! The request and the reply as a handler sees them: [`Incoming`] in, [`Reply`] out.
//!
//! Owns: those two types, the body seam ([`BodySource`]) and the upgraded stream
//! ([`Duplex`]), and the one JSON error body (`{"error": "…"}`, [`error_body`]) that every
//! refusal uses, the HTTP layer's own and the api's. Must not: route, authorize or know
//! any api's errors (an api maps its errors to a `Reply` itself), so the HTTP layer can
//! serve more than one api.

use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

/// A reply body that could not be encoded as JSON (a caller bug: our reply types always
/// encode).
#[derive(Debug, thiserror::Error)]
#[error("serializing a reply: {0}")]
pub(crate) struct EncodeError(serde_json::Error);

/// The JSON body `{"error": "…"}` of every refusal.
pub(crate) fn error_body(text: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        error: &'a str,
    }
    serde_json::to_vec(&Body { error: text })
        .unwrap_or_else(|_| b"{\"error\":\"internal error\"}".to_vec())
}

/// Where the body of a request comes from (the connection, or a slice in tests).
pub(crate) trait BodySource {
    fn reader(&mut self) -> &mut dyn Read;
}

impl BodySource for &[u8] {
    fn reader(&mut self) -> &mut dyn Read {
        self
    }
}

/// A request as the router sees it.
pub(crate) struct Incoming<'a> {
    pub(crate) method: &'a str,
    /// The path without the query string.
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    /// Header names in lower case.
    pub(crate) headers: &'a [(String, String)],
    pub(crate) remote_ip: IpAddr,
    pub(crate) content_length: Option<u64>,
    pub(crate) body: &'a mut dyn BodySource,
}

impl Incoming<'_> {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// For a WebSocket upgrade request, the `Sec-WebSocket-Accept` value; `None` for a
    /// plain request; `Err` naming what a broken handshake lacks (the caller's 400).
    pub(crate) fn websocket_accept(&self) -> Result<Option<String>, &'static str> {
        let upgrade = self
            .header("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        if !upgrade {
            return Ok(None);
        }
        if self.header("sec-websocket-version").map(str::trim) != Some("13") {
            return Err("a WebSocket upgrade needs Sec-WebSocket-Version: 13");
        }
        let key = self
            .header("sec-websocket-key")
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or("a WebSocket upgrade needs Sec-WebSocket-Key")?;
        Ok(Some(tungstenite::handshake::derive_accept_key(
            key.as_bytes(),
        )))
    }
}

/// What to send back.
pub(crate) enum Reply {
    Json {
        status: u16,
        body: Vec<u8>,
    },
    /// 429 with `Retry-After: retry_after_s` and a JSON error body.
    RetryLater {
        body: Vec<u8>,
        retry_after_s: u64,
    },
    Static {
        content_type: &'static str,
        body: &'static [u8],
        cache_control: &'static str,
        etag: String,
    },
    /// 304 for a console file the browser already has.
    NotModified {
        etag: String,
        cache_control: &'static str,
    },
    Text {
        status: u16,
        body: &'static str,
    },
    /// A 200 body made for this request in a content type of its own (the Prometheus
    /// text of `/metrics`); never cached.
    Generated {
        content_type: &'static str,
        body: Vec<u8>,
    },
    File {
        path: PathBuf,
        content_type: &'static str,
        file_name: String,
    },
    /// A 200 body made for this request and saved as `file_name` (`Content-Disposition:
    /// attachment`): the ZIP downloads; never cached.
    Download {
        content_type: &'static str,
        file_name: String,
        body: Vec<u8>,
    },
    /// A file shown in the browser (reports): inline, framable by our own pages only,
    /// and forbidden to load anything (`Content-Security-Policy: default-src 'none'`).
    Page {
        path: PathBuf,
        content_type: &'static str,
    },
    Empty(u16),
    /// A chunked streaming body, one chunk per item, sent from its own thread until the
    /// iterator ends (`GET /jobs/{id}/events` without a WebSocket upgrade).
    Stream {
        content_type: &'static str,
        chunks: Box<dyn Iterator<Item = Vec<u8>> + Send>,
    },
    /// A WebSocket upgrade: `101` with `Sec-WebSocket-Accept: accept`, then `session`
    /// runs on its own thread with the raw stream.
    WebSocket {
        accept: String,
        session: Box<dyn FnOnce(Box<dyn Duplex>) + Send>,
    },
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Json { status, body } => f
                .debug_struct("Json")
                .field("status", status)
                .field("body", &String::from_utf8_lossy(body))
                .finish(),
            Reply::RetryLater { retry_after_s, .. } => write!(f, "RetryLater({retry_after_s})"),
            Reply::Static { content_type, .. } => write!(f, "Static({content_type})"),
            Reply::NotModified { etag, .. } => write!(f, "NotModified({etag})"),
            Reply::Text { status, body } => write!(f, "Text({status}, {body})"),
            Reply::Generated { content_type, body } => write!(
                f,
                "Generated({content_type}, {})",
                String::from_utf8_lossy(body)
            ),
            Reply::File { path, .. } => write!(f, "File({})", path.display()),
            Reply::Download {
                file_name, body, ..
            } => write!(f, "Download({file_name}, {} bytes)", body.len()),
            Reply::Page { path, .. } => write!(f, "Page({})", path.display()),
            Reply::Empty(s) => write!(f, "Empty({s})"),
            Reply::Stream { content_type, .. } => write!(f, "Stream({content_type})"),
            Reply::WebSocket { .. } => write!(f, "WebSocket"),
        }
    }
}

/// A two-way byte stream (an upgraded connection).
pub(crate) trait Duplex: Read + std::io::Write + Send {}
impl<T: Read + std::io::Write + Send + ?Sized> Duplex for T {}

impl Reply {
    /// `value` as a JSON body with `status`. The error type is the caller's (an api
    /// handler's `ApiError`), which says what an encoding failure answers.
    pub(crate) fn json<T: Serialize, E: From<EncodeError>>(
        status: u16,
        value: &T,
    ) -> Result<Reply, E> {
        let body = serde_json::to_vec(value).map_err(EncodeError)?;
        Ok(Reply::Json { status, body })
    }

    /// `value` as a 200 JSON body.
    pub(crate) fn ok<T: Serialize, E: From<EncodeError>>(value: &T) -> Result<Reply, E> {
        Reply::json(200, value)
    }

    #[cfg(test)]
    pub(crate) fn status(&self) -> u16 {
        match self {
            Reply::Json { status, .. } | Reply::Text { status, .. } => *status,
            Reply::RetryLater { .. } => 429,
            Reply::Static { .. }
            | Reply::File { .. }
            | Reply::Page { .. }
            | Reply::Generated { .. }
            | Reply::Download { .. } => 200,
            Reply::Stream { .. } => 200,
            Reply::WebSocket { .. } => 101,
            Reply::Empty(s) => *s,
            Reply::NotModified { .. } => 304,
        }
    }
}
