//! Every request of docs/entra/requests.md §1–§4, §6 and §7 (the machine-readable extract in
//! crates/scim/tests/fixtures/entra-requests.fixtures.json), in both the default and the
//! `aadOptscim062020` shapes, replayed in order against the real stack: each gets its documented
//! status, and the state after it is checked where the document says what it should be.
//! The documents' ids are placeholders: they are mapped to the ids this server assigned.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use roster_integration_tests::{TestApp, entra_user, eventually};
use serde_json::Value;

const FIXTURES: &str =
    include_str!("../../crates/scim/tests/fixtures/entra-requests.fixtures.json");

/// Member ids the documents use in group PATCHes; each becomes a real user.
const DOC_MEMBERS: &[&str] =
    &["f648f8d5ea4e4cd38e9c", "u1091", "7f4bc1a3-285e-48ae-8202-5accb43efb0e"];

struct Replay<'a> {
    app: &'a TestApp,
    user: Option<String>,
    group: Option<String>,
    members: HashMap<&'static str, String>,
    /// Every request sent, as `(method, status)`, for the provisioning log's check.
    sent: RefCell<Vec<(String, u16)>>,
}

impl Replay<'_> {
    async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let method_text = method.to_string();
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .app
            .client
            .request(method, format!("{}{path}", self.app.scim_url()))
            .bearer_auth(&self.app.token);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        self.sent.borrow_mut().push((method_text, status));
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn fresh_user(&mut self) -> String {
        let response = self.app.post_user(&entra_user(&uuid::Uuid::new_v4().to_string())).await;
        self.sent.borrow_mut().push(("POST".into(), response.status().as_u16()));
        let created: Value = response.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_string();
        self.user = Some(id.clone());
        id
    }

    /// The document's path with its placeholder ids replaced by live ones.
    async fn path(&mut self, fixture: &Value) -> String {
        let path = fixture["path"].as_str().unwrap().to_string();
        let expect_404 = fixture["expect_status"] == 404;
        let Some((collection, rest)) = path.trim_start_matches('/').split_once('/') else {
            return path;
        };
        let (doc_id, query) = match rest.split_once('?') {
            Some((id, q)) => (id, format!("?{q}")),
            None => (rest, String::new()),
        };
        let id = if expect_404 {
            uuid::Uuid::new_v4().to_string()
        } else if collection == "Users" {
            match &self.user {
                Some(id) => id.clone(),
                None => self.fresh_user().await,
            }
        } else if collection == "Groups" {
            self.group.clone().expect("a group was created before")
        } else {
            doc_id.to_string()
        };
        format!("/{collection}/{id}{query}")
    }

    fn body(&self, fixture: &Value) -> Option<Value> {
        let body = fixture.get("body")?;
        let mut text = body.to_string();
        for (doc, real) in &self.members {
            text = text.replace(doc, real);
        }
        Some(serde_json::from_str(&text).unwrap())
    }

    async fn member_ids(&self) -> Vec<String> {
        let group = self.group.as_ref().unwrap();
        let (_, body) = self.send("GET", &format!("/Groups/{group}"), None).await;
        body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_string())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_entra_request_in_order() {
    let app = TestApp::spawn().await;
    let fixtures: Value = serde_json::from_str(FIXTURES).unwrap();
    let mut replay = Replay {
        app: &app,
        user: None,
        group: None,
        members: HashMap::new(),
        sent: RefCell::new(Vec::new()),
    };
    for doc in DOC_MEMBERS {
        let response = app.post_user(&entra_user(&format!("member-{doc}"))).await;
        replay.sent.borrow_mut().push(("POST".into(), response.status().as_u16()));
        let created: Value = response.json().await.unwrap();
        replay.members.insert(doc, created["id"].as_str().unwrap().to_string());
    }
    let mut replayed = 0;
    for fixture in fixtures["fixtures"].as_array().unwrap() {
        let name = fixture["id"].as_str().unwrap();
        let method = fixture["method"].as_str().unwrap();
        // Before a member removal, the member is added, so the removal has something to remove.
        if name.starts_with("flag-remove-member") || name == "patch-group-remove-members" {
            let group = replay.group.clone().unwrap();
            let all: Vec<Value> =
                replay.members.values().map(|id| serde_json::json!({"value": id})).collect();
            let add =
                serde_json::json!({"Operations": [{"op": "add", "path": "members", "value": all}]});
            assert_eq!(replay.send("PATCH", &format!("/Groups/{group}"), Some(&add)).await.0, 204);
        }
        // The three role sections are three app configurations provisioning the same person:
        // the previous one's user is deprovisioned first.
        if (name == "role-complex-post" || name == "role-assertive-post")
            && let Some(user) = replay.user.take()
        {
            assert_eq!(replay.send("DELETE", &format!("/Users/{user}"), None).await.0, 204);
        }
        let path = replay.path(fixture).await;
        let body = replay.body(fixture);
        let (status, response) = replay.send(method, &path, body.as_ref()).await;
        match fixture["expect_status"].as_u64() {
            Some(expected) => assert_eq!(u64::from(status), expected, "{name}: {response}"),
            None => assert!(status == 200 || status == 204, "{name}: {status} {response}"),
        }
        replayed += 1;

        // What the documents say the state is afterwards.
        match name {
            "test-connection" | "query-user-zero" => {
                assert_eq!(response["totalResults"], 0, "{name}")
            }
            "create-user" | "role-single-post" | "role-complex-post" | "role-assertive-post" => {
                replay.user = Some(response["id"].as_str().unwrap().to_string());
            }
            "query-user-userName" => assert_eq!(response["totalResults"], 1, "{name}"),
            "patch-user-userName" => {
                assert_eq!(
                    response["userName"],
                    "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
                )
            }
            "disable-user" | "flag-disable-without" | "flag-disable-with" => {
                let (_, user) = replay.send("GET", &path, None).await;
                assert_eq!(user["active"], false, "{name}: inactive, and still readable");
            }
            "delete-user" => {
                assert_eq!(replay.send("GET", &path, None).await.0, 404);
                replay.user = None;
            }
            "create-group" => replay.group = Some(response["id"].as_str().unwrap().to_string()),
            "get-group-excl-members" | "query-group-displayName" => {
                let group = if name == "get-group-excl-members" {
                    &response
                } else {
                    &response["Resources"][0]
                };
                assert!(group.get("members").is_none(), "{name}: {response}");
            }
            "patch-group-add-members" => {
                assert!(
                    replay.member_ids().await.contains(&replay.members["f648f8d5ea4e4cd38e9c"])
                );
            }
            "patch-group-remove-members"
            | "flag-remove-member-without"
            | "flag-remove-member-with" => {
                let removed = match name {
                    "patch-group-remove-members" => "f648f8d5ea4e4cd38e9c",
                    "flag-remove-member-without" => "u1091",
                    _ => "7f4bc1a3-285e-48ae-8202-5accb43efb0e",
                };
                let members = replay.member_ids().await;
                assert!(
                    !members.contains(&replay.members[removed]),
                    "{name}: listed member removed"
                );
                assert_eq!(
                    members.len(),
                    DOC_MEMBERS.len() - 1,
                    "{name}: only the listed member removed"
                );
            }
            "delete-group" => {
                assert_eq!(replay.send("GET", &path, None).await.0, 404);
                // Later group requests need a group again.
                let group = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Replay"});
                let (status, created) = replay.send("POST", "/Groups", Some(&group)).await;
                assert_eq!(status, 201);
                replay.group = Some(created["id"].as_str().unwrap().to_string());
            }
            "role-complex-patch" => {
                let (_, user) = replay.send("GET", &path, None).await;
                let values: Vec<&str> = user["roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["value"].as_str().unwrap())
                    .collect();
                assert!(
                    values.contains(&"Admin") && values.contains(&"User"),
                    "JSON-in-string roles unwrapped: {user}"
                );
            }
            _ => {}
        }
    }
    assert_eq!(replayed, fixtures["fixtures"].as_array().unwrap().len());
    provisioning_log_lists_every_request(&app, replay.sent.into_inner()).await;
    // Replaying the log into a fresh database reproduces the projection row for row.
    let into = crate::rebuild::rebuild_url(&app);
    let rebuilt = crate::rebuild::rebuild(&app, &into);
    let _ = roster_store::database::drop_if_exists(&into);
    assert_eq!(rebuilt.differences, Vec::<String>::new());
}

/// The directory's provisioning log holds one entry per request sent, each with the status
/// its client was answered, and Entra's Test Connection shows as a successful probe.
async fn provisioning_log_lists_every_request(app: &TestApp, mut sent: Vec<(String, u16)>) {
    let directory = app.directory_id;
    let entries = eventually(Duration::from_secs(5), "every request in the log", || async {
        let mut entries = Vec::new();
        let mut cursor = String::new();
        loop {
            let page: Value = app
                .admin(
                    reqwest::Method::GET,
                    &format!("/directories/{directory}/provisioning-log?limit=500&cursor={cursor}"),
                    None,
                )
                .await
                .json()
                .await
                .unwrap();
            entries.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["nextCursor"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => break,
            }
        }
        (entries.len() >= sent.len()).then_some(entries)
    })
    .await;
    let mut logged: Vec<(String, u16)> = entries
        .iter()
        .map(|e| (e["method"].as_str().unwrap().to_string(), e["status"].as_u64().unwrap() as u16))
        .collect();
    sent.sort();
    logged.sort();
    assert_eq!(logged, sent, "the log holds exactly the requests sent, with their statuses");
    assert!(entries.iter().all(|e| e["requestId"].as_str().is_some_and(|id| !id.is_empty())));
    let failures = entries.iter().filter(|e| e["status"].as_u64().unwrap() >= 400);
    assert!(failures.clone().all(|e| e["detail"].is_string()), "failures say why");
    let probe = entries.iter().find(|e| e["probe"] == true).expect("the Test Connection probe");
    assert_eq!(probe["status"], 200);
    assert_eq!(probe["method"], "GET");
    let health: Value = app
        .admin(reqwest::Method::GET, &format!("/directories/{directory}/health"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(health["lastProbe"]["succeeded"], true, "{health}");
    assert_eq!(health["lastDay"]["requests"], entries.len(), "{health}");
}
