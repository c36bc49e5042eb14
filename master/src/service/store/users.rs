//! The `users` table: accounts, roles and password hashes.
//!
//! Owns: user rows, the "last admin" rule (checked inside the caller's transaction, so
//! two concurrent demotions cannot both pass) and each user's token version, which a
//! password change or reset moves on (every token and ticket issued before then stops
//! admitting; auth compares it on each request). Must not: hash passwords (auth does) or
//! decide who may call what (the api does).

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::StoreError;

/// A role, exactly as ui-mode.md "Roles" lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    Admin,
    Operator,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

/// A user as the API shows it (no hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct User {
    pub(crate) id: i64,
    pub(crate) username: String,
    pub(crate) role: Role,
    pub(crate) created_at: String,
}

/// What a request's credential is checked against on every request (auth::admit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub(crate) username: String,
    pub(crate) role: Role,
    pub(crate) token_version: i64,
}

/// A user with the stored password hash (for login and password changes).
#[derive(Debug, Clone)]
pub(crate) struct UserWithHash {
    pub(crate) user: User,
    pub(crate) password_hash: String,
    pub(crate) token_version: i64,
}

fn row_to_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserWithHash> {
    let role: String = r.get(2)?;
    Ok(UserWithHash {
        user: User {
            id: r.get(0)?,
            username: r.get(1)?,
            // The CHECK constraint allows only the two names.
            role: Role::parse(&role).unwrap_or(Role::Operator),
            created_at: r.get(3)?,
        },
        password_hash: r.get(4)?,
        token_version: r.get(5)?,
    })
}

const COLS: &str = "id, username, role, created_at, password_hash, token_version";

pub(crate) fn count(c: &Connection) -> Result<i64, StoreError> {
    Ok(c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
}

fn count_admins(c: &Connection) -> Result<i64, StoreError> {
    Ok(
        c.query_row("SELECT COUNT(*) FROM users WHERE role = 'admin'", [], |r| {
            r.get(0)
        })?,
    )
}

pub(crate) fn list(c: &Connection) -> Result<Vec<User>, StoreError> {
    let mut st = c.prepare(&format!("SELECT {COLS} FROM users ORDER BY id"))?;
    let rows = st.query_map([], row_to_user)?;
    Ok(rows.map(|r| r.map(|u| u.user)).collect::<Result<_, _>>()?)
}

pub(crate) fn by_name(c: &Connection, username: &str) -> Result<Option<UserWithHash>, StoreError> {
    Ok(c.query_row(
        &format!("SELECT {COLS} FROM users WHERE username = ?1"),
        [username],
        row_to_user,
    )
    .optional()?)
}

pub(crate) fn by_id(c: &Connection, id: i64) -> Result<Option<UserWithHash>, StoreError> {
    Ok(c.query_row(
        &format!("SELECT {COLS} FROM users WHERE id = ?1"),
        [id],
        row_to_user,
    )
    .optional()?)
}

/// The account behind a credential: one primary-key read (a prepared statement cached
/// on the connection), done for every authenticated request.
pub(crate) fn account(c: &Connection, id: i64) -> Result<Option<Account>, StoreError> {
    let mut st =
        c.prepare_cached("SELECT username, role, token_version FROM users WHERE id = ?1")?;
    Ok(st
        .query_row([id], |r| {
            let role: String = r.get(1)?;
            Ok(Account {
                username: r.get(0)?,
                // The CHECK constraint allows only the two names; anything else gets the
                // lesser role.
                role: Role::parse(&role).unwrap_or(Role::Operator),
                token_version: r.get(2)?,
            })
        })
        .optional()?)
}

pub(crate) fn create(
    c: &Connection,
    username: &str,
    password_hash: &str,
    role: Role,
    now: &str,
) -> Result<User, StoreError> {
    if by_name(c, username)?.is_some() {
        return Err(StoreError::Conflict(format!("user \"{username}\"")));
    }
    c.execute(
        "INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![username, password_hash, role.as_str(), now],
    )?;
    Ok(User {
        id: c.last_insert_rowid(),
        username: username.to_string(),
        role,
        created_at: now.to_string(),
    })
}

/// Changes the hash and/or the role. Refuses to demote the last admin. A new hash moves
/// the token version on, so every token and ticket issued before stops working.
pub(crate) fn update(
    c: &Connection,
    id: i64,
    password_hash: Option<&str>,
    role: Option<Role>,
    now: &str,
) -> Result<User, StoreError> {
    let current = by_id(c, id)?.ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
    if let Some(role) = role {
        if current.user.role == Role::Admin && role != Role::Admin && count_admins(c)? <= 1 {
            return Err(StoreError::LastAdmin);
        }
        c.execute(
            "UPDATE users SET role = ?1, updated_at = ?2 WHERE id = ?3",
            params![role.as_str(), now, id],
        )?;
    }
    if let Some(hash) = password_hash {
        c.execute(
            "UPDATE users SET password_hash = ?1, token_version = token_version + 1, updated_at = ?2 WHERE id = ?3",
            params![hash, now, id],
        )?;
        // The default password is gone once its user has another one.
        if super::kv::default_password_user(c)? == Some(id) {
            super::kv::delete(c, super::kv::DEFAULT_PASSWORD_USER)?;
        }
    }
    by_id(c, id)?
        .map(|u| u.user)
        .ok_or_else(|| StoreError::NotFound(format!("user {id}")))
}

/// Deletes a user. Refuses to delete the last admin.
pub(crate) fn delete(c: &Connection, id: i64) -> Result<User, StoreError> {
    let current = by_id(c, id)?.ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
    if current.user.role == Role::Admin && count_admins(c)? <= 1 {
        return Err(StoreError::LastAdmin);
    }
    c.execute("DELETE FROM users WHERE id = ?1", [id])?;
    Ok(current.user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::store::db::Db;

    #[test]
    fn usernames_are_unique_without_regard_to_case() {
        let db = Db::open_in_memory().unwrap();
        db.tx(|c| {
            create(c, "Alice", "h", Role::Operator, "t")?;
            assert!(matches!(
                create(c, "alice", "h", Role::Operator, "t"),
                Err(StoreError::Conflict(_))
            ));
            assert_eq!(by_name(c, "ALICE")?.unwrap().user.username, "Alice");
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn the_last_admin_cannot_be_deleted_or_demoted() {
        let db = Db::open_in_memory().unwrap();
        db.tx(|c| {
            let admin = create(c, "admin", "h", Role::Admin, "t")?;
            let op = create(c, "op", "h", Role::Operator, "t")?;
            assert!(matches!(delete(c, admin.id), Err(StoreError::LastAdmin)));
            assert!(matches!(
                update(c, admin.id, None, Some(Role::Operator), "t"),
                Err(StoreError::LastAdmin)
            ));
            // With a second admin, the first may go.
            update(c, op.id, None, Some(Role::Admin), "t")?;
            assert_eq!(delete(c, admin.id)?.username, "admin");
            assert!(matches!(delete(c, op.id), Err(StoreError::LastAdmin)));
            assert_eq!(count(c)?, 1);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn update_changes_only_what_is_given() {
        let db = Db::open_in_memory().unwrap();
        db.tx(|c| {
            let u = create(c, "u", "h1", Role::Operator, "t")?;
            update(c, u.id, Some("h2"), None, "t2")?;
            let got = by_id(c, u.id)?.unwrap();
            assert_eq!(got.password_hash, "h2");
            assert_eq!(got.user.role, Role::Operator);
            assert_eq!(got.token_version, 1, "a new password moves the version on");
            update(c, u.id, None, Some(Role::Admin), "t3")?;
            assert_eq!(
                account(c, u.id)?,
                Some(Account {
                    username: "u".into(),
                    role: Role::Admin,
                    token_version: 1
                }),
                "a role change keeps the version (the role is read on each request)"
            );
            assert_eq!(account(c, 999)?, None);
            assert!(matches!(
                update(c, 999, None, None, "t"),
                Err(StoreError::NotFound(_))
            ));
            Ok(())
        })
        .unwrap();
    }
}
