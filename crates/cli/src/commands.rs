//! The commands that call the admin API (design 0006): one for each operation, so an operator
//! needs the API's URL and an admin token, never the database.
//!
//! Output is JSON on stdout, pretty by default; a list is a JSON array, or one object per line
//! with `--jsonl`, and `--all` follows `nextCursor` to its end. Messages for people go to stderr.
//! `token issue` prints the two lines an admin pastes into Entra, as it always has.

use std::collections::{HashSet, VecDeque};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, FixedOffset};
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::api::{ApiError, Client, Request};

/// Where the admin API is, and the token to call it with.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The gateway's base URL (the admin API is its `/admin/v1`).
    #[arg(
        long,
        env = "ROSTER_API_URL",
        default_value = "http://127.0.0.1:8080",
        global = true,
        value_name = "URL"
    )]
    pub api_url: String,
    /// An admin token (the first is made with `roster admin-token issue`). Prefer the
    /// environment variable: other users can see a command line.
    #[arg(
        long,
        env = "ROSTER_ADMIN_TOKEN",
        hide_env_values = true,
        global = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<SecretString>,
}

impl Connection {
    /// The client, after a warning on stderr if the token would go out unencrypted.
    pub fn client(&self) -> Result<Client, ApiError> {
        let client = Client::new(&self.api_url, self.admin_token.clone())?;
        if client.is_cleartext_to_another_host() && self.admin_token.is_some() {
            eprintln!(
                "warning: the admin token goes to {} unencrypted: use an https:// URL",
                client.base_url()
            );
        }
        Ok(client)
    }
}

/// The commands of the admin API, besides `admin-token create|list|revoke`
/// ([`AdminTokenApiCommand`], beside the database-side `admin-token issue`).
#[derive(Debug, Clone, Subcommand)]
pub enum ApiCommand {
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
    /// A directory's SCIM secret tokens (what Entra authenticates with).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// A directory's rules from app roles and groups to product roles and teams.
    RoleMappings {
        #[command(subcommand)]
        command: RoleMappingsCommand,
    },
    /// A directory's users, with their product roles and teams.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// A directory's groups.
    Groups {
        #[command(subcommand)]
        command: GroupsCommand,
    },
    /// A directory's SCIM requests and their outcomes, newest first.
    ProvisioningLog(ProvisioningLogArgs),
    /// A directory's health: failures, Entra's quarantine rule, last calls, lag, token expiry.
    Health {
        /// The directory's id.
        #[arg(long)]
        directory: Uuid,
    },
    /// Links that let a customer's IT admin open one directory's console page.
    PortalLink {
        #[command(subcommand)]
        command: PortalLinkCommand,
    },
    /// Who changed what through the API or the console, newest first.
    AuditLog(AuditLogArgs),
    /// A directory's notifications, from the Events API (`notifications tail` reads Kafka).
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Print the admin API's OpenAPI document (needs no token).
    Openapi,
}

#[derive(Debug, Clone, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; prints it.
    Create {
        #[arg(long)]
        name: String,
    },
    /// List the tenants the token may see.
    List(ListArgs),
    /// Show a tenant.
    Get {
        /// Tenant id or name.
        tenant: String,
    },
    /// Rename a tenant.
    Rename {
        /// Tenant id or name.
        tenant: String,
        #[arg(long)]
        name: String,
    },
    /// Delete a tenant and, through the change log, all its directories.
    Delete {
        /// Tenant id or name.
        tenant: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum DirectoryCommand {
    /// Create a directory for a tenant; prints it, with its Tenant URL.
    Create {
        /// Tenant id or name.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// What a deprovisioned user becomes [default: the API's].
        #[arg(long, value_enum)]
        deprovision_policy: Option<DeprovisionPolicy>,
    },
    /// List a tenant's directories.
    List {
        /// Tenant id or name.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show a directory.
    Get {
        /// The directory's id.
        directory: Uuid,
    },
    /// Delete a directory (through the change log, with everything provisioned into it).
    Delete {
        /// The directory's id.
        directory: Uuid,
    },
    /// Change a directory's settings.
    Settings {
        /// The directory's id.
        directory: Uuid,
        #[arg(long, value_enum)]
        deprovision_policy: DeprovisionPolicy,
    },
}

/// What becomes of a user Entra deprovisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeprovisionPolicy {
    /// Keep a tombstone (deactivated, attributes cleared).
    Tombstone,
    /// Erase the user.
    Erase,
}

impl DeprovisionPolicy {
    fn as_str(self) -> &'static str {
        match self {
            DeprovisionPolicy::Tombstone => "tombstone",
            DeprovisionPolicy::Erase => "erase",
        }
    }
}

#[derive(Debug, Clone, Subcommand)]
pub enum TokenCommand {
    /// Issue a secret token for a directory. Prints the Tenant URL and the token, once.
    Issue {
        /// The directory's id.
        #[arg(long)]
        directory: Uuid,
        /// When it stops being accepted (RFC 3339) [default: never].
        #[arg(long, value_parser = rfc3339, value_name = "RFC3339")]
        expires_at: Option<DateTime<FixedOffset>>,
        /// What it is for (shown by `token list`).
        #[arg(long)]
        description: Option<String>,
    },
    /// List a directory's tokens (never their secrets).
    List {
        /// The directory's id.
        #[arg(long)]
        directory: Uuid,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Revoke a token; gateways stop accepting it within a second.
    Revoke {
        /// The directory's id.
        #[arg(long)]
        directory: Uuid,
        /// The token's id (`token list` shows them).
        #[arg(long)]
        token_id: Uuid,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum RoleMappingsCommand {
    /// Print the rules and their version.
    Get {
        /// The directory's id.
        #[arg(long)]
        directory: Uuid,
    },
    /// Replace the rules. The file holds the rules (`{"appRoles": …}`), or what `get` printed
    /// (its `rules` are sent, and its `version` is the If-Match unless --if-match is given).
    Set {
        /// The directory's id.
        #[arg(long)]
        directory: Uuid,
        #[command(flatten)]
        rules: RulesFile,
        /// Only if the rules still have this version (412 otherwise).
        #[arg(long, value_name = "VERSION")]
        if_match: Option<i64>,
    },
    /// Which users' roles and teams the rules would change, and how; changes nothing.
    Preview {
        /// The directory's id.
        #[arg(long)]
        directory: Uuid,
        #[command(flatten)]
        rules: RulesFile,
    },
}

/// Rules from a file, or `-` for stdin.
#[derive(Debug, Clone, Args)]
pub struct RulesFile {
    /// A JSON file of rules, or - to read them from stdin.
    #[arg(long, value_name = "PATH|-")]
    pub file: PathBuf,
}

#[derive(Debug, Clone, Subcommand)]
pub enum UsersCommand {
    /// List users, with their product roles and teams.
    List {
        /// The directory's id.
        #[arg(long)]
        directory: Uuid,
        /// Only users whose userName starts with this (any case).
        #[arg(long, value_name = "PREFIX")]
        user_name: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show one user, with its SCIM resource.
    Get {
        /// The directory's id.
        #[arg(long)]
        directory: Uuid,
        /// The user's SCIM id.
        user_id: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum GroupsCommand {
    /// List groups: member count, team, product roles.
    List {
        /// The directory's id.
        #[arg(long)]
        directory: Uuid,
        /// Only groups whose displayName starts with this.
        #[arg(long, value_name = "PREFIX")]
        display_name: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ProvisioningLogArgs {
    /// The directory's id.
    #[arg(long)]
    pub directory: Uuid,
    /// success, failure, or an HTTP status code.
    #[arg(long, value_parser = status_filter)]
    pub status: Option<String>,
    /// A resource type: User or Group.
    #[arg(long, value_name = "TYPE")]
    pub resource: Option<String>,
    /// Only entries from this time on (RFC 3339).
    #[arg(long, value_parser = rfc3339, value_name = "RFC3339")]
    pub since: Option<DateTime<FixedOffset>>,
    #[command(flatten)]
    pub list: ListArgs,
    /// Keep printing new entries (polled every 2 s), oldest first, one JSON object a line.
    #[arg(long, conflicts_with_all = ["all", "cursor"])]
    pub follow: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PortalLinkCommand {
    /// Make a link to one directory's console page, for the customer's IT admin.
    Create {
        /// The directory's id.
        #[arg(long)]
        directory: Uuid,
        /// How long the link is valid, in minutes [default: the API's, 60].
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1440))]
        minutes: Option<u32>,
    },
}

/// `admin-token create|list|revoke`, through the API.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminTokenApiCommand {
    /// Create an admin token (through the API); prints it, once.
    Create {
        /// Who the token is for (shows in the audit log).
        #[arg(long)]
        subject: String,
        /// Scope it to one tenant (id or name); without it the token is an operator's.
        #[arg(long)]
        tenant: Option<String>,
        /// When it expires (RFC 3339) [default: the API's, 30 days].
        #[arg(long, value_parser = rfc3339, value_name = "RFC3339")]
        expires_at: Option<DateTime<FixedOffset>>,
    },
    /// List admin tokens (never their secrets).
    List(ListArgs),
    /// Revoke an admin token.
    Revoke {
        /// The admin token's id (`admin-token list` shows them).
        token_id: Uuid,
    },
}

#[derive(Debug, Clone, Args)]
pub struct AuditLogArgs {
    /// Only this tenant's entries (id or name).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only this directory's entries.
    #[arg(long)]
    pub directory: Option<Uuid>,
    #[command(flatten)]
    pub list: ListArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum EventsCommand {
    /// List notifications after a sequence, oldest first.
    List {
        /// The directory's id.
        #[arg(long)]
        directory: Uuid,
        /// Only notifications after this sequence.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Notifications per page (1–1000) [default: the API's, 100].
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: Option<u32>,
        /// Go on until the last notification.
        #[arg(long)]
        all: bool,
        /// One JSON object per line instead of a pretty JSON array.
        #[arg(long)]
        jsonl: bool,
    },
}

/// Paging and the form of a list.
#[derive(Debug, Clone, Default, Args)]
pub struct ListArgs {
    /// Items per page (1–500) [default: the API's, 100].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: Option<u32>,
    /// Start at this page (the `nextCursor` a previous page gave).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Follow `nextCursor` to the end of the list.
    #[arg(long)]
    pub all: bool,
    /// One JSON object per line instead of a pretty JSON array.
    #[arg(long)]
    pub jsonl: bool,
}

fn rfc3339(text: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("{e}: expected an RFC 3339 time such as 2026-01-31T18:00:00Z"))
}

fn status_filter(text: &str) -> Result<String, String> {
    match text {
        "success" | "failure" => Ok(text.to_string()),
        code if code.len() == 3 && code.parse::<u16>().is_ok_and(|c| (100..600).contains(&c)) => {
            Ok(code.to_string())
        }
        _ => Err("expected success, failure or an HTTP status code such as 409".into()),
    }
}

/// Run a command of the API, writing its output to `out`.
pub fn run(
    connection: &Connection,
    command: ApiCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let client = connection.client()?;
    let mut out = Output { out };
    match command {
        ApiCommand::Tenant { command } => tenant(&client, command, &mut out),
        ApiCommand::Directory { command } => directory(&client, command, &mut out),
        ApiCommand::Token { command } => token(&client, command, &mut out),
        ApiCommand::RoleMappings { command } => role_mappings(&client, command, &mut out),
        ApiCommand::Users { command: UsersCommand::List { directory, user_name, list: args } } => {
            let request = Request::get(&["directories", &directory.to_string(), "users"])
                .query("userName", user_name);
            list(&client, &request, &args, &mut out)
        }
        ApiCommand::Users { command: UsersCommand::Get { directory, user_id } } => {
            let path = ["directories", &directory.to_string(), "users", &user_id];
            out.pretty(&client.send(Request::get(&path))?.into_body())
        }
        ApiCommand::Groups {
            command: GroupsCommand::List { directory, display_name, list: args },
        } => {
            let request = Request::get(&["directories", &directory.to_string(), "groups"])
                .query("displayName", display_name);
            list(&client, &request, &args, &mut out)
        }
        ApiCommand::ProvisioningLog(args) => provisioning_log(&client, args, &mut out),
        ApiCommand::Health { directory } => {
            let path = ["directories", &directory.to_string(), "health"];
            out.pretty(&client.send(Request::get(&path))?.into_body())
        }
        ApiCommand::PortalLink { command: PortalLinkCommand::Create { directory, minutes } } => {
            let mut body = Map::new();
            if let Some(minutes) = minutes {
                body.insert("expiresInMinutes".into(), minutes.into());
            }
            let path = ["directories", &directory.to_string(), "portal-links"];
            let request = Request::new(Method::POST, &path).json(Value::Object(body));
            out.pretty(&client.send(request)?.into_body())
        }
        ApiCommand::AuditLog(AuditLogArgs { tenant, directory, list: args }) => {
            let tenant = tenant.map(|t| tenant_id(&client, &t)).transpose()?;
            let request = Request::get(&["audit-log"])
                .query("tenantId", tenant)
                .query("directoryId", directory);
            list(&client, &request, &args, &mut out)
        }
        ApiCommand::Events {
            command: EventsCommand::List { directory, after, limit, all, jsonl },
        } => events(&client, directory, after, limit, all, jsonl, &mut out),
        ApiCommand::Openapi => {
            out.pretty(&client.send_anonymous(Request::get(&["openapi.json"]))?.into_body())
        }
    }
}

/// Run `admin-token create|list|revoke`.
pub fn run_admin_token(
    connection: &Connection,
    command: AdminTokenApiCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let client = connection.client()?;
    let mut out = Output { out };
    match command {
        AdminTokenApiCommand::Create { subject, tenant, expires_at } => {
            let mut body = Map::new();
            body.insert("subject".into(), subject.into());
            if let Some(tenant) = tenant {
                body.insert("tenantId".into(), tenant_id(&client, &tenant)?.into());
            }
            if let Some(at) = expires_at {
                body.insert("expiresAt".into(), at.to_rfc3339().into());
            }
            let request = Request::new(Method::POST, &["admin-tokens"]).json(Value::Object(body));
            let created = client.send(request)?.into_body();
            out.pretty(&created)?;
            eprintln!("the token is shown this once: keep it in a secret store");
            Ok(())
        }
        AdminTokenApiCommand::List(args) => {
            list(&client, &Request::get(&["admin-tokens"]), &args, &mut out)
        }
        AdminTokenApiCommand::Revoke { token_id } => {
            let path = ["admin-tokens", &token_id.to_string()];
            client.send(Request::new(Method::DELETE, &path))?;
            eprintln!("admin token {token_id} revoked");
            Ok(())
        }
    }
}

fn tenant(client: &Client, command: TenantCommand, out: &mut Output) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create { name } => {
            let request = Request::new(Method::POST, &["tenants"]).json(json!({ "name": name }));
            out.pretty(&client.send(request)?.into_body())
        }
        TenantCommand::List(args) => list(client, &Request::get(&["tenants"]), &args, out),
        TenantCommand::Get { tenant } => {
            let id = tenant_id(client, &tenant)?;
            out.pretty(&client.send(Request::get(&["tenants", &id]))?.into_body())
        }
        TenantCommand::Rename { tenant, name } => {
            let id = tenant_id(client, &tenant)?;
            let request =
                Request::new(Method::PATCH, &["tenants", &id]).json(json!({ "name": name }));
            out.pretty_if_any(client.send(request)?.body)
        }
        TenantCommand::Delete { tenant } => {
            let id = tenant_id(client, &tenant)?;
            client.send(Request::new(Method::DELETE, &["tenants", &id]))?;
            eprintln!("tenant {id} deleted, with its directories");
            Ok(())
        }
    }
}

fn directory(client: &Client, command: DirectoryCommand, out: &mut Output) -> anyhow::Result<()> {
    match command {
        DirectoryCommand::Create { tenant, name, deprovision_policy } => {
            let tenant = tenant_id(client, &tenant)?;
            let mut body = json!({ "name": name });
            if let Some(policy) = deprovision_policy {
                body["deprovisionPolicy"] = policy.as_str().into();
            }
            let request =
                Request::new(Method::POST, &["tenants", &tenant, "directories"]).json(body);
            out.pretty(&client.send(request)?.into_body())
        }
        DirectoryCommand::List { tenant, list: args } => {
            let tenant = tenant_id(client, &tenant)?;
            list(client, &Request::get(&["tenants", &tenant, "directories"]), &args, out)
        }
        DirectoryCommand::Get { directory } => {
            let path = ["directories", &directory.to_string()];
            out.pretty(&client.send(Request::get(&path))?.into_body())
        }
        DirectoryCommand::Delete { directory } => {
            client.send(Request::new(Method::DELETE, &["directories", &directory.to_string()]))?;
            eprintln!("directory {directory} deleted");
            Ok(())
        }
        DirectoryCommand::Settings { directory, deprovision_policy } => {
            let path = ["directories", &directory.to_string(), "settings"];
            let body = json!({ "deprovisionPolicy": deprovision_policy.as_str() });
            out.pretty_if_any(client.send(Request::new(Method::PUT, &path).json(body))?.body)
        }
    }
}

fn token(client: &Client, command: TokenCommand, out: &mut Output) -> anyhow::Result<()> {
    match command {
        TokenCommand::Issue { directory, expires_at, description } => {
            let mut body = Map::new();
            if let Some(at) = expires_at {
                body.insert("expiresAt".into(), at.to_rfc3339().into());
            }
            if let Some(description) = description {
                body.insert("description".into(), description.into());
            }
            let path = ["directories", &directory.to_string(), "tokens"];
            let request = Request::new(Method::POST, &path).json(Value::Object(body));
            let issued = client.send(request)?.into_body();
            let field = |name: &str| {
                issued
                    .get(name)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .with_context(|| format!("the API's answer to token issue has no {name:?}"))
            };
            let (tenant_url, secret) = (field("tenantUrl")?, field("token")?);
            if let Some(id) = issued.get("id").and_then(Value::as_str) {
                eprintln!("token id: {id}");
            }
            // The two lines an admin pastes into Entra (and a script can read).
            out.line(&format!("Tenant URL: {tenant_url}"))?;
            out.line(&format!("Secret Token: {secret}"))
        }
        TokenCommand::List { directory, list: args } => list(
            client,
            &Request::get(&["directories", &directory.to_string(), "tokens"]),
            &args,
            out,
        ),
        TokenCommand::Revoke { directory, token_id } => {
            let path = ["directories", &directory.to_string(), "tokens", &token_id.to_string()];
            client.send(Request::new(Method::DELETE, &path))?;
            eprintln!("token {token_id} revoked");
            Ok(())
        }
    }
}

fn role_mappings(
    client: &Client,
    command: RoleMappingsCommand,
    out: &mut Output,
) -> anyhow::Result<()> {
    match command {
        RoleMappingsCommand::Get { directory } => {
            let path = ["directories", &directory.to_string(), "role-mappings"];
            out.pretty(&client.send(Request::get(&path))?.into_body())
        }
        RoleMappingsCommand::Set { directory, rules, if_match } => {
            let (rules, version) = read_rules(&rules.file)?;
            let path = ["directories", &directory.to_string(), "role-mappings"];
            let request =
                Request::new(Method::PUT, &path).json(rules).if_match(if_match.or(version));
            out.pretty(&client.send(request)?.into_body())
        }
        RoleMappingsCommand::Preview { directory, rules } => {
            let (rules, _) = read_rules(&rules.file)?;
            let path = ["directories", &directory.to_string(), "role-mappings", "preview"];
            out.pretty(&client.send(Request::new(Method::POST, &path).json(rules))?.into_body())
        }
    }
}

/// The rules in a file (or stdin), and the version they were read at if the file is what
/// `role-mappings get` printed (`{"version", "rules", …}`: rules have no `rules` member).
fn read_rules(file: &std::path::Path) -> anyhow::Result<(Value, Option<i64>)> {
    let text = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("reading the rules from stdin")?;
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let document: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    Ok(unwrap_rules(document))
}

fn unwrap_rules(document: Value) -> (Value, Option<i64>) {
    match document {
        Value::Object(mut object) if object.get("rules").is_some_and(Value::is_object) => {
            let version = object.get("version").and_then(Value::as_i64);
            (object.remove("rules").unwrap_or_default(), version)
        }
        rules => (rules, None),
    }
}

/// How often `provisioning-log --follow` asks for new entries.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(2);
/// The most pages one poll of `--follow` reads (a burst beyond is printed in part).
const FOLLOW_MAX_PAGES: usize = 10;
/// How many entries `--follow` remembers having printed.
const FOLLOW_MEMORY: usize = 20_000;

fn provisioning_log(
    client: &Client,
    args: ProvisioningLogArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let request = Request::get(&["directories", &args.directory.to_string(), "provisioning-log"])
        .query("status", args.status)
        .query("resource", args.resource)
        .query("since", args.since.map(|t| t.to_rfc3339()));
    if args.follow {
        follow(client, &request, args.list.limit, out, FOLLOW_INTERVAL, None)
    } else {
        list(client, &request, &args.list, out)
    }
}

/// Print the newest entries, oldest first, then every `interval` the ones not printed yet
/// (newest-first pages are read until one holds an entry already printed, so entries written
/// late, behind newer ones, are still found). An unreachable gateway or a 5xx is reported and
/// tried again; any other error ends it. `polls` bounds it for tests.
fn follow(
    client: &Client,
    request: &Request,
    limit: Option<u32>,
    out: &mut Output,
    interval: Duration,
    polls: Option<usize>,
) -> anyhow::Result<()> {
    let mut printed = Remembered::new(FOLLOW_MEMORY);
    let first = client.page(request, None, limit)?;
    for item in &oldest_first(first.items) {
        printed.insert(entry_key(item));
        out.compact(item)?;
    }
    let mut poll = 0;
    while polls.is_none_or(|max| poll < max) {
        poll += 1;
        std::thread::sleep(interval);
        let mut fresh = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..FOLLOW_MAX_PAGES {
            let page = match client.page(request, cursor.as_deref(), limit) {
                Ok(page) => page,
                Err(e) if transient(&e) => {
                    eprintln!("warning: {e} (trying again)");
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            let mut reached_printed = false;
            for item in page.items {
                if printed.insert(entry_key(&item)) {
                    fresh.push(item);
                } else {
                    reached_printed = true;
                }
            }
            match page.next_cursor {
                Some(next) if !reached_printed => cursor = Some(next),
                _ => break,
            }
        }
        for item in &oldest_first(fresh) {
            out.compact(item)?;
        }
    }
    Ok(())
}

/// Entries of a newest-first page in the order they happened: by their `time` (RFC 3339 in
/// UTC, which sorts as text) where they all have one, else the page's order reversed.
fn oldest_first(mut entries: Vec<Value>) -> Vec<Value> {
    entries.reverse();
    if entries.iter().all(|e| e.get("time").is_some_and(Value::is_string)) {
        entries.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
    }
    entries
}

fn transient(error: &ApiError) -> bool {
    match error {
        ApiError::Unreachable { .. } => true,
        ApiError::Status { status, .. } => *status >= 500,
        _ => false,
    }
}

/// What tells provisioning-log entries apart: their id, or the whole entry.
fn entry_key(entry: &Value) -> String {
    match entry.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(id @ Value::Number(_)) => id.to_string(),
        _ => entry.to_string(),
    }
}

/// A set that forgets its oldest members beyond a size.
struct Remembered {
    order: VecDeque<String>,
    set: HashSet<String>,
    capacity: usize,
}

impl Remembered {
    fn new(capacity: usize) -> Remembered {
        Remembered { order: VecDeque::new(), set: HashSet::new(), capacity }
    }

    /// True if it was not there.
    fn insert(&mut self, key: String) -> bool {
        if !self.set.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        true
    }
}

/// The Events API: `{"notifications": […], "next_after": N}`, oldest first.
fn events(
    client: &Client,
    directory: Uuid,
    mut after: u64,
    limit: Option<u32>,
    all: bool,
    jsonl: bool,
    out: &mut Output,
) -> anyhow::Result<()> {
    let path = ["directories", &directory.to_string(), "notifications"];
    let mut collected = Vec::new();
    loop {
        let request = Request::get(&path).query("after", Some(after)).query("limit", limit);
        let url = client.base_url();
        let body = client.send(request)?.into_body();
        let unexpected =
            |cause: &str| ApiError::Unexpected { url: url.clone(), cause: cause.into() };
        let items = body
            .get("notifications")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| unexpected("no \"notifications\" array"))?;
        let next = body
            .get("next_after")
            .and_then(Value::as_u64)
            .ok_or_else(|| unexpected("no \"next_after\" sequence"))?;
        let empty = items.is_empty();
        for item in items {
            if jsonl { out.compact(&item)? } else { collected.push(item) }
        }
        if empty || next <= after {
            break;
        }
        after = next;
        if !all {
            eprintln!("more after this: --after {after} (or --all)");
            break;
        }
    }
    if !jsonl {
        out.pretty(&Value::Array(collected))?;
    }
    Ok(())
}

/// A list of the API, one page or (`--all`) every page, as a JSON array or JSON lines.
fn list(
    client: &Client,
    request: &Request,
    args: &ListArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let mut cursor = args.cursor.clone();
    let mut collected = Vec::new();
    loop {
        let page = client.page(request, cursor.as_deref(), args.limit)?;
        for item in page.items {
            if args.jsonl { out.compact(&item)? } else { collected.push(item) }
        }
        match page.next_cursor {
            Some(next) if cursor.as_deref() == Some(next.as_str()) => {
                bail!("the API gave the cursor {next:?} again: stopping")
            }
            Some(next) if args.all => cursor = Some(next),
            Some(next) => {
                eprintln!("more: --cursor {next} (or --all)");
                break;
            }
            None => break,
        }
    }
    if !args.jsonl {
        out.pretty(&Value::Array(collected))?;
    }
    Ok(())
}

/// A tenant given by id or by name: a name is looked up among the tenants the token sees.
fn tenant_id(client: &Client, tenant: &str) -> anyhow::Result<String> {
    if let Ok(id) = Uuid::parse_str(tenant) {
        return Ok(id.to_string());
    }
    let request = Request::get(&["tenants"]);
    let mut cursor: Option<String> = None;
    let mut found = Vec::new();
    loop {
        let page = client.page(&request, cursor.as_deref(), Some(500))?;
        found.extend(
            page.items
                .into_iter()
                .filter(|t| t["name"] == tenant)
                .filter_map(|t| t.get("id").and_then(Value::as_str).map(str::to_string)),
        );
        match page.next_cursor {
            Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
            _ => break,
        }
    }
    match found.as_slice() {
        [id] => Ok(id.clone()),
        [] => bail!("no tenant named {tenant:?}"),
        _ => bail!("{} tenants are named {tenant:?}: give the id", found.len()),
    }
}

/// Where a command's output goes.
struct Output<'a> {
    out: &'a mut dyn Write,
}

impl Output<'_> {
    fn pretty(&mut self, value: &Value) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        self.line(&text)
    }

    fn pretty_if_any(&mut self, value: Option<Value>) -> anyhow::Result<()> {
        value.map_or(Ok(()), |v| self.pretty(&v))
    }

    fn compact(&mut self, value: &Value) -> anyhow::Result<()> {
        self.line(&value.to_string())
    }

    fn line(&mut self, text: &str) -> anyhow::Result<()> {
        writeln!(self.out, "{text}").and_then(|()| self.out.flush()).context("writing to stdout")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::testing::{Canned, Server};

    const DIRECTORY: &str = "6f1c2a7e-1b1f-4a8e-9e55-0a2f8b8e4c11";

    fn connection(server: &Server) -> Connection {
        Connection { api_url: server.url(), admin_token: Some(SecretString::from("t0ken")) }
    }

    fn output(server: &Server, command: ApiCommand) -> (anyhow::Result<()>, String) {
        let mut out = Vec::new();
        let result = run(&connection(server), command, &mut out);
        (result, String::from_utf8(out).unwrap())
    }

    fn directory() -> Uuid {
        Uuid::parse_str(DIRECTORY).unwrap()
    }

    fn list_args(all: bool, jsonl: bool) -> ListArgs {
        ListArgs { limit: None, cursor: None, all, jsonl }
    }

    #[test]
    fn token_issue_prints_the_two_lines_entra_needs() {
        let issued = json!({
            "id": "0b8e…", "token": "eyJ.secret", "tenantUrl": "https://r.example.com/scim/v2/6f1c",
            "description": "entra", "expiresAt": null,
        });
        let server = Server::start(vec![Canned::json(201, "application/json", &issued)]);
        let command = ApiCommand::Token {
            command: TokenCommand::Issue {
                directory: directory(),
                expires_at: Some(rfc3339("2027-01-31T18:00:00+01:00").unwrap()),
                description: Some("entra".into()),
            },
        };
        let (result, out) = output(&server, command);
        result.unwrap();
        assert_eq!(
            out,
            "Tenant URL: https://r.example.com/scim/v2/6f1c\nSecret Token: eyJ.secret\n"
        );
        let request = server.request(0);
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, format!("/admin/v1/directories/{DIRECTORY}/tokens"));
        assert_eq!(
            request.json(),
            json!({"expiresAt": "2027-01-31T18:00:00+01:00", "description": "entra"})
        );
    }

    #[test]
    fn a_list_follows_next_cursor_with_all() {
        let server = Server::start(vec![
            Canned::ok(&json!({"items": [{"id": "a"}, {"id": "b"}], "nextCursor": "c1"})),
            Canned::ok(&json!({"items": [{"id": "c"}], "nextCursor": null})),
        ]);
        let command = ApiCommand::Users {
            command: UsersCommand::List {
                directory: directory(),
                user_name: Some("ada".into()),
                list: ListArgs { limit: Some(2), ..list_args(true, true) },
            },
        };
        let (result, out) = output(&server, command);
        result.unwrap();
        assert_eq!(out, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n");
        let users = format!("/admin/v1/directories/{DIRECTORY}/users");
        assert_eq!(server.request(0).path, format!("{users}?userName=ada&limit=2"));
        assert_eq!(server.request(1).path, format!("{users}?userName=ada&cursor=c1&limit=2"));
    }

    #[test]
    fn a_list_is_one_page_as_a_json_array_without_all() {
        let server =
            Server::start(vec![Canned::ok(&json!({"items": [{"id": "a"}], "nextCursor": "c1"}))]);
        let command = ApiCommand::Tenant { command: TenantCommand::List(list_args(false, false)) };
        let (result, out) = output(&server, command);
        result.unwrap();
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!([{"id": "a"}]));
        assert!(out.contains("\n  "), "pretty: {out}");
        assert_eq!(server.requests().len(), 1);
    }

    #[test]
    fn a_tenant_may_be_named() {
        let tenants = json!({"items": [
            {"id": "11111111-1111-4111-8111-111111111111", "name": "Contoso"},
            {"id": "22222222-2222-4222-8222-222222222222", "name": "Fabrikam"},
        ], "nextCursor": null});
        let created =
            json!({"id": DIRECTORY, "name": "advisors", "tenantUrl": "http://x/scim/v2/6f1c"});
        let server = Server::start(vec![
            Canned::ok(&tenants),
            Canned::json(201, "application/json", &created),
            Canned::ok(&tenants),
        ]);
        let create = |tenant: &str| ApiCommand::Directory {
            command: DirectoryCommand::Create {
                tenant: tenant.into(),
                name: "advisors".into(),
                deprovision_policy: Some(DeprovisionPolicy::Erase),
            },
        };
        let (result, out) = output(&server, create("Fabrikam"));
        result.unwrap();
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), created);
        let request = server.request(1);
        assert_eq!(
            request.path,
            "/admin/v1/tenants/22222222-2222-4222-8222-222222222222/directories"
        );
        assert_eq!(request.json(), json!({"name": "advisors", "deprovisionPolicy": "erase"}));
        let (result, _) = output(&server, create("Northwind"));
        assert_eq!(result.unwrap_err().to_string(), "no tenant named \"Northwind\"");
    }

    #[test]
    fn an_api_error_is_the_error_of_the_command() {
        let server =
            Server::start(vec![Canned::problem(404, &format!("no directory {DIRECTORY}"))]);
        let (result, out) = output(&server, ApiCommand::Health { directory: directory() });
        assert_eq!(format!("{:#}", result.unwrap_err()), format!("404 no directory {DIRECTORY}"));
        assert_eq!(out, "");
    }

    #[test]
    fn rules_as_get_printed_them_carry_their_version() {
        let printed = json!({"version": 3, "rules": {"defaultRole": "member"}, "changedAt": "…"});
        assert_eq!(unwrap_rules(printed), (json!({"defaultRole": "member"}), Some(3)));
        let rules = json!({"appRoles": [], "defaultRole": "member"});
        assert_eq!(unwrap_rules(rules.clone()), (rules, None));

        let dir = std::env::temp_dir().join(format!("roster-cli-rules-{}", Uuid::new_v4()));
        std::fs::write(&dir, r#"{"version": 3, "rules": {"defaultRole": "member"}}"#).unwrap();
        let server = Server::start(vec![Canned::ok(&json!({"version": 4})); 2]);
        for if_match in [None, Some(7)] {
            let command = ApiCommand::RoleMappings {
                command: RoleMappingsCommand::Set {
                    directory: directory(),
                    rules: RulesFile { file: dir.clone() },
                    if_match,
                },
            };
            output(&server, command).0.unwrap();
        }
        let _ = std::fs::remove_file(&dir);
        assert_eq!(server.request(0).header("if-match").as_deref(), Some("\"3\""));
        assert_eq!(server.request(1).header("if-match").as_deref(), Some("\"7\""));
        assert_eq!(server.request(0).json(), json!({"defaultRole": "member"}));
        assert_eq!(server.request(0).method, "PUT");
    }

    #[test]
    fn follow_prints_new_entries_oldest_first_once() {
        let page = |ids: &[&str]| {
            let items: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
            Canned::ok(&json!({"items": items, "nextCursor": "more"}))
        };
        let server = Server::start(vec![
            page(&["b", "a"]),
            // `x` was written late, behind `b`: it is still printed, once.
            page(&["d", "c", "b", "x", "a"]),
            Canned::problem(503, "the log is busy"),
            page(&["e", "d"]),
        ]);
        let client = connection(&server).client().unwrap();
        let request = Request::get(&["directories", DIRECTORY, "provisioning-log"])
            .query("status", Some("failure"));
        let mut out = Vec::new();
        follow(&client, &request, None, &mut Output { out: &mut out }, Duration::ZERO, Some(3))
            .unwrap();
        let ids: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["a", "b", "x", "c", "d", "e"]);
        assert!(server.requests().iter().all(|r| r.path.contains("status=failure")));
        assert!(!server.requests().iter().any(|r| r.path.contains("cursor")));
    }

    #[test]
    fn events_follow_next_after() {
        let server = Server::start(vec![
            Canned::ok(
                &json!({"notifications": [{"sequence": 1}, {"sequence": 2}], "next_after": 2}),
            ),
            Canned::ok(&json!({"notifications": [], "next_after": 2})),
        ]);
        let command = ApiCommand::Events {
            command: EventsCommand::List {
                directory: directory(),
                after: 0,
                limit: Some(2),
                all: true,
                jsonl: false,
            },
        };
        let (result, out) = output(&server, command);
        result.unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap(),
            json!([{"sequence": 1}, {"sequence": 2}])
        );
        let path = format!("/admin/v1/directories/{DIRECTORY}/notifications");
        assert_eq!(server.request(0).path, format!("{path}?after=0&limit=2"));
        assert_eq!(server.request(1).path, format!("{path}?after=2&limit=2"));
    }

    #[test]
    fn follow_prints_in_the_order_of_time() {
        let entry = |id: i64, time: &str| json!({"id": id, "time": time});
        let page = vec![
            entry(1, "2026-12-06T20:16:27.974Z"),
            entry(4, "2026-12-06T20:16:27.804Z"),
            entry(3, "2026-12-06T20:16:27.858Z"),
        ];
        let ids = |entries: Vec<Value>| entries.iter().map(|e| e["id"].clone()).collect::<Vec<_>>();
        assert_eq!(ids(oldest_first(page)), [json!(4), json!(3), json!(1)]);
        // Without times, the newest-first page reversed.
        let page = vec![json!({"id": 2}), json!({"id": 1, "time": "x"})];
        assert_eq!(ids(oldest_first(page)), [json!(1), json!(2)]);
    }

    #[test]
    fn remembered_forgets_the_oldest() {
        let mut seen = Remembered::new(2);
        assert!(seen.insert("a".into()));
        assert!(!seen.insert("a".into()));
        assert!(seen.insert("b".into()));
        assert!(seen.insert("c".into()));
        assert!(seen.insert("a".into()), "a was forgotten");
        assert!(!seen.insert("c".into()));
    }
}
