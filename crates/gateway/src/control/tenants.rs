//! Tenants: the vendor's customers. Operators create, rename and delete them; a tenant admin
//! sees their own.

use roster_store::control::{self, Tenant};
use roster_store::page::Page;
use roster_store::{StoreError, audit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Caller, conflict, directories, page, time, valid_name};
use crate::error::ApiError;
use crate::state::AppState;

/// A tenant as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    pub id: uuid::Uuid,
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    pub directory_count: i64,
}

fn view(tenant: Tenant, directory_count: i64) -> TenantView {
    TenantView {
        id: tenant.id,
        name: tenant.name,
        created_at: time(tenant.created_at),
        directory_count,
    }
}

/// `{"name"}`: a new tenant, or a new name.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantInput {
    /// 1–200 characters, no control characters; unique, case-insensitively.
    pub name: String,
}

fn taken(name: &str) -> ApiError {
    conflict(format!("a tenant named {name:?} already exists"))
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    input: TenantInput,
) -> Result<TenantView, ApiError> {
    caller.require_operator("create tenants")?;
    let name = valid_name("name", &input.name)?;
    let mut entry = caller.audit("tenant.created");
    roster_store::run_write(&state.pool, move |conn| {
        let tenant = control::create_tenant(conn, &name).map_err(|e| unique(e, &name))?;
        entry.tenant_id = Some(tenant.id);
        entry.details = serde_json::json!({ "name": tenant.name });
        audit::record(conn, &entry)?;
        Ok(view(tenant, 0))
    })
    .await
}

/// A unique violation as 409, anything else as the store error it is.
fn unique(error: diesel::result::Error, name: &str) -> ApiError {
    let error = StoreError::from(error);
    if error.is_unique_violation() { taken(name) } else { ApiError::from(error) }
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<TenantView>, ApiError> {
    caller.require_admin("list tenants")?;
    let page = page(cursor, limit, 2)?;
    let only = caller.own_tenant();
    roster_store::run_read(&state.pool, move |conn| {
        let tenants = control::list_tenants(conn, only, &page)?;
        let mut views = Vec::with_capacity(tenants.items.len());
        for tenant in tenants.items {
            let count = control::count_directories(conn, tenant.id)?;
            views.push(view(tenant, count));
        }
        Ok(Page { items: views, next_cursor: tenants.next_cursor })
    })
    .await
}

pub async fn get(state: &AppState, caller: &Caller, id: &str) -> Result<TenantView, ApiError> {
    let tenant = super::tenant_in_scope(state, caller, id).await?;
    let tenant_id = tenant.id;
    let count = roster_store::run_read(&state.pool, move |conn| {
        control::count_directories(conn, tenant_id).map_err(ApiError::from)
    })
    .await?;
    Ok(view(tenant, count))
}

pub async fn rename(
    state: &AppState,
    caller: &Caller,
    id: &str,
    input: TenantInput,
) -> Result<TenantView, ApiError> {
    let tenant = super::tenant_in_scope(state, caller, id).await?;
    caller.require_operator("rename tenants")?;
    let name = valid_name("name", &input.name)?;
    let mut entry = caller.audit("tenant.renamed");
    entry.tenant_id = Some(tenant.id);
    entry.details = serde_json::json!({ "from": tenant.name, "to": name });
    let renamed = roster_store::run_write(&state.pool, move |conn| {
        let renamed =
            control::rename_tenant(conn, tenant.id, &name).map_err(|e| unique(e, &name))?;
        let Some(renamed) = renamed else {
            return Err(super::not_found(format!("no tenant {}", tenant.id)));
        };
        audit::record(conn, &entry)?;
        let count = control::count_directories(conn, renamed.id)?;
        Ok(view(renamed, count))
    })
    .await?;
    Ok(renamed)
}

/// Delete a tenant: each of its directories through the change log (so the consumers forget
/// them in order and downstream hears `directory.deleted`), then the tenant and its admin
/// tokens.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    id: &str,
    request_id: &str,
) -> Result<(), ApiError> {
    let tenant = super::tenant_in_scope(state, caller, id).await?;
    caller.require_operator("delete tenants")?;
    loop {
        let tenant_id = tenant.id;
        let batch = roster_store::run_read(&state.pool, move |conn| {
            control::list_directories(
                conn,
                tenant_id,
                &roster_store::page::PageRequest { after: None, limit: 50 },
            )
            .map_err(ApiError::from)
        })
        .await?;
        if batch.items.is_empty() {
            break;
        }
        for directory in batch.items {
            directories::delete_in_scope(state, caller, directory, request_id).await?;
        }
    }
    let mut entry = caller.audit("tenant.deleted");
    entry.tenant_id = Some(tenant.id);
    entry.details = serde_json::json!({ "name": tenant.name });
    roster_store::run_write(&state.pool, move |conn| {
        if !control::delete_tenant(conn, tenant.id)? {
            return Err(super::not_found(format!("no tenant {}", tenant.id)));
        }
        audit::record(conn, &entry)?;
        Ok(())
    })
    .await
}
