//! The library behind `roster`, the operator CLI: the admin API's client, and the
//! database-side commands that tests call directly.

pub mod api;
pub mod log;

#[cfg(test)]
mod testing;
