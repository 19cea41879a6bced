//! The console's middleware: who is signed in, CSRF and cross-site checks, and the security
//! headers of every answer.
//!
//! - The session cookie is verified ([`Session::decode`]) and, for an admin session, its admin
//!   token is checked against its row (revoked or expired: the session has ended) and becomes
//!   the [`Caller`]; a portal session's caller is its grant's. Handlers take a [`Visitor`].
//! - Every request but `GET`/`HEAD` must come from the console itself: `Sec-Fetch-Site`, when
//!   sent, is `same-origin`, and `Origin`, when sent, is this host. Its form is read here (into
//!   [`Fields`]) and must carry the session's CSRF secret (the `csrf` field, or the
//!   `X-CSRF-Token` header htmx sends); only signing in, which has no session yet, is exempt.
//! - Every answer gets a Content-Security-Policy of `default-src 'self'` (no inline scripts, no
//!   third-party host), `X-Frame-Options: DENY`, `Referrer-Policy: same-origin` (portal links
//!   carry their token in the URL: no other site sees it; `no-referrer` would also blank the
//!   `Origin` of our own forms) and, unless it says otherwise (the assets), `Cache-Control:
//!   no-store`: pages may show secrets.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use futures::StreamExt;

use super::error::ConsoleError;
use super::session::{self, Holder, Session};
use crate::admin::auth::AdminVerifier;
use crate::control::{Caller, Scope, forbidden};
use crate::error::ApiError;
use crate::state::AppState;

/// The one route a non-`GET` request may reach without a CSRF secret: there is no session yet.
pub const SIGN_IN_PATH: &str = "/console/sign-in";
/// Where the console's assets are served; they need no session.
const ASSETS_PREFIX: &str = "/console/assets/";

/// The header htmx requests carry the CSRF secret in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field that carries it.
pub const CSRF_FIELD: &str = "csrf";

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/// Who is signed in: the control plane's caller and the session.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub caller: Caller,
    pub session: Session,
}

impl Visitor {
    /// A portal visitor: one directory and nothing else.
    pub fn portal_directory(&self) -> Option<uuid::Uuid> {
        match self.caller.scope {
            Scope::Directory { directory_id, .. } => Some(directory_id),
            _ => None,
        }
    }

    pub fn is_portal(&self) -> bool {
        self.portal_directory().is_some()
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }
}

/// Whether a request was made by htmx (it swaps the answer into the page).
pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("hx-request")
}

impl FromRequest for Visitor {
    type Error = ConsoleError;
    type Future = std::future::Ready<Result<Visitor, ConsoleError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(req.extensions().get::<Visitor>().cloned().ok_or_else(|| {
            ConsoleError::SignedOut {
                page: matches!(*req.method(), Method::GET | Method::HEAD),
                htmx: is_htmx(req),
                ended: req.extensions().contains::<SessionEnded>(),
            }
        }))
    }
}

/// The request carried a session that has ended (expired, or its admin token revoked).
#[derive(Debug, Clone, Copy)]
struct SessionEnded;

/// The fields of a submitted form, in order (a name may repeat: the rows of a table).
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, if the form had it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }
}

impl FromRequest for Fields {
    type Error = ConsoleError;
    type Future = std::future::Ready<Result<Fields, ConsoleError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(req.extensions().get::<Fields>().cloned().unwrap_or_default()))
    }
}

/// The middleware of the console's scope.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let secure = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.base_url.starts_with("https://"));
    let mut ended = false;
    let mut response = match admit(&mut req, &mut ended).await {
        Ok(()) => next.call(req).await?.map_into_boxed_body(),
        Err(error) => {
            let response = error.error_response();
            req.into_response(response).map_into_boxed_body()
        }
    };
    let headers = response.headers_mut();
    if ended && !headers.contains_key(header::SET_COOKIE) {
        insert(headers, header::SET_COOKIE, &session::clear_cookie(secure));
    }
    insert(headers, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    insert(headers, header::X_FRAME_OPTIONS, "DENY");
    insert(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    insert(headers, header::REFERRER_POLICY, "same-origin");
    insert(headers, header::HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    if !headers.contains_key(header::CACHE_CONTROL) {
        insert(headers, header::CACHE_CONTROL, "no-store");
    }
    Ok(response)
}

fn insert(headers: &mut header::HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = header::HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Find the visitor, and check a state-changing request. `ended`: the request carried a
/// session that is no more (the answer clears the cookie).
async fn admit(req: &mut ServiceRequest, ended: &mut bool) -> Result<(), ConsoleError> {
    if req.path().starts_with(ASSETS_PREFIX) {
        return Ok(());
    }
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
    let visitor = match session::cookie_value(req.request()) {
        None => None,
        Some(value) => {
            let found = resolve(req, &state, &value).await?;
            if found.is_none() {
                *ended = true;
                req.extensions_mut().insert(SessionEnded);
            }
            found
        }
    };
    if let Some(visitor) = &visitor {
        req.extensions_mut().insert(visitor.clone());
    }
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return Ok(());
    }
    if let Some(reason) = cross_site(req.request(), &state.base_url) {
        tracing::info!(reason, "console: a cross-site request was refused");
        return Err(forbidden(format!(
            "the request did not come from the console ({reason}); reload the page and try again"
        ))
        .into());
    }
    let fields = read_form(req, state.max_body_bytes).await?;
    if req.path() != SIGN_IN_PATH
        && let Some(visitor) = &visitor
    {
        let given = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .or_else(|| fields.get(CSRF_FIELD))
            .unwrap_or_default();
        if !visitor.session.csrf_matches(given) {
            return Err(forbidden(
                "the form is out of date or did not come from this session (its CSRF token does not match); reload the page and try again",
            )
            .into());
        }
    }
    req.extensions_mut().insert(fields);
    Ok(())
}

/// The visitor a session cookie stands for, if the session is valid and still in force.
async fn resolve(
    req: &ServiceRequest,
    state: &AppState,
    value: &str,
) -> Result<Option<Visitor>, ConsoleError> {
    let Some(session) = Session::decode(&state.admin_keys, value) else {
        return Ok(None);
    };
    let caller = match &session.holder {
        Holder::Admin { token_id } => {
            let verifier = req
                .app_data::<web::Data<AdminVerifier>>()
                .cloned()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no admin verifier")))?;
            match verifier.caller_by_id(*token_id).await? {
                Ok(caller) => caller,
                Err(_) => return Ok(None),
            }
        }
        Holder::Portal(grant) => grant.caller(),
    };
    Ok(Some(Visitor { caller, session }))
}

/// Why a state-changing request is not the console's own, if it is not.
pub fn cross_site(req: &HttpRequest, base_url: &str) -> Option<&'static str> {
    if let Some(site) = req.headers().get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return Some("Sec-Fetch-Site is not same-origin");
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        let authority = origin.split_once("://").map(|(_, rest)| rest);
        let host = req.connection_info().host().to_string();
        let public = base_url.split_once("://").map(|(_, rest)| rest);
        let same = authority.is_some_and(|a| a.eq_ignore_ascii_case(&host))
            || (authority.is_some() && authority == public);
        if !same {
            return Some("Origin is another site");
        }
    }
    None
}

/// Read a form body (`application/x-www-form-urlencoded`, at most `limit` bytes).
async fn read_form(req: &mut ServiceRequest, limit: usize) -> Result<Fields, ConsoleError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let form = content_type.is_empty()
        || content_type.split(';').next().map(str::trim)
            == Some("application/x-www-form-urlencoded");
    let mut payload = req.take_payload();
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| crate::control::bad_request(format!("could not read the form: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(crate::body::too_large(limit).into());
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.is_empty() {
        return Ok(Fields::default());
    }
    if !form {
        return Err(ApiError::Scim(roster_scim::ScimError::new(
            415,
            None,
            "the console takes forms (application/x-www-form-urlencoded)",
        ))
        .into());
    }
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .map(Fields)
        .map_err(|e| crate::control::bad_request(format!("the form could not be read: {e}")).into())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn request(headers: &[(&str, &str)]) -> HttpRequest {
        let mut req = TestRequest::post().uri("/console/tenants");
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        req.insert_header((header::HOST, "console.example:8080")).to_http_request()
    }

    const BASE: &str = "https://roster.example";

    #[test]
    fn the_consoles_own_requests_pass() {
        assert_eq!(cross_site(&request(&[]), BASE), None);
        assert_eq!(cross_site(&request(&[("sec-fetch-site", "same-origin")]), BASE), None);
        let same = [("origin", "http://console.example:8080"), ("sec-fetch-site", "same-origin")];
        assert_eq!(cross_site(&request(&same), BASE), None);
        // Behind a proxy: the public URL's origin.
        assert_eq!(cross_site(&request(&[("origin", "https://roster.example")]), BASE), None);
    }

    #[test]
    fn cross_site_requests_are_refused() {
        for headers in [
            &[("sec-fetch-site", "cross-site")][..],
            &[("sec-fetch-site", "same-site")],
            &[("sec-fetch-site", "none")],
            &[("origin", "https://evil.example")],
            &[("origin", "http://console.example:8081")],
            &[("origin", "null")],
            &[("origin", "http://console.example:8080"), ("sec-fetch-site", "cross-site")],
        ] {
            assert!(cross_site(&request(headers), BASE).is_some(), "{headers:?}");
        }
    }

    #[test]
    fn repeated_fields_keep_their_order() {
        let fields = Fields(vec![
            ("app_role".into(), "a".into()),
            ("csrf".into(), "x".into()),
            ("app_role".into(), "".into()),
            ("app_role".into(), "c".into()),
        ]);
        assert_eq!(fields.all("app_role"), ["a", "", "c"]);
        assert_eq!(fields.get("csrf"), Some("x"));
        assert_eq!(fields.get("nope"), None);
    }
}
