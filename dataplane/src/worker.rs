//! A worker: the per-core entry point of the dataplane. It owns its conn
//! table, schedulers, persistence templates, neighbour table and counters,
//! and is touched by exactly one thread (DESIGN.md, "Shape of the system").
//!
//! The packet path of [`Worker::process`]:
//!
//! 1. Ethernet: unicast to another station is dropped; ARP is answered for
//!    every address the appliance owns (DIPs, VIPs, LIPs) and teaches the
//!    neighbour table.
//! 2. IPv4: header validated (lengths, checksum), link padding trimmed.
//!    ICMP echo to an owned address is answered; an ICMP error quoting a
//!    tracked conn is translated and forwarded ([`crate::fwd::icmp`]).
//! 3. TCP/UDP: conn lookup by the packet's tuple (both directions are
//!    indexed). A hit steps the conn's state machine, counts, rewrites per
//!    method ([`crate::fwd`]) and transmits. A miss that another worker
//!    owns is redirected there untouched; a miss for a service (TCP SYN
//!    without RST, as `tcp_conn_schedule`, or any UDP datagram) goes
//!    through persistence and the scheduler to a new conn; anything else is
//!    handed to the kernel (to a DIP) or dropped with its reason.
//!
//! Policies, and why:
//! - Fragments (MF set or offset non-zero) of forwarded traffic are dropped
//!   and counted ([`DropReason::Fragment`]): later fragments carry no ports,
//!   so no conn can be found for them, and rvs does not reassemble (IPVS
//!   relies on the kernel's defrag, which rvs does not have). Fragments to a
//!   DIP go to the kernel, which reassembles.
//! - Next hops whose MAC is not known yet: the packet is dropped
//!   ([`DropReason::NeighUnresolved`]) and the neighbour table creates an
//!   incomplete entry, so [`Worker::poll_transmit`] sends the ARP request;
//!   the client's retransmission finds the MAC. (The DPDK shell parks no
//!   mbufs on this path; the parking API stays for the shell's own sends.)
//! - Traffic to a DIP that no service claims (SSH, BGP, VRRP and multicast
//!   or broadcast) goes to the kernel through the exception path.
//! - IP options are kept and forwarded as they are; header lengths are
//!   honoured everywhere.
//! - A conn records its service's stable id and its dest's stable counter
//!   slot (not their positions, which move between snapshots), so counts
//!   and statistics stay right across configuration changes.
//!
//! [`Worker::process_burst`] runs a burst of frames through the same path
//! with the same outcome, classifying all of them first and making their
//! conn lookups together so that cache misses overlap (VPP's dual/quad
//! loops with prefetch); the DPDK shell should hand it whole rx bursts.
//! Egress next hops are cached per destination ([`crate::fwd::next_hop`]),
//! so an established packet costs one conn lookup, a rewrite and no route
//! or neighbour lookup.
//!
//! Conn counting follows IPVS: a new conn is bound inactive, its state
//! transitions move it between active and inactive, and its expiry or
//! removal unbinds it ([`crate::sched::counts::ConnCounts`]). Call
//! [`Worker::expire`] once per poll loop.

use crate::conn::{
    ConnConfig, ConnState, ConnTable, CountChange, Dir, Fwd, Hit, InsertError, NewConn, Proto,
    TableConfig, TcpFlags, TcpState, Tuple, WheelConfig,
};
use crate::frame::Frame;
use crate::fwd::next_hop::{Hop, NextHopCache};
use crate::fwd::{self, fullnat::LportPool, tun::TunError};
use crate::persist::{client_net, TemplateKey, Templates};
use crate::sched::counts::{ConnClass, CountedDests};
use crate::sched::daddr_table::CHECK_EXPIRE_INTERVAL;
use crate::sched::overload::Thresholds;
use crate::sched::tree::{reload_interval, Order, PickTree};
use crate::sched::{SchedKey, Scheduler};
use crate::snapshot::{Interface, Snapshot};
use crate::stack;
use crate::stack::garp::Announcer;
use crate::stack::neigh::{Learn, NeighConfig, NeighTable, Released};
use crate::stack::route::NextHop;
use crate::time::Time;
use crate::verdict::{DropCounters, DropReason, PortId, Verdict};
use crate::wire::ethernet::{EtherType, EthernetFrame};
use crate::wire::icmp::{self as icmp_wire, Icmpv4Error, Icmpv4Type};
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;
use core::ops::RangeInclusive;
use hashbrown::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// What a worker is built with. [`WorkerConfig::new`] gives defaults fit
/// for tests and small deployments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// This worker's index, `0..workers`.
    pub id: u16,
    /// How many workers share the traffic (conn ownership, lport partition).
    pub workers: u16,
    /// Most conns this worker tracks.
    pub conn_capacity: u32,
    /// Most persistence templates this worker keeps.
    pub template_capacity: u32,
    /// Secret keying the conn table hash (random per worker in production).
    pub seed: u64,
    /// Neighbour table shape.
    pub neigh: NeighConfig,
    /// Conn expiry work per [`Worker::expire`] call.
    pub expire_budget: u32,
    /// FullNAT local ports; each worker uses its residue class of it.
    pub lports: RangeInclusive<u16>,
}

impl WorkerConfig {
    /// Worker `id` of one, 16 Ki conns, 4 Ki templates.
    pub fn new(id: u16) -> Self {
        WorkerConfig {
            id,
            workers: 1,
            conn_capacity: 16 * 1024,
            template_capacity: 4 * 1024,
            seed: 0x5eed_0000 ^ u64::from(id),
            neigh: NeighConfig::default(),
            expire_budget: 256,
            lports: 1024..=65535,
        }
    }
}

/// Per service or per dest traffic counters, as `ipvsadm --stats` shows
/// them (Conns, InPkts, OutPkts, InBytes, OutBytes; bytes are IP lengths).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficStats {
    /// Conns created.
    pub conns: u64,
    /// Packets client -> real server.
    pub inpkts: u64,
    /// Packets real server -> client.
    pub outpkts: u64,
    /// Bytes client -> real server.
    pub inbytes: u64,
    /// Bytes real server -> client.
    pub outbytes: u64,
}

impl TrafficStats {
    fn packet(&mut self, dir: Dir, bytes: u64) {
        match dir {
            Dir::In => {
                self.inpkts += 1;
                self.inbytes += bytes;
            }
            Dir::Out => {
                self.outpkts += 1;
                self.outbytes += bytes;
            }
        }
    }

    /// Adds `other` (the control core sums workers with it).
    pub fn add(&mut self, other: &TrafficStats) {
        self.conns += other.conns;
        self.inpkts += other.inpkts;
        self.outpkts += other.outpkts;
        self.inbytes += other.inbytes;
        self.outbytes += other.outbytes;
    }
}

/// Per-worker counters (single writer).
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    /// Frames handed to [`Worker::process`].
    pub rx_frames: u64,
    /// Frames answered with [`Verdict::Transmit`].
    pub tx_frames: u64,
    /// Frames answered with [`Verdict::Redirect`].
    pub redirected: u64,
    /// Frames answered with [`Verdict::ToKernel`].
    pub to_kernel: u64,
    /// ICMP errors originated (time exceeded, fragmentation needed).
    pub icmp_errors: u64,
    /// Drops by reason.
    pub drops: DropCounters,
    /// Traffic of every service together (`ipvsadm --stats` totals).
    pub total: TrafficStats,
}

/// This worker's state for one service of the snapshot.
#[derive(Debug)]
struct SvcState {
    id: u32,
    sched: Scheduler,
    /// Overload flag per dest (list order), kept from the shared counts.
    overloaded: Vec<bool>,
    /// The pick tree of lc, wlc, sed, nq, fo, ovf and twos services: this
    /// worker's view of the service-wide counts (its own binds at once,
    /// other workers' at the tree's reloads) and overload flags.
    tree: Option<PickTree>,
    /// Some dest has an upper threshold.
    thresholds: bool,
    /// Every dest is DR or TUN and the service is not persistent: no
    /// replies, the seeing worker owns conns.
    local_owner: bool,
    /// A persistent service: the prefix length of the client network whose
    /// owner ([`fwd::nat_owner`] of the masked address) takes its new conns
    /// and keeps their template. `-M`'s when no dest is NAT; 32 when one
    /// is, since a NAT conn must live where its replies go (the owner of
    /// the client address).
    net_owner: Option<u8>,
    stats: TrafficStats,
}

impl SvcState {
    /// Dest `i`'s overload flag, in the flags and in the pick tree alike.
    fn set_overloaded(&mut self, i: usize, overloaded: bool) {
        if let Some(o) = self.overloaded.get_mut(i) {
            *o = overloaded;
        }
        if let Some(t) = self.tree.as_mut() {
            t.set_overloaded(i, overloaded);
        }
    }
}

/// Slot not used by any dest of the snapshot.
const NO_SVC: (u32, u32) = (u32::MAX, u32::MAX);

/// What the packet path learnt from the headers.
#[derive(Debug, Clone, Copy)]
struct Pkt {
    l2_len: usize,
    ip_len: u16,
    tuple: Tuple<Ipv4Addr>,
    flags: TcpFlags,
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
    snapshot: Arc<Snapshot>,
    announcer: Announcer,
    e: Engine<H>,
}

/// Everything but the snapshot, so that the packet path can borrow the
/// snapshot and mutate the rest.
#[derive(Debug)]
struct Engine<H> {
    id: u16,
    workers: u16,
    conns: ConnTable<Ipv4Addr>,
    conn_cfg: ConnConfig,
    svcs: Vec<SvcState>,
    /// Dest slot -> (service index, dest index) in the snapshot.
    slot_svc: Vec<(u32, u32)>,
    /// Traffic per dest slot.
    dest_stats: Vec<TrafficStats>,
    stats: WorkerStats,
    neigh: NeighTable<H>,
    /// Resolved next hops, valid for this snapshot and neighbour generation.
    hops: NextHopCache,
    lports: LportPool,
    templates: Templates,
    ident: u16,
    expire_budget: u32,
    next_sched_gc: Time,
}

impl Worker {
    /// Worker number `id` (of one) running `snapshot`, with
    /// [`WorkerConfig::new`] defaults.
    pub fn new(id: u16, snapshot: Arc<Snapshot>) -> Self {
        Worker::with_config(WorkerConfig::new(id), snapshot)
    }
}

impl<H> Worker<H> {
    /// Worker number `id` running `snapshot`, with a neighbour table sized
    /// by `neigh` (all of it allocated here).
    pub fn with_neigh(id: u16, snapshot: Arc<Snapshot>, neigh: NeighConfig) -> Self {
        Worker::with_config(
            WorkerConfig {
                neigh,
                ..WorkerConfig::new(id)
            },
            snapshot,
        )
    }

    /// A worker as configured. Every table is allocated here; a bad conn
    /// capacity (0, or above 2^30) falls back to the default.
    pub fn with_config(cfg: WorkerConfig, snapshot: Arc<Snapshot>) -> Self {
        let mut announcer = Announcer::new();
        if cfg.id == 0 {
            // Due at the epoch: goes out on the first poll, whatever the clock.
            announcer.announce_all(Time::ZERO, &snapshot);
        }
        let table = |capacity| {
            ConnTable::new(TableConfig {
                capacity,
                seed: cfg.seed,
                wheel: WheelConfig::default(),
                start: Time::ZERO,
            })
        };
        let conns = match table(cfg.conn_capacity) {
            Ok(t) => t,
            Err(_) => match table(WorkerConfig::new(cfg.id).conn_capacity) {
                Ok(t) => t,
                // The default capacity is valid by construction.
                Err(e) => unreachable!("default conn table refused: {e:?}"),
            },
        };
        let workers = cfg.workers.max(1);
        let mut e = Engine {
            id: cfg.id,
            workers,
            conns,
            conn_cfg: ConnConfig::default(),
            svcs: Vec::new(),
            slot_svc: Vec::new(),
            dest_stats: Vec::new(),
            stats: WorkerStats::default(),
            neigh: NeighTable::new(cfg.neigh),
            hops: NextHopCache::new(),
            lports: LportPool::new(cfg.id, workers, cfg.lports.clone()),
            templates: Templates::new(cfg.template_capacity),
            ident: cfg.id.wrapping_mul(0x1000),
            expire_budget: cfg.expire_budget.max(1),
            next_sched_gc: Time::ZERO + CHECK_EXPIRE_INTERVAL,
        };
        e.install(&snapshot);
        Worker {
            snapshot,
            announcer,
            e,
        }
    }

    /// This worker's index.
    pub fn id(&self) -> u16 {
        self.e.id
    }

    /// How many workers share the traffic.
    pub fn workers(&self) -> u16 {
        self.e.workers
    }

    /// The snapshot in force.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// Swaps in a new snapshot (between bursts). Schedulers of services that
    /// stay (same id) carry their state over ([`Scheduler::carry_over`]);
    /// new services get fresh ones. Conns keep running.
    pub fn set_snapshot(&mut self, snapshot: Arc<Snapshot>) {
        if self.e.id == 0 {
            self.announcer
                .announce_changes(Time::ZERO, &self.snapshot, &snapshot);
        }
        self.e.install(&snapshot);
        self.snapshot = snapshot;
    }

    /// Counters so far.
    pub fn stats(&self) -> &WorkerStats {
        &self.e.stats
    }

    /// Traffic per service, as (service id, counters), for the services of
    /// the snapshot in force.
    pub fn service_stats(&self) -> impl Iterator<Item = (u32, TrafficStats)> + '_ {
        self.e.svcs.iter().map(|s| (s.id, s.stats))
    }

    /// Traffic per dest, indexed by dest slot.
    pub fn dest_stats(&self) -> &[TrafficStats] {
        &self.e.dest_stats
    }

    /// The conn table.
    pub fn conns(&self) -> &ConnTable<Ipv4Addr> {
        &self.e.conns
    }

    /// The persistence templates.
    pub fn templates(&self) -> &Templates {
        &self.e.templates
    }

    /// The neighbour table.
    pub fn neigh(&self) -> &NeighTable<H> {
        &self.e.neigh
    }

    /// The neighbour table, to resolve next hops and park packets.
    pub fn neigh_mut(&mut self) -> &mut NeighTable<H> {
        &mut self.e.neigh
    }

    /// Writes the next frame the worker itself wants to send (an ARP request
    /// for a next hop, a gratuitous ARP) into `buf` (at least 60 bytes): the
    /// port and length, or `None` when nothing is due. Call until `None` once
    /// per poll loop.
    pub fn poll_transmit(&mut self, now: Time, buf: &mut [u8]) -> Option<(PortId, usize)> {
        self.e
            .neigh
            .poll_transmit(now, &self.snapshot, buf)
            .or_else(|| self.announcer.poll_transmit(now, &self.snapshot, buf))
    }

    /// The next parked packet to send (next hop resolved: rewrite its
    /// Ethernet destination with [`stack::neigh::set_next_hop`]) or free.
    pub fn poll_released(&mut self) -> Option<Released<H>> {
        self.e.neigh.poll_released()
    }

    /// When [`Worker::poll_transmit`] next has work, if ever.
    pub fn poll_timeout(&self) -> Option<Time> {
        match (self.e.neigh.poll_timeout(), self.announcer.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expires conns whose timer ran out (at most the configured budget of
    /// work), persistence templates, and scheduler state that ages. Call
    /// once per poll loop. Returns how many conns went.
    pub fn expire(&mut self, now: Time) -> u32 {
        self.e.expire(&self.snapshot, now)
    }

    /// Removes every conn now (`ipvsadm -C` with conns flushed, tests),
    /// unbinding each from its dest.
    pub fn flush_conns(&mut self) {
        let ids: Vec<_> = self.e.conns.iter().map(|(id, _)| id).collect();
        for id in ids {
            self.e.remove_conn(&self.snapshot, id);
        }
    }

    /// Processes one frame received on `rx_port` at `now`, rewriting it in
    /// place, and says what to do with it.
    pub fn process(&mut self, now: Time, rx_port: PortId, frame: &mut Frame<'_>) -> Verdict {
        let verdict = self.e.input(&self.snapshot, now, rx_port, frame);
        self.e.stats.account(verdict);
        verdict
    }

    /// Processes a burst of frames received on `rx_port` at `now`, as
    /// [`Worker::process`] would one after the other: `verdicts[i]` gets
    /// the verdict for `frames[i]` (the shorter slice bounds the work).
    ///
    /// Faster with big conn tables: per chunk of [`BURST`] frames, every
    /// frame is classified first, then all their conn lookups are made
    /// together so that their cache misses overlap
    /// ([`ConnTable::lookup_burst`]), then each frame is acted on in order.
    /// A lookup is used only while the table has not changed since (a frame
    /// that creates or removes a conn makes the later ones look up again),
    /// so the outcome is exactly that of single processing.
    pub fn process_burst(
        &mut self,
        now: Time,
        rx_port: PortId,
        frames: &mut [Frame<'_>],
        verdicts: &mut [Verdict],
    ) {
        let snap = &*self.snapshot;
        let iface = snap.interface(rx_port);
        let e = &mut self.e;
        for (frames, verdicts) in frames.chunks_mut(BURST).zip(verdicts.chunks_mut(BURST)) {
            let mut classes = [Class::Done(Verdict::Drop(DropReason::Truncated)); BURST];
            let mut keys = [NO_TUPLE; BURST];
            let mut which = [0usize; BURST];
            let mut n = 0;
            for (i, (c, f)) in classes.iter_mut().zip(frames.iter_mut()).enumerate() {
                let class = classify_on(snap, iface, f);
                // The key is taken from the value in registers, not read
                // back from the array (a store-forwarding stall otherwise).
                if let Class::L4 { pkt, .. } = &class {
                    keys[n] = pkt.tuple;
                    which[n] = i;
                    n += 1;
                }
                *c = class;
            }
            let mut found = [None; BURST];
            e.conns.lookup_burst(&keys[..n], &mut found[..n]);
            let mut hints = [None; BURST];
            for (&i, &f) in which[..n].iter().zip(&found[..n]) {
                hints[i] = Some(f);
            }
            let version = e.conns.version();
            for ((c, f), (v, h)) in classes
                .iter()
                .zip(frames.iter_mut())
                .zip(verdicts.iter_mut().zip(hints))
            {
                let hint = h.filter(|_| e.conns.version() == version);
                *v = e.dispatch(snap, now, *c, hint, f);
                e.stats.account(*v);
            }
        }
    }
}

/// Frames per chunk of [`Worker::process_burst`] (DPDK's usual rx burst).
pub const BURST: usize = 32;

/// Filler for unused key slots of a burst.
const NO_TUPLE: Tuple<Ipv4Addr> = Tuple {
    proto: Proto::Tcp,
    saddr: Ipv4Addr::UNSPECIFIED,
    sport: 0,
    daddr: Ipv4Addr::UNSPECIFIED,
    dport: 0,
};

impl WorkerStats {
    /// Counts one processed frame and its verdict.
    #[inline]
    fn account(&mut self, verdict: Verdict) {
        self.rx_frames += 1;
        match verdict {
            Verdict::Transmit { .. } => self.tx_frames += 1,
            Verdict::Redirect { .. } => self.redirected += 1,
            Verdict::ToKernel { .. } => self.to_kernel += 1,
            Verdict::Drop(reason) => self.drops.count(reason),
        }
    }
}

fn drop_on<T>(r: Result<T, DropReason>) -> Result<T, Verdict> {
    r.map_err(Verdict::Drop)
}

fn class(active: bool) -> ConnClass {
    if active {
        ConnClass::Active
    } else {
        ConnClass::Inactive
    }
}

/// A source that cannot name a host: never scheduled or forwarded
/// (RFC 1812 §5.3.7).
fn martian(src: Ipv4Addr) -> bool {
    src.is_unspecified()
        || src.is_broadcast()
        || src.is_multicast()
        || src.is_loopback()
        || src.octets()[0] == 0
}

/// What the first look at a frame found: enough to act on it, with no
/// side effect yet (bursts classify every frame before acting on any).
#[derive(Debug, Clone, Copy)]
enum Class<'s> {
    /// The verdict is known already (a malformed or foreign frame).
    Done(Verdict),
    /// ARP at `l2_len`.
    Arp { iface: &'s Interface, l2_len: usize },
    /// ICMP at `l2_len`.
    Icmp {
        iface: &'s Interface,
        l2_len: usize,
        local: bool,
        frag: bool,
    },
    /// An unfragmented TCP or UDP packet: the conn path. (Whether it is
    /// addressed to a DIP matters only without a conn: [`is_local`] is
    /// asked then, not on the established path.)
    L4 {
        iface: &'s Interface,
        pkt: Pkt,
        unicast: bool,
    },
}

/// True for packets addressed to the appliance itself (a DIP), multicast
/// or broadcast: the kernel's business unless a service claims them.
fn is_local(snap: &Snapshot, dst: Ipv4Addr) -> bool {
    snap.is_dip(dst) || dst.is_multicast() || dst.is_broadcast()
}

/// Validates the layers of `frame` up to the transport ports, as far as
/// its kind needs, and trims link padding (steps 1 and 2 of the module
/// comment, without their actions).
#[inline(always)]
fn classify<'s>(snap: &'s Snapshot, rx_port: PortId, frame: &mut Frame<'_>) -> Class<'s> {
    classify_on(snap, snap.interface(rx_port), frame)
}

/// [`classify`] with the receiving interface already looked up (once per
/// burst).
#[inline(always)]
fn classify_on<'s>(
    snap: &'s Snapshot,
    iface: Option<&'s Interface>,
    frame: &mut Frame<'_>,
) -> Class<'s> {
    let Some(iface) = iface else {
        return Class::Done(Verdict::Drop(DropReason::UnknownPort));
    };
    let eth = match EthernetFrame::new_checked(frame.data()) {
        Ok(e) => e,
        Err(e) => return Class::Done(Verdict::Drop(e.into())),
    };
    let dst = eth.dst_addr();
    // Unicast to another station (a promiscuous port, a flooding switch):
    // not ours, as Linux's PACKET_OTHERHOST.
    if !dst.is_multicast() && dst != iface.mac {
        return Class::Done(Verdict::Drop(DropReason::NotForUs));
    }
    let unicast = !dst.is_multicast();
    let l2_len = eth.header_len();
    match eth.ethertype() {
        EtherType::ARP => Class::Arp { iface, l2_len },
        EtherType::IPV4 => match classify_ipv4(snap, iface, l2_len, unicast, frame) {
            Ok(c) => c,
            Err(v) => Class::Done(v),
        },
        _ => Class::Done(Verdict::Drop(DropReason::UnknownEthertype)),
    }
}

/// An IPv4 packet: header validated (lengths, checksum), padding trimmed,
/// TCP/UDP ports read.
#[inline(always)]
fn classify_ipv4<'s>(
    snap: &'s Snapshot,
    iface: &'s Interface,
    l2_len: usize,
    unicast: bool,
    frame: &mut Frame<'_>,
) -> Result<Class<'s>, Verdict> {
    let ip_bytes = frame
        .data()
        .get(l2_len..)
        .ok_or(Verdict::Drop(DropReason::Truncated))?;
    let ip = drop_on(Ipv4Packet::new_checked(ip_bytes).map_err(DropReason::from))?;
    if !ip.verify_checksum() {
        return Err(Verdict::Drop(DropReason::BadChecksum));
    }
    let (src, dst, protocol) = (ip.src_addr(), ip.dst_addr(), ip.protocol());
    let (total, hl, frag) = (ip.total_len(), ip.header_len(), ip.is_fragment());
    // Bytes past the total length are Ethernet padding (short packets are
    // padded to the 60-byte minimum frame): cut them so that nothing
    // downstream mistakes them for payload.
    let end = l2_len + usize::from(total);
    if end < frame.len() {
        frame
            .set_len(end)
            .map_err(|_| Verdict::Drop(DropReason::Truncated))?;
    }
    let local = || is_local(snap, dst);
    let to_kernel = Verdict::ToKernel { port: iface.port };
    match protocol {
        IpProtocol::ICMP => Ok(Class::Icmp {
            iface,
            l2_len,
            local: local(),
            frag,
        }),
        IpProtocol::TCP | IpProtocol::UDP if frag => Ok(Class::Done(if local() {
            to_kernel
        } else {
            Verdict::Drop(DropReason::Fragment)
        })),
        IpProtocol::TCP | IpProtocol::UDP => {
            let l4 = &frame.data()[l2_len + hl..end];
            let (proto, sport, dport, flags) = if protocol == IpProtocol::TCP {
                let t = drop_on(TcpPacket::new_checked(l4).map_err(DropReason::from))?;
                let flags = TcpFlags::from_bits_truncate(t.flags().0);
                (Proto::Tcp, t.src_port(), t.dst_port(), flags)
            } else {
                let u = drop_on(UdpPacket::new_checked(l4).map_err(DropReason::from))?;
                (Proto::Udp, u.src_port(), u.dst_port(), TcpFlags::NONE)
            };
            Ok(Class::L4 {
                iface,
                pkt: Pkt {
                    l2_len,
                    ip_len: total,
                    tuple: Tuple {
                        proto,
                        saddr: src,
                        sport,
                        daddr: dst,
                        dport,
                    },
                    flags,
                },
                unicast,
            })
        }
        _ if local() => Ok(Class::Done(to_kernel)),
        _ => Err(Verdict::Drop(DropReason::NotForUs)),
    }
}

impl<H> Engine<H> {
    /// Builds the per-service state for `snap`, carrying schedulers, flags
    /// and counters over by service id.
    fn install(&mut self, snap: &Snapshot) {
        self.conn_cfg.timeouts = snap.timeouts;
        // Routes, ports and their MACs may all have changed.
        self.hops.clear();
        let mut old: HashMap<u32, SvcState> = self.svcs.drain(..).map(|s| (s.id, s)).collect();
        let max_slot = snap
            .services
            .list()
            .iter()
            .flat_map(|s| s.dests.iter().map(|d| d.slot))
            .max()
            .map_or(0, |m| usize::try_from(m).unwrap_or(0) + 1);
        let slots = max_slot.max(snap.counts.slots()).max(self.dest_stats.len());
        self.slot_svc.clear();
        self.slot_svc.resize(slots, NO_SVC);
        self.dest_stats.resize(slots, TrafficStats::default());
        for (si, svc) in snap.services.list().iter().enumerate() {
            let prev = old.remove(&svc.id);
            let (sched, stats, flags) = match prev {
                Some(p) => {
                    let flags: Vec<(u32, bool)> = p
                        .overloaded
                        .iter()
                        .zip(p.sched.seed().dests())
                        .filter_map(|(&o, d)| {
                            let slot = svc
                                .dests
                                .iter()
                                .find(|n| n.addr == d.addr && n.port == d.port)?
                                .slot;
                            Some((slot, o))
                        })
                        .collect();
                    (p.sched.carry_over(Arc::clone(&svc.seed)), p.stats, flags)
                }
                None => (
                    Scheduler::new(Arc::clone(&svc.seed), self.id),
                    TrafficStats::default(),
                    Vec::new(),
                ),
            };
            let overloaded = svc
                .dests
                .iter()
                .map(|d| d.u_threshold != 0 && flags.iter().any(|&(s, o)| s == d.slot && o))
                .collect();
            for (di, d) in svc.dests.iter().enumerate() {
                if let Some(e) = usize::try_from(d.slot)
                    .ok()
                    .and_then(|s| self.slot_svc.get_mut(s))
                {
                    *e = (
                        u32::try_from(si).unwrap_or(u32::MAX),
                        u32::try_from(di).unwrap_or(u32::MAX),
                    );
                }
            }
            // Filled from the shared counts at the first pick (a reload is
            // due at once).
            let tree = Order::of(svc.seed.config().kind).map(|o| PickTree::new(o, &svc.weights));
            self.svcs.push(SvcState {
                id: svc.id,
                sched,
                overloaded,
                tree,
                thresholds: svc.dests.iter().any(|d| d.u_threshold != 0),
                local_owner: svc.persistence.is_none()
                    && !svc.dests.is_empty()
                    && svc.dests.iter().all(|d| !d.fwd.sees_replies()),
                net_owner: svc.persistence.map(|p| {
                    if svc.dests.iter().any(|d| d.fwd == Fwd::Nat) {
                        32
                    } else {
                        p.netmask_len.min(32)
                    }
                }),
                stats,
            });
        }
        self.sync_templates(snap);
    }

    fn expire(&mut self, snap: &Snapshot, now: Time) -> u32 {
        let Engine {
            id,
            conns,
            svcs,
            slot_svc,
            templates,
            expire_budget,
            ..
        } = self;
        let n = conns.expire(now, *expire_budget, |c| {
            unbind(
                snap,
                *id,
                svcs,
                slot_svc,
                templates,
                c.dest(),
                c.counted_active(),
                c.client().0,
            );
        });
        self.templates.expire(now, self.expire_budget as usize);
        if now >= self.next_sched_gc {
            for s in &mut self.svcs {
                s.sched.expire(now);
            }
            self.next_sched_gc = now + CHECK_EXPIRE_INTERVAL;
        }
        n
    }

    /// Whether `pkt`, which hit conn `hit`, opens a new conn over an old one
    /// (IPVS `is_new_conn` + `is_new_conn_expected`: a bare SYN from the
    /// client to a conn in TIME_WAIT).
    fn reuse_expected(&self, hit: Hit, pkt: &Pkt) -> bool {
        let bare_syn = pkt.flags.contains(TcpFlags::SYN)
            && !pkt.flags.contains(TcpFlags::ACK)
            && !pkt.flags.contains(TcpFlags::FIN)
            && !pkt.flags.contains(TcpFlags::RST);
        pkt.tuple.proto == Proto::Tcp
            && hit.dir == Dir::In
            && bare_syn
            && self
                .conns
                .get(hit.id)
                .is_some_and(|c| c.state() == ConnState::Tcp(TcpState::TimeWait))
    }

    fn remove_conn(&mut self, snap: &Snapshot, id: crate::conn::ConnId) {
        if let Some(c) = self.conns.remove(id) {
            unbind(
                snap,
                self.id,
                &mut self.svcs,
                &self.slot_svc,
                &mut self.templates,
                c.dest(),
                c.counted_active(),
                c.client().0,
            );
        }
    }

    /// The whole packet path of one frame: classify, then act.
    #[inline]
    fn input(
        &mut self,
        snap: &Snapshot,
        now: Time,
        rx_port: PortId,
        frame: &mut Frame<'_>,
    ) -> Verdict {
        let class = classify(snap, rx_port, frame);
        self.dispatch(snap, now, class, None, frame)
    }

    /// Acts on a classified frame. `hint` is the conn lookup of a TCP/UDP
    /// packet if the caller already made it at the table's current version
    /// (bursts); `None` to look up here.
    #[inline]
    fn dispatch(
        &mut self,
        snap: &Snapshot,
        now: Time,
        class: Class<'_>,
        hint: Option<Option<Hit>>,
        frame: &mut Frame<'_>,
    ) -> Verdict {
        match class {
            Class::Done(v) => v,
            Class::Arp { iface, l2_len } => {
                let owns = |ip| snap.owns(ip);
                stack::arp::learn_with(&mut self.neigh, now, iface, owns, l2_len, frame.data());
                match stack::arp::input_with(iface, owns, l2_len, frame) {
                    Ok(()) => Verdict::Transmit { port: iface.port },
                    Err(r) => Verdict::Drop(r),
                }
            }
            Class::Icmp {
                iface,
                l2_len,
                local,
                frag,
            } => match self.icmp(snap, now, iface, l2_len, local, frag, frame) {
                Ok(v) | Err(v) => v,
            },
            Class::L4 {
                iface,
                pkt,
                unicast,
            } => match self.l4(snap, now, iface.port, unicast, &pkt, hint, frame) {
                Ok(v) | Err(v) => v,
            },
        }
    }

    /// TCP or UDP: conn hit, redirect to the owner, new conn, or neither.
    #[allow(clippy::too_many_arguments)] // the parsed context of one packet
    fn l4(
        &mut self,
        snap: &Snapshot,
        now: Time,
        rx_port: PortId,
        unicast: bool,
        pkt: &Pkt,
        hint: Option<Option<Hit>>,
        frame: &mut Frame<'_>,
    ) -> Result<Verdict, Verdict> {
        let hit = match hint {
            Some(hit) => hit,
            None => self.conns.lookup(&pkt.tuple),
        };
        if let Some(hit) = hit {
            if !self.reuse_expected(hit, pkt) {
                return self.forward(snap, now, hit, pkt, frame);
            }
            // IPVS's conn_reuse_mode 1: a new SYN from a client port whose
            // old conn sits in TIME_WAIT ends that conn and is scheduled
            // afresh, instead of riding the old conn to the same dest.
            self.remove_conn(snap, hit.id);
        }
        let t = pkt.tuple;
        let local = is_local(snap, t.daddr);
        let Some((si, svc)) = snap.services.lookup(t.proto, IpAddr::V4(t.daddr), t.dport) else {
            // A reply whose conn another worker holds (FullNAT: to a LIP;
            // NAT: to the client, from the real server). A LIP may also be
            // an interface address (for ARP), so it is checked before the
            // kernel gets what is addressed to us.
            let lip = snap.is_laddr(t.daddr);
            if local && !lip {
                return Ok(Verdict::ToKernel { port: rx_port });
            }
            let owner = if lip {
                fwd::fullnat_owner(t.dport, self.workers)
            } else {
                fwd::nat_owner(t.daddr, self.workers)
            };
            if self.workers > 1 && owner != self.id {
                return Ok(Verdict::Redirect { worker: owner });
            }
            return Err(Verdict::Drop(if lip {
                DropReason::NoConn
            } else {
                DropReason::NotForUs
            }));
        };
        if !unicast {
            return Err(Verdict::Drop(DropReason::NotForUs));
        }
        if martian(t.saddr) {
            return Err(Verdict::Drop(DropReason::Martian));
        }
        let owner = match self.svcs.get(si as usize) {
            Some(s) if s.local_owner => None,
            Some(SvcState {
                net_owner: Some(len),
                ..
            }) => Some(fwd::nat_owner(client_net(t.saddr, *len), self.workers)),
            _ => Some(fwd::nat_owner(t.saddr, self.workers)),
        };
        if let Some(owner) = owner.filter(|&o| self.workers > 1 && o != self.id) {
            return Ok(Verdict::Redirect { worker: owner });
        }
        if t.proto == Proto::Tcp
            && (!pkt.flags.contains(TcpFlags::SYN) || pkt.flags.contains(TcpFlags::RST))
        {
            return Err(Verdict::Drop(DropReason::NoConn));
        }
        let hit = self.new_conn(snap, now, si, svc, pkt)?;
        self.learn_client(snap, now, rx_port, t.saddr, frame);
        self.forward(snap, now, hit, pkt, frame)
    }

    /// A new conn's client MAC is in its first frame: when the client is on
    /// the receiving link, note it (as a stale entry, like an ARP request
    /// would) so that the first reply does not wait for ARP. A UDP answer
    /// has no retransmission to fall back on. Once per conn, not per packet.
    fn learn_client(
        &mut self,
        snap: &Snapshot,
        now: Time,
        port: PortId,
        cip: Ipv4Addr,
        frame: &Frame<'_>,
    ) {
        let on_link = snap
            .interface(port)
            .is_some_and(|i| i.addrs.iter().any(|c| c.prefix_len < 32 && c.contains(cip)));
        if !on_link {
            return;
        }
        if let Ok(eth) = EthernetFrame::new_checked(frame.data()) {
            self.neigh
                .learn(now, port, cip, eth.src_addr(), Learn::Request);
        }
    }

    /// Persistence, scheduling and conn creation for the first packet of a
    /// conn to service number `si`.
    fn new_conn(
        &mut self,
        snap: &Snapshot,
        now: Time,
        si: u32,
        svc: &crate::service::Service,
        pkt: &Pkt,
    ) -> Result<Hit, Verdict> {
        let t = pkt.tuple;
        let no_dest = Verdict::Drop(DropReason::NoDest);
        let st = self.svcs.get_mut(si as usize).ok_or(no_dest)?;
        let counts = &*snap.counts;
        if st.thresholds {
            // Other workers bind and unbind too: bring the flags up to date
            // with the shared totals before picking.
            for (i, d) in svc.dests.iter().enumerate() {
                if d.u_threshold == 0 {
                    continue;
                }
                let total = counts.total(svc.slots.get(i).copied().unwrap_or(usize::MAX));
                let th = Thresholds {
                    upper: d.u_threshold,
                    lower: d.l_threshold,
                };
                if let Some(&o) = st.overloaded.get(i) {
                    let o = if o {
                        th.after_unbind(true, total)
                    } else {
                        th.after_bind(false, total)
                    };
                    st.set_overloaded(i, o);
                }
            }
        }
        let template = svc
            .persistence
            .map(|p| (TemplateKey::new(svc.id, t.saddr, p.netmask_len), p.timeout));
        let mut chosen = None;
        if let Some((key, _)) = template {
            if let Some((slot, _)) = self.templates.get(&key) {
                // A removed or quiesced dest stops attracting conns.
                match svc
                    .dests
                    .iter()
                    .position(|d| d.slot == slot && d.weight > 0)
                {
                    Some(i) => chosen = Some(i),
                    None => self.templates.remove(&key),
                }
            }
        }
        let i = match chosen {
            Some(i) => i,
            None if st.tree.is_some() => {
                let SvcState {
                    tree, overloaded, ..
                } = st;
                let tree = tree.as_mut().ok_or(no_dest)?;
                if tree.reload_due(now) {
                    // Other workers' conns since the last reload (with one
                    // worker, only the first load after an install).
                    let every = (counts.workers() > 1).then(|| reload_interval(tree.len()));
                    tree.reload(now, every, |i| {
                        let slot = svc.slots.get(i).copied().unwrap_or(usize::MAX);
                        let o = overloaded.get(i).copied().unwrap_or(true);
                        (counts.load_packed(slot), o)
                    });
                }
                st.sched.pick_tree(tree).ok_or(no_dest)?
            }
            None => {
                let dests = CountedDests {
                    weights: &svc.weights,
                    overloaded: &st.overloaded,
                    slots: &svc.slots,
                    counts,
                };
                let key = SchedKey {
                    caddr: IpAddr::V4(t.saddr),
                    cport: t.sport,
                    daddr: IpAddr::V4(t.daddr),
                    dport: t.dport,
                };
                st.sched.pick(&dests, &key, now).ok_or(no_dest)?
            }
        };
        let dest = *svc.dests.get(i).ok_or(no_dest)?;
        let IpAddr::V4(rip) = dest.addr else {
            return Err(no_dest);
        };
        // DR and TUN cannot map ports; a dest port 0 means "the port the
        // client asked for" (port-0 services).
        let rport = match dest.fwd {
            Fwd::Dr | Fwd::Tun => t.dport,
            Fwd::Nat | Fwd::FullNat if dest.port == 0 => t.dport,
            Fwd::Nat | Fwd::FullNat => dest.port,
        };
        let (laddr, lport) = if dest.fwd == Fwd::FullNat {
            drop_on(
                self.lports
                    .alloc(&self.conns, &snap.laddrs, t.proto, (rip, rport)),
            )?
        } else {
            (Ipv4Addr::UNSPECIFIED, 0)
        };
        let new = NewConn {
            proto: t.proto,
            fwd: dest.fwd,
            caddr: t.saddr,
            cport: t.sport,
            vaddr: t.daddr,
            vport: t.dport,
            laddr,
            lport,
            daddr: rip,
            dport: rport,
            service: svc.id,
            dest: dest.slot,
        };
        let id = self.conns.insert(&new, now, &self.conn_cfg).map_err(|e| {
            Verdict::Drop(match e {
                InsertError::Full => DropReason::ConnTableFull,
                InsertError::Exists => DropReason::ConnExists,
            })
        })?;
        if let Some((key, timeout)) = template {
            if self.templates.bind(key, dest.slot, now, timeout).is_err() {
                self.conns.remove(id);
                return Err(Verdict::Drop(DropReason::TemplateTableFull));
            }
        }
        let slot = usize::try_from(dest.slot).unwrap_or(usize::MAX);
        counts.bind(usize::from(self.id), slot, ConnClass::Inactive);
        if let Some(t) = st.tree.as_mut() {
            t.bind(i, ConnClass::Inactive);
        }
        if dest.u_threshold != 0 {
            if let Some(&o) = st.overloaded.get(i) {
                let th = Thresholds {
                    upper: dest.u_threshold,
                    lower: dest.l_threshold,
                };
                st.set_overloaded(i, th.after_bind(o, counts.total(slot)));
            }
        }
        st.stats.conns += 1;
        if let Some(s) = self.dest_stats.get_mut(slot) {
            s.conns += 1;
        }
        self.stats.total.conns += 1;
        Ok(Hit { id, dir: Dir::In })
    }

    /// Counts a packet of `conn` in direction `dir` for its dest and service.
    fn count(&mut self, service: u32, slot: usize, dir: Dir, bytes: u64) {
        self.stats.total.packet(dir, bytes);
        if let Some(s) = self.dest_stats.get_mut(slot) {
            s.packet(dir, bytes);
        }
        let si = self.slot_svc.get(slot).map_or(u32::MAX, |e| e.0);
        match self.svcs.get_mut(si as usize).filter(|s| s.id == service) {
            Some(s) => s.stats.packet(dir, bytes),
            // The dest went away; the service may still be there.
            None => {
                if let Some(s) = self.svcs.iter_mut().find(|s| s.id == service) {
                    s.stats.packet(dir, bytes);
                }
            }
        }
    }

    /// A packet of a known conn: state, counters, rewrite, egress.
    fn forward(
        &mut self,
        snap: &Snapshot,
        now: Time,
        hit: Hit,
        pkt: &Pkt,
        frame: &mut Frame<'_>,
    ) -> Result<Verdict, Verdict> {
        let conn = *self
            .conns
            .get(hit.id)
            .ok_or(Verdict::Drop(DropReason::NoConn))?;
        let slot = usize::try_from(conn.dest()).unwrap_or(usize::MAX);
        let dest_gone = self.slot_svc.get(slot).map_or(true, |e| *e == NO_SVC);
        if dest_gone && snap.expire_nodest_conn {
            self.remove_conn(snap, hit.id);
            return Err(Verdict::Drop(DropReason::DestRemoved));
        }
        if let Some(tr) = self
            .conns
            .on_packet(hit.id, hit.dir, pkt.flags, now, &self.conn_cfg)
        {
            if let Some(ch) = tr.count {
                let (from, to) = match ch {
                    CountChange::BecameActive => (ConnClass::Inactive, ConnClass::Active),
                    CountChange::BecameInactive => (ConnClass::Active, ConnClass::Inactive),
                };
                snap.counts.reclass(usize::from(self.id), slot, from, to);
                if let Some(&(si, di)) = self.slot_svc.get(slot) {
                    if let Some(t) = self.svcs.get_mut(si as usize).and_then(|s| s.tree.as_mut()) {
                        t.reclass(di as usize, from, to);
                    }
                }
            }
        }
        self.count(conn.service(), slot, hit.dir, u64::from(pkt.ip_len));
        let l2 = pkt.l2_len;
        match (conn.fwd(), hit.dir) {
            (Fwd::Nat, Dir::In) => {
                let ip = &mut frame.data_mut()[l2..];
                drop_on(fwd::nat::request(ip, conn.client(), conn.real()))?;
                self.output(snap, now, frame, conn.real().0)
            }
            (Fwd::FullNat, Dir::In) => {
                let ip = &mut frame.data_mut()[l2..];
                drop_on(fwd::fullnat::request(ip, conn.local(), conn.real()))?;
                self.output(snap, now, frame, conn.real().0)
            }
            (Fwd::Nat | Fwd::FullNat, Dir::Out) => {
                let ip = &mut frame.data_mut()[l2..];
                if !fwd::decrement_ttl(ip) {
                    let err = Icmpv4Error::TimeExceeded(icmp_wire::time_exceeded::TTL);
                    return self.icmp_error(
                        snap,
                        now,
                        frame,
                        l2,
                        err,
                        None,
                        DropReason::TtlExceeded,
                    );
                }
                drop_on(fwd::nat::reply(ip, conn.virt(), conn.client()))?;
                self.output(snap, now, frame, conn.client().0)
            }
            (Fwd::Dr, _) => self.output_dr(snap, now, frame, conn.real().0),
            (Fwd::Tun, _) => self.output_tun(snap, now, frame, l2, conn.virt().0, conn.real().0),
        }
    }

    /// The cached hop to `dst`, if the cache holds it for the current
    /// neighbour generation.
    #[inline]
    fn cached_hop(&self, dst: Ipv4Addr) -> Option<Hop> {
        self.hops.get(dst, self.neigh.generation())
    }

    /// Writes the Ethernet header for `hop` and sends the frame there.
    #[inline]
    fn send_via(frame: &mut Frame<'_>, hop: &Hop) -> Result<Verdict, Verdict> {
        if !fwd::dr::readdress(frame.data_mut(), hop.src_mac, hop.dst_mac) {
            return Err(Verdict::Drop(DropReason::Truncated));
        }
        Ok(Verdict::Transmit { port: hop.port })
    }

    /// Readdresses the frame for the next hop towards `dst` and picks the
    /// egress port.
    fn output(
        &mut self,
        snap: &Snapshot,
        now: Time,
        frame: &mut Frame<'_>,
        dst: Ipv4Addr,
    ) -> Result<Verdict, Verdict> {
        if let Some(hop) = self.cached_hop(dst) {
            return Self::send_via(frame, &hop);
        }
        let nh = snap
            .routes
            .lookup(dst)
            .ok_or(Verdict::Drop(DropReason::NoRoute))?;
        self.via_next_hop(snap, now, frame, dst, nh)
    }

    /// The slow path after a cache miss: the neighbour of `nh` (soliciting
    /// it if unknown), then the hop is cached for `dst`.
    fn via_next_hop(
        &mut self,
        snap: &Snapshot,
        now: Time,
        frame: &mut Frame<'_>,
        dst: Ipv4Addr,
        nh: NextHop,
    ) -> Result<Verdict, Verdict> {
        let iface = snap
            .interface(nh.port)
            .ok_or(Verdict::Drop(DropReason::NoRoute))?;
        let mac = self
            .neigh
            .lookup_or_solicit(now, nh.port, nh.via)
            .ok_or(Verdict::Drop(DropReason::NeighUnresolved))?;
        let hop = Hop {
            port: nh.port,
            src_mac: iface.mac,
            dst_mac: mac,
            src: nh.src,
            mtu: iface.mtu,
            connected: nh.via == dst,
        };
        self.hops.put(dst, self.neigh.generation(), hop);
        Self::send_via(frame, &hop)
    }

    /// DR: to the real server's MAC on a connected network.
    fn output_dr(
        &mut self,
        snap: &Snapshot,
        now: Time,
        frame: &mut Frame<'_>,
        rip: Ipv4Addr,
    ) -> Result<Verdict, Verdict> {
        if let Some(hop) = self.cached_hop(rip) {
            if !hop.connected {
                return Err(Verdict::Drop(DropReason::DrNotConnected));
            }
            return Self::send_via(frame, &hop);
        }
        let nh = snap
            .routes
            .lookup(rip)
            .ok_or(Verdict::Drop(DropReason::NoRoute))?;
        if nh.via != rip {
            return Err(Verdict::Drop(DropReason::DrNotConnected));
        }
        self.via_next_hop(snap, now, frame, rip, nh)
    }

    /// TUN: encapsulate DIP -> RIP and send towards the RIP; a too-big
    /// request with DF gets "fragmentation needed" from the VIP.
    fn output_tun(
        &mut self,
        snap: &Snapshot,
        now: Time,
        frame: &mut Frame<'_>,
        l2: usize,
        vip: Ipv4Addr,
        rip: Ipv4Addr,
    ) -> Result<Verdict, Verdict> {
        let cached = self.cached_hop(rip);
        let (src, mtu, nh) = match cached {
            Some(hop) => (hop.src, hop.mtu, None),
            None => {
                let nh = snap
                    .routes
                    .lookup(rip)
                    .ok_or(Verdict::Drop(DropReason::NoRoute))?;
                let mtu = snap
                    .interface(nh.port)
                    .ok_or(Verdict::Drop(DropReason::NoRoute))?
                    .mtu;
                (nh.src, mtu, Some(nh))
            }
        };
        self.ident = self.ident.wrapping_add(1);
        match fwd::tun::encapsulate(frame, l2, src, rip, self.ident, mtu) {
            Ok(()) => match (cached, nh) {
                (Some(hop), _) => Self::send_via(frame, &hop),
                (None, Some(nh)) => self.via_next_hop(snap, now, frame, rip, nh),
                (None, None) => Err(Verdict::Drop(DropReason::NoRoute)),
            },
            Err(TunError::FragNeeded { mtu }) => {
                let err = Icmpv4Error::FragNeeded { next_hop_mtu: mtu };
                self.icmp_error(snap, now, frame, l2, err, Some(vip), DropReason::TooBig)
            }
            Err(TunError::TooBig) => Err(Verdict::Drop(DropReason::TooBig)),
            Err(TunError::NoRoom) => Err(Verdict::Drop(DropReason::NoRoom)),
            Err(TunError::Wire(e)) => Err(Verdict::Drop(e.into())),
        }
    }

    /// Replaces the IPv4 packet in `frame` by the ICMP `err` about it, from
    /// `src` (or the DIP towards its source), and sends it to that source.
    /// `otherwise`: the drop reason when no error may be sent (RFC 1122
    /// §3.2.2: not about ICMP errors, fragments, broadcasts...).
    #[allow(clippy::too_many_arguments)] // one error, fully described
    fn icmp_error(
        &mut self,
        snap: &Snapshot,
        now: Time,
        frame: &mut Frame<'_>,
        l2: usize,
        err: Icmpv4Error,
        src: Option<Ipv4Addr>,
        otherwise: DropReason,
    ) -> Result<Verdict, Verdict> {
        let offending = frame.data().get(l2..).unwrap_or(&[]);
        if !icmp_wire::error_allowed(offending) {
            return Err(Verdict::Drop(otherwise));
        }
        let n = offending.len().min(icmp_wire::ERROR_MAX_LEN);
        let mut quote = [0u8; icmp_wire::ERROR_MAX_LEN];
        quote[..n].copy_from_slice(&offending[..n]);
        // error_allowed checked that a whole header is there.
        let to = Ipv4Packet::new_unchecked(&quote[..n]).src_addr();
        let src = match src {
            Some(s) => s,
            None => {
                snap.routes
                    .lookup(to)
                    .ok_or(Verdict::Drop(DropReason::NoRoute))?
                    .src
            }
        };
        let room = (n + icmp_wire::HEADER_LEN + crate::wire::ipv4::HEADER_LEN)
            .min(icmp_wire::ERROR_MAX_LEN);
        frame
            .set_len(l2 + room)
            .map_err(|_| Verdict::Drop(DropReason::NoRoom))?;
        let written = icmp_wire::emit_error(&mut frame.data_mut()[l2..], err, src, &quote[..n])
            .map_err(|e| Verdict::Drop(e.into()))?;
        frame
            .set_len(l2 + written)
            .map_err(|_| Verdict::Drop(DropReason::NoRoom))?;
        self.stats.icmp_errors += 1;
        self.output(snap, now, frame, to)
    }

    /// ICMP: errors about conns are translated and forwarded, echo to an
    /// owned address answered.
    #[allow(clippy::too_many_arguments)] // the parsed context of one packet
    fn icmp(
        &mut self,
        snap: &Snapshot,
        now: Time,
        iface: &Interface,
        l2_len: usize,
        local: bool,
        frag: bool,
        frame: &mut Frame<'_>,
    ) -> Result<Verdict, Verdict> {
        let ip_bytes = &frame.data()[l2_len..];
        let ip = Ipv4Packet::new_unchecked(ip_bytes);
        let (dst, ip_len) = (ip.dst_addr(), ip.total_len());
        let is_error = ip
            .payload()
            .first()
            .is_some_and(|&t| Icmpv4Type(t).is_error());
        if is_error && !frag {
            if let Some(key) = fwd::icmp::quoted_key(ip_bytes) {
                if let Some(hit) = self.conns.lookup(&key) {
                    return self.icmp_forward(snap, now, hit, l2_len, ip_len, frame);
                }
                if !local {
                    // key.daddr is the quoted source: a LIP (FullNAT request),
                    // a VIP (a reply the client side complains about) or
                    // the client (NAT request).
                    let owner = if snap.is_laddr(key.daddr) {
                        fwd::fullnat_owner(key.dport, self.workers)
                    } else if snap.services.is_vip(IpAddr::V4(key.daddr)) {
                        fwd::nat_owner(key.saddr, self.workers)
                    } else {
                        fwd::nat_owner(key.daddr, self.workers)
                    };
                    if self.workers > 1 && owner != self.id {
                        return Ok(Verdict::Redirect { worker: owner });
                    }
                }
            }
            return if local {
                Ok(Verdict::ToKernel { port: iface.port })
            } else {
                Err(Verdict::Drop(DropReason::IcmpNoConn))
            };
        }
        if snap.owns(dst) {
            return match stack::icmp::input_with(iface, |ip| snap.owns(ip), l2_len, frame) {
                Ok(()) => Ok(Verdict::Transmit { port: iface.port }),
                // Other ICMP to a DIP (echo replies to the kernel's own
                // pings, and the like) is the kernel's business.
                Err(DropReason::IcmpIgnored) if local => Ok(Verdict::ToKernel { port: iface.port }),
                Err(r) => Err(Verdict::Drop(r)),
            };
        }
        Err(Verdict::Drop(DropReason::NotForUs))
    }

    /// An ICMP error about conn `hit`, translated for the other side.
    fn icmp_forward(
        &mut self,
        snap: &Snapshot,
        now: Time,
        hit: Hit,
        l2: usize,
        ip_len: u16,
        frame: &mut Frame<'_>,
    ) -> Result<Verdict, Verdict> {
        let conn = *self
            .conns
            .get(hit.id)
            .ok_or(Verdict::Drop(DropReason::IcmpNoConn))?;
        let slot = usize::try_from(conn.dest()).unwrap_or(usize::MAX);
        self.count(conn.service(), slot, hit.dir, u64::from(ip_len));
        let ip = &mut frame.data_mut()[l2..];
        let (client, virt, local, real) = (conn.client(), conn.virt(), conn.local(), conn.real());
        match (conn.fwd(), hit.dir) {
            (Fwd::Nat | Fwd::FullNat, Dir::Out) => {
                // From the real server's side, about a request: the client
                // must see it come from the VIP about its own packet.
                if !fwd::decrement_ttl(ip) {
                    return Err(Verdict::Drop(DropReason::TtlExceeded));
                }
                drop_on(fwd::icmp::translate(
                    ip,
                    Some(virt.0),
                    client.0,
                    client,
                    virt,
                ))?;
                self.output(snap, now, frame, client.0)
            }
            (Fwd::Nat, Dir::In) => {
                drop_on(fwd::icmp::translate(ip, None, real.0, real, local))?;
                self.output(snap, now, frame, real.0)
            }
            (Fwd::FullNat, Dir::In) => {
                drop_on(fwd::icmp::translate(ip, Some(local.0), real.0, real, local))?;
                self.output(snap, now, frame, real.0)
            }
            (Fwd::Dr, Dir::In) => self.output_dr(snap, now, frame, real.0),
            (Fwd::Tun, Dir::In) => self.output_tun(snap, now, frame, l2, virt.0, real.0),
            (Fwd::Dr | Fwd::Tun, Dir::Out) => Err(Verdict::Drop(DropReason::IcmpNoConn)),
        }
    }
}

/// A conn left dest `slot`: unbinds it from the shared counts, updates the
/// dest's overload flag and its persistence template.
#[allow(clippy::too_many_arguments)] // split borrows of the worker
fn unbind(
    snap: &Snapshot,
    worker: u16,
    svcs: &mut [SvcState],
    slot_svc: &[(u32, u32)],
    templates: &mut Templates,
    slot: u32,
    active: bool,
    caddr: Ipv4Addr,
) {
    let s = usize::try_from(slot).unwrap_or(usize::MAX);
    snap.counts.unbind(usize::from(worker), s, class(active));
    let Some(&(si, di)) = slot_svc.get(s) else {
        return;
    };
    let (Some(svc), Some(st)) = (snap.services.get(si), svcs.get_mut(si as usize)) else {
        return;
    };
    if let Some(t) = st.tree.as_mut() {
        t.unbind(di as usize, class(active));
    }
    if let (Some(d), Some(&o)) = (svc.dests.get(di as usize), st.overloaded.get(di as usize)) {
        if d.u_threshold != 0 {
            let th = Thresholds {
                upper: d.u_threshold,
                lower: d.l_threshold,
            };
            st.set_overloaded(di as usize, th.after_unbind(o, snap.counts.total(s)));
        }
    }
    if let Some(p) = svc.persistence {
        templates.unbind(&TemplateKey::new(svc.id, caddr, p.netmask_len), slot);
    }
}

mod template_sync;

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

    /// A lab worker with NAT and FullNAT services and its real servers'
    /// MACs known.
    fn lab_worker() -> Worker {
        use crate::sim::lab::{self, Svc};
        let snap = lab::snapshot(
            &[
                Svc::new(Proto::Tcp, 80, Fwd::Nat, 8080, 4),
                Svc::new(Proto::Udp, 53, Fwd::FullNat, 5353, 2),
            ],
            1,
        );
        let mut w = Worker::new(0, Arc::new(snap));
        for i in 0..3 {
            w.neigh_mut().learn(
                Time::ZERO,
                lab::INT,
                lab::rs(i),
                lab::rs_mac(i),
                Learn::Request,
            );
        }
        w
    }

    /// Requests, replies, new and established conns (SYN and ACK of a flow
    /// in one burst), ARP, ICMP and broken frames, in one stream.
    fn mixed_stream() -> Vec<(PortId, Vec<u8>)> {
        use crate::sim::lab;
        use crate::sim::packet::{self, Flags};
        let mut out = Vec::new();
        for i in 0..120u32 {
            let c = (lab::client(i % 40), 1024 + u16::try_from(i % 40).unwrap());
            let flags = if i < 40 { Flags::SYN } else { Flags::ACK };
            let req = packet::tcp(lab::ROUTER_MAC, lab::EXT_MAC, c, (lab::VIP, 80), flags, b"");
            out.push((lab::EXT, req));
            if i % 3 == 0 {
                let ack = packet::tcp(
                    lab::ROUTER_MAC,
                    lab::EXT_MAC,
                    c,
                    (lab::VIP, 80),
                    Flags::ACK,
                    b"x",
                );
                out.push((lab::EXT, ack));
            }
            let rs = lab::rs(usize::try_from(i % 4).unwrap());
            let reply = packet::tcp(
                lab::rs_mac(0),
                lab::INT_MAC,
                (rs, 8080),
                c,
                Flags::ACK | Flags::FIN,
                b"",
            );
            out.push((lab::INT, reply));
            let udp = packet::udp(lab::ROUTER_MAC, lab::EXT_MAC, c, (lab::VIP, 53), b"q", true);
            out.push((lab::EXT, udp));
            match i % 10 {
                0 => out.push((lab::EXT, vec![0xff; 20])),
                1 => {
                    let mut bad = out[out.len() - 1].1.clone();
                    bad[24] ^= 0x40; // IPv4 header checksum
                    out.push((lab::EXT, bad));
                }
                2 => out.push((7, out[0].1.clone())),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn bursts_do_what_single_frames_do() {
        let stream = mixed_stream();
        let mut single = lab_worker();
        let mut burst = lab_worker();
        let mut want = Vec::new();
        for (port, bytes) in &stream {
            let mut fb = FrameBuf::with_default_room(bytes);
            let v = fb.with_frame(|f| single.process(Time::ZERO, *port, f));
            want.push((v, fb.data().to_vec()));
        }
        let mut got = Vec::new();
        // Runs of frames from one port, up to 50 long (chunks of 32 and tails).
        let mut at = 0;
        while at < stream.len() {
            let port = stream[at].0;
            let run = stream[at..]
                .iter()
                .take(50)
                .take_while(|(p, _)| *p == port)
                .count();
            let mut bufs: Vec<Vec<u8>> = stream[at..at + run]
                .iter()
                .map(|(_, b)| {
                    let mut v = vec![0u8; 128 + b.len() + 64];
                    v[128..128 + b.len()].copy_from_slice(b);
                    v
                })
                .collect();
            let mut frames: Vec<Frame<'_>> = bufs
                .iter_mut()
                .zip(&stream[at..at + run])
                .map(|(v, (_, b))| Frame::new(v, 128, b.len()).unwrap())
                .collect();
            let mut verdicts = vec![Verdict::Drop(DropReason::Truncated); run];
            burst.process_burst(Time::ZERO, port, &mut frames, &mut verdicts);
            for (f, v) in frames.iter().zip(verdicts) {
                got.push((v, f.data().to_vec()));
            }
            at += run;
        }
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "frame {i}");
        }
        let transmitted = want
            .iter()
            .filter(|(v, _)| matches!(v, Verdict::Transmit { .. }))
            .count();
        assert!(transmitted > 150, "{transmitted} forwarded");
        assert_eq!(single.conns().len(), burst.conns().len());
        assert!(single.conns().len() >= 40);
        let (a, b) = (single.stats(), burst.stats());
        assert_eq!(
            (a.rx_frames, a.tx_frames, a.drops.total(), a.total),
            (b.rx_frames, b.tx_frames, b.drops.total(), b.total)
        );
        assert_eq!(single.dest_stats(), burst.dest_stats());
    }

    #[test]
    fn a_neighbour_change_reaches_cached_next_hops() {
        use crate::sim::lab;
        use crate::sim::packet::{self, Flags};
        let mut w = lab_worker();
        let c = (lab::client(1), 2000);
        let syn = packet::tcp(
            lab::ROUTER_MAC,
            lab::EXT_MAC,
            c,
            (lab::VIP, 80),
            Flags::SYN,
            b"",
        );
        let ack = packet::tcp(
            lab::ROUTER_MAC,
            lab::EXT_MAC,
            c,
            (lab::VIP, 80),
            Flags::ACK,
            b"",
        );
        let (v, out) = process(&mut w, lab::EXT, &syn);
        assert_eq!(v, Verdict::Transmit { port: lab::INT });
        let rs = crate::sim::packet::parse(&out).unwrap();
        let i = (0..4).find(|&i| lab::rs(i) == rs.dst.0).unwrap();
        assert_eq!(rs.dst_mac, lab::rs_mac(i));
        // The real server moves to another MAC: the next packet follows.
        let moved = MacAddr([0x52, 0x54, 0, 0, 0x77, 0x77]);
        w.neigh_mut()
            .learn(Time::ZERO, lab::INT, lab::rs(i), moved, Learn::Reply);
        let (v, out) = process(&mut w, lab::EXT, &ack);
        assert_eq!(v, Verdict::Transmit { port: lab::INT });
        assert_eq!(crate::sim::packet::parse(&out).unwrap().dst_mac, moved);
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
