//! Pipeline benches: a whole `Worker::process` per packet, from Ethernet in
//! to a rewritten frame out, for each forwarding method.
//!
//! - `established/<method>/<conns>`: packets of existing conns (requests,
//!   drawn over the whole table so lookups miss the cache as in production)
//!   with 1K and 1M conns in the table; 10M with `RVS_BENCH_10M=1`.
//! - `new_conn/<method>`: SYN -> schedule -> insert -> rewrite.
//!
//! Each iteration copies a 64-byte frame into a buffer first (the frame is
//! rewritten in place), which the numbers include.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::conn::{Fwd, Proto};
use dataplane::frame::Frame;
use dataplane::sim::lab::{self, Svc};
use dataplane::sim::packet;
use dataplane::stack::neigh::Learn;
use dataplane::worker::WorkerConfig;
use dataplane::{Time, Verdict, Worker};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn client(i: u32) -> (Ipv4Addr, u16) {
    let port = 1024 + u16::try_from(i >> 17).unwrap_or(0);
    (lab::client(i), port)
}

fn syn(i: u32) -> Vec<u8> {
    packet::tcp(
        lab::ROUTER_MAC,
        lab::EXT_MAC,
        client(i),
        (lab::VIP, 80),
        packet::Flags::SYN,
        b"",
    )
}

fn ack(i: u32) -> Vec<u8> {
    packet::tcp(
        lab::ROUTER_MAC,
        lab::EXT_MAC,
        client(i),
        (lab::VIP, 80),
        packet::Flags::ACK,
        b"",
    )
}

fn worker(fwd: Fwd, capacity: u32) -> Worker {
    let snap = lab::snapshot(&[Svc::new(Proto::Tcp, 80, fwd, 8080, 4)], 1);
    let cfg = WorkerConfig {
        conn_capacity: capacity,
        lports: 1024..=65535,
        ..WorkerConfig::new(0)
    };
    let mut w = Worker::with_config(cfg, Arc::new(snap));
    for i in 0..4 {
        w.neigh_mut().learn(
            Time::ZERO,
            lab::INT,
            lab::rs(i),
            lab::rs_mac(i),
            Learn::Request,
        );
    }
    w
}

/// Runs `frame` through `w` from a scratch buffer with DPDK's headroom.
#[inline]
fn run(w: &mut Worker, buf: &mut [u8; 256], frame: &[u8]) -> Verdict {
    buf[128..128 + frame.len()].copy_from_slice(frame);
    match Frame::new(buf, 128, frame.len()) {
        Ok(mut f) => w.process(Time::ZERO, lab::EXT, &mut f),
        Err(_) => Verdict::Drop(dataplane::DropReason::NoRoom),
    }
}

fn established(c: &mut Criterion) {
    let mut sizes = vec![1_000u32, 1_000_000];
    if std::env::var("RVS_BENCH_10M").is_ok_and(|v| v == "1") {
        sizes.push(10_000_000);
    }
    let mut g = c.benchmark_group("established");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    for (name, fwd) in [
        ("nat", Fwd::Nat),
        ("fullnat", Fwd::FullNat),
        ("dr", Fwd::Dr),
        ("tun", Fwd::Tun),
    ] {
        for &n in &sizes {
            // FullNAT: one LIP gives 64 Ki lports per (RIP, rport); four
            // real servers carry 256 Ki conns; cap the table at 200 K.
            let n = if fwd == Fwd::FullNat {
                n.min(200_000)
            } else {
                n
            };
            let mut w = worker(fwd, n + 1024);
            let mut buf = [0u8; 256];
            for i in 0..n {
                let v = run(&mut w, &mut buf, &syn(i));
                assert!(matches!(v, Verdict::Transmit { .. }), "{v:?}");
            }
            // 4096 frames spread over the table (odd stride).
            let frames: Vec<Vec<u8>> = (0..4096u32)
                .map(|k| ack(k.wrapping_mul(2_654_435_761) % n))
                .collect();
            let mut k = 0usize;
            g.bench_function(format!("{name}/{n}"), |b| {
                b.iter(|| {
                    k = (k + 1) & 4095;
                    black_box(run(&mut w, &mut buf, &frames[k]))
                })
            });
        }
    }
    g.finish();
}

fn new_conn(c: &mut Criterion) {
    let mut g = c.benchmark_group("new_conn");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));
    for (name, fwd) in [
        ("nat", Fwd::Nat),
        ("fullnat", Fwd::FullNat),
        ("dr", Fwd::Dr),
    ] {
        let frames: Vec<Vec<u8>> = (0..200_000u32).map(syn).collect();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let batch = left.min(200_000);
                    let mut w = worker(fwd, 200_000 + 1024);
                    let mut buf = [0u8; 256];
                    let start = Instant::now();
                    for f in frames.iter().take(usize::try_from(batch).unwrap_or(0)) {
                        black_box(run(&mut w, &mut buf, f));
                    }
                    total += start.elapsed();
                    left -= batch;
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, established, new_conn);
criterion_main!(benches);
