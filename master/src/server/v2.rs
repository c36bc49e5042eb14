//! The `/api/v2` routes `gossipper server` serves itself on its API listener (the
//! `/api/v1` token; with `-ui_data_dir`, the service's users): the live SIP trace and
//! the calls catalogue (reference §5.5).
//!
//! Owns: the routes, their query parameters (unknown ones refused, naming them) and the
//! capture settings' body. Must not: touch the shards (capture on and off is one
//! atomic store in the run's control block) or keep state (`trace`, `calls` do).
//!
//! Routes: `GET /sip/trace?since=&limit=&call_id=&scenario=`,
//! `GET/PUT /sip/trace/capture`, `POST /sip/trace/clear`, `GET /sip/trace/ws`
//! (`trace_ws`), `GET /sip/trace/export?format=text|pcap|zip&call_id=&scenario=`,
//! `GET /calls?limit=&offset=` (from `cdr` with `-ui_data_dir`),
//! `GET /calls/{call-id}?format=json|zip`, `GET /calls/{call-id}/dump` (the ZIPs:
//! `bundle`), `POST /calls/clear`.

use std::io::Read as _;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::json;

use super::api::{State, error, json};
use super::calls::CallDetail;
use super::trace::Filter;
use crate::service::http::{Incoming, Reply};

/// `limit` when not given, and the most taken.
const DEFAULT_LIMIT: usize = 200;
const MAX_LIMIT: usize = 500;
/// The largest capture body read.
const MAX_BODY: u64 = 4 << 10;

/// `{sip, app, rtp, level}`: SIP capture, and debug records (`app` with `level:"debug"`);
/// no RTP capture.
#[derive(Serialize)]
pub(super) struct Capture {
    sip: bool,
    app: bool,
    rtp: bool,
    level: &'static str,
}

/// `PUT /sip/trace/capture`: every field optional; unknown fields are refused.
#[derive(Default)]
struct CapturePatch {
    sip: Option<bool>,
    app: Option<bool>,
    rtp: Option<bool>,
    level: Option<String>,
}

impl CapturePatch {
    /// Reads the body, naming the field that is unknown or of the wrong type.
    fn parse(body: &[u8]) -> Result<CapturePatch, String> {
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
        let Some(obj) = v.as_object() else {
            return Err("the body must be a JSON object {sip, app, rtp, level}".into());
        };
        let mut p = CapturePatch::default();
        for (k, v) in obj {
            let flag = || {
                v.as_bool()
                    .ok_or_else(|| format!("{k}: expected true or false, found {v}"))
            };
            match k.as_str() {
                "sip" => p.sip = Some(flag()?),
                "app" => p.app = Some(flag()?),
                "rtp" => p.rtp = Some(flag()?),
                "level" => {
                    p.level = Some(
                        v.as_str()
                            .ok_or_else(|| format!("level: expected a string, found {v}"))?
                            .to_owned(),
                    );
                }
                _ => {
                    return Err(format!(
                        "unknown field \"{k}\" (the capture takes sip, app, rtp, level)"
                    ));
                }
            }
        }
        Ok(p)
    }
}

pub(super) fn capture(state: &State) -> Capture {
    let (app, debug) = state.debug_capture();
    Capture {
        sip: state.control().capturing(),
        app,
        rtp: false,
        level: if debug { "debug" } else { "info" },
    }
}

/// Answers one `/api/v2/…` request (`route` without the prefix; the token was checked).
pub(super) fn dispatch(state: &Arc<State>, inc: &mut Incoming<'_>, route: &str) -> Reply {
    let method = inc.method;
    match (method, route) {
        ("GET", "sip/trace/ws") => super::trace_ws::trace_ws(state, inc),
        ("GET", "sip/trace") => list(state, inc.query),
        ("GET", "sip/trace/capture") => json(200, &capture(state)),
        ("PUT", "sip/trace/capture") => put_capture(state, inc),
        ("POST", "sip/trace/clear") => {
            let next = {
                let mut ring = state.ring();
                ring.clear();
                ring.last()
            };
            json(
                200,
                &json!({"messages": [], "next": next, "cleared": true, "capture": capture(state)}),
            )
        }
        ("GET", "sip/trace/export") => export(state, inc.query),
        ("GET", "calls") => calls(state, inc.query),
        ("POST", "calls/clear") => {
            state.catalogue().clear();
            if let Some(c) = state.cdr() {
                c.clear();
            }
            json(200, &json!({"calls": [], "cleared": true}))
        }
        ("GET", r) if r.starts_with("calls/") => call(state, &r["calls/".len()..], inc.query),
        (
            _,
            "sip/trace" | "sip/trace/capture" | "sip/trace/clear" | "sip/trace/export"
            | "sip/trace/ws" | "calls" | "calls/clear",
        ) => error(405, &format!("{method} is not allowed on /api/v2/{route}")),
        (_, r) if r.starts_with("calls/") => {
            error(405, &format!("{method} is not allowed on /api/v2/{route}"))
        }
        _ => error(
            404,
            &format!(
                "no route /api/v2/{route}: gossipper server serves /api/v2/sip/trace* and /api/v2/calls* (the rest of /api/v2 is `gossipper ui`'s)"
            ),
        ),
    }
}

/// [`only`] for a route a browser opens by URL: `ticket` is known too when the
/// service's users (and so its tickets) are there.
pub(super) fn only_by_url(state: &State, query: &str, known: &[&str]) -> Result<(), Reply> {
    if !state.has_service() {
        return only(query, known);
    }
    let mut all = known.to_vec();
    all.push("ticket");
    only(query, &all)
}

/// Refuses query parameters other than `known`, naming the first.
pub(super) fn only(query: &str, known: &[&str]) -> Result<(), Reply> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        if !known.contains(&key) {
            return Err(error(
                400,
                &format!(
                    "unknown query parameter \"{key}\" (this route takes {})",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// `since`, `call_id` and `scenario` of a query.
pub(super) fn filter(query: &str) -> Result<Filter, Reply> {
    let since = match query_param(query, "since").filter(|s| !s.is_empty()) {
        None => 0,
        Some(s) => s.parse().map_err(|_| {
            error(
                400,
                &format!("since: \"{s}\" is not a sequence number (a whole number from 0)"),
            )
        })?,
    };
    Ok(Filter {
        since,
        call_id: query_param(query, "call_id").filter(|s| !s.is_empty()),
        scenario: query_param(query, "scenario").filter(|s| !s.is_empty()),
    })
}

/// `GET /sip/trace`: `{messages, next, capture}`; `next` is the `since` of the next poll.
fn list(state: &State, query: &str) -> Reply {
    if let Err(r) = only(query, &["since", "limit", "call_id", "scenario"]) {
        return r;
    }
    let f = match filter(query) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let limit = match query_param(query, "limit").filter(|s| !s.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return error(
                    400,
                    &format!("limit: \"{s}\" is not a whole number from 1 to {MAX_LIMIT}"),
                );
            }
        },
    };
    let (messages, next, dropped) = {
        let ring = state.ring();
        let messages = ring.list(&f, limit);
        // A full page goes on after its last record; else every record so far was seen.
        let next = if messages.len() == limit {
            messages.last().map_or(ring.last(), |r| r.seq)
        } else {
            ring.last().max(f.since)
        };
        (messages, next, ring.dropped)
    };
    json(
        200,
        &json!({"messages": messages, "next": next, "capture": capture(state), "dropped": dropped}),
    )
}

/// `PUT /sip/trace/capture`: turns SIP capture on or off, and debug records (`app:true`
/// with `level:"debug"`); RTP capture is not built (asking for it is refused).
fn put_capture(state: &State, inc: &mut Incoming<'_>) -> Reply {
    if inc.content_length.is_some_and(|n| n > MAX_BODY) {
        return error(413, "the capture body is larger than 4 KiB");
    }
    let mut body = Vec::new();
    if let Err(e) = inc.body.reader().take(MAX_BODY + 1).read_to_end(&mut body) {
        return error(400, &format!("body: {e}"));
    }
    if body.len() as u64 > MAX_BODY {
        return error(413, "the capture body is larger than 4 KiB");
    }
    let patch = match CapturePatch::parse(&body) {
        Ok(p) => p,
        Err(e) => return error(400, &e),
    };
    if patch.rtp == Some(true) {
        return error(
            400,
            "rtp: rtp capture is not built in gossipper server (SIP and debug records only)",
        );
    }
    let debug = match patch.level.as_deref() {
        None => None,
        Some("info") => Some(false),
        Some("debug") => Some(true),
        Some(l) => {
            return error(
                400,
                &format!("level: \"{l}\" is not taken (\"info\" or \"debug\")"),
            );
        }
    };
    state.set_debug_capture(patch.app, debug);
    if let Some(sip) = patch.sip {
        state.set_capturing(sip);
    }
    json(200, &capture(state))
}

/// `GET /sip/trace/export?format=text|pcap|zip`: every record in the ring that passes the
/// filters (`zip`: the text and the pcap of them, `bundle::trace`).
fn export(state: &State, query: &str) -> Reply {
    if let Err(r) = only_by_url(state, query, &["format", "since", "call_id", "scenario"]) {
        return r;
    }
    let f = match filter(query) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let format = query_param(query, "format").unwrap_or_else(|| "text".into());
    if !matches!(format.as_str(), "text" | "pcap" | "zip") {
        return error(
            400,
            &format!("format: \"{format}\" is not taken (text, pcap or zip)"),
        );
    }
    let records = state.ring().list(&f, usize::MAX);
    if format == "zip" {
        return super::bundle::trace(&records, SystemTime::now());
    }
    if format == "pcap" {
        Reply::Generated {
            content_type: "application/vnd.tcpdump.pcap",
            body: super::pcap::pcap(&records),
        }
    } else {
        Reply::Generated {
            content_type: "text/plain; charset=utf-8",
            body: super::trace::text(&records),
        }
    }
}

/// `GET /calls?limit=&offset=`: `{calls, total, limit, offset}`, newest first: from
/// `calls.sqlite` with `-ui_data_dir` (then also `dropped`: rows the writer could not
/// keep up with), else from the last finished calls in memory.
fn calls(state: &State, query: &str) -> Reply {
    if let Err(r) = only(query, &["limit", "offset"]) {
        return r;
    }
    let max = super::cdr::MAX_PAGE;
    let limit = match query_param(query, "limit").filter(|s| !s.is_empty()) {
        None => DEFAULT_LIMIT as u32,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                return error(
                    400,
                    &format!("limit: \"{s}\" is not a whole number from 1 to {max}"),
                );
            }
        },
    };
    let offset = match query_param(query, "offset").filter(|s| !s.is_empty()) {
        None => 0,
        Some(s) => match s.parse::<u64>() {
            Ok(n) => n,
            Err(_) => {
                return error(
                    400,
                    &format!("offset: \"{s}\" is not a whole number from 0"),
                );
            }
        },
    };
    if let Some(cdr) = state.cdr() {
        return match cdr.page(limit, offset) {
            Ok(p) => json(
                200,
                &json!({"calls": p.calls, "total": p.total, "limit": limit, "offset": offset,
                        "store": super::cdr::FILE, "dropped": cdr.dropped()}),
            ),
            Err(e) => error(500, &e),
        };
    }
    let all = state.catalogue().list();
    let total = all.len();
    let page: Vec<_> = all
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(limit as usize)
        .collect();
    json(
        200,
        &json!({"calls": page, "total": total, "limit": limit, "offset": offset}),
    )
}

/// `GET /calls/{call-id}`: the call's row and its SIP records still in the trace ring, as
/// JSON, or with `?format=zip` or a path ending in `/dump` as the ZIP of `bundle::call`.
fn call(state: &State, raw_id: &str, query: &str) -> Reply {
    if let Err(r) = only(query, &["format"]) {
        return r;
    }
    let (raw_id, dump) = match raw_id.strip_suffix("/dump") {
        Some(id) => (id, true),
        None => (raw_id, false),
    };
    let zip = match query_param(query, "format").as_deref() {
        None | Some("" | "json") => dump,
        Some("zip") => true,
        Some(other) => {
            return error(
                400,
                &format!("format: \"{other}\" is not taken (json or zip)"),
            );
        }
    };
    let id = decode_path(raw_id);
    if id.is_empty() {
        return error(400, "call-id: empty");
    }
    let found = state.catalogue().get(&id);
    let found = match (found, state.cdr()) {
        (Some(s), _) => Some(s),
        (None, Some(cdr)) => match cdr.get(&id) {
            Ok(s) => s,
            Err(e) => return error(500, &e),
        },
        (None, None) => None,
    };
    let Some(summary) = found else {
        let kept = match state.cdr() {
            Some(_) => format!("the last {} in calls.sqlite", super::cdr::KEEP_ROWS),
            None => format!("the last {} in memory", super::calls::KEEP),
        };
        return error(
            404,
            &format!("call-id: no finished call \"{id}\" in the catalogue (it keeps {kept})"),
        );
    };
    let sip: Vec<_> = state
        .ring()
        .of_call(&id)
        .into_iter()
        .filter(|r| r.kind == "sip")
        .collect();
    let debug = summary
        .debug
        .iter()
        .map(|line| {
            super::trace::debug_record(&id, &summary.scenario, line, summary.ended_at.clone())
        })
        .collect();
    let detail = CallDetail {
        summary,
        sip,
        debug,
        rtp: Vec::new(),
    };
    if zip {
        return super::bundle::call(&detail, SystemTime::now());
    }
    json(200, &detail)
}

/// One query parameter, percent-decoded (`+` is a space).
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| decode_path(&v.replace('+', " ")))
    })
}

/// Percent-decodes a path segment (`+` stays a plus).
fn decode_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
        if c == b'%'
            && let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2))
        {
            // Two hex digits make at most 0xff.
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_decoded_and_unknown_parameters_refused() {
        assert_eq!(decode_path("1-2%40127.0.0.1+x"), "1-2@127.0.0.1+x");
        assert_eq!(decode_path("%zz%4"), "%zz%4");
        assert!(only("since=1&limit=2", &["since", "limit"]).is_ok());
        assert!(only("since=1&bogus=2", &["since", "limit"]).is_err());
        assert!(filter("since=-1").is_err());
        assert_eq!(filter("since=7&call_id=a%40b").ok().unwrap().since, 7);
    }
}
