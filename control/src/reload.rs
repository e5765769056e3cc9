//! Applying the services of the RON config to the [`State`]: at start, and on
//! SIGHUP as a difference against the config that was applied before.
//!
//! A config is turned into the requests `rvsadm` would send (`-A`, `-a`,
//! `--set`), so the config and the admin socket share one validation path,
//! and every error names the service (and dest) it is about. A reload
//! touches only what differs between the old and the new config, so an
//! unchanged service keeps its scheduler seed, its dest slots and its
//! stats, and services added with `rvsadm` (in neither config) stay. It is
//! all or nothing: the changes are applied to a copy of the state, which
//! replaces the running one only when every change succeeded.

use crate::admin::{
    AdminError, DestSpec, FwdMethod, PersistMask, Protocol, SchedFlags as AdminFlags, ServiceKey,
    ServiceSpec, Timeouts,
};
use crate::config::{Config, MethodConfig, ProtocolConfig, ServiceConfig};
use crate::state::{dest_label, key_label, State};
use dataplane::addr::Ipv4Cidr;
use dataplane::conn::Proto;
use dataplane::sched::{SchedFlags, SchedKind};
use dataplane::service::MarkRule;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// One service of the config, parsed into admin requests' terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedService {
    /// What `-A` would carry.
    pub spec: ServiceSpec,
    /// What each `-a` would carry, in config order.
    pub dests: Vec<DestSpec>,
    /// The mark rules (mark services only).
    pub rules: Vec<MarkRule>,
}

/// The part of the config the control core's state is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePart {
    /// The services, in config order.
    pub services: Vec<ParsedService>,
    /// FullNAT local addresses.
    pub laddrs: Vec<Ipv4Addr>,
    /// `--set tcp tcpfin udp`.
    pub timeouts: Timeouts,
    /// The `expire_nodest_conn` switch.
    pub expire_nodest_conn: bool,
}

impl Default for ServicePart {
    /// What a state starts with: nothing, kernel default timeouts.
    fn default() -> Self {
        ServicePart {
            services: Vec::new(),
            laddrs: Vec::new(),
            timeouts: Timeouts {
                tcp: 900,
                tcp_fin: 120,
                udp: 300,
            },
            expire_nodest_conn: false,
        }
    }
}

/// What a reload changed, for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReloadSummary {
    /// Services added.
    pub services_added: usize,
    /// Services removed.
    pub services_removed: usize,
    /// Services whose settings changed.
    pub services_changed: usize,
    /// Dests added, removed or changed.
    pub dests_changed: usize,
    /// Local addresses, timeouts, mark rules or `expire_nodest_conn`
    /// changed.
    pub settings_changed: bool,
}

impl ReloadSummary {
    /// True when the reload changed nothing (no new snapshot needed).
    pub fn is_empty(&self) -> bool {
        *self == ReloadSummary::default()
    }
}

impl ServicePart {
    /// Parses the service-related keys of `config`.
    pub fn from_config(config: &Config) -> Result<ServicePart, String> {
        let mut services = Vec::with_capacity(config.services.len());
        let mut seen = HashMap::new();
        for (i, s) in config.services.iter().enumerate() {
            let p = parse_service(s).map_err(|e| format!("services[{i}]: {e}"))?;
            if let Some(first) = seen.insert(p.spec.key, i) {
                return Err(format!(
                    "services[{i}]: service {} is already defined by services[{first}]",
                    key_label(&p.spec.key)
                ));
            }
            services.push(p);
        }
        let laddrs = config
            .laddrs
            .iter()
            .map(|a| {
                a.parse::<Ipv4Addr>()
                    .map_err(|_| format!("laddrs: `{a}` is not an IPv4 address"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let t = config.timeouts;
        if t.tcp == 0 || t.tcpfin == 0 || t.udp == 0 {
            return Err("timeouts: every timeout must be at least 1 second".into());
        }
        Ok(ServicePart {
            services,
            laddrs,
            timeouts: Timeouts {
                tcp: t.tcp,
                tcp_fin: t.tcpfin,
                udp: t.udp,
            },
            expire_nodest_conn: config.expire_nodest_conn,
        })
    }
}

fn parse_service(s: &ServiceConfig) -> Result<ParsedService, String> {
    let key = match (&s.tcp, &s.udp, s.mark) {
        (Some(a), None, None) => addr_key(Protocol::Tcp, a)?,
        (None, Some(a), None) => addr_key(Protocol::Udp, a)?,
        (None, None, Some(mark)) => ServiceKey::Fwmark { mark, ipv6: false },
        _ => return Err("give exactly one of `tcp`, `udp` or `mark`".into()),
    };
    let label = key_label(&key);
    let at = |e: String| format!("service {label}: {e}");
    if !s.rules.is_empty() && !matches!(key, ServiceKey::Fwmark { .. }) {
        return Err(at("`rules` are for `mark` services only".into()));
    }
    let kind: SchedKind = s
        .scheduler
        .parse()
        .map_err(|e: dataplane::sched::SchedError| at(e.to_string()))?;
    let flags = match &s.sched_flags {
        Some(list) => SchedFlags::parse(list, kind).map_err(|e| at(e.to_string()))?,
        None => SchedFlags::NONE,
    };
    let netmask = match &s.netmask {
        Some(m) => PersistMask::V4(
            m.parse::<Ipv4Addr>()
                .map_err(|_| at(format!("netmask `{m}` is not a dotted IPv4 mask")))?,
        ),
        None => PersistMask::host(false),
    };
    let spec = ServiceSpec {
        key,
        scheduler: s.scheduler.clone(),
        persistent: s.persistent,
        netmask,
        one_packet: false,
        sched_flags: AdminFlags {
            flag1: flags.contains(SchedFlags::FLAG1),
            flag2: flags.contains(SchedFlags::FLAG2),
            flag3: flags.contains(SchedFlags::FLAG3),
        },
    };
    let mut dests = Vec::with_capacity(s.dests.len());
    for d in &s.dests {
        let (rip, port) = match d.rip.parse::<SocketAddr>() {
            Ok(sa) => (sa.ip(), sa.port()),
            Err(_) => (
                d.rip
                    .parse::<IpAddr>()
                    .map_err(|_| at(format!("dest `{}` is not RIP or RIP:port", d.rip)))?,
                key.port(),
            ),
        };
        dests.push(DestSpec {
            rip,
            port,
            fwd: match d.method {
                MethodConfig::Nat => FwdMethod::Masq,
                MethodConfig::Dr => FwdMethod::Route,
                MethodConfig::Tun => FwdMethod::Tunnel,
                MethodConfig::FullNat => FwdMethod::FullNat,
            },
            weight: d.weight,
            u_threshold: d.u_threshold,
            l_threshold: d.l_threshold,
        });
    }
    let mut rules = Vec::with_capacity(s.rules.len());
    if let ServiceKey::Fwmark { mark, .. } = key {
        for r in &s.rules {
            let vaddr = if r.vip.contains('/') {
                r.vip.parse::<Ipv4Cidr>().map_err(|e| at(e.to_string()))?
            } else {
                let a = r
                    .vip
                    .parse::<Ipv4Addr>()
                    .map_err(|_| at(format!("rule vip `{}` is not an IPv4 address", r.vip)))?;
                Ipv4Cidr {
                    addr: a,
                    prefix_len: 32,
                }
            };
            let ports = r
                .ports
                .iter()
                .map(|p| parse_port_range(p).map_err(&at))
                .collect::<Result<Vec<_>, _>>()?;
            rules.push(MarkRule {
                mark,
                vaddr,
                proto: match r.protocol {
                    ProtocolConfig::Tcp => Proto::Tcp,
                    ProtocolConfig::Udp => Proto::Udp,
                },
                ports,
            });
        }
    }
    Ok(ParsedService { spec, dests, rules })
}

fn addr_key(protocol: Protocol, a: &str) -> Result<ServiceKey, String> {
    let sa = a
        .parse::<SocketAddr>()
        .map_err(|_| format!("`{a}` is not VIP:port"))?;
    Ok(ServiceKey::Addr {
        protocol,
        vip: sa.ip(),
        port: sa.port(),
    })
}

fn parse_port_range(p: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let bad = || format!("port `{p}` is not a port or a range like 8000-8099");
    let (lo, hi) = match p.split_once('-') {
        Some((lo, hi)) => (lo.trim(), hi.trim()),
        None => (p.trim(), p.trim()),
    };
    let lo: u16 = lo.parse().map_err(|_| bad())?;
    let hi: u16 = hi.parse().map_err(|_| bad())?;
    if lo > hi {
        return Err(bad());
    }
    Ok(lo..=hi)
}

/// Applies a config's services to a state (at start: the state is empty).
pub fn load(state: &mut State, part: &ServicePart) -> Result<ReloadSummary, String> {
    reload(state, &ServicePart::default(), part)
}

/// Applies the difference between `old` (what was applied before) and `new`
/// to `state`, all or nothing.
pub fn reload(
    state: &mut State,
    old: &ServicePart,
    new: &ServicePart,
) -> Result<ReloadSummary, String> {
    let mut next = state.clone();
    let summary = apply_diff(&mut next, old, new)?;
    *state = next;
    Ok(summary)
}

fn apply_diff(
    st: &mut State,
    old: &ServicePart,
    new: &ServicePart,
) -> Result<ReloadSummary, String> {
    let mut sum = ReloadSummary::default();
    // Local addresses first when there are new ones (FullNAT dests need
    // them), last when they all go (after the dests that used them).
    if !new.laddrs.is_empty() && new.laddrs != old.laddrs {
        st.set_laddrs(new.laddrs.clone())
            .map_err(|e| format!("laddrs: {e}"))?;
    }
    let old_by_key: HashMap<ServiceKey, &ParsedService> =
        old.services.iter().map(|s| (s.spec.key, s)).collect();
    let new_keys: HashMap<ServiceKey, ()> = new.services.iter().map(|s| (s.spec.key, ())).collect();
    for o in &old.services {
        if !new_keys.contains_key(&o.spec.key) {
            match st.del_service(&o.spec.key) {
                // Already gone (deleted with rvsadm): nothing to do.
                Ok(()) | Err(AdminError::NoSuchService) => {}
                Err(e) => return Err(format!("service {}: {e}", key_label(&o.spec.key))),
            }
            sum.services_removed += 1;
        }
    }
    for n in &new.services {
        let key = n.spec.key;
        let label = key_label(&key);
        let at = |e: AdminError| format!("service {label}: {e}");
        let prev = old_by_key.get(&key).copied();
        let exists = st.service(&key).is_some();
        if !exists {
            st.add_service(&n.spec).map_err(at)?;
            sum.services_added += 1;
        } else if prev.map(|p| &p.spec) != Some(&n.spec) {
            st.edit_service(&n.spec).map_err(at)?;
            sum.services_changed += 1;
        }
        let old_dests: &[DestSpec] = prev.map_or(&[], |p| &p.dests);
        for od in old_dests {
            if !n.dests.iter().any(|d| d.rip == od.rip && d.port == od.port) {
                match st.del_dest(&key, od.rip, forced_port(&key, od)) {
                    Ok(()) | Err(AdminError::NoSuchDest) => {}
                    Err(e) => {
                        return Err(format!(
                            "service {label}: dest {}: {e}",
                            dest_label(od.rip, od.port)
                        ))
                    }
                }
                sum.dests_changed += 1;
            }
        }
        // Added in reverse config order, so that the kernel's newest-first
        // list shows the dests in the order the config lists them.
        for d in n.dests.iter().rev() {
            let dat =
                |e: AdminError| format!("service {label}: dest {}: {e}", dest_label(d.rip, d.port));
            let before = old_dests
                .iter()
                .find(|od| od.rip == d.rip && od.port == d.port);
            let present = st
                .service(&key)
                .and_then(|s| s.dest(d.rip, forced_port(&key, d)))
                .is_some();
            if !present {
                st.add_dest(&key, d).map_err(dat)?;
                sum.dests_changed += 1;
            } else if before != Some(d) {
                st.edit_dest(&key, d).map_err(dat)?;
                sum.dests_changed += 1;
            }
        }
        if n.rules != prev.map_or(Vec::new(), |p| p.rules.clone()) {
            if let ServiceKey::Fwmark { mark, .. } = key {
                st.set_mark_rules(mark, n.rules.clone());
                sum.settings_changed = true;
            }
        }
    }
    // Rules of mark services that left the config.
    let new_marks: BTreeMap<u32, ()> = new
        .services
        .iter()
        .filter_map(|s| match s.spec.key {
            ServiceKey::Fwmark { mark, .. } => Some((mark, ())),
            ServiceKey::Addr { .. } => None,
        })
        .collect();
    for o in &old.services {
        if let ServiceKey::Fwmark { mark, .. } = o.spec.key {
            if !new_marks.contains_key(&mark) {
                st.set_mark_rules(mark, Vec::new());
                sum.settings_changed = true;
            }
        }
    }
    if new.laddrs.is_empty() && !old.laddrs.is_empty() {
        st.set_laddrs(Vec::new())
            .map_err(|e| format!("laddrs: {e}"))?;
    }
    if new.timeouts != old.timeouts {
        st.set_timeouts(new.timeouts)
            .map_err(|e| format!("timeouts: {e}"))?;
        sum.settings_changed = true;
    }
    sum.settings_changed |=
        new.laddrs != old.laddrs || new.expire_nodest_conn != old.expire_nodest_conn;
    st.set_expire_nodest_conn(new.expire_nodest_conn);
    Ok(sum)
}

/// The port a dest is kept under: DR and TUN dests of address services take
/// the virtual port.
fn forced_port(key: &ServiceKey, d: &DestSpec) -> u16 {
    match key {
        ServiceKey::Addr { port, .. } if d.fwd.keeps_port() => *port,
        _ => d.port,
    }
}

#[cfg(test)]
mod tests;
