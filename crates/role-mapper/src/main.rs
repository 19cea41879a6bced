//! `roster-role-mapper`: telemetry, settings, then the service until SIGTERM/Ctrl-C.

use anyhow::Context;
use roster_platform::{Settings, Shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("loading settings")?;
    telemetry::init(&settings.telemetry);
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let app = roster_role_mapper::Application::build(settings)
        .await
        .context("starting the role-mapper")?;
    app.run_until_stopped(shutdown).await.context("reconciling the change log")?;
    Ok(())
}
