//! `/Groups`: create, read, query, replace, patch (204), delete. Members are loaded only when
//! the response shows them (`excludedAttributes=members` never loads them), with their
//! `display` in the same statement, and shown with the `$ref` of the member resource.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use roster_events::Change;
use roster_events::changes::v1::{
    CreateGroup, DeleteGroup, MemberRef as EventMember, PatchGroup, ReplaceGroup, member_ref,
};
use roster_scim::ScimError;
use roster_scim::group::{Group, MemberKind, MemberRef};
use roster_scim::list::ListResponse;
use roster_scim::patch::PatchRequest;
use roster_scim::user::Meta;
use roster_store::filter_sql;
use roster_store::groups::{self, GroupRow};
use roster_store::outcomes::OutcomeRow;
use uuid::Uuid;

use super::common::{
    Answer, ListQuery, answer, applied_resource, event_operation, filter_error, if_match,
    lowercase_keys, not_modified, resource_id, search_params, selection, with_etag, written,
};
use super::scim_json;
use crate::auth::Principal;
use crate::body::read_json;
use crate::error::ApiError;
use crate::request_log::{note, patch_summary};
use crate::state::{AppState, Lookups};

fn group_id(raw: &str) -> Result<Uuid, ApiError> {
    resource_id(raw, "no such group")
}

/// `POST /Groups`.
pub async fn create(
    principal: Principal,
    state: web::Data<AppState>,
    payload: web::Payload,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(payload, state.max_body_bytes).await?;
    let (group, members) = Group::from_request_with(body, &state.limits)?;
    let id = Uuid::new_v4();
    note(&req, |n| {
        n.resource_id = Some(id.to_string());
        n.resource_name = Some(group.display_name().to_string());
    });
    let change = Change::CreateGroup(CreateGroup {
        id: id.to_string(),
        resource_json: group.as_json().to_string(),
        members: event_members(&members),
    });
    let outcome = state.submit(&principal, change, &req).await?;
    respond(&state, &principal, outcome)
}

/// `PUT /Groups/{id}`: the whole group, members included.
pub async fn replace(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = group_id(&path.1)?;
    let body = read_json(payload, state.max_body_bytes).await?;
    let (group, members) = Group::from_request_with(body, &state.limits)?;
    note(&req, |n| n.resource_name = Some(group.display_name().to_string()));
    let change = Change::ReplaceGroup(ReplaceGroup {
        id: id.to_string(),
        resource_json: group.as_json().to_string(),
        members: event_members(&members),
        if_match: if_match(&req),
    });
    let outcome = state.submit(&principal, change, &req).await?;
    respond(&state, &principal, outcome)
}

/// `PATCH /Groups/{id}`: 204, as Entra expects.
pub async fn patch(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = group_id(&path.1)?;
    let body = read_json(payload, state.max_body_bytes).await?;
    let ops = PatchRequest::parse_with(&body, &state.limits)?;
    note(&req, |n| n.operation = Some(patch_summary(&ops)));
    // Reject what the projector would reject, before it goes into the log.
    roster_scim::group::split_group_ops(&ops)?;
    let operations = ops.iter().map(event_operation).collect();
    let change =
        Change::PatchGroup(PatchGroup { id: id.to_string(), operations, if_match: if_match(&req) });
    let outcome = state.submit(&principal, change, &req).await?;
    respond(&state, &principal, outcome)
}

/// `DELETE /Groups/{id}`: 204.
pub async fn delete(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = group_id(&path.1)?;
    let change = Change::DeleteGroup(DeleteGroup { id: id.to_string(), if_match: if_match(&req) });
    let outcome = state.submit(&principal, change, &req).await?;
    respond(&state, &principal, outcome)
}

/// `GET /Groups/{id}`.
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<HashMap<String, String>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = group_id(&path.1)?;
    let selection = selection(&lowercase_keys(query.into_inner()), &state.filter_limits)?;
    let with_members = selection.wants_members();
    let with_display = selection.wants_member_display();
    let directory_id = principal.directory_id;
    let (row, members) = roster_store::run_read(&state.pool, move |conn| {
        let Some(row) = groups::find(conn, directory_id, id)? else {
            return Ok::<_, ApiError>(None);
        };
        let members = if with_members {
            Some(groups::members_shown(conn, directory_id, &[id], with_display)?)
        } else {
            None
        };
        Ok(Some((row, members)))
    })
    .await?
    .ok_or_else(|| ApiError::Scim(ScimError::not_found("no such group")))?;
    if not_modified(&req, row.version) {
        return Ok(with_etag(HttpResponse::NotModified().finish(), row.version));
    }
    let members = members.map(|m| m.iter().map(member_ref).collect::<Vec<_>>());
    let resource = selection.apply(&render(&state, &row, members.as_deref()));
    Ok(with_etag(scim_json(StatusCode::OK, &resource), row.version))
}

/// `GET /Groups?filter=…&sortBy=…&startIndex=…&count=…`: any filter `roster_store::filter_sql`
/// translates (Entra's `displayName`/`externalId`/`id eq` lookups are one indexed statement).
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    lookups: web::Data<Lookups>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    query_list(principal, state, lookups, lowercase_keys(query.into_inner())).await
}

/// `POST /Groups/.search` (RFC 7644 §3.4.3): the query in a SearchRequest body.
pub async fn search(
    principal: Principal,
    state: web::Data<AppState>,
    lookups: web::Data<Lookups>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json(payload, state.max_body_bytes).await?;
    query_list(principal, state, lookups, search_params(&body)?).await
}

async fn query_list(
    principal: Principal,
    state: web::Data<AppState>,
    lookups: web::Data<Lookups>,
    params: HashMap<String, String>,
) -> Result<HttpResponse, ApiError> {
    let ListQuery { selection, start_index, count, filter, sort } =
        ListQuery::parse(&params, &state)?;
    let with_members = selection.wants_members();
    let with_display = selection.wants_member_display();
    let directory_id = principal.directory_id;
    // A group's members can be many: only a lookup that does not show them is a point lookup.
    let lookup = !with_members && filter.as_ref().is_some_and(filter_sql::is_group_lookup);
    let (total, rows, members) = if lookup {
        let mut conn = lookups.checkout().await?;
        let sort = sort.as_ref().map(|(path, descending)| (path, *descending));
        let (total, rows) = filter_sql::lookups::find_groups(
            &mut conn,
            directory_id,
            filter.as_ref(),
            start_index,
            count,
            sort,
        )
        .await
        .map_err(filter_error)?;
        (total, rows, Vec::new())
    } else {
        roster_store::run_read(&state.pool, move |conn| {
            let sort = sort.as_ref().map(|(path, descending)| (path, *descending));
            let (total, rows) = filter_sql::find_groups(
                conn,
                directory_id,
                filter.as_ref(),
                start_index,
                count,
                sort,
            )
            .map_err(filter_error)?;
            // The members of this page's groups only.
            let members = if with_members && !rows.is_empty() {
                let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
                groups::members_shown(conn, directory_id, &ids, with_display)?
            } else {
                Vec::new()
            };
            Ok::<_, ApiError>((total, rows, members))
        })
        .await?
    };
    let resources = rows
        .iter()
        .map(|row| {
            let of_row = with_members.then(|| {
                members.iter().filter(|m| m.group_id == row.id).map(member_ref).collect::<Vec<_>>()
            });
            selection.apply(&render(&state, row, of_row.as_deref()))
        })
        .collect();
    let body = ListResponse {
        total_results: total.max(0) as u64,
        start_index: start_index as u64,
        resources,
    };
    Ok(scim_json(StatusCode::OK, &body.to_json()))
}

/// A member as responses show it: `value`, `display`, `type` (and `$ref`, built when rendered).
pub(crate) fn member_ref(row: &groups::ShownMember) -> MemberRef {
    MemberRef::stored(row.member_id.to_string(), Some(row.member_kind), row.display.clone())
}

fn event_members(members: &[MemberRef]) -> Vec<EventMember> {
    members
        .iter()
        .map(|m| EventMember {
            value: m.value.clone(),
            kind: match m.kind {
                Some(MemberKind::User) => member_ref::Kind::User,
                Some(MemberKind::Group) => member_ref::Kind::Group,
                None => member_ref::Kind::Unspecified,
            }
            .into(),
        })
        .collect()
}

pub(crate) fn render(
    state: &AppState,
    row: &GroupRow,
    members: Option<&[MemberRef]>,
) -> serde_json::Value {
    let meta = Meta {
        created: row.created_at,
        last_modified: row.last_modified,
        location: state.location(row.directory_id, "Groups", row.id),
        version: row.version,
    };
    Group::from_stored(row.resource.clone()).to_resource(&row.id.to_string(), &meta, members)
}

/// Answer a write from its outcome.
fn respond(
    state: &AppState,
    principal: &Principal,
    outcome: OutcomeRow,
) -> Result<HttpResponse, ApiError> {
    let (status, id, applied) = match answer(outcome)? {
        Answer::NoContent(status) => return Ok(HttpResponse::build(status).finish()),
        Answer::Applied { status, id, body } => (status, id, body),
    };
    let members: Option<Vec<MemberRef>> = applied.members.as_ref().map(|list| {
        list.as_array()
            .map(|items| items.iter().filter_map(|m| MemberRef::from_json(m).ok()).collect())
            .unwrap_or_default()
    });
    let location = state.location(principal.directory_id, "Groups", id);
    let meta = Meta {
        created: applied.created,
        last_modified: applied.last_modified,
        location: location.clone(),
        version: applied.version,
    };
    let resource = Group::from_stored(applied_resource(applied.resource, None)?).to_resource(
        &id.to_string(),
        &meta,
        members.as_deref(),
    );
    Ok(written(status, &resource, &location, applied.version))
}
