//! SCIM filters (RFC 7644 §3.4.2.2): the grammar, a canonical printer and an in-memory evaluator.
//!
//! ```text
//! userName eq "bjensen"
//! emails[type eq "work" and value co "@example.com"] or not (active eq false)
//! urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915"
//! ```
//!
//! - [`Filter::parse`] turns the text of a `filter` query parameter into a [`Filter`] AST, or
//!   fails with a `400 invalidFilter` [`ScimError`]. It never panics and never recurses without
//!   bound: input length, nesting depth and the number of terms are limited ([`ParseLimits`]).
//!   Values may not hold control characters other than tab, LF and CR
//!   ([`crate::limits::forbidden_char`]): Postgres could not compare with them.
//! - `Display` prints the canonical form of a filter, which parses back to the same AST.
//! - [`Filter::matches`] evaluates a filter against a resource held as JSON, with the
//!   case-sensitivity of each attribute supplied by an [`AttributeInfo`].
//!
//! Entra ID quirks handled here (see `docs/entra/behaviour.md` §4):
//!
//! - **Q7**: the non-RFC `emails[type eq "work"].value eq "x"` form is accepted and parsed as
//!   `emails[type eq "work" and value eq "x"]` ("some element matches both").
//! - **Q10**: `primary eq "True"` matches a JSON `true`, and `primary eq true` matches the string
//!   `"True"` (booleans sent as strings, any case).
//! - **Q15**: an unquoted value that is not `true`/`false`/`null` or a number is read as a string
//!   (`externalId eq jyoung`).
//! - **Q19**: `+` to space decoding belongs to the HTTP layer; this module sees decoded text.
//!
//! The module is split into `filter/parse.rs` (text → AST) and `filter/eval.rs`
//! (AST × JSON → bool); the types and the printer live here.

mod eval;
mod parse;

#[cfg(test)]
pub(crate) mod proptests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use crate::error::ScimError;

pub use eval::{AttributeInfo, DefaultAttributeInfo};

/// Longest filter accepted by [`Filter::parse`], in characters.
pub const MAX_FILTER_LEN: usize = 4096;

/// Deepest nesting accepted by [`Filter::parse`]; see [`ParseLimits::max_depth`].
pub const MAX_FILTER_DEPTH: usize = 32;

/// Most comparisons accepted by [`Filter::parse`]; see [`ParseLimits::max_terms`].
pub const MAX_FILTER_TERMS: usize = 100;

/// Limits applied while parsing, so that hostile input costs bounded time and stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Longest accepted input, in characters (not bytes).
    pub max_len: usize,
    /// Deepest accepted nesting. A comparison or `pr` test has depth 0; each of the following
    /// adds one level around what it contains: a parenthesised group `( … )`, a negation
    /// `not ( … )`, a value path `attr[ … ]`, and a chain of `and`s or of `or`s (however many
    /// terms it has). So `a eq 1` has depth 0, `a eq 1 and b eq 2` depth 1,
    /// `a eq 1 and (b eq 2 or c eq 3)` depth 3, and 32 nested parentheses depth 32.
    pub max_depth: usize,
    /// Most terms (comparisons and `pr` tests): each becomes a condition of the SQL statement a
    /// query is answered with. Entra's `emails[type eq "work"].value eq "x"` has two.
    pub max_terms: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_len: MAX_FILTER_LEN,
            max_depth: MAX_FILTER_DEPTH,
            max_terms: MAX_FILTER_TERMS,
        }
    }
}

/// An attribute path: `userName`, `name.givenName`,
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
///
/// Names keep the spelling they were written with (so printing round-trips) but compare
/// case-insensitively with [`AttrPath::matches`]. Derived `PartialEq` is exact.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN, without the trailing `:`, when the path is fully qualified.
    pub urn: Option<String>,
    /// The attribute name.
    pub attr: String,
    /// The sub-attribute name, after a `.`.
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// A path to a top-level attribute without URN or sub-attribute.
    pub fn new(attr: impl Into<String>) -> Self {
        AttrPath { urn: None, attr: attr.into(), sub_attr: None }
    }

    /// This path with `sub_attr` as its sub-attribute.
    pub fn with_sub_attr(mut self, sub_attr: impl Into<String>) -> Self {
        self.sub_attr = Some(sub_attr.into());
        self
    }

    /// Parses an attribute path (RFC 7644 `attrPath`): `[URN ":"] ATTRNAME ["." ATTRNAME]`.
    ///
    /// A path is URN-qualified when it starts with `urn:` (any case); the attribute is then the
    /// part after the last `:`. Attribute names start with a letter (or are `$ref`-like names
    /// starting with `$`) and continue with letters, digits, `-` and `_`.
    pub fn parse(input: &str) -> Result<AttrPath, ScimError> {
        let (urn, rest) = if starts_with_urn(input) {
            // `rfind` cannot fail: the input starts with "urn:".
            let colon = input.rfind(':').unwrap_or(3);
            let urn = &input[..colon];
            if urn.len() <= "urn:".len() {
                return Err(ScimError::invalid_filter(format!(
                    "attribute path {input:?} has an empty URN"
                )));
            }
            if let Some(bad) = urn.chars().find(|&c| !is_urn_char(c)) {
                return Err(ScimError::invalid_filter(format!(
                    "attribute path {input:?} has an invalid character {bad:?} in its URN"
                )));
            }
            (Some(urn.to_owned()), &input[colon + 1..])
        } else {
            (None, input)
        };
        let (attr, sub_attr) = match rest.split_once('.') {
            Some((attr, sub)) => (attr, Some(sub)),
            None => (rest, None),
        };
        check_attr_name(attr, input)?;
        if let Some(sub) = sub_attr {
            check_attr_name(sub, input)?;
        }
        Ok(AttrPath { urn, attr: attr.to_owned(), sub_attr: sub_attr.map(str::to_owned) })
    }

    /// Whether both paths name the same attribute, ignoring case in the URN and the names.
    pub fn matches(&self, other: &AttrPath) -> bool {
        eq_opt_ignore_case(self.urn.as_deref(), other.urn.as_deref())
            && self.attr.eq_ignore_ascii_case(&other.attr)
            && eq_opt_ignore_case(self.sub_attr.as_deref(), other.sub_attr.as_deref())
    }

    /// Whether the path carries the URN of a core schema
    /// (`urn:ietf:params:scim:schemas:core:…`), which names the same attribute as no URN.
    pub fn is_core(&self) -> bool {
        self.urn.as_deref().is_none_or(is_core_urn)
    }
}

impl fmt::Display for AttrPath {
    /// The canonical form: `urn:…:attr.sub`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl FromStr for AttrPath {
    type Err = ScimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AttrPath::parse(s)
    }
}

/// A comparison operator of RFC 7644 table 3 (`pr` is [`Filter::Present`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: has a value and it is not equal.
    Ne,
    /// `co`: the string contains the value.
    Co,
    /// `sw`: the string starts with the value.
    Sw,
    /// `ew`: the string ends with the value.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `lt`: less than.
    Lt,
    /// `ge`: greater than or equal.
    Ge,
    /// `le`: less than or equal.
    Le,
}

impl CompareOp {
    /// Every operator, in RFC order.
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Lt,
        CompareOp::Ge,
        CompareOp::Le,
    ];

    /// The lower-case keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Lt => "lt",
            CompareOp::Ge => "ge",
            CompareOp::Le => "le",
        }
    }

    /// The operator for a keyword, in any case (`EQ`, `Eq`, `eq`).
    pub fn parse(keyword: &str) -> Option<CompareOp> {
        CompareOp::ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(keyword))
    }

    /// Whether this is one of the ordering operators `gt`, `lt`, `ge`, `le`.
    pub fn is_ordering(self) -> bool {
        matches!(self, CompareOp::Gt | CompareOp::Lt | CompareOp::Ge | CompareOp::Le)
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value on the right of a comparison (RFC 7644 `compValue`).
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// A JSON string, or an unquoted word accepted leniently (Entra quirk Q15).
    String(String),
    /// A JSON number, kept exactly as `serde_json` read it.
    Number(serde_json::Number),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

impl CompValue {
    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            CompValue::String(s) => serde_json::Value::String(s.clone()),
            CompValue::Number(n) => serde_json::Value::Number(n.clone()),
            CompValue::Bool(b) => serde_json::Value::Bool(*b),
            CompValue::Null => serde_json::Value::Null,
        }
    }
}

impl fmt::Display for CompValue {
    /// JSON: strings are quoted and escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::String(s) => write_json_string(f, s),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

/// A parsed SCIM filter.
///
/// Built by [`Filter::parse`]; `and` and `or` chains are left-associative
/// (`a and b and c` is `And(And(a, b), c)`).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both sides match.
    And(Box<Filter>, Box<Filter>),
    /// Either side matches.
    Or(Box<Filter>, Box<Filter>),
    /// `not ( … )`: the inner filter does not match.
    Not(Box<Filter>),
    /// `path pr`: the attribute has a non-empty value.
    Present(AttrPath),
    /// `path op value`.
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The value it is compared with.
        value: CompValue,
    },
    /// `path[filter]`: some element of the (multi-valued, complex) attribute matches `filter`,
    /// whose paths are relative to the element (`emails[type eq "work"]`).
    ///
    /// Entra's non-RFC `emails[type eq "work"].value eq "x"` is parsed as this variant with the
    /// filter `type eq "work" and value eq "x"`. A value path inside a value path is rejected by
    /// the parser.
    ValuePath {
        /// The multi-valued attribute.
        path: AttrPath,
        /// The filter each element is tested with.
        filter: Box<Filter>,
    },
}

impl Filter {
    /// Parses a filter with the default [`ParseLimits`].
    ///
    /// Every failure is a `400 invalidFilter` [`ScimError`] whose detail says what was wrong and
    /// where.
    pub fn parse(input: &str) -> Result<Filter, ScimError> {
        Filter::parse_with(input, &ParseLimits::default())
    }

    /// Parses a filter with the given limits.
    pub fn parse_with(input: &str, limits: &ParseLimits) -> Result<Filter, ScimError> {
        parse::parse(input, limits)
    }

    /// Whether `resource` (a SCIM resource as JSON) matches this filter.
    ///
    /// The rules, in short (RFC 7644 §3.4.2.2 plus Entra leniency):
    ///
    /// - Attribute names match JSON keys case-insensitively at every level. A URN-qualified path
    ///   looks inside the extension object (`resource["urn:…:enterprise:2.0:User"]["manager"]`);
    ///   a core-schema URN or no URN looks at the top level, and a path without URN that is not
    ///   found there is looked up in the extension objects (so a bare `manager` finds the
    ///   enterprise manager, as Entra's legacy reference checks expect).
    /// - Multi-valued attributes match when any element matches. A complex value compared
    ///   without a sub-attribute is compared through its `value` sub-attribute
    ///   (`emails eq "x"`, `members eq "id"`); one without `value` (`name eq "x"`) never matches.
    /// - The type of the resource's value decides how to compare: strings as text (case-folded
    ///   unless [`AttributeInfo::case_exact`]), or chronologically when both sides are RFC 3339
    ///   date-times; numbers numerically; booleans as booleans, with `"True"`/`"False"` strings
    ///   (any case) on either side read as booleans (Entra quirk Q10).
    /// - A comparison on an absent or null attribute is false for every operator, `ne` included
    ///   (`ne` means "has a value and it differs"); `not (x eq y)` is true for an absent `x`.
    /// - `co`, `sw`, `ew` only match strings; `gt`, `lt`, `ge`, `le` never match booleans.
    /// - `pr` is false for null, missing, `""`, `[]` and `{}`.
    pub fn matches(&self, resource: &serde_json::Value, attrs: &dyn AttributeInfo) -> bool {
        eval::matches(self, resource, attrs)
    }

    /// Shorthand for `Filter::And(Box::new(self), Box::new(other))`.
    pub fn and(self, other: Filter) -> Filter {
        Filter::And(Box::new(self), Box::new(other))
    }

    /// Shorthand for `Filter::Or(Box::new(self), Box::new(other))`.
    pub fn or(self, other: Filter) -> Filter {
        Filter::Or(Box::new(self), Box::new(other))
    }

    /// Shorthand for a [`Filter::Compare`].
    pub fn compare(path: AttrPath, op: CompareOp, value: CompValue) -> Filter {
        Filter::Compare { path, op, value }
    }
}

impl std::ops::Not for Filter {
    type Output = Filter;

    /// `!f` is `Filter::Not(Box::new(f))`.
    fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }
}

impl FromStr for Filter {
    type Err = ScimError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

impl fmt::Display for Filter {
    /// The canonical form: lower-case keywords, single spaces, JSON values, and parentheses only
    /// where precedence needs them, so that `Filter::parse(&f.to_string()) == Ok(f)` (for any
    /// filter the parser accepts: no value path inside a value path, no booleans or nulls with
    /// `gt`/`lt`/`ge`/`le`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::And(left, right) => {
                // `and` binds tighter than `or`; a right-nested `and` needs parentheses to keep
                // its shape, since chains are read left-associatively.
                write_operand(f, left, matches!(**left, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_operand(f, right, matches!(**right, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(left, right) => {
                write_operand(f, left, false)?;
                f.write_str(" or ")?;
                write_operand(f, right, matches!(**right, Filter::Or(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, operand: &Filter, parenthesise: bool) -> fmt::Result {
    if parenthesise { write!(f, "({operand})") } else { write!(f, "{operand}") }
}

/// Writes `s` as a JSON string literal.
fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    use fmt::Write;
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{08}' => f.write_str("\\b")?,
            '\u{0c}' => f.write_str("\\f")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

fn starts_with_urn(s: &str) -> bool {
    s.as_bytes().get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"urn:"))
}

/// Whether a URN names a core schema (`urn:ietf:params:scim:schemas:core:2.0:User`, `…:Group`).
fn is_core_urn(urn: &str) -> bool {
    const CORE: &str = "urn:ietf:params:scim:schemas:core:";
    urn.as_bytes().get(..CORE.len()).is_some_and(|p| p.eq_ignore_ascii_case(CORE.as_bytes()))
}

/// Characters allowed in the URN part of a path: printable ASCII except the filter's own
/// delimiters.
fn is_urn_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '"' | '(' | ')' | '[' | ']' | '\\')
}

/// RFC 7644 `ATTRNAME = ALPHA *(nameChar)`, plus names like `$ref`.
fn check_attr_name(name: &str, whole: &str) -> Result<(), ScimError> {
    let mut chars = name.chars();
    let valid = match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => true,
        Some('$') => !chars.as_str().is_empty(),
        _ => false,
    } && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ScimError::invalid_filter(format!(
            "{whole:?} is not a valid attribute path (bad name {name:?})"
        )))
    }
}

fn eq_opt_ignore_case(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}
