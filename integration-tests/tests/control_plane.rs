//! The control plane through the admin API (docs/designs/0006-control-plane.md): a vendor
//! onboards a customer with no shell, the customer's Entra connects with what the API gave,
//! tokens rotate and revoke, and every request lands in the provisioning log.

use std::time::Duration;

use reqwest::Method;
use roster_integration_tests::{TestApp, entra_user, eventually};
use serde_json::{Value, json};

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// A SCIM create with the given Tenant URL and token.
async fn create_user(
    app: &TestApp,
    tenant_url: &str,
    token: &str,
    user_name: &str,
) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{tenant_url}/Users"))
        .bearer_auth(token)
        .header("Content-Type", "application/scim+json")
        .header("client-request-id", format!("req-{user_name}"))
        .json(&entra_user(user_name))
        .send()
        .await
        .unwrap();
    json_of(response).await
}

#[tokio::test]
async fn an_operator_onboards_a_customer_and_entra_provisions_through_what_the_api_gave() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;

    let (status, tenant) =
        json_of(app.admin(Method::POST, "/tenants", Some(json!({"name": "Contoso"}))).await).await;
    assert_eq!(status, 201, "{tenant}");
    let tenant_id = tenant["id"].as_str().unwrap().to_string();
    assert_eq!(tenant["name"], "Contoso");
    assert_eq!(tenant["directoryCount"], 0);

    let (status, directory) = json_of(
        app.admin(
            Method::POST,
            &format!("/tenants/{tenant_id}/directories"),
            Some(json!({"name": "advisors"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{directory}");
    let directory_id = directory["id"].as_str().unwrap().to_string();
    assert_eq!(directory["deprovisionPolicy"], "tombstone");
    let tenant_url = directory["tenantUrl"].as_str().unwrap().to_string();
    assert_eq!(tenant_url, format!("{}/scim/v2/{directory_id}", app.base_url));

    let (status, issued) = json_of(
        app.admin(Method::POST, &format!("/directories/{directory_id}/tokens"), None).await,
    )
    .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["tenantUrl"], tenant_url);
    let token = issued["token"].as_str().unwrap().to_string();

    // Entra, with the two values.
    let (status, user) = create_user(&app, &tenant_url, &token, "ada@contoso.com").await;
    assert_eq!(status, 201, "{user}");
    let user_id = user["id"].as_str().unwrap().to_string();
    let (status, _) = create_user(&app, &tenant_url, &token, "ADA@contoso.com").await;
    assert_eq!(status, 409);

    // The user, with its product roles once the role-mapper has seen it.
    let users = eventually(Duration::from_secs(10), "the user with its access", || async {
        let (_, page) = json_of(
            app.admin(
                Method::GET,
                &format!("/directories/{directory_id}/users?userName=ADA"),
                None,
            )
            .await,
        )
        .await;
        (page["items"][0]["access"].is_object()).then_some(page)
    })
    .await;
    assert_eq!(users["items"].as_array().unwrap().len(), 1, "{users}");
    assert_eq!(users["items"][0]["id"], user_id.as_str());
    assert_eq!(users["items"][0]["userName"], "ada@contoso.com");
    assert_eq!(users["nextCursor"], Value::Null);
    let (status, detail) = json_of(
        app.admin(Method::GET, &format!("/directories/{directory_id}/users/{user_id}"), None).await,
    )
    .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["resource"]["userName"], "ada@contoso.com");

    // The provisioning log: both requests, newest first, with their outcome.
    let log = eventually(Duration::from_secs(5), "two log entries", || async {
        let (_, page) = json_of(
            app.admin(Method::GET, &format!("/directories/{directory_id}/provisioning-log"), None)
                .await,
        )
        .await;
        (page["items"].as_array().map_or(0, Vec::len) == 2).then_some(page)
    })
    .await;
    let (conflict, created) = (&log["items"][0], &log["items"][1]);
    assert_eq!(created["method"], "POST");
    assert_eq!(created["resourceType"], "User");
    assert_eq!(created["resourceId"], user_id.as_str());
    assert_eq!(created["resourceName"], "ada@contoso.com");
    assert_eq!(created["operation"], "create");
    assert_eq!(created["status"], 201);
    assert_eq!(created["requestId"], "req-ada@contoso.com");
    assert_eq!(created["tokenId"], issued["id"]);
    assert_eq!(conflict["status"], 409);
    assert_eq!(conflict["scimType"], "uniqueness");
    let (_, failures) = json_of(
        app.admin(
            Method::GET,
            &format!("/directories/{directory_id}/provisioning-log?status=failure"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(failures["items"].as_array().unwrap().len(), 1, "{failures}");

    // Health counts them, and the token has been used.
    let (status, health) =
        json_of(app.admin(Method::GET, &format!("/directories/{directory_id}/health"), None).await)
            .await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["lastDay"]["requests"], 2);
    assert_eq!(health["lastDay"]["failures"], 1);
    assert_eq!(health["tokens"]["active"], 1);
    assert!(health["lastRequestAt"].is_string());
    let (_, tokens) =
        json_of(app.admin(Method::GET, &format!("/directories/{directory_id}/tokens"), None).await)
            .await;
    assert_eq!(tokens["items"][0]["status"], "active");
    assert!(tokens["items"][0]["lastUsedAt"].is_string(), "{tokens}");
    assert!(tokens["items"][0].get("token").is_none(), "a listed token shows no secret");

    // Rotation: a second token works beside the first until the first is revoked.
    let (_, second) = json_of(
        app.admin(Method::POST, &format!("/directories/{directory_id}/tokens"), None).await,
    )
    .await;
    let second_token = second["token"].as_str().unwrap();
    assert_eq!(create_user(&app, &tenant_url, &token, "grace@contoso.com").await.0, 201);
    assert_eq!(create_user(&app, &tenant_url, second_token, "alan@contoso.com").await.0, 201);
    let first_id = issued["id"].as_str().unwrap();
    let revoked = app
        .admin(Method::DELETE, &format!("/directories/{directory_id}/tokens/{first_id}"), None)
        .await;
    assert_eq!(revoked.status(), 204);
    eventually(Duration::from_secs(5), "the revoked token refused", || async {
        (create_user(&app, &tenant_url, &token, "late@contoso.com").await.0 == 401).then_some(())
    })
    .await;
    assert_eq!(create_user(&app, &tenant_url, second_token, "edsger@contoso.com").await.0, 201);

    // The audit log names who did each change.
    let (_, audit) =
        json_of(app.admin(Method::GET, &format!("/audit-log?tenantId={tenant_id}"), None).await)
            .await;
    let actions: Vec<&str> =
        audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "scim_token.revoked",
            "scim_token.issued",
            "scim_token.issued",
            "directory.created",
            "tenant.created"
        ]
    );
    assert!(audit["items"].as_array().unwrap().iter().all(|e| e["actor"] == "tests"));
    assert!(!audit.to_string().contains(second_token), "the audit log holds no secret");
}

#[tokio::test]
async fn names_that_are_empty_too_long_or_hold_control_characters_are_400_and_create_nothing() {
    let app = TestApp::spawn().await;
    let (_, before) = json_of(app.admin(Method::GET, "/tenants", None).await).await;
    for name in [
        json!(""),
        json!("   "),
        json!("a".repeat(201)),
        json!("Con\u{0}toso"),
        json!("a\nb"),
        json!(7),
    ] {
        let response = app.admin(Method::POST, "/tenants", Some(json!({ "name": name }))).await;
        assert_eq!(response.status(), 400, "{name}");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "application/problem+json",
        );
        let response = app
            .admin(
                Method::POST,
                &format!("/tenants/{}/directories", app.tenant_id),
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(response.status(), 400, "{name}");
    }
    let unknown =
        app.admin(Method::POST, "/tenants", Some(json!({"name": "Fabrikam", "admin": true}))).await;
    assert_eq!(unknown.status(), 400, "unknown fields are refused");
    let (_, after) = json_of(app.admin(Method::GET, "/tenants", None).await).await;
    assert_eq!(before, after, "nothing was half-created");
    let (_, directories) = json_of(
        app.admin(Method::GET, &format!("/tenants/{}/directories", app.tenant_id), None).await,
    )
    .await;
    assert_eq!(directories["items"].as_array().unwrap().len(), 1, "{directories}");
    let duplicate = app.admin(Method::POST, "/tenants", Some(json!({"name": "TEST TENANT"}))).await;
    assert_eq!(duplicate.status(), 409);
}

#[tokio::test]
async fn admin_tokens_are_stored_expire_and_can_be_revoked() {
    let app = TestApp::spawn().await;
    let (status, issued) = json_of(
        app.admin(
            Method::POST,
            "/admin-tokens",
            Some(json!({"subject": "contoso-it", "tenantId": app.tenant_id})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["scope"], "tenant");
    let token = issued["token"].as_str().unwrap().to_string();
    let own = format!("/directories/{}", app.directory_id);
    assert_eq!(app.admin_as(&token, Method::GET, &own, None).await.status(), 200);
    // A tenant admin may not make tenants or admin tokens.
    let forbidden =
        app.admin_as(&token, Method::POST, "/tenants", Some(json!({"name": "X"}))).await;
    assert_eq!(forbidden.status(), 403);
    let forbidden =
        app.admin_as(&token, Method::POST, "/admin-tokens", Some(json!({"subject": "x"}))).await;
    assert_eq!(forbidden.status(), 403);

    let id = issued["id"].as_str().unwrap();
    assert_eq!(app.admin(Method::DELETE, &format!("/admin-tokens/{id}"), None).await.status(), 204);
    eventually(Duration::from_secs(5), "the revoked admin token refused", || async {
        (app.admin_as(&token, Method::GET, &own, None).await.status() == 401).then_some(())
    })
    .await;
    let (_, listed) = json_of(app.admin(Method::GET, "/admin-tokens", None).await).await;
    let row = listed["items"].as_array().unwrap().iter().find(|t| t["id"] == id).cloned().unwrap();
    assert_eq!(row["status"], "revoked");
    assert!(row.get("token").is_none());

    // Expiry: in the past, or past the maximum, is refused; a default is given.
    for expires in ["2020-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "soon"] {
        let response = app
            .admin(
                Method::POST,
                "/admin-tokens",
                Some(json!({"subject": "x", "expiresAt": expires})),
            )
            .await;
        assert_eq!(response.status(), 400, "{expires}");
    }
    let (_, default) =
        json_of(app.admin(Method::POST, "/admin-tokens", Some(json!({"subject": "ops"}))).await)
            .await;
    let expires =
        chrono::DateTime::parse_from_rfc3339(default["expiresAt"].as_str().unwrap()).unwrap();
    let hours = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!((719..=720).contains(&hours), "default lifetime {hours} h");

    // A token that is no longer stored (or never was) is refused, signature or not.
    let unstored = roster_platform::admin_tokens::issue(
        &app.settings.auth.admin_keys(),
        uuid::Uuid::new_v4(),
        "ghost",
        roster_platform::admin_tokens::AdminScope::Operator,
        chrono::Utc::now().timestamp(),
        chrono::Utc::now().timestamp() + 3600,
    )
    .unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(
        app.admin_as(unstored.expose_secret(), Method::GET, "/tenants", None).await.status(),
        401
    );
}

#[tokio::test]
async fn a_role_mapping_preview_shows_what_would_change_and_changes_nothing() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let mut admin = entra_user("boss@contoso.com");
    admin["roles"] =
        json!([{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]);
    assert_eq!(app.post_user(&admin).await.status(), 201);
    assert_eq!(app.post_user(&entra_user("staff@contoso.com")).await.status(), 201);
    let rules = json!({"appRoles": [{"appRole": "Admin", "productRole": "administrator"}], "defaultRole": "member"});
    let path = format!("/directories/{}/role-mappings", app.directory_id);
    let (status, preview) =
        json_of(app.admin(Method::POST, &format!("{path}/preview"), Some(rules.clone())).await)
            .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["usersEvaluated"], 2);
    assert_eq!(preview["usersChanged"], 2);
    assert_eq!(preview["currentVersion"], 0);
    let changes = preview["changes"].as_array().unwrap();
    assert_eq!(changes[0]["userName"], "boss@contoso.com");
    assert_eq!(changes[0]["before"]["productRoles"], json!([]));
    assert_eq!(changes[0]["after"]["productRoles"], json!(["administrator"]));
    assert_eq!(changes[1]["after"]["productRoles"], json!(["member"]));
    // Nothing changed.
    let (_, current) = json_of(app.admin(Method::GET, &path, None).await).await;
    assert_eq!(current["version"], 0);
    // The same rules once saved preview as no change.
    app.set_role_mappings(app.directory_id, rules.clone()).await;
    let (_, again) =
        json_of(app.admin(Method::POST, &format!("{path}/preview"), Some(rules)).await).await;
    assert_eq!(again["usersChanged"], 0, "{again}");
    assert_eq!(again["currentVersion"], 1);
    let bad = app
        .admin(Method::POST, &format!("{path}/preview"), Some(json!({"policy": "loudest"})))
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_needs_no_token() {
    let app = TestApp::spawn().await;
    let response =
        app.client.get(format!("{}/admin/v1/openapi.json", app.base_url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/admin/v1/tenants", &["get", "post"][..]),
        ("/admin/v1/tenants/{tenantId}", &["get", "patch", "delete"]),
        ("/admin/v1/tenants/{tenantId}/directories", &["get", "post"]),
        ("/admin/v1/directories/{directoryId}", &["get", "delete"]),
        ("/admin/v1/directories/{directoryId}/tokens/{tokenId}", &["delete"]),
        ("/admin/v1/directories/{directoryId}/role-mappings/preview", &["post"]),
        ("/admin/v1/directories/{directoryId}/provisioning-log", &["get"]),
        ("/admin/v1/admin-tokens/{tokenId}", &["delete"]),
    ] {
        for method in methods {
            assert!(paths[path].get(*method).is_some(), "{method} {path} missing");
        }
    }
    // A path of the API with a method it does not have is 405; anything else 404.
    let wrong = app.admin(Method::PUT, "/tenants", None).await;
    assert_eq!(wrong.status(), 405);
    assert_eq!(app.admin(Method::GET, "/nothing-here", None).await.status(), 404);
}

#[tokio::test]
async fn the_provisioning_log_keeps_refusals_ignores_made_up_directories_and_is_pruned() {
    use diesel::RunQueryDsl;
    let app = TestApp::spawn().await;
    // A refused token is logged against the directory it tried; a made-up directory leaves
    // nothing.
    let refused = app
        .client
        .get(format!("{}/Users?filter=userName+eq+%22x%22", app.scim_url()))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let made_up = uuid::Uuid::new_v4();
    for _ in 0..20 {
        let response = app
            .client
            .get(format!("{}/scim/v2/{made_up}/Users", app.base_url))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let path = format!("/directories/{}/provisioning-log", app.directory_id);
    let log = eventually(Duration::from_secs(5), "the refusal logged", || async {
        let (_, page) = json_of(app.admin(Method::GET, &path, None).await).await;
        (page["items"].as_array().map_or(0, Vec::len) == 1).then_some(page)
    })
    .await;
    assert_eq!(log["items"][0]["status"], 401);
    assert_eq!(log["items"][0]["tokenId"], Value::Null);
    assert_eq!(log["items"][0]["operation"], "filter userName eq");
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count =
        |sql: &str| diesel::sql_query(sql).get_result::<Count>(&mut app.db.conn()).unwrap().n;
    assert_eq!(
        count(&format!(
            "SELECT count(*) AS n FROM provisioning_log WHERE directory_id = '{made_up}'"
        )),
        0
    );

    // Entries past the retention go; newer ones stay.
    let old = roster_store::provisioning_log::NewLogEntry {
        directory_id: app.directory_id,
        at: chrono::Utc::now() - chrono::Duration::days(91),
        method: "GET".into(),
        resource_type: "User".into(),
        resource_id: None,
        resource_name: None,
        operation: "list".into(),
        status: 200,
        scim_type: None,
        detail: None,
        latency_ms: 1,
        request_id: "old".into(),
        token_id: None,
        reference_failure: false,
        probe: false,
    };
    let stored =
        roster_store::provisioning_log::insert_batch(&mut app.db.conn(), &vec![old; 12_000])
            .unwrap();
    assert_eq!(stored, 12_000);
    let pruned = roster_gateway::retention::prune(
        &mut app.db.conn(),
        &app.settings.retention,
        chrono::Utc::now(),
    )
    .unwrap();
    assert_eq!(pruned.provisioning_log, 12_000);
    let (_, page) = json_of(app.admin(Method::GET, &path, None).await).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "the recent entry stays");

    // A deleted directory's log goes with it.
    assert_eq!(
        app.admin(Method::DELETE, &format!("/directories/{}", app.directory_id), None)
            .await
            .status(),
        204
    );
    let directory = app.directory_id;
    assert_eq!(
        count(&format!(
            "SELECT count(*) AS n FROM provisioning_log WHERE directory_id = '{directory}'"
        )),
        0
    );
}

#[tokio::test]
async fn hostile_admin_requests_are_4xx_problems_and_harm_no_one() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let bystander = app.add_bystander();
    let directory = app.directory_id;
    let token = app.admin_token(None);
    let big = "x".repeat(app.settings.gateway.max_body_bytes + 10);
    let cases: Vec<(Method, String, Option<String>, u16)> = vec![
        (Method::POST, "/tenants".into(), Some(big.clone()), 413),
        (Method::PUT, format!("/directories/{directory}/role-mappings"), Some(big), 413),
        (Method::POST, "/tenants".into(), Some("{\"name\": ".into()), 400),
        (Method::POST, "/tenants".into(), Some("[1, 2]".into()), 400),
        (Method::POST, "/tenants".into(), Some("{\"name\": \"\\ud800\"}".into()), 400),
        (
            Method::POST,
            format!("/directories/{directory}/tokens"),
            Some("{\"expiresAt\": \"yesterday\"}".into()),
            400,
        ),
        (
            Method::POST,
            format!("/directories/{directory}/tokens"),
            Some("{\"expiresAt\": \"2001-01-01T00:00:00Z\"}".into()),
            400,
        ),
        (
            Method::POST,
            format!("/directories/{directory}/portal-links"),
            Some("{\"expiresInMinutes\": 100000}".into()),
            400,
        ),
        (
            Method::POST,
            format!("/directories/{directory}/portal-links"),
            Some("{\"expiresInMinutes\": -1}".into()),
            400,
        ),
        (Method::GET, format!("/directories/{directory}/users?userName=a%00b"), None, 400),
        (Method::GET, format!("/directories/{directory}/users?limit=0"), None, 400),
        (Method::GET, format!("/directories/{directory}/users?limit=100000"), None, 400),
        (Method::GET, format!("/directories/{directory}/users?cursor=zz"), None, 400),
        (
            Method::GET,
            format!("/directories/{directory}/users?cursor={}", "ab".repeat(5000)),
            None,
            400,
        ),
        (Method::GET, format!("/directories/{directory}/provisioning-log?since=soon"), None, 400),
        (
            Method::GET,
            format!("/directories/{directory}/provisioning-log?status=teapot"),
            None,
            400,
        ),
        (
            Method::GET,
            format!("/directories/{directory}/provisioning-log?resource=%27%3Bdrop"),
            None,
            400,
        ),
        (Method::GET, format!("/directories/{directory}/provisioning-log?cursor=-1"), None, 400),
        (Method::GET, "/directories/not-a-uuid".into(), None, 404),
        (Method::GET, format!("/directories/{directory}/users/not-a-uuid"), None, 404),
        (Method::DELETE, format!("/directories/{directory}/tokens/not-a-uuid"), None, 404),
        (Method::GET, "/tenants?limit=abc".into(), None, 400),
    ];
    for (method, path, body, expected) in cases {
        let mut request = app
            .client
            .request(method.clone(), format!("{}/admin/v1{path}", app.base_url))
            .bearer_auth(&token);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        let text = response.text().await.unwrap();
        assert_eq!(status, expected, "{method} {path}: {text}");
        assert_eq!(content_type, "application/problem+json", "{method} {path}");
    }
    for bad in ["", "Bearer", "Bearer x.y.z", &format!("Bearer {}", app.token)] {
        let response = app
            .client
            .get(format!("{}/admin/v1/tenants", app.base_url))
            .header("authorization", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{bad:?}: a SCIM token is no admin token");
    }
    app.assert_bystander_provisions(&bystander).await;
}
