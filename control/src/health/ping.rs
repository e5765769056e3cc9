//! `PING_CHECK`: one ICMP echo request (RFC 792), up when the matching echo
//! reply comes back within `connect_timeout`.
//!
//! An unprivileged ping socket (`SOCK_DGRAM`/`IPPROTO_ICMP`, allowed by
//! `net.ipv4.ping_group_range`) is tried first; the kernel then owns the
//! identifier and the checksum. Otherwise a raw ICMP socket, which rvsd has
//! as root; replies then come with their IPv4 header and every ICMP packet
//! to the host, so the identifier is ours to match. Both sockets are
//! connected to the RIP, so the kernel only hands us its packets.

use super::machine::ProbeResult;
use rustix::net::{
    connect, ipproto, recv, send, socket, sockopt, AddressFamily, RecvFlags, SendFlags, SocketType,
};
use std::net::{IpAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// ICMP echo request type.
const ECHO_REQUEST: u8 = 8;
/// ICMP echo reply type.
const ECHO_REPLY: u8 = 0;
/// What rvs puts after the echo header.
const PAYLOAD: &[u8; 16] = b"rvs health ping\0";

static SEQUENCE: AtomicU16 = AtomicU16::new(1);

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(u16::from_be_bytes([*last, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // Folded to 16 bits above.
    !u16::try_from(sum).unwrap_or(0xffff)
}

/// An echo request with this identifier and sequence number.
pub fn echo_request(ident: u16, seq: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + PAYLOAD.len());
    p.extend_from_slice(&[ECHO_REQUEST, 0, 0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// True when `icmp` is the echo reply to our request (`ident` is checked
/// only when given: a ping socket rewrites it).
pub fn is_reply(icmp: &[u8], ident: Option<u16>, seq: u16) -> bool {
    icmp.len() >= 8 + PAYLOAD.len()
        && icmp[0] == ECHO_REPLY
        && icmp[1] == 0
        && ident.map_or(true, |i| icmp[4..6] == i.to_be_bytes())
        && icmp[6..8] == seq.to_be_bytes()
        && icmp[8..8 + PAYLOAD.len()] == PAYLOAD[..]
}

/// Pings `ip` once.
pub fn probe(ip: IpAddr, timeout: Duration) -> ProbeResult {
    let IpAddr::V4(v4) = ip else {
        return ProbeResult::down("PING_CHECK of IPv6 dests is not supported yet");
    };
    let (fd, raw) = match socket(AddressFamily::INET, SocketType::DGRAM, Some(ipproto::ICMP)) {
        Ok(fd) => (fd, false),
        Err(_) => match socket(AddressFamily::INET, SocketType::RAW, Some(ipproto::ICMP)) {
            Ok(fd) => (fd, true),
            Err(e) => {
                return ProbeResult::down(format!(
                    "no ICMP socket ({e}): run as root or allow ping sockets (net.ipv4.ping_group_range)"
                ))
            }
        },
    };
    let deadline = Instant::now() + timeout;
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    // The low bits of the pid tell our raw replies from other pingers'.
    let ident = u16::try_from(std::process::id() & 0xffff).unwrap_or(0);
    if let Err(e) = connect(&fd, &SocketAddrV4::new(v4, 0)) {
        return ProbeResult::down(format!("ping {ip}: {e}"));
    }
    if let Err(e) = send(&fd, &echo_request(ident, seq), SendFlags::empty()) {
        return ProbeResult::down(format!("ping {ip}: {e}"));
    }
    let mut buf = [0u8; 1500];
    loop {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return ProbeResult::down(format!("ping {ip}: no reply"));
        };
        if let Err(e) = sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(left)) {
            return ProbeResult::down(format!("ping {ip}: {e}"));
        }
        let n = match recv(&fd, &mut buf[..], RecvFlags::empty()) {
            Ok((n, _)) => n,
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => continue,
            Err(e) => return ProbeResult::down(format!("ping {ip}: {e}")),
        };
        let packet = &buf[..n];
        let icmp = if raw {
            // Raw IPv4 sockets deliver the IP header: skip IHL words.
            let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
            packet.get(ihl..).unwrap_or(&[])
        } else {
            packet
        };
        if is_reply(icmp, raw.then_some(ident), seq) {
            return ProbeResult::up();
        }
    }
}
