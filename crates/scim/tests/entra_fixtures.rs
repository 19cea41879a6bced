//! Replays every request body of `tests/fixtures/entra-requests.fixtures.json` (the extract of
//! docs/entra/requests.md §1–§4, §6 and §7) through the public API, as the gateway and
//! the projector use it: POST bodies through `from_request`, PATCH bodies through
//! `PatchRequest::parse`, the change-log form, and `apply_to_user` / `split_group_ops` +
//! `apply_to_group`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use roster_scim::group::{Group, MembershipChange, apply_to_group, split_group_ops};
use roster_scim::patch::{PatchOp, PatchRequest, apply_to_user};
use roster_scim::user::User;
use serde_json::{Value, json};

fn fixtures() -> Vec<Value> {
    let all: Value =
        serde_json::from_str(include_str!("fixtures/entra-requests.fixtures.json")).unwrap();
    all["fixtures"].as_array().unwrap().clone()
}

/// The operations as the projector receives them from the change log.
fn through_the_log(body: &Value) -> Vec<PatchOp> {
    PatchRequest::parse(body)
        .unwrap()
        .iter()
        .map(|op| {
            let (kind, path, value) = op.to_parts();
            PatchOp::from_parts(kind, path.as_deref(), value.as_deref()).unwrap()
        })
        .collect()
}

#[test]
fn every_fixture_body_is_accepted() {
    let user = User::from_request(json!({
        "userName": "u@contoso.com",
        "emails": [{"type": "work", "value": "u@contoso.com", "primary": true}]
    }))
    .unwrap();
    let (group, _) = Group::from_request(json!({"displayName": "G"})).unwrap();
    let mut seen = 0;
    for fixture in fixtures() {
        let (Some(method), Some(path)) = (fixture["method"].as_str(), fixture["path"].as_str())
        else {
            continue;
        };
        let body = &fixture["body"];
        let id = &fixture["id"];
        match (method, path.starts_with("/Users"), path.starts_with("/Groups")) {
            ("POST", true, _) => {
                User::from_request(body.clone()).unwrap_or_else(|e| panic!("{id}: {e}"));
            }
            ("POST", _, true) => {
                Group::from_request(body.clone()).unwrap_or_else(|e| panic!("{id}: {e}"));
            }
            ("PATCH", true, _) => {
                let ops = through_the_log(body);
                apply_to_user(&user, &ops).unwrap_or_else(|e| panic!("{id}: {e}"));
            }
            ("PATCH", _, true) => {
                let ops = through_the_log(body);
                let (others, changes) = split_group_ops(&ops).unwrap();
                apply_to_group(&group, &others).unwrap_or_else(|e| panic!("{id}: {e}"));
                let mut members = vec!["u1091".to_string(), "f648f8d5ea4e4cd38e9c".to_string()];
                for change in &changes {
                    change.apply_to(&mut members);
                }
                if changes.iter().any(|c| matches!(c, MembershipChange::Remove(_))) {
                    assert!(!members.is_empty(), "{id}: only the listed members are removed");
                }
            }
            _ => continue,
        }
        seen += 1;
    }
    // 4 user POSTs, 1 group POST, 12 user PATCHes, 5 group PATCHes.
    assert_eq!(seen, 22);
}
