//! The SCIM Group resource (RFC 7643 §4.2) and group PATCH.
//!
//! Membership lives apart from the group (a group may have tens of thousands of members), so:
//!
//! - [`Group::from_request`] returns the group *without* `members`, and the members separately
//!   as [`MemberRef`]s;
//! - [`split_group_ops`] separates the member operations of a PATCH, as [`MembershipChange`]s,
//!   from the others, which [`apply_to_group`] applies to the group itself.
//!
//! Entra leniencies: its extra schema URI
//! `http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group` and other unknown
//! URIs are ignored (Q11); `"$ref": null`, `meta`, `id` and nulls are ignored (Q12); member
//! removal by value list or by `members[value eq "a" or value eq "b"]` removes only those
//! members (Q3); `replace members` replaces the set, `add members` is a union (Q14).

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::limits::{Budget, Limits, Path};
use crate::patch::{self, PatchOp, PatchOpKind};
use crate::schema::{self, GROUP};
use crate::user::{ENTERPRISE_USER_SCHEMA, Meta};

/// The URN of the core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Attributes ignored in requests: readOnly or recomputed.
const IGNORED: &[&str] = &["id", "meta", "schemas", "members"];

/// What a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    /// A user of the same directory.
    User,
    /// A group of the same directory (nested group).
    Group,
}

impl MemberKind {
    /// `User` or `Group`, as RFC 7643 writes the member `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::User => "User",
            MemberKind::Group => "Group",
        }
    }

    /// The kind named `s`, in any case.
    pub fn parse(s: &str) -> Option<MemberKind> {
        [MemberKind::User, MemberKind::Group]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

/// One member of a group: the member's resource id and, when known, its kind and its
/// `display` (RFC 7643 §4.2: readOnly, the member's name as the service stores it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberRef {
    /// The member's `id`.
    pub value: String,
    /// From the member's `type`, or from a `$ref` URL ending in `/Users/…` or `/Groups/…`.
    pub kind: Option<MemberKind>,
    /// The member's display name: a user's `displayName`, else its `userName`; a group's
    /// `displayName`. Responses show it; in requests it is read-only and not kept.
    pub display: Option<String>,
}

impl MemberRef {
    /// A member of unknown kind.
    pub fn new(value: impl Into<String>) -> MemberRef {
        MemberRef { value: value.into(), kind: None, display: None }
    }

    /// A member of a known kind, with its display name when there is one.
    pub fn stored(
        value: impl Into<String>,
        kind: Option<MemberKind>,
        display: Option<String>,
    ) -> MemberRef {
        MemberRef { value: value.into(), kind, display }
    }

    /// Reads one element of a `members` list: `{"value": id, "type"?, "$ref"?, "display"?}`, or
    /// a bare id string. `400 invalidValue` when there is no non-empty string `value`.
    pub fn from_json(element: &Value) -> Result<MemberRef, ScimError> {
        let invalid = || ScimError::invalid_value("each member must have a non-empty string value");
        let object = match element {
            Value::String(s) if !s.is_empty() => return Ok(MemberRef::new(s.clone())),
            Value::Object(object) => object,
            _ => return Err(invalid()),
        };
        let get =
            |key: &str| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v);
        let value = match get("value") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(invalid()),
        };
        let kind = get("type").and_then(Value::as_str).and_then(MemberKind::parse).or_else(|| {
            let reference = get("$ref").and_then(Value::as_str)?;
            if reference.contains("/Groups/") {
                Some(MemberKind::Group)
            } else if reference.contains("/Users/") {
                Some(MemberKind::User)
            } else {
                None
            }
        });
        let display = get("display").and_then(Value::as_str).map(str::to_string);
        Ok(MemberRef { value, kind, display })
    }

    /// The member as a response shows it: `value`, `display` when known, `$ref` when the kind
    /// and the service's base URL are known (the absolute URL of the member resource), and
    /// `type` when the kind is known.
    pub fn to_json(&self, base_url: Option<&str>) -> Value {
        let mut out = Map::new();
        out.insert("value".into(), Value::String(self.value.clone()));
        if let Some(display) = &self.display {
            out.insert("display".into(), Value::String(display.clone()));
        }
        if let Some(kind) = self.kind {
            if let Some(base) = base_url {
                let reference =
                    format!("{}/{}s/{}", base.trim_end_matches('/'), kind.as_str(), self.value);
                out.insert("$ref".into(), Value::String(reference));
            }
            out.insert("type".into(), Value::String(kind.as_str().into()));
        }
        Value::Object(out)
    }
}

/// A validated Group in canonical form, without `id`, `meta` and `members`.
#[derive(Debug, Clone, PartialEq)]
pub struct Group(Map<String, Value>);

impl Group {
    /// Validates and normalises the body of a POST or PUT as [`Group::from_request`] does, and
    /// checks it against `limits`: at most [`Limits::max_members`] members (counted as sent,
    /// duplicates included), member ids and the group's attributes as the walker wants them.
    pub fn from_request_with(
        body: Value,
        limits: &Limits,
    ) -> Result<(Group, Vec<MemberRef>), ScimError> {
        if let Value::Object(object) = &body
            && let Some((_, Value::Array(items))) =
                object.iter().find(|(k, _)| k.eq_ignore_ascii_case("members"))
        {
            limits.check_member_count(items.len())?;
        }
        let (group, members) = Group::from_request(body)?;
        limits.check_group(&group.0)?;
        let list = Path::Key(&Path::Root, "members");
        for (index, member) in members.iter().enumerate() {
            let element = Path::Index(&list, index);
            limits.check_str(&member.value, &Path::Key(&element, "value"), Budget::Plain)?;
        }
        Ok((group, members))
    }

    /// Validates and normalises the body of a POST or PUT: `displayName` is required; members
    /// are returned separately, de-duplicated, in request order. No size limits: see
    /// [`Group::from_request_with`].
    pub fn from_request(body: Value) -> Result<(Group, Vec<MemberRef>), ScimError> {
        let Value::Object(body) = body else {
            return Err(ScimError::invalid_syntax("the request body must be a JSON object"));
        };
        let mut out = Map::new();
        let mut extensions = Vec::new();
        let mut members: Vec<MemberRef> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for (key, value) in body {
            if value.is_null() {
                continue;
            }
            if key.eq_ignore_ascii_case("members") {
                let items = match value {
                    Value::Array(items) => items,
                    _ => return Err(ScimError::invalid_value("members must be a list")),
                };
                for item in items.iter().filter(|v| !v.is_null()) {
                    let member = MemberRef::from_json(item)?;
                    if seen.insert(member.value.clone()) {
                        members.push(member);
                    }
                }
                continue;
            }
            if IGNORED.iter().any(|k| k.eq_ignore_ascii_case(&key)) {
                continue;
            }
            if schema::starts_with_urn(&key) {
                let Value::Object(ext) = value else {
                    return Err(ScimError::invalid_value(format!(
                        "extension {key} must be a JSON object"
                    )));
                };
                let ext: Map<String, Value> =
                    ext.into_iter().filter(|(_, v)| !v.is_null()).collect();
                if !ext.is_empty() {
                    extensions.push(key.clone());
                    out.insert(key, Value::Object(ext));
                }
                continue;
            }
            match schema::find(GROUP, &key) {
                Some((name, _)) => {
                    if !value.is_string() {
                        return Err(ScimError::invalid_value(format!("{name} must be a string")));
                    }
                    out.insert(name.to_string(), value);
                }
                None => {
                    out.insert(key, value);
                }
            }
        }
        match out.get("displayName") {
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            _ => {
                return Err(ScimError::invalid_value(
                    "displayName is required and must not be empty",
                ));
            }
        }
        let mut schemas = vec![Value::String(GROUP_SCHEMA.into())];
        schemas.extend(extensions.into_iter().map(Value::String));
        let mut canonical = Map::new();
        canonical.insert("schemas".into(), Value::Array(schemas));
        canonical.extend(out);
        Ok((Group(canonical), members))
    }

    /// Rebuilds a group from its stored canonical form (trusted: written by
    /// [`Group::from_request`]).
    pub fn from_stored(value: Value) -> Group {
        match value {
            Value::Object(map) => Group(map),
            _ => Group(Map::new()),
        }
    }

    /// The group's `displayName` (unique per directory, compared case-insensitively).
    pub fn display_name(&self) -> &str {
        self.0.get("displayName").and_then(Value::as_str).unwrap_or_default()
    }

    /// The group's `externalId` (Entra: the group's objectId).
    pub fn external_id(&self) -> Option<&str> {
        self.0.get("externalId").and_then(Value::as_str)
    }

    /// The canonical stored form.
    pub fn as_json(&self) -> Value {
        Value::Object(self.0.clone())
    }

    /// The canonical stored form.
    pub fn into_json(self) -> Value {
        Value::Object(self.0)
    }

    /// The resource as a response shows it: `id` after `schemas`, `members` (when given; `None`
    /// leaves the attribute out, as for `excludedAttributes=members`), `meta` last.
    ///
    /// Member `$ref`s are built from `meta.location` when it ends with `/Groups/{id}`.
    pub fn to_resource(&self, id: &str, meta: &Meta, members: Option<&[MemberRef]>) -> Value {
        let mut out = Map::new();
        for (key, value) in &self.0 {
            out.insert(key.clone(), value.clone());
            if key == "schemas" {
                out.insert("id".into(), Value::String(id.into()));
            }
        }
        if let Some(members) = members {
            let base = meta.location.strip_suffix(&format!("/Groups/{id}"));
            out.insert(
                "members".into(),
                Value::Array(members.iter().map(|m| m.to_json(base)).collect()),
            );
        }
        out.insert("meta".into(), meta.to_json("Group"));
        Value::Object(out)
    }
}

/// One change of a group's membership, from a PATCH, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipChange {
    /// Add these members (a union: present members stay).
    Add(Vec<String>),
    /// Remove these members (absent ones are ignored).
    Remove(Vec<String>),
    /// Remove every member.
    RemoveAll,
    /// The members are exactly these.
    Replace(Vec<String>),
}

impl MembershipChange {
    /// Applies the change to a member list held in memory (the store does the same in SQL).
    pub fn apply_to(&self, members: &mut Vec<String>) {
        match self {
            MembershipChange::Add(ids) => {
                let mut present: HashSet<String> = members.iter().cloned().collect();
                for id in ids {
                    if present.insert(id.clone()) {
                        members.push(id.clone());
                    }
                }
            }
            MembershipChange::Remove(ids) => {
                let gone: HashSet<&String> = ids.iter().collect();
                members.retain(|m| !gone.contains(m));
            }
            MembershipChange::RemoveAll => members.clear(),
            MembershipChange::Replace(ids) => {
                members.clear();
                MembershipChange::Add(ids.clone()).apply_to(members);
            }
        }
    }
}

/// Splits group PATCH operations into those for the group itself (for [`apply_to_group`]) and
/// the membership changes, both in request order. Operations are normalised first (a path-less
/// `replace` with `members` in its value becomes a member operation).
///
/// Member operations: `add members` → [`MembershipChange::Add`]; `replace members` →
/// [`MembershipChange::Replace`]; `remove members` → [`MembershipChange::RemoveAll`], or with a
/// value list (Q3) [`MembershipChange::Remove`]; `remove members[value eq "a" or value eq "b"]`
/// → `Remove(["a", "b"])`. Other filters on members, sub-attributes of members and `add`/`replace`
/// with a filter are `400 invalidPath`; a member without a string `value` is `400 invalidValue`.
pub fn split_group_ops(
    ops: &[PatchOp],
) -> Result<(Vec<PatchOp>, Vec<MembershipChange>), ScimError> {
    let mut others = Vec::new();
    let mut changes = Vec::new();
    for op in ops {
        for op in patch::normalise(op.clone())? {
            match op.path.as_ref() {
                Some(path)
                    if path.attr.urn.is_none()
                        && path.attr.attr.eq_ignore_ascii_case("members") =>
                {
                    changes.push(membership_change(&op)?);
                }
                _ => others.push(op),
            }
        }
    }
    Ok((others, changes))
}

/// The membership change of one canonical operation on `members`.
fn membership_change(op: &PatchOp) -> Result<MembershipChange, ScimError> {
    let invalid_path = |detail: &str| ScimError::bad_request(ScimType::InvalidPath, detail);
    let Some(path) = op.path.as_ref() else {
        return Err(invalid_path("members operation without path"));
    };
    if path.attr.sub_attr.is_some() {
        return Err(invalid_path("sub-attributes of members cannot be changed"));
    }
    let ids = |value: Option<&Value>| -> Result<Vec<String>, ScimError> {
        let items = match value {
            Some(Value::Array(items)) => items.as_slice(),
            Some(item) => std::slice::from_ref(item),
            None => &[],
        };
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        let mut seen: HashSet<String> = HashSet::with_capacity(items.len());
        for item in items {
            let member = MemberRef::from_json(item)?;
            if seen.insert(member.value.clone()) {
                out.push(member.value);
            }
        }
        Ok(out)
    };
    Ok(match (op.op, &path.filter) {
        (PatchOpKind::Remove, Some(filter)) => {
            let mut values = Vec::new();
            if !value_disjunction(filter, &mut values) {
                return Err(invalid_path(
                    "members can only be removed by value: members[value eq \"id\" or …]",
                ));
            }
            let mut seen = HashSet::with_capacity(values.len());
            values.retain(|id| seen.insert(id.clone()));
            MembershipChange::Remove(values)
        }
        (_, Some(_)) => return Err(invalid_path("add/replace of members takes no filter")),
        (PatchOpKind::Add, None) => MembershipChange::Add(ids(op.value.as_ref())?),
        (PatchOpKind::Replace, None) => MembershipChange::Replace(ids(op.value.as_ref())?),
        (PatchOpKind::Remove, None) => match op.value {
            Some(_) => MembershipChange::Remove(ids(op.value.as_ref())?),
            None => MembershipChange::RemoveAll,
        },
    })
}

/// Collects the ids of a filter of the form `value eq "a" or value eq "b" …` (repeated ids
/// included); false for any other filter.
fn value_disjunction(filter: &Filter, out: &mut Vec<String>) -> bool {
    match filter {
        Filter::Or(left, right) => value_disjunction(left, out) && value_disjunction(right, out),
        Filter::Compare { path, op: CompareOp::Eq, value: CompValue::String(id) }
            if path.urn.is_none()
                && path.sub_attr.is_none()
                && path.attr.eq_ignore_ascii_case("value") =>
        {
            out.push(id.clone());
            true
        }
        _ => false,
    }
}

/// Applies non-member operations (see [`split_group_ops`]) in order to a copy of `group` and
/// validates the result like [`Group::from_request`]. Member operations in `ops` are skipped:
/// they are applied to the membership table.
pub fn apply_to_group(group: &Group, ops: &[PatchOp]) -> Result<Group, ScimError> {
    let (others, _members) = split_group_ops(ops)?;
    let mut resource = group.0.clone();
    for op in &others {
        if let Some(path) = &op.path
            && path.attr.urn.as_deref() == Some(ENTERPRISE_USER_SCHEMA)
        {
            return Err(ScimError::bad_request(
                ScimType::InvalidPath,
                format!("{path} is not a Group attribute"),
            ));
        }
        patch::apply(&mut resource, op, group_attribute)?;
    }
    Group::from_request(Value::Object(resource)).map(|(group, _)| group)
}

fn group_attribute(urn: Option<&str>, attr: &str) -> Option<(&'static str, schema::Kind)> {
    match urn {
        None => schema::find(GROUP, attr),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests;
