//! The admin protocol and the model of what rvsadm lists.
//!
//! `rvsadm` and `rvsd` talk over a Unix stream socket (default
//! `/run/rvs/rvsd.sock`): the client writes one [`RequestEnvelope`] frame,
//! the daemon answers one [`ResponseEnvelope`] frame (see [`codec`] for the
//! framing). The request set is ipvsadm's command set (add/edit/delete
//! service and dest, clear, list, zero, timeouts) plus the appliance's
//! listings; the model ([`model`]) mirrors what libipvs exchanges with the
//! kernel so that every ipvsadm command line maps onto one request.

pub mod codec;
pub mod message;
pub mod model;

pub use codec::{read_frame, write_frame, FrameError, MAX_FRAME_LEN};
pub use message::{
    AdminError, Request, RequestEnvelope, Response, ResponseEnvelope, PROTOCOL_VERSION,
};
pub use model::{
    ConnEntry, ConnProtocol, Dest, DestSpec, FwdMethod, HealthEntry, HealthState, InterfaceEntry,
    LocalAddrEntry, NeighbourEntry, PersistMask, Protocol, Rates, RouteEntry, SchedFlags, Service,
    ServiceKey, ServiceSpec, Stats, Timeouts, DEFAULT_PERSISTENT_TIMEOUT, DEFAULT_SCHEDULER,
    MAX_TIMEOUT,
};

#[cfg(test)]
mod tests;
