//! rvsadm: the ipvsadm-compatible admin client of rvs.
//!
//! It speaks ipvsadm 1.31's language (commands, options, output formats and
//! error messages; see [`parse`] and [`format`]) and carries each command to
//! rvsd over the admin socket ([`client`]) as a `control::admin` request.
//! [`app::run`] is the whole program minus the process edges, so tests drive
//! it end to end.
#![forbid(unsafe_code)]

pub mod app;
pub mod client;
pub mod format;
pub mod help;
pub mod import;
pub mod names;
pub mod parse;

#[cfg(test)]
mod tests;
