//! `chaos`: the fault harness behind `make chaos` (and its short form in `make test`).
//!
//! It runs the real release binaries (gateway, projector, role-mapper; one or two instances of
//! each, the instances sharing the consumer groups) against a durable broker of its own and a
//! database of its own, under Entra-like load: `--clients` clients creating users and patching
//! the users they created, retrying a 503, a 429 or a broken connection as Entra does. Meanwhile
//! it injects faults one after the other, with the load running:
//!
//! - SIGKILL of each service alone, then of two together (a killed service is started again
//!   after `--down-ms`; with two instances, one instance of each named service is killed);
//! - a broker restart (the durable broker is stopped and started again);
//! - a Postgres restart (`--postgres-restart`, a shell command: scripts/chaos.sh gives the run
//!   a Postgres cluster of its own, so that restarting it harms nobody else).
//!
//! Then, once the pipeline has drained, it verifies what Roster promises:
//! - every acknowledged create is in the projection, with the value of its last acknowledged
//!   PATCH (or of a later one that was sent but never answered);
//! - no userName is there twice;
//! - the directory's notifications on `roster.notifications.v1` have every sequence from 1 to
//!   the last without a gap, and every user has exactly one `user.provisioned`;
//! - no answer was a 5xx other than 503 with `Retry-After`, and no service panicked.
//!
//! It prints a Markdown report on stdout (progress on stderr) and exits 1 if any check failed.
//! `scripts/chaos.sh` builds the binaries and runs it; see docs/reliability.md.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const NOTIFICATIONS_TOPIC: &str = "roster.notifications.v1";
/// The three services, by binary name.
const SERVICES: [&str; 3] = ["roster-gateway", "roster-projector", "roster-role-mapper"];

#[derive(Parser, Debug)]
#[command(name = "chaos", about = "Roster's fault harness: load, faults, then verification")]
struct Args {
    /// Where the release binaries are (`roster`, `roster-gateway`, …).
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// scripts/stack.sh, which starts and stops the durable broker.
    #[arg(long, default_value = "scripts/stack.sh")]
    stack_script: PathBuf,
    /// Working directory: the broker's data and every service's log.
    #[arg(long)]
    work_dir: PathBuf,
    /// Postgres server URL without a database; the run creates and drops a database of its own.
    /// The server is restarted (the `postgres` fault), so it should be the run's own
    /// (scripts/chaos.sh starts one).
    #[arg(long)]
    postgres: String,
    /// The shell command that restarts that Postgres server.
    #[arg(long)]
    postgres_restart: String,
    #[arg(long, default_value_t = 19392)]
    kafka_port: u16,
    /// The first gateway's port; the second instance listens on the next one.
    #[arg(long, default_value_t = 18090)]
    gateway_port: u16,
    /// Instances of each service (1 or 2).
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Clients creating and patching at once.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// The faults, in order, comma-separated: a service name (`gateway`, `projector`,
    /// `role-mapper`), two joined with `+`, `broker` or `postgres`.
    #[arg(
        long,
        default_value = "projector,gateway,role-mapper,projector+role-mapper,gateway+projector,broker,postgres"
    )]
    faults: String,
    /// Load without faults before the first fault, and after each one (ms).
    #[arg(long, default_value_t = 5000)]
    settle_ms: u64,
    /// How long a killed service stays down (ms).
    #[arg(long, default_value_t = 1000)]
    down_ms: u64,
    /// How long a client retries one request before it counts it unanswered (ms).
    #[arg(long, default_value_t = 120_000)]
    give_up_ms: u64,
    /// Give each consumer a static group membership (`kafka.group_instance_id`, kept across its
    /// restarts), as a StatefulSet's pod names would.
    #[arg(long)]
    static_membership: bool,
    /// Keep the database afterwards (its name is printed).
    #[arg(long)]
    keep: bool,
}

/// One fault of the schedule.
#[derive(Debug, Clone, PartialEq)]
enum Fault {
    /// SIGKILL these services (one instance each), then start them again.
    Kill(Vec<&'static str>),
    Broker,
    Postgres,
}

impl Fault {
    fn parse(text: &str) -> anyhow::Result<Fault> {
        match text.trim() {
            "broker" => Ok(Fault::Broker),
            "postgres" => Ok(Fault::Postgres),
            names => names
                .split('+')
                .map(|name| {
                    let binary = format!("roster-{}", name.trim());
                    SERVICES
                        .iter()
                        .copied()
                        .find(|s| *s == binary)
                        .with_context(|| format!("unknown fault {name:?}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .map(Fault::Kill),
        }
    }

    fn label(&self) -> String {
        match self {
            Fault::Kill(names) => format!(
                "SIGKILL {}",
                names
                    .iter()
                    .map(|n| n.trim_start_matches("roster-"))
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
            Fault::Broker => "broker restart".into(),
            Fault::Postgres => "Postgres restart".into(),
        }
    }
}

/// One running (or stopped) instance of a service, its output appended to a log file.
struct Service {
    binary: &'static str,
    instance: usize,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
    starts: usize,
}

impl Service {
    fn start(&mut self, bin_dir: &Path) -> anyhow::Result<()> {
        let log = OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(bin_dir.join(self.binary))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary))?;
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    /// SIGKILL, and reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (a graceful stop), then SIGKILL after 10 s.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether it exited on its own (a crash the harness did not cause).
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }
}

/// What the clients saw, shared between them.
#[derive(Default)]
struct Ledger {
    /// Acknowledged users: id → (userName, last acknowledged displayName, a displayName sent
    /// later and never answered).
    users: HashMap<Uuid, AckedUser>,
    /// userNames whose create was never answered (it may or may not have been applied).
    unanswered_creates: HashSet<String>,
    /// Answers by status, and transport failures by kind.
    statuses: BTreeMap<u16, usize>,
    transport: BTreeMap<String, usize>,
    /// 5xx answers that were not 503 with Retry-After, with a sample body each.
    server_errors: Vec<String>,
    /// 4xx answers a correct client should never get.
    unexpected: Vec<String>,
    creates: usize,
    patches: usize,
    /// When each write was acknowledged, for the pauses each fault caused.
    acks: Vec<Instant>,
}

#[derive(Debug, Clone)]
struct AckedUser {
    user_name: String,
    display: String,
    unanswered: Option<String>,
}

/// How a request ended.
enum Answer {
    Done(StatusCode, Value),
    /// Never answered within `give_up_ms` (every try failed or was refused as unavailable).
    Unanswered,
}

struct Load {
    client: Client,
    gateways: Vec<String>,
    directory: Uuid,
    token: String,
    ledger: Mutex<Ledger>,
    stop: AtomicBool,
    next_gateway: AtomicUsize,
    give_up: Duration,
}

impl Load {
    fn tenant_url(&self) -> String {
        let i = self.next_gateway.fetch_add(1, Ordering::Relaxed) % self.gateways.len();
        format!("{}/scim/v2/{}", self.gateways[i], self.directory)
    }

    fn record_status(&self, status: StatusCode, retry_after: bool, what: &str, body: &str) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        *ledger.statuses.entry(status.as_u16()).or_default() += 1;
        let unavailable = status == StatusCode::SERVICE_UNAVAILABLE && retry_after;
        if status.is_server_error() && !unavailable && ledger.server_errors.len() < 1000 {
            ledger.server_errors.push(format!("{what}: {status} {}", truncate(body, 300)));
        }
    }

    fn record_transport(&self, kind: &str) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        *ledger.transport.entry(kind.to_string()).or_default() += 1;
    }

    /// Send until answered, as Entra does: a 503 or 429 is retried after its Retry-After
    /// (capped at 1 s, to keep the pace), a broken connection after 200 ms, each time on the
    /// next gateway. Any other answer is returned.
    async fn send(&self, method: Method, path: &str, body: &Value) -> Answer {
        let deadline = Instant::now() + self.give_up;
        let what = format!("{method} {path}");
        while Instant::now() < deadline {
            let url = format!("{}{path}", self.tenant_url());
            let mut request = self.client.request(method.clone(), &url).bearer_auth(&self.token);
            if !body.is_null() {
                request =
                    request.header("content-type", "application/scim+json").body(body.to_string());
            }
            let sent = request.send().await;
            let response = match sent {
                Ok(response) => response,
                Err(error) => {
                    let kind = if error.is_timeout() {
                        "timeout"
                    } else if error.is_connect() {
                        "connection refused"
                    } else {
                        "connection broken"
                    };
                    self.record_transport(kind);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let text = match response.text().await {
                Ok(text) => text,
                Err(_) => {
                    self.record_transport("body broken");
                    continue;
                }
            };
            self.record_status(status, retry_after.is_some(), &what, &text);
            if status == StatusCode::SERVICE_UNAVAILABLE
                || status == StatusCode::TOO_MANY_REQUESTS
                || status.is_server_error()
            {
                let wait =
                    Duration::from_secs(retry_after.unwrap_or(1)).min(Duration::from_secs(1));
                tokio::time::sleep(wait).await;
                continue;
            }
            return Answer::Done(status, serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        Answer::Unanswered
    }

    fn unexpected(&self, what: String) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        if ledger.unexpected.len() < 1000 {
            ledger.unexpected.push(what);
        }
    }

    async fn create(&self, user_name: &str) -> Option<Uuid> {
        let display = format!("{user_name} v0");
        let body = json!({
            "schemas": [USER_SCHEMA], "userName": user_name, "active": true,
            "displayName": display, "externalId": Uuid::new_v4().to_string(),
            "name": {"givenName": "Chaos", "familyName": user_name},
            "emails": [{"primary": true, "type": "work", "value": user_name}],
        });
        let id = match self.send(Method::POST, "/Users", &body).await {
            Answer::Done(StatusCode::CREATED, created) => parse_id(&created),
            // An earlier try was applied but its answer was lost (a killed gateway, a 503 while
            // the projector caught up): the user is there, acknowledged now by the 409.
            Answer::Done(StatusCode::CONFLICT, _) => self.find(user_name).await,
            Answer::Done(status, body) => {
                self.unexpected(format!("POST /Users {user_name}: {status} {body}"));
                None
            }
            Answer::Unanswered => {
                let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
                ledger.unanswered_creates.insert(user_name.to_string());
                return None;
            }
        }?;
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        ledger.creates += 1;
        ledger
            .users
            .insert(id, AckedUser { user_name: user_name.to_string(), display, unanswered: None });
        Some(id)
    }

    async fn find(&self, user_name: &str) -> Option<Uuid> {
        let path = format!("/Users?filter=userName+eq+%22{user_name}%22");
        match self.send(Method::GET, &path, &Value::Null).await {
            Answer::Done(StatusCode::OK, list) => list["Resources"].get(0).and_then(parse_id),
            Answer::Done(status, body) => {
                self.unexpected(format!("GET {path}: {status} {body}"));
                None
            }
            Answer::Unanswered => None,
        }
    }

    async fn patch(&self, id: Uuid, display: String) {
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "replace", "path": "displayName", "value": display}]});
        let answer = self.send(Method::PATCH, &format!("/Users/{id}"), &body).await;
        let mut ledger = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        match answer {
            Answer::Done(status, _) if status.is_success() => {
                ledger.patches += 1;
                ledger.acks.push(Instant::now());
                if let Some(user) = ledger.users.get_mut(&id) {
                    user.display = display;
                    user.unanswered = None;
                }
            }
            Answer::Done(status, body) => {
                drop(ledger);
                self.unexpected(format!("PATCH /Users/{id}: {status} {body}"));
            }
            Answer::Unanswered => {
                if let Some(user) = ledger.users.get_mut(&id) {
                    user.unanswered = Some(display);
                }
            }
        }
    }

    /// One client: three creates to one patch of a user it created, until told to stop.
    async fn client(self: Arc<Self>, n: usize, run: String) {
        let mut mine: Vec<Uuid> = Vec::new();
        let mut rng = 0x9E37_79B9_7F4A_7C15_u64 ^ (n as u64 + 1);
        let mut step = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            step += 1;
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            if mine.is_empty() || !rng.is_multiple_of(4) {
                let user_name = format!("{run}-c{n}-u{step}@chaos.example");
                if let Some(id) = self.create(&user_name).await {
                    mine.push(id);
                }
            } else {
                let id = mine[(rng >> 8) as usize % mine.len()];
                self.patch(id, format!("c{n} step {step}")).await;
            }
        }
    }
}

/// How long writes may go unacknowledged after a fault before the run fails.
const RECOVERY_LIMIT: Duration = Duration::from_secs(90);

/// One fault of the run: when it was injected and when the next fault began.
struct Phase {
    fault: String,
    from: Instant,
    to: Instant,
}

/// The writes acknowledged between `from` and `to`, and the longest time in that window
/// without one (from `from` to the first, between two, from the last to `to`).
fn pause(acks: &[Instant], from: Instant, to: Instant) -> (usize, Duration) {
    let mut inside: Vec<Instant> =
        acks.iter().copied().filter(|t| *t >= from && *t <= to).collect();
    inside.sort();
    let mut edges = vec![from];
    edges.extend(&inside);
    edges.push(to);
    let longest = edges.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
    (inside.len(), longest)
}

fn parse_id(resource: &Value) -> Option<Uuid> {
    resource["id"].as_str().and_then(|id| Uuid::parse_str(id).ok())
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn say(message: impl std::fmt::Display) {
    eprintln!("chaos: {message}");
}

/// The run's stack: the broker (through scripts/stack.sh) and the services.
struct Stack {
    args: Args,
    broker_dir: PathBuf,
    services: Vec<Service>,
}

impl Stack {
    fn broker(&self, verb: &str) -> anyhow::Result<()> {
        let mut command = Command::new(&self.args.stack_script);
        command.arg(verb).arg(&self.broker_dir).env("KAFKA_PORT", self.args.kafka_port.to_string());
        let status = command.status().with_context(|| format!("stack.sh {verb}"))?;
        if !status.success() {
            bail!("stack.sh {verb} failed: {status}");
        }
        Ok(())
    }

    /// The first instance of a service: the one a fault kills (with two, the other carries on).
    fn first(&mut self, binary: &str) -> Option<&mut Service> {
        self.services.iter_mut().find(|s| s.binary == binary)
    }

    /// Inject a fault and recover from it.
    async fn inject(&mut self, fault: &Fault) -> anyhow::Result<()> {
        let down = Duration::from_millis(self.args.down_ms);
        match fault {
            Fault::Kill(names) => {
                for name in names {
                    if let Some(service) = self.first(name) {
                        service.kill();
                    }
                }
                tokio::time::sleep(down).await;
                let bin_dir = self.args.bin_dir.clone();
                for name in names {
                    if let Some(service) = self.first(name) {
                        service.start(&bin_dir)?;
                    }
                }
            }
            Fault::Broker => {
                self.broker("broker-stop")?;
                tokio::time::sleep(down).await;
                self.broker("broker-durable")?;
            }
            Fault::Postgres => {
                let status = Command::new("bash")
                    .arg("-c")
                    .arg(&self.args.postgres_restart)
                    .stdout(Stdio::null())
                    .status()
                    .context("restarting Postgres")?;
                if !status.success() {
                    bail!("the Postgres restart command failed: {status}");
                }
            }
        }
        Ok(())
    }

    /// Services that exited without being killed: each is a failure, and is started again.
    fn crashed(&mut self) -> Vec<String> {
        let bin_dir = self.args.bin_dir.clone();
        let mut out = Vec::new();
        for service in &mut self.services {
            if let Some(status) = service.exited() {
                out.push(format!(
                    "{} #{} exited on its own: {status}",
                    service.binary, service.instance
                ));
                let _ = service.start(&bin_dir);
            }
        }
        out
    }

    fn shutdown(&mut self) {
        for service in &mut self.services {
            service.stop();
        }
        let _ = self.broker("broker-stop");
    }
}

async fn wait_ready(client: &Client, gateway: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(response) = client.get(format!("{gateway}/health/ready")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{gateway} did not become ready within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[derive(QueryableByName)]
struct UserRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    user_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    display_name: Option<String>,
}

/// The checks' findings: each line is a failure.
#[derive(Default)]
struct Findings {
    failures: Vec<String>,
    notes: Vec<(String, String)>,
}

impl Findings {
    fn fail(&mut self, what: impl Into<String>) {
        if self.failures.len() < 200 {
            self.failures.push(what.into());
        }
    }
    fn note(&mut self, what: &str, value: impl std::fmt::Display) {
        self.notes.push((what.to_string(), value.to_string()));
    }
}

/// The projection against the ledger: every acknowledged user with its last acknowledged
/// value, and no userName twice.
fn check_projection(
    url: &str,
    directory: Uuid,
    ledger: &Ledger,
    findings: &mut Findings,
) -> anyhow::Result<Vec<Uuid>> {
    let mut conn = PgConnection::establish(url)?;
    let rows: Vec<UserRow> = diesel::sql_query(
        "SELECT id, user_name, display_name FROM users WHERE directory_id = $1 AND deleted_at IS NULL",
    )
    .bind::<SqlUuid, _>(directory)
    .load(&mut conn)?;
    let by_id: HashMap<Uuid, &UserRow> = rows.iter().map(|r| (r.id, r)).collect();
    let mut lost = 0;
    let mut stale = 0;
    for (id, acked) in &ledger.users {
        let Some(row) = by_id.get(id) else {
            lost += 1;
            findings.fail(format!("acknowledged user {id} ({}) is missing", acked.user_name));
            continue;
        };
        if row.user_name != acked.user_name {
            findings.fail(format!(
                "user {id}: userName {} instead of {}",
                row.user_name, acked.user_name
            ));
        }
        let shown = row.display_name.as_deref().unwrap_or_default();
        if shown != acked.display && acked.unanswered.as_deref() != Some(shown) {
            stale += 1;
            findings.fail(format!(
                "user {id}: displayName {shown:?}, but the last acknowledged PATCH set {:?}",
                acked.display
            ));
        }
    }
    let mut names: HashMap<String, usize> = HashMap::new();
    for row in &rows {
        *names.entry(row.user_name.to_lowercase()).or_default() += 1;
    }
    let twice: Vec<_> = names.iter().filter(|(_, n)| **n > 1).collect();
    for (name, n) in &twice {
        findings.fail(format!("userName {name} is there {n} times"));
    }
    let acked_names: HashSet<&str> = ledger.users.values().map(|u| u.user_name.as_str()).collect();
    let extra = rows
        .iter()
        .filter(|r| !acked_names.contains(r.user_name.as_str()))
        .filter(|r| !ledger.unanswered_creates.contains(&r.user_name))
        .count();
    if extra > 0 {
        findings.fail(format!("{extra} users are there that no client created"));
    }
    findings.note("users in the projection", rows.len());
    findings.note("acknowledged users lost", lost);
    findings.note("acknowledged PATCH values lost", stale);
    findings.note("userNames twice", twice.len());
    Ok(rows.iter().map(|r| r.id).collect())
}

/// The directory's notifications as published: every sequence from 1 to the last stored, and
/// one `user.provisioned` per user.
fn check_notifications(
    brokers: &str,
    url: &str,
    directory: Uuid,
    users: &[Uuid],
    findings: &mut Findings,
) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(url)?;
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        last: i64,
    }
    let last = diesel::sql_query(
        "SELECT coalesce(max(last_sequence), 0) AS last FROM notification_sequences WHERE directory_id = $1",
    )
    .bind::<SqlUuid, _>(directory)
    .get_result::<Last>(&mut conn)?
    .last as u64;

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("chaos-check-{}", Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(NOTIFICATIONS_TOPIC), Duration::from_secs(10))?;
    let partitions = metadata.topics().first().map(|t| t.partitions().len()).unwrap_or(0);
    let mut assignment = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for partition in 0..partitions as i32 {
        let (_, high) =
            consumer.fetch_watermarks(NOTIFICATIONS_TOPIC, partition, Duration::from_secs(10))?;
        ends.insert(partition, high);
        assignment.add_partition_offset(NOTIFICATIONS_TOPIC, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let key = directory.to_string();
    let mut by_sequence: HashMap<u64, (String, String, String)> = HashMap::new();
    let mut records = 0usize;
    let mut redelivered = 0usize;
    let mut positions: HashMap<i32, i64> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while ends.iter().any(|(p, end)| positions.get(p).copied().unwrap_or(0) < *end) {
        if Instant::now() > deadline {
            bail!("reading {NOTIFICATIONS_TOPIC} took longer than 120 s");
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else { continue };
        let message = message?;
        positions.insert(message.partition(), message.offset() + 1);
        if message.key() != Some(key.as_bytes()) {
            continue;
        }
        records += 1;
        let header = |name: &str| {
            message
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == name))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let sequence: u64 = header("ce_sequence").parse().unwrap_or(0);
        let seen = (header("ce_id"), header("ce_type"), header("ce_subject"));
        match by_sequence.get(&sequence) {
            Some(earlier) if *earlier != seen => findings.fail(format!(
                "sequence {sequence} was published twice with different notifications: {earlier:?} and {seen:?}"
            )),
            Some(_) => redelivered += 1,
            None => {
                by_sequence.insert(sequence, seen);
            }
        }
    }
    let gaps: Vec<u64> = (1..=last).filter(|s| !by_sequence.contains_key(s)).collect();
    if !gaps.is_empty() {
        findings.fail(format!(
            "{} of {last} sequences were never published (first: {:?})",
            gaps.len(),
            &gaps[..gaps.len().min(10)]
        ));
    }
    if let Some(beyond) = by_sequence.keys().copied().filter(|s| *s > last || *s == 0).max() {
        findings.fail(format!("sequence {beyond} was published, past the last stored ({last})"));
    }
    let mut provisioned: HashMap<&str, usize> = HashMap::new();
    for (_, kind, subject) in by_sequence.values() {
        if kind == "user.provisioned" {
            *provisioned.entry(subject.as_str()).or_default() += 1;
        }
    }
    let mut missing = 0;
    for id in users {
        match provisioned.get(id.to_string().as_str()).copied().unwrap_or(0) {
            1 => {}
            0 => missing += 1,
            n => findings.fail(format!("user {id} has {n} user.provisioned notifications")),
        }
    }
    if missing > 0 {
        findings.fail(format!("{missing} users have no user.provisioned notification"));
    }
    findings.note("notifications (last sequence)", last);
    findings.note("records read (redelivered)", format!("{records} ({redelivered})"));
    findings.note("sequence gaps", gaps.len());
    Ok(())
}

/// Lines of the services' logs that say a thread panicked.
fn panics(work_dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(work_dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log")
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            for line in text.lines().filter(|l| l.contains("panicked")) {
                out.push(format!("{}: {}", path.display(), truncate(line, 300)));
            }
        }
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !(1..=2).contains(&args.instances) {
        bail!("--instances is 1 or 2");
    }
    let faults = args
        .faults
        .split(',')
        .filter(|f| !f.trim().is_empty())
        .map(Fault::parse)
        .collect::<anyhow::Result<Vec<_>>>()?;
    std::fs::create_dir_all(&args.work_dir)?;
    let run = format!("chaos{}", &Uuid::new_v4().simple().to_string()[..8]);
    let database = format!("roster_{run}");
    let database_url = format!("{}/{database}?gssencmode=disable", args.postgres);
    let brokers = format!("127.0.0.1:{}", args.kafka_port);
    let broker_dir = args.work_dir.join("broker");

    let base_env = |extra: Vec<(&str, String)>| {
        let mut env: Vec<(String, String)> = vec![
            ("ROSTER__DATABASE__URL".into(), database_url.clone()),
            ("ROSTER__KAFKA__BROKERS".into(), brokers.clone()),
            ("ROSTER__PROJECTOR__HEALTH_PORT".into(), "0".into()),
            ("ROSTER__ROLE_MAPPER__HEALTH_PORT".into(), "0".into()),
            ("ROSTER__GATEWAY__METRICS_PORT".into(), "0".into()),
            ("ROSTER__TELEMETRY__FILTER".into(), "warn".into()),
            ("ROSTER__TELEMETRY__FORMAT".into(), "json".into()),
        ];
        env.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
        env
    };
    let mut services = Vec::new();
    let mut gateways = Vec::new();
    for instance in 0..args.instances {
        for binary in SERVICES {
            let mut extra = Vec::new();
            if binary == "roster-gateway" {
                let port = args.gateway_port + instance as u16;
                extra.push(("ROSTER__GATEWAY__PORT", port.to_string()));
                gateways.push(format!("http://127.0.0.1:{port}"));
            } else if args.static_membership {
                extra.push((
                    "ROSTER__KAFKA__GROUP_INSTANCE_ID",
                    format!("chaos-{binary}-{instance}"),
                ));
            }
            services.push(Service {
                binary,
                instance,
                env: base_env(extra),
                log: args.work_dir.join(format!("{binary}-{instance}.log")),
                child: None,
                starts: 0,
            });
        }
    }
    let mut stack = Stack { args, broker_dir, services };
    let result = run_all(&mut stack, &faults, &run, &database_url, &brokers, gateways).await;
    stack.shutdown();
    if !stack.args.keep {
        let _ = roster_store::database::drop_if_exists(&database_url);
    } else {
        say(format!("kept the database {database}"));
    }
    let passed = result?;
    if !passed {
        std::process::exit(1);
    }
    Ok(())
}

async fn run_all(
    stack: &mut Stack,
    faults: &[Fault],
    run: &str,
    database_url: &str,
    brokers: &str,
    gateways: Vec<String>,
) -> anyhow::Result<bool> {
    let args = &stack.args;
    let bin_dir = args.bin_dir.clone();
    stack.broker("broker-durable")?;
    let migrate = Command::new(bin_dir.join("roster"))
        .args(["migrate", "--create-database"])
        .env("ROSTER__DATABASE__URL", database_url)
        .status()?;
    if !migrate.success() {
        bail!("roster migrate failed");
    }
    for service in &mut stack.services {
        service.start(&bin_dir)?;
    }
    let client = Client::builder().timeout(Duration::from_secs(30)).build()?;
    for gateway in &gateways {
        wait_ready(&client, gateway, Duration::from_secs(120)).await?;
    }
    let bootstrap = Command::new(bin_dir.join("roster"))
        .args(["dev", "bootstrap", "--state-file"])
        .arg(stack.args.work_dir.join("token"))
        .env("ROSTER__DATABASE__URL", database_url)
        .env("ROSTER__GATEWAY__PORT", stack.args.gateway_port.to_string())
        .output()?;
    if !bootstrap.status.success() {
        bail!("roster dev bootstrap failed: {}", String::from_utf8_lossy(&bootstrap.stderr));
    }
    let printed = String::from_utf8_lossy(&bootstrap.stdout).into_owned();
    let line = |prefix: &str| {
        printed.lines().find_map(|l| l.strip_prefix(prefix)).map(str::trim).map(str::to_string)
    };
    let tenant_url = line("Tenant URL: ").context("bootstrap printed no Tenant URL")?;
    let token = line("Secret Token: ").context("bootstrap printed no Secret Token")?;
    let directory = tenant_url
        .rsplit('/')
        .next()
        .and_then(|d| Uuid::parse_str(d).ok())
        .context("the Tenant URL ends in no directory id")?;

    let load = Arc::new(Load {
        client: client.clone(),
        gateways: gateways.clone(),
        directory,
        token,
        ledger: Mutex::new(Ledger::default()),
        stop: AtomicBool::new(false),
        next_gateway: AtomicUsize::new(0),
        give_up: Duration::from_millis(stack.args.give_up_ms),
    });
    let clients: Vec<_> = (0..stack.args.clients)
        .map(|n| tokio::spawn(load.clone().client(n, run.to_string())))
        .collect();
    say(format!(
        "{} clients against {} gateway(s); faults: {}",
        stack.args.clients,
        gateways.len(),
        faults.iter().map(Fault::label).collect::<Vec<_>>().join(", ")
    ));
    let started = Instant::now();
    let settle = Duration::from_millis(stack.args.settle_ms);
    let mut crashes = Vec::new();
    let mut timeline = Vec::new();
    tokio::time::sleep(settle).await;
    // After each fault, the next waits until writes are acknowledged again (the recovery,
    // reported), then for `settle` more, so that each recovery is measured on its own.
    let mut unrecovered = Vec::new();
    for fault in faults {
        let from = Instant::now();
        say(format!("{:>5.1} s  {}", started.elapsed().as_secs_f64(), fault.label()));
        stack.inject(fault).await?;
        let restored = Instant::now();
        loop {
            let last = load.ledger.lock().unwrap_or_else(|e| e.into_inner()).acks.last().copied();
            if last.is_some_and(|at| at > restored) {
                break;
            }
            if restored.elapsed() > RECOVERY_LIMIT {
                unrecovered.push(format!(
                    "no write was acknowledged within {RECOVERY_LIMIT:?} after the {}",
                    fault.label()
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(settle).await;
        crashes.extend(stack.crashed());
        timeline.push(Phase { fault: fault.label(), from, to: Instant::now() });
    }
    load.stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await?;
    }
    let loaded = started.elapsed();
    say(format!("load stopped after {:.1} s; letting the pipeline drain", loaded.as_secs_f64()));
    crashes.extend(stack.crashed());

    // Drained: the last notification sequence stops moving and the relay has published it.
    let ledger = std::mem::take(&mut *load.ledger.lock().unwrap_or_else(|e| e.into_inner()));
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut findings = loop {
        let mut attempt = Findings::default();
        let users = check_projection(database_url, directory, &ledger, &mut attempt)?;
        check_notifications(brokers, database_url, directory, &users, &mut attempt)?;
        if attempt.failures.is_empty() || Instant::now() > deadline {
            break attempt;
        }
        say(format!("not consistent yet ({}); checking again", attempt.failures[0]));
        tokio::time::sleep(Duration::from_secs(3)).await;
    };
    rebuild_and_verify(&bin_dir, database_url, brokers, &mut findings);
    for line in &ledger.server_errors {
        findings.fail(format!("server error: {line}"));
    }
    for line in &ledger.unexpected {
        findings.fail(format!("unexpected answer: {line}"));
    }
    for line in panics(&stack.args.work_dir) {
        findings.fail(format!("panic: {line}"));
    }
    for line in crashes.into_iter().chain(unrecovered) {
        findings.fail(line);
    }

    Ok(report(stack, &ledger, &findings, loaded, settle, &timeline))
}

/// `roster rebuild --verify` into a fresh database beside the run's: the log replayed with the
/// projector's code must reproduce the projection that survived the faults, row for row.
fn rebuild_and_verify(bin_dir: &Path, database_url: &str, brokers: &str, findings: &mut Findings) {
    let Some((prefix, _)) = database_url.rsplit_once('/') else { return };
    let into = format!("{prefix}/roster_chaos_rebuild_{}", Uuid::new_v4().simple());
    let started = Instant::now();
    let output = Command::new(bin_dir.join("roster"))
        .args(["rebuild", "--verify", "--quiet", "--into", &into])
        .env("ROSTER__DATABASE__URL", database_url)
        .env("ROSTER__KAFKA__BROKERS", brokers)
        .env("ROSTER__TELEMETRY__FILTER", "warn")
        .output();
    let _ = roster_store::database::drop_if_exists(&into);
    match output {
        Ok(output) if output.status.success() => {
            findings.notes.push((
                "rebuild --verify".to_string(),
                format!("no differences ({:.1} s)", started.elapsed().as_secs_f64()),
            ));
        }
        Ok(output) => {
            let printed = String::from_utf8_lossy(&output.stdout);
            let errors = String::from_utf8_lossy(&output.stderr);
            findings.fail(format!(
                "rebuild --verify found differences: {} {}",
                printed.lines().take(5).collect::<Vec<_>>().join("; "),
                errors.lines().last().unwrap_or_default()
            ));
        }
        Err(error) => findings.fail(format!("roster rebuild could not run: {error}")),
    }
}

/// The report on stdout; whether every check passed.
#[allow(clippy::print_stdout)]
fn report(
    stack: &Stack,
    ledger: &Ledger,
    findings: &Findings,
    loaded: Duration,
    settle: Duration,
    timeline: &[Phase],
) -> bool {
    let status_line =
        ledger.statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect::<Vec<_>>().join(", ");
    let transport_line = if ledger.transport.is_empty() {
        "none".to_string()
    } else {
        ledger.transport.iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(", ")
    };
    println!(
        "## chaos: {} instance(s) of each service, {} clients, {} group membership\n",
        stack.args.instances,
        stack.args.clients,
        if stack.args.static_membership { "static" } else { "dynamic" }
    );
    println!("| | |\n|---|---|");
    println!("| load | {:.1} s |", loaded.as_secs_f64());
    println!("| acknowledged creates | {} |", ledger.creates);
    println!("| acknowledged patches | {} |", ledger.patches);
    println!("| creates never answered | {} |", ledger.unanswered_creates.len());
    println!("| answers by status | {status_line} |");
    println!("| transport failures (retried) | {transport_line} |");
    println!("| 5xx other than 503 + Retry-After | {} |", ledger.server_errors.len());
    for (what, value) in &findings.notes {
        println!("| {what} | {value} |");
    }
    let starts = stack
        .services
        .iter()
        .map(|s| {
            format!("{} #{}: {}", s.binary.trim_start_matches("roster-"), s.instance, s.starts)
        })
        .collect::<Vec<_>>()
        .join(", ");
    println!("| service starts | {starts} |");
    println!(
        "\n| fault | longest pause without an acknowledged write | writes acknowledged until the next fault |\n|---|---|---|"
    );
    for phase in timeline {
        let (count, pause) = pause(&ledger.acks, phase.from, phase.to);
        println!("| {} | {:.1} s | {count} |", phase.fault, pause.as_secs_f64());
    }
    println!(
        "\nEach fault waits for writes to be acknowledged again, then for {:.1} s more.",
        settle.as_secs_f64()
    );
    if findings.failures.is_empty() {
        println!("\n**PASS**: 0 lost, 0 duplicates, 0 gaps, 0 500s, 0 panics.");
        true
    } else {
        println!("\n**FAIL**: {} findings", findings.failures.len());
        for failure in &findings.failures {
            println!("- {failure}");
        }
        false
    }
}
