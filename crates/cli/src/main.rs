//! `roster`, the operator CLI.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use roster_platform::{Settings, tokens};
use roster_store::control;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

mod notifications;

#[derive(Parser)]
#[command(
    name = "roster",
    version,
    about = "Operate Roster: migrations, tenants, directories, tokens, the change log"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending database migrations (under an advisory lock).
    Migrate {
        /// Create the database first if it does not exist.
        #[arg(long)]
        create_database: bool,
        /// Revert every migration instead (drops all of Roster's tables).
        #[arg(long)]
        revert_all: bool,
    },
    /// Tenants: the customers.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Directories: one SCIM endpoint (Tenant URL) each.
    Directory {
        #[command(subcommand)]
        command: DirectoryCommand,
    },
    /// SCIM secret tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Admin API tokens (`/admin/v1/…`).
    AdminToken {
        #[command(subcommand)]
        command: AdminTokenCommand,
    },
    /// Local development helpers.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
    /// Downstream notifications (roster.notifications.v1).
    Notifications {
        #[command(subcommand)]
        command: NotificationsCommand,
    },
    /// Replay the change log into a fresh database with the projector's code; `--verify`
    /// compares the result with the live projection (exit 1 on any difference).
    Rebuild(roster_cli::rebuild::RebuildArgs),
    /// Publish a directory's notifications from the outbox to Kafka again, from a sequence, for
    /// a consumer that lost its copy (consumers deduplicate by directory and sequence).
    Replay(roster_cli::replay::ReplayArgs),
    /// The change log (roster.changes.v1): look at one event, or reject one the consumers
    /// cannot get past.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Print the event at a partition and offset as JSON: its directory, event id, change
    /// type, the whole event, its outcome, an operator's rejection, and which consumers passed it.
    Inspect(roster_cli::log::EventArgs),
    /// Reject the event at a partition and offset, so that the projector and the role-mapper
    /// move past it without applying it (audited in operator_rejections: who, when, why).
    Reject(roster_cli::log::RejectArgs),
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant (or show the one with this name); prints its id.
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum DirectoryCommand {
    /// Create a directory for a tenant (or show the one with this name); prints its id.
    Create {
        /// Tenant id or name.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a secret token for a directory. Prints the Tenant URL and the token, once.
    Issue {
        #[arg(long)]
        directory: Uuid,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Revoke a token by id; gateways stop accepting it within a second.
    Revoke {
        #[arg(long)]
        token_id: Uuid,
    },
}

#[derive(Subcommand)]
enum AdminTokenCommand {
    /// Sign an admin API token, record it, and print it (once). Made where the database is:
    /// the first operator token; every later one can come from the API.
    Issue {
        /// Who the token is for (shows in the logs).
        #[arg(long)]
        subject: String,
        /// Scope it to one tenant (id or name); without it the token is an operator's, for
        /// every tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Lifetime in hours (default `auth.admin_token_default_ttl_hours`).
        #[arg(long)]
        hours: Option<i64>,
    },
}

#[derive(Subcommand)]
enum DevCommand {
    /// Make sure a demo tenant, directory and token exist; print the Tenant URL and Secret Token.
    /// The token is kept in `state_file` and reused while it is still valid. With
    /// `--admin-token-file`, also an operator admin token for the console (kept there, reused
    /// while valid), named on stderr with the console's address.
    Bootstrap {
        #[arg(long)]
        state_file: PathBuf,
        #[arg(long)]
        admin_token_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum NotificationsCommand {
    /// Print a directory's notifications as JSON lines, from Kafka.
    Tail(notifications::TailArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings =
        Settings::load().context("loading settings (config/ and ROSTER__* variables)")?;
    let url = settings.database.url.clone();
    match cli.command {
        Command::Migrate { create_database, revert_all } => {
            if create_database && roster_store::database::create_if_missing(&url)? {
                eprintln!("created database");
            }
            let mut conn = connect(&url)?;
            let versions = if revert_all {
                roster_store::migrations::revert_all(&mut conn)?
            } else {
                roster_store::migrations::run_pending(&mut conn)?
            };
            let verb = if revert_all { "reverted" } else { "applied" };
            if versions.is_empty() {
                eprintln!("migrations: nothing to do");
            }
            for version in versions {
                eprintln!("migration {version} {verb}");
            }
        }
        Command::AdminToken { command: AdminTokenCommand::Issue { subject, tenant, hours } } => {
            use roster_platform::admin_tokens::{self, AdminScope};
            let mut conn = connect(&url)?;
            let scope = match tenant {
                None => AdminScope::Operator,
                Some(tenant) => AdminScope::Tenant(tenant_id(&mut conn, &tenant)?),
            };
            let auth = &settings.auth;
            let hours = hours.unwrap_or(i64::from(auth.admin_token_default_ttl_hours));
            if !(1..=i64::from(auth.admin_token_max_ttl_hours)).contains(&hours) {
                bail!("--hours must be between 1 and {}", auth.admin_token_max_ttl_hours);
            }
            let created_by =
                std::env::var("USER").unwrap_or_else(|_| "roster admin-token issue".into());
            let (row, token) = admin_tokens::issue_stored(
                &mut conn,
                &auth.admin_signing_key,
                &subject,
                scope,
                &created_by,
                chrono::Utc::now() + chrono::Duration::hours(hours),
            )?;
            eprintln!("admin token id: {} (expires {})", row.id, row.expires_at.to_rfc3339());
            say(token.expose_secret());
        }
        Command::Tenant { command: TenantCommand::Create { name } } => {
            let tenant = control::ensure_tenant(&mut connect(&url)?, &name)?;
            say(&tenant.id.to_string());
        }
        Command::Directory { command: DirectoryCommand::Create { tenant, name } } => {
            let mut conn = connect(&url)?;
            let tenant_id = tenant_id(&mut conn, &tenant)?;
            let directory = control::ensure_directory(&mut conn, tenant_id, &name)?;
            say(&directory.id.to_string());
        }
        Command::Token { command: TokenCommand::Issue { directory, description } } => {
            let mut conn = connect(&url)?;
            let token = issue_token(&settings, &mut conn, directory, &description)?;
            print_connection(&settings, directory, &token);
        }
        Command::Token { command: TokenCommand::Revoke { token_id } } => {
            if !control::revoke_token(&mut connect(&url)?, token_id)? {
                bail!("no token {token_id}");
            }
            eprintln!("token {token_id} revoked");
        }
        Command::Dev { command: DevCommand::Bootstrap { state_file, admin_token_file } } => {
            let mut conn = connect(&url)?;
            let tenant = control::ensure_tenant(&mut conn, "Demo Tenant")?;
            let directory = control::ensure_directory(&mut conn, tenant.id, "Demo Directory")?;
            let reusable = std::fs::read_to_string(&state_file)
                .ok()
                .map(|t| SecretString::from(t.trim().to_string()))
                .filter(|t| token_is_active(&settings, &mut conn, directory.id, t));
            let token = match reusable {
                Some(token) => token,
                None => {
                    let token = issue_token(&settings, &mut conn, directory.id, "make run")?;
                    if let Some(parent) = state_file.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::write(&state_file, token.expose_secret())?;
                    token
                }
            };
            print_connection(&settings, directory.id, &token);
            if let Some(file) = admin_token_file {
                let admin = dev_admin_token(&settings, &mut conn, &file)?;
                let console =
                    format!("{}/console", settings.gateway.base_url(settings.gateway.port));
                eprintln!(
                    "Console: {console} (sign in with the admin token in {})",
                    file.display()
                );
                eprintln!("Admin token: {}", admin.expose_secret());
            }
        }
        Command::Notifications { command: NotificationsCommand::Tail(args) } => {
            notifications::run(&settings, args)?;
        }
        Command::Rebuild(args) => {
            let rebuilt = roster_cli::rebuild::run(&settings, &args)?;
            if args.verify {
                for difference in &rebuilt.differences {
                    say(difference);
                }
                if !rebuilt.differences.is_empty() {
                    bail!(
                        "{} differences between the live and the rebuilt projection",
                        rebuilt.differences.len()
                    );
                }
                eprintln!("verify: no differences");
            }
        }
        Command::Replay(args) => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(roster_cli::replay::run(&settings, &args))?;
        }
        Command::Log { command: LogCommand::Inspect(args) } => {
            say(&serde_json::to_string_pretty(&roster_cli::log::inspect(&settings, &args)?)?);
        }
        Command::Log { command: LogCommand::Reject(args) } => {
            say(&serde_json::to_string_pretty(&roster_cli::log::reject(&settings, &args)?)?);
        }
    }
    Ok(())
}

/// A tenant named by id or by name.
fn tenant_id(conn: &mut roster_store::PgConnection, tenant: &str) -> anyhow::Result<Uuid> {
    if let Ok(id) = Uuid::parse_str(tenant) {
        return Ok(id);
    }
    Ok(control::find_tenant_by_name(conn, tenant)?
        .with_context(|| format!("no tenant named {tenant:?}"))?
        .id)
}

fn connect(url: &str) -> anyhow::Result<roster_store::PgConnection> {
    use diesel::Connection;
    roster_store::PgConnection::establish(url)
        .with_context(|| "could not connect to Postgres (is it running? see `make help`)")
}

fn issue_token(
    settings: &Settings,
    conn: &mut roster_store::PgConnection,
    directory_id: Uuid,
    description: &str,
) -> anyhow::Result<SecretString> {
    let (row, token) =
        tokens::issue_stored(conn, &settings.auth.signing_key, directory_id, description, None)?;
    eprintln!("token id: {}", row.id);
    Ok(token)
}

/// The development stack's operator admin token: the one kept in `file` while it is valid,
/// else a new one (kept there).
fn dev_admin_token(
    settings: &Settings,
    conn: &mut roster_store::PgConnection,
    file: &std::path::Path,
) -> anyhow::Result<SecretString> {
    use roster_platform::admin_tokens::{self, AdminScope};
    let key = &settings.auth.admin_signing_key;
    let kept = std::fs::read_to_string(file).ok().map(|t| t.trim().to_string());
    if let Some(token) = kept
        && let Ok(principal) = admin_tokens::verify(key, &token)
        && let Ok(Some(row)) = roster_store::admin_tokens::find(conn, principal.token_id)
        && row.status(chrono::Utc::now()) == roster_store::control::TokenStatus::Active
    {
        return Ok(SecretString::from(token));
    }
    let expires = chrono::Utc::now()
        + chrono::Duration::hours(i64::from(settings.auth.admin_token_default_ttl_hours));
    let (_, token) = admin_tokens::issue_stored(
        conn,
        key,
        "make run",
        AdminScope::Operator,
        "make run",
        expires,
    )?;
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(file, token.expose_secret())?;
    Ok(token)
}

/// A kept token is reused only if it still verifies with the current key, names this
/// directory, and is stored and not revoked.
fn token_is_active(
    settings: &Settings,
    conn: &mut roster_store::PgConnection,
    directory_id: Uuid,
    token: &SecretString,
) -> bool {
    let Ok(verified) = tokens::verify(&settings.auth.signing_key, token.expose_secret()) else {
        return false;
    };
    matches!(
        control::find_grant(conn, verified.token_id),
        Ok(Some(grant)) if verified.directory_id == directory_id
            && grant.admits(
                directory_id,
                &tokens::fingerprint(token.expose_secret()),
                chrono::Utc::now(),
            )
    )
}

/// The two lines an admin pastes into Entra (and a script can read).
fn print_connection(settings: &Settings, directory_id: Uuid, token: &SecretString) {
    let tenant_url = settings.gateway.tenant_url(settings.gateway.port, &directory_id.to_string());
    say(&format!("Tenant URL: {tenant_url}"));
    say(&format!("Secret Token: {}", token.expose_secret()));
}

/// The CLI's output on stdout (messages for people go to stderr).
#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}
