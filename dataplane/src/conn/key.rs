//! Lookup keys of the conn table: one five-tuple per direction of a conn.
//!
//! A conn is found by the tuple of the packet in hand, as IPVS and dpvs do
//! (`ip_vs_conn_in_get` / `ip_vs_conn_out_get`, dpvs `tuplehash[DIR_MAX]`):
//! the "in" tuple is what the client sends (CIP:cport -> VIP:vport), the "out"
//! tuple is what the real server answers (RIP:rport -> CIP:cport for NAT,
//! RIP:rport -> LIP:lport for FullNAT). Keys are generic over the address
//! family through [`ConnAddr`], so IPv4 tables stay small (a 14-byte tuple)
//! while IPv6 tables use the same code.
//!
//! The hash is keyed with a per-table secret seed (client addresses and ports
//! are chosen by whoever sends packets, so an unkeyed hash would let them
//! aim every conn at one probe chain). It is a folded multiply over the
//! fixed-width fields: a few cycles, no allocation, no clock, no OS entropy;
//! the seed comes from the control core.

use core::fmt::Debug;
use core::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The transport protocols the director balances (IPVS `-t`, `-u`, plus ICMP
/// conns for echo and errors). Numbered as in the IPv4 protocol field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Proto {
    /// ICMP (protocol 1).
    Icmp = 1,
    /// TCP (protocol 6).
    Tcp = 6,
    /// UDP (protocol 17).
    Udp = 17,
}

impl Proto {
    /// The protocol for an IP protocol number, `None` for the ones not balanced.
    pub const fn from_number(n: u8) -> Option<Proto> {
        match n {
            1 => Some(Proto::Icmp),
            6 => Some(Proto::Tcp),
            17 => Some(Proto::Udp),
            _ => None,
        }
    }

    /// The IP protocol number.
    pub const fn number(self) -> u8 {
        self as u8
    }
}

/// An address family usable in conn keys: IPv4 or IPv6 addresses.
pub trait ConnAddr: Copy + Eq + Hash + Debug + 'static {
    /// The all-zeroes address, used for unused fields and free slots.
    const UNSPECIFIED: Self;

    /// The address squeezed into 64 bits for hashing. Collisions here only
    /// cost a longer probe (the table compares whole keys), never a wrong hit.
    fn fold(self) -> u64;
}

impl ConnAddr for Ipv4Addr {
    const UNSPECIFIED: Self = Ipv4Addr::UNSPECIFIED;

    #[inline]
    fn fold(self) -> u64 {
        u64::from(u32::from(self))
    }
}

impl ConnAddr for Ipv6Addr {
    const UNSPECIFIED: Self = Ipv6Addr::UNSPECIFIED;

    #[inline]
    fn fold(self) -> u64 {
        let bits = u128::from(self);
        #[allow(clippy::cast_possible_truncation)] // keeping the low half is the point
        let (hi, lo) = ((bits >> 64) as u64, bits as u64);
        folded_mul(hi ^ MIX[0], lo ^ MIX[1])
    }
}

/// One direction of a conn as it appears in packet headers:
/// protocol, source address and port, destination address and port.
///
/// For ICMP the "ports" are whatever the caller uses to tell ICMP flows apart
/// (the echo identifier, or 0); the table does not interpret them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuple<A> {
    /// Transport protocol.
    pub proto: Proto,
    /// Source address of packets in this direction.
    pub saddr: A,
    /// Source port (host order).
    pub sport: u16,
    /// Destination address of packets in this direction.
    pub daddr: A,
    /// Destination port (host order).
    pub dport: u16,
}

/// Odd 64-bit constants (digits of pi) that keep the mixing away from zero.
const MIX: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// 64x64 -> 128-bit multiply, halves xored: the mixing step of wyhash and
/// foldhash. Every input bit reaches the middle of the output.
#[inline]
fn folded_mul(x: u64, y: u64) -> u64 {
    let full = u128::from(x) * u128::from(y);
    #[allow(clippy::cast_possible_truncation)] // taking the two halves apart
    let (hi, lo) = ((full >> 64) as u64, full as u64);
    hi ^ lo
}

/// The secret that keys a table's hash. Workers get different seeds from the
/// control core's random source; tests use fixed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashSeed([u64; 2]);

impl HashSeed {
    /// A seed derived from one 64-bit secret.
    pub const fn new(secret: u64) -> Self {
        HashSeed([secret ^ MIX[2], secret.rotate_left(32) ^ MIX[3]])
    }
}

impl<A: ConnAddr> Tuple<A> {
    /// The tuple of a reply to a packet with this tuple (source and
    /// destination swapped): what NAT replies look like before rewriting.
    #[must_use]
    pub fn reversed(&self) -> Self {
        Tuple {
            proto: self.proto,
            saddr: self.daddr,
            sport: self.dport,
            daddr: self.saddr,
            dport: self.sport,
        }
    }

    /// The keyed hash of the tuple. Both bit ends of the result are mixed, as
    /// the table takes the bucket from the high half and the signature from
    /// the low half ([`super::table`]).
    #[inline]
    pub fn hash_with(&self, seed: &HashSeed) -> u64 {
        let ports = (u64::from(self.sport) << 24)
            | (u64::from(self.dport) << 8)
            | u64::from(self.proto.number());
        let h = folded_mul(self.saddr.fold() ^ seed.0[0], self.daddr.fold() ^ seed.0[1]);
        folded_mul(h ^ ports, MIX[0] ^ seed.0[0].rotate_left(17))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t4(sa: [u8; 4], sp: u16, da: [u8; 4], dp: u16) -> Tuple<Ipv4Addr> {
        Tuple {
            proto: Proto::Tcp,
            saddr: sa.into(),
            sport: sp,
            daddr: da.into(),
            dport: dp,
        }
    }

    #[test]
    fn ipv4_tuple_is_small() {
        assert!(core::mem::size_of::<Tuple<Ipv4Addr>>() <= 14);
        assert!(core::mem::size_of::<Tuple<Ipv6Addr>>() <= 38);
    }

    #[test]
    fn proto_numbers_round_trip() {
        for p in [Proto::Icmp, Proto::Tcp, Proto::Udp] {
            assert_eq!(Proto::from_number(p.number()), Some(p));
        }
        assert_eq!(Proto::from_number(132), None);
    }

    #[test]
    fn reversed_swaps_ends() {
        let t = t4([10, 0, 0, 1], 1234, [192, 0, 2, 1], 80);
        let r = t.reversed();
        assert_eq!(r, t4([192, 0, 2, 1], 80, [10, 0, 0, 1], 1234));
        assert_eq!(r.reversed(), t);
    }

    #[test]
    fn hash_depends_on_every_field_and_the_seed() {
        let seed = HashSeed::new(7);
        let t = t4([10, 0, 0, 1], 1234, [192, 0, 2, 1], 80);
        let h = t.hash_with(&seed);
        let variants = [
            t4([10, 0, 0, 2], 1234, [192, 0, 2, 1], 80),
            t4([10, 0, 0, 1], 1235, [192, 0, 2, 1], 80),
            t4([10, 0, 0, 1], 1234, [192, 0, 2, 2], 80),
            t4([10, 0, 0, 1], 1234, [192, 0, 2, 1], 81),
            t.reversed(),
            Tuple {
                proto: Proto::Udp,
                ..t
            },
        ];
        for v in variants {
            assert_ne!(v.hash_with(&seed), h, "{v:?}");
        }
        assert_ne!(t.hash_with(&HashSeed::new(8)), h);
        assert_eq!(t.hash_with(&HashSeed::new(7)), h);
    }

    #[test]
    fn hash_spreads_sequential_ports_over_buckets_and_tags() {
        // 4096 clients on consecutive ports into 1024 buckets: every bucket
        // and most values of the top 7 bits get used (both ends are mixed).
        let seed = HashSeed::new(0x5eed);
        let mut buckets = vec![0u32; 1024];
        let mut tags = [false; 128];
        for port in 0..4096u16 {
            let h = t4([10, 0, 0, 1], port, [192, 0, 2, 1], 80).hash_with(&seed);
            buckets[usize::try_from(h & 1023).unwrap()] += 1;
            tags[usize::try_from(h >> 57).unwrap()] = true;
        }
        assert!(buckets.iter().all(|&n| n > 0 && n < 16), "{buckets:?}");
        assert!(tags.iter().filter(|&&t| t).count() > 120);
    }

    #[test]
    fn ipv6_fold_uses_both_halves() {
        let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db9::1".parse().unwrap();
        let c: Ipv6Addr = "2001:db8::2".parse().unwrap();
        assert_ne!(a.fold(), b.fold());
        assert_ne!(a.fold(), c.fold());
    }
}
