//! `GET /jobs/{id}/events`: the worker's JSON lines (`stats.jsonl`) as they are written,
//! over a WebSocket (one text frame per line) or, without an upgrade, as a chunked
//! `application/x-ndjson` stream for curl users.
//!
//! Owns: where a feed starts and when it ends. Query: `since=<byte offset>` (a cut line
//! is skipped to the next whole one), `tail=N` (only the last N lines so far),
//! `follow=false` (read what exists, then end), `idle_ms=` (HTTP only, default 5000: end
//! after this long without a line). A running job's feed replays the file up to the
//! offset its hub subscription was given, then follows the hub; it ends when the job
//! ends. Must not: write files.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use tungstenite::Message;
use tungstenite::protocol::{Role, WebSocket};

use super::{ApiError, Call, Ctx, Reply};
use crate::job::files;
use crate::service::paths::check_name;
use crate::service::store::jobs;

/// Longest replayed line; longer ones are cut.
const MAX_LINE: u64 = 1 << 20;

/// A feed of lines: the replayed part of the file, then live lines.
pub(super) struct Feed {
    replay: ReplaySource,
    live: Option<Receiver<Arc<str>>>,
    idle: Duration,
}

enum ReplaySource {
    /// Lines read lazily from `[pos, end)` of the file.
    File { reader: BufReader<File>, left: u64 },
    /// A precomputed tail.
    Lines(VecDeque<String>),
}

impl ReplaySource {
    fn next_line(&mut self) -> Option<String> {
        match self {
            ReplaySource::Lines(q) => q.pop_front(),
            ReplaySource::File { reader, left } => loop {
                if *left == 0 {
                    return None;
                }
                let mut buf = Vec::new();
                let n = reader
                    .by_ref()
                    .take((*left).min(MAX_LINE))
                    .read_until(b'\n', &mut buf)
                    .ok()?;
                if n == 0 {
                    return None;
                }
                *left = left.saturating_sub(n as u64);
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                if !line.is_empty() {
                    return Some(line);
                }
            },
        }
    }
}

impl Iterator for Feed {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if let Some(l) = self.replay.next_line() {
            return Some(l);
        }
        let live = self.live.as_ref()?;
        match live.recv_timeout(self.idle) {
            Ok(l) => Some(l.to_string()),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                self.live = None;
                None
            }
        }
    }
}

/// Where the replay starts: `since`, moved forward to a line start.
fn line_start(file: &mut File, since: u64, end: u64) -> u64 {
    if since == 0 || since >= end {
        return since.min(end);
    }
    let mut b = [0u8; 1];
    if file.seek(SeekFrom::Start(since - 1)).is_ok()
        && file.read_exact(&mut b).is_ok()
        && b[0] == b'\n'
    {
        return since;
    }
    let mut reader = BufReader::new(&mut *file);
    if reader.seek(SeekFrom::Start(since)).is_err() {
        return end;
    }
    let mut skipped = Vec::new();
    match reader.take(end - since).read_until(b'\n', &mut skipped) {
        Ok(n) => since + n as u64,
        Err(_) => end,
    }
}

/// Builds the replay of `[since, end)` of `path`, or its last `tail` lines.
fn replay(
    path: &Path,
    since: u64,
    end: Option<u64>,
    tail: Option<usize>,
) -> std::io::Result<ReplaySource> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let end = end.unwrap_or(len).min(len);
    if let Some(n) = tail {
        let mut q = VecDeque::with_capacity(n.min(4096));
        file.seek(SeekFrom::Start(0))?;
        let mut src = ReplaySource::File {
            reader: BufReader::new(file),
            left: end,
        };
        while let Some(l) = src.next_line() {
            if q.len() == n {
                q.pop_front();
            }
            if n > 0 {
                q.push_back(l);
            }
        }
        return Ok(ReplaySource::Lines(q));
    }
    let start = line_start(&mut file, since, end);
    file.seek(SeekFrom::Start(start))?;
    Ok(ReplaySource::File {
        reader: BufReader::new(file),
        left: end - start,
    })
}

fn parse_bool(call: &Call<'_, '_>, name: &str, default: bool) -> Result<bool, ApiError> {
    match call.query(name).as_deref() {
        None | Some("") => Ok(default),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(v) => Err(ApiError::field(
            name,
            format!("\"{v}\" is not true or false"),
        )),
    }
}

const ABSENT: &str = r#"{"event":"absent","note":"stats.jsonl not produced yet"}"#;

pub(super) fn events(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    check_name(&id).map_err(|e| ApiError::field("id", e))?;
    let since = u64::from(call.query_u32("since", 0, u32::MAX)?);
    let tail = match call.query("tail") {
        Some(_) => Some(call.query_u32("tail", 0, 100_000)? as usize),
        None => None,
    };
    let follow = parse_bool(call, "follow", true)?;
    let idle_ms = call.query_u32("idle_ms", 5000, 3_600_000)?;
    let accept = call.websocket_accept()?;
    if ctx.store.db.read(|c| jobs::by_id(c, &id))?.is_none() {
        return Err(ApiError::NotFound(format!("job \"{id}\" not found")));
    }
    let path = ctx.supervisor.artifacts_dir(&id)?.join(files::STATS);
    // Subscribe before reading the file, so no line falls between the two.
    let sub = if follow {
        ctx.supervisor.subscribe(&id)
    } else {
        None
    };
    let end = sub.as_ref().map(|s| s.offset);
    let feed = match replay(&path, since, end, tail) {
        Ok(replay) => Feed {
            replay,
            live: sub.map(|s| s.lines),
            // A WebSocket stays open for as long as the job runs.
            idle: if accept.is_some() {
                Duration::from_secs(24 * 3600)
            } else {
                Duration::from_millis(u64::from(idle_ms.max(1)))
            },
        },
        Err(_) => Feed {
            replay: ReplaySource::Lines(VecDeque::from([ABSENT.to_string()])),
            live: None,
            idle: Duration::ZERO,
        },
    };
    match accept {
        Some(accept) => Ok(Reply::WebSocket {
            accept,
            session: Box::new(move |stream| {
                let mut ws = WebSocket::from_raw_socket(stream, Role::Server, None);
                for line in feed {
                    if ws.send(Message::text(line)).is_err() {
                        return;
                    }
                }
                let _ = ws.close(None);
                let _ = ws.flush();
            }),
        }),
        None => Ok(Reply::Stream {
            content_type: "application/x-ndjson",
            chunks: Box::new(feed.map(|mut l| {
                l.push('\n');
                l.into_bytes()
            })),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &str) -> std::path::PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "gossipper-events-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::write(&p, content).unwrap();
        p
    }

    fn lines(mut src: ReplaySource) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(l) = src.next_line() {
            v.push(l);
        }
        v
    }

    #[test]
    fn replay_starts_at_a_line_boundary_and_stops_at_the_offset() {
        let p = file("a\nbb\nccc\n");
        assert_eq!(
            lines(replay(&p, 0, None, None).unwrap()),
            ["a", "bb", "ccc"]
        );
        assert_eq!(lines(replay(&p, 2, None, None).unwrap()), ["bb", "ccc"]);
        assert_eq!(
            lines(replay(&p, 3, None, None).unwrap()),
            ["ccc"],
            "mid-line: next whole line"
        );
        assert_eq!(lines(replay(&p, 0, Some(5), None).unwrap()), ["a", "bb"]);
        assert!(lines(replay(&p, 99, None, None).unwrap()).is_empty());
        assert_eq!(lines(replay(&p, 0, None, Some(2)).unwrap()), ["bb", "ccc"]);
        assert!(lines(replay(&p, 0, None, Some(0)).unwrap()).is_empty());
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn a_feed_follows_live_lines_until_the_hub_closes() {
        let p = file("a\n");
        let hub = crate::service::supervisor::hub::Hub::new(None, 2);
        let sub = hub.subscribe().unwrap();
        let feed = Feed {
            replay: replay(&p, 0, Some(sub.offset), None).unwrap(),
            live: Some(sub.lines),
            idle: Duration::from_secs(5),
        };
        hub.publish("b");
        hub.close();
        assert_eq!(feed.collect::<Vec<_>>(), ["a", "b"]);
        std::fs::remove_file(&p).unwrap();
    }
}
