//! Templates: records too short to be an Ethernet frame (1 to
//! [`TEMPLATE_MAX`] bytes) describe a frame instead, which is built here
//! with the lab's addresses and valid checksums. A raw frame reaches a
//! service only if its bytes spell the VIP, a service port and a right IPv4
//! checksum, and a real server's reply only if they spell the conn's
//! rewritten addresses; a template gets there in a byte or two, so the
//! fuzzer can spend its time on sequences (handshakes, replies, errors about
//! conns, many clients) rather than on spelling.
//!
//! Bytes (missing ones read as 0):
//!
//! | byte | meaning |
//! | --- | --- |
//! | 0 | kind, `% 5`: 0 TCP from a client to the VIP, 1 UDP from a client to the VIP, 2 an answer to a frame the worker transmitted (addresses and ports swapped), 3 an ICMP error about such a frame, 4 ARP |
//! | 1 | kinds 0, 1: the VIP's port (`% 6`: 80, 443, 22, 53, 8080, 0); 2, 3: which transmitted frame (0 the latest); 4: the target address |
//! | 2 | the client (low 4 bits: `client(n)`, high 4: source port `40000 + n`); ARP: the sender |
//! | 3 | TCP flags; UDP: bit 0 clears the checksum; ICMP: the error; ARP: bit 0 reply |
//! | 4 | bit 0 VLAN tag 100, bit 1 IP options (4 NOPs), bit 2 TTL 1, bit 3 MF (a first fragment), bits 4-7 payload length in 97-byte steps; ICMP: the code or MTU (no extras) |

use dataplane::addr::MacAddr;
use dataplane::sim::lab;
use dataplane::sim::packet;
use dataplane::stack::neigh::emit_arp_frame;
use dataplane::wire::arp::{ArpOperation, ArpRepr};
use dataplane::wire::ethernet::{EtherType, EthernetFrame};
use dataplane::wire::icmp::{self, Icmpv4Error};
use dataplane::wire::ipv4::{Ipv4Packet, HEADER_LEN};
use dataplane::{PortId, Verdict};

/// Payload granularity: 15 steps make a 1455-byte payload, whose IPv4
/// packet fits the 1500-byte MTU but not with TUN's 20 bytes on top.
const PAYLOAD_STEP: usize = 97;
/// Longest template: one byte shorter than an Ethernet header.
pub const TEMPLATE_MAX: usize = 13;
/// Transmitted frames kept for answers and errors.
pub const HISTORY: usize = 16;
/// The VIP ports templates pick from: the services', one without a service
/// and port 0.
const VPORTS: [u16; 6] = [80, 443, 22, 53, 8080, 0];

/// True if a record's frame is a template.
pub fn is_template(frame: &[u8]) -> bool {
    (1..=TEMPLATE_MAX).contains(&frame.len())
}

/// The frames a worker transmitted, latest last (at most [`HISTORY`]).
#[derive(Debug, Default, Clone)]
pub struct History {
    sent: Vec<(PortId, Vec<u8>)>,
}

impl History {
    /// Remembers `frame` if `verdict` transmits it.
    pub fn record(&mut self, verdict: Verdict, frame: &[u8]) {
        if let Verdict::Transmit { port } = verdict {
            if self.sent.len() == HISTORY {
                self.sent.remove(0);
            }
            self.sent.push((port, frame.to_vec()));
        }
    }

    /// The `n`th latest transmitted frame (wrapping), if any.
    fn nth_latest(&self, n: u8) -> Option<&[u8]> {
        let len = self.sent.len();
        let back = usize::from(n).checked_rem(len)?;
        self.sent.get(len - 1 - back).map(|(_, f)| &f[..])
    }

    /// The frame a record stands for: itself, or the template's frame.
    pub fn frame(&self, record: &[u8]) -> Vec<u8> {
        if is_template(record) {
            build(record, self)
        } else {
            record.to_vec()
        }
    }
}

/// The frame template `t` describes (empty when it refers to a
/// transmitted frame that does not exist or cannot be answered).
pub fn build(t: &[u8], history: &History) -> Vec<u8> {
    let b = |i: usize| t.get(i).copied().unwrap_or(0);
    let (kind, sel, who, bits, extra) = (b(0), b(1), b(2), b(3), b(4));
    let payload = vec![b'a'; usize::from(extra >> 4) * PAYLOAD_STEP];
    let client = (
        lab::client(u32::from(who & 0x0f)),
        40000 + u16::from(who >> 4),
    );
    let vip = (lab::VIP, VPORTS[usize::from(sel) % VPORTS.len()]);
    let (mac_from, mac_to) = (lab::ROUTER_MAC, lab::EXT_MAC);
    let frame = match kind % 5 {
        0 => Some(packet::tcp(mac_from, mac_to, client, vip, bits, &payload)),
        1 => Some(packet::udp(
            mac_from,
            mac_to,
            client,
            vip,
            &payload,
            bits & 1 == 0,
        )),
        2 => history
            .nth_latest(sel)
            .and_then(|f| answer(f, bits, &payload)),
        3 => history
            .nth_latest(sel)
            .and_then(|f| icmp_error(f, bits, extra)),
        _ => arp(sel, who, bits),
    };
    let Some(mut frame) = frame else {
        return Vec::new();
    };
    if kind % 5 < 3 {
        frame = with_extras(frame, extra);
    }
    frame
}

/// `to` answered: MACs, addresses and ports swapped, TCP `flags`.
fn answer(to: &[u8], flags: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let s = packet::parse(to)?;
    match s.protocol {
        6 => Some(packet::tcp(
            s.dst_mac, s.src_mac, s.dst, s.src, flags, payload,
        )),
        17 => Some(packet::udp(
            s.dst_mac, s.src_mac, s.dst, s.src, payload, true,
        )),
        _ => None,
    }
}

/// An ICMP error about `about` from its destination, back to its source:
/// `bits % 4` picks unreachable (code `extra % 16`), fragmentation needed
/// (MTU `576 + 4 * extra`), time exceeded (code `extra % 2`), port
/// unreachable.
fn icmp_error(about: &[u8], bits: u8, extra: u8) -> Option<Vec<u8>> {
    let eth = EthernetFrame::new_checked(about).ok()?;
    let (src_mac, dst_mac) = (eth.src_addr(), eth.dst_addr());
    let ip = eth.payload();
    let from = Ipv4Packet::new_checked(ip).ok()?.dst_addr();
    let error = match bits % 4 {
        0 => Icmpv4Error::DestUnreachable(extra % 16),
        1 => Icmpv4Error::FragNeeded {
            next_hop_mtu: 576 + 4 * u16::from(extra),
        },
        2 => Icmpv4Error::TimeExceeded(extra % 2),
        _ => Icmpv4Error::DestUnreachable(3),
    };
    let mut out = vec![0u8; 14 + 576];
    let n = icmp::emit_error(&mut out[14..], error, from, ip).ok()?;
    out.truncate(14 + n);
    out[..6].copy_from_slice(&src_mac.0);
    out[6..12].copy_from_slice(&dst_mac.0);
    out[12..14].copy_from_slice(&EtherType::IPV4.0.to_be_bytes());
    Some(out)
}

/// An ARP request (or, with `bits & 1`, a reply to the director) from
/// the clients' router or a real server (`who`) for one of the lab's
/// addresses (`sel`).
fn arp(sel: u8, who: u8, bits: u8) -> Option<Vec<u8>> {
    let targets = [lab::VIP, lab::DIP, lab::DIP_INT, lab::LIP, lab::rs(0)];
    let target = targets[usize::from(sel) % targets.len()];
    let rs = usize::from((who >> 1) & 7);
    let (mac, ip, our_mac) = if who & 1 == 0 {
        (lab::ROUTER_MAC, lab::ROUTER, lab::EXT_MAC)
    } else {
        (lab::rs_mac(rs), lab::rs(rs), lab::INT_MAC)
    };
    let reply = bits & 1 == 1;
    let repr = ArpRepr {
        operation: if reply {
            ArpOperation::REPLY
        } else {
            ArpOperation::REQUEST
        },
        source_hardware_addr: mac,
        source_protocol_addr: ip,
        target_hardware_addr: if reply { our_mac } else { MacAddr::ZERO },
        target_protocol_addr: target,
    };
    let dst = if reply { our_mac } else { MacAddr::BROADCAST };
    let mut b = vec![0u8; 60];
    let n = emit_arp_frame(mac, dst, &repr, &mut b)?;
    b.truncate(n.max(60));
    Some(b)
}

/// `frame` (untagged Ethernet/IPv4) with the extras `extra` asks for.
fn with_extras(mut frame: Vec<u8>, extra: u8) -> Vec<u8> {
    if frame.len() < 14 + HEADER_LEN {
        return frame;
    }
    if extra & 2 != 0 {
        // Four NOPs (RFC 791 option 1), a whole word.
        frame.splice(14 + HEADER_LEN..14 + HEADER_LEN, [1, 1, 1, 1]);
        let total = u16::try_from(frame.len() - 14).unwrap_or(u16::MAX);
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
        ip.set_version_and_header_len(HEADER_LEN + 4);
        ip.set_total_len(total);
    }
    if extra & 4 != 0 {
        Ipv4Packet::new_unchecked(&mut frame[14..]).set_ttl(1);
    }
    if extra & 8 != 0 {
        // MF (RFC 791 flags, bit 13 of bytes 6-7), offset 0: a first fragment.
        frame[14 + 6] |= 0x20;
    }
    Ipv4Packet::new_unchecked(&mut frame[14..]).fill_checksum();
    if extra & 1 != 0 {
        let [t0, t1] = EtherType::VLAN.0.to_be_bytes();
        let [v0, v1] = 100u16.to_be_bytes();
        frame.splice(12..12, [t0, t1, v0, v1]);
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::wire::ethernet::EthernetFrame;

    fn ipv4_ok(frame: &[u8]) -> bool {
        EthernetFrame::new_checked(frame)
            .ok()
            .and_then(|e| {
                Ipv4Packet::new_checked(e.payload())
                    .ok()
                    .map(|p| p.verify_checksum())
            })
            .unwrap_or(false)
    }

    #[test]
    fn syn_to_each_port_is_valid() {
        let h = History::default();
        for sel in 0..6 {
            let f = build(&[0, sel, 0, 0x02], &h);
            let s = packet::parse(&f).expect("a TCP frame");
            assert_eq!(s.dst, (lab::VIP, VPORTS[usize::from(sel)]));
            assert!(ipv4_ok(&f));
        }
    }

    #[test]
    fn extras_keep_the_header_valid() {
        let h = History::default();
        for extra in 0..=255u8 {
            let f = build(&[1, 3, 0x21, 0, extra], &h);
            assert!(ipv4_ok(&f), "extra {extra:#x}");
            let tagged = extra & 1 != 0;
            assert_eq!(
                EthernetFrame::new_checked(&f[..]).map(|e| e.vlan_tags()),
                Ok(usize::from(tagged))
            );
        }
    }

    #[test]
    fn answers_swap_the_latest_frame() {
        let mut h = History::default();
        assert!(build(&[2], &h).is_empty());
        let out = packet::tcp(
            lab::INT_MAC,
            lab::rs_mac(0),
            (lab::client(1), 40000),
            (lab::rs(0), 8080),
            0x02,
            b"",
        );
        h.record(Verdict::Transmit { port: lab::INT }, &out);
        h.record(Verdict::Drop(dataplane::DropReason::NoConn), b"ignored");
        let a = packet::parse(&build(&[2, 0, 0, 0x12], &h)).expect("a TCP frame");
        assert_eq!(
            (a.src, a.dst),
            ((lab::rs(0), 8080), (lab::client(1), 40000))
        );
        assert_eq!((a.src_mac, a.dst_mac), (lab::rs_mac(0), lab::INT_MAC));
        let e = build(&[3, 0, 0, 1, 50], &h);
        assert!(ipv4_ok(&e));
        assert_eq!(e[14 + 9], 1, "ICMP");
    }

    #[test]
    fn every_short_template_builds() {
        let mut h = History::default();
        h.record(
            Verdict::Transmit { port: lab::EXT },
            &build(&[0, 0, 0, 2], &h),
        );
        for kind in 0..10u8 {
            for b in [0u8, 1, 0x55, 0xff] {
                let f = build(&[kind, b, b, b, b], &h);
                assert!(f.len() > TEMPLATE_MAX, "kind {kind}: {} bytes", f.len());
            }
        }
    }
}
