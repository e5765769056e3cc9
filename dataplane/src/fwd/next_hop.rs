//! A per-worker cache of resolved next hops, so that a packet of an
//! established conn costs one conn lookup and a rewrite, not a route lookup
//! (one hash probe per prefix length) and a neighbour lookup besides. VPP's
//! lb plugin gets the same by stacking each real server on its adjacency.
//!
//! An entry maps a destination (RIP, client, or whatever the packet goes
//! to) to everything the egress needs: port, source and next-hop MACs, the
//! route's source address and the port's MTU (TUN), and whether the
//! destination is on a connected network (DR). It is direct-mapped (a
//! colliding destination replaces the entry) and holds for one snapshot
//! (the worker clears it when it installs another) and one neighbour-table
//! generation (any change of state or MAC of any neighbour invalidates every
//! entry): a hit answers exactly what the full lookups would, and skips
//! nothing they would do, since a usable neighbour entry that did not change
//! is looked up without side effects ([`NeighTable::generation`]).
//!
//! [`NeighTable::generation`]: crate::stack::neigh::NeighTable::generation

use crate::addr::MacAddr;
use crate::verdict::PortId;
use std::net::Ipv4Addr;

/// How a destination is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    /// Egress port.
    pub port: PortId,
    /// The egress port's MAC (Ethernet source).
    pub src_mac: MacAddr,
    /// The next hop's MAC (Ethernet destination).
    pub dst_mac: MacAddr,
    /// The route's source address (the DIP; TUN's outer source).
    pub src: Ipv4Addr,
    /// The egress port's MTU.
    pub mtu: u16,
    /// The destination is its own next hop (a connected route): DR may
    /// send to it.
    pub connected: bool,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    dst: Ipv4Addr,
    generation: u64,
    valid: bool,
    hop: Hop,
}

const EMPTY: Entry = Entry {
    dst: Ipv4Addr::UNSPECIFIED,
    generation: 0,
    valid: false,
    hop: Hop {
        port: 0,
        src_mac: MacAddr([0; 6]),
        dst_mac: MacAddr([0; 6]),
        src: Ipv4Addr::UNSPECIFIED,
        mtu: 0,
        connected: false,
    },
};

/// The cache: `2^BITS` direct-mapped entries.
#[derive(Debug, Clone)]
pub struct NextHopCache {
    entries: Vec<Entry>,
}

/// 256 entries (10 KiB): every real server of a large configuration, and the
/// clients or gateways replies go to.
const BITS: u32 = 8;

impl Default for NextHopCache {
    fn default() -> Self {
        NextHopCache::new()
    }
}

impl NextHopCache {
    /// An empty cache, all of it allocated here.
    pub fn new() -> Self {
        NextHopCache {
            entries: vec![EMPTY; 1 << BITS],
        }
    }

    #[inline]
    fn slot(dst: Ipv4Addr) -> usize {
        // Fibonacci hashing: consecutive addresses land far apart.
        let h = u32::from(dst).wrapping_mul(0x9e37_79b1) >> (32 - BITS);
        h as usize
    }

    /// The hop to `dst` cached at neighbour-table `generation`, if any.
    #[inline]
    pub fn get(&self, dst: Ipv4Addr, generation: u64) -> Option<Hop> {
        self.entries
            .get(Self::slot(dst))
            .filter(|e| e.valid && e.dst == dst && e.generation == generation)
            .map(|e| e.hop)
    }

    /// Records how `dst` is reached, as resolved at `generation`.
    pub fn put(&mut self, dst: Ipv4Addr, generation: u64, hop: Hop) {
        if let Some(e) = self.entries.get_mut(Self::slot(dst)) {
            *e = Entry {
                dst,
                generation,
                valid: true,
                hop,
            };
        }
    }

    /// Forgets everything (a new snapshot: routes, ports or MACs changed).
    pub fn clear(&mut self) {
        self.entries.fill(EMPTY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(port: PortId) -> Hop {
        Hop {
            port,
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 9]),
            src: Ipv4Addr::new(10, 0, 0, 1),
            mtu: 1500,
            connected: true,
        }
    }

    #[test]
    fn hits_only_at_the_same_generation_and_address() {
        let mut c = NextHopCache::new();
        let rip = Ipv4Addr::new(10, 0, 0, 5);
        assert_eq!(c.get(rip, 0), None);
        c.put(rip, 3, hop(1));
        assert_eq!(c.get(rip, 3), Some(hop(1)));
        assert_eq!(c.get(rip, 4), None);
        assert_eq!(c.get(Ipv4Addr::new(10, 0, 0, 6), 3), None);
        c.clear();
        assert_eq!(c.get(rip, 3), None);
    }

    #[test]
    fn a_colliding_address_replaces_the_entry() {
        let mut c = NextHopCache::new();
        let a = Ipv4Addr::new(10, 0, 0, 5);
        let b = (0u32..)
            .map(Ipv4Addr::from)
            .find(|&b| b != a && NextHopCache::slot(b) == NextHopCache::slot(a))
            .unwrap();
        c.put(a, 1, hop(1));
        c.put(b, 1, hop(2));
        assert_eq!(c.get(a, 1), None);
        assert_eq!(c.get(b, 1), Some(hop(2)));
    }
}
