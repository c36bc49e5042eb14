//! A real Kamailio proxy for the stream transport tests: writes the config from
//! `kamailio.cfg.in` (ports, certificate, where each leg goes), starts `kamailio -DD -E`
//! on 127.0.0.1 in its own process group, waits until it listens, and kills it (by its
//! PID's group) when dropped. Missing Kamailio is a failure, never a skip:
//! scripts/test.sh installs it (Debian packages kamailio, kamailio-tls-modules,
//! kamailio-websocket-modules).

#![allow(dead_code, unreachable_pub)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gossipper_e2e::{Sock, bound_by, free_port, run, sipp_bin, tail};

/// Where Kamailio sends each leg.
pub struct Legs {
    /// Requests that arrived over a stream go here (e.g. `sip:127.0.0.1:5070;transport=udp`).
    pub uas_uri: String,
    /// Requests that arrived over UDP go here (e.g. `sip:127.0.0.1:5071;transport=tls`).
    pub stream_uri: String,
}

/// A running Kamailio; killed on drop.
pub struct Kamailio {
    child: Child,
    pub udp_port: u16,
    /// SIP over TCP and WS (the same socket).
    pub tcp_port: u16,
    /// SIP over TLS and WSS (the same socket).
    pub tls_port: u16,
    pub dir: PathBuf,
    log: PathBuf,
}

/// The Kamailio binary; panics with the install hint when it is missing.
pub fn kamailio_bin() -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg("command -v kamailio || ls /usr/sbin/kamailio")
        .output()
        .expect("sh runs");
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    assert!(
        !path.is_empty(),
        "kamailio is required for this test: apt-get install kamailio kamailio-tls-modules kamailio-websocket-modules (scripts/test.sh does)"
    );
    PathBuf::from(path)
}

impl Kamailio {
    /// Starts Kamailio with fresh ports and a generated EC P-256 certificate.
    pub fn start(dir: &Path, legs: &Legs) -> Kamailio {
        let (udp_port, tcp_port, tls_port) = (free_port(), free_port(), free_port());
        let cert = gossipper_engine::transport::tls::self_signed(&[
            "127.0.0.1".into(),
            "localhost".into(),
        ])
        .expect("certificate");
        let (cert_path, key_path) = (dir.join("kamailio-cert.pem"), dir.join("kamailio-key.pem"));
        std::fs::write(&cert_path, &cert.cert_pem).expect("write cert");
        std::fs::write(&key_path, &cert.key_pem).expect("write key");
        let template = include_str!("kamailio.cfg.in");
        let cfg = template
            .replace("@UDP_PORT@", &udp_port.to_string())
            .replace("@TCP_PORT@", &tcp_port.to_string())
            .replace("@TLS_PORT@", &tls_port.to_string())
            .replace("@TLS_CERT@", &cert_path.display().to_string())
            .replace("@TLS_KEY@", &key_path.display().to_string())
            .replace("@UAS_URI@", &legs.uas_uri)
            .replace("@STREAM_URI@", &legs.stream_uri);
        let cfg_path = dir.join("kamailio.cfg");
        std::fs::write(&cfg_path, cfg).expect("write kamailio.cfg");
        Kamailio::spawn(dir, &cfg_path, udp_port, tcp_port, tls_port)
    }

    /// Starts Kamailio as a registrar for `domain` (`registrar.cfg.in`): REGISTER with
    /// Digest and the plain-text `password`, bindings in memory, INVITEs routed to them.
    /// UDP only (`tcp_port`, `tls_port` are 0).
    pub fn start_registrar(dir: &Path, domain: &str, password: &str) -> Kamailio {
        let udp_port = free_port();
        let cfg = include_str!("registrar.cfg.in")
            .replace("@UDP_PORT@", &udp_port.to_string())
            .replace("@DOMAIN@", domain)
            .replace("@PASSWORD@", password)
            .replace("@USER@", "any user");
        let cfg_path = dir.join("kamailio-registrar.cfg");
        std::fs::write(&cfg_path, cfg).expect("write kamailio-registrar.cfg");
        Kamailio::spawn(dir, &cfg_path, udp_port, 0, 0)
    }

    fn spawn(dir: &Path, cfg_path: &Path, udp_port: u16, tcp_port: u16, tls_port: u16) -> Kamailio {
        let bin = kamailio_bin();
        let run_dir = dir.join("kamailio-run");
        std::fs::create_dir_all(&run_dir).expect("run dir");
        let log = dir.join("kamailio.log");
        let log_file = std::fs::File::create(&log).expect("kamailio log");
        let child = Command::new(&bin)
            .arg("-f")
            .arg(cfg_path)
            .args(["-DD", "-E", "-m", "64", "-M", "8"])
            .arg("-P")
            .arg(dir.join("kamailio.pid"))
            .arg("-Y")
            .arg(&run_dir)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut k = Kamailio {
            child,
            udp_port,
            tcp_port,
            tls_port,
            dir: dir.to_path_buf(),
            log,
        };
        k.wait_listening();
        k
    }

    /// Waits until Kamailio's main process holds all three sockets (UDP bound, TCP and
    /// TLS listening): the same readiness check as every other server (`bound_by`).
    fn wait_listening(&mut self) {
        let start = Instant::now();
        let pid = self.child.id();
        loop {
            let up = bound_by(pid, Sock::Udp, self.udp_port)
                && [self.tcp_port, self.tls_port]
                    .iter()
                    .filter(|p| **p != 0)
                    .all(|p| bound_by(pid, Sock::TcpListen, *p));
            if up {
                return;
            }
            let exited = self.child.try_wait().expect("try_wait");
            assert!(
                exited.is_none() && start.elapsed() < Duration::from_secs(15),
                "kamailio is not listening on {}/udp, {}/tcp and {}/tls ({}):\n{}",
                self.udp_port,
                self.tcp_port,
                self.tls_port,
                match exited {
                    Some(s) => format!("it exited: {s}"),
                    None => "after 15 s".into(),
                },
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The end of Kamailio's log, for failure messages.
    pub fn log_tail(&self) -> String {
        gossipper_e2e::tail(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// The request lines of `method` in the log (`xlog` in registrar.cfg.in: method,
    /// URI, source, CSeq, Expires).
    pub fn requests(&self, method: &str) -> Vec<String> {
        let needle = format!("REQ {method} ");
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_string)
            .collect()
    }

    /// SIPp's one call to `user` through this registrar (see [`call_aor`]), again every
    /// 300 ms until it succeeds: a binding is there and routes to a live scenario. Panics
    /// after 10 s naming `what` was called, with SIPp's output, the log's end and
    /// `more()` (e.g. the callee's own log).
    pub fn wait_reachable(&self, dir: &Path, user: &str, what: &str, more: impl Fn() -> String) {
        self.wait_answered(dir, user, &["-sn", "uac"], what, more);
    }

    /// As [`Kamailio::wait_reachable`], the caller being SIPp's `scenario` arguments
    /// (`["-sf", path]`: e.g. a caller that expects a 486).
    pub fn wait_answered(
        &self,
        dir: &Path,
        user: &str,
        scenario: &[&str],
        what: &str,
        more: impl Fn() -> String,
    ) {
        let start = Instant::now();
        loop {
            let (code, out) = call_aor_with(dir, self.udp_port, user, 1, scenario);
            if code == Some(0) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no call reached {what} in 10 s (sipp exit {code:?}):\n{out}\nkamailio:\n{}{}",
                self.log_tail(),
                more()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // Kamailio forks workers: signal the whole group we created for it, by its id.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// SIPp's `uac` calling `user` at the registrar on `kport` (127.0.0.1), `n` calls at 5/s
/// from `dir`: its exit code (0: every call reached the bound contact and succeeded;
/// 1: a call failed, e.g. the registrar's 404 for a user with no binding) and the tail
/// of its output.
pub fn call_aor(dir: &Path, kport: u16, user: &str, n: u32) -> (Option<i32>, String) {
    call_aor_with(dir, kport, user, n, &["-sn", "uac"])
}

/// As [`call_aor`], SIPp running `scenario` (`["-sf", path]` or `["-sn", name]`).
pub fn call_aor_with(
    dir: &Path,
    kport: u16,
    user: &str,
    n: u32,
    scenario: &[&str],
) -> (Option<i32>, String) {
    let (status, out, err) = run(
        "sipp uac",
        Command::new(sipp_bin())
            .current_dir(dir)
            .args(scenario)
            .args([
                "-s",
                user,
                "-i",
                "127.0.0.1",
                "-p",
                &free_port().to_string(),
                "-m",
                &n.to_string(),
                "-r",
                "5",
                "-timeout",
                "10s",
                "-recv_timeout",
                "4000",
                "-nostdin",
                &format!("127.0.0.1:{kport}"),
            ]),
        Duration::from_secs(20),
    );
    (status.code(), format!("{}\n{}", tail(&out), tail(&err)))
}
