//! Discovery documents (RFC 7644 §4, RFC 7643 §5–§7): `/ServiceProviderConfig`,
//! `/ResourceTypes` and `/Schemas`.
//!
//! Every function takes the base URL of the directory's SCIM endpoint
//! (`https://host/scim/v2/{directory_id}`) for `meta.location`. The documents never contain
//! nulls (Entra: "If a value isn't present, don't send null values") and use camelCase values
//! (`readWrite`).
//!
//! Where Roster differs from the RFC 7643 §8.7 schema text, the documents say what Roster does:
//! group `displayName` is required and unique (Entra requires it); `externalId` is listed in both
//! resource schemas (Entra maps it); `password` is not listed (it is never stored); role and
//! address elements carry `primary`.
//!
//! The limits of requests ([`Limits`]) are advertised where SCIM has a place for them:
//! `filter.maxResults`, and the descriptions of the attributes they bound in `/Schemas`
//! (`userName`: "… at most 1024 bytes"). A Roster extension object on the ServiceProviderConfig
//! would say more, but strict clients refuse one (scim2-models, behind scim2-tester, answers
//! `extra_forbidden`), so the full table is docs/limits.md.

use serde_json::{Map, Value, json};

use crate::group::GROUP_SCHEMA;
use crate::limits::Limits;
use crate::list::ListResponse;
use crate::user::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

/// The URN of the ServiceProviderConfig resource.
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// The URN of ResourceType resources.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// The URN of Schema resources.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// `/ServiceProviderConfig`: PATCH, filter (at most `max_results` results per page), sort and
/// ETags supported; bulk and password change not; OAuth bearer tokens.
pub fn service_provider_config(base_url: &str, max_results: u64) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with the directory's secret token as an OAuth 2.0 bearer token (RFC 6750).",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", trim(base_url)),
        }
    })
}

/// A custom extension of the User resource that a directory holds (Entra sends one for the
/// attributes an admin adds, `urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User`): its
/// URN and, per attribute name, one stored value, from which the attribute's definition is
/// inferred. Declared in `/ResourceTypes` and `/Schemas`, so that strict clients can validate
/// every user Roster returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Extension {
    pub urn: String,
    pub attributes: Vec<(String, Value)>,
}

/// `/ResourceTypes`: User (with the enterprise extension and the directory's `extensions`) and
/// Group.
pub fn resource_types(base_url: &str, extensions: &[Extension]) -> Vec<Value> {
    let base = trim(base_url);
    let resource_type = |id: &str, description: &str, schema: &str, extensions: Value| {
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": id,
            "name": id,
            "endpoint": format!("/{id}s"),
            "description": description,
            "schema": schema,
            "schemaExtensions": extensions,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base}/ResourceTypes/{id}"),
            }
        })
    };
    vec![
        resource_type(
            "User",
            "User Account",
            USER_SCHEMA,
            Value::Array(
                std::iter::once(ENTERPRISE_USER_SCHEMA)
                    .chain(extensions.iter().map(|e| e.urn.as_str()))
                    .map(|urn| json!({"schema": urn, "required": false}))
                    .collect(),
            ),
        ),
        resource_type("Group", "Group", GROUP_SCHEMA, json!([])),
    ]
}

/// One resource type by id (`User`, `Group`; any case).
pub fn resource_type(base_url: &str, id: &str, extensions: &[Extension]) -> Option<Value> {
    resource_types(base_url, extensions)
        .into_iter()
        .find(|r| r["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
}

/// `/ResourceTypes` as a ListResponse.
pub fn resource_types_list(base_url: &str, extensions: &[Extension]) -> Value {
    list(resource_types(base_url, extensions))
}

/// `/Schemas`: the core User, the enterprise User extension and the core Group schema, their
/// attributes' descriptions saying what `limits` bound them to, and one schema per custom
/// extension the directory holds.
pub fn schemas(base_url: &str, limits: &Limits, extensions: &[Extension]) -> Vec<Value> {
    let base = trim(base_url);
    let schema = |id: &str, name: &str, description: &str, attributes: Vec<Attr>| {
        let mut attributes: Vec<Value> = attributes.iter().map(Attr::to_json).collect();
        describe_limits(id, &mut attributes, limits);
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": id,
            "name": name,
            "description": description,
            "attributes": attributes,
            "meta": {
                "resourceType": "Schema",
                "location": format!("{base}/Schemas/{id}"),
            }
        })
    };
    let mut all = vec![
        schema(USER_SCHEMA, "User", "User Account", user_attributes()),
        schema(
            ENTERPRISE_USER_SCHEMA,
            "EnterpriseUser",
            "Enterprise User",
            enterprise_attributes(),
        ),
        schema(GROUP_SCHEMA, "Group", "Group", group_attributes()),
    ];
    all.extend(extensions.iter().map(|extension| extension_schema(base, extension)));
    all
}

/// The Schema document of a custom extension, its attributes inferred from stored values.
fn extension_schema(base: &str, extension: &Extension) -> Value {
    // `urn:…:extension:CustomExt:2.0:User` is named `CustomExt`: the segment before the version.
    let parts: Vec<&str> = extension.urn.split(':').collect();
    let version = parts.iter().position(|p| p.starts_with(|c: char| c.is_ascii_digit()));
    let name = match version {
        Some(at) if at > 0 => parts[at - 1],
        _ => parts.last().copied().unwrap_or_default(),
    };
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": extension.urn,
        "name": name,
        "description": "A custom extension of the User resource, as this directory holds it \
                        (attributes inferred from the values stored).",
        "attributes": extension
            .attributes
            .iter()
            .map(|(name, sample)| inferred_attribute(name, sample, true))
            .collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base}/Schemas/{}", extension.urn),
        }
    })
}

/// The definition of an attribute whose stored value is `sample`: its type from the JSON type
/// (a string stays a string), multi-valued for an array (typed by its first non-null element).
/// SCIM allows complex attributes only at the top (RFC 7643 §2.3.8), so below it an object is
/// declared a string too.
fn inferred_attribute(name: &str, sample: &Value, top: bool) -> Value {
    let (multi_valued, element) = match sample {
        Value::Array(values) => {
            (true, values.iter().find(|v| !v.is_null()).unwrap_or(&Value::Null))
        }
        other => (false, other),
    };
    let kind = match element {
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "decimal",
        Value::Object(fields) if top && !fields.is_empty() => "complex",
        _ => "string",
    };
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    out.insert("type".into(), json!(kind));
    out.insert("multiValued".into(), json!(multi_valued));
    out.insert("description".into(), json!("Inferred from the values stored."));
    out.insert("required".into(), json!(false));
    if kind != "complex" && kind != "boolean" {
        out.insert("caseExact".into(), json!(false));
    }
    out.insert("mutability".into(), json!("readWrite"));
    out.insert("returned".into(), json!("default"));
    if kind != "complex" && kind != "boolean" {
        out.insert("uniqueness".into(), json!("none"));
    }
    if let Value::Object(fields) = element
        && kind == "complex"
    {
        let subs = fields.iter().map(|(name, value)| inferred_attribute(name, value, false));
        out.insert("subAttributes".into(), Value::Array(subs.collect()));
    }
    Value::Object(out)
}

/// One schema by URN (any case).
pub fn schema(
    base_url: &str,
    id: &str,
    limits: &Limits,
    extensions: &[Extension],
) -> Option<Value> {
    schemas(base_url, limits, extensions)
        .into_iter()
        .find(|s| s["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
}

/// `/Schemas` as a ListResponse.
pub fn schemas_list(base_url: &str, limits: &Limits, extensions: &[Extension]) -> Value {
    list(schemas(base_url, limits, extensions))
}

/// Appends to the descriptions of the attributes of schema `id` what `limits` bound them to.
fn describe_limits(id: &str, attributes: &mut [Value], limits: &Limits) {
    let bytes = format!(
        "Roster accepts at most {} bytes (UTF-8) here, so that the value fits its index.",
        limits.max_indexed_bytes
    );
    let values = format!("Roster accepts at most {} values in one request.", limits.max_values);
    let (indexed, emails): (&[&str], bool) = match id {
        USER_SCHEMA => (&["userName", "externalId", "displayName"], true),
        GROUP_SCHEMA => (&["displayName", "externalId"], false),
        _ => (&[], false),
    };
    for attribute in attributes.iter_mut() {
        let name = attribute["name"].as_str().unwrap_or_default().to_string();
        if indexed.contains(&name.as_str()) {
            append(attribute, &bytes);
        }
        if id == GROUP_SCHEMA && name == "members" {
            append(
                attribute,
                &format!(
                    "Roster accepts at most {} members in one request (a POST or PUT, or all the \
                     operations of a PATCH together).",
                    limits.max_members
                ),
            );
        } else if attribute["multiValued"] == true {
            append(attribute, &values);
        }
        if emails
            && name == "emails"
            && let Some(Value::Array(subs)) = attribute.get_mut("subAttributes")
        {
            for sub in subs.iter_mut().filter(|s| s["name"] == "value") {
                append(sub, &bytes);
            }
        }
    }
}

fn append(attribute: &mut Value, sentence: &str) {
    if let Some(Value::String(description)) = attribute.get_mut("description") {
        description.push(' ');
        description.push_str(sentence);
    }
}

fn list(resources: Vec<Value>) -> Value {
    ListResponse { total_results: resources.len() as u64, start_index: 1, resources }.to_json()
}

fn trim(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

// ---------------------------------------------------------------------------------------------
// attribute definitions (RFC 7643 §7)

/// One attribute definition, built with defaults (`string`, single-valued, optional,
/// case-insensitive, `readWrite`, returned by `default`, uniqueness `none`).
#[derive(Debug, Clone)]
struct Attr {
    name: &'static str,
    kind: &'static str,
    description: &'static str,
    multi_valued: bool,
    required: bool,
    case_exact: bool,
    mutability: &'static str,
    returned: &'static str,
    uniqueness: &'static str,
    canonical_values: &'static [&'static str],
    reference_types: &'static [&'static str],
    sub_attributes: Vec<Attr>,
}

fn string(name: &'static str, description: &'static str) -> Attr {
    Attr {
        name,
        kind: "string",
        description,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: "readWrite",
        returned: "default",
        uniqueness: "none",
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: Vec::new(),
    }
}

fn boolean(name: &'static str, description: &'static str) -> Attr {
    Attr { kind: "boolean", ..string(name, description) }
}

fn reference(
    name: &'static str,
    types: &'static [&'static str],
    description: &'static str,
) -> Attr {
    Attr {
        kind: "reference",
        reference_types: types,
        case_exact: true,
        ..string(name, description)
    }
}

fn complex(name: &'static str, description: &'static str, subs: Vec<Attr>) -> Attr {
    Attr { kind: "complex", sub_attributes: subs, ..string(name, description) }
}

impl Attr {
    fn multi(mut self) -> Attr {
        self.multi_valued = true;
        self
    }
    fn required(mut self) -> Attr {
        self.required = true;
        self
    }
    fn case_exact(mut self) -> Attr {
        self.case_exact = true;
        self
    }
    fn mutability(mut self, mutability: &'static str) -> Attr {
        self.mutability = mutability;
        self
    }
    fn unique(mut self) -> Attr {
        self.uniqueness = "server";
        self
    }
    fn canonical(mut self, values: &'static [&'static str]) -> Attr {
        self.canonical_values = values;
        self
    }
    fn returned(mut self, returned: &'static str) -> Attr {
        self.returned = returned;
        self
    }
    fn kind(mut self, kind: &'static str) -> Attr {
        self.kind = kind;
        self
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), json!(self.name));
        out.insert("type".into(), json!(self.kind));
        out.insert("multiValued".into(), json!(self.multi_valued));
        out.insert("description".into(), json!(self.description));
        out.insert("required".into(), json!(self.required));
        if !self.canonical_values.is_empty() {
            out.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if self.kind != "complex" && self.kind != "boolean" {
            out.insert("caseExact".into(), json!(self.case_exact));
        }
        out.insert("mutability".into(), json!(self.mutability));
        out.insert("returned".into(), json!(self.returned));
        if self.kind != "complex" && self.kind != "boolean" {
            out.insert("uniqueness".into(), json!(self.uniqueness));
        }
        if !self.reference_types.is_empty() {
            out.insert("referenceTypes".into(), json!(self.reference_types));
        }
        if self.kind == "complex" {
            out.insert(
                "subAttributes".into(),
                Value::Array(self.sub_attributes.iter().map(Attr::to_json).collect()),
            );
        }
        Value::Object(out)
    }
}

/// The sub-attributes of a multi-valued attribute: `value`, `display`, `type`, `primary`.
fn multi_subs(value: Attr, types: &'static [&'static str]) -> Vec<Attr> {
    vec![
        value,
        string("display", "A human-readable name, primarily used for display purposes."),
        string("type", "A label indicating the attribute's function.").canonical(types),
        boolean(
            "primary",
            "A Boolean value indicating the 'primary' or preferred attribute value. The primary \
             attribute value 'true' MUST appear no more than once.",
        ),
    ]
}

fn user_attributes() -> Vec<Attr> {
    vec![
        string(
            "userName",
            "Unique identifier for the User, typically used by the user to directly authenticate \
             to the service provider. Each User MUST include a non-empty userName value. Unique \
             per directory, compared case-insensitively. REQUIRED.",
        )
        .required()
        .unique(),
        string("externalId", "An identifier for the User as defined by the provisioning client.")
            .case_exact(),
        complex(
            "name",
            "The components of the user's real name.",
            vec![
                string("formatted", "The full name, formatted for display."),
                string("familyName", "The family name of the User, or last name."),
                string("givenName", "The given name of the User, or first name."),
                string("middleName", "The middle name(s) of the User."),
                string("honorificPrefix", "The honorific prefix(es) of the User."),
                string("honorificSuffix", "The honorific suffix(es) of the User."),
            ],
        ),
        string("displayName", "The name of the User, suitable for display to end-users."),
        string("nickName", "The casual way to address the user in real life."),
        reference(
            "profileUrl",
            &["external"],
            "A fully qualified URL pointing to a page representing the User's online profile.",
        ),
        string("title", "The user's title, such as \"Vice President\"."),
        string(
            "userType",
            "Used to identify the relationship between the organization and the user.",
        ),
        string(
            "preferredLanguage",
            "Indicates the User's preferred written or spoken language (RFC 7231 Accept-Language).",
        ),
        string(
            "locale",
            "Used to indicate the User's default location for localization, e.g. \"en-US\".",
        ),
        string(
            "timezone",
            "The User's time zone in the IANA Time Zone database format, e.g. \"America/Los_Angeles\".",
        ),
        boolean(
            "active",
            "A Boolean value indicating the User's administrative status. Inactive users are still returned.",
        ),
        complex(
            "emails",
            "Email addresses for the user.",
            multi_subs(string("value", "Email address for the user."), &["work", "home", "other"]),
        )
        .multi(),
        complex(
            "phoneNumbers",
            "Phone numbers for the User.",
            multi_subs(
                string("value", "Phone number of the User."),
                &["work", "home", "mobile", "fax", "pager", "other"],
            ),
        )
        .multi(),
        complex(
            "ims",
            "Instant messaging addresses for the User.",
            multi_subs(
                string("value", "Instant messaging address for the User."),
                &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
            ),
        )
        .multi(),
        complex(
            "photos",
            "URLs of photos of the User.",
            multi_subs(
                reference("value", &["external"], "URL of a photo of the User."),
                &["photo", "thumbnail"],
            ),
        )
        .multi(),
        complex(
            "addresses",
            "A physical mailing address for this User.",
            vec![
                string("formatted", "The full mailing address, formatted for display."),
                string("streetAddress", "The full street address component."),
                string("locality", "The city or locality component."),
                string("region", "The state or region component."),
                string("postalCode", "The zip code or postal code component."),
                string("country", "The country name component."),
                string("type", "A label indicating the attribute's function.")
                    .canonical(&["work", "home", "other"]),
                boolean("primary", "A Boolean value indicating the primary address."),
            ],
        )
        .multi(),
        complex(
            "groups",
            "A list of groups to which the user belongs. Changed through the Group resource.",
            vec![
                string("value", "The identifier of the User's group.")
                    .case_exact()
                    .mutability("readOnly"),
                reference("$ref", &["Group"], "The URI of the corresponding Group resource.")
                    .mutability("readOnly"),
                string("display", "A human-readable name of the group.").mutability("readOnly"),
                string("type", "Membership type.")
                    .canonical(&["direct", "indirect"])
                    .mutability("readOnly"),
            ],
        )
        .multi()
        .mutability("readOnly"),
        complex(
            "entitlements",
            "A list of entitlements for the User.",
            multi_subs(string("value", "The value of an entitlement."), &[]),
        )
        .multi(),
        complex(
            "roles",
            "A list of roles for the User (Entra app role assignments).",
            multi_subs(string("value", "The value of a role."), &[]),
        )
        .multi(),
        complex(
            "x509Certificates",
            "A list of certificates issued to the User.",
            multi_subs(
                string("value", "The value of an X.509 certificate.").kind("binary").case_exact(),
                &[],
            ),
        )
        .multi(),
    ]
}

fn enterprise_attributes() -> Vec<Attr> {
    vec![
        string(
            "employeeNumber",
            "Numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization.",
        ),
        string("costCenter", "Identifies the name of a cost center."),
        string("organization", "Identifies the name of an organization."),
        string("division", "Identifies the name of a division."),
        string("department", "Identifies the name of a department."),
        complex(
            "manager",
            "The User's manager.",
            vec![
                string(
                    "value",
                    "The id of the SCIM resource representing the User's manager. REQUIRED.",
                )
                .case_exact(),
                reference(
                    "$ref",
                    &["User"],
                    "The URI of the SCIM resource representing the User's manager.",
                ),
                string("displayName", "The displayName of the User's manager.")
                    .mutability("readOnly"),
            ],
        ),
    ]
}

fn group_attributes() -> Vec<Attr> {
    vec![
        string("displayName", "A human-readable name for the Group. Unique per directory, compared case-insensitively. REQUIRED.")
            .required()
            .unique(),
        string("externalId", "An identifier for the Group as defined by the provisioning client.").case_exact(),
        complex(
            "members",
            "A list of members of the Group.",
            vec![
                string("value", "Identifier of the member of this Group.").case_exact().mutability("immutable"),
                reference("$ref", &["User", "Group"], "The URI corresponding to a SCIM resource that is a member of this Group.")
                    .mutability("immutable"),
                string("display", "A human-readable name of the member: a user's displayName (else its userName), a group's displayName. Returned only when requested (attributes=members.display).")
                    .mutability("readOnly")
                    .returned("request"),
                string("type", "A label indicating the type of resource.").canonical(&["User", "Group"]).mutability("immutable"),
            ],
        )
        .multi(),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::schema::{self as tables, Kind};

    const BASE: &str = "https://roster.example/scim/v2/d1/";

    /// Checks one attribute definition recursively; returns its name.
    fn check_attribute(attr: &Value, in_complex: bool) -> String {
        let a = attr.as_object().unwrap();
        let name = a["name"].as_str().unwrap().to_string();
        let kind = a["type"].as_str().unwrap();
        assert!(
            [
                "string",
                "boolean",
                "decimal",
                "integer",
                "dateTime",
                "reference",
                "binary",
                "complex"
            ]
            .contains(&kind),
            "{name}: {kind}"
        );
        assert!(a["multiValued"].is_boolean(), "{name}");
        assert!(a["required"].is_boolean(), "{name}");
        assert!(a["description"].as_str().is_some_and(|d| !d.is_empty()), "{name}");
        assert!(
            ["readOnly", "readWrite", "immutable", "writeOnly"]
                .contains(&a["mutability"].as_str().unwrap()),
            "{name}"
        );
        assert!(
            ["always", "never", "default", "request"].contains(&a["returned"].as_str().unwrap()),
            "{name}"
        );
        if kind == "complex" {
            assert!(!in_complex, "{name}: complex attributes do not nest");
            let subs = a["subAttributes"].as_array().unwrap();
            assert!(!subs.is_empty(), "{name}");
            for sub in subs {
                check_attribute(sub, true);
            }
        } else {
            assert!(a.get("subAttributes").is_none(), "{name}");
        }
        if kind != "complex" && kind != "boolean" {
            assert!(a["caseExact"].is_boolean(), "{name}");
            assert!(
                ["none", "server", "global"].contains(&a["uniqueness"].as_str().unwrap()),
                "{name}"
            );
        }
        if kind == "reference" {
            assert!(!a["referenceTypes"].as_array().unwrap().is_empty(), "{name}");
        }
        name
    }

    fn no_nulls(value: &Value) -> bool {
        match value {
            Value::Null => false,
            Value::Array(a) => a.iter().all(no_nulls),
            Value::Object(o) => o.values().all(no_nulls),
            _ => true,
        }
    }

    /// Asserts that every attribute (and sub-attribute) of `table` appears in `schema`.
    fn covers(schema: &Value, table: &[(&str, Kind)]) {
        let attributes = schema["attributes"].as_array().unwrap();
        for (name, kind) in table {
            let attr = attributes
                .iter()
                .find(|a| a["name"] == *name)
                .unwrap_or_else(|| panic!("{} lacks {name}", schema["id"]));
            let expected_type = match kind {
                Kind::String => None,
                Kind::Boolean => Some("boolean"),
                Kind::Complex(_) | Kind::MultiComplex(_) => Some("complex"),
            };
            if let Some(t) = expected_type {
                assert_eq!(attr["type"], t, "{name}");
            }
            assert_eq!(attr["multiValued"], matches!(kind, Kind::MultiComplex(_)), "{name}");
            for (sub, _) in kind.subs() {
                assert!(
                    attr["subAttributes"].as_array().unwrap().iter().any(|s| s["name"] == *sub),
                    "{name}.{sub} missing"
                );
            }
        }
    }

    #[test]
    fn schemas_are_well_formed_and_cover_the_model() {
        let all = schemas(BASE, &Limits::default(), &[]);
        assert_eq!(all.len(), 3);
        for s in &all {
            assert!(no_nulls(s));
            assert_eq!(s["schemas"], json!([SCHEMA_SCHEMA]));
            let id = s["id"].as_str().unwrap();
            assert_eq!(
                s["meta"]["location"],
                format!("https://roster.example/scim/v2/d1/Schemas/{id}")
            );
            let mut names: Vec<String> = s["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| check_attribute(a, false))
                .collect();
            let count = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), count, "{id}: duplicate attribute");
        }
        covers(&schema(BASE, USER_SCHEMA, &Limits::default(), &[]).unwrap(), tables::USER);
        covers(
            &schema(BASE, ENTERPRISE_USER_SCHEMA, &Limits::default(), &[]).unwrap(),
            tables::ENTERPRISE,
        );
        covers(&schema(BASE, GROUP_SCHEMA, &Limits::default(), &[]).unwrap(), tables::GROUP);
        let user = schema(BASE, &USER_SCHEMA.to_uppercase(), &Limits::default(), &[]).unwrap();
        let user_name = &user["attributes"][0];
        assert_eq!(user_name["name"], "userName");
        assert_eq!(user_name["required"], true);
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["caseExact"], false);
        assert!(schema(BASE, "urn:nope", &Limits::default(), &[]).is_none());
        let list = schemas_list(BASE, &Limits::default(), &[]);
        assert_eq!(list["totalResults"], 3);
        assert_eq!(list["Resources"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn schemas_say_what_the_limits_are() {
        let limits =
            Limits { max_indexed_bytes: 777, max_values: 55, max_members: 99, ..Limits::default() };
        let find = |schema_id: &str, name: &str| -> Value {
            let schema = schema(BASE, schema_id, &limits, &[]).unwrap();
            schema["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == name)
                .unwrap()
                .clone()
        };
        let says = |attribute: &Value, text: &str| {
            let description = attribute["description"].as_str().unwrap();
            assert!(description.contains(text), "{attribute}");
        };
        for name in ["userName", "externalId", "displayName"] {
            says(&find(USER_SCHEMA, name), "at most 777 bytes");
        }
        says(&find(USER_SCHEMA, "emails")["subAttributes"][0], "at most 777 bytes");
        says(&find(USER_SCHEMA, "roles"), "at most 55 values in one request");
        says(&find(GROUP_SCHEMA, "displayName"), "at most 777 bytes");
        says(&find(GROUP_SCHEMA, "members"), "at most 99 members in one request");
        let title = find(USER_SCHEMA, "title");
        assert!(!title["description"].as_str().unwrap().contains("Roster accepts"));
    }

    #[test]
    fn service_provider_config_says_what_is_supported() {
        let config = service_provider_config(BASE, 200);
        assert!(no_nulls(&config));
        assert_eq!(config["schemas"], json!([SERVICE_PROVIDER_CONFIG_SCHEMA]));
        assert_eq!(config["patch"]["supported"], true);
        assert_eq!(config["bulk"]["supported"], false);
        assert_eq!(config["filter"], json!({"supported": true, "maxResults": 200}));
        assert_eq!(config["changePassword"]["supported"], false);
        assert_eq!(config["sort"]["supported"], true);
        assert_eq!(config["etag"]["supported"], true);
        assert_eq!(config["authenticationSchemes"][0]["type"], "oauthbearertoken");
        assert_eq!(
            config["meta"]["location"],
            "https://roster.example/scim/v2/d1/ServiceProviderConfig"
        );
    }

    #[test]
    fn resource_types_name_user_with_extension_and_group() {
        let types = resource_types(BASE, &[]);
        assert_eq!(types.len(), 2);
        let user = resource_type(BASE, "user", &[]).unwrap();
        assert_eq!(user["endpoint"], "/Users");
        assert_eq!(user["schema"], USER_SCHEMA);
        assert_eq!(
            user["schemaExtensions"],
            json!([{"schema": ENTERPRISE_USER_SCHEMA, "required": false}])
        );
        assert_eq!(
            user["meta"]["location"],
            "https://roster.example/scim/v2/d1/ResourceTypes/User"
        );
        let group = resource_type(BASE, "Group", &[]).unwrap();
        assert_eq!(group["endpoint"], "/Groups");
        assert_eq!(group["schema"], GROUP_SCHEMA);
        assert!(resource_type(BASE, "Device", &[]).is_none());
        assert_eq!(resource_types_list(BASE, &[])["totalResults"], 2);
        for t in types {
            assert!(no_nulls(&t));
            assert_eq!(t["schemas"], json!([RESOURCE_TYPE_SCHEMA]));
        }
    }

    #[test]
    fn a_directorys_custom_extensions_are_declared_with_inferred_attributes() {
        const CUSTOM: &str = "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User";
        let extensions = [Extension {
            urn: CUSTOM.into(),
            attributes: vec![
                ("costCenter".into(), json!("4711")),
                ("badges".into(), json!([null, 7])),
                ("remote".into(), json!(true)),
                ("office".into(), json!({"building": "B2", "floor": 3, "desk": {"x": 1}})),
            ],
        }];
        let user = resource_type(BASE, "User", &extensions).unwrap();
        assert_eq!(
            user["schemaExtensions"],
            json!([
                {"schema": ENTERPRISE_USER_SCHEMA, "required": false},
                {"schema": CUSTOM, "required": false}
            ])
        );
        let schema = schema(BASE, CUSTOM, &Limits::default(), &extensions).unwrap();
        assert_eq!(schema["name"], "CustomExt");
        assert_eq!(
            schema["meta"]["location"],
            format!("https://roster.example/scim/v2/d1/Schemas/{CUSTOM}")
        );
        assert!(no_nulls(&schema));
        let attrs = schema["attributes"].as_array().unwrap();
        let kinds: Vec<(&str, &str, bool)> = attrs
            .iter()
            .map(|a| {
                (
                    a["name"].as_str().unwrap(),
                    a["type"].as_str().unwrap(),
                    a["multiValued"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("costCenter", "string", false),
                ("badges", "integer", true),
                ("remote", "boolean", false),
                ("office", "complex", false)
            ]
        );
        let subs = attrs[3]["subAttributes"].as_array().unwrap();
        let subs: Vec<(&str, &str)> = subs
            .iter()
            .map(|a| (a["name"].as_str().unwrap(), a["type"].as_str().unwrap()))
            .collect();
        // Complex below the top is not SCIM: a nested object is declared a string.
        assert_eq!(subs, [("building", "string"), ("floor", "integer"), ("desk", "string")]);
        for attribute in attrs {
            check_attribute(attribute, false);
        }
        assert_eq!(schemas_list(BASE, &Limits::default(), &extensions)["totalResults"], 4);
    }
}
