//! Discovery endpoints and attribute selection, as Entra and scim2-tester read them.

use roster_integration_tests::{TestApp, entra_user};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_documents_are_served_for_the_directory() {
    let app = TestApp::spawn().await;
    let config: Value = app.get("/ServiceProviderConfig").await.json().await.unwrap();
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["bulk"]["supported"], false);
    assert_eq!(config["filter"]["maxResults"], app.settings.gateway.max_page_size);
    assert_eq!(config["meta"]["location"], format!("{}/ServiceProviderConfig", app.scim_url()));

    let types: Value = app.get("/ResourceTypes").await.json().await.unwrap();
    let names: Vec<&str> =
        types["Resources"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert!(names.contains(&"User") && names.contains(&"Group"), "{names:?}");
    assert_eq!(app.get("/ResourceTypes/User").await.status(), 200);
    assert_eq!(app.get("/ResourceTypes/Nope").await.status(), 404);

    let schemas: Value = app.get("/Schemas").await.json().await.unwrap();
    assert!(schemas["totalResults"].as_u64().unwrap() >= 3);
    let user: Value =
        app.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").await.json().await.unwrap();
    assert_eq!(user["id"], "urn:ietf:params:scim:schemas:core:2.0:User");
    let user_name = user["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "userName")
        .expect("userName in the User schema");
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(app.get("/Schemas/urn:nope").await.status(), 404);
    let response = app
        .client
        .post(format!("{}/Schemas", app.scim_url()))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_and_excluded_attributes_select_what_is_returned() {
    let app = TestApp::spawn().await;
    let created: Value =
        app.post_user(&entra_user("select@contoso.com")).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let only: Value =
        app.get(&format!("/Users/{id}?attributes=userName")).await.json().await.unwrap();
    assert_eq!(only["userName"], "select@contoso.com");
    assert_eq!(only["id"], id, "id is always returned");
    assert!(only.get("emails").is_none() && only.get("name").is_none(), "{only}");

    let without: Value = app
        .get("/Users?excludedAttributes=emails,name&filter=userName+eq+%22select@contoso.com%22")
        .await
        .json()
        .await
        .unwrap();
    let user = &without["Resources"][0];
    assert!(user.get("emails").is_none() && user.get("name").is_none(), "{user}");
    assert_eq!(user["userName"], "select@contoso.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_with_post_is_the_same_query_in_a_body() {
    let app = TestApp::spawn().await;
    app.post_user(&entra_user("searched@contoso.com")).await;
    app.post_user(&entra_user("other@contoso.com")).await;
    let response = app
        .client
        .post(format!("{}/Users/.search", app.scim_url()))
        .bearer_auth(&app.token)
        .json(&serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": "userName eq \"SEARCHED@contoso.com\"",
            "attributes": ["userName"],
            "startIndex": 1,
            "count": 10
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let found: Value = response.json().await.unwrap();
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["userName"], "searched@contoso.com");
    assert!(found["Resources"][0].get("emails").is_none());
}

/// Entra's custom extension attributes (sent without their URN in `schemas`, docs/entra/behaviour.md
/// Q13) are declared once the directory holds them: in the User resource type's
/// `schemaExtensions` and as a Schema document whose attributes are inferred from the values.
/// Another directory, which holds none, declares none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_extensions_a_directory_holds_are_declared() {
    const CUSTOM: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
    let app = TestApp::spawn().await;
    let bystander = app.add_bystander();
    let extensions = |types: &Value| -> Vec<String> {
        types["schemaExtensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["schema"].as_str().unwrap().to_string())
            .collect()
    };
    let before: Value = app.get("/ResourceTypes/User").await.json().await.unwrap();
    assert!(!extensions(&before).contains(&CUSTOM.to_string()));
    assert_eq!(app.get(&format!("/Schemas/{CUSTOM}")).await.status(), 404);

    let mut user = entra_user("custom@contoso.com");
    user[CUSTOM] = serde_json::json!({"costCenter": "4711", "badgeNumber": 7});
    let response = app.post_user(&user).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert!(created["schemas"].as_array().unwrap().iter().any(|s| s == CUSTOM), "{created}");

    let after: Value = app.get("/ResourceTypes/User").await.json().await.unwrap();
    assert!(extensions(&after).contains(&CUSTOM.to_string()), "{after}");
    let schema: Value = app.get(&format!("/Schemas/{CUSTOM}")).await.json().await.unwrap();
    assert_eq!(schema["id"], CUSTOM);
    let attributes: Vec<(&str, &str)> = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["type"].as_str().unwrap()))
        .collect();
    assert_eq!(attributes, [("badgeNumber", "integer"), ("costCenter", "string")]);
    let all: Value = app.get("/Schemas").await.json().await.unwrap();
    assert!(all["Resources"].as_array().unwrap().iter().any(|s| s["id"] == CUSTOM));

    let elsewhere: Value = app
        .client
        .get(format!("{}/scim/v2/{}/ResourceTypes/User", app.base_url, bystander.directory_id))
        .bearer_auth(&bystander.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!extensions(&elsewhere).contains(&CUSTOM.to_string()), "{elsewhere}");
}

/// Hostile extensions: one user with 1,500 attributes in a custom extension, objects nested
/// three deep, and wrong-typed values. `/Schemas` still answers (at most 1,000 inferred
/// attribute names, complex only at the top) and another tenant's directory still provisions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_extensions_keep_discovery_bounded_and_others_provisioning() {
    const CUSTOM: &str = "urn:ietf:params:scim:schemas:extension:Hostile:2.0:User";
    let app = TestApp::spawn().await;
    let bystander = app.add_bystander();
    let mut extension = serde_json::Map::new();
    for i in 0..1500 {
        extension.insert(format!("a{i:04}"), serde_json::json!(i));
    }
    extension.insert("nested".into(), serde_json::json!({"b": {"c": {"d": [null, {"e": 1}]}}}));
    extension.insert("mixed".into(), serde_json::json!([null, "x", 1, true]));
    let mut user = entra_user("hostile-extension@contoso.com");
    user[CUSTOM] = Value::Object(extension);
    let response = app.post_user(&user).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());

    let schemas = app.get("/Schemas").await;
    assert_eq!(schemas.status(), 200);
    let schemas: Value = schemas.json().await.unwrap();
    let hostile = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == CUSTOM)
        .expect("the extension is declared");
    let attributes = hostile["attributes"].as_array().unwrap();
    assert_eq!(attributes.len(), 1000, "bounded to 1,000 attribute names");
    for attribute in attributes {
        for sub in attribute["subAttributes"].as_array().into_iter().flatten() {
            assert_ne!(sub["type"], "complex", "complex only at the top: {attribute}");
        }
    }
    app.assert_bystander_provisions(&bystander).await;
}
