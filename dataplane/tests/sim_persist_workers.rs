//! Persistence with several workers: all new conns from one client network
//! of a persistent service go to the worker that owns the network, which
//! keeps its template, so `-p` holds whichever port a conn comes from and
//! whichever worker the NIC hands its first packet to (IPVS keeps one
//! template table per director; rvs has one per worker).
//!
//! rr makes any split visible: two workers with templates of their own
//! would each send the network to the dest next in their own rr order.

use core::time::Duration;
use dataplane::conn::{Fwd, Proto};
use dataplane::service::Persistence;
use dataplane::sim::lab::{self, Svc};
use dataplane::Verdict;
use std::sync::Arc;

use lab::syn;

/// Opens conns from each of `clients` from four ports, a client's first
/// packets handed to worker 0 and 1 in turn, over 2 workers; returns the
/// dest of every conn per client, in order.
fn dests_per_client(fwd: Fwd, netmask_len: u8, clients: &[u32]) -> Vec<Vec<usize>> {
    let mut svc = Svc::new(Proto::Tcp, 80, fwd, 80, 3);
    svc.persistence = Some(Persistence {
        timeout: Duration::from_secs(360),
        netmask_len,
    });
    let snap = lab::snapshot(&[svc], 2);
    let counts = Arc::clone(&snap.counts);
    let mut sim = lab::sim(snap, 2, 1024);
    let totals = || -> Vec<u32> {
        (0..3)
            .map(|j| {
                let (a, n) = counts.load(j);
                a + n
            })
            .collect()
    };
    let mut out = vec![Vec::new(); clients.len()];
    for (round, cport) in [1000, 2001, 3002, 4003].into_iter().enumerate() {
        for (k, &c) in clients.iter().enumerate() {
            let before = totals();
            // Each client's first packets reach worker 0 and 1 in turn.
            let at = u16::try_from((k + round) % 2).unwrap();
            let d = sim.send_at(at, lab::EXT, &syn(c, cport));
            assert!(
                matches!(d.verdict, Verdict::Transmit { .. }),
                "{fwd:?} client {c} port {cport}: {d:?}"
            );
            let after = totals();
            let j = (0..3).find(|&j| after[j] == before[j] + 1).unwrap();
            out[k].push(j);
        }
    }
    out
}

#[test]
fn a_client_keeps_its_dest_from_every_port_on_two_workers() {
    // -M 255.255.255.255: per client address, for every method.
    for fwd in [Fwd::Nat, Fwd::FullNat, Fwd::Dr, Fwd::Tun] {
        let clients: Vec<u32> = (1..=8).collect();
        let per = dests_per_client(fwd, 32, &clients);
        for (c, ds) in clients.iter().zip(&per) {
            assert!(ds.iter().all(|&d| d == ds[0]), "{fwd:?} client {c}: {ds:?}");
        }
        // rr still spreads the clients (8 templates over 3 dests).
        let mut firsts: Vec<usize> = per.iter().map(|d| d[0]).collect();
        firsts.sort_unstable();
        firsts.dedup();
        assert_eq!(firsts.len(), 3, "{fwd:?}: {per:?}");
    }
}

#[test]
fn a_client_network_keeps_its_dest_on_two_workers() {
    // -M 255.255.255.0 with FullNAT, DR and TUN dests: the whole /24 (the
    // lab's clients 0..=255) follows one template, from any port and any
    // first worker.
    for fwd in [Fwd::FullNat, Fwd::Dr, Fwd::Tun] {
        let clients: Vec<u32> = (1..=12).collect();
        let per = dests_per_client(fwd, 24, &clients);
        let first = per[0][0];
        assert!(
            per.iter().flatten().all(|&d| d == first),
            "{fwd:?}: {per:?}"
        );
    }
}
