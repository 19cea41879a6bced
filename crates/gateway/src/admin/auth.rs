//! Admin token authentication: the JWT's signature and claims
//! (`roster_platform::admin_tokens::verify`), then its row in `admin_tokens` (not revoked, not
//! expired), cached for `auth.token_cache_ttl_ms` and dropped at once on a revocation `NOTIFY`.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use roster_platform::admin_tokens::{self, AdminScope};
use roster_platform::keys::Keys;
use roster_store::PgPool;
use roster_store::admin_tokens::AdminTokenRow;
use roster_store::control::TokenStatus;
use uuid::Uuid;

use crate::control::{Caller, Scope};
use crate::error::ApiError;

/// Verifies admin tokens against Postgres, with a short-lived cache of their rows.
pub struct AdminVerifier {
    key: Keys,
    pool: PgPool,
    ttl: Duration,
    cache: RwLock<HashMap<Uuid, (Option<AdminTokenRow>, Instant)>>,
}

/// Why a token was refused. Every reason is the same 401 to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Invalid,
    Revoked,
    Expired,
}

impl AdminVerifier {
    pub fn new(key: Keys, pool: PgPool, ttl: Duration) -> AdminVerifier {
        AdminVerifier { key, pool, ttl, cache: RwLock::new(HashMap::new()) }
    }

    /// Forget a token at once (revocation pushed by NOTIFY).
    pub fn evict(&self, token_id: Uuid) {
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(&token_id);
        }
    }

    /// The caller a token speaks for, or why not. A database failure is the error it is
    /// (503 when transient), not a refusal.
    pub async fn verify(&self, token: &str) -> Result<Result<Caller, Refusal>, ApiError> {
        Ok(self.verify_until(token).await?.map(|(caller, _)| caller))
    }

    /// [`verify`](Self::verify), with when the token expires (a console session signed in
    /// with it never outlives it).
    pub async fn verify_until(
        &self,
        token: &str,
    ) -> Result<Result<(Caller, DateTime<Utc>), Refusal>, ApiError> {
        let Ok(principal) = admin_tokens::verify(&self.key, token) else {
            return Ok(Err(Refusal::Invalid));
        };
        let scope = match principal.scope {
            AdminScope::Operator => Scope::Operator,
            AdminScope::Tenant(id) => Scope::Tenant(id),
        };
        let Some(row) = self.row(principal.token_id).await? else {
            return Ok(Err(Refusal::Invalid));
        };
        let expires_at = row.expires_at;
        Ok(admit(row, Some((scope, &principal.subject))).map(|caller| (caller, expires_at)))
    }

    /// The caller of an admin token known by its id (a console session holds the id, not the
    /// token), from its row: refused once the row is revoked, expired or gone.
    pub async fn caller_by_id(&self, token_id: Uuid) -> Result<Result<Caller, Refusal>, ApiError> {
        let Some(row) = self.row(token_id).await? else {
            return Ok(Err(Refusal::Invalid));
        };
        Ok(admit(row, None))
    }

    /// [`verify`](Self::verify) as a request's answer: the caller, or 401.
    pub async fn caller(&self, token: &str) -> Result<Caller, ApiError> {
        self.verify(token).await?.map_err(|_| unauthorized())
    }

    async fn row(&self, id: Uuid) -> Result<Option<AdminTokenRow>, ApiError> {
        if let Ok(cache) = self.cache.read()
            && let Some((row, fetched)) = cache.get(&id)
            && fetched.elapsed() < self.ttl
        {
            metrics::counter!("roster_token_cache_lookups_total", "kind" => "admin", "result" => "hit")
                .increment(1);
            return Ok(row.clone());
        }
        metrics::counter!("roster_token_cache_lookups_total", "kind" => "admin", "result" => "miss")
            .increment(1);
        let row = roster_store::run_read(&self.pool, move |conn| {
            roster_store::admin_tokens::find(conn, id).map_err(ApiError::from)
        })
        .await?;
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() > 10_000 {
                cache.retain(|_, (_, fetched)| fetched.elapsed() < self.ttl);
            }
            cache.insert(id, (row.clone(), Instant::now()));
        }
        Ok(row)
    }
}

/// The caller a token's row admits: its scope and subject (which must be what the token
/// `claimed`, when it claimed anything), unless the row is revoked or expired.
fn admit(row: AdminTokenRow, claimed: Option<(Scope, &str)>) -> Result<Caller, Refusal> {
    // The row is the authority on scope too: a token whose claims disagree with it is forged
    // or stale.
    let scope = match (row.scope.as_str(), row.tenant_id) {
        ("operator", None) => Scope::Operator,
        ("tenant", Some(id)) => Scope::Tenant(id),
        _ => return Err(Refusal::Invalid),
    };
    if let Some((claimed_scope, subject)) = claimed
        && (claimed_scope != scope || row.subject != subject)
    {
        return Err(Refusal::Invalid);
    }
    match row.status(Utc::now()) {
        TokenStatus::Active => {}
        TokenStatus::Revoked => return Err(Refusal::Revoked),
        TokenStatus::Expired => return Err(Refusal::Expired),
    }
    Ok(Caller { subject: row.subject, token_id: Some(row.id), scope })
}

pub fn unauthorized() -> ApiError {
    ApiError::Scim(roster_scim::ScimError::new(401, None, "a valid admin bearer token is required"))
}
