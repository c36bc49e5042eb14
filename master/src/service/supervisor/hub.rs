//! One running job's line hub: every worker stdout line is appended to `stats.jsonl`
//! and offered to live subscribers, under one lock, so a subscriber that replays the
//! file up to the offset it was given and then reads its queue sees every line exactly
//! once.
//!
//! Owns: the subscribers' bounded queues. A subscriber whose queue is full is dropped
//! (its receiver then reports "disconnected" while the job still runs); the reader thread
//! never blocks on a slow client. Must not: parse lines (the reader does).

use std::fs::File;
use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};

/// Lines a subscriber may fall behind before it is dropped.
pub(crate) const QUEUE: usize = 256;

struct Inner {
    file: Option<File>,
    offset: u64,
    subscribers: Vec<SyncSender<Arc<str>>>,
    closed: bool,
    write_failed: bool,
}

/// See the module doc.
pub(crate) struct Hub {
    inner: Mutex<Inner>,
}

/// A live subscription: replay the file up to `offset`, then read `lines`.
pub(crate) struct Subscription {
    pub(crate) offset: u64,
    pub(crate) lines: Receiver<Arc<str>>,
}

impl Hub {
    /// A hub writing to `file` (already positioned at its end, `offset` bytes long).
    pub(crate) fn new(file: Option<File>, offset: u64) -> Hub {
        Hub {
            inner: Mutex::new(Inner {
                file,
                offset,
                subscribers: Vec::new(),
                closed: false,
                write_failed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every field stays consistent between statements; a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one line (without its `\n`) to the file and offers it to subscribers.
    pub(crate) fn publish(&self, line: &str) {
        let mut g = self.lock();
        if let Some(f) = g.file.as_mut() {
            let ok = f
                .write_all(line.as_bytes())
                .and_then(|()| f.write_all(b"\n"));
            match ok {
                Ok(()) => g.offset += line.len() as u64 + 1,
                Err(e) => {
                    if !g.write_failed {
                        eprintln!("gossipper ui: writing stats.jsonl: {e}");
                    }
                    g.write_failed = true;
                }
            }
        }
        if g.subscribers.is_empty() {
            return;
        }
        let shared: Arc<str> = Arc::from(line);
        g.subscribers
            .retain(|s| match s.try_send(Arc::clone(&shared)) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
            });
    }

    /// Subscribes; `None` once the job has ended (read the file instead).
    pub(crate) fn subscribe(&self) -> Option<Subscription> {
        let mut g = self.lock();
        if g.closed {
            return None;
        }
        let (tx, rx) = sync_channel(QUEUE);
        g.subscribers.push(tx);
        Some(Subscription {
            offset: g.offset,
            lines: rx,
        })
    }

    /// The job ended: subscribers see the end of their queue.
    pub(crate) fn close(&self) {
        let mut g = self.lock();
        g.closed = true;
        g.subscribers.clear();
        if let Some(f) = g.file.as_mut() {
            let _ = f.flush();
        }
    }

    #[cfg(test)]
    pub(crate) fn subscribers(&self) -> usize {
        self.lock().subscribers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::TryRecvError;

    #[test]
    fn a_subscriber_gets_lines_after_its_offset_and_the_end() {
        let hub = Hub::new(None, 0);
        hub.publish("a");
        let sub = hub.subscribe().unwrap();
        assert_eq!(sub.offset, 0, "no file: the offset does not move");
        hub.publish("b");
        hub.close();
        assert_eq!(&*sub.lines.recv().unwrap(), "b");
        assert!(sub.lines.recv().is_err(), "closed");
        assert!(hub.subscribe().is_none());
    }

    #[test]
    fn the_file_gets_every_line_and_offsets_follow_it() {
        let path = std::env::temp_dir().join(format!("gossipper-hub-{}", std::process::id()));
        let hub = Hub::new(Some(File::create(&path).unwrap()), 0);
        hub.publish("{\"kind\":\"started\"}");
        let sub = hub.subscribe().unwrap();
        assert_eq!(sub.offset, 19);
        hub.publish("x");
        hub.close();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"kind\":\"started\"}\nx\n"
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_slow_subscriber_is_dropped_and_never_blocks_the_publisher() {
        let hub = Hub::new(None, 0);
        let slow = hub.subscribe().unwrap();
        let fast = hub.subscribe().unwrap();
        for i in 0..QUEUE + 10 {
            hub.publish(&i.to_string());
            while fast.lines.try_recv().is_ok() {}
        }
        assert_eq!(hub.subscribers(), 1, "the slow one was dropped");
        let mut got = 0;
        loop {
            match slow.lines.try_recv() {
                Ok(_) => got += 1,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => panic!("a dropped queue reports disconnected"),
            }
        }
        assert_eq!(got, QUEUE);
    }
}
