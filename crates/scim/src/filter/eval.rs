//! AST × JSON → bool: evaluates a [`Filter`] against a resource held as a JSON object.
//!
//! The rules are listed on [`Filter::matches`]. The evaluator walks the filter recursively; the
//! parser bounds its depth.

use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::DateTime;
use serde_json::{Map, Number, Value};

use super::{AttrPath, CompValue, CompareOp, Filter, is_core_urn, starts_with_urn};

/// What the evaluator needs to know about the schema.
pub trait AttributeInfo {
    /// Whether string values of the attribute at `path` compare case-sensitively
    /// (RFC 7643 `caseExact`).
    ///
    /// `path` is the full path of the attribute: inside a value path it is the multi-valued
    /// attribute with the inner name as sub-attribute (`emails[value eq "x"]` asks about
    /// `emails.value`), and a complex attribute compared through its `value`
    /// (`members eq "x"`) asks about `members.value`.
    fn case_exact(&self, path: &AttrPath) -> bool;
}

/// The RFC 7643 defaults for the User and Group schemas: `id`, `externalId`, `meta.*`, any
/// `$ref` and `members.value` are case-exact; everything else (`userName`, `displayName`,
/// `emails.value`, `emails.type`, extension attributes, …) is not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultAttributeInfo;

impl AttributeInfo for DefaultAttributeInfo {
    fn case_exact(&self, path: &AttrPath) -> bool {
        let is = |name: &str, wanted: &str| name.eq_ignore_ascii_case(wanted);
        if is(&path.attr, "$ref") || path.sub_attr.as_deref().is_some_and(|s| is(s, "$ref")) {
            return true;
        }
        if !path.is_core() {
            return false;
        }
        match path.sub_attr.as_deref() {
            None => is(&path.attr, "id") || is(&path.attr, "externalId") || is(&path.attr, "meta"),
            Some(sub) => is(&path.attr, "meta") || (is(&path.attr, "members") && is(sub, "value")),
        }
    }
}

/// Entry point of [`Filter::matches`].
pub(super) fn matches(filter: &Filter, resource: &Value, attrs: &dyn AttributeInfo) -> bool {
    eval(filter, resource, Scope::Resource, attrs)
}

/// What the paths of a filter are relative to.
#[derive(Clone, Copy)]
enum Scope<'p> {
    /// The resource: paths may carry URNs and name extension attributes.
    Resource,
    /// One element of the multi-valued attribute `parent`, inside `parent[…]`.
    Element { parent: &'p AttrPath },
}

fn eval(filter: &Filter, node: &Value, scope: Scope<'_>, attrs: &dyn AttributeInfo) -> bool {
    match filter {
        Filter::And(left, right) => {
            eval(left, node, scope, attrs) && eval(right, node, scope, attrs)
        }
        Filter::Or(left, right) => {
            eval(left, node, scope, attrs) || eval(right, node, scope, attrs)
        }
        Filter::Not(inner) => !eval(inner, node, scope, attrs),
        Filter::Present(path) => values(node, path, scope).into_iter().any(is_present),
        Filter::Compare { path, op, value } => {
            let full = full_path(path, scope);
            let case_exact = attrs.case_exact(&full);
            values(node, path, scope).into_iter().any(|actual| match actual {
                // A complex value compared as a whole is compared through its `value`.
                Value::Object(object) => get(object, "value").is_some_and(|inner| {
                    let case_exact = match scope {
                        Scope::Resource if path.sub_attr.is_none() => {
                            attrs.case_exact(&full.clone().with_sub_attr("value"))
                        }
                        _ => case_exact,
                    };
                    compare(inner, *op, value, case_exact)
                }),
                scalar => compare(scalar, *op, value, case_exact),
            })
        }
        Filter::ValuePath { path, filter } => {
            let parent = full_path(path, scope);
            let inner_scope = Scope::Element { parent: &parent };
            values(node, path, scope)
                .into_iter()
                .any(|element| eval(filter, element, inner_scope, attrs))
        }
    }
}

/// The path as the schema knows it: inside `parent[…]`, `type` is `parent.type`.
fn full_path(path: &AttrPath, scope: Scope<'_>) -> AttrPath {
    match scope {
        Scope::Resource => path.clone(),
        Scope::Element { parent } => AttrPath {
            urn: parent.urn.clone(),
            attr: parent.attr.clone(),
            sub_attr: Some(path.attr.clone()),
        },
    }
}

/// The values `path` designates in `node`, with multi-valued attributes flattened into their
/// elements and nulls left out. Empty when the attribute is absent.
fn values<'v>(node: &'v Value, path: &AttrPath, scope: Scope<'_>) -> Vec<&'v Value> {
    let base = match scope {
        Scope::Resource => lookup_attribute(node, path),
        Scope::Element { .. } => match node {
            Value::Object(element) => get(element, &path.attr),
            // An element of a multi-valued attribute of simple values is its own `value`.
            simple if path.attr.eq_ignore_ascii_case("value") => Some(simple),
            _ => None,
        },
    };
    let mut out = Vec::new();
    let Some(base) = base else { return out };
    match path.sub_attr.as_deref() {
        None => push_flattened(&mut out, base),
        Some(sub) => match base {
            Value::Array(elements) => {
                for element in elements {
                    if let Some(value) = element.as_object().and_then(|e| get(e, sub)) {
                        push_flattened(&mut out, value);
                    }
                }
            }
            Value::Object(object) => {
                if let Some(value) = get(object, sub) {
                    push_flattened(&mut out, value);
                }
            }
            _ => {}
        },
    }
    out
}

/// The attribute `path` names at the top of a resource (its sub-attribute is not applied).
fn lookup_attribute<'v>(resource: &'v Value, path: &AttrPath) -> Option<&'v Value> {
    let root = resource.as_object()?;
    match path.urn.as_deref() {
        Some(urn) if !is_core_urn(urn) => {
            get(root, urn)?.as_object().and_then(|ext| get(ext, &path.attr))
        }
        Some(_) => get(root, &path.attr),
        None => get(root, &path.attr).or_else(|| {
            // Not a core attribute: try the extensions (a bare `manager` is the enterprise one).
            root.iter()
                .filter(|(key, _)| starts_with_urn(key))
                .find_map(|(_, ext)| ext.as_object().and_then(|ext| get(ext, &path.attr)))
        }),
    }
}

/// `object[key]` with the key matched case-insensitively; a null counts as absent.
fn get<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object
        .get(key)
        .or_else(|| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
        .filter(|v| !v.is_null())
}

fn push_flattened<'v>(out: &mut Vec<&'v Value>, value: &'v Value) {
    match value {
        Value::Null => {}
        Value::Array(elements) => out.extend(elements.iter().filter(|e| !e.is_null())),
        other => out.push(other),
    }
}

/// `pr`: false for `""`, `[]`, `{}` and objects or arrays holding only such values.
fn is_present(value: &Value) -> bool {
    let is_empty = |v: &Value| match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    match value {
        Value::Array(elements) => elements.iter().any(|e| !is_empty(e)),
        Value::Object(members) => members.values().any(|v| !is_empty(v)),
        other => !is_empty(other),
    }
}

/// One value of the resource against the filter's value. The resource's type decides.
fn compare(actual: &Value, op: CompareOp, expected: &CompValue, case_exact: bool) -> bool {
    match actual {
        Value::String(s) => compare_string(s, op, expected, case_exact),
        Value::Number(n) => compare_number(n, op, expected),
        Value::Bool(b) => compare_bool(*b, op, expected),
        _ => false,
    }
}

fn compare_string(actual: &str, op: CompareOp, expected: &CompValue, case_exact: bool) -> bool {
    let expected: Cow<'_, str> = match expected {
        CompValue::String(s) => Cow::Borrowed(s),
        // An unquoted number against a string attribute (`externalId eq 12345`): as text.
        CompValue::Number(n) => Cow::Owned(n.to_string()),
        // Entra sends booleans as "True"/"False" strings (Q10).
        CompValue::Bool(b) => {
            return match parse_bool(actual) {
                Some(actual) => equality(op, actual == *b),
                None => op == CompareOp::Ne,
            };
        }
        CompValue::Null => return op == CompareOp::Ne,
    };
    match op {
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            let (actual, expected) = if case_exact {
                (Cow::Borrowed(actual), expected)
            } else {
                (Cow::Owned(actual.to_lowercase()), Cow::Owned(expected.to_lowercase()))
            };
            match op {
                CompareOp::Co => actual.contains(expected.as_ref()),
                CompareOp::Sw => actual.starts_with(expected.as_ref()),
                _ => actual.ends_with(expected.as_ref()),
            }
        }
        _ => ordering(op, compare_text(actual, &expected, case_exact)),
    }
}

/// Two strings in order: chronologically when both are RFC 3339 date-times, else as text.
fn compare_text(actual: &str, expected: &str, case_exact: bool) -> Ordering {
    if let (Ok(a), Ok(b)) =
        (DateTime::parse_from_rfc3339(actual), DateTime::parse_from_rfc3339(expected))
    {
        return a.cmp(&b);
    }
    if case_exact {
        actual.cmp(expected)
    } else {
        actual.to_lowercase().cmp(&expected.to_lowercase())
    }
}

fn compare_number(actual: &Number, op: CompareOp, expected: &CompValue) -> bool {
    let expected = match expected {
        CompValue::Number(n) => Some(n.clone()),
        CompValue::String(s) => serde_json::from_str::<Number>(s.trim()).ok(),
        CompValue::Bool(_) | CompValue::Null => None,
    };
    match (op, expected.and_then(|e| compare_numbers(actual, &e))) {
        (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, _) => false,
        (_, Some(order)) => ordering(op, order),
        (_, None) => op == CompareOp::Ne,
    }
}

/// Numbers in order: exactly for integers, as `f64` otherwise.
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    let int = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (int(a), int(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn compare_bool(actual: bool, op: CompareOp, expected: &CompValue) -> bool {
    let expected = match expected {
        CompValue::Bool(b) => Some(*b),
        CompValue::String(s) => parse_bool(s),
        CompValue::Number(_) | CompValue::Null => None,
    };
    match expected {
        Some(expected) => equality(op, actual == expected),
        None => op == CompareOp::Ne,
    }
}

/// `"true"`/`"false"` in any case (Entra quirk Q2/Q10).
fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// `eq`/`ne` given whether the values are equal; other operators do not apply.
fn equality(op: CompareOp, equal: bool) -> bool {
    match op {
        CompareOp::Eq => equal,
        CompareOp::Ne => !equal,
        _ => false,
    }
}

/// `eq`, `ne`, `gt`, `lt`, `ge`, `le` given the order of the values.
fn ordering(op: CompareOp, order: Ordering) -> bool {
    match op {
        CompareOp::Eq => order == Ordering::Equal,
        CompareOp::Ne => order != Ordering::Equal,
        CompareOp::Gt => order == Ordering::Greater,
        CompareOp::Lt => order == Ordering::Less,
        CompareOp::Ge => order != Ordering::Less,
        CompareOp::Le => order != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}
