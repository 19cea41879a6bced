//! Applying one change event to Postgres, deterministically: ids and times come from the event,
//! never from the clock, so replaying the log into an empty database rebuilds the same rows.
//! A change that cannot be made (duplicate userName, unknown user, failed precondition, invalid
//! PATCH) is not an error but an outcome: the HTTP status and SCIM error the client receives.

use std::collections::HashMap;

use diesel::PgConnection;
use diesel::result::QueryResult;
use roster_events::changes::v1::{
    DeleteUser, PatchOperation, PatchUser, ReplaceUser, patch_operation,
};
use roster_events::{Change, DecodedChange};
use roster_scim::patch::{PatchOp, PatchOpKind, apply_to_user};
use roster_scim::user::User;
use roster_scim::{ScimError, ScimType};
use roster_store::control::{self, Directory};
use roster_store::outcomes::AppliedBody;
use roster_store::users::{self, UserRow};
use uuid::Uuid;

use crate::{directory, groups};

/// What became of an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: u16,
    pub resource_id: Option<Uuid>,
    pub body: Option<serde_json::Value>,
}

impl Decision {
    pub(crate) fn rejected(error: ScimError) -> Decision {
        Decision { status: error.status, resource_id: None, body: Some(error.to_body()) }
    }

    fn applied(status: u16, row: &UserRow) -> Decision {
        let body = AppliedBody {
            resource: row.resource.clone(),
            created: row.created_at,
            last_modified: row.last_modified,
            version: row.version,
            members: None,
        };
        Decision { status, resource_id: Some(row.id), body: serde_json::to_value(body).ok() }
    }

    pub(crate) fn json(status: u16, body: serde_json::Value) -> Decision {
        Decision { status, resource_id: None, body: Some(body) }
    }

    pub(crate) fn no_content(id: Uuid) -> Decision {
        Decision { status: 204, resource_id: Some(id), body: None }
    }
}

/// What one batch's transaction has already looked up.
#[derive(Debug, Default)]
pub struct BatchCache {
    directories: HashMap<Uuid, Option<Directory>>,
}

impl BatchCache {
    fn directory(&mut self, conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<Directory>> {
        if let Some(directory) = self.directories.get(&id) {
            return Ok(directory.clone());
        }
        let directory = control::find_directory(conn, id)?;
        self.directories.insert(id, directory.clone());
        Ok(directory)
    }

    /// Forget what was looked up of a directory that a change just altered.
    fn invalidate(&mut self, id: Uuid) {
        self.directories.remove(&id);
    }
}

/// Apply one event inside the caller's transaction.
pub fn apply(
    conn: &mut PgConnection,
    cache: &mut BatchCache,
    event: &DecodedChange,
) -> QueryResult<Decision> {
    let Some(directory) = cache.directory(conn, event.directory_id)? else {
        return Ok(Decision::rejected(ScimError::not_found("the directory no longer exists")));
    };
    let result = match event.change() {
        Some(Change::CreateUser(_)) => create_user(conn, event),
        Some(Change::ReplaceUser(replace)) => replace_user(conn, event, replace),
        Some(Change::PatchUser(patch)) => patch_user(conn, event, patch),
        Some(Change::DeleteUser(delete)) => delete_user(conn, event, &directory, delete),
        Some(Change::CreateGroup(create)) => groups::create(conn, event, create),
        Some(Change::ReplaceGroup(replace)) => groups::replace(conn, event, replace),
        Some(Change::PatchGroup(patch)) => groups::patch(conn, event, patch),
        Some(Change::DeleteGroup(delete)) => groups::delete(conn, event, &directory, delete),
        Some(Change::MappingRulesChanged(change)) => {
            directory::set_mapping_rules(conn, event, change)
        }
        Some(Change::DirectorySettingsChanged(change)) => {
            cache.invalidate(event.directory_id);
            directory::change_settings(conn, event, change)
        }
        Some(Change::DirectoryDeleted(_)) => {
            cache.invalidate(event.directory_id);
            directory::delete(conn, event)
        }
        None => Err(ScimError::invalid_syntax("the event states no change").into()),
    };
    match result {
        Ok(decision) => Ok(decision),
        Err(ApplyError::Rejected(error)) => Ok(Decision::rejected(error)),
        Err(ApplyError::Database(error)) => Err(error),
    }
}

/// Why a change was not applied: the SCIM error it is rejected with (an outcome answered to the
/// client), or a database failure (it aborts the batch, which the consume loop classifies and
/// retries or refuses).
#[derive(Debug)]
pub(crate) enum ApplyError {
    Rejected(ScimError),
    Database(diesel::result::Error),
}

impl From<ScimError> for ApplyError {
    fn from(error: ScimError) -> ApplyError {
        ApplyError::Rejected(error)
    }
}

impl From<diesel::result::Error> for ApplyError {
    fn from(error: diesel::result::Error) -> ApplyError {
        ApplyError::Database(error)
    }
}

/// A decision, or why the change was not applied.
pub(crate) type Applied = Result<Decision, ApplyError>;

/// Whether `event` creates a user: consecutive creates are applied together by
/// [`create_users`].
pub fn is_user_create(event: &DecodedChange) -> bool {
    matches!(event.change(), Some(Change::CreateUser(_)))
}

/// Apply a run of consecutive user creates with one multi-row insert (the initial sync is
/// mostly this): the same rows and decisions as [`apply`] on each in turn, since a create only
/// adds rows, so a later create of the run cannot free what an earlier one found taken.
/// (One corner differs in wording only: a create refused for its id, whose userName a later
/// create of the run then takes, is told its userName is taken; both are 409 `uniqueness`.)
pub fn create_users(
    conn: &mut PgConnection,
    cache: &mut BatchCache,
    events: &[&DecodedChange],
) -> QueryResult<Vec<Decision>> {
    let mut prepared = Vec::with_capacity(events.len());
    for event in events {
        let row = match cache.directory(conn, event.directory_id)? {
            None => Err(ScimError::not_found("the directory no longer exists")),
            Some(_) => new_user_row(event),
        };
        prepared.push(row);
    }
    let rows: Vec<UserRow> = prepared.iter().filter_map(|row| row.as_ref().ok()).cloned().collect();
    let mut inserted = users::insert_many_if_absent(conn, &rows)?;
    let mut decisions = Vec::with_capacity(events.len());
    for row in prepared {
        let decision = match row {
            Err(error) => Decision::rejected(error),
            // Taken out of the set: a second create of the same id was not the one inserted.
            Ok(row) if inserted.remove(&(row.id, row.directory_id)) => Decision::applied(201, &row),
            Ok(row) => Decision::rejected(create_conflict(conn, &row)?),
        };
        decisions.push(decision);
    }
    Ok(decisions)
}

fn create_user(conn: &mut PgConnection, event: &DecodedChange) -> Applied {
    let row = new_user_row(event)?;
    if users::insert_if_absent(conn, &row)? {
        return Ok(Decision::applied(201, &row));
    }
    Err(create_conflict(conn, &row)?.into())
}

/// The row a `CreateUser` event asks for.
fn new_user_row(event: &DecodedChange) -> Result<UserRow, ScimError> {
    let Some(Change::CreateUser(create)) = event.change() else {
        return Err(ScimError::invalid_syntax("the event does not create a user"));
    };
    let id = parse_id(&create.id)?;
    let user = parse_user(&create.resource_json)?;
    Ok(UserRow::new(event.directory_id, id, &user, event.event_time))
}

/// Why a new user's row could not be inserted.
fn create_conflict(conn: &mut PgConnection, row: &UserRow) -> QueryResult<ScimError> {
    if users::user_name_taken(conn, row.directory_id, &row.user_name, None)? {
        return Ok(user_name_taken(&row.user_name));
    }
    Ok(ScimError::uniqueness("a user with this id already exists"))
}

fn replace_user(conn: &mut PgConnection, event: &DecodedChange, replace: &ReplaceUser) -> Applied {
    let id = parse_id(&replace.id)?;
    let user = parse_user(&replace.resource_json)?;
    let current = load_for_change(conn, event, id, replace.if_match.as_deref())?;
    save(conn, event, current, &user, 200)
}

fn patch_user(conn: &mut PgConnection, event: &DecodedChange, patch: &PatchUser) -> Applied {
    let id = parse_id(&patch.id)?;
    let ops = patch_ops(&patch.operations)?;
    let current = load_for_change(conn, event, id, patch.if_match.as_deref())?;
    let patched = apply_to_user(&User::from_stored(current.resource.clone()), &ops)?;
    save(conn, event, current, &patched, 200)
}

fn delete_user(
    conn: &mut PgConnection,
    event: &DecodedChange,
    directory: &Directory,
    delete: &DeleteUser,
) -> Applied {
    let id = parse_id(&delete.id)?;
    let mut row = load_for_change(conn, event, id, delete.if_match.as_deref())?;
    roster_store::groups::remove_from_all_groups(conn, event.directory_id, id)?;
    if directory.deprovision_policy == "erase" {
        users::erase(conn, event.directory_id, id)?;
    } else {
        row.deleted_at = Some(event.event_time);
        row.last_modified = event.event_time;
        row.version += 1;
        users::update(conn, &row)?;
    }
    Ok(Decision::no_content(id))
}

/// The live user a change applies to, after its `If-Match` precondition.
pub(crate) fn precondition(if_match: Option<&str>, version: i64) -> Result<(), ScimError> {
    match if_match {
        Some(tags) if !roster_scim::etag::matches(tags, version) => Err(ScimError::new(
            412,
            None,
            format!("the resource changed: its version is {}", roster_scim::etag::etag(version)),
        )),
        _ => Ok(()),
    }
}

fn load_for_change(
    conn: &mut PgConnection,
    event: &DecodedChange,
    id: Uuid,
    if_match: Option<&str>,
) -> Result<UserRow, ApplyError> {
    let Some(row) = users::find(conn, event.directory_id, id)? else {
        return Err(ScimError::not_found(format!("no user {id}")).into());
    };
    precondition(if_match, row.version)?;
    Ok(row)
}

/// Store a new state of `current`, checking userName uniqueness if it changed.
fn save(
    conn: &mut PgConnection,
    event: &DecodedChange,
    current: UserRow,
    user: &User,
    status: u16,
) -> Applied {
    if !user.user_name().eq_ignore_ascii_case(&current.user_name)
        && users::user_name_taken(conn, event.directory_id, user.user_name(), Some(current.id))?
    {
        return Err(user_name_taken(user.user_name()).into());
    }
    let mut row = UserRow::new(event.directory_id, current.id, user, event.event_time);
    row.created_at = current.created_at;
    row.version = current.version + 1;
    users::update(conn, &row)?;
    Ok(Decision::applied(status, &row))
}

pub(crate) fn patch_ops(operations: &[PatchOperation]) -> Result<Vec<PatchOp>, ScimError> {
    operations
        .iter()
        .map(|op| {
            let kind = match patch_operation::Op::try_from(op.op) {
                Ok(patch_operation::Op::Add) => PatchOpKind::Add,
                Ok(patch_operation::Op::Replace) => PatchOpKind::Replace,
                Ok(patch_operation::Op::Remove) => PatchOpKind::Remove,
                _ => return Err(ScimError::invalid_syntax("unknown PATCH operation")),
            };
            PatchOp::from_parts(kind, op.path.as_deref(), op.value_json.as_deref())
        })
        .collect()
}

pub(crate) fn parse_id(id: &str) -> Result<Uuid, ScimError> {
    Uuid::parse_str(id).map_err(|_| ScimError::invalid_value("the resource id is not a UUID"))
}

fn parse_user(resource_json: &str) -> Result<User, ScimError> {
    serde_json::from_str(resource_json)
        .map_err(|e| ScimError::invalid_syntax(format!("resource is not JSON: {e}")))
        .and_then(User::from_request)
}

fn user_name_taken(user_name: &str) -> ScimError {
    ScimError::new(
        409,
        Some(ScimType::Uniqueness),
        format!("userName {user_name:?} is already in use in this directory"),
    )
}
