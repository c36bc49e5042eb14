//! The compiled scenario: an immutable program that every call of a run shares.
//!
//! Owns: the data model only (commands, actions, templates, variables). Must not: parse
//! XML (that is `loader`), read clocks or touch sockets. Built once by `loader::load`,
//! then read by `call` for every message of every call.
//!
//! Indices instead of names: labels are resolved to command indices, variables to
//! `VarId`s and rtd names to `RtdId`s at load time, so the hot path never hashes a string.

use std::sync::Arc;

/// A variable slot in a call's variable table (`$name` in SIPp).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VarId(pub u16);

/// A response-time timer (`rtd="1"` / `start_rtd="invite"`), numbered from 0 in order of
/// first appearance. Its display name is `Scenario::rtd_names[id]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RtdId(pub u16);

/// A scenario counter (`counter="name"`), numbered in order of first appearance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CounterId(pub u16);

/// Byte offset → line/column, kept for error messages and the scenario screen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// Whether the scenario starts calls (client) or answers them (server). SIPp decides it
/// from the first command: a `recv` first makes a server scenario. Written `client` /
/// `server` in summary.json and the worker's lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Server,
}

/// The whole compiled scenario.
#[derive(Debug)]
pub struct Scenario {
    /// `<scenario name="…">`.
    pub name: String,
    pub role: Role,
    /// The main program, in file order.
    pub commands: Vec<Command>,
    /// `<init>` commands, run once at start (only `nop` and `label`, as in SIPp).
    pub init: Vec<Command>,
    /// Variable names, indexed by `VarId` (without the `$`).
    pub variables: Vec<String>,
    /// Variables declared `<Global>`: shared by every call of a shard.
    pub globals: Vec<VarId>,
    /// Variables declared `<User>` (kept per -users user).
    pub user_vars: Vec<VarId>,
    /// Response-time timer names, indexed by `RtdId` ("1", "2", or a name).
    pub rtd_names: Vec<String>,
    /// Counter names, indexed by `CounterId`.
    pub counter_names: Vec<String>,
    /// `ResponseTimeRepartition value=` edges in ms (SIPp's default when absent).
    pub response_time_repartition: Vec<u64>,
    /// `CallLengthRepartition value=` edges in ms.
    pub call_length_repartition: Vec<u64>,
    /// Index of `<label id="_unexp.main">` if present.
    pub unexp_main: Option<usize>,
    /// `DefaultMessage id="…"` overrides (e.g. `cancel`, `bye`), compiled.
    pub default_messages: Vec<(String, Template)>,
    /// Every `[fieldN file=…]` / injection file the scenario names (besides -inf).
    pub files_referenced: Vec<String>,
    /// Keywords found in templates that are not built in: resolved from `-key` at run time.
    pub generic_keywords: Vec<String>,
    /// `<scenario webrtc="true">`: every call carries its audio over a WebRTC bridge
    /// (ICE, DTLS-SRTP), its SDP rendered by `[webrtc_offer]` / `[webrtc_answer]`.
    pub webrtc: bool,
}

/// One step of the program. Attributes common to every kind live in `CommandCommon`.
#[derive(Debug)]
pub struct Command {
    pub kind: CommandKind,
    pub common: CommandCommon,
    /// Where the element starts in the file, for the screen and errors.
    pub pos: Pos,
}

#[derive(Debug)]
pub enum CommandKind {
    Send(Send),
    Recv(Recv),
    Pause(Pause),
    Nop,
    /// `<label id=…>`: a jump target, does nothing when run.
    Label(String),
    /// `<sendCmd>` (3PCC): a command to the twin (`crate::twin`).
    SendCmd(SendCmd),
    /// `<recvCmd>` (3PCC): wait for a command from the twin.
    RecvCmd(RecvCmd),
}

/// `<sendCmd dest="…">`.
#[derive(Debug)]
pub struct SendCmd {
    pub template: Template,
    /// `dest=`: the twin it goes to (extended 3PCC); `None`: the one twin.
    pub dest: Option<String>,
}

/// `<recvCmd src="…">`.
#[derive(Debug, Default)]
pub struct RecvCmd {
    /// `src=`: the twin it must come from (extended 3PCC: the command's `From:`).
    pub src: Option<String>,
}

/// Attributes every command may carry.
#[derive(Debug, Default)]
pub struct CommandCommon {
    /// `next="label"`, resolved to a command index.
    pub next: Option<usize>,
    /// `test="var"`: only jump to `next` if this bool variable is true.
    pub test: Option<VarId>,
    /// `chance="0.3"`: jump to `next` with this probability (0..=1).
    pub chance: Option<f64>,
    /// `condexec="var"` / `condexec_inverse="true"`.
    pub condexec: Option<VarId>,
    pub condexec_inverse: bool,
    /// `ontimeout="label"` (recv, and send/recv with `timeout=`), resolved.
    pub ontimeout: Option<usize>,
    /// `start_rtd="a,b"`: start these timers when the step completes.
    pub start_rtd: Vec<RtdId>,
    /// `rtd="a"`: stop this timer when the step completes and record the time.
    pub rtd: Vec<RtdId>,
    /// `repeat_rtd="true"`: rtd may be recorded more than once per call.
    pub repeat_rtd: bool,
    /// `counter="name"`: incremented when the step completes.
    pub counter: Option<CounterId>,
    /// `crlf="true"`: blank line after this step on the scenario screen.
    pub crlf: bool,
    /// `display="text"`: replaces the step's label on the screen.
    pub display: Option<String>,
    /// `hide="true"`.
    pub hide: bool,
    /// `hiderest="true"`: hide this step and every later one on the scenario screen.
    pub hiderest: bool,
    /// `lost="10"`: percent of messages to drop on purpose.
    pub lost_percent: Option<f64>,
    /// `<action>` children, run when the step completes (recv: after the message matched).
    pub actions: Vec<Action>,
}

#[derive(Debug)]
pub struct Send {
    pub template: Template,
    /// `retrans="500"`: UDP retransmission timer start (T1) in ms.
    pub retrans_ms: Option<u64>,
    /// `timeout="…"` ms (send timeout for this step).
    pub timeout_ms: Option<u64>,
    /// `start_txn="name"` / `ack_txn="name"` (client transactions, SIPp 3.4+).
    pub start_txn: Option<String>,
    pub ack_txn: Option<String>,
    /// The method when the template is a request (`INVITE`, `ACK`, …) or `None` for a
    /// response; taken from the template's first literal at load time.
    pub method: Option<String>,
    /// The status code when the template is a response.
    pub status: Option<u16>,
}

/// What a `recv` accepts.
#[derive(Debug)]
pub enum RecvMatch {
    /// `response="200"` (a code) — with `regexp_match`, a regexp on the code text.
    Response(u16),
    /// `request="INVITE"`.
    Request(String),
    /// `request="…" regexp_match="true"` or `response="…" regexp_match="true"`.
    Regex { request: bool, re: regex::Regex },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Optional {
    No,
    /// `optional="true"`: may be skipped when a later step matches.
    Yes,
    /// `optional="global"`: matches anywhere in the scenario.
    Global,
}

#[derive(Debug)]
pub struct Recv {
    pub matcher: RecvMatch,
    pub optional: Optional,
    /// `timeout="…"` ms.
    pub timeout_ms: Option<u64>,
    /// `rrs="true"`: record the route set from Record-Route.
    pub rrs: bool,
    /// `auth="true"`: a 401/407 that carries a challenge for [authentication].
    pub auth: bool,
    /// `response_txn="name"`.
    pub response_txn: Option<String>,
    /// `advance_state="false"` on an optional recv.
    pub advance_state: bool,
}

#[derive(Debug)]
pub struct Pause {
    pub duration: PauseDuration,
    /// `<timewait>`: a pause that ends the call successfully and keeps answering
    /// retransmissions meanwhile.
    pub timewait: bool,
    /// `sanity_check="false"`.
    pub sanity_check: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PauseDuration {
    /// No attribute: the run's `-d`.
    Default,
    Fixed(u64),
    /// `variable="name"`: ms read from a variable.
    Variable(VarId),
    Distribution(Distribution),
}

/// SIPp's pause and `sample` distributions (parameters in ms or as SIPp documents).
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    Fixed(f64),
    Uniform {
        min: f64,
        max: f64,
    },
    Normal {
        mean: f64,
        stdev: f64,
    },
    LogNormal {
        mean: f64,
        stdev: f64,
    },
    Exponential {
        mean: f64,
    },
    Weibull {
        lambda: f64,
        k: f64,
    },
    Pareto {
        k: f64,
        xm: f64,
    },
    GPareto {
        shape: f64,
        scale: f64,
        location: f64,
    },
    Gamma {
        k: f64,
        theta: f64,
    },
    NegBin {
        p: f64,
        n: f64,
    },
}

/// A message template: literal runs and keyword slots, in order. `[len]` is a slot too:
/// the renderer patches it once the body is known.
#[derive(Debug, Clone, Default)]
pub struct Template {
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone)]
pub enum Segment {
    /// Bytes to copy as they are (already CRLF-normalised, `\xNN` decoded).
    Literal(Arc<[u8]>),
    Keyword(Keyword),
}

/// A keyword slot. `offset` is SIPp's `+N` / `-N` suffix (`[cseq+1]`, `[local_port-2]`).
#[derive(Debug, Clone, PartialEq)]
pub enum Keyword {
    Service,
    RemoteIp,
    RemoteHost,
    RemotePort(i64),
    LocalIp,
    LocalIpType,
    LocalPort(i64),
    ServerIp,
    MediaIp,
    MediaIpType,
    MediaPort(i64),
    AutoMediaPort(i64),
    RtpstreamAudioPort(i64),
    RtpstreamVideoPort(i64),
    Transport,
    Branch(i64),
    CallId,
    Cseq(i64),
    /// `[len]`: Content-Length of the body, patched after rendering.
    Len(i64),
    CallNumber,
    DynamicId(i64),
    Pid,
    PeerTagParam,
    MsgIndex,
    NextUrl,
    Routes,
    LastRequestUri,
    LastCseqNumber(i64),
    LastMessage,
    /// `[last_Via:]` / `[last_Via]`: the header line(s) of the last received message; the
    /// whole template line is dropped when the header is missing. Holds the header name
    /// without the colon, as written, and resolved once (`Other` for a name outside
    /// [`HeaderName`](crate::sip::HeaderName)), so a send does not look the name up again.
    LastHeader {
        name: String,
        kind: crate::sip::HeaderName,
        value_only: bool,
    },
    ClockTick(i64),
    Timestamp,
    Date,
    Users,
    UserId,
    SippVersion,
    TdmMap,
    /// `[$name]` / `[$1]`.
    Var(VarId),
    /// `[fieldN]`, with optional `file=` and `line=` (a number or `$var`).
    Field {
        n: u32,
        file: Option<String>,
        line: Option<FieldLine>,
    },
    /// `[file name="…"]`: the file's contents, read at load time.
    File(Arc<[u8]>),
    /// `[fill variable=… text=…]`: repeat `text` to the length held in a variable.
    Fill {
        variable: VarId,
        text: String,
    },
    /// `[authentication username=… password=… …]`: a Digest Authorization header built
    /// from the last 401/407.
    Authentication(AuthParams),
    /// A name given with `-key name value`.
    Generic(String),
    /// An SRTP keyword of SIPp's RTPSTREAM builds (`[cryptotag1audio]`,
    /// `[cryptosuiteaescm128sha1801audio]`, `[cryptokeyparams1audio-5]`, `[ueaescm128sha1801video]`…):
    /// the name without the offset, and the offset.
    Crypto {
        name: String,
        offset: i64,
    },
    /// `[webrtc_offer]`: the call's WebRTC SDP offer (`UDP/TLS/RTP/SAVPF`, our ICE
    /// candidates and DTLS fingerprint), made once per call; only in `webrtc="true"`
    /// scenarios.
    WebrtcOffer,
    /// `[webrtc_answer]`: the call's WebRTC SDP answer to the offer the call received.
    WebrtcAnswer,
    /// `[srtp_fingerprint]`: our DTLS certificate's `sha-256 AB:CD:…` for a classic
    /// call's `a=fingerprint:` (`-media_srtp`, DTLS-SRTP).
    SrtpFingerprint,
    /// `[srtp_setup]`: our `a=setup:` role, `actpass` in an offer, the role RFC 5763
    /// gives the answerer in an answer.
    SrtpSetup,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldLine {
    Fixed(u32),
    Var(VarId),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuthParams {
    /// `None`: the run's `-au` (or `-s` when unset).
    pub username: Option<String>,
    /// `None`: the run's `-ap`.
    pub password: Option<String>,
    /// `aka_OP=`, `aka_K=`, `aka_AMF=` are accepted but only Digest MD5/SHA-256 is computed.
    pub aka: bool,
}

/// An `<action>` child.
#[derive(Debug)]
pub enum Action {
    Ereg(Ereg),
    Log(Template),
    Warning(Template),
    Error(Template),
    /// `<exec int_cmd="stop_call|stop_gracefully|stop_now">`.
    IntCmd(IntCmd),
    /// `<exec command="…">`: only run when the run allows shell commands.
    ExecCommand(Template),
    /// `<exec play_pcap_audio=…>` and other media commands: handed to the media layer.
    Media(std::sync::Arc<MediaAction>),
    Assign {
        var: VarId,
        value: f64,
    },
    /// `<assign assign_to="a" variable="b"/>`: copy b's numeric value into a.
    AssignVar {
        var: VarId,
        source: VarId,
    },
    /// `assign` with `variable` source.
    AssignStr {
        var: VarId,
        value: Template,
    },
    Add {
        var: VarId,
        operand: Operand,
    },
    Subtract {
        var: VarId,
        operand: Operand,
    },
    Multiply {
        var: VarId,
        operand: Operand,
    },
    Divide {
        var: VarId,
        operand: Operand,
    },
    Sample {
        var: VarId,
        distribution: Distribution,
    },
    ToDouble {
        var: VarId,
        source: VarId,
    },
    Test {
        var: VarId,
        left: VarId,
        compare: Compare,
        right: Operand,
    },
    Strcmp {
        var: VarId,
        left: VarId,
        right: StrOperand,
    },
    Trim {
        var: VarId,
    },
    Jump(JumpTarget),
    GetTimeOfDay {
        sec: VarId,
        usec: Option<VarId>,
    },
    Lookup {
        var: VarId,
        file: String,
        key: Template,
    },
    Insert {
        file: String,
        value: Template,
    },
    Replace {
        file: String,
        line: Template,
        value: Template,
    },
    SetDest {
        host: Template,
        port: Template,
        protocol: Template,
    },
    VerifyAuth {
        var: VarId,
        username: Template,
        password: Template,
    },
    UrlEncode {
        var: VarId,
    },
    UrlDecode {
        var: VarId,
    },
    CloseCon,
    PauseRestore,
}

#[derive(Debug)]
pub struct Ereg {
    pub regex: regex::bytes::Regex,
    /// The source text of the regexp, for messages.
    pub source: String,
    pub search_in: SearchIn,
    /// `check_it="true"`: the call fails when there is no match.
    pub check_it: bool,
    /// `check_it_inverse="true"`: the call fails when there is a match.
    pub check_it_inverse: bool,
    /// `assign_to="whole,g1,g2"`: `assign_to[0]` gets the whole match, then the groups.
    pub assign_to: Vec<VarId>,
    /// `occurrence="N"` (1-based; the Nth header of that name).
    pub occurrence: u32,
    pub case_indep: bool,
    pub start_line: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SearchIn {
    Msg,
    Body,
    /// `search_in="hdr" header="From:"`: the header's values (name without the colon).
    Hdr(String),
    /// `search_in="var" variable="x"`.
    Var(VarId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntCmd {
    StopCall,
    StopGracefully,
    StopNow,
}

/// A media action (`<exec play_pcap_audio=…>`, `rtp_stream`, …) for the shard's media
/// engine: its text, where it is, and the typed command parsed once when the scenario
/// loaded (`scenario::media`). A calls hands the engine the command, never the text.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaAction {
    /// The attribute name, e.g. `play_pcap_audio`, `rtp_stream`, `rtp_echo`.
    pub verb: String,
    pub argument: String,
    /// Where the attribute is, for errors about its file.
    pub pos: Pos,
    /// The parsed command, or why the argument does not parse (the run refuses such a
    /// scenario when it prepares its media, naming the verb and the reason).
    pub command: Result<super::media::MediaCommand, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Value(f64),
    Var(VarId),
}

#[derive(Debug, Clone, PartialEq)]
pub enum StrOperand {
    Value(String),
    Var(VarId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Equal,
    NotEqual,
    GreaterThan,
    LessThan,
    GreaterThanEqual,
    LessThanEqual,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JumpTarget {
    /// `value="N"`: an absolute command index.
    Index(usize),
    /// `variable="x"`: the index held in a variable.
    Var(VarId),
}
