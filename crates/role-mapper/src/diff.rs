//! What to notify: the notifications that take a consumer from the last view it was told about
//! to the current one. Pure; the order of the returned bodies is the order to append them in.

use roster_events::notifications::v1::notification::Body;
use roster_events::notifications::v1::{
    Access, FieldChange, GroupCreated, GroupDeleted, GroupMemberAdded, GroupMemberRemoved,
    GroupUpdated, Member, ProductGroup, ProductUser, UserAccessChanged, UserDeactivated,
    UserDeprovisioned, UserProvisioned, UserReactivated, UserUpdated,
};
use serde_json::Value;

/// At most this many members in one `GroupMemberAdded` or `GroupMemberRemoved`.
pub const MEMBER_CHUNK: usize = 1_000;

/// The `FieldChange.field` used when only the SCIM resource changed (ignoring `meta`).
pub const SCIM_RESOURCE_FIELD: &str = "scim_resource";

/// A named field of a view and its value as JSON text (`None`: not set).
type Field<T> = (&'static str, fn(&T) -> Option<String>);

/// The identity fields of a user whose change is a `UserUpdated`, in the order they are listed.
const USER_FIELDS: &[Field<ProductUser>] = &[
    ("external_id", |u| text(u.external_id.as_deref())),
    ("user_name", |u| text(Some(&u.user_name))),
    ("display_name", |u| text(u.display_name.as_deref())),
    ("name.formatted", |u| text(u.name.as_ref().and_then(|n| n.formatted.as_deref()))),
    ("name.given_name", |u| text(u.name.as_ref().and_then(|n| n.given_name.as_deref()))),
    ("name.family_name", |u| text(u.name.as_ref().and_then(|n| n.family_name.as_deref()))),
    ("primary_email", |u| text(u.primary_email.as_deref())),
    ("title", |u| text(u.title.as_deref())),
    ("department", |u| text(u.department.as_deref())),
    ("phone_number", |u| text(u.phone_number.as_deref())),
    ("preferred_language", |u| text(u.preferred_language.as_deref())),
    ("app_roles", |u| Some(list(&u.app_roles))),
];

/// The fields of a group whose change is a `GroupUpdated`.
const GROUP_FIELDS: &[Field<ProductGroup>] = &[
    ("display_name", |g| text(Some(&g.display_name))),
    ("external_id", |g| text(g.external_id.as_deref())),
    ("team", |g| Some(Value::Bool(g.team).to_string())),
    ("product_roles", |g| Some(list(&g.product_roles))),
];

/// The names of the user fields `UserUpdated` reports, as `FieldChange.field` spells them.
pub fn user_fields() -> impl Iterator<Item = &'static str> {
    USER_FIELDS.iter().map(|(name, _)| *name)
}

/// The names of the group fields `GroupUpdated` reports, as `FieldChange.field` spells them.
pub fn group_fields() -> impl Iterator<Item = &'static str> {
    GROUP_FIELDS.iter().map(|(name, _)| *name)
}

/// What an erased user's deprovisioning says of it: its ids, and that it is inactive.
fn ids_only(user: &ProductUser) -> ProductUser {
    ProductUser {
        id: user.id.clone(),
        external_id: user.external_id.clone(),
        active: false,
        ..Default::default()
    }
}

/// What to notify when a user's view goes from `before` to `after` (`None`: no user).
///
/// - appeared: `UserProvisioned`; gone: `UserDeprovisioned` with the last view and `erased`
///   (an erased user's view holds only its ids: Roster keeps no personal data of it, and the
///   outbox keeps what it publishes);
/// - otherwise, in this order: `UserUpdated` when identity fields changed (or, when none did,
///   the SCIM resource apart from `meta`); `UserDeactivated` / `UserReactivated` when `active`
///   flipped; `UserAccessChanged` when product roles or teams changed.
///
/// A change of `groups` alone notifies nothing: group membership notifications cover it.
pub fn user_changes(
    before: Option<&ProductUser>,
    after: Option<&ProductUser>,
    erased: bool,
) -> Vec<Body> {
    let (before, after) = match (before, after) {
        (None, None) => return vec![],
        (None, Some(after)) => {
            return vec![Body::UserProvisioned(UserProvisioned { user: Some(after.clone()) })];
        }
        (Some(before), None) => {
            let user = if erased { ids_only(before) } else { before.clone() };
            return vec![Body::UserDeprovisioned(UserDeprovisioned { user: Some(user), erased })];
        }
        (Some(before), Some(after)) => (before, after),
    };
    let mut out = Vec::new();
    let changes = field_changes(USER_FIELDS, before, after, |u| &u.scim_resource_json);
    if !changes.is_empty() {
        out.push(Body::UserUpdated(UserUpdated { user: Some(after.clone()), changes }));
    }
    match (before.active, after.active) {
        (true, false) => {
            out.push(Body::UserDeactivated(UserDeactivated { user: Some(after.clone()) }));
        }
        (false, true) => {
            out.push(Body::UserReactivated(UserReactivated { user: Some(after.clone()) }));
        }
        _ => {}
    }
    let (access_before, access_after) = (access(before), access(after));
    if access_before != access_after {
        out.push(Body::UserAccessChanged(UserAccessChanged {
            user: Some(after.clone()),
            before: Some(access_before),
            after: Some(access_after),
        }));
    }
    out
}

/// What to notify when a group's view goes from `before` to `after` (`None`: no group):
/// `GroupCreated`, `GroupDeleted` with the last view, or `GroupUpdated` when its display name,
/// external id, team flag or product roles changed (or, when none did, its SCIM resource apart
/// from `meta`).
pub fn group_changes(before: Option<&ProductGroup>, after: Option<&ProductGroup>) -> Vec<Body> {
    match (before, after) {
        (None, None) => vec![],
        (None, Some(after)) => {
            vec![Body::GroupCreated(GroupCreated { group: Some(after.clone()) })]
        }
        (Some(before), None) => {
            vec![Body::GroupDeleted(GroupDeleted { group: Some(before.clone()) })]
        }
        (Some(before), Some(after)) => {
            let changes = field_changes(GROUP_FIELDS, before, after, |g| &g.scim_resource_json);
            if changes.is_empty() {
                vec![]
            } else {
                vec![Body::GroupUpdated(GroupUpdated { group: Some(after.clone()), changes })]
            }
        }
    }
}

/// What to notify when members left and joined `group`: `GroupMemberRemoved` then
/// `GroupMemberAdded`, each in chunks of at most [`MEMBER_CHUNK`] members, none for an empty
/// list. Members keep the order given.
pub fn member_changes(group: &ProductGroup, removed: Vec<Member>, added: Vec<Member>) -> Vec<Body> {
    let mut out = Vec::new();
    for members in chunks(removed) {
        out.push(Body::GroupMemberRemoved(GroupMemberRemoved {
            group: Some(group.clone()),
            members,
        }));
    }
    for members in chunks(added) {
        out.push(Body::GroupMemberAdded(GroupMemberAdded { group: Some(group.clone()), members }));
    }
    out
}

/// `members` in consecutive chunks of at most [`MEMBER_CHUNK`].
fn chunks(members: Vec<Member>) -> Vec<Vec<Member>> {
    let mut out = Vec::with_capacity(members.len().div_ceil(MEMBER_CHUNK));
    let mut members = members.into_iter().peekable();
    while members.peek().is_some() {
        out.push(members.by_ref().take(MEMBER_CHUNK).collect());
    }
    out
}

/// The named fields that differ; when none does but the SCIM resources differ apart from
/// `meta`, one `scim_resource` change with both (without `meta`).
fn field_changes<T>(
    fields: &[Field<T>],
    before: &T,
    after: &T,
    resource: fn(&T) -> &String,
) -> Vec<FieldChange> {
    let mut changes: Vec<FieldChange> = fields
        .iter()
        .filter_map(|(field, value)| {
            let (previous_json, current_json) = (value(before), value(after));
            (previous_json != current_json).then(|| FieldChange {
                field: (*field).to_string(),
                previous_json,
                current_json,
            })
        })
        .collect();
    if changes.is_empty() {
        let (previous, current) = (without_meta(resource(before)), without_meta(resource(after)));
        if previous != current {
            changes.push(FieldChange {
                field: SCIM_RESOURCE_FIELD.to_string(),
                previous_json: previous.map(|v| v.to_string()),
                current_json: current.map(|v| v.to_string()),
            });
        }
    }
    changes
}

/// A SCIM resource (JSON text) without its `meta`, and without `active` (which has
/// notifications of its own: `user.deactivated`/`user.reactivated`), for comparison: objects
/// compare without regard to key order. Not set when empty; text that is not JSON is kept as a
/// JSON string.
fn without_meta(json: &str) -> Option<Value> {
    if json.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(mut object)) => {
            object.shift_remove("meta");
            object.shift_remove("active");
            Some(Value::Object(object))
        }
        Ok(value) => Some(value),
        Err(_) => Some(Value::String(json.to_string())),
    }
}

/// A string as JSON text.
fn text(value: Option<&str>) -> Option<String> {
    value.map(|s| Value::String(s.to_string()).to_string())
}

/// A list of strings as a JSON array.
fn list(values: &[String]) -> String {
    Value::Array(values.iter().cloned().map(Value::String).collect()).to_string()
}

/// A user's product roles and teams (no teams message counts as no teams).
fn access(user: &ProductUser) -> Access {
    Access {
        product_roles: user.product_roles.clone(),
        teams: Some(user.teams.clone().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use proptest::prelude::*;
    use roster_events::notification::notification_type;
    use roster_events::notifications::v1::member::Kind;
    use roster_events::notifications::v1::{GroupRef, Name, Teams};
    use serde_json::json;

    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn resource(extra: Value, version: i64) -> String {
        let mut value = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "u1",
            "userName": "ada",
        });
        for (k, v) in extra.as_object().unwrap() {
            value[k] = v.clone();
        }
        value["meta"] = json!({"resourceType": "User", "version": format!("W/\"{version}\"")});
        value.to_string()
    }

    fn group_ref(n: u8) -> GroupRef {
        GroupRef { id: format!("g{n}"), display_name: format!("Group {n}"), external_id: None }
    }

    fn user() -> ProductUser {
        ProductUser {
            id: "u1".into(),
            external_id: Some("ext-1".into()),
            user_name: "ada".into(),
            display_name: Some("Ada".into()),
            name: Some(Name {
                formatted: Some("Ada Lovelace".into()),
                given_name: Some("Ada".into()),
                family_name: Some("Lovelace".into()),
            }),
            primary_email: Some("ada@example.com".into()),
            active: true,
            product_roles: strings(&["member"]),
            teams: Some(Teams { primary: Some(group_ref(1)), additional: vec![] }),
            app_roles: strings(&["User"]),
            groups: vec![group_ref(1)],
            title: None,
            department: Some("R&D".into()),
            phone_number: None,
            preferred_language: None,
            scim_resource_json: resource(json!({}), 1),
        }
    }

    fn group() -> ProductGroup {
        ProductGroup {
            id: "g1".into(),
            display_name: "Sales".into(),
            external_id: Some("ext-g".into()),
            team: false,
            product_roles: strings(&["sales"]),
            scim_resource_json:
                json!({"id": "g1", "displayName": "Sales", "meta": {"version": "W/\"1\""}})
                    .to_string(),
        }
    }

    fn types(bodies: &[Body]) -> Vec<&'static str> {
        bodies.iter().map(notification_type).collect()
    }

    fn change(field: &str, previous: Option<&str>, current: Option<&str>) -> FieldChange {
        FieldChange {
            field: field.into(),
            previous_json: previous.map(str::to_string),
            current_json: current.map(str::to_string),
        }
    }

    fn updated_changes(bodies: &[Body]) -> Vec<FieldChange> {
        bodies
            .iter()
            .find_map(|b| match b {
                Body::UserUpdated(u) => Some(u.changes.clone()),
                Body::GroupUpdated(g) => Some(g.changes.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    fn member(n: usize) -> Member {
        Member { id: format!("m{n}"), kind: Kind::User as i32 }
    }

    #[test]
    fn nothing_to_nothing_is_nothing() {
        assert!(user_changes(None, None, true).is_empty());
        assert!(group_changes(None, None).is_empty());
    }

    #[test]
    fn a_new_user_is_provisioned() {
        let after = user();
        let bodies = user_changes(None, Some(&after), false);
        assert_eq!(bodies, vec![Body::UserProvisioned(UserProvisioned { user: Some(after) })]);
    }

    #[test]
    fn a_gone_user_is_deprovisioned_with_its_last_view_or_only_its_ids_when_erased() {
        let before = user();
        assert_eq!(
            user_changes(Some(&before), None, false),
            vec![Body::UserDeprovisioned(UserDeprovisioned {
                user: Some(before.clone()),
                erased: false
            })]
        );
        let erased = ProductUser {
            id: before.id.clone(),
            external_id: before.external_id.clone(),
            ..Default::default()
        };
        assert_eq!(
            user_changes(Some(&before), None, true),
            vec![Body::UserDeprovisioned(UserDeprovisioned { user: Some(erased), erased: true })]
        );
    }

    #[test]
    fn the_same_user_is_nothing() {
        let u = user();
        assert!(user_changes(Some(&u), Some(&u), false).is_empty());
    }

    #[test]
    fn changed_identity_fields_are_listed_with_their_previous_values() {
        let before = user();
        let mut after = user();
        after.display_name = Some("Ada L.".into());
        after.title = Some("Countess".into());
        after.external_id = None;
        after.name.as_mut().unwrap().given_name = Some("Augusta \"Ada\"".into());
        after.app_roles = strings(&["User", "Admin"]);
        after.scim_resource_json = resource(json!({"displayName": "Ada L."}), 2);
        let bodies = user_changes(Some(&before), Some(&after), false);
        assert_eq!(types(&bodies), vec!["user.updated"]);
        let Body::UserUpdated(updated) = &bodies[0] else { panic!() };
        assert_eq!(updated.user.as_ref(), Some(&after));
        assert_eq!(
            updated.changes,
            vec![
                change("external_id", Some("\"ext-1\""), None),
                change("display_name", Some("\"Ada\""), Some("\"Ada L.\"")),
                change("name.given_name", Some("\"Ada\""), Some(r#""Augusta \"Ada\"""#)),
                change("title", None, Some("\"Countess\"")),
                change("app_roles", Some(r#"["User"]"#), Some(r#"["User","Admin"]"#)),
            ]
        );
    }

    #[test]
    fn every_named_user_field_is_reported() {
        type Set = fn(&mut ProductUser);
        let cases: &[(&str, Set)] = &[
            ("external_id", |u| u.external_id = Some("x".into())),
            ("user_name", |u| u.user_name = "x".into()),
            ("display_name", |u| u.display_name = None),
            ("name.formatted", |u| u.name.as_mut().unwrap().formatted = None),
            ("name.given_name", |u| u.name.as_mut().unwrap().given_name = Some("x".into())),
            ("name.family_name", |u| u.name = None),
            ("primary_email", |u| u.primary_email = Some("x".into())),
            ("title", |u| u.title = Some("x".into())),
            ("department", |u| u.department = Some("x".into())),
            ("phone_number", |u| u.phone_number = Some("x".into())),
            ("preferred_language", |u| u.preferred_language = Some("x".into())),
            ("app_roles", |u| u.app_roles.clear()),
        ];
        assert_eq!(
            cases.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            user_fields().collect::<Vec<_>>()
        );
        for (field, set) in cases {
            let before = user();
            let mut after = user();
            set(&mut after);
            let changes = updated_changes(&user_changes(Some(&before), Some(&after), false));
            let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
            if *field == "name.family_name" {
                // Dropping the whole name changes all three.
                assert_eq!(fields, vec!["name.formatted", "name.given_name", "name.family_name"]);
            } else {
                assert_eq!(fields, vec![*field]);
            }
        }
    }

    #[test]
    fn a_resource_change_outside_the_named_fields_is_reported_as_scim_resource() {
        let before = user();
        let mut after = user();
        after.scim_resource_json = resource(json!({"nickName": "Countess"}), 2);
        let changes = updated_changes(&user_changes(Some(&before), Some(&after), false));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "scim_resource");
        let previous: Value =
            serde_json::from_str(changes[0].previous_json.as_deref().unwrap()).unwrap();
        let current: Value =
            serde_json::from_str(changes[0].current_json.as_deref().unwrap()).unwrap();
        assert_eq!(previous.get("meta"), None);
        assert_eq!(current.get("meta"), None);
        assert_eq!(current["nickName"], "Countess");
        assert_eq!(previous["userName"], "ada");

        // Not when a named field changed too.
        after.title = Some("Countess".into());
        let changes = updated_changes(&user_changes(Some(&before), Some(&after), false));
        assert_eq!(changes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(), vec!["title"]);
    }

    #[test]
    fn meta_and_key_order_alone_are_no_change() {
        let before = user();
        let mut after = user();
        after.scim_resource_json = resource(json!({}), 7);
        assert!(user_changes(Some(&before), Some(&after), false).is_empty());
        // The same resource with its keys in another order (jsonb does that).
        after.scim_resource_json =
            r#"{"userName":"ada","meta":{},"id":"u1","schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}"#
                .into();
        assert!(user_changes(Some(&before), Some(&after), false).is_empty());
    }

    #[test]
    fn deactivation_and_reactivation() {
        // As the projector stores it, `active` is in the SCIM resource too (and its version
        // moves): that is no `user.updated`.
        let mut before = user();
        before.scim_resource_json = resource(json!({"active": true}), 1);
        let mut after = user();
        after.active = false;
        after.scim_resource_json = resource(json!({"active": false}), 2);
        let bodies = user_changes(Some(&before), Some(&after), false);
        assert_eq!(
            bodies,
            vec![Body::UserDeactivated(UserDeactivated { user: Some(after.clone()) })]
        );
        let bodies = user_changes(Some(&after), Some(&before), false);
        assert_eq!(
            bodies,
            vec![Body::UserReactivated(UserReactivated { user: Some(before.clone()) })]
        );
    }

    #[test]
    fn access_changes_carry_before_and_after() {
        let before = user();
        let mut after = user();
        after.product_roles = strings(&["administrator"]);
        let bodies = user_changes(Some(&before), Some(&after), false);
        assert_eq!(
            bodies,
            vec![Body::UserAccessChanged(UserAccessChanged {
                user: Some(after.clone()),
                before: Some(Access {
                    product_roles: strings(&["member"]),
                    teams: before.teams.clone()
                }),
                after: Some(Access {
                    product_roles: strings(&["administrator"]),
                    teams: after.teams.clone()
                }),
            })]
        );
        let mut after = user();
        after.teams = Some(Teams { primary: Some(group_ref(2)), additional: vec![group_ref(1)] });
        assert_eq!(
            types(&user_changes(Some(&before), Some(&after), false)),
            vec!["user.access_changed"]
        );
        // No teams message is the same as no teams.
        let mut none = user();
        none.teams = None;
        let mut empty = user();
        empty.teams = Some(Teams::default());
        assert!(user_changes(Some(&none), Some(&empty), false).is_empty());
        assert_eq!(
            types(&user_changes(Some(&before), Some(&none), false)),
            vec!["user.access_changed"]
        );
    }

    #[test]
    fn group_changes_alone_notify_nothing() {
        let before = user();
        let mut after = user();
        after.groups = vec![group_ref(1), group_ref(2)];
        assert!(user_changes(Some(&before), Some(&after), false).is_empty());
    }

    #[test]
    fn everything_at_once_comes_in_order() {
        let before = user();
        let mut after = user();
        after.user_name = "ada2".into();
        after.active = false;
        after.product_roles = vec![];
        after.groups = vec![];
        after.teams = Some(Teams::default());
        let bodies = user_changes(Some(&before), Some(&after), true);
        assert_eq!(types(&bodies), vec!["user.updated", "user.deactivated", "user.access_changed"]);
        let mut back = user_changes(Some(&after), Some(&before), false);
        assert_eq!(types(&back), vec!["user.updated", "user.reactivated", "user.access_changed"]);
        let Body::UserAccessChanged(access) = back.remove(2) else { panic!() };
        assert_eq!(access.before.unwrap().product_roles, Vec::<String>::new());
        assert_eq!(access.after.unwrap().product_roles, strings(&["member"]));
    }

    #[test]
    fn group_created_deleted_unchanged() {
        let g = group();
        assert_eq!(
            group_changes(None, Some(&g)),
            vec![Body::GroupCreated(GroupCreated { group: Some(g.clone()) })]
        );
        assert_eq!(
            group_changes(Some(&g), None),
            vec![Body::GroupDeleted(GroupDeleted { group: Some(g.clone()) })]
        );
        assert!(group_changes(Some(&g), Some(&g)).is_empty());
        let mut later = group();
        later.scim_resource_json =
            json!({"displayName": "Sales", "id": "g1", "meta": {"version": "W/\"9\""}}).to_string();
        assert!(group_changes(Some(&g), Some(&later)).is_empty());
    }

    #[test]
    fn group_updates_list_their_fields() {
        let before = group();
        let mut after = group();
        after.display_name = "Sales EMEA".into();
        after.external_id = None;
        after.team = true;
        after.product_roles = strings(&["sales", "vendor"]);
        let bodies = group_changes(Some(&before), Some(&after));
        assert_eq!(types(&bodies), vec!["group.updated"]);
        let Body::GroupUpdated(updated) = &bodies[0] else { panic!() };
        assert_eq!(updated.group.as_ref(), Some(&after));
        assert_eq!(
            updated.changes,
            vec![
                change("display_name", Some("\"Sales\""), Some("\"Sales EMEA\"")),
                change("external_id", Some("\"ext-g\""), None),
                change("team", Some("false"), Some("true")),
                change("product_roles", Some(r#"["sales"]"#), Some(r#"["sales","vendor"]"#)),
            ]
        );
        let mut after = group();
        after.scim_resource_json =
            json!({"id": "g1", "displayName": "Sales", "urn:x:2.0:Group": {"a": 1}, "meta": {}})
                .to_string();
        let changes = updated_changes(&group_changes(Some(&before), Some(&after)));
        assert_eq!(
            changes,
            vec![change(
                "scim_resource",
                Some(r#"{"id":"g1","displayName":"Sales"}"#),
                Some(r#"{"id":"g1","displayName":"Sales","urn:x:2.0:Group":{"a":1}}"#)
            )]
        );
        assert_eq!(
            group_fields().collect::<Vec<_>>(),
            vec!["display_name", "external_id", "team", "product_roles"]
        );
    }

    #[test]
    fn member_changes_remove_then_add_in_chunks() {
        let g = group();
        assert!(member_changes(&g, vec![], vec![]).is_empty());
        let removed: Vec<Member> = (0..1).map(member).collect();
        let added: Vec<Member> = (0..2_001).map(member).collect();
        let bodies = member_changes(&g, removed.clone(), added.clone());
        assert_eq!(
            types(&bodies),
            vec![
                "group.member_removed",
                "group.member_added",
                "group.member_added",
                "group.member_added"
            ]
        );
        let sizes: Vec<usize> = bodies
            .iter()
            .map(|b| match b {
                Body::GroupMemberAdded(a) => a.members.len(),
                Body::GroupMemberRemoved(r) => r.members.len(),
                _ => 0,
            })
            .collect();
        assert_eq!(sizes, vec![1, 1_000, 1_000, 1]);
        let Body::GroupMemberAdded(last) = &bodies[3] else { panic!() };
        assert_eq!(last.members, vec![member(2_000)]);
        assert_eq!(last.group.as_ref(), Some(&g));
        let exactly: Vec<Member> = (0..1_000).map(member).collect();
        assert_eq!(types(&member_changes(&g, exactly, vec![])), vec!["group.member_removed"]);
    }

    // Property tests over views drawn from small domains, so that equal and nearly equal views
    // are frequent.

    fn small_string() -> impl Strategy<Value = String> {
        prop_oneof![Just("a".to_string()), Just("b".to_string()), Just("Ä".to_string())]
    }

    fn small_option() -> impl Strategy<Value = Option<String>> {
        prop::option::of(small_string())
    }

    fn small_list() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(small_string(), 0..3)
    }

    fn arb_group_ref() -> impl Strategy<Value = GroupRef> {
        (0u8..3).prop_map(group_ref)
    }

    fn arb_resource() -> impl Strategy<Value = String> {
        (small_option(), 1i64..3).prop_map(|(nick, version)| match nick {
            Some(nick) => resource(json!({"nickName": nick}), version),
            None => resource(json!({}), version),
        })
    }

    prop_compose! {
        fn arb_user()(
            external_id in small_option(),
            user_name in small_string(),
            display_name in small_option(),
            name in prop::option::of((small_option(), small_option(), small_option())),
            primary_email in small_option(),
            active in any::<bool>(),
            product_roles in small_list(),
            teams in prop::option::of((prop::option::of(arb_group_ref()), prop::collection::vec(arb_group_ref(), 0..2))),
            app_roles in small_list(),
            groups in prop::collection::vec(arb_group_ref(), 0..3),
            (title, department, phone_number, preferred_language) in (small_option(), small_option(), small_option(), small_option()),
            scim_resource_json in arb_resource(),
        ) -> ProductUser {
            ProductUser {
                id: "u1".into(),
                external_id,
                user_name,
                display_name,
                name: name.map(|(formatted, given_name, family_name)| Name { formatted, given_name, family_name }),
                primary_email,
                active,
                product_roles,
                teams: teams.map(|(primary, additional)| Teams { primary, additional }),
                app_roles,
                groups,
                title,
                department,
                phone_number,
                preferred_language,
                scim_resource_json,
            }
        }
    }

    prop_compose! {
        fn arb_group()(
            display_name in small_string(),
            external_id in small_option(),
            team in any::<bool>(),
            product_roles in small_list(),
            nick in small_option(),
            version in 1i64..3,
        ) -> ProductGroup {
            let mut resource = json!({"id": "g1", "displayName": display_name, "meta": {"version": version}});
            if let Some(nick) = nick {
                resource["urn:x:2.0:Group"] = json!({"nick": nick});
            }
            ProductGroup { id: "g1".into(), display_name, external_id, team, product_roles, scim_resource_json: resource.to_string() }
        }
    }

    /// Two users that differ in at most three fields (often none, often one), so that a
    /// property about single field changes meets them often.
    fn arb_user_pair() -> impl Strategy<Value = (ProductUser, ProductUser)> {
        (arb_user(), arb_user(), prop::sample::subsequence((0..16).collect::<Vec<u8>>(), 0..=3))
            .prop_map(|(a, other, fields)| {
                let mut b = a.clone();
                for field in fields {
                    match field {
                        0 => b.external_id = other.external_id.clone(),
                        1 => b.user_name = other.user_name.clone(),
                        2 => b.display_name = other.display_name.clone(),
                        3 => b.name = other.name.clone(),
                        4 => b.primary_email = other.primary_email.clone(),
                        5 => b.active = other.active,
                        6 => b.product_roles = other.product_roles.clone(),
                        7 => b.teams = other.teams.clone(),
                        8 => b.app_roles = other.app_roles.clone(),
                        9 => b.groups = other.groups.clone(),
                        10 => b.title = other.title.clone(),
                        11 => b.department = other.department.clone(),
                        12 => b.phone_number = other.phone_number.clone(),
                        13 => b.preferred_language = other.preferred_language.clone(),
                        _ => b.scim_resource_json = other.scim_resource_json.clone(),
                    }
                }
                (a, b)
            })
    }

    /// The fields `UserUpdated` names, written independently of `USER_FIELDS`.
    const NAMED: &[&str] = &[
        "external_id",
        "user_name",
        "display_name",
        "name.formatted",
        "name.given_name",
        "name.family_name",
        "primary_email",
        "title",
        "department",
        "phone_number",
        "preferred_language",
        "app_roles",
    ];

    /// What a consumer can tell apart: everything but `groups`, `meta`, and an absent `name` or
    /// `teams` against an empty one.
    fn observable_user(user: &ProductUser) -> ProductUser {
        let mut user = user.clone();
        user.groups.clear();
        user.name = Some(user.name.unwrap_or_default());
        user.teams = Some(user.teams.unwrap_or_default());
        user.scim_resource_json =
            without_meta(&user.scim_resource_json).map(|v| v.to_string()).unwrap_or_default();
        user
    }

    fn observable_group(group: &ProductGroup) -> ProductGroup {
        let mut group = group.clone();
        group.scim_resource_json =
            without_meta(&group.scim_resource_json).map(|v| v.to_string()).unwrap_or_default();
        group
    }

    /// The value of a named user field, written independently of `USER_FIELDS`.
    fn user_field(user: &ProductUser, field: &str) -> Option<Value> {
        let name = user.name.clone().unwrap_or_default();
        let s = |v: &Option<String>| v.clone().map(Value::String);
        match field {
            "external_id" => s(&user.external_id),
            "user_name" => Some(Value::String(user.user_name.clone())),
            "display_name" => s(&user.display_name),
            "name.formatted" => s(&name.formatted),
            "name.given_name" => s(&name.given_name),
            "name.family_name" => s(&name.family_name),
            "primary_email" => s(&user.primary_email),
            "title" => s(&user.title),
            "department" => s(&user.department),
            "phone_number" => s(&user.phone_number),
            "preferred_language" => s(&user.preferred_language),
            "app_roles" => Some(json!(user.app_roles)),
            other => panic!("unexpected field {other}"),
        }
    }

    fn parse(json: &Option<String>) -> Option<Value> {
        json.as_deref().map(|j| serde_json::from_str(j).unwrap())
    }

    proptest! {
        #[test]
        fn the_same_user_is_never_notified(user in arb_user(), erased in any::<bool>()) {
            prop_assert!(user_changes(Some(&user), Some(&user), erased).is_empty());
        }

        #[test]
        fn the_same_group_is_never_notified(group in arb_group()) {
            prop_assert!(group_changes(Some(&group), Some(&group)).is_empty());
        }

        #[test]
        fn a_user_change_is_notified_exactly_when_a_consumer_can_see_it((a, b) in arb_user_pair()) {
            let bodies = user_changes(Some(&a), Some(&b), false);
            prop_assert_eq!(bodies.is_empty(), observable_user(&a) == observable_user(&b));
        }

        #[test]
        fn a_group_change_is_notified_exactly_when_it_differs(a in arb_group(), b in arb_group()) {
            let bodies = group_changes(Some(&a), Some(&b));
            prop_assert_eq!(bodies.is_empty(), observable_group(&a) == observable_group(&b));
            prop_assert!(bodies.len() <= 1);
        }

        #[test]
        fn user_updates_list_each_changed_field_with_both_values((a, b) in arb_user_pair()) {
            let bodies = user_changes(Some(&a), Some(&b), false);
            let changes = updated_changes(&bodies);
            let named: Vec<&str> = NAMED
                .iter()
                .copied()
                .filter(|f| user_field(&a, f) != user_field(&b, f))
                .collect();
            let listed: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
            if named.is_empty() {
                let resource_changed = without_meta(&a.scim_resource_json) != without_meta(&b.scim_resource_json);
                prop_assert_eq!(listed, if resource_changed { vec!["scim_resource"] } else { vec![] });
            } else {
                prop_assert_eq!(listed, named);
                for c in &changes {
                    prop_assert_eq!(parse(&c.previous_json), user_field(&a, &c.field));
                    prop_assert_eq!(parse(&c.current_json), user_field(&b, &c.field));
                }
            }
        }

        #[test]
        fn user_notifications_come_in_order_and_carry_the_new_view((a, b) in arb_user_pair()) {
            let bodies = user_changes(Some(&a), Some(&b), false);
            let rank = |t: &str| match t {
                "user.updated" => 0,
                "user.deactivated" | "user.reactivated" => 1,
                "user.access_changed" => 2,
                other => panic!("unexpected {other}"),
            };
            let ranks: Vec<i32> = types(&bodies).into_iter().map(rank).collect();
            prop_assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{:?}", types(&bodies));
            prop_assert_eq!(types(&bodies).contains(&"user.deactivated"), a.active && !b.active);
            prop_assert_eq!(types(&bodies).contains(&"user.reactivated"), !a.active && b.active);
            let access_changed = a.product_roles != b.product_roles
                || a.teams.clone().unwrap_or_default() != b.teams.clone().unwrap_or_default();
            prop_assert_eq!(types(&bodies).contains(&"user.access_changed"), access_changed);
            for body in &bodies {
                let user = match body {
                    Body::UserUpdated(x) => x.user.as_ref(),
                    Body::UserDeactivated(x) => x.user.as_ref(),
                    Body::UserReactivated(x) => x.user.as_ref(),
                    Body::UserAccessChanged(x) => {
                        prop_assert_eq!(&x.before.as_ref().unwrap().product_roles, &a.product_roles);
                        prop_assert_eq!(&x.after.as_ref().unwrap().product_roles, &b.product_roles);
                        x.user.as_ref()
                    }
                    _ => None,
                };
                prop_assert_eq!(user, Some(&b));
            }
        }

        #[test]
        fn a_sequence_of_views_provisions_and_deprovisions_in_turn(
            views in prop::collection::vec(prop::option::of(arb_user()), 0..8),
            erased in any::<bool>(),
        ) {
            // The role-mapper notifies each view against the last one it notified.
            let mut last: Option<ProductUser> = None;
            let mut all: Vec<Body> = Vec::new();
            for view in &views {
                all.extend(user_changes(last.as_ref(), view.as_ref(), erased));
                last = view.clone();
            }
            let mut provisioned = false;
            for body in &all {
                match body {
                    Body::UserProvisioned(_) => {
                        prop_assert!(!provisioned, "provisioned twice without deprovisioning");
                        provisioned = true;
                    }
                    Body::UserDeprovisioned(d) => {
                        prop_assert!(provisioned, "deprovisioned before being provisioned");
                        prop_assert_eq!(d.erased, erased);
                        provisioned = false;
                    }
                    _ => prop_assert!(provisioned, "{} of a user not provisioned", notification_type(body)),
                }
            }
            prop_assert_eq!(provisioned, last.is_some());
        }

        #[test]
        fn member_chunks_keep_every_member_in_order(
            removed in 0usize..2_500,
            added in 0usize..2_500,
        ) {
            let removed: Vec<Member> = (0..removed).map(member).collect();
            let added: Vec<Member> = (0..added).map(|n| member(n + 10_000)).collect();
            let bodies = member_changes(&group(), removed.clone(), added.clone());
            let (mut got_removed, mut got_added) = (Vec::new(), Vec::new());
            let mut seen_added = false;
            for body in bodies {
                match body {
                    Body::GroupMemberRemoved(r) => {
                        prop_assert!(!seen_added, "a removal after an addition");
                        prop_assert!(!r.members.is_empty() && r.members.len() <= MEMBER_CHUNK);
                        got_removed.extend(r.members);
                    }
                    Body::GroupMemberAdded(a) => {
                        seen_added = true;
                        prop_assert!(!a.members.is_empty() && a.members.len() <= MEMBER_CHUNK);
                        got_added.extend(a.members);
                    }
                    other => panic!("unexpected {}", notification_type(&other)),
                }
            }
            prop_assert_eq!(got_removed, removed);
            prop_assert_eq!(got_added, added);
        }
    }
}
