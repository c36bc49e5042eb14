//! A JSON Schema checker for the subset of JSON Schema (2020-12) that the master's
//! OpenAPI document uses, and look-ups of a route's schemas in that document.
//!
//! A schema keyword this checker does not know is an error, never skipped: a schema it
//! cannot read fails the test instead of passing it unchecked.

#![allow(dead_code)] // each test file uses a different subset

use std::process::Command;

use serde_json::Value;

/// Keywords that only annotate.
const ANNOTATIONS: &[&str] = &["description", "default", "title", "examples"];

/// Checks `v` against `schema` (resolving `$ref` in `doc`); every mismatch is pushed to
/// `errs` with the JSON path where it was found.
pub(crate) fn check(doc: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        if schema != &Value::Bool(true) {
            errs.push(format!("{at}: schema is not an object: {schema}"));
        }
        return;
    };
    for (k, kw) in s {
        match k.as_str() {
            "$ref" => match resolve(doc, kw) {
                Some(target) => check(doc, target, v, at, errs),
                None => errs.push(format!("{at}: dangling $ref {kw}")),
            },
            "type" => {
                let types: Vec<&str> = match kw {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => vec![],
                };
                if !types.iter().any(|t| is_type(v, t)) {
                    errs.push(format!("{at}: {} is not of type {kw}", short(v)));
                }
            }
            "properties" => {
                if let (Some(props), Some(obj)) = (kw.as_object(), v.as_object()) {
                    for (name, sub) in props {
                        if let Some(val) = obj.get(name) {
                            check(doc, sub, val, &format!("{at}.{name}"), errs);
                        }
                    }
                }
            }
            "required" => {
                if let Some(obj) = v.as_object() {
                    for name in kw
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        if !obj.contains_key(name) {
                            errs.push(format!("{at}: required field \"{name}\" is missing"));
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(obj) = v.as_object() {
                    let known = s.get("properties").and_then(Value::as_object);
                    for (name, val) in obj {
                        if known.is_some_and(|p| p.contains_key(name)) {
                            continue;
                        }
                        match kw {
                            Value::Bool(false) => {
                                errs.push(format!("{at}: field \"{name}\" is not in the schema"))
                            }
                            Value::Bool(true) => {}
                            sub => check(doc, sub, val, &format!("{at}.{name}"), errs),
                        }
                    }
                }
            }
            "items" => {
                if let Some(a) = v.as_array() {
                    for (i, item) in a.iter().enumerate() {
                        check(doc, kw, item, &format!("{at}[{i}]"), errs);
                    }
                }
            }
            "enum" => {
                if !kw.as_array().is_some_and(|a| a.contains(v)) {
                    errs.push(format!("{at}: {} is not one of {kw}", short(v)));
                }
            }
            "const" => {
                if kw != v {
                    errs.push(format!("{at}: {} is not {kw}", short(v)));
                }
            }
            "allOf" => {
                for sub in kw.as_array().into_iter().flatten() {
                    check(doc, sub, v, at, errs);
                }
            }
            "oneOf" | "anyOf" => {
                let passing = kw
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|sub| {
                        let mut e = Vec::new();
                        check(doc, sub, v, at, &mut e);
                        e.is_empty()
                    })
                    .count();
                let ok = if k == "oneOf" {
                    passing == 1
                } else {
                    passing >= 1
                };
                if !ok {
                    errs.push(format!(
                        "{at}: {} matches {passing} of the {k} schemas",
                        short(v)
                    ));
                }
            }
            "minimum" | "maximum" => {
                if let (Some(n), Some(bound)) = (v.as_f64(), kw.as_f64()) {
                    let bad = if k == "minimum" { n < bound } else { n > bound };
                    if bad {
                        errs.push(format!("{at}: {n} is out of {k} {bound}"));
                    }
                }
            }
            "minLength" => {
                if let (Some(t), Some(n)) = (v.as_str(), kw.as_u64())
                    && (t.chars().count() as u64) < n
                {
                    errs.push(format!("{at}: shorter than {n}"));
                }
            }
            k if ANNOTATIONS.contains(&k) => {}
            other => errs.push(format!("{at}: the checker does not know keyword {other}")),
        }
    }
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

fn resolve<'a>(doc: &'a Value, r: &Value) -> Option<&'a Value> {
    let name = r.as_str()?.strip_prefix("#/components/schemas/")?;
    doc["components"]["schemas"].get(name)
}

/// The operation object of `method pattern` (`get`, `/jobs/{id}`).
pub(crate) fn operation<'a>(doc: &'a Value, method: &str, pattern: &str) -> &'a Value {
    let op = &doc["paths"][pattern][method.to_ascii_lowercase()];
    assert!(op.is_object(), "the document has no {method} {pattern}");
    op
}

/// The documented reply for a status (not `default`: every status the test sees must be
/// listed).
pub(crate) fn reply(op: &Value, status: u16) -> Option<&Value> {
    op["responses"].get(status.to_string())
}

/// Runs the Python validator on a document; `Err` carries its output.
pub(crate) fn spec_validator(doc: &Value, tag: &str) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!(
        "gossipper-openapi-{}-{tag}.json",
        std::process::id()
    ));
    std::fs::write(&path, doc.to_string()).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate\n\
             validate(json.load(open(sys.argv[1])))\n\
             print('valid')",
        ])
        .arg(&path)
        .output()
        .expect("python3 (scripts/test.sh installs it with openapi-spec-validator)");
    let _ = std::fs::remove_file(&path);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("No module named 'openapi_spec_validator'"),
        "the Python package openapi-spec-validator is missing (scripts/test.sh installs it)"
    );
    if out.status.success() && text.trim() == "valid" {
        Ok(())
    } else {
        Err(text)
    }
}
