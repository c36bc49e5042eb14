//! pcap2scenario: a SIP capture turned into a UAC and a UAS scenario that replay its
//! first call with SIPp keywords in place of what only that capture had (addresses,
//! ports, tags, branches, Call-ID, CSeq, lengths, SDP media addresses).
//!
//! Sans-IO: [`convert`] takes the capture's bytes and returns the two XML documents, the
//! per-direction RTP captures and notes; the subcommand (`cli`) and the tool job (the
//! worker's `tools`) read and write the files. The pipeline is one module per step:
//! `gossipper_media::pcap_ip` (link, IP, UDP/TCP) → [`stream`] (SIP messages, TCP
//! reassembled) → [`dialog`] (first Call-ID, roles, retransmissions dropped) →
//! [`script`] + [`template`] (commands and message templates per side) → XML; [`rtp`]
//! splits the media. Must not: touch files, sockets or clocks, or panic on any bytes.

pub(crate) mod cli;
mod dialog;
mod rtp;
mod script;
mod stream;
mod template;
#[cfg(test)]
pub(crate) mod tests;

use std::net::SocketAddr;
use std::path::Path;

use gossipper_engine::sip::{self, HeaderName, SipMessage};
use gossipper_media::pcap_ip;
use gossipper_media::pcap_source::PcapSourceError;
use pcap_file::DataLink;

use template::{Parties, Side};

/// File names of what a conversion writes.
pub(crate) const UAC_FILE: &str = "scenario_uac.xml";
pub(crate) const UAS_FILE: &str = "scenario_uas.xml";
pub(crate) const RTP_UAC_FILE: &str = "rtp_uac.pcap";
pub(crate) const RTP_UAS_FILE: &str = "rtp_uas.pcap";

/// How to read the capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// Only packets from or to this port are SIP; 0 takes anything that parses as SIP.
    pub(crate) sip_port: u16,
    /// Forces the link type (`-pcap-link`) instead of the capture's own.
    pub(crate) link: Option<DataLink>,
}

/// What a conversion produced.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub(crate) uac_xml: String,
    pub(crate) uas_xml: String,
    /// What the caller sent as RTP, when it did.
    pub(crate) rtp_uac: Option<Vec<u8>>,
    /// What the callee sent as RTP, when it did.
    pub(crate) rtp_uas: Option<Vec<u8>>,
    /// Things the user should know (other calls skipped, broken streams…).
    pub(crate) notes: Vec<String>,
    pub(crate) call_id: String,
    /// Messages in the scenarios (retransmissions not counted).
    pub(crate) messages: usize,
    /// The UAC answers a 401/407: run it with `-au`/`-ap`.
    pub(crate) needs_auth: bool,
}

/// Why a capture cannot be converted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConvertError {
    #[error(transparent)]
    Capture(#[from] PcapSourceError),
    #[error("no SIP message found ({records} records, {packets} UDP/TCP packets{port}){hint}")]
    NoSip {
        records: usize,
        packets: usize,
        port: String,
        hint: &'static str,
    },
    #[error("no SIP request in the capture (only responses): the call's start is missing")]
    NoRequest,
}

/// Converts the capture `bytes` (named `name` in errors and in the scenarios' comments).
pub(crate) fn convert(name: &str, bytes: &[u8], opts: &Options) -> Result<Output, ConvertError> {
    let cap = pcap_ip::read_ip_packets(Path::new(name), bytes, opts.link)?;
    let mut notes = Vec::new();
    let msgs = stream::sip_messages(&cap, opts.sip_port, &mut notes);
    if msgs.is_empty() {
        return Err(ConvertError::NoSip {
            records: cap.records,
            packets: cap.packets.len(),
            port: match opts.sip_port {
                0 => String::new(),
                p => format!(" on port {p}"),
            },
            hint: if cap.packets.is_empty() && cap.records > 0 {
                "; if the link type is wrong, force it with -pcap-link"
            } else {
                ""
            },
        });
    }
    let d = dialog::first_dialog(msgs, &mut notes)?;
    let parties = parties(&d);
    let uac = script::commands(&d, Side::Uac, &parties);
    let uas = script::commands(&d, Side::Uas, &parties);
    let needs_auth = uac
        .iter()
        .any(|c| matches!(c, script::Cmd::Recv { auth: true, .. }));
    let media = rtp::split(&d, &cap);
    let about = about(name, &d, &parties, needs_auth, &media, &notes);
    Ok(Output {
        uac_xml: script::xml("pcap2scenario UAC", &about, &uac),
        uas_xml: script::xml("pcap2scenario UAS", &about, &uas),
        rtp_uac: media.uac,
        rtp_uas: media.uas,
        notes,
        call_id: d.call_id.clone(),
        messages: d.msgs.len(),
        needs_auth,
    })
}

/// `-pcap-link`: `auto` (the capture's own), a name, or a DLT number (the media
/// reader's parser, shared with a run's `-pcap-link`).
pub(crate) fn parse_link(s: &str) -> Result<Option<DataLink>, String> {
    gossipper_media::parse_pcap_link(s)
}

/// Where each party was seen, and the service user.
fn parties(d: &Dialog) -> Parties {
    let mut p = Parties {
        caller_addrs: vec![hostport(d.caller)],
        callee_addrs: vec![hostport(d.callee)],
        service_user: None,
    };
    for m in &d.msgs {
        let Ok(msg) = SipMessage::parse(&m.bytes) else {
            continue;
        };
        if p.service_user.is_none() && m.from_caller && msg.is_request() {
            p.service_user = msg.request_uri().and_then(uri_user);
        }
        let list = if m.from_caller {
            &mut p.caller_addrs
        } else {
            &mut p.callee_addrs
        };
        if msg.is_request()
            && let Some(v) = msg.header(HeaderName::Via)
        {
            list.extend(via_sent_by(v));
        }
        if let Some(c) = msg.header(HeaderName::Contact) {
            list.extend(uri_hostport(sip::uri_of(c)));
        }
    }
    for list in [&mut p.caller_addrs, &mut p.callee_addrs] {
        list.sort();
        list.dedup();
    }
    let caller = p.caller_addrs.clone();
    p.callee_addrs.retain(|a| !caller.contains(a));
    // Longest first, so `1.2.3.4:50600` is not taken as `1.2.3.4:5060`.
    for list in [&mut p.caller_addrs, &mut p.callee_addrs] {
        list.sort_by_key(|a| std::cmp::Reverse(a.len()));
    }
    p
}

use dialog::Dialog;

fn hostport(a: SocketAddr) -> String {
    a.to_string()
}

/// `SIP/2.0/UDP host:port;…` → `host:port` (only when a port is written).
fn via_sent_by(v: &[u8]) -> Option<String> {
    let v = std::str::from_utf8(v).ok()?;
    let sent_by = v.split_whitespace().nth(1)?;
    let sent_by = sent_by.split(';').next()?;
    has_port(sent_by).then(|| sent_by.to_string())
}

/// `sip:user@host:port;params` → `host:port` (only when a port is written).
fn uri_hostport(uri: &[u8]) -> Option<String> {
    let uri = std::str::from_utf8(uri).ok()?;
    let rest = uri.split_once(':')?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hp = rest.split([';', '?', '>']).next()?;
    has_port(hp).then(|| hp.to_string())
}

fn uri_user(uri: &[u8]) -> Option<String> {
    let uri = std::str::from_utf8(uri).ok()?;
    let rest = uri.split_once(':')?.1;
    let (user, _) = rest.split_once('@')?;
    let user = user.split(';').next()?;
    (!user.is_empty()).then(|| user.to_string())
}

fn has_port(hp: &str) -> bool {
    match hp.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && (!host.contains(':') || host.ends_with(']'))
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// The opening comment of both scenarios.
fn about(
    name: &str,
    d: &Dialog,
    parties: &Parties,
    needs_auth: bool,
    media: &rtp::MediaCaptures,
    notes: &[String],
) -> Vec<String> {
    let transport = if d.tcp { "TCP" } else { "UDP" };
    let t = if d.tcp { " -t t1" } else { "" };
    let service = parties
        .service_user
        .as_deref()
        .map_or(String::new(), |u| format!(" -s {u}"));
    let auth = if needs_auth {
        " -au USER -ap PASSWORD"
    } else {
        ""
    };
    let file = Path::new(name)
        .file_name()
        .map_or(name.into(), |f| f.to_string_lossy().into_owned());
    let mut about = vec![
        format!("Generated by gossipper pcap2scenario from {file}."),
        format!(
            "The call with Call-ID {} from {} (caller, the UAC) to {} (callee, the UAS) over {transport}: {} messages, {} retransmission(s) dropped.",
            d.call_id,
            d.caller,
            d.callee,
            d.msgs.len(),
            d.retransmissions
        ),
        format!(
            "Replay: gossipper{t} -sf {UAS_FILE} -p PORT -m 1, then gossipper{t} -sf {UAC_FILE}{service}{auth} HOST:PORT -m 1 (SIPp takes the same flags)."
        ),
    ];
    if media.uac.is_some() || media.uas.is_some() {
        about.push(format!(
            "The call's RTP is in {RTP_UAC_FILE} (caller) and {RTP_UAS_FILE} (callee); add <exec play_pcap_audio=\"...\"/> after the ACK to send it."
        ));
    }
    about.extend(notes.iter().map(|n| format!("Note: {n}")));
    about
}
