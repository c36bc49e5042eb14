//! How a running test is steered from outside: signals (SIGUSR1 soft quit like `q`,
//! SIGINT/SIGTERM stop at once, SIGUSR2 screen dump), keys on a terminal, and SIPp's UDP
//! control port (`echo q >/dev/udp/127.0.0.1/8888`).
//!
//! SIGINT and SIGTERM end the run as SIPp's handler does: at once, not after the calls
//! in flight drain (which takes up to Timer B, 32 s, against a dead peer). The calls in
//! flight are aborted (a BYE or CANCEL each, SIPp's default behaviours) and the run's
//! outputs are written; a second signal ends the process immediately
//! (`signals::SignalCounts::install_with`).
//!
//! Must not: draw the screen (`observer` does) or decide exit codes (`run` does).

use std::io::Read as _;
use std::sync::mpsc;

use gossipper_engine::config::JobSpec;
use gossipper_engine::shard::Control;

use super::terminal::RawMode;
use crate::signals::SignalCounts;

/// Applies pending signals to `control`. Returns true when a screen dump is asked.
pub(super) fn apply_signals(signals: &SignalCounts, control: &Control) -> bool {
    if signals.take_usr1() {
        control.soft_quit();
    }
    if signals.stops() > 0 {
        control.hard_quit();
    }
    signals.take_usr2()
}

/// Keys from the terminal and the UDP control port, as single characters.
pub(super) struct Keys {
    rx: mpsc::Receiver<u8>,
    _raw: Option<RawMode>,
}

impl Keys {
    pub(super) fn start(spec: &JobSpec, _control: std::sync::Arc<Control>) -> Keys {
        let (tx, rx) = mpsc::channel();
        let raw = if spec.nostdin || spec.background {
            None
        } else {
            RawMode::enable()
        };
        if raw.is_some() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut b = [0u8; 1];
                let mut stdin = std::io::stdin();
                while let Ok(1) = stdin.read(&mut b) {
                    if tx.send(b[0]).is_err() {
                        break;
                    }
                }
            });
        }
        if let Some(sock) = control_socket(spec) {
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                while let Ok((n, _)) = sock.recv_from(&mut buf) {
                    for &b in buf.get(..n).unwrap_or(&[]) {
                        if !b.is_ascii_whitespace() && tx.send(b).is_err() {
                            return;
                        }
                    }
                }
            });
        }
        Keys { rx, _raw: raw }
    }

    /// The keys pressed since the last call.
    pub(super) fn drain(&self) -> Vec<u8> {
        self.rx.try_iter().collect()
    }
}

/// SIPp's control socket: `-ci`/`-cp`, default 127.0.0.1 and the first free port from
/// 8888 (SIPp binds every interface by default; we stay on the given or loopback address).
fn control_socket(spec: &JobSpec) -> Option<std::net::UdpSocket> {
    let ip = spec
        .control_ip
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    match spec.control_port {
        Some(p) => std::net::UdpSocket::bind((ip, p)).ok(),
        None => (8888..8898).find_map(|p| std::net::UdpSocket::bind((ip, p)).ok()),
    }
}
