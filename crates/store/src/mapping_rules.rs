//! A directory's role-mapping rules, every version kept. Written by the projector (in log order
//! with the provisioning they affect), read by the role-mapper and the admin API.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::mapping_rules;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = mapping_rules)]
pub struct RulesRow {
    pub directory_id: Uuid,
    pub version: i64,
    /// The rules' JSON (the schema is `roster_events::rules::MappingRules`).
    pub rules: serde_json::Value,
    /// The MappingRulesChanged event that set them.
    pub event_id: Uuid,
    pub changed_at: DateTime<Utc>,
}

/// The directory's current rules (the highest version), if it ever had any.
pub fn current(conn: &mut PgConnection, directory_id: Uuid) -> QueryResult<Option<RulesRow>> {
    mapping_rules::table
        .filter(mapping_rules::directory_id.eq(directory_id))
        .order(mapping_rules::version.desc())
        .select(RulesRow::as_select())
        .first(conn)
        .optional()
}

/// Store a new version (the current one + 1, or 1) and return it.
pub fn append(
    conn: &mut PgConnection,
    directory_id: Uuid,
    rules: &serde_json::Value,
    event_id: Uuid,
    changed_at: DateTime<Utc>,
) -> QueryResult<RulesRow> {
    let version = current(conn, directory_id)?.map_or(1, |r| r.version + 1);
    let row = RulesRow { directory_id, version, rules: rules.clone(), event_id, changed_at };
    diesel::insert_into(mapping_rules::table).values(&row).execute(conn)?;
    Ok(row)
}
