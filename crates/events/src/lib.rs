//! Roster's event contracts, generated from `proto-schemas/` at build time, with the topic
//! names and the encode/decode helpers every producer and consumer uses.

use chrono::{DateTime, Utc};
use prost::Message;
use uuid::Uuid;

/// `roster.changes.v1`: every accepted SCIM write.
pub mod changes {
    pub mod v1 {
        #![allow(clippy::all, missing_docs)]
        include!(concat!(env!("OUT_DIR"), "/roster.changes.v1.rs"));
    }
}

/// `roster.notifications.v1`: what downstream products consume.
pub mod notifications {
    pub mod v1 {
        #![allow(clippy::all, missing_docs)]
        include!(concat!(env!("OUT_DIR"), "/roster.notifications.v1.rs"));
    }
}

pub mod notification;
pub mod rules;
pub mod view;

pub use changes::v1::{ChangeEvent, change_event::Change};

/// The change log topic.
pub const CHANGES_TOPIC: &str = "roster.changes.v1";

/// The downstream notifications topic.
pub const NOTIFICATIONS_TOPIC: &str = "roster.notifications.v1";

/// An event that cannot be understood: the bytes are not a `ChangeEvent`, or a field that must
/// hold a UUID does not. Such a message is poison: recorded and skipped, never retried.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a protobuf ChangeEvent: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("field {field} is not a UUID: {value:?}")]
    BadUuid { field: &'static str, value: String },
    /// The event is well-formed but states no change this version knows: a change type added
    /// by a newer gateway (protobuf drops the unknown oneof case), or none at all. Its ids are
    /// known, so it can be pointed at and, by an operator, rejected.
    #[error("the event states no change this version knows")]
    NoChange { event_id: Uuid, directory_id: Uuid },
}

impl DecodeError {
    /// The id of the event, when the bytes said it (an event of an unknown change type).
    pub fn event_id(&self) -> Option<Uuid> {
        match self {
            DecodeError::NoChange { event_id, .. } => Some(*event_id),
            _ => None,
        }
    }
}

/// Encode an event for the wire.
pub fn encode(event: &ChangeEvent) -> Vec<u8> {
    event.encode_to_vec()
}

/// A decoded change event with its identifiers parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedChange {
    pub event_id: Uuid,
    pub directory_id: Uuid,
    pub event_time: DateTime<Utc>,
    pub event: ChangeEvent,
}

impl DecodedChange {
    /// The change the event states (present: [`decode`] rejects events without one).
    pub fn change(&self) -> Option<&Change> {
        self.event.change.as_ref()
    }
}

/// Decode an event from the wire and check its identifiers.
pub fn decode(bytes: &[u8]) -> Result<DecodedChange, DecodeError> {
    let event = ChangeEvent::decode(bytes)?;
    let event_id = parse_uuid("event_id", &event.event_id)?;
    let directory_id = parse_uuid("directory_id", &event.directory_id)?;
    if event.change.is_none() {
        return Err(DecodeError::NoChange { event_id, directory_id });
    }
    let event_time = micros_to_time(event.event_time_micros);
    Ok(DecodedChange { event_id, directory_id, event_time, event })
}

/// Parse a UUID field of an event.
pub fn parse_uuid(field: &'static str, value: &str) -> Result<Uuid, DecodeError> {
    Uuid::parse_str(value).map_err(|_| DecodeError::BadUuid { field, value: value.to_string() })
}

/// Event times travel as microseconds since the epoch; SCIM shows milliseconds at most.
pub fn time_to_micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

pub fn micros_to_time(micros: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default()
}

/// The name of a change, for logs and metrics (`create_user`, …).
pub fn change_name(change: &Change) -> &'static str {
    match change {
        Change::CreateUser(_) => "create_user",
        Change::ReplaceUser(_) => "replace_user",
        Change::PatchUser(_) => "patch_user",
        Change::DeleteUser(_) => "delete_user",
        Change::CreateGroup(_) => "create_group",
        Change::ReplaceGroup(_) => "replace_group",
        Change::PatchGroup(_) => "patch_group",
        Change::DeleteGroup(_) => "delete_group",
        Change::MappingRulesChanged(_) => "mapping_rules_changed",
        Change::DirectorySettingsChanged(_) => "directory_settings_changed",
        Change::DirectoryDeleted(_) => "directory_deleted",
    }
}

#[cfg(test)]
mod tests;
