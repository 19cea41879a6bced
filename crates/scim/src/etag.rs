//! Versions as ETags (RFC 7644 §3.14): a resource's version `n` is the weak ETag `W/"n"`.

/// The ETag of version `version`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Whether an `If-Match` / `If-None-Match` value (`*`, or a comma-separated list of strong or
/// weak ETags) names `version`.
pub fn matches(tags: &str, version: i64) -> bool {
    let wanted = version.to_string();
    tags.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_strong_lists_and_star_match() {
        assert_eq!(etag(3), "W/\"3\"");
        assert!(matches("W/\"3\"", 3));
        assert!(matches("\"3\"", 3));
        assert!(matches("*", 3));
        assert!(matches("W/\"1\", W/\"3\"", 3));
        assert!(!matches("W/\"2\"", 3));
        assert!(!matches("W/\"33\"", 3));
        assert!(!matches("", 3));
    }
}
