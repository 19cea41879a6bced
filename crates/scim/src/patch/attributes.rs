//! The attribute tables PATCH consults: a User's, and User and Group together.

use crate::schema::{self, ENTERPRISE, GROUP, Kind, USER};
use crate::user::ENTERPRISE_USER_SCHEMA;

/// The attribute table of a resource type: canonical name and kind of `attr` under `urn`.
pub(crate) type Lookup = fn(Option<&str>, &str) -> Option<(&'static str, Kind)>;

pub(super) fn user_attribute(urn: Option<&str>, attr: &str) -> Option<(&'static str, Kind)> {
    match urn {
        None => schema::find(USER, attr),
        Some(urn) if urn.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) => {
            schema::find(ENTERPRISE, attr)
        }
        Some(_) => None,
    }
}

/// User and Group attributes together, for normalising before the resource type is known.
pub(super) fn any_attribute(urn: Option<&str>, attr: &str) -> Option<(&'static str, Kind)> {
    user_attribute(urn, attr)
        .or_else(|| if urn.is_none() { schema::find(GROUP, attr) } else { None })
}
