//! Downstream notifications (`roster.notifications.v1`): their type names, the wire encoding,
//! the CloudEvents binary-mode headers every record carries, and the JSON form people and the
//! HTTP Events API see. The consumer's guide is `docs/events.md`.

use prost::Message;

pub use crate::notifications::v1::{Notification, notification::Body};
use crate::notifications::v1::{ProductGroup, ProductUser};

/// CloudEvents spec version of the headers.
pub const CE_SPECVERSION: &str = "1.0";
/// The `content-type` of a record's value.
pub const CONTENT_TYPE: &str = "application/protobuf";

/// The notification's type, as in `ce_type` and the Events API: `user.provisioned`, ….
pub fn notification_type(body: &Body) -> &'static str {
    match body {
        Body::UserProvisioned(_) => "user.provisioned",
        Body::UserUpdated(_) => "user.updated",
        Body::UserDeactivated(_) => "user.deactivated",
        Body::UserReactivated(_) => "user.reactivated",
        Body::UserDeprovisioned(_) => "user.deprovisioned",
        Body::UserAccessChanged(_) => "user.access_changed",
        Body::GroupCreated(_) => "group.created",
        Body::GroupUpdated(_) => "group.updated",
        Body::GroupDeleted(_) => "group.deleted",
        Body::GroupMemberAdded(_) => "group.member_added",
        Body::GroupMemberRemoved(_) => "group.member_removed",
        Body::DirectoryDeleted(_) => "directory.deleted",
    }
}

/// Every notification type, in the order of the schema.
pub const NOTIFICATION_TYPES: &[&str] = &[
    "user.provisioned",
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "user.deprovisioned",
    "user.access_changed",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.member_added",
    "group.member_removed",
    "directory.deleted",
];

/// The user or group a notification is about (CloudEvents `subject`), if any.
pub fn subject(body: &Body) -> Option<&str> {
    fn user(u: &Option<ProductUser>) -> Option<&str> {
        u.as_ref().map(|u| u.id.as_str())
    }
    fn group(g: &Option<ProductGroup>) -> Option<&str> {
        g.as_ref().map(|g| g.id.as_str())
    }
    match body {
        Body::UserProvisioned(b) => user(&b.user),
        Body::UserUpdated(b) => user(&b.user),
        Body::UserDeactivated(b) => user(&b.user),
        Body::UserReactivated(b) => user(&b.user),
        Body::UserDeprovisioned(b) => user(&b.user),
        Body::UserAccessChanged(b) => user(&b.user),
        Body::GroupCreated(b) => group(&b.group),
        Body::GroupUpdated(b) => group(&b.group),
        Body::GroupDeleted(b) => group(&b.group),
        Body::GroupMemberAdded(b) => group(&b.group),
        Body::GroupMemberRemoved(b) => group(&b.group),
        Body::DirectoryDeleted(_) => None,
    }
}

/// Encode a notification for the wire.
pub fn encode_notification(notification: &Notification) -> Vec<u8> {
    notification.encode_to_vec()
}

/// Decode a notification from the wire.
pub fn decode_notification(bytes: &[u8]) -> Result<Notification, prost::DecodeError> {
    Notification::decode(bytes)
}

/// The CloudEvents `source` of a directory's notifications.
pub fn source(directory_id: &str) -> String {
    format!("/roster/directories/{directory_id}")
}

/// The CloudEvents binary-mode headers of a notification's Kafka record (`ce_` prefixed
/// attributes and `content-type`), in a stable order.
pub fn cloudevent_headers(notification: &Notification) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("ce_specversion", CE_SPECVERSION.to_string()),
        ("ce_id", notification.id.clone()),
        ("ce_source", source(&notification.directory_id)),
        (
            "ce_type",
            notification.body.as_ref().map(notification_type).unwrap_or_default().to_string(),
        ),
        ("ce_time", rfc3339(notification.occurred_at_micros)),
        ("ce_sequence", notification.sequence.to_string()),
        ("content-type", CONTENT_TYPE.to_string()),
    ];
    if let Some(subject) = notification.body.as_ref().and_then(subject) {
        headers.push(("ce_subject", subject.to_string()));
    }
    headers
}

fn rfc3339(micros: i64) -> String {
    crate::micros_to_time(micros).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A notification as people and the HTTP Events API see it:
///
/// ```json
/// {"id": "…", "directory_id": "…", "tenant_id": "…", "sequence": 9,
///  "type": "user.access_changed", "occurred_at": "2025-11-25T15:20:02.215634Z",
///  "cause_event_id": "…", "data": {"user": {…}, "before": {…}, "after": {…}}}
/// ```
///
/// `data` is the body's message in the serde form of the generated types (the same form as the
/// examples in `proto-schemas/`); `type` is null and `data` empty for a notification without a
/// body, which no producer writes.
pub fn to_json(n: &Notification) -> serde_json::Value {
    serde_json::json!({
        "id": n.id,
        "directory_id": n.directory_id,
        "tenant_id": n.tenant_id,
        "sequence": n.sequence,
        "type": n.body.as_ref().map(notification_type),
        "occurred_at": rfc3339(n.occurred_at_micros),
        "cause_event_id": n.cause_event_id,
        "data": n.body.as_ref().map(body_data).unwrap_or_else(|| serde_json::json!({})),
    })
}

/// The body's inner message: `Body` serialises as `{"<type>": {…}}` (externally tagged).
fn body_data(body: &Body) -> serde_json::Value {
    match serde_json::to_value(body) {
        Ok(serde_json::Value::Object(tagged)) => {
            tagged.into_iter().next().map(|(_, data)| data).unwrap_or_default()
        }
        // Not reached: the generated types hold only strings, numbers, booleans and messages.
        _ => serde_json::Value::Null,
    }
}

#[cfg(test)]
#[path = "notification_tests.rs"]
mod tests;
