//! `ApiError`: every failure a handler can return, and its one mapping to
//! (status, `{"error": "…"}`).
//!
//! Owns: status codes for errors. Internal errors are logged here with their detail and
//! answered with a generic message, so paths and SQL never leak to clients.

use crate::ui::paths::PathError;
use crate::ui::store::StoreError;
use crate::ui::store::media::UploadError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("invalid username or password")]
    BadCredentials,
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
    #[error("too many failed logins from this address; try again in a minute")]
    TooManyRequests,
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub(crate) fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized | ApiError::BadCredentials => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::Conflict(_) => 409,
            ApiError::TooLarge(_) => 413,
            ApiError::TooManyRequests => 429,
            ApiError::Internal(_) => 500,
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
        #[derive(serde::Serialize)]
        struct Body<'a> {
            error: &'a str,
        }
        let text = self.to_string();
        serde_json::to_vec(&Body { error: &text })
            .unwrap_or_else(|_| b"{\"error\":\"internal error\"}".to_vec())
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
            UploadError::Empty | UploadError::Invalid { .. } => {
                ApiError::BadRequest(format!("body: {e}"))
            }
            UploadError::Read(err) => ApiError::BadRequest(format!("body: {err}")),
            UploadError::Store(s) => s.into(),
        }
    }
}

impl From<crate::ui::auth::AuthError> for ApiError {
    fn from(e: crate::ui::auth::AuthError) -> Self {
        ApiError::Internal(e.to_string())
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
