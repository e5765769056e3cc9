//! rvsd, the rvs appliance: EAL, mempools, ports, pinned workers and the
//! wiring between the DPDK shell and the sans-IO dataplane.
//!
//! `dpdk` is the only module with unsafe code outside `dpdk-sys`.

pub mod daemon;
pub mod dpdk;
pub mod pktgen;
pub mod worker;
