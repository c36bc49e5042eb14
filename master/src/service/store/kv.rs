//! The `settings` table: small key/value runtime settings (`jwt_secret`, `bootstrap_at`,
//! `auth_mode`, `default_password_user`). Owns: reading and writing one key. Must not:
//! interpret the values (but for [`default_password_user`], whose rule is one line).

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

pub(crate) const JWT_SECRET: &str = "jwt_secret";
pub(crate) const BOOTSTRAP_AT: &str = "bootstrap_at";
pub(crate) const AUTH_MODE: &str = "auth_mode";
/// The id of the bootstrap admin while it keeps the built-in default password; removed
/// when that user's password changes (`users::update`).
pub(crate) const DEFAULT_PASSWORD_USER: &str = "default_password_user";

pub(crate) fn get(c: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(
        c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?,
    )
}

pub(crate) fn set(c: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

pub(crate) fn delete(c: &Connection, key: &str) -> Result<(), StoreError> {
    c.execute("DELETE FROM settings WHERE key = ?1", [key])?;
    Ok(())
}

/// The user still signing in with the built-in default password, if any.
pub(crate) fn default_password_user(c: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(get(c, DEFAULT_PASSWORD_USER)?.and_then(|v| v.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::store::db::Db;

    #[test]
    fn set_overwrites_and_get_reads_back() {
        let db = Db::open_in_memory().unwrap();
        db.tx(|c| {
            assert_eq!(get(c, JWT_SECRET)?, None);
            set(c, JWT_SECRET, "a")?;
            set(c, JWT_SECRET, "b")?;
            assert_eq!(get(c, JWT_SECRET)?.as_deref(), Some("b"));
            Ok(())
        })
        .unwrap();
    }
}
