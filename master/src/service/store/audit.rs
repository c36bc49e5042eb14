//! The `audit_log` table: one row per mutating request, newest first when read.
//!
//! Owns: appending and paging audit rows. Callers append inside the same transaction as
//! the change they record, when the change is in SQL. Payloads never carry passwords.
//! Must not: delete or rewrite rows.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::StoreError;

/// One audit row, shaped as gossipper-reference.md §5.5 `/audit`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct AuditEntry {
    pub(crate) id: i64,
    pub(crate) ts: String,
    pub(crate) user_id: Option<i64>,
    pub(crate) username: String,
    pub(crate) action: String,
    pub(crate) target: String,
    pub(crate) payload_json: String,
}

/// Who did it (None when auth is off).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Actor<'a> {
    pub(crate) user_id: Option<i64>,
    pub(crate) username: &'a str,
}

pub(crate) fn append(
    c: &Connection,
    ts: &str,
    actor: Actor<'_>,
    action: &str,
    target: &str,
    payload: &serde_json::Value,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO audit_log (ts, user_id, username, action, target, payload_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![ts, actor.user_id, actor.username, action, target, payload.to_string()],
    )?;
    Ok(())
}

/// A page of rows, newest first: `limit` rows after skipping `offset`; plus the total.
pub(crate) fn page(
    c: &Connection,
    limit: u32,
    offset: u64,
) -> Result<(Vec<AuditEntry>, i64), StoreError> {
    let mut st = c.prepare(
        "SELECT id, ts, user_id, username, action, target, payload_json FROM audit_log
         ORDER BY id DESC LIMIT ?1 OFFSET ?2",
    )?;
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let rows = st.query_map(params![limit, offset], |r| {
        Ok(AuditEntry {
            id: r.get(0)?,
            ts: r.get(1)?,
            user_id: r.get(2)?,
            username: r.get(3)?,
            action: r.get(4)?,
            target: r.get(5)?,
            payload_json: r.get(6)?,
        })
    })?;
    let entries = rows.collect::<Result<Vec<_>, _>>()?;
    let total = c.query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0))?;
    Ok((entries, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::store::db::Db;

    #[test]
    fn pages_newest_first() {
        let db = Db::open_in_memory().unwrap();
        db.tx(|c| {
            let actor = Actor {
                user_id: Some(1),
                username: "admin",
            };
            for i in 0..5 {
                append(
                    c,
                    "t",
                    actor,
                    "scenario.create",
                    &format!("s{i}"),
                    &serde_json::json!({}),
                )?;
            }
            let (page1, total) = page(c, 2, 0)?;
            assert_eq!(total, 5);
            assert_eq!(
                page1.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
                ["s4", "s3"]
            );
            let (page3, _) = page(c, 2, 4)?;
            assert_eq!(page3.len(), 1);
            assert_eq!(page3[0].target, "s0");
            Ok(())
        })
        .unwrap();
    }
}
