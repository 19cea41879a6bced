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
//!
//! # Layout
//!
//! This file holds the operation types and [`apply_to_user`]; the work is done in `patch/`:
//! `request.rs` reads a request body ([`PatchRequest`]), `path.rs` parses paths ([`PatchPath`]),
//! `normalise.rs` makes operations canonical, `apply.rs` applies one to a resource, with
//! `value_filter.rs` (value filters on elements), `elements.rs` (the elements of multi-valued
//! attributes), `json.rs` (object keys in any case) and `attributes.rs` (the attribute tables).

mod apply;
mod attributes;
mod elements;
mod json;
mod normalise;
mod path;
mod request;
mod value_filter;

#[cfg(test)]
pub(crate) mod tests;

use std::fmt;

use serde_json::Value;

use crate::error::{ScimError, ScimType};
use crate::user::User;

pub(crate) use apply::apply;
use attributes::user_attribute;
pub(crate) use normalise::normalise;
use normalise::whole_extension;
pub use path::PatchPath;
pub use request::PatchRequest;
pub(crate) use value_filter::element_matches;

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
