//! Replacing a shard's scenario while it runs (`gossipper server`'s `/api/v1/scenario`):
//! new calls start on the new scenario, calls in flight finish on the one they started on.
//!
//! Owns: the retired scenario versions that still carry calls (their scenario, plan and
//! `<Global>` table) and the count of calls on each. Must not: load or check a scenario
//! (the runtime does, with the same loader and file rules as a run) or re-run `<init>`.
//!
//! Each call is tagged with the version it started on (`CallTable` keeps the tag in the
//! slot's padding). A step of a call on the current version costs one comparison more; a
//! step of a call on a retired version also swaps that version's globals in and out (two
//! pointer swaps). A retired version is dropped with its last call.

use std::sync::Arc;

use super::Endpoint;
use super::table::CallHandle;
use crate::call::Run;
use crate::call::plan::Plan;
use crate::call::vars::Vars;
use crate::scenario::{Role, Scenario};

/// A scenario version that still carries calls.
#[derive(Debug)]
pub(super) struct Retired {
    pub(super) version: u32,
    pub(super) run: Run,
    /// Its `<Global>` variables, as its calls left them.
    pub(super) globals: Vars,
    /// Its calls still live.
    pub(super) live: usize,
}

/// Why [`Endpoint::replace_scenario`] refused (a caller's mistake: the runtime checks
/// first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplaceError {
    #[error("the new scenario is a {new:?} scenario, the running one a {running:?} one")]
    RoleChanged { running: Role, new: Role },
}

impl Endpoint {
    /// Runs `scenario` for the calls created from now on; the calls in flight finish on
    /// the scenario they started on. `<init>` is not run again, and `<Global>` variables
    /// keep their values where the new scenario declares one of the same name. The
    /// per-step, response-time and counter tables grow to fit the new scenario (they are
    /// indexed by position).
    pub fn replace_scenario(&mut self, scenario: Arc<Scenario>) -> Result<(), ReplaceError> {
        let running = self.run.scenario.role;
        if scenario.role != running {
            return Err(ReplaceError::RoleChanged {
                running,
                new: scenario.role,
            });
        }
        let mut plan = Plan::new(&scenario);
        // Calls with sockets of their own (`-t un`, `-t ui`) render their own address.
        let own_sockets = self.udp_ports.is_some() || self.source_ips.is_some();
        plan.fold_sends(&scenario, &self.run.env, own_sockets);
        let globals = carry_globals(&self.run.scenario, &self.shard.globals, &scenario);
        self.shard.stats.grow_for(&scenario);
        let old_globals = std::mem::replace(&mut self.shard.globals, globals);
        let env = self.run.env.clone();
        let old = std::mem::replace(
            &mut self.run,
            Run {
                scenario,
                plan,
                env,
            },
        );
        let on_retired: usize = self.retired.iter().map(|r| r.live).sum();
        let on_old = self.calls.len().saturating_sub(on_retired);
        if on_old > 0 {
            self.retired.push(Retired {
                version: self.version,
                run: old,
                globals: old_globals,
                live: on_old,
            });
        }
        self.version = self.version.wrapping_add(1);
        self.calls.set_version(self.version);
        Ok(())
    }

    /// The scenario new calls start on.
    pub fn scenario(&self) -> &Arc<Scenario> {
        &self.run.scenario
    }

    /// How many older scenario versions still carry calls.
    pub fn retired_scenarios(&self) -> usize {
        self.retired.len()
    }

    /// Where version `v`'s run sits: `None` for the current one.
    pub(super) fn retired_index(&self, v: u32) -> Option<usize> {
        if v == self.version {
            return None;
        }
        self.retired.iter().position(|r| r.version == v)
    }

    /// The scenario call `h` runs on.
    pub(super) fn scenario_of(&self, h: CallHandle) -> &Scenario {
        let v = self.calls.version_of(h).unwrap_or(self.version);
        self.scenario_of_version(v)
    }

    pub(super) fn scenario_of_version(&self, v: u32) -> &Scenario {
        match self.retired_index(v) {
            Some(i) => &self.retired[i].run.scenario,
            None => &self.run.scenario,
        }
    }

    /// A call of version `v` ended: its version is dropped with its last call.
    pub(super) fn release_version(&mut self, v: Option<u32>) {
        let Some(i) = v.and_then(|v| self.retired_index(v)) else {
            return;
        };
        let r = &mut self.retired[i];
        r.live = r.live.saturating_sub(1);
        if r.live == 0 {
            self.retired.swap_remove(i);
        }
    }
}

/// The new scenario's `<Global>` table: each takes the value of the running scenario's
/// global of the same name, if any.
fn carry_globals(old: &Scenario, values: &Vars, new: &Scenario) -> Vars {
    let mut out = Vars::new(new.variables.len());
    for &id in &new.globals {
        let Some(name) = new.variables.get(id.0 as usize) else {
            continue;
        };
        let from = old
            .globals
            .iter()
            .find(|g| old.variables.get(g.0 as usize) == Some(name));
        if let Some(&from) = from {
            out.set(id, values.get(from).clone());
        }
    }
    out
}
