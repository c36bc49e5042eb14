//! `gossipper server -config <flat.json>` and `gossipper -config <file.json> [-run-alias
//! NAME]`: the Go gossipper's run-profile JSON (reference §1.2), a flat object or one of
//! its `aliases`, turned into the flags it stands for.
//!
//! Owns: the table of keys we take and what flag each becomes, the composite ("hybrid")
//! keys of `gossipper server -config` (`server{…, listeners[]}`, top-level
//! `listeners[]`, `clients[]`, `client`, `auth{}`, `gateway{}` or `gateways[]`:
//! [`Composite`]), and the refusal of every other key, named: the
//! composite keys not built (`aliases` and `workloads` here),
//! the composite keys on the root command, the features gossipper does
//! not have (`hep_*`, `log_otel_*`, …) and unknown keys. Must not: interpret a value
//! (the flags go through the same scanner and resolver as the command line, so a bad
//! value gets the flag's own error; a client goes through the dynamic clients' checks)
//! or read anything but the one file.
//!
//! Merge order, as in the Go gossipper: the file's keys, then its `extra_args`, then the
//! real command line; for a flag that takes one value the last one wins.

use std::path::Path;

use serde_json::Value;

/// The largest file read.
const MAX_BYTES: u64 = 1 << 20;

/// How a key's value becomes flags.
#[derive(Clone, Copy)]
enum Shape {
    /// `-flag value` (a string or a number).
    Value(&'static str),
    /// `-flag path`, a relative path taken from the JSON file's folder.
    Path(&'static str),
    /// `-flag` when true, nothing when false (the default is off).
    Switch(&'static str),
    /// The bare remote `host[:port]` argument.
    Remote,
    /// An array of strings: `-flag item` for each.
    Each(&'static str),
    /// `-flag=true` or `-flag=false` (a Go bool flag whose default is on).
    Bool(&'static str),
}

/// Every key we take.
const KEYS: &[(&str, Shape)] = &[
    ("scenario_file", Shape::Path("sf")),
    ("scenario_name", Shape::Value("sn")),
    ("service", Shape::Value("s")),
    ("transport", Shape::Value("t")),
    ("local_ip", Shape::Value("i")),
    ("local_port", Shape::Value("p")),
    ("remote_addr", Shape::Remote),
    ("auth_username", Shape::Value("au")),
    ("auth_password", Shape::Value("ap")),
    ("rate", Shape::Value("r")),
    ("max_concurrent", Shape::Value("l")),
    ("total_calls", Shape::Value("m")),
    ("users", Shape::Value("users")),
    ("summary_json", Shape::Value("summary_json")),
    ("summary_html", Shape::Value("summary_html")),
    ("record_wav_dir", Shape::Value("record_wav_dir")),
    ("record_wav_duplex", Shape::Switch("record_wav_duplex")),
    ("call_records_jsonl", Shape::Value("call_records_jsonl")),
    ("sip_from", Shape::Value("sip_from")),
    ("sip_pai", Shape::Value("sip_pai")),
    ("sip_provider", Shape::Value("sip_provider")),
    ("trace_msg", Shape::Switch("trace_msg")),
    ("stat_period", Shape::Value("stat_period")),
    ("injection_file", Shape::Path("inf")),
    ("ip_field", Shape::Value("ip_field")),
    (
        "health_min_success_ratio",
        Shape::Value("health_min_success_ratio"),
    ),
    (
        "health_max_failed_calls",
        Shape::Value("health_max_failed_calls"),
    ),
    ("health_max_timeouts", Shape::Value("health_max_timeouts")),
    (
        "health_max_rtcp_fraction_lost",
        Shape::Value("health_max_rtcp_fraction_lost"),
    ),
    (
        "health_max_rtcp_jitter_ts",
        Shape::Value("health_max_rtcp_jitter_ts"),
    ),
    (
        "health_min_rtp_packets_recv",
        Shape::Value("health_min_rtp_packets_recv"),
    ),
    (
        "health_min_rtp_packets_recv_per_call",
        Shape::Value("health_min_rtp_packets_recv_per_call"),
    ),
    ("hep_addr", Shape::Value("hep_addr")),
    ("hep_capture_id", Shape::Value("hep_capture_id")),
    ("hep_password", Shape::Value("hep_password")),
    ("send_media_report", Shape::Switch("send_media_report")),
    ("hep_homer_lake_rtcp", Shape::Switch("hep_homer_lake_rtcp")),
    ("pcap_link", Shape::Value("pcap-link")),
    ("sip_extra_headers", Shape::Each("sip_extra_header")),
    ("api_addr", Shape::Value("api_addr")),
    ("api_token", Shape::Value("api_token")),
    ("ui_data_dir", Shape::Value("ui_data_dir")),
    (
        "scenario_history_keep",
        Shape::Value("scenario_history_keep"),
    ),
    ("legacy_api_v1", Shape::Bool("legacy_api_v1")),
];

/// The composite keys `gossipper server -config` takes (several engines).
const COMPOSITE: &[&str] = &["server", "clients", "client", "listeners"];

/// The composite keys not built yet, refused by name everywhere.
const NOT_BUILT: &[&str] = &["gateway", "gateways", "auth", "aliases", "workloads"];
// (`gateway`, `gateways` and `auth` are taken at the top of a `gossipper server
// -config` file, which removes them before the flat keys are read.)

/// The keys of one `listeners[]` row (a scenario of its own: not on the first row).
const LISTENER_KEYS: &[&str] = &[
    "transport",
    "local_ip",
    "local_port",
    "scenario_name",
    "scenario_file",
];

/// What a `listeners[]` row sets of the primary engine (its first row).
const LISTENER_FLAGS: &[(&str, &str)] =
    &[("transport", "t"), ("local_ip", "i"), ("local_port", "p")];

/// One `listeners[]` row: a SIP listener of the server (the first is the primary
/// engine's; each other one is an engine of its own running the server's scenario, or
/// the row's own).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ListenerRow {
    pub(super) transport: String,
    pub(super) local_ip: Option<String>,
    pub(super) local_port: String,
    /// `scenario_name` or `scenario_file` (taken from the file's folder): the row's own
    /// scenario instead of the server's.
    pub(super) scenario: Option<RowScenario>,
}

/// A listener row's own scenario.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum RowScenario {
    /// A built-in's name (`scenario_name`).
    Name(String),
    /// An XML file (`scenario_file`, from the file's folder).
    File(std::path::PathBuf),
}

/// One `clients[]` entry: a UAC engine started with the server, as a dynamic client.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ClientDef {
    /// `id` (else the server numbers it `client-N`).
    pub(super) id: Option<String>,
    /// The other keys: a dynamic client's snippet.
    pub(super) snippet: serde_json::Map<String, Value>,
    /// Where the entry is, for errors (`clients[1]`).
    pub(super) place: String,
}

/// A composite `gossipper server -config` file: the primary engine's flags, its extra
/// listeners and the clients started with it.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Composite {
    pub(super) flags: Vec<String>,
    /// The rows after the first (the first is in `flags`).
    pub(super) listeners: Vec<ListenerRow>,
    pub(super) clients: Vec<ClientDef>,
    /// The file's folder: relative paths of clients are taken from it.
    pub(super) dir: std::path::PathBuf,
    /// `auth{type, sqlite_path, jwt_secret}` (with `ui_data_dir`).
    pub(super) auth: Option<AuthConf>,
    /// `gateway{}` or `gateways[]`: the REGISTER gateway accounts the server keeps
    /// registered from its UDP listeners, as the JSON objects given.
    pub(super) gateways: Vec<GatewayDef>,
}

/// A gateway account of a `-config` file, checked by the server (it is a gateway
/// profile's fields, and `listener`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct GatewayDef {
    /// Where it is, for errors (`gateway`, `gateways[1]`).
    pub(super) place: String,
    /// `listener`: the index in `listeners[]` of the listener it registers from (0, the
    /// first and the default, is the primary engine's).
    pub(super) listener: usize,
    /// The gateway profile's fields (without `listener`).
    pub(super) value: Value,
}

/// `gateway{}` or `gateways[]`, each entry an object whose `listener` (if given) names
/// one of the `rows` listeners by its index in `listeners[]`.
fn gateway_defs(
    gateway: Option<Value>,
    gateways: Option<Value>,
    rows: usize,
) -> Result<Vec<GatewayDef>, String> {
    let entries: Vec<(String, Value)> = match (gateway, gateways) {
        (Some(_), Some(_)) => {
            return Err("gateway and gateways: give the gateway accounts once".into());
        }
        (Some(v), None) => vec![("gateway".into(), v)],
        (None, Some(Value::Array(items))) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("gateways[{i}]"), v))
            .collect(),
        (None, Some(v)) => return Err(format!("gateways: {v} is not an array of gateway objects")),
        (None, None) => return Ok(Vec::new()),
    };
    entries
        .into_iter()
        .map(|(place, v)| {
            let Value::Object(mut o) = v else {
                return Err(format!(
                    "{place}: {v} is not a JSON object of gateway profile fields"
                ));
            };
            let listener = match o.remove("listener") {
                None => 0,
                Some(n) => match n.as_u64() {
                    Some(i) if (i as usize) < rows => i as usize,
                    _ => {
                        return Err(format!(
                            "{place}.listener: {n} is not a listener of this server (the index in listeners[]: {})",
                            if rows == 1 {
                                "0, the server's one listener".to_string()
                            } else {
                                format!("0 to {}", rows - 1)
                            }
                        ));
                    }
                },
            };
            Ok(GatewayDef {
                place,
                listener,
                value: Value::Object(o),
            })
        })
        .collect()
}

/// `auth{}`: where `ui_data_dir`'s users live and what signs their tokens.
#[derive(Debug, Default, PartialEq)]
pub(super) struct AuthConf {
    /// `sqlite_path` (relative to the file's folder): the settings database.
    pub(super) sqlite_path: Option<std::path::PathBuf>,
    pub(super) jwt_secret: Option<String>,
}

/// The keys of `auth{}`.
const AUTH_KEYS: &[&str] = &["type", "sqlite_path", "jwt_secret"];

/// `auth{}`'s keys, checked: `type` is `internal` (the only kind of users there is).
fn auth_conf(v: &Value, dir: &Path) -> Result<AuthConf, String> {
    let Value::Object(o) = v else {
        return Err(format!(
            "auth: {v} is not an object {{type, sqlite_path, jwt_secret}}"
        ));
    };
    if let Some(k) = o.keys().find(|k| !AUTH_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "auth.{k}: unknown key (auth takes {})",
            AUTH_KEYS.join(", ")
        ));
    }
    let text = |k: &str| -> Result<Option<String>, String> {
        match o.get(k) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(v) => Err(format!("auth.{k}: {v} is not a non-empty string")),
        }
    };
    if let Some(t) = text("type")?
        && t != "internal"
    {
        return Err(format!(
            "auth.type: \"{t}\" is not taken (only \"internal\": the users of ui_data_dir; a shared token is -api_token)"
        ));
    }
    Ok(AuthConf {
        sqlite_path: text("sqlite_path")?.map(|p| dir.join(p)),
        jwt_secret: text("jwt_secret")?,
    })
}

/// Keys of Go gossipper features gossipper does not have (a prefix ends with `_`).
const UNSUPPORTED: &[&str] = &["hep_", "log_otel_"];

/// `role`'s accepted values (management or load: in gossipper the scenario decides
/// whether the one engine answers or places calls).
const ROLES: &[&str] = &["management", "server", "load", "client", "uac"];

/// Reads `path` (a flat or composite profile of `gossipper server -config`).
pub(super) fn composite_of_file(path: &Path) -> Result<Composite, String> {
    let text = read(path)?;
    let dir = path.parent().unwrap_or(Path::new(""));
    composite_of(&text, dir).map_err(|e| format!("-config {}: {e}", path.display()))
}

/// A flat or composite profile: the top-level flat keys, then the `server` object's
/// (which win), then the first listener's; the other listeners and the clients apart.
pub(super) fn composite_of(text: &[u8], dir: &Path) -> Result<Composite, String> {
    let value: Value = serde_json::from_slice(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(mut map) = value else {
        return Err("the file must hold one JSON object of run-profile keys".into());
    };
    let server = match map.remove("server") {
        None => None,
        Some(Value::Object(o)) => Some(o),
        Some(v) => return Err(format!("server: {v} is not a JSON object")),
    };
    let top_listeners = map.remove("listeners");
    let clients = map.remove("clients");
    let client = map.remove("client");
    let auth = map.remove("auth").map(|v| auth_conf(&v, dir)).transpose()?;
    let (gateway, gateways) = (map.remove("gateway"), map.remove("gateways"));
    let mut out = Composite {
        flags: flags_of_map(&map, dir, "")?,
        dir: dir.to_path_buf(),
        auth,
        ..Composite::default()
    };
    let mut rows = None;
    if let Some(v) = top_listeners {
        rows = Some(("listeners", v));
    }
    let mut primary_keys: Vec<String> = map.keys().cloned().collect();
    if let Some(mut server) = server {
        match server.remove("id") {
            None | Some(Value::String(_)) => {}
            Some(v) => return Err(format!("server.id: {v} is not a string")),
        }
        if let Some(v) = server.remove("listeners") {
            if rows.is_some() {
                return Err(
                    "listeners and server.listeners: give the server's listeners once".into(),
                );
            }
            rows = Some(("server.listeners", v));
        }
        primary_keys.extend(server.keys().cloned());
        out.flags.extend(flags_of_map(&server, dir, "server.")?);
    }
    if let Some((name, v)) = rows {
        let mut rows = listener_rows(name, &v, dir)?;
        if let Some(k) = primary_keys
            .iter()
            .find(|k| LISTENER_FLAGS.iter().any(|(key, _)| key == k))
        {
            return Err(format!(
                "{k} and {name}: the listeners set the server's transport, local_ip and local_port; give them once"
            ));
        }
        let first = rows.remove(0);
        if first.scenario.is_some() {
            return Err(format!(
                "{name}[0]: the first listener is the server's own engine: its scenario is the server's (scenario_name / scenario_file); a scenario of its own is for the rows after it"
            ));
        }
        out.flags.extend(["-t".into(), first.transport]);
        if let Some(ip) = first.local_ip {
            out.flags.extend(["-i".into(), ip]);
        }
        out.flags.extend(["-p".into(), first.local_port]);
        out.listeners = rows;
    }
    out.gateways = gateway_defs(gateway, gateways, out.listeners.len() + 1)?;
    let mut entries = Vec::new();
    match clients {
        None => {}
        Some(Value::Array(items)) => {
            entries.extend(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (format!("clients[{i}]"), v)),
            );
        }
        Some(v) => return Err(format!("clients: {v} is not an array of client objects")),
    }
    if let Some(v) = client {
        entries.push(("client".into(), v));
    }
    for (place, v) in entries {
        let Value::Object(mut snippet) = v else {
            return Err(format!("{place}: not a JSON object of run-profile keys"));
        };
        let id = match snippet.remove("id") {
            None => None,
            Some(Value::String(id)) if valid_id(&id) => Some(id),
            Some(v) => {
                return Err(format!(
                    "{place}.id: {v} is not 1 to 64 characters of A-Z a-z 0-9 . _ -"
                ));
            }
        };
        if let Some(id) = &id
            && out
                .clients
                .iter()
                .any(|c| c.id.as_deref() == Some(id.as_str()))
        {
            return Err(format!("{place}.id: \"{id}\" is given twice"));
        }
        out.clients.push(ClientDef { id, snippet, place });
    }
    Ok(out)
}

/// An engine id a client may be given (`primary` is the server's own).
pub(super) fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id != "primary"
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The rows of `listeners[]`: each `{transport, local_ip?, local_port, scenario_name? |
/// scenario_file?}`, at least one (a `scenario_file` is taken from `dir`).
fn listener_rows(name: &str, v: &Value, dir: &Path) -> Result<Vec<ListenerRow>, String> {
    let Value::Array(items) = v else {
        return Err(format!("{name}: {v} is not an array of listener objects"));
    };
    if items.is_empty() {
        return Err(format!(
            "{name}: empty (give at least one listener, or leave the key out)"
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let place = format!("{name}[{i}]");
            let Value::Object(o) = item else {
                return Err(format!(
                    "{place}: not an object {{transport, local_ip, local_port}}"
                ));
            };
            if let Some(k) = o.keys().find(|k| !LISTENER_KEYS.contains(&k.as_str())) {
                return Err(format!(
                    "{place}.{k}: unknown key (a listener takes {})",
                    LISTENER_KEYS.join(", ")
                ));
            }
            let field = |k: &str| -> Result<Option<String>, String> {
                o.get(k)
                    .map(|v| scalar(&format!("{place}.{k}"), v))
                    .transpose()
            };
            let scenario = match (field("scenario_name")?, field("scenario_file")?) {
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "{place}: scenario_name and scenario_file: give the row's scenario once"
                    ));
                }
                (Some(n), None) => Some(RowScenario::Name(n)),
                (None, Some(f)) => Some(RowScenario::File(dir.join(f))),
                (None, None) => None,
            };
            Ok(ListenerRow {
                transport: field("transport")?
                    .ok_or_else(|| format!("{place}.transport: missing (u1, t1, l1, w1, ...)"))?,
                local_ip: field("local_ip")?,
                local_port: field("local_port")?
                    .ok_or_else(|| format!("{place}.local_port: missing"))?,
                scenario,
            })
        })
        .collect()
}

/// The root command's `-config FILE [-run-alias NAME]`: the alias's flags, or those of
/// the flat object when no alias is named (a file of aliases then asks for one).
pub(crate) fn run_profile_flags(path: &Path, alias: Option<&str>) -> Result<Vec<String>, String> {
    let name = path.display();
    let dir = path.parent().unwrap_or(Path::new(""));
    let aliases = aliases(path)?;
    match (alias, aliases) {
        (Some(a), Some(map)) => {
            let Some(obj) = map.get(a) else {
                let names: Vec<&str> = map.keys().map(String::as_str).collect();
                return Err(format!(
                    "-run-alias {a}: no such alias in {name} (it has: {})",
                    names.join(", ")
                ));
            };
            let Value::Object(obj) = obj else {
                return Err(format!("-config {name}: aliases.{a} is not a JSON object"));
            };
            flags_of_map(obj, dir, "").map_err(|e| format!("-config {name}, alias {a}: {e}"))
        }
        (Some(a), None) => Err(format!(
            "-run-alias {a}: {name} holds no \"aliases\" object (a flat profile is used without -run-alias)"
        )),
        (None, Some(map)) => Err(format!(
            "-config {name} holds aliases ({}): pick one with -run-alias NAME",
            map.keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        (None, None) => {
            let text = read(path)?;
            flags_of(&text, dir).map_err(|e| format!("-config {name}: {e}"))
        }
    }
}

/// The alias names of a run-profile file, in file order (`-list-aliases`).
pub(crate) fn alias_names(path: &Path) -> Result<Vec<String>, String> {
    Ok(aliases(path)?
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default())
}

/// The file's `aliases` object, if it has one.
fn aliases(path: &Path) -> Result<Option<serde_json::Map<String, Value>>, String> {
    let text = read(path)?;
    let value: Value = serde_json::from_slice(&text)
        .map_err(|e| format!("-config {}: not JSON: {e}", path.display()))?;
    match value {
        Value::Object(mut map) => match map.remove("aliases") {
            None => Ok(None),
            Some(Value::Object(a)) => Ok(Some(a)),
            Some(_) => Err(format!(
                "-config {}: \"aliases\" must be an object of name: profile",
                path.display()
            )),
        },
        _ => Err(format!(
            "-config {}: the file must hold one JSON object",
            path.display()
        )),
    }
}

/// The file's bytes, at most [`MAX_BYTES`].
fn read(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let name = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("-config {name}: {e}"))?;
    let mut text = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("-config {name}: {e}"))?;
    if text.len() as u64 > MAX_BYTES {
        return Err(format!(
            "-config {name}: larger than {} KiB",
            MAX_BYTES >> 10
        ));
    }
    Ok(text)
}

/// The flags of a flat JSON object; relative paths are taken from `dir`. Composite
/// keys are refused (only `gossipper server -config` takes them: [`composite_of`]).
pub(super) fn flags_of(text: &[u8], dir: &Path) -> Result<Vec<String>, String> {
    let value: Value = serde_json::from_slice(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("the file must hold one JSON object of run-profile keys".into());
    };
    flags_of_map(&map, dir, "")
}

/// The flags of one flat profile object (a dynamic client's snippet).
pub(super) fn flags_of_object(
    map: &serde_json::Map<String, Value>,
    dir: &Path,
) -> Result<Vec<String>, String> {
    flags_of_map(map, dir, "")
}

/// The flags of one profile object (`at`: where it is, `server.` or empty, for errors).
fn flags_of_map(
    map: &serde_json::Map<String, Value>,
    dir: &Path,
    at: &str,
) -> Result<Vec<String>, String> {
    let composite: Vec<String> = map
        .keys()
        .filter(|k| COMPOSITE.contains(&k.as_str()))
        .map(|k| format!("{at}{k}"))
        .collect();
    if !composite.is_empty() {
        return Err(format!(
            "{}: a composite key, taken only at the top of a gossipper server -config file (server.listeners too)",
            composite.join(", ")
        ));
    }
    let not_built: Vec<String> = map
        .keys()
        .filter(|k| NOT_BUILT.contains(&k.as_str()))
        .map(|k| format!("{at}{k}"))
        .collect();
    if !not_built.is_empty() {
        return Err(format!(
            "not taken here: {} (several workloads and aliases in a server file are not built; gateway{{}}, gateways[] and auth{{}} are taken at the top of a gossipper server -config file)",
            not_built.join(", ")
        ));
    }
    let unsupported: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !KEYS.iter().any(|(key, _)| key == k))
        .filter(|k| {
            UNSUPPORTED.iter().any(|u| {
                if u.ends_with('_') {
                    k.starts_with(u)
                } else {
                    k == u
                }
            })
        })
        .collect();
    if !unsupported.is_empty() {
        return Err(format!(
            "not supported by gossipper: {}",
            unsupported.join(", ")
        ));
    }
    let mut out = Vec::new();
    let mut extra = Vec::new();
    for (key, value) in map {
        if key == "extra_args" {
            extra = extra_args(value)?;
            continue;
        }
        if key == "role" {
            match value.as_str() {
                Some(r) if ROLES.contains(&r) => continue,
                _ => {
                    return Err(format!(
                        "{at}role: {value} is not one of {}",
                        ROLES.join(", ")
                    ));
                }
            }
        }
        let Some((_, shape)) = KEYS.iter().find(|(k, _)| k == key) else {
            return Err(format!(
                "unknown key \"{at}{key}\" (the keys taken: {}, role, extra_args)",
                KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
            ));
        };
        match *shape {
            Shape::Value(flag) => {
                out.push(format!("-{flag}"));
                out.push(scalar(&format!("{at}{key}"), value)?);
            }
            Shape::Path(flag) => {
                out.push(format!("-{flag}"));
                out.push(
                    dir.join(scalar(&format!("{at}{key}"), value)?)
                        .display()
                        .to_string(),
                );
            }
            Shape::Switch(flag) => match value {
                Value::Bool(true) => out.push(format!("-{flag}")),
                Value::Bool(false) => {}
                _ => return Err(format!("{at}{key}: {value} is not true or false")),
            },
            Shape::Bool(flag) => match value {
                Value::Bool(b) => out.push(format!("-{flag}={b}")),
                _ => return Err(format!("{at}{key}: {value} is not true or false")),
            },
            Shape::Remote => out.push(scalar(&format!("{at}{key}"), value)?),
            Shape::Each(flag) => {
                let Value::Array(items) = value else {
                    return Err(format!("{at}{key} must be an array of strings"));
                };
                for item in items {
                    out.push(format!("-{flag}"));
                    out.push(scalar(&format!("{at}{key}"), item)?);
                }
            }
        }
    }
    out.extend(extra);
    Ok(out)
}

/// A string or a number, as the flag's text.
fn scalar(key: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!(
            "{key}: {value} is not a non-empty string or a number"
        )),
    }
}

/// `extra_args`: an array of strings, taken as command-line arguments.
fn extra_args(value: &Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err("extra_args must be an array of strings".into());
    };
    items
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(format!("extra_args: {v} is not a string")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(json: &str) -> Result<Vec<String>, String> {
        flags_of(json.as_bytes(), Path::new("/profiles"))
    }

    #[test]
    fn flat_keys_become_flags_in_file_then_extra_args_order() {
        let got = flags(
            r#"{"scenario_file":"uas.xml","local_port":5070,"rate":2.5,"trace_msg":true,
                "record_wav_duplex":false,"remote_addr":"10.0.0.1:5060","role":"server",
                "extra_args":["-trace_stat"],"api_token":"t0k"}"#,
        )
        .unwrap();
        let has = |a: &[&str]| got.windows(a.len()).any(|w| w == a);
        assert!(has(&["-sf", "/profiles/uas.xml"]), "{got:?}");
        assert!(has(&["-p", "5070"]) && has(&["-r", "2.5"]), "{got:?}");
        assert!(has(&["-api_token", "t0k"]) && has(&["10.0.0.1:5060"]));
        assert!(got.contains(&"-trace_msg".to_string()));
        assert!(!got.contains(&"-record_wav_duplex".to_string()));
        assert_eq!(got.last().map(String::as_str), Some("-trace_stat"));
    }

    fn composite(json: &str) -> Result<Composite, String> {
        composite_of(json.as_bytes(), Path::new("/profiles"))
    }

    #[test]
    fn composite_keys_become_the_primary_its_listeners_and_clients() {
        let c = composite(
            r#"{"api_addr":"127.0.0.1:8080","ui_data_dir":"/d","legacy_api_v1":false,
                "scenario_history_keep":5,
                "server":{"id":"s","role":"server","scenario_name":"uas",
                  "listeners":[{"transport":"u1","local_ip":"127.0.0.1","local_port":5070},
                               {"transport":"t1","local_port":5071}]},
                "clients":[{"id":"c1","remote_addr":"127.0.0.1:5071","scenario_file":"a.xml"}],
                "client":{"remote_addr":"127.0.0.1:5070"}}"#,
        )
        .unwrap();
        let has = |a: &[&str]| c.flags.windows(a.len()).any(|w| w == a);
        assert!(has(&["-api_addr", "127.0.0.1:8080"]), "{:?}", c.flags);
        assert!(has(&["-ui_data_dir", "/d"]) && has(&["-scenario_history_keep", "5"]));
        assert!(c.flags.contains(&"-legacy_api_v1=false".to_string()));
        assert!(has(&["-sn", "uas"]));
        assert!(
            has(&["-t", "u1", "-i", "127.0.0.1", "-p", "5070"]),
            "{:?}",
            c.flags
        );
        assert_eq!(
            c.listeners,
            [ListenerRow {
                transport: "t1".into(),
                local_ip: None,
                local_port: "5071".into(),
                scenario: None,
            }]
        );
        assert_eq!(c.clients.len(), 2);
        assert_eq!(c.clients[0].id.as_deref(), Some("c1"));
        assert_eq!(c.clients[0].place, "clients[0]");
        assert!(!c.clients[0].snippet.contains_key("id"));
        assert_eq!(
            (c.clients[1].id.as_deref(), c.clients[1].place.as_str()),
            (None, "client")
        );
        assert_eq!(c.gateways, []);
    }

    #[test]
    fn a_gateway_object_or_a_gateways_array_is_kept_for_the_server() {
        let c = composite_of(br#"{"gateway":{"domain":"d"}}"#, Path::new("")).unwrap();
        let [g] = c.gateways.as_slice() else {
            panic!("{:?}", c.gateways)
        };
        assert_eq!(
            (g.place.as_str(), g.listener, &g.value["domain"]),
            ("gateway", 0, &Value::from("d"))
        );
        let c = composite_of(br#"{"gateways":[{"domain":"d"}]}"#, Path::new("")).unwrap();
        assert_eq!(c.gateways[0].place, "gateways[0]");
        let c = composite_of(br#"{"gateways":[]}"#, Path::new("")).unwrap();
        assert_eq!(c.gateways, []);
        assert!(c.flags.is_empty());
        // Several accounts, each on the listener its `listener` names (taken out of the
        // profile's fields); a row with a scenario of its own.
        let c = composite(
            r#"{"scenario_name":"uas",
                "listeners":[{"transport":"u1","local_port":5070},
                             {"transport":"u1","local_port":5071,"scenario_file":"busy.xml"}],
                "gateways":[{"username":"a"},{"username":"b","listener":1}]}"#,
        )
        .unwrap();
        let got: Vec<_> = c
            .gateways
            .iter()
            .map(|g| {
                (
                    g.place.as_str(),
                    g.listener,
                    g.value.get("listener").is_none(),
                )
            })
            .collect();
        assert_eq!(got, [("gateways[0]", 0, true), ("gateways[1]", 1, true)]);
        assert_eq!(
            c.listeners[0].scenario,
            Some(RowScenario::File("/profiles/busy.xml".into()))
        );
    }

    #[test]
    fn composite_keys_that_are_wrong_or_not_built_are_refused_by_name() {
        for (json, names) in [
            (r#"{"gateway":[]}"#, "gateway: [] is not a JSON object"),
            (
                r#"{"gateway":{},"gateways":[]}"#,
                "give the gateway accounts once",
            ),
            (
                r#"{"gateways":[{},{"listener":1}]}"#,
                "gateways[1].listener: 1 is not a listener of this server (the index in listeners[]: 0, the server's one listener)",
            ),
            (
                r#"{"listeners":[{"transport":"u1","local_port":1},{"transport":"u1","local_port":2}],
                    "gateways":[{"listener":"listener-1"}]}"#,
                "gateways[0].listener: \"listener-1\" is not a listener of this server (the index in listeners[]: 0 to 1)",
            ),
            (
                r#"{"gateways":[{},7]}"#,
                "gateways[1]: 7 is not a JSON object",
            ),
            (
                r#"{"listeners":[{"transport":"u1","local_port":1,"scenario_name":"uas"}]}"#,
                "listeners[0]: the first listener is the server's own engine",
            ),
            (
                r#"{"listeners":[{"transport":"u1","local_port":1},
                    {"transport":"u1","local_port":2,"scenario_name":"uas","scenario_file":"a.xml"}]}"#,
                "listeners[1]: scenario_name and scenario_file",
            ),
            (r#"{"gateways":{}}"#, "gateways: {} is not an array"),
            (r#"{"auth":{"type":"none"}}"#, "auth.type"),
            (r#"{"auth":{"sqlite":"x"}}"#, "auth.sqlite"),
            (r#"{"auth":{"jwt_secret":7}}"#, "auth.jwt_secret"),
            (r#"{"server":{"auth":{}}}"#, "server.auth"),
            (r#"{"server":{"gateways":[]}}"#, "server.gateways"),
            (r#"{"server":{"clients":[]}}"#, "server.clients"),
            (r#"{"server":[]}"#, "server:"),
            (r#"{"listeners":[]}"#, "listeners: empty"),
            (
                r#"{"listeners":[{"transport":"u1"}]}"#,
                "listeners[0].local_port",
            ),
            (
                r#"{"listeners":[{"transport":"u1","local_port":1,"x":2}]}"#,
                "listeners[0].x",
            ),
            (
                r#"{"local_port":5,"listeners":[{"transport":"u1","local_port":1}]}"#,
                "local_port and listeners",
            ),
            (
                r#"{"listeners":[{"transport":"u1","local_port":1}],"server":{"listeners":[]}}"#,
                "give the server's listeners once",
            ),
            (r#"{"clients":[1]}"#, "clients[0]"),
            (r#"{"clients":[{"id":"primary"}]}"#, "clients[0].id"),
            (r#"{"clients":[{"id":"a"},{"id":"a"}]}"#, "clients[1].id"),
            (r#"{"server":{"rate":"x","speed":1}}"#, "server.speed"),
        ] {
            let e = composite(json).unwrap_err();
            assert!(e.contains(names), "{json}: {e}");
        }
        // The root command's -config takes none of them.
        let e = flags(r#"{"server":{"id":"a"},"clients":[],"rate":1}"#).unwrap_err();
        assert!(e.contains("server") && e.contains("clients"), "{e}");
        assert!(e.contains("composite"), "{e}");
    }

    #[test]
    fn unsupported_unknown_and_ill_typed_keys_are_refused_by_name() {
        let e = flags(r#"{"hep_raw_rtcp":false}"#).unwrap_err();
        assert!(
            e.contains("hep_raw_rtcp") && e.contains("not supported"),
            "{e}"
        );
        let ok = flags(r#"{"hep_addr":"1.2.3.4:9060","send_media_report":true}"#).unwrap();
        assert_eq!(ok, ["-hep_addr", "1.2.3.4:9060", "-send_media_report"]);
        let e = flags(r#"{"rate_limit":3}"#).unwrap_err();
        assert!(e.contains("rate_limit"), "{e}");
        let e = flags(r#"{"rate":true}"#).unwrap_err();
        assert!(e.starts_with("rate:"), "{e}");
        let e = flags(r#"{"trace_msg":"yes"}"#).unwrap_err();
        assert!(e.starts_with("trace_msg:"), "{e}");
        let e = flags(r#"{"role":"gateway"}"#).unwrap_err();
        assert!(e.starts_with("role:"), "{e}");
        assert!(flags("[1]").is_err());
        assert!(flags("{").is_err());
        assert!(flags(r#"{"extra_args":[1]}"#).is_err());
        let ok = flags(r#"{"sip_extra_headers":["X-A: 1","X-B: 2"]}"#).unwrap();
        assert_eq!(
            ok,
            ["-sip_extra_header", "X-A: 1", "-sip_extra_header", "X-B: 2"]
        );
        let e = flags(r#"{"sip_extra_headers":"X-A: 1"}"#).unwrap_err();
        assert!(e.starts_with("sip_extra_headers must be an array"), "{e}");
    }
}
