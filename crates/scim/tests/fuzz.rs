//! Fuzzing by property: whatever a client sends, parsing and applying it never panics, and every
//! refusal is a SCIM error with a 4xx status (issue 9 §5). Inputs are arbitrary JSON (any
//! nesting, keys of any script and case, control characters, huge and tiny numbers) and
//! arbitrary strings, biased towards what the parsers look for (attribute names, URNs, PATCH
//! paths with filters, filter keywords) so that the deep paths are reached too.
//!
//! `cargo test` (`make test-unit`) runs 256 cases per property, a few seconds in all. A longer
//! run: `PROPTEST_CASES=100000 cargo test -p roster-scim --test fuzz --release`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use roster_scim::filter::{DefaultAttributeInfo, Filter, ParseLimits};
use roster_scim::group::{Group, apply_to_group, split_group_ops};
use roster_scim::patch::{PatchOp, PatchRequest, apply_to_user};
use roster_scim::select::AttributeSelection;
use roster_scim::user::User;
use roster_scim::{Limits, ScimError};
use serde_json::{Map, Number, Value, json};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Names the parsers give meaning to, in any case.
fn known_name() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "userName",
        "externalId",
        "displayName",
        "name",
        "givenName",
        "familyName",
        "emails",
        "value",
        "type",
        "primary",
        "display",
        "roles",
        "active",
        "members",
        "groups",
        "meta",
        "id",
        "schemas",
        "password",
        "manager",
        "department",
        "$ref",
        "addresses",
        "title",
        "Operations",
        "op",
        "path",
        "name.givenName",
        ENTERPRISE,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User",
        "urn:x:2.0:Group",
        "urn:",
        "urn",
        "日本語",
        "ürn:x",
        "urn:日本:2.0:User",
    ]);
    (names, any::<u8>()).prop_map(|(name, case)| match case % 3 {
        0 => name.to_string(),
        1 => name.to_uppercase(),
        _ => name.to_lowercase(),
    })
}

/// Any string, with a bias to the interesting ones.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        3 => known_name(),
        1 => prop::sample::select(vec![
            "", " ", "True", "false", "\u{0}", "a\u{0}b", "\u{7}", "\t\r\n", "\u{7f}", "{\"value\":\"r\"}",
            "{\"value\":\"\\u0000\"}", "{", "9e15", "😀", "İ", "ß", "\u{fffd}",
        ])
        .prop_map(str::to_owned),
        1 => (any::<char>(), 0..3000usize).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        prop::sample::select(vec![9e15, 1e308, -1e-308, 0.0, -0.0, 5e-324])
            .prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
    ]
}

/// Arbitrary JSON, up to six levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => number(),
        4 => text().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A JSON object, keys biased to the resource's own attributes.
fn resource() -> impl Strategy<Value = Value> {
    prop::collection::vec((text(), json_value()), 0..10)
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>()))
}

/// PATCH paths: known attributes, value paths with filters, and anything.
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => known_name(),
        2 => prop::sample::select(vec![
            "emails[type eq \"work\"].value",
            "emails[value eq \"a\\u0000\"]",
            "roles[primary eq \"True\"].value",
            "members[value eq \"a\" or value eq \"b\"]",
            "members[value eq \"a\"].display",
            "addresses[type eq \"work\"].streetAddress",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "manager[value eq \"x\"]",
            "emails[not (type pr)]",
            "emails[type eq \"work\"",
            "a[b[c eq 1]]",
            "x.y.z",
            "日本語",
        ])
        .prop_map(str::to_owned),
        2 => (known_name(), text()).prop_map(|(a, f)| format!("{a}[{f}]")),
        1 => text(),
    ]
}

fn operation() -> impl Strategy<Value = Value> {
    let op =
        prop::sample::select(vec!["add", "Add", "REPLACE", "replace", "remove", "Remove", "x"]);
    (op, prop::option::of(path()), prop::option::of(json_value())).prop_map(|(op, path, value)| {
        let mut operation = Map::new();
        operation.insert("op".into(), json!(op));
        if let Some(path) = path {
            operation.insert("path".into(), json!(path));
        }
        if let Some(value) = value {
            operation.insert("value".into(), value);
        }
        Value::Object(operation)
    })
}

/// Filter text: filter-shaped token soups and arbitrary strings.
fn filter_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        3 => known_name(),
        2 => prop::sample::select(vec![
            "eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le", "pr", "and", "or", "not", "(",
            ")", "[", "]", ".", "\"x\"", "\"\\u0000\"", "\"\\ud800\"", "true", "null", "1e400",
            "-0", "\"日本\"", "\u{0}", "\"",
        ])
        .prop_map(str::to_owned),
        1 => text(),
    ];
    prop_oneof![
        3 => prop::collection::vec(token, 1..16).prop_map(|t| t.join(" ")),
        1 => any::<String>(),
    ]
}

/// Small limits, so that every limit is reached.
fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (1..40usize, 1..8usize, 1..5usize, 1..6usize).prop_map(|(bytes, values, members, ops)| {
            Limits {
                max_indexed_bytes: bytes,
                max_string_bytes: bytes * 2,
                max_key_bytes: bytes,
                max_values: values,
                max_members: members,
                max_operations: ops,
            }
        }),
    ]
}

fn is_client_error(error: &ScimError) -> bool {
    (400..500).contains(&error.status)
}

fn user() -> User {
    User::from_request(json!({
        "userName": "ada@contoso.com",
        "emails": [{"value": "ada@contoso.com", "type": "work", "primary": true}],
        "roles": [{"value": "admin"}],
        ENTERPRISE: {"department": "R&D", "manager": {"value": "m"}},
    }))
    .unwrap()
}

fn group() -> Group {
    Group::from_request(json!({"displayName": "Sales", "externalId": "g"})).unwrap().0
}

proptest! {
    #[test]
    fn users_never_panic(body in prop_oneof![json_value(), resource()], limits in limits()) {
        match User::from_request(body.clone()) {
            Ok(user) => {
                // The canonical form is accepted again, unchanged: the projector stores what
                // the gateway sent, so a write can be answered from the gateway's own copy.
                let again = User::from_request(user.as_json());
                prop_assert!(again.is_ok());
                prop_assert_eq!(again.unwrap().as_json(), user.as_json());
            }
            Err(error) => prop_assert!(is_client_error(&error), "{error}"),
        }
        if let Err(error) = User::from_request_with(body, &limits) {
            prop_assert!(is_client_error(&error), "{error}");
        }
    }

    #[test]
    fn groups_never_panic(
        body in prop_oneof![json_value(), resource()],
        members in prop::collection::vec(json_value(), 0..6),
        limits in limits(),
    ) {
        for body in [body, json!({"displayName": "G", "members": members})] {
            if let Err(error) = Group::from_request(body.clone()) {
                prop_assert!(is_client_error(&error), "{error}");
            }
            if let Err(error) = Group::from_request_with(body, &limits) {
                prop_assert!(is_client_error(&error), "{error}");
            }
        }
    }

    #[test]
    fn patches_never_panic_parsed_or_applied(
        operations in prop::collection::vec(operation(), 0..6),
        raw in json_value(),
        limits in limits(),
    ) {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": operations,
        });
        if let Err(error) = PatchRequest::parse(&raw) {
            prop_assert!(is_client_error(&error), "{error}");
        }
        if let Err(error) = PatchRequest::parse_with(&body, &limits) {
            prop_assert!(is_client_error(&error), "{error}");
        }
        let ops = match PatchRequest::parse(&body) {
            Ok(ops) => ops,
            Err(error) => {
                prop_assert!(is_client_error(&error), "{error}");
                return Ok(());
            }
        };
        // Through the change log and back, as the projector receives them.
        let ops: Vec<PatchOp> = ops
            .iter()
            .map(|op| {
                let (kind, path, value) = op.to_parts();
                PatchOp::from_parts(kind, path.as_deref(), value.as_deref()).unwrap()
            })
            .collect();
        if let Err(error) = apply_to_user(&user(), &ops) {
            prop_assert!(is_client_error(&error), "{error}");
        }
        if let Err(error) = apply_to_group(&group(), &ops) {
            prop_assert!(is_client_error(&error), "{error}");
        }
        match split_group_ops(&ops) {
            Ok((_, changes)) => {
                let mut members = vec!["a".to_string()];
                for change in &changes {
                    change.apply_to(&mut members);
                }
            }
            Err(error) => prop_assert!(is_client_error(&error), "{error}"),
        }
    }

    #[test]
    fn filters_never_panic_parsed_or_evaluated(
        text in filter_text(),
        resource in prop_oneof![json_value(), resource()],
        terms in 1..200usize,
    ) {
        let limits = ParseLimits { max_terms: terms, ..ParseLimits::default() };
        match Filter::parse_with(&text, &limits) {
            Ok(filter) => {
                let _ = filter.matches(&resource, &DefaultAttributeInfo);
                let _ = Filter::parse(&filter.to_string());
            }
            Err(error) => {
                prop_assert_eq!(error.status, 400);
                prop_assert_eq!(error.scim_type, Some(roster_scim::ScimType::InvalidFilter));
            }
        }
    }

    #[test]
    fn attribute_selections_never_panic(
        attributes in prop::option::of(filter_text()),
        excluded in prop::option::of(filter_text()),
        resource in prop_oneof![json_value(), resource()],
    ) {
        match AttributeSelection::parse(attributes.as_deref(), excluded.as_deref()) {
            Ok(selection) => {
                let _ = selection.apply(&resource);
                let _ = selection.wants_members();
            }
            Err(error) => prop_assert!(is_client_error(&error), "{error}"),
        }
    }
}
