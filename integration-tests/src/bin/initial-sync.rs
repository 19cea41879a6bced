//! `initial-sync`: plays Microsoft Entra ID's initial provisioning cycle against a running
//! gateway, as fast as `--concurrency` clients allow, and prints where the time went.
//!
//! What Entra sends (docs/entra/requests.md §1–§3, docs/entra/behaviour.md §3 and §7):
//! 0. the cycle's probes: a filter on a random GUID for users and for groups (200, no match);
//! 1. per user: `GET /Users?filter=userName+eq+%22<upn>%22` (no match), then `POST /Users`;
//! 2. per group: `GET /Groups?filter=displayName+eq+%22…%22&excludedAttributes=members`
//!    (no match), then `POST /Groups` without members;
//! 3. memberships: `PATCH /Groups/{id}` adding `--batch` members at a time (204).
//!
//! Usage: `initial-sync --url <Tenant URL> --token <Secret Token> [--users 10000]
//! [--groups 100] [--memberships 20000] [--concurrency 16] [--batch 100]`.
//! The summary is a Markdown table on stdout; progress and failures go to stderr. Exits 1 if
//! any request was answered other than Entra expects (or not at all).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ADSCIM_GROUP_SCHEMA: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// What Entra sends on bodies (docs/entra/requests.md §0).
const CONTENT_TYPE: &str = "application/scim+json; charset=utf-8";
/// Failures shown with their bodies, per request kind.
const SAMPLES: usize = 3;

#[derive(Parser, Debug)]
#[command(
    name = "initial-sync",
    about = "Play Entra's initial provisioning cycle against a gateway"
)]
struct Args {
    /// The Tenant URL (`…/scim/v2/<directory-id>`).
    #[arg(long, env = "TENANT_URL")]
    url: String,
    /// The Secret Token.
    #[arg(long, env = "TOKEN", hide_env_values = true)]
    token: String,
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    #[arg(long, default_value_t = 100)]
    groups: usize,
    /// Memberships in all, spread evenly over the groups (each user in about
    /// memberships / users groups).
    #[arg(long, default_value_t = 20_000)]
    memberships: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Members added per group PATCH.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Prefix of every userName and group displayName (default: random, so runs never collide).
    #[arg(long)]
    prefix: Option<String>,
}

/// What one kind of request did: its latencies and its failures.
#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    failed: usize,
    samples: Vec<String>,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        self.failed += other.failed;
        for sample in other.samples {
            if self.samples.len() < SAMPLES {
                self.samples.push(sample);
            }
        }
    }

    fn fail(&mut self, what: String) {
        self.failed += 1;
        if self.samples.len() < SAMPLES {
            self.samples.push(what);
        }
    }

    fn requests(&self) -> usize {
        self.latencies.len()
    }

    fn percentile(&self, p: f64) -> Option<Duration> {
        if self.latencies.is_empty() {
            return None;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        Some(sorted[rank.clamp(1, sorted.len()) - 1])
    }
}

/// One answered (or failed) request.
struct Reply {
    status: Option<StatusCode>,
    body: String,
    elapsed: Duration,
}

impl Reply {
    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    fn describe(&self, request: &str) -> String {
        let status = self.status.map_or_else(|| "no answer".to_string(), |s| s.to_string());
        let body: String = self.body.chars().take(500).collect();
        format!("{request} → {status}: {body}")
    }
}

struct Scim {
    client: Client,
    base: String,
    auth: String,
}

impl Scim {
    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", &self.auth);
        if let Some(body) = body {
            request = request.header("Content-Type", CONTENT_TYPE).body(body.to_string());
        }
        let started = Instant::now();
        let result = async {
            let response = request.send().await?;
            let status = response.status();
            let body = response.text().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
        .await;
        let elapsed = started.elapsed();
        match result {
            Ok((status, body)) => Reply { status: Some(status), body, elapsed },
            Err(e) => Reply { status: None, body: e.to_string(), elapsed },
        }
    }

    /// A filter query Entra's way: form-encoded, expecting 200 and no match.
    async fn expect_no_match(&self, stats: &mut Stats, path: &str, query: &str) {
        let reply = self.send(Method::GET, &format!("{path}?{query}"), None).await;
        stats.latencies.push(reply.elapsed);
        let empty = reply.status == Some(StatusCode::OK)
            && reply.json().and_then(|v| v["totalResults"].as_u64()) == Some(0);
        if !empty {
            stats.fail(reply.describe(&format!("GET {path}?{query}")));
        }
    }

    /// A create expecting 201; the new resource's id.
    async fn create(&self, stats: &mut Stats, path: &str, body: &Value) -> Option<String> {
        let reply = self.send(Method::POST, path, Some(body)).await;
        stats.latencies.push(reply.elapsed);
        let id = (reply.status == Some(StatusCode::CREATED))
            .then(|| reply.json().and_then(|v| v["id"].as_str().map(str::to_string)))
            .flatten();
        if id.is_none() {
            stats.fail(reply.describe(&format!("POST {path}")));
        }
        id
    }
}

/// `application/x-www-form-urlencoded`, as Entra encodes its filters: space as `+`, `"` as `%22`.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

const GIVEN: [&str; 12] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tony",
    "Margaret", "Niklaus",
];
const FAMILY: [&str; 12] = [
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman",
    "Hoare", "Hamilton", "Wirth",
];
const DEPARTMENTS: [&str; 6] = ["Engineering", "Sales", "Finance", "Legal", "Support", "Research"];
const TITLES: [&str; 5] = ["Engineer", "Manager", "Analyst", "Director", "Consultant"];

fn user_name(prefix: &str, i: usize) -> String {
    format!("{prefix}.user{i:05}@contoso.com")
}

/// An Entra create body (docs/entra/requests.md §2.1, with the attributes Entra's default mappings
/// send and, for every fifth user, a SingleAppRoleAssignment role, §7.1).
fn user_body(prefix: &str, i: usize) -> Value {
    let upn = user_name(prefix, i);
    let given = GIVEN[i % GIVEN.len()];
    let family = FAMILY[(i / GIVEN.len()) % FAMILY.len()];
    let roles = if i.is_multiple_of(5) {
        json!([{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "User"}])
    } else {
        json!([])
    };
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "externalId": Uuid::new_v4().to_string(),
        "userName": upn,
        "active": true,
        "displayName": format!("{given} {family}"),
        "emails": [{"primary": true, "type": "work", "value": upn}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": format!("{given} {family}"), "familyName": family, "givenName": given},
        "title": TITLES[i % TITLES.len()],
        "roles": roles,
        ENTERPRISE_SCHEMA: {
            "department": DEPARTMENTS[i % DEPARTMENTS.len()],
            "employeeNumber": format!("{i:06}"),
        },
    })
}

fn group_name(prefix: &str, g: usize) -> String {
    format!("{prefix} Group {g:03}")
}

/// An Entra group create (docs/entra/requests.md §3.1): no members.
fn group_body(prefix: &str, g: usize) -> Value {
    json!({
        "schemas": [GROUP_SCHEMA, ADSCIM_GROUP_SCHEMA],
        "externalId": Uuid::new_v4().to_string(),
        "displayName": group_name(prefix, g),
        "meta": {"resourceType": "Group"},
    })
}

/// Runs `job(index, stats)` for every index in `0..count` on `concurrency` tasks. Each task
/// keeps its own `kinds` [`Stats`] (one per kind of request), handed to the job and back; they
/// are merged at the end. Results come back in index order.
async fn run_pool<T, F, Fut>(
    count: usize,
    concurrency: usize,
    kinds: usize,
    job: F,
) -> anyhow::Result<(Vec<T>, Vec<Stats>)>
where
    T: Send + 'static,
    F: Fn(usize, Vec<Stats>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (T, Vec<Stats>)> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let next = next.clone();
        let job = job.clone();
        tasks.push(tokio::spawn(async move {
            let mut results = Vec::new();
            let mut stats = new_stats(kinds);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let (result, after) = job(i, std::mem::take(&mut stats)).await;
                stats = after;
                results.push((i, result));
            }
            (results, stats)
        }));
    }
    let mut results = Vec::with_capacity(count);
    let mut merged = new_stats(kinds);
    for task in tasks {
        let (r, stats) = task.await.context("a client task panicked")?;
        results.extend(r);
        for (into, s) in merged.iter_mut().zip(stats) {
            into.merge(s);
        }
    }
    results.sort_by_key(|(i, _)| *i);
    Ok((results.into_iter().map(|(_, r)| r).collect(), merged))
}

/// A row of the summary: one kind of request within a phase.
struct Row {
    title: String,
    stats: Stats,
    seconds: f64,
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "—".into(), |d| format!("{:.2}ms", d.as_secs_f64() * 1000.0))
}

fn new_stats(kinds: usize) -> Vec<Stats> {
    (0..kinds).map(|_| Stats::default()).collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| format!("sync-{}", &Uuid::new_v4().simple().to_string()[..8]));
    let client = Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(1))
        .timeout(Duration::from_secs(120))
        .build()?;
    let scim = Arc::new(Scim {
        client,
        base: args.url.trim_end_matches('/').to_string(),
        auth: format!("Bearer {}", args.token),
    });
    let mut rows: Vec<Row> = Vec::new();
    let started = Instant::now();

    // 0. The cycle's probes: a random GUID on the matching attributes.
    let phase = Instant::now();
    let mut probes = Stats::default();
    let guid = Uuid::new_v4();
    scim.expect_no_match(
        &mut probes,
        "/Users",
        &format!("filter={}", form_encode(&format!("userName eq \"{guid}\""))),
    )
    .await;
    scim.expect_no_match(
        &mut probes,
        "/Groups",
        &format!("filter={}", form_encode(&format!("displayName eq \"{guid}\""))),
    )
    .await;
    rows.push(Row {
        title: "0. probes: GET /Users, /Groups?filter=… eq \"<random GUID>\"".into(),
        stats: probes,
        seconds: phase.elapsed().as_secs_f64(),
    });

    // 1. Users: match by userName, then create.
    eprintln!(
        "initial-sync: {} users with {} clients (prefix {prefix})",
        args.users, args.concurrency
    );
    let phase = Instant::now();
    let user_prefix = prefix.clone();
    let user_scim = scim.clone();
    let (user_ids, stats) =
        run_pool(args.users, args.concurrency, 2, move |i, mut stats: Vec<Stats>| {
            let scim = user_scim.clone();
            let prefix = user_prefix.clone();
            async move {
                let filter = form_encode(&format!("userName eq \"{}\"", user_name(&prefix, i)));
                scim.expect_no_match(&mut stats[0], "/Users", &format!("filter={filter}")).await;
                let id = scim.create(&mut stats[1], "/Users", &user_body(&prefix, i)).await;
                (id, stats)
            }
        })
        .await?;
    let seconds = phase.elapsed().as_secs_f64();
    let mut stats = stats.into_iter();
    let n = args.users;
    rows.push(Row {
        title: format!("1. users ({n}): GET /Users?filter=userName eq (no match)"),
        stats: stats.next().unwrap_or_default(),
        seconds,
    });
    rows.push(Row {
        title: format!("1. users ({n}): POST /Users"),
        stats: stats.next().unwrap_or_default(),
        seconds,
    });
    eprintln!("initial-sync: users done in {seconds:.2} s");

    // 2. Groups: match by displayName (members excluded), then create without members.
    let phase = Instant::now();
    let group_prefix = prefix.clone();
    let group_scim = scim.clone();
    let (group_ids, stats) =
        run_pool(args.groups, args.concurrency, 2, move |g, mut stats: Vec<Stats>| {
            let scim = group_scim.clone();
            let prefix = group_prefix.clone();
            async move {
                let filter = form_encode(&format!("displayName eq \"{}\"", group_name(&prefix, g)));
                let query = format!("filter={filter}&excludedAttributes=members");
                scim.expect_no_match(&mut stats[0], "/Groups", &query).await;
                let id = scim.create(&mut stats[1], "/Groups", &group_body(&prefix, g)).await;
                (id, stats)
            }
        })
        .await?;
    let seconds = phase.elapsed().as_secs_f64();
    let mut stats = stats.into_iter();
    let g = args.groups;
    rows.push(Row {
        title: format!(
            "2. groups ({g}): GET /Groups?filter=displayName eq&excludedAttributes=members"
        ),
        stats: stats.next().unwrap_or_default(),
        seconds,
    });
    rows.push(Row {
        title: format!("2. groups ({g}): POST /Groups"),
        stats: stats.next().unwrap_or_default(),
        seconds,
    });
    eprintln!("initial-sync: groups done in {seconds:.2} s");

    // 3. Memberships: group g gets an even share, a window of consecutive users starting at
    // g × users / groups (so no user is added twice to one group), `--batch` per PATCH.
    let patches = membership_patches(&args, &user_ids, &group_ids);
    let memberships: usize = patches.iter().map(|(_, members)| members.len()).sum();
    let phase = Instant::now();
    let patches = Arc::new(patches);
    let patch_scim = scim.clone();
    let jobs = patches.clone();
    let (_, stats) =
        run_pool(patches.len(), args.concurrency, 1, move |k, mut stats: Vec<Stats>| {
            let scim = patch_scim.clone();
            let jobs = jobs.clone();
            async move {
                let (group_id, members) = &jobs[k];
                let value: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
                let body = json!({
                    "schemas": [PATCH_SCHEMA],
                    "Operations": [{"op": "Add", "path": "members", "value": value}],
                });
                let path = format!("/Groups/{group_id}");
                let reply = scim.send(Method::PATCH, &path, Some(&body)).await;
                stats[0].latencies.push(reply.elapsed);
                if reply.status != Some(StatusCode::NO_CONTENT) {
                    stats[0]
                        .fail(reply.describe(&format!("PATCH {path} ({} members)", members.len())));
                }
                ((), stats)
            }
        })
        .await?;
    let seconds = phase.elapsed().as_secs_f64();
    rows.push(Row {
        title: format!(
            "3. memberships ({memberships}): PATCH /Groups/{{id}} Add members, {} per request",
            args.batch
        ),
        stats: stats.into_iter().next().unwrap_or_default(),
        seconds,
    });
    eprintln!("initial-sync: memberships done in {seconds:.2} s");

    let total = started.elapsed().as_secs_f64();
    let failed: usize = rows.iter().map(|r| r.stats.failed).sum();
    let missing = user_ids.iter().filter(|id| id.is_none()).count()
        + group_ids.iter().filter(|id| id.is_none()).count();
    for row in &rows {
        for sample in &row.stats.samples {
            eprintln!("initial-sync: failed: {sample}");
        }
    }
    print_summary(&args, &rows, total);
    if failed > 0 {
        eprintln!(
            "initial-sync: {failed} requests were not answered as Entra expects \
             ({missing} objects not created)"
        );
        std::process::exit(1);
    }
    Ok(())
}

/// The membership PATCHes: (group id, member ids), at most `--batch` members each.
fn membership_patches(
    args: &Args,
    user_ids: &[Option<String>],
    group_ids: &[Option<String>],
) -> Vec<(String, Vec<String>)> {
    let users = user_ids.len();
    let groups = group_ids.len();
    if users == 0 || groups == 0 {
        return Vec::new();
    }
    let mut patches = Vec::new();
    for (g, group_id) in group_ids.iter().enumerate() {
        let share = args.memberships / groups + usize::from(g < args.memberships % groups);
        if share > users {
            eprintln!("initial-sync: group {g} gets {share} members of {users} users; capped");
        }
        let start = g * users / groups;
        let members: Vec<String> =
            (0..share.min(users)).filter_map(|j| user_ids[(start + j) % users].clone()).collect();
        let Some(group_id) = group_id else { continue };
        for chunk in members.chunks(args.batch) {
            patches.push((group_id.clone(), chunk.to_vec()));
        }
    }
    patches
}

#[allow(clippy::print_stdout)]
fn print_summary(args: &Args, rows: &[Row], total: f64) {
    println!(
        "| initial sync, {} users, {} groups, {} memberships, {} clients | requests | seconds | requests/s | p50 | p99 | failed |",
        args.users, args.groups, args.memberships, args.concurrency
    );
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        let requests = row.stats.requests();
        println!(
            "| {} | {} | {:.2} | {:.1} | {} | {} | {} |",
            row.title,
            requests,
            row.seconds,
            requests as f64 / row.seconds.max(f64::EPSILON),
            ms(row.stats.percentile(50.0)),
            ms(row.stats.percentile(99.0)),
            row.stats.failed
        );
    }
    let requests: usize = rows.iter().map(|r| r.stats.requests()).sum();
    let failed: usize = rows.iter().map(|r| r.stats.failed).sum();
    println!(
        "| **total** (target ≤ 30 s) | {requests} | **{total:.2}** | {:.1} | | | {failed} |",
        requests as f64 / total.max(f64::EPSILON)
    );
}
