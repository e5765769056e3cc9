//! Zero-copy views over protocol headers, one module per header (smoltcp's
//! layout, STYLE.md).
//!
//! Each header has a `Packet<T: AsRef<[u8]>>`-style view: field offsets are
//! `Range` constants in a private `mod field`, input from the wire goes
//! through `new_checked`, which checks the length once so that no accessor can
//! panic afterwards, getters need `AsRef<[u8]>` and setters `AsMut<[u8]>`.
//! Fields are read at offsets, never through packed structs.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

use crate::verdict::DropReason;

/// Why bytes from the wire are not a valid header. Small and `Copy`: the hot
/// path turns it into a [`DropReason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Fewer bytes than the header (or a length field in it) needs.
    Truncated,
    /// A field holds a value the header cannot have (version, IHL, lengths).
    Malformed,
}

impl From<WireError> for DropReason {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Truncated => DropReason::Truncated,
            WireError::Malformed => DropReason::Malformed,
        }
    }
}

/// A big-endian `u16` from the first two bytes of `b` (a two-byte field).
#[inline]
pub(crate) fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// A big-endian `u32` from the first four bytes of `b` (a four-byte field).
#[inline]
pub(crate) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Test helper: bytes from a hex string with any whitespace in it.
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}
