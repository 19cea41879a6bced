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
//!   that `excludedAttributes=members` (Entra's group lookups) never loads them;
//!   [`AttributeSelection::wants_member_display`] whether their `display` is (`returned:
//!   "request"`: only when `attributes` names `members.display`).
//! - A name may carry a value filter, as Microsoft's SCIMReferenceCode accepts:
//!   `attributes=emails[type eq "work"]` returns only the values of `emails` the filter matches
//!   (`emails[type eq "work"].value` only their `value`), and
//!   `excludedAttributes=emails[type eq "home"]` drops the matching values (with `.value`,
//!   only their `value`). A filter is parsed with the limits of `filter` parameters (length,
//!   depth, and the comparisons of all the names together); a bad one, an unclosed `[` or a
//!   nested value path is `400 invalidFilter`. Names are split at commas outside brackets and
//!   quoted strings.

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::filter::{AttrPath, Filter, ParseLimits};
use crate::patch::element_matches;
use crate::schema::{self, ENTERPRISE, GROUP, USER};
use crate::user::ENTERPRISE_USER_SCHEMA;

/// Attributes returned whatever the parameters say.
const ALWAYS: &[&str] = &["id", "schemas"];

/// One name of an `attributes` or `excludedAttributes` list.
#[derive(Debug, Clone, PartialEq)]
enum Name {
    /// The core schema URN on its own: every core (top-level, non-extension) attribute.
    Core,
    /// A whole extension object, by schema URN.
    Extension(String),
    /// An attribute (with `urn` only for extension attributes), maybe with a sub-attribute.
    Attr(AttrPath),
    /// `attr[filter]` or `attr[filter].subAttr`: the values of `attr` that `filter` matches (or
    /// their sub-attribute). The path's `sub_attr` is the one after the brackets.
    Values(AttrPath, Filter),
}

impl Name {
    /// The attribute path a name designates, with its value filter if any.
    fn path(&self) -> Option<(&AttrPath, Option<&Filter>)> {
        match self {
            Name::Attr(path) => Some((path, None)),
            Name::Values(path, filter) => Some((path, Some(filter))),
            Name::Core | Name::Extension(_) => None,
        }
    }
}

/// A path naming one attribute, with the value filter its name carries.
type Selected<'a> = (&'a AttrPath, Option<&'a Filter>);

/// The parsed `attributes` / `excludedAttributes` query parameters.
#[derive(Debug, Clone, PartialEq, Default)]
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

    /// Parses the two query parameters, each a comma-separated list (already URL-decoded),
    /// with the default [`ParseLimits`] for value filters. A name that is not an attribute path
    /// is `400 invalidPath`; a bad value filter is `400 invalidFilter`.
    pub fn parse(
        attributes: Option<&str>,
        excluded_attributes: Option<&str>,
    ) -> Result<AttributeSelection, ScimError> {
        AttributeSelection::parse_with(attributes, excluded_attributes, &ParseLimits::default())
    }

    /// [`AttributeSelection::parse`] with the limits of the service's `filter` parameters:
    /// each value filter is at most `max_len` characters and `max_depth` deep, and all the
    /// value filters of both lists have at most `max_terms` comparisons together.
    pub fn parse_with(
        attributes: Option<&str>,
        excluded_attributes: Option<&str>,
        limits: &ParseLimits,
    ) -> Result<AttributeSelection, ScimError> {
        let include = parse_list(attributes.unwrap_or_default(), limits)?;
        let exclude = parse_list(excluded_attributes.unwrap_or_default(), limits)?;
        let terms: usize = include
            .iter()
            .chain(&exclude)
            .filter_map(|n| n.path().and_then(|(_, f)| f))
            .map(count_terms)
            .sum();
        if terms > limits.max_terms {
            return Err(ScimError::invalid_filter(format!(
                "the value filters of attributes and excludedAttributes have {terms} comparisons; \
                 at most {} are accepted",
                limits.max_terms
            )));
        }
        Ok(AttributeSelection { include: (!include.is_empty()).then_some(include), exclude })
    }

    /// Whether the selection keeps everything.
    pub fn is_all(&self) -> bool {
        self.include.is_none() && self.exclude.is_empty()
    }

    /// Whether the core attribute `attr` (top level, any case) is returned at all, fully or in
    /// part.
    pub fn wants(&self, attr: &str) -> bool {
        // `whole`: the name designates the whole attribute (all its values, all of each).
        let names_it = |n: &Name, whole: bool| match n {
            Name::Attr(p) => {
                p.urn.is_none()
                    && p.attr.eq_ignore_ascii_case(attr)
                    && (!whole || p.sub_attr.is_none())
            }
            Name::Values(p, _) => !whole && p.urn.is_none() && p.attr.eq_ignore_ascii_case(attr),
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

    /// Whether the members' `display` is returned. It is `returned: "request"` (RFC 7643 §7):
    /// shown only when `attributes` names `members.display` itself, so that a default response
    /// shows each member as the client sent it (`value`, `$ref`, `type`), and costs no lookup
    /// of the members' names.
    pub fn wants_member_display(&self) -> bool {
        let names_display = |n: &Name| match n.path() {
            Some((p, _)) => {
                p.urn.is_none()
                    && p.attr.eq_ignore_ascii_case("members")
                    && p.sub_attr.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("display"))
            }
            None => false,
        };
        self.include.as_ref().is_some_and(|names| names.iter().any(names_display))
            && self.wants_members()
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

fn parse_list(list: &str, limits: &ParseLimits) -> Result<Vec<Name>, ScimError> {
    split_names(list)
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| parse_name(name, limits))
        .collect()
}

/// The names of a list: split at the commas that are neither inside brackets nor inside a
/// quoted string (a value filter may hold both). An unclosed bracket or string runs to the end,
/// where [`parse_name`] refuses it.
fn split_names(list: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut start) = (0usize, false, false, 0);
    for (i, c) in list.char_indices() {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' if depth > 0 => quoted = true,
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                names.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    names.push(&list[start..]);
    names
}

/// How many comparisons and `pr` tests a filter has.
fn count_terms(filter: &Filter) -> usize {
    match filter {
        Filter::And(l, r) | Filter::Or(l, r) => count_terms(l) + count_terms(r),
        Filter::Not(inner) => count_terms(inner),
        Filter::ValuePath { filter, .. } => count_terms(filter),
        Filter::Present(_) | Filter::Compare { .. } => 1,
    }
}

fn parse_name(text: &str, limits: &ParseLimits) -> Result<Name, ScimError> {
    match text.find('[') {
        Some(open) => parse_value_path(text, open, limits),
        None => parse_simple(text),
    }
}

/// `attr[filter]` or `attr[filter].subAttr`.
fn parse_value_path(text: &str, open: usize, limits: &ParseLimits) -> Result<Name, ScimError> {
    let invalid_filter = |detail: String| ScimError::invalid_filter(detail);
    let shown = || shorten(text);
    let mut path = parse_attr(&text[..open])?;
    if path.sub_attr.is_some() {
        return Err(invalid_filter(format!(
            "{}: a value filter must follow a multi-valued attribute, not a sub-attribute",
            shown()
        )));
    }
    let close = match text.rfind(']') {
        Some(close) if close > open => close,
        _ => return Err(invalid_filter(format!("{}: \"[\" is not closed", shown()))),
    };
    let filter = Filter::parse_with(&text[open + 1..close], limits).map_err(|e| {
        invalid_filter(format!("{} has an invalid value filter: {}", shown(), e.detail))
    })?;
    if nests(&filter) {
        return Err(invalid_filter(format!("{}: a value filter cannot nest", shown())));
    }
    let rest = &text[close + 1..];
    if !rest.is_empty() {
        match rest.strip_prefix('.').map(AttrPath::parse) {
            Some(Ok(sub)) if sub.urn.is_none() && sub.sub_attr.is_none() => {
                path.sub_attr = Some(sub.attr);
            }
            _ => {
                return Err(invalid_filter(format!(
                    "{}: expected \".subAttribute\" or the end after \"]\"",
                    shown()
                )));
            }
        }
    }
    Ok(Name::Values(path, filter))
}

/// Whether a filter holds a value path (`emails[type eq "work"]` inside brackets).
fn nests(filter: &Filter) -> bool {
    match filter {
        Filter::ValuePath { .. } => true,
        Filter::And(l, r) | Filter::Or(l, r) => nests(l) || nests(r),
        Filter::Not(inner) => nests(inner),
        Filter::Present(_) | Filter::Compare { .. } => false,
    }
}

/// A name as an error detail shows it: quoted, and cut after 100 characters.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// A name without value filter: a schema URN, or an attribute path.
fn parse_simple(text: &str) -> Result<Name, ScimError> {
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
    parse_attr(text).map(Name::Attr)
}

/// An attribute path (`400 invalidPath` otherwise), with the core URN dropped and a bare
/// enterprise attribute name qualified with the enterprise URN.
fn parse_attr(text: &str) -> Result<AttrPath, ScimError> {
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
    Ok(path)
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
                let paths: Vec<Selected<'_>> = names
                    .iter()
                    .filter_map(Name::path)
                    .filter(|(p, _)| p.urn.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(key)))
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
            let paths: Vec<Selected<'_>> = names
                .iter()
                .filter_map(Name::path)
                .filter(|(p, _)| p.urn.is_none() && p.attr.eq_ignore_ascii_case(key))
                .collect();
            select_value(key, value, &paths)
        };
        if let Some(value) = selected {
            out.insert(key.clone(), value);
        }
    }
    out
}

/// The attributes of an extension object named by `paths` (all of the same URN).
fn include_attrs(object: &Map<String, Value>, paths: &[Selected<'_>]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in object {
        let mine: Vec<Selected<'_>> =
            paths.iter().copied().filter(|(p, _)| p.attr.eq_ignore_ascii_case(key)).collect();
        if let Some(value) = select_value(key, value, &mine) {
            out.insert(key.clone(), value);
        }
    }
    out
}

/// One attribute's value (`key`) given the paths naming it: whole when one names it without
/// sub-attribute or filter; else, of the object or of each element, the sub-attributes named
/// without filter, and the element (or the sub-attribute) named by each value filter that
/// matches it. Elements left empty are dropped, and the attribute when nothing is left.
fn select_value(key: &str, value: &Value, paths: &[Selected<'_>]) -> Option<Value> {
    if paths.is_empty() {
        return None;
    }
    if paths.iter().any(|(p, f)| p.sub_attr.is_none() && f.is_none()) {
        return Some(value.clone());
    }
    let subs: Vec<&str> = paths
        .iter()
        .filter(|(_, f)| f.is_none())
        .filter_map(|(p, _)| p.sub_attr.as_deref())
        .collect();
    let filtered: Vec<(&AttrPath, &Filter)> =
        paths.iter().filter_map(|(p, f)| f.map(|f| (*p, f))).collect();
    let pick = |element: &Value| -> Option<Value> {
        let mut wanted = subs.clone();
        for (path, filter) in &filtered {
            if element_matches(key, filter, element) {
                match path.sub_attr.as_deref() {
                    None => return Some(element.clone()),
                    Some(sub) => wanted.push(sub),
                }
            }
        }
        let object = element.as_object()?;
        let picked: Map<String, Value> = object
            .iter()
            .filter(|(k, _)| wanted.iter().any(|s| s.eq_ignore_ascii_case(k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (!picked.is_empty()).then_some(Value::Object(picked))
    };
    match value {
        Value::Object(_) => pick(value),
        Value::Array(elements) => {
            let picked: Vec<Value> = elements.iter().filter_map(pick).collect();
            (!picked.is_empty()).then_some(Value::Array(picked))
        }
        _ => None,
    }
}

/// Removes what `name` designates from `resource` (never `id` or `schemas`).
fn exclude(resource: &mut Map<String, Value>, name: &Name) {
    let (path, filter) = match name {
        Name::Core => {
            resource.retain(|k, _| {
                ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(k)) || schema::starts_with_urn(k)
            });
            return;
        }
        Name::Extension(urn) => {
            remove_key(resource, urn);
            return;
        }
        Name::Attr(path) => (path, None),
        Name::Values(path, filter) => (path, Some(filter)),
    };
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
    match (filter, path.sub_attr.as_deref()) {
        (None, None) => remove_key(container, &path.attr),
        (None, Some(sub)) => {
            let key = container.keys().find(|k| k.eq_ignore_ascii_case(&path.attr)).cloned();
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
        (Some(filter), sub) => exclude_values(container, &path.attr, filter, sub),
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

/// `excludedAttributes=attr[filter]` (the matching values go) or `attr[filter].sub` (their
/// `sub` goes); an attribute left without values goes too.
fn exclude_values(
    container: &mut Map<String, Value>,
    attr: &str,
    filter: &Filter,
    sub: Option<&str>,
) {
    let Some(key) = container.keys().find(|k| k.eq_ignore_ascii_case(attr)).cloned() else {
        return;
    };
    let now_empty = match container.get_mut(&key) {
        Some(Value::Array(elements)) => {
            match sub {
                None => elements.retain(|e| !element_matches(&key, filter, e)),
                Some(sub) => {
                    for e in elements.iter_mut() {
                        if element_matches(&key, filter, e)
                            && let Some(object) = e.as_object_mut()
                        {
                            remove_key(object, sub);
                        }
                    }
                    elements.retain(|e| !e.as_object().is_some_and(Map::is_empty));
                }
            }
            elements.is_empty()
        }
        Some(single @ Value::Object(_)) if element_matches(&key, filter, single) => match sub {
            None => true,
            Some(sub) => {
                let object = single.as_object_mut();
                object.is_some_and(|o| {
                    remove_key(o, sub);
                    o.is_empty()
                })
            }
        },
        _ => false,
    };
    if now_empty {
        container.remove(&key);
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
    fn member_display_is_shown_only_when_named() {
        let display = |a: Option<&str>, e: Option<&str>| {
            AttributeSelection::parse(a, e).unwrap().wants_member_display()
        };
        assert!(!display(None, None), "returned: request, not by default");
        assert!(!display(Some("members"), None), "naming members does not name display");
        assert!(!display(Some("displayName"), None));
        assert!(display(Some("members.display"), None));
        assert!(display(Some("Members.Display,members.value"), None), "any case");
        assert!(display(Some("members[type eq \"User\"].display"), None));
        assert!(!display(Some("members.display"), Some("members")), "excluded after all");
        assert!(!display(Some("urn:ietf:params:scim:schemas:extension:x:members.display"), None));
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
            attributes in proptest::option::of("[a-zA-Z.:, $\\[\\]\" ]{0,30}"),
            excluded in proptest::option::of("[a-zA-Z.:, $\\[\\]\" ]{0,30}"),
            resource in crate::patch::tests::json_value(),
        ) {
            if let Ok(selection) = AttributeSelection::parse(attributes.as_deref(), excluded.as_deref()) {
                let _ = selection.apply(&resource);
                let _ = selection.apply(&user());
                let _ = selection.wants_members();
            }
        }
    }

    proptest::proptest! {
        /// Value filters of generated shapes: never a panic, and what `attributes` returns of
        /// the attribute is exactly the values the filter matches; `excludedAttributes` keeps
        /// exactly the others.
        #[test]
        fn value_filters_select_exactly_the_matching_values(
            attr in "(emails|EMAILS|name|manager|addresses)",
            inner in "(type|value|TYPE|givenName|nope)",
            op in "(eq|ne|co|sw|ew|gt|lt|pr)",
            literal in "(work|home|a|b|G|m|W|)",
            tail in "(|\\.value|\\.type)",
            resource in crate::patch::tests::json_value(),
        ) {
            let filter = if op == "pr" { format!("{inner} pr") } else { format!("{inner} {op} \"{literal}\"") };
            let name = format!("{attr}[{filter}]{tail}");
            let included = AttributeSelection::parse(Some(&name), None).unwrap();
            let excluded = AttributeSelection::parse(None, Some(&name)).unwrap();
            let _ = included.apply(&resource);
            let _ = excluded.apply(&resource);
            if tail.is_empty() && attr.eq_ignore_ascii_case("emails") {
                let parsed = Filter::parse(&filter).unwrap();
                let all = user()["emails"].as_array().unwrap().clone();
                let (matching, others): (Vec<Value>, Vec<Value>) =
                    all.into_iter().partition(|e| element_matches("emails", &parsed, e));
                let kept = included.apply(&user());
                let kept = kept.get("emails").cloned().unwrap_or(json!([]));
                proptest::prop_assert_eq!(kept, Value::Array(matching));
                let left = excluded.apply(&user());
                let left = left.get("emails").cloned().unwrap_or(json!([]));
                proptest::prop_assert_eq!(left, Value::Array(others));
            }
        }
    }

    #[test]
    fn bad_names_are_invalid_paths() {
        for bad in ["a b", "1x", "a..b", "1x[type eq \"work\"]"] {
            let err = AttributeSelection::parse(Some(bad), None).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidPath), "{bad}");
            let err = AttributeSelection::parse(None, Some(bad)).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidPath), "{bad}");
        }
    }

    #[test]
    fn attributes_with_a_value_filter_keep_the_matching_values() {
        let out = select(Some(r#"emails[type eq "work"]"#), None);
        assert_eq!(
            out,
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
                "id": "1",
                "emails": [{"value": "a", "type": "work"}]
            })
        );
        // Any case, a URN-qualified name, a sub-attribute after the brackets.
        let out = select(
            Some(r#"urn:ietf:params:scim:schemas:core:2.0:User:EMAILS[TYPE eq "Home"].value"#),
            None,
        );
        assert_eq!(out["emails"], json!([{"value": "b"}]));
        // Filters of every shape; a comma inside the brackets or a string does not split.
        let out = select(Some(r#"emails[type eq "work" or value eq "b"],userName"#), None);
        assert_eq!(out["emails"], user()["emails"]);
        assert_eq!(out["userName"], "u");
        let out = select(Some(r#"emails[value eq "a,b" or type eq "x,y"],userName"#), None);
        assert!(out.get("emails").is_none(), "nothing matched: {out}");
        assert_eq!(out["userName"], "u");
        // The plain name wins over a value filter; plain sub-attributes and filters combine.
        let out = select(Some(r#"emails[type eq "work"],emails"#), None);
        assert_eq!(out["emails"], user()["emails"]);
        let out = select(Some(r#"emails.type,emails[type eq "work"].value"#), None);
        assert_eq!(out["emails"], json!([{"value": "a", "type": "work"}, {"type": "home"}]));
        // A filter on a single-valued complex attribute applies to its one value.
        assert_eq!(select(Some(r#"name[givenName eq "G"]"#), None)["name"], user()["name"]);
        assert!(select(Some(r#"name[givenName eq "X"]"#), None).get("name").is_none());
        // Enterprise attributes by bare name, as in PATCH.
        let out = select(Some(r#"manager[value eq "m"]"#), None);
        assert_eq!(out[ENT], json!({"manager": {"value": "m"}}));
        // The selection still shows members when a filter names them.
        assert!(
            AttributeSelection::parse(Some("members[type eq \"User\"]"), None)
                .unwrap()
                .wants_members()
        );
        assert!(
            AttributeSelection::parse(None, Some("members[type eq \"User\"]"))
                .unwrap()
                .wants_members()
        );
    }

    #[test]
    fn excluded_attributes_with_a_value_filter_drop_the_matching_values() {
        let out = select(None, Some(r#"emails[type eq "work"]"#));
        assert_eq!(out["emails"], json!([{"value": "b", "type": "home"}]));
        assert_eq!(out["userName"], "u");
        let out = select(None, Some(r#"emails[type eq "work"].type"#));
        assert_eq!(out["emails"], json!([{"value": "a"}, {"value": "b", "type": "home"}]));
        // Nothing left: the attribute goes.
        let out = select(None, Some(r#"emails[value pr]"#));
        assert!(out.get("emails").is_none(), "{out}");
        let out = select(None, Some(r#"emails[type eq "nope"]"#));
        assert_eq!(out["emails"], user()["emails"]);
        let out = select(None, Some(r#"manager[value eq "m"]"#));
        assert_eq!(out[ENT], json!({"department": "D"}));
        let out = select(None, Some(r#"name[givenName eq "G"].givenName"#));
        assert_eq!(out["name"], json!({"familyName": "F"}));
        // Both parameters: attributes selects, then excludedAttributes removes.
        let out = select(Some("emails"), Some(r#"emails[type eq "home"]"#));
        assert_eq!(out["emails"], json!([{"value": "a", "type": "work"}]));
        // `id` and `schemas` stay, whatever the filter.
        let out = select(None, Some(r#"id[value pr],schemas[value pr]"#));
        assert_eq!(out["id"], "1");
    }

    #[test]
    fn bad_value_filters_are_invalid_filters() {
        let limits = ParseLimits { max_len: 200, max_depth: 4, max_terms: 3 };
        let long = format!(r#"emails[value eq "{}"]"#, "x".repeat(300));
        let many = r#"emails[type eq "a" or type eq "b"],emails[type eq "c" or type eq "d"]"#;
        for bad in [
            "emails[",
            r#"emails[type eq "work""#,
            r#"emails[type eq "work"],name["#,
            "emails[]",
            "emails[type eq]",
            r#"emails[type eq "wo\u0000rk"]"#,
            "emails[type eq \"wo\u{0}rk\"]",
            "emails[type eq \"\u{1}\"]",
            r#"emails[type eq "work"]x"#,
            r#"emails[type eq "work"].value.x"#,
            r#"emails.value[type eq "work"]"#,
            r#"emails[type eq "work" and x[y eq 1]]"#,
            r#"emails[((((((type eq "work"))))))]"#,
            long.as_str(),
            many,
        ] {
            for (a, e) in [(Some(bad), None), (None, Some(bad))] {
                let err = AttributeSelection::parse_with(a, e, &limits).unwrap_err();
                assert_eq!(err.status, 400, "{bad}");
                assert_eq!(err.scim_type, Some(ScimType::InvalidFilter), "{bad}: {err:?}");
                assert!(err.detail.len() < 1000, "the detail is bounded: {}", err.detail);
            }
        }
        // The limit of comparisons is over both lists together.
        let two = r#"emails[type eq "a" or type eq "b"]"#;
        assert!(AttributeSelection::parse_with(Some(two), None, &limits).is_ok());
        assert!(AttributeSelection::parse_with(Some(two), Some(two), &limits).is_err());
    }
}
