//! Properties of the rewrites: a rewrite followed by its reverse gives back
//! the original packet, byte for byte, and every rewritten packet's
//! checksums verify with etherparse.

use dataplane::addr::MacAddr;
use dataplane::fwd::{self, fullnat, nat};
use dataplane::sim::packet;
use proptest::prelude::*;
use std::net::Ipv4Addr;

fn checksums_ok(frame: &[u8]) -> bool {
    let p = etherparse::SlicedPacket::from_ethernet(frame).unwrap();
    let Some(etherparse::NetSlice::Ipv4(v4)) = p.net else {
        return false;
    };
    let h = v4.header().to_header();
    if h.calc_header_checksum() != h.header_checksum {
        return false;
    }
    let same = |a: u16, b: u16| a == b || (a | b == 0xffff && a & b == 0);
    match p.transport {
        Some(etherparse::TransportSlice::Tcp(t)) => same(
            t.to_header().calc_checksum_ipv4(&h, t.payload()).unwrap(),
            t.checksum(),
        ),
        Some(etherparse::TransportSlice::Udp(u)) => {
            u.checksum() == 0
                || same(
                    u.to_header().calc_checksum_ipv4(&h, u.payload()).unwrap(),
                    u.checksum(),
                )
        }
        _ => false,
    }
}

fn ep() -> impl Strategy<Value = (Ipv4Addr, u16)> {
    (any::<u32>(), any::<u16>()).prop_map(|(a, p)| (Ipv4Addr::from(a), p))
}

proptest! {
    #[test]
    fn rewrite_then_reverse_is_identity(
        c in ep(), v in ep(), r in ep(), l in ep(),
        tcp in any::<bool>(), csum in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let m = MacAddr([2, 0, 0, 0, 0, 1]);
        let orig = if tcp {
            packet::tcp(m, m, c, v, 0x12, &payload)
        } else {
            packet::udp(m, m, c, v, &payload, csum)
        };
        // NAT request and its reverse.
        let mut b = orig.clone();
        nat::request(&mut b[14..], c, r).unwrap();
        prop_assert!(checksums_ok(&b));
        prop_assert_eq!(packet::parse(&b).unwrap().dst, r);
        fwd::rewrite(&mut b[14..], c, v).unwrap();
        prop_assert_eq!(&b, &orig);
        // FullNAT request, reply-shaped reverse.
        let mut b = orig.clone();
        fullnat::request(&mut b[14..], l, r).unwrap();
        prop_assert!(checksums_ok(&b));
        fullnat::reply(&mut b[14..], c, v).unwrap();
        prop_assert_eq!(&b, &orig);
        // A zero UDP checksum stays zero.
        if !tcp && !csum {
            let mut b = orig.clone();
            nat::reply(&mut b[14..], v, l).unwrap();
            prop_assert_eq!(&b[40..42], &[0, 0]);
        }
    }
}
