//! Layered configuration: `config/default.toml`, then `config/{ROSTER_ENV}.toml` (if present),
//! then `ROSTER__SECTION__KEY` environment variables. Validated once at start; secrets are
//! `SecretString`s that never reach a log.

use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;

use serde::Deserialize;

/// The signing key in `config/default.toml`, fit for a laptop only.
pub const DEV_SIGNING_KEY: &str = "roster-dev-signing-key-not-for-production";
/// The admin API key in `config/default.toml`, fit for a laptop only.
pub const DEV_ADMIN_SIGNING_KEY: &str = "roster-dev-admin-key-not-for-production";

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub environment: String,
    pub database: DatabaseSettings,
    pub kafka: KafkaSettings,
    pub gateway: GatewaySettings,
    pub auth: AuthSettings,
    pub console: ConsoleSettings,
    pub retention: RetentionSettings,
    pub projector: ProjectorSettings,
    pub role_mapper: RoleMapperSettings,
    pub telemetry: TelemetrySettings,
    pub limits: LimitsSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub pool_size: u32,
    /// The gateway's connections for point lookups (`GET /Users/{id}`, `filter=userName eq …`
    /// and the other indexed `eq` lookups Entra matches with), apart from `pool_size`: async
    /// connections, each HTTP worker holding `ceil(lookup_pool_size / workers)`.
    pub lookup_pool_size: u32,
}

impl DatabaseSettings {
    /// Whether the database is on this machine (a development stack, where `make reset` starts
    /// over): the URL's host is `localhost`, `127.0.0.1` or `::1`, or a Unix socket.
    pub fn is_local(&self) -> bool {
        let rest = self.url.split_once("://").map_or(self.url.as_str(), |(_, rest)| rest);
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let host = match host_port.strip_prefix('[') {
            Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
            None => host_port.split(':').next().unwrap_or_default(),
        };
        matches!(host, "" | "localhost" | "127.0.0.1" | "::1")
    }

    /// The URL with `application_name` set, so that `pg_stat_activity` tells the services
    /// apart (an `application_name` already in the URL is kept).
    pub fn url_for(&self, application_name: &str) -> String {
        if self.url.contains("application_name=") {
            return self.url.clone();
        }
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}application_name={application_name}", self.url)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct KafkaSettings {
    /// `host:port,…` of the bootstrap brokers.
    pub brokers: String,
    pub changes_topic: String,
    /// Partitions of the change topic when Roster creates it.
    pub partitions: i32,
    pub replication_factor: i32,
    /// How long the producer keeps trying to deliver an event before the request fails with 503.
    pub message_timeout_ms: u64,
    /// Consumer group of the projector.
    pub projector_group: String,
    /// Where the role-mapper publishes downstream notifications.
    pub notifications_topic: String,
    /// Consumer group of the role-mapper (on the change topic).
    pub role_mapper_group: String,
    /// Largest event the producer sends (`message.max.bytes`).
    pub max_message_bytes: usize,
    /// How long the broker may hold a consumer's fetch when there is nothing new
    /// (`fetch.wait.max.ms`). Kafka answers as soon as data arrives (only the idle polling rate
    /// depends on it); Nisshi holds the fetch for the whole wait, so there it adds to latency.
    pub fetch_wait_max_ms: u64,
    /// After this long without an event, a consumer parks: it stops fetching until the gateway
    /// wakes it (`NOTIFY roster_changes` after an acknowledged event) or `idle_park_max_ms`
    /// passes. 0: never park (Kafka, which answers fetches as soon as data arrives).
    pub idle_park_ms: u64,
    /// Longest a parked consumer goes without looking at the log (events produced past the
    /// gateway, or a lost wake-up, wait at most this long).
    pub idle_park_max_ms: u64,
    /// This process's name in its consumer group (static membership, KIP-345), unique among
    /// the group's members and the same across its restarts (a pod's name): a member that
    /// restarts within the session timeout gets its partitions back without a rebalance, so a
    /// crash pauses them for the restart, not for the whole session timeout. Empty: dynamic
    /// membership (a restart waits for the session timeout of the member that died).
    pub group_instance_id: String,
    /// How every Kafka client of Roster connects (librdkafka's `security.protocol`):
    /// `plaintext` (development, Nisshi), `ssl`, `sasl_plaintext` or `sasl_ssl` (production:
    /// TLS and SCRAM, see deploy/README.md).
    pub security_protocol: String,
    /// The SASL mechanism with a `sasl_*` protocol: `SCRAM-SHA-512`, `SCRAM-SHA-256` or `PLAIN`
    /// (`sasl.mechanism`). Empty otherwise.
    pub sasl_mechanism: String,
    /// The SASL user (`sasl.username`): with Strimzi, the name of the service's KafkaUser.
    pub sasl_username: String,
    /// The SASL password (`sasl.password`): with Strimzi, the `password` key of the Secret the
    /// User Operator creates for the KafkaUser.
    pub sasl_password: SecretString,
    /// PEM file of the CA certificates that sign the brokers' certificates
    /// (`ssl.ca.location`), with `ssl` and `sasl_ssl`: with Strimzi, `ca.crt` of the Secret
    /// `<cluster>-cluster-ca-cert`. Empty: the system's CA store.
    pub ssl_ca_location: String,
}

/// The values of `kafka.security_protocol`.
const SECURITY_PROTOCOLS: [&str; 4] = ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"];
/// The values of `kafka.sasl_mechanism` (librdkafka built with OpenSSL: SCRAM is compiled in).
const SASL_MECHANISMS: [&str; 3] = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"];

impl KafkaSettings {
    /// Whether the clients authenticate with SASL (`sasl_plaintext` or `sasl_ssl`).
    pub fn uses_sasl(&self) -> bool {
        self.security_protocol.to_ascii_lowercase().starts_with("sasl_")
    }

    /// Whether the clients speak TLS to the brokers (`ssl` or `sasl_ssl`).
    pub fn uses_tls(&self) -> bool {
        self.security_protocol.to_ascii_lowercase().ends_with("ssl")
    }

    /// The connection settings: a known protocol, and a mechanism, user and password exactly
    /// when it is a SASL one.
    fn validate_security(&self) -> Result<(), SettingsError> {
        let invalid = |m: String| Err(SettingsError::Invalid(m));
        let protocol = self.security_protocol.to_ascii_lowercase();
        if !SECURITY_PROTOCOLS.contains(&protocol.as_str()) {
            return invalid(format!(
                "kafka.security_protocol must be one of {} (got {:?})",
                SECURITY_PROTOCOLS.join(", "),
                self.security_protocol
            ));
        }
        let has_password = !self.sasl_password.expose_secret().is_empty();
        if self.uses_sasl() {
            if !SASL_MECHANISMS.contains(&self.sasl_mechanism.to_ascii_uppercase().as_str()) {
                return invalid(format!(
                    "kafka.sasl_mechanism must be one of {} with kafka.security_protocol {protocol} (got {:?})",
                    SASL_MECHANISMS.join(", "),
                    self.sasl_mechanism
                ));
            }
            if self.sasl_username.trim().is_empty() || !has_password {
                return invalid(format!(
                    "kafka.sasl_username and kafka.sasl_password must be set with kafka.security_protocol {protocol}"
                ));
            }
        } else if !self.sasl_mechanism.is_empty() || !self.sasl_username.is_empty() || has_password
        {
            return invalid(format!(
                "kafka.sasl_mechanism, kafka.sasl_username and kafka.sasl_password are used only with a sasl_* kafka.security_protocol (it is {protocol})"
            ));
        }
        if !self.ssl_ca_location.is_empty() && !self.uses_tls() {
            return invalid(format!(
                "kafka.ssl_ca_location is used only with kafka.security_protocol ssl or sasl_ssl (it is {protocol})"
            ));
        }
        Ok(())
    }

    /// How the consumers park, if they do.
    pub fn park(&self) -> Option<crate::consumer::Park> {
        (self.idle_park_ms > 0).then(|| crate::consumer::Park {
            after: std::time::Duration::from_millis(self.idle_park_ms),
            max: std::time::Duration::from_millis(self.idle_park_max_ms),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct GatewaySettings {
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// The externally visible base URL (`meta.location`, the Tenant URL), without a trailing `/`.
    /// Empty: derived from the bound address.
    pub public_url: String,
    /// How long a write waits for its outcome before answering 503 (the event stays in the log
    /// and will be applied).
    pub outcome_timeout_ms: u64,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0 = one per core.
    pub workers: usize,
    /// Largest page a list or search returns (advertised as `filter.maxResults`).
    pub max_page_size: u32,
    /// Longest `filter` accepted, in characters; longer ones get 400 `invalidFilter`.
    pub max_filter_len: usize,
    /// Deepest nesting of a `filter` (parentheses, `not`, `and`/`or`, value paths).
    pub max_filter_depth: usize,
    /// How long `/health/ready` reuses the pipeline's lag (log end minus the consumers' stored
    /// offsets) before reading the log end from the broker again.
    pub pipeline_lag_cache_ms: u64,
    /// Longest one statement of the gateway may run (Postgres `statement_timeout` on its pool);
    /// past it the request answers 503 with `Retry-After`. 0: no limit.
    pub statement_timeout_ms: u64,
    /// Writes of one directory that may wait for their outcome at once; past that a write
    /// answers 429 with `Retry-After`, so one directory's flood cannot take every worker and
    /// connection from the others. 0: no bound.
    pub max_in_flight_writes_per_directory: u32,
    /// Requests waiting to be written to the provisioning log; past it entries are dropped
    /// (Postgres down), never the requests.
    pub provisioning_log_queue: usize,
    /// Where `/metrics` is served (its own port, beside the SCIM and admin API's; 0: a free
    /// port), on `host`.
    pub metrics_port: u16,
}

/// The SCIM root of a directory under a gateway's public base URL.
pub fn tenant_url(base_url: &str, directory_id: &str) -> String {
    format!("{base_url}/scim/v2/{directory_id}")
}

impl GatewaySettings {
    /// The public base URL for a gateway bound to `port`: `public_url` if set, else derived.
    pub fn base_url(&self, port: u16) -> String {
        if self.public_url.is_empty() {
            format!("http://{}:{port}", self.host)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }

    /// The Tenant URL of a directory, the SCIM root an admin pastes into Entra.
    pub fn tenant_url(&self, port: u16, directory_id: &str) -> String {
        tenant_url(&self.base_url(port), directory_id)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// HMAC-SHA256 key that signs SCIM secret tokens (the current one).
    pub signing_key: SecretString,
    /// Its id, carried by every token it signs (the JWT's `kid`).
    pub signing_key_id: String,
    /// Older SCIM signing keys still accepted, by id: a rotated key stays here until the tokens
    /// it signed are replaced (deploy/README.md#rotating-the-signing-keys). Ids are lower case.
    #[serde(default)]
    pub verification_keys: BTreeMap<String, SecretString>,
    /// How long a verified token is trusted without looking at Postgres again. Revocations are
    /// also pushed by NOTIFY, so this bounds revocation delay only if that push is lost.
    pub token_cache_ttl_ms: u64,
    /// HMAC-SHA256 key that signs admin API tokens (`roster admin-token issue`), console
    /// sessions and portal links (the current one).
    pub admin_signing_key: SecretString,
    /// Its id (`kid`).
    pub admin_signing_key_id: String,
    /// Older admin signing keys still accepted, by id.
    #[serde(default)]
    pub admin_verification_keys: BTreeMap<String, SecretString>,
    /// Lifetime of an admin token issued without an expiry, in hours.
    pub admin_token_default_ttl_hours: u32,
    /// Longest lifetime an admin token may be given, in hours.
    pub admin_token_max_ttl_hours: u32,
}

impl AuthSettings {
    /// The keys of SCIM secret tokens.
    pub fn scim_keys(&self) -> crate::keys::Keys {
        crate::keys::Keys::new(
            &self.signing_key_id,
            self.signing_key.clone(),
            self.verification_keys.clone(),
        )
    }

    /// The keys of admin tokens, console sessions and portal links.
    pub fn admin_keys(&self) -> crate::keys::Keys {
        crate::keys::Keys::new(
            &self.admin_signing_key_id,
            self.admin_signing_key.clone(),
            self.admin_verification_keys.clone(),
        )
    }
}

/// How long what Roster keeps about requests and their effects is kept, in days; pruned in the
/// background by one gateway at a time. The projection and the change log are never pruned.
#[derive(Debug, Clone, Deserialize)]
pub struct RetentionSettings {
    /// The provisioning log (one entry per SCIM request).
    pub provisioning_log_days: u32,
    /// Event outcomes (each write's answer; the gateway reads it within seconds).
    pub outcomes_days: u32,
    /// Published notifications in the outbox: the Events API's replay window.
    pub notifications_days: u32,
    /// How often the pruner runs, in seconds.
    pub prune_every_s: u64,
}

/// The console (`/console`) and its portal links.
#[derive(Debug, Clone, Deserialize)]
pub struct ConsoleSettings {
    /// How long an operator's console session lasts (never past its admin token's expiry).
    pub session_hours: u32,
    /// Lifetime of a portal link created without one, in minutes.
    pub portal_link_default_minutes: u32,
    /// Longest lifetime a portal link may be given, in minutes.
    pub portal_link_max_minutes: u32,
    /// A directory's health warns this many days before a SCIM token expires.
    pub token_expiry_warning_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProjectorSettings {
    /// Most events of one partition applied in one transaction.
    pub max_batch: usize,
    /// How long to wait for more events once a partition's batch has its first one (what was
    /// already fetched joins the batch anyway).
    pub batch_linger_ms: u64,
    /// First delay before a failed batch is tried again; it doubles, with random jitter of up
    /// to as much again, up to `retry_max_ms`.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// A partition that has had events waiting this long without advancing is stuck: one ERROR
    /// is logged and `/health/ready` answers 503 until it moves again.
    pub stuck_after_ms: u64,
    /// Where `/health/live` and `/health/ready` are served (port 0: a free port, for tests).
    pub health_host: String,
    pub health_port: u16,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RoleMapperSettings {
    /// Most change events reconciled in one transaction.
    pub max_batch: usize,
    /// How long to wait for more events once a batch has its first one (what was already
    /// fetched joins the batch anyway).
    pub batch_linger_ms: u64,
    /// The role-mapper's own `fetch.wait.max.ms`, in place of `kafka.fetch_wait_max_ms`: it is
    /// on no request's path, so with a broker that holds every fetch for the whole wait
    /// (Nisshi) a longer one gives fewer, larger batches for a little notification latency.
    pub fetch_wait_max_ms: u64,
    /// How often the relay looks for unpublished notifications when nothing woke it (another
    /// replica may have written them).
    pub relay_poll_ms: u64,
    /// Most notifications the relay publishes before marking them published.
    pub relay_batch: usize,
    /// As for the projector: retries of a failed batch (and of a directory's notifications the
    /// relay could not publish), when a partition counts as stuck, and the health endpoints.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    pub stuck_after_ms: u64,
    pub health_host: String,
    pub health_port: u16,
}

/// What one SCIM request may hold, checked by the gateway before anything is published
/// (`roster_scim::limits`; docs/limits.md explains each default). Past a limit: 400
/// `invalidValue` naming the attribute (`invalidFilter` for filters).
#[derive(Debug, Clone, Deserialize)]
pub struct LimitsSettings {
    /// Longest `userName`, `externalId`, `displayName`, email value and group
    /// `displayName`/`externalId`, in UTF-8 bytes: their case-folded form must fit a btree
    /// index entry (at most `roster_scim::limits::MAX_INDEXABLE_BYTES`).
    pub max_indexed_bytes: usize,
    /// Longest other string, in bytes.
    pub max_string_bytes: usize,
    /// Longest attribute name (JSON object key), in bytes.
    pub max_key_bytes: usize,
    /// Most values of one multi-valued attribute (any JSON array), members apart.
    pub max_values: usize,
    /// Most members in a group POST or PUT, and in all the operations of one PATCH together.
    pub max_members: usize,
    /// Most PATCH operations in one request (after path-less values are split).
    pub max_operations: usize,
    /// Most comparisons in one `filter` (beside `gateway.max_filter_len` and
    /// `gateway.max_filter_depth`).
    pub max_filter_terms: usize,
}

impl LimitsSettings {
    /// The limits `roster_scim` checks requests against.
    pub fn request_limits(&self) -> roster_scim::Limits {
        roster_scim::Limits {
            max_indexed_bytes: self.max_indexed_bytes,
            max_string_bytes: self.max_string_bytes,
            max_key_bytes: self.max_key_bytes,
            max_values: self.max_values,
            max_members: self.max_members,
            max_operations: self.max_operations,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    /// `pretty` for people, `json` for log pipelines.
    pub format: String,
    /// A `tracing_subscriber::EnvFilter` directive; `RUST_LOG` overrides it.
    pub filter: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("could not load configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Load from `$ROSTER_CONFIG_DIR` (default `./config`) and the environment.
    pub fn load() -> Result<Settings, SettingsError> {
        let dir = std::env::var_os("ROSTER_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        Self::load_from(&dir)
    }

    /// Load from a given configuration directory and the environment.
    pub fn load_from(dir: &Path) -> Result<Settings, SettingsError> {
        let environment = std::env::var("ROSTER_ENV").unwrap_or_else(|_| "local".to_string());
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from(dir.join("default.toml")))
            .add_source(config::File::from(dir.join(format!("{environment}.toml"))).required(false))
            .add_source(
                config::Environment::with_prefix("ROSTER").prefix_separator("__").separator("__"),
            )
            .set_override("environment", environment)?
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Check what types cannot: ranges, and no development secret outside development.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |m: &str| Err(SettingsError::Invalid(m.to_string()));
        if self.database.pool_size == 0 || self.database.lookup_pool_size == 0 {
            return invalid("database.pool_size and database.lookup_pool_size must be at least 1");
        }
        if self.kafka.brokers.trim().is_empty() {
            return invalid("kafka.brokers must name at least one broker");
        }
        if self.kafka.idle_park_ms > 0 && self.kafka.idle_park_max_ms < 100 {
            return invalid("kafka.idle_park_max_ms must be at least 100 when consumers park");
        }
        if self.kafka.partitions < 1 {
            return invalid("kafka.partitions must be at least 1");
        }
        self.kafka.validate_security()?;
        if self.projector.max_batch == 0 {
            return invalid("projector.max_batch must be at least 1");
        }
        if self.role_mapper.max_batch == 0 || self.role_mapper.relay_batch == 0 {
            return invalid("role_mapper.max_batch and role_mapper.relay_batch must be at least 1");
        }
        for (service, retry_initial, retry_max, stuck_after, host) in [
            (
                "projector",
                self.projector.retry_initial_ms,
                self.projector.retry_max_ms,
                self.projector.stuck_after_ms,
                &self.projector.health_host,
            ),
            (
                "role_mapper",
                self.role_mapper.retry_initial_ms,
                self.role_mapper.retry_max_ms,
                self.role_mapper.stuck_after_ms,
                &self.role_mapper.health_host,
            ),
        ] {
            if retry_initial == 0 || retry_max < retry_initial {
                return Err(SettingsError::Invalid(format!(
                    "{service}.retry_initial_ms must be at least 1 and {service}.retry_max_ms at least as large"
                )));
            }
            if stuck_after < 1000 {
                return Err(SettingsError::Invalid(format!(
                    "{service}.stuck_after_ms must be at least 1000"
                )));
            }
            if host.trim().is_empty() {
                return Err(SettingsError::Invalid(format!(
                    "{service}.health_host must name an address to listen on"
                )));
            }
        }
        if self.gateway.max_page_size == 0 {
            return invalid("gateway.max_page_size must be at least 1");
        }
        if self.gateway.max_filter_len < 64 || self.gateway.max_filter_depth == 0 {
            return invalid(
                "gateway.max_filter_len must be at least 64 and gateway.max_filter_depth at least 1",
            );
        }
        if self.gateway.max_body_bytes < 1024 {
            return invalid("gateway.max_body_bytes must be at least 1024");
        }
        if self.gateway.max_body_bytes + 64 * 1024 > self.kafka.max_message_bytes {
            return invalid(
                "gateway.max_body_bytes must leave 64 KiB within kafka.max_message_bytes for the event",
            );
        }
        self.validate_limits()?;
        self.validate_keys()?;
        if !matches!(self.telemetry.format.as_str(), "pretty" | "json") {
            return invalid("telemetry.format must be \"pretty\" or \"json\"");
        }
        self.validate_control_plane()
    }

    /// The signing keys: each at least 32 bytes, with a plain id; no development key in
    /// production; no key both a SCIM and an admin key (a SCIM token must never pass as an admin
    /// token).
    fn validate_keys(&self) -> Result<(), SettingsError> {
        let auth = &self.auth;
        let sets = [
            (
                "auth.signing_key",
                &auth.signing_key_id,
                &auth.signing_key,
                &auth.verification_keys,
                DEV_SIGNING_KEY,
            ),
            (
                "auth.admin_signing_key",
                &auth.admin_signing_key_id,
                &auth.admin_signing_key,
                &auth.admin_verification_keys,
                DEV_ADMIN_SIGNING_KEY,
            ),
        ];
        let mut seen: Vec<&str> = Vec::new();
        for (name, id, current, older, dev) in sets {
            let mut keys: Vec<(&String, &SecretString)> = vec![(id, current)];
            keys.extend(older.iter());
            let mut own: Vec<&str> = Vec::new();
            for (id, key) in keys {
                let key = key.expose_secret();
                if id.is_empty()
                    || id.len() > 64
                    || !id.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
                    })
                {
                    return Err(SettingsError::Invalid(format!(
                        "{name}: key id {id:?} must be 1-64 lower-case letters, digits, '-' or '_'"
                    )));
                }
                if key.len() < 32 {
                    return Err(SettingsError::Invalid(format!(
                        "{name}: the key with id {id:?} must be at least 32 bytes"
                    )));
                }
                if self.environment == "production" && key == dev {
                    return Err(SettingsError::Invalid(format!(
                        "{name} (id {id:?}) is the development key; set ROSTER__AUTH__… from a secret"
                    )));
                }
                if seen.contains(&key) && !own.contains(&key) {
                    return Err(SettingsError::Invalid(
                        "auth.admin_signing_key must differ from auth.signing_key (and their older keys from each other)".into(),
                    ));
                }
                own.push(key);
            }
            seen.extend(own);
        }
        Ok(())
    }

    /// Admin tokens, the console, the provisioning log.
    fn validate_control_plane(&self) -> Result<(), SettingsError> {
        let invalid = |m: &str| Err(SettingsError::Invalid(m.to_string()));
        let auth = &self.auth;
        if auth.admin_token_default_ttl_hours == 0
            || auth.admin_token_max_ttl_hours < auth.admin_token_default_ttl_hours
        {
            return invalid(
                "auth.admin_token_default_ttl_hours must be at least 1 and auth.admin_token_max_ttl_hours at least as large",
            );
        }
        let console = &self.console;
        if console.session_hours == 0 {
            return invalid("console.session_hours must be at least 1");
        }
        if console.portal_link_default_minutes == 0
            || console.portal_link_max_minutes < console.portal_link_default_minutes
            || console.portal_link_max_minutes > 7 * 24 * 60
        {
            return invalid(
                "console.portal_link_default_minutes must be at least 1, and console.portal_link_max_minutes at least as large and at most a week",
            );
        }
        let r = &self.retention;
        if r.provisioning_log_days == 0 || r.outcomes_days == 0 || r.notifications_days == 0 {
            return invalid("every retention.*_days must be at least 1");
        }
        if r.prune_every_s == 0 {
            return invalid("retention.prune_every_s must be at least 1");
        }
        if self.gateway.provisioning_log_queue < 100 {
            return invalid("gateway.provisioning_log_queue must be at least 100");
        }
        Ok(())
    }

    /// `[limits]`: each at least what Entra sends, and indexed values no longer than their
    /// indexes hold.
    fn validate_limits(&self) -> Result<(), SettingsError> {
        let limits = &self.limits;
        let invalid = |m: String| Err(SettingsError::Invalid(m));
        let indexable = roster_scim::limits::MAX_INDEXABLE_BYTES;
        if !(256..=indexable).contains(&limits.max_indexed_bytes) {
            return invalid(format!(
                "limits.max_indexed_bytes must be between 256 (Entra's longest displayName is 256 \
                 characters) and {indexable} (what a btree index entry holds once case-folded)"
            ));
        }
        if limits.max_string_bytes < limits.max_indexed_bytes
            || limits.max_string_bytes > self.gateway.max_body_bytes
        {
            return invalid(
                "limits.max_string_bytes must be between limits.max_indexed_bytes and \
                 gateway.max_body_bytes"
                    .into(),
            );
        }
        if !(128..=limits.max_string_bytes).contains(&limits.max_key_bytes) {
            return invalid(
                "limits.max_key_bytes must be at least 128 (extension attribute names are URNs) \
                 and at most limits.max_string_bytes"
                    .into(),
            );
        }
        if limits.max_values == 0 || limits.max_members == 0 || limits.max_operations == 0 {
            return invalid(
                "limits.max_values, limits.max_members and limits.max_operations must be at \
                 least 1"
                    .into(),
            );
        }
        if limits.max_filter_terms < 2 {
            return invalid(
                "limits.max_filter_terms must be at least 2 (Entra's emails[type eq \"work\"].value \
                 eq \"…\" has two)"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn config_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
    }

    #[test]
    fn defaults_load_and_validate() {
        let settings = Settings::load_from(&config_dir()).unwrap();
        assert_eq!(settings.kafka.changes_topic, "roster.changes.v1");
        assert!(settings.database.url.starts_with("postgres://"));
    }

    #[test]
    fn development_key_is_refused_in_production() {
        let mut settings = Settings::load_from(&config_dir()).unwrap();
        settings.environment = "production".into();
        settings.auth.signing_key = SecretString::from(DEV_SIGNING_KEY);
        settings.auth.admin_signing_key = SecretString::from("a".repeat(40));
        assert!(settings.validate().is_err());
        settings.auth.signing_key = SecretString::from("x".repeat(40));
        settings.validate().unwrap();
        settings.auth.admin_signing_key = SecretString::from(DEV_ADMIN_SIGNING_KEY);
        assert!(settings.validate().is_err());
        settings.auth.admin_signing_key = SecretString::from("x".repeat(40));
        assert!(settings.validate().is_err(), "the two keys must differ");
    }

    #[test]
    fn local_databases_are_told_from_remote_ones() {
        let local = |url: &str| {
            DatabaseSettings { url: url.into(), pool_size: 1, lookup_pool_size: 1 }.is_local()
        };
        assert!(local("postgres://postgres@127.0.0.1:5432/roster"));
        assert!(local("postgres://localhost/roster"));
        assert!(local("postgres://u:p@[::1]:5432/roster?sslmode=disable"));
        assert!(local("postgres:///roster"));
        assert!(!local("postgres://roster:secret@roster-pg-rw:5432/roster?sslmode=require"));
        assert!(!local("postgres://db.example.com/roster"));
    }

    #[test]
    fn application_name_is_added_once() {
        let db =
            |url: &str| DatabaseSettings { url: url.into(), pool_size: 1, lookup_pool_size: 1 };
        assert_eq!(db("postgres://h/r").url_for("p"), "postgres://h/r?application_name=p");
        assert_eq!(
            db("postgres://h/r?sslmode=require").url_for("p"),
            "postgres://h/r?sslmode=require&application_name=p"
        );
        assert_eq!(
            db("postgres://h/r?application_name=x").url_for("p"),
            "postgres://h/r?application_name=x"
        );
    }

    #[test]
    fn consumer_timings_are_validated() {
        let mut settings = Settings::load_from(&config_dir()).unwrap();
        settings.projector.retry_max_ms = settings.projector.retry_initial_ms - 1;
        assert!(settings.validate().is_err());
        let mut settings = Settings::load_from(&config_dir()).unwrap();
        settings.role_mapper.stuck_after_ms = 10;
        assert!(settings.validate().is_err());
    }

    #[test]
    fn limits_are_validated() {
        let settings = Settings::load_from(&config_dir()).unwrap();
        assert_eq!(settings.limits.request_limits(), roster_scim::Limits::default());
        assert_eq!(settings.limits.max_filter_terms, roster_scim::filter::MAX_FILTER_TERMS);
        let broken: [fn(&mut LimitsSettings); 7] = [
            |l| l.max_indexed_bytes = 255,
            |l| l.max_indexed_bytes = roster_scim::limits::MAX_INDEXABLE_BYTES + 1,
            |l| l.max_string_bytes = 1000,
            |l| l.max_key_bytes = 64,
            |l| l.max_values = 0,
            |l| l.max_members = 0,
            |l| l.max_filter_terms = 1,
        ];
        for breaking in broken {
            let mut settings = settings.clone();
            breaking(&mut settings.limits);
            assert!(settings.validate().is_err(), "{:?}", settings.limits);
        }
    }

    #[test]
    fn kafka_security_is_validated() {
        let settings = Settings::load_from(&config_dir()).unwrap();
        assert_eq!(settings.kafka.security_protocol, "plaintext");
        assert!(!settings.kafka.uses_sasl() && !settings.kafka.uses_tls());
        let scram = |settings: &mut Settings| {
            settings.kafka.security_protocol = "SASL_SSL".into();
            settings.kafka.sasl_mechanism = "SCRAM-SHA-512".into();
            settings.kafka.sasl_username = "roster-gateway".into();
            settings.kafka.sasl_password = SecretString::from("s3cret");
            settings.kafka.ssl_ca_location = "/etc/roster/kafka-ca/ca.crt".into();
        };
        let mut ok = settings.clone();
        scram(&mut ok);
        ok.validate().unwrap();
        assert!(ok.kafka.uses_sasl() && ok.kafka.uses_tls());
        let broken: [fn(&mut Settings); 7] = [
            |s| s.kafka.security_protocol = "tls".into(),
            |s| s.kafka.sasl_mechanism = "GSSAPI".into(),
            |s| s.kafka.sasl_mechanism = String::new(),
            |s| s.kafka.sasl_username = String::new(),
            |s| s.kafka.sasl_password = SecretString::from(""),
            // A password without SASL would be silently ignored.
            |s| s.kafka.security_protocol = "ssl".into(),
            // A CA without TLS likewise.
            |s| s.kafka.security_protocol = "sasl_plaintext".into(),
        ];
        for (i, breaking) in broken.into_iter().enumerate() {
            let mut settings = ok.clone();
            breaking(&mut settings);
            assert!(settings.validate().is_err(), "case {i}: {:?}", settings.kafka);
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let mut settings = Settings::load_from(&config_dir()).unwrap();
        settings.kafka.sasl_password = SecretString::from("kafka-password-in-debug");
        assert!(!format!("{settings:?}").contains("kafka-password-in-debug"));
        assert!(!format!("{settings:?}").contains(DEV_SIGNING_KEY));
        assert!(!format!("{settings:?}").contains(DEV_ADMIN_SIGNING_KEY));
    }
}
