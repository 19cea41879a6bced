//! `roster-gateway`: telemetry, settings, then the service until SIGTERM/Ctrl-C.
//! `roster-gateway openapi` prints the admin API's OpenAPI document instead.

use anyhow::Context;
use roster_platform::{Settings, Shutdown, telemetry};

/// mimalloc instead of glibc's malloc: allocation was a fifth of the gateway's CPU per request
/// (docs/benchmarks.md, issue 12).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("openapi") {
        print_openapi()?;
        return Ok(());
    }
    let settings = Settings::load().context("loading settings")?;
    telemetry::init(&settings.telemetry);
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let app = roster_gateway::Application::build(settings).await.context("starting the gateway")?;
    app.run_until_stopped(shutdown).await.context("serving")?;
    Ok(())
}

#[allow(clippy::print_stdout)]
fn print_openapi() -> anyhow::Result<()> {
    println!("{}", roster_gateway::admin::openapi_document().to_pretty_json()?);
    Ok(())
}
