//! Health of a change-log consumer (the projector, the role-mapper), shared between the consume
//! loop, which reports into it, and a small HTTP server for Kubernetes probes:
//!
//! - `GET /health/live`: 200 while the consumer thread runs, 503 once it has ended (it died, or
//!   stopped on a log fence). Nothing else: an outage of Postgres or Kafka must not make
//!   Kubernetes restart the pod.
//! - `GET /health/ready`: 503 while a partition has been stuck (events waiting, no progress) for
//!   longer than `stuck_after`, or a component (the relay) reports a stall, or the consumer
//!   thread has ended; the JSON body names the partitions, where each stands and why.
//!
//! - `GET /metrics`: the process's Prometheus metrics ([`crate::prometheus`]).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use uuid::Uuid;

/// Where one assigned partition stands, as the consume loop last reported it.
#[derive(Debug, Clone, Default)]
pub struct PartitionHealth {
    /// Events received and not yet consumed.
    pub buffered: usize,
    /// The first of them: the event the partition waits at.
    pub head_offset: Option<i64>,
    pub head_event_id: Option<Uuid>,
    /// Since when the partition has had events waiting without advancing (`None`: nothing is
    /// waiting, or it advanced since).
    pub waiting_since: Option<Instant>,
    /// Why it is not advancing, when known (a failure, an unknown change, the projector).
    pub reason: Option<String>,
    /// Attempts since it last advanced.
    pub attempts: u32,
}

/// A stall of something that is not a partition (the role-mapper's relay), by its own account.
#[derive(Debug, Clone)]
pub struct ComponentHealth {
    pub stuck: bool,
    pub detail: Value,
}

/// The health of one consumer process. Cheap to update; read by the HTTP handlers.
#[derive(Debug)]
pub struct Health {
    service: &'static str,
    stuck_after: Duration,
    alive: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    partitions: BTreeMap<i32, PartitionHealth>,
    components: BTreeMap<&'static str, ComponentHealth>,
}

impl Health {
    pub fn new(service: &'static str, stuck_after: Duration) -> Arc<Health> {
        Arc::new(Health {
            service,
            stuck_after,
            alive: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        })
    }

    /// How long a partition may wait without advancing before it counts as stuck.
    pub fn stuck_after(&self) -> Duration {
        self.stuck_after
    }

    /// The consumer thread started (`true`) or ended (`false`).
    pub fn set_alive(&self, alive: bool) {
        self.alive.store(alive, Ordering::SeqCst);
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Replace the partitions' state (the assigned partitions, as the loop sees them).
    pub fn report_partitions(&self, partitions: BTreeMap<i32, PartitionHealth>) {
        lock(&self.state).partitions = partitions;
    }

    /// Report a component's state (replacing what it reported before).
    pub fn report_component(&self, name: &'static str, health: ComponentHealth) {
        lock(&self.state).components.insert(name, health);
    }

    /// Partitions stuck for longer than the threshold, now.
    pub fn stuck_partitions(&self) -> Vec<i32> {
        let now = Instant::now();
        lock(&self.state)
            .partitions
            .iter()
            .filter(|(_, p)| self.is_stuck(p, now))
            .map(|(partition, _)| *partition)
            .collect()
    }

    fn is_stuck(&self, partition: &PartitionHealth, now: Instant) -> bool {
        partition.waiting_since.is_some_and(|since| now.duration_since(since) >= self.stuck_after)
    }

    /// Liveness: the consumer thread runs.
    pub fn liveness(&self) -> (bool, Value) {
        let alive = self.is_alive();
        (alive, json!({"service": self.service, "status": if alive { "ok" } else { "dead" }}))
    }

    /// Readiness: alive, and nothing stuck. The body lists every assigned partition.
    pub fn readiness(&self) -> (bool, Value) {
        let now = Instant::now();
        let alive = self.is_alive();
        let state = lock(&self.state);
        let mut stuck = Vec::new();
        let partitions: Vec<Value> = state
            .partitions
            .iter()
            .map(|(partition, p)| {
                let is_stuck = self.is_stuck(p, now);
                if is_stuck {
                    stuck.push(*partition);
                }
                json!({
                    "partition": partition,
                    "status": if is_stuck { "stuck" } else if p.waiting_since.is_some() { "waiting" } else { "ok" },
                    "buffered": p.buffered,
                    "offset": p.head_offset,
                    "eventId": p.head_event_id.map(|id| id.to_string()),
                    "waitingMs": p.waiting_since.map(|since| now.duration_since(since).as_millis() as u64),
                    "reason": p.reason,
                    "attempts": p.attempts,
                })
            })
            .collect();
        let mut components = serde_json::Map::new();
        let mut component_stuck = false;
        for (name, component) in &state.components {
            component_stuck |= component.stuck;
            components.insert((*name).to_string(), component.detail.clone());
        }
        let ready = alive && stuck.is_empty() && !component_stuck;
        let status = if !alive {
            "dead"
        } else if ready {
            "ok"
        } else {
            "stuck"
        };
        let mut body = json!({
            "service": self.service,
            "status": status,
            "stuckAfterMs": self.stuck_after.as_millis() as u64,
            "stuckPartitions": stuck,
            "partitions": partitions,
        });
        if !components.is_empty() {
            body["components"] = Value::Object(components);
        }
        (ready, body)
    }
}

/// Serve `/health/live`, `/health/ready` and `/metrics` on `listener` (one worker; the caller runs the
/// returned server and stops it through its handle).
pub fn serve(
    listener: TcpListener,
    health: Arc<Health>,
) -> std::io::Result<actix_web::dev::Server> {
    let health = web::Data::from(health);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(health.clone())
            .route("/health/live", web::get().to(live))
            .route("/health/ready", web::get().to(ready))
            .route("/metrics", web::get().to(metrics))
    })
    .listen(listener)?
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .run())
}

async fn live(health: web::Data<Health>) -> HttpResponse {
    respond(health.liveness())
}

async fn ready(health: web::Data<Health>) -> HttpResponse {
    respond(health.readiness())
}

/// The process's metrics, with the stuck partitions measured now.
async fn metrics(health: web::Data<Health>) -> HttpResponse {
    metrics::gauge!("roster_consumer_stuck_partitions", "service" => health.service)
        .set(health.stuck_partitions().len() as f64);
    metrics_text()
}

/// A `/metrics` answer (the gateway's metrics server too).
pub fn metrics_text() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(crate::prometheus::CONTENT_TYPE)
        .body(crate::prometheus::render())
}

fn respond((ok, body): (bool, Value)) -> HttpResponse {
    if ok { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_waiting_past_the_threshold_makes_it_unready() {
        let health = Health::new("test", Duration::from_secs(30));
        assert!(!health.readiness().0, "not ready before the consumer runs");
        health.set_alive(true);
        let now = Instant::now();
        let mut partitions = BTreeMap::new();
        partitions.insert(0, PartitionHealth { waiting_since: Some(now), ..Default::default() });
        partitions.insert(1, PartitionHealth::default());
        health.report_partitions(partitions.clone());
        let (ready, body) = health.readiness();
        assert!(ready, "{body}");
        assert_eq!(body["partitions"][0]["status"], "waiting");

        let long_ago = now.checked_sub(Duration::from_secs(31)).unwrap_or(now);
        partitions.insert(
            0,
            PartitionHealth {
                buffered: 3,
                head_offset: Some(7),
                waiting_since: Some(long_ago),
                reason: Some("why".into()),
                attempts: 4,
                ..Default::default()
            },
        );
        health.report_partitions(partitions);
        if long_ago < now {
            let (ready, body) = health.readiness();
            assert!(!ready);
            assert_eq!(body["stuckPartitions"], json!([0]));
            assert_eq!(body["partitions"][0]["offset"], 7);
            assert_eq!(body["partitions"][0]["reason"], "why");
            assert_eq!(health.stuck_partitions(), vec![0]);
        }
        health.set_alive(false);
        assert!(!health.liveness().0);
    }

    #[test]
    fn a_stuck_component_makes_it_unready() {
        let health = Health::new("test", Duration::from_secs(30));
        health.set_alive(true);
        health.report_component("relay", ComponentHealth { stuck: false, detail: json!({}) });
        assert!(health.readiness().0);
        health.report_component("relay", ComponentHealth { stuck: true, detail: json!({"x": 1}) });
        let (ready, body) = health.readiness();
        assert!(!ready);
        assert_eq!(body["components"]["relay"]["x"], 1);
    }
}
