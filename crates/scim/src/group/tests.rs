//! Group tests: the group requests of `docs/entra/requests.md` (§3, §6.4, §6.5, §8.5,
//! §8.6, §8.8).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::DateTime;
use serde_json::{Value, json};

use super::*;
use crate::patch::{PATCH_OP_SCHEMA, PatchRequest};

fn fixture(id: &str) -> Value {
    let all: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/entra-requests.fixtures.json"))
            .unwrap();
    all["fixtures"].as_array().unwrap().iter().find(|f| f["id"] == id).unwrap()["body"].clone()
}

fn ops(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations})
}

fn group() -> Group {
    Group::from_request(fixture("create-group")).unwrap().0
}

/// Parses a group PATCH (through the change-log form) and splits it.
fn split(body: Value) -> (Vec<PatchOp>, Vec<MembershipChange>) {
    let ops: Vec<PatchOp> = PatchRequest::parse(&body)
        .unwrap()
        .iter()
        .map(|op| {
            let (kind, path, value) = op.to_parts();
            PatchOp::from_parts(kind, path.as_deref(), value.as_deref()).unwrap()
        })
        .collect();
    split_group_ops(&ops).unwrap()
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn s3_1_create_group_with_adscim_schema_and_meta() {
    let (group, members) = Group::from_request(fixture("create-group")).unwrap();
    assert!(members.is_empty());
    assert_eq!(
        group.as_json(),
        json!({
            "schemas": [GROUP_SCHEMA],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName"
        })
    );
    assert_eq!(group.display_name(), "displayName");
    assert_eq!(group.external_id(), Some("8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"));
}

#[test]
fn create_with_members_extracts_them() {
    let (group, members) = Group::from_request(json!({
        "displayName": "G",
        "members": [
            {"value": "u1", "$ref": null},
            {"value": "g1", "type": "group"},
            {"value": "u2", "$ref": "https://x/scim/v2/d/Users/u2"},
            {"value": "u1"},
            null
        ]
    }))
    .unwrap();
    assert!(group.as_json().get("members").is_none());
    assert_eq!(
        members,
        vec![
            MemberRef::new("u1"),
            MemberRef::stored("g1", Some(MemberKind::Group), None),
            MemberRef::stored("u2", Some(MemberKind::User), None),
        ]
    );
}

#[test]
fn create_errors() {
    for body in [
        json!({}),
        json!({"displayName": ""}),
        json!({"displayName": 1}),
        json!({"displayName": "G", "members": [{"value": ""}]}),
        json!({"displayName": "G", "members": [{"display": "x"}]}),
        json!({"displayName": "G", "members": {"value": "x"}}),
        json!({"displayName": "G", "externalId": 5}),
        json!({"displayName": "G", "urn:x:Group": 5}),
    ] {
        let err = Group::from_request(body.clone()).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue), "{body}");
    }
    let err = Group::from_request(json!("G")).unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax));
}

#[test]
fn resource_with_and_without_members() {
    let t = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z").unwrap().to_utc();
    let meta = Meta {
        created: t,
        last_modified: t,
        location: "https://x/scim/v2/d/Groups/g1".into(),
        version: 1,
    };
    let resource = group().to_resource("g1", &meta, None);
    assert!(resource.get("members").is_none(), "excludedAttributes=members");
    assert_eq!(resource["id"], "g1");
    assert_eq!(resource["meta"]["resourceType"], "Group");
    let members = [
        MemberRef::stored("u1", Some(MemberKind::User), None),
        MemberRef::new("x"),
        MemberRef::stored("g2", Some(MemberKind::Group), Some("Lisbon".into())),
    ];
    let resource = group().to_resource("g1", &meta, Some(&members));
    assert_eq!(
        resource["members"],
        json!([
            {"value": "u1", "$ref": "https://x/scim/v2/d/Users/u1", "type": "User"},
            {"value": "x"},
            {"value": "g2", "display": "Lisbon", "$ref": "https://x/scim/v2/d/Groups/g2", "type": "Group"}
        ])
    );
    // What a response shows is read back the same (the gateway renders write outcomes so).
    let back: Vec<MemberRef> = resource["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| MemberRef::from_json(m).unwrap())
        .collect();
    assert_eq!(back, members);
    let keys: Vec<&String> = resource.as_object().unwrap().keys().collect();
    assert_eq!(keys.first().map(|k| k.as_str()), Some("schemas"));
    assert_eq!(keys.get(1).map(|k| k.as_str()), Some("id"));
    assert_eq!(keys.last().map(|k| k.as_str()), Some("meta"));
    let resource = group().to_resource("g1", &meta, Some(&[]));
    assert_eq!(resource["members"], json!([]));
}

#[test]
fn s3_4_replace_display_name() {
    let (others, changes) = split(fixture("patch-group-displayName"));
    assert!(changes.is_empty());
    let patched = apply_to_group(&group(), &others).unwrap();
    assert_eq!(patched.display_name(), "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName");
    assert_eq!(patched.external_id(), Some("8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"));
}

#[test]
fn s3_5_add_members_with_null_ref() {
    let (others, changes) = split(fixture("patch-group-add-members"));
    assert!(others.is_empty());
    assert_eq!(changes, vec![MembershipChange::Add(ids(&["f648f8d5ea4e4cd38e9c"]))]);
    let mut members = ids(&["f648f8d5ea4e4cd38e9c"]);
    changes[0].apply_to(&mut members);
    assert_eq!(members, ids(&["f648f8d5ea4e4cd38e9c"]), "adding twice is idempotent");
}

#[test]
fn s3_6_remove_members_by_value_list_removes_only_those() {
    let (_, changes) = split(fixture("patch-group-remove-members"));
    assert_eq!(changes, vec![MembershipChange::Remove(ids(&["f648f8d5ea4e4cd38e9c"]))]);
    let mut members = ids(&["a", "f648f8d5ea4e4cd38e9c", "b"]);
    changes[0].apply_to(&mut members);
    assert_eq!(members, ids(&["a", "b"]));
}

#[test]
fn s6_4_remove_member_both_shapes() {
    let (_, without) = split(fixture("flag-remove-member-without"));
    assert_eq!(without, vec![MembershipChange::Remove(ids(&["u1091"]))]);
    let (_, with) = split(fixture("flag-remove-member-with"));
    assert_eq!(
        with,
        vec![MembershipChange::Remove(ids(&["7f4bc1a3-285e-48ae-8202-5accb43efb0e"]))]
    );
}

#[test]
fn s6_5_flagged_group_requests() {
    let (_, changes) = split(ops(json!([
        {"op": "remove", "path": "members[value eq \"16b083c0-f1e8-4544-b6ee-27a28dc98761\"]"}
    ])));
    assert_eq!(
        changes,
        vec![MembershipChange::Remove(ids(&["16b083c0-f1e8-4544-b6ee-27a28dc98761"]))]
    );
    let (_, changes) = split(ops(json!([
        {"op": "add", "path": "members", "value": [{"value": "10263a6910a84ef9a581dd9b8dcc0eae"}]}
    ])));
    assert_eq!(changes, vec![MembershipChange::Add(ids(&["10263a6910a84ef9a581dd9b8dcc0eae"]))]);
}

#[test]
fn s8_5_remove_several_members_legacy_form_and_or_filter() {
    let (_, changes) = split(ops(json!([{
        "op": "Remove", "path": "members", "value": [{"value": "2392066"}, {"value": "123456"}]
    }])));
    assert_eq!(changes, vec![MembershipChange::Remove(ids(&["2392066", "123456"]))]);
    let (_, changes) = split(ops(json!([{
        "op": "remove", "path": "members[value eq \"123456\" or value eq \"654321\"]"
    }])));
    assert_eq!(changes, vec![MembershipChange::Remove(ids(&["123456", "654321"]))]);
}

#[test]
fn s8_6_member_removed_from_group() {
    let (_, changes) = split(json!({"schemas": [PATCH_OP_SCHEMA], "Operations": [
        {"op": "Remove", "path": "members", "value": [{"value": "<id>"}]}
    ]}));
    assert_eq!(changes, vec![MembershipChange::Remove(ids(&["<id>"]))]);
}

#[test]
fn s8_8_validator_group_requests() {
    // Replace attributes (path-less) and update displayName.
    let (others, changes) = split(ops(json!([
        {"op": "replace", "value": {"externalId": "663fa3a8-e2b6-4ac0-96c8-363432cdc01d"}}
    ])));
    assert!(changes.is_empty());
    let patched = apply_to_group(&group(), &others).unwrap();
    assert_eq!(patched.external_id(), Some("663fa3a8-e2b6-4ac0-96c8-363432cdc01d"));
    let (others, _) =
        split(ops(json!([{"op": "replace", "value": {"displayName": "WUZPWMBDDCGI"}}])));
    let patched = apply_to_group(&patched, &others).unwrap();
    assert_eq!(patched.display_name(), "WUZPWMBDDCGI");
    assert_eq!(patched.external_id(), Some("663fa3a8-e2b6-4ac0-96c8-363432cdc01d"));

    // "Add member" is a replace of members: the set becomes exactly these.
    let (_, changes) = split(ops(json!([{
        "op": "replace", "path": "members", "value": [{"value": "805d32c6-9e01-43b9-9735-4576cae634b5"}]
    }])));
    assert_eq!(
        changes,
        vec![MembershipChange::Replace(ids(&["805d32c6-9e01-43b9-9735-4576cae634b5"]))]
    );
    let mut members = ids(&["old"]);
    changes[0].apply_to(&mut members);
    assert_eq!(members, ids(&["805d32c6-9e01-43b9-9735-4576cae634b5"]));

    // Remove member by filter.
    let (_, changes) = split(ops(json!([{
        "op": "remove", "path": "members[value eq \"ee90548a-11dd-4795-b3ac-9cfcd99232bc\"]"
    }])));
    assert_eq!(
        changes,
        vec![MembershipChange::Remove(ids(&["ee90548a-11dd-4795-b3ac-9cfcd99232bc"]))]
    );

    // Add then remove the same member in one request: not a member afterwards.
    let (_, changes) = split(ops(json!([
        {"op": "add", "path": "members", "value": [{"value": "761ac150-9d77-49b2-8f3f-8ec2eacf99da"}]},
        {"op": "remove", "path": "members[value eq \"761ac150-9d77-49b2-8f3f-8ec2eacf99da\"]"}
    ])));
    let mut members = Vec::new();
    for change in &changes {
        change.apply_to(&mut members);
    }
    assert!(members.is_empty());

    // Multiple ops on the same attribute (remove + add + replace externalId).
    let (others, _) = split(ops(json!([
        {"op": "remove", "path": "externalId"},
        {"op": "add", "path": "externalId", "value": "e1"},
        {"op": "replace", "path": "externalId", "value": "e2"}
    ])));
    assert_eq!(apply_to_group(&group(), &others).unwrap().external_id(), Some("e2"));
}

#[test]
fn member_changes_in_order_with_remove_all_and_pathless_members() {
    let (others, changes) = split(ops(json!([
        {"op": "Add", "path": "members", "value": [{"value": "a"}, {"value": "b"}, {"value": "a"}]},
        {"op": "Remove", "path": "members"},
        {"op": "replace", "value": {"members": [{"value": "c"}], "displayName": "N"}},
        {"op": "replace", "path": "members", "value": []}
    ])));
    assert_eq!(
        changes,
        vec![
            MembershipChange::Add(ids(&["a", "b"])),
            MembershipChange::RemoveAll,
            MembershipChange::Replace(ids(&["c"])),
            MembershipChange::Replace(vec![]),
        ]
    );
    assert_eq!(others.len(), 1);
    let patched = apply_to_group(&group(), &others).unwrap();
    assert_eq!(patched.display_name(), "N");
}

#[test]
fn group_patch_errors() {
    let err = split_group_ops(
        &PatchRequest::parse(&ops(json!([{"op": "remove", "path": "members[type eq \"User\"]"}])))
            .unwrap(),
    )
    .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidPath));
    let err = split_group_ops(
        &PatchRequest::parse(&ops(json!([{"op": "add", "path": "members", "value": [{"x": 1}]}])))
            .unwrap(),
    )
    .unwrap_err();
    assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    for (operations, scim_type) in [
        (json!([{"op": "remove", "path": "displayName"}]), ScimType::InvalidValue),
        (json!([{"op": "replace", "path": "displayName", "value": 3}]), ScimType::InvalidValue),
        (json!([{"op": "replace", "path": "id", "value": "x"}]), ScimType::Mutability),
        (json!([{"op": "add", "path": "manager", "value": "m"}]), ScimType::InvalidPath),
    ] {
        let err = PatchRequest::parse(&ops(operations.clone()))
            .and_then(|ops| apply_to_group(&group(), &ops))
            .unwrap_err();
        assert_eq!(err.scim_type, Some(scim_type), "{operations}");
    }
}

#[test]
fn limits_apply_to_groups_and_their_members() {
    let limits = crate::Limits::default();
    let reject = |body: Value, named: &str| {
        let error = Group::from_request_with(body.clone(), &limits).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidValue), "{body}");
        assert!(error.detail.contains(named), "{body}: {}", error.detail);
    };
    reject(json!({"displayName": "G\u{0}"}), "displayName contains the control character U+0000");
    reject(json!({"displayName": "x".repeat(1025)}), "displayName is 1025 bytes long");
    reject(json!({"displayName": "G", "externalId": "x".repeat(1025)}), "externalId is 1025");
    reject(json!({"displayName": "G", "members": [{"value": "a\u{1}"}]}), "members[0].value");
    let members =
        |n: usize| -> Vec<Value> { (0..n).map(|i| json!({"value": format!("m{i}")})).collect() };
    // Counted as sent: 10,001 values, duplicates included, are too many.
    let mut many = members(10_000);
    many.push(json!({"value": "m0"}));
    reject(json!({"displayName": "G", "members": many}), "names 10001 members");
    let (_, kept) =
        Group::from_request_with(json!({"displayName": "G", "members": members(10_000)}), &limits)
            .unwrap();
    assert_eq!(kept.len(), 10_000);
    assert_eq!(kept[9_999].value, "m9999");
}

#[test]
fn ten_thousand_members_are_deduplicated_in_linear_time_and_order() {
    let mut values: Vec<Value> = (0..10_000).map(|i| json!({"value": format!("m{i}")})).collect();
    values.extend((0..10_000).rev().map(|i| json!(format!("m{i}"))));
    let (_, members) =
        Group::from_request(json!({"displayName": "G", "members": values.clone()})).unwrap();
    let expected: Vec<String> = (0..10_000).map(|i| format!("m{i}")).collect();
    assert_eq!(members.iter().map(|m| m.value.clone()).collect::<Vec<_>>(), expected);
    let (_, changes) = split(ops(json!([
        {"op": "add", "path": "members", "value": values.clone()},
        {"op": "remove", "path": "members", "value": values[..5_000].to_vec()}
    ])));
    assert_eq!(changes[0], MembershipChange::Add(expected.clone()));
    let mut current = vec!["m9999".to_string(), "other".to_string()];
    for change in &changes {
        change.apply_to(&mut current);
    }
    let mut after: Vec<String> = vec!["m9999".to_string(), "other".to_string()];
    after.extend((0..9_999).filter(|i| *i >= 5_000).map(|i| format!("m{i}")));
    assert_eq!(current, after);
}

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::patch::tests::{json_value, operation};

    proptest! {
        #[test]
        fn group_parsing_and_patching_never_panic(
            body in json_value(),
            operations in prop::collection::vec(operation(), 1..5),
            members in prop::collection::vec(json_value(), 0..4),
        ) {
            let _ = Group::from_request(body);
            let _ = Group::from_request(json!({"displayName": "G", "members": members}));
            let body = json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations});
            if let Ok(ops) = PatchRequest::parse(&body)
                && let Ok((others, changes)) = split_group_ops(&ops)
            {
                let mut current = Vec::new();
                for change in &changes {
                    change.apply_to(&mut current);
                }
                if let Ok(patched) = apply_to_group(&group(), &others) {
                    prop_assert_eq!(Group::from_request(patched.as_json()).unwrap().0, patched);
                }
            }
        }
    }
}
