//! TUN (`-i`, ipip), as `ip_vs_tunnel_xmit`: the request is wrapped, as is,
//! in an outer IPv4 header DIP -> RIP with protocol 4 (RFC 2003). The real
//! server decapsulates, finds the VIP on one of its devices and answers the
//! client directly.
//!
//! The outer header is written into the frame's headroom ([`Frame::prepend`];
//! the Ethernet header slides forward, the payload never moves). Its fields,
//! as IPVS sets them: TTL copied from the inner header (RFC 2003 §3.1 leaves
//! the choice to the encapsulator; copying keeps traceroute meaningful),
//! DSCP/ECN copied, DF copied from the inner header, a fresh identification
//! from the worker's counter, checksum computed.
//!
//! MTU (RFC 2003 §5.1, RFC 1191): when the outer datagram would exceed the
//! egress MTU and the inner one has DF set, the client gets ICMP
//! "fragmentation needed" with next-hop MTU = egress MTU - 20 so that its
//! PMTU discovery shrinks the segments. Without DF, rvs drops and counts it
//! ([`DropReason::TooBig`](crate::verdict::DropReason::TooBig)): it does not
//! fragment (one frame in, at most one out), so links to TUN real servers
//! need an MTU 20 bytes above the client-facing one for such traffic.

use crate::frame::Frame;
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use crate::wire::WireError;
use std::net::Ipv4Addr;

/// Bytes the outer header adds.
pub const OVERHEAD: usize = ipv4::HEADER_LEN;

/// Why a request was not encapsulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunError {
    /// Too big with DF set: answer with "fragmentation needed" carrying this MTU.
    FragNeeded {
        /// Next-hop MTU to report (egress MTU minus the outer header).
        mtu: u16,
    },
    /// Too big without DF: dropped (rvs does not fragment).
    TooBig,
    /// No headroom in the buffer for the outer header.
    NoRoom,
    /// The inner header is not valid IPv4.
    Wire(WireError),
}

/// Wraps the IPv4 packet that starts `l2_len` bytes into `frame` in an
/// outer header `src` -> `dst` with identification `ident`, checking the
/// result against the egress `mtu`.
pub fn encapsulate(
    frame: &mut Frame<'_>,
    l2_len: usize,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    mtu: u16,
) -> Result<(), TunError> {
    let inner_bytes = frame
        .data()
        .get(l2_len..)
        .ok_or(TunError::Wire(WireError::Truncated))?;
    let inner = Ipv4Packet::new_checked(inner_bytes).map_err(TunError::Wire)?;
    let total = inner.total_len();
    let (ttl, df, tos) = (inner.ttl(), inner.dont_frag(), (inner.dscp(), inner.ecn()));
    if usize::from(total) + OVERHEAD > usize::from(mtu) {
        return Err(if df {
            TunError::FragNeeded {
                mtu: mtu.saturating_sub(20),
            }
        } else {
            TunError::TooBig
        });
    }
    frame.prepend(OVERHEAD).map_err(|_| TunError::NoRoom)?;
    let data = frame.data_mut();
    data.copy_within(OVERHEAD..OVERHEAD + l2_len, 0);
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: IpProtocol::IPIP,
        payload_len: total,
        ttl,
        dont_frag: df,
        ident,
    };
    let outer = &mut data[l2_len..l2_len + OVERHEAD];
    repr.emit(outer).map_err(TunError::Wire)?;
    let mut p = Ipv4Packet::new_unchecked(outer);
    p.set_dscp_ecn(tos.0, tos.1);
    p.fill_checksum();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameBuf;

    fn request(len: u16, df: bool) -> Vec<u8> {
        let mut b = vec![0u8; 14 + usize::from(len)];
        b[12..14].copy_from_slice(&[0x08, 0x00]);
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 1),
            dst_addr: Ipv4Addr::new(198, 18, 0, 1),
            protocol: IpProtocol::UDP,
            payload_len: len - 20,
            ttl: 57,
            dont_frag: df,
            ident: 7,
        };
        repr.emit(&mut b[14..]).unwrap();
        b
    }

    #[test]
    fn wraps_and_copies_ttl_and_df() {
        let mut fb = FrameBuf::with_default_room(&request(100, true));
        let r = fb.with_frame(|f| {
            encapsulate(
                f,
                14,
                Ipv4Addr::new(10, 0, 0, 2),
                Ipv4Addr::new(10, 0, 0, 9),
                1,
                1500,
            )
        });
        assert_eq!(r, Ok(()));
        let out = fb.data();
        assert_eq!(out.len(), 134);
        assert_eq!(&out[12..14], &[0x08, 0x00]);
        let outer = Ipv4Packet::new_checked(&out[14..]).unwrap();
        assert!(outer.verify_checksum());
        assert_eq!(outer.protocol(), IpProtocol::IPIP);
        assert_eq!(
            (outer.ttl(), outer.dont_frag(), outer.total_len()),
            (57, true, 120)
        );
        assert_eq!(outer.payload(), &request(100, true)[14..]);
    }

    #[test]
    fn too_big() {
        let mut fb = FrameBuf::with_default_room(&request(1500, true));
        let r = fb
            .with_frame(|f| encapsulate(f, 14, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 1, 1500));
        assert_eq!(r, Err(TunError::FragNeeded { mtu: 1480 }));
        let mut fb = FrameBuf::with_default_room(&request(1500, false));
        let r = fb
            .with_frame(|f| encapsulate(f, 14, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 1, 1500));
        assert_eq!(r, Err(TunError::TooBig));
        let mut fb = FrameBuf::new(&request(100, false), 4, 0);
        let r = fb
            .with_frame(|f| encapsulate(f, 14, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 1, 1500));
        assert_eq!(r, Err(TunError::NoRoom));
    }
}
