//! UDP datagrams (RFC 768).
//!
//! Checksums take the partial sum of the pseudo header as an argument
//! ([`checksum::pseudo_header_v4`] or [`checksum::pseudo_header_v6`]), so the
//! same view serves both address families.

use super::{be16, checksum, WireError};

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A view over a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// A view without checks, for buffers we sized ourselves.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// A view over bytes from the wire; see [`UdpPacket::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the header is there and that the length field covers the
    /// header and no more than the bytes given (the IP payload).
    pub fn check_len(&self) -> Result<(), WireError> {
        let d = self.buffer.as_ref();
        if d.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if len > d.len() {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// The buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::DST_PORT])
    }

    /// Length field: header plus payload.
    pub fn len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// True when the length field says there is no payload.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) == HEADER_LEN
    }

    /// Checksum field (0: none was computed, allowed over IPv4 only).
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// The payload, up to the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// True if the checksum verifies against the pseudo header sum `pseudo`,
    /// or if there is none (zero; RFC 768 — legal over IPv4, and an IPv6
    /// caller must reject zero itself, RFC 8200 §8.1).
    pub fn verify_checksum(&self, pseudo: u16) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let d = &self.buffer.as_ref()[..usize::from(self.len())];
        checksum::combine(&[pseudo, checksum::data(d)]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, port: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&port.to_be_bytes());
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, port: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&port.to_be_bytes());
    }

    /// Sets the length field.
    pub fn set_len(&mut self, len: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    /// Sets the checksum field as is.
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// Computes the checksum over the datagram (up to the length field) and
    /// the pseudo header sum `pseudo`. A computed zero is sent as `0xffff`
    /// (RFC 768: zero means "no checksum").
    pub fn fill_checksum(&mut self, pseudo: u16) {
        self.set_checksum(0);
        let len = usize::from(self.len());
        let c = !checksum::combine(&[pseudo, checksum::data(&self.buffer.as_ref()[..len])]);
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }

    /// Rewrites a port, patching the checksum incrementally (RFC 1624) unless
    /// the datagram carries none.
    pub fn rewrite_src_port(&mut self, port: u16) {
        let old = self.src_port();
        self.set_src_port(port);
        self.patch_checksum(old, port);
    }

    /// Rewrites the destination port; see [`UdpPacket::rewrite_src_port`].
    pub fn rewrite_dst_port(&mut self, port: u16) {
        let old = self.dst_port();
        self.set_dst_port(port);
        self.patch_checksum(old, port);
    }

    /// Patches the checksum for a 16-bit change elsewhere (a port here, or a
    /// pseudo-header word changed by NAT); a zero checksum stays zero.
    pub fn patch_checksum(&mut self, old: u16, new: u16) {
        let c = self.checksum();
        if c != 0 {
            let n = checksum::update16(c, old, new);
            self.set_checksum(if n == 0 { 0xffff } else { n });
        }
    }

    /// Patches the checksum for a 32-bit pseudo-header change (an IPv4
    /// address rewritten by NAT); a zero checksum stays zero.
    pub fn patch_checksum32(&mut self, old: u32, new: u32) {
        let c = self.checksum();
        if c != 0 {
            let n = checksum::update32(c, old, new);
            self.set_checksum(if n == 0 { 0xffff } else { n });
        }
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::hex;
    use std::net::Ipv4Addr;

    // A DNS query for example.com/A from 10.0.0.1:53000 to 10.0.0.2:53.
    const DNS_QUERY: &str = "cf08 0035 0025 a128
        abcd01000001000000000000076578616d706c6503636f6d0000010001";

    fn pseudo() -> u16 {
        checksum::pseudo_header_v4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            17,
            37,
        )
    }

    #[test]
    fn test_parse() {
        let b = hex(DNS_QUERY);
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 53000);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len(), 37);
        assert_eq!(p.payload().len(), 29);
        assert!(p.verify_checksum(pseudo()));
        let e = etherparse::UdpHeaderSlice::from_slice(&b)
            .unwrap()
            .to_header();
        let c = e
            .calc_checksum_ipv4_raw([10, 0, 0, 1], [10, 0, 0, 2], p.payload())
            .unwrap();
        assert_eq!(c, p.checksum());
    }

    #[test]
    fn test_emit() {
        let b = hex(DNS_QUERY);
        let mut out = vec![0u8; b.len()];
        out[HEADER_LEN..].copy_from_slice(&b[HEADER_LEN..]);
        let mut p = UdpPacket::new_unchecked(&mut out[..]);
        p.set_src_port(53000);
        p.set_dst_port(53);
        p.set_len(37);
        p.fill_checksum(pseudo());
        assert_eq!(out, b);
    }

    #[test]
    fn rewrite_keeps_checksum_valid() {
        let mut b = hex(DNS_QUERY);
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        p.rewrite_dst_port(5353);
        p.rewrite_src_port(1);
        assert!(p.verify_checksum(pseudo()));
        // NAT of the destination address: pseudo header word change.
        let new_dst = Ipv4Addr::new(192, 168, 1, 20);
        p.patch_checksum32(u32::from(Ipv4Addr::new(10, 0, 0, 2)), u32::from(new_dst));
        let pseudo2 = checksum::pseudo_header_v4(Ipv4Addr::new(10, 0, 0, 1), new_dst, 17, 37);
        assert!(p.verify_checksum(pseudo2));
    }

    #[test]
    fn bad_lengths() {
        let b = hex(DNS_QUERY);
        assert_eq!(
            UdpPacket::new_checked(&b[..7]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            UdpPacket::new_checked(&b[..36]).unwrap_err(),
            WireError::Truncated
        );
        let mut short = b.clone();
        short[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&short[..]).unwrap_err(),
            WireError::Malformed
        );
        // Zero checksum: none computed.
        let mut none = b.clone();
        none[6..8].copy_from_slice(&[0, 0]);
        assert!(UdpPacket::new_checked(&none[..])
            .unwrap()
            .verify_checksum(0x1234));
    }
}
