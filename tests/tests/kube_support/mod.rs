//! A stand-in Kubernetes API server for the cluster job tests: plain HTTP on loopback,
//! one thread per connection (keep-alive honoured). It plays a scripted conversation
//! (`tests/kubernetes/conversation.json`): each request the master makes must be the
//! next step's method and path (a `repeat` step, the Job status reads, may come any
//! number of times), carry the service account's bearer token, and hold every field
//! of the step's `expect`; it gets the step's answer. Anything else is answered 500 and
//! recorded as a failure, which the test asserts on.

#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// One request as the fake server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) body: Value,
}

#[derive(Default)]
struct State {
    steps: Vec<Value>,
    next: usize,
    seen: Vec<Seen>,
    failures: Vec<String>,
}

/// The running fake API server.
pub(crate) struct FakeApi {
    pub(crate) url: String,
    pub(crate) token: String,
    state: Arc<Mutex<State>>,
}

/// `text` with `{name}` and `{id}` filled in, everywhere in a JSON value.
fn fill(v: &Value, name: &str, id: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("{name}", name).replace("{id}", id)),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, name, id)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), fill(x, name, id)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether `got` holds every field of `want` ("<any>": any value present); the
/// differences go to `out`, each with its path.
pub(crate) fn contains(want: &Value, got: &Value, at: &str, out: &mut Vec<String>) {
    match (want, got) {
        (Value::String(w), g) if w == "<any>" => {
            if g.is_null() {
                out.push(format!("{at}: missing"));
            }
        }
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                contains(
                    wv,
                    g.get(k).unwrap_or(&Value::Null),
                    &format!("{at}.{k}"),
                    out,
                );
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                out.push(format!("{at}: {} items, expected {}", g.len(), w.len()));
                return;
            }
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                contains(wv, gv, &format!("{at}[{i}]"), out);
            }
        }
        (w, g) if w == g => {}
        (w, g) => out.push(format!("{at}: {g}, expected {w}")),
    }
}

impl FakeApi {
    /// Serves `conversation` (the file) for job `id`'s objects named `name`.
    pub(crate) fn start(conversation: &Path, name: &str, id: &str) -> FakeApi {
        FakeApi::start_with(conversation, name, id, |_| {})
    }

    /// The same, with the conversation changed by `edit` first (another answer).
    pub(crate) fn start_with(
        conversation: &Path,
        name: &str,
        id: &str,
        edit: impl FnOnce(&mut Value),
    ) -> FakeApi {
        let text = std::fs::read_to_string(conversation).unwrap();
        let mut doc: Value = serde_json::from_str(&text).unwrap();
        edit(&mut doc);
        let steps = fill(&doc["steps"], name, id).as_array().unwrap().clone();
        let token = doc["token"].as_str().unwrap().to_string();
        let state = Arc::new(Mutex::new(State {
            steps,
            ..State::default()
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let st = Arc::clone(&state);
        let tk = token.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let st = Arc::clone(&st);
                let tk = tk.clone();
                std::thread::spawn(move || serve(conn, &st, &tk));
            }
        });
        FakeApi { url, token, state }
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub(crate) fn failures(&self) -> Vec<String> {
        self.state.lock().unwrap().failures.clone()
    }

    /// Whether every step that is not a `repeat` was played.
    pub(crate) fn done(&self) -> bool {
        let s = self.state.lock().unwrap();
        s.steps[s.next..]
            .iter()
            .all(|st| st["repeat"].as_bool() == Some(true))
    }
}

/// Answers one request; the status and body.
fn answer(
    st: &Mutex<State>,
    token: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let mut s = st.lock().unwrap();
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    s.seen.push(Seen {
        method: method.into(),
        path: path.into(),
        body: json.clone(),
    });
    if auth != Some(&format!("Bearer {token}")) {
        s.failures
            .push(format!("{method} {path}: Authorization {auth:?}"));
        return (
            401,
            serde_json::json!({"kind": "Status", "status": "Failure", "code": 401}),
        );
    }
    // The next step, skipping repeatable ones that this request is not.
    let mut i = s.next;
    let found = loop {
        let Some(step) = s.steps.get(i) else {
            break None;
        };
        if step["method"] == method && step["path"] == path {
            break Some(i);
        }
        if step["repeat"].as_bool() == Some(true) {
            i += 1;
            continue;
        }
        break None;
    };
    // A repeatable step already passed may come again (status reads go on).
    let found = found.or_else(|| {
        s.steps[..s.next].iter().position(|st| {
            st["repeat"].as_bool() == Some(true) && st["method"] == method && st["path"] == path
        })
    });
    let Some(i) = found else {
        let want = s
            .steps
            .get(s.next)
            .map(|st| format!("{} {}", st["method"], st["path"]))
            .unwrap_or_else(|| "nothing more".into());
        s.failures.push(format!(
            "{method} {path}: unexpected (the next step is {want})"
        ));
        return (
            500,
            serde_json::json!({"kind": "Status", "status": "Failure",
                                         "message": "not in the conversation"}),
        );
    };
    let step = s.steps[i].clone();
    if let Some(want) = step.get("expect") {
        let mut diffs = Vec::new();
        contains(want, &json, "body", &mut diffs);
        for d in diffs {
            s.failures.push(format!("{method} {path}: {d}"));
        }
    }
    if i >= s.next {
        s.next = if step["repeat"].as_bool() == Some(true) {
            i
        } else {
            i + 1
        };
    }
    let status = u16::try_from(step["status"].as_u64().unwrap()).unwrap();
    (status, step["answer"].clone())
}

fn serve(conn: TcpStream, st: &Mutex<State>, token: &str) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut len = 0usize;
        let mut auth = None;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "authorization" => auth = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let (status, value) = answer(st, token, &method, &path, auth.as_deref(), &body);
        let text = value.to_string();
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            text.len()
        );
        if w.write_all(head.as_bytes())
            .and_then(|()| w.write_all(text.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

/// The Kubernetes version the manifests and the master's objects are checked against
/// (the API types the master is built with: k8s-openapi's `v1_33`).
pub(crate) const KUBE_VERSION: &str = "1.33.0";

/// Runs `kubernetes-validate --strict` (PyPI; scripts/test.sh installs it) on `files`:
/// its output, and whether every resource passed.
pub(crate) fn validate(files: &[PathBuf]) -> (bool, String) {
    let out = std::process::Command::new("kubernetes-validate")
        .args(["--strict", "--no-warn", "-k", KUBE_VERSION])
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!("kubernetes-validate (pip install kubernetes-validate) is required: {e}")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contains_checks_fields_arrays_and_wildcards() {
        let mut d = Vec::new();
        contains(
            &json!({"a": 1, "b": ["<any>", 2], "c": {"d": "x"}}),
            &json!({"a": 1, "b": [9, 2], "c": {"d": "x", "e": 0}, "f": 1}),
            "body",
            &mut d,
        );
        assert!(d.is_empty(), "{d:?}");
        contains(&json!({"a": [1]}), &json!({"a": [1, 2]}), "body", &mut d);
        contains(&json!({"b": "<any>"}), &json!({}), "body", &mut d);
        assert_eq!(d, ["body.a: 2 items, expected 1", "body.b: missing"]);
    }
}
