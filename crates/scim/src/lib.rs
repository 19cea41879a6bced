//! SCIM 2.0 as Microsoft Entra ID and other clients speak it. Pure: no I/O, no framework.
//!
//! - [`error`]: RFC 7644 errors with `scimType`.
//! - [`user`]: the User resource: validation of request bodies and the canonical stored form.
//! - [`group`]: the Group resource, its members apart, and group PATCH (membership changes).
//! - [`patch`]: PATCH requests with every Entra dialect normalised, and their application.
//! - [`filter`]: the RFC 7644 §3.4.2.2 filter grammar and an in-memory evaluator.
//! - [`select`]: `attributes` / `excludedAttributes`.
//! - [`discovery`]: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`.
//! - [`list`]: the `ListResponse` envelope.
//! - [`limits`]: what one request may hold (characters, sizes, counts), checked before publishing.

pub mod discovery;
pub mod error;
pub mod etag;
pub mod filter;
pub mod group;
pub mod limits;
pub mod list;
pub mod patch;
mod schema;
pub mod select;
pub mod user;

pub use error::{ScimError, ScimType};
pub use limits::Limits;
