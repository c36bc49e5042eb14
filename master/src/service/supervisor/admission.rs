//! Which jobs hold a place: admitted and starting, or running with a worker.
//!
//! Owns: the cap on jobs that run at once, overall (`gossipper ui --max-running-jobs`) and
//! per user (`--max-running-jobs-per-user`, off at 0), and the table of starting and
//! running jobs. A job is admitted *before* its row is created, so a refused start leaves
//! nothing behind; it holds its place until its final state is written (the supervisor
//! writes that row and frees the place under this table's lock, so whoever has seen the
//! final state may start again at once). Must not: fork, signal or touch the database.

use std::collections::HashMap;
use std::sync::Arc;

/// Default cap on jobs running at once. Each worker runs one engine shard per CPU, so a
/// few jobs already share the machine's cores; 8 leaves room for a server, clients and
/// tools side by side.
pub(crate) const DEFAULT_MAX_RUNNING: usize = 8;

/// The caps. `max_per_user` 0 means no per-user cap beyond `max_running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JobLimits {
    pub(crate) max_running: usize,
    pub(crate) max_per_user: usize,
}

impl Default for JobLimits {
    fn default() -> JobLimits {
        JobLimits {
            max_running: DEFAULT_MAX_RUNNING,
            max_per_user: 0,
        }
    }
}

/// Why a job was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error(
        "{running} jobs are running, the most this master runs at once (gossipper ui --max-running-jobs {max}); stop one or wait for one to finish"
    )]
    Full { running: usize, max: usize },
    #[error(
        "user \"{user}\" has {running} jobs running, the most one user may run at once (gossipper ui --max-running-jobs-per-user {max}); stop one or wait for one to finish"
    )]
    UserFull {
        user: String,
        running: usize,
        max: usize,
    },
    #[error("job \"{0}\" is already starting or running")]
    Duplicate(String),
    /// The master is stopping its jobs to end (SIGTERM or SIGINT).
    #[error("this master is shutting down and starts no new job")]
    ShuttingDown,
}

/// The starting and running jobs (`J` is the running job's handle).
pub(crate) struct Places<J> {
    limits: JobLimits,
    /// Admitted, row created or being created, worker not forked yet: id → user.
    starting: HashMap<String, String>,
    /// Forked and not yet settled: id → (user, handle).
    running: HashMap<String, (String, Arc<J>)>,
    /// Set once when the master ends: no place is given any more.
    closed: bool,
}

impl<J> Places<J> {
    pub(crate) fn new(limits: JobLimits) -> Places<J> {
        Places {
            limits,
            starting: HashMap::new(),
            running: HashMap::new(),
            closed: false,
        }
    }

    /// From now on every admission is refused ([`Refusal::ShuttingDown`]); jobs that
    /// hold a place keep it until they are released.
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Jobs starting or running.
    pub(crate) fn occupied(&self) -> usize {
        self.starting.len() + self.running.len()
    }

    /// Gives job `id` of `user` a place, or says why not.
    pub(crate) fn admit(&mut self, id: &str, user: &str) -> Result<(), Refusal> {
        if self.closed {
            return Err(Refusal::ShuttingDown);
        }
        if self.starting.contains_key(id) || self.running.contains_key(id) {
            return Err(Refusal::Duplicate(id.to_string()));
        }
        let total = self.starting.len() + self.running.len();
        if total >= self.limits.max_running {
            return Err(Refusal::Full {
                running: total,
                max: self.limits.max_running,
            });
        }
        if self.limits.max_per_user > 0 {
            let mine = self.starting.values().filter(|u| *u == user).count()
                + self.running.values().filter(|(u, _)| u == user).count();
            if mine >= self.limits.max_per_user {
                return Err(Refusal::UserFull {
                    user: user.to_string(),
                    running: mine,
                    max: self.limits.max_per_user,
                });
            }
        }
        self.starting.insert(id.to_string(), user.to_string());
        Ok(())
    }

    /// A starting job's worker was forked: it keeps its place as a running job.
    pub(crate) fn launch(&mut self, id: &str, job: Arc<J>) {
        let user = self.starting.remove(id).unwrap_or_default();
        self.running.insert(id.to_string(), (user, job));
    }

    /// Frees the place of a job, starting or running.
    pub(crate) fn release(&mut self, id: &str) {
        self.starting.remove(id);
        self.running.remove(id);
    }

    /// The ids of the jobs admitted whose workers are not forked yet.
    pub(crate) fn starting_ids(&self) -> Vec<String> {
        self.starting.keys().cloned().collect()
    }

    pub(crate) fn is_starting(&self, id: &str) -> bool {
        self.starting.contains_key(id)
    }

    pub(crate) fn running(&self, id: &str) -> Option<Arc<J>> {
        self.running.get(id).map(|(_, j)| Arc::clone(j))
    }

    /// Every running job's handle, by id.
    pub(crate) fn running_jobs(&self) -> HashMap<String, Arc<J>> {
        self.running
            .iter()
            .map(|(id, (_, j))| (id.clone(), Arc::clone(j)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places(max_running: usize, max_per_user: usize) -> Places<()> {
        Places::new(JobLimits {
            max_running,
            max_per_user,
        })
    }

    #[test]
    fn starting_and_running_jobs_both_count_against_the_cap_until_released() {
        let mut p = places(2, 0);
        p.admit("a", "alice").unwrap();
        p.admit("b", "alice").unwrap();
        assert_eq!(
            p.admit("c", "bob"),
            Err(Refusal::Full { running: 2, max: 2 })
        );
        p.launch("a", Arc::new(()));
        assert!(p.admit("c", "bob").is_err(), "a running job still counts");
        assert_eq!(p.running_jobs().len(), 1);
        p.release("b");
        p.admit("c", "bob").unwrap();
        p.release("a");
        assert!(p.running("a").is_none());
        p.admit("d", "bob").unwrap();
    }

    #[test]
    fn the_per_user_cap_counts_only_that_users_jobs() {
        let mut p = places(10, 2);
        p.admit("a1", "alice").unwrap();
        p.admit("a2", "alice").unwrap();
        p.launch("a1", Arc::new(()));
        assert!(matches!(
            p.admit("a3", "alice"),
            Err(Refusal::UserFull { running: 2, .. })
        ));
        p.admit("b1", "bob").unwrap();
        p.release("a2");
        p.admit("a3", "alice").unwrap();
    }

    #[test]
    fn one_id_holds_one_place() {
        let mut p = places(10, 0);
        p.admit("a", "alice").unwrap();
        assert_eq!(p.admit("a", "bob"), Err(Refusal::Duplicate("a".into())));
        p.launch("a", Arc::new(()));
        assert_eq!(p.admit("a", "bob"), Err(Refusal::Duplicate("a".into())));
        assert!(p.is_starting("a") || p.running("a").is_some());
    }
}
