//! `roster rebuild --into <database-url> [--verify]`: replay the change log into a fresh database
//! with the projector's own code, and compare the result with the live projection.
//!
//! What a rebuild starts from, besides the log: the tenants and directories (control-plane rows;
//! each directory with the policy it was created with, since later changes are events) and the
//! operator rejections (events the consumers move past). It then runs the projector's consume
//! loop against the new database, under a consumer group of its own, until every partition has
//! reached the log's end as it was when the rebuild started.
//!
//! `--verify` compares, table by table and row by row in primary-key order, what the projection
//! is made of: directories (their settings), users, groups, group memberships and mapping rules.
//! It does not compare what retention and erasure change after the fact (event outcomes, the
//! notifications the role-mapper derives), nor the control plane's own rows (tokens, logs).
//! See docs/ARCHITECTURE.md#rebuilding-the-projection.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Jsonb, Text};
use rdkafka::consumer::{BaseConsumer, Consumer};
use roster_platform::consumer::{self, ConsumerOptions, Stats};
use roster_platform::health::Health;
use roster_platform::{Settings, Shutdown, kafka};
use roster_projector::batch::Projection;
use roster_store::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, clap::Args)]
pub struct RebuildArgs {
    /// The database to rebuild into: created if missing; it must hold no projection yet.
    #[arg(long)]
    pub into: String,
    /// Then compare the live projection with the rebuilt one; exit 1 on any difference.
    #[arg(long)]
    pub verify: bool,
    /// Show no progress bar (for logs).
    #[arg(long)]
    pub quiet: bool,
}

/// What a rebuild did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rebuilt {
    pub events: u64,
    pub seconds: u64,
    /// Differences found by `--verify` (empty without it, or when there are none).
    pub differences: Vec<String>,
}

/// Rebuild, and verify if asked.
pub fn run(settings: &Settings, args: &RebuildArgs) -> anyhow::Result<Rebuilt> {
    let started = Instant::now();
    if roster_store::database::create_if_missing(&args.into)? {
        eprintln!("rebuild: created the database");
    }
    let mut target = connect(&args.into)?;
    roster_store::migrations::run_pending(&mut target)?;
    refuse_unless_empty(&mut target)?;
    let mut live = connect(&settings.database.url)?;
    copy_control_plane(&mut live, &mut target)?;

    let ends = log_ends(settings)?;
    let total: i64 = ends.iter().map(|(_, low, high)| high - low).sum();
    eprintln!(
        "rebuild: replaying {total} events of {} into the new database",
        settings.kafka.changes_topic
    );
    let group = format!("roster-rebuild-{}", Uuid::new_v4().simple());
    let options = ConsumerOptions {
        group: group.clone(),
        topic: settings.kafka.changes_topic.clone(),
        max_batch: settings.projector.max_batch,
        linger: Duration::from_millis(settings.projector.batch_linger_ms),
        retry_initial: Duration::from_millis(settings.projector.retry_initial_ms),
        retry_max: Duration::from_millis(settings.projector.retry_max_ms),
        database_url: args.into.clone(),
        local_stack: false,
        park: None,
    };
    let config = kafka::consumer_config(&settings.kafka, &group);
    let stats = Arc::new(Stats::default());
    let shutdown = Shutdown::new();
    let health = Health::new("roster-rebuild", Duration::from_secs(3600));
    let worker = {
        let (stats, shutdown) = (stats.clone(), shutdown.clone());
        std::thread::spawn(move || {
            consumer::run(config, options, &mut Projection::default(), stats, health, shutdown)
        })
    };
    let bar = progress(args.quiet, total);
    let result =
        follow(&mut target, &group, &settings.kafka.changes_topic, &ends, &stats, &bar, &worker);
    shutdown.trigger();
    let joined = worker.join();
    bar.finish_and_clear();
    result?;
    match joined {
        Ok(Ok(())) => {}
        Ok(Err(error)) => bail!("the replay stopped: {error}"),
        Err(_) => bail!("the replay thread panicked"),
    }
    let events = stats.events_applied.load(Ordering::Relaxed)
        + stats.events_operator_rejected.load(Ordering::Relaxed);
    eprintln!("rebuild: {events} events applied in {:.1} s", started.elapsed().as_secs_f64());
    let differences = if args.verify { verify(&mut live, &mut target)? } else { Vec::new() };
    Ok(Rebuilt { events, seconds: started.elapsed().as_secs(), differences })
}

fn connect(url: &str) -> anyhow::Result<PgConnection> {
    PgConnection::establish(url).with_context(|| "could not connect to Postgres")
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// A rebuild goes into a database with no projection and no consumer positions.
fn refuse_unless_empty(target: &mut PgConnection) -> anyhow::Result<()> {
    for table in ["directories", "users", "groups", "consumer_offsets"] {
        let count: Count =
            diesel::sql_query(format!("SELECT count(*) AS n FROM {table}")).get_result(target)?;
        if count.n > 0 {
            bail!("the target database already holds {table}: rebuild into a new, empty database");
        }
    }
    Ok(())
}

/// Tenants, directories (each with the policy it was created with) and operator rejections.
fn copy_control_plane(live: &mut PgConnection, target: &mut PgConnection) -> anyhow::Result<()> {
    use roster_store::schema::{directories, operator_rejections, tenants};
    let tenant_rows: Vec<roster_store::control::Tenant> =
        tenants::table.select(roster_store::control::Tenant::as_select()).load(live)?;
    let directory_rows: Vec<roster_store::control::Directory> = directories::table
        .select(roster_store::control::Directory::as_select())
        .load(live)?
        .into_iter()
        .map(|mut d| {
            d.deprovision_policy = d.initial_deprovision_policy.clone();
            d
        })
        .collect();
    let rejections: Vec<roster_store::rejections::OperatorRejection> = operator_rejections::table
        .select(roster_store::rejections::OperatorRejection::as_select())
        .load(live)?;
    target.transaction::<_, anyhow::Error, _>(|target| {
        for chunk in tenant_rows.chunks(1000) {
            diesel::insert_into(tenants::table).values(chunk).execute(target)?;
        }
        for chunk in directory_rows.chunks(1000) {
            diesel::insert_into(directories::table).values(chunk).execute(target)?;
        }
        for chunk in rejections.chunks(1000) {
            diesel::insert_into(operator_rejections::table).values(chunk).execute(target)?;
        }
        Ok(())
    })?;
    eprintln!(
        "rebuild: {} tenants, {} directories, {} operator rejections copied",
        tenant_rows.len(),
        directory_rows.len(),
        rejections.len()
    );
    Ok(())
}

/// Each partition's `(partition, low, high)` watermarks now: the replay goes up to them.
fn log_ends(settings: &Settings) -> anyhow::Result<Vec<(i32, i64, i64)>> {
    let topic = &settings.kafka.changes_topic;
    let consumer: BaseConsumer =
        kafka::consumer_config(&settings.kafka, "roster-rebuild-watermarks")
            .create()
            .context("connecting to Kafka")?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context("reading the change topic's partitions")?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        bail!("the change topic {topic} has no partitions (does it exist?)");
    }
    partitions
        .into_iter()
        .map(|p| {
            let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
            Ok((p, low, high))
        })
        .collect()
}

fn progress(quiet: bool, total: i64) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} events  {per_sec}  ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Wait until every partition's stored position in the target has reached its end.
fn follow(
    target: &mut PgConnection,
    group: &str,
    topic: &str,
    ends: &[(i32, i64, i64)],
    stats: &Stats,
    bar: &indicatif::ProgressBar,
    worker: &std::thread::JoinHandle<Result<(), roster_platform::consumer::ConsumerError>>,
) -> anyhow::Result<()> {
    #[derive(QueryableByName)]
    struct Position {
        #[diesel(sql_type = Integer)]
        kafka_partition: i32,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        next_offset: i64,
    }
    loop {
        let done = stats.events_applied.load(Ordering::Relaxed)
            + stats.events_skipped.load(Ordering::Relaxed)
            + stats.events_operator_rejected.load(Ordering::Relaxed);
        bar.set_position(done);
        let positions: Vec<Position> = diesel::sql_query(
            "SELECT kafka_partition, next_offset FROM consumer_offsets \
             WHERE consumer_group = $1 AND topic = $2",
        )
        .bind::<Text, _>(group)
        .bind::<Text, _>(topic)
        .load(target)?;
        let reached = |partition: i32, high: i64| {
            high == 0
                || positions.iter().any(|p| p.kafka_partition == partition && p.next_offset >= high)
        };
        if ends.iter().all(|(p, low, high)| *high <= *low || reached(*p, *high)) {
            return Ok(());
        }
        if worker.is_finished() {
            bail!("the replay stopped before the end of the log");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The tables compared, each with its key (the order rows are compared in).
const COMPARED: &[(&str, &str)] = &[
    ("directories", "id"),
    ("users", "directory_id, id"),
    ("groups", "directory_id, id"),
    ("group_members", "directory_id, group_id, member_id"),
    ("mapping_rules", "directory_id, version"),
];

/// Columns a rebuild cannot reproduce: set by the control plane when it happened, not by an
/// event (the directory's creation time and name are copied, so they match anyway).
const NOT_COMPARED: &[&str] = &["initial_deprovision_policy"];

#[derive(QueryableByName)]
struct RowJson {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Jsonb)]
    row: serde_json::Value,
}

/// Compare the projection tables row by row; one line per difference (at most 100 per table
/// are listed, all are counted).
pub fn verify(live: &mut PgConnection, target: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    let mut differences = Vec::new();
    for (table, key) in COMPARED {
        let (mut listed, mut found, mut compared) = (0, 0usize, 0usize);
        let mut after: Option<String> = None;
        loop {
            let a = page(live, table, key, after.as_deref())?;
            let b = page(target, table, key, after.as_deref())?;
            if a.is_empty() && b.is_empty() {
                break;
            }
            // Merge the two ordered pages up to the smaller last key of the two.
            let last = match (a.last(), b.last()) {
                (Some(x), Some(y)) => std::cmp::min(x.key.clone(), y.key.clone()),
                (Some(x), None) => x.key.clone(),
                (None, Some(y)) => y.key.clone(),
                (None, None) => break,
            };
            let left: Vec<&RowJson> = a.iter().filter(|r| r.key <= last).collect();
            let right: Vec<&RowJson> = b.iter().filter(|r| r.key <= last).collect();
            let (mut i, mut j) = (0, 0);
            while i < left.len() || j < right.len() {
                let difference = match (left.get(i), right.get(j)) {
                    (Some(l), Some(r)) if l.key == r.key => {
                        i += 1;
                        j += 1;
                        compared += 1;
                        let changed = changed_columns(&l.row, &r.row);
                        (!changed.is_empty()).then(|| {
                            format!("{table} {}: differs in {}", l.key, changed.join(", "))
                        })
                    }
                    (Some(l), Some(r)) if l.key < r.key => {
                        i += 1;
                        Some(format!("{table} {}: only in the live database", l.key))
                    }
                    (Some(l), None) => {
                        i += 1;
                        Some(format!("{table} {}: only in the live database", l.key))
                    }
                    (_, Some(r)) => {
                        j += 1;
                        Some(format!("{table} {}: only in the rebuilt database", r.key))
                    }
                    (None, None) => None,
                };
                if let Some(difference) = difference {
                    found += 1;
                    if listed < 100 {
                        listed += 1;
                        differences.push(difference);
                    }
                }
            }
            after = Some(last);
        }
        if found > listed {
            differences.push(format!("{table}: {} more differences not listed", found - listed));
        }
        eprintln!("verify: {table}: {compared} rows compared, {found} differences");
    }
    Ok(differences)
}

/// A page of a table's rows in key order after `after`: each row's key as text, and the row.
fn page(
    conn: &mut PgConnection,
    table: &str,
    key: &str,
    after: Option<&str>,
) -> QueryResult<Vec<RowJson>> {
    // Keys compare as bytes (COLLATE "C"), as Rust compares them in the merge.
    let key_text =
        key.split(", ").map(|k| format!("t.{k}::text")).collect::<Vec<_>>().join(" || '/' || ");
    let key_text = format!("({key_text}) COLLATE \"C\"");
    diesel::sql_query(format!(
        "SELECT {key_text} AS key, to_jsonb(t) AS row FROM {table} t \
         WHERE ($1::text IS NULL OR {key_text} > $1) ORDER BY {key_text} LIMIT 5000"
    ))
    .bind::<diesel::sql_types::Nullable<Text>, _>(after)
    .load(conn)
}

/// The columns whose values differ (columns a rebuild cannot reproduce apart).
fn changed_columns(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return vec!["row".into()] };
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| !NOT_COMPARED.contains(&n.as_str()) && a.get(*n) != b.get(*n))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::changed_columns;
    use serde_json::json;

    #[test]
    fn columns_that_differ_are_named() {
        let a = json!({"id": 1, "user_name": "ada", "initial_deprovision_policy": "erase"});
        let b = json!({"id": 1, "user_name": "Ada", "initial_deprovision_policy": "tombstone"});
        assert_eq!(changed_columns(&a, &b), vec!["user_name"]);
        assert!(changed_columns(&a, &a).is_empty());
    }
}
