//! The gateway: Roster's HTTP edge. It authenticates SCIM requests, validates them with
//! `roster-scim`, publishes them as change events, waits for the projector's outcome and
//! answers from it. Reads are served straight from Postgres.

pub mod admin;
pub mod auth;
pub mod body;
pub mod console;
pub mod control;
pub mod error;
pub mod hub;
pub mod in_flight;
pub mod lag;
pub mod normalize;
pub mod publish;
pub mod request_log;
pub mod retention;
pub mod routes;
pub mod startup;
pub mod state;

pub use startup::Application;
