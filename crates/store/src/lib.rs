//! Roster's Postgres: the generated diesel [`schema`], embedded migrations, row types and
//! repositories, and the r2d2 pool with [`run_read`], which runs the gateway's blocking diesel reads
//! from async code on tokio's blocking pool.

pub mod admin_tokens;
pub mod audit;
pub mod control;
pub mod database;
pub mod directory_views;
pub mod error;
pub mod filter_sql;
pub mod groups;
pub mod listen;
pub mod lookup;
pub mod mapping_rules;
pub mod migrations;
pub mod notified;
pub mod offsets;
pub mod outbox;
pub mod outcomes;
pub mod page;
pub mod pool;
pub mod provisioning_log;
pub mod rejections;
#[rustfmt::skip]
pub mod schema;
pub mod sql;
pub mod sqlstate;
pub mod users;
pub mod wake;

pub use error::StoreError;
pub use pool::{
    PgPool, PoolOptions, connect, connect_with, establish_for_batches, run_read, run_write,
};

pub use diesel::PgConnection;
