//! sh, dh and mh: the same key always gets the same dest, fallback flags
//! route around unavailable dests without moving anyone else, and Maglev
//! moves few keys when a dest goes away.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use dataplane::sched::mh::{build_mh_table, MhTable};
use dataplane::sched::twos::XorShift64;
use dataplane::sched::{
    DestSpec, DestView, SchedConfig, SchedFlags, SchedKey, SchedKind, SchedSeed, Scheduler,
};
use dataplane::Time;

fn rip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, u8::try_from(i + 1).unwrap()))
}

fn views(weights: &[u32]) -> Vec<DestView> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| DestView::new(rip(i), 80, w))
        .collect()
}

fn specs(v: &[DestView]) -> Vec<DestSpec> {
    v.iter().map(DestView::spec).collect()
}

fn sched(kind: SchedKind, flags: &str, v: &[DestView]) -> Scheduler {
    let config = SchedConfig::new(kind).with_flags(SchedFlags::parse(flags, kind).unwrap());
    Scheduler::new(Arc::new(SchedSeed::new(config, &specs(v)).unwrap()), 0)
}

fn keys(n: usize, seed: u64) -> Vec<SchedKey> {
    let mut rng = XorShift64::new(seed);
    (0..n)
        .map(|_| {
            let r = rng.next_u64();
            SchedKey {
                caddr: IpAddr::V4(Ipv4Addr::from(u32::try_from(r >> 32).unwrap())),
                cport: u16::try_from(r & 0xffff).unwrap(),
                daddr: IpAddr::V4(Ipv4Addr::from(u32::try_from(r & 0xffff_ffff).unwrap())),
                dport: 80,
            }
        })
        .collect()
}

fn picks(s: &mut Scheduler, v: &[DestView], ks: &[SchedKey]) -> Vec<Option<usize>> {
    ks.iter().map(|k| s.pick(v, k, Time::ZERO)).collect()
}

#[test]
fn same_key_same_dest_and_independent_of_history() {
    let v = views(&[1, 2, 3, 1, 5]);
    let ks = keys(2000, 3);
    for kind in [SchedKind::Sh, SchedKind::Dh, SchedKind::Mh] {
        let mut a = sched(kind, "", &v);
        let mut b = sched(kind, "", &v);
        let first = picks(&mut a, &v, &ks);
        let mut rev: Vec<_> = ks
            .iter()
            .rev()
            .map(|k| b.pick(v.as_slice(), k, Time::ZERO))
            .collect();
        rev.reverse();
        assert_eq!(first, rev, "{kind}: order must not matter");
        assert_eq!(first, picks(&mut a, &v, &ks), "{kind}: repeat must agree");
        assert!(first.iter().all(Option::is_some));
    }
}

#[test]
fn sh_hashes_the_client_and_dh_the_destination() {
    let v = views(&[1, 1, 1, 1, 1, 1, 1, 1]);
    let mut sh = sched(SchedKind::Sh, "", &v);
    let mut dh = sched(SchedKind::Dh, "", &v);
    let mut shp = sched(SchedKind::Sh, "sh-port", &v);
    let base = keys(1, 9)[0];
    let (s0, d0, p0) = (
        sh.pick(v.as_slice(), &base, Time::ZERO),
        dh.pick(v.as_slice(), &base, Time::ZERO),
        shp.pick(v.as_slice(), &base, Time::ZERO),
    );
    let mut port_moved = false;
    for k in keys(500, 10) {
        // Other daddr and port: sh without sh-port does not care.
        let same_client = SchedKey {
            caddr: base.caddr,
            ..k
        };
        assert_eq!(sh.pick(v.as_slice(), &same_client, Time::ZERO), s0);
        // Other client: dh does not care.
        let same_daddr = SchedKey {
            daddr: base.daddr,
            ..k
        };
        assert_eq!(dh.pick(v.as_slice(), &same_daddr, Time::ZERO), d0);
        // With sh-port the client port counts.
        let other_port = SchedKey {
            cport: k.cport,
            ..base
        };
        port_moved |= shp.pick(v.as_slice(), &other_port, Time::ZERO) != p0;
    }
    assert!(port_moved, "sh-port must spread one client's ports");
    // IPv6 clients hash too.
    let k6 = SchedKey {
        caddr: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)),
        ..base
    };
    assert!(sh.pick(v.as_slice(), &k6, Time::ZERO).is_some());
}

#[test]
fn fallback_routes_around_unavailable_dests_and_moves_nobody_else() {
    let ks = keys(5000, 5);
    for (kind, fallback) in [
        (SchedKind::Sh, "sh-fallback"),
        (SchedKind::Mh, "mh-fallback"),
    ] {
        let mut v = views(&[1, 1, 1, 1, 1]);
        let mut plain = sched(kind, "", &v);
        let mut fb = sched(kind, fallback, &v);
        let before = picks(&mut fb, &v, &ks);
        v[1].weight = 0;
        v[3].overloaded = true;
        let after_plain = picks(&mut plain, &v, &ks);
        let after_fb = picks(&mut fb, &v, &ks);
        for ((b, p), f) in before.iter().zip(&after_plain).zip(&after_fb) {
            let b = b.unwrap();
            if b == 1 || b == 3 {
                // Without fallback: no dest; with it: an available one.
                assert_eq!(*p, None, "{kind}");
                let f = f.unwrap();
                assert!(f != 1 && f != 3, "{kind} fell back to an unavailable dest");
            } else {
                assert_eq!(*p, Some(b), "{kind}: others keep their dest");
                assert_eq!(*f, Some(b), "{kind}: others keep their dest");
            }
        }
    }
    // dh has no fallback: an unavailable hashed dest means no dest.
    let mut v = views(&[1, 1]);
    let mut dh = sched(SchedKind::Dh, "", &v);
    v[0].overloaded = true;
    v[1].overloaded = true;
    assert!(picks(&mut dh, &v, &keys(50, 1)).iter().all(Option::is_none));
}

#[test]
fn mh_quiesce_keeps_the_table_so_clients_come_back() {
    // last_weight keeps a quiesced dest's slots: the table is unchanged.
    let mut specs: Vec<DestSpec> = (0..6).map(|i| DestSpec::new(rip(i), 80, 2)).collect();
    let t1 = build_mh_table(&specs, 4093).unwrap();
    specs[2].weight = 0; // last_weight stays 2
    let t2 = build_mh_table(&specs, 4093).unwrap();
    assert_eq!(t1, t2);
}

/// Share of `ks` whose dest (by address) differs between the two tables.
fn moved(
    before: &MhTable,
    bspecs: &[DestSpec],
    after: &MhTable,
    aspecs: &[DestSpec],
    ks: &[SchedKey],
) -> f64 {
    let n = ks
        .iter()
        .filter(|k| {
            let b = before.lookup(k, SchedFlags::NONE).map(|i| bspecs[i].addr);
            let a = after.lookup(k, SchedFlags::NONE).map(|i| aspecs[i].addr);
            a != b
        })
        .count();
    n as f64 / ks.len() as f64
}

#[test]
fn maglev_removing_one_of_ten_moves_about_a_tenth() {
    // Removing one of N = 10 equal dests must move its own ~1/N of the keys;
    // Maglev adds a little churn among the others because the remaining
    // dests' preference lists interleave differently. Measured over 100k
    // keys for every choice of removed dest:
    //   4093 slots: worst 1.13/N moved; bound asserted 1.3/N.
    //   251 slots (25 per dest): coarser, worst 1.70/N; bound 2.0/N.
    // (The hashes are fixed, so these numbers are deterministic.)
    let ks = keys(100_000, 11);
    let all: Vec<DestSpec> = (0..10).map(|i| DestSpec::new(rip(i), 80, 1)).collect();
    for (size, bound) in [(4093u32, 1.3), (251, 2.0)] {
        let full = build_mh_table(&all, size).unwrap();
        let mut worst: f64 = 0.0;
        for gone in 0..10 {
            let rest: Vec<DestSpec> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != gone)
                .map(|(_, d)| *d)
                .collect();
            let t = build_mh_table(&rest, size).unwrap();
            let m = moved(&full, &all, &t, &rest, &ks);
            assert!(
                m >= 0.08,
                "size {size}: removing dest {gone} moved only {m:.4}"
            );
            worst = worst.max(m);
        }
        eprintln!("mh size {size}: worst moved share {worst:.4} (N = 10)");
        assert!(
            worst <= bound / 10.0,
            "size {size}: moved {worst:.4} > {bound}/N"
        );
    }
}
