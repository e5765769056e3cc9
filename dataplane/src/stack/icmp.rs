//! ICMP echo replies for the appliance's own addresses (RFC 792, RFC 1122
//! §3.2.2.6).
//!
//! The request is turned into its reply in place: type 8 becomes 0 with the
//! ICMP checksum patched incrementally (RFC 1624), the IPv4 addresses are
//! swapped, the TTL reset to [`REPLY_TTL`] and the header checksum recomputed,
//! and the Ethernet header readdressed from our port MAC to the requester's
//! MAC (VLAN tags kept).
//!
//! Choices, and why:
//! - IP options are removed from the reply. RFC 1122 §3.2.2.6 asks that
//!   Record Route / Timestamp be updated and a source route reversed; we
//!   implement neither, and echoing them unchanged would be wrong, so the
//!   reply goes out with a plain 20-byte header (the Ethernet and fixed IP
//!   headers slide forward over the options; the payload does not move).
//! - Fragments are dropped ([`DropReason::Fragment`]): the appliance does not
//!   reassemble, so a ping larger than the path MTU goes unanswered.
//! - The ICMP checksum is verified (as Linux does) before replying, so a
//!   corrupted request is not turned into a corrupted reply.
//! - Requests from a source we cannot answer unicast (0.0.0.0, broadcast,
//!   multicast, or a multicast source MAC) are dropped (RFC 1122 §3.2.2).

use crate::addr::MacAddr;
use crate::frame::Frame;
use crate::snapshot::Interface;
use crate::verdict::DropReason;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::icmp::{Icmpv4Packet, Icmpv4Type};
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::{self, Ipv4Packet};

/// TTL of the replies (Linux's default `ip_default_ttl`).
pub const REPLY_TTL: u8 = 64;

/// Handles an IPv4 packet addressed to `iface` whose Ethernet header (tags
/// included) is `l2_len` bytes long. The frame must end where the IPv4 total
/// length says (the caller trims link padding). `Ok(())` means the frame now
/// holds the echo reply, to go back out of the port it came in on.
pub fn input(iface: &Interface, l2_len: usize, frame: &mut Frame<'_>) -> Result<(), DropReason> {
    input_with(iface, |ip| iface.owns(ip), l2_len, frame)
}

/// [`input`] for an appliance that owns more than the interface's own
/// addresses (VIPs and LIPs): `owns` says which destinations are answered.
pub fn input_with(
    iface: &Interface,
    owns: impl Fn(std::net::Ipv4Addr) -> bool,
    l2_len: usize,
    frame: &mut Frame<'_>,
) -> Result<(), DropReason> {
    let data = frame.data();
    let ip_bytes = data.get(l2_len..).ok_or(DropReason::Truncated)?;
    let ip = Ipv4Packet::new_checked(ip_bytes)?;
    if ip.protocol() != IpProtocol::ICMP {
        return Err(DropReason::NotForUs);
    }
    if !owns(ip.dst_addr()) {
        return Err(DropReason::NotForUs);
    }
    if ip.is_fragment() {
        return Err(DropReason::Fragment);
    }
    let src = ip.src_addr();
    if src.is_unspecified() || src.is_broadcast() || src.is_multicast() {
        return Err(DropReason::IcmpIgnored);
    }
    let eth = EthernetFrame::new_unchecked(&data[..l2_len]);
    let requester_mac = eth.src_addr();
    if requester_mac.is_multicast() || requester_mac == MacAddr::ZERO {
        return Err(DropReason::IcmpIgnored);
    }
    let icmp = Icmpv4Packet::new_checked(ip.payload())?;
    if icmp.msg_type() != Icmpv4Type::ECHO_REQUEST || icmp.msg_code() != 0 {
        return Err(DropReason::IcmpIgnored);
    }
    if !icmp.verify_checksum() {
        return Err(DropReason::BadChecksum);
    }
    let header_len = ip.header_len();
    let total_len = usize::from(ip.total_len());
    if data.len() != l2_len + total_len {
        // The caller did not trim: refuse rather than echo padding as payload.
        return Err(DropReason::Malformed);
    }

    // Drop the options: slide the link header and the fixed IP header forward
    // over them, then start the frame that many bytes later.
    let opt_len = header_len - ipv4::HEADER_LEN;
    if opt_len > 0 {
        let data = frame.data_mut();
        data.copy_within(..l2_len + ipv4::HEADER_LEN, opt_len);
        frame.adj(opt_len).map_err(|_| DropReason::Truncated)?;
    }

    let data = frame.data_mut();
    let (eth_hdr, ip_bytes) = data.split_at_mut(l2_len);
    let mut eth = EthernetFrame::new_unchecked(eth_hdr);
    eth.set_dst_addr(requester_mac);
    eth.set_src_addr(iface.mac);

    let new_total = u16::try_from(total_len - opt_len).map_err(|_| DropReason::Malformed)?;
    let mut ip = Ipv4Packet::new_unchecked(ip_bytes);
    let (cip, dip) = (ip.src_addr(), ip.dst_addr());
    ip.set_version_and_header_len(ipv4::HEADER_LEN);
    ip.set_total_len(new_total);
    ip.set_src_addr(dip);
    ip.set_dst_addr(cip);
    ip.set_ttl(REPLY_TTL);
    ip.fill_checksum();

    let mut icmp = Icmpv4Packet::new_unchecked(ip.payload_mut());
    icmp.rewrite_type_code(Icmpv4Type::ECHO_REPLY, 0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Ipv4Cidr;
    use crate::frame::FrameBuf;
    use crate::wire::checksum;
    use crate::wire::hex;
    use std::net::Ipv4Addr;

    fn iface() -> Interface {
        Interface {
            port: 0,
            name: "lb0".into(),
            mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
            mtu: 1500,
            addrs: vec![Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 2), 24).unwrap()],
        }
    }

    const ETH: &str = "020000000002 525400123456 0800";
    const IP: &str = "4500 0054 4a3b 4000 4001 dc6b 0a000001 0a000002";
    const ICMP: &str = "0800 c4f2 1c46 0001
        a1b2c3d400000000 e86b0a0000000000
        101112131415161718191a1b1c1d1e1f 202122232425262728292a2b2c2d2e2f 3031323334353637";

    fn run(bytes: &[u8], l2_len: usize) -> (Result<(), DropReason>, Vec<u8>) {
        let mut fb = FrameBuf::with_default_room(bytes);
        let r = fb.with_frame(|f| input(&iface(), l2_len, f));
        (r, fb.data().to_vec())
    }

    #[test]
    fn echo_request_becomes_reply() {
        let req = hex(&format!("{ETH} {IP} {ICMP}"));
        let (r, out) = run(&req, 14);
        assert_eq!(r, Ok(()));
        // Exact bytes: MACs swapped, TTL 64 (unchanged here), addresses
        // swapped (header checksum unchanged: a swap keeps the sum), type 0.
        let want = hex(&format!(
            "525400123456 020000000002 0800
             4500 0054 4a3b 4000 4001 dc6b 0a000002 0a000001
             0000 ccf2 1c46 0001 {}",
            &ICMP[20..]
        ));
        assert_eq!(out, want);
        let p = etherparse::SlicedPacket::from_ethernet(&out).unwrap();
        let Some(etherparse::NetSlice::Ipv4(v4)) = p.net else {
            panic!("not ipv4")
        };
        let h = v4.header();
        assert_eq!(h.to_header().calc_header_checksum(), h.header_checksum());
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
    fn ttl_is_reset_and_options_removed() {
        // Same request with TTL 3 and a Router Alert option (IHL 6).
        let mut req = hex(&format!(
            "{ETH} 4600 0058 4a3b 4000 0301 0000 0a000001 0a000002 94040000 {ICMP}"
        ));
        let mut ip = Ipv4Packet::new_unchecked(&mut req[14..]);
        ip.fill_checksum();
        let (r, out) = run(&req, 14);
        assert_eq!(r, Ok(()));
        assert_eq!(out.len(), req.len() - 4);
        let ip = Ipv4Packet::new_checked(&out[14..]).unwrap();
        assert_eq!(ip.header_len(), 20);
        assert_eq!(ip.total_len(), 84);
        assert_eq!(ip.ttl(), REPLY_TTL);
        assert!(ip.verify_checksum());
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(&out[..12], &hex("525400123456 020000000002")[..]);
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(icmp.msg_type(), Icmpv4Type::ECHO_REPLY);
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.data(), &hex(ICMP)[8..]);
    }

    #[test]
    fn drops() {
        let req = hex(&format!("{ETH} {IP} {ICMP}"));
        // Bad ICMP checksum.
        let mut bad = req.clone();
        bad[40] ^= 0xff;
        assert_eq!(run(&bad, 14).0, Err(DropReason::BadChecksum));
        // A fragment (MF set).
        let mut frag = req.clone();
        frag[20] |= 0x20;
        assert_eq!(run(&frag, 14).0, Err(DropReason::Fragment));
        // Not for us.
        let mut other = req.clone();
        other[33] = 9;
        assert_eq!(run(&other, 14).0, Err(DropReason::NotForUs));
        // An echo reply is not answered.
        let mut reply = req.clone();
        reply[34] = 0;
        let c = checksum::update16(0xc4f2, 0x0800, 0x0000);
        reply[36..38].copy_from_slice(&c.to_be_bytes());
        assert_eq!(run(&reply, 14).0, Err(DropReason::IcmpIgnored));
        // From a broadcast source.
        let mut bcast = req.clone();
        bcast[26..30].copy_from_slice(&[255; 4]);
        assert_eq!(run(&bcast, 14).0, Err(DropReason::IcmpIgnored));
        // Untrimmed padding.
        let mut padded = req.clone();
        padded.push(0);
        assert_eq!(run(&padded, 14).0, Err(DropReason::Malformed));
    }
}
