//! What each route of [`routes::ROUTES`](super::super::routes::ROUTES) takes and answers:
//! one entry per `(method, pattern)`.
//!
//! Owns: summaries, query parameters, request and reply bodies. Access (bearer, ticket,
//! scrape token, admin) and path parameters are not repeated here: the document builder
//! reads them off the route itself. A route added to the table without an entry here (or
//! an entry left behind by a removed route) fails `openapi::tests`. Must not: describe
//! shapes inline that several routes share (`schemas` names those).

use serde_json::{Value, json};

use super::schemas::{array, closed, obj, r};

/// A body: JSON with a schema, or raw bytes of the given content types.
pub(super) enum Body {
    Json(Value),
    Raw(&'static [&'static str], &'static str),
}

/// One operation.
pub(super) struct Op {
    pub(super) summary: &'static str,
    /// `(name, schema, description)`.
    pub(super) query: Vec<(&'static str, Value, &'static str)>,
    pub(super) request: Option<Body>,
    /// `(status, description, body)`; the first is the success reply.
    pub(super) replies: Vec<(u16, &'static str, Option<Body>)>,
    /// Answers a WebSocket upgrade with 101 too.
    pub(super) websocket: bool,
}

fn op(summary: &'static str) -> Op {
    Op {
        summary,
        query: Vec::new(),
        request: None,
        replies: Vec::new(),
        websocket: false,
    }
}

impl Op {
    fn body(mut self, schema: Value) -> Op {
        self.request = Some(Body::Json(schema));
        self
    }
    fn raw_body(mut self, types: &'static [&'static str], what: &'static str) -> Op {
        self.request = Some(Body::Raw(types, what));
        self
    }
    fn reply(mut self, status: u16, what: &'static str, schema: Value) -> Op {
        self.replies.push((status, what, Some(Body::Json(schema))));
        self
    }
    fn raw(mut self, status: u16, types: &'static [&'static str], what: &'static str) -> Op {
        self.replies
            .push((status, what, Some(Body::Raw(types, what))));
        self
    }
    fn empty(mut self, status: u16, what: &'static str) -> Op {
        self.replies.push((status, what, None));
        self
    }
    fn query(mut self, name: &'static str, schema: Value, what: &'static str) -> Op {
        self.query.push((name, schema, what));
        self
    }
    fn paged(self, what: &'static str) -> Op {
        self.query(
            "limit",
            json!({"type": "integer", "minimum": 0, "default": 100, "maximum": 1000}),
            what,
        )
        .query(
            "offset",
            json!({"type": "integer", "minimum": 0, "default": 0}),
            "rows to skip",
        )
    }
    fn websocket(mut self) -> Op {
        self.websocket = true;
        self
    }
}

fn s() -> Value {
    json!({"type": "string"})
}
fn i() -> Value {
    json!({"type": "integer"})
}
fn b() -> Value {
    json!({"type": "boolean"})
}
fn ns() -> Value {
    json!({"type": ["string", "null"]})
}

fn login_body() -> Value {
    closed(
        &["username", "password"],
        json!({"username": s(), "password": s()}),
    )
}

fn token_reply() -> Value {
    obj(
        &["token", "expires_at", "token_type", "username", "role"],
        json!({"token": s(), "expires_at": {"type": "integer", "description": "Unix seconds"},
               "token_type": {"const": "Bearer"}, "username": s(), "role": r("Role")}),
    )
}

fn scenario_body() -> Value {
    // Read-only fields of a GET (size_bytes, created_at, updated_at) are accepted, ignored.
    closed(
        &["xml"],
        json!({"id": s(), "name": s(), "description": s(), "role": s(),
               "tags": array(s()), "xml": s(), "size_bytes": {}, "created_at": {}, "updated_at": {}}),
    )
}

/// `workers` and `worker_netns` of a start request (issue 20).
fn workers_props() -> (Value, Value) {
    (
        json!({"type": ["integer", "null"], "minimum": 1,
               "maximum": crate::job::spec::MAX_WORKERS,
               "description": "worker processes, each running its segment of the run (default 1; at most 4 per core)"}),
        json!({"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
               "description": "the network namespace of each worker (ip netns exec), one per worker, or none"}),
    )
}

/// `kubernetes` of a start request (issue 20): the job runs as an Indexed Job.
fn kubernetes_prop() -> Value {
    closed(
        &["parallelism"],
        json!({"image": {"type": "string", "description": "worker image (default: the master's --kubernetes-image)"},
               "namespace": {"type": "string", "description": "namespace (default: the master's)"},
               "parallelism": {"type": "integer", "minimum": 1, "maximum": crate::job::spec::MAX_WORKERS,
                               "description": "worker pods, each running its segment of the run"}}),
    )
}

fn start_body() -> Value {
    let (workers, netns) = workers_props();
    closed(
        &[],
        json!({"id": ns(), "scenario_id": ns(), "record_wav": b(), "record_wav_duplex": b(),
               "engine": r("EngineOverrides"), "name": s(), "notes": s(),
               "workers": workers, "worker_netns": netns, "kubernetes": kubernetes_prop()}),
    )
}

fn create_job_body() -> Value {
    let (workers, netns) = workers_props();
    closed(
        &[],
        json!({"id": ns(), "profile_id": s(),
               "profile_kind": {"type": "string", "description": "server, client or tool"},
               "scenario_id": ns(), "record_wav": b(), "record_wav_duplex": b(),
               "engine": r("EngineOverrides"), "tool_args": {"type": "object"},
               "name": s(), "notes": s(), "workers": workers, "worker_netns": netns,
               "kubernetes": kubernetes_prop()}),
    )
}

fn load_test_body() -> Value {
    let n = |ty: &str| json!({"type": [ty, "null"]});
    closed(
        &["director", "total_calls", "rate"],
        json!({"id": ns(), "director": {"type": "string", "description": "host:port to call"},
               "scenario_id": ns(), "total_calls": i(), "rate": {"type": "number"},
               "max_concurrent": n("integer"), "run_timeout_ms": n("integer"),
               "sip_from": ns(), "sip_pai": ns(), "sip_provider": ns(),
               "record_wav": b(), "record_wav_duplex": b(), "health_enabled": n("boolean"),
               "health_min_success_ratio": n("number"), "health_max_failed_calls": n("integer"),
               "call_duration_ms": n("integer"),
               "thresholds": {"type": ["array", "null"], "items": s()},
               "name": s(), "notes": s()}),
    )
}

fn load_test_reply() -> Value {
    let n = |ty: &str| json!({"type": [ty, "null"]});
    obj(
        &["job", "async", "message", "target"],
        json!({"job": r("Job"), "async": b(), "message": s(),
               "target": obj(&["rate_cps", "calls", "concurrency", "concurrency_needed", "hold_ms"],
                   json!({"rate_cps": {"type": "number"}, "calls": n("integer"), "concurrency": i(),
                          "concurrency_needed": n("integer"), "hold_ms": n("integer")}))}),
    )
}

fn load_test_info() -> Value {
    obj(
        &[
            "scenarios",
            "defaults",
            "lifecycle",
            "identity_headers",
            "thresholds",
        ],
        json!({"scenarios": array(s()),
               "defaults": obj(&["scenario_id", "total_calls", "rate", "max_concurrent", "concurrency",
                                 "health_enabled", "health_min_success_ratio",
                                 "health_max_failed_calls", "soak"],
                   json!({"scenario_id": s(), "total_calls": i(), "rate": {"type": "number"},
                          "max_concurrent": {"type": ["integer", "null"]}, "concurrency": s(),
                          "health_enabled": b(), "health_min_success_ratio": {"type": "number"},
                          "health_max_failed_calls": i(), "soak": s()})),
               "lifecycle": obj(&["start", "status", "stop", "events"],
                   json!({"start": s(), "status": s(), "stop": s(), "events": s()})),
               "identity_headers": s(), "thresholds": s()}),
    )
}

/// `mode` of `/health` and `/settings`.
fn mode() -> Value {
    json!({"enum": ["ui", "server"],
           "description": "ui: gossipper ui; server: gossipper server -ui_data_dir (live SIP trace, calls catalogue and /api/v1 beside /api/v2)"})
}

/// `legacy_api_v1` of `/health` and `/settings`.
fn legacy_api_v1() -> Value {
    json!({"type": "boolean",
           "description": "whether /api/v1 is served beside /api/v2 (gossipper server without -legacy_api_v1=false); always false in ui mode"})
}

/// A live trace Record (`gossipper server`).
fn trace_record() -> Value {
    obj(
        &[
            "seq",
            "ts",
            "kind",
            "dir",
            "peer",
            "scenario",
            "summary",
            "method",
            "status",
            "call_id",
            "level",
            "raw",
            "raw_truncated",
            "size",
            "src",
            "dst",
            "transport",
        ],
        json!({"seq": i(), "ts": s(), "kind": {"const": "sip"},
               "dir": {"enum": ["send", "recv"]}, "peer": s(), "scenario": s(),
               "summary": s(), "method": s(), "status": i(), "call_id": s(),
               "level": {"const": "info"}, "raw": s(), "raw_truncated": b(), "size": i(),
               "src": s(), "dst": s(), "transport": {"enum": ["udp", "tcp"]}}),
    )
}

/// `{messages, next, capture, …}` of the trace routes.
fn trace_page() -> Value {
    obj(
        &["messages", "next", "capture"],
        json!({"messages": array(trace_record()), "next": i(), "capture": capture(),
               "dropped": i(), "cleared": b()}),
    )
}

/// The capture settings.
fn capture() -> Value {
    obj(
        &["sip", "app", "rtp", "level"],
        json!({"sip": b(), "app": b(), "rtp": b(), "level": {"const": "info"}}),
    )
}

/// A calls catalogue row (CallSummary).
fn call_summary() -> Value {
    obj(
        &[
            "call_id",
            "scenario",
            "from",
            "to",
            "peer",
            "direction",
            "state",
            "result",
            "error",
            "started_at",
            "ended_at",
            "duration_ms",
            "sip_count",
            "sip_send",
            "sip_recv",
            "debug_count",
            "rtp_count",
            "rtp_send",
            "rtp_recv",
            "rtp_bytes_send",
            "rtp_bytes_recv",
            "rtp_dest",
            "rtp_src",
            "payload_type",
            "codec",
        ],
        json!({"call_id": s(), "scenario": s(), "from": s(), "to": s(), "peer": s(),
               "direction": {"enum": ["inbound", "outbound"]},
               "state": {"enum": ["ended", "failed", "active"]},
               "result": {"enum": ["success", "failed"]}, "error": s(),
               "started_at": s(), "ended_at": s(), "duration_ms": i(), "sip_count": i(),
               "sip_send": i(), "sip_recv": i(), "debug_count": i(), "rtp_count": i(),
               "rtp_send": i(), "rtp_recv": i(), "rtp_bytes_send": i(),
               "rtp_bytes_recv": i(), "rtp_dest": s(), "rtp_src": s(),
               "payload_type": {"oneOf": [{"type": "null"}, i()]}, "codec": s()}),
    )
}

fn settings_reply() -> Value {
    obj(
        &[
            "ui_data_dir",
            "scenario_history_keep",
            "disk_usage_bytes",
            "version",
            "auth",
            "schema_version",
            "started_at",
            "uptime_s",
            "counts",
            "mode",
            "legacy_api_v1",
        ],
        json!({"mode": mode(), "legacy_api_v1": legacy_api_v1(), "ui_data_dir": s(), "scenario_history_keep": i(), "disk_usage_bytes": i(),
               "version": s(), "auth": {"enum": ["internal", "none"]}, "schema_version": i(),
               "started_at": s(), "uptime_s": i(),
               "counts": obj(&["scenarios", "servers", "clients", "users"],
                   json!({"scenarios": i(), "servers": i(), "clients": i(), "users": i()}))}),
    )
}

fn builtin_meta() -> Value {
    obj(
        &["id", "name", "role", "description", "source"],
        json!({"id": s(), "name": s(), "role": s(), "description": s(), "source": s()}),
    )
}

const WAV_OR_PCAP: &[&str] = &["audio/wav", "application/vnd.tcpdump.pcap"];
/// What `kind_file` in `api::jobs` serves, and anything else as octet-stream.
const ARTIFACT: &[&str] = &[
    "application/json",
    "text/html",
    "application/pdf",
    "text/plain",
    "application/x-ndjson",
    "application/octet-stream",
];
const MEDIA_KIND: &str = "Media files of a kind (the path's {kind} is wav or pcap)";

/// One entry: `(method, pattern, description)`, keyed like the route table.
pub(super) type Entry = (&'static str, &'static str, fn() -> Op);

/// Every described route.
pub(super) const OPS: &[Entry] = &[
    ("GET", "/health", || {
        op("Liveness, version and auth mode").reply(200, "up", obj(
            &["status", "version", "auth", "mode", "legacy_api_v1"],
            json!({"status": {"const": "ok"}, "version": s(), "auth": {"enum": ["internal", "none"]},
                   "mode": mode(), "legacy_api_v1": legacy_api_v1()}),
        ))
    }),
    ("GET", "/healthz", || {
        op("Liveness as plain text").raw(200, &["text/plain"], "ok")
    }),
    ("GET", "/auth/status", || {
        op("Auth mode, and which user still has the first-run password").reply(
            200,
            "status",
            obj(
                &["auth", "default_password"],
                json!({"auth": {"enum": ["internal", "none"]},
                   "default_password": {"oneOf": [{"type": "null"},
                       obj(&["username"], json!({"username": s()}))]}}),
            ),
        )
    }),
    ("POST", "/auth/login", || {
        op("Signs in: a bearer JWT for the Authorization header (404 when auth is off)")
            .body(login_body())
            .reply(200, "signed in", token_reply())
    }),
    ("POST", "/auth/ticket", || {
        op("A short-lived single-use ticket for ?ticket= on the routes that take one").reply(
            200,
            "a ticket",
            obj(
                &["ticket", "expires_at"],
                json!({"ticket": s(), "expires_at": i()}),
            ),
        )
    }),
    ("GET", "/me", || {
        op("The caller").reply(
            200,
            "the caller",
            obj(
                &["auth", "username", "user_id", "expires_at", "role"],
                json!({"auth": {"enum": ["internal", "none"]}, "username": s(), "user_id": i(),
                   "expires_at": i(), "role": r("Role")}),
            ),
        )
    }),
    ("POST", "/me/password", || {
        op("Changes the caller's password; every earlier token stops working")
            .body(closed(&["current_password", "new_password"],
                json!({"current_password": s(), "new_password": {"type": "string", "minLength": 8}})))
            .reply(200, "changed; a new token", obj(
                &["status", "token", "expires_at", "token_type"],
                json!({"status": {"const": "ok"}, "token": s(), "expires_at": i(),
                       "token_type": {"const": "Bearer"}})))
    }),
    ("GET", "/servers", || {
        op("UAS profiles, each with its runtime state").reply(
            200,
            "profiles",
            obj(&["servers"], json!({"servers": array(r("ListedServer"))})),
        )
    }),
    ("POST", "/servers", || {
        op("Creates a UAS profile")
            .body(r("ServerProfileRequest"))
            .reply(201, "created", r("ServerProfile"))
    }),
    ("GET", "/servers/{id}", || {
        op("One UAS profile").reply(200, "the profile", r("ServerProfile"))
    }),
    ("PUT", "/servers/{id}", || {
        op("Replaces a UAS profile")
            .body(r("ServerProfileRequest"))
            .reply(200, "replaced", r("ServerProfile"))
    }),
    ("DELETE", "/servers/{id}", || {
        op("Deletes a UAS profile").empty(204, "deleted")
    }),
    ("GET", "/clients", || {
        op("UAC profiles, each with its runtime state").reply(
            200,
            "profiles",
            obj(&["clients"], json!({"clients": array(r("ListedClient"))})),
        )
    }),
    ("POST", "/clients", || {
        op("Creates a UAC profile")
            .body(r("ClientProfileRequest"))
            .reply(201, "created", r("ClientProfile"))
    }),
    ("GET", "/clients/{id}", || {
        op("One UAC profile").reply(200, "the profile", r("ClientProfile"))
    }),
    ("PUT", "/clients/{id}", || {
        op("Replaces a UAC profile")
            .body(r("ClientProfileRequest"))
            .reply(200, "replaced", r("ClientProfile"))
    }),
    ("DELETE", "/clients/{id}", || {
        op("Deletes a UAC profile").empty(204, "deleted")
    }),
    ("GET", "/gateways", || {
        op("REGISTER gateway profiles, each with its newest job's runtime").reply(
            200,
            "profiles",
            obj(
                &["gateways"],
                json!({"gateways": array(r("ListedGateway"))}),
            ),
        )
    }),
    ("POST", "/gateways", || {
        op("Creates a REGISTER gateway profile (udp only)")
            .body(r("GatewayProfileRequest"))
            .reply(201, "created", r("GatewayProfile"))
    }),
    ("GET", "/gateways/{id}", || {
        op("One REGISTER gateway profile (password masked)").reply(
            200,
            "the profile",
            r("GatewayProfile"),
        )
    }),
    ("PUT", "/gateways/{id}", || {
        op("Replaces a REGISTER gateway profile; an empty or *** password keeps the stored one")
            .body(r("GatewayProfileRequest"))
            .reply(200, "replaced", r("GatewayProfile"))
    }),
    ("DELETE", "/gateways/{id}", || {
        op("Deletes a REGISTER gateway profile").empty(204, "deleted")
    }),
    ("GET", "/gateway/ips", || {
        op("The host's interface addresses for a gateway's advertised IP (the Autodiscover button): non-loopback IPv4, then global IPv6, then loopback; no public address is looked up").reply(
            200,
            "addresses",
            obj(
                &["ips", "suggested"],
                json!({"ips": array(obj(&["ip", "family", "interface", "loopback"],
                           json!({"ip": s(), "family": {"enum": ["ipv4", "ipv6"]},
                                  "interface": s(), "loopback": b()}))),
                       "suggested": {"oneOf": [{"type": "null"}, s()]}}),
            ),
        )
    }),
    ("PUT", "/gateways/{id}/arm", || {
        op("Starts a gateway job that registers the account from its UAS socket and answers the registrar's INVITEs with a UAS scenario")
            .body(closed(&["scenario_id"], json!({"scenario_id": s()})))
            .reply(201, "the job", obj(&["job_id", "job"], json!({"job_id": s(), "job": r("Job")})))
    }),
    ("POST", "/gateways/{id}/originate", || {
        op("Starts a gateway job that calls `to` through the registrar with the account (a UAC scenario)")
            .body(closed(
                &["scenario_id", "to"],
                json!({"scenario_id": s(), "to": s(), "total_calls": i()}),
            ))
            .reply(201, "the job", obj(&["job_id", "job"], json!({"job_id": s(), "job": r("Job")})))
    }),
    ("GET", "/gateway", || {
        op("The first REGISTER gateway profile in id order (the single-gateway alias of GET /gateways/{id}); 404 with none").reply(
            200,
            "the profile",
            r("GatewayProfile"),
        )
    }),
    ("PUT", "/gateway", || {
        op("Replaces the first REGISTER gateway profile (alias of PUT /gateways/{id}); with none it creates one (id from the body, else default)")
            .body(r("GatewayProfileRequest"))
            .reply(200, "replaced", r("GatewayProfile"))
            .reply(201, "created (there was none)", r("GatewayProfile"))
    }),
    ("PUT", "/gateway/arm", || {
        op("Arms the first REGISTER gateway profile (alias of PUT /gateways/{id}/arm)")
            .body(closed(&["scenario_id"], json!({"scenario_id": s()})))
            .reply(
                201,
                "the job",
                obj(&["job_id", "job"], json!({"job_id": s(), "job": r("Job")})),
            )
    }),
    ("POST", "/gateway/originate", || {
        op("Originates from the first REGISTER gateway profile (alias of POST /gateways/{id}/originate)")
            .body(closed(
                &["scenario_id", "to"],
                json!({"scenario_id": s(), "to": s(), "total_calls": i()}),
            ))
            .reply(201, "the job", obj(&["job_id", "job"], json!({"job_id": s(), "job": r("Job")})))
    }),
    ("GET", "/scenarios", || {
        op("Stored scenarios' metadata").reply(
            200,
            "scenarios",
            obj(
                &["scenarios"],
                json!({"scenarios": array(r("ScenarioMeta"))}),
            ),
        )
    }),
    ("POST", "/scenarios/check", || {
        op("Checks scenario XML with the engine's loader without storing it (400 lists errors at line:column)")
            .body(closed(&["xml"], json!({"xml": s()})))
            .reply(200, "valid", obj(&["ok"], json!({"ok": {"const": true}})))
    }),
    ("POST", "/scenarios/import-from-pcap-job", || {
        op("Stores the scenarios a pcap2scenario job wrote")
            .body(closed(&["job_id", "scenario_id"], json!({"job_id": s(), "which": ns(),
                "scenario_id": s(), "uas_scenario_id": ns()})))
            .reply(201, "imported", obj(&["imported", "out_dir", "job_id"], json!({
                "imported": array(obj(&["id", "role", "file"], json!({"id": s(), "role": s(), "file": s()}))),
                "out_dir": s(), "job_id": s()})))
    }),
    ("POST", "/scenarios", || {
        op("Stores a new scenario (checked first)")
            .body(scenario_body())
            .reply(201, "stored", r("Scenario"))
    }),
    ("GET", "/scenarios/{id}", || {
        op("One scenario: metadata and XML").reply(200, "the scenario", r("Scenario"))
    }),
    ("PUT", "/scenarios/{id}", || {
        op("Replaces a scenario; the previous version goes to its history")
            .body(scenario_body())
            .reply(200, "replaced", r("Scenario"))
    }),
    ("DELETE", "/scenarios/{id}", || {
        op("Deletes a scenario").empty(204, "deleted")
    }),
    ("GET", "/scenarios/{id}/history", || {
        op("Earlier versions of a scenario, newest first").reply(
            200,
            "versions",
            obj(&["history"], json!({"history": array(r("HistoryEntry"))})),
        )
    }),
    ("GET", "/scenarios/{id}/history/{ts}", || {
        op("One earlier version").reply(200, "the version", r("Scenario"))
    }),
    ("DELETE", "/scenarios/{id}/history/{ts}", || {
        op("Deletes one earlier version").empty(204, "deleted")
    }),
    ("POST", "/scenarios/{id}/history/{ts}/fork", || {
        op("Stores an earlier version as a new scenario")
            .body(closed(
                &["id"],
                json!({"id": s(), "name": ns(), "description": ns(), "role": ns()}),
            ))
            .reply(201, "stored", r("Scenario"))
    }),
    ("GET", "/builtin-scenarios", || {
        op("The engine's built-in scenarios (SIPp's -sn)").reply(
            200,
            "catalogue",
            obj(
                &["scenarios", "source"],
                json!({"scenarios": array(builtin_meta()), "source": s()}),
            ),
        )
    }),
    ("GET", "/builtin-scenarios/{id}", || {
        op("One built-in scenario's XML").reply(
            200,
            "the scenario",
            obj(
                &["meta", "xml", "source"],
                json!({"meta": builtin_meta(), "xml": s(), "source": s()}),
            ),
        )
    }),
    ("GET", "/media/{kind}", || {
        op(MEDIA_KIND).reply(
            200,
            "assets",
            obj(
                &["media", "kind"],
                json!({"media": array(r("MediaAsset")), "kind": {"enum": ["wav", "pcap"]}}),
            ),
        )
    }),
    ("POST", "/media/{kind}/{name}", || {
        op("Uploads a WAV or pcap file (the raw bytes are the body)")
            .raw_body(WAV_OR_PCAP, "the file")
            .reply(201, "stored", r("MediaAsset"))
    }),
    ("GET", "/media/{kind}/{name}", || {
        op("Downloads a media file").raw(200, WAV_OR_PCAP, "the file")
    }),
    ("DELETE", "/media/{kind}/{name}", || {
        op("Deletes a media file").empty(204, "deleted")
    }),
    ("POST", "/servers/{id}/start", || {
        op("Starts a job from a UAS profile")
            .body(start_body())
            .reply(201, "the job", r("Job"))
    }),
    ("POST", "/servers/{id}/stop", || {
        op("Stops the profile's running job").reply(200, "the job", r("Job"))
    }),
    ("POST", "/clients/{id}/start", || {
        op("Starts a job from a UAC profile")
            .body(start_body())
            .reply(201, "the job", r("Job"))
    }),
    ("POST", "/clients/{id}/stop", || {
        op("Stops the profile's running job").reply(200, "the job", r("Job"))
    }),
    ("GET", "/jobs", || {
        op("Jobs, newest first")
            .paged("rows per page")
            .query("status", r("JobStatus"), "only jobs in this state")
            .reply(
                200,
                "a page",
                obj(
                    &["jobs", "total", "limit", "offset"],
                    json!({
                "jobs": array(r("Job")), "total": i(), "limit": i(), "offset": i()}),
                ),
            )
    }),
    ("POST", "/jobs", || {
        op("Starts a job from a profile or a tool")
            .body(create_job_body())
            .reply(201, "the job", r("Job"))
    }),
    ("GET", "/jobs/{id}", || {
        op("One job and its artifacts").reply(
            200,
            "the job",
            obj(
                &["job", "artifacts"],
                json!({"job": r("Job"), "artifacts": array(r("Artifact"))}),
            ),
        )
    }),
    ("PATCH", "/jobs/{id}", || {
        op("Renames a job or edits its notes (left-out fields keep their value)")
            .body(closed(&[], json!({"name": ns(), "notes": ns()})))
            .reply(200, "the job", r("Job"))
    }),
    ("DELETE", "/jobs/{id}", || {
        op("Deletes a finished job and its folder").empty(204, "deleted")
    }),
    ("POST", "/jobs/{id}/stop", || {
        op("Asks a job to stop").reply(200, "the job", r("Job"))
    }),
    ("POST", "/jobs/{id}/worker-lines", || {
        op("A cluster job's worker pod posts its stdout lines (bearer: the job's own token)")
            .query(
                "index",
                json!({"type": "integer", "minimum": 0}),
                "the pod's JOB_COMPLETION_INDEX",
            )
            .raw_body(
                &["application/x-ndjson"],
                "worker lines, one JSON object per line",
            )
            .reply(
                200,
                "lines taken",
                obj(&["lines"], json!({"lines": {"type": "integer"}})),
            )
    }),
    ("POST", "/jobs/{id}/worker-records", || {
        op("A cluster job's worker pod posts its call records before its exit line (bearer: the job's own token); they become the job's call_records.jsonl")
            .query(
                "index",
                json!({"type": "integer", "minimum": 0}),
                "the pod's JOB_COMPLETION_INDEX",
            )
            .raw_body(
                &["application/x-ndjson"],
                "call records, one JSON object per line",
            )
            .reply(
                200,
                "records taken",
                obj(&["records"], json!({"records": {"type": "integer"}})),
            )
    }),
    ("GET", "/jobs/{id}/events", || {
        op("The job's per-second stats lines (stats.jsonl), replayed then followed")
            .query(
                "since",
                json!({"type": "integer", "minimum": 0}),
                "byte offset to replay from",
            )
            .query(
                "tail",
                json!({"type": "integer", "minimum": 0, "maximum": 100000}),
                "only the last N lines",
            )
            .query(
                "follow",
                json!({"type": "boolean", "default": true}),
                "keep streaming new lines",
            )
            .query(
                "idle_ms",
                json!({"type": "integer", "default": 5000}),
                "end a plain stream after this long without a line",
            )
            .raw(200, &["application/x-ndjson"], "one JSON object per line")
            .websocket()
    }),
    ("GET", "/jobs/{id}/artifacts/{kind}", || {
        op("Downloads an artifact (summary, log, trace, report_html, …)")
            .raw(200, ARTIFACT, "the file")
    }),
    ("GET", "/jobs/{id}/recordings", || {
        op("WAV recordings of a job's calls").reply(
            200,
            "recordings",
            obj(
                &["recordings"],
                json!({
            "recordings": array(obj(&["name", "size_bytes", "mod_time"],
                json!({"name": s(), "size_bytes": i(), "mod_time": s()})))}),
            ),
        )
    }),
    ("GET", "/jobs/{id}/recordings/{name}", || {
        op("Downloads one recording").raw(200, &["audio/wav"], "the WAV")
    }),
    ("GET", "/live", || {
        op("Jobs and running jobs' stats: one frame as JSON, or a frame every interval_ms over a WebSocket")
            .query("interval_ms", json!({"type": "integer", "minimum": 250, "maximum": 60000, "default": 1000}), "WebSocket frame period")
            .reply(200, "one frame", r("LiveFrame"))
            .websocket()
    }),
    ("GET", "/metrics", || {
        op("Prometheus text exposition (also served at the root, /metrics)").raw(
            200,
            &["text/plain; version=0.0.4"],
            "metrics",
        )
    }),
    ("GET", "/reports", || {
        op("Summary and report artifacts, newest first")
            .paged("rows")
            .reply(
                200,
                "reports",
                obj(&["reports"], json!({"reports": array(r("Report"))})),
            )
    }),
    ("GET", "/reports/export.zip", || {
        op("Downloads the reports of several jobs as one ZIP: <job-id>/summary.json, report.html and report.pdf (when present) per job; at most 50 jobs and 64 MiB of files (413 past either, naming the cap); 404 names a job that does not exist or has no report")
            .query(
                "ids",
                json!({"type": "string", "pattern": "^[^,]+(,[^,]+)*$"}),
                "the job ids, comma-separated, in the order of the folders",
            )
            .raw(200, &["application/zip"], "the ZIP (Content-Disposition: attachment)")
    }),
    ("GET", "/load-test", || {
        op("How to run POST /load-test/run, with its defaults").reply(
            200,
            "the defaults",
            load_test_info(),
        )
    }),
    ("POST", "/load-test/run", || {
        op("Starts a one-shot load test toward a host:port")
            .body(load_test_body())
            .reply(202, "started", load_test_reply())
    }),
    ("GET", "/tools", || {
        op("Tools that run as jobs").reply(
            200,
            "catalogue",
            obj(&["tools"], json!({"tools": array(r("Tool"))})),
        )
    }),
    ("POST", "/tools/{id}/run", || {
        op("Runs a tool as a job")
            .body(closed(&[], json!({"id": ns(), "args": {"type": "object"}})))
            .reply(201, "started", obj(&["job"], json!({"job": r("Job")})))
    }),
    ("GET", "/users", || {
        op("Users (admin)").reply(
            200,
            "users",
            obj(&["users"], json!({"users": array(r("User"))})),
        )
    }),
    ("POST", "/users", || {
        op("Creates a user (admin)")
            .body(closed(
                &["username", "password"],
                json!({"username": s(), "password": s(),
                "role": {"oneOf": [r("Role"), {"type": "null"}]}}),
            ))
            .reply(201, "created", r("User"))
    }),
    ("GET", "/users/{id}", || {
        op("One user (an admin, or the user itself)").reply(200, "the user", r("User"))
    }),
    ("PUT", "/users/{id}", || {
        op("Sets a user's password or role (admin)")
            .body(closed(
                &[],
                json!({"password": ns(), "role": {"oneOf": [r("Role"), {"type": "null"}]}}),
            ))
            .reply(200, "updated", r("User"))
    }),
    ("DELETE", "/users/{id}", || {
        op("Deletes a user (admin)").empty(204, "deleted")
    }),
    ("GET", "/audit", || {
        op("The audit log, newest first (admin)")
            .paged("rows per page")
            .reply(
                200,
                "a page",
                obj(
                    &["audit", "limit", "offset", "total"],
                    json!({
                "audit": array(r("AuditEntry")), "limit": i(), "offset": i(), "total": i()}),
                ),
            )
    }),
    ("GET", "/settings", || {
        op("Runtime facts and counts").reply(200, "settings", settings_reply())
    }),
    ("POST", "/settings/rotate-jwt-secret", || {
        op("Rotates the JWT secret: every token stops working (admin)")
            .reply(200, "rotated", obj(&["status", "rotated_at", "rotated_by", "warning"],
                json!({"status": {"const": "rotated"}, "rotated_at": s(), "rotated_by": s(), "warning": s()})))
    }),
    ("GET", "/openapi.json", || {
        op("This document (OpenAPI 3.1)").reply(
            200,
            "the document",
            obj(
                &["openapi", "info", "paths", "components"],
                json!({"openapi": s(), "info": {"type": "object"}, "paths": {"type": "object"},
                   "components": {"type": "object"}}),
            ),
        )
    }),
    // gossipper server's own routes (routes::SERVER_ROUTES: in its document only).
    ("GET", "/sip/trace", || {
        op("gossipper server: the live SIP trace of its engines, oldest first after `since`")
            .query("since", i(), "the `next` of the previous page (default 0)")
            .query(
                "limit",
                json!({"type": "integer", "minimum": 1, "maximum": 500, "default": 200}),
                "records at most",
            )
            .query("call_id", s(), "only this Call-ID")
            .query("scenario", s(), "only this scenario name")
            .reply(200, "a page", trace_page())
    }),
    ("GET", "/sip/trace/capture", || {
        op("gossipper server: the capture settings (SIP only)").reply(200, "settings", capture())
    }),
    ("PUT", "/sip/trace/capture", || {
        op("gossipper server: SIP capture on or off (app and RTP capture are not built: true is a 400)")
            .body(closed(&[], json!({"sip": b(), "app": b(), "rtp": b(), "level": {"const": "info"}})))
            .reply(200, "the new settings", capture())
    }),
    ("POST", "/sip/trace/clear", || {
        op("gossipper server: empties the trace ring (sequence numbers go on)").reply(
            200,
            "cleared",
            trace_page(),
        )
    }),
    ("GET", "/sip/trace/ws", || {
        op("gossipper server: the trace as a WebSocket, the backlog after `since` first")
            .query("since", i(), "the first sequence number wanted, minus one")
            .query("call_id", s(), "only this Call-ID")
            .query("scenario", s(), "only this scenario name")
            .reply(200, "one frame, without the upgrade", trace_page())
            .websocket()
    }),
    ("GET", "/sip/trace/export", || {
        op("gossipper server: the ring's records as text, or as a pcap Wireshark opens")
            .query(
                "format",
                json!({"enum": ["text", "pcap"], "default": "text"}),
                "text or pcap",
            )
            .query("since", i(), "only records after this sequence number")
            .query("call_id", s(), "only this Call-ID")
            .query("scenario", s(), "only this scenario name")
            .raw(
                200,
                &["text/plain", "application/vnd.tcpdump.pcap"],
                "the export",
            )
    }),
    ("GET", "/calls", || {
        op("gossipper server: finished calls, newest first (from calls.sqlite with -ui_data_dir)")
            .query(
                "limit",
                json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 200}),
                "rows at most",
            )
            .query(
                "offset",
                json!({"type": "integer", "minimum": 0, "default": 0}),
                "rows to skip",
            )
            .reply(
                200,
                "a page",
                obj(
                    &["calls", "total", "limit", "offset"],
                    json!({"calls": array(call_summary()), "total": i(), "limit": i(),
                       "offset": i(), "store": {"const": "calls.sqlite"}, "dropped": i()}),
                ),
            )
    }),
    ("GET", "/calls/{id}", || {
        op("gossipper server: one finished call (percent-encoded Call-ID) and its SIP records still in the ring")
            .reply(200, "the call", json!({"allOf": [call_summary(), obj(
                &["sip", "debug", "rtp"],
                json!({"sip": array(trace_record()), "debug": array(trace_record()),
                       "rtp": array(json!({"type": "object"}))}),
            )]}))
    }),
    ("POST", "/calls/clear", || {
        op("gossipper server: empties the catalogue (and calls.sqlite)").reply(
            200,
            "cleared",
            obj(
                &["calls", "cleared"],
                json!({"calls": array(call_summary()), "cleared": {"const": true}}),
            ),
        )
    }),
];
