//! Fuzzing by property: role-mapping rules of any shape (arbitrary JSON, and rule-shaped JSON
//! with names of any script, control characters and any length) never make parsing, validation
//! or matching panic; accepted rules round-trip through their JSON form and hold nothing
//! Postgres would refuse.
//!
//! `cargo test` runs 256 cases per property; a longer run:
//! `PROPTEST_CASES=100000 cargo test -p roster-events --test fuzz --release`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use roster_events::rules::MappingRules;
use serde_json::{Map, Value, json};

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => prop::sample::select(vec!["admin", "Admin", "sales", "member", "Sales", "日本語", "", " "])
            .prop_map(str::to_owned),
        2 => any::<String>(),
        1 => prop::sample::select(vec!["a\u{0}", "\u{7}", "tab\there", "\u{7f}"]).prop_map(str::to_owned),
        1 => (any::<char>(), 250..260usize).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        name().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((name(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Rule-shaped documents: the known fields, each with a plausible or an arbitrary value.
fn rules() -> impl Strategy<Value = Value> {
    let app_role = (name(), name()).prop_map(|(a, p)| json!({"appRole": a, "productRole": p}));
    let group = (
        prop::option::of(name()),
        prop::option::of(name()),
        prop::option::of(name()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(display_name, external_id, role, team)| {
            let mut rule = Map::new();
            for (key, value) in [
                ("displayName", display_name.map(Value::String)),
                ("externalId", external_id.map(Value::String)),
                ("productRole", role.map(Value::String)),
                ("team", team.map(Value::Bool)),
            ] {
                if let Some(value) = value {
                    rule.insert(key.into(), value);
                }
            }
            Value::Object(rule)
        });
    (
        prop::collection::vec(prop_oneof![6 => app_role, 1 => json_value()], 0..4),
        prop::collection::vec(prop_oneof![6 => group, 1 => json_value()], 0..4),
        prop::option::of(prop_oneof![6 => name().prop_map(Value::String), 1 => json_value()]),
        prop::option::of(prop::sample::select(vec!["all", "highest", "first"])),
        prop::collection::vec(
            prop_oneof![6 => name().prop_map(Value::String), 1 => json_value()],
            0..4,
        ),
    )
        .prop_map(|(app_roles, groups, default_role, policy, priority)| {
            let mut rules = json!({"appRoles": app_roles, "groups": groups, "priority": priority});
            if let Some(role) = default_role {
                rules["defaultRole"] = role;
            }
            if let Some(policy) = policy {
                rules["policy"] = json!(policy);
            }
            rules
        })
}

/// Whether a name holds a control character other than tab, LF and CR.
fn has_forbidden(rules: &MappingRules) -> bool {
    let text = rules.to_json().to_string();
    let document: Value = serde_json::from_str(&text).unwrap();
    fn any_string(value: &Value, check: &dyn Fn(&str) -> bool) -> bool {
        match value {
            Value::String(s) => check(s),
            Value::Array(items) => items.iter().any(|v| any_string(v, check)),
            Value::Object(map) => map.values().any(|v| any_string(v, check)),
            _ => false,
        }
    }
    any_string(&document, &|s| roster_scim::limits::forbidden_char(s).is_some())
}

proptest! {
    #[test]
    fn rules_never_panic(
        document in prop_oneof![3 => rules(), 1 => json_value()],
        role in name(),
        group in name(),
    ) {
        let Ok(parsed) = MappingRules::parse(&document) else { return Ok(()) };
        prop_assert!(parsed.validate().is_ok());
        prop_assert_eq!(MappingRules::parse(&parsed.to_json()).unwrap(), parsed.clone());
        prop_assert!(!has_forbidden(&parsed));
        let matched = parsed.app_role_targets(&role);
        let (from_group, _team) = parsed.group_rule(&group, Some(&group));
        let _ = parsed.resolve(matched.into_iter().chain(from_group));
    }
}
