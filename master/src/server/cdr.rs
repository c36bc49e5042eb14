//! The calls catalogue on disk: with `-ui_data_dir`, every finished call of the server
//! is a row of `DIR/calls.sqlite` (reference §5.2), so `/api/v2/calls` pages through
//! more than the in-memory catalogue holds and survives a restart.
//!
//! Owns: the file, its schema, a writer thread and the bounded queue that feeds it, and
//! the paged reads. The runner's tick thread hands each tick's rows over with one
//! non-blocking `try_send` (never waits on the disk); the writer inserts everything
//! queued in one transaction. A queue full of [`QUEUE_BATCHES`] unwritten ticks drops
//! the newest batch and counts its rows (`dropped`); [`Cdr::close`] writes every batch
//! still queued before it returns, so a clean stop loses nothing. Rows past [`KEEP_ROWS`]
//! are deleted, oldest first. Must not: be written from a shard, or block the tick.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::calls::CallSummary;

/// The file's name in the data dir.
pub(super) const FILE: &str = "calls.sqlite";
/// Ticks of rows that may wait for the writer (a tick is 50 ms: 64 is 3.2 s of backlog).
const QUEUE_BATCHES: usize = 64;
/// Rows kept; older ones are deleted as new ones come.
pub(super) const KEEP_ROWS: i64 = 1_000_000;
/// The most rows one page returns.
pub(super) const MAX_PAGE: u32 = 1000;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS calls (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id        TEXT NOT NULL,
    scenario       TEXT NOT NULL,
    from_hdr       TEXT NOT NULL,
    to_hdr         TEXT NOT NULL,
    peer           TEXT NOT NULL,
    direction      TEXT NOT NULL,
    state          TEXT NOT NULL,
    result         TEXT NOT NULL,
    error          TEXT NOT NULL,
    started_at     TEXT NOT NULL,
    ended_at       TEXT NOT NULL,
    duration_ms    INTEGER NOT NULL,
    sip_count      INTEGER NOT NULL,
    sip_send       INTEGER NOT NULL,
    sip_recv       INTEGER NOT NULL,
    debug_count    INTEGER NOT NULL,
    rtp_count      INTEGER NOT NULL,
    rtp_send       INTEGER NOT NULL,
    rtp_recv       INTEGER NOT NULL,
    rtp_bytes_send INTEGER NOT NULL,
    rtp_bytes_recv INTEGER NOT NULL,
    rtp_dest       TEXT NOT NULL,
    rtp_src        TEXT NOT NULL,
    payload_type   INTEGER,
    codec          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_call_id ON calls (call_id);";

const COLUMNS: &str = "call_id, scenario, from_hdr, to_hdr, peer, direction, state, result, \
    error, started_at, ended_at, duration_ms, sip_count, sip_send, sip_recv, debug_count, \
    rtp_count, rtp_send, rtp_recv, rtp_bytes_send, rtp_bytes_recv, rtp_dest, rtp_src, \
    payload_type, codec";

/// What the writer is told.
enum Work {
    Rows(Vec<CallSummary>),
    Clear,
}

/// The catalogue file: a writer thread fed through a bounded queue, and one read
/// connection for the API.
pub(super) struct Cdr {
    tx: Mutex<Option<SyncSender<Work>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    reader: Mutex<Connection>,
    dropped: AtomicU64,
}

/// One page of rows, newest first.
pub(super) struct Page {
    pub(super) calls: Vec<CallSummary>,
    pub(super) total: u64,
}

impl Cdr {
    /// Opens (creating when missing) `dir/calls.sqlite` and starts its writer.
    pub(super) fn open(dir: &Path) -> Result<Cdr, String> {
        let path = dir.join(FILE);
        let fail = |e: rusqlite::Error| format!("{}: {e}", path.display());
        let conn = Connection::open(&path).map_err(fail)?;
        let _mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(fail)?;
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;")
            .map_err(fail)?;
        conn.execute_batch(SCHEMA).map_err(fail)?;
        let reader = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(fail)?;
        reader
            .execute_batch("PRAGMA busy_timeout=5000;")
            .map_err(fail)?;
        let (tx, rx) = sync_channel(QUEUE_BATCHES);
        let shown = path.display().to_string();
        let writer = std::thread::Builder::new()
            .name("calls-sqlite".into())
            .spawn(move || write_loop(conn, rx, &shown))
            .map_err(|e| format!("cannot start the calls.sqlite writer: {e}"))?;
        Ok(Cdr {
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            reader: Mutex::new(reader),
            dropped: AtomicU64::new(0),
        })
    }

    /// Rows dropped because the writer fell behind.
    pub(super) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queues one tick's rows (never waits: a full queue drops them, counted).
    pub(super) fn push(&self, rows: Vec<CallSummary>) {
        if rows.is_empty() {
            return;
        }
        let n = rows.len() as u64;
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = tx.as_ref() else {
            self.dropped.fetch_add(n, Ordering::Relaxed);
            return;
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            tx.try_send(Work::Rows(rows))
        {
            self.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Deletes every row (after the rows queued before it are written).
    pub(super) fn clear(&self) {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = tx.as_ref() {
            // Waits for room: a clear is an operator's request, not the tick.
            let _ = tx.send(Work::Clear);
        }
    }

    /// Writes what is queued and stops the writer (the server is ending).
    pub(super) fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = writer {
            let _ = w.join();
        }
    }

    /// Rows `offset..offset+limit`, newest first, and how many there are.
    pub(super) fn page(&self, limit: u32, offset: u64) -> Result<Page, String> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let read = || -> rusqlite::Result<Page> {
            let total: i64 = conn.query_row("SELECT COUNT(*) FROM calls", [], |r| r.get(0))?;
            let mut st = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM calls ORDER BY id DESC LIMIT ?1 OFFSET ?2"
            ))?;
            let calls = st
                .query_map(
                    params![i64::from(limit), i64::try_from(offset).unwrap_or(i64::MAX)],
                    row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page {
                calls,
                total: u64::try_from(total).unwrap_or(0),
            })
        };
        read().map_err(|e| format!("{FILE}: {e}"))
    }

    /// The newest row with this Call-ID.
    pub(super) fn get(&self, call_id: &str) -> Result<Option<CallSummary>, String> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        let read = || -> rusqlite::Result<Option<CallSummary>> {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM calls WHERE call_id = ?1 ORDER BY id DESC LIMIT 1"
            ))?;
            st.query_row([call_id], row).optional()
        };
        read().map_err(|e| format!("{FILE}: {e}"))
    }
}

impl Drop for Cdr {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer thread: everything queued in one transaction, until the queue closes.
fn write_loop(mut conn: Connection, rx: Receiver<Work>, path: &str) {
    let mut said = false;
    while let Ok(first) = rx.recv() {
        let mut work = vec![first];
        work.extend(rx.try_iter());
        if let Err(e) = write(&mut conn, work)
            && !said
        {
            // Once: a full disk would otherwise print a line per tick.
            eprintln!("gossipper server: {path}: cannot write call rows: {e}");
            said = true;
        }
    }
}

fn write(conn: &mut Connection, work: Vec<Work>) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(&format!(
            "INSERT INTO calls ({COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
              ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)"
        ))?;
        for w in work {
            match w {
                Work::Clear => {
                    tx.execute("DELETE FROM calls", [])?;
                }
                Work::Rows(rows) => {
                    for c in rows {
                        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                        insert.execute(params![
                            c.call_id,
                            c.scenario,
                            c.from,
                            c.to,
                            c.peer,
                            c.direction,
                            c.state,
                            c.result,
                            c.error,
                            c.started_at,
                            c.ended_at,
                            n(c.duration_ms),
                            n(c.sip_count),
                            n(c.sip_send),
                            n(c.sip_recv),
                            n(c.debug_count),
                            n(c.rtp_count),
                            n(c.rtp_send),
                            n(c.rtp_recv),
                            n(c.rtp_bytes_send),
                            n(c.rtp_bytes_recv),
                            c.rtp_dest,
                            c.rtp_src,
                            c.payload_type,
                            c.codec,
                        ])?;
                    }
                }
            }
        }
    }
    tx.execute(
        "DELETE FROM calls WHERE id <= (SELECT MAX(id) FROM calls) - ?1",
        [KEEP_ROWS],
    )?;
    tx.commit()
}

/// A row read back (`SELECT {COLUMNS}`).
fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CallSummary> {
    let n =
        |i: usize| -> rusqlite::Result<u64> { Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0)) };
    Ok(CallSummary {
        call_id: r.get(0)?,
        scenario: r.get(1)?,
        from: r.get(2)?,
        to: r.get(3)?,
        peer: r.get(4)?,
        direction: word(&r.get::<_, String>(5)?, &["inbound", "outbound"]),
        state: word(&r.get::<_, String>(6)?, &["ended", "failed", "active"]),
        result: word(&r.get::<_, String>(7)?, &["success", "failed"]),
        error: r.get(8)?,
        started_at: r.get(9)?,
        ended_at: r.get(10)?,
        duration_ms: n(11)?,
        sip_count: n(12)?,
        sip_send: n(13)?,
        sip_recv: n(14)?,
        debug_count: n(15)?,
        rtp_count: n(16)?,
        rtp_send: n(17)?,
        rtp_recv: n(18)?,
        rtp_bytes_send: n(19)?,
        rtp_bytes_recv: n(20)?,
        rtp_dest: r.get(21)?,
        rtp_src: r.get(22)?,
        payload_type: r.get(23)?,
        codec: r.get(24)?,
        debug: None,
    })
}

/// One of the words a column holds (the rows hold `&'static str`s); another value
/// (a file edited by hand) reads as `"unknown"`.
fn word(v: &str, words: &[&'static str]) -> &'static str {
    words
        .iter()
        .find(|w| **w == v)
        .copied()
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str) -> CallSummary {
        CallSummary::for_test(id)
    }

    #[test]
    fn rows_survive_a_reopen_page_newest_first_and_clear() {
        let dir = std::env::temp_dir().join(format!("gossipper-cdr-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cdr = Cdr::open(&dir).unwrap();
        cdr.push((0..5).map(|i| summary(&format!("c{i}"))).collect());
        cdr.push(vec![summary("c5")]);
        cdr.close();
        let cdr = Cdr::open(&dir).unwrap();
        let p = cdr.page(2, 1).unwrap();
        assert_eq!(p.total, 6);
        let ids: Vec<&str> = p.calls.iter().map(|c| c.call_id.as_str()).collect();
        assert_eq!(ids, ["c4", "c3"]);
        let c = cdr.get("c2").unwrap().unwrap();
        assert_eq!(
            (c.direction, c.state, c.duration_ms),
            ("inbound", "ended", 2500)
        );
        assert!(cdr.get("nope").unwrap().is_none());
        cdr.clear();
        cdr.close();
        assert_eq!(Cdr::open(&dir).unwrap().page(10, 0).unwrap().total, 0);
        assert_eq!(cdr.dropped(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
