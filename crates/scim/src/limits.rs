//! What one request may hold, so that everything Roster accepts can be stored by Postgres, fits
//! its indexes and travels through the broker (docs/limits.md has the table of every limit, its
//! default and why).
//!
//! One walker checks a value against a [`Limits`], at any depth, for users, groups and PATCH
//! operations alike:
//!
//! - **Characters**: no string and no attribute name may hold a C0 control character other than
//!   tab, line feed and carriage return ([`forbidden_char`]). Postgres cannot store U+0000 in
//!   `text` or `jsonb` at all; the other C0 controls are refused because XML 1.0 and many
//!   downstream systems refuse them too. DEL (U+007F) and the C1 controls are accepted: XML 1.0
//!   allows them and Postgres stores them.
//! - **Indexed values** (`userName`, `externalId`, `displayName`, every string under `emails`,
//!   a group's `displayName` and `externalId`) are at most [`Limits::max_indexed_bytes`] bytes,
//!   so that the value, case-folded, still fits its btree or GIN index entry
//!   ([`INDEX_ENTRY_BUDGET_BYTES`]).
//! - **Other strings** are at most [`Limits::max_string_bytes`], attribute names at most
//!   [`Limits::max_key_bytes`].
//! - **Multi-valued attributes** (any JSON array) hold at most [`Limits::max_values`] values;
//!   a group's members, in a POST or PUT and summed over a PATCH, at most
//!   [`Limits::max_members`]; a PATCH has at most [`Limits::max_operations`] operations, counted
//!   after normalisation (a path-less `replace` of five attributes is five).
//!
//! Every violation is `400 invalidValue` whose detail names the attribute path (`userName`,
//! `emails[0].value`, `urn:…:CustomExt:2.0:User:costCenter`), never the value itself. Unpaired
//! UTF-16 surrogates (`"\ud800"`) never get this far: JSON parsing refuses them.

use std::fmt;

use serde_json::{Map, Value};

use crate::ScimError;
use crate::schema;

/// Default of [`Limits::max_indexed_bytes`]: 256 characters of any script (Entra's longest
/// `displayName`; a UPN is at most 113) take at most 1,024 bytes in UTF-8.
pub const MAX_INDEXED_BYTES: usize = 1_024;
/// Default of [`Limits::max_string_bytes`].
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// Default of [`Limits::max_key_bytes`]: four times the longest extension attribute name of
/// the enterprise schema (`urn:…:enterprise:2.0:User:employeeNumber`, 74 bytes).
pub const MAX_KEY_BYTES: usize = 256;
/// Default of [`Limits::max_values`].
pub const MAX_VALUES: usize = 1_000;
/// Default of [`Limits::max_members`].
pub const MAX_MEMBERS: usize = 10_000;
/// Default of [`Limits::max_operations`].
pub const MAX_OPERATIONS: usize = 1_000;

/// What one btree index entry may hold (Postgres: 2,704 bytes with 8 kB pages, after
/// compression, which random text defeats), less the entry's header (8), the text's length
/// word (4) and the `directory_id` beside it (16).
pub const INDEX_ENTRY_BUDGET_BYTES: usize = 2_704 - 8 - 4 - 16;

/// How much case folding (ICU `lower()` in Postgres, `str::to_lowercase` here) can grow a
/// string in UTF-8, as a ratio: `İ` (2 bytes) folds to `i̇` (3 bytes). A unit test checks every
/// character.
pub const FOLD_GROWTH: f64 = 1.5;

/// The largest [`Limits::max_indexed_bytes`] whose folded form still fits an index entry.
pub const MAX_INDEXABLE_BYTES: usize = (INDEX_ENTRY_BUDGET_BYTES as f64 / FOLD_GROWTH) as usize;

// The default fits, and the largest accepted value fits once folded.
const _: () = assert!(MAX_INDEXED_BYTES <= MAX_INDEXABLE_BYTES);
const _: () =
    assert!((MAX_INDEXABLE_BYTES as f64) * FOLD_GROWTH <= INDEX_ENTRY_BUDGET_BYTES as f64);

/// The limits of one request. The gateway fills them from the `[limits]` settings; the defaults
/// are the documented ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest indexed value (`userName`, `externalId`, `displayName`, `emails` values, group
    /// `displayName`/`externalId`), in bytes. At most [`MAX_INDEXABLE_BYTES`].
    pub max_indexed_bytes: usize,
    /// Longest other string, in bytes.
    pub max_string_bytes: usize,
    /// Longest attribute name (object key), in bytes.
    pub max_key_bytes: usize,
    /// Most values of a multi-valued attribute (any JSON array), members apart.
    pub max_values: usize,
    /// Most members in a group POST or PUT, and in all the operations of one PATCH together.
    pub max_members: usize,
    /// Most PATCH operations in one request, after normalisation.
    pub max_operations: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_indexed_bytes: MAX_INDEXED_BYTES,
            max_string_bytes: MAX_STRING_BYTES,
            max_key_bytes: MAX_KEY_BYTES,
            max_values: MAX_VALUES,
            max_members: MAX_MEMBERS,
            max_operations: MAX_OPERATIONS,
        }
    }
}

/// The first character of `s` that Roster does not store: a C0 control character other than
/// tab, line feed and carriage return.
pub fn forbidden_char(s: &str) -> Option<char> {
    // Fast path: only bytes below 0x20 can be C0 controls (UTF-8 continuation bytes are ≥ 0x80).
    if !s.bytes().any(|b| b < 0x20) {
        return None;
    }
    s.chars().find(|&c| c < ' ' && !matches!(c, '\t' | '\n' | '\r'))
}

/// A human description of a forbidden character, for error details: `U+0000`.
pub fn describe_char(c: char) -> String {
    format!("the control character U+{:04X}", c as u32)
}

/// Which length limit a string gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// An indexed value: [`Limits::max_indexed_bytes`].
    Indexed,
    /// Any other string: [`Limits::max_string_bytes`].
    Plain,
}

/// Where a value is, printed the way SCIM names attributes: `emails[0].value`,
/// `urn:…:CustomExt:2.0:User:costCenter`, `name.givenName`. Built on the stack while walking, and
/// only printed for an error.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Path<'a> {
    /// The resource itself.
    Root,
    /// A whole path given as text (a PATCH operation's path).
    Text(&'a str),
    /// A key of an object.
    Key(&'a Path<'a>, &'a str),
    /// An element of an array.
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("the resource"),
            Path::Text(text) => f.write_str(&shorten(text, 200)),
            Path::Key(Path::Root, key) => f.write_str(&shorten(key, 100)),
            // An attribute of an extension object is written `urn:…:attribute`.
            Path::Key(parent @ Path::Key(Path::Root, urn), key) if schema::starts_with_urn(urn) => {
                write!(f, "{parent}:{}", shorten(key, 100))
            }
            Path::Key(parent, key) => write!(f, "{parent}.{}", shorten(key, 100)),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// At most `max` characters of a name, control characters escaped, for error details.
fn shorten(name: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c < ' ' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl Limits {
    /// Checks a canonical User (without `id` and `meta`): `userName`, `externalId`,
    /// `displayName` and every string under `emails` (top level or in an extension object, as
    /// the email index finds them) are indexed.
    pub(crate) fn check_user(&self, user: &Map<String, Value>) -> Result<(), ScimError> {
        self.check_resource(user, &["userName", "externalId", "displayName"], true)
    }

    /// Checks a canonical Group without its members: `displayName` and `externalId` are indexed.
    pub(crate) fn check_group(&self, group: &Map<String, Value>) -> Result<(), ScimError> {
        self.check_resource(group, &["displayName", "externalId"], false)
    }

    fn check_resource(
        &self,
        resource: &Map<String, Value>,
        indexed: &[&str],
        emails_indexed: bool,
    ) -> Result<(), ScimError> {
        let is_emails = |key: &str| emails_indexed && key.eq_ignore_ascii_case("emails");
        for (key, value) in resource {
            let path = Path::Key(&Path::Root, key);
            self.check_key(key, &Path::Root)?;
            match value {
                Value::Object(extension) if schema::starts_with_urn(key) => {
                    for (name, value) in extension {
                        self.check_key(name, &path)?;
                        let budget = if is_emails(name) { Budget::Indexed } else { Budget::Plain };
                        self.check_value(value, &Path::Key(&path, name), budget)?;
                    }
                }
                _ => {
                    let budget = if indexed.contains(&key.as_str()) || is_emails(key) {
                        Budget::Indexed
                    } else {
                        Budget::Plain
                    };
                    self.check_value(value, &path, budget)?;
                }
            }
        }
        Ok(())
    }

    /// Checks `value` at `path`, and everything inside it, with `budget` for its strings.
    pub(crate) fn check_value(
        &self,
        value: &Value,
        path: &Path<'_>,
        budget: Budget,
    ) -> Result<(), ScimError> {
        match value {
            Value::String(s) => self.check_str(s, path, budget),
            Value::Array(items) => {
                if items.len() > self.max_values {
                    return Err(ScimError::invalid_value(format!(
                        "{path} has {} values; at most {} are accepted",
                        items.len(),
                        self.max_values
                    )));
                }
                for (index, item) in items.iter().enumerate() {
                    self.check_value(item, &Path::Index(path, index), budget)?;
                }
                Ok(())
            }
            Value::Object(object) => {
                for (key, item) in object {
                    self.check_key(key, path)?;
                    self.check_value(item, &Path::Key(path, key), budget)?;
                }
                Ok(())
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
        }
    }

    /// Checks one string: no forbidden character, not longer than its budget.
    pub(crate) fn check_str(
        &self,
        s: &str,
        path: &Path<'_>,
        budget: Budget,
    ) -> Result<(), ScimError> {
        if let Some(c) = forbidden_char(s) {
            return Err(ScimError::invalid_value(format!(
                "{path} contains {}; control characters other than tab, line feed and carriage \
                 return are not accepted",
                describe_char(c)
            )));
        }
        let (max, what) = match budget {
            Budget::Indexed => (self.max_indexed_bytes, "an indexed attribute"),
            Budget::Plain => (self.max_string_bytes, "a string"),
        };
        if s.len() > max {
            return Err(ScimError::invalid_value(format!(
                "{path} is {} bytes long; {what} may have at most {max} bytes",
                s.len()
            )));
        }
        Ok(())
    }

    /// Checks an attribute name found in the object at `parent`.
    pub(crate) fn check_key(&self, key: &str, parent: &Path<'_>) -> Result<(), ScimError> {
        let path = Path::Key(parent, key);
        if let Some(c) = forbidden_char(key) {
            return Err(ScimError::invalid_value(format!(
                "the attribute name {path} contains {}; control characters other than tab, \
                 line feed and carriage return are not accepted",
                describe_char(c)
            )));
        }
        if key.len() > self.max_key_bytes {
            return Err(ScimError::invalid_value(format!(
                "the attribute name {path} is {} bytes long; at most {} are accepted",
                key.len(),
                self.max_key_bytes
            )));
        }
        Ok(())
    }

    /// Checks the number of members a request names.
    pub(crate) fn check_member_count(&self, count: usize) -> Result<(), ScimError> {
        if count > self.max_members {
            return Err(ScimError::invalid_value(format!(
                "the request names {count} members; at most {} are accepted in one request",
                self.max_members
            )));
        }
        Ok(())
    }

    /// Checks the number of PATCH operations.
    pub(crate) fn check_operation_count(&self, count: usize) -> Result<(), ScimError> {
        if count > self.max_operations {
            return Err(ScimError::invalid_value(format!(
                "the PATCH has {count} operations; at most {} are accepted in one request",
                self.max_operations
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;
    use crate::ScimType;

    #[test]
    fn only_c0_controls_other_than_tab_lf_cr_are_forbidden() {
        assert_eq!(forbidden_char("plain ascii"), None);
        assert_eq!(forbidden_char("tab\tlf\ncr\r"), None);
        assert_eq!(forbidden_char("日本語 and DEL \u{7f} and C1 \u{85}"), None);
        assert_eq!(forbidden_char("a\u{0}b"), Some('\u{0}'));
        assert_eq!(forbidden_char("bell\u{7}"), Some('\u{7}'));
        assert_eq!(forbidden_char("\u{1f}"), Some('\u{1f}'));
        for c in (0u8..0x20).map(char::from) {
            let expected = (!matches!(c, '\t' | '\n' | '\r')).then_some(c);
            assert_eq!(forbidden_char(&format!("x{c}")), expected, "{:?}", c);
        }
        assert_eq!(describe_char('\u{0}'), "the control character U+0000");
    }

    #[test]
    fn case_folding_grows_no_character_more_than_the_budget_assumes() {
        let mut worst = 1.0_f64;
        for c in (0..=0x10_FFFF_u32).filter_map(char::from_u32) {
            let folded: String = c.to_lowercase().collect();
            worst = worst.max(folded.len() as f64 / c.len_utf8() as f64);
        }
        assert!(worst <= FOLD_GROWTH, "a character grows {worst}× when folded");
        // Final sigma is the only context-dependent mapping; it keeps its length.
        assert_eq!("ΑΣ".to_lowercase().len(), "ΑΣ".len());
    }

    #[test]
    fn paths_are_named_as_scim_names_attributes() {
        let root = Path::Root;
        let emails = Path::Key(&root, "emails");
        let first = Path::Index(&emails, 0);
        assert_eq!(Path::Key(&first, "value").to_string(), "emails[0].value");
        let ext = Path::Key(&root, "urn:x:CustomExt:2.0:User");
        assert_eq!(
            Path::Key(&ext, "costCenter").to_string(),
            "urn:x:CustomExt:2.0:User:costCenter"
        );
        let cost = Path::Key(&ext, "costCenter");
        assert_eq!(Path::Key(&cost, "a").to_string(), "urn:x:CustomExt:2.0:User:costCenter.a");
        let text = Path::Text("name");
        assert_eq!(Path::Key(&text, "givenName").to_string(), "name.givenName");
        assert_eq!(Path::Key(&root, "a\u{0}b").to_string(), "a\\u{0}b");
        assert_eq!(Path::Key(&root, &"k".repeat(300)).to_string(), format!("{}…", "k".repeat(100)));
    }

    #[test]
    fn the_walker_finds_what_is_wrong_at_any_depth() {
        let limits = Limits::default();
        let check = |value: Value| {
            let Value::Object(map) = value else { unreachable!() };
            limits.check_user(&map)
        };
        check(
            json!({"userName": "u", "emails": [{"value": "a@b.c"}], "x": {"y": [1, true, null]}}),
        )
        .unwrap();
        for (body, named) in [
            (json!({"userName": "a\u{0}"}), "userName contains the control character U+0000"),
            (json!({"x": {"y": ["ok", "b\u{1}"]}}), "x.y[1] contains the control character U+0001"),
            (
                json!({"urn:x:CustomExt:2.0:User": {"costCenter": "\u{0}"}}),
                "urn:x:CustomExt:2.0:User:costCenter contains",
            ),
            (json!({"emails": [{"value": "\u{0}"}]}), "emails[0].value contains"),
            (json!({"name": {"giv\u{0}en": "x"}}), "the attribute name name.giv\\u{0}en contains"),
            (json!({"userName": "x".repeat(1025)}), "userName is 1025 bytes long"),
            (json!({"displayName": "x".repeat(1025)}), "displayName is 1025 bytes long"),
            (json!({"externalId": "x".repeat(1025)}), "externalId is 1025 bytes long"),
            (json!({"emails": [{"value": "x".repeat(1025)}]}), "emails[0].value is 1025 bytes"),
            (
                json!({"urn:x:2.0:User": {"Emails": ["x".repeat(1025)]}}),
                "urn:x:2.0:User:Emails[0] is 1025 bytes",
            ),
            (json!({"title": "x".repeat(65_537)}), "title is 65537 bytes long"),
            (json!({"k".repeat(257): 1}), "is 257 bytes long; at most 256"),
            (json!({"roles": vec![json!({"value": "r"}); 1001]}), "roles has 1001 values"),
        ] {
            let error = check(body.clone()).unwrap_err();
            assert_eq!(error.status, 400);
            assert_eq!(error.scim_type, Some(ScimType::InvalidValue));
            assert!(error.detail.contains(named), "{body}: {}", error.detail);
        }
        // Not indexed: a long title is fine.
        check(json!({"title": "x".repeat(2000)})).unwrap();
        // A group's displayName is indexed, its other strings not.
        let Value::Object(group) = json!({"displayName": "x".repeat(1025)}) else { unreachable!() };
        assert!(limits.check_group(&group).is_err());
        let Value::Object(group) = json!({"emails": ["x".repeat(1025)]}) else { unreachable!() };
        limits.check_group(&group).unwrap();
    }
}
