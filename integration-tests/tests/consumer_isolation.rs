//! Defence in depth in the consumers (issue 9 §2–§4): events produced straight to the change
//! topic, past the gateway's validation, that Postgres refuses, that a consumer cannot apply,
//! or that make notifications too large; outages of Postgres under load. Each time, the event
//! concerned is dealt with (a rejected outcome, a stuck partition an operator can reject, a
//! truncated notification) and every other partition and directory goes on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel::prelude::*;
use rdkafka::producer::FutureRecord;
use roster_events::ChangeEvent;
use roster_events::changes::v1::{CreateUser, DeleteUser};
use roster_events::notification::{Body, Notification, encode_notification};
use roster_events::notifications::v1::{ProductUser, UserProvisioned};
use roster_integration_tests::{Bystander, TestApp, entra_user, eventually};
use roster_store::schema::{consumer_offsets, event_outcomes, users};
use roster_store::{control, outbox};
use serde_json::{Value, json};
use uuid::Uuid;

/// Produce a change event straight to the change topic (key = its directory, as the gateway
/// does), bypassing the gateway; returns its partition and offset.
async fn produce(app: &TestApp, event: &ChangeEvent) -> (i32, i64) {
    let producer = roster_platform::kafka::producer(&app.settings.kafka).unwrap();
    let payload = roster_events::encode(event);
    let record = FutureRecord::to(&app.settings.kafka.changes_topic)
        .key(&event.directory_id)
        .payload(&payload);
    let delivery =
        producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| e).unwrap();
    (delivery.partition, delivery.offset)
}

fn change_event(app: &TestApp, directory_id: Uuid, micros: i64) -> ChangeEvent {
    ChangeEvent {
        event_id: Uuid::now_v7().to_string(),
        directory_id: directory_id.to_string(),
        tenant_id: app.tenant_id.to_string(),
        event_time_micros: micros,
        request_id: "consumer-isolation".into(),
        actor_token_id: String::new(),
        change: None,
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn create_user(app: &TestApp, directory_id: Uuid, user_name: &str, micros: i64) -> ChangeEvent {
    let mut event = change_event(app, directory_id, micros);
    event.change = Some(roster_events::Change::CreateUser(CreateUser {
        id: Uuid::new_v4().to_string(),
        resource_json: entra_user(user_name).to_string(),
        ..Default::default()
    }));
    event
}

/// Random characters, so that Postgres cannot compress them under its index row limit.
fn random_text(len: usize) -> String {
    let mut out = String::with_capacity(len + 32);
    while out.len() < len {
        out.push_str(&Uuid::new_v4().simple().to_string());
    }
    out.truncate(len);
    out
}

/// The partition the directory's events go to, as the stored outcome of a write shows.
async fn partition_of(app: &TestApp, directory_id: Uuid, token: &str) -> i32 {
    let response = app
        .client
        .post(format!("{}/scim/v2/{directory_id}/Users", app.base_url))
        .bearer_auth(token)
        .json(&entra_user(&format!("probe-{}", Uuid::new_v4().simple())))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let mut conn = app.db.conn();
    event_outcomes::table
        .filter(event_outcomes::directory_id.eq(directory_id))
        .select(event_outcomes::kafka_partition)
        .first(&mut conn)
        .unwrap()
}

/// A directory of another tenant whose events go to another partition than the test
/// directory's.
async fn bystander_elsewhere(app: &TestApp) -> (Bystander, i32, i32) {
    let ours = partition_of(app, app.directory_id, &app.token).await;
    for i in 0..32 {
        let mut conn = app.db.conn();
        let tenant = control::ensure_tenant(&mut conn, &format!("Bystander {i}")).unwrap();
        let directory = control::ensure_directory(&mut conn, tenant.id, "Bystander").unwrap();
        let (_, token) = app.issue_token(directory.id);
        let theirs = partition_of(app, directory.id, &token).await;
        if theirs != ours {
            return (Bystander { directory_id: directory.id, token }, ours, theirs);
        }
    }
    panic!("no directory landed in another partition");
}

fn outcome(app: &TestApp, event: &ChangeEvent) -> Option<(i16, Value)> {
    let id = Uuid::parse_str(&event.event_id).unwrap();
    let mut conn = app.db.conn();
    event_outcomes::table
        .find(id)
        .select((event_outcomes::status, event_outcomes::body))
        .first::<(i16, Option<Value>)>(&mut conn)
        .optional()
        .unwrap()
        .map(|(status, body)| (status, body.unwrap_or_default()))
}

async fn await_outcome(app: &TestApp, event: &ChangeEvent) -> (i16, Value) {
    eventually(Duration::from_secs(30), "the event's outcome", || async { outcome(app, event) })
        .await
}

fn assert_no_sql(detail: &str) {
    for word in
        ["INSERT", "UPDATE", "SELECT", "0x00", "UTF8", "btree", "index row", "Postgres", "$1"]
    {
        assert!(!detail.contains(word), "the detail {detail:?} shows {word:?}");
    }
}

fn stored_offset(app: &TestApp, group: &str, partition: i32) -> i64 {
    let mut conn = app.db.conn();
    consumer_offsets::table
        .filter(consumer_offsets::consumer_group.eq(group))
        .filter(consumer_offsets::kafka_partition.eq(partition))
        .select(consumer_offsets::next_offset)
        .first(&mut conn)
        .optional()
        .unwrap()
        .unwrap_or(0)
}

async fn ready(app: &TestApp, port: u16) -> (u16, Value) {
    let response = app
        .client
        .get(format!("http://127.0.0.1:{port}/health/ready"))
        .send()
        .await
        .expect("health endpoint");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The acceptance test: events Postgres refuses, produced straight to the topic, become
/// rejected outcomes (400 invalidValue naming the attribute, no SQL), the events after them in
/// the same partition apply, and the other partitions go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_postgres_refuses_become_rejected_outcomes_and_every_partition_goes_on() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let (bystander, ours, _) = bystander_elsewhere(&app).await;
    let directory = app.directory_id;

    let nul = create_user(&app, directory, "nul\u{0}name", now_micros());
    let mut long = create_user(&app, directory, &random_text(8_000), now_micros());
    if let Some(roster_events::Change::CreateUser(create)) = long.change.as_mut() {
        let mut resource: Value = serde_json::from_str(&create.resource_json).unwrap();
        resource.as_object_mut().unwrap().remove("emails"); // only the userName is too long
        create.resource_json = resource.to_string();
    }
    // A time Postgres cannot store (chrono can: about 29,700 BC).
    let ancient = create_user(&app, directory, "ancient", -1_000_000_000_000_000_000);
    let after = create_user(&app, directory, "after-the-refused", now_micros());
    for event in [&nul, &long, &ancient, &after] {
        let (partition, _) = produce(&app, event).await;
        assert_eq!(partition, ours);
    }

    for (event, attribute) in
        [(&nul, "userName"), (&long, "userName"), (&ancient, "meta.lastModified")]
    {
        let (status, body) = await_outcome(&app, event).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["scimType"], "invalidValue", "{body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(attribute), "the detail names {attribute}: {detail}");
        assert_no_sql(detail);
    }
    let (status, body) = await_outcome(&app, &after).await;
    assert_eq!(status, 201, "the event after them in the partition applies: {body}");
    // Produced as a gateway older than `answered_from_request` does: its outcome keeps the
    // resource, which such a gateway answers from (design 0009).
    assert_eq!(body["resource"]["userName"], "after-the-refused", "{body}");
    let mut conn = app.db.conn();
    let names: Vec<String> = users::table
        .filter(users::directory_id.eq(directory))
        .select(users::user_name)
        .load(&mut conn)
        .unwrap();
    assert!(names.contains(&"after-the-refused".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n == "ancient" || n.len() > 1_000 || n.contains('\0')));
    let projector = app.projector.as_ref().unwrap();
    assert!(projector.stats.events_refused.load(Ordering::SeqCst) >= 3);

    // The other partition goes on, and so does the refused events' own: a gateway write in the
    // directory, and the bystander's in the other partition, with their notifications.
    assert_eq!(app.post_user(&entra_user("later-in-the-partition")).await.status(), 201);
    app.assert_bystander_provisions(&bystander).await;
    // The role-mapper passed the refused events too.
    let end = stored_offset(&app, &app.settings.kafka.projector_group, ours);
    let group = app.settings.kafka.role_mapper_group.clone();
    eventually(Duration::from_secs(10), "the role-mapper past the refused events", || async {
        (stored_offset(&app, &group, ours) >= end).then_some(())
    })
    .await;
    let (status, body) = ready(&app, projector.health_port).await;
    assert_eq!(status, 200, "nothing is stuck: {body}");
}

/// Postgres terminates the projector's sessions again and again under load: every batch is
/// retried, every create is acknowledged, none is lost or applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_is_retried_and_nothing_is_lost() {
    let app = TestApp::spawn_with(|s| {
        s.projector.retry_initial_ms = 20;
        s.projector.retry_max_ms = 200;
        s.projector.max_batch = 20;
    })
    .await;
    let answered = Arc::new(AtomicUsize::new(0));
    let (client, url, token) =
        (app.client.clone(), format!("{}/Users", app.scim_url()), app.token.clone());
    let counter = answered.clone();
    let load = tokio::spawn(async move {
        use futures::StreamExt;
        futures::stream::iter(0..300)
            .map(|i| {
                let (client, url, token, counter) =
                    (client.clone(), url.clone(), token.clone(), counter.clone());
                async move {
                    let response = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&entra_user(&format!("outage{i}")))
                        .send()
                        .await
                        .unwrap();
                    counter.fetch_add(1, Ordering::SeqCst);
                    response.status().as_u16()
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await
    });
    let mut terminated = 0;
    for round in 1..=4 {
        eventually(Duration::from_secs(60), "more creates answered", || async {
            (answered.load(Ordering::SeqCst) >= round * 50).then_some(())
        })
        .await;
        let mut conn = app.db.conn();
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let killed: Count = diesel::sql_query(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'roster-projector'",
        )
        .get_result(&mut conn)
        .unwrap();
        terminated += killed.n;
    }
    let statuses = load.await.unwrap();
    assert!(terminated > 0, "the projector's sessions were terminated");
    assert!(statuses.iter().all(|s| *s == 201), "every create answered 201: {statuses:?}");
    let mut conn = app.db.conn();
    let count: i64 = users::table
        .filter(users::user_name.like("outage%"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(count, 300, "each acknowledged create is there exactly once");
    let projector = app.projector.as_ref().unwrap();
    assert!(
        projector.stats.failed_attempts.load(Ordering::SeqCst) > 0,
        "the outage was met, and retried"
    );
    assert!(projector.is_running());
}

/// An event a consumer cannot apply (a change type this version does not know) stops its
/// partition: readiness fails after `stuck_after_ms`, one ERROR is logged however long it
/// lasts, the other partitions go on, `roster log inspect` shows it, and `roster log reject`
/// moves both consumers past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_partition_is_unready_until_an_operator_rejects_its_event() {
    let mut app = TestApp::spawn_with(|s| {
        for (stuck_after, retry_max) in [
            (&mut s.projector.stuck_after_ms, &mut s.projector.retry_max_ms),
            (&mut s.role_mapper.stuck_after_ms, &mut s.role_mapper.retry_max_ms),
        ] {
            *stuck_after = 1_000;
            *retry_max = 200;
        }
    })
    .await;
    app.start_role_mapper().await;
    let (bystander, ours, _) = bystander_elsewhere(&app).await;
    let unknown = change_event(&app, app.directory_id, now_micros());
    let (partition, offset) = produce(&app, &unknown).await;
    assert_eq!(partition, ours);

    let projector_port = app.projector.as_ref().unwrap().health_port;
    let role_mapper_port = app.role_mapper.as_ref().unwrap().health_port;
    for port in [projector_port, role_mapper_port] {
        let body = eventually(Duration::from_secs(15), "readiness failing", || async {
            let (status, body) = ready(&app, port).await;
            (status == 503).then_some(body)
        })
        .await;
        assert_eq!(body["stuckPartitions"], json!([partition]), "{body}");
        let stuck = body["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["partition"] == partition)
            .unwrap();
        assert_eq!(stuck["offset"], offset, "{body}");
        assert_eq!(stuck["eventId"], unknown.event_id.as_str(), "{body}");
        assert!(stuck["reason"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
    }
    // Retried many times, logged once.
    let projector = app.projector.as_ref().unwrap();
    eventually(Duration::from_secs(15), "many retries", || async {
        let (_, body) = projector.health.readiness();
        let attempts = body["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["partition"] == partition)
            .and_then(|p| p["attempts"].as_u64())
            .unwrap_or(0);
        (attempts >= 5).then_some(())
    })
    .await;
    assert_eq!(projector.stats.stuck.load(Ordering::SeqCst), 1, "one ERROR, not one per retry");
    // The other partition goes on.
    app.assert_bystander_provisions(&bystander).await;

    // A write of the stuck directory waits behind the event.
    let waiting = {
        let (client, url, token) =
            (app.client.clone(), format!("{}/Users", app.scim_url()), app.token.clone());
        tokio::spawn(async move {
            let response = client
                .post(&url)
                .bearer_auth(&token)
                .json(&entra_user("behind-the-stuck-event"))
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        })
    };

    let event = roster_cli::log::EventArgs { partition, offset, topic: None };
    let inspected = roster_cli::log::inspect(&app.settings, &event).unwrap();
    assert_eq!(inspected["eventId"], unknown.event_id.as_str(), "{inspected}");
    assert_eq!(inspected["directoryId"], app.directory_id.to_string());
    assert_eq!(inspected["change"], Value::Null, "a change this version does not know");
    assert!(inspected["decodeError"].as_str().is_some(), "{inspected}");
    assert_eq!(inspected["outcome"], Value::Null);
    let projector_group = &app.settings.kafka.projector_group;
    assert_eq!(inspected["consumers"][projector_group]["passed"], false, "{inspected}");

    let rejected = roster_cli::log::reject(
        &app.settings,
        &roster_cli::log::RejectArgs {
            event: event.clone(),
            reason: "a change type from a newer gateway, rolled back".into(),
            actor: Some("ops@example.com".into()),
        },
    )
    .unwrap();
    assert_eq!(rejected["rejected"]["eventId"], unknown.event_id.as_str(), "{rejected}");
    let again = roster_cli::log::reject(
        &app.settings,
        &roster_cli::log::RejectArgs { event: event.clone(), reason: "twice".into(), actor: None },
    );
    assert!(again.unwrap_err().to_string().contains("rejected already"));

    assert_eq!(waiting.await.unwrap(), 201, "the partition goes on past the rejected event");
    for port in [projector_port, role_mapper_port] {
        eventually(Duration::from_secs(15), "ready again", || async {
            (ready(&app, port).await.0 == 200).then_some(())
        })
        .await;
    }
    let (status, body) = outcome(&app, &unknown).unwrap();
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("newer gateway"), "{body}");
    let inspected = roster_cli::log::inspect(&app.settings, &event).unwrap();
    assert_eq!(inspected["operatorRejection"]["actor"], "ops@example.com", "{inspected}");
    assert_eq!(inspected["outcome"]["status"], 400);
    let role_mapper_group = app.settings.kafka.role_mapper_group.clone();
    eventually(Duration::from_secs(10), "the role-mapper past the event", || async {
        (stored_offset(&app, &role_mapper_group, partition) > offset).then_some(())
    })
    .await;
    let projector = app.projector.as_ref().unwrap();
    assert_eq!(projector.stats.events_operator_rejected.load(Ordering::SeqCst), 1);
}

/// The notifications of one user, in sequence order (Events API).
async fn sequences(app: &TestApp, directory_id: Uuid, count: usize) -> Vec<Value> {
    let all = app.await_notifications(directory_id, count).await;
    let numbers: Vec<i64> = all.iter().map(|n| n["sequence"].as_i64().unwrap()).collect();
    let expected: Vec<i64> = (1..=numbers.len() as i64).collect();
    assert_eq!(numbers, expected, "the sequence has no gap");
    all
}

/// A notification larger than the topic's largest message is sent in its bounded, truncated
/// form, on Kafka and in the outbox, and the sequence has no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_too_large_is_sent_truncated_and_the_sequence_has_no_gap() {
    // A smaller broker limit than the default, so that a title the gateway accepts (at most
    // limits.max_string_bytes) makes a notification too large for the topic.
    let mut app = TestApp::spawn_with(|s| {
        s.gateway.max_body_bytes = 100_000;
        s.kafka.max_message_bytes = 200_000;
    })
    .await;
    app.start_role_mapper().await;
    let mut user = entra_user("large");
    user["title"] = json!(random_text(60_000));
    let response = app.post_user(&user).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    // The role-mapper is level-triggered: it notifies the state it finds, so each change waits
    // for the notification of the one before (else one user.provisioned could carry all three).
    app.await_notifications(app.directory_id, 1).await;
    // user.updated would carry a title four times: the user, its resource, and the change's
    // previous and current values, past the 200,000 bytes of kafka.max_message_bytes.
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": random_text(60_000)}]
    });
    let response = app.send(reqwest::Method::PATCH, &format!("/Users/{id}"), Some(patch)).await;
    assert_eq!(response.status(), 200);
    app.await_notifications(app.directory_id, 2).await;
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Small again"}]
    });
    let response = app.send(reqwest::Method::PATCH, &format!("/Users/{id}"), Some(patch)).await;
    assert_eq!(response.status(), 200);

    let all = sequences(&app, app.directory_id, 3).await;
    let types: Vec<&str> = all.iter().map(|n| n["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["user.provisioned", "user.updated", "user.updated"], "{types:?}");
    let truncated: Vec<bool> = all.iter().map(|n| n["truncated"].as_bool().unwrap()).collect();
    assert_eq!(truncated, [false, true, false]);
    let bounded = &all[1]["data"];
    assert_eq!(bounded["user"]["id"], id.as_str());
    assert!(bounded["user"]["scim_resource_json"].as_str().unwrap_or_default().is_empty());
    assert!(bounded["user"]["title"].is_null(), "the long title is left out");
    assert_eq!(bounded["changes"][0]["field"], "title");

    let records = app.consume_notifications(all.len()).await;
    let ours: Vec<&Notification> = records
        .iter()
        .filter(|r| r.key.as_deref() == Some(app.directory_id.to_string().as_str()))
        .map(|r| &r.notification)
        .collect();
    let on_kafka: Vec<(u64, bool)> = ours.iter().map(|n| (n.sequence, n.truncated)).collect();
    assert_eq!(on_kafka, [(1, false), (2, true), (3, false)], "{on_kafka:?}");
    let max = app.settings.kafka.max_message_bytes;
    assert!(ours.iter().all(|n| encode_notification(n).len() < max));
}

/// A `user.provisioned` notification of `user`, first in its directory's sequence.
fn provisioned(directory: Uuid, tenant: Uuid, user: ProductUser) -> Notification {
    Notification {
        id: Uuid::now_v7().to_string(),
        directory_id: directory.to_string(),
        tenant_id: tenant.to_string(),
        sequence: 1,
        occurred_at_micros: now_micros(),
        cause_event_id: Uuid::now_v7().to_string(),
        body: Some(Body::UserProvisioned(UserProvisioned { user: Some(user) })),
        truncated: false,
    }
}

/// Append `payload` to the outbox as a reconciler does (or one of an older version did): the
/// directory's next sequence, in one transaction. The row's id is the notification's when the
/// payload decodes.
fn append_as_a_reconciler(app: &TestApp, directory: Uuid, payload: Vec<u8>) {
    let id = roster_events::notification::decode_notification(&payload)
        .ok()
        .and_then(|n| Uuid::parse_str(&n.id).ok())
        .unwrap_or_else(Uuid::now_v7);
    app.db
        .conn()
        .transaction::<_, diesel::result::Error, _>(|conn| {
            let sequence = outbox::reserve(conn, directory, 1)?;
            outbox::append(
                conn,
                &[outbox::NotificationRow {
                    directory_id: directory,
                    sequence,
                    id,
                    kind: "user.provisioned".into(),
                    subject_id: None,
                    cause_event_id: Uuid::now_v7(),
                    occurred_at: chrono::Utc::now(),
                    payload,
                }],
            )
        })
        .unwrap();
}

/// Only one replica's relay publishes. A notification another replica appends (its reconciler's
/// transaction, here the test's) is published when that transaction commits, woken by the
/// append's `NOTIFY`, not at the relay's next poll (ten minutes here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replicas_notification_is_published_without_waiting_for_the_poll() {
    let mut app = TestApp::spawn_with(|s| s.role_mapper.relay_poll_ms = 600_000).await;
    app.start_role_mapper().await;
    // Append only once the relay listens: what comes before, it finds by looking once after
    // its listener connects, which would pass this test without the NOTIFY.
    let listening = || {
        diesel::sql_query(
            "SELECT 1 AS one FROM pg_stat_activity WHERE datname = current_database() \
             AND query = 'LISTEN roster_outbox' AND pid <> pg_backend_pid()",
        )
        .execute(&mut app.db.conn())
        .unwrap()
            > 0
    };
    eventually(Duration::from_secs(20), "the relay's listener", || async {
        listening().then_some(())
    })
    .await;
    // The look after the listener connected has been made, and found nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let relay = app.role_mapper.as_ref().unwrap().relay.clone();
    assert_eq!(relay.published.load(Ordering::SeqCst), 0);

    let user = ProductUser {
        id: Uuid::new_v4().to_string(),
        user_name: "elsewhere".into(),
        ..Default::default()
    };
    let notification = provisioned(app.directory_id, app.tenant_id, user);
    append_as_a_reconciler(&app, app.directory_id, encode_notification(&notification));
    eventually(Duration::from_secs(10), "the other replica's notification published", || async {
        (relay.published.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    let records = app.consume_notifications(1).await;
    assert_eq!(records[0].notification.id, notification.id);
}

/// The relay publishes per directory: a directory whose notification the broker refuses is
/// held back, alone, and a notification too large to publish is replaced by its bounded form,
/// while another directory's notifications go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_whose_notifications_fail_does_not_hold_back_another() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let bystander = app.add_bystander();
    // Written to the outbox as an older version could have: too large for the producer, one
    // undecodable (it can only be held back), one a real notification (it can be bounded).
    let (held, bounded) = (Uuid::new_v4(), Uuid::new_v4());
    let user = ProductUser {
        id: Uuid::new_v4().to_string(),
        user_name: "huge".into(),
        title: Some(random_text(1_500_000)),
        ..Default::default()
    };
    let big = provisioned(bounded, Uuid::new_v4(), user);
    append_as_a_reconciler(&app, held, vec![0xff; 1_500_000]);
    append_as_a_reconciler(&app, bounded, encode_notification(&big));
    // The bystander's notification, appended after them, reaches Kafka.
    app.assert_bystander_provisions(&bystander).await;
    let key = bystander.directory_id.to_string();
    let records =
        eventually(Duration::from_secs(20), "the bystander's record on Kafka", || async {
            let records = app.consume_notifications(1).await;
            records.iter().any(|r| r.key.as_deref() == Some(key.as_str())).then_some(records)
        })
        .await;
    let by_key: BTreeMap<String, Vec<&Notification>> =
        records.iter().fold(BTreeMap::new(), |mut map, r| {
            map.entry(r.key.clone().unwrap_or_default()).or_default().push(&r.notification);
            map
        });
    let small = by_key.get(&bounded.to_string()).expect("the bounded notification was published");
    assert_eq!((small[0].sequence, small[0].truncated), (1, true));
    assert!(!by_key.contains_key(&held.to_string()), "the refused one is held back");
    let role_mapper = app.role_mapper.as_ref().unwrap();
    assert!(role_mapper.relay.held.load(Ordering::SeqCst) >= 1);
    assert!(role_mapper.relay.bounded.load(Ordering::SeqCst) >= 1);
    let (_, body) = role_mapper.health.readiness();
    assert!(
        body["components"]["relay"]["heldDirectories"].get(held.to_string()).is_some(),
        "{body}"
    );
}

/// What reconciling an event writes can be refused too (here the event's time, which the
/// projector never stores for an erasure): the event's notification goes out in its bounded
/// form and the directory's sequence keeps no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_postgres_refuses_is_sent_bounded_and_the_sequence_has_no_gap() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let response = app
        .admin(
            reqwest::Method::PUT,
            &format!("/directories/{}/settings", app.directory_id),
            Some(json!({"deprovisionPolicy": "erase"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let response = app.post_user(&entra_user("erased-long-ago")).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    app.await_notifications(app.directory_id, 1).await;

    let mut delete = change_event(&app, app.directory_id, -1_000_000_000_000_000_000);
    delete.change =
        Some(roster_events::Change::DeleteUser(DeleteUser { id: id.clone(), if_match: None }));
    produce(&app, &delete).await;
    assert_eq!(await_outcome(&app, &delete).await.0, 204);
    assert_eq!(app.post_user(&entra_user("after-the-erasure")).await.status(), 201);

    let all = sequences(&app, app.directory_id, 3).await;
    assert_eq!(all[1]["type"], "user.deprovisioned", "{all:?}");
    assert_eq!(all[1]["truncated"], true);
    assert_eq!(all[1]["data"]["user"]["id"], id.as_str());
    assert_eq!(all[2]["type"], "user.provisioned");
    let role_mapper = app.role_mapper.as_ref().unwrap();
    assert!(role_mapper.stats.events_refused.load(Ordering::SeqCst) >= 1);
}

/// The gateway's readiness reports the pipeline's lag per consumer group (and stays ready
/// whatever it is): the projector caught up, the role-mapper (not running) behind by every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_readiness_reports_the_pipelines_lag() {
    let app = TestApp::spawn_with(|s| s.gateway.pipeline_lag_cache_ms = 0).await;
    for i in 0..3 {
        assert_eq!(app.post_user(&entra_user(&format!("lag{i}"))).await.status(), 201);
    }
    let response = app.client.get(format!("{}/health/ready", app.base_url)).send().await.unwrap();
    assert_eq!(response.status(), 200, "lag never makes the gateway unready");
    let body: Value = response.json().await.unwrap();
    let groups = &body["pipeline"]["groups"];
    assert_eq!(body["pipeline"]["logEnd"], 3, "{body}");
    assert_eq!(groups[&app.settings.kafka.projector_group]["lag"], 0, "{body}");
    assert_eq!(groups[&app.settings.kafka.role_mapper_group]["lag"], 3, "{body}");
}
