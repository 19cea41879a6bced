//! The projector: the single writer of the Postgres projection. It consumes the change log in
//! order and applies each partition's batch in one transaction together with the outcome of every
//! event and the consumer's offsets, then `NOTIFY`s the outcomes to the gateways waiting for
//! them. `/health/live` and `/health/ready` show whether a partition is stuck.

pub mod apply;
pub mod batch;
mod cache;
pub mod decision;
mod directory;
mod groups;
pub mod refusal;
mod rows;
pub mod startup;
mod users;

pub use roster_platform::consumer::{ConsumerError as ProjectorError, Stats};
pub use startup::Application;
