//! Admin API tokens: HS256 JWTs signed with `auth.admin_signing_key` (a key of their own, so a
//! SCIM secret token can never pass as an admin token). The algorithm and key come from the
//! settings, never from the token's header.
//!
//! Two scopes: `operator` sees every tenant; `tenant` sees only the tenant named in `tenant`.
//! Every token has an id (`jti`), a row of `admin_tokens` that can revoke it, and an expiry:
//! [`verify`] checks the signature and claims, and the caller checks the row
//! ([`roster_store::admin_tokens`]).

use jsonwebtoken::{Algorithm, Validation};
use secrecy::SecretString;

use crate::keys::Keys;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const ISSUER: &str = "roster";
const AUDIENCE: &str = "roster-admin";

/// Who an admin token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminScope {
    /// Every tenant.
    Operator,
    /// One tenant.
    Tenant(Uuid),
}

impl AdminScope {
    /// Whether this scope may see and change `tenant_id`'s directories.
    pub fn allows(&self, tenant_id: Uuid) -> bool {
        match self {
            AdminScope::Operator => true,
            AdminScope::Tenant(own) => *own == tenant_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AdminClaims {
    /// Who the token was issued to (a person or a system), for the logs.
    sub: String,
    /// `operator` or `tenant`.
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    /// The token's id: its row in `admin_tokens`.
    jti: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminTokenError {
    #[error("the token is not a valid Roster admin token")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the token's scope is not `operator`, or `tenant` with a tenant id")]
    BadScope,
    #[error("the token has no valid id")]
    BadId,
}

/// A verified admin token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPrincipal {
    pub token_id: Uuid,
    pub subject: String,
    pub scope: AdminScope,
}

/// Sign an admin token with id `token_id`. Times in seconds since the epoch.
pub fn issue(
    keys: &Keys,
    token_id: Uuid,
    subject: &str,
    scope: AdminScope,
    issued_at: i64,
    expires_at: i64,
) -> Result<SecretString, AdminTokenError> {
    let (scope, tenant) = match scope {
        AdminScope::Operator => ("operator", None),
        AdminScope::Tenant(id) => ("tenant", Some(id.to_string())),
    };
    let claims = AdminClaims {
        sub: subject.to_string(),
        scope: scope.to_string(),
        tenant,
        jti: token_id.to_string(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: issued_at,
        exp: expires_at,
    };
    Ok(SecretString::from(keys.sign(&claims)?))
}

/// Verify signature (HS256 only), issuer, audience, expiry, id and scope.
pub fn verify(keys: &Keys, token: &str) -> Result<AdminPrincipal, AdminTokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["sub", "iss", "aud", "exp", "jti"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let claims: AdminClaims = keys.verify(token, &validation)?;
    let scope = match (claims.scope.as_str(), claims.tenant.as_deref().map(Uuid::parse_str)) {
        ("operator", None) => AdminScope::Operator,
        ("tenant", Some(Ok(id))) => AdminScope::Tenant(id),
        _ => return Err(AdminTokenError::BadScope),
    };
    let token_id = Uuid::parse_str(&claims.jti).map_err(|_| AdminTokenError::BadId)?;
    Ok(AdminPrincipal { token_id, subject: claims.sub, scope })
}

/// Why a token could not be issued and stored.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Token(#[from] AdminTokenError),
    #[error("could not store the token: {0}")]
    Store(#[from] diesel::result::Error),
}

/// Issue an admin token and record it. Returns the row and the token, shown once.
pub fn issue_stored(
    conn: &mut roster_store::PgConnection,
    keys: &Keys,
    subject: &str,
    scope: AdminScope,
    created_by: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> Result<(roster_store::admin_tokens::AdminTokenRow, SecretString), IssueError> {
    let now = chrono::Utc::now();
    let id = Uuid::new_v4();
    let token = issue(keys, id, subject, scope, now.timestamp(), expires_at.timestamp())?;
    let (scope_name, tenant_id) = match scope {
        AdminScope::Operator => ("operator", None),
        AdminScope::Tenant(tenant) => ("tenant", Some(tenant)),
    };
    let row = roster_store::admin_tokens::AdminTokenRow {
        id,
        subject: subject.to_string(),
        scope: scope_name.to_string(),
        tenant_id,
        created_by: created_by.to_string(),
        created_at: now,
        expires_at,
        revoked_at: None,
    };
    roster_store::admin_tokens::insert(conn, &row)?;
    Ok((row, token))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use secrecy::ExposeSecret;

    use super::*;

    fn key(k: &str) -> Keys {
        Keys::single(SecretString::from(k.repeat(40)))
    }

    const FAR: i64 = 4_000_000_000;

    #[test]
    fn scopes_round_trip() {
        let tenant = Uuid::new_v4();
        for scope in [AdminScope::Operator, AdminScope::Tenant(tenant)] {
            let id = Uuid::new_v4();
            let token = issue(&key("a"), id, "ops", scope, 1_700_000_000, FAR).unwrap();
            let principal = verify(&key("a"), token.expose_secret()).unwrap();
            assert_eq!(principal, AdminPrincipal { token_id: id, subject: "ops".into(), scope });
        }
        assert!(AdminScope::Tenant(tenant).allows(tenant));
        assert!(!AdminScope::Tenant(tenant).allows(Uuid::new_v4()));
        assert!(AdminScope::Operator.allows(tenant));
    }

    #[test]
    fn other_keys_expired_tokens_and_scim_tokens_are_refused() {
        let id = Uuid::new_v4();
        let token = issue(&key("a"), id, "ops", AdminScope::Operator, 1_700_000_000, FAR).unwrap();
        assert!(verify(&key("b"), token.expose_secret()).is_err());
        let expired = issue(&key("a"), id, "ops", AdminScope::Operator, 1, 2).unwrap();
        assert!(verify(&key("a"), expired.expose_secret()).is_err());
        // A SCIM secret token signed with the same key still has the wrong audience.
        let scim =
            crate::tokens::issue(&key("a"), Uuid::new_v4(), Uuid::new_v4(), 1, None).unwrap();
        assert!(verify(&key("a"), scim.expose_secret()).is_err());
    }
}
