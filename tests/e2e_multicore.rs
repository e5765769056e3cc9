//! Two workers on ports with two queue pairs each (af_packet fans flows out
//! over its queues by hash): every method still serves every request, and for
//! NAT and FullNAT, replies that land on the worker that does not own their
//! conn are carried to the owner through the software redirect rings
//! (af_packet offers neither RSS nor rte_flow, so rvsd's NIC steering of
//! FullNAT replies falls back to them, and says so).

mod common;

use common::topo::{Method, Topology, CIPS, LIPS, RIPS, UDP_PORT, VIP};
use common::{eal_args, require_root, Rvsd};
use std::time::Duration;

fn run(tag: &str, method: Method, name: &str) -> String {
    require_root();
    let mut t = Topology::build(tag);
    t.set_method_all(method);
    t.start_servers();
    let dests = |port: u16| -> String {
        RIPS.iter()
            .map(|rip| format!(r#"(rip: "{rip}:{port}", method: {name})"#))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Two queue pairs per port: one per worker.
    let interfaces = t
        .rvsd_interfaces(&LIPS)
        .replace("iface=lb-client", "iface=lb-client,qpairs=2")
        .replace("iface=lb-server", "iface=lb-server,qpairs=2");
    let cfg = format!(
        r#"(
    eal: {eal},
    {interfaces}
    laddrs: [{laddrs}],
    workers: (lcores: [1, 2], cpus: [1, 1], idle_sleep_us: 20),
    admin_socket: "/tmp/rvs-mc-{tag}-{pid}.sock",
    services: [
        (tcp: "{VIP}:80", scheduler: "rr", dests: [{tcp}]),
        (udp: "{VIP}:{UDP_PORT}", scheduler: "rr", dests: [{udp}]),
    ],
)"#,
        eal = eal_args(tag),
        laddrs = LIPS
            .iter()
            .map(|l| format!("\"{l}\""))
            .collect::<Vec<_>>()
            .join(", "),
        pid = std::process::id(),
        tcp = dests(80),
        udp = dests(UDP_PORT),
    );
    let mut rvsd = Rvsd::start(Some(&t.lb), tag, &cfg);
    assert!(
        rvsd.wait_for("rvsd running", Duration::from_secs(30)),
        "rvsd did not start:\n{}",
        rvsd.log()
    );
    // Traffic first, verdicts after rvsd has stopped and printed its
    // workers' counters (which the failure messages then show).
    let mut failures = Vec::new();
    for src in CIPS {
        let http = t.http(src, VIP, 80, 30);
        if http.ok() != 30 {
            failures.push(format!("HTTP via {name} from {src}: {:?}", http.errors));
        }
        let udp = t.udp(src, VIP, UDP_PORT, 30);
        if udp.ok() != 30 {
            failures.push(format!("UDP via {name} from {src}: {:?}", udp.errors));
        }
    }
    match t.download(CIPS[1], VIP, 80) {
        Ok(dl) if dl.sha256 == common::topo::BIG_SHA256 => {}
        other => failures.push(format!("download via {name}: {other:?}")),
    }
    let status = rvsd.terminate(Duration::from_secs(15)).expect("rvsd exits");
    let log = rvsd.log();
    assert!(
        failures.is_empty(),
        "{failures:#?}\n--- rvsd\n{log}\n{}",
        t.logs()
    );
    assert!(status.success(), "{log}");
    assert_eq!(
        log.matches("worker stopped").count(),
        2,
        "two workers ran:\n{log}"
    );
    log
}

/// The sum of `redirected_in: N` over the workers' final reports.
fn redirected(log: &str) -> u64 {
    log.split("redirected_in: ")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[test]
fn nat_with_two_workers() {
    let log = run("mcnat", Method::Nat, "nat");
    assert!(
        redirected(&log) > 0,
        "some replies reached their owner through a redirect ring:\n{log}"
    );
}

#[test]
fn fullnat_with_two_workers() {
    let log = run("mcfnat", Method::FullNat, "fullnat");
    assert!(
        redirected(&log) > 0,
        "some replies reached their owner through a redirect ring:\n{log}"
    );
    // af_packet has no rte_flow support: rvsd tried to steer FullNAT replies
    // by NIC rules, was refused, and said it falls back to the rings. (Real
    // steering needs a NIC; nothing here can exercise it.)
    for iface in ["client", "server"] {
        let line = format!("interface {iface}: no rte_flow steering (");
        assert!(
            log.lines().any(|l| l.contains(&line)
                && l.ends_with("FullNAT replies go through the redirect rings")),
            "the fallback for {iface} is logged:\n{log}"
        );
    }
}

#[test]
fn dr_with_two_workers() {
    run("mcdr", Method::Dr, "dr");
}

#[test]
fn tun_with_two_workers() {
    run("mctun", Method::Tun, "tun");
}
