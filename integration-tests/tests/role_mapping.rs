//! The role-mapper end to end: the issue's acceptance scenarios (Bureau Works, OfficeRnD,
//! &Money, ProcessMaker, WorkOS), a rules change, the Events API, the admin API's rules
//! endpoint and the notifications on Kafka. Requests are Entra's own shapes
//! (docs/entra/requests.md); notifications are checked in the JSON form of the Events API
//! (docs/events.md), by type, order and content.
//!
//! The role-mapper is level-triggered: it notifies the state it finds, so each test waits for
//! the notifications of one write before it sends the next.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use roster_integration_tests::{TestApp, entra_user, eventually};
use roster_store::control;
use serde_json::{Value, json};
use uuid::Uuid;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

// ---------------------------------------------------------------------------------------------
// Helpers

fn types(notifications: &[Value]) -> Vec<String> {
    notifications.iter().map(|n| n["type"].as_str().unwrap_or("<none>").to_string()).collect()
}

/// Wait until the directory has exactly the notifications `expected` names (its whole stream,
/// in order), then check the envelope: sequences 1, 2, 3, … and the directory and tenant.
/// Returns the whole stream. Fails with the types seen when they differ or never arrive.
async fn settle(app: &TestApp, directory: Uuid, expected: &[&str]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let all = loop {
        let all = app.notifications_after(directory, 0).await;
        if all.len() >= expected.len() || Instant::now() >= deadline {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        types(&all),
        expected,
        "the notifications of directory {directory}:\n{}",
        serde_json::to_string_pretty(&all).unwrap()
    );
    for (i, n) in all.iter().enumerate() {
        assert_eq!(n["sequence"], json!(i + 1), "gap-free sequence from 1");
        assert_eq!(n["directory_id"], directory.to_string());
        assert_eq!(n["tenant_id"], app.tenant_id.to_string());
        assert!(Uuid::parse_str(n["id"].as_str().unwrap()).is_ok());
        assert!(Uuid::parse_str(n["cause_event_id"].as_str().unwrap()).is_ok());
    }
    all
}

/// [`settle`] for the next notifications after the `before` already seen: returns only those.
async fn next(app: &TestApp, directory: Uuid, before: &[Value], more: &[&str]) -> Vec<Value> {
    let mut expected: Vec<String> = types(before);
    expected.extend(more.iter().map(|s| s.to_string()));
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    let all = settle(app, directory, &expected).await;
    all[before.len()..].to_vec()
}

/// A SCIM request to any directory with its token.
async fn scim(
    app: &TestApp,
    directory: Uuid,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, format!("{}/scim/v2/{directory}{path}", app.base_url))
        .bearer_auth(token);
    if let Some(body) = body {
        request =
            request.header("Content-Type", "application/scim+json; charset=utf-8").json(&body);
    }
    request.send().await.unwrap()
}

/// POST /Users to the test directory; 201 and the new id.
async fn create_user(app: &TestApp, body: Value) -> String {
    let response = app.post_user(&body).await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "POST /Users: {created}");
    created["id"].as_str().unwrap().to_string()
}

async fn patch(app: &TestApp, path: &str, operations: Value) {
    let body = json!({"schemas": [PATCH_OP], "Operations": operations});
    let response = app.send(reqwest::Method::PATCH, path, Some(body)).await;
    let status = response.status();
    assert!(
        status == 200 || status == 204,
        "PATCH {path}: {status} {}",
        response.text().await.unwrap()
    );
}

/// docs/entra/requests.md §3.1, with a display name and objectId of its own.
fn entra_group(display_name: &str, object_id: &str) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:Group",
            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": object_id,
        "displayName": display_name,
        "meta": {"resourceType": "Group"}
    })
}

async fn create_group(app: &TestApp, display_name: &str, object_id: &str) -> String {
    let response = app
        .send(reqwest::Method::POST, "/Groups", Some(entra_group(display_name, object_id)))
        .await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "POST /Groups: {created}");
    created["id"].as_str().unwrap().to_string()
}

/// §3.5: add one member (Entra's default dialect, `$ref: null`).
async fn add_member(app: &TestApp, group: &str, member: &str) {
    patch(
        app,
        &format!("/Groups/{group}"),
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": member}]}]),
    )
    .await;
}

/// §6.4 without the flag: remove only the listed member.
async fn remove_member(app: &TestApp, group: &str, member: &str) {
    patch(
        app,
        &format!("/Groups/{group}"),
        json!([{"op": "Remove", "path": "members", "value": [{"value": member}]}]),
    )
    .await;
}

/// §7.1: a user with one app role, as SingleAppRoleAssignment sends it.
fn user_with_role(user_name: &str, role: &str) -> Value {
    let mut body = entra_user(user_name);
    body["roles"] =
        json!([{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": role}]);
    body
}

fn group_ref(id: &str, display_name: &str, external_id: &str) -> Value {
    json!({"id": id, "display_name": display_name, "external_id": external_id})
}

fn teams(primary: Option<&Value>, additional: &[&Value]) -> Value {
    json!({"primary": primary.cloned(), "additional": additional.iter().map(|g| (*g).clone()).collect::<Vec<_>>()})
}

fn no_teams() -> Value {
    teams(None, &[])
}

fn access(product_roles: &[&str], teams: Value) -> Value {
    json!({"product_roles": product_roles, "teams": teams})
}

/// A `FieldChange` with its JSON texts parsed.
fn parsed_changes(notification: &Value) -> Vec<(String, Option<Value>, Option<Value>)> {
    let parse = |v: &Value| v.as_str().map(|s| serde_json::from_str::<Value>(s).unwrap());
    notification["data"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["field"].as_str().unwrap().to_string(),
                parse(&c["previous_json"]),
                parse(&c["current_json"]),
            )
        })
        .collect()
}

fn change(field: &str, previous: Value, current: Value) -> (String, Option<Value>, Option<Value>) {
    let some = |v: Value| if v.is_null() { None } else { Some(v) };
    (field.to_string(), some(previous), some(current))
}

fn scim_resource(user: &Value) -> Value {
    serde_json::from_str(user["scim_resource_json"].as_str().unwrap()).unwrap()
}

/// Every notification shares the cause and time of the change that caused it.
fn same_cause(notifications: &[Value]) {
    let first = &notifications[0];
    for n in notifications {
        assert_eq!(n["cause_event_id"], first["cause_event_id"], "one change, one cause");
        assert_eq!(n["occurred_at"], first["occurred_at"], "one change, one time");
    }
}

// ---------------------------------------------------------------------------------------------
// Bureau Works: app roles → product roles.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bureau_works_app_roles_become_product_roles() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let dir = app.directory_id;
    let rules = json!({
        "appRoles": [
            {"appRole": "admin", "productRole": "administrator"},
            {"appRole": "vendor", "productRole": "vendor"}
        ],
        "defaultRole": "member"
    });
    let set = app.set_role_mappings(dir, rules.clone()).await;
    assert_eq!(set["version"], 1);
    assert_eq!(set["rules"], rules);

    // §7.1: the POST carries roles[primary eq "True"] as a primary role.
    let ada = create_user(&app, user_with_role("ada@bureauworks.com", "admin")).await;
    let seen = settle(&app, dir, &["user.provisioned"]).await;
    let user = &seen[0]["data"]["user"];
    assert_eq!(user["id"], ada.as_str());
    assert_eq!(user["user_name"], "ada@bureauworks.com");
    assert_eq!(user["app_roles"], json!(["admin"]));
    assert_eq!(user["product_roles"], json!(["administrator"]));
    assert_eq!(user["teams"], no_teams());

    // No role yet: the default. Then the validator's PATCH of roles[primary eq "True"] gives one.
    let vera = create_user(&app, entra_user("vera@bureauworks.com")).await;
    next(&app, dir, &seen, &["user.provisioned"]).await;
    let seen = app.notifications_after(dir, 0).await;
    let user = &seen[1]["data"]["user"];
    assert_eq!(user["id"], vera.as_str());
    assert_eq!(user["app_roles"], json!([]));
    assert_eq!(user["product_roles"], json!(["member"]));
    patch(
        &app,
        &format!("/Users/{vera}"),
        json!([
            {"op": "add", "path": "roles[primary eq \"True\"].value", "value": "vendor"},
            {"op": "add", "path": "roles[primary eq \"True\"].type", "value": "WindowsAzureActiveDirectoryRole"}
        ]),
    )
    .await;
    let step = next(&app, dir, &seen, &["user.updated", "user.access_changed"]).await;
    same_cause(&step);
    assert_eq!(parsed_changes(&step[0]), vec![change("app_roles", json!([]), json!(["vendor"]))]);
    assert_eq!(step[0]["data"]["user"]["id"], vera.as_str());
    let changed = &step[1]["data"];
    assert_eq!(changed["user"]["id"], vera.as_str());
    assert_eq!(changed["user"]["product_roles"], json!(["vendor"]));
    assert_eq!(changed["before"], access(&["member"], no_teams()));
    assert_eq!(changed["after"], access(&["vendor"], no_teams()));
    let seen = app.notifications_after(dir, 0).await;

    // ... and a Replace of it moves ada from administrator to vendor.
    patch(
        &app,
        &format!("/Users/{ada}"),
        json!([{"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "vendor"}]),
    )
    .await;
    let step = next(&app, dir, &seen, &["user.updated", "user.access_changed"]).await;
    assert_eq!(
        parsed_changes(&step[0]),
        vec![change("app_roles", json!(["admin"]), json!(["vendor"]))]
    );
    assert_eq!(step[1]["data"]["user"]["id"], ada.as_str());
    assert_eq!(step[1]["data"]["before"], access(&["administrator"], no_teams()));
    assert_eq!(step[1]["data"]["after"], access(&["vendor"], no_teams()));
    let seen = app.notifications_after(dir, 0).await;

    // §7.3, AssertiveAppRoleAssignmentsComplex: POST with both roles, then a replace of the set.
    let assertive_role = |value: &str| json!({"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": value, "value": value});
    let mut body = entra_user("sam@bureauworks.com");
    body["roles"] = json!([assertive_role("admin"), assertive_role("vendor")]);
    let sam = create_user(&app, body).await;
    let step = next(&app, dir, &seen, &["user.provisioned"]).await;
    assert_eq!(step[0]["data"]["user"]["id"], sam.as_str());
    assert_eq!(step[0]["data"]["user"]["app_roles"], json!(["admin", "vendor"]));
    assert_eq!(step[0]["data"]["user"]["product_roles"], json!(["administrator", "vendor"]));
    let seen = app.notifications_after(dir, 0).await;
    patch(
        &app,
        &format!("/Users/{sam}"),
        json!([{"op": "replace", "path": "roles", "value": [assertive_role("vendor")]}]),
    )
    .await;
    // Exactly one access change, with before and after.
    let step = next(&app, dir, &seen, &["user.updated", "user.access_changed"]).await;
    same_cause(&step);
    assert_eq!(
        parsed_changes(&step[0]),
        vec![change("app_roles", json!(["admin", "vendor"]), json!(["vendor"]))]
    );
    let changed = &step[1]["data"];
    assert_eq!(changed["user"]["id"], sam.as_str());
    assert_eq!(changed["user"]["app_roles"], json!(["vendor"]));
    assert_eq!(changed["user"]["product_roles"], json!(["vendor"]));
    assert_eq!(changed["before"], access(&["administrator", "vendor"], no_teams()));
    assert_eq!(changed["after"], access(&["vendor"], no_teams()));
    let seen = app.notifications_after(dir, 0).await;

    // An app role no rule maps: the default role.
    let rex = create_user(&app, user_with_role("rex@bureauworks.com", "reader")).await;
    let step = next(&app, dir, &seen, &["user.provisioned"]).await;
    assert_eq!(step[0]["data"]["user"]["id"], rex.as_str());
    assert_eq!(step[0]["data"]["user"]["app_roles"], json!(["reader"]));
    assert_eq!(step[0]["data"]["user"]["product_roles"], json!(["member"]));
}

// ---------------------------------------------------------------------------------------------
// OfficeRnD: teams from groups; deactivation and deprovisioning.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn officernd_teams_follow_group_membership_through_deprovisioning() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let dir = app.directory_id;
    app.set_role_mappings(
        dir,
        json!({"groups": [
            {"displayName": "Team A", "team": true},
            {"displayName": "Team B", "team": true},
            {"displayName": "Team C", "team": true}
        ]}),
    )
    .await;

    let object_ids: Vec<String> = (0..3).map(|_| Uuid::new_v4().to_string()).collect();
    let mut groups = Vec::new();
    let mut seen = Vec::new();
    for (name, object_id) in ["Team A", "Team B", "Team C"].iter().zip(&object_ids) {
        let id = create_group(&app, name, object_id).await;
        let step = next(&app, dir, &seen, &["group.created"]).await;
        let group = &step[0]["data"]["group"];
        assert_eq!(group["id"], id.as_str());
        assert_eq!(group["display_name"], *name);
        assert_eq!(group["external_id"], object_id.as_str());
        assert_eq!(group["team"], true);
        assert_eq!(group["product_roles"], json!([]));
        groups.push(id);
        seen = app.notifications_after(dir, 0).await;
    }
    let refs: Vec<Value> = groups
        .iter()
        .zip(["Team A", "Team B", "Team C"])
        .zip(&object_ids)
        .map(|((id, name), object_id)| group_ref(id, name, object_id))
        .collect();
    let (a, b, c) = (&refs[0], &refs[1], &refs[2]);

    let user = create_user(&app, entra_user("grace@officernd.com")).await;
    let step = next(&app, dir, &seen, &["user.provisioned"]).await;
    assert_eq!(step[0]["data"]["user"]["teams"], no_teams());
    assert_eq!(step[0]["data"]["user"]["product_roles"], json!([]));
    let mut seen = app.notifications_after(dir, 0).await;

    // Joined A, then B, then C: A is the primary team, B and C the additional ones, in order.
    let mut expected_teams = no_teams();
    let joins = [
        (0, teams(Some(a), &[]), vec![a]),
        (1, teams(Some(a), &[b]), vec![a, b]),
        (2, teams(Some(a), &[b, c]), vec![a, b, c]),
    ];
    for (i, after, member_of) in joins {
        add_member(&app, &groups[i], &user).await;
        let step = next(&app, dir, &seen, &["user.access_changed", "group.member_added"]).await;
        same_cause(&step);
        let changed = &step[0]["data"];
        assert_eq!(changed["user"]["id"], user.as_str());
        assert_eq!(changed["before"], access(&[], expected_teams.clone()));
        assert_eq!(changed["after"], access(&[], after.clone()));
        assert_eq!(changed["user"]["teams"], after);
        assert_eq!(changed["user"]["groups"], json!(member_of));
        let added = &step[1]["data"];
        assert_eq!(added["group"]["id"], groups[i].as_str());
        assert_eq!(added["group"]["team"], true);
        assert_eq!(added["members"], json!([{"id": user, "kind": 1}]));
        expected_teams = after;
        seen = app.notifications_after(dir, 0).await;
    }

    // Removed from A (Entra's default dialect): B becomes the primary team.
    remove_member(&app, &groups[0], &user).await;
    let step = next(&app, dir, &seen, &["user.access_changed", "group.member_removed"]).await;
    same_cause(&step);
    assert_eq!(step[0]["data"]["before"], access(&[], teams(Some(a), &[b, c])));
    assert_eq!(step[0]["data"]["after"], access(&[], teams(Some(b), &[c])));
    assert_eq!(step[0]["data"]["user"]["groups"], json!([b, c]));
    assert_eq!(step[1]["data"]["group"]["id"], groups[0].as_str());
    assert_eq!(step[1]["data"]["members"], json!([{"id": user, "kind": 1}]));
    let seen = app.notifications_after(dir, 0).await;

    // active from Not([IsSoftDeleted]), as Entra sends it without the flag (§6.1).
    patch(
        &app,
        &format!("/Users/{user}"),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    )
    .await;
    let step = next(&app, dir, &seen, &["user.deactivated"]).await;
    let deactivated = &step[0]["data"]["user"];
    assert_eq!(deactivated["id"], user.as_str());
    assert_eq!(deactivated["active"], false);
    // A deactivated user keeps its teams.
    assert_eq!(deactivated["teams"], teams(Some(b), &[c]));
    assert_eq!(scim_resource(deactivated)["active"], false);
    let seen = app.notifications_after(dir, 0).await;

    // DELETE: memberships end first, then the user is deprovisioned (tombstone: not erased).
    let response = app.send(reqwest::Method::DELETE, &format!("/Users/{user}"), None).await;
    assert_eq!(response.status(), 204);
    let step = next(
        &app,
        dir,
        &seen,
        &["group.member_removed", "group.member_removed", "user.deprovisioned"],
    )
    .await;
    same_cause(&step);
    let left: BTreeSet<String> =
        step[..2].iter().map(|n| n["data"]["group"]["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(left, BTreeSet::from([groups[1].clone(), groups[2].clone()]));
    for n in &step[..2] {
        assert_eq!(n["data"]["members"], json!([{"id": user, "kind": 1}]));
    }
    let gone = &step[2]["data"];
    assert_eq!(gone["erased"], false);
    assert_eq!(gone["user"]["id"], user.as_str());
    assert_eq!(gone["user"]["user_name"], "grace@officernd.com");
    assert_eq!(gone["user"]["active"], false);

    // The tombstone answers 404; the history still has every notification about the user.
    let response = app.send(reqwest::Method::GET, &format!("/Users/{user}"), None).await;
    assert_eq!(response.status(), 404);
    let history = app.notifications_after(dir, 0).await;
    let about_user: Vec<String> = history
        .iter()
        .filter(|n| n["data"]["user"]["id"] == user.as_str())
        .map(|n| n["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        about_user,
        [
            "user.provisioned",
            "user.access_changed",
            "user.access_changed",
            "user.access_changed",
            "user.access_changed",
            "user.deactivated",
            "user.deprovisioned"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// &Money: one tenant, two directories.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn and_money_two_directories_have_separate_tokens_and_streams() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let advisors = app.directory_id;
    let rooms = control::ensure_directory(&mut app.db.conn(), app.tenant_id, "rooms").unwrap().id;
    let (_, rooms_token) = app.issue_token(rooms);
    let advisors_token = app.token.clone();

    // Neither token opens the other directory.
    for (directory, token) in [(rooms, &advisors_token), (advisors, &rooms_token)] {
        let response = scim(&app, directory, token, reqwest::Method::GET, "/Users", None).await;
        assert_eq!(response.status(), 401, "a token of another directory");
        let response = scim(
            &app,
            directory,
            token,
            reqwest::Method::POST,
            "/Users",
            Some(entra_user("intruder@andmoney.com")),
        )
        .await;
        assert_eq!(response.status(), 401, "a token of another directory");
    }

    // `active` as the string "False" in the POST; the same person in both directories.
    let mut body = entra_user("sofia@andmoney.com");
    body["active"] = json!("False");
    let response =
        scim(&app, advisors, &advisors_token, reqwest::Method::POST, "/Users", Some(body.clone()))
            .await;
    assert_eq!(response.status(), 201);
    let advisor: Value = response.json().await.unwrap();
    assert_eq!(advisor["active"], false);
    let advisor = advisor["id"].as_str().unwrap().to_string();
    let seen = settle(&app, advisors, &["user.provisioned"]).await;
    let user = &seen[0]["data"]["user"];
    assert_eq!(user["id"], advisor.as_str());
    assert_eq!(user["active"], false);
    assert_eq!(scim_resource(user)["active"], false);

    body["active"] = json!(true);
    let response =
        scim(&app, rooms, &rooms_token, reqwest::Method::POST, "/Users", Some(body)).await;
    assert_eq!(response.status(), 201);
    let room_user = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    assert_ne!(room_user, advisor);
    let room_stream = settle(&app, rooms, &["user.provisioned"]).await;
    assert_eq!(room_stream[0]["data"]["user"]["id"], room_user.as_str());
    assert_eq!(room_stream[0]["data"]["user"]["active"], true);

    // §8.4: a work address built from filtered paths, kept in the notified SCIM resource.
    let response = scim(
        &app,
        advisors,
        &advisors_token,
        reqwest::Method::PATCH,
        &format!("/Users/{advisor}"),
        Some(json!({
            "Operations": [
                {"op": "add", "path": "addresses[type eq \"work\"].formatted", "value": "USZLTUSJXBYV"},
                {"op": "add", "path": "addresses[type eq \"work\"].locality", "value": "OSGODHEVDCVD"},
                {"op": "add", "path": "addresses[type eq \"work\"].region", "value": "YMVMOEMXAYGD"}
            ],
            "schemas": [PATCH_OP]
        })),
    )
    .await;
    assert!(response.status().is_success(), "PATCH: {}", response.status());
    let step = next(&app, advisors, &seen, &["user.updated"]).await;
    let address = json!([{
        "type": "work", "formatted": "USZLTUSJXBYV", "locality": "OSGODHEVDCVD", "region": "YMVMOEMXAYGD"
    }]);
    let user = &step[0]["data"]["user"];
    assert_eq!(user["id"], advisor.as_str());
    assert_eq!(user["active"], false);
    let resource = scim_resource(user);
    assert_eq!(resource["addresses"], address);
    assert_eq!(resource["id"], advisor.as_str());
    assert_eq!(resource["meta"]["resourceType"], "User");
    // No named field changed: the change is the SCIM resource, compared without `meta`.
    let changes = parsed_changes(&step[0]);
    assert_eq!(changes.len(), 1, "{changes:?}");
    let (field, previous, current) = &changes[0];
    assert_eq!(field, "scim_resource");
    let (previous, current) = (previous.as_ref().unwrap(), current.as_ref().unwrap());
    assert!(previous.get("addresses").is_none());
    assert_eq!(current["addresses"], address);
    assert!(previous.get("meta").is_none() && current.get("meta").is_none(), "{changes:?}");

    // Each directory its own sequence from 1; the same tenant.
    let advisors_stream = app.notifications_after(advisors, 0).await;
    let room_stream = app.notifications_after(rooms, 0).await;
    assert_eq!(
        advisors_stream.iter().map(|n| n["sequence"].as_i64().unwrap()).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(
        room_stream.iter().map(|n| n["sequence"].as_i64().unwrap()).collect::<Vec<_>>(),
        [1]
    );
    assert!(advisors_stream.iter().all(|n| n["directory_id"] == advisors.to_string()));
    assert!(room_stream.iter().all(|n| n["directory_id"] == rooms.to_string()));
    assert_eq!(room_stream[0]["tenant_id"], advisors_stream[0]["tenant_id"]);
}

// ---------------------------------------------------------------------------------------------
// ProcessMaker: identity fields and group memberships in the product user.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processmaker_identity_fields_and_groups_reach_the_product_user() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let dir = app.directory_id;

    let object_id = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef";
    let body = json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": object_id,
        "userName": "ada.lovelace@processmaker.com",
        "active": true,
        "displayName": "Ada Lovelace",
        "title": "Localization Manager",
        "preferredLanguage": "pt-PT",
        "emails": [{"primary": true, "type": "work", "value": "ada.lovelace@processmaker.com"}],
        "phoneNumbers": [
            {"type": "mobile", "value": "+351 91 000 0001"},
            {"type": "work", "value": "+351 21 340 0000"}
        ],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
        ENTERPRISE: {"department": "Localization", "employeeNumber": "1042"},
        "roles": []
    });
    let id = create_user(&app, body).await;
    let seen = settle(&app, dir, &["user.provisioned"]).await;
    let user = &seen[0]["data"]["user"];
    assert_eq!(user["id"], id.as_str());
    assert_eq!(user["external_id"], object_id);
    assert_eq!(user["user_name"], "ada.lovelace@processmaker.com");
    assert_eq!(user["display_name"], "Ada Lovelace");
    assert_eq!(
        user["name"],
        json!({"formatted": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace"})
    );
    assert_eq!(user["primary_email"], "ada.lovelace@processmaker.com");
    assert_eq!(user["active"], true);
    assert_eq!(user["title"], "Localization Manager");
    assert_eq!(user["department"], "Localization");
    assert_eq!(user["phone_number"], "+351 21 340 0000", "the work number");
    assert_eq!(user["preferred_language"], "pt-PT");
    assert_eq!(user["groups"], json!([]));
    assert_eq!(scim_resource(user)[ENTERPRISE]["employeeNumber"], "1042");

    // Entra's default dialect: one Replace per attribute, filtered and URN paths.
    patch(
        &app,
        &format!("/Users/{id}"),
        json!([
            {"op": "Replace", "path": "title", "value": "Head of Localization"},
            {"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Language Services"},
            {"op": "Replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "+351 21 340 5512"},
            {"op": "Replace", "path": "preferredLanguage", "value": "pt-BR"}
        ]),
    )
    .await;
    let step = next(&app, dir, &seen, &["user.updated"]).await;
    let user = &step[0]["data"]["user"];
    assert_eq!(user["title"], "Head of Localization");
    assert_eq!(user["department"], "Language Services");
    assert_eq!(user["phone_number"], "+351 21 340 5512");
    assert_eq!(user["preferred_language"], "pt-BR");
    assert_eq!(
        parsed_changes(&step[0]),
        vec![
            change("title", json!("Localization Manager"), json!("Head of Localization")),
            change("department", json!("Localization"), json!("Language Services")),
            change("phone_number", json!("+351 21 340 0000"), json!("+351 21 340 5512")),
            change("preferred_language", json!("pt-PT"), json!("pt-BR")),
        ]
    );
    let seen = app.notifications_after(dir, 0).await;

    // Two groups, joined one after the other.
    let engineering_oid = Uuid::new_v4().to_string();
    let berlin_oid = Uuid::new_v4().to_string();
    let engineering = create_group(&app, "Engineering", &engineering_oid).await;
    let berlin = create_group(&app, "Berlin Office", &berlin_oid).await;
    let step = next(&app, dir, &seen, &["group.created", "group.created"]).await;
    assert_eq!(step[0]["data"]["group"]["id"], engineering.as_str());
    assert_eq!(step[1]["data"]["group"]["id"], berlin.as_str());
    let seen = app.notifications_after(dir, 0).await;
    add_member(&app, &engineering, &id).await;
    next(&app, dir, &seen, &["group.member_added"]).await;
    let seen = app.notifications_after(dir, 0).await;
    add_member(&app, &berlin, &id).await;
    next(&app, dir, &seen, &["group.member_added"]).await;
    let seen = app.notifications_after(dir, 0).await;

    // The next notification of the user carries its groups, earliest joined first.
    patch(
        &app,
        &format!("/Users/{id}"),
        json!([{"op": "Replace", "path": "title", "value": "Director of Localization"}]),
    )
    .await;
    let step = next(&app, dir, &seen, &["user.updated"]).await;
    let user = &step[0]["data"]["user"];
    assert_eq!(
        user["groups"],
        json!([
            group_ref(&engineering, "Engineering", &engineering_oid),
            group_ref(&berlin, "Berlin Office", &berlin_oid)
        ])
    );
    assert_eq!(user["teams"], no_teams(), "no rules mark a team");
    assert_eq!(
        parsed_changes(&step[0]),
        vec![change("title", json!("Head of Localization"), json!("Director of Localization"))]
    );
}

// ---------------------------------------------------------------------------------------------
// WorkOS: groups and membership events.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workos_groups_and_membership_changes_are_notified_with_member_ids() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let dir = app.directory_id;
    let ada = create_user(&app, entra_user("ada@workos.com")).await;
    settle(&app, dir, &["user.provisioned"]).await;
    let bob = create_user(&app, entra_user("bob@workos.com")).await;
    let seen = settle(&app, dir, &["user.provisioned", "user.provisioned"]).await;

    let object_id = "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159";
    let group = create_group(&app, "Engineering", object_id).await;
    let step = next(&app, dir, &seen, &["group.created"]).await;
    let created = &step[0]["data"]["group"];
    assert_eq!(created["id"], group.as_str());
    assert_eq!(created["display_name"], "Engineering");
    assert_eq!(created["external_id"], object_id);
    assert_eq!(created["team"], false);
    assert_eq!(created["product_roles"], json!([]));
    let resource: Value =
        serde_json::from_str(created["scim_resource_json"].as_str().unwrap()).unwrap();
    assert_eq!(resource["id"], group.as_str());
    assert_eq!(resource["displayName"], "Engineering");
    assert_eq!(resource["externalId"], object_id);
    assert_eq!(resource["meta"]["resourceType"], "Group");
    assert!(resource.get("members").is_none());
    let seen = app.notifications_after(dir, 0).await;

    // §3.5: both users in one PATCH.
    patch(
        &app,
        &format!("/Groups/{group}"),
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": ada}, {"$ref": null, "value": bob}]}]),
    )
    .await;
    let step = next(&app, dir, &seen, &["group.member_added"]).await;
    let mut both = [ada.clone(), bob.clone()];
    both.sort();
    assert_eq!(step[0]["data"]["group"]["id"], group.as_str());
    assert_eq!(step[0]["data"]["group"]["external_id"], object_id);
    assert_eq!(
        step[0]["data"]["members"],
        json!([{"id": both[0], "kind": 1}, {"id": both[1], "kind": 1}])
    );
    let seen = app.notifications_after(dir, 0).await;

    // §6.4 without the flag, then with it.
    remove_member(&app, &group, &bob).await;
    let step = next(&app, dir, &seen, &["group.member_removed"]).await;
    assert_eq!(step[0]["data"]["group"]["id"], group.as_str());
    assert_eq!(step[0]["data"]["members"], json!([{"id": bob, "kind": 1}]));
    let seen = app.notifications_after(dir, 0).await;
    patch(
        &app,
        &format!("/Groups/{group}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{ada}\"]")}]),
    )
    .await;
    let step = next(&app, dir, &seen, &["group.member_removed"]).await;
    assert_eq!(step[0]["data"]["members"], json!([{"id": ada, "kind": 1}]));
    let seen = app.notifications_after(dir, 0).await;

    // §3.4: a rename is a group.updated naming the field.
    patch(
        &app,
        &format!("/Groups/{group}"),
        json!([{"op": "Replace", "path": "displayName", "value": "Platform Engineering"}]),
    )
    .await;
    let step = next(&app, dir, &seen, &["group.updated"]).await;
    assert_eq!(step[0]["data"]["group"]["display_name"], "Platform Engineering");
    assert_eq!(
        parsed_changes(&step[0]),
        vec![change("display_name", json!("Engineering"), json!("Platform Engineering"))]
    );
}

// ---------------------------------------------------------------------------------------------
// A rules change reconciles every user and notifies only those whose access changed.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_rules_notifies_only_users_whose_access_changed() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let dir = app.directory_id;
    let rules = |vendor_role: &str| {
        json!({
            "appRoles": [
                {"appRole": "admin", "productRole": "administrator"},
                {"appRole": "vendor", "productRole": vendor_role}
            ],
            "defaultRole": "member"
        })
    };
    app.set_role_mappings(dir, rules("vendor")).await;

    let people = [
        ("u1@contoso.com", Some("admin"), "administrator"),
        ("u2@contoso.com", Some("vendor"), "vendor"),
        ("u3@contoso.com", None, "member"),
        ("u4@contoso.com", Some("vendor"), "vendor"),
        ("u5@contoso.com", Some("reader"), "member"),
    ];
    let mut ids = Vec::new();
    let mut expected = Vec::new();
    for (user_name, role, product_role) in people {
        let body = match role {
            Some(role) => user_with_role(user_name, role),
            None => entra_user(user_name),
        };
        ids.push(create_user(&app, body).await);
        expected.push("user.provisioned");
        let all = settle(&app, dir, &expected).await;
        assert_eq!(all.last().unwrap()["data"]["user"]["product_roles"], json!([product_role]));
    }
    let seen = app.notifications_after(dir, 0).await;

    let set = app.set_role_mappings(dir, rules("supplier")).await;
    assert_eq!(set["version"], 2);
    let step = next(&app, dir, &seen, &["user.access_changed", "user.access_changed"]).await;
    same_cause(&step);
    let rules_row = roster_store::mapping_rules::current(&mut app.db.conn(), dir).unwrap().unwrap();
    assert_eq!(rules_row.version, 2);
    assert_eq!(step[0]["cause_event_id"], rules_row.event_id.to_string(), "caused by the rules");
    assert_eq!(
        step[0]["occurred_at"],
        rules_row.changed_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    );
    let changed: BTreeSet<String> =
        step.iter().map(|n| n["data"]["user"]["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(changed, BTreeSet::from([ids[1].clone(), ids[3].clone()]));
    for n in &step {
        assert_eq!(n["data"]["before"], access(&["vendor"], no_teams()));
        assert_eq!(n["data"]["after"], access(&["supplier"], no_teams()));
        assert_eq!(n["data"]["user"]["product_roles"], json!(["supplier"]));
        assert_eq!(n["data"]["user"]["app_roles"], json!(["vendor"]));
    }
    let seen = app.notifications_after(dir, 0).await;

    // Nothing else follows from the rules change: the next write's notification comes next.
    create_user(&app, user_with_role("u6@contoso.com", "vendor")).await;
    let step = next(&app, dir, &seen, &["user.provisioned"]).await;
    assert_eq!(step[0]["data"]["user"]["product_roles"], json!(["supplier"]));
}

// ---------------------------------------------------------------------------------------------
// The Events API: paging and who may read it.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_api_pages_and_answers_only_its_tenant() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let dir = app.directory_id;
    let mut expected = Vec::new();
    for i in 0..5 {
        create_user(&app, entra_user(&format!("page{i}@contoso.com"))).await;
        expected.push("user.provisioned");
        settle(&app, dir, &expected).await;
    }
    let all = app.notifications_after(dir, 0).await;

    let page = |after: i64, limit: i64| {
        let app = &app;
        async move {
            let response = app
                .admin(
                    reqwest::Method::GET,
                    &format!("/directories/{dir}/notifications?after={after}&limit={limit}"),
                    None,
                )
                .await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let mut paged = Vec::new();
    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let body = page(after, 2).await;
        let notifications = body["notifications"].as_array().unwrap().clone();
        let sequences: Vec<i64> =
            notifications.iter().map(|n| n["sequence"].as_i64().unwrap()).collect();
        pages.push(sequences.clone());
        let expected_next = sequences.last().copied().unwrap_or(after);
        assert_eq!(body["next_after"], expected_next);
        if notifications.is_empty() {
            break;
        }
        paged.extend(notifications);
        after = expected_next;
        assert!(pages.len() <= 4, "paging does not end: {pages:?}");
    }
    assert_eq!(pages, vec![vec![1, 2], vec![3, 4], vec![5], vec![]]);
    assert_eq!(paged, all, "the pages are the stream");
    let tail = page(3, 1000).await;
    assert_eq!(tail["notifications"].as_array().unwrap().as_slice(), &all[3..]);
    assert_eq!(page(99, 10).await, json!({"notifications": [], "next_after": 99}));

    // Bad paging parameters.
    for query in ["after=-1", "limit=0", "limit=1001", "after=x"] {
        let response = app
            .admin(reqwest::Method::GET, &format!("/directories/{dir}/notifications?{query}"), None)
            .await;
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }

    let url = format!("{}/admin/v1/directories/{dir}/notifications?after=0", app.base_url);
    // The tenant's own scoped token reads it.
    let own = app
        .client
        .get(&url)
        .bearer_auth(app.admin_token(Some(app.tenant_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(own.json::<Value>().await.unwrap()["notifications"].as_array().unwrap().len(), 5);
    // Another tenant's token: as if the directory did not exist.
    let other = control::ensure_tenant(&mut app.db.conn(), "Another Tenant").unwrap();
    assert_ne!(other.id, app.tenant_id);
    let foreign = app.admin_token(Some(other.id));
    for path in ["notifications?after=0", "role-mappings", ""] {
        let url = format!("{}/admin/v1/directories/{dir}/{path}", app.base_url);
        let url = url.trim_end_matches('/').to_string();
        let response = app.client.get(&url).bearer_auth(&foreign).send().await.unwrap();
        assert_eq!(response.status(), 404, "{url}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
    let response = app
        .client
        .put(format!("{}/admin/v1/directories/{dir}/role-mappings", app.base_url))
        .bearer_auth(&foreign)
        .json(&json!({"defaultRole": "intruder"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // No token, or not an admin token (a SCIM token): 401.
    let response = app.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let response = app.client.get(&url).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(response.status(), 401);
    // The refused rules change changed nothing.
    assert_eq!(app.notifications_after(dir, 0).await, all);
    let rules: Value = app
        .admin(reqwest::Method::GET, &format!("/directories/{dir}/role-mappings"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rules["version"], 0);
}

// ---------------------------------------------------------------------------------------------
// The rules endpoint: validation and optimistic concurrency.

async fn put_rules(app: &TestApp, rules: &Value, if_match: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .put(format!("{}/admin/v1/directories/{}/role-mappings", app.base_url, app.directory_id))
        .bearer_auth(app.admin_token(None))
        .json(rules);
    if let Some(tag) = if_match {
        request = request.header("If-Match", tag);
    }
    request.send().await.unwrap()
}

async fn problem(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    body["detail"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_rules_are_400_and_a_stale_if_match_is_412() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let dir = app.directory_id;
    // Rules are applied to the users there are.
    create_user(&app, user_with_role("ada@contoso.com", "admin")).await;
    let seen = settle(&app, dir, &["user.provisioned"]).await;
    assert_eq!(seen[0]["data"]["user"]["product_roles"], json!([]));

    let invalid = [
        (
            json!({"groups": [{"productRole": "sales"}]}),
            "groups[0]: needs displayName or externalId",
        ),
        (
            json!({"groups": [{"displayName": "Sales"}]}),
            "groups[0]: needs productRole or \"team\": true",
        ),
        (
            json!({"appRoles": [{"appRole": "admin", "productRole": ""}]}),
            "appRoles[0].productRole: must not be empty",
        ),
        (json!({"defaultRole": "member", "rolez": []}), "rolez: unknown field"),
        (json!({"policy": "lowest"}), "policy: must be \"all\" or \"highest\""),
        (
            json!({"policy": "highest", "appRoles": [{"appRole": "admin", "productRole": "administrator"}]}),
            "appRoles[0].productRole: \"administrator\" is not listed in priority",
        ),
        (json!(["admin"]), "the mapping rules must be a JSON object"),
    ];
    for (rules, detail) in invalid {
        let got = problem(put_rules(&app, &rules, None).await, 400).await;
        assert!(got.starts_with(detail), "{rules}: {got:?} names {detail:?}");
    }
    let response = app
        .client
        .put(format!("{}/admin/v1/directories/{dir}/role-mappings", app.base_url))
        .bearer_auth(app.admin_token(None))
        .header("Content-Type", "application/json")
        .body("{\"appRoles\": [")
        .send()
        .await
        .unwrap();
    let got = problem(response, 400).await;
    assert!(got.starts_with("the body is not JSON"), "{got}");
    let current: Value = app
        .admin(reqwest::Method::GET, &format!("/directories/{dir}/role-mappings"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(current["version"], 0, "refused rules are not stored");

    // Versions: PUT without If-Match, then with the current one, then with a stale one.
    let v1 = json!({"appRoles": [{"appRole": "admin", "productRole": "administrator"}]});
    let response = put_rules(&app, &v1, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let body: Value = response.json().await.unwrap();
    assert_eq!((body["version"].clone(), body["rules"].clone()), (json!(1), v1.clone()));
    let step = next(&app, dir, &seen, &["user.access_changed"]).await;
    assert_eq!(step[0]["data"]["after"], access(&["administrator"], no_teams()));
    let seen = app.notifications_after(dir, 0).await;

    let v2 = json!({"appRoles": [{"appRole": "admin", "productRole": "owner"}]});
    let response = put_rules(&app, &v2, Some("\"1\"")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let step = next(&app, dir, &seen, &["user.access_changed"]).await;
    assert_eq!(step[0]["data"]["before"], access(&["administrator"], no_teams()));
    assert_eq!(step[0]["data"]["after"], access(&["owner"], no_teams()));
    let seen = app.notifications_after(dir, 0).await;

    let stale = json!({"appRoles": [{"appRole": "admin", "productRole": "intruder"}]});
    let detail = problem(put_rules(&app, &stale, Some("\"1\"")).await, 412).await;
    assert!(detail.contains('2'), "names the current version: {detail}");
    let detail = problem(put_rules(&app, &stale, Some("W/\"1\"")).await, 412).await;
    assert!(detail.contains('2'), "{detail}");
    let got = problem(put_rules(&app, &stale, Some("yesterday")).await, 400).await;
    assert!(got.contains("If-Match"), "{got}");

    let response =
        app.admin(reqwest::Method::GET, &format!("/directories/{dir}/role-mappings"), None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let current: Value = response.json().await.unwrap();
    assert_eq!(current["version"], 2);
    assert_eq!(current["rules"], v2);

    // Nothing came of the refused changes: the next write's notification follows directly.
    create_user(&app, entra_user("bob@contoso.com")).await;
    let step = next(&app, dir, &seen, &["user.provisioned"]).await;
    assert_eq!(step[0]["data"]["user"]["product_roles"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// Kafka: CloudEvents headers, keyed by directory.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_records_carry_cloudevents_headers_and_the_directory_key() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let main = app.directory_id;
    let rooms = control::ensure_directory(&mut app.db.conn(), app.tenant_id, "rooms").unwrap().id;
    let (_, rooms_token) = app.issue_token(rooms);

    let user = create_user(&app, entra_user("ada@contoso.com")).await;
    settle(&app, main, &["user.provisioned"]).await;
    let group = create_group(&app, "Sales", &Uuid::new_v4().to_string()).await;
    let main_stream = settle(&app, main, &["user.provisioned", "group.created"]).await;
    let response = scim(
        &app,
        rooms,
        &rooms_token,
        reqwest::Method::POST,
        "/Users",
        Some(entra_user("room-1@contoso.com")),
    )
    .await;
    assert_eq!(response.status(), 201);
    let room_user = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let rooms_stream = settle(&app, rooms, &["user.provisioned"]).await;

    let records = eventually(Duration::from_secs(60), "3 notifications on Kafka", || {
        let app = &app;
        async move {
            let records = app.consume_notifications(3).await;
            (records.len() >= 3).then_some(records)
        }
    })
    .await;
    assert_eq!(records.len(), 3, "each notification once");

    let mut partitions: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    let mut by_directory: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for record in &records {
        let n = &record.notification;
        assert_eq!(record.key.as_deref(), Some(n.directory_id.as_str()), "keyed by the directory");
        partitions.entry(n.directory_id.clone()).or_default().insert(record.partition);
        by_directory.entry(n.directory_id.clone()).or_default().push(n.sequence);
        let stream = if n.directory_id == main.to_string() { &main_stream } else { &rooms_stream };
        let json = stream.iter().find(|j| j["sequence"] == n.sequence).unwrap_or_else(|| {
            panic!("sequence {} of {} in the Events API", n.sequence, n.directory_id)
        });
        assert_eq!(
            roster_events::notification::to_json(n),
            *json,
            "Kafka and the Events API agree"
        );
        let subject = json["data"]["user"]["id"]
            .as_str()
            .or_else(|| json["data"]["group"]["id"].as_str())
            .unwrap()
            .to_string();
        let expected: BTreeMap<String, String> = [
            ("ce_specversion", "1.0".to_string()),
            ("ce_id", n.id.clone()),
            ("ce_source", format!("/roster/directories/{}", n.directory_id)),
            ("ce_type", json["type"].as_str().unwrap().to_string()),
            ("ce_time", json["occurred_at"].as_str().unwrap().to_string()),
            ("ce_sequence", n.sequence.to_string()),
            ("ce_subject", subject),
            ("content-type", "application/protobuf".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(record.headers, expected);
    }
    assert_eq!(by_directory[&main.to_string()], [1, 2], "in sequence order");
    assert_eq!(by_directory[&rooms.to_string()], [1]);
    assert!(
        partitions.values().all(|p| p.len() == 1),
        "one partition per directory: {partitions:?}"
    );
    let subjects: BTreeSet<String> =
        records.iter().map(|r| r.headers["ce_subject"].clone()).collect();
    assert_eq!(subjects, BTreeSet::from([user, group, room_user]));
}
