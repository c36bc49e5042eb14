//! The endpoint in virtual time: `-t un` ports, hard quits, lazy timewait timers, live
//! calls per peer, and folded send templates.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use super::{Budget, Endpoint};
use crate::call::TxQueue;
use crate::call::inject::InjectData;
use crate::load::Pacer;

/// Everything `core` queued to send.
fn sent(core: &mut Endpoint) -> TxQueue {
    let mut tx = TxQueue::default();
    let mut all = TxQueue::default();
    while core.poll_transmit(&mut tx) {
        for t in &tx.items {
            all.flow = t.flow;
            all.push(t.dest, tx.bytes(t));
        }
        tx.clear();
    }
    all
}

mod un_and_abort {
    use super::*;
    use crate::sim;

    /// A `-t un` client core (`uac`, 1000 calls/s, 3 calls at most, 2 sockets at most).
    fn un_client(now: Instant) -> Endpoint {
        let local: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let remote: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        let mut env = sim::env(local, Some(remote), now);
        env.transport = crate::config::TransportMode::UdpPerCall;
        let mut core = Endpoint::new(
            0,
            1,
            sim::builtin("uac"),
            env,
            7,
            InjectData::default(),
            Pacer::new(1000.0, now),
            Budget {
                remaining: Some(3),
                limit: 100,
            },
        );
        core.enable_udp_per_call(2);
        core
    }

    fn via_port(tx: &TxQueue, t: &crate::call::Transmit) -> u16 {
        let text = String::from_utf8_lossy(tx.bytes(t)).to_string();
        let via = text
            .lines()
            .find_map(|l| l.strip_prefix("Via: SIP/2.0/UDP 127.0.0.1:"))
            .unwrap_or_else(|| panic!("no Via in {text}"));
        via.split(';').next().unwrap().parse().unwrap()
    }

    #[test]
    fn un_calls_wait_for_a_socket_then_each_renders_and_sends_from_its_own_port() {
        let t0 = crate::sim::epoch();
        let wall = SystemTime::UNIX_EPOCH;
        let mut core = un_client(t0);
        let later = t0 + Duration::from_millis(3);
        // 3 calls are due but only 2 sockets may open; none is bound yet.
        assert_eq!(core.udp_ports_wanted(later), 2);
        core.handle_timeout(later, wall);
        assert!(
            sent(&mut core).items.is_empty(),
            "no call opens without a socket"
        );
        assert_eq!(core.live_calls(), 0);

        core.handle_udp_port(4001);
        core.handle_udp_port(4002);
        assert_eq!(core.udp_ports_wanted(later), 0);
        core.handle_timeout(later, wall);
        assert_eq!(core.live_calls(), 3, "the third call shares a socket");
        let tx = sent(&mut core);
        assert_eq!(tx.items.len(), 3);
        let mut ports = Vec::new();
        for t in &tx.items {
            let port = via_port(&tx, t);
            assert_eq!(u64::from(port), t.flow, "sent from the port it renders");
            ports.push(port);
        }
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports, vec![4001, 4002]);

        // Ending the calls releases the sockets, each once its last call is gone.
        core.abort_all(later, wall);
        let mut closed: Vec<u16> = std::iter::from_fn(|| core.poll_closed_udp_port()).collect();
        closed.sort_unstable();
        assert_eq!(closed, vec![4001, 4002]);
    }

    #[test]
    fn a_hard_quit_cancels_the_unanswered_invites_and_counts_the_calls_as_aborted() {
        let t0 = crate::sim::epoch();
        let wall = SystemTime::UNIX_EPOCH;
        let local: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let remote: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        let mut core = Endpoint::new(
            0,
            1,
            sim::builtin("uac"),
            sim::env(local, Some(remote), t0),
            7,
            InjectData::default(),
            Pacer::new(1000.0, t0),
            Budget {
                remaining: Some(3),
                limit: 100,
            },
        );
        core.handle_timeout(t0 + Duration::from_millis(5), wall);
        assert_eq!(core.live_calls(), 3);
        let _ = sent(&mut core);
        core.abort_all(t0 + Duration::from_millis(6), wall);
        assert_eq!(core.live_calls(), 0);
        let tx = sent(&mut core);
        let methods: Vec<String> = tx
            .items
            .iter()
            .map(|t| {
                let text = String::from_utf8_lossy(tx.bytes(t)).to_string();
                text.split(' ').next().unwrap_or("").to_string()
            })
            .collect();
        assert_eq!(methods, ["CANCEL", "CANCEL", "CANCEL"]);
        let c = &core.stats().counters;
        assert_eq!((c.failed_calls, c.aborted_calls, c.fatal_errors), (3, 3, 0));
        assert_eq!(core.stats().current_calls, 0);
    }

    #[test]
    fn un_is_ignored_by_servers_which_answer_from_the_shard_socket() {
        let now = crate::sim::epoch();
        let local: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let mut core = Endpoint::new(
            0,
            1,
            sim::builtin("uas"),
            sim::env(local, None, now),
            7,
            InjectData::default(),
            Pacer::new(0.0, now),
            Budget {
                remaining: None,
                limit: 100,
            },
        );
        core.enable_udp_per_call(10);
        assert_eq!(core.udp_ports_wanted(now), 0);
        assert!(core.udp_ports.is_none());
    }
}

mod lazy_timer_tests {
    use crate::endpoint::table::LAZY_GRID;
    use crate::sim::{self, SimNet};
    use std::time::Duration;

    #[test]
    fn timewaits_end_together_on_the_lazy_grid_never_early() {
        let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
        let mut net = SimNet::new(9);
        let uas = net.add_server(sim::builtin("uas"), addr(5060));
        let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 1000.0, 5);
        net.run_until(100_000, |n| n.endpoints[uac].done());
        let epoch = net.epoch();
        let byes: Vec<Duration> = net
            .log
            .iter()
            .filter(|s| s.first_line.starts_with("BYE "))
            .map(|s| s.at + net.delay)
            .collect();
        assert_eq!(byes.len(), 5);
        let core = &net.endpoints[uas];
        assert_eq!(core.live_calls(), 5, "all five wait out the 4 s timewait");
        let next = core.poll_timeout().expect("a timewait deadline") - epoch;
        // The uas's 4 s timewait starts when it answers the BYE, which it does on arrival.
        let first_end = byes[0] + Duration::from_secs(4);
        assert!(next >= first_end, "never early: {next:?} < {first_end:?}");
        assert!(
            next < first_end + Duration::from_nanos(LAZY_GRID),
            "at most one grid step late: {next:?}"
        );
        assert_eq!(next.as_nanos() % u128::from(LAZY_GRID), 0, "on the grid");
        // The five BYEs came within 5 ms, so their timewaits end in at most two turns.
        let mut turns = 0;
        net.run_until(1000, |n| {
            turns += 1;
            n.endpoints[uas].live_calls() == 0
        });
        assert!(turns <= 3, "{turns} turns to end five timewaits");
    }

    #[test]
    fn a_short_timewait_ends_exactly() {
        let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
        let uas = crate::scenario::builtin::get("uas").expect("the built-in uas");
        assert!(uas.xml.contains("<timewait milliseconds=\"4000\"/>"));
        let uas_xml = uas.xml.replace(
            "<timewait milliseconds=\"4000\"/>",
            "<timewait milliseconds=\"300\"/>",
        );
        let mut net = SimNet::new(9);
        let uas = net.add_server(sim::scenario(&uas_xml), addr(5060));
        let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 1000.0, 1);
        net.run_until(100_000, |n| n.endpoints[uac].done());
        let bye = net
            .log
            .iter()
            .find(|s| s.first_line.starts_with("BYE "))
            .map(|s| s.at + net.delay)
            .expect("a BYE");
        let next = net.endpoints[uas]
            .poll_timeout()
            .expect("the timewait's end");
        assert_eq!(next - net.epoch(), bye + Duration::from_millis(300));
    }
}

mod live_call_tests {
    use super::*;
    use crate::sim::{self, SimNet};

    /// A `-t t1` uas (its calls indexed by peer) and a uac holding its call 90 s in
    /// silence (`-d 90000`), in virtual time.
    #[test]
    fn a_peer_carries_live_calls_until_its_calls_end_or_only_wait_out_their_timewait() {
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let (server, client, stranger) = (addr(5060), addr(5061), addr(5062));
        let mut net = SimNet::new(5);
        let mut env = sim::env(server, None, net.epoch());
        env.transport = crate::config::TransportMode::TcpShared;
        let uas = net.add(
            Endpoint::new(
                0,
                1,
                sim::builtin("uas"),
                env,
                11,
                InjectData::default(),
                Pacer::new(0.0, net.epoch()),
                Budget {
                    remaining: None,
                    limit: 100,
                },
            ),
            server,
        );
        let uac = net.add_client(sim::builtin("uac"), client, server, 10.0, 1);
        net.endpoints[uac].run.env.default_pause_ms = 90_000;
        let at = |n: &SimNet| n.log.last().map_or(Duration::ZERO, |s| s.at);
        net.run_until(10_000, |n| {
            n.log.iter().any(|s| s.first_line.starts_with("ACK "))
        });
        assert!(at(&net) < Duration::from_secs(1));
        assert!(
            net.endpoints[uas].carries_live_calls(client),
            "the call is up"
        );
        assert!(!net.endpoints[uas].carries_live_calls(stranger));

        net.run_until(10_000, |n| {
            n.log.iter().any(|s| s.first_line.starts_with("BYE "))
        });
        assert!(at(&net) >= Duration::from_secs(90));
        net.run_until(10_000, |n| {
            n.log.iter().any(|s| {
                s.first_line.starts_with("SIP/2.0 200")
                    && s.from == server
                    && s.at >= Duration::from_secs(90)
            })
        });
        assert_eq!(net.endpoints[uas].live_calls(), 1, "in its timewait");
        assert!(
            !net.endpoints[uas].carries_live_calls(client),
            "a call waiting out its timewait is not live"
        );
        net.run_until(100_000, |n| n.endpoints[uas].live_calls() == 0);
        assert!(!net.endpoints[uas].carries_live_calls(client));
    }
}

mod fold_tests {
    use crate::call::plan::Plan;
    use crate::scenario::Scenario;
    use crate::sim::{self, SimNet};
    use std::sync::Arc;

    /// Every datagram of `calls` calls from `client` to `server`, with the sends' run
    /// constants folded (as shards run) or not.
    fn wire(client: Arc<Scenario>, server: Arc<Scenario>, folded: bool) -> Vec<Vec<u8>> {
        let addr = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
        let mut net = SimNet::new(3);
        let s = net.add_server(server, addr(5060));
        let c = net.add_client(client, addr(5061), addr(5060), 100.0, 3);
        for i in [s, c] {
            net.endpoints[i].run.env.keys = vec![("site".into(), "lab-7".into())];
            let core = &mut net.endpoints[i];
            core.run.plan = Plan::new(&core.run.scenario);
            if folded {
                core.run
                    .plan
                    .fold_sends(&core.run.scenario, &core.run.env, false);
            }
        }
        net.run_until(1_000_000, |n| {
            n.endpoints[c].done() && n.endpoints[s].live_calls() == 0
        });
        let c = &net.endpoints[c].stats().counters;
        assert_eq!((c.successful_calls, c.failed_calls), (3, 0), "{c:?}");
        net.log.iter().map(|s| s.bytes.clone()).collect()
    }

    /// `xml` loaded with `-key site …` allowed.
    fn with_key_site(xml: &str) -> Arc<Scenario> {
        let keys = ["site".to_string()];
        let options = crate::scenario::LoadOptions {
            keys: &keys,
            ..Default::default()
        };
        Arc::new(crate::scenario::load(xml.as_bytes(), "edge.xml", &options).expect("loads"))
    }

    #[test]
    fn folding_run_constants_changes_no_byte_on_the_wire() {
        // A client whose INVITE has a line-dropping keyword followed by constants on the
        // same line (no last message yet: the line is cut where the next literal ends it),
        // a -key value, and constants everywhere else.
        let uac = crate::scenario::builtin::get("uac")
            .expect("the built-in uac")
            .xml;
        let edge = uac.replacen(
            "Max-Forwards: 70",
            "[last_Via:] [local_ip]:[local_port] x [transport]\n    X-Site: [site] [pid]\n    Max-Forwards: 70",
            1,
        );
        assert_ne!(edge, uac, "the built-in uac has a Max-Forwards line");
        let pairs = [
            (sim::builtin("uac"), sim::builtin("uas")),
            (sim::builtin("regexp"), sim::builtin("uas")),
            (sim::builtin("branchc"), sim::builtin("branchs")),
            (with_key_site(&edge), sim::builtin("uas")),
        ];
        for (client, server) in pairs {
            let name = client.name.clone();
            let plain = wire(client.clone(), server.clone(), false);
            let folded = wire(client, server, true);
            assert!(plain.len() >= 18, "{name}: {} datagrams", plain.len());
            for (a, b) in plain.iter().zip(&folded) {
                assert_eq!(
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(b),
                    "{name}"
                );
            }
            assert_eq!(plain.len(), folded.len(), "{name}");
        }
    }

    #[test]
    fn folding_leaves_fewer_segments_and_keeps_per_call_keywords() {
        let sc = sim::builtin("uac");
        let env = sim::env(
            "127.0.0.1:5061".parse().expect("an address"),
            Some("127.0.0.1:5060".parse().expect("an address")),
            crate::sim::epoch(),
        );
        let mut plan = Plan::new(&sc);
        plan.fold_sends(&sc, &env, false);
        let crate::scenario::CommandKind::Send(invite) = &sc.commands[0].kind else {
            panic!("the uac starts with a send");
        };
        let folded = plan.send_template(0, &invite.template);
        assert!(
            folded.segments.len() * 2 < invite.template.segments.len(),
            "{} -> {} segments",
            invite.template.segments.len(),
            folded.segments.len()
        );
        let kept = |t: &crate::scenario::Template, k: fn(&crate::scenario::Keyword) -> bool| {
            t.segments
                .iter()
                .filter(|s| matches!(s, crate::scenario::Segment::Keyword(kw) if k(kw)))
                .count()
        };
        use crate::scenario::Keyword as K;
        let per_call = |k: &K| matches!(k, K::CallId | K::Branch(_) | K::CallNumber | K::Len(_));
        assert_eq!(kept(folded, per_call), kept(&invite.template, per_call));
        // -t un: each call renders its own port.
        plan.fold_sends(&sc, &env, true);
        let port = |k: &K| matches!(k, K::LocalPort(_));
        assert_eq!(
            kept(plan.send_template(0, &invite.template), port),
            kept(&invite.template, port)
        );
        assert!(kept(&invite.template, port) > 0);
    }
}

/// `gossipper server`'s live scenario replacement, in virtual time.
mod replace_scenario {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::endpoint::ReplaceError;
    use crate::scenario::Scenario;
    use crate::sim::{self, SimNet};

    fn addr(p: u16) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], p))
    }

    /// The built-in uas, whose every reply says `X-Version: 2`.
    fn uas_v2() -> Arc<Scenario> {
        let xml = crate::scenario::builtin::get("uas").unwrap().xml;
        let contact = "Contact: <sip:[local_ip]:[local_port];transport=[transport]>";
        let marked = xml.replace(contact, &format!("{contact}\n    X-Version: 2"));
        assert_eq!(marked.matches("X-Version").count(), 3);
        sim::scenario(&marked)
    }

    fn marked(s: &sim::Sent) -> bool {
        String::from_utf8_lossy(&s.bytes).contains("X-Version: 2")
    }

    #[test]
    fn calls_in_flight_finish_on_the_old_scenario_and_new_calls_start_on_the_new_one() {
        let mut net = SimNet::new(21);
        let uas = net.add_server(sim::builtin("uas"), addr(5060));
        let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 50.0, 20);
        // Each call holds 1 s between its ACK and its BYE.
        net.endpoints[uac].run.env.default_pause_ms = 1000;
        let t0 = net.epoch();
        net.run_until(1_000_000, |n| n.now >= t0 + Duration::from_millis(190));
        let before = net.endpoints[uas].live_calls();
        assert!(before >= 5, "calls in flight at the swap: {before}");
        let swapped_at = net.now - t0;

        net.endpoints[uas].replace_scenario(uas_v2()).unwrap();
        assert_eq!(net.endpoints[uas].retired_scenarios(), 1);
        assert_eq!(
            net.endpoints[uas].live_calls(),
            before,
            "nothing ends at the swap"
        );

        net.run_until(10_000_000, |n| {
            n.endpoints[uac].done() && n.endpoints[uas].live_calls() == 0
        });
        let c = &net.endpoints[uac].stats().counters;
        assert_eq!((c.successful_calls, c.failed_calls), (20, 0), "{c:?}");
        let s = &net.endpoints[uas].stats().counters;
        assert_eq!((s.successful_calls, s.failed_calls), (20, 0), "{s:?}");
        assert_eq!(
            net.endpoints[uas].retired_scenarios(),
            0,
            "the old scenario goes with its last call"
        );

        // Per call: which of the server's replies carry the new scenario's mark.
        let mut by_call: std::collections::BTreeMap<String, Vec<bool>> = Default::default();
        for s in net.log.iter().filter(|s| s.from == addr(5060)) {
            by_call
                .entry(s.call_id.clone())
                .or_default()
                .push(marked(s));
        }
        assert_eq!(by_call.len(), 20);
        let old: Vec<_> = by_call.values().filter(|m| m.iter().all(|x| !x)).collect();
        let new: Vec<_> = by_call.values().filter(|m| m.iter().all(|x| *x)).collect();
        assert_eq!(
            old.len(),
            before,
            "the calls in flight stayed on the old one"
        );
        assert_eq!(old.len() + new.len(), 20, "no call mixes both: {by_call:?}");
        // The old calls' BYEs came after the swap and were answered by the old scenario.
        let late_old_byes = net
            .log
            .iter()
            .filter(|s| s.from == addr(5060) && s.at > swapped_at && !marked(s))
            .filter(|s| s.first_line.starts_with("SIP/2.0 200"))
            .count();
        assert!(late_old_byes >= before, "{late_old_byes} < {before}");
    }

    #[test]
    fn a_client_replaced_mid_run_sends_the_new_scenario_and_grows_its_tables() {
        let mut net = SimNet::new(17);
        let uas = net.add_server(sim::builtin("uas"), addr(5060));
        let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 20.0, 10);
        net.endpoints[uac].run.env.default_pause_ms = 500;
        let t0 = net.epoch();
        net.run_until(1_000_000, |n| n.now >= t0 + Duration::from_millis(240));
        let in_flight = net.endpoints[uac].live_calls();
        assert!(in_flight >= 3, "{in_flight}");
        let steps = net.endpoints[uac].stats().steps.len();
        // The uac with a marked INVITE and one step more.
        let xml = crate::scenario::builtin::get("uac").unwrap().xml;
        let v2 = xml
            .replacen(
                "Subject: Performance Test",
                "Subject: Performance Test\n      X-Version: 2",
                1,
            )
            .replacen("<pause/>", "<pause/>\n  <nop/>", 1);
        assert!(v2.contains("X-Version: 2") && v2.contains("<nop/>"), "{v2}");
        net.endpoints[uac]
            .replace_scenario(sim::scenario(&v2))
            .unwrap();
        assert_eq!(net.endpoints[uac].stats().steps.len(), steps + 1);
        net.run_until(10_000_000, |n| {
            n.endpoints[uac].done() && n.endpoints[uas].live_calls() == 0
        });
        let c = &net.endpoints[uac].stats().counters;
        assert_eq!((c.successful_calls, c.failed_calls), (10, 0), "{c:?}");
        let invites: Vec<bool> = net
            .log
            .iter()
            .filter(|s| s.first_line.starts_with("INVITE "))
            .map(marked)
            .collect();
        assert_eq!(invites.len(), 10);
        let old = invites.iter().filter(|m| !**m).count();
        assert!(old >= in_flight && old < 10, "{invites:?}");
        assert!(
            invites[old..].iter().all(|m| *m),
            "new calls send v2: {invites:?}"
        );
    }

    #[test]
    fn a_scenario_of_the_other_role_is_refused_and_changes_nothing() {
        let mut net = SimNet::new(3);
        let uas = net.add_server(sim::builtin("uas"), addr(5060));
        let err = net.endpoints[uas]
            .replace_scenario(sim::builtin("uac"))
            .unwrap_err();
        assert!(matches!(err, ReplaceError::RoleChanged { .. }), "{err}");
        assert_eq!(net.endpoints[uas].scenario().name, "Basic UAS responder");
        assert_eq!(net.endpoints[uas].retired_scenarios(), 0);
    }

    #[test]
    fn globals_keep_their_values_by_name_across_a_replacement() {
        let xml = |extra: &str| {
            format!(
                r#"<scenario name="g"><Global variables="{extra}hits"/>
                <recv request="INVITE"><action><assignstr assign_to="hits" value="seen"/></action></recv>
                <send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=1
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send></scenario>"#
            )
        };
        let mut net = SimNet::new(5);
        let uas = net.add_server(sim::scenario(&xml("")), addr(5060));
        let ep = &mut net.endpoints[uas];
        let hits = crate::scenario::VarId(0);
        ep.shard
            .globals
            .set(hits, crate::call::vars::Value::Bool(true));
        ep.replace_scenario(sim::scenario(&xml("other,"))).unwrap();
        let now = ep.scenario().variables.iter().position(|v| v == "hits");
        let id = crate::scenario::VarId(now.unwrap() as u16);
        assert_eq!(id.0, 1, "declared second in the new scenario");
        assert_eq!(
            ep.shard.globals.get(id),
            &crate::call::vars::Value::Bool(true)
        );
    }
}

/// `gossipper server`'s listeners and clients turned off and on.
mod accepting {
    use std::time::Duration;

    use crate::sim::{self, SimNet};

    fn addr(p: u16) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], p))
    }

    #[test]
    fn a_server_that_refuses_takes_no_new_call_until_it_accepts_again() {
        let mut net = SimNet::new(8);
        let uas = net.add_server(sim::builtin("uas"), addr(5060));
        let t0 = net.epoch();
        net.endpoints[uas].set_accepting(false, t0);
        let a = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 10.0, 3);
        net.run_until(1_000_000, |n| n.endpoints[a].done());
        let c = &net.endpoints[a].stats().counters;
        assert_eq!((c.successful_calls, c.failed_calls), (0, 3), "{c:?}");
        let s = &net.endpoints[uas].stats().counters;
        assert_eq!(s.incoming_calls, 0, "{s:?}");
        assert!(
            s.out_of_call_msgs >= 3,
            "each INVITE dropped and counted: {s:?}"
        );

        let now = net.now;
        net.endpoints[uas].set_accepting(true, now);
        assert!(net.endpoints[uas].accepting());
        let b = net.add_client(sim::builtin("uac"), addr(5062), addr(5060), 10.0, 3);
        // The new client's pacer starts at the epoch: its calls are all due now.
        net.run_until(1_000_000, |n| {
            n.endpoints[b].done() && n.endpoints[uas].live_calls() == 0
        });
        let c = &net.endpoints[b].stats().counters;
        assert_eq!((c.successful_calls, c.failed_calls), (3, 0), "{c:?}");
        assert_eq!(net.endpoints[uas].stats().counters.incoming_calls, 3);
    }

    #[test]
    fn a_client_that_does_not_accept_places_no_call_and_keeps_its_pause_wish() {
        let mut net = SimNet::new(4);
        let _uas = net.add_server(sim::builtin("uas"), addr(5060));
        let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 10.0, 5);
        let t0 = net.epoch();
        let wall = std::time::SystemTime::UNIX_EPOCH;
        net.endpoints[uac].set_accepting(false, t0);
        let later = t0 + Duration::from_secs(2);
        net.endpoints[uac].handle_timeout(later, wall);
        assert_eq!(net.endpoints[uac].stats().counters.outgoing_calls, 0);
        assert_eq!(net.endpoints[uac].poll_timeout(), None, "no pacer wake-up");
        // Paused meanwhile: accepting again does not resume it.
        net.endpoints[uac].set_paused(true, later);
        net.endpoints[uac].set_accepting(true, later);
        let later = later + Duration::from_secs(2);
        net.endpoints[uac].handle_timeout(later, wall);
        assert_eq!(net.endpoints[uac].stats().counters.outgoing_calls, 0);
        net.now = later;
        let now = net.now;
        net.endpoints[uac].set_paused(false, now);
        net.run_until(1_000_000, |n| n.endpoints[uac].done());
        let c = &net.endpoints[uac].stats().counters;
        assert_eq!((c.successful_calls, c.failed_calls), (5, 0), "{c:?}");
    }
}

mod call_sip_tests {
    use std::collections::HashMap;

    use super::*;
    use crate::endpoint::{Event, Finished};
    use crate::sim::{self, SimNet};
    use crate::sip::{HeaderName, SipMessage};

    fn finished(e: &mut Endpoint) -> Vec<Finished> {
        std::iter::from_fn(|| e.poll_event())
            .filter_map(|e| match e {
                Event::Finished(f) => Some(f),
                Event::Shard(_) => None,
            })
            .collect()
    }

    /// 3000 calls at 20,000 calls/s (2000 calls, some 14,000 messages, per 100 ms: far
    /// past what the live capture keeps), in virtual time: every finished call, on both
    /// sides, carries the From and To of its first message, its peer and exactly the
    /// messages the network carried for it.
    #[test]
    fn every_finished_call_carries_its_sip_at_any_rate() {
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let (server, client) = (addr(5060), addr(5061));
        let mut net = SimNet::new(9);
        let uas = net.add_server(sim::builtin("uas"), server);
        let uac = net.add_client(sim::builtin("uac"), client, server, 20_000.0, 3000);
        for i in [uas, uac] {
            net.endpoints[i].collect_finished(true);
            net.endpoints[i].collect_call_sip(true);
        }
        net.run_until(2_000_000, |n| {
            n.endpoints[uac].done() && n.endpoints[uas].live_calls() == 0
        });
        assert_eq!(net.endpoints[uac].stats().counters.successful_calls, 3000);
        let invites = net
            .log
            .iter()
            .filter(|s| s.first_line.starts_with("INVITE "));
        let last = invites.map(|s| s.at).max().unwrap();
        assert!(
            last < Duration::from_millis(160),
            "the calls were created at 20,000 calls/s: the last at {last:?}"
        );
        // What the network carried, per Call-ID: (first message's From and To, sent by
        // the client, sent by the server).
        let mut wire: HashMap<String, (String, String, u32, u32)> = HashMap::new();
        for s in &net.log {
            assert!(!s.dropped);
            let w = wire.entry(s.call_id.clone()).or_insert_with(|| {
                let m = SipMessage::parse(&s.bytes).unwrap();
                let h = |n| String::from_utf8_lossy(m.header(n).unwrap()).into_owned();
                (h(HeaderName::From), h(HeaderName::To), 0, 0)
            });
            if s.from == client {
                w.2 += 1;
            } else {
                w.3 += 1;
            }
        }
        for (side, me, peer) in [(uac, client, server), (uas, server, client)] {
            let calls = finished(&mut net.endpoints[side]);
            assert_eq!(calls.len(), 3000);
            for f in &calls {
                let id = String::from_utf8_lossy(&f.call_id);
                let sip = f.sip.as_deref().unwrap();
                let (from, to, by_client, by_server) = &wire[id.as_ref()];
                let (sent, received) = if me == client {
                    (*by_client, *by_server)
                } else {
                    (*by_server, *by_client)
                };
                assert_eq!(
                    (sip.from(), sip.to(), sip.peer, sip.sent, sip.received),
                    (from.as_bytes(), to.as_bytes(), Some(peer), sent, received),
                    "call {id}"
                );
                let tagged = String::from_utf8_lossy(sip.from()).contains("tag=");
                assert!(tagged && sip.sent >= 3 && sip.received >= 3);
                assert_eq!(sip.failure, None, "call {id} passed");
            }
        }
    }

    /// A call that fails carries the debug line of why: the reason, the scenario element
    /// it was at (index, element, line) and the message it failed on (a call that passes
    /// carries none: `every_finished_call_carries_its_sip_at_any_rate`).
    #[test]
    fn a_failed_call_carries_why_where_and_on_what() {
        let uas_busy = r#"<?xml version="1.0"?>
<scenario name="busy">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <recv request="ACK"/>
</scenario>"#;
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let mut net = SimNet::new(6);
        let uas = net.add_server(sim::scenario(uas_busy), addr(5060));
        let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 10.0, 2);
        for i in [uas, uac] {
            net.endpoints[i].collect_finished(true);
            net.endpoints[i].collect_call_sip(true);
        }
        // The busy uas waits for an ACK that never comes (no recv timeout): only the
        // uac's calls end.
        net.run_until(100_000, |n| n.endpoints[uac].done());
        let calls = finished(&mut net.endpoints[uac]);
        assert_eq!(calls.len(), 2);
        for f in &calls {
            let why = f.sip.as_deref().unwrap().failure.as_deref().unwrap();
            // The built-in uac waits for an optional 100 at element 1, line 5 of its XML.
            assert!(
                why.starts_with(
                    "call failed: UnexpectedMessage at element 1 (<recv response=\"100\">, line "
                ) && why.ends_with(", on \"SIP/2.0 486 Busy Here\""),
                "{why}"
            );
        }
    }

    /// Without `collect_call_sip`, finished calls carry nothing (and nothing is noted).
    #[test]
    fn without_the_catalogue_no_sip_is_noted() {
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let mut net = SimNet::new(9);
        let _uas = net.add_server(sim::builtin("uas"), addr(5060));
        let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 100.0, 3);
        net.endpoints[uac].collect_finished(true);
        net.run_until(100_000, |n| n.endpoints[uac].done());
        let calls = finished(&mut net.endpoints[uac]);
        assert_eq!(calls.len(), 3);
        assert!(calls.iter().all(|f| f.sip.is_none()));
        assert!(net.endpoints[uac].call_sip.is_none());
    }
}

mod rate_change {
    use super::*;
    use crate::sim;

    /// A uac core pacing `rate` calls/s from `now` (no peer answers: only INVITEs go out).
    fn client(rate: f64, now: Instant) -> Endpoint {
        let local: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let remote: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        Endpoint::new(
            0,
            1,
            sim::builtin("uac"),
            sim::env(local, Some(remote), now),
            7,
            InjectData::default(),
            Pacer::new(rate, now),
            Budget {
                remaining: None,
                limit: 100_000,
            },
        )
    }

    /// Drives `core` from deadline to deadline until `end`; returns the instants at
    /// which calls were created (one entry per call; retransmissions are not calls).
    fn created_until(core: &mut Endpoint, end: Instant, wall: SystemTime) -> Vec<Instant> {
        let mut at = Vec::new();
        for _ in 0..100_000 {
            let Some(t) = core.poll_timeout().filter(|t| *t <= end) else {
                break;
            };
            let before = core.stats().counters.outgoing_calls;
            core.handle_timeout(t, wall);
            let _ = sent(core);
            let n = core.stats().counters.outgoing_calls - before;
            at.extend(std::iter::repeat_n(t, n as usize));
        }
        at
    }

    /// A rate change re-arms the pacer: the next creation deadline comes from the new
    /// rate at once, not from the old one (a 2 calls/s pacer's next call was 500 ms
    /// away). Up 2 → 20,000 calls/s: the first new call is created at the change (no
    /// burst in the last 2 ms to count from), then 20 per 1 ms tick; down 20,000 → 2,
    /// 0.5 ms after a burst: nothing more at 20,000, the next call 500 ms after that burst.
    #[test]
    fn the_first_call_at_a_new_rate_comes_within_one_tick_of_the_change() {
        let t0 = sim::epoch();
        let wall = SystemTime::UNIX_EPOCH;
        let ms = Duration::from_millis(1);
        let mut core = client(2.0, t0);
        let before = created_until(&mut core, t0 + 100 * ms, wall);
        assert_eq!(before, vec![t0], "2 calls/s: one call in the first 100 ms");
        assert_eq!(core.poll_timeout(), Some(t0 + 500 * ms));

        // The API changes the rate between two turns, 100.3 ms in.
        let change = t0 + 100 * ms + Duration::from_micros(300);
        core.set_rate(20_000.0, change);
        let next = core.poll_timeout().unwrap();
        assert!(
            next <= change + ms,
            "the pacer is re-armed: next creation {:?} after the change",
            next - change
        );
        let after = created_until(&mut core, change + 10 * ms, wall);
        let first = after[0];
        assert_eq!(first, change);
        // Then the new pace: 20 calls per 1 ms tick, 200 in 10 ms after the first.
        assert_eq!(after.len(), 1 + 200, "{after:?}");
        let in_second_ms = after
            .iter()
            .filter(|t| **t > first && **t <= first + ms)
            .count();
        assert_eq!(in_second_ms, 20, "{after:?}");

        let last = *after.last().unwrap();
        let down = last + Duration::from_micros(500);
        core.set_rate(2.0, down);
        let after = created_until(&mut core, down + 600 * ms, wall);
        assert_eq!(after, vec![last + 500 * ms], "{after:?}");
    }

    /// The bursts (instant, calls) among creation instants.
    fn bursts(at: &[Instant]) -> Vec<(Instant, usize)> {
        let mut out: Vec<(Instant, usize)> = Vec::new();
        for t in at {
            match out.last_mut() {
                Some((b, n)) if b == t => *n += 1,
                _ => out.push((*t, 1)),
            }
        }
        out
    }

    /// The shard applies a control change on the wake-up it causes, between two bursts
    /// (`shard::event_loop`: steer, then handle_timeout): that turn opens nothing, and the
    /// first burst after it, at its usual instant (one tick after the last burst: the
    /// wake-up does not push it back), has the new rate's size. A pause releases nothing
    /// after the wake-up; a resume opens its first call on it.
    #[test]
    fn a_control_change_at_t_is_used_by_the_first_burst_after_t() {
        let t0 = sim::epoch();
        let wall = SystemTime::UNIX_EPOCH;
        let ms = Duration::from_millis(1);
        let us = Duration::from_micros;
        let mut core = client(20_000.0, t0);
        let mut last = created_until(&mut core, t0 + 10 * ms, wall).pop().unwrap();
        // (new rate, µs after the last burst the change lands), in turn.
        for (rate, offset) in [
            (2_000.0, 300),
            (20_000.0, 999),
            (10_000.0, 1),
            (20_000.0, 650),
            (2_000.0, 0),
        ] {
            let change = last + us(offset);
            core.set_rate(rate, change);
            let before = core.stats().counters.outgoing_calls;
            core.handle_timeout(change, wall);
            let _ = sent(&mut core);
            assert_eq!(
                core.stats().counters.outgoing_calls,
                before,
                "the wake-up opens nothing"
            );
            assert_eq!(
                core.poll_timeout(),
                Some(last + ms),
                "{rate} at +{offset} µs"
            );
            let after = bursts(&created_until(&mut core, last + 4 * ms, wall));
            let size = (rate / 1000.0) as usize;
            assert_eq!(
                after,
                (1..=4).map(|i| (last + i * ms, size)).collect::<Vec<_>>(),
                "{rate} at +{offset} µs"
            );
            last = after.last().unwrap().0;
        }
        // Pause 0.4 ms after a burst: nothing after the wake-up; resume 50.2 ms later:
        // the first call on the resume's wake-up, then the pace.
        let pause = last + us(400);
        core.set_paused(true, pause);
        core.handle_timeout(pause, wall);
        assert!(created_until(&mut core, pause + 50 * ms, wall).is_empty());
        let resume = pause + 50 * ms + us(200);
        core.set_paused(false, resume);
        let on_wake = core.stats().counters.outgoing_calls;
        core.handle_timeout(resume, wall);
        let _ = sent(&mut core);
        assert_eq!(core.stats().counters.outgoing_calls - on_wake, 1);
        let after = bursts(&created_until(&mut core, resume + 2 * ms, wall));
        assert_eq!(after, vec![(resume + ms, 2), (resume + 2 * ms, 2)]);
    }
}
