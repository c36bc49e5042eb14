//! The table of every SIPp-style flag the SIPp command line accepts (a data table, so it
//! may run long, as ripgrep's `flags/defs.rs` does).
//!
//! Owns: each flag's name, how many values it takes, its help text, its help group, and
//! where its raw value lands in `SippArgs`. Must not: interpret values (`resolve` does) or
//! read the environment. Read by the scanner in `args` and by the `-h` text below.
//!
//! The arity lives in the type: `Kind::Switch` takes no value, `Kind::Value` one and
//! `Kind::Pair` two (`-key name value`, `-set var value`, `-infindex file field`), so a
//! setter can never be handed the wrong number of values. `Kind::GoBool` is the Go
//! gossipper's boolean (`-tls_skip_verify`, `-tls_skip_verify=false`).

use super::args::SippArgs;

/// Where a flag appears in `-h`, in SIPp's section order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Group {
    Scenario,
    Network,
    Overall,
    Call,
    Injection,
    Media,
    Rate,
    Retrans,
    Trace,
    Gossipper,
    /// `gossipper server`'s own flags (the control API); refused by the root command.
    Server,
    /// SIPp tuning knobs with no meaning for gossipper's engine: accepted, no effect.
    Ignored,
    /// SIPp features gossipper does not have: a clear error instead of "invalid argument".
    Unsupported,
}

impl Group {
    /// Every group, in help order.
    pub(crate) const ALL: [Group; 13] = [
        Group::Server,
        Group::Scenario,
        Group::Network,
        Group::Overall,
        Group::Call,
        Group::Injection,
        Group::Media,
        Group::Rate,
        Group::Retrans,
        Group::Trace,
        Group::Gossipper,
        Group::Ignored,
        Group::Unsupported,
    ];

    /// The `-h` section title.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Group::Scenario => "Scenario",
            Group::Network => "IP, port and transport",
            Group::Overall => "Overall behaviour",
            Group::Call => "Call behaviour",
            Group::Injection => "Injection files",
            Group::Media => "RTP and media",
            Group::Rate => "Call rate",
            Group::Retrans => "Retransmissions and timeouts",
            Group::Trace => "Tracing, logging and statistics",
            Group::Gossipper => "gossipper extras",
            Group::Server => "Server mode and its control API (gossipper server only)",
            Group::Ignored => "Accepted for SIPp compatibility, no effect in gossipper",
            Group::Unsupported => "SIPp options gossipper does not support (rejected)",
        }
    }
}

/// What a flag does with the command line.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// No value.
    Switch(fn(&mut SippArgs)),
    /// One value: the next argument, taken verbatim even if it starts with `-`.
    Value(fn(&mut SippArgs, String)),
    /// Two values.
    Pair(fn(&mut SippArgs, String, String)),
    /// A Go-style boolean (the Go gossipper's flags): alone it means true, and
    /// `-name=false` / `-name=true` sets it; it never takes the next argument.
    GoBool(fn(&mut SippArgs, bool)),
    /// `-h`: stop scanning and print the usage.
    Help,
    /// `-v`: stop scanning and print the version.
    Version,
    /// `-sd name`: stop scanning and dump a built-in scenario.
    Dump,
    /// A SIPp option we reject, naming the missing feature.
    Unsupported { what: &'static str },
}

/// One accepted flag.
#[derive(Clone, Copy)]
pub(crate) struct Flag {
    /// Without the leading dash.
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    /// Placeholder(s) shown in help, e.g. `file`, `name value`.
    pub(crate) value_name: &'static str,
    pub(crate) help: &'static str,
    pub(crate) group: Group,
}

impl std::fmt::Debug for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flag")
            .field("name", &self.name)
            .field("group", &self.group)
            .finish()
    }
}

/// The flag named `name` (no dash), if we know it.
pub(crate) fn lookup(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.name == name)
}

/// Levenshtein distance between two short ASCII-ish strings (flag names).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known flag closest to a mistyped `name`, when it is close enough to be the one
/// meant: at most one edit for names up to four letters, two beyond (`-trace_stats`,
/// `-rate_incrase`), or the same letters in another case (`-t2`).
pub(crate) fn closest(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return None;
    }
    let allowed = if name.len() <= 4 { 1 } else { 2 };
    FLAGS
        .iter()
        .map(|f| {
            let d = if f.name.eq_ignore_ascii_case(name) {
                0
            } else {
                edit_distance(name, f.name)
            };
            (d, f.name)
        })
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

const fn flag(
    name: &'static str,
    kind: Kind,
    value_name: &'static str,
    group: Group,
    help: &'static str,
) -> Flag {
    Flag {
        name,
        kind,
        value_name,
        help,
        group,
    }
}

fn ignore_switch(_: &mut SippArgs) {}
fn ignore_value(_: &mut SippArgs, _: String) {}

use Group as G;
use Kind::{GoBool, Pair, Switch, Value};

/// Every flag, in help order within each group.
#[rustfmt::skip]
pub(crate) static FLAGS: &[Flag] = &[
    // --- Scenario
    flag("sf", Value(|a, v| a.sf = Some(v)), "file", G::Scenario, "Load the scenario from an XML file."),
    flag("sn", Value(|a, v| a.sn = Some(v)), "name", G::Scenario, "Use a built-in scenario (default: uac). See -sd."),
    flag("sd", Kind::Dump, "name", G::Scenario, "Print a built-in scenario's XML and exit (code 99)."),
    // --- Network
    flag("t", Value(|a, v| a.t = Some(v)), "mode", G::Network, "Transport: u1 (UDP, one socket, default), un (UDP, socket per call), ui (UDP, socket per IP from -ip_field), t1/tn (TCP), l1/ln (TLS), w1/wn (WebSocket), ws1/wsn (secure WebSocket). SCTP (s1/sn) and compression (c1/cn) are not supported."),
    flag("i", Value(|a, v| a.i = Some(v)), "ip", G::Network, "Local IP for Via, Contact and From, and to bind to."),
    flag("p", Value(|a, v| a.p = Some(v)), "port", G::Network, "Local SIP port (default: any free port)."),
    flag("bind_local", Switch(|a| a.bind_local = true), "", G::Network, "Bind the SIP sockets to -i only."),
    flag("ci", Value(|a, v| a.ci = Some(v)), "ip", G::Network, "Local IP of the UDP control socket."),
    flag("cp", Value(|a, v| a.cp = Some(v)), "port", G::Network, "Port of the UDP control socket (default 8888)."),
    flag("rsa", Value(|a, v| a.rsa = Some(v)), "host:port", G::Network, "Send every message to this address."),
    flag("max_socket", Value(|a, v| a.max_socket = Some(v)), "n", G::Network, "Most sockets open at once (un, tn)."),
    flag("max_reconnect", Value(|a, v| a.max_reconnect = Some(v)), "n", G::Network, "Most reconnections (t1, l1)."),
    flag("reconnect_sleep", Value(|a, v| a.reconnect_sleep = Some(v)), "time", G::Network, "Pause between close and reconnect (default unit ms)."),
    flag("reconnect_close", Value(|a, v| a.reconnect_close = Some(v)), "bool", G::Network, "Close the calls of a reconnected socket (default true)."),
    flag("stream_idle_timeout", Value(|a, v| a.stream_idle_timeout = Some(v)), "time", G::Network, "Close an accepted TCP/TLS/WebSocket connection that sends no whole message or keepalive for this long while it carries no live call (calls in their final timewait do not count), or that leaves half a message unfinished this long (default 60s, unit s; 0: never). Not in SIPp."),
    flag("tls_cert", Value(|a, v| a.tls_cert = Some(v)), "file", G::Network, "TLS certificate (PEM) for l1/ln/ws1/wsn."),
    flag("tls_key", Value(|a, v| a.tls_key = Some(v)), "file", G::Network, "TLS private key (PEM)."),
    flag("tls_ca", Value(|a, v| a.tls_ca = Some(v)), "file", G::Network, "CA bundle (PEM) to verify the peer."),
    flag("tls_version", Value(|a, v| a.tls_version = Some(v)), "ver", G::Network, "TLS version (1.2 or 1.3)."),
    flag("ws_path", Value(|a, v| a.ws_path = Some(v)), "path", G::Network, "Request path of the WebSocket upgrade."),
    flag("tls_skip_verify", GoBool(|a, b| a.tls_skip_verify = Some(b)), "", G::Network, "TLS client: accept any server certificate (the default without -tls_ca). -tls_skip_verify=false insists on verifying, which needs -tls_ca."),
    // --- Overall
    flag("v", Kind::Version, "", G::Overall, "Print the version and exit."),
    flag("h", Kind::Help, "", G::Overall, "Print this help and exit."),
    flag("help", Kind::Help, "", G::Overall, "Same as -h."),
    flag("bg", Switch(|a| a.bg = true), "", G::Overall, "Run in the background (prints the PID)."),
    flag("nostdin", Switch(|a| a.nostdin = true), "", G::Overall, "Do not read keys from stdin."),
    flag("buff_size", Value(|a, v| a.buff_size = Some(v)), "bytes", G::Overall, "SO_SNDBUF/SO_RCVBUF of the SIP sockets (default: sized for the rate)."),
    flag("lost", Value(|a, v| a.lost = Some(v)), "percent", G::Overall, "Drop this share of packets on purpose."),
    flag("key", Pair(|a, k, v| a.keys.push((k, v))), "name value", G::Overall, "Make [name] render as value."),
    flag("set", Pair(|a, k, v| a.sets.push((k, v))), "var value", G::Overall, "Initial value of a global variable."),
    // --- Call
    flag("aa", Switch(|a| a.aa = true), "", G::Call, "Answer out-of-call INFO, NOTIFY, OPTIONS, UPDATE with 200."),
    flag("base_cseq", Value(|a, v| a.base_cseq = Some(v)), "n", G::Call, "First [cseq] of each call (default 1)."),
    flag("cid_str", Value(|a, v| a.cid_str = Some(v)), "fmt", G::Call, "Call-ID format (default %u-%p@%s: call number, pid, local IP)."),
    flag("d", Value(|a, v| a.d = Some(v)), "time", G::Call, "Length of <pause/> without a duration (default 0, unit ms)."),
    flag("pause_ms", Value(|a, v| a.pause_ms = Some(v)), "time", G::Call, "The Go gossipper's name for -d (unit ms; default 0, as SIPp's)."),
    flag("sip_from", Value(|a, v| a.sip_from = Some(v)), "addr", G::Call, "From of the built-in uac, uac_pcap and regexp scenarios (user, sip:uri or \"Name\" <sip:uri>); [sip_from] in any scenario."),
    flag("sip_pai", Value(|a, v| a.sip_pai = Some(v)), "addr", G::Call, "Adds P-Asserted-Identity to the INVITE of the built-in client scenarios; [sip_pai] in any scenario."),
    flag("sip_provider", Value(|a, v| a.sip_provider = Some(v)), "name", G::Call, "Adds X-Provider to the INVITE of the built-in client scenarios; [sip_provider] in any scenario."),
    flag("sip_extra_header", Value(|a, v| a.sip_extra_header.push(v)), "header", G::Call, "Adds this header line ('Name: value') to the INVITE of the built-in client scenarios (uac, regexp); repeat for several. Refused with -sf (a scenario file writes its own headers)."),
    flag("auth_uri", Value(|a, v| a.auth_uri = Some(v)), "uri", G::Call, "URI used in digest authentication."),
    flag("au", Value(|a, v| a.au = Some(v)), "user", G::Call, "Digest username (default: the -s value)."),
    flag("ap", Value(|a, v| a.ap = Some(v)), "password", G::Call, "Digest password (default 'password')."),
    flag("s", Value(|a, v| a.s = Some(v)), "user", G::Call, "User part of the Request-URI, [service] (default service)."),
    flag("default_behaviors", Value(|a, v| a.default_behaviors = Some(v)), "list", G::Call, "Comma list of all, none, bye, abortunexp, pingreply; '-x' turns x off (e.g. all,-bye)."),
    flag("nd", Switch(|a| a.nd = true), "", G::Call, "No default behaviours (same as -default_behaviors none)."),
    // --- Injection
    flag("inf", Value(|a, v| a.inf.push(v)), "file", G::Injection, "CSV injection file; repeat for several."),
    flag("infindex", Pair(|a, f, n| a.infindex.push((f, n))), "file field", G::Injection, "Index an -inf file on a field (from 0): <lookup> finds lines by it."),
    flag("ip_field", Value(|a, v| a.ip_field = Some(v)), "n", G::Injection, "Injection field with the local IP (-t ui)."),
    // --- Media
    flag("mi", Value(|a, v| a.mi = Some(v)), "ip", G::Media, "Local media IP (default: -i)."),
    flag("mp", Value(|a, v| a.mp = Some(v)), "port", G::Media, "Local media (RTP echo) port (default 6000)."),
    flag("min_rtp_port", Value(|a, v| a.min_rtp_port = Some(v)), "port", G::Media, "Lowest media port."),
    flag("max_rtp_port", Value(|a, v| a.max_rtp_port = Some(v)), "port", G::Media, "Highest media port."),
    flag("rtp_echo", Switch(|a| a.rtp_echo = true), "", G::Media, "Echo RTP received on -mp (and -mp+2)."),
    flag("media_srtp", Switch(|a| a.media_srtp = true), "", G::Media, "SRTP when the SDP asks for it: SDES (a=crypto, AES_CM_128_HMAC_SHA1_80/_32) or DTLS-SRTP (a=fingerprint, no ICE)."),
    flag("media_reject_srtp", Switch(|a| a.media_reject_srtp = true), "", G::Media, "Fail a call whose peer's SDP asks for SRTP."),
    flag("record_wav_dir", Value(|a, v| a.record_wav_dir = Some(v)), "dir", G::Media, "Record every call's received audio to <dir>/<call-id>.wav."),
    flag("pcap-link", Value(|a, v| a.pcap_link = Some(v)), "type", G::Media, "Decode every play_pcap_audio/play_pcap_video capture as this link type instead of the one its header declares: auto (default), ethernet, linux_sll, linux_sll2, raw, null, loop, ipv4, ipv6 or a DLT number. The built-in uac_pcap's embedded captures keep theirs."),
    flag("record_wav_duplex", Switch(|a| a.record_wav_duplex = true), "", G::Media, "With -record_wav_dir: stereo, left = sent, right = received."),
    flag("ice_server", Value(|a, v| a.ice_server.push(v)), "url", G::Media, "WebRTC scenarios: an ICE server, stun:host[:port] or one turn:[user:pass@]host[:port][?transport=udp] (repeat for more)."),
    flag("turn_user", Value(|a, v| a.turn_user = Some(v)), "name", G::Media, "TURN username (with -turn_pass), or the identity of -turn_secret credentials."),
    flag("turn_pass", Value(|a, v| a.turn_pass = Some(v)), "password", G::Media, "TURN password (long-term credentials)."),
    flag("turn_secret", Value(|a, v| a.turn_secret = Some(v)), "secret", G::Media, "coturn REST shared secret: credentials <expiry>:<identity> made per call."),
    flag("turn_ttl", Value(|a, v| a.turn_ttl = Some(v)), "s", G::Media, "Lifetime of -turn_secret credentials (default 86400, at least 60)."),
    flag("ice_relay_only", Switch(|a| a.ice_relay_only = true), "", G::Media, "ICE transport policy relay: the TURN relay is each call's only candidate."),
    // --- Rate
    flag("r", Value(|a, v| a.r = Some(v)), "n", G::Rate, "Calls per rate period (default 10)."),
    flag("rp", Value(|a, v| a.rp = Some(v)), "time", G::Rate, "Rate period (default 1000, unit ms): -r 7 -rp 2s is 3.5 calls/s."),
    flag("rate_scale", Value(|a, v| a.rate_scale = Some(v)), "x", G::Rate, "Step of the + - * / keys (default 1)."),
    flag("rate_increase", Value(|a, v| a.rate_increase = Some(v)), "n", G::Rate, "Add n to the rate every -rate_interval."),
    flag("rate_max", Value(|a, v| a.rate_max = Some(v)), "n", G::Rate, "Stop ramping (and quit) at this rate."),
    flag("rate_interval", Value(|a, v| a.rate_interval = Some(v)), "time", G::Rate, "Ramp step period (unit s; default: -fd)."),
    flag("no_rate_quit", Switch(|a| a.no_rate_quit = true), "", G::Rate, "Keep running once -rate_max is reached."),
    flag("l", Value(|a, v| a.l = Some(v)), "n", G::Rate, "Most simultaneous calls (default 3 x rate x call length in s)."),
    flag("m", Value(|a, v| a.m = Some(v)), "n", G::Rate, "Stop after n calls (default: no limit)."),
    flag("users", Value(|a, v| a.users = Some(v)), "n", G::Rate, "Keep n calls running instead of a rate."),
    // --- Retransmissions and timeouts
    flag("recv_timeout", Value(|a, v| a.recv_timeout = Some(v)), "time", G::Retrans, "Per-call receive timeout (unit ms)."),
    flag("recv_timeout_ms", Value(|a, v| a.recv_timeout_ms = Some(v)), "time", G::Retrans, "The Go gossipper's name for -recv_timeout (unit ms; default none, as SIPp's)."),
    flag("recv_bye_timeout_ms", Value(|a, v| a.recv_bye_timeout_ms = Some(v)), "time", G::Retrans, "The least time a mandatory <recv request=\"BYE\"> with a timeout (its own or -recv_timeout) waits (unit ms; the Go gossipper's; default: no minimum)."),
    flag("timeout", Value(|a, v| a.timeout = Some(v)), "time", G::Retrans, "Whole-run timeout (unit s): -timeout 20s, -timeout 2m."),
    flag("timeout_global", Value(|a, v| a.timeout_global = Some(v)), "time", G::Retrans, "The Go gossipper's name for -timeout (unit s): same stop, same exit codes."),
    flag("timeout_error", Switch(|a| a.timeout_error = true), "", G::Retrans, "Reaching -timeout is a fatal error (exit 255)."),
    flag("max_retrans", Value(|a, v| a.max_retrans = Some(v)), "n", G::Retrans, "UDP retransmissions before a timeout (default 5 INVITE, 7 others)."),
    flag("max_invite_retrans", Value(|a, v| a.max_invite_retrans = Some(v)), "n", G::Retrans, "UDP retransmissions of INVITE transactions."),
    flag("max_non_invite_retrans", Value(|a, v| a.max_non_invite_retrans = Some(v)), "n", G::Retrans, "UDP retransmissions of non-INVITE transactions."),
    flag("nr", Switch(|a| a.nr = true), "", G::Retrans, "No UDP retransmissions."),
    flag("rtcheck", Value(|a, v| a.rtcheck = Some(v)), "loose", G::Retrans, "Retransmission detection: loose (by Call-ID and CSeq) is gossipper's only method; SIPp's default full is refused."),
    flag("T2", Value(|a, v| a.t2 = Some(v)), "time", G::Retrans, "RFC 3261 T2 timer (default 4000, unit ms)."),
    // --- Traces
    flag("f", Value(|a, v| a.f = Some(v)), "time", G::Trace, "Screen refresh period (default 1, unit s)."),
    flag("trace_stat", Switch(|a| a.trace_stat = true), "", G::Trace, "Write statistics to <scenario>_<pid>_.csv."),
    flag("stf", Value(|a, v| a.stf = Some(v)), "file", G::Trace, "Statistics file name."),
    flag("fd", Value(|a, v| a.fd = Some(v)), "time", G::Trace, "Statistics period (default 60, unit s)."),
    flag("stat_delimiter", Value(|a, v| a.stat_delimiter = Some(v)), "text", G::Trace, "Statistics file delimiter (default ';')."),
    flag("periodic_rtd", Switch(|a| a.periodic_rtd = true), "", G::Trace, "Reset response-time partitions every period."),
    flag("trace_msg", Switch(|a| a.trace_msg = true), "", G::Trace, "Log messages to <scenario>_<pid>_messages.log."),
    flag("message_file", Value(|a, v| a.message_file = Some(v)), "file", G::Trace, "Message log name."),
    flag("trace_shortmsg", Switch(|a| a.trace_shortmsg = true), "", G::Trace, "Log messages as CSV to <scenario>_<pid>_shortmessages.log."),
    flag("shortmessage_file", Value(|a, v| a.shortmessage_file = Some(v)), "file", G::Trace, "Short message log name."),
    flag("trace_err", Switch(|a| a.trace_err = true), "", G::Trace, "Log unexpected messages to <scenario>_<pid>_errors.log."),
    flag("error_file", Value(|a, v| a.error_file = Some(v)), "file", G::Trace, "Error log name."),
    flag("trace_error_codes", Switch(|a| a.trace_error_codes = true), "", G::Trace, "Log response codes of unexpected messages to <scenario>_<pid>_error_codes.csv."),
    flag("trace_screen", Switch(|a| a.trace_screen = true), "", G::Trace, "Write the screens to <scenario>_<pid>_screen.log at exit."),
    flag("screen_file", Value(|a, v| a.screen_file = Some(v)), "file", G::Trace, "Screen log name."),
    flag("trace_rtt", Switch(|a| a.trace_rtt = true), "", G::Trace, "Write response times to <scenario>_<pid>_rtt.csv."),
    flag("rtt_freq", Value(|a, v| a.rtt_freq = Some(v)), "n", G::Trace, "Flush response times every n calls (default 200)."),
    flag("trace_counts", Switch(|a| a.trace_counts = true), "", G::Trace, "Write message counts to <scenario>_<pid>_counts.csv."),
    flag("trace_logs", Switch(|a| a.trace_logs = true), "", G::Trace, "Write <log> actions to <scenario>_<pid>_logs.log."),
    flag("log_file", Value(|a, v| a.log_file = Some(v)), "file", G::Trace, "<log> action log name."),
    flag("trace_calldebug", Switch(|a| a.trace_calldebug = true), "", G::Trace, "Dump aborted calls to <scenario>_<pid>_calldebug.log."),
    flag("calldebug_file", Value(|a, v| a.calldebug_file = Some(v)), "file", G::Trace, "Call debug log name."),
    flag("message_overwrite", Value(|a, v| a.overwrite.push(("message_overwrite", v))), "bool", G::Trace, "Only true (the default): the file is overwritten; false (append) is refused."),
    flag("shortmessage_overwrite", Value(|a, v| a.overwrite.push(("shortmessage_overwrite", v))), "bool", G::Trace, "Only true (the default): the file is overwritten; false (append) is refused."),
    flag("error_overwrite", Value(|a, v| a.overwrite.push(("error_overwrite", v))), "bool", G::Trace, "Only true (the default): the file is overwritten; false (append) is refused."),
    flag("calldebug_overwrite", Value(|a, v| a.overwrite.push(("calldebug_overwrite", v))), "bool", G::Trace, "Only true (the default): the file is overwritten; false (append) is refused."),
    flag("screen_overwrite", Value(|a, v| a.overwrite.push(("screen_overwrite", v))), "bool", G::Trace, "Only true (the default): the file is overwritten; false (append) is refused."),
    flag("log_overwrite", Value(|a, v| a.overwrite.push(("log_overwrite", v))), "bool", G::Trace, "Only true (the default): the file is overwritten; false (append) is refused."),
    // --- gossipper
    flag("shards", Value(|a, v| a.shards = Some(v)), "n", G::Gossipper, "Engine threads (default: one per CPU)."),
    flag("seed", Value(|a, v| a.seed = Some(v)), "n", G::Gossipper, "Seed for Call-IDs, tags and random choices."),
    flag("segment", Value(|a, v| a.segment = Some(v)), "i/n", G::Gossipper, "Run segment i (0-based) of a run split over n copies: rate and ramp divided by n (first call i/rate after the start), -m, -l and -users shared (10 over 3: 4, 3, 3), call numbers interleaved ((k-1)*n+i+1), so the n copies add up to one run."),
    flag("segments", Value(|a, v| a.segments = Some(v)), "n", G::Gossipper, "As -segment, with i from $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)."),
    flag("start_at", Value(|a, v| a.start_at = Some(v)), "unix_ms", G::Gossipper, "Start placing calls at this instant (Unix ms, at most an hour away), so several copies begin on the same millisecond."),
    flag("summary_json", Value(|a, v| a.summary_json = Some(v)), "file", G::Gossipper, "Write a JSON summary at exit."),
    flag("summary_html", Value(|a, v| a.summary_html = Some(v)), "file", G::Gossipper, "Write the run's report as one self-contained HTML page at exit."),
    flag("stat_period", Value(|a, v| a.stat_period = Some(v)), "time", G::Gossipper, "Print a one-line summary to stderr every period (unit s): -stat_period 5s."),
    flag("call_records_jsonl", Value(|a, v| a.call_records_jsonl = Some(v)), "file", G::Gossipper, "Write one JSON line per finished call."),
    flag("metrics_addr", Value(|a, v| a.metrics_addr = Some(v)), "ip:port", G::Gossipper, "Serve this run's Prometheus metrics at http://ip:port/metrics, updated every second. No authentication: keep it on loopback or a private network."),
    flag("hep_addr", Value(|a, v| a.hep_addr = Some(v)), "host:port", G::Gossipper, "Copy every SIP message sent and received to this HEP3 collector (Homer, heplify-server) over UDP. A copy the kernel will not take is dropped and counted, never waited for."),
    flag("hep_capture_id", Value(|a, v| a.hep_capture_id = Some(v)), "n", G::Gossipper, "The HEP capture agent id (default 9999)."),
    flag("hep_password", Value(|a, v| a.hep_password = Some(v)), "key", G::Gossipper, "The HEP collector's authentication key, sent in every packet."),
    flag("send_media_report", GoBool(|a, b| a.send_media_report = b), "", G::Gossipper, "With -hep_addr: copy every RTCP report sent and received (in clear, HEP type 5, the Call-ID as correlation id)."),
    flag("hep_raw_rtcp", GoBool(|a, b| a.hep_raw_rtcp = Some(b)), "", G::Gossipper, "RTCP reports go to HEP as the raw packets (the default); =false needs -hep_homer_lake_rtcp."),
    flag("hep_homer_lake_rtcp", GoBool(|a, b| a.hep_homer_lake_rtcp = b), "", G::Gossipper, "RTCP reports go to HEP as Homer-Lake JSON (type, ssrc, report_blocks, sender_information) instead of raw."),
    flag("config", Value(|a, v| a.config = Some(v)), "file.json", G::Gossipper, "Run profile JSON (the Go gossipper's keys: scenario_file, scenario_name, remote_addr, local_port, rate, total_calls, ...): a flat object, or one of its \"aliases\" named by -run-alias. Flags after it on the command line win. Keys we do not take are refused, naming them."),
    flag("run-alias", Value(|a, v| a.run_alias = Some(v)), "name", G::Gossipper, "With -config: run the profile aliases.NAME of the file."),
    flag("list-aliases", Switch(|a| a.list_aliases = true), "", G::Gossipper, "With -config: print the file's alias names and exit."),
    flag("allow_exec", Switch(|a| a.allow_exec = true), "", G::Gossipper, "Allow <exec command=...> to run shell commands."),
    flag("health_min_success_ratio", Value(|a, v| a.health_min_success_ratio = Some(v)), "0..1", G::Gossipper, "Exit 2 if fewer calls succeed."),
    flag("health_max_failed_calls", Value(|a, v| a.health_max_failed_calls = Some(v)), "n", G::Gossipper, "Exit 2 if more calls fail (-1: off)."),
    flag("health_max_timeouts", Value(|a, v| a.health_max_timeouts = Some(v)), "n", G::Gossipper, "Exit 2 if more calls time out (-1: off)."),
    flag("health_max_rtcp_fraction_lost", Value(|a, v| a.health_max_rtcp_fraction_lost = Some(v)), "0..1", G::Gossipper, "Exit 2 if a peer's RTCP reported a larger fraction of our packets lost, or sent no report (-1: off)."),
    flag("health_max_rtcp_jitter_ts", Value(|a, v| a.health_max_rtcp_jitter_ts = Some(v)), "n", G::Gossipper, "Exit 2 if a peer's RTCP reported more jitter (RTP timestamp units), or sent no report (-1: off)."),
    flag("health_min_rtp_packets_recv", Value(|a, v| a.health_min_rtp_packets_recv = Some(v)), "n", G::Gossipper, "Exit 2 if fewer RTP packets were received in the run (-1: off)."),
    flag("health_min_rtp_packets_recv_per_call", Value(|a, v| a.health_min_rtp_packets_recv_per_call = Some(v)), "n", G::Gossipper, "Exit 2 if a call with media received fewer RTP packets, or none ended (-1: off)."),
    flag("threshold", Value(|a, v| a.thresholds.push(v)), "expr", G::Gossipper, "Pass/fail threshold, k6 style: 'p99(response_time)<50ms', 'avg(call_length)<=2s', 'rate>=95%' (of the target rate), 'success_ratio>=99.5%', 'failed_calls==0', 'timeouts<=3', 'retrans_ratio<1%', 'rtp_loss<0.5%', 'mos_min>=3.5'. A timer is response_time (the first rtd), an rtd name or call_length; p50, p90, p99.9, avg, min and max work too. Repeat the flag or separate with commas. Exit 2 when one fails; the verdict is in -summary_json."),
    flag("version", Kind::Version, "", G::Gossipper, "Same as -v (Go gossipper spelling)."),
    // --- gossipper server (refused by the root command)
    flag("api_addr", Value(|a, v| a.api_addr = Some(v)), "ip:port", G::Server, "Address of the /api/v1 control API, and with -ui_data_dir of /api/v2 and the console (default :8080; PORT, :PORT, IP:PORT or [IPv6]:PORT, port 0 picks one). Without -api_token or -ui_data_dir it must be a loopback address."),
    flag("api_token", Value(|a, v| a.api_token = Some(v)), "token", G::Server, "Bearer token every /api/v1 request must carry (Authorization: Bearer TOKEN; with -ui_data_dir a user's token works too). The GOSSIPPER_API_TOKEN environment variable is read when the flag is not given (it stays out of ps)."),
    flag("ui_data_dir", Value(|a, v| a.ui_data_dir = Some(v)), "dir", G::Server, "Mount gossipper ui's /api/v2 and console on the -api_addr listener, with its data dir layout (created if missing) and its internal users (bootstrap admin admin/sipcapture, or GOSSIPPER_BOOTSTRAP_USERNAME/_PASSWORD; JWT secret from GOSSIPPER_JWT_SECRET or generated). /api/v1 then also takes the users' tokens, and the calls catalogue is kept in DIR/calls.sqlite."),
    flag("legacy_api_v1", GoBool(|a, b| a.legacy_api_v1 = Some(b)), "", G::Server, "Serve /api/v1 (default true, false with -ui_data_dir unless given); -legacy_api_v1=false switches it off (its routes answer 404 saying so)."),
    flag("scenario_history_keep", Value(|a, v| a.scenario_history_keep = Some(v)), "n", G::Server, "With -ui_data_dir: archived versions kept per scenario (default 20, 0 = unlimited)."),
    // --- Ignored SIPp tuning knobs: our engine has no such setting.
    flag("timer_resol", Value(ignore_value), "time", G::Ignored, "SIPp scheduler resolution."),
    flag("max_recv_loops", Value(ignore_value), "n", G::Ignored, "SIPp receive batch."),
    flag("max_sched_loops", Value(ignore_value), "n", G::Ignored, "SIPp scheduling batch."),
    flag("watchdog_interval", Value(ignore_value), "time", G::Ignored, "SIPp watchdog."),
    flag("watchdog_reset", Value(ignore_value), "time", G::Ignored, "SIPp watchdog."),
    flag("watchdog_minor_threshold", Value(ignore_value), "time", G::Ignored, "SIPp watchdog."),
    flag("watchdog_major_threshold", Value(ignore_value), "time", G::Ignored, "SIPp watchdog."),
    flag("watchdog_minor_maxtriggers", Value(ignore_value), "n", G::Ignored, "SIPp watchdog."),
    flag("watchdog_major_maxtriggers", Value(ignore_value), "n", G::Ignored, "SIPp watchdog."),
    flag("skip_rlimit", Switch(ignore_switch), "", G::Ignored, "SIPp fd limit tuning."),
    flag("sendbuffer_warn", Value(ignore_value), "bool", G::Ignored, "SIPp send buffer warnings."),
    flag("deadcall_wait", Value(ignore_value), "time", G::Ignored, "SIPp dead-call memory."),
    // --- 3PCC (listed with the scenario flags)
    flag("3pcc", Value(|a, v| a.three_pcc = Some(v)), "ip:port", G::Scenario, "3PCC twin address: the side whose scenario starts with <sendCmd> connects, the other listens."),
    flag("master", Value(|a, v| a.master = Some(v)), "name", G::Scenario, "Extended 3PCC: this process is the master of that name (with -slave_cfg)."),
    flag("slave", Value(|a, v| a.slave = Some(v)), "name", G::Scenario, "Extended 3PCC: this process is the slave of that name (with -slave_cfg)."),
    flag("slave_cfg", Value(|a, v| a.slave_cfg = Some(v)), "file", G::Scenario, "Extended 3PCC: name;ip:port of every master and slave, one a line."),
    // --- Rejected SIPp features
    flag("oocsf", unsupported(OOC), "file", G::Unsupported, "Out-of-call scenario from an XML file."),
    flag("oocsn", unsupported(OOC), "name", G::Unsupported, "Built-in out-of-call scenario (ooc_default and ooc_dummy run as -sn scenarios)."),
    flag("ringbuffer_files", unsupported(ROTATION), "n", G::Unsupported, "SIPp log rotation."),
    flag("ringbuffer_size", unsupported(ROTATION), "bytes", G::Unsupported, "SIPp log rotation."),
    flag("max_log_size", unsupported(ROTATION), "bytes", G::Unsupported, "SIPp log size cap."),
    flag("send_timeout", unsupported("a send deadline"), "time", G::Unsupported, "Per-call send timeout."),
    flag("tdmmap", unsupported("TDM circuit maps"), "map", G::Unsupported, "TDM circuit table."),
    flag("plugin", unsupported("plugins"), "file", G::Unsupported, "Load a plugin."),
    flag("multihome", unsupported("SCTP"), "ip", G::Unsupported, "SCTP multihoming."),
    flag("heartbeat", unsupported("SCTP"), "ms", G::Unsupported, "SCTP heartbeat."),
    flag("assocmaxret", unsupported("SCTP"), "n", G::Unsupported, "SCTP association retransmits."),
    flag("pathmaxret", unsupported("SCTP"), "n", G::Unsupported, "SCTP path retransmits."),
    flag("pmtu", unsupported("SCTP"), "n", G::Unsupported, "SCTP path MTU."),
    flag("gracefulclose", unsupported("SCTP"), "bool", G::Unsupported, "SCTP shutdown mode."),
    flag("turn_realm", unsupported("a TURN realm of our own (the realm is the one the TURN server's 401 names)"), "realm", G::Unsupported, "TURN realm."),
];

/// What `-ringbuffer_*` and `-max_log_size` would need.
const ROTATION: &str = "log rotation and a log size cap (every trace file grows for the whole run)";

/// What `-oocsf`/`-oocsn` would need.
const OOC: &str = "an out-of-call scenario (a request that belongs to no call is answered only by the pingreply behaviour, OPTIONS, and by -aa, INFO/NOTIFY/UPDATE; the rest are counted)";

const fn unsupported(what: &'static str) -> Kind {
    Kind::Unsupported { what }
}

/// Width of the help column in `-h` (the flag column takes 32).
const HELP_WIDTH: usize = 68;

/// Splits `text` into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// The `-h` text: SIPp's layout (usage, example, one section per group), our words.
pub(crate) fn usage() -> String {
    let mut out = String::new();
    out.push_str(concat!(
        "\nUsage:\n\n",
        "  gossipper [remote_host[:remote_port]] [options]\n",
        "      A SIPp-compatible run: the options below.\n",
        "  gossipper ui [--data-dir DIR] [--listen [HOST]:PORT]\n",
        "      The master: web console and REST API /api/v2 (gossipper ui --help).\n",
        "  gossipper worker --spec FILE\n",
        "      Runs one job spec; the master starts these (gossipper worker --help).\n",
        "  gossipper pcap2scenario FILE.pcap [-out DIR] [-sip-port N] [-pcap-link TYPE]\n",
        "      A capture's first call as a UAC and a UAS scenario (gossipper pcap2scenario -h).\n",
        "  gossipper server [options] -api_addr IP:PORT -api_token TOKEN\n",
        "      A SIP endpoint that stays up, steered over /api/v1 (gossipper server -h).\n",
        "  gossipper infindex FILE.csv FIELD | report-html -in F | summary-to-pdf -in F\n",
        "  gossipper rtp_send -rtp_addr HOST:PORT | auth user-add --data-dir D -username U\n",
        "      The small tools: an injection file's index, a run's report as HTML or PDF,\n",
        "      a standalone RTP sender, a user of a ui data dir (each with -h).\n\n",
        "Flags take one dash as in SIPp (two work too); a bare argument is the remote host\n",
        "(default port 5060). Times take a unit suffix: ms, s, m or h.\n\n",
        "Example:\n\n",
        "   Built-in server (uas):         gossipper -sn uas -i 127.0.0.1 -p 5070\n",
        "   Built-in client on that host:  gossipper -sn uac 127.0.0.1:5070\n",
    ));
    groups(&mut out, Group::ALL.iter().filter(|g| **g != Group::Server));
    trailer(&mut out);
    out
}

/// `gossipper server -h`: its own group first, then every run flag it shares with the
/// root command.
pub(crate) fn server_usage() -> String {
    let mut out = String::new();
    out.push_str(concat!(
        "\nUsage:\n\n",
        "  gossipper server [remote_host[:remote_port]] [options]\n",
        "      A long-running SIP endpoint steered over HTTP (/api/v1): the scenario runs\n",
        "      until SIGINT/SIGTERM (or -m calls). Without -sf/-sn it answers calls with\n",
        "      the built-in uas; a client scenario (-sn uac host) places calls whose rate\n",
        "      and pause the API steers. With -ui_data_dir DIR the same listener also\n",
        "      serves gossipper ui's /api/v2 and console, guarded by its users.\n\n",
        "Example:\n\n",
        "   gossipper server -sn uas -p 5060 -api_addr 127.0.0.1:8080 -api_token S3cret\n",
        "   curl -H 'Authorization: Bearer S3cret' http://127.0.0.1:8080/api/v1/stats\n",
        "   gossipper server -sn uas -p 5060 -api_addr :8080 -ui_data_dir ./gossipper-data\n",
    ));
    groups(&mut out, Group::ALL.iter());
    trailer(&mut out);
    out
}

/// One section per group, each flag with its wrapped help.
fn groups<'a>(out: &mut String, groups: impl Iterator<Item = &'a Group>) {
    use std::fmt::Write as _;
    for &group in groups {
        let _ = write!(out, "\n*** {}:\n\n", group.title());
        for f in FLAGS.iter().filter(|f| f.group == group) {
            let left = if f.value_name.is_empty() {
                format!("-{}", f.name)
            } else {
                format!("-{} {}", f.name, f.value_name)
            };
            // The help starts at column 32, at least two spaces after the flag column; a
            // flag column too wide for that stands on its own line (so a reader of `-h`
            // finds a flag's placeholders up to the first double space).
            let mut pad = if left.len() > 27 {
                let _ = writeln!(out, "   {left}");
                " ".repeat(32)
            } else {
                format!("   {left:<28} ")
            };
            for line in wrap(f.help, HELP_WIDTH) {
                let _ = writeln!(out, "{pad}{line}");
                pad = " ".repeat(32);
            }
        }
    }
}

/// Signals and exit codes, after the groups.
fn trailer(out: &mut String) {
    use std::fmt::Write as _;
    out.push_str(concat!(
        "\nSignals:\n\n",
        "   INT, TERM: stop at once: calls in flight are aborted (BYE or CANCEL unless -nd),\n",
        "              then the final screens and every output file are written. A second\n",
        "              INT or TERM exits immediately, writing nothing more.\n",
        "   USR1: soft exit (stop new calls, let open calls end, exit).\n",
        "   USR2: write the screens to the screen log.\n\nExit codes:\n\n",
    ));
    for row in super::exit::TABLE {
        let _ = writeln!(out, "   {:>3}: {}", row.code, row.meaning);
    }
}
