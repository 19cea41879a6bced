//! Parked consumers (`kafka.idle_park_ms`): idle, they stop fetching; the gateway's wake-up
//! after an acknowledged event brings them back at once, and an event produced past the
//! gateway (no wake-up) is still applied within `kafka.idle_park_max_ms`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::producer::FutureRecord;
use roster_events::ChangeEvent;
use roster_events::changes::v1::CreateUser;
use roster_integration_tests::{TestApp, entra_user, eventually};
use serde_json::Value;
use uuid::Uuid;

/// Wait until the projector and the role-mapper have each parked more than `before` times.
async fn await_parked(app: &TestApp, before: (u64, u64)) -> (u64, u64) {
    eventually(Duration::from_secs(10), "both consumers parked", || async {
        let projector = app.projector.as_ref().unwrap().stats.parks.load(Ordering::SeqCst);
        let role_mapper = app.role_mapper.as_ref().unwrap().stats.parks.load(Ordering::SeqCst);
        (projector > before.0 && role_mapper > before.1).then_some((projector, role_mapper))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_consumer_wakes_at_the_gateways_event() {
    // Parked for ten minutes unless woken: only the gateway's wake-up can bring them back in time.
    let mut app = TestApp::spawn_with(|s| {
        s.kafka.idle_park_ms = 100;
        s.kafka.idle_park_max_ms = 600_000;
    })
    .await;
    app.start_role_mapper().await;
    let parked = await_parked(&app, (0, 0)).await;

    let response = app.post_user(&entra_user("woken@contoso.com")).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let all = app.await_notifications(app.directory_id, 1).await;
    assert_eq!(all[0]["type"], "user.provisioned");
    assert_eq!(all[0]["data"]["user"]["id"], id.as_str());
    // And idle again, they park again.
    await_parked(&app, parked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_produced_past_the_gateway_is_applied_within_the_park_limit() {
    let mut app = TestApp::spawn_with(|s| {
        s.kafka.idle_park_ms = 100;
        s.kafka.idle_park_max_ms = 500;
    })
    .await;
    app.start_role_mapper().await;
    await_parked(&app, (0, 0)).await;

    let id = Uuid::new_v4();
    let event = ChangeEvent {
        event_id: Uuid::now_v7().to_string(),
        directory_id: app.directory_id.to_string(),
        tenant_id: app.tenant_id.to_string(),
        event_time_micros: chrono::Utc::now().timestamp_micros(),
        request_id: "parking".into(),
        actor_token_id: String::new(),
        change: Some(roster_events::Change::CreateUser(CreateUser {
            id: id.to_string(),
            resource_json: entra_user("unannounced@contoso.com").to_string(),
            ..Default::default()
        })),
    };
    let producer = roster_platform::kafka::producer(&app.settings.kafka).unwrap();
    let payload = roster_events::encode(&event);
    let record = FutureRecord::to(&app.settings.kafka.changes_topic)
        .key(&event.directory_id)
        .payload(&payload);
    producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| e).unwrap();

    eventually(Duration::from_secs(10), "the unannounced user", || async {
        (app.get(&format!("/Users/{id}")).await.status() == 200).then_some(())
    })
    .await;
    let all = app.await_notifications(app.directory_id, 1).await;
    assert_eq!(all[0]["data"]["user"]["id"], id.to_string().as_str());
}
