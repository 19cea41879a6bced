//! Interoperability with clients other than Entra, as Microsoft's SCIMReferenceCode Postman
//! collection ("SCIM Tests") exercises them: endpoint names in any case and with a trailing
//! slash, the `serviceConfiguration` alias, group members with `$ref` (and `display` when asked),
//! and
//! value filters in `attributes` / `excludedAttributes`.

use reqwest::Method;
use roster_integration_tests::{TestApp, entra_user};
use serde_json::{Value, json};

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_names_match_in_any_case_and_with_a_trailing_slash() {
    let app = TestApp::spawn().await;
    // A create through a lower-case endpoint.
    let (status, created) =
        json_of(app.send(Method::POST, "/users", Some(entra_user("case@contoso.com"))).await).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    // The Location is the canonical one, whatever the request's spelling.
    assert_eq!(created["meta"]["location"], format!("{}/Users/{id}", app.scim_url()));

    for path in [
        "/users".to_string(),
        "/USERS".to_string(),
        "/Users/".to_string(),
        "/users/?filter=userName+eq+%22case@contoso.com%22".to_string(),
        "/Users/?filter=userName+eq+%22case@contoso.com%22".to_string(),
    ] {
        let (status, list) = json_of(app.get(&path).await).await;
        assert_eq!(status, 200, "{path}: {list}");
        assert_eq!(list["totalResults"], 1, "{path}: {list}");
        assert_eq!(list["Resources"][0]["id"], id.as_str(), "{path}");
    }
    // The query string survives the rewrite: a filter that matches nobody finds nobody.
    let (status, none) = json_of(app.get("/users/?filter=userName+eq+%22nobody%22").await).await;
    assert_eq!((status, none["totalResults"].clone()), (200, json!(0)), "{none}");

    for path in [format!("/users/{id}"), format!("/Users/{id}/"), format!("/uSeRs/{id}/")] {
        let (status, user) = json_of(app.get(&path).await).await;
        assert_eq!(status, 200, "{path}: {user}");
        assert_eq!(user["id"], id.as_str(), "{path}");
    }
    // Writes too: PATCH through a lower-case endpoint with a trailing slash answers 200 with
    // the resource.
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Renamed"}]
    });
    let (status, patched) =
        json_of(app.send(Method::PATCH, &format!("/users/{id}/"), Some(patch)).await).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["displayName"], "Renamed");

    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName eq \"case@contoso.com\""});
    let (status, found) =
        json_of(app.send(Method::POST, "/users/.SEARCH", Some(search)).await).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["totalResults"], 1, "{found}");

    let (status, group) = json_of(
        app.send(Method::POST, "/groups/", Some(json!({"displayName": "Case Group"}))).await,
    )
    .await;
    assert_eq!(status, 201, "{group}");
    let (status, groups) =
        json_of(app.get("/GROUPS?filter=displayName+eq+%22Case+Group%22").await).await;
    assert_eq!((status, groups["totalResults"].clone()), (200, json!(1)), "{groups}");
    let group_id = group["id"].as_str().unwrap();
    assert_eq!(app.send(Method::DELETE, &format!("/groups/{group_id}/"), None).await.status(), 204);
    assert_eq!(app.get(&format!("/Groups/{group_id}")).await.status(), 404);
    assert_eq!(app.send(Method::DELETE, &format!("/users/{id}"), None).await.status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_endpoints_in_any_case_and_the_service_configuration_alias() {
    let app = TestApp::spawn().await;
    let (_, canonical) = json_of(app.get("/ServiceProviderConfig").await).await;
    assert_eq!(canonical["patch"]["supported"], true);
    for path in [
        "/serviceproviderconfig",
        "/SERVICEPROVIDERCONFIG/",
        "/serviceConfiguration",
        "/ServiceConfiguration/",
    ] {
        let (status, config) = json_of(app.get(path).await).await;
        assert_eq!(status, 200, "{path}: {config}");
        assert_eq!(config, canonical, "{path}");
    }
    let (_, types) = json_of(app.get("/ResourceTypes").await).await;
    for path in ["/resourcetypes", "/RESOURCETYPES/"] {
        let (status, body) = json_of(app.get(path).await).await;
        assert_eq!((status, &body), (200, &types), "{path}");
    }
    assert_eq!(app.get("/resourcetypes/User").await.status(), 200);
    let (_, schemas) = json_of(app.get("/Schemas").await).await;
    assert!(schemas.to_string().contains("User Account"), "{schemas}");
    for path in ["/schemas", "/SCHEMAS/"] {
        let (status, body) = json_of(app.get(path).await).await;
        assert_eq!((status, &body), (200, &schemas), "{path}");
    }
    let (status, user_schema) =
        json_of(app.get("/schemas/urn:ietf:params:scim:schemas:core:2.0:User/").await).await;
    assert_eq!(status, 200, "{user_schema}");
    assert_eq!(user_schema["id"], "urn:ietf:params:scim:schemas:core:2.0:User");

    // A write method on a discovery endpoint is still refused, whatever its spelling.
    assert_eq!(app.send(Method::POST, "/schemas", Some(json!({}))).await.status(), 405);
    // What is not an endpoint stays a 404 (there is no Bulk endpoint: bulk.supported is false).
    for path in ["/Nope", "/nope/", "/Bulk", "/bulk/", "/Users/x/y"] {
        let (status, body) = json_of(app.get(path).await).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{path}");
    }
    // Authentication is unchanged: a lower-case endpoint without a token is a 401.
    let response = app.client.get(format!("{}/users", app.scim_url())).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_and_health_routes_are_not_rewritten() {
    let app = TestApp::spawn().await;
    let directory = app.directory_id;
    let mappings = format!("/directories/{directory}/role-mappings");
    assert_eq!(app.admin(Method::GET, &mappings, None).await.status(), 200);
    // The admin API keeps its exact routes: other spellings are not found, as before.
    for path in [format!("{mappings}/"), format!("/directories/{directory}/ROLE-MAPPINGS")] {
        assert_eq!(app.admin(Method::GET, &path, None).await.status(), 404, "{path}");
    }
    let live = app.client.get(format!("{}/health/live", app.base_url)).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let slash = app.client.get(format!("{}/health/live/", app.base_url)).send().await.unwrap();
    assert_eq!(slash.status(), 404);
}

/// A member as a default response shows it: `value`, the absolute `$ref`, `type`.
fn member(app: &TestApp, kind: &str, id: &str) -> Value {
    json!({"value": id, "$ref": format!("{}/{kind}s/{id}", app.scim_url()), "type": kind})
}

/// A member with its `display` (`returned: "request"`), as `attributes=members.display` shows it.
fn member_display(id: &str, display: &str) -> Value {
    json!({"value": id, "display": display})
}

fn sorted_members(resource: &Value) -> Vec<Value> {
    let mut members = resource["members"].as_array().cloned().unwrap_or_default();
    members.sort_by_key(|m| m["value"].as_str().unwrap_or_default().to_string());
    members
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_carry_ref_and_display_on_request() {
    let app = TestApp::spawn().await;
    let mut ada = entra_user("ada@contoso.com");
    ada["displayName"] = json!("Ada Lovelace");
    let (_, ada) = json_of(app.post_user(&ada).await).await;
    let ada_id = ada["id"].as_str().unwrap().to_string();
    // Without a displayName, a member's display is its userName.
    let (_, bob) = json_of(app.post_user(&entra_user("bob@contoso.com")).await).await;
    let bob_id = bob["id"].as_str().unwrap().to_string();
    let (status, inner) =
        json_of(app.send(Method::POST, "/Groups", Some(json!({"displayName": "Inner"}))).await)
            .await;
    assert_eq!(status, 201, "{inner}");
    let inner_id = inner["id"].as_str().unwrap().to_string();

    // A client's display is read-only and not kept: a default response shows each member as
    // it was sent, with its $ref and type (what strict clients compare); the display, asked for,
    // is the member's own name.
    let body = json!({"displayName": "Outer", "members": [
        {"value": ada_id, "display": "VP"}, {"value": bob_id}, {"value": inner_id, "type": "Group"}]});
    let (status, outer) = json_of(app.send(Method::POST, "/Groups", Some(body)).await).await;
    assert_eq!(status, 201, "{outer}");
    let outer_id = outer["id"].as_str().unwrap().to_string();
    let mut wanted = vec![
        member(&app, "User", &ada_id),
        member(&app, "User", &bob_id),
        member(&app, "Group", &inner_id),
    ];
    wanted.sort_by_key(|m| m["value"].as_str().unwrap().to_string());
    assert_eq!(sorted_members(&outer), wanted, "the create's answer");

    let (_, got) = json_of(app.get(&format!("/Groups/{outer_id}")).await).await;
    assert_eq!(sorted_members(&got), wanted, "GET by id");
    let (_, list) = json_of(app.get("/Groups?filter=displayName+eq+%22Outer%22").await).await;
    assert_eq!(sorted_members(&list["Resources"][0]), wanted, "the list");
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]});
    let (_, all) = json_of(app.send(Method::POST, "/.search", Some(search)).await).await;
    let found = all["Resources"].as_array().unwrap().iter().find(|r| r["id"] == outer_id.as_str());
    assert_eq!(sorted_members(found.unwrap()), wanted, "POST /.search");
    // Each $ref is the member resource itself.
    for m in &wanted {
        let response = app
            .client
            .get(m["$ref"].as_str().unwrap())
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{m}");
    }

    // Asked for, each member's display is its name; naming `members` alone does not ask.
    let names = "attributes=members.value,members.display";
    let mut wanted_names = vec![
        member_display(&ada_id, "Ada Lovelace"),
        member_display(&bob_id, "bob@contoso.com"),
        member_display(&inner_id, "Inner"),
    ];
    wanted_names.sort_by_key(|m| m["value"].as_str().unwrap().to_string());
    let (_, got) = json_of(app.get(&format!("/Groups/{outer_id}?{names}")).await).await;
    assert_eq!(sorted_members(&got), wanted_names, "GET by id, display asked");
    let (_, list) =
        json_of(app.get(&format!("/Groups?filter=displayName+eq+%22Outer%22&{names}")).await).await;
    assert_eq!(sorted_members(&list["Resources"][0]), wanted_names, "the list, display asked");
    let (_, got) = json_of(app.get(&format!("/Groups/{outer_id}?attributes=members")).await).await;
    assert_eq!(sorted_members(&got), wanted, "attributes=members shows no display");

    // The display follows the member: renamed, it shows the new name.
    let rename = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Countess"}]});
    let (status, renamed) =
        json_of(app.send(Method::PATCH, &format!("/Users/{ada_id}"), Some(rename)).await).await;
    assert_eq!(status, 200, "a user PATCH still answers 200 with the resource: {renamed}");
    assert_eq!(renamed["displayName"], "Countess");
    let (_, got) = json_of(app.get(&format!("/Groups/{outer_id}?{names}")).await).await;
    let ada_member =
        got["members"].as_array().unwrap().iter().find(|m| m["value"] == ada_id.as_str());
    assert_eq!(ada_member.unwrap()["display"], "Countess");

    // Entra's lookups never load members.
    let (status, lean) = json_of(
        app.get(&format!("/Groups?excludedAttributes=members&filter=id+eq+%22{outer_id}%22")).await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(lean["totalResults"], 1);
    assert!(lean["Resources"][0].get("members").is_none(), "{lean}");

    // PUT answers with the members too.
    let put = json!({"displayName": "Outer", "members": [{"value": bob_id}]});
    let (status, replaced) =
        json_of(app.send(Method::PUT, &format!("/Groups/{outer_id}"), Some(put)).await).await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["members"], json!([member(&app, "User", &bob_id)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_member_is_still_refused() {
    let app = TestApp::spawn().await;
    let (status, error) = json_of(
        app.send(
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "G", "members": ["garbage"]})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["scimType"], "invalidValue", "{error}");
    let (_, group) =
        json_of(app.send(Method::POST, "/Groups", Some(json!({"displayName": "G"}))).await).await;
    let id = group["id"].as_str().unwrap();
    for value in [json!("garbage"), json!([{"value": "garbage"}]), json!([{"display": "x"}])] {
        let add = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": value}]});
        let (status, error) =
            json_of(app.send(Method::PATCH, &format!("/Groups/{id}"), Some(add)).await).await;
        assert_eq!(status, 400, "{value}: {error}");
        assert_eq!(error["scimType"], "invalidValue", "{value}: {error}");
    }
    let (_, got) = json_of(app.get(&format!("/Groups/{id}")).await).await;
    assert_eq!(got["members"], json!([]), "{got}");
}

fn two_email_user(user_name: &str, work: &str) -> Value {
    let mut user = entra_user(user_name);
    user["emails"] = json!([
        {"primary": true, "type": "work", "value": work},
        {"primary": false, "type": "home", "value": format!("home.{work}")}
    ]);
    user
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_with_a_value_filter_return_the_matching_values() {
    let app = TestApp::spawn().await;
    let (_, one) =
        json_of(app.post_user(&two_email_user("one@contoso.com", "emailName357")).await).await;
    let one_id = one["id"].as_str().unwrap().to_string();
    let (_, two) =
        json_of(app.post_user(&two_email_user("two@contoso.com", "jump@bob.com")).await).await;
    let two_id = two["id"].as_str().unwrap().to_string();
    let work = |value: &str| json!([{"primary": true, "type": "work", "value": value}]);

    // The Postman collection's two requests, encoded as it sends them.
    let (status, list) =
        json_of(app.get("/Users?attributes=emails%5Btype+eq+%22work%22%5D").await).await;
    assert_eq!(status, 200, "{list}");
    let by_id = |list: &Value, id: &str| {
        list["Resources"].as_array().unwrap().iter().find(|r| r["id"] == id).cloned().unwrap()
    };
    let first = by_id(&list, &one_id);
    assert_eq!(first["emails"], work("emailName357"), "{first}");
    assert!(first.get("userName").is_none() && first.get("meta").is_none(), "{first}");
    assert_eq!(by_id(&list, &two_id)["emails"], work("jump@bob.com"));
    let (status, list) =
        json_of(app.get("/Users?attributes=emails%5Bvalue+eq+%22emailName357%22%5D").await).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(by_id(&list, &one_id)["emails"], work("emailName357"));
    let other = by_id(&list, &two_id);
    assert!(other.get("emails").is_none(), "no value of the other user matches: {other}");

    // One resource; a sub-attribute after the brackets; the other parameter.
    let (status, got) = json_of(
        app.get(&format!(
            "/Users/{one_id}?attributes=userName,emails%5Btype+eq+%22home%22%5D.value"
        ))
        .await,
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["emails"], json!([{"value": "home.emailName357"}]));
    assert_eq!(got["userName"], "one@contoso.com");
    let (status, got) = json_of(
        app.get(&format!("/Users/{one_id}?excludedAttributes=emails%5Btype+eq+%22work%22%5D"))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got["emails"],
        json!([{"primary": false, "type": "home", "value": "home.emailName357"}])
    );
    assert_eq!(got["userName"], "one@contoso.com", "everything else is kept");
    assert!(got.get("meta").is_some());

    // POST /.search takes the same names, as a list.
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName eq \"two@contoso.com\"",
        "attributes": ["emails[type eq \"work\" or type eq \"other\"].value", "userName"]});
    let (status, found) =
        json_of(app.send(Method::POST, "/Users/.search", Some(search)).await).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["Resources"][0]["emails"], json!([{"value": "jump@bob.com"}]));

    // Group members by type.
    let body = json!({"displayName": "Mixed", "members": [{"value": one_id}]});
    let (_, inner) = json_of(app.send(Method::POST, "/Groups", Some(body)).await).await;
    let inner_id = inner["id"].as_str().unwrap().to_string();
    let body = json!({"displayName": "Outer", "members": [{"value": two_id}, {"value": inner_id}]});
    let (_, outer) = json_of(app.send(Method::POST, "/Groups", Some(body)).await).await;
    let outer_id = outer["id"].as_str().unwrap();
    let (status, got) = json_of(
        app.get(&format!("/Groups/{outer_id}?attributes=members%5Btype+eq+%22Group%22%5D")).await,
    )
    .await;
    assert_eq!(status, 200, "{got}");
    let members = got["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{got}");
    assert_eq!(members[0]["value"], inner_id.as_str());
    let (_, got) = json_of(
        app.get(&format!("/Groups/{outer_id}?excludedAttributes=members%5Btype+eq+%22Group%22%5D"))
            .await,
    )
    .await;
    assert_eq!(got["members"].as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got["members"][0]["value"], two_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_value_filters_in_attributes_are_400s() {
    let app = TestApp::spawn().await;
    let (_, user) = json_of(app.post_user(&two_email_user("h@contoso.com", "h@x.com")).await).await;
    let id = user["id"].as_str().unwrap().to_string();
    let huge = format!("emails[value eq \"{}\"]", "x".repeat(5000));
    let many = vec!["type eq \"a\""; 101].join(" or ");
    let many = format!("emails[{many}]");
    let deep = format!("emails[{}type eq \"a\"{}]", "(".repeat(40), ")".repeat(40));
    let cases: Vec<(&str, String)> = vec![
        ("unterminated", "emails[type eq \"work\"".to_string()),
        ("unterminated, then more", "emails[type eq \"work\",userName".to_string()),
        ("empty", "emails[]".to_string()),
        ("NUL", "emails[type eq \"wo\u{0}rk\"]".to_string()),
        ("escaped NUL", r#"emails[type eq "wo\u0000rk"]"#.to_string()),
        ("nested", "emails[type eq \"a\" and x[y eq \"b\"]]".to_string()),
        ("trailing garbage", "emails[type eq \"work\"]]]".to_string()),
        ("huge", huge),
        ("too many comparisons", many),
        ("too deep", deep),
    ];
    for (what, name) in &cases {
        for param in ["attributes", "excludedAttributes"] {
            for path in ["/Users".to_string(), format!("/Users/{id}"), "/Groups".to_string()] {
                let response = app
                    .client
                    .get(format!("{}{path}", app.scim_url()))
                    .query(&[(param, name.as_str())])
                    .bearer_auth(&app.token)
                    .send()
                    .await
                    .unwrap();
                let (status, body) = json_of(response).await;
                assert_eq!(status, 400, "{what} in {param} on {path}: {body}");
                assert_eq!(
                    body["scimType"], "invalidFilter",
                    "{what} in {param} on {path}: {body}"
                );
                assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
                assert!(body.to_string().len() < 2000, "{what}: the error is bounded");
            }
        }
        let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "attributes": [name]});
        let (status, body) =
            json_of(app.send(Method::POST, "/Users/.search", Some(search)).await).await;
        assert_eq!(
            (status, body["scimType"].as_str()),
            (400, Some("invalidFilter")),
            "{what}: {body}"
        );
    }
    // The comparisons of all the names count together.
    let fifty = vec!["type eq \"a\""; 51].join(" or ");
    let two = format!("emails[{fifty}],emails[{fifty}].value");
    let response = app
        .client
        .get(format!("{}/Users", app.scim_url()))
        .query(&[("attributes", two.as_str())])
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // A 200 afterwards: nothing broke.
    let (status, got) =
        json_of(app.get(&format!("/Users/{id}?attributes=emails%5Btype+eq+%22work%22%5D")).await)
            .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["emails"].as_array().unwrap().len(), 1);
}
