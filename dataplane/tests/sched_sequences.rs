//! Exact pick sequences of rr and wrr through the public `Scheduler` API,
//! and how scheduler state survives a new config snapshot.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use dataplane::sched::{
    DestSpec, DestView, SchedConfig, SchedKey, SchedKind, SchedSeed, Scheduler,
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

fn sched(kind: SchedKind, v: &[DestView]) -> Scheduler {
    Scheduler::new(
        Arc::new(SchedSeed::new(SchedConfig::new(kind), &specs(v)).unwrap()),
        0,
    )
}

fn key() -> SchedKey {
    SchedKey {
        caddr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        cport: 40000,
        daddr: rip(100),
        dport: 80,
    }
}

fn run(s: &mut Scheduler, v: &[DestView], n: usize) -> Vec<usize> {
    (0..n)
        .map(|_| s.pick(v, &key(), Time::ZERO).unwrap())
        .collect()
}

#[test]
fn rr_walks_the_list_in_order() {
    let v = views(&[1, 5, 1]);
    let mut s = sched(SchedKind::Rr, &v);
    assert_eq!(run(&mut s, &v, 7), [0, 1, 2, 0, 1, 2, 0]);
}

#[test]
fn wrr_1_2_3_gives_the_kernel_order() {
    // ip_vs_wrr.c by hand: gcd 1, mw 3, cw starts at mw.
    //   cw=3: only C qualifies          -> C
    //   cw=2: B, C                      -> B C
    //   cw=1: A, B, C                   -> A B C
    //   cw wraps to 3                   -> C ...
    let v = views(&[1, 2, 3]);
    let mut s = sched(SchedKind::Wrr, &v);
    assert_eq!(run(&mut s, &v, 12), [2, 1, 2, 0, 1, 2, 2, 1, 2, 0, 1, 2]);
}

#[test]
fn wrr_skips_quiesced_and_overloaded() {
    let mut v = views(&[3, 0, 3]);
    v[2].overloaded = true;
    let mut s = sched(SchedKind::Wrr, &v);
    assert_eq!(run(&mut s, &v, 4), [0, 0, 0, 0]);
    v[0].overloaded = true;
    assert_eq!(s.pick(v.as_slice(), &key(), Time::ZERO), None);
}

#[test]
fn state_is_kept_when_dests_do_not_change() {
    let v = views(&[1, 1, 1]);
    let mut s = sched(SchedKind::Rr, &v);
    assert_eq!(run(&mut s, &v, 2), [0, 1]);
    // A new snapshot with an equal (not the same) seed: the cursor stays.
    let same = Arc::new(SchedSeed::new(SchedConfig::new(SchedKind::Rr), &specs(&v)).unwrap());
    let mut s = s.carry_over(same);
    assert_eq!(run(&mut s, &v, 2), [2, 0]);

    let v = views(&[1, 2, 3]);
    let mut w = sched(SchedKind::Wrr, &v);
    assert_eq!(run(&mut w, &v, 2), [2, 1]);
    let same = Arc::new(SchedSeed::new(SchedConfig::new(SchedKind::Wrr), &specs(&v)).unwrap());
    let mut w = w.carry_over(same);
    assert_eq!(run(&mut w, &v, 4), [2, 0, 1, 2]);
}

#[test]
fn rr_follows_its_last_dest_when_the_list_changes() {
    let v = views(&[1, 1, 1, 1]);
    let mut s = sched(SchedKind::Rr, &v);
    assert_eq!(run(&mut s, &v, 2), [0, 1]);
    // Dest 0 removed: the last picked (old 1) is now index 0, so the walk
    // continues with old 2 (new 1).
    let nv: Vec<DestView> = v[1..].to_vec();
    let new = Arc::new(SchedSeed::new(SchedConfig::new(SchedKind::Rr), &specs(&nv)).unwrap());
    let mut s = s.carry_over(new);
    assert_eq!(run(&mut s, &nv, 3), [1, 2, 0]);
}

#[test]
fn wrr_dest_change_restarts_from_the_head_with_new_weights() {
    let v = views(&[1, 2, 3]);
    let mut s = sched(SchedKind::Wrr, &v);
    assert_eq!(run(&mut s, &v, 1), [2]);
    // Weights 2:4:6 now: gcd 2, mw 6 - 1 = 5; cw (3) is rounded to the new
    // grid: (3 / 2) * 2 + 1 = 3, and the walk restarts from the head.
    let nv = views(&[2, 4, 6]);
    let new = Arc::new(SchedSeed::new(SchedConfig::new(SchedKind::Wrr), &specs(&nv)).unwrap());
    let mut s = s.carry_over(new);
    // cw=3: B C; cw=1: A B C; cw=5: C; cw=3: B C ...
    assert_eq!(run(&mut s, &nv, 8), [1, 2, 0, 1, 2, 2, 1, 2]);
}

#[test]
fn changing_the_scheduler_starts_fresh() {
    let v = views(&[1, 1, 1]);
    let mut s = sched(SchedKind::Rr, &v);
    assert_eq!(run(&mut s, &v, 2), [0, 1]);
    let wrr = Arc::new(SchedSeed::new(SchedConfig::new(SchedKind::Wrr), &specs(&v)).unwrap());
    let mut s = s.carry_over(wrr);
    assert_eq!(run(&mut s, &v, 3), [0, 1, 2]);
}
