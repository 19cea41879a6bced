//! A directory's users and groups with their product roles and teams: what the role-mapper
//! last notified downstream (absent until it has seen them).

use roster_events::notifications::v1::{Access, GroupRef, ProductGroup, ProductUser, Teams};
use roster_store::directory_views::{self, GroupSummary, UserSummary};
use roster_store::page::Page;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Caller, not_found, page, path_id, time};
use crate::error::ApiError;
use crate::state::AppState;

/// A group a user belongs to, or a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupRefView {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
}

impl From<&GroupRef> for GroupRefView {
    fn from(g: &GroupRef) -> Self {
        GroupRefView {
            id: g.id.clone(),
            display_name: g.display_name.clone(),
            external_id: g.external_id.clone(),
        }
    }
}

/// Product roles and teams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessView {
    pub product_roles: Vec<String>,
    /// The earliest-joined team group.
    pub primary_team: Option<GroupRefView>,
    pub additional_teams: Vec<GroupRefView>,
}

impl AccessView {
    pub fn of(user: &ProductUser) -> AccessView {
        AccessView::of_parts(&user.product_roles, user.teams.as_ref())
    }

    pub fn of_access(access: &Access) -> AccessView {
        AccessView::of_parts(&access.product_roles, access.teams.as_ref())
    }

    fn of_parts(product_roles: &[String], teams: Option<&Teams>) -> AccessView {
        let teams = teams.cloned().unwrap_or_default();
        AccessView {
            product_roles: product_roles.to_vec(),
            primary_team: teams.primary.as_ref().map(GroupRefView::from),
            additional_teams: teams.additional.iter().map(GroupRefView::from).collect(),
        }
    }
}

/// A user of a directory.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: Uuid,
    pub user_name: String,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    pub active: bool,
    /// What downstream products were last told; absent until the role-mapper has seen the user.
    pub access: Option<AccessView>,
    /// The Entra app-role values the user holds.
    pub app_roles: Vec<String>,
    /// The groups the user is a direct member of, earliest joined first.
    pub groups: Vec<GroupRefView>,
    pub created: String,
    pub last_modified: String,
}

/// A user with its SCIM resource as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserDetailView {
    #[serde(flatten)]
    pub user: UserView,
    pub version: i64,
    /// The SCIM User as Entra last wrote it (without `id` and `meta`).
    #[schema(value_type = Object)]
    pub resource: serde_json::Value,
}

fn user_view(row: &UserSummary) -> UserView {
    let product = row.view.clone().and_then(|v| serde_json::from_value::<ProductUser>(v).ok());
    UserView {
        id: row.id,
        user_name: row.user_name.clone(),
        display_name: row.display_name.clone(),
        external_id: row.external_id.clone(),
        active: row.active,
        access: product.as_ref().map(AccessView::of),
        app_roles: product.as_ref().map(|p| p.app_roles.clone()).unwrap_or_default(),
        groups: product
            .as_ref()
            .map(|p| p.groups.iter().map(GroupRefView::from).collect())
            .unwrap_or_default(),
        created: time(row.created_at),
        last_modified: time(row.last_modified),
    }
}

/// A group of a directory.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    pub id: Uuid,
    pub display_name: String,
    pub external_id: Option<String>,
    pub member_count: i64,
    /// Marked as a team by the mapping rules (as last notified).
    pub team: bool,
    /// The product roles its members receive (as last notified).
    pub product_roles: Vec<String>,
    pub created: String,
    pub last_modified: String,
}

fn group_view(row: &GroupSummary) -> GroupView {
    let product = row.view.clone().and_then(|v| serde_json::from_value::<ProductGroup>(v).ok());
    GroupView {
        id: row.id,
        display_name: row.display_name.clone(),
        external_id: row.external_id.clone(),
        member_count: row.member_count,
        team: product.as_ref().is_some_and(|p| p.team),
        product_roles: product.map(|p| p.product_roles).unwrap_or_default(),
        created: time(row.created_at),
        last_modified: time(row.last_modified),
    }
}

pub async fn list_users(
    state: &AppState,
    caller: &Caller,
    directory: &str,
    user_name: Option<String>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<UserView>, ApiError> {
    let directory = super::directory_in_scope(state, caller, directory).await?;
    let page = page(cursor, limit, 2)?;
    let prefix = super::valid_filter("userName", user_name)?;
    let rows = roster_store::run_read(&state.pool, move |conn| {
        directory_views::list_users(conn, directory.id, prefix.as_deref(), &page)
            .map_err(ApiError::from)
    })
    .await?;
    Ok(rows.map(|row| user_view(&row)))
}

pub async fn get_user(
    state: &AppState,
    caller: &Caller,
    directory: &str,
    user: &str,
) -> Result<UserDetailView, ApiError> {
    let directory = super::directory_in_scope(state, caller, directory).await?;
    let user_id = path_id("user", user)?;
    let row = roster_store::run_read(&state.pool, move |conn| {
        directory_views::find_user(conn, directory.id, user_id).map_err(ApiError::from)
    })
    .await?
    .ok_or_else(|| not_found(format!("no user {user} in this directory")))?;
    Ok(UserDetailView {
        user: user_view(&row.summary),
        version: row.version,
        resource: row.resource,
    })
}

pub async fn list_groups(
    state: &AppState,
    caller: &Caller,
    directory: &str,
    display_name: Option<String>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<Page<GroupView>, ApiError> {
    let directory = super::directory_in_scope(state, caller, directory).await?;
    let page = page(cursor, limit, 2)?;
    let prefix = super::valid_filter("displayName", display_name)?;
    let rows = roster_store::run_read(&state.pool, move |conn| {
        directory_views::list_groups(conn, directory.id, prefix.as_deref(), &page)
            .map_err(ApiError::from)
    })
    .await?;
    Ok(rows.map(|row| group_view(&row)))
}
