//! SIP parse cost per message: the INVITE, the 200 OK with SDP and the BYE of a built-in
//! uac → uas call, as the engine rendered them, parsed by `SipMessage::parse` (the
//! header index; perf/README.md quotes the figure).
//!
//!   cargo run --release -p gossipper-perf --bin parse_speed [ROUNDS]
//!
//! Prints the best of ten batches of ROUNDS parses (200,000 by default) per message.
//! Moved here from an `#[ignore]`d timing test of the engine.

use std::hint::black_box;

use gossipper_perf::{best_of, call_pair, count_arg};
use gossipper_proto::sip::SipMessage;

fn main() {
    let rounds = u32::try_from(count_arg(200_000)).unwrap_or(u32::MAX).max(1);
    // One call of the built-in pair, logged: its messages as they went on the wire.
    let (net, ok) = call_pair(1, 10.0, true);
    assert_eq!(ok, 1, "the call pair completed");
    let first = |start: &str| {
        net.log
            .iter()
            .find(|s| s.first_line.starts_with(start))
            .unwrap_or_else(|| panic!("no {start} in the call"))
            .bytes
            .clone()
    };
    for (name, msg) in [
        ("INVITE", first("INVITE ")),
        ("200 OK", first("SIP/2.0 200")),
        ("BYE", first("BYE ")),
    ] {
        let mut sum = 0usize;
        let best = best_of(10, || {
            for _ in 0..rounds {
                let m =
                    SipMessage::parse(black_box(&msg)).expect("the engine's own message parses");
                sum += m.body().len() + m.call_id().len();
            }
        });
        black_box(sum);
        println!(
            "parse {name} ({} bytes): {:?} per message",
            msg.len(),
            best / rounds
        );
    }
}
