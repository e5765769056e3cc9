//! Pick cost of every IPVS scheduler with 8, 64 and 1024 dests (target:
//! at most 30 ns per pick at 64 dests for the O(1) and O(n) schedulers
//! alike). Keys rotate through a fixed set so hashing schedulers do real
//! lookups; dests carry mixed weights and loads so least-connection scans do
//! real comparisons. Nothing here allocates inside the timed loop.
//!
//! Each scheduler is measured on two dest sets with the same weights and
//! loads:
//!
//! - `view/N`: a plain slice of `DestView` (what the tests use);
//! - `countedW/N`: `CountedDests` over `ConnCounts` shared by `W` workers,
//!   each dest's conns spread over the workers' rows, exactly what a worker
//!   hands to a pick (weights and overload flags from its snapshot, counts
//!   summed over all workers' rows at pick time).
//!
//! Run one scheduler with `cargo bench --bench sched -- sched/wlc/`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use dataplane::sched::counts::{ConnClass, ConnCounts, CountedDests};
use dataplane::sched::tree::{Order, PickTree};
use dataplane::sched::twos::XorShift64;
use dataplane::sched::{
    pack_conns, DestSet, DestSpec, DestView, SchedConfig, SchedKey, SchedKind, SchedSeed, Scheduler,
};
use dataplane::Time;

const SIZES: [usize; 3] = [8, 64, 1024];
const KEYS: usize = 1024;
/// Worker counts of the `CountedDests` variants.
const WORKERS: [usize; 2] = [1, 4];
/// Slots of the bench's dests start here, off a cache-line boundary, as
/// they would for a service created after others.
const SLOT_BASE: usize = 3;

fn dests(n: usize) -> Vec<DestView> {
    let mut rng = XorShift64::new(0xbe4c);
    (0..n)
        .map(|i| {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let mut d = DestView::new(
                IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i + 1)),
                80,
                1 + i % 4,
            );
            d.active = u32::try_from(rng.below(64)).unwrap_or(0);
            d.inactive = u32::try_from(rng.below(256)).unwrap_or(0);
            d
        })
        .collect()
}

/// The counters of `views` spread over `workers` rows (conn `c` of a dest
/// bound on worker `c % workers`), so the sums equal the views' counts.
fn counts(views: &[DestView], workers: usize) -> ConnCounts {
    let counts = ConnCounts::new(workers, SLOT_BASE + views.len());
    for (i, d) in views.iter().enumerate() {
        for c in 0..d.active {
            let w = usize::try_from(c).unwrap_or(0) % workers;
            counts.bind(w, SLOT_BASE + i, ConnClass::Active);
        }
        for c in 0..d.inactive {
            let w = usize::try_from(c).unwrap_or(0) % workers;
            counts.bind(w, SLOT_BASE + i, ConnClass::Inactive);
        }
    }
    counts
}

fn keys() -> Vec<SchedKey> {
    let mut rng = XorShift64::new(7);
    (0..KEYS)
        .map(|_| {
            let r = rng.next_u64();
            let hi = u32::try_from(r >> 32).unwrap_or(0);
            let lo = u32::try_from(r & 0xffff_ffff).unwrap_or(0);
            SchedKey {
                caddr: IpAddr::V4(Ipv4Addr::from(hi)),
                cport: u16::try_from(lo >> 16).unwrap_or(0),
                // A few hundred daddrs, as a cache cluster would see.
                daddr: IpAddr::V4(Ipv4Addr::from(0xc633_6400 | (lo & 0x1ff))),
                dport: 80,
            }
        })
        .collect()
}

/// Time `Scheduler::pick` over `dests`, monomorphised for the concrete
/// dest set so no dynamic call sits in the timed loop.
fn bench_one<D: DestSet + ?Sized>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    n: usize,
    seed: &Arc<SchedSeed>,
    keys: &[SchedKey],
    dests: &D,
) {
    let mut sched = Scheduler::new(Arc::clone(seed), 0);
    let mut k = 0usize;
    group.bench_function(BenchmarkId::new(id, n), |b| {
        b.iter(|| {
            k = (k + 1) % KEYS;
            black_box(sched.pick(dests, black_box(&keys[k]), Time::ZERO))
        });
    });
}

/// The worker's pick tree of the scanning schedulers: `tree/N` is the pick
/// itself (what rvsd's workers run for lc, wlc, sed, nq, fo, ovf and twos);
/// `tree_update/N` is what the tree moves onto the conn-count updates: one
/// bind and one unbind of a dest (each replays its leaf-to-root path), the
/// dest rotating so the winner changes.
fn bench_tree(
    group: &mut BenchmarkGroup<'_, WallTime>,
    order: Order,
    seed: &Arc<SchedSeed>,
    views: &[DestView],
    keys: &[SchedKey],
) {
    let n = views.len();
    let weights: Vec<u32> = views.iter().map(|d| d.weight).collect();
    let mut tree = PickTree::new(order, &weights);
    tree.reload(Time::ZERO, None, |i| {
        let d = views[i];
        (pack_conns(d.active, d.inactive), d.overloaded)
    });
    // Same answers as the walk over the same dests (twos: same draws).
    let (mut walk, mut via_tree) = (
        Scheduler::new(Arc::clone(seed), 0),
        Scheduler::new(Arc::clone(seed), 0),
    );
    for key in keys.iter().take(64) {
        assert_eq!(via_tree.pick_tree(&tree), walk.pick(views, key, Time::ZERO));
    }
    group.bench_function(BenchmarkId::new("tree", n), |b| {
        b.iter(|| black_box(via_tree.pick_tree(black_box(&tree))));
    });
    let mut k = 0usize;
    group.bench_function(BenchmarkId::new("tree_update", n), |b| {
        b.iter(|| {
            k = (k + 7) % n;
            tree.bind(black_box(k), ConnClass::Inactive);
            tree.unbind(black_box(k), ConnClass::Inactive);
            black_box(tree.best())
        });
    });
}

fn bench_picks(c: &mut Criterion) {
    let keys = keys();
    for kind in SchedKind::ALL {
        let mut group = c.benchmark_group(format!("sched/{kind}"));
        for n in SIZES {
            let views = dests(n);
            let specs: Vec<DestSpec> = views.iter().map(DestView::spec).collect();
            let Ok(seed) = SchedSeed::new(SchedConfig::new(*kind), &specs) else {
                continue;
            };
            let seed = Arc::new(seed);
            bench_one(&mut group, "view", n, &seed, &keys, views.as_slice());
            let weights: Vec<u32> = views.iter().map(|d| d.weight).collect();
            let overloaded: Vec<bool> = views.iter().map(|d| d.overloaded).collect();
            let slots: Vec<usize> = (SLOT_BASE..SLOT_BASE + n).collect();
            for workers in WORKERS {
                let counts = counts(&views, workers);
                let counted = CountedDests {
                    weights: &weights,
                    overloaded: &overloaded,
                    slots: &slots,
                    counts: &counts,
                };
                assert!((0..n).all(|i| counted.overhead(i) == views.as_slice().overhead(i)));
                let id = format!("counted{workers}");
                bench_one(&mut group, &id, n, &seed, &keys, &counted);
            }
            if let Some(order) = Order::of(*kind) {
                bench_tree(&mut group, order, &seed, &views, &keys);
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // 14 schedulers x 3 sizes x 3 dest sets: short runs keep the whole
    // bench within a few minutes; picks are tens of ns, so a second of
    // samples is plenty.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1000))
        .sample_size(30);
    targets = bench_picks
}
criterion_main!(benches);
