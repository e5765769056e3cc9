//! Requests through the dispatcher, as rvsadm sends them.

use super::*;
use crate::admin::{
    DestSpec, FwdMethod, PersistMask, Protocol, SchedFlags, ServiceSpec, Stats, Timeouts,
};
use crate::state::Limits;
use crate::stats::CounterSample;
use dataplane::sched::counts::ConnClass;
use std::net::{IpAddr, Ipv4Addr};

struct View;

impl DaemonView for View {
    fn conn_table_size(&self) -> u32 {
        4096
    }
    fn interfaces(&self) -> Vec<InterfaceEntry> {
        Vec::new()
    }
    fn routes(&self) -> Vec<RouteEntry> {
        Vec::new()
    }
    fn neighbours(&self) -> Result<Vec<NeighbourEntry>, AdminError> {
        // Two workers' tables, as the daemon merges them.
        Ok(merge_neighbours(
            two_workers_neighbours().into_iter().flatten(),
        ))
    }
    fn conns(&self) -> Result<Vec<ConnEntry>, AdminError> {
        Err(AdminError::Internal("workers busy".into()))
    }
    fn health(&self) -> Vec<HealthEntry> {
        Vec::new()
    }
    fn lports_in_use(&self, _lip: Ipv4Addr) -> u32 {
        3
    }
}

fn key(port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        vip: IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1)),
        port,
    }
}

fn add(port: u16) -> Request {
    Request::AddService(ServiceSpec {
        key: key(port),
        scheduler: "wlc".into(),
        persistent: None,
        netmask: PersistMask::host(false),
        one_packet: false,
        sched_flags: SchedFlags::default(),
    })
}

fn dest(fwd: FwdMethod) -> DestSpec {
    DestSpec {
        rip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        port: 8080,
        fwd,
        weight: 2,
        u_threshold: 0,
        l_threshold: 0,
    }
}

fn run(st: &mut State, stats: &mut StatsTable, req: Request) -> Handled {
    handle(st, stats, &View, req)
}

#[test]
fn changes_report_changed_and_errors_do_not() {
    let mut st = State::new(Limits {
        workers: 2,
        max_dests: 8,
    });
    let mut stats = StatsTable::new();
    let h = run(&mut st, &mut stats, add(80));
    assert_eq!(
        h,
        Handled {
            response: Response::Done,
            changed: true
        }
    );
    let h = run(&mut st, &mut stats, add(80));
    assert_eq!(h.response, Response::Error(AdminError::ServiceExists));
    assert!(!h.changed);
    let h = run(
        &mut st,
        &mut stats,
        Request::AddDest {
            service: key(81),
            dest: dest(FwdMethod::Masq),
        },
    );
    assert_eq!(h.response, Response::Error(AdminError::ServiceNotDefined));
    for req in [
        Request::ListServices {
            service: Some(key(81)),
        },
        Request::Zero {
            service: Some(key(81)),
        },
        Request::DelService(key(81)),
    ] {
        assert_eq!(
            run(&mut st, &mut stats, req).response,
            Response::Error(AdminError::NoSuchService)
        );
    }
    let h = run(
        &mut st,
        &mut stats,
        Request::SetTimeouts(Timeouts {
            tcp: 0,
            tcp_fin: 30,
            udp: 0,
        }),
    );
    assert!(h.changed);
    assert_eq!(
        run(&mut st, &mut stats, Request::GetTimeouts).response,
        Response::Timeouts(Timeouts {
            tcp: 900,
            tcp_fin: 30,
            udp: 300
        })
    );
    assert_eq!(
        run(&mut st, &mut stats, Request::ListConns).response,
        Response::Error(AdminError::Internal("workers busy".into()))
    );
}

#[test]
fn listing_has_everything_ipvsadm_save_and_list_print() {
    let mut st = State::new(Limits {
        workers: 2,
        max_dests: 8,
    });
    let mut stats = StatsTable::new();
    run(&mut st, &mut stats, add(80));
    run(
        &mut st,
        &mut stats,
        Request::AddDest {
            service: key(80),
            dest: dest(FwdMethod::Route),
        },
    );
    let svc = st.service(&key(80)).unwrap();
    let (id, slot) = (svc.id, svc.dests[0].slot);
    st.counts()
        .bind(0, usize::try_from(slot).unwrap(), ConnClass::Active);
    st.counts()
        .bind(1, usize::try_from(slot).unwrap(), ConnClass::Inactive);
    let mut sample = CounterSample::default();
    let c = Stats {
        conns: 4,
        inpkts: 40,
        outpkts: 0,
        inbytes: 4000,
        outbytes: 0,
    };
    sample.add_service(id, &c);
    sample.add_dest(slot, &c);
    // Templates from two workers: 2 and 3 point at the dest.
    sample.add_templates(slot, 2);
    sample.add_templates(slot, 3);
    sample.add_templates(slot + 1, 0);
    stats.record(&sample, &st);
    let Response::Services {
        conn_table_size,
        services,
    } = run(&mut st, &mut stats, Request::ListServices { service: None }).response
    else {
        panic!("not a service list");
    };
    assert_eq!(conn_table_size, 4096);
    assert_eq!(services.len(), 1);
    let s = &services[0];
    assert_eq!(s.spec.scheduler, "wlc");
    assert_eq!(s.stats, c);
    let d = &s.dests[0];
    // -g forces the virtual port, as `ipvsadm -S` would then print it.
    assert_eq!(d.spec.port, 80);
    assert_eq!(d.spec.fwd, FwdMethod::Route);
    assert_eq!(d.spec.weight, 2);
    assert_eq!((d.active_conns, d.inact_conns), (1, 1));
    assert_eq!(d.persist_conns, 5);
    assert_eq!(d.stats, c);
    // -Z of the service zeroes it and its dests.
    let h = run(
        &mut st,
        &mut stats,
        Request::Zero {
            service: Some(key(80)),
        },
    );
    assert_eq!(
        h,
        Handled {
            response: Response::Done,
            changed: false
        }
    );
    let Response::Services { services, .. } = run(
        &mut st,
        &mut stats,
        Request::ListServices {
            service: Some(key(80)),
        },
    )
    .response
    else {
        panic!("not a service list");
    };
    assert_eq!(services[0].stats, Stats::default());
    assert_eq!(services[0].dests[0].stats, Stats::default());
    // PersistConn is a gauge: -Z leaves it, the next sample replaces it.
    assert_eq!(services[0].dests[0].persist_conns, 5);
    let mut later = CounterSample::default();
    later.add_templates(slot, 1);
    stats.record(&later, &st);
    let Response::Services { services, .. } =
        run(&mut st, &mut stats, Request::ListServices { service: None }).response
    else {
        panic!("not a service list");
    };
    assert_eq!(services[0].dests[0].persist_conns, 1);
}

fn neigh(ip: [u8; 4], mac: Option<u8>, interface: &str, state: &str, age: u32) -> NeighbourEntry {
    NeighbourEntry {
        ip: Ipv4Addr::from(ip),
        mac: mac.map(|m| [0x52, 0x54, 0, 0, 0, m]),
        interface: interface.into(),
        state: state.into(),
        age_secs: age,
    }
}

fn two_workers_neighbours() -> [Vec<NeighbourEntry>; 2] {
    [
        vec![
            neigh([10, 0, 0, 12], Some(12), "server", "STALE", 40),
            neigh([10, 0, 0, 11], Some(11), "server", "REACHABLE", 3),
            neigh([10, 0, 0, 13], None, "server", "INCOMPLETE", 0),
            neigh([198, 18, 0, 2], Some(2), "client", "STALE", 9),
        ],
        vec![
            neigh([10, 0, 0, 12], Some(12), "server", "REACHABLE", 1),
            neigh([10, 0, 0, 11], Some(11), "server", "STALE", 35),
            neigh([10, 0, 0, 13], Some(13), "server", "REACHABLE", 20),
        ],
    ]
}

#[test]
fn neighbours_of_all_workers_merge_to_one_row_each() {
    let mut st = State::new(Limits {
        workers: 2,
        max_dests: 8,
    });
    let mut stats = StatsTable::new();
    // Per neighbour: the row with a MAC over one still resolving, then the
    // freshest; sorted by interface and address.
    assert_eq!(
        run(&mut st, &mut stats, Request::ListNeighbours).response,
        Response::Neighbours(vec![
            neigh([198, 18, 0, 2], Some(2), "client", "STALE", 9),
            neigh([10, 0, 0, 11], Some(11), "server", "REACHABLE", 3),
            neigh([10, 0, 0, 12], Some(12), "server", "REACHABLE", 1),
            neigh([10, 0, 0, 13], Some(13), "server", "REACHABLE", 20),
        ])
    );
    // The same address on two interfaces is two neighbours.
    let rows = merge_neighbours([
        neigh([10, 0, 0, 1], Some(1), "a", "STALE", 5),
        neigh([10, 0, 0, 1], Some(2), "b", "STALE", 5),
    ]);
    assert_eq!(rows.len(), 2);
}

#[test]
fn local_addrs_list_each_fullnat_service() {
    let mut st = State::new(Limits {
        workers: 1,
        max_dests: 8,
    });
    let mut stats = StatsTable::new();
    st.set_laddrs(vec![Ipv4Addr::new(198, 18, 0, 100)]).unwrap();
    run(&mut st, &mut stats, add(80));
    run(&mut st, &mut stats, add(81));
    run(
        &mut st,
        &mut stats,
        Request::AddDest {
            service: key(81),
            dest: dest(FwdMethod::FullNat),
        },
    );
    assert_eq!(
        run(&mut st, &mut stats, Request::ListLocalAddrs).response,
        Response::LocalAddrs(vec![LocalAddrEntry {
            service: key(81),
            lip: Ipv4Addr::new(198, 18, 0, 100),
            ports_in_use: 3,
        }])
    );
}

#[test]
fn base_parts_give_interface_and_route_rows() {
    use dataplane::snapshot::Interface;
    use dataplane::stack::route::Route;
    let base = BaseParts {
        interfaces: vec![Interface {
            port: 0,
            name: "lb0".into(),
            mac: "02:00:00:00:00:01".parse().unwrap(),
            mtu: 1500,
            addrs: vec!["198.18.0.1/24".parse().unwrap()],
        }],
        routes: vec![Route {
            prefix: "0.0.0.0/0".parse().unwrap(),
            gateway: Some(Ipv4Addr::new(198, 18, 0, 254)),
            port: 0,
            src: None,
            metric: 0,
        }],
    };
    let r = route_entries(&base);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].prefix, Ipv4Addr::new(198, 18, 0, 0));
    assert_eq!(r[1].gateway, Some(Ipv4Addr::new(198, 18, 0, 254)));
    assert_eq!(r[1].interface, "lb0");
    let i = interface_entries(&base);
    assert_eq!(i[0].addrs, vec![(Ipv4Addr::new(198, 18, 0, 1), 24)]);
}
