//! `TCP_CHECK`: the dest is up when a TCP connect to it completes within
//! `connect_timeout` (keepalived closes the connection at once).

use super::machine::ProbeResult;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Connects to `target` within `timeout`.
pub fn probe(target: SocketAddr, timeout: Duration) -> ProbeResult {
    match TcpStream::connect_timeout(&target, timeout) {
        Ok(_) => ProbeResult::up(),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            ProbeResult::down(format!("TCP connect to {target} timed out"))
        }
        Err(e) => ProbeResult::down(format!("TCP connect to {target} failed: {e}")),
    }
}
