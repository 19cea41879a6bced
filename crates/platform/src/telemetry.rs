//! One telemetry setup for every service: `tracing` to stdout, pretty or JSON.

use tracing_subscriber::EnvFilter;

use crate::settings::TelemetrySettings;

/// Install the global subscriber. `RUST_LOG`, when set, overrides `settings.filter`.
/// Returns false if a subscriber was already installed (tests boot several services).
///
/// In JSON mode a panic is logged as one JSON line too (message, location, thread), instead of
/// the default hook's text on stderr, so log pipelines see it like every other error.
pub fn init(settings: &TelemetrySettings) -> bool {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(true);
    if settings.format == "json" {
        let installed = builder.json().flatten_event(true).try_init().is_ok();
        if installed {
            std::panic::set_hook(Box::new(log_panic));
        }
        installed
    } else {
        builder.try_init().is_ok()
    }
}

/// The panic hook of JSON mode: one ERROR event.
fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a message)".to_string());
    let location =
        info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
    let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
    tracing::error!(panic.message = %message, panic.location = %location, thread = %thread, "panic");
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_panic_is_one_json_line() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(super::log_panic));
            let result = std::panic::catch_unwind(|| panic!("boom at {}", 42));
            std::panic::set_hook(previous);
            assert!(result.is_err());
        });
        let text = String::from_utf8(buffer.0.lock().map(|b| b.clone()).unwrap_or_default())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap_or_default();
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["message"], "panic");
        assert_eq!(line["panic.message"], "boom at 42");
        assert!(line["panic.location"].as_str().is_some_and(|l| l.contains("telemetry.rs")));
    }
}
