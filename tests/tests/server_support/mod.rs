//! Shared helpers for the `server_*` end-to-end tests: start `gossipper server` with a
//! token, talk to its v1 API, start peers with their output in files, and read SIPp's
//! per-period CSV rows.

#![allow(dead_code)] // each test file uses a different subset
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::api_support::{Resp, http};
use gossipper_e2e::{Proc, Sock, StatCsv, free_port, gossipper_bin, peer_args, scratch_dir, tail};
use serde_json::Value;

pub(crate) const TOKEN: &str = "v1-test-token-0123456789";

/// A request to the API with the token (or another `Authorization` value).
pub(crate) fn call(
    api: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&str>,
) -> Resp {
    let headers: Vec<(String, String)> = auth
        .map(|a| vec![("Authorization".to_string(), a.to_string())])
        .unwrap_or_default();
    http(api, method, path, &headers, body.map(str::as_bytes))
}

pub(crate) fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

pub(crate) fn get(api: &str, path: &str) -> Value {
    let r = call(api, "GET", path, Some(&bearer()), None);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json()
}

pub(crate) fn post_control(api: &str, body: &str) -> Resp {
    call(api, "POST", "/api/v1/control", Some(&bearer()), Some(body))
}

/// A scratch dir in memory (`/dev/shm`) when there is one, else the usual one. The
/// timed tests keep their CSVs there: on a disk shared with builds, a once-a-second CSV
/// write can wait for writeback, and such a stall (18 s seen in both SIPp's and our CSV
/// at once, while another engineer's release build ran) starves the phases measured.
pub(crate) fn memory_scratch(name: &str) -> PathBuf {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        return scratch_dir(name);
    }
    let d = shm.join(format!(
        "gossipper-e2e-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Starts `cmd` with its stdout and stderr in files beside `stat` (`<stem>.out`,
/// `<stem>.err`), not pipes: a long-running peer that writes more than a pipe holds
/// (SIPp prints every unexpected message on stderr) must not block on a reader that only
/// comes at its exit.
pub(crate) fn spawn_logged(name: &str, cmd: &mut Command, stat: &Path) -> Proc {
    let log = |ext: &str| std::fs::File::create(stat.with_extension(ext)).unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log("out"))
        .stderr(log("err"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    Proc {
        child,
        name: name.to_string(),
    }
}

/// What a peer logged, for failure messages.
pub(crate) fn logs(stat: &Path) -> String {
    let read = |ext: &str| std::fs::read_to_string(stat.with_extension(ext)).unwrap_or_default();
    format!(
        "stdout:\n{}\nstderr:\n{}",
        tail(&read("out")),
        tail(&read("err"))
    )
}

/// Starts `gossipper server` with the token on `api`, waits until SIP and the API are up.
pub(crate) fn start_server(
    name: &str,
    sip_port: u16,
    api: &str,
    stat: &Path,
    extra: &[&str],
) -> Proc {
    let mut cmd = server_command(stat);
    cmd.args(extra)
        .args(["-i", "127.0.0.1", "-p", &sip_port.to_string()])
        .args(["-api_addr", api, "-api_token", TOKEN]);
    let sip = extra.contains(&"uas").then_some(sip_port);
    launch(name, &mut cmd, stat, sip, api)
}

/// `gossipper server` with SIPp's peer flags (its CSV at `stat`), without the
/// environment's bootstrap user, JWT secret or API token (each test names its own).
pub(crate) fn server_command(stat: &Path) -> Command {
    let mut cmd = Command::new(gossipper_bin());
    cmd.arg("server")
        .env_remove("GOSSIPPER_BOOTSTRAP_USERNAME")
        .env_remove("GOSSIPPER_BOOTSTRAP_PASSWORD")
        .env_remove("GOSSIPPER_JWT_SECRET")
        .env_remove("GOSSIPPER_API_TOKEN");
    peer_args(&mut cmd, stat);
    cmd
}

/// Spawns the server `cmd` (its output next to `stat`), then waits until it listens for
/// SIP on UDP `sip_port` (when given) and for the API on `api` (20 s at most).
pub(crate) fn launch(
    name: &str,
    cmd: &mut Command,
    stat: &Path,
    sip_port: Option<u16>,
    api: &str,
) -> Proc {
    let mut p = spawn_logged(name, cmd, stat);
    if let Some(port) = sip_port {
        p.wait_bound(Sock::Udp, port);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(api).is_err() {
        assert!(
            Instant::now() < deadline,
            "{name}: the API never listened on {api}\n{}",
            logs(stat)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    p
}

/// Logs in as the bootstrap admin (`api_support::ADMIN_PASSWORD`) at `path` (`/api/v2/auth/login`
/// or an alias); returns the JWT.
pub(crate) fn login_admin(api: &str, path: &str) -> String {
    let body = format!(
        r#"{{"username":"admin","password":"{}"}}"#,
        crate::api_support::ADMIN_PASSWORD
    );
    let r = call(api, "POST", path, None, Some(&body));
    assert_eq!(r.status, 200, "POST {path}: {}", r.text());
    r.json()["token"].as_str().unwrap().to_string()
}

/// Polls `GET /api/v1/stats` until `ok` holds (at most `limit`); returns the last one.
pub(crate) fn stats_until(api: &str, limit: Duration, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let s = get(api, "/api/v1/stats");
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "stats never matched: {s:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn n(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a count: {v:#}"))
}

/// SIPp's per-period rows as (seconds since the previous row, new calls in it), from the
/// epoch in `CurrentTime` and the cumulative `IncomingCall(C)`: rates from the real
/// length of each period, which stretches when the machine is busy.
pub(crate) fn sipp_periods(csv: &StatCsv) -> Vec<(f64, u64)> {
    let col = |name: &str| csv.header.iter().position(|h| h == name).unwrap();
    let (time, calls) = (col("CurrentTime"), col("IncomingCall(C)"));
    let rows: Vec<(f64, u64)> = csv
        .rows
        .iter()
        .map(|r| {
            // "2026-12-07\t13:25:06.450534\t1796649906.450534": the epoch is last.
            let epoch = r[time]
                .split('\t')
                .next_back()
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            (epoch, r[calls].trim().parse().unwrap())
        })
        .collect();
    rows.windows(2)
        .map(|w| (w[1].0 - w[0].0, w[1].1.saturating_sub(w[0].1)))
        .collect()
}

/// Whether, within `limit` of polling `GET /api/v1/stats`, two snapshots at least
/// `window_ms` of the run's own clock apart show the same count (`sample` gives both:
/// the engine's `duration_ms` and the count). Returns the count that stood still. The
/// snapshots are read after the change under test, so the window lies after it however
/// late the runner's snapshot was; a load that keeps `count` growing several times a
/// second never shows such a window.
pub(crate) fn quiet_window(
    api: &str,
    limit: Duration,
    window_ms: f64,
    sample: impl Fn(&Value) -> (f64, u64),
) -> Result<u64, String> {
    let deadline = Instant::now() + limit;
    let mut seen: Vec<(f64, u64)> = Vec::new();
    loop {
        let s = get(api, "/api/v1/stats");
        let (at, c) = sample(&s);
        // The earliest snapshot with the same count opens the window.
        seen.retain(|&(_, old)| old == c);
        if seen.iter().any(|&(t, _)| at - t >= window_ms) {
            return Ok(c);
        }
        seen.push((at, c));
        if Instant::now() >= deadline {
            return Err(format!("no quiet window of {window_ms} ms; last {s:#}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
