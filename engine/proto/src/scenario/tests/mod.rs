//! Loader tests: the built-in catalogue, SIPp's own built-ins, error kinds and positions,
//! templates and keywords; commands, actions and pauses are in `commands`. (SIPp's
//! scenario corpus is read from the disk by the runtime's `tests/sipp_corpus.rs`.)

use std::process::Command as Process;

use super::*;

fn load_str(xml: &str) -> Result<Scenario, ScenarioErrors> {
    load(xml.as_bytes(), "t.xml", &LoadOptions::default())
}

fn must_load(xml: &str) -> Scenario {
    match load_str(xml) {
        Ok(s) => s,
        Err(e) => panic!("scenario failed to load:\n{e}"),
    }
}

fn errors(xml: &str) -> Vec<ScenarioError> {
    match load_str(xml) {
        Ok(_) => panic!("scenario loaded but should not have"),
        Err(e) => e.0,
    }
}

/// The template as text, each keyword slot shown as `{}` (which keyword fills it is
/// checked by value with [`keywords`], never through its Debug text).
fn text(t: &Template) -> String {
    t.segments
        .iter()
        .map(|s| match s {
            Segment::Literal(b) => String::from_utf8_lossy(b).into_owned(),
            Segment::Keyword(_) => "{}".to_string(),
        })
        .collect()
}

/// The template's keyword slots, in order.
fn keywords(t: &Template) -> Vec<&Keyword> {
    t.segments
        .iter()
        .filter_map(|s| match s {
            Segment::Keyword(k) => Some(k),
            Segment::Literal(_) => None,
        })
        .collect()
}

fn send_of(c: &Command) -> &Send {
    match &c.kind {
        CommandKind::Send(s) => s,
        other => panic!("expected a send, got {other:?}"),
    }
}

/// A scenario wrapped around one `<send>` body.
fn with_send(body: &str) -> String {
    format!("<scenario name=\"t\"><send><![CDATA[{body}]]></send></scenario>")
}

// ---------------------------------------------------------------- built-ins

#[test]
fn every_builtin_loads_with_its_role_and_step_count() {
    let expected: &[(&str, Role, usize)] = &[
        ("uac", Role::Client, 9),
        ("uas", Role::Server, 7),
        ("regexp", Role::Client, 9),
        ("3pcc-C-A", Role::Client, 11),
        ("3pcc-C-B", Role::Server, 11),
        ("3pcc-A", Role::Server, 6),
        ("3pcc-B", Role::Server, 6),
        ("branchc", Role::Client, 16),
        ("branchs", Role::Server, 13),
        ("uac_pcap", Role::Client, 11),
        ("webrtc_uac", Role::Client, 9),
        ("webrtc_uas", Role::Server, 7),
        ("ooc_default", Role::Server, 3),
        ("ooc_dummy", Role::Server, 1),
    ];
    assert_eq!(builtin::all().len(), expected.len());
    for (b, (id, role, steps)) in builtin::all().iter().zip(expected) {
        assert_eq!(b.id, *id, "catalogue order");
        let s = match load(b.xml.as_bytes(), b.id, &LoadOptions::default()) {
            Ok(s) => s,
            Err(e) => panic!("built-in {} failed:\n{e}", b.id),
        };
        assert_eq!(s.role, *role, "{id}");
        assert_eq!(
            b.role,
            if *role == Role::Client {
                "client"
            } else {
                "server"
            },
            "{id}"
        );
        assert_eq!(s.commands.len(), *steps, "{id}");
        assert_eq!(s.name, b.name, "{id}");
        assert!(builtin::get(id).is_some());
    }
    assert!(builtin::get("nope").is_none());
}

#[test]
fn uac_invite_is_ready_to_render() {
    let s = must_load(builtin::get("uac").expect("uac").xml);
    let invite = send_of(&s.commands[0]);
    assert_eq!(invite.method.as_deref(), Some("INVITE"));
    assert_eq!(invite.status, None);
    assert_eq!(invite.retrans_ms, Some(500));
    let kws: Vec<&Keyword> = invite
        .template
        .segments
        .iter()
        .filter_map(|s| {
            if let Segment::Keyword(k) = s {
                Some(k)
            } else {
                None
            }
        })
        .collect();
    assert!(kws.contains(&&Keyword::Len(0)));
    assert!(kws.contains(&&Keyword::Branch(0)));
    assert!(kws.contains(&&Keyword::MediaPort(0)));
    let t = text(&invite.template);
    assert!(t.starts_with("INVITE sip:{}@{}:{} SIP/2.0\r\nVia: SIP/2.0/{} "));
    assert_eq!(
        keywords(&invite.template)[..4],
        [
            &Keyword::Service,
            &Keyword::RemoteIp,
            &Keyword::RemotePort(0),
            &Keyword::Transport
        ]
    );
    // The slot after "Content-Length: " is [len], and the body follows the blank line.
    let slot = t[..t
        .find("Content-Length: {}\r\n\r\nv=0\r\n")
        .expect("the length line")]
        .matches("{}")
        .count();
    assert_eq!(keywords(&invite.template)[slot], &Keyword::Len(0));
    assert!(
        t.ends_with("a=rtpmap:0 PCMU/8000\r\n"),
        "body ends in one CRLF: {t:?}"
    );
    assert_eq!(
        s.response_time_repartition,
        vec![10, 20, 30, 40, 50, 100, 150, 200]
    );
    assert_eq!(
        s.call_length_repartition,
        vec![10, 50, 100, 500, 1000, 5000, 10000]
    );
    assert!(
        matches!(&s.commands[6].kind, CommandKind::Pause(p) if matches!(p.duration, PauseDuration::Default))
    );
    assert_eq!(s.rtd_names, vec!["1".to_string()]);
    assert_eq!(s.commands[4].common.rtd, vec![RtdId(0)]);
    let ack = send_of(&s.commands[5]);
    assert_eq!(ack.method.as_deref(), Some("ACK"));
    assert!(text(&ack.template).ends_with("Content-Length: 0\r\n\r\n"));
}

#[test]
fn uas_replies_carry_status_and_copy_headers() {
    let s = must_load(builtin::get("uas").expect("uas").xml);
    let ok = send_of(&s.commands[2]);
    assert_eq!((ok.method.as_deref(), ok.status), (None, Some(200)));
    // [last_Record-Route:] fills a whole line of its own.
    let record_route = Keyword::LastHeader {
        name: "Record-Route".into(),
        kind: crate::sip::HeaderName::RecordRoute,
        value_only: false,
    };
    assert!(ok.template.segments.windows(2).any(|w| {
        matches!((&w[0], &w[1]), (Segment::Keyword(k), Segment::Literal(next))
            if *k == record_route && next.starts_with(b"\r\n"))
    }));
    match &s.commands[6].kind {
        CommandKind::Pause(p) => {
            assert!(p.timewait);
            assert!(matches!(p.duration, PauseDuration::Fixed(4000)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_webrtc_builtins_are_the_uac_and_uas_flows_with_webrtc_sdp() {
    for (id, classic) in [("webrtc_uac", "uac"), ("webrtc_uas", "uas")] {
        let w = must_load(builtin::get(id).unwrap().xml);
        let c = must_load(builtin::get(classic).unwrap().xml);
        assert!(w.webrtc && !c.webrtc, "{id}");
        assert_eq!(w.role, c.role, "{id}");
        let kinds = |s: &Scenario| {
            s.commands
                .iter()
                .map(|c| std::mem::discriminant(&c.kind))
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(&w), kinds(&c), "{id}");
        let kw = if id == "webrtc_uac" {
            Keyword::WebrtcOffer
        } else {
            Keyword::WebrtcAnswer
        };
        let uses = w
            .commands
            .iter()
            .filter_map(|c| match &c.kind {
                CommandKind::Send(s) => Some(&s.template.segments),
                _ => None,
            })
            .flatten()
            .filter(|seg| matches!(seg, Segment::Keyword(k) if *k == kw))
            .count();
        assert_eq!(uses, 1, "{id}");
    }
}

#[test]
fn what_cannot_work_over_webrtc_is_refused_at_load_naming_it() {
    let cases = [
        (
            "<scenario name=\"t\" webrtc=\"true\"><send><![CDATA[INVITE sip:a SIP/2.0\n\n[webrtc_offer]]]></send><nop><action><exec play_pcap_audio=\"a.pcap\"/></action></nop></scenario>",
            "<exec play_pcap_audio=\"a.pcap\"> cannot run on a WebRTC call",
        ),
        (
            "<scenario name=\"t\" webrtc=\"true\"><send><![CDATA[INVITE sip:a SIP/2.0\n\n[webrtc_offer]]]></send><nop><action><exec rtp_stream=\"g729.raw,1,18\"/></action></nop></scenario>",
            "<exec rtp_stream=\"g729.raw,1,18\"> cannot run on a WebRTC call",
        ),
        (
            "<scenario name=\"t\" webrtc=\"true\"><send><![CDATA[INVITE sip:a SIP/2.0\n\nm=audio [media_port] RTP/AVP 0]]></send></scenario>",
            "[media_port] cannot be used in a webrtc=\"true\" scenario",
        ),
        (
            "<scenario name=\"t\"><send><![CDATA[INVITE sip:a SIP/2.0\n\n[webrtc_offer]]]></send></scenario>",
            "[webrtc_offer] needs <scenario webrtc=\"true\">",
        ),
        (
            "<scenario name=\"t\" webrtc=\"yes\"><send><![CDATA[INVITE sip:a SIP/2.0]]></send></scenario>",
            "webrtc=\"yes\": expected true or false",
        ),
    ];
    for (xml, expected) in cases {
        let err = load(xml.as_bytes(), "w.xml", &LoadOptions::default())
            .expect_err(expected)
            .to_string();
        assert!(err.contains(expected), "{err}\nwanted: {expected}");
        assert!(
            err.contains("send_dtmf, rtpcheck") || !err.contains("<exec"),
            "{err}"
        );
        // file:line:column: what.
        assert!(
            err.starts_with("w.xml:") && err.split(':').count() >= 4,
            "{err}"
        );
    }
}

#[test]
fn dtmf_rtpcheck_g711_files_and_the_stream_controls_load_in_a_webrtc_scenario() {
    let xml = "<scenario name=\"t\" webrtc=\"true\"><send><![CDATA[INVITE sip:a SIP/2.0\n\n[webrtc_offer]]]></send>\
               <nop><action><exec send_dtmf=\"12#\"/><exec rtpcheck=\"min_packets=10\"/>\
               <exec rtp_stream=\"pause\"/><exec rtp_stream=\"resume\"/><exec rtp_stream=\"stop\"/>\
               <exec rtp_stream=\"apattern\"/><exec rtp_stream=\"hello.wav,-1,8\"/></action></nop></scenario>";
    let s = must_load(xml);
    assert!(s.webrtc);
    assert_eq!(s.commands[1].common.actions.len(), 7);
}

/// Commands as comparable text (everything but positions).
fn program(s: &Scenario) -> Vec<String> {
    s.commands
        .iter()
        .map(|c| {
            let text = format!("{:?} | {:?}", c.kind, c.common);
            let pos = regex::Regex::new(r"pos: Pos \{ line: \d+, column: \d+ \}").unwrap();
            pos.replace_all(&text, "pos: _").into_owned()
        })
        .collect()
}

fn sipp_dump(name: &str) -> Vec<u8> {
    let out = Process::new("sipp")
        .args(["-sd", name])
        .output()
        .unwrap_or_else(|e| {
            panic!("sipp (Debian package sip-tester) is required to run this test: {e}")
        });
    assert!(!out.stdout.is_empty(), "sipp -sd {name} printed nothing");
    out.stdout
}

#[test]
fn builtins_compile_to_the_same_program_as_sipp_3_6_1() {
    // The WebRTC built-ins are ours alone (SIPp has none); they are tested below.
    for b in builtin::all()
        .iter()
        .filter(|b| !b.id.starts_with("webrtc_"))
    {
        let theirs = match load(&sipp_dump(b.id), b.id, &LoadOptions::default()) {
            Ok(s) => s,
            Err(e) => panic!("sipp -sd {} does not load:\n{e}", b.id),
        };
        // Ours adds [last_Record-Route:] to the uas 200 OK on purpose (SIPp 3.7 does too).
        let xml = b.xml.replace("    [last_Record-Route:]\n", "");
        let ours = must_load(&xml);
        assert_eq!(ours.name, theirs.name, "{}", b.id);
        assert_eq!(ours.role, theirs.role, "{}", b.id);
        assert_eq!(program(&ours), program(&theirs), "{}", b.id);
        assert_eq!(ours.variables, theirs.variables, "{}", b.id);
        assert_eq!(ours.rtd_names, theirs.rtd_names, "{}", b.id);
        assert_eq!(
            ours.response_time_repartition, theirs.response_time_repartition,
            "{}",
            b.id
        );
        assert_eq!(
            ours.call_length_repartition, theirs.call_length_repartition,
            "{}",
            b.id
        );
    }
}

// ---------------------------------------------------------------- errors and positions

fn only(xml: &str) -> ScenarioError {
    let errs = errors(xml);
    assert_eq!(errs.len(), 1, "expected one error, got {errs:?}");
    errs.into_iter().next().expect("one")
}

#[test]
fn unclosed_tag_is_an_xml_error_at_the_open_tag() {
    let e = only("<scenario>\n  <recv response=\"200\">\n</scenario>\n");
    assert!(matches!(e.kind, ScenarioErrorKind::Xml(_)), "{e:?}");
    assert!(e.pos.line >= 2 && e.pos.line <= 3, "{e}");
    let e = only("<scenario>\n  <recv response=\"200\">\n");
    assert_eq!((e.pos.line, e.pos.column), (2, 3), "{e}");
}

#[test]
fn unknown_element_is_an_error_not_skipped() {
    let e = only("<scenario>\n  <nop/>\n  <sned/>\n</scenario>");
    assert_eq!(e.kind, ScenarioErrorKind::UnknownElement("sned".into()));
    assert_eq!((e.pos.line, e.pos.column), (3, 3));
    assert_eq!(&*e.file, "t.xml");
}

#[test]
fn unknown_keyword_points_at_the_keyword() {
    let xml = "<scenario>\n<send><![CDATA[\n  OPTIONS sip:x SIP/2.0\n  X: [nosuch]\n]]></send>\n</scenario>";
    let e = only(xml);
    assert_eq!(e.kind, ScenarioErrorKind::UnknownKeyword("nosuch".into()));
    assert_eq!((e.pos.line, e.pos.column), (4, 6));
}

#[test]
fn undefined_and_duplicate_labels_are_reported() {
    let e = only("<scenario>\n  <nop next=\"nowhere\"/>\n</scenario>");
    assert_eq!(e.kind, ScenarioErrorKind::UndefinedLabel("nowhere".into()));
    assert_eq!((e.pos.line, e.pos.column), (2, 8));
    let e = only("<scenario><label id=\"a\"/><nop/>\n<label id=\"a\"/></scenario>");
    assert_eq!(e.kind, ScenarioErrorKind::DuplicateLabel("a".into()));
    assert_eq!(e.pos.line, 2);
}

#[test]
fn missing_attribute_names_element_and_attribute() {
    let e = only("<scenario>\n <nop/>\n <recv optional=\"true\"/>\n</scenario>");
    assert_eq!(
        e.kind,
        ScenarioErrorKind::MissingAttribute {
            element: "recv",
            attribute: "request or response"
        }
    );
    assert_eq!((e.pos.line, e.pos.column), (3, 2));
    let e = only("<scenario><nop><action><log/></action></nop></scenario>");
    assert_eq!(
        e.kind,
        ScenarioErrorKind::MissingAttribute {
            element: "log",
            attribute: "message"
        }
    );
}

#[test]
fn several_errors_are_collected_in_file_order() {
    let xml = "<scenario>\n<nop next=\"x\"/>\n<bogus/>\n<nop><action><frobnicate/></action></nop>\n</scenario>";
    let errs = errors(xml);
    let kinds: Vec<_> = errs.iter().map(|e| (e.pos.line, e.kind.clone())).collect();
    assert_eq!(
        kinds,
        vec![
            (2, ScenarioErrorKind::UndefinedLabel("x".into())),
            (3, ScenarioErrorKind::UnknownElement("bogus".into())),
            (4, ScenarioErrorKind::UnknownAction("frobnicate".into())),
        ]
    );
    let many: String = (0..50).map(|i| format!("<x{i}/>\n")).collect();
    assert_eq!(errors(&format!("<scenario>{many}</scenario>")).len(), 20);
}

#[test]
fn variable_referenced_once_fails_like_sipp() {
    let xml = "<scenario><recv request=\"INVITE\"><action>\n<ereg regexp=\"a\" search_in=\"msg\" assign_to=\"lonely\"/>\n</action></recv></scenario>";
    let e = only(xml);
    assert_eq!(
        e.kind,
        ScenarioErrorKind::VariableUsedOnce("lonely".into(), 1)
    );
    assert_eq!(e.pos.line, 2);
    // `$_` is exempt, and a <Reference> counts as a use.
    must_load(
        "<scenario><recv request=\"INVITE\"><action><ereg regexp=\"a\" assign_to=\"_\"/></action></recv></scenario>",
    );
    must_load(
        "<scenario><Reference variables=\"v\"/><recv request=\"INVITE\"><action><ereg regexp=\"a\" assign_to=\"v\"/></action></recv></scenario>",
    );
}

#[test]
fn optional_recv_right_before_a_send_is_refused() {
    let xml = with_send("OPTIONS sip:x SIP/2.0\n").replace(
        "<send>",
        "<recv response=\"100\" optional=\"true\"/>\n<send>",
    );
    let e = only(&xml);
    assert!(matches!(e.kind, ScenarioErrorKind::Invalid(_)), "{e:?}");
}

#[test]
fn timewait_must_be_last() {
    let e = only("<scenario><recv request=\"BYE\"/><timewait/>\n<nop/></scenario>");
    assert!(matches!(e.kind, ScenarioErrorKind::Invalid(_)));
    assert_eq!(e.pos.line, 2);
}

#[test]
fn latin1_scenario_loads_and_keeps_its_bytes() {
    let mut xml = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<!-- caf\xE9 -->\n<scenario name=\"caf\xE9\">\n".to_vec();
    xml.extend_from_slice(b"<send><![CDATA[\nMESSAGE sip:x SIP/2.0\nSubject: \xE9t\xE9\n]]></send>\n<unknown/>\n</scenario>\n");
    let errs = load(&xml, "latin1.xml", &LoadOptions::default()).expect_err("unknown element");
    assert_eq!(
        (errs.0[0].pos.line, errs.0[0].pos.column),
        (8, 1),
        "line numbers survive the transcoding"
    );
    let good: Vec<u8> =
        xml.windows(11)
            .position(|w| w == b"<unknown/>\n")
            .map_or(xml.clone(), |i| {
                let mut v = xml.clone();
                v.drain(i..i + 11);
                v
            });
    let s = load(&good, "latin1.xml", &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name, "café");
    match &send_of(&s.commands[0]).template.segments[0] {
        Segment::Literal(b) => assert!(b.windows(4).any(|w| w == b"\xE9t\xE9\r"), "{b:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bom_and_crlf_files_load() {
    let xml = "\u{feff}<scenario>\r\n<send><![CDATA[\r\n  BYE sip:x SIP/2.0\r\n  A: b\r\n]]></send>\r\n</scenario>\r\n";
    let s = must_load(xml);
    assert_eq!(
        text(&send_of(&s.commands[0]).template),
        "BYE sip:x SIP/2.0\r\nA: b\r\n\r\n"
    );
}

// ---------------------------------------------------------------- templates and keywords

#[test]
fn hex_escapes_become_bytes() {
    let s = must_load(&with_send(
        "MESSAGE sip:x SIP/2.0\nX: \\x5bnot a keyword]\\x41\n",
    ));
    assert!(text(&send_of(&s.commands[0]).template).contains("X: [not a keyword]A\r\n"));
}

#[test]
fn keywords_parse_with_offsets_and_parameters() {
    let body = "INVITE sip:x SIP/2.0\n\
                A: [cseq+1] [branch-2] [local_port+3] [len] [last_Via:] [last_From] [last_Request_URI]\n\
                B: [last_cseq_number] [last_message] [$v] [$v] [field0] [field2 file=\"f.csv\" line=3] [field1 line=$v]\n\
                C: [fill variable=v text=ab] [authentication username=joe password=s3cret] [authentication aka_K=00]\n\
                D: [cryptotag1audio] [cryptokeyparams1audio-5] [mykey] [timestamp] [clock_tick] [tdmmap]\n";
    let keys = vec!["mykey".to_string()];
    let opts = LoadOptions {
        keys: &keys,
        ..LoadOptions::default()
    };
    let s = load(with_send(body).as_bytes(), "k.xml", &opts).unwrap_or_else(|e| panic!("{e}"));
    let kws: Vec<Keyword> = send_of(&s.commands[0])
        .template
        .segments
        .iter()
        .filter_map(|seg| {
            if let Segment::Keyword(k) = seg {
                Some(k.clone())
            } else {
                None
            }
        })
        .collect();
    let v = VarId(0);
    assert_eq!(s.variables, vec!["v".to_string()]);
    assert_eq!(
        kws,
        vec![
            Keyword::Cseq(1),
            Keyword::Branch(-2),
            Keyword::LocalPort(3),
            Keyword::Len(0),
            Keyword::LastHeader {
                name: "Via".into(),
                kind: crate::sip::HeaderName::Via,
                value_only: false
            },
            Keyword::LastHeader {
                name: "From".into(),
                kind: crate::sip::HeaderName::From,
                value_only: false
            },
            Keyword::LastRequestUri,
            Keyword::LastCseqNumber(0),
            Keyword::LastMessage,
            Keyword::Var(v),
            Keyword::Var(v),
            Keyword::Field {
                n: 0,
                file: None,
                line: None
            },
            Keyword::Field {
                n: 2,
                file: Some("f.csv".into()),
                line: Some(FieldLine::Fixed(3))
            },
            Keyword::Field {
                n: 1,
                file: None,
                line: Some(FieldLine::Var(v))
            },
            Keyword::Fill {
                variable: v,
                text: "ab".into()
            },
            Keyword::Authentication(AuthParams {
                username: Some("joe".into()),
                password: Some("s3cret".into()),
                aka: false
            }),
            Keyword::Authentication(AuthParams {
                username: None,
                password: None,
                aka: true
            }),
            Keyword::Crypto {
                name: "cryptotag1audio".into(),
                offset: 0
            },
            Keyword::Crypto {
                name: "cryptokeyparams1audio".into(),
                offset: -5
            },
            Keyword::Generic("mykey".into()),
            Keyword::Timestamp,
            Keyword::ClockTick(0),
            Keyword::TdmMap,
        ]
    );
    assert_eq!(s.generic_keywords, vec!["mykey".to_string()]);
    assert_eq!(s.files_referenced, vec!["f.csv".to_string()]);
}

#[test]
fn file_keyword_reads_through_load_options() {
    let files = crate::files::MemFiles::new(FileAccess::Cwd).with("dir/body.txt", b"hello");
    let xml = with_send("MESSAGE sip:x SIP/2.0\n\n[file name=\"dir/body.txt\"]\n");
    let opts = LoadOptions {
        keys: &[],
        files: &files,
    };
    let s = load(xml.as_bytes(), "f.xml", &opts).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        send_of(&s.commands[0])
            .template
            .segments
            .iter()
            .any(|seg| matches!(seg, Segment::Keyword(Keyword::File(b)) if &b[..] == b"hello"))
    );
    let e = only(&with_send(
        "MESSAGE sip:x SIP/2.0\n\n[file name=\"missing.txt\"]\n",
    ));
    assert!(
        matches!(e.kind, ScenarioErrorKind::File { ref name, .. } if name == "missing.txt"),
        "{e:?}"
    );
}

#[test]
fn a_confined_scenario_names_files_only_relatively_and_without_dot_dot() {
    use crate::files::FileError;
    let xml = "<scenario name=\"t\">\n<send><![CDATA[\nMESSAGE sip:x SIP/2.0\n\n[file name=\"/etc/passwd\"]\n]]></send>\n\
<nop><action>\n<exec play_pcap_audio=\"/tmp/x.pcap\"/>\n<exec rtp_stream=\"../x.wav,1,0\"/>\n\
<exec rtp_record=\"start,/tmp/out.wav\"/>\n<exec rtp_stream=\"pause\"/>\n<exec play_pcap_audio=\"media/pcap/ok.pcap\"/>\n</action></nop>\n</scenario>";
    let opts = LoadOptions {
        keys: &[],
        files: &crate::files::NAMES_ONLY,
    };
    let errors = load(xml.as_bytes(), "c.xml", &opts).unwrap_err().0;
    let got: Vec<(u32, u32, String, FileError)> = errors
        .into_iter()
        .map(|e| match e.kind {
            ScenarioErrorKind::File { name, error, .. } => (e.pos.line, e.pos.column, name, error),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (5, 1, "/etc/passwd".into(), FileError::Absolute),
            (8, 7, "/tmp/x.pcap".into(), FileError::Absolute),
            (9, 7, "../x.wav".into(), FileError::ParentDir),
            (10, 7, "/tmp/out.wav".into(), FileError::Absolute),
        ]
    );
    // The command line reads paths as SIPp does: nothing to refuse by name.
    let files = crate::files::MemFiles::new(FileAccess::Cwd).with("/etc/passwd", b"root:x:0:0");
    let cli = LoadOptions {
        keys: &[],
        files: &files,
    };
    let s = load(xml.as_bytes(), "c.xml", &cli).expect("absolute paths are fine on the CLI");
    assert!(matches!(
        send_of(&s.commands[0]).template.segments.get(1),
        Some(Segment::Keyword(Keyword::File(_)))
    ));
}

#[test]
fn unterminated_keyword_is_an_error() {
    let e = only(&with_send("MESSAGE sip:x SIP/2.0\nX: [call_id\n"));
    assert!(matches!(e.kind, ScenarioErrorKind::Invalid(_)), "{e:?}");
}

#[test]
fn start_line_gives_method_or_status_or_neither() {
    let s = must_load(
        "<scenario><recv request=\"INVITE\"/>\
         <send><![CDATA[SIP/2.0 486 Busy Here\n[last_Via:]\n]]></send>\
         <send><![CDATA[[last_Request_URI] x\n]]></send></scenario>",
    );
    let busy = send_of(&s.commands[1]);
    assert_eq!((busy.method.as_deref(), busy.status), (None, Some(486)));
    let odd = send_of(&s.commands[2]);
    assert_eq!((odd.method.as_deref(), odd.status), (None, None));
}

mod commands;
