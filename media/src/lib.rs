//! gossipper media: RTP for SIP load tests, as a sans-IO library.
//!
//! Everything here is a plain state machine fed `(now, input)` whose outputs are polled;
//! no threads, sockets or clocks inside. The engine's shards own the sockets and drive it.
//! Files (pcap, WAV) are read once when a scenario loads, and a bad file is an error that
//! names it there, never a failed call later.
//!
//! | module | job |
//! |---|---|
//! | [`g711`] | µ-law / A-law encode and decode (bit-exact, table decode) |
//! | [`rtp`] | RTP header, RFC 4733 telephone events, RTCP SR/RR/SDES wire formats |
//! | [`pcap_source`] | pcap → UDP payloads with original gaps (`play_pcap_audio/video`) |
//! | [`pcap_ip`] | pcap → UDP datagrams and TCP segments with addresses (pcap2scenario) |
//! | [`wav_source`] | 8 kHz mono PCM WAV → 20 ms G.711 frames (WAV playback) |
//! | [`stream_file`] | SIPp `rtp_stream` files: raw codec bytes or WAV → frames |
//! | [`stream`] | one outgoing stream: sequence, timestamp, loops, pause/resume/stop, DTMF |
//! | [`scheduler`] | all outgoing streams of a shard in one timer wheel, batch output |
//! | [`receive`] | RFC 3550 loss and jitter per call, unexpected sources counted |
//! | [`rtcp_report`] | our SR/RR + SDES compound packet |
//! | [`quality`] | G.107 E-model R-factor and MOS |
//! | [`record`] | per-call WAV recording, mono or stereo duplex |
//! | [`dtls_srtp`] | DTLS-SRTP without ICE for classic SAVP calls: setup roles, fingerprints, RFC 7983 demux |
//! | [`srtp`] | SRTP/SRTCP (RFC 3711) in place, SDES `a=crypto` lines (RFC 4568) |
//! | [`echo`] | `-rtp_echo`: send each datagram back to its source |
//! | [`webrtc`] | one call's WebRTC bridge over str0m: SDP, ICE, DTLS-SRTP, audio, DTMF, stats |
//! | [`tone`], [`asset_gen`] | deterministic tones and the generated `assets/media/` files |
//!
//! # Drive loop (one shard)
//!
//! ```text
//! // scenario load (not on the shard):
//! let pcap = Arc::new(pcap_source::load_pcap(path)?);          // error names the file
//! let wav  = Arc::new(wav_source::load_wav(path, G711Law::MuLaw)?);
//!
//! // call starts media:
//! let h = scheduler.insert(RtpStream::new(now, cfg, StreamSource::Pcap(pcap)));
//! // scenario commands: scheduler.pause(h, now) / resume / stop / send_dtmf(h, now, "123")
//!
//! // every loop turn:
//! scheduler.handle_timeout(now);
//! while let Some(t) = scheduler.poll_transmit(now, &mut buf) { batch.push(dest_of(t.stream), &buf[..t.len]) }
//! // then sendmmsg
//! while let Some(SchedulerEvent::StreamFinished(h)) = scheduler.poll_event() { … }
//! for each datagram on a media port:
//!     if rtp::looks_like_rtcp(d) { receiver.handle_rtcp(now, src, d) }
//!     else if let Some(t) = echo.handle_datagram(src, d) { send d to t.dest }
//!     else if let Received::Accepted(p) = receiver.handle_rtp(now, src, d) { recorder.handle_packet(now, Direction::Received, &p) }
//! every 500 ms per call: rtcp_report::write_report(buf, now, ntp, ssrc, cname, stream, receiver)
//! arm the shard timer for scheduler.poll_timeout()
//!
//! // call ends:
//! let q = quality::estimate(&Conditions { one_way_delay, loss_percent, ..Default::default() });
//! recorder.write_wav(file)?;  scheduler.remove(h);
//! ```
#![warn(missing_docs)]

pub mod asset_gen;
pub mod dtls_srtp;
pub mod echo;
pub mod g711;
pub mod pcap_ip;
pub mod pcap_source;
pub mod quality;
pub mod receive;
pub mod record;
pub mod rtcp_report;
pub mod rtp;
pub mod scheduler;
pub mod srtp;
pub mod stream;
pub mod stream_file;
pub mod tone;
pub mod wav_source;
pub mod webrtc;

pub use echo::{EchoTransmit, RtpEcho};
pub use g711::G711Law;
pub use pcap_file::DataLink;
pub use pcap_source::{
    PcapPayloads, PcapSourceError, link_name, load_pcap, parse_pcap_link, read_pcap, read_pcap_as,
};
pub use quality::{Codec, Conditions, Quality};
pub use receive::{ReceiveStats, Received, RtpReceiver, SourcePolicy};
pub use record::{CallRecorder, Direction, RecordMode};
pub use scheduler::{RtpScheduler, SchedulerEvent, StreamHandle};
pub use stream::{Loops, RtpStream, StreamConfig, StreamSource};
pub use stream_file::{StreamFileError, load_stream_file, read_stream_file};
pub use wav_source::{AudioFrames, WavSourceError, load_wav, read_wav};
