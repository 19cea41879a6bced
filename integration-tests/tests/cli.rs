//! The `roster` CLI as an operator runs it: the built binary, an API URL and an admin token,
//! against the real gateway (no database access from the CLI).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use roster_integration_tests::{TestApp, eventually};
use serde_json::Value;
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
