//! Restarting `gossipper ui` keeps every user, profile, scenario (with history), media
//! file and the JWT secret; and the bootstrap admin comes from the environment when set.

mod api_support;

use api_support::{ADMIN_PASSWORD, Master, VALID_XML, pcap_bytes, wav_bytes};
use serde_json::json;

#[test]
fn a_killed_and_restarted_master_keeps_everything() {
    let mut m = Master::start("persist");
    let admin = m.admin_token();
    let a = Some(admin.as_str());
    m.user_token(&admin, "alice", "operator");
    let server = json!({"id": "uas1", "name": "UAS", "transports": [{"transport": "u1", "local_ip": "127.0.0.1", "local_port": 5060, "enabled": true}]});
    assert_eq!(m.json("POST", "/api/v2/servers", a, &server).status, 201);
    let client = json!({"id": "uac1", "remote_ip": "127.0.0.1", "remote_port": 5060, "rate": 10.0, "transports": [{"transport": "webrtc", "ice_servers": ["stun:stun.example.org"]}]});
    assert_eq!(m.json("POST", "/api/v2/clients", a, &client).status, 201);
    assert_eq!(
        m.json(
            "POST",
            "/api/v2/scenarios",
            a,
            &json!({"id": "opt", "name": "v1", "xml": VALID_XML})
        )
        .status,
        201
    );
    let v2 = VALID_XML.replace("options", "options-v2");
    assert_eq!(
        m.json(
            "PUT",
            "/api/v2/scenarios/opt",
            a,
            &json!({"name": "v2", "xml": v2})
        )
        .status,
        200
    );
    assert_eq!(
        m.req("POST", "/api/v2/media/wav/ring", a, Some(&wav_bytes()))
            .status,
        201
    );
    assert_eq!(
        m.req("POST", "/api/v2/media/pcap/dtmf", a, Some(&pcap_bytes()))
            .status,
        201
    );
    let new_pw = json!({"current_password": ADMIN_PASSWORD, "new_password": "a-better-secret"});
    let changed = m.json("POST", "/api/v2/me/password", a, &new_pw);
    assert_eq!(changed.status, 200);
    // The change revoked the token it was made with and handed out a new one.
    let renewed = changed.json()["token"].as_str().unwrap().to_string();

    m.restart();

    // The secret survived: the renewed token still works; the new password is the one.
    assert_eq!(m.get("/api/v2/me", Some(&renewed)).status, 200);
    assert_eq!(m.get("/api/v2/me", a).status, 401, "revoked stays revoked");
    let bad = m.json(
        "POST",
        "/api/v2/auth/login",
        None,
        &json!({"username": "admin", "password": ADMIN_PASSWORD}),
    );
    assert_eq!(bad.status, 401, "the bootstrap password must not come back");
    let admin = m.login("admin", "a-better-secret");
    let a = Some(admin.as_str());
    m.login("alice", "password-123");

    let users = m.get("/api/v2/users", a).json();
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
    let s = m.get("/api/v2/servers/uas1", a).json();
    assert_eq!(
        (
            s["name"].as_str(),
            s["transports"][0]["local_port"].as_u64()
        ),
        (Some("UAS"), Some(5060))
    );
    let c = m.get("/api/v2/clients/uac1", a).json();
    assert_eq!(
        c["transports"][0]["ice_servers"][0],
        "stun:stun.example.org"
    );
    let sc = m.get("/api/v2/scenarios/opt", a).json();
    assert_eq!(
        (sc["meta"]["name"].as_str(), sc["xml"].as_str()),
        (Some("v2"), Some(v2.as_str()))
    );
    let hist = m.get("/api/v2/scenarios/opt/history", a).json();
    assert_eq!(hist["history"].as_array().unwrap().len(), 1);
    assert_eq!(hist["history"][0]["meta"]["name"], "v1");
    assert_eq!(m.get("/api/v2/media/wav/ring", a).body, wav_bytes());
    assert_eq!(m.get("/api/v2/media/pcap/dtmf", a).body, pcap_bytes());
    let audit = m.get("/api/v2/audit", a).json();
    assert!(audit["total"].as_i64().unwrap() >= 7, "{audit}");
}

#[test]
fn bootstrap_admin_comes_from_the_environment_and_its_password_is_not_logged() {
    let m = Master::start_with(
        "bootstrap",
        &[],
        &[
            ("GOSSIPPER_BOOTSTRAP_USERNAME", "root-user"),
            ("GOSSIPPER_BOOTSTRAP_PASSWORD", "s3cret-from-env"),
        ],
    );
    let t = m.login("root-user", "s3cret-from-env");
    let me = m.get("/api/v2/me", Some(&t)).json();
    assert_eq!(me["role"], "admin");
    let bad = m.json(
        "POST",
        "/api/v2/auth/login",
        None,
        &json!({"username": "admin", "password": ADMIN_PASSWORD}),
    );
    assert_eq!(bad.status, 401);
    let log = m.log_text();
    assert!(log.contains("change it"), "{log}");
    assert!(
        !log.contains("s3cret-from-env"),
        "the password leaked into the log: {log}"
    );
    assert!(!log.contains(&t), "a token leaked into the log");
}

/// `gossipper ui --auth-sqlite FILE` (the Go tool's flag) keeps the settings database
/// (users, JWT secret, jobs) in FILE, its folder created, and nothing at
/// `<data-dir>/settings.sqlite`: a second master on another data dir given the same
/// file knows the same users, `auth user-add --auth-sqlite` reaches them, and a file
/// inside the data dir's served trees is refused at start.
#[test]
fn auth_sqlite_keeps_the_settings_database_in_the_named_file() {
    let outside = api_support::temp_data_dir("authdb");
    let db = outside.join("nested").join("users.sqlite");
    let db_arg = db.to_str().unwrap();
    let m = Master::start_with("authsqlite", &["--auth-sqlite", db_arg], &[]);
    let admin = m.admin_token();
    m.user_token(&admin, "alice", "operator");
    assert!(db.is_file(), "the database is where --auth-sqlite says");
    assert!(
        !m.data_dir.join("settings.sqlite").exists(),
        "nothing at the default path: {:?}",
        m.files()
    );
    assert!(m.log_text().contains(db_arg), "{}", m.log_text());

    // The CLI adds a user to the same file; the running master sees it at login.
    let out = std::process::Command::new(api_support::binary())
        .args(["auth", "user-add", "--data-dir"])
        .arg(&m.data_dir)
        .args(["--auth-sqlite", db_arg, "-username", "bob"])
        .args(["-password", "bob-password-1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    m.login("bob", "bob-password-1");

    // Another data dir, the same file: the same users (and the same JWT secret: the
    // first master's token is good there).
    let other = Master::start_with("authsqlite2", &["--auth-sqlite", db_arg], &[]);
    other.login("alice", "password-123");
    let me = other.get("/api/v2/me", Some(&admin));
    assert_eq!(me.status, 200, "{}", me.text());
    drop(other);
    // Without the flag, a data dir knows none of them.
    let plain = Master::start("authsqlite-plain");
    let r = plain.json(
        "POST",
        "/api/v2/auth/login",
        None,
        &json!({"username": "alice", "password": "password-123"}),
    );
    assert_eq!(r.status, 401, "{}", r.text());

    // Inside a served tree of the data dir: refused at start, naming the path.
    let inside = m.data_dir.join("media").join("wav").join("users.sqlite");
    let out = std::process::Command::new(api_support::binary())
        .arg("ui")
        .arg("--data-dir")
        .arg(&m.data_dir)
        .args(["--listen", "127.0.0.1:0", "--auth-sqlite"])
        .arg(&inside)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--auth-sqlite") && err.contains("media/"),
        "{err}"
    );
    assert!(!inside.exists());
    drop(m);
    let _ = std::fs::remove_dir_all(&outside);
}
