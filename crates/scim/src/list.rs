//! `ListResponse` (RFC 7644 §3.4.2).

use serde_json::{Value, json};

pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// One page of query results.
#[derive(Debug, Clone, PartialEq)]
pub struct ListResponse {
    /// Matches in total, across all pages.
    pub total_results: u64,
    /// 1-based index of the first resource of this page.
    pub start_index: u64,
    pub resources: Vec<Value>,
}

impl ListResponse {
    pub fn to_json(&self) -> Value {
        json!({
            "schemas": [LIST_RESPONSE_SCHEMA],
            "totalResults": self.total_results,
            "startIndex": self.start_index,
            "itemsPerPage": self.resources.len(),
            "Resources": self.resources,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_list_is_what_entra_test_connection_expects() {
        let body = ListResponse { total_results: 0, start_index: 1, resources: vec![] }.to_json();
        assert_eq!(body["schemas"][0], LIST_RESPONSE_SCHEMA);
        assert_eq!(body["totalResults"], 0);
        assert_eq!(body["itemsPerPage"], 0);
        assert_eq!(body["startIndex"], 1);
        assert_eq!(body["Resources"], json!([]));
    }
}
