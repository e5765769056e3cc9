//! ICMP errors about conns: a real server (or a router on its side) saying
//! "port unreachable", "fragmentation needed" or "time exceeded" about a
//! packet the director forwarded to it, or the client's side saying so
//! about a reply. IPVS finds the conn from the quoted header
//! (`ip_vs_out_icmp` / `ip_vs_in_icmp`) and, for NAT, rewrites the outer
//! and the quoted addresses and ports so that the other end can match the
//! error to its own socket (`ip_vs_nat_icmp`); without that, PMTU discovery
//! through a NAT director breaks. FullNAT does the same with the LIP.
//!
//! The quoted transport checksum is left alone (it covers bytes that were
//! not quoted, and nobody verifies it); the quoted IP header checksum, the
//! outer header checksum and the ICMP checksum are recomputed.

use super::Endpoint;
use crate::conn::{Proto, Tuple};
use crate::verdict::DropReason;
use crate::wire::icmp::{Icmpv4Packet, QuotedIpv4, HEADER_LEN};
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::Ipv4Packet;
use std::net::Ipv4Addr;

/// The conn key of the ICMP error in IPv4 packet `ip` (validated): the
/// tuple of a packet going the other way from the quoted one, which is the
/// tuple of the conn's direction that the error travels in. `None` for
/// messages that are not errors or quote no TCP/UDP ports.
pub fn quoted_key(ip: &[u8]) -> Option<Tuple<Ipv4Addr>> {
    let p = Ipv4Packet::new_checked(ip).ok()?;
    let icmp = Icmpv4Packet::new_checked(p.payload()).ok()?;
    let q = icmp.quoted().ok()?;
    let proto = match q.protocol() {
        IpProtocol::TCP => Proto::Tcp,
        IpProtocol::UDP => Proto::Udp,
        _ => return None,
    };
    let (sport, dport) = q.ports()?;
    Some(Tuple {
        proto,
        saddr: q.dst_addr(),
        sport: dport,
        daddr: q.src_addr(),
        dport: sport,
    })
}

/// The quoted packet's source address, if `ip` is an ICMP error quoting an
/// IPv4 header (to find the owner of an error whose conn lives elsewhere).
pub fn quoted_src(ip: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u16, u16)> {
    let p = Ipv4Packet::new_checked(ip).ok()?;
    let icmp = Icmpv4Packet::new_checked(p.payload()).ok()?;
    let q = icmp.quoted().ok()?;
    let (s, d) = q.ports()?;
    Some((q.src_addr(), q.dst_addr(), s, d))
}

/// Rewrites the ICMP error in `ip`: outer source `outer_src` (or unchanged),
/// outer destination `outer_dst`, quoted packet `quoted_src` ->
/// `quoted_dst`; refreshes the three checksums.
pub fn translate(
    ip: &mut [u8],
    outer_src: Option<Ipv4Addr>,
    outer_dst: Ipv4Addr,
    quoted_src: Endpoint,
    quoted_dst: Endpoint,
) -> Result<(), DropReason> {
    let mut p = Ipv4Packet::new_checked(&mut ip[..])?;
    if let Some(s) = outer_src {
        p.set_src_addr(s);
    }
    p.set_dst_addr(outer_dst);
    p.fill_checksum();
    let payload = p.payload_mut();
    Icmpv4Packet::new_checked(&payload[..])?;
    let quote = payload.get_mut(HEADER_LEN..).ok_or(DropReason::Truncated)?;
    let mut q = QuotedIpv4::new_checked(quote)?;
    q.set_src_addr(quoted_src.0);
    q.set_dst_addr(quoted_dst.0);
    if !q.set_ports(quoted_src.1, quoted_dst.1) {
        return Err(DropReason::Malformed);
    }
    q.fill_checksum();
    Icmpv4Packet::new_unchecked(payload).fill_checksum();
    Ok(())
}
