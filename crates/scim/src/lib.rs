//! SCIM 2.0 as Microsoft Entra ID and other clients speak it. Pure: no I/O, no framework.
//!
//! - [`error`]: RFC 7644 errors with `scimType`.
//! - [`user`]: the User resource: validation of request bodies and the canonical stored form.
//! - [`filter`]: the RFC 7644 §3.4.2.2 filter grammar and an in-memory evaluator.
//! - [`list`]: the `ListResponse` envelope.

pub mod error;
pub mod filter;
pub mod list;
pub mod user;

pub use error::{ScimError, ScimType};
