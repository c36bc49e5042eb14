//! Fuzz target: stream framing is split-invariant; the property is in
//! `gossipper_proto::sip::fuzz::stream_frame` (byte 0 = size limit, byte 1 = chunk size).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gossipper_proto::sip::fuzz::stream_frame(data));
