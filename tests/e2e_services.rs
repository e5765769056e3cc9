//! End to end: the kinds of virtual service IPVS has, each serving real
//! clients through rvsd (NAT):
//! - NAT port mapping: VIP:80 forwarded to RIP:8080;
//! - a port-0 service (`-t VIP:0 -p`): every port of the VIP, persistent as
//!   ipvsadm requires, so one client stays on one RS whatever the port;
//! - a firewall-mark service whose rules mark ports 80 and 8080 of a VIP:
//!   one scheduler across both ports, and nothing for a port not marked;
//! - a client port reused while the director still holds the old conn in
//!   TIME_WAIT: IPVS (`conn_reuse_mode` 1, the default) expires the old conn
//!   and schedules the SYN anew.

mod common;

use common::e2e::{Lab, LabConfig, VIP2, VIP3};
use common::topo::{Method, CIPS, RIPS, VIP};
use std::collections::BTreeSet;
use std::time::Duration;

#[test]
fn port_mapping_port_zero_and_mark_services_serve() {
    let dests = |port: &str| -> String {
        RIPS.iter()
            .map(|r| format!(r#"(rip: "{r}{port}", method: nat)"#))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let services = format!(
        r#"services: [
        (tcp: "{VIP}:80", scheduler: "rr", dests: [{mapped}]),
        (tcp: "{VIP2}:0", scheduler: "rr", persistent: 60, dests: [{any}]),
        (mark: 7, rules: [(vip: "{VIP3}", protocol: tcp, ports: ["80", "8080"])],
         scheduler: "rr", dests: [{any}]),
    ],"#,
        mapped = dests(":8080"),
        any = dests(""),
    );
    let mut lab = Lab::start(
        "e2esvc",
        &LabConfig {
            method: Method::Nat,
            extra_vips: &[VIP2, VIP3],
            server_twin: false,
            extra: &services,
        },
    );

    // Port mapping: the client asks VIP:80, the conn goes to RIP:8080.
    let first = lab.t.http(CIPS[0], VIP, 80, 9);
    let r = &first;
    assert_eq!(
        r.ok(),
        9,
        "VIP:80 -> RIP:8080: {:?}\n{}",
        r.errors,
        lab.diag()
    );
    for rs in ["rs1", "rs2", "rs3"] {
        assert_eq!(r.count(rs), 3, "rr over the mapped port: {:?}", r.per_rs);
    }
    let conns = lab.admin.ok(&["-Lnc"]);
    let mapped: Vec<&str> = conns
        .lines()
        .filter(|l| l.contains(&format!(" {VIP}:80 ")))
        .collect();
    assert_eq!(mapped.len(), 9, "-Lnc:\n{conns}");
    for rip in RIPS {
        let n = mapped
            .iter()
            .filter(|l| l.trim_end().ends_with(&format!(" {rip}:8080")))
            .count();
        assert_eq!(n, 3, "-Lnc: 3 conns to {rip}:8080:\n{conns}");
    }

    // ipvsadm refuses a non-persistent port-0 service, and so does rvsadm.
    let out = lab
        .admin
        .run(&["-A", "-t", &format!("{VIP3}:0"), "-s", "rr"]);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr)
                .contains("Zero port specified for non-persistent service"),
        "{out:?}"
    );

    // Port 0: ports 80 and 8080 both served, all on the RS the first conn
    // got (the template covers every port of the VIP for this client).
    let web = lab.t.http(CIPS[0], VIP2, 80, 4);
    let alt = lab.t.http(CIPS[0], VIP2, 8080, 4);
    assert_eq!(
        (web.ok(), alt.ok()),
        (4, 4),
        "VIP2:0: {:?} {:?}\n{}",
        web.errors,
        alt.errors,
        lab.diag()
    );
    let rs: BTreeSet<&String> = web.per_rs.keys().chain(alt.per_rs.keys()).collect();
    assert_eq!(
        rs.len(),
        1,
        "a persistent port-0 service keeps a client on one RS: {:?} {:?}",
        web.per_rs,
        alt.per_rs
    );
    let ln = lab.admin.ok(&["-Ln"]);
    assert!(
        ln.contains(&format!("TCP  {VIP2}:0 rr persistent 60")),
        "{ln}"
    );

    // The mark service: one rr across both marked ports.
    let web = lab.t.http(CIPS[1], VIP3, 80, 6);
    let alt = lab.t.http(CIPS[1], VIP3, 8080, 6);
    assert_eq!(
        (web.ok(), alt.ok()),
        (6, 6),
        "FWM 7: {:?} {:?}\n{}",
        web.errors,
        alt.errors,
        lab.diag()
    );
    for rs in ["rs1", "rs2", "rs3"] {
        assert_eq!(
            (web.count(rs), alt.count(rs)),
            (2, 2),
            "rr over FWM 7: {:?} {:?}",
            web.per_rs,
            alt.per_rs
        );
    }
    let stats = lab.admin.ok(&["-Ln", "--stats", "--exact"]);
    assert!(
        stats.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() == 7 && w[0] == "FWM" && w[1] == "7"
        }),
        "{stats}"
    );
    // A port the rules do not mark belongs to no service: not forwarded.
    let other = lab.t.http(CIPS[1], VIP3, 8081, 1);
    assert_eq!(
        other.ok(),
        0,
        "VIP3:8081 is in no service: {:?}",
        other.lines
    );
    // The first conn to each RS: rvsd holds its SYN while it resolves the
    // RS's MAC and sends it on, so no client waits for a SYN retransmission
    // (1 s) on the way to a real server seen for the first time.
    let slow: Vec<&String> = first
        .lines
        .iter()
        .filter(|l| {
            l.split_whitespace()
                .nth(4)
                .and_then(|ms| ms.parse::<f64>().ok())
                .is_some_and(|ms| ms >= 500.0)
        })
        .collect();
    assert!(
        slow.is_empty(),
        "requests that waited for a retransmission: {slow:?}"
    );
    lab.stop();
}

/// Three conns in a row from one client port, each opened after the last
/// one closed. The real server closes first, so the client's port is free
/// at once while rvsd still holds the conn in TIME_WAIT.
const SAME_PORT: &str = r#"
import socket, sys, time
cip, vip = sys.argv[1], sys.argv[2]
for i in range(3):
    try:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(3)
        s.bind((cip, 40123))
        s.connect((vip, 80))
        s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        name = data.rstrip().split(b"\n")[-1].decode()
        print(f"reuse {i} ok {name}", flush=True)
    except Exception as e:
        print(f"reuse {i} err {type(e).__name__}", flush=True)
    time.sleep(0.3)
"#;

#[test]
fn a_client_port_reused_in_time_wait_is_scheduled_anew() {
    let services = format!(
        r#"services: [(tcp: "{VIP}:80", scheduler: "rr", dests: [{}])],"#,
        RIPS.iter()
            .map(|r| format!(r#"(rip: "{r}:80", method: nat)"#))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut lab = Lab::start(
        "e2ereuse",
        &LabConfig {
            method: Method::Nat,
            extra_vips: &[],
            server_twin: false,
            extra: &services,
        },
    );
    let out = lab.t.exec(
        &lab.t.client,
        &["timeout", "20", "python3", "-c", SAME_PORT, CIPS[0], VIP],
    );
    let lines = String::from_utf8_lossy(&out.stdout).into_owned();
    let rs: Vec<&str> = lines
        .lines()
        .filter_map(|l| l.strip_prefix("reuse "))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(
        rs.len(),
        3,
        "three answers: {lines}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        lab.diag()
    );
    let conns = lab.admin.ok(&["-Lnc"]);
    // rr: each new conn goes to the next dest, also when its client port
    // matches a conn in TIME_WAIT (which IPVS expires and reschedules).
    let distinct: BTreeSet<&&str> = rs.iter().collect();
    assert_eq!(
        distinct.len(),
        3,
        "a SYN on a TIME_WAIT conn is scheduled as a new conn (rr: a new RS each time): {rs:?}\n{conns}"
    );
    let (ok, stats) = lab.admin.wait_until(
        &["-Ln", "--stats", "--exact"],
        Duration::from_secs(5),
        |out| {
            common::e2e::dest_rows(out, &format!("TCP  {VIP}:80"))
                .iter()
                .all(|r| r[1] == "1")
        },
    );
    assert!(ok, "--stats: one conn per dest:\n{stats}");
    lab.stop();
}
