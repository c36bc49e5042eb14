//! Prometheus metrics scraped by the real `prometheus` server (Debian package
//! `prometheus`), started by each test with a config it writes (1 s scrape interval, a
//! temp TSDB, a free loopback port), then asked through its HTTP API (`/api/v1/query`):
//!
//! - the master's `/metrics`, opened by the scrape token of `--metrics-token-file`,
//!   while a server job and a client job at 100 calls/s run: the client's calls/s, the
//!   p99 of its response-time histogram, no failed call, two jobs running; the text also
//!   passes `promtool check metrics` when promtool is there;
//! - a SIPp-style run's `-metrics_addr` against a real SIPp UAS: the same questions;
//! - a taken `-metrics_addr` port ends the run with the bind exit code.
//!
//! Every wait has a deadline; every process is killed when its guard drops.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api_support::{Master, http};
use gossipper_e2e::{Proc, Sock, free_port, gossipper_bin, peer_args, scratch_dir, sipp_bin};
use jobs_support::*;
use serde_json::{Value, json};

/// The client's target rate, calls/s.
const RATE: f64 = 100.0;
/// The scrape token of the master test.
const SCRAPE_TOKEN: &str = "prom-scrape-token-0123456789";

/// A program's path, or a panic saying how to install it.
fn tool(name: &str, package: &str) -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .unwrap();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "{name} is required for this test: install the Debian package {package} (scripts/test.sh does)"
    );
    PathBuf::from(path)
}

/// A TCP port free on 127.0.0.1 right now.
fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Percent-encodes a query parameter value (everything but RFC 3986's unreserved).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A running Prometheus server, killed when dropped.
struct Prometheus {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (`host:port`) every second at `/metrics`,
    /// with `Authorization: Bearer <the file's token>` when `token_file` is given, and
    /// waits until it is ready.
    fn start(dir: &Path, target: &str, token_file: Option<&Path>) -> Prometheus {
        let bin = tool("prometheus", "prometheus");
        let auth = token_file
            .map(|f| {
                format!(
                    "    authorization:\n      type: Bearer\n      credentials_file: {}\n",
                    f.display()
                )
            })
            .unwrap_or_default();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: gossipper\n    metrics_path: /metrics\n{auth}\
             \x20   static_configs:\n      - targets: ['{target}']\n"
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let addr = format!("127.0.0.1:{}", free_tcp_port());
        let log = dir.join("prometheus.log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(File::create(dir.join("prometheus.err")).unwrap())
            .spawn()
            .expect("start prometheus");
        let p = Prometheus { child, addr, log };
        p.wait("ready", Duration::from_secs(60), || {
            std::net::TcpStream::connect(&p.addr).is_ok()
                && http(&p.addr, "GET", "/-/ready", &[], None).status == 200
        });
        p
    }

    fn log_text(&self) -> String {
        let err = self.log.with_file_name("prometheus.err");
        format!(
            "{}{}",
            std::fs::read_to_string(&self.log).unwrap_or_default(),
            std::fs::read_to_string(err).unwrap_or_default()
        )
    }

    /// Polls `ok` every 200 ms until it holds; panics with Prometheus's log after
    /// `limit`.
    fn wait(&self, what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !ok() {
            assert!(
                Instant::now() < deadline,
                "prometheus: {what} not reached within {limit:?}; its log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// An instant query: each series' labels and value.
    fn query(&self, q: &str) -> Vec<(Value, f64)> {
        let r = http(
            &self.addr,
            "GET",
            &format!("/api/v1/query?query={}", encode(q)),
            &[],
            None,
        );
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        let v = r.json();
        assert_eq!(v["status"], "success", "{q}: {v}");
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let value = s["value"][1].as_str().unwrap().parse::<f64>().unwrap();
                (s["metric"].clone(), value)
            })
            .collect()
    }

    /// The value of a query that must give exactly one series.
    fn one(&self, q: &str) -> f64 {
        let r = self.query(q);
        assert_eq!(r.len(), 1, "{q} gave {r:?}");
        r[0].1
    }

    /// Waits until `series` has at least `n` samples in Prometheus (n scrapes of it).
    fn wait_samples(&self, series: &str, n: u32) {
        let q = format!("count_over_time({series}[2m])");
        self.wait(
            &format!("{n} samples of {series}"),
            Duration::from_secs(60),
            || {
                self.query(&q)
                    .first()
                    .is_some_and(|(_, v)| *v >= f64::from(n))
            },
        );
    }

    /// The questions both tests ask about a client run selected by `sel` (a label
    /// matcher list without braces); returns (calls/s by rate, mean calls/s gauge, p99
    /// in seconds, failed calls).
    fn client_figures(&self, sel: &str) -> (f64, f64, f64, f64) {
        let rate = self.one(&format!(
            "rate(gossipper_calls_created_total{{{sel}}}[10s])"
        ));
        let gauge = self.one(&format!(
            "avg_over_time(gossipper_calls_per_second{{{sel}}}[10s])"
        ));
        let p99 = self.one(&format!(
            "histogram_quantile(0.99, rate(gossipper_response_time_seconds_bucket{{{sel}}}[10s]))"
        ));
        let failed = self.one(&format!("gossipper_calls_failed_total{{{sel}}}"));
        eprintln!(
            "prometheus says, for {{{sel}}}: rate(calls_created_total[10s]) = {rate:.2}/s, \
             avg_over_time(calls_per_second[10s]) = {gauge:.2}/s, p99 = {:.3} ms, failed = {failed}",
            p99 * 1000.0
        );
        (rate, gauge, p99, failed)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts the figures of a client run at [`RATE`]: calls/s within ±20 %, a p99 above
/// 0 and under 1 s, no failed call.
fn assert_plausible((rate, gauge, p99, failed): (f64, f64, f64, f64)) {
    let (lo, hi) = (RATE * 0.8, RATE * 1.2);
    assert!((lo..=hi).contains(&rate), "rate of calls created {rate}/s");
    assert!((lo..=hi).contains(&gauge), "calls/s gauge {gauge}/s");
    assert!(p99 > 0.0 && p99 < 1.0, "p99 {p99} s");
    assert_eq!(failed, 0.0, "failed calls");
}

#[test]
fn prometheus_scrapes_the_masters_jobs_with_the_scrape_token() {
    let dir = scratch_dir("prom-master");
    let token_file = dir.join("scrape.token");
    std::fs::write(&token_file, format!("{SCRAPE_TOKEN}\n")).unwrap();
    let m = Master::start_with(
        "prom-master",
        &["--metrics-token-file", token_file.to_str().unwrap()],
        &[],
    );
    let tk = m.admin_token();
    let tk = tk.as_str();
    let port = free_udp_port();
    server_profile(&m, tk, "uas-prom", port);
    client_profile(&m, tk, "uac-prom", port, RATE);
    let r = m.req("POST", "/api/v2/servers/uas-prom/start", Some(tk), None);
    assert_eq!(r.status, 201, "{}", r.text());
    let server_id = r.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &server_id, Duration::from_secs(30), running);
    wait_stats_line(&m, &server_id);
    // 40 s of calls at most; the test stops it once Prometheus has answered.
    let r = m.json(
        "POST",
        "/api/v2/clients/uac-prom/start",
        Some(tk),
        &json!({"engine": {"total_calls": 4000, "max_concurrent": 500}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let client_id = r.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &client_id, Duration::from_secs(30), running);

    // The master's own answers first: the token opens /metrics only.
    let bearer = |t: &str| vec![("Authorization".to_string(), format!("Bearer {t}"))];
    let scrape = http(&m.addr, "GET", "/metrics", &bearer(SCRAPE_TOKEN), None);
    assert_eq!(scrape.status, 200, "{}", scrape.text());
    assert_eq!(
        scrape.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let wrong = http(
        &m.addr,
        "GET",
        "/metrics",
        &bearer("prom-scrape-token-0123456780"),
        None,
    );
    assert_eq!(wrong.status, 401);
    let jobs = http(&m.addr, "GET", "/api/v2/jobs", &bearer(SCRAPE_TOKEN), None);
    assert_eq!(jobs.status, 401, "the scrape token opens nothing else");

    let prom = Prometheus::start(&dir, &m.addr, Some(&token_file));
    let client = format!("job_id=\"{client_id}\",kind=\"client\"");
    prom.wait_samples(&format!("gossipper_calls_created_total{{{client}}}"), 12);
    assert_eq!(
        prom.one("up{job=\"gossipper\"}"),
        1.0,
        "the target is up (scrapes answered 200)"
    );
    let figures = prom.client_figures(&client);
    let running_jobs = prom.one("gossipper_jobs{status=\"running\"}");
    let server_failed = prom.one(&format!(
        "gossipper_calls_failed_total{{job_id=\"{server_id}\",kind=\"server\"}}"
    ));
    eprintln!("prometheus says: gossipper_jobs{{status=\"running\"}} = {running_jobs}");
    assert_plausible(figures);
    assert_eq!(running_jobs, 2.0);
    assert_eq!(server_failed, 0.0, "the server's failed calls");

    // The text passes Prometheus's own linter.
    let text = http(&m.addr, "GET", "/metrics", &bearer(SCRAPE_TOKEN), None);
    promtool_check(&dir, &text.body);

    for id in [&client_id, &server_id] {
        let r = m.req("POST", &format!("/api/v2/jobs/{id}/stop"), Some(tk), None);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    for id in [&client_id, &server_id] {
        wait_job(&m, tk, id, Duration::from_secs(30), finished);
    }
}

/// `promtool check metrics` on a scrape's text (skipped when promtool is not there:
/// the Debian package `prometheus` ships it, but only Prometheus itself is required).
fn promtool_check(dir: &Path, body: &[u8]) {
    let Some(bin) = Command::new("sh")
        .arg("-c")
        .arg("command -v promtool")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|p| !p.is_empty())
    else {
        eprintln!("promtool not found: the lint of the text is skipped");
        return;
    };
    let path = dir.join("scrape.txt");
    std::fs::write(&path, body).unwrap();
    let out = Command::new(bin)
        .args(["check", "metrics"])
        .stdin(File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(body)
    );
}

#[test]
fn prometheus_scrapes_a_sipp_style_run_at_its_metrics_addr() {
    let dir = scratch_dir("prom-sipp");
    let sport = free_port();
    let mut scmd = Command::new(sipp_bin());
    scmd.current_dir(&dir)
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &sport.to_string()]);
    peer_args(&mut scmd, &dir.join("server.csv"));
    let mut server = Proc::spawn("sipp uas", &mut scmd);
    server.wait_bound(Sock::Udp, sport);

    let metrics_port = free_tcp_port();
    let mut ccmd = Command::new(gossipper_bin());
    ccmd.current_dir(&dir)
        .arg(format!("127.0.0.1:{sport}"))
        .args([
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
        ])
        .args(["-r", "100", "-m", "4000", "-l", "500"])
        .args(["-metrics_addr", &format!("127.0.0.1:{metrics_port}")]);
    peer_args(&mut ccmd, &dir.join("client.csv"));
    let client = Proc::spawn("gossipper uac", &mut ccmd);

    let prom = Prometheus::start(&dir, &format!("127.0.0.1:{metrics_port}"), None);
    let sel = "role=\"client\"";
    let series = format!("gossipper_calls_created_total{{{sel}}}");
    prom.wait_samples(&series, 12);
    let labels = &prom.query(&series)[0].0;
    assert_eq!(labels["job"], "gossipper", "{labels}");
    assert!(
        labels["scenario"].as_str().is_some_and(|s| !s.is_empty()),
        "the run's samples carry its scenario: {labels}"
    );
    assert_plausible(prom.client_figures(sel));

    let (status, _, err) = client.quit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "gossipper after a soft quit\n{err}");
    let _ = server.quit(Duration::from_secs(30));
}

#[test]
fn a_taken_metrics_port_ends_the_run_with_the_bind_exit_code() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap();
    let dir = scratch_dir("prom-bind");
    let out = Command::new(gossipper_bin())
        .current_dir(&dir)
        .arg(format!("127.0.0.1:{}", free_port()))
        .args(["-sn", "uac", "-i", "127.0.0.1", "-m", "1", "-nostdin"])
        .args(["-p", &free_port().to_string()])
        .args(["-metrics_addr", &addr.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{err}");
    assert!(
        err.contains("-metrics_addr"),
        "the message names the flag: {err}"
    );
    let out = Command::new(gossipper_bin())
        .args(["-sn", "uac", "-metrics_addr", "nowhere", "127.0.0.1:5060"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{err}");
    assert!(err.contains("-metrics_addr"), "{err}");
    drop(held);
}
