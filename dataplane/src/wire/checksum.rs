//! The internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Sums here are ones' complement sums *before* the final complement, as in
//! smoltcp: a header's checksum field holds `!combine(&[...])`, and a header
//! verifies when the sum over it (checksum field included) is `0xffff`.
//! Forwarding code that rewrites an address or a port never re-sums the
//! packet: it patches the checksum with [`update16`] / [`update32`].

use std::net::{Ipv4Addr, Ipv6Addr};

/// Folds a wide ones' complement accumulator down to 16 bits (RFC 1071 §4.1:
/// "fold 32-bit sum to 16 bits", carried out until no carry is left).
#[inline]
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let b = sum.to_be_bytes();
    u16::from_be_bytes([b[6], b[7]])
}

/// The 16-bit ones' complement sum of `data`, read as big-endian words; an odd
/// trailing byte is padded with a zero byte (RFC 1071 §1, step 1).
///
/// Words are summed four bytes at a time into a 64-bit accumulator: ones'
/// complement addition is associative and commutative across word sizes
/// (RFC 1071 §2, "parallel summation"), so the fold at the end gives the same
/// result as a 16-bit loop with end-around carries.
pub fn data(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc += u64::from(u32::from_be_bytes(tail));
    fold(acc)
}

/// Ones' complement sum of several partial sums (pseudo header + header +
/// payload, for one).
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// The partial sum of the IPv4 pseudo header used by TCP, UDP (RFC 768,
/// RFC 793 §3.1): source, destination, zero, protocol, upper-layer length.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    let mut words = [0u8; 12];
    words[0..4].copy_from_slice(&src.octets());
    words[4..8].copy_from_slice(&dst.octets());
    words[9] = protocol;
    words[10..12].copy_from_slice(&length.to_be_bytes());
    data(&words)
}

/// The partial sum of the IPv6 pseudo header (RFC 8200 §8.1): source,
/// destination, 32-bit upper-layer length, three zero bytes, next header.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u16 {
    let mut words = [0u8; 40];
    words[0..16].copy_from_slice(&src.octets());
    words[16..32].copy_from_slice(&dst.octets());
    words[32..36].copy_from_slice(&length.to_be_bytes());
    words[39] = next_header;
    data(&words)
}

/// The value to store in a checksum field covering `data` alone.
pub fn checksum(bytes: &[u8]) -> u16 {
    !data(bytes)
}

/// True when `bytes`, checksum field included, sum to `0xffff` (RFC 1071 §1,
/// "to check a checksum ... if the result is all 1 bits, the check succeeds").
pub fn verify(bytes: &[u8]) -> bool {
    data(bytes) == 0xffff
}

/// The new checksum after one 16-bit word covered by `checksum` changed from
/// `old` to `new`.
///
/// RFC 1624 §3, equation 3: `HC' = ~(~HC + ~m + m')`. Unlike equation 2 of
/// RFC 1141 it never turns a correct checksum into `0x0000` where `0xffff` is
/// required (or back), so it is exact for every input.
#[inline]
pub fn update16(checksum: u16, old: u16, new: u16) -> u16 {
    !combine(&[!checksum, !old, new])
}

/// The new checksum after one 32-bit field (an IPv4 address, a TCP sequence
/// number) changed from `old` to `new`: equation 3 applied to its two 16-bit
/// halves at once.
#[inline]
pub fn update32(checksum: u16, old: u32, new: u32) -> u16 {
    let o = old.to_be_bytes();
    let n = new.to_be_bytes();
    !combine(&[
        !checksum,
        !u16::from_be_bytes([o[0], o[1]]),
        !u16::from_be_bytes([o[2], o[3]]),
        u16::from_be_bytes([n[0], n[1]]),
        u16::from_be_bytes([n[2], n[3]]),
    ])
}

/// Several RFC 1624 updates at once: `delta` is the unfolded sum of
/// `!old + new` over every 16-bit word that changed (see
/// [`Delta`]). Ones' complement addition is associative, so one fold gives
/// exactly what applying [`update16`] word by word gives.
#[inline]
pub fn update_many(checksum: u16, delta: u64) -> u16 {
    !fold(u64::from(!checksum) + delta)
}

/// An accumulator of checksum-neutral word changes for [`update_many`]:
/// rewrite several fields, fold once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delta(pub u64);

impl Delta {
    /// A 16-bit word changed from `old` to `new` (no-op when equal, so the
    /// result matches skipping the update).
    #[inline]
    pub fn word(&mut self, old: u16, new: u16) {
        if old != new {
            self.0 += u64::from(!old) + u64::from(new);
        }
    }

    /// A 32-bit field (an IPv4 address) changed: its two halves.
    #[inline]
    pub fn dword(&mut self, old: u32, new: u32) {
        if old != new {
            let (o, n) = (old.to_be_bytes(), new.to_be_bytes());
            self.0 += u64::from(!u16::from_be_bytes([o[0], o[1]]))
                + u64::from(!u16::from_be_bytes([o[2], o[3]]))
                + u64::from(u16::from_be_bytes([n[0], n[1]]))
                + u64::from(u16::from_be_bytes([n[2], n[3]]));
        }
    }
}

/// [`update32`] for an IPv4 address.
#[inline]
pub fn update_ipv4_addr(checksum: u16, old: Ipv4Addr, new: Ipv4Addr) -> u16 {
    update32(checksum, u32::from(old), u32::from(new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A textbook 16-bit loop, to check the 32-bit-at-a-time sum against.
    fn reference(bytes: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for pair in bytes.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |&b| u32::from(b));
            sum += hi | lo;
            sum = (sum & 0xffff) + (sum >> 16);
        }
        u16::try_from(sum).unwrap()
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(data(&bytes), 0xddf2);
        assert_eq!(checksum(&bytes), !0xddf2);
    }

    #[test]
    fn ipv4_header_vector() {
        // A real IPv4 header (wikipedia's worked example): checksum b861.
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&hdr), 0xb861);
        hdr[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert!(verify(&hdr));
        hdr[19] ^= 1;
        assert!(!verify(&hdr));
    }

    #[test]
    fn rfc1624_example() {
        // RFC 1624 §4: HC = 0xdd2f, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000.
        assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn pseudo_header_sums_its_fields() {
        let s = pseudo_header_v4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            6,
            20,
        );
        assert_eq!(s, combine(&[0x0a00, 0x0001, 0x0a00, 0x0002, 6, 20]));
    }

    proptest! {
        #[test]
        fn sum_matches_reference(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(data(&bytes), reference(&bytes));
        }

        #[test]
        fn incremental_matches_full(
            mut bytes in proptest::collection::vec(any::<u8>(), 12..64),
            at in 0usize..3,
            new16 in any::<u16>(),
            new32 in any::<u32>(),
        ) {
            // bytes[0..2] is the checksum field.
            bytes[0] = 0;
            bytes[1] = 0;
            let c = checksum(&bytes);
            bytes[0..2].copy_from_slice(&c.to_be_bytes());

            let off = 2 + 2 * at;
            let old16 = u16::from_be_bytes([bytes[off], bytes[off + 1]]);
            bytes[off..off + 2].copy_from_slice(&new16.to_be_bytes());
            let c = update16(c, old16, new16);
            bytes[0..2].copy_from_slice(&c.to_be_bytes());
            prop_assert!(verify(&bytes));

            let off = 2 + 2 * at;
            let old32 = u32::from_be_bytes([bytes[off], bytes[off + 1], bytes[off + 2], bytes[off + 3]]);
            bytes[off..off + 4].copy_from_slice(&new32.to_be_bytes());
            let c = update32(c, old32, new32);
            bytes[0..2].copy_from_slice(&c.to_be_bytes());
            prop_assert!(verify(&bytes));
        }
    }
}
