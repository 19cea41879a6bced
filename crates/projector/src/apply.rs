//! Applying one change event to Postgres, deterministically: ids and times come from the event,
//! never from the clock, so replaying the log into an empty database rebuilds the same rows.
//! A change that cannot be made (duplicate userName, unknown directory, invalid resource) is
//! not an error but an outcome: the HTTP status and SCIM error the client receives.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use diesel::result::QueryResult;
use roster_events::changes::v1::CreateUser;
use roster_events::{Change, DecodedChange};
use roster_scim::ScimError;
use roster_scim::user::User;
use roster_store::control;
use roster_store::outcomes::AppliedBody;
use roster_store::users::{self, UserRow};
use uuid::Uuid;

/// What became of an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: u16,
    pub resource_id: Option<Uuid>,
    pub body: Option<serde_json::Value>,
}

impl Decision {
    fn rejected(error: ScimError) -> Decision {
        Decision { status: error.status, resource_id: None, body: Some(error.to_body()) }
    }

    fn applied(status: u16, row: &UserRow) -> Decision {
        let body = AppliedBody {
            resource: row.resource.clone(),
            created: row.created_at,
            last_modified: row.last_modified,
            version: row.version,
        };
        Decision { status, resource_id: Some(row.id), body: serde_json::to_value(body).ok() }
    }
}

/// What one batch's transaction has already looked up.
#[derive(Debug, Default)]
pub struct BatchCache {
    directories: HashMap<Uuid, bool>,
}

impl BatchCache {
    fn directory_exists(&mut self, conn: &mut PgConnection, id: Uuid) -> QueryResult<bool> {
        if let Some(&exists) = self.directories.get(&id) {
            return Ok(exists);
        }
        let exists = control::find_directory(conn, id)?.is_some();
        self.directories.insert(id, exists);
        Ok(exists)
    }
}

/// Apply one event inside the caller's transaction.
pub fn apply(
    conn: &mut PgConnection,
    cache: &mut BatchCache,
    event: &DecodedChange,
) -> QueryResult<Decision> {
    if !cache.directory_exists(conn, event.directory_id)? {
        return Ok(Decision::rejected(ScimError::not_found("the directory no longer exists")));
    }
    match event.change() {
        Some(Change::CreateUser(create)) => create_user(conn, event, create),
        Some(other) => Ok(Decision::rejected(ScimError::new(
            501,
            None,
            format!(
                "{} is not supported by this version of Roster",
                roster_events::change_name(other)
            ),
        ))),
        None => Ok(Decision::rejected(ScimError::invalid_syntax("the event states no change"))),
    }
}

fn create_user(
    conn: &mut PgConnection,
    event: &DecodedChange,
    create: &CreateUser,
) -> QueryResult<Decision> {
    let Ok(id) = Uuid::parse_str(&create.id) else {
        return Ok(Decision::rejected(ScimError::invalid_value("the user id is not a UUID")));
    };
    let user = match serde_json::from_str(&create.resource_json)
        .map_err(|e| ScimError::invalid_syntax(format!("resource is not JSON: {e}")))
        .and_then(User::from_request)
    {
        Ok(user) => user,
        Err(error) => return Ok(Decision::rejected(error)),
    };
    let row = new_row(event.directory_id, id, &user, event.event_time);
    if users::insert_if_absent(conn, &row)? {
        return Ok(Decision::applied(201, &row));
    }
    if users::user_name_taken(conn, event.directory_id, user.user_name(), None)? {
        return Ok(Decision::rejected(ScimError::uniqueness(format!(
            "userName {:?} is already in use in this directory",
            user.user_name()
        ))));
    }
    Ok(Decision::rejected(ScimError::uniqueness("a user with this id already exists")))
}

fn new_row(directory_id: Uuid, id: Uuid, user: &User, time: DateTime<Utc>) -> UserRow {
    UserRow {
        directory_id,
        id,
        user_name: user.user_name().to_string(),
        external_id: user.external_id().map(str::to_string),
        display_name: user.display_name().map(str::to_string),
        active: user.active(),
        resource: user.as_json(),
        version: 1,
        created_at: time,
        last_modified: time,
    }
}
