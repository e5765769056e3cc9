//! End to end: a service built and changed live with `rvsadm` (ipvsadm's
//! syntax) while real clients use it through rvsd, and what ipvsadm's
//! listings say afterwards.
//!
//! IPVS semantics checked here: rr skips a dest of weight 0 (it stays in the
//! table but gets no new conns); a deleted dest gets no new conns; a dest
//! added later takes its turn at once. `-Ln` counts ESTABLISHED (and SYN)
//! conns as ActiveConn and the others (TIME_WAIT after a normal close) as
//! InActConn; `--stats` Conns is the number of conns scheduled; `-Lnc`
//! lists each conn with its client, virtual and real addresses. The rvs
//! extension `-L --neighbours` lists the real servers rvsd resolved, with
//! the MACs they really have.

mod common;

use common::e2e::{dest_rows, service_row, Lab, LabConfig};
use common::topo::{Method, CIPS, RIPS, RS_IF, VIP};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SVC: &str = "TCP  198.18.0.100:80";

/// A TCP connection from the client to the VIP held open (established, no
/// request) until dropped.
struct Held(Child);

impl Held {
    fn open(ns: &str) -> Held {
        let code = format!(
            "import socket,time\ns=socket.create_connection(('{VIP}', 80), timeout=5, source_address=('{}', 0))\nprint('open', flush=True)\ntime.sleep(30)",
            CIPS[1]
        );
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", &code])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the held connection");
        Held(child)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// 30 HTTP requests from CIP 0, each on a new conn, all answered; returns
/// how many each RS answered (rs1, rs2, rs3).
fn thirty(lab: &mut Lab, what: &str) -> (usize, usize, usize) {
    let r = lab.t.http(CIPS[0], VIP, 80, 30);
    if r.ok() != 30 {
        panic!("{what}: {:?}\n{}", r.errors, lab.diag());
    }
    (r.count("rs1"), r.count("rs2"), r.count("rs3"))
}

#[test]
fn dests_change_live_and_listings_count_the_traffic() {
    let mut lab = Lab::start(
        "e2eadm",
        &LabConfig {
            method: Method::Nat,
            extra_vips: &[],
            server_twin: false,
            extra: "",
        },
    );
    let a = &lab.admin;
    a.script(&format!(
        "-A -t {VIP}:80 -s rr
         -a -t {VIP}:80 -r {r1}:80 -m
         -a -t {VIP}:80 -r {r2}:80 -m
         -a -t {VIP}:80 -r {r3}:80 -m",
        r1 = RIPS[0],
        r2 = RIPS[1],
        r3 = RIPS[2]
    ));
    // Traffic starts right after the last `-a`: a dest's counters count
    // from the moment it is added, not from the next stats tick.
    assert_eq!(thirty(&mut lab, "rr"), (10, 10, 10));

    // The neighbour table after traffic: every RS on the server port, with
    // the MAC of its interface, in a state that has one.
    let neigh = lab.admin.ok(&["-L", "--neighbours"]);
    for rs in &lab.t.rs {
        let mac = lab.t.mac(&rs.ns, RS_IF);
        let row: Vec<&str> = neigh
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.first() == Some(&rs.rip))
            .unwrap_or_default();
        assert!(
            row.len() == 5
                && row[1] == mac
                && row[2] == "server"
                && ["REACHABLE", "STALE", "DELAY", "PROBE"].contains(&row[3]),
            "-L --neighbours lists {} at {mac}:\n{neigh}",
            rs.rip
        );
    }

    // Listings after 30 closed conns. ActiveConn/InActConn come from the
    // shared conn counters, Conns/InPkts/OutPkts from the workers' exports
    // (every 0.5 s): poll briefly.
    let a = &lab.admin;
    let (ok, ln) = a.wait_until(&["-Ln"], Duration::from_secs(5), |out| {
        let rows = dest_rows(out, SVC);
        rows.len() == 3 && rows.iter().all(|r| r[3] == "0" && r[4] == "10")
    });
    assert!(
        ok,
        "-Ln: every dest 0 ActiveConn and 10 InActConn (TIME_WAIT):\n{ln}"
    );
    let (ok, stats) = a.wait_until(
        &["-Ln", "--stats", "--exact"],
        Duration::from_secs(5),
        |out| {
            service_row(out, SVC).first() == Some(&30)
                && dest_rows(out, SVC).iter().all(|r| r[1] == "10")
        },
    );
    assert!(
        ok,
        "--stats: Conns 30 for the service, 10 per dest:\n{stats}"
    );
    let svc = service_row(&stats, SVC);
    // An HTTP exchange over NAT: at least SYN, request, ACK, FIN in each
    // direction per conn.
    assert!(
        svc.len() == 5 && svc[1] >= 30 * 3 && svc[2] >= 30 * 3 && svc[3] > 0 && svc[4] > 0,
        "--stats: Conns InPkts OutPkts InBytes OutBytes = {svc:?}\n{stats}"
    );
    for row in dest_rows(&stats, SVC) {
        assert!(
            row[2] != "0" && row[3] != "0",
            "--stats: dest packets:\n{stats}"
        );
    }
    let rate = a.ok(&["-Ln", "--rate"]);
    assert!(
        rate.lines()
            .nth(1)
            .is_some_and(|l| l.split_whitespace().eq([
                "Prot",
                "LocalAddress:Port",
                "CPS",
                "InPPS",
                "OutPPS",
                "InBPS",
                "OutBPS"
            ])),
        "--rate title:\n{rate}"
    );
    assert_eq!(service_row(&rate, SVC).len(), 5, "--rate:\n{rate}");
    assert_eq!(dest_rows(&rate, SVC).len(), 3, "--rate:\n{rate}");

    // -Lnc: the 30 conns, 10 to each RS, all from CIP 0 to the VIP.
    let conns = a.ok(&["-Lnc"]);
    let mine: Vec<Vec<&str>> = conns
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() == 6 && w[4] == format!("{VIP}:80"))
        .collect();
    assert_eq!(mine.len(), 30, "-Lnc lists the 30 conns:\n{conns}");
    for rip in RIPS {
        let to = format!("{rip}:80");
        let n = mine.iter().filter(|w| w[5] == to).count();
        assert_eq!(n, 10, "-Lnc: 10 conns to {rip}:\n{conns}");
    }
    assert!(
        mine.iter()
            .all(|w| w[0] == "TCP" && w[3].starts_with(&format!("{}:", CIPS[0]))),
        "-Lnc: TCP from CIP 0:\n{conns}"
    );

    // Weight 0: rs2 stays listed but gets nothing new.
    let a = &lab.admin;
    a.ok(&[
        "-e",
        "-t",
        &format!("{VIP}:80"),
        "-r",
        RIPS[1],
        "-m",
        "-w",
        "0",
    ]);
    assert_eq!(thirty(&mut lab, "rs2 at weight 0"), (15, 0, 15));
    // Back to 1, then rs3 deleted: rs1 and rs2 share.
    let a = &lab.admin;
    a.ok(&[
        "-e",
        "-t",
        &format!("{VIP}:80"),
        "-r",
        RIPS[1],
        "-m",
        "-w",
        "1",
    ]);
    a.ok(&["-d", "-t", &format!("{VIP}:80"), "-r", RIPS[2]]);
    let ln = a.ok(&["-Ln"]);
    assert_eq!(dest_rows(&ln, SVC).len(), 2, "rs3 deleted:\n{ln}");
    assert_eq!(thirty(&mut lab, "rs3 deleted"), (15, 15, 0));
    // rs3 added again: exact thirds at once.
    lab.admin
        .ok(&["-a", "-t", &format!("{VIP}:80"), "-r", RIPS[2], "-m"]);
    assert_eq!(thirty(&mut lab, "rs3 added back"), (10, 10, 10));

    // An open conn counts as active on its dest, and nowhere else.
    let held = Held::open(&lab.t.client);
    let (ok, ln) = lab
        .admin
        .wait_until(&["-Ln"], Duration::from_secs(5), |out| {
            let active: Vec<String> = dest_rows(out, SVC).iter().map(|r| r[3].clone()).collect();
            let mut sorted = active.clone();
            sorted.sort();
            sorted == ["0", "0", "1"]
        });
    assert!(ok, "-Ln: one ActiveConn while a conn is open:\n{ln}");
    drop(held);

    // Every conn made is counted: 4 x 30 requests and the held one.
    let (ok, stats) = lab.admin.wait_until(
        &["-Ln", "--stats", "--exact"],
        Duration::from_secs(5),
        |out| service_row(out, SVC).first() == Some(&121),
    );
    assert!(ok, "--stats: the service's Conns is 121:\n{stats}");
    lab.stop();
}
