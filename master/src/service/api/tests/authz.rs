//! The authorization matrix, generated from the route table: every route in
//! [`routes::ROUTES`] is called with no token, a forged token, an operator's token, an
//! admin's token and a `?ticket=`, and the dispatcher's answer is checked against the
//! route's `access` and `ticket` flag. A route added to the table is in the matrix the
//! day it is added; the set of open routes is pinned, so opening one is a deliberate edit
//! here.
//!
//! Each call is judged by the refusal it gets, not only its status: a handler's own 401
//! (a wrong password) or 403 is not mistaken for the dispatcher's, and an open route that
//! answers 401 because it demands a token fails.

use super::*;
use crate::service::api::routes::{ROUTES, Route};

/// A concrete path for a route pattern: every parameter gets a value no object has, so a
/// handler that runs finds nothing and changes nothing.
fn sample_path(pattern: &str) -> String {
    let segments: Vec<&str> = pattern
        .split('/')
        .map(|s| match s {
            "{kind}" => "wav",
            "{ts}" => "20000101T000000.000000000Z",
            s if s.starts_with('{') => "authz-none",
            s => s,
        })
        .collect();
    format!("/api/v2{}", segments.join("/"))
}

/// The refusals only the dispatcher gives (`authenticate`), by their error text.
fn refusal(status: u16, body: &serde_json::Value) -> Option<&'static str> {
    let text = body["error"].as_str()?;
    let refusals: [(&'static str, ApiError); 4] = [
        ("unauthorized", ApiError::Unauthorized),
        ("revoked", ApiError::Revoked),
        ("ticket not here", ApiError::TicketNotHere),
        ("admin only", ApiError::Forbidden("admin role required")),
    ];
    refusals
        .into_iter()
        .find(|(_, e)| e.status() == status && e.to_string() == text)
        .map(|(name, _)| name)
}

/// Who calls.
#[derive(Clone, Copy, Debug)]
enum Caller {
    NoToken,
    ForgedToken,
    Operator,
    Admin,
    /// An operator's ticket in the query string, no Authorization header.
    Ticket,
}

/// The dispatcher's refusal a route must give `caller` (`None`: the handler runs).
fn expected(route: &Route, caller: Caller) -> Option<&'static str> {
    match (route.access, caller) {
        (Access::Open, _) => None,
        (_, Caller::NoToken | Caller::ForgedToken) => Some("unauthorized"),
        (_, Caller::Ticket) if !route.ticket => Some("ticket not here"),
        (Access::Admin, Caller::Operator | Caller::Ticket) => Some("admin only"),
        _ => None,
    }
}

#[test]
fn only_health_status_login_the_openapi_document_and_pod_lines_are_open() {
    let open: Vec<_> = ROUTES
        .iter()
        .filter(|r| r.access == Access::Open)
        .map(|r| (r.method, r.pattern))
        .collect();
    assert_eq!(
        open,
        [
            ("GET", "/health"),
            ("GET", "/healthz"),
            ("GET", "/auth/status"),
            ("GET", "/openapi.json"),
            ("POST", "/auth/login"),
            // Its handler checks the job's own token (a cluster job's pods).
            ("POST", "/jobs/{id}/worker-lines"),
            ("POST", "/jobs/{id}/worker-records"),
        ]
    );
}

#[test]
fn every_route_refuses_exactly_the_callers_its_access_and_ticket_flag_refuse() {
    let h = harness();
    let mut failures = Vec::new();
    for route in ROUTES {
        let path = sample_path(route.pattern);
        for caller in [
            Caller::NoToken,
            Caller::ForgedToken,
            Caller::Operator,
            Caller::Admin,
            Caller::Ticket,
        ] {
            // Fresh credentials for every call: a route may end them (a rotation, a
            // password change), and a ticket is single-use.
            let (url, token) = match caller {
                Caller::NoToken => (path.clone(), None),
                Caller::ForgedToken => (path.clone(), Some("eyJhbGciOiJIUzI1NiJ9.e30.AAAA".into())),
                Caller::Operator => (path.clone(), Some(h.token("op"))),
                Caller::Admin => (path.clone(), Some(h.token("admin"))),
                Caller::Ticket => {
                    let op = h.token("op");
                    let (s, v) = h.call("POST", "/api/v2/auth/ticket", Some(&op), b"");
                    assert_eq!(s, 200, "a ticket: {v}");
                    let ticket = v["ticket"].as_str().expect("a ticket").to_string();
                    (format!("{path}?ticket={ticket}"), None)
                }
            };
            let (status, body) = h.call(route.method, &url, token.as_deref(), b"");
            let got = refusal(status, &body);
            let want = expected(route, caller);
            if got != want {
                failures.push(format!(
                    "{} {} as {caller:?}: got {status} {body} ({got:?}), want {want:?}",
                    route.method, route.pattern
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} calls disagree with the route table:\n{}",
        failures.len(),
        ROUTES.len() * 5,
        failures.join("\n")
    );
}

#[test]
fn a_ticket_shown_to_a_route_that_refuses_it_is_burnt() {
    let h = harness();
    for route in ROUTES
        .iter()
        .filter(|r| !r.ticket && r.access != Access::Open)
    {
        let op = h.token("op");
        let (_, v) = h.call("POST", "/api/v2/auth/ticket", Some(&op), b"");
        let ticket = v["ticket"].as_str().expect("a ticket").to_string();
        let url = format!("{}?ticket={ticket}", sample_path(route.pattern));
        let (status, _) = h.call(route.method, &url, None, b"");
        assert_eq!(status, 401, "{} {}", route.method, route.pattern);
        let (status, _) = h.call("GET", &format!("/api/v2/live?ticket={ticket}"), None, b"");
        assert_eq!(
            status, 401,
            "a ticket shown to {} {} still opens /live",
            route.method, route.pattern
        );
    }
}
