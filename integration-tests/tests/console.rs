//! The web console (`/console`) through a real browser: Debian's Chromium, headless, driven
//! through chromedriver (WebDriver) with `thirtyfour`, against the real gateway, projector and
//! role-mapper. `scripts/stack.sh chromium` installs both (`make test-integration` runs it);
//! without them these tests fail and say so, they never skip.
//!
//! With `ROSTER_SCREENSHOTS=<dir>` (relative to the repository) each page is saved there as a
//! PNG of a 1280×900 window: `docs/console/` holds the committed ones.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use roster_integration_tests::{TestApp, entra_user, eventually};
use serde_json::{Value, json};
use thirtyfour::prelude::*;
use uuid::Uuid;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A headless Chromium with a chromedriver of its own (killed on drop) and a new profile.
struct Browser {
    driver: Option<WebDriver>,
    chromedriver: Child,
    profile: PathBuf,
    base_url: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    async fn start(base_url: &str) -> Browser {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(binary).exists(),
                "{binary} is missing: the console's browser tests need Debian's chromium and \
                 chromium-driver (scripts/stack.sh chromium installs them)"
            );
        }
        let port = free_port();
        let chromedriver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            // A process group of its own, Chromium in it: Drop kills them together.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {CHROMEDRIVER}: {e}"));
        let profile =
            std::env::temp_dir().join(format!("roster-console-chromium-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&profile).unwrap();
        let mut browser =
            Browser { driver: None, chromedriver, profile, base_url: base_url.to_string() };
        let server = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        eventually(Duration::from_secs(20), "chromedriver to listen", || async {
            let ready = client.get(format!("{server}/status")).send().await.ok()?;
            ready.status().is_success().then_some(())
        })
        .await;
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).unwrap();
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            "--lang=en-US",
            "--disable-breakpad",
            "--disable-crash-reporter",
        ] {
            caps.add_arg(arg).unwrap();
        }
        caps.add_arg(&format!("--user-data-dir={}", browser.profile.display())).unwrap();
        let driver = WebDriver::new(&server, caps).await.unwrap_or_else(|e| {
            panic!("Chromium ({CHROMIUM}) did not start through chromedriver ({CHROMEDRIVER}): {e}")
        });
        browser.driver = Some(driver);
        browser
    }

    /// End the session (Chromium exits); Drop then stops chromedriver.
    async fn quit(mut self) {
        if let Some(driver) = self.driver.take() {
            driver.quit().await.unwrap();
        }
    }

    fn driver(&self) -> &WebDriver {
        self.driver.as_ref().unwrap()
    }

    /// Open a console path (or a whole URL).
    async fn open(&self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base_url)
        };
        self.driver().goto(url).await.unwrap();
    }

    /// The HTTP status of the page shown (the navigation's response).
    async fn status(&self) -> u16 {
        let ret = self
            .driver()
            .execute(
                "const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : 0;",
                vec![],
            )
            .await
            .unwrap();
        ret.json().as_u64().unwrap_or_default() as u16
    }

    async fn path(&self) -> String {
        self.driver().current_url().await.unwrap().path().to_string()
    }

    async fn text_of(&self, css: &str) -> String {
        self.driver().find(By::Css(css)).await.unwrap().text().await.unwrap()
    }

    async fn h1(&self) -> String {
        self.text_of("h1").await
    }

    async fn body(&self) -> String {
        self.text_of("body").await
    }

    async fn value_of(&self, css: &str) -> String {
        self.driver().find(By::Css(css)).await.unwrap().value().await.unwrap().unwrap_or_default()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let input = self.driver().find(By::Css(css)).await.unwrap();
        input.clear().await.unwrap();
        input.send_keys(text).await.unwrap();
    }

    /// Set an input's value as a script would (what a browser will not type: control
    /// characters, or more than a field takes).
    async fn set_value(&self, css: &str, value: &str) {
        let input = self.driver().find(By::Css(css)).await.unwrap();
        self.driver()
            .execute(
                "arguments[0].value = arguments[1];",
                vec![input.to_json().unwrap(), json!(value)],
            )
            .await
            .unwrap();
    }

    async fn click(&self, css: &str) {
        self.driver().find(By::Css(css)).await.unwrap().click().await.unwrap();
    }

    async fn select(&self, css: &str, value: &str) {
        let select = self.driver().find(By::Css(css)).await.unwrap();
        let option = select.find(By::Css(format!("option[value='{value}']"))).await.unwrap();
        option.click().await.unwrap();
    }

    /// Wait until the page's text holds `text` (htmx swaps, navigations); past 20 s, fail
    /// with what the page shows.
    async fn wait_for_text(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let body = match self.driver().find(By::Css("body")).await {
                Ok(body) => body.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if body.contains(text) {
                return;
            }
            if Instant::now() > deadline {
                let url = self.driver().current_url().await.map(|u| u.to_string());
                panic!("the page never showed {text:?}; at {url:?} it shows:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the browser is at `path`.
    async fn wait_for_path(&self, path: &str) {
        eventually(Duration::from_secs(20), &format!("the browser at {path}"), || async {
            let url = self.driver().current_url().await.ok()?;
            (url.path() == path).then_some(())
        })
        .await;
    }

    /// Save a PNG of the window as `<name>.png` in `ROSTER_SCREENSHOTS`, when it is set.
    async fn shot(&self, name: &str) {
        let Some(dir) = std::env::var_os("ROSTER_SCREENSHOTS") else { return };
        let dir = PathBuf::from(dir);
        let dir = if dir.is_absolute() {
            dir
        } else {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)
        };
        std::fs::create_dir_all(&dir).unwrap();
        let wide = self
            .driver()
            .execute(
                "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth).map(e => e.tagName + '.' + e.className).slice(0, 5);",
                vec![],
            )
            .await
            .unwrap();
        if wide.json().as_array().is_some_and(|a| !a.is_empty()) {
            eprintln!("{name}: wider than the window: {}", wide.json());
        }
        let png = self.driver().screenshot_as_png().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Scroll an element to the top of the window.
    async fn scroll_to(&self, css: &str) {
        let element = self.driver().find(By::Css(css)).await.unwrap();
        self.driver()
            .execute(
                "arguments[0].scrollIntoView({block: 'start'});",
                vec![element.to_json().unwrap()],
            )
            .await
            .unwrap();
    }

    /// Sign in with an admin token.
    async fn sign_in(&self, token: &str) {
        self.open("/console/sign-in").await;
        self.type_into("#token", token).await;
        self.click("form[action='/console/sign-in'] button[type=submit]").await;
        self.wait_for_text("Signed in as").await;
    }

    async fn sign_out(&self) {
        self.open("/console").await;
        self.click("form[action='/console/sign-out'] button").await;
        self.wait_for_path("/console/sign-in").await;
    }

    /// The session's CSRF secret, from a form of the page shown.
    async fn csrf(&self) -> String {
        self.value_of("input[name=csrf]").await
    }

    /// A form post made by a script of the page shown (same origin, with the session's cookie
    /// and CSRF secret): the status it got.
    async fn post(&self, path: &str, form: &str) -> u16 {
        let csrf = self.csrf().await;
        let ret = self
            .driver()
            .execute_async(
                "const [url, body, csrf, done] = arguments;
                 fetch(url, {method: 'POST', redirect: 'manual', body,
                   headers: {'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRF-Token': csrf}})
                   .then(r => done(r.type === 'opaqueredirect' ? 303 : r.status), e => done(String(e)));",
                vec![json!(path), json!(form), json!(csrf)],
            )
            .await
            .unwrap();
        ret.json().as_u64().unwrap_or_else(|| panic!("POST {path}: {}", ret.json())) as u16
    }

    /// The clipboard's text (the browser was granted access to it).
    async fn clipboard(&self) -> String {
        let ret = self
            .driver()
            .execute_async(
                "const done = arguments[0]; navigator.clipboard.readText().then(done, e => done('error: ' + e));",
                vec![],
            )
            .await
            .unwrap();
        ret.json().as_str().unwrap_or_default().to_string()
    }

    async fn allow_clipboard(&self) {
        self.driver()
            .cdp()
            .send_raw(
                "Browser.grantPermissions",
                json!({
                    "origin": self.base_url,
                    "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
                }),
            )
            .await
            .unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Not a synchronous WebDriver teardown (it blocks, and waits on a browser that may be
        // stuck): chromedriver's process group, Chromium with it, is killed.
        if let Some(driver) = self.driver.take() {
            let _ = driver.leak();
        }
        let group = format!("-{}", self.chromedriver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A SCIM request with a Tenant URL and Secret Token (as Entra makes them).
async fn scim(
    app: &TestApp,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.header("Content-Type", "application/scim+json").json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// An Entra user holding the app role `admin`.
fn user_with_app_role(user_name: &str) -> Value {
    let mut user = entra_user(user_name);
    user["roles"] = json!([{
        "primary": false,
        "type": "WindowsAzureActiveDirectoryRole",
        "display": "Admin",
        "value": "admin"
    }]);
    user
}

/// The tenant of a directory.
fn tenant_of(app: &TestApp, directory: Uuid) -> Uuid {
    roster_store::control::find_directory(&mut app.db.conn(), directory).unwrap().unwrap().tenant_id
}

/// A portal link of a directory expiring `seconds` from now, signed as the gateway signs them.
fn portal_link(app: &TestApp, directory: Uuid, seconds: i64) -> String {
    let grant = roster_gateway::control::portal::PortalGrant {
        link_id: Uuid::new_v4(),
        directory_id: directory,
        tenant_id: tenant_of(app, directory),
        expires_at: chrono::Utc::now().timestamp() + seconds,
    };
    let token =
        roster_gateway::control::portal::sign(&app.settings.auth.admin_keys(), &grant).unwrap();
    format!("{}/console/portal?token={token}", app.base_url)
}

#[tokio::test]
async fn an_operator_onboards_a_customer_and_entra_provisions_with_what_the_console_gave() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let browser = Browser::start(&app.base_url).await;

    // Signed out, the console is its sign-in page.
    browser.open("/console").await;
    browser.wait_for_path("/console/sign-in").await;
    assert_eq!(browser.h1().await, "Sign in");
    browser.shot("sign-in").await;
    browser.sign_in(&app.admin_token(None)).await;
    assert_eq!(browser.path().await, "/console/tenants");

    // A tenant…
    browser.type_into("#tenant-name", "Contoso").await;
    browser.click("form[action='/console/tenants'] button[type=submit]").await;
    browser.wait_for_text("Create a directory").await;
    assert_eq!(browser.h1().await, "Contoso");
    let tenant_page = browser.path().await;
    // …and a directory.
    browser.type_into("#directory-name", "advisors").await;
    browser.click("form[action$='/directories'] button[type=submit]").await;
    browser.wait_for_text("Tenant URL and Secret Token").await;
    assert_eq!(browser.h1().await, "advisors");
    let directory_page = browser.path().await;
    let directory_id = directory_page.rsplit('/').next().unwrap().to_string();

    browser.open(&tenant_page).await;
    browser.shot("tenant").await;
    browser.open("/console/tenants").await;
    assert!(browser.body().await.contains("Contoso"));
    browser.shot("tenants").await;

    // The Secret Token, generated and shown once; both values copied.
    browser.open(&directory_page).await;
    assert!(browser.body().await.contains("This directory has none yet"));
    browser.click("#generate-token").await;
    browser.wait_for_text("Your new Secret Token").await;
    assert!(browser.body().await.contains("It is shown this once"));
    browser.allow_clipboard().await;
    browser.click("#copy-tenant-url").await;
    browser.wait_for_text("Copied the Tenant URL").await;
    let tenant_url = browser.clipboard().await;
    assert_eq!(tenant_url, format!("{}/scim/v2/{directory_id}", app.base_url));
    assert_eq!(browser.value_of("#tenant-url").await, tenant_url);
    browser.click("#copy-secret-token").await;
    browser.wait_for_text("Copied the Secret Token").await;
    let token = browser.clipboard().await;
    assert_eq!(token, browser.value_of("#secret-token").await);
    assert!(token.len() > 40, "{token}");
    browser.shot("directory-secret-token").await;
    browser.scroll_to("#entra").await;
    let steps = browser.text_of("ol.steps").await;
    for expected in [
        tenant_url.as_str(),
        token.as_str(),
        "Automatic",
        "Test Connection",
        "AssertiveAppRoleAssignmentsComplex([appRoleAssignments])",
        "Not([IsSoftDeleted])",
        "objectId",
    ] {
        assert!(steps.contains(expected), "the steps name {expected:?}: {steps}");
    }
    browser.shot("directory-entra-steps").await;
    // The token shows once: the page again has no secret.
    browser.open(&directory_page).await;
    assert!(!browser.body().await.contains(&token));

    // The live log is open when Entra (a SCIM client with the copied values) comes.
    browser.open(&format!("{directory_page}/log")).await;
    browser.wait_for_text("No requests yet").await;
    let (status, user) = scim(
        &app,
        reqwest::Method::POST,
        &format!("{tenant_url}/Users"),
        &token,
        Some(entra_user("ada@contoso.com")),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let (status, _) = scim(
        &app,
        reqwest::Method::POST,
        &format!("{tenant_url}/Users"),
        &token,
        Some(entra_user("ADA@contoso.com")),
    )
    .await;
    assert_eq!(status, 409);
    // Without a reload: htmx brings the new entries.
    browser.wait_for_text("ada@contoso.com").await;
    browser.wait_for_text("409 Conflict").await;
    let log = browser.text_of("#log-live").await;
    assert!(log.contains("POST User"), "{log}");
    assert!(log.contains("201 Created"), "{log}");
    browser.shot("log").await;
    // Filtered: only the failure.
    browser.select("#log-status", "failure").await;
    browser.click("form[role=search] button[type=submit]").await;
    browser.wait_for_text("uniqueness").await;
    let failures = browser.text_of("#log-live table tbody").await;
    // By the status cell's words: a request id may hold the digits "201".
    assert!(failures.contains("409 Conflict") && !failures.contains("201 Created"), "{failures}");

    // The user, with the product roles the (empty) rules give: none, once the role-mapper saw it.
    let users_page = format!("{directory_page}/users");
    eventually(Duration::from_secs(20), "the user on the users page", || async {
        browser.open(&users_page).await;
        let table = browser.driver().find(By::Css("table tbody")).await.ok()?.text().await.ok()?;
        (table.contains("ada@contoso.com") && !table.contains("not yet mapped")).then_some(())
    })
    .await;

    // A group with the user, on the groups page.
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Lisbon Office",
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "members": [{"value": user["id"]}]
    });
    let (status, body) =
        scim(&app, reqwest::Method::POST, &format!("{tenant_url}/Groups"), &token, Some(group))
            .await;
    assert_eq!(status, 201, "{body}");
    browser.open(&format!("{directory_page}/groups")).await;
    let groups = browser.text_of("table tbody").await;
    assert!(groups.contains("Lisbon Office") && groups.contains('1'), "{groups}");

    // The health panel: Entra called, a token is active.
    browser.open(&directory_page).await;
    browser.scroll_to("#health").await;
    let health = browser.text_of("#health-panel").await;
    assert!(health.contains("1 active"), "{health}");
    assert!(!health.contains("Last request from Entra\nnever"), "{health}");
    browser.shot("directory-health").await;
    browser.quit().await;
}

#[tokio::test]
async fn a_role_mapping_saved_in_the_console_gives_the_user_its_product_role_and_kafka_hears_it() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let response = app.post_user(&user_with_app_role("grace@contoso.com")).await;
    assert_eq!(response.status(), 201);
    let grace = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let response = app.post_user(&entra_user("alan@contoso.com")).await;
    assert_eq!(response.status(), 201);
    let alan = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Lisbon Office",
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "members": [{"value": grace}, {"value": alan}]
    });
    let response = app.send(reqwest::Method::POST, "/Groups", Some(group)).await;
    assert_eq!(response.status(), 201);
    // The role-mapper has seen both users in the group (the preview compares what it notified).
    eventually(Duration::from_secs(30), "the memberships notified", || async {
        let all = app.notifications_after(app.directory_id, 0).await;
        all.iter().any(|n| n["type"] == "group.member_added").then_some(())
    })
    .await;

    let browser = Browser::start(&app.base_url).await;
    browser.sign_in(&app.admin_token(None)).await;
    let page = format!("/console/directories/{}/role-mapping", app.directory_id);
    browser.open(&page).await;
    assert!(browser.body().await.contains("Version 0"));

    // An incomplete row: the preview says what is wrong, in the table's words.
    browser.type_into("#app-role-1", "admin").await;
    browser.click("#preview-rules").await;
    browser.wait_for_text("App roles, row 1 (productRole): must not be empty").await;
    // More rows, the typed ones kept.
    browser.click("#add-rows").await;
    eventually(Duration::from_secs(10), "more blank rows", || async {
        browser.driver().find(By::Id("app-role-5")).await.ok()
    })
    .await;
    assert_eq!(browser.value_of("#app-role-1").await, "admin");

    // The rules, previewed: grace becomes an administrator, alan a member, both in the team.
    browser.type_into("#app-product-role-1", "administrator").await;
    browser.type_into("#group-value-1", "Lisbon Office").await;
    browser.select("#group-team-1", "yes").await;
    browser.type_into("#default-role", "member").await;
    browser.click("#preview-rules").await;
    browser.wait_for_text("Preview: 2 of 2 users would change").await;
    let preview = browser.text_of("#preview table").await;
    assert!(
        preview.contains("grace@contoso.com — administrator")
            && preview.contains("alan@contoso.com — member")
            && preview.contains("Lisbon Office (primary)"),
        "{preview}"
    );
    browser.scroll_to("#preview").await;
    browser.shot("role-mapping-preview").await;
    // Nothing is saved by a preview.
    let rules = format!("/directories/{}/role-mappings", app.directory_id);
    let current =
        app.admin(reqwest::Method::GET, &rules, None).await.json::<Value>().await.unwrap();
    assert_eq!(current["version"], 0, "{current}");

    browser.click("#save-rules").await;
    browser.wait_for_text("The rules were saved as version 1").await;
    assert_eq!(browser.value_of("#app-role-1").await, "admin");
    assert_eq!(browser.value_of("#app-product-role-1").await, "administrator");
    assert_eq!(browser.value_of("#group-value-1").await, "Lisbon Office");
    browser.shot("role-mapping").await;

    // The users page shows the product roles and teams…
    let users_page = format!("/console/directories/{}/users", app.directory_id);
    eventually(Duration::from_secs(20), "the product roles on the users page", || async {
        browser.open(&users_page).await;
        let table = browser.driver().find(By::Css("table tbody")).await.ok()?.text().await.ok()?;
        (table.contains("administrator") && table.contains("member")).then_some(())
    })
    .await;
    assert!(browser.text_of("table tbody").await.contains("Lisbon Office (primary)"));
    browser.shot("users").await;
    browser.open(&format!("/console/directories/{}/groups", app.directory_id)).await;
    let groups = browser.text_of("table tbody").await;
    assert!(groups.contains("Lisbon Office") && groups.contains("Yes"), "{groups}");
    browser.shot("groups").await;

    // …and the product's services hear it on Kafka.
    let record =
        eventually(Duration::from_secs(60), "grace's user.access_changed on Kafka", || async {
            let records = app.consume_notifications(4).await;
            records.into_iter().find(|r| {
                let n = roster_events::notification::to_json(&r.notification);
                n["type"] == "user.access_changed"
                    && n["data"]["user"]["id"] == grace.as_str()
                    && n["data"]["after"]["product_roles"] == json!(["administrator"])
            })
        })
        .await;
    let n = roster_events::notification::to_json(&record.notification);
    assert_eq!(n["data"]["before"]["product_roles"], json!([]), "{n}");
    assert_eq!(n["data"]["after"]["teams"]["primary"]["display_name"], "Lisbon Office", "{n}");
    assert_eq!(record.key.as_deref(), Some(app.directory_id.to_string().as_str()));
    browser.quit().await;
}

#[tokio::test]
async fn a_token_rotated_in_the_console_works_until_it_is_revoked_then_answers_401() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(&app.base_url).await;
    browser.sign_in(&app.admin_token(None)).await;
    let page = format!("/console/directories/{}", app.directory_id);
    let users = format!("{}/Users", app.scim_url());
    browser.open(&page).await;
    browser.type_into("#token-description", "Entra production").await;
    browser.click("#generate-token").await;
    browser.wait_for_text("Your new Secret Token").await;
    let old = browser.value_of("#secret-token").await;
    let old_short = browser.text_of("#secret label .hint").await;
    let old_short = old_short.trim_start_matches("(token ").trim_end_matches(')').to_string();
    assert_eq!(scim(&app, reqwest::Method::GET, &users, &old, None).await.0, 200);

    // Rotation: a new token, the old one still working.
    browser.click(&format!("#rotate-{old_short}")).await;
    browser.wait_for_text("keeps working until you revoke it").await;
    let new = browser.value_of("#secret-token").await;
    assert_ne!(new, old);
    assert!(browser.body().await.contains(&format!("replaces {old_short}")));
    assert_eq!(scim(&app, reqwest::Method::GET, &users, &old, None).await.0, 200);
    assert_eq!(scim(&app, reqwest::Method::GET, &users, &new, None).await.0, 200);

    // Revoked: the old token answers 401 at once, the new one goes on.
    browser.click(&format!("#revoke-{old_short}")).await;
    browser.wait_for_text("The token was revoked").await;
    let tokens = browser.text_of("#tokens + table").await;
    assert!(tokens.contains("Revoked"), "{tokens}");
    eventually(Duration::from_secs(5), "the revoked token refused", || async {
        (scim(&app, reqwest::Method::GET, &users, &old, None).await.0 == 401).then_some(())
    })
    .await;
    assert_eq!(scim(&app, reqwest::Method::GET, &users, &new, None).await.0, 200);
    browser.scroll_to("main").await;
    browser.shot("directory-tokens-rotated").await;
    browser.quit().await;
}

#[tokio::test]
async fn a_portal_link_opens_only_its_own_directory_and_is_refused_after_it_expires() {
    let app = TestApp::spawn().await;
    let other = app.add_bystander();
    let browser = Browser::start(&app.base_url).await;

    // The operator makes a link in the console…
    browser.sign_in(&app.admin_token(None)).await;
    let page = format!("/console/directories/{}", app.directory_id);
    browser.open(&page).await;
    browser.type_into("#portal-minutes", "30").await;
    browser.click("#create-portal-link").await;
    browser.wait_for_text("Anyone with this link").await;
    let link = browser.value_of("#portal-link").await;
    assert!(link.starts_with(&format!("{}/console/portal?token=", app.base_url)), "{link}");
    browser.scroll_to("#portal").await;
    browser.shot("directory-portal-link").await;
    browser.sign_out().await;

    // …that opens the directory's page, also when followed from another site (a web mail):
    // localhost is another site than 127.0.0.1, so the SameSite=Strict cookie the link sets is
    // not sent on a redirect; the link's page navigates on from our own origin instead.
    let port = app.base_url.rsplit(':').next().unwrap();
    browser.open(&format!("http://localhost:{port}/console/sign-in")).await;
    browser.driver().execute("location.href = arguments[0];", vec![json!(link)]).await.unwrap();
    browser.wait_for_path(&page).await;
    assert!(browser.driver().current_url().await.unwrap().as_str().starts_with(&app.base_url));
    assert_eq!(browser.h1().await, "Test Directory");
    let body = browser.body().await;
    assert!(body.contains("Signed in as a portal link"), "{body}");
    assert!(
        !body.contains("Portal link for the customer") && !body.contains("Delete this directory")
    );
    browser.shot("portal-directory").await;
    for tab in ["role-mapping", "log", "users", "groups", "health"] {
        browser.open(&format!("{page}/{tab}")).await;
        assert_eq!(browser.status().await, 200, "{tab}");
    }
    // And nothing else: no tenant, no other directory.
    let tenant = tenant_of(&app, app.directory_id);
    for (path, status) in [
        ("/console/tenants".to_string(), 403),
        (format!("/console/tenants/{tenant}"), 404),
        (format!("/console/directories/{}", other.directory_id), 404),
        (format!("/console/directories/{}/users", other.directory_id), 404),
        (format!("{page}/delete"), 403),
    ] {
        browser.open(&path).await;
        assert_eq!(browser.status().await, status, "{path}");
    }
    browser.open(&format!("/console/directories/{}", other.directory_id)).await;
    browser.shot("portal-other-directory-404").await;
    browser.open(&page).await;
    assert_eq!(browser.post(&format!("{page}/portal-links"), "minutes=60").await, 403);

    // A link that expires: its session ends with it, and the link is refused.
    let short = portal_link(&app, app.directory_id, 3);
    let deadline = Instant::now() + Duration::from_secs(3);
    browser.open(&short).await;
    browser.wait_for_path(&page).await;
    assert_eq!(browser.status().await, 200);
    eventually(Duration::from_secs(15), "the portal session to end", || async {
        if Instant::now() < deadline {
            return None;
        }
        browser.open(&page).await;
        (browser.path().await == "/console/sign-in").then_some(())
    })
    .await;
    assert!(browser.body().await.contains("Your session has ended"));
    browser.open(&short).await;
    assert_eq!(browser.status().await, 403);
    assert!(browser.body().await.contains("not valid, or it has expired"));
    browser.shot("portal-link-expired").await;
    let expired = portal_link(&app, app.directory_id, -60);
    browser.open(&expired).await;
    assert_eq!(browser.status().await, 403);
    browser.quit().await;
}

#[tokio::test]
async fn names_too_long_or_with_control_characters_are_a_400_page_and_create_nothing() {
    let app = TestApp::spawn().await;
    let bystander = app.add_bystander();
    let browser = Browser::start(&app.base_url).await;
    browser.sign_in(&app.admin_token(None)).await;
    let tenants_before = roster_store::control::list_tenants(
        &mut app.db.conn(),
        None,
        &roster_store::page::PageRequest { after: None, limit: 100 },
    )
    .unwrap()
    .items
    .len();

    browser.open("/console/tenants").await;
    let long = "n".repeat(201);
    browser.set_value("#tenant-name", &long).await;
    browser.click("form[action='/console/tenants'] button[type=submit]").await;
    browser.wait_for_text("The tenant was not created").await;
    assert_eq!(browser.status().await, 400);
    assert!(browser.body().await.contains("name must be at most 200 characters"));
    assert_eq!(browser.value_of("#tenant-name").await, long, "the form is shown again");
    browser.shot("bad-input-400").await;

    browser.set_value("#tenant-name", "Bad\u{7}Name").await;
    browser.click("form[action='/console/tenants'] button[type=submit]").await;
    browser.wait_for_text("must not contain control characters").await;
    assert_eq!(browser.status().await, 400);

    let directory_page = format!("/console/tenants/{}", app.tenant_id);
    for (name, message) in [
        ("d".repeat(201), "name must be at most 200 characters"),
        ("line\u{1b}[31mred".to_string(), "must not contain control characters"),
        ("   ".to_string(), "name must not be empty"),
    ] {
        browser.open(&directory_page).await;
        browser.set_value("#directory-name", &name).await;
        browser.click("form[action$='/directories'] button[type=submit]").await;
        browser.wait_for_text("The directory was not created").await;
        assert_eq!(browser.status().await, 400, "{name:?}");
        assert!(browser.body().await.contains(message), "{name:?}: {message}");
    }

    // Other bad input: a 400 page with the message, never a 500.
    browser.open(&format!("/console/directories/{}/log?code=abc", app.directory_id)).await;
    assert_eq!(browser.status().await, 400);
    assert!(
        browser.body().await.contains("status must be success, failure, or an HTTP status code")
    );
    browser.open(&format!("/console/directories/{}/users?cursor=nonsense", app.directory_id)).await;
    assert_eq!(browser.status().await, 400);
    browser.open("/console/tenants?cursor=%00").await;
    assert_eq!(browser.status().await, 400);
    browser.open(&format!("/console/directories/{}", app.directory_id)).await;
    assert_eq!(
        browser
            .post(&format!("/console/directories/{}/portal-links", app.directory_id), "minutes=0")
            .await,
        400
    );
    assert_eq!(
        browser
            .post(
                &format!("/console/directories/{}/portal-links", app.directory_id),
                "minutes=many"
            )
            .await,
        400
    );
    assert_eq!(
        browser
            .post(
                &format!("/console/directories/{}/settings", app.directory_id),
                "deprovision_policy=shred"
            )
            .await,
        400
    );

    // Nothing was created.
    let mut conn = app.db.conn();
    let tenants = roster_store::control::list_tenants(
        &mut conn,
        None,
        &roster_store::page::PageRequest { after: None, limit: 100 },
    )
    .unwrap();
    assert_eq!(tenants.items.len(), tenants_before);
    let directories = roster_store::control::list_directories(
        &mut conn,
        app.tenant_id,
        &roster_store::page::PageRequest { after: None, limit: 100 },
    )
    .unwrap();
    assert_eq!(directories.items.len(), 1, "only the test's own directory");
    // Another tenant's directory still provisions.
    app.assert_bystander_provisions(&bystander).await;
    browser.quit().await;
}

#[tokio::test]
async fn forms_need_the_sessions_csrf_token_and_sessions_end_with_their_admin_token() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(&app.base_url).await;
    let (token_id, token) = {
        use roster_platform::admin_tokens::{self, AdminScope};
        use secrecy::ExposeSecret;
        let (row, token) = admin_tokens::issue_stored(
            &mut app.db.conn(),
            &app.settings.auth.admin_keys(),
            "ops",
            AdminScope::Operator,
            "tests",
            chrono::Utc::now() + chrono::Duration::hours(1),
        )
        .unwrap();
        (row.id, token.expose_secret().to_string())
    };
    browser.sign_in(&token).await;
    browser.open("/console/tenants").await;

    // The session cookie: HttpOnly (no script reads it), SameSite=Strict, the console's only.
    let cookie = browser.driver().get_named_cookie("roster_console").await.unwrap();
    assert_eq!(cookie.http_only, Some(true));
    assert_eq!(cookie.path.as_deref(), Some("/console"));
    assert_eq!(format!("{:?}", cookie.same_site.unwrap()), "Strict");
    let script = browser.driver().execute("return document.cookie;", vec![]).await.unwrap();
    assert_eq!(script.json(), &json!(""));

    // A form without the CSRF token, or with another: 403, nothing created.
    let status = browser
        .driver()
        .execute_async(
            "const done = arguments[0];
             fetch('/console/tenants', {method: 'POST', body: 'name=NoCsrf',
               headers: {'Content-Type': 'application/x-www-form-urlencoded'}}).then(r => done(r.status));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status.json(), &json!(403));
    let status = browser
        .driver()
        .execute_async(
            "const done = arguments[0];
             fetch('/console/tenants', {method: 'POST', body: 'name=WrongCsrf&csrf=' + 'a'.repeat(64),
               headers: {'Content-Type': 'application/x-www-form-urlencoded'}}).then(r => done(r.status));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status.json(), &json!(403));
    // From another site (the Origin a cross-site form sends): 403 even with the token.
    let csrf = browser.csrf().await;
    let response = app
        .client
        .post(format!("{}/console/tenants", app.base_url))
        .header("Origin", "https://evil.example")
        .header("Cookie", format!("roster_console={}", cookie.value))
        .form(&[("name", "CrossSite"), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let headers = response.headers().clone();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers["content-security-policy"].to_str().unwrap().starts_with("default-src 'self'"));
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    // With it, from the console: created.
    assert_eq!(browser.post("/console/tenants", "name=WithCsrf").await, 303);
    let names: Vec<String> = roster_store::control::list_tenants(
        &mut app.db.conn(),
        None,
        &roster_store::page::PageRequest { after: None, limit: 100 },
    )
    .unwrap()
    .items
    .into_iter()
    .map(|t| t.name)
    .collect();
    assert!(names.contains(&"WithCsrf".to_string()), "{names:?}");
    for refused in ["NoCsrf", "WrongCsrf", "CrossSite"] {
        assert!(!names.contains(&refused.to_string()), "{names:?}");
    }

    // Revoking the admin token ends its sessions.
    roster_store::admin_tokens::revoke(&mut app.db.conn(), token_id).unwrap();
    eventually(Duration::from_secs(10), "the session to end", || async {
        browser.open("/console/tenants").await;
        (browser.path().await == "/console/sign-in").then_some(())
    })
    .await;
    assert!(browser.body().await.contains("Your session has ended"));

    // A wrong token does not sign in.
    browser.type_into("#token", "not-a-token").await;
    browser.click("form[action='/console/sign-in'] button[type=submit]").await;
    browser.wait_for_text("That admin token was not accepted").await;
    assert_eq!(browser.status().await, 401);
    // The assets: versioned, cached for long, our own host's.
    let css = app
        .client
        .get(format!("{}/console/assets/console.css", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.headers()["cache-control"].to_str().unwrap().contains("max-age=31536000"));
    let htmx = app
        .client
        .get(format!("{}/console/assets/htmx-2.0.11.min.js", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(htmx.status(), 200);
    browser.quit().await;
}

/// Isolation: two tenants, each with a directory; a session of the other tenant's admin and a
/// portal session of the other tenant's directory; one test per page of the test's own tenant.
struct Isolation {
    app: TestApp,
    browser: Browser,
    /// The other tenant, its directory, and its admin's token.
    other_tenant: Uuid,
    other_directory: Uuid,
    other_admin: String,
}

impl Isolation {
    async fn spawn() -> Isolation {
        let app = TestApp::spawn().await;
        let other = app.add_bystander();
        let other_tenant = tenant_of(&app, other.directory_id);
        let other_admin = app.admin_token(Some(other_tenant));
        let browser = Browser::start(&app.base_url).await;
        Isolation { other_tenant, other_directory: other.directory_id, other_admin, app, browser }
    }

    /// As the other tenant's admin, then as the other directory's portal visitor: `own` (their
    /// page) answers 200, every path of `theirs` (the test tenant's) the status given, and the
    /// test tenant's names never show.
    async fn check(&self, own_admin: &str, own_portal: &str, theirs: &[(&str, u16, u16)]) {
        let browser = &self.browser;
        browser.sign_in(&self.other_admin).await;
        self.expect(own_admin, theirs, |(_, admin, _)| *admin).await;
        browser.sign_out().await;
        browser.open(&portal_link(&self.app, self.other_directory, 600)).await;
        browser.wait_for_path(&format!("/console/directories/{}", self.other_directory)).await;
        self.expect(own_portal, theirs, |(_, _, portal)| *portal).await;
    }

    async fn expect(
        &self,
        own: &str,
        theirs: &[(&str, u16, u16)],
        status: fn(&(&str, u16, u16)) -> u16,
    ) {
        let browser = &self.browser;
        browser.open(own).await;
        assert_eq!(browser.status().await, 200, "their own {own}");
        for case in theirs {
            let path = case.0;
            browser.open(path).await;
            assert_eq!(browser.status().await, status(case), "{path}");
            let body = browser.body().await;
            assert!(
                !body.contains("Test Tenant") && !body.contains("Test Directory"),
                "{path}: {body}"
            );
        }
    }

    fn dir(&self, tail: &str) -> String {
        format!("/console/directories/{}{tail}", self.app.directory_id)
    }

    fn own_dir(&self, tail: &str) -> String {
        format!("/console/directories/{}{tail}", self.other_directory)
    }
}

#[tokio::test]
async fn isolation_the_tenants_page_lists_only_the_sessions_own_tenant() {
    let iso = Isolation::spawn().await;
    let browser = &iso.browser;
    browser.sign_in(&iso.other_admin).await;
    browser.open("/console/tenants").await;
    let body = browser.body().await;
    assert!(body.contains("Bystander Tenant") && !body.contains("Test Tenant"), "{body}");
    assert!(!body.contains("Create a tenant"), "a tenant admin creates no tenants");
    assert_eq!(browser.post("/console/tenants", "name=Sneaky").await, 403);
    browser.shot("tenant-admin-tenants").await;
    browser.sign_out().await;
    browser.open(&portal_link(&iso.app, iso.other_directory, 600)).await;
    browser.wait_for_path(&iso.own_dir("")).await;
    browser.open("/console/tenants").await;
    assert_eq!(browser.status().await, 403);
    assert!(!browser.body().await.contains("Test Tenant"));
    iso.browser.quit().await;
}

#[tokio::test]
async fn isolation_the_tenant_page_of_another_tenant_is_404() {
    let iso = Isolation::spawn().await;
    let theirs = format!("/console/tenants/{}", iso.app.tenant_id);
    let delete = format!("{theirs}/delete");
    iso.check(
        &format!("/console/tenants/{}", iso.other_tenant),
        &iso.own_dir(""),
        &[(&theirs, 404, 404), (&delete, 404, 404)],
    )
    .await;
    // Forms posted to it: 404 (the portal session is the browser's now), nothing created.
    let browser = &iso.browser;
    browser.open(&iso.own_dir("")).await;
    assert_eq!(browser.post(&format!("{theirs}/directories"), "name=Sneaky").await, 404);
    assert_eq!(browser.post(&delete, "").await, 404);
    browser.sign_out().await;
    browser.sign_in(&iso.other_admin).await;
    browser.open(&format!("/console/tenants/{}", iso.other_tenant)).await;
    assert_eq!(browser.post(&format!("{theirs}/directories"), "name=Sneaky").await, 404);
    assert_eq!(browser.post(&delete, "").await, 404);
    let directories = roster_store::control::list_directories(
        &mut iso.app.db.conn(),
        iso.app.tenant_id,
        &roster_store::page::PageRequest { after: None, limit: 100 },
    )
    .unwrap();
    assert_eq!(directories.items.len(), 1);
    iso.browser.quit().await;
}

#[tokio::test]
async fn isolation_the_directory_page_of_another_tenant_is_404() {
    let iso = Isolation::spawn().await;
    let delete = iso.dir("/delete");
    iso.check(&iso.own_dir(""), &iso.own_dir(""), &[(&iso.dir(""), 404, 404), (&delete, 404, 404)])
        .await;
    let browser = &iso.browser;
    let tokens_before =
        roster_store::control::list_tokens(&mut iso.app.db.conn(), iso.app.directory_id)
            .unwrap()
            .len();
    browser.open(&iso.own_dir("")).await;
    for (path, form) in [
        (iso.dir("/tokens"), String::new()),
        (iso.dir(&format!("/tokens/{}/revoke", iso.app.token_id)), String::new()),
        (iso.dir("/portal-links"), "minutes=60".to_string()),
        (iso.dir("/settings"), "deprovision_policy=erase".to_string()),
        (iso.dir("/delete"), String::new()),
    ] {
        assert_eq!(browser.post(&path, &form).await, 404, "{path}");
    }
    let tokens =
        roster_store::control::list_tokens(&mut iso.app.db.conn(), iso.app.directory_id).unwrap();
    assert_eq!(tokens.len(), tokens_before);
    assert!(tokens.iter().all(|t| t.revoked_at.is_none()));
    assert_eq!(iso.app.get("/Users").await.status(), 200, "the directory and its token are intact");
    iso.browser.quit().await;
}

#[tokio::test]
async fn isolation_the_role_mapping_page_of_another_tenant_is_404() {
    let iso = Isolation::spawn().await;
    iso.check(
        &iso.own_dir("/role-mapping"),
        &iso.own_dir("/role-mapping"),
        &[(&iso.dir("/role-mapping"), 404, 404)],
    )
    .await;
    let browser = &iso.browser;
    browser.open(&iso.own_dir("/role-mapping")).await;
    let rules = "app_role=admin&app_product_role=owner";
    assert_eq!(browser.post(&iso.dir("/role-mapping/preview"), rules).await, 404);
    let save = format!("rules={}&version=0", "%7B%22defaultRole%22%3A%22owner%22%7D");
    assert_eq!(browser.post(&iso.dir("/role-mapping"), &save).await, 404);
    let current = iso
        .app
        .admin(
            reqwest::Method::GET,
            &format!("/directories/{}/role-mappings", iso.app.directory_id),
            None,
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(current["version"], 0, "{current}");
    iso.browser.quit().await;
}

#[tokio::test]
async fn isolation_the_provisioning_log_of_another_tenant_is_404() {
    let iso = Isolation::spawn().await;
    iso.app.post_user(&entra_user("secret-user@contoso.com")).await;
    iso.check(
        &iso.own_dir("/log"),
        &iso.own_dir("/log"),
        &[(&iso.dir("/log"), 404, 404), (&iso.dir("/log/entries"), 404, 404)],
    )
    .await;
    assert!(!iso.browser.body().await.contains("secret-user"));
    iso.browser.quit().await;
}

#[tokio::test]
async fn isolation_the_users_page_of_another_tenant_is_404() {
    let iso = Isolation::spawn().await;
    iso.app.post_user(&entra_user("secret-user@contoso.com")).await;
    iso.check(&iso.own_dir("/users"), &iso.own_dir("/users"), &[(&iso.dir("/users"), 404, 404)])
        .await;
    assert!(!iso.browser.body().await.contains("secret-user"));
    iso.browser.quit().await;
}

#[tokio::test]
async fn isolation_the_groups_page_of_another_tenant_is_404() {
    let iso = Isolation::spawn().await;
    iso.check(&iso.own_dir("/groups"), &iso.own_dir("/groups"), &[(&iso.dir("/groups"), 404, 404)])
        .await;
    iso.browser.quit().await;
}

#[tokio::test]
async fn isolation_the_health_panel_of_another_tenant_is_404() {
    let iso = Isolation::spawn().await;
    iso.check(&iso.own_dir("/health"), &iso.own_dir("/health"), &[(&iso.dir("/health"), 404, 404)])
        .await;
    iso.browser.quit().await;
}
