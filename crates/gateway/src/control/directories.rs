//! Directories: one SCIM endpoint (Tenant URL) each. Creation is a control-plane row; deletion
//! and settings go through the change log, ordered with the provisioning around them.

use roster_events::Change;
use roster_events::changes::v1::{DirectoryDeleted, DirectorySettingsChanged};
use roster_store::control::{self, DeprovisionPolicy, Directory};
use roster_store::outcomes::OutcomeRow;
use roster_store::page::Page;
use roster_store::{StoreError, audit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Caller, bad_request, conflict, not_found, page, time, valid_name};
use crate::error::ApiError;
use crate::state::{Actor, AppState};

/// A directory as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryView {
    pub id: uuid::Uuid,
    pub tenant_id: uuid::Uuid,
    pub name: String,
    /// The SCIM endpoint to paste into Entra's Tenant URL.
    pub tenant_url: String,
    /// `tombstone` or `erase`: what a DELETE of a user or group does.
    pub deprovision_policy: String,
    pub created_at: String,
}

pub fn view(state: &AppState, directory: &Directory) -> DirectoryView {
    DirectoryView {
        id: directory.id,
        tenant_id: directory.tenant_id,
        name: directory.name.clone(),
        tenant_url: state.scim_root(directory.id),
        deprovision_policy: directory.deprovision_policy.clone(),
        created_at: time(directory.created_at),
    }
}

/// `{"name", "deprovisionPolicy"?}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DirectoryInput {
    /// 1–200 characters, no control characters; unique within the tenant, case-insensitively.
    pub name: String,
    /// `tombstone` (the default) or `erase`.
    #[serde(default)]
    pub deprovision_policy: Option<String>,
}

/// `{"deprovisionPolicy"}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsInput {
    /// `tombstone` or `erase`.
    pub deprovision_policy: String,
}

fn policy(value: &str) -> Result<DeprovisionPolicy, ApiError> {
    DeprovisionPolicy::parse(value)
        .ok_or_else(|| bad_request("deprovisionPolicy must be \"tombstone\" or \"erase\""))
}

pub async fn create(
    state: &AppState,
    caller: &Caller,
    tenant: &str,
    input: DirectoryInput,
) -> Result<DirectoryView, ApiError> {
    let tenant = super::tenant_in_scope(state, caller, tenant).await?;
    let name = valid_name("name", &input.name)?;
    let policy = policy(input.deprovision_policy.as_deref().unwrap_or("tombstone"))?;
    let mut entry = caller.audit("directory.created");
    entry.tenant_id = Some(tenant.id);
    let directory = roster_store::run_write(&state.pool, move |conn| {
        let directory = control::create_directory(conn, tenant.id, &name, policy).map_err(|e| {
            let e = StoreError::from(e);
            if e.is_unique_violation() {
                conflict(format!("the tenant already has a directory named {name:?}"))
            } else if matches!(
                e,
                StoreError::Query(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                    _
                ))
            ) {
                not_found(format!("no tenant {}", tenant.id))
            } else {
                ApiError::from(e)
            }
        })?;
        entry.directory_id = Some(directory.id);
        entry.details = serde_json::json!({
            "name": directory.name,
            "deprovisionPolicy": directory.deprovision_policy,
        });
        audit::record(conn, &entry)?;
        Ok::<_, ApiError>(directory)
    })
    .await?;
    Ok(view(state, &directory))
}

pub async fn list(
    state: &AppState,
    caller: &Caller,
    tenant: &str,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<DirectoryView>, ApiError> {
    let tenant = super::tenant_in_scope(state, caller, tenant).await?;
    let page = page(cursor, limit, 2)?;
    let directories = roster_store::run_read(&state.pool, move |conn| {
        control::list_directories(conn, tenant.id, &page).map_err(ApiError::from)
    })
    .await?;
    Ok(directories.map(|d| view(state, &d)))
}

pub async fn get(state: &AppState, caller: &Caller, id: &str) -> Result<DirectoryView, ApiError> {
    let directory = super::directory_in_scope(state, caller, id).await?;
    Ok(view(state, &directory))
}

/// Publish a control-plane change of `directory` and wait for its outcome; a rejection is the
/// error it says.
pub async fn submit(
    state: &AppState,
    caller: &Caller,
    directory: &Directory,
    request_id: &str,
    change: Change,
) -> Result<OutcomeRow, ApiError> {
    let actor = Actor::ControlPlane(caller.token_id);
    let outcome = state
        .submit_for(directory.id, directory.tenant_id, &actor, request_id.to_string(), change)
        .await?;
    if outcome.status >= 400 {
        let error = outcome
            .body
            .as_ref()
            .and_then(roster_scim::ScimError::from_body)
            .unwrap_or_else(|| {
                roster_scim::ScimError::new(outcome.status as u16, None, "the change was rejected")
            });
        return Err(ApiError::Scim(error));
    }
    Ok(outcome)
}

pub async fn delete(
    state: &AppState,
    caller: &Caller,
    id: &str,
    request_id: &str,
) -> Result<(), ApiError> {
    let directory = super::directory_in_scope(state, caller, id).await?;
    caller.require_admin("delete its directory")?;
    delete_in_scope(state, caller, directory, request_id).await
}

/// Delete a directory the caller was found to see.
pub(super) async fn delete_in_scope(
    state: &AppState,
    caller: &Caller,
    directory: Directory,
    request_id: &str,
) -> Result<(), ApiError> {
    let change = Change::DirectoryDeleted(DirectoryDeleted {});
    submit(state, caller, &directory, request_id, change).await?;
    let mut entry = caller.audit("directory.deleted");
    entry.tenant_id = Some(directory.tenant_id);
    entry.directory_id = Some(directory.id);
    entry.details = serde_json::json!({ "name": directory.name });
    super::record(state, entry).await
}

pub async fn change_settings(
    state: &AppState,
    caller: &Caller,
    id: &str,
    request_id: &str,
    input: SettingsInput,
) -> Result<serde_json::Value, ApiError> {
    let directory = super::directory_in_scope(state, caller, id).await?;
    let policy = policy(&input.deprovision_policy)?;
    let change = Change::DirectorySettingsChanged(DirectorySettingsChanged {
        deprovision_policy: policy.as_str().to_string(),
    });
    let outcome = submit(state, caller, &directory, request_id, change).await?;
    let mut entry = caller.audit("directory.settings_changed");
    entry.tenant_id = Some(directory.tenant_id);
    entry.directory_id = Some(directory.id);
    entry.details = serde_json::json!({
        "deprovisionPolicy": { "from": directory.deprovision_policy, "to": policy.as_str() },
    });
    super::record(state, entry).await?;
    Ok(outcome.body.unwrap_or_default())
}
