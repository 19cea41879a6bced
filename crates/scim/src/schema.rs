//! The attribute tables the crate validates and patches against (RFC 7643 §4 and §8.7.1),
//! reduced to what normalisation needs: canonical names and value kinds. The discovery
//! documents (`discovery`) carry the full characteristics and are tested to agree with these.

/// The kinds of value a known attribute holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Boolean,
    /// A complex attribute with these sub-attributes.
    Complex(&'static [(&'static str, Kind)]),
    /// A multi-valued attribute whose elements are complex with these sub-attributes.
    MultiComplex(&'static [(&'static str, Kind)]),
}

impl Kind {
    /// The sub-attributes of a complex or multi-valued complex attribute.
    pub(crate) fn subs(self) -> &'static [(&'static str, Kind)] {
        match self {
            Kind::Complex(subs) | Kind::MultiComplex(subs) => subs,
            Kind::String | Kind::Boolean => &[],
        }
    }

    /// The canonical name and kind of sub-attribute `name` (any case).
    pub(crate) fn sub(self, name: &str) -> Option<(&'static str, Kind)> {
        find(self.subs(), name)
    }
}

pub(crate) const NAME: &[(&str, Kind)] = &[
    ("formatted", Kind::String),
    ("familyName", Kind::String),
    ("givenName", Kind::String),
    ("middleName", Kind::String),
    ("honorificPrefix", Kind::String),
    ("honorificSuffix", Kind::String),
];

/// Sub-attributes of emails, phoneNumbers, ims, photos, entitlements, roles, x509Certificates.
pub(crate) const MULTI: &[(&str, Kind)] = &[
    ("value", Kind::String),
    ("display", Kind::String),
    ("type", Kind::String),
    ("primary", Kind::Boolean),
];

pub(crate) const ADDRESS: &[(&str, Kind)] = &[
    ("formatted", Kind::String),
    ("streetAddress", Kind::String),
    ("locality", Kind::String),
    ("region", Kind::String),
    ("postalCode", Kind::String),
    ("country", Kind::String),
    ("type", Kind::String),
    ("primary", Kind::Boolean),
];

/// Sub-attributes of a user's `groups` and of a group's `members`.
pub(crate) const GROUP_REF: &[(&str, Kind)] = &[
    ("value", Kind::String),
    ("$ref", Kind::String),
    ("display", Kind::String),
    ("type", Kind::String),
];

/// Core User attributes (RFC 7643 §4.1), by canonical name.
pub(crate) const USER: &[(&str, Kind)] = &[
    ("userName", Kind::String),
    ("externalId", Kind::String),
    ("name", Kind::Complex(NAME)),
    ("displayName", Kind::String),
    ("nickName", Kind::String),
    ("profileUrl", Kind::String),
    ("title", Kind::String),
    ("userType", Kind::String),
    ("preferredLanguage", Kind::String),
    ("locale", Kind::String),
    ("timezone", Kind::String),
    ("active", Kind::Boolean),
    ("emails", Kind::MultiComplex(MULTI)),
    ("phoneNumbers", Kind::MultiComplex(MULTI)),
    ("ims", Kind::MultiComplex(MULTI)),
    ("photos", Kind::MultiComplex(MULTI)),
    ("addresses", Kind::MultiComplex(ADDRESS)),
    ("groups", Kind::MultiComplex(GROUP_REF)),
    ("entitlements", Kind::MultiComplex(MULTI)),
    ("roles", Kind::MultiComplex(MULTI)),
    ("x509Certificates", Kind::MultiComplex(MULTI)),
];

pub(crate) const MANAGER: &[(&str, Kind)] =
    &[("value", Kind::String), ("$ref", Kind::String), ("displayName", Kind::String)];

/// Enterprise User extension attributes (RFC 7643 §4.3).
pub(crate) const ENTERPRISE: &[(&str, Kind)] = &[
    ("employeeNumber", Kind::String),
    ("costCenter", Kind::String),
    ("organization", Kind::String),
    ("division", Kind::String),
    ("department", Kind::String),
    ("manager", Kind::Complex(MANAGER)),
];

/// Core Group attributes (RFC 7643 §4.2).
pub(crate) const GROUP: &[(&str, Kind)] = &[
    ("displayName", Kind::String),
    ("externalId", Kind::String),
    ("members", Kind::MultiComplex(GROUP_REF)),
];

/// The canonical name and kind of `name` (any case) in `table`.
pub(crate) fn find(table: &[(&'static str, Kind)], name: &str) -> Option<(&'static str, Kind)> {
    table.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).copied()
}

/// Whether `s` starts with `urn:` in any case.
pub(crate) fn starts_with_urn(s: &str) -> bool {
    s.as_bytes().get(..4).is_some_and(|p| p.eq_ignore_ascii_case(b"urn:"))
}

/// Whether a JSON key names a schema (an extension object) rather than a URN-qualified
/// attribute: a URN whose last segment is a resource type (`…:2.0:User`, `…:2.0:Group`).
pub(crate) fn is_schema_urn(key: &str) -> bool {
    starts_with_urn(key)
        && key.rsplit(':').next().is_some_and(|last| {
            last.eq_ignore_ascii_case("User") || last.eq_ignore_ascii_case("Group")
        })
}
