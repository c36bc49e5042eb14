//! Socket setup for stream transports, done by the runner before the shards start: the
//! settings resolved from the `JobSpec`, listeners for servers (and per-call clients),
//! and the shared client connection opened up front.
//!
//! Owns: blocking std sockets created once per run. Must not: run handshakes or move
//! bytes (the shard's `Streams` does). Errors name the address and the
//! reason.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use super::tls::{self, TlsOptions};
use super::{StreamKind, StreamPlan, StreamSettings};
use crate::config::JobSpec;

/// What the runner gets back: the shard settings and, when a certificate was generated,
/// a sentence to report once.
pub struct Prepared {
    pub settings: Arc<StreamSettings>,
    pub note: Option<String>,
}

/// Resolves the stream settings of a run.
pub fn settings(
    spec: &JobSpec,
    kind: StreamKind,
    server: bool,
    local_ip: IpAddr,
) -> Result<Prepared, String> {
    let mut s = StreamSettings::new(kind, spec.transport.is_stream_per_call() && !server, server);
    s.max_sockets = spec.max_sockets;
    s.max_reconnect = spec.max_reconnect;
    s.reconnect_sleep = Duration::from_millis(spec.reconnect_sleep_ms.unwrap_or(0));
    s.reconnect_close = spec.reconnect_close;
    if let Some(ms) = spec.stream_idle_timeout_ms {
        s.idle_timeout = (ms > 0).then(|| Duration::from_millis(ms));
    }
    if let Some(p) = spec.ws_path.as_deref().filter(|p| !p.is_empty()) {
        s.ws_path = p.to_string();
    }
    let mut note = None;
    if kind.uses_tls() {
        let mut names = vec![local_ip.to_string(), "localhost".to_string()];
        if !names.iter().any(|n| n == "127.0.0.1") {
            names.push("127.0.0.1".into());
        }
        let opts = TlsOptions {
            cert: spec.tls_cert.as_deref(),
            key: spec.tls_key.as_deref(),
            ca: spec.tls_ca.as_deref(),
            version: spec.tls_version.as_deref(),
            remote_host: spec.remote_host.as_deref(),
            self_signed_names: names,
            files: &spec.file_access,
        };
        let (setup, generated) = tls::setup(&opts).map_err(|e| e.to_string())?;
        s.tls = Some(setup);
        // Only a server presents its certificate: a client's generated one goes unused.
        if server {
            note = generated;
        }
    }
    Ok(Prepared {
        settings: Arc::new(s),
        note,
    })
}

/// A listening TCP socket on `addr`; `reuse_port` lets every shard of a server accept
/// on the same port.
pub fn listener(addr: SocketAddr, reuse_port: bool) -> Result<TcpListener, String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let fail = |e: std::io::Error| format!("cannot listen on TCP {addr}: {e}");
    let s =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(fail)?;
    s.set_reuse_address(true).map_err(fail)?;
    if reuse_port {
        s.set_reuse_port(true).map_err(fail)?;
    }
    s.bind(&addr.into()).map_err(fail)?;
    s.listen(1024).map_err(fail)?;
    Ok(s.into())
}

/// Checks that TCP `addr` is free (SO_REUSEPORT would silently share a busy port).
pub fn probe_free(addr: SocketAddr) -> Result<(), String> {
    if addr.port() == 0 {
        return Ok(());
    }
    TcpListener::bind(addr)
        .map(drop)
        .map_err(|e| format!("cannot listen on TCP {addr}: {e}"))
}

/// Opens the shared client connection to `remote`, from `local` when its port is set.
pub fn connect(
    remote: SocketAddr,
    local: SocketAddr,
    timeout: Duration,
) -> Result<TcpStream, String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let fail = |e: std::io::Error| format!("cannot connect over TCP to {remote}: {e}");
    let s = Socket::new(
        Domain::for_address(remote),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(fail)?;
    if local.port() != 0 || !local.ip().is_unspecified() {
        s.set_reuse_address(true).map_err(fail)?;
        s.bind(&local.into())
            .map_err(|e| format!("cannot bind TCP {local}: {e}"))?;
    }
    s.connect_timeout(&remote.into(), timeout).map_err(fail)?;
    let _ = s.set_tcp_nodelay(true);
    Ok(s.into())
}

/// The sockets of shard `index`, and the local address `[local_port]` shows.
pub fn shard_plan(
    settings: &Arc<StreamSettings>,
    bind: SocketAddr,
    remote: Option<SocketAddr>,
) -> Result<(StreamPlan, SocketAddr), String> {
    let mut plan = StreamPlan {
        settings: Arc::clone(settings),
        listener: None,
        connected: None,
    };
    let local = if settings.server || settings.per_call {
        let l = listener(bind, settings.server)?;
        let local = l.local_addr().map_err(|e| format!("TCP {bind}: {e}"))?;
        plan.listener = Some(l);
        local
    } else {
        let remote = remote.ok_or("a stream client needs a remote address")?;
        let c = connect(remote, bind, settings.handshake_timeout)?;
        let local = c
            .local_addr()
            .map_err(|e| format!("TCP connection to {remote}: {e}"))?;
        plan.connected = Some(c);
        local
    };
    Ok((plan, local))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle(ms: Option<u64>) -> Option<Duration> {
        let spec = JobSpec {
            stream_idle_timeout_ms: ms,
            ..JobSpec::default()
        };
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        settings(&spec, StreamKind::Tcp, true, ip)
            .expect("settings")
            .settings
            .idle_timeout
    }

    #[test]
    fn the_idle_timeout_is_the_default_the_flag_or_never() {
        assert_eq!(idle(None), Some(super::super::DEFAULT_IDLE_TIMEOUT));
        assert_eq!(idle(Some(1500)), Some(Duration::from_millis(1500)));
        assert_eq!(idle(Some(0)), None, "0 means never");
    }
}
