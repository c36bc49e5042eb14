//! Attacks on the master's sessions, login throttle, file modes and resource caps
//! (issue #14 items 4, 6, 8 and 10), each made against a real `gossipper ui`: the test
//! checks that the attack fails *and* that nothing in the data dir changed that should
//! not have (a listing of every file with its size, SQLite's `-wal`/`-shm` churn aside,
//! and the users and audit log read through the API).
//!
//! Each attack test carries one `/// attack: … => …` line, from which README's security
//! table is generated.

#![allow(clippy::unwrap_used)] // helpers beside the tests: a failed unwrap is a failed test

mod api_support;
mod jobs_support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use api_support::{ADMIN_PASSWORD, Master, Resp, VALID_XML, http, wav_bytes};
use jobs_support::{alive, free_udp_port, wait_job, wait_stats_line};
use jwt_simple::prelude::{Claims, HS256Key, MACLike, UnixTimeStamp};
use serde_json::{Map, Value, json};

/// The JWT secret the forging tests give the master (`GOSSIPPER_JWT_SECRET`).
const SECRET: &str = "security-test-secret-0123456789";

// ---------------------------------------------------------------------------------
// Helpers: data-dir snapshots, the database as the API shows it, token forging.
// ---------------------------------------------------------------------------------

/// Every path under the data dir with its size (directories as `dir/`). SQLite's
/// `-wal`/`-shm` grow and shrink on their own, and a checkpoint may move bytes into
/// `settings.sqlite`, so those three are recorded by name only; the database's content is
/// compared through the API ([`DbView`]).
#[derive(Debug, PartialEq, Eq)]
struct Snapshot(BTreeMap<String, u64>);

fn snapshot(root: &Path) -> Snapshot {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, u64>, depth: u32) {
        assert!(depth < 16, "data dir deeper than expected");
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let md = std::fs::symlink_metadata(&p).unwrap();
            if md.is_dir() {
                out.insert(format!("{rel}/"), 0);
                walk(root, &p, out, depth + 1);
            } else if rel.starts_with("settings.sqlite") {
                if rel == "settings.sqlite" {
                    out.insert(rel, 0);
                }
            } else {
                out.insert(rel, md.len());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out, 0);
    Snapshot(out)
}

/// Fails with the differences when two snapshots differ.
fn assert_same_files(before: &Snapshot, after: &Snapshot) {
    if before == after {
        return;
    }
    let mut diff = Vec::new();
    for (k, v) in &before.0 {
        match after.0.get(k) {
            None => diff.push(format!("removed {k}")),
            Some(w) if w != v => diff.push(format!("{k}: {v} → {w} bytes")),
            _ => {}
        }
    }
    for k in after.0.keys().filter(|k| !before.0.contains_key(*k)) {
        diff.push(format!("created {k}"));
    }
    panic!("the data dir changed:\n{}", diff.join("\n"));
}

/// The users (name, role) and the audit log (action, target, actor), oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DbView {
    users: Vec<(String, String)>,
    audit: Vec<(String, String, String)>,
}

fn db_view(m: &Master, admin: &str) -> DbView {
    let users = m.get("/api/v2/users", Some(admin));
    assert_eq!(users.status, 200, "{}", users.text());
    let audit = m.get("/api/v2/audit?limit=1000", Some(admin));
    assert_eq!(audit.status, 200, "{}", audit.text());
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut audit: Vec<_> = audit.json()["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (s(&e["action"]), s(&e["target"]), s(&e["username"])))
        .collect();
    audit.reverse();
    DbView {
        users: users.json()["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| (s(&u["username"]), s(&u["role"])))
            .collect(),
        audit,
    }
}

/// `before` plus exactly these audit rows (action, target, actor) and nothing else.
fn assert_audit_grew_by(before: &DbView, after: &DbView, added: &[(&str, &str, &str)]) {
    let mut want = before.audit.clone();
    want.extend(
        added
            .iter()
            .map(|(a, t, u)| (a.to_string(), t.to_string(), u.to_string())),
    );
    assert_eq!(after.audit, want, "audit log");
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The custom claims (`uid`, `tv`) of a token the master issued with [`SECRET`].
fn claims_of(token: &str) -> Map<String, Value> {
    HS256Key::from_bytes(SECRET.as_bytes())
        .verify_token::<Map<String, Value>>(token, None)
        .unwrap()
        .custom
}

/// A token signed with [`SECRET`] carrying `custom` and exactly these timestamps.
fn forge(custom: &Map<String, Value>, iat: Option<u64>, exp: Option<u64>) -> String {
    let mut claims =
        Claims::with_custom_claims(custom.clone(), jwt_simple::prelude::Duration::from_hours(1))
            .with_issuer("gossipper")
            .with_subject("admin");
    claims.issued_at = iat.map(UnixTimeStamp::from_secs);
    claims.expires_at = exp.map(UnixTimeStamp::from_secs);
    HS256Key::from_bytes(SECRET.as_bytes())
        .authenticate(claims)
        .unwrap()
}

fn ticket(m: &Master, token: &str) -> String {
    let r = m.req("POST", "/api/v2/auth/ticket", Some(token), None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["ticket"].as_str().unwrap().to_string()
}

fn user_id(m: &Master, admin: &str, name: &str) -> i64 {
    m.get("/api/v2/users", Some(admin)).json()["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == name)
        .unwrap_or_else(|| panic!("no user {name}"))["id"]
        .as_i64()
        .unwrap()
}

fn create_admin_user(m: &Master) -> Resp {
    m.json(
        "POST",
        "/api/v2/users",
        None,
        &json!({"username": "evil", "password": "password-123", "role": "admin"}),
    )
}

/// `POST /users` creating an admin "evil" with `token`.
fn create_evil_admin(m: &Master, token: &str) -> Resp {
    m.json(
        "POST",
        "/api/v2/users",
        Some(token),
        &json!({"username": "evil", "password": "password-123", "role": "admin"}),
    )
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------
// Item 4: revocation
// ---------------------------------------------------------------------------------

/// attack: a deleted admin keeps using its token to create a new admin user => 401 at the next request; no user is created and the audit log holds only the deletion.
#[test]
fn a_deleted_admins_token_cannot_create_users() {
    let m = Master::start("sec-deleted");
    let admin = m.admin_token();
    let doomed = m.user_token(&admin, "admin2", "admin");
    let doomed_ticket = ticket(&m, &doomed);
    let id = user_id(&m, &admin, "admin2");
    assert_eq!(
        m.req("DELETE", &format!("/api/v2/users/{id}"), Some(&admin), None)
            .status,
        204
    );
    let (files, db) = (snapshot(&m.data_dir), db_view(&m, &admin));

    let r = create_evil_admin(&m, &doomed);
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.error().contains("revoked"), "{}", r.text());
    assert_eq!(m.get("/api/v2/users", Some(&doomed)).status, 401);
    assert_eq!(
        m.get(&format!("/api/v2/live?ticket={doomed_ticket}"), None)
            .status,
        401,
        "its tickets die with it"
    );
    assert_eq!(create_admin_user(&m).status, 401);

    assert_same_files(&files, &snapshot(&m.data_dir));
    let after = db_view(&m, &admin);
    assert_eq!(after, db, "no user created, no audit row");
    assert!(!after.users.iter().any(|(u, _)| u == "evil"));
    assert_eq!(
        after.audit.last().map(|(a, t, _)| (a.as_str(), t.as_str())),
        Some(("user.delete", "admin2"))
    );
}

/// attack: an admin demoted to operator keeps using its old token to read /users and /audit => 403 at the next request; it is an operator from then on.
#[test]
fn a_demoted_admins_token_gets_operator_rights_only() {
    let m = Master::start("sec-demoted");
    let admin = m.admin_token();
    let demoted = m.user_token(&admin, "admin2", "admin");
    assert_eq!(m.get("/api/v2/audit", Some(&demoted)).status, 200);
    let id = user_id(&m, &admin, "admin2");
    let r = m.json(
        "PUT",
        &format!("/api/v2/users/{id}"),
        Some(&admin),
        &json!({"role": "operator"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let (files, db) = (snapshot(&m.data_dir), db_view(&m, &admin));

    for path in ["/api/v2/users", "/api/v2/audit"] {
        let r = m.get(path, Some(&demoted));
        assert_eq!(r.status, 403, "{path}: {}", r.text());
    }
    assert_eq!(create_evil_admin(&m, &demoted).status, 403);
    assert_eq!(
        m.req(
            "POST",
            "/api/v2/settings/rotate-jwt-secret",
            Some(&demoted),
            None
        )
        .status,
        403
    );
    let me = m.get("/api/v2/me", Some(&demoted));
    assert_eq!(
        (me.status, me.json()["role"].as_str()),
        (200, Some("operator")),
        "the role comes from the store, not the token"
    );

    assert_same_files(&files, &snapshot(&m.data_dir));
    assert_eq!(db_view(&m, &admin), db);
}

/// attack: a token (and a ticket) issued before its user changed the password keeps being used => 401 at the next request; only the token handed back by the change works.
#[test]
fn a_token_from_before_a_password_change_is_refused() {
    let m = Master::start("sec-pwchange");
    let admin = m.admin_token();
    let old = m.user_token(&admin, "op", "operator");
    let old_ticket = ticket(&m, &old);
    let changed = m.json(
        "POST",
        "/api/v2/me/password",
        Some(&old),
        &json!({"current_password": "password-123", "new_password": "a-new-password"}),
    );
    assert_eq!(changed.status, 200, "{}", changed.text());
    let renewed = changed.json()["token"].as_str().unwrap().to_string();
    let (files, db) = (snapshot(&m.data_dir), db_view(&m, &admin));

    for path in ["/api/v2/me", "/api/v2/scenarios", "/api/v2/jobs"] {
        assert_eq!(m.get(path, Some(&old)).status, 401, "{path}");
    }
    assert_eq!(
        m.get(&format!("/api/v2/live?ticket={old_ticket}"), None)
            .status,
        401
    );
    let r = m.json(
        "POST",
        "/api/v2/scenarios",
        Some(&old),
        &json!({"id": "planted", "xml": VALID_XML}),
    );
    assert_eq!(r.status, 401);
    assert_eq!(m.get("/api/v2/me", Some(&renewed)).status, 200);

    assert_same_files(&files, &snapshot(&m.data_dir));
    assert_eq!(db_view(&m, &admin), db);
}

/// attack: a token issued before an admin reset its user's password keeps being used => 401 at the next request; the admin's own session is untouched.
#[test]
fn a_token_from_before_an_admin_reset_is_refused() {
    let m = Master::start("sec-reset");
    let admin = m.admin_token();
    let stolen = m.user_token(&admin, "op", "operator");
    let id = user_id(&m, &admin, "op");
    let r = m.json(
        "PUT",
        &format!("/api/v2/users/{id}"),
        Some(&admin),
        &json!({"password": "reset-by-the-admin"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let (files, db) = (snapshot(&m.data_dir), db_view(&m, &admin));

    assert_eq!(m.get("/api/v2/me", Some(&stolen)).status, 401);
    let r = m.json(
        "POST",
        "/api/v2/servers",
        Some(&stolen),
        &json!({"id": "planted"}),
    );
    assert_eq!(r.status, 401);
    assert_eq!(m.get("/api/v2/me", Some(&admin)).status, 200);
    m.login("op", "reset-by-the-admin");

    assert_same_files(&files, &snapshot(&m.data_dir));
    assert_eq!(db_view(&m, &admin), db);
}

/// attack: a ticket is used to mint further tickets (keeping a leaked URL credential alive) => 401; a ticket mints nothing.
#[test]
fn a_ticket_cannot_mint_tickets() {
    let m = Master::start("sec-ticket-mint");
    let admin = m.admin_token();
    let op = m.user_token(&admin, "op", "operator");
    let (files, db) = (snapshot(&m.data_dir), db_view(&m, &admin));

    let t = ticket(&m, &op);
    let r = m.req(
        "POST",
        &format!("/api/v2/auth/ticket?ticket={t}"),
        None,
        None,
    );
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.json().get("ticket").is_none());
    assert_eq!(
        m.get(&format!("/api/v2/live?ticket={t}"), None).status,
        401,
        "and the ticket, having leaked, is burnt"
    );
    // The control: a fresh ticket opens what tickets are for.
    let t = ticket(&m, &op);
    assert_eq!(m.get(&format!("/api/v2/live?ticket={t}"), None).status, 200);

    assert_same_files(&files, &snapshot(&m.data_dir));
    assert_eq!(db_view(&m, &admin), db);
}

/// attack: an admin's ticket (meant for a WebSocket or a download URL) is used on other routes and methods (GET /users, POST /users, DELETE /media, GET /me) => 401 each time; nothing is read or written.
#[test]
fn a_ticket_works_only_on_websocket_stream_and_download_routes() {
    let m = Master::start("sec-ticket-scope");
    let admin = m.admin_token();
    let up = m.req(
        "POST",
        "/api/v2/media/wav/ring",
        Some(&admin),
        Some(&wav_bytes()),
    );
    assert_eq!(up.status, 201);
    let (files, db) = (snapshot(&m.data_dir), db_view(&m, &admin));

    let body = json!({"username": "evil", "password": "password-123", "role": "admin"}).to_string();
    let attempts: [(&str, &str, Option<&[u8]>); 5] = [
        ("GET", "/api/v2/users", None),
        ("GET", "/api/v2/me", None),
        ("POST", "/api/v2/users", Some(body.as_bytes())),
        ("DELETE", "/api/v2/media/wav/ring", None),
        ("POST", "/api/v2/settings/rotate-jwt-secret", None),
    ];
    for (method, path, body) in attempts {
        let t = ticket(&m, &admin);
        let r = m.req(method, &format!("{path}?ticket={t}"), None, body);
        assert_eq!(r.status, 401, "{method} {path}: {}", r.text());
    }
    // The control: the same kind of ticket downloads the file.
    let t = ticket(&m, &admin);
    let dl = m.get(&format!("/api/v2/media/wav/ring?ticket={t}"), None);
    assert_eq!((dl.status, dl.body.len()), (200, wav_bytes().len()));

    assert_same_files(&files, &snapshot(&m.data_dir));
    assert_eq!(db_view(&m, &admin), db);
}

/// attack: a token signed with the real JWT secret but without exp, or with a ten-year life, claims the admin => 401; no admin user is created.
#[test]
fn a_forged_token_without_exp_or_with_a_long_life_is_refused() {
    let m = Master::start_with("sec-forged", &[], &[("GOSSIPPER_JWT_SECRET", SECRET)]);
    let admin = m.admin_token();
    let claims = claims_of(&admin);
    let now = unix_now();
    // The control: a token forged like the ones we issue is accepted, so the refusals
    // below come from the timestamps alone.
    let control = forge(&claims, Some(now), Some(now + 3600));
    assert_eq!(m.get("/api/v2/me", Some(&control)).status, 200);
    let (files, db) = (snapshot(&m.data_dir), db_view(&m, &admin));

    let years = 10 * 365 * 24 * 3600;
    for (what, token) in [
        ("no exp", forge(&claims, Some(now), None)),
        ("no iat, no exp", forge(&claims, None, None)),
        (
            "a ten-year life",
            forge(&claims, Some(now), Some(now + years)),
        ),
        (
            "issued long ago",
            forge(&claims, Some(now - years), Some(now + 3600)),
        ),
    ] {
        assert_eq!(m.get("/api/v2/me", Some(&token)).status, 401, "{what}");
        assert_eq!(create_evil_admin(&m, &token).status, 401, "{what}");
    }

    assert_same_files(&files, &snapshot(&m.data_dir));
    assert_eq!(db_view(&m, &admin), db);
}

// ---------------------------------------------------------------------------------
// Item 6: login throttle
// ---------------------------------------------------------------------------------

fn login(m: &Master, user: &str, password: &str) -> Resp {
    m.json(
        "POST",
        "/api/v2/auth/login",
        None,
        &json!({"username": user, "password": password}),
    )
}

/// attack: an operator interleaves its own successful logins with guesses of the admin password from one address => after 5 guesses every login from that address gets 429 with Retry-After, the right admin password included.
#[test]
fn good_logins_between_guesses_do_not_reset_the_throttle() {
    let m = Master::start("sec-throttle");
    let admin = m.admin_token();
    m.user_token(&admin, "op", "operator");
    let (files, db) = (snapshot(&m.data_dir), db_view(&m, &admin));

    let mut guesses = 0;
    let mut refused = None;
    for i in 0..30 {
        let own = login(&m, "op", "password-123");
        let guess = login(&m, "admin", &format!("guess-number-{i}"));
        match guess.status {
            401 => {
                assert_eq!(own.status, 200, "op's own login {i}: {}", own.text());
                guesses += 1;
            }
            429 => {
                refused = Some(guess);
                break;
            }
            s => panic!("guess {i}: {s} {}", guess.text()),
        }
    }
    assert_eq!(
        guesses, 5,
        "5 guesses, as if the good logins were not there"
    );
    let refused = refused.expect("never throttled");
    let retry: u64 = refused
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    assert!(
        refused.error().contains(&format!("try again in {retry} s")),
        "{}",
        refused.text()
    );
    // No oracle: the right password is refused before it is checked.
    assert_eq!(login(&m, "admin", ADMIN_PASSWORD).status, 429);
    assert_eq!(login(&m, "op", "password-123").status, 429);

    assert_same_files(&files, &snapshot(&m.data_dir));
    assert_eq!(db_view(&m, &admin), db);
}

// ---------------------------------------------------------------------------------
// Item 8: file modes
// ---------------------------------------------------------------------------------

/// Every directory 0700 and every file without group/other bits, under `root`.
fn assert_private_tree(root: &Path) {
    let mut loose = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let m = md.permissions().mode() & 0o777;
            seen += 1;
            if md.is_dir() {
                if m != 0o700 {
                    loose.push(format!("{} {m:o}", p.display()));
                }
                stack.push(p);
            } else if m & 0o077 != 0 {
                loose.push(format!("{} {m:o}", p.display()));
            }
        }
    }
    assert!(seen > 10, "only {seen} paths: the walk saw too little");
    assert!(
        loose.is_empty(),
        "readable by others:\n{}",
        loose.join("\n")
    );
}

/// attack: another local user reads settings.sqlite or its -wal (JWT secret, password hashes), or any job's files => the data dir is 0700 and every file in it 0600, from the first start and after any job.
#[test]
fn the_data_dir_and_its_secrets_are_private() {
    let m = Master::start("sec-modes");
    let admin = m.admin_token();
    let tk = Some(admin.as_str());
    // Some of everything: a scenario with history, a profile, media, a finished job.
    let r = m.json(
        "POST",
        "/api/v2/scenarios",
        tk,
        &json!({"id": "s1", "name": "v1", "xml": VALID_XML}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = m.json(
        "PUT",
        "/api/v2/scenarios/s1",
        tk,
        &json!({"name": "v2", "xml": VALID_XML}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        m.req("POST", "/api/v2/media/wav/ring", tk, Some(&wav_bytes()))
            .status,
        201
    );
    let job = noisy_job(&m, &admin, 5, 50);
    wait_job(
        &m,
        &admin,
        &job,
        Duration::from_secs(60),
        jobs_support::finished,
    );

    assert_eq!(mode(&m.data_dir), 0o700);
    for name in [
        "settings.sqlite",
        "settings.sqlite-wal",
        "settings.sqlite-shm",
    ] {
        assert_eq!(mode(&m.data_dir.join(name)), 0o600, "{name}");
    }
    let dir = m.data_dir.join(format!("artifacts/jobs/{job}"));
    for name in ["worker.log", "stats.jsonl", "summary.json"] {
        assert_eq!(
            mode(&dir.join(name)),
            0o600,
            "{name}, written by the worker"
        );
    }
    assert_private_tree(&m.data_dir);
}

/// attack: a data dir left world-readable by an older binary keeps its secrets readable => the next start narrows it to 0700/0600 and says so once on stderr.
#[test]
fn a_loose_data_dir_is_narrowed_on_start() {
    let mut m = Master::start("sec-modes-old");
    let admin = m.admin_token();
    let r = m.json(
        "POST",
        "/api/v2/scenarios",
        Some(&admin),
        &json!({"id": "s1", "xml": VALID_XML}),
    );
    assert_eq!(r.status, 201);
    let loosen = |p: &Path, md: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(md)).unwrap()
    };
    loosen(&m.data_dir, 0o755);
    loosen(&m.data_dir.join("scenarios"), 0o755);
    loosen(&m.data_dir.join("settings.sqlite"), 0o644);
    loosen(&m.data_dir.join("scenarios/s1.xml"), 0o644);
    m.restart();
    let files = snapshot(&m.data_dir);

    assert_eq!(mode(&m.data_dir), 0o700);
    assert_eq!(mode(&m.data_dir.join("settings.sqlite")), 0o600);
    assert_eq!(mode(&m.data_dir.join("scenarios/s1.xml")), 0o600);
    assert_private_tree(&m.data_dir);
    let log = m.log_text();
    assert_eq!(
        log.matches("was readable by other users").count(),
        1,
        "said once:\n{log}"
    );
    assert!(log.contains("narrowed 4 path(s)"), "{log}");
    // Nothing was lost on the way.
    let admin = m.admin_token();
    assert_eq!(m.get("/api/v2/scenarios/s1", Some(&admin)).status, 200);
    assert_same_files(&files, &snapshot(&m.data_dir));
}

// ---------------------------------------------------------------------------------
// Item 10: resource caps, the rotation reply, the final status
// ---------------------------------------------------------------------------------

/// The `gossipper worker` processes running for this data dir (each runs the spec file
/// in its job's folder).
fn workers_of(data_dir: &Path) -> usize {
    let jobs = data_dir.join("artifacts/jobs");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| {
            let raw = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            args.iter().any(|a| a == "worker")
                && args.iter().any(|a| Path::new(a).starts_with(&jobs))
        })
        .count()
}

/// attack: an operator fires 30 job starts at once at a master capped at 3 running jobs => 3 are created and 27 get 429 naming the cap; only 3 workers run and nothing else is created.
#[test]
fn concurrent_job_starts_over_the_cap_are_refused() {
    let m = Master::start_with("sec-jobcap", &["--max-running-jobs", "3"], &[]);
    let admin = m.admin_token();
    let op = m.user_token(&admin, "op", "operator");
    // A client toward a port nobody answers: its calls retransmit, it stays running.
    jobs_support::client_profile(&m, &admin, "c1", free_udp_port(), 1.0);
    let (files, db) = (snapshot(&m.data_dir), db_view(&m, &admin));

    let start = json!({"engine": {"total_calls": 1000}}).to_string();
    let auth = vec![("Authorization".to_string(), format!("Bearer {op}"))];
    let statuses: Vec<Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..30)
            .map(|_| {
                s.spawn(|| {
                    http(
                        &m.addr,
                        "POST",
                        "/api/v2/clients/c1/start",
                        &auth,
                        Some(start.as_bytes()),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created: Vec<String> = statuses
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    let refused: Vec<&Resp> = statuses.iter().filter(|r| r.status == 429).collect();
    assert_eq!(
        (created.len(), refused.len()),
        (3, 27),
        "{:?}",
        statuses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in &refused {
        assert!(r.error().contains("--max-running-jobs 3"), "{}", r.text());
    }
    for id in &created {
        wait_job(
            &m,
            &admin,
            id,
            Duration::from_secs(30),
            jobs_support::running,
        );
    }
    assert_eq!(
        workers_of(&m.data_dir),
        3,
        "only the cap's worth of workers"
    );
    let jobs = m.get("/api/v2/jobs", Some(&admin)).json();
    assert_eq!(jobs["total"], 3);

    // Exactly the 3 jobs' files and audit rows were added.
    let after = snapshot(&m.data_dir);
    let added: Vec<&String> = after
        .0
        .keys()
        .filter(|k| !files.0.contains_key(*k))
        .collect();
    assert!(
        added
            .iter()
            .all(|k| created.iter().any(|id| k.contains(id.as_str()))),
        "{added:?}"
    );
    let audit: Vec<(&str, &str, &str)> = created
        .iter()
        .map(|_| ("client.start", "c1", "op"))
        .collect();
    assert_audit_grew_by(&db, &db_view(&m, &admin), &audit);

    for id in &created {
        m.req(
            "POST",
            &format!("/api/v2/jobs/{id}/stop"),
            Some(&admin),
            None,
        );
    }
    for id in &created {
        wait_job(
            &m,
            &admin,
            id,
            Duration::from_secs(30),
            jobs_support::finished,
        );
    }
    assert_eq!(workers_of(&m.data_dir), 0);
}

/// A WAV of `samples` 16-bit mono samples at 8 kHz.
fn wav_of(samples: u32) -> Vec<u8> {
    let small = wav_bytes();
    let data_len = samples * 2;
    let mut v = small[..40].to_vec();
    v[4..8].copy_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(&data_len.to_le_bytes());
    v.extend(std::iter::repeat_n(0u8, data_len as usize));
    v
}

/// attack: an operator fills the media library past its file count and its byte quota => 429 for one file too many and 413 for bytes over the quota, with a message saying so; the library and the audit log are unchanged.
#[test]
fn the_media_library_has_a_file_and_byte_quota() {
    let small = wav_bytes().len();
    let quota = (2 * small + 1000).to_string();
    let m = Master::start_with(
        "sec-media",
        &["--media-max-files", "2", "--media-max-bytes", &quota],
        &[],
    );
    let admin = m.admin_token();
    let op = m.user_token(&admin, "op", "operator");
    let tk = Some(op.as_str());
    for name in ["a", "b"] {
        let r = m.req(
            "POST",
            &format!("/api/v2/media/wav/{name}"),
            tk,
            Some(&wav_bytes()),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let (files, db) = (snapshot(&m.data_dir), db_view(&m, &admin));

    let r = m.req("POST", "/api/v2/media/wav/c", tk, Some(&wav_bytes()));
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.error().contains("at most 2 files"), "{}", r.text());
    let r = m.req(
        "POST",
        "/api/v2/media/pcap/c",
        tk,
        Some(&api_support::pcap_bytes()),
    );
    assert_eq!(r.status, 429, "both kinds count: {}", r.text());
    // Replacing a file is not one more, but its bytes count.
    let big = wav_of(5000);
    let r = m.req("POST", "/api/v2/media/wav/a", tk, Some(&big));
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.error().contains("media library is full"), "{}", r.text());

    assert_same_files(&files, &snapshot(&m.data_dir));
    assert_eq!(db_view(&m, &admin), db);
    let list = m.get("/api/v2/media/wav", tk).json();
    assert_eq!(list["media"].as_array().unwrap().len(), 2);
    // Within the quota a replacement is fine.
    let r = m.req("POST", "/api/v2/media/wav/a", tk, Some(&wav_of(300)));
    assert_eq!(r.status, 201, "{}", r.text());
}

/// Starts a client job running `calls` calls of a scenario whose only command logs a
/// `log_len`-character line (no SIP: nothing needs to answer). Returns the job id.
fn noisy_job(m: &Master, admin: &str, calls: u64, log_len: usize) -> String {
    let xml = format!(
        "<?xml version=\"1.0\"?>\n<scenario name=\"noisy\">\n  <nop><action><log message=\"{}\"/></action></nop>\n</scenario>\n",
        "L".repeat(log_len)
    );
    let r = m.json(
        "POST",
        "/api/v2/scenarios",
        Some(admin),
        &json!({"id": "noisy", "xml": xml}),
    );
    assert!(matches!(r.status, 201 | 409), "{}", r.text());
    let r = m.json(
        "POST",
        "/api/v2/clients",
        Some(admin),
        &json!({"id": "noisy", "scenario_ref": "noisy", "remote_ip": "127.0.0.1",
                "remote_port": free_udp_port(), "rate": 1000.0,
                "transports": [{"transport": "u1", "local_ip": "127.0.0.1", "enabled": true}]}),
    );
    assert!(matches!(r.status, 201 | 409), "{}", r.text());
    let r = m.json(
        "POST",
        "/api/v2/clients/noisy/start",
        Some(admin),
        &json!({"engine": {"total_calls": calls, "rate": 1000.0}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_string()
}

/// attack: a scenario logs megabytes to the worker's stderr to fill the disk through worker.log => worker.log stops at the cap with one line saying so, and the worker runs to its end.
#[test]
fn worker_log_is_capped() {
    let m = Master::start_with("sec-log", &["--max-worker-log-bytes", "100000"], &[]);
    let admin = m.admin_token();
    // 1,000 calls × a 4,000-character line: about 4 MB of stderr.
    let id = noisy_job(&m, &admin, 1000, 4000);
    let job = wait_job(
        &m,
        &admin,
        &id,
        Duration::from_secs(120),
        jobs_support::finished,
    );
    assert_eq!(job["status"], "succeeded", "{job}");
    let log = std::fs::read_to_string(m.data_dir.join(format!("artifacts/jobs/{id}/worker.log")))
        .unwrap();
    assert!(log.len() <= 100_000 + 300, "{} bytes", log.len());
    assert!(
        log.len() >= 100_000,
        "the cap's worth is kept: {}",
        log.len()
    );
    assert_eq!(log.matches("reached its cap").count(), 1);
    assert!(
        log.trim_end().ends_with("dropped]"),
        "{}",
        &log[log.len() - 200..]
    );
    let detail = m.get(&format!("/api/v2/jobs/{id}"), Some(&admin)).json();
    let row = detail["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "log")
        .unwrap()
        .clone();
    assert_eq!(row["size_bytes"].as_u64(), Some(log.len() as u64));
}

/// Whether `text` holds a run of at least 32 hex digits (a secret-shaped string).
fn has_hex_run(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        if run >= 32 {
            return true;
        }
    }
    false
}

/// attack: whoever sees the reply of POST /settings/rotate-jwt-secret (a proxy log, a shared screen) learns the new JWT secret => the reply holds no secret, only when and by whom it was rotated; one audit row is written.
#[test]
fn the_rotation_reply_holds_no_secret() {
    let m = Master::start_with("sec-rotate", &[], &[("GOSSIPPER_JWT_SECRET", SECRET)]);
    let admin = m.admin_token();
    let claims = claims_of(&admin);
    let db = db_view(&m, &admin);

    let r = m.req(
        "POST",
        "/api/v2/settings/rotate-jwt-secret",
        Some(&admin),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let reply = r.json();
    let keys: Vec<&String> = reply.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["rotated_at", "rotated_by", "status", "warning"]);
    assert!(!has_hex_run(&r.text()), "{}", r.text());
    assert!(!r.text().contains(SECRET));
    assert_eq!(reply["rotated_by"], "admin");
    // It did rotate: tokens signed with the old secret are dead.
    let now = unix_now();
    assert_eq!(
        m.get(
            "/api/v2/me",
            Some(&forge(&claims, Some(now), Some(now + 60)))
        )
        .status,
        401
    );
    let admin = m.admin_token();
    assert_audit_grew_by(
        &db,
        &db_view(&m, &admin),
        &[("settings.rotate_jwt_secret", "jwt_secret", "admin")],
    );
}

/// attack: a client reads a job as stopped while its worker still runs and its artifacts are not yet written => the job reads stopping until the worker process is gone, and stopped only with its summary, stats and log listed.
#[test]
fn stopped_only_after_the_worker_has_exited() {
    let m = Master::start("sec-stopped");
    let admin = m.admin_token();
    let tk = admin.as_str();
    jobs_support::server_profile(&m, tk, "uas1", free_udp_port());
    let r = m.req("POST", "/api/v2/servers/uas1/start", Some(tk), None);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let running = wait_job(&m, tk, &id, Duration::from_secs(30), jobs_support::running);
    let pid = running["pid"].as_u64().unwrap();
    wait_stats_line(&m, &id);

    let r = m.req("POST", &format!("/api/v2/jobs/{id}/stop"), Some(tk), None);
    assert_eq!(r.json()["status"], "stopping", "{}", r.text());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut polls = 0;
    let detail = loop {
        let d = m.get(&format!("/api/v2/jobs/{id}"), Some(tk)).json();
        polls += 1;
        if d["job"]["status"] != "stopping" {
            break d;
        }
        assert!(d["job"]["finished_at"].is_null(), "{d}");
        assert!(Instant::now() < deadline, "never settled: {d}");
        std::thread::sleep(Duration::from_millis(2));
    };
    // Read at the first moment the row was final.
    assert_eq!(detail["job"]["status"], "stopped", "{detail}");
    assert!(
        !alive(pid),
        "worker {pid} still runs while the job reads stopped"
    );
    let kinds: Vec<&str> = detail["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    for k in ["stats", "log", "summary"] {
        assert!(
            kinds.contains(&k),
            "{k} missing from {kinds:?} (after {polls} polls)"
        );
    }
}
