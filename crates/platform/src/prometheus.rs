//! Prometheus metrics, one recorder per process (`metrics` + `metrics-exporter-prometheus`).
//! Names are `roster_<what>_<unit>`; label values are bounded (route templates, statuses,
//! partitions, scimTypes, notification types; never tenant, directory or user ids: those
//! figures belong to the admin API's directory health). Each service serves the rendering at
//! `/metrics`: the gateway on its own port, the consumers beside their health endpoints.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets of every `_seconds` histogram: 1 ms to 30 s.
const SECONDS_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Buckets of batch sizes, in events.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's metrics, installed on first use (several services share one process in the
/// tests, and one recorder serves them all). `None` if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_events".into()), BATCH_BUCKETS)
                });
            let recorder = match builder {
                Ok(builder) => builder.build_recorder(),
                Err(error) => {
                    tracing::warn!(%error, "metrics: bad bucket configuration");
                    return None;
                }
            };
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    describe();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics: a recorder is already installed");
                    None
                }
            }
        })
        .as_ref()
}

/// The exposition text (Prometheus text format 0.0.4).
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

/// Drain the histograms' buffers now and then (the exporter needs it when it does not run its
/// own HTTP listener). Call once per process from a tokio runtime.
pub fn spawn_upkeep() {
    if let Some(handle) = handle() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What each metric means (HELP lines).
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        "roster_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP requests by route template, method and status"
    );
    describe_histogram!(
        "roster_outcome_wait_seconds",
        Unit::Seconds,
        "From producing a change event to its outcome (applied, rejected, or timeout)"
    );
    describe_histogram!(
        "roster_produce_duration_seconds",
        Unit::Seconds,
        "Producing a change event until the broker acknowledged it"
    );
    describe_counter!(
        "roster_produce_errors_total",
        "Change events the broker did not take, by kind"
    );
    describe_counter!(
        "roster_token_cache_lookups_total",
        "Token verifications by kind (scim, admin) and whether the cache answered (hit, miss)"
    );
    describe_histogram!(
        "roster_db_pool_checkout_seconds",
        Unit::Seconds,
        "Waiting for a pooled Postgres connection, by pool"
    );
    describe_gauge!(
        "roster_db_pool_connections",
        "Pooled Postgres connections by pool and state (in_use, idle)"
    );
    describe_counter!(
        "roster_provisioning_log_dropped_total",
        "Provisioning-log entries dropped because the queue was full"
    );
    describe_gauge!(
        "roster_consumer_lag_events",
        "Events of a partition the consumer group has not applied yet (log end minus position)"
    );
    describe_gauge!(
        "roster_consumer_lag_seconds",
        "Age of the oldest event of a partition waiting to be applied (0 when caught up)"
    );
    describe_histogram!(
        "roster_batch_size_events",
        "Events per committed batch, by consumer group"
    );
    describe_histogram!(
        "roster_batch_duration_seconds",
        Unit::Seconds,
        "From taking a batch to its commit, by consumer group"
    );
    describe_counter!(
        "roster_consumer_events_total",
        "Events by consumer group and result (applied, skipped, refused, operator_rejected)"
    );
    describe_gauge!(
        "roster_consumer_stuck_partitions",
        "Partitions stuck past stuck_after_ms, by consumer group"
    );
    describe_counter!(
        "roster_outcomes_rejected_total",
        "Rejected outcomes recorded by the projector, by HTTP status and scimType"
    );
    describe_counter!(
        "roster_notifications_total",
        "Notifications appended to the outbox, by type"
    );
    describe_gauge!(
        "roster_outbox_backlog_notifications",
        "Notifications in the outbox not yet published"
    );
    describe_histogram!(
        "roster_relay_latency_seconds",
        Unit::Seconds,
        "From a notification's append to its publication on Kafka"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn metrics_render_in_the_exposition_format() {
        super::handle();
        metrics::counter!("roster_test_events_total", "kind" => "x").increment(2);
        metrics::histogram!("roster_test_duration_seconds").record(0.003);
        let text = super::render();
        assert!(text.contains("roster_test_events_total{kind=\"x\"} 2"), "{text}");
        assert!(text.contains("roster_test_duration_seconds_bucket{le=\"0.005\"} 1"), "{text}");
    }
}
