//! What a 2xx promises, through projector restarts, broker outages and broker resets.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use roster_integration_tests::{TestApp, entra_user, eventually};
use roster_projector::ProjectorError;
use roster_store::schema::{consumer_offsets, event_outcomes, users};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projector_stopped_mid_stream_loses_and_repeats_nothing() {
    let mut app = TestApp::spawn().await;
    let app_ref = &app;
    let answered = Arc::new(AtomicUsize::new(0));
    // 500 creates, 32 at a time, from a task that outlives the projector's restart.
    let client = app_ref.client.clone();
    let url = format!("{}/Users", app_ref.scim_url());
    let token = app_ref.token.clone();
    let counter = answered.clone();
    let load = tokio::spawn(async move {
        use futures::StreamExt;
        futures::stream::iter(0..500)
            .map(|i| {
                let (client, url, token, counter) =
                    (client.clone(), url.clone(), token.clone(), counter.clone());
                async move {
                    let name = format!("stream{i}");
                    let response = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&entra_user(&name))
                        .send()
                        .await
                        .unwrap();
                    let status = response.status().as_u16();
                    let body: Value = response.json().await.unwrap();
                    counter.fetch_add(1, Ordering::SeqCst);
                    (name, status, body["id"].as_str().map(str::to_string))
                }
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await
    });

    eventually(Duration::from_secs(60), "first creates answered", || async {
        (answered.load(Ordering::SeqCst) >= 100).then_some(())
    })
    .await;
    app.stop_projector().await.unwrap();
    let applied_first = {
        let mut conn = app.db.conn();
        event_outcomes::table.count().get_result::<i64>(&mut conn).unwrap()
    };
    assert!(applied_first < 500, "the projector was stopped mid-stream");
    app.start_projector().await;

    let results = load.await.unwrap();
    let created: Vec<_> = results.iter().filter(|(_, status, _)| *status == 201).collect();
    assert_eq!(
        created.len(),
        500,
        "every create was answered 201: {:?}",
        results.iter().filter(|r| r.1 != 201).take(5).collect::<Vec<_>>()
    );

    let mut conn = app.db.conn();
    let rows: Vec<(uuid::Uuid, String)> =
        users::table.select((users::id, users::user_name)).load(&mut conn).unwrap();
    assert_eq!(rows.len(), 500, "each acknowledged create is in Postgres exactly once");
    let ids: HashSet<String> = rows.iter().map(|(id, _)| id.to_string()).collect();
    for (name, _, id) in &created {
        assert!(ids.contains(id.as_ref().unwrap()), "{name} acknowledged but missing");
    }
    // The restarted projector continued from the offsets in Postgres: it applied only what
    // the first one had not.
    let second = app.projector.as_ref().unwrap().applied();
    assert_eq!(second as i64, 500 - applied_first, "events re-applied or skipped after restart");
    let next_offsets: i64 = consumer_offsets::table
        .select(consumer_offsets::next_offset)
        .load::<i64>(&mut conn)
        .unwrap()
        .iter()
        .sum();
    assert_eq!(next_offsets, app.published_count().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_unreachable_is_503_with_retry_after_never_2xx() {
    // Nothing listens on port 1.
    let app = TestApp::spawn_without_broker(|s| {
        s.kafka.brokers = "127.0.0.1:1".into();
        s.kafka.message_timeout_ms = 1_500;
    })
    .await;
    let started = Instant::now();
    let response = app.post_user(&entra_user("offline")).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "503");
    assert!(started.elapsed() < Duration::from_secs(20), "answered without hanging");
    // Reads still work without the broker.
    assert_eq!(app.get("/Users?filter=userName+eq+%22offline%22").await.status(), 200);
    let mut conn = app.db.conn();
    assert_eq!(users::table.count().get_result::<i64>(&mut conn).unwrap(), 0);
}

/// Postgres says events up to offset N were applied, but the log is shorter: the broker lost
/// its log (or the projector points at another cluster). The projector must stop and say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_behind_stored_offsets_is_refused() {
    let mut app = TestApp::spawn().await;
    for i in 0..3 {
        assert_eq!(app.post_user(&entra_user(&format!("before-reset{i}"))).await.status(), 201);
    }
    app.stop_projector().await.unwrap();
    let mut conn = app.db.conn();
    diesel::update(consumer_offsets::table)
        .set(consumer_offsets::next_offset.eq(consumer_offsets::next_offset + 1_000))
        .execute(&mut conn)
        .unwrap();
    let projector = app.spawn_projector().await;
    let result = projector.join(Duration::from_secs(30)).await.expect("projector stops by itself");
    let error = result.expect_err("the projector refuses to consume");
    assert!(matches!(error, ProjectorError::LogBehind { .. }), "{error}");
    assert!(error.to_string().contains("reset"), "the error says why: {error}");
    assert!(
        error.to_string().contains("`make reset`"),
        "on this development stack it names the command that starts over: {error}"
    );
    assert_eq!(users::table.count().get_result::<i64>(&mut conn).unwrap(), 3);
}

/// The log is long enough, but the event at the last applied offset is not the one Postgres
/// recorded: a different log under the same topic name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_log_under_the_same_name_is_refused() {
    let mut app = TestApp::spawn().await;
    for i in 0..3 {
        assert_eq!(app.post_user(&entra_user(&format!("other-log{i}"))).await.status(), 201);
    }
    app.stop_projector().await.unwrap();
    let mut conn = app.db.conn();
    diesel::update(consumer_offsets::table)
        .set(consumer_offsets::last_event_id.eq(Some(uuid::Uuid::new_v4())))
        .execute(&mut conn)
        .unwrap();
    let outcomes_before = event_outcomes::table.count().get_result::<i64>(&mut conn).unwrap();
    let projector = app.spawn_projector().await;
    let result = projector.join(Duration::from_secs(30)).await.expect("projector stops by itself");
    let error = result.expect_err("the projector refuses to consume");
    assert!(matches!(error, ProjectorError::LogMismatch { .. }), "{error}");
    assert_eq!(
        event_outcomes::table.count().get_result::<i64>(&mut conn).unwrap(),
        outcomes_before
    );
}

async fn produce_raw(app: &TestApp, payload: &[u8]) {
    use rdkafka::producer::FutureRecord;
    let producer = roster_platform::kafka::producer(&app.settings.kafka).unwrap();
    let key = app.directory_id.to_string();
    let record = FutureRecord::to(&app.settings.kafka.changes_topic).key(&key).payload(payload);
    producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| e).unwrap();
}

/// Bytes that are not an event at all can never be applied: they are skipped and later events
/// still are applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_events_are_skipped() {
    let app = TestApp::spawn().await;
    produce_raw(&app, b"\xff\x00 not protobuf").await;
    assert_eq!(app.post_user(&entra_user("after-poison")).await.status(), 201);
}

/// An event whose change this projector does not know (what a newer gateway's new change type
/// looks like to an older projector) must not be skipped: its partition stops there, saying why,
/// while the projector keeps running (consumer_isolation.rs shows the other partitions go on,
/// and the operator's way past it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_change_types_stop_their_partition() {
    let app = TestApp::spawn().await;
    let event = roster_events::ChangeEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        directory_id: app.directory_id.to_string(),
        tenant_id: app.tenant_id.to_string(),
        event_time_micros: 0,
        request_id: "test".into(),
        actor_token_id: String::new(),
        change: None,
    };
    produce_raw(&app, &roster_events::encode(&event)).await;
    let projector = app.projector.as_ref().unwrap();
    let stopped =
        eventually(Duration::from_secs(30), "the partition stopped at the event", || async {
            let (_, body) = projector.health.readiness();
            body["partitions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| {
                    p["eventId"] == event.event_id.as_str()
                        && p["reason"].as_str().is_some_and(|r| r.contains("does not know"))
                })
                .cloned()
        })
        .await;
    assert_eq!(stopped["offset"], 0, "{stopped}");
    assert!(projector.is_running(), "the projector keeps running");
    let mut conn = app.db.conn();
    let stored: Vec<i64> =
        consumer_offsets::table.select(consumer_offsets::next_offset).load(&mut conn).unwrap();
    assert!(stored.iter().all(|n| *n == 0), "no offset moved past the event: {stored:?}");
}
