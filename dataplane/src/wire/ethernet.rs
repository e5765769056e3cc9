//! Ethernet II frames with up to two 802.1Q / 802.1ad VLAN tags.
//!
//! The view finds the tags itself: [`EthernetFrame::header_len`] is 14 bytes
//! untagged, 18 with one tag, 22 with an 802.1ad S-tag followed by a C-tag
//! (QinQ). [`EthernetFrame::ethertype`] is the innermost ethertype, the one
//! that says what the payload is. Rewriting the addresses in place leaves the
//! tags alone, so a reply to a tagged frame keeps its tag.

use super::{be16, WireError};
use crate::addr::MacAddr;
use core::fmt;

/// An ethertype (IEEE 802 numbers).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    /// IPv4 (RFC 894).
    pub const IPV4: EtherType = EtherType(0x0800);
    /// ARP (RFC 826).
    pub const ARP: EtherType = EtherType(0x0806);
    /// 802.1Q customer VLAN tag (C-tag).
    pub const VLAN: EtherType = EtherType(0x8100);
    /// IPv6 (RFC 2464).
    pub const IPV6: EtherType = EtherType(0x86dd);
    /// 802.1ad service VLAN tag (S-tag, QinQ outer tag).
    pub const QINQ: EtherType = EtherType(0x88a8);

    /// True for the tag protocol identifiers that introduce a VLAN tag.
    pub fn is_vlan_tag(self) -> bool {
        self == Self::VLAN || self == Self::QINQ
    }
}

impl fmt::Debug for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EtherType::IPV4 => f.write_str("ipv4"),
            EtherType::ARP => f.write_str("arp"),
            EtherType::VLAN => f.write_str("802.1q"),
            EtherType::IPV6 => f.write_str("ipv6"),
            EtherType::QINQ => f.write_str("802.1ad"),
            EtherType(n) => write!(f, "0x{n:04x}"),
        }
    }
}

mod field {
    use core::ops::Range;

    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    /// Ethertype of an untagged frame, or the TPID of the first tag.
    pub const ETHERTYPE: Range<usize> = 12..14;
}

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;
/// Length of one VLAN tag (TPID + TCI).
pub const VLAN_TAG_LEN: usize = 4;
/// Most tags the view looks through (S-tag + C-tag); a third tag is left as
/// the ethertype, which no handler takes.
pub const MAX_VLAN_TAGS: usize = 2;

/// A view over an Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// A view without checks; accessors may panic on a short buffer. Only for
    /// buffers sized by us.
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// A view over bytes from the wire: the header, tags included, fits.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks that the header and every VLAN tag it announces fit.
    pub fn check_len(&self) -> Result<(), WireError> {
        let d = self.buffer.as_ref();
        if d.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let mut type_at = field::ETHERTYPE.start;
        for _ in 0..MAX_VLAN_TAGS {
            if !EtherType(be16(&d[type_at..])).is_vlan_tag() {
                break;
            }
            type_at += VLAN_TAG_LEN;
            if d.len() < type_at + 2 {
                return Err(WireError::Truncated);
            }
        }
        Ok(())
    }

    /// The buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Offset of the innermost ethertype field. Never reads past the buffer,
    /// even unchecked: a tag is only followed when its ethertype fits.
    fn ethertype_at(&self) -> usize {
        let d = self.buffer.as_ref();
        let mut at = field::ETHERTYPE.start;
        for _ in 0..MAX_VLAN_TAGS {
            match d.get(at..at + 2) {
                Some(b) if EtherType(be16(b)).is_vlan_tag() && d.len() >= at + 6 => {
                    at += VLAN_TAG_LEN;
                }
                _ => break,
            }
        }
        at
    }

    /// Header length: 14, plus 4 per VLAN tag.
    pub fn header_len(&self) -> usize {
        self.ethertype_at() + 2
    }

    /// Number of VLAN tags (0 to [`MAX_VLAN_TAGS`]).
    pub fn vlan_tags(&self) -> usize {
        (self.ethertype_at() - field::ETHERTYPE.start) / VLAN_TAG_LEN
    }

    /// VLAN id (low 12 bits of the TCI) of the innermost tag, if tagged.
    pub fn vlan_id(&self) -> Option<u16> {
        let at = self.ethertype_at();
        (at > field::ETHERTYPE.start).then(|| be16(&self.buffer.as_ref()[at - 2..]) & 0x0fff)
    }

    /// Destination MAC.
    pub fn dst_addr(&self) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        MacAddr(m)
    }

    /// Source MAC.
    pub fn src_addr(&self) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        MacAddr(m)
    }

    /// The innermost ethertype: what the payload is.
    pub fn ethertype(&self) -> EtherType {
        let at = self.ethertype_at();
        EtherType(be16(&self.buffer.as_ref()[at..]))
    }

    /// The bytes after the header (and any tags).
    pub fn payload(&self) -> &[u8] {
        let hl = self.header_len();
        &self.buffer.as_ref()[hl..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC.
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.0);
    }

    /// Sets the source MAC.
    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.0);
    }

    /// Sets the innermost ethertype (keeps the tags).
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        let at = self.ethertype_at();
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&ethertype.0.to_be_bytes());
    }

    /// The bytes after the header, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }
}

/// The fields of an Ethernet header, for building frames (gratuitous ARP,
/// ARP requests, ICMP errors) into a buffer we sized ourselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Source MAC.
    pub src_addr: MacAddr,
    /// Destination MAC.
    pub dst_addr: MacAddr,
    /// 802.1Q VLAN id (C-tag) to tag the frame with, if any.
    pub vlan_id: Option<u16>,
    /// Ethertype of the payload.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Bytes the header takes.
    pub fn header_len(&self) -> usize {
        HEADER_LEN
            + if self.vlan_id.is_some() {
                VLAN_TAG_LEN
            } else {
                0
            }
    }

    /// Writes the header at the start of `buf`; `Truncated` if it does not fit.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let hl = self.header_len();
        let hdr = buf.get_mut(..hl).ok_or(WireError::Truncated)?;
        hdr[field::DST].copy_from_slice(&self.dst_addr.0);
        hdr[field::SRC].copy_from_slice(&self.src_addr.0);
        let mut at = field::ETHERTYPE.start;
        if let Some(vid) = self.vlan_id {
            hdr[at..at + 2].copy_from_slice(&EtherType::VLAN.0.to_be_bytes());
            // PCP 0, DEI 0: the id alone (IEEE 802.1Q §9.6).
            hdr[at + 2..at + 4].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
            at += VLAN_TAG_LEN;
        }
        hdr[at..at + 2].copy_from_slice(&self.ethertype.0.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::hex;

    // An ARP who-has 10.0.0.2 tell 10.0.0.1 from 52:54:00:12:34:56, as a
    // Linux host sends it (broadcast, untagged, unpadded: 42 bytes).
    const UNTAGGED: &str = "ffffffffffff 525400123456 0806
        0001 0800 06 04 0001 525400123456 0a000001 000000000000 0a000002";

    // The same request on VLAN 100 (TCI 0x0064).
    const TAGGED: &str = "ffffffffffff 525400123456 8100 0064 0806
        0001 0800 06 04 0001 525400123456 0a000001 000000000000 0a000002";

    // QinQ: S-tag 10 then C-tag 100, IPv4 payload (header only shown).
    const QINQ: &str = "020000000001 020000000002 88a8 000a 8100 0064 0800 45";

    #[test]
    fn test_parse() {
        let b = hex(UNTAGGED);
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.dst_addr(), MacAddr::BROADCAST);
        assert_eq!(f.src_addr(), MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
        assert_eq!(f.ethertype(), EtherType::ARP);
        assert_eq!(f.header_len(), 14);
        assert_eq!(f.vlan_id(), None);
        assert_eq!(f.payload().len(), 28);

        let b = hex(TAGGED);
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::ARP);
        assert_eq!(f.header_len(), 18);
        assert_eq!(f.vlan_tags(), 1);
        assert_eq!(f.vlan_id(), Some(100));
        assert_eq!(f.payload()[..2], [0x00, 0x01]);

        let b = hex(QINQ);
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::IPV4);
        assert_eq!(f.header_len(), 22);
        assert_eq!(f.vlan_tags(), 2);
        assert_eq!(f.vlan_id(), Some(100));
        assert_eq!(f.payload(), &[0x45]);

        // Cross-check against etherparse.
        let b = hex(TAGGED);
        let p = etherparse::SlicedPacket::from_ethernet(&b).unwrap();
        match p.vlan.unwrap() {
            etherparse::VlanSlice::SingleVlan(v) => assert_eq!(v.vlan_identifier().value(), 100),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn test_emit() {
        let repr = EthernetRepr {
            src_addr: MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            dst_addr: MacAddr::BROADCAST,
            vlan_id: Some(100),
            ethertype: EtherType::ARP,
        };
        let mut buf = [0u8; 18];
        repr.emit(&mut buf).unwrap();
        assert_eq!(&buf[..], &hex(TAGGED)[..18]);
        let untagged = EthernetRepr {
            vlan_id: None,
            ..repr
        };
        let mut buf = [0u8; 14];
        untagged.emit(&mut buf).unwrap();
        assert_eq!(&buf[..], &hex(UNTAGGED)[..14]);
        assert_eq!(repr.emit(&mut [0u8; 17]), Err(WireError::Truncated));
    }

    #[test]
    fn rewrite_keeps_tag() {
        let mut b = hex(TAGGED);
        let mut f = EthernetFrame::new_checked(&mut b[..]).unwrap();
        f.set_dst_addr(MacAddr([2, 0, 0, 0, 0, 9]));
        f.set_src_addr(MacAddr([2, 0, 0, 0, 0, 1]));
        f.set_ethertype(EtherType::IPV4);
        assert_eq!(f.vlan_id(), Some(100));
        assert_eq!(&b[12..18], &[0x81, 0x00, 0x00, 0x64, 0x08, 0x00]);
    }

    #[test]
    fn short_frames_are_rejected() {
        let b = hex(TAGGED);
        assert_eq!(
            EthernetFrame::new_checked(&b[..13]).unwrap_err(),
            WireError::Truncated
        );
        // The tag is there but the inner ethertype is cut off.
        assert_eq!(
            EthernetFrame::new_checked(&b[..17]).unwrap_err(),
            WireError::Truncated
        );
        assert!(EthernetFrame::new_checked(&b[..18]).is_ok());
        // Unchecked views never read past a short buffer for the header length.
        assert_eq!(EthernetFrame::new_unchecked(&b[..16]).header_len(), 14);
    }
}
