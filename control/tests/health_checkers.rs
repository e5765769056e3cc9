//! The checkers against real servers on 127.0.0.1: a TCP listener, a tiny
//! HTTP responder (plain and TLS), UDP echo and silent sockets, a closed UDP
//! port (ICMP port unreachable), scripts with chosen exit statuses.

use control::health::machine::ProbeResult;
use control::health::plan::{Command, Url};
use control::health::{http, misc, ping, tcp, udp};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_millis(500);

fn closed_tcp_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[test]
fn tcp_up_and_down() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    assert!(tcp::probe(l.local_addr().unwrap(), T).ok);
    let r = tcp::probe(closed_tcp_port(), T);
    assert!(!r.ok);
    assert!(r.detail.contains("refused"), "{}", r.detail);
}

/// Serves `response` to every connection after reading the request head.
fn http_server(response: Vec<u8>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let _ = read_head(&mut s);
            let _ = s.write_all(&response);
        }
    });
    addr
}

fn read_head(s: &mut impl Read) -> Vec<u8> {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => got.push(b[0]),
            _ => break,
        }
    }
    got
}

fn response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.0 {status}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn url(path: &str, status: u16, digest: Option<&str>) -> Url {
    Url {
        path: path.into(),
        status_code: status,
        digest: digest.map(str::to_owned),
    }
}

const FOX: &str = "The quick brown fox jumps over the lazy dog";
/// RFC 1321 test-suite style vector (MD5 of FOX).
const FOX_MD5: &str = "9e107d9d372bb6826bd81d3542a419d6";

#[test]
fn md5_matches_known_vectors() {
    assert_eq!(http::md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(http::md5_hex(FOX.as_bytes()), FOX_MD5);
}

#[test]
fn http_status_and_digest() {
    let ok = http_server(response("200 OK", FOX));
    assert!(http::probe(ok, T, false, &[url("/", 200, None)], None).ok);
    assert!(http::probe(ok, T, false, &[url("/", 200, Some(FOX_MD5))], None).ok);
    let bad_digest = http::probe(ok, T, false, &[url("/", 200, Some(&"0".repeat(32)))], None);
    assert!(!bad_digest.ok);
    assert!(bad_digest.detail.contains(FOX_MD5), "{}", bad_digest.detail);
    let wrong_status = http::probe(ok, T, false, &[url("/", 204, None)], None);
    assert!(!wrong_status.ok);
    assert!(wrong_status.detail.contains("status 200, expected 204"));

    let err = http_server(response("503 Service Unavailable", "busy"));
    assert!(!http::probe(err, T, false, &[url("/", 200, None)], None).ok);
    assert!(http::probe(err, T, false, &[url("/", 503, None)], None).ok);
    // Every url must pass.
    assert!(
        !http::probe(
            ok,
            T,
            false,
            &[url("/", 200, None), url("/x", 404, None)],
            None
        )
        .ok
    );
    assert!(!http::probe(closed_tcp_port(), T, false, &[url("/", 200, None)], None).ok);
}

#[test]
fn http_sends_host_and_path() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let head = read_head(&mut s);
        s.write_all(&response("200 OK", "")).unwrap();
        String::from_utf8(head).unwrap()
    });
    assert!(
        http::probe(
            addr,
            T,
            false,
            &[url("/health?x=1", 200, None)],
            Some("www.example")
        )
        .ok
    );
    let head = t.join().unwrap();
    assert!(head.starts_with("GET /health?x=1 HTTP/1.0\r\n"), "{head}");
    assert!(head.contains("\r\nHost: www.example\r\n"), "{head}");
}

#[test]
fn http_silent_server_times_out() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let start = Instant::now();
    let r = http::probe(
        addr,
        Duration::from_millis(300),
        false,
        &[url("/", 200, None)],
        None,
    );
    assert!(!r.ok);
    assert!(r.detail.contains("timed out"), "{}", r.detail);
    assert!(start.elapsed() < Duration::from_secs(2));
    drop(l);
}

#[test]
fn https_with_a_self_signed_certificate() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let cert = CertificateDer::from_pem_file(dir.join("health_tls_cert.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("health_tls_key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, s);
            let _ = read_head(&mut tls);
            let _ = tls.write_all(&response("200 OK", FOX));
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    let r = http::probe(
        addr,
        T * 4,
        true,
        &[url("/", 200, Some(FOX_MD5))],
        Some("rs.example"),
    );
    assert!(r.ok, "{}", r.detail);
    let r = http::probe(addr, T * 4, true, &[url("/", 404, None)], None);
    assert!(!r.ok);
    // A plain HTTP server is not a TLS one.
    let plain = http_server(response("200 OK", FOX));
    assert!(!http::probe(plain, T, true, &[url("/", 200, None)], None).ok);
}

#[test]
fn udp_reply_silence_and_unreachable() {
    let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut b = [0u8; 64];
        while let Ok((n, from)) = echo.recv_from(&mut b) {
            let mut reply = b"pong:".to_vec();
            reply.extend_from_slice(&b[..n]);
            let _ = echo.send_to(&reply, from);
        }
    });
    assert!(udp::probe(echo_addr, T, b"ping", None).ok);
    assert!(udp::probe(echo_addr, T, b"ping", Some(b"pong")).ok);
    assert!(!udp::probe(echo_addr, T, b"ping", Some(b"nope")).ok);

    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let short = Duration::from_millis(200);
    assert!(udp::probe(silent_addr, short, b"x", None).ok);
    assert!(!udp::probe(silent_addr, short, b"x", Some(b"")).ok);

    let closed = {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let r = udp::probe(closed, T, b"x", None);
    assert!(!r.ok);
    assert!(r.detail.contains("unreachable"), "{}", r.detail);
    drop(silent);
}

struct Scripts(PathBuf);

impl Scripts {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("rvs-health-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scripts(d)
    }

    fn script(&self, name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let p = self.0.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.display().to_string()
    }
}

impl Drop for Scripts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn misc_exit_status_and_dynamic_weight() {
    let s = Scripts::new("misc");
    let exit = |code: i32| {
        Command::parse(&s.script(&format!("exit{code}"), &format!("exit {code}"))).unwrap()
    };
    assert!(misc::probe(&exit(0), T * 4, false).ok);
    assert!(!misc::probe(&exit(1), T * 4, false).ok);
    assert!(!misc::probe(&exit(7), T * 4, false).ok);
    assert_eq!(misc::probe(&exit(7), T * 4, true).weight, Some(5));
    assert!(misc::probe(&exit(7), T * 4, true).ok);
    assert!(!misc::probe(&exit(1), T * 4, true).ok);
    assert_eq!(
        misc::probe(&exit(0), T * 4, true),
        ProbeResult::up(),
        "exit 0 keeps the configured weight"
    );
    // Arguments, quoted as keepalived takes them.
    let args = s.script("args", "[ \"$1\" = \"a b\" ] && [ \"$2\" = c ]");
    assert!(
        misc::probe(
            &Command::parse(&format!("{args} \"a b\" c")).unwrap(),
            T * 4,
            false
        )
        .ok
    );
    let slow = Command::parse(&s.script("slow", "sleep 5")).unwrap();
    let start = Instant::now();
    let r = misc::probe(&slow, Duration::from_millis(200), false);
    assert!(!r.ok);
    assert!(r.detail.contains("ran longer"), "{}", r.detail);
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn command_refuses_missing_and_non_executable() {
    let s = Scripts::new("cmd");
    let p = s.0.join("plain");
    std::fs::write(&p, "exit 0").unwrap();
    let e = Command::parse(&p.display().to_string()).unwrap_err();
    assert!(e.contains("not executable"), "{e}");
    let e = Command::parse("/nonexistent/rvs-check.sh").unwrap_err();
    assert!(e.contains("/nonexistent/rvs-check.sh"), "{e}");
    assert!(Command::parse("\"unbalanced").is_err());
    assert!(
        Command::parse("true").is_ok(),
        "bare names are found in PATH"
    );
}

#[test]
fn ping_vectors() {
    // An echo request: type 8, code 0, checksum over the whole message.
    let p = ping::echo_request(0x1234, 7);
    assert_eq!(&p[..2], &[8, 0]);
    assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
    assert_eq!(ping::checksum(&p), 0, "a correct checksum sums to zero");
    // RFC 1071 section 3 example bytes.
    assert_eq!(
        !ping::checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
        0xddf2
    );
    let mut reply = p.clone();
    reply[0] = 0;
    assert!(ping::is_reply(&reply, Some(0x1234), 7));
    assert!(ping::is_reply(&reply, None, 7));
    assert!(!ping::is_reply(&reply, Some(0x1235), 7));
    assert!(!ping::is_reply(&reply, None, 8));
    assert!(!ping::is_reply(&p, None, 7), "a request is not a reply");
}

#[test]
fn ping_loopback() {
    let r = ping::probe("127.0.0.1".parse().unwrap(), Duration::from_secs(1));
    // Without root and without ping sockets the check cannot run; it must
    // then say so rather than claim the dest is down for another reason.
    if r.detail.starts_with("no ICMP socket") {
        assert!(!r.ok);
    } else {
        assert!(r.ok, "{}", r.detail);
    }
}
