//! Property tests: printing round-trips, and no input makes the parser (or the evaluator of what
//! it accepts) panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Number, json};

use super::*;
use crate::error::ScimType;

fn attr_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
        1 => Just("$ref".to_owned()),
        // Names that are also keywords of the grammar.
        1 => prop::sample::select(vec!["not", "and", "or", "pr", "eq", "true", "null", "urn"])
            .prop_map(str::to_owned),
    ]
}

fn urn() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["urn", "URN", "Urn"]),
        prop::collection::vec("[a-zA-Z0-9.+@/-]{1,10}", 1..5),
    )
        .prop_map(|(scheme, parts)| format!("{scheme}:{}", parts.join(":")))
}

pub(crate) fn attr_path() -> impl Strategy<Value = AttrPath> {
    (prop::option::weighted(0.2, urn()), attr_name(), prop::option::of(attr_name()))
        .prop_map(|(urn, attr, sub_attr)| AttrPath { urn, attr, sub_attr })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        // Control characters other than tab, LF and CR are refused (another property shows it).
        4 => any::<String>().prop_map(|s| CompValue::String(
            s.chars().filter(|&c| c >= ' ' || matches!(c, '\t' | '\n' | '\r')).collect()
        )),
        1 => "[ -~]{0,12}".prop_map(CompValue::String),
        1 => any::<i64>().prop_map(|n| CompValue::Number(Number::from(n))),
        1 => any::<u64>().prop_map(|n| CompValue::Number(Number::from(n))),
        1 => any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(CompValue::Number)),
        1 => any::<bool>().prop_map(CompValue::Bool),
        1 => Just(CompValue::Null),
    ]
}

/// `pr` tests and comparisons, as the parser accepts them (no ordering of booleans or nulls).
fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        1 => attr_path().prop_map(Filter::Present),
        4 => (attr_path(), prop::sample::select(CompareOp::ALL.to_vec()), comp_value()).prop_map(
            |(path, op, value)| {
                let op = match value {
                    CompValue::Bool(_) | CompValue::Null if op.is_ordering() => CompareOp::Eq,
                    _ => op,
                };
                Filter::Compare { path, op, value }
            }
        ),
    ]
}

/// Filters without value paths: what may appear inside `attr[…]`.
pub(crate) fn value_filter() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| l.and(r)),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| l.or(r)),
            inner.prop_map(|f| !f),
        ]
    })
}

/// Any filter the parser accepts.
fn filter() -> impl Strategy<Value = Filter> {
    let term = prop_oneof![
        3 => leaf(),
        1 => (attr_path(), value_filter())
            .prop_map(|(path, filter)| Filter::ValuePath { path, filter: Box::new(filter) }),
    ];
    term.prop_recursive(3, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| l.and(r)),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| l.or(r)),
            inner.prop_map(|f| !f),
        ]
    })
}

/// An edit of a filter's text, at a position chosen by `Index`.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(Index, usize),
    Insert(Index, char),
    Duplicate(Index, usize),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(vec![
        '(',
        ')',
        '[',
        ']',
        '"',
        '\\',
        '.',
        ':',
        ' ',
        '\t',
        'a',
        '0',
        '-',
        'é',
        '\u{0}',
        '\u{1f600}',
    ]);
    prop_oneof![
        (any::<Index>(), 1..8usize).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (any::<Index>(), prop_oneof![interesting, any::<char>()])
            .prop_map(|(at, c)| Mutation::Insert(at, c)),
        (any::<Index>(), 1..12usize).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for mutation in mutations {
        let len = chars.len();
        match mutation {
            Mutation::Delete(at, n) if len > 0 => {
                let start = at.index(len);
                chars.drain(start..(start + n).min(len));
            }
            Mutation::Insert(at, c) => chars.insert(at.index(len + 1), *c),
            Mutation::Duplicate(at, n) if len > 0 => {
                let start = at.index(len);
                let copy: Vec<char> = chars[start..(start + n).min(len)].to_vec();
                chars.splice(start..start, copy);
            }
            Mutation::Truncate(at) if len > 0 => chars.truncate(at.index(len)),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// Sequences of filter pieces, valid or not, separated by a space or by nothing.
fn token_soup() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        // whole terms
        r#"userName eq "x""#,
        "title pr",
        "age GT 42",
        "externalId eq jyoung",
        "urn:a:b:c eq -1.5e3",
        r#"type eq "a\"b""#,
        "primary eq true",
        // structure
        "emails[",
        "]",
        r#"].value eq "x""#,
        "].value pr",
        "and",
        "OR",
        "not (",
        "(",
        ")",
        // noise
        r#"""#,
        "\\",
        "eq",
        "1e999",
        "[",
        ".",
        "urn:x:",
        "\t",
    ]);
    prop::collection::vec((piece, prop::bool::weighted(0.85)), 0..12).prop_map(|pieces| {
        pieces
            .into_iter()
            .map(|(p, space)| if space { format!("{p} ") } else { p.to_owned() })
            .collect()
    })
}

/// Parses `input`; it must succeed or fail with `400 invalidFilter`. What succeeds must print
/// to a filter that parses back to itself, and must evaluate without panicking.
fn check_total(input: &str) -> Result<(), TestCaseError> {
    match Filter::parse(input) {
        Ok(filter) => {
            let printed = filter.to_string();
            prop_assert_eq!(Filter::parse(&printed), Ok(filter.clone()), "printed: {}", printed);
            let resource = json!({
                "userName": "a", "active": "True", "emails": [{"type": "work", "value": "a@b"}],
                "name": {"givenName": "x"}, "age": 3, "schemas": ["urn:x"],
                "urn:x:y": {"manager": {"value": "m"}}
            });
            let _ = filter.matches(&resource, &DefaultAttributeInfo);
        }
        Err(e) => {
            prop_assert_eq!(e.status, 400);
            prop_assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn printing_round_trips(filter in filter()) {
        let printed = filter.to_string();
        prop_assert_eq!(Filter::parse(&printed), Ok(filter), "printed: {}", printed);
    }

    #[test]
    fn attribute_paths_round_trip(path in attr_path()) {
        prop_assert_eq!(AttrPath::parse(&path.to_string()), Ok(path));
    }

    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        check_total(&input)?;
    }

    #[test]
    fn token_soups_never_panic(input in token_soup()) {
        check_total(&input)?;
    }

    #[test]
    fn mutated_filters_never_panic(
        filter in filter(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        check_total(&apply(&filter.to_string(), &mutations))?;
    }
}
