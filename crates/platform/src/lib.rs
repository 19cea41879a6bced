//! What every Roster service shares: [`settings`], [`telemetry`], [`kafka`] clients and
//! [`shutdown`].

pub mod kafka;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod tokens;

pub use settings::Settings;
pub use shutdown::Shutdown;
