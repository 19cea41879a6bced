//! Retention and erasure: an erased user leaves no personal data in the outcomes or the outbox,
//! a deleted directory none in its published notifications or applied outcomes, and what is
//! past its retention is pruned (never an unpublished notification).

use std::time::Duration;

use diesel::RunQueryDsl;
use reqwest::Method;
use roster_integration_tests::{TestApp, entra_user, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(app: &TestApp, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(&mut app.db.conn()).unwrap().n
}

#[derive(diesel::QueryableByName)]
struct Payload {
    #[diesel(sql_type = diesel::sql_types::Bytea)]
    payload: Vec<u8>,
}

/// Every outbox payload about `subject`, decoded to JSON text.
fn payloads_about(app: &TestApp, directory: Uuid, subject: &str) -> Vec<String> {
    diesel::sql_query(format!(
        "SELECT payload FROM notifications WHERE directory_id = '{directory}' AND subject_id = '{subject}'"
    ))
    .load::<Payload>(&mut app.db.conn())
    .unwrap()
    .iter()
    .map(|p| {
        let n = roster_events::notification::decode_notification(&p.payload).unwrap();
        roster_events::notification::to_json(&n).to_string()
    })
    .collect()
}

/// Wait until downstream has been told of the user's latest state (its display name): the
/// role-mapper is level-triggered, so how many notifications that took depends on when it ran.
async fn notified_of(app: &TestApp, user: &str) {
    eventually(Duration::from_secs(20), "the user's latest view notified", || async {
        let all = app.notifications_after(app.directory_id, 0).await;
        all.iter()
            .any(|n| {
                n["data"]["user"]["id"] == user
                    && n["data"]["user"]["display_name"] == "Ada Lovelace"
            })
            .then_some(())
    })
    .await;
}

async fn user_with_history(app: &TestApp, user_name: &str) -> String {
    let created: Value = app.post_user(&entra_user(user_name)).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Ada Lovelace"}]});
    assert_eq!(app.send(Method::PATCH, &format!("/Users/{id}"), Some(patch)).await.status(), 200);
    id
}

#[tokio::test]
async fn an_erased_user_leaves_no_personal_data_in_outcomes_or_notifications() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let settings = format!("/directories/{}/settings", app.directory_id);
    let erase =
        app.admin(Method::PUT, &settings, Some(json!({"deprovisionPolicy": "erase"}))).await;
    assert_eq!(erase.status(), 200);
    let erased = user_with_history(&app, "ada@contoso.com").await;
    let kept = user_with_history(&app, "grace@contoso.com").await;
    let directory = app.directory_id;
    notified_of(&app, &erased).await;
    notified_of(&app, &kept).await;
    assert!(payloads_about(&app, directory, &erased).iter().any(|p| p.contains("ada@contoso.com")));

    assert_eq!(app.send(Method::DELETE, &format!("/Users/{erased}"), None).await.status(), 204);
    eventually(Duration::from_secs(10), "user.deprovisioned", || async {
        let all = app.notifications_after(directory, 0).await;
        all.iter().any(|n| n["type"] == "user.deprovisioned").then_some(())
    })
    .await;
    let bodies = |id: &str| {
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM event_outcomes WHERE directory_id = '{directory}' \
                 AND resource_id = '{id}' AND body IS NOT NULL"
            ),
        )
    };
    assert_eq!(bodies(&erased), 0, "the erased user's outcomes keep no resource");
    assert_eq!(bodies(&kept), 2, "another user's are untouched");
    let about_erased = payloads_about(&app, directory, &erased);
    assert!(
        about_erased.len() >= 2,
        "provisioned (maybe updated), deprovisioned: {about_erased:?}"
    );
    for payload in &about_erased {
        assert!(!payload.contains("ada@contoso.com") && !payload.contains("Lovelace"), "{payload}");
    }
    // The Events API replays them in their ids-only form, flagged as truncated.
    let replay = app.notifications_after(directory, 0).await;
    let erased_json = replay.iter().filter(|n| n.to_string().contains(&erased)).collect::<Vec<_>>();
    assert!(erased_json.iter().all(|n| !n.to_string().contains("ada@contoso.com")));
    assert!(payloads_about(&app, directory, &kept).iter().any(|p| p.contains("grace@contoso.com")));
}

#[tokio::test]
async fn a_tombstoned_user_keeps_its_history_and_a_deleted_directory_does_not() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let directory = app.directory_id;
    let user = user_with_history(&app, "ada@contoso.com").await;
    // The role-mapper is level-triggered: it must have told downstream of the user before the
    // delete, or a batch holding every event notifies nothing of a user nobody heard of.
    notified_of(&app, &user).await;
    assert_eq!(app.send(Method::DELETE, &format!("/Users/{user}"), None).await.status(), 204);
    eventually(Duration::from_secs(10), "user.deprovisioned", || async {
        let all = app.notifications_after(directory, 0).await;
        all.iter().any(|n| n["type"] == "user.deprovisioned").then_some(())
    })
    .await;
    assert!(payloads_about(&app, directory, &user).iter().any(|p| p.contains("ada@contoso.com")));

    // Wait until the relay published them, then delete the directory.
    eventually(Duration::from_secs(10), "published", || async {
        (count(&app, &format!("SELECT count(*) AS n FROM notifications WHERE directory_id = '{directory}' AND published_at IS NULL")) == 0)
            .then_some(())
    })
    .await;
    let deleted = app.admin(Method::DELETE, &format!("/directories/{directory}"), None).await;
    assert_eq!(deleted.status(), 204);
    eventually(Duration::from_secs(10), "directory.deleted", || async {
        (count(&app, &format!("SELECT count(*) AS n FROM notifications WHERE directory_id = '{directory}' AND type = 'directory.deleted'")) == 1)
            .then_some(())
    })
    .await;
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM notifications WHERE directory_id = '{directory}' AND type <> 'directory.deleted'"
            )
        ),
        0,
        "the deleted directory's published notifications are gone"
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM event_outcomes WHERE directory_id = '{directory}' AND body IS NOT NULL AND status < 300"
            )
        ),
        0,
        "and its applied outcomes"
    );
}

#[tokio::test]
async fn what_is_past_its_retention_is_pruned_but_never_an_unpublished_notification() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let directory = app.directory_id;
    for n in 0..3 {
        assert_eq!(app.post_user(&entra_user(&format!("u{n}@contoso.com"))).await.status(), 201);
    }
    app.await_notifications(directory, 3).await;
    eventually(Duration::from_secs(10), "published", || async {
        (count(&app, "SELECT count(*) AS n FROM notifications WHERE published_at IS NULL") == 0)
            .then_some(())
    })
    .await;
    app.stop_role_mapper().await.unwrap();
    // Age everything by 100 days; one notification is made unpublished again.
    let mut conn = app.db.conn();
    diesel::sql_query("UPDATE event_outcomes SET applied_at = applied_at - interval '100 days'")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query("UPDATE notifications SET created_at = created_at - interval '100 days'")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query("UPDATE notifications SET published_at = NULL WHERE sequence = 3")
        .execute(&mut conn)
        .unwrap();
    // A recent outcome stays.
    assert_eq!(app.post_user(&entra_user("recent@contoso.com")).await.status(), 201);

    let pruned =
        roster_gateway::retention::prune(&mut conn, &app.settings.retention, chrono::Utc::now())
            .unwrap();
    assert_eq!(pruned.outcomes, 3);
    assert_eq!(pruned.notifications, 2);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM event_outcomes"), 1);
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM notifications"),
        1,
        "the unpublished one stays"
    );
    // Pruning again finds nothing; the Events API still answers.
    let again =
        roster_gateway::retention::prune(&mut conn, &app.settings.retention, chrono::Utc::now())
            .unwrap();
    assert_eq!(again, roster_gateway::retention::Pruned::default());
    assert_eq!(app.notifications_after(directory, 0).await.len(), 1);
}
