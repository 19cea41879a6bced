//! What the resource routes share: query parameters, the list query, paging, preconditions,
//! ETags.

use std::collections::HashMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use roster_events::changes::v1::{PatchOperation, patch_operation};
use roster_scim::ScimError;
use roster_scim::filter::{AttrPath, Filter};
use roster_scim::patch::{PatchOp, PatchOpKind};
use roster_scim::select::AttributeSelection;
use roster_store::filter_sql::FilterSqlError;
use roster_store::outcomes::{AppliedBody, OutcomeRow};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// A resource id from the path; anything that is not a UUID names no resource.
pub(crate) fn resource_id(raw: &str, not_found: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::Scim(ScimError::not_found(not_found)))
}

/// The `If-Match` header, passed to the projector with the change.
pub(crate) fn if_match(req: &HttpRequest) -> Option<String> {
    req.headers().get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Whether `If-None-Match` names the current version (a GET answers 304).
pub(crate) fn not_modified(req: &HttpRequest, version: i64) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| roster_scim::etag::matches(tags, version))
}

/// Query parameter names are matched case-insensitively (and in any order; unknown ones such
/// as Entra's `aadOptscim062020` are ignored).
pub(crate) fn lowercase_keys(params: HashMap<String, String>) -> HashMap<String, String> {
    params.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect()
}

/// The parameters of a `POST /.search` SearchRequest body (RFC 7644 §3.4.3), as the lower-case
/// query parameters a GET would carry. Attribute lists may be JSON arrays or strings.
pub(crate) fn search_params(body: &serde_json::Value) -> Result<HashMap<String, String>, ApiError> {
    use serde_json::Value;
    let Value::Object(body) = body else {
        return Err(ApiError::Scim(ScimError::invalid_syntax("a SearchRequest must be an object")));
    };
    let mut params = HashMap::new();
    for (key, value) in body {
        let key = key.to_ascii_lowercase();
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Array(items) => {
                items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")
            }
            Value::Null => continue,
            _ if key == "schemas" => continue,
            _ => {
                return Err(ApiError::Scim(ScimError::invalid_value(format!(
                    "SearchRequest {key} has the wrong type"
                ))));
            }
        };
        if key != "schemas" {
            params.insert(key, text);
        }
    }
    Ok(params)
}

/// `attributes` / `excludedAttributes`; their value filters (`emails[type eq "work"]`) have
/// the limits of `filter` parameters.
pub(crate) fn selection(
    params: &HashMap<String, String>,
    limits: &roster_scim::filter::ParseLimits,
) -> Result<AttributeSelection, ApiError> {
    Ok(AttributeSelection::parse_with(
        params.get("attributes").map(String::as_str),
        params.get("excludedattributes").map(String::as_str),
        limits,
    )?)
}

/// The query of a list or search (RFC 7644 §3.4.2): attribute selection, paging, filter and
/// sort, checked in this order (the first invalid one is the error).
pub(crate) struct ListQuery {
    pub(crate) selection: AttributeSelection,
    pub(crate) start_index: i64,
    pub(crate) count: i64,
    pub(crate) filter: Option<Filter>,
    pub(crate) sort: Option<(AttrPath, bool)>,
}

impl ListQuery {
    /// Parse the lower-case query parameters (or SearchRequest fields) of a list.
    pub(crate) fn parse(
        params: &HashMap<String, String>,
        state: &AppState,
    ) -> Result<ListQuery, ApiError> {
        let selection = selection(params, &state.filter_limits)?;
        let (start_index, count) = paging(params, state.max_page_size)?;
        let filter = params
            .get("filter")
            .map(|text| Filter::parse_with(text, &state.filter_limits))
            .transpose()?;
        let sort = sort_param(params)?;
        Ok(ListQuery { selection, start_index, count, filter, sort })
    }
}

/// `startIndex` (1-based, at least 1) and `count` (0 to `max`, default `max`).
pub(crate) fn paging(params: &HashMap<String, String>, max: u32) -> Result<(i64, i64), ApiError> {
    let start_index = parse_int(params, "startindex")?.unwrap_or(1).max(1);
    let count = parse_int(params, "count")?.unwrap_or(i64::from(max)).clamp(0, i64::from(max));
    Ok((start_index, count))
}

fn parse_int(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                ApiError::Scim(ScimError::invalid_value(format!("{name} must be an integer")))
            })
        })
        .transpose()
}

pub(crate) fn with_etag(mut response: HttpResponse, version: i64) -> HttpResponse {
    if let Ok(value) = header::HeaderValue::from_str(&roster_scim::etag::etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// A canonical PATCH operation as the change log carries it.
pub(crate) fn event_operation(op: &PatchOp) -> PatchOperation {
    let (kind, path, value_json) = op.to_parts();
    let op = match kind {
        PatchOpKind::Add => patch_operation::Op::Add,
        PatchOpKind::Replace => patch_operation::Op::Replace,
        PatchOpKind::Remove => patch_operation::Op::Remove,
    };
    PatchOperation { op: op.into(), path, value_json }
}

/// What a write's outcome says: a rejection (the SCIM error), a success without body (204), or
/// a success with the applied resource.
pub(crate) enum Answer {
    NoContent(StatusCode),
    Applied { status: StatusCode, id: Uuid, body: AppliedBody },
}

pub(crate) fn answer(outcome: OutcomeRow) -> Result<Answer, ApiError> {
    let status = StatusCode::from_u16(outcome.status as u16).map_err(|_| {
        ApiError::internal(anyhow::anyhow!("outcome has status {}", outcome.status))
    })?;
    if !status.is_success() {
        let error =
            outcome.body.as_ref().and_then(ScimError::from_body).unwrap_or_else(|| {
                ScimError::new(status.as_u16(), None, "the change was rejected")
            });
        return Err(ApiError::Scim(error));
    }
    let (Some(id), Some(body)) = (outcome.resource_id, outcome.body) else {
        return Ok(Answer::NoContent(status));
    };
    let body = serde_json::from_value(body).map_err(ApiError::internal)?;
    Ok(Answer::Applied { status, id, body })
}

/// The resource a 2xx answers with: the outcome's, or the one the request published (`sent`)
/// when the outcome leaves it out because it stored exactly that (a user's create or replace).
pub(crate) fn applied_resource(
    stored: Option<serde_json::Value>,
    sent: Option<serde_json::Value>,
) -> Result<serde_json::Value, ApiError> {
    stored
        .or(sent)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the outcome holds no resource")))
}

/// A written resource: its JSON, `Location` on a 201, and its ETag.
pub(crate) fn written(
    status: StatusCode,
    resource: &serde_json::Value,
    location: &str,
    version: i64,
) -> HttpResponse {
    let mut response = super::scim_json(status, resource);
    if status == StatusCode::CREATED
        && let Ok(value) = header::HeaderValue::from_str(location)
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    with_etag(response, version)
}

/// `sortBy` and `sortOrder` (ascending unless `descending`).
fn sort_param(params: &HashMap<String, String>) -> Result<Option<(AttrPath, bool)>, ApiError> {
    let Some(path) = params.get("sortby") else { return Ok(None) };
    let descending =
        params.get("sortorder").is_some_and(|order| order.eq_ignore_ascii_case("descending"));
    Ok(Some((AttrPath::parse(path)?, descending)))
}

/// A filter or sort the translation cannot express is `400 invalidFilter`.
pub(crate) fn filter_error(error: FilterSqlError) -> ApiError {
    match error {
        FilterSqlError::Unsupported(detail) => ApiError::Scim(ScimError::invalid_filter(detail)),
        FilterSqlError::Query(error) => ApiError::from(error),
    }
}
