//! The notification contract: every example in proto-schemas/ fits the schema, survives a
//! protobuf round trip and is the kind of notification its file is named after; the headers and
//! the JSON form say what docs/events.md says they do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::DateTime;
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::notifications::v1::{
    Access, FieldChange, ProductGroup, ProductUser, Teams, member::Kind,
};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../proto-schemas/roster/notifications/v1/examples")
}

/// Every example, by file stem, sorted.
fn examples() -> Vec<(String, Notification)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let notification: Notification = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} does not fit the schema: {e}", path.display()));
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            out.push((stem, notification));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn example(name: &str) -> Notification {
    examples().into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no example {name}")).1
}

fn file_name(notification_type: &str) -> String {
    notification_type.replace('.', "_")
}

fn uuid(what: &str, value: &str) {
    Uuid::parse_str(value).unwrap_or_else(|_| panic!("{what} is not a UUID: {value:?}"));
}

#[test]
fn every_example_round_trips_through_protobuf() {
    let examples = examples();
    assert!(!examples.is_empty());
    for (name, notification) in examples {
        let bytes = encode_notification(&notification);
        let decoded = decode_notification(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded, notification, "{name}");
        let body = notification.body.as_ref().unwrap_or_else(|| panic!("{name} has no body"));
        assert_eq!(
            file_name(notification_type(body)),
            name,
            "an example's file is named after its notification type"
        );
    }
}

#[test]
fn every_notification_type_has_an_example() {
    let listed: BTreeSet<&str> = NOTIFICATION_TYPES.iter().copied().collect();
    assert_eq!(listed.len(), NOTIFICATION_TYPES.len(), "NOTIFICATION_TYPES has a duplicate");
    let seen: BTreeSet<String> = examples()
        .iter()
        .map(|(_, n)| notification_type(n.body.as_ref().unwrap()).to_string())
        .collect();
    for t in NOTIFICATION_TYPES {
        assert!(seen.contains(*t), "no example for {t} (expected {}.json)", file_name(t));
    }
    for t in &seen {
        assert!(listed.contains(t.as_str()), "{t} is missing from NOTIFICATION_TYPES");
    }
}

/// `NOTIFICATION_TYPES` lists the types in the order of the schema's oneof (its field numbers).
#[test]
fn notification_types_follow_the_schema_order() {
    let mut by_tag: Vec<(u32, &str)> = examples()
        .iter()
        .map(|(_, n)| {
            let body = n.body.as_ref().unwrap();
            let mut buf = Vec::new();
            body.encode(&mut buf);
            // An encoded oneof case starts with its key: the field number and wire type.
            let (tag, _) = prost::encoding::decode_key(&mut buf.as_slice()).unwrap();
            (tag, notification_type(body))
        })
        .collect();
    by_tag.sort();
    let ordered: Vec<&str> = by_tag.into_iter().map(|(_, t)| t).collect();
    assert_eq!(ordered, NOTIFICATION_TYPES);
}

/// Examples are what a producer would write: UUIDs where the schema says so, a positive
/// sequence and time, and JSON text that is JSON.
#[test]
fn examples_hold_well_formed_identifiers_and_payloads() {
    for (name, n) in examples() {
        uuid(&format!("{name}: id"), &n.id);
        uuid(&format!("{name}: directory_id"), &n.directory_id);
        uuid(&format!("{name}: tenant_id"), &n.tenant_id);
        uuid(&format!("{name}: cause_event_id"), &n.cause_event_id);
        assert!(n.sequence >= 1, "{name}: sequences start at 1");
        assert!(n.occurred_at_micros > 1_700_000_000_000_000, "{name}: occurred_at is unset");
        let body = n.body.as_ref().unwrap();
        if let Some(subject) = subject(body) {
            uuid(&format!("{name}: subject"), subject);
        }
        for change in changes(body) {
            assert!(!change.field.is_empty(), "{name}: a change names its field");
            assert!(
                change.previous_json != change.current_json,
                "{name}: {} did not change",
                change.field
            );
            for text in [&change.previous_json, &change.current_json].into_iter().flatten() {
                serde_json::from_str::<Value>(text)
                    .unwrap_or_else(|e| panic!("{name}: {}: {e}", change.field));
            }
        }
    }
}

fn changes(body: &Body) -> &[FieldChange] {
    match body {
        Body::UserUpdated(b) => &b.changes,
        Body::GroupUpdated(b) => &b.changes,
        _ => &[],
    }
}

fn product_user(body: &Body) -> Option<&ProductUser> {
    match body {
        Body::UserProvisioned(b) => b.user.as_ref(),
        Body::UserUpdated(b) => b.user.as_ref(),
        Body::UserDeactivated(b) => b.user.as_ref(),
        Body::UserReactivated(b) => b.user.as_ref(),
        Body::UserDeprovisioned(b) => b.user.as_ref(),
        Body::UserAccessChanged(b) => b.user.as_ref(),
        _ => None,
    }
}

fn product_group(body: &Body) -> Option<&ProductGroup> {
    match body {
        Body::GroupCreated(b) => b.group.as_ref(),
        Body::GroupUpdated(b) => b.group.as_ref(),
        Body::GroupDeleted(b) => b.group.as_ref(),
        Body::GroupMemberAdded(b) => b.group.as_ref(),
        Body::GroupMemberRemoved(b) => b.group.as_ref(),
        _ => None,
    }
}

fn team_ids(teams: &Option<Teams>) -> Vec<String> {
    let teams = teams.as_ref().expect("teams are always set");
    teams.primary.iter().chain(&teams.additional).map(|g| g.id.clone()).collect()
}

/// Every user notification carries the whole product user, and its fields agree with the SCIM
/// resource it was computed from.
#[test]
fn product_users_agree_with_their_scim_resource() {
    let mut users = 0;
    for (name, n) in examples() {
        let body = n.body.as_ref().unwrap();
        let Some(user) = product_user(body) else {
            assert!(name.starts_with("group_") || name.starts_with("directory_"), "{name}");
            continue;
        };
        users += 1;
        uuid(&format!("{name}: user.id"), &user.id);
        let resource: Value = serde_json::from_str(&user.scim_resource_json)
            .unwrap_or_else(|e| panic!("{name}: scim_resource_json: {e}"));
        assert_eq!(resource["id"], json!(user.id), "{name}: resource id");
        assert_eq!(resource["meta"]["resourceType"], "User", "{name}: resource meta");
        assert_eq!(resource["userName"], json!(user.user_name), "{name}");
        assert_eq!(resource["externalId"], json!(user.external_id), "{name}");
        assert_eq!(resource["displayName"], json!(user.display_name), "{name}");
        assert_eq!(resource["active"], json!(user.active), "{name}");
        assert_eq!(resource["title"], json!(user.title), "{name}");
        assert_eq!(resource["preferredLanguage"], json!(user.preferred_language), "{name}");
        let enterprise = &resource["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
        assert_eq!(enterprise["department"], json!(user.department), "{name}");
        let parts = user.name.as_ref().expect("name is set");
        assert_eq!(resource["name"]["givenName"], json!(parts.given_name), "{name}");
        assert_eq!(resource["name"]["familyName"], json!(parts.family_name), "{name}");
        let primary_email = resource["emails"]
            .as_array()
            .and_then(|emails| emails.iter().find(|e| e["primary"] == true))
            .map(|e| e["value"].clone());
        assert_eq!(primary_email, Some(json!(user.primary_email)), "{name}: primary_email");
        let work_phone = resource["phoneNumbers"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["type"] == "work"))
            .map(|p| p["value"].clone());
        assert_eq!(work_phone.unwrap_or(Value::Null), json!(user.phone_number), "{name}: phone");
        let app_roles: Vec<Value> =
            resource["roles"].as_array().unwrap().iter().map(|r| r["value"].clone()).collect();
        assert_eq!(app_roles, json!(user.app_roles).as_array().unwrap().clone(), "{name}");
        // A valid SCIM User as Roster accepts it (`id` and `meta` are ignored on input).
        roster_scim::user::User::from_request(resource)
            .unwrap_or_else(|e| panic!("{name}: not a valid SCIM User: {e:?}"));
        // Teams are drawn from the user's groups, primary first, never listed twice.
        let teams = team_ids(&user.teams);
        let groups: BTreeSet<String> = user.groups.iter().map(|g| g.id.clone()).collect();
        let distinct: BTreeSet<String> = teams.iter().cloned().collect();
        assert_eq!(distinct.len(), teams.len(), "{name}: a team is listed twice");
        assert!(distinct.is_subset(&groups), "{name}: a team the user is not a member of");
        assert!(!user.product_roles.is_empty(), "{name}: the example shows no product role");
    }
    assert_eq!(users, 6, "one example per user notification type");
}

#[test]
fn product_groups_agree_with_their_scim_resource() {
    let mut groups = 0;
    for (name, n) in examples() {
        let Some(group) = product_group(n.body.as_ref().unwrap()) else { continue };
        groups += 1;
        uuid(&format!("{name}: group.id"), &group.id);
        let resource: Value = serde_json::from_str(&group.scim_resource_json)
            .unwrap_or_else(|e| panic!("{name}: scim_resource_json: {e}"));
        assert_eq!(resource["id"], json!(group.id), "{name}");
        assert_eq!(resource["displayName"], json!(group.display_name), "{name}");
        assert_eq!(resource["externalId"], json!(group.external_id), "{name}");
        assert_eq!(resource["meta"]["resourceType"], "Group", "{name}");
        assert!(resource.get("members").is_none(), "{name}: the group resource has no members");
    }
    assert_eq!(groups, 5, "one example per group notification type");
}

#[test]
fn user_updated_lists_each_changed_field_with_its_values() {
    let Some(Body::UserUpdated(updated)) = example("user_updated").body else { panic!() };
    let user = updated.user.unwrap();
    let current: BTreeMap<&str, Value> = BTreeMap::from([
        ("title", json!(user.title)),
        ("department", json!(user.department)),
        ("phone_number", json!(user.phone_number)),
        ("display_name", json!(user.display_name)),
    ]);
    assert!(!updated.changes.is_empty());
    for change in &updated.changes {
        let now = current
            .get(change.field.as_str())
            .unwrap_or_else(|| panic!("unexpected field {}", change.field));
        let stated: Value = change
            .current_json
            .as_deref()
            .map(|t| serde_json::from_str::<Value>(t).unwrap())
            .into();
        assert_eq!(&stated, now, "{}: current_json is the user's current value", change.field);
    }
    // At least one field that was not set before, to show what an absent previous_json means.
    assert!(updated.changes.iter().any(|c| c.previous_json.is_none()));
}

#[test]
fn user_access_changed_after_is_the_users_access() {
    let Some(Body::UserAccessChanged(changed)) = example("user_access_changed").body else {
        panic!()
    };
    let user = changed.user.unwrap();
    let after = changed.after.unwrap();
    let before = changed.before.unwrap();
    assert_eq!(after, Access { product_roles: user.product_roles, teams: user.teams });
    assert_ne!(before, after);
}

#[test]
fn group_member_notifications_name_their_members() {
    for name in ["group_member_added", "group_member_removed"] {
        let members = match example(name).body.unwrap() {
            Body::GroupMemberAdded(b) => b.members,
            Body::GroupMemberRemoved(b) => b.members,
            other => panic!("{name}: {other:?}"),
        };
        assert!(!members.is_empty(), "{name}");
        assert!(members.len() <= 1000, "{name}: at most 1,000 members per notification");
        for m in members {
            uuid(name, &m.id);
            assert_ne!(m.kind(), Kind::Unspecified, "{name}: member kind");
        }
    }
}

fn headers(n: &Notification) -> BTreeMap<&'static str, String> {
    let list = cloudevent_headers(n);
    let map: BTreeMap<_, _> = list.iter().cloned().collect();
    assert_eq!(map.len(), list.len(), "a header is repeated");
    map
}

#[test]
fn cloudevent_headers_carry_the_notifications_attributes() {
    for (name, n) in examples() {
        let h = headers(&n);
        let body = n.body.as_ref().unwrap();
        assert_eq!(h["ce_specversion"], "1.0", "{name}");
        assert_eq!(h["ce_id"], n.id, "{name}");
        assert_eq!(h["ce_type"], notification_type(body), "{name}");
        assert_eq!(h["ce_source"], format!("/roster/directories/{}", n.directory_id), "{name}");
        assert_eq!(h["content-type"], "application/protobuf", "{name}");
        assert_eq!(h["ce_sequence"], n.sequence.to_string(), "{name}");
        let time = DateTime::parse_from_rfc3339(&h["ce_time"])
            .unwrap_or_else(|e| panic!("{name}: ce_time {:?}: {e}", h["ce_time"]));
        assert_eq!(time.timestamp_micros(), n.occurred_at_micros, "{name}: ce_time");
        match name.as_str() {
            "directory_deleted" => assert!(!h.contains_key("ce_subject"), "{name}"),
            _ => {
                let id = product_user(body)
                    .map(|u| &u.id)
                    .or(product_group(body).map(|g| &g.id))
                    .unwrap();
                assert_eq!(h.get("ce_subject"), Some(id), "{name}: ce_subject");
            }
        }
    }
}

#[test]
fn ce_time_is_utc_with_microseconds() {
    let mut n = example("user_provisioned");
    n.occurred_at_micros = 1_764_084_000_000_007;
    assert_eq!(headers(&n)["ce_time"], "2025-11-25T15:20:00.000007Z");
}

#[test]
fn to_json_has_the_documented_shape() {
    let n = example("user_access_changed");
    let Some(Body::UserAccessChanged(body)) = n.body.clone() else { panic!() };
    let value = to_json(&n);
    let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "directory_id",
            "tenant_id",
            "sequence",
            "type",
            "occurred_at",
            "cause_event_id",
            "truncated",
            "data"
        ]
    );
    assert_eq!(value["truncated"], false);
    assert_eq!(value["id"], json!(n.id));
    assert_eq!(value["directory_id"], json!(n.directory_id));
    assert_eq!(value["tenant_id"], json!(n.tenant_id));
    assert_eq!(value["sequence"], json!(9));
    assert_eq!(value["type"], "user.access_changed");
    assert_eq!(value["occurred_at"], "2025-11-25T15:20:02.215634Z");
    assert_eq!(value["cause_event_id"], json!(n.cause_event_id));
    let data = value["data"].as_object().unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["user", "before", "after"]);
    assert_eq!(data["user"]["id"], "48af03ac-28ad-4fb8-8478-0a1b2c3d4e5f");
    assert_eq!(data["after"]["product_roles"], json!(["administrator", "translator"]));
    assert_eq!(value["data"], serde_json::to_value(&body).unwrap());
}

#[test]
fn to_json_data_is_the_body_of_every_type() {
    for (name, n) in examples() {
        let value = to_json(&n);
        assert_eq!(value["type"], json!(notification_type(n.body.as_ref().unwrap())), "{name}");
        assert!(value["data"].is_object(), "{name}: data is an object");
        // Tagged with its type, data is the body again.
        let tagged = json!({ file_name(value["type"].as_str().unwrap()): value["data"].clone() });
        let body: Body = serde_json::from_value(tagged).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(Some(body), n.body, "{name}");
    }
    assert_eq!(to_json(&example("directory_deleted"))["data"], json!({}));
}

#[test]
fn to_json_of_an_empty_notification_does_not_panic() {
    let value = to_json(&Notification::default());
    assert_eq!(value["type"], Value::Null);
    assert_eq!(value["data"], json!({}));
    assert_eq!(value["occurred_at"], "1970-01-01T00:00:00.000000Z");
    assert!(!headers(&Notification::default()).contains_key("ce_subject"));
}

#[test]
fn garbage_is_rejected_not_panicked_on() {
    assert!(decode_notification(b"\xff\xff\xff").is_err());
    let bytes = encode_notification(&example("user_provisioned"));
    assert!(decode_notification(&bytes[..bytes.len() / 2]).is_err());
}

/// The mapping rules the examples were computed with (docs/events.md shows them).
fn example_rules() -> crate::rules::MappingRules {
    crate::rules::MappingRules::parse(&json!({
        "appRoles": [
            {"appRole": "admin", "productRole": "administrator"},
            {"appRole": "pm", "productRole": "project_manager"},
            {"appRole": "linguist", "productRole": "translator"}
        ],
        "groups": [
            {"displayName": "Lisbon Office", "team": true},
            {"externalId": "1f6b8d3e-7a29-4c5e-b0d4-93e2a7c1f586", "productRole": "translator", "team": true},
            {"externalId": "e8c3f1a2-6d4b-4a97-8b15-7f2e9c0d3a64", "productRole": "project_manager"}
        ],
        "defaultRole": "viewer",
        "policy": "all",
        "priority": ["administrator", "project_manager", "translator", "viewer"]
    }))
    .unwrap()
}

/// The product roles and teams in the examples are what the rules give, so the examples teach
/// the mapping rather than contradict it.
#[test]
fn examples_follow_the_mapping_rules() {
    let rules = example_rules();
    for (name, n) in examples() {
        let body = n.body.as_ref().unwrap();
        if let Some(group) = product_group(body) {
            let (roles, team) = rules.group_rule(&group.display_name, group.external_id.as_deref());
            assert_eq!((&group.product_roles, group.team), (&roles, team), "{name}: group");
        }
        let Some(user) = product_user(body) else { continue };
        let mut matched: Vec<String> =
            user.app_roles.iter().flat_map(|r| rules.app_role_targets(r)).collect();
        let mut teams = Vec::new();
        for g in &user.groups {
            let (roles, team) = rules.group_rule(&g.display_name, g.external_id.as_deref());
            matched.extend(roles);
            if team {
                teams.push(g.clone());
            }
        }
        assert_eq!(user.product_roles, rules.resolve(matched), "{name}: product roles");
        let mut teams = teams.into_iter();
        let expected = Teams { primary: teams.next(), additional: teams.collect() };
        assert_eq!(user.teams.as_ref(), Some(&expected), "{name}: teams");
    }
}

fn truncated_example(name: &str) -> Notification {
    let path = examples_dir().join("truncated").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_truncated_example_is_the_truncated_form_of_its_full_one() {
    let full = example("user_updated");
    let truncated = truncated_example("user_updated");
    assert!(truncated.truncated);
    assert_eq!(truncate(&full), truncated);
    assert_eq!(to_json(&truncated)["truncated"], true);
}

#[test]
fn a_notification_too_large_to_publish_is_bounded_and_keeps_its_sequence() {
    let mut n = example("user_updated");
    let Some(Body::UserUpdated(body)) = n.body.as_mut() else { panic!() };
    let title = "t".repeat(300_000);
    body.user.as_mut().unwrap().title = Some(title.clone());
    body.changes.push(FieldChange {
        field: "title".into(),
        previous_json: Some(json!("x".repeat(300_000)).to_string()),
        current_json: Some(json!(title).to_string()),
    });
    let whole = n.clone();
    assert_eq!(bounded(n.clone(), 10_000_000), whole, "what fits is sent whole");
    let small = bounded(n, 100_000);
    assert!(small.truncated);
    assert!(encode_notification(&small).len() <= 100_000);
    assert_eq!((small.id.as_str(), small.sequence), (whole.id.as_str(), whole.sequence));
    let Some(Body::UserUpdated(body)) = &small.body else { panic!() };
    let user = body.user.as_ref().unwrap();
    assert_eq!(user.scim_resource_json, "");
    assert_eq!(user.title, None, "a long text is left out");
    assert_eq!(user.user_name, "ada.lovelace@contoso.com", "short texts stay");
    let title_change =
        body.changes.iter().find(|c| c.field == "title" && c.previous_json.is_none());
    assert!(title_change.is_some_and(|c| c.current_json.is_none()));

    // Too large even truncated: only the ids remain.
    let mut members = example("group_member_added");
    let Some(Body::GroupMemberAdded(body)) = members.body.as_mut() else { panic!() };
    let member = body.members[0].clone();
    body.members = vec![member; 5_000];
    let tiny = bounded(members.clone(), 2_000);
    assert!(tiny.truncated);
    let Some(Body::GroupMemberAdded(body)) = &tiny.body else { panic!() };
    assert!(body.members.is_empty());
    assert_eq!(body.group.as_ref().map(|g| g.id.as_str()), subject(members.body.as_ref().unwrap()));
    assert_eq!(tiny.sequence, members.sequence);
}
