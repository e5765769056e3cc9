//! A DPDK traffic generator and sink: the packet side of the line-rate
//! harness (`benches/linerate.rs`) and of `rvs-pktgen`.
//!
//! It sends TCP or UDP flows from many client addresses and ports out of one
//! port and counts what arrives on another (or the same) port, the way pktgen
//! does. Frames come from a per-kind template: each packet is the template
//! with the flow's source address and port written in and both checksums
//! patched (RFC 1624), so no per-packet summing and no per-flow state. A flow
//! `i` of `n` client addresses is address `clients + i % n`, port
//! `sport_base + i / n`: a million flows need no table.
//!
//! The sink answers ARP requests for any address with a MAC derived from it
//! (`02:00:a:b:c:d` for `a.b.c.d`), so a load balancer resolving three real
//! servers gets three MACs, and counts arrivals per destination MAC: the
//! spread over real servers is visible for every method, DR included.

use crate::dpdk::{Burst, Mbuf, Mempool, QueueHandle, MAX_BURST};
use dataplane::addr::MacAddr;
use dataplane::wire::checksum;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Shortest frame sent (Ethernet minimum without FCS).
pub const MIN_FRAME: usize = 60;
/// Longest frame sent (a 1500-byte MTU).
pub const MAX_FRAME: usize = 1514;
/// Destination MACs counted apart; more are lumped as "other".
const MAX_DESTS: usize = 32;
/// Packets per tx burst.
const TX_BURST: usize = 32;

const ETH_LEN: usize = 14;
const IP_OFF: usize = ETH_LEN;
const IP_CSUM: usize = IP_OFF + 10;
const IP_SRC: usize = IP_OFF + 12;
const L4_OFF: usize = IP_OFF + 20;
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

/// Transport of the generated flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// UDP datagrams.
    Udp,
    /// TCP segments: a SYN opens each flow, ACKs carry the data.
    Tcp,
}

impl Proto {
    /// `udp` or `tcp`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

/// Which packet of a flow: the first (a TCP SYN) or a later one (a TCP ACK
/// with data). UDP sends the same datagram either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Opens the flow.
    First,
    /// Belongs to an open flow.
    Next,
}

/// The flows to generate.
#[derive(Debug, Clone)]
pub struct FlowSet {
    /// Transport.
    pub proto: Proto,
    /// Frame length in bytes, without the FCS.
    pub frame_len: usize,
    /// Number of distinct flows.
    pub flows: u32,
    /// First client address.
    pub clients: Ipv4Addr,
    /// Client addresses used.
    pub client_count: u32,
    /// First client port.
    pub sport_base: u16,
    /// Destination (the VIP).
    pub dst: Ipv4Addr,
    /// Destination port.
    pub dport: u16,
    /// Source MAC (the generator's port).
    pub src_mac: MacAddr,
    /// Destination MAC (the load balancer's port).
    pub dst_mac: MacAddr,
}

impl FlowSet {
    /// Checks the sizes: frame length in range, at least one flow and one
    /// client, and enough client ports for the flows.
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN_FRAME..=MAX_FRAME).contains(&self.frame_len) {
            return Err(format!(
                "frame length {} out of range ({MIN_FRAME}..={MAX_FRAME} bytes, without FCS)",
                self.frame_len
            ));
        }
        if self.flows == 0 || self.client_count == 0 {
            return Err("flows and client addresses must be at least 1".into());
        }
        if u32::from(self.clients)
            .checked_add(self.client_count - 1)
            .is_none()
        {
            return Err(format!(
                "{} client addresses from {} run past 255.255.255.255",
                self.client_count, self.clients
            ));
        }
        let ports = self.flows.div_ceil(self.client_count);
        let room = u32::from(u16::MAX) - u32::from(self.sport_base) + 1;
        if ports > room {
            return Err(format!(
                "{} flows over {} client addresses need {ports} ports each; ports from {} leave {room}: \
                 use more client addresses",
                self.flows, self.client_count, self.sport_base
            ));
        }
        Ok(())
    }

    /// Source address and port of flow `i` (taken modulo the flow count).
    pub fn tuple(&self, i: u32) -> (Ipv4Addr, u16) {
        let i = i % self.flows;
        let ip = u32::from(self.clients) + i % self.client_count;
        // validate() keeps i / client_count below the port room.
        let port =
            u16::try_from(u32::from(self.sport_base) + i / self.client_count).unwrap_or(u16::MAX);
        (Ipv4Addr::from(ip), port)
    }

    /// The frame of flow 0, from which every other is patched.
    pub fn template(&self, kind: Kind) -> Template {
        let len = self.frame_len;
        let mut f = vec![0u8; len];
        f[0..6].copy_from_slice(&self.dst_mac.0);
        f[6..12].copy_from_slice(&self.src_mac.0);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip_total = u16::try_from(len - ETH_LEN).unwrap_or(u16::MAX);
        let (src, sport) = self.tuple(0);
        let proto = match self.proto {
            Proto::Udp => 17,
            Proto::Tcp => 6,
        };
        let ip = &mut f[IP_OFF..L4_OFF];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&ip_total.to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&src.octets());
        ip[16..20].copy_from_slice(&self.dst.octets());
        let sum = checksum::checksum(ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let l4_len = ip_total - 20;
        let l4 = &mut f[L4_OFF..];
        l4[0..2].copy_from_slice(&sport.to_be_bytes());
        l4[2..4].copy_from_slice(&self.dport.to_be_bytes());
        let (csum_off, hdr) = match self.proto {
            Proto::Udp => {
                l4[4..6].copy_from_slice(&l4_len.to_be_bytes());
                (6, 8)
            }
            Proto::Tcp => {
                l4[4..8].copy_from_slice(&0x1000_0000u32.to_be_bytes()); // seq
                l4[12] = 5 << 4; // data offset: 20 bytes
                match kind {
                    Kind::First => l4[13] = TCP_SYN,
                    Kind::Next => {
                        l4[8..12].copy_from_slice(&0x2000_0000u32.to_be_bytes());
                        l4[13] = TCP_ACK;
                    }
                }
                l4[14..16].copy_from_slice(&0xffffu16.to_be_bytes()); // window
                (16, 20)
            }
        };
        for (i, b) in l4[hdr..].iter_mut().enumerate() {
            *b = u8::try_from(i & 0xff).unwrap_or(0);
        }
        let pseudo = checksum::pseudo_header_v4(src, self.dst, proto, l4_len);
        let mut sum = !checksum::combine(&[pseudo, checksum::data(l4)]);
        if sum == 0 && self.proto == Proto::Udp {
            sum = 0xffff;
        }
        l4[csum_off..csum_off + 2].copy_from_slice(&sum.to_be_bytes());
        Template {
            ip_csum: u16::from_be_bytes([f[IP_CSUM], f[IP_CSUM + 1]]),
            l4_csum: sum,
            l4_csum_off: L4_OFF + csum_off,
            base_ip: u32::from(src),
            base_port: sport,
            udp: self.proto == Proto::Udp,
            bytes: f,
        }
    }
}

/// A prebuilt frame and what it takes to turn it into any flow's frame.
#[derive(Debug, Clone)]
pub struct Template {
    bytes: Vec<u8>,
    ip_csum: u16,
    l4_csum: u16,
    l4_csum_off: usize,
    base_ip: u32,
    base_port: u16,
    udp: bool,
}

impl Template {
    /// Frame length.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a template has at least [`MIN_FRAME`] bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Writes the frame of the flow with source `ip`:`port` into `out`
    /// (exactly [`Template::len`] bytes), checksums patched.
    pub fn write(&self, out: &mut [u8], ip: Ipv4Addr, port: u16) {
        out.copy_from_slice(&self.bytes);
        let ip = u32::from(ip);
        out[IP_SRC..IP_SRC + 4].copy_from_slice(&ip.to_be_bytes());
        let ipc = checksum::update32(self.ip_csum, self.base_ip, ip);
        out[IP_CSUM..IP_CSUM + 2].copy_from_slice(&ipc.to_be_bytes());
        out[L4_OFF..L4_OFF + 2].copy_from_slice(&port.to_be_bytes());
        let mut l4 = checksum::update16(
            checksum::update32(self.l4_csum, self.base_ip, ip),
            self.base_port,
            port,
        );
        if l4 == 0 && self.udp {
            l4 = 0xffff;
        }
        out[self.l4_csum_off..self.l4_csum_off + 2].copy_from_slice(&l4.to_be_bytes());
    }
}

/// The MAC the sink answers ARP for `ip` with.
pub fn sink_mac(ip: Ipv4Addr) -> MacAddr {
    let o = ip.octets();
    MacAddr([0x02, 0x00, o[0], o[1], o[2], o[3]])
}

/// What arrived on a port.
#[derive(Debug, Clone)]
pub struct Tally {
    /// IPv4 packets.
    pub packets: u64,
    /// Their bytes (frames without FCS).
    pub bytes: u64,
    /// IPv4 packets whose source is not a client address (FullNAT's LIPs).
    pub src_rewritten: u64,
    /// IPv4-in-IPv4 packets (TUN).
    pub ipip: u64,
    /// ARP requests answered.
    pub arp_answered: u64,
    /// Frames that are neither IPv4 nor ARP, or too short.
    pub other: u64,
    /// IPv4 packets per destination MAC (at most [`MAX_DESTS`] kept).
    pub dests: Vec<(MacAddr, u64)>,
    /// Packets to destination MACs beyond the first [`MAX_DESTS`].
    pub dests_other: u64,
    /// First and last IPv4 arrival since the last reset.
    pub first: Option<Instant>,
    /// See `first`.
    pub last: Option<Instant>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            packets: 0,
            bytes: 0,
            src_rewritten: 0,
            ipip: 0,
            arp_answered: 0,
            other: 0,
            dests: Vec::with_capacity(MAX_DESTS),
            dests_other: 0,
            first: None,
            last: None,
        }
    }
}

impl Tally {
    fn count_dest(&mut self, mac: MacAddr) {
        if let Some(e) = self.dests.iter_mut().find(|e| e.0 == mac) {
            e.1 += 1;
        } else if self.dests.len() < MAX_DESTS {
            self.dests.push((mac, 1));
        } else {
            self.dests_other += 1;
        }
    }

    /// The per-destination counts as JSON (`{"02:00:c6:13:00:0b": n, ...}`).
    pub fn dests_json(&self) -> String {
        let mut s = String::from("{");
        for (i, (mac, n)) in self.dests.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(s, "{sep}\"{mac}\":{n}");
        }
        s.push('}');
        s
    }
}

/// What [`classify`] makes of a received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// An IPv4 packet to `dst_mac`; `src` is its (outer) source address.
    Ipv4 {
        /// Destination MAC.
        dst_mac: MacAddr,
        /// Outer source address.
        src: Ipv4Addr,
        /// IP protocol 4 (IPIP).
        ipip: bool,
    },
    /// An ARP request for `target` from `sender` (`sender_mac`).
    ArpRequest {
        /// Asker's MAC.
        sender_mac: MacAddr,
        /// Asker's address.
        sender: Ipv4Addr,
        /// Address asked for.
        target: Ipv4Addr,
    },
    /// An ARP reply: `sender` is at `sender_mac`.
    ArpReply {
        /// Answerer's MAC.
        sender_mac: MacAddr,
        /// Answerer's address.
        sender: Ipv4Addr,
    },
    /// Anything else.
    Other,
}

fn mac_at(d: &[u8], at: usize) -> Option<MacAddr> {
    let b: [u8; 6] = d.get(at..at + 6)?.try_into().ok()?;
    Some(MacAddr(b))
}

fn ip_at(d: &[u8], at: usize) -> Option<Ipv4Addr> {
    let b: [u8; 4] = d.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// Classifies a received frame (untagged Ethernet).
pub fn classify(d: &[u8]) -> Class {
    let inner = || -> Option<Class> {
        match d.get(12..14)? {
            [0x08, 0x00] => Some(Class::Ipv4 {
                dst_mac: mac_at(d, 0)?,
                src: ip_at(d, IP_SRC)?,
                ipip: *d.get(IP_OFF + 9)? == 4,
            }),
            [0x08, 0x06] => {
                // Ethernet/IPv4 ARP (RFC 826): op at 20, sha 22, spa 28, tpa 38.
                if d.get(14..20)? != [0, 1, 8, 0, 6, 4] {
                    return Some(Class::Other);
                }
                match d.get(20..22)? {
                    [0, 1] => Some(Class::ArpRequest {
                        sender_mac: mac_at(d, 22)?,
                        sender: ip_at(d, 28)?,
                        target: ip_at(d, 38)?,
                    }),
                    [0, 2] => Some(Class::ArpReply {
                        sender_mac: mac_at(d, 22)?,
                        sender: ip_at(d, 28)?,
                    }),
                    _ => Some(Class::Other),
                }
            }
            _ => Some(Class::Other),
        }
    };
    inner().unwrap_or(Class::Other)
}

/// Writes an Ethernet/IPv4 ARP frame (42 bytes) into `out`.
pub fn write_arp(
    out: &mut [u8],
    op: u16,
    src_mac: MacAddr,
    src: Ipv4Addr,
    dst_mac: MacAddr,
    target: Ipv4Addr,
) {
    let eth_dst = if op == 1 { MacAddr([0xff; 6]) } else { dst_mac };
    out[0..6].copy_from_slice(&eth_dst.0);
    out[6..12].copy_from_slice(&src_mac.0);
    out[12..14].copy_from_slice(&[0x08, 0x06]);
    out[14..20].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
    out[20..22].copy_from_slice(&op.to_be_bytes());
    out[22..28].copy_from_slice(&src_mac.0);
    out[28..32].copy_from_slice(&src.octets());
    out[32..38].copy_from_slice(&if op == 1 { [0; 6] } else { dst_mac.0 });
    out[38..42].copy_from_slice(&target.octets());
}

/// Length of an ARP frame without padding.
pub const ARP_LEN: usize = 42;

/// `Instant::now()` taken on first use, then the same value.
#[derive(Debug, Default, Clone)]
struct LazyNow(std::cell::Cell<Option<Instant>>);

impl LazyNow {
    fn get(&self) -> Instant {
        match self.0.get() {
            Some(t) => t,
            None => {
                let t = Instant::now();
                self.0.set(Some(t));
                t
            }
        }
    }
}

/// One side of the generator: a port's queue 0 and its MAC.
#[derive(Debug, Clone, Copy)]
pub struct Side {
    /// Queue 0 of the port.
    pub queue: QueueHandle,
    /// The port's MAC.
    pub mac: MacAddr,
}

/// How a send phase ends and paces.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Stop after this many packets sent.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Packets per second at most (None: as fast as the port takes them).
    pub rate: Option<f64>,
}

/// What a send phase did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent {
    /// Packets the port took.
    pub packets: u64,
    /// Seconds the phase took.
    pub secs: f64,
}

/// The generator and sink, driven from one lcore.
#[derive(Debug)]
pub struct Generator<'a> {
    pool: &'a Mempool,
    tx: Side,
    rx: Option<Side>,
    flows: FlowSet,
    first: Template,
    next: Template,
    /// Next flow to send.
    cursor: u32,
    /// What arrived on the sink port (the tx port when there is one port).
    pub sink: Tally,
    /// What came back on the tx port when the sink is another port.
    pub back: Tally,
    /// MACs learnt from ARP replies.
    pub learnt: Vec<(Ipv4Addr, MacAddr)>,
}

impl<'a> Generator<'a> {
    /// A generator sending `flows` on `tx` and counting on `rx` (None: on
    /// `tx` too).
    pub fn new(
        pool: &'a Mempool,
        tx: Side,
        rx: Option<Side>,
        flows: FlowSet,
    ) -> Result<Self, String> {
        flows.validate()?;
        Ok(Generator {
            pool,
            tx,
            rx,
            first: flows.template(Kind::First),
            next: flows.template(Kind::Next),
            flows,
            cursor: 0,
            sink: Tally::default(),
            back: Tally::default(),
            learnt: Vec::new(),
        })
    }

    /// The flows.
    pub fn flows(&self) -> &FlowSet {
        &self.flows
    }

    /// Sets the destination MAC of every frame from now on.
    pub fn set_dst_mac(&mut self, mac: MacAddr) {
        self.flows.dst_mac = mac;
        self.first = self.flows.template(Kind::First);
        self.next = self.flows.template(Kind::Next);
    }

    /// Starts the flow cursor at `flow`.
    pub fn seek(&mut self, flow: u32) {
        self.cursor = flow % self.flows.flows;
    }

    /// Forgets what was counted.
    pub fn reset_counts(&mut self) {
        self.sink = Tally::default();
        self.back = Tally::default();
    }

    /// Polls both ports once: counts arrivals and answers ARP requests.
    /// Returns the number of frames received.
    pub fn poll(&mut self) -> usize {
        // The time of arrival is read once per poll, and only when something
        // arrived (see `poll_side`): the clock costs more than a burst.
        let now = LazyNow::default();
        let c = (u32::from(self.flows.clients), self.flows.client_count);
        let mut n = 0;
        if let Some(rx) = self.rx {
            n += Self::poll_side(c, rx, &mut self.sink, &mut self.learnt, &now);
            n += Self::poll_side(c, self.tx, &mut self.back, &mut self.learnt, &now);
        } else {
            n += Self::poll_side(c, self.tx, &mut self.sink, &mut self.learnt, &now);
        }
        n
    }

    fn poll_side(
        clients: (u32, u32),
        side: Side,
        tally: &mut Tally,
        learnt: &mut Vec<(Ipv4Addr, MacAddr)>,
        now: &LazyNow,
    ) -> usize {
        let mut total = 0;
        let mut replies = Burst::new();
        for _ in 0..4 {
            let mut b = Burst::new();
            let n = side.queue.rx_burst(&mut b, MAX_BURST);
            total += n;
            for m in b.drain() {
                if let Some(reply) = Self::count(clients, tally, learnt, m, now) {
                    if replies.push(reply).is_ok() {
                        tally.arp_answered += 1;
                    }
                }
            }
            if n < MAX_BURST {
                break;
            }
        }
        side.queue.tx_burst(&mut replies);
        total
    }

    /// Counts one arrival; an ARP request comes back turned into its reply.
    fn count(
        clients: (u32, u32),
        tally: &mut Tally,
        learnt: &mut Vec<(Ipv4Addr, MacAddr)>,
        mut m: Mbuf,
        now: &LazyNow,
    ) -> Option<Mbuf> {
        match classify(m.data()) {
            Class::Ipv4 { dst_mac, src, ipip } => {
                tally.packets += 1;
                tally.bytes += m.len() as u64;
                let t = now.get();
                tally.first.get_or_insert(t);
                tally.last = Some(t);
                tally.ipip += u64::from(ipip);
                let off = u32::from(src).wrapping_sub(clients.0);
                tally.src_rewritten += u64::from(off >= clients.1);
                tally.count_dest(dst_mac);
                None
            }
            Class::ArpRequest {
                sender_mac,
                sender,
                target,
            } => {
                if m.len() < ARP_LEN {
                    tally.other += 1;
                    return None;
                }
                let mac = sink_mac(target);
                write_arp(m.data_mut(), 2, mac, target, sender_mac, sender);
                Some(m)
            }
            Class::ArpReply { sender_mac, sender } => {
                if !learnt.iter().any(|e| e.0 == sender) {
                    learnt.push((sender, sender_mac));
                }
                None
            }
            Class::Other => {
                tally.other += 1;
                None
            }
        }
    }

    /// Asks for `target`'s MAC from `src` on the tx port, every 100 ms,
    /// until an ARP reply comes or `timeout` passes.
    pub fn resolve(
        &mut self,
        src: Ipv4Addr,
        target: Ipv4Addr,
        timeout: Duration,
    ) -> Option<MacAddr> {
        let start = Instant::now();
        let mut asked: Option<Instant> = None;
        while start.elapsed() < timeout {
            if let Some(&(_, mac)) = self.learnt.iter().find(|e| e.0 == target) {
                return Some(mac);
            }
            if asked.map_or(true, |t| t.elapsed() >= Duration::from_millis(100)) {
                asked = Some(Instant::now());
                let mut b = Burst::new();
                if let Some(mut m) = self.pool.alloc() {
                    if let Some(d) = m.append(u16::try_from(MIN_FRAME).unwrap_or(60)) {
                        d.fill(0);
                        write_arp(d, 1, self.tx.mac, src, MacAddr([0; 6]), target);
                        let _ = b.push(m);
                    }
                }
                self.tx.queue.tx_burst(&mut b);
            }
            if self.poll() == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        None
    }

    /// Sends batches of `batch` packets of the flows from `flow` on (a flow
    /// each) until one batch arrives whole at the sink within 100 ms, or
    /// `timeout` passes; true when one did. This lets the device under test
    /// resolve its next hops before anything is measured.
    pub fn probe(&mut self, flow: u32, batch: u32, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            self.drain(Duration::from_millis(20), Duration::from_millis(200));
            let before = self.sink.packets;
            self.seek(flow);
            self.send(
                Kind::First,
                Plan {
                    count: Some(u64::from(batch)),
                    duration: Some(Duration::from_millis(100)),
                    rate: None,
                },
            );
            let sent_at = Instant::now();
            while sent_at.elapsed() < Duration::from_millis(100) {
                if self.sink.packets - before >= u64::from(batch) {
                    return true;
                }
                if self.poll() == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
        false
    }

    /// Sends packets of `kind`, one per flow in turn from the cursor, until
    /// the plan's count or duration is reached, polling the ports between
    /// bursts. Frames the port does not take are freed and written again
    /// for the same flows, so a counted phase gives every flow its packets
    /// in order.
    pub fn send(&mut self, kind: Kind, plan: Plan) -> Sent {
        let tpl = match kind {
            Kind::First => &self.first,
            Kind::Next => &self.next,
        };
        let tpl = tpl.clone();
        let len = u16::try_from(tpl.len()).unwrap_or(u16::MAX);
        let start = Instant::now();
        let mut sent = 0u64;
        let mut burst = Burst::new();
        let mut iter = 0u32;
        loop {
            if plan.count.is_some_and(|c| sent >= c) {
                break;
            }
            // Time is read every 16 bursts: cheap enough and fine-grained.
            if iter % 16 == 0 && plan.duration.is_some_and(|d| start.elapsed() >= d) {
                break;
            }
            iter = iter.wrapping_add(1);
            let mut want = TX_BURST as u64;
            if let Some(c) = plan.count {
                want = want.min(c - sent);
            }
            if let Some(rate) = plan.rate {
                // Whole packets due so far: non-negative and far below 2^53.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let allowed = (start.elapsed().as_secs_f64() * rate).floor() as u64;
                want = want.min(allowed.saturating_sub(sent));
                if want == 0 {
                    self.poll();
                    continue;
                }
            }
            let want = usize::try_from(want).unwrap_or(TX_BURST);
            if self.pool.alloc_bulk(&mut burst, want) == 0 {
                // Pool empty for now: what is in flight comes back.
                self.poll();
                continue;
            }
            let mut cursor = self.cursor;
            let flows = &self.flows;
            burst.for_each_mut(|m| {
                let (ip, port) = flows.tuple(cursor);
                cursor = if cursor + 1 >= flows.flows {
                    0
                } else {
                    cursor + 1
                };
                if let Some(d) = m.append(len) {
                    tpl.write(d, ip, port);
                }
            });
            let n = self.tx.queue.tx_burst(&mut burst);
            sent += n as u64;
            let n = u32::try_from(n).unwrap_or(0);
            self.cursor = (self.cursor + n) % self.flows.flows;
            self.poll();
        }
        Sent {
            packets: sent,
            secs: start.elapsed().as_secs_f64().max(1e-9),
        }
    }

    /// One measured phase: forgets the counts, starts again at flow 0,
    /// sends by `plan`, then polls until everything sent has arrived, or
    /// nothing did for half a second, or ten seconds passed. Returns what
    /// was sent and when the phase started.
    pub fn phase(&mut self, kind: Kind, plan: Plan) -> (Sent, Instant) {
        self.reset_counts();
        self.seek(0);
        let t0 = Instant::now();
        let sent = self.send(kind, plan);
        self.drain_until(
            sent.packets,
            Duration::from_millis(500),
            Duration::from_secs(10),
        );
        (sent, t0)
    }

    /// Polls until nothing arrived for `quiet`, or `max` passed.
    pub fn drain(&mut self, quiet: Duration, max: Duration) {
        self.drain_until(u64::MAX, quiet, max);
    }

    /// Polls until the sink has counted `packets` since the last reset,
    /// nothing arrived for `quiet`, or `max` passed.
    pub fn drain_until(&mut self, packets: u64, quiet: Duration, max: Duration) {
        let start = Instant::now();
        let mut heard = Instant::now();
        while self.sink.packets < packets && start.elapsed() < max && heard.elapsed() < quiet {
            if self.poll() > 0 {
                heard = Instant::now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flows(proto: Proto, frame_len: usize, flows: u32) -> FlowSet {
        FlowSet {
            proto,
            frame_len,
            flows,
            clients: Ipv4Addr::new(198, 18, 16, 1),
            client_count: 4096,
            sport_base: 1024,
            dst: Ipv4Addr::new(198, 18, 0, 100),
            dport: 80,
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
        }
    }

    /// True when the IPv4 header and the TCP/UDP checksum of `f` verify.
    fn checksums_ok(f: &[u8]) -> bool {
        let ip = &f[IP_OFF..L4_OFF];
        let src = ip_at(f, IP_SRC).expect("src");
        let dst = ip_at(f, IP_OFF + 16).expect("dst");
        let l4 = &f[L4_OFF..];
        let len = u16::try_from(l4.len()).expect("short");
        let pseudo = checksum::pseudo_header_v4(src, dst, ip[9], len);
        checksum::verify(ip) && checksum::combine(&[pseudo, checksum::data(l4)]) == 0xffff
    }

    #[test]
    fn every_flows_frame_has_its_tuple_and_valid_checksums() {
        for (proto, len) in [
            (Proto::Udp, 64),
            (Proto::Tcp, 60),
            (Proto::Tcp, 512),
            (Proto::Udp, 1514),
        ] {
            let fs = flows(proto, len, 1_000_000);
            fs.validate().expect("valid");
            for kind in [Kind::First, Kind::Next] {
                let t = fs.template(kind);
                assert_eq!(t.len(), len);
                let mut out = vec![0u8; len];
                for i in [0, 1, 4095, 4096, 77_777, 999_999] {
                    let (ip, port) = fs.tuple(i);
                    t.write(&mut out, ip, port);
                    assert!(checksums_ok(&out), "{proto:?} {len} flow {i}");
                    assert_eq!(ip_at(&out, IP_SRC), Some(ip));
                    assert_eq!(&out[L4_OFF..L4_OFF + 2], &port.to_be_bytes());
                    if proto == Proto::Tcp {
                        let want = if kind == Kind::First {
                            TCP_SYN
                        } else {
                            TCP_ACK
                        };
                        assert_eq!(out[L4_OFF + 13], want);
                    }
                }
            }
        }
    }

    #[test]
    fn a_million_flows_are_a_million_distinct_tuples() {
        let fs = flows(Proto::Tcp, 64, 1_000_000);
        let mut seen = std::collections::HashSet::new();
        for i in 0..fs.flows {
            assert!(seen.insert(fs.tuple(i)), "flow {i} repeats");
        }
        assert_eq!(fs.tuple(1_000_000), fs.tuple(0), "wraps");
        assert_eq!(fs.tuple(4096), (fs.clients, 1025));
    }

    #[test]
    fn impossible_flow_sets_are_refused() {
        let mut fs = flows(Proto::Udp, 64, 1000);
        fs.frame_len = 59;
        assert!(fs.validate().is_err());
        fs.frame_len = 1515;
        assert!(fs.validate().is_err());
        let mut fs = flows(Proto::Udp, 64, 0);
        assert!(fs.validate().is_err());
        fs.flows = 100_000_000; // 24 415 ports per address from 1024: too many
        fs.sport_base = 50_000;
        assert!(fs.validate().unwrap_err().contains("more client addresses"));
        let mut fs = flows(Proto::Udp, 64, 10);
        fs.clients = Ipv4Addr::new(255, 255, 255, 250);
        fs.client_count = 10;
        assert!(fs.validate().is_err());
    }

    #[test]
    fn arp_frames_classify_back() {
        let me = MacAddr([2, 0, 0, 0, 0, 9]);
        let (a, b) = (Ipv4Addr::new(198, 19, 0, 1), Ipv4Addr::new(198, 19, 0, 11));
        let mut f = [0u8; 60];
        write_arp(&mut f, 1, me, a, MacAddr([0; 6]), b);
        assert_eq!(&f[..6], &[0xff; 6]);
        assert_eq!(
            classify(&f),
            Class::ArpRequest {
                sender_mac: me,
                sender: a,
                target: b
            }
        );
        let mac = sink_mac(b);
        assert_eq!(mac.to_string(), "02:00:c6:13:00:0b");
        write_arp(&mut f, 2, mac, b, me, a);
        assert_eq!(
            classify(&f),
            Class::ArpReply {
                sender_mac: mac,
                sender: b
            }
        );
        assert_eq!(&f[..6], &me.0);
        assert_eq!(classify(&f[..20]), Class::Other);
        let mut ipip = flows(Proto::Udp, 64, 1).template(Kind::First).bytes;
        ipip[IP_OFF + 9] = 4;
        assert!(matches!(classify(&ipip), Class::Ipv4 { ipip: true, .. }));
    }
}
