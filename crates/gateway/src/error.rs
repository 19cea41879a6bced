//! The one mapping from failures to HTTP responses ([`render`], the body in the scope's
//! [`BodyFormat`]: SCIM errors as RFC 7644 bodies, the admin API's as problem+json), 503 with
//! `Retry-After` when the log, the projector or Postgres is out of reach (a transient failure,
//! `roster_store::sqlstate`), 429 with `Retry-After` past a directory's bound of writes in
//! flight, and 500s that leak nothing (only for failures not understood: bugs).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use roster_scim::ScimError;

/// `application/scim+json`, the media type of every SCIM response (RFC 7644 §3.1).
pub const SCIM_JSON: &str = "application/scim+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// The change could not be made durable, or its outcome did not arrive in time; the client
    /// should retry after `retry_after_secs`.
    #[error("service unavailable: {detail}")]
    Unavailable { detail: String, retry_after_secs: u32 },
    /// Too many writes of the directory are in flight; retry after `retry_after_secs`.
    #[error("too many requests: {detail}")]
    Throttled { detail: String, retry_after_secs: u32 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(error.into())
    }

    /// The seconds a client should wait before retrying, for 503 and 429.
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            ApiError::Unavailable { retry_after_secs, .. }
            | ApiError::Throttled { retry_after_secs, .. } => Some(*retry_after_secs),
            ApiError::Scim(_) | ApiError::Internal(_) => None,
        }
    }

    /// What the client is told. An internal error is logged here, the only place it is, and the
    /// client sees no internals.
    pub fn public_detail(&self) -> String {
        match self {
            ApiError::Scim(e) => e.detail.clone(),
            ApiError::Unavailable { detail, .. } | ApiError::Throttled { detail, .. } => {
                detail.clone()
            }
            ApiError::Internal(cause) => {
                // The cause chain on one line ("a: b: c"), never a multi-line backtrace.
                tracing::error!(error = format!("{cause:#}"), "request failed");
                "internal error".to_string()
            }
        }
    }
}

impl From<roster_store::StoreError> for ApiError {
    fn from(error: roster_store::StoreError) -> Self {
        match error.failure() {
            // Pool checkout timed out, the connection was lost, Postgres is shutting down or
            // starting, too many clients, a statement timeout, a deadlock: retry.
            roster_store::sqlstate::Failure::Transient => {
                tracing::warn!(%error, "database unavailable; 503");
                ApiError::Unavailable {
                    detail: "the database is busy or unreachable; retry later".into(),
                    retry_after_secs: 5,
                }
            }
            _ => ApiError::internal(error),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        ApiError::from(roster_store::StoreError::from(error))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Scim(e) => {
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        render(self, BodyFormat::Scim)
    }
}

/// How a scope writes its error bodies: the SCIM API as RFC 7644 §3.12 errors, the admin API
/// as RFC 9457 problem details. Status and headers are the same in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Scim,
    Problem,
}

/// The response for a failure: its status; `Retry-After` for 503 and 429; `WWW-Authenticate:
/// Bearer` for 401; the body in the scope's format, with the detail a client may see.
pub fn render(error: &ApiError, format: BodyFormat) -> HttpResponse {
    let status = error.status_code();
    let mut response = HttpResponse::build(status);
    if let Some(seconds) = error.retry_after_secs() {
        response.insert_header((header::RETRY_AFTER, seconds.to_string()));
    }
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
    }
    match format {
        BodyFormat::Scim => {
            let scim = match error {
                ApiError::Scim(e) => e.clone(),
                other => ScimError::new(status.as_u16(), None, other.public_detail()),
            };
            response.insert_header((header::CONTENT_TYPE, SCIM_JSON));
            response.body(scim.to_body().to_string())
        }
        BodyFormat::Problem => {
            response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
            response.body(
                serde_json::json!({
                    "type": "about:blank",
                    "title": status.canonical_reason().unwrap_or("Error"),
                    "status": status.as_u16(),
                    "detail": error.public_detail(),
                })
                .to_string(),
            )
        }
    }
}
