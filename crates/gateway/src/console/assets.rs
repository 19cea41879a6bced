//! The console's static assets, vendored in `crates/gateway/assets/` and compiled in: htmx, our
//! small script and stylesheet. Their URLs carry a hash of their bytes, so they are cached for a
//! year and a new build is fetched anew.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use sha2::{Digest, Sha256};

/// An asset: its name under `/console/assets/`, its bytes and type.
struct Asset {
    name: &'static str,
    bytes: &'static [u8],
    content_type: &'static str,
}

pub const HTMX: &str = "htmx-2.0.11.min.js";
pub const SCRIPT: &str = "console.js";
pub const CSS: &str = "console.css";

const ASSETS: &[Asset] = &[
    Asset {
        name: HTMX,
        bytes: include_bytes!("../../assets/htmx-2.0.11.min.js"),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "htmx-LICENSE.txt",
        bytes: include_bytes!("../../assets/htmx-LICENSE.txt"),
        content_type: "text/plain; charset=utf-8",
    },
    Asset {
        name: SCRIPT,
        bytes: include_bytes!("../../assets/console.js"),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: CSS,
        bytes: include_bytes!("../../assets/console.css"),
        content_type: "text/css; charset=utf-8",
    },
];

/// Each asset's versioned URL.
static URLS: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let hash = hex::encode(Sha256::digest(asset.bytes));
            (asset.name, format!("/console/assets/{}?v={}", asset.name, &hash[..12]))
        })
        .collect()
});

/// The URL of the asset `name` (one of the constants above).
pub fn url(name: &str) -> String {
    URLS.get(name).cloned().unwrap_or_else(|| format!("/console/assets/{name}"))
}

/// `GET /console/assets/{name}`.
pub async fn serve(name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|asset| asset.name == name.as_str()) {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(asset.bytes),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("There is no such file."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_versioned_url() {
        for name in [HTMX, SCRIPT, CSS] {
            let url = url(name);
            assert!(url.starts_with(&format!("/console/assets/{name}?v=")), "{url}");
        }
    }
}
