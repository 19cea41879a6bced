//! The acceptance property of PATCH through the whole stack (gateway → change log → projector →
//! Postgres → gateway): **PATCH then GET equals the engine's in-memory result.**
//!
//! Generated: an Entra-shaped user (userName, active as a boolean or `"True"`/`"False"`,
//! displayName, name, typed emails, phoneNumbers, addresses, the enterprise extension with
//! department and manager, a custom extension, roles) and a few PATCH requests of 1–4
//! operations each, in the forms Entra sends and RFC 7644 allows: add/replace/remove on attribute
//! paths, sub-attribute paths, URN-qualified, legacy dotted and bare enterprise paths, value
//! paths (`emails[type eq "work"].value`, `addresses[type eq "work"].locality`), path-less
//! add/replace with nested, dotted and URN keys, a whole schema as the path, string booleans,
//! the manager and `roles` in every shape, whole multi-valued lists, and operations that must be
//! rejected (remove of `userName`, replace of `id`, a value path that matches nothing, …).
//!
//! For each request the expected outcome is computed in memory by the same code the services
//! run ([`PatchRequest::parse`] as the gateway does, [`apply_to_user`] on
//! [`User::from_stored`] as the projector does) from the resource as the previous GET returned
//! it, and compared with what the server answers and what a following GET returns.

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use roster_integration_tests::TestApp;
use roster_scim::ScimError;
use roster_scim::patch::{PATCH_OP_SCHEMA, PatchRequest, apply_to_user};
use roster_scim::user::{ENTERPRISE_USER_SCHEMA as ENT, Meta, USER_SCHEMA, User};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Replaced, in every generated string, by a token unique to the run of one case, so that every
/// case (and every re-run while shrinking) creates its own user and renames it to names no other
/// user of the shared directory holds: a `409 uniqueness` would depend on the other cases, which
/// the engine cannot know.
const TOKEN: &str = "{{token}}";
/// The same token in upper case: a rename that differs only in case from the user's own name.
const TOKEN_UPPER: &str = "{{TOKEN}}";

/// How the PATCH requests of a run ended.
#[derive(Default)]
struct Tally {
    cases: AtomicUsize,
    /// Accepted (200) requests.
    accepted: AtomicUsize,
    /// Accepted requests that changed the resource.
    changed: AtomicUsize,
    /// Rejected requests (the engine's error, answered by the server).
    rejected: AtomicUsize,
}

#[test]
fn patch_then_get_equals_the_engines_result() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let app = runtime.block_on(TestApp::spawn());
    let tally = Tally::default();
    let started = std::time::Instant::now();
    let config = ProptestConfig {
        cases: 48,
        // Every shrinking step is a few HTTP round trips through the log.
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    };
    let request_lists = || prop::collection::vec(request(), 1..=3);
    proptest!(config, |(user in start_user(), requests in request_lists())| {
        runtime.block_on(run_case(&app, &user, &requests, &tally))?;
    });
    let (cases, accepted, changed, rejected) = (
        tally.cases.load(Ordering::SeqCst),
        tally.accepted.load(Ordering::SeqCst),
        tally.changed.load(Ordering::SeqCst),
        tally.rejected.load(Ordering::SeqCst),
    );
    eprintln!(
        "patch_roundtrip: {cases} cases, {accepted} PATCHes accepted ({changed} changed the user), \
         {rejected} rejected, in {:.1?}",
        started.elapsed()
    );
    assert!(accepted > 0, "no generated PATCH was accepted: the property checked nothing");
    assert!(changed > 0, "no accepted PATCH changed anything: the property checked nothing");
    assert!(rejected > 0, "no generated PATCH was rejected: the error branch is untested");
    drop(app);
}

/// One case: create the user, then each request in turn against the state the last GET showed.
async fn run_case(
    app: &TestApp,
    start: &Value,
    requests: &[Vec<Value>],
    tally: &Tally,
) -> Result<(), TestCaseError> {
    tally.cases.fetch_add(1, Ordering::SeqCst);
    let token = Uuid::new_v4().simple().to_string()[..16].to_string();
    let response = app.post_user(&personalise(start.clone(), &token)).await;
    let status = response.status().as_u16();
    let created: Value = response.json().await.expect("POST answer is JSON");
    prop_assert_eq!(status, 201, "POST /Users: {}", created);
    let id = created["id"].as_str().expect("the created user has an id").to_string();
    let mut state = get_user(app, &id).await?;
    for operations in requests {
        let body = json!({
            "schemas": [PATCH_OP_SCHEMA],
            "Operations": personalise(Value::Array(operations.clone()), &token),
        });
        let expected = engine(&state, &body);
        let response =
            app.send(reqwest::Method::PATCH, &format!("/Users/{id}"), Some(body.clone())).await;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.expect("PATCH answer is JSON");
        let after = get_user(app, &id).await?;
        match expected {
            Err(error) => {
                prop_assert_eq!(
                    (status, answer.get("scimType").and_then(Value::as_str)),
                    (error.status, error.scim_type.map(|t| t.as_str())),
                    "PATCH {} on {}: the engine says {}, the server answered {}",
                    body,
                    state,
                    error,
                    answer
                );
                prop_assert_eq!(
                    &after,
                    &state,
                    "a rejected PATCH changed the user: {} answered {}",
                    body,
                    answer
                );
                tally.rejected.fetch_add(1, Ordering::SeqCst);
            }
            Ok(user) => {
                prop_assert_eq!(
                    status,
                    200,
                    "PATCH {} on {}: the server answered {}",
                    body,
                    state,
                    answer
                );
                prop_assert_eq!(after["id"].as_str(), Some(id.as_str()));
                let expected = render(&user, &id);
                prop_assert_eq!(
                    comparable(&after),
                    comparable(&expected),
                    "PATCH {} on {}: GET after it differs from the engine's result",
                    body,
                    state
                );
                prop_assert_eq!(
                    comparable(&answer),
                    comparable(&expected),
                    "PATCH {} on {}: its answer differs from the engine's result",
                    body,
                    state
                );
                tally.accepted.fetch_add(1, Ordering::SeqCst);
                if comparable(&after) != comparable(&state) {
                    tally.changed.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        state = after;
    }
    Ok(())
}

/// `GET /Users/{id}`, which must answer 200.
async fn get_user(app: &TestApp, id: &str) -> Result<Value, TestCaseError> {
    let response = app.get(&format!("/Users/{id}")).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("GET answer is JSON");
    prop_assert_eq!(status, 200, "GET /Users/{}: {}", id, body);
    Ok(body)
}

/// The engine's outcome of PATCH `body` on `resource` (as a GET returned it): the request parsed
/// as the gateway parses it (`routes/users.rs::patch`), applied as the projector applies it
/// (`apply.rs::patch_user`) to the stored form, which is the resource without `id` and `meta`.
///
/// The operations are applied as parsed, not through their change-log form
/// (`to_parts`/`from_parts`, which the services use): a lossy trip through the log shows up
/// here as a disagreement instead of being reproduced.
///
/// `id` and `meta` are removed with `shift_remove`, keeping the order of the other keys: the
/// engine lists extensions in `schemas` in the order their objects appear in the resource, and
/// the GET shows them in the order the projector read them from Postgres (jsonb's). `Map::remove`
/// would swap the last key into the hole and reorder them.
fn engine(resource: &Value, body: &Value) -> Result<User, ScimError> {
    let ops = PatchRequest::parse(body)?;
    let mut stored = resource.clone();
    if let Some(stored) = stored.as_object_mut() {
        stored.shift_remove("id");
        stored.shift_remove("meta");
    }
    apply_to_user(&User::from_stored(stored), &ops)
}

/// The engine's user as the gateway renders users (`routes/users.rs::render`:
/// [`User::to_resource`]). The `meta` given here is a placeholder: [`comparable`] drops it.
fn render(user: &User, id: &str) -> Value {
    let now = Utc::now();
    let meta = Meta { created: now, last_modified: now, location: String::new(), version: 0 };
    user.to_resource(id, &meta)
}

/// A rendered user without what only the server knows: `id` (assigned by the gateway, checked
/// separately) and `meta` (times, location and version of the row). Nothing else is
/// server-side: the stored resource is exactly the engine's canonical JSON, and a user's
/// `groups` are not rendered (memberships live in `group_members`). Object key order does not
/// matter to `Value`'s equality (Postgres' jsonb reorders keys); array order does.
fn comparable(resource: &Value) -> Value {
    let mut resource = resource.clone();
    if let Some(object) = resource.as_object_mut() {
        object.shift_remove("id");
        object.shift_remove("meta");
    }
    resource
}

/// `value` with the placeholders [`TOKEN`] and [`TOKEN_UPPER`] replaced in every string.
fn personalise(value: Value, token: &str) -> Value {
    match value {
        Value::String(s) => {
            Value::String(s.replace(TOKEN, token).replace(TOKEN_UPPER, &token.to_uppercase()))
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| personalise(v, token)).collect())
        }
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, personalise(v, token))).collect())
        }
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// generators: values

/// Display strings: plain words, and a few that need escaping or are not ASCII.
fn word() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[A-Z][a-z]{2,7}",
        1 => prop::sample::select(vec![
            "Zoë",
            "Müller-Lüdenscheidt",
            "O'Brien",
            "李雷",
            "say \"hi\"",
            "back\\slash",
            "🚀 Rocket",
            " padded ",
            "Tab\there",
        ])
        .prop_map(str::to_owned),
    ]
    .boxed()
}

/// A word, sometimes empty (an empty string unassigns the attribute).
fn word_or_empty() -> BoxedStrategy<Value> {
    prop_oneof![9 => word().prop_map(Value::from), 1 => Just(json!(""))].boxed()
}

fn email_address() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-z]{1,8}".prop_map(|local| format!("{local}@contoso.com")),
        1 => Just(format!("{TOKEN}@contoso.com")),
        1 => Just("Someone.Else@Contoso.com".to_string()),
    ]
    .boxed()
}

fn phone_number() -> BoxedStrategy<String> {
    "\\+1 [0-9]{3}-[0-9]{4}".boxed()
}

/// `active` and `primary` as Entra sends them: booleans or the strings "True"/"False".
fn boolean() -> BoxedStrategy<Value> {
    prop::sample::select(vec![json!(true), json!(false), json!("True"), json!("False")]).boxed()
}

fn email_type() -> BoxedStrategy<String> {
    prop::sample::select(vec!["work", "work", "home", "other", "Work"])
        .prop_map(str::to_owned)
        .boxed()
}

fn manager_id() -> BoxedStrategy<String> {
    prop::sample::select(vec!["00aa00aa-bb11-cc22-dd33-44ee44ee44ee", "m-1", "m-2"])
        .prop_map(str::to_owned)
        .boxed()
}

fn role_value() -> BoxedStrategy<String> {
    prop::sample::select(vec!["Admin", "User", "Reader", "admin"]).prop_map(str::to_owned).boxed()
}

/// A new userName: unique to the case, sometimes only a change of case of the current one.
fn renamed_user() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-z]{1,4}".prop_map(|s| format!("{TOKEN}.{s}@contoso.com")),
        1 => Just(format!("{TOKEN_UPPER}@CONTOSO.COM")),
        1 => Just(format!("{TOKEN}@contoso.com")),
    ]
    .boxed()
}

/// Optional fields of an object, in the given order.
fn object(fields: Vec<(&'static str, Option<Value>)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect::<Map<_, _>>(),
    )
}

fn email() -> BoxedStrategy<Value> {
    (email_type(), email_address(), prop::option::of(boolean()))
        .prop_map(|(kind, value, primary)| {
            object(vec![
                ("primary", primary),
                ("type", Some(json!(kind))),
                ("value", Some(json!(value))),
            ])
        })
        .boxed()
}

fn phone() -> BoxedStrategy<Value> {
    (
        prop::sample::select(vec!["work", "mobile", "fax"]),
        phone_number(),
        prop::option::of(boolean()),
    )
        .prop_map(|(kind, value, primary)| {
            object(vec![
                ("type", Some(json!(kind))),
                ("value", Some(json!(value))),
                ("primary", primary),
            ])
        })
        .boxed()
}

fn address() -> BoxedStrategy<Value> {
    (
        prop::sample::select(vec!["work", "home"]),
        prop::option::of(word()),
        prop::option::of(word()),
        prop::option::of(prop::sample::select(vec!["US", "PT", "DE"])),
        prop::option::of(boolean()),
    )
        .prop_map(|(kind, formatted, locality, country, primary)| {
            object(vec![
                ("type", Some(json!(kind))),
                ("formatted", formatted.map(Value::from)),
                ("locality", locality.map(Value::from)),
                ("country", country.map(Value::from)),
                ("primary", primary),
            ])
        })
        .boxed()
}

/// A role element in the shapes Entra sends (§7 of the Entra notes): a full object with
/// `primary` as a string, `displayName` for `display`, or the app role as JSON in a string.
fn role() -> BoxedStrategy<Value> {
    (role_value(), 0..3usize)
        .prop_map(|(value, shape)| match shape {
            0 => json!({
                "primary": "False",
                "type": "WindowsAzureActiveDirectoryRole",
                "display": value,
                "value": value
            }),
            1 => json!({"primary": false, "displayName": value, "value": value}),
            _ => json!({
                "value": json!({"id": "1", "value": value, "displayName": format!("{value} role")})
                    .to_string()
            }),
        })
        .boxed()
}

/// The enterprise manager in Entra's shapes (quirk Q8), including the empty ones that remove it.
fn manager_value() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => manager_id().prop_map(Value::from),
        3 => manager_id().prop_map(|id| json!({"value": id})),
        2 => manager_id().prop_map(|id| json!([{"$ref": format!("../Users/{id}"), "value": id}])),
        1 => Just(json!("")),
        1 => Just(json!({"value": ""})),
    ]
    .boxed()
}

/// The create request Entra sends (docs/entra/requests.md §2.1), with more attributes.
fn start_user() -> BoxedStrategy<Value> {
    let enterprise = (
        prop::option::of(word()),
        prop::option::of(prop_oneof![
            manager_id().prop_map(|id| json!({"value": id})),
            manager_id().prop_map(Value::from),
        ]),
        prop::option::of("[0-9]{4}".prop_map(Value::from)),
        prop::option::of(word()),
    )
        .prop_map(|(department, manager, employee_number, cost_center)| {
            object(vec![
                ("department", department.map(Value::from)),
                ("manager", manager),
                ("employeeNumber", employee_number),
                ("costCenter", cost_center.map(Value::from)),
            ])
        });
    let identity = (
        prop::option::of("[a-z0-9]{8}"),
        boolean(),
        prop::option::of(word()),
        prop::option::of((word(), word())),
    );
    let multi = (
        prop::collection::vec(email(), 0..3),
        prop::collection::vec(phone(), 0..3),
        prop::collection::vec(address(), 0..2),
        prop::collection::vec(role(), 0..3),
    );
    let custom = prop::option::of(custom_value().prop_map(|v| json!({"CustomAttribute": v})));
    (identity, multi, prop::option::of(enterprise), custom)
        .prop_map(|((external_id, active, display_name, name), multi, enterprise, custom)| {
            let (emails, phones, addresses, roles) = multi;
            let name = name.map(|(given, family)| {
                json!({
                    "formatted": format!("{given} {family}"),
                    "familyName": family,
                    "givenName": given
                })
            });
            let non_empty = |items: Vec<Value>| (!items.is_empty()).then_some(Value::Array(items));
            object(vec![
                ("schemas", Some(json!([USER_SCHEMA, ENT]))),
                ("externalId", external_id.map(Value::from)),
                ("userName", Some(json!(format!("{TOKEN}@contoso.com")))),
                ("active", Some(active)),
                ("displayName", display_name.map(Value::from)),
                ("meta", Some(json!({"resourceType": "User"}))),
                ("name", name),
                // Entra sends `emails` and `roles` even when empty.
                ("emails", Some(Value::Array(emails))),
                ("phoneNumbers", non_empty(phones)),
                ("addresses", non_empty(addresses)),
                (ENT, enterprise),
                (CUSTOM, custom),
                ("roles", Some(Value::Array(roles))),
            ])
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// generators: operations

fn add_or_replace() -> BoxedStrategy<&'static str> {
    prop::sample::select(vec!["add", "Add", "replace", "Replace"]).boxed()
}

fn remove() -> BoxedStrategy<&'static str> {
    prop::sample::select(vec!["remove", "Remove"]).boxed()
}

fn op(op: &str, path: Option<&str>, value: Option<Value>) -> Value {
    let mut o = Map::new();
    o.insert("op".into(), json!(op));
    if let Some(path) = path {
        o.insert("path".into(), json!(path));
    }
    if let Some(value) = value {
        o.insert("value".into(), value);
    }
    Value::Object(o)
}

/// Simple core attributes, with plain and core-URN paths.
fn simple_op() -> BoxedStrategy<Value> {
    let paths = vec![
        "displayName",
        "nickName",
        "title",
        "userType",
        "preferredLanguage",
        "externalId",
        "DisplayName",
        "urn:ietf:params:scim:schemas:core:2.0:User:title",
    ];
    prop_oneof![
        3 => (add_or_replace(), prop::sample::select(paths.clone()), word_or_empty())
            .prop_map(|(o, path, value)| op(o, Some(path), Some(value))),
        1 => (remove(), prop::sample::select(paths))
            .prop_map(|(o, path)| op(o, Some(path), None)),
        2 => (add_or_replace(), boolean())
            .prop_map(|(o, value)| op(o, Some("active"), Some(value))),
        1 => renamed_user()
            .prop_map(|name| op("Replace", Some("userName"), Some(json!(name)))),
    ]
    .boxed()
}

/// `name` and its sub-attributes.
fn name_op() -> BoxedStrategy<Value> {
    let subs = vec!["name.givenName", "name.familyName", "name.formatted", "name.GivenName"];
    prop_oneof![
        3 => (add_or_replace(), prop::sample::select(subs.clone()), word_or_empty())
            .prop_map(|(o, path, value)| op(o, Some(path), Some(value))),
        1 => (remove(), prop::sample::select(subs)).prop_map(|(o, path)| op(o, Some(path), None)),
        1 => (add_or_replace(), word(), prop::option::of(word()))
            .prop_map(|(o, given, family)| {
                op(o, Some("name"), Some(object(vec![
                    ("givenName", Some(json!(given))),
                    ("familyName", family.map(Value::from)),
                ])))
            }),
        1 => remove().prop_map(|o| op(o, Some("name"), None)),
    ]
    .boxed()
}

/// Enterprise attributes by URN-qualified, legacy dotted and bare paths; the manager in every
/// shape.
fn enterprise_op() -> BoxedStrategy<Value> {
    let paths = vec![
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department",
        "department",
        "employeeNumber",
    ];
    let managers =
        vec!["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "manager"];
    prop_oneof![
        3 => (add_or_replace(), prop::sample::select(paths.clone()), word_or_empty())
            .prop_map(|(o, path, value)| op(o, Some(path), Some(value))),
        1 => (remove(), prop::sample::select(paths)).prop_map(|(o, path)| op(o, Some(path), None)),
        3 => (add_or_replace(), prop::sample::select(managers.clone()), manager_value())
            .prop_map(|(o, path, value)| op(o, Some(path), Some(value))),
        1 => (remove(), prop::sample::select(managers))
            .prop_map(|(o, path)| op(o, Some(path), None)),
        1 => (
            add_or_replace(),
            prop::sample::select(vec!["manager.value", "manager.displayName"]),
            prop_oneof![manager_id(), Just(String::new())],
        )
            .prop_map(|(o, sub, value)| op(o, Some(&format!("{ENT}:{sub}")), Some(json!(value)))),
        1 => remove().prop_map(|o| op(o, Some(ENT), None)),
        1 => (add_or_replace(), word(), manager_value()).prop_map(|(o, department, manager)| {
            op(o, Some(ENT), Some(json!({"department": department, "manager": manager})))
        }),
    ]
    .boxed()
}

/// Value paths: add/replace of a sub-attribute of the matching elements (creating one from the
/// filter when none matches), and remove of the matching elements or of their sub-attribute
/// (`noTarget` when none matches).
fn value_path_op() -> BoxedStrategy<Value> {
    let set = prop_oneof![
        (email_type(), email_address())
            .prop_map(|(t, v)| (format!("emails[type eq \"{t}\"].value"), json!(v))),
        (email_type(), boolean())
            .prop_map(|(t, v)| (format!("emails[type eq \"{t}\"].primary"), v)),
        (prop::sample::select(vec!["work", "mobile", "fax"]), phone_number())
            .prop_map(|(t, v)| (format!("phoneNumbers[type eq \"{t}\"].value"), json!(v))),
        (
            prop::sample::select(vec!["work", "home"]),
            prop::sample::select(vec!["locality", "formatted", "country", "postalCode"]),
            word(),
        )
            .prop_map(|(t, sub, v)| (format!("addresses[type eq \"{t}\"].{sub}"), json!(v))),
        (email_type(), email_address()).prop_map(|(t, v)| {
            (format!("emails[type eq \"{t}\"]"), json!({"value": v, "display": "Mail"}))
        }),
        (prop::sample::select(vec!["work", "home"]), boolean())
            .prop_map(|(t, v)| (format!("addresses[type eq \"{t}\"].primary"), v)),
        (prop::sample::select(vec!["display", "type", "value"]), role_value())
            .prop_map(|(sub, v)| (format!("roles[primary eq \"True\"].{sub}"), json!(v))),
    ];
    let remove_path = prop::sample::select(vec![
        "emails[type eq \"home\"]",
        "emails[type eq \"work\"].primary",
        "emails[value ew \"@contoso.com\"]",
        "phoneNumbers[type eq \"fax\"]",
        "addresses[type eq \"home\"]",
        "addresses[type eq \"work\"].locality",
        "roles[value eq \"Admin\"]",
        "emails[primary eq true]",
        "emails[type eq \"work\" and primary eq true].value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq \"m-1\"]",
    ]);
    prop_oneof![
        3 => (add_or_replace(), set)
            .prop_map(|(o, (path, value))| op(o, Some(path.as_str()), Some(value))),
        2 => (remove(), remove_path).prop_map(|(o, path)| op(o, Some(path), None)),
    ]
    .boxed()
}

/// Path-less add/replace (quirk Q4): nested objects, dotted keys, URN-qualified keys, the
/// enterprise object, value-path keys, the core URN as a key.
fn pathless_op() -> BoxedStrategy<Value> {
    let entry = prop_oneof![
        word().prop_map(|w| ("displayName".to_string(), json!(w))),
        word().prop_map(|w| ("name.givenName".to_string(), json!(w))),
        (word(), word())
            .prop_map(|(g, f)| ("name".to_string(), json!({"givenName": g, "familyName": f}))),
        boolean().prop_map(|v| ("active".to_string(), v)),
        word().prop_map(|w| (format!("{ENT}:department"), json!(w))),
        (word(), manager_id())
            .prop_map(|(d, m)| (ENT.to_string(), json!({"department": d, "manager": m}))),
        email_address().prop_map(|e| ("emails[type eq \"work\"].value".to_string(), json!(e))),
        renamed_user().prop_map(|u| ("userName".to_string(), json!(u))),
        word().prop_map(|w| (USER_SCHEMA.to_string(), json!({"nickName": w}))),
        word().prop_map(|w| ("title".to_string(), json!(w))),
    ];
    (add_or_replace(), prop::collection::vec(entry, 1..=4))
        .prop_map(|(o, entries)| op(o, None, Some(Value::Object(entries.into_iter().collect()))))
        .boxed()
}

/// `roles` as Entra sends them (§7): added one by one or as a list, the whole list replaced,
/// listed values removed, all removed, the primary role by value path.
fn roles_op() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => prop::collection::vec(role(), 1..3)
            .prop_map(|roles| op("Add", Some("roles"), Some(json!(roles)))),
        1 => role().prop_map(|r| op("add", Some("roles"), Some(r))),
        2 => prop::collection::vec(role(), 0..3)
            .prop_map(|roles| op("Replace", Some("roles"), Some(json!(roles)))),
        2 => prop::collection::vec(role_value(), 1..3).prop_map(|values| {
            let listed: Vec<Value> = values.into_iter().map(|v| json!({"value": v})).collect();
            op("Remove", Some("roles"), Some(json!(listed)))
        }),
        1 => Just(op("Remove", Some("roles"), None)),
        1 => (add_or_replace(), role_value())
            .prop_map(|(o, v)| op(o, Some("roles[primary eq \"True\"].value"), Some(json!(v)))),
    ]
    .boxed()
}

/// Whole multi-valued attributes: a list, or a single element.
fn multi_op() -> BoxedStrategy<Value> {
    prop_oneof![
        (add_or_replace(), prop::collection::vec(email(), 0..3)).prop_map(|(o, emails)| op(
            o,
            Some("emails"),
            Some(json!(emails))
        )),
        (add_or_replace(), email()).prop_map(|(o, email)| op(o, Some("emails"), Some(email))),
        (add_or_replace(), prop::collection::vec(phone(), 1..3)).prop_map(|(o, phones)| op(
            o,
            Some("phoneNumbers"),
            Some(json!(phones))
        )),
        (add_or_replace(), prop::collection::vec(address(), 1..2)).prop_map(|(o, addresses)| op(
            o,
            Some("addresses"),
            Some(json!(addresses))
        )),
        remove().prop_map(|o| op(o, Some("phoneNumbers"), None)),
        (remove(), email_address()).prop_map(|(o, e)| op(
            o,
            Some("emails"),
            Some(json!([{"value": e}]))
        )),
    ]
    .boxed()
}

/// Operations the engine refuses, whatever the state (or, for some value paths, depending on
/// it).
fn rejected_op() -> BoxedStrategy<Value> {
    prop::sample::select(vec![
        op("remove", Some("userName"), None),
        op("Replace", Some("userName"), Some(json!(""))),
        op("replace", Some("id"), Some(json!("8d2c3c62-0000-4000-8000-000000000000"))),
        op("replace", Some("meta.lastModified"), Some(json!("2026-01-01T00:00:00Z"))),
        op("replace", None, Some(json!({"id": "x"}))),
        op("add", Some("groups"), Some(json!([{"value": "g"}]))),
        op("remove", None, None),
        op("Remove", None, Some(json!({"nickName": "x"}))),
        op("replace", Some("urn:foo:bar"), Some(json!("x"))),
        op("Replace", Some("active"), Some(json!("yes"))),
        op("replace", Some("name"), Some(json!("x"))),
        op("remove", Some("emails[type eq \"pager\"]"), None),
        op("remove", Some("roles[value eq \"Nobody\"]"), None),
        op("replace", Some("emails[type ne \"work\"].value"), Some(json!("x@contoso.com"))),
        op("replace", Some("userName.first"), Some(json!("x"))),
        op("remove", Some(USER_SCHEMA), None),
        op("copy", Some("title"), Some(json!("x"))),
    ])
    .boxed()
}

/// A custom extension (Entra's directory extension attributes): attributes of any JSON type
/// under a schema URN that no table describes.
const CUSTOM: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";

fn custom_value() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => word().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => (-1000i64..1000).prop_map(Value::from),
        1 => Just(json!(["a", "b"])),
        1 => Just(json!({"code": "X1", "level": 2})),
    ]
    .boxed()
}

fn custom_extension_op() -> BoxedStrategy<Value> {
    let attrs = vec!["CustomAttribute", "costCode", "Badge"];
    prop_oneof![
        3 => (add_or_replace(), prop::sample::select(attrs.clone()), custom_value())
            .prop_map(|(o, attr, value)| op(o, Some(&format!("{CUSTOM}:{attr}")), Some(value))),
        1 => (remove(), prop::sample::select(attrs.clone()))
            .prop_map(|(o, attr)| op(o, Some(&format!("{CUSTOM}:{attr}")), None)),
        1 => (add_or_replace(), prop::sample::select(attrs), custom_value()).prop_map(
            |(o, attr, value)| op(o, None, Some(json!({format!("{CUSTOM}:{attr}"): value})))
        ),
        1 => (add_or_replace(), custom_value())
            .prop_map(|(o, value)| op(o, Some(CUSTOM), Some(json!({"CustomAttribute": value})))),
        1 => remove().prop_map(|o| op(o, Some(CUSTOM), None)),
    ]
    .boxed()
}

fn operation() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => custom_extension_op(),
        3 => simple_op(),
        2 => name_op(),
        3 => enterprise_op(),
        3 => value_path_op(),
        2 => pathless_op(),
        2 => roles_op(),
        1 => multi_op(),
        1 => rejected_op(),
    ]
    .boxed()
}

/// The operations of one PATCH request.
fn request() -> BoxedStrategy<Vec<Value>> {
    prop::collection::vec(operation(), 1..=4).boxed()
}
