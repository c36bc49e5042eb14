//! A `gossipper server -config` file's `gateway{}` (or one-entry `gateways[]`): the
//! REGISTER gateway of spec §5.14 inside the server. The account is kept registered
//! from the server's own UDP listener (Contact: its bound port), refreshed at 90 % of the
//! granted Expires, retried after a failure, with OPTIONS keep-alives, and removed with
//! `Expires: 0` when the server stops; the registrar's INVITEs for the account reach the
//! server's scenario (the one the v1 API may replace live).
//!
//! Owns: turning the object into the engine's `RegisterSpec`, and refusing what the
//! server cannot honour, by name. Must not: start anything (the run does).

use gossipper_engine::config::TransportMode;
use gossipper_engine::register::RegisterSpec;

use super::config::GatewayDef;
use crate::service::resolve::gateway::register_spec;
use crate::service::store::profiles::GatewayProfile;

/// The account to keep registered, `None` for a disabled one (said on stderr).
pub(super) fn register_of(
    def: &GatewayDef,
    transport: TransportMode,
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
        return Err(format!(
            "{at}: the REGISTER gateway registers from the server's UDP listener (u1); this server listens on {}",
            transport.code()
        ));
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
            let e = register_of(&d, t).unwrap_err();
            assert!(e.starts_with(want) || e.contains(want), "{want}: {e}");
        }
        // Disabled: kept out, not refused.
        assert_eq!(
            register_of(&with("enabled", json!(false)), TransportMode::UdpShared).unwrap(),
            None
        );
    }
}
