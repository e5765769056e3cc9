//! Conn table behaviour through its public API: lookups in both directions,
//! removal, a full table, no growth under churn, bursts, and expiry driven by
//! a virtual clock.

use dataplane::conn::{
    ConnConfig, ConnTable, CountChange, Dir, Fwd, InsertError, Proto, TableConfig, TcpFlags,
    TcpState, Tuple, WheelConfig,
};
use dataplane::conn::{ConnState, NewConn};
use dataplane::Time;
use std::net::Ipv4Addr;

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const RIP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const LIP: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 1);

fn conn(fwd: Fwd, i: u32) -> NewConn<Ipv4Addr> {
    #[allow(clippy::cast_possible_truncation)] // i % 50000 fits a port
    let port = (i % 50_000) as u16 + 1024;
    NewConn {
        proto: Proto::Tcp,
        fwd,
        caddr: Ipv4Addr::from(0x6400_0000 + i / 50_000),
        cport: port,
        vaddr: VIP,
        vport: 80,
        laddr: LIP,
        lport: port,
        daddr: RIP,
        dport: 8080,
        service: 1,
        dest: 2,
    }
}

fn in_key(n: &NewConn<Ipv4Addr>) -> Tuple<Ipv4Addr> {
    Tuple {
        proto: n.proto,
        saddr: n.caddr,
        sport: n.cport,
        daddr: n.vaddr,
        dport: n.vport,
    }
}

fn table(capacity: u32) -> ConnTable<Ipv4Addr> {
    ConnTable::new(TableConfig {
        capacity,
        seed: 0x1234,
        wheel: WheelConfig {
            tick_shift: 20,
            slots: 1024,
        },
        start: Time::ZERO,
    })
    .unwrap()
}

#[test]
fn nat_conn_is_found_from_both_directions_then_removed() {
    let cfg = ConnConfig::default();
    let mut t = table(16);
    let n = conn(Fwd::Nat, 1);
    let id = t.insert(&n, Time::ZERO, &cfg).unwrap();
    let hit = t.lookup(&in_key(&n)).unwrap();
    assert_eq!((hit.id, hit.dir), (id, Dir::In));
    // The reply of a NAT conn: RIP:rport -> CIP:cport.
    let reply = Tuple {
        proto: Proto::Tcp,
        saddr: RIP,
        sport: 8080,
        daddr: n.caddr,
        dport: n.cport,
    };
    let hit = t.lookup(&reply).unwrap();
    assert_eq!((hit.id, hit.dir), (id, Dir::Out));
    assert_eq!(t.get(id).unwrap().real(), (RIP, 8080));
    let gone = t.remove(id).unwrap();
    assert_eq!(gone.client(), (n.caddr, n.cport));
    assert!(t.lookup(&in_key(&n)).is_none());
    assert!(t.lookup(&reply).is_none());
    assert!(t.get(id).is_none());
    assert!(t.is_empty());
    assert_eq!(t.index_len(), 0);
}

#[test]
fn fullnat_reply_goes_to_the_lip_and_dr_has_no_out_tuple() {
    let cfg = ConnConfig::default();
    let mut t = table(16);
    let f = conn(Fwd::FullNat, 1);
    let fid = t.insert(&f, Time::ZERO, &cfg).unwrap();
    let reply = Tuple {
        proto: Proto::Tcp,
        saddr: RIP,
        sport: 8080,
        daddr: LIP,
        dport: f.lport,
    };
    assert_eq!(
        t.lookup(&reply).map(|h| (h.id, h.dir)),
        Some((fid, Dir::Out))
    );
    // A NAT-style reply to the client does not match a FullNAT conn.
    assert!(t.lookup(&in_key(&f).reversed()).is_none());

    let d = conn(Fwd::Dr, 2);
    let did = t.insert(&d, Time::ZERO, &cfg).unwrap();
    assert_eq!(t.lookup(&in_key(&d)).map(|h| h.id), Some(did));
    let dr_reply = Tuple {
        proto: Proto::Tcp,
        saddr: RIP,
        sport: 8080,
        daddr: d.caddr,
        dport: d.cport,
    };
    assert!(t.lookup(&dr_reply).is_none());
    assert_eq!(t.index_len(), 3);
}

#[test]
fn taken_tuples_are_refused_and_counted() {
    let cfg = ConnConfig::default();
    let mut t = table(16);
    let a = conn(Fwd::FullNat, 1);
    t.insert(&a, Time::ZERO, &cfg).unwrap();
    assert_eq!(t.insert(&a, Time::ZERO, &cfg), Err(InsertError::Exists));
    // Another client, same LIP:lport towards the same RS: the out tuple clashes.
    let b = NewConn {
        caddr: Ipv4Addr::new(203, 0, 113, 9),
        ..a
    };
    assert_eq!(t.insert(&b, Time::ZERO, &cfg), Err(InsertError::Exists));
    assert_eq!(t.stats().exists, 2);
    assert_eq!(t.len(), 1);
}

#[test]
fn full_table_refuses_new_conns_and_keeps_old_ones() {
    let cfg = ConnConfig::default();
    let mut t = table(100);
    let mut ids = Vec::new();
    for i in 0..100 {
        let id = t.insert(&conn(Fwd::Nat, i), Time::ZERO, &cfg).unwrap();
        t.on_packet(id, Dir::In, TcpFlags::SYN, Time::ZERO, &cfg)
            .unwrap();
        t.on_packet(id, Dir::In, TcpFlags::ACK, Time::ZERO, &cfg)
            .unwrap();
        ids.push(id);
    }
    for i in 100..110 {
        assert_eq!(
            t.insert(&conn(Fwd::Nat, i), Time::ZERO, &cfg),
            Err(InsertError::Full)
        );
    }
    assert_eq!(t.stats().full, 10);
    assert_eq!(t.len(), 100);
    for (i, id) in (0..100).zip(&ids) {
        let hit = t.lookup(&in_key(&conn(Fwd::Nat, i))).unwrap();
        assert_eq!(hit.id, *id);
        assert_eq!(
            t.get(*id).unwrap().state(),
            ConnState::Tcp(TcpState::Established)
        );
    }
}

#[test]
fn capacity_never_grows_under_churn() {
    let cfg = ConnConfig::default();
    let cap = 4096;
    let mut t = table(cap);
    let bytes = t.memory_bytes();
    let index = t.index_bytes();
    let mut live = std::collections::VecDeque::new();
    // Fill, then churn 20 capacities' worth of conns at a full table, the
    // pattern that leaves tombstones in an open-addressing index.
    for round in 0..(cap * 21) {
        if live.len() == cap as usize || (round % 7 == 3 && !live.is_empty()) {
            let id = live.pop_front().unwrap();
            t.remove(id).unwrap();
        }
        let id = t
            .insert(&conn(Fwd::FullNat, round), Time::ZERO, &cfg)
            .unwrap();
        live.push_back(id);
        assert_eq!(t.index_bytes(), index);
    }
    assert_eq!(t.memory_bytes(), bytes);
    assert_eq!(t.capacity(), cap);
    assert_eq!(t.len() as usize, live.len());
}

#[test]
fn burst_lookup_matches_single_lookups() {
    let cfg = ConnConfig::default();
    let mut t = table(200);
    for i in 0..100 {
        t.insert(&conn(Fwd::Nat, i), Time::ZERO, &cfg).unwrap();
    }
    // 70 keys, every other one absent, so chunks of 32 and a tail are used.
    let keys: Vec<_> = (0..70).map(|i| in_key(&conn(Fwd::Nat, i * 2))).collect();
    let mut out = vec![None; keys.len()];
    t.lookup_burst(&keys, &mut out);
    for (k, o) in keys.iter().zip(&out) {
        assert_eq!(*o, t.lookup(k));
    }
    assert_eq!(out.iter().filter(|o| o.is_some()).count(), 50);
}

const SEC: u64 = 1_000_000_000;

#[test]
fn conn_expires_after_its_timeout_unless_refreshed() {
    let cfg = ConnConfig::default();
    // Nanosecond ticks: expiry is exact.
    let mut t: ConnTable<Ipv4Addr> = ConnTable::new(TableConfig {
        capacity: 8,
        seed: 1,
        wheel: WheelConfig {
            tick_shift: 0,
            slots: 1 << 12,
        },
        start: Time::ZERO,
    })
    .unwrap();
    let idle = t.insert(&conn(Fwd::Nat, 1), Time::ZERO, &cfg).unwrap();
    let busy = t.insert(&conn(Fwd::Nat, 2), Time::ZERO, &cfg).unwrap();
    for id in [idle, busy] {
        t.on_packet(id, Dir::In, TcpFlags::SYN, Time::ZERO, &cfg)
            .unwrap();
        t.on_packet(
            id,
            Dir::Out,
            TcpFlags::SYN | TcpFlags::ACK,
            Time::ZERO,
            &cfg,
        )
        .unwrap();
        t.on_packet(id, Dir::In, TcpFlags::ACK, Time::ZERO, &cfg)
            .unwrap();
    }
    // ESTABLISHED: 900 s. The busy conn sees a packet every 100 s.
    let mut gone = Vec::new();
    for step in 1..=9u64 {
        let now = Time::from_nanos(step * 100 * SEC - 1);
        t.on_packet(busy, Dir::In, TcpFlags::ACK, now, &cfg)
            .unwrap();
        t.expire(now, u32::MAX, |c| gone.push(c.client()));
        assert!(gone.is_empty(), "expired early at step {step}");
    }
    t.expire(Time::from_nanos(900 * SEC - 1), u32::MAX, |c| {
        gone.push(c.client())
    });
    assert!(gone.is_empty());
    let mut active_gone = Vec::new();
    t.expire(Time::from_nanos(900 * SEC), u32::MAX, |c| {
        gone.push(c.client());
        active_gone.push(c.counted_active());
    });
    assert_eq!(gone, [(conn(Fwd::Nat, 1).caddr, conn(Fwd::Nat, 1).cport)]);
    assert_eq!(
        active_gone,
        [true],
        "an ESTABLISHED conn leaves its dest's active count"
    );
    assert!(t.get(idle).is_none());
    assert!(t.get(busy).is_some());
    assert_eq!(t.stats().expired, 1);
    // The busy conn's last packet was at 900 s - 1 ns.
    let last = 900 * SEC - 1;
    assert_eq!(
        t.expire(Time::from_nanos(last + 900 * SEC - 1), u32::MAX, |_| ()),
        0
    );
    assert_eq!(
        t.expire(Time::from_nanos(last + 900 * SEC), u32::MAX, |_| ()),
        1
    );
    assert!(t.is_empty());
}

#[test]
fn rst_shortens_the_deadline_at_once() {
    let cfg = ConnConfig::default();
    let mut t = table(8);
    let id = t.insert(&conn(Fwd::Nat, 1), Time::ZERO, &cfg).unwrap();
    t.on_packet(id, Dir::In, TcpFlags::SYN, Time::ZERO, &cfg)
        .unwrap();
    t.on_packet(id, Dir::In, TcpFlags::ACK, Time::ZERO, &cfg)
        .unwrap();
    let tr = t
        .on_packet(id, Dir::Out, TcpFlags::RST, Time::from_secs(1), &cfg)
        .unwrap();
    assert_eq!(tr.to, ConnState::Tcp(TcpState::Close));
    assert_eq!(tr.count, Some(CountChange::BecameInactive));
    assert_eq!(t.get(id).unwrap().expires(), Time::from_secs(11));
    // Gone within a tick (~1 ms here) of 11 s, not at the old 901 s.
    assert_eq!(
        t.expire(Time::from_nanos(11 * SEC - 1), u32::MAX, |_| ()),
        0
    );
    let mut counted_active = None;
    assert_eq!(
        t.expire(Time::from_nanos(11 * SEC + 2_000_000), u32::MAX, |c| {
            counted_active = Some(c.counted_active());
        }),
        1
    );
    assert_eq!(counted_active, Some(false));
}

#[test]
fn expiry_work_per_call_is_bounded() {
    let cfg = ConnConfig::default();
    let mut t = table(2000);
    for i in 0..2000 {
        t.insert(&conn(Fwd::Nat, i), Time::ZERO, &cfg).unwrap(); // NONE: 2 s
    }
    let now = Time::from_secs(3);
    let mut calls = 0;
    while !t.is_empty() {
        let n = t.expire(now, 50, |_| ());
        assert!(n <= 50);
        calls += 1;
        assert!(calls < 1000, "no progress");
    }
    assert!(
        calls >= 40,
        "2000 conns cannot go in fewer than 40 calls of 50"
    );
    assert_eq!(t.stats().expired, 2000);
}
