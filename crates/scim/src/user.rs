//! The SCIM User resource (RFC 7643 §4.1) and its canonical stored form.
//!
//! A request body becomes a [`User`] through [`User::from_request`], which applies Entra's
//! leniencies (quirks Q2, Q10, Q11, Q12, Q13 of `docs/entra/behaviour.md`): attribute names
//! in any case, `meta`/`id`/nulls ignored, booleans sent as `"True"`/`"False"`, unknown schema
//! URIs ignored, extension objects accepted whether or not `schemas` lists them, the enterprise
//! `manager` as an object, a bare id or a one-element list (Q8; empty means absent), and role
//! elements whose `value` is a JSON object in a string unwrapped, `displayName` read as
//! `display` (Q9). The result is the canonical JSON that the change log carries and Postgres
//! stores, without `id` and `meta`. PATCH results go through the same validation
//! ([`crate::patch::apply_to_user`]).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::ScimError;
use crate::limits::Limits;
use crate::schema::{self, ENTERPRISE, Kind, USER as CORE};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Attributes ignored in requests: `id` and `meta` are readOnly, `schemas` is recomputed, and
/// `password` is never stored: Roster provisions identities, it does not authenticate them.
const IGNORED: &[&str] = &["id", "meta", "schemas", "password"];

/// A validated User in canonical form: known attribute names in their canonical case,
/// booleans as booleans, no nulls, no `id`/`meta`, `schemas` listing core and every extension
/// present.
#[derive(Debug, Clone, PartialEq)]
pub struct User(Map<String, Value>);

/// What a response needs besides the resource itself (RFC 7643 §3.1 `meta`).
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub created: DateTime<Utc>,
    pub last_modified: DateTime<Utc>,
    /// The resource's URL.
    pub location: String,
    /// Incremented on every change; rendered as the weak ETag `W/"<version>"`.
    pub version: i64,
}

impl User {
    /// Validate and normalise the body of a POST or PUT, then check the result against
    /// `limits` (what the gateway does before anything is published).
    pub fn from_request_with(body: Value, limits: &Limits) -> Result<User, ScimError> {
        let user = User::from_request(body)?;
        limits.check_user(&user.0)?;
        Ok(user)
    }

    /// Validate and normalise the body of a POST or PUT (or the result of a PATCH), without
    /// size limits: see [`User::from_request_with`].
    pub fn from_request(body: Value) -> Result<User, ScimError> {
        let Value::Object(body) = body else {
            return Err(ScimError::invalid_syntax("the request body must be a JSON object"));
        };
        let mut out = Map::new();
        let mut extensions = Vec::new();
        for (key, value) in body {
            if value.is_null() || IGNORED.iter().any(|k| k.eq_ignore_ascii_case(&key)) {
                continue;
            }
            if key.len() > 4 && schema::starts_with_urn(&key) {
                // An extension object (enterprise or custom), listed in `schemas` or not (Q13).
                let Value::Object(ext) = value else {
                    return Err(ScimError::invalid_value(format!(
                        "extension {key} must be a JSON object"
                    )));
                };
                let (key, ext) = if key.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
                    (ENTERPRISE_USER_SCHEMA.to_string(), enterprise(ext)?)
                } else {
                    (key, drop_nulls(ext))
                };
                if !ext.is_empty() {
                    extensions.push(key.clone());
                    out.insert(key, Value::Object(ext));
                }
                continue;
            }
            match CORE.iter().find(|(name, _)| name.eq_ignore_ascii_case(&key)) {
                Some((name, kind)) => {
                    let value = normalise(name, *kind, value)?;
                    if !is_empty(&value) {
                        out.insert((*name).to_string(), value);
                    }
                }
                // Unknown core-level attributes are kept as sent: they are returned, never lost.
                None => {
                    out.insert(key, value);
                }
            }
        }
        match out.get("userName") {
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            _ => {
                return Err(ScimError::invalid_value("userName is required and must not be empty"));
            }
        }
        let mut schemas = vec![Value::String(USER_SCHEMA.into())];
        schemas.extend(extensions.into_iter().map(Value::String));
        let mut canonical = Map::new();
        canonical.insert("schemas".into(), Value::Array(schemas));
        canonical.extend(out);
        Ok(User(canonical))
    }

    /// Rebuild a user from its stored canonical form (trusted: written by [`User::from_request`]).
    pub fn from_stored(value: Value) -> User {
        match value {
            Value::Object(map) => User(map),
            _ => User(Map::new()),
        }
    }

    /// The `userName` (unique per directory, compared case-insensitively).
    pub fn user_name(&self) -> &str {
        self.0.get("userName").and_then(Value::as_str).unwrap_or_default()
    }

    /// The `externalId` (Entra: by default the user's mailNickname, or its objectId).
    pub fn external_id(&self) -> Option<&str> {
        self.0.get("externalId").and_then(Value::as_str)
    }

    /// The `displayName`.
    pub fn display_name(&self) -> Option<&str> {
        self.0.get("displayName").and_then(Value::as_str)
    }

    /// `active` defaults to true when absent.
    pub fn active(&self) -> bool {
        self.0.get("active").and_then(Value::as_bool).unwrap_or(true)
    }

    /// The canonical stored form, as a map.
    pub(crate) fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The canonical stored form.
    pub fn as_json(&self) -> Value {
        Value::Object(self.0.clone())
    }

    /// The canonical stored form, consuming the user.
    pub fn into_json(self) -> Value {
        Value::Object(self.0)
    }

    /// The resource as a response shows it: `id` after `schemas`, `meta` last.
    ///
    /// The stored form may come back from Postgres (jsonb) with its keys reordered, so the order
    /// people expect is restored: `schemas`, `id`, `externalId`, `userName`, the rest, `meta`.
    pub fn to_resource(&self, id: &str, meta: &Meta) -> Value {
        let mut out = Map::new();
        out.insert(
            "schemas".into(),
            self.0
                .get("schemas")
                .cloned()
                .unwrap_or_else(|| Value::Array(vec![Value::String(USER_SCHEMA.into())])),
        );
        out.insert("id".into(), Value::String(id.into()));
        for key in ["externalId", "userName"] {
            if let Some(value) = self.0.get(key) {
                out.insert(key.into(), value.clone());
            }
        }
        for (key, value) in &self.0 {
            if !out.contains_key(key) {
                out.insert(key.clone(), value.clone());
            }
        }
        out.insert("meta".into(), meta.to_json("User"));
        Value::Object(out)
    }
}

impl Meta {
    /// The weak ETag of this version: `W/"<version>"`.
    pub fn etag(&self) -> String {
        crate::etag::etag(self.version)
    }

    /// The `meta` attribute of a response (RFC 7643 §3.1), timestamps with milliseconds.
    pub fn to_json(&self, resource_type: &str) -> Value {
        serde_json::json!({
            "resourceType": resource_type,
            "created": self.created.to_rfc3339_opts(SecondsFormat::Millis, true),
            "lastModified": self.last_modified.to_rfc3339_opts(SecondsFormat::Millis, true),
            "location": self.location,
            "version": self.etag(),
        })
    }
}

/// Normalise one attribute value against its kind.
fn normalise(name: &str, kind: Kind, value: Value) -> Result<Value, ScimError> {
    match (kind, value) {
        (_, Value::Null) => Ok(Value::Null),
        (Kind::String, Value::String(s)) => Ok(Value::String(s)),
        (Kind::Boolean, value) => boolean(name, value),
        (Kind::Complex(subs), Value::Object(map)) => complex(name, subs, map),
        (Kind::MultiComplex(subs), Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Null => {}
                    Value::Object(map) => {
                        let map = if name == "roles" { role(map) } else { map };
                        let element = complex(name, subs, map)?;
                        if !is_empty(&element) {
                            out.push(element);
                        }
                    }
                    _ => {
                        return Err(ScimError::invalid_value(format!(
                            "{name} must be a list of objects"
                        )));
                    }
                }
            }
            Ok(Value::Array(out))
        }
        (Kind::String, _) => Err(ScimError::invalid_value(format!("{name} must be a string"))),
        (Kind::Complex(_), _) => Err(ScimError::invalid_value(format!("{name} must be an object"))),
        (Kind::MultiComplex(_), _) => {
            Err(ScimError::invalid_value(format!("{name} must be a list of objects")))
        }
    }
}

fn complex(
    name: &str,
    subs: &[(&'static str, Kind)],
    map: Map<String, Value>,
) -> Result<Value, ScimError> {
    let mut out = Map::new();
    for (key, value) in map {
        if value.is_null() {
            continue;
        }
        match subs.iter().find(|(sub, _)| sub.eq_ignore_ascii_case(&key)) {
            Some((sub, kind)) => {
                let value = normalise(&format!("{name}.{sub}"), *kind, value)?;
                out.insert((*sub).to_string(), value);
            }
            None => {
                out.insert(key, value);
            }
        }
    }
    Ok(Value::Object(out))
}

/// Validates the enterprise extension object (RFC 7643 §4.3): canonical attribute names, string
/// attributes as strings, and `manager` in any of the shapes Entra sends (quirk Q8).
fn enterprise(ext: Map<String, Value>) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for (key, value) in ext {
        if value.is_null() {
            continue;
        }
        match schema::find(ENTERPRISE, &key) {
            Some(("manager", _)) => {
                if let Some(manager) = manager(value)? {
                    out.insert("manager".into(), manager);
                }
            }
            Some((name, kind)) => {
                let value = normalise(&format!("{ENTERPRISE_USER_SCHEMA}:{name}"), kind, value)?;
                out.insert(name.to_string(), value);
            }
            None => {
                out.insert(key, value);
            }
        }
    }
    Ok(out)
}

/// The enterprise `manager` (quirk Q8): an object `{"value": id, …}`, a bare id string, or a
/// one-element array of either. `None` when the value is empty (`""`, `{"value": ""}`, `[]`,
/// `{}`), which Entra sends to remove the manager.
pub(crate) fn manager(value: Value) -> Result<Option<Value>, ScimError> {
    let invalid = || {
        ScimError::invalid_value(
            "manager must be an object with a string \"value\", a string, or a one-element list",
        )
    };
    let object = match value {
        Value::Null => return Ok(None),
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(s) => {
            let mut object = Map::new();
            object.insert("value".into(), Value::String(s));
            return Ok(Some(Value::Object(object)));
        }
        Value::Array(mut items) => match items.len() {
            0 => return Ok(None),
            1 => return manager(items.remove(0)),
            _ => return Err(invalid()),
        },
        Value::Object(map) => map,
        _ => return Err(invalid()),
    };
    let Value::Object(object) =
        complex(&format!("{ENTERPRISE_USER_SCHEMA}:manager"), crate::schema::MANAGER, object)?
    else {
        return Err(invalid());
    };
    match object.get("value") {
        None => Ok(if object.is_empty() { None } else { Some(Value::Object(object)) }),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(_)) => Ok(Some(Value::Object(object))),
        Some(_) => Err(invalid()),
    }
}

/// A `roles` element (quirk Q9 and §6.4 of the Entra notes): a `value` holding a JSON object as
/// a string (`"{\"id\":…,\"value\":\"Admin\",\"displayName\":\"Admin\"}"`) is unwrapped into
/// `value` and `display`, and `displayName` is read as `display`. The app role's `id` inside the
/// JSON is dropped: SCIM roles are identified by `value`.
pub(crate) fn role(mut map: Map<String, Value>) -> Map<String, Value> {
    fn key_of(map: &Map<String, Value>, name: &str) -> Option<String> {
        map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
    }
    fn get(map: &Map<String, Value>, name: &str) -> Option<Value> {
        key_of(map, name).and_then(|k| map.get(&k).cloned())
    }
    let looks_like_json = |s: &str| s.trim_start().starts_with('{');
    // Only a JSON object whose own `value` is a plain string is unwrapped, so that unwrapping
    // is idempotent.
    let inner = match get(&map, "value") {
        Some(Value::String(s)) if looks_like_json(&s) => {
            serde_json::from_str::<Map<String, Value>>(&s).ok().filter(|inner| {
                matches!(get(inner, "value"), Some(Value::String(v)) if !looks_like_json(&v))
            })
        }
        _ => None,
    };
    if let Some(inner) = inner {
        if let (Some(key), Some(value)) = (key_of(&map, "value"), get(&inner, "value")) {
            map.insert(key, value);
        }
        if key_of(&map, "display").is_none()
            && key_of(&map, "displayName").is_none()
            && let Some(display @ Value::String(_)) =
                get(&inner, "displayName").or_else(|| get(&inner, "display"))
        {
            map.insert("display".into(), display);
        }
        for name in ["type", "primary"] {
            if key_of(&map, name).is_none()
                && let Some(value) = get(&inner, name)
            {
                map.insert(name.into(), value);
            }
        }
    }
    if key_of(&map, "display").is_none()
        && let Some(key) = key_of(&map, "displayName")
        && let Some(display) = map.remove(&key)
    {
        map.insert("display".into(), display);
    }
    map
}

/// Booleans arrive as JSON booleans or, from Entra, as the strings "True"/"False" (Q2, Q10).
pub(crate) fn boolean(name: &str, value: Value) -> Result<Value, ScimError> {
    match value {
        Value::Bool(b) => Ok(Value::Bool(b)),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
        _ => Err(ScimError::invalid_value(format!("{name} must be a boolean"))),
    }
}

fn drop_nulls(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter().filter(|(_, v)| !v.is_null()).collect()
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// The create request of `docs/entra/requests.md` §2.1, verbatim.
    fn entra_create() -> Value {
        json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
            "active": true,
            "emails": [{
                "primary": true,
                "type": "work",
                "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
            }],
            "meta": { "resourceType": "User" },
            "name": {
                "formatted": "givenName familyName",
                "familyName": "familyName",
                "givenName": "givenName"
            },
            "roles": []
        })
    }

    #[test]
    fn entra_create_is_accepted_and_cleaned() {
        let user = User::from_request(entra_create()).unwrap();
        assert_eq!(user.user_name(), "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee");
        assert_eq!(user.external_id(), Some("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"));
        assert!(user.active());
        let json = user.as_json();
        assert!(json.get("meta").is_none(), "client meta is ignored");
        assert!(json.get("roles").is_none(), "an empty list is absent");
        // No enterprise attributes were sent, so the extension is not claimed.
        assert_eq!(json["schemas"], json!([USER_SCHEMA]));
    }

    #[test]
    fn names_in_any_case_become_canonical() {
        let user = User::from_request(json!({
            "USERNAME": "a@b.c",
            "Name": {"GIVENNAME": "Ada"},
            "Emails": [{"VALUE": "a@b.c", "Primary": "True"}],
        }))
        .unwrap();
        let json = user.as_json();
        assert_eq!(json["userName"], "a@b.c");
        assert_eq!(json["name"]["givenName"], "Ada");
        assert_eq!(json["emails"][0]["value"], "a@b.c");
        assert_eq!(json["emails"][0]["primary"], true);
    }

    #[test]
    fn string_booleans_are_coerced() {
        let user = User::from_request(json!({"userName": "u", "active": "False"})).unwrap();
        assert!(!user.active());
        let user = User::from_request(json!({"userName": "u", "active": "TRUE"})).unwrap();
        assert!(user.active());
        let err = User::from_request(json!({"userName": "u", "active": "yes"})).unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.scim_type, Some(crate::ScimType::InvalidValue));
    }

    #[test]
    fn user_name_is_required() {
        for body in
            [json!({}), json!({"userName": ""}), json!({"userName": 5}), json!({"userName": null})]
        {
            let err = User::from_request(body).unwrap_err();
            assert_eq!(err.status, 400);
        }
        let err = User::from_request(json!([1])).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::ScimType::InvalidSyntax));
    }

    #[test]
    fn extensions_are_kept_and_listed_even_when_schemas_omits_them() {
        let user = User::from_request(json!({
            "schemas": [USER_SCHEMA],
            "userName": "u",
            ENTERPRISE_USER_SCHEMA: {"department": "Sales", "manager": null},
            "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": {"tag": "x"},
        }))
        .unwrap();
        let json = user.as_json();
        assert_eq!(json[ENTERPRISE_USER_SCHEMA], json!({"department": "Sales"}));
        assert_eq!(json["schemas"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn wrong_types_are_invalid_values() {
        for body in [
            json!({"userName": "u", "emails": "a@b.c"}),
            json!({"userName": "u", "name": "Ada"}),
            json!({"userName": "u", "displayName": 3}),
            json!({"userName": "u", "emails": [1]}),
            json!({"userName": "u", "urn:x:y": 1}),
        ] {
            let err = User::from_request(body.clone()).unwrap_err();
            assert_eq!(err.status, 400, "{body}");
        }
    }

    #[test]
    fn enterprise_manager_shapes_and_role_aliases() {
        for (manager, expected) in [
            (json!("m1"), Some(json!({"value": "m1"}))),
            (json!([{"value": "m1", "$ref": "x"}]), Some(json!({"value": "m1", "$ref": "x"}))),
            (json!({"Value": "m1"}), Some(json!({"value": "m1"}))),
            (json!({"value": ""}), None),
            (json!(""), None),
            (json!([]), None),
        ] {
            let user = User::from_request(json!({
                "userName": "u",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"manager": manager, "Department": "D"},
            }))
            .unwrap()
            .into_json();
            assert_eq!(user[ENTERPRISE_USER_SCHEMA]["department"], "D");
            assert_eq!(user[ENTERPRISE_USER_SCHEMA].get("manager"), expected.as_ref());
        }
        for manager in [json!(5), json!([{"value": "a"}, {"value": "b"}]), json!({"value": 1})] {
            let err = User::from_request(
                json!({"userName": "u", ENTERPRISE_USER_SCHEMA: {"manager": manager}}),
            );
            assert_eq!(err.unwrap_err().scim_type, Some(crate::ScimType::InvalidValue));
        }
        let user = User::from_request(json!({"userName": "u", "roles": [
            {"primary": "True", "displayName": "Admin", "value": "Admin", "type": "WindowsAzureActiveDirectoryRole"},
            {"Value": "{\"id\":\"1\",\"value\":\"User\",\"displayName\":\"User role\"}"},
            {"value": "{\"value\":\"{nested}\"}"},
            {"value": "{not json"}
        ]}))
        .unwrap()
        .into_json();
        assert_eq!(
            user["roles"],
            json!([
                {"primary": true, "display": "Admin", "value": "Admin", "type": "WindowsAzureActiveDirectoryRole"},
                {"value": "User", "display": "User role"},
                {"value": "{\"value\":\"{nested}\"}"},
                {"value": "{not json"}
            ])
        );
    }

    #[test]
    fn attribute_names_of_any_script_are_kept_not_sliced() {
        // `key[..4]` inside a multi-byte character used to panic.
        for key in ["日本語", "日", "ürn:x", "urn日本:x", "ab\u{e9}"] {
            let user = User::from_request(json!({"userName": "u", key: "v"})).unwrap();
            assert_eq!(user.as_json()[key], "v", "{key}");
        }
        let user =
            User::from_request(json!({"userName": "u", "urn:日本:2.0:User": {"x": 1}})).unwrap();
        assert_eq!(user.as_json()["schemas"][1], "urn:日本:2.0:User");
    }

    #[test]
    fn limits_apply_to_the_canonical_user() {
        let limits = Limits::default();
        let err = User::from_request_with(json!({"USERNAME": "a\u{0}b"}), &limits).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::ScimType::InvalidValue));
        assert!(err.detail.starts_with("userName contains the control character U+0000"));
        // Roles unwrapped from JSON in a string are checked as unwrapped.
        let err = User::from_request_with(
            json!({"userName": "u", "roles": [{"value": "{\"value\":\"a\\u0000\"}"}]}),
            &limits,
        )
        .unwrap_err();
        assert!(err.detail.starts_with("roles[0].value contains"), "{}", err.detail);
        let user = User::from_request_with(entra_create(), &limits).unwrap();
        assert_eq!(user, User::from_request(entra_create()).unwrap());
    }

    #[test]
    fn resource_has_id_meta_and_never_password() {
        let user = User::from_request(json!({"userName": "u", "password": "secret"})).unwrap();
        assert!(user.as_json().get("password").is_none(), "a password is never stored");
        let t = DateTime::parse_from_rfc3339("2026-11-25T10:00:00.123456Z").unwrap().to_utc();
        let meta =
            Meta { created: t, last_modified: t, location: "http://x/Users/1".into(), version: 3 };
        let resource = user.to_resource("1", &meta);
        assert_eq!(resource["id"], "1");
        assert!(resource.get("password").is_none());
        assert_eq!(resource["meta"]["created"], "2026-11-25T10:00:00.123Z");
        assert_eq!(resource["meta"]["version"], "W/\"3\"");
        assert_eq!(resource["meta"]["resourceType"], "User");
        let keys: Vec<&String> = resource.as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "schemas");
        assert_eq!(keys[1], "id");
    }
}
