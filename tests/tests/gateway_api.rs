//! REGISTER gateway profiles over `/api/v2/gateways` against a real registrar (Kamailio
//! with registrar, usrloc and auth; `tests/kamailio/registrar.cfg.in`): a profile is
//! created (its password never comes back), Arm starts a gateway job that registers and
//! answers the registrar's INVITEs with the built-in `uas` (SIPp's uac calls the AOR
//! through Kamailio and succeeds), Originate starts a UAC job that calls the AOR through
//! the registrar and reaches the armed job, and stopping the armed job removes the
//! binding (`Expires: 0`: Kamailio answers 404 again). What the gateway cannot do is
//! refused with 400 naming the field, creating no job.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;
#[path = "../kamailio/mod.rs"]
mod kamailio;

use std::time::Duration;

use api_support::Master;
use jobs_support::*;
use kamailio::{Kamailio, call_aor};
use serde_json::{Value, json};

/// Arms through `route` with the built-in uas: 201, then the job running. Its reply.
fn arm(m: &Master, tk: &str, route: &str) -> Value {
    let r = m.json("PUT", route, Some(tk), &json!({"scenario_id": "uas"}));
    assert_eq!(r.status, 201, "{}", r.text());
    let reply = r.json();
    let id = reply["job_id"].as_str().unwrap();
    wait_job(m, tk, id, Duration::from_secs(15), running);
    reply
}

/// Originates `calls` calls of the built-in uac to `to` through `route`: 201, then the
/// job succeeded. Its id and its finished job.
fn originate(
    m: &Master,
    tk: &str,
    k: &Kamailio,
    route: &str,
    to: &str,
    calls: u32,
) -> (String, Value) {
    let body = json!({"scenario_id": "uac", "to": to, "total_calls": calls});
    let r = m.json("POST", route, Some(tk), &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["job_id"].as_str().unwrap().to_string();
    let j = wait_job(m, tk, &id, Duration::from_secs(30), finished);
    assert_eq!(j["status"], "succeeded", "{j}\nkamailio:\n{}", k.log_tail());
    (id, j)
}

#[test]
fn arm_registers_and_answers_originate_calls_through_the_registrar_and_stop_unregisters() {
    let m = Master::start("gateway-api");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let k = Kamailio::start_registrar(&m.data_dir, "gw.test", "s3cret");

    // Refused by field, nothing stored.
    for (body, field) in [
        (
            json!({"id": "g0", "domain": "gw.test", "username": "alice", "transport": "tcp"}),
            "transport",
        ),
        (json!({"id": "g0", "username": "alice"}), "domain"),
        (
            json!({"id": "g0", "domain": "gw.test", "username": "alice", "advertised_ip": "x"}),
            "advertised_ip",
        ),
        (
            json!({"id": "g0", "domain": "gw.test", "username": "alice", "bogus": 1}),
            "bogus",
        ),
    ] {
        let r = m.json("POST", "/api/v2/gateways", Some(tk), &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.error().contains(field), "{field}: {}", r.error());
    }

    let r = m.json(
        "POST",
        "/api/v2/gateways",
        Some(tk),
        &json!({"id": "g1", "domain": "gw.test", "addr": format!("127.0.0.1:{}", k.udp_port),
                "username": "alice", "password": "s3cret", "advertised_ip": "127.0.0.1",
                "local_ip": "127.0.0.1", "register_expires": 60, "keepalive_seconds": -1}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["password"], "***");
    let list = m.get("/api/v2/gateways", Some(tk)).json();
    assert_eq!(list["gateways"][0]["password"], "***", "{list}");
    assert_eq!(list["gateways"][0]["runtime"]["status"], "idle", "{list}");
    // A PUT with the mask keeps the stored password (the arm below registers with it).
    let mut p = r.json();
    p["notes"] = json!("lab PBX");
    let r = m.json("PUT", "/api/v2/gateways/g1", Some(tk), &p);
    assert_eq!(r.status, 200, "{}", r.text());

    // Arm with a UAC scenario, originate with a UAS one: 400 naming scenario_id, no job.
    let r = m.json(
        "PUT",
        "/api/v2/gateways/g1/arm",
        Some(tk),
        &json!({"scenario_id": "uac"}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().starts_with("scenario_id:"), "{}", r.error());
    let r = m.json(
        "POST",
        "/api/v2/gateways/g1/originate",
        Some(tk),
        &json!({"scenario_id": "uas", "to": "alice"}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().starts_with("scenario_id:"), "{}", r.error());
    let r = m.json(
        "PUT",
        "/api/v2/gateways/nope/arm",
        Some(tk),
        &json!({"scenario_id": "uas"}),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(m.get("/api/v2/jobs", Some(tk)).json()["total"], 0);

    // Arm: registered, and SIPp's call through Kamailio reaches the armed uas.
    let reply = arm(&m, tk, "/api/v2/gateways/g1/arm");
    let armed = reply["job_id"].as_str().unwrap().to_string();
    assert_eq!(reply["job"]["profile_kind"], "gateway");
    k.wait_reachable(&m.data_dir, "alice", "the armed gateway", String::new);
    let g = m.get("/api/v2/gateways/g1", Some(tk)).json();
    assert_eq!(g["armed_scenario_id"], "uas", "{g}");

    // Originate: our uac calls alice through the registrar, which routes to the armed job.
    let (orig, _) = originate(&m, tk, &k, "/api/v2/gateways/g1/originate", "alice", 3);
    let summary: Value = serde_json::from_slice(
        &std::fs::read(
            m.data_dir
                .join(format!("artifacts/jobs/{orig}/summary.json")),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["success_calls"], 3, "{summary}");

    // Stop the armed job: Expires 0, and the AOR is gone at Kamailio at once.
    stop_job(&m, tk, &armed, Duration::from_secs(15));
    let log = std::fs::read_to_string(
        m.data_dir
            .join(format!("artifacts/jobs/{armed}/worker.log")),
    )
    .unwrap_or_default();
    assert!(log.contains("gateway: \"alice\" registered"), "{log}");
    assert!(
        log.contains("gateway: \"alice\" unregistered (Expires 0)"),
        "{log}"
    );
    let (code, out) = call_aor(&m.data_dir, k.udp_port, "alice", 1);
    assert_eq!(code, Some(1), "a call after the Expires 0 must fail: {out}");
}

/// The Go tool's single-gateway routes, on the first profile in id order: `PUT /gateway`
/// creates `default` when there is none, `GET /gateway` answers it (password masked),
/// `PUT /gateway/arm` arms it and SIPp's call through Kamailio reaches it,
/// `POST /gateway/originate` calls through the registrar; with a profile whose id sorts
/// first, the aliases act on that one.
#[test]
fn the_single_gateway_aliases_act_on_the_first_profile() {
    let m = Master::start("gateway-alias");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let k = Kamailio::start_registrar(&m.data_dir, "gw.test", "s3cret");

    let r = m.get("/api/v2/gateway", Some(tk));
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.error().contains("no gateway profile"), "{}", r.error());
    let r = m.json(
        "PUT",
        "/api/v2/gateway/arm",
        Some(tk),
        &json!({"scenario_id": "uas"}),
    );
    assert_eq!(r.status, 404, "{}", r.text());

    let body = json!({"domain": "gw.test", "addr": format!("127.0.0.1:{}", k.udp_port),
                      "username": "alice", "password": "s3cret", "advertised_ip": "127.0.0.1",
                      "local_ip": "127.0.0.1", "register_expires": 60, "keepalive_seconds": -1});
    let r = m.json("PUT", "/api/v2/gateway", Some(tk), &body);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["id"], "default");
    assert_eq!(r.json()["password"], "***");
    let mut p = m.get("/api/v2/gateway", Some(tk)).json();
    assert_eq!(
        (&p["id"], &p["username"], &p["password"]),
        (&json!("default"), &json!("alice"), &json!("***")),
        "{p}"
    );
    // A second PUT updates it; the mask keeps the password the arm registers with.
    p["notes"] = json!("via the alias");
    let r = m.json("PUT", "/api/v2/gateway", Some(tk), &p);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        m.get("/api/v2/gateways/default", Some(tk)).json()["notes"],
        "via the alias"
    );

    let reply = arm(&m, tk, "/api/v2/gateway/arm");
    let armed = reply["job_id"].as_str().unwrap().to_string();
    assert_eq!(reply["job"]["profile_id"], "default");
    k.wait_reachable(
        &m.data_dir,
        "alice",
        "the gateway armed through /gateway/arm",
        || {
            let log = m
                .data_dir
                .join(format!("artifacts/jobs/{armed}/worker.log"));
            format!(
                "\nworker:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        },
    );
    let (_, j) = originate(&m, tk, &k, "/api/v2/gateway/originate", "alice", 2);
    assert_eq!(j["profile_id"], "default", "{j}");
    let r = m.json(
        "POST",
        "/api/v2/gateway/originate",
        Some(tk),
        &json!({"scenario_id": "uac"}),
    );
    assert_eq!(r.status, 400, "a missing to: {}", r.text());

    // A profile whose id sorts before "default" becomes the aliases' one.
    let r = m.json(
        "POST",
        "/api/v2/gateways",
        Some(tk),
        &json!({"id": "a-first", "domain": "other.test", "username": "carol"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let g = m.get("/api/v2/gateway", Some(tk)).json();
    assert_eq!(
        (&g["id"], &g["username"]),
        (&json!("a-first"), &json!("carol")),
        "{g}"
    );

    stop_job(&m, tk, &armed, Duration::from_secs(15));
}
