//! Health checks of real servers with keepalived's semantics.
//!
//! The pieces, in the order data flows through them:
//!
//! - [`plan`]: the checks the config asks for, validated at load time (a
//!   script that does not exist is a config error, not a failed check);
//! - the checkers, one module each: [`tcp`] (`TCP_CHECK`), [`http`]
//!   (`HTTP_GET`, and `SSL_GET` over [`tls`]), [`udp`] (`UDP_CHECK`),
//!   [`misc`] (`MISC_CHECK`, and the notify scripts), [`ping`]
//!   (`PING_CHECK`); each is a blocking function bounded by the check's
//!   timeout;
//! - [`machine`]: the sans-IO state machine (quinn's habit: time passed in,
//!   probes and events out) with keepalived's retry, alpha, quorum,
//!   hysteresis, inhibit and sorry-server rules;
//! - [`engine`]: the threads that drive the machine with the real clock and
//!   run probes and notify scripts off the control loop;
//! - [`apply`]: what the control loop does with each [`HealthEvent`]: the
//!   same `State` methods `rvsadm -a/-e/-d` use.

pub mod apply;
pub mod engine;
pub mod http;
pub mod machine;
pub mod misc;
pub mod ping;
pub mod plan;
pub mod tcp;
pub mod tls;
pub mod udp;

use crate::admin::{DestSpec, ServiceKey};
use std::net::IpAddr;

pub use engine::{Engine, EngineOptions};
pub use machine::Machine;
pub use plan::Plan;

/// A change of the service table that health checking asks for. Applying
/// an event is idempotent: it states what the table must hold for one
/// dest, so replaying a whole set of them (after a reload) is harmless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthEvent {
    /// The service.
    pub service: ServiceKey,
    /// What the table must hold.
    pub action: Action,
    /// Why, for the log and for tests.
    pub cause: Cause,
}

/// What the table must hold for one dest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The dest is present with exactly these settings (added if absent,
    /// edited if different).
    Set(DestSpec),
    /// The dest is absent (removed if present).
    Remove {
        /// Its address.
        rip: IpAddr,
        /// Its port (as the table keeps it).
        port: u16,
    },
}

impl Action {
    /// The dest the action is about.
    pub fn dest(&self) -> (IpAddr, u16) {
        match *self {
            Action::Set(d) => (d.rip, d.port),
            Action::Remove { rip, port } => (rip, port),
        }
    }
}

/// Why an event was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A dest's check passed after failing (or its first pass with alpha).
    DestUp,
    /// A dest failed its check `retry + 1` times in a row.
    DestDown,
    /// `misc_dynamic`: a script set a new weight.
    Weight,
    /// The service's up weight fell below its quorum: the sorry server
    /// goes in, the remaining dests out.
    QuorumLost,
    /// The service regained quorum: the sorry server goes out.
    QuorumGained,
    /// The full desired table, at start or after a reload.
    Resync,
}
