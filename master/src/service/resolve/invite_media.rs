//! `invite_media`: the load-test wizard's client scenario, with optional identity
//! headers (From, P-Asserted-Identity, X-Provider) baked in per job.
//!
//! Owns: the one scenario the master adds to the engine's built-in catalogue. It places
//! the same call as the built-in `uac` (INVITE with SDP, optional provisional answers,
//! 200 timed as response time 1, ACK, hold for `call_duration_ms`, BYE), so it runs
//! against any UAS, SIPp's `-sn uas` included. Identity values are checked (no line
//! breaks, no `[`/`]` keyword brackets, no `]]>`) before they enter the XML. Must not:
//! read files.

/// The scenario ids this module answers to.
pub(crate) const IDS: &[&str] = &["invite_media"];

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
    if !IDS.contains(&id) {
        return None;
    }
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
    Some(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- gossipper load-test scenario "invite_media" (generated per job). -->
<scenario name="invite_media">
  <send retrans="500">
    <![CDATA[
{invite}{extra}    Content-Type: application/sdp
    Content-Length: [len]

    v=0
    o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
    s=-
    c=IN IP[media_ip_type] [media_ip]
    t=0 0
    m=audio [media_port] RTP/AVP 0 8
    a=rtpmap:0 PCMU/8000
    a=rtpmap:8 PCMA/8000
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
{ack}    Content-Length: 0
    ]]>
  </send>
  <pause/>
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
