//! Requests, responses and their versioned envelopes.
//!
//! One request per ipvsadm command that needs the kernel (here: the daemon),
//! plus the appliance's listing extensions. Errors carry ipvsadm's own
//! wording (libipvs `ipvs_strerror`) so that `rvsadm` prints what ipvsadm
//! would.

use super::model::{
    ConnEntry, DestSpec, HealthEntry, InterfaceEntry, LocalAddrEntry, NeighbourEntry, RouteEntry,
    Service, ServiceKey, ServiceSpec, Timeouts,
};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The admin protocol version. A peer that receives an envelope with a
/// different version answers [`AdminError::VersionMismatch`].
pub const PROTOCOL_VERSION: u32 = 1;

/// What `rvsadm` asks `rvsd` to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// `-A`: add a virtual service.
    AddService(ServiceSpec),
    /// `-E`: change a virtual service's settings.
    EditService(ServiceSpec),
    /// `-D`: delete a virtual service and its dests.
    DelService(ServiceKey),
    /// `-C`: delete every service.
    Clear,
    /// `-a`: add a dest to a service.
    AddDest {
        /// The service.
        service: ServiceKey,
        /// The dest.
        dest: DestSpec,
    },
    /// `-e`: replace a dest's settings.
    EditDest {
        /// The service.
        service: ServiceKey,
        /// The dest (found by address and port).
        dest: DestSpec,
    },
    /// `-d`: remove a dest.
    DelDest {
        /// The service.
        service: ServiceKey,
        /// Dest address.
        rip: IpAddr,
        /// Dest port.
        port: u16,
    },
    /// `-L`/`-S`: list one service or all of them, with dests and counters.
    ListServices {
        /// `None` lists all.
        service: Option<ServiceKey>,
    },
    /// `-L -c`: list conns.
    ListConns,
    /// `-Z`: zero the counters of one service or all.
    Zero {
        /// `None` zeroes all.
        service: Option<ServiceKey>,
    },
    /// `--set tcp tcpfin udp`.
    SetTimeouts(Timeouts),
    /// `-L --timeout`.
    GetTimeouts,
    /// Extension: the appliance's interfaces.
    ListInterfaces,
    /// Extension: the appliance's routes.
    ListRoutes,
    /// Extension: the neighbour (ARP) cache.
    ListNeighbours,
    /// Extension: FullNAT local addresses.
    ListLocalAddrs,
    /// Extension: dest health as the checkers see it.
    HealthStatus,
}

/// What `rvsd` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A change was applied.
    Done,
    /// Answer to [`Request::ListServices`].
    Services {
        /// Conn table size, printed in the listing header ("size=").
        conn_table_size: u32,
        /// The services (unsorted; the client sorts as ipvsadm does).
        services: Vec<Service>,
    },
    /// Answer to [`Request::ListConns`].
    Conns(Vec<ConnEntry>),
    /// Answer to [`Request::GetTimeouts`].
    Timeouts(Timeouts),
    /// Answer to [`Request::ListInterfaces`].
    Interfaces(Vec<InterfaceEntry>),
    /// Answer to [`Request::ListRoutes`].
    Routes(Vec<RouteEntry>),
    /// Answer to [`Request::ListNeighbours`].
    Neighbours(Vec<NeighbourEntry>),
    /// Answer to [`Request::ListLocalAddrs`].
    LocalAddrs(Vec<LocalAddrEntry>),
    /// Answer to [`Request::HealthStatus`].
    Health(Vec<HealthEntry>),
    /// The request failed.
    Error(AdminError),
}

/// Why a request failed. The messages of the variants shared with LVS are
/// ipvsadm's (libipvs `ipvs_strerror`), word for word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AdminError {
    /// `-A` of a service that exists.
    #[error("Service already exists")]
    ServiceExists,
    /// `-A`/`-E` naming a scheduler rvs does not have.
    #[error("Scheduler or persistence engine not found")]
    SchedulerNotFound,
    /// `-E`, `-D`, `-Z`, `-L` of a service that does not exist.
    #[error("No such service")]
    NoSuchService,
    /// `-a`, `-e`, `-d` on a service that does not exist.
    #[error("Service not defined")]
    ServiceNotDefined,
    /// `-a` of a dest that exists.
    #[error("Destination already exists")]
    DestExists,
    /// `-e`, `-d` of a dest that does not exist.
    #[error("No such destination")]
    NoSuchDest,
    /// The request is well formed but the appliance cannot do it (for
    /// example FullNAT without local addresses, IPv6 before it exists).
    #[error("{0}")]
    Unsupported(String),
    /// The request is not valid (bad weight, bad address, ...).
    #[error("{0}")]
    Invalid(String),
    /// The peer may not use the admin socket (libipvs's `EPERM` text).
    #[error("Permission denied (you must be root)")]
    PermissionDenied,
    /// The peers speak different protocol versions.
    #[error("admin protocol version mismatch: rvsadm speaks {client}, rvsd speaks {server}")]
    VersionMismatch {
        /// The client's version.
        client: u32,
        /// The daemon's version.
        server: u32,
    },
    /// Something failed inside the daemon.
    #[error("rvsd internal error: {0}")]
    Internal(String),
}

/// A request with the version of the protocol it is written in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u32,
    /// The request.
    pub request: Request,
}

impl RequestEnvelope {
    /// Wraps a request in the current protocol version.
    pub fn new(request: Request) -> Self {
        RequestEnvelope {
            version: PROTOCOL_VERSION,
            request,
        }
    }
}

/// A response with the version of the protocol it is written in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u32,
    /// The response.
    pub response: Response,
}

impl ResponseEnvelope {
    /// Wraps a response in the current protocol version.
    pub fn new(response: Response) -> Self {
        ResponseEnvelope {
            version: PROTOCOL_VERSION,
            response,
        }
    }

    /// The response, or a version error if the peer speaks another version.
    pub fn into_checked(self) -> Result<Response, AdminError> {
        if self.version == PROTOCOL_VERSION {
            Ok(self.response)
        } else {
            Err(AdminError::VersionMismatch {
                client: PROTOCOL_VERSION,
                server: self.version,
            })
        }
    }
}
