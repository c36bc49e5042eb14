//! The client against a TLS API server whose certificate a test CA signed: trusted with
//! the CA file (as a pod's `ca.crt`), refused without it, the token sent as bearer.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, mpsc};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use super::Client;
use crate::job::kube::KubeSpec;

/// A CA, and a server config for `localhost` signed by it; the CA's PEM.
fn server_config() -> (Arc<rustls::ServerConfig>, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let ca_cert: &rcgen::Certificate = ca.as_ref();
    (Arc::new(cfg), ca_cert.pem())
}

/// Serves `n` connections, each one request answered 201; sends each request's
/// Authorization header (or the handshake's failure).
fn serve(cfg: Arc<rustls::ServerConfig>, n: usize) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for tcp in listener.incoming().take(n) {
            let Ok(tcp) = tcp else { return };
            let conn = rustls::ServerConnection::new(Arc::clone(&cfg)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut auth = String::from("no request");
            let mut r = BufReader::new(&mut tls);
            let mut line = String::new();
            let mut first = true;
            while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                if first {
                    auth = "no authorization".into();
                    first = false;
                }
                if line.to_ascii_lowercase().starts_with("authorization:") {
                    auth = line["authorization:".len()..].trim().to_string();
                }
                if line == "\r\n" {
                    break;
                }
                line.clear();
            }
            drop(r);
            if !first {
                let body = "{}";
                let _ = write!(
                    tls,
                    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
            let _ = tx.send(auth);
        }
    });
    (port, rx)
}

fn spec(port: u16, ca: Option<std::path::PathBuf>, token: std::path::PathBuf) -> KubeSpec {
    KubeSpec {
        api: format!("https://localhost:{port}"),
        token_file: Some(token),
        ca_file: ca,
        namespace: "load".into(),
        image: "i".into(),
        parallelism: 1,
        lines_url: String::new(),
        token: String::new(),
        start_delay_ms: 1000,
        media: Vec::new(),
    }
}

#[test]
fn the_api_server_is_trusted_through_the_ca_file_only() {
    let dir = std::env::temp_dir().join(format!("gossipper-kube-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cfg, ca_pem) = server_config();
    let ca = dir.join("ca.crt");
    std::fs::write(&ca, ca_pem).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "sa-token\n").unwrap();
    let (port, seen) = serve(cfg, 2);
    let body = serde_json::json!({"kind": "ConfigMap"});

    let c = Client::new(&spec(port, Some(ca.clone()), token.clone())).unwrap();
    c.create("/api/v1/namespaces/load/configmaps", &body)
        .unwrap();
    assert_eq!(seen.recv().unwrap(), "Bearer sa-token");

    // Without the cluster's CA the public roots do not vouch for it.
    let c = Client::new(&spec(port, None, token)).unwrap();
    let e = c
        .create("/api/v1/namespaces/load/configmaps", &body)
        .unwrap_err();
    assert!(e.contains("POST /api/v1/namespaces/load/configmaps"), "{e}");
    assert!(
        e.to_lowercase().contains("certificate") || e.contains("issuer"),
        "{e}"
    );
    assert_eq!(seen.recv().unwrap(), "no request");

    // A CA file with no certificate in it is refused by name.
    let empty = dir.join("empty.crt");
    std::fs::write(&empty, "").unwrap();
    let e = Client::new(&spec(port, Some(empty), dir.join("token")))
        .err()
        .unwrap();
    assert!(e.contains("no certificate"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
