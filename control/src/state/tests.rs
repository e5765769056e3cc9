//! Every change's IPVS semantics and errors, slot handling, and snapshot
//! building with seed reuse.

use super::*;
use crate::admin::SchedFlags as AdminFlags;
use dataplane::sched::counts::ConnClass;

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn tcp(port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        vip: v4(198, 18, 1, 1),
        port,
    }
}

fn spec(key: ServiceKey, sched: &str) -> ServiceSpec {
    ServiceSpec {
        key,
        scheduler: sched.into(),
        persistent: None,
        netmask: PersistMask::host(false),
        one_packet: false,
        sched_flags: AdminFlags::default(),
    }
}

fn dest(last: u8, port: u16, fwd: FwdMethod, weight: u32) -> DestSpec {
    DestSpec {
        rip: v4(10, 0, 0, last),
        port,
        fwd,
        weight,
        u_threshold: 0,
        l_threshold: 0,
    }
}

fn state() -> State {
    State::new(Limits {
        workers: 2,
        max_dests: 4,
    })
}

fn with_service() -> State {
    let mut s = state();
    s.add_service(&spec(tcp(80), "rr")).unwrap();
    s
}

#[test]
fn add_edit_delete_service_with_ipvs_errors() {
    let mut s = with_service();
    assert_eq!(
        s.add_service(&spec(tcp(80), "wlc")),
        Err(AdminError::ServiceExists)
    );
    assert_eq!(
        s.add_service(&spec(tcp(81), "nope")),
        Err(AdminError::SchedulerNotFound)
    );
    assert_eq!(
        s.edit_service(&spec(tcp(81), "rr")),
        Err(AdminError::NoSuchService)
    );
    assert_eq!(
        s.edit_service(&spec(tcp(80), "nope")),
        Err(AdminError::SchedulerNotFound)
    );
    s.edit_service(&spec(tcp(80), "wlc")).unwrap();
    assert_eq!(s.service(&tcp(80)).unwrap().spec.scheduler, "wlc");
    assert_eq!(
        s.seed_kind(&tcp(80)),
        Some(SchedKind::Wlc),
        "the seed follows -E -s"
    );
    assert_eq!(s.del_service(&tcp(81)), Err(AdminError::NoSuchService));
    s.del_service(&tcp(80)).unwrap();
    assert_eq!(s.service_count(), 0);
}

impl State {
    fn seed_kind(&self, key: &ServiceKey) -> Option<SchedKind> {
        Some(self.service(key)?.seed.config().kind)
    }
}

#[test]
fn service_validation_refuses_and_changes_nothing() {
    let mut s = state();
    let zero = s.add_service(&spec(tcp(0), "rr")).unwrap_err();
    assert_eq!(
        zero.to_string(),
        "Zero port specified for non-persistent service"
    );
    let mut p = spec(tcp(0), "rr");
    p.persistent = Some(360);
    p.netmask = PersistMask::V4(Ipv4Addr::new(255, 255, 255, 0));
    s.add_service(&p).unwrap();
    let mut bad = spec(tcp(1), "rr");
    bad.persistent = Some(0);
    assert!(matches!(s.add_service(&bad), Err(AdminError::Invalid(_))));
    bad.persistent = Some(MAX_TIMEOUT + 1);
    assert!(matches!(s.add_service(&bad), Err(AdminError::Invalid(_))));
    bad.persistent = Some(10);
    bad.netmask = PersistMask::V4(Ipv4Addr::new(255, 0, 255, 0));
    assert!(matches!(s.add_service(&bad), Err(AdminError::Invalid(_))));
    let mut ops = spec(tcp(2), "rr");
    ops.one_packet = true;
    assert!(matches!(
        s.add_service(&ops),
        Err(AdminError::Unsupported(_))
    ));
    let v6 = ServiceKey::Addr {
        protocol: Protocol::Udp,
        vip: "2001:db8::1".parse().unwrap(),
        port: 53,
    };
    assert!(matches!(
        s.add_service(&spec(v6, "rr")),
        Err(AdminError::Unsupported(_))
    ));
    let mark0 = ServiceKey::Fwmark {
        mark: 0,
        ipv6: false,
    };
    assert!(matches!(
        s.add_service(&spec(mark0, "rr")),
        Err(AdminError::Invalid(_))
    ));
    assert_eq!(s.service_count(), 1, "refused requests change nothing");
    let snap = s.snapshot(1, &BaseParts::default()).unwrap();
    let svc = &snap.services.list()[0];
    assert_eq!(
        svc.persistence,
        Some(Persistence {
            timeout: Duration::from_secs(360),
            netmask_len: 24
        })
    );
}

#[test]
fn dest_add_edit_delete_with_ipvs_errors() {
    let mut s = with_service();
    let missing = tcp(81);
    let d = dest(2, 8080, FwdMethod::Masq, 3);
    assert_eq!(s.add_dest(&missing, &d), Err(AdminError::ServiceNotDefined));
    assert_eq!(
        s.edit_dest(&missing, &d),
        Err(AdminError::ServiceNotDefined)
    );
    assert_eq!(
        s.del_dest(&missing, d.rip, d.port),
        Err(AdminError::ServiceNotDefined)
    );
    assert_eq!(s.edit_dest(&tcp(80), &d), Err(AdminError::NoSuchDest));
    assert_eq!(
        s.del_dest(&tcp(80), d.rip, d.port),
        Err(AdminError::NoSuchDest)
    );
    s.add_dest(&tcp(80), &d).unwrap();
    assert_eq!(s.add_dest(&tcp(80), &d), Err(AdminError::DestExists));
    // -e replaces every field.
    let e = DestSpec {
        weight: 1,
        u_threshold: 100,
        l_threshold: 50,
        ..d
    };
    s.edit_dest(&tcp(80), &e).unwrap();
    let got = s.service(&tcp(80)).unwrap().dest(d.rip, 8080).unwrap();
    assert_eq!(got.spec, e);
    assert_eq!(got.last_weight, 1);
    s.del_dest(&tcp(80), d.rip, 8080).unwrap();
    assert!(s.service(&tcp(80)).unwrap().dests.is_empty());
}

#[test]
fn dest_validation() {
    let mut s = with_service();
    let k = tcp(80);
    let bad_weight = dest(2, 80, FwdMethod::Masq, MAX_WEIGHT + 1);
    assert_eq!(
        s.add_dest(&k, &bad_weight).unwrap_err().to_string(),
        "illegal weight specified"
    );
    let mut thr = dest(2, 80, FwdMethod::Masq, 1);
    thr.l_threshold = 10;
    thr.u_threshold = 5;
    assert!(matches!(s.add_dest(&k, &thr), Err(AdminError::Invalid(_))));
    thr.u_threshold = 0;
    assert!(
        matches!(s.add_dest(&k, &thr), Err(AdminError::Invalid(_))),
        "the kernel's -ERANGE also when only -y is set"
    );
    let mut bcast = dest(2, 80, FwdMethod::Masq, 1);
    bcast.rip = IpAddr::V4(Ipv4Addr::BROADCAST);
    assert!(matches!(
        s.add_dest(&k, &bcast),
        Err(AdminError::Invalid(_))
    ));
    let full = dest(2, 80, FwdMethod::FullNat, 1);
    assert!(matches!(
        s.add_dest(&k, &full),
        Err(AdminError::Unsupported(_))
    ));
    s.set_laddrs(vec![Ipv4Addr::new(10, 0, 9, 1)]).unwrap();
    s.add_dest(&k, &full).unwrap();
    assert!(
        s.set_laddrs(vec![]).is_err(),
        "cannot take the LIPs from a FullNAT dest"
    );
    assert_eq!(s.laddrs().len(), 1);
}

#[test]
fn dr_and_tun_take_the_virtual_port_except_for_marks() {
    let mut s = with_service();
    s.add_dest(&tcp(80), &dest(2, 8080, FwdMethod::Route, 1))
        .unwrap();
    s.add_dest(&tcp(80), &dest(3, 8080, FwdMethod::Tunnel, 1))
        .unwrap();
    s.add_dest(&tcp(80), &dest(4, 8080, FwdMethod::Masq, 1))
        .unwrap();
    let svc = s.service(&tcp(80)).unwrap();
    let ports: Vec<u16> = svc.dests.iter().map(|d| d.spec.port).collect();
    // Newest first, as the kernel's list_add.
    assert_eq!(ports, [8080, 80, 80]);
    assert_eq!(svc.dests[0].spec.rip, v4(10, 0, 0, 4));
    let mark = ServiceKey::Fwmark {
        mark: 7,
        ipv6: false,
    };
    s.add_service(&spec(mark, "rr")).unwrap();
    s.add_dest(&mark, &dest(2, 8080, FwdMethod::Route, 1))
        .unwrap();
    assert_eq!(s.service(&mark).unwrap().dests[0].spec.port, 8080);
}

#[test]
fn last_weight_is_the_last_non_zero_weight() {
    let mut s = state();
    s.add_service(&spec(tcp(80), "mh")).unwrap();
    let d = dest(2, 80, FwdMethod::Route, 7);
    s.add_dest(&tcp(80), &d).unwrap();
    s.edit_dest(&tcp(80), &DestSpec { weight: 0, ..d }).unwrap();
    // Seeds are rebuilt lazily, before a snapshot.
    s.refresh_seeds().unwrap();
    let svc = s.service(&tcp(80)).unwrap();
    assert_eq!(svc.dests[0].last_weight, 7);
    assert_eq!(svc.seed.dests()[0].last_weight, 7);
    assert_eq!(svc.seed.dests()[0].weight, 0);
}

#[test]
fn slots_are_stable_trashed_and_revived() {
    let mut s = with_service();
    let k = tcp(80);
    for i in 1..=4 {
        s.add_dest(&k, &dest(i, 80, FwdMethod::Route, 1)).unwrap();
    }
    let slot_of = |s: &State, i: u8| {
        s.service(&k)
            .unwrap()
            .dest(v4(10, 0, 0, i), 80)
            .unwrap()
            .slot
    };
    assert_eq!(slot_of(&s, 1), 0);
    assert_eq!(slot_of(&s, 4), 3);
    assert!(matches!(
        s.add_dest(&k, &dest(9, 80, FwdMethod::Route, 1)),
        Err(AdminError::Unsupported(_))
    ));
    // A dest with a live conn is deleted: its slot stays taken.
    s.counts().bind(1, 1, ConnClass::Active);
    s.del_dest(&k, v4(10, 0, 0, 2), 80).unwrap();
    assert!(s.add_dest(&k, &dest(9, 80, FwdMethod::Route, 1)).is_err());
    // Re-adding the same dest revives it with its slot, like the trash.
    s.add_dest(&k, &dest(2, 80, FwdMethod::Route, 1)).unwrap();
    assert_eq!(slot_of(&s, 2), 1);
    s.del_dest(&k, v4(10, 0, 0, 2), 80).unwrap();
    // Once its conn is gone the slot is free for another dest.
    s.counts().unbind(1, 1, ConnClass::Active);
    let epoch = s.slot_epoch(1);
    s.add_dest(&k, &dest(9, 80, FwdMethod::Route, 1)).unwrap();
    assert_eq!(slot_of(&s, 9), 1);
    assert_eq!(
        s.slot_epoch(1),
        epoch + 1,
        "a new dest restarts the slot's stats"
    );
    // Deleting the service trashes all its dests; free slots come back.
    s.del_service(&k).unwrap();
    s.purge_trash();
    assert_eq!(s.free_slots(), 4);
}

#[test]
fn clear_and_timeouts() {
    let mut s = with_service();
    s.add_service(&spec(tcp(443), "wrr")).unwrap();
    s.clear();
    assert_eq!(s.service_count(), 0);
    s.set_timeouts(Timeouts {
        tcp: 100,
        tcp_fin: 0,
        udp: 30,
    })
    .unwrap();
    assert_eq!(
        s.shown_timeouts(),
        Timeouts {
            tcp: 100,
            tcp_fin: 120,
            udp: 30
        }
    );
    assert!(s
        .set_timeouts(Timeouts {
            tcp: MAX_TIMEOUT + 1,
            tcp_fin: 1,
            udp: 1
        })
        .is_err());
    assert_eq!(s.shown_timeouts().tcp_fin, 120, "refused: nothing changed");
}

#[test]
fn snapshot_reuses_seeds_of_untouched_services() {
    let mut s = with_service();
    s.add_service(&spec(tcp(443), "sh")).unwrap();
    for i in 1..=2 {
        s.add_dest(&tcp(80), &dest(i, 80, FwdMethod::Masq, 1))
            .unwrap();
    }
    let a = s.snapshot(1, &BaseParts::default()).unwrap();
    s.add_dest(&tcp(443), &dest(3, 443, FwdMethod::Route, 1))
        .unwrap();
    let b = s.snapshot(2, &BaseParts::default()).unwrap();
    let seed = |snap: &Snapshot, id: u32| {
        Arc::clone(
            &snap
                .services
                .list()
                .iter()
                .find(|x| x.id == id)
                .unwrap()
                .seed,
        )
    };
    let (id80, id443) = (
        s.service(&tcp(80)).unwrap().id,
        s.service(&tcp(443)).unwrap().id,
    );
    assert!(Arc::ptr_eq(&seed(&a, id80), &seed(&b, id80)));
    assert!(!Arc::ptr_eq(&seed(&a, id443), &seed(&b, id443)));
    assert!(Arc::ptr_eq(&a.counts, &b.counts));
    // An -e that changes only thresholds keeps the seed too.
    let mut d = dest(1, 80, FwdMethod::Masq, 1);
    d.u_threshold = 9;
    s.edit_dest(&tcp(80), &d).unwrap();
    let c = s.snapshot(3, &BaseParts::default()).unwrap();
    assert!(Arc::ptr_eq(&seed(&a, id80), &seed(&c, id80)));
    let svc = c.services.list().iter().find(|x| x.id == id80).unwrap();
    assert_eq!(svc.dests[1].u_threshold, 9);
    assert_eq!(svc.dests[0].fwd, Fwd::Nat);
    assert_eq!(c.generation, 3);
    assert!(c
        .services
        .lookup(Proto::Tcp, v4(198, 18, 1, 1), 443)
        .is_some());
}

#[test]
fn mark_rules_only_with_their_service() {
    let mut s = state();
    let rule = MarkRule {
        mark: 7,
        vaddr: "198.18.2.0/24".parse().unwrap(),
        proto: Proto::Tcp,
        ports: vec![443..=443],
    };
    s.set_mark_rules(7, vec![rule]);
    let snap = s.snapshot(1, &BaseParts::default()).unwrap();
    assert!(snap.services.marks().is_empty());
    let mark = ServiceKey::Fwmark {
        mark: 7,
        ipv6: false,
    };
    s.add_service(&spec(mark, "rr")).unwrap();
    let snap = s.snapshot(2, &BaseParts::default()).unwrap();
    assert_eq!(snap.services.marks().len(), 1);
    assert!(snap
        .services
        .lookup(Proto::Tcp, v4(198, 18, 2, 9), 443)
        .is_some());
}
