//! Host and service name lookups, the way ipvsadm uses them.
//!
//! ipvsadm resolves names in both directions through libc: `gethostbyname`
//! and `getservbyname` for input (`-t www:http`), `gethostbyaddr` and
//! `getservbyport` for output without `-n`. rvsadm has no libc binding (the
//! crate forbids unsafe code), so it does this:
//!
//! - input host names: `/etc/hosts` first, then the system resolver through
//!   `std::net::ToSocketAddrs` (getaddrinfo: nsswitch, DNS). Only IPv4
//!   answers count, as in ipvsadm's `host_to_addr`.
//! - input port names: `/etc/services` for the service's protocol.
//! - output (no `-n`): addresses are named from `/etc/hosts` only (std has no
//!   reverse lookup, so there is no PTR query; an address without an entry
//!   prints numerically, exactly what ipvsadm prints when the lookup fails),
//!   ports from `/etc/services`.
//!
//! Numeric input is parsed like `inet_aton` (so `10.1` and `0x0a000001` are
//! addresses, as for ipvsadm).

use control::admin::Protocol;
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};

/// The lookups the parser and the formatter need.
pub trait Resolver {
    /// Name to IPv4 address (`gethostbyname`).
    fn host_to_addr(&self, name: &str) -> Option<Ipv4Addr>;
    /// Service name to port for a protocol (`getservbyname`).
    fn service_to_port(&self, name: &str, proto: Protocol) -> Option<u16>;
    /// Address to host name (`gethostbyaddr`).
    fn addr_to_host(&self, addr: IpAddr) -> Option<String>;
    /// Port to service name for a protocol (`getservbyport`).
    fn port_to_service(&self, port: u16, proto: Protocol) -> Option<String>;
}

/// Name tables read from hosts(5) and services(5) text, optionally backed by
/// the system resolver for forward host lookups.
#[derive(Debug, Clone, Default)]
pub struct NameDb {
    hosts: Vec<(IpAddr, Vec<String>)>,
    services: Vec<ServiceEntry>,
    system_dns: bool,
}

#[derive(Debug, Clone)]
struct ServiceEntry {
    names: Vec<String>,
    port: u16,
    proto: String,
}

impl NameDb {
    /// Tables from the given hosts(5) and services(5) texts, no DNS.
    pub fn from_texts(hosts: &str, services: &str) -> Self {
        NameDb {
            hosts: parse_hosts(hosts),
            services: parse_services(services),
            system_dns: false,
        }
    }

    /// The system's `/etc/hosts` and `/etc/services` (missing files read as
    /// empty) with forward lookups falling back to the system resolver.
    pub fn system() -> Self {
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let services = std::fs::read_to_string("/etc/services").unwrap_or_default();
        NameDb {
            system_dns: true,
            ..NameDb::from_texts(&hosts, &services)
        }
    }
}

fn strip_comment(line: &str) -> &str {
    line.split('#').next().unwrap_or("")
}

fn parse_hosts(text: &str) -> Vec<(IpAddr, Vec<String>)> {
    text.lines()
        .filter_map(|line| {
            let mut words = strip_comment(line).split_whitespace();
            let addr: IpAddr = words.next()?.parse().ok()?;
            let names: Vec<String> = words.map(str::to_owned).collect();
            (!names.is_empty()).then_some((addr, names))
        })
        .collect()
}

fn parse_services(text: &str) -> Vec<ServiceEntry> {
    text.lines()
        .filter_map(|line| {
            let mut words = strip_comment(line).split_whitespace();
            let name = words.next()?.to_owned();
            let (port, proto) = words.next()?.split_once('/')?;
            let port: u16 = port.parse().ok()?;
            let mut names = vec![name];
            names.extend(words.map(str::to_owned));
            Some(ServiceEntry {
                names,
                port,
                proto: proto.to_owned(),
            })
        })
        .collect()
}

impl Resolver for NameDb {
    fn host_to_addr(&self, name: &str) -> Option<Ipv4Addr> {
        if name.is_empty() {
            return None;
        }
        // glibc's files backend matches the first line naming the host; a
        // line with an IPv6 address does not answer an AF_INET query.
        let from_file = self.hosts.iter().find_map(|(addr, names)| match addr {
            IpAddr::V4(a) if names.iter().any(|n| n.eq_ignore_ascii_case(name)) => Some(*a),
            _ => None,
        });
        if from_file.is_some() || !self.system_dns {
            return from_file;
        }
        (name, 0u16)
            .to_socket_addrs()
            .ok()?
            .find_map(|sa| match sa.ip() {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            })
    }

    fn service_to_port(&self, name: &str, proto: Protocol) -> Option<u16> {
        self.services
            .iter()
            .find(|s| s.proto == proto.service_db_name() && s.names.iter().any(|n| n == name))
            .map(|s| s.port)
    }

    fn addr_to_host(&self, addr: IpAddr) -> Option<String> {
        self.hosts
            .iter()
            .find(|(a, _)| *a == addr)
            .and_then(|(_, names)| names.first().cloned())
    }

    fn port_to_service(&self, port: u16, proto: Protocol) -> Option<String> {
        self.services
            .iter()
            .find(|s| s.port == port && s.proto == proto.service_db_name())
            .and_then(|s| s.names.first().cloned())
    }
}

/// Parses an IPv4 address the way `inet_aton` does: one to four parts, each
/// decimal, octal (leading 0) or hex (leading 0x); the last part fills the
/// remaining bytes ("10.1" is 10.0.0.1).
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut vals = Vec::with_capacity(4);
    for p in &parts {
        vals.push(parse_c_number(p)?);
    }
    let (last, head) = vals.split_last()?;
    let mut out: u32 = 0;
    for (i, v) in head.iter().enumerate() {
        if *v > 0xff {
            return None;
        }
        out |= v << (24 - 8 * i);
    }
    let rest_bits = 32 - 8 * head.len();
    if rest_bits < 32 && u64::from(*last) >= (1u64 << rest_bits) {
        return None;
    }
    Some(Ipv4Addr::from(out | last))
}

/// One `inet_aton` part: decimal, 0-prefixed octal or 0x-prefixed hex.
fn parse_c_number(p: &str) -> Option<u32> {
    if p.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        (h, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    if radix == 16 && digits.is_empty() {
        // inet_aton takes a bare "0x" as zero.
        return Some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &str = "127.0.0.1 localhost\n# comment\n10.0.0.1 www.example.com www\n::1 ip6-localhost\n10.0.0.1 other\n";
    const SERVICES: &str =
        "http 80/tcp www # WorldWideWeb\nhttp 80/udp\ndomain 53/tcp\ndomain 53/udp\nbogus x/tcp\n";

    #[test]
    fn hosts_forward_and_reverse() {
        let db = NameDb::from_texts(HOSTS, SERVICES);
        assert_eq!(db.host_to_addr("www"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(
            db.host_to_addr("WWW.example.com"),
            Some(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(db.host_to_addr("ip6-localhost"), None);
        assert_eq!(db.host_to_addr("nowhere"), None);
        assert_eq!(
            db.addr_to_host(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
                .as_deref(),
            Some("www.example.com")
        );
        assert_eq!(
            db.addr_to_host(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9))),
            None
        );
    }

    #[test]
    fn services_forward_and_reverse() {
        let db = NameDb::from_texts(HOSTS, SERVICES);
        assert_eq!(db.service_to_port("http", Protocol::Tcp), Some(80));
        assert_eq!(db.service_to_port("www", Protocol::Tcp), Some(80));
        assert_eq!(db.service_to_port("www", Protocol::Udp), None);
        assert_eq!(
            db.port_to_service(53, Protocol::Udp).as_deref(),
            Some("domain")
        );
        assert_eq!(db.port_to_service(8080, Protocol::Tcp), None);
    }

    #[test]
    fn inet_aton_forms() {
        assert_eq!(inet_aton("10.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("10.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("10.1.2"), Some(Ipv4Addr::new(10, 1, 0, 2)));
        assert_eq!(inet_aton("167772161"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("0x0a000001"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inet_aton("012.0.0.1"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(
            inet_aton("255.255.255.0"),
            Some(Ipv4Addr::new(255, 255, 255, 0))
        );
        assert_eq!(inet_aton("256.0.0.1"), None);
        assert_eq!(inet_aton("10.256"), Some(Ipv4Addr::new(10, 0, 1, 0)));
        assert_eq!(inet_aton("10.0.0.256"), None);
        assert_eq!(inet_aton("1.2.3.4.5"), None);
        assert_eq!(inet_aton("www"), None);
        assert_eq!(inet_aton(""), None);
        assert_eq!(inet_aton("1..2"), None);
        assert_eq!(inet_aton("08"), None);
    }
}
