//! One integration test binary: the real gateway and projector against real Postgres and a
//! real Kafka-protocol broker. See `roster_integration_tests` for the harness.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_isolation;
mod auth;
mod cli;
mod console;
mod consumer_isolation;
mod control_plane;
mod discovery;
mod durability;
mod entra_replay;
mod entra_replay_more;
mod faults;
mod filter_sql;
mod groups;
mod hostile_input;
mod interop;
mod lookups;
mod metrics;
mod migrations;
mod parking;
mod patch_roundtrip;
mod rebuild;
mod retention;
mod role_mapper_crash;
mod role_mapping;
mod user_writes;
mod users;
