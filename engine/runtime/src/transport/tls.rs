//! TLS settings for SIP over TLS and WSS (rustls with the ring provider): the server and
//! client configurations built once per run from `-tls_cert`, `-tls_key`, `-tls_ca` and
//! `-tls_version`, and the self-signed certificate a server makes when none is given.
//!
//! Owns: reading PEM files (through the run's file rule, `files::FileAccess`, at most
//! `files::MAX_FILE_BYTES`) and building `rustls` configs. Must not: do socket I/O (the
//! handshakes run in `transport::streams`, for TLS and WSS alike). Called by
//! the runner while preparing a run.
//!
//! Without `-tls_ca` the client accepts any server certificate, as SIPp does: a load
//! tester talks to test systems with test certificates. With `-tls_ca` it verifies the
//! chain and the name given on the command line.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};

use super::TransportError;
use crate::files::{Disk, FileAccess, MAX_FILE_BYTES, ReadFiles};

/// The TLS side of a run: what a server presents and how a client checks.
#[derive(Clone)]
pub struct TlsSetup {
    pub server: Arc<ServerConfig>,
    pub client: Arc<ClientConfig>,
    /// The name the client sends (SNI) and, with `-tls_ca`, verifies.
    pub server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// What the user asked for (paths are read here, under `files`).
#[derive(Clone, Debug)]
pub struct TlsOptions<'a> {
    pub cert: Option<&'a Path>,
    pub key: Option<&'a Path>,
    pub ca: Option<&'a Path>,
    /// `1.2` or `1.3` (`None`: both).
    pub version: Option<&'a str>,
    /// The remote host as the user wrote it (SNI); `None` for servers.
    pub remote_host: Option<&'a str>,
    /// Names and addresses a generated certificate is valid for.
    pub self_signed_names: Vec<String>,
    /// The run's file rule; the default reads nothing.
    pub files: &'a FileAccess,
}

impl Default for TlsOptions<'_> {
    fn default() -> Self {
        TlsOptions {
            cert: None,
            key: None,
            ca: None,
            version: None,
            remote_host: None,
            self_signed_names: Vec::new(),
            files: &FileAccess::NoFiles,
        }
    }
}

/// A generated certificate and key, PEM-encoded (also used by tests to give a peer a
/// certificate).
#[derive(Clone, Debug)]
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
}

/// An EC P-256 certificate marked `CA:FALSE` (rustls refuses a CA as a server
/// certificate), valid for `names` (DNS names or IP addresses).
pub fn self_signed(names: &[String]) -> Result<SelfSigned, TransportError> {
    let key = rcgen::KeyPair::generate()
        .map_err(|e| TransportError::Tls(format!("cannot generate a key: {e}")))?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(|e| {
        TransportError::Tls(format!("cannot build a certificate for {names:?}: {e}"))
    })?;
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        names.first().cloned().unwrap_or_else(|| "gossipper".into()),
    );
    let cert = params
        .self_signed(&key)
        .map_err(|e| TransportError::Tls(format!("cannot sign a certificate: {e}")))?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// ring, with TLS13_AES_128_GCM_SHA256 preferred: every TLS 1.3 peer has it (RFC 8446
/// §9.1), and its SHA-256 key schedule (hardware SHA on most CPUs) costs less per
/// connection than AES_256_GCM_SHA384's SHA-384 (ring's default first choice), which took
/// a tenth of the CPU of a `-t ln` run.
fn provider() -> Arc<CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    Arc::new(p)
}

/// TLS 1.3 session tickets a server sends per connection (rustls: 2). A client uses each
/// ticket once, so when connections start faster than their handshakes finish (`-t ln`
/// at thousands per second) two run out and handshakes fall back to full ones (a
/// signature and its check each); four keep the client's store full.
const TLS13_TICKETS: usize = 4;

fn versions(
    v: Option<&str>,
) -> Result<&'static [&'static rustls::SupportedProtocolVersion], TransportError> {
    static BOTH: [&rustls::SupportedProtocolVersion; 2] =
        [&rustls::version::TLS13, &rustls::version::TLS12];
    static V12: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
    static V13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match v.map(str::trim) {
        None | Some("") => Ok(&BOTH),
        Some("1.2") | Some("TLSv1.2") => Ok(&V12),
        Some("1.3") | Some("TLSv1.3") => Ok(&V13),
        Some(other) => Err(TransportError::Tls(format!(
            "-tls_version {other}: only 1.2 and 1.3 are supported"
        ))),
    }
}

fn read_pem(files: &FileAccess, path: &Path) -> Result<Vec<u8>, TransportError> {
    Disk(files)
        .read(path, MAX_FILE_BYTES)
        .map_err(|e| TransportError::Tls(format!("cannot read {}: {e}", path.display())))
}

fn read_certs(
    files: &FileAccess,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let bytes = read_pem(files, path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            TransportError::Tls(format!(
                "{}: not a PEM certificate file: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(TransportError::Tls(format!(
            "{}: no certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(files: &FileAccess, path: &Path) -> Result<PrivateKeyDer<'static>, TransportError> {
    let bytes = read_pem(files, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        TransportError::Tls(format!("{}: no PEM private key in it: {e}", path.display()))
    })
}

/// Builds both configs. The returned note says when a self-signed certificate was made
/// (the run reports it once).
pub fn setup(opts: &TlsOptions<'_>) -> Result<(TlsSetup, Option<String>), TransportError> {
    let versions = versions(opts.version)?;
    let mut note = None;
    let (certs, key) = match (opts.cert, opts.key) {
        (Some(c), Some(k)) => (read_certs(opts.files, c)?, read_key(opts.files, k)?),
        (Some(c), None) => (read_certs(opts.files, c)?, read_key(opts.files, c)?),
        (None, Some(_)) => return Err(TransportError::Tls("-tls_key needs -tls_cert".into())),
        (None, None) => {
            let s = self_signed(&opts.self_signed_names)?;
            note = Some(format!(
                "TLS: no -tls_cert given, using a generated self-signed certificate for {}",
                opts.self_signed_names.join(", ")
            ));
            let certs = CertificateDer::pem_slice_iter(s.cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TransportError::Tls(format!("generated certificate: {e}")))?;
            let key = PrivateKeyDer::from_pem_slice(s.key_pem.as_bytes())
                .map_err(|e| TransportError::Tls(format!("generated key: {e}")))?;
            (certs, key)
        }
    };
    let mut server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| TransportError::Tls(format!("TLS server settings: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(|e| TransportError::Tls(format!("TLS certificate and key do not fit: {e}")))?;
    server.send_tls13_tickets = TLS13_TICKETS;

    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| TransportError::Tls(format!("TLS client settings: {e}")))?;
    let builder = match opts.ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(opts.files, ca)? {
                roots.add(c).map_err(|e| {
                    TransportError::Tls(format!("{}: unusable CA certificate: {e}", ca.display()))
                })?;
            }
            builder.with_root_certificates(roots)
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider()))),
    };
    // A client presents its certificate only when one was given.
    let client = match (opts.cert, opts.key) {
        (Some(_), _) => builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| TransportError::Tls(format!("TLS client certificate: {e}")))?,
        _ => builder.with_no_client_auth(),
    };
    let server_name = server_name(opts.remote_host)?;
    Ok((
        TlsSetup {
            server: Arc::new(server),
            client: Arc::new(client),
            server_name,
        },
        note,
    ))
}

/// The SNI name: the host the user wrote (without a port), an IP address as is.
fn server_name(host: Option<&str>) -> Result<ServerName<'static>, TransportError> {
    let host = host.unwrap_or("localhost");
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.split(']').next())
        .unwrap_or_else(|| {
            if host.matches(':').count() == 1 {
                host.split(':').next().unwrap_or(host)
            } else {
                host
            }
        });
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(bare.to_string())
        .map_err(|e| TransportError::Tls(format!("'{bare}' is not a TLS server name: {e}")))
}

/// Accepts any server certificate (no `-tls_ca`), but still checks the handshake
/// signatures so the session keys are sound.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_without_a_certificate_generates_one_and_says_so() {
        let opts = TlsOptions {
            self_signed_names: vec!["127.0.0.1".into(), "localhost".into()],
            ..Default::default()
        };
        let (_, note) = setup(&opts).expect("setup");
        assert!(note.is_some());
    }

    #[test]
    fn generated_certificate_files_load_back() {
        let s = self_signed(&["127.0.0.1".into()]).expect("generate");
        let dir = std::env::temp_dir().join(format!("gossipper-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (c, k) = (dir.join("c.pem"), dir.join("k.pem"));
        std::fs::write(&c, &s.cert_pem).expect("write");
        std::fs::write(&k, &s.key_pem).expect("write");
        let opts = TlsOptions {
            cert: Some(&c),
            key: Some(&k),
            version: Some("1.3"),
            files: &FileAccess::Cwd,
            ..Default::default()
        };
        let (_, note) = setup(&opts).expect("setup");
        assert!(note.is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Runs a client and a server connection against each other in memory until both
    /// finished the handshake and the client read what the server sent after it (the
    /// session tickets).
    fn handshake(setup: &TlsSetup) -> rustls::HandshakeKind {
        use std::io::Write as _;
        let mut c =
            rustls::ClientConnection::new(Arc::clone(&setup.client), setup.server_name.clone())
                .expect("client");
        let mut s = rustls::ServerConnection::new(Arc::clone(&setup.server)).expect("server");
        for _ in 0..10 {
            let mut buf = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut buf).expect("client writes");
            }
            let mut rd = &buf[..];
            while !rd.is_empty() {
                s.read_tls(&mut rd).expect("server reads");
            }
            s.process_new_packets().expect("server handshake");
            if !s.is_handshaking() {
                s.writer().write_all(b"x").expect("server data");
            }
            let mut buf = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut buf).expect("server writes");
            }
            let mut rd = &buf[..];
            while !rd.is_empty() {
                c.read_tls(&mut rd).expect("client reads");
            }
            c.process_new_packets().expect("client handshake");
        }
        assert!(!c.is_handshaking());
        assert_eq!(
            c.negotiated_cipher_suite().map(|s| s.suite()),
            Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
        c.handshake_kind().expect("handshake done")
    }

    #[test]
    fn a_second_connection_resumes_the_tls_session() {
        let opts = TlsOptions {
            self_signed_names: vec!["127.0.0.1".into()],
            remote_host: Some("127.0.0.1"),
            ..Default::default()
        };
        let (setup, _) = setup(&opts).expect("setup");
        assert_eq!(handshake(&setup), rustls::HandshakeKind::Full);
        for _ in 0..5 {
            assert_eq!(handshake(&setup), rustls::HandshakeKind::Resumed);
        }
    }

    #[test]
    fn an_unknown_tls_version_is_refused() {
        let opts = TlsOptions {
            version: Some("1.0"),
            self_signed_names: vec!["a".into()],
            ..Default::default()
        };
        assert!(matches!(setup(&opts), Err(TransportError::Tls(_))));
    }

    #[test]
    fn sni_takes_the_host_without_its_port() {
        assert_eq!(
            server_name(Some("sip.example.com:5061")).ok(),
            ServerName::try_from("sip.example.com").ok()
        );
        assert!(matches!(
            server_name(Some("127.0.0.1")),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name(Some("[::1]:5061")),
            Ok(ServerName::IpAddress(_))
        ));
    }
}
