//! What to answer for an event Postgres refused to store (a data error the gateway's
//! validation let through, or an event produced past the gateway): 400 `invalidValue` whose
//! detail names the attribute and says what is wrong with it, never the SQL or Postgres's
//! message. The attribute is found in the event itself (the one that carries a NUL character,
//! or the one an index could not hold), else from the column or index the error names.

use roster_events::changes::v1::PatchOperation;
use roster_events::{Change, DecodedChange};
use roster_scim::{ScimError, ScimType};
use roster_store::StoreError;
use roster_store::sqlstate::sqlstate;
use serde_json::Value;

/// The SCIM error an event refused by Postgres is answered with.
pub fn rejection(event: &DecodedChange, error: &StoreError) -> ScimError {
    let info = database_info(error);
    let message = info.as_ref().map_or("", |i| i.message.as_str());
    let code = match error {
        StoreError::Query(e) => sqlstate(e).map(|s| s.0),
        _ => None,
    };
    let index_attribute = info
        .as_ref()
        .and_then(|i| i.constraint.clone().or_else(|| quoted_after(message, "index \"")))
        .as_deref()
        .and_then(attribute_of_index);
    if code == Some("23505") {
        let attribute = index_attribute.unwrap_or("a unique attribute");
        return ScimError::new(
            409,
            Some(ScimType::Uniqueness),
            format!("{attribute}: the value is already in use in this directory"),
        );
    }
    let nul = message.contains("0x00")
        || message.contains("\\u0000")
        || message.contains("null character")
        || message.contains("unsupported Unicode escape sequence");
    if nul {
        let attribute = texts(event)
            .into_iter()
            .find(|(_, text)| text.contains('\0'))
            .map(|(path, _)| path)
            .unwrap_or_else(|| "a value".to_string());
        return ScimError::bad_request(
            ScimType::InvalidValue,
            format!(
                "{}: the value contains a NUL character, which cannot be stored",
                shown(&attribute)
            ),
        );
    }
    if let Some(attribute) = index_attribute {
        return ScimError::bad_request(
            ScimType::InvalidValue,
            format!("{attribute}: the value is too long to be indexed; shorten it"),
        );
    }
    if code.is_some_and(|c| c.starts_with("22008") || c == "22007")
        || message.contains("timestamp out of range")
        || message.contains("date/time field value out of range")
    {
        return ScimError::bad_request(
            ScimType::InvalidValue,
            "meta.lastModified: the change's time is out of the range that can be stored",
        );
    }
    let attribute = info
        .as_ref()
        .and_then(|i| i.column.as_deref())
        .and_then(attribute_of_column)
        .map(str::to_string)
        .or_else(|| longest_text(event))
        .unwrap_or_else(|| "a value".to_string());
    ScimError::bad_request(
        ScimType::InvalidValue,
        format!("{}: the value cannot be stored", shown(&attribute)),
    )
}

struct Info {
    message: String,
    constraint: Option<String>,
    column: Option<String>,
}

fn database_info(error: &StoreError) -> Option<Info> {
    match error {
        StoreError::Query(diesel::result::Error::DatabaseError(_, info)) => Some(Info {
            message: info.message().to_string(),
            constraint: info.constraint_name().map(str::to_string),
            column: info.column_name().map(str::to_string),
        }),
        _ => None,
    }
}

/// The text between `prefix` and the next `"` in `message`.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let start = message.find(prefix)? + prefix.len();
    let rest = &message[start..];
    rest.find('"').map(|end| rest[..end].to_string())
}

/// The SCIM attribute behind one of Roster's indexes (see the migrations).
fn attribute_of_index(index: &str) -> Option<&'static str> {
    Some(match index {
        i if i.starts_with("users_user_name") => "userName",
        i if i.starts_with("users_external_id") => "externalId",
        i if i.starts_with("users_display_name") => "displayName",
        i if i.starts_with("users_email") => "emails",
        i if i.starts_with("groups_display_name") => "displayName",
        i if i.starts_with("groups_external_id") => "externalId",
        i if i.contains("external_id") => "externalId",
        i if i.contains("display_name") => "displayName",
        _ => return None,
    })
}

fn attribute_of_column(column: &str) -> Option<&'static str> {
    Some(match column {
        "user_name" => "userName",
        "external_id" => "externalId",
        "display_name" => "displayName",
        "resource" => "the resource",
        "rules" => "rules",
        _ => return None,
    })
}

/// Every text the event carries, with the attribute path it sits at (`userName`,
/// `name.givenName`, `emails.value`, an extension's `urn:…:department`, a PATCH operation's
/// path), keys included.
fn texts(event: &DecodedChange) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let resource = |json: &str, out: &mut Vec<(String, String)>| {
        if let Ok(value) = serde_json::from_str::<Value>(json) {
            collect(&value, "", out);
        }
    };
    let patch = |operations: &[PatchOperation], out: &mut Vec<(String, String)>| {
        for op in operations {
            let path = op.path.clone().unwrap_or_default();
            out.push(("path".to_string(), path.clone()));
            if let Some(value) =
                op.value_json.as_deref().and_then(|v| serde_json::from_str::<Value>(v).ok())
            {
                collect(&value, &path, out);
            }
        }
    };
    match event.change() {
        Some(Change::CreateUser(c)) => resource(&c.resource_json, &mut out),
        Some(Change::ReplaceUser(c)) => resource(&c.resource_json, &mut out),
        Some(Change::CreateGroup(c)) => resource(&c.resource_json, &mut out),
        Some(Change::ReplaceGroup(c)) => resource(&c.resource_json, &mut out),
        Some(Change::PatchUser(c)) => patch(&c.operations, &mut out),
        Some(Change::PatchGroup(c)) => patch(&c.operations, &mut out),
        Some(Change::MappingRulesChanged(c)) => {
            if let Ok(value) = serde_json::from_str::<Value>(&c.rules_json) {
                collect(&value, "rules", &mut out);
            }
        }
        Some(Change::DirectorySettingsChanged(c)) => {
            out.push(("deprovisionPolicy".to_string(), c.deprovision_policy.clone()));
        }
        _ => {}
    }
    out
}

fn collect(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(text) => out.push((path.to_string(), text.clone())),
        Value::Array(items) => items.iter().for_each(|item| collect(item, path, out)),
        Value::Object(fields) => {
            // The object of an extension schema (`"urn:…:User": {…}`): its attributes are
            // written as SCIM does, `urn:…:User:department`.
            let extension = path.starts_with("urn:") && !path.ends_with(']') && is_urn_only(path);
            for (key, item) in fields {
                let child = if path.is_empty() || key.starts_with("urn:") {
                    key.clone()
                } else if extension {
                    format!("{path}:{key}")
                } else {
                    format!("{path}.{key}")
                };
                out.push((child.clone(), key.clone()));
                collect(item, &child, out);
            }
        }
        _ => {}
    }
}

/// A schema URN alone (its last segment names the schema: `…:2.0:User`), not an attribute
/// under one.
fn is_urn_only(path: &str) -> bool {
    path.rsplit(':').next().is_some_and(|last| {
        last.chars().next().is_some_and(char::is_uppercase) && !last.contains('.')
    })
}

/// The attribute with the longest text: the likeliest culprit of a size limit.
fn longest_text(event: &DecodedChange) -> Option<String> {
    texts(event).into_iter().max_by_key(|(_, text)| text.len()).map(|(path, _)| path)
}

/// An attribute path as shown to the client: control characters escaped, at most 128
/// characters.
fn shown(path: &str) -> String {
    let escaped: String = path.chars().flat_map(char::escape_default).collect();
    match escaped.char_indices().nth(128) {
        Some((end, _)) => format!("{}…", &escaped[..end]),
        None => escaped,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error};
    use roster_events::ChangeEvent;
    use roster_events::changes::v1::{CreateUser, PatchUser, patch_operation};
    use uuid::Uuid;

    use super::*;

    #[derive(Debug)]
    struct Info {
        message: &'static str,
        constraint: Option<&'static str>,
    }

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.message
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            self.constraint
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn error(
        kind: DatabaseErrorKind,
        message: &'static str,
        constraint: Option<&'static str>,
    ) -> StoreError {
        StoreError::Query(Error::DatabaseError(kind, Box::new(Info { message, constraint })))
    }

    fn event(change: Change) -> DecodedChange {
        DecodedChange {
            event_id: Uuid::nil(),
            directory_id: Uuid::nil(),
            event_time: chrono::Utc::now(),
            event: ChangeEvent { change: Some(change), ..Default::default() },
        }
    }

    fn create(resource: serde_json::Value) -> DecodedChange {
        event(Change::CreateUser(CreateUser {
            id: Uuid::nil().to_string(),
            resource_json: resource.to_string(),
            ..Default::default()
        }))
    }

    fn no_sql(detail: &str) {
        for word in ["INSERT", "UPDATE", "SELECT", "0x00", "UTF8", "btree", "index row", "Postgres"]
        {
            assert!(!detail.contains(word), "{detail:?} shows {word}");
        }
    }

    #[test]
    fn a_nul_names_the_attribute_that_carries_it() {
        let nul = error(
            DatabaseErrorKind::Unknown,
            "invalid byte sequence for encoding \"UTF8\": 0x00",
            None,
        );
        let refused = rejection(&create(serde_json::json!({"userName": "a\u{0}b"})), &nul);
        assert_eq!((refused.status, refused.scim_type), (400, Some(ScimType::InvalidValue)));
        assert!(refused.detail.starts_with("userName: "), "{}", refused.detail);
        no_sql(&refused.detail);

        let jsonb = error(DatabaseErrorKind::Unknown, "unsupported Unicode escape sequence", None);
        let nested = create(serde_json::json!({
            "userName": "ada",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x\u{0}"},
        }));
        let detail = rejection(&nested, &jsonb).detail;
        assert!(
            detail.starts_with(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department: "
            ),
            "{detail}"
        );

        let patch = event(Change::PatchUser(PatchUser {
            id: Uuid::nil().to_string(),
            operations: vec![PatchOperation {
                op: patch_operation::Op::Replace as i32,
                path: Some("displayName".into()),
                value_json: Some("\"x\\u0000\"".into()),
            }],
            if_match: None,
        }));
        assert!(rejection(&patch, &nul).detail.starts_with("displayName: "));
    }

    #[test]
    fn an_oversize_value_is_named_from_the_index() {
        let index = error(
            DatabaseErrorKind::Unknown,
            "index row size 2712 exceeds btree version 4 maximum 2704 for index \"users_user_name_key\"",
            None,
        );
        let refused = rejection(&create(serde_json::json!({"userName": "a".repeat(8000)})), &index);
        assert_eq!(refused.status, 400);
        assert_eq!(refused.detail, "userName: the value is too long to be indexed; shorten it");
        let external = error(
            DatabaseErrorKind::Unknown,
            "index row requires 9000 bytes, maximum size is 8191",
            Some("users_external_id"),
        );
        assert!(rejection_detail(&external).starts_with("externalId: "));
    }

    fn rejection_detail(error: &StoreError) -> String {
        rejection(&create(serde_json::json!({"userName": "ada"})), error).detail
    }

    #[test]
    fn other_data_errors_name_a_likely_attribute_and_no_sql() {
        let time = error(DatabaseErrorKind::Unknown, "timestamp out of range", None);
        assert!(rejection_detail(&time).starts_with("meta.lastModified: "));
        let other =
            error(DatabaseErrorKind::Unknown, "value too long for type character varying(3)", None);
        let detail = rejection(
            &create(serde_json::json!({"userName": "ada", "title": "x".repeat(50)})),
            &other,
        )
        .detail;
        assert_eq!(detail, "title: the value cannot be stored");
        let unique =
            error(DatabaseErrorKind::UniqueViolation, "duplicate key", Some("users_user_name_key"));
        let conflict = rejection(&create(serde_json::json!({"userName": "ada"})), &unique);
        assert_eq!((conflict.status, conflict.scim_type), (409, Some(ScimType::Uniqueness)));
    }

    #[test]
    fn attribute_names_are_shown_escaped_and_short() {
        assert_eq!(shown("a\u{0}b"), "a\\u{0}b");
        assert_eq!(shown(&"k".repeat(200)).chars().count(), 129);
    }
}
