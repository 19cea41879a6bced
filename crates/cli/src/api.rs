//! A small client of the admin API (`/admin/v1`, design 0006) over HTTP: what the CLI's
//! commands call so that an operator needs an API URL and an admin token, never the database.
//!
//! Requests are blocking (the CLI does one thing at a time). Redirects are not followed: a
//! `POST` must not become a `GET`, nor the token go to another host; a 3xx is reported with its
//! `Location`. Failures are [`ApiError`]s whose message is one line fit for a terminal: a
//! problem+json answer is `404 no directory …`, an unreachable server names the URL it tried.
//! The admin token is never part of a message.

use std::io::Read;
use std::time::Duration;

use reqwest::blocking::Response;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// How long one request may take in all. Deleting a tenant waits for the outcome of every
/// directory's deletion, so this is generous.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an error body read to explain the failure.
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// The most of a detail shown from an answer that is not problem+json.
const MAX_SHOWN_TEXT: usize = 200;

/// Why a call of the admin API failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API answered with an error status: `404 no directory …`.
    #[error("{status} {detail}")]
    Status { status: u16, detail: String },
    /// The server could not be reached (refused, DNS, TLS, timeout).
    #[error("could not reach the admin API at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    /// It answered 2xx, but not with what the admin API answers.
    #[error(
        "the answer of {url} is not the admin API's ({cause}): is --api-url the Roster gateway?"
    )]
    Unexpected { url: String, cause: String },
    /// A command that needs a token was given none.
    #[error("no admin token: set ROSTER_ADMIN_TOKEN (or pass --admin-token)")]
    NoToken,
    /// The token has characters an HTTP header cannot carry.
    #[error(
        "the admin token is not a valid bearer token (it has characters a header cannot carry)"
    )]
    BadToken,
    /// The base URL is not an absolute http(s) URL.
    #[error("--api-url {0:?} is not an http:// or https:// URL")]
    BadUrl(String),
}

impl ApiError {
    /// The HTTP status of an API error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client of one Roster gateway's admin API.
pub struct Client {
    /// The gateway's base URL, with a path ending in `/` (`https://roster.example.com/`).
    base: Url,
    token: Option<SecretString>,
    http: reqwest::blocking::Client,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

/// A successful answer: its status, its `ETag`, and its JSON body (none for 204).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    pub body: Option<Value>,
}

impl Answer {
    /// The body, or `null` for an answer without one.
    pub fn into_body(self) -> Value {
        self.body.unwrap_or(Value::Null)
    }
}

/// One page of a list: `{"items": […], "nextCursor": "…" | null}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Value>,
    pub next_cursor: Option<String>,
}

/// A request of the API: method, path segments after `/admin/v1`, query, body, `If-Match`.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    segments: Vec<String>,
    query: Vec<(String, String)>,
    body: Option<Value>,
    if_match: Option<String>,
}

impl Request {
    /// `segments` are the path after `/admin/v1`, one segment each (ids are percent-encoded,
    /// so an id can never climb to another path).
    pub fn new<S: AsRef<str>>(method: Method, segments: &[S]) -> Request {
        Request {
            method,
            segments: segments.iter().map(|s| s.as_ref().to_string()).collect(),
            query: Vec::new(),
            body: None,
            if_match: None,
        }
    }

    pub fn get<S: AsRef<str>>(segments: &[S]) -> Request {
        Request::new(Method::GET, segments)
    }

    /// Add a query parameter, if it has a value.
    pub fn query(mut self, name: &str, value: Option<impl ToString>) -> Request {
        if let Some(value) = value {
            self.query.push((name.to_string(), value.to_string()));
        }
        self
    }

    pub fn json(mut self, body: Value) -> Request {
        self.body = Some(body);
        self
    }

    /// `If-Match: "<version>"`.
    pub fn if_match(mut self, version: Option<i64>) -> Request {
        self.if_match = version.map(|v| format!("\"{v}\""));
        self
    }
}

impl Client {
    /// A client of the gateway at `base_url` (`http://127.0.0.1:8080`; a path prefix, a trailing
    /// slash or a trailing `/admin/v1` are all fine).
    pub fn new(base_url: &str, token: Option<SecretString>) -> Result<Client, ApiError> {
        let bad = || ApiError::BadUrl(base_url.to_string());
        let mut base = Url::parse(base_url.trim()).map_err(|_| bad())?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(bad());
        }
        base.set_query(None);
        base.set_fragment(None);
        let path = base.path().trim_end_matches('/');
        let path = path.strip_suffix("/admin/v1").unwrap_or(path).to_string();
        base.set_path(&format!("{path}/"));
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("roster-cli/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ApiError::Unreachable { url: shown(&base), cause: cause(&e) })?;
        // A token read from a file may end with a newline: it is no part of the token.
        let token = token
            .map(|t| SecretString::from(t.expose_secret().trim().to_string()))
            .filter(|t| !t.expose_secret().is_empty());
        Ok(Client { base, token, http })
    }

    /// Whether the token would cross a network unencrypted: `http://` to another machine.
    pub fn is_cleartext_to_another_host(&self) -> bool {
        let host = self.base.host_str().unwrap_or_default();
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        self.base.scheme() == "http" && !loopback
    }

    /// The gateway's base URL, as given (without any credentials in it).
    pub fn base_url(&self) -> String {
        shown(&self.base)
    }

    /// The URL of a request (path after `/admin/v1`, and its query).
    fn url(&self, request: &Request) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["admin", "v1"]).extend(&request.segments);
        }
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        url
    }

    /// Send a request that needs the admin token.
    pub fn send(&self, request: Request) -> Result<Answer, ApiError> {
        let token = self.token.as_ref().ok_or(ApiError::NoToken)?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| ApiError::BadToken)?;
        bearer.set_sensitive(true);
        self.execute(request, Some(bearer))
    }

    /// Send a request without a token (`GET /admin/v1/openapi.json`).
    pub fn send_anonymous(&self, request: Request) -> Result<Answer, ApiError> {
        self.execute(request, None)
    }

    fn execute(&self, request: Request, bearer: Option<HeaderValue>) -> Result<Answer, ApiError> {
        let url = self.url(&request);
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(bearer) = bearer {
            headers.insert(header::AUTHORIZATION, bearer);
        }
        if let Some(value) = request.if_match.as_deref().and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(header::IF_MATCH, value);
        }
        let mut builder = self.http.request(request.method.clone(), url.clone()).headers(headers);
        if let Some(body) = &request.body {
            builder =
                builder.header(header::CONTENT_TYPE, "application/json").body(body.to_string());
        }
        let response = builder
            .send()
            .map_err(|e| ApiError::Unreachable { url: shown(&url), cause: cause(&e) })?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.redact(failure(response)));
        }
        let etag =
            response.headers().get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = response
            .bytes()
            .map_err(|e| ApiError::Unreachable { url: shown(&url), cause: cause(&e) })?;
        let body = if status == StatusCode::NO_CONTENT || bytes.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(&bytes).map_err(|_| ApiError::Unexpected {
                url: shown(&url),
                cause: format!("{} with a body that is not JSON", status.as_u16()),
            })?)
        };
        Ok(Answer { status: status.as_u16(), etag, body })
    }

    /// One page of a list (`cursor` and `limit` added to the request's query).
    pub fn page(
        &self,
        request: &Request,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page, ApiError> {
        let url = shown(&self.url(request));
        let request = request.clone().query("cursor", cursor).query("limit", limit);
        let body = self.send(request)?.into_body();
        parse_page(body).map_err(|cause| ApiError::Unexpected { url, cause })
    }

    /// Never let the token out in a message, even if a server echoed it.
    fn redact(&self, error: ApiError) -> ApiError {
        let Some(token) = &self.token else { return error };
        let secret = token.expose_secret();
        match error {
            ApiError::Status { status, detail } if detail.contains(secret) => {
                ApiError::Status { status, detail: detail.replace(secret, "[redacted]") }
            }
            other => other,
        }
    }
}

/// `{"items": […], "nextCursor": "…" | null}` (a missing `nextCursor` is the last page).
fn parse_page(body: Value) -> Result<Page, String> {
    let Value::Object(mut object) = body else {
        return Err("a list answer is not a JSON object".into());
    };
    let items = match object.remove("items") {
        Some(Value::Array(items)) => items,
        _ => return Err("a list answer has no \"items\" array".into()),
    };
    let next_cursor = match object.remove("nextCursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(cursor)) if cursor.is_empty() => None,
        Some(Value::String(cursor)) => Some(cursor),
        Some(_) => return Err("\"nextCursor\" is neither a string nor null".into()),
    };
    Ok(Page { items, next_cursor })
}

/// The error an answer with a failing status stands for: the problem's `detail` (or `title`),
/// else the status's reason and the start of a short text body.
fn failure(response: Response) -> ApiError {
    let status = response.status();
    let location =
        response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut text = String::new();
    let _ = response.take(MAX_ERROR_BODY).read_to_string(&mut text);
    let reason = status.canonical_reason().unwrap_or("error").to_string();
    let from_json = serde_json::from_str::<Value>(&text).ok().and_then(|body| {
        ["detail", "title"]
            .iter()
            .find_map(|field| body.get(field).and_then(Value::as_str).map(str::to_string))
            .filter(|d| !d.trim().is_empty())
    });
    let detail = match (from_json, location) {
        (Some(detail), _) => one_line(&detail, usize::MAX),
        (None, Some(location)) if status.is_redirection() => format!(
            "{reason}, to {}: give that address as --api-url",
            one_line(&location, MAX_SHOWN_TEXT)
        ),
        (None, _) => {
            let text = one_line(&text, MAX_SHOWN_TEXT);
            // An HTML error page (a proxy's) says nothing a terminal can show.
            if text.is_empty() || text.starts_with('<') {
                reason
            } else {
                format!("{reason}: {text}")
            }
        }
    };
    ApiError::Status { status: status.as_u16(), detail }
}

/// `text` on one line (control characters and runs of whitespace become one space), at most
/// `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let words: Vec<&str> = text.split(|c: char| c.is_whitespace() || c.is_control()).collect();
    let joined = words.into_iter().filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
    if joined.chars().count() > max {
        let mut cut: String = joined.chars().take(max).collect();
        cut.push('…');
        cut
    } else {
        joined
    }
}

/// A URL as shown in a message: without user name or password.
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// The innermost cause of a transport error (`Connection refused (os error 111)`), and
/// whether it was a timeout; never the URL again, never a header.
fn cause(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".into();
    }
    let mut innermost: &dyn std::error::Error = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    let text = one_line(&innermost.to_string(), MAX_SHOWN_TEXT);
    if text.is_empty() { "the connection failed".into() } else { text }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;
    use crate::testing::{Canned, Server};

    const TOKEN: &str = "adm.in-t0ken";

    fn client(server: &Server) -> Client {
        Client::new(&server.url(), Some(SecretString::from(TOKEN))).unwrap()
    }

    #[test]
    fn a_problem_is_its_status_and_detail_on_one_line() {
        let server = Server::start(vec![Canned::problem(404, "no directory 7d0c…")]);
        let error = client(&server).send(Request::get(&["directories", "7d0c"])).unwrap_err();
        assert_eq!(error.to_string(), "404 no directory 7d0c…");
        assert_eq!(error.status(), Some(404));
        let request = server.request(0);
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/admin/v1/directories/7d0c");
        assert_eq!(request.header("authorization").as_deref(), Some("Bearer adm.in-t0ken"));
    }

    #[test]
    fn a_detail_with_line_breaks_stays_on_one_line() {
        let body = json!({"title": "Bad Request", "status": 400, "detail": "name:\n\tmust not\r\nbe empty"});
        let server = Server::start(vec![Canned::json(400, "application/problem+json", &body)]);
        let error = client(&server).send(Request::get(&["tenants"])).unwrap_err();
        assert_eq!(error.to_string(), "400 name: must not be empty");
    }

    #[test]
    fn a_problem_without_detail_shows_its_title() {
        let body = json!({"type": "about:blank", "title": "Forbidden", "status": 403});
        let server = Server::start(vec![Canned::json(403, "application/problem+json", &body)]);
        let error = client(&server).send(Request::get(&["tenants"])).unwrap_err();
        assert_eq!(error.to_string(), "403 Forbidden");
    }

    #[test]
    fn an_answer_that_is_not_json_shows_the_reason_and_some_text() {
        let server = Server::start(vec![
            Canned::text(502, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>"),
            Canned::text(503, "text/plain", "upstream connect error\nor disconnect"),
            Canned::text(500, "text/plain", ""),
        ]);
        let client = client(&server);
        let error = |_| client.send(Request::get(&["tenants"])).unwrap_err().to_string();
        assert_eq!(error(0), "502 Bad Gateway");
        assert_eq!(error(1), "503 Service Unavailable: upstream connect error or disconnect");
        assert_eq!(error(2), "500 Internal Server Error");
    }

    #[test]
    fn a_token_echoed_by_a_server_is_redacted() {
        let server = Server::start(vec![Canned::problem(401, &format!("bad token {TOKEN}"))]);
        let error = client(&server).send(Request::get(&["tenants"])).unwrap_err();
        assert_eq!(error.to_string(), "401 bad token [redacted]");
    }

    #[test]
    fn an_unreachable_server_is_named_and_the_token_is_not() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client =
            Client::new(&format!("http://127.0.0.1:{port}"), Some(SecretString::from(TOKEN)))
                .unwrap();
        let message = client.send(Request::get(&["tenants"])).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!(
                "could not reach the admin API at http://127.0.0.1:{port}/admin/v1/tenants: "
            )),
            "{message}"
        );
        assert!(message.to_lowercase().contains("refused"), "{message}");
        assert!(!message.contains(TOKEN), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn credentials_in_the_url_are_not_shown() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client = Client::new(&format!("http://ops:hunter2@127.0.0.1:{port}"), None).unwrap();
        let message = client.send_anonymous(Request::get(&["openapi.json"])).unwrap_err();
        assert!(!message.to_string().contains("hunter2"), "{message}");
        assert_eq!(client.base_url(), format!("http://127.0.0.1:{port}/"));
    }

    #[test]
    fn without_a_token_nothing_is_sent() {
        let server = Server::start(vec![]);
        let client = Client::new(&server.url(), Some(SecretString::from(""))).unwrap();
        let error = client.send(Request::get(&["tenants"])).unwrap_err();
        assert!(matches!(error, ApiError::NoToken), "{error}");
        assert_eq!(server.requests().len(), 0);
        let bad = Client::new(&server.url(), Some(SecretString::from("a\nb"))).unwrap();
        let error = bad.send(Request::get(&["tenants"])).unwrap_err();
        assert!(matches!(error, ApiError::BadToken), "{error}");
        assert!(!error.to_string().contains("a\nb"));
    }

    #[test]
    fn a_token_is_trimmed_and_plain_http_to_another_host_is_told() {
        let server = Server::start(vec![Canned::no_content()]);
        let client = Client::new(&server.url(), Some(SecretString::from(" t0k\n"))).unwrap();
        client.send(Request::new(Method::DELETE, &["tenants", "t"])).unwrap();
        assert_eq!(server.request(0).header("authorization").as_deref(), Some("Bearer t0k"));
        assert!(!client.is_cleartext_to_another_host());
        for (url, cleartext) in [
            ("http://localhost:8080", false),
            ("http://[::1]:8080", false),
            ("https://roster.example.com", false),
            ("http://roster.example.com", true),
            ("http://10.0.0.7:8080", true),
        ] {
            assert_eq!(Client::new(url, None).unwrap().is_cleartext_to_another_host(), cleartext);
        }
    }

    #[test]
    fn the_base_url_may_have_a_prefix_a_slash_or_the_api_path() {
        let server = Server::start(vec![Canned::no_content(); 3]);
        for base in ["/roster", "/roster/", "/roster/admin/v1/"] {
            let client =
                Client::new(&format!("{}{base}", server.url()), Some(SecretString::from(TOKEN)))
                    .unwrap();
            let answer = client.send(Request::new(Method::DELETE, &["tenants", "t1"])).unwrap();
            assert_eq!(answer, Answer { status: 204, etag: None, body: None });
        }
        for i in 0..3 {
            assert_eq!(server.request(i).path, "/roster/admin/v1/tenants/t1");
            assert_eq!(server.request(i).method, "DELETE");
        }
        for bad in ["127.0.0.1:8080", "ftp://example.com", "mailto:ops@example.com", ""] {
            assert!(matches!(Client::new(bad, None), Err(ApiError::BadUrl(_))), "{bad}");
        }
    }

    #[test]
    fn ids_cannot_climb_out_of_their_segment() {
        let server = Server::start(vec![Canned::json(200, "application/json", &json!({}))]);
        client(&server).send(Request::get(&["directories", "../tenants?x=1#"])).unwrap();
        assert_eq!(server.request(0).path, "/admin/v1/directories/..%2Ftenants%3Fx=1%23");
    }

    #[test]
    fn a_body_is_json_with_if_match_and_the_etag_comes_back() {
        let answer = Canned::json(200, "application/json", &json!({"version": 4}))
            .with_header("ETag", "\"4\"");
        let server = Server::start(vec![answer]);
        let request = Request::new(Method::PUT, &["directories", "d", "role-mappings"])
            .json(json!({"defaultRole": "member"}))
            .if_match(Some(3));
        let answer = client(&server).send(request).unwrap();
        assert_eq!(answer.etag.as_deref(), Some("\"4\""));
        assert_eq!(answer.into_body(), json!({"version": 4}));
        let seen = server.request(0);
        assert_eq!(seen.method, "PUT");
        assert_eq!(seen.header("if-match").as_deref(), Some("\"3\""));
        assert_eq!(seen.header("content-type").as_deref(), Some("application/json"));
        assert_eq!(
            serde_json::from_slice::<Value>(&seen.body).unwrap(),
            json!({"defaultRole": "member"})
        );
    }

    #[test]
    fn redirects_are_reported_not_followed() {
        let moved = Canned::text(301, "text/html", "<a>moved</a>")
            .with_header("Location", "https://roster.example.com/admin/v1/tenants");
        let server = Server::start(vec![moved]);
        let error = client(&server).send(Request::get(&["tenants"])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "301 Moved Permanently, to https://roster.example.com/admin/v1/tenants: give that \
             address as --api-url"
        );
        assert_eq!(server.requests().len(), 1);
    }

    #[test]
    fn a_success_that_is_not_json_is_not_taken_for_an_answer() {
        let server = Server::start(vec![Canned::text(200, "text/html", "<html>hello</html>")]);
        let error = client(&server).send(Request::get(&["tenants"])).unwrap_err();
        assert!(matches!(error, ApiError::Unexpected { .. }), "{error}");
        assert!(error.to_string().contains("is --api-url the Roster gateway?"), "{error}");
    }

    #[test]
    fn a_page_has_items_and_maybe_a_cursor() {
        let pages = vec![
            Canned::json(
                200,
                "application/json",
                &json!({"items": [{"id": 1}], "nextCursor": "c2"}),
            ),
            Canned::json(200, "application/json", &json!({"items": [], "nextCursor": null})),
            Canned::json(200, "application/json", &json!({"tenants": []})),
        ];
        let server = Server::start(pages);
        let client = client(&server);
        let request = Request::get(&["tenants"]).query("name", Some("a b"));
        let page = client.page(&request, None, Some(50)).unwrap();
        assert_eq!(page, Page { items: vec![json!({"id": 1})], next_cursor: Some("c2".into()) });
        let page = client.page(&request, Some("c2"), None).unwrap();
        assert_eq!(page, Page { items: vec![], next_cursor: None });
        let error = client.page(&request, None, None).unwrap_err();
        assert!(error.to_string().contains("no \"items\" array"), "{error}");
        assert_eq!(server.request(0).path, "/admin/v1/tenants?name=a+b&limit=50");
        assert_eq!(server.request(1).path, "/admin/v1/tenants?name=a+b&cursor=c2");
    }
}
