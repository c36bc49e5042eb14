//! The REGISTER gateway inside `gossipper server` (spec §5.14; issue #18 item 4): a
//! `-config` file's `gateway{}` keeps the account registered at a real registrar
//! (Kamailio with registrar, usrloc and auth; `tests/kamailio/registrar.cfg.in`) from the
//! server's own UDP listener, so SIPp's call to the account through Kamailio reaches the
//! server's scenario; a SIGTERM sends `Expires: 0` and Kamailio answers 404 at once.
//! Two accounts on two UDP listeners of one server (`gateways[].listener`), the second
//! listener running a scenario of its own that answers 486: SIPp's call to each AOR gets
//! its own listener's answer (200 for alice, 486 for bob); bob's listener turned off
//! through `/api/v1/transports` removes his binding (Kamailio answers his callers 404)
//! and turned on registers it again; a SIGTERM removes both.
//! What the server cannot honour (a gateway on a TCP listener, a `contact_port` of its
//! own, two accounts on one listener) is refused by name before anything starts.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
#[path = "../kamailio/mod.rs"]
mod kamailio;
mod server_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gossipper_e2e::{Proc, Sock, free_port, gossipper_bin, peer_args, scratch_dir, tail};
use kamailio::{Kamailio, call_aor, call_aor_with};
use serde_json::{Value, json};
use server_support::{TOKEN, bearer, call, get, n};

const DOMAIN: &str = "gw.test";

fn write_config(dir: &Path, v: &Value) -> String {
    let path = dir.join("server.json");
    std::fs::write(&path, v.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

fn account(kport: u16) -> Value {
    user_account(kport, "alice")
}

fn user_account(kport: u16, user: &str) -> Value {
    json!({"domain": DOMAIN, "addr": format!("127.0.0.1:{kport}"), "username": user,
           "password": "s3cret", "advertised_ip": "127.0.0.1", "register_expires": 60,
           "keepalive_seconds": -1})
}

/// The second listener's scenario: every INVITE is answered 486 (the ACK taken).
const BUSY_UAS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<scenario name="busy">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
    SIP/2.0 486 Busy Here
    [last_Via:]
    [last_From:]
    [last_To:];tag=[pid]SIPpTag01[call_number]
    [last_Call-ID:]
    [last_CSeq:]
    Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
</scenario>
"#;

/// SIPp's caller that succeeds only on a 486 (ACKed on the INVITE's branch).
const BUSY_CALLER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<scenario name="expects 486">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="486"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-3]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
</scenario>
"#;

#[test]
fn two_accounts_on_two_listeners_reach_each_listeners_scenario_and_both_unregister() {
    let dir = scratch_dir("server-gateways");
    let k = Kamailio::start_registrar(&dir, DOMAIN, "s3cret");
    std::fs::write(dir.join("busy.xml"), BUSY_UAS).unwrap();
    let caller = dir.join("expects486.xml");
    std::fs::write(&caller, BUSY_CALLER).unwrap();
    let caller = ["-sf", caller.to_str().unwrap()];
    let (p0, p1) = (free_port(), free_port());
    let api = format!("127.0.0.1:{}", free_port());
    let mut bob = user_account(k.udp_port, "bob");
    bob["listener"] = json!(1);
    let config = write_config(
        &dir,
        &json!({"scenario_name": "uas", "api_addr": api, "api_token": TOKEN,
                "listeners": [
                    {"transport": "u1", "local_ip": "127.0.0.1", "local_port": p0},
                    {"transport": "u1", "local_ip": "127.0.0.1", "local_port": p1,
                     "scenario_file": "busy.xml"}],
                "gateways": [user_account(k.udp_port, "alice"), bob]}),
    );
    let mut cmd = Command::new(gossipper_bin());
    peer_args(cmd.arg("server"), &dir.join("server.csv")).args(["-config", &config]);
    let mut server = Proc::spawn("gossipper server", &mut cmd);
    server.wait_bound(Sock::Udp, p0);
    server.wait_bound(Sock::Udp, p1);

    // alice's calls reach the primary's uas (200), bob's the second listener's (486).
    k.wait_reachable(&dir, "alice", "alice's listener (uas)", String::new);
    k.wait_answered(&dir, "bob", &caller, "bob's listener (486)", String::new);
    // Each account registered from its own listener.
    let regs = k.requests("REGISTER");
    for p in [p0, p1] {
        let from = format!("from 127.0.0.1:{p} ");
        assert!(regs.iter().any(|l| l.contains(&from)), "{p}: {regs:#?}");
    }
    // And the other way round each call fails: the scenarios are not shared.
    let (code, out) = call_aor(&dir, k.udp_port, "bob", 1);
    assert_eq!(
        code,
        Some(1),
        "bob's call must get the 486, not a 200: {out}"
    );
    let (code, out) = call_aor_with(&dir, k.udp_port, "alice", 1, &caller);
    assert_eq!(
        code,
        Some(1),
        "alice's call must get the 200, not a 486: {out}"
    );

    // Listener 1 off: bob's binding goes (an Expires 0 from its port), so Kamailio
    // answers bob's callers itself (404) instead of routing them to a listener that
    // drops their INVITEs; alice's binding stays.
    let from_p1 = format!("from 127.0.0.1:{p1} ");
    let switch = |enabled: bool| {
        let body = json!({"index": 1, "enabled": enabled}).to_string();
        let r = call(
            &api,
            "POST",
            "/api/v1/transports",
            Some(&bearer()),
            Some(&body),
        );
        assert_eq!(r.status, 200, "{body}: {}", r.text());
    };
    switch(false);
    let start = Instant::now();
    while !k
        .requests("REGISTER")
        .iter()
        .any(|l| l.contains("expires 0") && l.contains(&from_p1))
    {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no Expires 0 from listener 1 after it was turned off:\n{}",
            k.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let registers_from_p1 = k
        .requests("REGISTER")
        .iter()
        .filter(|l| l.contains(&from_p1))
        .count();
    // The Expires 0 is challenged and sent again with credentials: the binding goes
    // when Kamailio has taken the second one, so ask until its 404 comes.
    loop {
        let (code, out) = call_aor_with(&dir, k.udp_port, "bob", 1, &caller);
        assert_eq!(
            code,
            Some(1),
            "bob's call with his listener off must fail: {out}"
        );
        if out.contains("404") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "Kamailio never answered bob's caller 404 itself: {out}\n{}",
            k.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, out) = call_aor(&dir, k.udp_port, "alice", 1);
    assert_eq!(code, Some(0), "alice's listener stayed on: {out}");
    // On again: bob registers again from listener 1, and his calls get its 486.
    switch(true);
    k.wait_answered(
        &dir,
        "bob",
        &caller,
        "bob's listener, on again (486)",
        String::new,
    );
    let regs = k.requests("REGISTER");
    assert!(
        regs.iter().filter(|l| l.contains(&from_p1)).count() > registers_from_p1,
        "no new REGISTER from listener 1: {regs:#?}"
    );

    // SIGTERM: an Expires 0 from each listener, and neither AOR is reachable.
    let _ = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();
    let (_status, _out, err) = server.wait(Duration::from_secs(15));
    let regs = k.requests("REGISTER");
    for p in [p0, p1] {
        let from = format!("from 127.0.0.1:{p} ");
        assert!(
            regs.iter()
                .any(|l| l.contains("expires 0") && l.contains(&from)),
            "no Expires 0 from {p}: {regs:#?}\nserver:\n{}",
            tail(&err)
        );
    }
    let (code, out) = call_aor(&dir, k.udp_port, "alice", 1);
    assert_eq!(
        code,
        Some(1),
        "alice's call after the Expires 0 must fail: {out}"
    );
    let (code, out) = call_aor_with(&dir, k.udp_port, "bob", 1, &caller);
    assert_eq!(
        code,
        Some(1),
        "bob's call after the Expires 0 must fail: {out}"
    );
}

#[test]
fn a_config_gateway_registers_from_the_servers_listener_takes_calls_and_unregisters() {
    let dir = scratch_dir("server-gateway");
    let k = Kamailio::start_registrar(&dir, DOMAIN, "s3cret");
    let sip_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let config = write_config(
        &dir,
        &json!({"scenario_name": "uas", "transport": "u1", "local_ip": "127.0.0.1",
                "local_port": sip_port, "api_addr": api, "api_token": TOKEN,
                "gateway": account(k.udp_port)}),
    );
    let mut cmd = Command::new(gossipper_bin());
    peer_args(cmd.arg("server"), &dir.join("server.csv")).args(["-config", &config]);
    let mut server = Proc::spawn("gossipper server", &mut cmd);
    server.wait_bound(Sock::Udp, sip_port);

    // SIPp calls alice@gw.test through Kamailio until the binding is there.
    k.wait_reachable(&dir, "alice", "the server's gateway", String::new);
    // The REGISTER came from the server's listener, and the call was the server's.
    let regs = k.requests("REGISTER");
    let ours = format!("from 127.0.0.1:{sip_port} ");
    assert!(regs.first().is_some_and(|l| l.contains(&ours)), "{regs:#?}");
    let start = Instant::now();
    loop {
        let stats = get(&api, "/api/v1/stats");
        if n(&stats, "success_calls") >= 1 {
            assert_eq!(n(&stats, "failed_calls"), 0, "{stats:#}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the server counted no call: {stats:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // SIGTERM: the Expires 0 goes out from the same listener, and the binding is gone.
    let _ = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();
    let (_status, _out, err) = server.wait(Duration::from_secs(15));
    let regs = k.requests("REGISTER");
    assert!(
        regs.iter()
            .any(|l| l.contains("expires 0") && l.contains(&ours)),
        "no Expires 0 from the listener: {regs:#?}\nserver:\n{}",
        tail(&err)
    );
    let (code, out) = call_aor(&dir, k.udp_port, "alice", 1);
    assert_eq!(code, Some(1), "a call after the Expires 0 must fail: {out}");
}

#[test]
fn what_a_server_gateway_cannot_do_is_refused_by_name_before_anything_starts() {
    let dir = scratch_dir("server-gateway-refused");
    let run = |config: &str| {
        let mut cmd = Command::new(gossipper_bin());
        cmd.args(["server", "-nostdin", "-config", config]);
        Proc::spawn("gossipper server", &mut cmd).wait(Duration::from_secs(20))
    };
    let base = |extra: Value| {
        let mut v = json!({"scenario_name": "uas", "local_ip": "127.0.0.1",
                           "local_port": free_port(), "api_addr": format!("127.0.0.1:{}", free_port()),
                           "api_token": TOKEN});
        if extra.get("listeners").is_some() {
            // The rows give the listeners' addresses and ports.
            let o = v.as_object_mut().unwrap();
            o.remove("local_ip");
            o.remove("local_port");
        }
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    let mut with_port = account(5060);
    with_port["contact_port"] = json!(5070);
    for (extra, want) in [
        (
            json!({"transport": "t1", "gateway": account(5060)}),
            "gateway: the REGISTER gateway registers from the server's UDP listener (u1); this server listens on t1",
        ),
        (
            json!({"gateway": with_port}),
            "gateway.contact_port: not taken in a server file",
        ),
        (
            json!({"gateways": [account(5060), user_account(5060, "bob")]}),
            "gateways[1].listener: the server's listener already registers gateways[0]'s account",
        ),
        (
            json!({"listeners": [{"transport": "u1", "local_port": free_port()},
                                 {"transport": "t1", "local_port": free_port()}],
                   "gateways": [{"listener": 1, "domain": DOMAIN, "username": "bob",
                                 "addr": "127.0.0.1:5060"}]}),
            "gateways[0].listener: listeners[1] listens on t1",
        ),
        (
            json!({"gateways": [account(5060), {"listener": 2, "domain": DOMAIN}]}),
            "gateways[1].listener: 2 is not a listener of this server",
        ),
        (
            json!({"gateway": {"domain": DOMAIN, "username": "alice", "bogus": true}}),
            "gateway: unknown field `bogus`",
        ),
    ] {
        let config = write_config(&dir, &base(extra.clone()));
        let (status, _out, err) = run(&config);
        assert_eq!(status.code(), Some(255), "{extra}: {err}");
        assert!(err.contains(want), "{extra}: want {want:?} in:\n{err}");
    }
}
