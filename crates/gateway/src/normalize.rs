//! SCIM endpoint names are matched case-insensitively and without trailing slashes.
//!
//! Clients write the endpoints in any case (`/users`, `/SCHEMAS`) and some add a trailing slash
//! (`/Users/?filter=…`, as Microsoft's SCIMReferenceCode Postman collection does). Instead of
//! registering every spelling as a route, [`normalize_scim_path`] (middleware on the whole app,
//! so it runs before routing) rewrites the path of a request under `/scim/v2/{directory}/` to the
//! canonical spelling the routes know:
//!
//! - the endpoint segment after the directory: `Users`, `Groups`, `Schemas`, `ResourceTypes`,
//!   `ServiceProviderConfig`, `.search`, in any case; `serviceConfiguration` (the reference
//!   code's name) is an alias of `ServiceProviderConfig`;
//! - `.search` after `Users` or `Groups`, in any case;
//! - trailing slashes are removed.
//!
//! The directory, resource ids and schema URNs are left as they are, and nothing outside
//! `/scim/v2/` (the admin API, health) is touched.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Uri;
use actix_web::http::uri::PathAndQuery;
use actix_web::middleware::Next;

const SCIM_PREFIX: &str = "/scim/v2/";

/// The endpoints as the routes spell them.
const ENDPOINTS: &[&str] =
    &["Users", "Groups", "Schemas", "ResourceTypes", "ServiceProviderConfig", ".search"];

/// Other names of endpoints: `(alias, endpoint)`, compared case-insensitively.
const ALIASES: &[(&str, &str)] = &[("serviceConfiguration", "ServiceProviderConfig")];

/// The canonical spelling of an endpoint segment, if it names one.
fn endpoint(segment: &str) -> Option<&'static str> {
    ENDPOINTS.iter().copied().find(|e| e.eq_ignore_ascii_case(segment)).or_else(|| {
        ALIASES.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(segment)).map(|(_, e)| *e)
    })
}

/// The canonical form of a request path, when it differs from `path`; `None` for paths outside
/// `/scim/v2/` and for paths already canonical.
pub fn canonical_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix(SCIM_PREFIX)?;
    let trimmed = rest.trim_end_matches('/');
    let mut segments: Vec<&str> = trimmed.split('/').collect();
    if let Some(name) = segments.get(1).and_then(|s| endpoint(s)) {
        segments[1] = name;
    }
    if matches!(segments.get(1), Some(&("Users" | "Groups")))
        && segments.get(2).is_some_and(|s| s.eq_ignore_ascii_case(".search"))
    {
        segments[2] = ".search";
    }
    let canonical = format!("{SCIM_PREFIX}{}", segments.join("/"));
    (canonical != path).then_some(canonical)
}

/// Middleware (on the app, before routing): rewrite the request's path to
/// [`canonical_path`], keeping the query string.
pub async fn normalize_scim_path(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(path) = canonical_path(req.path()) {
        let path_and_query = match req.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        // The rewritten path is made of the original's characters, so it parses; if it did
        // not, the request is routed as it came.
        if let Ok(path_and_query) = PathAndQuery::try_from(path_and_query) {
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = Some(path_and_query);
            if let Ok(uri) = Uri::from_parts(parts) {
                req.match_info_mut().get_mut().update(&uri);
                req.head_mut().uri = uri;
            }
        }
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::canonical_path;

    #[test]
    fn endpoint_names_in_any_case_become_canonical() {
        let dir = "/scim/v2/0d9f3c55-8a4b-4b8e-9d0e-3a1f2b3c4d5e";
        for (given, wanted) in [
            ("users", "Users"),
            ("USERS", "Users"),
            ("groups", "Groups"),
            ("schemas", "Schemas"),
            ("resourcetypes", "ResourceTypes"),
            ("serviceproviderconfig", "ServiceProviderConfig"),
            ("serviceConfiguration", "ServiceProviderConfig"),
            ("ServiceConfiguration", "ServiceProviderConfig"),
            (".SEARCH", ".search"),
        ] {
            assert_eq!(
                canonical_path(&format!("{dir}/{given}")),
                Some(format!("{dir}/{wanted}")),
                "{given}"
            );
        }
        assert_eq!(
            canonical_path(&format!("{dir}/users/.Search")),
            Some(format!("{dir}/Users/.search"))
        );
        assert_eq!(
            canonical_path(&format!("{dir}/groups/AbC")),
            Some(format!("{dir}/Groups/AbC")),
            "ids are kept as they are"
        );
        assert_eq!(
            canonical_path(&format!("{dir}/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")),
            None
        );
    }

    #[test]
    fn trailing_slashes_are_removed() {
        let dir = "/scim/v2/d";
        assert_eq!(canonical_path(&format!("{dir}/Users/")), Some(format!("{dir}/Users")));
        assert_eq!(canonical_path(&format!("{dir}/users//")), Some(format!("{dir}/Users")));
        assert_eq!(canonical_path(&format!("{dir}/Users/x/")), Some(format!("{dir}/Users/x")));
        assert_eq!(canonical_path(&format!("{dir}/")), Some(dir.to_string()));
    }

    #[test]
    fn canonical_and_other_paths_are_left_alone() {
        for path in [
            "/scim/v2/d/Users",
            "/scim/v2/d/Users/x",
            "/scim/v2/d/Users/.search",
            "/scim/v2/d/Unknown",
            "/scim/v2/d",
            "/scim/v2/",
            "/admin/v1/directories/d/settings/",
            "/health/live/",
            "/SCIM/v2/d/users",
            "/",
        ] {
            assert_eq!(canonical_path(path), None, "{path}");
        }
    }
}
