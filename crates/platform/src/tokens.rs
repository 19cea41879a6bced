//! SCIM secret tokens: HS256 JWTs whose `sub` is the directory and `jti` the token id.
//!
//! No `exp` unless one is asked for: Entra quarantines a provisioning job whose token expires.
//! Only the token id and the SHA-256 of the whole token are stored, so a token whose signature
//! verifies still has to be the very token that was issued and not revoked.

use jsonwebtoken::{Algorithm, Validation};
use secrecy::{ExposeSecret, SecretString};

use crate::keys::Keys;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const ISSUER: &str = "roster";
const AUDIENCE: &str = "scim";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The directory the token opens.
    pub sub: String,
    /// The token id.
    pub jti: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a valid Roster secret token")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the token names no valid directory or token id")]
    BadIds,
}

/// Identifiers a verified token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedToken {
    pub directory_id: Uuid,
    pub token_id: Uuid,
}

/// Sign a new token for `directory_id` with id `token_id`, with the current key.
pub fn issue(
    keys: &Keys,
    directory_id: Uuid,
    token_id: Uuid,
    issued_at: i64,
    expires_at: Option<i64>,
) -> Result<SecretString, TokenError> {
    let claims = Claims {
        sub: directory_id.to_string(),
        jti: token_id.to_string(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        iat: issued_at,
        exp: expires_at,
    };
    Ok(SecretString::from(keys.sign(&claims)?))
}

/// Check the signature (HS256 only, whatever the token's header claims), issuer, audience and
/// expiry if any; return the ids. Whether the token is still active is the caller's question.
pub fn verify(keys: &Keys, token: &str) -> Result<VerifiedToken, TokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["sub", "iss", "aud"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.validate_exp = true;
    let claims: Claims = keys.verify(token, &validation)?;
    let directory_id = Uuid::parse_str(&claims.sub).map_err(|_| TokenError::BadIds)?;
    let token_id = Uuid::parse_str(&claims.jti).map_err(|_| TokenError::BadIds)?;
    Ok(VerifiedToken { directory_id, token_id })
}

/// Issue a token for `directory_id` and record it (id and fingerprint only). Returns the stored
/// row and the token, which is shown once and never stored.
pub fn issue_stored(
    conn: &mut roster_store::PgConnection,
    keys: &Keys,
    directory_id: Uuid,
    description: &str,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(roster_store::control::ScimToken, SecretString), IssueError> {
    if roster_store::control::find_directory(conn, directory_id)?.is_none() {
        return Err(IssueError::NoDirectory(directory_id));
    }
    let token_id = Uuid::new_v4();
    let now = chrono::Utc::now();
    let expiry = expires_at.map(|t| t.timestamp());
    let token = issue(keys, directory_id, token_id, now.timestamp(), expiry)?;
    let row = roster_store::control::ScimToken {
        id: token_id,
        directory_id,
        token_sha256: fingerprint(token.expose_secret()),
        description: description.to_string(),
        created_at: now,
        revoked_at: None,
        expires_at,
        last_used_at: None,
    };
    roster_store::control::insert_token(conn, &row)?;
    Ok((row, token))
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("no directory {0}")]
    NoDirectory(Uuid),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("could not store the token: {0}")]
    Store(#[from] diesel::result::Error),
}

/// SHA-256 of the whole token, the only form in which a token is stored.
pub fn fingerprint(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key() -> Keys {
        Keys::single(SecretString::from("k".repeat(40)))
    }

    #[test]
    fn issued_token_verifies_and_names_its_directory() {
        let (dir, id) = (Uuid::new_v4(), Uuid::new_v4());
        let token = issue(&key(), dir, id, 1_700_000_000, None).unwrap();
        let verified = verify(&key(), token.expose_secret()).unwrap();
        assert_eq!(verified, VerifiedToken { directory_id: dir, token_id: id });
    }

    #[test]
    fn another_key_or_a_tampered_token_fails() {
        let token = issue(&key(), Uuid::new_v4(), Uuid::new_v4(), 1_700_000_000, None).unwrap();
        let other = Keys::single(SecretString::from("o".repeat(40)));
        assert!(verify(&other, token.expose_secret()).is_err());
        let mut tampered = token.expose_secret().to_string();
        tampered.push('x');
        assert!(verify(&key(), &tampered).is_err());
        assert!(verify(&key(), "not a jwt").is_err());
    }

    #[test]
    fn expired_token_fails() {
        let token = issue(&key(), Uuid::new_v4(), Uuid::new_v4(), 1_000, Some(2_000)).unwrap();
        assert!(verify(&key(), token.expose_secret()).is_err());
    }

    #[test]
    fn none_algorithm_is_refused() {
        // header {"alg":"none","typ":"JWT"} with valid-looking claims and no signature.
        let claims = format!(
            r#"{{"sub":"{}","jti":"{}","iss":"roster","aud":"scim","iat":1}}"#,
            Uuid::new_v4(),
            Uuid::new_v4()
        );
        use base64_url::encode;
        let token = format!("{}.{}.", encode(r#"{"alg":"none","typ":"JWT"}"#), encode(&claims));
        assert!(verify(&key(), &token).is_err());
    }

    /// Minimal base64url without padding, for building hostile tokens by hand.
    mod base64_url {
        pub fn encode(input: &str) -> String {
            const ALPHABET: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let bytes = input.as_bytes();
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                for i in 0..=chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        }
    }

    #[test]
    fn fingerprint_is_sha256() {
        assert_eq!(
            hex_of(&fingerprint("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
