//! JSON objects whose keys are matched ignoring case, and empty values.

use serde_json::{Map, Value};

use super::is;

/// The key of `map` equal to `name` ignoring case.
pub(super) fn key_in(map: &Map<String, Value>, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_string());
    }
    map.keys().find(|k| is(k, name)).cloned()
}

/// Sets `map[name]`, reusing an existing key that differs only in case.
pub(super) fn set_key(map: &mut Map<String, Value>, name: &str, value: Value) {
    let key = key_in(map, name).unwrap_or_else(|| name.to_string());
    map.insert(key, value);
}

pub(super) fn remove_key(map: &mut Map<String, Value>, name: &str) {
    if let Some(key) = key_in(map, name) {
        map.remove(&key);
    }
}

pub(super) fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// `object[key]` with the key matched case-insensitively.
pub(super) fn get<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object.get(key).or_else(|| object.iter().find(|(k, _)| is(k, key)).map(|(_, v)| v))
}
