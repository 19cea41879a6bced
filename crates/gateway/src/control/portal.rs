//! Portal links: what a vendor gives its customer's IT admin. A link is a signed token
//! (`auth.admin_signing_key`, audience `roster-portal`) for one directory, valid for at most
//! `console.portal_link_max_minutes`; the console exchanges it for a session that sees that
//! directory's page and nothing else.

use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, Validation};
use roster_platform::keys::Keys;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Caller, bad_request, time};
use crate::error::ApiError;
use crate::state::AppState;

const ISSUER: &str = "roster";
const AUDIENCE: &str = "roster-portal";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LinkClaims {
    /// The directory the link opens.
    sub: String,
    /// Its tenant.
    tenant: String,
    /// The link's id (in the audit log).
    jti: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// What a verified portal link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalGrant {
    pub link_id: Uuid,
    pub directory_id: Uuid,
    pub tenant_id: Uuid,
    /// Seconds since the epoch.
    pub expires_at: i64,
}

impl PortalGrant {
    /// The caller a portal session acts as.
    pub fn caller(&self) -> Caller {
        Caller {
            subject: format!("portal link {}", self.link_id),
            token_id: Some(self.link_id),
            scope: super::Scope::Directory {
                tenant_id: self.tenant_id,
                directory_id: self.directory_id,
            },
        }
    }
}

/// Check a link's signature (HS256 only), audience and expiry.
pub fn verify(keys: &Keys, token: &str) -> Option<PortalGrant> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["sub", "iss", "aud", "exp", "jti"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.leeway = 0;
    let claims: LinkClaims = keys.verify(token, &validation).ok()?;
    Some(PortalGrant {
        link_id: Uuid::parse_str(&claims.jti).ok()?,
        directory_id: Uuid::parse_str(&claims.sub).ok()?,
        tenant_id: Uuid::parse_str(&claims.tenant).ok()?,
        expires_at: claims.exp,
    })
}

/// The link token of a grant, signed with `key` (the admin signing key); [`verify`] reads it back.
pub fn sign(keys: &Keys, grant: &PortalGrant) -> Result<String, ApiError> {
    let claims = LinkClaims {
        sub: grant.directory_id.to_string(),
        tenant: grant.tenant_id.to_string(),
        jti: grant.link_id.to_string(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: Utc::now().timestamp(),
        exp: grant.expires_at,
    };
    keys.sign(&claims).map_err(ApiError::internal)
}

/// `{"expiresInMinutes"?}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortalLinkInput {
    /// Default `console.portal_link_default_minutes`, at most `console.portal_link_max_minutes`.
    #[serde(default)]
    pub expires_in_minutes: Option<u32>,
}

/// A portal link: give the URL to the customer's IT admin.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalLink {
    pub id: Uuid,
    pub url: String,
    pub expires_at: String,
}

pub async fn issue(
    state: &AppState,
    caller: &Caller,
    directory: &str,
    input: PortalLinkInput,
) -> Result<PortalLink, ApiError> {
    let directory = super::directory_in_scope(state, caller, directory).await?;
    caller.require_admin("make portal links")?;
    let console = &state.console;
    let minutes = input.expires_in_minutes.unwrap_or(console.portal_link_default_minutes);
    if minutes == 0 || minutes > console.portal_link_max_minutes {
        return Err(bad_request(format!(
            "expiresInMinutes must be between 1 and {}",
            console.portal_link_max_minutes
        )));
    }
    let expires_at = Utc::now() + Duration::minutes(i64::from(minutes));
    let id = Uuid::new_v4();
    let grant = PortalGrant {
        link_id: id,
        directory_id: directory.id,
        tenant_id: directory.tenant_id,
        expires_at: expires_at.timestamp(),
    };
    let token = sign(&state.admin_keys, &grant)?;
    let mut entry = caller.audit("portal_link.created");
    entry.tenant_id = Some(directory.tenant_id);
    entry.directory_id = Some(directory.id);
    entry.target_id = Some(id.to_string());
    entry.details = serde_json::json!({ "expiresAt": time(expires_at) });
    super::record(state, entry).await?;
    Ok(PortalLink {
        id,
        url: format!("{}/console/portal?token={token}", state.base_url),
        expires_at: time(expires_at),
    })
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn grant(expires_in: i64) -> PortalGrant {
        PortalGrant {
            link_id: Uuid::new_v4(),
            directory_id: Uuid::new_v4(),
            tenant_id: Uuid::new_v4(),
            expires_at: Utc::now().timestamp() + expires_in,
        }
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires_and_only_with_its_key() {
        let key = Keys::single(SecretString::from("portal-key".repeat(4)));
        let valid = grant(600);
        let token = sign(&key, &valid).ok().unwrap_or_default();
        assert_eq!(verify(&key, &token), Some(valid));
        assert_eq!(verify(&Keys::single(SecretString::from("other-key".repeat(4))), &token), None);
        let expired = sign(&key, &grant(-5)).ok().unwrap_or_default();
        assert_eq!(verify(&key, &expired), None);
    }
}
