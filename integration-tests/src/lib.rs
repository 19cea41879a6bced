//! The test harness: every test gets its own Postgres database and its own Kafka topic and
//! consumer group, created by construction and dropped afterwards, and boots the real gateway
//! and projector in-process against the real Postgres and the real Kafka-protocol broker.
//!
//! `ROSTER_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`, the server
//! to create test databases on) and `ROSTER_TEST_KAFKA` (default `127.0.0.1:9092`) point at them;
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
use roster_projector::consumer::Stats;
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
    settings.database.url = format!("{prefix}/roster_test_{id}");
    settings.database.pool_size = 8;
    settings.kafka.brokers =
        std::env::var("ROSTER_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into());
    settings.kafka.changes_topic = format!("test.{id}.changes");
    settings.kafka.projector_group = format!("test.{id}.projector");
    settings.kafka.partitions = 2;
    settings.kafka.message_timeout_ms = 10_000;
    settings.gateway.port = 0;
    settings.gateway.workers = 2;
    settings.gateway.outcome_timeout_ms = 30_000;
    settings.projector.batch_linger_ms = 2;
    settings.telemetry.filter = std::env::var("TEST_LOG").unwrap_or_else(|_| {
        "warn,rdkafka=off,librdkafka=off,roster_gateway::hub=error,roster_projector=error".into()
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
}

/// The whole stack for one test: database, topic, gateway, projector, a tenant, a directory
/// and a token.
pub struct TestApp {
    pub settings: Settings,
    pub base_url: String,
    pub tenant_id: Uuid,
    pub directory_id: Uuid,
    pub token: String,
    pub token_id: Uuid,
    pub client: reqwest::Client,
    pub projector: Option<RunningProjector>,
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
        let gateway_shutdown = Shutdown::new();
        tokio::spawn(gateway.run_until_stopped(gateway_shutdown.clone()));

        TestApp {
            settings,
            base_url,
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
        let shutdown = Shutdown::new();
        let handle = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        RunningProjector { stats, shutdown, handle }
    }

    pub async fn stop_projector(&mut self) -> Result<(), ProjectorError> {
        match self.projector.take() {
            Some(p) => p.stop().await,
            None => Ok(()),
        }
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
    }
}

fn issue_token(settings: &Settings, db: &TestDatabase, directory_id: Uuid) -> (Uuid, SecretString) {
    tokens::issue_stored(&mut db.conn(), &settings.auth.signing_key, directory_id, "test").unwrap()
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

/// An Entra-style create body (reference/entra-requests.md §2.1) for `user_name`.
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
