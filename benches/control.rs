//! Control-core speed: building a complete dataplane snapshot from the
//! service table (1000 services x 10 dests, and 10 000 services x 10
//! dests), and applying one admin change plus the snapshot it triggers.
//!
//! Also end to end on the control core: one admin change until every
//! worker runs it (apply, snapshot, publish, two worker threads polling
//! their update channels between "bursts" and acknowledging), and 10 000
//! services with 10 dests each loaded and running on the workers.
//!
//! `cargo bench --bench control`

use control::admin::{
    DestSpec, FwdMethod, PersistMask, Protocol, SchedFlags, ServiceKey, ServiceSpec,
};
use control::state::{BaseParts, Change, Limits, State};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

fn key(i: u32) -> ServiceKey {
    let [_, b, c, d] = (0x0a00_0000 | i).to_be_bytes();
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        vip: IpAddr::V4(Ipv4Addr::new(198, b, c, d)),
        port: 80,
    }
}

fn dest(i: u32, weight: u32) -> DestSpec {
    DestSpec {
        rip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i)),
        port: 8080,
        fwd: FwdMethod::Masq,
        weight,
        u_threshold: 0,
        l_threshold: 0,
    }
}

fn table(services: u32, dests: u32) -> State {
    let mut st = State::new(Limits {
        workers: 4,
        max_dests: services * dests + 16,
    });
    for s in 0..services {
        st.add_service(&ServiceSpec {
            key: key(s),
            scheduler: if s % 2 == 0 { "wlc" } else { "mh" }.into(),
            persistent: None,
            netmask: PersistMask::host(false),
            one_packet: false,
            sched_flags: SchedFlags::default(),
        })
        .expect("service");
        for d in 0..dests {
            st.add_dest(&key(s), &dest(d + 1, 1)).expect("dest");
        }
    }
    st
}

fn snapshots(c: &mut Criterion) {
    let base = BaseParts::default();
    for (services, dests) in [(1000, 10), (10_000, 10)] {
        let mut st = table(services, dests);
        c.bench_function(&format!("snapshot_{services}x{dests}"), |b| {
            b.iter(|| black_box(st.snapshot(1, &base).expect("snapshot")))
        });
    }
}

fn single_change(c: &mut Criterion) {
    let base = BaseParts::default();
    let mut st = table(1000, 10);
    let mut w = 1;
    // An -e of one dest of an mh service (its Maglev table is rebuilt),
    // then the snapshot that publishes it.
    c.bench_function("edit_dest_mh_plus_snapshot_1000x10", |b| {
        b.iter(|| {
            w = w % 100 + 1;
            st.apply(&Change::EditDest(key(1), dest(1, w)))
                .expect("edit");
            black_box(st.snapshot(2, &base).expect("snapshot"))
        })
    });
    c.bench_function("edit_dest_wlc_1000x10", |b| {
        b.iter(|| {
            w = w % 100 + 1;
            st.apply(&Change::EditDest(key(0), dest(1, w)))
                .expect("edit");
        })
    });
}

/// Two stand-in workers: they poll their update channel between bursts and
/// acknowledge, as rvsd's workers do.
fn workers(
    subs: Vec<control::publish::Subscriber>,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    subs.into_iter()
        .map(|sub| {
            let stop = std::sync::Arc::clone(stop);
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Some(s) = sub.poll() {
                        sub.ack(s.generation);
                    }
                    std::hint::spin_loop();
                }
            })
        })
        .collect()
}

fn change_to_all_workers(c: &mut Criterion) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let base = BaseParts::default();
    let mut st = table(1000, 10);
    let first = Arc::new(st.snapshot(1, &base).expect("snapshot"));
    let (mut publisher, subs) = control::publish::channel(2, 4, first);
    let stop = Arc::new(AtomicBool::new(false));
    let threads = workers(subs, &stop);
    let mut generation = 1;
    let mut w = 1;
    // One `-e` of a wlc dest, from the admin call to every worker running it.
    c.bench_function("edit_dest_until_all_workers_run_it_1000x10", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                w = w % 100 + 1;
                generation += 1;
                st.apply(&Change::EditDest(key(0), dest(1, w)))
                    .expect("edit");
                let snap = Arc::new(st.snapshot(generation, &base).expect("snapshot"));
                publisher
                    .publish(snap, Duration::from_secs(5))
                    .expect("published");
            }
            start.elapsed()
        })
    });
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    // 10 000 services x 10 dests from an empty table to running everywhere.
    group.bench_function("load_10000x10_until_all_workers_run_it", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let mut st = table(10_000, 10);
                generation += 1;
                let snap = Arc::new(st.snapshot(generation, &base).expect("snapshot"));
                publisher
                    .publish(snap, Duration::from_secs(5))
                    .expect("published");
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
}

criterion_group!(benches, snapshots, single_change, change_to_all_workers);
criterion_main!(benches);
