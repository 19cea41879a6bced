//! Applying group changes. Membership lives in its own table and is changed member by member,
//! so a PATCH adding or removing 10,000 members never loads or rewrites a members array.
//! Members must be live users or groups of the same directory; other ids are ignored (Entra
//! only sends ids it provisioned, but one may have been erased since).

use std::collections::HashSet;

use diesel::PgConnection;
use diesel::result::QueryResult;
use roster_events::DecodedChange;
use roster_events::changes::v1::{CreateGroup, DeleteGroup, MemberRef, PatchGroup, ReplaceGroup};
use roster_scim::group::{Group, MemberKind, MembershipChange, apply_to_group, split_group_ops};
use roster_scim::{ScimError, ScimType};
use roster_store::control::Directory;
use roster_store::groups::{self, GroupRow, MemberRow};
use roster_store::outcomes::AppliedBody;
use uuid::Uuid;

use crate::decision::{Applied, ApplyError, Decision, parse_id, patch_ops};
use crate::rows::{deprovision, load_for_change};

pub(crate) fn create(
    conn: &mut PgConnection,
    event: &DecodedChange,
    create: &CreateGroup,
) -> Applied {
    let id = parse_id(&create.id)?;
    let group = parse_group(&create.resource_json)?;
    let members = member_ids(&create.members)?;
    let row = new_row(event, id, &group);
    if !groups::insert_if_absent(conn, &row)? {
        if groups::display_name_taken(conn, event.directory_id, group.display_name(), None)? {
            return Err(display_name_taken(group.display_name()).into());
        }
        return Err(ScimError::uniqueness("a group with this id already exists").into());
    }
    add(conn, event, id, &members)?;
    applied(conn, 201, &row)
}

pub(crate) fn replace(
    conn: &mut PgConnection,
    event: &DecodedChange,
    replace: &ReplaceGroup,
) -> Applied {
    let id = parse_id(&replace.id)?;
    let group = parse_group(&replace.resource_json)?;
    let members = member_ids(&replace.members)?;
    let current = load_for_change::<GroupRow>(conn, event, id, replace.if_match.as_deref())?;
    let row = save(conn, event, &current, &group)?;
    set_members(conn, event, id, &members)?;
    applied(conn, 200, &row)
}

pub(crate) fn patch(conn: &mut PgConnection, event: &DecodedChange, patch: &PatchGroup) -> Applied {
    let id = parse_id(&patch.id)?;
    // Everything that can reject the request is checked before anything is written.
    let (others, changes) = split_group_ops(&patch_ops(&patch.operations)?)?;
    let changes = changes.iter().map(parse_change).collect::<Result<Vec<_>, _>>()?;
    let current = load_for_change::<GroupRow>(conn, event, id, patch.if_match.as_deref())?;
    let group = apply_to_group(&Group::from_stored(current.resource.clone()), &others)?;
    save(conn, event, &current, &group)?;
    for change in changes {
        match change {
            Change::Add(ids) => add(conn, event, id, &ids)?,
            Change::Remove(ids) => groups::remove_members(conn, event.directory_id, id, &ids)?,
            Change::RemoveAll => groups::remove_all_members(conn, event.directory_id, id)?,
            Change::Replace(ids) => set_members(conn, event, id, &ids)?,
        }
    }
    // Entra expects 204 for a group PATCH (docs/entra/behaviour.md Q20).
    Ok(Decision::no_content(id))
}

pub(crate) fn delete(
    conn: &mut PgConnection,
    event: &DecodedChange,
    directory: &Directory,
    delete: &DeleteGroup,
) -> Applied {
    let id = parse_id(&delete.id)?;
    let row = load_for_change::<GroupRow>(conn, event, id, delete.if_match.as_deref())?;
    groups::remove_all_members(conn, event.directory_id, id)?;
    groups::remove_from_all_groups(conn, event.directory_id, id)?;
    deprovision(conn, directory.policy(), row, event.event_time)?;
    Ok(Decision::no_content(id))
}

/// A membership change with its ids parsed.
enum Change {
    Add(Vec<Uuid>),
    Remove(Vec<Uuid>),
    RemoveAll,
    Replace(Vec<Uuid>),
}

fn parse_change(change: &MembershipChange) -> Result<Change, ScimError> {
    Ok(match change {
        MembershipChange::Add(ids) => Change::Add(parse_member_ids(ids)?),
        // An id that is not a UUID is no member, so there is nothing to remove.
        MembershipChange::Remove(ids) => {
            Change::Remove(ids.iter().filter_map(|v| Uuid::parse_str(v).ok()).collect())
        }
        MembershipChange::RemoveAll => Change::RemoveAll,
        MembershipChange::Replace(ids) => Change::Replace(parse_member_ids(ids)?),
    })
}

fn parse_member_ids(ids: &[String]) -> Result<Vec<Uuid>, ScimError> {
    ids.iter()
        .map(|v| {
            Uuid::parse_str(v).map_err(|_| {
                ScimError::invalid_value(format!("member {v:?} is not the id of a user or group"))
            })
        })
        .collect()
}

fn member_ids(members: &[MemberRef]) -> Result<Vec<Uuid>, ScimError> {
    parse_member_ids(&members.iter().map(|m| m.value.clone()).collect::<Vec<_>>())
}

/// Add the live users and groups among `ids` (a group never contains itself).
fn add(
    conn: &mut PgConnection,
    event: &DecodedChange,
    group_id: Uuid,
    ids: &[Uuid],
) -> QueryResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let (users, member_groups) = groups::resolve_members(conn, event.directory_id, ids)?;
    let row = |member_id: Uuid, member_kind: MemberKind| MemberRow {
        directory_id: event.directory_id,
        group_id,
        member_id,
        member_kind,
        added_at: event.event_time,
    };
    let rows: Vec<MemberRow> = users
        .into_iter()
        .map(|id| row(id, MemberKind::User))
        .chain(
            member_groups
                .into_iter()
                .filter(|id| *id != group_id)
                .map(|id| row(id, MemberKind::Group)),
        )
        .collect();
    groups::add_members(conn, &rows)
}

/// Make the members exactly `ids`; members who stay keep their join time.
fn set_members(
    conn: &mut PgConnection,
    event: &DecodedChange,
    group_id: Uuid,
    ids: &[Uuid],
) -> QueryResult<()> {
    let wanted: HashSet<Uuid> = ids.iter().copied().collect();
    let current = groups::members_of(conn, event.directory_id, &[group_id])?;
    let leaving: Vec<Uuid> =
        current.iter().map(|m| m.member_id).filter(|id| !wanted.contains(id)).collect();
    groups::remove_members(conn, event.directory_id, group_id, &leaving)?;
    let present: HashSet<Uuid> = current.iter().map(|m| m.member_id).collect();
    let joining: Vec<Uuid> = ids.iter().copied().filter(|id| !present.contains(id)).collect();
    add(conn, event, group_id, &joining)
}

/// Store a new state of `current` (displayName kept unique), one version up.
fn save(
    conn: &mut PgConnection,
    event: &DecodedChange,
    current: &GroupRow,
    group: &Group,
) -> Result<GroupRow, ApplyError> {
    if !group.display_name().eq_ignore_ascii_case(&current.display_name)
        && groups::display_name_taken(
            conn,
            event.directory_id,
            group.display_name(),
            Some(current.id),
        )?
    {
        return Err(display_name_taken(group.display_name()).into());
    }
    let mut row = new_row(event, current.id, group);
    row.created_at = current.created_at;
    row.version = current.version + 1;
    groups::update(conn, &row)?;
    Ok(row)
}

/// The outcome of a create or replace: the group with its members.
fn applied(conn: &mut PgConnection, status: u16, row: &GroupRow) -> Applied {
    let members: Vec<serde_json::Value> = groups::members_of(conn, row.directory_id, &[row.id])?
        .into_iter()
        .map(|m| {
            serde_json::json!({"value": m.member_id.to_string(), "type": m.member_kind.as_str()})
        })
        .collect();
    let body = AppliedBody {
        resource: Some(row.resource.clone()),
        created: row.created_at,
        last_modified: row.last_modified,
        version: row.version,
        members: Some(serde_json::Value::Array(members)),
    };
    Ok(Decision { status, resource_id: Some(row.id), body: serde_json::to_value(body).ok() })
}

fn parse_group(resource_json: &str) -> Result<Group, ScimError> {
    serde_json::from_str(resource_json)
        .map_err(|e| ScimError::invalid_syntax(format!("resource is not JSON: {e}")))
        .and_then(Group::from_request)
        .map(|(group, _)| group)
}

fn display_name_taken(display_name: &str) -> ScimError {
    ScimError::new(
        409,
        Some(ScimType::Uniqueness),
        format!("displayName {display_name:?} is already in use in this directory"),
    )
}

fn new_row(event: &DecodedChange, id: Uuid, group: &Group) -> GroupRow {
    GroupRow {
        directory_id: event.directory_id,
        id,
        display_name: group.display_name().to_string(),
        external_id: group.external_id().map(str::to_string),
        resource: group.as_json(),
        version: 1,
        created_at: event.event_time,
        last_modified: event.event_time,
        deleted_at: None,
    }
}
