//! The fast scans of the scanning schedulers against the kernel's walks.
//!
//! The scanning schedulers walk dests through `DestSet::walk` (counts
//! summed a cache line at a time, weights past the IPVS range compared in
//! 128 bits); they claim to pick exactly what the kernel's single walk over
//! `svc->destinations` picks, ties included. Here each scheduler's walk
//! is written out the kernel's way, one dest at a time (`ip_vs_lc.c`,
//! `ip_vs_wlc.c`, `ip_vs_sed.c`, `ip_vs_nq.c`, `ip_vs_fo.c`, `ip_vs_ovf.c`,
//! `ip_vs_twos.c`, lblc's `is_overloaded`), and property tests compare the
//! two on dest sets built to tie often (few distinct weights and counts,
//! quiesced and overloaded dests, sizes around the 8-dest counter line). A second
//! set of properties checks that [`CountedDests`] (counts summed over the
//! workers' rows, contiguous or scattered slots) walks exactly like the
//! equivalent `DestView` slice and every scheduler picks the same over both.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use dataplane::sched::counts::{ConnClass, ConnCounts, CountedDests};
use dataplane::sched::twos::XorShift64;
use dataplane::sched::{
    fo, lblc, lc, nq, ovf, sed, twos, wlc, DestSet, DestSpec, DestView, SchedConfig, SchedKey,
    SchedKind, SchedSeed, Scheduler,
};
use dataplane::Time;
use proptest::prelude::*;

fn overhead(d: &DestView) -> u64 {
    (u64::from(d.active) << 8) + u64::from(d.inactive)
}

fn available(d: &DestView) -> bool {
    d.weight > 0 && !d.overloaded
}

/// The kernel's weighted-least walk: the first available dest seeds it, a
/// later non-overloaded dest replaces it when `loh * w > doh * w_least`.
/// u128 products: exact for any weight (the kernel's weights fit 16 bits).
fn ref_weighted_least(d: &[DestView], oh: impl Fn(&DestView) -> u64) -> Option<usize> {
    let first = d.iter().position(available)?;
    let (mut least, mut loh) = (first, oh(&d[first]));
    for (i, v) in d.iter().enumerate().skip(first + 1) {
        if v.overloaded {
            continue;
        }
        let doh = oh(v);
        if u128::from(loh) * u128::from(v.weight) > u128::from(doh) * u128::from(d[least].weight) {
            least = i;
            loh = doh;
        }
    }
    Some(least)
}

fn ref_lc(d: &[DestView]) -> Option<usize> {
    let mut least: Option<(usize, u64)> = None;
    for (i, v) in d.iter().enumerate() {
        if available(v) && least.map_or(true, |(_, loh)| overhead(v) < loh) {
            least = Some((i, overhead(v)));
        }
    }
    least.map(|(i, _)| i)
}

fn ref_sed(d: &[DestView]) -> Option<usize> {
    ref_weighted_least(d, |v| u64::from(v.active) + 1)
}

fn ref_nq(d: &[DestView]) -> Option<usize> {
    let mut least: Option<(usize, u64)> = None;
    for (i, v) in d.iter().enumerate() {
        if !available(v) {
            continue;
        }
        if v.active == 0 {
            return Some(i);
        }
        let doh = u64::from(v.active) + 1;
        let better = least.map_or(true, |(l, loh)| {
            u128::from(loh) * u128::from(v.weight) > u128::from(doh) * u128::from(d[l].weight)
        });
        if better {
            least = Some((i, doh));
        }
    }
    least.map(|(i, _)| i)
}

fn ref_fo(d: &[DestView]) -> Option<usize> {
    let (mut best, mut hw) = (None, 0);
    for (i, v) in d.iter().enumerate() {
        if !v.overloaded && v.weight > hw {
            best = Some(i);
            hw = v.weight;
        }
    }
    best
}

fn ref_ovf(d: &[DestView]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, v) in d.iter().enumerate() {
        if v.overloaded || v.active > v.weight || v.weight == 0 {
            continue;
        }
        if best.map_or(true, |b| v.weight > d[b].weight) {
            best = Some(i);
        }
    }
    best
}

fn ref_is_overloaded(d: &[DestView], i: usize) -> bool {
    d[i].active > d[i].weight
        && d.iter()
            .any(|v| u64::from(v.active) * 2 < u64::from(v.weight))
}

/// `ip_vs_twos_schedule`, walking with `rweight -= weight` as the kernel.
fn ref_twos(d: &[DestView], rng: &mut XorShift64) -> Option<usize> {
    let total: u64 = d
        .iter()
        .filter(|v| available(v))
        .map(|v| u64::from(v.weight))
        .sum();
    if total == 0 {
        return None;
    }
    let (mut r1, mut r2) = (rng.below(total + 1), rng.below(total + 1));
    let (mut c1, mut c2) = (None, None);
    for (i, v) in d.iter().enumerate().filter(|(_, v)| available(v)) {
        let w = u64::from(v.weight);
        if c1.is_none() {
            if r1 <= w {
                c1 = Some(i);
            }
            r1 = r1.saturating_sub(w);
        }
        if c2.is_none() {
            if r2 <= w {
                c2 = Some(i);
            }
            r2 = r2.saturating_sub(w);
        }
    }
    let (c1, c2) = (c1?, c2?);
    let (w1, w2) = (u128::from(d[c1].weight), u128::from(d[c2].weight));
    if w2 * u128::from(overhead(&d[c1])) > w1 * u128::from(overhead(&d[c2])) {
        Some(c2)
    } else {
        Some(c1)
    }
}

fn rip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + u32::try_from(i).unwrap() + 1))
}

/// Dest sets that tie a lot: weights from a short list (0 and 65535
/// included), counts from small ranges, some overloaded; lengths around
/// the 8-dest counter line and a few lines long.
fn dest_sets() -> impl Strategy<Value = Vec<DestView>> {
    let one = (
        prop_oneof![Just(0u32), Just(1), Just(2), Just(3), Just(4), Just(65535)],
        0u32..6,
        0u32..600,
        prop::bool::weighted(0.15),
    );
    prop::collection::vec(one, 0..40).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (weight, active, inactive, overloaded))| {
                let mut d = DestView::new(rip(i), 80, weight);
                d.active = active;
                d.inactive = inactive;
                d.overloaded = overloaded;
                d
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn scans_pick_what_the_kernel_walk_picks(d in dest_sets(), seed in any::<u64>()) {
        let s = d.as_slice();
        prop_assert_eq!(lc::pick(s), ref_lc(&d));
        prop_assert_eq!(wlc::pick(s), ref_weighted_least(&d, overhead));
        prop_assert_eq!(sed::pick(s), ref_sed(&d));
        prop_assert_eq!(nq::pick(s), ref_nq(&d));
        prop_assert_eq!(fo::pick(s), ref_fo(&d));
        prop_assert_eq!(ovf::pick(s), ref_ovf(&d));
        for i in 0..d.len() {
            prop_assert_eq!(lblc::is_overloaded(s, i), ref_is_overloaded(&d, i), "dest {}", i);
        }
        let (mut a, mut b) = (XorShift64::new(seed), XorShift64::new(seed));
        for _ in 0..8 {
            prop_assert_eq!(twos::pick(s, &mut a), ref_twos(&d, &mut b));
        }
    }
}

#[test]
fn weights_beyond_ipvs_range_compare_exactly() {
    // 2^31 weight times 2^40 overhead overflows u64: the scans switch to
    // exact 128-bit products instead of wrapping or panicking.
    let mut d: Vec<DestView> = (0..11).map(|i| DestView::new(rip(i), 80, 1)).collect();
    d[3].weight = 1 << 31;
    d[3].active = u32::MAX;
    d[9].weight = 1 << 30;
    d[9].active = u32::MAX >> 1;
    for v in &mut d[..3] {
        v.active = 1 << 20;
    }
    for v in &mut d[4..9] {
        v.active = 1 << 20;
    }
    d[10].active = 1 << 20;
    assert_eq!(wlc::pick(d.as_slice()), ref_weighted_least(&d, overhead));
    assert_eq!(sed::pick(d.as_slice()), ref_sed(&d));
    assert_eq!(nq::pick(d.as_slice()), ref_nq(&d));
    let mut a = XorShift64::new(3);
    let mut b = XorShift64::new(3);
    for _ in 0..64 {
        assert_eq!(twos::pick(d.as_slice(), &mut a), ref_twos(&d, &mut b));
    }
}

/// The same dests as shared counters over `workers` rows, conn `c` of a
/// dest bound on worker `c % workers`, each dest in slot `slots[i]`.
fn counted(d: &[DestView], workers: usize, slots: &[usize]) -> ConnCounts {
    let n = slots.iter().max().map_or(0, |m| m + 1);
    let counts = ConnCounts::new(workers, n);
    for (v, &slot) in d.iter().zip(slots) {
        for c in 0..v.active {
            counts.bind(
                usize::try_from(c).unwrap() % workers,
                slot,
                ConnClass::Active,
            );
        }
        for c in 0..v.inactive {
            counts.bind(
                usize::try_from(c).unwrap() % workers,
                slot,
                ConnClass::Inactive,
            );
        }
    }
    counts
}

fn key(i: u32) -> SchedKey {
    SchedKey {
        caddr: IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i * 7919)),
        cport: 1024 + u16::try_from(i % 4096).unwrap(),
        daddr: IpAddr::V4(Ipv4Addr::from(0xc633_6400 + i % 5)),
        dport: 80,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn counted_dests_read_like_views(
        d in dest_sets(),
        workers in 1usize..5,
        base in 0usize..11,
        scatter in any::<bool>(),
    ) {
        // Contiguous slots from `base`, or the same slots reversed with
        // gaps (every run check fails).
        let slots: Vec<usize> = if scatter {
            (0..d.len()).rev().map(|i| base + 3 * i).collect()
        } else {
            (base..base + d.len()).collect()
        };
        let counts = counted(&d, workers, &slots);
        let weights: Vec<u32> = d.iter().map(|v| v.weight).collect();
        let overloaded: Vec<bool> = d.iter().map(|v| v.overloaded).collect();
        let cd = CountedDests { weights: &weights, overloaded: &overloaded, slots: &slots, counts: &counts };
        let view = d.as_slice();
        for with_conns in [true, false] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            cd.walk(with_conns, |i, w, o, c| {
                a.push((i, w, o, c));
                true
            });
            view.walk(with_conns, |i, w, o, c| {
                b.push((i, w, o, c));
                true
            });
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.len(), d.len());
            // Stopping early stops both at the same dest.
            let stop = d.len() / 2;
            let (mut a, mut b) = (0, 0);
            cd.walk(with_conns, |i, _, _, _| {
                a += 1;
                i < stop
            });
            view.walk(with_conns, |i, _, _, _| {
                b += 1;
                i < stop
            });
            prop_assert_eq!(a, b);
        }
        let specs: Vec<DestSpec> = d.iter().map(DestView::spec).collect();
        for kind in SchedKind::ALL {
            let Ok(seed) = SchedSeed::new(SchedConfig::new(*kind), &specs) else { continue };
            let seed = Arc::new(seed);
            let mut a = Scheduler::new(Arc::clone(&seed), 1);
            let mut b = Scheduler::new(seed, 1);
            for i in 0..12 {
                let now = Time::from_secs(u64::from(i));
                prop_assert_eq!(a.pick(&cd, &key(i), now), b.pick(view, &key(i), now), "{}", kind);
            }
        }
    }
}
