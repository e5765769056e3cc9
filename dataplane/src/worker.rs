//! A worker: the per-core entry point of the dataplane. It owns its tables and
//! counters and is touched by exactly one thread.

use crate::frame::Frame;
use crate::snapshot::{Interface, Snapshot};
use crate::stack;
use crate::stack::garp::Announcer;
use crate::stack::neigh::{NeighConfig, NeighTable, Released};
use crate::time::Time;
use crate::verdict::{DropCounters, DropReason, PortId, Verdict};
use crate::wire::ethernet::{EtherType, EthernetFrame};
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::Ipv4Packet;
use std::sync::Arc;

/// Per-worker counters (single writer).
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    /// Frames handed to [`Worker::process`].
    pub rx_frames: u64,
    /// Frames answered with [`Verdict::Transmit`].
    pub tx_frames: u64,
    /// Drops by reason.
    pub drops: DropCounters,
}

/// One worker's dataplane state. `H` is the DPDK shell's handle for a packet
/// parked in the neighbour table while its next hop is resolved (an mbuf
/// owner); the dataplane never looks inside it. [`Worker::new`] uses `()`.
///
/// Worker 0 also announces the appliance's addresses with gratuitous ARP
/// (at start-up, and for addresses a new snapshot adds); one announcer is
/// enough for the link, so the others stay quiet.
#[derive(Debug)]
pub struct Worker<H = ()> {
    id: u16,
    snapshot: Arc<Snapshot>,
    stats: WorkerStats,
    neigh: NeighTable<H>,
    announcer: Announcer,
}

impl Worker {
    /// Worker number `id` running `snapshot`, with a default neighbour table.
    pub fn new(id: u16, snapshot: Arc<Snapshot>) -> Self {
        Worker::with_neigh(id, snapshot, NeighConfig::default())
    }
}

impl<H> Worker<H> {
    /// Worker number `id` running `snapshot`, with a neighbour table sized
    /// by `neigh` (all of it allocated here).
    pub fn with_neigh(id: u16, snapshot: Arc<Snapshot>, neigh: NeighConfig) -> Self {
        let mut announcer = Announcer::new();
        if id == 0 {
            // Due at the epoch: goes out on the first poll, whatever the clock.
            announcer.announce_all(Time::ZERO, &snapshot);
        }
        Worker {
            id,
            snapshot,
            stats: WorkerStats::default(),
            neigh: NeighTable::new(neigh),
            announcer,
        }
    }

    /// This worker's index.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The snapshot in force.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// Swaps in a new snapshot (between bursts).
    pub fn set_snapshot(&mut self, snapshot: Arc<Snapshot>) {
        if self.id == 0 {
            self.announcer
                .announce_changes(Time::ZERO, &self.snapshot, &snapshot);
        }
        self.snapshot = snapshot;
    }

    /// Counters so far.
    pub fn stats(&self) -> &WorkerStats {
        &self.stats
    }

    /// The neighbour table.
    pub fn neigh(&self) -> &NeighTable<H> {
        &self.neigh
    }

    /// The neighbour table, to resolve next hops and park packets.
    pub fn neigh_mut(&mut self) -> &mut NeighTable<H> {
        &mut self.neigh
    }

    /// Writes the next frame the worker itself wants to send (an ARP request
    /// for a next hop, a gratuitous ARP) into `buf` (at least 60 bytes): the
    /// port and length, or `None` when nothing is due. Call until `None` once
    /// per poll loop.
    pub fn poll_transmit(&mut self, now: Time, buf: &mut [u8]) -> Option<(PortId, usize)> {
        self.neigh
            .poll_transmit(now, &self.snapshot, buf)
            .or_else(|| self.announcer.poll_transmit(now, &self.snapshot, buf))
    }

    /// The next parked packet to send (next hop resolved: rewrite its
    /// Ethernet destination with [`stack::neigh::set_next_hop`]) or free.
    pub fn poll_released(&mut self) -> Option<Released<H>> {
        self.neigh.poll_released()
    }

    /// When [`Worker::poll_transmit`] next has work, if ever.
    pub fn poll_timeout(&self) -> Option<Time> {
        match (self.neigh.poll_timeout(), self.announcer.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Processes one frame received on `rx_port` at `now`, rewriting it in
    /// place, and says what to do with it.
    pub fn process(&mut self, now: Time, rx_port: PortId, frame: &mut Frame<'_>) -> Verdict {
        self.stats.rx_frames += 1;
        let verdict = match self.snapshot.interface(rx_port) {
            None => Verdict::Drop(DropReason::UnknownPort),
            Some(iface) => match ethernet_input(&mut self.neigh, now, iface, frame) {
                Ok(()) => Verdict::Transmit { port: rx_port },
                Err(reason) => Verdict::Drop(reason),
            },
        };
        match verdict {
            Verdict::Transmit { .. } => self.stats.tx_frames += 1,
            Verdict::Drop(reason) => self.stats.drops.count(reason),
            _ => {}
        }
        verdict
    }
}

/// Dispatches on the ethertype. `Ok(())`: the frame holds an answer for the
/// port it came in on.
fn ethernet_input<H>(
    neigh: &mut NeighTable<H>,
    now: Time,
    iface: &Interface,
    frame: &mut Frame<'_>,
) -> Result<(), DropReason> {
    let eth = EthernetFrame::new_checked(frame.data())?;
    let dst = eth.dst_addr();
    // Unicast to another station (a promiscuous port, a flooding switch):
    // not ours, as Linux's PACKET_OTHERHOST.
    if !dst.is_multicast() && dst != iface.mac {
        return Err(DropReason::NotForUs);
    }
    let l2_len = eth.header_len();
    match eth.ethertype() {
        EtherType::ARP => {
            stack::arp::learn(neigh, now, iface, l2_len, frame.data());
            stack::arp::input(iface, l2_len, frame)
        }
        EtherType::IPV4 => ipv4_input(iface, l2_len, frame),
        _ => Err(DropReason::UnknownEthertype),
    }
}

/// Validates an IPv4 header (lengths, version, header checksum), trims link
/// padding, and delivers what is addressed to the appliance.
fn ipv4_input(iface: &Interface, l2_len: usize, frame: &mut Frame<'_>) -> Result<(), DropReason> {
    let ip_bytes = frame.data().get(l2_len..).ok_or(DropReason::Truncated)?;
    let ip = Ipv4Packet::new_checked(ip_bytes)?;
    if !ip.verify_checksum() {
        return Err(DropReason::BadChecksum);
    }
    let (dst, protocol) = (ip.dst_addr(), ip.protocol());
    // Bytes past the total length are Ethernet padding (short packets are
    // padded to the 60-byte minimum frame): cut them so that nothing
    // downstream mistakes them for payload.
    let end = l2_len + usize::from(ip.total_len());
    if end < frame.len() {
        frame.set_len(end).map_err(|_| DropReason::Truncated)?;
    }
    if iface.owns(dst) && protocol == IpProtocol::ICMP {
        return stack::icmp::input(iface, l2_len, frame);
    }
    Err(DropReason::NotForUs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Ipv4Cidr, MacAddr};
    use crate::frame::FrameBuf;
    use crate::wire::hex;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

    fn worker() -> Worker {
        worker_numbered(1)
    }

    fn worker_numbered(id: u16) -> Worker {
        let interfaces = vec![Interface {
            port: 3,
            name: "lb0".into(),
            mac: OUR_MAC,
            mtu: 1500,
            addrs: vec![
                Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 2), 24).unwrap(),
                Ipv4Cidr::new(Ipv4Addr::new(192, 0, 2, 10), 32).unwrap(),
            ],
        }];
        let snapshot = Snapshot::new(1, interfaces, &[]).unwrap();
        Worker::new(id, Arc::new(snapshot))
    }

    fn process(w: &mut Worker, port: PortId, bytes: &[u8]) -> (Verdict, Vec<u8>) {
        let mut fb = FrameBuf::with_default_room(bytes);
        let v = fb.with_frame(|f| w.process(Time::ZERO, port, f));
        (v, fb.data().to_vec())
    }

    const ARP_REQ: &str = "ffffffffffff 525400123456 0806
        0001 0800 06 04 0001 525400123456 0a000001 000000000000 0a000002";

    const PING: &str = "020000000002 525400123456 0800
        4500 0054 4a3b 4000 4001 dc6b 0a000001 0a000002
        0800 c4f2 1c46 0001 a1b2c3d400000000 e86b0a0000000000
        101112131415161718191a1b1c1d1e1f 202122232425262728292a2b2c2d2e2f 3031323334353637";

    #[test]
    fn answers_arp() {
        let mut w = worker();
        let (v, out) = process(&mut w, 3, &hex(ARP_REQ));
        assert_eq!(v, Verdict::Transmit { port: 3 });
        assert_eq!(
            out,
            hex("525400123456 020000000002 0806
                 0001 0800 06 04 0002 020000000002 0a000002 525400123456 0a000001")
        );
        assert_eq!(w.stats().tx_frames, 1);
    }

    #[test]
    fn answers_tagged_arp_on_its_vlan() {
        let mut w = worker();
        let req = hex("ffffffffffff 525400123456 8100 0064 0806
            0001 0800 06 04 0001 525400123456 0a000001 000000000000 c000020a");
        let (v, out) = process(&mut w, 3, &req);
        assert_eq!(v, Verdict::Transmit { port: 3 });
        assert_eq!(
            out,
            hex("525400123456 020000000002 8100 0064 0806
                 0001 0800 06 04 0002 020000000002 c000020a 525400123456 0a000001")
        );
    }

    #[test]
    fn arp_teaches_the_neighbour_table() {
        use crate::stack::neigh::{NeighState, Resolve};
        let mut w = worker();
        let cip = Ipv4Addr::new(10, 0, 0, 1);
        let cmac = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        process(&mut w, 3, &hex(ARP_REQ));
        assert_eq!(w.neigh().get(3, cip), Some((NeighState::Stale, cmac)));
        // Resolving an unknown next hop parks the packet and asks for it.
        let rip = Ipv4Addr::new(10, 0, 0, 10);
        assert_eq!(
            w.neigh_mut().resolve(Time::ZERO, 3, rip, ()),
            Resolve::Queued
        );
        let mut buf = [0u8; 64];
        let (port, n) = w.poll_transmit(Time::ZERO, &mut buf).unwrap();
        assert_eq!((port, n), (3, 60));
        assert_eq!(
            &buf[..42],
            &hex("ffffffffffff 020000000002 0806
                  0001 0800 06 04 0001 020000000002 0a000002 000000000000 0a00000a")[..]
        );
        // Its reply (to our MAC) releases the packet.
        let reply = hex("020000000002 5254000000aa 0806
            0001 0800 06 04 0002 5254000000aa 0a00000a 020000000002 0a000002");
        assert_eq!(
            process(&mut w, 3, &reply).0,
            Verdict::Drop(DropReason::ArpConsumed)
        );
        let rmac = MacAddr([0x52, 0x54, 0, 0, 0, 0xaa]);
        assert_eq!(
            w.poll_released(),
            Some(Released::Send {
                port: 3,
                mac: rmac,
                handle: ()
            })
        );
        assert_eq!(w.poll_timeout(), Some(Time::from_secs(30)));
    }

    #[test]
    fn worker_zero_announces_its_addresses() {
        let mut w = worker_numbered(0);
        let mut buf = [0u8; 60];
        assert_eq!(w.poll_timeout(), Some(Time::ZERO));
        let now = Time::from_secs(100);
        let mut announced = Vec::new();
        while let Some((port, n)) = w.poll_transmit(now, &mut buf) {
            assert_eq!((port, n), (3, 60));
            assert_eq!(&buf[28..32], &buf[38..42]); // sender = target address
            announced.push(Ipv4Addr::new(buf[28], buf[29], buf[30], buf[31]));
        }
        assert_eq!(
            announced,
            [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(192, 0, 2, 10)]
        );
        assert_eq!(w.poll_timeout(), Some(Time::from_secs(102)));

        // A new snapshot with one more address while the second round is
        // still pending: the series restarts now with all three (the merge
        // re-announces the unfinished ones rather than track rounds apiece).
        let mut next = (**w.snapshot()).clone();
        next.generation = 2;
        next.interfaces[0]
            .addrs
            .push(Ipv4Cidr::new(Ipv4Addr::new(192, 0, 2, 11), 32).unwrap());
        w.set_snapshot(Arc::new(next));
        let mut count = 0;
        while w.poll_transmit(Time::from_secs(101), &mut buf).is_some() {
            count += 1;
        }
        assert_eq!(count, 3);
        assert_eq!(w.poll_timeout(), Some(Time::from_secs(103)));
        // Other workers stay quiet.
        assert_eq!(worker().poll_transmit(now, &mut buf), None);
    }

    #[test]
    fn arp_for_a_foreign_ip_is_dropped() {
        let mut w = worker();
        let mut req = hex(ARP_REQ);
        req[41] = 7;
        let (v, _) = process(&mut w, 3, &req);
        assert_eq!(v, Verdict::Drop(DropReason::ArpIgnored));
        assert_eq!(w.stats().drops.get(DropReason::ArpIgnored), 1);
    }

    #[test]
    fn answers_ping_with_padding_and_tag() {
        let mut w = worker();
        // Untagged, then the same on VLAN 100 with 10 bytes of padding.
        let (v, out) = process(&mut w, 3, &hex(PING));
        assert_eq!(v, Verdict::Transmit { port: 3 });
        check_reply(&out);

        let mut tagged = hex(PING);
        tagged.splice(12..12, [0x81, 0x00, 0x00, 0x64]);
        tagged.extend_from_slice(&[0; 10]);
        let (v, out) = process(&mut w, 3, &tagged);
        assert_eq!(v, Verdict::Transmit { port: 3 });
        assert_eq!(out.len(), tagged.len() - 10);
        assert_eq!(&out[12..16], &[0x81, 0x00, 0x00, 0x64]);
        check_reply(&out);
    }

    fn check_reply(out: &[u8]) {
        let p = etherparse::SlicedPacket::from_ethernet(out).unwrap();
        let Some(etherparse::LinkSlice::Ethernet2(eth)) = p.link else {
            panic!("no ethernet")
        };
        assert_eq!(eth.source(), OUR_MAC.0);
        assert_eq!(eth.destination(), [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        let Some(etherparse::NetSlice::Ipv4(v4)) = p.net else {
            panic!("not ipv4")
        };
        let h = v4.header();
        assert_eq!(h.to_header().calc_header_checksum(), h.header_checksum());
        assert_eq!(h.source(), [10, 0, 0, 2]);
        assert_eq!(h.destination(), [10, 0, 0, 1]);
        assert_eq!(h.ttl(), 64);
        let Some(etherparse::TransportSlice::Icmpv4(icmp)) = p.transport else {
            panic!()
        };
        assert_eq!(
            icmp.icmp_type().calc_checksum(icmp.payload()),
            icmp.checksum()
        );
        assert!(matches!(
            icmp.icmp_type(),
            etherparse::Icmpv4Type::EchoReply(_)
        ));
    }

    #[test]
    fn drops_are_counted_by_reason() {
        let mut w = worker();
        assert_eq!(
            process(&mut w, 9, &hex(PING)).0,
            Verdict::Drop(DropReason::UnknownPort)
        );
        assert_eq!(
            process(&mut w, 3, &[]).0,
            Verdict::Drop(DropReason::Truncated)
        );
        assert_eq!(
            process(&mut w, 3, &hex(PING)[..13]).0,
            Verdict::Drop(DropReason::Truncated)
        );
        let mut v6 = hex(PING);
        v6[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(
            process(&mut w, 3, &v6).0,
            Verdict::Drop(DropReason::UnknownEthertype)
        );
        let mut bad = hex(PING);
        bad[24] ^= 1; // header checksum
        assert_eq!(
            process(&mut w, 3, &bad).0,
            Verdict::Drop(DropReason::BadChecksum)
        );
        let mut other_host = hex(PING);
        other_host[5] = 9; // unicast to another MAC
        assert_eq!(
            process(&mut w, 3, &other_host).0,
            Verdict::Drop(DropReason::NotForUs)
        );
        let mut short_ip = hex(PING);
        short_ip.truncate(40);
        assert_eq!(
            process(&mut w, 3, &short_ip).0,
            Verdict::Drop(DropReason::Truncated)
        );
        assert_eq!(w.stats().rx_frames, 7);
        assert_eq!(w.stats().drops.total(), 7);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut w = worker();
            let _ = process(&mut w, 3, &bytes);
        }

        #[test]
        fn mutated_requests_never_panic(
            which in 0usize..2,
            flips in proptest::collection::vec((0usize..200, any::<u8>()), 1..8),
            cut in 0usize..200,
        ) {
            // Start from valid frames so that mutations reach deep parsers.
            let mut bytes = hex(if which == 0 { ARP_REQ } else { PING });
            for (at, v) in flips {
                if let Some(b) = bytes.get_mut(at % 98) {
                    *b = v;
                }
            }
            bytes.truncate(cut.max(1));
            let mut w = worker();
            let (v, out) = process(&mut w, 3, &bytes);
            if v == (Verdict::Transmit { port: 3 }) {
                prop_assert!(out.len() >= 14);
                prop_assert_eq!(&out[6..12], &OUR_MAC.0[..]);
            }
        }
    }
}
