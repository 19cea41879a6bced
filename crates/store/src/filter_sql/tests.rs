//! The SQL written for a filter, without a database (the integration tests run it on Postgres
//! and compare every answer with the in-memory evaluator's).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use roster_scim::filter::Filter;

use super::*;

fn user_sql(filter: &str) -> (String, Vec<String>) {
    translate(&Filter::parse(filter).unwrap()).unwrap().to_sql()
}

fn group_sql(filter: &str) -> (String, Vec<String>) {
    translate_group(&Filter::parse(filter).unwrap()).unwrap().to_sql()
}

const ID: &str = "26118915-6090-4a4c-b26c-6a8aac2c3a2d";

#[test]
fn values_are_bound_never_written_into_the_sql() {
    let hostile = "x'); DROP TABLE users; --";
    for filter in [
        format!(r#"userName eq "{hostile}""#),
        format!(r#"name.givenName co "{hostile}""#),
        format!(r#"emails[type eq "work" and value eq "{hostile}"]"#),
        format!(r#"urn:example:2.0:User:{} pr"#, "level"),
        format!(r#"not (externalId sw "{hostile}") or meta.created gt "{hostile}""#),
    ] {
        for (sql, binds) in [user_sql(&filter), group_sql(&filter)] {
            assert!(!sql.to_lowercase().contains("drop"), "{filter}: {sql}");
            let placeholders = sql.matches('$').count();
            assert_eq!(placeholders, binds.len(), "{filter}: {sql}");
            if filter.contains("DROP") {
                assert!(binds.iter().any(|b| b.to_lowercase().contains("drop table")), "{binds:?}");
            }
        }
    }
}

#[test]
fn entra_lookups_read_the_indexed_columns() {
    assert_eq!(
        user_sql(r#"userName eq "Ada@Contoso.com""#),
        (
            r#"(lower(users.user_name COLLATE "und-x-icu") = $1)"#.to_owned(),
            vec!["ada@contoso.com".to_owned()]
        )
    );
    assert_eq!(
        user_sql(r#"externalId eq "0A21""#),
        (
            "(users.external_id IS NOT NULL AND (users.external_id = $1))".to_owned(),
            vec!["0A21".to_owned()]
        )
    );
    assert_eq!(
        user_sql(&format!(r#"id eq "{ID}""#)),
        ("users.id = CAST($1 AS uuid)".to_owned(), vec![ID.to_owned()])
    );
    assert_eq!(
        group_sql(r#"displayName eq "Sales""#),
        (
            r#"(lower(groups.display_name COLLATE "und-x-icu") = $1)"#.to_owned(),
            vec!["sales".to_owned()]
        )
    );
}

#[test]
fn entra_member_check_is_a_probe_of_group_members() {
    let (sql, binds) = group_sql(&format!(r#"id eq "{ID}" and members eq "{ID}""#));
    assert_eq!(
        sql,
        "(groups.id = CAST($1 AS uuid) AND EXISTS (SELECT 1 FROM group_members gm1 WHERE \
         gm1.directory_id = groups.directory_id AND gm1.group_id = groups.id AND \
         gm1.member_id = CAST($2 AS uuid)))"
    );
    assert_eq!(binds, [ID, ID]);
}

#[test]
fn work_email_lookups_are_narrowed_through_the_email_index() {
    let (sql, binds) = user_sql(r#"emails[type eq "work" and value eq "Ada@Contoso.com"]"#);
    assert!(
        sql.starts_with(
            "(roster_scim_email_keys(users.resource) @> ARRAY[CAST($1 AS text)] AND EXISTS ("
        ),
        "{sql}"
    );
    assert_eq!(binds[0], "ada@contoso.com");
    // Not for groups, and not when the value could also match a number.
    assert!(!group_sql(r#"emails[value eq "a"]"#).0.contains("roster_scim_email_keys"));
    assert!(!user_sql(r#"emails[value eq "12"]"#).0.contains("roster_scim_email_keys"));
}

#[test]
fn like_patterns_escape_their_wildcards() {
    let (sql, binds) = user_sql(r#"userName sw "A_b%c\\d""#);
    assert_eq!(sql, r#"(lower(users.user_name COLLATE "und-x-icu") LIKE $1)"#);
    assert_eq!(binds, [r"a\_b\%c\\d%"]);
}

#[test]
fn what_depends_on_the_request_url_is_unsupported() {
    for filter in [r#"meta.location eq "x""#, r#"meta[location eq "x"]"#] {
        let filter = Filter::parse(filter).unwrap();
        assert!(matches!(translate(&filter), Err(FilterSqlError::Unsupported(_))));
    }
    for filter in [r#"members.$ref eq "x""#, r#"members[$ref eq "x"]"#] {
        let filter = Filter::parse(filter).unwrap();
        assert!(matches!(translate_group(&filter), Err(FilterSqlError::Unsupported(_))));
    }
    // Present, though: every resource has a location.
    assert_eq!(user_sql("meta.location pr"), ("TRUE".to_owned(), vec![]));
}

#[test]
fn display_shows_the_sql_and_its_binds() {
    let condition = translate(&Filter::parse(r#"userName eq "a""#).unwrap()).unwrap();
    assert_eq!(
        condition.to_string(),
        r#"(lower(users.user_name COLLATE "und-x-icu") = $1) -- binds: ["a"]"#
    );
}

/// Point lookups (the gateway's own pool) are single indexed `eq`s: anything that can scan a
/// directory is not one, however short.
#[test]
fn only_indexed_equalities_are_point_lookups() {
    let user = |f: &str| is_user_lookup(&Filter::parse(f).unwrap());
    let group = |f: &str| is_group_lookup(&Filter::parse(f).unwrap());
    for filter in [
        r#"userName eq "a@contoso.com""#,
        r#"USERNAME EQ "a@contoso.com""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#,
        r#"externalId eq "a""#,
        r#"id eq "4f0c3c52-6a8d-4a43-9a38-4e6c3f2a6b8e""#,
    ] {
        assert!(user(filter), "{filter}");
    }
    for filter in [
        r#"userName co "a""#,
        r#"userName sw "a""#,
        r#"userName ne "a""#,
        r#"displayName eq "a""#,
        r#"title eq "a""#,
        r#"emails[type eq "work"].value eq "a""#,
        r#"userName eq "a" or userName eq "b""#,
        r#"userName eq "a" and active eq true"#,
        r#"not (userName eq "a")"#,
        "userName pr",
        "userName eq null",
        r#"id eq "not-a-uuid""#,
        r#"id eq "4F0C3C52-6A8D-4A43-9A38-4E6C3F2A6B8E""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#,
    ] {
        assert!(!user(filter), "{filter}");
    }
    assert!(group(r#"displayName eq "Sales""#));
    assert!(group(r#"externalId eq "x""#));
    assert!(!group(r#"userName eq "a""#));
    assert!(!group(r#"members.value eq "x""#));
    assert!(!group(r#"displayName sw "S""#));
}
