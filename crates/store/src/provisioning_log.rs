//! The provisioning log: one row per SCIM request of a directory, what a directory's admin
//! reads to see what Entra did and how each request ended. Written in batches by the gateway,
//! off the request path; pruned after its retention.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Int2, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use uuid::Uuid;

use crate::page::{Page, PageRequest};
use crate::schema::provisioning_log;

/// One request as stored: its id, and what was logged.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = provisioning_log)]
pub struct LogEntry {
    pub id: i64,
    #[diesel(embed)]
    pub entry: NewLogEntry,
}

/// One request, as the gateway saw it (before it is stored, it has no id).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = provisioning_log)]
pub struct NewLogEntry {
    pub directory_id: Uuid,
    pub at: DateTime<Utc>,
    pub method: String,
    /// `User`, `Group`, `Schema`, … (`Unknown` for a path that is none).
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// The userName or displayName, when the request or its answer says it.
    pub resource_name: Option<String>,
    /// A short summary: `create`, `patch: replace active`, `filter userName eq`, …
    pub operation: String,
    pub status: i16,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub latency_ms: i32,
    pub request_id: String,
    pub token_id: Option<Uuid>,
    /// A failure Entra does not count towards quarantine.
    pub reference_failure: bool,
    /// A filtered lookup of one GUID (Entra's Test Connection).
    pub probe: bool,
}

/// Store a batch in one statement, in the order given (ids follow it, so a list newest first by
/// id is newest first by time when the batch is in time order), keeping only entries of
/// directories that exist (so requests to made-up directory ids leave nothing), and mark each
/// token's last use. Returns how many rows were stored.
pub fn insert_batch(conn: &mut PgConnection, entries: &[NewLogEntry]) -> QueryResult<usize> {
    if entries.is_empty() {
        return Ok(0);
    }
    let col = |f: &dyn Fn(&NewLogEntry) -> Option<String>| -> Vec<Option<String>> {
        entries.iter().map(f).collect()
    };
    let stored = diesel::sql_query(
        "INSERT INTO provisioning_log (directory_id, at, method, resource_type, resource_id, \
           resource_name, operation, status, scim_type, detail, latency_ms, request_id, token_id, \
           reference_failure, probe) \
         SELECT v.directory_id, v.at, v.method, v.resource_type, v.resource_id, v.resource_name, \
           v.operation, v.status, v.scim_type, v.detail, v.latency_ms, v.request_id, v.token_id, \
           v.reference_failure, v.probe \
         FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], \
           $7::text[], $8::int2[], $9::text[], $10::text[], $11::int4[], $12::text[], $13::uuid[], \
           $14::bool[], $15::bool[]) \
           WITH ORDINALITY \
           AS v(directory_id, at, method, resource_type, resource_id, resource_name, operation, \
             status, scim_type, detail, latency_ms, request_id, token_id, reference_failure, probe, \
             ord) \
         WHERE EXISTS (SELECT 1 FROM directories d WHERE d.id = v.directory_id) \
         ORDER BY v.ord",
    )
    .bind::<Array<SqlUuid>, _>(entries.iter().map(|e| e.directory_id).collect::<Vec<_>>())
    .bind::<Array<Timestamptz>, _>(entries.iter().map(|e| e.at).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(entries.iter().map(|e| e.method.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(entries.iter().map(|e| e.resource_type.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(col(&|e| e.resource_id.clone()))
    .bind::<Array<Nullable<Text>>, _>(col(&|e| e.resource_name.clone()))
    .bind::<Array<Text>, _>(entries.iter().map(|e| e.operation.clone()).collect::<Vec<_>>())
    .bind::<Array<Int2>, _>(entries.iter().map(|e| e.status).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(col(&|e| e.scim_type.clone()))
    .bind::<Array<Nullable<Text>>, _>(col(&|e| e.detail.clone()))
    .bind::<Array<Int4>, _>(entries.iter().map(|e| e.latency_ms).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(entries.iter().map(|e| e.request_id.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<SqlUuid>>, _>(entries.iter().map(|e| e.token_id).collect::<Vec<_>>())
    .bind::<Array<Bool>, _>(entries.iter().map(|e| e.reference_failure).collect::<Vec<_>>())
    .bind::<Array<Bool>, _>(entries.iter().map(|e| e.probe).collect::<Vec<_>>())
    .execute(conn)?;
    let mut last_use: std::collections::HashMap<Uuid, DateTime<Utc>> = Default::default();
    for entry in entries.iter().filter(|e| e.status != 401) {
        if let Some(token) = entry.token_id {
            let at = last_use.entry(token).or_insert(entry.at);
            *at = (*at).max(entry.at);
        }
    }
    if !last_use.is_empty() {
        let (ids, times): (Vec<Uuid>, Vec<DateTime<Utc>>) = last_use.into_iter().unzip();
        diesel::sql_query(
            "UPDATE scim_tokens t SET last_used_at = v.at \
             FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, at) \
             WHERE t.id = v.id AND (t.last_used_at IS NULL OR t.last_used_at < v.at)",
        )
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<Timestamptz>, _>(times)
        .execute(conn)?;
    }
    Ok(stored)
}

/// Which entries to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    pub status: Option<StatusFilter>,
    /// A resource type (`User`, `Group`, …).
    pub resource_type: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// 1xx–3xx.
    Success,
    /// 4xx and 5xx.
    Failure,
    Code(i16),
}

/// A directory's entries, newest first (by the time each request began), a page at a time (the
/// cursor is the last entry's time and id).
pub fn list(
    conn: &mut PgConnection,
    directory_id: Uuid,
    filter: &LogFilter,
    page: &PageRequest,
) -> QueryResult<Page<LogEntry>> {
    let mut query = provisioning_log::table
        .filter(provisioning_log::directory_id.eq(directory_id))
        .select(LogEntry::as_select())
        .into_boxed();
    match filter.status {
        Some(StatusFilter::Success) => query = query.filter(provisioning_log::status.lt(400)),
        Some(StatusFilter::Failure) => query = query.filter(provisioning_log::status.ge(400)),
        Some(StatusFilter::Code(code)) => query = query.filter(provisioning_log::status.eq(code)),
        None => {}
    }
    if let Some(resource_type) = &filter.resource_type {
        query = query.filter(provisioning_log::resource_type.eq(resource_type.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(provisioning_log::at.ge(since));
    }
    if let Some([at, id]) = page.after.as_deref() {
        let at =
            at.parse::<i64>().ok().and_then(DateTime::from_timestamp_micros).unwrap_or_default();
        let id = id.parse::<i64>().unwrap_or_default();
        query = query.filter(
            provisioning_log::at
                .lt(at)
                .or(provisioning_log::at.eq(at).and(provisioning_log::id.lt(id))),
        );
    }
    let rows = query
        .order((provisioning_log::at.desc(), provisioning_log::id.desc()))
        .limit(page.limit + 1)
        .load(conn)?;
    Ok(Page::from_rows(rows, page.limit, |e: &LogEntry| {
        vec![e.entry.at.timestamp_micros().to_string(), e.id.to_string()]
    }))
}

/// Requests of a directory since a time, as Entra's quarantine rule counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, QueryableByName)]
pub struct RequestCounts {
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    /// Answered 4xx or 5xx.
    #[diesel(sql_type = BigInt)]
    pub failures: i64,
    /// Of the failures, those Entra does not count towards its 40 % rule.
    #[diesel(sql_type = BigInt)]
    pub reference_failures: i64,
}

pub fn counts_since(
    conn: &mut PgConnection,
    directory_id: Uuid,
    since: DateTime<Utc>,
) -> QueryResult<RequestCounts> {
    diesel::sql_query(
        "SELECT count(*) AS total, \
           count(*) FILTER (WHERE status >= 400) AS failures, \
           count(*) FILTER (WHERE status >= 400 AND reference_failure) AS reference_failures \
         FROM provisioning_log WHERE directory_id = $1 AND at >= $2",
    )
    .bind::<SqlUuid, _>(directory_id)
    .bind::<Timestamptz, _>(since)
    .get_result(conn)
}

/// The newest entry of a directory that Entra's token opened (not a 401), if any.
pub fn last_authenticated(
    conn: &mut PgConnection,
    directory_id: Uuid,
) -> QueryResult<Option<LogEntry>> {
    provisioning_log::table
        .filter(provisioning_log::directory_id.eq(directory_id))
        .filter(provisioning_log::status.ne(401))
        .order(provisioning_log::id.desc())
        .select(LogEntry::as_select())
        .first(conn)
        .optional()
}

/// The newest probe (Test Connection's lookup of a random GUID) of a directory, if any.
pub fn last_probe(conn: &mut PgConnection, directory_id: Uuid) -> QueryResult<Option<LogEntry>> {
    provisioning_log::table
        .filter(provisioning_log::directory_id.eq(directory_id))
        .filter(provisioning_log::probe)
        .order(provisioning_log::id.desc())
        .select(LogEntry::as_select())
        .first(conn)
        .optional()
}

/// Delete up to `batch` entries older than `before`; returns how many went. Callers repeat until
/// fewer than `batch` go, each call its own short transaction.
pub fn prune(conn: &mut PgConnection, before: DateTime<Utc>, batch: i64) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM provisioning_log WHERE id IN \
           (SELECT id FROM provisioning_log WHERE at < $1 ORDER BY at LIMIT $2)",
    )
    .bind::<Timestamptz, _>(before)
    .bind::<BigInt, _>(batch)
    .execute(conn)
}

/// Delete a directory's entries (the directory is gone).
pub fn forget_directory(conn: &mut PgConnection, directory_id: Uuid) -> QueryResult<usize> {
    diesel::delete(provisioning_log::table.filter(provisioning_log::directory_id.eq(directory_id)))
        .execute(conn)
}
