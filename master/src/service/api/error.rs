//! `ApiError`: every failure a handler can return, and its one mapping to
//! (status, `{"error": "…"}`).
//!
//! Owns: status codes for errors. Internal errors are logged here with their detail and
//! answered with a generic message, so paths and SQL never leak to clients. Must not:
//! write to the socket (`http` sends the `Reply`).

use crate::service::http::{EncodeError, Reply, error_body};
use crate::service::paths::PathError;
use crate::service::store::StoreError;
use crate::service::store::media::UploadError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("invalid username or password")]
    BadCredentials,
    /// A well-signed credential whose user was deleted or whose token version moved on.
    #[error(
        "this session was revoked (the user was removed or the password changed); sign in again"
    )]
    Revoked,
    #[error(
        "a ticket is only accepted by GET /live, /jobs/{{id}}/events, /jobs/{{id}}/artifacts/…, /jobs/{{id}}/recordings/… and /media/{{kind}}/{{name}}; use the Authorization header"
    )]
    TicketNotHere,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("body is larger than {0} bytes")]
    TooLarge(u64),
    /// 429; with `retry_after_s`, a `Retry-After` header says when to try again.
    #[error("{message}")]
    TooMany {
        message: String,
        retry_after_s: Option<u64>,
    },
    /// 413 for a quota (not the body limit of the route).
    #[error("{0}")]
    OverQuota(String),
    /// 503: the master is ending and takes no new work.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub(crate) fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized
            | ApiError::BadCredentials
            | ApiError::Revoked
            | ApiError::TicketNotHere => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::Conflict(_) => 409,
            ApiError::TooLarge(_) | ApiError::OverQuota(_) => 413,
            ApiError::TooMany { .. } => 429,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) => 503,
        }
    }

    /// Seconds for a `Retry-After` header, for the errors that have one.
    pub(crate) fn retry_after_s(&self) -> Option<u64> {
        match self {
            ApiError::TooMany { retry_after_s, .. } => *retry_after_s,
            _ => None,
        }
    }

    /// A 400 naming the field at fault.
    pub(crate) fn field(field: &str, problem: impl std::fmt::Display) -> ApiError {
        ApiError::BadRequest(format!("{field}: {problem}"))
    }

    /// The JSON body `{"error": "…"}`; logs the detail of internal errors once.
    pub(crate) fn body(&self) -> Vec<u8> {
        if let ApiError::Internal(detail) = self {
            eprintln!("gossipper ui: internal error: {detail}");
        }
        error_body(&self.to_string())
    }

    /// The reply: status, the JSON body, and `Retry-After` for the errors that have one.
    pub(crate) fn reply(&self) -> Reply {
        match self.retry_after_s() {
            Some(retry_after_s) => Reply::RetryLater {
                body: self.body(),
                retry_after_s,
            },
            None => Reply::Json {
                status: self.status(),
                body: self.body(),
            },
        }
    }
}

impl From<EncodeError> for ApiError {
    fn from(e: EncodeError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            StoreError::Conflict(what) => ApiError::Conflict(format!("{what} already exists")),
            StoreError::LastAdmin => ApiError::Conflict(e.to_string()),
            StoreError::BadName(p) => ApiError::from(p),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<PathError> for ApiError {
    fn from(e: PathError) -> Self {
        ApiError::BadRequest(format!("invalid id or name: {e}"))
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::TooLarge(n) => ApiError::TooLarge(n),
            UploadError::OverQuota { .. } => ApiError::OverQuota(e.to_string()),
            UploadError::TooManyFiles { .. } => ApiError::TooMany {
                message: e.to_string(),
                retry_after_s: None,
            },
            UploadError::Empty | UploadError::Invalid { .. } => {
                ApiError::BadRequest(format!("body: {e}"))
            }
            UploadError::Read(err) => ApiError::BadRequest(format!("body: {err}")),
            UploadError::Store(s) => s.into(),
        }
    }
}

impl From<crate::service::auth::AuthError> for ApiError {
    fn from(e: crate::service::auth::AuthError) -> Self {
        match e {
            crate::service::auth::AuthError::TooManyTickets(_) => ApiError::TooMany {
                message: e.to_string(),
                retry_after_s: Some(crate::service::auth::TICKET_TTL.as_secs()),
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_detail_never_reaches_the_body() {
        let e = ApiError::Internal("/secret/path: disk full".into());
        assert_eq!(e.status(), 500);
        assert_eq!(e.body(), br#"{"error":"internal error"}"#);
    }

    #[test]
    fn store_errors_map_to_client_statuses() {
        assert_eq!(
            ApiError::from(StoreError::NotFound("x".into())).status(),
            404
        );
        assert_eq!(
            ApiError::from(StoreError::Conflict("x".into())).status(),
            409
        );
        assert_eq!(ApiError::from(StoreError::LastAdmin).status(), 409);
        assert_eq!(
            ApiError::from(StoreError::BadName(PathError::Empty)).status(),
            400
        );
    }
}
