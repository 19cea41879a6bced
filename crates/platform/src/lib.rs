//! What every Roster service shares: [`settings`], [`telemetry`], [`prometheus`] metrics, [`kafka`] clients, the
//! change-log [`consumer`] loop that keeps its offsets in Postgres, the consumers' [`health`]
//! endpoints, and [`shutdown`].

pub mod admin_tokens;
pub mod consumer;
mod consumer_error;
pub mod health;
pub mod kafka;
pub mod keys;
pub mod prometheus;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod tokens;

pub use settings::Settings;
pub use shutdown::Shutdown;
