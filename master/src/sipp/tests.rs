//! Tests of the SIPp command line: every flag lands in the `JobSpec`, units, defaults,
//! errors that name the flag, `-h`/`-v`/`-sd`, and the benchmark harness's command lines.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use gossipper_engine::config::{DefaultBehaviors, JobSpec, ScenarioSource, TransportMode};
use gossipper_engine::media::{RecordCalls, SrtpPolicy};
use gossipper_engine::scenario::builtin;
use gossipper_engine::segment::Segment;

use super::flags::{FLAGS, Group, Kind};
use super::resolve::Env;
use super::{CliError, Parsed, ServerFlags, parse_server_with, parse_with, with_run_profile};

const ENV: Env = Env {
    pid: 4242,
    seed: 7,
    completion_index: Some(2),
};

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn parsed(args: &[&str]) -> Result<Parsed, CliError> {
    parse_with(&argv(args), &ENV)
}

fn spec(args: &[&str]) -> JobSpec {
    match parsed(args) {
        Ok(Parsed::Run(spec)) => *spec,
        other => panic!("{args:?} did not resolve to a run: {other:?}"),
    }
}

fn error(args: &[&str]) -> CliError {
    match parsed(args) {
        Err(e) => e,
        Ok(p) => panic!("{args:?} was accepted: {p:?}"),
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn path(p: &str) -> Option<PathBuf> {
    Some(PathBuf::from(p))
}

type Check = fn(&JobSpec) -> bool;

/// One row per flag (at least): the arguments, and what must hold in the `JobSpec`.
const FLAG_CASES: &[(&[&str], Check)] = &[
    (&["-sf", "dir/call.xml"], |s| {
        s.scenario == ScenarioSource::File("dir/call.xml".into())
    }),
    (&["-sn", "uas"], |s| {
        s.scenario == ScenarioSource::Builtin("uas".into())
    }),
    (&["-t", "u1"], |s| s.transport == TransportMode::UdpShared),
    (&["-t", "un"], |s| s.transport == TransportMode::UdpPerCall),
    (&["-t", "ui"], |s| s.transport == TransportMode::UdpPerIp),
    (&["-t", "t1"], |s| s.transport == TransportMode::TcpShared),
    (&["-t", "tn"], |s| s.transport == TransportMode::TcpPerCall),
    (&["-t", "l1"], |s| s.transport == TransportMode::TlsShared),
    (&["-t", "ln"], |s| s.transport == TransportMode::TlsPerCall),
    (&["-t", "w1"], |s| s.transport == TransportMode::WsShared),
    (&["-t", "wn"], |s| s.transport == TransportMode::WsPerCall),
    (&["-t", "ws1"], |s| s.transport == TransportMode::WssShared),
    (&["-t", "WSN"], |s| s.transport == TransportMode::WssPerCall),
    (&["-i", "127.0.0.2"], |s| {
        s.local_ip == Some(v4(127, 0, 0, 2))
    }),
    (&["-i", "::1"], |s| {
        s.local_ip == Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
    }),
    (&["-p", "5070"], |s| s.local_port == Some(5070)),
    (&["-bind_local"], |s| s.bind_local),
    (&["-ci", "127.0.0.1"], |s| {
        s.control_ip == Some(v4(127, 0, 0, 1))
    }),
    (&["-cp", "8890"], |s| s.control_port == Some(8890)),
    (&["-mi", "127.0.0.3"], |s| {
        s.media_ip == Some(v4(127, 0, 0, 3))
    }),
    (&["-mp", "6002"], |s| s.media_port == Some(6002)),
    (&["-min_rtp_port", "6200", "-max_rtp_port", "6300"], |s| {
        s.min_rtp_port == Some(6200) && s.max_rtp_port == Some(6300)
    }),
    (&["-rtp_echo"], |s| s.rtp_echo),
    (&["-recv_bye_timeout_ms", "90000"], |s| {
        s.recv_bye_min_ms == Some(90_000)
    }),
    (&["-recv_bye_timeout_ms", "2s"], |s| {
        s.recv_bye_min_ms == Some(2_000)
    }),
    // -*_overwrite true: what a run does anyway (false is refused, below).
    (&["127.0.0.1", "-message_overwrite", "true"], |s| {
        *s == spec(&["127.0.0.1"])
    }),
    (&["127.0.0.1", "-shortmessage_overwrite", "1"], |s| {
        *s == spec(&["127.0.0.1"])
    }),
    (&["127.0.0.1", "-error_overwrite", "true"], |s| {
        *s == spec(&["127.0.0.1"])
    }),
    (&["127.0.0.1", "-calldebug_overwrite", "true"], |s| {
        *s == spec(&["127.0.0.1"])
    }),
    (&["127.0.0.1", "-screen_overwrite", "true"], |s| {
        *s == spec(&["127.0.0.1"])
    }),
    (&["127.0.0.1", "-log_overwrite", "true"], |s| {
        *s == spec(&["127.0.0.1"])
    }),
    (&["-pcap-link", "raw"], |s| s.pcap_link == Some(101)),
    (&["-pcap-link", "linux_sll2"], |s| s.pcap_link == Some(276)),
    (&["-pcap-link", "auto"], |s| s.pcap_link.is_none()),
    (&["-media_srtp"], |s| s.media_srtp == SrtpPolicy::Sdes),
    (&["-media_reject_srtp"], |s| {
        s.media_srtp == SrtpPolicy::Reject
    }),
    (&["-record_wav_dir", "recs"], |s| {
        s.record_calls == RecordCalls::Mono && s.record_dir == path("recs")
    }),
    (&["-record_wav_dir", "recs", "-record_wav_duplex"], |s| {
        s.record_calls == RecordCalls::Duplex && s.record_dir == path("recs")
    }),
    (
        &[
            "-ice_server",
            "stun:127.0.0.1:3478",
            "-ice_server",
            "turn:127.0.0.1:3479?transport=udp",
            "-turn_user",
            "alice",
            "-turn_pass",
            "pw",
            "-ice_relay_only",
        ],
        |s| {
            let w = &s.webrtc;
            w.enabled
                && w.ice_servers == ["stun:127.0.0.1:3478", "turn:127.0.0.1:3479?transport=udp"]
                && (w.ice_username.as_str(), w.ice_credential.as_str()) == ("alice", "pw")
                && w.relay_only
        },
    ),
    (
        &[
            "-ice_server",
            "turn:127.0.0.1",
            "-turn_secret",
            "k",
            "-turn_ttl",
            "600",
        ],
        |s| {
            s.webrtc.ice_auth_secret == "k"
                && s.webrtc.ice_auth_ttl_sec == 600
                && !s.webrtc.relay_only
        },
    ),
    (&["-rsa", "127.0.0.9:5099"], |s| {
        s.send_to == Some(SocketAddr::new(v4(127, 0, 0, 9), 5099)) && s.remote == s.send_to
    }),
    (&["10.0.0.1:5060", "-rsa", "127.0.0.9:5099"], |s| {
        s.remote == Some(SocketAddr::new(v4(10, 0, 0, 1), 5060))
            && s.send_to == Some(SocketAddr::new(v4(127, 0, 0, 9), 5099))
    }),
    (&["-r", "2000"], |s| s.rate == 2000.0),
    (&["-r", "2.5"], |s| s.rate == 2.5),
    (&["-rp", "2000"], |s| s.rate_period_ms == 2000),
    (&["-rp", "5s"], |s| s.rate_period_ms == 5000),
    (&["-l", "6000"], |s| s.call_limit == Some(6000)),
    (&["-m", "20000"], |s| s.max_calls == Some(20_000)),
    (&["-d", "1500"], |s| s.default_pause_ms == 1500),
    (&["-d", "5s"], |s| s.default_pause_ms == 5000),
    (&["-users", "50"], |s| s.users == Some(50)),
    (
        &[
            "-rate_increase",
            "10",
            "-rate_interval",
            "10s",
            "-rate_max",
            "100",
        ],
        |s| {
            s.rate_increase == Some(10.0)
                && s.rate_interval_ms == Some(10_000)
                && s.rate_max == Some(100.0)
        },
    ),
    (&["-rate_increase", "5"], |s| {
        s.rate_interval_ms == Some(60_000)
    }), // defaults to -fd
    (&["-rate_increase", "5", "-fd", "2"], |s| {
        s.rate_interval_ms == Some(2_000)
    }),
    (&["-rate_interval", "3"], |s| {
        s.rate_interval_ms == Some(3_000)
    }), // unit: seconds
    (&["-no_rate_quit"], |s| s.no_rate_quit),
    (&["-rate_scale", "10"], |s| s.rate_scale == 10.0),
    (&["-timeout", "35"], |s| s.global_timeout_ms == Some(35_000)),
    (&["-timeout", "35s"], |s| {
        s.global_timeout_ms == Some(35_000)
    }),
    (&["-timeout", "2m"], |s| {
        s.global_timeout_ms == Some(120_000)
    }),
    (&["-timeout", "1500ms"], |s| {
        s.global_timeout_ms == Some(1_500)
    }),
    (&["-timeout", "0"], |s| s.global_timeout_ms.is_none()),
    (&["-timeout", "4", "-timeout_error"], |s| {
        s.timeout_error && s.global_timeout_ms == Some(4_000)
    }),
    (&["-recv_timeout", "5000"], |s| {
        s.recv_timeout_ms == Some(5_000)
    }),
    (&["-recv_timeout", "2s"], |s| {
        s.recv_timeout_ms == Some(2_000)
    }),
    (&["-max_retrans", "3"], |s| {
        s.retrans.max_invite_retrans == 3 && s.retrans.max_non_invite_retrans == 3
    }),
    (&["-max_invite_retrans", "2", "-max_retrans", "9"], |s| {
        s.retrans.max_invite_retrans == 2 && s.retrans.max_non_invite_retrans == 9
    }),
    (&["-max_non_invite_retrans", "4"], |s| {
        s.retrans.max_non_invite_retrans == 4 && s.retrans.max_invite_retrans == 5
    }),
    (&["-nr"], |s| !s.retrans.enabled),
    (&["-T2", "8000"], |s| s.retrans.t2_ms == 8000),
    (&["-T2", "4s"], |s| s.retrans.t2_ms == 4000),
    (&["127.0.0.1", "-rtcheck", "loose"], |s| {
        *s == spec(&["127.0.0.1"])
    }),
    (&["-nd"], |s| {
        s.default_behaviors
            == DefaultBehaviors {
                bye: false,
                pingreply: false,
                abort_unexp: false,
                cancel: false,
            }
    }),
    (&["-default_behaviors", "all,-bye"], |s| {
        s.default_behaviors
            == DefaultBehaviors {
                bye: false,
                pingreply: true,
                abort_unexp: true,
                cancel: false,
            }
    }),
    (&["-default_behaviors", "pingreply"], |s| {
        s.default_behaviors
            == DefaultBehaviors {
                bye: false,
                pingreply: true,
                abort_unexp: false,
                cancel: false,
            }
    }),
    (&["-default_behaviors", "none,bye,abortunexp"], |s| {
        s.default_behaviors
            == DefaultBehaviors {
                bye: true,
                pingreply: false,
                abort_unexp: true,
                cancel: true,
            }
    }),
    (&["-aa"], |s| s.auto_answer),
    (&["-base_cseq", "100"], |s| s.base_cseq == 100),
    (&["-cid_str", "call-%u@%s"], |s| s.cid_str == "call-%u@%s"),
    (&["-key", "k1", "v1", "-key", "empty", ""], |s| {
        s.keys
            == [
                ("k1".to_owned(), "v1".to_owned()),
                ("empty".to_owned(), String::new()),
            ]
    }),
    (&["-set", "var", "-5"], |s| {
        s.set_vars == [("var".to_owned(), "-5".to_owned())]
    }),
    (&["-s", "alice"], |s| s.service == "alice"),
    (&["-au", "bob", "-ap", "secret"], |s| {
        s.auth_username.as_deref() == Some("bob") && s.auth_password.as_deref() == Some("secret")
    }),
    (&["-auth_uri", "sip:reg.example.com"], |s| {
        s.auth_uri.as_deref() == Some("sip:reg.example.com")
    }),
    (&["-inf", "a.csv", "-inf", "b.csv"], |s| {
        s.inject_files == [PathBuf::from("a.csv"), PathBuf::from("b.csv")]
    }),
    (&["-infindex", "users.csv", "0"], |s| {
        s.inject_indexes == [(PathBuf::from("users.csv"), 0)]
    }),
    (&["-t", "ui", "-ip_field", "2"], |s| {
        s.ip_field == Some(2) && s.transport == TransportMode::UdpPerIp
    }),
    (&["-bg"], |s| s.background),
    (&["-nostdin"], |s| s.nostdin),
    (&["-buff_size", "4194304"], |s| {
        s.buff_size == Some(4_194_304)
    }),
    (&["-max_socket", "100"], |s| s.max_sockets == Some(100)),
    (
        &[
            "-max_reconnect",
            "3",
            "-reconnect_sleep",
            "2s",
            "-reconnect_close",
            "false",
        ],
        |s| s.max_reconnect == Some(3) && s.reconnect_sleep_ms == Some(2000) && !s.reconnect_close,
    ),
    (&["-reconnect_sleep", "100"], |s| {
        s.reconnect_sleep_ms == Some(100) && s.reconnect_close
    }),
    (&["-stream_idle_timeout", "90"], |s| {
        s.stream_idle_timeout_ms == Some(90_000)
    }),
    (&["-stream_idle_timeout", "500ms"], |s| {
        s.stream_idle_timeout_ms == Some(500)
    }),
    (&["-stream_idle_timeout", "0"], |s| {
        s.stream_idle_timeout_ms == Some(0)
    }),
    (&["-lost", "2.5"], |s| s.lost_percent == Some(2.5)),
    (&["-trace_stat"], |s| {
        s.trace.stat_file == path("uac_4242_.csv")
    }),
    (&["-trace_stat", "-stf", "uac.csv"], |s| {
        s.trace.stat_file == path("uac.csv")
    }),
    (&["-stf", "uac.csv"], |s| s.trace.stat_file.is_none()), // the name alone traces nothing
    (&["-fd", "1"], |s| s.trace.stat_period_ms == 1000),
    (&["-fd", "500ms"], |s| s.trace.stat_period_ms == 500),
    (&["-stat_delimiter", ","], |s| s.trace.stat_delimiter == ","),
    (&["-periodic_rtd"], |s| s.trace.periodic_rtd),
    (&["-trace_msg"], |s| {
        s.trace.message_file == path("uac_4242_messages.log")
    }),
    (&["-trace_msg", "-message_file", "m.log"], |s| {
        s.trace.message_file == path("m.log")
    }),
    (&["-trace_shortmsg", "-sn", "uas"], |s| {
        s.trace.shortmessage_file == path("uas_4242_shortmessages.log")
    }),
    (&["-trace_shortmsg", "-shortmessage_file", "sm.log"], |s| {
        s.trace.shortmessage_file == path("sm.log")
    }),
    (&["-trace_err"], |s| {
        s.trace.error_file == path("uac_4242_errors.log")
    }),
    (&["-trace_err", "-error_file", "e.log"], |s| {
        s.trace.error_file == path("e.log")
    }),
    (&["-trace_error_codes"], |s| {
        s.trace.error_codes_file == path("uac_4242_error_codes.csv")
    }),
    (&["-trace_screen"], |s| {
        s.trace.screen_file == path("uac_4242_screen.log")
    }),
    (&["-trace_screen", "-screen_file", "uac.screen"], |s| {
        s.trace.screen_file == path("uac.screen")
    }),
    (&["-trace_rtt", "-rtt_freq", "1"], |s| {
        s.trace.rtt_file == path("uac_4242_rtt.csv") && s.trace.rtt_freq == 1
    }),
    (&["-trace_counts"], |s| {
        s.trace.counts_file == path("uac_4242_counts.csv")
    }),
    (&["-trace_logs"], |s| {
        s.trace.log_file == path("uac_4242_logs.log")
    }),
    (&["-trace_logs", "-log_file", "l.log"], |s| {
        s.trace.log_file == path("l.log")
    }),
    (&["-trace_calldebug"], |s| {
        s.trace.calldebug_file == path("uac_4242_calldebug.log")
    }),
    (&["-trace_calldebug", "-calldebug_file", "cd.log"], |s| {
        s.trace.calldebug_file == path("cd.log")
    }),
    (&["-trace_stat", "-sf", "/tmp/x/my.uac.xml"], |s| {
        s.trace.stat_file == path("my.uac_4242_.csv")
    }),
    (&["-trace_stat", "-sf", "sub/scen.txt"], |s| {
        s.trace.stat_file == path("scen.txt_4242_.csv")
    }),
    (&["-f", "2"], |s| s.screen_refresh_ms == 2000),
    (&["-shards", "4"], |s| s.shards == Some(4)),
    (&["-seed", "12345"], |s| s.seed == 12345),
    (&["-segment", "1/3"], |s| {
        s.segment == Some(Segment { index: 1, count: 3 })
    }),
    (&["-segments", "4"], |s| {
        s.segment == Some(Segment { index: 2, count: 4 })
    }),
    (&["-start_at", "1700000000000"], |s| {
        s.start_at_unix_ms == Some(1_700_000_000_000)
    }),
    (&["-metrics_addr", "127.0.0.1:9100"], |s| {
        s.trace.metrics_addr == Some(SocketAddr::new(v4(127, 0, 0, 1), 9100))
    }),
    (&["-hep_addr", "127.0.0.1:9060"], |s| {
        s.trace.hep
            == Some(gossipper_engine::output::hep::HepConfig {
                addr: SocketAddr::new(v4(127, 0, 0, 1), 9060),
                capture_id: 9999,
                password: None,
                media_reports: false,
                homer_lake_json: false,
            })
    }),
    (
        &[
            "-hep_addr",
            "[::1]:9061",
            "-hep_capture_id",
            "7",
            "-hep_password",
            "k",
            "-send_media_report",
        ],
        |s| {
            s.trace.hep.as_ref().is_some_and(|h| {
                h.addr == "[::1]:9061".parse().unwrap()
                    && h.capture_id == 7
                    && h.password.as_deref() == Some("k")
                    && h.media_reports
            })
        },
    ),
    (
        &[
            "-hep_addr",
            "127.0.0.1:9060",
            "-send_media_report",
            "-hep_homer_lake_rtcp",
            "-hep_raw_rtcp=false",
        ],
        |s| {
            s.trace
                .hep
                .as_ref()
                .is_some_and(|h| h.media_reports && h.homer_lake_json)
        },
    ),
    // `-hep_raw_rtcp` names the default form: the same spec as without it.
    (
        &[
            "-hep_addr",
            "127.0.0.1:9060",
            "-send_media_report",
            "-hep_raw_rtcp",
        ],
        |s| s.trace.hep.as_ref().is_some_and(|h| h.media_reports),
    ),
    (&["-summary_json", "out/summary.json"], |s| {
        s.trace.summary_json == path("out/summary.json")
    }),
    // The Go gossipper's flags (issue #19).
    (&["-timeout_global", "35"], |s| {
        s.global_timeout_ms == Some(35_000)
    }),
    (&["-timeout_global=2m"], |s| {
        s.global_timeout_ms == Some(120_000)
    }),
    (&["-pause_ms", "1500"], |s| s.default_pause_ms == 1500),
    (&["-recv_timeout_ms", "800"], |s| {
        s.recv_timeout_ms == Some(800)
    }),
    (&["-recv_timeout_ms", "0"], |s| s.recv_timeout_ms.is_none()),
    (&["-stat_period", "5"], |s| {
        s.trace.stat_line_period_ms == Some(5_000)
    }),
    (&["-stat_period", "500ms"], |s| {
        s.trace.stat_line_period_ms == Some(500)
    }),
    (&["-summary_html", "out/report.html"], |s| {
        s.trace.summary_html == path("out/report.html")
    }),
    (&["-sip_from", "alice"], |s| {
        s.keys == [("sip_from".to_string(), "alice".to_string())]
            && matches!(&s.scenario, ScenarioSource::Xml { name, text }
                if name == "uac.xml"
                    && String::from_utf8_lossy(text).contains("From: <sip:alice@[local_ip]:[local_port]>;tag="))
    }),
    (&["-sn", "regexp", "-sip_pai", "sip:+1555@x"], |s| {
        matches!(&s.scenario, ScenarioSource::Xml { name, text }
            if name == "regexp.xml"
                && String::from_utf8_lossy(text).contains("P-Asserted-Identity: <sip:+1555@x>"))
    }),
    (&["-sf", "mine.xml", "-sip_provider", "acme"], |s| {
        s.scenario == ScenarioSource::File("mine.xml".into())
            && s.keys == [("sip_provider".to_string(), "acme".to_string())]
    }),
    (
        &[
            "-sip_extra_header",
            "X-Trunk: t1",
            "-sip_extra_header",
            "X-Route:r2",
        ],
        |s| {
            s.keys.is_empty()
                && matches!(&s.scenario, ScenarioSource::Xml { name, text }
                if name == "uac.xml" && {
                    let t = String::from_utf8_lossy(text);
                    let invite = t.split("ACK sip:").next().unwrap_or_default();
                    invite.contains("X-Trunk: t1\n") && invite.contains("X-Route: r2\n")
                        && t.matches("X-Trunk").count() == 1
                })
        },
    ),
    (&["-t", "l1", "-tls_skip_verify"], |s| s.tls_ca.is_none()),
    // Go's `-name=value` works for every flag; `=false` leaves a switch off.
    (&["-nostdin=yes", "-sf=a.xml", "-aa=false"], |s| {
        s.nostdin && !s.auto_answer && s.scenario == ScenarioSource::File("a.xml".into())
    }),
    (
        &["-t", "ln", "-tls_skip_verify=false", "-tls_ca", "ca.pem"],
        |s| s.tls_ca == path("ca.pem"),
    ),
    (&["-call_records_jsonl", "calls.jsonl"], |s| {
        s.trace.call_records == path("calls.jsonl")
    }),
    (&["-allow_exec"], |s| s.allow_exec_command),
    (&["-health_min_success_ratio", "0.99"], |s| {
        s.health.min_success_ratio == Some(0.99)
    }),
    (&["-health_max_failed_calls", "3"], |s| {
        s.health.max_failed_calls == Some(3)
    }),
    (&["-health_max_failed_calls", "-1"], |s| {
        s.health.max_failed_calls.is_none()
    }),
    (
        &[
            "-health_max_rtcp_fraction_lost",
            "0.05",
            "-health_max_rtcp_jitter_ts",
            "80",
            "-health_min_rtp_packets_recv",
            "1000",
            "-health_min_rtp_packets_recv_per_call",
            "40",
        ],
        |s| {
            s.health.max_rtcp_fraction_lost == Some(0.05)
                && s.health.max_rtcp_jitter_ts == Some(80)
                && s.health.min_rtp_packets_recv == Some(1000)
                && s.health.min_rtp_packets_recv_per_call == Some(40)
        },
    ),
    (&["-health_max_timeouts", "0"], |s| {
        s.health.max_timeouts == Some(0)
    }),
    (&["-threshold", "mos_min>=3.5"], |s| {
        s.thresholds.len() == 1 && s.thresholds[0].text == "mos_min>=3.5"
    }),
    (
        &[
            "-tls_cert",
            "c.pem",
            "-tls_key",
            "k.pem",
            "-tls_ca",
            "ca.pem",
            "-tls_version",
            "1.3",
        ],
        |s| {
            s.tls_cert == path("c.pem")
                && s.tls_key == path("k.pem")
                && s.tls_ca == path("ca.pem")
                && s.tls_version.as_deref() == Some("1.3")
        },
    ),
    (&["-ws_path", "/sip"], |s| {
        s.ws_path.as_deref() == Some("/sip")
    }),
    (
        &[
            "-timer_resol",
            "1",
            "-watchdog_interval",
            "400",
            "-skip_rlimit",
            "-max_recv_loops",
            "3",
        ],
        |s| {
            *s == JobSpec {
                seed: 7,
                file_access: gossipper_engine::files::FileAccess::Cwd,
                ..JobSpec::default()
            } // accepted, no effect
        },
    ),
    (&["--sn", "uas", "--trace_stat", "--r", "5"], |s| {
        s.scenario == ScenarioSource::Builtin("uas".into())
            && s.trace.stat_file.is_some()
            && s.rate == 5.0
    }),
    (&["sipp", "sipp", "-r", "3"], |s| s.rate == 3.0),
    (&["-3pcc", "127.0.0.1:5070"], |s| {
        s.twin.twin == Some("127.0.0.1:5070".parse().unwrap()) && s.twin.master.is_none()
    }),
    (&["-master", "m", "-slave_cfg", "twins.cfg"], |s| {
        s.twin.master.as_deref() == Some("m")
            && s.twin.slave_cfg == Some(std::path::PathBuf::from("twins.cfg"))
    }),
    (&["-slave", "s1"], |s| s.twin.slave.as_deref() == Some("s1")),
];

#[test]
fn every_flag_lands_in_the_job_spec() {
    for (args, check) in FLAG_CASES {
        let s = spec(args);
        assert!(check(&s), "{args:?} resolved to {s:#?}");
    }
}

#[test]
fn every_table_flag_has_a_case() {
    let mut missing = Vec::new();
    for f in FLAGS {
        let covered_elsewhere = matches!(
            f.kind,
            Kind::Help | Kind::Version | Kind::Dump | Kind::Unsupported { .. }
        ) || matches!(f.group, Group::Ignored | Group::Server) // server flags: tested below
            // Read before the parse (`with_run_profile`): tested below.
            || ["config", "run-alias", "list-aliases"].contains(&f.name);
        let dashed = format!("-{}", f.name);
        let in_cases = FLAG_CASES.iter().any(|(args, _)| {
            args.iter()
                .any(|a| *a == dashed || a.get(1..) == Some(&dashed))
        });
        if !covered_elsewhere && !in_cases {
            missing.push(f.name);
        }
    }
    assert!(missing.is_empty(), "flags without a test case: {missing:?}");
}

#[test]
fn table_names_are_unique_and_help_names_each_value() {
    for (i, a) in FLAGS.iter().enumerate() {
        assert!(
            FLAGS[i + 1..].iter().all(|b| b.name != a.name),
            "duplicate -{}",
            a.name
        );
        let arity = match a.kind {
            Kind::Switch(_) | Kind::GoBool(_) | Kind::Help | Kind::Version => 0,
            Kind::Value(_) | Kind::Dump => 1,
            Kind::Pair(_) => 2,
            Kind::Unsupported { .. } => continue,
        };
        assert_eq!(
            a.value_name.split_whitespace().count(),
            arity,
            "-{} value placeholder",
            a.name
        );
    }
}

#[test]
fn defaults_follow_sipp_not_the_go_gossipper() {
    let s = spec(&["127.0.0.1"]);
    assert_eq!(s.scenario, ScenarioSource::Builtin("uac".into()));
    assert_eq!(s.rate, 10.0);
    assert_eq!(s.rate_period_ms, 1000);
    assert_eq!(s.max_calls, None, "-m unlimited");
    assert_eq!(s.call_limit, None, "-l is computed by the engine");
    assert_eq!(s.transport, TransportMode::UdpShared);
    assert_eq!(s.service, "service");
    assert_eq!(s.base_cseq, 1);
    assert_eq!(s.cid_str, "%u-%p@%s");
    assert_eq!(s.trace.stat_period_ms, 60_000);
    assert_eq!(s.trace.stat_delimiter, ";");
    assert_eq!(s.trace.rtt_freq, 200);
    assert_eq!(s.default_pause_ms, 0);
    assert_eq!(s.default_behaviors, DefaultBehaviors::default());
    assert_eq!(s.retrans.max_invite_retrans, 5);
    assert_eq!(s.retrans.max_non_invite_retrans, 7);
    assert_eq!(s.seed, ENV.seed, "no -seed: the process's seed");
    assert!(s.trace.stat_file.is_none() && s.trace.message_file.is_none());
    assert!(!s.background && !s.nostdin && s.reconnect_close);
}

#[test]
fn remote_host_takes_port_5060_by_default_and_keeps_its_text() {
    let cases: &[(&str, SocketAddr, &str)] = &[
        (
            "127.0.0.1",
            SocketAddr::new(v4(127, 0, 0, 1), 5060),
            "127.0.0.1",
        ),
        (
            "127.0.0.1:15068",
            SocketAddr::new(v4(127, 0, 0, 1), 15068),
            "127.0.0.1",
        ),
        (
            "[::1]:5070",
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5070),
            "::1",
        ),
        (
            "[::1]",
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5060),
            "::1",
        ),
        (
            "::1",
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5060),
            "::1",
        ),
        // Names resolve, IPv4 first (localhost is in /etc/hosts, no DNS needed).
        (
            "localhost:5071",
            SocketAddr::new(v4(127, 0, 0, 1), 5071),
            "localhost",
        ),
    ];
    for &(text, addr, host) in cases {
        let s = spec(&["-sn", "uac", text]);
        assert_eq!(s.remote, Some(addr), "{text}");
        assert_eq!(s.remote_host.as_deref(), Some(host), "{text}");
    }
    // SIPp quirk: the last bare argument wins.
    let s = spec(&["127.0.0.1:1", "127.0.0.2:2"]);
    assert_eq!(s.remote, Some(SocketAddr::new(v4(127, 0, 0, 2), 2)));
    assert_eq!(spec(&["-sn", "uas"]).remote, None);
}

#[test]
fn errors_name_the_flag_at_fault() {
    type Expect = fn(&CliError) -> bool;
    let cases: &[(&[&str], Expect)] = &[
        (
            &["-foo"],
            |e| matches!(e, CliError::UnknownFlag { arg, suggestion: None } if arg == "-foo"),
        ),
        (
            &["--foo"],
            |e| matches!(e, CliError::UnknownFlag { arg, .. } if arg == "--foo"),
        ),
        (&["-"], |e| matches!(e, CliError::UnknownFlag { .. })),
        (&["--"], |e| matches!(e, CliError::UnknownFlag { .. })),
        (&["sipp", "pcap2scenario", "x.pcap"], |e| {
            *e == CliError::SubcommandAfterSipp("pcap2scenario".into())
        }),
        (&["sipp", "sipp", "ui"], |e| {
            *e == CliError::SubcommandAfterSipp("ui".into())
        }),
        (&["-sf"], |e| *e == CliError::MissingValue { flag: "sf" }),
        (&["-key", "onlyone"], |e| {
            *e == CliError::MissingValue { flag: "key" }
        }),
        (&["-infindex", "users.csv"], |e| {
            *e == CliError::MissingValue { flag: "infindex" }
        }),
        (&["-sd"], |e| *e == CliError::MissingValue { flag: "sd" }),
        (&["-record_wav_duplex"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "record_wav_duplex",
                    ..
                }
            )
        }),
        (
            &["-ice_server", "turns:relay.example"],
            |e| matches!(e, CliError::Invalid { flag: "ice_server", reason } if reason.contains("turns: (TURN over TLS) is not supported")),
        ),
        (
            &[
                "-ice_server",
                "turn:relay.example?transport=tcp",
                "-turn_secret",
                "k",
            ],
            |e| matches!(e, CliError::Invalid { flag: "ice_server", reason } if reason.contains("TURN over TCP")),
        ),
        (
            &["-ice_server", "turn:relay.example"],
            |e| matches!(e, CliError::Invalid { flag: "ice_server", reason } if reason.contains("needs credentials")),
        ),
        (&["-turn_user", "u"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "turn_user",
                    ..
                }
            )
        }),
        (&["-ice_relay_only"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "ice_relay_only",
                    ..
                }
            )
        }),
        (&["-ice_server", "turn:u:p@h", "-turn_ttl", "59"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "turn_ttl",
                    ..
                }
            )
        }),
        (&["-record_wav_dir", ""], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "record_wav_dir",
                    ..
                }
            )
        }),
        (&["-r", "abc"], |e| {
            matches!(e, CliError::BadValue { flag: "r", .. })
        }),
        (&["-r", "-1"], |e| {
            matches!(e, CliError::BadValue { flag: "r", .. })
        }),
        (&["-m", "abc"], |e| {
            matches!(e, CliError::BadValue { flag: "m", .. })
        }),
        (&["-m", "-3"], |e| {
            matches!(e, CliError::BadValue { flag: "m", .. })
        }),
        (&["-l", "1.5"], |e| {
            matches!(e, CliError::BadValue { flag: "l", .. })
        }),
        (&["-metrics_addr", "localhost:9100"], |e| {
            matches!(
                e,
                CliError::BadValue {
                    flag: "metrics_addr",
                    ..
                }
            )
        }),
        (&["-ip_field", "1"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "ip_field",
                    ..
                }
            )
        }),
        (
            &["-hep_addr", "127.0.0.1"],
            |e| matches!(e, CliError::Invalid { flag: "hep_addr", reason } if reason.contains("needs a port")),
        ),
        (&["-hep_addr", "127.0.0.1:0"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "hep_addr",
                    ..
                }
            )
        }),
        (
            &["-hep_capture_id", "5"],
            |e| matches!(e, CliError::Invalid { flag: "hep_capture_id", reason } if reason.contains("-hep_addr")),
        ),
        (&["-hep_raw_rtcp=false"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "hep_raw_rtcp",
                    ..
                }
            )
        }),
        (&["-hep_homer_lake_rtcp"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "hep_homer_lake_rtcp",
                    ..
                }
            )
        }),
        (&["-send_media_report"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "send_media_report",
                    ..
                }
            )
        }),
        (&["-hep_password", "k"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "hep_password",
                    ..
                }
            )
        }),
        (
            &["-hep_addr", "127.0.0.1:9060", "-hep_capture_id", "-1"],
            |e| {
                matches!(
                    e,
                    CliError::BadValue {
                        flag: "hep_capture_id",
                        ..
                    }
                )
            },
        ),
        (&["-metrics_addr", "9100"], |e| {
            matches!(
                e,
                CliError::BadValue {
                    flag: "metrics_addr",
                    ..
                }
            )
        }),
        (&["-p", "70000"], |e| {
            matches!(e, CliError::BadValue { flag: "p", .. })
        }),
        (&["-cp", "x"], |e| {
            matches!(e, CliError::BadValue { flag: "cp", .. })
        }),
        (&["-d", "5x"], |e| {
            matches!(e, CliError::BadValue { flag: "d", .. })
        }),
        (&["-timeout", "soon"], |e| {
            matches!(
                e,
                CliError::BadValue {
                    flag: "timeout",
                    ..
                }
            )
        }),
        (&["-rp", "0"], |e| {
            matches!(e, CliError::Invalid { flag: "rp", .. })
        }),
        (&["-fd", "0"], |e| {
            matches!(e, CliError::Invalid { flag: "fd", .. })
        }),
        (&["-shards", "0"], |e| {
            matches!(e, CliError::Invalid { flag: "shards", .. })
        }),
        (&["-rtt_freq", "0"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "rtt_freq",
                    ..
                }
            )
        }),
        (&["-lost", "101"], |e| {
            matches!(e, CliError::Invalid { flag: "lost", .. })
        }),
        (&["-health_min_success_ratio", "99"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "health_min_success_ratio",
                    ..
                }
            )
        }),
        (&["-health_max_rtcp_fraction_lost", "5"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "health_max_rtcp_fraction_lost",
                    ..
                }
            )
        }),
        (&["-health_min_rtp_packets_recv", "x"], |e| {
            matches!(
                e,
                CliError::BadValue {
                    flag: "health_min_rtp_packets_recv",
                    ..
                }
            )
        }),
        (&["-health_max_timeouts", "-2"], |e| {
            matches!(
                e,
                CliError::BadValue {
                    flag: "health_max_timeouts",
                    ..
                }
            )
        }),
        (&["-reconnect_close", "maybe"], |e| {
            matches!(
                e,
                CliError::BadValue {
                    flag: "reconnect_close",
                    ..
                }
            )
        }),
        (
            &["-rtcheck", "full"],
            |e| matches!(e, CliError::Unsupported { flag: "rtcheck", what } if what.contains("loose")),
        ),
        (&["-send_timeout", "100"], |e| {
            *e == CliError::Unsupported {
                flag: "send_timeout",
                what: "a send deadline",
            }
        }),
        (&["-rtcheck", "foo"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "rtcheck",
                    ..
                }
            )
        }),
        (&["-default_behaviors", "foo"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "default_behaviors",
                    ..
                }
            )
        }),
        (&["-min_rtp_port", "7000", "-max_rtp_port", "6000"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "min_rtp_port",
                    ..
                }
            )
        }),
        (
            &["-pcap-link", "token-ring"],
            |e| matches!(e, CliError::Invalid { flag: "pcap-link", reason } if reason.contains("token-ring")),
        ),
        (&["-i", "no such host.invalid"], |e| {
            matches!(e, CliError::Invalid { flag: "i", .. })
        }),
        (&["-t", "s1"], |e| {
            *e == CliError::Unsupported {
                flag: "t",
                what: "SCTP",
            }
        }),
        (&["-t", "sn"], |e| {
            *e == CliError::Unsupported {
                flag: "t",
                what: "SCTP",
            }
        }),
        (&["-t", "c1"], |e| {
            matches!(e, CliError::Unsupported { flag: "t", .. })
        }),
        (&["-t", "zz"], |e| {
            matches!(e, CliError::BadValue { flag: "t", .. })
        }),
        (&["-3pcc", "localhost"], |e| {
            matches!(e, CliError::Invalid { flag: "3pcc", .. })
        }),
        (&["-media_srtp", "-media_reject_srtp"], |e| {
            *e == CliError::Conflict {
                flag: "media_reject_srtp",
                other: "media_srtp",
            }
        }),
        (&["-sf", "a.xml", "-sn", "uas"], |e| {
            *e == CliError::Conflict {
                flag: "sf",
                other: "sn",
            }
        }),
        (
            &["-sf", "a.xml", "-sip_extra_header", "X-A: 1"],
            |e| matches!(e, CliError::Invalid { flag: "sip_extra_header", reason } if reason.contains("own headers")),
        ),
        (
            &["-sip_extra_header", "X-A"],
            |e| matches!(e, CliError::Invalid { flag: "sip_extra_header", reason } if reason.contains("Name: value")),
        ),
        (
            &["-sip_extra_header", "Via: x"],
            |e| matches!(e, CliError::Invalid { flag: "sip_extra_header", reason } if reason.contains("itself")),
        ),
        (&["-sip_extra_header", "X-A: [x]"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "sip_extra_header",
                    ..
                }
            )
        }),
        (
            &["-sn", "uas", "-sip_extra_header", "X-A: 1"],
            |e| matches!(e, CliError::Invalid { flag: "sip_extra_header", reason } if reason.contains("no From")),
        ),
        (
            &["-message_overwrite", "false"],
            |e| matches!(e, CliError::Unsupported { flag: "message_overwrite", what } if what.contains("appending")),
        ),
        (&["-log_overwrite", "maybe"], |e| {
            matches!(
                e,
                CliError::BadValue {
                    flag: "log_overwrite",
                    ..
                }
            )
        }),
        (
            &["-oocsf", "a.xml"],
            |e| matches!(e, CliError::Unsupported { flag: "oocsf", what } if what.contains("out-of-call")),
        ),
        (
            &["-oocsn", "ooc_dummy"],
            |e| matches!(e, CliError::Unsupported { flag: "oocsn", what } if what.contains("out-of-call")),
        ),
        (&["127.0.0.1:99999"], |e| {
            matches!(
                e,
                CliError::BadAddress {
                    what: "remote host",
                    ..
                }
            )
        }),
        (&["[::1"], |e| matches!(e, CliError::BadAddress { .. })),
        (&["-rsa", "127.0.0.1:x"], |e| {
            matches!(e, CliError::BadAddress { what: "-rsa", .. })
        }),
        (&["-timeout", "5", "-timeout_global", "5"], |e| {
            *e == CliError::Conflict {
                flag: "timeout_global",
                other: "timeout",
            }
        }),
        (&["-d", "5", "-pause_ms", "5"], |e| {
            *e == CliError::Conflict {
                flag: "pause_ms",
                other: "d",
            }
        }),
        (&["-recv_timeout", "5", "-recv_timeout_ms", "5"], |e| {
            *e == CliError::Conflict {
                flag: "recv_timeout_ms",
                other: "recv_timeout",
            }
        }),
        (&["-stat_period", "0"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "stat_period",
                    ..
                }
            )
        }),
        (
            &["-sn", "uas", "-sip_from", "alice"],
            |e| matches!(e, CliError::Invalid { flag: "sip_from", reason } if reason.contains("'uas'")),
        ),
        (&["-sip_pai", "a\r\nX-Evil: 1"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "sip_pai",
                    ..
                }
            )
        }),
        (&["-sip_from", "[service]"], |e| {
            matches!(
                e,
                CliError::Invalid {
                    flag: "sip_from",
                    ..
                }
            )
        }),
        (
            &["-tls_skip_verify"],
            |e| matches!(e, CliError::Invalid { flag: "tls_skip_verify", reason } if reason.contains("TLS transport")),
        ),
        (
            &["-t", "l1", "-tls_skip_verify", "-tls_ca", "ca.pem"],
            |e| {
                *e == CliError::Conflict {
                    flag: "tls_skip_verify",
                    other: "tls_ca",
                }
            },
        ),
        (
            &["-t", "l1", "-tls_skip_verify=false"],
            |e| matches!(e, CliError::Invalid { flag: "tls_skip_verify", reason } if reason.contains("-tls_ca")),
        ),
        (&["-t", "l1", "-tls_skip_verify=maybe"], |e| {
            matches!(
                e,
                CliError::BadValue {
                    flag: "tls_skip_verify",
                    ..
                }
            )
        }),
        (
            &["-sd", "no_such_scenario"],
            |e| matches!(e, CliError::UnknownBuiltin { flag: "sd", name, .. } if name == "no_such_scenario"),
        ),
    ];
    for (args, expect) in cases {
        let e = error(args);
        assert!(expect(&e), "{args:?} gave {e:?}");
    }
}

#[test]
fn unknown_flag_message_matches_sipps_wording() {
    assert_eq!(
        error(&["-foo"]).to_string(),
        "Invalid argument: '-foo'. Use 'gossipper -h' for details"
    );
}

#[test]
fn typos_get_the_closest_flag_and_bad_builtins_the_list() {
    for (typo, meant) in [
        ("-trace_stats", "trace_stat"),
        ("-rate_incrase", "rate_increase"),
        ("-summary_jsn", "summary_json"),
        ("--nostdn", "nostdin"),
        ("-t2", "T2"),
        ("-thresold", "threshold"),
    ] {
        let e = error(&[typo]);
        assert!(
            matches!(&e, CliError::UnknownFlag { suggestion: Some(s), .. } if *s == meant),
            "{typo}: {e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "Invalid argument: '{typo}'. Did you mean '-{meant}'? Use 'gossipper -h' for details"
            )
        );
    }
    assert!(matches!(
        error(&["-completely_unknown_thing"]),
        CliError::UnknownFlag {
            suggestion: None,
            ..
        }
    ));
    for (flag, args) in [("sn", &["-sn", "uac2"][..]), ("sd", &["-sd", "x"])] {
        let e = error(args);
        assert!(
            matches!(&e, CliError::UnknownBuiltin { flag: f, .. } if *f == flag),
            "{args:?}: {e:?}"
        );
        let text = e.to_string();
        for id in ["uac", "uas", "branchc", "ooc_default"] {
            assert!(text.contains(id), "{text}");
        }
    }
}

#[test]
fn thresholds_parse_on_the_command_line_and_bad_ones_are_refused() {
    let s = spec(&[
        "-threshold",
        "p99(response_time)<50ms",
        "-threshold",
        "failed_calls==0, rate>=95%",
    ]);
    let texts: Vec<&str> = s.thresholds.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(
        texts,
        ["p99(response_time)<50ms", "failed_calls==0", "rate>=95%"]
    );
    let e = error(&["-threshold", "p99(response_time)<5Oms"]);
    assert!(
        matches!(&e, CliError::Invalid { flag: "threshold", reason } if reason.contains("\"Oms\"")),
        "{e:?}"
    );
    assert!(matches!(
        error(&["-threshold", " , "]),
        CliError::Invalid {
            flag: "threshold",
            ..
        }
    ));
}

#[test]
fn help_version_and_no_arguments() {
    for args in [
        &["-h"][..],
        &["--help"],
        &["sipp", "-h"],
        &["-r", "5", "-h", "-bogus"],
    ] {
        assert_eq!(parsed(args), Ok(Parsed::Help), "{args:?}");
    }
    for args in [&[][..], &["sipp"]] {
        assert_eq!(parsed(args), Ok(Parsed::Usage), "{args:?}");
    }
    let usage = super::flags::usage();
    assert!(usage.contains("gossipper ui ") && usage.contains("gossipper worker --spec"));
    assert!(usage.contains("gossipper pcap2scenario FILE.pcap"));
    for args in [&["-v"][..], &["--v"], &["-version"], &["--version"]] {
        assert_eq!(parsed(args), Ok(Parsed::Version), "{args:?}");
    }
    let v = super::version_text();
    assert!(
        v.contains("SIPp v3.6.1-compatible") && v.contains("SIPp v"),
        "{v}"
    );
    assert!(
        v.starts_with(&format!("gossipper {}", env!("CARGO_PKG_VERSION"))),
        "{v}"
    );
}

#[test]
fn usage_lists_every_flag_and_every_exit_code() {
    let text = super::flags::usage();
    let server = super::flags::server_usage();
    for f in FLAGS {
        let shown = format!("   -{}", f.name);
        assert!(
            server.contains(&shown),
            "-{} missing from server -h",
            f.name
        );
        if f.group == Group::Server {
            assert!(!text.contains(&shown), "-{} shown by the root -h", f.name);
        } else {
            assert!(text.contains(&shown), "-{} missing from -h", f.name);
        }
    }
    assert!(server.find("Server mode") < server.find("*** Scenario"));
    for row in super::exit::TABLE {
        assert!(
            text.contains(&format!("{:>3}: ", row.code)),
            "exit {} missing from -h",
            row.code
        );
    }
}

/// The flag lines of a `-h` text: each flag's name (no dash) and its placeholders (the
/// words before the first double space, after which the help text starts).
/// `tests/tests/surface_sweep.rs` reads the real binary's `-h` the same way.
fn help_flags(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .skip_while(|l| !l.starts_with("*** "))
        .filter(|l| l.starts_with("   -"))
        .map(|l| {
            let left = l[3..].split("  ").next().unwrap_or_default();
            let mut words = left.split_whitespace();
            let name = words.next().unwrap_or_default().trim_start_matches('-');
            (name.to_string(), words.map(str::to_string).collect())
        })
        .collect()
}

#[test]
fn every_flag_line_of_the_help_is_a_table_flag_with_its_placeholders() {
    for (text, with_server) in [
        (super::flags::usage(), false),
        (super::flags::server_usage(), true),
    ] {
        let listed = help_flags(&text);
        for (name, values) in &listed {
            let f = super::flags::lookup(name)
                .unwrap_or_else(|| panic!("-h lists -{name}, which is not in the table"));
            let want: Vec<&str> = f.value_name.split_whitespace().collect();
            assert_eq!(values, &want, "-{name}: placeholders in -h");
        }
        let shown = FLAGS
            .iter()
            .filter(|f| with_server || f.group != Group::Server)
            .count();
        assert_eq!(listed.len(), shown, "one -h line per table flag");
    }
}

#[test]
fn sd_dumps_each_builtin_and_acts_at_once() {
    for b in builtin::all() {
        assert_eq!(
            parsed(&["-sd", b.id]),
            Ok(Parsed::Dump(b.xml.to_owned())),
            "{}",
            b.id
        );
        // SIPp reads left to right: -sd exits before a later bad flag is seen.
        assert_eq!(
            parsed(&["-sd", b.id, "-bogus"]),
            Ok(Parsed::Dump(b.xml.to_owned())),
            "{}",
            b.id
        );
    }
    assert!(matches!(
        parsed(&["-bogus", "-sd", "uac"]),
        Err(CliError::UnknownFlag { .. })
    ));
}

/// reference/sipp.md §7.1: the benchmark harness's command lines, with gossipper in
/// place of sipp, must parse unchanged.
#[test]
fn benchmark_harness_command_lines_parse_unchanged() {
    let uas = spec(&[
        "-sn",
        "uas",
        "-t",
        "u1",
        "-i",
        "127.0.0.1",
        "-ci",
        "127.0.0.1",
        "-mi",
        "127.0.0.1",
        "-p",
        "15068",
        "-nostdin",
        "-timeout",
        "68s",
        "-trace_stat",
        "-stf",
        "/tmp/run/uas.csv",
        "-fd",
        "1",
        "-trace_screen",
        "-screen_file",
        "/tmp/run/uas.screen",
        "-buff_size",
        "4194304",
    ]);
    assert_eq!(uas.scenario, ScenarioSource::Builtin("uas".into()));
    assert_eq!(uas.remote, None);
    assert_eq!(uas.local_ip, Some(v4(127, 0, 0, 1)));
    assert_eq!(uas.control_ip, Some(v4(127, 0, 0, 1)));
    assert_eq!(uas.media_ip, Some(v4(127, 0, 0, 1)));
    assert_eq!(uas.local_port, Some(15068));
    assert!(uas.nostdin);
    assert_eq!(uas.global_timeout_ms, Some(68_000));
    assert_eq!(uas.trace.stat_file, path("/tmp/run/uas.csv"));
    assert_eq!(uas.trace.stat_period_ms, 1000);
    assert_eq!(uas.trace.screen_file, path("/tmp/run/uas.screen"));
    assert_eq!(uas.buff_size, Some(4_194_304));

    for t in ["u1", "t1"] {
        let uac = spec(&[
            "127.0.0.1:15068",
            "-sn",
            "uac",
            "-t",
            t,
            "-i",
            "127.0.0.1",
            "-ci",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-p",
            "15069",
            "-r",
            "2000",
            "-m",
            "20000",
            "-l",
            "6000",
            "-nostdin",
            "-timeout",
            "48s",
            "-trace_stat",
            "-stf",
            "/tmp/run/uac.csv",
            "-fd",
            "1",
            "-trace_screen",
            "-screen_file",
            "/tmp/run/uac.screen",
        ]);
        assert_eq!(uac.remote, Some(SocketAddr::new(v4(127, 0, 0, 1), 15068)));
        assert_eq!(uac.remote_host.as_deref(), Some("127.0.0.1"));
        assert_eq!(uac.transport, TransportMode::parse(t).expect("known code"));
        assert_eq!(uac.local_port, Some(15069));
        assert_eq!((uac.rate, uac.rate_period_ms), (2000.0, 1000));
        assert_eq!(uac.max_calls, Some(20_000));
        assert_eq!(uac.call_limit, Some(6000));
        assert_eq!(uac.global_timeout_ms, Some(48_000));
        assert_eq!(uac.trace.stat_file, path("/tmp/run/uac.csv"));
        assert_eq!(uac.trace.screen_file, path("/tmp/run/uac.screen"));
    }
}

fn server(args: &[&str]) -> Result<(Parsed, ServerFlags), CliError> {
    parse_server_with(&argv(args), &ENV)
}

#[test]
fn the_root_command_refuses_the_server_flags() {
    for (flag, args) in [
        (
            "api_addr",
            &["-sn", "uas", "-api_addr", "127.0.0.1:8080"][..],
        ),
        ("api_token", &["-api_token", "t"]),
        ("ui_data_dir", &["-ui_data_dir", "d"]),
        ("legacy_api_v1", &["-legacy_api_v1=false"]),
        ("scenario_history_keep", &["-scenario_history_keep", "3"]),
    ] {
        assert_eq!(error(args), CliError::ServerOnly { flag }, "{args:?}");
    }
}

#[test]
fn server_runs_the_builtin_uas_unless_told_otherwise() {
    let (p, flags) = server(&["-p", "5070", "-api_addr", ":9090", "-api_token", "tok"]).unwrap();
    let Parsed::Run(spec) = p else {
        panic!("not a run: {p:?}")
    };
    assert_eq!(spec.scenario, ScenarioSource::Builtin("uas".into()));
    assert_eq!(spec.local_port, Some(5070));
    assert_eq!(
        flags,
        ServerFlags {
            api_addr: Some(":9090".into()),
            api_token: Some("tok".into()),
            ..ServerFlags::default()
        }
    );
    let (p, _) = server(&[]).unwrap();
    assert!(
        matches!(&p, Parsed::Run(s) if s.scenario == ScenarioSource::Builtin("uas".into())),
        "{p:?}"
    );
    let (p, _) = server(&["-sn", "uac", "127.0.0.1:5060", "-r", "3"]).unwrap();
    assert!(
        matches!(&p, Parsed::Run(s) if s.scenario == ScenarioSource::Builtin("uac".into())),
        "{p:?}"
    );
    assert_eq!(server(&["-h"]).unwrap().0, Parsed::Help);
    let (_, flags) = server(&[
        "-ui_data_dir",
        "d",
        "-legacy_api_v1=false",
        "-scenario_history_keep",
        "4",
    ])
    .unwrap();
    assert_eq!(
        flags,
        ServerFlags {
            ui_data_dir: Some("d".into()),
            legacy_api_v1: Some(false),
            scenario_history_keep: Some("4".into()),
            ..ServerFlags::default()
        }
    );
    assert!(matches!(
        server(&["-config", "p.json", "-run-alias", "smoke"]),
        Err(CliError::Invalid {
            flag: "run-alias",
            ..
        })
    ));
    assert!(matches!(
        server(&["-bogus"]),
        Err(CliError::UnknownFlag { .. })
    ));
}

#[test]
fn a_run_profile_file_gives_its_flags_first_and_the_command_line_wins() {
    let dir = std::env::temp_dir().join(format!("gossipper-runprofile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flat = dir.join("flat.json");
    std::fs::write(
        &flat,
        r#"{"scenario_name":"uac","remote_addr":"127.0.0.1:5070","rate":3}"#,
    )
    .unwrap();
    let got = with_run_profile(&argv(&["-config", flat.to_str().unwrap(), "-r", "5"]))
        .unwrap()
        .unwrap();
    let Parsed::Run(s) = parse_with(&got, &ENV).unwrap() else {
        panic!("not a run: {got:?}")
    };
    assert_eq!(s.scenario, ScenarioSource::Builtin("uac".into()));
    assert_eq!(s.remote, Some("127.0.0.1:5070".parse().unwrap()));
    assert_eq!(s.rate, 5.0, "the command line's -r wins over the file's");

    let aliased = dir.join("aliases.json");
    std::fs::write(
        &aliased,
        r#"{"aliases":{"smoke":{"scenario_name":"uac","remote_addr":"127.0.0.1:5070","total_calls":3},
                        "soak":{"scenario_name":"uac","remote_addr":"127.0.0.1:5071"}}}"#,
    )
    .unwrap();
    let a = aliased.to_str().unwrap();
    let got = with_run_profile(&argv(&["-config", a, "-run-alias", "smoke"]))
        .unwrap()
        .unwrap();
    let Parsed::Run(s) = parse_with(&got, &ENV).unwrap() else {
        panic!("not a run: {got:?}")
    };
    assert_eq!(s.max_calls, Some(3));
    assert_eq!(
        crate::server::config::alias_names(&aliased).unwrap(),
        ["smoke", "soak"]
    );
    assert_eq!(
        with_run_profile(&argv(&["-config", a, "-list-aliases"])).unwrap(),
        None
    );
    for (args, words) in [
        (
            &["-config", a][..],
            &["holds aliases", "smoke", "-run-alias"][..],
        ),
        (
            &["-config", a, "-run-alias", "nope"][..],
            &["nope", "smoke, soak"][..],
        ),
        (
            &["-config", flat.to_str().unwrap(), "-run-alias", "x"][..],
            &["no \"aliases\""][..],
        ),
        (
            &["-run-alias", "smoke"][..],
            &["-run-alias needs -config"][..],
        ),
        (&["-list-aliases"][..], &["-list-aliases needs -config"][..]),
    ] {
        let e = with_run_profile(&argv(args)).unwrap_err();
        for w in words {
            assert!(e.contains(w), "{args:?}: {w:?} not in {e}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
