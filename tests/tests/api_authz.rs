//! The authorization matrix over real HTTP: routes (and the root pages) × {no token,
//! operator, admin} give the documented status against a real `gossipper ui`, and every
//! change leaves an audit row. The complete matrix, generated from the route table
//! (every route, plus forged tokens and tickets), is master's `ui/api/tests/authz.rs`;
//! this one pins exact statuses and bodies through the HTTP layer for the rows below.

mod api_support;

use api_support::{Master, VALID_XML, wav_bytes};
use serde_json::json;

/// (method, path, body, [no token, operator, admin])
type Row = (&'static str, &'static str, Option<Vec<u8>>, [u16; 3]);

fn j(v: serde_json::Value) -> Option<Vec<u8>> {
    Some(v.to_string().into_bytes())
}

const OLD_TS: &str = "20000101T000000.000000000Z";

fn matrix() -> Vec<Row> {
    let hist = Box::leak(format!("/api/v2/scenarios/m-scn/history/{OLD_TS}").into_boxed_str());
    let fork = Box::leak(format!("/api/v2/scenarios/m-scn/history/{OLD_TS}/fork").into_boxed_str());
    vec![
        // Open
        ("GET", "/", None, [200, 200, 200]),
        ("GET", "/healthz", None, [200, 200, 200]),
        ("GET", "/api/v2/health", None, [200, 200, 200]),
        ("GET", "/api/v2/healthz", None, [200, 200, 200]),
        ("GET", "/api/v2/auth/status", None, [200, 200, 200]),
        (
            "POST",
            "/api/v2/auth/login",
            j(json!({"username": "nobody", "password": "wrong-password"})),
            [401, 401, 401],
        ),
        // Any signed-in user
        ("POST", "/api/v2/auth/ticket", None, [401, 200, 200]),
        ("GET", "/api/v2/me", None, [401, 200, 200]),
        (
            "POST",
            "/api/v2/me/password",
            j(json!({"current_password": "not-it-at-all", "new_password": "whatever-123"})),
            [401, 400, 400],
        ),
        ("GET", "/api/v2/servers", None, [401, 200, 200]),
        (
            "POST",
            "/api/v2/servers",
            j(json!({"id": "m-srv", "transports": [{"transport": "u1"}]})),
            [401, 201, 409],
        ),
        ("GET", "/api/v2/servers/m-srv", None, [401, 200, 200]),
        (
            "PUT",
            "/api/v2/servers/m-srv",
            j(json!({"name": "renamed"})),
            [401, 200, 200],
        ),
        ("DELETE", "/api/v2/servers/nope", None, [401, 404, 404]),
        ("GET", "/api/v2/clients", None, [401, 200, 200]),
        (
            "POST",
            "/api/v2/clients",
            j(json!({"id": "m-cli", "remote_ip": "127.0.0.1", "remote_port": 5060})),
            [401, 201, 409],
        ),
        ("GET", "/api/v2/clients/m-cli", None, [401, 200, 200]),
        (
            "PUT",
            "/api/v2/clients/nope",
            j(json!({"id": "nope"})),
            [401, 404, 404],
        ),
        ("DELETE", "/api/v2/clients/nope", None, [401, 404, 404]),
        ("GET", "/api/v2/scenarios", None, [401, 200, 200]),
        (
            "POST",
            "/api/v2/scenarios",
            j(json!({"id": "m-scn", "xml": VALID_XML})),
            [401, 201, 409],
        ),
        ("GET", "/api/v2/scenarios/m-scn", None, [401, 200, 200]),
        (
            "PUT",
            "/api/v2/scenarios/m-scn",
            j(json!({"xml": VALID_XML})),
            [401, 200, 200],
        ),
        (
            "GET",
            "/api/v2/scenarios/m-scn/history",
            None,
            [401, 200, 200],
        ),
        ("GET", hist, None, [401, 404, 404]),
        ("DELETE", hist, None, [401, 404, 404]),
        ("POST", fork, j(json!({"id": "m-fork"})), [401, 404, 404]),
        ("DELETE", "/api/v2/scenarios/nope", None, [401, 404, 404]),
        ("GET", "/api/v2/builtin-scenarios", None, [401, 200, 200]),
        (
            "GET",
            "/api/v2/builtin-scenarios/nope",
            None,
            [401, 404, 404],
        ),
        ("GET", "/api/v2/media/wav", None, [401, 200, 200]),
        ("GET", "/api/v2/media/pcap", None, [401, 200, 200]),
        (
            "POST",
            "/api/v2/media/wav/m-wav",
            Some(wav_bytes()),
            [401, 201, 201],
        ),
        ("GET", "/api/v2/media/wav/m-wav", None, [401, 200, 200]),
        ("DELETE", "/api/v2/media/pcap/nope", None, [401, 404, 404]),
        ("GET", "/api/v2/jobs", None, [401, 200, 200]),
        ("GET", "/api/v2/jobs/nope", None, [401, 404, 404]),
        ("GET", "/api/v2/settings", None, [401, 200, 200]),
        // Admin only
        ("GET", "/api/v2/users", None, [401, 403, 200]),
        (
            "POST",
            "/api/v2/users",
            j(json!({"username": "m-user", "password": "password-123"})),
            [401, 403, 201],
        ),
        // An admin or the user itself: an operator asking for another id gets 403.
        ("GET", "/api/v2/users/999999", None, [401, 403, 404]),
        (
            "PUT",
            "/api/v2/users/999999",
            j(json!({"role": "operator"})),
            [401, 403, 404],
        ),
        ("DELETE", "/api/v2/users/999999", None, [401, 403, 404]),
        ("GET", "/api/v2/audit", None, [401, 403, 200]),
        // Neither a route nor a method
        ("GET", "/api/v2/nope", None, [404, 404, 404]),
        ("PATCH", "/api/v2/scenarios", None, [405, 405, 405]),
        ("GET", "/no-such-page", None, [404, 404, 404]),
        // Last: rotation invalidates every token issued before.
        (
            "POST",
            "/api/v2/settings/rotate-jwt-secret",
            None,
            [401, 403, 200],
        ),
    ]
}

#[test]
fn every_route_answers_the_documented_status_for_each_role() {
    let m = Master::start("authz");
    let admin = m.admin_token();
    let operator = m.user_token(&admin, "op1", "operator");
    let mut failures = Vec::new();
    for (method, path, body, expected) in matrix() {
        for (who, token) in [
            ("no token", None),
            ("operator", Some(operator.as_str())),
            ("admin", Some(admin.as_str())),
        ] {
            let idx = match who {
                "no token" => 0,
                "operator" => 1,
                _ => 2,
            };
            let r = m.req(method, path, token, body.as_deref());
            if r.status != expected[idx] {
                failures.push(format!(
                    "{method} {path} as {who}: got {} want {} ({})",
                    r.status,
                    expected[idx],
                    r.text()
                ));
            }
            if r.status >= 400 && path.starts_with("/api/v2") {
                assert!(
                    r.json()["error"].is_string(),
                    "{method} {path}: error body {}",
                    r.text()
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix mismatches:\n{}",
        failures.join("\n")
    );

    // The rotation above killed both tokens.
    assert_eq!(m.get("/api/v2/me", Some(&admin)).status, 401);
    assert_eq!(m.get("/api/v2/me", Some(&operator)).status, 401);

    // Every mutation left an audit row.
    let admin = m.admin_token();
    let audit = m.get("/api/v2/audit?limit=1000", Some(&admin)).json();
    let actions: Vec<&str> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for want in [
        "user.create",
        "server.create",
        "server.update",
        "client.create",
        "scenario.create",
        "scenario.update",
        "media.upload",
        "settings.rotate_jwt_secret",
    ] {
        assert!(actions.contains(&want), "audit lacks {want}: {actions:?}");
    }
}
