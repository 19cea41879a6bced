//! Bearer-token authentication of SCIM requests.
//!
//! [`authenticate`] is middleware on the `/scim/v2/{directory}` scope: it verifies the token and
//! leaves a typed [`Principal`] in the request; handlers take the principal and never see tokens.
//! A token opens only the directory in its `sub`, only while it is not revoked, and only if it
//! is byte for byte the token that was issued (its SHA-256 is stored).

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use roster_platform::keys::Keys;
use roster_platform::tokens;
use roster_scim::ScimError;
use roster_store::{PgPool, control};
use uuid::Uuid;

use crate::error::ApiError;

/// Who is calling: the directory a verified token opens, its tenant, and the token's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub directory_id: Uuid,
    pub tenant_id: Uuid,
    pub token_id: Uuid,
}

/// Verifies tokens against Postgres, with a short-lived cache of active grants.
pub struct TokenVerifier {
    signing_key: Keys,
    pool: PgPool,
    ttl: Duration,
    cache: RwLock<HashMap<Uuid, Cached>>,
    /// Tokens whose signature and claims verified, by their SHA-256, for `ttl`: checking a
    /// JWT was a tenth of the gateway's CPU per lookup (docs/benchmarks.md). Only tokens that
    /// verified are kept, so made-up tokens cannot fill it, and at most [`MAX_VERIFIED`]. A
    /// kept token still passes the grant's checks on every request (revoked, expired, that
    /// directory, that very token).
    verified: RwLock<HashMap<Vec<u8>, (tokens::VerifiedToken, Instant)>>,
}

/// Most tokens [`TokenVerifier`] keeps as verified (a directory has a token or two).
const MAX_VERIFIED: usize = 10_000;

#[derive(Clone)]
struct Cached {
    grant: control::TokenGrant,
    fetched: Instant,
}

impl TokenVerifier {
    pub fn new(signing_key: Keys, pool: PgPool, ttl: Duration) -> Self {
        TokenVerifier {
            signing_key,
            pool,
            ttl,
            cache: RwLock::new(HashMap::new()),
            verified: RwLock::new(HashMap::new()),
        }
    }

    /// Forget a token at once (revocation pushed by NOTIFY).
    pub fn evict(&self, token_id: Uuid) {
        if let Ok(mut cache) = self.cache.write() {
            cache.remove(&token_id);
        }
    }

    /// Verify `token` for `directory`. Any failure is the same 401, whatever the reason, so a
    /// caller learns nothing about which directories or tokens exist.
    pub async fn verify(&self, directory: &str, token: &str) -> Result<Principal, ApiError> {
        let denied = || ApiError::Scim(ScimError::unauthorized("invalid or missing bearer token"));
        let fingerprint = tokens::fingerprint(token);
        let verified = self.signature(token, &fingerprint).ok_or_else(denied)?;
        if Uuid::parse_str(directory).ok() != Some(verified.directory_id) {
            return Err(denied());
        }
        let grant = self.grant(verified.token_id).await?.ok_or_else(denied)?;
        if !grant.admits(verified.directory_id, &fingerprint, chrono::Utc::now()) {
            return Err(denied());
        }
        Ok(Principal {
            directory_id: grant.directory_id,
            tenant_id: grant.tenant_id,
            token_id: grant.token_id,
        })
    }

    /// What a token's verified signature and claims say, remembered for `ttl`.
    fn signature(&self, token: &str, fingerprint: &[u8]) -> Option<tokens::VerifiedToken> {
        if let Ok(verified) = self.verified.read()
            && let Some((claims, at)) = verified.get(fingerprint)
            && at.elapsed() < self.ttl
        {
            return Some(*claims);
        }
        let claims = tokens::verify(&self.signing_key, token).ok()?;
        if let Ok(mut verified) = self.verified.write() {
            if verified.len() >= MAX_VERIFIED {
                verified.retain(|_, (_, at)| at.elapsed() < self.ttl);
                if verified.len() >= MAX_VERIFIED {
                    verified.clear();
                }
            }
            verified.insert(fingerprint.to_vec(), (claims, Instant::now()));
        }
        Some(claims)
    }

    async fn grant(&self, token_id: Uuid) -> Result<Option<control::TokenGrant>, ApiError> {
        if let Ok(cache) = self.cache.read()
            && let Some(cached) = cache.get(&token_id)
            && cached.fetched.elapsed() < self.ttl
        {
            metrics::counter!("roster_token_cache_lookups_total", "kind" => "scim", "result" => "hit")
                .increment(1);
            return Ok(Some(cached.grant.clone()));
        }
        metrics::counter!("roster_token_cache_lookups_total", "kind" => "scim", "result" => "miss")
            .increment(1);
        let grant = roster_store::run_read(&self.pool, move |conn| {
            control::find_grant(conn, token_id).map_err(ApiError::from)
        })
        .await?;
        if let (Some(grant), Ok(mut cache)) = (&grant, self.cache.write()) {
            cache.insert(token_id, Cached { grant: grant.clone(), fetched: Instant::now() });
        }
        Ok(grant)
    }
}

/// Middleware: authenticate the request for the `{directory}` in its path.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let verifier = req
        .app_data::<web::Data<TokenVerifier>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no token verifier configured")))?;
    let directory = req.match_info().get("directory").unwrap_or_default().to_string();
    let token = bearer_token(req.request()).unwrap_or_default().to_string();
    let principal = verifier.verify(&directory, &token).await?;
    tracing::Span::current()
        .record("directory.id", tracing::field::display(principal.directory_id));
    req.extensions_mut().insert(principal);
    next.call(req).await
}

/// The token of an `Authorization: Bearer …` header, the scheme matched case-insensitively
/// (RFC 7235 §2.1). The one parser of the SCIM and the admin API.
pub(crate) fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Principal, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Principal>().copied().ok_or_else(|| {
            ApiError::Scim(ScimError::unauthorized("invalid or missing bearer token"))
        }))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::AUTHORIZATION;
    use actix_web::test::TestRequest;

    use super::bearer_token;

    fn token_of(value: &str) -> Option<String> {
        let req = TestRequest::default().insert_header((AUTHORIZATION, value)).to_http_request();
        bearer_token(&req).map(str::to_string)
    }

    #[test]
    fn the_scheme_is_matched_in_any_case() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR  abc "] {
            assert_eq!(token_of(value).as_deref(), Some("abc"), "{value:?}");
        }
        assert_eq!(token_of("Basic abc"), None);
        assert_eq!(token_of("Bearer"), None);
        assert_eq!(bearer_token(&TestRequest::default().to_http_request()), None);
    }
}
