//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) applied to a rendered
//! resource.
//!
//! - Names are compared case-insensitively; they may be sub-attributes (`name.givenName`,
//!   `emails.value`), URN-qualified (`urn:…:enterprise:2.0:User:department`,
//!   `urn:…:core:2.0:User:userName`) or a whole extension (`urn:…:enterprise:2.0:User`). A bare
//!   enterprise attribute name (`manager`, `department`) means the enterprise one, as in PATCH.
//! - `id` and `schemas` are always returned (`returned: always`); excluding them does nothing.
//!   `meta` is returned by default, and with `attributes` only when it is listed.
//! - When both parameters are given, `attributes` selects and `excludedAttributes` then removes.
//! - [`AttributeSelection::wants_members`] tells whether a group's `members` will be shown, so
//!   that `excludedAttributes=members` (Entra's group lookups) never loads them.

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::filter::AttrPath;
use crate::schema::{self, ENTERPRISE, GROUP, USER};
use crate::user::ENTERPRISE_USER_SCHEMA;

/// Attributes returned whatever the parameters say.
const ALWAYS: &[&str] = &["id", "schemas"];

/// One name of an `attributes` or `excludedAttributes` list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    /// The core schema URN on its own: every core (top-level, non-extension) attribute.
    Core,
    /// A whole extension object, by schema URN.
    Extension(String),
    /// An attribute (with `urn` only for extension attributes), maybe with a sub-attribute.
    Attr(AttrPath),
}

/// The parsed `attributes` / `excludedAttributes` query parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttributeSelection {
    /// `attributes`: `None` when absent or empty (everything returned by default).
    include: Option<Vec<Name>>,
    /// `excludedAttributes`.
    exclude: Vec<Name>,
}

impl AttributeSelection {
    /// Everything (no parameters).
    pub fn all() -> AttributeSelection {
        AttributeSelection::default()
    }

    /// Parses the two query parameters, each a comma-separated list (already URL-decoded).
    /// A name that is not an attribute path is `400 invalidPath`.
    pub fn parse(
        attributes: Option<&str>,
        excluded_attributes: Option<&str>,
    ) -> Result<AttributeSelection, ScimError> {
        let include = parse_list(attributes.unwrap_or_default())?;
        Ok(AttributeSelection {
            include: (!include.is_empty()).then_some(include),
            exclude: parse_list(excluded_attributes.unwrap_or_default())?,
        })
    }

    /// Whether the selection keeps everything.
    pub fn is_all(&self) -> bool {
        self.include.is_none() && self.exclude.is_empty()
    }

    /// Whether the core attribute `attr` (top level, any case) is returned at all, fully or in
    /// part.
    pub fn wants(&self, attr: &str) -> bool {
        let names_it = |n: &Name, whole: bool| match n {
            Name::Attr(p) => {
                p.urn.is_none()
                    && p.attr.eq_ignore_ascii_case(attr)
                    && (!whole || p.sub_attr.is_none())
            }
            Name::Core => true,
            Name::Extension(_) => false,
        };
        if ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(attr)) {
            return true;
        }
        let included = match &self.include {
            None => true,
            Some(names) => names.iter().any(|n| names_it(n, false)),
        };
        included && !self.exclude.iter().any(|n| names_it(n, true))
    }

    /// Whether a group's `members` are returned: callers skip loading them otherwise.
    pub fn wants_members(&self) -> bool {
        self.wants("members")
    }

    /// The resource with only the selected attributes. Non-objects are returned unchanged.
    pub fn apply(&self, resource: &Value) -> Value {
        let Value::Object(resource) = resource else { return resource.clone() };
        let mut out = match &self.include {
            None => resource.clone(),
            Some(names) => include(resource, names),
        };
        for name in &self.exclude {
            exclude(&mut out, name);
        }
        Value::Object(out)
    }
}

fn parse_list(list: &str) -> Result<Vec<Name>, ScimError> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(parse_name).collect()
}

fn parse_name(text: &str) -> Result<Name, ScimError> {
    if schema::is_schema_urn(text) {
        let urn = if text.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
            ENTERPRISE_USER_SCHEMA.to_string()
        } else {
            text.to_string()
        };
        if (AttrPath { urn: Some(urn.clone()), attr: "x".into(), sub_attr: None }).is_core() {
            return Ok(Name::Core);
        }
        return Ok(Name::Extension(urn));
    }
    let mut path = AttrPath::parse(text).map_err(|e| {
        ScimError::bad_request(
            ScimType::InvalidPath,
            format!("{text:?} is not an attribute: {}", e.detail),
        )
    })?;
    if path.is_core() {
        path.urn = None;
    }
    let core = |a: &str| schema::find(USER, a).is_some() || schema::find(GROUP, a).is_some();
    if path.urn.is_none() && !core(&path.attr) && schema::find(ENTERPRISE, &path.attr).is_some() {
        path.urn = Some(ENTERPRISE_USER_SCHEMA.to_string());
    }
    Ok(Name::Attr(path))
}

/// The attributes of `resource` named in `names`, plus `id` and `schemas`.
fn include(resource: &Map<String, Value>, names: &[Name]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in resource {
        if ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(key)) {
            out.insert(key.clone(), value.clone());
            continue;
        }
        let selected = if schema::starts_with_urn(key) {
            if names.iter().any(|n| matches!(n, Name::Extension(u) if u.eq_ignore_ascii_case(key)))
            {
                Some(value.clone())
            } else {
                let paths: Vec<&AttrPath> = names
                    .iter()
                    .filter_map(|n| match n {
                        Name::Attr(p)
                            if p.urn.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(key)) =>
                        {
                            Some(p)
                        }
                        _ => None,
                    })
                    .collect();
                match value {
                    Value::Object(ext) if !paths.is_empty() => {
                        let inner = include_attrs(ext, &paths);
                        (!inner.is_empty()).then_some(Value::Object(inner))
                    }
                    _ => None,
                }
            }
        } else if names.contains(&Name::Core) {
            Some(value.clone())
        } else {
            let paths: Vec<&AttrPath> = names
                .iter()
                .filter_map(|n| match n {
                    Name::Attr(p) if p.urn.is_none() && p.attr.eq_ignore_ascii_case(key) => Some(p),
                    _ => None,
                })
                .collect();
            select_value(value, &paths)
        };
        if let Some(value) = selected {
            out.insert(key.clone(), value);
        }
    }
    out
}

/// The attributes of an extension object named by `paths` (all of the same URN).
fn include_attrs(object: &Map<String, Value>, paths: &[&AttrPath]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in object {
        let mine: Vec<&AttrPath> =
            paths.iter().copied().filter(|p| p.attr.eq_ignore_ascii_case(key)).collect();
        if let Some(value) = select_value(value, &mine) {
            out.insert(key.clone(), value);
        }
    }
    out
}

/// One attribute's value given the paths naming it: whole when one names it without
/// sub-attribute, else only the named sub-attributes (of the object or of each element).
fn select_value(value: &Value, paths: &[&AttrPath]) -> Option<Value> {
    if paths.is_empty() {
        return None;
    }
    if paths.iter().any(|p| p.sub_attr.is_none()) {
        return Some(value.clone());
    }
    let subs: Vec<&str> = paths.iter().filter_map(|p| p.sub_attr.as_deref()).collect();
    let pick = |object: &Map<String, Value>| -> Map<String, Value> {
        object
            .iter()
            .filter(|(k, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    match value {
        Value::Object(object) => {
            let picked = pick(object);
            (!picked.is_empty()).then_some(Value::Object(picked))
        }
        Value::Array(elements) => {
            let picked: Vec<Value> = elements
                .iter()
                .filter_map(Value::as_object)
                .map(pick)
                .filter(|e| !e.is_empty())
                .map(Value::Object)
                .collect();
            (!picked.is_empty()).then_some(Value::Array(picked))
        }
        _ => None,
    }
}

/// Removes what `name` designates from `resource` (never `id` or `schemas`).
fn exclude(resource: &mut Map<String, Value>, name: &Name) {
    match name {
        Name::Core => resource.retain(|k, _| {
            ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(k)) || schema::starts_with_urn(k)
        }),
        Name::Extension(urn) => remove_key(resource, urn),
        Name::Attr(path) => {
            let container = match path.urn.as_deref() {
                None => {
                    if ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(&path.attr)) {
                        return;
                    }
                    Some(&mut *resource)
                }
                Some(urn) => {
                    let key = resource.keys().find(|k| k.eq_ignore_ascii_case(urn)).cloned();
                    key.and_then(|k| resource.get_mut(&k)).and_then(Value::as_object_mut)
                }
            };
            let Some(container) = container else { return };
            match path.sub_attr.as_deref() {
                None => remove_key(container, &path.attr),
                Some(sub) => {
                    let key =
                        container.keys().find(|k| k.eq_ignore_ascii_case(&path.attr)).cloned();
                    match key.as_ref().and_then(|k| container.get_mut(k)) {
                        Some(Value::Object(object)) => remove_key(object, sub),
                        Some(Value::Array(elements)) => {
                            for e in elements.iter_mut().filter_map(Value::as_object_mut) {
                                remove_key(e, sub);
                            }
                        }
                        _ => {}
                    }
                }
            }
            if let Some(urn) = path.urn.as_deref() {
                let key = resource.keys().find(|k| k.eq_ignore_ascii_case(urn)).cloned();
                if let Some(key) = key
                    && resource.get(&key).and_then(Value::as_object).is_some_and(Map::is_empty)
                {
                    resource.remove(&key);
                }
            }
        }
    }
}

fn remove_key(map: &mut Map<String, Value>, name: &str) {
    let keys: Vec<String> = map.keys().filter(|k| k.eq_ignore_ascii_case(name)).cloned().collect();
    for key in keys {
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    const ENT: &str = ENTERPRISE_USER_SCHEMA;

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
            "id": "1",
            "userName": "u",
            "name": {"givenName": "G", "familyName": "F"},
            "emails": [{"value": "a", "type": "work"}, {"value": "b", "type": "home"}],
            ENT: {"department": "D", "manager": {"value": "m"}},
            "meta": {"resourceType": "User"}
        })
    }

    fn select(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        AttributeSelection::parse(attributes, excluded).unwrap().apply(&user())
    }

    #[test]
    fn nothing_selected_returns_everything() {
        assert_eq!(select(None, None), user());
        assert_eq!(select(Some(""), Some(" , ")), user());
        assert!(AttributeSelection::parse(Some(""), None).unwrap().is_all());
    }

    #[test]
    fn attributes_id_returns_id_and_schemas_only() {
        assert_eq!(
            select(Some("id"), None),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT], "id": "1"})
        );
    }

    #[test]
    fn attributes_with_sub_attributes_urns_and_any_case() {
        let out = select(
            Some(
                "USERNAME, name.givenName,emails.Value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department,meta",
            ),
            None,
        );
        assert_eq!(
            out,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
                "id": "1",
                "userName": "u",
                "name": {"givenName": "G"},
                "emails": [{"value": "a"}, {"value": "b"}],
                ENT: {"department": "D"},
                "meta": {"resourceType": "User"}
            })
        );
        let out = select(
            Some(&format!("{ENT},urn:ietf:params:scim:schemas:core:2.0:User:userName")),
            None,
        );
        assert_eq!(out[ENT], user()[ENT]);
        assert_eq!(out["userName"], "u");
        assert!(out.get("meta").is_none());
        let out = select(Some("manager"), None);
        assert_eq!(out[ENT], json!({"manager": {"value": "m"}}));
    }

    #[test]
    fn excluded_attributes() {
        let out = select(
            None,
            Some(
                "emails,name.familyName,id,schemas,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department,Manager",
            ),
        );
        assert_eq!(
            out,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
                "id": "1",
                "userName": "u",
                "name": {"givenName": "G"},
                "meta": {"resourceType": "User"}
            })
        );
        let out = select(None, Some(&format!("{ENT},emails.type")));
        assert!(out.get(ENT).is_none());
        assert_eq!(out["emails"], json!([{"value": "a"}, {"value": "b"}]));
    }

    #[test]
    fn members_wanted_or_not() {
        let wants = |a: Option<&str>, e: Option<&str>| {
            AttributeSelection::parse(a, e).unwrap().wants_members()
        };
        assert!(wants(None, None));
        assert!(!wants(None, Some("members")));
        assert!(!wants(None, Some("MEMBERS")));
        assert!(wants(None, Some("members.display")));
        assert!(!wants(Some("id"), None));
        assert!(!wants(Some("displayName"), None));
        assert!(wants(Some("members"), None));
        assert!(wants(Some("members.value"), None));
        assert!(wants(Some("urn:ietf:params:scim:schemas:core:2.0:Group:members"), None));
        assert!(AttributeSelection::all().wants("id"));
        let group =
            json!({"schemas": [], "id": "g", "displayName": "G", "members": [{"value": "u"}]});
        let out = AttributeSelection::parse(None, Some("members")).unwrap().apply(&group);
        assert_eq!(out, json!({"schemas": [], "id": "g", "displayName": "G"}));
    }

    proptest::proptest! {
        #[test]
        fn selection_never_panics(
            attributes in proptest::option::of("[a-zA-Z.:, $\\[\\]]{0,30}"),
            excluded in proptest::option::of("[a-zA-Z.:, $]{0,30}"),
            resource in crate::patch::tests::json_value(),
        ) {
            if let Ok(selection) = AttributeSelection::parse(attributes.as_deref(), excluded.as_deref()) {
                let _ = selection.apply(&resource);
                let _ = selection.apply(&user());
                let _ = selection.wants_members();
            }
        }
    }

    #[test]
    fn bad_names_are_invalid_paths() {
        for bad in ["a b", "name[", "1x", "a..b"] {
            let err = AttributeSelection::parse(Some(bad), None).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidPath), "{bad}");
            let err = AttributeSelection::parse(None, Some(bad)).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidPath), "{bad}");
        }
    }
}
