//! Scenario variables (`$name`): typed values as SIPp keeps them.
//!
//! Owns: one call's (or the shard's global) variable table. Must not: know about
//! messages. SIPp variables are untyped until assigned; a double prints as `%lf` would
//! ("3.000000"), a string as its bytes, a bool as "true"/"false".

use crate::scenario::VarId;

/// One variable's value.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    #[default]
    Unset,
    Double(f64),
    Str(Box<[u8]>),
    Bool(bool),
}

impl Value {
    /// The value as a number: strings are parsed, bools are 0/1, unset is 0.
    pub fn as_f64(&self) -> f64 {
        match self {
            Value::Unset => 0.0,
            Value::Double(d) => *d,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Str(s) => std::str::from_utf8(s)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0.0),
        }
    }

    /// The value as a condition (`test=`, `condexec=`): SIPp treats a set regexp match or
    /// a true bool as true, a non-zero double as true.
    pub fn as_bool(&self) -> bool {
        match self {
            Value::Unset => false,
            Value::Bool(b) => *b,
            Value::Double(d) => *d != 0.0,
            Value::Str(s) => !s.is_empty(),
        }
    }

    /// Appends the value as SIPp renders `[$var]`.
    pub fn render(&self, out: &mut Vec<u8>) {
        match self {
            Value::Unset => {}
            Value::Double(d) => {
                use std::io::Write;
                let _ = write!(out, "{d:.6}");
            }
            Value::Str(s) => out.extend_from_slice(s),
            Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        }
    }

    /// The value as bytes (strings as they are, numbers rendered).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.render(&mut v);
        v
    }
}

/// A table of variables indexed by `VarId`. Allocated only when the scenario has variables.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    values: Vec<Value>,
}

impl Vars {
    /// A table without variables (no allocation).
    pub const fn empty() -> Vars {
        Vars { values: Vec::new() }
    }

    pub fn new(count: usize) -> Vars {
        Vars {
            values: vec![Value::Unset; count],
        }
    }

    pub fn get(&self, id: VarId) -> &Value {
        static UNSET: Value = Value::Unset;
        self.values.get(id.0 as usize).unwrap_or(&UNSET)
    }

    pub fn set(&mut self, id: VarId, v: Value) {
        if let Some(slot) = self.values.get_mut(id.0 as usize) {
            *slot = v;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}
