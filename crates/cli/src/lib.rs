//! The library behind `roster`, the operator CLI: the admin API's client and commands, and the
//! database-side commands that tests call directly.

pub mod api;
pub mod commands;
pub mod log;
pub mod rebuild;
pub mod replay;

#[cfg(test)]
mod testing;
