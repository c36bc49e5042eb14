//! Shared helpers for the `api_*` end-to-end tests: start a real `gossipper ui` on
//! 127.0.0.1 with port 0 and a temp data dir, and talk HTTP/1.1 to it.
//!
//! The client is a few lines over `TcpStream` (`Connection: close`, read to EOF), so the
//! tests need no HTTP crate and see exactly the status, headers and bytes sent.

#![allow(dead_code)] // each test file uses a different subset
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub(crate) const ADMIN_PASSWORD: &str = "sipcapture";

/// The `gossipper` binary: `$GOSSIPPER_BIN`, else `<workspace>/target/debug/gossipper`.
pub(crate) fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("GOSSIPPER_BIN") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/gossipper")
}

/// A fresh, unique data dir (removed when the [`Master`] is dropped). Its own prefix:
/// `scratch_dir`'s names are `gossipper-e2e-{name}-{pid}-{n}` with a counter of their own,
/// so a test giving both the same tag once had its scratch files deleted by the master.
pub(crate) fn temp_data_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "gossipper-ui-data-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A running `gossipper ui`.
pub(crate) struct Master {
    child: Option<Child>,
    pub(crate) addr: String,
    pub(crate) data_dir: PathBuf,
    pub(crate) log: Arc<Mutex<Vec<String>>>,
    extra_args: Vec<String>,
    env: Vec<(String, String)>,
    keep_dir: bool,
}

impl Master {
    pub(crate) fn start(tag: &str) -> Master {
        Master::start_with(tag, &[], &[])
    }

    pub(crate) fn start_with(tag: &str, args: &[&str], env: &[(&str, &str)]) -> Master {
        let mut m = Master {
            child: None,
            addr: String::new(),
            data_dir: temp_data_dir(tag),
            log: Arc::new(Mutex::new(Vec::new())),
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            keep_dir: false,
        };
        m.spawn();
        m
    }

    fn spawn(&mut self) {
        let bin = binary();
        assert!(
            bin.exists(),
            "{} not found: build it first (scripts/test.sh does)",
            bin.display()
        );
        let mut cmd = Command::new(&bin);
        cmd.arg("ui")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(&self.extra_args)
            .env_remove("GOSSIPPER_BOOTSTRAP_USERNAME")
            .env_remove("GOSSIPPER_BOOTSTRAP_PASSWORD")
            .env_remove("GOSSIPPER_JWT_SECRET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn gossipper ui");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(rest.trim().to_string());
                }
                log.lock().unwrap().push(line);
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => self.addr = addr,
            Err(_) => panic!("gossipper ui did not start; log:\n{}", self.log_text()),
        }
    }

    pub(crate) fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the process (as a crash would) and starts it again on the same data dir.
    pub(crate) fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Sends SIGTERM (as systemd or Kubernetes stop a service) and waits up to `within`
    /// for the process to exit; its exit status. Panics with the log if it does not exit.
    pub(crate) fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("a running gossipper ui");
        let pid = c.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "gossipper ui did not exit within {within:?} of SIGTERM; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the process again on the same data dir after [`terminate`](Self::terminate).
    pub(crate) fn start_again(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn();
    }

    pub(crate) fn keep_dir(&mut self) {
        self.keep_dir = true;
    }

    /// One HTTP request; `token` goes into `Authorization: Bearer`.
    pub(crate) fn req(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> Resp {
        let mut headers = Vec::new();
        if let Some(t) = token {
            headers.push(("Authorization".to_string(), format!("Bearer {t}")));
        }
        http(&self.addr, method, path, &headers, body)
    }

    pub(crate) fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.req("GET", path, token, None)
    }

    pub(crate) fn json(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Resp {
        self.req(method, path, token, Some(body.to_string().as_bytes()))
    }

    /// Logs in and returns the token (panics on failure).
    pub(crate) fn login(&self, username: &str, password: &str) -> String {
        let r = self.json(
            "POST",
            "/api/v2/auth/login",
            None,
            &serde_json::json!({"username": username, "password": password}),
        );
        assert_eq!(r.status, 200, "login {username}: {}", r.text());
        r.json()["token"].as_str().expect("token").to_string()
    }

    pub(crate) fn admin_token(&self) -> String {
        self.login("admin", ADMIN_PASSWORD)
    }

    /// Creates a user with a role and returns its token.
    pub(crate) fn user_token(&self, admin: &str, username: &str, role: &str) -> String {
        let r = self.json(
            "POST",
            "/api/v2/users",
            Some(admin),
            &serde_json::json!({"username": username, "password": "password-123", "role": role}),
        );
        assert_eq!(r.status, 201, "create {username}: {}", r.text());
        self.login(username, "password-123")
    }

    /// Every file under the data dir (relative paths), for "nothing was written" checks.
    pub(crate) fn files(&self) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else {
                    out.push(p.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data_dir, &self.data_dir, &mut out);
        out.retain(|f| !f.starts_with("settings.sqlite"));
        out.sort();
        out
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        self.kill();
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// A response.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The `error` text of a JSON error body.
    pub(crate) fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error field: {}", self.text()))
            .to_string()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A raw HTTP/1.1 request with `Connection: close`.
pub(crate) fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    if let Some(b) = body {
        // The server may answer (413) and close before reading everything.
        let _ = s.write_all(b);
    }
    read_response(&mut s)
}

/// Reads one response: headers, then `Content-Length` bytes, or chunks, or to EOF.
/// (It does not wait for EOF when the length is known: a server refusing an upload
/// early may keep the socket open to drain what the client still sends.)
pub(crate) fn read_response(s: &mut impl Read) -> Resp {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let split = loop {
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => panic!("no header end in {:?}", String::from_utf8_lossy(&raw)),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut rest = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while rest.len() < len {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&buf[..n]),
            }
        }
        rest.truncate(len);
        return Resp {
            status,
            headers,
            body: rest,
        };
    }
    let _ = s.read_to_end(&mut rest);
    if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut out = Vec::new();
        let mut buf = &rest[..];
        while let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&buf[..eol]).trim(), 16).unwrap_or(0);
            if size == 0 || buf.len() < eol + 2 + size {
                break;
            }
            out.extend_from_slice(&buf[eol + 2..eol + 2 + size]);
            buf = buf.get(eol + 4 + size..).unwrap_or(&[]);
        }
        rest = out;
    }
    Resp {
        status,
        headers,
        body: rest,
    }
}

/// A scenario the engine's loader accepts.
pub(crate) const VALID_XML: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="options">
  <send retrans="500">
    <![CDATA[
      OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: gossipper <sip:gossipper@[local_ip]:[local_port]>;tag=[call_number]
      To: sut <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Contact: sip:gossipper@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"#;

/// A UAS scenario that answers every INVITE 486 Busy Here: every call placed against
/// it fails at once.
pub(crate) const BUSY_UAS_XML: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]Busy[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" optional="true" timeout="2000" ontimeout="end"/>
  <label id="end"/>
</scenario>
"#;

/// A minimal valid WAV: 8 kHz mono 16-bit, 100 samples.
pub(crate) fn wav_bytes() -> Vec<u8> {
    let samples = 100u32;
    let data_len = samples * 2;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes()); // PCM
    v.extend_from_slice(&1u16.to_le_bytes()); // mono
    v.extend_from_slice(&8000u32.to_le_bytes());
    v.extend_from_slice(&16000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len.to_le_bytes());
    v.extend(std::iter::repeat_n(0u8, data_len as usize));
    v
}

/// A minimal valid PCAP: global header + one 60-byte Ethernet frame.
pub(crate) fn pcap_bytes() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&0i32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&65535u32.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    v.extend_from_slice(&1u32.to_le_bytes()); // ts sec
    v.extend_from_slice(&0u32.to_le_bytes()); // ts usec
    v.extend_from_slice(&60u32.to_le_bytes()); // incl
    v.extend_from_slice(&60u32.to_le_bytes()); // orig
    v.extend(std::iter::repeat_n(0u8, 60));
    v
}

/// Sends raw bytes as a request (for lying `Content-Length`s and odd paths).
pub(crate) fn raw(addr: &str, bytes: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(bytes).unwrap();
    read_response(&mut s)
}
