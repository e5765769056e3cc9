//! lblc and lblcr: a destination address sticks to its dest (or dest set)
//! until that dest is overloaded in lblc's sense, quiesced, or expired.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use dataplane::sched::daddr_table::DaddrTable;
use dataplane::sched::lblc::LblcTable;
use dataplane::sched::lblcr::LblcrTable;
use dataplane::sched::DestView;
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

const DAY: Duration = Duration::from_secs(24 * 3600);

fn daddr(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, i))
}

#[test]
fn lblc_sticks_until_overloaded_with_a_less_loaded_peer() {
    let mut v = views(&[4, 4, 4]);
    let mut t = LblcTable::new(DAY);
    let now = Time::from_secs(10);
    // Tie on an idle service: wlc takes the first.
    assert_eq!(t.pick(v.as_slice(), &daddr(1), now), Some(0));
    // Loaded but not beyond its weight: sticks, though others are idle.
    v[0].active = 4;
    assert_eq!(t.pick(v.as_slice(), &daddr(1), now), Some(0));
    // Active > weight, yet no dest is below half its weight: still sticks.
    v[0].active = 5;
    v[1].active = 2;
    v[2].active = 2;
    assert_eq!(t.pick(v.as_slice(), &daddr(1), now), Some(0));
    // Now dest 2 is below half (1 * 2 < 4): overloaded, rescheduled by wlc
    // and the entry replaced.
    v[2].active = 1;
    assert_eq!(t.pick(v.as_slice(), &daddr(1), now), Some(2));
    assert_eq!(t.cached(&daddr(1)), Some(2));
    // Quiescing the cached dest also reschedules.
    v[2].weight = 0;
    assert_eq!(t.pick(v.as_slice(), &daddr(1), now), Some(1));
    // Another daddr gets its own entry.
    assert_eq!(t.pick(v.as_slice(), &daddr(2), now), Some(1));
    assert_eq!(t.len(), 2);
}

#[test]
fn lblc_cached_dest_ignores_the_threshold_flag_as_the_kernel_does() {
    // ip_vs_lblc_schedule checks weight and is_overloaded() on a cache hit,
    // not IP_VS_DEST_F_OVERLOAD; only a fresh choice skips flagged dests.
    let mut v = views(&[1, 1]);
    let mut t = LblcTable::new(DAY);
    assert_eq!(t.pick(v.as_slice(), &daddr(1), Time::ZERO), Some(0));
    v[0].overloaded = true;
    assert_eq!(t.pick(v.as_slice(), &daddr(1), Time::ZERO), Some(0));
    assert_eq!(t.pick(v.as_slice(), &daddr(2), Time::ZERO), Some(1));
}

#[test]
fn lblc_entries_expire_on_the_full_check() {
    let v = views(&[1, 1]);
    let table = DaddrTable::with_geometry(4, 4, 64);
    let mut t = LblcTable::with_table(table, Duration::from_secs(3600));
    assert_eq!(t.pick(v.as_slice(), &daddr(1), Time::ZERO), Some(0));
    // The collector runs every minute; the 30th run is the full check.
    for run in 1..=30u64 {
        t.check_expire(Time::from_secs(3600 + run * 60));
    }
    assert!(t.is_empty());
}

#[test]
fn lblcr_replicates_under_load_and_shrinks_after_expiration() {
    let mut v = views(&[4, 4, 4]);
    let exp = Duration::from_secs(600);
    let mut t = LblcrTable::new(exp);
    let t0 = Time::from_secs(1);
    assert_eq!(t.pick(v.as_slice(), &daddr(1), t0), Some(0));
    // Dest 0 overloaded (5 > 4) while dest 2 is idle: dest 2 joins the set.
    v[0].active = 5;
    v[1].active = 3;
    assert_eq!(t.pick(v.as_slice(), &daddr(1), t0), Some(2));
    let members: Vec<_> = t.set(&daddr(1)).unwrap().members().collect();
    assert_eq!(members, [2, 0], "newest first");
    // The set's least-loaded member is used from now on.
    v[2].active = 1;
    assert_eq!(t.pick(v.as_slice(), &daddr(1), t0), Some(2));
    // A member with the threshold flag is not used; the other member is.
    v[2].overloaded = true;
    v[0].active = 0;
    assert_eq!(t.pick(v.as_slice(), &daddr(1), t0), Some(0));
    v[2].overloaded = false;
    // After the expiration without modification the most loaded member goes.
    v[0].active = 3;
    v[2].active = 0;
    let later = t0 + exp + Duration::from_secs(1);
    assert_eq!(t.pick(v.as_slice(), &daddr(1), later), Some(2));
    let members: Vec<_> = t.set(&daddr(1)).unwrap().members().collect();
    assert_eq!(members, [2]);
}

#[test]
fn lblcr_quiesced_set_falls_back_to_wlc() {
    let mut v = views(&[1, 1]);
    let mut t = LblcrTable::new(DAY);
    assert_eq!(t.pick(v.as_slice(), &daddr(9), Time::ZERO), Some(0));
    v[0].weight = 0;
    assert_eq!(t.pick(v.as_slice(), &daddr(9), Time::ZERO), Some(1));
    let members: Vec<_> = t.set(&daddr(9)).unwrap().members().collect();
    assert_eq!(members, [1, 0]);
}
