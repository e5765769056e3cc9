//! The neighbour table: IPv4 next hop -> MAC, per port, as Linux's ARP
//! neighbour cache (`net/core/neighbour.c`, RFC 1122 §2.3.2.1) keeps it.
//!
//! States (Linux NUD names): `Incomplete` (asked, no answer yet; packets wait
//! in a bounded per-neighbour queue), `Reachable` (confirmed recently),
//! `Stale` (usable, but unconfirmed for longer than the reachable time),
//! `Probe` (a stale entry in use is being re-confirmed with unicast
//! requests). An incomplete entry that gets no answer after
//! [`NeighConfig::broadcast_probes`] requests, or a probed entry after
//! [`NeighConfig::unicast_probes`], is dropped with its waiting packets.
//!
//! Sans-IO, quinn style: time comes in as an argument; ARP requests come out
//! of [`NeighTable::poll_transmit`] into a caller buffer; waiting packets are
//! opaque handles `H` (the DPDK shell keeps mbufs there; the dataplane never
//! owns one) that come back out of [`NeighTable::poll_released`], to be sent
//! with the resolved MAC or freed. All storage is allocated in
//! [`NeighTable::new`]; nothing allocates afterwards.

use crate::addr::MacAddr;
use crate::snapshot::{Interface, Snapshot};
use crate::time::Time;
use crate::verdict::PortId;
use crate::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use crate::wire::ethernet::{self, EtherType, EthernetFrame, EthernetRepr};
use core::time::Duration;
use hashbrown::HashMap;
use std::net::Ipv4Addr;

/// Sizes and timers of a neighbour table (defaults from Linux's
/// `net.ipv4.neigh.default.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighConfig {
    /// Most entries (all ports together).
    pub capacity: usize,
    /// Most packets waiting on one unresolved neighbour (`unres_qlen`-like).
    pub queue_len: usize,
    /// How long a confirmation keeps an entry reachable (`base_reachable_time`).
    pub reachable_time: Duration,
    /// Interval between requests (`retrans_time`).
    pub retrans_time: Duration,
    /// Delay before a stale entry in use is probed (`delay_first_probe_time`).
    pub delay_first_probe: Duration,
    /// Broadcast requests before an incomplete entry fails (`mcast_solicit`).
    pub broadcast_probes: u8,
    /// Unicast requests before a probed entry fails (`ucast_solicit`).
    pub unicast_probes: u8,
    /// Unused stale entries are removed after this long (`gc_stale_time`).
    pub gc_stale_time: Duration,
}

impl Default for NeighConfig {
    fn default() -> Self {
        NeighConfig {
            capacity: 1024,
            queue_len: 8,
            reachable_time: Duration::from_secs(30),
            retrans_time: Duration::from_secs(1),
            delay_first_probe: Duration::from_secs(5),
            broadcast_probes: 3,
            unicast_probes: 3,
            gc_stale_time: Duration::from_secs(60),
        }
    }
}

/// State of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighState {
    /// Request sent, no answer yet.
    Incomplete,
    /// Confirmed within the reachable time.
    Reachable,
    /// Known, not confirmed recently.
    Stale,
    /// Stale and in use: being re-confirmed by unicast requests.
    Probe,
}

/// What [`NeighTable::resolve`] did with a packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolve<H> {
    /// The MAC is known: send now.
    Ready(MacAddr),
    /// The packet waits in the neighbour's queue; it comes back out of
    /// [`NeighTable::poll_released`].
    Queued,
    /// No room (queue or table full): the handle back, to free.
    Full(H),
}

/// A waiting packet leaving the table.
#[derive(Debug, PartialEq, Eq)]
pub enum Released<H> {
    /// Resolved: set the Ethernet destination to `mac` and send on `port`.
    Send {
        /// Egress port.
        port: PortId,
        /// Next hop's MAC.
        mac: MacAddr,
        /// The packet.
        handle: H,
    },
    /// Resolution failed: free it.
    Drop(H),
}

/// How an ARP packet told us about a neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learn {
    /// A reply to us: confirms reachability (creates no entry we did not ask
    /// for, as Linux with `arp_accept = 0`).
    Reply,
    /// A request for one of our addresses: the sender will talk to us, so
    /// its mapping is recorded as stale (Linux's `neigh_event_ns`).
    Request,
    /// Gratuitous ARP or other unsolicited news: updates an existing entry
    /// only.
    Unsolicited,
}

/// One entry as a listing shows it (`rvsadm -L --neighbours`, Linux's
/// `ip neigh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighView {
    /// The port it is reached on.
    pub port: PortId,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its MAC; `None` until an answer came.
    pub mac: Option<MacAddr>,
    /// The state, in Linux's NUD words: "INCOMPLETE", "REACHABLE",
    /// "STALE", "DELAY" (stale and in use, its first probe not yet sent),
    /// "PROBE", "FAILED" (resolution gave up; the entry goes once its
    /// waiting packets are released).
    pub nud: &'static str,
    /// When a reply last confirmed it or other ARP news last changed it, or
    /// when its resolution began.
    pub updated: Time,
}

/// Neighbour table counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NeighStats {
    /// ARP requests emitted.
    pub requests_sent: u64,
    /// Entries that failed to resolve.
    pub failed: u64,
    /// Packets refused because a queue or the table was full.
    pub queue_full: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    port: PortId,
    ip: Ipv4Addr,
    mac: MacAddr,
    state: NeighState,
    /// Last confirmation (Reachable) or last use (Stale).
    updated: Time,
    /// When the next request is due (Incomplete/Probe) or the state next
    /// changes.
    deadline: Time,
    probes: u8,
    /// Ring of waiting packets in `queue[slot * queue_len ..]`.
    q_head: usize,
    q_len: usize,
    /// Resolution failed; the entry goes once its queue is drained.
    failed: bool,
}

/// The table. `H` is the shell's packet handle.
#[derive(Debug)]
pub struct NeighTable<H> {
    config: NeighConfig,
    index: HashMap<(PortId, Ipv4Addr), usize>,
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    queue: Vec<Option<H>>,
    /// Slots whose queue is to be drained through `poll_released`.
    drain: Vec<usize>,
    stats: NeighStats,
    /// Bumped whenever an entry appears, goes, or changes state or MAC
    /// (see [`NeighTable::generation`]).
    generation: u64,
    /// Where the next eviction starts looking.
    evict_cursor: usize,
}

/// Slots an eviction compares before taking the oldest stale one it saw.
pub const EVICT_WINDOW: usize = 16;

impl<H> NeighTable<H> {
    /// A table with all its storage allocated.
    pub fn new(config: NeighConfig) -> Self {
        let capacity = config.capacity.max(1);
        let queue_len = config.queue_len;
        let mut queue = Vec::with_capacity(capacity * queue_len);
        queue.resize_with(capacity * queue_len, || None);
        NeighTable {
            config: NeighConfig { capacity, ..config },
            index: HashMap::with_capacity(capacity),
            slots: vec![None; capacity],
            free: (0..capacity).rev().collect(),
            queue,
            drain: Vec::with_capacity(capacity),
            stats: NeighStats::default(),
            generation: 0,
            evict_cursor: 0,
        }
    }

    /// Changes whenever an entry appears, goes, or changes state or MAC. A
    /// MAC that [`NeighTable::lookup_or_solicit`] gave at one generation is
    /// what it gives again, with no side effect, while the generation stays
    /// the same: the worker caches next hops on that.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Counters.
    pub fn stats(&self) -> NeighStats {
        self.stats
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Every entry, for listings (walks the whole table: admin path only).
    pub fn entries(&self) -> impl Iterator<Item = NeighView> + '_ {
        self.slots.iter().flatten().map(|e| NeighView {
            port: e.port,
            ip: e.ip,
            mac: (e.mac != MacAddr::ZERO).then_some(e.mac),
            nud: match e.state {
                _ if e.failed => "FAILED",
                NeighState::Incomplete => "INCOMPLETE",
                NeighState::Reachable => "REACHABLE",
                NeighState::Stale => "STALE",
                // Linux's DELAY: in use again, waiting before the first
                // unicast probe.
                NeighState::Probe if e.probes == 0 => "DELAY",
                NeighState::Probe => "PROBE",
            },
            updated: e.updated,
        })
    }

    /// State and MAC of the entry for `ip` on `port`, without touching it.
    pub fn get(&self, port: PortId, ip: Ipv4Addr) -> Option<(NeighState, MacAddr)> {
        let &slot = self.index.get(&(port, ip))?;
        let e = self.slots[slot].as_ref()?;
        Some((e.state, e.mac))
    }

    /// Looks up the MAC of next hop `ip` on `port` for a packet about to be
    /// sent, queueing `handle` while resolution is under way and starting it
    /// if there is no entry yet.
    pub fn resolve(&mut self, now: Time, port: PortId, ip: Ipv4Addr, handle: H) -> Resolve<H> {
        let slot = match self.index.get(&(port, ip)) {
            Some(&slot) => slot,
            None => match self.insert(now, port, ip) {
                Some(slot) => slot,
                None => {
                    self.stats.queue_full += 1;
                    return Resolve::Full(handle);
                }
            },
        };
        let cfg = self.config;
        let Some(e) = self.slots[slot].as_mut() else {
            return Resolve::Full(handle);
        };
        match e.state {
            NeighState::Reachable => Resolve::Ready(e.mac),
            NeighState::Stale => {
                // In use again: confirm it before long (RFC 1122 §2.3.2.1,
                // Linux's DELAY then PROBE), but keep sending meanwhile.
                e.state = NeighState::Probe;
                e.probes = 0;
                e.deadline = now + cfg.delay_first_probe;
                self.generation += 1;
                Resolve::Ready(e.mac)
            }
            NeighState::Probe => Resolve::Ready(e.mac),
            NeighState::Incomplete => {
                if e.failed || e.q_len >= cfg.queue_len {
                    self.stats.queue_full += 1;
                    return Resolve::Full(handle);
                }
                let at = slot * cfg.queue_len + (e.q_head + e.q_len) % cfg.queue_len;
                e.q_len += 1;
                self.queue[at] = Some(handle);
                Resolve::Queued
            }
        }
    }

    /// The MAC of next hop `ip` on `port` for a packet the caller cannot
    /// park (the forwarding path): `Some` when usable (a stale entry moves to
    /// probing, as in [`NeighTable::resolve`]); `None` otherwise, after
    /// creating an incomplete entry if there was none so that
    /// [`NeighTable::poll_transmit`] asks for it.
    pub fn lookup_or_solicit(&mut self, now: Time, port: PortId, ip: Ipv4Addr) -> Option<MacAddr> {
        let slot = match self.index.get(&(port, ip)) {
            Some(&slot) => slot,
            None => {
                if self.insert(now, port, ip).is_none() {
                    self.stats.queue_full += 1;
                }
                return None;
            }
        };
        let cfg = self.config;
        let e = self.slots[slot].as_mut()?;
        match e.state {
            NeighState::Reachable | NeighState::Probe => Some(e.mac),
            NeighState::Stale => {
                e.state = NeighState::Probe;
                e.probes = 0;
                e.deadline = now + cfg.delay_first_probe;
                self.generation += 1;
                Some(e.mac)
            }
            NeighState::Incomplete => None,
        }
    }

    /// A new incomplete entry whose first request is due now; `None` when
    /// the table is full of entries that cannot be evicted.
    fn insert(&mut self, now: Time, port: PortId, ip: Ipv4Addr) -> Option<usize> {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => self.evict()?,
        };
        self.slots[slot] = Some(Entry {
            port,
            ip,
            mac: MacAddr::ZERO,
            state: NeighState::Incomplete,
            updated: now,
            deadline: now,
            probes: 0,
            q_head: 0,
            q_len: 0,
            failed: false,
        });
        self.index.insert((port, ip), slot);
        self.generation += 1;
        Some(slot)
    }

    /// Frees a stale entry (Linux's forced GC): the least recently updated
    /// among the next [`EVICT_WINDOW`] slots from a rotating cursor (a clock
    /// hand), or from the whole table when that window holds none. Entries
    /// being resolved or with waiting packets are never evicted. The window
    /// bounds the work: with more on-link clients than slots every new
    /// client evicts, and a full scan per new conn made conn setup O(table).
    fn evict(&mut self) -> Option<usize> {
        let n = self.slots.len();
        let mut best: Option<(usize, Time)> = None;
        let mut i = self.evict_cursor.min(n.saturating_sub(1));
        for looked in 1..=n {
            if let Some(e) = &self.slots[i] {
                let evictable = e.state == NeighState::Stale && e.q_len == 0;
                if evictable && best.map_or(true, |(_, t)| e.updated < t) {
                    best = Some((i, e.updated));
                }
            }
            i = if i + 1 == n { 0 } else { i + 1 };
            if looked >= EVICT_WINDOW && best.is_some() {
                break;
            }
        }
        self.evict_cursor = i;
        let (victim, _) = best?;
        self.remove(victim);
        Some(victim)
    }

    fn remove(&mut self, slot: usize) {
        if let Some(e) = self.slots[slot].take() {
            self.index.remove(&(e.port, e.ip));
            self.generation += 1;
        }
    }

    /// Records what an ARP packet says: `ip` is at `mac` on `port`.
    pub fn learn(&mut self, now: Time, port: PortId, ip: Ipv4Addr, mac: MacAddr, how: Learn) {
        if mac.is_multicast() || mac == MacAddr::ZERO || ip.is_unspecified() {
            return;
        }
        let slot = match self.index.get(&(port, ip)) {
            Some(&slot) => slot,
            None if how == Learn::Request => match self.insert(now, port, ip) {
                Some(slot) => slot,
                None => return,
            },
            None => return,
        };
        let cfg = self.config;
        let Some(e) = self.slots[slot].as_mut() else {
            return;
        };
        if e.failed {
            return;
        }
        self.generation += 1;
        let was_incomplete = e.state == NeighState::Incomplete;
        let changed = e.mac != mac;
        e.mac = mac;
        e.probes = 0;
        match how {
            Learn::Reply => {
                e.state = NeighState::Reachable;
                e.updated = now;
                e.deadline = now + cfg.reachable_time;
            }
            Learn::Request | Learn::Unsolicited => {
                // Not a confirmation of reachability (RFC 4861 §7.3.3 makes
                // the same distinction): known but stale, unless it was
                // already reachable at this very address.
                if was_incomplete || changed || e.state != NeighState::Reachable {
                    e.state = NeighState::Stale;
                    e.updated = now;
                    e.deadline = now + cfg.gc_stale_time;
                }
            }
        }
        if was_incomplete && e.q_len > 0 {
            self.drain.push(slot);
        }
    }

    /// The next waiting packet to send (its neighbour resolved) or free (its
    /// neighbour failed). Call until `None` after `learn` and `poll_transmit`.
    pub fn poll_released(&mut self) -> Option<Released<H>> {
        let qlen = self.config.queue_len;
        while let Some(&slot) = self.drain.last() {
            let Some(e) = self.slots[slot].as_mut() else {
                self.drain.pop();
                continue;
            };
            // An entry still being resolved has nothing to release (its slot
            // may have been reused since it was listed).
            if e.q_len == 0 || (e.state == NeighState::Incomplete && !e.failed) {
                self.drain.pop();
                if e.failed {
                    self.remove(slot);
                }
                continue;
            }
            let at = slot * qlen + e.q_head;
            e.q_head = (e.q_head + 1) % qlen;
            e.q_len -= 1;
            let (port, mac, failed, emptied) = (e.port, e.mac, e.failed, e.q_len == 0);
            if emptied {
                self.drain.pop();
                if failed {
                    self.remove(slot);
                }
            }
            let Some(handle) = self.queue[at].take() else {
                continue;
            };
            return Some(if failed {
                Released::Drop(handle)
            } else {
                Released::Send { port, mac, handle }
            });
        }
        None
    }

    /// The earliest time at which [`NeighTable::poll_transmit`] has work.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.slots
            .iter()
            .flatten()
            .filter(|e| !e.failed)
            .map(|e| e.deadline)
            .min()
    }

    /// Advances timers to `now` and writes the next ARP request that is due
    /// into `buf` (at least 60 bytes), returning the port to send it on and
    /// its length. Call until `None`. Entries whose port or addresses are not
    /// in `snapshot` any more are dropped.
    pub fn poll_transmit(
        &mut self,
        now: Time,
        snapshot: &Snapshot,
        buf: &mut [u8],
    ) -> Option<(PortId, usize)> {
        let cfg = self.config;
        for slot in 0..self.slots.len() {
            let Some(e) = self.slots[slot].as_mut() else {
                continue;
            };
            if e.failed || e.deadline > now {
                continue;
            }
            match e.state {
                NeighState::Reachable => {
                    // RFC 1122 §2.3.2.1: stop trusting it without news.
                    e.state = NeighState::Stale;
                    e.deadline = e.updated + cfg.reachable_time + cfg.gc_stale_time;
                    self.generation += 1;
                }
                NeighState::Stale if e.q_len == 0 => {
                    // Unused for gc_stale_time: forget it.
                    self.remove(slot);
                }
                NeighState::Stale => {
                    // Packets still wait to be released: keep it a while.
                    e.deadline = now + cfg.retrans_time;
                }
                NeighState::Incomplete | NeighState::Probe => {
                    let limit = if e.state == NeighState::Incomplete {
                        cfg.broadcast_probes
                    } else {
                        cfg.unicast_probes
                    };
                    if e.probes >= limit {
                        self.fail(slot);
                        continue;
                    }
                    let iface = snapshot.interface(e.port);
                    let Some(iface) = iface else {
                        self.fail(slot);
                        continue;
                    };
                    let dst_mac = if e.state == NeighState::Incomplete {
                        MacAddr::BROADCAST
                    } else {
                        e.mac
                    };
                    let Some(n) = emit_request(iface, e.ip, dst_mac, buf) else {
                        // No source address on this port, or a short buffer:
                        // nothing to ask with; try again later.
                        e.deadline = now + cfg.retrans_time;
                        continue;
                    };
                    e.probes += 1;
                    e.deadline = now + cfg.retrans_time;
                    self.stats.requests_sent += 1;
                    return Some((e.port, n));
                }
            }
        }
        None
    }

    /// Resolution of `slot` failed: its packets go back as drops, then it
    /// goes.
    fn fail(&mut self, slot: usize) {
        let Some(e) = self.slots[slot].as_mut() else {
            return;
        };
        self.stats.failed += 1;
        self.generation += 1;
        if e.q_len == 0 {
            self.remove(slot);
        } else {
            e.failed = true;
            self.drain.push(slot);
        }
    }
}

/// The source address for asking about `target` on `iface`: an address of
/// the interface whose prefix holds the target (Linux's `inet_select_addr`
/// with a link-scope target), else its first address.
pub fn source_for(iface: &Interface, target: Ipv4Addr) -> Option<Ipv4Addr> {
    iface
        .addrs
        .iter()
        .find(|c| c.contains(target))
        .or_else(|| iface.addrs.first())
        .map(|c| c.addr)
}

/// Writes an ARP request for `target` from `iface` to `dst_mac` (broadcast,
/// or the known MAC for a unicast probe), padded to the 60-byte minimum
/// Ethernet frame. Returns its length, or `None` if `buf` is under 60 bytes
/// or the interface has no address.
pub fn emit_request(
    iface: &Interface,
    target: Ipv4Addr,
    dst_mac: MacAddr,
    buf: &mut [u8],
) -> Option<usize> {
    let src_ip = source_for(iface, target)?;
    let repr = ArpRepr {
        operation: ArpOperation::REQUEST,
        source_hardware_addr: iface.mac,
        source_protocol_addr: src_ip,
        target_hardware_addr: MacAddr::ZERO,
        target_protocol_addr: target,
    };
    emit_arp_frame(iface.mac, dst_mac, &repr, buf)
}

/// Readdresses a parked frame for its resolved next hop: Ethernet
/// destination `mac`, source `src_mac` (the egress port's). `false` if the
/// frame is too short to hold an Ethernet header.
pub fn set_next_hop(frame: &mut [u8], src_mac: MacAddr, mac: MacAddr) -> bool {
    match EthernetFrame::new_checked(frame) {
        Ok(mut eth) => {
            eth.set_dst_addr(mac);
            eth.set_src_addr(src_mac);
            true
        }
        Err(_) => false,
    }
}

/// Minimum Ethernet frame without FCS.
pub const MIN_FRAME_LEN: usize = 60;

/// Writes Ethernet + ARP `repr`, zero-padded to [`MIN_FRAME_LEN`]; `None` if
/// `buf` is shorter than that.
pub fn emit_arp_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    repr: &ArpRepr,
    buf: &mut [u8],
) -> Option<usize> {
    let out = buf.get_mut(..MIN_FRAME_LEN)?;
    let eth = EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        vlan_id: None,
        ethertype: EtherType::ARP,
    };
    eth.emit(out).ok()?;
    let arp_bytes = &mut out[ethernet::HEADER_LEN..];
    let (arp_bytes, pad) = arp_bytes.split_at_mut(repr.buffer_len());
    repr.emit(&mut ArpPacket::new_unchecked(arp_bytes));
    pad.fill(0);
    Some(MIN_FRAME_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Ipv4Cidr;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
    const RS_MAC: MacAddr = MacAddr([0x52, 0x54, 0, 0, 0, 0x0a]);
    const RIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 10);

    fn snapshot() -> Snapshot {
        Snapshot {
            generation: 1,
            interfaces: vec![Interface {
                port: 0,
                name: "lb0".into(),
                mac: MAC,
                mtu: 1500,
                addrs: vec![
                    Ipv4Cidr::new(Ipv4Addr::new(192, 0, 2, 1), 24).unwrap(),
                    Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 2), 24).unwrap(),
                ],
            }],
            ..Snapshot::default()
        }
    }

    fn secs(s: u64) -> Time {
        Time::from_secs(s)
    }

    fn table() -> NeighTable<u32> {
        NeighTable::new(NeighConfig {
            capacity: 4,
            queue_len: 2,
            ..NeighConfig::default()
        })
    }

    #[test]
    fn resolves_and_releases_queued_packets() {
        let snap = snapshot();
        let mut t = table();
        let mut buf = [0u8; 128];
        assert_eq!(t.resolve(secs(0), 0, RIP, 1), Resolve::Queued);
        assert_eq!(t.resolve(secs(0), 0, RIP, 2), Resolve::Queued);
        assert_eq!(t.resolve(secs(0), 0, RIP, 3), Resolve::Full(3));
        assert_eq!(t.get(0, RIP), Some((NeighState::Incomplete, MacAddr::ZERO)));

        // One broadcast request now, with the in-subnet source address.
        let (port, n) = t.poll_transmit(secs(0), &snap, &mut buf).unwrap();
        assert_eq!((port, n), (0, 60));
        let eth = EthernetFrame::new_checked(&buf[..n]).unwrap();
        assert_eq!(eth.dst_addr(), MacAddr::BROADCAST);
        assert_eq!(eth.src_addr(), MAC);
        let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
        assert_eq!(arp.operation, ArpOperation::REQUEST);
        assert_eq!(arp.source_protocol_addr, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(arp.target_protocol_addr, RIP);
        assert_eq!(t.poll_transmit(secs(0), &snap, &mut buf), None);
        assert_eq!(t.poll_timeout(), Some(secs(1)));
        assert_eq!(t.poll_released(), None);

        t.learn(
            Time::from_nanos(1_500_000_000),
            0,
            RIP,
            RS_MAC,
            Learn::Reply,
        );
        assert_eq!(t.get(0, RIP), Some((NeighState::Reachable, RS_MAC)));
        assert_eq!(
            t.poll_released(),
            Some(Released::Send {
                port: 0,
                mac: RS_MAC,
                handle: 1
            })
        );
        assert_eq!(
            t.poll_released(),
            Some(Released::Send {
                port: 0,
                mac: RS_MAC,
                handle: 2
            })
        );
        assert_eq!(t.poll_released(), None);
        assert_eq!(t.resolve(secs(2), 0, RIP, 4), Resolve::Ready(RS_MAC));
    }

    #[test]
    fn unanswered_requests_fail_and_drop_the_queue() {
        let snap = snapshot();
        let mut t = table();
        let mut buf = [0u8; 60];
        assert_eq!(t.resolve(secs(0), 0, RIP, 7), Resolve::Queued);
        for s in 0..3 {
            assert!(t.poll_transmit(secs(s), &snap, &mut buf).is_some());
        }
        assert_eq!(t.poll_transmit(secs(3), &snap, &mut buf), None);
        assert_eq!(t.stats().failed, 1);
        assert_eq!(t.stats().requests_sent, 3);
        assert_eq!(t.poll_released(), Some(Released::Drop(7)));
        assert_eq!(t.poll_released(), None);
        assert!(t.is_empty());
    }

    #[test]
    fn ageing_reachable_stale_probe() {
        let snap = snapshot();
        let mut t = table();
        let mut buf = [0u8; 60];
        // A request for us creates a stale entry.
        t.learn(secs(0), 0, RIP, RS_MAC, Learn::Request);
        assert_eq!(t.get(0, RIP), Some((NeighState::Stale, RS_MAC)));
        // Using it sends at once and schedules a unicast probe 5 s later.
        assert_eq!(t.resolve(secs(1), 0, RIP, 1), Resolve::Ready(RS_MAC));
        assert_eq!(t.get(0, RIP).unwrap().0, NeighState::Probe);
        assert_eq!(t.poll_transmit(secs(5), &snap, &mut buf), None);
        let (_, n) = t.poll_transmit(secs(6), &snap, &mut buf).unwrap();
        assert_eq!(
            EthernetFrame::new_checked(&buf[..n]).unwrap().dst_addr(),
            RS_MAC
        );
        // The reply confirms it; 30 s later it is stale, 60 s after that gone.
        t.learn(secs(6), 0, RIP, RS_MAC, Learn::Reply);
        assert_eq!(t.get(0, RIP).unwrap().0, NeighState::Reachable);
        assert_eq!(t.poll_transmit(secs(36), &snap, &mut buf), None);
        assert_eq!(t.get(0, RIP).unwrap().0, NeighState::Stale);
        assert_eq!(t.poll_transmit(secs(95), &snap, &mut buf), None);
        assert!(t.get(0, RIP).is_some());
        assert_eq!(t.poll_transmit(secs(96), &snap, &mut buf), None);
        assert!(t.get(0, RIP).is_none());
    }

    #[test]
    fn unsolicited_news_only_updates() {
        let mut t = table();
        t.learn(secs(0), 0, RIP, RS_MAC, Learn::Unsolicited);
        t.learn(secs(0), 0, RIP, RS_MAC, Learn::Reply);
        assert!(t.is_empty());
        t.learn(secs(0), 0, RIP, RS_MAC, Learn::Request);
        let moved = MacAddr([0x52, 0x54, 0, 0, 0, 0x0b]);
        t.learn(secs(1), 0, RIP, moved, Learn::Unsolicited);
        assert_eq!(t.get(0, RIP), Some((NeighState::Stale, moved)));
        t.learn(secs(1), 0, RIP, MacAddr::BROADCAST, Learn::Unsolicited);
        assert_eq!(t.get(0, RIP), Some((NeighState::Stale, moved)));
    }

    #[test]
    fn full_table_evicts_stale_only() {
        let mut t = table();
        for i in 0..4u8 {
            t.learn(
                secs(u64::from(i)),
                0,
                Ipv4Addr::new(10, 0, 0, 100 + i),
                RS_MAC,
                Learn::Request,
            );
        }
        assert_eq!(t.len(), 4);
        // A fifth neighbour evicts the oldest stale one (10.0.0.100).
        assert_eq!(t.resolve(secs(9), 0, RIP, 1), Resolve::Queued);
        assert!(t.get(0, Ipv4Addr::new(10, 0, 0, 100)).is_none());
        assert_eq!(t.len(), 4);
        // Fill with incomplete entries: nothing left to evict.
        for i in 0..3u8 {
            assert_eq!(
                t.resolve(secs(9), 1, Ipv4Addr::new(10, 1, 0, i), 2),
                Resolve::Queued
            );
        }
        assert_eq!(
            t.resolve(secs(9), 1, Ipv4Addr::new(10, 1, 0, 9), 3),
            Resolve::Full(3)
        );
    }

    #[test]
    fn more_clients_than_slots_cycle_through_without_losing_pending_entries() {
        let mut t: NeighTable<u32> = NeighTable::new(NeighConfig {
            capacity: 256,
            queue_len: 2,
            ..NeighConfig::default()
        });
        // A next hop being resolved, with a packet waiting: never evicted.
        assert_eq!(t.resolve(secs(0), 1, RIP, 7), Resolve::Queued);
        for i in 0..4096u32 {
            let cip = Ipv4Addr::from(0x0a01_0000 + i);
            t.learn(
                secs(1) + Duration::from_micros(u64::from(i)),
                0,
                cip,
                RS_MAC,
                Learn::Request,
            );
            assert_eq!(
                t.get(0, cip),
                Some((NeighState::Stale, RS_MAC)),
                "client {i}"
            );
            assert!(t.len() <= 256);
        }
        assert_eq!(t.len(), 256);
        assert!(t.get(1, RIP).is_some(), "the pending entry stays");
        // The oldest clients went first: the first one is long gone, the
        // last 200 are all still there.
        assert!(t.get(0, Ipv4Addr::from(0x0a01_0000)).is_none());
        for i in 4096 - 200..4096u32 {
            assert!(
                t.get(0, Ipv4Addr::from(0x0a01_0000 + i)).is_some(),
                "client {i}"
            );
        }
    }

    #[test]
    fn lists_entries_in_linux_words() {
        let snap = snapshot();
        let mut t = table();
        let mut buf = [0u8; 60];
        let other = Ipv4Addr::new(10, 0, 0, 20);
        let list = |t: &NeighTable<u32>| {
            let mut v: Vec<NeighView> = t.entries().collect();
            v.sort_by_key(|e| e.ip);
            v
        };
        assert!(list(&t).is_empty());
        // Being resolved: no MAC yet.
        assert_eq!(t.resolve(secs(1), 0, RIP, 1), Resolve::Queued);
        assert_eq!(
            list(&t),
            vec![NeighView {
                port: 0,
                ip: RIP,
                mac: None,
                nud: "INCOMPLETE",
                updated: secs(1),
            }]
        );
        // Answered: reachable, with the time of the answer.
        t.learn(secs(2), 0, RIP, RS_MAC, Learn::Reply);
        // Known from its own request: stale.
        t.learn(secs(3), 0, other, RS_MAC, Learn::Request);
        let v = list(&t);
        assert_eq!(
            (v[0].mac, v[0].nud, v[0].updated),
            (Some(RS_MAC), "REACHABLE", secs(2))
        );
        assert_eq!((v[1].ip, v[1].nud, v[1].updated), (other, "STALE", secs(3)));
        // The stale one in use: DELAY, then PROBE once the first unicast
        // request went out.
        assert_eq!(t.lookup_or_solicit(secs(4), 0, other), Some(RS_MAC));
        assert_eq!(list(&t)[1].nud, "DELAY");
        while t.poll_transmit(secs(9), &snap, &mut buf).is_some() {}
        assert_eq!(list(&t)[1].nud, "PROBE");
        // Unanswered until it fails: FAILED while its packet waits.
        let lost = Ipv4Addr::new(10, 0, 0, 99);
        assert_eq!(t.resolve(secs(10), 0, lost, 2), Resolve::Queued);
        for s in 10..14 {
            while t.poll_transmit(secs(s), &snap, &mut buf).is_some() {}
        }
        let failed: Vec<NeighView> = t.entries().filter(|e| e.ip == lost).collect();
        assert_eq!(failed.len(), 1);
        assert_eq!((failed[0].nud, failed[0].mac), ("FAILED", None));
    }

    #[test]
    fn next_hop_rewrite() {
        let mut f = [0u8; 20];
        f[12] = 0x08;
        assert!(set_next_hop(&mut f, MAC, RS_MAC));
        assert_eq!(&f[..12], &[0x52, 0x54, 0, 0, 0, 0x0a, 2, 0, 0, 0, 0, 2]);
        assert!(!set_next_hop(&mut f[..13], MAC, RS_MAC));
    }

    #[test]
    fn unknown_port_fails() {
        let snap = snapshot();
        let mut t = table();
        let mut buf = [0u8; 60];
        assert_eq!(t.resolve(secs(0), 5, RIP, 1), Resolve::Queued);
        assert_eq!(t.poll_transmit(secs(0), &snap, &mut buf), None);
        assert_eq!(t.poll_released(), Some(Released::Drop(1)));
        assert!(t.is_empty());
        assert!(
            emit_request(&snap.interfaces[0], RIP, MacAddr::BROADCAST, &mut buf[..59]).is_none()
        );
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Resolve(u8, u8),
            Learn(u8, u8, u8),
            Poll(u8),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0u8..2, 0u8..8).prop_map(|(p, i)| Op::Resolve(p, i)),
                (0u8..2, 0u8..8, 0u8..3).prop_map(|(p, i, h)| Op::Learn(p, i, h)),
                (0u8..20).prop_map(Op::Poll),
            ]
        }

        proptest! {
            #[test]
            fn never_panics_never_leaks(ops in proptest::collection::vec(op(), 1..200)) {
                let snap = snapshot();
                let mut t: NeighTable<u32> = table();
                let mut buf = [0u8; 60];
                let mut now = Time::ZERO;
                let (mut queued, mut out) = (0u32, 0u32);
                for (n, op) in ops.into_iter().enumerate() {
                    let handle = u32::try_from(n).unwrap();
                    match op {
                        Op::Resolve(p, i) => {
                            match t.resolve(now, u16::from(p), Ipv4Addr::new(10, 0, 0, i), handle) {
                                Resolve::Queued => queued += 1,
                                Resolve::Ready(mac) => prop_assert_ne!(mac, MacAddr::ZERO),
                                Resolve::Full(h) => prop_assert_eq!(h, handle),
                            }
                        }
                        Op::Learn(p, i, h) => {
                            let how = [Learn::Reply, Learn::Request, Learn::Unsolicited][usize::from(h)];
                            t.learn(now, u16::from(p), Ipv4Addr::new(10, 0, 0, i), RS_MAC, how);
                        }
                        Op::Poll(secs) => {
                            now = now + Duration::from_secs(u64::from(secs));
                            while t.poll_transmit(now, &snap, &mut buf).is_some() {}
                        }
                    }
                    while let Some(r) = t.poll_released() {
                        out += 1;
                        if let Released::Send { mac, .. } = r {
                            prop_assert_ne!(mac, MacAddr::ZERO);
                        }
                    }
                    prop_assert!(t.len() <= 4);
                }
                // Everything queued comes out, once resolution ends either way.
                now = now + Duration::from_secs(3600);
                for _ in 0..10 {
                    while t.poll_transmit(now, &snap, &mut buf).is_some() {}
                    while t.poll_released().is_some() {
                        out += 1;
                    }
                    now = now + Duration::from_secs(10);
                }
                prop_assert_eq!(queued, out);
            }
        }
    }
}
