//! `roster`, the operator CLI: the admin API over HTTP (`ROSTER_API_URL`, `ROSTER_ADMIN_TOKEN`)
//! for everything but what must be done where the database is: migrations, the first admin
//! token, the development bootstrap, and the change log.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use roster_cli::commands::{self, AdminTokenApiCommand, ApiCommand, Connection};
use roster_platform::{Settings, tokens};
use roster_store::control;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

mod notifications;

#[derive(Parser)]
#[command(
    name = "roster",
    version,
    about = "Operate Roster: tenants, directories, tokens and the rest through the admin API; \
             migrations, the first admin token and the change log where the database is"
)]
struct Cli {
    #[command(flatten)]
    connection: Connection,
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
    #[command(flatten)]
    Api(ApiCommand),
    /// Admin API tokens: `issue` the first where the database is, the rest through the API.
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
    #[command(flatten)]
    Api(AdminTokenApiCommand),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let result = match cli.command {
        Command::Api(command) => commands::run(&cli.connection, command, &mut stdout),
        Command::AdminToken { command: AdminTokenCommand::Api(command) } => {
            commands::run_admin_token(&cli.connection, command, &mut stdout)
        }
        command => {
            drop(stdout);
            database_side(command)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `roster tenant list | head -1`: the reader had what it wanted.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The commands that work where the database (and the broker) is.
fn database_side(command: Command) -> anyhow::Result<()> {
    let settings =
        Settings::load().context("loading settings (config/ and ROSTER__* variables)")?;
    let url = settings.database.url.clone();
    match command {
        Command::Api(_) | Command::AdminToken { command: AdminTokenCommand::Api(_) } => {
            bail!("not a database-side command")
        }
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
                &auth.admin_keys(),
                &subject,
                scope,
                &created_by,
                chrono::Utc::now() + chrono::Duration::hours(hours),
            )?;
            eprintln!("admin token id: {} (expires {})", row.id, row.expires_at.to_rfc3339());
            say(token.expose_secret());
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
        tokens::issue_stored(conn, &settings.auth.scim_keys(), directory_id, description, None)?;
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
    let key = &settings.auth.admin_keys();
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
    let Ok(verified) = tokens::verify(&settings.auth.scim_keys(), token.expose_secret()) else {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use clap::CommandFactory;
    use roster_cli::commands::{
        DeprovisionPolicy, DirectoryCommand, EventsCommand, RoleMappingsCommand, TenantCommand,
        TokenCommand, UsersCommand,
    };

    use super::*;

    const DIRECTORY: &str = "6f1c2a7e-1b1f-4a8e-9e55-0a2f8b8e4c11";
    const TOKEN_ID: &str = "0b8e5a1c-2d3f-4e5a-9b6c-7d8e9f0a1b2c";

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("roster").chain(args.iter().copied()))
    }

    fn api(args: &[&str]) -> ApiCommand {
        match parse(args).unwrap().command {
            Command::Api(command) => command,
            _ => panic!("{args:?} is not an API command"),
        }
    }

    fn directory() -> Uuid {
        Uuid::parse_str(DIRECTORY).unwrap()
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn tenants() {
        assert!(matches!(
            api(&["tenant", "create", "--name", "Contoso"]),
            ApiCommand::Tenant { command: TenantCommand::Create { name } } if name == "Contoso"
        ));
        assert!(matches!(
            api(&["tenant", "rename", "Contoso", "--name", "Contoso Ltd"]),
            ApiCommand::Tenant { command: TenantCommand::Rename { tenant, name } }
                if tenant == "Contoso" && name == "Contoso Ltd"
        ));
        assert!(matches!(
            api(&["tenant", "list", "--all", "--jsonl", "--limit", "500"]),
            ApiCommand::Tenant { command: TenantCommand::List(list) }
                if list.all && list.jsonl && list.limit == Some(500)
        ));
        for limit in ["0", "501", "many"] {
            assert!(parse(&["tenant", "list", "--limit", limit]).is_err(), "{limit}");
        }
        assert!(parse(&["tenant", "create"]).is_err());
        assert!(parse(&["tenant", "delete"]).is_err());
    }

    #[test]
    fn directories() {
        assert!(matches!(
            api(&["directory", "create", "--tenant", "Contoso", "--name", "advisors",
                  "--deprovision-policy", "erase"]),
            ApiCommand::Directory { command: DirectoryCommand::Create {
                tenant, name, deprovision_policy: Some(DeprovisionPolicy::Erase) } }
                if tenant == "Contoso" && name == "advisors"
        ));
        assert!(matches!(
            api(&["directory", "settings", DIRECTORY, "--deprovision-policy", "tombstone"]),
            ApiCommand::Directory { command: DirectoryCommand::Settings {
                directory: d, deprovision_policy: DeprovisionPolicy::Tombstone } }
                if d == directory()
        ));
        assert!(parse(&["directory", "settings", DIRECTORY]).is_err());
        assert!(
            parse(&[
                "directory",
                "create",
                "--tenant",
                "t",
                "--name",
                "n",
                "--deprovision-policy",
                "shred"
            ])
            .is_err()
        );
        assert!(parse(&["directory", "get", "advisors"]).is_err(), "ids are UUIDs");
        assert!(parse(&["directory", "list"]).is_err(), "--tenant is required");
    }

    #[test]
    fn tokens() {
        match api(&[
            "token",
            "issue",
            "--directory",
            DIRECTORY,
            "--expires-at",
            "2027-01-31T18:00:00Z",
            "--description",
            "Entra",
        ]) {
            ApiCommand::Token {
                command: TokenCommand::Issue { directory: d, expires_at, description },
            } => {
                assert_eq!(d, directory());
                assert_eq!(expires_at.unwrap().to_rfc3339(), "2027-01-31T18:00:00+00:00");
                assert_eq!(description.as_deref(), Some("Entra"));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            parse(&["token", "issue", "--directory", DIRECTORY, "--expires-at", "tomorrow"])
                .is_err()
        );
        assert!(matches!(
            api(&["token", "revoke", "--directory", DIRECTORY, "--token-id", TOKEN_ID]),
            ApiCommand::Token { command: TokenCommand::Revoke { token_id, .. } }
                if token_id.to_string() == TOKEN_ID
        ));
        assert!(parse(&["token", "revoke", "--token-id", TOKEN_ID]).is_err());
        assert!(matches!(
            api(&["token", "list", "--directory", DIRECTORY]),
            ApiCommand::Token { command: TokenCommand::List { .. } }
        ));
    }

    #[test]
    fn role_mappings_users_groups_events() {
        assert!(matches!(
            api(&["role-mappings", "set", "--directory", DIRECTORY, "--file", "-", "--if-match", "3"]),
            ApiCommand::RoleMappings { command: RoleMappingsCommand::Set { rules, if_match: Some(3), .. } }
                if rules.file.as_os_str() == "-"
        ));
        assert!(parse(&["role-mappings", "preview", "--directory", DIRECTORY]).is_err());
        assert!(matches!(
            api(&["users", "get", "--directory", DIRECTORY, "2819c223"]),
            ApiCommand::Users { command: UsersCommand::Get { user_id, .. } } if user_id == "2819c223"
        ));
        assert!(matches!(
            api(&["users", "list", "--directory", DIRECTORY, "--user-name", "ada", "--all"]),
            ApiCommand::Users { command: UsersCommand::List { user_name: Some(p), list, .. } }
                if p == "ada" && list.all
        ));
        assert!(matches!(
            api(&["groups", "list", "--directory", DIRECTORY, "--display-name", "Lis"]),
            ApiCommand::Groups { .. }
        ));
        assert!(matches!(
            api(&["events", "list", "--directory", DIRECTORY, "--after", "42"]),
            ApiCommand::Events { command: EventsCommand::List { after: 42, .. } }
        ));
        assert!(matches!(api(&["health", "--directory", DIRECTORY]), ApiCommand::Health { .. }));
        assert!(matches!(api(&["openapi"]), ApiCommand::Openapi));
    }

    #[test]
    fn the_provisioning_log() {
        match api(&[
            "provisioning-log",
            "--directory",
            DIRECTORY,
            "--status",
            "failure",
            "--resource",
            "User",
            "--since",
            "2026-01-01T00:00:00Z",
            "--follow",
        ]) {
            ApiCommand::ProvisioningLog(args) => {
                assert_eq!(args.status.as_deref(), Some("failure"));
                assert_eq!(args.resource.as_deref(), Some("User"));
                assert!(args.since.is_some() && args.follow);
            }
            other => panic!("{other:?}"),
        }
        for status in ["success", "409", "500"] {
            assert!(
                parse(&["provisioning-log", "--directory", DIRECTORY, "--status", status]).is_ok(),
                "{status}"
            );
        }
        for status in ["failed", "40", "4090", "700"] {
            assert!(
                parse(&["provisioning-log", "--directory", DIRECTORY, "--status", status]).is_err(),
                "{status}"
            );
        }
        assert!(
            parse(&["provisioning-log", "--directory", DIRECTORY, "--follow", "--all"]).is_err()
        );
    }

    #[test]
    fn portal_links_admin_tokens_and_the_audit_log() {
        assert!(matches!(
            api(&["portal-link", "create", "--directory", DIRECTORY, "--minutes", "30"]),
            ApiCommand::PortalLink { .. }
        ));
        assert!(
            parse(&["portal-link", "create", "--directory", DIRECTORY, "--minutes", "1441"])
                .is_err()
        );
        assert!(matches!(
            parse(&["admin-token", "create", "--subject", "ops", "--tenant", "Contoso"]).unwrap().command,
            Command::AdminToken { command: AdminTokenCommand::Api(AdminTokenApiCommand::Create {
                subject, tenant: Some(tenant), expires_at: None }) }
                if subject == "ops" && tenant == "Contoso"
        ));
        assert!(matches!(
            parse(&["admin-token", "revoke", TOKEN_ID]).unwrap().command,
            Command::AdminToken {
                command: AdminTokenCommand::Api(AdminTokenApiCommand::Revoke { .. })
            }
        ));
        assert!(matches!(
            parse(&["admin-token", "list", "--jsonl"]).unwrap().command,
            Command::AdminToken { command: AdminTokenCommand::Api(AdminTokenApiCommand::List(_)) }
        ));
        assert!(matches!(
            api(&["audit-log", "--tenant", "Contoso", "--directory", DIRECTORY]),
            ApiCommand::AuditLog(args) if args.tenant.as_deref() == Some("Contoso")
        ));
    }

    #[test]
    fn the_database_side_commands_stay() {
        assert!(matches!(
            parse(&["migrate", "--create-database"]).unwrap().command,
            Command::Migrate { create_database: true, revert_all: false }
        ));
        assert!(matches!(
            parse(&[
                "admin-token",
                "issue",
                "--subject",
                "ops",
                "--tenant",
                "Contoso",
                "--hours",
                "8"
            ])
            .unwrap()
            .command,
            Command::AdminToken { command: AdminTokenCommand::Issue { hours: Some(8), .. } }
        ));
        assert!(matches!(
            parse(&["dev", "bootstrap", "--state-file", ".roster/token"]).unwrap().command,
            Command::Dev { command: DevCommand::Bootstrap { .. } }
        ));
        assert!(matches!(
            parse(&["notifications", "tail", "--directory", DIRECTORY, "--from-beginning"])
                .unwrap()
                .command,
            Command::Notifications { .. }
        ));
        assert!(matches!(
            parse(&["log", "reject", "--partition", "3", "--offset", "1234", "--reason", "poison"])
                .unwrap()
                .command,
            Command::Log { command: LogCommand::Reject(_) }
        ));
    }

    #[test]
    fn the_api_url_and_token_go_anywhere_on_the_line() {
        let cli = parse(&["--api-url", "https://roster.example.com", "tenant", "list"]).unwrap();
        assert_eq!(cli.connection.api_url, "https://roster.example.com");
        let cli = parse(&[
            "tenant",
            "list",
            "--api-url",
            "https://r.example.com",
            "--admin-token",
            "s3cr3t",
        ])
        .unwrap();
        assert_eq!(cli.connection.api_url, "https://r.example.com");
        assert_eq!(
            cli.connection.admin_token.map(|t| t.expose_secret().to_string()).as_deref(),
            Some("s3cr3t")
        );
    }

    #[test]
    fn help_never_shows_the_token_from_the_environment() {
        // clap reads the environment when it renders help; the flag must hide the value.
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("ROSTER_ADMIN_TOKEN"), "{help}");
        let arg =
            Cli::command().get_arguments().find(|a| a.get_id() == "admin_token").cloned().unwrap();
        assert!(arg.is_hide_env_values_set());
    }
}
