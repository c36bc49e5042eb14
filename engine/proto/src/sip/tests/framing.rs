//! Stream framing: `frame_len`, `keepalive_len` and split invariance.

use super::super::fuzz::{StreamOutcome, frame_stream, stream_frame};
use super::super::{FramingError, SipMessage, frame_len, keepalive_len};
use super::{UAC_BYE, UAC_INVITE, UAS_200_OK};

const MAX: usize = 65_536;

#[test]
fn whole_message_is_one_frame_and_any_prefix_needs_more() {
    for msg in [UAC_INVITE, UAS_200_OK, UAC_BYE] {
        assert_eq!(frame_len(msg, MAX), Ok(Some(msg.len())));
        for cut in 1..msg.len() {
            assert_eq!(frame_len(&msg[..cut], MAX), Ok(None), "prefix of {cut}");
        }
        assert_eq!(frame_len(b"", MAX), Ok(None));
        // Bytes after the frame belong to the next message.
        let mut two = msg.to_vec();
        two.extend_from_slice(UAC_BYE);
        assert_eq!(frame_len(&two, MAX), Ok(Some(msg.len())));
    }
}

#[test]
fn lf_only_and_compact_content_length_frame() {
    let msg = b"SIP/2.0 200 OK\ni: a\nCSeq: 1 BYE\nl:  4\n\nbodyNEXT";
    assert_eq!(frame_len(msg, MAX), Ok(Some(msg.len() - 4)));
}

#[test]
fn streams_require_exactly_one_content_length() {
    let missing = b"BYE sip:a SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 BYE\r\n\r\n";
    assert_eq!(
        frame_len(missing, MAX),
        Err(FramingError::MissingContentLength)
    );
    let twice = b"BYE sip:a SIP/2.0\r\nContent-Length: 0\r\nl: 0\r\n\r\n";
    assert_eq!(
        frame_len(twice, MAX),
        Err(FramingError::DuplicateContentLength)
    );
    let bad = b"BYE sip:a SIP/2.0\r\nContent-Length: ten\r\n\r\n";
    assert_eq!(frame_len(bad, MAX), Err(FramingError::BadContentLength));
    // The start line is never taken for a header, nor a folded line for Content-Length.
    let start = b"Content-Length: 0\r\n l: 1\r\nContent-Length: 2\r\n\r\nab";
    assert_eq!(frame_len(start, MAX), Ok(Some(start.len())));
}

#[test]
fn messages_past_the_limit_are_too_large_without_waiting_for_them() {
    // The announced body would end past `max`: refused before the body arrives.
    let huge = b"INVITE sip:a SIP/2.0\r\nContent-Length: 4294967295\r\n\r\n";
    assert_eq!(frame_len(huge, MAX), Err(FramingError::TooLarge));
    let overflow = b"INVITE sip:a SIP/2.0\r\nl: 99999999999999999999999999\r\n\r\n";
    assert_eq!(frame_len(overflow, MAX), Err(FramingError::TooLarge));
    // Exactly `max` bytes is fine; one more is not.
    let n = UAC_INVITE.len();
    assert_eq!(frame_len(UAC_INVITE, n), Ok(Some(n)));
    assert_eq!(frame_len(UAC_INVITE, n - 1), Err(FramingError::TooLarge));
    // Headers that never end: refused once `max` bytes are buffered, not before.
    let endless = vec![b'X'; 100];
    assert_eq!(frame_len(&endless, 101), Ok(None));
    assert_eq!(frame_len(&endless, 100), Err(FramingError::TooLarge));
    assert_eq!(
        frame_len(&UAC_INVITE[..50], 40),
        Err(FramingError::TooLarge)
    );
}

#[test]
fn keepalives_are_measured_not_skipped() {
    assert_eq!(keepalive_len(b"\r\n\r\nINVITE"), 4);
    assert_eq!(keepalive_len(b"\r\n"), 2);
    assert_eq!(keepalive_len(b"\n\r"), 2);
    assert_eq!(keepalive_len(b"INVITE\r\n"), 0);
    assert_eq!(keepalive_len(b""), 0);
    let mut ping = b"\r\n\r\n".to_vec();
    ping.extend_from_slice(UAC_BYE);
    assert_eq!(frame_len(&ping, MAX), Err(FramingError::LeadingCrlf));
    assert_eq!(frame_len(&ping[4..], MAX), Ok(Some(UAC_BYE.len())));
}

/// Three messages with keepalives before, between and after them.
fn three_message_stream() -> Vec<u8> {
    let mut s = b"\r\n\r\n".to_vec();
    s.extend_from_slice(UAC_INVITE);
    s.extend_from_slice(b"\r\n");
    s.extend_from_slice(UAS_200_OK);
    s.extend_from_slice(UAC_BYE);
    s.extend_from_slice(b"\r\n\r\n");
    s
}

#[test]
fn split_invariance_whole_bytewise_and_every_split_give_the_same_frames() {
    let stream = three_message_stream();
    let whole = frame_stream(&stream, &[], MAX);
    let expected = StreamOutcome {
        frames: vec![
            (4, UAC_INVITE.len()),
            (6 + UAC_INVITE.len(), UAS_200_OK.len()),
            (6 + UAC_INVITE.len() + UAS_200_OK.len(), UAC_BYE.len()),
        ],
        end: Ok(0),
    };
    assert_eq!(whole, expected);
    for &(at, n) in &whole.frames {
        let m = SipMessage::parse(&stream[at..at + n]).unwrap();
        assert_eq!(m.call_id(), b"1-4242@127.0.0.1");
    }
    let bytewise: Vec<usize> = (1..stream.len()).collect();
    assert_eq!(frame_stream(&stream, &bytewise, MAX), whole);
    for cut in 1..stream.len() {
        assert_eq!(frame_stream(&stream, &[cut], MAX), whole, "split at {cut}");
    }
    for a in (1..stream.len()).step_by(37) {
        for b in (a..stream.len()).step_by(53) {
            assert_eq!(
                frame_stream(&stream, &[a, b], MAX),
                whole,
                "splits {a}, {b}"
            );
        }
    }
}

#[test]
fn split_invariance_holds_for_errors_and_leftovers() {
    // The fuzz property checks whole, byte-by-byte, every split and chunked feeds.
    let mut cases: Vec<Vec<u8>> = Vec::new();
    let mut truncated = three_message_stream();
    truncated.truncate(truncated.len() - 40);
    cases.push(truncated);
    let mut missing = UAC_BYE.to_vec();
    missing.extend_from_slice(b"BYE sip:a SIP/2.0\r\nCall-ID: a\r\n\r\n");
    cases.push(missing);
    cases.push(three_message_stream());
    for limit in [0u8, 20, 40, 255] {
        for stream in &cases {
            let mut data = vec![limit, 7];
            data.extend_from_slice(stream);
            stream_frame(&data);
        }
    }
    // With a small limit the second (larger) message stops the stream.
    let mut stream = UAC_BYE.to_vec();
    stream.extend_from_slice(UAC_INVITE);
    assert!(UAC_INVITE.len() > UAC_BYE.len());
    let small = frame_stream(&stream, &[], UAC_BYE.len());
    assert_eq!(small.frames.len(), 1);
    assert_eq!(small.end, Err(FramingError::TooLarge));
    let truncated = &cases[0];
    let out = frame_stream(truncated, &[], MAX);
    assert_eq!(out.frames.len(), 2);
    assert_eq!(out.end, Ok(UAC_BYE.len() - 36));
}
