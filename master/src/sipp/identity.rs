//! `-sip_from`, `-sip_pai`, `-sip_provider`, `-sip_extra_header` (the Go gossipper's trunk
//! identity): the From of the built-in client scenarios, and a P-Asserted-Identity, an
//! X-Provider and any extra header lines on their INVITE; `[sip_from]`, `[sip_pai]` and
//! `[sip_provider]` in any scenario (an extra header has no keyword: refused with `-sf`).
//!
//! Owns: rewriting a built-in's XML text with those values (the same headers the load-test
//! wizard's `invite_media` carries, with the same value checks and name-addr rules).
//! Must not: read files. A scenario the headers cannot be placed in (a server, or a
//! built-in without SIPp's standard From) is refused, naming the flag.

use gossipper_engine::config::{JobSpec, ScenarioSource};
use gossipper_engine::scenario::builtin;

use super::args::SippArgs;
use super::error::CliError;
use crate::service::resolve::{check_identity_value, name_addr};

/// The built-ins whose From is SIPp's standard one and whose scenario places a call: the
/// ones the headers go into.
const CLIENT_BUILTINS: &[&str] = &["uac", "regexp"];

/// SIPp's From in those built-ins, up to its tag.
const STANDARD_FROM: &str = "From: sipp <sip:sipp@[local_ip]:[local_port]>";

/// Applies the identity flags to `spec`: keys for every scenario, and the headers written
/// into a client built-in (which then runs from its rewritten text).
pub(super) fn apply(a: &SippArgs, spec: &mut JobSpec) -> Result<(), CliError> {
    let given = [
        ("sip_from", &a.sip_from),
        ("sip_pai", &a.sip_pai),
        ("sip_provider", &a.sip_provider),
    ];
    let extra = extra_headers(&a.sip_extra_header)?;
    let first = match given.iter().find(|(_, v)| v.is_some()) {
        Some((f, _)) => *f,
        None if !extra.is_empty() => "sip_extra_header",
        None => return Ok(()),
    };
    for (flag, v) in given {
        if let Some(v) = v {
            check_identity_value(v).map_err(|reason| CliError::Invalid { flag, reason })?;
            spec.keys.push((flag.to_string(), v.clone()));
        }
    }
    let ScenarioSource::Builtin(id) = &spec.scenario else {
        if !extra.is_empty() {
            return Err(CliError::Invalid {
                flag: "sip_extra_header",
                reason: format!(
                    "goes into the built-in client scenarios {}; a scenario file writes its own headers",
                    CLIENT_BUILTINS.join(", ")
                ),
            });
        }
        // -sf: the scenario uses the values as keywords.
        return Ok(());
    };
    let Some(b) = builtin::get(id).filter(|b| CLIENT_BUILTINS.contains(&b.id)) else {
        return Err(CliError::Invalid {
            flag: first,
            reason: format!(
                "the built-in '{id}' has no From to set (the headers go into the built-in \
                 client scenarios {}; a -sf scenario can use [{first}])",
                CLIENT_BUILTINS.join(", ")
            ),
        });
    };
    let text = rewrite(
        b.xml,
        a.sip_from.as_deref(),
        a.sip_pai.as_deref(),
        a.sip_provider.as_deref(),
        &extra,
    );
    spec.scenario = ScenarioSource::Xml {
        name: format!("{}.xml", b.id),
        text: text.into_bytes(),
    };
    Ok(())
}

/// Each `-sip_extra_header` checked: `Name: value`, a token name (not one the built-in
/// already writes), a value of the identity rules; returned as `Name: value`.
fn extra_headers(given: &[String]) -> Result<Vec<String>, CliError> {
    const OWN: &[&str] = &[
        "via",
        "from",
        "to",
        "call-id",
        "cseq",
        "contact",
        "max-forwards",
        "content-type",
        "content-length",
        "subject",
    ];
    given
        .iter()
        .map(|h| {
            let bad = |reason: String| CliError::Invalid {
                flag: "sip_extra_header",
                reason: format!("\"{h}\": {reason}"),
            };
            let Some((name, value)) = h.split_once(':') else {
                return Err(bad("is not 'Name: value'".into()));
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c))
            {
                return Err(bad(format!("\"{name}\" is not a header name")));
            }
            if OWN.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(bad(format!(
                    "the built-in writes {name} itself (-sip_from sets From)"
                )));
            }
            check_identity_value(value).map_err(|r| bad(format!("the value {r}")))?;
            Ok(format!("{name}: {value}"))
        })
        .collect()
}

/// `xml` with every standard From replaced by `from`, and P-Asserted-Identity,
/// X-Provider and `extra` lines after the From of each INVITE.
fn rewrite(
    xml: &str,
    from: Option<&str>,
    pai: Option<&str>,
    provider: Option<&str>,
    extra: &[String],
) -> String {
    let mut out = String::with_capacity(xml.len() + 256);
    let mut in_invite = false;
    for line in xml.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.get(..line.len() - trimmed.len()).unwrap_or("");
        if is_start_line(trimmed) {
            in_invite = trimmed.starts_with("INVITE ");
        }
        let Some(rest) = trimmed.strip_prefix(STANDARD_FROM) else {
            out.push_str(line);
            continue;
        };
        match from {
            Some(f) => {
                out.push_str(indent);
                out.push_str("From: ");
                out.push_str(&name_addr(f));
                out.push_str(rest);
            }
            None => out.push_str(line),
        }
        if in_invite {
            if let Some(p) = pai {
                out.push_str(&format!("{indent}P-Asserted-Identity: {}\n", name_addr(p)));
            }
            if let Some(p) = provider {
                out.push_str(&format!("{indent}X-Provider: {p}\n"));
            }
            for h in extra {
                out.push_str(&format!("{indent}{h}\n"));
            }
        }
    }
    out
}

/// The first line of a SIP message inside a `<send>`: a response or `METHOD uri SIP/2.0`.
fn is_start_line(t: &str) -> bool {
    t.starts_with("SIP/2.0 ") || t.trim_end().ends_with("SIP/2.0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_is_replaced_everywhere_and_the_invite_alone_gets_pai_and_provider() {
        let uac = builtin::get("uac").unwrap().xml;
        let extra = vec!["X-Trunk: t1".to_string()];
        let out = rewrite(
            uac,
            Some("alice"),
            Some("sip:+15551234@x"),
            Some("acme"),
            &extra,
        );
        assert!(!out.contains(STANDARD_FROM), "{out}");
        let froms = out
            .matches("From: <sip:alice@[local_ip]:[local_port]>;tag=")
            .count();
        assert_eq!(froms, uac.matches(STANDARD_FROM).count());
        assert_eq!(
            out.matches("P-Asserted-Identity: <sip:+15551234@x>")
                .count(),
            1
        );
        assert_eq!(out.matches("X-Provider: acme").count(), 1);
        assert_eq!(out.matches("X-Trunk: t1").count(), 1);
        let invite = out.find("INVITE sip:").unwrap();
        let ack = out.find("ACK sip:").unwrap();
        let pai = out.find("P-Asserted-Identity").unwrap();
        assert!(invite < pai && pai < ack, "PAI belongs to the INVITE");
        // Nothing given, nothing changed.
        assert_eq!(rewrite(uac, None, None, None, &[]), uac);
    }
}
