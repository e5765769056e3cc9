//! ARP replies for the appliance's own addresses (RFC 826).
//!
//! A request (Ethernet/IPv4, operation 1) whose target protocol address is
//! one of the rx interface's own addresses is turned into its reply in place:
//! the sender becomes the target, our MAC and the asked-for address become the
//! sender, and the Ethernet header is readdressed from our port MAC to the
//! requester's hardware address. VLAN tags and link padding stay as they
//! were, so a tagged request is answered on its VLAN.
//!
//! As Linux does (`arp_process`), an RFC 5227 probe (sender address 0.0.0.0)
//! is answered too, with target address 0.0.0.0, and a request whose sender
//! claims our own address is answered (defending the address, RFC 5227 §2.4).
//! Everything else is dropped and counted as [`DropReason::ArpIgnored`].

use crate::frame::Frame;
use crate::snapshot::Interface;
use crate::verdict::DropReason;
use crate::wire::arp::{ArpOperation, ArpPacket};
use crate::wire::ethernet::EthernetFrame;

/// Handles an ARP frame whose Ethernet header (tags included) is `l2_len`
/// bytes long. `Ok(())` means the frame now holds the reply, to be sent back
/// out of the port it came in on.
pub fn input(iface: &Interface, l2_len: usize, frame: &mut Frame<'_>) -> Result<(), DropReason> {
    let data = frame.data_mut();
    let (eth_hdr, arp_bytes) = data.split_at_mut(l2_len.min(data.len()));
    let mut arp = ArpPacket::new_checked(arp_bytes)?;
    if !arp.is_ethernet_ipv4() || arp.operation() != ArpOperation::REQUEST {
        return Err(DropReason::ArpIgnored);
    }
    let asked = arp.target_protocol_addr();
    if !iface.owns(asked) {
        return Err(DropReason::ArpIgnored);
    }
    let requester_mac = arp.source_hardware_addr();
    let requester_ip = arp.source_protocol_addr();
    // A reply to a group address would reach every host on the link; Linux
    // drops such requests as bogus, and so do we.
    if requester_mac.is_multicast() || requester_mac == crate::addr::MacAddr::ZERO {
        return Err(DropReason::ArpIgnored);
    }
    if requester_ip.is_multicast() || requester_ip.is_broadcast() {
        return Err(DropReason::ArpIgnored);
    }

    arp.set_operation(ArpOperation::REPLY);
    arp.set_target_hardware_addr(requester_mac);
    arp.set_target_protocol_addr(requester_ip);
    arp.set_source_hardware_addr(iface.mac);
    arp.set_source_protocol_addr(asked);

    let mut eth = EthernetFrame::new_unchecked(eth_hdr);
    eth.set_dst_addr(requester_mac);
    eth.set_src_addr(iface.mac);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Ipv4Cidr, MacAddr};
    use crate::frame::FrameBuf;
    use crate::wire::hex;
    use std::net::Ipv4Addr;

    pub(crate) fn iface() -> Interface {
        Interface {
            port: 0,
            name: "lb0".into(),
            mac: MacAddr([0x02, 0, 0, 0, 0, 0x02]),
            mtu: 1500,
            addrs: vec![Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 2), 24).unwrap()],
        }
    }

    fn run(bytes: &[u8], l2_len: usize) -> (Result<(), DropReason>, Vec<u8>) {
        let mut fb = FrameBuf::with_default_room(bytes);
        let r = fb.with_frame(|f| input(&iface(), l2_len, f));
        (r, fb.data().to_vec())
    }

    #[test]
    fn request_for_us_becomes_reply() {
        // who-has 10.0.0.2 tell 10.0.0.1, padded to 60 bytes as on the wire.
        let mut req = hex("ffffffffffff 525400123456 0806
            0001 0800 06 04 0001 525400123456 0a000001 000000000000 0a000002");
        req.resize(60, 0);
        let mut want = hex("525400123456 020000000002 0806
            0001 0800 06 04 0002 020000000002 0a000002 525400123456 0a000001");
        want.resize(60, 0);
        let (r, out) = run(&req, 14);
        assert_eq!(r, Ok(()));
        assert_eq!(out, want);
    }

    #[test]
    fn probe_is_answered_to_zero() {
        // RFC 5227 probe: sender 0.0.0.0.
        let req = hex("ffffffffffff 525400123456 0806
            0001 0800 06 04 0001 525400123456 00000000 000000000000 0a000002");
        let want = hex("525400123456 020000000002 0806
            0001 0800 06 04 0002 020000000002 0a000002 525400123456 00000000");
        assert_eq!(run(&req, 14), (Ok(()), want));
    }

    #[test]
    fn others_are_ignored() {
        let base = "ffffffffffff 525400123456 0806 0001 0800 06 04";
        // For a foreign address.
        let foreign = hex(&format!(
            "{base} 0001 525400123456 0a000001 000000000000 0a000009"
        ));
        assert_eq!(run(&foreign, 14).0, Err(DropReason::ArpIgnored));
        // A reply (neighbour learning comes with the neighbour table).
        let reply = hex(&format!(
            "{base} 0002 525400123456 0a000001 020000000002 0a000002"
        ));
        assert_eq!(run(&reply, 14).0, Err(DropReason::ArpIgnored));
        // From a multicast sender hardware address.
        let mcast = hex(&format!(
            "{base} 0001 015400123456 0a000001 000000000000 0a000002"
        ));
        assert_eq!(run(&mcast, 14).0, Err(DropReason::ArpIgnored));
        // Not Ethernet/IPv4.
        let odd = hex("ffffffffffff 525400123456 0806
            0006 0800 06 04 0001 525400123456 0a000001 000000000000 0a000002");
        assert_eq!(run(&odd, 14).0, Err(DropReason::ArpIgnored));
        // Cut short.
        let short = hex(&format!("{base} 0001 525400123456 0a000001 0000"));
        assert_eq!(run(&short, 14).0, Err(DropReason::Truncated));
    }
}
