//! Creating, reading and finding users as Entra does.

use std::collections::HashSet;

use roster_integration_tests::{TestApp, entra_user};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_then_get_then_filter() {
    let app = TestApp::spawn().await;
    let response = app.post_user(&entra_user("Test_User_00aa00aa")).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "application/scim+json");
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert!(!id.is_empty());
    assert!(created["meta"]["created"].is_string());
    assert_eq!(created["meta"]["location"], location);
    assert_eq!(location, format!("{}/Users/{id}", app.scim_url()));
    assert_eq!(created["meta"]["version"], etag);
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["userName"], "Test_User_00aa00aa");
    assert!(created.get("roles").is_none(), "empty roles are not stored");

    let fetched = app.get(&format!("/Users/{id}")).await;
    assert_eq!(fetched.status(), 200);
    let fetched: Value = fetched.json().await.unwrap();
    assert_eq!(fetched, created, "GET returns what POST returned");

    // Entra's query, form-encoded with + for spaces, userName in another case.
    let found = app.get("/Users?filter=userName+eq+%22test_user_00AA00AA%22").await;
    assert_eq!(found.status(), 200);
    let found: Value = found.json().await.unwrap();
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id);

    // The same with Entra's feature flag and parameters in another order.
    let found: Value = app
        .get(&format!(
            "/Users?aadOptscim062020&count=10&filter=externalId%20eq%20%22{}%22",
            created["externalId"].as_str().unwrap()
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["totalResults"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_probe_finds_nothing_with_200() {
    let app = TestApp::spawn().await;
    let response =
        app.get("/Users?filter=userName+eq+%227d420df3-9995-4831-a406-ecf8166f5f6a%22").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:ListResponse");
    assert_eq!(body["totalResults"], 0);
    assert_eq!(body["Resources"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_is_a_scim_404() {
    let app = TestApp::spawn().await;
    for path in ["/Users/5d48a0a8-e9f0-4aa3-8008-000000000000", "/Users/not-a-uuid"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "404");
        assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_user_name_in_another_case_is_409_uniqueness() {
    let app = TestApp::spawn().await;
    assert_eq!(app.post_user(&entra_user("Ada.Lovelace@contoso.com")).await.status(), 201);
    let response = app.post_user(&entra_user("ada.lovelace@CONTOSO.com")).await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scimType"], "uniqueness");
    assert_eq!(body["status"], "409");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_creates_of_one_user_name_give_exactly_one_201() {
    let app = TestApp::spawn().await;
    let requests = (0..50).map(|i| {
        let name = if i % 2 == 0 { "race@contoso.com" } else { "RACE@contoso.com" };
        let body = entra_user(name);
        let app = &app;
        async move { app.post_user(&body).await.status().as_u16() }
    });
    let statuses = futures::future::join_all(requests).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 49, "{statuses:?}");
    let found: Value =
        app.get("/Users?filter=userName+eq+%22race@contoso.com%22").await.json().await.unwrap();
    assert_eq!(found["totalResults"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_bodies_are_scim_400s_and_are_not_published() {
    let app = TestApp::spawn().await;
    let cases = [
        ("not json", "invalidSyntax"),
        ("[1,2]", "invalidSyntax"),
        ("{\"userName\": \"\"}", "invalidValue"),
        ("{\"userName\": \"u\", \"active\": \"maybe\"}", "invalidValue"),
        ("{\"userName\": \"u\", \"emails\": \"x@y\"}", "invalidValue"),
    ];
    for (body, scim_type) in cases {
        let response = app
            .client
            .post(format!("{}/Users", app.scim_url()))
            .bearer_auth(&app.token)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["scimType"], scim_type, "{body}");
    }
    assert_eq!(app.published_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_413_and_unknown_paths_are_scim_404() {
    let app = TestApp::spawn_with(|s| s.gateway.max_body_bytes = 4096).await;
    let mut body = entra_user("big");
    body["nickName"] = json!("x".repeat(5000));
    let response = app.post_user(&body).await;
    assert_eq!(response.status(), 413);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["status"], "413");

    let response = app.get("/Nope").await;
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");

    let response = app
        .client
        .delete(format!("{}/Users", app.scim_url()))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

/// Filter length and nesting limits come from the settings: beyond them, 400 `invalidFilter`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_limits_are_configurable() {
    let app = TestApp::spawn_with(|s| {
        s.gateway.max_filter_len = 80;
        s.gateway.max_filter_depth = 3;
    })
    .await;
    let fits = "userName eq \"a\" and (title pr or nickName pr)";
    let response = app.get(&format!("/Users?filter={}", urlencode(fits))).await;
    assert_eq!(response.status(), 200);
    let too_deep = "userName eq \"a\" and (title pr or (nickName pr and title pr))";
    let too_long = format!("userName eq \"{}\"", "a".repeat(80));
    for (filter, what) in [(too_deep, "depth"), (too_long.as_str(), "length")] {
        let response = app.get(&format!("/Users?filter={}", urlencode(filter))).await;
        assert_eq!(response.status(), 400, "{what}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["scimType"], "invalidFilter", "{what}: {error}");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_through_users() {
    let app = TestApp::spawn().await;
    let mut ids = HashSet::new();
    for i in 0..5 {
        let created: Value =
            app.post_user(&entra_user(&format!("page{i}"))).await.json().await.unwrap();
        ids.insert(created["id"].as_str().unwrap().to_string());
    }
    let mut seen = HashSet::new();
    for start in [1, 3, 5] {
        let page: Value =
            app.get(&format!("/Users?startIndex={start}&count=2")).await.json().await.unwrap();
        assert_eq!(page["totalResults"], 5);
        assert_eq!(page["startIndex"], start);
        for user in page["Resources"].as_array().unwrap() {
            assert!(seen.insert(user["id"].as_str().unwrap().to_string()), "pages overlap");
        }
    }
    assert_eq!(seen, ids);
    let response = app.get("/Users?count=abc").await;
    assert_eq!(response.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_filter_sorted_and_paged_is_answered_from_postgres() {
    let app = TestApp::spawn().await;
    for name in ["carol", "alice", "bob"] {
        let mut user = entra_user(name);
        user["title"] = json!(if name == "bob" { "Engineer" } else { "Manager" });
        assert_eq!(app.post_user(&user).await.status(), 201);
    }
    // Entra's non-RFC value-path filter, and an RFC one with and/not, sorted descending.
    let found: Value = app
        .get("/Users?filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22ALICE@testuser.com%22")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["userName"], "alice");
    let found: Value = app
        .get("/Users?filter=title+eq+%22manager%22+and+not+(userName+sw+%22c%22)&sortBy=userName&sortOrder=descending")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["userName"], "alice");
    let sorted: Value =
        app.get("/Users?sortBy=userName&sortOrder=descending&count=2").await.json().await.unwrap();
    let names: Vec<&str> = sorted["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["carol", "bob"]);
    assert_eq!(sorted["totalResults"], 3);
    // A malformed filter is 400 invalidFilter.
    let response = app.get("/Users?filter=userName+eq").await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["scimType"], "invalidFilter");
}
