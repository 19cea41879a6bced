//! The vendor's operator's pages: tenants and their directories, listed, created and deleted.
//! A tenant admin sees their own tenant; a portal visitor none.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::error::ConsoleError;
use super::guard::{Fields, Visitor};
use super::layout::{Layout, encode, form_error, ok, query, render, see_other, when};
use crate::control::directories::{self, DirectoryInput, DirectoryView};
use crate::control::tenants::{self, TenantInput, TenantView};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub cursor: Option<String>,
    /// Set after a deletion: the page says so.
    pub deleted: Option<String>,
}

pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub directory_count: i64,
    pub created: String,
}

fn tenant_row(t: &TenantView) -> TenantRow {
    TenantRow {
        id: t.id.to_string(),
        name: t.name.clone(),
        directory_count: t.directory_count,
        created: when(&t.created_at),
    }
}

#[derive(Template)]
#[template(path = "console/tenants.html")]
struct TenantsPage {
    layout: Layout,
    tenants: Vec<TenantRow>,
    next: Option<String>,
    /// Operators create tenants.
    can_create: bool,
    /// The name typed into the create form (kept when it is shown again).
    name: String,
    error: Option<String>,
    notice: Option<String>,
}

async fn tenants_page(
    state: &AppState,
    visitor: &Visitor,
    q: &PageQuery,
    name: String,
    error: Option<(StatusCode, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let page = tenants::list(state, &visitor.caller, q.cursor.as_deref(), None).await?;
    let (status, error) = match error {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let page = TenantsPage {
        layout: Layout::new("Tenants", Some(visitor)).crumb("Tenants", "/console/tenants"),
        tenants: page.items.iter().map(tenant_row).collect(),
        next: page.next_cursor.map(|c| format!("/console/tenants?cursor={}", encode(&c))),
        can_create: visitor.caller.is_operator(),
        name,
        error,
        notice: q.deleted.as_ref().map(|_| "The tenant was deleted.".to_string()),
    };
    render(status, &page)
}

/// `GET /console/tenants`.
pub async fn list(
    state: web::Data<AppState>,
    visitor: Visitor,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let q: PageQuery = query(&req)?;
    tenants_page(&state, &visitor, &q, String::new(), None).await
}

/// `POST /console/tenants` `name=…`.
pub async fn create(
    state: web::Data<AppState>,
    visitor: Visitor,
    fields: Fields,
) -> Result<HttpResponse, ConsoleError> {
    let name = fields.get("name").unwrap_or_default().to_string();
    match tenants::create(&state, &visitor.caller, TenantInput { name: name.clone() }).await {
        Ok(tenant) => Ok(see_other(&format!("/console/tenants/{}", tenant.id))),
        Err(error) => match form_error(&error) {
            Some(shown) => {
                tenants_page(&state, &visitor, &PageQuery::default(), name, Some(shown)).await
            }
            None => Err(error.into()),
        },
    }
}

pub struct DirectoryRow {
    pub id: String,
    pub name: String,
    pub tenant_url: String,
    pub policy: String,
    pub created: String,
}

pub fn directory_row(d: &DirectoryView) -> DirectoryRow {
    DirectoryRow {
        id: d.id.to_string(),
        name: d.name.clone(),
        tenant_url: d.tenant_url.clone(),
        policy: d.deprovision_policy.clone(),
        created: when(&d.created_at),
    }
}

#[derive(Template)]
#[template(path = "console/tenant.html")]
struct TenantPage {
    layout: Layout,
    tenant: TenantRow,
    directories: Vec<DirectoryRow>,
    next: Option<String>,
    /// Operators delete tenants.
    can_delete: bool,
    name: String,
    policy: String,
    error: Option<String>,
}

async fn tenant_page(
    state: &AppState,
    visitor: &Visitor,
    id: &str,
    cursor: Option<&str>,
    form: (String, String),
    error: Option<(StatusCode, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let tenant = tenants::get(state, &visitor.caller, id).await?;
    let page = directories::list(state, &visitor.caller, id, cursor, None).await?;
    let (status, error) = match error {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let page = TenantPage {
        layout: Layout::new(tenant.name.clone(), Some(visitor))
            .crumbs_for(visitor, &[(&tenant.name, format!("/console/tenants/{}", tenant.id))]),
        directories: page.items.iter().map(directory_row).collect(),
        next: page
            .next_cursor
            .map(|c| format!("/console/tenants/{}?cursor={}", tenant.id, encode(&c))),
        tenant: tenant_row(&tenant),
        can_delete: visitor.caller.is_operator(),
        name: form.0,
        policy: form.1,
        error,
    };
    render(status, &page)
}

/// `GET /console/tenants/{id}`: the tenant's directories.
pub async fn show(
    state: web::Data<AppState>,
    visitor: Visitor,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let q: PageQuery = query(&req)?;
    let form = (String::new(), "tombstone".to_string());
    tenant_page(&state, &visitor, &path, q.cursor.as_deref(), form, None).await
}

/// `POST /console/tenants/{id}/directories` `name=…&deprovision_policy=…`.
pub async fn create_directory(
    state: web::Data<AppState>,
    visitor: Visitor,
    path: web::Path<String>,
    fields: Fields,
) -> Result<HttpResponse, ConsoleError> {
    let name = fields.get("name").unwrap_or_default().to_string();
    let policy = fields.get("deprovision_policy").unwrap_or("tombstone").to_string();
    let input = DirectoryInput { name: name.clone(), deprovision_policy: Some(policy.clone()) };
    match directories::create(&state, &visitor.caller, &path, input).await {
        Ok(directory) => Ok(see_other(&format!("/console/directories/{}", directory.id))),
        Err(error) => match form_error(&error) {
            Some(shown) => {
                tenant_page(&state, &visitor, &path, None, (name, policy), Some(shown)).await
            }
            None => Err(error.into()),
        },
    }
}

/// A page asking to confirm a deletion.
#[derive(Template)]
#[template(path = "console/confirm.html")]
pub struct ConfirmPage {
    pub layout: Layout,
    pub heading: String,
    pub message: String,
    pub action: String,
    pub button: String,
    pub cancel: String,
}

/// `GET /console/tenants/{id}/delete`: what deleting the tenant deletes, and a button.
pub async fn confirm_delete(
    state: web::Data<AppState>,
    visitor: Visitor,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let tenant = tenants::get(&state, &visitor.caller, &path).await?;
    visitor.caller.require_operator("delete tenants")?;
    let href = format!("/console/tenants/{}", tenant.id);
    let page = ConfirmPage {
        layout: Layout::new(format!("Delete {}", tenant.name), Some(&visitor))
            .crumbs_for(&visitor, &[(&tenant.name, href.clone())])
            .crumb("Delete", format!("{href}/delete")),
        heading: format!("Delete the tenant {}?", tenant.name),
        message: format!(
            "Its {} directories are deleted with their users, groups, role mappings and secret tokens (downstream services hear directory.deleted), then the tenant and its admin tokens. This cannot be undone.",
            tenant.directory_count
        ),
        action: format!("{href}/delete"),
        button: "Delete the tenant".into(),
        cancel: href,
    };
    ok(&page)
}

/// `POST /console/tenants/{id}/delete`.
pub async fn delete(
    state: web::Data<AppState>,
    visitor: Visitor,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    tenants::delete(&state, &visitor.caller, &path, &crate::state::request_id(&req)).await?;
    Ok(see_other("/console/tenants?deleted=1"))
}
