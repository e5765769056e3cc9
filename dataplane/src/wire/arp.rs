//! ARP packets (RFC 826) for Ethernet/IPv4, the only kind the appliance
//! speaks.
//!
//! The view reads the generic fixed part (hardware/protocol type and lengths,
//! operation) of any ARP packet, and the four addresses at their
//! Ethernet/IPv4 offsets; [`ArpPacket::is_ethernet_ipv4`] says whether those
//! offsets mean anything. `new_checked` insists on the 28 bytes of the
//! Ethernet/IPv4 form, which any ARP frame on Ethernet carries (the minimum
//! frame holds 46 bytes of payload).

use super::{be16, WireError};
use crate::addr::MacAddr;
use core::fmt;
use std::net::Ipv4Addr;

/// An ARP operation code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpOperation(pub u16);

impl ArpOperation {
    /// `ares_op$REQUEST` (RFC 826).
    pub const REQUEST: ArpOperation = ArpOperation(1);
    /// `ares_op$REPLY` (RFC 826).
    pub const REPLY: ArpOperation = ArpOperation(2);
}

impl fmt::Debug for ArpOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ArpOperation::REQUEST => f.write_str("request"),
            ArpOperation::REPLY => f.write_str("reply"),
            ArpOperation(n) => write!(f, "op-{n}"),
        }
    }
}

/// `ares_hrd$Ethernet`.
pub const HTYPE_ETHERNET: u16 = 1;
/// The protocol type for IPv4 is its ethertype.
pub const PTYPE_IPV4: u16 = 0x0800;

mod field {
    use core::ops::Range;

    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    // Ethernet/IPv4 layout of the variable part.
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::TPA.end;

/// A view over an ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// A view without checks, for buffers we sized ourselves.
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// A view over bytes from the wire: at least [`PACKET_LEN`] bytes.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the length.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < PACKET_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// The buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type.
    pub fn hardware_type(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::HTYPE])
    }

    /// Protocol type.
    pub fn protocol_type(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::PTYPE])
    }

    /// Hardware address length.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation.
    pub fn operation(&self) -> ArpOperation {
        ArpOperation(be16(&self.buffer.as_ref()[field::OPER]))
    }

    /// True for Ethernet (6-byte) hardware and IPv4 (4-byte) protocol
    /// addresses: the only form whose address accessors are meaningful.
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type() == HTYPE_ETHERNET
            && self.protocol_type() == PTYPE_IPV4
            && self.hardware_len() == 6
            && self.protocol_len() == 4
    }

    /// Sender hardware address.
    pub fn source_hardware_addr(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::SHA.start)
    }

    /// Sender protocol address.
    pub fn source_protocol_addr(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::SPA.start)
    }

    /// Target hardware address.
    pub fn target_hardware_addr(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::THA.start)
    }

    /// Target protocol address.
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::TPA.start)
    }
}

fn mac_at(d: &[u8], at: usize) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(&d[at..at + 6]);
    MacAddr(m)
}

fn ip_at(d: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(d[at], d[at + 1], d[at + 2], d[at + 3])
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets hardware type, protocol type and their lengths to Ethernet/IPv4.
    pub fn set_ethernet_ipv4(&mut self) {
        let d = self.buffer.as_mut();
        d[field::HTYPE].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
        d[field::PTYPE].copy_from_slice(&PTYPE_IPV4.to_be_bytes());
        d[field::HLEN] = 6;
        d[field::PLEN] = 4;
    }

    /// Sets the operation.
    pub fn set_operation(&mut self, op: ArpOperation) {
        self.buffer.as_mut()[field::OPER].copy_from_slice(&op.0.to_be_bytes());
    }

    /// Sets the sender hardware address.
    pub fn set_source_hardware_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&addr.0);
    }

    /// Sets the sender protocol address.
    pub fn set_source_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&addr.octets());
    }

    /// Sets the target hardware address.
    pub fn set_target_hardware_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&addr.0);
    }

    /// Sets the target protocol address.
    pub fn set_target_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&addr.octets());
    }
}

/// An Ethernet/IPv4 ARP packet's fields, for parsing into and emitting from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    /// Request or reply.
    pub operation: ArpOperation,
    /// Sender MAC.
    pub source_hardware_addr: MacAddr,
    /// Sender IPv4 address.
    pub source_protocol_addr: Ipv4Addr,
    /// Target MAC (zero in a request).
    pub target_hardware_addr: MacAddr,
    /// Target IPv4 address.
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// The fields of an Ethernet/IPv4 packet; `Malformed` for any other
    /// hardware or protocol.
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Result<Self, WireError> {
        if !p.is_ethernet_ipv4() {
            return Err(WireError::Malformed);
        }
        Ok(ArpRepr {
            operation: p.operation(),
            source_hardware_addr: p.source_hardware_addr(),
            source_protocol_addr: p.source_protocol_addr(),
            target_hardware_addr: p.target_hardware_addr(),
            target_protocol_addr: p.target_protocol_addr(),
        })
    }

    /// Bytes the packet takes.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into a view of at least [`PACKET_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut ArpPacket<T>) {
        p.set_ethernet_ipv4();
        p.set_operation(self.operation);
        p.set_source_hardware_addr(self.source_hardware_addr);
        p.set_source_protocol_addr(self.source_protocol_addr);
        p.set_target_hardware_addr(self.target_hardware_addr);
        p.set_target_protocol_addr(self.target_protocol_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::hex;

    // who-has 10.0.0.2 tell 10.0.0.1 (52:54:00:12:34:56), as Linux sends it.
    const REQUEST: &str = "0001 0800 06 04 0001 525400123456 0a000001 000000000000 0a000002";
    // 10.0.0.2 is-at 02:00:00:00:00:02, the answer to it.
    const REPLY: &str = "0001 0800 06 04 0002 020000000002 0a000002 525400123456 0a000001";

    #[test]
    fn test_parse() {
        let b = hex(REQUEST);
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert!(p.is_ethernet_ipv4());
        assert_eq!(p.operation(), ArpOperation::REQUEST);
        let r = ArpRepr::parse(&p).unwrap();
        assert_eq!(
            r,
            ArpRepr {
                operation: ArpOperation::REQUEST,
                source_hardware_addr: MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
                source_protocol_addr: Ipv4Addr::new(10, 0, 0, 1),
                target_hardware_addr: MacAddr::ZERO,
                target_protocol_addr: Ipv4Addr::new(10, 0, 0, 2),
            }
        );
    }

    #[test]
    fn test_emit() {
        let r = ArpRepr {
            operation: ArpOperation::REPLY,
            source_hardware_addr: MacAddr([2, 0, 0, 0, 0, 2]),
            source_protocol_addr: Ipv4Addr::new(10, 0, 0, 2),
            target_hardware_addr: MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            target_protocol_addr: Ipv4Addr::new(10, 0, 0, 1),
        };
        let mut buf = [0xaau8; PACKET_LEN];
        r.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..], &hex(REPLY)[..]);
    }

    #[test]
    fn other_kinds_are_not_ethernet_ipv4() {
        let mut b = hex(REQUEST);
        assert_eq!(
            ArpPacket::new_checked(&b[..27]).unwrap_err(),
            WireError::Truncated
        );
        b[5] = 16; // IPv6-sized protocol addresses
        let p = ArpPacket::new_checked(&b[..]).unwrap();
        assert!(!p.is_ethernet_ipv4());
        assert_eq!(ArpRepr::parse(&p).unwrap_err(), WireError::Malformed);
    }
}
