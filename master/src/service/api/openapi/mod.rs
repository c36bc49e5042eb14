//! `GET /api/v2/openapi.json`: the OpenAPI 3.1 document of every route of the route table,
//! built at run time from [`routes::ROUTES`] and the per-route descriptions in [`ops`].
//!
//! Owns: turning the table into the document. Security comes from each route's own
//! flags (open, bearer JWT, `?ticket=`, the `/metrics` scrape token, admin only), path
//! parameters from its pattern, and the body limit from its `body_limit`, so none of them
//! can drift from what `dispatch` enforces. Must not: hold handler logic or change a
//! route (the table stays the one source of truth).

mod ops;
mod schemas;

use serde_json::{Map, Value, json};

use super::routes::{ROUTES, Route, SERVER_ROUTES};
use super::{Access, ApiError, Call, Ctx, Reply};
use ops::{Body, OPS, Op};

/// The handler: the document, open to anyone (a contract, with no data in it). Under
/// `gossipper server` it describes the server's own routes too.
pub(super) fn document_route(ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let server = matches!(ctx.config.mode, crate::service::Mode::Server { .. });
    Reply::ok(&document_of(server))
}

/// The description of one route, if it has one.
fn describe(route: &Route) -> Option<Op> {
    OPS.iter()
        .find(|(m, p, _)| *m == route.method && *p == route.pattern)
        .map(|(_, _, f)| f())
}

fn error_reply(what: &str) -> Value {
    json!({"description": what, "content": {"application/json": {"schema": schemas::r("Error")}}})
}

fn content(body: &Body) -> Value {
    match body {
        Body::Json(schema) => json!({"application/json": {"schema": schema}}),
        Body::Raw(types, what) => {
            let mut m = Map::new();
            for t in *types {
                m.insert(
                    (*t).to_string(),
                    json!({"schema": {"type": "string", "description": what}}),
                );
            }
            Value::Object(m)
        }
    }
}

/// The operation object of one route (`None` when it has no description).
fn operation(route: &Route) -> Option<Value> {
    let op = describe(route)?;
    let mut params: Vec<Value> = route
        .pattern
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
        })
        .collect();
    for (name, schema, what) in &op.query {
        params.push(json!({"name": name, "in": "query", "required": false,
                           "description": what, "schema": schema}));
    }
    let mut replies = Map::new();
    for (status, what, body) in &op.replies {
        let mut reply = json!({ "description": what });
        if let Some(body) = body {
            reply["content"] = content(body);
        }
        replies.insert(status.to_string(), reply);
    }
    if op.websocket {
        replies.insert(
            "101".into(),
            json!({"description": "WebSocket upgrade (Upgrade: websocket): the same data, one text message per frame or line"}),
        );
    }
    replies.insert("default".into(), error_reply("an error (4xx/5xx)"));
    let security = match (route.access, route.ticket, route.scrape) {
        (Access::Open, _, _) => json!([]),
        (_, true, _) => json!([{"bearer": []}, {"ticket": []}]),
        (_, _, true) => json!([{"bearer": []}, {"scrapeToken": []}]),
        _ => json!([{"bearer": []}]),
    };
    if route.access != Access::Open {
        replies.insert("401".into(), error_reply("no valid token"));
    }
    if route.access == Access::Admin {
        replies.insert("403".into(), error_reply("admin only"));
    }
    let mut o = json!({
        "operationId": operation_id(route),
        "summary": op.summary,
        "parameters": params,
        "responses": replies,
        "security": security,
        "x-access": match route.access {
            Access::Open => "open",
            Access::User => "user",
            Access::Admin => "admin",
        },
    });
    if let Some(body) = &op.request {
        o["requestBody"] = json!({
            "required": true,
            "content": content(body),
            "description": format!("at most {} bytes", route.body_limit),
        });
        o["x-body-limit"] = json!(route.body_limit);
    }
    Some(o)
}

/// `get_jobs_id_events`: unique, since (method, pattern) is.
fn operation_id(route: &Route) -> String {
    let mut id = route.method.to_ascii_lowercase();
    for c in route.pattern.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' => id.push(c),
            '{' | '}' => {}
            _ => {
                if !id.ends_with('_') {
                    id.push('_');
                }
            }
        }
    }
    id.trim_end_matches('_').to_string()
}

/// The whole document; with `server`, `gossipper server`'s own routes too.
fn document_of(server: bool) -> Value {
    let mut paths = Map::new();
    let own: &[Route] = if server { SERVER_ROUTES } else { &[] };
    for route in ROUTES.iter().chain(own) {
        let Some(op) = operation(route) else { continue };
        let item = paths
            .entry(route.pattern.to_string())
            .or_insert_with(|| json!({}));
        item[route.method.to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": if server { "gossipper server" } else { "gossipper ui" },
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The REST API of `gossipper ui`. Every route but the open ones takes \
                `Authorization: Bearer <JWT>` from POST /auth/login (with auth off, any caller \
                is the anonymous admin). Routes that list `ticket` also take `?ticket=` from \
                POST /auth/ticket, for URLs a browser opens itself. /metrics also takes the \
                scrape token of --metrics-token-file as its bearer. HEAD is answered as GET.",
        },
        "servers": [{"url": "/api/v2"}],
        "paths": paths,
        "components": {
            "schemas": schemas::components(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "The token of POST /auth/login."},
                "ticket": {"type": "apiKey", "in": "query", "name": "ticket",
                           "description": "A single-use ticket of POST /auth/ticket; only on the routes that list it."},
                "scrapeToken": {"type": "http", "scheme": "bearer",
                                "description": "The token of `gossipper ui --metrics-token-file`; opens /metrics only."},
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_table_is_described_and_every_description_has_its_route() {
        let missing: Vec<_> = ROUTES
            .iter()
            .filter(|r| describe(r).is_none())
            .map(|r| format!("{} {}", r.method, r.pattern))
            .collect();
        assert!(
            missing.is_empty(),
            "routes without a description in api/openapi/ops.rs: {missing:?}"
        );
        let all = || ROUTES.iter().chain(SERVER_ROUTES);
        let missing: Vec<_> = SERVER_ROUTES
            .iter()
            .filter(|r| describe(r).is_none())
            .map(|r| format!("{} {}", r.method, r.pattern))
            .collect();
        assert!(
            missing.is_empty(),
            "server routes without a description: {missing:?}"
        );
        let stale: Vec<_> = OPS
            .iter()
            .filter(|(m, p, _)| !all().any(|r| r.method == *m && r.pattern == *p))
            .map(|(m, p, _)| format!("{m} {p}"))
            .collect();
        assert!(stale.is_empty(), "descriptions of no route: {stale:?}");
        assert_eq!(
            OPS.len(),
            ROUTES.len() + SERVER_ROUTES.len(),
            "a route described twice"
        );
        // The server's own routes are apart from the router's, and only in its document.
        for r in SERVER_ROUTES {
            assert!(
                !ROUTES
                    .iter()
                    .any(|t| t.method == r.method && t.pattern == r.pattern),
                "{} {}",
                r.method,
                r.pattern
            );
        }
        assert!(document_of(false)["paths"]["/calls"].is_null());
        assert!(document_of(true)["paths"]["/calls"]["get"].is_object());
    }

    #[test]
    fn the_document_has_one_operation_per_route_with_a_success_reply() {
        let doc = document_of(false);
        let mut n = 0;
        for route in ROUTES {
            let op = &doc["paths"][route.pattern][route.method.to_ascii_lowercase()];
            assert!(op.is_object(), "{} {}", route.method, route.pattern);
            let replies = op["responses"].as_object().unwrap();
            assert!(
                replies.keys().any(|k| k.starts_with('2')),
                "{} {} has no 2xx reply",
                route.method,
                route.pattern
            );
            n += 1;
        }
        assert_eq!(n, ROUTES.len());
    }

    #[test]
    fn security_follows_the_route_flags() {
        let doc = document_of(false);
        let sec = |m: &str, p: &str| doc["paths"][p][m]["security"].clone();
        assert_eq!(sec("get", "/health"), json!([]));
        assert_eq!(sec("get", "/openapi.json"), json!([]));
        assert_eq!(sec("get", "/jobs"), json!([{"bearer": []}]));
        assert_eq!(sec("get", "/live"), json!([{"bearer": []}, {"ticket": []}]));
        assert_eq!(
            sec("get", "/metrics"),
            json!([{"bearer": []}, {"scrapeToken": []}])
        );
        assert_eq!(doc["paths"]["/users"]["post"]["x-access"], "admin");
        assert_eq!(
            doc["paths"]["/scenarios"]["post"]["x-body-limit"],
            json!(super::super::SCENARIO_BODY)
        );
    }

    #[test]
    fn every_reference_names_a_schema_that_exists() {
        let doc = document_of(false);
        let names = doc["components"]["schemas"].as_object().unwrap();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(refs.len() > 50, "{}", refs.len());
        for r in refs {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or(&r);
            assert!(names.contains_key(name), "dangling $ref {r}");
        }
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(s)) => out.push(s.clone()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let mut ids: Vec<_> = ROUTES.iter().map(operation_id).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
