//! Userland CPU per SRTP packet of WebRTC calls: CALLS pairs of `WebrtcBridge`s (str0m:
//! ICE, DTLS-SRTP, RTP/RTCP) in one thread, in virtual time, with an in-memory network
//! and no socket or kernel, each side sending G.711 every 20 ms on a 1 ms grid as a
//! shard does. The thread's CPU time (/proc/thread-self/schedstat, ns) over 5 s of
//! virtual audio, divided by the SRTP packets sent and received, is the share of CPU per
//! packet that is ours and str0m's; perf/webrtc_scale.py measures the whole (kernel and
//! wake-ups too) and is noisy on a busy machine, this is not.
//!
//!   cargo run --release -p gossipper-perf --bin webrtc_cost [CALLS] [SECONDS]
//!   (defaults 200 calls, 5 s)
//!
//! Instructions per packet, repeatable on a busy machine: the measured phase is one
//! function, `measured`, so callgrind counts it alone:
//!
//!   valgrind --tool=callgrind --toggle-collect='*measured*' \
//!     target/release/webrtc_cost 50 1   (Ir of `measured` / the SRTP packets printed)

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gossipper_media::webrtc::{WebrtcBridge, WebrtcConfig, WebrtcEvent, generate_dtls_cert};
use gossipper_perf::count_arg;

const TICK: Duration = Duration::from_millis(1);

struct Net {
    bridges: Vec<WebrtcBridge>,
    addrs: Vec<SocketAddr>,
    index: HashMap<SocketAddr, usize>,
    /// (to, from, bytes), delivered on the next tick.
    wire: VecDeque<(usize, SocketAddr, Vec<u8>)>,
    buf: Vec<u8>,
    connected: usize,
    srtp: u64,
}

impl Net {
    fn flush(&mut self, i: usize) {
        while let Some(t) = self.bridges[i].poll_transmit(&mut self.buf) {
            if let Some(&to) = self.index.get(&t.destination) {
                self.wire
                    .push_back((to, t.source, self.buf[..t.len].to_vec()));
            }
        }
        while let Some(e) = self.bridges[i].poll_event() {
            if matches!(e, WebrtcEvent::Connected) {
                self.connected += 1;
            }
        }
    }

    /// One 1 ms tick: last tick's datagrams arrive, due timers run, due frames go.
    fn tick(&mut self, now: Instant, frames: Option<u64>) {
        for _ in 0..self.wire.len() {
            let Some((to, from, bytes)) = self.wire.pop_front() else {
                break;
            };
            if bytes.first().is_some_and(|b| (128..192).contains(b)) {
                self.srtp += 1;
            }
            let dst = self.addrs[to];
            self.bridges[to].handle_datagram(now, from, dst, &bytes);
            self.flush(to);
        }
        for i in 0..self.bridges.len() {
            if self.bridges[i].poll_timeout().is_some_and(|d| d <= now) {
                self.bridges[i].handle_timeout(now);
                self.flush(i);
            }
        }
        if let Some(ms) = frames {
            let payload = [0xD5u8; 160];
            for i in 0..self.bridges.len() {
                if (i as u64 / 2) % 20 == ms % 20 && self.bridges[i].is_connected() {
                    let _ = self.bridges[i].send_audio(now, &payload);
                    self.flush(i);
                }
            }
        }
    }
}

/// The measured phase: `seconds` of virtual audio (its own function so that callgrind's
/// `--toggle-collect` counts it alone).
#[inline(never)]
fn measured(net: &mut Net, mut now: Instant, mut ms: u64, seconds: u64) {
    let end = now + Duration::from_secs(seconds);
    while now < end {
        now += TICK;
        ms += 1;
        net.tick(now, Some(ms));
    }
}

fn thread_cpu() -> Duration {
    let ns = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn main() {
    let calls = count_arg(200) as usize;
    let seconds = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5u64);
    let measured_time = Duration::from_secs(seconds);
    let cert = generate_dtls_cert();
    let mut now = Instant::now();
    let mut net = Net {
        bridges: Vec::new(),
        addrs: Vec::new(),
        index: HashMap::new(),
        wire: VecDeque::new(),
        buf: Vec::new(),
        connected: 0,
        srtp: 0,
    };
    for i in 0..calls * 2 {
        let addr = SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16));
        let mut cfg = WebrtcConfig::new(addr);
        cfg.dtls_cert = cert.clone();
        cfg.seed = i as u64;
        net.bridges.push(WebrtcBridge::new(now, cfg));
        net.addrs.push(addr);
        net.index.insert(addr, i);
    }
    for c in 0..calls {
        let (a, b) = (2 * c, 2 * c + 1);
        let offer = net.bridges[a].create_offer(now).expect("offer");
        let answer = net.bridges[b].accept_offer(now, &offer).expect("answer");
        net.bridges[a]
            .accept_answer(now, &answer)
            .expect("answer accepted");
        net.flush(a);
        net.flush(b);
    }
    for _ in 0..20_000 {
        if net.connected == calls * 2 {
            break;
        }
        now += TICK;
        net.tick(now, None);
    }
    assert_eq!(net.connected, calls * 2, "every call connects");
    // A second of audio first: str0m's streams and stats settle.
    let mut ms = 0u64;
    for _ in 0..1000 {
        now += TICK;
        ms += 1;
        net.tick(now, Some(ms));
    }
    net.srtp = 0;
    let cpu = thread_cpu();
    measured(&mut net, now, ms, seconds);
    let used = thread_cpu() - cpu;
    // Each packet is counted once, on arrival; the send side of it is in the same CPU.
    println!(
        "{calls} calls, {} SRTP packets in {} s of virtual time: {:.2} µs of CPU per packet \
         (sent or received: {:.2} µs per packet each way)",
        net.srtp,
        measured_time.as_secs(),
        used.as_secs_f64() * 1e6 / net.srtp as f64,
        used.as_secs_f64() * 1e6 / (2 * net.srtp) as f64,
    );
}
