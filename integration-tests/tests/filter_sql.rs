//! SCIM filters translated to SQL (`roster_store::filter_sql`) agree with the in-memory
//! evaluator (`Filter::matches` with `DefaultAttributeInfo`) on real Postgres, and Entra's
//! queries use indexes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use roster_integration_tests::{TestDatabase, test_settings};
use roster_scim::filter::{AttrPath, CompValue, CompareOp, DefaultAttributeInfo, Filter};
use roster_scim::group::{Group, MemberKind, MemberRef};
use roster_scim::user::{Meta, User};
use roster_store::filter_sql::{self, FilterSqlError};
use roster_store::groups::{self, GroupRow, MemberRow};
use roster_store::users::{self, UserRow};
use roster_store::{PgConnection, control};
use serde_json::{Map, Value, json};
use uuid::Uuid;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CUSTOM: &str = "urn:example:params:scim:schemas:extension:custom:2.0:User";

/// splitmix64: a seeded generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// `s` with each ASCII letter's case flipped at random.
    fn recase(&mut self, s: &str) -> String {
        s.chars()
            .map(|c| {
                if self.chance(40) {
                    if c.is_lowercase() {
                        c.to_uppercase().collect::<String>()
                    } else {
                        c.to_lowercase().collect::<String>()
                    }
                } else {
                    c.to_string()
                }
            })
            .collect()
    }
}

const FIRST: &[&str] = &[
    "ann",
    "Bob",
    "CHLOÉ",
    "dmitrí",
    "Élodie",
    "ßtefan",
    "İlker",
    "ΟΔΥΣΣΕΥΣ",
    "zoë",
    "o'brien",
    "sam_x",
    "100%",
    "back\\slash",
    "quo\"te",
    "日本",
    "emoji😀",
];
const FAMILY: &[&str] = &["Smith", "smith", "Müller", "ΣΙΣΥΦΟΣ", "", "Nguyễn", "Jensen"];
const DOMAINS: &[&str] = &["example.com", "Contoso.COM", "x.org", "ex_ample.net", "ex%ample.io"];
const TYPES: &[&str] = &["work", "Work", "home", "HOME", "other"];
const DEPARTMENTS: &[&str] = &["Sales", "sales", "R&D", "Eng_1", "Eng%1", "", "İT"];
const DATES: &[&str] = &[
    "2026-11-25T10:00:00Z",
    "2026-11-25T11:00:00+01:00",
    "2026-11-25t10:00:00.000000001z",
    "2026-11-25 09:59:59.999Z",
    "2016-12-31T23:59:60Z",
    "2017-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-11-25T10:00:00",
    "1999-01-01T00:00:00-23:59",
    "0000-01-01T00:00:00Z",
    "not a date",
];

/// None, or an externalId: a uuid, a number, a date or `name` recased.
fn random_external_id(rng: &mut Rng, name: &str) -> Option<String> {
    match rng.below(5) {
        0 => None,
        1 => Some(Uuid::new_v4().to_string()),
        2 => Some(format!("{}", 1000 + rng.below(20))),
        3 => Some(rng.pick(DATES).to_string()),
        _ => Some(rng.recase(name)),
    }
}

/// A varied but valid SCIM user body.
fn random_body(rng: &mut Rng, n: usize, manager_ids: &[String]) -> Value {
    let first = rng.pick(FIRST).to_string();
    let family = rng.pick(FAMILY).to_string();
    let mut body = Map::new();
    let user_name = match rng.below(10) {
        0 => format!("{}#{n}", DATES[rng.below(DATES.len())]),
        1 => format!("{n}"),
        _ => format!("{}.{}{n}@{}", rng.recase(&first), rng.recase(&family), rng.pick(DOMAINS)),
    };
    body.insert("userName".into(), json!(user_name));
    if let Some(external_id) = random_external_id(rng, &first) {
        body.insert("externalId".into(), json!(external_id));
    }
    if rng.chance(80) {
        let display = match rng.below(4) {
            0 => rng.recase(&format!("{first} {family}")),
            1 => first.clone(),
            2 => rng.pick(DATES).to_string(),
            _ => rng.recase("Ως ΟΔΥΣΣΕΥΣ"),
        };
        body.insert("displayName".into(), json!(display));
    }
    if rng.chance(70) {
        body.insert("name".into(), json!({"givenName": first, "familyName": family}));
    }
    match rng.below(3) {
        0 => {}
        1 => {
            body.insert("active".into(), json!(rng.chance(50)));
        }
        _ => {
            body.insert("active".into(), json!(if rng.chance(50) { "True" } else { "false" }));
        }
    }
    if rng.chance(50) {
        body.insert("title".into(), json!(rng.recase("Engineer")));
    }
    let emails: Vec<Value> = (0..rng.below(4))
        .map(|i| {
            let mut email = Map::new();
            email.insert(
                "value".into(),
                json!(format!("{}{i}@{}", rng.recase(&first), rng.pick(DOMAINS))),
            );
            if rng.chance(80) {
                email.insert("type".into(), json!(*rng.pick(TYPES)));
            }
            match rng.below(4) {
                0 => {}
                1 => {
                    email.insert("primary".into(), json!(i == 0));
                }
                2 => {
                    email.insert("primary".into(), json!(if i == 0 { "True" } else { "False" }));
                }
                _ => {
                    email.insert("Primary".into(), json!("TRUE"));
                }
            }
            Value::Object(email)
        })
        .collect();
    if !emails.is_empty() {
        body.insert("emails".into(), Value::Array(emails));
    }
    if rng.chance(30) {
        body.insert(
            "phoneNumbers".into(),
            json!([{"value": format!("+1 555 {:04}", rng.below(10000)), "type": "mobile"}]),
        );
    }
    if rng.chance(25) {
        body.insert(
            "roles".into(),
            json!([{"value": rng.pick(&["Admin", "admin", "Reader"]), "primary": "True"}]),
        );
    }
    if rng.chance(70) {
        let mut ext = Map::new();
        if rng.chance(70) {
            ext.insert("department".into(), json!(*rng.pick(DEPARTMENTS)));
        }
        if rng.chance(50) {
            ext.insert("employeeNumber".into(), json!(format!("{}", rng.below(50))));
        }
        if !manager_ids.is_empty() && rng.chance(60) {
            let manager = rng.pick(manager_ids).clone();
            ext.insert(
                "manager".into(),
                match rng.below(3) {
                    0 => json!(manager),
                    1 => json!({"value": manager}),
                    _ => json!([{"value": manager, "displayName": first}]),
                },
            );
        }
        body.insert(rng.recase(ENTERPRISE), Value::Object(ext));
    }
    if rng.chance(50) {
        // Kept as sent: booleans as strings, numbers, dates, a list.
        let mut ext = Map::new();
        ext.insert(
            "flag".into(),
            rng.pick(&[json!("True"), json!("false"), json!(true), json!("yes"), json!(false)])
                .clone(),
        );
        ext.insert(
            "level".into(),
            rng.pick(&[
                json!(1),
                json!(2),
                json!(2.5),
                json!(-3),
                json!(100.0),
                json!(18_446_744_073_709_551_615_u64),
                json!("2"),
                json!(0.1),
            ])
            .clone(),
        );
        ext.insert("since".into(), json!(*rng.pick(DATES)));
        let tags: Vec<Value> = (0..rng.below(3))
            .map(|_| {
                let tag = *rng.pick(&["a", "b_c", "x%"]);
                json!(rng.recase(tag))
            })
            .collect();
        ext.insert("tags".into(), Value::Array(tags));
        if rng.chance(30) {
            ext.insert("Level".into(), json!(7));
        }
        if rng.chance(20) {
            ext.insert(
                "empty".into(),
                rng.pick(&[json!(""), json!([]), json!({}), json!([""])]).clone(),
            );
        }
        body.insert(CUSTOM.into(), Value::Object(ext));
    }
    if rng.chance(20) {
        // Unknown top-level attributes, kept as sent.
        body.insert("score".into(), rng.pick(&[json!(42), json!(4.5), json!("42")]).clone());
    }
    Value::Object(body)
}

struct Corpus {
    db: TestDatabase,
    directory_id: Uuid,
    /// Groups (with their members) rather than users.
    groups: bool,
    /// The paths and value paths filters are generated from.
    paths: &'static [&'static str],
    element_paths: &'static [(&'static str, &'static [&'static str])],
    /// id → the resource as the gateway serves it.
    resources: BTreeMap<Uuid, Value>,
    /// Scalar values found in the corpus, by the lower-cased name of their key.
    pool: BTreeMap<String, Vec<Value>>,
}

fn served(row: &UserRow) -> Value {
    let meta = Meta {
        created: row.created_at,
        last_modified: row.last_modified,
        location: format!("https://roster.test/scim/v2/{}/Users/{}", row.directory_id, row.id),
        version: row.version,
    };
    User::from_stored(row.resource.clone()).to_resource(&row.id.to_string(), &meta)
}

fn collect(pool: &mut BTreeMap<String, Vec<Value>>, key: &str, value: &Value) {
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| collect(pool, k, v)),
        Value::Array(items) => items.iter().for_each(|v| collect(pool, key, v)),
        Value::Null => {}
        scalar => pool.entry(key.to_lowercase()).or_default().push(scalar.clone()),
    }
}

fn directory(conn: &mut PgConnection) -> Uuid {
    let tenant = control::ensure_tenant(conn, "Filter Tenant").unwrap();
    control::ensure_directory(conn, tenant.id, "Filter Directory").unwrap().id
}

fn corpus(size: usize, seed: u64) -> Corpus {
    let db = TestDatabase::create(&test_settings().database.url);
    let mut conn = db.conn();
    let directory_id = directory(&mut conn);
    let mut rng = Rng(seed);
    let base = Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap();
    let mut ids: Vec<String> = Vec::new();
    for n in 0..size {
        let body = random_body(&mut rng, n, &ids);
        let user = User::from_request(body).unwrap();
        let id = Uuid::new_v4();
        let created = base + Duration::microseconds((rng.next() % 400_000_000_000) as i64);
        let row = UserRow {
            version: 1 + rng.below(5) as i64,
            last_modified: created + Duration::microseconds((rng.next() % 9_000_000_000) as i64),
            ..UserRow::new(directory_id, id, &user, created)
        };
        users::insert(&mut conn, &row).unwrap();
        ids.push(id.to_string());
    }
    // What Postgres gives back (jsonb reorders keys), as the gateway would serve it.
    let (_, rows) =
        filter_sql::find_users(&mut conn, directory_id, None, 1, 100_000, None).unwrap();
    assert_eq!(rows.len(), size);
    let mut resources = BTreeMap::new();
    let mut pool = BTreeMap::new();
    for row in &rows {
        let resource = served(row);
        collect(&mut pool, "", &resource);
        resources.insert(row.id, resource);
    }
    Corpus {
        db,
        directory_id,
        groups: false,
        paths: PATHS,
        element_paths: ELEMENT_PATHS,
        resources,
        pool,
    }
}

impl Corpus {
    fn expected(&self, filter: &Filter) -> BTreeSet<Uuid> {
        self.resources
            .iter()
            .filter(|(_, r)| filter.matches(r, &DefaultAttributeInfo))
            .map(|(id, _)| *id)
            .collect()
    }

    fn actual(
        &self,
        conn: &mut PgConnection,
        filter: &Filter,
    ) -> Result<BTreeSet<Uuid>, FilterSqlError> {
        let (total, ids): (i64, BTreeSet<Uuid>) = if self.groups {
            let (total, rows) =
                filter_sql::find_groups(conn, self.directory_id, Some(filter), 1, 100_000, None)?;
            (total, rows.iter().map(|r| r.id).collect())
        } else {
            let (total, rows) =
                filter_sql::find_users(conn, self.directory_id, Some(filter), 1, 100_000, None)?;
            (total, rows.iter().map(|r| r.id).collect())
        };
        assert_eq!(total as usize, ids.len());
        Ok(ids)
    }

    fn check(&self, conn: &mut PgConnection, filter: &Filter) -> usize {
        let expected = self.expected(filter);
        let actual = self.actual(conn, filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        if actual != expected {
            let diff: Vec<_> = actual.symmetric_difference(&expected).take(3).collect();
            let sql = if self.groups {
                filter_sql::translate_group(filter)
            } else {
                filter_sql::translate(filter)
            }
            .unwrap();
            panic!(
                "filter {filter}\nSQL {sql}\nSQL found {} resources, the evaluator {}; differing: {}",
                actual.len(),
                expected.len(),
                diff.iter()
                    .map(|id| format!("{} (in SQL: {})", self.resources[id], actual.contains(id)))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        expected.len()
    }

    fn check_text(&self, conn: &mut PgConnection, filter: &str) -> BTreeSet<String> {
        let parsed = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e:?}"));
        self.check(conn, &parsed);
        self.expected(&parsed)
            .iter()
            .map(|id| {
                let name = if self.groups { "displayName" } else { "userName" };
                self.resources[id][name].as_str().unwrap().to_string()
            })
            .collect()
    }
}

const PATHS: &[&str] = &[
    "userName",
    "USERNAME",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    "externalId",
    "displayName",
    "id",
    "active",
    "title",
    "name",
    "name.givenName",
    "name.FAMILYNAME",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "phoneNumbers.value",
    "roles.primary",
    "roles",
    "meta",
    "meta.created",
    "meta.lastModified",
    "meta.version",
    "meta.resourceType",
    "meta.unknown",
    "schemas",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:manager.value",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "manager",
    "manager.value",
    "department",
    "urn:example:params:scim:schemas:extension:custom:2.0:User:flag",
    "flag",
    "level",
    "LEVEL",
    "since",
    "tags",
    "empty",
    "score",
    "nonexistent",
    "userName.sub",
];

const ELEMENT_PATHS: &[(&str, &[&str])] = &[
    ("emails", &["value", "type", "primary", "display", "VALUE"]),
    ("roles", &["value", "primary"]),
    ("phoneNumbers", &["value", "type"]),
    ("tags", &["value"]),
    ("name", &["givenName", "familyName"]),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        &["value", "displayName"],
    ),
    ("meta", &["created", "version", "resourceType"]),
];

fn random_value(rng: &mut Rng, corpus: &Corpus, name: &str) -> CompValue {
    let key = name.rsplit([':', '.']).next().unwrap_or(name).to_lowercase();
    let from_pool = |rng: &mut Rng, key: &str| -> Option<Value> {
        let values = corpus.pool.get(key)?;
        Some(rng.pick(values).clone())
    };
    let picked = if rng.chance(75) { from_pool(rng, &key) } else { None };
    let value = match picked {
        Some(v) => v,
        None => match rng.below(14) {
            0 => json!(true),
            1 => json!(false),
            2 => json!("True"),
            3 => json!("false"),
            4 => Value::Null,
            5 => json!(2),
            6 => json!(2.5),
            7 => json!("2"),
            8 => json!(*rng.pick(DATES)),
            9 => json!("%"),
            10 => json!("_"),
            11 => json!(""),
            12 => json!("2026-11-23T00:00:00Z"),
            _ => from_pool(rng, "value").unwrap_or(json!("x")),
        },
    };
    match value {
        Value::String(s) => {
            let s = match rng.below(6) {
                0 => rng.recase(&s),
                1 => s.chars().take(1 + rng.below(4)).collect(),
                2 => {
                    let n = s.chars().count();
                    s.chars().skip(n.saturating_sub(1 + rng.below(4))).collect()
                }
                3 if s.len() > 4 => s.chars().skip(1).take(3).collect(),
                _ => s,
            };
            CompValue::String(s)
        }
        Value::Number(n) => CompValue::Number(n),
        Value::Bool(b) => CompValue::Bool(b),
        _ => CompValue::Null,
    }
}

fn random_compare(rng: &mut Rng, corpus: &Corpus, path: &str, name: &str) -> Filter {
    let path = AttrPath::parse(path).unwrap();
    if rng.chance(12) {
        return Filter::Present(path);
    }
    let op = *rng.pick(&CompareOp::ALL);
    Filter::compare(path, op, random_value(rng, corpus, name))
}

fn random_filter(rng: &mut Rng, corpus: &Corpus, depth: usize) -> Filter {
    let leaf = depth == 0 || rng.chance(35);
    if leaf {
        if rng.chance(20) {
            let (parent, subs) = *rng.pick(corpus.element_paths);
            let mut inner = {
                let sub = *rng.pick(subs);
                random_compare(rng, corpus, sub, sub)
            };
            for _ in 0..rng.below(3) {
                let sub = *rng.pick(subs);
                let next = random_compare(rng, corpus, sub, sub);
                inner = match rng.below(3) {
                    0 => inner.or(next),
                    1 => inner.and(!next),
                    _ => inner.and(next),
                };
            }
            return Filter::ValuePath {
                path: AttrPath::parse(parent).unwrap(),
                filter: Box::new(inner),
            };
        }
        let path = *rng.pick(corpus.paths);
        return random_compare(rng, corpus, path, path);
    }
    match rng.below(3) {
        0 => random_filter(rng, corpus, depth - 1).and(random_filter(rng, corpus, depth - 1)),
        1 => random_filter(rng, corpus, depth - 1).or(random_filter(rng, corpus, depth - 1)),
        _ => !random_filter(rng, corpus, depth - 1),
    }
}

#[test]
fn generated_filters_agree_with_the_evaluator() {
    check_generated(&corpus(400, 0x5EED_F11E), 0xF117_E125, 800);
}

/// `filters` generated filters (seeded with `seed`) agree on `corpus`.
fn check_generated(corpus: &Corpus, seed: u64, filters: usize) {
    let mut conn = corpus.db.conn();
    let mut rng = Rng(seed);
    let mut non_trivial = 0;
    for _ in 0..filters {
        let filter = random_filter(&mut rng, corpus, 3);
        let matched = corpus.check(&mut conn, &filter);
        if matched > 0 && matched < corpus.resources.len() {
            non_trivial += 1;
        }
    }
    eprintln!(
        "{non_trivial} of {filters} generated filters split the corpus of {}",
        corpus.resources.len()
    );
    // The corpus and the generator are varied enough to discriminate.
    assert!(non_trivial > filters / 4, "only {non_trivial} filters split the corpus");
}

#[test]
fn hand_written_filters_agree_with_the_evaluator() {
    let corpus = corpus(200, 0x00C0_FFEE);
    let mut conn = corpus.db.conn();
    assert!(check_every_operator(&corpus, &mut conn, 7) > 500);
    for text in [
        r#"emails[type eq "work"].value eq "ann0@example.com""#,
        r#"emails[type eq "work" and value co "@contoso"]"#,
        r#"emails[type eq "WORK" and primary eq "True"]"#,
        r#"emails[primary eq true] and not (emails[type eq "home"])"#,
        r#"roles[primary eq "True"].value eq "admin""#,
        r#"active eq "True""#,
        r#"active ne false"#,
        r#"not (active eq true)"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales""#,
        r#"department sw "eng_" or department co "%""#,
        r#"meta.created gt "2026-11-22T00:00:00Z" and meta.lastModified le "2026-11-24T00:00:00+01:00""#,
        r#"meta.created ge "2026-11-23""#,
        r#"meta.resourceType eq "user" or meta.version eq "W/\"2\"""#,
        r#"meta[version eq "W/\"3\"" and created lt "2026-11-22T00:00:00Z"]"#,
        r#"since eq "2026-11-25T10:00:00Z""#,
        r#"since lt "2017-01-01T00:00:00Z" and since gt "2016-12-31T23:59:59.999999999Z""#,
        r#"level gt 2 or level eq "2" or level le 0.1"#,
        r#"level eq 18446744073709551615 or level eq 100"#,
        r#"flag eq true"#,
        r#"flag ne false"#,
        r#"empty pr"#,
        r#"tags[value co "%"]"#,
        r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:User""#,
        r#"id pr and not (externalId pr)"#,
        r#"externalId eq 1005 or externalId gt "1010""#,
        r#"displayName eq "ως οδυσσευς""#,
        r#"name.familyName eq "σισυφος""#,
        r#"userName sw "i\u0307lker""#,
    ] {
        corpus.check_text(&mut conn, text);
    }
    // meta.location depends on the request's base URL.
    for text in [r#"meta.location co "Users""#, r#"meta[location sw "https"]"#] {
        let filter = Filter::parse(text).unwrap();
        assert!(matches!(filter_sql::translate(&filter), Err(FilterSqlError::Unsupported(_))));
    }
    assert!(corpus.check(&mut conn, &Filter::parse("meta.location pr").unwrap()) > 0);
}

/// Every operator on every path of the corpus (twice, with values from the corpus and special
/// values), and `pr`; returns how many comparisons.
fn check_every_operator(corpus: &Corpus, conn: &mut PgConnection, seed: u64) -> usize {
    let mut rng = Rng(seed);
    let mut comparisons = 0;
    for path in corpus.paths {
        for op in CompareOp::ALL {
            for _ in 0..2 {
                let value = random_value(&mut rng, corpus, path);
                corpus.check(conn, &Filter::compare(AttrPath::parse(path).unwrap(), op, value));
                comparisons += 1;
            }
        }
        corpus.check(conn, &Filter::Present(AttrPath::parse(path).unwrap()));
    }
    comparisons
}

/// A small directory of known users for exact expectations.
fn known_users(conn: &mut PgConnection, directory_id: Uuid) {
    let bodies = [
        json!({"userName": "Percent%User", "externalId": "ext-1", "displayName": "Ann O'Neil",
               "emails": [{"value": "ann@Contoso.com", "type": "work", "primary": "True"},
                          {"value": "ann@home.example", "type": "home"}]}),
        json!({"userName": "PercentXUser", "externalId": "EXT-1", "displayName": "Bob \"the\" Builder",
               "emails": [{"value": "bob@contoso.com", "type": "home"},
                          {"value": "bob@work.example", "type": "Work"}]}),
        json!({"userName": "under_score", "externalId": "ext-2", "displayName": "ΟΔΥΣΣΕΥΣ",
               "emails": [{"value": "under@contoso.com", "type": "WORK", "primary": false}]}),
        json!({"userName": "underXscore", "displayName": "İstanbul",
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                   {"manager": "mgr-1", "department": "R&D"}}),
        json!({"userName": "back\\slash", "displayName": "日本語 ✓"}),
        json!({"userName": "quote\"d", "active": false}),
    ];
    let base = Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
    for (n, body) in bodies.into_iter().enumerate() {
        let user = User::from_request(body).unwrap();
        let id = Uuid::new_v4();
        let at: DateTime<Utc> = base + Duration::minutes(n as i64);
        let row = UserRow::new(directory_id, id, &user, at);
        users::insert(conn, &row).unwrap();
    }
}

#[test]
fn entra_shapes_escaping_quotes_and_unicode() {
    let db = TestDatabase::create(&test_settings().database.url);
    let mut conn = db.conn();
    let directory_id = directory(&mut conn);
    known_users(&mut conn, directory_id);
    let rows = filter_sql::find_users(&mut conn, directory_id, None, 1, 100, None).unwrap().1;
    let resources: Vec<(String, Value)> =
        rows.iter().map(|r| (r.user_name.clone(), served(r))).collect();
    let find = |conn: &mut PgConnection, text: &str| -> BTreeSet<String> {
        let filter = Filter::parse(text).unwrap();
        let (total, rows) =
            filter_sql::find_users(conn, directory_id, Some(&filter), 1, 100, None).unwrap();
        let found: BTreeSet<String> = rows.into_iter().map(|r| r.user_name).collect();
        assert_eq!(total as usize, found.len());
        let expected: BTreeSet<String> = resources
            .iter()
            .filter(|(_, r)| filter.matches(r, &DefaultAttributeInfo))
            .map(|(n, _)| n.clone())
            .collect();
        assert_eq!(found, expected, "{text}: SQL and evaluator differ");
        found
    };
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();

    // Entra's shapes.
    assert_eq!(find(&mut conn, r#"userName eq "percent%user""#), set(&["Percent%User"]));
    assert_eq!(find(&mut conn, r#"USERNAME EQ "UNDER_SCORE""#), set(&["under_score"]));
    assert_eq!(find(&mut conn, r#"externalId eq "ext-1""#), set(&["Percent%User"]));
    assert_eq!(find(&mut conn, r#"externalId eq ext-2"#), set(&["under_score"]));
    assert_eq!(
        find(&mut conn, r#"emails[type eq "work"].value eq "ANN@contoso.com""#),
        set(&["Percent%User"])
    );
    // The same element must match both: bob's contoso address is his home one.
    assert_eq!(find(&mut conn, r#"emails[type eq "work"].value eq "bob@contoso.com""#), set(&[]));
    assert_eq!(
        find(&mut conn, r#"emails[type eq "work" and value co "contoso"]"#),
        set(&["Percent%User", "under_score"])
    );
    assert_eq!(find(&mut conn, r#"displayName eq "ann o'neil""#), set(&["Percent%User"]));
    assert_eq!(
        find(&mut conn, r#"emails[primary eq "True"]"#),
        set(&["Percent%User"]),
        "\"True\" sent by Entra is stored as true and matched by \"True\""
    );
    assert_eq!(
        find(
            &mut conn,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "mgr-1""#
        ),
        set(&["underXscore"])
    );
    assert_eq!(find(&mut conn, r#"userName eq "7d420df3-9995-4831-a406-ecf8166f5f6a""#), set(&[]));

    // LIKE wildcards in values are literal.
    assert_eq!(find(&mut conn, r#"userName co "%""#), set(&["Percent%User"]));
    assert_eq!(find(&mut conn, r#"userName sw "percent%""#), set(&["Percent%User"]));
    assert_eq!(find(&mut conn, r#"userName co "_""#), set(&["under_score"]));
    assert_eq!(find(&mut conn, r#"userName ew "R_SCORE""#), set(&["under_score"]));
    assert_eq!(find(&mut conn, r#"userName co "\\""#), set(&["back\\slash"]));
    assert_eq!(find(&mut conn, r#"userName co "k\\s""#), set(&["back\\slash"]));
    // Quotes.
    assert_eq!(find(&mut conn, r#"userName eq "quote\"d""#), set(&["quote\"d"]));
    assert_eq!(find(&mut conn, r#"displayName co "\"the\"""#), set(&["PercentXUser"]));
    assert_eq!(find(&mut conn, r#"displayName sw "ann o'""#), set(&["Percent%User"]));
    // Unicode, folded as Rust folds it (final sigma, dotted capital I).
    assert_eq!(find(&mut conn, r#"displayName eq "οδυσσευς""#), set(&["under_score"]));
    assert_eq!(find(&mut conn, r#"displayName eq "ΟΔΥΣΣΕΥΣ""#), set(&["under_score"]));
    assert_eq!(find(&mut conn, r#"displayName sw "i\u0307stan""#), set(&["underXscore"]));
    assert_eq!(find(&mut conn, r#"displayName co "本語 ✓""#), set(&["back\\slash"]));
    // externalId is case-exact, userName is not.
    assert_eq!(find(&mut conn, r#"externalId eq "EXT-1""#), set(&["PercentXUser"]));
    assert_eq!(find(&mut conn, r#"externalId ne "EXT-1""#), set(&["Percent%User", "under_score"]));
    // Absent attributes match nothing, not even ne; not() of them matches.
    assert_eq!(find(&mut conn, r#"active eq false"#), set(&["quote\"d"]));
    assert_eq!(find(&mut conn, r#"active ne false"#), set(&[]));
    assert_eq!(find(&mut conn, r#"not (active eq false)"#).len(), 5);

    // Paging and sorting.
    let (total, page) = filter_sql::find_users(
        &mut conn,
        directory_id,
        Some(&Filter::parse(r#"userName pr"#).unwrap()),
        2,
        2,
        Some((&AttrPath::parse("userName").unwrap(), false)),
    )
    .unwrap();
    assert_eq!(total, 6);
    let names: Vec<_> = page.iter().map(|r| r.user_name.as_str()).collect();
    assert_eq!(names, ["Percent%User", "PercentXUser"]);
    let (_, page) = filter_sql::find_users(
        &mut conn,
        directory_id,
        None,
        1,
        1,
        Some((&AttrPath::parse("meta.created").unwrap(), true)),
    )
    .unwrap();
    assert_eq!(page[0].user_name, "quote\"d");
    assert!(matches!(
        filter_sql::find_users(
            &mut conn,
            directory_id,
            None,
            1,
            1,
            Some((&AttrPath::parse("emails.value").unwrap(), false)),
        ),
        Err(FilterSqlError::Unsupported(_))
    ));
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    line: String,
}

fn plan(conn: &mut PgConnection, directory_id: Uuid, filter: &str) -> String {
    let condition = filter_sql::translate(&Filter::parse(filter).unwrap()).unwrap();
    explain(conn, "users", directory_id, &condition)
}

/// The plan of a directory's live rows of `table` (`users` or `groups`) under `condition`.
fn explain(
    conn: &mut PgConnection,
    table: &str,
    directory_id: Uuid,
    condition: &filter_sql::Condition,
) -> String {
    let (text, binds) = condition.to_sql();
    // The directory id is this test's own; the filter's values stay bound.
    let mut query = diesel::sql_query(format!(
        "EXPLAIN SELECT {table}.id FROM {table} WHERE {table}.directory_id = '{directory_id}' \
         AND {table}.deleted_at IS NULL AND {text}"
    ))
    .into_boxed();
    for bind in binds {
        query = query.bind::<Text, _>(bind);
    }
    let lines: Vec<PlanLine> = query.load(conn).unwrap();
    lines.into_iter().map(|l| l.line).collect::<Vec<_>>().join("\n")
}

/// Insert `count` generated users into a directory, straight into the table.
fn insert_random_users(conn: &mut PgConnection, rng: &mut Rng, directory_id: Uuid, count: usize) {
    for n in 0..count {
        let user = User::from_request(random_body(rng, n, &[])).unwrap();
        let row = UserRow::new(directory_id, Uuid::new_v4(), &user, Utc::now());
        users::insert(conn, &row).unwrap();
    }
}

/// `roster_scim_email_keys` (the GIN index's keys) reads a canonical `emails` array directly
/// and any other shape through its general form (migration 000020): both give the same set of keys,
/// for the random corpus and for every shape that is not canonical.
#[test]
fn email_keys_fast_path_agrees_with_the_general_form() {
    #[derive(QueryableByName)]
    struct Keys {
        #[diesel(sql_type = diesel::sql_types::Array<Text>)]
        fast: Vec<String>,
        #[diesel(sql_type = diesel::sql_types::Array<Text>)]
        general: Vec<String>,
    }
    let corpus = corpus(200, 0xE3A1_15EE);
    let mut conn = corpus.db.conn();
    let mut resources: Vec<Value> = corpus.resources.values().cloned().collect();
    resources.extend([
        json!({"emails": [{"value": "A@x.com"}, {"value": "a@X.com"}, {"value": "Élodie@x"}]}),
        json!({"emails": [{"value": "ßtefan@x"}, {"value": "İlker@x"}, {"value": ""}]}),
        json!({"emails": [{"Value": "b@x"}]}),
        json!({"emails": [{"value": "c@x", "VALUE": "d@x"}]}),
        json!({"emails": [{"VALUE": "c@x", "Value": "d@x"}]}),
        json!({"emails": [null, {"value": "e@x"}]}),
        json!({"emails": ["f@x", {"value": "F@x"}]}),
        json!({"emails": [{"value": ["g@x", "h@x", null, 3]}]}),
        json!({"emails": [{"value": 12}, {"value": "twelve@x"}]}),
        json!({"emails": [{"value": null}, {"value": "n@x"}]}),
        json!({"emails": [{"value": "o@x"}, {"type": "work"}]}),
        json!({"emails": [{"value": {"nested": "p@x"}}]}),
        json!({"emails": {"value": "i@x"}}),
        json!({"emails": "j@x"}),
        json!({"emails": null}),
        json!({"emails": []}),
        json!({"EMAILS": [{"value": "k@x"}]}),
        json!({ENTERPRISE: {"emails": [{"value": "l@x"}]}}),
        json!({"emails": [], CUSTOM: {"emails": [{"value": "m@x"}]}}),
        json!({"emails": null, CUSTOM: {"Emails": [{"value": "q@x"}]}}),
        json!([{"emails": [{"value": "r@x"}]}]),
        json!("s@x"),
        json!({}),
    ]);
    let mut with_keys = 0;
    for resource in &resources {
        let mut keys: Keys = diesel::sql_query(
            "SELECT roster_scim_email_keys($1) AS fast, roster_scim_email_keys_general($1) AS general",
        )
        .bind::<diesel::sql_types::Jsonb, _>(resource)
        .get_result(&mut conn)
        .unwrap();
        // The index and `@>` take the keys as a set; DISTINCT gives them in no set order.
        keys.fast.sort();
        keys.general.sort();
        assert_eq!(keys.fast, keys.general, "the email keys of {resource}");
        with_keys += usize::from(!keys.fast.is_empty());
    }
    // The corpus and the shapes above do reach keys.
    assert!(with_keys > resources.len() / 2, "only {with_keys} resources have email keys");
}

#[test]
fn entra_queries_use_indexes() {
    let db = TestDatabase::create(&test_settings().database.url);
    let mut conn = db.conn();
    let directory_id = directory(&mut conn);
    let mut rng = Rng(99);
    insert_random_users(&mut conn, &mut rng, directory_id, 3000);
    diesel::sql_query("ANALYZE users").execute(&mut conn).unwrap();
    // A directory the statistics have never seen (a new tenant's initial sync, autovacuum not
    // run since): its lookups must use the same indexes, not scan the directory.
    let new_directory = {
        let tenant = control::ensure_tenant(&mut conn, "New Tenant").unwrap();
        control::ensure_directory(&mut conn, tenant.id, "New Directory").unwrap().id
    };
    insert_random_users(&mut conn, &mut rng, new_directory, 3000);
    for directory in [directory_id, new_directory] {
        for (filter, index, column) in [
            (r#"userName eq "Ann.Smith1@example.com""#, "users_user_name_key", "user_name"),
            (
                r#"externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#,
                "users_external_id",
                "external_id",
            ),
            (r#"displayName eq "Ann Smith""#, "users_display_name_fold", "display_name"),
            (r#"id eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef""#, "users_pkey", "(id ="),
        ] {
            let plan = plan(&mut conn, directory, filter);
            assert!(plan.contains("Index") && plan.contains(index), "{filter}:\n{plan}");
            // The looked-up value is an index condition, not a filter over the directory.
            let condition = plan.lines().find(|l| l.contains("Index Cond")).unwrap_or_default();
            assert!(condition.contains(column), "{filter}:\n{plan}");
        }
    }
    // The Entra email query narrows through the GIN index of folded email values.
    let plan =
        plan(&mut conn, directory_id, r#"emails[type eq "work"].value eq "Ann0@Example.com""#);
    assert!(plan.contains("users_email_keys"), "{plan}");
}

// ---------------------------------------------------------------------------------------------
// Groups: the same agreement, on groups as the gateway serves them, members included.

const GROUP_EXT: &str = "urn:example:params:scim:schemas:extension:custom:2.0:Group";
const GROUP_NAMES: &[&str] = &[
    "Sales",
    "sales team",
    "ΣΑΣ",
    "R&D",
    "Eng_1",
    "100%",
    "İstanbul",
    "quo\"te",
    "2026-11-25T10:00:00Z",
    "日本",
];

/// A varied but valid SCIM group body (members apart). `n` keeps displayNames unique.
fn random_group_body(rng: &mut Rng, n: usize) -> Value {
    let name = *rng.pick(GROUP_NAMES);
    let mut body = Map::new();
    body.insert("displayName".into(), json!(format!("{} {n}", rng.recase(name))));
    if let Some(external_id) = random_external_id(rng, name) {
        body.insert("externalId".into(), json!(external_id));
    }
    if rng.chance(50) {
        let tags: Vec<Value> = (0..rng.below(3))
            .map(|_| {
                let tag = *rng.pick(&["a", "b_c", "x%"]);
                json!(rng.recase(tag))
            })
            .collect();
        body.insert(
            GROUP_EXT.into(),
            json!({
                "level": rng.pick(&[json!(1), json!(2), json!(2.5), json!("2")]).clone(),
                "since": *rng.pick(DATES),
                "tags": tags,
            }),
        );
    }
    if rng.chance(30) {
        body.insert("note".into(), json!(rng.recase("Team")));
    }
    Value::Object(body)
}

fn served_group(row: &GroupRow, members: &[MemberRow]) -> Value {
    let meta = Meta {
        created: row.created_at,
        last_modified: row.last_modified,
        location: format!("https://roster.test/scim/v2/{}/Groups/{}", row.directory_id, row.id),
        version: row.version,
    };
    let refs: Vec<MemberRef> = members
        .iter()
        .filter(|m| m.group_id == row.id)
        .map(|m| MemberRef::stored(m.member_id.to_string(), Some(m.member_kind), None))
        .collect();
    Group::from_stored(row.resource.clone()).to_resource(&row.id.to_string(), &meta, Some(&refs))
}

/// `size` groups with 0 to 5 members each, from a pool of users and of the groups made before.
fn group_corpus(size: usize, seed: u64) -> Corpus {
    let db = TestDatabase::create(&test_settings().database.url);
    let mut conn = db.conn();
    let directory_id = directory(&mut conn);
    let mut rng = Rng(seed);
    let base = Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap();
    let users: Vec<Uuid> = (0..30).map(|_| Uuid::new_v4()).collect();
    let mut made: Vec<Uuid> = Vec::new();
    for n in 0..size {
        let (group, _) = Group::from_request(random_group_body(&mut rng, n)).unwrap();
        let id = Uuid::new_v4();
        let created = base + Duration::microseconds((rng.next() % 400_000_000_000) as i64);
        let row = GroupRow {
            directory_id,
            id,
            display_name: group.display_name().to_string(),
            external_id: group.external_id().map(str::to_string),
            resource: group.into_json(),
            version: 1 + rng.below(5) as i64,
            created_at: created,
            last_modified: created + Duration::microseconds((rng.next() % 9_000_000_000) as i64),
            // A few tombstones, which no filter finds.
            deleted_at: (n % 25 == 24).then_some(created),
        };
        assert!(groups::insert_if_absent(&mut conn, &row).unwrap());
        let mut members: BTreeMap<Uuid, MemberKind> = BTreeMap::new();
        for _ in 0..rng.below(6) {
            if !made.is_empty() && rng.chance(25) {
                members.insert(*rng.pick(&made), MemberKind::Group);
            } else {
                members.insert(*rng.pick(&users), MemberKind::User);
            }
        }
        let rows: Vec<MemberRow> = members
            .into_iter()
            .map(|(member_id, kind)| MemberRow {
                directory_id,
                group_id: id,
                member_id,
                member_kind: kind,
                added_at: created,
            })
            .collect();
        groups::add_members(&mut conn, &rows).unwrap();
        made.push(id);
    }
    let (_, rows) =
        filter_sql::find_groups(&mut conn, directory_id, None, 1, 100_000, None).unwrap();
    assert_eq!(rows.len(), size - size / 25);
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let members = groups::members_of(&mut conn, directory_id, &ids).unwrap();
    let mut resources = BTreeMap::new();
    let mut pool = BTreeMap::new();
    for row in &rows {
        let resource = served_group(row, &members);
        collect(&mut pool, "", &resource);
        resources.insert(row.id, resource);
    }
    // Member ids (and a user in no group) for `members eq …`.
    let mut member_values: Vec<Value> =
        members.iter().map(|m| json!(m.member_id.to_string())).collect();
    member_values.push(json!(Uuid::new_v4().to_string()));
    pool.insert("members".into(), member_values);
    Corpus {
        db,
        directory_id,
        groups: true,
        paths: GROUP_PATHS,
        element_paths: GROUP_ELEMENT_PATHS,
        resources,
        pool,
    }
}

const GROUP_PATHS: &[&str] = &[
    "id",
    "ID",
    "displayName",
    "DISPLAYNAME",
    "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
    "externalId",
    "members",
    "members",
    "members.value",
    "MEMBERS.VALUE",
    "members.type",
    "members.display",
    "urn:ietf:params:scim:schemas:core:2.0:Group:members",
    "urn:ietf:params:scim:schemas:core:2.0:Group:members.value",
    "meta",
    "meta.created",
    "meta.lastModified",
    "meta.version",
    "meta.resourceType",
    "schemas",
    "note",
    "level",
    "since",
    "tags",
    "urn:example:params:scim:schemas:extension:custom:2.0:Group:level",
    "userName",
    "nonexistent",
    "displayName.sub",
];

const GROUP_ELEMENT_PATHS: &[(&str, &[&str])] = &[
    ("members", &["value", "type", "display", "VALUE"]),
    ("members", &["value", "type"]),
    ("meta", &["created", "version", "resourceType"]),
    ("tags", &["value"]),
];

#[test]
fn generated_group_filters_agree_with_the_evaluator() {
    check_generated(&group_corpus(200, 0x6120_0F11), 0x6120_0F12, 600);
}

#[test]
fn hand_written_group_filters_agree_with_the_evaluator() {
    let corpus = group_corpus(100, 0x00C0_FFEF);
    let mut conn = corpus.db.conn();
    check_every_operator(&corpus, &mut conn, 8);
    // Entra's reference check (§5.4) for every group and a member of it, one of another group,
    // and a stranger; unquoted as Entra's legacy line sends it.
    let stranger = Uuid::new_v4().to_string();
    let mut found_one = 0;
    for (id, group) in corpus.resources.iter().take(40) {
        let mut candidates: Vec<String> = group["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_string())
            .collect();
        candidates.push(stranger.clone());
        candidates.push(corpus.pool["members"][0].as_str().unwrap().to_string());
        for member in candidates {
            for text in
                [format!("id eq {id} and members eq {member}"), format!("members eq \"{member}\"")]
            {
                let filter = Filter::parse(&text).unwrap();
                let matched = corpus.check(&mut conn, &filter);
                if text.starts_with("id") {
                    assert!(matched <= 1, "{text}");
                    found_one += matched;
                }
            }
        }
    }
    assert!(found_one > 20, "the reference check found {found_one} memberships");
    for text in [
        r#"members[type eq "group"]"#,
        r#"members[type eq "User" and not (value sw "0")]"#,
        r#"members[value co "-4"] or members.type eq "GROUP""#,
        r#"not (members pr)"#,
        r#"members.display pr or members.value ew "a""#,
        r#"members ne "x""#,
        r#"displayName co "sales" or displayName sw "σας""#,
        r#"displayName eq "ΣΑΣ 2" or displayName ew "_1 7""#,
        r#"not (displayName co "%")"#,
        r#"externalId eq 1005 or externalId gt "1010""#,
        r#"meta.lastModified gt "2026-11-22T00:00:00Z" and meta.created le "2026-11-24T00:00:00+01:00""#,
        r#"meta.resourceType eq "group" and meta.version ne "W/\"2\"""#,
        r#"meta[version eq "W/\"3\"" and created lt "2026-11-22T00:00:00Z"]"#,
        r#"level gt 1 or since eq "2026-11-25T10:00:00Z""#,
        r#"tags[value co "%"]"#,
        r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:Group""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName sw "eng""#,
        r#"meta.location pr"#,
    ] {
        corpus.check_text(&mut conn, text);
    }
    // `$ref` and `meta.location` depend on the request's base URL.
    for text in [
        r#"members.$ref co "Users""#,
        r#"members[$ref sw "https"]"#,
        r#"members.value[value eq "x"]"#,
        r#"meta.location co "Groups""#,
    ] {
        let filter = Filter::parse(text).unwrap();
        assert!(
            matches!(filter_sql::translate_group(&filter), Err(FilterSqlError::Unsupported(_))),
            "{text}"
        );
    }
}

fn group_plan(conn: &mut PgConnection, directory_id: Uuid, filter: &str) -> String {
    let condition = filter_sql::translate_group(&Filter::parse(filter).unwrap()).unwrap();
    explain(conn, "groups", directory_id, &condition)
}

#[test]
fn entra_group_queries_use_indexes() {
    let db = TestDatabase::create(&test_settings().database.url);
    let mut conn = db.conn();
    let analysed = directory(&mut conn);
    let fresh = {
        let tenant = control::ensure_tenant(&mut conn, "New Tenant").unwrap();
        control::ensure_directory(&mut conn, tenant.id, "New Directory").unwrap().id
    };
    let mut rng = Rng(98);
    for (n, directory_id) in [analysed, fresh].into_iter().enumerate() {
        for k in 0..2000 {
            let (group, _) = Group::from_request(random_group_body(&mut rng, k)).unwrap();
            let id = Uuid::new_v4();
            let row = GroupRow {
                directory_id,
                id,
                display_name: group.display_name().to_string(),
                external_id: group.external_id().map(str::to_string),
                resource: group.into_json(),
                version: 1,
                created_at: Utc::now(),
                last_modified: Utc::now(),
                deleted_at: None,
            };
            groups::insert_if_absent(&mut conn, &row).unwrap();
            let members: Vec<MemberRow> = (0..5)
                .map(|_| MemberRow {
                    directory_id,
                    group_id: id,
                    member_id: Uuid::new_v4(),
                    member_kind: MemberKind::User,
                    added_at: Utc::now(),
                })
                .collect();
            groups::add_members(&mut conn, &members).unwrap();
        }
        if n == 0 {
            diesel::sql_query("ANALYZE groups").execute(&mut conn).unwrap();
            diesel::sql_query("ANALYZE group_members").execute(&mut conn).unwrap();
        }
    }
    let gid = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef";
    let uid = "7d420df3-9995-4831-a406-ecf8166f5f6a";
    for directory in [analysed, fresh] {
        for (filter, index, column) in [
            (r#"displayName eq "Sales 12""#.to_string(), "groups_display_name_key", "display_name"),
            (format!("externalId eq \"{gid}\""), "groups_external_id", "external_id"),
            (format!("id eq {gid}"), "groups_pkey", "(id ="),
            (format!("id eq {gid} and members eq {uid}"), "groups_pkey", "(id ="),
        ] {
            // In the directory the statistics have not seen too: every groups index leads with
            // the looked-up value (migration 000015), so none serves directory_id alone.
            let plan = group_plan(&mut conn, directory, &filter);
            assert!(plan.contains("Index") && plan.contains(index), "{filter}:\n{plan}");
            // The looked-up value is an index condition, not a filter over the directory.
            let condition = plan.lines().find(|l| l.contains("Index Cond")).unwrap_or_default();
            assert!(condition.contains(column), "{filter}:\n{plan}");
            if filter.contains("members") {
                // One probe of a membership index (the primary key or the member's).
                assert!(plan.contains("Scan using group_members"), "{filter}:\n{plan}");
            }
        }
        // `members eq` alone finds the user's memberships through their index.
        let plan = group_plan(&mut conn, directory, &format!("members eq \"{uid}\""));
        assert!(plan.contains("Scan using group_members"), "{plan}");
    }
}
