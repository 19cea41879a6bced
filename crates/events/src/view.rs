//! Product views: a user or group as downstream products see it (`ProductUser`,
//! `ProductGroup` of `roster.notifications.v1`), computed from what the projector stores and the
//! directory's mapping rules. Pure: the caller loads the inputs.

use crate::notifications::v1::{Access, GroupRef, Name, ProductGroup, ProductUser, Teams};
use crate::rules::MappingRules;
use chrono::{DateTime, Utc};
use roster_scim::group::Group;
use roster_scim::user::{ENTERPRISE_USER_SCHEMA, Meta, User};
use serde_json::Value;
use uuid::Uuid;

/// A stored user and its direct group memberships.
#[derive(Debug, Clone)]
pub struct UserInput<'a> {
    pub id: Uuid,
    /// The canonical SCIM User without `id` and `meta`, as stored
    /// (`roster_scim::user::User::from_stored`).
    pub resource: &'a Value,
    pub active: bool,
    pub meta: Meta,
    /// The groups the user is a direct member of, in any order.
    pub groups: Vec<Membership>,
}

/// One direct membership of a user in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub group_id: Uuid,
    pub display_name: String,
    pub external_id: Option<String>,
    /// When the membership began.
    pub added_at: DateTime<Utc>,
}

/// A stored group.
#[derive(Debug, Clone)]
pub struct GroupInput<'a> {
    pub id: Uuid,
    /// The canonical SCIM Group without `id`, `meta` and `members`, as stored.
    pub resource: &'a Value,
    pub meta: Meta,
}

/// The product roles and teams a user's app roles and groups give under `rules`: what
/// `user_view` reports and what a rules preview compares.
pub fn access(input: &UserInput, rules: &MappingRules) -> Access {
    let mut memberships: Vec<&Membership> = input.groups.iter().collect();
    memberships.sort_by_key(|m| (m.added_at, m.group_id));
    let mut matched: Vec<String> =
        app_roles(input.resource).iter().flat_map(|role| rules.app_role_targets(role)).collect();
    let mut teams: Vec<GroupRef> = Vec::new();
    for membership in memberships {
        let (roles, team) =
            rules.group_rule(&membership.display_name, membership.external_id.as_deref());
        matched.extend(roles);
        if team {
            teams.push(group_ref(membership));
        }
    }
    let mut teams = teams.into_iter();
    Access {
        product_roles: rules.resolve(matched),
        teams: Some(Teams { primary: teams.next(), additional: teams.collect() }),
    }
}

fn group_ref(m: &Membership) -> GroupRef {
    GroupRef {
        id: m.group_id.to_string(),
        display_name: m.display_name.clone(),
        external_id: m.external_id.clone(),
    }
}

/// The product view of a user.
pub fn user_view(input: &UserInput, rules: &MappingRules) -> ProductUser {
    let resource = input.resource;
    let id = input.id.to_string();
    let mut memberships: Vec<&Membership> = input.groups.iter().collect();
    memberships.sort_by_key(|m| (m.added_at, m.group_id));
    let access = access(input, rules);

    let name = resource.get("name");
    ProductUser {
        id: id.clone(),
        external_id: string(resource.get("externalId")),
        user_name: string(resource.get("userName")).unwrap_or_default(),
        display_name: string(resource.get("displayName")),
        name: Some(Name {
            formatted: string(name.and_then(|n| n.get("formatted"))),
            given_name: string(name.and_then(|n| n.get("givenName"))),
            family_name: string(name.and_then(|n| n.get("familyName"))),
        }),
        primary_email: pick(resource.get("emails"), &[Pick::Primary, Pick::Work, Pick::First]),
        active: input.active,
        product_roles: access.product_roles,
        teams: access.teams,
        app_roles: app_roles(resource),
        groups: memberships.into_iter().map(group_ref).collect(),
        title: string(resource.get("title")),
        department: string(
            resource.get(ENTERPRISE_USER_SCHEMA).and_then(|ext| ext.get("department")),
        ),
        phone_number: pick(resource.get("phoneNumbers"), &[Pick::Work, Pick::Primary, Pick::First]),
        preferred_language: string(resource.get("preferredLanguage")),
        scim_resource_json: User::from_stored(resource.clone())
            .to_resource(&id, &input.meta)
            .to_string(),
    }
}

/// The product view of a group.
pub fn group_view(input: &GroupInput, rules: &MappingRules) -> ProductGroup {
    let group = Group::from_stored(input.resource.clone());
    let id = input.id.to_string();
    let (roles, team) = rules.group_rule(group.display_name(), group.external_id());
    ProductGroup {
        id: id.clone(),
        display_name: group.display_name().to_string(),
        external_id: group.external_id().map(str::to_string),
        team,
        product_roles: rules.ordered(roles),
        scim_resource_json: group.to_resource(&id, &input.meta, None).to_string(),
    }
}

/// A string attribute; absent when missing, not a string, or empty.
fn string(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

/// `roles[].value` in order, each once (compared case-insensitively; the first spelling kept).
fn app_roles(resource: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for role in resource.get("roles").and_then(Value::as_array).into_iter().flatten() {
        let Some(value) = string(role.get("value")) else { continue };
        let folded = value.to_lowercase();
        if !seen.contains(&folded) {
            seen.push(folded);
            out.push(value);
        }
    }
    out
}

/// Which element of a multi-valued attribute (`emails`, `phoneNumbers`) to take.
#[derive(Debug, Clone, Copy)]
enum Pick {
    /// `primary: true`.
    Primary,
    /// `type: "work"` (any case).
    Work,
    /// The first one.
    First,
}

/// The `value` of the first element the first successful `Pick` finds, among the elements that
/// have a non-empty string `value`.
fn pick(items: Option<&Value>, order: &[Pick]) -> Option<String> {
    let items: Vec<&Value> = items
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| string(item.get("value")).is_some())
        .collect();
    order.iter().find_map(|pick| {
        let found = match pick {
            Pick::Primary => {
                items.iter().find(|item| item.get("primary").and_then(Value::as_bool) == Some(true))
            }
            Pick::Work => items.iter().find(|item| {
                item.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("work"))
            }),
            Pick::First => items.first(),
        };
        found.and_then(|item| string(item.get("value")))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use chrono::TimeZone;
    use roster_scim::patch::{PatchRequest, apply_to_user};
    use serde_json::json;

    use super::*;

    fn time(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_764_084_000 + seconds, 0).unwrap()
    }

    fn meta(id: Uuid, kind: &str, version: i64) -> Meta {
        Meta {
            created: time(0),
            last_modified: time(version),
            location: format!("https://roster.example/scim/v2/d/{kind}/{id}"),
            version,
        }
    }

    /// What the projector stores for a POST body.
    fn stored(body: Value) -> Value {
        User::from_request(body).unwrap().into_json()
    }

    /// What the projector stores after applying a PATCH body to a stored user.
    fn patched(resource: &Value, patch: Value) -> Value {
        let ops = PatchRequest::parse(&patch).unwrap();
        apply_to_user(&User::from_stored(resource.clone()), &ops).unwrap().into_json()
    }

    fn view(resource: &Value, groups: Vec<Membership>, rules: &MappingRules) -> ProductUser {
        let id = Uuid::from_u128(1);
        let input = UserInput { id, resource, active: true, meta: meta(id, "Users", 1), groups };
        user_view(&input, rules)
    }

    fn rules(value: Value) -> MappingRules {
        MappingRules::parse(&value).unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn membership(n: u128, name: &str, external_id: Option<&str>, at: i64) -> Membership {
        Membership {
            group_id: Uuid::from_u128(n),
            display_name: name.into(),
            external_id: external_id.map(str::to_string),
            added_at: time(at),
        }
    }

    /// `docs/entra/requests.md` §2.1, verbatim.
    fn entra_create() -> Value {
        json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
            "active": true,
            "emails": [{
                "primary": true,
                "type": "work",
                "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
            }],
            "meta": {"resourceType": "User"},
            "name": {
                "formatted": "givenName familyName",
                "familyName": "familyName",
                "givenName": "givenName"
            },
            "roles": []
        })
    }

    /// The Microsoft SCIM Validator's full-attribute POST (`docs/entra/requests.md` §8.8), with the
    /// string `"primary": "True"` on the role.
    fn validator_create() -> Value {
        json!({
            "userName": "julien.vonrueden@ondricka.us",
            "active": true,
            "displayName": "NDSQQTECVAAC",
            "title": "CJSGUNOAAMMQ",
            "emails": [{"type": "work", "value": "thaddeus@hammes.info", "primary": true}],
            "preferredLanguage": "hi",
            "name": {
                "givenName": "Elfrieda", "familyName": "Urban", "formatted": "Myah",
                "middleName": "Cindy", "honorificPrefix": "Minerva", "honorificSuffix": "Micaela"
            },
            "addresses": [{"type": "work", "formatted": "ZQEHBLETAAQE", "primary": true, "country": "Sierra Leone"}],
            "phoneNumbers": [
                {"type": "mobile", "value": "10-040-1309"},
                {"type": "work", "value": "10-040-1308", "primary": true},
                {"type": "fax", "value": "10-040-1310"}
            ],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "OXYYEGWVLTGW",
                "department": "ZYWTBPDFHIIP",
                "costCenter": "ASHTVSKANCGL",
                "manager": {"value": "XYMKVVRYDIOO"}
            },
            "roles": [{"primary": "True", "display": "MRONYWGFFHXQ", "value": "WDEIISGWWQBE", "type": "XVTUOHMYUFRL"}],
            "userType": "GZILLRZCFPNC",
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ]
        })
    }

    #[test]
    fn identity_fields_of_the_entra_create_request() {
        let resource = stored(entra_create());
        let user = view(&resource, vec![], &MappingRules::default());
        assert_eq!(user.id, Uuid::from_u128(1).to_string());
        assert_eq!(user.external_id.as_deref(), Some("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"));
        assert_eq!(user.user_name, "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee");
        assert_eq!(user.display_name, None);
        assert_eq!(
            user.name,
            Some(Name {
                formatted: Some("givenName familyName".into()),
                given_name: Some("givenName".into()),
                family_name: Some("familyName".into()),
            })
        );
        assert_eq!(
            user.primary_email.as_deref(),
            Some("Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com")
        );
        assert!(user.app_roles.is_empty());
        assert!(user.product_roles.is_empty());
        assert_eq!(user.teams, Some(Teams::default()));
        assert_eq!(user.title, None);
        assert_eq!(user.department, None);
        assert_eq!(user.phone_number, None);
        assert!(user.active);
    }

    #[test]
    fn fields_of_the_validator_request() {
        let resource = stored(validator_create());
        let user = view(&resource, vec![], &MappingRules::default());
        assert_eq!(user.display_name.as_deref(), Some("NDSQQTECVAAC"));
        assert_eq!(user.title.as_deref(), Some("CJSGUNOAAMMQ"));
        assert_eq!(user.preferred_language.as_deref(), Some("hi"));
        assert_eq!(user.department.as_deref(), Some("ZYWTBPDFHIIP"));
        assert_eq!(user.primary_email.as_deref(), Some("thaddeus@hammes.info"));
        assert_eq!(user.phone_number.as_deref(), Some("10-040-1308"));
        assert_eq!(user.app_roles, strings(&["WDEIISGWWQBE"]));
        let name = user.name.unwrap();
        assert_eq!(name.formatted.as_deref(), Some("Myah"));
        assert_eq!(name.given_name.as_deref(), Some("Elfrieda"));
        assert_eq!(name.family_name.as_deref(), Some("Urban"));
    }

    #[test]
    fn attribute_names_in_any_case_are_read() {
        let resource = stored(json!({
            "UserName": "ada@example.com",
            "DISPLAYNAME": "Ada",
            "Title": "Engineer",
            "PreferredLanguage": "en-GB",
            "Name": {"GivenName": "Ada", "FAMILYNAME": "Lovelace"},
            "Emails": [{"Type": "other", "Value": "a@x"}, {"Value": "ada@example.com", "Primary": "True"}],
            "PhoneNumbers": [{"Value": "1", "Primary": "true"}, {"Value": "2", "Type": "Work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"Department": "R&D"},
            "Roles": [{"Value": "Admin", "Primary": "True"}]
        }));
        let user = view(&resource, vec![], &MappingRules::default());
        assert_eq!(user.user_name, "ada@example.com");
        assert_eq!(user.display_name.as_deref(), Some("Ada"));
        assert_eq!(user.title.as_deref(), Some("Engineer"));
        assert_eq!(user.preferred_language.as_deref(), Some("en-GB"));
        assert_eq!(user.name.as_ref().unwrap().given_name.as_deref(), Some("Ada"));
        assert_eq!(user.name.as_ref().unwrap().family_name.as_deref(), Some("Lovelace"));
        assert_eq!(user.primary_email.as_deref(), Some("ada@example.com"));
        assert_eq!(user.phone_number.as_deref(), Some("2"));
        assert_eq!(user.department.as_deref(), Some("R&D"));
        assert_eq!(user.app_roles, strings(&["Admin"]));
    }

    #[test]
    fn primary_email_is_primary_else_work_else_first() {
        let email = |emails: Value| {
            view(
                &stored(json!({"userName": "u", "emails": emails})),
                vec![],
                &MappingRules::default(),
            )
            .primary_email
        };
        assert_eq!(
            email(json!([{"value": "a", "type": "work"}, {"value": "b", "primary": true}])),
            Some("b".into())
        );
        assert_eq!(
            email(
                json!([{"value": "a", "type": "home", "primary": false}, {"value": "b", "type": "work"}])
            ),
            Some("b".into())
        );
        assert_eq!(
            email(json!([{"value": "a", "type": "home"}, {"value": "b", "type": "other"}])),
            Some("a".into())
        );
        // An element without a value is skipped, even when primary.
        assert_eq!(
            email(json!([{"type": "work", "primary": true}, {"value": "c"}])),
            Some("c".into())
        );
        assert_eq!(email(json!([])), None);
        let user = view(&stored(json!({"userName": "u"})), vec![], &MappingRules::default());
        assert_eq!(user.primary_email, None);
    }

    #[test]
    fn phone_number_is_work_else_primary_else_first() {
        let phone = |phones: Value| {
            view(
                &stored(json!({"userName": "u", "phoneNumbers": phones})),
                vec![],
                &MappingRules::default(),
            )
            .phone_number
        };
        assert_eq!(
            phone(
                json!([{"value": "1", "primary": true, "type": "mobile"}, {"value": "2", "type": "work"}])
            ),
            Some("2".into())
        );
        assert_eq!(
            phone(json!([{"value": "1", "type": "mobile"}, {"value": "2", "primary": "True"}])),
            Some("2".into())
        );
        assert_eq!(
            phone(json!([{"value": "1", "type": "mobile"}, {"value": "2"}])),
            Some("1".into())
        );
    }

    #[test]
    fn app_roles_of_app_role_assignments_complex_post_then_patch_add() {
        // docs/entra/requests.md §7.2: the POST uses `displayName`, the PATCH JSON-in-string values.
        let resource = stored(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "externalId": "alias",
            "userName": "alias@contoso.OnMicrosoft.com",
            "active": true,
            "displayName": "First Name Last Name",
            "meta": {"resourceType": "User"},
            "roles": [
                {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "displayName": "Admin", "value": "Admin"},
                {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "displayName": "User", "value": "User"}
            ]
        }));
        let rules = rules(json!({"appRoles": [
            {"appRole": "admin", "productRole": "administrator"},
            {"appRole": "DocumentMgmt-Admin", "productRole": "documents"},
            {"appRole": "user", "productRole": "member"}
        ]}));
        let user = view(&resource, vec![], &rules);
        assert_eq!(user.app_roles, strings(&["Admin", "User"]));
        assert_eq!(user.product_roles, strings(&["administrator", "member"]));

        let resource = patched(
            &resource,
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{
                    "op": "Add",
                    "path": "roles",
                    "value": [
                        {"value": "{\"id\":\"827f0d2e-be15-4d8f-a8e3-f8697239c112\",\"value\":\"DocumentMgmt-Admin\",\"displayName\":\"DocumentMgmt Admin\"}"},
                        {"value": "{\"id\":\"8ae06bd4-35bb-4fcd-977e-14e074ad1192\",\"value\":\"Admin\",\"displayName\":\"Admin\"}"}
                    ]
                }]
            }),
        );
        let user = view(&resource, vec![], &rules);
        assert_eq!(user.app_roles, strings(&["Admin", "User", "DocumentMgmt-Admin"]));
        assert_eq!(user.product_roles, strings(&["administrator", "documents", "member"]));
    }

    #[test]
    fn app_roles_of_assertive_post_then_patch_replace() {
        // docs/entra/requests.md §7.3.
        let resource = stored(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "externalId": "contoso",
            "userName": "contoso@alias.onmicrosoft.com",
            "active": true,
            "roles": [
                {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "User", "value": "User"},
                {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "Test", "value": "Test"}
            ]
        }));
        let rules = rules(json!({
            "appRoles": [{"appRole": "Test", "productRole": "tester"}, {"appRole": "User", "productRole": "member"}],
            "defaultRole": "guest"
        }));
        assert_eq!(view(&resource, vec![], &rules).product_roles, strings(&["member", "tester"]));
        let resource = patched(
            &resource,
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "roles", "value": [
                    {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "User", "value": "User"}
                ]}]
            }),
        );
        let user = view(&resource, vec![], &rules);
        assert_eq!(user.app_roles, strings(&["User"]));
        assert_eq!(user.product_roles, strings(&["member"]));
        let resource = patched(
            &resource,
            json!({"Operations": [{"op": "replace", "path": "roles", "value": []}]}),
        );
        let user = view(&resource, vec![], &rules);
        assert!(user.app_roles.is_empty());
        assert_eq!(user.product_roles, strings(&["guest"]));
    }

    #[test]
    fn app_roles_of_single_app_role_assignment() {
        // docs/entra/requests.md §7.1 POST, then the validator's per-sub-attribute PATCH (§8.8).
        let resource = stored(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "externalId": "alias",
            "userName": "alias@contoso.OnMicrosoft.com",
            "active": true,
            "displayName": "First Name Last Name",
            "roles": [{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]
        }));
        let rules = rules(json!({"appRoles": [
            {"appRole": "admin", "productRole": "administrator"},
            {"appRole": "UOYTUVLKIPND", "productRole": "validated"}
        ]}));
        assert_eq!(view(&resource, vec![], &rules).product_roles, strings(&["administrator"]));

        let resource = stored(
            json!({"userName": "eleanore@boyercorwin.biz", "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}),
        );
        let resource = patched(
            &resource,
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "add", "path": "active", "value": true},
                    {"op": "add", "path": "roles[primary eq \"True\"].display", "value": "TQBJFQYVJCAG"},
                    {"op": "add", "path": "roles[primary eq \"True\"].value", "value": "UOYTUVLKIPND"},
                    {"op": "add", "path": "roles[primary eq \"True\"].type", "value": "VGNBBCPQEMYC"}
                ]
            }),
        );
        let user = view(&resource, vec![], &rules);
        assert_eq!(user.app_roles, strings(&["UOYTUVLKIPND"]));
        assert_eq!(user.product_roles, strings(&["validated"]));
    }

    #[test]
    fn app_roles_are_deduplicated_case_insensitively_in_order() {
        let resource = stored(json!({"userName": "u", "roles": [
            {"value": "Writer"}, {"value": "admin"}, {"value": "WRITER"}, {"value": "Admin"},
            {"display": "no value"}, {"value": "{\"id\":\"1\",\"value\":\"reader\",\"displayName\":\"Reader\"}"}
        ]}));
        let user = view(&resource, vec![], &MappingRules::default());
        assert_eq!(user.app_roles, strings(&["Writer", "admin", "reader"]));
    }

    #[test]
    fn groups_are_ordered_by_join_time_then_id_and_teams_follow() {
        let rules = rules(json!({"groups": [
            {"displayName": "team b", "team": true},
            {"externalId": "ext-a", "team": true, "productRole": "member"},
            {"displayName": "Sales", "productRole": "sales"},
            {"displayName": "Team C", "team": true}
        ]}));
        let groups = vec![
            membership(5, "Team C", None, 30),
            membership(4, "Sales", Some("ext-s"), 5),
            membership(3, "Team A", Some("ext-a"), 10),
            membership(2, "Team B", None, 10),
            membership(1, "Other", None, 20),
        ];
        let user = view(&stored(json!({"userName": "u"})), groups, &rules);
        let ids: Vec<String> = user.groups.iter().map(|g| g.id.clone()).collect();
        let id = |n: u128| Uuid::from_u128(n).to_string();
        assert_eq!(ids, vec![id(4), id(2), id(3), id(1), id(5)]);
        assert_eq!(
            user.groups[0],
            GroupRef { id: id(4), display_name: "Sales".into(), external_id: Some("ext-s".into()) }
        );
        let teams = user.teams.unwrap();
        assert_eq!(teams.primary.map(|g| g.id), Some(id(2)));
        let additional: Vec<String> = teams.additional.iter().map(|g| g.id.clone()).collect();
        assert_eq!(additional, vec![id(3), id(5)]);
        assert_eq!(user.product_roles, strings(&["member", "sales"]));
    }

    #[test]
    fn product_roles_combine_app_roles_and_groups_under_the_policy() {
        let mut value = json!({
            "appRoles": [{"appRole": "Admin", "productRole": "administrator"}, {"appRole": "vendor", "productRole": "vendor"}],
            "groups": [{"displayName": "Sales", "productRole": "sales"}, {"displayName": "Sales", "productRole": "vendor"}],
            "defaultRole": "member",
            "priority": ["administrator", "vendor", "sales", "member"]
        });
        let resource =
            stored(json!({"userName": "u", "roles": [{"value": "VENDOR"}, {"value": "unmapped"}]}));
        let groups = || vec![membership(1, "sales", None, 0)];
        let user = view(&resource, groups(), &rules(value.clone()));
        assert_eq!(user.product_roles, strings(&["vendor", "sales"]));
        value["policy"] = json!("highest");
        let user = view(&resource, groups(), &rules(value.clone()));
        assert_eq!(user.product_roles, strings(&["vendor"]));
        let user = view(
            &stored(json!({"userName": "u", "roles": [{"value": "admin"}]})),
            groups(),
            &rules(value.clone()),
        );
        assert_eq!(user.product_roles, strings(&["administrator"]));
        let user = view(
            &stored(json!({"userName": "u", "roles": [{"value": "unmapped"}]})),
            vec![],
            &rules(value),
        );
        assert_eq!(user.product_roles, strings(&["member"]));
    }

    #[test]
    fn active_comes_from_the_input() {
        let resource = stored(json!({"userName": "u", "active": true}));
        let id = Uuid::from_u128(7);
        let input = UserInput {
            id,
            resource: &resource,
            active: false,
            meta: meta(id, "Users", 2),
            groups: vec![],
        };
        assert!(!user_view(&input, &MappingRules::default()).active);
    }

    #[test]
    fn scim_resource_has_id_and_meta() {
        let resource = stored(entra_create());
        let id = Uuid::from_u128(9);
        let input = UserInput {
            id,
            resource: &resource,
            active: true,
            meta: meta(id, "Users", 4),
            groups: vec![],
        };
        let user = user_view(&input, &MappingRules::default());
        let json: Value = serde_json::from_str(&user.scim_resource_json).unwrap();
        assert_eq!(json["id"], id.to_string());
        assert_eq!(json["meta"]["version"], "W/\"4\"");
        assert_eq!(json["meta"]["resourceType"], "User");
        assert_eq!(json["userName"], "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee");
        assert_eq!(json["emails"][0]["primary"], true);
        assert!(json.get("password").is_none());
        assert_eq!(
            json,
            User::from_stored(resource.clone()).to_resource(&id.to_string(), &input.meta)
        );
    }

    #[test]
    fn group_view_from_an_entra_group() {
        // docs/entra/requests.md §3.1 (Entra's extra schema URI, client `meta`), with another display
        // name and a member.
        let (group, members) = Group::from_request(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Group1",
            "meta": {"resourceType": "Group"},
            "members": [{"value": "u1"}]
        }))
        .unwrap();
        assert_eq!(members.len(), 1);
        let resource = group.into_json();
        let id = Uuid::from_u128(42);
        let input = GroupInput { id, resource: &resource, meta: meta(id, "Groups", 3) };
        let rules = rules(json!({
            "groups": [
                {"displayName": "GROUP1", "productRole": "sales"},
                {"externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "team": true, "productRole": "admin"},
                {"displayName": "Other", "productRole": "other"}
            ],
            "defaultRole": "member",
            "policy": "highest",
            "priority": ["admin", "sales", "member", "other"]
        }));
        let view = group_view(&input, &rules);
        assert_eq!(view.id, id.to_string());
        assert_eq!(view.display_name, "Group1");
        assert_eq!(view.external_id.as_deref(), Some("8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"));
        assert!(view.team);
        // Everything the group gives, by priority; no default role, no policy.
        assert_eq!(view.product_roles, strings(&["admin", "sales"]));
        let json: Value = serde_json::from_str(&view.scim_resource_json).unwrap();
        assert_eq!(json["id"], id.to_string());
        assert_eq!(json["meta"]["resourceType"], "Group");
        assert!(json.get("members").is_none());

        let plain = group_view(&input, &MappingRules::default());
        assert!(!plain.team);
        assert!(plain.product_roles.is_empty());
    }
}
