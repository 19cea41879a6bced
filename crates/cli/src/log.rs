//! `roster log inspect` and `roster log reject`: the operator's view of one event of the change
//! log, and the escape hatch for a partition a consumer cannot get past (an event of a change
//! type this version does not know, or one that fails in a way nobody understands yet).
//!
//! `reject` records, in one transaction, an audited row in `operator_rejections` (who, when,
//! why) and, unless the projector applied the event already, a rejected outcome (400 with the
//! reason) that answers a request still waiting for it. Both consumers look for rejections in
//! every batch's transaction and move past the event without applying it. The projector's
//! stored position is locked while this is decided, so the event is either applied or
//! rejected, never both.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel::Connection;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use roster_events::{ChangeEvent, DecodeError};
use roster_platform::Settings;
use roster_store::outcomes::{self, OutcomeRow};
use roster_store::rejections::{self, OperatorRejection};
use roster_store::{PgConnection, offsets};
use serde_json::{Value, json};
use uuid::Uuid;

/// Which event: a partition and an offset of the change topic.
#[derive(Debug, Clone, clap::Args)]
pub struct EventArgs {
    #[arg(long)]
    pub partition: i32,
    #[arg(long)]
    pub offset: i64,
    /// The change topic [default: the configuration's `kafka.changes_topic`].
    #[arg(long)]
    pub topic: Option<String>,
}

/// `roster log reject`.
#[derive(Debug, Clone, clap::Args)]
pub struct RejectArgs {
    #[command(flatten)]
    pub event: EventArgs,
    /// Why (kept in `operator_rejections`, and shown to the SCIM client in the outcome).
    #[arg(long)]
    pub reason: String,
    /// Who rejects it [default: $USER].
    #[arg(long)]
    pub actor: Option<String>,
}

/// How long reading one event from the broker may take.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// The event at a place of the log, decoded, with what became of it: its outcome, an
/// operator's rejection, and whether each consumer has passed it.
pub fn inspect(settings: &Settings, args: &EventArgs) -> anyhow::Result<Value> {
    let topic = topic(settings, args);
    let payload = read_event(settings, topic, args.partition, args.offset)?;
    let mut conn = connect(settings)?;
    let mut out = describe(topic, args, &payload);
    if let Some(event_id) = out["eventId"].as_str().and_then(|id| Uuid::parse_str(id).ok()) {
        out["outcome"] = outcomes::find_many(&mut conn, &[event_id])?.into_iter().next().map_or(
            Value::Null,
            |o| json!({"status": o.status, "body": o.body, "appliedAt": o.applied_at}),
        );
    }
    out["operatorRejection"] = rejections::find(&mut conn, topic, args.partition, args.offset)?
        .map_or(
            Value::Null,
            |r| json!({"actor": r.actor, "reason": r.reason, "rejectedAt": r.rejected_at}),
        );
    out["consumers"] = consumers(&mut conn, settings, topic, args.partition, args.offset)?;
    Ok(out)
}

/// Reject the event at a place of the log so that both consumers move past it; returns what
/// was recorded and who it affects.
pub fn reject(settings: &Settings, args: &RejectArgs) -> anyhow::Result<Value> {
    let reason = args.reason.trim();
    if reason.is_empty() {
        bail!("--reason must say why the event is rejected");
    }
    let actor = args
        .actor
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    let event = &args.event;
    let topic = topic(settings, event);
    let payload = read_event(settings, topic, event.partition, event.offset)?;
    let raw = ChangeEvent::decode(payload.as_slice()).ok();
    let ids = raw.as_ref().and_then(|e| {
        Some((Uuid::parse_str(&e.event_id).ok()?, Uuid::parse_str(&e.directory_id).ok()?))
    });
    let Some((event_id, directory_id)) = ids else {
        bail!(
            "the event at partition {}, offset {} cannot be decoded (not a change event, or its ids \
             are not UUIDs): the consumers skip it already",
            event.partition,
            event.offset
        );
    };
    let mut conn = connect(settings)?;
    let projector_group = &settings.kafka.projector_group;
    let recorded = conn.transaction(|conn| -> anyhow::Result<Value> {
        // Decided under the projector's lock of its position: it has either applied the event
        // already (and this only makes the role-mapper skip it), or it will see the rejection.
        let projector = offsets::lock(conn, projector_group, topic, event.partition)?;
        let projector_passed = projector.is_some_and(|p| p.next_offset > event.offset);
        if let Some(existing) = rejections::find(conn, topic, event.partition, event.offset)? {
            bail!(
                "the event was rejected already, by {} at {}: {}",
                existing.actor,
                existing.rejected_at,
                existing.reason
            );
        }
        let rejection = OperatorRejection {
            topic: topic.to_string(),
            kafka_partition: event.partition,
            kafka_offset: event.offset,
            event_id,
            directory_id,
            actor: actor.clone(),
            reason: reason.to_string(),
            rejected_at: chrono::Utc::now(),
        };
        rejections::insert(conn, &rejection)?;
        let outcome = if projector_passed {
            "the projector had applied it already: its outcome stands, and only consumers behind it \
             (the role-mapper) skip it"
        } else {
            let row = OutcomeRow {
                event_id,
                directory_id,
                kafka_partition: event.partition,
                kafka_offset: event.offset,
                status: 400,
                resource_id: None,
                body: Some(rejections::outcome_body(reason)),
                applied_at: rejection.rejected_at,
            };
            outcomes::insert_all(conn, &[row])?;
            outcomes::notify(conn, &[event_id])?;
            "recorded as its outcome (400); the projector and the role-mapper skip it"
        };
        Ok(json!({
            "rejected": {
                "topic": topic,
                "partition": event.partition,
                "offset": event.offset,
                "eventId": event_id.to_string(),
                "directoryId": directory_id.to_string(),
                "actor": actor,
                "reason": reason,
                "rejectedAt": rejection.rejected_at,
            },
            "outcome": outcome,
        }))
    })?;
    tracing::info!(kafka.partition = event.partition, kafka.offset = event.offset, event.id = %event_id, %actor, "event rejected by an operator");
    Ok(recorded)
}

fn topic<'a>(settings: &'a Settings, args: &'a EventArgs) -> &'a str {
    args.topic.as_deref().unwrap_or(&settings.kafka.changes_topic)
}

fn connect(settings: &Settings) -> anyhow::Result<PgConnection> {
    PgConnection::establish(&settings.database.url)
        .with_context(|| "could not connect to Postgres (is it running? see `make help`)")
}

/// The event's bytes, read without a consumer group (the partition is assigned, nothing is
/// committed, so a real consumer is never disturbed).
fn read_event(
    settings: &Settings,
    topic: &str,
    partition: i32,
    offset: i64,
) -> anyhow::Result<Vec<u8>> {
    let group = format!("roster-log-inspect-{}", Uuid::new_v4());
    let consumer: BaseConsumer = roster_platform::kafka::consumer_config(&settings.kafka, &group)
        .set("allow.auto.create.topics", "false")
        .set("enable.partition.eof", "false")
        .create()
        .context("creating the Kafka consumer")?;
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .with_context(|| format!("reading partition {partition} of {topic}"))?;
    if offset < low || offset >= high {
        bail!(
            "partition {partition} of {topic} holds offsets {low} to {}: no event at {offset}",
            high - 1
        );
    }
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + READ_TIMEOUT;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) if message.offset() == offset => {
                return Ok(message.payload().unwrap_or_default().to_vec());
            }
            Some(Ok(message)) => bail!(
                "partition {partition} of {topic} has no event at offset {offset} (the next is at {})",
                message.offset()
            ),
            Some(Err(error)) => return Err(error).context("reading the event"),
            None => {}
        }
    }
    bail!(
        "the event at partition {partition}, offset {offset} did not arrive within {READ_TIMEOUT:?}"
    )
}

/// The event as JSON: ids, time, change type, and the whole message in the schema's serde form.
fn describe(topic: &str, args: &EventArgs, payload: &[u8]) -> Value {
    let mut out = json!({"topic": topic, "partition": args.partition, "offset": args.offset});
    match ChangeEvent::decode(payload) {
        Err(error) => {
            out["decodeError"] = json!(format!("not a protobuf ChangeEvent: {error}"));
            out["bytes"] = json!(payload.len());
        }
        Ok(event) => {
            let decoded = roster_events::decode(payload);
            out["eventId"] = json!(event.event_id);
            out["directoryId"] = json!(event.directory_id);
            out["tenantId"] = json!(event.tenant_id);
            out["eventTime"] = json!(roster_events::micros_to_time(event.event_time_micros));
            out["change"] = json!(event.change.as_ref().map(roster_events::change_name));
            out["decodeError"] = match &decoded {
                Ok(_) => Value::Null,
                Err(DecodeError::NoChange { .. }) => {
                    json!("the event states no change this version knows (a newer change type)")
                }
                Err(error) => json!(error.to_string()),
            };
            out["event"] = serde_json::to_value(&event).unwrap_or(Value::Null);
        }
    }
    out
}

/// Whether each consumer group has passed the event (its stored next offset is beyond it).
fn consumers(
    conn: &mut PgConnection,
    settings: &Settings,
    topic: &str,
    partition: i32,
    offset: i64,
) -> anyhow::Result<Value> {
    let mut out = serde_json::Map::new();
    for group in [&settings.kafka.projector_group, &settings.kafka.role_mapper_group] {
        let next = offsets::load(conn, group, topic)?
            .into_iter()
            .find(|p| p.partition == partition)
            .map(|p| p.next_offset);
        out.insert(
            group.clone(),
            json!({"nextOffset": next, "passed": next.is_some_and(|n| n > offset)}),
        );
    }
    Ok(Value::Object(out))
}
