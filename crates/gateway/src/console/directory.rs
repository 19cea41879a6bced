//! One directory's page, the one a customer's IT admin sees: the Tenant URL and Secret Token
//! (generate, copy, rotate, revoke), Entra's setup steps with these values filled in, the
//! health panel, the deprovisioning setting; for admins also portal links and deletion.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::activity::{HealthView, directory_frame, health_of};
use super::error::ConsoleError;
use super::guard::{Fields, Visitor};
use super::layout::{
    Layout, Link, Tab, form_error, ok, query, render, see_other, short_id, when, when_or_never,
};
use super::tenants::ConfirmPage;
use crate::control::directories::{self, DirectoryView, SettingsInput};
use crate::control::portal::{self, PortalLinkInput};
use crate::control::tokens::{self, IssuedToken, TokenInput, TokenView};
use crate::error::ApiError;
use crate::lag::PipelineLag;
use crate::state::AppState;

pub struct TokenRow {
    pub id: String,
    pub short_id: String,
    pub description: String,
    pub created: String,
    pub last_used: String,
    pub expires: String,
    pub status: String,
    pub active: bool,
}

fn token_row(t: &TokenView) -> TokenRow {
    TokenRow {
        id: t.id.to_string(),
        short_id: short_id(&t.id),
        description: if t.description.is_empty() { "—".into() } else { t.description.clone() },
        created: when(&t.created_at),
        last_used: when_or_never(t.last_used_at.as_deref(), "never"),
        expires: when_or_never(t.expires_at.as_deref(), "never"),
        status: match t.status.as_str() {
            "active" => "✓ Active".to_string(),
            "revoked" => {
                format!("✗ Revoked {}", t.revoked_at.as_deref().map(when).unwrap_or_default())
            }
            "expired" => "✗ Expired".to_string(),
            other => other.to_string(),
        },
        active: t.status == "active",
    }
}

/// A secret token just generated: shown this once.
pub struct Issued {
    pub token: String,
    pub short_id: String,
    /// The token it rotates, if it was made to replace one.
    pub replaces: Option<String>,
}

pub struct ShownLink {
    pub url: String,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "console/directory.html")]
struct DirectoryPage {
    layout: Layout,
    tabs: Vec<Link>,
    directory: DirectoryView,
    tokens: Vec<TokenRow>,
    active_tokens: usize,
    issued: Option<Issued>,
    portal_link: Option<ShownLink>,
    notice: Option<String>,
    error: Option<String>,
    health: HealthView,
    /// An admin, not a portal visitor: portal links and deletion.
    admin: bool,
    portal_minutes: u32,
    portal_max_minutes: u32,
}

/// What the page shows besides the directory.
#[derive(Default)]
struct Shown {
    issued: Option<Issued>,
    portal_link: Option<ShownLink>,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
}

async fn directory_page(
    state: &AppState,
    lag: &PipelineLag,
    visitor: &Visitor,
    id: &str,
    shown: Shown,
) -> Result<HttpResponse, ConsoleError> {
    let directory = directories::get(state, &visitor.caller, id).await?;
    let id = directory.id.to_string();
    let (layout, tabs) =
        directory_frame(state, visitor, &directory, "Connect and health", Tab::Connect).await?;
    let tokens: Vec<TokenRow> =
        tokens::list(state, &visitor.caller, &id).await?.iter().map(token_row).collect();
    let health = health_of(state, lag, &visitor.caller, &id).await?;
    let (status, error) = match shown.error {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let page = DirectoryPage {
        layout,
        tabs,
        active_tokens: tokens.iter().filter(|t| t.active).count(),
        tokens,
        issued: shown.issued,
        portal_link: shown.portal_link,
        notice: shown.notice,
        error,
        health,
        admin: !visitor.is_portal(),
        portal_minutes: state.console.portal_link_default_minutes,
        portal_max_minutes: state.console.portal_link_max_minutes,
        directory,
    };
    render(status, &page)
}

#[derive(Debug, Default, Deserialize)]
struct DirectoryQuery {
    /// What was just done (after a redirect): `revoked`, `settings`, `rules`.
    done: Option<String>,
}

/// `GET /console/directories/{id}`.
pub async fn show(
    state: web::Data<AppState>,
    lag: web::Data<PipelineLag>,
    visitor: Visitor,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let q: DirectoryQuery = query(&req)?;
    let notice = match q.done.as_deref() {
        Some("revoked") => {
            Some("The token was revoked: Entra's requests with it now answer 401.".to_string())
        }
        Some("settings") => Some("The setting was saved.".to_string()),
        _ => None,
    };
    directory_page(&state, &lag, &visitor, &path, Shown { notice, ..Shown::default() }).await
}

/// `POST /console/directories/{id}/tokens` `description=…&replaces=…`: a new secret token,
/// shown on the page this once. With `replaces` (a rotation) the old token keeps working until
/// it is revoked.
pub async fn issue_token(
    state: web::Data<AppState>,
    lag: web::Data<PipelineLag>,
    visitor: Visitor,
    path: web::Path<String>,
    fields: Fields,
) -> Result<HttpResponse, ConsoleError> {
    let replaces = fields.get("replaces").filter(|r| !r.is_empty()).map(str::to_string);
    let description = match (fields.get("description").map(str::trim), &replaces) {
        (Some(text), _) if !text.is_empty() => Some(text.to_string()),
        (_, Some(old)) => Some(format!("replaces {}", old.chars().take(8).collect::<String>())),
        _ => None,
    };
    let input = TokenInput { expires_at: None, description };
    let shown = match tokens::issue(&state, &visitor.caller, &path, input).await {
        Ok(IssuedToken { id, token, .. }) => Shown {
            issued: Some(Issued {
                token,
                short_id: short_id(&id),
                replaces: replaces.map(|r| r.chars().take(8).collect()),
            }),
            ..Shown::default()
        },
        Err(error) => Shown { error: Some(shown_error(error)?), ..Shown::default() },
    };
    directory_page(&state, &lag, &visitor, &path, shown).await
}

/// A form's error to show on the page, or the error page.
fn shown_error(error: ApiError) -> Result<(StatusCode, String), ConsoleError> {
    form_error(&error).ok_or(ConsoleError::Api(error))
}

/// `POST /console/directories/{id}/tokens/{token}/revoke`.
pub async fn revoke_token(
    state: web::Data<AppState>,
    visitor: Visitor,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (directory, token) = path.into_inner();
    tokens::revoke(&state, &visitor.caller, &directory, &token).await?;
    Ok(see_other(&format!("/console/directories/{directory}?done=revoked#tokens")))
}

/// `POST /console/directories/{id}/portal-links` `minutes=…`: a link for the customer's IT
/// admin, shown on the page.
pub async fn create_portal_link(
    state: web::Data<AppState>,
    lag: web::Data<PipelineLag>,
    visitor: Visitor,
    path: web::Path<String>,
    fields: Fields,
) -> Result<HttpResponse, ConsoleError> {
    let minutes = match fields.get("minutes").map(str::trim).filter(|m| !m.is_empty()) {
        None => Ok(None),
        Some(text) => text.parse::<u32>().map(Some).map_err(|_| {
            crate::control::bad_request(format!(
                "the link's lifetime must be a number of minutes between 1 and {}",
                state.console.portal_link_max_minutes
            ))
        }),
    };
    let issued = match minutes {
        Ok(minutes) => {
            portal::issue(
                &state,
                &visitor.caller,
                &path,
                PortalLinkInput { expires_in_minutes: minutes },
            )
            .await
        }
        Err(error) => Err(error),
    };
    let shown = match issued {
        Ok(link) => Shown {
            portal_link: Some(ShownLink { url: link.url, expires: when(&link.expires_at) }),
            ..Shown::default()
        },
        Err(error) => Shown { error: Some(shown_error(error)?), ..Shown::default() },
    };
    directory_page(&state, &lag, &visitor, &path, shown).await
}

/// `POST /console/directories/{id}/settings` `deprovision_policy=…`.
pub async fn change_settings(
    state: web::Data<AppState>,
    lag: web::Data<PipelineLag>,
    visitor: Visitor,
    path: web::Path<String>,
    fields: Fields,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let input = SettingsInput {
        deprovision_policy: fields.get("deprovision_policy").unwrap_or_default().to_string(),
    };
    let request_id = crate::state::request_id(&req);
    match directories::change_settings(&state, &visitor.caller, &path, &request_id, input).await {
        Ok(_) => Ok(see_other(&format!("/console/directories/{path}?done=settings#settings"))),
        Err(error) => {
            let shown = Shown { error: Some(shown_error(error)?), ..Shown::default() };
            directory_page(&state, &lag, &visitor, &path, shown).await
        }
    }
}

/// `GET /console/directories/{id}/delete`.
pub async fn confirm_delete(
    state: web::Data<AppState>,
    visitor: Visitor,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let directory = directories::get(&state, &visitor.caller, &path).await?;
    visitor.caller.require_admin("delete its directory")?;
    let (layout, _) = directory_frame(&state, &visitor, &directory, "Delete", Tab::Connect).await?;
    let href = format!("/console/directories/{}", directory.id);
    let page = ConfirmPage {
        layout: layout.crumb("Delete", format!("{href}/delete")),
        heading: format!("Delete the directory {}?", directory.name),
        message: "Its users, groups, role mappings and secret tokens are deleted, and downstream services hear directory.deleted. Entra's provisioning job for it stops working (401). This cannot be undone.".into(),
        action: format!("{href}/delete"),
        button: "Delete the directory".into(),
        cancel: href,
    };
    ok(&page)
}

/// `POST /console/directories/{id}/delete`.
pub async fn delete(
    state: web::Data<AppState>,
    visitor: Visitor,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let directory = directories::get(&state, &visitor.caller, &path).await?;
    directories::delete(&state, &visitor.caller, &path, &crate::state::request_id(&req)).await?;
    Ok(see_other(&format!("/console/tenants/{}", directory.tenant_id)))
}
