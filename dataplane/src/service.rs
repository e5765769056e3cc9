//! Virtual services and their dests as a worker sees them in a snapshot.
//!
//! A service is matched the way IPVS matches one (`ip_vs_service_find`): a
//! firewall-mark service first (rvs classifies marks itself from
//! [`MarkRule`]s, since there is no iptables to set them), then the exact
//! `(protocol, VIP, port)`, then the VIP's port-0 ("all ports") service. The
//! control core builds [`Services`] once per change; workers only read it.

use crate::addr::Ipv4Cidr;
use crate::conn::{Fwd, Proto};
use crate::sched::{DestSpec, SchedSeed};
use core::fmt;
use core::ops::RangeInclusive;
use core::time::Duration;
use hashbrown::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// What identifies a virtual service (ipvsadm `-t`/`-u` or `-f`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKey {
    /// `-t VIP:port` or `-u VIP:port`; port 0 means every port of the VIP.
    Addr {
        /// TCP or UDP.
        proto: Proto,
        /// The VIP.
        vaddr: IpAddr,
        /// The virtual port (0 = all ports).
        vport: u16,
    },
    /// `-f MARK`: the packets that [`MarkRule`]s give this mark.
    Mark(u32),
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr {
                proto,
                vaddr: IpAddr::V6(a),
                vport,
            } => write!(f, "{proto:?} [{a}]:{vport}"),
            ServiceKey::Addr {
                proto,
                vaddr,
                vport,
            } => write!(f, "{proto:?} {vaddr}:{vport}"),
            ServiceKey::Mark(m) => write!(f, "FWM {m}"),
        }
    }
}

/// One classification rule of a mark service: packets of `proto` to an
/// address in `vaddr` with a destination port in one of `ports` (every port
/// when empty) carry `mark`. Rules are tried in order; the first match wins,
/// as the first matching iptables mangle rule would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkRule {
    /// The mark given.
    pub mark: u32,
    /// Destination prefix (a VIP is a /32).
    pub vaddr: Ipv4Cidr,
    /// Protocol.
    pub proto: Proto,
    /// Destination port ranges; empty = all.
    pub ports: Vec<RangeInclusive<u16>>,
}

impl MarkRule {
    /// True if a packet with this destination matches.
    pub fn matches(&self, proto: Proto, daddr: IpAddr, dport: u16) -> bool {
        let IpAddr::V4(d) = daddr else { return false };
        self.proto == proto
            && self.vaddr.contains(d)
            && (self.ports.is_empty() || self.ports.iter().any(|r| r.contains(&dport)))
    }
}

/// Persistence (`-p timeout -M netmask`): conns from the same client network
/// go to the same dest while a template lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Persistence {
    /// Template timeout after its last conn ends (ipvsadm's default 360 s).
    pub timeout: Duration,
    /// Prefix length of the client network (`-M 255.255.255.0` = 24).
    pub netmask_len: u8,
}

/// A real server of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dest {
    /// RIP.
    pub addr: IpAddr,
    /// Real port (for DR and TUN always the virtual port: no port mapping).
    pub port: u16,
    /// 0..=65535; 0 = quiesced.
    pub weight: u32,
    /// Forwarding method (`-g`, `-i`, `-m`, `--fullnat`).
    pub fwd: Fwd,
    /// Upper conn threshold (`-x`), 0 = none.
    pub u_threshold: u32,
    /// Lower conn threshold (`-y`), 0 = none.
    pub l_threshold: u32,
    /// Stable slot of this dest in the shared conn counters
    /// ([`crate::sched::counts::ConnCounts`]); assigned by the control core
    /// and kept for the dest's life, across snapshots.
    pub slot: u32,
}

/// A virtual service.
#[derive(Debug, Clone)]
pub struct Service {
    /// Stable id given by the control core (stats are kept per id).
    pub id: u32,
    /// How packets find it.
    pub key: ServiceKey,
    /// The scheduler's immutable part, built on the control core.
    pub seed: Arc<SchedSeed>,
    /// `-p`, if set.
    pub persistence: Option<Persistence>,
    /// The dests, in the order the scheduler walks them.
    pub dests: Vec<Dest>,
    /// Weights in dest order (for [`crate::sched::counts::CountedDests`]).
    pub weights: Vec<u32>,
    /// Counter slots in dest order (same).
    pub slots: Vec<usize>,
}

impl Service {
    /// A service; `seed` must have been built from the same dests
    /// ([`Service::dest_specs`]).
    pub fn new(
        id: u32,
        key: ServiceKey,
        seed: Arc<SchedSeed>,
        persistence: Option<Persistence>,
        dests: Vec<Dest>,
    ) -> Self {
        let weights = dests.iter().map(|d| d.weight).collect();
        let slots = dests
            .iter()
            .map(|d| usize::try_from(d.slot).unwrap_or(usize::MAX))
            .collect();
        Service {
            id,
            key,
            seed,
            persistence,
            dests,
            weights,
            slots,
        }
    }

    /// The scheduler's view of the dests (identity and weights), to build a
    /// [`SchedSeed`] on the control core.
    pub fn dest_specs(dests: &[Dest], last_weights: impl Fn(&Dest) -> u32) -> Vec<DestSpec> {
        dests
            .iter()
            .map(|d| DestSpec {
                addr: d.addr,
                port: d.port,
                weight: d.weight,
                last_weight: last_weights(d),
            })
            .collect()
    }
}

/// Why a service table was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceError {
    /// Two services with the same key.
    Duplicate(ServiceKey),
    /// A mark rule names a mark no service has.
    UnknownMark(u32),
    /// A service whose scheduler seed was built for other dests.
    SeedMismatch(ServiceKey),
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::Duplicate(k) => write!(f, "service {k} is defined twice"),
            ServiceError::UnknownMark(m) => {
                write!(f, "a mark rule gives mark {m}, but no service uses -f {m}")
            }
            ServiceError::SeedMismatch(k) => {
                write!(f, "service {k}: scheduler built for other dests")
            }
        }
    }
}

impl std::error::Error for ServiceError {}

/// Every service of a snapshot, indexed for the packet path.
#[derive(Debug, Clone, Default)]
pub struct Services {
    list: Vec<Service>,
    by_addr: HashMap<(Proto, IpAddr, u16), u32>,
    by_mark: HashMap<u32, u32>,
    marks: Vec<MarkRule>,
}

impl Services {
    /// Indexes `list` and `marks`.
    pub fn new(list: Vec<Service>, marks: Vec<MarkRule>) -> Result<Self, ServiceError> {
        let mut by_addr = HashMap::with_capacity(list.len());
        let mut by_mark = HashMap::new();
        for (i, s) in list.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let dup = match s.key {
                ServiceKey::Addr {
                    proto,
                    vaddr,
                    vport,
                } => by_addr.insert((proto, vaddr, vport), i).is_some(),
                ServiceKey::Mark(m) => by_mark.insert(m, i).is_some(),
            };
            if dup {
                return Err(ServiceError::Duplicate(s.key));
            }
            let specs = Service::dest_specs(&s.dests, |d| d.weight);
            let same = s.seed.dests().len() == specs.len()
                && s.seed
                    .dests()
                    .iter()
                    .zip(&specs)
                    .all(|(a, b)| a.addr == b.addr && a.port == b.port && a.weight == b.weight);
            if !same {
                return Err(ServiceError::SeedMismatch(s.key));
            }
        }
        if let Some(r) = marks.iter().find(|r| !by_mark.contains_key(&r.mark)) {
            return Err(ServiceError::UnknownMark(r.mark));
        }
        Ok(Services {
            list,
            by_addr,
            by_mark,
            marks,
        })
    }

    /// The services, in index order.
    pub fn list(&self) -> &[Service] {
        &self.list
    }

    /// Service number `index`.
    pub fn get(&self, index: u32) -> Option<&Service> {
        self.list.get(usize::try_from(index).ok()?)
    }

    /// The mark rules.
    pub fn marks(&self) -> &[MarkRule] {
        &self.marks
    }

    /// True if some service or mark rule covers `daddr` (for ARP and for
    /// answering ICMP echo to VIPs).
    pub fn is_vip(&self, daddr: IpAddr) -> bool {
        self.list
            .iter()
            .any(|s| matches!(s.key, ServiceKey::Addr { vaddr, .. } if vaddr == daddr))
            || self.marks.iter().any(
                |r| matches!(daddr, IpAddr::V4(d) if r.vaddr.prefix_len == 32 && r.vaddr.addr == d),
            )
    }

    /// The service a new conn to `daddr:dport` over `proto` belongs to, as
    /// IPVS finds it: mark, exact, then port 0.
    pub fn lookup(&self, proto: Proto, daddr: IpAddr, dport: u16) -> Option<(u32, &Service)> {
        let idx = self
            .marks
            .iter()
            .find(|r| r.matches(proto, daddr, dport))
            .and_then(|r| self.by_mark.get(&r.mark))
            .or_else(|| self.by_addr.get(&(proto, daddr, dport)))
            .or_else(|| self.by_addr.get(&(proto, daddr, 0)))?;
        Some((*idx, self.get(*idx)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::{SchedConfig, SchedKind};
    use std::net::Ipv4Addr;

    fn svc(id: u32, key: ServiceKey, rips: &[[u8; 4]]) -> Service {
        let dests: Vec<Dest> = rips
            .iter()
            .enumerate()
            .map(|(i, r)| Dest {
                addr: IpAddr::V4(Ipv4Addr::from(*r)),
                port: 80,
                weight: 1,
                fwd: Fwd::Nat,
                u_threshold: 0,
                l_threshold: 0,
                slot: u32::try_from(i).unwrap(),
            })
            .collect();
        let seed = SchedSeed::new(
            SchedConfig::new(SchedKind::Rr),
            &Service::dest_specs(&dests, |d| d.weight),
        )
        .unwrap();
        Service::new(id, key, Arc::new(seed), None, dests)
    }

    fn vip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, 1, last))
    }

    #[test]
    fn lookup_order_is_mark_exact_then_port_zero() {
        let exact = ServiceKey::Addr {
            proto: Proto::Tcp,
            vaddr: vip(1),
            vport: 80,
        };
        let all = ServiceKey::Addr {
            proto: Proto::Tcp,
            vaddr: vip(1),
            vport: 0,
        };
        let mark = ServiceKey::Mark(7);
        let rule = MarkRule {
            mark: 7,
            vaddr: "198.18.1.0/24".parse().unwrap(),
            proto: Proto::Tcp,
            ports: vec![443..=443, 8000..=8099],
        };
        let s = Services::new(
            vec![
                svc(1, exact, &[[10, 0, 0, 1]]),
                svc(2, all, &[[10, 0, 0, 2]]),
                svc(3, mark, &[[10, 0, 0, 3]]),
            ],
            vec![rule],
        )
        .unwrap();
        assert_eq!(s.lookup(Proto::Tcp, vip(1), 80).unwrap().1.id, 1);
        assert_eq!(s.lookup(Proto::Tcp, vip(1), 22).unwrap().1.id, 2);
        assert_eq!(s.lookup(Proto::Tcp, vip(1), 443).unwrap().1.id, 3);
        assert_eq!(s.lookup(Proto::Tcp, vip(9), 8050).unwrap().1.id, 3);
        assert!(s.lookup(Proto::Udp, vip(1), 80).is_none());
        assert!(s.lookup(Proto::Tcp, vip(9), 80).is_none());
        assert!(s.is_vip(vip(1)));
        assert!(!s.is_vip(vip(9)));
    }

    #[test]
    fn refuses_duplicates_unknown_marks_and_stale_seeds() {
        let k = ServiceKey::Addr {
            proto: Proto::Udp,
            vaddr: vip(1),
            vport: 53,
        };
        let e = Services::new(
            vec![svc(1, k, &[[10, 0, 0, 1]]), svc(2, k, &[[10, 0, 0, 2]])],
            vec![],
        )
        .unwrap_err();
        assert_eq!(e, ServiceError::Duplicate(k));
        let rule = MarkRule {
            mark: 9,
            vaddr: "198.18.1.1/32".parse().unwrap(),
            proto: Proto::Tcp,
            ports: vec![],
        };
        assert_eq!(
            Services::new(vec![], vec![rule]).unwrap_err(),
            ServiceError::UnknownMark(9)
        );
        let mut stale = svc(1, k, &[[10, 0, 0, 1]]);
        stale.dests[0].weight = 5;
        assert_eq!(
            Services::new(vec![stale], vec![]).unwrap_err(),
            ServiceError::SeedMismatch(k)
        );
    }
}
