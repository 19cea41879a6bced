//! The web console, `/console`: server-rendered HTML (askama templates in
//! `crates/gateway/templates/console/`) with htmx for the live parts, over the control plane
//! ([`crate::control`]), like the admin API. Static assets are vendored and served from here
//! ([`assets`]); no third-party host, no inline script.
//!
//! Who may see what is the control plane's rule: an operator every tenant, a tenant admin one
//! tenant, a portal visitor one directory's pages. A session is a signed cookie ([`session`]);
//! [`guard`] checks it, CSRF and the requests' origin on every request.
//!
//! | path | what |
//! |---|---|
//! | `/console`, `/console/sign-in`, `/console/sign-out`, `/console/portal?token=` | getting in and out |
//! | `/console/tenants`, `/console/tenants/{id}` | tenants and their directories: list, create, delete |
//! | `/console/directories/{id}` | Tenant URL and Secret Token, Entra's setup steps, health, settings, portal links |
//! | `/console/directories/{id}/role-mapping` | the rules as a table, previewed before they are saved |
//! | `/console/directories/{id}/log` | the provisioning log, live and filterable |
//! | `/console/directories/{id}/users`, `…/groups` | with their product roles and teams |

mod access;
mod activity;
pub mod assets;
mod directory;
pub mod error;
pub mod guard;
mod layout;
mod mapping;
pub mod session;
mod tenants;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

/// Where the console lives.
pub const PREFIX: &str = "/console";

/// The console's routes, behind [`guard::guard`].
pub fn scope() -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let directory = |path: &str| format!("/directories/{{id}}{path}");
    web::scope(PREFIX)
        .wrap(actix_web::middleware::from_fn(guard::guard))
        .route("", web::get().to(access::home))
        .route("/", web::get().to(access::home))
        .route("/assets/{name}", web::get().to(assets::serve))
        .route("/sign-in", web::get().to(access::sign_in_page))
        .route("/sign-in", web::post().to(access::sign_in))
        .route("/sign-out", web::post().to(access::sign_out))
        .route("/portal", web::get().to(access::portal))
        .route("/tenants", web::get().to(tenants::list))
        .route("/tenants", web::post().to(tenants::create))
        .route("/tenants/{id}", web::get().to(tenants::show))
        .route("/tenants/{id}/directories", web::post().to(tenants::create_directory))
        .route("/tenants/{id}/delete", web::get().to(tenants::confirm_delete))
        .route("/tenants/{id}/delete", web::post().to(tenants::delete))
        .route(&directory(""), web::get().to(directory::show))
        .route(&directory("/tokens"), web::post().to(directory::issue_token))
        .route(&directory("/tokens/{token}/revoke"), web::post().to(directory::revoke_token))
        .route(&directory("/portal-links"), web::post().to(directory::create_portal_link))
        .route(&directory("/settings"), web::post().to(directory::change_settings))
        .route(&directory("/delete"), web::get().to(directory::confirm_delete))
        .route(&directory("/delete"), web::post().to(directory::delete))
        .route(&directory("/health"), web::get().to(activity::health_panel))
        .route(&directory("/role-mapping"), web::get().to(mapping::show))
        .route(&directory("/role-mapping"), web::post().to(mapping::save))
        .route(&directory("/role-mapping/preview"), web::post().to(mapping::preview))
        .route(&directory("/log"), web::get().to(activity::log_page))
        .route(&directory("/log/entries"), web::get().to(activity::log_entries))
        .route(&directory("/users"), web::get().to(activity::users_page))
        .route(&directory("/groups"), web::get().to(activity::groups_page))
        .default_service(web::to(not_found))
}

/// No such page (or no such method on it).
async fn not_found() -> HttpResponse {
    error::ErrorPage::new(StatusCode::NOT_FOUND, "There is no such page in the console.").response()
}
