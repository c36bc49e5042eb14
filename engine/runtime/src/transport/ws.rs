//! SIP over WebSocket (RFC 7118) handshake rules: the client asks for the `sip`
//! subprotocol on `-ws_path`; the server accepts only upgrades that offer `sip` and
//! answers with it. After the handshake every SIP message is one WebSocket message.
//!
//! Owns: building the client request and checking the server side. Must not: do I/O
//! (`transport::streams` runs the handshake on its connection, `websocket` the framing).

use std::net::SocketAddr;

use tungstenite::handshake::client::Request as ClientRequest;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::{HeaderValue, StatusCode};
use tungstenite::protocol::WebSocketConfig;

/// The subprotocol name (RFC 7118 §4).
pub const SUBPROTOCOL: &str = "sip";

/// Frame and message limits for a connection (`max` bytes per SIP message).
pub fn config(max: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// The upgrade request a client sends to `peer`.
pub fn client_request(secure: bool, peer: SocketAddr, path: &str) -> Result<ClientRequest, String> {
    let scheme = if secure { "wss" } else { "ws" };
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let uri = format!("{scheme}://{peer}{path}");
    let mut req = tungstenite::client::IntoClientRequest::into_client_request(uri.as_str())
        .map_err(|e| format!("bad WebSocket URI {uri}: {e}"))?;
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    Ok(req)
}

/// True when a `Sec-WebSocket-Protocol` value lists `sip`.
pub fn offers_sip(value: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(SUBPROTOCOL.as_bytes()))
}

/// The server's answer to an upgrade request: accept with `sip`, or refuse with 400.
// The error type is tungstenite's own (an HTTP response), so it cannot be made smaller.
#[allow(clippy::result_large_err)]
pub fn answer(req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
    let offered = req
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .any(|v| offers_sip(v.as_bytes()));
    if !offered {
        let mut refusal = ErrorResponse::new(Some(
            "SIP over WebSocket needs Sec-WebSocket-Protocol: sip".into(),
        ));
        *refusal.status_mut() = StatusCode::BAD_REQUEST;
        return Err(refusal);
    }
    resp.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sip_subprotocol_is_found_in_a_list() {
        assert!(offers_sip(b"sip"));
        assert!(offers_sip(b"chat, SIP"));
        assert!(!offers_sip(b"sips, chat"));
    }

    #[test]
    fn an_upgrade_without_sip_is_refused_with_400() {
        let req = Request::builder().uri("/").body(()).expect("request");
        let refused = answer(&req, Response::new(())).expect_err("refused");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let req = Request::builder()
            .uri("/")
            .header("Sec-WebSocket-Protocol", "sip")
            .body(())
            .expect("request");
        let ok = answer(&req, Response::new(())).expect("accepted");
        assert_eq!(
            ok.headers()
                .get("Sec-WebSocket-Protocol")
                .map(|v| v.as_bytes()),
            Some(&b"sip"[..])
        );
    }

    #[test]
    fn the_client_asks_for_sip_on_the_given_path() {
        let req =
            client_request(true, "127.0.0.1:443".parse().expect("addr"), "ws").expect("request");
        assert_eq!(req.uri().to_string(), "wss://127.0.0.1:443/ws");
        assert_eq!(
            req.headers()
                .get("Sec-WebSocket-Protocol")
                .map(|v| v.as_bytes()),
            Some(&b"sip"[..])
        );
    }
}
