//! One canonical operation applied to a resource (or its extension object).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::attributes::Lookup;
use super::elements::{
    canonical_json, element_index, is_primary, merge, object_value_key, refers_elsewhere,
    single_primary, value_key,
};
use super::json::{is_empty, key_in, remove_key, set_key};
use super::value_filter::{element_matches, equality_constraints};
use super::{PatchOp, PatchOpKind, PatchPath, invalid_path, no_target};
use crate::error::{ScimError, ScimType};
use crate::filter::{AttrPath, Filter};
use crate::schema::Kind;

/// How an attribute holds its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Simple,
    Complex,
    Multi,
}

/// Applies one canonical operation (path set) to `resource`.
pub(crate) fn apply(
    resource: &mut Map<String, Value>,
    op: &PatchOp,
    lookup: Lookup,
) -> Result<(), ScimError> {
    let Some(path) = &op.path else {
        return Err(ScimError::bad_request(ScimType::NoTarget, "operation without a path"));
    };
    let attr = &path.attr;
    let removing = op.op == PatchOpKind::Remove;
    // The object holding the attribute: the resource, or an extension object.
    let container = match attr.urn.as_deref() {
        None => resource,
        Some(urn) => {
            let key = key_in(resource, urn).unwrap_or_else(|| urn.to_string());
            if removing && !resource.contains_key(&key) {
                return if path.filter.is_some() { Err(no_target(path)) } else { Ok(()) };
            }
            let ext = resource.entry(key).or_insert_with(|| Value::Object(Map::new()));
            match ext {
                Value::Object(ext) => ext,
                _ => return Err(ScimError::invalid_value(format!("{urn} must be an object"))),
            }
        }
    };
    let known = lookup(attr.urn.as_deref(), &attr.attr);
    let key = key_in(container, &attr.attr)
        .or_else(|| known.map(|(name, _)| name.to_string()))
        .unwrap_or_else(|| attr.attr.clone());
    let shape = match (known.map(|(_, kind)| kind), container.get(&key), &op.value) {
        (Some(Kind::MultiComplex(_)), _, _) => Shape::Multi,
        (Some(Kind::Complex(_)), _, _) => Shape::Complex,
        (Some(_), _, _) => Shape::Simple,
        (None, Some(Value::Array(_)), _) => Shape::Multi,
        (None, Some(Value::Object(_)), _) => Shape::Complex,
        (None, Some(_), _) => Shape::Simple,
        (None, None, _) if path.filter.is_some() => Shape::Multi,
        (None, None, Some(Value::Array(_))) => Shape::Multi,
        (None, None, Some(Value::Object(_))) => Shape::Complex,
        (None, None, _) if attr.sub_attr.is_some() => Shape::Complex,
        (None, None, _) => Shape::Simple,
    };
    if shape == Shape::Simple && (attr.sub_attr.is_some() || path.filter.is_some()) {
        return Err(invalid_path(format!("{} has no sub-attributes", attr.attr)));
    }
    let sub_kind = |name: &str| known.and_then(|(_, kind)| kind.sub(name)).map(|(_, k)| k);
    match (op.op, &path.filter) {
        (PatchOpKind::Remove, None) => remove(container, &key, attr, op.value.as_ref()),
        (PatchOpKind::Remove, Some(filter)) => remove_matching(container, &key, path, filter),
        (_, None) => {
            let value = op.value.clone().unwrap_or(Value::Null);
            set(container, &key, attr, shape, op.op, value)
        }
        (_, Some(filter)) => {
            let value = op.value.clone().unwrap_or(Value::Null);
            set_matching(container, &key, path, filter, shape, value, &sub_kind)
        }
    }
}

/// `remove` without filter.
fn remove(
    container: &mut Map<String, Value>,
    key: &str,
    attr: &AttrPath,
    values: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(current) = container.get_mut(key) else { return Ok(()) };
    match (attr.sub_attr.as_deref(), current) {
        (None, Value::Array(elements)) => match values {
            // Entra: remove only the listed values (Q3).
            Some(Value::Array(listed)) => {
                let listed: HashSet<String> = listed.iter().filter_map(value_key).collect();
                elements.retain(|e| value_key(e).is_none_or(|key| !listed.contains(&key)));
            }
            _ => elements.clear(),
        },
        (None, Value::Object(object)) => {
            let listed = values.and_then(Value::as_array);
            let key = object_value_key(object);
            let matches = listed.is_none_or(|listed| {
                key.as_ref()
                    .is_some_and(|key| listed.iter().any(|l| value_key(l).as_ref() == Some(key)))
            });
            if matches {
                object.clear();
            }
        }
        (None, _) => {
            container.remove(key);
        }
        (Some(sub), Value::Object(object)) => {
            remove_key(object, sub);
        }
        (Some(sub), Value::Array(elements)) => {
            for e in elements.iter_mut() {
                if let Value::Object(e) = e {
                    remove_key(e, sub);
                }
            }
        }
        (Some(_), _) => return Err(invalid_path(format!("{} has no sub-attributes", attr.attr))),
    }
    drop_if_empty(container, key);
    Ok(())
}

/// `remove` with a value filter: the matching elements, or their sub-attribute.
fn remove_matching(
    container: &mut Map<String, Value>,
    key: &str,
    path: &PatchPath,
    filter: &Filter,
) -> Result<(), ScimError> {
    let sub = path.sub_attr();
    let matched = match container.get_mut(key) {
        Some(Value::Array(elements)) => {
            let before = elements.len();
            match sub {
                None => {
                    elements.retain(|e| !element_matches(key, filter, e));
                    before - elements.len()
                }
                Some(sub) => {
                    let mut n = 0;
                    for e in elements.iter_mut().filter(|e| element_matches(key, filter, e)) {
                        if let Value::Object(e) = e {
                            remove_key(e, sub);
                        }
                        n += 1;
                    }
                    n
                }
            }
        }
        Some(single @ Value::Object(_)) if element_matches(key, filter, single) => {
            match (sub, single) {
                (Some(sub), Value::Object(object)) => remove_key(object, sub),
                (_, single) => *single = Value::Null,
            }
            1
        }
        _ => 0,
    };
    if matched == 0 {
        return Err(no_target(path));
    }
    drop_if_empty(container, key);
    Ok(())
}

/// `add` or `replace` without filter.
fn set(
    container: &mut Map<String, Value>,
    key: &str,
    attr: &AttrPath,
    shape: Shape,
    op: PatchOpKind,
    value: Value,
) -> Result<(), ScimError> {
    match (shape, attr.sub_attr.as_deref()) {
        (Shape::Multi, None) => {
            let new = match value {
                Value::Array(items) => items,
                other => vec![other],
            };
            let current = container.entry(key.to_string()).or_insert(Value::Null);
            let mut touched = Vec::new();
            match (op, current) {
                (PatchOpKind::Add, Value::Array(elements)) => {
                    // An element with a `value` merges into the first element with the same
                    // value (case-insensitively); one without is added unless an equal element
                    // is there. Both are looked up in hash tables, so adding N values to M is
                    // O(N + M), not O(N × M).
                    let (mut by_value, mut without_value) = element_index(elements);
                    for item in new {
                        // Only an element this operation makes primary may win over the others.
                        let primary = is_primary(&item);
                        let key = value_key(&item);
                        if let Some(i) = key.as_ref().and_then(|key| by_value.get(key).copied()) {
                            let mut rekeyed = false;
                            if let (Some(Value::Object(e)), Value::Object(item)) =
                                (elements.get_mut(i), item)
                            {
                                merge(e, item);
                                // The merged `value` folds as before, unless the item spelt
                                // `value` twice in different cases: then index again.
                                rekeyed = object_value_key(e) != key;
                            }
                            if rekeyed {
                                (by_value, without_value) = element_index(elements);
                            }
                            if primary {
                                touched.push(i);
                            }
                            continue;
                        }
                        let i = elements.len();
                        match key {
                            Some(key) => {
                                by_value.insert(key, i);
                            }
                            // An element without a value is only ever equal to another one
                            // without a value, and those are never merged into, so the set
                            // stays right.
                            None => {
                                if !without_value.insert(canonical_json(&item)) {
                                    continue;
                                }
                            }
                        }
                        elements.push(item);
                        if primary {
                            touched.push(i);
                        }
                    }
                    single_primary(elements, &touched);
                }
                (_, current) => {
                    touched = (0..new.len()).collect();
                    let mut new = new;
                    single_primary(&mut new, &touched);
                    *current = Value::Array(new);
                }
            }
        }
        (Shape::Multi, Some(sub)) => {
            let current = container.entry(key.to_string()).or_insert(Value::Null);
            match current {
                Value::Array(elements) if !elements.is_empty() => {
                    for e in elements.iter_mut() {
                        if let Value::Object(e) = e {
                            set_key(e, sub, value.clone());
                        }
                    }
                }
                other => {
                    let mut e = Map::new();
                    e.insert(sub.to_string(), value);
                    *other = Value::Array(vec![Value::Object(e)]);
                }
            }
        }
        (Shape::Complex, None) => match (container.get_mut(key), value) {
            // RFC 7644: sub-attributes not given are left unchanged. But a reference to another
            // resource (`manager`) is replaced whole when its `value` changes, so that the old
            // `$ref` and `displayName` do not stay behind.
            (Some(Value::Object(current)), Value::Object(value))
                if !refers_elsewhere(current, &value) =>
            {
                merge(current, value)
            }
            (_, value) => {
                container.insert(key.to_string(), value);
            }
        },
        (Shape::Complex, Some(sub)) => {
            let current =
                container.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !current.is_object() {
                *current = Value::Object(Map::new());
            }
            if let Value::Object(current) = current {
                set_key(current, sub, value);
            }
        }
        (Shape::Simple, _) => {
            container.insert(key.to_string(), value);
        }
    }
    drop_if_empty(container, key);
    Ok(())
}

/// `add` or `replace` with a value filter: update the matching elements, or create one from the
/// filter's equality constraints (Entra quirk Q6).
fn set_matching(
    container: &mut Map<String, Value>,
    key: &str,
    path: &PatchPath,
    filter: &Filter,
    shape: Shape,
    value: Value,
    sub_kind: &dyn Fn(&str) -> Option<Kind>,
) -> Result<(), ScimError> {
    let sub = path.sub_attr();
    let apply_to = |element: &mut Map<String, Value>| -> Result<(), ScimError> {
        match (sub, &value) {
            (Some(sub), value) => set_key(element, sub, value.clone()),
            (None, Value::Object(value)) => merge(element, value.clone()),
            (None, _) => {
                return Err(ScimError::invalid_value(format!(
                    "the value for {path} must be an object"
                )));
            }
        }
        Ok(())
    };
    if shape == Shape::Complex {
        // A filter on a single-valued complex attribute (`manager[value eq "x"]`).
        return match container.get_mut(key) {
            Some(Value::Object(object))
                if element_matches(key, filter, &Value::Object(object.clone())) =>
            {
                apply_to(object)
            }
            _ => Err(no_target(path)),
        };
    }
    let current = container.entry(key.to_string()).or_insert(Value::Null);
    if !current.is_array() {
        *current = Value::Array(Vec::new());
    }
    let Value::Array(elements) = current else { return Ok(()) };
    let mut touched = Vec::new();
    for (i, e) in elements.iter_mut().enumerate() {
        if element_matches(key, filter, e)
            && let Value::Object(e) = e
        {
            apply_to(e)?;
            touched.push(i);
        }
    }
    if touched.is_empty() {
        let Some(constraints) = equality_constraints(filter) else {
            return Err(no_target(path));
        };
        let mut element = Map::new();
        for (name, value) in constraints {
            let value = match (sub_kind(&name), value) {
                (Some(Kind::Boolean), Value::String(s)) if s.eq_ignore_ascii_case("true") => {
                    Value::Bool(true)
                }
                (Some(Kind::Boolean), Value::String(s)) if s.eq_ignore_ascii_case("false") => {
                    Value::Bool(false)
                }
                (_, value) => value,
            };
            set_key(&mut element, &name, value);
        }
        apply_to(&mut element)?;
        elements.push(Value::Object(element));
        touched.push(elements.len() - 1);
    }
    single_primary(elements, &touched);
    drop_if_empty(container, key);
    Ok(())
}

/// Unassigns an attribute left null, empty or holding only empty elements (RFC 7643 §2.5).
fn drop_if_empty(container: &mut Map<String, Value>, key: &str) {
    if let Some(Value::Array(elements)) = container.get_mut(key) {
        elements.retain(|e| !is_empty(e));
    }
    if container.get(key).is_some_and(is_empty) {
        container.remove(key);
    }
}
