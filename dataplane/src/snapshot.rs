//! The immutable configuration a worker runs against. The control core builds
//! a complete new snapshot for every change and hands it to the workers, which
//! swap it in between bursts (DESIGN.md, "Configuration is data").

use crate::addr::{Ipv4Cidr, MacAddr};
use crate::conn::Timeouts;
use crate::sched::counts::ConnCounts;
use crate::service::Services;
use crate::stack::route::{Route, RouteError, RouteTable};
use crate::verdict::PortId;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// One DPDK port as the dataplane sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// DPDK port id.
    pub port: PortId,
    /// Operator's name for it (`lb0`).
    pub name: String,
    /// The port's MAC address.
    pub mac: MacAddr,
    /// IP MTU of the link.
    pub mtu: u16,
    /// The director's own addresses on this link (DIPs).
    pub addrs: Vec<Ipv4Cidr>,
}

impl Interface {
    /// True if `ip` is one of this interface's own addresses.
    pub fn owns(&self, ip: Ipv4Addr) -> bool {
        self.addrs.iter().any(|c| c.addr == ip)
    }
}

/// Everything a worker needs to know, frozen at one generation.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Increases by one with every published change.
    pub generation: u64,
    /// The ports, indexed by position (not necessarily by port id).
    pub interfaces: Vec<Interface>,
    /// Connected and static routes (see [`Snapshot::new`]).
    pub routes: RouteTable,
    /// Virtual services and mark rules.
    pub services: Services,
    /// FullNAT local addresses (LIPs); each worker takes lports for its conns
    /// from its own partition of every LIP's port space.
    pub laddrs: Vec<Ipv4Addr>,
    /// Conn timeouts (`ipvsadm --set`).
    pub timeouts: Timeouts,
    /// Per-(worker, dest slot) conn counters shared by all workers and the
    /// control core; the same `Arc` in every generation.
    pub counts: Arc<ConnCounts>,
    /// IPVS's `expire_nodest_conn`: drop the conns of a removed dest at their
    /// next packet instead of letting them run on.
    pub expire_nodest_conn: bool,
}

impl Snapshot {
    /// A snapshot whose routing table holds a connected route for every
    /// interface address plus `routes`.
    pub fn new(
        generation: u64,
        interfaces: Vec<Interface>,
        routes: &[Route],
    ) -> Result<Self, RouteError> {
        let routes = RouteTable::build(&interfaces, routes)?;
        Ok(Snapshot {
            generation,
            interfaces,
            routes,
            ..Snapshot::default()
        })
    }

    /// The interface of DPDK port `port`.
    pub fn interface(&self, port: PortId) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.port == port)
    }

    /// True if `ip` is a DIP: an address of one of the interfaces.
    pub fn is_dip(&self, ip: Ipv4Addr) -> bool {
        self.interfaces.iter().any(|i| i.owns(ip))
    }

    /// True if `ip` is a FullNAT local address (LIP).
    pub fn is_laddr(&self, ip: Ipv4Addr) -> bool {
        self.laddrs.contains(&ip)
    }

    /// True if the appliance answers ARP and ICMP echo for `ip`: a DIP, a
    /// VIP or a LIP. As Linux with its default `arp_ignore = 0`, any of them
    /// is answered on every port (VIPs and LIPs are not tied to one).
    pub fn owns(&self, ip: Ipv4Addr) -> bool {
        self.is_dip(ip) || self.is_laddr(ip) || self.services.is_vip(std::net::IpAddr::V4(ip))
    }
}
