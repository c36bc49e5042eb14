//! 3PCC on the endpoint: commands from a twin go to their call by Call-ID (a new
//! Call-ID creates a call on a scenario that does not place calls itself, as SIPp's
//! controller B, passive A, passive master and slave do); commands the calls render
//! (`<sendCmd>`) leave through [`Endpoint::poll_twin_transmit`].
//!
//! Owns: nothing of its own; these are `Endpoint` methods. Must not: touch the twin
//! sockets (the shard's `twin_io` does) or read the clock.

use std::time::{Instant, SystemTime};

use super::Endpoint;
use crate::call::{Call, Progress, ShardEvent};
use crate::stats::FailureReason;
use crate::twin::{Command, TwinCommand};

impl Endpoint {
    /// A whole command (its bytes without the delimiter) arrived from a twin. A
    /// malformed command is counted and reported; it fails no call but its own.
    pub fn handle_twin_command(&mut self, now: Instant, wall: SystemTime, bytes: &[u8]) {
        let cmd = match Command::parse(bytes) {
            Ok(c) => c,
            Err(e) => {
                self.shard.stats.counters.malformed_messages += 1;
                let head = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned();
                self.out
                    .events
                    .push_back(ShardEvent::Warning(format!("{e}, discarded: '{head}'")));
                return;
            }
        };
        let call_id = cmd.call_id();
        if let Some(h) = self.calls.find(call_id) {
            self.with_call_in(h, now, wall, None, Some(cmd), |call, cx| {
                call.handle_command(now, cx)
            });
            return;
        }
        if self.calls.is_dead(call_id) {
            self.shard.stats.counters.dead_call_msgs += 1;
            return;
        }
        if cmd.is_abort() {
            // The twin aborted a call we no longer hold: nothing to do.
            return;
        }
        // A client places its own calls: a command for another Call-ID is out of call.
        if self.is_client() || self.stopping {
            self.shard.stats.counters.out_of_call_msgs += 1;
            self.out.events.push_back(ShardEvent::Warning(format!(
                "3PCC command for unknown Call-ID '{}' discarded",
                String::from_utf8_lossy(call_id)
            )));
            return;
        }
        // The SIP peer of the new call; a scenario of commands only has none (the
        // runner refuses one that sends SIP without a remote host).
        let env = &self.run.env;
        let dest = env
            .remote
            .unwrap_or(std::net::SocketAddr::new(env.local_ip, env.local_port));
        // SIPp's "new outgoing 3PCC call": the twin's Call-ID becomes this call's.
        let number = self.next_call_number();
        self.shard.stats.counters.outgoing_calls += 1;
        let call = Call::new(
            number,
            0,
            call_id,
            dest,
            now,
            &self.run.scenario,
            &self.run.env,
        );
        let h = self.calls.insert(call);
        self.shard.stats.current_calls = self.calls.len() as u64;
        self.shard.stats.note_call_created(self.since_start_us(now));
        self.with_call_in(h, now, wall, None, Some(cmd), |call, cx| {
            match call.start(now, cx) {
                Progress::Running => call.handle_command(now, cx),
                done => done,
            }
        });
    }

    /// The shell could not deliver `cmd` (no twin connected, or the connection broke):
    /// its call fails as SIPp's "command not sent".
    pub fn handle_twin_unsent(&mut self, now: Instant, wall: SystemTime, cmd: &TwinCommand) {
        if let Some(h) = self.calls.find(&cmd.call_id) {
            self.with_call(h, now, wall, None, |call, cx| {
                call.fail(now, FailureReason::CmdNotSent, cx)
            });
        }
    }

    /// A twin connection was lost: the calls waiting at a `<recvCmd>` can get no
    /// command now and fail (`TcpClosed`, as calls on a lost SIP connection do).
    pub fn handle_twin_closed(&mut self, now: Instant, wall: SystemTime) {
        for h in self.calls.handles() {
            let waits = self
                .calls
                .get(h)
                .is_some_and(|c| c.waits_for_command(&self.run.scenario));
            if waits {
                self.with_call(h, now, wall, None, |call, cx| {
                    call.fail(now, FailureReason::TcpClosed, cx)
                });
            }
        }
    }

    /// The next 3PCC command to write to a twin (drain before `poll_event`).
    #[must_use]
    pub fn poll_twin_transmit(&mut self) -> Option<TwinCommand> {
        self.out.twin.pop_front()
    }
}
