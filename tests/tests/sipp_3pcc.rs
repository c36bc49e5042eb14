//! 3PCC with real SIPp on 127.0.0.1: the built-in controllers 3pcc-C-A and 3pcc-C-B over
//! a `-3pcc` twin socket, ours against SIPp's in both directions, with the plain user
//! agents 3pcc-A and 3pcc-B as the two legs; and extended 3PCC (`-master`, `-slave`,
//! `-slave_cfg`) with SIPp or us as the master and us as the slave. Every process must exit
//! 0 with `CALLS` successful calls and none failed in its own -trace_stat CSV.
//!
//! Not tested: SIPp 3.6.1 as an extended-mode slave. It aborts (`Assertion 'sock'
//! failed` in `pollset_process`) even with a SIPp master, so that direction has no
//! working peer to test against.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{
    Proc, Sock, StatCsv, free_port, gossipper_bin, peer_args, scratch_dir, sipp_bin, tail,
};

const CALLS: u64 = 5;

/// One process of a 3PCC run and its statistics file.
struct Side {
    name: String,
    proc: Proc,
    csv: PathBuf,
}

/// Starts `bin` in `dir` with `args`, on `port`, for `CALLS` calls.
fn start(name: &str, bin: &Path, dir: &Path, port: u16, args: &[String]) -> Side {
    let csv = dir.join(format!("{name}.csv"));
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .args(args)
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", &CALLS.to_string()]);
    peer_args(&mut cmd, &csv);
    let proc = Proc::spawn(&format!("{name} ({})", bin.display()), &mut cmd);
    Side {
        name: name.to_string(),
        proc,
        csv,
    }
}

/// A user agent leg (`3pcc-A` or `3pcc-B`), bound before this returns.
fn leg(name: &str, bin: &Path, dir: &Path, scenario: &str) -> (Side, u16) {
    let port = free_port();
    let mut s = start(name, bin, dir, port, &strings(&["-sn", scenario]));
    s.proc.wait_bound(Sock::Udp, port);
    (s, port)
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Waits for every side (the controller that places calls first), then checks each
/// exited 0 and counted `CALLS` successes and no failure.
fn finish(sides: Vec<Side>) {
    let mut results = Vec::new();
    for s in sides {
        let (status, out, err) = s.proc.wait(Duration::from_secs(90));
        results.push((s.name, status, out, err, s.csv));
    }
    for (name, status, out, err, csv) in &results {
        assert_eq!(
            status.code(),
            Some(0),
            "{name} exit\nstdout:\n{}\nstderr:\n{}",
            tail(out),
            tail(err)
        );
        let c = StatCsv::read(csv);
        assert_eq!(
            c.last("SuccessfulCall(C)"),
            CALLS,
            "{name}: successes\nstderr:\n{}",
            tail(err)
        );
        assert_eq!(c.last("FailedCall(C)"), 0, "{name}: failures");
    }
}

/// A twin-mode run: legs A and B by `legs`, controller B by `cb` (it listens on the twin
/// port), then controller A by `ca` (it connects, so it starts last).
fn twin_run(name: &str, legs: &Path, cb: &Path, ca: &Path) {
    let dir = scratch_dir(name);
    let (a, a_port) = leg("leg-a", legs, &dir, "3pcc-A");
    let (b, b_port) = leg("leg-b", legs, &dir, "3pcc-B");
    let twin_port = free_port();
    let twin = format!("127.0.0.1:{twin_port}");
    let mut c_b = start(
        "controller-b",
        cb,
        &dir,
        free_port(),
        &strings(&[
            "-sn",
            "3pcc-C-B",
            &format!("127.0.0.1:{b_port}"),
            "-3pcc",
            &twin,
        ]),
    );
    c_b.proc.wait_bound(Sock::TcpListen, twin_port);
    let c_a = start(
        "controller-a",
        ca,
        &dir,
        free_port(),
        &strings(&[
            "-sn",
            "3pcc-C-A",
            &format!("127.0.0.1:{a_port}"),
            "-3pcc",
            &twin,
            "-r",
            "10",
        ]),
    );
    finish(vec![c_a, c_b, a, b]);
}

#[test]
fn our_controller_a_drives_sipp_controller_b_with_our_legs() {
    twin_run(
        "3pcc-ours-a",
        &gossipper_bin(),
        &sipp_bin(),
        &gossipper_bin(),
    );
}

#[test]
fn sipp_controller_a_drives_our_controller_b_with_sipp_legs() {
    twin_run("3pcc-ours-b", &sipp_bin(), &gossipper_bin(), &sipp_bin());
}

/// SIPp's extended-mode form of the built-in controllers: `dest=`/`src=` name the
/// twins, and each command says who sent it in its `From:` line.
fn extended_scenarios(dir: &Path) -> (PathBuf, PathBuf) {
    let master = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="3PCC extended master">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag03[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="Content-Type:.*" search_in="msg" assign_to="1"/>
    </action>
  </recv>
  <sendCmd dest="s1">
    <![CDATA[
      Call-ID: [call_id]
      From: m
      [$1]
    ]]>
  </sendCmd>
  <recvCmd src="s1">
    <action>
      <ereg regexp="Content-Type:.*" search_in="msg" assign_to="2"/>
    </action>
  </recvCmd>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag03[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      [$2]
    ]]>
  </send>
  <pause milliseconds="500"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag03[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
</scenario>
"#;
    let slave = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="3PCC extended slave">
  <recvCmd src="m">
    <action>
      <ereg regexp="Content-Type:.*" search_in="msg" assign_to="1"/>
    </action>
  </recvCmd>
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag04[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      [$1]
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="Content-Type:.*" search_in="msg" assign_to="2"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag04[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <sendCmd dest="m">
    <![CDATA[
      Call-ID: [call_id]
      From: s1
      [$2]
    ]]>
  </sendCmd>
  <pause milliseconds="500"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag04[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
</scenario>
"#;
    let (m, s) = (dir.join("master.xml"), dir.join("slave.xml"));
    std::fs::write(&m, master).expect("write master.xml");
    std::fs::write(&s, slave).expect("write slave.xml");
    (m, s)
}

/// Extended 3PCC: a master (`-master m`) and a slave (`-slave s1`) that find each other
/// through one `-slave_cfg` file. Legs: SIPp's 3pcc-A on the master's side, ours 3pcc-B
/// on the slave's.
fn extended_run(name: &str, master_bin: &Path, slave_bin: &Path) {
    let dir = scratch_dir(name);
    let (master_xml, slave_xml) = extended_scenarios(&dir);
    let (m_port, s_port) = (free_port(), free_port());
    let cfg = dir.join("twins.cfg");
    std::fs::write(
        &cfg,
        format!("m;127.0.0.1:{m_port}\ns1;127.0.0.1:{s_port}\n"),
    )
    .expect("write twins.cfg");
    let cfg = cfg.display().to_string();
    let (a, a_port) = leg("leg-a", &sipp_bin(), &dir, "3pcc-A");
    let (b, b_port) = leg("leg-b", &gossipper_bin(), &dir, "3pcc-B");
    let mut slave = start(
        "slave",
        slave_bin,
        &dir,
        free_port(),
        // SIPp reads -slave_cfg before the scenario: it comes first.
        &strings(&[
            "-slave",
            "s1",
            "-slave_cfg",
            &cfg,
            "-sf",
            &slave_xml.display().to_string(),
            &format!("127.0.0.1:{b_port}"),
        ]),
    );
    slave.proc.wait_bound(Sock::TcpListen, s_port);
    let master = start(
        "master",
        master_bin,
        &dir,
        free_port(),
        &strings(&[
            "-master",
            "m",
            "-slave_cfg",
            &cfg,
            "-sf",
            &master_xml.display().to_string(),
            &format!("127.0.0.1:{a_port}"),
            "-r",
            "10",
        ]),
    );
    finish(vec![master, slave, a, b]);
}

#[test]
fn sipp_master_drives_our_slave_in_extended_3pcc() {
    extended_run("3pcc-ext-sipp-master", &sipp_bin(), &gossipper_bin());
}

#[test]
fn our_master_drives_our_slave_in_extended_3pcc() {
    extended_run("3pcc-ext-ours", &gossipper_bin(), &gossipper_bin());
}

/// Combinations that cannot work are refused at once, naming the flag to add or drop.
#[test]
fn impossible_3pcc_combinations_are_refused_at_once() {
    let dir = scratch_dir("3pcc-refused");
    let cases: [(&[&str], &str); 4] = [
        (&["-sn", "3pcc-C-A", "127.0.0.1:5999"], "-3pcc"),
        (
            &["-sn", "uac", "127.0.0.1:5999", "-3pcc", "127.0.0.1:5998"],
            "<sendCmd>",
        ),
        (&["-sn", "3pcc-C-B", "-master", "m"], "-slave_cfg"),
        (
            &[
                "-sn",
                "3pcc-C-B",
                "127.0.0.1:5999",
                "-3pcc",
                "127.0.0.1:5998",
                "-shards",
                "2",
            ],
            "one shard",
        ),
    ];
    for (args, needle) in cases {
        let mut cmd = Command::new(gossipper_bin());
        cmd.current_dir(&dir)
            .args(args)
            .args(["-nostdin", "-m", "1", "-timeout", "5s"]);
        let (status, out, err) = gossipper_e2e::run("refused", &mut cmd, Duration::from_secs(20));
        assert_ne!(status.code(), Some(0), "{args:?} ran");
        assert!(
            err.contains(needle) || out.contains(needle),
            "{args:?}: no '{needle}' in\nstdout:\n{}\nstderr:\n{}",
            tail(&out),
            tail(&err)
        );
    }
}
