//! Every example in proto-schemas/ must decode, survive a protobuf round trip, and make sense.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::*;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto-schemas/roster/changes/v1/examples")
}

fn examples() -> Vec<(String, ChangeEvent)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let event: ChangeEvent = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} does not fit the schema: {e}", path.display()));
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            out.push((stem, event));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_example_round_trips_through_protobuf() {
    let examples = examples();
    assert!(!examples.is_empty());
    for (name, event) in examples {
        let decoded = decode(&encode(&event)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded.event, event, "{name}");
        assert_eq!(decoded.event_id.to_string(), event.event_id);
        let change = decoded.change().unwrap();
        assert_eq!(change_name(change), name, "example file name must be the change's name");
    }
}

#[test]
fn every_change_type_has_an_example() {
    let seen: BTreeSet<String> = examples().into_iter().map(|(n, _)| n).collect();
    let all = [
        "create_user",
        "replace_user",
        "patch_user",
        "delete_user",
        "create_group",
        "replace_group",
        "patch_group",
        "delete_group",
        "mapping_rules_changed",
        "directory_settings_changed",
        "directory_deleted",
    ];
    for name in all {
        assert!(seen.contains(name), "no example for {name}");
    }
}

#[test]
fn json_payloads_in_examples_are_json() {
    for (name, event) in examples() {
        let payloads: Vec<&str> = match event.change.as_ref().unwrap() {
            Change::CreateUser(c) => vec![&c.resource_json],
            Change::ReplaceUser(c) => vec![&c.resource_json],
            Change::CreateGroup(c) => vec![&c.resource_json],
            Change::ReplaceGroup(c) => vec![&c.resource_json],
            Change::PatchUser(p) => {
                p.operations.iter().filter_map(|o| o.value_json.as_deref()).collect()
            }
            Change::PatchGroup(p) => {
                p.operations.iter().filter_map(|o| o.value_json.as_deref()).collect()
            }
            Change::MappingRulesChanged(m) => vec![&m.rules_json],
            _ => vec![],
        };
        for p in payloads {
            serde_json::from_str::<serde_json::Value>(p).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn create_user_example_is_a_valid_scim_user() {
    let (_, event) = examples().into_iter().find(|(n, _)| n == "create_user").unwrap();
    let Some(Change::CreateUser(create)) = event.change else { panic!("not a create") };
    let body: serde_json::Value = serde_json::from_str(&create.resource_json).unwrap();
    let user = roster_scim::user::User::from_request(body).unwrap();
    assert_eq!(user.user_name(), "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee");
}

#[test]
fn garbage_is_rejected_not_panicked_on() {
    assert!(decode(b"\xff\xff\xff").is_err());
    assert!(matches!(decode(&[]), Err(DecodeError::BadUuid { .. })));
    let mut event = examples().remove(0).1;
    event.change = None;
    let error = decode(&encode(&event)).unwrap_err();
    assert!(matches!(error, DecodeError::NoChange { .. }));
    assert_eq!(error.event_id().map(|id| id.to_string()), Some(event.event_id.clone()));
}

#[test]
fn event_time_keeps_microseconds() {
    let t = micros_to_time(1_764_084_000_123_456);
    assert_eq!(time_to_micros(t), 1_764_084_000_123_456);
}
