//! `invite_media` and its variants: the load-test wizard's client scenarios, with
//! optional identity headers (From, P-Asserted-Identity, X-Provider) baked in per job.
//!
//! Owns: the scenarios the master adds to the engine's built-in catalogue. Each places
//! the call of the built-in `uac` (INVITE with a PCMU/PCMA offer, 200 timed as response
//! time 1, ACK, hold for `call_duration_ms`, BYE) and carries RTP: a synthetic PCMU
//! stream (G.711 silence, 50 packets/s) from the moment the peer's SDP is known until
//! the BYE, while the peer's RTP is counted (and recorded with `record_wav`). They run
//! against any UAS; a UAS that sends no RTP gives calls that succeed with nothing
//! received (`-rtp_echo` on SIPp's `uas` sends it all back).
//! - `invite_media`: provisional answers optional, media from the 200.
//! - `invite_media_early`: a 183 with SDP is required and media starts with it (early
//!   media), before the 200.
//! - `invite_media_early_180`: the same with the SDP in a 180 (carriers that ring with
//!   early media).
//! - `invite_media_savpf`: an `RTP/SAVPF` offer with SDES keys (`a=crypto`, both
//!   AES_CM_128 suites); the job runs with `-media_srtp`, so every packet is SRTP.
//! - `invite_media_scale`: `invite_media` with a 30 s hold unless `call_duration_ms`
//!   says otherwise (the Go tool's "media scale" preset; our engine needs no separate
//!   media mode for it).
//!
//! Identity values are checked (no line breaks, no `[`/`]` keyword brackets, no `]]>`)
//! before they enter the XML. Must not: read files.

/// The scenario ids this module answers to.
pub(crate) const IDS: &[&str] = &[
    "invite_media",
    "invite_media_early",
    "invite_media_early_180",
    "invite_media_savpf",
    "invite_media_scale",
];

/// `invite_media_scale`'s hold time when the job names none.
pub(crate) const SCALE_HOLD_MS: u64 = 30_000;

/// How a variant's call differs from `invite_media`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Variant {
    /// The provisional response that must carry the SDP answer (media starts there).
    early: Option<u16>,
    /// An SDES-SRTP offer (`RTP/SAVPF` with `a=crypto`).
    srtp: bool,
}

fn variant(id: &str) -> Option<Variant> {
    let plain = Variant {
        early: None,
        srtp: false,
    };
    Some(match id {
        "invite_media" | "invite_media_scale" => plain,
        "invite_media_early" => Variant {
            early: Some(183),
            ..plain
        },
        "invite_media_early_180" => Variant {
            early: Some(180),
            ..plain
        },
        "invite_media_savpf" => Variant {
            srtp: true,
            ..plain
        },
        _ => return None,
    })
}

/// Whether the job running scenario `id` needs `-media_srtp`.
pub(crate) fn needs_srtp(id: &str) -> bool {
    variant(id).is_some_and(|v| v.srtp)
}

/// Identity headers for the INVITE (sipstress-style `sip_from`, `sip_pai`,
/// `sip_provider`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) from: Option<String>,
    pub(crate) pai: Option<String>,
    pub(crate) provider: Option<String>,
}

/// Checks one identity value; the error says what is wrong.
pub(crate) fn check_identity_value(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("is empty".into());
    }
    if v.len() > 512 {
        return Err("is longer than 512 bytes".into());
    }
    if let Some(c) = v.chars().find(|c| c.is_control() || matches!(c, '[' | ']')) {
        return Err(format!(
            "contains {c:?} (line breaks, control characters and [ ] are not allowed)"
        ));
    }
    Ok(())
}

/// `"Alice" <sip:a@x>` stays as given; `sip:a@x` becomes `<sip:a@x>`; a bare `alice`
/// becomes `<sip:alice@[local_ip]:[local_port]>`.
pub(crate) fn name_addr(v: &str) -> String {
    if v.contains('<') {
        v.to_string()
    } else if ["sip:", "sips:", "tel:"].iter().any(|s| v.starts_with(s)) {
        format!("<{v}>")
    } else {
        format!("<sip:{v}@[local_ip]:[local_port]>")
    }
}

/// The scenario XML for `id`, or `None` if `id` is not one of ours.
pub(crate) fn xml(id: &str, ident: &Identity) -> Option<String> {
    let v = variant(id)?;
    let from = ident.from.as_deref().map_or_else(
        || "sipp <sip:sipp@[local_ip]:[local_port]>".to_string(),
        name_addr,
    );
    let mut extra = String::new();
    if let Some(pai) = &ident.pai {
        extra.push_str(&format!("    P-Asserted-Identity: {}\n", name_addr(pai)));
    }
    if let Some(p) = &ident.provider {
        extra.push_str(&format!("    X-Provider: {p}\n"));
    }
    let common = |method: &str, cseq: &str, to_tag: &str| {
        format!(
            "    {method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n\
             \x20   Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
             \x20   From: {from};tag=[pid]GsTag00[call_number]\n\
             \x20   To: [service] <sip:[service]@[remote_ip]:[remote_port]>{to_tag}\n\
             \x20   Call-ID: [call_id]\n\
             \x20   CSeq: {cseq} {method}\n\
             \x20   Contact: sip:sipp@[local_ip]:[local_port]\n\
             \x20   Max-Forwards: 70\n\
             \x20   Subject: Load Test\n"
        )
    };
    // Media starts once the peer's SDP is in: with the early answer, or after the ACK.
    const START_MEDIA: &str = "<action><exec rtp_stream=\"synthetic,-1,0\"/></action>";
    let provisional: String = [100u16, 180, 183]
        .iter()
        .map(|code| {
            if v.early == Some(*code) {
                format!("  <recv response=\"{code}\">{START_MEDIA}</recv>\n")
            } else {
                format!("  <recv response=\"{code}\" optional=\"true\"/>\n")
            }
        })
        .collect();
    let after_ack = if v.early.is_some() {
        String::new()
    } else {
        format!("  <nop>{START_MEDIA}</nop>\n")
    };
    let (profile, crypto) = if v.srtp {
        (
            "RTP/SAVPF",
            "    a=crypto:[cryptotag1audio] [cryptosuiteaescm128sha1801audio] inline:[cryptokeyparams1audio]\n\
             \x20   a=crypto:[cryptotag2audio] [cryptosuiteaescm128sha1322audio] inline:[cryptokeyparams2audio]\n",
        )
    } else {
        ("RTP/AVP", "")
    };
    Some(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- gossipper load-test scenario "{id}" (generated per job). -->
<scenario name="{id}">
  <send retrans="500">
    <![CDATA[
{invite}{extra}    Content-Type: application/sdp
    Content-Length: [len]

    v=0
    o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
    s=-
    c=IN IP[media_ip_type] [media_ip]
    t=0 0
    m=audio [media_port] {profile} 0 8
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
{crypto}    ]]>
  </send>
{provisional}  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
{ack}    Content-Length: 0
    ]]>
  </send>
{after_ack}  <pause/>
  <send retrans="500">
    <![CDATA[
{bye}    Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
  <ResponseTimeRepartition value="10, 20, 30, 40, 50, 100, 150, 200"/>
  <CallLengthRepartition value="10, 50, 100, 500, 1000, 5000, 10000"/>
</scenario>
"#,
        invite = common("INVITE", "1", ""),
        ack = common("ACK", "1", "[peer_tag_param]"),
        bye = common("BYE", "2", "[peer_tag_param]"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gossipper_engine::scenario::{self, LoadOptions};

    fn load(xml: &str) -> Result<(), String> {
        scenario::load(xml.as_bytes(), "invite_media.xml", &LoadOptions::default())
            .map(drop)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_plain_scenario_loads_in_the_engine() {
        let x = xml("invite_media", &Identity::default()).unwrap();
        load(&x).unwrap();
        assert!(!x.contains("P-Asserted-Identity"));
        assert!(xml("nope", &Identity::default()).is_none());
    }

    #[test]
    fn every_variant_loads_and_starts_media_where_its_answer_comes() {
        for id in IDS {
            let x = xml(id, &Identity::default()).unwrap();
            load(&x).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(
                x.matches("rtp_stream=\"synthetic,-1,0\"").count(),
                1,
                "{id}"
            );
            assert!(x.contains(&format!("<scenario name=\"{id}\">")), "{id}");
        }
        let early = xml("invite_media_early", &Identity::default()).unwrap();
        assert!(early.contains("<recv response=\"183\"><action>"));
        assert!(early.contains("<recv response=\"180\" optional=\"true\"/>"));
        assert!(!early.contains("<nop>"));
        let e180 = xml("invite_media_early_180", &Identity::default()).unwrap();
        assert!(e180.contains("<recv response=\"180\"><action>"));
        assert!(e180.contains("<recv response=\"183\" optional=\"true\"/>"));
        let plain = xml("invite_media", &Identity::default()).unwrap();
        assert!(plain.contains("<nop><action>"));
        assert!(plain.contains("RTP/AVP 0 8") && !plain.contains("a=crypto"));
        let savpf = xml("invite_media_savpf", &Identity::default()).unwrap();
        assert!(savpf.contains("RTP/SAVPF 0 8"));
        assert_eq!(savpf.matches("a=crypto:").count(), 2);
        assert!(needs_srtp("invite_media_savpf") && !needs_srtp("invite_media"));
    }

    #[test]
    fn identity_headers_go_into_the_invite_only() {
        let ident = Identity {
            from: Some("sip:alice@example.com".into()),
            pai: Some("\"Alice\" <sip:+15550100@example.com>".into()),
            provider: Some("carrier-a".into()),
        };
        let x = xml("invite_media", &ident).unwrap();
        load(&x).unwrap();
        assert_eq!(x.matches("From: <sip:alice@example.com>;tag=").count(), 3);
        assert_eq!(
            x.matches("P-Asserted-Identity: \"Alice\" <sip:+15550100@example.com>")
                .count(),
            1
        );
        assert_eq!(x.matches("X-Provider: carrier-a").count(), 1);
    }

    #[test]
    fn identity_values_that_could_break_the_message_are_refused() {
        for bad in ["a\r\nVia: x", "a]]>b", "[service]", "", "a\0"] {
            assert!(check_identity_value(bad).is_err(), "{bad:?}");
        }
        check_identity_value("\"Bob\" <sip:bob@10.0.0.1:5060>;x=y").unwrap();
    }
}
