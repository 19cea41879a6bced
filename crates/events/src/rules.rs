//! The role-mapping rules of a directory (the JSON carried by `MappingRulesChanged`, and set with
//! `PUT /admin/v1/directories/{id}/role-mappings`), with the matching the gateway and the
//! role-mapper share.
//!
//! ```json
//! {
//!   "appRoles": [{"appRole": "admin", "productRole": "administrator"}],
//!   "groups": [
//!     {"displayName": "Sales", "productRole": "sales"},
//!     {"externalId": "5f1c…", "team": true}
//!   ],
//!   "defaultRole": "member",
//!   "policy": "all",
//!   "priority": ["administrator", "sales", "member"]
//! }
//! ```
//!
//! Every field is optional (`{}`: no rules, no default role, policy `all`); `null` counts as
//! absent; unknown fields are rejected. A user's product roles are the targets of the app roles it
//! holds (matched case-insensitively) and of the groups it is a direct member of (display names
//! case-insensitively, external ids exactly), or the default role when nothing matched; policy
//! `all` keeps them all, ordered by `priority` (highest first; roles `priority` does not list come
//! after, alphabetically), policy `highest` keeps the first of that order.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// At most this many app-role rules, and this many group rules.
pub const MAX_RULES: usize = 1_000;

/// The longest role name, group display name or external id a rule may hold, in characters.
pub const MAX_NAME_CHARS: usize = 256;

/// A directory's role-mapping rules. Build them with [`MappingRules::parse`] (or serde, which
/// calls it) to have them validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "Value")]
pub struct MappingRules {
    /// Entra app-role value → product role.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub app_roles: Vec<AppRoleRule>,
    /// Group → product role and/or team.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupRule>,
    /// The product role of a user no rule matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_role: Option<String>,
    /// Which of the matched product roles a user gets.
    #[serde(skip_serializing_if = "Policy::is_all")]
    pub policy: Policy,
    /// Product roles, highest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub priority: Vec<String>,
}

/// An Entra app role (the SCIM `roles[].value`) and the product role it gives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppRoleRule {
    pub app_role: String,
    pub product_role: String,
}

/// A group, and what its direct members receive: a product role, membership of a team, or both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawGroupRule", into = "RawGroupRule")]
pub struct GroupRule {
    pub selector: GroupSelector,
    pub product_role: Option<String>,
    /// The group is a team.
    pub team: bool,
}

/// How a group rule names its group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupSelector {
    /// The group's `displayName`, compared case-insensitively.
    DisplayName(String),
    /// The group's `externalId` (Entra: its objectId), compared exactly.
    ExternalId(String),
}

/// Which of the matched product roles a user gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Every matched product role.
    #[default]
    All,
    /// Only the matched product role that comes first in `priority`.
    Highest,
}

impl Policy {
    fn is_all(&self) -> bool {
        *self == Policy::All
    }
}

/// Rules that cannot be used: where (a JSON path such as `groups[2]` or
/// `appRoles[0].productRole`; empty for the document itself) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError {
    /// The JSON path of the offending value (`groups[2]`, `priority[1]`, …); empty for the whole
    /// document.
    pub path: String,
    /// What is wrong with it, for a human.
    pub message: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for RulesError {}

impl RulesError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> RulesError {
        RulesError { path: path.into(), message: message.into() }
    }
}

/// The JSON form of a group rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawGroupRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    product_role: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    team: bool,
}

impl From<GroupRule> for RawGroupRule {
    fn from(rule: GroupRule) -> RawGroupRule {
        let (display_name, external_id) = match rule.selector {
            GroupSelector::DisplayName(name) => (Some(name), None),
            GroupSelector::ExternalId(id) => (None, Some(id)),
        };
        RawGroupRule { display_name, external_id, product_role: rule.product_role, team: rule.team }
    }
}

impl TryFrom<RawGroupRule> for GroupRule {
    type Error = RulesError;

    fn try_from(raw: RawGroupRule) -> Result<GroupRule, RulesError> {
        group_rule_at("", raw)
    }
}

impl TryFrom<Value> for MappingRules {
    type Error = RulesError;

    fn try_from(value: Value) -> Result<MappingRules, RulesError> {
        MappingRules::parse(&value)
    }
}

/// Builds and checks one group rule; `path` prefixes error paths (`groups[2]`).
fn group_rule_at(path: &str, raw: RawGroupRule) -> Result<GroupRule, RulesError> {
    let selector = match (raw.display_name, raw.external_id) {
        (Some(name), None) => GroupSelector::DisplayName(name),
        (None, Some(id)) => GroupSelector::ExternalId(id),
        (None, None) => return Err(RulesError::new(path, "needs displayName or externalId")),
        (Some(_), Some(_)) => {
            return Err(RulesError::new(
                path,
                "has both displayName and externalId; give exactly one",
            ));
        }
    };
    let rule = GroupRule { selector, product_role: raw.product_role, team: raw.team };
    check_group_rule(path, &rule)?;
    Ok(rule)
}

// The checks, each written once. `parse` runs each element's checks as it reads the element
// (so that the first error in the document is the one reported), then `check_across`;
// `validate` runs them all, in the same order, on rules built in code.

/// At most [`MAX_RULES`] rules in the list `field`.
fn check_rule_count(field: &str, count: usize) -> Result<(), RulesError> {
    if count > MAX_RULES {
        return Err(RulesError::new(
            field,
            format!("at most {MAX_RULES} rules are allowed, got {count}"),
        ));
    }
    Ok(())
}

/// The names of `appRoles[i]`.
fn check_app_role_rule(i: usize, rule: &AppRoleRule) -> Result<(), RulesError> {
    check_name(&format!("appRoles[{i}].appRole"), &rule.app_role)?;
    check_name(&format!("appRoles[{i}].productRole"), &rule.product_role)
}

/// The names of a group rule, and that it gives something; `path` prefixes error paths.
fn check_group_rule(path: &str, rule: &GroupRule) -> Result<(), RulesError> {
    let field =
        |name: &str| if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
    match &rule.selector {
        GroupSelector::DisplayName(name) => check_name(&field("displayName"), name)?,
        GroupSelector::ExternalId(id) => check_name(&field("externalId"), id)?,
    }
    if let Some(role) = &rule.product_role {
        check_name(&field("productRole"), role)?;
    }
    if rule.product_role.is_none() && !rule.team {
        return Err(RulesError::new(path, "needs productRole or \"team\": true"));
    }
    Ok(())
}

/// A role name, display name or external id: not empty (nor only white space), at most
/// [`MAX_NAME_CHARS`] characters, no control characters other than tab, LF and CR (Postgres
/// cannot store U+0000; see [`roster_scim::limits::forbidden_char`]).
fn check_name(path: &str, value: &str) -> Result<(), RulesError> {
    if value.trim().is_empty() {
        return Err(RulesError::new(path, "must not be empty"));
    }
    if let Some(c) = roster_scim::limits::forbidden_char(value) {
        return Err(RulesError::new(
            path,
            format!(
                "contains {}; control characters other than tab, line feed and carriage return \
                 are not accepted",
                roster_scim::limits::describe_char(c)
            ),
        ));
    }
    let chars = value.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(RulesError::new(
            path,
            format!("is {chars} characters long; at most {MAX_NAME_CHARS} are allowed"),
        ));
    }
    Ok(())
}

/// The elements of an optional array field (`null` or absent: none).
fn array<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a [Value], RulesError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(RulesError::new(key, "must be a list")),
    }
}

/// One element of a list, deserialized, with serde's complaint prefixed by its path.
fn element<T: serde::de::DeserializeOwned>(path: &str, value: &Value) -> Result<T, RulesError> {
    if !value.is_object() {
        return Err(RulesError::new(path, "must be an object"));
    }
    serde_json::from_value(value.clone()).map_err(|e| RulesError::new(path, e.to_string()))
}

/// Unicode case-insensitive equality (`str::to_lowercase` on both sides), without allocating
/// when both sides are ASCII.
fn eq_fold(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

impl MappingRules {
    /// Reads and validates rules from their JSON form. The error names the offending JSON path:
    /// `groups[2]: needs displayName or externalId`.
    pub fn parse(value: &Value) -> Result<MappingRules, RulesError> {
        let Value::Object(object) = value else {
            return Err(RulesError::new("", "the mapping rules must be a JSON object"));
        };
        const KNOWN: &[&str] = &["appRoles", "groups", "defaultRole", "policy", "priority"];
        if let Some(key) = object.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(RulesError::new(
                key.as_str(),
                format!("unknown field; expected one of {}", KNOWN.join(", ")),
            ));
        }

        let app_role_items = array(object, "appRoles")?;
        check_rule_count("appRoles", app_role_items.len())?;
        let mut app_roles = Vec::with_capacity(app_role_items.len());
        for (i, item) in app_role_items.iter().enumerate() {
            let rule: AppRoleRule = element(&format!("appRoles[{i}]"), item)?;
            check_app_role_rule(i, &rule)?;
            app_roles.push(rule);
        }

        let group_items = array(object, "groups")?;
        check_rule_count("groups", group_items.len())?;
        let mut groups = Vec::with_capacity(group_items.len());
        for (i, item) in group_items.iter().enumerate() {
            let path = format!("groups[{i}]");
            let raw: RawGroupRule = element(&path, item)?;
            groups.push(group_rule_at(&path, raw)?);
        }

        let default_role = match object.get("defaultRole") {
            None | Some(Value::Null) => None,
            Some(Value::String(role)) => {
                check_name("defaultRole", role)?;
                Some(role.clone())
            }
            Some(_) => return Err(RulesError::new("defaultRole", "must be a string")),
        };

        let policy = match object.get("policy") {
            None | Some(Value::Null) => Policy::All,
            Some(Value::String(s)) if s == "all" => Policy::All,
            Some(Value::String(s)) if s == "highest" => Policy::Highest,
            Some(_) => return Err(RulesError::new("policy", "must be \"all\" or \"highest\"")),
        };

        let mut priority = Vec::new();
        for (i, item) in array(object, "priority")?.iter().enumerate() {
            let path = format!("priority[{i}]");
            let Value::String(role) = item else {
                return Err(RulesError::new(path, "must be a string"));
            };
            check_name(&path, role)?;
            priority.push(role.clone());
        }

        let rules = MappingRules { app_roles, groups, default_role, policy, priority };
        rules.check_across()?;
        Ok(rules)
    }

    /// Checks what [`MappingRules::parse`] checks that the types alone do not: names not empty
    /// and not too long, at most [`MAX_RULES`] rules of each kind, no rule twice, no role twice
    /// in `priority`, and with policy `highest` every product role in `priority`. The first
    /// error is the one `parse` reports for the rules' JSON form.
    pub fn validate(&self) -> Result<(), RulesError> {
        check_rule_count("appRoles", self.app_roles.len())?;
        for (i, rule) in self.app_roles.iter().enumerate() {
            check_app_role_rule(i, rule)?;
        }
        check_rule_count("groups", self.groups.len())?;
        for (i, rule) in self.groups.iter().enumerate() {
            check_group_rule(&format!("groups[{i}]"), rule)?;
        }
        if let Some(role) = &self.default_role {
            check_name("defaultRole", role)?;
        }
        for (i, role) in self.priority.iter().enumerate() {
            check_name(&format!("priority[{i}]"), role)?;
        }
        self.check_across()
    }

    /// The checks that look at several rules: no rule twice, no role twice in `priority`, and
    /// with policy `highest` every product role in `priority`.
    fn check_across(&self) -> Result<(), RulesError> {
        // Rules that match the same thing and give the same are duplicates: app roles and
        // display names compare case-insensitively, as they match.
        let mut seen: HashMap<(String, &str), usize> = HashMap::new();
        for (i, rule) in self.app_roles.iter().enumerate() {
            if let Some(first) = seen.insert((rule.app_role.to_lowercase(), &rule.product_role), i)
            {
                return Err(RulesError::new(
                    format!("appRoles[{i}]"),
                    format!("is the same rule as appRoles[{first}]"),
                ));
            }
        }
        let mut seen: HashMap<(bool, String, Option<&str>, bool), usize> = HashMap::new();
        for (i, rule) in self.groups.iter().enumerate() {
            let (by_name, name) = match &rule.selector {
                GroupSelector::DisplayName(name) => (true, name.to_lowercase()),
                GroupSelector::ExternalId(id) => (false, id.clone()),
            };
            let key = (by_name, name, rule.product_role.as_deref(), rule.team);
            if let Some(first) = seen.insert(key, i) {
                return Err(RulesError::new(
                    format!("groups[{i}]"),
                    format!("is the same rule as groups[{first}]"),
                ));
            }
        }
        let mut ranked: HashMap<&str, usize> = HashMap::new();
        for (i, role) in self.priority.iter().enumerate() {
            if let Some(first) = ranked.insert(role, i) {
                return Err(RulesError::new(
                    format!("priority[{i}]"),
                    format!("{role:?} is already listed at priority[{first}]"),
                ));
            }
        }
        if self.policy == Policy::Highest {
            let unranked = |path: String, role: &str| {
                RulesError::new(
                    path,
                    format!(
                        "{role:?} is not listed in priority, which policy \"highest\" needs for \
                         every product role"
                    ),
                )
            };
            for (i, rule) in self.app_roles.iter().enumerate() {
                if !ranked.contains_key(rule.product_role.as_str()) {
                    return Err(unranked(format!("appRoles[{i}].productRole"), &rule.product_role));
                }
            }
            for (i, rule) in self.groups.iter().enumerate() {
                if let Some(role) = &rule.product_role
                    && !ranked.contains_key(role.as_str())
                {
                    return Err(unranked(format!("groups[{i}].productRole"), role));
                }
            }
            if let Some(role) = &self.default_role
                && !ranked.contains_key(role.as_str())
            {
                return Err(unranked("defaultRole".into(), role));
            }
        }
        Ok(())
    }

    /// The JSON form, as [`MappingRules::parse`] reads it (empty and default fields left out).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()))
    }

    /// The product roles the app role `app_role` (a SCIM `roles[].value`) gives, in rule order,
    /// each once. App roles compare case-insensitively.
    pub fn app_role_targets(&self, app_role: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for rule in &self.app_roles {
            if eq_fold(&rule.app_role, app_role) && !out.contains(&rule.product_role) {
                out.push(rule.product_role.clone());
            }
        }
        out
    }

    /// What the rules give the direct members of a group: its product roles (in rule order, each
    /// once) and whether it is a team. Display names compare case-insensitively, external ids
    /// exactly.
    pub fn group_rule(&self, display_name: &str, external_id: Option<&str>) -> (Vec<String>, bool) {
        let mut roles: Vec<String> = Vec::new();
        let mut team = false;
        for rule in &self.groups {
            let matches = match &rule.selector {
                GroupSelector::DisplayName(name) => eq_fold(name, display_name),
                GroupSelector::ExternalId(id) => external_id == Some(id.as_str()),
            };
            if !matches {
                continue;
            }
            team |= rule.team;
            if let Some(role) = &rule.product_role
                && !roles.contains(role)
            {
                roles.push(role.clone());
            }
        }
        (roles, team)
    }

    /// `roles` each once, ordered as `priority` ranks them (highest first), the roles it does not
    /// list after them, alphabetically. No default role, no policy.
    pub fn ordered(&self, roles: impl IntoIterator<Item = String>) -> Vec<String> {
        let rank: HashMap<&str, usize> =
            self.priority.iter().enumerate().map(|(i, r)| (r.as_str(), i)).collect();
        let unique: BTreeSet<String> = roles.into_iter().collect();
        let mut out: Vec<String> = unique.into_iter().collect();
        // Stable sort of an alphabetical list: unranked roles stay alphabetical.
        out.sort_by_key(|role| rank.get(role.as_str()).copied().unwrap_or(usize::MAX));
        out
    }

    /// A user's product roles from the roles its app roles and groups matched: each once; the
    /// default role when none matched; with policy `all` ordered as [`MappingRules::ordered`],
    /// with policy `highest` only the first of that order.
    pub fn resolve(&self, matched: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut roles = self.ordered(matched);
        if roles.is_empty() {
            return self.default_role.iter().cloned().collect();
        }
        if self.policy == Policy::Highest {
            roles.truncate(1);
        }
        roles
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    fn example() -> Value {
        json!({
            "appRoles": [
                {"appRole": "admin", "productRole": "administrator"},
                {"appRole": "vendor", "productRole": "vendor"}
            ],
            "groups": [
                {"displayName": "Sales", "productRole": "sales"},
                {"externalId": "5f1c0000-0000-0000-0000-000000000001", "team": true},
                {"displayName": "Team A", "team": true, "productRole": "member"}
            ],
            "defaultRole": "member",
            "policy": "all",
            "priority": ["administrator", "vendor", "sales", "member"]
        })
    }

    fn err(value: Value) -> String {
        MappingRules::parse(&value).unwrap_err().to_string()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_documented_example() {
        let rules = MappingRules::parse(&example()).unwrap();
        assert_eq!(rules.app_roles.len(), 2);
        assert_eq!(rules.app_roles[0].app_role, "admin");
        assert_eq!(rules.app_roles[0].product_role, "administrator");
        assert_eq!(
            rules.groups[0],
            GroupRule {
                selector: GroupSelector::DisplayName("Sales".into()),
                product_role: Some("sales".into()),
                team: false
            }
        );
        assert_eq!(
            rules.groups[1],
            GroupRule {
                selector: GroupSelector::ExternalId("5f1c0000-0000-0000-0000-000000000001".into()),
                product_role: None,
                team: true
            }
        );
        assert!(rules.groups[2].team);
        assert_eq!(rules.default_role.as_deref(), Some("member"));
        assert_eq!(rules.policy, Policy::All);
        assert_eq!(rules.priority, strings(&["administrator", "vendor", "sales", "member"]));
    }

    #[test]
    fn empty_object_is_no_rules() {
        let rules = MappingRules::parse(&json!({})).unwrap();
        assert_eq!(rules, MappingRules::default());
        assert_eq!(rules.policy, Policy::All);
        assert_eq!(rules.default_role, None);
        assert_eq!(rules.to_json(), json!({}));
        assert_eq!(rules.resolve(Vec::new()), Vec::<String>::new());
    }

    #[test]
    fn nulls_are_absent() {
        let rules = MappingRules::parse(&json!({
            "appRoles": null, "groups": null, "defaultRole": null, "policy": null, "priority": null
        }))
        .unwrap();
        assert_eq!(rules, MappingRules::default());
    }

    #[test]
    fn to_json_round_trips_and_omits_defaults() {
        let rules = MappingRules::parse(&example()).unwrap();
        let json = rules.to_json();
        // `"policy": "all"` is the default and `"team": false` too: both left out.
        let mut expected = example();
        expected.as_object_mut().unwrap().remove("policy");
        assert_eq!(json, expected);
        assert_eq!(MappingRules::parse(&json).unwrap(), rules);
        let highest = MappingRules { policy: Policy::Highest, ..rules.clone() };
        assert_eq!(highest.to_json()["policy"], "highest");
        // serde agrees with parse and to_json.
        let text = serde_json::to_string(&rules).unwrap();
        let back: MappingRules = serde_json::from_str(&text).unwrap();
        assert_eq!(back, rules);
        let bad: Result<MappingRules, _> = serde_json::from_str(r#"{"groups": [{}]}"#);
        assert!(bad.unwrap_err().to_string().contains("groups[0]: needs displayName"));
    }

    #[test]
    fn not_an_object_is_rejected() {
        assert_eq!(err(json!([])), "the mapping rules must be a JSON object");
        assert_eq!(err(json!("x")), "the mapping rules must be a JSON object");
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_path() {
        assert!(
            err(json!({"app_roles": {"admin": "administrator"}}))
                .starts_with("app_roles: unknown field")
        );
        let e = err(json!({"appRoles": [{"appRole": "a", "productRole": "b", "x": 1}]}));
        assert!(e.starts_with("appRoles[0]: unknown field `x`"), "{e}");
        let e = err(json!({"groups": [{"displayName": "a", "team": true, "role": "b"}]}));
        assert!(e.starts_with("groups[0]: unknown field `role`"), "{e}");
    }

    #[test]
    fn wrong_shapes_are_rejected_with_their_path() {
        assert_eq!(err(json!({"appRoles": {}})), "appRoles: must be a list");
        assert_eq!(err(json!({"groups": "Sales"})), "groups: must be a list");
        assert_eq!(err(json!({"priority": "a"})), "priority: must be a list");
        assert_eq!(err(json!({"appRoles": ["admin"]})), "appRoles[0]: must be an object");
        assert_eq!(err(json!({"groups": [null]})), "groups[0]: must be an object");
        let e = err(json!({"appRoles": [{"appRole": "a"}]}));
        assert!(e.starts_with("appRoles[0]: missing field `productRole`"), "{e}");
        let e = err(json!({"appRoles": [{"appRole": 1, "productRole": "b"}]}));
        assert!(e.starts_with("appRoles[0]: invalid type"), "{e}");
        let e = err(json!({"groups": [{"displayName": "a", "team": "yes"}]}));
        assert!(e.starts_with("groups[0]: invalid type"), "{e}");
        assert_eq!(err(json!({"defaultRole": 3})), "defaultRole: must be a string");
        assert_eq!(err(json!({"priority": ["a", 2]})), "priority[1]: must be a string");
    }

    #[test]
    fn policy_is_all_or_highest() {
        assert_eq!(err(json!({"policy": "first"})), "policy: must be \"all\" or \"highest\"");
        assert_eq!(err(json!({"policy": "Highest"})), "policy: must be \"all\" or \"highest\"");
        assert_eq!(err(json!({"policy": 1})), "policy: must be \"all\" or \"highest\"");
        assert_eq!(
            MappingRules::parse(&json!({"policy": "highest"})).unwrap().policy,
            Policy::Highest
        );
    }

    #[test]
    fn names_must_not_be_empty() {
        assert_eq!(
            err(json!({"appRoles": [{"appRole": "", "productRole": "b"}]})),
            "appRoles[0].appRole: must not be empty"
        );
        assert_eq!(
            err(
                json!({"appRoles": [{"appRole": "a", "productRole": "b"}, {"appRole": "c", "productRole": "  "}]})
            ),
            "appRoles[1].productRole: must not be empty"
        );
        assert_eq!(
            err(json!({"groups": [{"displayName": "", "team": true}]})),
            "groups[0].displayName: must not be empty"
        );
        assert_eq!(
            err(json!({"groups": [{"externalId": "", "team": true}]})),
            "groups[0].externalId: must not be empty"
        );
        assert_eq!(
            err(json!({"groups": [{"displayName": "a", "productRole": ""}]})),
            "groups[0].productRole: must not be empty"
        );
        assert_eq!(err(json!({"defaultRole": ""})), "defaultRole: must not be empty");
        assert_eq!(err(json!({"priority": ["a", ""]})), "priority[1]: must not be empty");
    }

    #[test]
    fn names_hold_no_control_characters() {
        let control = "the control character U+0000";
        for (rules, path) in [
            (
                json!({"appRoles": [{"appRole": "a\u{0}", "productRole": "b"}]}),
                "appRoles[0].appRole",
            ),
            (
                json!({"appRoles": [{"appRole": "a", "productRole": "\u{0}"}]}),
                "appRoles[0].productRole",
            ),
            (json!({"groups": [{"displayName": "G\u{0}", "team": true}]}), "groups[0].displayName"),
            (json!({"groups": [{"externalId": "\u{0}", "team": true}]}), "groups[0].externalId"),
            (json!({"defaultRole": "m\u{0}"}), "defaultRole"),
            (json!({"priority": ["a", "\u{0}b"]}), "priority[1]"),
        ] {
            let e = err(rules);
            assert!(e.starts_with(&format!("{path}: contains {control}")), "{e}");
        }
        let e = err(json!({"defaultRole": "bell\u{7}"}));
        assert!(e.contains("U+0007"), "{e}");
        MappingRules::parse(&json!({"defaultRole": "tab\there"})).unwrap();
    }

    #[test]
    fn names_are_at_most_256_characters() {
        let ok = "é".repeat(256); // 512 bytes, 256 characters
        let long = "a".repeat(257);
        MappingRules::parse(&json!({"appRoles": [{"appRole": ok, "productRole": ok}]})).unwrap();
        assert_eq!(
            err(json!({"appRoles": [{"appRole": long, "productRole": "b"}]})),
            "appRoles[0].appRole: is 257 characters long; at most 256 are allowed"
        );
        assert!(
            err(json!({"appRoles": [{"appRole": "a", "productRole": long}]}))
                .starts_with("appRoles[0].productRole: is 257 characters")
        );
        assert!(
            err(json!({"groups": [{"displayName": long, "team": true}]}))
                .starts_with("groups[0].displayName: is 257")
        );
        assert!(
            err(json!({"groups": [{"externalId": long, "team": true}]}))
                .starts_with("groups[0].externalId: is 257")
        );
        assert!(
            err(json!({"groups": [{"externalId": "x", "productRole": long}]}))
                .starts_with("groups[0].productRole: is 257")
        );
        assert!(err(json!({"defaultRole": long})).starts_with("defaultRole: is 257"));
        assert!(err(json!({"priority": [long]})).starts_with("priority[0]: is 257"));
    }

    #[test]
    fn a_group_rule_names_its_group_exactly_once() {
        assert_eq!(
            err(
                json!({"groups": [{"displayName": "a", "team": true}, {"displayName": "b", "team": true}, {"productRole": "x"}]})
            ),
            "groups[2]: needs displayName or externalId"
        );
        assert_eq!(
            err(json!({"groups": [{"displayName": "a", "externalId": "b", "team": true}]})),
            "groups[0]: has both displayName and externalId; give exactly one"
        );
    }

    #[test]
    fn a_group_rule_gives_a_role_or_a_team() {
        assert_eq!(
            err(json!({"groups": [{"displayName": "a"}]})),
            "groups[0]: needs productRole or \"team\": true"
        );
        assert_eq!(
            err(json!({"groups": [{"displayName": "a", "team": false}]})),
            "groups[0]: needs productRole or \"team\": true"
        );
    }

    #[test]
    fn identical_rules_are_rejected() {
        assert_eq!(
            err(json!({"appRoles": [
                {"appRole": "admin", "productRole": "a"},
                {"appRole": "user", "productRole": "a"},
                {"appRole": "Admin", "productRole": "a"}
            ]})),
            "appRoles[2]: is the same rule as appRoles[0]"
        );
        // One app role may give several product roles.
        MappingRules::parse(&json!({"appRoles": [
            {"appRole": "admin", "productRole": "a"}, {"appRole": "admin", "productRole": "b"}
        ]}))
        .unwrap();
        assert_eq!(
            err(json!({"groups": [
                {"displayName": "Sales", "productRole": "s"},
                {"displayName": "SALES", "productRole": "s"}
            ]})),
            "groups[1]: is the same rule as groups[0]"
        );
        assert_eq!(
            err(
                json!({"groups": [{"externalId": "x", "team": true}, {"externalId": "x", "team": true}]})
            ),
            "groups[1]: is the same rule as groups[0]"
        );
        // External ids are exact; and a different role or team flag is a different rule.
        MappingRules::parse(&json!({"groups": [
            {"externalId": "x", "team": true},
            {"externalId": "X", "team": true},
            {"externalId": "x", "team": true, "productRole": "s"},
            {"displayName": "x", "team": true}
        ]}))
        .unwrap();
    }

    #[test]
    fn at_most_1000_rules_of_each_kind() {
        let app_roles = |n: usize| -> Vec<Value> {
            (0..n).map(|i| json!({"appRole": format!("r{i}"), "productRole": "p"})).collect()
        };
        let groups = |n: usize| -> Vec<Value> {
            (0..n).map(|i| json!({"externalId": format!("g{i}"), "team": true})).collect()
        };
        MappingRules::parse(&json!({"appRoles": app_roles(1000), "groups": groups(1000)})).unwrap();
        assert_eq!(
            err(json!({"appRoles": app_roles(1001)})),
            "appRoles: at most 1000 rules are allowed, got 1001"
        );
        assert_eq!(
            err(json!({"groups": groups(1001)})),
            "groups: at most 1000 rules are allowed, got 1001"
        );
    }

    #[test]
    fn priority_has_no_duplicates() {
        assert_eq!(
            err(json!({"priority": ["a", "b", "a"]})),
            "priority[2]: \"a\" is already listed at priority[0]"
        );
    }

    #[test]
    fn policy_highest_needs_every_product_role_ranked() {
        let base = json!({"policy": "highest", "priority": ["a", "b"]});
        let with = |key: &str, value: Value| {
            let mut v = base.clone();
            v.as_object_mut().unwrap().insert(key.into(), value);
            v
        };
        assert_eq!(
            err(with(
                "appRoles",
                json!([{"appRole": "x", "productRole": "a"}, {"appRole": "y", "productRole": "c"}])
            )),
            "appRoles[1].productRole: \"c\" is not listed in priority, which policy \"highest\" needs for every product role"
        );
        assert!(
            err(with("groups", json!([{"displayName": "x", "productRole": "c"}])))
                .starts_with("groups[0].productRole: \"c\" is not listed in priority")
        );
        assert!(
            err(with("defaultRole", json!("c"))).starts_with("defaultRole: \"c\" is not listed")
        );
        // Team-only group rules name no role; policy all needs no priority.
        MappingRules::parse(&with("groups", json!([{"displayName": "x", "team": true}]))).unwrap();
        MappingRules::parse(&json!({"appRoles": [{"appRole": "x", "productRole": "c"}]})).unwrap();
        // Priority is compared exactly.
        assert!(err(with("defaultRole", json!("A"))).starts_with("defaultRole:"));
    }

    #[test]
    fn validate_checks_rules_built_in_code() {
        let mut rules = MappingRules::parse(&example()).unwrap();
        rules.validate().unwrap();
        rules.groups.push(GroupRule {
            selector: GroupSelector::DisplayName("x".into()),
            product_role: None,
            team: false,
        });
        assert_eq!(
            rules.validate().unwrap_err().to_string(),
            "groups[3]: needs productRole or \"team\": true"
        );
        let rules = MappingRules {
            policy: Policy::Highest,
            priority: vec![],
            ..MappingRules::parse(&example()).unwrap()
        };
        assert!(rules.validate().is_err());
    }

    #[test]
    fn validate_reports_the_error_parse_reports() {
        // A duplicate app role, then an empty group name and an empty priority entry: the names
        // of every rule are checked before the rules are compared with each other.
        let document = json!({
            "appRoles": [
                {"appRole": "a", "productRole": "x"},
                {"appRole": "A", "productRole": "x"}
            ],
            "groups": [{"displayName": " ", "team": true}],
            "priority": [""]
        });
        let rules = MappingRules {
            app_roles: vec![
                AppRoleRule { app_role: "a".into(), product_role: "x".into() },
                AppRoleRule { app_role: "A".into(), product_role: "x".into() },
            ],
            groups: vec![GroupRule {
                selector: GroupSelector::DisplayName(" ".into()),
                product_role: None,
                team: true,
            }],
            priority: vec![String::new()],
            ..MappingRules::default()
        };
        assert_eq!(err(document), "groups[0].displayName: must not be empty");
        assert_eq!(
            rules.validate().unwrap_err(),
            MappingRules::parse(&rules.to_json()).unwrap_err()
        );
    }

    #[test]
    fn error_has_path_and_message() {
        let e = MappingRules::parse(&json!({"groups": [{"team": true}]})).unwrap_err();
        assert_eq!(e.path, "groups[0]");
        assert_eq!(e.message, "needs displayName or externalId");
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert_eq!(boxed.to_string(), "groups[0]: needs displayName or externalId");
    }

    #[test]
    fn app_roles_match_case_insensitively() {
        let rules = MappingRules::parse(&json!({"appRoles": [
            {"appRole": "Admin", "productRole": "administrator"},
            {"appRole": "ADMIN", "productRole": "auditor"},
            {"appRole": "ÉDITEUR", "productRole": "editor"},
            {"appRole": "ΟΔΟΣ", "productRole": "greek"},
            {"appRole": "user", "productRole": "member"}
        ]}))
        .unwrap();
        assert_eq!(rules.app_role_targets("admin"), strings(&["administrator", "auditor"]));
        assert_eq!(rules.app_role_targets("aDmIn"), strings(&["administrator", "auditor"]));
        assert_eq!(rules.app_role_targets("éditeur"), strings(&["editor"]));
        // Unicode lower-casing of whole strings: the final sigma.
        assert_eq!(rules.app_role_targets("οδος"), strings(&["greek"]));
        assert_eq!(rules.app_role_targets("Οδος"), strings(&["greek"]));
        assert!(rules.app_role_targets("administrator").is_empty());
        assert!(rules.app_role_targets("admin ").is_empty());
        assert!(rules.app_role_targets("").is_empty());
    }

    #[test]
    fn app_role_targets_are_listed_once() {
        let rules = MappingRules {
            app_roles: vec![
                AppRoleRule { app_role: "a".into(), product_role: "x".into() },
                AppRoleRule { app_role: "A".into(), product_role: "x".into() },
            ],
            ..MappingRules::default()
        };
        assert_eq!(rules.app_role_targets("a"), strings(&["x"]));
    }

    #[test]
    fn groups_match_by_display_name_case_insensitively_and_external_id_exactly() {
        let rules = MappingRules::parse(&example()).unwrap();
        assert_eq!(rules.group_rule("Sales", None), (strings(&["sales"]), false));
        assert_eq!(rules.group_rule("SALES", Some("other")), (strings(&["sales"]), false));
        assert_eq!(rules.group_rule("sales ", None), (vec![], false));
        assert_eq!(
            rules.group_rule("Anything", Some("5f1c0000-0000-0000-0000-000000000001")),
            (vec![], true)
        );
        assert_eq!(
            rules.group_rule("Anything", Some("5F1C0000-0000-0000-0000-000000000001")),
            (vec![], false)
        );
        // A display name never matches an external id rule, nor the reverse.
        assert_eq!(rules.group_rule("5f1c0000-0000-0000-0000-000000000001", None), (vec![], false));
        assert_eq!(rules.group_rule("x", Some("Sales")), (vec![], false));
        assert_eq!(rules.group_rule("team a", None), (strings(&["member"]), true));
    }

    #[test]
    fn a_group_matching_several_rules_gets_all_of_them() {
        let rules = MappingRules::parse(&json!({"groups": [
            {"displayName": "Ops", "productRole": "operator"},
            {"externalId": "g-1", "team": true},
            {"externalId": "g-1", "productRole": "auditor"},
            {"displayName": "ops", "productRole": "operator", "team": true}
        ]}))
        .unwrap();
        assert_eq!(rules.group_rule("OPS", Some("g-1")), (strings(&["operator", "auditor"]), true));
        assert_eq!(rules.group_rule("Other", Some("g-1")), (strings(&["auditor"]), true));
    }

    #[test]
    fn resolve_with_policy_all_orders_by_priority_then_alphabetically() {
        let rules = MappingRules::parse(&example()).unwrap();
        assert_eq!(
            rules.resolve(strings(&[
                "zeta",
                "member",
                "alpha",
                "administrator",
                "member",
                "sales"
            ])),
            strings(&["administrator", "sales", "member", "alpha", "zeta"])
        );
        let no_priority = MappingRules::default();
        assert_eq!(no_priority.resolve(strings(&["b", "a", "b", "C"])), strings(&["C", "a", "b"]));
    }

    #[test]
    fn resolve_falls_back_to_the_default_role_only_when_nothing_matched() {
        let rules = MappingRules::parse(&example()).unwrap();
        assert_eq!(rules.resolve(Vec::new()), strings(&["member"]));
        assert_eq!(rules.resolve(strings(&["vendor"])), strings(&["vendor"]));
        let no_default = MappingRules { default_role: None, ..rules };
        assert!(no_default.resolve(Vec::new()).is_empty());
    }

    #[test]
    fn resolve_with_policy_highest_keeps_the_best() {
        let mut value = example();
        value["policy"] = json!("highest");
        let rules = MappingRules::parse(&value).unwrap();
        assert_eq!(rules.resolve(strings(&["member", "sales", "vendor"])), strings(&["vendor"]));
        assert_eq!(rules.resolve(strings(&["member"])), strings(&["member"]));
        assert_eq!(rules.resolve(Vec::new()), strings(&["member"]));
        assert_eq!(
            rules.resolve(strings(&["administrator", "member"])),
            strings(&["administrator"])
        );
    }

    #[test]
    fn ordered_has_no_default_and_no_policy() {
        let mut value = example();
        value["policy"] = json!("highest");
        let rules = MappingRules::parse(&value).unwrap();
        assert!(rules.ordered(Vec::new()).is_empty());
        assert_eq!(
            rules.ordered(strings(&["member", "vendor", "member"])),
            strings(&["vendor", "member"])
        );
    }
}
