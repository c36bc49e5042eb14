//! Loader tests: the built-in catalogue, SIPp's own built-ins and scenario corpus,
//! error kinds and positions, keywords, actions and pauses.

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
    for b in builtin::all() {
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
                value_only: false
            },
            Keyword::LastHeader {
                name: "From".into(),
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

// ---------------------------------------------------------------- commands and actions

#[test]
fn common_attributes_and_labels_resolve() {
    let xml = "<scenario>\
        <Global variables=\"g\"/>\
        <recv request=\"INVITE\" ontimeout=\"end\" timeout=\"5000\" rrs=\"true\" auth=\"true\" ignoresdp=\"true\"\
              start_rtd=\"a\" counter=\"c1\" display=\"hello\" hide=\"true\" hiderest=\"true\" lost=\"10\"/>\
        <nop condexec=\"g\" condexec_inverse=\"true\" next=\"end\" test=\"g\" chance=\"0.5\" rtd=\"a\" repeat_rtd=\"true\" crlf=\"true\"/>\
        <label id=\"end\"/>\
        <label id=\"_unexp.main\"/>\
        <recv request=\"BYE\" optional=\"global\" advance_state=\"false\" response_txn=\"t\"/>\
        <send start_txn=\"t\"><![CDATA[OPTIONS sip:x SIP/2.0\n]]></send>\
        </scenario>";
    let errs = errors(xml);
    // response_txn before start_txn is refused.
    assert!(
        errs.iter().any(
            |e| matches!(&e.kind, ScenarioErrorKind::Invalid(m) if m.contains("response_txn"))
        ),
        "{errs:?}"
    );
    let xml = xml.replace("<recv request=\"BYE\" optional=\"global\" advance_state=\"false\" response_txn=\"t\"/>", "").replace(
        "</scenario>",
        "<recv response=\"200\" optional=\"global\" advance_state=\"false\" response_txn=\"t\"/></scenario>",
    );
    let s = must_load(&xml);
    assert_eq!(s.role, Role::Server);
    assert_eq!(s.globals, vec![VarId(0)]);
    assert_eq!(s.unexp_main, Some(3));
    let recv = &s.commands[0];
    assert_eq!(recv.common.ontimeout, Some(2));
    assert_eq!(recv.common.start_rtd, vec![RtdId(0)]);
    assert_eq!(recv.common.counter, Some(CounterId(0)));
    assert_eq!(recv.common.display.as_deref(), Some("hello"));
    assert!(recv.common.hide && recv.common.hiderest);
    assert_eq!(recv.common.lost_percent, Some(10.0));
    match &recv.kind {
        CommandKind::Recv(r) => {
            assert!(matches!(&r.matcher, RecvMatch::Request(m) if m == "INVITE"));
            assert_eq!(r.timeout_ms, Some(5000));
            assert!(r.rrs && r.auth && r.advance_state);
        }
        other => panic!("{other:?}"),
    }
    let nop = &s.commands[1];
    assert_eq!(nop.common.next, Some(2));
    assert_eq!(nop.common.test, Some(VarId(0)));
    assert_eq!(nop.common.condexec, Some(VarId(0)));
    assert!(nop.common.condexec_inverse && nop.common.repeat_rtd && nop.common.crlf);
    assert_eq!(nop.common.chance, Some(0.5));
    match &s.commands[5].kind {
        CommandKind::Recv(r) => {
            assert_eq!(r.optional, Optional::Global);
            assert!(!r.advance_state);
            assert!(matches!(r.matcher, RecvMatch::Response(200)));
            assert_eq!(r.response_txn.as_deref(), Some("t"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_action_parses() {
    let xml = r#"<scenario><recv request="INVITE"><action>
        <ereg regexp="From: (.*)" search_in="hdr" header="From:" case_indep="true" occurrence="2" start_line="true"
              check_it="true" assign_to="all,user"/>
        <ereg regexp="x" search_in="var" variable="user" check_it_inverse="true" assign_to="_"/>
        <ereg regexp="v=0" search_in="body" assign_to="_"/>
        <log message="got [$user]"/>
        <warning message="w"/>
        <error message="e"/>
        <exec command="echo [call_id]"/>
        <exec int_cmd="stop_now"/>
        <exec play_pcap_audio="a.pcap"/>
        <exec rtp_stream="apattern,1,0,PCMU/8000"/>
        <exec rtp_echo="startaudio,0,PCMU/8000"/>
        <exec play_dtmf="123"/>
        <assign assign_to="n" value="1.5"/>
        <assign assign_to="n" variable="all"/>
        <assignstr assign_to="s" value="[$user]@[remote_ip]"/>
        <add assign_to="n" value="2"/>
        <subtract assign_to="n" variable="n"/>
        <multiply assign_to="n" value="3"/>
        <divide assign_to="n" value="4"/>
        <sample assign_to="n" distribution="normal" mean="10" stdev="2"/>
        <todouble assign_to="n" variable="s"/>
        <test assign_to="b" variable="n" compare="greater_than_equal" value="1"/>
        <test assign_to="b" variable="n" compare="not_equal" variable2="n"/>
        <strcmp assign_to="n" variable="s" value="abc"/>
        <strcmp assign_to="n" variable="s" variable2="user"/>
        <trim assign_to="s"/>
        <jump value="2"/>
        <jump value="there"/>
        <jump variable="n"/>
        <gettimeofday assign_to="sec,usec"/>
        <lookup assign_to="n" file="users.csv" key="[$s]"/>
        <insert file="users.csv" value="a;b"/>
        <replace file="users.csv" line="1" value="c;d"/>
        <setdest host="[remote_ip]" port="5060" protocol="udp"/>
        <verifyauth assign_to="b" username="u" password="p"/>
        <urlencode assign_to="s"/>
        <urldecode assign_to="s"/>
        <closecon/>
        <pauserestore/>
      </action></recv>
      <nop test="b"/>
      <label id="there"/>
      <nop display="[$sec] [$usec]"/>
      <send><![CDATA[OPTIONS sip:x SIP/2.0
X: [$sec][$usec]
]]></send>
      </scenario>"#;
    let s = must_load(xml);
    let actions = &s.commands[0].common.actions;
    assert_eq!(actions.len(), 39);
    match &actions[0] {
        Action::Ereg(e) => {
            assert_eq!(e.search_in, SearchIn::Hdr("From".into()));
            assert!(e.case_indep && e.start_line && e.check_it && !e.check_it_inverse);
            assert_eq!(e.occurrence, 2);
            assert_eq!(e.assign_to.len(), 2);
            assert!(
                e.regex.is_match(b"from: a\nb"),
                "case-insensitive, dot matches newline"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&actions[1], Action::Ereg(e) if matches!(e.search_in, SearchIn::Var(_)) && e.check_it_inverse)
    );
    assert!(matches!(&actions[2], Action::Ereg(e) if e.search_in == SearchIn::Body));
    assert!(matches!(&actions[7], Action::IntCmd(IntCmd::StopNow)));
    assert!(
        matches!(&actions[9], Action::Media(m) if m.verb == "rtp_stream" && m.argument == "apattern,1,0,PCMU/8000")
    );
    assert!(matches!(&actions[12], Action::Assign { value, .. } if *value == 1.5));
    assert!(matches!(&actions[13], Action::AssignVar { .. }));
    assert!(
        matches!(&actions[19], Action::Sample { distribution: Distribution::Normal { mean, stdev }, .. } if *mean == 10.0 && *stdev == 2.0)
    );
    assert!(matches!(
        &actions[21],
        Action::Test {
            compare: Compare::GreaterThanEqual,
            right: Operand::Value(_),
            ..
        }
    ));
    assert!(matches!(
        &actions[22],
        Action::Test {
            compare: Compare::NotEqual,
            right: Operand::Var(_),
            ..
        }
    ));
    // SIPp message 2 is our command 3 (the label is not a SIPp message); labels work too.
    assert!(matches!(&actions[26], Action::Jump(JumpTarget::Index(3))));
    assert!(matches!(&actions[27], Action::Jump(JumpTarget::Index(2))));
    assert!(matches!(&actions[28], Action::Jump(JumpTarget::Var(_))));
    assert!(matches!(
        &actions[29],
        Action::GetTimeOfDay { usec: Some(_), .. }
    ));
    assert!(matches!(&actions[37], Action::CloseCon));
    assert!(matches!(&actions[38], Action::PauseRestore));
    assert!(s.files_referenced.contains(&"users.csv".to_string()));
}

#[test]
fn bad_actions_are_reported() {
    let e = only(
        r#"<scenario><nop><action><test assign_to="a" variable="a" compare="roughly" value="1"/></action></nop></scenario>"#,
    );
    assert!(
        matches!(e.kind, ScenarioErrorKind::InvalidAttribute { ref attribute, .. } if attribute == "compare")
    );
    let e = only(
        r#"<scenario><nop><action><ereg regexp="(" assign_to="_"/></action></nop></scenario>"#,
    );
    assert!(matches!(e.kind, ScenarioErrorKind::Regex(..)));
    let e = only(r#"<scenario><nop><action><exec int_cmd="explode"/></action></nop></scenario>"#);
    assert!(matches!(e.kind, ScenarioErrorKind::InvalidAttribute { .. }));
    let e = only(r#"<scenario><nop><action><jump value="nowhere"/></action></nop></scenario>"#);
    assert_eq!(e.kind, ScenarioErrorKind::UndefinedLabel("nowhere".into()));
}

#[test]
fn pauses_take_every_distribution() {
    let xml = r#"<scenario>
        <pause/>
        <pause milliseconds="250"/>
        <pause variable="d"/>
        <pause distribution="fixed" value="10"/>
        <pause distribution="uniform" min="1" max="2"/>
        <pause distribution="normal" mean="1" stdev="2"/>
        <pause distribution="lognormal" mean="1" stdev="2"/>
        <pause distribution="exponential" mean="3"/>
        <pause distribution="weibull" lambda="1" k="2"/>
        <pause distribution="pareto" k="1" x_m="2"/>
        <pause distribution="gpareto" shape="1" scale="2" location="3"/>
        <pause distribution="gamma" k="1" theta="2"/>
        <pause distribution="negbin" p="0.5" n="2"/>
        <pause min="5" max="6" sanity_check="false"/>
        <nop><action><assign assign_to="d" value="5"/></action></nop>
        </scenario>"#;
    let s = must_load(xml);
    let durations: Vec<&PauseDuration> = s
        .commands
        .iter()
        .filter_map(|c| match &c.kind {
            CommandKind::Pause(p) => Some(&p.duration),
            _ => None,
        })
        .collect();
    use Distribution as D;
    use PauseDuration::Distribution as Dist;
    assert_eq!(
        durations,
        [
            &PauseDuration::Default,
            &PauseDuration::Fixed(250),
            &PauseDuration::Variable(VarId(0)),
            &Dist(D::Fixed(10.0)),
            &Dist(D::Uniform { min: 1.0, max: 2.0 }),
            &Dist(D::Normal {
                mean: 1.0,
                stdev: 2.0
            }),
            &Dist(D::LogNormal {
                mean: 1.0,
                stdev: 2.0
            }),
            &Dist(D::Exponential { mean: 3.0 }),
            &Dist(D::Weibull {
                lambda: 1.0,
                k: 2.0
            }),
            &Dist(D::Pareto { k: 1.0, xm: 2.0 }),
            &Dist(D::GPareto {
                shape: 1.0,
                scale: 2.0,
                location: 3.0
            }),
            &Dist(D::Gamma { k: 1.0, theta: 2.0 }),
            &Dist(D::NegBin { p: 0.5, n: 2.0 }),
            &Dist(D::Uniform { min: 5.0, max: 6.0 }),
        ]
    );
    let e = only("<scenario><pause distribution=\"zipf\"/></scenario>");
    assert!(
        matches!(e.kind, ScenarioErrorKind::InvalidAttribute { ref attribute, .. } if attribute == "distribution")
    );
}

#[test]
fn init_and_default_messages_are_kept() {
    let s = must_load(
        "<scenario><init><nop><action><assign assign_to=\"x\" value=\"1\"/></action></nop><label id=\"a\"/></init>\
         <DefaultMessage id=\"bye\"><![CDATA[BYE sip:x SIP/2.0\n]]></DefaultMessage>\
         <send><![CDATA[OPTIONS sip:x SIP/2.0\nX: [$x]\n]]></send></scenario>",
    );
    assert_eq!(s.init.len(), 2);
    assert_eq!(s.default_messages.len(), 1);
    assert_eq!(s.default_messages[0].0, "bye");
    // No repartition elements: SIPp 3.6.1 shows no repartition table at all.
    assert!(s.response_time_repartition.is_empty() && s.call_length_repartition.is_empty());
    let e = only("<scenario><init><send><![CDATA[A b SIP/2.0\n]]></send></init><nop/></scenario>");
    assert!(matches!(e.kind, ScenarioErrorKind::Invalid(_)));
}

#[test]
fn recv_regexp_match_and_bad_codes() {
    let s = must_load(builtin::get("ooc_default").expect("ooc").xml);
    assert!(
        matches!(&s.commands[0].kind, CommandKind::Recv(r) if matches!(&r.matcher, RecvMatch::Regex { request: true, re } if re.is_match("OPTIONS")))
    );
    let e = only("<scenario><recv response=\"2xx\"/></scenario>");
    assert!(matches!(e.kind, ScenarioErrorKind::InvalidAttribute { .. }));
}

#[test]
fn truncated_and_mangled_builtins_never_panic_and_errors_point_inside_the_file() {
    for b in builtin::all() {
        let bytes = b.xml.as_bytes();
        let mut variants: Vec<Vec<u8>> = Vec::new();
        for cut in (0..bytes.len()).step_by(11) {
            variants.push(bytes[..cut].to_vec());
            let mut dropped = bytes.to_vec();
            dropped.remove(cut);
            variants.push(dropped);
            let mut flipped = bytes.to_vec();
            flipped[cut] = 0xE9;
            variants.push(flipped);
        }
        for v in variants {
            let lines = u32::try_from(v.split(|&c| c == b'\n').count()).expect("small");
            if let Err(e) = load(&v, b.id, &LoadOptions::default()) {
                assert!(!e.0.is_empty(), "{}: a failure must say why", b.id);
                for err in e.0 {
                    assert!(
                        err.pos.line >= 1 && err.pos.line <= lines,
                        "{}: {err} outside {lines} lines",
                        b.id
                    );
                    assert!(err.pos.column >= 1, "{}: {err}", b.id);
                }
            }
        }
    }
}

/// Literal text with every keyword replaced by `K`, as bytes.
fn literal_bytes(t: &Template) -> Vec<u8> {
    let mut out = Vec::new();
    for s in &t.segments {
        match s {
            Segment::Literal(b) => out.extend_from_slice(b),
            Segment::Keyword(_) => out.push(b'K'),
        }
    }
    out
}

#[test]
fn cdata_cleanup_matches_bytes_sent_by_sipp_3_6_1() {
    // Each case was sent by SIPp 3.6.1 to a UDP sink; keywords are shown as K.
    let cases: &[(&str, &[u8])] = &[
        (
            "\n\n      MESSAGE sip:x@[remote_ip] SIP/2.0\n      Content-Length: [len]\n\n      body line1\n\t  body2 \\x5b \\x41x\n      last   \n\n    ",
            b"MESSAGE sip:x@K SIP/2.0\r\nContent-Length: K\r\n\r\nbody line1\r\n  body2 [ Ax\r\nlast\r\n",
        ),
        ("\n  MESSAGE sip:x SIP/2.0\n  Content-Length: 0\n  ", b"MESSAGE sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n"),
        ("\n  MESSAGE sip:x SIP/2.0\n  Content-Length: 5\n\n  hello\n  ", b"MESSAGE sip:x SIP/2.0\r\nContent-Length: 5\r\n\r\nhello\r\n"),
        ("\n  MESSAGE sip:x SIP/2.0\n\n  hello", b"MESSAGE sip:x SIP/2.0\r\n\r\nhello"),
        ("\n  MESSAGE sip:x SIP/2.0\n  Content-Length: [len]\n\n  ", b"MESSAGE sip:x SIP/2.0\r\nContent-Length: K\r\n\r\n"),
        ("M sip:x SIP/2.0\nX: k\\x4|l\\x|m\\x0a|n\\x0Gz|\n", b"M sip:x SIP/2.0\r\nX: k\x04lm\n|n\x00z|\r\n\r\n"),
    ];
    for (cdata, wire) in cases {
        let s = must_load(&with_send(cdata));
        let got = literal_bytes(&send_of(&s.commands[0]).template);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(wire),
            "for {cdata:?}"
        );
    }
}

#[test]
fn send_cmd_keeps_its_headers_without_the_body_rule() {
    let s = must_load(builtin::get("3pcc-C-A").expect("3pcc").xml);
    match &s.commands[5].kind {
        CommandKind::SendCmd(t) => {
            assert_eq!(text(t), "Call-ID: {}\r\n{}\r\n\r\n");
            assert_eq!(keywords(t), [&Keyword::CallId, &Keyword::Var(VarId(0))]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(s.commands[6].kind, CommandKind::RecvCmd));
}
