//! `UDP_CHECK`: send a datagram from a connected socket. An ICMP port
//! unreachable comes back as `ECONNREFUSED` on the next receive of a
//! connected UDP socket (Linux `udp_err`), which is a failure; a reply is a
//! pass (when `require_reply` names bytes, the reply must start with them);
//! silence until the timeout is a pass unless a reply is required.

use super::machine::ProbeResult;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// Probes `target` with `payload`.
pub fn probe(
    target: SocketAddr,
    timeout: Duration,
    payload: &[u8],
    require_reply: Option<&[u8]>,
) -> ProbeResult {
    let bind: SocketAddr = if target.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = match UdpSocket::bind(bind) {
        Ok(s) => s,
        Err(e) => return ProbeResult::down(format!("UDP socket: {e}")),
    };
    if let Err(e) = sock
        .connect(target)
        .and_then(|()| sock.set_read_timeout(Some(timeout)))
    {
        return ProbeResult::down(format!("UDP connect to {target}: {e}"));
    }
    if let Err(e) = sock.send(payload) {
        return ProbeResult::down(format!("UDP send to {target}: {e}"));
    }
    let mut buf = [0u8; 2048];
    match sock.recv(&mut buf) {
        Ok(n) => match require_reply {
            Some(want) if !buf[..n].starts_with(want) => {
                ProbeResult::down(format!("UDP reply from {target} does not match"))
            }
            _ => ProbeResult::up(),
        },
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            ProbeResult::down(format!("UDP {target}: port unreachable"))
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            if require_reply.is_some() {
                ProbeResult::down(format!("UDP {target}: no reply"))
            } else {
                ProbeResult::up()
            }
        }
        Err(e) => ProbeResult::down(format!("UDP {target}: {e}")),
    }
}
