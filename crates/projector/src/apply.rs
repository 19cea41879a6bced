//! Applying one change event to Postgres, deterministically: ids and times come from the event,
//! never from the clock, so replaying the log into an empty database rebuilds the same rows.
//! A change that cannot be made (duplicate userName, unknown user, failed precondition, invalid
//! PATCH) is not an error but an outcome: the HTTP status and SCIM error the client receives.
//! This module dispatches each change to [`users`](crate::users), [`groups`](crate::groups) or
//! [`directory`](crate::directory); their shared vocabulary is in [`decision`](crate::decision).

use diesel::PgConnection;
use diesel::result::QueryResult;
use roster_events::{Change, DecodedChange};
use roster_scim::ScimError;
use roster_store::control::DeprovisionPolicy;

pub use crate::cache::BatchCache;
use crate::decision::ApplyError;
pub use crate::decision::Decision;
use crate::{directory, groups, users};

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
        Some(Change::CreateUser(_)) => users::create(conn, event),
        Some(Change::ReplaceUser(replace)) => users::replace(conn, event, replace),
        Some(Change::PatchUser(patch)) => users::patch(conn, event, patch),
        Some(Change::DeleteUser(delete)) => {
            let decision = users::delete(conn, event, &directory, delete);
            if let (Ok(d), DeprovisionPolicy::Erase) = (&decision, directory.policy())
                && let Some(id) = d.resource_id
            {
                cache.erased.push((event.directory_id, id));
            }
            decision
        }
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
            cache.deleted_directories.push(event.directory_id);
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

/// Whether `event` creates a user: consecutive creates are applied together by
/// [`create_users`].
pub fn is_user_create(event: &DecodedChange) -> bool {
    matches!(event.change(), Some(Change::CreateUser(_)))
}

/// Apply a run of consecutive user creates with one multi-row insert: the same rows and
/// decisions as [`apply`] on each in turn (see [`users::create_many`]).
pub fn create_users(
    conn: &mut PgConnection,
    cache: &mut BatchCache,
    events: &[&DecodedChange],
) -> QueryResult<Vec<Decision>> {
    users::create_many(conn, cache, events)
}
