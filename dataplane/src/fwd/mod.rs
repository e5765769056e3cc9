//! Forwarding: the packet rewrites of the four LVS methods, one module per
//! method (VPP's lb plugin specialises its datapath the same way), plus the
//! pieces they share: address/port rewriting with incremental checksums,
//! TTL handling, ICMP error translation, and which worker owns a packet.
//!
//! Every rewrite works in place on the bytes of an IPv4 packet whose header
//! and transport header the caller has validated (`new_checked`), and
//! patches checksums with RFC 1624 instead of recomputing them: a payload
//! that arrived with a bad transport checksum leaves with a bad one, so the
//! end host still rejects it (IPVS does not verify either when the NIC
//! vouched for it, and the director never terminates the flow).
//!
//! TTL, following IPVS (`ip_vs_xmit.c`): requests are handed to the
//! transmitters from LOCAL_IN, as if the director were their endpoint, and
//! leave with their TTL untouched whatever the method (NAT, FullNAT, DR; the
//! TUN outer header copies the inner TTL). Replies of NAT and FullNAT
//! conns are forwarded by the director (the kernel's FORWARD path,
//! `ip_forward`), so they lose one hop, and one that arrives with TTL <= 1
//! is answered with ICMP time exceeded (RFC 1812 §5.3.1).
//!
//! Ownership with several workers (DESIGN.md, "Reply ownership"): a NAT
//! conn is owned by [`nat_owner`] of the client address, which appears in
//! both directions; a FullNAT conn by [`fullnat_owner`] of its lport, which
//! each worker allocates from its own residue class; a service whose dests
//! are all DR/TUN sees no replies, so the worker that sees its first packet
//! owns it (flow-consistent NIC steering, RSS, keeps the rest of the flow
//! there). A persistent service is the exception to the last two: all its
//! new conns from one client network go to the worker that owns the network
//! ([`nat_owner`] of the masked address), the one that keeps its
//! persistence template.
//!
//! The NAT owner ignores the client port on purpose: every conn of one
//! client then lives on one worker, next to that client's persistence
//! templates, so `-p` holds whichever port a new conn comes from (a hash of
//! address and port would send one client's conns to several workers, each
//! with a template of its own, possibly naming different dests).

pub mod dr;
pub mod fullnat;
pub mod icmp;
pub mod nat;
pub mod next_hop;
pub mod tun;

use crate::verdict::DropReason;
use crate::wire::checksum;
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;
use std::net::Ipv4Addr;

/// An address and a port (host order).
pub type Endpoint = (Ipv4Addr, u16);

/// The worker that owns a NAT conn (or a new conn of a service with NAT or
/// FullNAT dests, or the client network `caddr` of a persistent service): a
/// multiplicative hash of the client address, reduced to `0..workers`.
/// Both directions carry CIP (as source on the way in, as destination on
/// the way back), so either finds it.
pub fn nat_owner(caddr: Ipv4Addr, workers: u16) -> u16 {
    if workers <= 1 {
        return 0;
    }
    // MurmurHash3's 64-bit finalizer: every input bit reaches every output
    // bit, so sequential clients spread evenly over any count.
    let mut h = u64::from(u32::from(caddr));
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    u16::try_from(h % u64::from(workers)).unwrap_or(0)
}

/// The worker that owns a FullNAT conn: each worker takes lports `p` with
/// `p % workers == worker`, so the reply (to LIP:lport) names its owner.
pub fn fullnat_owner(lport: u16, workers: u16) -> u16 {
    if workers <= 1 {
        0
    } else {
        lport % workers
    }
}

/// One NIC steering rule for FullNAT replies: packets to `lip` of protocol
/// `proto` whose destination port (the lport) satisfies
/// `dport & port_mask == port_spec` go to rx queue `queue`, which is polled
/// by worker `queue`. Ports in host order; the DPDK shell writes them
/// big-endian into the rte_flow items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SteerRule {
    /// The LIP the reply is addressed to.
    pub lip: Ipv4Addr,
    /// TCP or UDP.
    pub proto: IpProtocol,
    /// Destination port bits to match (already masked).
    pub port_spec: u16,
    /// Which destination port bits are compared.
    pub port_mask: u16,
    /// Rx queue (= worker) the matching packets go to.
    pub queue: u16,
}

impl SteerRule {
    /// True if a reply to `lip`:`lport` over `proto` matches this rule.
    pub fn matches(&self, lip: Ipv4Addr, proto: IpProtocol, lport: u16) -> bool {
        self.lip == lip && self.proto == proto && lport & self.port_mask == self.port_spec
    }
}

/// The NIC rules that send every FullNAT reply straight to the worker that
/// owns its conn: for each LIP (duplicates once), TCP and UDP, and each
/// worker `w`, "dport & (workers - 1) == w → queue w", which is
/// [`fullnat_owner`] when `workers` is a power of two. A NIC matches masked
/// bits, not remainders, so any other count (and a single worker, which
/// needs no steering) gives no rules: replies then reach their owner
/// through the software redirect rings.
pub fn fullnat_steering_plan(lips: &[Ipv4Addr], workers: u16) -> Vec<SteerRule> {
    if workers <= 1 || !workers.is_power_of_two() {
        return Vec::new();
    }
    let mask = workers - 1;
    let mut seen: Vec<Ipv4Addr> = Vec::with_capacity(lips.len());
    let mut rules = Vec::with_capacity(lips.len() * 2 * usize::from(workers));
    for &lip in lips {
        if seen.contains(&lip) {
            continue;
        }
        seen.push(lip);
        for proto in [IpProtocol::TCP, IpProtocol::UDP] {
            rules.extend((0..workers).map(|w| SteerRule {
                lip,
                proto,
                port_spec: w,
                port_mask: mask,
                queue: w,
            }));
        }
    }
    rules
}

/// Rewrites the source and destination of the IPv4 packet `ip` (header
/// first, validated, TCP or UDP payload with its header present) to `src`
/// and `dst`, patching the header checksum and the transport checksum
/// (pseudo header and ports) incrementally. Fields that do not change are
/// not touched. A UDP checksum of zero ("none", RFC 768) stays zero.
pub fn rewrite(ip: &mut [u8], src: Endpoint, dst: Endpoint) -> Result<(), DropReason> {
    let mut p = Ipv4Packet::new_checked(&mut ip[..])?;
    let (old_src, old_dst) = (u32::from(p.src_addr()), u32::from(p.dst_addr()));
    let (new_src, new_dst) = (u32::from(src.0), u32::from(dst.0));
    let proto = p.protocol();
    // Both addresses are in the IP header and in the TCP/UDP pseudo header:
    // one delta for both checksums, each folded once (RFC 1624).
    let mut addrs = checksum::Delta::default();
    addrs.dword(old_src, new_src);
    addrs.dword(old_dst, new_dst);
    p.set_checksum(checksum::update_many(p.checksum(), addrs.0));
    p.set_src_addr(src.0);
    p.set_dst_addr(dst.0);
    match proto {
        IpProtocol::TCP => {
            let mut t = TcpPacket::new_checked(p.payload_mut())?;
            let mut d = addrs;
            d.word(t.src_port(), src.1);
            d.word(t.dst_port(), dst.1);
            t.set_src_port(src.1);
            t.set_dst_port(dst.1);
            t.set_checksum(checksum::update_many(t.checksum(), d.0));
        }
        IpProtocol::UDP => {
            let mut u = UdpPacket::new_checked(p.payload_mut())?;
            let mut d = addrs;
            d.word(u.src_port(), src.1);
            d.word(u.dst_port(), dst.1);
            u.set_src_port(src.1);
            u.set_dst_port(dst.1);
            // A zero UDP checksum means "none" and stays so; a computed
            // zero is sent as all ones (RFC 768).
            let c = u.checksum();
            if c != 0 {
                let n = checksum::update_many(c, d.0);
                u.set_checksum(if n == 0 { 0xffff } else { n });
            }
        }
        _ => return Err(DropReason::Malformed),
    }
    Ok(())
}

/// Takes one hop off the TTL of the IPv4 packet `ip`, patching the header
/// checksum (RFC 1624 over the TTL/protocol word). `false`, packet
/// untouched, when the TTL is 0 or 1: the packet must not be forwarded
/// (RFC 1812 §5.3.1).
pub fn decrement_ttl(ip: &mut [u8]) -> bool {
    if ip.len() < ipv4::HEADER_LEN {
        return false;
    }
    let mut p = Ipv4Packet::new_unchecked(&mut ip[..]);
    let ttl = p.ttl();
    if ttl <= 1 {
        return false;
    }
    let proto = p.protocol().0;
    let old = u16::from_be_bytes([ttl, proto]);
    let new = u16::from_be_bytes([ttl - 1, proto]);
    p.set_ttl(ttl - 1);
    let c = checksum::update16(p.checksum(), old, new);
    p.set_checksum(c);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_in_range_and_spread() {
        let mut seen = [0u32; 4];
        for i in 0..4000u32 {
            let w = nat_owner(Ipv4Addr::from(0x0a00_0000 + i), 4);
            seen[usize::from(w)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
        assert_eq!(nat_owner(Ipv4Addr::LOCALHOST, 1), 0);
        // Three workers, /24s of sequential clients: even too.
        let mut three = [0u32; 3];
        for i in 0..3000u32 {
            three[usize::from(nat_owner(Ipv4Addr::from(0xc612_0000 + (i << 8)), 3))] += 1;
        }
        assert!(three.iter().all(|&n| n > 800), "{three:?}");
        assert_eq!(fullnat_owner(1027, 4), 3);
        assert_eq!(fullnat_owner(1027, 1), 0);
    }

    /// Every lport of every LIP and protocol matches exactly one rule, and
    /// that rule's queue is the conn's owner.
    #[test]
    fn steering_plan_sends_every_lport_to_its_owner() {
        let lips = [
            Ipv4Addr::new(198, 18, 0, 100),
            Ipv4Addr::new(198, 18, 0, 101),
        ];
        for workers in [2u16, 4, 8, 16] {
            let plan = fullnat_steering_plan(&lips, workers);
            assert_eq!(plan.len(), lips.len() * 2 * usize::from(workers));
            for lip in lips {
                for proto in [IpProtocol::TCP, IpProtocol::UDP] {
                    let rules: Vec<&SteerRule> = plan
                        .iter()
                        .filter(|r| r.lip == lip && r.proto == proto)
                        .collect();
                    for lport in 0..=u16::MAX {
                        let mut hits = rules.iter().filter(|r| r.matches(lip, proto, lport));
                        let hit = hits.next().expect("a rule matches");
                        assert!(hits.next().is_none(), "one rule for {lip}:{lport}");
                        assert_eq!(hit.queue, fullnat_owner(lport, workers));
                    }
                }
            }
            // Nothing else is steered: another address or protocol.
            assert!(!plan.iter().any(|r| r.matches(
                Ipv4Addr::new(198, 18, 0, 1),
                IpProtocol::TCP,
                80
            ) || r.matches(lips[0], IpProtocol::ICMP, 0)));
        }
    }

    #[test]
    fn steering_plan_needs_a_power_of_two_workers() {
        let lips = [Ipv4Addr::new(198, 18, 0, 100)];
        for workers in [0u16, 1, 3, 5, 6, 7, 12, 24, 100] {
            assert!(
                fullnat_steering_plan(&lips, workers).is_empty(),
                "{workers}"
            );
        }
        assert!(fullnat_steering_plan(&[], 4).is_empty());
        // A LIP listed twice gets one set of rules.
        assert_eq!(fullnat_steering_plan(&[lips[0], lips[0]], 2).len(), 4);
    }

    use crate::addr::MacAddr;
    use crate::sim::packet;
    use proptest::prelude::*;

    proptest! {
        /// A rewritten packet is byte for byte the packet built afresh with
        /// the new addresses and ports: both checksums patched exactly.
        #[test]
        fn rewrite_equals_building_anew(
            a in any::<[u32; 4]>(), p in any::<[u16; 4]>(),
            tcp in any::<bool>(), udp_sum in any::<bool>(),
            payload in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let m = MacAddr([2, 0, 0, 0, 0, 1]);
            let ip = |x: u32| Ipv4Addr::from(x);
            let build = |s: (Ipv4Addr, u16), d: (Ipv4Addr, u16)| if tcp {
                packet::tcp(m, m, s, d, packet::Flags::ACK, &payload)
            } else {
                packet::udp(m, m, s, d, &payload, udp_sum)
            };
            let (s0, d0) = ((ip(a[0]), p[0]), (ip(a[1]), p[1]));
            let (s1, d1) = ((ip(a[2]), p[2]), (ip(a[3]), p[3]));
            let mut f = build(s0, d0);
            rewrite(&mut f[14..], s1, d1).expect("valid packet");
            let want = build(s1, d1);
            if !tcp && udp_sum {
                // A UDP checksum that comes to zero is sent as all ones; a
                // fresh build may hold either form of ones' complement zero.
                prop_assert_eq!(&f[..40], &want[..40]);
                let (x, y) = (u16::from_be_bytes([f[40], f[41]]), u16::from_be_bytes([want[40], want[41]]));
                prop_assert!(x == y || (x == 0xffff && y == 0) || (x == 0 && y == 0xffff), "{x:#x} {y:#x}");
                prop_assert_eq!(&f[42..], &want[42..]);
            } else {
                prop_assert_eq!(f, want);
            }
        }
    }

    #[test]
    fn ttl_runs_out() {
        let mut ip = [
            0x45, 0, 0, 20, 0, 0, 0, 0, 2, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
        assert!(decrement_ttl(&mut ip));
        assert!(Ipv4Packet::new_unchecked(&ip[..]).verify_checksum());
        assert_eq!(ip[8], 1);
        assert!(!decrement_ttl(&mut ip));
        assert_eq!(ip[8], 1);
    }
}
