//! The loader's working state: collected errors, the variable / rtd / counter tables,
//! and typed attribute getters that record an error (with its position) when a value
//! is missing or malformed.
//!
//! Owns: name → index interning and SIPp's variable reference counts. Must not: walk
//! elements (that is `loader`, `actions`) or build templates (`template`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::LoadOptions;
use super::dom::{Attr, Node, Source};
use super::error::{ScenarioError, ScenarioErrorKind};
use super::limits::{Limit, MAX_REGEX_BYTES, MAX_REGEXES, work};
use super::model::{CounterId, Distribution, RtdId, VarId};
use crate::files::FileError;

/// Errors kept before we stop recording (the report shows the first ~20 in file order).
const ERROR_CAP: usize = 200;

pub(super) struct Ctx<'a> {
    pub(super) src: &'a Source,
    pub(super) file: Arc<str>,
    pub(super) opts: &'a LoadOptions<'a>,
    errors: Vec<(usize, ScenarioError)>,
    vars: Vec<VarEntry>,
    var_index: HashMap<String, VarId>,
    rtds: Names,
    counters: Names,
    pub(super) generic_keywords: Vec<String>,
    pub(super) files_referenced: Vec<String>,
    files_seen: HashSet<String>,
    /// Regular expressions compiled so far, and their total length.
    regexes: (usize, usize),
    /// `[file name=…]`: each name read once, and the bytes read in all.
    pub(super) files_read: HashMap<String, Result<Arc<[u8]>, FileError>>,
    pub(super) file_bytes: usize,
    /// `<scenario webrtc="true">`: media actions and classic media keywords are refused.
    pub(super) webrtc: bool,
}

/// Names interned in order of first use: an index each, found in constant time.
#[derive(Default)]
struct Names {
    list: Vec<String>,
    index: HashMap<String, usize>,
}

impl Names {
    fn intern(&mut self, name: &str) -> usize {
        work::add(1);
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.list.push(name.to_owned());
        self.index.insert(name.to_owned(), self.list.len() - 1);
        self.list.len() - 1
    }
}

struct VarEntry {
    name: String,
    refs: u32,
    first_at: usize,
    /// Declared `<Global>` or `<User>`: set from outside the call, exempt from the count.
    declared: bool,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(src: &'a Source, file: &str, opts: &'a LoadOptions<'a>) -> Ctx<'a> {
        Ctx {
            src,
            file: Arc::from(file),
            opts,
            errors: Vec::new(),
            vars: Vec::new(),
            var_index: HashMap::new(),
            rtds: Names::default(),
            counters: Names::default(),
            generic_keywords: Vec::new(),
            files_referenced: Vec::new(),
            files_seen: HashSet::new(),
            regexes: (0, 0),
            files_read: HashMap::new(),
            file_bytes: 0,
            webrtc: false,
        }
    }

    pub(super) fn error(&mut self, offset: usize, kind: ScenarioErrorKind) {
        if self.errors.len() < ERROR_CAP {
            let pos = self.src.pos(offset);
            self.errors.push((
                offset,
                ScenarioError {
                    file: self.file.clone(),
                    pos,
                    kind,
                },
            ));
        }
    }

    /// Counts one regular expression about to be compiled; `false` (and an error at `at`,
    /// the first time) once the scenario has more than the limits allow.
    pub(super) fn regex_allowed(&mut self, pattern: &str, at: usize) -> bool {
        let (count, bytes) = self.regexes;
        let was_ok = count <= MAX_REGEXES && bytes <= MAX_REGEX_BYTES;
        self.regexes = (count + 1, bytes.saturating_add(pattern.len()));
        let limit = if self.regexes.0 > MAX_REGEXES {
            Limit::Regexes
        } else if self.regexes.1 > MAX_REGEX_BYTES {
            Limit::RegexBytes
        } else {
            return true;
        };
        if was_ok {
            self.error(at, ScenarioErrorKind::Limit(limit));
        }
        false
    }

    pub(super) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The errors in file order, at most `max`.
    pub(super) fn take_errors(&mut self, max: usize) -> Vec<ScenarioError> {
        let mut errors = std::mem::take(&mut self.errors);
        errors.sort_by_key(|(offset, _)| *offset);
        errors.into_iter().take(max).map(|(_, e)| e).collect()
    }

    /// Interns a variable name and counts one reference to it.
    pub(super) fn var(&mut self, name: &str, at: usize) -> Option<VarId> {
        let name = name.trim();
        if name.is_empty() {
            self.error(at, ScenarioErrorKind::Invalid("empty variable name".into()));
            return None;
        }
        if let Some(&id) = self.var_index.get(name) {
            if let Some(entry) = self.vars.get_mut(usize::from(id.0)) {
                entry.refs = entry.refs.saturating_add(1);
            }
            return Some(id);
        }
        let Ok(raw) = u16::try_from(self.vars.len()) else {
            self.error(
                at,
                ScenarioErrorKind::Invalid("more than 65535 variables".into()),
            );
            return None;
        };
        let id = VarId(raw);
        self.vars.push(VarEntry {
            name: name.to_owned(),
            refs: 1,
            first_at: at,
            declared: false,
        });
        self.var_index.insert(name.to_owned(), id);
        Some(id)
    }

    /// `<Global>` / `<User>`: the variable exists and is exempt from the reference count.
    pub(super) fn declare_var(&mut self, name: &str, at: usize) -> Option<VarId> {
        let id = self.var(name, at)?;
        if let Some(entry) = self.vars.get_mut(usize::from(id.0)) {
            entry.refs = entry.refs.saturating_sub(1);
            entry.declared = true;
        }
        Some(id)
    }

    /// SIPp refuses a variable referenced fewer than twice (a typo, usually); `$_` and
    /// the `_unexp.*` variables SIPp sets itself are exempt.
    pub(super) fn check_var_refs(&mut self) {
        let once: Vec<(usize, String, u32)> = self
            .vars
            .iter()
            .filter(|v| {
                v.refs < 2 && !v.declared && v.name != "_" && !v.name.starts_with("_unexp.")
            })
            .map(|v| (v.first_at, v.name.clone(), v.refs))
            .collect();
        for (at, name, refs) in once {
            self.error(at, ScenarioErrorKind::VariableUsedOnce(name, refs));
        }
    }

    pub(super) fn variable_names(&self) -> Vec<String> {
        self.vars.iter().map(|v| v.name.clone()).collect()
    }

    /// `rtd="true"` is timer "1", as in SIPp; `"false"` is none.
    pub(super) fn rtds(&mut self, value: &str, at: usize) -> Vec<RtdId> {
        let mut out = Vec::new();
        for name in value.split(',').map(str::trim) {
            let name = match name {
                "false" | "" => continue,
                "true" => "1",
                other => other,
            };
            let idx = self.rtds.intern(name);
            match u16::try_from(idx) {
                Ok(i) => out.push(RtdId(i)),
                Err(_) => self.error(at, ScenarioErrorKind::Invalid("too many rtd timers".into())),
            }
        }
        out
    }

    pub(super) fn rtd_names(&self) -> Vec<String> {
        self.rtds.list.clone()
    }

    pub(super) fn counter(&mut self, name: &str, at: usize) -> Option<CounterId> {
        let idx = self.counters.intern(name);
        match u16::try_from(idx) {
            Ok(i) => Some(CounterId(i)),
            Err(_) => {
                self.error(at, ScenarioErrorKind::Invalid("too many counters".into()));
                None
            }
        }
    }

    pub(super) fn counter_names(&self) -> Vec<String> {
        self.counters.list.clone()
    }

    pub(super) fn add_generic_keyword(&mut self, name: &str) {
        if !self.generic_keywords.iter().any(|k| k == name) {
            self.generic_keywords.push(name.to_owned());
        }
    }

    pub(super) fn add_file(&mut self, name: &str) {
        work::add(1);
        if self.files_seen.insert(name.to_owned()) {
            self.files_referenced.push(name.to_owned());
        }
    }

    // ---- attribute getters: `None` means absent or invalid (the error is recorded) ----

    pub(super) fn invalid(&mut self, node: &Node, attr: &Attr, reason: &str) {
        self.error(
            attr.pos,
            ScenarioErrorKind::InvalidAttribute {
                element: node.name.clone(),
                attribute: attr.name.clone(),
                value: attr.value.clone(),
                reason: reason.to_owned(),
            },
        );
    }

    pub(super) fn required<'n>(
        &mut self,
        node: &'n Node,
        element: &'static str,
        name: &'static str,
    ) -> Option<&'n Attr> {
        let found = node.attr(name);
        if found.is_none() {
            self.error(
                node.pos,
                ScenarioErrorKind::MissingAttribute {
                    element,
                    attribute: name,
                },
            );
        }
        found
    }

    pub(super) fn bool_attr(&mut self, node: &Node, name: &str) -> Option<bool> {
        let attr = node.attr(name)?;
        match parse_bool(&attr.value) {
            Some(b) => Some(b),
            None => {
                self.invalid(node, attr, "expected true or false");
                None
            }
        }
    }

    pub(super) fn flag(&mut self, node: &Node, name: &str) -> bool {
        self.bool_attr(node, name).unwrap_or(false)
    }

    pub(super) fn u64_attr(&mut self, node: &Node, name: &str) -> Option<u64> {
        let attr = node.attr(name)?;
        match parse_u64(&attr.value) {
            Some(v) => Some(v),
            None => {
                self.invalid(node, attr, "expected a non-negative integer");
                None
            }
        }
    }

    pub(super) fn f64_attr(&mut self, node: &Node, name: &str) -> Option<f64> {
        let attr = node.attr(name)?;
        match attr.value.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                self.invalid(node, attr, "expected a number");
                None
            }
        }
    }

    pub(super) fn req_f64(
        &mut self,
        node: &Node,
        element: &'static str,
        name: &'static str,
    ) -> Option<f64> {
        self.required(node, element, name)?;
        self.f64_attr(node, name)
    }

    /// `name="var"`: a variable reference.
    pub(super) fn var_attr(&mut self, node: &Node, name: &str) -> Option<VarId> {
        let attr = node.attr(name)?;
        self.var(&attr.value, attr.pos)
    }

    pub(super) fn req_var(
        &mut self,
        node: &Node,
        element: &'static str,
        name: &'static str,
    ) -> Option<VarId> {
        let attr = self.required(node, element, name)?;
        self.var(&attr.value, attr.pos)
    }

    /// `assign_to="a,b,c"`.
    pub(super) fn var_list(&mut self, attr: &Attr) -> Vec<VarId> {
        let mut out = Vec::new();
        let mut at = attr.pos;
        for name in attr.value.split(',') {
            if let Some(id) = self.var(name, at) {
                out.push(id);
            }
            at += name.len() + 1;
        }
        out
    }

    /// SIPp's distribution attributes (`distribution="normal" mean=… stdev=…`).
    pub(super) fn distribution(
        &mut self,
        node: &Node,
        element: &'static str,
    ) -> Option<Distribution> {
        let attr = self.required(node, element, "distribution")?;
        let d = match attr.value.as_str() {
            "fixed" => Distribution::Fixed(self.req_f64(node, element, "value")?),
            "uniform" => Distribution::Uniform {
                min: self.req_f64(node, element, "min")?,
                max: self.req_f64(node, element, "max")?,
            },
            "normal" => Distribution::Normal {
                mean: self.req_f64(node, element, "mean")?,
                stdev: self.req_f64(node, element, "stdev")?,
            },
            "lognormal" => Distribution::LogNormal {
                mean: self.req_f64(node, element, "mean")?,
                stdev: self.req_f64(node, element, "stdev")?,
            },
            "exponential" => Distribution::Exponential {
                mean: self.req_f64(node, element, "mean")?,
            },
            "weibull" => Distribution::Weibull {
                lambda: self.req_f64(node, element, "lambda")?,
                k: self.req_f64(node, element, "k")?,
            },
            "pareto" => Distribution::Pareto {
                k: self.req_f64(node, element, "k")?,
                xm: self.req_f64(node, element, "x_m")?,
            },
            "gpareto" => Distribution::GPareto {
                shape: self.req_f64(node, element, "shape")?,
                scale: self.req_f64(node, element, "scale")?,
                location: self.req_f64(node, element, "location")?,
            },
            "gamma" => Distribution::Gamma {
                k: self.req_f64(node, element, "k")?,
                theta: self.req_f64(node, element, "theta")?,
            },
            "negbin" => Distribution::NegBin {
                p: self.req_f64(node, element, "p")?,
                n: self.req_f64(node, element, "n")?,
            },
            _ => {
                self.invalid(
                    node,
                    attr,
                    "unknown distribution (fixed, uniform, normal, lognormal, exponential, weibull, pareto, gpareto, gamma, negbin)",
                );
                return None;
            }
        };
        Some(d)
    }
}

pub(super) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

pub(super) fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
