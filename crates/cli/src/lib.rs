//! The library behind `roster`, the operator CLI: the commands that tests call directly.

pub mod log;
pub mod rebuild;
pub mod replay;
