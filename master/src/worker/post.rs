//! A worker pod's lines to the master (issue 20, item 3): with `GOSSIPPER_LINES_URL`
//! and `GOSSIPPER_LINES_TOKEN` set (the cluster job's pod template sets them), every
//! stdout line is also posted to `POST {url}?index={JOB_COMPLETION_INDEX}` with the
//! job's token as bearer, in batches (every [`BATCH_EVERY`], and at once for the exit
//! line), so the master merges this pod's state with the others'.
//!
//! Owns: one thread and its queue. A failed post is tried again ([`TRIES`] times, a
//! second apart) and then dropped with a line on stderr: the pod's own stdout keeps
//! every line (its container log). Must not: block the run (the queue is bounded; a
//! full queue drops the line and says so once).

use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::job::kube::{ENV_LINES_TOKEN, ENV_LINES_URL};

/// How long lines gather before they are posted.
const BATCH_EVERY: Duration = Duration::from_millis(250);
/// Tries of one batch.
const TRIES: u32 = 4;
/// Lines waiting at most (a stats and a state line a second: minutes of them).
const QUEUE: usize = 4096;
/// The largest batch posted at once (the master's route takes 8 MiB).
const MAX_BATCH: usize = 4 << 20;

/// The poster of one worker pod.
pub(crate) struct Poster {
    tx: Option<SyncSender<String>>,
    thread: Option<JoinHandle<()>>,
    /// Where the pod's call records go at the end (`None`: the lines URL names no
    /// `worker-lines` route to put `worker-records` next to).
    records_url: Option<String>,
    auth: String,
}

impl Poster {
    /// The poster the environment asks for (`None`: not a pod of a cluster job); an
    /// error names the variable.
    pub(crate) fn from_env(index: Option<&str>) -> Result<Option<Poster>, String> {
        let Ok(url) = std::env::var(ENV_LINES_URL) else {
            return Ok(None);
        };
        let token = std::env::var(ENV_LINES_TOKEN)
            .map_err(|_| format!("${ENV_LINES_URL} needs ${ENV_LINES_TOKEN}"))?;
        let index: u32 = index
            .ok_or_else(|| format!("${ENV_LINES_URL} needs $JOB_COMPLETION_INDEX"))?
            .trim()
            .parse()
            .map_err(|_| "$JOB_COMPLETION_INDEX: expected an index".to_string())?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("${ENV_LINES_URL}: not an http(s) URL"));
        }
        // The master's two routes sit side by side (`/jobs/{id}/worker-lines`, `…-records`).
        let records_url = url
            .strip_suffix("/worker-lines")
            .map(|base| format!("{base}/worker-records?index={index}"));
        let auth = format!("Bearer {token}");
        let url = format!("{url}?index={index}");
        let (tx, rx) = mpsc::sync_channel::<String>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("post-lines".into())
            .spawn(move || post_loop(&url, &token, &rx))
            .map_err(|e| format!("cannot start the line poster: {e}"))?;
        Ok(Some(Poster {
            tx: Some(tx),
            thread: Some(thread),
            records_url,
            auth,
        }))
    }

    /// Posts the call records file at `path` to the master, in pieces of whole lines of
    /// at most [`MAX_BATCH`], and returns once it has (or has given up, saying so on
    /// stderr). Called before the exit line is queued, so the master has every record
    /// when it learns the pod ended.
    pub(crate) fn post_records(&self, path: &std::path::Path) {
        let Some(url) = &self.records_url else {
            eprintln!("worker: the lines URL ends in no /worker-lines; call records not posted");
            return;
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("worker: {}: {e}; call records not posted", path.display());
                return;
            }
        };
        let agent = agent();
        for piece in pieces(&text, MAX_BATCH) {
            if !post(&agent, url, &self.auth, piece) {
                eprintln!("worker: the rest of the call records are in this pod only");
                return;
            }
        }
    }

    /// Queues one line (ending in `\n`).
    pub(crate) fn send(&self, line: &str) {
        if let Some(tx) = &self.tx
            && tx.try_send(line.to_string()).is_err()
        {
            eprintln!("worker: the line poster is behind; a line was not posted");
        }
    }
}

impl Drop for Poster {
    /// Posts what is queued, then ends the thread.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `text` cut after whole lines into pieces of at most `max` bytes (a line longer than
/// that is a piece of its own).
fn pieces(text: &str, max: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = 0;
        for (i, _) in rest.match_indices('\n') {
            if i + 1 > max && end > 0 {
                break;
            }
            end = i + 1;
            if end >= max {
                break;
            }
        }
        if end == 0 {
            end = rest.len();
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn post_loop(url: &str, token: &str, rx: &mpsc::Receiver<String>) {
    let agent = agent();
    let auth = format!("Bearer {token}");
    let mut batch = String::new();
    let mut due: Option<Instant> = None;
    loop {
        let wait = due.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        let (closed, urgent) = match rx.recv_timeout(wait) {
            Ok(line) => {
                let exit = line.contains("\"kind\":\"exit\"");
                batch.push_str(&line);
                due.get_or_insert_with(|| Instant::now() + BATCH_EVERY);
                (false, exit || batch.len() >= MAX_BATCH)
            }
            Err(RecvTimeoutError::Timeout) => (false, true),
            Err(RecvTimeoutError::Disconnected) => (true, true),
        };
        if urgent && !batch.is_empty() {
            if !post(&agent, url, &auth, &batch) {
                eprintln!("worker: those lines are in this log only");
            }
            batch.clear();
            due = None;
        }
        if closed {
            return;
        }
    }
}

/// Posts `body`, trying again after a failure that another try may cure; false when it
/// was not taken (said on stderr).
fn post(agent: &ureq::Agent, url: &str, auth: &str, body: &str) -> bool {
    let mut last = String::new();
    for attempt in 0..TRIES {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        let r = agent
            .post(url)
            .header("Authorization", auth)
            .content_type("application/x-ndjson")
            .send(body.as_bytes());
        match r {
            Ok(r) if r.status().is_success() => return true,
            // The master refused the lines themselves: another try would be refused too.
            Ok(r) if r.status().is_client_error() => {
                eprintln!("worker: posting to {url}: {} from the master", r.status());
                return false;
            }
            Ok(r) => last = r.status().to_string(),
            Err(e) => last = e.to_string(),
        }
    }
    eprintln!("worker: posting to {url} failed {TRIES} times ({last})");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_go_in_pieces_of_whole_lines_no_larger_than_asked() {
        let text = "aaaa\nbb\ncccccc\nd\n";
        let got: Vec<&str> = pieces(text, 8).collect();
        assert_eq!(got, ["aaaa\nbb\n", "cccccc\n", "d\n"]);
        assert_eq!(got.concat(), text, "nothing lost or repeated");
        // A line longer than the limit is a piece of its own; a last line without its
        // newline is kept.
        let got: Vec<&str> = pieces("0123456789\nab", 4).collect();
        assert_eq!(got, ["0123456789\n", "ab"]);
        assert_eq!(pieces("", 4).count(), 0);
    }
}
