//! What the `packet` fuzz target and its seed generator
//! (`examples/gen_corpus.rs`) share: the input format and the workers the
//! frames go through.
//!
//! An input is a list of records separated by [`SEP`]. A record is one
//! control byte then one frame, or a template of 1 to 13 bytes that
//! describes one ([`template`]: a client's TCP or UDP to a service, an
//! answer to or an ICMP error about a frame the worker sent, ARP). Of the
//! control byte, bit 7 asks for the frame's IPv4 header and ICMP checksums
//! to be made right first ([`fix_checksums`]: mutated headers would
//! otherwise nearly all stop at the checksum check); of the low 7 bits,
//! `% 3` is the rx port (0 external, 1 internal, 2 a port the snapshot does
//! not have) and `/ 3` the seconds (0 to 42) the clock moves before the
//! frame. An input without [`SEP`] is a single frame whose first byte picks
//! the port.

pub mod template;

pub use template::History;

use dataplane::conn::{Fwd, Proto};
use dataplane::sim::lab::{self, Svc};
use dataplane::stack::neigh::{Learn, NeighConfig};
use dataplane::wire::ethernet::{EtherType, EthernetFrame};
use dataplane::wire::icmp::Icmpv4Packet;
use dataplane::wire::ip::IpProtocol;
use dataplane::wire::ipv4::{Ipv4Packet, HEADER_LEN};
use dataplane::worker::WorkerConfig;
use dataplane::{PortId, Time, Worker};
use std::sync::Arc;
use std::time::Duration;

/// Separates records (also in `fuzz/packet.dict`, so that libFuzzer
/// splices it in).
pub const SEP: &[u8] = b"\xfeRVS";
/// Records looked at per input (the rest is ignored).
pub const MAX_RECORDS: usize = 16;
// The workers' tables are small so that an input of a few frames can fill
// them (and so that building two workers per input stays cheap).

/// Conn table size of the fuzzed workers.
pub const CONNS: u32 = 64;
/// Persistence templates of the fuzzed workers.
pub const TEMPLATES: u32 = 16;
/// Neighbour table size of the fuzzed workers (5 entries learnt at start).
pub const NEIGHS: usize = 16;
/// FullNAT local ports of the fuzzed workers: 4, so that a fifth client
/// finds them all taken.
pub const LPORTS: std::ops::RangeInclusive<u16> = 1024..=1027;

/// The services the workers run, all on the lab's VIP: TCP 80 NAT to two
/// real servers' 8080, UDP 53 FullNAT, TCP 443 TUN, TCP 22 DR.
pub const SERVICES: [(Proto, u16, Fwd, u16, usize); 4] = [
    (Proto::Tcp, 80, Fwd::Nat, 8080, 2),
    (Proto::Udp, 53, Fwd::FullNat, 53, 1),
    (Proto::Tcp, 443, Fwd::Tun, 443, 1),
    (Proto::Tcp, 22, Fwd::Dr, 22, 1),
];

/// Bit of the control byte asking for [`fix_checksums`].
pub const FIX_CHECKSUMS: u8 = 0x80;

/// One frame of an input, and when and where it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Rx port.
    pub port: PortId,
    /// How far the clock moves before the frame.
    pub advance: Duration,
    /// The frame (checksums fixed if the control byte asked).
    pub frame: Vec<u8>,
}

/// The records of `data` (at most [`MAX_RECORDS`]; empty records skipped).
pub fn records(data: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() < MAX_RECORDS {
        let (rec, next) = match rest.windows(SEP.len()).position(|w| w == SEP) {
            Some(i) => (&rest[..i], rest.get(i + SEP.len()..)),
            None => (rest, None),
        };
        if let Some((&ctl, frame)) = rec.split_first() {
            let mut frame = frame.to_vec();
            if ctl & FIX_CHECKSUMS != 0 {
                fix_checksums(&mut frame);
            }
            let low = ctl & !FIX_CHECKSUMS;
            out.push(Record {
                port: u16::from(low % 3),
                advance: Duration::from_secs(u64::from(low / 3)),
                frame,
            });
        }
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    out
}

/// The control byte for a frame on `port` (0..=2) after `secs` (0..=42)
/// seconds, with [`FIX_CHECKSUMS`] if `fix`; `None` out of those ranges.
pub fn ctl(port: PortId, secs: u8, fix: bool) -> Option<u8> {
    let port = u8::try_from(port).ok().filter(|&p| p < 3)?;
    let low = secs.checked_mul(3)?.checked_add(port)?;
    if low & FIX_CHECKSUMS != 0 {
        return None;
    }
    Some(if fix { low | FIX_CHECKSUMS } else { low })
}

/// Makes the IPv4 header checksum of Ethernet `frame` (VLAN tags allowed)
/// right and, in an unfragmented ICMP datagram, the ICMP checksum over the
/// bytes its total length claims (or as many as there are). Leaves alone a
/// frame that is not IPv4 or whose header (as IHL says) is not all there.
pub fn fix_checksums(frame: &mut [u8]) {
    let l2 = match EthernetFrame::new_checked(&*frame) {
        Ok(eth) if eth.ethertype() == EtherType::IPV4 => eth.header_len(),
        _ => return,
    };
    let Some(ip) = frame.get_mut(l2..) else {
        return;
    };
    let hl = usize::from(ip.first().map_or(0, |b| b & 0x0f)) * 4;
    if hl < HEADER_LEN || ip.len() < hl {
        return;
    }
    let mut p = Ipv4Packet::new_unchecked(&mut ip[..]);
    p.fill_checksum();
    let icmp = p.protocol() == IpProtocol::ICMP && !p.is_fragment();
    let end = usize::from(p.total_len()).min(ip.len());
    if let Some(msg) = ip.get_mut(hl..end).filter(|m| icmp && m.len() >= 8) {
        Icmpv4Packet::new_unchecked(msg).fill_checksum();
    }
}

/// A fresh worker 0 on its own snapshot of [`SERVICES`] (the snapshot's
/// conn counters are shared by the workers on it, so two workers compared
/// with each other must not share one), knowing the MACs of the clients'
/// router and of the first four real servers.
pub fn worker() -> Worker {
    let svcs: Vec<Svc> = SERVICES
        .iter()
        .map(|&(proto, vport, fwd, rport, dests)| Svc::new(proto, vport, fwd, rport, dests))
        .collect();
    let snap = lab::snapshot(&svcs, 1);
    let cfg = WorkerConfig {
        conn_capacity: CONNS,
        template_capacity: TEMPLATES,
        neigh: NeighConfig {
            capacity: NEIGHS,
            ..NeighConfig::default()
        },
        lports: LPORTS,
        ..WorkerConfig::new(0)
    };
    let mut w = Worker::with_config(cfg, Arc::new(snap));
    w.neigh_mut().learn(
        Time::ZERO,
        lab::EXT,
        lab::ROUTER,
        lab::ROUTER_MAC,
        Learn::Request,
    );
    for i in 0..4 {
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

/// Moves `now` on by `d` in steps of a second, letting `w` expire what is
/// due at each, as rvsd's poll loop does.
pub fn advance(w: &mut Worker, now: &mut Time, d: Duration) {
    let end = *now + d;
    while *now < end {
        *now = *now + end.saturating_since(*now).min(Duration::from_secs(1));
        // A call that does not return 0 removed a conn: bounded by the table.
        for _ in 0..=CONNS {
            if w.expire(*now) == 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::sim::packet;

    #[test]
    fn records_split_on_sep() {
        assert!(records(b"").is_empty());
        let one = records(b"\x01abc");
        assert_eq!(one.len(), 1);
        assert_eq!((one[0].port, &one[0].frame[..]), (1, &b"abc"[..]));
        let two = records(b"\x07ab\xfeRVS\xfeRVS\x82c");
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].port, 1);
        assert_eq!(two[0].advance, Duration::from_secs(2));
        assert_eq!((two[1].port, &two[1].frame[..]), (2, &b"c"[..]));
        let many = [&b"\x00x"[..], SEP].concat().repeat(40);
        assert_eq!(records(&many).len(), MAX_RECORDS);
    }

    #[test]
    fn ctl_round_trips() {
        let c = ctl(1, 42, true);
        assert_eq!(c, Some(0x80 | 127));
        let data = [&[c.unwrap_or(0)][..], b"f"].concat();
        let r = records(&data);
        assert_eq!(r[0].port, 1);
        assert_eq!(r[0].advance, Duration::from_secs(42));
        assert_eq!(ctl(2, 42, false), None);
        assert_eq!(ctl(3, 0, false), None);
    }

    #[test]
    fn checksums_are_fixed() {
        let good = packet::tcp(
            lab::ROUTER_MAC,
            lab::EXT_MAC,
            (lab::client(1), 1),
            (lab::VIP, 80),
            packet::Flags::SYN,
            b"",
        );
        let mut bad = good.clone();
        bad[14 + 8] = 9; // TTL, checksum now stale
        fix_checksums(&mut bad);
        assert!(Ipv4Packet::new_unchecked(&bad[14..]).verify_checksum());
        let mut same = good.clone();
        fix_checksums(&mut same);
        assert_eq!(same, good);
        // Too short for its IHL: untouched, no panic.
        let mut cut = good[..30].to_vec();
        fix_checksums(&mut cut);
        assert_eq!(cut, good[..30]);
    }
}
