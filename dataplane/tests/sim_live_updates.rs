//! Configuration changes under live traffic: workers swap snapshots between
//! packets, and no packet of an established conn is lost while services are
//! added, removed and re-weighted around it (the control core's promise in
//! DESIGN.md: "established conns keep flowing; changed services swap
//! atomically").

use dataplane::conn::{Fwd, Proto};
use dataplane::sim::lab::{self, Svc};
use dataplane::sim::packet::{self, parse, Flags};
use dataplane::sim::Sim;
use dataplane::{Snapshot, Verdict};
use std::sync::Arc;

const WORKERS: u16 = 2;

/// A service set: each service with the weights of its dests.
type ServiceSet<'a> = Vec<(Svc, &'a [u32])>;
const CONNS: u32 = 40;

fn web() -> Svc {
    Svc::new(Proto::Tcp, 80, Fwd::Nat, 8080, 2)
}

/// A snapshot at `generation` with `svcs` (each with `weights`), keeping the
/// shared conn counters of `prev` as the control core does.
fn next(prev: &Snapshot, generation: u64, svcs: &[(Svc, &[u32])]) -> Arc<Snapshot> {
    let list = svcs
        .iter()
        .enumerate()
        .map(|(k, (s, w))| lab::service(k, s, lab::dests(k, s, w)))
        .collect();
    let mut snap = lab::snapshot_with(list, WORKERS, generation);
    snap.counts = Arc::clone(&prev.counts);
    Arc::new(snap)
}

/// One data packet each way on every conn; returns how many were not
/// forwarded to where the conn's first packet went.
fn exchange(sim: &mut Sim, rs_of: &[usize]) -> Vec<String> {
    let mut lost = Vec::new();
    for (c, &rs) in rs_of.iter().enumerate() {
        let c32 = u32::try_from(c).unwrap();
        let cport = 30000 + u16::try_from(c).unwrap();
        let cip = lab::client(c32);
        let req = packet::tcp(
            lab::ROUTER_MAC,
            lab::EXT_MAC,
            (cip, cport),
            (lab::VIP, 80),
            Flags::ACK,
            b"data",
        );
        let d = sim.send(lab::EXT, &req);
        match (d.verdict, parse(&d.frame)) {
            (Verdict::Transmit { port: lab::INT }, Some(p)) if p.dst == (lab::rs(rs), 8080) => {}
            other => lost.push(format!("conn {c} request: {other:?}")),
        }
        let reply = packet::tcp(
            lab::rs_mac(rs),
            lab::INT_MAC,
            (lab::rs(rs), 8080),
            (cip, cport),
            Flags::ACK,
            b"back",
        );
        let d = sim.send(lab::INT, &reply);
        match (d.verdict, parse(&d.frame)) {
            (Verdict::Transmit { port: lab::EXT }, Some(p)) if p.src == (lab::VIP, 80) => {}
            other => lost.push(format!("conn {c} reply: {other:?}")),
        }
    }
    lost
}

#[test]
fn established_conns_keep_flowing_while_services_change() {
    let first = lab::snapshot(&[web()], WORKERS);
    let mut sim = lab::sim(first, WORKERS, 1024);
    let mut snap = Arc::clone(sim.workers[0].snapshot());

    // Establish the conns: SYN, SYN-ACK, ACK.
    let mut rs_of = Vec::new();
    for c in 0..CONNS {
        let cport = 30000 + u16::try_from(c).unwrap();
        let cip = lab::client(c);
        let syn = packet::tcp(
            lab::ROUTER_MAC,
            lab::EXT_MAC,
            (cip, cport),
            (lab::VIP, 80),
            Flags::SYN,
            b"",
        );
        let d = sim.send(lab::EXT, &syn);
        let p = parse(&d.frame).expect("forwarded");
        let rs = (0..2)
            .find(|&i| p.dst.0 == lab::rs(i))
            .expect("one of the dests");
        let sa = packet::tcp(
            lab::rs_mac(rs),
            lab::INT_MAC,
            (lab::rs(rs), 8080),
            (cip, cport),
            Flags::SYN | Flags::ACK,
            b"",
        );
        assert!(matches!(
            sim.send(lab::INT, &sa).verdict,
            Verdict::Transmit { .. }
        ));
        rs_of.push(rs);
    }
    assert_eq!(exchange(&mut sim, &rs_of), Vec::<String>::new());

    let udp = Svc::new(Proto::Udp, 53, Fwd::Nat, 53, 2);
    let tls = Svc::new(Proto::Tcp, 443, Fwd::FullNat, 443, 3);
    let three = Svc { dests: 3, ..web() };
    let steps: Vec<(&str, ServiceSet)> = vec![
        ("add a UDP service", vec![(web(), &[1, 1]), (udp, &[1, 1])]),
        (
            "add a FullNAT service",
            vec![(web(), &[1, 1]), (udp, &[1, 1]), (tls, &[1, 2, 3])],
        ),
        (
            "re-weight the web dests",
            vec![(web(), &[5, 1]), (udp, &[1, 1]), (tls, &[1, 2, 3])],
        ),
        (
            "quiesce a web dest",
            vec![(web(), &[1, 0]), (udp, &[1, 1]), (tls, &[1, 2, 3])],
        ),
        (
            "add a third web dest",
            vec![(three, &[1, 0, 1]), (udp, &[1, 1]), (tls, &[1, 2, 3])],
        ),
        ("remove the other services", vec![(three, &[1, 1, 1])]),
    ];
    for (generation, (what, svcs)) in (2..).zip(steps) {
        snap = next(&snap, generation, &svcs);
        sim.set_snapshot(&snap);
        for w in &sim.workers {
            assert_eq!(w.snapshot().generation, generation);
        }
        let lost = exchange(&mut sim, &rs_of);
        assert!(
            lost.is_empty(),
            "after `{what}`, established conns lost packets: {lost:#?}"
        );
    }
    // The quiesced dest got no new conns while its weight was 0, but new
    // conns flow again now.
    let syn = packet::tcp(
        lab::ROUTER_MAC,
        lab::EXT_MAC,
        (lab::client(999), 40000),
        (lab::VIP, 80),
        Flags::SYN,
        b"",
    );
    assert!(matches!(
        sim.send(lab::EXT, &syn).verdict,
        Verdict::Transmit { port: lab::INT }
    ));
}
