//! An in-memory simulator: a director of one or more [`Worker`]s driven
//! with a virtual clock, for tests, benches and fuzzing (quinn's `Pair`,
//! STYLE.md rule 8). Frames go in as bytes on a port; what comes out is the
//! verdict and the rewritten frame. A redirect is followed to the owning
//! worker, as the DPDK shell's redirect ring would. ARP requests the
//! workers send for hosts the simulator knows are answered, so next hops
//! resolve the way they do on a wire.
//!
//! [`packet`] builds and reads the Ethernet/IPv4/TCP|UDP frames the tests
//! exchange, with correct checksums.

use crate::addr::MacAddr;
use crate::frame::FrameBuf;
use crate::snapshot::Snapshot;
use crate::stack::neigh::Learn;
use crate::time::Time;
use crate::verdict::{PortId, Verdict};
use crate::worker::{Worker, WorkerConfig};
use core::time::Duration;
use std::net::Ipv4Addr;
use std::sync::Arc;

/// What became of one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The worker that decided (the owner, after a redirect).
    pub worker: u16,
    /// Its verdict.
    pub verdict: Verdict,
    /// The frame as it left (rewritten in place, possibly grown).
    pub frame: Vec<u8>,
}

/// A director with its workers, the hosts around it, and a clock.
#[derive(Debug)]
pub struct Sim {
    /// The workers, by index.
    pub workers: Vec<Worker>,
    /// The virtual clock.
    pub now: Time,
    hosts: Vec<(PortId, Ipv4Addr, MacAddr)>,
}

impl Sim {
    /// `n` workers built from `cfg` (its `id` and `workers` are set per
    /// worker) running `snapshot`.
    pub fn new(snapshot: Arc<Snapshot>, cfg: &WorkerConfig, n: u16) -> Sim {
        let n = n.max(1);
        let workers = (0..n)
            .map(|id| {
                let c = WorkerConfig {
                    id,
                    workers: n,
                    ..cfg.clone()
                };
                Worker::with_config(c, Arc::clone(&snapshot))
            })
            .collect();
        Sim {
            workers,
            now: Time::ZERO,
            hosts: Vec::new(),
        }
    }

    /// A host at `ip`/`mac` on `port`, answering ARP. Every worker also
    /// learns it, as if it had asked the director for a DIP.
    pub fn add_host(&mut self, port: PortId, ip: Ipv4Addr, mac: MacAddr) {
        self.hosts.push((port, ip, mac));
        for w in &mut self.workers {
            w.neigh_mut().learn(self.now, port, ip, mac, Learn::Request);
        }
    }

    /// Installs `snapshot` in every worker.
    pub fn set_snapshot(&mut self, snapshot: &Arc<Snapshot>) {
        for w in &mut self.workers {
            w.set_snapshot(Arc::clone(snapshot));
        }
    }

    /// Delivers `frame` on `port` to worker `at` (where the NIC's steering
    /// put it), following one redirect.
    pub fn send_at(&mut self, at: u16, port: PortId, frame: &[u8]) -> Delivery {
        let mut worker = at;
        let mut buf = FrameBuf::with_default_room(frame);
        for _ in 0..2 {
            let now = self.now;
            let Some(w) = self.workers.get_mut(usize::from(worker)) else {
                break;
            };
            let verdict = buf.with_frame(|f| w.process(now, port, f));
            match verdict {
                Verdict::Redirect { worker: owner } if owner != worker => {
                    worker = owner;
                }
                _ => {
                    self.answer_arp();
                    return Delivery {
                        worker,
                        verdict,
                        frame: buf.data().to_vec(),
                    };
                }
            }
        }
        Delivery {
            worker,
            verdict: Verdict::Redirect { worker },
            frame: buf.data().to_vec(),
        }
    }

    /// [`Sim::send_at`] worker 0.
    pub fn send(&mut self, port: PortId, frame: &[u8]) -> Delivery {
        self.send_at(0, port, frame)
    }

    /// Moves the clock by `d` and lets every worker expire what is due
    /// (until nothing more is) and send its ARP requests.
    pub fn advance(&mut self, d: Duration) {
        // In steps of at most a second, as a poll loop would: each expiry
        // call has a bounded budget, which a long jump would spend on empty
        // wheel slots.
        let end = self.now + d;
        while self.now < end {
            let step = end.saturating_since(self.now).min(Duration::from_secs(1));
            self.now = self.now + step;
            let now = self.now;
            for w in &mut self.workers {
                while w.expire(now) > 0 {}
            }
        }
        self.answer_arp();
    }

    /// Conns over all workers.
    pub fn conns(&self) -> u32 {
        self.workers.iter().map(|w| w.conns().len()).sum()
    }

    /// Drains every worker's own transmissions; ARP requests for known
    /// hosts get their reply.
    fn answer_arp(&mut self) {
        let now = self.now;
        let mut buf = [0u8; 128];
        for i in 0..self.workers.len() {
            let mut replies = Vec::new();
            while let Some((port, n)) = self.workers[i].poll_transmit(now, &mut buf) {
                if let Some(r) = packet::arp_reply_to(&buf[..n], port, &self.hosts) {
                    replies.push((port, r));
                }
            }
            for (port, r) in replies {
                let mut fb = FrameBuf::with_default_room(&r);
                fb.with_frame(|f| self.workers[i].process(now, port, f));
            }
        }
    }
}

/// Building and reading test frames.
pub mod packet {
    use crate::addr::MacAddr;
    use crate::verdict::PortId;
    use crate::wire::arp::{ArpOperation, ArpPacket, ArpRepr};
    use crate::wire::checksum;
    use crate::wire::ethernet::{EtherType, EthernetFrame, EthernetRepr};
    use crate::wire::ip::IpProtocol;
    use crate::wire::ipv4::{Ipv4Packet, Ipv4Repr};
    use crate::wire::tcp::{TcpFlags, TcpPacket};
    use crate::wire::udp::UdpPacket;
    use std::net::Ipv4Addr;

    /// TCP flag bits, for [`tcp`].
    pub use crate::wire::tcp::TcpFlags as Flags;

    fn frame(src: MacAddr, dst: MacAddr, ip: &Ipv4Repr, l4: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 14 + 20 + l4.len()];
        let eth = EthernetRepr {
            src_addr: src,
            dst_addr: dst,
            vlan_id: None,
            ethertype: EtherType::IPV4,
        };
        let _ = eth.emit(&mut b);
        let _ = ip.emit(&mut b[14..]);
        b[34..].copy_from_slice(l4);
        b
    }

    /// An Ethernet/IPv4/TCP frame, TTL 64, DF, checksums right.
    pub fn tcp(
        src_mac: MacAddr,
        dst_mac: MacAddr,
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        flags: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut l4 = vec![0u8; 20 + payload.len()];
        l4[20..].copy_from_slice(payload);
        let mut t = TcpPacket::new_unchecked(&mut l4[..]);
        t.set_src_port(src.1);
        t.set_dst_port(dst.1);
        t.set_seq_number(1000);
        t.set_ack_number(if flags & TcpFlags::ACK != 0 { 2000 } else { 0 });
        t.set_header_len(20);
        t.set_flags(TcpFlags(flags));
        t.set_window_len(65535);
        let len = u16::try_from(l4.len()).unwrap_or(u16::MAX);
        let pseudo = checksum::pseudo_header_v4(src.0, dst.0, 6, len);
        TcpPacket::new_unchecked(&mut l4[..]).fill_checksum(pseudo);
        let ip = Ipv4Repr {
            src_addr: src.0,
            dst_addr: dst.0,
            protocol: IpProtocol::TCP,
            payload_len: len,
            ttl: 64,
            dont_frag: true,
            ident: 1,
        };
        frame(src_mac, dst_mac, &ip, &l4)
    }

    /// An Ethernet/IPv4/UDP frame, TTL 64, no DF, checksum right (or zero,
    /// "none", when `with_checksum` is false).
    pub fn udp(
        src_mac: MacAddr,
        dst_mac: MacAddr,
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        payload: &[u8],
        with_checksum: bool,
    ) -> Vec<u8> {
        let mut l4 = vec![0u8; 8 + payload.len()];
        l4[8..].copy_from_slice(payload);
        let len = u16::try_from(l4.len()).unwrap_or(u16::MAX);
        let mut u = UdpPacket::new_unchecked(&mut l4[..]);
        u.set_src_port(src.1);
        u.set_dst_port(dst.1);
        u.set_len(len);
        u.set_checksum(0);
        if with_checksum {
            u.fill_checksum(checksum::pseudo_header_v4(src.0, dst.0, 17, len));
        }
        let ip = Ipv4Repr {
            src_addr: src.0,
            dst_addr: dst.0,
            protocol: IpProtocol::UDP,
            payload_len: len,
            ttl: 64,
            dont_frag: false,
            ident: 1,
        };
        frame(src_mac, dst_mac, &ip, &l4)
    }

    /// What a test wants to know about a TCP/UDP frame.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Seen {
        /// Ethernet source.
        pub src_mac: MacAddr,
        /// Ethernet destination.
        pub dst_mac: MacAddr,
        /// IP source and transport source port.
        pub src: (Ipv4Addr, u16),
        /// IP destination and transport destination port.
        pub dst: (Ipv4Addr, u16),
        /// IP protocol.
        pub protocol: u8,
        /// TTL.
        pub ttl: u8,
    }

    /// Reads an untagged Ethernet/IPv4 frame with TCP or UDP ports.
    pub fn parse(frame: &[u8]) -> Option<Seen> {
        let eth = EthernetFrame::new_checked(frame).ok()?;
        let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
        let l4 = ip.payload();
        let ports = l4.get(..4)?;
        Some(Seen {
            src_mac: eth.src_addr(),
            dst_mac: eth.dst_addr(),
            src: (ip.src_addr(), u16::from_be_bytes([ports[0], ports[1]])),
            dst: (ip.dst_addr(), u16::from_be_bytes([ports[2], ports[3]])),
            protocol: ip.protocol().0,
            ttl: ip.ttl(),
        })
    }

    /// The ARP reply a host of `hosts` gives to the request in `frame` sent
    /// on `port`, if any.
    pub fn arp_reply_to(
        frame: &[u8],
        port: PortId,
        hosts: &[(PortId, Ipv4Addr, MacAddr)],
    ) -> Option<Vec<u8>> {
        let eth = EthernetFrame::new_checked(frame).ok()?;
        if eth.ethertype() != EtherType::ARP {
            return None;
        }
        let arp = ArpPacket::new_checked(eth.payload()).ok()?;
        if arp.operation() != ArpOperation::REQUEST {
            return None;
        }
        let target = arp.target_protocol_addr();
        let &(_, ip, mac) = hosts.iter().find(|h| h.0 == port && h.1 == target)?;
        let repr = ArpRepr {
            operation: ArpOperation::REPLY,
            source_hardware_addr: mac,
            source_protocol_addr: ip,
            target_hardware_addr: arp.source_hardware_addr(),
            target_protocol_addr: arp.source_protocol_addr(),
        };
        let mut b = vec![0u8; 60];
        crate::stack::neigh::emit_arp_frame(mac, arp.source_hardware_addr(), &repr, &mut b)?;
        Some(b)
    }
}

/// A standard lab around the director: clients behind a router on the
/// external port, real servers on the internal port.
///
/// ```text
///  clients 198.18.0.0/15 ── router 192.0.2.1 ── [port 0: 192.0.2.2/24]
///                                               director (VIP 192.0.2.100, LIP 10.0.0.200)
///  real servers 10.0.0.11.. ──────────────────── [port 1: 10.0.0.1/24]
/// ```
pub mod lab {
    use super::Sim;
    use crate::addr::{Ipv4Cidr, MacAddr};
    use crate::conn::{Fwd, Proto};
    use crate::sched::counts::ConnCounts;
    use crate::sched::{SchedConfig, SchedKind, SchedSeed};
    use crate::service::{Dest, Persistence, Service, ServiceKey, Services};
    use crate::snapshot::{Interface, Snapshot};
    use crate::stack::route::Route;
    use crate::worker::WorkerConfig;
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    /// External port.
    pub const EXT: u16 = 0;
    /// Internal port.
    pub const INT: u16 = 1;
    /// MAC of the external port.
    pub const EXT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    /// MAC of the internal port.
    pub const INT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
    /// The clients' router.
    pub const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    /// Its MAC.
    pub const ROUTER_MAC: MacAddr = MacAddr([0x52, 0x54, 0, 0, 0, 0x01]);
    /// The director's external DIP.
    pub const DIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    /// The director's internal DIP.
    pub const DIP_INT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    /// The VIP.
    pub const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
    /// The FullNAT LIP.
    pub const LIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 200);
    /// MTU of both links.
    pub const MTU: u16 = 1500;

    /// Real server `i`.
    pub fn rs(i: usize) -> Ipv4Addr {
        Ipv4Addr::from(0x0a00_000b + u32::try_from(i).unwrap_or(0))
    }

    /// MAC of real server `i`.
    pub fn rs_mac(i: usize) -> MacAddr {
        MacAddr([0x52, 0x54, 0, 0, 1, u8::try_from(i).unwrap_or(0)])
    }

    /// Client number `i` (198.18.0.0/15).
    pub fn client(i: u32) -> Ipv4Addr {
        Ipv4Addr::from(0xc612_0000 + (i & 0x1_ffff))
    }

    /// Client `i`'s TCP SYN from `cport` to VIP:80, as the router hands it
    /// to the director.
    pub fn syn(i: u32, cport: u16) -> Vec<u8> {
        super::packet::tcp(
            ROUTER_MAC,
            EXT_MAC,
            (client(i), cport),
            (VIP, 80),
            crate::wire::tcp::TcpFlags::SYN,
            b"",
        )
    }

    /// One virtual service of the lab, on the VIP.
    #[derive(Debug, Clone, Copy)]
    pub struct Svc {
        /// TCP or UDP.
        pub proto: Proto,
        /// Virtual port (0 = all ports).
        pub vport: u16,
        /// Method of every dest.
        pub fwd: Fwd,
        /// Real port of every dest.
        pub rport: u16,
        /// How many real servers (`rs(0)..`).
        pub dests: usize,
        /// `-p`/`-M`.
        pub persistence: Option<Persistence>,
        /// Scheduler.
        pub sched: SchedKind,
    }

    impl Svc {
        /// A round-robin service over `dests` servers without persistence.
        pub fn new(proto: Proto, vport: u16, fwd: Fwd, rport: u16, dests: usize) -> Svc {
            Svc {
                proto,
                vport,
                fwd,
                rport,
                dests,
                persistence: None,
                sched: SchedKind::Rr,
            }
        }
    }

    /// Slots per service: dest `j` of service `k` has counter slot `8k + j`.
    pub const SLOTS_PER_SVC: u32 = 8;

    /// The dests of `s` as service number `k`, with `weights`.
    pub fn dests(k: usize, s: &Svc, weights: &[u32]) -> Vec<Dest> {
        (0..s.dests)
            .map(|j| Dest {
                addr: IpAddr::V4(rs(j)),
                port: s.rport,
                weight: weights.get(j).copied().unwrap_or(1),
                fwd: s.fwd,
                u_threshold: 0,
                l_threshold: 0,
                slot: u32::try_from(k).unwrap_or(0) * SLOTS_PER_SVC + u32::try_from(j).unwrap_or(0),
            })
            .collect()
    }

    /// Service `k` from `s` and its dests.
    pub fn service(k: usize, s: &Svc, dests: Vec<Dest>) -> Service {
        let seed = SchedSeed::new(
            SchedConfig::new(s.sched),
            &Service::dest_specs(&dests, |d| d.weight.max(1)),
        );
        let seed = match seed {
            Ok(seed) => seed,
            Err(e) => panic!("lab scheduler refused: {e:?}"),
        };
        let key = ServiceKey::Addr {
            proto: s.proto,
            vaddr: IpAddr::V4(VIP),
            vport: s.vport,
        };
        Service::new(
            u32::try_from(k).unwrap_or(0) + 100,
            key,
            Arc::new(seed),
            s.persistence,
            dests,
        )
    }

    /// The lab's snapshot with `services` and counters for `workers`.
    pub fn snapshot(services: &[Svc], workers: u16) -> Snapshot {
        snapshot_with(
            services
                .iter()
                .enumerate()
                .map(|(k, s)| service(k, s, dests(k, s, &[])))
                .collect(),
            workers,
            1,
        )
    }

    /// The lab's snapshot at `generation` with the given services.
    pub fn snapshot_with(list: Vec<Service>, workers: u16, generation: u64) -> Snapshot {
        let interfaces = vec![
            Interface {
                port: EXT,
                name: "ext".into(),
                mac: EXT_MAC,
                mtu: MTU,
                addrs: vec![Ipv4Cidr {
                    addr: DIP,
                    prefix_len: 24,
                }],
            },
            Interface {
                port: INT,
                name: "int".into(),
                mac: INT_MAC,
                mtu: MTU,
                addrs: vec![Ipv4Cidr {
                    addr: DIP_INT,
                    prefix_len: 24,
                }],
            },
        ];
        let default = Route {
            prefix: Ipv4Cidr {
                addr: Ipv4Addr::UNSPECIFIED,
                prefix_len: 0,
            },
            gateway: Some(ROUTER),
            port: EXT,
            src: None,
            metric: 0,
        };
        let mut snap = match Snapshot::new(generation, interfaces, &[default]) {
            Ok(s) => s,
            Err(e) => panic!("lab routes refused: {e}"),
        };
        let slots = usize::try_from(SLOTS_PER_SVC).unwrap_or(8) * list.len().max(1);
        snap.services = match Services::new(list, vec![]) {
            Ok(s) => s,
            Err(e) => panic!("lab services refused: {e}"),
        };
        snap.laddrs = vec![LIP];
        snap.counts = Arc::new(ConnCounts::new(usize::from(workers.max(1)), slots));
        snap
    }

    /// A simulator of `workers` workers (conn capacity `conns` each) on
    /// `snap`, with the router and eight real servers answering ARP.
    pub fn sim(snap: Snapshot, workers: u16, conns: u32) -> Sim {
        let cfg = WorkerConfig {
            conn_capacity: conns,
            ..WorkerConfig::new(0)
        };
        let mut sim = Sim::new(Arc::new(snap), &cfg, workers);
        sim.add_host(EXT, ROUTER, ROUTER_MAC);
        for i in 0..8 {
            sim.add_host(super::lab::INT, rs(i), rs_mac(i));
        }
        sim
    }
}
