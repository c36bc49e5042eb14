//! 3PCC commands: framing, parsing, `-slave_cfg` lines, and whole 3PCC calls in
//! virtual time (`sim`): the four built-ins together, variables carried across, and
//! malformed or unexpected commands failing only their call.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::call::ShardEvent;
use crate::call::inject::InjectData;
use crate::endpoint::{Budget, Endpoint, Event};
use crate::load::Pacer;
use crate::scenario::Scenario;
use crate::sim::{self, SimNet};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

// ------------------------------------------------------------------ framing

#[test]
fn framer_cuts_at_the_delimiter_across_reads_and_keeps_blank_lines_inside() {
    let mut f = Framer::default();
    f.push(b"Call-ID: 1\r\nContent-Length: 3\r\n\r\nv=0");
    assert_eq!(f.next_command(), Ok(None), "no delimiter yet");
    f.push(b"\x1bCall-ID: 2\x1bCall-");
    assert_eq!(
        f.next_command(),
        Ok(Some(&b"Call-ID: 1\r\nContent-Length: 3\r\n\r\nv=0"[..]))
    );
    assert_eq!(f.next_command(), Ok(Some(&b"Call-ID: 2"[..])));
    assert_eq!(f.next_command(), Ok(None));
    f.push(b"ID: 3\x1b");
    assert_eq!(f.next_command(), Ok(Some(&b"Call-ID: 3"[..])));
    assert_eq!(f.next_command(), Ok(None));
}

#[test]
fn framer_refuses_a_command_that_never_ends() {
    let mut f = Framer::default();
    f.push(&vec![b'a'; MAX_COMMAND + 1]);
    assert_eq!(f.next_command(), Err(FrameError::TooLarge));
    assert!(FrameError::TooLarge.to_string().contains("delimiter"));
}

#[test]
fn a_sent_command_ends_with_one_delimiter_and_carries_none_inside() {
    let c = TwinCommand::new(Some("s1".into()), b"x", b"Call-ID: x\x1b\r\n");
    assert_eq!(c.bytes, b"Call-ID: x\r\n\x1b");
    assert_eq!(c.text(), b"Call-ID: x\r\n");
    assert_eq!(c.dest.as_deref(), Some("s1"));
}

// ------------------------------------------------------------------ parsing

#[test]
fn command_headers_are_read_before_the_body_only() {
    let raw = b"\r\nCall-ID: abc@host \r\nFrom: m extra\r\nContent-Type: application/sdp\r\n\r\nCall-ID: body\r\n\r\n\r\n";
    let c = Command::parse(raw).unwrap();
    assert_eq!(c.call_id(), b"abc@host");
    assert_eq!(c.from(), Some(&b"m"[..]));
    assert_eq!(c.header(b"content-type"), Some(&b"application/sdp"[..]));
    assert_eq!(
        c.header_nth(b"Call-ID", 1),
        None,
        "a body line is no header"
    );
    assert_eq!(c.body(), b"Call-ID: body");
    assert!(
        c.text().starts_with(b"Call-ID"),
        "leading line ends trimmed"
    );
    assert!(c.text().ends_with(b"body"), "trailing CRLFs trimmed");
    assert!(!c.is_abort());
}

#[test]
fn short_call_id_and_abort_are_understood() {
    let c = Command::parse(b"i: 7\nInternal-Cmd: abort_call\n").unwrap();
    assert_eq!(c.call_id(), b"7");
    assert!(c.is_abort());
}

#[test]
fn commands_without_a_call_id_are_refused_by_name() {
    assert_eq!(
        Command::parse(b"From: m\r\n").unwrap_err(),
        CommandError::NoCallId
    );
    assert_eq!(
        Command::parse(b"Call-ID:   \r\n").unwrap_err(),
        CommandError::EmptyCallId
    );
    assert_eq!(Command::parse(b"").unwrap_err(), CommandError::NoCallId);
    assert_eq!(
        Command::parse(&[0xff, 0xfe, b':', 0]).unwrap_err(),
        CommandError::NoCallId
    );
    assert!(CommandError::NoCallId.to_string().contains("Call-ID"));
}

#[test]
fn slave_cfg_lines_parse_and_errors_name_the_line() {
    let p = parse_peers("# twins\nm;127.0.0.1:5000\n\ns1;127.0.0.1:5001;\n").unwrap();
    assert_eq!(
        p,
        vec![
            ("m".to_string(), addr("127.0.0.1:5000")),
            ("s1".to_string(), addr("127.0.0.1:5001")),
        ]
    );
    assert!(
        parse_peers("m 127.0.0.1:5000")
            .unwrap_err()
            .contains("line 1")
    );
    assert!(
        parse_peers("m;127.0.0.1:5000\ns1;nowhere")
            .unwrap_err()
            .contains("line 2")
    );
    assert!(
        parse_peers("m;127.0.0.1:5000\nm;127.0.0.1:5001")
            .unwrap_err()
            .contains("twice")
    );
    assert!(parse_peers("\n").is_err());
}

// ------------------------------------------------------------------ calls

/// An endpoint that places no calls itself, with `remote` as its peer (controller B).
fn passive(
    sc: Arc<Scenario>,
    local: SocketAddr,
    remote: SocketAddr,
    t0: std::time::Instant,
) -> Endpoint {
    Endpoint::new(
        0,
        1,
        sc,
        sim::env(local, Some(remote), t0),
        5,
        InjectData::default(),
        Pacer::new(0.0, t0),
        Budget {
            remaining: None,
            limit: 100,
        },
    )
}

fn events(ep: &mut Endpoint) -> Vec<ShardEvent> {
    let mut out = Vec::new();
    while let Some(e) = ep.poll_event() {
        if let Event::Shard(e) = e {
            out.push(e);
        }
    }
    out
}

/// The body of a SIP message (after its empty line).
fn body(bytes: &[u8]) -> &[u8] {
    let i = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header end");
    &bytes[i + 4..]
}

#[test]
fn the_four_builtins_run_3pcc_calls_and_relay_the_sdp_through_commands() {
    let mut net = SimNet::new(3);
    let (a, b) = (addr("127.0.0.1:5061"), addr("127.0.0.1:5062"));
    let (ca, cb) = (addr("127.0.0.1:5063"), addr("127.0.0.1:5064"));
    let ia = net.add_server(sim::builtin("3pcc-A"), a);
    let ib = net.add_server(sim::builtin("3pcc-B"), b);
    let icb = net.add(passive(sim::builtin("3pcc-C-B"), cb, b, net.epoch()), cb);
    let ica = net.add_client(sim::builtin("3pcc-C-A"), ca, a, 10.0, 3);
    net.link_twins(ica, icb);
    net.run_until(100_000, |n| {
        [ia, ib, icb, ica]
            .iter()
            .all(|&i| n.endpoints[i].stats().counters.successful_calls == 3)
            && n.endpoints[ica].done()
    });
    for i in [ia, ib, icb, ica] {
        let c = &net.endpoints[i].stats().counters;
        assert_eq!((c.successful_calls, c.failed_calls), (3, 0), "endpoint {i}");
    }
    // Two commands per call: C-A → C-B (A's SDP), C-B → C-A (B's SDP).
    assert_eq!(net.twin_log.len(), 6);
    let a_ok = net
        .log
        .iter()
        .find(|s| s.from == a && s.first_line.starts_with("SIP/2.0 200") && s.to == ca)
        .expect("A answers C-A");
    let to_b = net
        .log
        .iter()
        .find(|s| s.to == b && s.first_line.starts_with("INVITE"))
        .expect("C-B invites B");
    assert!(!body(&a_ok.bytes).is_empty());
    assert!(
        body(&to_b.bytes).starts_with(body(&a_ok.bytes).trim_ascii_end()),
        "B gets A's SDP through the twins:\n{}",
        String::from_utf8_lossy(&to_b.bytes)
    );
    // B's call has the Call-ID C-A chose (the command's).
    assert_eq!(to_b.call_id, a_ok.call_id);
}

const ECHO: &str = r#"<?xml version="1.0"?>
<scenario name="echo">
  <recvCmd src="m">
    <action>
      <ereg regexp="[0-9]+" search_in="hdr" header="X-Num:" assign_to="n"/>
    </action>
  </recvCmd>
  <sendCmd dest="m">
    <![CDATA[
      Call-ID: [call_id]
      From: s1
      X-Echo: [$n]
    ]]>
  </sendCmd>
</scenario>"#;

#[test]
fn a_variable_captured_from_a_command_goes_out_in_the_next_one() {
    let t0 = sim::epoch();
    let wall = SystemTime::UNIX_EPOCH;
    let mut ep = passive(
        sim::scenario(ECHO),
        addr("127.0.0.1:5064"),
        addr("127.0.0.1:5062"),
        t0,
    );
    ep.handle_twin_command(t0, wall, b"Call-ID: c1\r\nFrom: m\r\nX-Num: 42\r\n\r\n");
    let out = ep.poll_twin_transmit().expect("the echo");
    assert_eq!(out.dest.as_deref(), Some("m"));
    let cmd = Command::parse(out.text()).unwrap();
    assert_eq!(cmd.call_id(), b"c1");
    assert_eq!(cmd.header(b"X-Echo"), Some(&b"42"[..]));
    assert_eq!(ep.stats().counters.successful_calls, 1);
}

#[test]
fn a_command_from_the_wrong_twin_fails_its_call_only() {
    let t0 = sim::epoch();
    let wall = SystemTime::UNIX_EPOCH;
    let mut ep = passive(
        sim::scenario(ECHO),
        addr("127.0.0.1:5064"),
        addr("127.0.0.1:5062"),
        t0,
    );
    ep.handle_twin_command(t0, wall, b"Call-ID: bad\r\nFrom: s2\r\nX-Num: 1\r\n");
    ep.handle_twin_command(t0, wall, b"Call-ID: good\r\nFrom: m\r\nX-Num: 2\r\n");
    let c = &ep.stats().counters;
    assert_eq!((c.successful_calls, c.failed_calls), (1, 1));
    let ev = events(&mut ep);
    assert!(
        ev.iter()
            .any(|e| matches!(e, ShardEvent::Error(t) if t.contains("Unexpected sender") && t.contains("bad"))),
        "{ev:?}"
    );
}

#[test]
fn malformed_commands_are_reported_and_create_no_call() {
    let t0 = sim::epoch();
    let wall = SystemTime::UNIX_EPOCH;
    let mut ep = passive(
        sim::builtin("3pcc-C-B"),
        addr("127.0.0.1:5064"),
        addr("127.0.0.1:5062"),
        t0,
    );
    ep.handle_twin_command(t0, wall, b"Content-Type: application/sdp\r\n");
    ep.handle_twin_command(t0, wall, &[0xff, 0x00, 0xfe]);
    ep.handle_twin_command(t0, wall, b"");
    assert_eq!(ep.live_calls(), 0);
    let c = &ep.stats().counters;
    assert_eq!(c.malformed_messages, 3);
    assert_eq!(c.failed_calls, 0);
    let ev = events(&mut ep);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, ShardEvent::Warning(t) if t.contains("Call-ID")))
            .count(),
        3,
        "{ev:?}"
    );
}

#[test]
fn a_command_the_call_does_not_expect_fails_that_call_and_no_other() {
    let t0 = sim::epoch();
    let wall = SystemTime::UNIX_EPOCH;
    let mut ep = passive(
        sim::builtin("3pcc-C-B"),
        addr("127.0.0.1:5064"),
        addr("127.0.0.1:5062"),
        t0,
    );
    ep.handle_twin_command(t0, wall, b"Call-ID: x\r\n");
    ep.handle_twin_command(t0, wall, b"Call-ID: y\r\n");
    assert_eq!(
        ep.live_calls(),
        2,
        "each Call-ID opened a call (INVITE sent)"
    );
    // x waits for B's answer, not for a command.
    let t1 = t0 + Duration::from_millis(5);
    ep.handle_twin_command(t1, wall, b"Call-ID: x\r\n");
    assert_eq!(ep.live_calls(), 1);
    let c = &ep.stats().counters;
    assert_eq!((c.failed_calls, c.failed_unexpected_message), (1, 1));
    // The twin's abort ends y.
    ep.handle_twin_command(t1, wall, b"Call-ID: y\r\nInternal-Cmd: abort_call\r\n");
    assert_eq!(ep.live_calls(), 0);
}

#[test]
fn a_client_discards_a_command_for_a_call_it_does_not_hold() {
    let t0 = sim::epoch();
    let wall = SystemTime::UNIX_EPOCH;
    let mut net = SimNet::new(1);
    let ica = net.add_client(
        sim::builtin("3pcc-C-A"),
        addr("127.0.0.1:5063"),
        addr("127.0.0.1:5061"),
        1.0,
        1,
    );
    let ep = &mut net.endpoints[ica];
    ep.handle_twin_command(t0, wall, b"Call-ID: stranger\r\n");
    assert_eq!(ep.live_calls(), 0);
    assert_eq!(ep.stats().counters.out_of_call_msgs, 1);
}

#[test]
fn losing_the_twin_fails_the_calls_waiting_for_its_commands() {
    let mut net = SimNet::new(9);
    let a = addr("127.0.0.1:5061");
    net.add_server(sim::builtin("3pcc-A"), a);
    // No twin linked: C-A's command goes nowhere and its call waits at <recvCmd>.
    let ica = net.add_client(sim::builtin("3pcc-C-A"), addr("127.0.0.1:5063"), a, 10.0, 1);
    net.run_until(10_000, |n| {
        n.endpoints[ica].live_calls() == 1
            && n.log
                .iter()
                .any(|s| s.first_line.starts_with("SIP/2.0 200"))
    });
    // Let the 200 arrive and the command go out.
    for _ in 0..10 {
        net.step();
    }
    assert_eq!(
        net.endpoints[ica].live_calls(),
        1,
        "the call waits for a command"
    );
    let now = net.now;
    let ep = &mut net.endpoints[ica];
    ep.handle_twin_closed(now, SystemTime::UNIX_EPOCH);
    assert_eq!(ep.live_calls(), 0);
    let c = &ep.stats().counters;
    assert_eq!((c.failed_calls, c.failed_tcp_closed), (1, 1));
}

#[test]
fn a_command_that_cannot_be_sent_fails_its_call() {
    let xml = r#"<?xml version="1.0"?>
<scenario name="ping">
  <recvCmd/>
  <sendCmd><![CDATA[
    Call-ID: [call_id]
  ]]></sendCmd>
  <recvCmd/>
</scenario>"#;
    let t0 = sim::epoch();
    let wall = SystemTime::UNIX_EPOCH;
    let mut ep = passive(
        sim::scenario(xml),
        addr("127.0.0.1:5064"),
        addr("127.0.0.1:5062"),
        t0,
    );
    ep.handle_twin_command(t0, wall, b"Call-ID: p1\r\n");
    let out = ep.poll_twin_transmit().expect("the reply");
    assert_eq!(&*out.call_id, b"p1");
    assert_eq!(ep.live_calls(), 1, "waits at the second recvCmd");
    ep.handle_twin_unsent(t0, wall, &out);
    assert_eq!(ep.live_calls(), 0);
    let c = &ep.stats().counters;
    assert_eq!((c.failed_calls, c.failed_cmd_not_sent), (1, 1));
}

#[test]
fn a_call_aborted_on_an_unexpected_message_tells_its_twin() {
    let t0 = sim::epoch();
    let wall = SystemTime::UNIX_EPOCH;
    let (local, b) = (addr("127.0.0.1:5064"), addr("127.0.0.1:5062"));
    let mut env = sim::env(local, Some(b), t0);
    env.twin_abort = true;
    let mut ep = Endpoint::new(
        0,
        1,
        sim::builtin("3pcc-C-B"),
        env,
        5,
        InjectData::default(),
        Pacer::new(0.0, t0),
        Budget {
            remaining: None,
            limit: 100,
        },
    );
    ep.handle_twin_command(t0, wall, b"Call-ID: z\r\n");
    assert_eq!(ep.live_calls(), 1);
    let busy = b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 127.0.0.1:5064;branch=z9hG4bK-1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: z\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    ep.handle_datagram(t0 + Duration::from_millis(1), wall, busy, b);
    assert_eq!(ep.live_calls(), 0);
    assert_eq!(ep.stats().counters.failed_unexpected_message, 1);
    let out = ep.poll_twin_transmit().expect("the abort for the twin");
    let cmd = Command::parse(out.text()).unwrap();
    assert_eq!(cmd.call_id(), b"z");
    assert!(cmd.is_abort());
}

/// Hostile bytes through the public entry points (framer, then the endpoint): pieces
/// of commands in random order and random cuts. Nothing panics, and every call a
/// command opened has ended or is live.
#[test]
fn random_command_streams_never_panic_and_every_call_is_accounted_for() {
    const PIECES: [&[u8]; 10] = [
        b"Call-ID: ",
        b"i:",
        b"c7",
        b"\r\n",
        b"\n",
        b"\x1b",
        b"internal-cmd: abort_call",
        b"From: m",
        b"Content-Type: application/sdp\r\n\r\nv=0",
        b"\xff\x00:",
    ];
    let t0 = sim::epoch();
    let wall = SystemTime::UNIX_EPOCH;
    let mut rng = crate::rng::Rng::new(42);
    for sc in [sim::builtin("3pcc-C-B"), sim::scenario(ECHO)] {
        let mut ep = passive(sc, addr("127.0.0.1:5064"), addr("127.0.0.1:5062"), t0);
        let mut framer = Framer::default();
        let mut now = t0;
        for _ in 0..5_000 {
            let mut chunk = Vec::new();
            for _ in 0..rng.below(6) {
                chunk.extend_from_slice(PIECES[rng.below(PIECES.len() as u64) as usize]);
            }
            framer.push(&chunk);
            loop {
                match framer.next_command() {
                    Ok(Some(cmd)) => {
                        let cmd = cmd.to_vec();
                        ep.handle_twin_command(now, wall, &cmd);
                    }
                    Ok(None) => break,
                    Err(e) => panic!("{e}: the pieces always carry delimiters"),
                }
            }
            now += Duration::from_millis(rng.below(50));
            ep.handle_timeout(now, wall);
            while ep.poll_twin_transmit().is_some() {}
            let _ = events(&mut ep);
        }
        let c = &ep.stats().counters;
        let ended = c.successful_calls + c.failed_calls;
        assert_eq!(
            c.outgoing_calls,
            ended + ep.live_calls() as u64,
            "every call opened by a command ended or is live"
        );
        assert!(c.outgoing_calls > 0 && c.malformed_messages > 0, "{c:?}");
    }
}
