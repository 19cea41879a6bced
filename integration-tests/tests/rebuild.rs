//! `roster rebuild --verify`: replaying the change log into a fresh database with the
//! projector's code reproduces the projection row for row, after the whole Entra replay and
//! after deletions, rule changes and an operator's rejection; a difference is found and named.

use diesel::{Connection, RunQueryDsl};
use reqwest::Method;
use roster_integration_tests::{TestApp, entra_user};
use serde_json::json;

/// A fresh database URL beside the test's own.
pub(crate) fn rebuild_url(app: &TestApp) -> String {
    let (prefix, _) = app.settings.database.url.rsplit_once('/').unwrap();
    format!("{prefix}/roster_rebuild_{}?gssencmode=disable", uuid::Uuid::new_v4().simple())
}

pub(crate) fn rebuild(app: &TestApp, into: &str) -> roster_cli::rebuild::Rebuilt {
    let args =
        roster_cli::rebuild::RebuildArgs { into: into.to_string(), verify: true, quiet: true };
    roster_cli::rebuild::run(&app.settings, &args).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_reproduces_the_projection_and_verify_names_a_difference() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    // A history with everything that changes rows: creates, patches, replaces, memberships,
    // deletes under both policies, a rules change, a rejected write, an erased directory's users.
    let mut ids = Vec::new();
    for n in 0..30 {
        let created: serde_json::Value =
            app.post_user(&entra_user(&format!("user{n}@contoso.com"))).await.json().await.unwrap();
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    assert_eq!(app.post_user(&entra_user("USER1@contoso.com")).await.status(), 409);
    let patch = json!({"Operations": [{"op": "replace", "path": "active", "value": "False"}]});
    assert_eq!(
        app.send(Method::PATCH, &format!("/Users/{}", ids[0]), Some(patch)).await.status(),
        200
    );
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Lisbon",
        "members": ids[..10].iter().map(|id| json!({"value": id})).collect::<Vec<_>>()});
    let group: serde_json::Value =
        app.send(Method::POST, "/Groups", Some(group)).await.json().await.unwrap();
    let remove = json!({"Operations": [{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[1])}]});
    let group_path = format!("/Groups/{}", group["id"].as_str().unwrap());
    assert_eq!(app.send(Method::PATCH, &group_path, Some(remove)).await.status(), 204);
    assert_eq!(app.send(Method::DELETE, &format!("/Users/{}", ids[2]), None).await.status(), 204);
    app.set_role_mappings(
        app.directory_id,
        json!({"groups": [{"displayName": "Lisbon", "team": true}], "defaultRole": "member"}),
    )
    .await;
    let settings = format!("/directories/{}/settings", app.directory_id);
    let erase =
        app.admin(Method::PUT, &settings, Some(json!({"deprovisionPolicy": "erase"}))).await;
    assert_eq!(erase.status(), 200);
    assert_eq!(app.send(Method::DELETE, &format!("/Users/{}", ids[3]), None).await.status(), 204);
    // Another directory, created erasing, then deleted with its users.
    let other: serde_json::Value = app
        .admin(
            Method::POST,
            &format!("/tenants/{}/directories", app.tenant_id),
            Some(json!({"name": "rooms", "deprovisionPolicy": "erase"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let other_id: uuid::Uuid = other["id"].as_str().unwrap().parse().unwrap();
    let (_, other_token) = app.issue_token(other_id);
    let response = app
        .client
        .post(format!("{}/Users", other["tenantUrl"].as_str().unwrap()))
        .bearer_auth(&other_token)
        .json(&entra_user("room1@contoso.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let into = rebuild_url(&app);
    let rebuilt = rebuild(&app, &into);
    assert_eq!(rebuilt.differences, Vec::<String>::new());
    assert!(rebuilt.events >= 38, "{rebuilt:?}");

    // verify names what differs.
    let mut live = diesel::PgConnection::establish(&app.settings.database.url).unwrap();
    let mut target = diesel::PgConnection::establish(&into).unwrap();
    diesel::sql_query(format!(
        "UPDATE users SET display_name = 'tampered' WHERE id = '{}'",
        ids[5]
    ))
    .execute(&mut target)
    .unwrap();
    diesel::sql_query(format!("DELETE FROM group_members WHERE member_id = '{}'", ids[6]))
        .execute(&mut target)
        .unwrap();
    let differences = roster_cli::rebuild::verify(&mut live, &mut target).unwrap();
    assert_eq!(differences.len(), 2, "{differences:?}");
    assert!(
        differences[0].starts_with("users ") && differences[0].ends_with("differs in display_name"),
        "{differences:?}"
    );
    assert!(differences[1].contains("only in the live database"), "{differences:?}");
    drop(target);
    // A rebuild refuses a database that already holds a projection.
    let args = roster_cli::rebuild::RebuildArgs { into: into.clone(), verify: false, quiet: true };
    let refused = roster_cli::rebuild::run(&app.settings, &args).unwrap_err();
    assert!(refused.to_string().contains("already holds"), "{refused}");
    let _ = roster_store::database::drop_if_exists(&into);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_publishes_a_directorys_notifications_again_from_a_sequence() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    for n in 0..3 {
        assert_eq!(app.post_user(&entra_user(&format!("r{n}@contoso.com"))).await.status(), 201);
    }
    let first = app.consume_notifications(3).await;
    assert_eq!(first.len(), 3);
    let args = roster_cli::replay::ReplayArgs { directory: app.directory_id, from: 2, to: None };
    let published = roster_cli::replay::run(&app.settings, &args).await.unwrap();
    assert_eq!(published, 2);
    let all = app.consume_notifications(5).await;
    assert_eq!(all.len(), 5, "three, then sequences 2 and 3 again");
    let replayed = &all[3..];
    for (again, original) in replayed.iter().zip(&first[1..]) {
        assert_eq!(again.notification, original.notification, "the same notification");
        assert_eq!(again.headers, original.headers, "with the same CloudEvents headers");
        assert_eq!(again.key, original.key);
    }
    let bad = roster_cli::replay::ReplayArgs { directory: app.directory_id, from: 0, to: None };
    assert!(roster_cli::replay::run(&app.settings, &bad).await.is_err());
}
