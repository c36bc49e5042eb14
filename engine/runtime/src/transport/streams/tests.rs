//! The stream transport on real loopback sockets, driven turn by turn in this thread
//! (no executor) with a poller of its own: framing across writes, pings, per-call
//! connections that close with their flow, losses reported with the calls they carried,
//! and TLS, WebSocket and secure WebSocket both ways.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::poller::Poller;
use crate::poller::Wait;
use crate::transport::tls::{self, TlsOptions};
use crate::transport::{Carried, StreamSettings, setup};

/// The connections with a poller of their own, as a shard loop holds them.
struct Polled {
    s: Streams,
    poller: Poller,
}

impl Polled {
    fn start(plan: StreamPlan, now: Instant) -> std::io::Result<Polled> {
        let poller = Poller::new(64)?;
        let s = Streams::start(plan, poller.registry().clone(), now)?;
        Ok(Polled { s, poller })
    }

    fn wait(&mut self, timeout: Duration) {
        self.poller.wait(Wait::Readable(timeout));
    }

    fn handle_io(&mut self, now: Instant, deliver: &mut dyn FnMut(&[u8], SocketAddr)) -> usize {
        self.s.handle_io(now, self.poller.ready(), deliver)
    }
}

impl std::ops::Deref for Polled {
    type Target = Streams;
    fn deref(&self) -> &Streams {
        &self.s
    }
}

impl std::ops::DerefMut for Polled {
    fn deref_mut(&mut self) -> &mut Streams {
        &mut self.s
    }
}

fn msg(id: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:a@b SIP/2.0\r\nCall-ID: {id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn plan(s: StreamSettings, listener: Option<TcpListener>) -> StreamPlan {
    StreamPlan {
        settings: Arc::new(s),
        listener,
        connected: None,
    }
}

/// One loop turn: wait a little, handle I/O, flush; returns the messages delivered.
fn turn(p: &mut Polled, got: &mut Vec<Vec<u8>>) {
    p.wait(Duration::from_millis(5));
    #[allow(clippy::disallowed_methods)] // a test on real sockets needs real time
    let now = Instant::now();
    p.handle_io(now, &mut |m, _| got.push(m.to_vec()));
    p.flush();
}

fn events(p: &mut Polled) -> Vec<StreamEvent> {
    std::iter::from_fn(|| p.poll_event()).collect()
}

fn server(kind: StreamKind) -> (Polled, SocketAddr) {
    let l = setup::listener("127.0.0.1:0".parse().expect("addr"), false).expect("listen");
    let addr = l.local_addr().expect("addr");
    let mut s = StreamSettings::new(kind, false, true);
    if kind.uses_tls() {
        s.tls = Some(tls_setup());
    }
    #[allow(clippy::disallowed_methods)]
    let p = Polled::start(plan(s, Some(l)), Instant::now()).expect("start");
    (p, addr)
}

fn tls_setup() -> tls::TlsSetup {
    let opts = TlsOptions {
        self_signed_names: vec!["127.0.0.1".into()],
        remote_host: Some("127.0.0.1"),
        ..Default::default()
    };
    tls::setup(&opts).expect("tls").0
}

#[test]
fn a_server_frames_messages_split_across_writes_and_answers_a_ping() {
    let (mut p, addr) = server(StreamKind::Tcp);
    let mut c = TcpStream::connect(addr).expect("connect");
    let (a, b) = (msg("one"), msg("two"));
    c.write_all(&a[..10]).expect("write");
    let mut got = Vec::new();
    turn(&mut p, &mut got);
    let mut rest = a[10..].to_vec();
    rest.extend_from_slice(b"\r\n\r\n");
    rest.extend_from_slice(&b);
    c.write_all(&rest).expect("write");
    for _ in 0..200 {
        if got.len() == 2 {
            break;
        }
        turn(&mut p, &mut got);
    }
    assert_eq!(got, vec![a, b]);
    let peer = c.local_addr().expect("addr");
    assert_eq!(events(&mut p), vec![StreamEvent::Accepted { peer }]);
    let mut pong = [0u8; 2];
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    c.read_exact(&mut pong).expect("pong");
    assert_eq!(&pong, b"\r\n");
}

#[test]
fn a_server_connection_closed_by_its_peer_loses_that_peers_calls() {
    let (mut p, addr) = server(StreamKind::Tcp);
    let c = TcpStream::connect(addr).expect("connect");
    let peer = c.local_addr().expect("addr");
    let mut got = Vec::new();
    turn(&mut p, &mut got);
    drop(c);
    let mut seen = Vec::new();
    for _ in 0..200 {
        turn(&mut p, &mut got);
        seen.extend(events(&mut p));
        if p.open_connections() == 0 {
            break;
        }
    }
    assert_eq!(
        seen,
        vec![
            StreamEvent::Accepted { peer },
            StreamEvent::Lost {
                peer,
                carried: Carried::Peer,
                opened: true
            }
        ]
    );
}

#[test]
fn per_call_connections_open_per_flow_and_close_quietly_when_their_flow_ends() {
    let l = TcpListener::bind("127.0.0.1:0").expect("listen");
    let dest = l.local_addr().expect("addr");
    let s = StreamSettings::new(StreamKind::Tcp, true, false);
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut p = Polled::start(plan(s, None), now).expect("start");
    let mut tx = TxQueue::default();
    for flow in [1, 2] {
        tx.flow = flow;
        tx.push(dest, &msg(&format!("call{flow}")));
    }
    p.send(now, &tx);
    p.flush();
    let mut got = Vec::new();
    let mut accepted = Vec::new();
    l.set_nonblocking(true).expect("nonblocking");
    for _ in 0..200 {
        turn(&mut p, &mut got);
        if let Ok((s, _)) = l.accept() {
            accepted.push(s);
        }
        if accepted.len() == 2 && p.idle() {
            break;
        }
    }
    assert_eq!(accepted.len(), 2, "one connection per flow");
    assert_eq!(p.open_connections(), 2);
    // Flow 1 ends: its connection closes, and losing it fails nothing.
    let mut end = TxQueue::default();
    end.ended_flows.push(1);
    p.send(now, &end);
    assert_eq!(p.open_connections(), 1);
    let ev = events(&mut p);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, StreamEvent::Opened { .. }))
            .count(),
        2
    );
    assert!(
        !ev.iter().any(|e| matches!(e, StreamEvent::Lost { .. })),
        "{ev:?}"
    );
    let mut texts = Vec::new();
    for mut s in accepted {
        s.set_nonblocking(false).expect("blocking");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = vec![0u8; 200];
        let n = s.read(&mut buf).expect("read");
        texts.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    texts.sort();
    assert!(texts[0].contains("Call-ID: call1") && texts[1].contains("Call-ID: call2"));
}

/// A per-call client of `kind` sends "hello" to a server of `kind`, which answers
/// "world" on the connection the client opened.
fn client_and_server_carry_messages_both_ways(kind: StreamKind) {
    let (mut srv, addr) = server(kind);
    let mut s = StreamSettings::new(kind, true, false);
    if kind.uses_tls() {
        s.tls = Some(tls_setup());
    }
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut cli = Polled::start(plan(s, None), now).expect("start");
    let mut tx = TxQueue {
        flow: 7,
        ..TxQueue::default()
    };
    tx.push(addr, &msg("hello"));
    cli.send(now, &tx);
    cli.flush();
    let (mut at_srv, mut at_cli) = (Vec::new(), Vec::new());
    let mut answered = false;
    for _ in 0..400 {
        turn(&mut cli, &mut at_cli);
        turn(&mut srv, &mut at_srv);
        if !answered && !at_srv.is_empty() {
            let peer = match events(&mut srv).as_slice() {
                [StreamEvent::Accepted { peer }] => *peer,
                other => panic!("{kind:?}: server events {other:?}"),
            };
            let mut reply = TxQueue::default();
            reply.push(peer, &msg("world"));
            #[allow(clippy::disallowed_methods)]
            srv.send(Instant::now(), &reply);
            srv.flush();
            answered = true;
        }
        if !at_cli.is_empty() {
            break;
        }
    }
    assert_eq!(at_srv, vec![msg("hello")], "{kind:?}");
    assert_eq!(at_cli, vec![msg("world")], "{kind:?}");
    assert_eq!(
        events(&mut cli),
        vec![StreamEvent::Opened { peer: addr }],
        "{kind:?}: opened once, after the handshakes"
    );
}

#[test]
fn tls_client_and_server_connect_and_carry_messages_both_ways() {
    client_and_server_carry_messages_both_ways(StreamKind::Tls);
}

#[test]
fn websocket_client_and_server_upgrade_and_carry_messages_both_ways() {
    client_and_server_carry_messages_both_ways(StreamKind::Ws);
}

#[test]
fn secure_websocket_client_and_server_upgrade_over_tls_and_carry_messages_both_ways() {
    client_and_server_carry_messages_both_ways(StreamKind::Wss);
}

fn idle_closed(ev: &[StreamEvent]) -> Vec<SocketAddr> {
    let mut peers: Vec<SocketAddr> = ev
        .iter()
        .filter_map(|e| match e {
            StreamEvent::IdleClosed { peer } => Some(*peer),
            _ => None,
        })
        .collect();
    peers.sort();
    peers
}

fn local(c: &TcpStream) -> SocketAddr {
    c.local_addr().expect("addr")
}

/// Virtual time on real sockets: `now` is passed in and jumps ahead, nothing sleeps. The
/// shard's answer to "does this peer carry a live call" is a set the test changes.
#[test]
fn idle_accepted_connections_close_unless_a_live_call_holds_them_and_half_messages_close_anyway() {
    let l = setup::listener("127.0.0.1:0".parse().expect("addr"), false).expect("listen");
    let addr = l.local_addr().expect("addr");
    let mut s = StreamSettings::new(StreamKind::Tcp, false, true);
    s.idle_timeout = Some(Duration::from_secs(60));
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let at = |secs: u64| t0 + Duration::from_secs(secs);
    let mut p = Polled::start(plan(s, Some(l)), t0).expect("start");
    let live: RefCell<Vec<SocketAddr>> = RefCell::new(Vec::new());
    let asked = Cell::new(0usize);
    let step = |p: &mut Polled, now: Instant, got: &mut Vec<Vec<u8>>| {
        p.wait(Duration::from_millis(5));
        p.handle_io(now, &mut |m, _| got.push(m.to_vec()));
        p.handle_idle(now, &|peer| {
            asked.set(asked.get() + 1);
            live.borrow().contains(&peer)
        });
        p.flush();
    };
    let mut silent = TcpStream::connect(addr).expect("connect");
    let mut half = TcpStream::connect(addr).expect("connect");
    let mut talker = TcpStream::connect(addr).expect("connect");
    // Holds a call through the first timeout, saying nothing after its first message.
    let mut holder = TcpStream::connect(addr).expect("connect");
    let mut got = Vec::new();
    for _ in 0..200 {
        step(&mut p, t0, &mut got);
        if p.open_connections() == 4 {
            break;
        }
    }
    assert_eq!(p.open_connections(), 4);
    assert_eq!(p.poll_timeout(), Some(at(60)), "the first sweep is due");
    *live.borrow_mut() = vec![local(&half), local(&holder)];

    half.write_all(&msg("half")[..20]).expect("write");
    holder.write_all(&msg("hold")).expect("write");
    talker.write_all(&msg("talk")).expect("write");
    for _ in 0..200 {
        step(&mut p, at(0), &mut got);
        if got.len() == 2 {
            break;
        }
    }
    got.sort();
    assert_eq!(got, vec![msg("hold"), msg("talk")]);
    talker.write_all(&msg("talk")).expect("write");
    for _ in 0..200 {
        step(&mut p, at(30), &mut got);
        if got.len() == 3 {
            break;
        }
    }
    assert_eq!(got.len(), 3, "the talker spoke again at 30 s");
    step(&mut p, at(59), &mut got);
    assert_eq!(p.open_connections(), 4, "nothing closes early");
    assert_eq!(
        asked.get(),
        0,
        "no call is looked up before a timeout of silence"
    );
    let _ = events(&mut p);

    step(&mut p, at(60), &mut got);
    let ev = events(&mut p);
    let mut expected = vec![local(&silent), local(&half)];
    expected.sort();
    assert_eq!(
        idle_closed(&ev),
        expected,
        "silent without a call, and half a message even with one: {ev:?}"
    );
    assert!(
        ev.iter().any(|e| matches!(
            e,
            StreamEvent::Lost {
                carried: Carried::Peer,
                ..
            }
        )),
        "their calls fail like any lost connection's: {ev:?}"
    );
    assert_eq!(p.open_connections(), 2, "the holder and the talker stay");
    assert_eq!(
        p.poll_timeout(),
        Some(at(90)),
        "the talker expires at 30 + 60 s"
    );
    for c in [&mut silent, &mut half] {
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 16];
        assert_eq!(c.read(&mut buf).expect("the close"), 0);
    }

    // The holder's call ends at 70 s, without a message.
    live.borrow_mut().clear();
    step(&mut p, at(90), &mut got);
    assert_eq!(idle_closed(&events(&mut p)), vec![local(&talker)]);
    assert_eq!(
        p.poll_timeout(),
        Some(at(120)),
        "the holder, kept at 60 s for its call, is looked at a timeout later"
    );
    step(&mut p, at(119), &mut got);
    assert_eq!(p.open_connections(), 1, "not before");
    step(&mut p, at(120), &mut got);
    assert_eq!(idle_closed(&events(&mut p)), vec![local(&holder)]);
    assert_eq!(p.poll_timeout(), None, "no accepted connection left");
}

#[test]
fn idle_timeout_zero_never_closes_a_silent_connection() {
    let l = setup::listener("127.0.0.1:0".parse().expect("addr"), false).expect("listen");
    let addr = l.local_addr().expect("addr");
    let mut s = StreamSettings::new(StreamKind::Tcp, false, true);
    s.idle_timeout = None;
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let mut p = Polled::start(plan(s, Some(l)), t0).expect("start");
    let _silent = TcpStream::connect(addr).expect("connect");
    let mut got = Vec::new();
    for _ in 0..200 {
        p.wait(Duration::from_millis(5));
        p.handle_io(t0, &mut |m, _| got.push(m.to_vec()));
        if p.open_connections() == 1 {
            break;
        }
    }
    assert_eq!(p.poll_timeout(), None);
    let later = t0 + Duration::from_secs(86_400);
    p.handle_io(later, &mut |m, _| got.push(m.to_vec()));
    p.handle_idle(later, &|_| false);
    assert_eq!(p.open_connections(), 1);
}
