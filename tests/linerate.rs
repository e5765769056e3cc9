//! The line-rate harness end to end, at a gentle rate: rvs-pktgen feeds a
//! real rvsd over a `net_memif` pair, for every forwarding method, and what
//! comes out is checked packet by packet in the counts: every packet
//! arrives, spread round-robin over the three real servers' MACs (which the
//! generator's sink handed out in its ARP replies), with FullNAT's source
//! rewritten to a LIP and TUN's packets wrapped in IPIP. This is what the
//! benchmark's numbers stand on.
//!
//! No root or namespaces needed: memif sockets are abstract Unix sockets
//! with names unique to this process.

#[path = "../benches/linerate/harness.rs"]
mod harness;

use harness::{Bins, Dut, Spec, RIPS};
use rvs::pktgen::sink_mac;
use std::net::Ipv4Addr;

fn bins() -> Bins {
    Bins {
        pktgen: env!("CARGO_BIN_EXE_rvs-pktgen").into(),
        rvsd: env!("CARGO_BIN_EXE_rvsd").into(),
        testpmd: "dpdk-testpmd".into(),
    }
}

/// Per-real-server counts from a report's `dests` object, in RIPS order.
fn per_rs(dests: &serde_json::Value) -> Vec<u64> {
    RIPS.iter()
        .map(|r| {
            let mac = sink_mac(r.parse::<Ipv4Addr>().expect("RIP")).to_string();
            dests[&mac].as_u64().unwrap_or(0)
        })
        .collect()
}

#[test]
fn every_method_forwards_every_packet_to_the_real_servers() {
    const FLOWS: u32 = 999;
    const COUNT: u64 = 29_970; // 30 packets per flow
    for (i, (method, proto)) in [
        ("nat", "udp"),
        ("nat", "tcp"),
        ("fullnat", "tcp"),
        ("dr", "tcp"),
        ("tun", "udp"),
    ]
    .into_iter()
    .enumerate()
    {
        let spec = Spec {
            dut: Dut::Rvs(method),
            proto,
            frame: 128,
            flows: FLOWS,
            secs: 30.0,
            count: Some(COUNT),
            rate: Some(30_000.0),
        };
        let v = harness::run(&spec, &bins(), &format!("t{i}"))
            .unwrap_or_else(|e| panic!("{method}/{proto}: {e}"));
        let ctx = format!("{method}/{proto}: {v}");
        let setup = &v["setup"];
        assert_eq!(setup["sent"], FLOWS, "{ctx}");
        assert_eq!(setup["received"], FLOWS, "every new flow forwarded: {ctx}");
        // Round robin: the 999 flows split 333 each.
        assert_eq!(per_rs(&setup["dests"]), vec![333, 333, 333], "{ctx}");

        let st = &v["steady"];
        assert_eq!(st["sent"], COUNT, "{ctx}");
        assert_eq!(st["received"], COUNT, "nothing lost at 30 kpps: {ctx}");
        assert_eq!(per_rs(&st["dests"]), vec![COUNT / 3; 3], "{ctx}");
        assert_eq!(st["other"], 0, "{ctx}");
        let all = serde_json::json!(COUNT);
        let none = serde_json::json!(0);
        // FullNAT hides the clients behind LIPs and TUN's outer header comes
        // from the director; NAT and DR keep the CIP as the source.
        let rewritten = if matches!(method, "fullnat" | "tun") {
            &all
        } else {
            &none
        };
        assert_eq!(&st["src_rewritten"], rewritten, "{ctx}");
        let ipip = if method == "tun" { &all } else { &none };
        assert_eq!(&st["ipip"], ipip, "{ctx}");
        // TUN adds a 20-byte outer header; the others keep the length.
        let len = if method == "tun" { 148 } else { 128 };
        assert_eq!(st["rx_bytes"], COUNT * len, "{ctx}");
    }
}
