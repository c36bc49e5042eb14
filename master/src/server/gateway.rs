//! A `gossipper server -config` file's `gateway{}` or `gateways[]`: the REGISTER
//! gateway of spec §5.14 inside the server. Each account is kept registered from one of
//! the server's UDP listeners (the primary's, or the one its `listener` names; Contact:
//! that listener's bound port), refreshed at 90 % of the granted Expires, retried after
//! a failure, with OPTIONS keep-alives, and removed with `Expires: 0` when the server
//! stops; the registrar's INVITEs for the account reach that listener's scenario.
//!
//! Why one account per listener: a listener is one engine with one scenario, so
//! accounts are told apart by the listener the registrar sends their INVITEs to (each
//! Contact names its own port), and the engine keeps one registration per socket.
//! Several accounts sharing a listener would share its scenario and need the engine's
//! register loop to run several registrations; that is refused, by name.
//!
//! Owns: turning each object into the engine's `RegisterSpec` on its listener's run,
//! and refusing what the server cannot honour, by name. Must not: start anything (the
//! run does).

use gossipper_engine::config::TransportMode;
use gossipper_engine::register::RegisterSpec;

use gossipper_engine::config::JobSpec;

use super::config::GatewayDef;
use crate::service::resolve::gateway::register_spec;
use crate::service::store::profiles::GatewayProfile;

/// Gives each enabled account of `defs` to the run of the listener it names: 0 is
/// `primary`, N is `others[N - 1]` (`rows` extra rows were given in `listeners[]`).
/// Refused, naming the entry: a listener that is not `u1`, a second account on one
/// listener, and an AOR (user, domain, registrar) given twice.
pub(super) fn attach(
    defs: &[GatewayDef],
    primary: &mut JobSpec,
    others: &mut [&mut JobSpec],
    rows: usize,
) -> Result<(), String> {
    // (listener, place, account) of each enabled entry.
    let mut taken: Vec<(usize, &str, RegisterSpec)> = Vec::new();
    for def in defs {
        let at = &def.place;
        let transport = match def.listener {
            0 => primary.transport,
            n => others
                .get(n - 1)
                .map(|s| s.transport)
                .ok_or_else(|| format!("{at}.listener: {n} is not a listener of this server"))?,
        };
        // With listeners[] the listener is named; else it is "the server's".
        let on = (rows > 0).then(|| format!("listeners[{}]", def.listener));
        let Some(reg) = register_of(def, transport, on.as_deref())? else {
            continue;
        };
        if let Some((_, other, _)) = taken.iter().find(|(l, ..)| *l == def.listener) {
            let name = on.as_deref().unwrap_or("the server's listener");
            return Err(format!(
                "{at}.listener: {name} already registers {other}'s account; a listener keeps one account (its one scenario answers the account's calls): give {at} a u1 listener of its own (a listeners[] row, and \"listener\": its index)"
            ));
        }
        if let Some((_, other, _)) = taken.iter().find(|(_, _, r)| {
            r.registrar == reg.registrar
                && r.user == reg.user
                && r.domain.eq_ignore_ascii_case(&reg.domain)
        }) {
            return Err(format!(
                "{at}: {}@{} at {} is {other}'s account too (the registrar would hold both listeners for it and fork its calls): give each account once",
                reg.user, reg.domain, reg.registrar
            ));
        }
        taken.push((def.listener, at, reg));
    }
    for (listener, at, reg) in taken {
        eprintln!(
            "gossipper server: {at}: {}@{} registers at {} from {}",
            reg.user,
            reg.domain,
            reg.registrar,
            match listener {
                0 => "the primary listener".to_string(),
                n => format!("listener-{n}"),
            }
        );
        match listener {
            0 => primary.register = Some(reg),
            n => others[n - 1].register = Some(reg),
        }
    }
    Ok(())
}

/// The account to keep registered, `None` for a disabled one (said on stderr). `on`
/// names the listener when the file has `listeners[]` (`listeners[1]`).
pub(super) fn register_of(
    def: &GatewayDef,
    transport: TransportMode,
    on: Option<&str>,
) -> Result<Option<RegisterSpec>, String> {
    let at = &def.place;
    let mut p: GatewayProfile = serde_json::from_value(def.value.clone())
        .map_err(|e| format!("{at}: {e} (it takes a gateway profile's fields)"))?;
    // Fields of a gateway job or of the console's memory, which the server has its own
    // way of setting (its listener, its scenario), refused rather than ignored.
    let elsewhere: [(&str, bool, &str); 6] = [
        (
            "local_ip",
            !p.local_ip.is_empty(),
            "the server's listener binds it: local_ip / -i",
        ),
        (
            "contact_port",
            p.contact_port != 0,
            "the server's listener's port is the Contact's: local_port / -p",
        ),
        (
            "armed_scenario_id",
            !p.armed_scenario_id.is_empty(),
            "the server's scenario answers the account's calls: scenario_name / scenario_file",
        ),
        (
            "originate_scenario_id",
            !p.originate_scenario_id.is_empty(),
            "originate is a gateway job of gossipper ui or -ui_data_dir (POST /api/v2/gateways/{id}/originate), or a clients[] entry",
        ),
        (
            "originate_to",
            !p.originate_to.is_empty(),
            "originate is a gateway job of gossipper ui or -ui_data_dir, or a clients[] entry",
        ),
        (
            "originate_calls",
            p.originate_calls != 0,
            "originate is a gateway job of gossipper ui or -ui_data_dir, or a clients[] entry",
        ),
    ];
    if let Some((key, _, why)) = elsewhere.iter().find(|(_, set, _)| *set) {
        return Err(format!("{at}.{key}: not taken in a server file ({why})"));
    }
    if p.id.is_empty() {
        p.id = "gateway".into();
    }
    p.normalize()
        .map_err(|(field, problem)| format!("{at}.{field}: {problem}"))?;
    if !p.enabled {
        eprintln!(
            "gossipper server: {at} \"{}\" is disabled (enabled: false): not registered",
            p.id
        );
        return Ok(None);
    }
    if !p.register {
        return Err(format!(
            "{at}.register: false registers nothing, and a server answers every INVITE with its scenario anyway: leave the gateway out, or set register: true"
        ));
    }
    if transport != TransportMode::UdpShared {
        return Err(match on {
            None => format!(
                "{at}: the REGISTER gateway registers from the server's UDP listener (u1); this server listens on {}",
                transport.code()
            ),
            Some(l) => format!(
                "{at}.listener: {l} listens on {}; the REGISTER gateway registers from a UDP listener (u1)",
                transport.code()
            ),
        });
    }
    register_spec(&p).map(Some).map_err(|e| format!("{at}.{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(v: serde_json::Value) -> GatewayDef {
        GatewayDef {
            place: "gateway".into(),
            listener: 0,
            value: v,
        }
    }

    #[test]
    fn an_account_becomes_the_register_loop_of_the_udp_listener() {
        let reg = register_of(
            &def(
                json!({"domain": "pbx.test", "addr": "127.0.0.1:5080", "username": "alice",
                        "password": "pw", "advertised_ip": "127.0.0.1", "register_expires": 60,
                        "keepalive_seconds": -1}),
            ),
            TransportMode::UdpShared,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(reg.registrar, "127.0.0.1:5080".parse().unwrap());
        assert_eq!(
            (reg.user.as_str(), reg.auth_user.as_str()),
            ("alice", "alice")
        );
        assert_eq!(reg.contact, "127.0.0.1:0".parse().unwrap());
        assert_eq!((reg.expires_s, reg.keepalive_s), (60, 0));
    }

    fn entry(i: usize, listener: usize, user: &str, addr: &str) -> GatewayDef {
        GatewayDef {
            place: format!("gateways[{i}]"),
            listener,
            value: json!({"domain": "pbx.test", "addr": addr, "username": user,
                          "advertised_ip": "127.0.0.1"}),
        }
    }

    #[test]
    fn each_account_goes_to_the_listener_it_names() {
        let mut primary = JobSpec::default();
        let mut one = JobSpec::default();
        let mut two = JobSpec::default();
        let defs = [
            entry(0, 0, "alice", "127.0.0.1:5080"),
            entry(1, 2, "bob", "127.0.0.1:5080"),
            // The same user at another registrar is another account.
            entry(2, 1, "alice", "127.0.0.1:5090"),
        ];
        attach(&defs, &mut primary, &mut [&mut one, &mut two], 2).unwrap();
        let user = |s: &JobSpec| {
            s.register
                .as_ref()
                .map(|r| (r.user.clone(), r.registrar.port()))
        };
        assert_eq!(user(&primary), Some(("alice".into(), 5080)));
        assert_eq!(user(&one), Some(("alice".into(), 5090)));
        assert_eq!(user(&two), Some(("bob".into(), 5080)));
        // A disabled entry leaves its listener without an account.
        let mut off = entry(0, 0, "carol", "127.0.0.1:5080");
        off.value["enabled"] = json!(false);
        let mut primary = JobSpec::default();
        attach(&[off], &mut primary, &mut [], 0).unwrap();
        assert!(primary.register.is_none());
    }

    #[test]
    fn a_shared_listener_a_stream_listener_and_a_repeated_aor_are_refused_by_name() {
        let tcp = || JobSpec {
            transport: TransportMode::TcpShared,
            ..JobSpec::default()
        };
        for (defs, rows, want) in [
            (
                vec![
                    entry(0, 1, "alice", "127.0.0.1:5080"),
                    entry(1, 1, "bob", "127.0.0.1:5080"),
                ],
                2,
                "gateways[1].listener: listeners[1] already registers gateways[0]'s account; a listener keeps one account",
            ),
            (
                vec![
                    entry(0, 0, "alice", "127.0.0.1:5080"),
                    entry(1, 0, "bob", "127.0.0.1:5080"),
                ],
                0,
                "gateways[1].listener: the server's listener already registers gateways[0]'s account",
            ),
            (
                vec![entry(0, 2, "alice", "127.0.0.1:5080")],
                2,
                "gateways[0].listener: listeners[2] listens on t1; the REGISTER gateway registers from a UDP listener (u1)",
            ),
            (
                vec![
                    entry(0, 0, "alice", "127.0.0.1:5080"),
                    entry(1, 1, "alice", "127.0.0.1:5080"),
                ],
                2,
                "gateways[1]: alice@pbx.test at 127.0.0.1:5080 is gateways[0]'s account too",
            ),
            (
                vec![entry(0, 3, "alice", "127.0.0.1:5080")],
                2,
                "gateways[0].listener: 3 is not a listener",
            ),
        ] {
            let (mut primary, mut one, mut two) = (JobSpec::default(), JobSpec::default(), tcp());
            let e = attach(&defs, &mut primary, &mut [&mut one, &mut two], rows).unwrap_err();
            assert!(e.starts_with(want), "{want}: {e}");
            assert!(primary.register.is_none() && one.register.is_none());
        }
    }

    #[test]
    fn what_the_server_cannot_honour_is_refused_by_name() {
        let base = json!({"domain": "pbx.test", "addr": "127.0.0.1:5080", "username": "alice"});
        let with = |k: &str, v: serde_json::Value| {
            let mut o = base.clone();
            o[k] = v;
            def(o)
        };
        for (d, t, want) in [
            (
                with("bogus", json!(1)),
                TransportMode::UdpShared,
                "gateway: unknown field `bogus`",
            ),
            (
                with("contact_port", json!(5070)),
                TransportMode::UdpShared,
                "gateway.contact_port: not taken",
            ),
            (
                with("local_ip", json!("127.0.0.1")),
                TransportMode::UdpShared,
                "gateway.local_ip: not taken",
            ),
            (
                with("originate_to", json!("bob")),
                TransportMode::UdpShared,
                "gateway.originate_to: not taken",
            ),
            (
                with("transport", json!("tcp")),
                TransportMode::UdpShared,
                "gateway.transport:",
            ),
            (
                with("domain", json!("")),
                TransportMode::UdpShared,
                "gateway.domain:",
            ),
            (
                with("advertised_ip", json!("x")),
                TransportMode::UdpShared,
                "gateway.advertised_ip:",
            ),
            (
                with("register", json!(false)),
                TransportMode::UdpShared,
                "gateway.register: false",
            ),
            (
                def(base.clone()),
                TransportMode::TcpShared,
                "registers from the server's UDP listener",
            ),
        ] {
            let e = register_of(&d, t, None).unwrap_err();
            assert!(e.starts_with(want) || e.contains(want), "{want}: {e}");
        }
        // Disabled: kept out, not refused.
        assert_eq!(
            register_of(
                &with("enabled", json!(false)),
                TransportMode::UdpShared,
                None
            )
            .unwrap(),
            None
        );
    }
}
