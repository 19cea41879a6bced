//! Signing keys with ids, so that a key can be rotated without invalidating what it signed.
//!
//! Every token Roster signs (SCIM secret tokens with `auth.signing_key`; admin tokens, console
//! sessions and portal links with `auth.admin_signing_key`) is an HS256 JWT whose header names
//! the key in `kid`. Verification takes the key that `kid` names: the current one, or an older
//! one still listed (`auth.verification_keys`, `auth.admin_verification_keys`). Rotation is
//! then: add a new key as the current one and list the old one for verification (tokens issued
//! before keep working, new ones are signed with the new key); reissue what must outlive the old
//! key; retire it by removing it from the list, which refuses every token it signed. A token
//! without `kid` (signed before keys had ids) is tried against every listed key.
//!
//! The algorithm is always HS256, whatever a token's header says.

use std::collections::BTreeMap;

use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A current signing key and the older keys still accepted, by id.
#[derive(Clone)]
pub struct Keys {
    current_id: String,
    /// Every key accepted, the current one included.
    keys: BTreeMap<String, SecretString>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("current_id", &self.current_id)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keys {
    /// Sign with `current` (id `current_id`); also accept `older` keys, by id.
    pub fn new(
        current_id: &str,
        current: SecretString,
        older: impl IntoIterator<Item = (String, SecretString)>,
    ) -> Keys {
        let mut keys: BTreeMap<String, SecretString> = older.into_iter().collect();
        keys.insert(current_id.to_string(), current);
        Keys { current_id: current_id.to_string(), keys }
    }

    /// One key, with id `1` (tests, and what a single configured key is).
    pub fn single(key: SecretString) -> Keys {
        Keys::new("1", key, [])
    }

    /// The id new tokens carry in `kid`.
    pub fn current_id(&self) -> &str {
        &self.current_id
    }

    /// The ids of every key accepted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Sign `claims` with the current key, its id in the header.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, Error> {
        let key = self
            .keys
            .get(&self.current_id)
            .ok_or_else(|| Error::from(ErrorKind::InvalidKeyFormat))?;
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current_id.clone());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_secret(key.expose_secret().as_bytes()),
        )
    }

    /// Verify `token` (HS256 only, and `validation`'s claims) with the key its `kid` names, or
    /// with any key when it names none; a `kid` not listed is refused.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        validation: &Validation,
    ) -> Result<T, Error> {
        let header = jsonwebtoken::decode_header(token)?;
        let mut validation = validation.clone();
        validation.algorithms = vec![Algorithm::HS256];
        let candidates: Vec<&SecretString> = match header.kid.as_deref() {
            Some(kid) => {
                vec![self.keys.get(kid).ok_or_else(|| Error::from(ErrorKind::InvalidSignature))?]
            }
            None => self.keys.values().collect(),
        };
        let mut last = Error::from(ErrorKind::InvalidSignature);
        for key in candidates {
            let key = DecodingKey::from_secret(key.expose_secret().as_bytes());
            match jsonwebtoken::decode::<T>(token, &key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(error) => last = error,
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Claims {
        sub: String,
        exp: i64,
    }

    fn key(k: &str) -> SecretString {
        SecretString::from(k.repeat(40))
    }

    fn claims() -> Claims {
        Claims { sub: "x".into(), exp: 4_000_000_000 }
    }

    #[test]
    fn a_key_rotates_without_refusing_what_the_old_one_signed_until_it_is_retired() {
        let old = Keys::new("2025", key("a"), []);
        let token = old.sign(&claims()).unwrap();
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(), Some("2025"));
        let validation = Validation::new(Algorithm::HS256);
        // The new key signs; the old one still verifies.
        let rotated = Keys::new("2026", key("b"), [("2025".to_string(), key("a"))]);
        assert_eq!(rotated.verify::<Claims>(&token, &validation).unwrap(), claims());
        let new = rotated.sign(&claims()).unwrap();
        assert_eq!(jsonwebtoken::decode_header(&new).unwrap().kid.as_deref(), Some("2026"));
        assert!(old.verify::<Claims>(&new, &validation).is_err(), "the old set does not know 2026");
        // Retired: refused.
        let retired = Keys::new("2026", key("b"), []);
        assert!(retired.verify::<Claims>(&token, &validation).is_err());
        assert!(retired.verify::<Claims>(&new, &validation).is_ok());
    }

    #[test]
    fn a_token_without_a_kid_is_tried_against_every_key_and_a_forged_kid_is_refused() {
        let validation = Validation::new(Algorithm::HS256);
        let legacy = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(key("a").expose_secret().as_bytes()),
        )
        .unwrap();
        let keys = Keys::new("2026", key("b"), [("1".to_string(), key("a"))]);
        assert!(keys.verify::<Claims>(&legacy, &validation).is_ok());
        assert!(Keys::single(key("c")).verify::<Claims>(&legacy, &validation).is_err());
        // A kid naming another key than the one that signed: refused.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("2026".into());
        let forged = jsonwebtoken::encode(
            &header,
            &claims(),
            &EncodingKey::from_secret(key("a").expose_secret().as_bytes()),
        )
        .unwrap();
        assert!(keys.verify::<Claims>(&forged, &validation).is_err());
        let mut unknown = Header::new(Algorithm::HS256);
        unknown.kid = Some("nope".into());
        let token = jsonwebtoken::encode(
            &unknown,
            &claims(),
            &EncodingKey::from_secret(key("b").expose_secret().as_bytes()),
        )
        .unwrap();
        assert!(keys.verify::<Claims>(&token, &validation).is_err());
    }
}
