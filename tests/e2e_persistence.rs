//! End to end: persistence (`ipvsadm -p`) through rvsd, set up with rvsadm.
//!
//! What IPVS guarantees and this test asserts: while a client's template
//! lives, every new conn of that client to the service goes to the RS the
//! template names, whatever the scheduler would say; the template is made
//! by the scheduler, so with rr a second client (a second template) gets
//! the next RS; once a template has expired (its conns gone and `-p`
//! seconds since its last use) the client is scheduled afresh, and with rr
//! that is the RS after the last one picked. `-Lnc` lists templates as
//! conns in state NONE with client port 0, and `-Ln --persistent-conn`
//! counts them per dest (PersistConn: the templates pointing at it).

mod common;

use common::e2e::{dest_rows, Lab, LabConfig};
use common::topo::{Method, Replies, CIPS, RIPS, UDP_PORT, VIP};
use std::time::{Duration, Instant};

/// The only RS that answered all of `r` (panics with `what` otherwise).
fn one_rs(r: &Replies, n: usize, what: &str) -> String {
    assert_eq!(r.ok(), n, "{what}: {:?}", r.errors);
    assert_eq!(r.per_rs.len(), 1, "{what}: one RS for all: {:?}", r.per_rs);
    r.per_rs.keys().next().cloned().unwrap_or_default()
}

#[test]
fn persistence_keeps_a_client_on_one_rs_until_its_template_expires() {
    let mut lab = Lab::start(
        "e2eper",
        &LabConfig {
            method: Method::Nat,
            extra_vips: &[],
            server_twin: false,
            extra: "",
        },
    );
    let udp_svc = format!("{VIP}:{UDP_PORT}");
    let mut script = format!("-A -t {VIP}:80 -s rr -p 60\n-A -u {udp_svc} -s rr -p 2\n");
    for rip in RIPS {
        script.push_str(&format!("-a -t {VIP}:80 -r {rip} -m\n"));
        script.push_str(&format!("-a -u {udp_svc} -r {rip} -m\n"));
    }
    // UDP conns time out after 1 s, so only the template holds the client.
    script.push_str("--set 900 120 1\n");
    lab.admin.script(&script);
    let timeouts = lab.admin.ok(&["-L", "--timeout"]);
    assert_eq!(timeouts, "Timeout (tcp tcpfin udp): 900 120 1\n");
    let ln = lab.admin.ok(&["-Ln"]);
    assert!(
        ln.contains(&format!("TCP  {VIP}:80 rr persistent 60")),
        "{ln}"
    );

    // TCP: 12 conns from each client, each on its own RS.
    let a = lab.t.http(CIPS[0], VIP, 80, 12);
    let rs_a = one_rs(&a, 12, "client A over TCP");
    let b = lab.t.http(CIPS[1], VIP, 80, 12);
    let rs_b = one_rs(&b, 12, "client B over TCP");
    assert_ne!(rs_a, rs_b, "rr made B's template on the next RS");
    // And A again, still within its 60 s.
    let again = lab.t.http(CIPS[0], VIP, 80, 6);
    assert_eq!(one_rs(&again, 6, "client A again"), rs_a);
    // One template per client, each counted on its client's RS (the
    // workers export their counts twice a second: poll briefly).
    let persist_of = |rs: &str| -> String {
        let idx: usize = rs.trim_start_matches("rs").parse().unwrap_or(0);
        let rip = RIPS.get(idx.wrapping_sub(1)).copied().unwrap_or("?");
        format!("{rip}:80")
    };
    let (want_a, want_b) = (persist_of(&rs_a), persist_of(&rs_b));
    let (ok, pc) = lab.admin.wait_until(
        &["-Ln", "--persistent-conn"],
        Duration::from_secs(5),
        |out| {
            let rows = dest_rows(out, &format!("TCP  {VIP}:80"));
            rows.len() == 3
                && rows.iter().all(|r| {
                    let want = if r[0] == want_a || r[0] == want_b {
                        "1"
                    } else {
                        "0"
                    };
                    r.len() == 5 && r[2] == want
                })
        },
    );
    assert!(
        ok,
        "PersistConn 1 on {want_a} (client A) and {want_b} (client B), 0 elsewhere:\n{pc}"
    );

    // UDP with -p 2: 8 datagrams, each from a new port, one RS.
    let u = lab.t.udp(CIPS[0], VIP, UDP_PORT, 8);
    let last_use = Instant::now();
    let rs_u = one_rs(&u, 8, "client A over UDP");
    // The conns go after 1 s, the template 2 s after its last use (IPVS
    // re-arms a template that still has conns, so allow one more round);
    // rvsadm -Lnc must not show any of them any more.
    let (gone, conns) = lab
        .admin
        .wait_until(&["-Lnc"], Duration::from_secs(8), |out| {
            !out.lines().any(|l| l.contains(&format!(" {udp_svc} ")))
        });
    assert!(gone, "UDP conns and template expire:\n{conns}");
    let settle = Duration::from_millis(3500);
    if let Some(left) = (last_use + settle).checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
    let later = lab.t.udp(CIPS[0], VIP, UDP_PORT, 4);
    let rs_later = one_rs(&later, 4, "client A after its template expired");
    assert_ne!(
        rs_later,
        rs_u,
        "after the template expired, rr scheduled A anew (the next RS):\n{}",
        lab.diag()
    );

    // The TCP templates, as ipvsadm -Lnc shows them: state NONE, client
    // port 0, the service's port, the RS's port.
    let conns = lab.admin.ok(&["-Lnc"]);
    for (cip, rs) in [(CIPS[0], &rs_a), (CIPS[1], &rs_b)] {
        let idx: usize = rs.trim_start_matches("rs").parse().unwrap_or(0);
        let rip = RIPS.get(idx.wrapping_sub(1)).copied().unwrap_or("?");
        let want = [
            "TCP".to_owned(),
            "NONE".to_owned(),
            format!("{cip}:0"),
            format!("{VIP}:80"),
            format!("{rip}:80"),
        ];
        assert!(
            conns.lines().any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.len() == 6
                    && w[0] == want[0]
                    && w[2] == want[1]
                    && w[3] == want[2]
                    && w[4] == want[3]
                    && w[5] == want[4]
            }),
            "-Lnc lists {cip}'s template ({want:?}):\n{conns}"
        );
    }
    lab.stop();
}
