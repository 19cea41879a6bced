//! Isolation of every admin API endpoint: a tenant admin's token reaches only its own tenant.
//! The endpoints are read from the OpenAPI document, so a new endpoint fails here until its
//! isolation is stated in [`expected`].

use reqwest::Method;
use roster_integration_tests::{TestApp, entra_user};
use serde_json::{Value, json};

/// What another tenant's admin gets from an endpoint called with this tenant's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// As if it did not exist.
    NotFound,
    /// An operation only operators have.
    Forbidden,
    /// A list: answered, holding only the caller's own.
    OwnOnly,
    /// Needs no token at all.
    Public,
}

fn expected(method: &str, path: &str) -> Option<Expect> {
    use Expect::*;
    Some(match (method, path) {
        (_, "/admin/v1/openapi.json") => Public,
        ("get", "/admin/v1/tenants")
        | ("get", "/admin/v1/admin-tokens")
        | ("get", "/admin/v1/audit-log") => OwnOnly,
        ("post", "/admin/v1/tenants") | ("post", "/admin/v1/admin-tokens") => Forbidden,
        (_, p) if p.starts_with("/admin/v1/tenants/{tenantId}") => NotFound,
        (_, p) if p.starts_with("/admin/v1/directories/{directoryId}") => NotFound,
        ("delete", "/admin/v1/admin-tokens/{tokenId}") => NotFound,
        _ => return None,
    })
}

#[tokio::test]
async fn a_tenant_admin_reaches_nothing_of_another_tenant_on_any_endpoint() {
    let app = TestApp::spawn().await;
    // Tenant A is the test's own: a directory with a user, a SCIM token and an admin token.
    let user = app.post_user(&entra_user("ada@contoso.com")).await;
    assert_eq!(user.status(), 201);
    let user_id = user.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let own_admin: Value = app
        .admin(
            Method::POST,
            "/admin-tokens",
            Some(json!({"subject": "a-admin", "tenantId": app.tenant_id})),
        )
        .await
        .json()
        .await
        .unwrap();
    // Tenant B, whose admin tries everything of A's.
    let b: Value = app
        .admin(Method::POST, "/tenants", Some(json!({"name": "Fabrikam"})))
        .await
        .json()
        .await
        .unwrap();
    let b_id = b["id"].as_str().unwrap().to_string();
    let b_admin: Value = app
        .admin(Method::POST, "/admin-tokens", Some(json!({"subject": "b-admin", "tenantId": b_id})))
        .await
        .json()
        .await
        .unwrap();
    let b_token = b_admin["token"].as_str().unwrap().to_string();

    let doc: Value = app
        .client
        .get(format!("{}/admin/v1/openapi.json", app.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scim_token_id = app.token_id.to_string();
    let mut checked = 0;
    for (template, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let expect = expected(method, template).unwrap_or_else(|| {
                panic!("{method} {template}: state its isolation in `expected`")
            });
            let path = template
                .trim_start_matches("/admin/v1")
                .replace("{tenantId}", &app.tenant_id.to_string())
                .replace("{directoryId}", &app.directory_id.to_string())
                .replace("{userId}", &user_id)
                .replace(
                    "{tokenId}",
                    if template.contains("admin-tokens") {
                        own_admin["id"].as_str().unwrap()
                    } else {
                        &scim_token_id
                    },
                );
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = valid_body(&method, template);
            let response = app.admin_as(&b_token, method.clone(), &path, body).await;
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            let what = format!("{method} {path}: {status} {text}");
            match expect {
                Expect::NotFound => assert_eq!(status, 404, "{what}"),
                Expect::Forbidden => assert_eq!(status, 403, "{what}"),
                Expect::Public => assert_eq!(status, 200, "{what}"),
                Expect::OwnOnly => {
                    assert_eq!(status, 200, "{what}");
                    let items: Value = serde_json::from_str(&text).unwrap();
                    for item in items["items"].as_array().unwrap() {
                        let tenant = item.get("tenantId").or_else(|| item.get("id")).unwrap();
                        assert_eq!(tenant, &json!(b_id), "{what}: {item}");
                    }
                }
            }
            // The 404s are the endpoint's own, not a missing route.
            assert!(!text.contains("no such endpoint"), "{what}");
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} endpoints in the document");

    // A is untouched: its directory, token and admin token all still work.
    assert_eq!(app.get("/Users").await.status(), 200);
    let own = app
        .admin_as(
            own_admin["token"].as_str().unwrap(),
            Method::GET,
            &format!("/directories/{}", app.directory_id),
            None,
        )
        .await;
    assert_eq!(own.status(), 200);
    let audit: Value = app.admin(Method::GET, "/audit-log", None).await.json().await.unwrap();
    assert!(
        audit["items"].as_array().unwrap().iter().all(|e| e["actor"] != "b-admin"),
        "B changed nothing: {audit}"
    );
}

/// A body the endpoint would accept, so that only the scope can refuse it. (A body it would
/// refuse is refused the same whether the directory exists or not, which tells nothing either.)
fn valid_body(method: &Method, template: &str) -> Option<Value> {
    if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        return None;
    }
    Some(match template.rsplit('/').next().unwrap_or_default() {
        "settings" => json!({"deprovisionPolicy": "erase"}),
        "role-mappings" | "preview" => json!({"defaultRole": "member"}),
        "tokens" | "portal-links" => json!({}),
        "admin-tokens" => json!({"subject": "x"}),
        _ => json!({"name": "x"}),
    })
}

#[tokio::test]
async fn an_admin_scoped_to_a_directory_s_tenant_sees_it_and_an_operator_sees_all() {
    let app = TestApp::spawn().await;
    let own = app.admin_token(Some(app.tenant_id));
    let listed: Value =
        app.admin_as(&own, Method::GET, "/tenants", None).await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["id"], json!(app.tenant_id));
    let directory =
        app.admin_as(&own, Method::GET, &format!("/directories/{}", app.directory_id), None).await;
    assert_eq!(directory.status(), 200);
    app.admin(Method::POST, "/tenants", Some(json!({"name": "Other"}))).await;
    let all: Value = app.admin(Method::GET, "/tenants", None).await.json().await.unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
}
