//! Loader tests of commands and actions: sends, recvs, pauses, labels and jumps, and
//! every action the loader compiles.

use super::*;

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
        CommandKind::SendCmd(c) => {
            let t = &c.template;
            assert_eq!(text(t), "Call-ID: {}\r\n{}\r\n\r\n");
            assert_eq!(keywords(t), [&Keyword::CallId, &Keyword::Var(VarId(0))]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(s.commands[6].kind, CommandKind::RecvCmd(_)));
}
