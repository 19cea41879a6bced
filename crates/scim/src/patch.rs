//! PATCH (RFC 7644 §3.5.2) with every Entra ID dialect, in two steps:
//!
//! 1. [`PatchRequest::parse`] validates a request body and normalises each operation into one
//!    canonical [`PatchOp`]. The gateway does this before the request goes into the change log;
//!    a canonical operation travels as `(kind, path string, value JSON)`
//!    ([`PatchOp::to_parts`] / [`PatchOp::from_parts`]).
//! 2. [`apply_to_user`] (and [`crate::group::apply_to_group`]) applies operations, in order, to a
//!    copy of the stored resource. The projector does this, deterministically, in log order.
//!
//! ```
//! use roster_scim::patch::{PatchOp, PatchRequest, apply_to_user};
//! use roster_scim::user::User;
//! use serde_json::json;
//!
//! // Gateway: validate and normalise (Entra's default dialect: "Replace", "False").
//! let ops = PatchRequest::parse(&json!({
//!     "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
//!     "Operations": [
//!         {"op": "Replace", "path": "active", "value": "False"},
//!         {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "a@contoso.com"}
//!     ]
//! }))?;
//! let parts: Vec<_> = ops.iter().map(PatchOp::to_parts).collect();
//! assert_eq!(parts[0].1.as_deref(), Some("active"));
//! assert_eq!(parts[0].2.as_deref(), Some("false"));
//!
//! // Projector: rebuild the operations from the change log and apply them.
//! let ops = parts
//!     .iter()
//!     .map(|(kind, path, value)| PatchOp::from_parts(*kind, path.as_deref(), value.as_deref()))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let user = User::from_request(json!({"userName": "a@contoso.com"}))?;
//! let user = apply_to_user(&user, &ops)?;
//! assert!(!user.active());
//! assert_eq!(user.as_json()["emails"], json!([{"type": "work", "value": "a@contoso.com"}]));
//! # Ok::<(), roster_scim::ScimError>(())
//! ```
//!
//! # Normalisation (quirk numbers of `docs/entra/behaviour.md` §4)
//!
//! - `op` in any case (Q1); `Operations`, `op`, `path`, `value` keys in any case.
//! - `schemas` may be missing (some clients omit it; Entra always sends it); when present it must
//!   list the PatchOp URN, otherwise `400 invalidSyntax`.
//! - A path-less `add`/`replace` is split into one operation per attribute of its value (Q4):
//!   nested objects (`"name": {…}`), dotted keys (`"name.givenName"`), URN-qualified keys
//!   (`"urn:…:enterprise:2.0:User:department"`) and extension objects
//!   (`"urn:…:enterprise:2.0:User": {…}`) all become paths. `schemas`, `meta` and nulls in that
//!   value are ignored, as in a POST. So every canonical operation has a path.
//! - Paths: the legacy `urn:…:2.0:User.department` form (Q17) becomes `urn:…:2.0:User:department`;
//!   a core-schema URN prefix is dropped; a bare enterprise attribute (`manager`, `department`,
//!   …) gets the enterprise URN (Q8); known attribute names get their canonical case.
//! - Booleans sent as `"True"`/`"False"` become booleans for boolean attributes and
//!   sub-attributes (`active`, `primary`; Q2, Q10).
//! - Roles whose `value` is a JSON object inside a string are unwrapped (Q9).
//! - The manager as a string, an object or a one-element array becomes `{"value": …}`; an empty
//!   manager (`""`, `{"value": ""}`, `[]`) becomes a `remove` of the manager (Q8).
//! - A multi-valued attribute given a single object or string is given a one-element list.
//! - `remove` with a path to a multi-valued attribute and a `value` list (Entra's member removal,
//!   Q3) keeps its value: it removes only the listed elements (matched by `value`).
//! - `replace` with a null value is a `remove`.
//!
//! # Decisions where Entra and RFC 7644 disagree
//!
//! - `add`/`replace` on a value path that matches no element creates the element with the
//!   filter's equality constraints (`emails[type eq "work"].value` creates a work email;
//!   `roles[primary eq "True"].value` a primary role), so several sub-attribute operations on the
//!   same filter build one element (Q6). The RFC says `noTarget`; it remains the answer when the
//!   filter has no equality constraint to build from (`emails[type ne "work"]`).
//! - `remove` of `members` (or any multi-valued attribute) with a value list removes only those
//!   values (Q3); the RFC would remove all of them.
//! - `remove` with a filter that matches nothing is `400 noTarget` (RFC table 9), but `remove`
//!   of an attribute that has no value is a no-op.
//!
//! # Other decisions
//!
//! - Attributes outside the schemas are patched like known ones (a POST keeps them too); only
//!   `id` and `meta` (`400 mutability`), a User's `groups` (`400 mutability`) and URNs that are
//!   not schema URNs (`400 invalidPath`) are refused.
//! - `add`/`replace` of a complex attribute merges sub-attributes (RFC), except that a reference
//!   whose `value` changes (`manager`) is replaced whole.
//! - `add` to a multi-valued attribute merges an element into an existing one with the same
//!   `value` (case-insensitively) instead of duplicating it; at most one element stays
//!   `primary: true`, the one the operation made primary.
//! - An empty `Operations` list is `400 invalidSyntax` (RFC: "one or more").

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType};
use crate::filter::{AttrPath, CompValue, CompareOp, DefaultAttributeInfo, Filter};
use crate::limits::{Budget, Limits, Path};
use crate::schema::{self, ENTERPRISE, GROUP, Kind, USER};
use crate::user::{self, ENTERPRISE_USER_SCHEMA, User};

/// The URN of the PATCH request message.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Longest accepted path, in bytes (a filter alone is limited to 4096 characters).
pub const MAX_PATH_LEN: usize = 8192;

/// The three PATCH operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchOpKind {
    /// `add`
    Add,
    /// `replace`
    Replace,
    /// `remove`
    Remove,
}

impl PatchOpKind {
    /// Every kind.
    pub const ALL: [PatchOpKind; 3] = [PatchOpKind::Add, PatchOpKind::Replace, PatchOpKind::Remove];

    /// The lower-case name: `add`, `replace`, `remove`.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Replace => "replace",
            PatchOpKind::Remove => "remove",
        }
    }

    /// The kind named `s`, in any case (`Add`, `REPLACE`; Entra quirk Q1).
    pub fn parse(s: &str) -> Option<PatchOpKind> {
        PatchOpKind::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for PatchOpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PATCH path (RFC 7644 `PATH = attrPath / valuePath [subAttr]`).
///
/// `attr` carries the URN, the attribute and the sub-attribute. With a `filter` the path is a
/// value path and the sub-attribute is the one after the brackets:
///
/// | text | `attr` | `filter` |
/// |---|---|---|
/// | `name.givenName` | `name` . `givenName` | — |
/// | `urn:…:enterprise:2.0:User:manager` | `urn:…:User` : `manager` | — |
/// | `members[value eq "x"]` | `members` | `value eq "x"` |
/// | `emails[type eq "work"].value` | `emails` . `value` | `type eq "work"` |
///
/// `Display` prints the canonical text, which [`PatchPath::parse`] reads back to an equal path.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute, and the sub-attribute (after the filter, for a value path).
    pub attr: AttrPath,
    /// The value filter of a value path.
    pub filter: Option<Filter>,
}

impl PatchPath {
    /// A path without filter.
    pub fn attr(attr: AttrPath) -> PatchPath {
        PatchPath { attr, filter: None }
    }

    /// Parses a path. Failures are `400 invalidPath`.
    pub fn parse(input: &str) -> Result<PatchPath, ScimError> {
        if input.len() > MAX_PATH_LEN {
            return Err(invalid_path(format!("path is longer than {MAX_PATH_LEN} bytes")));
        }
        let text = input.trim_ascii();
        let attr_path = |s: &str| {
            AttrPath::parse(s)
                .map_err(|e| invalid_path(format!("{input:?} is not a valid path: {}", e.detail)))
        };
        let Some(open) = text.find('[') else {
            return Ok(PatchPath::attr(attr_path(text)?));
        };
        let mut attr = attr_path(&text[..open])?;
        if attr.sub_attr.is_some() {
            return Err(invalid_path(format!("{input:?}: a filter must follow an attribute")));
        }
        let close = match text.rfind(']') {
            Some(close) if close > open => close,
            _ => return Err(invalid_path(format!("{input:?}: \"[\" is not closed"))),
        };
        let filter = Filter::parse(&text[open + 1..close]).map_err(|e| {
            invalid_path(format!("{input:?} has an invalid value filter: {}", e.detail))
        })?;
        if contains_value_path(&filter) {
            return Err(invalid_path(format!("{input:?}: a value filter cannot nest")));
        }
        let rest = &text[close + 1..];
        if !rest.is_empty() {
            let sub = rest.strip_prefix('.').map(AttrPath::parse);
            match sub {
                Some(Ok(sub)) if sub.urn.is_none() && sub.sub_attr.is_none() => {
                    attr.sub_attr = Some(sub.attr);
                }
                _ => {
                    return Err(invalid_path(format!(
                        "{input:?}: expected \".subAttribute\" or the end after \"]\""
                    )));
                }
            }
        }
        Ok(PatchPath { attr, filter: Some(filter) })
    }

    /// The sub-attribute, if any.
    pub fn sub_attr(&self) -> Option<&str> {
        self.attr.sub_attr.as_deref()
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.filter {
            None => write!(f, "{}", self.attr),
            Some(filter) => {
                let base = AttrPath { sub_attr: None, ..self.attr.clone() };
                write!(f, "{base}[{filter}]")?;
                if let Some(sub) = &self.attr.sub_attr {
                    write!(f, ".{sub}")?;
                }
                Ok(())
            }
        }
    }
}

impl FromStr for PatchPath {
    type Err = ScimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PatchPath::parse(s)
    }
}

/// One PATCH operation in canonical form (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    /// `add`, `replace` or `remove`.
    pub op: PatchOpKind,
    /// Where; `None` only for a path-less `add`/`replace` built by hand (parsing splits those).
    pub path: Option<PatchPath>,
    /// The value; `None` for a plain `remove`.
    pub value: Option<Value>,
}

impl PatchOp {
    /// An operation.
    pub fn new(op: PatchOpKind, path: Option<PatchPath>, value: Option<Value>) -> PatchOp {
        PatchOp { op, path, value }
    }

    /// The operation as the change log carries it: kind, canonical path text, value as JSON text.
    pub fn to_parts(&self) -> (PatchOpKind, Option<String>, Option<String>) {
        (
            self.op,
            self.path.as_ref().map(ToString::to_string),
            self.value.as_ref().map(Value::to_string),
        )
    }

    /// The operation back from [`PatchOp::to_parts`]. A bad path is `400 invalidPath`, bad JSON
    /// `400 invalidSyntax`.
    pub fn from_parts(
        op: PatchOpKind,
        path: Option<&str>,
        value_json: Option<&str>,
    ) -> Result<PatchOp, ScimError> {
        let path = path.map(PatchPath::parse).transpose()?;
        let value = value_json
            .map(serde_json::from_str::<Value>)
            .transpose()
            .map_err(|e| ScimError::invalid_syntax(format!("PATCH value is not JSON: {e}")))?;
        Ok(PatchOp { op, path, value })
    }
}

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

/// Applies `ops` in order to a copy of `user` and validates the result as
/// [`User::from_request`] does (so `userName` must still be there, booleans are canonical).
///
/// Operations need not be canonical: each is normalised first, as [`PatchRequest::parse`]
/// would. See the module documentation for the semantics and errors.
pub fn apply_to_user(user: &User, ops: &[PatchOp]) -> Result<User, ScimError> {
    let mut resource = user.as_map().clone();
    for op in ops {
        for op in normalise(op.clone())? {
            if op.path.as_ref().is_some_and(|p| p.attr.urn.is_none() && is(&p.attr.attr, "groups"))
            {
                return Err(mutability("groups is readOnly: change group membership on the group"));
            }
            if op.op == PatchOpKind::Remove
                && let Some(urn) = op.path.as_ref().and_then(whole_extension)
            {
                resource.retain(|key, _| !key.eq_ignore_ascii_case(&urn));
                continue;
            }
            apply(&mut resource, &op, user_attribute)?;
        }
    }
    User::from_request(Value::Object(resource))
}

/// The URN when `path` names a whole extension schema (`urn:…:enterprise:2.0:User`), not an
/// attribute in it.
fn whole_extension(path: &PatchPath) -> Option<String> {
    if path.filter.is_some() || path.attr.sub_attr.is_some() {
        return None;
    }
    let urn = path.attr.to_string();
    (schema::is_schema_urn(&urn) && !urn.to_ascii_lowercase().contains(":core:")).then_some(urn)
}

// ---------------------------------------------------------------------------------------------
// normalisation

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

// ---------------------------------------------------------------------------------------------
// application

/// The attribute table of a resource type: canonical name and kind of `attr` under `urn`.
pub(crate) type Lookup = fn(Option<&str>, &str) -> Option<(&'static str, Kind)>;

fn user_attribute(urn: Option<&str>, attr: &str) -> Option<(&'static str, Kind)> {
    match urn {
        None => schema::find(USER, attr),
        Some(urn) if urn.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) => {
            schema::find(ENTERPRISE, attr)
        }
        Some(_) => None,
    }
}

/// User and Group attributes together, for normalising before the resource type is known.
fn any_attribute(urn: Option<&str>, attr: &str) -> Option<(&'static str, Kind)> {
    user_attribute(urn, attr)
        .or_else(|| if urn.is_none() { schema::find(GROUP, attr) } else { None })
}

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

/// The `name eq value` constraints of a filter made only of `eq` comparisons joined by `and`.
fn equality_constraints(filter: &Filter) -> Option<Vec<(String, Value)>> {
    match filter {
        Filter::And(left, right) => {
            let mut out = equality_constraints(left)?;
            out.extend(equality_constraints(right)?);
            Some(out)
        }
        Filter::Compare { path, op: CompareOp::Eq, value }
            if path.urn.is_none() && path.sub_attr.is_none() =>
        {
            let value = value.to_json();
            (!value.is_null()).then(|| vec![(path.attr.clone(), value)])
        }
        _ => None,
    }
}

/// Whether one element of attribute `attr` matches the value filter (evaluated as
/// `attr[filter]` so that case-exactness follows the attribute).
pub(crate) fn element_matches(attr: &str, filter: &Filter, element: &Value) -> bool {
    let mut wrapper = Map::new();
    wrapper.insert(attr.to_string(), Value::Array(vec![element.clone()]));
    let value_path =
        Filter::ValuePath { path: AttrPath::new(attr), filter: Box::new(filter.clone()) };
    value_path.matches(&Value::Object(wrapper), &DefaultAttributeInfo)
}

/// The elements of a multi-valued attribute by [`value_key`] (the first index of each key), and
/// the [`canonical_json`] of those without one.
fn element_index(elements: &[Value]) -> (HashMap<String, usize>, HashSet<String>) {
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
fn value_key(element: &Value) -> Option<String> {
    match element {
        Value::Object(map) => object_value_key(map),
        Value::String(s) => Some(s.to_lowercase()),
        _ => None,
    }
}

fn object_value_key(map: &Map<String, Value>) -> Option<String> {
    map.iter().find(|(k, _)| is(k, "value")).and_then(|(_, v)| v.as_str()).map(str::to_lowercase)
}

/// A text that two JSON values share exactly when they are equal (`==`): object keys sorted
/// (key order does not make maps unequal), and `-0.0` written as `0.0` (they are equal).
fn canonical_json(value: &Value) -> String {
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
fn single_primary(elements: &mut [Value], preferred: &[usize]) {
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
fn refers_elsewhere(current: &Map<String, Value>, new: &Map<String, Value>) -> bool {
    let value = |m: &Map<String, Value>| get(m, "value").cloned();
    value(new).is_some_and(|new| value(current).is_some_and(|current| current != new))
}

/// Whether an element says `primary: true` (or `"True"`).
fn is_primary(element: &Value) -> bool {
    element.as_object().and_then(|e| e.iter().find(|(k, _)| is(k, "primary"))).is_some_and(
        |(_, v)| match v {
            Value::Bool(b) => *b,
            Value::String(s) => s.eq_ignore_ascii_case("true"),
            _ => false,
        },
    )
}

/// Copies `from` into `into`; a null removes the sub-attribute.
fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        if value.is_null() {
            remove_key(into, &key);
        } else {
            set_key(into, &key, value);
        }
    }
}

/// The key of `map` equal to `name` ignoring case.
fn key_in(map: &Map<String, Value>, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_string());
    }
    map.keys().find(|k| is(k, name)).cloned()
}

/// Sets `map[name]`, reusing an existing key that differs only in case.
fn set_key(map: &mut Map<String, Value>, name: &str, value: Value) {
    let key = key_in(map, name).unwrap_or_else(|| name.to_string());
    map.insert(key, value);
}

fn remove_key(map: &mut Map<String, Value>, name: &str) {
    if let Some(key) = key_in(map, name) {
        map.remove(&key);
    }
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

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn contains_value_path(filter: &Filter) -> bool {
    match filter {
        Filter::ValuePath { .. } => true,
        Filter::And(l, r) | Filter::Or(l, r) => contains_value_path(l) || contains_value_path(r),
        Filter::Not(inner) => contains_value_path(inner),
        Filter::Present(_) | Filter::Compare { .. } => false,
    }
}

/// `object[key]` with the key matched case-insensitively.
fn get<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object.get(key).or_else(|| object.iter().find(|(k, _)| is(k, key)).map(|(_, v)| v))
}

fn is(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidPath, detail)
}

fn mutability(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::Mutability, detail)
}

fn no_target(path: &PatchPath) -> ScimError {
    ScimError::bad_request(ScimType::NoTarget, format!("{path} matches nothing"))
}

#[cfg(test)]
pub(crate) mod tests;
