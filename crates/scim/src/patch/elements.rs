//! The elements of multi-valued attributes: what they are compared by, the one primary element,
//! merging an element into another.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::is;
use super::json::{get, remove_key, set_key};

/// The elements of a multi-valued attribute by [`value_key`] (the first index of each key), and
/// the [`canonical_json`] of those without one.
pub(super) fn element_index(elements: &[Value]) -> (HashMap<String, usize>, HashSet<String>) {
    let mut by_value: HashMap<String, usize> = HashMap::with_capacity(elements.len());
    let mut without_value: HashSet<String> = HashSet::new();
    for (i, e) in elements.iter().enumerate() {
        match value_key(e) {
            Some(key) => {
                by_value.entry(key).or_insert(i);
            }
            None => {
                without_value.insert(canonical_json(e));
            }
        }
    }
    (by_value, without_value)
}

/// What elements of a multi-valued attribute are compared by: the `value` sub-attribute (the
/// first key equal to `value` ignoring ASCII case) when it is a string, or the element itself
/// when it is a string, case-folded. Two elements have the same value when both have a key and
/// the keys are equal.
pub(super) fn value_key(element: &Value) -> Option<String> {
    match element {
        Value::Object(map) => object_value_key(map),
        Value::String(s) => Some(s.to_lowercase()),
        _ => None,
    }
}

pub(super) fn object_value_key(map: &Map<String, Value>) -> Option<String> {
    map.iter().find(|(k, _)| is(k, "value")).and_then(|(_, v)| v.as_str()).map(str::to_lowercase)
}

/// A text that two JSON values share exactly when they are equal (`==`): object keys sorted
/// (key order does not make maps unequal), and `-0.0` written as `0.0` (they are equal).
pub(super) fn canonical_json(value: &Value) -> String {
    fn write(out: &mut String, value: &Value) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (key, value)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write(out, value);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(out, item);
                }
                out.push(']');
            }
            Value::Number(n) if n.as_f64() == Some(0.0) && n.is_f64() => out.push_str("0.0"),
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(&mut out, value);
    out
}

/// At most one element may be `primary: true` (RFC 7643 §2.4): the last of `preferred` that is
/// primary wins, else the first primary element.
pub(super) fn single_primary(elements: &mut [Value], preferred: &[usize]) {
    // In increasing order, so membership is a binary search.
    let primaries: Vec<usize> =
        elements.iter().enumerate().filter(|(_, e)| is_primary(e)).map(|(i, _)| i).collect();
    if primaries.len() <= 1 {
        return;
    }
    let winner = preferred
        .iter()
        .rev()
        .find(|i| primaries.binary_search(i).is_ok())
        .or_else(|| primaries.first())
        .copied();
    for i in primaries {
        if Some(i) != winner
            && let Some(Value::Object(e)) = elements.get_mut(i)
        {
            set_key(e, "primary", Value::Bool(false));
        }
    }
}

/// Whether `new` has a `value` different from the one of `current`.
pub(super) fn refers_elsewhere(current: &Map<String, Value>, new: &Map<String, Value>) -> bool {
    let value = |m: &Map<String, Value>| get(m, "value").cloned();
    value(new).is_some_and(|new| value(current).is_some_and(|current| current != new))
}

/// Whether an element says `primary: true` (or `"True"`).
pub(super) fn is_primary(element: &Value) -> bool {
    element.as_object().and_then(|e| e.iter().find(|(k, _)| is(k, "primary"))).is_some_and(
        |(_, v)| match v {
            Value::Bool(b) => *b,
            Value::String(s) => s.eq_ignore_ascii_case("true"),
            _ => false,
        },
    )
}

/// Copies `from` into `into`; a null removes the sub-attribute.
pub(super) fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        if value.is_null() {
            remove_key(into, &key);
        } else {
            set_key(into, &key, value);
        }
    }
}
