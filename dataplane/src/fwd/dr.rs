//! DR (`-g`, gatewaying, ipvsadm's default), as `ip_vs_dr_xmit`: the frame
//! goes to the real server's MAC unchanged above the link layer. The real
//! server holds the VIP on a non-ARP device and answers the client
//! directly. No port mapping (the dest port is the virtual port), and the
//! real server must be on a connected network: through a router the frame
//! would come straight back to the VIP.

use crate::addr::MacAddr;
use crate::wire::ethernet::EthernetFrame;

/// Readdresses the Ethernet header of `frame`: destination `rs_mac`, source
/// the egress port's `port_mac`. `false` if there is no Ethernet header.
pub fn readdress(frame: &mut [u8], port_mac: MacAddr, rs_mac: MacAddr) -> bool {
    match EthernetFrame::new_checked(frame) {
        Ok(mut eth) => {
            eth.set_dst_addr(rs_mac);
            eth.set_src_addr(port_mac);
            true
        }
        Err(_) => false,
    }
}
