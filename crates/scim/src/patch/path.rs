//! PATCH paths: `attr`, `attr.sub`, `urn:…:attr`, `attr[filter]` and `attr[filter].sub`.

use std::fmt;
use std::str::FromStr;

use super::{MAX_PATH_LEN, invalid_path};
use crate::error::ScimError;
use crate::filter::{AttrPath, Filter};

/// A PATCH path (RFC 7644 `PATH = attrPath / valuePath [subAttr]`).
///
/// `attr` carries the URN, the attribute and the sub-attribute. With a `filter` the path is a
/// value path and the sub-attribute is the one after the brackets:
///
/// | text | `attr` | `filter` |
/// |---|---|---|
/// | `name.givenName` | `name` . `givenName` | — |
/// | `urn:…:enterprise:2.0:User:manager` | `urn:…:User` : `manager` | — |
/// | `members[value eq "x"]` | `members` | `value eq "x"` |
/// | `emails[type eq "work"].value` | `emails` . `value` | `type eq "work"` |
///
/// `Display` prints the canonical text, which [`PatchPath::parse`] reads back to an equal path.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute, and the sub-attribute (after the filter, for a value path).
    pub attr: AttrPath,
    /// The value filter of a value path.
    pub filter: Option<Filter>,
}

impl PatchPath {
    /// A path without filter.
    pub fn attr(attr: AttrPath) -> PatchPath {
        PatchPath { attr, filter: None }
    }

    /// Parses a path. Failures are `400 invalidPath`.
    pub fn parse(input: &str) -> Result<PatchPath, ScimError> {
        if input.len() > MAX_PATH_LEN {
            return Err(invalid_path(format!("path is longer than {MAX_PATH_LEN} bytes")));
        }
        let text = input.trim_ascii();
        let attr_path = |s: &str| {
            AttrPath::parse(s)
                .map_err(|e| invalid_path(format!("{input:?} is not a valid path: {}", e.detail)))
        };
        let Some(open) = text.find('[') else {
            return Ok(PatchPath::attr(attr_path(text)?));
        };
        let mut attr = attr_path(&text[..open])?;
        if attr.sub_attr.is_some() {
            return Err(invalid_path(format!("{input:?}: a filter must follow an attribute")));
        }
        let close = match text.rfind(']') {
            Some(close) if close > open => close,
            _ => return Err(invalid_path(format!("{input:?}: \"[\" is not closed"))),
        };
        let filter = Filter::parse(&text[open + 1..close]).map_err(|e| {
            invalid_path(format!("{input:?} has an invalid value filter: {}", e.detail))
        })?;
        if contains_value_path(&filter) {
            return Err(invalid_path(format!("{input:?}: a value filter cannot nest")));
        }
        let rest = &text[close + 1..];
        if !rest.is_empty() {
            let sub = rest.strip_prefix('.').map(AttrPath::parse);
            match sub {
                Some(Ok(sub)) if sub.urn.is_none() && sub.sub_attr.is_none() => {
                    attr.sub_attr = Some(sub.attr);
                }
                _ => {
                    return Err(invalid_path(format!(
                        "{input:?}: expected \".subAttribute\" or the end after \"]\""
                    )));
                }
            }
        }
        Ok(PatchPath { attr, filter: Some(filter) })
    }

    /// The sub-attribute, if any.
    pub fn sub_attr(&self) -> Option<&str> {
        self.attr.sub_attr.as_deref()
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.filter {
            None => write!(f, "{}", self.attr),
            Some(filter) => {
                let base = AttrPath { sub_attr: None, ..self.attr.clone() };
                write!(f, "{base}[{filter}]")?;
                if let Some(sub) = &self.attr.sub_attr {
                    write!(f, ".{sub}")?;
                }
                Ok(())
            }
        }
    }
}

impl FromStr for PatchPath {
    type Err = ScimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PatchPath::parse(s)
    }
}

fn contains_value_path(filter: &Filter) -> bool {
    match filter {
        Filter::ValuePath { .. } => true,
        Filter::And(l, r) | Filter::Or(l, r) => contains_value_path(l) || contains_value_path(r),
        Filter::Not(inner) => contains_value_path(inner),
        Filter::Present(_) | Filter::Compare { .. } => false,
    }
}
