//! Building and running the gateway: `Application::build(settings)` then
//! `run_until_stopped(shutdown)`.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use roster_platform::{Settings, Shutdown, kafka};
use tracing::Instrument;
use utoipa_actix_web::AppExt;

use crate::admin::auth::AdminVerifier;
use crate::auth::TokenVerifier;
use crate::hub::OutcomeHub;
use crate::in_flight::InFlight;
use crate::lag::PipelineLag;
use crate::publish::Publisher;
use crate::routes;
use crate::state::AppState;

pub struct Application {
    port: u16,
    metrics_port: u16,
    metrics: Server,
    base_url: String,
    server: Server,
    hub: OutcomeHub,
    request_log: web::Data<crate::request_log::RequestLog>,
}

impl Application {
    /// Connect to Postgres and Kafka, ensure the change topic exists, bind the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let statement_timeout = (settings.gateway.statement_timeout_ms > 0)
            .then(|| Duration::from_millis(settings.gateway.statement_timeout_ms));
        let pool = roster_store::connect_with(
            &settings.database.url,
            settings.database.pool_size,
            roster_store::PoolOptions { statement_timeout },
        )?;
        // Point lookups run on each worker's own async connections, sharing the budget.
        let lookups = roster_store::lookup::LookupConnector::new(
            &settings.database.url,
            roster_store::PoolOptions { statement_timeout },
        )?;
        let workers = match settings.gateway.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let lookups_per_worker =
            (settings.database.lookup_pool_size as usize).div_ceil(workers).max(1);
        // In the background: the broker may be down at start, and writes answer 503 until it
        // is back; reads need no broker.
        let kafka_settings = settings.kafka.clone();
        tokio::spawn(async move {
            let topic = &kafka_settings.changes_topic;
            if let Err(error) =
                kafka::ensure_topic(&kafka_settings, topic, kafka_settings.partitions).await
            {
                tracing::warn!(%error, "could not ensure the change topic exists");
            }
        });
        let publisher = Publisher::new(&settings.kafka)?;

        let token_ttl = Duration::from_millis(settings.auth.token_cache_ttl_ms);
        let verifier =
            Arc::new(TokenVerifier::new(settings.auth.scim_keys(), pool.clone(), token_ttl));
        let admin_verifier =
            Arc::new(AdminVerifier::new(settings.auth.admin_keys(), pool.clone(), token_ttl));
        // Revoked token ids (SCIM and admin tokens share the channel: ids are unique).
        let (evicting, evicting_admin) = (verifier.clone(), admin_verifier.clone());
        let hub = OutcomeHub::start(
            settings.database.url.clone(),
            Arc::new(move |token_id| {
                evicting.evict(token_id);
                evicting_admin.evict(token_id);
            }),
        );

        let listener = TcpListener::bind((settings.gateway.host.as_str(), settings.gateway.port))?;
        let metrics_listener =
            TcpListener::bind((settings.gateway.host.as_str(), settings.gateway.metrics_port))?;
        let metrics_port = metrics_listener.local_addr()?.port();
        roster_platform::prometheus::spawn_upkeep();
        let metrics = HttpServer::new(|| {
            App::new().route(
                "/metrics",
                web::get().to(|| async { roster_platform::health::metrics_text() }),
            )
        })
        .listen(metrics_listener)?
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .run();
        let port = listener.local_addr()?.port();
        let base_url = settings.gateway.base_url(port);

        let lag = web::Data::new(PipelineLag::new(&settings, pool.clone())?);
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            publisher,
            hub: hub.clone(),
            base_url: base_url.clone(),
            outcome_timeout: Duration::from_millis(settings.gateway.outcome_timeout_ms),
            max_body_bytes: settings.gateway.max_body_bytes,
            max_page_size: settings.gateway.max_page_size,
            filter_limits: roster_scim::filter::ParseLimits {
                max_len: settings.gateway.max_filter_len,
                max_depth: settings.gateway.max_filter_depth,
                max_terms: settings.limits.max_filter_terms,
            },
            limits: settings.limits.request_limits(),
            in_flight: InFlight::new(settings.gateway.max_in_flight_writes_per_directory),
            auth: settings.auth.clone(),
            scim_keys: settings.auth.scim_keys(),
            admin_keys: settings.auth.admin_keys(),
            console: settings.console.clone(),
        });
        // The provisioning log's writer has a connection of its own: sharing the requests'
        // pool, it waited behind them and, at 8,000 lookups/s, dropped entries.
        let request_log = web::Data::new(crate::request_log::RequestLog::start(
            roster_store::connect(&settings.database.url, 1)?,
            settings.gateway.provisioning_log_queue,
        ));
        crate::retention::spawn(pool.clone(), settings.retention.clone());
        let log_handle = request_log.clone();
        let verifier = web::Data::from(verifier);
        let admin_verifier = web::Data::from(admin_verifier);
        let openapi = web::Data::new(crate::admin::OpenApiJson::default());
        let server = HttpServer::new(move || {
            let (app, document) = App::new()
                .wrap(actix_web::middleware::from_fn(crate::routes::trace_request))
                // Outermost, so that routing and the request's span see the canonical path.
                .wrap(actix_web::middleware::from_fn(crate::normalize::normalize_scim_path))
                .app_data(state.clone())
                // Made here, on the worker that uses them.
                .app_data(web::Data::new(crate::state::Lookups(lookups.pool(lookups_per_worker))))
                .app_data(lag.clone())
                .app_data(verifier.clone())
                .app_data(admin_verifier.clone())
                .app_data(openapi.clone())
                .app_data(request_log.clone())
                .app_data(web::QueryConfig::default().error_handler(|error, _| {
                    crate::error::ApiError::Scim(roster_scim::ScimError::invalid_value(format!(
                        "bad query string: {error}"
                    )))
                    .into()
                }))
                .into_utoipa_app()
                .openapi(crate::admin::base_document())
                .service(crate::admin::scope())
                .split_for_parts();
            openapi.0.get_or_init(|| document.to_pretty_json().unwrap_or_default());
            // The console before the SCIM routes, whose default service answers everything else.
            app.service(crate::console::scope()).configure(routes::configure)
        })
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(10)
        .workers(workers);
        tracing::info!(%base_url, "gateway listening");
        Ok(Application {
            port,
            metrics_port,
            metrics,
            base_url,
            server: server.run(),
            hub,
            request_log: log_handle,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where `/metrics` is served.
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// The public base URL (Tenant URLs are `{base_url}/scim/v2/{directory}`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Serve until `shutdown` is triggered, then drain in-flight requests and stop.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> std::io::Result<()> {
        let handle = self.server.handle();
        let metrics_handle = self.metrics.handle();
        tokio::spawn(self.metrics);
        tokio::spawn(
            async move {
                shutdown.wait().await;
                handle.stop(true).await;
                metrics_handle.stop(true).await;
            }
            .in_current_span(),
        );
        let result = self.server.await;
        self.request_log.flush_and_stop().await;
        let hub = self.hub;
        // Joining the hub's thread blocks; do it off the async runtime.
        let _ = tokio::task::spawn_blocking(move || hub.stop()).await;
        result
    }
}
