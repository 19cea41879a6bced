//! PUT, PATCH and DELETE of users, as Entra sends them (docs/entra/requests.md §2.5–2.8, §6.1).

use diesel::prelude::*;
use roster_integration_tests::{TestApp, entra_user};
use roster_store::schema::{directories, event_outcomes, users};
use serde_json::{Value, json};

async fn create(app: &TestApp, user_name: &str) -> Value {
    let response = app.post_user(&entra_user(user_name)).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn read(app: &TestApp, id: &str) -> Value {
    let response = app.get(&format!("/Users/{id}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_disable_in_both_dialects_keeps_the_user_readable() {
    let app = TestApp::spawn().await;
    let user = create(&app, "disable.me@contoso.com").await;
    let id = user["id"].as_str().unwrap();
    // Default dialect (§6.1 "without"): capitalised op, boolean as a string.
    let response = app
        .send(
            reqwest::Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}]
            })),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "W/\"2\"");
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["active"], false);
    assert_eq!(patched["meta"]["version"], "W/\"2\"");
    assert_eq!(patched["meta"]["created"], user["meta"]["created"]);
    // Inactive users are still returned, by id and by filter.
    let fetched: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert_eq!(fetched["active"], false);
    let found: Value = app
        .get("/Users?filter=userName+eq+%22disable.me@contoso.com%22")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["totalResults"], 1);
    // Compliant dialect (§6.1 "with"): path-less replace with a real boolean.
    let response = app
        .send(
            reqwest::Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": {"active": true}}]
            })),
        )
        .await;
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["active"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_multi_valued_update_creates_the_filtered_element() {
    let app = TestApp::spawn().await;
    let user = create(&app, "multi@contoso.com").await;
    let id = user["id"].as_str().unwrap();
    // §2.5: update emails and names with filtered paths.
    let response = app.send(reqwest::Method::PATCH, &format!("/Users/{id}"), Some(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555 0100"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Sales"}
        ]
    }))).await;
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(patched["emails"][0]["primary"], true, "sibling sub-attributes are kept");
    assert_eq!(patched["name"]["familyName"], "updatedFamilyName");
    assert_eq!(patched["phoneNumbers"], json!([{"type": "work", "value": "+1 555 0100"}]));
    assert_eq!(
        patched["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "Sales"
    );
    let fetched: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert_eq!(fetched, patched, "PATCH then GET shows what PATCH answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_guards_writes() {
    let app = TestApp::spawn().await;
    let user = create(&app, "etag@contoso.com").await;
    let id = user["id"].as_str().unwrap();
    let body = json!({"Operations": [{"op": "replace", "path": "displayName", "value": "E"}]});
    let stale = app
        .client
        .patch(format!("{}/Users/{id}", app.scim_url()))
        .bearer_auth(&app.token)
        .header("If-Match", "W/\"7\"")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let fresh = app
        .client
        .patch(format!("{}/Users/{id}", app.scim_url()))
        .bearer_auth(&app.token)
        .header("If-Match", "W/\"1\"")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    let fetched: Value = app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert_eq!(fetched["displayName"], "E");
    // If-None-Match: 304 for the current version, the resource for an older one.
    let get_if_none_match = |tag: &'static str| {
        app.client
            .get(format!("{}/Users/{id}", app.scim_url()))
            .bearer_auth(&app.token)
            .header("If-None-Match", tag)
            .send()
    };
    assert_eq!(get_if_none_match("W/\"2\"").await.unwrap().status(), 304);
    assert_eq!(get_if_none_match("W/\"1\"").await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_replaces_and_keeps_user_names_unique() {
    let app = TestApp::spawn().await;
    create(&app, "taken@contoso.com").await;
    let user = create(&app, "mover@contoso.com").await;
    let id = user["id"].as_str().unwrap();
    let mut replacement = entra_user("Moved@Contoso.com");
    replacement["displayName"] = json!("Moved");
    let response = app.send(reqwest::Method::PUT, &format!("/Users/{id}"), Some(replacement)).await;
    assert_eq!(response.status(), 200);
    let replaced: Value = response.json().await.unwrap();
    assert_eq!(replaced["userName"], "Moved@Contoso.com");
    assert_eq!(replaced["id"], id);
    assert_eq!(replaced["meta"]["created"], user["meta"]["created"]);

    let response = app
        .send(reqwest::Method::PUT, &format!("/Users/{id}"), Some(entra_user("TAKEN@contoso.com")))
        .await;
    assert_eq!(response.status(), 409);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["scimType"], "uniqueness");
}

/// A create, a replace and a PATCH answer exactly what a read then shows. The create's and the
/// replace's outcomes hold only `meta` (the gateway answers from the resource it published,
/// design 0009); the PATCH's, computed by the projector, holds the resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_answer_what_a_read_shows_and_outcomes_keep_only_what_the_gateway_lacks() {
    let app = TestApp::spawn().await;
    let mut body = entra_user("Echo@Contoso.com");
    body["displayName"] = json!("Échō");
    body["nickName"] = Value::Null;
    body["EMAILS"] = json!([{"Value": "Echo@Contoso.com", "type": "work", "primary": "True"}]);
    body.as_object_mut().unwrap().remove("emails");
    body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
        json!({"department": "R&D", "manager": {"value": "m-1"}});
    body["favouriteColour"] = json!("teal");
    let response = app.post_user(&body).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created, read(&app, &id).await);
    assert_eq!(created["emails"][0]["value"], "Echo@Contoso.com", "{created}");

    let mut replacement = body.clone();
    replacement["displayName"] = json!("Replaced");
    let response = app.send(reqwest::Method::PUT, &format!("/Users/{id}"), Some(replacement)).await;
    assert_eq!(response.status(), 200);
    let replaced: Value = response.json().await.unwrap();
    assert_eq!(replaced["displayName"], "Replaced");
    assert_eq!(replaced, read(&app, &id).await);

    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "displayName", "value": "Patched"}],
    });
    let response = app.send(reqwest::Method::PATCH, &format!("/Users/{id}"), Some(patch)).await;
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["displayName"], "Patched");
    assert_eq!(patched, read(&app, &id).await);

    let mut conn = app.db.conn();
    let bodies: Vec<Value> = event_outcomes::table
        .filter(event_outcomes::directory_id.eq(app.directory_id))
        .order(event_outcomes::kafka_offset)
        .select(event_outcomes::body.assume_not_null())
        .load(&mut conn)
        .unwrap();
    let versions: Vec<(i64, bool)> = bodies
        .iter()
        .map(|b| (b["version"].as_i64().unwrap(), b.get("resource").is_some()))
        .collect();
    assert_eq!(versions, [(1, false), (2, false), (3, true)], "{bodies:?}");
    assert_eq!(bodies[2]["resource"]["displayName"], "Patched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_keeps_a_tombstone_that_answers_404_and_frees_the_user_name() {
    let app = TestApp::spawn().await;
    let user = create(&app, "leaver@contoso.com").await;
    let id = user["id"].as_str().unwrap();
    let response = app.send(reqwest::Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(response.status(), 204);
    assert_eq!(app.get(&format!("/Users/{id}")).await.status(), 404);
    let found: Value =
        app.get("/Users?filter=userName+eq+%22leaver@contoso.com%22").await.json().await.unwrap();
    assert_eq!(found["totalResults"], 0);
    assert_eq!(
        app.send(reqwest::Method::DELETE, &format!("/Users/{id}"), None).await.status(),
        404
    );
    let patch = json!({"Operations": [{"op": "replace", "path": "active", "value": false}]});
    assert_eq!(
        app.send(reqwest::Method::PATCH, &format!("/Users/{id}"), Some(patch)).await.status(),
        404
    );
    // The history stays; the userName is free again.
    let mut conn = app.db.conn();
    let kept: i64 =
        users::table.filter(users::deleted_at.is_not_null()).count().get_result(&mut conn).unwrap();
    assert_eq!(kept, 1);
    create(&app, "leaver@contoso.com").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_under_the_erase_policy_removes_the_row() {
    let app = TestApp::spawn().await;
    let mut conn = app.db.conn();
    diesel::update(directories::table.find(app.directory_id))
        .set(directories::deprovision_policy.eq("erase"))
        .execute(&mut conn)
        .unwrap();
    let user = create(&app, "erased@contoso.com").await;
    let id = user["id"].as_str().unwrap();
    assert_eq!(
        app.send(reqwest::Method::DELETE, &format!("/Users/{id}"), None).await.status(),
        204
    );
    assert_eq!(users::table.count().get_result::<i64>(&mut conn).unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_patches_are_400s_with_scim_type_and_unknown_ids_404() {
    let app = TestApp::spawn().await;
    let user = create(&app, "patchy@contoso.com").await;
    let id = user["id"].as_str().unwrap();
    let cases = [
        (json!({"Operations": [{"op": "jump", "path": "active", "value": true}]}), "invalidSyntax"),
        (
            json!({"Operations": [{"op": "replace", "path": "emails[type eq", "value": "x"}]}),
            "invalidPath",
        ),
        (
            json!({"Operations": [{"op": "replace", "path": "active", "value": "maybe"}]}),
            "invalidValue",
        ),
        (json!({"Operations": [{"op": "remove"}]}), "noTarget"),
        (json!({"Operations": [{"op": "replace", "path": "id", "value": "x"}]}), "mutability"),
    ];
    for (body, scim_type) in cases {
        let response =
            app.send(reqwest::Method::PATCH, &format!("/Users/{id}"), Some(body.clone())).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["scimType"], scim_type, "{body}");
    }
    let response = app
        .send(
            reqwest::Method::PATCH,
            "/Users/5d48a0a8-e9f0-4aa3-8008-000000000000",
            Some(json!({"Operations": [{"op": "replace", "path": "active", "value": false}]})),
        )
        .await;
    assert_eq!(response.status(), 404);
}

/// The projector's multi-row create: rows are taken in order, so within one statement the first
/// of two userNames that fold alike wins, as do the first of two equal ids; the others are not
/// inserted, whatever their neighbours (and a tombstone does not hold its userName).
#[test]
fn multi_row_insert_keeps_the_first_of_each_conflict_in_order() {
    use roster_integration_tests::{TestDatabase, test_settings};
    use roster_scim::user::User;
    use roster_store::control;
    use roster_store::users::{self as store_users, UserRow};
    use uuid::Uuid;

    let db = TestDatabase::create(&test_settings().database.url);
    let mut conn = db.conn();
    let tenant = control::ensure_tenant(&mut conn, "Batch").unwrap();
    let directory = control::ensure_directory(&mut conn, tenant.id, "batch").unwrap().id;
    let row = |id: Uuid, user_name: &str| {
        let user = User::from_request(entra_user(user_name)).unwrap();
        UserRow::new(directory, id, &user, chrono::Utc::now())
    };
    let gone = row(Uuid::new_v4(), "gone@contoso.com");
    store_users::insert(&mut conn, &UserRow { deleted_at: Some(chrono::Utc::now()), ..gone })
        .unwrap();
    let taken = row(Uuid::new_v4(), "taken@contoso.com");
    store_users::insert(&mut conn, &taken).unwrap();

    let first = Uuid::new_v4();
    let rows = vec![
        row(first, "ΣΑΣ@contoso.com"),
        row(Uuid::new_v4(), "σας@CONTOSO.com"), // folds like the first: not inserted
        row(first, "other@contoso.com"),        // the first's id: not inserted
        row(Uuid::new_v4(), "TAKEN@contoso.com"), // taken before the statement
        row(Uuid::new_v4(), "gone@contoso.com"), // only a tombstone holds it: inserted
        row(taken.id, "fresh@contoso.com"),     // an existing id: not inserted
    ];
    let inserted = store_users::insert_many_if_absent(&mut conn, &rows).unwrap();
    let expected: std::collections::HashSet<(Uuid, Uuid)> =
        [(rows[0].id, directory), (rows[4].id, directory)].into_iter().collect();
    assert_eq!(inserted, expected);
    let stored = store_users::find(&mut conn, directory, first).unwrap().unwrap();
    assert_eq!(stored.user_name, "ΣΑΣ@contoso.com", "the first row of the id is the one kept");
    assert_eq!(store_users::count(&mut conn, directory).unwrap(), 3);
}
