//! The REGISTER gateway inside `gossipper server` (spec §5.14; issue #18 item 4): a
//! `-config` file's `gateway{}` keeps the account registered at a real registrar
//! (Kamailio with registrar, usrloc and auth; `tests/kamailio/registrar.cfg.in`) from the
//! server's own UDP listener, so SIPp's call to the account through Kamailio reaches the
//! server's scenario; a SIGTERM sends `Expires: 0` and Kamailio answers 404 at once.
//! What the server cannot honour (a gateway on a TCP listener, a `contact_port` of its
//! own) is refused by name before anything starts, and so is a second account.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
#[path = "../kamailio/mod.rs"]
mod kamailio;
mod server_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gossipper_e2e::{Proc, Sock, free_port, gossipper_bin, peer_args, scratch_dir, tail};
use kamailio::{Kamailio, call_aor};
use serde_json::{Value, json};
use server_support::{TOKEN, get, n};

const DOMAIN: &str = "gw.test";

fn write_config(dir: &Path, v: &Value) -> String {
    let path = dir.join("server.json");
    std::fs::write(&path, v.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

fn account(kport: u16) -> Value {
    json!({"domain": DOMAIN, "addr": format!("127.0.0.1:{kport}"), "username": "alice",
           "password": "s3cret", "advertised_ip": "127.0.0.1", "register_expires": 60,
           "keepalive_seconds": -1})
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
            json!({"gateways": [account(5060), account(5061)]}),
            "gateways: 2 accounts",
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
