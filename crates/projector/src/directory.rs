//! Directory-level changes: mapping rules, settings, deletion. Like every change they are
//! applied in log order, so rules take effect exactly between the provisioning before and after.

use diesel::PgConnection;
use roster_events::DecodedChange;
use roster_events::changes::v1::{DirectorySettingsChanged, MappingRulesChanged};
use roster_events::rules::MappingRules;
use roster_scim::ScimError;
use roster_store::control::{self, DeprovisionPolicy};
use roster_store::mapping_rules;

use crate::decision::{Applied, Decision};

/// Store a new version of the directory's mapping rules (validated again: the log is the
/// authority, whoever wrote the event).
pub(crate) fn set_mapping_rules(
    conn: &mut PgConnection,
    event: &DecodedChange,
    change: &MappingRulesChanged,
) -> Applied {
    let rules = serde_json::from_str::<serde_json::Value>(&change.rules_json)
        .map_err(|e| ScimError::invalid_syntax(format!("the rules are not JSON: {e}")))
        .and_then(|json| {
            MappingRules::parse(&json).map_err(|e| ScimError::invalid_value(e.to_string()))
        })?;
    let current = mapping_rules::current(conn, event.directory_id)?;
    if let Some(expected) = change.if_version {
        let version = current.as_ref().map_or(0, |r| r.version);
        if version != expected {
            return Err(ScimError::new(
                412,
                None,
                format!("the mapping rules changed: their version is {version}"),
            )
            .into());
        }
    }
    let row = mapping_rules::append(
        conn,
        event.directory_id,
        &rules.to_json(),
        event.event_id,
        event.event_time,
    )?;
    Ok(Decision::json(
        200,
        serde_json::json!({
            "version": row.version,
            "rules": row.rules,
            "changedAt": row.changed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }),
    ))
}

pub(crate) fn change_settings(
    conn: &mut PgConnection,
    event: &DecodedChange,
    change: &DirectorySettingsChanged,
) -> Applied {
    let Some(policy) = DeprovisionPolicy::parse(&change.deprovision_policy) else {
        return Err(ScimError::invalid_value(
            "deprovisionPolicy must be \"tombstone\" or \"erase\"",
        )
        .into());
    };
    control::set_deprovision_policy(conn, event.directory_id, policy)?;
    Ok(Decision::json(200, serde_json::json!({ "deprovisionPolicy": policy.as_str() })))
}

/// Delete the directory with everything in it: users, groups, memberships, rules, tokens
/// (revoked at once on every gateway). The role-mapper notifies `directory.deleted`.
pub(crate) fn delete(conn: &mut PgConnection, event: &DecodedChange) -> Applied {
    control::delete_directory(conn, event.directory_id)?;
    Ok(Decision { status: 204, resource_id: Some(event.directory_id), body: None })
}
