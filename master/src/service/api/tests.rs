//! Router tests: real handlers and a real store in a temp dir, no sockets.

use super::*;
use crate::service::auth;
use crate::service::paths::Layout;
use crate::service::store::files::testdir::TestDir;
use crate::service::store::users as user_rows;

mod authz;

/// A small scenario the engine's loader accepts.
pub(crate) const VALID_XML: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="options">
  <send retrans="500">
    <![CDATA[
      OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: gossipper <sip:gossipper@[local_ip]:[local_port]>;tag=[call_number]
      To: sut <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Contact: sip:gossipper@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"#;

/// The harness master's `--metrics-token-file` token.
const SCRAPE_TOKEN: &str = "scrape-token-0123456789";

struct Harness {
    ctx: Ctx,
    _dir: TestDir,
}

fn harness() -> Harness {
    let dir = TestDir::new("api");
    let store = Store::open(Layout::new(dir.layout.root()), 3).unwrap();
    let hash = auth::hash_password("sipcapture").unwrap();
    store
        .db
        .tx(|c| user_rows::create(c, "admin", &hash, Role::Admin, "t").map(|_| ()))
        .unwrap();
    store
        .db
        .tx(|c| user_rows::create(c, "op", &hash, Role::Operator, "t").map(|_| ()))
        .unwrap();
    let ctx = Ctx {
        store,
        tokens: auth::Tokens::new("unit-test-secret-0123456789"),
        tickets: auth::Tickets::default(),
        throttle: auth::Throttle::new(auth::ThrottleLimits::default()),
        dummy_hash: hash,
        config: Config {
            data_dir: dir.layout.root().to_path_buf(),
            scenario_history_keep: 3,
            auth_enabled: true,
            started_at: SystemTime::now(),
            metrics_token: Some(SCRAPE_TOKEN.into()),
            mode: crate::service::Mode::Ui,
        },
        disk_usage: Mutex::new(None),
        supervisor: std::sync::Arc::new(
            crate::service::supervisor::Supervisor::new(
                Layout::new(dir.layout.root()),
                std::path::PathBuf::from("/bin/false"),
                crate::service::supervisor::Limits::default(),
            )
            .unwrap(),
        ),
    };
    Harness { ctx, _dir: dir }
}

impl Harness {
    fn call(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> (u16, serde_json::Value) {
        match self.reply(method, url, token, body) {
            Reply::Json { status, body } => (status, serde_json::from_slice(&body).unwrap()),
            Reply::RetryLater { body, .. } => (429, serde_json::from_slice(&body).unwrap()),
            other => (other.status(), serde_json::Value::Null),
        }
    }

    /// The dispatcher's reply itself.
    fn reply(&self, method: &str, url: &str, token: Option<&str>, body: &[u8]) -> Reply {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let mut headers = vec![];
        if let Some(t) = token {
            headers.push(("authorization".to_string(), format!("Bearer {t}")));
        }
        let mut src: &[u8] = body;
        let mut inc = Incoming {
            method,
            path,
            query,
            headers: &headers,
            remote_ip: "127.0.0.1".parse().unwrap(),
            content_length: Some(body.len() as u64),
            body: &mut src,
        };
        dispatch(&self.ctx, &mut inc)
    }

    fn token(&self, user: &str) -> String {
        let body = serde_json::json!({"username": user, "password": "sipcapture"}).to_string();
        let (status, v) = self.call("POST", "/api/v2/auth/login", None, body.as_bytes());
        assert_eq!(status, 200, "{v}");
        v["token"].as_str().unwrap().to_string()
    }
}

#[test]
fn login_then_me_shows_the_role() {
    let h = harness();
    let t = h.token("op");
    let (status, me) = h.call("GET", "/api/v2/me", Some(&t), b"");
    assert_eq!(status, 200);
    assert_eq!(
        (me["username"].as_str(), me["role"].as_str()),
        (Some("op"), Some("operator"))
    );
}

#[test]
fn missing_or_bad_tokens_get_401_and_operators_get_403_on_admin_routes() {
    let h = harness();
    assert_eq!(h.call("GET", "/api/v2/scenarios", None, b"").0, 401);
    assert_eq!(h.call("GET", "/api/v2/scenarios", Some("nope"), b"").0, 401);
    let op = h.token("op");
    assert_eq!(h.call("GET", "/api/v2/users", Some(&op), b"").0, 403);
    assert_eq!(h.call("GET", "/api/v2/audit", Some(&op), b"").0, 403);
    let admin = h.token("admin");
    assert_eq!(h.call("GET", "/api/v2/users", Some(&admin), b"").0, 200);
    assert_eq!(
        h.call("GET", "/api/v2/health", Some("stale"), b"").0,
        200,
        "open routes ignore bad tokens"
    );
}

#[test]
fn the_scrape_token_opens_metrics_at_both_paths_and_nothing_else() {
    let h = harness();
    for path in ["/metrics", "/api/v2/metrics"] {
        match h.reply("GET", path, Some(SCRAPE_TOKEN), b"") {
            Reply::Generated { content_type, body } => {
                assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
                let text = String::from_utf8(body).unwrap();
                assert!(
                    text.contains("# TYPE gossipper_jobs gauge\n")
                        && text.contains("gossipper_jobs{status=\"running\"} 0\n"),
                    "{text}"
                );
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    assert_eq!(
        h.call("GET", "/api/v2/jobs", Some(SCRAPE_TOKEN), b"").0,
        401
    );
    assert_eq!(h.call("GET", "/api/v2/me", Some(SCRAPE_TOKEN), b"").0, 401);
    let near = "scrape-token-0123456788";
    assert_eq!(h.call("GET", "/metrics", Some(near), b"").0, 401);
    assert_eq!(h.call("GET", "/metrics", None, b"").0, 401);
    let op = h.token("op");
    assert_eq!(
        h.reply("GET", "/metrics", Some(&op), b"").status(),
        200,
        "a user's token opens it too"
    );
}

#[test]
fn wrong_password_and_unknown_user_look_the_same_and_are_throttled() {
    let h = harness();
    let bad = |u: &str| serde_json::json!({"username": u, "password": "wrongwrong"}).to_string();
    let (s1, e1) = h.call("POST", "/api/v2/auth/login", None, bad("admin").as_bytes());
    let (s2, e2) = h.call("POST", "/api/v2/auth/login", None, bad("ghost").as_bytes());
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(e1, e2);
    for _ in 0..3 {
        h.call("POST", "/api/v2/auth/login", None, bad("admin").as_bytes());
    }
    let good = serde_json::json!({"username": "admin", "password": "sipcapture"}).to_string();
    assert_eq!(
        h.call("POST", "/api/v2/auth/login", None, good.as_bytes())
            .0,
        429
    );
}

#[test]
fn unknown_fields_and_malformed_json_are_400_naming_the_problem() {
    let h = harness();
    let t = h.token("op");
    let (s, e) = h.call(
        "POST",
        "/api/v2/servers",
        Some(&t),
        br#"{"id":"s1","bogus":1}"#,
    );
    assert_eq!(s, 400);
    assert!(e["error"].as_str().unwrap().contains("bogus"), "{e}");
    let (s, _) = h.call("POST", "/api/v2/servers", Some(&t), b"{not json");
    assert_eq!(s, 400);
    assert!(h.ctx.store.servers.list().is_empty());
}

#[test]
fn a_job_list_filter_names_a_status_or_is_400() {
    let h = harness();
    let t = h.token("op");
    let (s, v) = h.call("GET", "/api/v2/jobs?status=running", Some(&t), b"");
    assert_eq!((s, v["total"].as_u64()), (200, Some(0)));
    let (s, e) = h.call("GET", "/api/v2/jobs?status=done", Some(&t), b"");
    assert_eq!(s, 400);
    let e = e["error"].as_str().unwrap();
    assert!(
        e.starts_with("status: \"done\"") && e.contains("succeeded"),
        "{e}"
    );
}

#[test]
fn oversize_json_bodies_are_413() {
    let h = harness();
    let t = h.token("op");
    let big = vec![b' '; (SMALL_BODY + 1) as usize];
    assert_eq!(h.call("POST", "/api/v2/me/password", Some(&t), &big).0, 413);
}

#[test]
fn scenario_history_fork_round_trip() {
    let h = harness();
    let t = h.token("op");
    let body =
        |name: &str| serde_json::json!({"id": "uac", "name": name, "xml": VALID_XML}).to_string();
    assert_eq!(
        h.call("POST", "/api/v2/scenarios", Some(&t), body("v1").as_bytes())
            .0,
        201
    );
    assert_eq!(
        h.call(
            "PUT",
            "/api/v2/scenarios/uac",
            Some(&t),
            body("v2").as_bytes()
        )
        .0,
        200
    );
    let (s, hist) = h.call("GET", "/api/v2/scenarios/uac/history", Some(&t), b"");
    assert_eq!(s, 200);
    let ts = hist["history"][0]["ts"].as_str().unwrap().to_string();
    assert_eq!(hist["history"][0]["meta"]["name"], "v1");
    let (s, forked) = h.call(
        "POST",
        &format!("/api/v2/scenarios/uac/history/{ts}/fork"),
        Some(&t),
        br#"{"id":"uac2"}"#,
    );
    assert_eq!(s, 201, "{forked}");
    assert_eq!(forked["meta"]["id"], "uac2");
    let (s, _) = h.call("GET", "/api/v2/scenarios/..%2F..%2Fetc", Some(&t), b"");
    assert_eq!(s, 400);
}

#[test]
fn the_last_admin_cannot_be_deleted_through_the_api() {
    let h = harness();
    let t = h.token("admin");
    let (_, list) = h.call("GET", "/api/v2/users", Some(&t), b"");
    let admin_id = list["users"][0]["id"].as_i64().unwrap();
    assert_eq!(
        h.call(
            "DELETE",
            &format!("/api/v2/users/{admin_id}"),
            Some(&t),
            b""
        )
        .0,
        409
    );
    assert_eq!(
        h.call(
            "PUT",
            &format!("/api/v2/users/{admin_id}"),
            Some(&t),
            br#"{"role":"operator"}"#
        )
        .0,
        409
    );
}

#[test]
fn rotation_invalidates_earlier_tokens() {
    let h = harness();
    let t = h.token("admin");
    assert_eq!(
        h.call("POST", "/api/v2/settings/rotate-jwt-secret", Some(&t), b"")
            .0,
        200
    );
    assert_eq!(h.call("GET", "/api/v2/me", Some(&t), b"").0, 401);
    let (_, audit) = h.call("GET", "/api/v2/audit", Some(&h.token("admin")), b"");
    assert_eq!(audit["audit"][0]["action"], "settings.rotate_jwt_secret");
}

#[test]
fn a_ticket_works_once() {
    let h = harness();
    let t = h.token("op");
    let ticket = |h: &Harness| {
        let (s, v) = h.call("POST", "/api/v2/auth/ticket", Some(&t), b"");
        assert_eq!(s, 200, "{v}");
        v["ticket"].as_str().unwrap().to_string()
    };
    let tk = ticket(&h);
    assert_eq!(
        h.call("GET", &format!("/api/v2/live?ticket={tk}"), None, b"")
            .0,
        200
    );
    assert_eq!(
        h.call("GET", &format!("/api/v2/live?ticket={tk}"), None, b"")
            .0,
        401,
        "single use"
    );
    // Anywhere else a ticket is refused, and burnt: `authz` walks every route.
}

/// The user row of `name`.
fn user_id(h: &Harness, name: &str) -> i64 {
    h.ctx
        .store
        .db
        .read(|c| user_rows::by_name(c, name))
        .unwrap()
        .unwrap()
        .user
        .id
}

#[test]
fn a_deleted_users_token_and_tickets_stop_at_the_next_request() {
    let h = harness();
    let admin = h.token("admin");
    let body = br#"{"username":"admin2","password":"password-123","role":"admin"}"#;
    assert_eq!(h.call("POST", "/api/v2/users", Some(&admin), body).0, 201);
    let login = br#"{"username":"admin2","password":"password-123"}"#;
    let (_, v) = h.call("POST", "/api/v2/auth/login", None, login);
    let doomed = v["token"].as_str().unwrap().to_string();
    let (_, v) = h.call("POST", "/api/v2/auth/ticket", Some(&doomed), b"");
    let ticket = v["ticket"].as_str().unwrap().to_string();
    let id = user_id(&h, "admin2");
    assert_eq!(
        h.call("DELETE", &format!("/api/v2/users/{id}"), Some(&admin), b"")
            .0,
        204
    );
    let (s, e) = h.call(
        "POST",
        "/api/v2/users",
        Some(&doomed),
        br#"{"username":"evil","password":"password-123","role":"admin"}"#,
    );
    assert_eq!(s, 401, "{e}");
    assert!(e["error"].as_str().unwrap().contains("revoked"), "{e}");
    assert_eq!(
        h.call("GET", &format!("/api/v2/live?ticket={ticket}"), None, b"")
            .0,
        401
    );
    assert!(
        h.ctx
            .store
            .db
            .read(|c| user_rows::by_name(c, "evil"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_demoted_admin_is_an_operator_at_the_next_request() {
    let h = harness();
    let admin = h.token("admin");
    let op_id = user_id(&h, "op");
    // op becomes admin, signs in, and is demoted again.
    let put = |role: &str| format!(r#"{{"role":"{role}"}}"#);
    assert_eq!(
        h.call(
            "PUT",
            &format!("/api/v2/users/{op_id}"),
            Some(&admin),
            put("admin").as_bytes()
        )
        .0,
        200
    );
    let t = h.token("op");
    assert_eq!(h.call("GET", "/api/v2/users", Some(&t), b"").0, 200);
    assert_eq!(
        h.call(
            "PUT",
            &format!("/api/v2/users/{op_id}"),
            Some(&admin),
            put("operator").as_bytes()
        )
        .0,
        200
    );
    assert_eq!(h.call("GET", "/api/v2/users", Some(&t), b"").0, 403);
    assert_eq!(h.call("GET", "/api/v2/audit", Some(&t), b"").0, 403);
    let (s, me) = h.call("GET", "/api/v2/me", Some(&t), b"");
    assert_eq!(
        (s, me["role"].as_str()),
        (200, Some("operator")),
        "still signed in, as what it is now"
    );
}

#[test]
fn a_password_change_or_reset_ends_every_earlier_token_and_hands_the_caller_a_new_one() {
    let h = harness();
    let admin = h.token("admin");
    let old = h.token("op");
    let (_, v) = h.call("POST", "/api/v2/auth/ticket", Some(&old), b"");
    let ticket = v["ticket"].as_str().unwrap().to_string();
    let (s, v) = h.call(
        "POST",
        "/api/v2/me/password",
        Some(&old),
        br#"{"current_password":"sipcapture","new_password":"brand-new-pass"}"#,
    );
    assert_eq!(s, 200, "{v}");
    let fresh = v["token"].as_str().unwrap().to_string();
    assert_eq!(
        h.call("GET", "/api/v2/me", Some(&old), b"").0,
        401,
        "own change"
    );
    assert_eq!(
        h.call("GET", &format!("/api/v2/live?ticket={ticket}"), None, b"")
            .0,
        401
    );
    assert_eq!(h.call("GET", "/api/v2/me", Some(&fresh), b"").0, 200);
    // An admin's reset ends the new one too.
    let op_id = user_id(&h, "op");
    assert_eq!(
        h.call(
            "PUT",
            &format!("/api/v2/users/{op_id}"),
            Some(&admin),
            br#"{"password":"reset-by-admin"}"#
        )
        .0,
        200
    );
    assert_eq!(
        h.call("GET", "/api/v2/me", Some(&fresh), b"").0,
        401,
        "admin reset"
    );
    assert_eq!(
        h.call("GET", "/api/v2/me", Some(&admin), b"").0,
        200,
        "others keep theirs"
    );
}

#[test]
fn throttled_logins_get_429_with_retry_after() {
    let h = harness();
    let bad = br#"{"username":"admin","password":"wrongwrong"}"#;
    for _ in 0..5 {
        assert_eq!(h.call("POST", "/api/v2/auth/login", None, bad).0, 401);
    }
    let (path, query) = ("/api/v2/auth/login", "");
    let mut src: &[u8] = bad;
    let mut inc = Incoming {
        method: "POST",
        path,
        query,
        headers: &[],
        remote_ip: "127.0.0.1".parse().unwrap(),
        content_length: Some(bad.len() as u64),
        body: &mut src,
    };
    match dispatch(&h.ctx, &mut inc) {
        Reply::RetryLater {
            retry_after_s,
            body,
        } => {
            assert!((1..=60).contains(&retry_after_s), "{retry_after_s}");
            let e: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert!(
                e["error"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("{retry_after_s} s")),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cross_origin_websocket_upgrades_are_refused() {
    let mk = |origin: Option<&str>| {
        let mut headers = vec![("host".to_string(), "127.0.0.1:8080".to_string())];
        if let Some(o) = origin {
            headers.push(("origin".to_string(), o.to_string()));
        }
        headers
    };
    let check = |headers: &[(String, String)]| {
        let mut src: &[u8] = b"";
        let inc = Incoming {
            method: "GET",
            path: "/api/v2/live",
            query: "",
            headers,
            remote_ip: "127.0.0.1".parse().unwrap(),
            content_length: None,
            body: &mut src,
        };
        same_origin(&inc)
    };
    assert!(check(&mk(None)));
    assert!(check(&mk(Some("http://127.0.0.1:8080"))));
    assert!(!check(&mk(Some("http://evil.example"))));
    assert!(!check(&mk(Some("http://127.0.0.1:8081"))));
}

#[test]
fn invalid_scenario_xml_is_400_with_a_position_and_nothing_is_written() {
    let h = harness();
    let t = h.token("op");
    let body =
        serde_json::json!({"id": "bad", "xml": "<scenario>\n  <send>\n</scenario>"}).to_string();
    let (s, e) = h.call("POST", "/api/v2/scenarios", Some(&t), body.as_bytes());
    assert_eq!(s, 400);
    assert!(
        e["error"].as_str().unwrap().starts_with("scenario.xml:3:"),
        "{e}"
    );
    assert!(h.ctx.store.scenarios.list().is_empty());
}

#[test]
fn query_parameters_are_percent_decoded() {
    assert_eq!(
        query_param("a=1&ticket=ab%2Fc+d", "ticket").as_deref(),
        Some("ab/c d")
    );
    assert_eq!(query_param("a=1", "ticket"), None);
    assert_eq!(query_param("bad=%zz%4", "bad").as_deref(), Some("%zz%4"));
    assert_eq!(query_param("flag", "flag").as_deref(), Some(""));
}
