//! A directory's role mapping as a table (app role value → product role; groups → product
//! roles and teams; default role; policy and priority), with the dry-run preview before saving:
//! the table is previewed (which users' product roles and teams would change, and how), and
//! what was previewed is what the preview's own button saves, guarded by the rules' version.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use roster_events::rules::{GroupSelector, MappingRules, Policy};
use serde::Deserialize;
use serde_json::{Value, json};

use super::activity::directory_frame;
use super::error::ConsoleError;
use super::guard::{Fields, Visitor, is_htmx};
use super::layout::{Layout, Link, Tab, form_error, list_or_dash, query, render, see_other, when};
use crate::control::directories::{self, DirectoryView};
use crate::control::mappings::{self, Preview};
use crate::control::resources::AccessView;
use crate::state::AppState;

/// Blank rows each table offers for new rules.
const BLANK_ROWS: usize = 2;

/// One row of the groups table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupRow {
    /// `displayName` or `externalId`.
    pub by: String,
    pub value: String,
    pub product_role: String,
    pub team: bool,
}

/// The rules as the form holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulesForm {
    /// (Entra app role value, product role).
    pub app_roles: Vec<(String, String)>,
    pub groups: Vec<GroupRow>,
    pub default_role: String,
    /// `all` or `highest`.
    pub policy: String,
    /// Product roles, highest first, comma-separated.
    pub priority: String,
}

impl RulesForm {
    /// The form of stored rules.
    pub fn of(rules: &MappingRules) -> RulesForm {
        RulesForm {
            app_roles: rules
                .app_roles
                .iter()
                .map(|r| (r.app_role.clone(), r.product_role.clone()))
                .collect(),
            groups: rules
                .groups
                .iter()
                .map(|g| {
                    let (by, value) = match &g.selector {
                        GroupSelector::DisplayName(name) => ("displayName", name.clone()),
                        GroupSelector::ExternalId(id) => ("externalId", id.clone()),
                    };
                    GroupRow {
                        by: by.into(),
                        value,
                        product_role: g.product_role.clone().unwrap_or_default(),
                        team: g.team,
                    }
                })
                .collect(),
            default_role: rules.default_role.clone().unwrap_or_default(),
            policy: match rules.policy {
                Policy::All => "all".into(),
                Policy::Highest => "highest".into(),
            },
            priority: rules.priority.join(", "),
        }
    }

    /// The form as submitted: the tables' rows are the fields' repeated values, in order.
    pub fn from_fields(fields: &Fields) -> RulesForm {
        let app_roles = zip_longest(&fields.all("app_role"), &fields.all("app_product_role"))
            .into_iter()
            .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
            .collect();
        let by = fields.all("group_by");
        let values = fields.all("group_value");
        let roles = fields.all("group_product_role");
        let teams = fields.all("group_team");
        let rows = by.len().max(values.len()).max(roles.len()).max(teams.len());
        let groups = (0..rows)
            .map(|i| GroupRow {
                by: by.get(i).copied().unwrap_or("displayName").to_string(),
                value: values.get(i).copied().unwrap_or_default().trim().to_string(),
                product_role: roles.get(i).copied().unwrap_or_default().trim().to_string(),
                team: teams.get(i).copied() == Some("yes"),
            })
            .collect();
        RulesForm {
            app_roles,
            groups,
            default_role: fields.get("default_role").unwrap_or_default().trim().to_string(),
            policy: fields.get("policy").unwrap_or("all").to_string(),
            priority: fields.get("priority").unwrap_or_default().to_string(),
        }
    }

    /// The rules' JSON (`PUT …/role-mappings`' body), blank rows left out; and, for each rule of
    /// `appRoles` and `groups`, the table row (from 1) it came from.
    pub fn to_json(&self) -> (Value, Vec<usize>, Vec<usize>) {
        let mut app_rows = Vec::new();
        let mut app_roles = Vec::new();
        for (i, (app_role, product_role)) in self.app_roles.iter().enumerate() {
            if app_role.is_empty() && product_role.is_empty() {
                continue;
            }
            app_rows.push(i + 1);
            app_roles.push(json!({"appRole": app_role, "productRole": product_role}));
        }
        let mut group_rows = Vec::new();
        let mut groups = Vec::new();
        for (i, row) in self.groups.iter().enumerate() {
            if row.value.is_empty() && row.product_role.is_empty() && !row.team {
                continue;
            }
            group_rows.push(i + 1);
            let key = if row.by == "externalId" { "externalId" } else { "displayName" };
            let mut rule = serde_json::Map::new();
            rule.insert(key.into(), json!(row.value));
            if !row.product_role.is_empty() {
                rule.insert("productRole".into(), json!(row.product_role));
            }
            if row.team {
                rule.insert("team".into(), json!(true));
            }
            groups.push(Value::Object(rule));
        }
        let mut rules = serde_json::Map::new();
        if !app_roles.is_empty() {
            rules.insert("appRoles".into(), Value::Array(app_roles));
        }
        if !groups.is_empty() {
            rules.insert("groups".into(), Value::Array(groups));
        }
        if !self.default_role.is_empty() {
            rules.insert("defaultRole".into(), json!(self.default_role));
        }
        rules.insert("policy".into(), json!(self.policy));
        let priority: Vec<&str> =
            self.priority.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
        if !priority.is_empty() {
            rules.insert("priority".into(), json!(priority));
        }
        (Value::Object(rules), app_rows, group_rows)
    }

    /// The form with at least [`BLANK_ROWS`] blank rows at the end of each table to add rules in,
    /// and `more` besides.
    fn with_blank_rows(mut self, more: usize) -> RulesForm {
        let blank_apps =
            self.app_roles.iter().rev().take_while(|(a, p)| a.is_empty() && p.is_empty()).count();
        let add = BLANK_ROWS.saturating_sub(blank_apps) + more;
        self.app_roles.extend(std::iter::repeat_n((String::new(), String::new()), add));
        let blank_groups = self
            .groups
            .iter()
            .rev()
            .take_while(|g| g.value.is_empty() && g.product_role.is_empty() && !g.team)
            .count();
        let add = BLANK_ROWS.saturating_sub(blank_groups) + more;
        self.groups.extend(std::iter::repeat_n(
            GroupRow { by: "displayName".into(), ..GroupRow::default() },
            add,
        ));
        self
    }
}

/// Rows the *Add rows* button adds to each table.
const MORE_ROWS: usize = 3;

fn zip_longest<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    (0..a.len().max(b.len()))
        .map(|i| (a.get(i).copied().unwrap_or_default(), b.get(i).copied().unwrap_or_default()))
        .collect()
}

/// A rules error's JSON path in the table's words: `appRoles[1].productRole: …` is "App roles,
/// row 3 (productRole): …" when the second rule came from the third row.
pub fn in_table_words(message: &str, app_rows: &[usize], group_rows: &[usize]) -> String {
    for (prefix, table, rows) in
        [("appRoles[", "App roles", app_rows), ("groups[", "Groups", group_rows)]
    {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((index, rest)) = rest.split_once(']')
            && let Ok(index) = index.parse::<usize>()
        {
            let row = rows.get(index).copied().unwrap_or(index + 1);
            let (field, rest) = match rest.strip_prefix('.') {
                Some(rest) => match rest.split_once(':') {
                    Some((field, rest)) => (format!(" ({field})"), rest),
                    None => (String::new(), rest),
                },
                None => (String::new(), rest.trim_start_matches(':')),
            };
            return format!("{table}, row {row}{field}:{rest}");
        }
    }
    message.to_string()
}

/// One user a preview would change.
pub struct ChangeRow {
    pub user_name: String,
    pub roles_before: String,
    pub roles_after: String,
    pub teams_before: String,
    pub teams_after: String,
}

fn teams(access: &AccessView) -> String {
    let mut teams = Vec::new();
    if let Some(primary) = &access.primary_team {
        teams.push(format!("{} (primary)", primary.display_name));
    }
    teams.extend(access.additional_teams.iter().map(|t| t.display_name.clone()));
    list_or_dash(&teams)
}

/// The preview, as shown.
pub struct PreviewView {
    pub users_evaluated: usize,
    pub users_changed: usize,
    pub truncated: bool,
    pub changes: Vec<ChangeRow>,
    /// The previewed rules, which the save button sends.
    pub rules: String,
    pub version: i64,
}

fn preview_view(preview: &Preview) -> PreviewView {
    PreviewView {
        users_evaluated: preview.users_evaluated,
        users_changed: preview.users_changed,
        truncated: preview.truncated,
        changes: preview
            .changes
            .iter()
            .map(|c| ChangeRow {
                user_name: c.user_name.clone(),
                roles_before: list_or_dash(&c.before.product_roles),
                roles_after: list_or_dash(&c.after.product_roles),
                teams_before: teams(&c.before),
                teams_after: teams(&c.after),
            })
            .collect(),
        rules: preview.rules.to_string(),
        version: preview.current_version,
    }
}

#[derive(Template)]
#[template(path = "console/mapping.html")]
struct MappingPage {
    layout: Layout,
    tabs: Vec<Link>,
    directory_id: String,
    directory_name: String,
    version: i64,
    changed_at: String,
    form: RulesForm,
    preview: Option<PreviewView>,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "console/preview.html")]
struct PreviewFragment {
    layout: Layout,
    directory_id: String,
    preview: Option<PreviewView>,
    error: Option<String>,
}

/// What the page shows besides the form.
#[derive(Default)]
struct Outcome {
    preview: Option<PreviewView>,
    error: Option<(StatusCode, String)>,
    notice: Option<String>,
    /// Blank rows to add beyond the usual.
    more_rows: usize,
}

async fn mapping_page(
    state: &AppState,
    visitor: &Visitor,
    directory: &DirectoryView,
    form: Option<RulesForm>,
    outcome: Outcome,
) -> Result<HttpResponse, ConsoleError> {
    let id = directory.id.to_string();
    let current = mappings::get(state, &visitor.caller, &id).await?;
    let form = match form {
        Some(form) => form,
        None => RulesForm::of(&MappingRules::parse(&current.rules).unwrap_or_default()),
    };
    let (layout, tabs) =
        directory_frame(state, visitor, directory, "Role mapping", Tab::RoleMapping).await?;
    let (status, error) = match outcome.error {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let page = MappingPage {
        layout,
        tabs,
        directory_id: id,
        directory_name: directory.name.clone(),
        version: current.version,
        changed_at: current.changed_at.as_deref().map(when).unwrap_or_else(|| "never".into()),
        form: form.with_blank_rows(outcome.more_rows),
        preview: outcome.preview,
        error,
        notice: outcome.notice,
    };
    render(status, &page)
}

#[derive(Debug, Default, Deserialize)]
struct MappingQuery {
    /// The version just saved (after a redirect).
    saved: Option<i64>,
}

/// `GET /console/directories/{id}/role-mapping`.
pub async fn show(
    state: web::Data<AppState>,
    visitor: Visitor,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let directory = directories::get(&state, &visitor.caller, &path).await?;
    let q: MappingQuery = query(&req)?;
    let notice = q.saved.map(|version| {
        format!("The rules were saved as version {version}. Users whose product roles or teams changed are being told (user.access_changed).")
    });
    mapping_page(&state, &visitor, &directory, None, Outcome { notice, ..Outcome::default() }).await
}

/// `POST /console/directories/{id}/role-mapping/preview`: the table's rules, previewed. htmx
/// gets the preview alone; a form post without JavaScript the whole page with it.
pub async fn preview(
    state: web::Data<AppState>,
    visitor: Visitor,
    path: web::Path<String>,
    fields: Fields,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let directory = directories::get(&state, &visitor.caller, &path).await?;
    let form = RulesForm::from_fields(&fields);
    if fields.get("add_rows").is_some() {
        // The table again, with more blank rows (htmx swaps the form alone).
        let outcome = Outcome { more_rows: MORE_ROWS, ..Outcome::default() };
        return mapping_page(&state, &visitor, &directory, Some(form), outcome).await;
    }
    let (json, app_rows, group_rows) = form.to_json();
    let previewed = match mappings::parse(json.to_string().as_bytes(), state.max_body_bytes) {
        Ok(rules) => {
            mappings::preview(&state, &visitor.caller, &directory.id.to_string(), rules).await
        }
        Err(error) => Err(error),
    };
    let (preview, error) = match previewed {
        Ok(preview) => (Some(preview_view(&preview)), None),
        Err(error) => match form_error(&error) {
            Some((status, message)) => {
                (None, Some((status, in_table_words(&message, &app_rows, &group_rows))))
            }
            None => return Err(error.into()),
        },
    };
    if is_htmx(&req) {
        let status = error.as_ref().map_or(StatusCode::OK, |(status, _)| *status);
        let fragment = PreviewFragment {
            layout: Layout::new("Preview", Some(&visitor)),
            directory_id: directory.id.to_string(),
            preview,
            error: error.map(|(_, message)| message),
        };
        return render(status, &fragment);
    }
    let outcome = Outcome { preview, error, ..Outcome::default() };
    mapping_page(&state, &visitor, &directory, Some(form), outcome).await
}

/// `POST /console/directories/{id}/role-mapping` `rules=<JSON>&version=N`: save what was
/// previewed, if the rules are still at that version (else 412, and the page asks for a new
/// preview).
pub async fn save(
    state: web::Data<AppState>,
    visitor: Visitor,
    path: web::Path<String>,
    fields: Fields,
    req: HttpRequest,
) -> Result<HttpResponse, ConsoleError> {
    let directory = directories::get(&state, &visitor.caller, &path).await?;
    let id = directory.id.to_string();
    let text = fields.get("rules").unwrap_or_default();
    let version = match fields.get("version").map(str::trim) {
        None | Some("") => None,
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            ConsoleError::from(crate::control::bad_request("version must be a number"))
        })?),
    };
    let request_id = crate::state::request_id(&req);
    let saved = match mappings::parse(text.as_bytes(), state.max_body_bytes) {
        Ok(rules) => mappings::set(&state, &visitor.caller, &id, &request_id, rules, version).await,
        Err(error) => Err(error),
    };
    match saved {
        Ok(rules) => Ok(see_other(&format!(
            "/console/directories/{id}/role-mapping?saved={}",
            rules.version
        ))),
        Err(error) => {
            let Some((status, message)) = form_error(&error) else {
                return Err(error.into());
            };
            let message = if status == StatusCode::PRECONDITION_FAILED {
                format!(
                    "The rules were changed since your preview: preview again, then save. ({message})"
                )
            } else {
                message
            };
            let form = serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| MappingRules::parse(&v).ok())
                .map(|r| RulesForm::of(&r));
            let outcome = Outcome { error: Some((status, message)), ..Outcome::default() };
            mapping_page(&state, &visitor, &directory, form, outcome).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect())
    }

    #[test]
    fn the_table_becomes_the_rules_json_without_its_blank_rows() {
        let form = RulesForm::from_fields(&fields(&[
            ("app_role", "admin"),
            ("app_product_role", "administrator"),
            ("app_role", ""),
            ("app_product_role", ""),
            ("app_role", " reader "),
            ("app_product_role", "viewer"),
            ("group_by", "displayName"),
            ("group_value", "Lisbon Office"),
            ("group_product_role", ""),
            ("group_team", "yes"),
            ("group_by", "externalId"),
            ("group_value", "5f1c"),
            ("group_product_role", "sales"),
            ("group_team", "no"),
            ("group_by", "displayName"),
            ("group_value", ""),
            ("group_product_role", ""),
            ("group_team", "no"),
            ("default_role", "member"),
            ("policy", "highest"),
            ("priority", "administrator, sales,, viewer, member"),
        ]));
        let (json, app_rows, group_rows) = form.to_json();
        assert_eq!(
            json,
            json!({
                "appRoles": [
                    {"appRole": "admin", "productRole": "administrator"},
                    {"appRole": "reader", "productRole": "viewer"},
                ],
                "groups": [
                    {"displayName": "Lisbon Office", "team": true},
                    {"externalId": "5f1c", "productRole": "sales"},
                ],
                "defaultRole": "member",
                "policy": "highest",
                "priority": ["administrator", "sales", "viewer", "member"],
            })
        );
        assert_eq!(app_rows, [1, 3]);
        assert_eq!(group_rows, [1, 2]);
        // And back: the stored rules fill the same table.
        let rules = MappingRules::parse(&json).unwrap_or_default();
        let again = RulesForm::of(&rules);
        assert_eq!(again.app_roles[1], ("reader".to_string(), "viewer".to_string()));
        assert_eq!(again.groups[1].by, "externalId");
        assert_eq!(again.priority, "administrator, sales, viewer, member");
    }

    #[test]
    fn the_tables_keep_two_blank_rows_and_add_more_on_request() {
        let form = RulesForm {
            app_roles: vec![("a".into(), "b".into()), (String::new(), String::new())],
            ..RulesForm::default()
        };
        let shown = form.clone().with_blank_rows(0);
        assert_eq!(shown.app_roles.len(), 3);
        assert_eq!(shown.groups.len(), 2);
        // Shown again as submitted: no more rows each time.
        assert_eq!(shown.clone().with_blank_rows(0), shown);
        assert_eq!(form.with_blank_rows(MORE_ROWS).app_roles.len(), 3 + MORE_ROWS);
    }

    #[test]
    fn errors_name_the_tables_rows() {
        assert_eq!(
            in_table_words("appRoles[1].productRole: must not be empty", &[1, 3], &[]),
            "App roles, row 3 (productRole): must not be empty"
        );
        assert_eq!(
            in_table_words("groups[0]: needs displayName or externalId", &[], &[2]),
            "Groups, row 2: needs displayName or externalId"
        );
        assert_eq!(in_table_words("defaultRole: too long", &[], &[]), "defaultRole: too long");
    }
}
