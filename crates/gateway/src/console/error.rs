//! The console's failures as HTML pages with the right status: 404 for what is out of the
//! session's scope (as if it did not exist), 403 for what the scope never allows, 400 with the
//! message, 503 with `Retry-After`, and 500s that show no internals. A missing or ended session
//! sends a page request to the sign-in page.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::assets;
use crate::error::ApiError;

#[derive(Debug)]
pub enum ConsoleError {
    /// No session, or it ended (expired, its admin token revoked). A page (`GET`) is sent to the
    /// sign-in page; an htmx request is told to go there (`HX-Redirect`); anything else is 401.
    SignedOut { page: bool, htmx: bool, ended: bool },
    /// What the control plane answered.
    Api(ApiError),
}

impl From<ApiError> for ConsoleError {
    fn from(error: ApiError) -> Self {
        ConsoleError::Api(error)
    }
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConsoleError::SignedOut { .. } => f.write_str("not signed in"),
            ConsoleError::Api(e) => e.fmt(f),
        }
    }
}

/// Where a signed-out visitor is sent.
pub const SIGN_IN: &str = "/console/sign-in";
/// Where a visitor whose session has just ended is sent (the page says so).
pub const SIGN_IN_ENDED: &str = "/console/sign-in?ended=1";

/// The page of an error.
#[derive(Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage {
    pub css: String,
    pub status: u16,
    pub reason: String,
    pub message: String,
    pub sign_in: bool,
}

impl ErrorPage {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ErrorPage {
        ErrorPage {
            css: assets::url(assets::CSS),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error").to_string(),
            message: message.into(),
            sign_in: status == StatusCode::UNAUTHORIZED,
        }
    }

    /// The page as a response of its status.
    pub fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self.render() {
            Ok(body) => HttpResponse::build(status).content_type(HTML).body(body),
            Err(error) => {
                tracing::error!(%error, "the error page did not render");
                HttpResponse::build(status)
                    .content_type("text/plain; charset=utf-8")
                    .body(format!("{} {}: {}", self.status, self.reason, self.message))
            }
        }
    }
}

pub const HTML: &str = "text/html; charset=utf-8";

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignedOut { page: true, htmx: false, .. } => StatusCode::SEE_OTHER,
            ConsoleError::SignedOut { .. } => StatusCode::UNAUTHORIZED,
            ConsoleError::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ConsoleError::SignedOut { page: true, htmx: false, ended } => {
                let location = if *ended { SIGN_IN_ENDED } else { SIGN_IN };
                HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
            }
            ConsoleError::SignedOut { htmx, .. } => {
                let mut response = ErrorPage::new(
                    StatusCode::UNAUTHORIZED,
                    "You are not signed in, or your session has ended.",
                )
                .response();
                if *htmx && let Ok(value) = header::HeaderValue::from_str(SIGN_IN) {
                    response
                        .headers_mut()
                        .insert(header::HeaderName::from_static("hx-redirect"), value);
                }
                response
            }
            ConsoleError::Api(error) => {
                let mut response =
                    ErrorPage::new(error.status_code(), error.public_detail()).response();
                if let Some(seconds) = error.retry_after_secs()
                    && let Ok(value) = header::HeaderValue::from_str(&seconds.to_string())
                {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
        }
    }
}
