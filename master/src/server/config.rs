//! `gossipper server -config <flat.json>` and `gossipper -config <file.json> [-run-alias
//! NAME]`: the Go gossipper's run-profile JSON (reference §1.2), a flat object or one of
//! its `aliases`, turned into the flags it stands for.
//!
//! Owns: the table of keys we take and what flag each becomes, and the refusal of every
//! other key, named: the composite keys of a multi-engine server (`server`, `clients`,
//! `listeners`, `gateway`, …: issue #18, not built yet), the features gossipper does not
//! have (`hep_*`, `log_otel_*`, …) and unknown keys. Must not: interpret a value (the
//! flags go through the same scanner and resolver as the command line, so a bad value
//! gets the flag's own error) or read anything but the one file.
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
];

/// The composite ("hybrid") keys: several engines, listeners, a gateway, /api/v2.
const COMPOSITE: &[&str] = &[
    "server",
    "clients",
    "client",
    "listeners",
    "gateway",
    "gateways",
    "ui_data_dir",
    "scenario_history_keep",
    "legacy_api_v1",
    "auth",
    "aliases",
    "workloads",
];

/// Keys of Go gossipper features gossipper does not have (a prefix ends with `_`).
const UNSUPPORTED: &[&str] = &["hep_", "log_otel_"];

/// `role`'s accepted values (management or load: in gossipper the scenario decides
/// whether the one engine answers or places calls).
const ROLES: &[&str] = &["management", "server", "load", "client", "uac"];

/// Reads `path` and returns the flags it stands for.
pub(super) fn flags_of_file(path: &Path) -> Result<Vec<String>, String> {
    let text = read(path)?;
    let dir = path.parent().unwrap_or(Path::new(""));
    flags_of(&text, dir).map_err(|e| format!("-config {}: {e}", path.display()))
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
            flags_of_map(obj, dir).map_err(|e| format!("-config {name}, alias {a}: {e}"))
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
        (None, None) => flags_of_file(path),
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

/// The flags of a flat JSON object; relative paths are taken from `dir`.
pub(super) fn flags_of(text: &[u8], dir: &Path) -> Result<Vec<String>, String> {
    let value: Value = serde_json::from_slice(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("the file must hold one JSON object of run-profile keys".into());
    };
    flags_of_map(&map, dir)
}

/// The flags of one profile object.
fn flags_of_map(map: &serde_json::Map<String, Value>, dir: &Path) -> Result<Vec<String>, String> {
    let composite: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| COMPOSITE.contains(k))
        .collect();
    if !composite.is_empty() {
        return Err(format!(
            "composite keys are not built yet in gossipper server (issue #18): {}; one engine per process for now, set by the flat keys",
            composite.join(", ")
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
                    return Err(format!("role: {value} is not one of {}", ROLES.join(", ")));
                }
            }
        }
        let Some((_, shape)) = KEYS.iter().find(|(k, _)| k == key) else {
            return Err(format!(
                "unknown key \"{key}\" (the keys taken: {}, role, extra_args)",
                KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
            ));
        };
        match *shape {
            Shape::Value(flag) => {
                out.push(format!("-{flag}"));
                out.push(scalar(key, value)?);
            }
            Shape::Path(flag) => {
                out.push(format!("-{flag}"));
                out.push(dir.join(scalar(key, value)?).display().to_string());
            }
            Shape::Switch(flag) => match value {
                Value::Bool(true) => out.push(format!("-{flag}")),
                Value::Bool(false) => {}
                _ => return Err(format!("{key}: {value} is not true or false")),
            },
            Shape::Remote => out.push(scalar(key, value)?),
            Shape::Each(flag) => {
                let Value::Array(items) = value else {
                    return Err(format!("{key} must be an array of strings"));
                };
                for item in items {
                    out.push(format!("-{flag}"));
                    out.push(scalar(key, item)?);
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

    #[test]
    fn composite_keys_are_refused_by_name() {
        let e = flags(r#"{"server":{"id":"a"},"clients":[],"rate":1}"#).unwrap_err();
        assert!(e.contains("server") && e.contains("clients"), "{e}");
        assert!(e.contains("not built yet"), "{e}");
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
