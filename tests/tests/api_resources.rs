//! The `/api/v2` resources end to end: scenarios with history and forks, profiles,
//! media with ticket downloads, users and roles, audit paging, settings, `--no-auth`.

mod api_support;

use api_support::{Master, VALID_XML, pcap_bytes, wav_bytes};
use serde_json::json;

#[test]
fn scenarios_keep_history_and_fork_from_any_version() {
    let m = Master::start_with("scenarios", &["--scenario-history-keep", "2"], &[]);
    let t = m.admin_token();
    let t = Some(t.as_str());
    let r = m.json(
        "POST",
        "/api/v2/scenarios",
        t,
        &json!({"id": "s", "name": "v1", "tags": ["a"], "xml": VALID_XML}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["meta"]["tags"][0], "a");
    for v in 2..=4 {
        let xml = VALID_XML.replace("options", &format!("options-{v}"));
        let r = m.json(
            "PUT",
            "/api/v2/scenarios/s",
            t,
            &json!({"name": format!("v{v}"), "xml": xml}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let hist = m.get("/api/v2/scenarios/s/history", t).json();
    let versions = hist["history"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "--scenario-history-keep 2: {hist}");
    assert_eq!(
        (
            versions[0]["meta"]["name"].as_str(),
            versions[1]["meta"]["name"].as_str()
        ),
        (Some("v3"), Some("v2"))
    );
    assert!(versions[0]["timestamp"].as_str().unwrap().ends_with('Z'));
    let ts = versions[1]["ts"].as_str().unwrap();

    let old = m
        .get(&format!("/api/v2/scenarios/s/history/{ts}"), t)
        .json();
    assert!(old["xml"].as_str().unwrap().contains("options-2"));
    let fork = m.json(
        "POST",
        &format!("/api/v2/scenarios/s/history/{ts}/fork"),
        t,
        &json!({"id": "s-fork", "name": "forked"}),
    );
    assert_eq!(fork.status, 201, "{}", fork.text());
    assert!(
        m.get("/api/v2/scenarios/s-fork", t).json()["xml"]
            .as_str()
            .unwrap()
            .contains("options-2")
    );
    assert_eq!(
        m.req(
            "DELETE",
            &format!("/api/v2/scenarios/s/history/{ts}"),
            t,
            None
        )
        .status,
        204
    );
    assert_eq!(
        m.get(&format!("/api/v2/scenarios/s/history/{ts}"), t)
            .status,
        404
    );

    let list = m.get("/api/v2/scenarios", t).json();
    let ids: Vec<&str> = list["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["s", "s-fork"]);
    assert_eq!(
        m.json(
            "PUT",
            "/api/v2/scenarios/s",
            t,
            &json!({"id": "other", "xml": VALID_XML})
        )
        .status,
        400
    );
    assert_eq!(m.req("DELETE", "/api/v2/scenarios/s", t, None).status, 204);
    assert_eq!(m.get("/api/v2/scenarios/s", t).status, 404);
    assert!(
        !m.files().iter().any(|f| f.starts_with("scenarios/s.")),
        "{:?}",
        m.files()
    );
}

#[test]
fn profiles_crud_keeps_created_at_and_lists_runtime() {
    let m = Master::start("profiles");
    let t = m.admin_token();
    let t = Some(t.as_str());
    let rows: Vec<_> = [
        "u1", "un", "t1", "tn", "l1", "ln", "w1", "wn", "ws1", "wsn", "webrtc",
    ]
    .iter()
    .map(|c| json!({"transport": c, "local_ip": "127.0.0.1", "local_port": 0, "enabled": true}))
    .collect();
    // Several SIP listeners are fine, a webrtc row beside them is refused by name.
    let r = m.json(
        "POST",
        "/api/v2/servers",
        t,
        &json!({"id": "all", "transports": rows}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.error().starts_with("transports[10].enabled:"),
        "{}",
        r.error()
    );
    // Every transport code is accepted on a row; one SIP row (and the webrtc one) enabled.
    let rows: Vec<_> = rows
        .into_iter()
        .enumerate()
        .map(|(i, mut row)| {
            row["enabled"] = json!(i == 0 || row["transport"] == "webrtc");
            row
        })
        .collect();
    let created = m.json(
        "POST",
        "/api/v2/servers",
        t,
        &json!({"id": "all", "transports": rows}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    assert_eq!(created["name"], "all");
    let mut edited = created.clone();
    edited["description"] = json!("edited");
    let updated = m.json("PUT", "/api/v2/servers/all", t, &edited);
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert_eq!(updated.json()["created_at"], created["created_at"]);
    let list = m.get("/api/v2/servers", t).json();
    assert_eq!(list["servers"][0]["runtime"]["status"], "idle");
    assert_eq!(list["servers"][0]["description"], "edited");
    // A listed row (with runtime) can be sent back as is.
    let mut listed = list["servers"][0].clone();
    listed["notes"] = json!("from the list");
    assert_eq!(m.json("PUT", "/api/v2/servers/all", t, &listed).status, 200);
    assert_eq!(m.req("DELETE", "/api/v2/servers/all", t, None).status, 204);
    assert!(
        m.files()
            .iter()
            .all(|f| !f.starts_with("profiles/servers/")),
        "{:?}",
        m.files()
    );

    let c = json!({"id": "c1", "remote_ip": "10.0.0.1", "remote_port": 5060, "rate": 2.5, "max_concurrent": 10, "duration_ms": 1000});
    assert_eq!(m.json("POST", "/api/v2/clients", t, &c).status, 201);
    assert_eq!(m.get("/api/v2/clients/c1", t).json()["rate"], 2.5);
}

#[test]
fn media_upload_list_download_by_ticket_and_delete() {
    let m = Master::start("media");
    let t = m.admin_token();
    let tk = Some(t.as_str());
    let up = m.req("POST", "/api/v2/media/wav/ring.wav", tk, Some(&wav_bytes()));
    assert_eq!(up.status, 201, "{}", up.text());
    assert_eq!(up.json()["name"], "ring");
    assert_eq!(
        m.req("POST", "/api/v2/media/pcap/dtmf", tk, Some(&pcap_bytes()))
            .status,
        201
    );
    let list = m.get("/api/v2/media/wav", tk).json();
    assert_eq!(list["kind"], "wav");
    assert_eq!(
        list["media"][0]["size_bytes"].as_u64(),
        Some(wav_bytes().len() as u64)
    );
    assert_eq!(m.get("/api/v2/media/mp3", tk).status, 404);

    // A browser download link carries a single-use ticket, never the token.
    let ticket = m.req("POST", "/api/v2/auth/ticket", tk, None).json()["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let dl = m.get(&format!("/api/v2/media/pcap/dtmf?ticket={ticket}"), None);
    assert_eq!(dl.status, 200);
    assert_eq!(dl.body, pcap_bytes());
    assert!(
        dl.header("content-disposition")
            .unwrap()
            .contains("dtmf.pcap")
    );
    assert_eq!(
        m.get(&format!("/api/v2/media/pcap/dtmf?ticket={ticket}"), None)
            .status,
        401,
        "tickets are single-use"
    );
    assert_eq!(
        m.get(&format!("/api/v2/media/pcap/dtmf?token={t}"), None)
            .status,
        401,
        "tokens are not accepted in URLs"
    );

    assert_eq!(
        m.req("DELETE", "/api/v2/media/wav/ring", tk, None).status,
        204
    );
    assert_eq!(m.get("/api/v2/media/wav/ring", tk).status, 404);
    assert!(
        m.files().iter().all(|f| !f.starts_with("tmp/")),
        "{:?}",
        m.files()
    );
}

#[test]
fn users_roles_and_the_last_admin() {
    let m = Master::start("users");
    let admin = m.admin_token();
    let a = Some(admin.as_str());
    let u = m
        .json(
            "POST",
            "/api/v2/users",
            a,
            &json!({"username": "bob", "password": "password-123"}),
        )
        .json();
    assert_eq!(u["role"], "operator");
    assert_eq!(
        m.json(
            "POST",
            "/api/v2/users",
            a,
            &json!({"username": "BOB", "password": "password-123"})
        )
        .status,
        409
    );
    let me = m.get("/api/v2/me", a).json();
    let admin_id = me["user_id"].as_i64().unwrap();
    assert_eq!(
        m.req("DELETE", &format!("/api/v2/users/{admin_id}"), a, None)
            .status,
        409
    );
    assert_eq!(
        m.json(
            "PUT",
            &format!("/api/v2/users/{admin_id}"),
            a,
            &json!({"role": "operator"})
        )
        .status,
        409
    );
    let bob = u["id"].as_i64().unwrap();
    assert_eq!(
        m.json(
            "PUT",
            &format!("/api/v2/users/{bob}"),
            a,
            &json!({"role": "admin"})
        )
        .status,
        200
    );
    let bob_token = m.login("bob", "password-123");
    assert_eq!(
        m.get("/api/v2/users", Some(&bob_token)).status,
        200,
        "promoted to admin"
    );
    assert_eq!(
        m.req(
            "DELETE",
            &format!("/api/v2/users/{admin_id}"),
            Some(&bob_token),
            None
        )
        .status,
        204
    );

    // Own password change.
    let pw = json!({"current_password": "password-123", "new_password": "new-password-1"});
    let changed = m.json("POST", "/api/v2/me/password", Some(&bob_token), &pw);
    assert_eq!(changed.status, 200);
    m.login("bob", "new-password-1");
    // The change revoked bob's earlier token and handed him a new one.
    assert_eq!(m.get("/api/v2/me", Some(&bob_token)).status, 401);
    let bob_token = changed.json()["token"].as_str().unwrap().to_string();

    let page = m
        .get("/api/v2/audit?limit=2&offset=1", Some(&bob_token))
        .json();
    assert_eq!(page["audit"].as_array().unwrap().len(), 2);
    assert!(page["total"].as_i64().unwrap() >= 4);
    assert_eq!(m.get("/api/v2/audit?limit=x", Some(&bob_token)).status, 400);
}

#[test]
fn one_user_is_read_by_an_admin_or_by_itself() {
    let m = Master::start("user-get");
    let admin = m.admin_token();
    let a = Some(admin.as_str());
    let carol = m.user_token(&admin, "carol", "operator");
    let dave = m.user_token(&admin, "dave", "operator");
    let list = m.get("/api/v2/users", a).json();
    let item = |name: &str| {
        list["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name)
            .unwrap_or_else(|| panic!("{name} in {list}"))
            .clone()
    };
    let (carol_item, dave_item) = (item("carol"), item("dave"));
    let carol_id = carol_item["id"].as_i64().unwrap();
    let dave_id = dave_item["id"].as_i64().unwrap();
    let path = |id: i64| format!("/api/v2/users/{id}");

    // The admin reads anyone, exactly as the list shows them (no hash, same fields).
    let got = m.get(&path(carol_id), a);
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.json(), carol_item);
    assert!(!got.text().contains("hash"), "{}", got.text());
    // A user reads itself.
    let own = m.get(&path(dave_id), Some(&dave));
    assert_eq!(own.status, 200, "{}", own.text());
    assert_eq!(own.json(), dave_item);
    // Not another user, not even to learn whether an id exists.
    let other = m.get(&path(dave_id), Some(&carol));
    assert_eq!(other.status, 403, "{}", other.text());
    assert!(
        other.error().contains("the user itself"),
        "{}",
        other.text()
    );
    assert_eq!(m.get(&path(999_999), Some(&carol)).status, 403);
    // Unknown and malformed ids.
    let unknown = m.get(&path(999_999), a);
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    assert!(unknown.error().contains("999999"), "{}", unknown.text());
    assert_eq!(m.get("/api/v2/users/abc", a).status, 400);
    assert_eq!(m.get(&path(carol_id), None).status, 401);
    // A deleted user is gone.
    assert_eq!(m.req("DELETE", &path(carol_id), a, None).status, 204);
    assert_eq!(m.get(&path(carol_id), a).status, 404);
}

#[test]
fn no_auth_mode_serves_everyone_as_an_anonymous_admin() {
    let m = Master::start_with("noauth", &["--no-auth"], &[]);
    assert_eq!(m.get("/api/v2/health", None).json()["auth"], "none");
    let me = m.get("/api/v2/me", None).json();
    assert_eq!(
        (me["username"].as_str(), me["role"].as_str()),
        (Some("anonymous"), Some("admin"))
    );
    assert_eq!(m.get("/api/v2/users", None).status, 200);
    assert_eq!(
        m.json(
            "POST",
            "/api/v2/auth/login",
            None,
            &json!({"username": "a", "password": "b"})
        )
        .status,
        404
    );
    let s = m.get("/api/v2/settings", None).json();
    assert!(s["disk_usage_bytes"].as_u64().unwrap() > 0);
}
