//! Applying user changes: create (one at a time, or a run of creates with one multi-row insert),
//! replace, PATCH and delete. userName is unique in a directory, case-insensitively, among live
//! users.

use diesel::PgConnection;
use diesel::result::QueryResult;
use roster_events::changes::v1::{DeleteUser, PatchUser, ReplaceUser};
use roster_events::{Change, DecodedChange};
use roster_scim::patch::apply_to_user;
use roster_scim::user::User;
use roster_scim::{ScimError, ScimType};
use roster_store::control::Directory;
use roster_store::outcomes::AppliedBody;
use roster_store::users::{self, UserRow};

use crate::cache::BatchCache;
use crate::decision::{Applied, Decision, parse_id, patch_ops};
use crate::rows::{deprovision, load_for_change};

/// Whether a write's outcome repeats the stored resource.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Resource {
    /// It holds only `meta`: the resource stored is the one the event carried (a create or
    /// replace), and the gateway that published it answers with its own copy
    /// (`answered_from_request`, design 0009).
    Omitted,
    /// It holds the resource: a PATCH's result, or an event from a gateway that predates
    /// `answered_from_request`.
    Included,
}

impl Resource {
    fn unless_answered_from_request(answered_from_request: bool) -> Resource {
        if answered_from_request { Resource::Omitted } else { Resource::Included }
    }
}

/// The outcome of a create, replace or PATCH: the user as stored.
fn applied(status: u16, row: &UserRow, resource: Resource) -> Decision {
    let body = AppliedBody {
        resource: (resource == Resource::Included).then(|| row.resource.clone()),
        created: row.created_at,
        last_modified: row.last_modified,
        version: row.version,
        members: None,
    };
    Decision { status, resource_id: Some(row.id), body: serde_json::to_value(body).ok() }
}

/// Apply a run of consecutive user creates with one multi-row insert (the initial sync is
/// mostly this): the same rows and decisions as applying each in turn, since a create only
/// adds rows, so a later create of the run cannot free what an earlier one found taken.
/// (One corner differs in wording only: a create refused for its id, whose userName a later
/// create of the run then takes, is told its userName is taken; both are 409 `uniqueness`.)
pub(crate) fn create_many(
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
    let rows: Vec<UserRow> =
        prepared.iter().filter_map(|row| row.as_ref().ok()).map(|(row, _)| row.clone()).collect();
    let mut inserted = users::insert_many_if_absent(conn, &rows)?;
    let mut decisions = Vec::with_capacity(events.len());
    for row in prepared {
        let decision = match row {
            Err(error) => Decision::rejected(error),
            // Taken out of the set: a second create of the same id was not the one inserted.
            Ok((row, resource)) if inserted.remove(&(row.id, row.directory_id)) => {
                applied(201, &row, resource)
            }
            Ok((row, _)) => Decision::rejected(create_conflict(conn, &row)?),
        };
        decisions.push(decision);
    }
    Ok(decisions)
}

pub(crate) fn create(conn: &mut PgConnection, event: &DecodedChange) -> Applied {
    let (row, resource) = new_user_row(event)?;
    if users::insert_if_absent(conn, &row)? {
        return Ok(applied(201, &row, resource));
    }
    Err(create_conflict(conn, &row)?.into())
}

/// The row a `CreateUser` event asks for, and whether its outcome repeats the resource.
fn new_user_row(event: &DecodedChange) -> Result<(UserRow, Resource), ScimError> {
    let Some(Change::CreateUser(create)) = event.change() else {
        return Err(ScimError::invalid_syntax("the event does not create a user"));
    };
    let id = parse_id(&create.id)?;
    let user = parse_user(&create.resource_json)?;
    let resource = Resource::unless_answered_from_request(create.answered_from_request);
    Ok((UserRow::new(event.directory_id, id, &user, event.event_time), resource))
}

/// Why a new user's row could not be inserted.
fn create_conflict(conn: &mut PgConnection, row: &UserRow) -> QueryResult<ScimError> {
    if users::user_name_taken(conn, row.directory_id, &row.user_name, None)? {
        return Ok(user_name_taken(&row.user_name));
    }
    Ok(ScimError::uniqueness("a user with this id already exists"))
}

pub(crate) fn replace(
    conn: &mut PgConnection,
    event: &DecodedChange,
    replace: &ReplaceUser,
) -> Applied {
    let id = parse_id(&replace.id)?;
    let user = parse_user(&replace.resource_json)?;
    let current = load_for_change::<UserRow>(conn, event, id, replace.if_match.as_deref())?;
    let resource = Resource::unless_answered_from_request(replace.answered_from_request);
    save(conn, event, current, &user, resource)
}

pub(crate) fn patch(conn: &mut PgConnection, event: &DecodedChange, patch: &PatchUser) -> Applied {
    let id = parse_id(&patch.id)?;
    let ops = patch_ops(&patch.operations)?;
    let current = load_for_change::<UserRow>(conn, event, id, patch.if_match.as_deref())?;
    let patched = apply_to_user(&User::from_stored(current.resource.clone()), &ops)?;
    save(conn, event, current, &patched, Resource::Included)
}

pub(crate) fn delete(
    conn: &mut PgConnection,
    event: &DecodedChange,
    directory: &Directory,
    delete: &DeleteUser,
) -> Applied {
    let id = parse_id(&delete.id)?;
    let row = load_for_change::<UserRow>(conn, event, id, delete.if_match.as_deref())?;
    roster_store::groups::remove_from_all_groups(conn, event.directory_id, id)?;
    deprovision(conn, directory.policy(), row, event.event_time)?;
    Ok(Decision::no_content(id))
}

/// Store a new state of `current`, checking userName uniqueness if it changed (200).
fn save(
    conn: &mut PgConnection,
    event: &DecodedChange,
    current: UserRow,
    user: &User,
    resource: Resource,
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
    Ok(applied(200, &row, resource))
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
