//! ICE servers of a profile's `webrtc` row: `stun:` / `turn:` / `turns:` URLs (RFC 7064,
//! RFC 7065), their credentials (inline, coturn REST, static), and a sans-IO STUN Binding
//! client that finds the call socket's server-reflexive address (RFC 8489 §6.2.1).
//!
//! Owns: URL grammar, the REST credential formula and its refresh time, and the Binding
//! transactions of one call (transaction ids from the caller's seed, retransmits at
//! 500 ms, 1 s, 2 s, then give up). Must not: resolve names (the runtime resolves `host`
//! before handing addresses to [`super::WebrtcConfig::stun_servers`]), read a clock, or
//! touch a socket.
//!
//! TURN: the client is [`super::turn`]; [`check_ice_settings`] says which ICE settings a
//! profile may hold (one TURN server, over UDP, with credentials).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use base64ct::{Base64, Encoding};
use str0m::net::{DatagramSend, Protocol, Transmit};
use thiserror::Error;

/// Most STUN servers one call asks (the first answer wins).
const MAX_STUN_SERVERS: usize = 4;
/// Binding request retransmits: first wait, doubled each time, this many sends in all.
const STUN_FIRST_RTO: Duration = Duration::from_millis(500);
const STUN_SENDS: u8 = 3;
const STUN_MAGIC: u32 = 0x2112_A442;

/// The URL scheme of an ICE server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceUrlScheme {
    /// `stun:` (default port 3478).
    Stun,
    /// `turn:` (default port 3478).
    Turn,
    /// `turns:` TURN over TLS (default port 5349).
    Turns,
}

/// One ICE server from the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    /// Its scheme.
    pub scheme: IceUrlScheme,
    /// Host name or address literal (IPv6 without brackets).
    pub host: String,
    /// Port (the scheme's default if the URL has none).
    pub port: u16,
    /// `?transport=tcp` on a TURN URL.
    pub tcp: bool,
    /// Inline credentials (`turn:user:pass@host`), which win over REST and static ones.
    pub inline: Option<(String, String)>,
}

/// Why an ICE server URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IceServerError {
    /// Not `stun:`, `turn:` or `turns:` (named).
    #[error("ICE server URL {0}: the scheme must be stun:, turn: or turns:")]
    Scheme(Box<str>),
    /// Host or port missing or malformed.
    #[error("ICE server URL {0}: bad host or port")]
    HostPort(Box<str>),
    /// A query other than `?transport=udp|tcp` on TURN.
    #[error("ICE server URL {0}: only ?transport=udp or ?transport=tcp is understood, on turn:")]
    Query(Box<str>),
    /// Credentials on a `stun:` URL (STUN Binding needs none, and we send none).
    #[error("ICE server URL {0}: a stun: URL takes no credentials")]
    StunCredentials(Box<str>),
}

impl IceServer {
    /// Parses one URL: `stun:host[:port]`, `turn[s]:[user:pass@]host[:port][?transport=udp|tcp]`.
    pub fn parse(url: &str) -> Result<Self, IceServerError> {
        let bad = || -> Box<str> { url.into() };
        let (scheme, rest) = url
            .split_once(':')
            .ok_or_else(|| IceServerError::Scheme(bad()))?;
        let (scheme, default_port) = match scheme {
            "stun" => (IceUrlScheme::Stun, 3478),
            "turn" => (IceUrlScheme::Turn, 3478),
            "turns" => (IceUrlScheme::Turns, 5349),
            _ => return Err(IceServerError::Scheme(bad())),
        };
        let (rest, query) = rest
            .split_once('?')
            .map_or((rest, None), |(r, q)| (r, Some(q)));
        let tcp = match query {
            None => false,
            Some("transport=udp") if scheme != IceUrlScheme::Stun => false,
            Some("transport=tcp") if scheme != IceUrlScheme::Stun => true,
            Some(_) => return Err(IceServerError::Query(bad())),
        };
        let (inline, hostport) = match rest.rsplit_once('@') {
            Some((cred, hp)) => {
                if scheme == IceUrlScheme::Stun {
                    return Err(IceServerError::StunCredentials(bad()));
                }
                let (u, p) = cred
                    .split_once(':')
                    .ok_or_else(|| IceServerError::HostPort(bad()))?;
                (Some((u.to_owned(), p.to_owned())), hp)
            }
            None => (None, rest),
        };
        let (host, port) = split_host_port(hostport, default_port)
            .ok_or_else(|| IceServerError::HostPort(bad()))?;
        Ok(Self {
            scheme,
            host,
            port,
            tcp,
            inline,
        })
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(s: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok().filter(|&p| p != 0)?,
        None => default_port,
    };
    Some((host.to_owned(), port))
}

/// A TURN username and password, with when they stop working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredentials {
    /// Username for the long-term credential mechanism.
    pub username: String,
    /// Password.
    pub password: String,
    /// Unix time the credentials expire (REST only).
    pub expires_at_unix: Option<u64>,
}

impl TurnCredentials {
    /// coturn's REST scheme (`use-auth-secret`): username `<expiry>:<identity>`, password
    /// `base64(HMAC-SHA1(secret, username))`, expiring `ttl` after `now_unix`.
    pub fn rest(secret: &[u8], identity: &str, now_unix: u64, ttl: Duration) -> Self {
        let expires = now_unix.saturating_add(ttl.as_secs());
        let username = format!("{expires}:{identity}");
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
        let tag = hmac::sign(&key, username.as_bytes());
        let mut b64 = [0u8; 28];
        let password = Base64::encode(tag.as_ref(), &mut b64)
            .unwrap_or_default()
            .to_owned();
        Self {
            username,
            password,
            expires_at_unix: Some(expires),
        }
    }

    /// When to make new REST credentials: min(60 s, ttl/4) before they expire.
    pub fn refresh_at_unix(&self, ttl: Duration) -> Option<u64> {
        let margin = ttl.as_secs().div_ceil(4).min(60);
        self.expires_at_unix.map(|e| e.saturating_sub(margin))
    }

    /// Credentials for `server` in the order the profile defines: the URL's inline pair,
    /// else REST (`secret`, `identity`, `ttl`), else the static pair. STUN gets none.
    pub fn choose(
        server: &IceServer,
        rest: Option<(&[u8], &str, Duration)>,
        fixed: Option<(&str, &str)>,
        now_unix: u64,
    ) -> Option<Self> {
        if server.scheme == IceUrlScheme::Stun {
            return None;
        }
        if let Some((u, p)) = &server.inline {
            return Some(Self {
                username: u.clone(),
                password: p.clone(),
                expires_at_unix: None,
            });
        }
        if let Some((secret, identity, ttl)) = rest {
            return Some(Self::rest(secret, identity, now_unix, ttl));
        }
        fixed.map(|(u, p)| Self {
            username: u.to_owned(),
            password: p.to_owned(),
            expires_at_unix: None,
        })
    }
}

/// A profile's ICE settings, as [`check_ice_settings`] reads them.
#[derive(Debug, Clone, Copy, Default)]
pub struct IceSettings<'a> {
    /// `ice_servers`.
    pub urls: &'a [String],
    /// `ice_username` and `ice_credential` (static TURN credentials, or the REST identity).
    pub username: &'a str,
    /// `ice_credential`.
    pub credential: &'a str,
    /// `ice_auth_secret` (coturn REST).
    pub auth_secret: &'a str,
    /// ICE transport policy `relay`.
    pub relay_only: bool,
}

/// Checks what a run can honour: STUN servers, at most one TURN server over UDP with
/// credentials (inline, REST or static), credentials only with a TURN server, `relay`
/// only with one. The error names the field (`ice_servers[i]`, `ice_username`,
/// `ice_transport_policy`) and what is wrong.
pub fn check_ice_settings(s: &IceSettings<'_>) -> Result<(), (String, String)> {
    let mut turn = None;
    for (i, url) in s.urls.iter().enumerate() {
        let field = format!("ice_servers[{i}]");
        let server = IceServer::parse(url).map_err(|e| (field.clone(), e.to_string()))?;
        let why = match (server.scheme, server.tcp) {
            (IceUrlScheme::Stun, _) => continue,
            (IceUrlScheme::Turns, _) => {
                "turns: (TURN over TLS) is not supported; use turn:host:port?transport=udp"
            }
            (IceUrlScheme::Turn, true) => {
                "TURN over TCP (?transport=tcp) is not supported; use ?transport=udp"
            }
            (IceUrlScheme::Turn, false) if turn.is_some() => "only one TURN server is supported",
            (IceUrlScheme::Turn, false) => {
                turn = Some(server);
                continue;
            }
        };
        return Err((field, format!("\"{url}\": {why}")));
    }
    let has_static = !s.username.is_empty() || !s.credential.is_empty();
    match turn {
        None if has_static || !s.auth_secret.is_empty() => Err((
            if has_static { "ice_username" } else { "ice_auth_secret" }.into(),
            "TURN credentials need a turn: URL in ice_servers".into(),
        )),
        None if s.relay_only => Err((
            "ice_transport_policy".into(),
            "relay needs a turn: URL in ice_servers".into(),
        )),
        Some(t) if t.inline.is_none() && s.auth_secret.is_empty() && !has_static => Err((
            "ice_servers".into(),
            "the turn: server needs credentials: inline user:pass@, ice_auth_secret, or ice_username and ice_credential".into(),
        )),
        _ => Ok(()),
    }
}

#[derive(Debug)]
struct Probe {
    server: SocketAddr,
    txid: [u8; 12],
    sends: u8,
    next_at: Option<Instant>,
}

/// Server-reflexive discovery for one call socket: one Binding request per STUN server,
/// retransmitted, first success wins.
#[derive(Debug)]
pub struct StunGatherer {
    local: SocketAddr,
    probes: Vec<Probe>,
    out: VecDeque<Transmit>,
    mapped: Option<SocketAddr>,
    done: bool,
}

impl StunGatherer {
    /// Probes for the first [`MAX_STUN_SERVERS`] of `servers`; `seed` makes the
    /// transaction ids (the shard's seeded RNG, so runs replay).
    pub fn new(local: SocketAddr, servers: &[SocketAddr], seed: u64) -> Self {
        let mut x = seed ^ 0x9E37_79B9_7F4A_7C15;
        let probes = servers
            .iter()
            .filter(|s| s.is_ipv4() == local.is_ipv4())
            .take(MAX_STUN_SERVERS)
            .map(|&server| {
                let mut txid = [0u8; 12];
                for chunk in txid.chunks_mut(4) {
                    // xorshift64*: enough to tell our transactions apart.
                    x ^= x >> 12;
                    x ^= x << 25;
                    x ^= x >> 27;
                    let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_be_bytes();
                    chunk.copy_from_slice(&v[..4]);
                }
                Probe {
                    server,
                    txid,
                    sends: 0,
                    next_at: None,
                }
            })
            .collect();
        Self {
            local,
            probes,
            out: VecDeque::new(),
            mapped: None,
            done: servers.is_empty(),
        }
    }

    /// Sends what is due (the first requests at once).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.done {
            return;
        }
        for p in &mut self.probes {
            let due = p.next_at.is_none_or(|t| now >= t);
            if !due || p.sends >= STUN_SENDS {
                continue;
            }
            let mut req = Vec::with_capacity(20);
            req.extend_from_slice(&0x0001u16.to_be_bytes()); // Binding request
            req.extend_from_slice(&0u16.to_be_bytes()); // no attributes
            req.extend_from_slice(&STUN_MAGIC.to_be_bytes());
            req.extend_from_slice(&p.txid);
            self.out.push_back(Transmit {
                proto: Protocol::Udp,
                source: self.local,
                destination: p.server,
                contents: DatagramSend::from(req),
            });
            p.sends += 1;
            p.next_at = (p.sends < STUN_SENDS).then(|| now + STUN_FIRST_RTO * (1 << (p.sends - 1)));
            if p.sends >= STUN_SENDS {
                // The last send gets one more RTO to be answered.
                p.next_at = Some(now + STUN_FIRST_RTO * (1 << (STUN_SENDS - 1)));
            }
        }
        if self
            .probes
            .iter()
            .all(|p| p.sends >= STUN_SENDS && p.next_at.is_some_and(|t| now >= t))
        {
            self.done = true;
        }
    }

    /// Whether `data` from `source` answered one of our requests; if it did, it is consumed.
    pub fn handle_response(&mut self, _now: Instant, source: SocketAddr, data: &[u8]) -> bool {
        // Only datagrams from a server we asked, with one of our transaction ids, are ours;
        // everything else (ICE checks included) goes on to str0m.
        let Some(i) = self
            .probes
            .iter()
            .position(|p| p.server == source && data.get(8..20) == Some(&p.txid[..]))
        else {
            return false;
        };
        if let Some(addr) = binding_success_address(data)
            && self.mapped.is_none()
        {
            self.mapped = Some(addr);
        }
        self.probes.swap_remove(i);
        if self.mapped.is_some() || self.probes.is_empty() {
            self.done = true;
            self.probes.clear();
        }
        true
    }

    /// The server-reflexive address, once (the bridge turns it into a candidate).
    pub fn take_mapped(&mut self) -> Option<SocketAddr> {
        self.mapped.take()
    }

    /// The next request to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// When a retransmit is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        self.probes.iter().filter_map(|p| p.next_at).min()
    }
}

/// The (XOR-)MAPPED-ADDRESS of a Binding success response (RFC 8489 §14.1, §14.2), or
/// `None` for anything else. Public STUN servers answer without MESSAGE-INTEGRITY, which
/// str0m's ICE parser insists on, hence this reader. Every length is checked.
fn binding_success_address(data: &[u8]) -> Option<SocketAddr> {
    let head = data.get(..20)?;
    let kind = u16::from_be_bytes([head[0], head[1]]);
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    if kind != 0x0101 || head[4..8] != STUN_MAGIC.to_be_bytes() || data.len() != 20 + len {
        return None;
    }
    let mut attrs = &data[20..];
    let mut plain = None;
    while attrs.len() >= 4 {
        let typ = u16::from_be_bytes([attrs[0], attrs[1]]);
        let alen = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        let value = attrs.get(4..4 + alen)?;
        match typ {
            0x0020 => return read_address(value, Some(&data[4..20])),
            0x0001 => plain = read_address(value, None),
            _ => {}
        }
        attrs = attrs
            .get((4 + alen).next_multiple_of(4)..)
            .unwrap_or_default();
    }
    plain
}

/// An address attribute; `xor` is the magic cookie and transaction id to unmask it with.
fn read_address(v: &[u8], xor: Option<&[u8]>) -> Option<SocketAddr> {
    let mask = |i: usize| xor.map_or(0, |x| x[i]);
    let port = u16::from_be_bytes([v.get(2)? ^ mask(0), v.get(3)? ^ mask(1)]);
    match *v.get(1)? {
        0x01 => {
            let a: [u8; 4] = std::array::from_fn(|i| v.get(4 + i).copied().unwrap_or(0) ^ mask(i));
            (v.len() >= 8).then(|| SocketAddr::from((a, port)))
        }
        0x02 => {
            let a: [u8; 16] = std::array::from_fn(|i| v.get(4 + i).copied().unwrap_or(0) ^ mask(i));
            (v.len() >= 20).then(|| SocketAddr::from((a, port)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults_inline_credentials_and_transport() {
        let s = IceServer::parse("stun:stun.example.org").unwrap();
        assert_eq!(
            (s.scheme, s.host.as_str(), s.port, s.tcp, s.inline),
            (IceUrlScheme::Stun, "stun.example.org", 3478, false, None)
        );
        let t = IceServer::parse("turn:bob:s3cret@10.0.0.1:3479?transport=tcp").unwrap();
        assert_eq!(
            (t.scheme, t.host.as_str(), t.port, t.tcp),
            (IceUrlScheme::Turn, "10.0.0.1", 3479, true)
        );
        assert_eq!(t.inline, Some(("bob".into(), "s3cret".into())));
        let v6 = IceServer::parse("turns:[2001:db8::1]").unwrap();
        assert_eq!(
            (v6.scheme, v6.host.as_str(), v6.port),
            (IceUrlScheme::Turns, "2001:db8::1", 5349)
        );
        assert_eq!(IceServer::parse("stun:[::1]:19302").unwrap().port, 19302);
    }

    #[test]
    fn bad_urls_are_refused_by_kind() {
        let cases = [
            ("http://x", "scheme"),
            ("stun", "scheme"),
            ("stun:", "host"),
            ("stun:host:0", "host"),
            ("stun:host:99999", "host"),
            ("turn:host?transport=sctp", "query"),
            ("stun:host?transport=udp", "query"),
            ("stun:u:p@host", "stun-creds"),
            ("turn:nopass@host", "host"),
        ];
        for (url, kind) in cases {
            let got = IceServer::parse(url).unwrap_err();
            let ok = matches!(
                (&got, kind),
                (IceServerError::Scheme(_), "scheme")
                    | (IceServerError::HostPort(_), "host")
                    | (IceServerError::Query(_), "query")
                    | (IceServerError::StunCredentials(_), "stun-creds")
            );
            assert!(ok, "{url}: {got:?}");
        }
    }

    #[test]
    fn rest_credentials_follow_coturn_and_refresh_before_expiry() {
        // base64(HMAC-SHA1("north", "1700086400:alice")), computed independently.
        let c = TurnCredentials::rest(
            b"north",
            "alice",
            1_700_000_000,
            Duration::from_secs(86_400),
        );
        assert_eq!(c.username, "1700086400:alice");
        assert_eq!(c.password, "SXua5ne/+mDhiHTp0pQJzRO4ESg=");
        assert_eq!(
            c.refresh_at_unix(Duration::from_secs(86_400)),
            Some(1_700_086_340)
        );
        // A short TTL refreshes at a quarter of it.
        let short = TurnCredentials::rest(b"north", "alice", 0, Duration::from_secs(100));
        assert_eq!(short.refresh_at_unix(Duration::from_secs(100)), Some(75));
    }

    #[test]
    fn credentials_are_chosen_inline_then_rest_then_static_and_never_for_stun() {
        let rest = Some((&b"k"[..], "id", Duration::from_secs(600)));
        let fixed = Some(("u", "p"));
        let inline = IceServer::parse("turn:a:b@h").unwrap();
        assert_eq!(
            TurnCredentials::choose(&inline, rest, fixed, 0)
                .unwrap()
                .username,
            "a"
        );
        let plain = IceServer::parse("turn:h").unwrap();
        assert_eq!(
            TurnCredentials::choose(&plain, rest, fixed, 0)
                .unwrap()
                .username,
            "600:id"
        );
        assert_eq!(
            TurnCredentials::choose(&plain, None, fixed, 0)
                .unwrap()
                .username,
            "u"
        );
        assert_eq!(TurnCredentials::choose(&plain, None, None, 0), None);
        let stun = IceServer::parse("stun:h").unwrap();
        assert_eq!(TurnCredentials::choose(&stun, rest, fixed, 0), None);
    }

    #[test]
    fn ice_settings_allow_one_udp_turn_server_with_credentials() {
        let urls = |u: &[&str]| u.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = |s: IceSettings<'_>| check_ice_settings(&s);
        let stun = urls(&["stun:a", "turn:b?transport=udp"]);
        let with_static = IceSettings {
            urls: &stun,
            username: "u",
            credential: "p",
            ..Default::default()
        };
        assert_eq!(ok(with_static), Ok(()));
        let inline = urls(&["turn:u:p@b"]);
        assert_eq!(
            ok(IceSettings {
                urls: &inline,
                relay_only: true,
                ..Default::default()
            }),
            Ok(())
        );
        let field = |s: IceSettings<'_>| check_ice_settings(&s).unwrap_err();
        let turns = urls(&["stun:a", "turns:b"]);
        let (f, m) = field(IceSettings {
            urls: &turns,
            auth_secret: "k",
            ..Default::default()
        });
        assert_eq!(f, "ice_servers[1]");
        assert!(
            m.contains("\"turns:b\": turns: (TURN over TLS) is not supported"),
            "{m}"
        );
        let tcp = urls(&["turn:b?transport=tcp"]);
        let (f, m) = field(IceSettings {
            urls: &tcp,
            auth_secret: "k",
            ..Default::default()
        });
        assert!(f == "ice_servers[0]" && m.contains("transport=tcp"), "{m}");
        let two = urls(&["turn:u:p@b", "turn:u:p@c"]);
        assert_eq!(
            field(IceSettings {
                urls: &two,
                ..Default::default()
            })
            .0,
            "ice_servers[1]"
        );
        let bare = urls(&["turn:b"]);
        assert_eq!(
            field(IceSettings {
                urls: &bare,
                ..Default::default()
            })
            .0,
            "ice_servers"
        );
        assert_eq!(
            field(IceSettings {
                username: "u",
                ..Default::default()
            })
            .0,
            "ice_username"
        );
        assert_eq!(
            field(IceSettings {
                relay_only: true,
                urls: &urls(&["stun:a"]),
                ..Default::default()
            })
            .0,
            "ice_transport_policy"
        );
    }

    fn response(txid: &[u8], mapped: SocketAddr) -> Vec<u8> {
        let SocketAddr::V4(v4) = mapped else {
            unreachable!()
        };
        let mut attr = vec![0x00, 0x20, 0x00, 0x08, 0x00, 0x01];
        attr.extend_from_slice(&(v4.port() ^ 0x2112).to_be_bytes());
        let ip = u32::from(*v4.ip()) ^ STUN_MAGIC;
        attr.extend_from_slice(&ip.to_be_bytes());
        let mut msg = vec![0x01, 0x01, 0x00, attr.len() as u8];
        msg.extend_from_slice(&STUN_MAGIC.to_be_bytes());
        msg.extend_from_slice(txid);
        msg.extend_from_slice(&attr);
        msg
    }

    #[test]
    fn stun_gatherer_retransmits_then_learns_the_mapped_address() {
        let now = Instant::now();
        let local: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let server: SocketAddr = "127.0.0.9:3478".parse().unwrap();
        let mut g = StunGatherer::new(local, &[server], 7);
        g.handle_timeout(now);
        let first = g.poll_transmit().expect("a request at once");
        assert_eq!(
            (first.source, first.destination, first.contents.len()),
            (local, server, 20)
        );
        assert_eq!(g.poll_timeout(), Some(now + STUN_FIRST_RTO));
        g.handle_timeout(now + STUN_FIRST_RTO);
        let again = g.poll_transmit().expect("a retransmit");
        assert_eq!(
            again.contents[8..20],
            first.contents[8..20],
            "same transaction"
        );
        // Not ours: another source, another transaction id, garbage.
        let mapped: SocketAddr = "203.0.113.7:61000".parse().unwrap();
        assert!(!g.handle_response(now, local, &response(&first.contents[8..20], mapped)));
        assert!(!g.handle_response(now, server, &response(&[9; 12], mapped)));
        assert!(!g.handle_response(now, server, b"\x01"));
        assert!(g.handle_response(now, server, &response(&first.contents[8..20], mapped)));
        assert_eq!(g.take_mapped(), Some(mapped));
        assert_eq!(g.poll_timeout(), None);
    }

    #[test]
    fn stun_gatherer_gives_up_after_three_sends() {
        let now = Instant::now();
        let mut g = StunGatherer::new(
            "127.0.0.1:1".parse().unwrap(),
            &["127.0.0.2:3478".parse().unwrap()],
            1,
        );
        let mut t = now;
        let mut sends = 0;
        for _ in 0..10 {
            g.handle_timeout(t);
            while g.poll_transmit().is_some() {
                sends += 1;
            }
            match g.poll_timeout() {
                Some(next) => t = next,
                None => break,
            }
        }
        assert_eq!(sends, 3);
        assert_eq!(g.poll_timeout(), None);
        assert_eq!(g.take_mapped(), None);
    }

    #[test]
    fn address_reader_survives_truncation() {
        let full = response(&[1; 12], "1.2.3.4:5".parse().unwrap());
        for n in 0..full.len() {
            assert_eq!(binding_success_address(&full[..n]), None);
        }
        assert_eq!(
            binding_success_address(&full),
            Some("1.2.3.4:5".parse().unwrap())
        );
    }
}
