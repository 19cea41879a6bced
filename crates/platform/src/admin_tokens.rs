//! Admin API tokens: HS256 JWTs signed with `auth.admin_signing_key` (a key of their own, so a
//! SCIM secret token can never pass as an admin token). The algorithm and key come from the
//! settings, never from the token's header.
//!
//! Two scopes: `operator` sees every tenant; `tenant` sees only the tenant named in `tenant`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
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
    iss: String,
    aud: String,
    iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminTokenError {
    #[error("the token is not a valid Roster admin token")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the token's scope is not `operator`, or `tenant` with a tenant id")]
    BadScope,
}

/// A verified admin token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPrincipal {
    pub subject: String,
    pub scope: AdminScope,
}

/// Sign an admin token. `expires_at` in seconds since the epoch, if it should expire.
pub fn issue(
    key: &SecretString,
    subject: &str,
    scope: AdminScope,
    issued_at: i64,
    expires_at: Option<i64>,
) -> Result<SecretString, AdminTokenError> {
    let (scope, tenant) = match scope {
        AdminScope::Operator => ("operator", None),
        AdminScope::Tenant(id) => ("tenant", Some(id.to_string())),
    };
    let claims = AdminClaims {
        sub: subject.to_string(),
        scope: scope.to_string(),
        tenant,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: issued_at,
        exp: expires_at,
    };
    let key = EncodingKey::from_secret(key.expose_secret().as_bytes());
    Ok(SecretString::from(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)?))
}

/// Verify signature (HS256 only), issuer, audience, expiry if any, and the scope.
pub fn verify(key: &SecretString, token: &str) -> Result<AdminPrincipal, AdminTokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["sub", "iss", "aud"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let key = DecodingKey::from_secret(key.expose_secret().as_bytes());
    let claims = jsonwebtoken::decode::<AdminClaims>(token, &key, &validation)?.claims;
    let scope = match (claims.scope.as_str(), claims.tenant.as_deref().map(Uuid::parse_str)) {
        ("operator", None) => AdminScope::Operator,
        ("tenant", Some(Ok(id))) => AdminScope::Tenant(id),
        _ => return Err(AdminTokenError::BadScope),
    };
    Ok(AdminPrincipal { subject: claims.sub, scope })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(k: &str) -> SecretString {
        SecretString::from(k.repeat(40))
    }

    #[test]
    fn scopes_round_trip() {
        let tenant = Uuid::new_v4();
        for scope in [AdminScope::Operator, AdminScope::Tenant(tenant)] {
            let token = issue(&key("a"), "ops", scope, 1_700_000_000, None).unwrap();
            let principal = verify(&key("a"), token.expose_secret()).unwrap();
            assert_eq!(principal, AdminPrincipal { subject: "ops".into(), scope });
        }
        assert!(AdminScope::Tenant(tenant).allows(tenant));
        assert!(!AdminScope::Tenant(tenant).allows(Uuid::new_v4()));
        assert!(AdminScope::Operator.allows(tenant));
    }

    #[test]
    fn other_keys_expired_tokens_and_scim_tokens_are_refused() {
        let token = issue(&key("a"), "ops", AdminScope::Operator, 1_700_000_000, None).unwrap();
        assert!(verify(&key("b"), token.expose_secret()).is_err());
        let expired = issue(&key("a"), "ops", AdminScope::Operator, 1, Some(2)).unwrap();
        assert!(verify(&key("a"), expired.expose_secret()).is_err());
        // A SCIM secret token signed with the same key still has the wrong audience.
        let scim =
            crate::tokens::issue(&key("a"), Uuid::new_v4(), Uuid::new_v4(), 1, None).unwrap();
        assert!(verify(&key("a"), scim.expose_secret()).is_err());
    }
}
