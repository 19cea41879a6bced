//! A directory's role-mapping rules (app role → product role, groups → roles and teams, default
//! role, policy): read, set through the change log (ordered with the provisioning around it),
//! and previewed: which users' product roles and teams proposed rules would change, and how.

use std::collections::HashMap;

use roster_events::Change;
use roster_events::changes::v1::MappingRulesChanged;
use roster_events::rules::MappingRules;
use roster_events::view::{self, Membership, UserInput};
use roster_scim::user::Meta;
use roster_store::{PgConnection, mapping_rules, notified};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::resources::AccessView;
use super::{Caller, bad_request, time};
use crate::error::ApiError;
use crate::state::AppState;

/// The rules and their version (the ETag; 0 before any were set).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RulesView {
    pub version: i64,
    #[schema(value_type = Object)]
    pub rules: serde_json::Value,
    pub changed_at: Option<String>,
}

pub async fn get(
    state: &AppState,
    caller: &Caller,
    directory: &str,
) -> Result<RulesView, ApiError> {
    let directory = super::directory_in_scope(state, caller, directory).await?;
    let current = roster_store::run_read(&state.pool, move |conn| {
        mapping_rules::current(conn, directory.id).map_err(ApiError::from)
    })
    .await?;
    Ok(match current {
        Some(row) => RulesView {
            version: row.version,
            rules: row.rules,
            changed_at: Some(time(row.changed_at)),
        },
        None => {
            RulesView { version: 0, rules: MappingRules::default().to_json(), changed_at: None }
        }
    })
}

/// Parse proposed rules (the body of a PUT or a preview), else 400 naming what is wrong.
pub fn parse(body: &[u8], max_bytes: usize) -> Result<MappingRules, ApiError> {
    if body.len() > max_bytes {
        return Err(ApiError::Scim(roster_scim::ScimError::new(
            413,
            None,
            "the rules are too large",
        )));
    }
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| bad_request(format!("the body is not JSON: {e}")))?;
    MappingRules::parse(&json).map_err(|e| bad_request(e.to_string()))
}

/// Set the rules (`if_version`: the version they must still have, else 412).
pub async fn set(
    state: &AppState,
    caller: &Caller,
    directory: &str,
    request_id: &str,
    rules: MappingRules,
    if_version: Option<i64>,
) -> Result<RulesView, ApiError> {
    let directory = super::directory_in_scope(state, caller, directory).await?;
    let change = Change::MappingRulesChanged(MappingRulesChanged {
        version: 0,
        rules_json: rules.to_json().to_string(),
        if_version,
    });
    let outcome = super::directories::submit(state, caller, &directory, request_id, change).await?;
    let body = outcome.body.unwrap_or_default();
    let version = body.get("version").and_then(serde_json::Value::as_i64).unwrap_or_default();
    let mut entry = caller.audit("role_mappings.changed");
    entry.tenant_id = Some(directory.tenant_id);
    entry.directory_id = Some(directory.id);
    entry.details = serde_json::json!({ "version": version, "rules": rules.to_json() });
    super::record(state, entry).await?;
    Ok(RulesView {
        version,
        rules: body.get("rules").cloned().unwrap_or_else(|| rules.to_json()),
        changed_at: body.get("changedAt").and_then(|v| v.as_str()).map(str::to_string),
    })
}

/// How proposed rules would change one user.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessChange {
    pub user_id: Uuid,
    pub user_name: String,
    pub before: AccessView,
    pub after: AccessView,
}

/// What proposed rules would do. Nothing is changed.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// The proposed rules, normalised as they would be stored.
    #[schema(value_type = Object)]
    pub rules: serde_json::Value,
    /// The version of the current rules the preview compares with.
    pub current_version: i64,
    pub users_evaluated: usize,
    /// How many users' product roles or teams would change.
    pub users_changed: usize,
    /// The first `PREVIEW_LIMIT` of them, by userName.
    pub changes: Vec<AccessChange>,
    pub truncated: bool,
}

/// Most changes a preview lists (it counts them all).
pub const PREVIEW_LIMIT: usize = 500;

/// Users are read this many at a time.
const CHUNK: usize = 1_000;

pub async fn preview(
    state: &AppState,
    caller: &Caller,
    directory: &str,
    proposed: MappingRules,
) -> Result<Preview, ApiError> {
    let directory = super::directory_in_scope(state, caller, directory).await?;
    roster_store::run_read(&state.pool, move |conn| {
        compare(conn, directory.id, &proposed).map_err(ApiError::from)
    })
    .await
}

fn compare(
    conn: &mut PgConnection,
    directory_id: Uuid,
    proposed: &MappingRules,
) -> Result<Preview, roster_store::StoreError> {
    let current_row = mapping_rules::current(conn, directory_id)?;
    let current_version = current_row.as_ref().map_or(0, |r| r.version);
    let current = current_row.and_then(|r| MappingRules::parse(&r.rules).ok()).unwrap_or_default();
    let (user_ids, _) = notified::all_ids(conn, directory_id)?;
    let mut changes = Vec::new();
    let mut evaluated = 0;
    for chunk in user_ids.chunks(CHUNK) {
        let rows = notified::users_by_ids(conn, directory_id, chunk)?;
        let mut memberships: HashMap<Uuid, Vec<Membership>> = HashMap::new();
        for m in notified::memberships_of(conn, directory_id, chunk)? {
            memberships.entry(m.member_id).or_default().push(Membership {
                group_id: m.group_id,
                display_name: m.display_name,
                external_id: m.external_id,
                added_at: m.added_at,
            });
        }
        for row in rows.iter().filter(|r| r.deleted_at.is_none()) {
            evaluated += 1;
            let input = UserInput {
                id: row.id,
                resource: &row.resource,
                active: row.active,
                meta: Meta {
                    created: row.created_at,
                    last_modified: row.last_modified,
                    location: String::new(),
                    version: row.version,
                },
                groups: memberships.remove(&row.id).unwrap_or_default(),
            };
            let before = view::access(&input, &current);
            let after = view::access(&input, proposed);
            if before != after {
                changes.push(AccessChange {
                    user_id: row.id,
                    user_name: row.user_name.clone(),
                    before: AccessView::of_access(&before),
                    after: AccessView::of_access(&after),
                });
            }
        }
    }
    changes.sort_by_key(|c| c.user_name.to_lowercase());
    let users_changed = changes.len();
    changes.truncate(PREVIEW_LIMIT);
    Ok(Preview {
        rules: proposed.to_json(),
        current_version,
        users_evaluated: evaluated,
        users_changed,
        truncated: users_changed > PREVIEW_LIMIT,
        changes,
    })
}
