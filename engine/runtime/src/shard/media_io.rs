//! The I/O side of a shard's media: its RTP socket, and the WAV recordings the endpoint's
//! media engine hands out.
//!
//! Owns: the RTP socket (bound by the runner, registered in the shard's poller), moving
//! datagrams in batches (recvmmsg / sendmmsg through `mmsg`), and writing recordings.
//! Must not: decide anything about media (the endpoint's `MediaEngine` does), keep a
//! task or a timer: the shard loop calls `receive` and `send` every turn and wakes for the
//! endpoint's `poll_timeout`, which includes the media deadlines. Arrival times are the
//! turn's `now` (a turn lasts well under a millisecond), which bounds the jitter this adds.

use std::os::fd::AsRawFd;
use std::time::Instant;

use super::mmsg::{RecvBatch, send_all};
use crate::endpoint::Endpoint;
use crate::media::{MediaTx, PendingRecording};
use crate::poller::{Poller, READ, Registry, Token};

/// recvmmsg batches per turn, so a flood cannot starve the sends.
const RECV_ROUNDS: usize = 8;

/// A shard's RTP socket and its buffers.
pub(crate) struct MediaIo {
    socket: socket2::Socket,
    /// RTP port + 1: what peers send their RTCP to (we send ours from `socket`).
    rtcp: socket2::Socket,
    local: std::net::SocketAddr,
    rx: RecvBatch,
    tx: MediaTx,
}

impl MediaIo {
    /// Takes the shard's bound, non-blocking RTP and RTCP sockets and registers them.
    pub(crate) fn new(
        socket: socket2::Socket,
        rtcp: socket2::Socket,
        registry: &Registry,
    ) -> std::io::Result<MediaIo> {
        registry.add(socket.as_raw_fd(), Token::Rtp, READ)?;
        registry.add(rtcp.as_raw_fd(), Token::Rtcp, READ)?;
        let local = socket
            .local_addr()?
            .as_socket()
            .unwrap_or(std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        Ok(MediaIo {
            socket,
            rtcp,
            local,
            rx: RecvBatch::default(),
            tx: MediaTx::default(),
        })
    }

    /// The RTP socket's address (what RTCP copies for HEP name as ours).
    pub(crate) fn local(&self) -> std::net::SocketAddr {
        self.local
    }

    /// Receives what waits on the RTP and RTCP sockets (when the poller says it may)
    /// into `ep`, which tells RTP from RTCP by content.
    pub(crate) fn receive(&mut self, ep: &mut Endpoint, poller: &Poller, now: Instant) {
        for (token, fd) in [
            (Token::Rtp, self.socket.as_raw_fd()),
            (Token::Rtcp, self.rtcp.as_raw_fd()),
        ] {
            if poller.may_read(token) {
                self.drain(fd, ep, now);
            }
        }
    }

    fn drain(&mut self, fd: std::os::fd::RawFd, ep: &mut Endpoint, now: Instant) {
        for _ in 0..RECV_ROUNDS {
            let n = match self.rx.recv(fd) {
                Ok(n) => n,
                Err(_) => {
                    ep.handle_rtp_receive_error();
                    break;
                }
            };
            for i in 0..n {
                if let Some((bytes, src)) = self.rx.get(i) {
                    ep.handle_rtp(now, src, bytes);
                }
            }
            if n < super::mmsg::BATCH {
                break;
            }
        }
    }

    /// Sends the RTP/RTCP the endpoint queued (never waiting: what the socket refuses is
    /// counted, not retried, as late RTP is useless) and writes finished recordings.
    pub(crate) fn send(&mut self, ep: &mut Endpoint) {
        let fd = self.socket.as_raw_fd();
        while ep.poll_rtp_transmit(&mut self.tx) {
            let tx = &self.tx;
            let items = tx.items();
            let done = send_all(fd, items.len(), &|i| (tx.bytes(&items[i]), items[i].dest));
            let lost = items.len() - done.sent;
            if lost > 0 {
                ep.handle_rtp_send_failures(lost as u64);
            }
            self.tx.clear();
        }
        while let Some(rec) = ep.poll_recording() {
            let result = write_recording(&rec)
                .map_err(|e| format!("cannot write recording {}: {e}", rec.path.display()));
            ep.handle_recording_written(result);
        }
    }
}

/// Writes one recording (WAV, 8 kHz 16-bit), creating its directory.
pub(super) fn write_recording(rec: &PendingRecording) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = rec.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::io::BufWriter::new(std::fs::File::create(&rec.path)?);
    rec.recorder.write_wav(file)?;
    Ok(())
}
