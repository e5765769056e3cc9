//! The data model of the admin protocol: what a virtual service, a dest, a
//! conn and the timeouts look like on the wire between `rvsadm` and `rvsd`.
//!
//! The shapes follow what ipvsadm 1.31 sends to and reads from the kernel
//! (`ipvs_service_t`, `ipvs_dest_t`, `ipvs_timeout_t` in libipvs), so that
//! every ipvsadm command line maps onto one request without loss, plus the
//! appliance's own views (interfaces, routes, neighbours, FullNAT local
//! addresses, health checks) that LVS has no word for.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// The default persistence timeout in seconds when `-p` is given without a
/// value: `IPVS_SVC_PERSISTENT_TIMEOUT` in ipvsadm's libipvs is `6*60`.
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 360;

/// The largest timeout ipvsadm accepts for `-p` and `--set` (31 days,
/// `MAX_TIMEOUT` in ipvsadm.c).
pub const MAX_TIMEOUT: u32 = 86_400 * 31;

/// The scheduler a service gets when `-A`/`-E` name none (`DEF_SCHED`).
pub const DEFAULT_SCHEDULER: &str = "wlc";

/// The transport protocol of an address-based virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    /// `-t`, IP protocol 6.
    Tcp,
    /// `-u`, IP protocol 17.
    Udp,
}

impl Protocol {
    /// The IP protocol number; services sort by it (TCP before UDP).
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }

    /// The name ipvsadm prints in listings ("TCP", "UDP").
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }

    /// The lower-case name used for /etc/services lookups ("tcp", "udp").
    pub fn service_db_name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// Which virtual service a request names: VIP:port + protocol (`-t`, `-u`),
/// or a firewall mark (`-f`), exactly the three ways ipvsadm has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceKey {
    /// `-t vip:port` or `-u vip:port`; port 0 means "all ports" and is only
    /// legal for persistent services.
    Addr {
        /// TCP or UDP.
        protocol: Protocol,
        /// The virtual IP.
        vip: IpAddr,
        /// The virtual port (0 = every port).
        port: u16,
    },
    /// `-f mark [-6]`: packets carrying this mark, whatever their address.
    Fwmark {
        /// The mark, greater than zero.
        mark: u32,
        /// `-6`: the mark names IPv6 traffic.
        ipv6: bool,
    },
}

impl ServiceKey {
    /// The sort key ipvsadm uses for listings (`ipvs_cmp_services`):
    /// fwmark, address family, protocol, address, port. Address services
    /// have fwmark 0 and so come first.
    pub fn sort_key(&self) -> (u32, u8, u8, IpAddr, u16) {
        match *self {
            ServiceKey::Addr {
                protocol,
                vip,
                port,
            } => (0, family_rank(vip.is_ipv6()), protocol.number(), vip, port),
            ServiceKey::Fwmark { mark, ipv6 } => (
                mark,
                family_rank(ipv6),
                Protocol::Tcp.number(),
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                0,
            ),
        }
    }

    /// True for an IPv6 service (address or `-f ... -6`).
    pub fn is_ipv6(&self) -> bool {
        match *self {
            ServiceKey::Addr { vip, .. } => vip.is_ipv6(),
            ServiceKey::Fwmark { ipv6, .. } => ipv6,
        }
    }

    /// The protocol used to name ports of this service's dests. ipvsadm sets
    /// TCP for fwmark services ("a sane value, even though it is not used").
    pub fn protocol(&self) -> Protocol {
        match *self {
            ServiceKey::Addr { protocol, .. } => protocol,
            ServiceKey::Fwmark { .. } => Protocol::Tcp,
        }
    }

    /// The virtual port (0 for fwmark services).
    pub fn port(&self) -> u16 {
        match *self {
            ServiceKey::Addr { port, .. } => port,
            ServiceKey::Fwmark { .. } => 0,
        }
    }
}

fn family_rank(ipv6: bool) -> u8 {
    // AF_INET (2) sorts before AF_INET6 (10) in ipvs_cmp_services.
    if ipv6 {
        10
    } else {
        2
    }
}

/// The persistence granularity (`-M`): a dotted mask for IPv4 services, a
/// prefix length for IPv6 ones, applied to the client address to find the
/// template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PersistMask {
    /// IPv4 mask; 255.255.255.255 (the default) means per client address.
    V4(Ipv4Addr),
    /// IPv6 prefix length 1..=128; 128 is the default.
    V6(u8),
}

impl PersistMask {
    /// The default mask: a single client address.
    pub fn host(ipv6: bool) -> Self {
        if ipv6 {
            PersistMask::V6(128)
        } else {
            PersistMask::V4(Ipv4Addr::BROADCAST)
        }
    }

    /// True when the mask is the per-host default (ipvsadm omits it then).
    pub fn is_host(&self) -> bool {
        matches!(*self, PersistMask::V4(m) if m == Ipv4Addr::BROADCAST)
            || matches!(*self, PersistMask::V6(128))
    }
}

impl fmt::Display for PersistMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersistMask::V4(m) => write!(f, "{m}"),
            PersistMask::V6(p) => write!(f, "{p}"),
        }
    }
}

/// The three scheduler flag bits (`-b`, `IP_VS_SVC_F_SCHED1..3`). Their
/// names depend on the scheduler: for `sh` flag-1 is "sh-fallback" and
/// flag-2 "sh-port", for `mh` "mh-fallback" and "mh-port".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct SchedFlags {
    /// `IP_VS_SVC_F_SCHED1` (flag-1, sh-fallback, mh-fallback).
    pub flag1: bool,
    /// `IP_VS_SVC_F_SCHED2` (flag-2, sh-port, mh-port).
    pub flag2: bool,
    /// `IP_VS_SVC_F_SCHED3` (flag-3).
    pub flag3: bool,
}

impl SchedFlags {
    /// True when no flag is set.
    pub fn is_empty(&self) -> bool {
        !(self.flag1 || self.flag2 || self.flag3)
    }
}

/// A virtual service's settings, what `-A` and `-E` carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Which service.
    pub key: ServiceKey,
    /// Scheduler name (`-s`), e.g. "rr", "wlc".
    pub scheduler: String,
    /// `-p [timeout]`: persistence timeout in seconds, `None` when the
    /// service is not persistent.
    pub persistent: Option<u32>,
    /// `-M`: persistence granularity.
    pub netmask: PersistMask,
    /// `-o`/`--ops`: one-packet scheduling (UDP services only).
    pub one_packet: bool,
    /// `-b`: scheduler flags.
    pub sched_flags: SchedFlags,
}

/// How a dest is reached: the four forwarding methods (DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FwdMethod {
    /// `-m`: NAT.
    Masq,
    /// `-g`: direct routing, the ipvsadm default.
    Route,
    /// `-i`: IP-in-IP tunnelling.
    Tunnel,
    /// `--fullnat` (rvs extension): SNAT to a local address and DNAT.
    FullNat,
}

impl FwdMethod {
    /// The word in the "Forward" column of `-L`.
    pub fn name(self) -> &'static str {
        match self {
            FwdMethod::Masq => "Masq",
            FwdMethod::Route => "Route",
            FwdMethod::Tunnel => "Tunnel",
            FwdMethod::FullNat => "FullNat",
        }
    }

    /// The switch that selects it in `-S` output.
    pub fn switch(self) -> &'static str {
        match self {
            FwdMethod::Masq => "-m",
            FwdMethod::Route => "-g",
            FwdMethod::Tunnel => "-i",
            FwdMethod::FullNat => "--fullnat",
        }
    }

    /// DR and TUN cannot map ports: ipvsadm forces the dest port to the
    /// service port for them.
    pub fn keeps_port(self) -> bool {
        matches!(self, FwdMethod::Route | FwdMethod::Tunnel)
    }
}

/// A dest's settings, what `-a` and `-e` carry. `-e` replaces every field,
/// as in ipvsadm (an omitted `-w` means weight 1 again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DestSpec {
    /// Real server address.
    pub rip: IpAddr,
    /// Real server port.
    pub port: u16,
    /// Forwarding method.
    pub fwd: FwdMethod,
    /// `-w`: weight 0..=65535 (0 = quiesced).
    pub weight: u32,
    /// `-x`: upper connection threshold, 0 = none.
    pub u_threshold: u32,
    /// `-y`: lower connection threshold, 0 = none.
    pub l_threshold: u32,
}

/// Traffic counters since start or the last `-Z` (ipvs `stats64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets client -> server.
    pub inpkts: u64,
    /// Packets server -> client.
    pub outpkts: u64,
    /// Bytes client -> server.
    pub inbytes: u64,
    /// Bytes server -> client.
    pub outbytes: u64,
}

/// Rate estimates (the kernel's 2-second EWMA estimator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Packets per second in.
    pub inpps: u64,
    /// Packets per second out.
    pub outpps: u64,
    /// Bytes per second in.
    pub inbps: u64,
    /// Bytes per second out.
    pub outbps: u64,
}

/// A dest as listed: its settings plus counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dest {
    /// Settings.
    pub spec: DestSpec,
    /// Conns in an active state (TCP ESTABLISHED).
    pub active_conns: u32,
    /// Other conns.
    pub inact_conns: u32,
    /// Persistence templates pointing at this dest.
    pub persist_conns: u32,
    /// Counters.
    pub stats: Stats,
    /// Rates.
    pub rates: Rates,
}

/// A virtual service as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Settings.
    pub spec: ServiceSpec,
    /// Counters summed over the service.
    pub stats: Stats,
    /// Rates summed over the service.
    pub rates: Rates,
    /// Its dests.
    pub dests: Vec<Dest>,
}

/// The protocol word of a `-L -c` row: the conn's transport, or IP for the
/// persistence template of a firewall-mark service (IPVS keys those with
/// `IPPROTO_IP`, since one mark may cover several protocols, and the
/// kernel's conn listing names that protocol "IP").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConnProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// Any protocol (firewall-mark templates).
    Ip,
}

impl ConnProtocol {
    /// The word ipvsadm prints ("TCP", "UDP", "IP").
    pub fn name(self) -> &'static str {
        match self {
            ConnProtocol::Tcp => "TCP",
            ConnProtocol::Udp => "UDP",
            ConnProtocol::Ip => "IP",
        }
    }

    /// The transport, for port names; `None` for IP.
    pub fn transport(self) -> Option<Protocol> {
        match self {
            ConnProtocol::Tcp => Some(Protocol::Tcp),
            ConnProtocol::Udp => Some(Protocol::Udp),
            ConnProtocol::Ip => None,
        }
    }
}

impl From<Protocol> for ConnProtocol {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Tcp => ConnProtocol::Tcp,
            Protocol::Udp => ConnProtocol::Udp,
        }
    }
}

/// One row of `-L -c`: a tracked flow, or a persistence template (state
/// NONE, client port 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnEntry {
    /// TCP, UDP, or IP for a firewall-mark template.
    pub protocol: ConnProtocol,
    /// Seconds until the conn expires.
    pub expires: u32,
    /// State name as IPVS prints it ("ESTABLISHED", "FIN_WAIT", "UDP", ...).
    pub state: String,
    /// Client address (CIP).
    pub cip: IpAddr,
    /// Client port.
    pub cport: u16,
    /// Virtual address (VIP).
    pub vip: IpAddr,
    /// Virtual port.
    pub vport: u16,
    /// Real server address (RIP).
    pub rip: IpAddr,
    /// Real server port.
    pub rport: u16,
}

/// Conn timeouts in seconds (`--set tcp tcpfin udp`); 0 in a set request
/// means "leave unchanged", as in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Timeouts {
    /// Established TCP.
    pub tcp: u32,
    /// TCP after a FIN.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

/// An appliance interface (DPDK port) as the control core sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceEntry {
    /// Name from the config.
    pub name: String,
    /// DPDK port id.
    pub port: u16,
    /// MAC address.
    pub mac: [u8; 6],
    /// MTU.
    pub mtu: u16,
    /// Link up.
    pub link_up: bool,
    /// Addresses with their prefix lengths.
    pub addrs: Vec<(Ipv4Addr, u8)>,
    /// Received packets.
    pub rx_packets: u64,
    /// Transmitted packets.
    pub tx_packets: u64,
    /// Packets dropped (any reason).
    pub dropped: u64,
}

/// A route of the appliance's own routing table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteEntry {
    /// Destination prefix.
    pub prefix: Ipv4Addr,
    /// Prefix length.
    pub prefix_len: u8,
    /// Next hop; `None` for a directly connected network.
    pub gateway: Option<Ipv4Addr>,
    /// Outgoing interface name.
    pub interface: String,
}

/// A neighbour (ARP) cache entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighbourEntry {
    /// Neighbour IP.
    pub ip: Ipv4Addr,
    /// Its MAC, `None` while unresolved.
    pub mac: Option<[u8; 6]>,
    /// Interface name.
    pub interface: String,
    /// State name, in Linux's words ("REACHABLE", "INCOMPLETE", "STALE",
    /// "DELAY", "PROBE", "FAILED").
    pub state: String,
    /// Seconds since a reply last confirmed it or ARP news last changed it
    /// (while INCOMPLETE: since its resolution began).
    #[serde(default)]
    pub age_secs: u32,
}

/// A FullNAT local address (LIP) and the service using it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalAddrEntry {
    /// The service the LIP belongs to.
    pub service: ServiceKey,
    /// The local address.
    pub lip: Ipv4Addr,
    /// Local ports in use from it.
    pub ports_in_use: u32,
}

/// The health of one dest as the control core's checker sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthEntry {
    /// The service.
    pub service: ServiceKey,
    /// The dest address.
    pub rip: IpAddr,
    /// The dest port.
    pub port: u16,
    /// Checker kind ("tcp", "http", ... or "none").
    pub checker: String,
    /// Current verdict.
    pub state: HealthState,
    /// Consecutive results in that state.
    pub streak: u32,
    /// Last detail line (error text or "ok").
    pub detail: String,
}

/// A dest's health verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HealthState {
    /// Passing; the dest has its configured weight.
    Up,
    /// Failing; the dest is quiesced (weight 0).
    Down,
    /// No result yet, or no checker configured.
    Unknown,
}

impl HealthState {
    /// Upper-case word for listings.
    pub fn name(self) -> &'static str {
        match self {
            HealthState::Up => "UP",
            HealthState::Down => "DOWN",
            HealthState::Unknown => "UNKNOWN",
        }
    }
}
