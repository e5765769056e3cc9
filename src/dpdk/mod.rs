//! The thin safe layer over DPDK: the only unsafe code outside `dpdk-sys`.
//!
//! RAII owners free what they own on drop ([`Eal`], [`Mempool`], [`Port`],
//! [`Mbuf`], [`Burst`]); every unsafe block says which invariant makes it
//! sound. The dataplane never sees any of this: a worker lends it a
//! [`dataplane::Frame`] over an mbuf's data room and acts on the verdict.

mod eal;
mod error;
mod flow;
mod lcore;
mod mbuf;
mod mempool;
mod port;
mod ring;

pub use eal::{Eal, TscClock};
pub use error::DpdkError;
pub use flow::SteerError;
pub use lcore::{scope, Scope};
pub use mbuf::{Burst, Drain, Mbuf, MAX_BURST};
pub use mempool::Mempool;
pub use port::{LinkStatus, Port, PortOptions, PortStats, QueueHandle, RxSpread};
pub use ring::Ring;
