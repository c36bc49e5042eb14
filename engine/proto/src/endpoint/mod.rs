//! The endpoint: everything a shard decides, without its I/O. `ShardCore` routes
//! datagrams to calls, creates calls, fires their timers and counts; the call table,
//! the timer wheel and the `-t un` port pool are its parts. The runtime's shard loop
//! (`gossipper_engine::shard`) feeds it bytes and instants and sends what it queues.

pub mod core;
pub mod port_pool;
pub mod table;
pub mod timers;

pub use self::core::{Budget, CallsOn, Finished, ShardCore};

/// The shard that owns the call `call_id` among `shards` (the UDP server hand-off):
/// FNV-1a, the same in every shard.
pub fn owner(call_id: &[u8], shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in call_id {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % shards.max(1) as u64) as usize
}
