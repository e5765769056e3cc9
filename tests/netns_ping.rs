//! rvsd on `net_af_packet`, bound to a veth in a namespace this test creates,
//! answers ping and ARP from a client namespace, and stops cleanly on SIGTERM.

mod common;

use common::{eal_args, ifname, require_root, Netns, Rvsd};
use std::time::Duration;

#[test]
fn rvsd_answers_arp_and_ping_and_stops_on_sigterm() {
    require_root();
    let pid = std::process::id();
    let mut ns = Netns::new();
    let lb = ns.add(&format!("rvs-ping-lb-{pid}"));
    let cl = ns.add(&format!("rvs-ping-cl-{pid}"));
    let (lb_if, cl_if) = (ifname("l"), ifname("c"));
    ns.veth(&lb_if, &lb, &cl_if, &cl);
    common::must(&[
        "ip",
        "-n",
        &cl,
        "addr",
        "add",
        "198.18.0.2/24",
        "dev",
        &cl_if,
    ]);
    // Let the client learn neighbours from gratuitous ARP.
    let accept = format!("net.ipv4.conf.{cl_if}.arp_accept=1");
    common::must(&["ip", "netns", "exec", &cl, "sysctl", "-qw", &accept]);
    let lb_mac = ns.mac(&lb, &lb_if);

    let config = format!(
        r#"(
    eal: {eal},
    interfaces: [
        (name: "lb0", device: "net_af_packet0,iface={lb_if}", addresses: ["198.18.0.1/24", "198.18.0.10/32"]),
    ],
    workers: (main_lcore: 0, lcores: [1], idle_sleep_us: 50),
    admin_socket: "/tmp/rvs-ping-{pid}.sock",
)"#,
        eal = eal_args("ping")
    );
    let mut rvsd = Rvsd::start(Some(&lb), "ping", &config);
    assert!(
        rvsd.wait_for("rvsd running", Duration::from_secs(30)),
        "rvsd did not start:\n{}",
        rvsd.log()
    );

    // At start rvsd announces its addresses (gratuitous ARP): the client
    // learns the LB's MAC before sending anything.
    let (seen, announced) = ns.wait_neigh(&cl, "198.18.0.10", &lb_mac, Duration::from_secs(5));
    assert!(
        seen,
        "no gratuitous ARP for 198.18.0.10 seen: {announced:?}; neighbours: {}; arp_accept: {}\n{}",
        common::must(&["ip", "-n", &cl, "neigh"]),
        common::must(&[
            "ip",
            "netns",
            "exec",
            &cl,
            "sysctl",
            &format!("net.ipv4.conf.{cl_if}.arp_accept")
        ]),
        rvsd.log()
    );

    // ARP: arping gets a reply carrying the LB port's MAC.
    let out = ns.exec(
        &cl,
        &["arping", "-c", "2", "-w", "5", "-I", &cl_if, "198.18.0.1"],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(
        out.status.success(),
        "arping failed: {text}\n{}",
        rvsd.log()
    );
    assert!(
        text.contains(&lb_mac.to_lowercase()),
        "ARP reply should carry {lb_mac}: {text}"
    );

    // ICMP echo to both of our addresses.
    for ip in ["198.18.0.1", "198.18.0.10"] {
        let out = ns.exec(&cl, &["ping", "-c", "3", "-i", "0.2", "-W", "2", ip]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "ping {ip} failed: {text}\n{}",
            rvsd.log()
        );
        assert!(text.contains("3 received"), "{text}");
    }
    // The kernel's neighbour entry learnt our MAC.
    let neigh = common::must(&["ip", "-n", &cl, "neigh", "show", "198.18.0.1"]);
    assert!(
        neigh.contains(&lb_mac),
        "neighbour entry {neigh:?} should hold {lb_mac}"
    );

    // An address that is not ours gets no answer.
    let out = ns.exec(&cl, &["ping", "-c", "1", "-W", "1", "198.18.0.99"]);
    assert!(
        !out.status.success(),
        "nobody owns 198.18.0.99, yet it answered"
    );

    let status = rvsd
        .terminate(Duration::from_secs(15))
        .expect("rvsd exits on SIGTERM");
    let log = rvsd.log();
    assert!(status.success(), "rvsd exit status {status:?}:\n{log}");
    assert!(
        log.contains("rvsd stopped"),
        "clean shutdown is logged:\n{log}"
    );
}
