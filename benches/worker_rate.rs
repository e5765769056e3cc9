//! The packets per second one rvsd worker answers, measured through real
//! DPDK: a `net_ring` port whose rx and tx rings are in the harness's hands.
//!
//! A generator on the main lcore allocates mbufs, writes 64-byte ICMP echo
//! requests to the worker's address into them and enqueues them on the port's
//! rx ring; the worker (rvsd's own loop, `rvs::worker::run`, on lcore 1) rx
//! bursts them, runs the dataplane (parse, checksum check, in-place echo
//! reply) and tx bursts the replies onto the tx ring, which the generator
//! drains, checks and frees. Forwarded = replies received.
//!
//! Run: `cargo bench --bench worker_rate` (root: no; hugepages: no). Options
//! through the environment: `RVS_RATE_SECS` (default 5); `RVS_BENCH_OUT=DIR`
//! also writes the figures to `DIR/worker_rate.json` (for
//! `scripts/bench/report.py`).

use control::publish;
use dataplane::addr::{Ipv4Cidr, MacAddr};
use dataplane::snapshot::{Interface, Snapshot};
use dataplane::wire::checksum;
use dataplane::wire::ethernet::{EtherType, EthernetRepr};
use dataplane::wire::ip::IpProtocol;
use dataplane::wire::ipv4::Ipv4Repr;
use rvs::dpdk::{self, Burst, Eal, Mempool, Port, Ring, TscClock, MAX_BURST};
use rvs::worker::{self, WorkerSetup};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FRAME_LEN: usize = 64;
const LB_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const CLIENT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const DIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const CIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn echo_request() -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    let eth = EthernetRepr {
        src_addr: CLIENT_MAC,
        dst_addr: LB_MAC,
        vlan_id: None,
        ethertype: EtherType::IPV4,
    };
    eth.emit(&mut f).expect("room for the header");
    let l2 = eth.header_len();
    let payload = u16::try_from(FRAME_LEN - l2 - 20).expect("small");
    let ip = Ipv4Repr {
        src_addr: CIP,
        dst_addr: DIP,
        protocol: IpProtocol::ICMP,
        payload_len: payload,
        ttl: 64,
        dont_frag: true,
        ident: 1,
    };
    ip.emit(&mut f[l2..]).expect("room for the header");
    let icmp = &mut f[l2 + 20..];
    icmp[0] = 8; // echo request (RFC 792)
    icmp[4..8].copy_from_slice(&[0x12, 0x34, 0x00, 0x01]);
    for (i, b) in icmp[8..].iter_mut().enumerate() {
        *b = u8::try_from(i & 0xff).expect("masked");
    }
    let sum = checksum::checksum(icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    f
}

/// Feeds echo requests into `wire_in` and drains `wire_out` for `secs`
/// seconds after a half-second warm-up; returns (sent, received, wrong,
/// seconds). With `expect_reply`, a frame out counts only if it is an echo
/// reply addressed to the client.
fn generate(
    pool: &Mempool,
    wire_in: &Ring,
    wire_out: &Ring,
    template: &[u8; FRAME_LEN],
    secs: u64,
    expect_reply: bool,
    stop: &AtomicBool,
) -> (u64, u64, u64, f64) {
    let (mut sent, mut received, mut bad) = (0u64, 0u64, 0u64);
    let mut out = Burst::new();
    let mut warm = true;
    let mut start = Instant::now();
    loop {
        let now = Instant::now();
        if warm && now.duration_since(start) >= Duration::from_millis(500) {
            warm = false;
            (sent, received, bad) = (0, 0, 0);
            start = now;
        } else if !warm && now.duration_since(start) >= Duration::from_secs(secs) {
            break;
        }
        let mut b = Burst::new();
        for _ in 0..32 {
            let Some(mut m) = pool.alloc() else { break };
            if let Some(d) = m.append(u16::try_from(FRAME_LEN).expect("64")) {
                d.copy_from_slice(template);
            }
            let _ = b.push(m);
        }
        sent += wire_in.enqueue(&mut b) as u64;
        while wire_out.dequeue(&mut out) > 0 {
            let full = out.len() == MAX_BURST;
            for m in out.drain() {
                if m.data().get(12..14) == Some(&[0x08, 0x06][..]) {
                    // The worker's own gratuitous ARP at start-up.
                    continue;
                }
                // ICMP type 0 (echo reply) at 14 + 20, sent back to the client.
                let reply =
                    m.data().get(34) == Some(&0) && m.data().get(..6) == Some(&CLIENT_MAC.0[..]);
                if reply || !expect_reply {
                    received += 1;
                } else {
                    bad += 1;
                }
            }
            if !full {
                break;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    // Let the worker stop, then drain what is still in flight.
    std::thread::sleep(Duration::from_millis(20));
    while wire_out.dequeue(&mut out) > 0 {
        out.drain().for_each(drop);
    }
    (sent, received, bad, elapsed)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it briefly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let secs: u64 = std::env::var("RVS_RATE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let secs = if quick { 1 } else { secs };
    let prefix = format!("rvs-rate-{}", std::process::id());
    let eal = Eal::init(&[
        "--lcores",
        "0@0,1@1",
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--no-shconf",
        "--file-prefix",
        &prefix,
        "--log-level",
        "lib.eal:warning",
    ])
    .expect("EAL");
    let pool = Mempool::new("rate", 16383, 256, 2048 + 128).expect("pool");
    let wire_in = Ring::new("rate_in", 4096).expect("ring");
    let wire_out = Ring::new("rate_out", 4096).expect("ring");
    let mut port = Port::from_rings("net_ring_rate", &wire_in, &wire_out).expect("port");
    port.configure(1, 1024, 1024, &pool).expect("configure");
    port.start().expect("start");
    let iface = Interface {
        port: port.id(),
        name: "lb0".into(),
        mac: LB_MAC,
        mtu: 1500,
        addrs: vec![Ipv4Cidr::new(DIP, 24).expect("valid")],
    };
    let snapshot = Arc::new(Snapshot::new(1, vec![iface], &[]).expect("snapshot"));
    let template = echo_request();
    let clock = TscClock::new(&eal);
    let q = port.queue(0).expect("queue");
    let export = std::sync::Mutex::new(rvs::worker::Exported::default());
    let measure = |rvs: bool| -> (u64, u64, u64, f64) {
        let stop = AtomicBool::new(false);
        let ((sent, received, bad, elapsed), statuses) = dpdk::scope(|s| {
            let stop = &stop;
            let launched = if rvs {
                let setup = WorkerSetup {
                    id: 0,
                    lcore: 1,
                    config: dataplane::worker::WorkerConfig::new(0),
                    export: &export,
                    dumps: crossbeam_channel::bounded(1).1,
                    queues: vec![q],
                    snapshot: Arc::clone(&snapshot),
                    burst: 32,
                    idle_sleep: Duration::ZERO,
                    clock,
                    updates: publish::channel(1, 1, Arc::clone(&snapshot)).1.remove(0),
                    pool: &pool,
                    redirect: &[],
                    kernel: Vec::new(),
                };
                s.launch(1, move || {
                    worker::run(setup, stop);
                    0
                })
            } else {
                // The harness's ceiling: the same port and generator, with a
                // worker that sends every frame straight back untouched.
                s.launch(1, move || {
                    let mut b = Burst::new();
                    while !stop.load(Ordering::Relaxed) {
                        if q.rx_burst(&mut b, 32) > 0 {
                            q.tx_burst(&mut b);
                        }
                    }
                    0
                })
            };
            launched.expect("launch worker");
            generate(&pool, &wire_in, &wire_out, &template, secs, rvs, stop)
        });
        assert!(
            statuses.iter().all(|(_, st)| *st == 0),
            "worker failed: {statuses:?}"
        );
        (sent, received, bad, elapsed)
    };
    let (base_sent, base_recv, _, base_secs) = measure(false);
    let (sent, received, bad, secs_f) = measure(true);
    let mpps = |n: u64, s: f64| n as f64 / s / 1e6;
    let st = port.stats();
    println!(
        "one worker lcore, net_ring port, {FRAME_LEN}-byte frames, generator on the main lcore:"
    );
    println!(
        "  io forward (ceiling)  offered {:>7.2} Mpps  forwarded {:>7.2} Mpps",
        mpps(base_sent, base_secs),
        mpps(base_recv, base_secs)
    );
    println!(
        "  rvsd worker (echo)    offered {:>7.2} Mpps  forwarded {:>7.2} Mpps  wrong {bad}",
        mpps(sent, secs_f),
        mpps(received, secs_f)
    );
    println!(
        "  rvsd / ceiling = {:.3}   lost = {}   port ipackets {} opackets {} imissed {}",
        mpps(received, secs_f) / mpps(base_recv, base_secs).max(f64::MIN_POSITIVE),
        sent.saturating_sub(received),
        st.ipackets,
        st.opackets,
        st.imissed
    );
    assert_eq!(bad, 0, "every frame out is an echo reply to the client");
    assert!(received > 0, "the worker forwarded nothing");
    if let Some(dir) = std::env::var_os("RVS_BENCH_OUT") {
        let pps = |n: u64, s: f64| n as f64 / s;
        let json = format!(
            concat!(
                "{{\"kind\":\"worker_rate\",\"frame\":{},\"secs\":{},\"variants\":[",
                "{{\"name\":\"icmp_echo\",\"rvs_offered_pps\":{:.0},\"rvs_pps\":{:.0},",
                "\"ceiling_offered_pps\":{:.0},\"ceiling_pps\":{:.0},\"ratio\":{:.4},",
                "\"lost\":{},\"wrong\":{}}}]}}\n"
            ),
            FRAME_LEN,
            secs,
            pps(sent, secs_f),
            pps(received, secs_f),
            pps(base_sent, base_secs),
            pps(base_recv, base_secs),
            pps(received, secs_f) / pps(base_recv, base_secs).max(f64::MIN_POSITIVE),
            sent.saturating_sub(received),
            bad
        );
        let path = std::path::Path::new(&dir).join("worker_rate.json");
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, json)) {
            eprintln!("worker_rate: cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    drop(port);
    drop(wire_out);
    drop(wire_in);
    drop(pool);
    drop(eal);
}
