//! Unit tests of the filter parser, printer and evaluator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Number, Value, json};

use super::*;
use crate::error::ScimType;

// ---------------------------------------------------------------------------------------------
// helpers

fn parse(input: &str) -> Filter {
    match Filter::parse(input) {
        Ok(filter) => filter,
        Err(e) => panic!("{input:?} should parse, got {e}"),
    }
}

/// Asserts that `input` is rejected with `400 invalidFilter` and returns the detail.
fn reject(input: &str) -> String {
    reject_with(input, &ParseLimits::default())
}

fn reject_with(input: &str, limits: &ParseLimits) -> String {
    match Filter::parse_with(input, limits) {
        Ok(filter) => panic!("{input:?} should be rejected, parsed as {filter:?}"),
        Err(e) => {
            assert_eq!(e.status, 400, "{input:?}");
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{input:?}");
            e.detail
        }
    }
}

fn path(input: &str) -> AttrPath {
    AttrPath::parse(input).unwrap()
}

fn cmp(p: &str, op: CompareOp, value: CompValue) -> Filter {
    Filter::compare(path(p), op, value)
}

fn eq(p: &str, value: &str) -> Filter {
    cmp(p, CompareOp::Eq, string(value))
}

fn string(s: &str) -> CompValue {
    CompValue::String(s.to_owned())
}

fn int(n: i64) -> CompValue {
    CompValue::Number(Number::from(n))
}

fn pr(p: &str) -> Filter {
    Filter::Present(path(p))
}

fn value_path(p: &str, filter: Filter) -> Filter {
    Filter::ValuePath { path: path(p), filter: Box::new(filter) }
}

/// Whether `resource` matches `filter` under the RFC 7643 defaults.
fn matches(filter: &str, resource: &Value) -> bool {
    parse(filter).matches(resource, &DefaultAttributeInfo)
}

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The user of `docs/entra/requests.md` §2.1 (the 201 response, trailing comma removed), with an
/// enterprise extension added for the URN tests.
fn entra_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "id": "48af03ac28ad4fb88478",
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "meta": {
            "resourceType": "User",
            "created": "2018-03-27T19:59:26.000Z",
            "lastModified": "2018-03-27T19:59:26.000Z"
        },
        "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName"
        },
        "active": true,
        "emails": [{
            "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com",
            "type": "work",
            "primary": true
        }],
        "roles": [],
        ENTERPRISE: {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        }
    })
}

/// The user the Microsoft SCIM Validator posts (`docs/entra/requests.md` §8.8): `primary` as the
/// string "True", several phone numbers, a manager in the extension.
fn validator_user() -> Value {
    json!({
        "userName": "shaniya@bauch.co.uk",
        "active": "False",
        "displayName": "BDFAIMDWZXYA",
        "emails": [{"type": "work", "value": "camille@hermannokuneva.ca", "primary": true}],
        "name": {"givenName": "Sadye", "familyName": "Keaton"},
        "addresses": [{"type": "work", "primary": true, "country": "Belize"}],
        "phoneNumbers": [
            {"type": "work", "value": "56-357-7743", "primary": true},
            {"type": "mobile", "value": "56-357-7744"},
            {"type": "fax", "value": "56-357-7745"}
        ],
        ENTERPRISE: {"manager": {"value": "GZFDHGRKQLCG"}},
        "roles": [{
            "primary": "True",
            "display": "RAJBJMKHJSNI",
            "value": "OGCIACGFVVRR",
            "type": "IJAQSLXCMJPC"
        }],
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE]
    })
}

/// The group of `docs/entra/requests.md` §3.1 (the 201 response), with two members.
fn entra_group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "927fa2c08dcb4a7fae9e",
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "meta": {
            "resourceType": "Group",
            "created": "2018-03-27T19:59:26.000Z",
            "lastModified": "2018-03-27T19:59:26.000Z"
        },
        "displayName": "displayName",
        "members": [
            {"value": "48af03ac28ad4fb88478", "$ref": "https://example.com/Users/48af03ac28ad4fb88478"},
            {"value": "5d48a0a8e9f04aa38008"}
        ]
    })
}

// ---------------------------------------------------------------------------------------------
// attribute paths

#[test]
fn attribute_paths_of_every_form_parse() {
    assert_eq!(path("userName"), AttrPath::new("userName"));
    assert_eq!(path("name.givenName"), AttrPath::new("name").with_sub_attr("givenName"));
    assert_eq!(
        path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
        AttrPath { urn: Some(ENTERPRISE.into()), attr: "manager".into(), sub_attr: None }
    );
    assert_eq!(
        path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"),
        AttrPath {
            urn: Some(ENTERPRISE.into()),
            attr: "manager".into(),
            sub_attr: Some("value".into())
        }
    );
    // The `urn:` prefix is recognised in any case.
    assert_eq!(path("URN:foo:bar:title").urn.as_deref(), Some("URN:foo:bar"));
    assert_eq!(path("members.$ref").sub_attr.as_deref(), Some("$ref"));
    assert_eq!(path("$ref").attr, "$ref");
    assert_eq!(path("x-custom_attr2").attr, "x-custom_attr2");
}

#[test]
fn malformed_attribute_paths_are_invalid_filter() {
    for bad in [
        "",
        "1abc",
        "-abc",
        "_abc",
        "a.b.c",
        "a.",
        ".a",
        "a..b",
        "urn:",
        "urn:x",
        "urn::x",
        "urn:a b:x",
        "a b",
        "é",
        "a$",
        "$",
        "urn:a:b.",
        "name.1x",
    ] {
        let e = AttrPath::parse(bad).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{bad:?}");
    }
}

#[test]
fn attribute_paths_print_canonically_and_compare_case_insensitively() {
    let manager = format!("{ENTERPRISE}:manager.value");
    assert_eq!(path(&manager).to_string(), manager);
    assert_eq!(path("name.givenName").to_string(), "name.givenName");
    assert!(path("USERNAME").matches(&path("userName")));
    assert!(path(&manager.to_uppercase()).matches(&path(&manager)));
    assert!(!path("name.givenName").matches(&path("name")));
    assert!(!path("urn:a:b:title").matches(&path("title")));
    assert!(!path("urn:a:b:title").matches(&path("urn:a:c:title")));
    assert!(path("urn:ietf:params:scim:schemas:core:2.0:User:userName").is_core());
    assert!(!path(&manager).is_core());
    assert_eq!("emails.value".parse::<AttrPath>().unwrap(), path("emails.value"));
}

// ---------------------------------------------------------------------------------------------
// parsing

#[test]
fn every_operator_parses_in_any_case() {
    for op in CompareOp::ALL {
        for keyword in [op.as_str().to_owned(), op.as_str().to_uppercase(), {
            let mut k = op.as_str().to_owned();
            k[..1].make_ascii_uppercase();
            k
        }] {
            assert_eq!(parse(&format!("title {keyword} \"x\"")), cmp("title", op, string("x")));
        }
    }
    assert_eq!(parse("title pr"), pr("title"));
    assert_eq!(parse("title PR"), pr("title"));
    assert_eq!(CompareOp::parse("Ge"), Some(CompareOp::Ge));
    assert_eq!(CompareOp::parse("pr"), None);
}

#[test]
fn values_are_json() {
    assert_eq!(parse(r#"a eq "x y""#), eq("a", "x y"));
    assert_eq!(parse("a eq 42"), cmp("a", CompareOp::Eq, int(42)));
    assert_eq!(parse("a eq -7"), cmp("a", CompareOp::Eq, int(-7)));
    assert_eq!(
        parse("a gt 1.5e3"),
        cmp("a", CompareOp::Gt, CompValue::Number(Number::from_f64(1500.0).unwrap()))
    );
    assert_eq!(parse("a eq true"), cmp("a", CompareOp::Eq, CompValue::Bool(true)));
    assert_eq!(parse("a eq False"), cmp("a", CompareOp::Eq, CompValue::Bool(false)));
    assert_eq!(parse("a eq NULL"), cmp("a", CompareOp::Eq, CompValue::Null));
    // Dates are strings.
    assert_eq!(
        parse(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#),
        cmp("meta.lastModified", CompareOp::Gt, string("2011-05-13T04:42:34Z"))
    );
    // A quoted "true" stays a string.
    assert_eq!(parse(r#"a eq "true""#), eq("a", "true"));
}

#[test]
fn string_values_take_json_escapes() {
    assert_eq!(
        parse(r#"displayName eq "say \"hi\" \\ there\n\t\u00e9\ud83d\ude00\/""#),
        eq("displayName", "say \"hi\" \\ there\n\t\u{e9}\u{1f600}/")
    );
    // Brackets, parentheses and keywords inside strings are just characters.
    assert_eq!(parse(r#"displayName eq "a) or (b eq [c]""#), eq("displayName", "a) or (b eq [c]"));
    assert_eq!(parse(r#"displayName eq """#), eq("displayName", ""));
    assert_eq!(parse("displayName eq \"Zoë 日本\""), eq("displayName", "Zoë 日本"));
}

#[test]
fn entra_test_connection_probe_parses() {
    assert_eq!(
        parse(r#"userName eq "7d420df3-9995-4831-a406-ecf8166f5f6a""#),
        eq("userName", "7d420df3-9995-4831-a406-ecf8166f5f6a")
    );
}

#[test]
fn unquoted_words_are_strings_q15() {
    assert_eq!(parse("externalId eq jyoung"), eq("externalId", "jyoung"));
    // The legacy reference check (docs/entra/requests.md §5.4).
    assert_eq!(
        parse(
            "id eq 54D382A4-2050-4C03-94D1-E769F1D15682 and \
             manager eq 2819c223-7f76-453a-919d-413861904646"
        ),
        eq("id", "54D382A4-2050-4C03-94D1-E769F1D15682")
            .and(eq("manager", "2819c223-7f76-453a-919d-413861904646"))
    );
    // Numbers and literals keep their JSON meaning.
    assert_eq!(parse("externalId eq 12345"), cmp("externalId", CompareOp::Eq, int(12345)));
    assert_eq!(parse("externalId eq 1e400"), eq("externalId", "1e400"));
    assert_eq!(parse("externalId eq 007"), eq("externalId", "007"));
    // A bare word inside a value path ends at the bracket.
    assert_eq!(parse("emails[type eq work]"), value_path("emails", eq("type", "work")));
}

#[test]
fn and_binds_tighter_than_or() {
    let a = cmp("a", CompareOp::Eq, int(1));
    let b = cmp("b", CompareOp::Eq, int(2));
    let c = cmp("c", CompareOp::Eq, int(3));
    assert_eq!(parse("a eq 1 or b eq 2 and c eq 3"), a.clone().or(b.clone().and(c.clone())));
    assert_eq!(parse("a eq 1 and b eq 2 or c eq 3"), a.clone().and(b.clone()).or(c.clone()));
    // Chains are left-associative.
    assert_eq!(parse("a eq 1 and b eq 2 and c eq 3"), a.clone().and(b.clone()).and(c.clone()));
    assert_eq!(parse("a eq 1 or b eq 2 or c eq 3"), a.clone().or(b.clone()).or(c.clone()));
    // Parentheses override precedence.
    assert_eq!(parse("(a eq 1 or b eq 2) and c eq 3"), a.clone().or(b.clone()).and(c.clone()));
    assert_eq!(parse("a eq 1 and (b eq 2 and c eq 3)"), a.clone().and(b.clone().and(c.clone())));
    assert_eq!(parse("((a eq 1))"), a);
}

#[test]
fn not_takes_a_parenthesised_filter() {
    assert_eq!(parse("not (title pr)"), !pr("title"));
    assert_eq!(parse("NOT(title pr)"), !pr("title"));
    assert_eq!(parse("not  (  title pr  )"), !pr("title"));
    assert_eq!(parse("not (a pr) and b pr"), (!pr("a")).and(pr("b")));
    assert_eq!(parse("not (not (a pr))"), !!pr("a"));
    assert_eq!(parse("a pr and not (b pr or c pr)"), pr("a").and(!pr("b").or(pr("c"))));
    // `not` without parentheses is not RFC 7644.
    reject("not a pr");
    reject("not");
    // An attribute may be called `not`.
    assert_eq!(parse(r#"not eq "x""#), eq("not", "x"));
    assert_eq!(parse("not pr"), pr("not"));
}

#[test]
fn value_paths_filter_elements() {
    assert_eq!(parse(r#"emails[type eq "work"]"#), value_path("emails", eq("type", "work")));
    // RFC 7644 §3.4.2.2's example.
    assert_eq!(
        parse(
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#
        ),
        value_path(
            "emails",
            eq("type", "work").and(cmp("value", CompareOp::Co, string("@example.com")))
        )
        .or(value_path(
            "ims",
            eq("type", "xmpp").and(cmp("value", CompareOp::Co, string("@foo.com")))
        ))
    );
    assert_eq!(
        parse(r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#),
        eq("userType", "Employee").and(value_path(
            "emails",
            eq("type", "work").and(cmp("value", CompareOp::Co, string("@example.com")))
        ))
    );
    assert_eq!(
        parse(&format!("{ENTERPRISE}:manager[value eq \"x\"]")),
        value_path(&format!("{ENTERPRISE}:manager"), eq("value", "x"))
    );
    assert_eq!(
        parse(r#"emails[ not (type eq "work") ]"#),
        value_path("emails", !eq("type", "work"))
    );
}

#[test]
fn entra_value_path_with_sub_attribute_q7() {
    let entra = parse(r#"emails[type eq "work"].value eq "user@contoso.com""#);
    assert_eq!(entra, parse(r#"emails[type eq "work" and value eq "user@contoso.com"]"#));
    assert_eq!(entra.to_string(), r#"emails[type eq "work" and value eq "user@contoso.com"]"#);
    assert_eq!(
        parse(r#"roles[primary eq "True"].value eq "Admin""#),
        value_path("roles", eq("primary", "True").and(eq("value", "Admin")))
    );
    assert_eq!(
        parse(r#"emails[type eq "work"].value pr"#),
        value_path("emails", eq("type", "work").and(pr("value")))
    );
    assert_eq!(
        parse(r#"emails[type eq "work" or type eq "home"].value eq "x""#),
        value_path("emails", eq("type", "work").or(eq("type", "home")).and(eq("value", "x")))
    );
    // Combined with other terms.
    assert_eq!(
        parse(r#"emails[type eq "work"].value eq "x" and active eq true"#),
        value_path("emails", eq("type", "work").and(eq("value", "x"))).and(cmp(
            "active",
            CompareOp::Eq,
            CompValue::Bool(true)
        ))
    );
    reject(r#"emails[type eq "work"].value"#);
    reject(r#"emails[type eq "work"]."#);
    reject(r#"emails[type eq "work"].value.x eq "a""#);
    reject(r#"emails[type eq "work"].urn:a:b eq "a""#);
}

#[test]
fn value_path_inside_value_path_is_rejected() {
    let detail = reject(r#"emails[type[value eq "x"]]"#);
    assert!(detail.contains("value path"), "{detail}");
    reject(r#"emails[(addresses[type eq "x"])]"#);
    reject(r#"emails[not (x[y pr])]"#);
    reject(r#"emails[type eq "a" and x[y eq "b"].z eq "c"]"#);
}

#[test]
fn keywords_and_names_are_case_insensitive() {
    assert_eq!(
        parse(r#"userName EQ "x" AND Not(title Pr) Or emails[Type Eq "work"]"#),
        eq("userName", "x").and(!pr("title")).or(value_path("emails", eq("Type", "work")))
    );
    // Names keep their spelling in the AST but match case-insensitively.
    let user = entra_user();
    assert!(matches(r#"USERNAME eq "test_user_00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#, &user));
    assert!(matches(r#"EMAILS[TYPE eq "WORK"]"#, &user));
}

#[test]
fn whitespace_is_lenient() {
    assert_eq!(parse("  title   pr  "), pr("title"));
    assert_eq!(parse("title\tpr\nand\r\nnickName pr"), pr("title").and(pr("nickName")));
    assert_eq!(parse("( title pr )"), pr("title"));
    assert_eq!(parse(r#"title eq"x""#), eq("title", "x"));
    assert_eq!(parse(r#"a eq "x"and b eq "y""#), eq("a", "x").and(eq("b", "y")));
}

#[test]
fn urn_qualified_paths_parse_in_filters() {
    assert_eq!(
        parse(&format!("{ENTERPRISE}:manager.value eq \"26118915\"")),
        eq(&format!("{ENTERPRISE}:manager.value"), "26118915")
    );
    assert_eq!(
        parse(&format!("{ENTERPRISE}:employeeNumber pr and userName sw \"j\"")),
        pr(&format!("{ENTERPRISE}:employeeNumber")).and(cmp(
            "userName",
            CompareOp::Sw,
            string("j")
        ))
    );
}

#[test]
fn malformed_filters_are_invalid_filter() {
    for bad in [
        "",
        "   ",
        "userName",
        "userName ",
        "userName eq",
        "userName eq ",
        r#"userName xx "a""#,
        r#"userName eq "a"#,
        r#"userName eq "a\"#,
        r#"userName eq "\x""#,
        r#"userName eq "\ud800""#,
        "userName eq \"tab\there\"",
        "(userName pr",
        "userName pr)",
        "userName pr and",
        "userName pr or",
        "and userName pr",
        "userName pr userName pr",
        "userName pr pr",
        r#"userName eq "a" "b""#,
        r#"emails[type eq "work""#,
        "emails[]",
        "emails[type eq \"x\"]]",
        "()",
        "(",
        ")",
        "[",
        "]",
        r#""userName" eq "a""#,
        "userName(eq 1)",
        "a gt true",
        "a le null",
        "a GE False",
        "1abc eq 2",
        "urn:foo eq 1",
        "name.givenName.x eq 1",
        "not (a pr",
        "not ()",
        "a eq (1)",
        "a eq [1]",
        r#"emails[type eq "work"] eq "x""#,
        "userName eq \"a\"\u{0}",
    ] {
        reject(bad);
    }
}

#[test]
fn error_details_say_where() {
    let detail = reject(r#"userName eq "a" and title xx "b""#);
    assert!(detail.contains("\"xx\""), "{detail}");
    assert!(detail.contains("at character 26"), "{detail}");
    let detail = reject("(userName pr");
    assert!(detail.contains("expected ')'"), "{detail}");
    assert!(detail.contains("the end of the filter"), "{detail}");
    // A long bad token is shortened in the detail.
    let detail = reject(&format!("userName eq \"a\" {}", "x".repeat(500)));
    assert!(detail.len() < 200, "{detail}");
}

// ---------------------------------------------------------------------------------------------
// limits

/// `n` nested parentheses around `title pr`.
fn nested_parens(n: usize) -> String {
    format!("{}title pr{}", "(".repeat(n), ")".repeat(n))
}

#[test]
fn nesting_up_to_the_limit_is_accepted_and_beyond_rejected() {
    assert_eq!(parse(&nested_parens(MAX_FILTER_DEPTH)), pr("title"));
    let detail = reject(&nested_parens(MAX_FILTER_DEPTH + 1));
    assert!(detail.contains("nested more than 32 levels"), "{detail}");

    let nots = |n: usize| format!("{}title pr{}", "not (".repeat(n), ")".repeat(n));
    parse(&nots(32));
    reject(&nots(33));

    // A value path counts one level, its inner `and` another.
    let in_value_path = format!("emails[{}]", nested_parens(31));
    parse(&in_value_path);
    reject(&format!("emails[{}]", nested_parens(32)));
    reject(&format!("{}emails[type eq \"a\"].value pr{}", "(".repeat(31), ")".repeat(31)));
    parse(&format!("{}emails[type eq \"a\"].value pr{}", "(".repeat(30), ")".repeat(30)));
}

#[test]
fn and_or_chains_count_one_level_each() {
    let three = "a eq 1 and (b eq 2 or c eq 3)";
    reject_with(three, &ParseLimits { max_len: 100, max_depth: 2, ..ParseLimits::default() });
    assert!(
        Filter::parse_with(
            three,
            &ParseLimits { max_len: 100, max_depth: 3, ..ParseLimits::default() }
        )
        .is_ok()
    );
    // A long flat chain is one level, whatever its length.
    let chain = vec![r#"members.value eq "x""#; 150].join(" or ");
    assert!(chain.len() < MAX_FILTER_LEN);
    assert!(
        Filter::parse_with(&chain, &ParseLimits { max_len: 4096, max_depth: 1, max_terms: 1000 })
            .is_ok()
    );
    reject_with(
        "a pr and b pr",
        &ParseLimits { max_len: 100, max_depth: 0, ..ParseLimits::default() },
    );
    assert!(
        Filter::parse_with(
            "a pr",
            &ParseLimits { max_len: 100, max_depth: 0, ..ParseLimits::default() }
        )
        .is_ok()
    );
}

#[test]
fn the_number_of_terms_is_limited() {
    let chain = |n: usize| vec![r#"id eq "x""#; n].join(" or ");
    parse(&chain(MAX_FILTER_TERMS));
    let detail = reject(&chain(MAX_FILTER_TERMS + 1));
    assert!(detail.contains("more than 100 comparisons"), "{detail}");
    // `pr` tests and the comparisons inside value paths count too.
    let limits = ParseLimits { max_terms: 2, ..ParseLimits::default() };
    assert!(Filter::parse_with(r#"emails[type eq "work"].value eq "x""#, &limits).is_ok());
    reject_with(r#"emails[type eq "work"].value eq "x" and a pr"#, &limits);
    reject_with("a pr and b pr and c pr", &limits);
}

#[test]
fn control_characters_in_values_are_refused() {
    for input in [
        "userName eq \"a\u{0}b\"",
        r#"userName eq "a\u0000b""#,
        r#"userName eq "\u0007""#,
        "userName eq bare\u{0}word",
        r#"emails[value eq "\u0001"]"#,
    ] {
        let detail = reject(input);
        assert!(detail.contains("control character"), "{input:?}: {detail}");
    }
    // Tab, line feed and carriage return are text; DEL is accepted.
    parse(r#"userName eq "a\tb\nc\rd""#);
    parse("userName eq \"\u{7f}\"");
}

#[test]
fn very_deep_input_is_an_error_not_a_stack_overflow() {
    for input in [
        "(".repeat(10_000),
        nested_parens(10_000),
        "not (".repeat(10_000),
        format!("emails[{}", "(".repeat(10_000)),
    ] {
        let detail =
            reject_with(&input, &ParseLimits { max_len: 1_000_000, ..ParseLimits::default() });
        assert!(detail.contains("nested"), "{detail}");
        // With the default length limit it is rejected even earlier.
        reject(&input);
    }
}

#[test]
fn length_is_limited_in_characters() {
    let with_len = |n: usize, fill: char| {
        let padding: String =
            std::iter::repeat_n(fill, n - r#"userName eq """#.chars().count()).collect();
        format!("userName eq \"{padding}\"")
    };
    let longest = with_len(MAX_FILTER_LEN, 'a');
    assert_eq!(longest.chars().count(), 4096);
    parse(&longest);
    let detail = reject(&with_len(MAX_FILTER_LEN + 1, 'a'));
    assert!(detail.contains("longer than 4096 characters"), "{detail}");
    // Characters, not bytes: 4096 three-byte characters are fine.
    parse(&with_len(MAX_FILTER_LEN, '日'));
    reject(&with_len(MAX_FILTER_LEN + 1, '日'));
    reject(&"x".repeat(1_000_000));
    assert_eq!(
        ParseLimits::default(),
        ParseLimits { max_len: 4096, max_depth: 32, max_terms: MAX_FILTER_TERMS }
    );
}

// ---------------------------------------------------------------------------------------------
// printing

#[test]
fn display_is_canonical() {
    let cases = [
        (r#"USERNAME Eq "x""#, r#"USERNAME eq "x""#),
        ("  title   PR ", "title pr"),
        ("a eq 1 or b eq 2 and c eq 3", "a eq 1 or b eq 2 and c eq 3"),
        ("(a eq 1 or b eq 2) and c eq 3", "(a eq 1 or b eq 2) and c eq 3"),
        ("a eq 1 and (b eq 2 and c eq 3)", "a eq 1 and (b eq 2 and c eq 3)"),
        ("((a eq 1 and b eq 2)) and c eq 3", "a eq 1 and b eq 2 and c eq 3"),
        ("a pr or (b pr or c pr)", "a pr or (b pr or c pr)"),
        ("a pr or (b pr and c pr)", "a pr or b pr and c pr"),
        ("NOT(a pr)", "not (a pr)"),
        ("externalId eq jyoung", r#"externalId eq "jyoung""#),
        ("a eq TRUE", "a eq true"),
        ("a ne null", "a ne null"),
        ("a gt 1.50", "a gt 1.5"),
        (r#"a eq "\u0009\"\\/""#, r#"a eq "\t\"\\/""#),
        (r#"emails[type eq "work"]"#, r#"emails[type eq "work"]"#),
    ];
    for (input, canonical) in cases {
        let filter = parse(input);
        assert_eq!(filter.to_string(), canonical, "{input:?}");
        assert_eq!(parse(canonical), filter, "{input:?}");
    }
    assert_eq!(CompValue::String("a\nb".into()).to_string(), r#""a\nb""#);
    assert_eq!(CompValue::Null.to_json(), Value::Null);
    assert_eq!(r#"a eq "b""#.parse::<Filter>().unwrap(), eq("a", "b"));
}

// ---------------------------------------------------------------------------------------------
// evaluation

#[test]
fn equality_on_case_insensitive_and_case_exact_attributes() {
    let user = entra_user();
    assert!(matches(r#"userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#, &user));
    assert!(matches(r#"userName eq "TEST_USER_00AA00AA-BB11-CC22-DD33-44EE44EE44EE""#, &user));
    assert!(!matches(r#"userName eq "7d420df3-9995-4831-a406-ecf8166f5f6a""#, &user));
    assert!(matches(r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#, &user));
    assert!(!matches(r#"externalId eq "0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF""#, &user));
    assert!(matches(r#"id eq "48af03ac28ad4fb88478""#, &user));
    assert!(!matches(r#"id eq "48AF03AC28AD4FB88478""#, &user));
    assert!(matches(r#"meta.resourceType eq "User""#, &user));
    assert!(!matches(r#"meta.resourceType eq "user""#, &user));
    assert!(matches(r#"name.givenName eq "GIVENNAME""#, &user));
}

#[test]
fn every_operator_on_strings() {
    let user = entra_user();
    let yes = [
        r#"userName ne "someone else""#,
        r#"userName co "00AA00AA""#,
        r#"userName sw "test_user""#,
        r#"userName ew "44EE44EE44EE""#,
        r#"userName gt "Test_User_00""#,
        r#"userName ge "test_user_00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#,
        r#"userName lt "U""#,
        r#"userName le "TEST_USER_00AA00AA-BB11-CC22-DD33-44EE44EE44EE""#,
        r#"name.familyName co "ilyN""#,
    ];
    let no = [
        r#"userName ne "TEST_USER_00AA00AA-BB11-CC22-DD33-44EE44EE44EE""#,
        r#"userName co "zz""#,
        r#"userName sw "user""#,
        r#"userName ew "test""#,
        r#"userName gt "u""#,
        r#"userName lt "test_user_00""#,
        r#"externalId co "0A21""#,
    ];
    for filter in yes {
        assert!(matches(filter, &user), "{filter} should match");
    }
    for filter in no {
        assert!(!matches(filter, &user), "{filter} should not match");
    }
}

#[test]
fn case_exact_ordering_compares_code_points() {
    let resource = json!({"id": "b"});
    assert!(matches(r#"id gt "B""#, &resource));
    assert!(!matches(r#"id lt "B""#, &resource));
    let resource = json!({"displayName": "b"});
    assert!(!matches(r#"displayName gt "B""#, &resource));
}

#[test]
fn multi_valued_attributes_match_if_any_element_matches() {
    let user = validator_user();
    assert!(matches(r#"phoneNumbers.type eq "mobile""#, &user));
    assert!(matches(r#"phoneNumbers.value ew "45""#, &user));
    assert!(!matches(r#"phoneNumbers.type eq "home""#, &user));
    // Without a sub-attribute, each element is compared through its `value`.
    assert!(matches(r#"phoneNumbers eq "56-357-7744""#, &user));
    assert!(matches(r#"emails eq "CAMILLE@hermannokuneva.ca""#, &user));
    assert!(matches(r#"phoneNumbers[type eq "fax" and value eq "56-357-7745"]"#, &user));
    assert!(!matches(r#"phoneNumbers[type eq "fax" and value eq "56-357-7744"]"#, &user));
    // Simple multi-valued attributes.
    assert!(matches(r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:User""#, &user));
    assert!(matches(&format!("schemas[value eq \"{ENTERPRISE}\"]"), &user));
    assert!(!matches(r#"schemas eq "urn:other""#, &user));
}

#[test]
fn entra_value_path_form_needs_one_element_matching_both() {
    let user = json!({
        "userName": "a",
        "emails": [
            {"type": "work", "value": "work@contoso.com"},
            {"type": "home", "value": "home@contoso.com"}
        ]
    });
    assert!(matches(r#"emails[type eq "work"].value eq "work@contoso.com""#, &user));
    assert!(matches(r#"emails[type eq "work"].value eq "WORK@CONTOSO.COM""#, &user));
    assert!(!matches(r#"emails[type eq "work"].value eq "home@contoso.com""#, &user));
    // Unlike two separate conditions on the attribute, which may hold for different elements.
    assert!(matches(r#"emails.type eq "work" and emails.value eq "home@contoso.com""#, &user));
    let entra = entra_user();
    assert!(matches(
        r#"emails[type eq "work"].value eq "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com""#,
        &entra
    ));
    assert!(matches(r#"emails[type eq "work" and primary eq true]"#, &entra));
}

#[test]
fn booleans_match_true_false_strings_q10() {
    let entra = entra_user(); // `active: true`, `emails[0].primary: true`
    let validator = validator_user(); // `active: "False"`, `roles[0].primary: "True"`
    for filter in [r#"emails[primary eq "True"]"#, "emails.primary eq true", "active eq TRUE"] {
        assert!(matches(filter, &entra), "{filter}");
    }
    assert!(matches(r#"active eq "true""#, &entra));
    assert!(!matches(r#"active eq "False""#, &entra));
    assert!(matches(r#"active ne "False""#, &entra));
    assert!(matches(r#"roles[primary eq "True"].value eq "OGCIACGFVVRR""#, &validator));
    assert!(matches("roles[primary eq true]", &validator));
    assert!(matches("roles.primary eq true", &validator));
    assert!(matches("active eq false", &validator));
    assert!(!matches("active eq true", &validator));
    assert!(matches("active ne true", &validator));
    // Booleans do not order, contain or equal non-booleans.
    assert!(!matches(r#"active co "t""#, &entra));
    assert!(!matches(r#"active eq "yes""#, &entra));
    assert!(!matches("active eq 1", &entra));
    assert!(!matches(r#"active gt "False""#, &entra));
}

#[test]
fn numbers_compare_numerically() {
    let resource = json!({"age": 30, "score": 2.5, "big": 18446744073709551615u64, "neg": -3});
    for filter in [
        "age eq 30",
        "age eq 30.0",
        "age gt 29",
        "age ge 30",
        "age lt 100",
        "age le 30",
        "age ne 31",
        r#"age eq "30""#,
        "score gt 2",
        "score lt 3",
        "big gt 1",
        "big gt -1",
        "neg lt 0",
        "neg lt big",
    ] {
        let expected = filter != "neg lt big"; // a bare word: a string, not comparable
        assert_eq!(matches(filter, &resource), expected, "{filter}");
    }
    for filter in ["age gt 30", "age lt 30", "age sw 3", "age co 0", r#"age eq "thirty""#] {
        assert!(!matches(filter, &resource), "{filter}");
    }
    // A number in the filter against a string attribute compares as text (Q15).
    assert!(matches("externalId eq 12345", &json!({"externalId": "12345"})));
    assert!(!matches("externalId eq 12345", &json!({"externalId": "012345"})));
}

#[test]
fn date_times_compare_chronologically() {
    let user = entra_user(); // lastModified 2018-03-27T19:59:26.000Z
    for filter in [
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified ge "2018-03-27T19:59:26Z""#,
        r#"meta.lastModified eq "2018-03-27T21:59:26+02:00""#,
        r#"meta.lastModified lt "2018-03-27T19:59:26.001Z""#,
        // Chronologically after, although "2018-03-27T20:59:26+02:00" sorts after as text.
        r#"meta.created gt "2018-03-27T20:59:26+02:00""#,
    ] {
        assert!(matches(filter, &user), "{filter}");
    }
    assert!(!matches(r#"meta.lastModified lt "2018-03-27T19:59:26Z""#, &user));
    assert!(!matches(r#"meta.lastModified gt "2019-01-01T00:00:00Z""#, &user));
}

#[test]
fn presence() {
    let resource = json!({
        "userName": "a",
        "title": "",
        "nickName": null,
        "roles": [],
        "name": {},
        "addresses": [{"type": null}],
        "emails": [{"value": "a@b.c"}],
        "x509Certificates": [null],
        "active": false,
        "count": 0
    });
    for present in ["userName", "emails", "emails.value", "active", "count"] {
        assert!(matches(&format!("{present} pr"), &resource), "{present}");
    }
    for absent in [
        "title",
        "nickName",
        "roles",
        "name",
        "name.givenName",
        "addresses",
        "addresses.type",
        "x509Certificates",
        "emails.type",
        "locale",
    ] {
        assert!(!matches(&format!("{absent} pr"), &resource), "{absent}");
        assert!(matches(&format!("not ({absent} pr)"), &resource), "{absent}");
    }
}

#[test]
fn absent_attributes_match_no_comparison_but_their_negation() {
    let user = entra_user();
    for op in CompareOp::ALL {
        let filter = format!("nickName {op} \"x\"");
        assert!(!matches(&filter, &user), "{filter}");
        assert!(matches(&format!("not ({filter})"), &user), "{filter}");
    }
    assert!(matches(r#"userName ne "x""#, &user));
    assert!(!matches("userName eq null", &user));
    assert!(matches("userName ne null", &user));
    assert!(!matches("nickName ne null", &user));
    assert!(!matches(r#"roles eq "x""#, &user));
    assert!(!matches(r#"roles[value eq "x"]"#, &user));
}

#[test]
fn complex_attribute_without_value_never_matches() {
    let user = entra_user();
    assert!(!matches(r#"name eq "givenName familyName""#, &user));
    assert!(!matches(r#"name co "given""#, &user));
    assert!(!matches(r#"meta eq "User""#, &user));
    assert!(matches(r#"name[givenName eq "givenName"]"#, &user));
}

#[test]
fn extension_attributes_by_urn() {
    let user = entra_user();
    let manager = "26118915-6090-4610-87e4-49d8ca9f808d";
    assert!(matches(&format!("{ENTERPRISE}:manager.value eq \"{manager}\""), &user));
    assert!(matches(&format!("{ENTERPRISE}:manager eq \"{manager}\""), &user));
    assert!(matches(&format!("{ENTERPRISE}:manager[value eq \"{manager}\"]"), &user));
    assert!(matches(&format!("{ENTERPRISE}:employeeNumber eq \"701984\""), &user));
    assert!(matches(
        &format!("{}:DEPARTMENT eq \"tour operations\"", ENTERPRISE.to_uppercase()),
        &user
    ));
    assert!(!matches(&format!("{ENTERPRISE}:userName pr"), &user));
    assert!(!matches("urn:example:other:2.0:User:employeeNumber pr", &user));
    // A core-schema URN names the top-level attribute.
    assert!(matches(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "Test_User""#,
        &user
    ));
    assert!(matches("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName pr", &user));
    // Without URN, an attribute missing from the core is looked up in the extensions: Entra's
    // legacy reference check (docs/entra/requests.md §5.4).
    assert!(matches(&format!("id eq 48af03ac28ad4fb88478 and manager eq {manager}"), &user));
    assert!(matches("employeeNumber eq 701984", &user));
    assert!(!matches("id eq 48af03ac28ad4fb88478 and manager eq someone-else", &user));
}

#[test]
fn json_keys_match_case_insensitively() {
    let resource = json!({
        "USERNAME": "bjensen",
        "Emails": [{"Type": "work", "VALUE": "b@example.com"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {"Manager": {"Value": "m1"}}
    });
    assert!(matches(r#"userName eq "bjensen""#, &resource));
    assert!(matches(r#"emails[type eq "work"].value eq "b@example.com""#, &resource));
    assert!(matches(r#"emails.value eq "b@example.com""#, &resource));
    assert!(matches(&format!("{ENTERPRISE}:manager.value eq \"m1\""), &resource));
}

#[test]
fn groups_members_and_display_names() {
    let group = entra_group();
    assert!(matches(r#"displayName eq "DISPLAYNAME""#, &group));
    assert!(matches(r#"members eq "5d48a0a8e9f04aa38008""#, &group));
    assert!(matches(r#"members.value eq "48af03ac28ad4fb88478""#, &group));
    assert!(matches(r#"members[value eq "48af03ac28ad4fb88478"]"#, &group));
    // members.value and $ref are case-exact.
    assert!(!matches(r#"members eq "5D48A0A8E9F04AA38008""#, &group));
    assert!(!matches(r#"members[value eq "48AF03AC28AD4FB88478"]"#, &group));
    assert!(!matches(r#"members.$ref co "/USERS/""#, &group));
    assert!(matches(r#"members.$ref co "/Users/""#, &group));
    assert!(matches(
        r#"id eq "927fa2c08dcb4a7fae9e" and members eq "48af03ac28ad4fb88478""#,
        &group
    ));
    assert!(matches(r#"members[value eq "a" or value eq "5d48a0a8e9f04aa38008"]"#, &group));
    assert!(!matches(r#"members[value eq "a" or value eq "b"]"#, &group));
}

#[test]
fn logical_operators_evaluate() {
    let user = entra_user();
    assert!(matches(r#"userName pr and active eq true"#, &user));
    assert!(!matches(r#"userName pr and active eq false"#, &user));
    assert!(matches(r#"nickName pr or active eq true"#, &user));
    assert!(!matches(r#"nickName pr or active eq false"#, &user));
    assert!(matches(r#"not (active eq false)"#, &user));
    assert!(matches(r#"title pr or userName pr and not (nickName pr)"#, &user));
    assert!(!matches(r#"(title pr or userName pr) and nickName pr"#, &user));
}

#[test]
fn non_object_resources_match_nothing() {
    for resource in [json!(null), json!("userName"), json!([{"userName": "a"}]), json!(1)] {
        assert!(!matches(r#"userName eq "a""#, &resource));
        assert!(!matches("userName pr", &resource));
    }
}

#[test]
fn default_attribute_info_follows_rfc_7643() {
    let info = DefaultAttributeInfo;
    for exact in [
        "id",
        "ID",
        "externalId",
        "meta.created",
        "meta.version",
        "members.value",
        "members.$ref",
        "manager.$ref",
        "urn:ietf:params:scim:schemas:core:2.0:User:externalId",
    ] {
        assert!(info.case_exact(&path(exact)), "{exact}");
    }
    for inexact in [
        "userName",
        "displayName",
        "emails.value",
        "emails.type",
        "name.givenName",
        "members.display",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        "urn:example:ext:2.0:User:id",
    ] {
        assert!(!info.case_exact(&path(inexact)), "{inexact}");
    }
}

#[test]
fn a_custom_attribute_info_is_honoured() {
    struct AllExact;
    impl AttributeInfo for AllExact {
        fn case_exact(&self, _: &AttrPath) -> bool {
            true
        }
    }
    let user = entra_user();
    let filter = parse(r#"userName eq "TEST_USER_00AA00AA-BB11-CC22-DD33-44EE44EE44EE""#);
    assert!(filter.matches(&user, &DefaultAttributeInfo));
    assert!(!filter.matches(&user, &AllExact));
}
