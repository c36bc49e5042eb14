//! Runs one job: loads the scenario, binds the sockets, starts one shard per CPU, merges
//! their statistics and stops them when the run is over.
//!
//! Owns: threads, sockets setup and run-level decisions (timeouts, `-m` for servers, rate
//! ramps, stop commands). Must not: format output; an `Observer` (the legacy screen and
//! CSV writers, or the worker's JSON lines) sees a merged snapshot every tick.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::call::inject::{InjectData, InjectFile};
use crate::call::{Env, ShardEvent};
use crate::config::{JobSpec, ScenarioSource, TransportMode};
use crate::files::{Disk, FileError, MAX_DATA_FILE_BYTES, MAX_FILE_BYTES, ReadFiles};
use crate::load::{self, Pacer};
use crate::media::{self, library::MediaLibrary};
use crate::scenario::{self, Action, LoadOptions, Role, Scenario, ScenarioErrors};
use crate::segment::Segment;
use crate::shard::capture::Captured;
use crate::shard::{
    self, Budget, Control, Endpoint, Finished, Published, ShardPlan, ShardSocket, ShardTraces,
};
use crate::stats::{RunPeak, ShardStats};
use crate::transport::{self, StreamKind};

/// Why a run could not start. Each maps to one SIPp exit code in the binary.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Scenario(ScenarioErrors),
    #[error("{0}")]
    Config(String),
    /// The job names a file its rule does not allow, or a shell command without
    /// `-allow_exec` (the master answers 400 before it forks a worker).
    #[error("{0}")]
    Refused(String),
    /// A threshold names a timer the scenario does not measure (or a rate for a scenario
    /// that places no calls): refused, like `Refused`, before anything runs.
    #[error("threshold {0}")]
    Threshold(crate::stats::thresholds::ThresholdError),
    /// Binding a socket failed (SIPp exits 254).
    #[error("{0}")]
    Bind(String),
    #[error("{0}")]
    Io(String),
}

/// How the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Every call finished (client `-m`, server `-m`, or a quit that drained).
    Completed,
    /// `-timeout` fired.
    TimedOut,
    /// `int_cmd="stop_now"` (SIPp exit 97).
    StoppedNow,
}

/// The result of a run.
#[derive(Debug)]
pub struct RunReport {
    pub stats: ShardStats,
    /// Calls created (incoming + outgoing) by each shard, in shard order.
    pub shard_calls: Vec<u64>,
    pub end: RunEnd,
    pub started_at: SystemTime,
    pub finished_at: SystemTime,
    pub elapsed: Duration,
}

/// What a tick shows an observer.
pub struct Tick<'a> {
    pub stats: &'a ShardStats,
    pub now: Instant,
    pub wall: SystemTime,
    pub started: Instant,
    pub control: &'a Control,
    /// Calls that ended since the last tick (only when `wants_finished_calls`).
    pub finished: &'a [Finished],
    pub events: &'a [ShardEvent],
    /// Calls created (incoming + outgoing) by each shard so far, in shard order.
    pub shard_calls: &'a [u64],
    /// SIP messages captured since the last tick, in time order (only while
    /// `Control::capturing`).
    pub captured: &'a Captured,
}

/// Sees the run as it goes. Every method has a default, so observers implement only what
/// they show.
pub trait Observer {
    /// Called about every 50 ms with the merged statistics.
    fn on_tick(&mut self, _tick: &Tick<'_>) {}
    /// Whether `Tick::finished` should be filled (costs a little per call).
    fn wants_finished_calls(&self) -> bool {
        false
    }
    /// Whether each finished call carries its SIP (`Finished::sip`: From, To, peer,
    /// message counts), complete at any rate (a note per call step; only with
    /// `wants_finished_calls`).
    fn wants_call_sip(&self) -> bool {
        false
    }
    /// Whether received and sent messages should be written to the -trace_msg file.
    fn message_trace(&mut self) -> Option<std::fs::File> {
        None
    }
    /// Whether each message should get a -trace_shortmsg line.
    fn short_message_trace(&mut self) -> Option<std::fs::File> {
        None
    }
}

/// A run that loaded and bound successfully and can be started.
pub struct Prepared {
    pub scenario: Arc<Scenario>,
    pub role: Role,
    /// The first shard's local address (what `[local_port]` renders for shard 0).
    pub local: SocketAddr,
    pub shards: usize,
    plans: Vec<ShardPlan>,
    control: Arc<Control>,
    published: Vec<Arc<Mutex<Published>>>,
    spec: JobSpec,
    /// When the calls start: now, or the spec's `start_at_unix_ms` (issue 20).
    start: Instant,
}

/// SIPp's default `-max_socket`.
const DEFAULT_MAX_SOCKETS: usize = 50_000;

/// Loads the scenario named by `spec` (for `-sd`, validation and runs). Its files are
/// read under `spec.file_access`.
pub fn load_scenario(spec: &JobSpec) -> Result<Scenario, RunError> {
    let keys: Vec<String> = spec.keys.iter().map(|(k, _)| k.clone()).collect();
    let files = Disk(&spec.file_access);
    let opts = LoadOptions {
        keys: &keys,
        files: &files,
    };
    let (bytes, name): (Vec<u8>, String) = match &spec.scenario {
        ScenarioSource::File(p) => {
            let b = files
                .read(p, MAX_FILE_BYTES)
                .map_err(|e| file_error("scenario", &p.display().to_string(), e))?;
            (b, p.display().to_string())
        }
        ScenarioSource::Builtin(n) => {
            let b = scenario::builtin::get(n)
                .ok_or_else(|| RunError::Config(format!("unknown built-in scenario '{n}'")))?;
            (b.xml.as_bytes().to_vec(), format!("{n}.xml"))
        }
        ScenarioSource::Xml { name, text } => (text.clone(), name.clone()),
    };
    scenario::load(&bytes, &name, &opts).map_err(RunError::Scenario)
}

/// A file the job names that cannot be used: a refusal when the rule forbids it.
fn file_error(what: &str, name: &str, e: FileError) -> RunError {
    let msg = format!("{what} \"{name}\": {e}");
    if e.is_refusal() {
        RunError::Refused(msg)
    } else {
        RunError::Config(msg)
    }
}

/// The scenario, loaded, and allowed to run: a shell command needs `-allow_exec`, and
/// every threshold must name a timer the scenario measures (and a rate threshold a
/// scenario that places calls).
fn checked_scenario(spec: &JobSpec) -> Result<Scenario, RunError> {
    let sc = load_scenario(spec)?;
    if spec.webrtc.enabled && !sc.webrtc {
        return Err(RunError::Refused(format!(
            "the job has a webrtc transport, but scenario \"{}\" is not a WebRTC one (<scenario webrtc=\"true\">, e.g. the built-ins webrtc_uac and webrtc_uas)",
            sc.name
        )));
    }
    if has_exec_command(&sc) && !spec.allow_exec_command {
        return Err(RunError::Refused(
            "the scenario uses <exec command=...>, which runs shell commands; pass -allow_exec to permit it".into(),
        ));
    }
    crate::stats::thresholds::check(&spec.thresholds, &sc.rtd_names, sc.role == Role::Client)
        .map_err(RunError::Threshold)?;
    check_crypto_keywords(spec, &sc)?;
    check_set_vars(spec, &sc)?;
    crate::twin_setup::check(spec, &sc)?;
    Ok(sc)
}

/// `-set name value` gives a `<Global>` variable its first value: a name the scenario
/// does not declare `<Global>` is refused, naming it and the globals it has.
fn check_set_vars(spec: &JobSpec, sc: &Scenario) -> Result<(), RunError> {
    for (name, _) in &spec.set_vars {
        if crate::endpoint::global_id(sc, name).is_none() {
            let declared: Vec<&str> = sc
                .globals
                .iter()
                .filter_map(|id| sc.variables.get(usize::from(id.0)).map(String::as_str))
                .collect();
            return Err(RunError::Config(format!(
                "-set {name}: {} declares no <Global variables=\"{name}\"/> (its globals: {})",
                scenario_file(spec),
                if declared.is_empty() {
                    "none".to_string()
                } else {
                    declared.join(", ")
                }
            )));
        }
    }
    Ok(())
}

/// SIPp's SRTP keywords (`[cryptotag1audio]`…) fill our SDES lines only with
/// `-media_srtp`, and only for the audio stream and the AES_CM_128 suites: any other is
/// refused here, naming it, instead of being written empty. `[srtp_fingerprint]` and
/// `[srtp_setup]` (DTLS-SRTP) need `-media_srtp` too.
fn check_crypto_keywords(spec: &JobSpec, sc: &Scenario) -> Result<(), RunError> {
    use crate::media::srtp::CryptoKeyword;
    use crate::scenario::{CommandKind, Keyword, Segment};
    for cmd in sc.commands.iter().chain(&sc.init) {
        let CommandKind::Send(send) = &cmd.kind else {
            continue;
        };
        for seg in &send.template.segments {
            let name = match seg {
                Segment::Keyword(Keyword::Crypto { name, .. }) => name.as_str(),
                Segment::Keyword(Keyword::SrtpFingerprint) => "srtp_fingerprint",
                Segment::Keyword(Keyword::SrtpSetup) => "srtp_setup",
                _ => continue,
            };
            let dtls = name.starts_with("srtp_");
            let why = if spec.media_srtp != media::SrtpPolicy::Sdes {
                "needs -media_srtp"
            } else if !dtls && CryptoKeyword::parse(name).is_none() {
                "is not supported (gossipper fills the audio keywords of AES_CM_128_HMAC_SHA1_80 and _32 only: no video, NULL, AES-192/256 or unencrypted-SRTP suites)"
            } else {
                continue;
            };
            return Err(RunError::Config(format!(
                "{}:{}:{}: [{name}] {why}",
                scenario_file(spec),
                cmd.pos.line,
                cmd.pos.column
            )));
        }
    }
    Ok(())
}

/// What the master checks before it forks a worker: the scenario loads (its
/// `[file name=…]`s read under the job's rule), runs no shell command and has the timers
/// its thresholds name, and every other file the job names (media, `-inf`, TLS) passes
/// the rule. Those files are checked, not read: the worker reads them, under the same
/// rule. Returns the scenario's role (the API refuses a load test that answers calls).
pub fn check(spec: &JobSpec) -> Result<Role, RunError> {
    let sc = checked_scenario(spec)?;
    check_register(spec, &sc)?;
    let files = Disk(&spec.file_access);
    if needs_media(spec, &sc) || needs_webrtc_files(&sc) {
        MediaLibrary::check(&sc, is_builtin(spec), &|p| {
            files.check(p, MAX_DATA_FILE_BYTES)
        })
        .map_err(|e| media_error(spec, e))?;
    }
    for path in &spec.inject_files {
        files
            .check(path, MAX_DATA_FILE_BYTES)
            .map_err(|e| file_error("-inf", &path.display().to_string(), e))?;
    }
    for (flag, path) in [
        ("-tls_cert", &spec.tls_cert),
        ("-tls_key", &spec.tls_key),
        ("-tls_ca", &spec.tls_ca),
    ] {
        if let Some(p) = path {
            files
                .check(p, MAX_FILE_BYTES)
                .map_err(|e| file_error(flag, &p.display().to_string(), e))?;
        }
    }
    Ok(sc.role)
}

/// The REGISTER gateway registers from a UDP UAS socket only (spec §5.14: `transport:
/// udp` in v1), and INVITEs come to an armed UAS scenario.
fn check_register(spec: &JobSpec, sc: &Scenario) -> Result<(), RunError> {
    if spec.register.is_none() {
        return Ok(());
    }
    if spec.transport != TransportMode::UdpShared {
        return Err(RunError::Refused(
            "transport: the REGISTER gateway runs over UDP only (a u1 listener)".into(),
        ));
    }
    if let Some(g) = &spec.register {
        // These go into the request line, From/To, Contact and the Digest header.
        for (field, v) in [
            ("register.domain", &g.domain),
            ("register.user", &g.user),
            ("register.auth_user", &g.auth_user),
        ] {
            if v.is_empty()
                || v.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "\"<>;,@\\/".contains(c))
            {
                return Err(RunError::Refused(format!(
                    "{field}: must be non-empty, without spaces, control characters or any of \" < > ; , @ \\ /"
                )));
            }
        }
        if g.password
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            return Err(RunError::Refused(
                "register.password: must not contain control characters, \" or \\".into(),
            ));
        }
    }
    if sc.role != Role::Server {
        return Err(RunError::Refused(
            "scenario_id: a gateway armed to receive calls needs a UAS scenario (one that starts with <recv request=\"INVITE\">)".into(),
        ));
    }
    Ok(())
}

/// A scenario to replace `running` while the run goes on (`gossipper server`'s
/// `/api/v1/scenario`): `spec` names it (its scenario source), and it is loaded and
/// checked exactly as a run's (the same loader, file rule, `-allow_exec`, thresholds).
/// The media and WebRTC set-up are made once at start for the first scenario, so a
/// replacement with media actions, or one that changes WebRTC, is refused, naming why.
/// The role is the caller's to compare (`Endpoint::replace_scenario` refuses a change).
pub fn load_replacement(spec: &JobSpec, running: &Scenario) -> Result<Scenario, RunError> {
    let sc = checked_scenario(spec)?;
    if sc.webrtc != running.webrtc {
        return Err(RunError::Config(format!(
            "scenario \"{}\" {} a WebRTC scenario and the running one {}: a live replacement cannot change that (restart the server)",
            sc.name,
            if sc.webrtc { "is" } else { "is not" },
            if running.webrtc { "is" } else { "is not" },
        )));
    }
    if media::library::scenario_has_media(&sc) {
        return Err(RunError::Config(format!(
            "scenario \"{}\" has media actions (play_pcap_audio, rtp_stream, …): a live replacement cannot load media files yet (restart the server with it)",
            sc.name
        )));
    }
    Ok(sc)
}

fn has_exec_command(sc: &Scenario) -> bool {
    sc.commands.iter().chain(&sc.init).any(|c| {
        c.common
            .actions
            .iter()
            .any(|a| matches!(a, Action::ExecCommand(_)))
    })
}

/// The address Via/Contact should carry when `-i` is not given: the source address the
/// kernel picks toward the peer (a connected UDP socket sends nothing), else loopback.
fn detect_local_ip(remote: Option<SocketAddr>) -> IpAddr {
    let target = remote.unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 9));
    let bind: SocketAddr = if target.is_ipv6() {
        "[::]:0".parse().ok()
    } else {
        "0.0.0.0:0".parse().ok()
    }
    .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
    UdpSocket::bind(bind)
        .and_then(|s| s.connect(target).map(|_| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Checks that `addr` is free with a plain bind (glommio sets SO_REUSEPORT and would
/// silently share a busy port: reference/rust-deps.md).
fn probe_free(addr: SocketAddr) -> Result<(), RunError> {
    if addr.port() == 0 {
        return Ok(());
    }
    UdpSocket::bind(addr)
        .map(drop)
        .map_err(|e| RunError::Bind(format!("cannot bind UDP socket to {addr}: {e}")))
}

/// Whether the run has media: a media action, `-rtp_echo`, an SRTP flag, or every call
/// recorded.
fn needs_media(spec: &JobSpec, sc: &Scenario) -> bool {
    // A WebRTC scenario's media actions run on its calls' bridges (`webrtc`).
    !sc.webrtc
        && (spec.rtp_echo
            || spec.media_srtp != media::SrtpPolicy::Off
            || spec.record_calls != media::RecordCalls::Off
            || media::library::scenario_has_media(sc))
}

/// Whether a WebRTC scenario streams files (`rtp_stream` of a G.711 file or WAV): they
/// are loaded as for classic media, without a media engine or an RTP socket.
fn needs_webrtc_files(sc: &Scenario) -> bool {
    sc.webrtc && media::library::scenario_has_media(sc)
}

fn is_builtin(spec: &JobSpec) -> bool {
    matches!(spec.scenario, ScenarioSource::Builtin(_))
}

/// The scenario's file name, for errors placed in it.
fn scenario_file(spec: &JobSpec) -> String {
    match &spec.scenario {
        ScenarioSource::File(p) => p.display().to_string(),
        ScenarioSource::Builtin(n) => format!("{n}.xml"),
        ScenarioSource::Xml { name, .. } => name.clone(),
    }
}

/// A media error, placed in the scenario file; a refusal when the file rule said no.
fn media_error(spec: &JobSpec, e: media::library::MediaLoadError) -> RunError {
    let file = scenario_file(spec);
    let msg = format!("{file}:{}:{}: media: {e}", e.pos.line, e.pos.column);
    if e.refused {
        RunError::Refused(msg)
    } else {
        RunError::Config(msg)
    }
}

/// issue 8: the media files of the scenario, when the run has media, read under the
/// job's file rule (the command line: relative to the working directory, as in SIPp); the
/// built-in scenarios' pcap names map to our embedded captures.
fn load_media(spec: &JobSpec, sc: &Scenario) -> Result<Option<Arc<MediaLibrary>>, RunError> {
    if !needs_media(spec, sc) && !needs_webrtc_files(sc) {
        return Ok(None);
    }
    let files = Disk(&spec.file_access);
    let lib = MediaLibrary::load_as(sc, is_builtin(spec), spec.pcap_link, &|p| {
        files.read(p, MAX_DATA_FILE_BYTES)
    })
    .map_err(|e| media_error(spec, e))?;
    Ok(Some(Arc::new(lib)))
}

/// issue 8: binds shard `shard`'s RTP socket. `-mp` (or `-min_rtp_port`, else SIPp's 6000)
/// is the first shard's port, each further shard takes the next even port. An explicit
/// `-mp` that is taken is an error; otherwise a taken port is skipped (two ports at a
/// time, up to `-max_rtp_port`).
/// A shard's RTP socket and its RTCP socket (RTP port + 1, RFC 3550 §11: where a peer
/// without `a=rtcp` sends its reports), on the first even port from the base where both
/// are free.
fn bind_media_port(
    spec: &JobSpec,
    ip: IpAddr,
    shard: usize,
    buff: usize,
) -> Result<(socket2::Socket, socket2::Socket, u16), RunError> {
    let explicit = spec.media_port.is_some();
    let base = u32::from(spec.media_port.or(spec.min_rtp_port).unwrap_or(6000));
    let max = u32::from(spec.max_rtp_port.unwrap_or(u16::MAX - 1));
    let mut port = base + 2 * shard as u32;
    loop {
        // The pair needs p + 1 too.
        let p = u16::try_from(port)
            .ok()
            .filter(|_| port < max.min(u32::from(u16::MAX)));
        let Some(p) = p else {
            return Err(RunError::Bind(format!(
                "no free RTP port from {base} to {max} for shard {shard}"
            )));
        };
        let addr = SocketAddr::new(ip, p);
        let rtcp_addr = SocketAddr::new(ip, p + 1);
        let pair = shard::udp_socket(addr, false, buff)
            .and_then(|rtp| shard::udp_socket(rtcp_addr, false, buff).map(|rtcp| (rtp, rtcp)));
        match pair {
            Ok((rtp, rtcp)) => return Ok((rtp, rtcp, p)),
            Err(e) if explicit => {
                return Err(RunError::Bind(format!(
                    "cannot bind the RTP socket to {addr} and its RTCP socket to {rtcp_addr} (-mp): {e}"
                )));
            }
            Err(_) => port += 2,
        }
    }
}

/// The longest a run may wait for its `start_at_unix_ms`.
const MAX_START_WAIT: Duration = Duration::from_secs(3600);

/// Loads, validates and binds everything a run needs, without starting it. A spec with
/// a `segment` runs that segment's share of the run (`gossipper_proto::segment`).
pub fn prepare(whole: &JobSpec) -> Result<Prepared, RunError> {
    let segment = whole.segment.unwrap_or(Segment::WHOLE);
    let seg_spec = segment
        .apply(whole)
        .map_err(|e| RunError::Config(e.to_string()))?;
    let spec = &seg_spec;
    let stream_kind = StreamKind::of(spec.transport);
    let sc = Arc::new(checked_scenario(spec)?);
    check_register(spec, &sc)?;
    // issue 8: every media file is read now; a bad one fails the load, naming it.
    let media_lib = load_media(spec, &sc)?;
    let mut inject = InjectData::default();
    for path in &spec.inject_files {
        let bytes = Disk(&spec.file_access)
            .read(path, MAX_DATA_FILE_BYTES)
            .map_err(|e| file_error("-inf", &path.display().to_string(), e))?;
        let f = InjectFile::parse(&path.display().to_string(), &bytes)
            .map_err(|e| RunError::Config(e.to_string()))?;
        inject.files.push(f);
    }
    // `-infindex file field` (SIPp): the file is one of the -inf files; `<lookup>` then
    // finds rows by that field.
    for (path, field) in &spec.inject_indexes {
        let name = path.display().to_string();
        let f = inject
            .files
            .iter_mut()
            .find(|f| f.name == name)
            .ok_or_else(|| {
                RunError::Config(format!(
                    "-infindex {name} {field}: {name} is not an injection file of this run (give -inf {name} too)"
                ))
            })?;
        f.set_index(*field)
            .map_err(|e| RunError::Config(e.to_string()))?;
    }
    let role = sc.role;
    if role == Role::Client && spec.remote.is_none() {
        return Err(RunError::Config(
            "a client scenario needs a remote host (host[:port] or -rsa)".into(),
        ));
    }
    let per_ip = spec.transport == TransportMode::UdpPerIp;
    if per_ip && role == Role::Server {
        return Err(RunError::Config(
            "-t ui picks each client call's source address from -inf; a server answers from the address it is called on: use -t u1".into(),
        ));
    }
    let local_ip = spec
        .local_ip
        .unwrap_or_else(|| detect_local_ip(spec.remote));
    // `-t ui`: the shard socket holds its own address only, so the other addresses can
    // have sockets on the same port.
    let bind_ip = spec.local_ip.unwrap_or(if per_ip {
        local_ip
    } else if local_ip.is_ipv6() {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    let cpus = shard::os::affinity_cpus();
    // A client given -p expects every message to leave from that port (SIPp users set it
    // for the SUT's access lists); client shards after the first use ports of their own,
    // so such a run keeps one shard unless -shards asks for more.
    let default_shards = if role == Role::Client && spec.local_port.is_some() {
        1
    } else {
        cpus.len()
    };
    // 3PCC: one shard, so every call's commands travel on the same twin sockets.
    let default_shards = if spec.twin.enabled() {
        1
    } else {
        default_shards
    };
    let shards = spec.shards.unwrap_or(default_shards).max(1);
    let port = spec
        .local_port
        .unwrap_or(if role == Role::Server { 5060 } else { 0 });
    // Stream transports (TCP, TLS, WebSocket): settings once, sockets per shard below.
    let streams = match stream_kind {
        Some(kind) => {
            // A 3PCC controller B answers nothing: it connects to its peer as a client.
            let listens = role == Role::Server && !crate::twin_setup::opened_by_commands(&sc);
            let p = transport::setup::settings(spec, kind, listens, local_ip)
                .map_err(RunError::Config)?;
            transport::setup::probe_free(SocketAddr::new(bind_ip, port)).map_err(RunError::Bind)?;
            Some(p)
        }
        None => {
            probe_free(SocketAddr::new(bind_ip, port))?;
            None
        }
    };
    // Buffers sized for load by default: SIPp's 64 KiB default drops datagrams on stalls
    // (reference/sipp.md §7.4); the kernel caps the value at net.core.rmem_max.
    let buff = spec.buff_size.unwrap_or(4 << 20);

    // WebRTC calls: settings checked once; each call binds its own socket on this address.
    let webrtc = if sc.webrtc {
        let ip = spec.media_ip.unwrap_or(local_ip);
        Some(crate::webrtc_setup::settings(spec, ip, clock())?)
    } else {
        None
    };
    let mut twin = crate::twin_setup::open(spec, &sc)?;
    let rate_cps = spec.rate_cps();
    let call_limit = spec
        .call_limit
        .unwrap_or_else(|| load::default_call_limit(rate_cps, spec.default_pause_ms));
    let control = Arc::new(Control::new(rate_cps));
    let (now, wall) = clock();
    let now = start_instant(spec.start_at_unix_ms, now, wall)?;
    let mut plans = Vec::with_capacity(shards);
    let mut published = Vec::with_capacity(shards);
    let mut first_local = None;
    let seed = spec.seed;
    // UDP servers: one peer hashes to one SO_REUSEPORT socket; the hand-off spreads its
    // calls over every shard by Call-ID.
    let mut handoffs = if role == Role::Server && streams.is_none() && shards > 1 {
        shard::handoff::Handoff::set(shards)
            .map_err(|e| RunError::Bind(format!("cannot set up the shard hand-off: {e}")))?
            .into_iter()
    } else {
        Vec::new().into_iter()
    };
    for i in 0..shards {
        // Servers share the port (SO_REUSEPORT); client shards after the first take any
        // free port, so responses come back to the shard that owns the call.
        let (addr, reuse) = match role {
            Role::Server => (
                SocketAddr::new(bind_ip, first_local.map_or(port, |l: SocketAddr| l.port())),
                true,
            ),
            Role::Client if i == 0 => (SocketAddr::new(bind_ip, port), false),
            Role::Client => (SocketAddr::new(bind_ip, 0), false),
        };
        let (socket, local) = match &streams {
            None => {
                let sock = shard::udp_socket(addr, reuse, buff).map_err(|e| {
                    RunError::Bind(format!("cannot bind UDP socket to {addr}: {e}"))
                })?;
                let local = sock
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_socket())
                    .unwrap_or(addr);
                (ShardSocket::Udp(sock), local)
            }
            Some(p) => {
                let remote = spec.send_to.or(spec.remote);
                let (plan, local) = transport::setup::shard_plan(&p.settings, addr, remote)
                    .map_err(RunError::Bind)?;
                (ShardSocket::Stream(plan), local)
            }
        };
        first_local.get_or_insert(local);
        let media_ip = spec.media_ip.unwrap_or(local_ip);
        // issue 8: one RTP socket per shard when the run has media.
        let (media_socket, media_port) = match media_lib.as_ref().filter(|_| !sc.webrtc) {
            Some(_) => {
                let (rtp, rtcp, port) =
                    bind_media_port(spec, spec.media_ip.unwrap_or(bind_ip), i, buff)?;
                (Some((rtp, rtcp)), port)
            }
            None => (None, spec.media_port.unwrap_or(6000)),
        };
        let env = Env {
            local_ip,
            local_ip_text: local_ip.to_string(),
            local_port: local.port(),
            media_ip,
            media_ip_text: media_ip.to_string(),
            media_port,
            remote: spec.remote,
            remote_ip_text: spec.remote.map(|r| r.ip().to_string()).unwrap_or_default(),
            send_to: spec.send_to,
            remote_host: spec.remote_host.clone().unwrap_or_default(),
            transport: spec.transport,
            service: spec.service.clone(),
            pid: std::process::id(),
            start: now,
            default_pause_ms: spec.default_pause_ms,
            recv_timeout_ms: spec.recv_timeout_ms,
            recv_bye_min_ms: spec.recv_bye_min_ms,
            set_vars: spec.set_vars.clone(),
            retrans: spec.retrans,
            behaviors: spec.default_behaviors,
            base_cseq: spec.base_cseq,
            cid_str: spec.cid_str.clone(),
            keys: spec.keys.clone(),
            auth_username: spec
                .auth_username
                .clone()
                .unwrap_or_else(|| spec.service.clone()),
            auth_password: spec
                .auth_password
                .clone()
                .unwrap_or_else(|| "password".into()),
            users: spec.users,
            allow_exec_command: spec.allow_exec_command,
            auto_answer: spec.auto_answer,
            trace_rtt: spec.trace.rtt_file.is_some(),
            twin_abort: spec.twin.twin.is_some(),
        };
        let budget = Budget {
            remaining: if role == Role::Client {
                spec.max_calls.map(|m| load::share(m, shards, i))
            } else {
                None
            },
            limit: load::share(call_limit, shards, i).max(1),
        };
        let mut core = Endpoint::new(
            i,
            shards,
            Arc::clone(&sc),
            env,
            seed,
            inject.clone(),
            Pacer::new(
                rate_cps / shards as f64,
                now + segment.phase(whole.rate_cps()) + load::shard_phase(i, rate_cps),
            ),
            budget,
        );
        core.set_segment(segment);
        if let Some(g) = &spec.register {
            let mut g = g.clone();
            if g.contact.port() == 0 {
                g.contact.set_port(local.port());
            }
            if g.contact.ip().is_unspecified() {
                // The address the registrar reaches us at: the bound one, else the one
                // the route to the registrar leaves from.
                g.contact.set_ip(
                    spec.local_ip
                        .unwrap_or_else(|| detect_local_ip(Some(g.registrar))),
                );
            }
            // The same account on every shard's view; the shard owning its Call-ID
            // (where the hand-off brings the registrar's answers) runs it.
            let reg = crate::register::Registration::new(g, seed ^ 0x6761_7465_7761_7900);
            if crate::endpoint::owner(reg.call_id().as_bytes(), shards) == i {
                core.set_registration(reg);
            }
        }
        // `-t ui`: one socket per source address of the injection field, on this shard's
        // port (the shard socket serves its own address).
        let mut udp_per_ip = Vec::new();
        if per_ip {
            let ips = core
                .enable_udp_per_ip(spec.ip_field.unwrap_or(0))
                .map_err(RunError::Config)?;
            for ip in ips {
                if ip == local.ip() {
                    udp_per_ip.push(None);
                    continue;
                }
                let addr = SocketAddr::new(ip, local.port());
                let sock = shard::udp_socket(addr, false, buff).map_err(|e| {
                    RunError::Bind(format!(
                        "-t ui: cannot bind UDP socket to {addr} (an -ip_field address): {e}"
                    ))
                })?;
                udp_per_ip.push(Some(sock));
            }
        }
        if i == 0
            && let Some(note) = streams.as_ref().and_then(|p| p.note.clone())
        {
            core.warn(note);
        }
        if let Some(lib) = media_lib.as_ref().filter(|_| !sc.webrtc) {
            let mut cfg = crate::media::MediaConfig {
                echo_all: spec.rtp_echo,
                record_calls: spec.record_calls,
                srtp: spec.media_srtp,
                copy_reports: spec.trace.hep.as_ref().is_some_and(|h| h.media_reports),
                ..Default::default()
            };
            // Recordings go where the file rule writes: a job's own folder, or (SIPp's
            // command line) relative to the working directory.
            cfg.record_dir = match &spec.record_dir {
                Some(dir) => dir.clone(),
                None => spec.file_access.write_path(&cfg.record_dir),
            };
            cfg.write_base = spec.file_access.write_base();
            core.set_media(crate::media::MediaEngine::new(
                now,
                Arc::clone(lib),
                cfg,
                seed ^ (i as u64 + 1),
            ));
        }
        if let Some(w) = &webrtc {
            let mut settings = w.clone();
            settings.max_sockets = load::share(
                spec.max_sockets.unwrap_or(DEFAULT_MAX_SOCKETS) as u64,
                shards,
                i,
            )
            .max(1) as usize;
            let mut calls = crate::webrtc::WebrtcCalls::new(
                settings,
                seed ^ (i as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407),
            );
            if let Some(lib) = &media_lib {
                calls.set_library(Arc::clone(lib));
            }
            core.set_webrtc(calls);
        }
        if let Some(users) = spec.users {
            let n = load::share(users, shards, i);
            let first = (0..i).map(|j| load::share(users, shards, j)).sum::<u64>()
                + whole.users.map_or(0, |u| segment.offset(u))
                + 1;
            core.start_users(first, n);
        }
        let p = Arc::new(Mutex::new(Published::default()));
        published.push(Arc::clone(&p));
        plans.push(ShardPlan {
            cpu: if spec.shards.is_some() && shards > cpus.len() {
                None
            } else {
                cpus.get(i % cpus.len()).copied()
            },
            socket,
            endpoint: core,
            control: Arc::clone(&control),
            published: p,
            traces: ShardTraces::default(),
            media_socket,
            // `-t un`: SIPp gives each client call its own socket; a server answers from
            // its one listening socket, as with u1.
            udp_per_call: (spec.transport == TransportMode::UdpPerCall && role == Role::Client)
                .then(|| shard::PerCallSettings {
                    bind_ip,
                    buff_size: spec.buff_size,
                    max_sockets: load::share(
                        spec.max_sockets.unwrap_or(DEFAULT_MAX_SOCKETS) as u64,
                        shards,
                        i,
                    )
                    .max(1) as usize,
                }),
            udp_per_ip,
            handoff: handoffs.next(),
            webrtc_ip: webrtc.as_ref().map(|w| w.ip),
            twin: twin.take(),
        });
    }
    Ok(Prepared {
        local: first_local.unwrap_or(SocketAddr::new(bind_ip, port)),
        scenario: sc,
        role,
        shards,
        plans,
        control,
        published,
        spec: spec.clone(),
        start: now,
    })
}

/// The instant the calls start: `now`, or `start_at_unix_ms` (Unix ms) on the clock of
/// `now` (an instant already past starts at once; one over [`MAX_START_WAIT`] away is
/// refused).
fn start_instant(
    start_at_unix_ms: Option<u64>,
    now: Instant,
    wall: SystemTime,
) -> Result<Instant, RunError> {
    let Some(ms) = start_at_unix_ms else {
        return Ok(now);
    };
    let too_far = || {
        RunError::Config(format!(
            "start_at_unix_ms {ms} is more than {} s away",
            MAX_START_WAIT.as_secs()
        ))
    };
    let at = SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .ok_or_else(too_far)?;
    match at.duration_since(wall) {
        Ok(wait) if wait > MAX_START_WAIT => Err(too_far()),
        Ok(wait) => Ok(now + wait),
        Err(_) => Ok(now),
    }
}

impl Prepared {
    /// The control block, for keys, signals and the API to steer the run.
    pub fn control(&self) -> Arc<Control> {
        Arc::clone(&self.control)
    }

    /// The configuration this run runs: the spec's, or its segment's share.
    pub fn spec(&self) -> &JobSpec {
        &self.spec
    }

    /// Runs to the end, calling `observer` every tick (from the spec's
    /// `start_at_unix_ms` when it names one: until then, it waits).
    pub fn run(mut self, observer: &mut dyn Observer) -> Result<RunReport, RunError> {
        let want_finished = observer.wants_finished_calls();
        let want_sip = want_finished && observer.wants_call_sip();
        let message_file = observer.message_trace();
        let short_file = observer.short_message_trace();
        for plan in &mut self.plans {
            if let Some(cfg) = &self.spec.trace.hep {
                plan.traces.hep = Some(shard::HepSink::open(cfg).map_err(|e| {
                    RunError::Io(format!(
                        "-hep_addr {}: cannot open a socket to it: {e}",
                        cfg.addr
                    ))
                })?);
            }
            plan.endpoint.collect_finished(want_finished);
            plan.endpoint.collect_call_sip(want_sip);
            if let Some(f) = &message_file {
                plan.traces.messages = f.try_clone().ok();
            }
            if let Some(f) = &short_file {
                plan.traces.short_messages = f.try_clone().ok();
            }
        }
        let sc = Arc::clone(&self.scenario);
        let mut handles = Vec::new();
        for plan in self.plans.drain(..) {
            handles.push(
                shard::spawn(plan)
                    .map_err(|e| RunError::Io(format!("cannot start shard thread: {e}")))?,
            );
        }
        // The shards exist before the common start (their pacers owe nothing until then),
        // so a thread's and an executor's set-up (1.4–5.5 ms, perf/workers_scale.py) does
        // not delay the first calls of one segment against the others'.
        wait_until(self.start);
        let (started, started_at) = clock();
        let spec = &self.spec;
        let control = &self.control;
        let mut merged;
        let mut end = RunEnd::Completed;
        let mut finished = Vec::new();
        let mut events = Vec::new();
        let mut captured = Captured::default();
        let mut shard_calls = Vec::with_capacity(self.published.len());
        let timeout = spec.global_timeout_ms.map(Duration::from_millis);
        let mut hard_deadline: Option<Instant> = None;
        let rate_interval = Duration::from_millis(
            spec.rate_interval_ms
                .unwrap_or(spec.trace.stat_period_ms)
                .max(1),
        );
        let mut next_ramp = started + rate_interval;
        let mut peak = RunPeak::default();
        loop {
            tick_sleep();
            let (now, wall) = clock();
            merged = empty_stats(&sc);
            shard_calls.clear();
            let mut all_done = true;
            finished.clear();
            events.clear();
            captured.clear();
            for p in &self.published {
                let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(e) = p.error.take() {
                    control.hard_quit();
                    events.push(ShardEvent::Error(e));
                }
                merged.merge(&p.stats);
                shard_calls.push(p.stats.counters.incoming_calls + p.stats.counters.outgoing_calls);
                all_done &= p.done;
                finished.append(&mut p.finished);
                events.append(&mut p.events);
                if !p.captured.is_empty() {
                    captured.append(&mut p.captured);
                }
            }
            if self.published.len() > 1 {
                captured.sort_by_time();
            }
            let at_us = u64::try_from(now.duration_since(started).as_micros()).unwrap_or(u64::MAX);
            peak.observe(&mut merged, at_us);
            for e in &events {
                match e {
                    ShardEvent::StopGracefully => control.soft_quit(),
                    ShardEvent::StopNow => {
                        end = RunEnd::StoppedNow;
                        control.hard_quit();
                    }
                    ShardEvent::Exec(cmd) => {
                        let _ = std::process::Command::new("sh").arg("-c").arg(cmd).spawn();
                    }
                    _ => {}
                }
            }
            // Servers stop after -m calls processed.
            if self.role == Role::Server
                && let Some(m) = spec.max_calls
                && merged.counters.successful_calls + merged.counters.failed_calls >= m
            {
                control.soft_quit();
            }
            if let Some(t) = timeout
                && now.duration_since(started) >= t
                && end != RunEnd::TimedOut
            {
                end = RunEnd::TimedOut;
                if spec.timeout_error {
                    control.hard_quit();
                } else {
                    control.soft_quit();
                    // SIPp drains open calls after -timeout; we give them Timer B (32 s).
                    hard_deadline = Some(now + Duration::from_secs(32));
                }
            }
            if hard_deadline.is_some_and(|d| now >= d) {
                control.hard_quit();
            }
            if let Some(inc) = spec.rate_increase
                && now >= next_ramp
                && control.quit_level() == 0
            {
                next_ramp += rate_interval;
                let mut r = control.rate() + inc;
                if let Some(max) = spec.rate_max
                    && r >= max
                {
                    r = max;
                    if !spec.no_rate_quit {
                        control.soft_quit();
                    }
                }
                control.set_rate(r);
            }
            observer.on_tick(&Tick {
                stats: &merged,
                now,
                wall,
                started,
                control,
                finished: &finished,
                events: &events,
                shard_calls: &shard_calls,
                captured: &captured,
            });
            if all_done {
                break;
            }
        }
        for h in handles {
            let _ = h.join();
        }
        Ok(RunReport {
            stats: merged,
            shard_calls,
            end,
            started_at,
            finished_at: clock().1,
            elapsed: started.elapsed(),
        })
    }
}

/// The runner's clock: the run's start and end, and its supervision tick (the shards
/// read theirs in `shard::clock`).
#[allow(
    clippy::disallowed_methods,
    reason = "the runner thread's one clock read"
)]
fn clock() -> (Instant, SystemTime) {
    (Instant::now(), SystemTime::now())
}

/// The runner's tick: about every 50 ms it merges the shards' statistics and steers.
#[allow(clippy::disallowed_methods, reason = "the runner thread's one wait")]
fn tick_sleep() {
    std::thread::sleep(Duration::from_millis(50));
}

/// Waits for the run's common start (`start_at_unix_ms`, issue 20): the shards are up
/// and idle until then, the runner's clocks (timeouts, ramps, statistics) start there.
#[allow(
    clippy::disallowed_methods,
    reason = "the runner thread's wait for its start, once the shards are up"
)]
fn wait_until(start: Instant) {
    std::thread::sleep(start.saturating_duration_since(Instant::now()));
}

fn empty_stats(sc: &Scenario) -> ShardStats {
    ShardStats::for_scenario(sc)
}

/// issue 8: RTP port allocation per shard.
#[cfg(test)]
mod media_port_tests {
    use super::*;

    fn spec(media_port: Option<u16>, min: Option<u16>, max: Option<u16>) -> JobSpec {
        JobSpec {
            media_port,
            min_rtp_port: min,
            max_rtp_port: max,
            ..JobSpec::default()
        }
    }

    fn busy_pair() -> (UdpSocket, u16) {
        // A port p with p + 1 .. p + 3 free too (the next RTP/RTCP pair), p held busy.
        loop {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            let p = s.local_addr().unwrap().port();
            if p.is_multiple_of(2)
                && p < 60_000
                && (1..=3).all(|d| UdpSocket::bind(("127.0.0.1", p + d)).is_ok())
            {
                return (s, p);
            }
        }
    }

    #[test]
    fn shards_take_every_second_port_from_mp() {
        let (held, p) = busy_pair();
        drop(held);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (_a, a_rtcp, pa) = bind_media_port(&spec(Some(p), None, None), ip, 0, 1 << 16).unwrap();
        let (_b, _, pb) = bind_media_port(&spec(Some(p), None, None), ip, 1, 1 << 16).unwrap();
        assert_eq!((pa, pb), (p, p + 2));
        let rtcp_port = a_rtcp.local_addr().unwrap().as_socket().unwrap().port();
        assert_eq!(rtcp_port, p + 1, "RTCP on the RTP port + 1");
    }

    #[test]
    fn a_busy_explicit_mp_is_an_error_but_a_range_skips_it() {
        let (_held, p) = busy_pair();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert!(matches!(
            bind_media_port(&spec(Some(p), None, None), ip, 0, 1 << 16),
            Err(RunError::Bind(_))
        ));
        let (_s, _, got) =
            bind_media_port(&spec(None, Some(p), Some(p + 10)), ip, 0, 1 << 16).unwrap();
        assert_eq!(
            got,
            p + 2,
            "-min_rtp_port skips the busy port two at a time"
        );
        assert!(matches!(
            bind_media_port(&spec(None, Some(p), Some(p + 1)), ip, 0, 1 << 16),
            Err(RunError::Bind(_))
        ));
    }
}

/// The job's `webrtc` block, checked before anything runs.
#[cfg(test)]
mod webrtc_tests {
    use super::*;

    #[test]
    fn a_webrtc_job_needs_a_webrtc_scenario_and_refuses_what_webrtc_calls_cannot_do() {
        let mut job = JobSpec {
            scenario: ScenarioSource::Builtin("uac".into()),
            remote: Some("127.0.0.1:5060".parse().unwrap()),
            ..JobSpec::default()
        };
        job.webrtc.enabled = true;
        let err = check(&job).unwrap_err().to_string();
        assert!(
            err.contains("scenario \"Basic Sipstone UAC\" is not a WebRTC one"),
            "{err}"
        );
        job.scenario = ScenarioSource::Builtin("webrtc_uac".into());
        assert_eq!(check(&job).unwrap(), Role::Client);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        job.webrtc.ice_servers = vec!["turns:relay.example:5349".into()];
        let err = crate::webrtc_setup::settings(&job, ip, clock())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("turns:relay.example:5349") && err.contains("TURN"),
            "{err}"
        );
        let refused = |job: &JobSpec| {
            crate::webrtc_setup::settings(job, ip, clock())
                .unwrap_err()
                .to_string()
        };
        job.webrtc.ice_servers = vec!["turn:127.0.0.1:3478?transport=tcp".into()];
        assert!(refused(&job).contains("TURN over TCP"), "{}", refused(&job));
        job.webrtc.ice_servers = vec!["turn:127.0.0.1:3478".into()];
        assert!(
            refused(&job).contains("TURN needs credentials"),
            "{}",
            refused(&job)
        );
        job.webrtc.ice_servers = vec!["stun:127.0.0.1:3478".into()];
        job.webrtc.relay_only = true;
        assert!(
            refused(&job).contains("needs a turn: ICE server"),
            "{}",
            refused(&job)
        );
        job.webrtc.relay_only = false;
        job.webrtc.ice_username = "u".into();
        assert!(
            refused(&job).contains("no turn: ICE server"),
            "{}",
            refused(&job)
        );
        job.webrtc.ice_username = String::new();
        let s = crate::webrtc_setup::settings(&job, ip, clock()).unwrap();
        assert_eq!(s.stun_servers, ["127.0.0.1:3478".parse().unwrap()]);
        assert!(s.turn.is_none());
        // One TURN server over UDP; inline credentials win over REST, REST over static.
        job.webrtc.ice_servers = vec![
            "stun:127.0.0.1:3478".into(),
            "turn:127.0.0.1:3479?transport=udp".into(),
        ];
        job.webrtc.ice_username = "alice".into();
        job.webrtc.ice_credential = "pw".into();
        job.webrtc.relay_only = true;
        let s = crate::webrtc_setup::settings(&job, ip, clock()).unwrap();
        let t = s.turn.unwrap();
        assert_eq!(t.server, "127.0.0.1:3479".parse().unwrap());
        assert_eq!(
            (t.credentials.username.as_str(), t.rest.is_none()),
            ("alice", true)
        );
        assert!(s.relay_only);
        job.webrtc.ice_auth_secret = "k".into();
        let t = crate::webrtc_setup::settings(&job, ip, clock())
            .unwrap()
            .turn
            .unwrap();
        assert!(
            t.credentials.username.ends_with(":alice"),
            "{}",
            t.credentials.username
        );
        assert!(t.rest.is_some());
        job.webrtc.ice_servers = vec!["turn:bob:x@127.0.0.1".into()];
        let t = crate::webrtc_setup::settings(&job, ip, clock())
            .unwrap()
            .turn
            .unwrap();
        assert_eq!(
            (t.credentials.username.as_str(), t.rest.is_none()),
            ("bob", true)
        );
        job.webrtc.ice_servers.push("turn:127.0.0.2".into());
        assert!(
            refused(&job).contains("only one TURN server"),
            "{}",
            refused(&job)
        );
        job.webrtc = Default::default();
        job.webrtc.enabled = true;
        job.webrtc.ice_servers = vec!["stun:127.0.0.1:3478".into()];
        job.rtp_echo = true;
        let err = crate::webrtc_setup::settings(&job, ip, clock())
            .unwrap_err()
            .to_string();
        assert!(err.contains("-rtp_echo"), "{err}");
    }
}

#[cfg(test)]
mod start_tests {
    use super::*;

    #[test]
    fn the_common_start_is_now_later_or_refused() {
        let (now, wall) = clock();
        let wall_ms = u64::try_from(
            wall.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap();
        assert_eq!(start_instant(None, now, wall).unwrap(), now);
        assert_eq!(
            start_instant(Some(1), now, wall).unwrap(),
            now,
            "past: at once"
        );
        let later = start_instant(Some(wall_ms + 10_000), now, wall).unwrap();
        let ahead = later.duration_since(now);
        assert!(ahead > Duration::from_millis(9_990) && ahead <= Duration::from_secs(10));
        for far in [wall_ms + 7_200_000, u64::MAX] {
            assert!(matches!(
                start_instant(Some(far), now, wall),
                Err(RunError::Config(_))
            ));
        }
    }
}
