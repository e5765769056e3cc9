//! ICMP for IPv4 (RFC 792, RFC 1191 for "fragmentation needed").
//!
//! The view covers the 8-byte header shared by every message: type, code,
//! checksum, and the 4 "rest of header" bytes, read as identifier/sequence
//! for echo messages and as the next-hop MTU for "fragmentation needed".
//! The checksum covers the whole ICMP message (RFC 792, "Checksum").
//!
//! Error messages (destination unreachable, fragmentation needed, time
//! exceeded) quote the offending datagram's IP header and the start of its
//! payload. [`emit_error`] builds one (IPv4 header included) into a caller
//! buffer, [`error_allowed`] applies the RFC 1122 rules on when not to, and
//! [`QuotedIpv4`] reads and rewrites the quoted header (NAT must translate it
//! the way IPVS's `ip_vs_nat_icmp` does, or the client cannot match it).

use super::ip::IpProtocol;
use super::ipv4::{self, Ipv4Packet, Ipv4Repr};
use super::{be16, checksum, WireError};
use core::fmt;
use std::net::Ipv4Addr;

/// An ICMPv4 message type.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Icmpv4Type(pub u8);

impl Icmpv4Type {
    /// Echo reply.
    pub const ECHO_REPLY: Icmpv4Type = Icmpv4Type(0);
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: Icmpv4Type = Icmpv4Type(3);
    /// Redirect.
    pub const REDIRECT: Icmpv4Type = Icmpv4Type(5);
    /// Echo request.
    pub const ECHO_REQUEST: Icmpv4Type = Icmpv4Type(8);
    /// Time exceeded.
    pub const TIME_EXCEEDED: Icmpv4Type = Icmpv4Type(11);
    /// Parameter problem.
    pub const PARAM_PROBLEM: Icmpv4Type = Icmpv4Type(12);

    /// True for error messages, which quote the offending datagram
    /// (RFC 1122 §3.2.2: never sent in answer to another error).
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Self::DEST_UNREACHABLE | Self::REDIRECT | Self::TIME_EXCEEDED | Self::PARAM_PROBLEM
        ) || self.0 == 4 // source quench (deprecated, RFC 6633)
    }
}

impl fmt::Debug for Icmpv4Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ECHO_REPLY => f.write_str("echo-reply"),
            Self::DEST_UNREACHABLE => f.write_str("dest-unreachable"),
            Self::REDIRECT => f.write_str("redirect"),
            Self::ECHO_REQUEST => f.write_str("echo-request"),
            Self::TIME_EXCEEDED => f.write_str("time-exceeded"),
            Self::PARAM_PROBLEM => f.write_str("param-problem"),
            Icmpv4Type(n) => write!(f, "type-{n}"),
        }
    }
}

/// Destination unreachable codes (RFC 792, RFC 1122 §3.2.2.1).
pub mod unreachable {
    /// Network unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set (RFC 1191: next-hop MTU in bytes 6..8).
    pub const FRAG_NEEDED: u8 = 4;
    /// Communication administratively prohibited (RFC 1812 §5.2.7.1).
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// Time exceeded codes (RFC 792).
pub mod time_exceeded {
    /// TTL exceeded in transit.
    pub const TTL: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const REASSEMBLY: u8 = 1;
}

mod field {
    use core::ops::Range;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Echo identifier / first half of "rest of header".
    pub const ECHO_IDENT: Range<usize> = 4..6;
    /// Echo sequence number / next-hop MTU (RFC 1191).
    pub const ECHO_SEQ: Range<usize> = 6..8;
    pub const REST: Range<usize> = 4..8;
}

/// Length of the ICMP header.
pub const HEADER_LEN: usize = field::REST.end;

/// A view over an ICMPv4 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// A view without checks, for buffers we sized ourselves.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// A view over bytes from the wire: the 8-byte header is there.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the length.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// The buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    pub fn msg_type(&self) -> Icmpv4Type {
        Icmpv4Type(self.buffer.as_ref()[field::TYPE])
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

    /// Next-hop MTU of a "fragmentation needed" message (RFC 1191 §4); zero
    /// from routers that predate RFC 1191.
    pub fn next_hop_mtu(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ECHO_SEQ])
    }

    /// The bytes after the 8-byte header (echo data, or the quoted datagram
    /// of an error message).
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// True if the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets the type.
    pub fn set_msg_type(&mut self, t: Icmpv4Type) {
        self.buffer.as_mut()[field::TYPE] = t.0;
    }

    /// Sets the code.
    pub fn set_msg_code(&mut self, code: u8) {
        self.buffer.as_mut()[field::CODE] = code;
    }

    /// Sets the checksum field as is.
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the echo identifier.
    pub fn set_echo_ident(&mut self, v: u16) {
        self.buffer.as_mut()[field::ECHO_IDENT].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the echo sequence number.
    pub fn set_echo_seq_no(&mut self, v: u16) {
        self.buffer.as_mut()[field::ECHO_SEQ].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the "rest of header": zero, then the next-hop MTU (RFC 1191 §4).
    pub fn set_next_hop_mtu(&mut self, mtu: u16) {
        self.buffer.as_mut()[field::ECHO_IDENT].copy_from_slice(&[0, 0]);
        self.buffer.as_mut()[field::ECHO_SEQ].copy_from_slice(&mtu.to_be_bytes());
    }

    /// Zeroes the "rest of header" (unused in most error messages).
    pub fn clear_rest(&mut self) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&[0; 4]);
    }

    /// The bytes after the header, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Recomputes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Changes the type and code, patching the checksum incrementally
    /// (RFC 1624): type and code form the first 16-bit word of the message.
    pub fn rewrite_type_code(&mut self, t: Icmpv4Type, code: u8) {
        let old = u16::from_be_bytes([self.msg_type().0, self.msg_code()]);
        let new = u16::from_be_bytes([t.0, code]);
        let c = checksum::update16(self.checksum(), old, new);
        self.set_msg_type(t);
        self.set_msg_code(code);
        self.set_checksum(c);
    }
}

impl<'a> Icmpv4Packet<&'a [u8]> {
    /// The quoted datagram of an error message; `Malformed` for messages
    /// that quote nothing (echo, ...).
    pub fn quoted(&self) -> Result<QuotedIpv4<&'a [u8]>, WireError> {
        if !self.msg_type().is_error() {
            return Err(WireError::Malformed);
        }
        QuotedIpv4::new_checked(&self.buffer[HEADER_LEN..])
    }
}

/// An error to report about a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Error {
    /// Destination unreachable with one of the [`unreachable`] codes.
    DestUnreachable(u8),
    /// Fragmentation needed and DF set, with the MTU of the next hop
    /// (RFC 1191 §4) — the TUN method's answer to a too-big datagram.
    FragNeeded {
        /// MTU of the link the datagram could not cross.
        next_hop_mtu: u16,
    },
    /// Time exceeded with one of the [`time_exceeded`] codes.
    TimeExceeded(u8),
}

impl Icmpv4Error {
    /// Type and code on the wire.
    pub fn type_code(self) -> (Icmpv4Type, u8) {
        match self {
            Icmpv4Error::DestUnreachable(code) => (Icmpv4Type::DEST_UNREACHABLE, code),
            Icmpv4Error::FragNeeded { .. } => {
                (Icmpv4Type::DEST_UNREACHABLE, unreachable::FRAG_NEEDED)
            }
            Icmpv4Error::TimeExceeded(code) => (Icmpv4Type::TIME_EXCEEDED, code),
        }
    }
}

/// Largest error datagram: RFC 1812 §4.3.2.3 quotes "as much of the original
/// datagram as possible without the length of the ICMP datagram exceeding
/// 576 bytes".
pub const ERROR_MAX_LEN: usize = 576;

/// TTL of the error messages we originate.
pub const ERROR_TTL: u8 = 64;

/// DSCP of the error messages: precedence 6, "internetwork control"
/// (RFC 1812 §4.3.2.5, as Linux's `IPTOS_PREC_INTERNETCONTROL`).
pub const ERROR_DSCP: u8 = 0x30;

/// Whether an ICMP error may be sent about `offending` (an IPv4 datagram,
/// header first), per RFC 1122 §3.2.2: never about an ICMP error message,
/// a datagram to a broadcast or multicast address, a non-initial fragment,
/// or a datagram whose source does not name a single host. (A datagram that
/// came as a link-layer broadcast is excluded by the caller, which knows.)
pub fn error_allowed(offending: &[u8]) -> bool {
    let Ok(q) = QuotedIpv4::new_checked(offending) else {
        return false;
    };
    let (src, dst) = (q.src_addr(), q.dst_addr());
    if dst.is_broadcast() || dst.is_multicast() {
        return false;
    }
    if src.is_unspecified() || src.is_broadcast() || src.is_multicast() || src.is_loopback() {
        return false;
    }
    if q.frag_offset() != 0 {
        return false;
    }
    if q.protocol() == IpProtocol::ICMP {
        // The quoted payload starts with the ICMP type; an error (or a
        // message too short to tell) gets no error back.
        return match q.transport().first() {
            Some(&t) => !Icmpv4Type(t).is_error(),
            None => false,
        };
    }
    true
}

/// Builds, at the start of `buf`, an IPv4 datagram from `src` to the source
/// of `offending` carrying the ICMP `error` that quotes `offending` (its
/// header and as much of its payload as fits in [`ERROR_MAX_LEN`], never more
/// than its total length). Returns the bytes written. `Malformed` if
/// `offending` has no valid IPv4 header, `Truncated` if `buf` is too small
/// for the header and the first 8 bytes of payload RFC 792 requires.
pub fn emit_error(
    buf: &mut [u8],
    error: Icmpv4Error,
    src: Ipv4Addr,
    offending: &[u8],
) -> Result<usize, WireError> {
    let q = QuotedIpv4::new_checked(offending).map_err(|_| WireError::Malformed)?;
    let claimed = usize::from(q.total_len()).max(q.header_len());
    let budget = ERROR_MAX_LEN
        .min(buf.len())
        .saturating_sub(ipv4::HEADER_LEN + HEADER_LEN);
    let quote_len = offending.len().min(claimed).min(budget);
    // RFC 792: the internet header plus the first 64 bits of the data.
    let required = (q.header_len() + 8).min(offending.len().min(claimed));
    if quote_len < required {
        return Err(WireError::Truncated);
    }
    let icmp_len = HEADER_LEN + quote_len;
    let total = ipv4::HEADER_LEN + icmp_len;
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: q.src_addr(),
        protocol: IpProtocol::ICMP,
        payload_len: u16::try_from(icmp_len).map_err(|_| WireError::Malformed)?,
        ttl: ERROR_TTL,
        dont_frag: false,
        ident: 0,
    };
    let out = &mut buf[..total];
    repr.emit(out)?;
    let mut ip = Ipv4Packet::new_unchecked(&mut out[..]);
    ip.set_dscp_ecn(ERROR_DSCP, 0);
    ip.fill_checksum();

    let icmp_bytes = &mut out[ipv4::HEADER_LEN..];
    icmp_bytes[HEADER_LEN..].copy_from_slice(&offending[..quote_len]);
    let mut icmp = Icmpv4Packet::new_unchecked(icmp_bytes);
    let (t, code) = error.type_code();
    icmp.set_msg_type(t);
    icmp.set_msg_code(code);
    match error {
        Icmpv4Error::FragNeeded { next_hop_mtu } => icmp.set_next_hop_mtu(next_hop_mtu),
        _ => icmp.clear_rest(),
    }
    icmp.fill_checksum();
    Ok(total)
}

mod quoted_field {
    use core::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const LENGTH: Range<usize> = 2..4;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// A view over the datagram quoted in an ICMP error: an IPv4 header (whose
/// total length usually claims more than was quoted) and the first bytes of
/// its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedIpv4<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> QuotedIpv4<T> {
    /// A view over quoted bytes: version 4, IHL at least 5, and the whole
    /// header (options included) present. The total length is *not* checked
    /// against the bytes: a quote is cut short by design.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let d = buffer.as_ref();
        if d.len() < ipv4::HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if d[quoted_field::VER_IHL] >> 4 != 4 {
            return Err(WireError::Malformed);
        }
        let hl = usize::from(d[quoted_field::VER_IHL] & 0x0f) * 4;
        if hl < ipv4::HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if d.len() < hl {
            return Err(WireError::Truncated);
        }
        Ok(QuotedIpv4 { buffer })
    }

    /// Header length in bytes.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[quoted_field::VER_IHL] & 0x0f) * 4
    }

    /// Total length the original datagram had.
    pub fn total_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[quoted_field::LENGTH])
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (be16(&self.buffer.as_ref()[quoted_field::FLG_OFF]) & 0x1fff) << 3
    }

    /// Protocol of the original datagram.
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[quoted_field::PROTOCOL])
    }

    /// Source of the original datagram (our side, for errors about what we sent).
    pub fn src_addr(&self) -> Ipv4Addr {
        let d = &self.buffer.as_ref()[quoted_field::SRC_ADDR];
        Ipv4Addr::new(d[0], d[1], d[2], d[3])
    }

    /// Destination of the original datagram.
    pub fn dst_addr(&self) -> Ipv4Addr {
        let d = &self.buffer.as_ref()[quoted_field::DST_ADDR];
        Ipv4Addr::new(d[0], d[1], d[2], d[3])
    }

    /// The quoted payload bytes (at least 8 in a conforming error).
    pub fn transport(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Source and destination ports, for TCP, UDP and SCTP (the first four
    /// bytes of each), when quoted.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.protocol() {
            IpProtocol::TCP | IpProtocol::UDP | IpProtocol::SCTP => {
                let t = self.transport().get(..4)?;
                Some((be16(&t[..2]), be16(&t[2..])))
            }
            _ => None,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> QuotedIpv4<T> {
    /// Sets the quoted source address (the inner header checksum is left to
    /// [`QuotedIpv4::fill_checksum`]).
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[quoted_field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    /// Sets the quoted destination address.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[quoted_field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// Sets the quoted ports; `false` (nothing written) when the protocol has
    /// no ports or they were not quoted. The quoted transport checksum is
    /// left alone: it cannot be verified over a partial quote anyway.
    pub fn set_ports(&mut self, src: u16, dst: u16) -> bool {
        if self.ports().is_none() {
            return false;
        }
        let hl = self.header_len();
        let t = &mut self.buffer.as_mut()[hl..hl + 4];
        t[..2].copy_from_slice(&src.to_be_bytes());
        t[2..].copy_from_slice(&dst.to_be_bytes());
        true
    }

    /// Recomputes the quoted header's checksum.
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        let d = self.buffer.as_mut();
        d[quoted_field::CHECKSUM].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&d[..hl]);
        d[quoted_field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::hex;

    // The ICMP part of `ping 10.0.0.2` (Linux iputils: 16-byte timeval, then
    // 0x10..0x37), identifier 0x1c46, sequence 1.
    const ECHO_REQUEST: &str = "0800 c4f2 1c46 0001
        a1b2c3d400000000 e86b0a0000000000
        101112131415161718191a1b1c1d1e1f 202122232425262728292a2b2c2d2e2f 3031323334353637";

    #[test]
    fn test_parse() {
        let b = hex(ECHO_REQUEST);
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv4Type::ECHO_REQUEST);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.checksum(), 0xc4f2);
        assert_eq!(p.echo_ident(), 0x1c46);
        assert_eq!(p.echo_seq_no(), 1);
        assert_eq!(p.data().len(), 56);
        assert!(p.verify_checksum());
        let e = etherparse::Icmpv4Slice::from_slice(&b).unwrap();
        assert_eq!(e.icmp_type().calc_checksum(e.payload()), p.checksum());
    }

    #[test]
    fn test_emit() {
        let b = hex(ECHO_REQUEST);
        let mut out = vec![0u8; b.len()];
        out[HEADER_LEN..].copy_from_slice(&b[HEADER_LEN..]);
        let mut p = Icmpv4Packet::new_unchecked(&mut out[..]);
        p.set_msg_type(Icmpv4Type::ECHO_REQUEST);
        p.set_msg_code(0);
        p.set_echo_ident(0x1c46);
        p.set_echo_seq_no(1);
        p.fill_checksum();
        assert_eq!(out, b);
    }

    #[test]
    fn incremental_type_change_matches_full() {
        let mut b = hex(ECHO_REQUEST);
        let mut p = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        p.rewrite_type_code(Icmpv4Type::ECHO_REPLY, 0);
        assert!(p.verify_checksum());
        let incremental = p.checksum();
        p.fill_checksum();
        assert_eq!(p.checksum(), incremental);
        assert_eq!(incremental, 0xccf2);
    }

    // The IPv4 header of a 1500-byte TCP segment 10.0.0.1:40000 ->
    // 10.0.0.2:80 with DF, followed by the SYN header above its payload.
    fn big_tcp_datagram() -> Vec<u8> {
        let mut d = hex("4500 05dc 0001 4000 4006 0000 0a000001 0a000002
            9c40 0050 11223344 00000000 5010 faf0 0000 0000");
        d.resize(1500, 0x5a);
        Ipv4Packet::new_unchecked(&mut d[..]).fill_checksum();
        d
    }

    #[test]
    fn frag_needed_quotes_and_verifies() {
        let offending = big_tcp_datagram();
        assert!(error_allowed(&offending));
        let mut buf = [0u8; 2048];
        let dip = Ipv4Addr::new(10, 0, 0, 254);
        let err = Icmpv4Error::FragNeeded { next_hop_mtu: 1480 };
        let n = emit_error(&mut buf, err, dip, &offending).unwrap();
        assert_eq!(n, ERROR_MAX_LEN);
        let ip = Ipv4Packet::new_checked(&buf[..n]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.src_addr(), dip);
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(ip.dscp(), ERROR_DSCP);
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.msg_type(), Icmpv4Type::DEST_UNREACHABLE);
        assert_eq!(icmp.msg_code(), unreachable::FRAG_NEEDED);
        assert_eq!(icmp.next_hop_mtu(), 1480);
        let q = icmp.quoted().unwrap();
        assert_eq!(q.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(q.ports(), Some((40000, 80)));
        assert_eq!(q.total_len(), 1500);
        assert_eq!(icmp.data(), &offending[..548]);

        // etherparse agrees on the whole datagram.
        let e = etherparse::Ipv4Slice::from_slice(&buf[..n]).unwrap();
        let ic = etherparse::Icmpv4Slice::from_slice(e.payload().payload).unwrap();
        assert_eq!(ic.icmp_type().calc_checksum(ic.payload()), ic.checksum());
        assert_eq!(
            e.header().to_header().calc_header_checksum(),
            e.header().header_checksum()
        );
    }

    #[test]
    fn short_datagrams_are_quoted_whole() {
        let mut small = big_tcp_datagram();
        small.truncate(40);
        small[2..4].copy_from_slice(&40u16.to_be_bytes());
        let mut buf = [0u8; 128];
        let n = emit_error(
            &mut buf,
            Icmpv4Error::TimeExceeded(time_exceeded::TTL),
            Ipv4Addr::new(10, 0, 0, 254),
            &small,
        )
        .unwrap();
        assert_eq!(n, 20 + 8 + 40);
        let icmp = Icmpv4Packet::new_checked(&buf[20..n]).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.msg_type(), Icmpv4Type::TIME_EXCEEDED);
        // Too small a buffer for header + 8 bytes.
        assert_eq!(
            emit_error(
                &mut buf[..55],
                Icmpv4Error::DestUnreachable(unreachable::PORT),
                Ipv4Addr::LOCALHOST,
                &small
            ),
            Err(WireError::Truncated)
        );
        assert_eq!(
            emit_error(
                &mut buf,
                Icmpv4Error::DestUnreachable(0),
                Ipv4Addr::LOCALHOST,
                &small[..10]
            ),
            Err(WireError::Malformed)
        );
    }

    #[test]
    fn errors_are_not_sent_about_errors_broadcasts_or_fragments() {
        let d = big_tcp_datagram();
        let mut bcast = d.clone();
        bcast[16..20].copy_from_slice(&[255; 4]);
        assert!(!error_allowed(&bcast));
        let mut mcast_src = d.clone();
        mcast_src[12] = 224;
        assert!(!error_allowed(&mcast_src));
        let mut later_frag = d.clone();
        later_frag[7] = 1;
        assert!(!error_allowed(&later_frag));
        let mut icmp_err = d.clone();
        icmp_err[9] = 1;
        icmp_err[20] = 3; // quoted ICMP is a dest unreachable
        assert!(!error_allowed(&icmp_err));
        icmp_err[20] = 8; // an echo request may get an error
        assert!(error_allowed(&icmp_err));
        assert!(!error_allowed(&d[..19]));
    }

    #[test]
    fn quoted_header_rewrite() {
        // IPVS NAT: the RS's error about RIP must show VIP to the client.
        let offending = big_tcp_datagram();
        let mut buf = [0u8; 600];
        let n = emit_error(
            &mut buf,
            Icmpv4Error::DestUnreachable(unreachable::PORT),
            Ipv4Addr::new(10, 0, 0, 2),
            &offending,
        )
        .unwrap();
        let data = &mut buf[28..n];
        let mut q = QuotedIpv4::new_checked(&mut data[..]).unwrap();
        q.set_dst_addr(Ipv4Addr::new(192, 0, 2, 1));
        assert!(q.set_ports(40000, 8080));
        q.fill_checksum();
        assert_eq!(q.ports(), Some((40000, 8080)));
        assert!(checksum::verify(&data[..20]));
        let mut no_ports = [
            0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
        ];
        assert!(!QuotedIpv4::new_checked(&mut no_ports[..])
            .unwrap()
            .set_ports(1, 2));
    }

    #[test]
    fn short_is_truncated() {
        assert_eq!(
            Icmpv4Packet::new_checked(&[8u8, 0, 0][..]).unwrap_err(),
            WireError::Truncated
        );
    }
}
