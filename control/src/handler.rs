//! One admin request in, one response out: the control loop's dispatcher.
//!
//! The control loop (in rvsd, on the main lcore) owns the [`State`] and the
//! [`StatsTable`]; for each request from the admin server it calls
//! [`handle`] and, when [`Handled::changed`] is set, builds a new snapshot
//! ([`State::snapshot`]) and publishes it. What only the daemon knows
//! (ports, link state, neighbours, conns, health) comes through
//! [`DaemonView`].

use crate::admin::{
    AdminError, ConnEntry, Dest, HealthEntry, InterfaceEntry, LocalAddrEntry, NeighbourEntry,
    Request, Response, RouteEntry, Service, ServiceKey,
};
use crate::state::{BaseParts, Change, ServiceEntry, State};
use crate::stats::StatsTable;
use std::cmp::Reverse;
use std::collections::btree_map::{BTreeMap, Entry};
use std::net::Ipv4Addr;

/// What the daemon answers for listings the control core cannot make alone.
pub trait DaemonView {
    /// Conn table capacity (all workers), the "size=" of `-L`.
    fn conn_table_size(&self) -> u32;
    /// The interfaces with link state and counters.
    fn interfaces(&self) -> Vec<InterfaceEntry>;
    /// The routing table.
    fn routes(&self) -> Vec<RouteEntry>;
    /// The neighbour cache, one row per neighbour (see
    /// [`merge_neighbours`] for rows from several workers).
    fn neighbours(&self) -> Result<Vec<NeighbourEntry>, AdminError>;
    /// The conns of every worker (`-L -c`).
    fn conns(&self) -> Result<Vec<ConnEntry>, AdminError>;
    /// Dest health.
    fn health(&self) -> Vec<HealthEntry>;
    /// FullNAT local ports in use from `lip` (all workers).
    fn lports_in_use(&self, lip: Ipv4Addr) -> u32;
}

/// The result of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// What to send back.
    pub response: Response,
    /// The service table changed: build and publish a new snapshot.
    pub changed: bool,
}

impl Handled {
    fn answer(response: Response) -> Self {
        Handled {
            response,
            changed: false,
        }
    }
}

/// The table change a request asks for, if it is one.
pub fn change_of(req: &Request) -> Option<Change> {
    Some(match req {
        Request::AddService(s) => Change::AddService(s.clone()),
        Request::EditService(s) => Change::EditService(s.clone()),
        Request::DelService(k) => Change::DelService(*k),
        Request::Clear => Change::Clear,
        Request::AddDest { service, dest } => Change::AddDest(*service, *dest),
        Request::EditDest { service, dest } => Change::EditDest(*service, *dest),
        Request::DelDest { service, rip, port } => Change::DelDest(*service, *rip, *port),
        Request::SetTimeouts(t) => Change::SetTimeouts(*t),
        _ => return None,
    })
}

/// Answers `req` against the state, the stats and the daemon.
pub fn handle(
    state: &mut State,
    stats: &mut StatsTable,
    view: &dyn DaemonView,
    req: Request,
) -> Handled {
    if let Some(change) = change_of(&req) {
        return match state.apply(&change) {
            Ok(()) => Handled {
                response: Response::Done,
                changed: true,
            },
            Err(e) => Handled::answer(Response::Error(e)),
        };
    }
    let response = match req {
        Request::ListServices { service: None } => Response::Services {
            conn_table_size: view.conn_table_size(),
            services: state.services().map(|s| listed(state, stats, s)).collect(),
        },
        Request::ListServices { service: Some(k) } => match state.service(&k) {
            Some(s) => Response::Services {
                conn_table_size: view.conn_table_size(),
                services: vec![listed(state, stats, s)],
            },
            None => Response::Error(AdminError::NoSuchService),
        },
        Request::Zero { service: None } => {
            stats.zero_all();
            Response::Done
        }
        Request::Zero { service: Some(k) } => match state.service(&k) {
            Some(s) => {
                stats.zero_service(s.id, s.dests.iter().map(|d| d.slot));
                Response::Done
            }
            None => Response::Error(AdminError::NoSuchService),
        },
        Request::GetTimeouts => Response::Timeouts(state.shown_timeouts()),
        Request::ListConns => match view.conns() {
            Ok(c) => Response::Conns(c),
            Err(e) => Response::Error(e),
        },
        Request::ListInterfaces => Response::Interfaces(view.interfaces()),
        Request::ListRoutes => Response::Routes(view.routes()),
        Request::ListNeighbours => match view.neighbours() {
            Ok(n) => Response::Neighbours(n),
            Err(e) => Response::Error(e),
        },
        Request::ListLocalAddrs => Response::LocalAddrs(local_addrs(state, view)),
        Request::HealthStatus => Response::Health(view.health()),
        // Changes were handled above.
        other => Response::Error(AdminError::Internal(format!(
            "request {other:?} reached the listing path"
        ))),
    };
    Handled::answer(response)
}

/// A service as `-L` lists it: settings, counters, rates, dests with their
/// conn counts.
fn listed(state: &State, stats: &StatsTable, s: &ServiceEntry) -> Service {
    let (svc_stats, svc_rates) = stats.service(s.id);
    Service {
        spec: s.spec.clone(),
        stats: svc_stats,
        rates: svc_rates,
        dests: s
            .dests
            .iter()
            .map(|d| {
                let (active, inactive) = state
                    .counts()
                    .load(usize::try_from(d.slot).unwrap_or(usize::MAX));
                let (st, rt) = stats.dest(d.slot, state.slot_epoch(d.slot));
                Dest {
                    spec: d.spec,
                    active_conns: active,
                    inact_conns: inactive,
                    persist_conns: stats.persist_conns(d.slot),
                    stats: st,
                    rates: rt,
                }
            })
            .collect(),
    }
}

/// One row per neighbour from the workers' rows (every worker keeps its own
/// table, so one neighbour may come from several): the row that knows a MAC
/// wins over one still resolving, then the freshest (smallest age). Sorted
/// by interface, then address.
pub fn merge_neighbours(rows: impl IntoIterator<Item = NeighbourEntry>) -> Vec<NeighbourEntry> {
    let rank = |n: &NeighbourEntry| (n.mac.is_some(), Reverse(n.age_secs));
    let mut best: BTreeMap<(String, Ipv4Addr), NeighbourEntry> = BTreeMap::new();
    for row in rows {
        match best.entry((row.interface.clone(), row.ip)) {
            Entry::Vacant(v) => {
                v.insert(row);
            }
            Entry::Occupied(mut o) => {
                if rank(&row) > rank(o.get()) {
                    o.insert(row);
                }
            }
        }
    }
    best.into_values().collect()
}

/// The FullNAT local addresses, each against every service with a FullNAT
/// dest (the pool is shared by all of them).
fn local_addrs(state: &State, view: &dyn DaemonView) -> Vec<LocalAddrEntry> {
    let users: Vec<ServiceKey> = state
        .services()
        .filter(|s| {
            s.dests
                .iter()
                .any(|d| d.spec.fwd == crate::admin::FwdMethod::FullNat)
        })
        .map(|s| s.spec.key)
        .collect();
    let mut out = Vec::new();
    for lip in state.laddrs() {
        let in_use = view.lports_in_use(*lip);
        for k in &users {
            out.push(LocalAddrEntry {
                service: *k,
                lip: *lip,
                ports_in_use: in_use,
            });
        }
    }
    out
}

/// The interfaces of the base parts as `-L --interfaces` rows, for a
/// [`DaemonView`] that has no link state or counters to add.
pub fn interface_entries(base: &BaseParts) -> Vec<InterfaceEntry> {
    base.interfaces
        .iter()
        .map(|i| InterfaceEntry {
            name: i.name.clone(),
            port: i.port,
            mac: i.mac.octets(),
            mtu: i.mtu,
            link_up: true,
            addrs: i.addrs.iter().map(|c| (c.addr, c.prefix_len)).collect(),
            rx_packets: 0,
            tx_packets: 0,
            dropped: 0,
        })
        .collect()
}

/// The connected and static routes of the base parts as `-L --routes`
/// rows (connected routes first, as the route table holds them).
pub fn route_entries(base: &BaseParts) -> Vec<RouteEntry> {
    let name = |port: u16| {
        base.interfaces
            .iter()
            .find(|i| i.port == port)
            .map_or_else(|| format!("port{port}"), |i| i.name.clone())
    };
    let connected = base.interfaces.iter().flat_map(|i| {
        i.addrs.iter().map(|c| RouteEntry {
            prefix: c.network(),
            prefix_len: c.prefix_len,
            gateway: None,
            interface: i.name.clone(),
        })
    });
    connected
        .chain(base.routes.iter().map(|r| RouteEntry {
            prefix: r.prefix.network(),
            prefix_len: r.prefix.prefix_len,
            gateway: r.gateway,
            interface: name(r.port),
        }))
        .collect()
}

#[cfg(test)]
mod tests;
