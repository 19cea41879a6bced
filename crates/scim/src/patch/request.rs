//! The body of a PATCH request read, normalised, and checked against the limits.

use serde_json::Value;

use super::json::get;
use super::normalise::normalise;
use super::{PATCH_OP_SCHEMA, PatchOp, PatchOpKind, PatchPath, invalid_path, is};
use crate::error::ScimError;
use crate::filter::{CompValue, Filter};
use crate::limits::{Budget, Limits, Path};

/// The body of a PATCH request.
#[derive(Debug, Clone, Copy)]
pub struct PatchRequest;

impl PatchRequest {
    /// [`PatchRequest::parse`], then the operations checked against `limits` (what the gateway
    /// does before anything is published): at most [`Limits::max_operations`] operations,
    /// before and after normalisation; at most [`Limits::max_members`] member values in all;
    /// paths and values as the walker wants them, with the indexed limit for `userName`,
    /// `externalId`, `displayName` and `emails`, filter values of value paths included (an
    /// `add` to `emails[value eq "…"]` creates that value). Errors name the operation's path.
    pub fn parse_with(body: &Value, limits: &Limits) -> Result<Vec<PatchOp>, ScimError> {
        if let Some(Value::Array(raw)) = body.as_object().and_then(|b| get(b, "Operations")) {
            limits.check_operation_count(raw.len())?;
            for (index, raw) in raw.iter().enumerate() {
                if let Some(Value::String(path)) = raw.as_object().and_then(|r| get(r, "path")) {
                    let label = format!("Operations[{index}].path");
                    limits.check_str(path, &Path::Text(&label), Budget::Plain)?;
                }
            }
        }
        let ops = PatchRequest::parse(body)?;
        limits.check_operation_count(ops.len())?;
        let mut members = 0;
        for op in &ops {
            check_op(op, limits, &mut members)?;
        }
        Ok(ops)
    }

    /// Validates a PATCH body and returns its operations in canonical form, in request order.
    ///
    /// Errors: a body that is not a PatchOp message is `400 invalidSyntax`; a bad path
    /// `400 invalidPath`; a value of the wrong shape `400 invalidValue`; a `remove` without path
    /// `400 noTarget`; a path to `id` or `meta` `400 mutability`.
    pub fn parse(body: &Value) -> Result<Vec<PatchOp>, ScimError> {
        let Value::Object(body) = body else {
            return Err(ScimError::invalid_syntax("the PATCH body must be a JSON object"));
        };
        match get(body, "schemas") {
            None => {}
            Some(Value::Array(schemas))
                if schemas.iter().any(|s| {
                    s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
                }) => {}
            Some(Value::String(s)) if s.eq_ignore_ascii_case(PATCH_OP_SCHEMA) => {}
            Some(_) => {
                return Err(ScimError::invalid_syntax(format!(
                    "schemas must contain {PATCH_OP_SCHEMA}"
                )));
            }
        }
        let operations = match get(body, "Operations") {
            Some(Value::Array(ops)) if !ops.is_empty() => ops,
            _ => {
                return Err(ScimError::invalid_syntax(
                    "Operations must be a list of at least one operation",
                ));
            }
        };
        let mut out = Vec::with_capacity(operations.len());
        for (index, raw) in operations.iter().enumerate() {
            let Value::Object(raw) = raw else {
                return Err(ScimError::invalid_syntax(format!(
                    "Operations[{index}] must be an object"
                )));
            };
            let op = match get(raw, "op") {
                Some(Value::String(s)) => PatchOpKind::parse(s),
                _ => None,
            }
            .ok_or_else(|| {
                ScimError::invalid_syntax(format!(
                    "Operations[{index}].op must be \"add\", \"replace\" or \"remove\""
                ))
            })?;
            let path = match get(raw, "path") {
                None => None,
                Some(Value::String(path)) => Some(PatchPath::parse(path)?),
                Some(_) => {
                    return Err(invalid_path(format!("Operations[{index}].path must be a string")));
                }
            };
            let value = get(raw, "value").cloned();
            out.extend(normalise(PatchOp { op, path, value })?);
        }
        Ok(out)
    }
}

/// Checks one canonical operation against `limits`; `members` counts the member values so far.
fn check_op(op: &PatchOp, limits: &Limits, members: &mut usize) -> Result<(), ScimError> {
    let Some(path) = &op.path else { return Ok(()) };
    let text = path.to_string();
    let label = Path::Text(&text);
    let attr = &path.attr.attr;
    let indexed = is(attr, "emails")
        || (path.attr.urn.is_none()
            && ["userName", "externalId", "displayName"].iter().any(|a| is(a, attr)));
    let budget = if indexed { Budget::Indexed } else { Budget::Plain };
    let is_members = path.attr.urn.is_none() && is(attr, "members");
    if let Some(filter) = &path.filter {
        let mut strings = Vec::new();
        filter_strings(filter, &mut strings);
        if is_members {
            *members += strings.len();
            limits.check_member_count(*members)?;
        }
        for s in strings {
            limits.check_str(s, &label, budget)?;
        }
    }
    let Some(value) = &op.value else { return Ok(()) };
    if !is_members {
        return limits.check_value(value, &label, budget);
    }
    let items = match value {
        Value::Array(items) => items.as_slice(),
        item => std::slice::from_ref(item),
    };
    *members += items.len();
    limits.check_member_count(*members)?;
    for (index, item) in items.iter().enumerate() {
        limits.check_value(item, &Path::Index(&label, index), Budget::Plain)?;
    }
    Ok(())
}

/// The string values a filter compares with.
fn filter_strings<'f>(filter: &'f Filter, out: &mut Vec<&'f str>) {
    match filter {
        Filter::And(left, right) | Filter::Or(left, right) => {
            filter_strings(left, out);
            filter_strings(right, out);
        }
        Filter::Not(inner) | Filter::ValuePath { filter: inner, .. } => filter_strings(inner, out),
        Filter::Compare { value: CompValue::String(s), .. } => out.push(s),
        Filter::Compare { .. } | Filter::Present(_) => {}
    }
}
