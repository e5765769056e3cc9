//! ICMP for IPv6 (RFC 4443), and the neighbour discovery message types
//! (RFC 4861) that an IPv6 local stack will answer later.
//!
//! The view covers the 8-byte header shared by every message. The checksum
//! covers an IPv6 pseudo header (RFC 4443 §2.3), passed in as its partial
//! sum from [`checksum::pseudo_header_v6`].

use super::{be16, be32, checksum, WireError};
use core::fmt;

/// An ICMPv6 message type.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Icmpv6Type(pub u8);

impl Icmpv6Type {
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: Icmpv6Type = Icmpv6Type(1);
    /// Packet too big (MTU in bytes 4..8).
    pub const PACKET_TOO_BIG: Icmpv6Type = Icmpv6Type(2);
    /// Time exceeded.
    pub const TIME_EXCEEDED: Icmpv6Type = Icmpv6Type(3);
    /// Parameter problem.
    pub const PARAM_PROBLEM: Icmpv6Type = Icmpv6Type(4);
    /// Echo request.
    pub const ECHO_REQUEST: Icmpv6Type = Icmpv6Type(128);
    /// Echo reply.
    pub const ECHO_REPLY: Icmpv6Type = Icmpv6Type(129);
    /// Router solicitation (RFC 4861).
    pub const ROUTER_SOLICIT: Icmpv6Type = Icmpv6Type(133);
    /// Router advertisement (RFC 4861).
    pub const ROUTER_ADVERT: Icmpv6Type = Icmpv6Type(134);
    /// Neighbour solicitation (RFC 4861).
    pub const NEIGHBOR_SOLICIT: Icmpv6Type = Icmpv6Type(135);
    /// Neighbour advertisement (RFC 4861).
    pub const NEIGHBOR_ADVERT: Icmpv6Type = Icmpv6Type(136);

    /// Error messages have the high bit clear (RFC 4443 §2.1).
    pub fn is_error(self) -> bool {
        self.0 < 128
    }
}

impl fmt::Debug for Icmpv6Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::DEST_UNREACHABLE => f.write_str("dest-unreachable"),
            Self::PACKET_TOO_BIG => f.write_str("packet-too-big"),
            Self::TIME_EXCEEDED => f.write_str("time-exceeded"),
            Self::PARAM_PROBLEM => f.write_str("param-problem"),
            Self::ECHO_REQUEST => f.write_str("echo-request"),
            Self::ECHO_REPLY => f.write_str("echo-reply"),
            Self::ROUTER_SOLICIT => f.write_str("router-solicit"),
            Self::ROUTER_ADVERT => f.write_str("router-advert"),
            Self::NEIGHBOR_SOLICIT => f.write_str("neighbor-solicit"),
            Self::NEIGHBOR_ADVERT => f.write_str("neighbor-advert"),
            Icmpv6Type(n) => write!(f, "type-{n}"),
        }
    }
}

mod field {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQ: Range<usize> = 6..8;
    /// Packet-too-big MTU, or the 32-bit "unused"/pointer word.
    pub const REST: Range<usize> = 4..8;
}

/// Length of the ICMPv6 header.
pub const HEADER_LEN: usize = field::REST.end;

/// A view over an ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// A view without checks, for buffers we sized ourselves.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    /// A view over bytes from the wire: the 8-byte header is there.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        if p.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(p)
    }

    /// The buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    pub fn msg_type(&self) -> Icmpv6Type {
        Icmpv6Type(self.buffer.as_ref()[field::TYPE])
    }

    /// Message code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Echo identifier.
    pub fn echo_ident(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_IDENT])
    }

    /// Echo sequence number.
    pub fn echo_seq_no(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_SEQ])
    }

    /// MTU of a packet-too-big message (RFC 4443 §3.2).
    pub fn mtu(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::REST])
    }

    /// The bytes after the header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// True if the checksum verifies against the pseudo header sum.
    pub fn verify_checksum(&self, pseudo: u16) -> bool {
        checksum::combine(&[pseudo, checksum::data(self.buffer.as_ref())]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Sets the type.
    pub fn set_msg_type(&mut self, t: Icmpv6Type) {
        self.buffer.as_mut()[field::TYPE] = t.0;
    }

    /// Sets the code.
    pub fn set_msg_code(&mut self, code: u8) {
        self.buffer.as_mut()[field::CODE] = code;
    }

    /// Sets the checksum field as is.
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the echo identifier.
    pub fn set_echo_ident(&mut self, v: u16) {
        self.buffer.as_mut()[field::ECHO_IDENT].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the echo sequence number.
    pub fn set_echo_seq_no(&mut self, v: u16) {
        self.buffer.as_mut()[field::ECHO_SEQ].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the MTU of a packet-too-big message.
    pub fn set_mtu(&mut self, mtu: u32) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&mtu.to_be_bytes());
    }

    /// The bytes after the header, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Recomputes the checksum with the pseudo header sum `pseudo`.
    pub fn fill_checksum(&mut self, pseudo: u16) {
        self.set_checksum(0);
        let c = !checksum::combine(&[pseudo, checksum::data(self.buffer.as_ref())]);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::hex;
    use crate::wire::ip::IpProtocol;
    use std::net::Ipv6Addr;

    // Echo request 2001:db8::1 -> 2001:db8::2, id 0x1234, seq 1, "abcdefgh".
    const ECHO: &str = "8000 8075 1234 0001 6162636465666768";

    fn pseudo() -> u16 {
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        checksum::pseudo_header_v6(s, d, IpProtocol::ICMPV6.0, 16)
    }

    #[test]
    fn test_parse() {
        let b = hex(ECHO);
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv6Type::ECHO_REQUEST);
        assert!(!p.msg_type().is_error());
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.echo_ident(), 0x1234);
        assert_eq!(p.echo_seq_no(), 1);
        assert_eq!(p.data(), b"abcdefgh");
        assert!(p.verify_checksum(pseudo()));
        let e = etherparse::Icmpv6Slice::from_slice(&b).unwrap();
        let c = e
            .icmp_type()
            .calc_checksum(
                "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets(),
                "2001:db8::2".parse::<Ipv6Addr>().unwrap().octets(),
                e.payload(),
            )
            .unwrap();
        assert_eq!(c, p.checksum());
    }

    #[test]
    fn test_emit() {
        let mut out = vec![0u8; 16];
        out[8..].copy_from_slice(b"abcdefgh");
        let mut p = Icmpv6Packet::new_unchecked(&mut out[..]);
        p.set_msg_type(Icmpv6Type::ECHO_REQUEST);
        p.set_msg_code(0);
        p.set_echo_ident(0x1234);
        p.set_echo_seq_no(1);
        p.fill_checksum(pseudo());
        assert_eq!(out, hex(ECHO));
        let mut big = [0u8; 8];
        let mut p = Icmpv6Packet::new_unchecked(&mut big[..]);
        p.set_msg_type(Icmpv6Type::PACKET_TOO_BIG);
        p.set_mtu(1280);
        assert_eq!(p.mtu(), 1280);
        assert!(p.msg_type().is_error());
        assert_eq!(
            Icmpv6Packet::new_checked(&big[..7]).unwrap_err(),
            WireError::Truncated
        );
    }
}
