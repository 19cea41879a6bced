//! The gateway's point lookups on async connections: diesel-async over tokio-postgres, with a
//! deadpool pool on each actix worker (docs/designs/0008-async-lookups.md).
//!
//! A lookup through [`crate::run_read`] crosses threads twice: the actix worker hands it to
//! tokio's blocking pool, where libpq waits for Postgres, and the answer is handed back. At
//! thousands of lookups a second those handovers were a third of the gateway's CPU. Here the
//! worker that took the request sends the statement and reads the answer itself, and each
//! connection's driver task runs on that same worker, because each worker has its own pool
//! ([`LookupConnector::pool`] is called in the worker's app factory).
//!
//! Connections are made as libpq would make them from the same `database.url`: `sslmode`
//! `disable`, `prefer` (the default) and `require` encrypt without checking the server's
//! certificate, and `verify-ca` / `verify-full` check it against `sslrootcert` (or the system's
//! roots), `verify-full` also its host name.

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::{ConnectionError, ConnectionResult, ExpressionMethods};
use diesel::{OptionalExtension, QueryDsl, QueryResult, SelectableHelper};
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::FutureExt;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use postgres_openssl::MakeTlsConnector;
use tokio_postgres::config::SslMode;
use uuid::Uuid;

use crate::schema::users;
use crate::users::UserRow;
use crate::{PoolOptions, StoreError};

/// One actix worker's lookup connections.
pub type LookupPool = Pool<AsyncPgConnection>;

/// A connection taken from a [`LookupPool`]; it goes back when dropped.
pub type LookupConnection = Object<AsyncPgConnection>;

/// How long a checkout waits for a free connection, and a new connection for Postgres, before
/// the request answers 503 (as the blocking pools' `connection_timeout`).
const WAIT: Duration = Duration::from_secs(5);

/// Where and how lookup connections connect: parsed once, at start, so a `database.url` the
/// lookups cannot use stops the gateway with a clear message instead of failing requests.
#[derive(Clone)]
pub struct LookupConnector {
    target: Arc<Target>,
}

struct Target {
    config: tokio_postgres::Config,
    /// None: `sslmode=disable`.
    tls: Option<MakeTlsConnector>,
}

impl LookupConnector {
    /// Parse `url` (a libpq connection URL) and prepare its TLS.
    pub fn new(url: &str, options: PoolOptions) -> Result<LookupConnector, StoreError> {
        let invalid = |why: String| {
            StoreError::Connection(ConnectionError::InvalidConnectionUrl(format!(
                "database.url for the gateway's lookups: {why}"
            )))
        };
        let (url, libpq) = libpq_options(url).map_err(invalid)?;
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| invalid(format!("{e}")))?;
        if let Some(timeout) = options.statement_timeout {
            // A startup parameter: no statement to run on each new connection.
            let mut startup = config.get_options().unwrap_or_default().to_string();
            if !startup.is_empty() {
                startup.push(' ');
            }
            startup.push_str(&format!("-c statement_timeout={}", timeout.as_millis()));
            config.options(&startup);
        }
        let tls = match config.get_ssl_mode() {
            SslMode::Disable => None,
            _ => Some(tls_connector(&libpq).map_err(|e| invalid(format!("TLS: {e}")))?),
        };
        Ok(LookupConnector { target: Arc::new(Target { config, tls }) })
    }

    /// A pool of at most `max_size` connections, made when first needed. Call it on the thread
    /// whose requests will use it: each connection's driver task runs where it was made.
    pub fn pool(&self, max_size: usize) -> LookupPool {
        let target = self.target.clone();
        let mut manager = ManagerConfig::default();
        // A broken connection (closed, or a transaction left open) is replaced on its return;
        // no `SELECT 1` before each use.
        manager.recycling_method = RecyclingMethod::Fast;
        manager.custom_setup = Box::new(move |_| connect(target.clone()).boxed());
        Pool::builder(AsyncDieselConnectionManager::new_with_config("", manager))
            .max_size(max_size.max(1))
            .runtime(deadpool::Runtime::Tokio1)
            .wait_timeout(Some(WAIT))
            .create_timeout(Some(WAIT))
            .build()
            .unwrap_or_else(|_| unreachable!("deadpool refuses timeouts only without a runtime"))
    }

    /// One connection outside any pool (a [`crate::listen::Listener`]'s). Its driver task runs
    /// on the runtime of the caller.
    pub async fn connect(&self) -> ConnectionResult<AsyncPgConnection> {
        connect(self.target.clone()).await
    }
}

async fn connect(target: Arc<Target>) -> ConnectionResult<AsyncPgConnection> {
    let failed = |e: tokio_postgres::Error| ConnectionError::BadConnection(e.to_string());
    match &target.tls {
        None => {
            let (client, connection) =
                target.config.connect(tokio_postgres::NoTls).await.map_err(failed)?;
            AsyncPgConnection::try_from_client_and_connection(client, connection).await
        }
        Some(tls) => {
            let (client, connection) = target.config.connect(tls.clone()).await.map_err(failed)?;
            AsyncPgConnection::try_from_client_and_connection(client, connection).await
        }
    }
}

/// What a libpq URL asks for that tokio-postgres does not parse, read by Roster: the
/// certificate checks of `sslmode=verify-ca` / `verify-full` (`sslmode=require` takes their
/// place in the URL tokio-postgres reads), `sslrootcert`, a client certificate (`sslcert`,
/// `sslkey`), and `gssencmode` (there is no GSSAPI here: `disable` and `prefer` connect without
/// it, as libpq does without credentials; `require` is refused).
#[derive(Debug, Default, PartialEq, Eq)]
struct Libpq {
    /// None: do not check the certificate (libpq's `prefer` and `require`).
    verify: Option<VerifyMode>,
    root_cert: Option<String>,
    client_cert: Option<String>,
    client_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VerifyMode {
    /// The certificate chains to a trusted root.
    Ca,
    /// And names the host.
    Full,
}

/// Split `url` into what tokio-postgres parses and what [`Libpq`] holds.
fn libpq_options(url: &str) -> Result<(String, Libpq), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), Libpq::default()));
    };
    let mut libpq = Libpq::default();
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned();
        match (key, value.as_str()) {
            ("sslmode", "verify-ca") => libpq.verify = Some(VerifyMode::Ca),
            ("sslmode", "verify-full") => libpq.verify = Some(VerifyMode::Full),
            ("sslrootcert", _) => libpq.root_cert = Some(value),
            ("sslcert", _) => libpq.client_cert = Some(value),
            ("sslkey", _) => libpq.client_key = Some(value),
            ("gssencmode", "disable" | "prefer") => {}
            ("gssencmode", other) => return Err(format!("gssencmode={other} is not supported")),
            _ => kept.push(pair.to_string()),
        }
    }
    if libpq.verify.is_some() {
        kept.push("sslmode=require".to_string());
    }
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    Ok((url, libpq))
}

fn tls_connector(libpq: &Libpq) -> Result<MakeTlsConnector, String> {
    let mut builder = SslConnector::builder(SslMethod::tls()).map_err(|e| e.to_string())?;
    match (libpq.verify, &libpq.root_cert) {
        (None, _) => builder.set_verify(SslVerifyMode::NONE),
        // As libpq: the roots of `sslrootcert` only, not the system's as well.
        (Some(_), Some(root)) => builder.set_cert_store(roots(root)?),
        (Some(_), None) => {}
    }
    if let Some(cert) = &libpq.client_cert {
        builder.set_certificate_chain_file(cert).map_err(|e| format!("sslcert {cert}: {e}"))?;
    }
    if let Some(key) = &libpq.client_key {
        builder
            .set_private_key_file(key, openssl::ssl::SslFiletype::PEM)
            .map_err(|e| format!("sslkey {key}: {e}"))?;
    }
    let mut connector = MakeTlsConnector::new(builder.build());
    if libpq.verify != Some(VerifyMode::Full) {
        connector.set_callback(|connect, _| {
            connect.set_verify_hostname(false);
            Ok(())
        });
    }
    Ok(connector)
}

/// The certificates of a PEM file, as a trust store.
fn roots(path: &str) -> Result<openssl::x509::store::X509Store, String> {
    let failed = |e: &dyn std::fmt::Display| format!("sslrootcert {path}: {e}");
    let pem = std::fs::read(path).map_err(|e| failed(&e))?;
    let mut store = openssl::x509::store::X509StoreBuilder::new().map_err(|e| failed(&e))?;
    for certificate in openssl::x509::X509::stack_from_pem(&pem).map_err(|e| failed(&e))? {
        store.add_cert(certificate).map_err(|e| failed(&e))?;
    }
    Ok(store.build())
}

/// Take a connection from a worker's pool, recording the wait
/// (`roster_db_lookup_checkout_seconds`).
pub async fn checkout(pool: &LookupPool) -> Result<LookupConnection, StoreError> {
    let waited = Instant::now();
    let conn = pool.get().await;
    metrics::histogram!("roster_db_lookup_checkout_seconds").record(waited.elapsed());
    conn.map_err(|e| StoreError::LookupPool(e.to_string()))
}

/// A live user by id ([`crate::users::find`], awaited).
pub async fn find_user(
    conn: &mut AsyncPgConnection,
    directory_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<UserRow>> {
    users::table
        .find((id, directory_id))
        .filter(users::deleted_at.is_null())
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_options_tokio_postgres_lacks_are_read_here() {
        let parsed = libpq_options(
            "postgres://u:p@db:5432/roster?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem\
             &application_name=g&gssencmode=disable&sslcert=c.pem&sslkey=k.pem",
        );
        assert_eq!(
            parsed,
            Ok((
                "postgres://u:p@db:5432/roster?application_name=g&sslmode=require".to_string(),
                Libpq {
                    verify: Some(VerifyMode::Full),
                    root_cert: Some("/etc/ca.pem".into()),
                    client_cert: Some("c.pem".into()),
                    client_key: Some("k.pem".into()),
                }
            ))
        );
        let verify_ca = libpq_options("postgres://db/roster?sslmode=verify-ca");
        assert!(verify_ca.is_ok_and(|(_, libpq)| libpq.verify == Some(VerifyMode::Ca)));
        assert!(libpq_options("postgres://db/roster?gssencmode=require").is_err());
    }

    #[test]
    fn other_urls_pass_unchanged() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/roster",
            "postgres://roster:secret@roster-pg-rw:5432/roster?sslmode=require",
            "postgres://h/r?sslmode=disable&application_name=gateway",
        ] {
            assert_eq!(libpq_options(url), Ok((url.to_string(), Libpq::default())));
        }
    }

    #[test]
    fn urls_are_parsed_at_start() {
        let timeout = PoolOptions { statement_timeout: Some(Duration::from_millis(250)) };
        let connector = LookupConnector::new(
            "postgres://u@h:5432/db?sslmode=require&options=-c%20a%3Db",
            timeout,
        );
        let Ok(connector) = connector else { panic!("a libpq URL is accepted") };
        assert_eq!(connector.target.config.get_options(), Some("-c a=b -c statement_timeout=250"));
        assert!(connector.target.tls.is_some());
        let plain =
            LookupConnector::new("postgres://u@h/db?sslmode=disable", PoolOptions::default());
        assert!(plain.is_ok_and(|c| c.target.tls.is_none()));
        let bad =
            LookupConnector::new("postgres://u@h/db?sslcompression=7", PoolOptions::default());
        assert!(bad.is_err(), "an option tokio-postgres does not know stops the gateway at start");
    }
}
