//! `gossipper rtp_send -rtp_addr HOST:PORT …`: the standalone RTP sender (the Go tool's
//! `-rtp_send`, with its many-streams mode, spec §4.3), and the core the `rtp_send` tool
//! job runs.
//!
//! Owns: the sender's settings ([`SendPlan`], checked), one UDP socket per stream (bound
//! to `-rtp_port` + 2·i when a first port is given) and the drive loop around the media
//! crate's scheduler and streams: the same `RtpScheduler`/`RtpStream` (G.711 silence,
//! header written in place) the engine's calls send with, so no packetiser of its own.
//! Must not: speak SIP or receive.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use gossipper_media::scheduler::SchedulerEvent;
use gossipper_media::stream::{MAX_SILENCE_PTIME, MIN_SILENCE_PTIME};
use gossipper_media::{G711Law, RtpScheduler, RtpStream, StreamConfig, StreamSource};
use serde::Serialize;

use super::{Failure, Parsed, run_cli};

/// Most streams one sender runs.
pub(crate) const MAX_STREAMS: u32 = 10_000;

const USAGE: &str = "\
Usage: gossipper rtp_send -rtp_addr HOST:PORT [-rtp_codec PCMU|PCMA] [-rtp_freq_ms MS]
                          [-rtp_dur MS] [-rtp_streams N] [-rtp_port PORT] [-rtp_pt PT]

Sends G.711 RTP (codec silence) to HOST:PORT without SIP: one stream, or N streams
(-rtp_streams, each with its own socket and SSRC; with -rtp_port P the local ports are
P, P+2, P+4, …, else any free port). Sequence numbers and timestamps are continuous per
stream (timestamps step 8 per ms of packet interval). Prints the packets sent.

Flags:
  -rtp_addr HOST:PORT  where to send (required)
  -rtp_codec C         PCMU (default; PCMU/8000 too) or PCMA
  -rtp_pt PT           payload type (default: 0 for PCMU, 8 for PCMA)
  -rtp_freq_ms MS      packet interval, 10-100 ms (default 20; -rtp_freq too)
  -rtp_dur MS          how long to send, ms (default 0: until SIGINT/SIGTERM)
  -rtp_streams N       streams at once, 1-10000 (default 1)
  -rtp_port PORT       first local port (default 0: any)
  -h, --help           this help
";

const FLAGS: &[&str] = &[
    "rtp_addr",
    "rtp_codec",
    "rtp_pt",
    "rtp_freq_ms",
    "rtp_freq",
    "rtp_dur",
    "rtp_streams",
    "rtp_port",
];

/// What to send, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SendPlan {
    pub(crate) dest: SocketAddr,
    pub(crate) law: G711Law,
    pub(crate) payload_type: u8,
    pub(crate) interval: Duration,
    /// `None`: until stopped.
    pub(crate) duration: Option<Duration>,
    pub(crate) streams: u32,
    /// First local port (0: any).
    pub(crate) first_port: u16,
}

/// A plan's settings as text (the command line's values or a tool job's arguments).
#[derive(Debug, Default, Clone)]
pub(crate) struct PlanText<'a> {
    pub(crate) addr: Option<&'a str>,
    pub(crate) codec: Option<&'a str>,
    pub(crate) pt: Option<&'a str>,
    pub(crate) freq_ms: Option<&'a str>,
    pub(crate) dur_ms: Option<&'a str>,
    pub(crate) streams: Option<&'a str>,
    pub(crate) port: Option<&'a str>,
}

/// Checks the settings; the error names the setting (`rtp_addr`, …) and the problem.
pub(crate) fn plan(t: &PlanText<'_>) -> Result<SendPlan, (&'static str, String)> {
    let addr = t
        .addr
        .ok_or(("rtp_addr", "is required (HOST:PORT)".to_string()))?;
    let dest = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .filter(|a| a.port() != 0)
        .ok_or(("rtp_addr", format!("\"{addr}\" is not HOST:PORT")))?;
    let codec = t.codec.unwrap_or("PCMU");
    let law = match codec
        .split('/')
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
        .as_str()
    {
        "PCMU" => G711Law::MuLaw,
        "PCMA" => G711Law::ALaw,
        _ => return Err(("rtp_codec", format!("\"{codec}\": PCMU or PCMA only"))),
    };
    let num = |name: &'static str, v: Option<&str>, lo: u64, hi: u64, default: u64| match v {
        None => Ok(default),
        Some(s) => s
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (lo..=hi).contains(n))
            .ok_or((name, format!("\"{s}\": a whole number from {lo} to {hi}"))),
    };
    let default_pt = match law {
        G711Law::MuLaw => 0,
        G711Law::ALaw => 8,
    };
    let payload_type = num("rtp_pt", t.pt, 0, 127, default_pt)? as u8;
    let interval = Duration::from_millis(num(
        "rtp_freq_ms",
        t.freq_ms,
        MIN_SILENCE_PTIME.as_millis() as u64,
        MAX_SILENCE_PTIME.as_millis() as u64,
        20,
    )?);
    let dur = num("rtp_dur", t.dur_ms, 0, u64::from(u32::MAX), 0)?;
    let streams = num("rtp_streams", t.streams, 1, u64::from(MAX_STREAMS), 1)? as u32;
    let first_port = num("rtp_port", t.port, 0, 65535, 0)? as u16;
    if first_port != 0 && u32::from(first_port) + 2 * (streams - 1) > 65535 {
        return Err((
            "rtp_port",
            format!(
                "{first_port} + 2 × {} streams passes port 65535",
                streams - 1
            ),
        ));
    }
    Ok(SendPlan {
        dest,
        law,
        payload_type,
        interval,
        duration: (dur > 0).then(|| Duration::from_millis(dur)),
        streams,
        first_port,
    })
}

/// What a sender did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(crate) struct Sent {
    pub(crate) streams: u32,
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    pub(crate) send_errors: u64,
    /// Each stream's SSRC and local port.
    pub(crate) ssrcs: Vec<u32>,
    pub(crate) local_ports: Vec<u16>,
    pub(crate) stopped: bool,
}

/// Sends until the streams end or `stop()` says so (checked at least every 100 ms).
pub(crate) fn send(p: &SendPlan, stop: &dyn Fn() -> bool) -> Result<Sent, String> {
    let bind_ip: std::net::IpAddr = if p.dest.is_ipv6() {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    };
    let mut sockets = Vec::with_capacity(p.streams as usize);
    let mut sent = Sent {
        streams: p.streams,
        ..Sent::default()
    };
    for i in 0..p.streams {
        let port = if p.first_port == 0 {
            0
        } else {
            (u32::from(p.first_port) + 2 * i) as u16
        };
        let s = UdpSocket::bind((bind_ip, port))
            .map_err(|e| format!("stream {}: cannot bind UDP port {port}: {e}", i + 1))?;
        sent.local_ports
            .push(s.local_addr().map_or(port, |a| a.port()));
        sockets.push(s);
    }
    let start = Instant::now();
    let mut rng = gossipper_engine::rng::Rng::new(
        std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .map_or(1, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()),
    );
    let mut sched = RtpScheduler::new(start);
    let mut owner = vec![0usize; p.streams as usize];
    let mut max_len = 0;
    for i in 0..p.streams as usize {
        let mut ssrc = rng.next_u64() as u32;
        while sent.ssrcs.contains(&ssrc) {
            ssrc = rng.next_u64() as u32;
        }
        sent.ssrcs.push(ssrc);
        let mut cfg = StreamConfig::new(ssrc, p.payload_type);
        cfg.initial_sequence = rng.next_u64() as u16;
        cfg.initial_timestamp = rng.next_u64() as u32;
        let source = StreamSource::Silence {
            law: p.law,
            duration: p.duration,
        };
        let stream = RtpStream::new(start, cfg, source).with_silence_ptime(p.interval);
        max_len = max_len.max(stream.max_packet_len());
        let h = sched.insert(stream);
        let slot = h.index() as usize;
        if slot >= owner.len() {
            owner.resize(slot + 1, 0);
        }
        owner[slot] = i;
    }
    let mut buf = Vec::with_capacity(max_len);
    let mut finished = 0u32;
    loop {
        let now = Instant::now();
        sched.handle_timeout(now);
        while let Some(t) = sched.poll_transmit(now, &mut buf) {
            let sock = &sockets[owner[t.stream.index() as usize]];
            match sock.send_to(&buf[..t.len], p.dest) {
                Ok(n) => {
                    sent.packets += 1;
                    sent.bytes += n as u64;
                }
                Err(_) => sent.send_errors += 1,
            }
        }
        while let Some(ev) = sched.poll_event() {
            if matches!(ev, SchedulerEvent::StreamFinished(_)) {
                finished += 1;
            }
        }
        if finished >= p.streams {
            return Ok(sent);
        }
        if stop() {
            sent.stopped = true;
            return Ok(sent);
        }
        let Some(next) = sched.poll_timeout() else {
            return Ok(sent);
        };
        let wait = next
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100));
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

fn text(p: &Parsed) -> PlanText<'_> {
    PlanText {
        addr: p.get("rtp_addr"),
        codec: p.get("rtp_codec"),
        pt: p.get("rtp_pt"),
        freq_ms: p.get("rtp_freq_ms").or(p.get("rtp_freq")),
        dur_ms: p.get("rtp_dur"),
        streams: p.get("rtp_streams"),
        port: p.get("rtp_port"),
    }
}

/// Runs the subcommand; `args` follow `rtp_send`.
pub(crate) fn main(args: &[String]) -> ExitCode {
    run_cli("rtp_send", USAGE, args, FLAGS, |p| {
        if let Some(extra) = p.bare.first() {
            return Err(Failure::Usage(format!(
                "unexpected argument \"{extra}\" (the destination is -rtp_addr HOST:PORT)"
            )));
        }
        let plan = plan(&text(&p)).map_err(|(f, e)| Failure::Usage(format!("-{f}: {e}")))?;
        let signals = crate::signals::SignalCounts::install("rtp_send");
        let sent = send(&plan, &|| signals.stops() > 0).map_err(Failure::Failed)?;
        println!(
            "rtp_send: {} stream(s) to {}: {} packets, {} bytes, {} send errors{}",
            sent.streams,
            plan.dest,
            sent.packets,
            sent.bytes,
            sent.send_errors,
            if sent.stopped { " (stopped)" } else { "" }
        );
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_naming_the_flag() {
        let ok = plan(&PlanText {
            addr: Some("127.0.0.1:4000"),
            codec: Some("pcma/8000"),
            streams: Some("3"),
            port: Some("30000"),
            ..PlanText::default()
        })
        .unwrap();
        assert_eq!(
            (
                ok.law,
                ok.payload_type,
                ok.interval,
                ok.duration,
                ok.streams
            ),
            (G711Law::ALaw, 8, Duration::from_millis(20), None, 3)
        );
        for (t, flag) in [
            (PlanText::default(), "rtp_addr"),
            (
                PlanText {
                    addr: Some("nowhere"),
                    ..PlanText::default()
                },
                "rtp_addr",
            ),
            (
                PlanText {
                    addr: Some("127.0.0.1:1"),
                    codec: Some("G729"),
                    ..PlanText::default()
                },
                "rtp_codec",
            ),
            (
                PlanText {
                    addr: Some("127.0.0.1:1"),
                    freq_ms: Some("5"),
                    ..PlanText::default()
                },
                "rtp_freq_ms",
            ),
            (
                PlanText {
                    addr: Some("127.0.0.1:1"),
                    streams: Some("0"),
                    ..PlanText::default()
                },
                "rtp_streams",
            ),
            (
                PlanText {
                    addr: Some("127.0.0.1:1"),
                    streams: Some("3"),
                    port: Some("65534"),
                    ..PlanText::default()
                },
                "rtp_port",
            ),
        ] {
            assert_eq!(plan(&t).unwrap_err().0, flag, "{t:?}");
        }
    }
}
