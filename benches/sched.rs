//! Pick cost of every IPVS scheduler with 8, 64 and 1024 dests (target:
//! at most 30 ns per pick at 64 dests for the O(1) and O(n) schedulers
//! alike). Keys rotate through a fixed set so hashing schedulers do real
//! lookups; dests carry mixed weights and loads so least-connection scans do
//! real comparisons. Nothing here allocates inside the timed loop.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use dataplane::sched::twos::XorShift64;
use dataplane::sched::{
    DestSpec, DestView, SchedConfig, SchedKey, SchedKind, SchedSeed, Scheduler,
};
use dataplane::Time;

const SIZES: [usize; 3] = [8, 64, 1024];
const KEYS: usize = 1024;

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
            let mut sched = Scheduler::new(Arc::new(seed), 0);
            let mut k = 0usize;
            group.bench_with_input(BenchmarkId::from_parameter(n), &views, |b, views| {
                b.iter(|| {
                    k = (k + 1) % KEYS;
                    black_box(sched.pick(views.as_slice(), black_box(&keys[k]), Time::ZERO))
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_picks);
criterion_main!(benches);
