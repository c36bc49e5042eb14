//! The command line a tester can trust (issue 17), from the outside: SIGINT and SIGTERM
//! stop a headless run at once with its calls aborted and its outputs written, a second
//! signal ends it immediately, every number on the final screens agrees with the run's
//! own -trace_stat and -trace_counts CSVs and summary.json, thresholds decide exit 2, and
//! the help, typo and `ui --listen` answers say what is accepted.

use std::net::UdpSocket;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gossipper_e2e::{
    Proc, Sock, StatCsv, free_port, gossipper_bin, run, scratch_dir, sipp_bin, tail,
};

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// A silent peer: counts the SIP requests it receives by method, answers nothing.
struct Sink {
    sock: UdpSocket,
}

impl Sink {
    fn new() -> (Sink, u16) {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind the sink");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let port = sock.local_addr().expect("addr").port();
        (Sink { sock }, port)
    }

    /// Methods of the requests received until nothing arrives for 200 ms.
    fn drain(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = self.sock.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            out.push(text.split(' ').next().unwrap_or("").to_string());
        }
        out
    }
}

/// A headless uac against a silent peer, with every output asked for.
fn headless_against(dir: &Path, port: u16) -> Proc {
    let mut cmd = Command::new(gossipper_bin());
    cmd.current_dir(dir).args([
        &format!("127.0.0.1:{port}"),
        "-sn",
        "uac",
        "-i",
        "127.0.0.1",
        "-r",
        "20",
        "-nostdin",
        "-trace_stat",
        "-stf",
        "stat.csv",
        "-fd",
        "1",
        "-trace_screen",
        "-screen_file",
        "screen.txt",
        "-summary_json",
        "summary.json",
        "-cp",
        &free_port().to_string(),
    ]);
    Proc::spawn("gossipper uac (headless)", &mut cmd)
}

/// Waits for the CSV's first periodic row: the run is up and calls are in flight.
fn wait_running(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(dir.join("stat.csv")).unwrap_or_default();
        if text.lines().count() >= 2 {
            return;
        }
        assert!(Instant::now() < deadline, "no statistics row:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop_within_a_second(sig: &str) {
    let dir = scratch_dir(&format!("sig-{sig}"));
    let (sink, port) = Sink::new();
    let p = headless_against(&dir, port);
    wait_running(&dir);
    let invites = sink.drain().iter().filter(|m| *m == "INVITE").count();
    assert!(invites > 0, "calls are in flight");
    let sent = Instant::now();
    signal(p.child.id(), sig);
    let (status, out, err) = p.wait(Duration::from_secs(10));
    let took = sent.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "SIG{sig} took {took:?} (a drain would wait for Timer B, 32 s)\n{}",
        tail(&err)
    );
    // The calls in flight were aborted as SIPp's default behaviours do: a CANCEL each.
    let after = sink.drain();
    let cancels = after.iter().filter(|m| *m == "CANCEL").count();
    assert!(cancels > 0, "aborted calls send CANCEL: {after:?}");
    // Every output is written: the final screens, the CSV's last row, summary.json.
    assert!(
        out.contains("Test Terminated"),
        "final screens:\n{}",
        tail(&out)
    );
    assert!(dir.join("screen.txt").is_file(), "the screen file");
    let csv = StatCsv::read(&dir.join("stat.csv"));
    let created = csv.last("OutgoingCall(C)");
    assert_eq!(
        csv.last("FailedCall(C)"),
        created,
        "each aborted call counts as failed"
    );
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).expect("summary.json"))
            .expect("summary parses");
    assert_eq!(s["total_calls"], created, "summary and CSV agree");
    assert_eq!(s["verdict"]["status"], "fail", "{}", s["verdict"]);
    assert_eq!(
        status.code(),
        Some(1),
        "calls failed: exit 1\n{}",
        tail(&err)
    );
}

#[test]
fn sigint_stops_a_headless_run_within_a_second_and_writes_its_outputs() {
    stop_within_a_second("INT");
}

#[test]
fn sigterm_as_timeout_sends_it_stops_within_a_second_too() {
    stop_within_a_second("TERM");
}

#[test]
fn a_second_sigint_ends_a_stuck_run_at_once() {
    // A run stuck writing its -trace_msg file (a FIFO nobody reads): the first SIGINT's
    // stop cannot finish, the second ends the process by SIGINT's default action.
    let dir = scratch_dir("sig-stuck");
    let fifo = dir.join("messages.fifo");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success();
    assert!(made, "mkfifo");
    let (sink, port) = Sink::new();
    let mut cmd = Command::new(gossipper_bin());
    cmd.current_dir(&dir)
        .args([
            &format!("127.0.0.1:{port}"),
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-r",
            "500",
            "-nostdin",
            "-trace_msg",
            "-message_file",
        ])
        .arg(&fifo)
        .args(["-cp", &free_port().to_string()]);
    let p = Proc::spawn("gossipper uac (stuck)", &mut cmd);
    // Opening the read end lets the writer's open return; nothing is ever read.
    let _reader = std::fs::File::open(&fifo).expect("open the FIFO");
    // Stuck once the pipe is full: INVITEs stop arriving.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = 0;
    loop {
        let got = sink.drain().len();
        if got == 0 && seen > 0 {
            break;
        }
        seen += got;
        assert!(
            Instant::now() < deadline,
            "the run never stalled ({seen} messages)"
        );
    }
    let pid = p.child.id();
    signal(pid, "INT");
    let gone = Instant::now() + Duration::from_millis(500);
    while Instant::now() < gone {
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "the stuck run ended on the first SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    signal(pid, "INT");
    let (status, _out, err) = p.wait(Duration::from_secs(10));
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(
        status.signal(),
        Some(2),
        "the second SIGINT ended the process by its default action: {status:?}\n{}",
        tail(&err)
    );
}

/// A field of the screen file after `label`, as a number.
fn after<'a>(text: &'a str, label: &str) -> &'a str {
    let i = text
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"));
    text[i + label.len()..]
        .split_whitespace()
        .next()
        .unwrap_or("")
}

/// The cumulative column of a statistics-screen row (`  Name | periodic | cumulative`).
fn cumulative(text: &str, row: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(row))
        .unwrap_or_else(|| panic!("no row {row}"));
    line.split('|')
        .nth(2)
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or_else(|| panic!("bad row {line:?}"))
}

#[test]
fn every_number_on_the_screens_agrees_with_the_runs_own_csv() {
    let dir = scratch_dir("screen-numbers");
    let sport = free_port();
    let cport = free_port();
    let mut uas = Command::new(sipp_bin());
    uas.current_dir(&dir).args([
        "-sn",
        "uas",
        "-i",
        "127.0.0.1",
        "-p",
        &sport.to_string(),
        "-nostdin",
        "-timeout",
        "60s",
        "-cp",
        &free_port().to_string(),
    ]);
    let mut server = Proc::spawn("sipp uas", &mut uas);
    server.wait_bound(Sock::Udp, sport);
    // 30 calls at 10/s held 3 s: open calls climb until the first one ends, so the peak
    // (30) comes near 2.9 s after the start.
    let (status, out, err) = run(
        "gossipper uac",
        Command::new(gossipper_bin()).current_dir(&dir).args([
            &format!("127.0.0.1:{sport}"),
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-p",
            &cport.to_string(),
            "-m",
            "30",
            "-r",
            "10",
            "-d",
            "3000",
            "-nostdin",
            "-trace_stat",
            "-stf",
            "stat.csv",
            "-fd",
            "1",
            "-trace_counts",
            "-trace_screen",
            "-screen_file",
            "screen.txt",
            "-summary_json",
            "summary.json",
            "-cp",
            &free_port().to_string(),
        ]),
        Duration::from_secs(60),
    );
    drop(server);
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    let screen = std::fs::read_to_string(dir.join("screen.txt")).expect("screen file");
    let csv = StatCsv::read(&dir.join("stat.csv"));
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).expect("summary"))
            .expect("summary parses");

    // Header and totals.
    let created = csv.last("TotalCallCreated");
    assert_eq!(created, 30);
    let total_line = screen
        .lines()
        .nth(2)
        .expect("the scenario screen's second line");
    assert!(
        total_line.split_whitespace().any(|w| w == "30"),
        "Total-calls: {total_line}"
    );
    assert_eq!(
        cumulative(&screen, "Total Calls created"),
        csv.last("TotalCallCreated")
    );
    assert_eq!(
        cumulative(&screen, "Outgoing calls created"),
        csv.last("OutgoingCall(C)")
    );
    assert_eq!(
        cumulative(&screen, "Successful call"),
        csv.last("SuccessfulCall(C)")
    );
    assert_eq!(
        cumulative(&screen, "Failed call"),
        csv.last("FailedCall(C)")
    );

    // "Call limit 30 hit, X s period": the time since the previous screen (a second at
    // most), not SIPp's period / 100.
    let period: f64 = after(&screen, "Call limit 30 hit, ")
        .parse()
        .expect("a period");
    assert!(
        (0.0..=1.1).contains(&period),
        "period {period} s:\n{screen}"
    );
    // "X ms scheduler resolution": the period over the engine's loop turns.
    let resolution: u64 = screen
        .lines()
        .find(|l| l.contains("ms scheduler resolution"))
        .and_then(|l| {
            l.split("ms scheduler resolution")
                .next()?
                .split_whitespace()
                .last()?
                .parse()
                .ok()
        })
        .expect("the scheduler line");
    assert!(
        resolution <= 30,
        "resolution {resolution} ms is not the refresh period"
    );

    // "Peak was N calls, after T s": the CSV's highest CurrentCall, and when.
    let peak: u64 = after(&screen, "Peak was ").parse().expect("peak");
    let i = csv
        .header
        .iter()
        .position(|h| h == "CurrentCall")
        .expect("CurrentCall");
    let csv_peak = csv
        .rows
        .iter()
        .filter_map(|r| r.get(i)?.trim().parse::<u64>().ok())
        .max()
        .expect("rows");
    assert!(peak >= csv_peak, "peak {peak} < the CSV's {csv_peak}");
    assert_eq!(
        peak, s["achieved"]["peak_concurrency"],
        "screen and summary"
    );
    assert_eq!(peak, 30, "every call was open before the first ended");
    let peak_at: u64 = after(&screen, &format!("Peak was {peak} calls, after "))
        .parse()
        .expect("peak time");
    let peak_at_s = s["achieved"]["peak_at_s"].as_f64().expect("peak_at_s");
    assert_eq!(peak_at, peak_at_s.floor() as u64, "screen and summary");
    assert_eq!(peak_at, 2, "the 30th call opens 2.9 s in");

    // No invented task counts; SIPp's RTP line in place of a repeated sockets line.
    assert!(!screen.contains("Woken up"), "{screen}");
    assert_eq!(screen.matches("open sockets").count(), 1, "{screen}");
    assert!(screen.contains("0 Total RTP pckts sent"), "{screen}");
    let sockets: u64 = screen
        .lines()
        .find(|l| l.contains("open sockets"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .expect("sockets");
    assert!(sockets >= 1, "a UDP socket is open");

    // The per-message table equals -trace_counts, step by step.
    let counts_file = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("_counts.csv"))
        .expect("the counts file");
    let counts = StatCsv::read(&counts_file);
    for (label, col) in [
        ("INVITE ---------->", "0_INVITE_Sent"),
        ("180 <----------", "2_180_Recv"),
        ("ACK ---------->", "5_ACK_Sent"),
        ("BYE ---------->", "7_BYE_Sent"),
    ] {
        let n: u64 = after(&screen, label).parse().expect("a count");
        assert_eq!(n, counts.last(col), "{label} against {col}");
    }
    assert_eq!(counts.last("0_INVITE_Sent"), 30);
    let table = s["messages"].as_array().expect("messages");
    assert_eq!(table[0]["label"], "INVITE");
    assert_eq!(table[0]["messages"], counts.last("0_INVITE_Sent"));
}

#[test]
fn thresholds_decide_exit_2_and_bad_ones_are_refused_before_any_call() {
    let dir = scratch_dir("thresholds");
    let sport = free_port();
    let mut uas = Command::new(sipp_bin());
    uas.current_dir(&dir).args([
        "-sn",
        "uas",
        "-i",
        "127.0.0.1",
        "-p",
        &sport.to_string(),
        "-nostdin",
        "-timeout",
        "60s",
        "-cp",
        &free_port().to_string(),
    ]);
    let mut _server = Proc::spawn("sipp uas", &mut uas);
    _server.wait_bound(Sock::Udp, sport);
    let client = |extra: &[&str]| {
        run(
            "gossipper uac",
            Command::new(gossipper_bin())
                .current_dir(&dir)
                .args([
                    &format!("127.0.0.1:{sport}"),
                    "-sn",
                    "uac",
                    "-i",
                    "127.0.0.1",
                    "-m",
                    "5",
                    "-r",
                    "20",
                    "-nostdin",
                    "-summary_json",
                    "summary.json",
                    "-cp",
                    &free_port().to_string(),
                ])
                .args(extra),
            Duration::from_secs(60),
        )
    };
    let (status, _o, err) = client(&[
        "-threshold",
        "p99(response_time)<5s",
        "-threshold",
        "success_ratio>=100%,failed_calls==0",
    ]);
    assert_eq!(status.code(), Some(0), "{}", tail(&err));
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["verdict"]["status"], "pass");
    assert_eq!(s["thresholds"].as_array().unwrap().len(), 3);

    let (status, _o, err) = client(&["-threshold", "p99(response_time)<1us"]);
    assert_eq!(status.code(), Some(2), "{}", tail(&err));
    assert!(
        err.contains("threshold failed: p99 response time")
            && err.contains("must be below 0.001 ms"),
        "{err}"
    );

    for (bad, part) in [
        ("p99(response_time)<5Oms", "\"Oms\""),
        ("p99(bye)<5ms", "no response time \"bye\""),
        ("latency<5", "unknown metric \"latency\""),
    ] {
        let (status, out, err) = client(&["-threshold", bad]);
        assert_eq!(status.code(), Some(255), "{bad}: {}", tail(&err));
        assert!(err.contains(part), "{bad}: {err}");
        assert!(
            !out.contains("Test Terminated"),
            "{bad}: refused before the run"
        );
    }
}

#[test]
fn help_typos_and_builtin_names_say_what_is_accepted() {
    let g = |args: &[&str]| Command::new(gossipper_bin()).args(args).output().unwrap();
    for args in [&["-h"][..], &["--help"]] {
        let o = g(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("gossipper ui ") && text.contains("gossipper worker --spec"),
            "{text}"
        );
        assert!(text.contains("-threshold"), "the flag is documented");
    }
    assert_eq!(
        g(&[]).status.code(),
        Some(99),
        "no arguments: SIPp's usage exit"
    );
    let w = g(&["worker", "--help"]);
    assert_eq!(w.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&w.stdout).contains("--spec"));
    let o = g(&["-trace_stats"]);
    assert_eq!(o.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Did you mean '-trace_stat'?"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = g(&["-sn", "uax", "127.0.0.1"]);
    assert_eq!(o.status.code(), Some(255));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("'uax'") && err.contains("uac, uas,"), "{err}");
}

#[test]
fn ui_listen_takes_a_bare_port_and_a_busy_or_bad_address_creates_nothing() {
    let base = scratch_dir("ui-listen");
    // A bad form: answered with the accepted forms, nothing created.
    let data = base.join("bad");
    let o = Command::new(gossipper_bin())
        .args(["ui", "--data-dir"])
        .arg(&data)
        .args(["--listen", "80x80"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("PORT, :PORT, HOST:PORT or [IPv6]:PORT")
            || err.contains("PORT (all interfaces), :PORT, HOST:PORT or [IPv6]:PORT"),
        "{err}"
    );
    assert!(!data.exists(), "no data dir for a bad address");

    // A busy port: no data dir, no admin.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let data = base.join("busy");
    let o = Command::new(gossipper_bin())
        .args(["ui", "--data-dir"])
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!data.exists(), "nothing created on a busy port");
    drop(busy);

    // A bare port is a port on every interface.
    let free = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let data = base.join("bare");
    let mut cmd = Command::new(gossipper_bin());
    cmd.args(["ui", "--data-dir"])
        .arg(&data)
        .args(["--listen", &port.to_string()])
        .env_remove("GOSSIPPER_BOOTSTRAP_PASSWORD");
    let mut p = Proc::spawn("gossipper ui", &mut cmd);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            p.child.try_wait().unwrap().is_none(),
            "gossipper ui exited on --listen {port}"
        );
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(data.join("settings.sqlite").exists());
}
