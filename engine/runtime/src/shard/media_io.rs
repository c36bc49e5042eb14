//! The I/O side of a shard's media: its RTP socket, driven from the shard loop, feeding
//! the shard's sans-IO `media::MediaEngine` (inside `ShardCore`).
//!
//! Owns: the RTP socket (bound by the runner), moving datagrams in batches (recvmmsg /
//! sendmmsg through `mmsg`), sleeping until the engine's next deadline, and writing the
//! WAV recordings the engine hands out. Must not: decide anything about media (the
//! engine does) or hold the core borrowed across an await. No task or timer of its own,
//! never one per call or stream: the shard loop calls `MediaIo::turn` every turn and
//! wakes for `ShardCore::next_deadline`, which includes the media deadlines. Each turn: drain the socket (non-blocking recvmmsg, at most
//! `RECV_ROUNDS` batches) into engine.handle_datagram → engine.handle_timeout → send the
//! queue (sendmmsg) → write recordings. The loop sleeps at most 1 ms, so arriving RTP
//! is seen within a millisecond.
//!
//! Why polled, not a glommio receive task: a glommio `recv_from` pending on a second
//! socket kept timers of a spawned task from firing (measured: a 1 ms sleep woke only on
//! the next SIP datagram, seconds later). Arrival times are therefore quantised to the
//! loop turn (≤ 1 ms), which bounds the jitter this adds.

use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use super::clock;
use super::mmsg::{RecvBatch, send_batch};
use crate::endpoint::ShardCore;
use crate::media::{MediaEngine, PendingRecording};

/// recvmmsg batches per turn, so a flood cannot starve the sends.
const RECV_ROUNDS: usize = 8;

/// A shard's RTP socket and receive buffers; `turn` runs once per loop turn.
pub(crate) struct MediaIo {
    socket: socket2::Socket,
    batch: RecvBatch,
}

impl MediaIo {
    /// The RTP socket's descriptor (the shard loop waits on it).
    pub(crate) fn fd(&self) -> std::os::fd::RawFd {
        self.socket.as_raw_fd()
    }

    /// Takes the shard's bound, non-blocking RTP socket.
    pub(crate) fn new(socket: socket2::Socket) -> MediaIo {
        MediaIo {
            socket,
            batch: RecvBatch::default(),
        }
    }

    /// One turn: receive what is waiting, send what is due, write finished recordings.
    pub(crate) fn turn(&mut self, core: &Rc<RefCell<ShardCore>>) {
        let fd = self.socket.as_raw_fd();
        let mut c = core.borrow_mut();
        let Some(m) = c.media.as_mut() else { return };
        for _ in 0..RECV_ROUNDS {
            let n = match self.batch.recv(fd) {
                Ok(n) => n,
                Err(_) => {
                    m.note_receive_error();
                    break;
                }
            };
            if n == 0 {
                break;
            }
            let (now, _) = clock();
            for i in 0..n {
                if let Some((bytes, src)) = self.batch.get(i) {
                    m.handle_datagram(now, src, bytes);
                }
            }
        }
        let (now, wall) = clock();
        m.handle_timeout(now, wall);
        send_queue(fd, m);
        write_recordings(m);
        let warnings = m.take_warnings();
        c.stats.media = m.stats();
        c.events
            .extend(warnings.into_iter().map(crate::call::ShardEvent::Warning));
    }
}

/// The shard is about to stop: writes the last recordings and copies the counters.
pub(crate) fn finish(core: &Rc<RefCell<ShardCore>>) {
    let mut c = core.borrow_mut();
    let Some(m) = c.media.as_mut() else { return };
    write_recordings(m);
    let warnings = m.take_warnings();
    c.stats.media = c.media.as_ref().map(MediaEngine::stats).unwrap_or_default();
    c.events
        .extend(warnings.into_iter().map(crate::call::ShardEvent::Warning));
}

/// Sends every queued datagram (sendmmsg, never blocking); what the socket refuses is
/// counted as a send error, not retried: late RTP is useless.
fn send_queue(fd: std::os::fd::RawFd, m: &mut MediaEngine) {
    let tx = m.tx_mut();
    if tx.is_empty() {
        return;
    }
    let items: Vec<(&[u8], std::net::SocketAddr)> =
        tx.items().iter().map(|t| (tx.bytes(t), t.dest)).collect();
    let total = items.len();
    let mut sent = 0;
    // A send error on one destination (ICMP unreachable reported late) must not stop the
    // rest of the batch: skip the failing datagram and carry on.
    let mut errors = 0u64;
    while sent < total {
        match send_batch(fd, items.get(sent..).unwrap_or(&[])) {
            Ok(0) => break,
            Ok(n) => sent += n,
            Err(_) => {
                sent += 1;
                errors += 1;
            }
        }
    }
    errors += (total - sent) as u64;
    drop(items);
    tx.clear();
    m.note_send_errors(errors);
}

/// Writes the finished recordings (WAV, 8 kHz 16-bit), creating their directory.
fn write_recordings(m: &mut MediaEngine) {
    for PendingRecording { path, recorder } in m.take_recordings() {
        let result = write_one(&path, &recorder)
            .map_err(|e| format!("cannot write recording {}: {e}", path.display()));
        m.note_recording(result);
    }
}

fn write_one(
    path: &std::path::Path,
    recorder: &gossipper_media::CallRecorder,
) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    recorder.write_wav(file)?;
    Ok(())
}
