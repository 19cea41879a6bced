//! What every page shares: the layout (title, who is signed in, breadcrumbs, the CSRF secret for
//! forms and htmx, the assets), a directory's tabs, rendering, and how times are shown.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::assets;
use super::error::{ConsoleError, HTML};
use super::guard::Visitor;
use crate::control::Scope;
use crate::error::ApiError;

/// A link: breadcrumbs, tabs.
#[derive(Debug, Clone)]
pub struct Link {
    pub label: String,
    pub href: String,
    pub current: bool,
}

/// The frame of every page (`templates/console/base.html`).
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    /// The session's CSRF secret, in every form and in htmx's headers; empty when signed out.
    pub csrf: String,
    /// "Signed in as …", when someone is.
    pub who: Option<String>,
    pub crumbs: Vec<Link>,
    pub css: String,
    pub htmx: String,
    pub script: String,
}

impl Layout {
    pub fn new(title: impl Into<String>, visitor: Option<&Visitor>) -> Layout {
        Layout {
            title: title.into(),
            csrf: visitor.map(|v| v.csrf().to_string()).unwrap_or_default(),
            who: visitor.map(describe),
            crumbs: Vec::new(),
            css: assets::url(assets::CSS),
            htmx: assets::url(assets::HTMX),
            script: assets::url(assets::SCRIPT),
        }
    }

    /// Add a breadcrumb (the last one added is the current page).
    pub fn crumb(mut self, label: impl Into<String>, href: impl Into<String>) -> Layout {
        self.crumbs.push(Link { label: label.into(), href: href.into(), current: false });
        let last = self.crumbs.len() - 1;
        for (i, crumb) in self.crumbs.iter_mut().enumerate() {
            crumb.current = i == last;
        }
        self
    }

    /// The breadcrumbs of an admin's page (a portal visitor has none: one directory only).
    pub fn crumbs_for(self, visitor: &Visitor, trail: &[(&str, String)]) -> Layout {
        if visitor.is_portal() {
            return self;
        }
        let mut layout = self.crumb("Tenants", "/console/tenants");
        for (label, href) in trail {
            layout = layout.crumb(*label, href.clone());
        }
        layout
    }
}

/// "ops (operator)", "ada (tenant admin)", "a portal link, until 10:32 UTC".
fn describe(visitor: &Visitor) -> String {
    match visitor.caller.scope {
        Scope::Operator => format!("{} (operator)", visitor.caller.subject),
        Scope::Tenant(_) => format!("{} (tenant admin)", visitor.caller.subject),
        Scope::Directory { .. } => {
            let until = DateTime::<Utc>::from_timestamp(visitor.session.expires_at, 0)
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default();
            format!("a portal link, until {until}")
        }
    }
}

/// The pages of a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Connect,
    RoleMapping,
    Log,
    Users,
    Groups,
}

/// A directory's tabs, `current` marked.
pub fn directory_tabs(directory_id: Uuid, current: Tab) -> Vec<Link> {
    let base = format!("/console/directories/{directory_id}");
    [
        (Tab::Connect, "Connect and health", base.clone()),
        (Tab::RoleMapping, "Role mapping", format!("{base}/role-mapping")),
        (Tab::Log, "Provisioning log", format!("{base}/log")),
        (Tab::Users, "Users", format!("{base}/users")),
        (Tab::Groups, "Groups", format!("{base}/groups")),
    ]
    .into_iter()
    .map(|(tab, label, href)| Link { label: label.to_string(), href, current: tab == current })
    .collect()
}

/// A page as an HTML response of `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, ConsoleError> {
    let body = page.render().map_err(ApiError::internal)?;
    Ok(HttpResponse::build(status).content_type(HTML).body(body))
}

/// `200 OK` with a page.
pub fn ok(page: &impl Template) -> Result<HttpResponse, ConsoleError> {
    render(StatusCode::OK, page)
}

/// An error a form shows next to its fields (the form is shown again with its status): bad
/// input, or a name already taken. Anything else is an error page.
pub fn form_error(error: &ApiError) -> Option<(StatusCode, String)> {
    match error {
        ApiError::Scim(e) if matches!(e.status, 400 | 409 | 412 | 413) => {
            Some((StatusCode::from_u16(e.status).ok()?, e.detail.clone()))
        }
        _ => None,
    }
}

/// A query-string value, percent-encoded.
pub fn encode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

/// A query string as `T`, else a 400 page saying why.
pub fn query<T: serde::de::DeserializeOwned>(
    req: &actix_web::HttpRequest,
) -> Result<T, ConsoleError> {
    serde_urlencoded::from_str(req.query_string()).map_err(|e| {
        ConsoleError::from(crate::control::bad_request(format!("bad query string: {e}")))
    })
}

/// `303 See Other` to `location` (after a form changed something).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((actix_web::http::header::LOCATION, location)).finish()
}

/// A time of the control plane's views (RFC 3339) as the console shows it:
/// `2026-05-01 10:32:05 UTC`.
pub fn when(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&Utc).format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// An optional time, or a dash.
pub fn when_or_never(rfc3339: Option<&str>, never: &str) -> String {
    rfc3339.map(when).unwrap_or_else(|| never.to_string())
}

/// A list for a table cell, or a dash.
pub fn list_or_dash<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        "—".to_string()
    } else {
        items.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", ")
    }
}

/// An id shortened for a table (the whole id is in its `title`).
pub fn short_id(id: &Uuid) -> String {
    id.simple().to_string()[..8].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_in_utc_to_the_second() {
        assert_eq!(when("2026-05-01T10:32:05.123Z"), "2026-05-01 10:32:05 UTC");
        assert_eq!(when("2026-05-01T12:32:05+02:00"), "2026-05-01 10:32:05 UTC");
        assert_eq!(when("not a time"), "not a time");
        assert_eq!(when_or_never(None, "never"), "never");
    }

    #[test]
    fn lists_and_ids_for_tables() {
        assert_eq!(list_or_dash::<&str>(&[]), "—");
        assert_eq!(list_or_dash(&["a", "b"]), "a, b");
        let id = Uuid::parse_str("6f1c1a52-6a52-4b4c-9d1e-0a0b0c0d0e0f").unwrap_or_default();
        assert_eq!(short_id(&id), "6f1c1a52");
    }
}
