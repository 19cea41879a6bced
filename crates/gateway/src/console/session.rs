//! Console sessions: a signed cookie (HS256 with `auth.admin_signing_key`, audience
//! `roster-console`) holding who is signed in, a CSRF secret and the expiry.
//!
//! Who is either an admin token, by its id only (the token itself is never kept; its row is
//! checked on every request, so revoking the token ends its sessions), or a portal grant (one
//! directory, until the link's expiry). The cookie is `HttpOnly; SameSite=Strict;
//! Path=/console`, and `Secure` when the public URL is https.

use actix_web::HttpRequest;
use actix_web::http::header;
use jsonwebtoken::{Algorithm, Validation};
use roster_platform::keys::Keys;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::control::portal::PortalGrant;

/// The cookie's name.
pub const COOKIE: &str = "roster_console";
/// The cookie is sent only to the console.
pub const COOKIE_PATH: &str = "/console";
const ISSUER: &str = "roster";
/// The audience of a session token: nothing else (an admin token, a portal link) passes for one.
pub const AUDIENCE: &str = "roster-console";

/// Who a session is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// An admin signed in with an admin token: the token's id.
    Admin { token_id: Uuid },
    /// A visitor who opened a portal link: one directory.
    Portal(PortalGrant),
}

/// A console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub holder: Holder,
    /// The secret every form (a hidden field) and htmx request (`X-CSRF-Token`) carries.
    pub csrf: String,
    /// Seconds since the epoch.
    pub expires_at: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// `admin:<admin token id>` or `portal:<portal link id>`.
    sub: String,
    /// A portal session's directory and tenant, and its link's own expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    directory: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link_exp: Option<i64>,
    csrf: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// A new random CSRF secret: 244 random bits, as 64 hex digits.
fn new_csrf() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

impl Session {
    /// A new session with a fresh CSRF secret.
    pub fn new(holder: Holder, expires_at: i64) -> Session {
        Session { holder, csrf: new_csrf(), expires_at }
    }

    /// The cookie value: the session signed with `key`.
    pub fn encode(&self, keys: &Keys) -> Result<String, jsonwebtoken::errors::Error> {
        let (sub, directory, tenant, link_exp) = match &self.holder {
            Holder::Admin { token_id } => (format!("admin:{token_id}"), None, None, None),
            Holder::Portal(grant) => (
                format!("portal:{}", grant.link_id),
                Some(grant.directory_id),
                Some(grant.tenant_id),
                Some(grant.expires_at),
            ),
        };
        let claims = Claims {
            sub,
            directory,
            tenant,
            link_exp,
            csrf: self.csrf.clone(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: chrono::Utc::now().timestamp(),
            exp: self.expires_at,
        };
        keys.sign(&claims)
    }

    /// The session a cookie value holds, if `key` signed it (HS256 only), for this audience,
    /// and it has not expired.
    pub fn decode(keys: &Keys, value: &str) -> Option<Session> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["sub", "iss", "aud", "exp"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 0;
        let claims: Claims = keys.verify(value, &validation).ok()?;
        if claims.csrf.len() < 32 {
            return None;
        }
        let holder = match claims.sub.split_once(':')? {
            ("admin", id) => Holder::Admin { token_id: Uuid::parse_str(id).ok()? },
            ("portal", id) => {
                let grant = PortalGrant {
                    link_id: Uuid::parse_str(id).ok()?,
                    directory_id: claims.directory?,
                    tenant_id: claims.tenant?,
                    expires_at: claims.link_exp?,
                };
                // A portal session never outlives its link.
                if claims.exp > grant.expires_at {
                    return None;
                }
                Holder::Portal(grant)
            }
            _ => return None,
        };
        Some(Session { holder, csrf: claims.csrf, expires_at: claims.exp })
    }

    /// Whether `token` is this session's CSRF secret (compared in constant time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        constant_time_eq(self.csrf.as_bytes(), token.trim().as_bytes())
    }

    /// The `Set-Cookie` value that stores this session (`value`, from [`Session::encode`]): a
    /// browser-session cookie, gone when the browser closes; the expiry inside it is what ends
    /// the session (the console then says it has ended).
    pub fn cookie(&self, value: &str, secure: bool) -> String {
        cookie(value, None, secure)
    }
}

/// The `Set-Cookie` value that ends a session.
pub fn clear_cookie(secure: bool) -> String {
    cookie("", Some(0), secure)
}

fn cookie(value: &str, max_age: Option<i64>, secure: bool) -> String {
    let max_age = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path={COOKIE_PATH}{max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// The session cookie's value in a request, if it has one.
pub fn cookie_value(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

/// Equality that takes as long whatever the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use base64::Engine;

    use jsonwebtoken::{EncodingKey, Header};
    use secrecy::SecretString;

    use super::*;

    fn key(text: &str) -> Keys {
        Keys::single(SecretString::from(text.to_string()))
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn admin(expires_in: i64) -> Session {
        Session::new(Holder::Admin { token_id: Uuid::new_v4() }, now() + expires_in)
    }

    fn portal(link_expires_in: i64, session_expires_in: i64) -> Session {
        let grant = PortalGrant {
            link_id: Uuid::new_v4(),
            directory_id: Uuid::new_v4(),
            tenant_id: Uuid::new_v4(),
            expires_at: now() + link_expires_in,
        };
        Session::new(Holder::Portal(grant), now() + session_expires_in)
    }

    fn encoded(session: &Session, with: &str) -> String {
        session.encode(&key(with)).unwrap_or_default()
    }

    #[test]
    fn sessions_round_trip() {
        for session in [admin(3600), portal(600, 600), portal(600, 300)] {
            let value = encoded(&session, "k");
            assert_eq!(Session::decode(&key("k"), &value), Some(session));
        }
    }

    #[test]
    fn every_session_has_its_own_csrf_secret() {
        let (a, b) = (admin(60), admin(60));
        assert_ne!(a.csrf, b.csrf);
        assert_eq!(a.csrf.len(), 64);
    }

    #[test]
    fn a_session_signed_with_another_key_is_refused() {
        let value = encoded(&admin(3600), "one key");
        assert_eq!(Session::decode(&key("another key"), &value), None);
    }

    #[test]
    fn an_expired_session_is_refused() {
        let value = encoded(&admin(-1), "k");
        assert_eq!(Session::decode(&key("k"), &value), None);
    }

    #[test]
    fn a_portal_session_never_outlives_its_link() {
        let value = encoded(&portal(60, 3600), "k");
        assert_eq!(Session::decode(&key("k"), &value), None);
        let value = encoded(&portal(-1, -1), "k");
        assert_eq!(Session::decode(&key("k"), &value), None);
    }

    /// A token signed with the right key but for another audience: an admin token or a portal
    /// link does not pass for a session.
    #[test]
    fn a_token_of_another_audience_is_refused() {
        let session = admin(3600);
        for audience in ["roster-portal", "roster-admin", ""] {
            let claims = serde_json::json!({
                "sub": "admin:6f1c1a52-6a52-4b4c-9d1e-0a0b0c0d0e0f",
                "csrf": session.csrf,
                "iss": "roster",
                "aud": audience,
                "iat": now(),
                "exp": now() + 3600,
            });
            let value = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(b"k"),
            )
            .unwrap_or_default();
            assert_eq!(Session::decode(&key("k"), &value), None, "{audience:?}");
        }
        // A real portal link (audience roster-portal), signed with the same key.
        let grant = PortalGrant {
            link_id: Uuid::new_v4(),
            directory_id: Uuid::new_v4(),
            tenant_id: Uuid::new_v4(),
            expires_at: now() + 600,
        };
        let link = crate::control::portal::sign(&key("k"), &grant).unwrap_or_default();
        assert_eq!(Session::decode(&key("k"), &link), None);
    }

    #[test]
    fn a_tampered_session_is_refused() {
        let session = admin(3600);
        let value = encoded(&session, "k");
        let parts: Vec<&str> = value.split('.').collect();
        assert_eq!(parts.len(), 3);
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        // Another admin token's id in the payload, the signature kept.
        let payload = String::from_utf8(engine.decode(parts[1]).unwrap_or_default())
            .unwrap_or_default()
            .replace(&session_token_id(&session), "00000000-0000-4000-8000-000000000000");
        let forged = format!("{}.{}.{}", parts[0], engine.encode(payload), parts[2]);
        assert_eq!(Session::decode(&key("k"), &forged), None);
        // `alg: none`, no signature.
        let none = engine.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(Session::decode(&key("k"), &format!("{none}.{}.", parts[1])), None);
        // A flipped signature byte.
        let mut signature = engine.decode(parts[2]).unwrap_or_default();
        signature[0] ^= 1;
        let flipped = format!("{}.{}.{}", parts[0], parts[1], engine.encode(signature));
        assert_eq!(Session::decode(&key("k"), &flipped), None);
        assert_eq!(Session::decode(&key("k"), "not a token"), None);
        assert_eq!(Session::decode(&key("k"), ""), None);
    }

    fn session_token_id(session: &Session) -> String {
        match &session.holder {
            Holder::Admin { token_id } => token_id.to_string(),
            Holder::Portal(grant) => grant.link_id.to_string(),
        }
    }

    #[test]
    fn the_csrf_check_wants_the_sessions_own_secret() {
        let session = admin(60);
        assert!(session.csrf_matches(&session.csrf));
        assert!(!session.csrf_matches(&admin(60).csrf));
        assert!(!session.csrf_matches(""));
        assert!(!session.csrf_matches(&session.csrf[..63]));
        let mut wrong = session.csrf.clone();
        wrong.replace_range(63.., if session.csrf.ends_with('0') { "1" } else { "0" });
        assert!(!session.csrf_matches(&wrong));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_scoped_to_the_console() {
        let session = admin(3600);
        let cookie = session.cookie("v", false);
        assert_eq!(cookie, "roster_console=v; Path=/console; HttpOnly; SameSite=Strict");
        assert!(!cookie.contains("Secure"), "{cookie}");
        assert!(session.cookie("v", true).ends_with("; Secure"));
        assert_eq!(
            clear_cookie(false),
            "roster_console=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let req = TestRequest::default()
            .insert_header((header::COOKIE, "a=1; roster_console=abc.def.ghi; b=2"))
            .to_http_request();
        assert_eq!(cookie_value(&req).as_deref(), Some("abc.def.ghi"));
        let req = TestRequest::default()
            .insert_header((header::COOKIE, "roster_console_x=1; roster_console="))
            .to_http_request();
        assert_eq!(cookie_value(&req), None);
    }
}
