//! The role-mapper: after the projector has applied a batch of changes, it recomputes the
//! product view (product roles, teams, identity fields) of every affected user and group,
//! compares it with the last one notified, appends notifications to the outbox with a gap-free
//! per-directory sequence, and relays the outbox to `roster.notifications.v1`.

pub mod diff;
pub mod reconcile;
pub mod relay;
pub mod startup;

pub use roster_platform::consumer::ConsumerError as RoleMapperError;
pub use startup::Application;
