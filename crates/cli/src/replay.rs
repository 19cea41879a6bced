//! `roster replay --directory <id> --from <sequence>`: publish a directory's notifications from
//! the outbox to `roster.notifications.v1` again, in sequence order, as the relay published them
//! (same key, payload and CloudEvents headers), for a consumer that lost its copy. Consumers
//! deduplicate by `(directory_id, sequence)` or the notification id, so a replay is safe.
//! Only what the outbox still holds can be replayed (`retention.notifications_days`).

use std::time::Duration;

use anyhow::{Context, bail};
use diesel::Connection;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use roster_platform::{Settings, kafka};
use roster_store::{PgConnection, outbox};
use uuid::Uuid;

#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// The directory whose notifications to publish again.
    #[arg(long)]
    pub directory: Uuid,
    /// The first sequence number to publish (1: from the beginning).
    #[arg(long, default_value_t = 1)]
    pub from: i64,
    /// The last one (default: the latest).
    #[arg(long)]
    pub to: Option<i64>,
}

/// Publish; returns how many notifications were published.
pub async fn run(settings: &Settings, args: &ReplayArgs) -> anyhow::Result<u64> {
    if args.from < 1 || args.to.is_some_and(|to| to < args.from) {
        bail!("--from must be at least 1, and --to at least --from");
    }
    let mut conn =
        PgConnection::establish(&settings.database.url).context("could not connect to Postgres")?;
    let producer = kafka::producer(&settings.kafka).context("connecting to Kafka")?;
    let topic = &settings.kafka.notifications_topic;
    let (directory, mut after, mut published) = (args.directory, args.from - 1, 0u64);
    let mut first = true;
    loop {
        let rows = outbox::list_after(&mut conn, directory, after, 500)?;
        if first && rows.first().is_some_and(|r| r.sequence > args.from) {
            eprintln!(
                "replay: the outbox starts at sequence {} (older ones are past the retention)",
                rows[0].sequence
            );
        }
        first = false;
        let rows: Vec<_> =
            rows.into_iter().filter(|r| args.to.is_none_or(|to| r.sequence <= to)).collect();
        let Some(last) = rows.last().map(|r| r.sequence) else { break };
        for row in &rows {
            send(&producer, topic, directory, row.sequence, &row.payload).await?;
            published += 1;
        }
        after = last;
    }
    eprintln!("replay: {published} notifications of directory {directory} published to {topic}");
    Ok(published)
}

async fn send(
    producer: &FutureProducer,
    topic: &str,
    directory: Uuid,
    sequence: i64,
    payload: &[u8],
) -> anyhow::Result<()> {
    let headers = kafka::notification_headers(payload)
        .with_context(|| format!("notification {sequence} does not decode"))?;
    let key = directory.to_string();
    let record = FutureRecord::to(topic).key(key.as_bytes()).payload(payload).headers(headers);
    producer
        .send(record, Timeout::After(Duration::from_secs(30)))
        .await
        .map_err(|(error, _)| anyhow::anyhow!("publishing notification {sequence}: {error}"))?;
    Ok(())
}
