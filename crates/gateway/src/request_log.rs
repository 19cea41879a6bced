//! The provisioning log's writer: one entry per SCIM request of a directory, written off the
//! request path (docs/designs/0006-control-plane.md).
//!
//! [`record`] is middleware on the SCIM scope, outside authentication so that refused tokens
//! are logged too. It builds the entry from the request, the response and what the handler
//! noted ([`note`]: the userName or displayName, a created id, a PATCH's operations), and hands
//! it to a bounded queue. A task writes the queue in batches (every [`FLUSH_EVERY`] or
//! [`BATCH`] entries, one statement); when the queue is full (Postgres down) entries are
//! dropped and counted, never requests slowed. Entries past their retention are pruned by
//! [`crate::retention`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use chrono::Utc;
use roster_scim::ScimError;
use roster_scim::patch::PatchOp;
use roster_store::PgPool;
use roster_store::provisioning_log::{self, NewLogEntry};
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::ApiError;

/// Most entries written in one statement.
pub const BATCH: usize = 500;
/// How long an entry may wait for its batch.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Longest text kept of a name, id, summary or detail.
const MAX_TEXT: usize = 500;

/// What a handler knows of its request that the middleware cannot see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogNote {
    /// The id of the resource, when the path does not say it (a create).
    pub resource_id: Option<String>,
    /// The userName or displayName.
    pub resource_name: Option<String>,
    /// A summary that replaces the one derived from the method (a PATCH's operations).
    pub operation: Option<String>,
}

/// Add to the request's note.
pub fn note(req: &HttpRequest, f: impl FnOnce(&mut LogNote)) {
    let mut extensions = req.extensions_mut();
    if extensions.get::<LogNote>().is_none() {
        extensions.insert(LogNote::default());
    }
    if let Some(note) = extensions.get_mut::<LogNote>() {
        f(note);
    }
}

/// A PATCH's operations in a few words: `replace active; add members ×3`.
pub fn patch_summary(operations: &[PatchOp]) -> String {
    let mut parts: Vec<(String, usize)> = Vec::new();
    for op in operations {
        let (kind, path, _) = op.to_parts();
        let kind = kind.as_str();
        let values = match &op.value {
            Some(serde_json::Value::Array(values)) => values.len().max(1),
            _ => 1,
        };
        let text = format!("{kind} {}", path.unwrap_or_default()).trim_end().to_string();
        match parts.last_mut() {
            Some((last, count)) if *last == text => *count += values,
            _ => parts.push((text, values)),
        }
    }
    let summary = parts
        .into_iter()
        .map(|(text, count)| if count > 1 { format!("{text} ×{count}") } else { text })
        .collect::<Vec<_>>()
        .join("; ");
    format!("patch: {summary}")
}

/// The queue of entries and the tasks that write and prune them.
pub struct RequestLog {
    sender: mpsc::Sender<NewLogEntry>,
    dropped: Arc<AtomicU64>,
    stop: Arc<Notify>,
    writer: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl RequestLog {
    /// Start the writer.
    pub fn start(pool: PgPool, capacity: usize) -> RequestLog {
        let (sender, receiver) = mpsc::channel(capacity);
        let stop = Arc::new(Notify::new());
        let writer = tokio::spawn(write_batches(pool, receiver, stop.clone()));
        RequestLog {
            sender,
            dropped: Arc::new(AtomicU64::new(0)),
            stop,
            writer: std::sync::Mutex::new(Some(writer)),
        }
    }

    /// Queue an entry; a full queue drops it (and says so, once per thousand).
    pub fn push(&self, entry: NewLogEntry) {
        if self.sender.try_send(entry).is_err() {
            metrics::counter!("roster_provisioning_log_dropped_total").increment(1);
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed);
            if dropped.is_multiple_of(1000) {
                tracing::warn!(
                    dropped = dropped + 1,
                    "provisioning log queue full; entries dropped"
                );
            }
        }
    }

    /// Entries dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Write what is queued, then stop the writer (at shutdown).
    pub async fn flush_and_stop(&self) {
        self.stop.notify_one();
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
        }
    }
}

async fn write_batches(pool: PgPool, mut receiver: mpsc::Receiver<NewLogEntry>, stop: Arc<Notify>) {
    let mut stopping = false;
    loop {
        let first = tokio::select! {
            entry = receiver.recv() => entry,
            () = stop.notified(), if !stopping => { stopping = true; receiver.close(); continue; }
        };
        let Some(first) = first else { return };
        let mut batch = vec![first];
        // Wait out the batch's time instead of taking each entry as it comes: each arrival
        // would wake this task, on another thread than the request's, once per request.
        if !stopping && receiver.len() + 1 < BATCH {
            tokio::select! {
                () = tokio::time::sleep(FLUSH_EVERY) => {}
                () = stop.notified() => { stopping = true; receiver.close(); }
            }
        }
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        // Entries arrive as requests end; the log is read in the order they began.
        batch.sort_by_key(|e| e.at);
        write(&pool, batch).await;
    }
}

/// Write one batch, trying again twice over a few seconds (a Postgres restart); then drop it.
async fn write(pool: &PgPool, batch: Vec<NewLogEntry>) {
    let batch = Arc::new(batch);
    for attempt in 0..3 {
        let entries = batch.clone();
        let result = roster_store::run_read(pool, move |conn| {
            provisioning_log::insert_batch(conn, &entries).map_err(ApiError::from)
        })
        .await;
        match result {
            Ok(_) => return,
            Err(error) if attempt < 2 => {
                tracing::debug!(%error, "provisioning log batch failed; trying again");
                tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
            }
            Err(error) => {
                tracing::warn!(%error, entries = batch.len(), "provisioning log batch dropped");
            }
        }
    }
}

/// Middleware on the SCIM scope: log the request once it is answered.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let directory = req.match_info().get("directory").and_then(|d| Uuid::parse_str(d).ok());
    let log = req.app_data::<web::Data<RequestLog>>().cloned();
    // What the entry needs of the request, taken now: the request cannot be cloned before
    // routing (actix needs it unshared), and a failure leaves no response to take it from.
    let seen = Seen {
        at: Utc::now(),
        method: req.method().as_str().to_string(),
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        request_id: crate::state::request_id(req.request()),
    };
    let result = next.call(req).await;
    let (Some(directory_id), Some(log)) = (directory, log) else { return result };
    let (status, error, note, token_id) = match &result {
        Ok(response) => {
            let extensions = response.request().extensions();
            (
                response.status().as_u16(),
                response
                    .response()
                    .error()
                    .and_then(|e| e.as_error::<ApiError>())
                    .and_then(scim_error),
                extensions.get::<LogNote>().cloned().unwrap_or_default(),
                extensions.get::<Principal>().map(|p| p.token_id),
            )
        }
        Err(e) => (
            e.as_response_error().status_code().as_u16(),
            e.as_error::<ApiError>().and_then(scim_error),
            LogNote::default(),
            None,
        ),
    };
    let answered = Answered { status, error, note, token_id, latency: started.elapsed() };
    log.push(entry(directory_id, seen, answered));
    result
}

/// What the middleware took of a request before passing it on.
struct Seen {
    at: chrono::DateTime<Utc>,
    method: String,
    path: String,
    query: String,
    request_id: String,
}

/// How it was answered.
struct Answered {
    status: u16,
    error: Option<ScimError>,
    note: LogNote,
    token_id: Option<Uuid>,
    latency: Duration,
}

/// The SCIM error a client was shown, if the failure has one.
fn scim_error(error: &ApiError) -> Option<ScimError> {
    match error {
        ApiError::Scim(e) => Some(e.clone()),
        other => Some(ScimError::new(
            actix_web::ResponseError::status_code(other).as_u16(),
            None,
            match other {
                ApiError::Internal(_) => "internal error".to_string(),
                ApiError::Unavailable { detail, .. } | ApiError::Throttled { detail, .. } => {
                    detail.clone()
                }
                ApiError::Scim(e) => e.detail.clone(),
            },
        )),
    }
}

/// The log entry of a request.
fn entry(directory_id: Uuid, seen: Seen, answered: Answered) -> NewLogEntry {
    let Answered { status, error, note, token_id, latency } = answered;
    let method = seen.method;
    let (resource_type, path_id) = resource(&seen.path);
    let filter = filter_of(&seen.query);
    let listing = path_id.is_none() && method == "GET" && matches!(resource_type, "User" | "Group");
    let derived = match (method.as_str(), &path_id, &filter) {
        ("POST", None, _) if seen.path.ends_with("/.search") => "search".to_string(),
        ("POST", _, _) => "create".to_string(),
        ("PUT", _, _) => "replace".to_string(),
        ("PATCH", _, _) => "patch".to_string(),
        ("DELETE", _, _) => "delete".to_string(),
        ("GET", Some(_), _) => "get".to_string(),
        ("GET", None, Some(filter)) if listing => format!("filter {}", filter.shape()),
        ("GET", None, _) => "list".to_string(),
        (other, _, _) => other.to_ascii_lowercase(),
    };
    let probe = listing && filter.as_ref().is_some_and(Filter::is_probe);
    let resource_name = note
        .resource_name
        .or_else(|| filter.as_ref().filter(|f| f.op == "eq").map(|f| f.value.clone()));
    let reference_failure = error.as_ref().is_some_and(|e| is_reference_failure(resource_type, e));
    NewLogEntry {
        directory_id,
        at: seen.at,
        method,
        resource_type: resource_type.to_string(),
        resource_id: note.resource_id.or(path_id).map(|t| clean(&t)),
        resource_name: resource_name.map(|t| clean(&t)),
        operation: clean(&note.operation.unwrap_or(derived)),
        status: i16::try_from(status).unwrap_or(500),
        scim_type: error.as_ref().and_then(|e| e.scim_type).map(|t| t.as_str().to_string()),
        detail: error.map(|e| clean(&e.detail)),
        latency_ms: i32::try_from(latency.as_millis()).unwrap_or(i32::MAX),
        request_id: clean(&seen.request_id),
        token_id,
        reference_failure,
        probe,
    }
}

/// A failure Entra does not count towards quarantine: a group member or a manager that does not
/// resolve (docs/entra/behaviour.md §7.5).
pub fn is_reference_failure(resource_type: &str, error: &ScimError) -> bool {
    let detail = error.detail.to_ascii_lowercase();
    matches!(resource_type, "User" | "Group")
        && error.status == 400
        && (detail.starts_with("member ") || detail.contains("manager"))
}

/// The resource type and id a SCIM path names: `/scim/v2/{directory}/Users/{id}`.
fn resource(path: &str) -> (&'static str, Option<String>) {
    let mut segments = path.trim_start_matches('/').split('/').skip(3);
    let kind = match segments.next() {
        Some("Users") => "User",
        Some("Groups") => "Group",
        Some("Schemas") => "Schema",
        Some("ResourceTypes") => "ResourceType",
        Some("ServiceProviderConfig") => "ServiceProviderConfig",
        Some(".search") => "Search",
        _ => "Unknown",
    };
    let id = segments.next().filter(|s| !s.is_empty() && *s != ".search").map(str::to_string);
    (kind, id)
}

/// A single comparison `attribute op "value"`, the shape of Entra's lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Filter {
    attribute: String,
    op: String,
    value: String,
}

impl Filter {
    fn shape(&self) -> String {
        format!("{} {}", self.attribute, self.op)
    }

    /// A lookup of one GUID: Entra's Test Connection (a random GUID that matches nothing).
    fn is_probe(&self) -> bool {
        self.op == "eq" && Uuid::parse_str(&self.value).is_ok()
    }
}

/// The `filter` parameter, when it is one comparison with a quoted value.
fn filter_of(query: &str) -> Option<Filter> {
    let text = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("filter"))?
        .1;
    let text = text.trim();
    let (attribute, rest) = text.split_once(char::is_whitespace)?;
    let (op, value) = rest.trim_start().split_once(char::is_whitespace)?;
    let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
    if value.contains('"') || attribute.len() > 200 {
        return None;
    }
    Some(Filter {
        attribute: attribute.to_string(),
        op: op.to_ascii_lowercase(),
        value: value.to_string(),
    })
}

/// Text as the log keeps it: no control characters (Postgres refuses NUL), at most
/// [`MAX_TEXT`] characters.
fn clean(text: &str) -> String {
    let mut cleaned: String =
        text.chars().take(MAX_TEXT).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
    if text.chars().count() > MAX_TEXT {
        cleaned.push('…');
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_resources() {
        let d = "/scim/v2/8f1e0e5c-0000-4000-8000-000000000000";
        assert_eq!(resource(&format!("{d}/Users")), ("User", None));
        assert_eq!(resource(&format!("{d}/Users/abc")), ("User", Some("abc".into())));
        assert_eq!(resource(&format!("{d}/Groups/.search")), ("Group", None));
        assert_eq!(resource(&format!("{d}/.search")), ("Search", None));
        assert_eq!(resource(&format!("{d}/Schemas/urn:x")), ("Schema", Some("urn:x".into())));
        assert_eq!(resource(&format!("{d}/nope")), ("Unknown", None));
    }

    #[test]
    fn entras_lookups_and_probe_are_recognised() {
        let probe = filter_of(
            "filter=userName+eq+%227d420df3-2cb8-4a4d-9a35-3f1b3b4a8e51%22&aadOptscim062020",
        )
        .unwrap_or_else(|| panic!("a filter"));
        assert_eq!(probe.shape(), "userName eq");
        assert!(probe.is_probe());
        let lookup = filter_of("filter=userName%20eq%20%22ada%40contoso.com%22")
            .unwrap_or_else(|| panic!("a filter"));
        assert_eq!(lookup.value, "ada@contoso.com");
        assert!(!lookup.is_probe());
        assert_eq!(filter_of("filter=userName+eq+%22a%22+and+active+eq+true"), None);
        assert_eq!(filter_of("count=1"), None);
        assert_eq!(filter_of("filter=%ff%fe"), None);
    }

    #[test]
    fn text_is_cleaned_and_bounded() {
        assert_eq!(clean("a\u{0}b\nc"), "a\u{fffd}b\u{fffd}c");
        let long = "é".repeat(MAX_TEXT + 5);
        assert_eq!(clean(&long).chars().count(), MAX_TEXT + 1);
    }

    #[test]
    fn patch_operations_are_summarised() {
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
                {"op": "add", "path": "members", "value": [{"value": "c"}]}
            ]
        });
        let ops = roster_scim::patch::PatchRequest::parse(&body).unwrap_or_default();
        assert_eq!(patch_summary(&ops), "patch: replace active; add members ×3");
    }

    #[test]
    fn member_and_manager_failures_are_reference_failures() {
        let member = ScimError::invalid_value("member \"x\" is not the id of a user or group");
        assert!(is_reference_failure("Group", &member));
        assert!(!is_reference_failure(
            "Group",
            &ScimError::invalid_value("displayName is required")
        ));
        assert!(!is_reference_failure("Schema", &member));
    }
}
