//! The `roster` CLI as an operator runs it: the built binary, an API URL and an admin token,
//! against the real gateway (no database access from the CLI).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use roster_integration_tests::{TestApp, entra_user, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

/// The `roster` binary, built (or found up to date) once per test run, so that the process run
/// is the code under test.
fn roster_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = Command::new(cargo);
            build.current_dir(&workspace).args([
                "build",
                "--quiet",
                "-p",
                "roster-cli",
                "--bin",
                "roster",
            ]);
            // What cargo set for this test binary is not the build's environment: ring's build
            // script reruns when CARGO_MANIFEST_DIR changes, and with it everything above ring.
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy();
                if [
                    "CARGO_MANIFEST_",
                    "CARGO_PKG_",
                    "CARGO_CRATE_",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                ]
                .iter()
                .any(|prefix| name.starts_with(prefix))
                {
                    build.env_remove(name.as_ref());
                }
            }
            let status = build.status().expect("run cargo build");
            assert!(status.success(), "building roster failed");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace.join("target"));
            target.join("debug/roster")
        })
        .clone()
}

/// `roster` with an API URL and an admin token in its environment, as an operator sets them.
#[derive(Clone)]
struct Roster {
    api_url: String,
    token: String,
}

/// What a run of `roster` did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Roster {
    /// Run it (on the blocking pool: the gateway serves this test from the same runtime).
    async fn run(&self, args: &[&str]) -> Run {
        let this = self.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let output: Output = tokio::task::spawn_blocking(move || {
            Command::new(roster_binary())
                .args(&args)
                .env("ROSTER_API_URL", &this.api_url)
                .env("ROSTER_ADMIN_TOKEN", &this.token)
                .output()
                .expect("run roster")
        })
        .await
        .unwrap();
        Run {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Run it; it must succeed. Returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert_eq!(run.code, Some(0), "roster {args:?} failed: {}", run.stderr);
        run.stdout
    }

    /// Run it; it must succeed and print one JSON document.
    async fn json(&self, args: &[&str]) -> Value {
        let stdout = self.ok(args).await;
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("roster {args:?}: {e}: {stdout}"))
    }

    /// Run it; it must fail with exit code 1 and one line on stderr, which is returned.
    async fn fails(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert_eq!(run.code, Some(1), "roster {args:?}: {} {}", run.stdout, run.stderr);
        assert_eq!(run.stdout, "", "roster {args:?} printed on stdout");
        assert_eq!(run.stderr.lines().count(), 1, "roster {args:?}: {}", run.stderr);
        assert!(!run.stderr.contains(&self.token), "the admin token is in {}", run.stderr);
        run.stderr.trim_end().to_string()
    }
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap_or_else(|| panic!("no id in {value}")).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_creates_a_tenant_a_directory_and_a_token_then_revokes_it() {
    let app = TestApp::spawn().await;
    let roster = Roster { api_url: app.base_url.clone(), token: app.admin_token(None) };

    let tenant = roster.json(&["tenant", "create", "--name", "CLI Tenant"]).await;
    let tenant_id = id(&tenant);
    assert_eq!(tenant["name"], "CLI Tenant");
    // A tenant may be named instead of given by id.
    let directory = roster
        .json(&[
            "directory",
            "create",
            "--tenant",
            "CLI Tenant",
            "--name",
            "advisors",
            "--deprovision-policy",
            "erase",
        ])
        .await;
    let directory_id = id(&directory);
    assert_eq!(directory["tenantId"], tenant_id.as_str());
    assert_eq!(directory["deprovisionPolicy"], "erase");
    let listed = roster.ok(&["directory", "list", "--tenant", &tenant_id, "--jsonl"]).await;
    let listed: Vec<Value> = listed.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(id(&listed[0]), directory_id);

    // The two lines an admin pastes into Entra, as the DB-side command printed them.
    let issued = roster
        .run(&["token", "issue", "--directory", &directory_id, "--description", "cli test"])
        .await;
    assert_eq!(issued.code, Some(0), "{}", issued.stderr);
    let lines: Vec<&str> = issued.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", issued.stdout);
    let tenant_url = lines[0].strip_prefix("Tenant URL: ").expect("a Tenant URL line");
    let secret = lines[1].strip_prefix("Secret Token: ").expect("a Secret Token line");
    assert_eq!(tenant_url, directory["tenantUrl"].as_str().unwrap());
    assert_eq!(tenant_url, format!("{}/scim/v2/{directory_id}", app.base_url));
    let scim_status = || async {
        let response =
            app.client.get(format!("{tenant_url}/Users")).bearer_auth(secret).send().await;
        response.unwrap().status().as_u16()
    };
    assert_eq!(scim_status().await, 200);

    // Listed, never with its secret.
    let tokens = roster.json(&["token", "list", "--directory", &directory_id]).await;
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0]["description"], "cli test");
    assert!(!tokens[0].to_string().contains(secret));
    let token_id = id(&tokens[0]);
    assert!(issued.stderr.contains(&token_id), "the token id is told: {}", issued.stderr);

    roster.ok(&["token", "revoke", "--directory", &directory_id, "--token-id", &token_id]).await;
    eventually(Duration::from_secs(5), "the revoked token to be refused", || async {
        (scim_status().await == 401).then_some(())
    })
    .await;

    // Errors are one line and exit 1.
    let missing = Uuid::new_v4().to_string();
    let error = roster.fails(&["directory", "get", &missing]).await;
    assert!(error.starts_with("error: 404 "), "{error}");
    let error = roster.fails(&["directory", "create", "--tenant", "Nobody", "--name", "x"]).await;
    assert_eq!(error, "error: no tenant named \"Nobody\"");
    let forged = Roster { token: "not-an-admin-token".into(), ..roster.clone() };
    let error = forged.fails(&["tenant", "list"]).await;
    assert!(error.starts_with("error: 401 "), "{error}");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let gone = Roster { api_url: format!("http://127.0.0.1:{port}"), ..roster.clone() };
    let error = gone.fails(&["tenant", "list"]).await;
    assert!(
        error.starts_with(&format!(
            "error: could not reach the admin API at http://127.0.0.1:{port}/"
        )),
        "{error}"
    );
}

/// A file of the test, removed with the value.
struct TempFile(PathBuf);

impl TempFile {
    fn json(value: &Value) -> TempFile {
        let path = std::env::temp_dir().join(format!("roster-cli-{}.json", Uuid::new_v4()));
        std::fs::write(&path, value.to_string()).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_reads_and_changes_a_directory_through_the_api() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let roster = Roster { api_url: app.base_url.clone(), token: app.admin_token(None) };
    let dir = app.directory_id.to_string();
    let tenant = app.tenant_id.to_string();
    let created = app.post_user(&entra_user("ada@contoso.com")).await;
    assert_eq!(created.status(), 201);
    let user_id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();

    // Rules: what `get` printed, edited, is what `set` takes, with its version as If-Match.
    let mut rules = roster.json(&["role-mappings", "get", "--directory", &dir]).await;
    assert_eq!(rules["version"], 0);
    rules["rules"] = json!({"appRoles": [], "groups": [], "defaultRole": "member"});
    let file = TempFile::json(&rules);
    let preview = roster
        .json(&["role-mappings", "preview", "--directory", &dir, "--file", file.path()])
        .await;
    assert_eq!(preview["usersEvaluated"], 1, "{preview}");
    let set =
        roster.json(&["role-mappings", "set", "--directory", &dir, "--file", file.path()]).await;
    assert_eq!(set["version"], 1, "{set}");
    // The same file again: its version 0 is stale.
    let error =
        roster.fails(&["role-mappings", "set", "--directory", &dir, "--file", file.path()]).await;
    assert!(error.starts_with("error: 412 "), "{error}");

    let users = roster.json(&["users", "list", "--directory", &dir, "--user-name", "ADA"]).await;
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
    assert_eq!(users[0]["userName"], "ada@contoso.com");
    let user = roster.json(&["users", "get", "--directory", &dir, &user_id]).await;
    assert_eq!(user["id"], user_id.as_str());
    assert_eq!(roster.json(&["groups", "list", "--directory", &dir]).await, json!([]));

    // The provisioning log is written off the request path: it shows up shortly.
    eventually(Duration::from_secs(10), "the POST in the provisioning log", || async {
        let log = roster
            .json(&[
                "provisioning-log",
                "--directory",
                &dir,
                "--resource",
                "User",
                "--status",
                "201",
            ])
            .await;
        (log.as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    let health = roster.json(&["health", "--directory", &dir]).await;
    assert!(health.is_object(), "{health}");
    let link = roster.json(&["portal-link", "create", "--directory", &dir, "--minutes", "5"]).await;
    assert!(link["url"].as_str().unwrap().starts_with(&app.base_url), "{link}");
    let settings =
        roster.json(&["directory", "settings", &dir, "--deprovision-policy", "erase"]).await;
    assert_eq!(settings["deprovisionPolicy"], "erase", "{settings}");
    eventually(Duration::from_secs(30), "notifications in the Events API", || async {
        let events = roster.json(&["events", "list", "--directory", &dir, "--all"]).await;
        (!events.as_array().unwrap().is_empty()).then_some(())
    })
    .await;

    // An admin token of the tenant, made with the CLI: it sees its tenant only, until revoked.
    let issued =
        roster.json(&["admin-token", "create", "--subject", "helpdesk", "--tenant", &tenant]).await;
    let helpdesk =
        Roster { token: issued["token"].as_str().unwrap().to_string(), ..roster.clone() };
    let seen = helpdesk.json(&["tenant", "list"]).await;
    assert_eq!(seen.as_array().unwrap().len(), 1, "{seen}");
    assert_eq!(seen[0]["id"], tenant.as_str());
    let listed = roster.ok(&["admin-token", "list", "--jsonl"]).await;
    assert!(listed.contains(issued["id"].as_str().unwrap()), "{listed}");
    assert!(!listed.contains(&helpdesk.token), "admin token list shows a secret");
    roster.ok(&["admin-token", "revoke", issued["id"].as_str().unwrap()]).await;
    eventually(Duration::from_secs(5), "the revoked admin token to be refused", || async {
        let run = helpdesk.run(&["tenant", "list"]).await;
        (run.code == Some(1) && run.stderr.starts_with("error: 401 ")).then_some(())
    })
    .await;
    let audit = roster.json(&["audit-log", "--tenant", &tenant]).await;
    let actions: Vec<&str> =
        audit.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["role_mappings.changed", "portal_link.created", "admin_token.revoked"] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }

    // The OpenAPI document needs no token.
    let anonymous = Roster { token: String::new(), ..roster.clone() };
    assert!(anonymous.json(&["openapi"]).await["openapi"].is_string());

    // Renamed, then found and deleted by its new name.
    roster.ok(&["tenant", "rename", &tenant, "--name", "Renamed Tenant"]).await;
    assert_eq!(roster.json(&["tenant", "get", "Renamed Tenant"]).await["id"], tenant.as_str());
    roster.ok(&["tenant", "delete", "Renamed Tenant"]).await;
    let error = roster.fails(&["tenant", "get", &tenant]).await;
    assert!(error.starts_with("error: 404 "), "{error}");
}
