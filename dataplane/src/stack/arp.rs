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
//!
//! Before answering, [`learn`] tells the neighbour table what the packet says
//! about its sender (Linux's `arp_process` does the same): replies to us
//! confirm, requests for us create a stale entry, anything else only
//! refreshes an entry that already exists.

use crate::frame::Frame;
use crate::snapshot::Interface;
use crate::stack::neigh::{Learn, NeighTable};
use crate::time::Time;
use crate::verdict::DropReason;
use crate::wire::arp::{ArpOperation, ArpPacket};
use crate::wire::ethernet::EthernetFrame;

/// Handles an ARP frame whose Ethernet header (tags included) is `l2_len`
/// bytes long. `Ok(())` means the frame now holds the reply, to be sent back
/// out of the port it came in on.
pub fn input(iface: &Interface, l2_len: usize, frame: &mut Frame<'_>) -> Result<(), DropReason> {
    input_with(iface, |ip| iface.owns(ip), l2_len, frame)
}

/// [`input`] for an appliance that owns more than the interface's own
/// addresses (VIPs and LIPs): `owns` says which targets are answered.
pub fn input_with(
    iface: &Interface,
    owns: impl Fn(std::net::Ipv4Addr) -> bool,
    l2_len: usize,
    frame: &mut Frame<'_>,
) -> Result<(), DropReason> {
    let data = frame.data_mut();
    let (eth_hdr, arp_bytes) = data.split_at_mut(l2_len.min(data.len()));
    let mut arp = ArpPacket::new_checked(arp_bytes)?;
    if !arp.is_ethernet_ipv4() {
        return Err(DropReason::ArpIgnored);
    }
    let asked = arp.target_protocol_addr();
    if arp.operation() == ArpOperation::REPLY && owns(asked) {
        // What it says went to the neighbour table ([`learn`]).
        return Err(DropReason::ArpConsumed);
    }
    if arp.operation() != ArpOperation::REQUEST {
        return Err(DropReason::ArpIgnored);
    }
    if !owns(asked) {
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

/// Records the sender of an ARP frame received on `iface` in `table`.
/// Frames that are not Ethernet/IPv4 ARP are ignored.
pub fn learn<H>(
    table: &mut NeighTable<H>,
    now: Time,
    iface: &Interface,
    l2_len: usize,
    frame: &[u8],
) {
    learn_with(table, now, iface, |ip| iface.owns(ip), l2_len, frame);
}

/// [`learn`] with `owns` saying which addresses are the appliance's.
pub fn learn_with<H>(
    table: &mut NeighTable<H>,
    now: Time,
    iface: &Interface,
    owns: impl Fn(std::net::Ipv4Addr) -> bool,
    l2_len: usize,
    frame: &[u8],
) {
    let Some(arp) = frame
        .get(l2_len..)
        .and_then(|b| ArpPacket::new_checked(b).ok())
    else {
        return;
    };
    if !arp.is_ethernet_ipv4() {
        return;
    }
    let (spa, tpa) = (arp.source_protocol_addr(), arp.target_protocol_addr());
    // Someone claiming one of our own addresses is a conflict, not a
    // neighbour (RFC 5227 §2.4); never learn it.
    if owns(spa) {
        return;
    }
    let for_us = owns(tpa) && spa != tpa;
    let how = match arp.operation() {
        ArpOperation::REPLY if for_us => Learn::Reply,
        ArpOperation::REQUEST if for_us => Learn::Request,
        ArpOperation::REQUEST | ArpOperation::REPLY => Learn::Unsolicited,
        _ => return,
    };
    table.learn(now, iface.port, spa, arp.source_hardware_addr(), how);
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
        // A reply to us is consumed (learnt), one to someone else ignored.
        let reply = hex(&format!(
            "{base} 0002 525400123456 0a000001 020000000002 0a000002"
        ));
        assert_eq!(run(&reply, 14).0, Err(DropReason::ArpConsumed));
        let theirs = hex(&format!(
            "{base} 0002 525400123456 0a000001 020000000009 0a000009"
        ));
        assert_eq!(run(&theirs, 14).0, Err(DropReason::ArpIgnored));
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

    #[test]
    fn learning_follows_linux() {
        use crate::stack::neigh::{NeighConfig, NeighState};
        let iface = iface();
        let mut t: NeighTable<()> = NeighTable::new(NeighConfig::default());
        let base = "ffffffffffff 525400123456 0806 0001 0800 06 04";
        let sender = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        let cip = Ipv4Addr::new(10, 0, 0, 1);
        // A request for someone else teaches nothing new.
        let other = hex(&format!(
            "{base} 0001 525400123456 0a000001 000000000000 0a000009"
        ));
        learn(&mut t, Time::ZERO, &iface, 14, &other);
        assert!(t.is_empty());
        // A request for us: stale entry for the sender.
        let req = hex(&format!(
            "{base} 0001 525400123456 0a000001 000000000000 0a000002"
        ));
        learn(&mut t, Time::ZERO, &iface, 14, &req);
        assert_eq!(t.get(0, cip), Some((NeighState::Stale, sender)));
        // A reply to us confirms it.
        let reply = hex(&format!(
            "{base} 0002 525400123456 0a000001 020000000002 0a000002"
        ));
        learn(&mut t, Time::ZERO, &iface, 14, &reply);
        assert_eq!(t.get(0, cip), Some((NeighState::Reachable, sender)));
        // Someone claiming our address is not learnt.
        let claim = hex(&format!(
            "{base} 0001 525400123456 0a000002 000000000000 0a000002"
        ));
        learn(&mut t, Time::ZERO, &iface, 14, &claim);
        assert!(t.get(0, Ipv4Addr::new(10, 0, 0, 2)).is_none());
        // Garbage does nothing and does not panic.
        learn(&mut t, Time::ZERO, &iface, 14, &req[..20]);
        learn(&mut t, Time::ZERO, &iface, 99, &req);
        assert_eq!(t.len(), 1);
    }
}
