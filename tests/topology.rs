//! The end-to-end topology (tests/common/topo.rs) works without rvsd: with a
//! plain kernel router in the director's namespace, each real server answers
//! HTTP and UDP with its own name, the big download arrives intact, DR real
//! servers hold the VIP without answering ARP for it and reply around the
//! director, and TUN real servers unwrap IPIP in user space
//! (scripts/topo/ipip-decap.py) and reply around the director too.

mod common;

use common::topo;
use common::{must, require_root, run};

use std::time::Duration;
use topo::{
    Method, Topology, BIG_BYTES, BIG_SHA256, CIPS, CLIENT_BACK_IF, CLIENT_FRONT_IF, DIP_SERVER,
    HTTP_PORTS, LB_SERVER_IF, RIPS, UDP_PORT, VIP,
};

/// Bytes received on the client's two links: (front, back).
fn client_rx(t: &Topology) -> (u64, u64) {
    (
        t.link_stat(&t.client, CLIENT_FRONT_IF, "rx_bytes"),
        t.link_stat(&t.client, CLIENT_BACK_IF, "rx_bytes"),
    )
}

/// Asserts that every request of `r` was answered by `rs`.
fn all_from(t: &mut Topology, what: &str, r: &topo::Replies, n: usize, rs: &str) {
    assert!(
        r.count(rs) == n && r.errors.is_empty(),
        "{what}: want {n} answers from {rs}, got {:?}\n{}\n{}",
        r.per_rs,
        r.lines.join("\n"),
        t.logs()
    );
}

#[test]
fn nat_and_fullnat_real_servers_answer_through_a_kernel_router() {
    require_root();
    let mut t = Topology::build("tnat");
    t.set_method(0, Method::Nat);
    t.set_method(1, Method::Nat);
    t.set_method(2, Method::FullNat);
    t.kernel_router();
    t.start_servers();

    let before = client_rx(&t);
    for (i, rip) in RIPS.iter().copied().enumerate().take(2) {
        let rs = t.rs[i].name.clone();
        for cip in CIPS {
            for port in HTTP_PORTS {
                let r = t.http(cip, rip, port, 3);
                all_from(&mut t, &format!("http {cip} -> {rip}:{port}"), &r, 3, &rs);
            }
            let r = t.udp(cip, rip, UDP_PORT, 3);
            all_from(&mut t, &format!("udp {cip} -> {rip}"), &r, 3, &rs);
        }
    }
    let d = t
        .download(CIPS[1], RIPS[1], 80)
        .unwrap_or_else(|e| panic!("download: {e}"));
    assert_eq!(
        (d.rs.as_str(), d.bytes, d.sha256.as_str()),
        ("rs2", BIG_BYTES, BIG_SHA256)
    );
    // NAT: the replies came back through the director, not the return path.
    let after = client_rx(&t);
    assert!(
        after.0 - before.0 >= BIG_BYTES,
        "front link got {before:?} -> {after:?}"
    );
    assert!(
        after.1 - before.1 < 64 * 1024,
        "back link got {before:?} -> {after:?}"
    );

    // FullNAT: rs3 has no route off its segment. It answers an on-link
    // source (what a LIP is; here the lb namespace's DIP)...
    let limit = Duration::from_secs(15);
    let lines = t.client_in(
        &t.lb,
        &["http", "--src", DIP_SERVER, "--dst", RIPS[2], "-n", "2"],
        limit,
    );
    let r = topo::Replies::parse(lines);
    all_from(&mut t, "http from the server segment to rs3", &r, 2, "rs3");
    let lines = t.client_in(
        &t.lb,
        &[
            "udp", "--src", DIP_SERVER, "--dst", RIPS[2], "--port", "5353", "-n", "2",
        ],
        limit,
    );
    let r = topo::Replies::parse(lines);
    all_from(&mut t, "udp from the server segment to rs3", &r, 2, "rs3");
    // ...and not a client, whose replies it cannot route.
    let lines = t.client(
        &[
            "http",
            "--src",
            CIPS[0],
            "--dst",
            RIPS[2],
            "-n",
            "1",
            "--timeout",
            "1",
        ],
        limit,
    );
    let r = topo::Replies::parse(lines);
    assert!(r.ok() == 0 && r.errors.len() == 1, "{:?}", r.lines);
}

#[test]
fn dr_real_servers_hold_the_vip_and_reply_around_the_director() {
    require_root();
    let mut t = Topology::build("tdr");
    t.set_method_all(Method::Dr);
    t.kernel_router();
    t.start_servers();

    // The VIP sits on lo with arp_ignore=1: nobody on the server segment
    // gets an ARP answer for it, while each RIP is answered.
    let arping = |target: &str| {
        run(&[
            "ip",
            "netns",
            "exec",
            &t.sw,
            "arping",
            "-c",
            "1",
            "-w",
            "2",
            "-I",
            topo::BRIDGE,
            target,
        ])
    };
    assert!(
        !arping(VIP).status.success(),
        "a DR real server answered ARP for the VIP"
    );
    assert!(
        arping(RIPS[0]).status.success(),
        "rs1 did not answer ARP for its RIP"
    );

    for (i, rip) in RIPS.iter().enumerate() {
        // The kernel forwards client -> VIP to this RS's MAC, IP unchanged.
        t.route_vip_to(rip);
        let rs = t.rs[i].name.clone();
        let before = client_rx(&t);
        let lb_before = t.link_stat(&t.lb, LB_SERVER_IF, "rx_bytes");
        for cip in CIPS {
            let r = t.http(cip, VIP, 80, 3);
            all_from(&mut t, &format!("http {cip} -> VIP via {rs}"), &r, 3, &rs);
            // The answer must come from the VIP (the client's UDP socket is
            // connected to it), not from the RIP.
            let r = t.udp(cip, VIP, UDP_PORT, 3);
            all_from(&mut t, &format!("udp {cip} -> VIP via {rs}"), &r, 3, &rs);
        }
        let d = t
            .download(CIPS[0], VIP, 8080)
            .unwrap_or_else(|e| panic!("download: {e}"));
        assert_eq!(
            (d.rs.as_str(), d.bytes, d.sha256.as_str()),
            (rs.as_str(), BIG_BYTES, BIG_SHA256)
        );
        // Replies bypassed the director: they arrived on the client's back
        // link, and the director's server side saw almost nothing.
        let after = client_rx(&t);
        let lb_after = t.link_stat(&t.lb, LB_SERVER_IF, "rx_bytes");
        assert!(
            after.1 - before.1 >= BIG_BYTES,
            "back link got {before:?} -> {after:?}"
        );
        assert!(
            after.0 - before.0 < 64 * 1024,
            "front link got {before:?} -> {after:?}"
        );
        assert!(
            lb_after - lb_before < 64 * 1024,
            "lb-server got {lb_before} -> {lb_after}"
        );
    }
}

#[test]
fn tun_real_servers_unwrap_ipip_and_reply_around_the_director() {
    require_root();
    let mut t = Topology::build("ttun");
    t.set_method_all(Method::Tun);
    t.kernel_router();
    t.start_servers();

    for (i, rip) in RIPS.iter().enumerate() {
        // ipip-encap.py in the lb namespace tunnels every packet for the VIP
        // to this RS (outer header DIP -> RIP, protocol 4).
        t.start_encap(&[rip]);
        let rs = t.rs[i].name.clone();
        let before = client_rx(&t);
        // An IPIP-wrapped ICMP echo to the VIP is answered by the VIP.
        let ping = t.exec(
            &t.client,
            &[
                "ping", "-c", "2", "-i", "0.2", "-W", "2", "-I", CIPS[1], VIP,
            ],
        );
        assert!(
            ping.status.success(),
            "ping VIP via {rs}: {}\n{}",
            String::from_utf8_lossy(&ping.stdout),
            t.logs()
        );
        for cip in CIPS {
            let r = t.http(cip, VIP, 80, 3);
            all_from(&mut t, &format!("http {cip} -> VIP via {rs}"), &r, 3, &rs);
            let r = t.udp(cip, VIP, UDP_PORT, 3);
            all_from(&mut t, &format!("udp {cip} -> VIP via {rs}"), &r, 3, &rs);
        }
        let d = t
            .download(CIPS[1], VIP, 80)
            .unwrap_or_else(|e| panic!("download: {e}"));
        assert_eq!(
            (d.rs.as_str(), d.bytes, d.sha256.as_str()),
            (rs.as_str(), BIG_BYTES, BIG_SHA256)
        );
        let after = client_rx(&t);
        assert!(
            after.1 - before.1 >= BIG_BYTES,
            "back link got {before:?} -> {after:?}"
        );
        assert!(
            after.0 - before.0 < 64 * 1024,
            "front link got {before:?} -> {after:?}"
        );
    }
    t.stop_encap();
    // Without the tunnel nothing reaches the VIP: the answers above came
    // through the decapsulators.
    let r = topo::Replies::parse(t.client(
        &[
            "udp",
            "--src",
            CIPS[0],
            "--dst",
            VIP,
            "--port",
            "5353",
            "-n",
            "1",
            "--timeout",
            "1",
        ],
        Duration::from_secs(10),
    ));
    assert_eq!(r.ok(), 0, "{:?}", r.lines);
}

#[test]
fn topology_is_removed_on_drop() {
    require_root();
    let (names, pids) = {
        let mut t = Topology::build("tdrop");
        t.set_method(0, Method::Tun);
        t.start_servers();
        let mut names: Vec<String> = vec![t.client.clone(), t.lb.clone(), t.sw.clone()];
        names.extend(t.rs.iter().map(|r| r.ns.clone()));
        (names, t.pids())
    };
    assert_eq!(pids.len(), 4, "one decapsulator and three servers");
    let list = must(&["ip", "netns", "list"]);
    for n in &names {
        assert!(
            !list
                .lines()
                .any(|l| l.split_whitespace().next() == Some(n.as_str())),
            "{n} left behind:\n{list}"
        );
    }
    for pid in pids {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains("scripts/topo/"),
            "helper {pid} still runs"
        );
    }
}

#[test]
fn topo_sh_builds_the_same_topology_and_removes_it() {
    require_root();
    let checks = "set -e
$TOPO_CLIENT http --dst 198.19.0.11 -n 2
ip -n $TOPO_LB route replace $TOPO_VIP/32 via 198.19.0.12 dev $TOPO_LB_SERVER_IF
$TOPO_CLIENT udp --dst $TOPO_VIP --src 198.18.0.3 -n 2
ip -n $TOPO_RS3 -o addr show dev vip0";
    let child = std::process::Command::new("timeout")
        .args(["-k", "5", "60", &topo::script("topo.sh")])
        .args([
            "--tag",
            "tsh",
            "--kernel-router",
            "nat,dr,tun",
            "--",
            "sh",
            "-c",
            checks,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start topo.sh");
    let out = child.wait_with_output().expect("topo.sh output");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "topo.sh failed: {text}\n{err}");
    for want in [
        "http 0 ok rs1",
        "http 1 ok rs1",
        "udp 0 ok rs2",
        "udp 1 ok rs2",
        "198.18.0.100/32",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}\n{err}");
    }
    // topo.sh names its namespaces rvs-tsh-<role>-<its pid> and says so.
    let pid: String = err
        .split("rvs-tsh-cl-")
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(
        !pid.is_empty(),
        "topo.sh did not name its namespaces:\n{err}"
    );
    let list = must(&["ip", "netns", "list"]);
    assert!(
        !list.lines().any(|l| l
            .split_whitespace()
            .next()
            .is_some_and(|n| n.starts_with("rvs-tsh-") && n.ends_with(&format!("-{pid}")))),
        "topo.sh left namespaces behind:\n{list}"
    );
}
