//! Things IPv4 and IPv6 share: the protocol / next-header number space
//! (IANA "Assigned Internet Protocol Numbers"), kept address-family generic
//! so that IPv6 services reuse the same dispatch.

use core::fmt;

/// An IP protocol number (IPv4 `protocol`, IPv6 `next header`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// ICMP for IPv4 (RFC 792).
    pub const ICMP: IpProtocol = IpProtocol(1);
    /// IPv4-in-IP encapsulation (RFC 2003), used by the TUN forwarding method.
    pub const IPIP: IpProtocol = IpProtocol(4);
    /// TCP (RFC 793).
    pub const TCP: IpProtocol = IpProtocol(6);
    /// UDP (RFC 768).
    pub const UDP: IpProtocol = IpProtocol(17);
    /// IPv6-in-IP encapsulation (RFC 4213).
    pub const IPV6: IpProtocol = IpProtocol(41);
    /// IPv6 fragment extension header (RFC 8200 §4.5).
    pub const IPV6_FRAGMENT: IpProtocol = IpProtocol(44);
    /// ICMP for IPv6 (RFC 4443).
    pub const ICMPV6: IpProtocol = IpProtocol(58);
    /// IPv6 "no next header" (RFC 8200 §4.7).
    pub const IPV6_NO_NEXT: IpProtocol = IpProtocol(59);
    /// SCTP (RFC 9260).
    pub const SCTP: IpProtocol = IpProtocol(132);
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        IpProtocol(v)
    }
}

impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> u8 {
        p.0
    }
}

impl fmt::Debug for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IpProtocol::ICMP => f.write_str("icmp"),
            IpProtocol::IPIP => f.write_str("ipip"),
            IpProtocol::TCP => f.write_str("tcp"),
            IpProtocol::UDP => f.write_str("udp"),
            IpProtocol::IPV6 => f.write_str("ipv6"),
            IpProtocol::IPV6_FRAGMENT => f.write_str("ipv6-frag"),
            IpProtocol::ICMPV6 => f.write_str("icmpv6"),
            IpProtocol::IPV6_NO_NEXT => f.write_str("ipv6-nonxt"),
            IpProtocol::SCTP => f.write_str("sctp"),
            IpProtocol(n) => write!(f, "proto-{n}"),
        }
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(IpProtocol::from(6), IpProtocol::TCP);
        assert_eq!(IpProtocol::UDP.to_string(), "udp");
        assert_eq!(IpProtocol(253).to_string(), "proto-253");
        assert_eq!(u8::from(IpProtocol::ICMPV6), 58);
    }
}
