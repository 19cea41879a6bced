//! `seed-users`: fills a directory with Entra-shaped users straight into Postgres, for the read
//! benchmark of `make bench` (a directory of 100,000 users would take minutes through the
//! write path on this machine).
//!
//! Each row is what the projector writes for a `POST /Users` of `entra_user(<prefix>-<n>)`: the
//! body parsed and validated by `roster_scim::user::User::from_request` and stored by
//! `roster_store::users::UserRow::new` and `insert_many_if_absent`, the projector's own code.
//! The users are not in the change log: only reads may be measured on them.
//!
//! Usage: `seed-users --directory <id> [--users 100000] [--prefix seed]`, with
//! `ROSTER__DATABASE__URL` (or `--database-url`) naming the database.

#![allow(clippy::print_stdout)] // its output is the result

use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use diesel::{Connection, PgConnection};
use roster_integration_tests::entra_user;
use roster_scim::user::User;
use roster_store::users::{self, UserRow};
use uuid::Uuid;

#[derive(Parser)]
#[command(name = "seed-users", about = "Fill a directory with Entra-shaped users (for benchmarks)")]
struct Args {
    #[arg(long, env = "ROSTER__DATABASE__URL", hide_env_values = true)]
    database_url: String,
    /// The directory to fill (it must exist).
    #[arg(long)]
    directory: Uuid,
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// userNames are `<prefix>-<n>@seed.example`.
    #[arg(long, default_value = "seed")]
    prefix: String,
}

/// Users per transaction.
const BATCH: usize = 2_000;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut conn = PgConnection::establish(&args.database_url).context("connecting to Postgres")?;
    let started = Instant::now();
    let now = chrono::Utc::now();
    let mut inserted = 0;
    let numbers: Vec<usize> = (0..args.users).collect();
    for chunk in numbers.chunks(BATCH) {
        let rows = chunk
            .iter()
            .map(|n| {
                let user =
                    User::from_request(entra_user(&format!("{}-{n}@seed.example", args.prefix)))
                        .map_err(|e| anyhow::anyhow!("the generated user is invalid: {e:?}"))?;
                Ok(UserRow::new(args.directory, Uuid::new_v4(), &user, now))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        inserted += conn
            .transaction(|conn| users::insert_many_if_absent(conn, &rows))
            .context("inserting users")?
            .len();
    }
    if inserted != args.users {
        bail!("{} of {} users were inserted (their userNames were taken)", inserted, args.users);
    }
    println!("seeded {inserted} users in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
