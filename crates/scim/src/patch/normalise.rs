//! Operations made canonical (see the module documentation of [`crate::patch`]): path-less
//! values split into paths, paths spelt canonically, values coerced to their attribute's shape.

use serde_json::{Map, Value};

use super::attributes::any_attribute;
use super::json::is_empty;
use super::{PatchOp, PatchOpKind, PatchPath, invalid_path, is, mutability};
use crate::error::{ScimError, ScimType};
use crate::filter::AttrPath;
use crate::schema::{self, ENTERPRISE, GROUP, Kind, USER};
use crate::user::{self, ENTERPRISE_USER_SCHEMA};

/// The URN when `path` names a whole extension schema (`urn:…:enterprise:2.0:User`), not an
/// attribute in it.
pub(super) fn whole_extension(path: &PatchPath) -> Option<String> {
    if path.filter.is_some() || path.attr.sub_attr.is_some() {
        return None;
    }
    let urn = path.attr.to_string();
    (schema::is_schema_urn(&urn) && !urn.to_ascii_lowercase().contains(":core:")).then_some(urn)
}

/// Normalises one operation into canonical operations (several for a path-less add/replace).
pub(crate) fn normalise(op: PatchOp) -> Result<Vec<PatchOp>, ScimError> {
    let Some(path) = op.path else {
        if op.op == PatchOpKind::Remove {
            return Err(ScimError::bad_request(ScimType::NoTarget, "remove requires a path"));
        }
        let Some(Value::Object(value)) = op.value else {
            return Err(ScimError::invalid_value(format!(
                "{} without a path requires an object value",
                op.op
            )));
        };
        let mut out = Vec::new();
        for (path, value) in expand(value, 0)? {
            out.extend(normalise_with_path(op.op, path, Some(value))?);
        }
        return Ok(out);
    };
    // A whole schema as the path (`"path": "urn:…:enterprise:2.0:User"`, value an object of its
    // attributes): read like a path-less operation on `{urn: value}`.
    if path.filter.is_none() && path.attr.sub_attr.is_none() {
        let urn = path.attr.to_string();
        if schema::is_schema_urn(&urn) {
            return match (op.op, op.value) {
                // Removing an extension removes its whole object (applied by
                // `remove_extension`); the core schema cannot be removed.
                (PatchOpKind::Remove, _) if whole_extension(&path).is_some() => {
                    Ok(vec![PatchOp { op: PatchOpKind::Remove, path: Some(path), value: None }])
                }
                (PatchOpKind::Remove, _) => {
                    Err(invalid_path(format!("{urn} is the core schema and cannot be removed")))
                }
                (kind, Some(value @ Value::Object(_))) => {
                    let mut wrapped = Map::new();
                    wrapped.insert(urn, value);
                    normalise(PatchOp { op: kind, path: None, value: Some(Value::Object(wrapped)) })
                }
                (kind, _) => Err(ScimError::invalid_value(format!(
                    "{kind} of {urn} requires an object value"
                ))),
            };
        }
    }
    normalise_with_path(op.op, path, op.value)
}

/// The `(path, value)` pairs of a path-less add/replace value (quirk Q4).
fn expand(value: Map<String, Value>, depth: usize) -> Result<Vec<(PatchPath, Value)>, ScimError> {
    let mut out = Vec::new();
    for (key, value) in value {
        if value.is_null() || is(&key, "schemas") || is(&key, "meta") {
            continue;
        }
        if !schema::is_schema_urn(&key) {
            out.push((PatchPath::parse(&key)?, value));
            continue;
        }
        let Value::Object(inner) = value else {
            return Err(ScimError::invalid_value(format!("{key} must be an object")));
        };
        if (AttrPath { urn: Some(key.clone()), attr: "x".into(), sub_attr: None }).is_core() {
            // Core attributes nested under their own schema URN.
            if depth > 0 {
                return Err(ScimError::invalid_value(format!("{key} cannot nest")));
            }
            out.extend(expand(inner, depth + 1)?);
            continue;
        }
        for (attr, value) in inner {
            if !value.is_null() {
                out.push((PatchPath::parse(&format!("{key}:{attr}"))?, value));
            }
        }
    }
    Ok(out)
}

fn normalise_with_path(
    op: PatchOpKind,
    path: PatchPath,
    value: Option<Value>,
) -> Result<Vec<PatchOp>, ScimError> {
    let path = canonical_path(path)?;
    let value = value.filter(|v| !v.is_null());
    let remove =
        |path: PatchPath| PatchOp { op: PatchOpKind::Remove, path: Some(path), value: None };
    if op == PatchOpKind::Remove {
        // Entra's member removal by value list (Q3): keep the list, as objects.
        let value = match value {
            Some(Value::Array(items)) => Some(Value::Array(
                items.into_iter().filter(|v| !v.is_null()).map(element).collect(),
            )),
            Some(object @ Value::Object(_)) => Some(Value::Array(vec![element(object)])),
            _ => None,
        };
        return Ok(vec![PatchOp { op, path: Some(path), value }]);
    }
    let Some(value) = value else {
        return match op {
            PatchOpKind::Replace => Ok(vec![remove(path)]),
            _ => Err(ScimError::invalid_value(format!("{op} of {path} requires a value"))),
        };
    };
    if is_manager(&path) && path.filter.is_none() {
        return Ok(match path.sub_attr() {
            None => match user::manager(value)? {
                Some(manager) => vec![PatchOp { op, path: Some(path), value: Some(manager) }],
                None => vec![remove(path)],
            },
            Some(sub) if is(sub, "value") && is_empty(&value) => {
                vec![remove(PatchPath::attr(AttrPath { sub_attr: None, ..path.attr }))]
            }
            Some(_) => vec![PatchOp { op, path: Some(path), value: Some(value) }],
        });
    }
    let value = normalise_value(&path, value)?;
    Ok(vec![PatchOp { op, path: Some(path), value: Some(value) }])
}

/// The canonical spelling of a path, or `400 mutability` for `id` and `meta`.
fn canonical_path(path: PatchPath) -> Result<PatchPath, ScimError> {
    let PatchPath { mut attr, filter } = path;
    // Q17: `urn:…:2.0:User.department` was read as URN `urn:…:2.0`, attribute `User`.
    if attr.urn.is_some()
        && (is(&attr.attr, "User") || is(&attr.attr, "Group"))
        && let (Some(urn), Some(sub)) = (attr.urn.take(), attr.sub_attr.take())
    {
        attr = AttrPath { urn: Some(format!("{urn}:{}", attr.attr)), attr: sub, sub_attr: None };
    }
    if attr.is_core() {
        attr.urn = None;
    }
    let core = |name: &str| schema::find(USER, name).or_else(|| schema::find(GROUP, name));
    if attr.urn.is_none()
        && core(&attr.attr).is_none()
        && schema::find(ENTERPRISE, &attr.attr).is_some()
    {
        attr.urn = Some(ENTERPRISE_USER_SCHEMA.to_string());
    }
    let kind = match attr.urn.as_deref() {
        None => {
            if is(&attr.attr, "id") || is(&attr.attr, "meta") {
                return Err(mutability(format!("{} is readOnly", attr.attr)));
            }
            core(&attr.attr)
        }
        Some(urn) if urn.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) => {
            attr.urn = Some(ENTERPRISE_USER_SCHEMA.to_string());
            schema::find(ENTERPRISE, &attr.attr)
        }
        Some(urn) if schema::is_schema_urn(urn) => None,
        Some(urn) => {
            return Err(invalid_path(format!("{urn} is not a schema URN (…:User or …:Group)")));
        }
    };
    if let Some((name, kind)) = kind {
        attr.attr = name.to_string();
        if let Some((sub, _)) = attr.sub_attr.as_deref().and_then(|s| kind.sub(s)) {
            attr.sub_attr = Some(sub.to_string());
        }
    }
    Ok(PatchPath { attr, filter })
}

/// Whether the path names the enterprise manager (after [`canonical_path`]).
fn is_manager(path: &PatchPath) -> bool {
    path.attr.urn.as_deref() == Some(ENTERPRISE_USER_SCHEMA) && path.attr.attr == "manager"
}

/// Coerces the value of an add/replace to the shape of its target: booleans, lists for
/// multi-valued attributes, role unwrapping.
fn normalise_value(path: &PatchPath, value: Value) -> Result<Value, ScimError> {
    let Some((name, kind)) = any_attribute(path.attr.urn.as_deref(), &path.attr.attr) else {
        return Ok(value);
    };
    let target = match (path.sub_attr(), &path.filter) {
        (Some(sub), _) => match kind.sub(sub) {
            Some((_, kind)) => kind,
            None => return Ok(value),
        },
        (None, Some(_)) => Kind::Complex(kind.subs()),
        (None, None) => kind,
    };
    let label = path.to_string();
    Ok(match (target, value) {
        (Kind::Boolean, value) => user::boolean(&label, value)?,
        (Kind::MultiComplex(subs), Value::Array(items)) => Value::Array(
            items
                .into_iter()
                .filter(|v| !v.is_null())
                .map(|item| element_of(name, subs, item))
                .collect::<Result<_, _>>()?,
        ),
        (Kind::MultiComplex(subs), item @ (Value::Object(_) | Value::String(_))) => {
            Value::Array(vec![element_of(name, subs, item)?])
        }
        (Kind::Complex(subs), item @ Value::Object(_)) => element_of(name, subs, item)?,
        (_, value) => value,
    })
}

/// One element of a multi-valued attribute: a bare string is its `value`; nulls are dropped;
/// boolean sub-attributes are coerced; roles are unwrapped (Q9).
fn element_of(
    attr: &str,
    subs: &'static [(&'static str, Kind)],
    item: Value,
) -> Result<Value, ScimError> {
    let Value::Object(mut map) = element(item) else {
        return Err(ScimError::invalid_value(format!("{attr} elements must be objects")));
    };
    if attr == "roles" {
        map = user::role(map);
    }
    let mut out = Map::new();
    for (key, value) in map {
        let value = match schema::find(subs, &key) {
            Some((sub, Kind::Boolean)) => user::boolean(&format!("{attr}.{sub}"), value)?,
            _ => value,
        };
        out.insert(key, value);
    }
    Ok(Value::Object(out))
}

/// A list element as an object: a bare string is `{"value": s}`; null sub-attributes dropped.
fn element(item: Value) -> Value {
    match item {
        Value::String(s) => {
            let mut map = Map::new();
            map.insert("value".into(), Value::String(s));
            Value::Object(map)
        }
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}
