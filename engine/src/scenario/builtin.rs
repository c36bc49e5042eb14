//! The built-in scenario catalogue (`-sn`, `-sd`, `/api/v2/builtin-scenarios`).
//!
//! The XML texts are our own, written to behave on the wire as SIPp's built-ins do.

/// One built-in scenario.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    pub id: &'static str,
    pub name: &'static str,
    /// "client" or "server".
    pub role: &'static str,
    pub description: &'static str,
    pub xml: &'static str,
}

/// Every built-in, in `-sn` help order.
pub fn all() -> &'static [Builtin] {
    &[]
}

/// The built-in with this id.
pub fn get(id: &str) -> Option<&'static Builtin> {
    all().iter().find(|b| b.id == id)
}
