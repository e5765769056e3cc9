//! The local stack: what the appliance answers for its own addresses (DIPs,
//! later VIPs and LIPs) — ARP, ICMP echo — and, as it grows, neighbours and
//! routes. Each handler rewrites the received frame into its answer in place
//! and returns `Ok(())`, or says why it dropped the frame.

pub mod arp;
pub mod garp;
pub mod icmp;
pub mod neigh;
pub mod route;
