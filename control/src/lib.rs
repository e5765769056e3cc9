//! The control plane of rvs: the configuration model read from RON, and (as it
//! grows) the admin protocol, snapshot publishing, health checks and stats.
#![forbid(unsafe_code)]

pub mod admin;
pub mod config;
pub mod handler;
pub mod health;
pub mod keepalived;
pub mod publish;
pub mod reload;
pub mod server;
pub mod state;
pub mod stats;
