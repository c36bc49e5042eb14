//! `GET /api/v2/openapi.json` against a real `gossipper ui`: the document passes the
//! standard validator (the Python package `openapi-spec-validator`, which scripts/test.sh
//! installs), and every GET route (plus the POST/PUT/PATCH calls that make the data)
//! answers, with real data, a status and a body that the route's own schemas describe.
//! Request bodies sent are checked against the documented request schema too. A schema
//! made wrong on purpose is shown to fail the same check.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;
mod openapi_support;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use api_support::{Master, Resp, VALID_XML, wav_bytes};
use jobs_support::{finished, free_udp_port, running, stop_job, wait_job, wait_stats_line};
use openapi_support::{check, operation, reply, spec_validator};
use serde_json::{Value, json};

/// Calls routes and checks each exchange against the document.
struct Smoke<'m> {
    m: &'m Master,
    doc: Value,
    /// `(METHOD, pattern)` of every route called.
    covered: RefCell<BTreeSet<(String, String)>>,
}

enum Send<'a> {
    Nothing,
    Json(Value),
    Raw(&'a [u8]),
}

impl Smoke<'_> {
    /// One call of `method pattern` at `path`: the request body must fit the documented
    /// request schema, the status must be `want` and documented, and the body must fit
    /// the documented reply (JSON schema, raw content type, or no body).
    fn call(
        &self,
        method: &str,
        pattern: &str,
        path: &str,
        token: Option<&str>,
        send: Send<'_>,
        want: u16,
    ) -> Resp {
        let op = operation(&self.doc, method, pattern);
        let body: Option<Vec<u8>> = match &send {
            Send::Nothing => None,
            Send::Json(v) => {
                let schema = &op["requestBody"]["content"]["application/json"]["schema"];
                assert!(
                    !schema.is_null(),
                    "{method} {pattern}: no JSON request body documented"
                );
                let mut errs = Vec::new();
                check(&self.doc, schema, v, "$request", &mut errs);
                assert!(errs.is_empty(), "{method} {pattern} request: {errs:#?}");
                Some(v.to_string().into_bytes())
            }
            Send::Raw(b) => {
                assert!(
                    op["requestBody"]["content"].is_object(),
                    "{method} {pattern}: no request body documented"
                );
                Some(b.to_vec())
            }
        };
        let r = self
            .m
            .req(method, &format!("/api/v2{path}"), token, body.as_deref());
        assert_eq!(r.status, want, "{method} {path}: {}", r.text());
        let documented = reply(op, r.status)
            .or_else(|| (r.status >= 400).then(|| &op["responses"]["default"]))
            .filter(|d| d.is_object())
            .unwrap_or_else(|| panic!("{method} {pattern}: status {} is not documented", r.status));
        let errs = self.reply_errors(documented, &r);
        assert!(
            errs.is_empty(),
            "{method} {path} reply does not fit its schema: {errs:#?}\n{}",
            r.text()
        );
        self.covered
            .borrow_mut()
            .insert((method.to_string(), pattern.to_string()));
        r
    }

    /// Where a reply departs from its documented shape.
    fn reply_errors(&self, documented: &Value, r: &Resp) -> Vec<String> {
        let mut errs = Vec::new();
        let Some(content) = documented["content"].as_object() else {
            if !r.body.is_empty() {
                errs.push(format!("a body where none is documented: {}", r.text()));
            }
            return errs;
        };
        let got = r.header("content-type").unwrap_or("").to_ascii_lowercase();
        let media = got.split(';').next().unwrap_or("").trim().to_string();
        let Some((_, c)) = content
            .iter()
            .find(|(k, _)| k.split(';').next().unwrap_or("").trim() == media)
        else {
            errs.push(format!(
                "Content-Type {got} is not one of {:?}",
                content.keys()
            ));
            return errs;
        };
        if media == "application/json" && c["schema"]["type"] != "string" {
            match serde_json::from_slice::<Value>(&r.body) {
                Ok(v) => check(&self.doc, &c["schema"], &v, "$", &mut errs),
                Err(e) => errs.push(format!("not JSON: {e}")),
            }
        }
        errs
    }

    fn get(&self, pattern: &str, path: &str, tk: &str) -> Value {
        let r = self.call("GET", pattern, path, Some(tk), Send::Nothing, 200);
        if r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
        {
            r.json()
        } else {
            Value::Null
        }
    }
}

#[test]
fn the_document_validates_and_real_replies_fit_its_schemas() {
    let m = Master::start("openapi");
    // Open: no token needed.
    let r = m.get("/api/v2/openapi.json", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    spec_validator(&doc, "served").unwrap_or_else(|e| panic!("openapi-spec-validator: {e}"));
    // The validator is not a no-op: a path parameter left undefined is refused.
    let mut broken = doc.clone();
    broken["paths"]["/jobs/{id}"]["get"]["parameters"] = json!([]);
    let refused =
        spec_validator(&broken, "broken").expect_err("the validator accepted a broken document");
    assert!(refused.contains("id"), "{refused}");

    let s = Smoke {
        m: &m,
        doc,
        covered: RefCell::new(BTreeSet::new()),
    };

    // Open routes and the session.
    s.call("GET", "/health", "/health", None, Send::Nothing, 200);
    s.call("GET", "/healthz", "/healthz", None, Send::Nothing, 200);
    s.call(
        "GET",
        "/auth/status",
        "/auth/status",
        None,
        Send::Nothing,
        200,
    );
    s.call(
        "GET",
        "/openapi.json",
        "/openapi.json",
        None,
        Send::Nothing,
        200,
    );
    let login = s.call(
        "POST",
        "/auth/login",
        "/auth/login",
        None,
        Send::Json(json!({"username": "admin", "password": api_support::ADMIN_PASSWORD})),
        200,
    );
    let tk = login.json()["token"].as_str().unwrap().to_string();
    let tk = tk.as_str();
    // An error reply fits the documented error shape too.
    s.call("GET", "/jobs", "/jobs", None, Send::Nothing, 401);
    s.call(
        "POST",
        "/auth/ticket",
        "/auth/ticket",
        Some(tk),
        Send::Nothing,
        200,
    );
    s.get("/me", "/me", tk);

    // Users.
    let user = s.call(
        "POST",
        "/users",
        "/users",
        Some(tk),
        Send::Json(json!({"username": "oa-op", "password": "password-123", "role": "operator"})),
        201,
    );
    let uid = user.json()["id"].as_i64().unwrap();
    s.get("/users", "/users", tk);
    s.get("/users/{id}", &format!("/users/{uid}"), tk);
    let user_path = format!("/users/{uid}");
    let role = json!({"role": "operator"});
    s.call(
        "PUT",
        "/users/{id}",
        &user_path,
        Some(tk),
        Send::Json(role),
        200,
    );
    let op_tk = m.login("oa-op", "password-123");
    let change = json!({"current_password": "password-123", "new_password": "password-456"});
    let changed = s.call(
        "POST",
        "/me/password",
        "/me/password",
        Some(&op_tk),
        Send::Json(change),
        200,
    );
    let op_tk = changed.json()["token"].as_str().unwrap().to_string();
    // An operator on an admin route: the documented 403.
    s.call("GET", "/users", "/users", Some(&op_tk), Send::Nothing, 403);
    // The operator itself.
    s.get("/users/{id}", &user_path, &op_tk);

    // Scenarios, with one earlier version.
    let scn = json!({"id": "oa-scn", "description": "options", "tags": ["a"], "xml": VALID_XML});
    s.call(
        "POST",
        "/scenarios/check",
        "/scenarios/check",
        Some(tk),
        Send::Json(json!({"xml": VALID_XML})),
        200,
    );
    s.call(
        "POST",
        "/scenarios",
        "/scenarios",
        Some(tk),
        Send::Json(scn.clone()),
        201,
    );
    let edited = json!({"id": "oa-scn", "description": "edited", "xml": VALID_XML});
    s.call(
        "PUT",
        "/scenarios/{id}",
        "/scenarios/oa-scn",
        Some(tk),
        Send::Json(edited),
        200,
    );
    s.get("/scenarios", "/scenarios", tk);
    s.get("/scenarios/{id}", "/scenarios/oa-scn", tk);
    let history = s.get("/scenarios/{id}/history", "/scenarios/oa-scn/history", tk);
    let ts = history["history"][0]["ts"]
        .as_str()
        .expect("one earlier version")
        .to_string();
    s.get(
        "/scenarios/{id}/history/{ts}",
        &format!("/scenarios/oa-scn/history/{ts}"),
        tk,
    );
    let fork = format!("/scenarios/oa-scn/history/{ts}/fork");
    let forked = json!({"id": "oa-fork", "name": "forked"});
    s.call(
        "POST",
        "/scenarios/{id}/history/{ts}/fork",
        &fork,
        Some(tk),
        Send::Json(forked),
        201,
    );
    s.call(
        "DELETE",
        "/scenarios/{id}/history/{ts}",
        &format!("/scenarios/oa-scn/history/{ts}"),
        Some(tk),
        Send::Nothing,
        204,
    );
    s.call(
        "DELETE",
        "/scenarios/{id}",
        "/scenarios/oa-fork",
        Some(tk),
        Send::Nothing,
        204,
    );
    s.get("/builtin-scenarios", "/builtin-scenarios", tk);
    s.get("/builtin-scenarios/{id}", "/builtin-scenarios/uac", tk);

    // Media: a WAV (with its audio block) and the empty pcap list.
    s.call(
        "POST",
        "/media/{kind}/{name}",
        "/media/wav/oa.wav",
        Some(tk),
        Send::Raw(&wav_bytes()),
        201,
    );
    let wavs = s.get("/media/{kind}", "/media/wav", tk);
    assert!(wavs["media"][0]["audio"].is_object(), "{wavs}");
    s.get("/media/{kind}", "/media/pcap", tk);
    s.get("/media/{kind}/{name}", "/media/wav/oa.wav", tk);

    // Profiles and jobs: a recording UAS and a UAC that places 3 calls with audio.
    let port = free_udp_port();
    let uas = json!({"id": "oa-uas", "scenario_ref": "uas",
        "transports": [{"transport": "u1", "local_ip": "127.0.0.1", "local_port": port, "enabled": true}]});
    s.call(
        "POST",
        "/servers",
        "/servers",
        Some(tk),
        Send::Json(uas),
        201,
    );
    let uac = json!({"id": "oa-uac", "scenario_ref": "uac_pcap", "remote_ip": "127.0.0.1",
        "remote_port": port, "rate": 10,
        "transports": [{"transport": "u1", "local_ip": "127.0.0.1", "enabled": true}]});
    s.call(
        "POST",
        "/clients",
        "/clients",
        Some(tk),
        Send::Json(uac),
        201,
    );
    let server = s.call(
        "POST",
        "/servers/{id}/start",
        "/servers/oa-uas/start",
        Some(tk),
        Send::Json(json!({"record_wav": true, "name": "openapi uas"})),
        201,
    );
    let server_id = server.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &server_id, Duration::from_secs(30), running);
    wait_stats_line(&m, &server_id);
    // Running: the profile's runtime, /live with the job's stats, /metrics.
    s.get("/servers", "/servers", tk);
    let live = s.get("/live", "/live", tk);
    assert!(
        live["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["stats"].is_object()),
        "a running job with stats in {live}"
    );
    s.get("/metrics", "/metrics", tk);
    let client = s.call(
        "POST",
        "/clients/{id}/start",
        "/clients/oa-uac/start",
        Some(tk),
        Send::Json(json!({"engine": {"total_calls": 3, "max_concurrent": 3}})),
        201,
    );
    let client_id = client.json()["id"].as_str().unwrap().to_string();
    let done = wait_job(&m, tk, &client_id, Duration::from_secs(60), finished);
    assert_eq!(done["status"], "succeeded", "{done}");
    let run = json!({"director": format!("127.0.0.1:{port}"), "total_calls": 3, "rate": 10,
        "max_concurrent": 3, "name": "openapi load test"});
    let run = s.call(
        "POST",
        "/load-test/run",
        "/load-test/run",
        Some(tk),
        Send::Json(run),
        202,
    );
    let run_id = run.json()["job"]["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &run_id, Duration::from_secs(60), finished);
    let create = json!({"profile_kind": "client", "profile_id": "oa-uac",
        "engine": {"total_calls": 2}, "notes": "POST /jobs"});
    let created = s.call("POST", "/jobs", "/jobs", Some(tk), Send::Json(create), 201);
    let created_id = created.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &created_id, Duration::from_secs(60), finished);
    // No client job runs now: a 409 in the documented error shape.
    s.call(
        "POST",
        "/clients/{id}/stop",
        "/clients/oa-uac/stop",
        Some(tk),
        Send::Nothing,
        409,
    );
    s.call(
        "POST",
        "/servers/{id}/stop",
        "/servers/oa-uas/stop",
        Some(tk),
        Send::Nothing,
        200,
    );
    wait_job(&m, tk, &server_id, Duration::from_secs(30), finished);

    s.get("/servers/{id}", "/servers/oa-uas", tk);
    s.get("/clients", "/clients", tk);
    s.get("/clients/{id}", "/clients/oa-uac", tk);
    let jobs = s.get("/jobs", "/jobs?limit=10", tk);
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 4, "{jobs}");
    // What a GET returned goes back as a PUT body (the request schema accepts it).
    for (kind, id) in [("servers", "oa-uas"), ("clients", "oa-uac")] {
        let path = format!("/{kind}/{id}");
        let pattern = format!("/{kind}/{{id}}");
        let mut profile = s.get(&pattern, &path, tk);
        profile["notes"] = json!("edited");
        s.call("PUT", &pattern, &path, Some(tk), Send::Json(profile), 200);
    }
    let stop = format!("/jobs/{client_id}/stop");
    s.call(
        "POST",
        "/jobs/{id}/stop",
        &stop,
        Some(tk),
        Send::Nothing,
        200,
    );
    let detail = s.get("/jobs/{id}", &format!("/jobs/{client_id}"), tk);
    s.call(
        "PATCH",
        "/jobs/{id}",
        &format!("/jobs/{client_id}"),
        Some(tk),
        Send::Json(json!({"notes": "checked against the OpenAPI schema"})),
        200,
    );
    s.get(
        "/jobs/{id}/events",
        &format!("/jobs/{client_id}/events?follow=false"),
        tk,
    );
    s.get(
        "/jobs/{id}/artifacts/{kind}",
        &format!("/jobs/{client_id}/artifacts/summary"),
        tk,
    );
    let recs = s.get(
        "/jobs/{id}/recordings",
        &format!("/jobs/{server_id}/recordings"),
        tk,
    );
    let name = recs["recordings"][0]["name"]
        .as_str()
        .expect("a recording")
        .to_string();
    s.get(
        "/jobs/{id}/recordings/{name}",
        &format!("/jobs/{server_id}/recordings/{name}"),
        tk,
    );
    let reports = s.get("/reports", "/reports", tk);
    assert!(
        !reports["reports"].as_array().unwrap().is_empty(),
        "{reports}"
    );
    s.get(
        "/reports/export.zip",
        &format!("/reports/export.zip?ids={client_id}"),
        tk,
    );

    // Catalogues and administration.
    s.get("/load-test", "/load-test", tk);
    s.get("/tools", "/tools", tk);
    s.get("/audit", "/audit?limit=5", tk);
    s.get("/settings", "/settings", tk);

    let tool = json!({"args": {"in": client_id}});
    let tool = s.call(
        "POST",
        "/tools/{id}/run",
        "/tools/report-html/run",
        Some(tk),
        Send::Json(tool),
        201,
    );
    let tool_id = tool.json()["job"]["id"].as_str().unwrap().to_string();
    let built = wait_job(&m, tk, &tool_id, Duration::from_secs(30), finished);
    assert_eq!(built["status"], "succeeded", "{built}");
    s.call(
        "DELETE",
        "/jobs/{id}",
        &format!("/jobs/{tool_id}"),
        Some(tk),
        Send::Nothing,
        204,
    );
    // REGISTER gateway profiles: CRUD, an armed job (registering toward a silent
    // registrar; stopped at once) and an originate refused by field.
    let registrar = free_udp_port();
    let gw = json!({"id": "oa-gw", "domain": "gw.test", "addr": format!("127.0.0.1:{registrar}"),
        "username": "alice", "password": "pw", "local_ip": "127.0.0.1", "keepalive_seconds": -1});
    let created = s.call(
        "POST",
        "/gateways",
        "/gateways",
        Some(tk),
        Send::Json(gw),
        201,
    );
    assert_eq!(created.json()["password"], "***");
    s.get("/gateways", "/gateways", tk);
    let ips = s.get("/gateway/ips", "/gateway/ips", tk);
    assert!(
        ips["ips"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["ip"] == "127.0.0.1"),
        "{ips}"
    );
    let mut gw = s.get("/gateways/{id}", "/gateways/oa-gw", tk);
    gw["notes"] = json!("edited");
    s.call(
        "PUT",
        "/gateways/{id}",
        "/gateways/oa-gw",
        Some(tk),
        Send::Json(gw),
        200,
    );
    let armed = s.call(
        "PUT",
        "/gateways/{id}/arm",
        "/gateways/oa-gw/arm",
        Some(tk),
        Send::Json(json!({"scenario_id": "uas"})),
        201,
    );
    let armed_id = armed.json()["job_id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &armed_id, Duration::from_secs(30), running);
    stop_job(&m, tk, &armed_id, Duration::from_secs(30));
    s.call(
        "POST",
        "/gateways/{id}/originate",
        "/gateways/oa-gw/originate",
        Some(tk),
        Send::Json(json!({"scenario_id": "uas", "to": "bob"})),
        400,
    );
    // The single-gateway aliases act on the only profile.
    let mut first = s.get("/gateway", "/gateway", tk);
    assert_eq!(first["id"], "oa-gw", "{first}");
    first["notes"] = json!("via the alias");
    s.call(
        "PUT",
        "/gateway",
        "/gateway",
        Some(tk),
        Send::Json(first),
        200,
    );
    s.call(
        "PUT",
        "/gateway/arm",
        "/gateway/arm",
        Some(tk),
        Send::Json(json!({"scenario_id": "uac"})),
        400,
    );
    s.call(
        "POST",
        "/gateway/originate",
        "/gateway/originate",
        Some(tk),
        Send::Json(json!({"scenario_id": "uas", "to": "bob"})),
        400,
    );
    s.call(
        "DELETE",
        "/gateways/{id}",
        "/gateways/oa-gw",
        Some(tk),
        Send::Nothing,
        204,
    );
    s.call(
        "DELETE",
        "/media/{kind}/{name}",
        "/media/wav/oa.wav",
        Some(tk),
        Send::Nothing,
        204,
    );
    s.call(
        "DELETE",
        "/servers/{id}",
        "/servers/oa-uas",
        Some(tk),
        Send::Nothing,
        204,
    );
    s.call(
        "DELETE",
        "/clients/{id}",
        "/clients/oa-uac",
        Some(tk),
        Send::Nothing,
        204,
    );
    s.call(
        "DELETE",
        "/users/{id}",
        &user_path,
        Some(tk),
        Send::Nothing,
        204,
    );
    s.call(
        "POST",
        "/settings/rotate-jwt-secret",
        "/settings/rotate-jwt-secret",
        Some(tk),
        Send::Nothing,
        200,
    );

    // Every route of the document was called but the ones named here.
    let not_called: BTreeSet<(String, String)> = [
        // Needs a pcap2scenario job over a capture: tests/tests/pcap2scenario.rs.
        ("POST", "/scenarios/import-from-pcap-job"),
        // Needs a cluster job (a job's own token): tests/tests/jobs_kubernetes.rs.
        ("POST", "/jobs/{id}/worker-lines"),
        ("POST", "/jobs/{id}/worker-records"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    let all: BTreeSet<_> = s.doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|m| (m.to_ascii_uppercase(), p.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    {
        let covered = s.covered.borrow();
        let missed: Vec<_> = all
            .difference(&covered)
            .filter(|r| !not_called.contains(*r))
            .collect();
        assert!(missed.is_empty(), "routes not called: {missed:?}");
    }

    // Every GET route of the document was called.
    let gets: BTreeSet<_> = s.doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, item)| item.get("get").is_some())
        .map(|(p, _)| ("GET".to_string(), p.clone()))
        .collect();
    let covered = s.covered.borrow();
    let missed: Vec<_> = gets.difference(&covered).collect();
    assert!(missed.is_empty(), "GET routes not called: {missed:?}");

    // A wrong schema fails the same check: `pid` said to be a string, and a field that
    // the reply does not carry said to be required.
    let mut wrong = s.doc.clone();
    wrong["components"]["schemas"]["Job"]["properties"]["pid"] = json!({"type": "string"});
    wrong["components"]["schemas"]["Job"]["required"]
        .as_array_mut()
        .unwrap()
        .push(json!("workers"));
    let schema = &operation(&wrong, "GET", "/jobs/{id}")["responses"]["200"]["content"]["application/json"]
        ["schema"];
    let mut errs = Vec::new();
    check(&wrong, schema, &detail, "$", &mut errs);
    assert_eq!(errs.len(), 2, "{errs:?}\n{detail}");
    assert!(
        errs.iter()
            .any(|e| e.starts_with("$.job.pid: ") && e.contains("is not of type")),
        "{errs:?}"
    );
    assert!(
        errs.contains(&"$.job: required field \"workers\" is missing".to_string()),
        "{errs:?}"
    );
}
