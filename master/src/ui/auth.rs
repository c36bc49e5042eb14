//! Authentication: argon2id password hashes, HS256 JWTs, short-lived tickets, and the
//! login throttle.
//!
//! Owns: secrets and the checks that use them. Tokens never go into URLs or logs: browsers
//! trade a token for a single-use ticket (≤ 60 s) to open WebSockets and download links.
//! Must not: touch the database (the api reads users and calls in here).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jwt_simple::prelude::{Claims, HS256Key, MACLike, VerificationOptions};
use serde::{Deserialize, Serialize};

use crate::ui::store::users::Role;

/// Tokens live 24 h (gossipper-reference.md §5.4).
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// Tickets live at most 60 s and are good for one request.
pub(crate) const TICKET_TTL: Duration = Duration::from_secs(60);
/// Shortest password and JWT secret we accept.
pub(crate) const MIN_PASSWORD_LEN: usize = 8;
pub(crate) const MIN_SECRET_LEN: usize = 16;
const ISSUER: &str = "gossipper";

/// The caller of a request, from a verified token or ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    pub(crate) user_id: i64,
    pub(crate) username: String,
    pub(crate) role: Role,
    /// Unix seconds; 0 when auth is off.
    pub(crate) expires_at: u64,
}

/// Custom claims beside the standard `sub`, `iat`, `exp`, `iss`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoleClaims {
    uid: i64,
    role: Role,
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
}

/// Signs and verifies tokens; holds the secret, which rotation replaces.
pub(crate) struct Tokens {
    key: RwLock<HS256Key>,
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

    /// A token for this user, and its expiry in Unix seconds.
    pub(crate) fn issue(
        &self,
        user_id: i64,
        username: &str,
        role: Role,
    ) -> Result<(String, u64), AuthError> {
        let claims =
            Claims::with_custom_claims(RoleClaims { uid: user_id, role }, TOKEN_TTL.into())
                .with_subject(username)
                .with_issuer(ISSUER);
        let expires_at = claims.expires_at.map(|t| t.as_secs()).unwrap_or(0);
        let key = self.key.read().unwrap_or_else(|p| p.into_inner());
        let token = key
            .authenticate(claims)
            .map_err(|e| AuthError::Sign(e.to_string()))?;
        Ok((token, expires_at))
    }

    /// The principal of a valid token, or `None` (bad signature, expired, malformed).
    pub(crate) fn verify(&self, token: &str) -> Option<Principal> {
        let options = VerificationOptions {
            allowed_issuers: Some([ISSUER.to_string()].into_iter().collect()),
            time_tolerance: Some(jwt_simple::prelude::Duration::from_secs(30)),
            ..Default::default()
        };
        let key = self.key.read().unwrap_or_else(|p| p.into_inner());
        let claims = key.verify_token::<RoleClaims>(token, Some(options)).ok()?;
        Some(Principal {
            user_id: claims.custom.uid,
            username: claims.subject?,
            role: claims.custom.role,
            expires_at: claims.expires_at.map(|t| t.as_secs()).unwrap_or(0),
        })
    }
}

/// Single-use tickets for URLs (WebSocket upgrades, download links).
#[derive(Default)]
pub(crate) struct Tickets {
    live: Mutex<HashMap<String, (Principal, Instant)>>,
}

impl Tickets {
    /// A new ticket for `who`, good once within [`TICKET_TTL`] of `now`.
    pub(crate) fn issue(&self, who: Principal, now: Instant) -> Result<String, AuthError> {
        let ticket = random_hex(24).map_err(|e| AuthError::Random(e.to_string()))?;
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, (_, exp)| *exp > now);
        live.insert(ticket.clone(), (who, now + TICKET_TTL));
        Ok(ticket)
    }

    /// Redeems a ticket: the principal if it is known and fresh; it is gone afterwards.
    pub(crate) fn redeem(&self, ticket: &str, now: Instant) -> Option<Principal> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let (who, exp) = live.remove(ticket)?;
        (exp > now).then_some(who)
    }

    /// Drops every ticket (on secret rotation).
    pub(crate) fn clear(&self) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Login throttle: more than `max_failures` failed logins from one IP within `window`
/// blocks further attempts from it until the oldest failure ages out.
pub(crate) struct Throttle {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl Throttle {
    pub(crate) fn new(max_failures: usize, window: Duration) -> Throttle {
        Throttle {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether this client must wait before trying again.
    pub(crate) fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let window = self.window;
        let Some(q) = map.get_mut(&ip) else {
            return false;
        };
        while q
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            q.pop_front();
        }
        let blocked = q.len() >= self.max_failures;
        if q.is_empty() {
            map.remove(&ip);
        }
        blocked
    }

    pub(crate) fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bound the map: many distinct clients drop their stale entries first.
        if map.len() > 10_000 {
            let window = self.window;
            map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < window)
            });
        }
        map.entry(ip).or_default().push_back(now);
    }

    pub(crate) fn record_success(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
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
    use std::time::SystemTime;

    fn unix_now() -> u64 {
        crate::ui::timefmt::unix_secs(SystemTime::now())
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
    fn tokens_carry_claims_and_die_with_rotation() {
        let tokens = Tokens::new("0123456789abcdef0123");
        let (t, exp) = tokens.issue(7, "alice", Role::Operator).unwrap();
        assert!(exp > unix_now() + 23 * 3600);
        let p = tokens.verify(&t).unwrap();
        assert_eq!(
            (p.user_id, p.username.as_str(), p.role),
            (7, "alice", Role::Operator)
        );
        assert!(tokens.verify(&format!("{t}x")).is_none());
        assert!(tokens.verify("garbage").is_none());
        tokens.rotate("another-secret-of-length");
        assert!(tokens.verify(&t).is_none());
    }

    #[test]
    fn tokens_signed_with_another_key_are_refused() {
        let (t, _) = Tokens::new("secret-number-one-xx")
            .issue(1, "a", Role::Admin)
            .unwrap();
        assert!(Tokens::new("secret-number-two-xx").verify(&t).is_none());
    }

    #[test]
    fn tickets_are_single_use_and_expire() {
        let tickets = Tickets::default();
        let who = Principal {
            user_id: 1,
            username: "a".into(),
            role: Role::Admin,
            expires_at: 0,
        };
        let t0 = Instant::now();
        let t = tickets.issue(who.clone(), t0).unwrap();
        assert_eq!(tickets.redeem(&t, t0), Some(who.clone()));
        assert_eq!(tickets.redeem(&t, t0), None, "second use");
        let t = tickets.issue(who, t0).unwrap();
        assert_eq!(tickets.redeem(&t, t0 + TICKET_TTL), None, "expired");
    }

    #[test]
    fn throttle_blocks_after_max_failures_until_the_window_passes() {
        let th = Throttle::new(5, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(!th.is_blocked(ip, t0), "attempt {i}");
            th.record_failure(ip, t0);
        }
        assert!(th.is_blocked(ip, t0 + Duration::from_secs(59)));
        assert!(!th.is_blocked(other, t0));
        assert!(!th.is_blocked(ip, t0 + Duration::from_secs(60)));
        th.record_failure(ip, t0);
        th.record_success(ip);
        assert!(!th.is_blocked(ip, t0));
    }
}
