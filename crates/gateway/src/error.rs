//! The one mapping from failures to HTTP responses: SCIM errors as RFC 7644 bodies, 503 with
//! `Retry-After` when the log or the projector is out of reach, and 500s that leak nothing.

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
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(error.into())
    }
}

impl From<roster_store::StoreError> for ApiError {
    fn from(error: roster_store::StoreError) -> Self {
        match error {
            roster_store::StoreError::Pool(_) => ApiError::Unavailable {
                detail: "the database is busy or unreachable".into(),
                retry_after_secs: 5,
            },
            other => ApiError::internal(other),
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
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let scim = match self {
            ApiError::Scim(e) => e.clone(),
            ApiError::Unavailable { detail, .. } => ScimError::new(503, None, detail.clone()),
            ApiError::Internal(cause) => {
                // The only place an internal error is logged; the client sees no internals.
                tracing::error!(error = ?cause, "request failed");
                ScimError::new(500, None, "internal error")
            }
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, SCIM_JSON));
        if let ApiError::Unavailable { retry_after_secs, .. } = self {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.body(scim.to_body().to_string())
    }
}
