//! Output exactly as ipvsadm 1.31 prints it, from the admin model.
//!
//! Every layout here is taken from ipvsadm.c's format strings
//! (`print_title`, `print_service_entry`, `print_largenum`, `print_conn`,
//! `list_timeout`), including their trailing padding: a `-L` dest row ends
//! in `%-10u`, so it carries trailing blanks, as ipvsadm's does.
//!
//! The listing header reads "IP Virtual Server version 1.2.1 (size=N)":
//! rvs implements the IPVS 1.2.1 semantics and scripts match on that line,
//! so the version stays 1.2.1; N is the conn table size rvsd reports (the
//! kernel prints its conn hash table size there).
//!
//! Sorting is ipvsadm's (`ipvs_cmp_services`, `ipvs_cmp_dests`): services by
//! fwmark, family, protocol, address, port; dests by address and port;
//! `--nosort` keeps rvsd's order.

use crate::names::Resolver;
use control::admin::{
    ConnEntry, Dest, FwdMethod, HealthEntry, InterfaceEntry, LocalAddrEntry, NeighbourEntry,
    PersistMask, Protocol, RouteEntry, SchedFlags, Service, ServiceKey, Timeouts,
};
use dataplane::addr::MacAddr;
use std::fmt::Write as _;
use std::net::IpAddr;

/// The IPVS version rvs reports in the listing header.
pub const IPVS_VERSION: &str = "1.2.1";

/// ipvsadm's output options (`FMT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Format {
    /// `-n`: no name lookups.
    pub numeric: bool,
    /// `--stats`.
    pub stats: bool,
    /// `--rate`.
    pub rate: bool,
    /// `--thresholds`.
    pub thresholds: bool,
    /// `--persistent-conn`.
    pub persistent_conn: bool,
    /// `--nosort`.
    pub nosort: bool,
    /// `--exact`: no K/M/G scaling.
    pub exact: bool,
    /// `--tun-info`.
    pub tun_info: bool,
}

/// `addrport_to_anyname`: "addr:port", IPv6 in brackets; without `-n` the
/// host and the port are named where the name tables know them.
pub fn addrport(
    addr: IpAddr,
    port: u16,
    proto: Protocol,
    numeric: bool,
    resolver: &dyn Resolver,
) -> String {
    addrport_of(addr, port, Some(proto), numeric, resolver)
}

/// [`addrport`] for a row that may have no transport protocol (`-L -c`'s
/// IP rows): ipvsadm finds no service name for protocol 0, so the port
/// stays a number while the host is still named.
fn addrport_of(
    addr: IpAddr,
    port: u16,
    proto: Option<Protocol>,
    numeric: bool,
    resolver: &dyn Resolver,
) -> String {
    let host = if numeric {
        addr.to_string()
    } else {
        resolver
            .addr_to_host(addr)
            .unwrap_or_else(|| addr.to_string())
    };
    let port = match proto {
        Some(proto) if !numeric => resolver
            .port_to_service(port, proto)
            .unwrap_or_else(|| port.to_string()),
        _ => port.to_string(),
    };
    if addr.is_ipv6() {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Cuts `s` to at most `max` bytes (ipvsadm writes a NUL at that offset),
/// never inside a character.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// `print_largenum`: 9 columns, scaled to K/M/G/T past 100 million unless
/// `--exact`, which widens the field instead.
pub fn largenum(out: &mut String, n: u64, exact: bool) {
    if exact {
        let len = n.to_string().len();
        let width = if len <= 8 { 9 } else { len + 1 };
        let _ = write!(out, "{n:>width$}");
        return;
    }
    let _ = if n < 100_000_000 {
        write!(out, "{n:>9}")
    } else if n < 1_000_000_000 {
        write!(out, "{:>8}K", n / 1_000)
    } else if n < 100_000_000_000 {
        write!(out, "{:>8}M", n / 1_000_000)
    } else if n < 100_000_000_000_000 {
        write!(out, "{:>8}G", n / 1_000_000_000)
    } else {
        write!(out, "{:>8}T", n / 1_000_000_000_000)
    };
}

/// `print_title`: the two heading lines of a listing (none for `-S`).
pub fn title(f: &Format) -> String {
    let two = |cols: String| format!("{cols}\n  -> RemoteAddress:Port\n");
    if f.stats {
        two(format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        ))
    } else if f.rate {
        two(format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        ))
    } else if f.thresholds {
        two(format!(
            "{:<33} {:<10} {:<10} {:<10} {:<10}",
            "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        ))
    } else if f.persistent_conn {
        two(format!(
            "{:<33} {:<9} {:<11} {:<10} {:<10}",
            "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn"
        ))
    } else if f.tun_info {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n".to_owned()
    } else {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n".to_owned()
    }
}

/// The "IP Virtual Server version ..." line of `-L`.
pub fn header(conn_table_size: u32) -> String {
    format!("IP Virtual Server version {IPVS_VERSION} (size={conn_table_size})\n")
}

/// `print_sched_flags`: the flag names for the service's scheduler.
pub fn sched_flag_names(scheduler: &str, flags: SchedFlags) -> String {
    let mut names: Vec<&str> = Vec::new();
    match scheduler {
        "sh" | "mh" => {
            let (fallback, port) = if scheduler == "sh" {
                ("sh-fallback", "sh-port")
            } else {
                ("mh-fallback", "mh-port")
            };
            if flags.flag1 {
                names.push(fallback);
            }
            if flags.flag2 {
                names.push(port);
            }
        }
        _ => {
            if flags.flag1 {
                names.push("flag-1");
            }
            if flags.flag2 {
                names.push("flag-2");
            }
            if flags.flag3 {
                names.push("flag-3");
            }
        }
    }
    names.join(",")
}

/// The service's name: `-t host:port` style for `-S` (`rule`), else
/// "TCP  host:port" cut to 33 bytes (IPv4) or "FWM  mark".
pub fn service_name(
    key: &ServiceKey,
    rule: bool,
    numeric: bool,
    resolver: &dyn Resolver,
) -> String {
    match *key {
        ServiceKey::Fwmark { mark, ipv6 } => match (rule, ipv6) {
            (true, false) => format!("-f {mark}"),
            (true, true) => format!("-f {mark} -6"),
            (false, false) => format!("FWM  {mark}"),
            (false, true) => format!("FWM  {mark} IPv6"),
        },
        ServiceKey::Addr {
            protocol,
            vip,
            port,
        } => {
            let vname = addrport(vip, port, protocol, numeric, resolver);
            if rule {
                let opt = match protocol {
                    Protocol::Tcp => "-t",
                    Protocol::Udp => "-u",
                };
                format!("{opt} {vname}")
            } else {
                let name = format!("{:<4} {}", protocol.name(), vname);
                if vip.is_ipv6() {
                    name
                } else {
                    truncate(name, 33)
                }
            }
        }
    }
}

fn sorted_dests(dests: &[Dest], nosort: bool) -> Vec<&Dest> {
    let mut v: Vec<&Dest> = dests.iter().collect();
    if !nosort {
        v.sort_by_key(|d| (d.spec.rip, d.spec.port));
    }
    v
}

/// `print_service_entry`: the service line and its dest lines.
pub fn service_entry(
    out: &mut String,
    svc: &Service,
    f: &Format,
    rule: bool,
    resolver: &dyn Resolver,
) {
    let spec = &svc.spec;
    let name = service_name(&spec.key, rule, f.numeric, resolver);
    let v4 = !spec.key.is_ipv6();
    if rule {
        let _ = write!(out, "-A {name} -s {}", spec.scheduler);
        if let Some(timeout) = spec.persistent {
            let _ = write!(out, " -p {timeout}");
            if !spec.netmask.is_host() {
                let _ = write!(out, " -M {}", spec.netmask);
            }
        }
        if spec.one_packet {
            out.push_str(" -o");
        }
        if !spec.sched_flags.is_empty() {
            let _ = write!(
                out,
                " -b {}",
                sched_flag_names(&spec.scheduler, spec.sched_flags)
            );
        }
    } else if f.stats {
        let _ = write!(out, "{name:<33}");
        for n in [
            svc.stats.conns,
            svc.stats.inpkts,
            svc.stats.outpkts,
            svc.stats.inbytes,
            svc.stats.outbytes,
        ] {
            largenum(out, n, f.exact);
        }
    } else if f.rate {
        let _ = write!(out, "{name:<33}");
        for n in [
            svc.rates.cps,
            svc.rates.inpps,
            svc.rates.outpps,
            svc.rates.inbps,
            svc.rates.outbps,
        ] {
            largenum(out, n, f.exact);
        }
    } else {
        let _ = write!(out, "{name} {}", spec.scheduler);
        if !spec.sched_flags.is_empty() {
            let _ = write!(
                out,
                " ({})",
                sched_flag_names(&spec.scheduler, spec.sched_flags)
            );
        }
        if let Some(timeout) = spec.persistent {
            let _ = write!(out, " persistent {timeout}");
            if !spec.netmask.is_host() {
                match spec.netmask {
                    PersistMask::V4(m) if v4 => {
                        let _ = write!(out, " mask {m}");
                    }
                    PersistMask::V6(p) if !v4 => {
                        let _ = write!(out, " mask {p}");
                    }
                    _ => {}
                }
            }
        }
        if spec.one_packet {
            out.push_str(" ops");
        }
    }
    out.push('\n');

    let proto = spec.key.protocol();
    for d in sorted_dests(&svc.dests, f.nosort) {
        let ds = &d.spec;
        let dname = addrport(ds.rip, ds.port, proto, f.numeric, resolver);
        let dname = if !rule && !ds.rip.is_ipv6() {
            truncate(dname, 28)
        } else {
            dname
        };
        if rule {
            let _ = writeln!(
                out,
                "-a {name} -r {dname} {} -w {}",
                ds.fwd.switch(),
                ds.weight
            );
        } else if f.stats {
            let _ = write!(out, "  -> {dname:<28}");
            for n in [
                d.stats.conns,
                d.stats.inpkts,
                d.stats.outpkts,
                d.stats.inbytes,
                d.stats.outbytes,
            ] {
                largenum(out, n, f.exact);
            }
            out.push('\n');
        } else if f.rate {
            // ipvsadm prints the first three dest rates unscaled.
            let _ = write!(
                out,
                "  -> {dname:<28} {:>8} {:>8} {:>8}",
                d.rates.cps, d.rates.inpps, d.rates.outpps
            );
            largenum(out, d.rates.inbps, f.exact);
            largenum(out, d.rates.outbps, f.exact);
            out.push('\n');
        } else if f.thresholds {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                ds.u_threshold, ds.l_threshold, d.active_conns, d.inact_conns
            );
        } else if f.persistent_conn {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
                ds.weight, d.persist_conns, d.active_conns, d.inact_conns
            );
        } else if f.tun_info {
            let info = if ds.fwd == FwdMethod::Tunnel {
                "ipip"
            } else {
                "n/a"
            };
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<13} {:<6} {:<10} {:<10}",
                ds.fwd.name(),
                info,
                ds.weight,
                d.active_conns,
                d.inact_conns
            );
        } else {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                ds.fwd.name(),
                ds.weight,
                d.active_conns,
                d.inact_conns
            );
        }
    }
}

fn sorted_services(services: &[Service], nosort: bool) -> Vec<&Service> {
    let mut v: Vec<&Service> = services.iter().collect();
    if !nosort {
        v.sort_by_key(|s| s.spec.key.sort_key());
    }
    v
}

/// `-L` of every service: header, title, services.
pub fn list_all(
    conn_table_size: u32,
    services: &[Service],
    f: &Format,
    resolver: &dyn Resolver,
) -> String {
    let mut out = header(conn_table_size);
    out.push_str(&title(f));
    for s in sorted_services(services, f.nosort) {
        service_entry(&mut out, s, f, false, resolver);
    }
    out
}

/// `-L -t ...` of one service: title and the service (no header line).
pub fn list_service(svc: &Service, f: &Format, resolver: &dyn Resolver) -> String {
    let mut out = title(f);
    service_entry(&mut out, svc, f, false, resolver);
    out
}

/// `-S [-n]`: the rules that rebuild the table.
pub fn save(services: &[Service], numeric: bool, resolver: &dyn Resolver) -> String {
    let f = Format {
        numeric,
        ..Format::default()
    };
    let mut out = String::new();
    for s in sorted_services(services, false) {
        service_entry(&mut out, s, &f, true, resolver);
    }
    out
}

/// `-L -c`: the conn table.
pub fn conns(conns: &[ConnEntry], f: &Format, resolver: &dyn Resolver) -> String {
    let mut out = String::from("IPVS connection entries\n");
    if f.persistent_conn {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} {:<18} {:<16} pe_data",
            "state", "source", "virtual", "destination", "pe name"
        );
    } else {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} destination",
            "state", "source", "virtual"
        );
    }
    for c in conns {
        // IP rows (mark templates) have no transport to name ports by.
        let name = |a, p| addrport_of(a, p, c.protocol.transport(), f.numeric, resolver);
        let expire = format!("{:02}:{:02}", c.expires / 60, c.expires % 60);
        let _ = writeln!(
            out,
            "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
            c.protocol.name(),
            expire,
            c.state,
            name(c.cip, c.cport),
            name(c.vip, c.vport),
            name(c.rip, c.rport)
        );
    }
    out
}

/// `-L --timeout`.
pub fn timeouts(t: &Timeouts) -> String {
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}\n",
        t.tcp, t.tcp_fin, t.udp
    )
}

/// `-L --interfaces` (rvs).
pub fn interfaces(list: &[InterfaceEntry]) -> String {
    let mut out = format!(
        "{:<16} {:>4} {:<17} {:>5} {:<4} {:>12} {:>12} {:>12} {}\n",
        "Interface", "Port", "MAC", "MTU", "Link", "RxPackets", "TxPackets", "Dropped", "Addresses"
    );
    for i in list {
        let addrs: Vec<String> = i.addrs.iter().map(|(a, l)| format!("{a}/{l}")).collect();
        let _ = writeln!(
            out,
            "{:<16} {:>4} {:<17} {:>5} {:<4} {:>12} {:>12} {:>12} {}",
            i.name,
            i.port,
            MacAddr(i.mac).to_string(),
            i.mtu,
            if i.link_up { "up" } else { "down" },
            i.rx_packets,
            i.tx_packets,
            i.dropped,
            addrs.join(",")
        );
    }
    out
}

/// `-L --routes` (rvs).
pub fn routes(list: &[RouteEntry]) -> String {
    let mut out = format!("{:<18} {:<15} {}\n", "Destination", "Gateway", "Interface");
    for r in list {
        let gw = r.gateway.map_or_else(|| "*".to_owned(), |g| g.to_string());
        let _ = writeln!(
            out,
            "{:<18} {:<15} {}",
            format!("{}/{}", r.prefix, r.prefix_len),
            gw,
            r.interface
        );
    }
    out
}

/// `-L --neighbours` (rvs): one row per neighbour; Age is the seconds since
/// a reply last confirmed it or ARP news last changed it.
pub fn neighbours(list: &[NeighbourEntry]) -> String {
    let mut out = format!(
        "{:<15} {:<17} {:<16} {:<10} {}\n",
        "Address", "HWaddress", "Interface", "State", "Age"
    );
    for n in list {
        let mac = n
            .mac
            .map_or_else(|| "(incomplete)".to_owned(), |m| MacAddr(m).to_string());
        let _ = writeln!(
            out,
            "{:<15} {:<17} {:<16} {:<10} {}",
            n.ip.to_string(),
            mac,
            n.interface,
            n.state,
            n.age_secs
        );
    }
    out
}

/// `-L --laddrs` (rvs): FullNAT local addresses by service.
pub fn local_addrs(list: &[LocalAddrEntry], numeric: bool, resolver: &dyn Resolver) -> String {
    let mut out = format!(
        "{:<33} {:<15} {}\n",
        "Prot LocalAddress:Port", "LocalIP", "PortsInUse"
    );
    let mut rows: Vec<&LocalAddrEntry> = list.iter().collect();
    rows.sort_by_key(|l| (l.service.sort_key(), l.lip));
    for l in rows {
        let _ = writeln!(
            out,
            "{:<33} {:<15} {}",
            service_name(&l.service, false, numeric, resolver),
            l.lip.to_string(),
            l.ports_in_use
        );
    }
    out
}

/// `-L --health` (rvs): dest health by service.
pub fn health(list: &[HealthEntry], numeric: bool, resolver: &dyn Resolver) -> String {
    let mut out = format!(
        "{:<33} {:<28} {:<7} {:<7} {:<6} {}\n",
        "Prot LocalAddress:Port", "RemoteAddress:Port", "Checker", "State", "Streak", "Detail"
    );
    let mut rows: Vec<&HealthEntry> = list.iter().collect();
    rows.sort_by_key(|h| (h.service.sort_key(), h.rip, h.port));
    for h in rows {
        let dname = addrport(h.rip, h.port, h.service.protocol(), numeric, resolver);
        let _ = writeln!(
            out,
            "{:<33} {:<28} {:<7} {:<7} {:<6} {}",
            service_name(&h.service, false, numeric, resolver),
            dname,
            h.checker,
            h.state.name(),
            h.streak,
            h.detail
        );
    }
    out
}
