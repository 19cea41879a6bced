//! Bearer-token authentication: every failure is a SCIM 401 and publishes nothing.

use std::time::Duration;

use roster_integration_tests::{TestApp, entra_user, eventually, forged_token};
use roster_store::control;
use serde_json::Value;

async fn post_with(app: &TestApp, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.post(format!("{url}/Users")).json(&entra_user("intruder"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn assert_401(response: reqwest::Response) {
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "401");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_wrong_and_foreign_tokens_are_401_and_publish_nothing() {
    let app = TestApp::spawn().await;
    let url = app.scim_url();
    assert_401(post_with(&app, &url, None).await).await;
    assert_401(post_with(&app, &url, Some("not-a-token")).await).await;
    // Right shape, signed with another key.
    let forged = forged_token(app.directory_id, app.token_id);
    assert_401(post_with(&app, &url, Some(&forged)).await).await;
    // A valid token of another directory of the same tenant ("advisors" vs "rooms").
    let other = control::ensure_directory(&mut app.db.conn(), app.tenant_id, "rooms").unwrap();
    let (_, other_token) = app.issue_token(other.id);
    assert_401(post_with(&app, &url, Some(&other_token)).await).await;
    // ... which does open its own directory.
    let other_url = format!("{}/scim/v2/{}", app.base_url, other.id);
    assert_eq!(post_with(&app, &other_url, Some(&other_token)).await.status(), 201);
    // A valid token on a directory path that is not a UUID.
    assert_401(post_with(&app, &format!("{}/scim/v2/nope", app.base_url), Some(&app.token)).await)
        .await;
    // Reads are protected too.
    let response = app.client.get(format!("{url}/Users")).send().await.unwrap();
    assert_401(response).await;

    assert_eq!(app.published_count().await, 1, "only the authorised create was published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_verified_once_lends_nothing_to_altered_copies() {
    let app = TestApp::spawn().await;
    let url = app.scim_url();
    // The gateway now remembers this token as verified (for the token cache's TTL).
    assert_eq!(app.get("/Users").await.status(), 200);
    // The same claims with one character of the signature changed, or signed with another key.
    let mut altered = app.token.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    assert_401(post_with(&app, &url, Some(&altered)).await).await;
    let forged = forged_token(app.directory_id, app.token_id);
    assert_401(post_with(&app, &url, Some(&forged)).await).await;
    // The token itself still opens its directory.
    assert_eq!(post_with(&app, &url, Some(&app.token)).await.status(), 201);
    assert_eq!(app.published_count().await, 1, "only the token's own create was published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_token_is_refused_within_seconds() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/Users").await.status(), 200);
    assert!(control::revoke_token(&mut app.db.conn(), app.token_id).unwrap());
    // Pushed by NOTIFY to the gateway's token cache: no need to wait for its TTL.
    eventually(Duration::from_secs(3), "revocation to take effect", || async {
        (app.get("/Users").await.status() == 401).then_some(())
    })
    .await;
    assert_401(post_with(&app, &app.scim_url(), Some(&app.token)).await).await;
    assert_eq!(app.published_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_matched_in_any_case_by_scim_and_admin() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token(None);
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let scim = app
            .client
            .get(format!("{}/Users", app.scim_url()))
            .header("authorization", format!("{scheme} {}", app.token))
            .send()
            .await
            .unwrap();
        assert_eq!(scim.status(), 200, "SCIM with {scheme:?}");
        let admin = app
            .client
            .get(format!("{}/admin/v1/directories/{}", app.base_url, app.directory_id))
            .header("authorization", format!("{scheme} {admin_token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(admin.status(), 200, "admin with {scheme:?}");
    }
}

/// A gateway of the test's stack with other settings (its own port).
async fn another_gateway(
    app: &TestApp,
    adjust: impl FnOnce(&mut roster_platform::Settings),
) -> (String, roster_platform::Shutdown) {
    let mut settings = app.settings.clone();
    adjust(&mut settings);
    let gateway = roster_gateway::Application::build(settings).await.unwrap();
    let url = gateway.base_url().to_string();
    let shutdown = roster_platform::Shutdown::new();
    tokio::spawn(gateway.run_until_stopped(shutdown.clone()));
    (url, shutdown)
}

#[tokio::test]
async fn signing_keys_rotate_without_refusing_tokens_until_the_old_key_is_retired() {
    use secrecy::SecretString;
    let app = TestApp::spawn().await;
    let old_key = app.settings.auth.signing_key.clone();
    let old_admin_key = app.settings.auth.admin_signing_key.clone();
    let old_admin = app.admin_token(None);
    let users = |base: &str| format!("{base}/scim/v2/{}/Users", app.directory_id);
    let status = |url: String, token: String| {
        let client = app.client.clone();
        async move { client.get(url).bearer_auth(token).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(users(&app.base_url), app.token.clone()).await, 200);

    // A new key signs; the old one is still accepted (rotation).
    let new_key = SecretString::from("n".repeat(48));
    let new_admin_key = SecretString::from("m".repeat(48));
    let (rotated, stop_rotated) = another_gateway(&app, |s| {
        s.auth.verification_keys.insert("1".into(), old_key.clone());
        s.auth.signing_key = new_key.clone();
        s.auth.signing_key_id = "2".into();
        s.auth.admin_verification_keys.insert("1".into(), old_admin_key.clone());
        s.auth.admin_signing_key = new_admin_key.clone();
        s.auth.admin_signing_key_id = "2".into();
    })
    .await;
    assert_eq!(status(users(&rotated), app.token.clone()).await, 200, "a token of the old key");
    let issued: serde_json::Value = app
        .client
        .post(format!("{rotated}/admin/v1/directories/{}/tokens", app.directory_id))
        .bearer_auth(&old_admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_token = issued["token"].as_str().unwrap().to_string();
    let header = jsonwebtoken::decode_header(&new_token).unwrap();
    assert_eq!(header.kid.as_deref(), Some("2"), "new tokens are signed with the new key");
    assert_eq!(status(users(&rotated), new_token.clone()).await, 200);
    // The gateways not yet rotated do not know key 2: roll every gateway before handing out
    // tokens of the new key (deploy/README.md).
    assert_eq!(status(users(&app.base_url), new_token.clone()).await, 401);
    stop_rotated.trigger();

    // The old key retired: what it signed is refused, what the new one signed is not.
    let (retired, stop_retired) = another_gateway(&app, |s| {
        s.auth.signing_key = new_key.clone();
        s.auth.signing_key_id = "2".into();
        s.auth.admin_signing_key = new_admin_key.clone();
        s.auth.admin_signing_key_id = "2".into();
    })
    .await;
    assert_eq!(status(users(&retired), app.token.clone()).await, 401, "the old key's token");
    assert_eq!(status(users(&retired), new_token).await, 200);
    let admin = app
        .client
        .get(format!("{retired}/admin/v1/tenants"))
        .bearer_auth(&old_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 401, "an admin token of the retired admin key");
    stop_retired.trigger();
}
