//! Bad input against a real `gossipper ui`: malformed JSON, unknown fields, oversize
//! bodies, traversal names, invalid scenario XML, WAV and PCAP all get 400/413 with
//! `{"error": …}` naming the field or position, and nothing is written.

mod api_support;

use api_support::{Master, pcap_bytes, raw, wav_bytes};
use serde_json::json;

/// Asserts the status and that the error text contains `needle`.
fn expect(r: &api_support::Resp, status: u16, needle: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    let e = r.error();
    assert!(
        e.contains(needle),
        "{what}: error {e:?} does not mention {needle:?}"
    );
}

#[test]
fn bad_bodies_and_names_are_refused_and_nothing_is_written() {
    let m = Master::start("bad-input");
    let token = m.admin_token();
    let t = Some(token.as_str());
    let before = m.files();

    // Malformed JSON and unknown fields (top level and nested).
    expect(
        &m.req("POST", "/api/v2/scenarios", t, Some(b"{\"id\": ")),
        400,
        "JSON",
        "truncated JSON",
    );
    expect(
        &m.req("POST", "/api/v2/servers", t, Some(b"[1,2]")),
        400,
        "JSON",
        "wrong JSON type",
    );
    expect(
        &m.json(
            "POST",
            "/api/v2/servers",
            t,
            &json!({"id": "a", "colour": "red"}),
        ),
        400,
        "colour",
        "unknown field",
    );
    expect(
        &m.json(
            "POST",
            "/api/v2/clients",
            t,
            &json!({"id": "a", "transports": [{"transport": "u1", "bogus": 1}]}),
        ),
        400,
        "bogus",
        "unknown nested field",
    );
    expect(
        &m.json(
            "POST",
            "/api/v2/users",
            t,
            &json!({"username": "x", "password": "password-1", "admin": true}),
        ),
        400,
        "admin",
        "unknown user field",
    );
    expect(
        &m.json(
            "POST",
            "/api/v2/users",
            t,
            &json!({"username": "x", "password": "password-1", "role": "root"}),
        ),
        400,
        "root",
        "unknown role",
    );
    expect(
        &m.json(
            "POST",
            "/api/v2/users",
            t,
            &json!({"username": "x", "password": "short"}),
        ),
        400,
        "password",
        "short password",
    );
    expect(
        &m.json(
            "POST",
            "/api/v2/servers",
            t,
            &json!({"id": "a", "transports": [{"transport": "udp"}]}),
        ),
        400,
        "transports[0].transport",
        "unknown transport code",
    );
    expect(
        &m.json(
            "POST",
            "/api/v2/servers",
            t,
            &json!({"id": "a", "transports": [{"transport": "u1", "local_ip": "1.2.3"}]}),
        ),
        400,
        "transports[0].local_ip",
        "bad local ip",
    );
    expect(
        &m.json(
            "POST",
            "/api/v2/clients",
            t,
            &json!({"id": "a", "remote_port": 70000}),
        ),
        400,
        "JSON",
        "port out of range",
    );

    // Oversize bodies: 64 KiB login, 1 MiB profiles, 256 MiB media (declared), and a
    // declared length far beyond any limit, which must not hurt the server.
    let big = vec![b' '; 70 << 10];
    expect(
        &m.req("POST", "/api/v2/auth/login", None, Some(&big)),
        413,
        "larger",
        "oversize login",
    );
    let mut huge_json = b"{\"id\":\"a\",\"notes\":\"".to_vec();
    huge_json.extend(std::iter::repeat_n(b'x', (1 << 20) + 10));
    huge_json.extend_from_slice(b"\"}");
    expect(
        &m.req("POST", "/api/v2/servers", t, Some(&huge_json)),
        413,
        "larger",
        "oversize profile",
    );
    let auth = format!("Authorization: Bearer {token}\r\n");
    let declared = |len: u64| {
        format!("POST /api/v2/media/wav/big HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {len}\r\nConnection: close\r\n\r\nRIFF").into_bytes()
    };
    expect(
        &raw(&m.addr, &declared(300 << 20)),
        413,
        "larger",
        "declared 300 MiB media",
    );
    expect(
        &raw(&m.addr, &declared(10_000_000_000_000)),
        413,
        "larger",
        "declared 10 TB",
    );
    assert_eq!(
        m.get("/api/v2/health", None).status,
        200,
        "the server survives a 10 TB declaration"
    );

    // Traversal and reserved names, in bodies and in paths.
    for id in ["../evil", "..", ".", "a/b", "a b", ""] {
        expect(
            &m.json("POST", "/api/v2/servers", t, &json!({"id": id})),
            400,
            "id",
            &format!("server id {id:?}"),
        );
        expect(
            &m.json(
                "POST",
                "/api/v2/scenarios",
                t,
                &json!({"id": id, "xml": api_support::VALID_XML}),
            ),
            400,
            "id",
            &format!("scenario id {id:?}"),
        );
    }
    expect(
        &m.get("/api/v2/scenarios/..%2F..%2Fsettings", t),
        400,
        "id",
        "encoded traversal in a path",
    );
    expect(
        &m.req("POST", "/api/v2/media/wav/..%2Fevil", t, Some(&wav_bytes())),
        400,
        "name",
        "media traversal",
    );
    expect(
        &m.req("POST", "/api/v2/media/pcap/.", t, Some(&pcap_bytes())),
        400,
        "name",
        "media dot name",
    );
    expect(
        &m.get("/api/v2/media/wav/..%2F..%2Fsettings.sqlite", t),
        400,
        "name",
        "media download traversal",
    );

    // Invalid scenario XML: the engine's loader says where.
    let r = m.json(
        "POST",
        "/api/v2/scenarios",
        t,
        &json!({"id": "bad", "xml": "<scenario>\n  <send>\n</scenario>"}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let e = r.error();
    let pos = e.split(':').collect::<Vec<_>>();
    assert!(
        e.starts_with("scenario.xml:")
            && pos.len() > 3
            && pos[1].parse::<u32>().is_ok()
            && pos[2].parse::<u32>().is_ok(),
        "error should be file:line:column: {e}"
    );
    expect(
        &m.json(
            "POST",
            "/api/v2/scenarios",
            t,
            &json!({"id": "bad", "xml": "<scenario><bogus/></scenario>"}),
        ),
        400,
        "scenario.xml:1:",
        "unknown element",
    );
    expect(
        &m.json(
            "POST",
            "/api/v2/scenarios",
            t,
            &json!({"id": "bad", "xml": ""}),
        ),
        400,
        "xml",
        "empty xml",
    );
    expect(
        &m.json("POST", "/api/v2/scenarios", t, &json!({"id": "bad"})),
        400,
        "xml",
        "missing xml",
    );

    // Invalid media.
    let wav = wav_bytes();
    let pcap = pcap_bytes();
    expect(
        &m.req(
            "POST",
            "/api/v2/media/wav/w",
            t,
            Some(b"RIFF\x10\0\0\0WAVEjunk"),
        ),
        400,
        "wav",
        "not a wav",
    );
    expect(
        &m.req(
            "POST",
            "/api/v2/media/wav/w",
            t,
            Some(&wav[..wav.len() - 3]),
        ),
        400,
        "wav",
        "truncated wav",
    );
    expect(
        &m.req("POST", "/api/v2/media/wav/w", t, Some(&pcap)),
        400,
        "wav",
        "pcap as wav",
    );
    expect(
        &m.req(
            "POST",
            "/api/v2/media/pcap/p",
            t,
            Some(b"definitely not a capture"),
        ),
        400,
        "pcap",
        "not a pcap",
    );
    expect(
        &m.req(
            "POST",
            "/api/v2/media/pcap/p",
            t,
            Some(&pcap[..pcap.len() - 5]),
        ),
        400,
        "pcap",
        "truncated pcap",
    );
    expect(
        &m.req("POST", "/api/v2/media/pcap/p", t, Some(&wav)),
        400,
        "pcap",
        "wav as pcap",
    );
    expect(
        &m.req("POST", "/api/v2/media/pcap/p", t, Some(b"")),
        400,
        "empty",
        "empty upload",
    );

    assert_eq!(m.files(), before, "a refused request wrote a file");
    assert!(
        m.get("/api/v2/scenarios", t).json()["scenarios"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        m.get("/api/v2/servers", t).json()["servers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn repeated_login_failures_are_throttled_and_unknown_users_look_like_bad_passwords() {
    let m = Master::start("throttle");
    let bad = |u: &str| {
        m.json(
            "POST",
            "/api/v2/auth/login",
            None,
            &json!({"username": u, "password": "wrong-password"}),
        )
    };
    let (a, b) = (bad("admin"), bad("ghost"));
    assert_eq!((a.status, b.status), (401, 401));
    assert_eq!(
        a.body, b.body,
        "unknown user and wrong password answer alike"
    );
    for _ in 0..3 {
        assert_eq!(bad("admin").status, 401);
    }
    let good = m.json(
        "POST",
        "/api/v2/auth/login",
        None,
        &json!({"username": "admin", "password": api_support::ADMIN_PASSWORD}),
    );
    assert_eq!(good.status, 429, "{}", good.text());
    assert!(good.error().contains("too many"));
}
