//! Reading a JSON request body with a size limit, whatever its Content-Type: Entra sends
//! `application/json`, RFC 7644 says `application/scim+json`, and both are accepted.

use actix_web::web;
use futures::StreamExt;
use roster_scim::{ScimError, ScimType};
use serde_json::Value;

use crate::error::ApiError;

/// Read at most `limit` bytes and parse them as JSON. Too large: 413; not JSON: 400
/// `invalidSyntax`.
pub async fn read_json(payload: web::Payload, limit: usize) -> Result<Value, ApiError> {
    let bytes = read_bytes(payload, limit).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::Scim(not_json(&e)))
}

/// Read at most `limit` bytes of a body; past it 413, without reading the rest.
pub async fn read_bytes(
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
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
    Ok(bytes)
}

/// `400 invalidSyntax` for a body that is not JSON. An unpaired UTF-16 surrogate (`"\ud800"`,
/// which no Unicode text holds and Postgres could not store) gets a detail that says so:
/// serde_json's own ("unexpected end of hex escape") does not.
fn not_json(error: &serde_json::Error) -> ScimError {
    let text = error.to_string();
    let hint = if text.contains("surrogate") || text.contains("hex escape") {
        " (a \\u escape must name a Unicode character: UTF-16 surrogates \\ud800-\\udfff are \
         accepted only as a high-low pair)"
    } else {
        ""
    };
    ScimError::invalid_syntax(format!("the request body is not valid JSON: {text}{hint}"))
}

pub fn too_large(limit: usize) -> ApiError {
    ApiError::Scim(ScimError::new(
        413,
        None,
        format!("the request body is larger than {limit} bytes"),
    ))
}
