//! The role-mapper killed with SIGKILL mid-batch, again and again, as a real process: after
//! deduplication by `(directory_id, sequence)` every expected notification is on Kafka once,
//! the sequence has no gap, and the order per directory holds.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use roster_events::notification::{Body, notification_type};
use roster_integration_tests::{TestApp, entra_user, eventually};
use serde_json::json;

/// The role-mapper binary, built (or found up to date) once per test run, so that the process
/// killed is the code under test.
fn role_mapper_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .current_dir(&workspace)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "roster-role-mapper",
                    "--bin",
                    "roster-role-mapper",
                ])
                .status()
                .expect("run cargo build");
            assert!(status.success(), "building roster-role-mapper failed");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace.join("target"));
            target.join("debug/roster-role-mapper")
        })
        .clone()
}

/// A role-mapper process, SIGKILLed when dropped (a failing test leaves none behind).
struct Process(Child);

impl Process {
    fn kill(&mut self) {
        self.0.kill().expect("SIGKILL the role-mapper");
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_role_mapper(app: &TestApp) -> Process {
    let s = &app.settings;
    let child = Command::new(role_mapper_binary())
        .env("ROSTER_CONFIG_DIR", PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config"))
        .env("ROSTER__DATABASE__URL", &s.database.url)
        .env("ROSTER__KAFKA__BROKERS", &s.kafka.brokers)
        .env("ROSTER__KAFKA__PARTITIONS", s.kafka.partitions.to_string())
        .env("ROSTER__KAFKA__CHANGES_TOPIC", &s.kafka.changes_topic)
        .env("ROSTER__KAFKA__PROJECTOR_GROUP", &s.kafka.projector_group)
        .env("ROSTER__KAFKA__NOTIFICATIONS_TOPIC", &s.kafka.notifications_topic)
        .env("ROSTER__KAFKA__ROLE_MAPPER_GROUP", &s.kafka.role_mapper_group)
        .env("ROSTER__ROLE_MAPPER__RELAY_POLL_MS", "100")
        .env("ROSTER__ROLE_MAPPER__HEALTH_PORT", "0")
        // Small batches, so that a kill lands between and inside many of them.
        .env("ROSTER__ROLE_MAPPER__MAX_BATCH", "20")
        .env("ROSTER__ROLE_MAPPER__RELAY_BATCH", "25")
        .env("ROSTER__TELEMETRY__FILTER", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start roster-role-mapper");
    Process(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_role_mapper_loses_nothing_and_keeps_the_order() {
    let app = TestApp::spawn().await;
    let directory = app.directory_id;

    // Writes go on in the background while the role-mapper is killed and restarted.
    const USERS: usize = 240;
    let writer = {
        let client = app.client.clone();
        let url = app.scim_url();
        let token = app.token.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..USERS {
                let response = client
                    .post(format!("{url}/Users"))
                    .bearer_auth(&token)
                    .json(&entra_user(&format!("crash{i}@contoso.com")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201);
                let body: serde_json::Value = response.json().await.unwrap();
                ids.push(body["id"].as_str().unwrap().to_string());
                if i % 60 == 59 {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
            }
            ids
        })
    };

    let mut kills = 0;
    let mut child = spawn_role_mapper(&app);
    for delay in [400u64, 250, 600, 300, 500, 350] {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.kill();
        kills += 1;
        child = spawn_role_mapper(&app);
    }
    let user_ids = writer.await.unwrap();

    // A group with every user, then half of them removed: membership notifications in bulk,
    // under one more kill.
    let group = app
        .send(
            reqwest::Method::POST,
            "/Groups",
            Some(json!({"displayName": "Everyone", "externalId": "everyone"})),
        )
        .await;
    assert_eq!(group.status(), 201);
    let group_id =
        group.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let members: Vec<_> = user_ids.iter().map(|id| json!({"value": id})).collect();
    let add = app
        .send(
            reqwest::Method::PATCH,
            &format!("/Groups/{group_id}"),
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Add", "path": "members", "value": members}]})),
        )
        .await;
    assert_eq!(add.status(), 204);
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.kill();
    kills += 1;
    let mut child = spawn_role_mapper(&app);

    // Expected: a provisioned per user, the group created, every user added (in chunks).
    let expected_minimum = USERS + 1 + 1;
    // Each kill leaves a dead member in the consumer group until its session times out, so the
    // restarted role-mapper may wait a while for its partitions.
    let all = eventually(Duration::from_secs(120), "every notification in the outbox", || {
        let app = &app;
        async move {
            let all = app.notifications_after(directory, 0).await;
            (all.len() >= expected_minimum).then_some(all)
        }
    })
    .await;
    let last_sequence = all.last().unwrap()["sequence"].as_i64().unwrap();
    let published = eventually(Duration::from_secs(60), "every notification on Kafka", || {
        let app = &app;
        async move {
            let records = app.consume_notifications(last_sequence as usize).await;
            let max = records.iter().map(|r| r.notification.sequence as i64).max().unwrap_or(0);
            (max >= last_sequence).then_some(records)
        }
    })
    .await;
    child.kill();
    assert!(kills >= 7);

    // Deduplicate by (directory, sequence); the first delivery of each sequence must come in
    // order, and the sequence must have no gap.
    let mut first_seen: BTreeMap<u64, String> = BTreeMap::new();
    let mut highest = 0u64;
    for record in &published {
        let n = &record.notification;
        assert_eq!(n.directory_id, directory.to_string());
        let kind = notification_type(n.body.as_ref().unwrap()).to_string();
        assert_eq!(record.headers.get("ce_id"), Some(&n.id));
        assert_eq!(record.headers.get("ce_type"), Some(&kind));
        if let Some(previous) = first_seen.get(&n.sequence) {
            assert_eq!(previous, &n.id, "a redelivery carries the same notification id");
            continue;
        }
        assert!(
            n.sequence <= highest + 1,
            "sequence {} delivered before {} (order per directory)",
            n.sequence,
            highest + 1
        );
        highest = highest.max(n.sequence);
        first_seen.insert(n.sequence, n.id.clone());
    }
    let sequences: Vec<u64> = first_seen.keys().copied().collect();
    let expected: Vec<u64> = (1..=last_sequence as u64).collect();
    assert_eq!(sequences, expected, "the sequence has no gap");

    // Every user provisioned exactly once, and added to the group exactly once.
    let mut provisioned: HashMap<String, usize> = HashMap::new();
    let mut added: HashMap<String, usize> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for n in published.iter().map(|r| &r.notification) {
        if !seen.insert(n.sequence) {
            continue;
        }
        match n.body.as_ref().unwrap() {
            Body::UserProvisioned(b) => {
                *provisioned.entry(b.user.as_ref().unwrap().id.clone()).or_default() += 1
            }
            Body::GroupMemberAdded(b) => {
                for m in &b.members {
                    *added.entry(m.id.clone()).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for n in &all {
        *kinds.entry(n["type"].as_str().unwrap().to_string()).or_default() += 1;
    }
    for id in &user_ids {
        assert_eq!(provisioned.get(id), Some(&1), "user {id} provisioned once; {kinds:?}");
        assert_eq!(added.get(id), Some(&1), "user {id} added to the group once; {kinds:?}");
    }
    assert_eq!(provisioned.len(), USERS);
}
