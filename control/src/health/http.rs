//! `HTTP_GET` and `SSL_GET`: for every url, an HTTP/1.0 GET on a fresh
//! connection; the dest passes when each answers with its `status_code`
//! and, when a `digest` is given, a body whose MD5 is that digest (what
//! keepalived's `genhash` prints for the url). The whole exchange of one url
//! is bounded by `connect_timeout`, as keepalived bounds each step by it.

use super::machine::ProbeResult;
use super::plan::Url;
use super::tls;
use md5::{Digest, Md5};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The most of a response read; a bigger one fails the check.
pub const MAX_RESPONSE: usize = 4 << 20;

/// Probes every url of an HTTP (or, with `tls`, HTTPS) check.
pub fn probe(
    target: SocketAddr,
    timeout: Duration,
    tls: bool,
    urls: &[Url],
    virtualhost: Option<&str>,
) -> ProbeResult {
    for url in urls {
        if let Err(e) = get(target, timeout, tls, url, virtualhost) {
            return ProbeResult::down(e);
        }
    }
    ProbeResult::up()
}

/// The lower-case hex MD5 of `body`, as `genhash` prints it.
pub fn md5_hex(body: &[u8]) -> String {
    Md5::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn get(
    target: SocketAddr,
    timeout: Duration,
    tls: bool,
    url: &Url,
    virtualhost: Option<&str>,
) -> Result<(), String> {
    let scheme = if tls { "https" } else { "http" };
    let at = |e: String| format!("{scheme}://{target}{}: {e}", url.path);
    let deadline = Instant::now() + timeout;
    let tcp = TcpStream::connect_timeout(&target, timeout).map_err(|e| at(e.to_string()))?;
    // A second handle on the socket to move its timeouts while a TLS
    // session owns the stream.
    let ctl = tcp.try_clone().map_err(|e| at(e.to_string()))?;
    let host = match virtualhost {
        Some(h) => h.to_owned(),
        None if target.port() == if tls { 443 } else { 80 } => target.ip().to_string(),
        None => target.to_string(),
    };
    let request = format!(
        "GET {} HTTP/1.0\r\nUser-Agent: rvs-health\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        url.path
    );
    let response = if tls {
        let mut s = tls::connect(tcp, virtualhost, target.ip()).map_err(&at)?;
        exchange(&mut s, &ctl, request.as_bytes(), deadline)
    } else {
        let mut s = tcp;
        exchange(&mut s, &ctl, request.as_bytes(), deadline)
    }
    .map_err(&at)?;
    check(&response, url).map_err(at)
}

fn set_timeouts(ctl: &TcpStream, deadline: Instant) -> Result<(), String> {
    let left = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "timed out".to_owned())?;
    ctl.set_read_timeout(Some(left))
        .and_then(|()| ctl.set_write_timeout(Some(left)))
        .map_err(|e| e.to_string())
}

/// Writes the request and reads until the server closes.
fn exchange(
    s: &mut impl ReadWrite,
    ctl: &TcpStream,
    request: &[u8],
    deadline: Instant,
) -> Result<Vec<u8>, String> {
    set_timeouts(ctl, deadline)?;
    s.write_all(request)
        .and_then(|()| s.flush())
        .map_err(|e| io_error(&e))?;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        set_timeouts(ctl, deadline)?;
        match s.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() > MAX_RESPONSE {
                    return Err(format!("response larger than {MAX_RESPONSE} bytes"));
                }
            }
            // A TLS peer that closes without close_notify: HTTP/1.0 ends
            // the body at the close anyway.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(out),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(&e)),
        }
    }
}

fn io_error(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => "timed out".to_owned(),
        _ => e.to_string(),
    }
}

/// A stream of either kind.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Checks a whole response against `url`.
pub fn check(response: &[u8], url: &Url) -> Result<(), String> {
    let (head, body) = split_head(response).ok_or_else(|| {
        if response.is_empty() {
            "empty response".to_owned()
        } else {
            "response has no end of headers".to_owned()
        }
    })?;
    let status_line = head.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let status_line = String::from_utf8_lossy(status_line);
    let mut words = status_line.split_whitespace();
    let status = match (words.next(), words.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => code.parse::<u16>().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("bad status line `{}`", status_line.trim_end()))?;
    if status != url.status_code {
        return Err(format!("status {status}, expected {}", url.status_code));
    }
    if let Some(want) = &url.digest {
        let got = md5_hex(body);
        if got != *want {
            return Err(format!("digest {got}, expected {want}"));
        }
    }
    Ok(())
}

/// Splits at the blank line that ends the headers.
fn split_head(r: &[u8]) -> Option<(&[u8], &[u8])> {
    if let Some(i) = r.windows(4).position(|w| w == b"\r\n\r\n") {
        return Some((&r[..i], &r[i + 4..]));
    }
    r.windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (&r[..i], &r[i + 2..]))
}
