//! The Kubernetes API, as far as a cluster job needs it (issue 20): create a ConfigMap
//! and an Indexed Job, read the Job's status, delete both.
//!
//! Owns: the HTTPS requests (a blocking `ureq` agent: the master has no async runtime,
//! and kube-rs would pull tokio and hyper into a binary that needs four calls) and the
//! objects' shapes (`objects`, built from `k8s-openapi`'s types so that field names and
//! nesting are the API's own). Auth is a bearer token from a file (the service
//! account's), TLS is checked against the cluster's CA file. Must not: decide when to
//! call (`worker::cluster` does), or keep any state between calls.

pub(crate) mod objects;
#[cfg(test)]
mod tls_tests;

use std::sync::Arc;
use std::time::Duration;

use crate::job::kube::KubeSpec;

/// The longest body read from the API server.
const MAX_REPLY: u64 = 1 << 20;
/// The longest one request may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// A connection to one API server.
pub(crate) struct Client {
    agent: ureq::Agent,
    api: String,
    token: Option<String>,
}

/// What the API server answered.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: serde_json::Value,
}

impl Answer {
    /// The API's own message (`Status.message`), or the status code.
    fn why(&self) -> String {
        match self.body.get("message").and_then(serde_json::Value::as_str) {
            Some(m) => format!(
                "{} {}",
                self.status,
                m.chars().take(300).collect::<String>()
            ),
            None => self.status.to_string(),
        }
    }
}

impl Client {
    /// The client of `spec`'s cluster: its token and CA read now.
    pub(crate) fn new(spec: &KubeSpec) -> Result<Client, String> {
        let token = match &spec.token_file {
            Some(p) => {
                let t = std::fs::read_to_string(p)
                    .map_err(|e| format!("kubernetes token {}: {e}", p.display()))?;
                Some(t.trim().to_string())
            }
            None => None,
        };
        let mut cfg = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT));
        if let Some(p) = &spec.ca_file {
            let pem =
                std::fs::read(p).map_err(|e| format!("kubernetes CA {}: {e}", p.display()))?;
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                    Ok(_) => {}
                    Err(e) => return Err(format!("kubernetes CA {}: {e}", p.display())),
                }
            }
            if certs.is_empty() {
                return Err(format!("kubernetes CA {}: no certificate", p.display()));
            }
            cfg = cfg.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)))
                    .build(),
            );
        }
        Ok(Client {
            agent: cfg.build().into(),
            api: spec.api.trim_end_matches('/').to_string(),
            token,
        })
    }

    fn answer(
        what: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Answer, String> {
        let mut r = r.map_err(|e| format!("kubernetes API: {what}: {e}"))?;
        let status = r.status().as_u16();
        let bytes = r
            .body_mut()
            .with_config()
            .limit(MAX_REPLY)
            .read_to_vec()
            .map_err(|e| format!("kubernetes API: {what}: reading the answer: {e}"))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok(Answer { status, body })
    }

    fn auth(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    /// `POST path` with `body`; an answer other than 200/201/202 is an error naming it.
    pub(crate) fn create(&self, path: &str, body: &serde_json::Value) -> Result<(), String> {
        let what = format!("POST {path}");
        let mut req = self
            .agent
            .post(format!("{}{path}", self.api))
            .header("Accept", "application/json")
            .content_type("application/json");
        if let Some(a) = self.auth() {
            req = req.header("Authorization", a);
        }
        let a = Self::answer(&what, req.send(body.to_string().as_bytes()))?;
        match a.status {
            200..=202 => Ok(()),
            _ => Err(format!("kubernetes API: {what}: {}", a.why())),
        }
    }

    /// `GET path`.
    pub(crate) fn get(&self, path: &str) -> Result<Answer, String> {
        let mut req = self
            .agent
            .get(format!("{}{path}", self.api))
            .header("Accept", "application/json");
        if let Some(a) = self.auth() {
            req = req.header("Authorization", a);
        }
        Self::answer(&format!("GET {path}"), req.call())
    }

    /// `DELETE path`; gone already (404) is done too.
    pub(crate) fn delete(&self, path: &str) -> Result<(), String> {
        let what = format!("DELETE {path}");
        let mut req = self
            .agent
            .delete(format!("{}{path}", self.api))
            .header("Accept", "application/json");
        if let Some(a) = self.auth() {
            req = req.header("Authorization", a);
        }
        let a = Self::answer(&what, req.call())?;
        match a.status {
            200..=202 | 404 => Ok(()),
            _ => Err(format!("kubernetes API: {what}: {}", a.why())),
        }
    }
}
