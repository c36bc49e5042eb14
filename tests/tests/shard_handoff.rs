//! One peer, several server shards: `sipp -sn uac` (one socket, so the kernel's
//! SO_REUSEPORT hash sends every datagram to one of our sockets) against our `-sn uas
//! -shards 2`. The hand-off must spread the calls over both shards by Call-ID, with zero
//! failed calls on either side; summary.json's `shard_calls` says where they ran.

use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{
    Proc, Sock, finish_pair, free_port, gossipper_bin, peer_args, scratch_dir, sipp_bin,
};

const CALLS: u64 = 400;

#[test]
fn one_sipp_peer_spreads_over_both_server_shards() {
    let dir = scratch_dir("shard-handoff");
    let sport = free_port();
    let (s_csv, c_csv) = (dir.join("server.csv"), dir.join("client.csv"));
    let summary = dir.join("summary.json");
    let mut scmd = Command::new(gossipper_bin());
    scmd.current_dir(&dir)
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &sport.to_string()])
        .args(["-shards", "2", "-m", &CALLS.to_string()])
        .arg("-summary_json")
        .arg(&summary);
    peer_args(&mut scmd, &s_csv);
    let mut server = Proc::spawn("handoff server (gossipper)", &mut scmd);
    server.wait_bound(Sock::Udp, sport);
    let mut ccmd = Command::new(sipp_bin());
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
        .args(["-m", &CALLS.to_string(), "-r", "200"]);
    peer_args(&mut ccmd, &c_csv);
    let client = Proc::spawn("handoff client (sipp)", &mut ccmd);
    finish_pair(
        "handoff",
        client,
        server,
        &c_csv,
        &s_csv,
        CALLS,
        Duration::from_secs(60),
    );
    let text = std::fs::read_to_string(&summary).expect("summary.json written");
    let v: serde_json::Value = serde_json::from_str(&text).expect("summary.json parses");
    let per_shard: Vec<u64> = v["shard_calls"]
        .as_array()
        .expect("shard_calls is a list")
        .iter()
        .map(|n| n.as_u64().expect("a count"))
        .collect();
    assert_eq!(per_shard.len(), 2, "{per_shard:?}");
    assert_eq!(per_shard.iter().sum::<u64>(), CALLS, "{per_shard:?}");
    // A Call-ID hash splits 400 calls near 200/200; without the hand-off one shard gets
    // all of them.
    assert!(
        per_shard.iter().all(|&n| n >= CALLS / 4),
        "calls did not spread over the shards: {per_shard:?}"
    );
}
