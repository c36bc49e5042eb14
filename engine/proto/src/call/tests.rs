//! Virtual-time tests of calls: retransmission timers, timeouts, optional recv,
//! branching, unexpected messages and loss, driven through `sim::SimNet`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::sim::{self, SimNet};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn gaps_ms(net: &SimNet, prefix: &str) -> Vec<u128> {
    let times: Vec<Duration> = net
        .log
        .iter()
        .filter(|s| s.first_line.starts_with(prefix))
        .map(|s| s.at)
        .collect();
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect()
}

#[test]
fn builtin_uac_and_uas_complete_ten_calls() {
    let mut net = SimNet::new(1);
    let uas = net.add_server(sim::builtin("uas"), addr(5060));
    let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 10.0, 10);
    net.run_until(100_000, |n| {
        n.endpoints[uac].done() && n.endpoints[uas].live_calls() == 0
    });
    let c = &net.endpoints[uac].stats().counters;
    assert_eq!(
        (c.outgoing_calls, c.successful_calls, c.failed_calls),
        (10, 10, 0)
    );
    let s = &net.endpoints[uas].stats().counters;
    assert_eq!(
        (s.incoming_calls, s.successful_calls, s.failed_calls),
        (10, 10, 0)
    );
    // The uac's response time was measured for each call.
    assert_eq!(net.endpoints[uac].stats().rtd[0].count, 10);
}

#[test]
fn invite_retransmits_double_until_timer_b() {
    let mut net = SimNet::new(2);
    // Nobody listens at 5060: every INVITE is lost.
    let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 1.0, 1);
    net.run_until(10_000, |n| n.endpoints[uac].done());
    assert_eq!(gaps_ms(&net, "INVITE"), vec![500, 1000, 2000, 4000, 8000]);
    let c = &net.endpoints[uac].stats().counters;
    assert_eq!(c.failed_max_udp_retrans, 1);
    assert_eq!(c.retransmissions, 5);
    // Timer B: the call fails 64·T1 = 32 s after the first INVITE (31.5 s after it with
    // SIPp's retrans="500" schedule, which ends at the sixth interval).
    let first = net
        .log
        .iter()
        .find(|s| s.first_line.starts_with("INVITE"))
        .map(|s| s.at)
        .unwrap();
    assert!(net.now - net.epoch() - first >= Duration::from_millis(31_500));
}

#[test]
fn non_invite_retransmits_are_capped_at_t2() {
    let xml = r#"<?xml version="1.0"?>
<scenario name="options">
  <send retrans="500"><![CDATA[
OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:a@[local_ip]>;tag=[call_number]
To: <sip:[service]@[remote_ip]>
Call-ID: [call_id]
CSeq: 1 OPTIONS
Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>"#;
    let mut net = SimNet::new(3);
    let uac = net.add_client(sim::scenario(xml), addr(5061), addr(5060), 1.0, 1);
    net.run_until(10_000, |n| n.endpoints[uac].done());
    assert_eq!(
        gaps_ms(&net, "OPTIONS"),
        vec![500, 1000, 2000, 4000, 4000, 4000, 4000]
    );
    assert_eq!(
        net.endpoints[uac].stats().counters.failed_max_udp_retrans,
        1
    );
}

#[test]
fn lost_180_and_200_are_absorbed_by_resending_the_last_response() {
    let mut net = SimNet::new(4);
    let uas = net.add_server(sim::builtin("uas"), addr(5060));
    let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 1.0, 1);
    let mut dropped = 0;
    net.drop_rule = Some(Box::new(move |s| {
        // Drop the first 180 and the first 200 to the INVITE: SIPp's uas fails here.
        if dropped < 2
            && (s.first_line.starts_with("SIP/2.0 180") || s.first_line.starts_with("SIP/2.0 200"))
        {
            dropped += 1;
            return true;
        }
        false
    }));
    net.run_until(100_000, |n| {
        n.endpoints[uac].done() && n.endpoints[uas].live_calls() == 0
    });
    let c = &net.endpoints[uac].stats().counters;
    assert_eq!(
        (c.successful_calls, c.failed_calls),
        (1, 0),
        "{c:?}\n{:#?}",
        net.log
    );
    let s = &net.endpoints[uas].stats().counters;
    assert_eq!((s.successful_calls, s.failed_calls), (1, 0), "{s:?}");
    assert!(s.absorbed_retransmissions >= 1);
}

#[test]
fn uac_uas_pair_completes_under_five_percent_loss() {
    let mut net = SimNet::new(5);
    net.loss = 0.05;
    net.jitter = Duration::from_millis(2);
    let uas = net.add_server(sim::builtin("uas"), addr(5060));
    let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 50.0, 200);
    net.endpoints[uac].collect_finished(true);
    net.run_until(2_000_000, |n| {
        n.endpoints[uac].done() && n.endpoints[uas].live_calls() == 0
    });
    let c = net.endpoints[uac].stats().counters;
    assert_eq!(c.outgoing_calls, 200);
    let finished: Vec<crate::endpoint::Finished> =
        std::iter::from_fn(|| net.endpoints[uac].poll_event())
            .filter_map(|e| match e {
                crate::endpoint::Event::Finished(f) => Some(f),
                crate::endpoint::Event::Shard(_) => None,
            })
            .collect();
    assert_eq!(finished.len(), 200, "every call is collected");
    let failed: Vec<String> = finished
        .iter()
        .filter(|f| f.outcome != crate::call::Outcome::Success)
        .map(|f| String::from_utf8_lossy(&f.call_id).into_owned())
        .collect();
    let trail: Vec<String> = net
        .log
        .iter()
        .filter(|s| failed.first().is_some_and(|id| *id == s.call_id))
        .map(|s| {
            format!(
                "{:?} {} -> {} {}{}",
                s.at,
                s.from,
                s.to,
                s.first_line,
                if s.dropped { " (lost)" } else { "" }
            )
        })
        .collect();
    assert_eq!(
        (c.successful_calls, c.failed_calls),
        (200, 0),
        "{c:?}\n{}",
        trail.join("\n")
    );
    assert!(c.retransmissions > 0, "5 % loss must cause retransmissions");
}

#[test]
fn an_unexpected_response_fails_the_call() {
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
    let mut net = SimNet::new(6);
    let _uas = net.add_server(sim::scenario(uas_busy), addr(5060));
    let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 1.0, 1);
    net.run_until(100_000, |n| n.endpoints[uac].done());
    let c = &net.endpoints[uac].stats().counters;
    assert_eq!(c.failed_unexpected_message, 1, "{c:?}");
    // SIPp counts it on the step the call was waiting at: the optional 100.
    assert_eq!(
        net.endpoints[uac].stats().steps[1].unexpected,
        1,
        "{:?}",
        net.endpoints[uac].stats().steps
    );
}

#[test]
fn recv_timeout_goes_to_ontimeout_label() {
    let xml = r#"<?xml version="1.0"?>
<scenario name="ontimeout">
  <send><![CDATA[
OPTIONS sip:x@[remote_ip] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
Call-ID: [call_id]
CSeq: 1 OPTIONS
Content-Length: 0
]]></send>
  <recv response="200" timeout="2000" ontimeout="done"/>
  <label id="done"/>
  <pause milliseconds="100"/>
</scenario>"#;
    let mut net = SimNet::new(7);
    let uac = net.add_client(sim::scenario(xml), addr(5061), addr(5060), 1.0, 1);
    net.run_until(10_000, |n| n.endpoints[uac].done());
    let c = &net.endpoints[uac].stats().counters;
    assert_eq!((c.successful_calls, c.timeouts), (1, 1), "{c:?}");
    // 2 s timeout + 100 ms pause.
    assert_eq!((net.now - net.epoch()).as_millis(), 2100);
}

#[test]
fn branchc_and_branchs_complete() {
    let mut net = SimNet::new(8);
    let s = net.add_server(sim::builtin("branchs"), addr(5060));
    let c = net.add_client(sim::builtin("branchc"), addr(5061), addr(5060), 5.0, 5);
    net.run_until(200_000, |n| {
        n.endpoints[c].done() && n.endpoints[s].live_calls() == 0
    });
    let cc = &net.endpoints[c].stats().counters;
    assert_eq!((cc.successful_calls, cc.failed_calls), (5, 0), "{cc:?}");
    let sc = &net.endpoints[s].stats().counters;
    assert_eq!((sc.successful_calls, sc.failed_calls), (5, 0), "{sc:?}");
}

#[test]
fn call_state_stays_within_its_memory_budget() {
    // Memory per call is a budget (STYLE.md §4, issue #3): growing `Call` must be a
    // deliberate commit. 216 bytes is a 224-byte glibc chunk. Message copies and rare
    // state are boxed and let go of while a call waits (see `layout` and `plan`).
    let size = std::mem::size_of::<crate::call::Call>();
    assert!(size <= 216, "Call is {size} bytes");
}

#[test]
fn users_mode_keeps_the_number_of_calls_constant() {
    let mut net = SimNet::new(10);
    let uas = net.add_server(sim::builtin("uas"), addr(5060));
    let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 0.0, 40);
    net.endpoints[uac].run.env.users = Some(5);
    net.endpoints[uac].run.env.default_pause_ms = 100;
    net.endpoints[uac].start_users(1, 5);
    net.run_until(1_000_000, |n| {
        n.endpoints[uac].done() && n.endpoints[uas].live_calls() == 0
    });
    let s = &net.endpoints[uac].stats();
    assert_eq!(
        (s.counters.successful_calls, s.counters.failed_calls),
        (40, 0),
        "{:?}",
        s.counters
    );
    assert_eq!(s.peak_calls, 5, "five users, five calls at a time");
}

#[test]
fn users_wait_for_a_common_start_in_the_future() {
    // The shards of a run with a common start (issue 20) are up before it: no user may
    // call early.
    let mut net = SimNet::new(12);
    net.add_server(sim::builtin("uas"), addr(5060));
    let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 0.0, 3);
    let start = net.now + Duration::from_secs(2);
    net.endpoints[uac].run.env.users = Some(3);
    net.endpoints[uac].run.env.start = start;
    net.endpoints[uac].start_users(1, 3);
    net.run_until(1_000_000, |n| {
        n.endpoints[uac].stats().counters.outgoing_calls > 0
    });
    assert!(
        net.now >= start,
        "the first call opened {:?} before the start",
        start - net.now
    );
    assert!(
        net.now < start + Duration::from_millis(2),
        "and at the start, not later: {:?}",
        net.now - start
    );
}

#[test]
fn a_call_limit_throttles_creation_without_failing_calls() {
    let mut net = SimNet::new(11);
    let uas = net.add_server(sim::builtin("uas"), addr(5060));
    let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 1000.0, 100);
    net.endpoints[uac].budget.limit = 3;
    net.endpoints[uac].run.env.default_pause_ms = 50;
    net.run_until(1_000_000, |n| {
        n.endpoints[uac].done() && n.endpoints[uas].live_calls() == 0
    });
    let s = &net.endpoints[uac].stats();
    assert_eq!(
        (s.counters.successful_calls, s.counters.failed_calls),
        (100, 0)
    );
    assert!(s.peak_calls <= 3, "peak {}", s.peak_calls);
}

mod allocations {
    //! Counts heap allocations made on this test's thread while calls run, and the bytes
    //! they hold as glibc would (each chunk: the request plus 8 bytes, rounded up to 16,
    //! at least 32).
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub(super) struct Counting;

    thread_local! {
        pub(super) static ALLOCS: Cell<u64> = const { Cell::new(0) };
        pub(super) static LIVE: Cell<i64> = const { Cell::new(0) };
    }

    fn chunk(size: usize) -> i64 {
        ((size + 8 + 15) & !15).max(32) as i64
    }

    fn live(delta: i64) {
        let _ = LIVE.try_with(|c| c.set(c.get() + delta));
    }

    // SAFETY-free wrapper: every call is forwarded to the system allocator unchanged.
    #[allow(unsafe_code)]
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
            live(chunk(l.size()));
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            live(-chunk(l.size()));
            // SAFETY: `p` came from `alloc` above, i.e. from System.
            unsafe { System.dealloc(p, l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
            let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
            live(chunk(n) - chunk(l.size()));
            // SAFETY: forwarded unchanged.
            unsafe { System.realloc(p, l, n) }
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    pub(super) fn count() -> u64 {
        ALLOCS.with(|c| c.get())
    }

    /// Heap bytes held by this thread's allocations, chunk overhead included.
    pub(super) fn live_bytes() -> i64 {
        LIVE.with(|c| c.get())
    }
}

#[test]
fn steady_state_allocations_per_call_are_bounded() {
    let mut net = SimNet::new(12);
    let uas = net.add_server(sim::builtin("uas"), addr(5060));
    let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 1000.0, 8000);
    net.log_enabled = false;
    // Warm up: buffers, tables and the shards' spare `Kept` boxes reach their working
    // size (the uas's calls give theirs back after the 4 s timewait).
    net.run_until(10_000_000, |n| {
        n.endpoints[uac].stats().counters.successful_calls >= 6000
    });
    let before = allocations::count();
    let calls_before = net.endpoints[uac].stats().counters.successful_calls;
    net.run_until(10_000_000, |n| {
        n.endpoints[uac].stats().counters.successful_calls >= 7000
    });
    let allocs = allocations::count() - before;
    let calls = net.endpoints[uac].stats().counters.successful_calls - calls_before;
    let per_call = allocs as f64 / calls as f64;
    let _ = uas;
    // The simulated network copies each of the 6 datagrams of a call pair once (uac:
    // INVITE, ACK, BYE; uas: 180, 200, 200).
    let engine = per_call - 6.0;
    eprintln!("{engine:.1} engine allocations per call pair (uac + uas)");
    // What is left is per-call work, none per message: the two boxed calls, and the
    // uas's copy of its 200 for retransmission (that buffer was freed while the previous
    // call paused in its timewait). Message copies otherwise reuse spare buffers.
    assert!(engine < 3.5, "{engine:.1} allocations per call pair");
}

#[test]
fn held_calls_cost_bounded_heap_bytes() {
    // Issue #3: at most 1 KiB per held call in each role. This counts the heap a held
    // uac+uas call pair keeps (calls, call table, timers and index, as glibc chunks);
    // perf/compare.py measures the RSS of real processes.
    let mut net = SimNet::new(15);
    let uas = net.add_server(sim::builtin("uas"), addr(5060));
    let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 1000.0, 4000);
    net.endpoints[uac].run.env.default_pause_ms = 600_000;
    net.log_enabled = false;
    // The uas's step 3 takes the ACK: the call is established on both sides.
    let established = |n: &SimNet, calls: u64| n.endpoints[uas].stats().steps[3].messages >= calls;
    net.run_until(10_000_000, |n| established(n, 2000));
    let before = allocations::live_bytes();
    net.run_until(10_000_000, |n| established(n, 4000));
    let per_pair = (allocations::live_bytes() - before) / 2000;
    assert_eq!(net.endpoints[uac].live_calls(), 4000);
    eprintln!("{per_pair} heap bytes per held call pair (uac + uas)");
    // Per role: the boxed call (224), its slot (24), timer entry (16) and index entry
    // (16 + 1 control byte), with the tables' spare capacity.
    assert!(per_pair <= 640, "{per_pair} heap bytes per held call pair");
}

const RINGING_ONLY_UAS: &str = r#"<?xml version="1.0"?>
<scenario name="ringing only">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <recv request="CANCEL"/>
</scenario>"#;

#[test]
fn an_aborted_unanswered_call_sends_cancel() {
    let uac_short_wait = sim::builtin("uac");
    let mut net = SimNet::new(13);
    let uas = net.add_server(sim::scenario(RINGING_ONLY_UAS), addr(5060));
    let uac = net.add_client(uac_short_wait, addr(5061), addr(5060), 1.0, 1);
    net.endpoints[uac].run.env.recv_timeout_ms = Some(1000);
    net.run_until(100_000, |n| {
        n.endpoints[uac].done() && n.endpoints[uas].live_calls() == 0
    });
    assert_eq!(
        net.endpoints[uac].stats().counters.failed_timeout_on_recv,
        1
    );
    let cancel = net
        .log
        .iter()
        .find(|s| s.first_line.starts_with("CANCEL "))
        .expect("a CANCEL was sent");
    assert_eq!(
        cancel.first_line,
        "CANCEL sip:service@127.0.0.1:5060 SIP/2.0"
    );
    // The uas took it as the CANCEL it waited for.
    assert_eq!(net.endpoints[uas].stats().counters.successful_calls, 1);
}

/// `-nd` as these tests take it: no BYE, CANCEL or ping answer for an aborted call, but
/// an unexpected message still aborts it (what the tests are about).
const NO_BYE_NOR_CANCEL: crate::config::DefaultBehaviors = crate::config::DefaultBehaviors {
    bye: false,
    pingreply: false,
    abort_unexp: true,
    cancel: false,
};

#[test]
fn an_aborted_answered_call_sends_bye_and_nd_sends_nothing() {
    let client = r#"<?xml version="1.0"?>
<scenario name="hangs after ack">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:a@[local_ip]>;tag=[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Content-Length: 0
]]></send>
  <recv response="180" optional="true"/>
  <recv response="200"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:a@[local_ip]>;tag=[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Content-Length: 0
]]></send>
  <recv request="INFO" timeout="300"/>
</scenario>"#;
    for behaviors_on in [true, false] {
        let mut net = SimNet::new(14);
        let uas = net.add_server(sim::builtin("uas"), addr(5060));
        let uac = net.add_client(sim::scenario(client), addr(5061), addr(5060), 1.0, 1);
        if !behaviors_on {
            net.endpoints[uac].run.env.behaviors = NO_BYE_NOR_CANCEL;
        }
        // With -nd nobody ends the uas's call: only the client is waited for.
        net.run_until(100_000, |n| {
            n.endpoints[uac].done() && (!behaviors_on || n.endpoints[uas].live_calls() == 0)
        });
        assert_eq!(
            net.endpoints[uac].stats().counters.failed_timeout_on_recv,
            1
        );
        let byes: Vec<_> = net
            .log
            .iter()
            .filter(|s| s.first_line.starts_with("BYE "))
            .collect();
        if behaviors_on {
            assert_eq!(byes.len(), 1, "one BYE");
            // SIPp's uas took the BYE and ended its call normally.
            assert_eq!(net.endpoints[uas].stats().counters.successful_calls, 1);
        } else {
            assert!(byes.is_empty(), "-nd: no BYE");
        }
    }
}

const BUSY_UAS: &str = r#"<?xml version="1.0"?>
<scenario name="busy">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=busy[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <recv request="ACK"/>
</scenario>"#;

#[test]
fn an_unexpected_failure_to_the_invite_is_acked_before_the_abort_and_nd_sends_nothing() {
    for behaviors_on in [true, false] {
        let mut net = SimNet::new(15);
        let uas = net.add_server(sim::scenario(BUSY_UAS), addr(5060));
        let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 1.0, 1);
        if !behaviors_on {
            net.endpoints[uac].run.env.behaviors = NO_BYE_NOR_CANCEL;
        }
        net.run_until(100_000, |n| {
            n.endpoints[uac].done() && (!behaviors_on || n.endpoints[uas].live_calls() == 0)
        });
        assert_eq!(
            net.endpoints[uac]
                .stats()
                .counters
                .failed_unexpected_message,
            1
        );
        let acks: Vec<_> = net
            .log
            .iter()
            .filter(|s| s.first_line.starts_with("ACK "))
            .collect();
        if behaviors_on {
            assert_eq!(acks.len(), 1, "one ACK for the 486");
            // The uas took it as the ACK of its 486 (same transaction): a clean end.
            assert_eq!(net.endpoints[uas].stats().counters.successful_calls, 1);
            assert_eq!(net.endpoints[uas].stats().counters.failed_calls, 0);
        } else {
            assert!(acks.is_empty(), "-nd: no ACK");
        }
    }
}

/// Datagrams queued by endpoint `i`, taken off its queue.
fn take_sent(net: &mut SimNet, i: usize) -> Vec<Vec<u8>> {
    let mut tx = crate::call::TxQueue::default();
    let mut sent = Vec::new();
    while net.endpoints[i].poll_transmit(&mut tx) {
        sent.extend(tx.items.iter().map(|t| tx.bytes(t).to_vec()));
        tx.clear();
    }
    sent
}

/// Runs one uac call of `client` against the built-in uas by hand, loses the ACK, lets
/// the uas retransmit its 200, and returns the first ACK and the one sent again.
fn ack_then_ack_for_the_repeated_200(
    client: std::sync::Arc<crate::scenario::Scenario>,
) -> (Vec<u8>, Vec<u8>) {
    let wall = std::time::SystemTime::UNIX_EPOCH;
    let mut net = SimNet::new(16);
    let uas = net.add_server(sim::builtin("uas"), addr(5060));
    let uac = net.add_client(client, addr(5061), addr(5060), 1.0, 1);
    net.endpoints[uac].run.env.default_pause_ms = 10_000;
    let now = net.epoch() + Duration::from_secs(1);
    net.endpoints[uac].handle_timeout(now, wall);
    for d in take_sent(&mut net, uac) {
        net.endpoints[uas].handle_datagram(now, wall, &d, addr(5061));
    }
    for d in take_sent(&mut net, uas) {
        net.endpoints[uac].handle_datagram(now, wall, &d, addr(5060));
    }
    let mut acks = take_sent(&mut net, uac);
    assert_eq!(acks.len(), 1);
    let first = acks.remove(0);
    assert!(first.starts_with(b"ACK "));
    // The ACK is lost: after T1 the uas sends its 200 again, and the uac answers it.
    let later = now + Duration::from_millis(500);
    net.endpoints[uas].handle_timeout(later, wall);
    let again = take_sent(&mut net, uas);
    assert_eq!(again.len(), 1);
    assert!(again[0].starts_with(b"SIP/2.0 200"));
    net.endpoints[uac].handle_datagram(later, wall, &again[0], addr(5060));
    let mut acks = take_sent(&mut net, uac);
    assert_eq!(acks.len(), 1, "one ACK for the repeated 200");
    assert_eq!(
        net.endpoints[uac].stats().counters.absorbed_retransmissions,
        1
    );
    (first, acks.remove(0))
}

#[test]
fn a_repeated_200_gets_the_same_ack_rendered_again_or_kept() {
    // The built-in's ACK reads only stable keywords: it is rendered again.
    let (first, again) = ack_then_ack_for_the_repeated_200(sim::builtin("uac"));
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&first)
    );
    // An ACK with a keyword that changes ([dynamic_id]) is kept as sent.
    let xml = crate::scenario::builtin::get("uac")
        .unwrap()
        .xml
        .replace("CSeq: 1 ACK", "CSeq: 1 ACK\n    X-Id: [dynamic_id]");
    let (first, again) = ack_then_ack_for_the_repeated_200(sim::scenario(&xml));
    assert!(first.windows(6).any(|w| w == b"X-Id: "));
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&first)
    );
}

#[test]
fn a_message_read_after_a_pause_is_kept_while_the_call_waits() {
    // The 180 and 200 copy headers of the INVITE ([last_Via:] …) after a pause, when the
    // INVITE is no longer the message being handled: the call keeps a copy of it.
    let xml = crate::scenario::builtin::get("uas").unwrap().xml.replacen(
        r#"<recv request="INVITE" crlf="true"/>"#,
        r#"<recv request="INVITE" crlf="true"/><pause milliseconds="100"/>"#,
        1,
    );
    let mut net = SimNet::new(17);
    let uas = net.add_server(sim::scenario(&xml), addr(5060));
    let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), 10.0, 5);
    net.run_until(100_000, |n| {
        n.endpoints[uac].done() && n.endpoints[uas].live_calls() == 0
    });
    let c = &net.endpoints[uac].stats().counters;
    assert_eq!((c.successful_calls, c.failed_calls), (5, 0), "{c:?}");
    let s = &net.endpoints[uas].stats().counters;
    assert_eq!((s.successful_calls, s.failed_calls), (5, 0), "{s:?}");
}

/// SIPp's pfca_* flow: a PRACK sent while the INVITE waits for its final answer; the
/// 200 to the PRACK, then the 200 to the INVITE, each taken by its own `recv`. Once
/// the INVITE is answered, a repeated 200 to it is still a retransmission.
#[test]
fn a_200_to_the_invite_after_the_200_to_a_prack_is_taken() {
    let uas = r#"<?xml version="1.0"?>
<scenario name="prack uas">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[call_number]
[last_Call-ID:]
[last_CSeq:]
Require: 100rel
RSeq: 1
Content-Length: 0
]]></send>
  <recv request="PRACK"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
CSeq: 1 INVITE
Content-Length: 0
]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
</scenario>"#;
    let request = |line: &str, cseq: &str| {
        format!(
            "{line} sip:s@[remote_ip]:[remote_port] SIP/2.0\n\
             Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
             From: <sip:a@[local_ip]>;tag=[call_number]\n\
             To: <sip:s@[remote_ip]>[peer_tag_param]\n\
             Call-ID: [call_id]\n\
             CSeq: {cseq}\n\
             Content-Length: 0\n"
        )
    };
    let uac = format!(
        r#"<?xml version="1.0"?>
<scenario name="prack uac">
  <send retrans="500"><![CDATA[
{}]]></send>
  <recv response="180"/>
  <send retrans="500"><![CDATA[
{}]]></send>
  <recv response="200"/>
  <recv response="200"/>
  <send><![CDATA[
{}]]></send>
  <send retrans="500"><![CDATA[
{}]]></send>
  <recv response="200"/>
</scenario>"#,
        request("INVITE", "1 INVITE"),
        request("PRACK", "2 PRACK"),
        request("ACK", "1 ACK"),
        request("BYE", "3 BYE"),
    );
    let mut net = SimNet::new(9);
    let uas = net.add_server(sim::scenario(uas), addr(5060));
    let uac = net.add_client(sim::scenario(&uac), addr(5061), addr(5060), 1.0, 1);
    net.run_until(100_000, |n| {
        n.endpoints[uac].done() && n.endpoints[uas].live_calls() == 0
    });
    for e in [uac, uas] {
        let c = &net.endpoints[e].stats().counters;
        assert_eq!((c.successful_calls, c.failed_calls), (1, 0), "{c:?}");
    }
    let steps = &net.endpoints[uac].stats().steps;
    assert_eq!((steps[3].messages, steps[4].messages), (1, 1), "{steps:?}");
}
