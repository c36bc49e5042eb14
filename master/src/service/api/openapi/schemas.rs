//! The named schemas of the OpenAPI document (`components.schemas`): what the handlers'
//! `Serialize` types write and what their `Deserialize` request types accept.
//!
//! Owns: the JSON Schema (2020-12, as OpenAPI 3.1 uses it) of each reply and request
//! shape. A field is `required` only when the reply always carries it (an `Option`
//! serialized as `null` is required and nullable; a `skip_serializing_if` field is not
//! required). Request bodies whose type has `deny_unknown_fields` say
//! `additionalProperties: false`. Must not: describe routes (`ops` does).

use serde_json::{Map, Value, json};

/// `{"$ref": "#/components/schemas/NAME"}`.
pub(super) fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An object whose `required` keys are listed and whose other keys may appear.
pub(super) fn obj(required: &[&str], props: Value) -> Value {
    json!({"type": "object", "required": required, "properties": props})
}

/// A request object: unknown keys are refused (`deny_unknown_fields`).
pub(super) fn closed(required: &[&str], props: Value) -> Value {
    json!({"type": "object", "required": required, "properties": props,
           "additionalProperties": false})
}

pub(super) fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

const S: &str = "string";
const I: &str = "integer";

fn t(ty: &str) -> Value {
    json!({ "type": ty })
}

fn nullable(ty: &str) -> Value {
    json!({ "type": [ty, "null"] })
}

fn text_enum(words: &[&str]) -> Value {
    json!({"type": "string", "enum": words})
}

/// Every named schema.
pub(super) fn components() -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |name: &str, v: Value| {
        m.insert(name.to_string(), v);
    };
    put(
        "Error",
        obj(
            &["error"],
            json!({"error": {"type": S, "description": "What went wrong; names the field at fault for a 400."}}),
        ),
    );
    put("Role", text_enum(&["admin", "operator"]));
    put(
        "JobStatus",
        text_enum(&[
            "pending",
            "running",
            "stopping",
            "stopped",
            "succeeded",
            "failed",
        ]),
    );
    put(
        "ProfileKind",
        text_enum(&["server", "client", "tool", "gateway"]),
    );
    put(
        "Job",
        obj(
            &[
                "id",
                "profile_id",
                "profile_kind",
                "scenario_id",
                "status",
                "args_json",
                "artifacts_dir",
                "created_at",
                "started_at",
                "finished_at",
                "exit_code",
                "error",
                "created_by",
                "pid",
                "name",
                "notes",
            ],
            json!({
                "id": t(S), "profile_id": t(S), "profile_kind": r("ProfileKind"),
                "scenario_id": t(S), "status": r("JobStatus"),
                "args_json": {"type": S, "description": "The resolved request as JSON text (passwords masked)."},
                "artifacts_dir": t(S), "created_at": t(S),
                "started_at": nullable(S), "finished_at": nullable(S),
                "exit_code": nullable(I), "error": t(S), "created_by": t(S),
                "pid": nullable(I), "name": t(S), "notes": t(S),
            }),
        ),
    );
    put(
        "Artifact",
        obj(
            &["id", "job_id", "kind", "path", "size_bytes", "created_at"],
            json!({"id": t(I), "job_id": t(S), "kind": t(S), "path": t(S),
                   "size_bytes": t(I), "created_at": t(S)}),
        ),
    );
    put(
        "TransportSpec",
        json!({"type": "object", "additionalProperties": false, "properties": {
            "transport": t(S), "local_ip": t(S), "local_port": t(I), "enabled": t("boolean"),
            "tls_cert_file": t(S), "tls_key_file": t(S), "ws_path": t(S),
            "ice_servers": array(t(S)), "ice_username": t(S), "ice_credential": t(S),
            "ice_auth_secret": t(S), "ice_auth_ttl_sec": t(I), "ice_transport_policy": t(S),
            "prefers_pcma": t("boolean"),
        }}),
    );
    let common = [
        "id",
        "name",
        "description",
        "scenario_ref",
        "transports",
        "max_concurrent",
        "notes",
        "source",
        "created_at",
        "updated_at",
    ];
    let server_props = json!({
        "id": t(S), "name": t(S), "description": t(S), "scenario_ref": t(S),
        "transports": array(r("TransportSpec")), "max_concurrent": t(I), "notes": t(S),
        "source": t(S), "created_at": t(S), "updated_at": t(S),
    });
    let mut client_props = server_props.clone();
    if let Some(p) = client_props.as_object_mut() {
        p.insert("remote_ip".into(), t(S));
        p.insert("remote_port".into(), t(I));
        p.insert("rate".into(), t("number"));
        p.insert("duration_ms".into(), t(I));
    }
    let mut client_required: Vec<&str> = common.to_vec();
    client_required.extend(["remote_ip", "remote_port", "rate", "duration_ms"]);
    let gateway_props = json!({
        "id": t(S), "name": t(S), "enabled": t("boolean"), "domain": t(S),
        "addr": {"type": S, "description": "The registrar, host[:port] (5060); empty: domain."},
        "transport": {"type": S, "description": "udp only in this build."},
        "username": t(S),
        "password": {"type": S, "description": "Answered as \"***\"; on PUT, empty or \"***\" keeps the stored one."},
        "register_user": t(S), "register": t("boolean"), "advertised_ip": t(S),
        "local_ip": t(S), "register_expires": t(I),
        "keepalive_seconds": {"type": I, "description": "OPTIONS keep-alive period, s; -1: none."},
        "contact_port": t(I), "armed_scenario_id": t(S), "originate_scenario_id": t(S),
        "originate_to": t(S), "originate_calls": t(I), "notes": t(S),
        "created_at": t(S), "updated_at": t(S),
    });
    let gateway_required: Vec<&str> = gateway_props
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    put(
        "GatewayProfile",
        obj(&gateway_required, gateway_props.clone()),
    );
    put(
        "ListedGateway",
        json!({"allOf": [r("GatewayProfile"), obj(&["runtime"], json!({"runtime": r("Runtime")}))]}),
    );
    put("ServerProfile", obj(&common, server_props.clone()));
    put("ClientProfile", obj(&client_required, client_props.clone()));
    // Requests: every field has a default; `runtime` (from a GET) is accepted and ignored.
    let request = |mut props: Value| {
        if let Some(p) = props.as_object_mut() {
            p.insert("runtime".into(), json!({}));
        }
        closed(&[], props)
    };
    put("ServerProfileRequest", request(server_props));
    put("ClientProfileRequest", request(client_props));
    put("GatewayProfileRequest", request(gateway_props));
    put(
        "Runtime",
        obj(
            &[
                "status",
                "job_id",
                "pid",
                "started_at",
                "finished_at",
                "exit_code",
            ],
            json!({"status": t(S), "job_id": nullable(S), "pid": nullable(I),
                   "started_at": nullable(S), "finished_at": nullable(S), "exit_code": nullable(I)}),
        ),
    );
    put(
        "ListedServer",
        json!({"allOf": [r("ServerProfile"), obj(&["runtime"], json!({"runtime": r("Runtime")}))]}),
    );
    put(
        "ListedClient",
        json!({"allOf": [r("ClientProfile"), obj(&["runtime"], json!({"runtime": r("Runtime")}))]}),
    );
    let meta_props = json!({"id": t(S), "name": t(S), "description": t(S), "role": t(S),
        "tags": array(t(S)), "size_bytes": t(I), "created_at": t(S), "updated_at": t(S)});
    put(
        "ScenarioMeta",
        obj(
            &[
                "id",
                "name",
                "description",
                "role",
                "tags",
                "size_bytes",
                "created_at",
                "updated_at",
            ],
            meta_props,
        ),
    );
    put(
        "Scenario",
        obj(
            &["meta", "xml"],
            json!({"meta": r("ScenarioMeta"), "xml": t(S)}),
        ),
    );
    put(
        "HistoryEntry",
        obj(
            &["ts", "timestamp", "size_bytes", "meta"],
            json!({"ts": t(S), "timestamp": t(S), "size_bytes": t(I), "meta": r("ScenarioMeta")}),
        ),
    );
    put(
        "MediaAsset",
        obj(
            &["kind", "name", "size_bytes", "mod_time"],
            json!({"kind": text_enum(&["wav", "pcap"]), "name": t(S), "size_bytes": t(I),
                   "mod_time": t(S),
                   "audio": obj(&["sample_rate", "channels", "bits_per_sample"], json!({
                       "sample_rate": t(I), "channels": t(I), "bits_per_sample": t(I)})),
                   "warning": t(S)}),
        ),
    );
    put(
        "User",
        obj(
            &["id", "username", "role", "created_at"],
            json!({"id": t(I), "username": t(S), "role": r("Role"), "created_at": t(S)}),
        ),
    );
    put(
        "AuditEntry",
        obj(
            &[
                "id",
                "ts",
                "user_id",
                "username",
                "action",
                "target",
                "payload_json",
            ],
            json!({"id": t(I), "ts": t(S), "user_id": nullable(I), "username": t(S),
                   "action": t(S), "target": t(S), "payload_json": t(S)}),
        ),
    );
    put(
        "Report",
        obj(
            &[
                "job_id",
                "profile_kind",
                "profile_id",
                "job_status",
                "finished_at",
                "artifact",
                "name",
            ],
            json!({"job_id": t(S), "profile_kind": r("ProfileKind"), "profile_id": t(S),
                   "job_status": r("JobStatus"), "finished_at": nullable(S),
                   "artifact": r("Artifact"), "name": t(S)}),
        ),
    );
    put(
        "Tool",
        obj(
            &[
                "id",
                "title",
                "summary",
                "args_schema",
                "example_args",
                "available",
            ],
            json!({"id": t(S), "title": t(S), "summary": t(S),
                   "args_schema": {"type": "object", "description": "argument name → \"type — meaning\"",
                                   "additionalProperties": t(S)},
                   "example_args": t("object"), "available": t("boolean"),
                   "reason": {"type": "string", "description": "when available is false: what is missing on this machine"}}),
        ),
    );
    put(
        "LiveFrame",
        obj(
            &["ts", "jobs", "counts", "running"],
            json!({
                "ts": t(S),
                "jobs": array(obj(
                    &["id", "status", "profile_id", "profile_kind", "scenario_id", "pid",
                      "started_at", "finished_at", "exit_code", "error"],
                    json!({"id": t(S), "status": r("JobStatus"), "profile_id": t(S),
                           "profile_kind": r("ProfileKind"), "scenario_id": t(S),
                           "pid": nullable(I), "started_at": nullable(S),
                           "finished_at": nullable(S), "exit_code": nullable(I), "error": t(S),
                           "stats": {"type": "object", "description": "The running job's latest per-second stats line."}}),
                )),
                "counts": {"type": "object", "description": "jobs by status", "additionalProperties": t(I)},
                "running": t(I),
            }),
        ),
    );
    put("EngineOverrides", engine_overrides());
    m
}

/// `engine` of a job request: every field optional, `null` = not given.
fn engine_overrides() -> Value {
    let n = |ty: &str| nullable(ty);
    closed(
        &[],
        json!({
            "transport": n(S), "local_ip": n(S), "local_port": n(I), "remote_host": n(S),
            "remote_port": n(I), "rate": n("number"), "max_concurrent": n(I),
            "total_calls": {"type": [I, "null"], "description": "0 runs until stopped"},
            "global_timeout_ms": n(I), "sip_from": n(S), "sip_pai": n(S), "sip_provider": n(S),
            "health_min_success_ratio": n("number"), "health_max_failed_calls": n(I),
            "health_max_timeouts": n(I), "auth_username": n(S), "auth_password": n(S),
            "service": n(S), "call_duration_ms": n(I), "shards": n(I), "seed": n(I),
            "thresholds": {"type": ["array", "null"], "items": t(S)},
        }),
    )
}
