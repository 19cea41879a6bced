//! The vocabulary every kind of change is applied with: the [`Decision`] an event comes to, the
//! [`ApplyError`] a change is not applied for, and the checks users and groups share (ids,
//! `If-Match` preconditions, PATCH operations).

use roster_events::changes::v1::{PatchOperation, patch_operation};
use roster_scim::ScimError;
use roster_scim::patch::{PatchOp, PatchOpKind};
use uuid::Uuid;

/// What became of an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: u16,
    pub resource_id: Option<Uuid>,
    pub body: Option<serde_json::Value>,
}

impl Decision {
    pub(crate) fn rejected(error: ScimError) -> Decision {
        Decision { status: error.status, resource_id: None, body: Some(error.to_body()) }
    }

    pub(crate) fn json(status: u16, body: serde_json::Value) -> Decision {
        Decision { status, resource_id: None, body: Some(body) }
    }

    pub(crate) fn no_content(id: Uuid) -> Decision {
        Decision { status: 204, resource_id: Some(id), body: None }
    }
}

/// Why a change was not applied: the SCIM error it is rejected with (an outcome answered to the
/// client), or a database failure (it aborts the batch, which the consume loop classifies and
/// retries or refuses).
#[derive(Debug)]
pub(crate) enum ApplyError {
    Rejected(ScimError),
    Database(diesel::result::Error),
}

impl From<ScimError> for ApplyError {
    fn from(error: ScimError) -> ApplyError {
        ApplyError::Rejected(error)
    }
}

impl From<diesel::result::Error> for ApplyError {
    fn from(error: diesel::result::Error) -> ApplyError {
        ApplyError::Database(error)
    }
}

/// A decision, or why the change was not applied.
pub(crate) type Applied = Result<Decision, ApplyError>;

/// Whether `If-Match` admits the resource's `version`: if not, 412 naming the current version.
pub(crate) fn precondition(if_match: Option<&str>, version: i64) -> Result<(), ScimError> {
    match if_match {
        Some(tags) if !roster_scim::etag::matches(tags, version) => Err(ScimError::new(
            412,
            None,
            format!("the resource changed: its version is {}", roster_scim::etag::etag(version)),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn patch_ops(operations: &[PatchOperation]) -> Result<Vec<PatchOp>, ScimError> {
    operations
        .iter()
        .map(|op| {
            let kind = match patch_operation::Op::try_from(op.op) {
                Ok(patch_operation::Op::Add) => PatchOpKind::Add,
                Ok(patch_operation::Op::Replace) => PatchOpKind::Replace,
                Ok(patch_operation::Op::Remove) => PatchOpKind::Remove,
                _ => return Err(ScimError::invalid_syntax("unknown PATCH operation")),
            };
            PatchOp::from_parts(kind, op.path.as_deref(), op.value_json.as_deref())
        })
        .collect()
}

pub(crate) fn parse_id(id: &str) -> Result<Uuid, ScimError> {
    Uuid::parse_str(id).map_err(|_| ScimError::invalid_value("the resource id is not a UUID"))
}
