//! The routing and loss rules on plain inputs: no sockets, no tasks. Each test plays one
//! table's view (which connections are usable, which ended and how) and checks what
//! `Routes` answers.

use super::*;
use crate::transport::StreamKind;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn settings(per_call: bool, server: bool) -> StreamSettings {
    StreamSettings::new(StreamKind::Tcp, per_call, server)
}

/// Every registered connection takes messages.
fn all(_: u64) -> bool {
    true
}

fn opened_id(r: Route) -> u64 {
    match r {
        Route::Open { id, .. } => id,
        other => panic!("expected a new connection, got {other:?}"),
    }
}

#[test]
fn a_shared_client_opens_one_connection_and_sends_every_call_on_it() {
    let mut r = Routes::new(&settings(false, false));
    let first = r.route(addr(5060), 1, all);
    assert_eq!(
        first,
        Route::Open {
            id: 1,
            reconnect: false
        }
    );
    assert_eq!(r.route(addr(5060), 2, all), Route::Existing(1));
    assert_eq!(r.route(addr(5060), 0, all), Route::Existing(1));
    assert_eq!(r.per_call_open, 0);
}

#[test]
fn a_lost_shared_connection_fails_every_call_and_the_next_send_reconnects() {
    let mut r = Routes::new(&settings(false, false));
    let id = r.adopt(addr(5060));
    assert_eq!(r.route(addr(5060), 1, all), Route::Existing(id));
    assert_eq!(r.close(id, true), Some(Carried::All));
    assert_eq!(
        r.route(addr(5060), 1, all),
        Route::Open {
            id: id + 1,
            reconnect: true
        }
    );
}

#[test]
fn max_reconnect_refuses_messages_once_the_reconnections_are_used_up() {
    let mut s = settings(false, false);
    s.max_reconnect = Some(1);
    let mut r = Routes::new(&s);
    let id = opened_id(r.route(addr(5060), 1, all));
    assert_eq!(r.close(id, true), Some(Carried::All));
    let again = r.route(addr(5060), 1, all);
    assert!(matches!(
        again,
        Route::Open {
            reconnect: true,
            ..
        }
    ));
    assert_eq!(r.close(opened_id(again), true), Some(Carried::All));
    assert_eq!(r.route(addr(5060), 1, all), Route::Refused);
    assert_eq!(r.route(addr(5060), 2, all), Route::Refused);
}

#[test]
fn without_reconnect_close_calls_wait_for_a_reconnection_while_one_is_left() {
    let mut s = settings(false, false);
    s.reconnect_close = false;
    s.max_reconnect = Some(1);
    let mut r = Routes::new(&s);
    let id = r.adopt(addr(5060));
    // Lost after it was open, a reconnection is left: the calls stay.
    assert_eq!(r.close(id, true), None);
    // The reconnection never opens: nothing will carry the calls.
    let again = opened_id(r.route(addr(5060), 1, all));
    assert_eq!(r.close(again, false), Some(Carried::All));
    // An open one lost with no reconnection left fails them too.
    let mut s = settings(false, false);
    s.reconnect_close = false;
    s.max_reconnect = Some(0);
    let mut r = Routes::new(&s);
    let id = r.adopt(addr(5060));
    assert_eq!(r.close(id, true), Some(Carried::All));
}

#[test]
fn a_closing_shared_connection_is_not_reused_and_replacing_it_is_a_reconnection() {
    let mut s = settings(false, false);
    s.max_reconnect = Some(1);
    let mut r = Routes::new(&s);
    let id = r.adopt(addr(5060));
    let next = r.route(addr(5060), 1, |i| i != id);
    assert_eq!(
        next,
        Route::Open {
            id: id + 1,
            reconnect: true
        }
    );
    assert_eq!(
        r.route(addr(5060), 1, |i| i == id + 1),
        Route::Existing(id + 1)
    );
    assert_eq!(r.route(addr(5060), 1, |_| false), Route::Refused);
}

#[test]
fn a_server_answers_on_the_connection_its_peer_opened() {
    let mut r = Routes::new(&settings(false, true));
    let a = r.accept(addr(40000));
    let b = r.accept(addr(40001));
    assert_eq!(r.route(addr(40000), 7, all), Route::Existing(a));
    assert_eq!(r.route(addr(40001), 0, all), Route::Existing(b));
    assert_eq!(r.close(a, true), Some(Carried::Peer));
    // A connection whose handshake failed carried no call.
    assert_eq!(r.close(b, false), None);
}

#[test]
fn a_server_opens_connections_to_gone_peers_without_counting_reconnections() {
    let mut s = settings(false, true);
    s.max_reconnect = Some(0);
    let mut r = Routes::new(&s);
    let a = r.accept(addr(40000));
    assert_eq!(r.close(a, true), Some(Carried::Peer));
    let first = r.route(addr(40000), 1, all);
    assert!(matches!(
        first,
        Route::Open {
            reconnect: false,
            ..
        }
    ));
    assert_eq!(r.close(opened_id(first), true), Some(Carried::Peer));
    let second = r.route(addr(40000), 1, all);
    assert!(matches!(
        second,
        Route::Open {
            reconnect: false,
            ..
        }
    ));
}

#[test]
fn per_call_clients_open_a_connection_per_flow_and_close_it_quietly_when_it_ends() {
    let mut r = Routes::new(&settings(true, false));
    let one = opened_id(r.route(addr(5060), 1, all));
    let two = opened_id(r.route(addr(5060), 2, all));
    assert_ne!(one, two);
    assert_eq!(r.route(addr(5060), 1, all), Route::Existing(one));
    assert_eq!(r.per_call_open, 2);
    assert_eq!(r.end_flow(1), Some(one));
    assert_eq!(r.end_flow(1), None, "a flow ends once");
    assert_eq!(r.close(one, true), None, "closed on purpose");
    assert_eq!(r.per_call_open, 1);
    // Lost under its call: that call fails, whether it opened or not.
    assert_eq!(r.close(two, false), Some(Carried::Flows(vec![2])));
    assert_eq!(r.per_call_open, 0);
}

#[test]
fn a_per_call_client_sends_messages_without_a_flow_on_a_shared_connection() {
    let mut r = Routes::new(&settings(true, false));
    let shared = opened_id(r.route(addr(5060), 0, all));
    assert_eq!(r.route(addr(5060), 0, all), Route::Existing(shared));
    assert_eq!(r.per_call_open, 0);
    assert_ne!(opened_id(r.route(addr(5060), 1, all)), shared);
}

#[test]
fn past_max_socket_new_flows_take_turns_on_the_open_connections() {
    let mut s = settings(true, false);
    s.max_sockets = Some(2);
    let mut r = Routes::new(&s);
    let one = opened_id(r.route(addr(5060), 1, all));
    let two = opened_id(r.route(addr(5060), 2, all));
    let turns: Vec<Route> = (3..=5).map(|f| r.route(addr(5060), f, all)).collect();
    assert_eq!(
        turns,
        vec![
            Route::Existing(one),
            Route::Existing(two),
            Route::Existing(one)
        ]
    );
    // Connection one carries flows 1, 3 and 5: ending two keeps it open, and losing it
    // fails the third.
    assert_eq!(r.end_flow(1), None);
    assert_eq!(r.end_flow(3), None);
    assert_eq!(r.close(one, true), Some(Carried::Flows(vec![5])));
    // Below the limit again, a new flow gets its own connection.
    assert_eq!(
        r.route(addr(5060), 6, all),
        Route::Open {
            id: 3,
            reconnect: false
        }
    );
    // At the limit, the turns go on over the connections open now (two and three).
    assert_eq!(r.route(addr(5060), 7, all), Route::Existing(3));
    assert_eq!(r.route(addr(5060), 8, all), Route::Existing(two));
}

#[test]
fn past_max_socket_with_no_usable_connection_messages_are_refused() {
    let mut s = settings(true, false);
    s.max_sockets = Some(1);
    let mut r = Routes::new(&s);
    let one = opened_id(r.route(addr(5060), 1, all));
    assert_eq!(r.route(addr(5060), 2, |i| i != one), Route::Refused);
    // max_socket 0 means 1.
    s.max_sockets = Some(0);
    let mut r = Routes::new(&s);
    opened_id(r.route(addr(5060), 1, all));
    assert!(matches!(r.route(addr(5060), 2, all), Route::Existing(_)));
}

#[test]
fn a_connection_a_peer_opened_to_a_client_carries_that_peers_calls() {
    let mut r = Routes::new(&settings(true, false));
    let id = r.accept(addr(40000));
    assert_eq!(r.route(addr(40000), 0, all), Route::Existing(id));
    assert_eq!(r.close(id, true), Some(Carried::Peer));
    let id = r.accept(addr(40001));
    assert_eq!(r.close(id, false), None);
}

#[test]
fn a_forgotten_connection_takes_no_more_messages_and_fails_nothing() {
    let mut r = Routes::new(&settings(false, true));
    let id = r.accept(addr(40000));
    r.forget(id);
    assert_eq!(r.close(id, true), None);
    assert!(matches!(r.route(addr(40000), 0, all), Route::Open { .. }));
}

#[test]
fn refused_flows_fail_once_each_as_never_connected() {
    let mut u = Unroutable::default();
    u.add(addr(5060), 3);
    u.add(addr(5060), 0);
    u.add(addr(5060), 3);
    u.add(addr(5061), 4);
    assert_eq!(
        u.into_lost(),
        Some(StreamEvent::Lost {
            peer: addr(5061),
            carried: Carried::Flows(vec![3, 4]),
            opened: false
        })
    );
    let mut u = Unroutable::default();
    u.add(addr(5060), 0);
    assert_eq!(u.into_lost(), None);
    assert_eq!(Unroutable::default().into_lost(), None);
}
