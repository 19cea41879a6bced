//! The requests of docs/entra/requests.md that `entra_replay.rs` does not replay: §5 (the
//! tutorial's "Handling provisioning and deprovisioning" examples 1–6), §6.5 (the extra flagged
//! examples of the 2020 wording) and §8 (requests observed in the wild, the SCIM Validator's
//! traffic), each replayed in document order against the real stack. Every request gets the
//! status the documents (or docs/entra/behaviour.md, or RFC 7644) give it, and the state
//! after it is read back where they say what it should be.
//!
//! Bodies are the documents' text, verbatim in raw string literals, except where a comment says
//! what was changed (an annotation of the third party removed, an unterminated string closed).
//! The documents' ids are placeholders: [`Replay`] maps each to an id this server assigned, in
//! paths and bodies, before sending.

use roster_integration_tests::{TestApp, entra_user};
use serde_json::{Value, json};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// One answer: status, Content-Type and the body as JSON (`Null` when empty).
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

/// Sends requests the way Entra does, with the documents' placeholder ids replaced.
struct Replay<'a> {
    app: &'a TestApp,
    /// (document placeholder, id this server assigned)
    ids: Vec<(&'static str, String)>,
}

impl<'a> Replay<'a> {
    fn new(app: &'a TestApp) -> Replay<'a> {
        Replay { app, ids: Vec::new() }
    }

    /// From now on, `doc` in a path or body stands for `real`.
    fn map(&mut self, doc: &'static str, real: &str) {
        self.ids.push((doc, real.to_string()));
    }

    /// `text` with every placeholder replaced where it is a whole token (a run of letters,
    /// digits and `-`), so that `271` in `"value": "271"` is replaced but not inside an id.
    fn substitute(&self, text: &str) -> String {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '-';
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            let len =
                if word(c) { rest.find(|c| !word(c)).unwrap_or(rest.len()) } else { c.len_utf8() };
            let token = &rest[..len];
            match self.ids.iter().find(|(doc, _)| *doc == token) {
                Some((_, real)) => out.push_str(real),
                None => out.push_str(token),
            }
            rest = &rest[len..];
        }
        out
    }

    /// A request with a raw body, sent as Entra sends it (`application/scim+json;
    /// charset=utf-8`, reference §0).
    async fn send(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let url = format!("{}{}", self.app.scim_url(), self.substitute(path));
        let mut request = self.app.client.request(method, url).bearer_auth(&self.app.token);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json; charset=utf-8")
                .body(self.substitute(body));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer { status, content_type, body }
    }

    /// A request whose body is given as JSON.
    async fn send_json(&self, method: &str, path: &str, body: &Value) -> Answer {
        self.send(method, path, Some(&body.to_string())).await
    }

    /// `GET /Users/{id}`: must be 200 and the user asked for.
    async fn user(&self, id: &str) -> Value {
        let answer = self.send("GET", &format!("/Users/{id}"), None).await;
        assert_eq!(answer.status, 200, "GET /Users/{id}: {}", answer.body);
        assert_eq!(answer.body["id"], id);
        answer.body
    }

    /// `GET /Groups/{id}`: must be 200 and the group asked for.
    async fn group(&self, id: &str) -> Value {
        let answer = self.send("GET", &format!("/Groups/{id}"), None).await;
        assert_eq!(answer.status, 200, "GET /Groups/{id}: {}", answer.body);
        assert_eq!(answer.body["id"], id);
        answer.body
    }

    /// The member ids of a group, sorted.
    async fn members(&self, group: &str) -> Vec<String> {
        let group = self.group(group).await;
        let mut ids: Vec<String> = group["members"]
            .as_array()
            .map(|m| m.iter().map(|m| m["value"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// A `totalResults` of a query that must answer 200 with a ListResponse.
    async fn count(&self, path: &str) -> (u64, Value) {
        let answer = self.send("GET", path, None).await;
        assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
        assert_eq!(
            answer.body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]),
            "GET {path}"
        );
        let total = answer.body["totalResults"].as_u64().unwrap();
        assert_eq!(answer.body["Resources"].as_array().unwrap().len() as u64, total, "GET {path}");
        (total, answer.body)
    }

    /// A user that is not one of the replayed requests but a precondition of them.
    async fn precondition_user(&self, user_name: &str) -> String {
        let response = self.app.post_user(&entra_user(user_name)).await;
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.unwrap();
        created["id"].as_str().unwrap().to_string()
    }

    /// A group (a precondition) with these members.
    async fn precondition_group(&self, display_name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": display_name,
            "members": members,
        });
        let answer = self.send_json("POST", "/Groups", &body).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body["id"].as_str().unwrap().to_string()
    }
}

/// A filter as Entra sends it in a query string: form-encoded, space as `+`, quote as `%22`.
fn form(text: &str) -> String {
    text.replace(' ', "+").replace('"', "%22").replace('[', "%5B").replace(']', "%5D")
}

/// A SCIM error (RFC 7644 §3.12) with this status and scimType, as `application/scim+json`.
fn assert_error(answer: &Answer, status: u16, scim_type: Option<&str>, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert!(
        answer.content_type.starts_with("application/scim+json"),
        "{what}: an error is application/scim+json, not {:?}",
        answer.content_type
    );
    assert_eq!(answer.body["schemas"], json!([ERROR]), "{what}");
    assert_eq!(answer.body["status"], status.to_string(), "{what}: status is a string");
    if let Some(scim_type) = scim_type {
        assert_eq!(answer.body["scimType"], scim_type, "{what}");
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

// ---------------------------------------------------------------------------------------------
// §5: TUT "Handling provisioning and deprovisioning of users", examples 1–6

/// §5.2, verbatim: misspelt enterprise URN, explicit nulls, `department`/`manager` at the top.
const S5_2_POST: &str = r#"{
   "schemas":
   [
     "urn:ietf:params:scim:schemas:core:2.0:User",
     "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
   "externalId":"jyoung",
   "userName":"jyoung@testuser.com",
   "active":true,
   "addresses":null,
   "displayName":"Joy Young",
   "emails": [
     {
       "type":"work",
       "value":"jyoung@Contoso.com",
       "primary":true}],
   "meta": {
     "resourceType":"User"},
    "name":{
     "familyName":"Young",
     "givenName":"Joy"},
   "phoneNumbers":null,
   "preferredLanguage":null,
   "title":null,
   "department":null,
   "manager":null}"#;

/// §5.5, verbatim: bare `manager` path, `Add`, the value a one-element list.
const S5_5_PATCH: &str = r#"{
    "schemas": 
    [
      "urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations":
    [
      {
        "op":"Add",
        "path":"manager",
        "value":
          [
            {
              "$ref":"http://.../scim/Users/00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
              "value":"00aa00aa-bb11-cc22-dd33-44ee44ee44ee"}]}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_5_provisioning_and_deprovisioning_examples() {
    let app = TestApp::spawn().await;
    let mut replay = Replay::new(&app);
    // The manager of §5.4/§5.5 is a user Entra provisioned before.
    let manager = replay.precondition_user("manager@testuser.com").await;
    replay.map("00aa00aa-bb11-cc22-dd33-44ee44ee44ee", &manager);
    replay.map("2819c223-7f76-453a-919d-413861904646", &manager);

    // §5.1: `GET /Users?filter=externalId eq jyoung` (unquoted value, Q15): no match yet.
    let s5_1 = format!("/Users?filter={}", form("externalId eq jyoung"));
    assert_eq!(replay.count(&s5_1).await.0, 0, "§5.1 before the user exists");

    // §5.2: provision.
    let created = replay.send("POST", "/Users", Some(S5_2_POST)).await;
    assert_eq!(created.status, 201, "§5.2: {}", created.body);
    let user = created.body["id"].as_str().unwrap().to_string();
    replay.map("a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1", &user);
    replay.map("54D382A4-2050-4C03-94D1-E769F1D15682", &user);
    assert_eq!(created.body["userName"], "jyoung@testuser.com");
    assert_eq!(created.body["externalId"], "jyoung");
    assert_eq!(created.body["active"], true);
    // Nulls are absent (Q12), and no manager came from the top-level `"manager": null`.
    for absent in ["addresses", "phoneNumbers", "preferredLanguage", "title", "department"] {
        assert!(created.body.get(absent).is_none(), "§5.2: {absent}: {}", created.body);
    }
    assert!(created.body[ENTERPRISE]["manager"].is_null(), "§5.2: {}", created.body);
    // Now Entra's matching query finds it.
    let (total, found) = replay.count(&s5_1).await;
    assert_eq!(total, 1, "§5.1 after §5.2");
    assert_eq!(found["Resources"][0]["id"], user.as_str());

    // §5.3: query current state; values stored as sent.
    let answer = replay.send("GET", "/Users/a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1", None).await;
    assert_eq!(answer.status, 200, "§5.3: {}", answer.body);
    assert_eq!(answer.body["id"], user.as_str());
    assert_eq!(answer.body["displayName"], "Joy Young");
    assert_eq!(answer.body["name"]["familyName"], "Young");
    assert_eq!(answer.body["name"]["givenName"], "Joy");
    assert_eq!(
        answer.body["emails"],
        json!([{"type": "work", "value": "jyoung@Contoso.com", "primary": true}])
    );

    // §5.4: the reference check before the manager update: `id eq … and manager eq …` (both
    // unquoted), `attributes=id`. No manager yet: an empty ListResponse.
    let s5_4 = format!(
        "/Users?filter={}&attributes=id",
        form(
            "id eq 54D382A4-2050-4C03-94D1-E769F1D15682 and manager eq \
             2819c223-7f76-453a-919d-413861904646"
        )
    );
    assert_eq!(replay.count(&s5_4).await.0, 0, "§5.4 before the manager is set");

    // §5.5: update manager.
    let answer =
        replay.send("PATCH", "/Users/a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1", Some(S5_5_PATCH)).await;
    assert_eq!(answer.status, 200, "§5.5: {}", answer.body);
    let after = replay.user(&user).await;
    assert_eq!(after[ENTERPRISE]["manager"]["value"], manager.as_str(), "§5.5: {after}");
    assert!(after.get("manager").is_none(), "§5.5: the enterprise manager, not a core one");

    // §5.4 again (the check Entra makes before its next manager update): now the one user,
    // with only its id (and schemas, returned always).
    let (total, found) = replay.count(&s5_4).await;
    assert_eq!(total, 1, "§5.4 after §5.5");
    let resource = found["Resources"][0].as_object().unwrap();
    assert_eq!(resource["id"], user.as_str());
    let mut keys: Vec<&str> = resource.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "schemas"], "§5.4 attributes=id: {found}");

    // §5.6: deprovision; then 404, the matching query finds nothing and the userName is free.
    let answer = replay.send("DELETE", "/Users/a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1", None).await;
    assert_eq!(answer.status, 204, "§5.6: {}", answer.body);
    let gone = replay.send("GET", "/Users/a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1", None).await;
    assert_error(&gone, 404, None, "GET after §5.6");
    assert_eq!(replay.count(&s5_1).await.0, 0, "§5.1 after §5.6");
    let again = replay.send("POST", "/Users", Some(S5_2_POST)).await;
    assert_eq!(again.status, 201, "§5.2 after §5.6: {}", again.body);
    assert_ne!(again.body["id"], user.as_str());
}

/// §5.4's note for groups (LEGACY: "Requests to determine whether a reference attribute has a
/// certain value are requests about the members attribute"; the 2019 requirement "Supports
/// querying groups by ID and by member"; docs/entra/behaviour.md §10.4 lists `members` among the
/// filter attributes): the reference check `id eq … and members eq …`, unquoted as in the
/// legacy line, with `attributes=id`, answers a ListResponse with 0 or 1 resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_5_4_group_reference_check_by_member() {
    let app = TestApp::spawn().await;
    let replay = Replay::new(&app);
    let user = replay.precondition_user("member@testuser.com").await;
    let other = replay.precondition_user("other@testuser.com").await;
    let group = replay.precondition_group("Reference check", &[&user]).await;
    let members_check = |member: &str| {
        format!(
            "/Groups?filter={}&attributes=id",
            form(&format!("id eq {group} and members eq {member}"))
        )
    };
    let (total, found) = replay.count(&members_check(&user)).await;
    assert_eq!(total, 1, "§5.4 groups, a member: {found}");
    assert_eq!(found["Resources"][0]["id"], group.as_str());
    assert_eq!(replay.count(&members_check(&other)).await.0, 0, "§5.4 groups, not a member");
}

// ---------------------------------------------------------------------------------------------
// §6.5: extra flagged examples (COMPAT-2020), in document order

const S6_5_REMOVE_MEMBER: &str = r#"{
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ],
    "Operations": [
        {
            "op": "remove",
            "path": "members[value eq \"16b083c0-f1e8-4544-b6ee-27a28dc98761\"]"
        }
    ]
   }"#;

const S6_5_DISABLE: &str = r#"{
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ],
    "Operations": [
        {
            "op": "replace",
            "path": "active",
            "value": false
        }
    ]
    }"#;

const S6_5_DEPARTMENT: &str = r#"{
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ],
    "Operations": [
        {
            "op": "add",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "value": "Tech Infrastructure"
        }
    ]
    }"#;

const S6_5_ADD_MEMBER: &str = r#"{
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ],
    "Operations": [
        {
            "op": "add",
            "path": "members",
            "value": [
                {
                    "value": "10263a6910a84ef9a581dd9b8dcc0eae"
                }
            ]
        }
    ]
    }"#;

const S6_5_MULTI: &str = r#"{
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ],
    "Operations": [
        {
            "op": "replace",
            "path": "emails[type eq \"work\"].value",
            "value": "someone@contoso.com"
        },
        {
            "op": "replace",
            "path": "emails[type eq \"work\"].primary",
            "value": true
        },
        {
            "op": "replace",
            "value": {
                "active": false,
                "userName": "someone"
            }
        }
    ]
    }"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_6_5_flagged_examples_of_2020() {
    let app = TestApp::spawn().await;
    let mut replay = Replay::new(&app);
    // `/Users/ac56b4e5-…` and `/Groups/ac56b4e5-…` (the document uses one placeholder for both)
    // are a user and a group provisioned before; the group has the member §6.5 removes and one
    // more.
    let user = replay.precondition_user("ac56b4e5@contoso.com").await;
    let removed = replay.precondition_user("16b083c0@contoso.com").await;
    let stays = replay.precondition_user("stays@contoso.com").await;
    let added = replay.precondition_user("10263a69@contoso.com").await;
    replay.map("16b083c0-f1e8-4544-b6ee-27a28dc98761", &removed);
    replay.map("10263a6910a84ef9a581dd9b8dcc0eae", &added);
    let group = replay.precondition_group("ac56b4e5", &[&removed, &stays]).await;

    // Remove a member with a value filter: only that member goes.
    let answer = replay.send("PATCH", &format!("/Groups/{group}"), Some(S6_5_REMOVE_MEMBER)).await;
    assert_eq!(answer.status, 204, "§6.5 remove member: {}", answer.body);
    assert_eq!(replay.members(&group).await, vec![stays.clone()], "§6.5 remove member");

    // Disable with a JSON boolean: still readable, inactive.
    let answer = replay.send("PATCH", &format!("/Users/{user}"), Some(S6_5_DISABLE)).await;
    assert_eq!(answer.status, 200, "§6.5 disable: {}", answer.body);
    assert_eq!(answer.body["active"], false);
    assert_eq!(replay.user(&user).await["active"], false, "§6.5 disable");

    // Add a URN-qualified single-valued string attribute.
    let answer = replay.send("PATCH", &format!("/Users/{user}"), Some(S6_5_DEPARTMENT)).await;
    assert_eq!(answer.status, 200, "§6.5 department: {}", answer.body);
    let after = replay.user(&user).await;
    assert_eq!(after[ENTERPRISE]["department"], "Tech Infrastructure", "§6.5: {after}");
    assert!(after.get("department").is_none(), "§6.5: in the extension, not at the top");

    // Add a member.
    let answer = replay.send("PATCH", &format!("/Groups/{group}"), Some(S6_5_ADD_MEMBER)).await;
    assert_eq!(answer.status, 204, "§6.5 add member: {}", answer.body);
    assert_eq!(
        replay.members(&group).await,
        sorted(vec![stays.clone(), added.clone()]),
        "§6.5 add member"
    );

    // Filtered sub-attribute replaces (one with a boolean) and a path-less replace of `active`
    // and `userName` together.
    let answer = replay.send("PATCH", &format!("/Users/{user}"), Some(S6_5_MULTI)).await;
    assert_eq!(answer.status, 200, "§6.5 multi: {}", answer.body);
    let after = replay.user(&user).await;
    assert_eq!(after["userName"], "someone", "§6.5 multi: {after}");
    assert_eq!(after["active"], false, "§6.5 multi: {after}");
    assert_eq!(
        after["emails"],
        json!([{"type": "work", "value": "someone@contoso.com", "primary": true}]),
        "§6.5 multi: the work email changed in place, nothing added"
    );
    assert_eq!(after[ENTERPRISE]["department"], "Tech Infrastructure", "§6.5 multi: kept");
    let (total, found) =
        replay.count(&format!("/Users?filter={}", form("userName eq \"someone\""))).await;
    assert_eq!(total, 1, "§6.5 multi: found by its new userName");
    assert_eq!(found["Resources"][0]["id"], user.as_str());
}

// ---------------------------------------------------------------------------------------------
// §8.1, §8.2: the manager as a plain string on a URN path, removed with a value filter

const S8_1_PATCH: &str = r#"{
    "Operations": [
        {
            "op": "Add",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "value": "271"
        }
    ],
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ]
}"#;

/// §8.2 quotes one operation as a JavaScript object literal,
/// `{ op: 'remove', 'path': 'manager[value eq "manager-id"]'}`: here it is that operation, in JSON,
/// in a PatchOp message.
const S8_2_PATCH: &str = r#"{
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{ "op": "remove", "path": "manager[value eq \"manager-id\"]"}]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_8_1_and_8_2_manager_as_string_and_removed_by_filter() {
    let app = TestApp::spawn().await;
    let mut replay = Replay::new(&app);
    let user = replay.precondition_user("subordinate@contoso.com").await;
    // "271" and "manager-id" are the manager's id in the reporters' systems.
    let manager = replay.precondition_user("manager@contoso.com").await;
    replay.map("271", &manager);
    replay.map("manager-id", &manager);

    // §8.1: `manager.value` is the plain string.
    let answer = replay.send("PATCH", &format!("/Users/{user}"), Some(S8_1_PATCH)).await;
    assert_eq!(answer.status, 200, "§8.1: {}", answer.body);
    let after = replay.user(&user).await;
    assert!(after[ENTERPRISE]["manager"].is_object(), "§8.1: manager is complex: {after}");
    assert_eq!(after[ENTERPRISE]["manager"]["value"], manager.as_str(), "§8.1: {after}");
    // And the legacy reference check (§5.4 shape, quoted) finds it through the manager.
    let check = format!(
        "/Users?filter={}&attributes=id",
        form(&format!("id eq \"{user}\" and manager eq \"{manager}\""))
    );
    assert_eq!(replay.count(&check).await.0, 1, "§8.1: reference check");

    // §8.2: the manager goes, because its value matches.
    let answer = replay.send("PATCH", &format!("/Users/{user}"), Some(S8_2_PATCH)).await;
    assert_eq!(answer.status, 200, "§8.2: {}", answer.body);
    let after = replay.user(&user).await;
    assert!(after[ENTERPRISE]["manager"].is_null(), "§8.2: manager removed: {after}");
    assert_eq!(after["userName"], "subordinate@contoso.com", "§8.2: nothing else changed");
    assert_eq!(replay.count(&check).await.0, 0, "§8.2: reference check");
}

// ---------------------------------------------------------------------------------------------
// §8.3: the real multi-attribute update

/// §8.3 verbatim: the last `value` string is unterminated, so this is not JSON.
const S8_3_AS_REPORTED: &str = r#"{
    "Operations": [
        {
            "op": "Replace",
            "path": "displayName",
            "value": "Test 01"
        },
        {
            "op": "Replace",
            "path": "emails[type eq \"work\"].value",
            "value": "test01@example.com"
        },
        {
            "op": "Replace",
            "path": "userName",
            "value": "test01@example.com"
        },
        {
            "op": "Replace",
            "path": "name.familyName",
            "value": "Tesst 01"
        },
        {
            "op": "Replace",
            "path": "name.formatted",
            "value": "Test 01
        }
    ],
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_8_3_multi_attribute_update_as_reported_and_repaired() {
    let app = TestApp::spawn().await;
    let replay = Replay::new(&app);
    let user = replay.precondition_user("test00@example.com").await;
    let before = replay.user(&user).await;

    // As reported: not JSON, so 400 invalidSyntax, nothing published, nothing changed.
    let published = app.published_count().await;
    let answer = replay.send("PATCH", &format!("/Users/{user}"), Some(S8_3_AS_REPORTED)).await;
    assert_error(&answer, 400, Some("invalidSyntax"), "§8.3 as reported");
    assert_eq!(app.published_count().await, published, "§8.3 as reported: not published");
    assert_eq!(replay.user(&user).await, before, "§8.3 as reported: unchanged");

    // Repaired (the closing quote of `"Test 01"` added): every attribute replaced.
    let repaired = S8_3_AS_REPORTED.replace("\"Test 01\n", "\"Test 01\"\n");
    assert_ne!(repaired, S8_3_AS_REPORTED);
    let answer = replay.send("PATCH", &format!("/Users/{user}"), Some(&repaired)).await;
    assert_eq!(answer.status, 200, "§8.3 repaired: {}", answer.body);
    let after = replay.user(&user).await;
    assert_eq!(answer.body, after, "§8.3: the answer is the new state");
    assert_eq!(after["displayName"], "Test 01");
    assert_eq!(after["userName"], "test01@example.com");
    assert_eq!(after["name"]["familyName"], "Tesst 01");
    assert_eq!(after["name"]["formatted"], "Test 01");
    assert_eq!(after["name"]["givenName"], before["name"]["givenName"], "§8.3: sibling kept");
    assert_eq!(
        after["emails"],
        json!([{"primary": true, "type": "work", "value": "test01@example.com"}]),
        "§8.3: the work email replaced in place"
    );
}

// ---------------------------------------------------------------------------------------------
// §8.4: add to a filtered sub-attribute path when the element does not exist yet

/// §8.4, SCIM-SDK#680 verbatim: the trailing comma after the last operation makes it invalid
/// JSON.
const S8_4_AS_REPORTED: &str = r#"{
  "Operations": [
    {
      "op": "add",
      "path": "addresses[type eq \"work\"].formatted",
      "value": "USZLTUSJXBYV"
    },
    {
      "op": "add",
      "path": "addresses[type eq \"work\"].locality",
      "value": "OSGODHEVDCVD"
    },
    {
      "op": "add",
      "path": "addresses[type eq \"work\"].region",
      "value": "YMVMOEMXAYGD"
    },
	  ],
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_8_4_add_creates_the_filtered_element() {
    let app = TestApp::spawn().await;
    let replay = Replay::new(&app);
    // A user with neither emails nor addresses (the validator's minimal POST, §8.8).
    let created = replay
        .send(
            "POST",
            "/Users",
            Some(
                r#"{"userName": "keycloak@contoso.com", "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}"#,
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let user = created.body["id"].as_str().unwrap().to_string();
    assert!(created.body.get("emails").is_none() && created.body.get("addresses").is_none());

    // Metatavu/keycloak-scim-server#35 (the operation as the report lists it, in a PatchOp
    // message): the work email is created, with its type.
    let metatavu = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "something@outlook.com"}]
    });
    let answer = replay.send_json("PATCH", &format!("/Users/{user}"), &metatavu).await;
    assert_eq!(answer.status, 200, "§8.4 Metatavu: {}", answer.body);
    let after = replay.user(&user).await;
    assert_eq!(
        after["emails"],
        json!([{"type": "work", "value": "something@outlook.com"}]),
        "§8.4 Metatavu"
    );
    // Entra's lookup by the work email finds it (Q7).
    let by_email = format!(
        "/Users?filter={}",
        form("emails[type eq \"work\"].value eq \"something@outlook.com\"")
    );
    assert_eq!(replay.count(&by_email).await.0, 1, "§8.4 Metatavu: found by the work email");

    // SCIM-SDK#680 as reported: not JSON, 400 invalidSyntax, nothing changed.
    let answer = replay.send("PATCH", &format!("/Users/{user}"), Some(S8_4_AS_REPORTED)).await;
    assert_error(&answer, 400, Some("invalidSyntax"), "§8.4 SCIM-SDK#680 as reported");
    assert_eq!(replay.user(&user).await, after, "§8.4 as reported: unchanged");

    // Repaired (trailing comma removed): one work address with the three sub-attributes.
    let repaired = S8_4_AS_REPORTED.replace("},\n\t  ],", "}\n\t  ],");
    assert_ne!(repaired, S8_4_AS_REPORTED);
    let answer = replay.send("PATCH", &format!("/Users/{user}"), Some(&repaired)).await;
    assert_eq!(answer.status, 200, "§8.4 SCIM-SDK#680 repaired: {}", answer.body);
    let after = replay.user(&user).await;
    assert_eq!(
        after["addresses"],
        json!([{"type": "work", "formatted": "USZLTUSJXBYV", "locality": "OSGODHEVDCVD", "region": "YMVMOEMXAYGD"}]),
        "§8.4: one merged work address"
    );
    assert_eq!(after["emails"][0]["value"], "something@outlook.com", "§8.4: emails kept");

    // Sent again (Entra retries from escrow): still one element.
    let answer = replay.send("PATCH", &format!("/Users/{user}"), Some(&repaired)).await;
    assert_eq!(answer.status, 200, "§8.4 again: {}", answer.body);
    assert_eq!(replay.user(&user).await["addresses"].as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// §8.5: remove a member, legacy form

const S8_5_PATCH: &str = r#"{
    "schemas": [
        "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    ],
    "Operations": [
        {
            "op": "Remove",
            "path": "members",
            "value": [
                {
                    "value": "2392066"
                }
            ]
        }
    ]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_8_5_legacy_member_removal() {
    let app = TestApp::spawn().await;
    let mut replay = Replay::new(&app);
    let removed = replay.precondition_user("u2392066@contoso.com").await;
    let first = replay.precondition_user("u123456@contoso.com").await;
    let second = replay.precondition_user("u654321@contoso.com").await;
    let keeper = replay.precondition_user("keeper@contoso.com").await;
    replay.map("2392066", &removed);
    replay.map("123456", &first);
    replay.map("654321", &second);
    let group = replay.precondition_group("2752513", &[&removed, &first, &second, &keeper]).await;
    replay.map("2752513", &group);

    // `PATCH /scim/Groups/2752513`: the listed member goes, and only it.
    let answer = replay.send("PATCH", "/Groups/2752513", Some(S8_5_PATCH)).await;
    assert_eq!(answer.status, 204, "§8.5: {}", answer.body);
    assert_eq!(
        replay.members(&group).await,
        sorted(vec![first.clone(), second.clone(), keeper.clone()]),
        "§8.5: only the listed member removed"
    );
    assert_eq!(replay.user(&removed).await["active"], true, "§8.5: the user itself stays");

    // The SDK's test case: several `{value}` objects in one remove.
    let several = r#"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Remove", "path": "members",
            "value": [{"value": "123456"}, {"value": "654321"}]}]}"#;
    let answer = replay.send("PATCH", "/Groups/2752513", Some(several)).await;
    assert_eq!(answer.status, 204, "§8.5 several: {}", answer.body);
    assert_eq!(replay.members(&group).await, vec![keeper.clone()], "§8.5 several");
}

// ---------------------------------------------------------------------------------------------
// §8.6: a user unassigned from a group, then the group unassigned from the app

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_8_6_user_then_group_unassigned() {
    let app = TestApp::spawn().await;
    let replay = Replay::new(&app);
    let leaver = replay.precondition_user("leaver@contoso.com").await;
    let stayer = replay.precondition_user("stayer@contoso.com").await;
    let group = replay.precondition_group("Acqueon agents", &[&leaver, &stayer]).await;
    let disable = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": false}]});

    // User removed from a group: GET /Users → PATCH active:false → GET /Groups/{id} →
    // PATCH /Groups/{id} Remove member.
    assert_eq!(replay.user(&leaver).await["active"], true, "§8.6 GET /Users");
    let answer = replay.send_json("PATCH", &format!("/Users/{leaver}"), &disable).await;
    assert_eq!(answer.status, 200, "§8.6 disable: {}", answer.body);
    assert_eq!(answer.body["active"], false);
    replay.group(&group).await;
    let remove = format!(
        r#"{{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{{"op":"Remove","path":"members","value":[{{"value":"{leaver}"}}]}}]}}"#
    );
    let answer = replay.send("PATCH", &format!("/Groups/{group}"), Some(&remove)).await;
    assert_eq!(answer.status, 204, "§8.6 remove member: {}", answer.body);
    assert_eq!(replay.members(&group).await, vec![stayer.clone()], "§8.6 remove member");
    assert_eq!(replay.user(&leaver).await["active"], false, "§8.6: still readable, inactive");

    // Group unassigned: PATCH active:false for each member, GETs to confirm the users and the
    // group exist, DELETE /Groups/{groupId}.
    let answer = replay.send_json("PATCH", &format!("/Users/{stayer}"), &disable).await;
    assert_eq!(answer.status, 200, "§8.6 disable member: {}", answer.body);
    assert_eq!(replay.user(&stayer).await["active"], false, "§8.6 GET /Users");
    assert_eq!(replay.members(&group).await, vec![stayer.clone()], "§8.6: still a member");
    let answer = replay.send("DELETE", &format!("/Groups/{group}"), None).await;
    assert_eq!(answer.status, 204, "§8.6 DELETE group: {}", answer.body);
    let gone = replay.send("GET", &format!("/Groups/{group}"), None).await;
    assert_error(&gone, 404, None, "§8.6 GET after DELETE");
    // The users are kept, inactive (only a user DELETE removes them).
    assert_eq!(replay.user(&leaver).await["active"], false);
    assert_eq!(replay.user(&stayer).await["active"], false);
}

// ---------------------------------------------------------------------------------------------
// §8.7: the legacy sequence with a 409

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_8_7_legacy_sequence_with_a_conflict() {
    let app = TestApp::spawn().await;
    let mut replay = Replay::new(&app);
    // User 1813229 exists with John Wong's userName, but not with the externalId Entra matches
    // on (the log only shows request lines: the bodies below are ours).
    let existing = replay.precondition_user("johnwong@contoso.com").await;
    replay.map("1813229", &existing);

    // GET /Users/1813229 → 200.
    let answer = replay.send("GET", "/Users/1813229", None).await;
    assert_eq!(answer.status, 200, "§8.7 GET: {}", answer.body);
    // GET /Users?filter=externalId+eq+%22johnwong%22 → 200, no match.
    let query = "/Users?filter=externalId+eq+%22johnwong%22";
    assert_eq!(replay.count(query).await.0, 0, "§8.7 filter");
    // POST /Users → 409: the userName is taken (case-insensitively).
    let mut body = entra_user("JohnWong@contoso.com");
    body["externalId"] = json!("johnwong");
    let answer = replay.send_json("POST", "/Users", &body).await;
    assert_error(&answer, 409, Some("uniqueness"), "§8.7 POST");
    // PATCH /Users/1813229: the legacy server answered 201; RFC 7644 §3.5.2 says 200 (with the
    // resource, as this server does) or 204.
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "externalId", "value": "johnwong"}]});
    let answer = replay.send_json("PATCH", "/Users/1813229", &patch).await;
    assert_eq!(answer.status, 200, "§8.7 PATCH: {}", answer.body);
    // Now the externalId query matches the existing user, and no second user was made.
    let (total, found) = replay.count(query).await;
    assert_eq!(total, 1, "§8.7 filter after the PATCH");
    assert_eq!(found["Resources"][0]["id"], existing.as_str());
    assert_eq!(replay.count("/Users").await.0, 1, "§8.7: one user");
}

// ---------------------------------------------------------------------------------------------
// §8.8: Microsoft SCIM Validator traffic. The third party's annotations (`← …`, `// …`) are
// removed from the bodies; everything else is verbatim.

const S8_8_POST_USER: &str = r#"{
  "userName": "shaniya@bauch.co.uk",
  "active": true,
  "displayName": "BDFAIMDWZXYA",
  "emails": [{"type": "work", "value": "camille@hermannokuneva.ca", "primary": true}],
  "name": {"givenName": "Sadye", "familyName": "Keaton"},
  "addresses": [{"type": "work", "primary": true, "country": "Belize"}],
  "phoneNumbers": [
    {"type": "work", "value": "56-357-7743", "primary": true},
    {"type": "mobile", "value": "56-357-7743"},
    {"type": "fax", "value": "56-357-7743"}
  ],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
    "manager": {"value": "GZFDHGRKQLCG"}
  },
  "roles": [
    {
      "primary": "True",
      "display": "RAJBJMKHJSNI",
      "value": "OGCIACGFVVRR",
      "type": "IJAQSLXCMJPC"
    }
  ],
  "schemas": [
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
  ]
}"#;

const S8_8_POST_FULL_USER: &str = r#"{
  "userName": "julien.vonrueden@ondricka.us",
  "active": true,
  "displayName": "NDSQQTECVAAC",
  "title": "CJSGUNOAAMMQ",
  "emails": [
    { "type": "work", "value": "thaddeus@hammes.info", "primary": true }
  ],
  "preferredLanguage": "hi",
  "name": {
    "givenName": "Elfrieda",
    "familyName": "Urban",
    "formatted": "Myah",
    "middleName": "Cindy",
    "honorificPrefix": "Minerva",
    "honorificSuffix": "Micaela"
  },
  "addresses": [
    {
      "type": "work",
      "formatted": "ZQEHBLETAAQE",
      "streetAddress": "25928 Katlyn Row",
      "locality": "YRAKBQCGOHZF",
      "region": "XCCVLAIDMQYR",
      "postalCode": "cx47 4mz",
      "primary": true,
      "country": "Sierra Leone"
    }
  ],
  "phoneNumbers": [
    { "type": "work", "value": "10-040-1308", "primary": true },
    { "type": "mobile", "value": "10-040-1308" },
    { "type": "fax", "value": "10-040-1308" }
  ],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
    "employeeNumber": "OXYYEGWVLTGW",
    "department": "ZYWTBPDFHIIP",
    "costCenter": "ASHTVSKANCGL",
    "organization": "DPQRRHJMBXZE",
    "division": "WXNFEJQDRAVI",
    "manager": { "value": "XYMKVVRYDIOO" }
  },
  "roles": [
    {
      "primary": "True",
      "display": "MRONYWGFFHXQ",
      "value": "WDEIISGWWQBE",
      "type": "XVTUOHMYUFRL"
    }
  ],
  "userType": "GZILLRZCFPNC",
  "nickName": "FOGSIQTKHIPG",
  "locale": "RJWNTUNNOHNZ",
  "timezone": "America/Guayaquil",
  "profileUrl": "BAPNQLJSRQGD",
  "schemas": [
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
  ]
}"#;

/// "Patch User – Add Attributes Verbose": the source abbreviates 36 operations to these five and
/// a `// ... 36 total operations` line (removed, with the trailing comma before it).
const S8_8_ADD_ATTRIBUTES: &str = r#"{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [
    {"op": "add", "path": "active", "value": true},
    {"op": "add", "path": "displayName", "value": "RJEXKNFYZKXS"},
    {"op": "add", "path": "roles[primary eq \"True\"].display", "value": "TQBJFQYVJCAG"},
    {"op": "add", "path": "roles[primary eq \"True\"].value", "value": "UOYTUVLKIPND"},
    {"op": "add", "path": "roles[primary eq \"True\"].type", "value": "VGNBBCPQEMYC"}
  ]
}"#;

/// Add Manager / Replace Manager.
const S8_8_ADD_MANAGER: &str = r#"{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [
    {
      "op": "add",
      "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
      "value": "a2c1f66c-8611-4bcd-852f-54dc340e3d97"
    }
  ]
}"#;

/// Remove Manager (the `// ← Entra sends empty string to "remove"` annotation removed).
const S8_8_REMOVE_MANAGER: &str = r#"{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [
    {
      "op": "replace",
      "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
      "value": {
        "value": ""
      }
    }
  ]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_8_8_validator_user_tests() {
    let app = TestApp::spawn().await;
    let mut replay = Replay::new(&app);

    // Create a new User: `roles[].primary` the string "True" becomes a boolean (Q2, Q10).
    let answer = replay.send("POST", "/Users", Some(S8_8_POST_USER)).await;
    assert_eq!(answer.status, 201, "§8.8 POST: {}", answer.body);
    let first = answer.body["id"].as_str().unwrap().to_string();
    let user = replay.user(&first).await;
    assert_eq!(user["roles"][0]["primary"], true, "§8.8 POST: {user}");
    assert_eq!(user["roles"][0]["value"], "OGCIACGFVVRR");
    assert_eq!(user[ENTERPRISE]["manager"]["value"], "GZFDHGRKQLCG");
    assert_eq!(user["phoneNumbers"].as_array().unwrap().len(), 3);
    assert_eq!(user["addresses"], json!([{"type": "work", "primary": true, "country": "Belize"}]));

    // Create a duplicate User: the full-attribute body, then again → 409.
    let answer = replay.send("POST", "/Users", Some(S8_8_POST_FULL_USER)).await;
    assert_eq!(answer.status, 201, "§8.8 POST full: {}", answer.body);
    let second = answer.body["id"].as_str().unwrap().to_string();
    let user = replay.user(&second).await;
    let sent: Value = serde_json::from_str(S8_8_POST_FULL_USER).unwrap();
    for attr in ["title", "preferredLanguage", "userType", "nickName", "locale", "timezone"] {
        assert_eq!(user[attr], sent[attr], "§8.8 POST full: {attr}");
    }
    assert_eq!(user["profileUrl"], "BAPNQLJSRQGD");
    assert_eq!(user["name"], sent["name"], "§8.8 POST full: name");
    assert_eq!(user["addresses"], sent["addresses"], "§8.8 POST full: addresses");
    assert_eq!(user["roles"][0]["primary"], true);
    let mut enterprise = sent[ENTERPRISE].clone();
    enterprise["manager"] = json!({"value": "XYMKVVRYDIOO"});
    assert_eq!(user[ENTERPRISE], enterprise, "§8.8 POST full: enterprise");
    let answer = replay.send("POST", "/Users", Some(S8_8_POST_FULL_USER)).await;
    assert_error(&answer, 409, Some("uniqueness"), "§8.8 duplicate User");

    // Filter for existing user; with different case (userName is caseExact=false);
    // non-existing user.
    let filter = |name: &str| format!("/Users?filter={}", form(&format!("userName eq \"{name}\"")));
    let (total, found) = replay.count(&filter("julien.vonrueden@ondricka.us")).await;
    assert_eq!(total, 1, "§8.8 filter existing");
    assert_eq!(found["Resources"][0]["id"], second.as_str());
    let (total, found) = replay.count(&filter("JULIEN.VONRUEDEN@ONDRICKA.US")).await;
    assert_eq!(total, 1, "§8.8 filter different case");
    assert_eq!(found["Resources"][0]["id"], second.as_str());
    let random = uuid::Uuid::new_v4().to_string();
    assert_eq!(replay.count(&filter(&random)).await.0, 0, "§8.8 filter non-existing");

    // Patch User – Add Attributes Verbose: the minimal POST, then the add operations; the
    // filtered `roles[primary eq "True"].*` adds build one primary role.
    let minimal = r#"{"userName": "eleanore@boyercorwin.biz", "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}"#;
    let answer = replay.send("POST", "/Users", Some(minimal)).await;
    assert_eq!(answer.status, 201, "§8.8 minimal POST: {}", answer.body);
    let third = answer.body["id"].as_str().unwrap().to_string();
    let answer = replay.send("PATCH", &format!("/Users/{third}"), Some(S8_8_ADD_ATTRIBUTES)).await;
    assert_eq!(answer.status, 200, "§8.8 add attributes: {}", answer.body);
    let user = replay.user(&third).await;
    assert_eq!(user["active"], true);
    assert_eq!(user["displayName"], "RJEXKNFYZKXS");
    assert_eq!(
        user["roles"],
        json!([{"primary": true, "display": "TQBJFQYVJCAG", "value": "UOYTUVLKIPND", "type": "VGNBBCPQEMYC"}]),
        "§8.8 add attributes: one primary role"
    );

    // Add Manager: URN path, raw string; the validator's id is one of its users.
    replay.map("a2c1f66c-8611-4bcd-852f-54dc340e3d97", &first);
    let answer = replay.send("PATCH", &format!("/Users/{third}"), Some(S8_8_ADD_MANAGER)).await;
    assert_eq!(answer.status, 200, "§8.8 add manager: {}", answer.body);
    let user = replay.user(&third).await;
    assert_eq!(user[ENTERPRISE]["manager"], json!({"value": first}), "§8.8 add manager");

    // Replace Manager: the same request with another user's id.
    let replace = S8_8_ADD_MANAGER.replace("a2c1f66c-8611-4bcd-852f-54dc340e3d97", &second);
    let answer = replay.send("PATCH", &format!("/Users/{third}"), Some(&replace)).await;
    assert_eq!(answer.status, 200, "§8.8 replace manager: {}", answer.body);
    let user = replay.user(&third).await;
    assert_eq!(user[ENTERPRISE]["manager"], json!({"value": second}), "§8.8 replace manager");

    // Remove Manager: `{"value": ""}` removes it.
    let answer = replay.send("PATCH", &format!("/Users/{third}"), Some(S8_8_REMOVE_MANAGER)).await;
    assert_eq!(answer.status, 200, "§8.8 remove manager: {}", answer.body);
    let user = replay.user(&third).await;
    assert!(user[ENTERPRISE]["manager"].is_null(), "§8.8 remove manager: {user}");
    assert_eq!(user["displayName"], "RJEXKNFYZKXS", "§8.8 remove manager: nothing else");

    // Delete a User: 204, then GET 404; preview: the same again, and a non-existent user: 404.
    let answer = replay.send("DELETE", &format!("/Users/{third}"), None).await;
    assert_eq!(answer.status, 204, "§8.8 delete: {}", answer.body);
    let gone = replay.send("GET", &format!("/Users/{third}"), None).await;
    assert_error(&gone, 404, None, "§8.8 GET after delete");
    let twice = replay.send("DELETE", &format!("/Users/{third}"), None).await;
    assert_error(&twice, 404, None, "§8.8 delete twice");
    let unknown = replay.send("DELETE", &format!("/Users/{random}"), None).await;
    assert_error(&unknown, 404, None, "§8.8 delete non-existent");
    // The other users are untouched.
    assert_eq!(replay.user(&first).await["userName"], "shaniya@bauch.co.uk");
}

const S8_8_POST_GROUP: &str = r#"{
  "displayName": "ZGHZBQHCAPZU",
  "externalId": "087af0b9-d1e1-480d-acb8-03ceaa8ea85b",
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"]
}"#;

const S8_8_GROUP_EXTERNAL_ID: &str = r#"{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [
    {
      "op": "replace",
      "value": {
        "externalId": "663fa3a8-e2b6-4ac0-96c8-363432cdc01d"
      }
    }
  ]
}"#;

const S8_8_GROUP_DISPLAY_NAME: &str = r#"{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [
    {
      "op": "replace",
      "value": {
        "displayName": "WUZPWMBDDCGI"
      }
    }
  ]
}"#;

const S8_8_ADD_MEMBER: &str = r#"{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [
    {
      "op": "replace",
      "path": "members",
      "value": [
        { "value": "805d32c6-9e01-43b9-9735-4576cae634b5" }
      ]
    }
  ]
}"#;

const S8_8_REMOVE_MEMBER: &str = r#"{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [
    {
      "op": "remove",
      "path": "members[value eq \"ee90548a-11dd-4795-b3ac-9cfcd99232bc\"]"
    }
  ]
}"#;

const S8_8_ADD_AND_REMOVE_MEMBER: &str = r#"{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [
    {
      "op": "add",
      "path": "members",
      "value": [
        { "value": "761ac150-9d77-49b2-8f3f-8ec2eacf99da" }
      ]
    },
    {
      "op": "remove",
      "path": "members[value eq \"761ac150-9d77-49b2-8f3f-8ec2eacf99da\"]"
    }
  ]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn section_8_8_validator_group_tests() {
    let app = TestApp::spawn().await;
    let mut replay = Replay::new(&app);
    // The members the validator adds are users it created before.
    let m805 = replay.precondition_user("m805@contoso.com").await;
    let mee9 = replay.precondition_user("mee9@contoso.com").await;
    let other = replay.precondition_user("other@contoso.com").await;
    let m761 = replay.precondition_user("m761@contoso.com").await;
    replay.map("805d32c6-9e01-43b9-9735-4576cae634b5", &m805);
    replay.map("ee90548a-11dd-4795-b3ac-9cfcd99232bc", &mee9);
    replay.map("761ac150-9d77-49b2-8f3f-8ec2eacf99da", &m761);

    // Create a new Group; Create duplicate Group → 409.
    let answer = replay.send("POST", "/Groups", Some(S8_8_POST_GROUP)).await;
    assert_eq!(answer.status, 201, "§8.8 POST group: {}", answer.body);
    let group = answer.body["id"].as_str().unwrap().to_string();
    assert_eq!(answer.body["displayName"], "ZGHZBQHCAPZU");
    assert_eq!(answer.body["externalId"], "087af0b9-d1e1-480d-acb8-03ceaa8ea85b");
    let answer = replay.send("POST", "/Groups", Some(S8_8_POST_GROUP)).await;
    assert_error(&answer, 409, Some("uniqueness"), "§8.8 duplicate Group");

    // Get group by id excluding members.
    let answer =
        replay.send("GET", &format!("/Groups/{group}?excludedAttributes=members"), None).await;
    assert_eq!(answer.status, 200, "§8.8 get excluding members: {}", answer.body);
    assert_eq!(answer.body["id"], group.as_str());
    assert!(answer.body.get("members").is_none(), "§8.8: {}", answer.body);

    // Filter existing group (excluding members, and with them), with a different case
    // (displayName is caseExact=false), and a non-existing group.
    let filter = |expr: &str| format!("/Groups?filter={}", form(expr));
    let excluding =
        |expr: &str| format!("/Groups?excludedAttributes=members&filter={}", form(expr));
    for (path, what) in [
        (excluding("displayName eq \"ZGHZBQHCAPZU\""), "excluding members"),
        (filter("displayName eq \"ZGHZBQHCAPZU\""), "with members"),
        (excluding("displayName eq \"zghzbqhcapzu\""), "different case"),
        (excluding("externalId eq \"087af0b9-d1e1-480d-acb8-03ceaa8ea85b\""), "externalId"),
    ] {
        let (total, found) = replay.count(&path).await;
        assert_eq!(total, 1, "§8.8 filter group {what}");
        assert_eq!(found["Resources"][0]["id"], group.as_str(), "§8.8 filter group {what}");
        if what != "with members" {
            assert!(found["Resources"][0].get("members").is_none(), "§8.8 {what}: {found}");
        }
    }
    let missing = uuid::Uuid::new_v4();
    assert_eq!(
        replay.count(&excluding(&format!("displayName eq \"{missing}\""))).await.0,
        0,
        "§8.8 filter non-existing group"
    );

    // Patch Group – Replace Attributes (path-less externalId).
    let answer =
        replay.send("PATCH", &format!("/Groups/{group}"), Some(S8_8_GROUP_EXTERNAL_ID)).await;
    assert_eq!(answer.status, 204, "§8.8 replace externalId: {}", answer.body);
    let after = replay.group(&group).await;
    assert_eq!(after["externalId"], "663fa3a8-e2b6-4ac0-96c8-363432cdc01d");
    assert_eq!(after["displayName"], "ZGHZBQHCAPZU");

    // Update Group displayName.
    let answer =
        replay.send("PATCH", &format!("/Groups/{group}"), Some(S8_8_GROUP_DISPLAY_NAME)).await;
    assert_eq!(answer.status, 204, "§8.8 replace displayName: {}", answer.body);
    let after = replay.group(&group).await;
    assert_eq!(after["displayName"], "WUZPWMBDDCGI");
    assert_eq!(after["externalId"], "663fa3a8-e2b6-4ac0-96c8-363432cdc01d");
    assert_eq!(replay.count(&filter("displayName eq \"ZGHZBQHCAPZU\"")).await.0, 0);

    // Patch Group – Add Member (`replace` of members: the set becomes this list, Q14).
    let answer = replay.send("PATCH", &format!("/Groups/{group}"), Some(S8_8_ADD_MEMBER)).await;
    assert_eq!(answer.status, 204, "§8.8 add member: {}", answer.body);
    assert_eq!(replay.members(&group).await, vec![m805.clone()], "§8.8 add member");

    // Remove Member: the setup adds two members the same way (a replace), then the filter
    // removes one.
    let setup = S8_8_ADD_MEMBER.replace(
        r#"{ "value": "805d32c6-9e01-43b9-9735-4576cae634b5" }"#,
        r#"{ "value": "ee90548a-11dd-4795-b3ac-9cfcd99232bc" }, { "value": "OTHER" }"#,
    );
    assert_ne!(setup, S8_8_ADD_MEMBER);
    let setup = setup.replace("OTHER", &other);
    let answer = replay.send("PATCH", &format!("/Groups/{group}"), Some(&setup)).await;
    assert_eq!(answer.status, 204, "§8.8 remove member setup: {}", answer.body);
    assert_eq!(replay.members(&group).await, sorted(vec![mee9.clone(), other.clone()]));
    let answer = replay.send("PATCH", &format!("/Groups/{group}"), Some(S8_8_REMOVE_MEMBER)).await;
    assert_eq!(answer.status, 204, "§8.8 remove member: {}", answer.body);
    assert_eq!(replay.members(&group).await, vec![other.clone()], "§8.8 remove member");

    // Preview: add then remove the same member in one request: not a member afterwards.
    let answer =
        replay.send("PATCH", &format!("/Groups/{group}"), Some(S8_8_ADD_AND_REMOVE_MEMBER)).await;
    assert_eq!(answer.status, 204, "§8.8 add and remove: {}", answer.body);
    assert_eq!(replay.members(&group).await, vec![other.clone()], "§8.8 add and remove");

    // Delete a Group: 204, then GET 404; preview: delete it again, 404.
    let answer = replay.send("DELETE", &format!("/Groups/{group}"), None).await;
    assert_eq!(answer.status, 204, "§8.8 delete group: {}", answer.body);
    let gone = replay.send("GET", &format!("/Groups/{group}"), None).await;
    assert_error(&gone, 404, None, "§8.8 GET group after delete");
    let twice = replay.send("DELETE", &format!("/Groups/{group}"), None).await;
    assert_error(&twice, 404, None, "§8.8 delete group twice");
    let unknown = replay.send("DELETE", &format!("/Groups/{missing}"), None).await;
    assert_error(&unknown, 404, None, "§8.8 delete non-existent group");
}
