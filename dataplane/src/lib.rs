//! The sans-IO dataplane of rvs.
//!
//! Nothing in this crate knows DPDK exists (DESIGN.md, "The sans-IO rule"). A
//! worker is handed a [`frame::Frame`] (a window over a buffer with headroom),
//! the port it came in on, the time, and works against an immutable
//! [`snapshot::Snapshot`]. It answers with a [`verdict::Verdict`]: transmit,
//! redirect to another worker, hand to the kernel, or drop with a reason. The
//! DPDK shell in `rvsd` owns the NIC and frees whatever it did not send.
#![forbid(unsafe_code)]

pub mod addr;
pub mod conn;
pub mod frame;
pub mod fwd;
pub mod persist;
pub mod sched;
pub mod service;
pub mod sim;
pub mod snapshot;
pub mod stack;
pub mod time;
pub mod verdict;
pub mod wire;
pub mod worker;

pub use frame::Frame;
pub use snapshot::Snapshot;
pub use time::Time;
pub use verdict::{DropReason, PortId, Verdict};
pub use worker::Worker;
