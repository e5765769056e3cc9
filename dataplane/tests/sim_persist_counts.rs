//! Persistence templates counted per dest through the simulator, as
//! `ipvsadm -L --persistent-conn` shows them (IPVS's `persistconns`): one
//! per client template pointing at the dest, summed over the workers; none
//! left for a dest deleted from its service, none once they expire.

use core::time::Duration;
use dataplane::conn::{Fwd, Proto};
use dataplane::service::Persistence;
use dataplane::sim::lab::{self, Svc};
use dataplane::sim::packet;
use dataplane::sim::Sim;
use dataplane::Verdict;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use lab::syn;

/// Templates per dest slot `0..3`, summed over the workers.
fn persist_conns(sim: &Sim) -> [u32; 3] {
    let mut sum = [0u32; 3];
    for w in &sim.workers {
        for (slot, n) in sum.iter_mut().enumerate() {
            *n += w.templates().at_slot(u32::try_from(slot).unwrap());
        }
    }
    sum
}

#[test]
fn templates_are_counted_per_dest_until_they_go() {
    let mut svc = Svc::new(Proto::Tcp, 80, Fwd::Nat, 8080, 3);
    svc.persistence = Some(Persistence {
        timeout: Duration::from_secs(60),
        netmask_len: 32,
    });
    let mut sim = lab::sim(lab::snapshot(&[svc], 2), 2, 1024);
    // Eight clients, each twice from another port. A template lives in the
    // worker that owns the conn (NAT: by client address and port), so a
    // client has one template per worker it reached: expect one per
    // (worker, client), pointing where that worker sent the client.
    let mut templates: BTreeMap<(u16, u32), Ipv4Addr> = BTreeMap::new();
    for cport in [1000, 2000] {
        for c in 1..=8u32 {
            let d = sim.send(lab::EXT, &syn(c, cport));
            assert_eq!(d.verdict, Verdict::Transmit { port: lab::INT }, "{d:?}");
            let rip = packet::parse(&d.frame).unwrap().dst.0;
            let before = *templates.entry((d.worker, c)).or_insert(rip);
            assert_eq!(
                before, rip,
                "client {c} stays on worker {}'s dest",
                d.worker
            );
        }
    }
    let count = |i| u32::try_from(templates.values().filter(|&&d| d == lab::rs(i)).count());
    let want = [count(0).unwrap(), count(1).unwrap(), count(2).unwrap()];
    assert!(
        want.iter().all(|&n| n > 0),
        "rr used every dest: {templates:?}"
    );
    assert_eq!(persist_conns(&sim), want);

    // Dest 1 deleted: its templates go with it (its conns keep running), so
    // a dest that gets its slot later starts from zero; the others stay.
    let mut dests = lab::dests(0, &svc, &[]);
    dests.remove(1);
    let mut next = lab::snapshot_with(vec![lab::service(0, &svc, dests)], 2, 2);
    next.counts = Arc::clone(&sim.workers[0].snapshot().counts);
    sim.set_snapshot(&Arc::new(next));
    assert_eq!(persist_conns(&sim), [want[0], 0, want[2]]);
    assert!(sim.conns() >= 16, "conns outlive their templates");

    // Conns time out (SYN_RECV), then the templates 60 s after last use.
    sim.advance(Duration::from_secs(200));
    assert_eq!(sim.conns(), 0);
    assert_eq!(persist_conns(&sim), [0, 0, 0]);
}
