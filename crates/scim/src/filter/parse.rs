//! Text → [`Filter`]: a hand-written recursive-descent parser.
//!
//! The grammar is RFC 7644 §3.4.2.2 with the leniencies described in the parent module:
//!
//! ```text
//! filter    = or-expr
//! or-expr   = and-expr *( "or" and-expr )                 ; left-associative
//! and-expr  = unary *( "and" unary )                      ; left-associative
//! unary     = "not" "(" or-expr ")" / "(" or-expr ")" / attr-expr
//! attr-expr = path "[" or-expr "]" [ "." ATTRNAME test ]  ; a value path (+ Entra's form)
//!           / path test
//! test      = "pr" / op value
//! value     = JSON string / JSON number / "true" / "false" / "null" / bare word
//! ```
//!
//! Keywords and operators are case-insensitive, whitespace is any run of ASCII whitespace, and
//! tokens are separated by whitespace or by the delimiters `( ) [ ] "`.
//!
//! Recursion only happens when entering a group (`(`, `not (`, `[`), and the number of open
//! groups is checked against the depth limit before going deeper, so the stack stays bounded
//! whatever the input. `and`/`or` chains are read with loops.

use serde_json::Number;

use super::{AttrPath, CompValue, Filter, ParseLimits};
use crate::error::ScimError;

/// Parses `input` under `limits`; see [`Filter::parse`].
pub(super) fn parse(input: &str, limits: &ParseLimits) -> Result<Filter, ScimError> {
    if input.chars().nth(limits.max_len).is_some() {
        return Err(ScimError::invalid_filter(format!(
            "filter is longer than {} characters",
            limits.max_len
        )));
    }
    if input.trim_ascii().is_empty() {
        return Err(ScimError::invalid_filter("filter is empty"));
    }
    let mut parser = Parser { input, pos: 0, limits: *limits, open_groups: 0, terms: 0 };
    let (filter, _depth) = parser.or_expr(false)?;
    parser.skip_ws();
    if parser.peek().is_some() {
        return Err(parser.error(format!(
            "expected \"and\", \"or\" or the end of the filter, found {}",
            parser.found()
        )));
    }
    Ok(filter)
}

/// A parsed sub-filter and its nesting depth (as defined on [`ParseLimits::max_depth`]).
type Parsed = (Filter, usize);

struct Parser<'a> {
    input: &'a str,
    /// Byte offset of the next unread character; always on a character boundary.
    pos: usize,
    limits: ParseLimits,
    /// How many `(`, `not (` and `[` groups enclose the current position.
    open_groups: usize,
    /// How many terms (comparisons and `pr` tests) have been read.
    terms: usize,
}

impl<'a> Parser<'a> {
    /// `or-expr`: one or more `and-expr`s joined by `or`.
    fn or_expr(&mut self, in_value_path: bool) -> Result<Parsed, ScimError> {
        let (mut filter, mut depth) = self.and_expr(in_value_path)?;
        let mut is_chain = false;
        while self.keyword("or") {
            let (right, right_depth) = self.and_expr(in_value_path)?;
            filter = Filter::Or(Box::new(filter), Box::new(right));
            depth = depth.max(right_depth);
            is_chain = true;
        }
        if is_chain {
            depth += 1;
            self.check_depth(depth)?;
        }
        Ok((filter, depth))
    }

    /// `and-expr`: one or more `unary`s joined by `and`.
    fn and_expr(&mut self, in_value_path: bool) -> Result<Parsed, ScimError> {
        let (mut filter, mut depth) = self.unary(in_value_path)?;
        let mut is_chain = false;
        while self.keyword("and") {
            let (right, right_depth) = self.unary(in_value_path)?;
            filter = Filter::And(Box::new(filter), Box::new(right));
            depth = depth.max(right_depth);
            is_chain = true;
        }
        if is_chain {
            depth += 1;
            self.check_depth(depth)?;
        }
        Ok((filter, depth))
    }

    /// `unary`: `not ( … )`, `( … )` or an attribute expression.
    fn unary(&mut self, in_value_path: bool) -> Result<Parsed, ScimError> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.error(
                "expected an attribute path, \"not\" or \"(\", found the end of the filter",
            )),
            Some('(') => {
                self.pos += 1;
                self.group(in_value_path, ')')
            }
            Some(_) => {
                let start = self.pos;
                if self.word().eq_ignore_ascii_case("not") {
                    self.skip_ws();
                    if self.peek() == Some('(') {
                        self.pos += 1;
                        let (inner, depth) = self.group(in_value_path, ')')?;
                        return Ok((Filter::Not(Box::new(inner)), depth));
                    }
                }
                // Not a negation: read it again as an attribute path (which may be named `not`).
                self.pos = start;
                self.attr_expr(in_value_path)
            }
        }
    }

    /// The inside of a group whose opening delimiter was just consumed, and its closing `close`.
    /// The group adds one level of depth.
    fn group(&mut self, in_value_path: bool, close: char) -> Result<Parsed, ScimError> {
        self.open_groups += 1;
        self.check_depth(self.open_groups)?;
        let (filter, inner_depth) = self.or_expr(in_value_path)?;
        self.skip_ws();
        if self.peek() != Some(close) {
            return Err(self.error(format!("expected {close:?}, found {}", self.found())));
        }
        self.pos += 1;
        self.open_groups -= 1;
        let depth = inner_depth + 1;
        self.check_depth(depth)?;
        Ok((filter, depth))
    }

    /// `attr-expr`: `path test`, `path[filter]`, or Entra's `path[filter].sub test`.
    fn attr_expr(&mut self, in_value_path: bool) -> Result<Parsed, ScimError> {
        let start = self.pos;
        let word = self.word();
        if word.is_empty() {
            return Err(self.error(format!("expected an attribute path, found {}", self.found())));
        }
        let path = AttrPath::parse(word).map_err(|e| self.error_at(start, e.detail))?;
        if self.peek() != Some('[') {
            return Ok((self.test(path)?, 0));
        }

        if in_value_path {
            return Err(self.error("a value path cannot contain another value path"));
        }
        self.pos += 1;
        let (inner, depth) = self.group(true, ']')?;
        if self.peek() != Some('.') {
            return Ok((Filter::ValuePath { path, filter: Box::new(inner) }, depth));
        }

        // Entra's `emails[type eq "work"].value eq "x"`: read as
        // `emails[type eq "work" and value eq "x"]`.
        self.pos += 1;
        let sub_start = self.pos;
        let name = self.word();
        let sub = match AttrPath::parse(name) {
            Ok(sub) if sub.urn.is_none() && sub.sub_attr.is_none() => sub,
            _ => {
                return Err(self.error_at(
                    sub_start,
                    format!("expected a sub-attribute name after \"].\", found {name:?}"),
                ));
            }
        };
        let test = self.test(sub)?;
        // Depth of the canonical form `path[inner and test]`: an `and` chain merges with the
        // new `and`, an `or` needs parentheses, anything else gains an `and` level.
        let depth = match inner {
            Filter::And(..) => depth,
            Filter::Or(..) => depth + 2,
            _ => depth + 1,
        };
        self.check_depth(depth)?;
        let filter = Box::new(Filter::And(Box::new(inner), Box::new(test)));
        Ok((Filter::ValuePath { path, filter }, depth))
    }

    /// `test`: `pr`, or an operator and a value, after `path`.
    fn test(&mut self, path: AttrPath) -> Result<Filter, ScimError> {
        if !self.skip_ws() {
            return Err(
                self.error(format!("expected an operator after {path}, found {}", self.found()))
            );
        }
        self.terms += 1;
        if self.terms > self.limits.max_terms {
            return Err(
                self.error(format!("filter has more than {} comparisons", self.limits.max_terms))
            );
        }
        let op_start = self.pos;
        let word = self.word();
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let Some(op) = super::CompareOp::parse(word) else {
            let found = if word.is_empty() { self.found() } else { format!("{word:?}") };
            return Err(self.error_at(
                op_start,
                format!(
                    "expected an operator (eq, ne, co, sw, ew, gt, lt, ge, le, pr) after {path}, \
                     found {found}"
                ),
            ));
        };
        self.skip_ws();
        let value_start = self.pos;
        let value = self.value()?;
        if let CompValue::String(s) = &value
            && let Some(c) = crate::limits::forbidden_char(s)
        {
            return Err(self.error_at(
                value_start,
                format!(
                    "the value compared with {path} contains {}; control characters other than \
                     tab, line feed and carriage return are not accepted",
                    crate::limits::describe_char(c)
                ),
            ));
        }
        if op.is_ordering() && matches!(value, CompValue::Bool(_) | CompValue::Null) {
            return Err(self.error_at(value_start, format!("{op} cannot compare with {value}")));
        }
        Ok(Filter::Compare { path, op, value })
    }

    /// `value`: a JSON string, number, `true`, `false` or `null` (the literals in any case), or
    /// a bare word, read as a string (Entra quirk Q15).
    fn value(&mut self) -> Result<CompValue, ScimError> {
        if self.peek() == Some('"') {
            return self.string().map(CompValue::String);
        }
        let word = self.word();
        if word.is_empty() {
            return Err(self.error(format!("expected a value, found {}", self.found())));
        }
        Ok(if word.eq_ignore_ascii_case("true") {
            CompValue::Bool(true)
        } else if word.eq_ignore_ascii_case("false") {
            CompValue::Bool(false)
        } else if word.eq_ignore_ascii_case("null") {
            CompValue::Null
        } else if let Some(number) = parse_number(word) {
            CompValue::Number(number)
        } else {
            CompValue::String(word.to_owned())
        })
    }

    /// A JSON string literal starting at the current `"`, with JSON escapes.
    fn string(&mut self) -> Result<String, ScimError> {
        let start = self.pos;
        let bytes = self.input.as_bytes();
        // Find the closing quote. Skipping the byte after a backslash is safe even inside a
        // multi-byte character: `"` and `\` never occur inside one in UTF-8.
        let mut end = start + 1;
        loop {
            match bytes.get(end) {
                None => return Err(self.error_at(start, "unterminated string")),
                Some(b'\\') => end += 2,
                Some(b'"') => break,
                Some(_) => end += 1,
            }
        }
        let literal = self.input.get(start..=end).unwrap_or_default();
        let value = serde_json::from_str::<String>(literal).map_err(|e| {
            self.error_at(start, format!("invalid string {}: {e}", snippet(literal)))
        })?;
        self.pos = end + 1;
        Ok(value)
    }

    /// Consumes `keyword` (any case) if it is the next word; otherwise consumes nothing.
    fn keyword(&mut self, keyword: &str) -> bool {
        let start = self.pos;
        self.skip_ws();
        if self.word().eq_ignore_ascii_case(keyword) {
            true
        } else {
            self.pos = start;
            false
        }
    }

    /// Consumes the next word: a run of characters that are neither whitespace nor one of the
    /// delimiters `( ) [ ] "`. Returns "" when the next character is not a word character.
    fn word(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// Consumes whitespace; returns whether there was any.
    fn skip_ws(&mut self) -> bool {
        let rest = self.rest();
        let len = rest.len() - rest.trim_ascii_start().len();
        self.pos += len;
        len > 0
    }

    fn rest(&self) -> &'a str {
        self.input.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn check_depth(&self, depth: usize) -> Result<(), ScimError> {
        if depth > self.limits.max_depth {
            Err(self
                .error(format!("filter is nested more than {} levels deep", self.limits.max_depth)))
        } else {
            Ok(())
        }
    }

    /// What comes next, for error messages: the next word or character, or the end.
    fn found(&self) -> String {
        let rest = self.rest();
        match rest.chars().next() {
            None => "the end of the filter".to_owned(),
            Some(c) if !is_word_char(c) => format!("{c:?}"),
            Some(_) => {
                let len = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
                snippet(&rest[..len])
            }
        }
    }

    fn error(&self, detail: impl Into<String>) -> ScimError {
        self.error_at(self.pos, detail)
    }

    /// An `invalidFilter` error whose detail ends with the character position of `pos`.
    fn error_at(&self, pos: usize, detail: impl Into<String>) -> ScimError {
        let column = self.input.get(..pos).map_or(0, |before| before.chars().count());
        ScimError::invalid_filter(format!(
            "{} (at character {column} of the filter)",
            detail.into()
        ))
    }
}

/// A JSON number. Integers are kept exact; other numbers are read with the standard library,
/// which rounds correctly (serde_json's default float reader may be one ulp off), so that
/// printed numbers parse back to the same value.
fn parse_number(word: &str) -> Option<Number> {
    let number = serde_json::from_str::<Number>(word).ok()?;
    if number.is_f64() { Number::from_f64(word.parse::<f64>().ok()?) } else { Some(number) }
}

fn is_word_char(c: char) -> bool {
    !c.is_ascii_whitespace() && !matches!(c, '(' | ')' | '[' | ']' | '"')
}

/// `s` quoted, shortened to at most 40 characters so error details stay small.
fn snippet(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
        None => format!("{s:?}"),
    }
}
