//! A real coturn (`turnserver`) for the TURN tests, started on 127.0.0.1 with its own
//! empty config, database, pid and log files in the test's scratch folder. It grants
//! allocations of 6 s at most and its nonces go stale after 3 s, so a test of a few
//! seconds meets Refresh and 438 too.

#![allow(dead_code)] // each test file uses a different subset

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use gossipper_e2e::{Proc, Sock, free_port_block};

/// The realm coturn announces.
pub(crate) const REALM: &str = "gossipper.test";
/// The shared secret of `--use-auth-secret` runs.
pub(crate) const SECRET: &str = "north-wind";

/// A coturn on 127.0.0.1 with its own config, database, pid and log files in `dir`.
pub(crate) struct Coturn {
    _proc: Proc,
    pub(crate) addr: SocketAddr,
    log: PathBuf,
}

impl Coturn {
    /// Starts coturn with `auth` (`--lt-cred-mech --user u:p`, or `--use-auth-secret
    /// --static-auth-secret S`) and waits until it listens.
    pub(crate) fn start(dir: &Path, auth: &[&str]) -> Coturn {
        let port = free_port_block(2);
        let relay = free_port_block(16);
        // An empty config: Debian's /etc/turnserver.conf sends the log to syslog.
        let conf = dir.join("turnserver.conf");
        std::fs::write(&conf, "").expect("write turnserver.conf");
        let log = dir.join("turn.log");
        let mut cmd = Command::new("turnserver");
        cmd.current_dir(dir)
            .arg("-c")
            .arg(&conf)
            .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
            .args(["--listening-port", &port.to_string()])
            .args(["--min-port", &relay.to_string()])
            .args(["--max-port", &(relay + 15).to_string()])
            .args(["--realm", REALM, "--fingerprint"])
            .args(["--no-cli", "--no-tls", "--no-dtls", "--no-tcp-relay"])
            .arg("--allow-loopback-peers")
            .arg("--max-allocate-lifetime=6")
            .arg("--stale-nonce=3")
            .arg("--userdb")
            .arg(dir.join("turndb"))
            .arg("--pidfile")
            .arg(dir.join("turnserver.pid"))
            .arg("--log-file")
            .arg(&log)
            .args(["--simple-log", "--no-stdout-log", "--verbose"])
            .args(auth);
        let mut proc = Proc::spawn("turnserver", &mut cmd);
        proc.wait_bound(Sock::Udp, port);
        Coturn {
            _proc: proc,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        }
    }

    /// Its log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
