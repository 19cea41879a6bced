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

/// Texts longer than this are left out of a truncated notification.
pub const TRUNCATED_TEXT_BYTES: usize = 1024;

/// `notification` as it can be published in at most `max_bytes` (encoded): whole if it fits,
/// else its truncated form ([`truncate`]), else only its ids ([`ids_only`]). Either bounded
/// form has `truncated` set; the sequence number is kept, so the stream has no gap.
pub fn bounded(notification: Notification, max_bytes: usize) -> Notification {
    if notification.encoded_len() <= max_bytes {
        return notification;
    }
    let truncated = truncate(&notification);
    if truncated.encoded_len() <= max_bytes {
        return truncated;
    }
    ids_only(&notification)
}

/// The truncated form: `scim_resource_json` emptied, and every other text longer than
/// [`TRUNCATED_TEXT_BYTES`] left out (optional fields absent, required ones empty, list entries
/// removed; a `FieldChange` keeps its `field`). Members are kept.
pub fn truncate(notification: &Notification) -> Notification {
    let mut out = notification.clone();
    out.truncated = true;
    let Some(body) = out.body.as_mut() else { return out };
    let users: Vec<&mut ProductUser> = match body {
        Body::UserProvisioned(b) => b.user.iter_mut().collect(),
        Body::UserUpdated(b) => {
            b.changes.iter_mut().for_each(truncate_change);
            b.user.iter_mut().collect()
        }
        Body::UserDeactivated(b) => b.user.iter_mut().collect(),
        Body::UserReactivated(b) => b.user.iter_mut().collect(),
        Body::UserDeprovisioned(b) => b.user.iter_mut().collect(),
        Body::UserAccessChanged(b) => {
            b.before.iter_mut().chain(b.after.iter_mut()).for_each(|access| {
                long_entries_out(&mut access.product_roles);
                truncate_teams(&mut access.teams);
            });
            b.user.iter_mut().collect()
        }
        _ => Vec::new(),
    };
    users.into_iter().for_each(truncate_user);
    let groups: Vec<&mut ProductGroup> = match body {
        Body::GroupCreated(b) => b.group.iter_mut().collect(),
        Body::GroupUpdated(b) => {
            b.changes.iter_mut().for_each(truncate_change);
            b.group.iter_mut().collect()
        }
        Body::GroupDeleted(b) => b.group.iter_mut().collect(),
        Body::GroupMemberAdded(b) => b.group.iter_mut().collect(),
        Body::GroupMemberRemoved(b) => b.group.iter_mut().collect(),
        _ => Vec::new(),
    };
    groups.into_iter().for_each(truncate_group);
    out
}

/// The smallest bounded form: the notification with only the id of its user or group (no
/// members, changes or access), `truncated` set.
pub fn ids_only(notification: &Notification) -> Notification {
    let mut out = notification.clone();
    out.truncated = true;
    let user = |u: &Option<ProductUser>| {
        u.as_ref().map(|u| ProductUser { id: u.id.clone(), active: u.active, ..Default::default() })
    };
    let group = |g: &Option<ProductGroup>| {
        g.as_ref().map(|g| ProductGroup { id: g.id.clone(), ..Default::default() })
    };
    use crate::notifications::v1 as n;
    out.body = notification.body.as_ref().map(|body| match body {
        Body::UserProvisioned(b) => {
            Body::UserProvisioned(n::UserProvisioned { user: user(&b.user) })
        }
        Body::UserUpdated(b) => {
            Body::UserUpdated(n::UserUpdated { user: user(&b.user), changes: Vec::new() })
        }
        Body::UserDeactivated(b) => {
            Body::UserDeactivated(n::UserDeactivated { user: user(&b.user) })
        }
        Body::UserReactivated(b) => {
            Body::UserReactivated(n::UserReactivated { user: user(&b.user) })
        }
        Body::UserDeprovisioned(b) => {
            Body::UserDeprovisioned(n::UserDeprovisioned { user: user(&b.user), erased: b.erased })
        }
        Body::UserAccessChanged(b) => Body::UserAccessChanged(n::UserAccessChanged {
            user: user(&b.user),
            before: None,
            after: None,
        }),
        Body::GroupCreated(b) => Body::GroupCreated(n::GroupCreated { group: group(&b.group) }),
        Body::GroupUpdated(b) => {
            Body::GroupUpdated(n::GroupUpdated { group: group(&b.group), changes: Vec::new() })
        }
        Body::GroupDeleted(b) => Body::GroupDeleted(n::GroupDeleted { group: group(&b.group) }),
        Body::GroupMemberAdded(b) => Body::GroupMemberAdded(n::GroupMemberAdded {
            group: group(&b.group),
            members: Vec::new(),
        }),
        Body::GroupMemberRemoved(b) => Body::GroupMemberRemoved(n::GroupMemberRemoved {
            group: group(&b.group),
            members: Vec::new(),
        }),
        Body::DirectoryDeleted(b) => Body::DirectoryDeleted(*b),
    });
    out
}

fn is_long(text: &str) -> bool {
    text.len() > TRUNCATED_TEXT_BYTES
}

fn long_out(text: &mut Option<String>) {
    if text.as_deref().is_some_and(is_long) {
        *text = None;
    }
}

fn long_emptied(text: &mut String) {
    if is_long(text) {
        text.clear();
    }
}

fn long_entries_out(list: &mut Vec<String>) {
    list.retain(|entry| !is_long(entry));
}

fn truncate_ref(group: &mut crate::notifications::v1::GroupRef) {
    long_emptied(&mut group.display_name);
    long_out(&mut group.external_id);
}

fn truncate_teams(teams: &mut Option<crate::notifications::v1::Teams>) {
    if let Some(teams) = teams {
        teams.primary.iter_mut().chain(teams.additional.iter_mut()).for_each(truncate_ref);
    }
}

fn truncate_user(user: &mut ProductUser) {
    user.scim_resource_json.clear();
    long_out(&mut user.external_id);
    long_emptied(&mut user.user_name);
    long_out(&mut user.display_name);
    if let Some(name) = &mut user.name {
        long_out(&mut name.formatted);
        long_out(&mut name.given_name);
        long_out(&mut name.family_name);
    }
    long_out(&mut user.primary_email);
    long_entries_out(&mut user.product_roles);
    truncate_teams(&mut user.teams);
    long_entries_out(&mut user.app_roles);
    user.groups.iter_mut().for_each(truncate_ref);
    long_out(&mut user.title);
    long_out(&mut user.department);
    long_out(&mut user.phone_number);
    long_out(&mut user.preferred_language);
}

fn truncate_group(group: &mut ProductGroup) {
    group.scim_resource_json.clear();
    long_emptied(&mut group.display_name);
    long_out(&mut group.external_id);
    long_entries_out(&mut group.product_roles);
}

fn truncate_change(change: &mut crate::notifications::v1::FieldChange) {
    long_out(&mut change.previous_json);
    long_out(&mut change.current_json);
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
///  "cause_event_id": "…", "truncated": false,
///  "data": {"user": {…}, "before": {…}, "after": {…}}}
/// ```
///
/// `data` is the body's message in the serde form of the generated types (the same form as the
/// examples in `proto-schemas/`); `type` is null and `data` empty for a notification without a
/// body, which no producer writes. `truncated` says `data` is the bounded form ([`bounded`]).
pub fn to_json(n: &Notification) -> serde_json::Value {
    serde_json::json!({
        "id": n.id,
        "directory_id": n.directory_id,
        "tenant_id": n.tenant_id,
        "sequence": n.sequence,
        "type": n.body.as_ref().map(notification_type),
        "occurred_at": rfc3339(n.occurred_at_micros),
        "cause_event_id": n.cause_event_id,
        "truncated": n.truncated,
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
