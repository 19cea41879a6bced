//! Hostile input (issue 9 §1, §5): each class of request that Postgres, its indexes or the broker
//! could not hold is refused at the gateway with a SCIM 4xx within a second, nothing is
//! published for it, and a bystander directory of another tenant still provisions (201 within
//! 2 s, its `user.provisioned` within 5 s). Before the gateway refused them, several of these
//! stopped the projector's partition for every tenant. The limits are docs/limits.md's.

use std::time::{Duration, Instant};

use roster_integration_tests::{Bystander, TestApp, entra_user, forged_token};
use serde_json::{Value, json};

const CUSTOM: &str = "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A test's stack with the role-mapper running (so the bystander's notification is checked),
/// and the bystander.
struct Stack {
    app: TestApp,
    bystander: Bystander,
}

impl Stack {
    async fn spawn() -> Stack {
        let mut app = TestApp::spawn().await;
        app.start_role_mapper().await;
        let bystander = app.add_bystander();
        Stack { app, bystander }
    }

    /// A request to the test directory's SCIM root with a raw body.
    fn raw(&self, method: reqwest::Method, path: &str, body: String) -> reqwest::RequestBuilder {
        self.app
            .client
            .request(method, format!("{}{path}", self.app.scim_url()))
            .bearer_auth(&self.app.token)
            .header("Content-Type", "application/scim+json")
            .body(body)
    }

    fn json(&self, method: reqwest::Method, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.raw(method, path, body.to_string())
    }

    /// Sends `request` and checks it is answered `status` with `scim_type` within a second and
    /// that nothing reached the change log. Returns the error body.
    async fn refused(
        &self,
        request: reqwest::RequestBuilder,
        status: u16,
        scim_type: Option<&str>,
    ) -> Value {
        let published = self.app.published_count().await;
        let started = Instant::now();
        let response = request.send().await.expect("the request is answered");
        let elapsed = started.elapsed();
        let answer = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        assert_eq!(answer, status, "{body}");
        assert!(elapsed < Duration::from_secs(1), "answered in {elapsed:?}");
        assert_eq!(body["status"], status.to_string(), "{body}");
        assert_eq!(body["scimType"].as_str(), scim_type, "{body}");
        assert_eq!(self.app.published_count().await, published, "nothing is published");
        body
    }

    /// The bystander still provisions.
    async fn bystander_provisions(&self) {
        self.app.assert_bystander_provisions(&self.bystander).await;
    }

    /// Creates a user (201) and returns its id.
    async fn user(&self, user_name: &str) -> String {
        let response = self.app.post_user(&entra_user(user_name)).await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }

    /// Creates a group (201) and returns its id.
    async fn group(&self, display_name: &str) -> String {
        let response = self
            .app
            .send(reqwest::Method::POST, "/Groups", Some(json!({"displayName": display_name})))
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }
}

fn detail(body: &Value) -> &str {
    body["detail"].as_str().unwrap_or_default()
}

fn patch(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

/// `n` non-ASCII characters of the first three planes (a fixed pseudo-random sequence, no
/// controls, no filter delimiters): random text does not compress, which is what overflowed
/// the btree indexes.
fn random_text(n: usize) -> String {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = String::with_capacity(n * 3);
    while out.chars().count() < n {
        state =
            state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let code = ((state >> 33) % 0x3_0000) as u32;
        if let Some(c) = char::from_u32(code).filter(|c| !c.is_ascii() && !c.is_control()) {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_user_name() {
    let stack = Stack::spawn().await;
    let body = stack
        .refused(
            stack.json(reqwest::Method::POST, "/Users", &entra_user("ada\u{0}@contoso.com")),
            400,
            Some("invalidValue"),
        )
        .await;
    assert!(detail(&body).starts_with("userName contains the control character U+0000"), "{body}");
    // By PATCH too, and in a PUT.
    let id = stack.user("ada@contoso.com").await;
    let rename = patch(json!([{"op": "Replace", "path": "userName", "value": "a\u{0}"}]));
    stack
        .refused(
            stack.json(reqwest::Method::PATCH, &format!("/Users/{id}"), &rename),
            400,
            Some("invalidValue"),
        )
        .await;
    stack
        .refused(
            stack.json(reqwest::Method::PUT, &format!("/Users/{id}"), &entra_user("b\u{0}")),
            400,
            Some("invalidValue"),
        )
        .await;
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_display_name() {
    let stack = Stack::spawn().await;
    let mut user = entra_user("ada@contoso.com");
    user["displayName"] = json!("Ada\u{0}Lovelace");
    let body = stack
        .refused(stack.json(reqwest::Method::POST, "/Users", &user), 400, Some("invalidValue"))
        .await;
    assert!(detail(&body).starts_with("displayName contains"), "{body}");
    let body = stack
        .refused(
            stack.json(reqwest::Method::POST, "/Groups", &json!({"displayName": "G\u{0}"})),
            400,
            Some("invalidValue"),
        )
        .await;
    assert!(detail(&body).starts_with("displayName contains"), "{body}");
    let group = stack.group("Sales").await;
    let rename = patch(json!([{"op": "Replace", "path": "displayName", "value": "S\u{0}"}]));
    stack
        .refused(
            stack.json(reqwest::Method::PATCH, &format!("/Groups/{group}"), &rename),
            400,
            Some("invalidValue"),
        )
        .await;
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_an_extension_attribute() {
    let stack = Stack::spawn().await;
    let mut user = entra_user("ada@contoso.com");
    user[CUSTOM] = json!({"costCenter": "4\u{0}2"});
    let body = stack
        .refused(stack.json(reqwest::Method::POST, "/Users", &user), 400, Some("invalidValue"))
        .await;
    assert!(detail(&body).starts_with(&format!("{CUSTOM}:costCenter contains")), "{body}");
    // The enterprise extension, by PATCH (Entra's URN path).
    let id = stack.user("ada@contoso.com").await;
    let department = patch(json!([{
        "op": "Add",
        "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "value": "Sales\u{0}"
    }]));
    let body = stack
        .refused(
            stack.json(reqwest::Method::PATCH, &format!("/Users/{id}"), &department),
            400,
            Some("invalidValue"),
        )
        .await;
    assert!(detail(&body).contains("enterprise:2.0:User:department contains"), "{body}");
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_a_key() {
    let stack = Stack::spawn().await;
    let mut user = entra_user("ada@contoso.com");
    user["name"]["given\u{0}Name"] = json!("Ada");
    let body = stack
        .refused(stack.json(reqwest::Method::POST, "/Users", &user), 400, Some("invalidValue"))
        .await;
    assert!(detail(&body).starts_with("the attribute name name.given"), "{body}");
    let mut user = entra_user("ada@contoso.com");
    user[CUSTOM] = json!({"a\u{0}": "x"});
    stack
        .refused(stack.json(reqwest::Method::POST, "/Users", &user), 400, Some("invalidValue"))
        .await;
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_c0_controls_are_refused_tab_and_newlines_kept() {
    let stack = Stack::spawn().await;
    for c in ['\u{1}', '\u{7}', '\u{1b}', '\u{1f}'] {
        let mut user = entra_user("ada@contoso.com");
        user["title"] = json!(format!("Engineer{c}"));
        let body = stack
            .refused(stack.json(reqwest::Method::POST, "/Users", &user), 400, Some("invalidValue"))
            .await;
        assert!(detail(&body).starts_with("title contains the control character U+00"), "{body}");
    }
    // Tab, LF and CR are text, and DEL is accepted (docs/limits.md).
    let mut user = entra_user("ada@contoso.com");
    user["title"] = json!("Head of\tEngineering\r\nand DEL \u{7f}");
    let response = stack.app.post_user(&user).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["title"], "Head of\tEngineering\r\nand DEL \u{7f}");
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaired_surrogate() {
    let stack = Stack::spawn().await;
    for body in [
        r#"{"userName": "\ud800"}"#,
        r#"{"userName": "a\udc00b"}"#,
        r#"{"userName": "u", "title": "\ud83d x"}"#,
    ] {
        let answer = stack
            .refused(
                stack.raw(reqwest::Method::POST, "/Users", body.into()),
                400,
                Some("invalidSyntax"),
            )
            .await;
        assert!(detail(&answer).contains("surrogate"), "{answer}");
    }
    // A pair is a character.
    let response = stack
        .raw(reqwest::Method::POST, "/Users", r#"{"userName": "\ud83d\ude00"}"#.into())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    stack.bystander_provisions().await;
}

/// 8,000 random characters in an indexed attribute: 400 naming it.
async fn oversize_user_attribute(set: impl Fn(&mut Value, String), named: &str) {
    let stack = Stack::spawn().await;
    let mut user = entra_user("ada@contoso.com");
    set(&mut user, random_text(8_000));
    let body = stack
        .refused(stack.json(reqwest::Method::POST, "/Users", &user), 400, Some("invalidValue"))
        .await;
    assert!(detail(&body).starts_with(&format!("{named} is ")), "{body}");
    assert!(detail(&body).contains("may have at most 1024 bytes"), "{body}");
    // What Entra sends fits: 256 characters of a four-byte script.
    let mut user = entra_user("ada@contoso.com");
    set(&mut user, "𝔸".repeat(256));
    assert_eq!(stack.app.post_user(&user).await.status(), 201);
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_user_name() {
    oversize_user_attribute(|user, text| user["userName"] = json!(text), "userName").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_external_id() {
    oversize_user_attribute(|user, text| user["externalId"] = json!(text), "externalId").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_display_name() {
    oversize_user_attribute(|user, text| user["displayName"] = json!(text), "displayName").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_work_email() {
    oversize_user_attribute(
        |user, text| user["emails"][0]["value"] = json!(text),
        "emails[0].value",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_work_email_by_patch() {
    let stack = Stack::spawn().await;
    let id = stack.user("ada@contoso.com").await;
    let text = random_text(8_000);
    for operation in [
        json!({"op": "Replace", "path": "emails[type eq \"work\"].value", "value": text}),
        // The filter's value becomes the new element's value.
        json!({"op": "Add", "path": format!("emails[value eq \"{}\"].type", random_text(1_100)), "value": "home"}),
        json!({"op": "Replace", "value": {"displayName": text}}),
    ] {
        let body = stack
            .refused(
                stack.json(
                    reqwest::Method::PATCH,
                    &format!("/Users/{id}"),
                    &patch(json!([operation])),
                ),
                400,
                Some("invalidValue"),
            )
            .await;
        assert!(detail(&body).contains("may have at most 1024 bytes"), "{body}");
    }
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_group_display_name() {
    let stack = Stack::spawn().await;
    let text = random_text(8_000);
    let body = stack
        .refused(
            stack.json(reqwest::Method::POST, "/Groups", &json!({"displayName": text})),
            400,
            Some("invalidValue"),
        )
        .await;
    assert!(detail(&body).starts_with("displayName is "), "{body}");
    let group = stack.group("Sales").await;
    let rename = patch(json!([{"op": "Replace", "path": "displayName", "value": text}]));
    stack
        .refused(
            stack.json(reqwest::Method::PATCH, &format!("/Groups/{group}"), &rename),
            400,
            Some("invalidValue"),
        )
        .await;
    let replace = json!({"displayName": "Sales", "externalId": text});
    stack
        .refused(
            stack.json(reqwest::Method::PUT, &format!("/Groups/{group}"), &replace),
            400,
            Some("invalidValue"),
        )
        .await;
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribute_names_in_any_script_are_kept() {
    // `key[..4]` inside `日本語` used to panic and drop the connection. It is a 2xx: the
    // attribute is kept as sent, like any unknown attribute.
    let stack = Stack::spawn().await;
    let mut user = entra_user("ada@contoso.com");
    user["日本語"] = json!("こんにちは");
    user["日"] = json!(1);
    let started = Instant::now();
    let response = stack.app.post_user(&user).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["日本語"], "こんにちは");
    let id = created["id"].as_str().unwrap();
    let read: Value = stack.app.get(&format!("/Users/{id}")).await.json().await.unwrap();
    assert_eq!(read["日"], 1);
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_values() {
    let stack = Stack::spawn().await;
    let mut user = entra_user("ada@contoso.com");
    user["emails"] = (0..1_001).map(|i| json!({"value": format!("a{i}@contoso.com")})).collect();
    let body = stack
        .refused(stack.json(reqwest::Method::POST, "/Users", &user), 400, Some("invalidValue"))
        .await;
    assert!(detail(&body).starts_with("emails has 1001 values; at most 1000"), "{body}");
    let mut user = entra_user("ada@contoso.com");
    user[CUSTOM] = json!({"tags": vec!["t"; 1_001]});
    stack
        .refused(stack.json(reqwest::Method::POST, "/Users", &user), 400, Some("invalidValue"))
        .await;
    let id = stack.user("ada@contoso.com").await;
    let roles: Vec<Value> = (0..1_001).map(|i| json!({"value": format!("r{i}")})).collect();
    let add = patch(json!([{"op": "Add", "path": "roles", "value": roles}]));
    stack
        .refused(
            stack.json(reqwest::Method::PATCH, &format!("/Users/{id}"), &add),
            400,
            Some("invalidValue"),
        )
        .await;
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_patch_operations() {
    let stack = Stack::spawn().await;
    let id = stack.user("ada@contoso.com").await;
    let operations: Vec<Value> = (0..1_001)
        .map(|i| json!({"op": "Replace", "path": "title", "value": format!("t{i}")}))
        .collect();
    let body = stack
        .refused(
            stack.json(reqwest::Method::PATCH, &format!("/Users/{id}"), &patch(json!(operations))),
            400,
            Some("invalidValue"),
        )
        .await;
    assert!(detail(&body).starts_with("the PATCH has 1001 operations"), "{body}");
    // Counted after a path-less value is split into one operation per attribute.
    let wide: serde_json::Map<String, Value> =
        (0..1_001).map(|i| (format!("custom{i}"), json!("v"))).collect();
    let pathless = patch(json!([{"op": "Replace", "value": wide}]));
    stack
        .refused(
            stack.json(reqwest::Method::PATCH, &format!("/Users/{id}"), &pathless),
            400,
            Some("invalidValue"),
        )
        .await;
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_members() {
    let stack = Stack::spawn().await;
    let members: Vec<Value> =
        (0..10_001).map(|_| json!({"value": uuid::Uuid::new_v4().to_string()})).collect();
    let body = stack
        .refused(
            stack.json(
                reqwest::Method::POST,
                "/Groups",
                &json!({"displayName": "Everyone", "members": members}),
            ),
            400,
            Some("invalidValue"),
        )
        .await;
    assert!(detail(&body).contains("names 10001 members; at most 10000"), "{body}");
    // Summed over the operations of a PATCH.
    let group = stack.group("Everyone").await;
    let body = patch(json!([
        {"op": "Add", "path": "members", "value": members[..5_000]},
        {"op": "Remove", "path": "members", "value": members[5_000..]}
    ]));
    stack
        .refused(
            stack.json(reqwest::Method::PATCH, &format!("/Groups/{group}"), &body),
            400,
            Some("invalidValue"),
        )
        .await;
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_filter_terms() {
    let stack = Stack::spawn().await;
    let filter = vec![r#"userName eq "a""#; 101].join(" or ");
    let request = stack
        .app
        .client
        .get(format!("{}/Users", stack.app.scim_url()))
        .query(&[("filter", filter.as_str())])
        .bearer_auth(&stack.app.token);
    let body = stack.refused(request, 400, Some("invalidFilter")).await;
    assert!(detail(&body).contains("more than 100 comparisons"), "{body}");
    let hundred = vec![r#"userName eq "a""#; 100].join(" or ");
    let response = stack
        .app
        .client
        .get(format!("{}/Groups", stack.app.scim_url()))
        .query(&[("filter", hundred.as_str())])
        .bearer_auth(&stack.app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_a_filter_value() {
    let stack = Stack::spawn().await;
    for filter in ["userName eq \"a\u{0}b\"", r#"userName eq "a\u0000b""#, "externalId eq a\u{0}"] {
        for resource in ["/Users", "/Groups"] {
            let request = stack
                .app
                .client
                .get(format!("{}{resource}", stack.app.scim_url()))
                .query(&[("filter", filter)])
                .bearer_auth(&stack.app.token);
            stack.refused(request, 400, Some("invalidFilter")).await;
        }
    }
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "displayName eq \"\u{1}\""});
    stack
        .refused(
            stack.json(reqwest::Method::POST, "/Users/.search", &search),
            400,
            Some("invalidFilter"),
        )
        .await;
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_grows_past_the_broker_limit_is_413() {
    // 150,000 × `9e15` is 750 kB as sent, within gateway.max_body_bytes, and within every
    // per-attribute limit (150 arrays of 1,000); re-serialised, each number is
    // `9000000000000000.0`, and the event is 2.9 MB, past kafka.max_message_bytes. It used to be
    // a 503 (retried for ever); it is a 413.
    let stack = Stack::spawn().await;
    let array = vec!["9e15"; 1_000].join(",");
    let attributes: Vec<String> = (0..150).map(|i| format!(r#""n{i}":[{array}]"#)).collect();
    let body =
        format!(r#"{{"userName":"big@contoso.com","{CUSTOM}":{{{}}}}}"#, attributes.join(","));
    assert!(body.len() < stack.app.settings.gateway.max_body_bytes);
    let answer = stack.refused(stack.raw(reqwest::Method::POST, "/Users", body), 413, None).await;
    assert!(detail(&answer).contains("bytes once encoded"), "{answer}");
    // A group replacement the same way.
    let group = stack.group("Numbers").await;
    let body = format!(r#"{{"displayName":"Numbers","{CUSTOM}":{{{}}}}}"#, attributes.join(","));
    stack
        .refused(stack.raw(reqwest::Method::PUT, &format!("/Groups/{group}"), body), 413, None)
        .await;
    stack.bystander_provisions().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_a_role_mapping_rule_is_a_problem_json_400() {
    let stack = Stack::spawn().await;
    let published = stack.app.published_count().await;
    for (rules, field) in [
        (
            json!({"groups": [{"displayName": "Sales\u{0}", "productRole": "sales"}]}),
            "groups[0].displayName",
        ),
        (
            json!({"appRoles": [{"appRole": "admin", "productRole": "a\u{0}"}]}),
            "appRoles[0].productRole",
        ),
        (json!({"defaultRole": "\u{0}member"}), "defaultRole"),
    ] {
        let started = Instant::now();
        let response = stack
            .app
            .admin(
                reqwest::Method::PUT,
                &format!("/directories/{}/role-mappings", stack.app.directory_id),
                Some(rules),
            )
            .await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], 400);
        let detail = detail(&body);
        assert!(
            detail.starts_with(&format!("{field}: contains the control character U+0000")),
            "{body}"
        );
    }
    assert_eq!(stack.app.published_count().await, published, "nothing is published");
    stack.bystander_provisions().await;
}

/// What a hostile client sends to the point lookups (on each worker's async connections) and to
/// the token check (which remembers tokens that verified) is a 4xx, and another tenant's
/// directory still provisions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_point_lookups_and_tokens() {
    let stack = Stack::spawn().await;
    let scim = stack.app.scim_url();
    let lookup = |filter: &str| {
        stack
            .app
            .client
            .get(format!("{scim}/Users"))
            .query(&[("filter", filter)])
            .bearer_auth(&stack.app.token)
    };
    // A lookup of a long value that does not compress, within the filter's 4,096 bytes: none.
    let long = format!("userName eq \"{}\"", random_text(900));
    let response = lookup(&long).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["totalResults"], 0);
    // Past the limit, and control characters in each indexed attribute's value.
    let over = format!("userName eq \"{}\"", "a".repeat(5_000));
    stack.refused(lookup(&over), 400, Some("invalidFilter")).await;
    for attr in ["userName", "externalId", "id", "displayName"] {
        let filter = format!("{attr} eq \"a\u{1}b\"");
        stack.refused(lookup(&filter), 400, Some("invalidFilter")).await;
    }
    // Ids that are not a user's: never a lookup, a 404.
    for id in ["a".repeat(2_000), "%00".to_string(), "..%2F..%2Fadmin".to_string()] {
        let request = stack.raw(reqwest::Method::GET, &format!("/Users/{id}"), String::new());
        stack.refused(request, 404, None).await;
    }
    // Made-up tokens, a token of 6 KB, and one signed with another key for the bystander's
    // directory: 401, and none is remembered as verified.
    let garbage: Vec<String> = (0..100).map(|i| format!("eyJhbGciOiJIUzI1NiJ9.{i}.x")).collect();
    let forged = forged_token(stack.bystander.directory_id, uuid::Uuid::new_v4());
    let bystander_url =
        format!("{}/scim/v2/{}/Users", stack.app.base_url, stack.bystander.directory_id);
    for token in garbage.iter().chain([&"a".repeat(6_000)]) {
        let request = stack.app.client.get(format!("{scim}/Users")).bearer_auth(token);
        stack.refused(request, 401, None).await;
    }
    stack.refused(stack.app.client.get(&bystander_url).bearer_auth(&forged), 401, None).await;
    // The directory's own token still looks up.
    assert_eq!(lookup("userName eq \"nobody\"").send().await.unwrap().status(), 200);
    stack.bystander_provisions().await;
}
