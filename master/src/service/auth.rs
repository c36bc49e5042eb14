//! Authentication: argon2id password hashes, HS256 JWTs, short-lived tickets, the
//! revocation check, and (in `throttle`) the login throttle.
//!
//! Owns: secrets and the checks that use them. Tokens never go into URLs or logs: browsers
//! trade a token for a single-use ticket (≤ 60 s) to open WebSockets and download links.
//! A token or ticket is only a *claim* to be a user at a token version: [`admit`] checks
//! it against the user's stored row on every request, so the caller's name and role come
//! from the store, and deleting a user or bumping their version (password change, reset)
//! ends every credential they hold at the next request.
//! Must not: touch the database (the api reads the user row and calls [`admit`]).

mod throttle;

pub(crate) use throttle::{Limits as ThrottleLimits, Throttle};

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jwt_simple::prelude::{Claims, HS256Key, MACLike, VerificationOptions};
use serde::{Deserialize, Serialize};

use crate::service::store::users::{Account, Role};

/// Tokens live 24 h (gossipper-reference.md §5.4); a token claiming a longer life is
/// refused, as is one without `exp` or `iat`.
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// Tickets live at most 60 s and are good for one request.
pub(crate) const TICKET_TTL: Duration = Duration::from_secs(60);
/// Unused tickets one user may hold at once (the console holds one per open socket).
pub(crate) const MAX_TICKETS_PER_USER: usize = 64;
/// Unused tickets held in all, so minting cannot grow the map without bound.
const MAX_TICKETS: usize = 10_000;
/// Shortest password and JWT secret we accept.
pub(crate) const MIN_PASSWORD_LEN: usize = 8;

/// Password policy: at least 8 characters, at most 1 KiB (argon2 input stays cheap).
/// `None` when `password` passes; the API and `gossipper auth user-add` share it.
pub(crate) fn password_problem(password: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Some(format!("must be at least {MIN_PASSWORD_LEN} characters"));
    }
    if password.len() > 1024 {
        return Some("must be at most 1024 bytes".into());
    }
    None
}

/// Usernames: 1–64 of `A-Z a-z 0-9 . _ - @`. `None` when `name` passes.
pub(crate) fn username_problem(name: &str) -> Option<&'static str> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if name.is_empty() || name.len() > 64 || !name.chars().all(ok_char) {
        return Some("must be 1 to 64 characters of A-Z a-z 0-9 . _ - @");
    }
    None
}
pub(crate) const MIN_SECRET_LEN: usize = 16;
const ISSUER: &str = "gossipper";
/// Clock drift tolerated between token timestamps and this host.
const CLOCK_TOLERANCE_S: u64 = 30;

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// `Authorization: Bearer <jwt>`.
    Token,
    /// `?ticket=` (single use, only on the routes the table marks for tickets).
    Ticket,
    /// Auth is off: everyone is the anonymous admin.
    Anonymous,
}

/// The caller of a request, after [`admit`]: name and role as stored *now*.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    pub(crate) user_id: i64,
    pub(crate) username: String,
    pub(crate) role: Role,
    /// The token version the credential was issued at (equal to the stored one).
    pub(crate) token_version: i64,
    /// Unix seconds the token (or the token a ticket came from) expires; 0 when auth is off.
    pub(crate) expires_at: u64,
    pub(crate) via: Via,
}

/// What a verified credential claims: a user at a token version, until `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) user_id: i64,
    pub(crate) token_version: i64,
    pub(crate) expires_at: u64,
    pub(crate) via: Via,
}

/// Why a signed, unexpired credential no longer admits its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revoked {
    /// The user was deleted.
    NoSuchUser,
    /// The user's token version moved on (password changed or reset).
    OldVersion,
}

/// Checks a grant against the user's current row: the caller exists, their version is
/// the one the credential was issued at, and their name and role are taken from the row,
/// never from the credential (a demoted admin is an operator at the next request).
pub(crate) fn admit(grant: Grant, account: Option<Account>) -> Result<Principal, Revoked> {
    let account = account.ok_or(Revoked::NoSuchUser)?;
    if account.token_version != grant.token_version {
        return Err(Revoked::OldVersion);
    }
    Ok(Principal {
        user_id: grant.user_id,
        username: account.username,
        role: account.role,
        token_version: grant.token_version,
        expires_at: grant.expires_at,
        via: grant.via,
    })
}

/// Custom claims beside the standard `sub`, `iat`, `exp`, `iss`. The role is not a claim:
/// it is read from the store on every request.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionClaims {
    uid: i64,
    /// The user's token version when the token was issued.
    tv: i64,
}

/// Whether `given` equals the secret `want`, in a time that depends only on the
/// secret's length (every byte of it is compared, whatever `given` holds), so the time
/// of a refusal says nothing about how much of a guess was right.
pub(crate) fn same_secret(given: &[u8], want: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != want.len());
    for (i, w) in want.iter().enumerate() {
        diff |= w ^ given.get(i).copied().unwrap_or(0);
    }
    std::hint::black_box(diff) == 0
}

/// The scrape token of `gossipper ui --metrics-token-file`: the file's text without
/// surrounding whitespace, at least [`MIN_SECRET_LEN`] printable ASCII characters
/// without spaces (it travels in an `Authorization: Bearer` header).
pub(crate) fn scrape_token(text: &str) -> Result<String, String> {
    let token = text.trim();
    if token.len() < MIN_SECRET_LEN {
        return Err(format!(
            "the token must be at least {MIN_SECRET_LEN} characters (found {})",
            token.chars().count()
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token must be printable ASCII without spaces".into());
    }
    Ok(token.to_string())
}

/// Random bytes from the OS, hex-encoded.
pub(crate) fn random_hex(n_bytes: usize) -> Result<String, getrandom::Error> {
    let mut buf = vec![0u8; n_bytes];
    getrandom::getrandom(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub(crate) fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| AuthError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    super::hash_gate::run(|| {
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Hash(e.to_string()))
    })
}

/// Checks a password against a stored PHC hash; a malformed hash never matches.
pub(crate) fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        super::hash_gate::run(|| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("OS random source: {0}")]
    Random(String),
    #[error("password hashing: {0}")]
    Hash(String),
    #[error("token signing: {0}")]
    Sign(String),
    #[error("{0} unused tickets are already open; each expires 60 s after it was issued")]
    TooManyTickets(usize),
}

/// Signs and verifies tokens; holds the secret, which rotation replaces.
pub(crate) struct Tokens {
    key: RwLock<HS256Key>,
}

/// Whether a token's `iat`/`exp` describe a life we issue: both present, `exp` after
/// `iat`, and no longer than [`TOKEN_TTL`]. (jwt-simple accepts a token without `exp`
/// as never expiring; a forged or foreign token must not get that.)
fn lifetime_ok(issued_at: Option<u64>, expires_at: Option<u64>) -> bool {
    match (issued_at, expires_at) {
        (Some(iat), Some(exp)) => exp > iat && exp - iat <= TOKEN_TTL.as_secs(),
        _ => false,
    }
}

impl Tokens {
    pub(crate) fn new(secret: &str) -> Tokens {
        Tokens {
            key: RwLock::new(HS256Key::from_bytes(secret.as_bytes())),
        }
    }

    /// Replaces the secret: every token issued before stops verifying.
    pub(crate) fn rotate(&self, secret: &str) {
        *self.key.write().unwrap_or_else(|p| p.into_inner()) =
            HS256Key::from_bytes(secret.as_bytes());
    }

    /// A token for this user at their current token version, and its expiry in Unix
    /// seconds.
    pub(crate) fn issue(
        &self,
        user_id: i64,
        username: &str,
        token_version: i64,
    ) -> Result<(String, u64), AuthError> {
        let claims = Claims::with_custom_claims(
            SessionClaims {
                uid: user_id,
                tv: token_version,
            },
            TOKEN_TTL.into(),
        )
        .with_subject(username)
        .with_issuer(ISSUER);
        let expires_at = claims.expires_at.map(|t| t.as_secs()).unwrap_or(0);
        let key = self.key.read().unwrap_or_else(|p| p.into_inner());
        let token = key
            .authenticate(claims)
            .map_err(|e| AuthError::Sign(e.to_string()))?;
        Ok((token, expires_at))
    }

    /// What a token claims, if it is ours (signature, issuer), unexpired, and has a
    /// lifetime we issue; `None` otherwise. [`admit`] then checks it against the store.
    pub(crate) fn verify(&self, token: &str) -> Option<Grant> {
        let options = VerificationOptions {
            allowed_issuers: Some([ISSUER.to_string()].into_iter().collect()),
            time_tolerance: Some(jwt_simple::prelude::Duration::from_secs(CLOCK_TOLERANCE_S)),
            max_validity: Some(TOKEN_TTL.into()),
            max_token_length: Some(8 << 10),
            ..Default::default()
        };
        let key = self.key.read().unwrap_or_else(|p| p.into_inner());
        let claims = key
            .verify_token::<SessionClaims>(token, Some(options))
            .ok()?;
        let (iat, exp) = (
            claims.issued_at.map(|t| t.as_secs()),
            claims.expires_at.map(|t| t.as_secs()),
        );
        if !lifetime_ok(iat, exp) {
            return None;
        }
        Some(Grant {
            user_id: claims.custom.uid,
            token_version: claims.custom.tv,
            expires_at: exp.unwrap_or(0),
            via: Via::Token,
        })
    }
}

/// Single-use tickets for URLs (WebSocket upgrades, download links). A ticket holds the
/// grant it was minted from (user id and token version), so redeeming it goes through
/// the same [`admit`] check as a token.
#[derive(Default)]
pub(crate) struct Tickets {
    live: Mutex<HashMap<String, (Grant, Instant)>>,
}

impl Tickets {
    /// A new ticket for the holder of `grant`, good once within [`TICKET_TTL`] of `now`.
    /// Refused when the user already holds [`MAX_TICKETS_PER_USER`] unused ones (or the
    /// map is full), so minting in a loop cannot grow memory.
    pub(crate) fn issue(&self, grant: Grant, now: Instant) -> Result<String, AuthError> {
        let ticket = random_hex(24).map_err(|e| AuthError::Random(e.to_string()))?;
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, (_, exp)| *exp > now);
        let held = live
            .values()
            .filter(|(g, _)| g.user_id == grant.user_id)
            .count();
        if held >= MAX_TICKETS_PER_USER || live.len() >= MAX_TICKETS {
            return Err(AuthError::TooManyTickets(held));
        }
        let grant = Grant {
            via: Via::Ticket,
            ..grant
        };
        live.insert(ticket.clone(), (grant, now + TICKET_TTL));
        Ok(ticket)
    }

    /// Redeems a ticket: its grant if it is known and fresh; it is gone afterwards.
    pub(crate) fn redeem(&self, ticket: &str, now: Instant) -> Option<Grant> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let (grant, exp) = live.remove(ticket)?;
        (exp > now).then_some(grant)
    }

    /// Drops every ticket (on secret rotation).
    pub(crate) fn clear(&self) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// A hash of a random password, verified against when the user does not exist, so an
/// unknown user costs the same time as a wrong password.
pub(crate) fn dummy_hash() -> Result<String, AuthError> {
    hash_password(&random_hex(16).map_err(|e| AuthError::Random(e.to_string()))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt_simple::prelude::UnixTimeStamp;
    use std::time::SystemTime;

    const SECRET: &str = "0123456789abcdef0123";

    #[test]
    fn same_secret_needs_every_byte_and_the_length() {
        assert!(same_secret(b"abcdefgh", b"abcdefgh"));
        assert!(!same_secret(b"abcdefgX", b"abcdefgh"));
        assert!(!same_secret(b"abcdefg", b"abcdefgh"), "a prefix");
        assert!(!same_secret(b"abcdefghi", b"abcdefgh"), "longer");
        assert!(!same_secret(b"", b"abcdefgh"));
    }

    #[test]
    fn a_scrape_token_is_trimmed_and_must_be_long_and_plain() {
        assert_eq!(
            scrape_token("  0123456789abcdef\n").as_deref(),
            Ok("0123456789abcdef")
        );
        assert!(scrape_token("short\n").is_err());
        assert!(scrape_token("0123456789 abcdef").is_err(), "a space");
        assert!(scrape_token("").is_err());
    }

    fn unix_now() -> u64 {
        crate::service::timefmt::unix_secs(SystemTime::now())
    }

    /// A token signed with `SECRET` carrying exactly these timestamps.
    fn forged(iat: Option<u64>, exp: Option<u64>) -> String {
        let mut claims =
            Claims::with_custom_claims(SessionClaims { uid: 1, tv: 0 }, TOKEN_TTL.into())
                .with_subject("admin")
                .with_issuer(ISSUER);
        claims.issued_at = iat.map(UnixTimeStamp::from_secs);
        claims.expires_at = exp.map(UnixTimeStamp::from_secs);
        HS256Key::from_bytes(SECRET.as_bytes())
            .authenticate(claims)
            .unwrap()
    }

    fn account(role: Role, token_version: i64) -> Account {
        Account {
            username: "alice".into(),
            role,
            token_version,
        }
    }

    #[test]
    fn password_hashes_are_argon2id_salted_and_verify() {
        let h1 = hash_password("sipcapture").unwrap();
        let h2 = hash_password("sipcapture").unwrap();
        assert!(h1.starts_with("$argon2id$"));
        assert_ne!(h1, h2, "salts differ");
        assert!(verify_password(&h1, "sipcapture"));
        assert!(!verify_password(&h1, "sipcapturE"));
        assert!(!verify_password("not a phc string", "x"));
    }

    #[test]
    fn tokens_carry_the_user_and_version_and_die_with_rotation() {
        let tokens = Tokens::new(SECRET);
        let (t, exp) = tokens.issue(7, "alice", 3).unwrap();
        assert!(exp > unix_now() + 23 * 3600);
        let g = tokens.verify(&t).unwrap();
        assert_eq!(
            (g.user_id, g.token_version, g.expires_at, g.via),
            (7, 3, exp, Via::Token)
        );
        assert!(tokens.verify(&format!("{t}x")).is_none());
        assert!(tokens.verify("garbage").is_none());
        tokens.rotate("another-secret-of-length");
        assert!(tokens.verify(&t).is_none());
    }

    #[test]
    fn tokens_signed_with_another_key_are_refused() {
        let (t, _) = Tokens::new("secret-number-one-xx")
            .issue(1, "a", 0)
            .unwrap();
        assert!(Tokens::new("secret-number-two-xx").verify(&t).is_none());
    }

    #[test]
    fn a_token_without_exp_or_iat_or_with_a_too_long_life_is_refused() {
        let tokens = Tokens::new(SECRET);
        let now = unix_now();
        let day = TOKEN_TTL.as_secs();
        // The control: a forged token shaped like ours verifies, so the others fail
        // for their timestamps alone.
        assert!(
            tokens
                .verify(&forged(Some(now), Some(now + 3600)))
                .is_some()
        );
        assert!(tokens.verify(&forged(Some(now), None)).is_none(), "no exp");
        assert!(
            tokens.verify(&forged(None, Some(now + 3600))).is_none(),
            "no iat"
        );
        assert!(
            tokens
                .verify(&forged(Some(now), Some(now + day + 1)))
                .is_none(),
            "lives longer than a token we issue"
        );
        assert!(
            tokens
                .verify(&forged(Some(now - 10 * day), Some(now + 3600)))
                .is_none(),
            "issued too long ago"
        );
        assert!(
            tokens.verify(&forged(Some(now), Some(now))).is_none() || now == 0,
            "exp must come after iat"
        );
        assert!(lifetime_ok(Some(10), Some(10 + day)));
        assert!(!lifetime_ok(Some(10), Some(10 + day + 1)));
        assert!(!lifetime_ok(Some(10), Some(10)));
        assert!(!lifetime_ok(None, None));
    }

    #[test]
    fn admit_takes_name_and_role_from_the_store_and_refuses_old_versions() {
        let grant = Grant {
            user_id: 7,
            token_version: 2,
            expires_at: 99,
            via: Via::Token,
        };
        let p = admit(grant, Some(account(Role::Operator, 2))).unwrap();
        assert_eq!(
            (p.user_id, p.username.as_str(), p.role, p.expires_at),
            (7, "alice", Role::Operator, 99),
            "a token issued to an admin admits an operator once demoted"
        );
        assert_eq!(admit(grant, None), Err(Revoked::NoSuchUser));
        assert_eq!(
            admit(grant, Some(account(Role::Admin, 3))),
            Err(Revoked::OldVersion),
            "password changed or reset"
        );
        assert_eq!(
            admit(grant, Some(account(Role::Admin, 1))),
            Err(Revoked::OldVersion),
            "versions only match exactly"
        );
    }

    #[test]
    fn tickets_are_single_use_expire_and_keep_the_version_they_were_minted_at() {
        let tickets = Tickets::default();
        let grant = Grant {
            user_id: 1,
            token_version: 4,
            expires_at: 0,
            via: Via::Token,
        };
        let t0 = Instant::now();
        let t = tickets.issue(grant, t0).unwrap();
        let got = tickets.redeem(&t, t0).unwrap();
        assert_eq!(
            (got.user_id, got.token_version, got.via),
            (1, 4, Via::Ticket)
        );
        assert_eq!(tickets.redeem(&t, t0), None, "second use");
        let t = tickets.issue(grant, t0).unwrap();
        assert_eq!(tickets.redeem(&t, t0 + TICKET_TTL), None, "expired");
        // A ticket minted before a password change is refused like the token was.
        let t = tickets.issue(grant, t0).unwrap();
        let g = tickets.redeem(&t, t0).unwrap();
        assert_eq!(
            admit(g, Some(account(Role::Admin, 5))),
            Err(Revoked::OldVersion)
        );
    }

    #[test]
    fn unused_tickets_per_user_are_capped_until_they_expire() {
        let tickets = Tickets::default();
        let grant = |user_id| Grant {
            user_id,
            token_version: 0,
            expires_at: 0,
            via: Via::Token,
        };
        let t0 = Instant::now();
        for _ in 0..MAX_TICKETS_PER_USER {
            tickets.issue(grant(1), t0).unwrap();
        }
        assert!(matches!(
            tickets.issue(grant(1), t0),
            Err(AuthError::TooManyTickets(_))
        ));
        assert!(
            tickets.issue(grant(2), t0).is_ok(),
            "another user is not affected"
        );
        assert!(
            tickets.issue(grant(1), t0 + TICKET_TTL).is_ok(),
            "expired tickets free their places"
        );
    }
}
