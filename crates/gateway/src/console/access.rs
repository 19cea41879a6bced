//! Getting in and out: an operator or tenant admin signs in with an admin token; a customer's
//! IT admin opens a portal link; anyone signs out.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

use super::assets;
use super::error::{ConsoleError, ErrorPage, SIGN_IN};
use super::guard::{Fields, Visitor};
use super::layout::{Layout, query, render, see_other};
use super::session::{self, Holder, Session};
use crate::admin::auth::AdminVerifier;
use crate::control::portal;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /console`: a signed-in visitor's start page, or the sign-in page.
pub async fn home(req: HttpRequest) -> HttpResponse {
    match req.extensions().get::<Visitor>() {
        None => see_other(SIGN_IN),
        Some(visitor) => match visitor.portal_directory() {
            Some(directory) => see_other(&format!("/console/directories/{directory}")),
            None => see_other("/console/tenants"),
        },
    }
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    layout: Layout,
    session_hours: u32,
    /// The visitor's session has just ended.
    ended: bool,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct SignInQuery {
    ended: Option<String>,
}

/// `GET /console/sign-in`.
pub async fn sign_in_page(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let q: SignInQuery = query(&req)?;
    let page = SignInPage {
        layout: Layout::new("Sign in", None),
        session_hours: state.console.session_hours,
        ended: q.ended.is_some(),
        error: None,
    };
    render(StatusCode::OK, &page)
}

fn secure(state: &AppState) -> bool {
    state.base_url.starts_with("https://")
}

/// `POST /console/sign-in` `token=…`: a session for the admin token, or the page again with
/// 401.
pub async fn sign_in(
    state: web::Data<AppState>,
    verifier: web::Data<AdminVerifier>,
    fields: Fields,
) -> Result<HttpResponse, ConsoleError> {
    let token = fields.get("token").unwrap_or_default().trim();
    let verified = if token.is_empty() { None } else { verifier.verify_until(token).await?.ok() };
    let Some((caller, token_expires)) = verified else {
        let page = SignInPage {
            layout: Layout::new("Sign in", None),
            session_hours: state.console.session_hours,
            ended: false,
            error: Some(
                "That admin token was not accepted: it is mistyped, expired or revoked.".into(),
            ),
        };
        return render(StatusCode::UNAUTHORIZED, &page);
    };
    let Some(token_id) = caller.token_id else {
        return Err(ApiError::internal(anyhow::anyhow!("a verified admin token has no id")).into());
    };
    let longest = Utc::now().timestamp() + i64::from(state.console.session_hours) * 3600;
    let session = Session::new(Holder::Admin { token_id }, longest.min(token_expires.timestamp()));
    tracing::info!(admin_token.id = %token_id, "console: signed in");
    start(&state, &session, see_other("/console"))
}

/// `response`, with the session's cookie set.
fn start(
    state: &AppState,
    session: &Session,
    mut response: HttpResponse,
) -> Result<HttpResponse, ConsoleError> {
    let value = session.encode(&state.admin_keys).map_err(ApiError::internal)?;
    let cookie = header::HeaderValue::from_str(&session.cookie(&value, secure(state)))
        .map_err(ApiError::internal)?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// `POST /console/sign-out`: the cookie is cleared (a session is its cookie: nothing else to
/// forget).
pub async fn sign_out(state: web::Data<AppState>) -> HttpResponse {
    let mut response = see_other(SIGN_IN);
    if let Ok(cookie) = header::HeaderValue::from_str(&session::clear_cookie(secure(&state))) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Debug, Default, Deserialize)]
struct PortalQuery {
    token: Option<String>,
}

#[derive(Template)]
#[template(path = "console/portal.html")]
struct PortalPage {
    css: String,
    next: String,
}

/// `GET /console/portal?token=…`: a portal session for the link's directory, until the link
/// expires (or `console.session_hours`, if sooner); a link that is not valid or has expired is
/// 403.
///
/// The answer is a small page that goes on to the directory (a meta refresh, and a link), not
/// a redirect: a link opened from another site (a mail) is a cross-site navigation, and a
/// `SameSite=Strict` cookie it sets is not sent on a redirect that follows it; it is on a
/// navigation from this page.
pub async fn portal(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let q: PortalQuery = query(&req)?;
    let key = &state.admin_keys;
    let Some(grant) = q.token.as_deref().and_then(|token| portal::verify(key, token)) else {
        return Ok(ErrorPage::new(
            StatusCode::FORBIDDEN,
            "This portal link is not valid, or it has expired. Ask your vendor for a new one.",
        )
        .response());
    };
    let longest = Utc::now().timestamp() + i64::from(state.console.session_hours) * 3600;
    let session = Session::new(Holder::Portal(grant), longest.min(grant.expires_at));
    tracing::info!(portal_link.id = %grant.link_id, directory.id = %grant.directory_id, "console: portal link opened");
    let page = PortalPage {
        css: assets::url(assets::CSS),
        next: format!("/console/directories/{}", grant.directory_id),
    };
    start(&state, &session, render(StatusCode::OK, &page)?)
}
