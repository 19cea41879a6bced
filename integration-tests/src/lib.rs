//! The test harness: every test gets its own Postgres database and its own Kafka topic and
//! consumer group, created by construction and dropped afterwards, and boots the real gateway
//! and projector in-process against the real Postgres and the real Kafka-protocol broker.
//!
//! `ROSTER_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`, the server
//! to create test databases on) and `ROSTER_TEST_KAFKA` (default `127.0.0.1:19192`, the port `make stack` starts it on) point at them;
//! `make test` starts both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection};
use rdkafka::consumer::{BaseConsumer, Consumer};
use roster_platform::{Settings, Shutdown, tokens};
use roster_projector::ProjectorError;
use roster_projector::Stats;
use roster_store::{PgPool, control};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Settings for a test: the repository's defaults with a fresh database, topic and group.
pub fn test_settings() -> Settings {
    let config_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut settings = Settings::load_from(&config_dir).expect("config/default.toml loads");
    let server = std::env::var("ROSTER_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let (prefix, _) = server.rsplit_once('/').expect("database URL has a path");
    let id = Uuid::new_v4().simple().to_string();
    // No GSSAPI and no TLS: libpq would call into Kerberos and OpenSSL on every connect, and a
    // pool's thread still connecting while the test binary exits then dies in krb5's mutexes
    // or in OpenSSL's exit-time cleanup (both seen once).
    settings.database.url = format!("{prefix}/roster_test_{id}?gssencmode=disable&sslmode=disable");
    settings.database.pool_size = 8;
    settings.kafka.brokers =
        std::env::var("ROSTER_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:19192".into());
    settings.kafka.changes_topic = format!("test.{id}.changes");
    settings.kafka.projector_group = format!("test.{id}.projector");
    settings.kafka.notifications_topic = format!("test.{id}.notifications");
    settings.kafka.role_mapper_group = format!("test.{id}.role-mapper");
    settings.role_mapper.relay_poll_ms = 100;
    settings.kafka.partitions = 2;
    // Tests produce events past the gateway (no wake-up): parked consumers look every second.
    settings.kafka.idle_park_max_ms = 1000;
    settings.kafka.message_timeout_ms = 10_000;
    settings.gateway.port = 0;
    settings.gateway.metrics_port = 0;
    settings.gateway.workers = 2;
    settings.gateway.outcome_timeout_ms = 30_000;
    settings.projector.batch_linger_ms = 2;
    // Every test's services serve their health endpoints on a free port of their own.
    settings.projector.health_port = 0;
    settings.role_mapper.health_port = 0;
    settings.telemetry.filter = std::env::var("TEST_LOG").unwrap_or_else(|_| {
        "warn,rdkafka=off,librdkafka=off,roster_gateway::hub=error,roster_projector=error,roster_platform::consumer=error"
            .into()
    });
    settings
}

/// A fresh, migrated database, dropped with the value.
pub struct TestDatabase {
    pub url: String,
    pub pool: PgPool,
}

impl TestDatabase {
    pub fn create(url: &str) -> TestDatabase {
        roster_store::database::create_if_missing(url).expect("create test database");
        let mut conn = PgConnection::establish(url).expect("connect to test database");
        roster_store::migrations::run_pending(&mut conn).expect("migrate test database");
        let pool = roster_store::connect(url, 4).expect("test pool");
        TestDatabase { url: url.to_string(), pool }
    }

    pub fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = roster_store::database::drop_if_exists(&self.url);
    }
}

/// A running projector.
pub struct RunningProjector {
    pub stats: Arc<Stats>,
    /// What its `/health/ready` shows, and the port it is served on.
    pub health: Arc<roster_platform::health::Health>,
    pub health_port: u16,
    shutdown: Shutdown,
    handle: JoinHandle<Result<(), ProjectorError>>,
}

impl RunningProjector {
    /// Stop it and return how it ended.
    pub async fn stop(self) -> Result<(), ProjectorError> {
        self.shutdown.trigger();
        self.handle.await.expect("projector task")
    }

    /// Wait (up to `timeout`) for the projector to end by itself.
    pub async fn join(self, timeout: Duration) -> Option<Result<(), ProjectorError>> {
        tokio::time::timeout(timeout, self.handle).await.ok().map(|r| r.expect("projector task"))
    }

    pub fn applied(&self) -> u64 {
        self.stats.events_applied.load(Ordering::SeqCst)
    }

    /// Whether it is still running (it did not stop by itself).
    pub fn is_running(&self) -> bool {
        !self.handle.is_finished()
    }
}

/// One record of the notifications topic.
#[derive(Debug, Clone)]
pub struct NotificationRecord {
    pub key: Option<String>,
    pub partition: i32,
    pub headers: std::collections::BTreeMap<String, String>,
    pub notification: roster_events::notification::Notification,
}

/// A running role-mapper (reconciler and relay).
pub struct RunningRoleMapper {
    pub stats: Arc<Stats>,
    pub relay: Arc<roster_role_mapper::relay::RelayStats>,
    pub health: Arc<roster_platform::health::Health>,
    pub health_port: u16,
    shutdown: Shutdown,
    handle: JoinHandle<Result<(), ProjectorError>>,
}

impl RunningRoleMapper {
    /// Stop it and return how it ended.
    pub async fn stop(self) -> Result<(), ProjectorError> {
        self.shutdown.trigger();
        self.handle.await.expect("role-mapper task")
    }

    /// Kill it: abort the task without a graceful stop (the consumer thread is told to stop
    /// too, wherever it is, and its batch transaction is rolled back unless it committed).
    pub fn kill(self) {
        self.handle.abort();
        self.shutdown.trigger();
    }

    pub fn applied(&self) -> u64 {
        self.stats.events_applied.load(Ordering::SeqCst)
    }

    pub fn published(&self) -> u64 {
        self.relay.published.load(Ordering::SeqCst)
    }
}

/// A directory of another tenant, with its token.
#[derive(Debug, Clone)]
pub struct Bystander {
    pub directory_id: Uuid,
    pub token: String,
}

/// The whole stack for one test: database, topic, gateway, projector, a tenant, a directory
/// and a token. The role-mapper is started on demand ([`TestApp::start_role_mapper`]).
pub struct TestApp {
    pub settings: Settings,
    pub base_url: String,
    /// The gateway's `/metrics` server.
    pub metrics_url: String,
    pub tenant_id: Uuid,
    pub directory_id: Uuid,
    pub token: String,
    pub token_id: Uuid,
    pub client: reqwest::Client,
    pub projector: Option<RunningProjector>,
    pub role_mapper: Option<RunningRoleMapper>,
    gateway_shutdown: Shutdown,
    pub db: TestDatabase,
}

impl TestApp {
    /// Everything with the test defaults.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Everything, with settings adjusted by `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let mut app = Self::spawn_without_projector(adjust).await;
        app.start_projector().await;
        app
    }

    /// Gateway only, for a broker that is not there (the projector could not start).
    pub async fn spawn_without_broker(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_without_projector(adjust).await
    }

    async fn spawn_without_projector(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = test_settings();
        roster_platform::telemetry::init(&settings.telemetry);
        adjust(&mut settings);
        let db = TestDatabase::create(&settings.database.url);
        let (tenant_id, directory_id) = {
            let mut conn = db.conn();
            let tenant = control::ensure_tenant(&mut conn, "Test Tenant").unwrap();
            let directory =
                control::ensure_directory(&mut conn, tenant.id, "Test Directory").unwrap();
            (tenant.id, directory.id)
        };
        let (token_id, token) = issue_token(&settings, &db, directory_id);

        let gateway = roster_gateway::Application::build(settings.clone()).await.expect("gateway");
        let base_url = gateway.base_url().to_string();
        let metrics_url = format!("http://127.0.0.1:{}/metrics", gateway.metrics_port());
        let gateway_shutdown = Shutdown::new();
        tokio::spawn(gateway.run_until_stopped(gateway_shutdown.clone()));

        TestApp {
            settings,
            base_url,
            metrics_url,
            tenant_id,
            directory_id,
            token: token.expose_secret().to_string(),
            token_id,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(64)
                .build()
                .unwrap(),
            projector: None,
            role_mapper: None,
            gateway_shutdown,
            db,
        }
    }

    /// Start a projector (after `stop_projector`, or a second one).
    pub async fn start_projector(&mut self) {
        assert!(self.projector.is_none(), "a projector is already running");
        self.projector = Some(self.spawn_projector().await);
    }

    /// A projector not owned by the app (for tests that watch it fail).
    pub async fn spawn_projector(&self) -> RunningProjector {
        let app =
            roster_projector::Application::build(self.settings.clone()).await.expect("projector");
        let stats = app.stats();
        let (health, health_port) = (app.health(), app.health_port());
        let shutdown = Shutdown::new();
        let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        RunningProjector { stats, health, health_port, shutdown, handle }
    }

    pub async fn stop_projector(&mut self) -> Result<(), ProjectorError> {
        match self.projector.take() {
            Some(p) => p.stop().await,
            None => Ok(()),
        }
    }

    /// Start a role-mapper (after `stop_role_mapper`, or the first one).
    pub async fn start_role_mapper(&mut self) {
        assert!(self.role_mapper.is_none(), "a role-mapper is already running");
        self.role_mapper = Some(self.spawn_role_mapper().await);
    }

    /// A role-mapper not owned by the app.
    pub async fn spawn_role_mapper(&self) -> RunningRoleMapper {
        let app = roster_role_mapper::Application::build(self.settings.clone())
            .await
            .expect("role-mapper");
        let stats = app.stats();
        let relay = app.relay_stats();
        let (health, health_port) = (app.health(), app.health_port());
        let shutdown = Shutdown::new();
        let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        RunningRoleMapper { stats, relay, health, health_port, shutdown, handle }
    }

    pub async fn stop_role_mapper(&mut self) -> Result<(), ProjectorError> {
        match self.role_mapper.take() {
            Some(r) => r.stop().await,
            None => Ok(()),
        }
    }

    /// An admin API token: operator scope, or scoped to one tenant.
    pub fn admin_token(&self, tenant: Option<Uuid>) -> String {
        use roster_platform::admin_tokens::{self, AdminScope};
        let scope = tenant.map_or(AdminScope::Operator, AdminScope::Tenant);
        let (_, token) = admin_tokens::issue_stored(
            &mut self.db.conn(),
            &self.settings.auth.admin_keys(),
            "tests",
            scope,
            "tests",
            chrono::Utc::now() + chrono::Duration::hours(1),
        )
        .unwrap();
        token.expose_secret().to_string()
    }

    /// A request to the admin API (`path` after `/admin/v1`) with an operator token.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        self.admin_as(&self.admin_token(None), method, path, body).await
    }

    /// A request to the admin API (`path` after `/admin/v1`) with the given admin token.
    pub async fn admin_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("{}/admin/v1{path}", self.base_url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("admin request")
    }

    /// Replace a directory's role-mapping rules; panics unless the answer is 200.
    pub async fn set_role_mappings(&self, directory_id: Uuid, rules: Value) -> Value {
        let response = self
            .admin(
                reqwest::Method::PUT,
                &format!("/directories/{directory_id}/role-mappings"),
                Some(rules),
            )
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "PUT role-mappings: {body}");
        body
    }

    /// A directory's notifications after `after`, from the Events API (JSON form).
    pub async fn notifications_after(&self, directory_id: Uuid, after: i64) -> Vec<Value> {
        let response = self
            .admin(
                reqwest::Method::GET,
                &format!("/directories/{directory_id}/notifications?after={after}&limit=1000"),
                None,
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["notifications"].as_array().cloned().unwrap_or_default()
    }

    /// Wait until the Events API shows at least `count` notifications of the directory.
    pub async fn await_notifications(&self, directory_id: Uuid, count: usize) -> Vec<Value> {
        eventually(Duration::from_secs(30), &format!("{count} notifications"), || async {
            let all = self.notifications_after(directory_id, 0).await;
            (all.len() >= count).then_some(all)
        })
        .await
    }

    /// The records on the notifications topic (every partition, from the beginning), in the
    /// order of each partition: read until at least `count` have arrived and nothing more came
    /// for half a second, or 30 s passed.
    pub async fn consume_notifications(&self, count: usize) -> Vec<NotificationRecord> {
        use rdkafka::TopicPartitionList;
        use rdkafka::message::{Headers, Message};
        use rdkafka::topic_partition_list::Offset;
        let settings = self.settings.kafka.clone();
        tokio::task::spawn_blocking(move || {
            let mut config = roster_platform::kafka::consumer_config(&settings, "reader");
            config.set("enable.partition.eof", "false");
            let consumer: BaseConsumer = config.create().unwrap();
            let mut assignment = TopicPartitionList::new();
            for partition in 0..settings.partitions {
                assignment
                    .add_partition_offset(
                        &settings.notifications_topic,
                        partition,
                        Offset::Beginning,
                    )
                    .unwrap();
            }
            consumer.assign(&assignment).unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut last_arrival = Instant::now();
            let mut out = Vec::new();
            while Instant::now() < deadline
                && (out.len() < count || last_arrival.elapsed() < Duration::from_millis(500))
            {
                let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) else { continue };
                last_arrival = Instant::now();
                let headers = message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                let value =
                                    h.value.map(|v| String::from_utf8_lossy(v).into_owned());
                                (h.key.to_string(), value.unwrap_or_default())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(NotificationRecord {
                    key: message.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    partition: message.partition(),
                    headers,
                    notification: roster_events::notification::decode_notification(
                        message.payload().unwrap_or_default(),
                    )
                    .unwrap(),
                });
            }
            out
        })
        .await
        .unwrap()
    }

    /// The Tenant URL of the test directory.
    pub fn scim_url(&self) -> String {
        format!("{}/scim/v2/{}", self.base_url, self.directory_id)
    }

    pub async fn post_user(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/Users", self.scim_url()))
            .bearer_auth(&self.token)
            .header("Content-Type", "application/scim+json")
            .json(body)
            .send()
            .await
            .expect("POST /Users")
    }

    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path_and_query}", self.scim_url()))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("GET")
    }

    /// Any request to the test directory's SCIM root, with a JSON body if given.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.scim_url()))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/scim+json").json(&body);
        }
        request.send().await.expect("SCIM request")
    }

    /// Events on the change topic (sum of the partitions' high watermarks).
    pub async fn published_count(&self) -> i64 {
        let settings = self.settings.kafka.clone();
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer =
                roster_platform::kafka::consumer_config(&settings, "watermarks").create().unwrap();
            (0..settings.partitions)
                .map(|p| {
                    consumer
                        .fetch_watermarks(&settings.changes_topic, p, Duration::from_secs(10))
                        .map(|(_, high)| high)
                        .unwrap_or(0)
                })
                .sum()
        })
        .await
        .unwrap()
    }

    /// Another tenant with its own directory and token, beside the test's: the bystander that
    /// hostile-input and fault tests check is unharmed ([`TestApp::assert_bystander_provisions`]).
    pub fn add_bystander(&self) -> Bystander {
        let mut conn = self.db.conn();
        let tenant = control::ensure_tenant(&mut conn, "Bystander Tenant").unwrap();
        let directory = control::ensure_directory(&mut conn, tenant.id, "Bystander").unwrap();
        let (_, token) = self.issue_token(directory.id);
        Bystander { directory_id: directory.id, token }
    }

    /// The bystander still provisions: a new user is created (201) within 2 s and, when the
    /// role-mapper runs, its `user.provisioned` is in the Events API within 5 s more.
    pub async fn assert_bystander_provisions(&self, bystander: &Bystander) {
        let user_name = format!("bystander-{}", Uuid::new_v4().simple());
        let started = Instant::now();
        let response = self
            .client
            .post(format!("{}/scim/v2/{}/Users", self.base_url, bystander.directory_id))
            .bearer_auth(&bystander.token)
            .header("Content-Type", "application/scim+json")
            .json(&entra_user(&user_name))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .unwrap_or_else(|e| panic!("the bystander's create did not answer within 2 s: {e}"));
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        assert_eq!(status, 201, "the bystander's create: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the bystander's create took {:?}",
            started.elapsed()
        );
        if self.role_mapper.is_none() {
            return;
        }
        let id = body["id"].as_str().expect("created user id").to_string();
        eventually(Duration::from_secs(5), "the bystander's user.provisioned", || async {
            let all = self.notifications_after(bystander.directory_id, 0).await;
            all.iter()
                .any(|n| {
                    n["type"] == "user.provisioned"
                        && n["data"]["user"]["id"].as_str() == Some(id.as_str())
                })
                .then_some(())
        })
        .await;
    }

    /// Issue another token for a directory.
    pub fn issue_token(&self, directory_id: Uuid) -> (Uuid, String) {
        let (id, token) = issue_token(&self.settings, &self.db, directory_id);
        (id, token.expose_secret().to_string())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.gateway_shutdown.trigger();
        if let Some(projector) = self.projector.take() {
            projector.shutdown.trigger();
        }
        if let Some(role_mapper) = self.role_mapper.take() {
            role_mapper.shutdown.trigger();
        }
    }
}

fn issue_token(settings: &Settings, db: &TestDatabase, directory_id: Uuid) -> (Uuid, SecretString) {
    let (row, token) = tokens::issue_stored(
        &mut db.conn(),
        &settings.auth.scim_keys(),
        directory_id,
        "test",
        None,
    )
    .unwrap();
    (row.id, token)
}

/// Poll `check` until it returns `Some`, or panic after `timeout`. Tests wait on deadlines,
/// never on fixed sleeps.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A token of the right shape for `directory_id` and `token_id`, signed with a key the gateway
/// does not have: what a forger sends.
pub fn forged_token(directory_id: Uuid, token_id: Uuid) -> String {
    let key = roster_platform::keys::Keys::single(SecretString::from("f".repeat(48)));
    let token = tokens::issue(&key, directory_id, token_id, 0, None).expect("sign a token");
    token.expose_secret().to_string()
}

/// An Entra-style create body (docs/entra/requests.md §2.1) for `user_name`.
pub fn entra_user(user_name: &str) -> Value {
    serde_json::json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": Uuid::new_v4().to_string(),
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": format!("{user_name}@testuser.com")}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []
    })
}
