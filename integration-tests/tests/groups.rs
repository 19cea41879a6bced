//! Groups as Entra provisions them (docs/entra/requests.md §3, §6.4), membership in its own
//! table, and a 10,000-member PATCH.

use diesel::prelude::*;
use roster_integration_tests::{TestApp, entra_user};
use roster_store::schema::group_members;
use serde_json::{Value, json};

async fn user_id(app: &TestApp, user_name: &str) -> String {
    let created: Value = app.post_user(&entra_user(user_name)).await.json().await.unwrap();
    created["id"].as_str().unwrap().to_string()
}

/// §3.1, verbatim apart from the name: Entra's extra schema URI and an empty members list.
fn entra_group(display_name: &str) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:Group",
            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": display_name,
        "meta": {"resourceType": "Group"},
        "members": []
    })
}

async fn members(app: &TestApp, group: &str) -> Vec<String> {
    let body: Value = app
        .send(reqwest::Method::GET, &format!("/Groups/{group}"), None)
        .await
        .json()
        .await
        .unwrap();
    let mut ids: Vec<String> = body["members"]
        .as_array()
        .map(|m| m.iter().map(|m| m["value"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_group_lifecycle() {
    let app = TestApp::spawn().await;
    let (ada, bob, cy) =
        (user_id(&app, "ada").await, user_id(&app, "bob").await, user_id(&app, "cy").await);

    let response =
        app.send(reqwest::Method::POST, "/Groups", Some(entra_group("Group1DisplayName"))).await;
    assert_eq!(response.status(), 201);
    let group: Value = response.json().await.unwrap();
    let id = group["id"].as_str().unwrap().to_string();
    assert_eq!(group["displayName"], "Group1DisplayName");
    assert_eq!(group["meta"]["resourceType"], "Group");
    assert_eq!(group["members"], json!([]));

    // §3.3: matched by displayName, members excluded.
    let found: Value = app
        .send(
            reqwest::Method::GET,
            "/Groups?excludedAttributes=members&filter=displayName+eq+%22group1displayname%22",
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["totalResults"], 1);
    assert!(found["Resources"][0].get("members").is_none());

    // §3.5: add members (default dialect, `$ref: null`).
    let add = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "members",
            "value": [{"$ref": null, "value": ada}, {"$ref": null, "value": bob}, {"$ref": null, "value": cy}]}]
    });
    let response = app.send(reqwest::Method::PATCH, &format!("/Groups/{id}"), Some(add)).await;
    assert_eq!(response.status(), 204);
    let mut all = vec![ada.clone(), bob.clone(), cy.clone()];
    all.sort();
    assert_eq!(members(&app, &id).await, all);
    let full: Value =
        app.send(reqwest::Method::GET, &format!("/Groups/{id}"), None).await.json().await.unwrap();
    assert_eq!(full["members"][0]["type"], "User");

    // §3.6 / §6.4 default dialect: remove only the listed member.
    let remove = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Remove", "path": "members", "value": [{"value": ada}]}]});
    assert_eq!(
        app.send(reqwest::Method::PATCH, &format!("/Groups/{id}"), Some(remove)).await.status(),
        204
    );
    // §6.4 compliant dialect: a value filter.
    let remove = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}]});
    assert_eq!(
        app.send(reqwest::Method::PATCH, &format!("/Groups/{id}"), Some(remove)).await.status(),
        204
    );
    assert_eq!(members(&app, &id).await, vec![cy.clone()]);

    // §3.4: rename; a duplicate displayName in another case is 409.
    let rename = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]});
    assert_eq!(
        app.send(reqwest::Method::PATCH, &format!("/Groups/{id}"), Some(rename)).await.status(),
        204
    );
    let other = app.send(reqwest::Method::POST, "/Groups", Some(entra_group("Other"))).await;
    assert_eq!(other.status(), 201);
    let duplicate = app
        .send(
            reqwest::Method::POST,
            "/Groups",
            Some(entra_group("1879DB59-3bdf-4490-ad68-ab880a269474UPDATEDDISPLAYNAME")),
        )
        .await;
    assert_eq!(duplicate.status(), 409);
    let error: Value = duplicate.json().await.unwrap();
    assert_eq!(error["scimType"], "uniqueness");

    // Deprovisioning a user removes it from its groups.
    assert_eq!(
        app.send(reqwest::Method::DELETE, &format!("/Users/{cy}"), None).await.status(),
        204
    );
    assert!(members(&app, &id).await.is_empty());

    // §3.7: delete.
    assert_eq!(
        app.send(reqwest::Method::DELETE, &format!("/Groups/{id}"), None).await.status(),
        204
    );
    assert_eq!(app.send(reqwest::Method::GET, &format!("/Groups/{id}"), None).await.status(), 404);
    assert_eq!(
        app.send(reqwest::Method::DELETE, &format!("/Groups/{id}"), None).await.status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_replaces_members_and_keeps_join_times() {
    let app = TestApp::spawn().await;
    let (ada, bob) = (user_id(&app, "ada").await, user_id(&app, "bob").await);
    let mut body = entra_group("Team");
    body["members"] = json!([{"value": ada}]);
    let created: Value =
        app.send(reqwest::Method::POST, "/Groups", Some(body.clone())).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["members"][0]["value"], ada.as_str());
    let mut conn = app.db.conn();
    let joined = || {
        group_members::table
            .select((group_members::member_id, group_members::added_at))
            .load::<(uuid::Uuid, chrono::DateTime<chrono::Utc>)>(&mut app.db.conn())
            .unwrap()
    };
    let before = joined();
    body["members"] = json!([{"value": ada}, {"value": bob}]);
    let response = app.send(reqwest::Method::PUT, &format!("/Groups/{id}"), Some(body)).await;
    assert_eq!(response.status(), 200);
    let replaced: Value = response.json().await.unwrap();
    assert_eq!(replaced["members"].as_array().unwrap().len(), 2);
    let after = joined();
    let ada_uuid: uuid::Uuid = ada.parse().unwrap();
    let at = |rows: &[(uuid::Uuid, chrono::DateTime<chrono::Utc>)]| {
        rows.iter().find(|r| r.0 == ada_uuid).unwrap().1
    };
    assert_eq!(at(&before), at(&after), "a member who stays keeps its join time");
    assert_eq!(group_members::table.count().get_result::<i64>(&mut conn).unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_adding_and_removing_ten_thousand_members() {
    let app = TestApp::spawn().await;
    // The users are written straight into the projection; the PATCH is what is under test.
    let now = chrono::Utc::now();
    let rows: Vec<roster_store::users::UserRow> = (0..10_000)
        .map(|i| roster_store::users::UserRow {
            directory_id: app.directory_id,
            id: uuid::Uuid::new_v4(),
            user_name: format!("member{i}@contoso.com"),
            external_id: None,
            display_name: None,
            active: true,
            resource: json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("member{i}@contoso.com")}),
            version: 1,
            created_at: now,
            last_modified: now,
            deleted_at: None,
        })
        .collect();
    {
        let mut conn = app.db.conn();
        for chunk in rows.chunks(1000) {
            diesel::insert_into(roster_store::schema::users::table)
                .values(chunk)
                .execute(&mut conn)
                .unwrap();
        }
    }
    let created: Value = app
        .send(reqwest::Method::POST, "/Groups", Some(entra_group("Everyone")))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let value: Vec<Value> = rows.iter().map(|r| json!({"value": r.id.to_string()})).collect();
    let add = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "members", "value": value}]});
    let response = app.send(reqwest::Method::PATCH, &format!("/Groups/{id}"), Some(add)).await;
    assert_eq!(response.status(), 204);
    let mut conn = app.db.conn();
    assert_eq!(group_members::table.count().get_result::<i64>(&mut conn).unwrap(), 10_000);
    // Listing groups without members does not load them.
    let listed: Value = app
        .send(reqwest::Method::GET, "/Groups?excludedAttributes=members", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(listed["Resources"][0].get("members").is_none());

    let remove = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Remove", "path": "members", "value": value}]});
    let response = app.send(reqwest::Method::PATCH, &format!("/Groups/{id}"), Some(remove)).await;
    assert_eq!(response.status(), 204);
    assert_eq!(group_members::table.count().get_result::<i64>(&mut conn).unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_group_requests_are_scim_errors() {
    let app = TestApp::spawn().await;
    let response = app
        .send(
            reqwest::Method::POST,
            "/Groups",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"]})),
        )
        .await;
    assert_eq!(response.status(), 400);
    let created: Value = app
        .send(reqwest::Method::POST, "/Groups", Some(entra_group("G")))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let bad = json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": "not-an-id"}]}]});
    let response = app.send(reqwest::Method::PATCH, &format!("/Groups/{id}"), Some(bad)).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["scimType"], "invalidValue");
    // `$ref` depends on the request's URL: not a filter attribute.
    let response =
        app.send(reqwest::Method::GET, "/Groups?filter=members.%24ref+co+%22x%22", None).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["scimType"], "invalidFilter");
}

/// displayName uniqueness folds case as Rust's `to_lowercase` and the filters do (ICU, not the
/// database's libc): "ΣΑΣ" and "σας" are one name (final sigma), and `displayName eq` finds it
/// by either spelling.
#[tokio::test]
async fn display_name_uniqueness_folds_case_like_the_filters() {
    let app = TestApp::spawn().await;
    let first = app.send(reqwest::Method::POST, "/Groups", Some(entra_group("ΣΑΣ"))).await;
    assert_eq!(first.status(), 201);
    let second = app.send(reqwest::Method::POST, "/Groups", Some(entra_group("σας"))).await;
    assert_eq!(second.status(), 409);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["scimType"], "uniqueness");
    let found: Value = app
        .send(reqwest::Method::GET, "/Groups?filter=displayName+eq+%22%CF%83%CE%B1%CF%82%22", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["displayName"], "ΣΑΣ");
}

async fn list(app: &TestApp, query: &str) -> Value {
    let response = app.send(reqwest::Method::GET, &format!("/Groups?{query}"), None).await;
    assert_eq!(response.status(), 200, "{query}");
    response.json().await.unwrap()
}

/// The displayNames a filter finds (the whole list: totalResults agrees).
async fn names(app: &TestApp, filter: &str) -> Vec<String> {
    let found = list(app, &format!("excludedAttributes=members&filter={}", form(filter))).await;
    let resources = found["Resources"].as_array().cloned().unwrap_or_default();
    assert_eq!(found["totalResults"], resources.len(), "{filter}");
    let mut names: Vec<String> =
        resources.iter().map(|g| g["displayName"].as_str().unwrap().to_string()).collect();
    names.sort();
    names
}

/// `text` form-encoded for a query string (space as `+`).
fn form(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// RFC 7644 §3.4.2.2 filters on groups, `members` included (Entra's reference check §5.4), with
/// paging and sorting; members are shown only for the page's groups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_filters_members_paging_and_sorting() {
    let app = TestApp::spawn().await;
    let (ada, bob, cy) =
        (user_id(&app, "ada").await, user_id(&app, "bob").await, user_id(&app, "cy").await);
    let mut ids = Vec::new();
    let mut modified = Vec::new();
    for (name, members) in [
        ("Lisbon Office", vec![&ada, &bob]),
        ("Lisbon Sales", vec![&ada]),
        ("Porto Office", vec![&cy]),
        ("Empty", vec![]),
    ] {
        let mut body = entra_group(name);
        body["members"] = json!(members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>());
        let response = app.send(reqwest::Method::POST, "/Groups", Some(body)).await;
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.unwrap();
        ids.push(created["id"].as_str().unwrap().to_string());
        modified.push(created["meta"]["lastModified"].as_str().unwrap().to_string());
    }

    // members eq / members.value / members[…].
    assert_eq!(
        names(&app, &format!("members eq \"{ada}\"")).await,
        ["Lisbon Office", "Lisbon Sales"]
    );
    assert_eq!(names(&app, &format!("members.value eq \"{cy}\"")).await, ["Porto Office"]);
    assert_eq!(
        names(&app, &format!("members[value eq \"{bob}\" and type eq \"user\"]")).await,
        ["Lisbon Office"]
    );
    assert_eq!(names(&app, "not (members pr)").await, ["Empty"]);

    // §5.4: `id eq … and members eq …`, unquoted, attributes=id: one group or none.
    let check = |group: &str, member: &str| {
        format!("attributes=id&filter={}", form(&format!("id eq {group} and members eq {member}")))
    };
    let found = list(&app, &check(&ids[0], &bob)).await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], ids[0].as_str());
    assert!(found["Resources"][0].get("members").is_none());
    let found = list(&app, &check(&ids[1], &bob)).await;
    assert_eq!(found["totalResults"], 0);

    // displayName co/sw (case-insensitive), not, or.
    assert_eq!(names(&app, r#"displayName co "OFFICE""#).await, ["Lisbon Office", "Porto Office"]);
    assert_eq!(names(&app, r#"displayName sw "lisbon""#).await, ["Lisbon Office", "Lisbon Sales"]);
    assert_eq!(names(&app, r#"not (displayName sw "lisbon")"#).await, ["Empty", "Porto Office"]);
    assert_eq!(
        names(&app, &format!("displayName eq \"empty\" or members eq \"{cy}\"")).await,
        ["Empty", "Porto Office"]
    );
    // URN-qualified core paths.
    assert_eq!(
        names(&app, r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName ew "sales""#).await,
        ["Lisbon Sales"]
    );
    // meta.lastModified gt: the groups written after the second.
    assert_eq!(
        names(&app, &format!("meta.lastModified gt \"{}\"", modified[1])).await,
        ["Empty", "Porto Office"]
    );

    // Paging and sorting, members of the page's groups only.
    let page = list(&app, "sortBy=displayName&sortOrder=descending&startIndex=2&count=2").await;
    assert_eq!(page["totalResults"], 4);
    assert_eq!(page["startIndex"], 2);
    let resources = page["Resources"].as_array().unwrap();
    let shown: Vec<&str> = resources.iter().map(|g| g["displayName"].as_str().unwrap()).collect();
    assert_eq!(shown, ["Lisbon Sales", "Lisbon Office"]);
    assert_eq!(resources[0]["members"].as_array().unwrap().len(), 1);
    assert_eq!(resources[1]["members"].as_array().unwrap().len(), 2);

    // POST /Groups/.search takes the same filters.
    let response = app
        .send(
            reqwest::Method::POST,
            "/Groups/.search",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": format!("members eq \"{ada}\" and displayName ew \"office\""),
                "excludedAttributes": ["members"]
            })),
        )
        .await;
    assert_eq!(response.status(), 200);
    let found: Value = response.json().await.unwrap();
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], ids[0].as_str());
    assert!(found["Resources"][0].get("members").is_none());

    // An attribute the translation cannot answer, and a sort it cannot do.
    for query in ["filter=members%5B%24ref+co+%22Users%22%5D", "sortBy=members.value"] {
        let response = app.send(reqwest::Method::GET, &format!("/Groups?{query}"), None).await;
        assert_eq!(response.status(), 400, "{query}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["scimType"], "invalidFilter", "{query}");
        assert!(error["detail"].as_str().unwrap().contains("members"), "{query}: {error}");
    }
}
