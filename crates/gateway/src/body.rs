//! Reading a JSON request body with a size limit, whatever its Content-Type: Entra sends
//! `application/json`, RFC 7644 says `application/scim+json`, and both are accepted.

use actix_web::web;
use futures::StreamExt;
use roster_scim::{ScimError, ScimType};
use serde_json::Value;

use crate::error::ApiError;

/// Read at most `limit` bytes and parse them as JSON. Too large: 413; not JSON: 400
/// `invalidSyntax`.
pub async fn read_json(mut payload: web::Payload, limit: usize) -> Result<Value, ApiError> {
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::Scim(ScimError::bad_request(
                ScimType::InvalidSyntax,
                format!("could not read the request body: {e}"),
            ))
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::Scim(ScimError::invalid_syntax(format!(
            "the request body is not valid JSON: {e}"
        )))
    })
}

pub fn too_large(limit: usize) -> ApiError {
    ApiError::Scim(ScimError::new(
        413,
        None,
        format!("the request body is larger than {limit} bytes"),
    ))
}
