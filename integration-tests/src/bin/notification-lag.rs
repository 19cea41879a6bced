//! `notification-lag`: how long after a change was accepted its notification reaches a
//! consumer of `roster.notifications.v1` (the benchmark of `make bench`).
//!
//! Reads the topic from its end for `--seconds`, and for each notification takes the time it
//! arrived here minus its `occurred_at` (when the gateway accepted the SCIM request, before it
//! was published, applied and answered): an upper bound of the lag from the SCIM response.
//! Prints one Markdown table row: count, p50, p99, max.

#![allow(clippy::print_stdout)] // its output is the result

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

#[derive(Parser)]
struct Args {
    /// Bootstrap brokers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    #[arg(long, default_value = "roster.notifications.v1")]
    topic: String,
    /// How long to listen.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// A label for the table row.
    #[arg(long, default_value = "notification lag")]
    label: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", "notification-lag")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .create()
        .context("creating the consumer")?;
    let metadata = consumer
        .fetch_metadata(Some(&args.topic), Duration::from_secs(10))
        .context("reading the topic's metadata")?;
    let partitions = metadata.topics().first().map(|t| t.partitions().len()).unwrap_or(0);
    anyhow::ensure!(partitions > 0, "topic {} has no partitions", args.topic);
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment.add_partition_offset(&args.topic, partition, Offset::End)?;
    }
    consumer.assign(&assignment)?;

    let until = Instant::now() + Duration::from_secs(args.seconds);
    let mut lags_ms: Vec<f64> = Vec::new();
    while Instant::now() < until {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) else { continue };
        let arrived = chrono::Utc::now();
        let Ok(notification) =
            roster_events::notification::decode_notification(message.payload().unwrap_or_default())
        else {
            continue;
        };
        let occurred = roster_events::micros_to_time(notification.occurred_at_micros);
        lags_ms.push((arrived - occurred).num_microseconds().unwrap_or(0) as f64 / 1000.0);
    }
    anyhow::ensure!(!lags_ms.is_empty(), "no notification arrived in {} s", args.seconds);
    lags_ms.sort_by(f64::total_cmp);
    let at = |q: f64| lags_ms[((lags_ms.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "| {} | {} notifications | p50 {:.1} ms | p99 {:.1} ms | max {:.1} ms |",
        args.label,
        lags_ms.len(),
        at(0.50),
        at(0.99),
        at(1.0)
    );
    Ok(())
}
