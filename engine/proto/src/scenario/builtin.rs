//! The built-in scenario catalogue (`-sn`, `-sd`, `/api/v2/builtin-scenarios`).
//!
//! The XML texts are our own (assets/scenarios/), written to put the same messages on
//! the wire as SIPp 3.6.1's built-ins of the same name; a test loads `sipp -sd NAME`
//! and compares the compiled programs. Must not: parse anything (callers pass `xml`
//! to `scenario::load`).

/// One built-in scenario.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    pub id: &'static str,
    pub name: &'static str,
    /// "client" or "server".
    pub role: &'static str,
    pub description: &'static str,
    pub xml: &'static str,
}

/// Every built-in, in `-sn` help order (SIPp's table order).
pub fn all() -> &'static [Builtin] {
    CATALOGUE
}

/// The built-in with this id.
pub fn get(id: &str) -> Option<&'static Builtin> {
    all().iter().find(|b| b.id == id)
}

const CATALOGUE: &[Builtin] = &[
    Builtin {
        id: "uac",
        name: "Basic Sipstone UAC",
        role: "client",
        description: "INVITE with SDP, optional 100/180/183, 200 (response time 1), ACK, pause of -d ms, BYE, 200. \
                      The default when neither -sf nor -sn is given.",
        xml: include_str!("../../../../assets/scenarios/uac.xml"),
    },
    Builtin {
        id: "uas",
        name: "Basic UAS responder",
        role: "server",
        description: "Answers INVITE with 180 and 200 with SDP (retransmitted), takes the ACK and the BYE, answers 200 \
                      and lingers 4 s. Like SIPp 3.7 (not 3.6.1), the 200 OK copies Record-Route from the INVITE \
                      ([last_Record-Route:], a line dropped when the INVITE has none), so it works behind proxies.",
        xml: include_str!("../../../../assets/scenarios/uas.xml"),
    },
    Builtin {
        id: "regexp",
        name: "Client with regexp scenario",
        role: "client",
        description: "The uac flow plus regular expressions on the 200 OK (check_it, several assign_to), whose \
                      captures are echoed in the ACK; a fixed 1 s pause before the BYE.",
        xml: include_str!("../../../../assets/scenarios/regexp.xml"),
    },
    Builtin {
        id: "3pcc-C-A",
        name: "3PCC Controller - A side",
        role: "client",
        description: "Third-party call control, controller side A: invites A without SDP and relays SDP with the \
                      twin 3pcc-C-B over -3pcc. Start it after 3pcc-C-B.",
        xml: include_str!("../../../../assets/scenarios/3pcc-C-A.xml"),
    },
    Builtin {
        id: "3pcc-C-B",
        name: "3PCC Controller - B side",
        role: "server",
        description: "Third-party call control, controller side B: each call starts when the twin 3pcc-C-A sends \
                      A's offer; invites B with it and sends B's answer back.",
        xml: include_str!("../../../../assets/scenarios/3pcc-C-B.xml"),
    },
    Builtin {
        id: "3pcc-A",
        name: "3PCC A side",
        role: "server",
        description: "Plain user agent A of a 3PCC test: 200 OK with SDP, ACK, BYE, 200, lingers 2 s.",
        xml: include_str!("../../../../assets/scenarios/3pcc-A.xml"),
    },
    Builtin {
        id: "3pcc-B",
        name: "3PCC B side",
        role: "server",
        description: "Plain user agent B of a 3PCC test: 200 OK with SDP, ACK, BYE, 200, lingers 2 s.",
        xml: include_str!("../../../../assets/scenarios/3pcc-B.xml"),
    },
    Builtin {
        id: "branchc",
        name: "branch_client",
        role: "client",
        description: "Branching demo, client half (run against branchs): REGISTER then INVITE, with labels, next=, \
                      test= and an optional 403 that jumps to the BYE.",
        xml: include_str!("../../../../assets/scenarios/branchc.xml"),
    },
    Builtin {
        id: "branchs",
        name: "branch_server",
        role: "server",
        description: "Branching demo, server half (run against branchc): answers the REGISTER, then 180/100/200 or \
                      403 depending on the caller, chosen with an ereg-set variable.",
        xml: include_str!("../../../../assets/scenarios/branchs.xml"),
    },
    Builtin {
        id: "uac_pcap",
        name: "UAC with media",
        role: "client",
        description: "The uac flow with media: after the ACK plays pcap/g711a.pcap (G.711 A-law RTP) and an RFC 2833 \
                      DTMF pcap, then hangs up. The pcap files are read from the working directory.",
        xml: include_str!("../../../../assets/scenarios/uac_pcap.xml"),
    },
    Builtin {
        id: "webrtc_uac",
        name: "WebRTC UAC",
        role: "client",
        description: "The uac flow with WebRTC media (webrtc=\"true\", beta): the INVITE carries a \
                      UDP/TLS/RTP/SAVPF offer ([webrtc_offer]), the answer comes in the 183 or 200, then ICE, \
                      DTLS-SRTP and a G.711 tone both ways for -d ms, BYE. Each call has its own UDP socket; \
                      signalling goes over any -t transport. Its peer: webrtc_uas, a WebRTC gateway or a browser.",
        xml: include_str!("../../../../assets/scenarios/webrtc_uac.xml"),
    },
    Builtin {
        id: "webrtc_uas",
        name: "WebRTC UAS",
        role: "server",
        description: "Answers WebRTC calls (webrtc=\"true\", beta): 180, then a 200 with the answer \
                      ([webrtc_answer]) to the INVITE's offer, ICE, DTLS-SRTP and a G.711 tone both ways until \
                      the BYE, 200, and a 4 s linger. Its peer: webrtc_uac, or a browser over WSS.",
        xml: include_str!("../../../../assets/scenarios/webrtc_uas.xml"),
    },
    Builtin {
        id: "ooc_default",
        name: "Out-of-call UAS",
        role: "server",
        description: "SIPp's out-of-call handler, run as an ordinary scenario: answers any request with 200 OK and lingers 4 s (out-of-call scenarios, -oocsf/-oocsn, are not supported).",
        xml: include_str!("../../../../assets/scenarios/ooc_default.xml"),
    },
    Builtin {
        id: "ooc_dummy",
        name: "Out-of-call UAS",
        role: "server",
        description: "SIPp's placeholder out-of-call handler, run as an ordinary scenario: accepts only the method DUMMY.",
        xml: include_str!("../../../../assets/scenarios/ooc_dummy.xml"),
    },
];
