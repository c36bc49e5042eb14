//! Converter tests on captures built in memory: link types, IPv4/IPv6, UDP and TCP (split,
//! reordered and retransmitted segments), retransmitted datagrams, several calls, a
//! digest challenge, and hostile bytes.

use std::net::SocketAddr;
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

use super::*;

const CALLER: &str = "10.0.0.1:5072";
const CALLEE: &str = "10.0.0.2:5071";

fn invite(call_id: &str, cseq: u32, auth: bool) -> String {
    let sdp = "v=0\r\no=user1 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 6004 RTP/AVP 0\r\na=rtcp:6005\r\n";
    format!(
        "INVITE sip:bob@10.0.0.2:5071 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5072;branch=z9hG4bK-{cseq}\r\nFrom: alice <sip:alice@10.0.0.1:5072>;tag=caller1\r\nTo: bob <sip:bob@10.0.0.2:5071>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:alice@10.0.0.1:5072;transport=udp>\r\n{}User-Agent: x [lab]\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        if auth {
            "Proxy-Authorization: Digest username=\"alice\", response=\"0\"\r\n"
        } else {
            ""
        },
        sdp.len()
    )
}

fn response(code: &str, call_id: &str, cseq: &str, tag: Option<&str>) -> String {
    let to_tag = tag.map_or(String::new(), |t| format!(";tag={t}"));
    format!(
        "SIP/2.0 {code}\r\nVia: SIP/2.0/UDP 10.0.0.1:5072;branch=z9hG4bK-x\r\nFrom: alice <sip:alice@10.0.0.1:5072>;tag=caller1\r\nTo: bob <sip:bob@10.0.0.2:5071>{to_tag}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\nContact: <sip:10.0.0.2:5071>\r\n{}Content-Length: 0\r\n\r\n",
        if code.starts_with("407") {
            "Proxy-Authenticate: Digest realm=\"r\", nonce=\"n\"\r\n"
        } else {
            ""
        }
    )
}

fn request(method: &str, call_id: &str, cseq: u32, branch: &str) -> String {
    format!(
        "{method} sip:bob@10.0.0.2:5071 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5072;branch={branch}\r\nFrom: alice <sip:alice@10.0.0.1:5072>;tag=caller1\r\nTo: bob <sip:bob@10.0.0.2:5071>;tag=callee1\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    )
}

/// A basic call: (from_caller, text).
fn basic_call(call_id: &str) -> Vec<(bool, String)> {
    vec![
        (true, invite(call_id, 1, false)),
        (
            false,
            response("180 Ringing", call_id, "1 INVITE", Some("callee1")),
        ),
        (
            false,
            response("200 OK", call_id, "1 INVITE", Some("callee1")),
        ),
        (true, request("ACK", call_id, 1, "z9hG4bK-a")),
        (true, request("BYE", call_id, 2, "z9hG4bK-b")),
        (false, response("200 OK", call_id, "2 BYE", Some("callee1"))),
    ]
}

fn ip_header(src: SocketAddr, dst: SocketAddr, proto: u8, l4_len: usize) -> Vec<u8> {
    match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            let mut ip = vec![0x45, 0];
            ip.extend_from_slice(&((20 + l4_len) as u16).to_be_bytes());
            ip.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
            ip.extend_from_slice(&s.ip().octets());
            ip.extend_from_slice(&d.ip().octets());
            ip
        }
        (SocketAddr::V6(s), SocketAddr::V6(d)) => {
            let mut ip = vec![0x60, 0, 0, 0];
            ip.extend_from_slice(&(l4_len as u16).to_be_bytes());
            ip.extend_from_slice(&[proto, 64]);
            ip.extend_from_slice(&s.ip().octets());
            ip.extend_from_slice(&d.ip().octets());
            ip
        }
        _ => unreachable!(),
    }
}

fn udp_ip(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let mut l4 = src.port().to_be_bytes().to_vec();
    l4.extend_from_slice(&dst.port().to_be_bytes());
    l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    l4.extend_from_slice(&[0, 0]);
    l4.extend_from_slice(payload);
    let mut ip = ip_header(src, dst, 17, l4.len());
    ip.extend_from_slice(&l4);
    ip
}

fn tcp_ip(src: SocketAddr, dst: SocketAddr, seq: u32, syn: bool, payload: &[u8]) -> Vec<u8> {
    let mut l4 = src.port().to_be_bytes().to_vec();
    l4.extend_from_slice(&dst.port().to_be_bytes());
    l4.extend_from_slice(&seq.to_be_bytes());
    l4.extend_from_slice(&[
        0,
        0,
        0,
        0,
        0x50,
        if syn { 0x02 } else { 0x18 },
        0xFF,
        0xFF,
        0,
        0,
        0,
        0,
    ]);
    l4.extend_from_slice(payload);
    let mut ip = ip_header(src, dst, 6, l4.len());
    ip.extend_from_slice(&l4);
    ip
}

fn framed(link: DataLink, ip: Vec<u8>) -> Vec<u8> {
    let v6 = ip.first().is_some_and(|b| b >> 4 == 6);
    let ethertype: [u8; 2] = if v6 { [0x86, 0xDD] } else { [0x08, 0x00] };
    let mut f = match link {
        DataLink::ETHERNET => [vec![0u8; 12], ethertype.to_vec()].concat(),
        DataLink::LINUX_SLL => [vec![0u8; 14], ethertype.to_vec()].concat(),
        DataLink::LINUX_SLL2 => [ethertype.to_vec(), vec![0u8; 18]].concat(),
        _ => Vec::new(),
    };
    f.extend_from_slice(&ip);
    f
}

fn pcap(link: DataLink, frames: &[Vec<u8>]) -> Vec<u8> {
    let header = PcapHeader {
        datalink: link,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let ts = Duration::from_millis(i as u64 * 10);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
    w.into_writer()
}

fn udp_capture(link: DataLink, caller: &str, callee: &str, msgs: &[(bool, String)]) -> Vec<u8> {
    let (a, b): (SocketAddr, SocketAddr) = (caller.parse().unwrap(), callee.parse().unwrap());
    let frames: Vec<Vec<u8>> = msgs
        .iter()
        .map(|(up, m)| {
            let (s, d) = if *up { (a, b) } else { (b, a) };
            framed(link, udp_ip(s, d, m.as_bytes()))
        })
        .collect();
    pcap(link, &frames)
}

/// A basic UDP call over Ethernet, for other modules' tests (the worker's tool).
pub(crate) fn sample_capture() -> Vec<u8> {
    udp_capture(
        DataLink::ETHERNET,
        CALLER,
        CALLEE,
        &basic_call("sample@10.0.0.1"),
    )
}

fn body(xml: &str) -> &str {
    xml.split("-->").nth(1).unwrap()
}

#[test]
fn a_udp_call_becomes_a_uac_and_a_uas_with_keywords_on_every_link_type() {
    for link in [
        DataLink::ETHERNET,
        DataLink::LINUX_SLL,
        DataLink::LINUX_SLL2,
        DataLink::RAW,
    ] {
        let bytes = udp_capture(link, CALLER, CALLEE, &basic_call("abc@10.0.0.1"));
        let out = convert("call.pcap", &bytes, &Options::default()).unwrap();
        assert_eq!(out.messages, 6, "{link:?}");
        assert_eq!(out.call_id, "abc@10.0.0.1");
        let uac = body(&out.uac_xml);
        let uas = body(&out.uas_xml);
        for captured in ["10.0.0.1", "10.0.0.2", "abc@", "caller1", "callee1", "6004"] {
            assert!(
                !uac.contains(captured),
                "{link:?} uac keeps {captured}:\n{uac}"
            );
            assert!(
                !uas.contains(captured),
                "{link:?} uas keeps {captured}:\n{uas}"
            );
        }
        for kw in [
            "INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0",
            "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
            "From: alice <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]",
            "To: bob <sip:[service]@[remote_ip]:[remote_port]>\n",
            "To: bob <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]",
            "Call-ID: [call_id]",
            "CSeq: [cseq] INVITE",
            "CSeq: [cseq] BYE",
            "Contact: <sip:alice@[local_ip]:[local_port];transport=[transport]>",
            "Content-Length: [len]",
            "o=user1 1 1 IN IP[local_ip_type] [local_ip]",
            "c=IN IP[media_ip_type] [media_ip]",
            "m=audio [media_port] RTP/AVP 0",
            "a=rtcp:[media_port+1]",
            "User-Agent: x \\x5blab]",
            "<recv response=\"180\" optional=\"true\"/>",
            "<send retrans=\"500\">",
        ] {
            assert!(uac.contains(kw), "{link:?} uac lacks {kw}:\n{uac}");
        }
        for kw in [
            "<recv request=\"INVITE\"/>",
            "[last_Via:]",
            "[last_To:];tag=[pid]SIPpTag01[call_number]",
            "[last_Call-ID:]",
            "[last_CSeq:]",
            "Contact: <sip:[local_ip]:[local_port]>",
            "<recv request=\"BYE\"/>",
        ] {
            assert!(uas.contains(kw), "{link:?} uas lacks {kw}:\n{uas}");
        }
        // The 200 to BYE copies a To that already has its tag.
        assert_eq!(uas.matches(";tag=[pid]SIPpTag01").count(), 2, "{uas}");
        // The scenarios load in the engine.
        for xml in [&out.uac_xml, &out.uas_xml] {
            gossipper_engine::scenario::load(
                xml.as_bytes(),
                "p.xml",
                &gossipper_engine::scenario::LoadOptions::default(),
            )
            .unwrap_or_else(|e| panic!("{link:?}: {e:?}\n{xml}"));
        }
    }
}

#[test]
fn ipv6_addresses_become_keywords_too() {
    let msgs: Vec<(bool, String)> = basic_call("v6")
        .into_iter()
        .map(|(up, m)| {
            (
                up,
                m.replace("10.0.0.1:5072", "[2001:db8::1]:5072")
                    .replace("10.0.0.2:5071", "[2001:db8::2]:5071")
                    .replace("IN IP4 10.0.0.1", "IN IP6 2001:db8::1"),
            )
        })
        .collect();
    let bytes = udp_capture(
        DataLink::RAW,
        "[2001:db8::1]:5072",
        "[2001:db8::2]:5071",
        &msgs,
    );
    let out = convert("v6.pcap", &bytes, &Options::default()).unwrap();
    let uac = body(&out.uac_xml);
    assert!(!uac.contains("2001:db8"), "{uac}");
    // The only literal `[` left is the User-Agent's, in the INVITE.
    assert_eq!(uac.matches("\\x5b").count(), 1, "{uac}");
    assert!(uac.contains("<sip:alice@[local_ip]:[local_port]>"), "{uac}");
}

#[test]
fn retransmissions_are_dropped_and_other_calls_are_named() {
    let mut msgs = basic_call("one");
    msgs.insert(1, msgs[0].clone());
    msgs.insert(4, msgs[3].clone());
    msgs.extend(basic_call("two"));
    let bytes = udp_capture(DataLink::ETHERNET, CALLER, CALLEE, &msgs);
    let out = convert("c.pcap", &bytes, &Options::default()).unwrap();
    assert_eq!(out.messages, 6);
    assert!(
        out.uac_xml.contains("2 retransmission(s) dropped"),
        "{}",
        out.uac_xml
    );
    assert_eq!(out.notes.len(), 1, "{:?}", out.notes);
    assert!(out.notes[0].contains("Call-ID one"), "{:?}", out.notes);
    assert!(out.notes[0].contains("other Call-ID(s) in the capture: two"));
    assert!(out.uac_xml.contains("Note: only the first call"));
}

#[test]
fn a_tcp_stream_is_reassembled_across_split_reordered_and_repeated_segments() {
    let (a, b): (SocketAddr, SocketAddr) = (CALLER.parse().unwrap(), CALLEE.parse().unwrap());
    let call = basic_call("tcp");
    let up: String = call.iter().filter(|m| m.0).map(|m| m.1.as_str()).collect();
    let down: String = call.iter().filter(|m| !m.0).map(|m| m.1.as_str()).collect();
    let (up, down) = (up.as_bytes(), down.as_bytes());
    let isn_a = u32::MAX - 100; // wraps inside the stream
    let isn_b = 7000;
    let mut frames = vec![
        tcp_ip(a, b, isn_a, true, &[]),
        tcp_ip(b, a, isn_b, true, &[]),
    ];
    // Caller's bytes in 3 pieces: the second arrives before the first, the first twice.
    let (p1, rest) = up.split_at(300);
    let (p2, p3) = rest.split_at(400);
    let s = isn_a.wrapping_add(1);
    frames.push(tcp_ip(a, b, s.wrapping_add(300), false, p2));
    frames.push(tcp_ip(a, b, s, false, p1));
    frames.push(tcp_ip(a, b, s, false, p1));
    frames.push(tcp_ip(b, a, isn_b + 1, false, down));
    frames.push(tcp_ip(a, b, s.wrapping_add(700), false, p3));
    let bytes = pcap(DataLink::RAW, &frames);
    let out = convert(
        "t.pcap",
        &bytes,
        &Options {
            sip_port: 5071,
            link: None,
        },
    )
    .unwrap();
    assert_eq!(out.messages, 6, "{}", out.uac_xml);
    assert!(out.notes.is_empty(), "{:?}", out.notes);
    assert!(out.uac_xml.contains("over TCP"));
    assert!(!out.uac_xml.contains("retrans="), "{}", out.uac_xml);
}

#[test]
fn a_digest_challenge_becomes_auth_and_the_ack_keeps_the_invite_branch() {
    let c = "auth";
    let msgs = vec![
        (true, invite(c, 1, false)),
        (false, response("100 Trying", c, "1 INVITE", None)),
        (
            false,
            response(
                "407 Proxy Authentication Required",
                c,
                "1 INVITE",
                Some("t1"),
            ),
        ),
        (true, request("ACK", c, 1, "z9hG4bK-1")),
        (true, invite(c, 2, true)),
        (false, response("200 OK", c, "2 INVITE", Some("t2"))),
        (true, request("ACK", c, 2, "z9hG4bK-ack")),
    ];
    let bytes = udp_capture(DataLink::ETHERNET, CALLER, CALLEE, &msgs);
    let out = convert("a.pcap", &bytes, &Options::default()).unwrap();
    assert!(out.needs_auth);
    let uac = body(&out.uac_xml);
    assert!(
        uac.contains("<recv response=\"407\" auth=\"true\"/>"),
        "{uac}"
    );
    assert!(uac.contains("[authentication]"), "{uac}");
    assert!(!uac.contains("Proxy-Authorization"), "{uac}");
    // INVITE(0) recv 100(1) recv 407(2) ACK(3): three commands back.
    assert!(uac.contains("branch=[branch-3]"), "{uac}");
    assert_eq!(uac.matches("branch=[branch]").count(), 3, "{uac}");
    let uas = body(&out.uas_xml);
    assert!(
        uas.contains("Proxy-Authenticate: Digest realm=\"r\""),
        "{uas}"
    );
    assert!(out.uac_xml.contains("-au USER -ap PASSWORD"));
}

#[test]
fn a_callee_that_hangs_up_sends_bye_from_the_uas_with_the_callers_tag_as_peer_tag() {
    let c = "hangup";
    let bye = format!(
        "BYE sip:alice@10.0.0.1:5072 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5071;branch=z9hG4bK-u\r\nFrom: bob <sip:bob@10.0.0.2:5071>;tag=callee1\r\nTo: alice <sip:alice@10.0.0.1:5072>;tag=caller1\r\nCall-ID: {c}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2:5071;branch=z9hG4bK-u\r\nFrom: bob <sip:bob@10.0.0.2:5071>;tag=callee1\r\nTo: alice <sip:alice@10.0.0.1:5072>;tag=caller1\r\nCall-ID: {c}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    let mut msgs = basic_call(c);
    msgs.truncate(4);
    msgs.push((false, bye));
    msgs.push((true, ok));
    let bytes = udp_capture(DataLink::ETHERNET, CALLER, CALLEE, &msgs);
    let out = convert("h.pcap", &bytes, &Options::default()).unwrap();
    let uas = body(&out.uas_xml);
    for kw in [
        "BYE sip:alice@[remote_ip]:[remote_port] SIP/2.0",
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
        "From: bob <sip:bob@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]",
        "To: alice <sip:alice@[remote_ip]:[remote_port]>[peer_tag_param]",
        "CSeq: [cseq] BYE",
        "<recv response=\"200\"/>",
    ] {
        assert!(uas.contains(kw), "uas lacks {kw}:\n{uas}");
    }
    let uac = body(&out.uac_xml);
    assert!(uac.contains("<recv request=\"BYE\"/>"), "{uac}");
    // The caller's 200 copies the BYE's To, which already has the caller's tag.
    assert!(
        uac.trim_end().ends_with(
            "[last_CSeq:]\n      Content-Length: [len]\n    ]]>\n  </send>\n</scenario>"
        ),
        "{uac}"
    );
    assert!(!uac.contains("[last_To:];tag="), "{uac}");
    for xml in [&out.uac_xml, &out.uas_xml] {
        gossipper_engine::scenario::load(
            xml.as_bytes(),
            "p.xml",
            &gossipper_engine::scenario::LoadOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e:?}\n{xml}"));
    }
}

#[test]
fn a_forced_link_type_and_the_sip_port_filter_apply() {
    let bytes = udp_capture(DataLink::ETHERNET, CALLER, CALLEE, &basic_call("l"));
    let e = convert(
        "l.pcap",
        &bytes,
        &Options {
            sip_port: 0,
            link: Some(DataLink::RAW),
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("no SIP message found"), "{e}");
    assert!(e.to_string().contains("-pcap-link"), "{e}");
    let e = convert(
        "l.pcap",
        &bytes,
        &Options {
            sip_port: 5999,
            link: None,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("on port 5999"), "{e}");
    assert_eq!(
        parse_link("linux_sll2").unwrap(),
        Some(DataLink::LINUX_SLL2)
    );
    assert_eq!(parse_link("auto").unwrap(), None);
    assert_eq!(parse_link("1").unwrap(), Some(DataLink::ETHERNET));
    assert!(parse_link("token-ring").is_err());
}

#[test]
fn hostile_input_is_an_error_never_a_panic() {
    assert!(matches!(
        convert("x", b"", &Options::default()),
        Err(ConvertError::Capture(_))
    ));
    assert!(matches!(
        convert("x", b"hello, not a capture", &Options::default()),
        Err(ConvertError::Capture(_))
    ));
    let only_responses = udp_capture(
        DataLink::ETHERNET,
        CALLER,
        CALLEE,
        &[(false, response("200 OK", "r", "1 INVITE", Some("t")))],
    );
    assert!(matches!(
        convert("x", &only_responses, &Options::default()),
        Err(ConvertError::NoRequest)
    ));
    let good = udp_capture(DataLink::ETHERNET, CALLER, CALLEE, &basic_call("h"));
    for cut in 0..good.len() {
        let _ = convert("x", &good[..cut], &Options::default());
    }
    // Bytes flipped one at a time through the first messages.
    for i in (24..good.len().min(1500)).step_by(7) {
        let mut bad = good.clone();
        bad[i] ^= 0xA5;
        let _ = convert("x", &bad, &Options::default());
    }
}
