//! Fuzz target: any bytes through `SipMessage::parse`; the properties are in
//! `gossipper_proto::sip::fuzz::sip_parse` (ranges inside the buffer, body = Content-Length,
//! re-parse and re-serialise give the same message).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gossipper_proto::sip::fuzz::sip_parse(data));
