//! The glommio side of a shard's media: its RTP socket and the one task that drives the
//! shard's sans-IO `media::MediaEngine` (inside `ShardCore`).
//!
//! Owns: the RTP socket (bound by the runner), moving datagrams in batches (recvmmsg /
//! sendmmsg through `mmsg`), sleeping until the engine's next deadline, and writing the
//! WAV recordings the engine hands out. Must not: decide anything about media (the
//! engine does) or hold the core borrowed across an await. One task per shard, never one
//! per call or stream. Each turn: drain the socket (non-blocking recvmmsg, at most
//! `RECV_ROUNDS` batches) into engine.handle_datagram → engine.handle_timeout → send the
//! queue (sendmmsg) → write recordings → sleep until engine.poll_timeout, at most
//! `MAX_SLEEP`, so new streams and arriving RTP are seen within a millisecond.
//!
//! Why no receive task: a glommio `recv_from` pending on a second socket kept this
//! executor's timers from firing in a spawned task (measured: a 1 ms sleep woke only on
//! the next SIP datagram, seconds later), so the socket is polled instead. Arrival times
//! are therefore quantised to the loop turn (≤ 1 ms), which bounds the added jitter.

use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use super::core::ShardCore;
use super::mmsg::{RecvBatch, send_batch};
use super::{clock, os};
use crate::media::{MediaEngine, PendingRecording};

/// Longest sleep of the media task.
const MAX_SLEEP: Duration = Duration::from_millis(1);
/// recvmmsg batches per turn, so a flood cannot starve the sends.
const RECV_ROUNDS: usize = 8;

/// Starts the media task of a shard on its RTP socket.
pub(crate) fn start(socket: socket2::Socket, core: Rc<RefCell<ShardCore>>) {
    let sock = os::into_glommio_udp(socket);
    glommio::spawn_local(async move {
        let fd = sock.as_raw_fd();
        let mut batch = RecvBatch::default();
        loop {
            let next = {
                let mut c = core.borrow_mut();
                let Some(m) = c.media.as_mut() else { return };
                for _ in 0..RECV_ROUNDS {
                    let n = match batch.recv(fd) {
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
                        if let Some((bytes, src)) = batch.get(i) {
                            m.handle_datagram(now, src, bytes);
                        }
                    }
                }
                let (now, wall) = clock();
                m.handle_timeout(now, wall);
                send_queue(fd, m);
                write_recordings(m);
                let warnings = m.take_warnings();
                let next = m.poll_timeout();
                c.stats.media = m.stats();
                c.events.extend(warnings.into_iter().map(crate::call::ShardEvent::Warning));
                next
            };
            let (now, _) = clock();
            let sleep = match next {
                Some(d) if d > now => (d - now).min(MAX_SLEEP),
                Some(_) => Duration::ZERO,
                None => MAX_SLEEP,
            };
            if sleep.is_zero() {
                glommio::yield_if_needed().await;
            } else {
                glommio::timer::sleep(sleep).await;
            }
        }
    })
    .detach();
}

/// The shard is about to stop: writes the last recordings and copies the counters.
pub(crate) fn finish(core: &Rc<RefCell<ShardCore>>) {
    let mut c = core.borrow_mut();
    let Some(m) = c.media.as_mut() else { return };
    write_recordings(m);
    let warnings = m.take_warnings();
    c.stats.media = c.media.as_ref().map(MediaEngine::stats).unwrap_or_default();
    c.events.extend(warnings.into_iter().map(crate::call::ShardEvent::Warning));
}

/// Sends every queued datagram (sendmmsg, never blocking); what the socket refuses is
/// counted as a send error, not retried: late RTP is useless.
fn send_queue(fd: std::os::fd::RawFd, m: &mut MediaEngine) {
    let tx = m.tx_mut();
    if tx.is_empty() {
        return;
    }
    let items: Vec<(&[u8], std::net::SocketAddr)> = tx.items().iter().map(|t| (tx.bytes(t), t.dest)).collect();
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
        let result = write_one(&path, &recorder).map_err(|e| format!("cannot write recording {}: {e}", path.display()));
        m.note_recording(result);
    }
}

fn write_one(path: &std::path::Path, recorder: &gossipper_media::CallRecorder) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    recorder.write_wav(file)?;
    Ok(())
}
