//! TCP segment headers (RFC 9293), options passed through as bytes.
//!
//! `new_checked` validates the data offset (at least 5 words, and within the
//! bytes given); options are left as they came, with [`TcpOptions`] to walk
//! them (for MSS clamping or a client-address option later) without
//! allocating. As for UDP, checksums take the pseudo header sum as an
//! argument, so the view serves IPv4 and IPv6.

use super::{be16, be32, checksum, WireError};

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    /// Data offset (upper 4 bits) and the reserved bits / NS flag.
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = field::URGENT.end;

/// TCP header flags (the byte at offset 13).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer significant.
    pub const URG: u8 = 0x20;
    /// ECN echo (RFC 3168).
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced (RFC 3168).
    pub const CWR: u8 = 0x80;

    /// FIN set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    /// SYN set.
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    /// RST set.
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    /// ACK set.
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    /// PSH set.
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
    /// URG set.
    pub fn urg(self) -> bool {
        self.0 & Self::URG != 0
    }
}

/// Option kinds (IANA "TCP Option Kind Numbers").
pub mod option {
    /// End of option list.
    pub const END: u8 = 0;
    /// No-operation (padding).
    pub const NOP: u8 = 1;
    /// Maximum segment size (RFC 9293 §3.2).
    pub const MSS: u8 = 2;
    /// Window scale (RFC 7323).
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted (RFC 2018).
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK (RFC 2018).
    pub const SACK: u8 = 5;
    /// Timestamps (RFC 7323).
    pub const TIMESTAMPS: u8 = 8;
}

/// A view over a TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// A view without checks, for buffers we sized ourselves.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// A view over bytes from the wire (the IP payload); see
    /// [`TcpPacket::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the fixed header is there, the data offset is at least 5
    /// words (RFC 9293 §3.1) and the header with its options fits.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if hl > len {
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

    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::SEQ_NUM])
    }

    /// Acknowledgment number.
    pub fn ack_number(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::ACK_NUM])
    }

    /// Header length in bytes (data offset × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The eight flag bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }

    /// Window size (unscaled).
    pub fn window_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::WIN_SIZE])
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Urgent pointer.
    pub fn urgent_at(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::URGENT])
    }

    /// The option bytes (empty with a 5-word header).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The options, one by one.
    pub fn option_iter(&self) -> TcpOptions<'_> {
        TcpOptions {
            rest: self.options(),
        }
    }

    /// The MSS option's value, if the segment carries a well-formed one.
    pub fn mss(&self) -> Option<u16> {
        self.option_iter().find_map(|o| match o {
            Ok((option::MSS, v)) if v.len() == 2 => Some(be16(v)),
            _ => None,
        })
    }

    /// The payload: everything after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// True if the checksum over the whole segment verifies against the
    /// pseudo header sum `pseudo`.
    pub fn verify_checksum(&self, pseudo: u16) -> bool {
        checksum::combine(&[pseudo, checksum::data(self.buffer.as_ref())]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, port: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&port.to_be_bytes());
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, port: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&port.to_be_bytes());
    }

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, v: u32) {
        self.buffer.as_mut()[field::SEQ_NUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, v: u32) {
        self.buffer.as_mut()[field::ACK_NUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the header length in bytes (multiple of 4, 20 to 60), keeping the
    /// low bits of the byte (reserved, NS).
    pub fn set_header_len(&mut self, len: usize) {
        let words = u8::try_from(len / 4).unwrap_or(15).min(15);
        let b = &mut self.buffer.as_mut()[field::DATA_OFF];
        *b = (words << 4) | (*b & 0x0f);
    }

    /// Sets the flag bits.
    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = flags.0;
    }

    /// Sets the window size.
    pub fn set_window_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::WIN_SIZE].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the checksum field as is.
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the urgent pointer.
    pub fn set_urgent_at(&mut self, v: u16) {
        self.buffer.as_mut()[field::URGENT].copy_from_slice(&v.to_be_bytes());
    }

    /// The option bytes, writable.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..hl]
    }

    /// Recomputes the checksum over the whole segment with the pseudo header
    /// sum `pseudo`.
    pub fn fill_checksum(&mut self, pseudo: u16) {
        self.set_checksum(0);
        let c = !checksum::combine(&[pseudo, checksum::data(self.buffer.as_ref())]);
        self.set_checksum(c);
    }

    /// Rewrites the source port, patching the checksum (RFC 1624).
    pub fn rewrite_src_port(&mut self, port: u16) {
        let old = self.src_port();
        self.set_src_port(port);
        self.set_checksum(checksum::update16(self.checksum(), old, port));
    }

    /// Rewrites the destination port, patching the checksum (RFC 1624).
    pub fn rewrite_dst_port(&mut self, port: u16) {
        let old = self.dst_port();
        self.set_dst_port(port);
        self.set_checksum(checksum::update16(self.checksum(), old, port));
    }

    /// Patches the checksum for a 32-bit change outside the segment (an IPv4
    /// address in the pseudo header) or inside it (seq/ack adjustments).
    pub fn patch_checksum32(&mut self, old: u32, new: u32) {
        self.set_checksum(checksum::update32(self.checksum(), old, new));
    }
}

/// One option: `Ok((kind, value))` with the value bytes after kind and
/// length (empty for NOP), or `Err(Malformed)` once the list is broken
/// (after which the iterator ends).
pub type TcpOption<'a> = Result<(u8, &'a [u8]), WireError>;

/// Iterator over the options of a header; stops at END.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = TcpOption<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, after) = self.rest.split_first()?;
        match kind {
            option::END => {
                self.rest = &[];
                None
            }
            option::NOP => {
                self.rest = after;
                Some(Ok((kind, &[])))
            }
            _ => {
                let len = after.first().map(|&l| usize::from(l));
                match len {
                    Some(len) if len >= 2 && len <= self.rest.len() => {
                        let value = &self.rest[2..len];
                        self.rest = &self.rest[len..];
                        Some(Ok((kind, value)))
                    }
                    _ => {
                        self.rest = &[];
                        Some(Err(WireError::Malformed))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::hex;
    use std::net::Ipv4Addr;

    // A Linux SYN from 10.0.0.1:40000 to 10.0.0.2:80: MSS 1460, SACK
    // permitted, timestamps, NOP, window scale 7 (40-byte header).
    const SYN: &str = "9c40 0050 11223344 00000000 a002 faf0 75d4 0000
        020405b4 0402 080a 0001e240 00000000 01 030307";

    fn pseudo(len: u16) -> u16 {
        checksum::pseudo_header_v4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            6,
            len,
        )
    }

    #[test]
    fn test_parse() {
        let b = hex(SYN);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 40000);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq_number(), 0x1122_3344);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 40);
        assert!(p.flags().syn() && !p.flags().ack());
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.mss(), Some(1460));
        assert!(p.payload().is_empty());
        assert!(p.verify_checksum(pseudo(40)));
        let kinds: Vec<u8> = p.option_iter().map(|o| o.unwrap().0).collect();
        assert_eq!(kinds, [2, 4, 8, 1, 3]);
        let e = etherparse::TcpHeaderSlice::from_slice(&b).unwrap();
        assert_eq!(e.options(), p.options());
        let c = e
            .calc_checksum_ipv4_raw([10, 0, 0, 1], [10, 0, 0, 2], &[])
            .unwrap();
        assert_eq!(c, p.checksum());
    }

    #[test]
    fn test_emit() {
        let b = hex(SYN);
        let mut out = vec![0u8; 40];
        out[HEADER_LEN..].copy_from_slice(&b[HEADER_LEN..]);
        let mut p = TcpPacket::new_unchecked(&mut out[..]);
        p.set_src_port(40000);
        p.set_dst_port(80);
        p.set_seq_number(0x1122_3344);
        p.set_ack_number(0);
        p.set_header_len(40);
        p.set_flags(TcpFlags(TcpFlags::SYN));
        p.set_window_len(64240);
        p.set_urgent_at(0);
        p.fill_checksum(pseudo(40));
        assert_eq!(out, b);
    }

    #[test]
    fn nat_rewrite_keeps_checksum_valid() {
        let mut b = hex(SYN);
        let mut p = TcpPacket::new_checked(&mut b[..]).unwrap();
        let rip = Ipv4Addr::new(192, 168, 10, 5);
        p.rewrite_dst_port(8080);
        p.patch_checksum32(u32::from(Ipv4Addr::new(10, 0, 0, 2)), u32::from(rip));
        let ph = checksum::pseudo_header_v4(Ipv4Addr::new(10, 0, 0, 1), rip, 6, 40);
        assert!(p.verify_checksum(ph));
    }

    #[test]
    fn bad_offsets_and_options() {
        let b = hex(SYN);
        assert_eq!(
            TcpPacket::new_checked(&b[..19]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            TcpPacket::new_checked(&b[..39]).unwrap_err(),
            WireError::Truncated
        );
        let mut low = b.clone();
        low[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&low[..]).unwrap_err(),
            WireError::Malformed
        );
        // An option whose length runs past the header.
        let mut broken = b.clone();
        broken[21] = 30;
        let p = TcpPacket::new_checked(&broken[..]).unwrap();
        assert_eq!(
            p.option_iter().collect::<Vec<_>>(),
            vec![Err(WireError::Malformed)]
        );
        assert_eq!(p.mss(), None);
        // Length 0/1 is malformed too (would loop forever otherwise).
        broken[21] = 1;
        let p = TcpPacket::new_checked(&broken[..]).unwrap();
        assert_eq!(p.option_iter().count(), 1);
    }
}
