//! The one resolved run configuration the engine sees (`JobSpec`).
//!
//! Owns: validated settings with units in their names, and their serde form: the
//! master writes a `JobSpec` into each job's spec file and `gossipper worker --spec`
//! reads it back, so a field is named once, here. Every type refuses unknown fields and
//! takes its default for a missing one (a hand-written spec names only what it changes);
//! a transport is its SIPp code (`"u1"`), a threshold its text (`"p99(response_time)<50ms"`).
//! Must not: parse command lines (the binary resolves SIPp flags into this) or read
//! files. Read by the shards, the pacer and every call.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use crate::stats::thresholds::{Metric, Op, Threshold, show};
use serde::{Deserialize, Serialize};

/// Where the scenario comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ScenarioSource {
    /// `-sf file`.
    File(PathBuf),
    /// `-sn name`.
    Builtin(String),
    /// An XML text already in memory (worker jobs), with a name for error messages.
    Xml {
        name: String,
        #[serde(with = "utf8_text")]
        text: Vec<u8>,
    },
}

/// A scenario's bytes as a JSON string (scenario XML is UTF-8; other bytes are refused
/// when written, not mangled).
mod utf8_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _, ser::Error as _};

    pub(super) fn serialize<S: Serializer>(text: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(text)
            .map_err(|e| S::Error::custom(format!("the scenario text is not UTF-8: {e}")))?;
        s.serialize_str(text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        String::deserialize(d)
            .map(String::into_bytes)
            .map_err(|e| D::Error::custom(format!("the scenario text: {e}")))
    }
}

/// SIP transport (`-t`). UDP runs on the shard sockets; TCP, TLS and WebSocket run on
/// `engine::transport` connections. `ui` is parsed but not available yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportMode {
    /// `u1`: one UDP socket for every call.
    UdpShared,
    /// `un`: one UDP socket per call.
    UdpPerCall,
    /// `ui`: one UDP socket per local IP address taken from the injection file (`-ip_field`).
    UdpPerIp,
    /// `t1`.
    TcpShared,
    /// `tn`.
    TcpPerCall,
    /// `l1`.
    TlsShared,
    /// `ln`.
    TlsPerCall,
    /// `w1`, `wn`, `ws1`, `wsn`.
    WsShared,
    WsPerCall,
    WssShared,
    WssPerCall,
}

impl TransportMode {
    /// Every mode, in `-h` order.
    pub const ALL: [TransportMode; 11] = [
        TransportMode::UdpShared,
        TransportMode::UdpPerCall,
        TransportMode::UdpPerIp,
        TransportMode::TcpShared,
        TransportMode::TcpPerCall,
        TransportMode::TlsShared,
        TransportMode::TlsPerCall,
        TransportMode::WsShared,
        TransportMode::WsPerCall,
        TransportMode::WssShared,
        TransportMode::WssPerCall,
    ];

    /// The mode's `-t` code (what `parse` reads back).
    pub fn code(self) -> &'static str {
        match self {
            TransportMode::UdpShared => "u1",
            TransportMode::UdpPerCall => "un",
            TransportMode::UdpPerIp => "ui",
            TransportMode::TcpShared => "t1",
            TransportMode::TcpPerCall => "tn",
            TransportMode::TlsShared => "l1",
            TransportMode::TlsPerCall => "ln",
            TransportMode::WsShared => "w1",
            TransportMode::WsPerCall => "wn",
            TransportMode::WssShared => "ws1",
            TransportMode::WssPerCall => "wsn",
        }
    }

    /// Parses SIPp's `-t` codes (and gossipper's WebSocket codes).
    pub fn parse(code: &str) -> Option<TransportMode> {
        Some(match code.to_ascii_lowercase().as_str() {
            "u1" | "s1" => TransportMode::UdpShared,
            "un" | "sn" => TransportMode::UdpPerCall,
            "ui" => TransportMode::UdpPerIp,
            "t1" => TransportMode::TcpShared,
            "tn" => TransportMode::TcpPerCall,
            "l1" | "sl" | "cl" => TransportMode::TlsShared,
            "ln" | "cln" => TransportMode::TlsPerCall,
            "w1" => TransportMode::WsShared,
            "wn" => TransportMode::WsPerCall,
            "ws1" => TransportMode::WssShared,
            "wsn" => TransportMode::WssPerCall,
            _ => return None,
        })
    }

    /// What `[transport]` renders.
    pub fn keyword(self) -> &'static str {
        match self {
            TransportMode::UdpShared | TransportMode::UdpPerCall | TransportMode::UdpPerIp => "UDP",
            TransportMode::TcpShared | TransportMode::TcpPerCall => "TCP",
            TransportMode::TlsShared | TransportMode::TlsPerCall => "TLS",
            TransportMode::WsShared | TransportMode::WsPerCall => "WS",
            TransportMode::WssShared | TransportMode::WssPerCall => "WSS",
        }
    }

    pub fn is_udp(self) -> bool {
        matches!(
            self,
            TransportMode::UdpShared | TransportMode::UdpPerCall | TransportMode::UdpPerIp
        )
    }

    /// A stream transport with one connection per call (tn, ln, wn, wsn).
    pub fn is_stream_per_call(self) -> bool {
        matches!(
            self,
            TransportMode::TcpPerCall
                | TransportMode::TlsPerCall
                | TransportMode::WsPerCall
                | TransportMode::WssPerCall
        )
    }
}

impl Serialize for TransportMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for TransportMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        TransportMode::parse(&code).ok_or_else(|| {
            let known: Vec<&str> = TransportMode::ALL.iter().map(|t| t.code()).collect();
            serde::de::Error::custom(format!(
                "unknown transport \"{code}\" (one of {})",
                known.join(", ")
            ))
        })
    }
}

/// SIPp's default behaviours (`-default_behaviors`, `-nd`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DefaultBehaviors {
    /// Send BYE for aborted calls that were answered.
    pub bye: bool,
    /// Answer 200 to pings (`-aa` style) for out-of-call requests.
    pub pingreply: bool,
    /// Abort the call on an unexpected message.
    pub abort_unexp: bool,
    /// Send CANCEL for aborted calls that were not answered.
    pub cancel: bool,
}

impl Default for DefaultBehaviors {
    fn default() -> Self {
        DefaultBehaviors {
            bye: true,
            pingreply: true,
            abort_unexp: true,
            cancel: true,
        }
    }
}

/// RFC 3261 retransmission settings for UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetransConfig {
    /// `-nr` turns retransmissions off.
    pub enabled: bool,
    /// T2 cap for non-INVITE requests (`-T2`, default 4000 ms).
    pub t2_ms: u64,
    /// `-max_invite_retrans` (SIPp default 5).
    pub max_invite_retrans: u32,
    /// `-max_non_invite_retrans` (SIPp default 7).
    pub max_non_invite_retrans: u32,
}

impl Default for RetransConfig {
    fn default() -> Self {
        RetransConfig {
            enabled: true,
            t2_ms: 4000,
            max_invite_retrans: 5,
            max_non_invite_retrans: 7,
        }
    }
}

/// Trace files to write (all off by default). Paths are resolved by the binary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceConfig {
    /// -trace_stat: CSV path and period.
    pub stat_file: Option<PathBuf>,
    pub stat_period_ms: u64,
    pub stat_delimiter: String,
    pub periodic_rtd: bool,
    /// -trace_msg.
    pub message_file: Option<PathBuf>,
    /// -trace_shortmsg.
    pub shortmessage_file: Option<PathBuf>,
    /// -trace_err.
    pub error_file: Option<PathBuf>,
    /// -trace_screen.
    pub screen_file: Option<PathBuf>,
    /// -trace_rtt + -rtt_freq.
    pub rtt_file: Option<PathBuf>,
    pub rtt_freq: u64,
    /// -trace_counts.
    pub counts_file: Option<PathBuf>,
    /// -trace_logs.
    pub log_file: Option<PathBuf>,
    /// -trace_error_codes: response codes of unexpected messages.
    pub error_codes_file: Option<PathBuf>,
    /// -trace_calldebug (+ -calldebug_file): debugging dump of aborted calls.
    pub calldebug_file: Option<PathBuf>,
    /// -summary_json.
    pub summary_json: Option<PathBuf>,
    /// -call_records_jsonl.
    pub call_records: Option<PathBuf>,
    /// -metrics_addr: serve this run's Prometheus metrics (`GET /metrics`, no
    /// authentication) on this address, updated every second.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// -summary_html: the run's report page (drawn by the binary from the summary).
    pub summary_html: Option<PathBuf>,
    /// -stat_period: a one-line summary on stderr every this many ms (the binary prints).
    pub stat_line_period_ms: Option<u64>,
    /// -hep_addr and friends: every SIP message (and, when asked, RTCP report) copied
    /// to a HEP3 collector.
    pub hep: Option<crate::output::hep::HepConfig>,
}

impl Default for TraceConfig {
    /// No file; SIPp's periods and delimiter (`-fd 60`, `-stat_delimiter ;`,
    /// `-rtt_freq 200`).
    fn default() -> Self {
        TraceConfig {
            stat_file: None,
            stat_period_ms: 60_000,
            stat_delimiter: ";".into(),
            periodic_rtd: false,
            message_file: None,
            shortmessage_file: None,
            error_file: None,
            screen_file: None,
            rtt_file: None,
            rtt_freq: 200,
            counts_file: None,
            log_file: None,
            error_codes_file: None,
            calldebug_file: None,
            summary_json: None,
            call_records: None,
            metrics_addr: None,
            summary_html: None,
            stat_line_period_ms: None,
            hep: None,
        }
    }
}

/// `-record_wav_dir` / `-record_wav_duplex` (issue 6): record every call, or not.
///
/// A recorded call writes `<record_dir>/<sanitised call-id>.wav` when it ends, exactly as
/// a path-less `rtp_record` would. The recording starts with the call's first RTP packet,
/// sent or received, so a call without RTP writes no file. An `rtp_record` action in the
/// scenario takes over from the automatic recording of its call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordCalls {
    /// No automatic recording (`rtp_record` actions still record).
    #[default]
    Off,
    /// Mono: what the peer sent us.
    Mono,
    /// Stereo: left = what we sent, right = what we received.
    Duplex,
}

/// Health gates (gossipper extras): any failing one makes the exit code 2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthGates {
    pub min_success_ratio: Option<f64>,
    pub max_failed_calls: Option<u64>,
    pub max_timeouts: Option<u64>,
    /// `-health_max_rtcp_fraction_lost` (0..1): the worst fraction lost a peer reported
    /// about our streams in RTCP.
    pub max_rtcp_fraction_lost: Option<f64>,
    /// `-health_max_rtcp_jitter_ts`: the worst RTCP-reported jitter, timestamp units.
    pub max_rtcp_jitter_ts: Option<u64>,
    /// `-health_min_rtp_packets_recv`: RTP packets received in the run.
    pub min_rtp_packets_recv: Option<u64>,
    /// `-health_min_rtp_packets_recv_per_call`: the fewest one call with media received.
    pub min_rtp_packets_recv_per_call: Option<u64>,
}

impl HealthGates {
    /// Whether a media gate (RTP or RTCP) is set.
    pub fn has_media_gates(&self) -> bool {
        self.max_rtcp_fraction_lost.is_some()
            || self.max_rtcp_jitter_ts.is_some()
            || self.min_rtp_packets_recv.is_some()
            || self.min_rtp_packets_recv_per_call.is_some()
    }

    /// The gates rewritten as the thresholds they mean, so one verdict covers both.
    pub fn thresholds(&self) -> Vec<Threshold> {
        let g = self;
        let mut out = Vec::new();
        if let Some(r) = g.min_success_ratio.filter(|r| *r > 0.0) {
            out.push(Threshold {
                text: format!("success_ratio>={}%", show(r * 100.0, 4)),
                metric: Metric::SuccessRatio,
                op: Op::Ge,
                value: r,
                relative: false,
            });
        }
        for (max, metric, name) in [
            (g.max_failed_calls, Metric::FailedCalls, "failed_calls"),
            (g.max_timeouts, Metric::Timeouts, "timeouts"),
        ] {
            if let Some(n) = max {
                out.push(Threshold {
                    text: format!("{name}<={n}"),
                    metric,
                    op: Op::Le,
                    value: n as f64,
                    relative: false,
                });
            }
        }
        if let Some(r) = g.max_rtcp_fraction_lost {
            out.push(Threshold {
                text: format!("rtcp_fraction_lost<={}%", show(r * 100.0, 4)),
                metric: Metric::RtcpFractionLost,
                op: Op::Le,
                value: r,
                relative: false,
            });
        }
        for (limit, metric, name, op, sign) in [
            (
                g.max_rtcp_jitter_ts,
                Metric::RtcpJitterTs,
                "rtcp_jitter_ts",
                Op::Le,
                "<=",
            ),
            (
                g.min_rtp_packets_recv,
                Metric::RtpPacketsRecv,
                "rtp_packets_recv",
                Op::Ge,
                ">=",
            ),
            (
                g.min_rtp_packets_recv_per_call,
                Metric::RtpPacketsRecvPerCall,
                "rtp_packets_recv_per_call",
                Op::Ge,
                ">=",
            ),
        ] {
            if let Some(n) = limit {
                out.push(Threshold {
                    text: format!("{name}{sign}{n}"),
                    metric,
                    op,
                    value: n as f64,
                    relative: false,
                });
            }
        }
        out
    }
}

/// One run of the engine, fully resolved.
/// How WebRTC calls (`<scenario webrtc="true">`) set up their bridges. Unused by other
/// scenarios.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebrtcSpec {
    /// The job asked for WebRTC media (a profile's `webrtc` row): its scenario must be a
    /// `webrtc="true"` one, or the job is refused before it runs.
    pub enabled: bool,
    /// ICE servers: `stun:host[:port]`, and one `turn:[user:pass@]host[:port][?transport=udp]`
    /// (TURN over TCP or TLS is refused when the run prepares).
    pub ice_servers: Vec<String>,
    /// Static TURN credentials (a URL's inline pair wins; then `ice_auth_secret`).
    pub ice_username: String,
    pub ice_credential: String,
    /// coturn REST shared secret (`use-auth-secret`): credentials made per call, the
    /// identity being `ice_username` (or `gossipper`).
    pub ice_auth_secret: String,
    /// Lifetime of REST credentials, seconds.
    pub ice_auth_ttl_sec: u32,
    /// ICE transport policy `relay`: the TURN relay is each call's only candidate.
    pub relay_only: bool,
    /// Offer PCMA before PCMU, and send PCMA when the peer takes both.
    pub prefers_pcma: bool,
    /// From negotiation to ICE connected, ms.
    pub ice_timeout_ms: u64,
    /// From ICE connected to DTLS connected, ms.
    pub dtls_timeout_ms: u64,
}

impl Default for WebrtcSpec {
    fn default() -> Self {
        WebrtcSpec {
            enabled: false,
            ice_servers: Vec::new(),
            ice_username: String::new(),
            ice_credential: String::new(),
            ice_auth_secret: String::new(),
            ice_auth_ttl_sec: 86_400,
            relay_only: false,
            prefers_pcma: false,
            ice_timeout_ms: 10_000,
            dtls_timeout_ms: 10_000,
        }
    }
}

/// 3PCC: how this process reaches its twin(s) (SIPp's `-3pcc` and extended mode).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwinSpec {
    /// `-3pcc ip:port`: the twin's address. The side whose scenario starts with
    /// `<sendCmd>` (controller A) connects to it; the other side listens on it.
    pub twin: Option<SocketAddr>,
    /// `-master name` (extended 3PCC).
    pub master: Option<String>,
    /// `-slave name` (extended 3PCC).
    pub slave: Option<String>,
    /// `-slave_cfg` file: the address of every master and slave (`name;ip:port` lines).
    pub slave_cfg: Option<PathBuf>,
}

impl TwinSpec {
    /// Whether any 3PCC mode is on.
    pub fn enabled(&self) -> bool {
        self.twin.is_some() || self.master.is_some() || self.slave.is_some()
    }

    /// Extended mode: this process's own name (`-master` or `-slave`).
    pub fn own_name(&self) -> Option<&str> {
        self.master.as_deref().or(self.slave.as_deref())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSpec {
    pub scenario: ScenarioSource,
    /// The peer: `host[:port]` positional argument or `-rsa`. `None` for a UAS.
    pub remote: Option<SocketAddr>,
    /// The text the user gave for the remote host (`[remote_host]`).
    pub remote_host: Option<String>,
    pub transport: TransportMode,
    /// `-i`: address put in Via/Contact and bound to. `None`: detected.
    pub local_ip: Option<IpAddr>,
    /// `-p`: local port. `None`: 5060 for servers when free, else any.
    pub local_port: Option<u16>,
    /// `-mi` / `-mp`.
    pub media_ip: Option<IpAddr>,
    pub media_port: Option<u16>,
    /// `-s`: `[service]`.
    pub service: String,
    /// `-r` calls per `-rp` ms.
    pub rate: f64,
    pub rate_period_ms: u64,
    /// `-rate_increase`, `-rate_interval` ms, `-rate_max`, `-no_rate_quit`.
    pub rate_increase: Option<f64>,
    pub rate_interval_ms: Option<u64>,
    pub rate_max: Option<f64>,
    pub no_rate_quit: bool,
    /// `-m`: stop after this many calls (created for clients, processed for servers).
    pub max_calls: Option<u64>,
    /// `-l`: concurrent call limit. `None`: SIPp's 3 × rate × max(duration, 1 s).
    pub call_limit: Option<u64>,
    /// `-users`: closed-loop users instead of a rate.
    pub users: Option<u64>,
    /// `-d`: length of `<pause/>` without a duration, ms.
    pub default_pause_ms: u64,
    /// `-timeout`: whole-run timeout, ms; `-timeout_error`.
    pub global_timeout_ms: Option<u64>,
    pub timeout_error: bool,
    /// `-recv_timeout`, ms.
    pub recv_timeout_ms: Option<u64>,
    /// `-recv_bye_timeout_ms` (the Go gossipper's): the least time a mandatory
    /// `<recv request="BYE">` with a timeout (its own or `-recv_timeout`) waits, ms.
    pub recv_bye_min_ms: Option<u64>,
    pub retrans: RetransConfig,
    /// `-aa`.
    pub auto_answer: bool,
    pub default_behaviors: DefaultBehaviors,
    /// `-base_cseq`.
    pub base_cseq: u32,
    /// `-cid_str` (SIPp default `%u-%p@%s`).
    pub cid_str: String,
    /// `-key name value`.
    pub keys: Vec<(String, String)>,
    /// `-set var value`.
    pub set_vars: Vec<(String, String)>,
    /// `-au` / `-ap`.
    pub auth_username: Option<String>,
    pub auth_password: Option<String>,
    /// `-inf` files, in order (the first is the default for `[fieldN]`).
    pub inject_files: Vec<PathBuf>,
    /// `-shards N`; `None`: one per CPU of the affinity mask.
    pub shards: Option<usize>,
    /// `-buff_size` for SO_RCVBUF/SO_SNDBUF; `None`: sized for the rate.
    pub buff_size: Option<usize>,
    /// `-max_socket` (un/tn).
    pub max_sockets: Option<usize>,
    /// Allow `<exec command=…>` (`-allow_exec`); never on for uploaded scenarios.
    pub allow_exec_command: bool,
    /// Seed for Call-IDs, tags and random choices; written to summary.json.
    pub seed: u64,
    pub trace: TraceConfig,
    pub health: HealthGates,
    /// `-threshold` (and the API's `thresholds`): judged at the end, exit 2 when one
    /// fails; checked against the scenario before the run starts.
    pub thresholds: Vec<Threshold>,
    /// `-rtp_echo`.
    pub rtp_echo: bool,
    /// `-media_srtp` (SDES) / `-media_reject_srtp`. Any value but `Off` gives the run a
    /// media engine (it reads every SDP).
    pub media_srtp: crate::media::SrtpPolicy,
    /// The WebRTC settings of `webrtc="true"` scenarios (a profile's `webrtc` row).
    pub webrtc: WebrtcSpec,
    /// The REGISTER gateway's account (a gateway job armed with a UAS scenario): kept
    /// registered from the UAS socket while the run lasts. A contact port of 0 is the
    /// bound UAS port; an unspecified contact address is the local address.
    pub register: Option<crate::register::RegisterSpec>,
    /// `-record_wav_dir`: where recordings named after their call go (every call's with
    /// `record_calls`, and `rtp_record` without a path). `None`: `recordings` in the
    /// working directory.
    pub record_dir: Option<PathBuf>,
    /// `-record_wav_dir` (mono) / `-record_wav_duplex` (stereo): record every call
    /// (issue 6). Any value but `Off` gives the run a media engine.
    pub record_calls: RecordCalls,
    /// `-bg`: run detached (the binary re-spawns itself and prints the PID).
    pub background: bool,
    /// `-nostdin`: no keyboard control.
    pub nostdin: bool,
    /// `-ci` / `-cp`: the UDP control socket (SIPp's default port is 8888).
    pub control_ip: Option<IpAddr>,
    pub control_port: Option<u16>,
    /// `-rsa host:port`: where messages are actually sent when it differs from `remote`
    /// (SIPp keeps rendering `[remote_ip]`/`[remote_port]` from `remote`).
    pub send_to: Option<SocketAddr>,
    /// `-bind_local`: bind the SIP sockets to `local_ip` instead of the wildcard address.
    pub bind_local: bool,
    /// 3PCC: `-3pcc`, `-master`, `-slave`, `-slave_cfg` (SIPp's twin modes).
    pub twin: TwinSpec,
    /// `-min_rtp_port` / `-max_rtp_port`: the media port range (SIPp 3.7).
    pub min_rtp_port: Option<u16>,
    pub max_rtp_port: Option<u16>,
    /// `-pcap-link` (the Go gossipper's): the link type (DLT number) every `play_pcap_*`
    /// capture read from disk is decoded as, instead of its own. `None`: each capture's.
    pub pcap_link: Option<u32>,
    /// `-rate_scale`: step for the `+ - * /` keys (SIPp default 1).
    pub rate_scale: f64,
    /// `-rtcheck loose`: retransmission detection by Call-ID + CSeq only (default `full`).
    /// `-lost`: percentage of packets to drop on purpose (scenario attributes override it).
    pub lost_percent: Option<f64>,
    /// `-auth_uri`: URI used in digest authentication instead of `remote_ip:remote_port`.
    pub auth_uri: Option<String>,
    /// `-infindex file field`: build an index of an injection file on that field.
    pub inject_indexes: Vec<(PathBuf, usize)>,
    /// `-ip_field`: the injection field holding the local IP (`-t ui`).
    pub ip_field: Option<usize>,
    /// `-max_reconnect`, `-reconnect_sleep` (ms), `-reconnect_close` (SIPp default true):
    /// stream transports only.
    pub max_reconnect: Option<u32>,
    pub reconnect_sleep_ms: Option<u64>,
    pub reconnect_close: bool,
    /// `-stream_idle_timeout` (ms; gossipper's, SIPp has none): accepted stream
    /// connections that send no whole message or keepalive for this long and carry no
    /// live call, or leave half a message unfinished this long, are closed. `None`: the
    /// default (`transport::DEFAULT_IDLE_TIMEOUT`); 0: never.
    pub stream_idle_timeout_ms: Option<u64>,
    /// `-f`: live screen refresh period, ms (SIPp default 1 s).
    pub screen_refresh_ms: u64,
    /// `-tls_cert`, `-tls_key`, `-tls_ca`, `-tls_version` (gossipper extras; stored for the
    /// TLS transports).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_ca: Option<PathBuf>,
    pub tls_version: Option<String>,
    /// `-ws_path`: request path of the WebSocket upgrade (gossipper extra).
    pub ws_path: Option<String>,
    /// issue 20: this run is segment `i/N` of a run split over N workers
    /// (`crate::segment`); the other fields are the whole run's, the runner divides them.
    pub segment: Option<crate::segment::Segment>,
    /// issue 20: the instant (Unix ms) the run's calls start, so that N workers begin on
    /// the same millisecond (`None`: at once; an instant already past: at once).
    pub start_at_unix_ms: Option<u64>,
    /// The rule for every file the run reads or writes because the scenario, the command
    /// line or a profile names it (`files`): `Cwd` for SIPp's command line, `Confined`
    /// for a job of the master. The default reads nothing.
    pub file_access: crate::files::FileAccess,
}

impl JobSpec {
    /// The rate asked for, in calls per second (`-r` per `-rp`).
    pub fn rate_cps(&self) -> f64 {
        crate::load::rate_cps(self.rate, self.rate_period_ms)
    }
}

impl Default for JobSpec {
    fn default() -> Self {
        JobSpec {
            scenario: ScenarioSource::Builtin("uac".into()),
            remote: None,
            remote_host: None,
            transport: TransportMode::UdpShared,
            local_ip: None,
            local_port: None,
            media_ip: None,
            media_port: None,
            service: "service".into(),
            rate: 10.0,
            rate_period_ms: 1000,
            rate_increase: None,
            rate_interval_ms: None,
            rate_max: None,
            no_rate_quit: false,
            max_calls: None,
            call_limit: None,
            users: None,
            default_pause_ms: 0,
            global_timeout_ms: None,
            timeout_error: false,
            recv_timeout_ms: None,
            recv_bye_min_ms: None,
            retrans: RetransConfig::default(),
            auto_answer: false,
            default_behaviors: DefaultBehaviors::default(),
            base_cseq: 1,
            cid_str: "%u-%p@%s".into(),
            keys: Vec::new(),
            set_vars: Vec::new(),
            auth_username: None,
            auth_password: None,
            inject_files: Vec::new(),
            shards: None,
            buff_size: None,
            max_sockets: None,
            allow_exec_command: false,
            seed: 0,
            trace: TraceConfig::default(),
            health: HealthGates::default(),
            thresholds: Vec::new(),
            rtp_echo: false,
            media_srtp: crate::media::SrtpPolicy::Off,
            webrtc: WebrtcSpec::default(),
            register: None,
            record_dir: None,
            record_calls: RecordCalls::Off,
            background: false,
            nostdin: false,
            control_ip: None,
            control_port: None,
            send_to: None,
            bind_local: false,
            twin: TwinSpec::default(),
            min_rtp_port: None,
            max_rtp_port: None,
            pcap_link: None,
            rate_scale: 1.0,
            lost_percent: None,
            auth_uri: None,
            inject_indexes: Vec::new(),
            ip_field: None,
            max_reconnect: None,
            reconnect_sleep_ms: None,
            reconnect_close: true,
            stream_idle_timeout_ms: None,
            screen_refresh_ms: 1000,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            file_access: crate::files::FileAccess::NoFiles,
            tls_version: None,
            ws_path: None,
            segment: None,
            start_at_unix_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{FileAccess, JobRoots};

    #[test]
    fn a_job_spec_round_trips_through_json() {
        let spec = JobSpec {
            scenario: ScenarioSource::Xml {
                name: "mine.xml".into(),
                text: b"<scenario name=\"x\"/>".to_vec(),
            },
            remote: Some("127.0.0.1:5060".parse().unwrap()),
            transport: TransportMode::WssPerCall,
            keys: vec![("sip_pai".into(), "sip:+1@x".into())],
            thresholds: crate::stats::thresholds::parse_list("p99(response_time)<50ms,rate>=95%")
                .unwrap(),
            record_calls: crate::media::RecordCalls::Duplex,
            file_access: FileAccess::Confined(JobRoots {
                data_dir: "/d".into(),
                job_dir: "/d/artifacts/jobs/j".into(),
            }),
            ..JobSpec::default()
        };
        let text = serde_json::to_string(&spec).unwrap();
        assert!(text.contains(r#""transport":"wsn""#), "{text}");
        assert!(text.contains(r#""thresholds":["p99(response_time)<50ms","rate>=95%"]"#));
        assert_eq!(serde_json::from_str::<JobSpec>(&text).unwrap(), spec);
        let default = serde_json::to_string(&JobSpec::default()).unwrap();
        assert_eq!(
            serde_json::from_str::<JobSpec>(&default).unwrap(),
            JobSpec::default()
        );
    }

    #[test]
    fn a_hand_written_spec_names_only_what_it_changes() {
        let spec: JobSpec = serde_json::from_str(
            r#"{"scenario":{"builtin":"uac"},"rate":250,"trace":{"periodic_rtd":true},"file_access":"cwd"}"#,
        )
        .unwrap();
        assert_eq!(spec.rate, 250.0);
        assert_eq!(spec.file_access, FileAccess::Cwd);
        assert_eq!(spec.trace.stat_period_ms, 60_000, "SIPp's default kept");
        assert_eq!(spec.retrans, RetransConfig::default());
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused_by_name() {
        let err = |text: &str| {
            serde_json::from_str::<JobSpec>(text)
                .unwrap_err()
                .to_string()
        };
        assert!(err(r#"{"rtae":10}"#).contains("unknown field `rtae`"));
        assert!(err(r#"{"retrans":{"t3_ms":1}}"#).contains("unknown field `t3_ms`"));
        let e = err(r#"{"transport":"carrier-pigeon"}"#);
        assert!(e.contains("unknown transport \"carrier-pigeon\""), "{e}");
        let e = err(r#"{"thresholds":["p99(rt<5"]}"#);
        assert!(e.contains("p99(rt<5"), "{e}");
        assert!(err(r#"{"file_access":"anywhere"}"#).contains("anywhere"));
    }
}
