//! `-tls_ca` against a real TLS server (ours, on a loopback socket): with the CA that
//! signed the server's certificate and the name it was issued for, calls complete; a
//! certificate from another CA, or one issued for another name, is refused at the
//! handshake, counted, reported naming the reason, and no call goes through. (Without
//! `-tls_ca` the client accepts any certificate, as SIPp does: every other TLS test.)

mod transport_common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use gossipper_e2e::{free_port, scratch_dir};
use gossipper_engine::files::FileAccess;
use gossipper_engine::transport::tls::self_signed;
use transport_common::{Outcome, finish, spec, start};

const CALLS: u64 = 3;

/// A self-signed certificate for `names` and its key, written into `dir` as
/// `<stem>-cert.pem` and `<stem>-key.pem`. Self-signed, it is its own CA.
fn certificate(dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let c = self_signed(&names).expect("a certificate");
    let (cert, key) = (
        dir.join(format!("{stem}-cert.pem")),
        dir.join(format!("{stem}-key.pem")),
    );
    std::fs::write(&cert, c.cert_pem).expect("write the certificate");
    std::fs::write(&key, c.key_pem).expect("write the key");
    (cert, key)
}

/// Our UAS over TLS with `cert`/`key`, our UAC over `ln` (a connection, so a handshake,
/// per call) trusting `ca` and calling `host:port`.
fn run(cert: (PathBuf, PathBuf), ca: PathBuf, host: &str) -> (Outcome, Outcome) {
    let port = free_port();
    let mut s = spec("uas", "l1", port, None);
    s.tls_cert = Some(cert.0);
    s.tls_key = Some(cert.1);
    s.file_access = FileAccess::Cwd;
    // Ends after the calls, or, when every handshake is refused, after 3 s.
    s.max_calls = Some(CALLS);
    s.global_timeout_ms = Some(3_000);
    let server = start(s);
    let mut c = spec(
        "uac",
        "ln",
        0,
        Some(SocketAddr::from(([127, 0, 0, 1], port))),
    );
    c.remote_host = Some(format!("{host}:{port}"));
    c.tls_ca = Some(ca);
    c.file_access = FileAccess::Cwd;
    c.max_calls = Some(CALLS);
    let client = finish(start(c));
    (client, finish(server))
}

#[test]
fn the_ca_that_signed_the_certificate_and_its_name_let_calls_through() {
    let dir = scratch_dir("tls-ca-ok");
    let cert = certificate(&dir, "server", &["localhost", "127.0.0.1"]);
    let ca = cert.0.clone();
    let (client, server) = run(cert, ca, "localhost");
    assert_eq!(client.counters.successful_calls, CALLS, "{client:?}");
    assert_eq!(client.counters.tls_handshake_failures, 0, "{client:?}");
    assert_eq!(server.counters.successful_calls, CALLS, "{server:?}");
}

/// A refused handshake: no call went through, each call's connection failed, and the
/// client says why (`reason`, rustls's words for the certificate error).
fn assert_refused(client: &Outcome, server: &Outcome, reason: &str) {
    let c = &client.counters;
    assert_eq!(
        (c.successful_calls, c.failed_calls),
        (0, CALLS),
        "{client:?}"
    );
    assert_eq!(c.failed_tcp_connect, CALLS, "{client:?}");
    assert_eq!(c.tls_handshake_failures, CALLS, "{client:?}");
    assert!(
        client.warnings.iter().any(|w| w.contains(reason)),
        "no warning says {reason}: {:?}",
        client.warnings
    );
    assert_eq!(server.counters.incoming_calls, 0, "{server:?}");
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let dir = scratch_dir("tls-ca-other");
    let cert = certificate(&dir, "server", &["localhost", "127.0.0.1"]);
    // Another issuer (its own subject): the server's certificate does not chain to it.
    let (other_ca, _) = certificate(&dir, "other", &["ca.other.example"]);
    let (client, server) = run(cert, other_ca, "localhost");
    assert_refused(&client, &server, "UnknownIssuer");
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let dir = scratch_dir("tls-ca-name");
    let cert = certificate(&dir, "server", &["sip.example.com"]);
    let ca = cert.0.clone();
    let (client, server) = run(cert, ca, "localhost");
    assert_refused(
        &client,
        &server,
        "certificate not valid for name \"localhost\"",
    );
}
