//! PATCH tests: one per User PATCH request of `docs/entra/requests.md`, error cases, and
//! property tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::limits::Limits;
use crate::user::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

const ENT: &str = ENTERPRISE_USER_SCHEMA;

/// The Entra fixtures (the extract of `docs/entra/requests.md` §1–§4, §6 and §7).
fn fixture(id: &str) -> Value {
    let all: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/entra-requests.fixtures.json"))
            .unwrap();
    all["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no fixture {id}"))["body"]
        .clone()
}

/// The create request of §2.1.
fn created() -> Value {
    json!({
        "schemas": [USER_SCHEMA, ENT],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "active": true,
        "emails": [{
            "primary": true,
            "type": "work",
            "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
        }],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []
    })
}

/// Parses `body`, sends every operation through the change-log form and back, applies them to
/// `user` and returns the resulting stored JSON.
fn patch(user: Value, body: Value) -> Value {
    try_patch(user, body).unwrap_or_else(|e| panic!("patch failed: {e}"))
}

fn try_patch(user: Value, body: Value) -> Result<Value, ScimError> {
    let user = User::from_request(user).unwrap();
    let ops = PatchRequest::parse(&body)?;
    let ops: Vec<PatchOp> = ops
        .iter()
        .map(|op| {
            let (kind, path, value) = op.to_parts();
            let back = PatchOp::from_parts(kind, path.as_deref(), value.as_deref()).unwrap();
            assert_eq!(&back, op, "change-log round trip");
            back
        })
        .collect();
    Ok(apply_to_user(&user, &ops)?.into_json())
}

fn patch_err(user: Value, body: Value) -> ScimError {
    match try_patch(user, body) {
        Ok(user) => panic!("patch should fail, got {user}"),
        Err(e) => e,
    }
}

fn ops(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations})
}

fn assert_scim_type(err: &ScimError, scim_type: ScimType) {
    assert_eq!(err.status, 400, "{err}");
    assert_eq!(err.scim_type, Some(scim_type), "{err}");
}

// ---------------------------------------------------------------------------------------------
// §2 TUT user updates

#[test]
fn s2_5_replace_filtered_email_and_family_name() {
    let user = patch(created(), fixture("patch-user-multivalued"));
    assert_eq!(
        user["emails"],
        json!([{"primary": true, "type": "work", "value": "updatedEmail@microsoft.com"}])
    );
    assert_eq!(
        user["name"],
        json!({"formatted": "givenName familyName", "familyName": "updatedFamilyName", "givenName": "givenName"})
    );
    assert_eq!(user["userName"], "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee");
}

#[test]
fn s2_6_rename_user_name() {
    let user = patch(created(), fixture("patch-user-userName"));
    assert_eq!(user["userName"], "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com");
    assert_eq!(user["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
}

#[test]
fn s2_7_disable_with_boolean_and_schemas_last() {
    let user = patch(created(), fixture("disable-user"));
    assert_eq!(user["active"], false);
}

// ---------------------------------------------------------------------------------------------
// §6 aadOptscim062020: both shapes

#[test]
fn s6_1_disable_with_string_false_and_boolean() {
    for id in ["flag-disable-without", "flag-disable-with"] {
        let user = patch(created(), fixture(id));
        assert_eq!(user["active"], json!(false), "{id}");
    }
    let user = patch(
        json!({"userName": "u", "active": false}),
        ops(json!([{"op": "Replace", "path": "active", "value": "True"}])),
    );
    assert_eq!(user["active"], true);
}

#[test]
fn s6_1_string_boolean_is_canonical_in_the_change_log() {
    let ops = PatchRequest::parse(&fixture("flag-disable-without")).unwrap();
    assert_eq!(
        ops[0].to_parts(),
        (PatchOpKind::Replace, Some("active".to_string()), Some("false".to_string()))
    );
}

#[test]
fn s6_2_add_single_value_string() {
    for id in ["flag-add-single-without", "flag-add-single-with"] {
        let user = patch(created(), fixture(id));
        assert_eq!(user["nickName"], "Babs", "{id}");
    }
}

#[test]
fn s6_3_replace_multiple_attributes_without_flag() {
    let user = patch(created(), fixture("flag-replace-multi-without"));
    assert_eq!(user["displayName"], "Pvlo");
    assert_eq!(user["emails"][0]["value"], "TestBcwqnm@test.microsoft.com");
    assert_eq!(user["emails"][0]["primary"], true);
    assert_eq!(user["name"]["givenName"], "Gtfd");
    assert_eq!(user["name"]["familyName"], "Pkqf");
    assert_eq!(user["externalId"], "Eqpj");
    assert_eq!(user[ENT]["employeeNumber"], "Eqpj");
    assert_eq!(user["schemas"], json!([USER_SCHEMA, ENT]));
}

#[test]
fn s6_3_replace_multiple_attributes_with_flag_pathless_dotted_and_urn_keys() {
    let user = patch(created(), fixture("flag-replace-multi-with"));
    assert_eq!(user["emails"][0]["value"], "TestMhvaes@test.microsoft.com");
    assert_eq!(user["displayName"], "Bjfe");
    assert_eq!(user["name"]["givenName"], "Kkom");
    assert_eq!(user["name"]["familyName"], "Unua");
    assert_eq!(user["name"]["formatted"], "givenName familyName", "siblings are kept");
    assert_eq!(user[ENT]["employeeNumber"], "Aklq");
}

#[test]
fn s6_3_pathless_replace_is_split_into_canonical_paths() {
    let ops = PatchRequest::parse(&fixture("flag-replace-multi-with")).unwrap();
    let paths: Vec<String> = ops.iter().map(|op| op.to_parts().1.unwrap()).collect();
    assert_eq!(
        paths,
        [
            "emails[type eq \"work\"].value",
            "displayName",
            "name.givenName",
            "name.familyName",
            &format!("{ENT}:employeeNumber"),
        ]
    );
}

#[test]
fn s6_5_add_department_with_urn_path() {
    let user = patch(
        created(),
        ops(json!([{
            "op": "add",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "value": "Tech Infrastructure"
        }])),
    );
    assert_eq!(user[ENT], json!({"department": "Tech Infrastructure"}));
    assert_eq!(user["schemas"], json!([USER_SCHEMA, ENT]));
}

#[test]
fn s6_5_email_primary_and_pathless_active_and_user_name() {
    let user = patch(
        json!({"userName": "old", "emails": [{"type": "home", "value": "h@x", "primary": true}]}),
        ops(json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "someone@contoso.com"},
            {"op": "replace", "path": "emails[type eq \"work\"].primary", "value": true},
            {"op": "replace", "value": {"active": false, "userName": "someone"}}
        ])),
    );
    assert_eq!(
        user["emails"],
        json!([
            {"type": "home", "value": "h@x", "primary": false},
            {"type": "work", "value": "someone@contoso.com", "primary": true}
        ])
    );
    assert_eq!(user["active"], false);
    assert_eq!(user["userName"], "someone");
}

// ---------------------------------------------------------------------------------------------
// §5.5 and §8.1, §8.2, §8.8: manager

#[test]
fn s5_5_add_manager_bare_path_array_value() {
    let user = patch(
        created(),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{
                "op": "Add",
                "path": "manager",
                "value": [{
                    "$ref": "http://.../scim/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
                    "value": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
                }]
            }]
        }),
    );
    assert_eq!(
        user[ENT]["manager"],
        json!({
            "$ref": "http://.../scim/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
            "value": "00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
        })
    );
}

#[test]
fn s8_1_add_manager_urn_path_string_value() {
    let user = patch(
        created(),
        json!({
            "Operations": [{
                "op": "Add",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "value": "271"
            }],
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]
        }),
    );
    assert_eq!(user[ENT]["manager"], json!({"value": "271"}));
}

#[test]
fn s8_2_remove_manager_with_filter() {
    let with_manager =
        json!({"userName": "u", ENT: {"manager": {"value": "manager-id"}, "department": "D"}});
    let user = patch(
        with_manager.clone(),
        ops(json!([{"op": "remove", "path": "manager[value eq \"manager-id\"]"}])),
    );
    assert_eq!(user[ENT], json!({"department": "D"}));
    let err = patch_err(
        with_manager,
        ops(json!([{"op": "remove", "path": "manager[value eq \"someone-else\"]"}])),
    );
    assert_scim_type(&err, ScimType::NoTarget);
}

#[test]
fn s8_8_add_replace_and_remove_manager_like_the_validator() {
    let add = |id: &str| {
        ops(json!([{
            "op": "add",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "value": id
        }]))
    };
    let user = patch(created(), add("a2c1f66c-8611-4bcd-852f-54dc340e3d97"));
    assert_eq!(user[ENT]["manager"]["value"], "a2c1f66c-8611-4bcd-852f-54dc340e3d97");
    let user = patch(user, add("b3c1f66c-8611-4bcd-852f-54dc340e3d97"));
    assert_eq!(user[ENT]["manager"], json!({"value": "b3c1f66c-8611-4bcd-852f-54dc340e3d97"}));
    let user = patch(
        user,
        ops(json!([{
            "op": "replace",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "value": {"value": ""}
        }])),
    );
    assert!(user.get(ENT).is_none(), "manager removed: {user}");
    assert_eq!(user["schemas"], json!([USER_SCHEMA]));
}

#[test]
fn replacing_the_manager_replaces_the_reference_whole() {
    let start = json!({"userName": "u", ENT: {"manager": {"value": "m1", "$ref": "../Users/m1", "displayName": "M1"}}});
    let user = patch(
        start.clone(),
        ops(json!([{"op": "replace", "path": "manager", "value": {"value": "m2"}}])),
    );
    assert_eq!(user[ENT]["manager"], json!({"value": "m2"}));
    let user = patch(
        start,
        ops(json!([{"op": "replace", "path": "manager", "value": {"displayName": "Boss"}}])),
    );
    assert_eq!(
        user[ENT]["manager"],
        json!({"value": "m1", "$ref": "../Users/m1", "displayName": "Boss"})
    );
}

#[test]
fn empty_manager_in_every_shape_removes_it() {
    let with_manager = json!({"userName": "u", ENT: {"manager": {"value": "m"}}});
    for (path, value) in [
        ("manager", json!("")),
        ("manager", json!([])),
        ("manager", json!({"value": ""})),
        ("manager.value", json!("")),
        (&format!("{ENT}:manager.value") as &str, json!("")),
        ("manager", Value::Null),
    ] {
        let user = patch(
            with_manager.clone(),
            ops(json!([{"op": "Replace", "path": path, "value": value}])),
        );
        assert!(user.get(ENT).is_none(), "{path} {value}: {user}");
    }
}

// ---------------------------------------------------------------------------------------------
// §7 roles

#[test]
fn s7_1_single_app_role_json_in_string() {
    let user = patch(created(), fixture("role-single-patch"));
    assert_eq!(user["roles"], json!([{"value": "25", "display": "Role1234"}]));
}

#[test]
fn s7_2_app_role_assignments_complex_adds_and_is_idempotent() {
    let start = json!({"userName": "u", "roles": [
        {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "displayName": "Admin", "value": "Admin"}
    ]});
    let user = patch(start, fixture("role-complex-patch"));
    assert_eq!(
        user["roles"],
        json!([
            {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "Admin", "value": "Admin"},
            {"value": "User", "display": "User"}
        ])
    );
    let again = patch(user.clone(), fixture("role-complex-patch"));
    assert_eq!(again, user, "adding the same roles again changes nothing");
}

#[test]
fn s7_3_assertive_replace_sets_the_whole_list() {
    let start = json!({"userName": "u", "roles": [
        {"value": "Admin", "display": "Admin"}, {"value": "User", "display": "User"}
    ]});
    let user = patch(start, fixture("role-assertive-patch"));
    assert_eq!(
        user["roles"],
        json!([
            {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "User", "value": "User"},
            {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "Test", "value": "Test"}
        ])
    );
}

#[test]
fn s8_8_add_attributes_verbose_creates_the_primary_role() {
    let user = patch(
        json!({"userName": "eleanore@boyercorwin.biz", "schemas": [USER_SCHEMA]}),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "add", "path": "active", "value": true},
                {"op": "add", "path": "displayName", "value": "RJEXKNFYZKXS"},
                {"op": "add", "path": "roles[primary eq \"True\"].display", "value": "TQBJFQYVJCAG"},
                {"op": "add", "path": "roles[primary eq \"True\"].value", "value": "UOYTUVLKIPND"},
                {"op": "add", "path": "roles[primary eq \"True\"].type", "value": "VGNBBCPQEMYC"},
                {"op": "add", "path": "emails[type eq \"work\"].value", "value": "w@x.org"},
                {"op": "add", "path": "emails[type eq \"work\"].primary", "value": true},
                {"op": "add", "path": "phoneNumbers[type eq \"work\"].value", "value": "1"},
                {"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "2"},
                {"op": "add", "path": "name.givenName", "value": "G"},
                {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", "value": "C"}
            ]
        }),
    );
    assert_eq!(user["active"], true);
    assert_eq!(user["displayName"], "RJEXKNFYZKXS");
    assert_eq!(
        user["roles"],
        json!([{"primary": true, "display": "TQBJFQYVJCAG", "value": "UOYTUVLKIPND", "type": "VGNBBCPQEMYC"}])
    );
    assert_eq!(user["emails"], json!([{"type": "work", "value": "w@x.org", "primary": true}]));
    assert_eq!(
        user["phoneNumbers"],
        json!([{"type": "work", "value": "1"}, {"type": "mobile", "value": "2"}])
    );
    assert_eq!(user["name"], json!({"givenName": "G"}));
    assert_eq!(user[ENT], json!({"costCenter": "C"}));
}

#[test]
fn s8_8_replace_attributes_verbose_updates_in_place() {
    let start = json!({
        "userName": "julien.vonrueden@ondricka.us",
        "active": true,
        "emails": [{"type": "work", "value": "thaddeus@hammes.info", "primary": true}],
        "addresses": [{"type": "work", "formatted": "F", "primary": true, "country": "Sierra Leone"}],
        "phoneNumbers": [
            {"type": "work", "value": "10-040-1308", "primary": true},
            {"type": "mobile", "value": "10-040-1308"},
            {"type": "fax", "value": "10-040-1308"}
        ],
        "roles": [{"primary": "True", "display": "D", "value": "V", "type": "T"}],
        ENT: {"department": "X", "manager": {"value": "XYMKVVRYDIOO"}}
    });
    let user = patch(
        start,
        ops(json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "new@x.org"},
            {"op": "replace", "path": "phoneNumbers[type eq \"fax\"].value", "value": "9"},
            {"op": "replace", "path": "addresses[type eq \"work\"].locality", "value": "L"},
            {"op": "replace", "path": "roles[primary eq \"True\"].value", "value": "V2"},
            {"op": "replace", "path": "title", "value": "T"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Y"}
        ])),
    );
    assert_eq!(user["emails"], json!([{"type": "work", "value": "new@x.org", "primary": true}]));
    assert_eq!(user["phoneNumbers"][2], json!({"type": "fax", "value": "9"}));
    assert_eq!(user["phoneNumbers"][0]["value"], "10-040-1308");
    assert_eq!(
        user["addresses"],
        json!([{"type": "work", "formatted": "F", "primary": true, "country": "Sierra Leone", "locality": "L"}])
    );
    assert_eq!(
        user["roles"],
        json!([{"primary": true, "display": "D", "value": "V2", "type": "T"}])
    );
    assert_eq!(user["title"], "T");
    assert_eq!(user[ENT], json!({"department": "Y", "manager": {"value": "XYMKVVRYDIOO"}}));
}

#[test]
fn s8_8_update_user_name_and_disable() {
    let user = patch(
        created(),
        ops(json!([{"op": "replace", "path": "userName", "value": "renamed@x.org"}])),
    );
    assert_eq!(user["userName"], "renamed@x.org");
    let user = patch(user, ops(json!([{"op": "replace", "path": "active", "value": false}])));
    assert_eq!(user["active"], false);
}

// ---------------------------------------------------------------------------------------------
// §8.3, §8.4

#[test]
fn s8_3_real_multi_attribute_update() {
    let user = patch(
        created(),
        json!({
            "Operations": [
                {"op": "Replace", "path": "displayName", "value": "Test 01"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "test01@example.com"},
                {"op": "Replace", "path": "userName", "value": "test01@example.com"},
                {"op": "Replace", "path": "name.familyName", "value": "Tesst 01"},
                {"op": "Replace", "path": "name.formatted", "value": "Test 01"}
            ],
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]
        }),
    );
    assert_eq!(user["displayName"], "Test 01");
    assert_eq!(user["userName"], "test01@example.com");
    assert_eq!(user["emails"][0]["value"], "test01@example.com");
    assert_eq!(user["name"]["familyName"], "Tesst 01");
    assert_eq!(user["name"]["formatted"], "Test 01");
}

#[test]
fn s8_4_add_to_missing_filtered_element_creates_one_merged_element() {
    let user = patch(
        json!({"userName": "u"}),
        json!({
            "Operations": [
                {"op": "add", "path": "addresses[type eq \"work\"].formatted", "value": "USZLTUSJXBYV"},
                {"op": "add", "path": "addresses[type eq \"work\"].locality", "value": "OSGODHEVDCVD"},
                {"op": "add", "path": "addresses[type eq \"work\"].region", "value": "YMVMOEMXAYGD"}
            ],
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]
        }),
    );
    assert_eq!(
        user["addresses"],
        json!([{"type": "work", "formatted": "USZLTUSJXBYV", "locality": "OSGODHEVDCVD", "region": "YMVMOEMXAYGD"}])
    );
    let user = patch(
        json!({"userName": "u", "emails": [{"type": "home", "value": "h@x"}]}),
        ops(
            json!([{"op": "add", "path": "emails[type eq \"work\"].value", "value": "something@outlook.com"}]),
        ),
    );
    assert_eq!(
        user["emails"],
        json!([{"type": "home", "value": "h@x"}, {"type": "work", "value": "something@outlook.com"}])
    );
}

#[test]
fn every_user_patch_fixture_applies() {
    let all: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/entra-requests.fixtures.json"))
            .unwrap();
    let mut n = 0;
    for f in all["fixtures"].as_array().unwrap() {
        if f["method"] == "PATCH" && f["path"].as_str().unwrap().starts_with("/Users") {
            patch(created(), f["body"].clone());
            n += 1;
        }
    }
    assert_eq!(n, 12);
}

// ---------------------------------------------------------------------------------------------
// RFC semantics

#[test]
fn add_to_multi_valued_appends_dedupes_and_keeps_one_primary() {
    let user = patch(
        created(),
        ops(json!([{"op": "add", "path": "emails", "value": [
            {"value": "other@x.org", "type": "other", "primary": "True"},
            {"value": "TEST_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com", "display": "d"}
        ]}])),
    );
    assert_eq!(
        user["emails"],
        json!([
            {"primary": false, "type": "work", "value": "TEST_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com", "display": "d"},
            {"value": "other@x.org", "type": "other", "primary": true}
        ])
    );
}

#[test]
fn add_single_object_to_multi_valued_and_pathless_nested() {
    let user = patch(
        json!({"userName": "u"}),
        ops(json!([
            {"op": "add", "path": "phoneNumbers", "value": {"value": "1", "type": "work"}},
            {"op": "add", "value": {
                "name": {"givenName": "G", "familyName": "F"},
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"division": "Dv", "manager": "m1"},
                "urn:ietf:params:scim:schemas:core:2.0:User": {"title": "Boss"},
                "meta": {"resourceType": "User"},
                "nickName": null
            }}
        ])),
    );
    assert_eq!(user["phoneNumbers"], json!([{"value": "1", "type": "work"}]));
    assert_eq!(user["name"], json!({"givenName": "G", "familyName": "F"}));
    assert_eq!(user[ENT], json!({"division": "Dv", "manager": {"value": "m1"}}));
    assert_eq!(user["title"], "Boss");
    assert!(user.get("nickName").is_none());
}

#[test]
fn remove_forms() {
    let start = json!({
        "userName": "u",
        "displayName": "D",
        "name": {"givenName": "G", "familyName": "F"},
        "emails": [{"type": "work", "value": "w@x"}, {"type": "home", "value": "h@x"}, {"type": "other", "value": "o@x"}],
        "roles": [{"value": "A"}, {"value": "B"}],
        ENT: {"department": "D"}
    });
    let user = patch(
        start,
        ops(json!([
            {"op": "Remove", "path": "displayName"},
            {"op": "Remove", "path": "nickName"},
            {"op": "Remove", "path": "name.givenName"},
            {"op": "Remove", "path": "emails[type eq \"home\"]"},
            {"op": "Remove", "path": "emails", "value": [{"value": "O@X"}]},
            {"op": "Remove", "path": "roles"},
            {"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
            {"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"}
        ])),
    );
    assert_eq!(
        user,
        json!({
            "schemas": [USER_SCHEMA],
            "userName": "u",
            "name": {"familyName": "F"},
            "emails": [{"type": "work", "value": "w@x"}]
        })
    );
}

#[test]
fn replace_with_filter_keeps_siblings_and_sub_attribute_replace_on_all() {
    let start = json!({"userName": "u", "emails": [
        {"type": "work", "value": "w@x"}, {"type": "home", "value": "h@x"}
    ]});
    let user = patch(
        start.clone(),
        ops(
            json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": {"value": "w2@x", "display": "W"}}]),
        ),
    );
    assert_eq!(
        user["emails"],
        json!([{"type": "work", "value": "w2@x", "display": "W"}, {"type": "home", "value": "h@x"}])
    );
    let user =
        patch(start, ops(json!([{"op": "replace", "path": "emails.display", "value": "x"}])));
    assert_eq!(user["emails"][0]["display"], "x");
    assert_eq!(user["emails"][1]["display"], "x");
}

#[test]
fn a_schema_urn_as_path_patches_its_attributes() {
    let user = patch(
        created(),
        ops(json!([
            {"op": "replace", "path": ENT, "value": {"department": "D", "manager": "m"}},
            {"op": "add", "path": USER_SCHEMA, "value": {"title": "T"}}
        ])),
    );
    assert_eq!(user[ENT], json!({"department": "D", "manager": {"value": "m"}}));
    assert_eq!(user["title"], "T");
    // Removing an extension removes its whole object; the core schema cannot be removed.
    let user = patch(user, ops(json!([{"op": "remove", "path": ENT}])));
    assert!(user.get(ENT).is_none(), "{user}");
    assert_eq!(user["title"], "T");
    for (operation, scim_type) in [
        (json!({"op": "remove", "path": USER_SCHEMA}), ScimType::InvalidPath),
        (json!({"op": "add", "path": ENT, "value": "x"}), ScimType::InvalidValue),
    ] {
        let err = PatchRequest::parse(&ops(json!([operation]))).unwrap_err();
        assert_scim_type(&err, scim_type);
    }
}

#[test]
fn legacy_dot_form_and_canonical_paths() {
    let ops_ = PatchRequest::parse(&ops(json!([
        {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department", "value": "D"},
        {"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:Name.GivenName", "value": "G"},
        {"op": "add", "path": "EMAILS[Type eq \"work\"].Value", "value": "e"},
        {"op": "add", "path": "department", "value": "D2"}
    ])))
    .unwrap();
    let paths: Vec<String> = ops_.iter().map(|op| op.path.as_ref().unwrap().to_string()).collect();
    assert_eq!(
        paths,
        [
            format!("{ENT}:department"),
            "name.givenName".to_string(),
            "emails[Type eq \"work\"].value".to_string(),
            format!("{ENT}:department"),
        ]
    );
}

#[test]
fn patch_path_parses_and_prints() {
    for (text, canonical) in [
        ("userName", "userName"),
        ("name.givenName", "name.givenName"),
        ("members[value eq \"x\"]", "members[value eq \"x\"]"),
        ("emails[type eq \"work\"].value", "emails[type eq \"work\"].value"),
        (
            "  emails[type eq \"w]\" and primary eq true].value ",
            "emails[type eq \"w]\" and primary eq true].value",
        ),
        ("members[value eq \"a\" or value eq \"b\"]", "members[value eq \"a\" or value eq \"b\"]"),
    ] {
        let path = PatchPath::parse(text).unwrap();
        assert_eq!(path.to_string(), canonical);
        assert_eq!(PatchPath::parse(&path.to_string()).unwrap(), path);
    }
    for bad in [
        "",
        "emails[",
        "emails[type eq \"work\"",
        "emails]",
        "emails[type eq]",
        "emails[type eq \"w\"].",
        "emails[type eq \"w\"]x",
        "emails[type eq \"w\"].a.b",
        "name.givenName[type eq \"w\"]",
        "emails[a[b eq 1]]",
        "a b",
        "1abc",
    ] {
        let err = PatchPath::parse(bad).unwrap_err();
        assert_scim_type(&err, ScimType::InvalidPath);
    }
}

// ---------------------------------------------------------------------------------------------
// errors

#[test]
fn request_level_errors() {
    let op = json!([{"op": "add", "path": "nickName", "value": "x"}]);
    // `schemas` may be missing.
    assert!(PatchRequest::parse(&json!({"operations": op})).is_ok());
    for (body, scim_type) in [
        (json!({"schemas": ["urn:x"], "Operations": op}), ScimType::InvalidSyntax),
        (json!({"schemas": [PATCH_OP_SCHEMA]}), ScimType::InvalidSyntax),
        (json!({"schemas": [PATCH_OP_SCHEMA], "Operations": []}), ScimType::InvalidSyntax),
        (json!([1]), ScimType::InvalidSyntax),
        (ops(json!([1])), ScimType::InvalidSyntax),
        (ops(json!([{"op": "copy", "path": "a", "value": 1}])), ScimType::InvalidSyntax),
        (ops(json!([{"path": "a", "value": 1}])), ScimType::InvalidSyntax),
        (ops(json!([{"op": "add", "path": 3, "value": 1}])), ScimType::InvalidPath),
        (ops(json!([{"op": "remove"}])), ScimType::NoTarget),
        (ops(json!([{"op": "remove", "value": {"nickName": "x"}}])), ScimType::NoTarget),
        (ops(json!([{"op": "replace", "value": "x"}])), ScimType::InvalidValue),
        (ops(json!([{"op": "add", "path": "nickName"}])), ScimType::InvalidValue),
        (ops(json!([{"op": "replace", "path": "id", "value": "x"}])), ScimType::Mutability),
        (
            ops(json!([{"op": "replace", "path": "meta.created", "value": "x"}])),
            ScimType::Mutability,
        ),
        (ops(json!([{"op": "replace", "value": {"id": "x"}}])), ScimType::Mutability),
        (
            ops(json!([{"op": "replace", "path": "emails[type eq", "value": "x"}])),
            ScimType::InvalidPath,
        ),
        (
            ops(json!([{"op": "replace", "path": "urn:foo:bar", "value": "x"}])),
            ScimType::InvalidPath,
        ),
        (ops(json!([{"op": "replace", "path": "active", "value": "yes"}])), ScimType::InvalidValue),
        (
            ops(json!([{"op": "add", "path": "emails", "value": [{"primary": "maybe"}]}])),
            ScimType::InvalidValue,
        ),
        (ops(json!([{"op": "add", "path": "manager", "value": 3}])), ScimType::InvalidValue),
    ] {
        let err = PatchRequest::parse(&body).unwrap_err();
        assert_scim_type(&err, scim_type);
    }
}

#[test]
fn apply_errors() {
    for (operations, scim_type) in [
        (json!([{"op": "replace", "path": "userName", "value": ""}]), ScimType::InvalidValue),
        (json!([{"op": "remove", "path": "userName"}]), ScimType::InvalidValue),
        (json!([{"op": "replace", "path": "userName", "value": 5}]), ScimType::InvalidValue),
        (json!([{"op": "replace", "path": "name", "value": "x"}]), ScimType::InvalidValue),
        (json!([{"op": "replace", "path": "userName.x", "value": "x"}]), ScimType::InvalidPath),
        (
            json!([{"op": "replace", "path": "userName[type eq \"x\"]", "value": "x"}]),
            ScimType::InvalidPath,
        ),
        (
            json!([{"op": "replace", "path": "emails[type ne \"work\"].value", "value": "x"}]),
            ScimType::NoTarget,
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"a\" or type eq \"b\"].value", "value": "x"}]),
            ScimType::NoTarget,
        ),
        (json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]), ScimType::NoTarget),
        (json!([{"op": "remove", "path": "roles[value eq \"x\"]"}]), ScimType::NoTarget),
        (json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]), ScimType::Mutability),
        (
            json!([{"op": "add", "path": "emails[type eq \"home\"]", "value": "x"}]),
            ScimType::InvalidValue,
        ),
    ] {
        let err = patch_err(created(), ops(operations.clone()));
        assert_eq!(err.scim_type, Some(scim_type), "{operations}: {err}");
    }
}

#[test]
fn remove_of_a_missing_attribute_is_a_no_op() {
    let before = User::from_request(created()).unwrap().into_json();
    let after = patch(
        created(),
        ops(
            json!([{"op": "remove", "path": "title"}, {"op": "remove", "path": "x509Certificates"}]),
        ),
    );
    assert_eq!(before, after);
}

#[test]
fn ten_thousand_values_are_added_and_removed_by_value_in_linear_time() {
    // Adding N values to M is hash lookups, not N × M comparisons: 10,000 into 10,000 (half of
    // them already there in another case) would be 10⁸ case-folded comparisons otherwise.
    let emails = |range: std::ops::Range<usize>, upper: bool| -> Vec<Value> {
        range
            .map(|i| {
                let value = format!("user{i}@contoso.com");
                json!({"value": if upper { value.to_uppercase() } else { value }, "type": "work"})
            })
            .collect()
    };
    let user =
        User::from_request(json!({"userName": "u", "emails": emails(0..10_000, false)})).unwrap();
    let add = PatchOp::new(
        PatchOpKind::Add,
        Some(PatchPath::parse("emails").unwrap()),
        Some(Value::Array(emails(5_000..15_000, true))),
    );
    let added = apply_to_user(&user, &[add]).unwrap().into_json();
    let added = added["emails"].as_array().unwrap();
    assert_eq!(added.len(), 15_000, "5,000 merged case-insensitively, 5,000 appended");
    // A merged element keeps its place and takes the added spelling.
    assert_eq!(added[4_999]["value"], "user4999@contoso.com");
    assert_eq!(added[5_000]["value"], "USER5000@CONTOSO.COM");
    assert_eq!(added[10_000]["value"], "USER10000@CONTOSO.COM");
    assert_eq!(added[14_999]["value"], "USER14999@CONTOSO.COM");

    let user = User::from_request(json!({"userName": "u", "emails": added})).unwrap();
    // Remove every odd one, listed in lower case: the order of those kept is unchanged.
    let listed: Vec<Value> = (0..15_000)
        .filter(|i| i % 2 == 1)
        .map(|i| json!({"value": format!("user{i}@contoso.com")}))
        .collect();
    let remove = PatchOp::new(
        PatchOpKind::Remove,
        Some(PatchPath::parse("emails").unwrap()),
        Some(Value::Array(listed)),
    );
    let kept = apply_to_user(&user, &[remove]).unwrap().into_json();
    let kept: Vec<String> = kept["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["value"].as_str().unwrap().to_lowercase())
        .collect();
    let expected: Vec<String> =
        (0..15_000).filter(|i| i % 2 == 0).map(|i| format!("user{i}@contoso.com")).collect();
    assert_eq!(kept, expected);
}

#[test]
fn adding_elements_without_value_dedups_equal_ones_whatever_their_key_order() {
    let user = patch(
        json!({"userName": "u", "addresses": [{"type": "work", "locality": "Oslo"}]}),
        ops(json!([{"op": "add", "path": "addresses", "value": [
            {"locality": "Oslo", "type": "work"},
            {"locality": "Bergen", "type": "home"},
            {"type": "home", "locality": "Bergen"}
        ]}])),
    );
    assert_eq!(
        user["addresses"],
        json!([{"type": "work", "locality": "Oslo"}, {"locality": "Bergen", "type": "home"}])
    );
    // Many primaries: one stays, the last the operation made primary.
    let many: Vec<Value> =
        (0..2_000).map(|i| json!({"value": format!("r{i}"), "primary": true})).collect();
    let user = patch(
        json!({"userName": "u"}),
        ops(json!([{"op": "add", "path": "roles", "value": many}])),
    );
    let primaries: Vec<&Value> =
        user["roles"].as_array().unwrap().iter().filter(|r| r["primary"] == true).collect();
    assert_eq!(primaries, vec![&json!({"value": "r1999", "primary": true})]);
}

#[test]
fn an_item_spelling_value_twice_is_merged_as_before() {
    // `{"value": "a", "VALUE": "b"}` merges into the element valued "a" and leaves it valued
    // "b"; a later item valued "b" then merges into that same element.
    let user = patch(
        json!({"userName": "u", "emails": [{"value": "a"}, {"value": "b", "type": "x"}]}),
        ops(json!([{"op": "add", "path": "emails", "value": [
            {"value": "a", "VALUE": "b"},
            {"value": "B", "display": "d"}
        ]}])),
    );
    assert_eq!(
        user["emails"],
        json!([{"value": "B", "display": "d"}, {"value": "b", "type": "x"}])
    );
}

#[test]
fn limits_are_checked_on_canonical_operations() {
    let limits = Limits::default();
    let parse = |operations: Value| PatchRequest::parse_with(&ops(operations), &limits);
    let rejects = |operations: Value, named: &str| {
        let error = parse(operations.clone()).unwrap_err();
        assert_scim_type(&error, ScimType::InvalidValue);
        assert!(error.detail.contains(named), "{operations}: {}", error.detail);
    };
    parse(json!([{"op": "replace", "path": "displayName", "value": "x".repeat(1024)}])).unwrap();
    rejects(
        json!([{"op": "replace", "path": "displayName", "value": "x".repeat(1025)}]),
        "displayName is 1025 bytes long",
    );
    rejects(json!([{"op": "replace", "value": {"userName": "a\u{0}"}}]), "userName contains");
    rejects(
        json!([{"op": "add", "path": "emails[type eq \"work\"].value", "value": "x".repeat(1025)}]),
        "emails[type eq \"work\"].value is 1025 bytes",
    );
    // The filter of a value path creates the element it does not find.
    rejects(
        json!([{"op": "add", "path": format!("emails[value eq \"{}\"].type", "x".repeat(1025)), "value": "work"}]),
        "is 1025 bytes long",
    );
    rejects(
        json!([{"op": "add", "value": {"urn:x:CustomExt:2.0:User": {"costCenter": "\u{0}"}}}]),
        "urn:x:CustomExt:2.0:User:costCenter contains the control character U+0000",
    );
    rejects(
        json!([{"op": "add", "path": "title\u{0}", "value": "x"}]),
        "Operations[0].path contains",
    );
    rejects(
        json!([{"op": "add", "path": "name", "value": {"giv\u{1}en": "x"}}]),
        "the attribute name name.giv",
    );
    rejects(
        json!([{"op": "add", "path": "roles", "value": vec![json!({"value": "r"}); 1001]}]),
        "roles has 1001 values",
    );
    // Operations, before and after a path-less value is split.
    let one = json!({"op": "replace", "path": "title", "value": "t"});
    parse(Value::Array(vec![one.clone(); 1000])).unwrap();
    rejects(Value::Array(vec![one; 1001]), "the PATCH has 1001 operations");
    let wide: Map<String, Value> = (0..1001).map(|i| (format!("x{i}"), json!("v"))).collect();
    rejects(json!([{"op": "replace", "value": wide}]), "the PATCH has 1001 operations");
    // Members, summed over the operations; other values of a member operation are checked.
    let members =
        |n: usize| -> Value { (0..n).map(|i| json!({"value": format!("m{i}")})).collect() };
    parse(json!([{"op": "add", "path": "members", "value": members(10_000)}])).unwrap();
    rejects(
        json!([
            {"op": "add", "path": "members", "value": members(6_000)},
            {"op": "remove", "path": "members", "value": members(4_000)},
            {"op": "remove", "path": "members[value eq \"a\"]"}
        ]),
        "the request names 10001 members",
    );
    rejects(
        json!([{"op": "add", "path": "members", "value": [{"value": "a\u{0}"}]}]),
        "members[0].value contains",
    );
}

// ---------------------------------------------------------------------------------------------
// properties

pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec!["", "True", "false", "x", "{\"value\":\"r\"}", "work"])
            .prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "value",
            "primary",
            "type",
            "display",
            "displayName",
            "givenName",
            "userName",
            "active",
            "emails",
            "roles",
            "manager",
            "name.givenName",
            "$ref",
            "id",
            "meta",
            ENT,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "urn:ietf:params:scim:schemas:core:2.0:User",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z.:\\[\\]\" ]{0,10}",
    ]
}

fn path_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 =>
        prop::sample::select(vec![
            "userName",
            "active",
            "name",
            "name.givenName",
            "emails",
            "emails.value",
            "emails[type eq \"work\"]",
            "emails[type eq \"work\"].value",
            "emails[type eq \"work\"].primary",
            "roles[primary eq \"True\"].value",
            "roles",
            "manager",
            "manager.value",
            "manager[value eq \"m\"]",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department",
            "addresses[type eq \"work\" and primary eq true].locality",
            "members",
            "members[value eq \"a\" or value eq \"b\"]",
            "x509Certificates",
            "unknown",
            "unknown.sub",
            "emails[value sw \"a\"]",
            "id",
            "meta.version",
            "groups",
        ])
        .prop_map(str::to_owned),
        1 => "[a-zA-Z.\\[\\]\" =]{0,16}",
    ]
}

/// Values of the shapes PATCH operations usually carry.
fn plausible_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z]{1,6}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(json!("False")),
        Just(json!([{"value": "v", "type": "work", "primary": true}])),
        Just(json!([{"value": "{\"id\":\"1\",\"value\":\"R\",\"displayName\":\"R\"}"}])),
        Just(json!({"value": "m"})),
        Just(json!({"value": ""})),
        Just(json!({"givenName": "G"})),
        Just(json!({"displayName": "D", "name.givenName": "g", ENT: {"department": "x"}})),
    ]
}

pub(crate) fn operation() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "add", "Add", "replace", "REPLACE", "remove", "Remove", "add", "x",
        ]),
        prop::option::weighted(0.9, path_text()),
        prop::option::weighted(0.9, prop_oneof![plausible_value(), json_value()]),
    )
        .prop_map(|(op, path, value)| {
            let mut o = serde_json::Map::new();
            o.insert("op".into(), op.into());
            if let Some(path) = path {
                o.insert("path".into(), path.into());
            }
            if let Some(value) = value {
                o.insert("value".into(), value);
            }
            Value::Object(o)
        })
}

fn start_user() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        created(),
        json!({"userName": "u"}),
        json!({"userName": "u", "emails": [{"value": "a", "primary": true}, {"value": "b", "type": "work"}],
               ENT: {"manager": {"value": "m"}}, "roles": [{"value": "r", "primary": true}],
               "unknown": "s"}),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_and_apply_never_panic(
        user in start_user(),
        operations in prop::collection::vec(operation(), 0..6),
        arbitrary in json_value(),
    ) {
        let user = User::from_request(user).unwrap();
        let _ = PatchRequest::parse(&arbitrary);
        let body = json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations});
        if let Ok(ops) = PatchRequest::parse(&body) {
            for op in &ops {
                let (kind, path, value) = op.to_parts();
                let back = PatchOp::from_parts(kind, path.as_deref(), value.as_deref()).unwrap();
                prop_assert_eq!(&back, op);
            }
            if let Ok(patched) = apply_to_user(&user, &ops) {
                // The result is canonical: validating it again changes nothing.
                let again = User::from_request(patched.as_json()).unwrap();
                prop_assert_eq!(again, patched);
            }
        }
        // Raw (unnormalised) operations are accepted by apply too.
        let raw: Vec<PatchOp> = body["Operations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| {
                let kind = PatchOpKind::parse(o.get("op")?.as_str()?)?;
                let path = o.get("path").and_then(Value::as_str).and_then(|p| PatchPath::parse(p).ok());
                Some(PatchOp::new(kind, path, o.get("value").cloned()))
            })
            .collect();
        let _ = apply_to_user(&user, &raw);
    }

    #[test]
    fn canonical_operations_are_a_fixed_point(operations in prop::collection::vec(operation(), 1..4)) {
        let body = json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations});
        if let Ok(ops) = PatchRequest::parse(&body) {
            for op in ops {
                prop_assert_eq!(normalise(op.clone()).unwrap(), vec![op]);
            }
        }
    }

    #[test]
    fn any_patch_op_round_trips_through_the_change_log(
        kind in prop::sample::select(PatchOpKind::ALL.to_vec()),
        attr in crate::filter::proptests::attr_path(),
        filter in prop::option::of(crate::filter::proptests::value_filter()),
        value in prop::option::of(json_value()),
        with_path in any::<bool>(),
    ) {
        let path = with_path.then_some(PatchPath { attr, filter });
        let op = PatchOp::new(kind, path, value);
        let (kind, path, value) = op.to_parts();
        prop_assert_eq!(PatchOp::from_parts(kind, path.as_deref(), value.as_deref()).unwrap(), op);
    }

    #[test]
    fn parsed_paths_round_trip(text in path_text()) {
        if let Ok(path) = PatchPath::parse(&text) {
            prop_assert_eq!(PatchPath::parse(&path.to_string()).unwrap(), path);
        }
    }
}

/// Not a property: a guard that the generators above reach `apply_to_user` often enough for
/// `parse_and_apply_never_panic` to mean something.
#[test]
fn generated_operations_often_apply() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let user = User::from_request(created()).unwrap();
    let strategy = prop::collection::vec(operation(), 1..4);
    let mut applied = 0;
    for _ in 0..500 {
        let operations = strategy.new_tree(&mut runner).unwrap().current();
        let body = json!({"schemas": [PATCH_OP_SCHEMA], "Operations": operations});
        if let Ok(ops) = PatchRequest::parse(&body)
            && apply_to_user(&user, &ops).is_ok()
        {
            applied += 1;
        }
    }
    assert!(applied > 50, "only {applied} of 500 generated requests applied");
}
