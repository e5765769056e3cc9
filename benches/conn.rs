//! Conn table benches: lookup hits (single and burst) at 1K, 1M and 10M
//! conns, and new-conn setup (insert + remove).
//!
//! Targets (issue "Sans-IO dataplane"): lookups fast enough for 12 Mpps of
//! established forwarding per core (about 80 ns per packet for everything,
//! so a lookup should take a small part of that), and 2M new conns/s per
//! core (500 ns for insert, state step and later removal).
//!
//! The 10M-conn table needs about 1 GiB (64-byte conn slots plus the index, see
//! `dataplane/tests/conn_size.rs`) and is only built when `RVS_BENCH_10M=1`
//! is set: `RVS_BENCH_10M=1 cargo bench --bench conn`.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dataplane::conn::{ConnConfig, ConnTable, Fwd, NewConn, Proto, Tuple};
use dataplane::Time;
use std::net::Ipv4Addr;

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn new_conn(i: u32) -> NewConn<Ipv4Addr> {
    #[allow(clippy::cast_possible_truncation)] // i % 60000 fits a port
    let cport = (i % 60_000) as u16 + 1024;
    NewConn {
        proto: Proto::Tcp,
        fwd: Fwd::FullNat,
        caddr: Ipv4Addr::from(0x6400_0000 + i / 60_000),
        cport,
        vaddr: VIP,
        vport: 443,
        laddr: Ipv4Addr::from(0x0a01_0000 + i / 60_000),
        lport: cport,
        daddr: Ipv4Addr::new(10, 2, 0, 1),
        dport: 8443,
        service: 0,
        dest: 0,
    }
}

fn in_key(i: u32) -> Tuple<Ipv4Addr> {
    let n = new_conn(i);
    Tuple {
        proto: n.proto,
        saddr: n.caddr,
        sport: n.cport,
        daddr: n.vaddr,
        dport: n.vport,
    }
}

fn filled(n: u32) -> ConnTable<Ipv4Addr> {
    let cfg = ConnConfig::default();
    let mut t = ConnTable::with_capacity(n, 0x5eed).expect("table");
    for i in 0..n {
        t.insert(&new_conn(i), Time::ZERO, &cfg).expect("insert");
    }
    t
}

/// Keys to look up, spread over the whole table (a cheap LCG walk), so big
/// tables miss the cache as real traffic does.
fn probe_keys(n: u32, count: usize) -> Vec<Tuple<Ipv4Addr>> {
    let mut x: u64 = 0x9e37_79b9;
    (0..count)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            in_key(u32::try_from((x >> 33) % u64::from(n)).unwrap_or(0))
        })
        .collect()
}

fn lookups(c: &mut Criterion) {
    let mut sizes = vec![("1K", 1_000u32), ("1M", 1_000_000)];
    if std::env::var_os("RVS_BENCH_10M").is_some_and(|v| v == "1") {
        sizes.push(("10M", 10_000_000));
    }
    let mut g = c.benchmark_group("conn_lookup_hit");
    for (name, n) in sizes {
        let t = filled(n);
        let keys = probe_keys(n, 4096);
        g.throughput(Throughput::Elements(keys.len() as u64));
        g.bench_function(format!("single/{name}"), |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(t.lookup(black_box(k)));
                }
            });
        });
        let mut out = vec![None; 32];
        g.bench_function(format!("burst32/{name}"), |b| {
            b.iter(|| {
                for burst in keys.chunks(32) {
                    t.lookup_burst(black_box(burst), &mut out);
                    black_box(&out);
                }
            });
        });
    }
    g.finish();
}

fn setup(c: &mut Criterion) {
    let cfg = ConnConfig::default();
    let mut g = c.benchmark_group("conn_setup");
    // A table at half of 1M, churned: each iteration creates a conn and
    // removes the oldest, the steady state of a busy director.
    let n = 1_000_000u32;
    let mut t = ConnTable::with_capacity(n, 7).expect("table");
    let live = n / 2;
    for i in 0..live {
        t.insert(&new_conn(i), Time::ZERO, &cfg).expect("insert");
    }
    let mut next = live;
    let mut oldest = std::collections::VecDeque::with_capacity(live as usize + 1);
    for i in 0..live {
        oldest.push_back(t.lookup(&in_key(i)).expect("present").id);
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("insert_remove/500K", |b| {
        b.iter_batched(
            || {
                next = (next + 1) % (n * 4);
                new_conn(next)
            },
            |nc| {
                if let Ok(id) = t.insert(&nc, Time::ZERO, &cfg) {
                    oldest.push_back(id);
                }
                if let Some(id) = oldest.pop_front() {
                    t.remove(id);
                }
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

criterion_group!(benches, lookups, setup);
criterion_main!(benches);
