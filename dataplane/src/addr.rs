//! Link and network address types shared by the config snapshot and the wire
//! modules.

use core::fmt;
use core::str::FromStr;
use std::net::Ipv4Addr;

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// True for the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// True for group (multicast or broadcast) addresses: the I/G bit is set.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// The six bytes of the address.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not a MAC address or a CIDR prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrParseError(pub &'static str);

impl fmt::Display for AddrParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for AddrParseError {}

impl FromStr for MacAddr {
    type Err = AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let part = parts.next().ok_or(AddrParseError(
                "a MAC address has six bytes, like 02:00:00:00:00:01",
            ))?;
            if part.is_empty() || part.len() > 2 {
                return Err(AddrParseError(
                    "each MAC address byte is one or two hex digits",
                ));
            }
            *byte = u8::from_str_radix(part, 16)
                .map_err(|_| AddrParseError("each MAC address byte is one or two hex digits"))?;
        }
        if parts.next().is_some() {
            return Err(AddrParseError(
                "a MAC address has six bytes, like 02:00:00:00:00:01",
            ));
        }
        Ok(MacAddr(out))
    }
}

/// An IPv4 address with a prefix length, as in `10.0.0.1/24`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Ipv4Cidr {
    /// The address itself (host bits kept: `10.0.0.1/24` is the address 10.0.0.1).
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub prefix_len: u8,
}

impl Ipv4Cidr {
    /// Builds a prefix; `None` if `prefix_len` is over 32.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Option<Self> {
        (prefix_len <= 32).then_some(Ipv4Cidr { addr, prefix_len })
    }

    /// The network mask as a host-order integer.
    pub fn mask(&self) -> u32 {
        match self.prefix_len {
            0 => 0,
            n => u32::MAX << (32 - u32::from(n)),
        }
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// True if `ip` falls inside this prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) & self.mask()) == (u32::from(self.addr) & self.mask())
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ip, len) = match s.split_once('/') {
            Some((ip, len)) => (ip, Some(len)),
            None => (s, None),
        };
        let addr: Ipv4Addr = ip
            .parse()
            .map_err(|_| AddrParseError("not an IPv4 address (expected a.b.c.d or a.b.c.d/len)"))?;
        let prefix_len = match len {
            None => 32,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= 32)
                .ok_or(AddrParseError("an IPv4 prefix length is 0 to 32"))?,
        };
        Ok(Ipv4Cidr { addr, prefix_len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trip() {
        let m: MacAddr = "02:00:5e:10:0a:ff".parse().unwrap();
        assert_eq!(m.0, [0x02, 0x00, 0x5e, 0x10, 0x0a, 0xff]);
        assert_eq!(m.to_string(), "02:00:5e:10:0a:ff");
        assert!("02:00:5e:10:0a".parse::<MacAddr>().is_err());
        assert!("02:00:5e:10:0a:ff:01".parse::<MacAddr>().is_err());
        assert!("02:00:5e:10:0a:fg".parse::<MacAddr>().is_err());
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(!m.is_multicast());
    }

    #[test]
    fn cidr_parse_and_contains() {
        let c: Ipv4Cidr = "198.18.0.1/24".parse().unwrap();
        assert_eq!(c.network(), Ipv4Addr::new(198, 18, 0, 0));
        assert!(c.contains(Ipv4Addr::new(198, 18, 0, 200)));
        assert!(!c.contains(Ipv4Addr::new(198, 18, 1, 1)));
        let host: Ipv4Cidr = "198.18.0.1".parse().unwrap();
        assert_eq!(host.prefix_len, 32);
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(8, 8, 8, 8)));
        assert!("198.18.0.1/33".parse::<Ipv4Cidr>().is_err());
        assert!("198.18.0/24".parse::<Ipv4Cidr>().is_err());
    }
}
