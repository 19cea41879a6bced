//! `roster notifications tail`: one directory's notifications (`roster.notifications.v1`) read
//! straight from Kafka and printed as JSON lines, in the form of the HTTP Events API
//! (`roster_events::notification::to_json`).
//!
//! It reads without a consumer group: every partition of the topic is assigned, from the
//! beginning when a start is given, else from the end, and nothing is committed, so tailing never
//! disturbs a real consumer.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use roster_events::notification::{Notification, decode_notification, to_json};
use roster_platform::{Settings, Shutdown};
use uuid::Uuid;

/// `roster notifications tail`.
#[derive(Debug, Clone, clap::Args)]
pub struct TailArgs {
    /// The directory whose notifications to print (the records' key).
    #[arg(long)]
    pub directory: Uuid,
    /// Print notifications from this sequence number on (the topic is read from its beginning
    /// to find it).
    #[arg(long, value_name = "N", conflicts_with = "from_beginning")]
    pub from_sequence: Option<u64>,
    /// Print every notification the topic still holds. Without this or --from-sequence, only
    /// notifications written from now on are printed.
    #[arg(long)]
    pub from_beginning: bool,
    /// Stop after printing this many notifications; without it, run until Ctrl-C or SIGTERM.
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// The notifications topic [default: the configuration's `kafka.notifications_topic`].
    #[arg(long)]
    pub topic: Option<String>,
}

impl TailArgs {
    /// Where reading starts in every partition.
    fn start(&self) -> Offset {
        if self.from_beginning || self.from_sequence.is_some() {
            Offset::Beginning
        } else {
            Offset::End
        }
    }
}

/// How long one poll waits before the shutdown flag is looked at again.
const POLL: Duration = Duration::from_millis(200);

pub fn run(settings: &Settings, args: TailArgs) -> anyhow::Result<()> {
    if args.max == Some(0) {
        return Ok(());
    }
    // Ctrl-C and SIGTERM set a flag the polling loop checks, so the consumer closes cleanly.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the signal handler")?;
    let _entered = runtime.enter();
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();

    // A group id is set only because the shared configuration names one: the consumer never
    // joins it (partitions are assigned, not subscribed) and never commits.
    let group = format!("roster-notifications-tail-{}", Uuid::new_v4());
    let consumer: BaseConsumer = roster_platform::kafka::consumer_config(&settings.kafka, &group)
        .set("allow.auto.create.topics", "false")
        .create()
        .context("creating the Kafka consumer")?;
    let topic = args.topic.as_deref().unwrap_or(&settings.kafka.notifications_topic);
    let metadata =
        consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).with_context(|| {
            format!("reading the metadata of {topic} from {}", settings.kafka.brokers)
        })?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        bail!(
            "topic {topic} does not exist on {} (nothing has been notified yet?)",
            settings.kafka.brokers
        );
    }
    let mut assignment = TopicPartitionList::new();
    for partition in &partitions {
        assignment.add_partition_offset(topic, *partition, args.start())?;
    }
    consumer.assign(&assignment).context("assigning the topic's partitions")?;
    eprintln!(
        "tailing {topic} ({} partitions) for directory {}, {}; Ctrl-C stops",
        partitions.len(),
        args.directory,
        match (args.from_sequence, args.start()) {
            (Some(n), _) => format!("from sequence {n}"),
            (None, Offset::Beginning) => "from the beginning".to_string(),
            _ => "from now on".to_string(),
        }
    );

    let key = args.directory.to_string();
    let from = args.from_sequence.unwrap_or(0);
    let mut printed = 0;
    while !shutdown.is_triggered() {
        let message = match consumer.poll(POLL) {
            None => continue,
            Some(Ok(message)) => message,
            // librdkafka retries by itself (broker restarts, rebalancing leaders); say so and go on.
            Some(Err(e)) => {
                eprintln!("kafka: {e}");
                continue;
            }
        };
        match select(message.key(), message.payload(), &key, from) {
            Selected::Other => {}
            Selected::Undecodable(e) => eprintln!(
                "partition {} offset {}: not a notification, skipped: {e}",
                message.partition(),
                message.offset()
            ),
            Selected::Show(notification) => {
                if !print(&notification)? {
                    return Ok(()); // the reader went away (`| head`)
                }
                printed += 1;
                if args.max.is_some_and(|max| printed >= max) {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// What to do with one record.
#[derive(Debug)]
enum Selected {
    /// Another directory's, or before the requested sequence.
    Other,
    /// The directory's, but the value is not a `Notification`.
    Undecodable(String),
    Show(Box<Notification>),
}

fn select(key: Option<&[u8]>, value: Option<&[u8]>, directory: &str, from: u64) -> Selected {
    if key != Some(directory.as_bytes()) {
        return Selected::Other;
    }
    match decode_notification(value.unwrap_or_default()) {
        Err(e) => Selected::Undecodable(e.to_string()),
        Ok(n) if n.sequence < from => Selected::Other,
        Ok(n) => Selected::Show(Box::new(n)),
    }
}

/// One JSON line on stdout, flushed. False when stdout is closed.
fn print(notification: &Notification) -> anyhow::Result<bool> {
    let mut line = serde_json::to_vec(&to_json(notification))?;
    line.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&line).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::Parser;
    use roster_events::notification::{Body, encode_notification};
    use roster_events::notifications::v1::DirectoryDeleted;

    use super::*;

    const DIRECTORY: &str = "6f1c2a7e-1b1f-4a8e-9e55-0a2f8b8e4c11";

    fn notification(sequence: u64) -> Vec<u8> {
        encode_notification(&Notification {
            id: "019bc29c-6aa9-72f1-ae05-319acb5c7427".into(),
            directory_id: DIRECTORY.into(),
            sequence,
            body: Some(Body::DirectoryDeleted(DirectoryDeleted {})),
            ..Default::default()
        })
    }

    #[test]
    fn keeps_only_the_directorys_records_from_the_sequence_on() {
        let other = "2b7d9f3a-58c4-4e1d-8f0a-7c3e5d9b1a22";
        let value = notification(5);
        let shown = |key: Option<&str>, from| {
            matches!(
                select(key.map(str::as_bytes), Some(&value), DIRECTORY, from),
                Selected::Show(n) if n.sequence == 5
            )
        };
        assert!(shown(Some(DIRECTORY), 0));
        assert!(shown(Some(DIRECTORY), 5));
        assert!(!shown(Some(DIRECTORY), 6));
        assert!(!shown(Some(other), 0));
        assert!(!shown(None, 0));
    }

    #[test]
    fn an_undecodable_value_is_reported_not_shown() {
        let selected = select(Some(DIRECTORY.as_bytes()), Some(b"\xff\xff\xff"), DIRECTORY, 0);
        assert!(matches!(selected, Selected::Undecodable(_)), "{selected:?}");
        // Another directory's garbage is none of our business.
        let selected = select(Some(b"x"), Some(b"\xff\xff\xff"), DIRECTORY, 0);
        assert!(matches!(selected, Selected::Other), "{selected:?}");
    }

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        tail: TailArgs,
    }

    fn parse(args: &[&str]) -> Result<TailArgs, clap::Error> {
        let argv = ["tail", "--directory", DIRECTORY].iter().chain(args);
        Cli::try_parse_from(argv).map(|c| c.tail)
    }

    #[test]
    fn starts_at_the_end_unless_told_otherwise() {
        assert_eq!(parse(&[]).unwrap().start(), Offset::End);
        assert_eq!(parse(&["--from-beginning"]).unwrap().start(), Offset::Beginning);
        let args = parse(&["--from-sequence", "42", "--max", "3"]).unwrap();
        assert_eq!(
            (args.start(), args.from_sequence, args.max),
            (Offset::Beginning, Some(42), Some(3))
        );
        assert_eq!(args.topic, None);
        assert_eq!(parse(&["--topic", "t"]).unwrap().topic.as_deref(), Some("t"));
        assert!(parse(&["--from-sequence", "42", "--from-beginning"]).is_err());
        assert!(Cli::try_parse_from(["tail", "--directory", "advisors"]).is_err());
    }
}
