//! The IPv4 routing table: longest-prefix match over connected routes (one
//! per interface address, as Linux adds them on `ip addr add`) and static
//! routes from the configuration, a default route included (`0.0.0.0/0`).
//!
//! Each route carries the source address the appliance uses for traffic it
//! originates along it (its DIP: ARP requests, health checks, ICMP errors,
//! FullNAT if no LIP applies): the route's explicit `src` (Linux's `ip route
//! ... src`), else the egress interface's address in the next hop's subnet,
//! else that interface's first address. It is resolved once, when the table
//! is built, so a lookup is a handful of hash probes and no allocation.
//!
//! Ties between routes with the same prefix go to the lowest metric, then
//! the first configured.

use crate::addr::Ipv4Cidr;
use crate::snapshot::Interface;
use crate::verdict::PortId;
use hashbrown::HashMap;
use std::net::Ipv4Addr;

/// A route as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix (host bits ignored).
    pub prefix: Ipv4Cidr,
    /// Next-hop router; `None` for a directly connected destination.
    pub gateway: Option<Ipv4Addr>,
    /// Egress port.
    pub port: PortId,
    /// Preferred source address; `None` to pick one from the port.
    pub src: Option<Ipv4Addr>,
    /// Lower wins among routes for the same prefix.
    pub metric: u32,
}

/// The answer to a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    /// Egress port.
    pub port: PortId,
    /// The address to resolve with ARP: the gateway, or the destination
    /// itself on a connected route.
    pub via: Ipv4Addr,
    /// Source address to use (the DIP for this route).
    pub src: Ipv4Addr,
    /// Prefix of the matching route.
    pub prefix: Ipv4Cidr,
}

/// Why a route cannot be installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// The route's port is not one of the interfaces.
    UnknownPort(PortId),
    /// No source address: neither given nor any address on the port.
    NoSource(PortId),
}

impl core::fmt::Display for RouteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RouteError::UnknownPort(p) => {
                write!(f, "route via port {p}, which is not a configured interface")
            }
            RouteError::NoSource(p) => write!(
                f,
                "route via port {p} has no source address: give it `src` or give the interface an address"
            ),
        }
    }
}

impl std::error::Error for RouteError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Installed {
    route: Route,
    src: Ipv4Addr,
}

/// The table: one hash map per prefix length in use, longest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    /// `(prefix_len, network -> route)`, by decreasing prefix length.
    levels: Vec<(u8, HashMap<u32, Installed>)>,
    len: usize,
}

impl RouteTable {
    /// Connected routes for every address of `interfaces`, then `routes`.
    /// A static route for the same prefix as a connected one replaces it only
    /// with a lower metric (connected routes have metric 0).
    pub fn build(interfaces: &[Interface], routes: &[Route]) -> Result<Self, RouteError> {
        let mut table = RouteTable::default();
        for iface in interfaces {
            for a in &iface.addrs {
                let route = Route {
                    prefix: *a,
                    gateway: None,
                    port: iface.port,
                    src: Some(a.addr),
                    metric: 0,
                };
                table.insert(route, a.addr);
            }
        }
        for r in routes {
            let iface = interfaces
                .iter()
                .find(|i| i.port == r.port)
                .ok_or(RouteError::UnknownPort(r.port))?;
            let via = r.gateway.unwrap_or(r.prefix.network());
            let src = r
                .src
                .or_else(|| super::neigh::source_for(iface, via))
                .ok_or(RouteError::NoSource(r.port))?;
            table.insert(*r, src);
        }
        Ok(table)
    }

    fn insert(&mut self, route: Route, src: Ipv4Addr) {
        let len = route.prefix.prefix_len;
        let pos = match self.levels.binary_search_by(|(l, _)| len.cmp(l)) {
            Ok(pos) => pos,
            Err(pos) => {
                self.levels.insert(pos, (len, HashMap::new()));
                pos
            }
        };
        let key = u32::from(route.prefix.network());
        let map = &mut self.levels[pos].1;
        match map.get(&key) {
            Some(old) if old.route.metric <= route.metric => {}
            Some(_) => {
                map.insert(key, Installed { route, src });
            }
            None => {
                map.insert(key, Installed { route, src });
                self.len += 1;
            }
        }
    }

    /// Number of routes installed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most specific route to `dst`.
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<NextHop> {
        let d = u32::from(dst);
        self.levels.iter().find_map(|(len, map)| {
            let mask = match len {
                0 => 0,
                n => u32::MAX << (32 - u32::from(*n)),
            };
            map.get(&(d & mask)).map(|i| NextHop {
                port: i.route.port,
                via: i.route.gateway.unwrap_or(dst),
                src: i.src,
                prefix: i.route.prefix,
            })
        })
    }

    /// Every installed route with its resolved source, longest prefix first
    /// (for `rvsadm` listings).
    pub fn iter(&self) -> impl Iterator<Item = (Route, Ipv4Addr)> + '_ {
        self.levels
            .iter()
            .flat_map(|(_, m)| m.values().map(|i| (i.route, i.src)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::MacAddr;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn interfaces() -> Vec<Interface> {
        vec![
            Interface {
                port: 0,
                name: "wan".into(),
                mac: MacAddr([2, 0, 0, 0, 0, 1]),
                mtu: 1500,
                addrs: vec![cidr("198.51.100.2/24"), cidr("203.0.113.10/32")],
            },
            Interface {
                port: 1,
                name: "lan".into(),
                mac: MacAddr([2, 0, 0, 0, 0, 2]),
                mtu: 1500,
                addrs: vec![cidr("10.0.0.1/24"), cidr("10.1.0.1/16")],
            },
        ]
    }

    fn route(prefix: &str, gw: Option<&str>, port: PortId) -> Route {
        Route {
            prefix: cidr(prefix),
            gateway: gw.map(ip),
            port,
            src: None,
            metric: 10,
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let routes = [
            route("0.0.0.0/0", Some("198.51.100.1"), 0),
            route("10.0.0.0/8", Some("10.0.0.254"), 1),
            route("10.0.5.0/24", Some("10.1.0.254"), 1),
        ];
        let t = RouteTable::build(&interfaces(), &routes).unwrap();
        assert_eq!(t.len(), 4 + 3);

        // Connected.
        let h = t.lookup(ip("10.0.0.20")).unwrap();
        assert_eq!((h.port, h.via, h.src), (1, ip("10.0.0.20"), ip("10.0.0.1")));
        assert_eq!(h.prefix, cidr("10.0.0.1/24"));
        // /16 connected beats /8 static.
        let h = t.lookup(ip("10.1.200.3")).unwrap();
        assert_eq!((h.via, h.src), (ip("10.1.200.3"), ip("10.1.0.1")));
        // /24 static beats /8; source chosen in the gateway's subnet.
        let h = t.lookup(ip("10.0.5.9")).unwrap();
        assert_eq!(
            (h.port, h.via, h.src),
            (1, ip("10.1.0.254"), ip("10.1.0.1"))
        );
        // /8 static.
        let h = t.lookup(ip("10.77.0.1")).unwrap();
        assert_eq!((h.via, h.src), (ip("10.0.0.254"), ip("10.0.0.1")));
        // Default.
        let h = t.lookup(ip("8.8.8.8")).unwrap();
        assert_eq!(
            (h.port, h.via, h.src),
            (0, ip("198.51.100.1"), ip("198.51.100.2"))
        );
        // A /32 address (a VIP) routes to its own port.
        assert_eq!(t.lookup(ip("203.0.113.10")).unwrap().prefix.prefix_len, 32);
    }

    #[test]
    fn no_default_no_route() {
        let t = RouteTable::build(&interfaces(), &[]).unwrap();
        assert_eq!(t.lookup(ip("8.8.8.8")), None);
        assert!(RouteTable::default().lookup(ip("8.8.8.8")).is_none());
        assert!(RouteTable::default().is_empty());
    }

    #[test]
    fn preferred_source_and_metrics() {
        let mut r = route("0.0.0.0/0", Some("198.51.100.1"), 0);
        r.src = Some(ip("203.0.113.10"));
        let mut worse = route("0.0.0.0/0", Some("198.51.100.99"), 0);
        worse.metric = 100;
        let t = RouteTable::build(&interfaces(), &[worse, r]).unwrap();
        let h = t.lookup(ip("1.1.1.1")).unwrap();
        assert_eq!((h.via, h.src), (ip("198.51.100.1"), ip("203.0.113.10")));
        assert_eq!(t.iter().count(), 5);
    }

    #[test]
    fn bad_routes_are_refused() {
        let r = route("0.0.0.0/0", Some("198.51.100.1"), 7);
        assert_eq!(
            RouteTable::build(&interfaces(), &[r]),
            Err(RouteError::UnknownPort(7))
        );
        let mut bare = interfaces();
        bare[0].addrs.clear();
        let r = route("0.0.0.0/0", Some("198.51.100.1"), 0);
        let e = RouteTable::build(&bare, &[r]).unwrap_err();
        assert_eq!(e, RouteError::NoSource(0));
        assert!(e.to_string().contains("src"));
    }
}
