//! The line-rate harness: rvs-pktgen feeds rvsd over a `net_memif` pair and
//! counts what comes out, per method, frame size and flow count, next to
//! dpdk-testpmd's io forwarding over the same pair (this machine's I/O
//! ceiling). See `harness.rs` for one run.
//!
//! Run: `cargo bench --bench linerate` (root not needed; no hugepages).
//! Environment:
//! - `RVS_BENCH_OUT=DIR`: also write DIR/linerate.json;
//! - `RVS_LINERATE_QUICK=1`: 64-byte frames only, 2-second runs;
//! - `RVS_LINERATE_SECS=S`: steady phase length (default 5);
//! - `RVS_LINERATE_ONLY=nat,io`: only these methods (`io` = the ceiling).
//!
//! Reported per run: packets per second the generator got onto the wire
//! (tx) and that came out of the device under test (rx), loss = 1 - rx/tx
//! after a drain, and rx / ceiling rx for the same frame size and flow
//! count. For TCP the setup phase (one SYN per flow, each a new conn) gives
//! new connections per second.

#[path = "harness.rs"]
mod harness;

use harness::{Bins, Dut, Spec};
use serde_json::{json, Value};
use std::time::Instant;

const METHODS: [&str; 4] = ["nat", "fullnat", "dr", "tun"];

fn main() {
    // `cargo bench` passes --bench; criterion-style filters are not used here.
    let quick = std::env::var("RVS_LINERATE_QUICK").is_ok_and(|v| v == "1");
    let secs: f64 = std::env::var("RVS_LINERATE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2.0 } else { 5.0 });
    let only: Option<Vec<String>> = std::env::var("RVS_LINERATE_ONLY")
        .ok()
        .map(|v| v.split(',').map(str::to_owned).collect());
    let wanted = |m: &str| only.as_ref().map_or(true, |o| o.iter().any(|x| x == m));
    let frames: &[usize] = if quick { &[64] } else { &[64, 512] };
    let flow_counts: [u32; 2] = [1_000, 1_000_000];
    let testpmd = which("dpdk-testpmd");
    let bins = Bins {
        pktgen: env!("CARGO_BIN_EXE_rvs-pktgen").into(),
        rvsd: env!("CARGO_BIN_EXE_rvsd").into(),
        testpmd: testpmd.clone().unwrap_or_default(),
    };
    let mut notes: Vec<String> = vec![
        "one rvsd worker (CPU 1) against dpdk-testpmd io forwarding with one forwarding core (CPU 1); \
         rvs-pktgen (generator and sink) on CPU 0"
            .into(),
        "frame sizes exclude the 4-byte FCS; TUN frames leave 20 bytes longer (IPIP)".into(),
        "loss = 1 - received/sent after a drain; memif pushes back on a full ring, so an \
         overloaded device shows as a lower tx rate more than as loss"
            .into(),
    ];

    let mut plan: Vec<Spec> = Vec::new();
    for &frame in frames {
        for &flows in &flow_counts {
            if wanted("io") && testpmd.is_some() {
                plan.push(spec(Dut::Testpmd, "tcp", frame, flows, secs));
            }
            for m in METHODS {
                if wanted(m) {
                    plan.push(spec(Dut::Rvs(m), "tcp", frame, flows, secs));
                }
            }
            if wanted("nat") {
                plan.push(spec(Dut::Rvs("nat"), "udp", frame, flows, secs));
            }
        }
    }
    if testpmd.is_none() {
        notes.push("dpdk-testpmd not found: no ceiling, no ratios (apt install dpdk)".into());
    }

    let started = Instant::now();
    let mut ceiling: Vec<Value> = Vec::new();
    let mut runs: Vec<Value> = Vec::new();
    let mut cps: Vec<Value> = Vec::new();
    println!(
        "{:<8} {:<4} {:>5} {:>8} {:>9} {:>9} {:>8} {:>8} {:>11}",
        "method", "prot", "frame", "flows", "tx Mpps", "rx Mpps", "loss %", "/ceil", "setup /s"
    );
    for (i, s) in plan.iter().enumerate() {
        eprintln!(
            "==> linerate [{}/{}] {} {} {} B, {} flows ({:.0} s so far)",
            i + 1,
            plan.len(),
            s.dut.name(),
            s.proto,
            s.frame,
            s.flows,
            started.elapsed().as_secs_f64()
        );
        let v = match harness::run(s, &bins, &format!("{i}")) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("linerate: run failed: {e}");
                notes.push(format!(
                    "{} {} {} B {} flows failed: {}",
                    s.dut.name(),
                    s.proto,
                    s.frame,
                    s.flows,
                    e.lines().next().unwrap_or("")
                ));
                continue;
            }
        };
        let st = &v["steady"];
        let (tx, rx, loss) = (
            st["tx_pps"].as_f64().unwrap_or(0.0),
            st["rx_pps"].as_f64().unwrap_or(0.0),
            st["loss"].as_f64().unwrap_or(0.0),
        );
        let setup = v["setup"]["per_sec"].as_f64();
        let ceil = ceiling
            .iter()
            .find(|c| c["frame"] == json!(s.frame) && c["flows"] == json!(s.flows))
            .and_then(|c| c["rx_pps"].as_f64());
        let ratio = ceil.filter(|c| *c > 0.0).map(|c| rx / c);
        println!(
            "{:<8} {:<4} {:>5} {:>8} {:>9.3} {:>9.3} {:>8.4} {:>8} {:>11}",
            s.dut.name(),
            s.proto,
            s.frame,
            s.flows,
            tx / 1e6,
            rx / 1e6,
            loss * 100.0,
            ratio.map_or("-".into(), |r| format!("{r:.3}")),
            setup.map_or("-".into(), |c| format!("{c:.0}"))
        );
        match s.dut {
            Dut::Testpmd => ceiling.push(json!({
                "frame": s.frame, "flows": s.flows, "proto": s.proto,
                "tx_pps": tx, "rx_pps": rx, "loss": loss,
            })),
            Dut::Rvs(method) => {
                runs.push(json!({
                    "method": method, "proto": s.proto, "frame": s.frame, "flows": s.flows,
                    "tx_pps": tx, "rx_pps": rx, "loss": loss,
                    "ceiling_rx_pps": ceil, "ratio": ratio,
                    "dests": st["dests"].clone(),
                    "src_rewritten": st["src_rewritten"].clone(), "ipip": st["ipip"].clone(),
                }));
                // New conns/s: the SYN phase of the 1 M-flow TCP runs, 64 B.
                if s.proto == "tcp" && s.flows >= 1_000_000 && s.frame == frames[0] {
                    if let Some(c) = setup {
                        let received = v["setup"]["received"].as_u64().unwrap_or(0);
                        cps.push(json!({
                            "method": method, "conns": received, "cps": c,
                            "ceiling_rx_pps": ceil,
                            "ratio": ceil.filter(|x| *x > 0.0).map(|x| c / x),
                        }));
                    }
                }
            }
        }
    }
    let report = json!({
        "kind": "linerate",
        "workers": 1,
        "secs": secs,
        "ceiling": ceiling,
        "runs": runs,
        "cps": cps,
        "notes": notes,
        "elapsed_s": started.elapsed().as_secs_f64(),
    });
    if let Ok(dir) = std::env::var("RVS_BENCH_OUT") {
        let path = std::path::Path::new(&dir).join("linerate.json");
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text)) {
            eprintln!("linerate: writing {}: {e}", path.display());
            std::process::exit(1);
        }
        eprintln!("linerate: wrote {}", path.display());
    }
}

fn spec(dut: Dut, proto: &'static str, frame: usize, flows: u32, secs: f64) -> Spec {
    Spec {
        dut,
        proto,
        frame,
        flows,
        secs,
        count: None,
        rate: None,
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}
