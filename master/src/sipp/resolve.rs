//! `SippArgs` → `JobSpec`: SIPp's defaults, units and rules applied once, with validation.
//!
//! Owns: every decision about what a raw flag value means (ripgrep's lowargs → hiargs).
//! Must not: read files or start anything; the only outside input is `Env` (pid, a seed)
//! and name resolution of the remote host and `-i`/`-mi`/`-ci` names.
//!
//! SIPp rules kept on purpose (checked against SIPp 3.6.1):
//! - trace files default to `<scenario>_<pid>_<suffix>` in the current directory, where
//!   `<scenario>` is the `-sn` name or the `-sf` file name minus a trailing `.xml`;
//! - `-message_file`, `-stf`, `-screen_file`… only name a file; the `-trace_*` switch
//!   turns it on;
//! - `-max_retrans` sets both retransmission limits, the specific flags override it;
//! - `-rate_interval` defaults to the `-fd` period once `-rate_increase` is given;
//! - `-timeout 0` and `-recv_timeout 0` mean "none";
//! - `-default_behaviors` starts from none, `-nd` turns everything off.
//!
//! `-bg` only sets `JobSpec::background`: detaching is the launcher's job.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use gossipper_engine::config::{DefaultBehaviors, JobSpec, ScenarioSource, TransportMode};
use gossipper_engine::files::FileAccess;
use gossipper_engine::media::{RecordCalls, SrtpPolicy};
use gossipper_engine::output::hep::{DEFAULT_CAPTURE_ID, HepConfig};
use gossipper_engine::scenario::builtin;
use gossipper_engine::segment::Segment;
use gossipper_engine::stats::thresholds;
use gossipper_media::webrtc::{IceSettings, check_ice_settings};

use super::args::SippArgs;
use super::error::CliError;
use super::units::{self, TimeUnit};

/// SIP's default port, for a remote host given without one.
const DEFAULT_SIP_PORT: u16 = 5060;

/// What resolution needs from the process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Env {
    /// Goes into default trace file names.
    pub(crate) pid: u32,
    /// Used when `-seed` is not given.
    pub(crate) seed: u64,
    /// `$JOB_COMPLETION_INDEX` (for `-segments`), when set and a number.
    pub(crate) completion_index: Option<u32>,
}

impl Env {
    /// This process: its pid and a seed from the wall clock.
    pub(crate) fn current() -> Env {
        let pid = std::process::id();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Env {
            pid,
            seed: nanos ^ (u64::from(pid) << 32),
            completion_index: std::env::var("JOB_COMPLETION_INDEX")
                .ok()
                .and_then(|v| v.trim().parse().ok()),
        }
    }
}

/// `-segment i/n`, or `-segments n` with `$JOB_COMPLETION_INDEX` (issue 20).
fn segment(a: &SippArgs, env: &Env) -> Result<Option<Segment>, CliError> {
    let invalid = |flag, reason: String| CliError::Invalid { flag, reason };
    match (&a.segment, &a.segments) {
        (Some(_), Some(_)) => Err(CliError::Conflict {
            flag: "segment",
            other: "segments",
        }),
        (Some(t), None) => Segment::parse(t)
            .map(Some)
            .map_err(|e| invalid("segment", e.to_string())),
        (None, Some(t)) => {
            let n = units::uint("segments", t)?;
            let i = env.completion_index.ok_or_else(|| {
                invalid(
                    "segments",
                    "needs $JOB_COMPLETION_INDEX (or give -segment i/n)".into(),
                )
            })?;
            Segment::new(i, n)
                .map(Some)
                .map_err(|e| invalid("segments", e.to_string()))
        }
        (None, None) => Ok(None),
    }
}

/// Resolves and validates every flag.
pub(crate) fn resolve(a: &SippArgs, env: &Env) -> Result<JobSpec, CliError> {
    // Scenario.
    let scenario = match (&a.sf, &a.sn) {
        (Some(_), Some(_)) => {
            return Err(CliError::Conflict {
                flag: "sf",
                other: "sn",
            });
        }
        (Some(f), None) => ScenarioSource::File(PathBuf::from(f)),
        (None, Some(n)) => ScenarioSource::Builtin(builtin_name("sn", n)?),
        (None, None) => ScenarioSource::Builtin("uac".into()),
    };
    let mut spec = JobSpec {
        scenario,
        // A trusted single-user run reads the paths it is given, as SIPp does (relative
        // to the working directory, absolute allowed; regular files only, size-capped).
        file_access: FileAccess::Cwd,
        ..JobSpec::default()
    };

    // Network.
    if let Some(t) = &a.t {
        spec.transport = transport(t)?;
    }
    if let Some(text) = &a.remote {
        let (host, addr) = remote_addr("remote host", text)?;
        spec.remote = Some(addr);
        spec.remote_host = Some(host);
    }
    if let Some(text) = &a.rsa {
        let (host, addr) = remote_addr("-rsa", text)?;
        spec.send_to = Some(addr);
        if spec.remote.is_none() {
            spec.remote = Some(addr);
            spec.remote_host = Some(host);
        }
    }
    spec.local_ip = a.i.as_deref().map(|t| ip("i", t)).transpose()?;
    spec.local_port = a.p.as_deref().map(|t| units::port("p", t)).transpose()?;
    spec.bind_local = a.bind_local;
    spec.control_ip = a.ci.as_deref().map(|t| ip("ci", t)).transpose()?;
    spec.control_port = a.cp.as_deref().map(|t| units::port("cp", t)).transpose()?;
    spec.max_sockets = a
        .max_socket
        .as_deref()
        .map(|t| positive::<usize>("max_socket", t))
        .transpose()?;
    spec.max_reconnect = a
        .max_reconnect
        .as_deref()
        .map(|t| units::uint("max_reconnect", t))
        .transpose()?;
    spec.reconnect_sleep_ms = a
        .reconnect_sleep
        .as_deref()
        .map(|t| units::time_ms("reconnect_sleep", t, TimeUnit::Millis))
        .transpose()?;
    for (flag, t) in &a.overwrite {
        // Trace files are always written afresh: true is what happens, false is refused.
        if !units::boolean(flag, t)? {
            return Err(CliError::Unsupported {
                flag,
                what: "appending to an existing trace file (every trace file is overwritten)",
            });
        }
    }
    if let Some(t) = &a.reconnect_close {
        spec.reconnect_close = units::boolean("reconnect_close", t)?;
    }
    spec.stream_idle_timeout_ms = a
        .stream_idle_timeout
        .as_deref()
        .map(|t| units::time_ms("stream_idle_timeout", t, TimeUnit::Seconds))
        .transpose()?;
    spec.tls_cert = a.tls_cert.as_ref().map(PathBuf::from);
    spec.tls_key = a.tls_key.as_ref().map(PathBuf::from);
    spec.tls_ca = a.tls_ca.as_ref().map(PathBuf::from);
    spec.tls_version = a.tls_version.clone();
    spec.ws_path = a.ws_path.clone();
    tls_skip_verify(a, spec.transport)?;

    // Overall.
    spec.background = a.bg;
    spec.nostdin = a.nostdin;
    spec.buff_size = a
        .buff_size
        .as_deref()
        .map(|t| positive::<usize>("buff_size", t))
        .transpose()?;
    if let Some(t) = &a.lost {
        let v = units::number("lost", t)?;
        if v > 100.0 {
            return Err(CliError::Invalid {
                flag: "lost",
                reason: format!("{v} is over 100 percent"),
            });
        }
        spec.lost_percent = Some(v);
    }
    spec.keys = a.keys.clone();
    spec.set_vars = a.sets.clone();

    // Call behaviour.
    spec.auto_answer = a.aa;
    if let Some(t) = &a.base_cseq {
        spec.base_cseq = units::uint("base_cseq", t)?;
    }
    if let Some(s) = &a.cid_str {
        spec.cid_str = s.clone();
    }
    if let Some((flag, t)) = alias(("d", &a.d), ("pause_ms", &a.pause_ms))? {
        spec.default_pause_ms = units::time_ms(flag, t, TimeUnit::Millis)?;
    }
    spec.auth_uri = a.auth_uri.clone();
    spec.auth_username = a.au.clone();
    spec.auth_password = a.ap.clone();
    if let Some(s) = &a.s {
        spec.service = s.clone();
    }
    if let Some(list) = &a.default_behaviors {
        spec.default_behaviors = default_behaviors(list)?;
    }
    if a.nd {
        spec.default_behaviors = DefaultBehaviors {
            bye: false,
            pingreply: false,
            abort_unexp: false,
            cancel: false,
        };
    }

    // Injection.
    spec.inject_files = a.inf.iter().map(PathBuf::from).collect();
    spec.inject_indexes = a
        .infindex
        .iter()
        .map(|(file, field)| Ok((PathBuf::from(file), units::uint("infindex", field)?)))
        .collect::<Result<_, CliError>>()?;
    spec.ip_field = a
        .ip_field
        .as_deref()
        .map(|t| units::uint("ip_field", t))
        .transpose()?;
    if spec.ip_field.is_some() && spec.transport != TransportMode::UdpPerIp {
        return Err(CliError::Invalid {
            flag: "ip_field",
            reason:
                "names the injection field of each call's source address, which only -t ui uses"
                    .into(),
        });
    }

    // Media.
    spec.media_ip = a.mi.as_deref().map(|t| ip("mi", t)).transpose()?;
    spec.media_port = a.mp.as_deref().map(|t| units::port("mp", t)).transpose()?;
    spec.min_rtp_port = a
        .min_rtp_port
        .as_deref()
        .map(|t| units::port("min_rtp_port", t))
        .transpose()?;
    spec.max_rtp_port = a
        .max_rtp_port
        .as_deref()
        .map(|t| units::port("max_rtp_port", t))
        .transpose()?;
    if let (Some(lo), Some(hi)) = (spec.min_rtp_port, spec.max_rtp_port)
        && lo > hi
    {
        return Err(CliError::Invalid {
            flag: "min_rtp_port",
            reason: format!("{lo} is above -max_rtp_port {hi}"),
        });
    }
    spec.pcap_link = match a.pcap_link.as_deref() {
        Some(t) => gossipper_media::parse_pcap_link(t)
            .map_err(|reason| CliError::Invalid {
                flag: "pcap-link",
                reason,
            })?
            .map(u32::from),
        None => None,
    };
    spec.rtp_echo = a.rtp_echo;
    spec.media_srtp = match (a.media_srtp, a.media_reject_srtp) {
        (true, true) => {
            return Err(CliError::Conflict {
                flag: "media_reject_srtp",
                other: "media_srtp",
            });
        }
        (true, false) => SrtpPolicy::Sdes,
        (false, true) => SrtpPolicy::Reject,
        (false, false) => SrtpPolicy::Off,
    };
    // issue 6: record every call (the Go gossipper's flags).
    spec.record_calls = match (a.record_wav_dir.as_deref(), a.record_wav_duplex) {
        (None, false) => RecordCalls::Off,
        (None, true) => {
            return Err(CliError::Invalid {
                flag: "record_wav_duplex",
                reason: "needs -record_wav_dir <dir>".into(),
            });
        }
        (Some(""), _) => {
            return Err(CliError::Invalid {
                flag: "record_wav_dir",
                reason: "needs a directory".into(),
            });
        }
        (Some(_), false) => RecordCalls::Mono,
        (Some(_), true) => RecordCalls::Duplex,
    };
    spec.record_dir = a.record_wav_dir.as_ref().map(PathBuf::from);
    // WebRTC ICE (a webrtc="true" scenario; naming any of these with another scenario is
    // refused when the run starts, as the job then asks for WebRTC media).
    let ice_given = !a.ice_server.is_empty()
        || a.turn_user.is_some()
        || a.turn_pass.is_some()
        || a.turn_secret.is_some()
        || a.turn_ttl.is_some()
        || a.ice_relay_only;
    if ice_given {
        let w = &mut spec.webrtc;
        w.enabled = true;
        w.ice_servers.clone_from(&a.ice_server);
        w.ice_username = a.turn_user.clone().unwrap_or_default();
        w.ice_credential = a.turn_pass.clone().unwrap_or_default();
        w.ice_auth_secret = a.turn_secret.clone().unwrap_or_default();
        w.relay_only = a.ice_relay_only;
        if let Some(ttl) = &a.turn_ttl {
            w.ice_auth_ttl_sec =
                ttl.parse()
                    .ok()
                    .filter(|&t: &u32| t >= 60)
                    .ok_or_else(|| CliError::Invalid {
                        flag: "turn_ttl",
                        reason: format!("\"{ttl}\" is not a number of seconds of at least 60"),
                    })?;
        }
        check_ice_settings(&IceSettings {
            urls: &w.ice_servers,
            username: &w.ice_username,
            credential: &w.ice_credential,
            auth_secret: &w.ice_auth_secret,
            relay_only: w.relay_only,
        })
        .map_err(|(field, reason)| CliError::Invalid {
            flag: match field.as_str() {
                "ice_username" => "turn_user",
                "ice_auth_secret" => "turn_secret",
                "ice_transport_policy" => "ice_relay_only",
                _ => "ice_server",
            },
            reason,
        })?;
    }

    // Traces (before the rate: -rate_interval defaults to -fd).
    if let Some(t) = &a.fd {
        spec.trace.stat_period_ms = positive_time("fd", t, TimeUnit::Seconds)?;
    }
    if let Some(t) = &a.f {
        spec.screen_refresh_ms = positive_time("f", t, TimeUnit::Seconds)?;
    }
    if let Some(d) = &a.stat_delimiter {
        spec.trace.stat_delimiter = d.clone();
    }
    spec.trace.periodic_rtd = a.periodic_rtd;
    if let Some(t) = &a.rtt_freq {
        spec.trace.rtt_freq = positive::<u64>("rtt_freq", t)?;
    }
    let name = scenario_name(a);
    let file = |on: bool, given: &Option<String>, suffix: &str| {
        on.then(|| {
            given.as_ref().map_or_else(
                || PathBuf::from(format!("{name}_{}_{suffix}", env.pid)),
                PathBuf::from,
            )
        })
    };
    spec.trace.stat_file = file(a.trace_stat, &a.stf, ".csv");
    spec.trace.message_file = file(a.trace_msg, &a.message_file, "messages.log");
    spec.trace.shortmessage_file =
        file(a.trace_shortmsg, &a.shortmessage_file, "shortmessages.log");
    spec.trace.error_file = file(a.trace_err, &a.error_file, "errors.log");
    spec.trace.error_codes_file = file(a.trace_error_codes, &None, "error_codes.csv");
    spec.trace.screen_file = file(a.trace_screen, &a.screen_file, "screen.log");
    spec.trace.rtt_file = file(a.trace_rtt, &None, "rtt.csv");
    spec.trace.counts_file = file(a.trace_counts, &None, "counts.csv");
    spec.trace.log_file = file(a.trace_logs, &a.log_file, "logs.log");
    spec.trace.calldebug_file = file(a.trace_calldebug, &a.calldebug_file, "calldebug.log");
    spec.trace.summary_json = a.summary_json.as_ref().map(PathBuf::from);
    spec.trace.call_records = a.call_records_jsonl.as_ref().map(PathBuf::from);
    spec.trace.metrics_addr = a
        .metrics_addr
        .as_deref()
        .map(|t| {
            t.parse::<std::net::SocketAddr>()
                .map_err(|_| CliError::BadValue {
                    flag: "metrics_addr",
                    value: t.to_string(),
                    expected: "an ip:port address (e.g. 127.0.0.1:9100, [::1]:9100)",
                })
        })
        .transpose()?;
    spec.trace.hep = hep(a)?;
    spec.trace.summary_html = a.summary_html.as_ref().map(PathBuf::from);
    spec.trace.stat_line_period_ms = a
        .stat_period
        .as_deref()
        .map(|t| positive_time("stat_period", t, TimeUnit::Seconds))
        .transpose()?;

    // Rate.
    if let Some(t) = &a.r {
        spec.rate = units::number("r", t)?;
    }
    if let Some(t) = &a.rp {
        spec.rate_period_ms = positive_time("rp", t, TimeUnit::Millis)?;
    }
    if let Some(t) = &a.rate_scale {
        spec.rate_scale = units::number("rate_scale", t)?;
    }
    spec.rate_increase = a
        .rate_increase
        .as_deref()
        .map(|t| units::number("rate_increase", t))
        .transpose()?;
    spec.rate_max = a
        .rate_max
        .as_deref()
        .map(|t| units::number("rate_max", t))
        .transpose()?;
    spec.rate_interval_ms = match &a.rate_interval {
        Some(t) => Some(positive_time("rate_interval", t, TimeUnit::Seconds)?),
        None => spec.rate_increase.map(|_| spec.trace.stat_period_ms),
    };
    spec.no_rate_quit = a.no_rate_quit;
    spec.call_limit = a.l.as_deref().map(|t| units::uint("l", t)).transpose()?;
    spec.max_calls = a.m.as_deref().map(|t| units::uint("m", t)).transpose()?;
    spec.users = a
        .users
        .as_deref()
        .map(|t| units::uint("users", t))
        .transpose()?;

    // Retransmissions and timeouts.
    let recv = alias(
        ("recv_timeout", &a.recv_timeout),
        ("recv_timeout_ms", &a.recv_timeout_ms),
    )?;
    spec.recv_timeout_ms = match recv {
        Some((flag, t)) => optional_time(flag, &Some(t.clone()), TimeUnit::Millis)?,
        None => None,
    };
    spec.recv_bye_min_ms = a
        .recv_bye_timeout_ms
        .as_deref()
        .map(|t| units::time_ms("recv_bye_timeout_ms", t, TimeUnit::Millis))
        .transpose()?
        .filter(|ms| *ms > 0);
    spec.global_timeout_ms = match alias(
        ("timeout", &a.timeout),
        ("timeout_global", &a.timeout_global),
    )? {
        Some((flag, t)) => optional_time(flag, &Some(t.clone()), TimeUnit::Seconds)?,
        None => None,
    };
    spec.timeout_error = a.timeout_error;
    if let Some(t) = &a.max_retrans {
        let n = units::uint("max_retrans", t)?;
        spec.retrans.max_invite_retrans = n;
        spec.retrans.max_non_invite_retrans = n;
    }
    if let Some(t) = &a.max_invite_retrans {
        spec.retrans.max_invite_retrans = units::uint("max_invite_retrans", t)?;
    }
    if let Some(t) = &a.max_non_invite_retrans {
        spec.retrans.max_non_invite_retrans = units::uint("max_non_invite_retrans", t)?;
    }
    spec.retrans.enabled = !a.nr;
    if let Some(t) = &a.t2 {
        spec.retrans.t2_ms = positive_time("T2", t, TimeUnit::Millis)?;
    }
    if let Some(t) = &a.rtcheck {
        // A retransmission is recognised by its call and CSeq: SIPp's loose method.
        match t.as_str() {
            "loose" => {}
            "full" => {
                return Err(CliError::Unsupported {
                    flag: "rtcheck",
                    what: "full retransmission detection (gossipper recognises a retransmission by its Call-ID and CSeq, which is -rtcheck loose)",
                });
            }
            _ => {
                return Err(CliError::Invalid {
                    flag: "rtcheck",
                    reason: format!(
                        "unknown retransmission detection method '{t}' (full or loose)"
                    ),
                });
            }
        }
    }

    // 3PCC (consistency with the scenario is checked when it loads: `twin_setup`).
    spec.twin.twin = a
        .three_pcc
        .as_deref()
        .map(|t| {
            t.parse::<std::net::SocketAddr>()
                .map_err(|_| CliError::Invalid {
                    flag: "3pcc",
                    reason: format!("'{t}' is not ip:port"),
                })
        })
        .transpose()?;
    spec.twin.master = a.master.clone();
    spec.twin.slave = a.slave.clone();
    spec.twin.slave_cfg = a.slave_cfg.as_ref().map(PathBuf::from);

    // gossipper extras.
    spec.shards = a
        .shards
        .as_deref()
        .map(|t| positive::<usize>("shards", t))
        .transpose()?;
    spec.seed = match &a.seed {
        Some(t) => units::uint("seed", t)?,
        None => env.seed,
    };
    spec.segment = segment(a, env)?;
    spec.start_at_unix_ms = a
        .start_at
        .as_deref()
        .map(|t| units::uint("start_at", t))
        .transpose()?;
    spec.allow_exec_command = a.allow_exec;
    if let Some(t) = &a.health_min_success_ratio {
        let v = units::number("health_min_success_ratio", t)?;
        if v > 1.0 {
            return Err(CliError::Invalid {
                flag: "health_min_success_ratio",
                reason: format!("{v} is not a ratio between 0 and 1"),
            });
        }
        spec.health.min_success_ratio = Some(v);
    }
    spec.health.max_failed_calls = gate("health_max_failed_calls", &a.health_max_failed_calls)?;
    spec.health.max_timeouts = gate("health_max_timeouts", &a.health_max_timeouts)?;
    if let Some(t) = a
        .health_max_rtcp_fraction_lost
        .as_deref()
        .map(str::trim)
        .filter(|t| *t != "-1")
    {
        let v = units::number("health_max_rtcp_fraction_lost", t)?;
        if !(0.0..=1.0).contains(&v) {
            return Err(CliError::Invalid {
                flag: "health_max_rtcp_fraction_lost",
                reason: format!("{v} is not a fraction between 0 and 1 (RTCP's fraction lost)"),
            });
        }
        spec.health.max_rtcp_fraction_lost = Some(v);
    }
    spec.health.max_rtcp_jitter_ts =
        gate("health_max_rtcp_jitter_ts", &a.health_max_rtcp_jitter_ts)?;
    spec.health.min_rtp_packets_recv = gate(
        "health_min_rtp_packets_recv",
        &a.health_min_rtp_packets_recv,
    )?;
    spec.health.min_rtp_packets_recv_per_call = gate(
        "health_min_rtp_packets_recv_per_call",
        &a.health_min_rtp_packets_recv_per_call,
    )?;
    for text in &a.thresholds {
        let parsed = thresholds::parse_list(text).map_err(|e| CliError::Invalid {
            flag: "threshold",
            reason: e.to_string(),
        })?;
        if parsed.is_empty() {
            return Err(CliError::Invalid {
                flag: "threshold",
                reason: "is empty".into(),
            });
        }
        spec.thresholds.extend(parsed);
    }
    super::identity::apply(a, &mut spec)?;

    Ok(spec)
}

/// A SIPp flag and the Go gossipper's name for the same setting: the one given (with the
/// name to report errors under); both given is a conflict, even with equal values.
fn alias<'a>(
    sipp: (&'static str, &'a Option<String>),
    go: (&'static str, &'a Option<String>),
) -> Result<Option<(&'static str, &'a String)>, CliError> {
    match (sipp.1, go.1) {
        (Some(_), Some(_)) => Err(CliError::Conflict {
            flag: go.0,
            other: sipp.0,
        }),
        (Some(t), None) => Ok(Some((sipp.0, t))),
        (None, Some(t)) => Ok(Some((go.0, t))),
        (None, None) => Ok(None),
    }
}

/// `-tls_skip_verify[=bool]`: the TLS client accepts any server certificate unless
/// `-tls_ca` is given, so the flag only states that choice. Refused where it would be
/// ignored or contradicted: on a transport without TLS, `true` beside `-tls_ca` (which
/// asks to verify), and `false` without `-tls_ca` (nothing to verify against: gossipper
/// reads no system trust store).
fn tls_skip_verify(a: &SippArgs, transport: TransportMode) -> Result<(), CliError> {
    let Some(skip) = a.tls_skip_verify else {
        return Ok(());
    };
    let tls = matches!(
        transport,
        TransportMode::TlsShared
            | TransportMode::TlsPerCall
            | TransportMode::WssShared
            | TransportMode::WssPerCall
    );
    if !tls {
        return Err(CliError::Invalid {
            flag: "tls_skip_verify",
            reason: "only applies to a TLS transport (-t l1, ln, ws1 or wsn)".into(),
        });
    }
    match (skip, a.tls_ca.is_some()) {
        (true, true) => Err(CliError::Conflict {
            flag: "tls_skip_verify",
            other: "tls_ca",
        }),
        (false, false) => Err(CliError::Invalid {
            flag: "tls_skip_verify",
            reason: "=false needs -tls_ca <file> to verify the server against (gossipper \
                     reads no system trust store)"
                .into(),
        }),
        _ => Ok(()),
    }
}

/// A built-in scenario name, checked against the catalogue.
fn builtin_name(flag: &'static str, name: &str) -> Result<String, CliError> {
    match builtin::get(name) {
        Some(b) => Ok(b.id.to_string()),
        None => Err(unknown_builtin(flag, name)),
    }
}

/// The error for a built-in scenario that does not exist, listing those that do.
pub(crate) fn unknown_builtin(flag: &'static str, name: &str) -> CliError {
    let known: Vec<&str> = builtin::all().iter().map(|b| b.id).collect();
    CliError::UnknownBuiltin {
        flag,
        name: name.to_string(),
        known: known.join(", "),
    }
}

/// The name trace files start with: the `-sn` name, or the `-sf` file name without a
/// trailing `.xml` (SIPp keeps other extensions: `scen.txt_<pid>_.csv`).
pub(crate) fn scenario_name(a: &SippArgs) -> String {
    if let Some(f) = &a.sf {
        let base = Path::new(f)
            .file_name()
            .map_or_else(|| f.clone(), |b| b.to_string_lossy().into_owned());
        return base.strip_suffix(".xml").map(str::to_owned).unwrap_or(base);
    }
    a.sn.clone().unwrap_or_else(|| "uac".into())
}

fn transport(code: &str) -> Result<TransportMode, CliError> {
    match code.to_ascii_lowercase().as_str() {
        // TransportMode::parse reads s1/sn as the Go gossipper's UDP-server aliases; SIPp
        // means SCTP, which we do not have.
        "s1" | "sn" => Err(CliError::Unsupported {
            flag: "t",
            what: "SCTP",
        }),
        "c1" | "cn" => Err(CliError::Unsupported {
            flag: "t",
            what: "SigComp compression",
        }),
        _ => TransportMode::parse(code).ok_or_else(|| CliError::BadValue {
            flag: "t",
            value: code.to_owned(),
            expected: "a transport (u1, un, ui, t1, tn, l1, ln, w1, wn, ws1, wsn)",
        }),
    }
}

fn default_behaviors(list: &str) -> Result<DefaultBehaviors, CliError> {
    let mut b = DefaultBehaviors {
        bye: false,
        pingreply: false,
        abort_unexp: false,
        cancel: false,
    };
    for token in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (on, name) = match token.strip_prefix('-') {
            Some(rest) => (false, rest),
            None => (true, token),
        };
        match name {
            "all" => {
                b = DefaultBehaviors {
                    bye: on,
                    pingreply: on,
                    abort_unexp: on,
                    cancel: on,
                }
            }
            "none" => {
                b = DefaultBehaviors {
                    bye: !on,
                    pingreply: !on,
                    abort_unexp: !on,
                    cancel: !on,
                }
            }
            // SIPp's "bye" sends BYE or CANCEL, whichever the aborted call needs.
            "bye" => {
                b.bye = on;
                b.cancel = on;
            }
            "abortunexp" => b.abort_unexp = on,
            "pingreply" => b.pingreply = on,
            _ => {
                return Err(CliError::Invalid {
                    flag: "default_behaviors",
                    reason: format!(
                        "unknown default behavior '{name}' (all, none, bye, abortunexp, pingreply)"
                    ),
                });
            }
        }
    }
    Ok(b)
}

/// `host[:port]`, `[v6]:port`, or a bare IPv6 address → the text host and an address.
/// Names resolve through the system resolver, IPv4 first.
fn remote_addr(what: &'static str, text: &str) -> Result<(String, SocketAddr), CliError> {
    let bad = |reason: String| CliError::BadAddress {
        what,
        text: text.to_owned(),
        reason,
    };
    let (host, port) = split_host_port(text).map_err(|r| bad(r.to_owned()))?;
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| bad(format!("'{p}' is not a port number")))?,
        None => DEFAULT_SIP_PORT,
    };
    let addr = match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => lookup(host, port).map_err(bad)?,
    };
    Ok((host.to_owned(), addr))
}

/// `-hep_addr host:port` and its companions (which mean nothing without it).
fn hep(a: &SippArgs) -> Result<Option<HepConfig>, CliError> {
    if a.hep_raw_rtcp == Some(false) && !a.hep_homer_lake_rtcp {
        return Err(CliError::Invalid {
            flag: "hep_raw_rtcp",
            reason: "=false leaves the reports no form: add -hep_homer_lake_rtcp for Homer-Lake \
                     JSON, or keep the raw packets"
                .into(),
        });
    }
    let Some(text) = a.hep_addr.as_deref() else {
        for (flag, set) in [
            ("hep_capture_id", a.hep_capture_id.is_some()),
            ("hep_password", a.hep_password.is_some()),
            ("send_media_report", a.send_media_report),
            ("hep_homer_lake_rtcp", a.hep_homer_lake_rtcp),
        ] {
            if set {
                return Err(CliError::Invalid {
                    flag,
                    reason: "needs -hep_addr (the collector to send to)".into(),
                });
            }
        }
        return Ok(None);
    };
    let bad = |reason: String| CliError::Invalid {
        flag: "hep_addr",
        reason: format!("'{text}': {reason}"),
    };
    let (host, port) = split_host_port(text).map_err(|r| bad(r.to_owned()))?;
    let port = port
        .ok_or_else(|| bad("needs a port (a HEP collector usually listens on 9060)".into()))?
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("the port is not a number from 1 to 65535".into()))?;
    let addr = match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => lookup(host, port).map_err(bad)?,
    };
    let capture_id = match a.hep_capture_id.as_deref() {
        None => DEFAULT_CAPTURE_ID,
        Some(t) => t.trim().parse::<u32>().map_err(|_| CliError::BadValue {
            flag: "hep_capture_id",
            value: t.to_owned(),
            expected: "a number from 0 to 4294967295",
        })?,
    };
    Ok(Some(HepConfig {
        addr,
        capture_id,
        password: a.hep_password.clone(),
        media_reports: a.send_media_report,
        homer_lake_json: a.hep_homer_lake_rtcp,
    }))
}

fn split_host_port(text: &str) -> Result<(&str, Option<&str>), &'static str> {
    if text.is_empty() {
        return Err("empty address");
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("missing ']' after an IPv6 address")?;
        return match after {
            "" => Ok((host, None)),
            _ => after
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or("expected ':port' after ']'"),
        };
    }
    if text.matches(':').count() > 1 {
        return Ok((text, None)); // a bare IPv6 address
    }
    Ok(match text.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (text, None),
    })
}

fn lookup(host: &str, port: u16) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| "the name has no address".to_owned())
}

/// An IP address, or a host name resolved to one (SIPp's `-i` accepts names too).
fn ip(flag: &'static str, text: &str) -> Result<IpAddr, CliError> {
    if let Ok(ip) = text.trim().parse::<IpAddr>() {
        return Ok(ip);
    }
    lookup(text.trim(), 0)
        .map(|a| a.ip())
        .map_err(|reason| CliError::Invalid {
            flag,
            reason: format!("'{text}' is not an IP address ({reason})"),
        })
}

fn positive<T: std::str::FromStr + PartialEq + Default>(
    flag: &'static str,
    text: &str,
) -> Result<T, CliError> {
    let v: T = units::uint(flag, text)?;
    if v == T::default() {
        return Err(CliError::Invalid {
            flag,
            reason: "must be greater than 0".into(),
        });
    }
    Ok(v)
}

fn positive_time(flag: &'static str, text: &str, unit: TimeUnit) -> Result<u64, CliError> {
    match units::time_ms(flag, text, unit)? {
        0 => Err(CliError::Invalid {
            flag,
            reason: format!("\"{text}\" must be longer than 0 ms"),
        }),
        ms => Ok(ms),
    }
}

/// A time where 0 means "none" (SIPp's convention for its timeouts).
fn optional_time(
    flag: &'static str,
    text: &Option<String>,
    unit: TimeUnit,
) -> Result<Option<u64>, CliError> {
    Ok(match text {
        Some(t) => Some(units::time_ms(flag, t, unit)?).filter(|&ms| ms > 0),
        None => None,
    })
}

/// A health-gate count: -1 (the Go gossipper's default) means off.
fn gate(flag: &'static str, text: &Option<String>) -> Result<Option<u64>, CliError> {
    match text.as_deref().map(str::trim) {
        None | Some("-1") => Ok(None),
        Some(t) => units::uint(flag, t).map(Some),
    }
}
