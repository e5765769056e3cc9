//! Pipeline benches: the whole packet path, from Ethernet in to a rewritten
//! frame out, for each forwarding method.
//!
//! - `established/<method>/<conns>`: packets of existing conns (requests,
//!   drawn over the whole table so lookups miss the cache as in production)
//!   with 1K and 1M conns in the table (10M with `RVS_BENCH_10M=1`), in
//!   bursts of 32 through `Worker::process_burst`, as the DPDK shell
//!   receives them.
//! - `established_single/<method>/<conns>`: the same, one frame at a time
//!   through `Worker::process`.
//! - `new_conn/<method>`: SYN -> schedule -> insert -> rewrite (rr;
//!   `nat_wlc` with wlc).
//!
//! `RVS_BENCH_ONLY=<group>/<method>/<conns>` builds only that benchmark's
//! table (setting up 1M-conn tables dominates a profile otherwise).
//!
//! Every frame is copied into its buffer first (a NIC delivers fresh
//! buffers; the frame is rewritten in place), which the numbers include.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::conn::{Fwd, Proto};
use dataplane::frame::Frame;
use dataplane::sched::SchedKind;
use dataplane::sim::lab::{self, Svc};
use dataplane::sim::packet;
use dataplane::stack::neigh::Learn;
use dataplane::worker::{WorkerConfig, BURST};
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

/// FullNAT local addresses: 16 LIPs x 64 Ki lports x 4 real servers hold
/// 4 M conns, so the 1 M-conn table fills without exhausting lports.
const LIPS: u8 = 16;

fn worker(fwd: Fwd, capacity: u32) -> Worker {
    worker_with(fwd, SchedKind::Rr, capacity)
}

fn worker_with(fwd: Fwd, sched: SchedKind, capacity: u32) -> Worker {
    let mut svc = Svc::new(Proto::Tcp, 80, fwd, 8080, 4);
    svc.sched = sched;
    let mut snap = lab::snapshot(&[svc], 1);
    if fwd == Fwd::FullNat {
        snap.laddrs = (0..LIPS)
            .map(|k| Ipv4Addr::new(10, 0, 0, 200 + k))
            .collect();
    }
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

/// Runs a burst of `frames` through `w` from scratch buffers with DPDK's
/// headroom.
#[inline]
fn run_burst(
    w: &mut Worker,
    bufs: &mut [[u8; 256]; BURST],
    frames: &[Vec<u8>],
    verdicts: &mut [Verdict; BURST],
) {
    for (b, f) in bufs.iter_mut().zip(frames) {
        b[128..128 + f.len()].copy_from_slice(f);
    }
    let mut i = 0;
    let mut fs = bufs.each_mut().map(|b| {
        let len = frames[i].len();
        i += 1;
        Frame::new(b, 128, len).expect("frame fits its buffer")
    });
    w.process_burst(Time::ZERO, lab::EXT, &mut fs, verdicts);
}

/// False when `RVS_BENCH_ONLY` names another benchmark.
fn wanted(id: &str) -> bool {
    std::env::var("RVS_BENCH_ONLY").map_or(true, |only| only == id)
}

fn sizes() -> Vec<u32> {
    let mut sizes = vec![1_000u32, 1_000_000];
    if std::env::var("RVS_BENCH_10M").is_ok_and(|v| v == "1") {
        sizes.push(10_000_000);
    }
    sizes
}

/// Conns in the table for `n` asked: FullNAT is capped at 4 M (what
/// [`LIPS`] LIPs give four real servers), the others take `n`.
fn conns_for(fwd: Fwd, n: u32) -> u32 {
    if fwd == Fwd::FullNat {
        n.min(u32::from(LIPS) * 64_512 * 4)
    } else {
        n
    }
}

/// A worker holding [`conns_for`] `n` conns of method `fwd`, and 4096 ACK
/// frames spread over the table (odd stride).
fn loaded(fwd: Fwd, n: u32) -> (Worker, Vec<Vec<u8>>, u32) {
    let n = conns_for(fwd, n);
    let mut w = worker(fwd, n + 1024);
    let mut buf = [0u8; 256];
    for i in 0..n {
        let v = run(&mut w, &mut buf, &syn(i));
        assert!(matches!(v, Verdict::Transmit { .. }), "{v:?}");
    }
    let frames = (0..4096u32)
        .map(|k| ack(k.wrapping_mul(2_654_435_761) % n))
        .collect();
    (w, frames, n)
}

fn established(c: &mut Criterion) {
    let mut g = c.benchmark_group("established");
    g.throughput(Throughput::Elements(BURST as u64));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    for (name, fwd) in [
        ("nat", Fwd::Nat),
        ("fullnat", Fwd::FullNat),
        ("dr", Fwd::Dr),
        ("tun", Fwd::Tun),
    ] {
        for n in sizes() {
            if !wanted(&format!("established/{name}/{}", conns_for(fwd, n))) {
                continue;
            }
            let (mut w, frames, n) = loaded(fwd, n);
            let mut bufs = [[0u8; 256]; BURST];
            let mut verdicts = [Verdict::Drop(dataplane::DropReason::NoRoom); BURST];
            run_burst(&mut w, &mut bufs, &frames[..BURST], &mut verdicts);
            assert!(
                verdicts
                    .iter()
                    .all(|v| matches!(v, Verdict::Transmit { .. })),
                "{verdicts:?}"
            );
            let mut k = 0usize;
            g.bench_function(format!("{name}/{n}"), |b| {
                b.iter(|| {
                    k = (k + BURST) & 4095;
                    run_burst(&mut w, &mut bufs, &frames[k..k + BURST], &mut verdicts);
                    black_box(&verdicts);
                })
            });
        }
    }
    g.finish();
}

fn established_single(c: &mut Criterion) {
    let mut g = c.benchmark_group("established_single");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    for (name, fwd) in [
        ("nat", Fwd::Nat),
        ("fullnat", Fwd::FullNat),
        ("dr", Fwd::Dr),
        ("tun", Fwd::Tun),
    ] {
        for n in sizes() {
            if !wanted(&format!("established_single/{name}/{}", conns_for(fwd, n))) {
                continue;
            }
            let (mut w, frames, n) = loaded(fwd, n);
            let mut buf = [0u8; 256];
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
    // `nat_wlc`: the same with ipvsadm's default scheduler, which picks
    // from the worker's pick tree and updates it on every bind.
    for (name, fwd, sched) in [
        ("nat", Fwd::Nat, SchedKind::Rr),
        ("nat_wlc", Fwd::Nat, SchedKind::Wlc),
        ("fullnat", Fwd::FullNat, SchedKind::Rr),
        ("dr", Fwd::Dr, SchedKind::Rr),
    ] {
        let frames: Vec<Vec<u8>> = (0..200_000u32).map(syn).collect();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let batch = left.min(200_000);
                    let mut w = worker_with(fwd, sched, 200_000 + 1024);
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

criterion_group!(benches, established, established_single, new_conn);
criterion_main!(benches);
