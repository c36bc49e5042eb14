//! `HttpError`: why the HTTP layer itself refused a request or a connection, before or
//! instead of the api, and its one mapping to (status, `{"error": "…"}`).
//!
//! Owns: the statuses of protocol refusals (malformed head 400, timeouts 408, chunked
//! bodies 411, oversize 413, oversize head 431, caps 503, …). Must not: describe api
//! failures (each api maps its own errors).

use super::limits::Refusal;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HttpError {
    /// The request head does not parse (`what` says where).
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// A header that parses but that we cannot accept.
    #[error("header {name}: {problem}")]
    BadHeader { name: String, problem: &'static str },
    /// The head did not arrive within the request timeout.
    #[error("request head not received within {0} s")]
    HeadTimeout(u64),
    /// The declared body did not arrive in time.
    #[error("request body not received in time ({0} bytes declared)")]
    BodyTimeout(u64),
    /// `Transfer-Encoding` on a request: we read `Content-Length` bodies only.
    #[error("Transfer-Encoding is not supported on requests; send Content-Length")]
    LengthRequired,
    /// A declared body over every route's limit (the api's routes have smaller ones).
    #[error("body is larger than {0} bytes")]
    TooLarge(u64),
    #[error("request head is larger than {bytes} bytes or has more than {headers} headers")]
    HeadTooLarge { bytes: usize, headers: usize },
    #[error("Expect: only 100-continue is supported")]
    Expectation,
    #[error("HTTP version not supported (HTTP/1.0 and HTTP/1.1 are)")]
    Version,
    /// A connection cap was reached.
    #[error("too many connections ({0} at most); try again later")]
    Busy(usize),
    #[error("too many connections from this address ({0} at most); try again later")]
    ClientBusy(usize),
}

impl HttpError {
    pub(crate) fn status(&self) -> u16 {
        match self {
            HttpError::Malformed(_) | HttpError::BadHeader { .. } => 400,
            HttpError::HeadTimeout(_) | HttpError::BodyTimeout(_) => 408,
            HttpError::LengthRequired => 411,
            HttpError::TooLarge(_) => 413,
            HttpError::Expectation => 417,
            HttpError::HeadTooLarge { .. } => 431,
            HttpError::Busy(_) | HttpError::ClientBusy(_) => 503,
            HttpError::Version => 505,
        }
    }

    /// The JSON body `{"error": "…"}`.
    pub(crate) fn body(&self) -> Vec<u8> {
        super::error_body(&self.to_string())
    }
}

impl From<Refusal> for HttpError {
    fn from(r: Refusal) -> HttpError {
        match r {
            Refusal::Full(n) => HttpError::Busy(n),
            Refusal::ClientFull(n) => HttpError::ClientBusy(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_a_json_error_with_its_status() {
        let e = HttpError::from(Refusal::ClientFull(64));
        assert_eq!(e.status(), 503);
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert!(v["error"].as_str().unwrap().contains("64"));
        assert_eq!(HttpError::TooLarge(1).status(), 413);
        assert_eq!(HttpError::LengthRequired.status(), 411);
        assert_eq!(
            HttpError::HeadTooLarge {
                bytes: 1,
                headers: 1
            }
            .status(),
            431
        );
    }
}
