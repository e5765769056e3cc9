//! Distributions of every scheduler over many picks, each checked against a
//! stated bound, and the rule that quiesced (weight 0) and overloaded dests
//! are never picked.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use dataplane::sched::twos::XorShift64;
use dataplane::sched::{
    DestSpec, DestView, SchedConfig, SchedKey, SchedKind, SchedSeed, Scheduler,
};
use dataplane::Time;
use proptest::prelude::*;

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

fn sched(kind: SchedKind, v: &[DestView]) -> Scheduler {
    let specs: Vec<DestSpec> = v.iter().map(DestView::spec).collect();
    Scheduler::new(
        Arc::new(SchedSeed::new(SchedConfig::new(kind), &specs).unwrap()),
        0,
    )
}

/// A key with a random client (and, for dh/lblc, destination) address.
fn random_key(rng: &mut XorShift64) -> SchedKey {
    let c = u32::try_from(rng.next_u64() >> 32).unwrap();
    let d = u32::try_from(rng.next_u64() >> 32).unwrap();
    SchedKey {
        caddr: IpAddr::V4(Ipv4Addr::from(c)),
        cport: u16::try_from(c & 0xffff).unwrap(),
        daddr: IpAddr::V4(Ipv4Addr::from(d)),
        dport: 80,
    }
}

/// Pick `picks` times with conns that stay active for the next `live`
/// picks (a steady load of `live` conns). Returns picks per dest.
fn simulate(kind: SchedKind, weights: &[u32], picks: usize, live: usize) -> Vec<usize> {
    let mut v = views(weights);
    let mut s = sched(kind, &v);
    let mut rng = XorShift64::new(1);
    let mut open = VecDeque::new();
    let mut hits = vec![0; weights.len()];
    for n in 0..picks {
        let k = random_key(&mut rng);
        let d = s
            .pick(v.as_slice(), &k, Time::from_secs(u64::try_from(n).unwrap()))
            .unwrap();
        hits[d] += 1;
        v[d].active += 1;
        open.push_back(d);
        if open.len() > live {
            let old = open.pop_front().unwrap();
            v[old].active -= 1;
        }
    }
    hits
}

/// Asserts each dest's share of picks is within `tol` (absolute) of
/// `expect` (shares summing to 1).
fn assert_shares(kind: SchedKind, hits: &[usize], expect: &[f64], tol: f64) {
    let total: usize = hits.iter().sum();
    for (i, (&h, &e)) in hits.iter().zip(expect).enumerate() {
        let got = h as f64 / total as f64;
        assert!(
            (got - e).abs() <= tol,
            "{kind}: dest {i} got {got:.4}, expected {e:.4} ± {tol} ({hits:?})"
        );
    }
}

const W: [u32; 4] = [1, 2, 3, 4];
const BY_WEIGHT: [f64; 4] = [0.1, 0.2, 0.3, 0.4];
const EVEN: [f64; 4] = [0.25; 4];

#[test]
fn rr_is_even_and_wrr_is_exactly_by_weight() {
    // Round-robins are exact over whole cycles.
    assert_eq!(simulate(SchedKind::Rr, &W, 4000, 100), [1000; 4]);
    assert_eq!(
        simulate(SchedKind::Wrr, &W, 10_000, 100),
        [1000, 2000, 3000, 4000]
    );
}

#[test]
fn least_connection_family_balances_the_live_load() {
    // With a steady 1000 live conns, the weighted schedulers keep each dest's
    // active count proportional to its weight, so picks follow weights to
    // within 1 % (lc ignores weights: even).
    assert_shares(
        SchedKind::Lc,
        &simulate(SchedKind::Lc, &W, 50_000, 1000),
        &EVEN,
        0.01,
    );
    for kind in [SchedKind::Wlc, SchedKind::Sed, SchedKind::Nq] {
        assert_shares(kind, &simulate(kind, &W, 50_000, 1000), &BY_WEIGHT, 0.01);
    }
    // Two random choices: load-aware, so also close to the weights (2 %).
    assert_shares(
        SchedKind::Twos,
        &simulate(SchedKind::Twos, &W, 50_000, 1000),
        &BY_WEIGHT,
        0.02,
    );
    // lblc/lblcr with a fresh daddr per conn degenerate to wlc.
    for kind in [SchedKind::Lblc, SchedKind::Lblcr] {
        assert_shares(kind, &simulate(kind, &W, 50_000, 1000), &BY_WEIGHT, 0.01);
    }
}

#[test]
fn hashing_schedulers_spread_keys() {
    // sh: the 256 buckets are dealt by weight (1+2+3+4 = 10 per round, 25.6
    // rounds), so shares are the weights up to one partial round and the
    // hash's unevenness: 3 %.
    assert_shares(
        SchedKind::Sh,
        &simulate(SchedKind::Sh, &W, 100_000, 1),
        &BY_WEIGHT,
        0.03,
    );
    // dh: buckets dealt evenly, weights ignored.
    assert_shares(
        SchedKind::Dh,
        &simulate(SchedKind::Dh, &W, 100_000, 1),
        &EVEN,
        0.03,
    );
    // mh: 4093 slots claimed in weighted turns: within 1 %.
    assert_shares(
        SchedKind::Mh,
        &simulate(SchedKind::Mh, &W, 100_000, 1),
        &BY_WEIGHT,
        0.01,
    );
}

#[test]
fn failover_and_overflow() {
    // fo: everything to the highest weight.
    assert_eq!(simulate(SchedKind::Fo, &W, 1000, 1000), [0, 0, 0, 1000]);
    // ovf: the highest weight until its active conns exceed its weight (the
    // 5th conn on weight 4 is still allowed: 4 active is not > 4), then the
    // next highest; with 10 live conns: 5 + 4 + 1.
    assert_eq!(simulate(SchedKind::Ovf, &W, 10, 100), [0, 1, 4, 5]);
}

fn any_kind() -> impl Strategy<Value = SchedKind> {
    proptest::sample::select(SchedKind::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No scheduler ever returns a quiesced or overloaded dest, an index out
    /// of range, or `None` while some dest is available to it (sh, dh and
    /// mh without fallback may answer `None`: the hashed dest is down).
    #[test]
    fn never_picks_unavailable(
        kind in any_kind(),
        dests in proptest::collection::vec((0u32..4, any::<bool>(), 0u32..20, 0u32..50), 1..24),
        seed in any::<u64>(),
    ) {
        let mut v: Vec<DestView> = dests.iter().enumerate().map(|(i, &(w, ov, a, n))| {
            let mut d = DestView::new(rip(i), 80, w);
            d.overloaded = ov;
            d.active = a;
            d.inactive = n;
            d
        }).collect();
        // ovf also refuses dests with more active conns than weight.
        let usable = |d: &DestView| d.weight > 0 && !d.overloaded && (kind != SchedKind::Ovf || d.active <= d.weight);
        let mut s = sched(kind, &v);
        let mut rng = XorShift64::new(seed);
        for _ in 0..16 {
            let k = random_key(&mut rng);
            match s.pick(v.as_slice(), &k, Time::ZERO) {
                Some(i) => {
                    prop_assert!(i < v.len());
                    prop_assert!(v[i].weight > 0, "{kind} picked quiesced dest {i}");
                    prop_assert!(!v[i].overloaded, "{kind} picked overloaded dest {i}");
                    // Flags stay fixed in this loop, so lblc's cache (whose
                    // cached path ignores the flag, as the kernel's does)
                    // only holds dests that were unflagged when picked.
                    v[i].active += 1;
                }
                None => {
                    let hashed = matches!(kind, SchedKind::Sh | SchedKind::Dh | SchedKind::Mh);
                    prop_assert!(hashed || !v.iter().any(usable), "{kind} found nothing among {v:?}");
                }
            }
        }
    }
}
