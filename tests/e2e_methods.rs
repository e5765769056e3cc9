//! End to end: real clients and real servers in network namespaces, rvsd in
//! between on af_packet ports, for each forwarding method over TCP (HTTP)
//! and UDP, with a checksummed multi-megabyte download. The topology (and
//! how each real server is set up for its method) is in common/topo.rs.

mod common;

use common::topo::{Method, Topology, CIPS, LIPS, RIPS, UDP_PORT, VIP};
use common::{eal_args, require_root, Rvsd};
use std::time::Duration;

/// rvsd's config for `t`: both ports, the LIPs for FullNAT, and a TCP :80
/// and a UDP service on the VIP with every RS behind it by `method`.
fn config(t: &Topology, tag: &str, method: &str, scheduler: &str, weights: [u32; 3]) -> String {
    let dests = |port: u16| -> String {
        RIPS.iter()
            .zip(weights)
            .map(|(rip, w)| format!(r#"(rip: "{rip}:{port}", method: {method}, weight: {w})"#))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"(
    eal: {eal},
    {interfaces}
    laddrs: [{laddrs}],
    workers: (lcores: [1], idle_sleep_us: 20),
    admin_socket: "/tmp/rvs-e2e-{tag}-{pid}.sock",
    services: [
        (tcp: "{VIP}:80", scheduler: "{scheduler}", dests: [{tcp}]),
        (udp: "{VIP}:{UDP_PORT}", scheduler: "{scheduler}", dests: [{udp}]),
    ],
)"#,
        eal = eal_args(tag),
        interfaces = t.rvsd_interfaces(&LIPS),
        laddrs = LIPS
            .iter()
            .map(|l| format!("\"{l}\""))
            .collect::<Vec<_>>()
            .join(", "),
        pid = std::process::id(),
        tcp = dests(80),
        udp = dests(UDP_PORT),
    )
}

/// Builds the topology for `method`, starts the servers and rvsd.
fn setup(
    tag: &str,
    method: Method,
    name: &str,
    scheduler: &str,
    weights: [u32; 3],
) -> (Topology, Rvsd) {
    require_root();
    let mut t = Topology::build(tag);
    t.set_method_all(method);
    t.start_servers();
    let cfg = config(&t, tag, name, scheduler, weights);
    let mut rvsd = Rvsd::start(Some(&t.lb), tag, &cfg);
    assert!(
        rvsd.wait_for("rvsd running", Duration::from_secs(30)),
        "rvsd did not start:\n{}",
        rvsd.log()
    );
    (t, rvsd)
}

/// rr over 30 HTTP and 30 UDP requests gives exactly 10 per RS, and a 4 MiB
/// download arrives intact.
fn every_method_serves(tag: &str, method: Method, name: &str) {
    let (mut t, mut rvsd) = setup(tag, method, name, "rr", [1, 1, 1]);
    let http = t.http(CIPS[0], VIP, 80, 30);
    let diag =
        |t: &mut Topology, rvsd: &mut Rvsd| format!("{}\n--- rvsd\n{}", t.logs(), rvsd.log());
    assert_eq!(
        http.ok(),
        30,
        "HTTP via {name}: {:?}\n{}",
        http.errors,
        diag(&mut t, &mut rvsd)
    );
    for rs in ["rs1", "rs2", "rs3"] {
        assert_eq!(
            http.count(rs),
            10,
            "rr over HTTP via {name}: {:?}",
            http.per_rs
        );
    }
    let udp = t.udp(CIPS[1], VIP, UDP_PORT, 30);
    assert_eq!(
        udp.ok(),
        30,
        "UDP via {name}: {:?}\n{}",
        udp.errors,
        diag(&mut t, &mut rvsd)
    );
    for rs in ["rs1", "rs2", "rs3"] {
        assert_eq!(
            udp.count(rs),
            10,
            "rr over UDP via {name}: {:?}",
            udp.per_rs
        );
    }
    let dl = t
        .download(CIPS[0], VIP, 80)
        .unwrap_or_else(|e| panic!("download via {name}: {e}\n{}", diag(&mut t, &mut rvsd)));
    assert_eq!(
        dl.sha256,
        common::topo::BIG_SHA256,
        "download via {name} corrupted"
    );
    assert_eq!(dl.bytes, common::topo::BIG_BYTES);
    let status = rvsd.terminate(Duration::from_secs(15)).expect("rvsd exits");
    assert!(status.success(), "{}", rvsd.log());
}

#[test]
fn nat_serves_tcp_and_udp() {
    every_method_serves("e2enat", Method::Nat, "nat");
}

#[test]
fn fullnat_serves_tcp_and_udp() {
    every_method_serves("e2efnat", Method::FullNat, "fullnat");
}

#[test]
fn dr_serves_tcp_and_udp() {
    every_method_serves("e2edr", Method::Dr, "dr");
}

#[test]
fn tun_serves_tcp_and_udp() {
    every_method_serves("e2etun", Method::Tun, "tun");
}

#[test]
fn wrr_weights_and_dest_changes() {
    let (mut t, mut rvsd) = setup("e2ewrr", Method::Nat, "nat", "wrr", [1, 2, 3]);
    let http = t.http(CIPS[0], VIP, 80, 60);
    assert_eq!(http.ok(), 60, "{:?}\n{}", http.errors, rvsd.log());
    assert_eq!(
        (http.count("rs1"), http.count("rs2"), http.count("rs3")),
        (10, 20, 30),
        "{:?}",
        http.per_rs
    );
    let _ = &mut t;
    let status = rvsd.terminate(Duration::from_secs(15)).expect("rvsd exits");
    assert!(status.success(), "{}", rvsd.log());
}
