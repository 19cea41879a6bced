//! `POST /.search` at the SCIM root (RFC 7644 §3.4.3): users, then groups, in one list. It takes
//! `attributes`, `excludedAttributes`, `startIndex` and `count`; a filter belongs on
//! `/Users/.search` or `/Groups/.search`, where the attributes it names exist.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use roster_scim::ScimError;
use roster_scim::list::ListResponse;
use roster_store::groups;
use roster_store::users;
use uuid::Uuid;

use super::common::{paging, search_params, selection};
use super::scim_json;
use crate::auth::Principal;
use crate::body::read_json;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn search_all(
    principal: Principal,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let params = search_params(&read_json(payload, state.max_body_bytes).await?)?;
    if params.contains_key("filter") {
        return Err(ApiError::Scim(ScimError::invalid_filter(
            "a search across resource types takes no filter; use /Users/.search or /Groups/.search",
        )));
    }
    let selection = selection(&params, &state.filter_limits)?;
    let (start_index, count) = paging(&params, state.max_page_size)?;
    let with_members = selection.wants_members();
    let with_display = selection.wants_member_display();
    let directory_id = principal.directory_id;
    let (total, user_rows, group_rows, members) =
        roster_store::run_read(&state.pool, move |conn| {
            let offset = start_index - 1;
            let user_total = users::count(conn, directory_id)?;
            let user_rows = users::page(conn, directory_id, offset, count)?;
            let group_offset = (offset - user_total).max(0);
            let group_limit = count - user_rows.len() as i64;
            let (group_total, group_rows) =
                groups::page(conn, directory_id, group_offset, group_limit)?;
            let members = if with_members && !group_rows.is_empty() {
                let ids: Vec<Uuid> = group_rows.iter().map(|g| g.id).collect();
                groups::members_shown(conn, directory_id, &ids, with_display)?
            } else {
                Vec::new()
            };
            Ok::<_, ApiError>((user_total + group_total, user_rows, group_rows, members))
        })
        .await?;
    let mut resources: Vec<serde_json::Value> =
        user_rows.iter().map(|row| selection.apply(&super::users::render(&state, row))).collect();
    resources.extend(group_rows.iter().map(|row| {
        let of_row = with_members.then(|| {
            members
                .iter()
                .filter(|m| m.group_id == row.id)
                .map(super::groups::member_ref)
                .collect::<Vec<_>>()
        });
        selection.apply(&super::groups::render(&state, row, of_row.as_deref()))
    }));
    let body = ListResponse {
        total_results: total.max(0) as u64,
        start_index: start_index as u64,
        resources,
    };
    Ok(scim_json(StatusCode::OK, &body.to_json()))
}
