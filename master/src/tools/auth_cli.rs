//! `gossipper auth user-add (--data-dir D | -config flat.json) -username U -password P
//! [-role admin|operator]`: creates a user of a `gossipper ui` data dir, or updates its
//! password (and role, when given), under the rules the API keeps (`auth`: username and
//! password policy, argon2 hash; `store::users`: the last admin is never demoted), and
//! writes the audit row `user.create`/`user.update` by `cli`. The Go tool's `-config`
//! names a flat JSON whose `ui_data_dir` is the data dir.
//!
//! Owns: the subcommand's flags. Must not: change the rules (it calls the API's).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use super::{Failure, run_cli};
use crate::service::auth;
use crate::service::paths::Layout;
use crate::service::store::audit::{self, Actor};
use crate::service::store::db::Db;
use crate::service::store::users::{self, Role};
use crate::service::timefmt;

const USAGE: &str = "\
Usage: gossipper auth user-add (--data-dir DIR | -config FLAT.json) -username U -password P
                               [-role admin|operator] [--auth-sqlite FILE]

Creates user U in DIR/settings.sqlite (the data dir of gossipper ui; created if missing),
or, when U exists, sets its password (and its role when -role is given; the last admin
cannot be demoted). The API's rules apply: a username of 1-64 of A-Z a-z 0-9 . _ - @, a
password of at least 8 characters. New users are operators unless -role admin. A
running gossipper ui sees the change at the user's next login.

Flags:
  --data-dir DIR      the ui data dir (or -data-dir, -ui_data_dir)
  -config FILE        a flat JSON whose \"ui_data_dir\" names the data dir (the Go tool's)
  -username U         the user (required)
  -password P         the password (required; GOSSIPPER_PASSWORD in the environment
                      is read when -password is absent, to keep it out of ps)
  -role R             admin or operator
  --auth-sqlite FILE  the settings database, when gossipper ui is given the same
                      --auth-sqlite (default DIR/settings.sqlite)
  -h, --help          this help
";

/// Runs `auth …`; `args` follow `auth`.
pub(crate) fn main(args: &[String]) -> ExitCode {
    match args.first().map(String::as_str) {
        Some("user-add") => user_add(&args[1..]),
        Some("-h" | "--help" | "-help") | None => {
            print!("{USAGE}");
            if args.is_empty() {
                ExitCode::from(super::EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            }
        }
        Some(other) => {
            eprintln!(
                "gossipper auth: unknown command \"{other}\" (gossipper auth user-add; see -h)"
            );
            ExitCode::from(super::EXIT_USAGE)
        }
    }
}

fn user_add(args: &[String]) -> ExitCode {
    let known = &[
        "data-dir",
        "data_dir",
        "ui_data_dir",
        "config",
        "username",
        "password",
        "role",
        "auth-sqlite",
        "auth_sqlite",
    ];
    run_cli("auth user-add", USAGE, args, known, |p| {
        if let Some(extra) = p.bare.first() {
            return Err(Failure::Usage(format!("unexpected argument \"{extra}\"")));
        }
        let dir = match (
            p.get("data-dir")
                .or(p.get("data_dir"))
                .or(p.get("ui_data_dir")),
            p.get("config"),
        ) {
            (Some(d), None) => PathBuf::from(d),
            (None, Some(c)) => data_dir_of_config(c)?,
            (Some(_), Some(_)) => {
                return Err(Failure::Usage("--data-dir or -config, not both".into()));
            }
            (None, None) => {
                return Err(Failure::Usage(
                    "which data dir? --data-dir DIR (see -h)".into(),
                ));
            }
        };
        let username = p
            .get("username")
            .ok_or_else(|| Failure::Usage("-username U is required".into()))?;
        let password = match p.get("password") {
            Some(pw) => pw.to_string(),
            None => std::env::var("GOSSIPPER_PASSWORD")
                .map_err(|_| Failure::Usage("-password P is required".into()))?,
        };
        if let Some(problem) = auth::username_problem(username) {
            return Err(Failure::Usage(format!("-username: {problem}")));
        }
        if let Some(problem) = auth::password_problem(&password) {
            return Err(Failure::Usage(format!("-password: {problem}")));
        }
        let role = match p.get("role") {
            None => None,
            Some(r) => Some(Role::parse(r).ok_or_else(|| {
                Failure::Usage(format!("-role: \"{r}\" is not admin or operator"))
            })?),
        };
        let hash = auth::hash_password(&password).map_err(|e| Failure::Failed(e.to_string()))?;
        crate::service::store::files::create_private_dir(&dir)
            .map_err(|e| Failure::Failed(format!("{}: {e}", dir.display())))?;
        let mut layout = Layout::new(dir.clone());
        if let Some(given) = p.get("auth-sqlite").or(p.get("auth_sqlite")) {
            let db = crate::service::paths::settings_db_path(&dir, std::path::Path::new(given))
                .map_err(Failure::Usage)?;
            layout = layout.with_settings_db(db);
        }
        let db = Db::open(&layout).map_err(|e| Failure::Failed(e.to_string()))?;
        let now = timefmt::rfc3339(SystemTime::now());
        let actor = Actor {
            user_id: None,
            username: "cli",
        };
        let (user, created) = db
            .tx(|c| {
                let (user, created) = match users::by_name(c, username)? {
                    Some(u) => (users::update(c, u.user.id, Some(&hash), role, &now)?, false),
                    None => (
                        users::create(c, username, &hash, role.unwrap_or(Role::Operator), &now)?,
                        true,
                    ),
                };
                let action = if created {
                    "user.create"
                } else {
                    "user.update"
                };
                let payload =
                    serde_json::json!({"role": user.role, "via": "gossipper auth user-add"});
                audit::append(c, &now, actor, action, &user.username, &payload)?;
                Ok((user, created))
            })
            .map_err(|e| Failure::Failed(e.to_string()))?;
        println!(
            "{} user \"{}\" ({}) in {}",
            if created { "created" } else { "updated" },
            user.username,
            user.role.as_str(),
            dir.join("settings.sqlite").display()
        );
        Ok(())
    })
}

/// The Go tool's `-config flat.json`: its `ui_data_dir`.
fn data_dir_of_config(path: &str) -> Result<PathBuf, Failure> {
    let bytes = std::fs::read(path).map_err(|e| Failure::Failed(format!("{path}: {e}")))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::Failed(format!("{path}: not JSON: {e}")))?;
    match v.get("ui_data_dir").and_then(|d| d.as_str()) {
        Some(d) if !d.is_empty() => Ok(PathBuf::from(d)),
        _ => Err(Failure::Failed(format!(
            "{path}: no \"ui_data_dir\" (the data dir whose settings.sqlite holds the users)"
        ))),
    }
}
