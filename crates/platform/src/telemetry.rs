//! One telemetry setup for every service: `tracing` to stdout, pretty or JSON.

use tracing_subscriber::EnvFilter;

use crate::settings::TelemetrySettings;

/// Install the global subscriber. `RUST_LOG`, when set, overrides `settings.filter`.
/// Returns false if a subscriber was already installed (tests boot several services).
pub fn init(settings: &TelemetrySettings) -> bool {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(true);
    if settings.format == "json" {
        builder.json().flatten_event(true).try_init().is_ok()
    } else {
        builder.try_init().is_ok()
    }
}
