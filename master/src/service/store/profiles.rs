//! UAS, UAC and REGISTER gateway profiles: `profiles/servers/<id>.json`,
//! `profiles/clients/<id>.json` and `profiles/gateways/<id>.json` (in the data dir's
//! private directories: a gateway profile holds its account's password).
//!
//! Owns: the profile types (gossipper-reference.md §5.5 ServerProfile, ClientProfile,
//! TransportSpec) and [`ProfileDir`], an in-memory index of one directory that is loaded
//! on start and updated on every write, so listing never scans the disk. Must not:
//! validate requests (the api does) or start jobs.

use std::collections::BTreeMap;
use std::sync::RwLock;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::{StoreError, files};
use crate::service::paths::{Layout, Place};

/// One listener or connection row of a profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct TransportSpec {
    pub(crate) transport: String,
    pub(crate) local_ip: String,
    pub(crate) local_port: u16,
    pub(crate) enabled: bool,
    pub(crate) tls_cert_file: String,
    pub(crate) tls_key_file: String,
    pub(crate) ws_path: String,
    pub(crate) ice_servers: Vec<String>,
    pub(crate) ice_username: String,
    pub(crate) ice_credential: String,
    pub(crate) ice_auth_secret: String,
    pub(crate) ice_auth_ttl_sec: u32,
    /// `""` or `all` (every candidate), or `relay` (the TURN relay only).
    pub(crate) ice_transport_policy: String,
    pub(crate) prefers_pcma: bool,
}

/// A UAS profile. Also the request body of POST/PUT `/servers` (unknown fields refused;
/// `source`, times and `runtime` are accepted so a client can send back what it read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ServerProfile {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) scenario_ref: String,
    pub(crate) transports: Vec<TransportSpec>,
    pub(crate) max_concurrent: u32,
    pub(crate) notes: String,
    pub(crate) source: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    #[serde(skip_serializing)]
    pub(crate) runtime: Option<IgnoredAny>,
}

/// A UAC profile: a server profile plus where and how fast to call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ClientProfile {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) scenario_ref: String,
    pub(crate) transports: Vec<TransportSpec>,
    pub(crate) remote_ip: String,
    pub(crate) remote_port: u16,
    pub(crate) rate: f64,
    pub(crate) max_concurrent: u32,
    pub(crate) duration_ms: u64,
    pub(crate) notes: String,
    pub(crate) source: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    #[serde(skip_serializing)]
    pub(crate) runtime: Option<IgnoredAny>,
}

/// A REGISTER gateway profile (spec §5.14): an account at a registrar, kept registered
/// by a gateway job from its UAS socket, plus what was last armed and originated. Also
/// the request body of POST/PUT `/gateways` (unknown fields refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct GatewayProfile {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) enabled: bool,
    /// The registrar's domain (Request-URI `sip:{domain}`, the AOR's host).
    pub(crate) domain: String,
    /// The registrar, `host[:port]` (5060 by default); empty: `domain`.
    pub(crate) addr: String,
    /// `udp` only in this build.
    pub(crate) transport: String,
    /// The Digest user name and password.
    pub(crate) username: String,
    pub(crate) password: String,
    /// The AOR's user; empty: `username`.
    pub(crate) register_user: String,
    /// Keep the account registered while a gateway job runs.
    pub(crate) register: bool,
    /// The Contact's address; empty: the address the registrar is reached from.
    pub(crate) advertised_ip: String,
    /// The address the gateway's UAS socket binds to; empty: every address.
    pub(crate) local_ip: String,
    pub(crate) register_expires: u32,
    /// OPTIONS keep-alive period, s; -1: none.
    pub(crate) keepalive_seconds: i32,
    /// The UAS socket's port, also the Contact's; 0: any free port.
    pub(crate) contact_port: u16,
    pub(crate) armed_scenario_id: String,
    pub(crate) originate_scenario_id: String,
    pub(crate) originate_to: String,
    pub(crate) originate_calls: u64,
    pub(crate) notes: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    #[serde(skip_serializing)]
    pub(crate) runtime: Option<IgnoredAny>,
}

/// Characters a user, domain or address may not hold (they would end a quoted string,
/// a URI or a header parameter).
const FORBIDDEN: &str = "/\"<>;,@\\";

impl GatewayProfile {
    /// Checks the account's fields and fills the defaults (`name` from `id`, `udp`,
    /// Expires 300); the field at fault and why. The id is the caller's to check (a
    /// `-config` gateway may have none).
    pub(crate) fn normalize(&mut self) -> Result<(), (&'static str, String)> {
        if self.name.is_empty() {
            self.name = self.id.clone();
        }
        if self.name.len() > 200 {
            return Err(("name", "must be at most 200 bytes".to_string()));
        }
        if self.transport.is_empty() {
            self.transport = "udp".into();
        }
        if !self.transport.eq_ignore_ascii_case("udp") {
            return Err((
                "transport",
                format!(
                    "\"{}\": the REGISTER gateway runs over udp only in this build",
                    self.transport
                ),
            ));
        }
        for (field, v) in [
            ("domain", &self.domain),
            ("addr", &self.addr),
            ("username", &self.username),
            ("register_user", &self.register_user),
            ("originate_to", &self.originate_to),
        ] {
            // These go into the request line, From/To, Contact and the Digest header.
            if v.len() > 253
                || v.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || FORBIDDEN.contains(c))
            {
                return Err((field,
                    "must be at most 253 bytes without spaces, control characters or any of / \" < > ; , @ \\".to_string(),
                ));
            }
        }
        if self
            .password
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            return Err((
                "password",
                "must not contain control characters, \" or \\".to_string(),
            ));
        }
        for (field, v) in [
            ("advertised_ip", &self.advertised_ip),
            ("local_ip", &self.local_ip),
        ] {
            if !v.is_empty() && v.parse::<std::net::IpAddr>().is_err() {
                return Err((field, format!("\"{v}\" is not an IP address")));
            }
        }
        if self.register
            && (self.domain.is_empty()
                || (self.username.is_empty() && self.register_user.is_empty()))
        {
            return Err((
                if self.domain.is_empty() {
                    "domain"
                } else {
                    "username"
                },
                "a gateway that registers needs a domain and a username (or register_user)"
                    .to_string(),
            ));
        }
        if self.register_expires == 0 {
            self.register_expires = 300;
        }
        if self.keepalive_seconds < -1 {
            return Err((
                "keepalive_seconds",
                "must be -1 (off) or a number of seconds ≥ 0".to_string(),
            ));
        }
        Ok(())
    }
}

impl Default for GatewayProfile {
    fn default() -> Self {
        GatewayProfile {
            id: String::new(),
            name: String::new(),
            enabled: true,
            domain: String::new(),
            addr: String::new(),
            transport: "udp".into(),
            username: String::new(),
            password: String::new(),
            register_user: String::new(),
            register: true,
            advertised_ip: String::new(),
            local_ip: String::new(),
            register_expires: 300,
            keepalive_seconds: 20,
            contact_port: 0,
            armed_scenario_id: String::new(),
            originate_scenario_id: String::new(),
            originate_to: String::new(),
            originate_calls: 0,
            notes: String::new(),
            created_at: String::new(),
            updated_at: String::new(),
            runtime: None,
        }
    }
}

/// Which directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Server,
    Client,
    Gateway,
}

impl Kind {
    fn place(self, id: &str) -> Place<'_> {
        match self {
            Kind::Server => Place::ServerProfile(id),
            Kind::Client => Place::ClientProfile(id),
            Kind::Gateway => Place::GatewayProfile(id),
        }
    }

    fn dir(self) -> &'static str {
        match self {
            Kind::Server => "profiles/servers",
            Kind::Client => "profiles/clients",
            Kind::Gateway => "profiles/gateways",
        }
    }

    /// "server" / "client", as used in audit actions and job rows.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Server => "server",
            Kind::Client => "client",
            Kind::Gateway => "gateway",
        }
    }
}

/// What the store needs from a profile type.
pub(crate) trait Profile:
    Clone + Serialize + serde::de::DeserializeOwned + Send + Sync
{
    fn id(&self) -> &str;
    fn created_at(&self) -> &str;
    fn stamp(&mut self, created_at: &str, updated_at: &str);
}

macro_rules! impl_profile {
    ($t:ty) => {
        impl Profile for $t {
            fn id(&self) -> &str {
                &self.id
            }
            fn created_at(&self) -> &str {
                &self.created_at
            }
            fn stamp(&mut self, created_at: &str, updated_at: &str) {
                self.created_at = created_at.to_string();
                self.updated_at = updated_at.to_string();
                self.runtime = None;
            }
        }
    };
}
impl_profile!(ServerProfile);
impl_profile!(ClientProfile);
impl_profile!(GatewayProfile);

/// One profile directory with its index.
pub(crate) struct ProfileDir<T> {
    layout: Layout,
    kind: Kind,
    index: RwLock<BTreeMap<String, T>>,
}

impl<T: Profile> ProfileDir<T> {
    /// Reads every `<id>.json` of the directory into the index.
    pub(crate) fn load(layout: &Layout, kind: Kind) -> Result<Self, StoreError> {
        let index = files::load_index(
            &layout.dir(kind.dir()),
            "profile",
            |id| layout.path(kind.place(id)).ok(),
            T::id,
        )?;
        Ok(ProfileDir {
            layout: layout.clone(),
            kind,
            index: RwLock::new(index),
        })
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, T>> {
        // The index is replaced entry by entry; a panic elsewhere cannot leave it torn.
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, T>> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn list(&self) -> Vec<T> {
        self.read_index().values().cloned().collect()
    }

    pub(crate) fn get(&self, id: &str) -> Option<T> {
        self.read_index().get(id).cloned()
    }

    /// Stores a new profile; `Conflict` if the id exists.
    pub(crate) fn create(&self, mut p: T, now: &str) -> Result<T, StoreError> {
        let path = self.layout.path(self.kind.place(p.id()))?;
        let mut index = self.write_index();
        if index.contains_key(p.id()) {
            return Err(StoreError::Conflict(format!(
                "{} profile \"{}\"",
                self.kind.as_str(),
                p.id()
            )));
        }
        p.stamp(now, now);
        files::write_json(&self.layout, &path, &p)?;
        index.insert(p.id().to_string(), p.clone());
        Ok(p)
    }

    /// Replaces an existing profile, keeping its `created_at`.
    pub(crate) fn update(&self, mut p: T, now: &str) -> Result<T, StoreError> {
        let path = self.layout.path(self.kind.place(p.id()))?;
        let mut index = self.write_index();
        let created = match index.get(p.id()) {
            Some(old) => old.created_at().to_string(),
            None => {
                return Err(StoreError::NotFound(format!(
                    "{} profile \"{}\"",
                    self.kind.as_str(),
                    p.id()
                )));
            }
        };
        p.stamp(&created, now);
        files::write_json(&self.layout, &path, &p)?;
        index.insert(p.id().to_string(), p.clone());
        Ok(p)
    }

    pub(crate) fn delete(&self, id: &str) -> Result<(), StoreError> {
        let path = self.layout.path(self.kind.place(id))?;
        let mut index = self.write_index();
        if index.remove(id).is_none() {
            return Err(StoreError::NotFound(format!(
                "{} profile \"{id}\"",
                self.kind.as_str()
            )));
        }
        files::remove(&path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::store::files::testdir::TestDir;

    fn server(id: &str) -> ServerProfile {
        ServerProfile {
            id: id.into(),
            name: "n".into(),
            ..Default::default()
        }
    }

    #[test]
    fn profiles_survive_reload_and_keep_created_at() {
        let t = TestDir::new("profiles");
        let dir = ProfileDir::<ServerProfile>::load(&t.layout, Kind::Server).unwrap();
        dir.create(server("s1"), "t1").unwrap();
        assert!(matches!(
            dir.create(server("s1"), "t1"),
            Err(StoreError::Conflict(_))
        ));
        let mut p = server("s1");
        p.name = "renamed".into();
        let updated = dir.update(p, "t2").unwrap();
        assert_eq!(
            (updated.created_at.as_str(), updated.updated_at.as_str()),
            ("t1", "t2")
        );

        let reloaded = ProfileDir::<ServerProfile>::load(&t.layout, Kind::Server).unwrap();
        assert_eq!(reloaded.get("s1").unwrap().name, "renamed");
        reloaded.delete("s1").unwrap();
        assert!(matches!(
            reloaded.delete("s1"),
            Err(StoreError::NotFound(_))
        ));
        assert!(
            ProfileDir::<ServerProfile>::load(&t.layout, Kind::Server)
                .unwrap()
                .list()
                .is_empty()
        );
    }

    #[test]
    fn traversal_ids_never_reach_the_disk() {
        let t = TestDir::new("profiles-bad");
        let dir = ProfileDir::<ClientProfile>::load(&t.layout, Kind::Client).unwrap();
        let p = ClientProfile {
            id: "../x".into(),
            ..Default::default()
        };
        assert!(matches!(dir.create(p, "t"), Err(StoreError::BadName(_))));
    }
}
