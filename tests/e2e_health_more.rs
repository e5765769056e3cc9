//! End to end: keepalived's health-check rules beyond "a dead RS leaves the
//! table" (tests/e2e_health.rs), each in a lab of its own.
//!
//! - Sorry server (keepalived `sorry_server`): when the up weight of a
//!   service falls below its quorum (default 1, so: when every checked dest
//!   is down) the sorry server becomes the service's only dest; the first
//!   dest to pass its check again restores quorum, and the sorry server
//!   leaves the table.
//! - `inhibit_on_failure`: a failed dest stays in the table with weight 0,
//!   so IPVS sends it no new conns (and `-Ln` still shows it); a good check
//!   gives it its configured weight back.
//! - `HTTP_GET`: a dest passes only when each url answers with the expected
//!   `status_code` (and body digest); a dest whose url answers 404 where
//!   200 is expected is DOWN, one that expects the 404 is UP.
//!
//! Checks run every second with one retry and a 1 s connect timeout, so a
//! dead RS is found within keepalived's bound delay_loop x (retry + 1) +
//! connect_timeout.

mod common;

use common::e2e::{dest_rows, Lab, LabConfig};
use common::topo::{Method, Replies, CIPS, RIPS, VIP};
use std::time::{Duration, Instant};

/// Seconds between checks, retries and connect timeout of the checks.
const DELAY_LOOP: u64 = 1;
const RETRY: u64 = 1;
const CONNECT_TIMEOUT: u64 = 1;
/// Slack over the keepalived bound for the control loop, the snapshot
/// publish and a loaded 2-core test machine.
const SLACK: Duration = Duration::from_secs(3);

/// keepalived's bound for a dead dest to be declared down.
fn down_bound() -> Duration {
    Duration::from_secs(DELAY_LOOP * (RETRY + 1) + CONNECT_TIMEOUT)
}

/// The service every test here uses, as `-Ln` names it.
fn svc() -> String {
    format!("TCP  {VIP}:80")
}

/// A TCP check with this file's timing.
fn tcp_check() -> String {
    format!(
        "(kind: tcp, connect_timeout: {CONNECT_TIMEOUT}, retry: {RETRY}, delay_before_retry: 1)"
    )
}

/// `RIP:80` of real server `i` (0-based).
fn rip80(i: usize) -> String {
    format!("{}:80", RIPS[i])
}

/// The dests of the service in a `-Ln` listing: `(RIP:port, weight)`.
fn dests(listing: &str) -> Vec<(String, String)> {
    dest_rows(listing, &svc())
        .into_iter()
        .map(|r| (r[0].clone(), r.get(2).cloned().unwrap_or_default()))
        .collect()
}

/// The dest addresses of the service in a `-Ln` listing, sorted.
fn dest_addrs(listing: &str) -> Vec<String> {
    let mut d: Vec<String> = dests(listing).into_iter().map(|(a, _)| a).collect();
    d.sort();
    d
}

/// The `-L --health` line of dest `rip` (`RIP:port`), split into words.
fn health_row(health: &str, rip: &str) -> Vec<String> {
    health
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|w| w.get(2).map(String::as_str) == Some(rip))
        .unwrap_or_default()
}

/// The state column (UP, DOWN, ...) of dest `rip` in `-L --health`.
fn health_state(health: &str, rip: &str) -> String {
    health_row(health, rip).get(4).cloned().unwrap_or_default()
}

/// `n` requests on new conns, every one answered; the answers per RS.
fn all_ok(lab: &mut Lab, n: usize, what: &str) -> Replies {
    let r = lab.t.http(CIPS[0], VIP, 80, n);
    if r.ok() != n {
        panic!("{what}: {:?}\n{:?}\n{}", r.errors, r.lines, lab.diag());
    }
    r
}

fn lab(tag: &str, services: &str) -> Lab {
    Lab::start(
        tag,
        &LabConfig {
            method: Method::Nat,
            extra_vips: &[],
            server_twin: true,
            extra: services,
        },
    )
}

#[test]
fn the_sorry_server_serves_while_every_dest_is_down_and_leaves_when_one_is_back() {
    let check = tcp_check();
    let services = format!(
        r#"services: [
        (tcp: "{VIP}:80", scheduler: "rr", delay_loop: {DELAY_LOOP}, sorry_server: "{sorry}",
         dests: [
            (rip: "{r1}", method: nat, check: {check}),
            (rip: "{r2}", method: nat, check: {check}),
        ]),
    ],"#,
        sorry = rip80(2),
        r1 = rip80(0),
        r2 = rip80(1),
    );
    let mut lab = lab("e2ehsorry", &services);

    // Quorum holds: rs1 and rs2 serve, the sorry server is not in the table.
    let (ok, health) =
        lab.admin
            .wait_until(&["-L", "--health", "-n"], Duration::from_secs(10), |out| {
                health_state(out, &rip80(0)) == "UP" && health_state(out, &rip80(1)) == "UP"
            });
    assert!(ok, "rs1 and rs2 UP:\n{health}\n{}", lab.diag());
    let ln = lab.admin.ok(&["-Ln"]);
    assert_eq!(
        dest_addrs(&ln),
        [rip80(0), rip80(1)],
        "no sorry server:\n{ln}"
    );
    let r = all_ok(&mut lab, 6, "quorum");
    assert_eq!((r.count("rs1"), r.count("rs2"), r.count("rs3")), (3, 3, 0));

    // Both daemons die: the service loses quorum (up weight 0 < 1) and the
    // sorry server becomes its only dest.
    lab.t.stop_server(0);
    lab.t.stop_server(1);
    let died = Instant::now();
    let bound = down_bound() + SLACK;
    let (ok, ln) = lab
        .admin
        .wait_until(&["-Ln"], bound + Duration::from_secs(5), |out| {
            dest_addrs(out) == [rip80(2)]
        });
    let took = died.elapsed();
    assert!(ok, "the sorry server alone:\n{ln}\n{}", lab.diag());
    assert!(
        took <= bound,
        "sorry server in after {took:?}, bound {bound:?}"
    );
    let r = all_ok(&mut lab, 6, "sorry server");
    assert_eq!(
        r.count("rs3"),
        6,
        "the sorry server answers: {:?}",
        r.per_rs
    );
    let health = lab.admin.ok(&["-L", "--health", "-n"]);
    assert_eq!(
        (
            health_state(&health, &rip80(0)),
            health_state(&health, &rip80(1))
        ),
        ("DOWN".to_owned(), "DOWN".to_owned()),
        "{health}"
    );

    // rs1's daemon is back: one good check restores quorum; the sorry
    // server goes, rs1 comes in, rs2 (still dead) stays out.
    lab.t.start_server(0);
    let back = Duration::from_secs(DELAY_LOOP + CONNECT_TIMEOUT) + SLACK;
    let (ok, ln) = lab
        .admin
        .wait_until(&["-Ln"], back, |out| dest_addrs(out) == [rip80(0)]);
    assert!(
        ok,
        "rs1 alone, sorry server gone, within {back:?}:\n{ln}\n{}",
        lab.diag()
    );
    let r = all_ok(&mut lab, 6, "quorum regained");
    assert_eq!(r.count("rs1"), 6, "rs1 answers again: {:?}", r.per_rs);
    lab.stop();
}

#[test]
fn inhibit_on_failure_keeps_a_dead_dest_at_weight_0_and_restores_its_weight() {
    let check = tcp_check();
    // wrr with weights 1, 2, 1: every 4 conns are rs2, rs1, rs2, rs3, so 12
    // conns are exactly 3, 6, 3 whatever the starting point.
    let services = format!(
        r#"services: [
        (tcp: "{VIP}:80", scheduler: "wrr", delay_loop: {DELAY_LOOP}, inhibit_on_failure: true,
         dests: [
            (rip: "{r1}", method: nat, check: {check}),
            (rip: "{r2}", method: nat, weight: 2, check: {check}),
            (rip: "{r3}", method: nat, check: {check}),
        ]),
    ],"#,
        r1 = rip80(0),
        r2 = rip80(1),
        r3 = rip80(2),
    );
    let mut lab = lab("e2ehinh", &services);
    let weights = |r1: &str, r2: &str, r3: &str| {
        vec![
            (rip80(0), r1.to_owned()),
            (rip80(1), r2.to_owned()),
            (rip80(2), r3.to_owned()),
        ]
    };

    let (ok, health) =
        lab.admin
            .wait_until(&["-L", "--health", "-n"], Duration::from_secs(10), |out| {
                (0..3).all(|i| health_state(out, &rip80(i)) == "UP")
            });
    assert!(ok, "every dest UP:\n{health}\n{}", lab.diag());
    let ln = lab.admin.ok(&["-Ln"]);
    assert_eq!(dests(&ln), weights("1", "2", "1"), "{ln}");
    let r = all_ok(&mut lab, 12, "all up");
    assert_eq!((r.count("rs1"), r.count("rs2"), r.count("rs3")), (3, 6, 3));

    // rs2's daemon dies: it stays listed, at weight 0.
    lab.t.stop_server(1);
    let died = Instant::now();
    let bound = down_bound() + SLACK;
    let (ok, ln) = lab
        .admin
        .wait_until(&["-Ln"], bound + Duration::from_secs(5), |out| {
            dests(out) == weights("1", "0", "1")
        });
    let took = died.elapsed();
    assert!(ok, "rs2 kept at weight 0:\n{ln}\n{}", lab.diag());
    assert!(
        took <= bound,
        "rs2 inhibited after {took:?}, bound {bound:?}"
    );
    let health = lab.admin.ok(&["-L", "--health", "-n"]);
    assert_eq!(health_state(&health, &rip80(1)), "DOWN", "{health}");
    // Weight 0: no new conn is scheduled to it, so none fails.
    let r = all_ok(&mut lab, 12, "rs2 inhibited");
    assert_eq!((r.count("rs1"), r.count("rs2"), r.count("rs3")), (6, 0, 6));

    // Back: its configured weight 2, not 1, is restored.
    lab.t.start_server(1);
    let back = Duration::from_secs(DELAY_LOOP + CONNECT_TIMEOUT) + SLACK;
    let (ok, ln) = lab
        .admin
        .wait_until(&["-Ln"], back, |out| dests(out) == weights("1", "2", "1"));
    assert!(ok, "rs2 at weight 2 again:\n{ln}\n{}", lab.diag());
    let r = all_ok(&mut lab, 12, "rs2 back");
    assert_eq!((r.count("rs1"), r.count("rs2"), r.count("rs3")), (3, 6, 3));
    lab.stop();
}

#[test]
fn an_http_check_fails_a_dest_whose_url_answers_an_unexpected_status() {
    // rs-server.py answers `GET /` with 200 and body "<name>\n", and any
    // other path with 404. md5("rs1\n"), as genhash prints it:
    const RS1_DIGEST: &str = "7a6c0d2ef5a9e6e1776090916c66ba3a";
    let http = |urls: &str| {
        format!(
            "(kind: http, connect_timeout: {CONNECT_TIMEOUT}, retry: {RETRY}, delay_before_retry: 1, urls: [{urls}])"
        )
    };
    let services = format!(
        r#"services: [
        (tcp: "{VIP}:80", scheduler: "rr", delay_loop: {DELAY_LOOP}, dests: [
            (rip: "{r1}", method: nat, check: {c1}),
            (rip: "{r2}", method: nat, check: {c2}),
            (rip: "{r3}", method: nat, check: {c3}),
        ]),
    ],"#,
        r1 = rip80(0),
        r2 = rip80(1),
        r3 = rip80(2),
        // Status 200 and the right body.
        c1 = http(&format!(
            r#"(path: "/", status_code: 200, digest: "{RS1_DIGEST}")"#
        )),
        // 200 expected (the default), 404 returned: DOWN.
        c2 = http(r#"(path: "/nope")"#),
        // The 404 is what this check expects: UP.
        c3 = http(r#"(path: "/nope", status_code: 404)"#),
    );
    let mut lab = lab("e2ehhttp", &services);

    // Dests start up (no alpha); rs2 fails its first check and its retry.
    let started = Instant::now();
    let bound = down_bound() + SLACK + Duration::from_secs(5);
    let (ok, ln) = lab.admin.wait_until(&["-Ln"], bound, |out| {
        dest_addrs(out) == [rip80(0), rip80(2)]
    });
    assert!(
        ok,
        "rs2 removed after {:?}:\n{ln}\n{}",
        started.elapsed(),
        lab.diag()
    );
    let health = lab.admin.ok(&["-L", "--health", "-n"]);
    let rows: Vec<Vec<String>> = (0..3).map(|i| health_row(&health, &rip80(i))).collect();
    for (i, want) in [(0, "UP"), (1, "DOWN"), (2, "UP")] {
        assert_eq!(
            (
                rows[i].get(3).map(String::as_str),
                health_state(&health, &rip80(i))
            ),
            (Some("http"), want.to_owned()),
            "rs{}:\n{health}",
            i + 1
        );
    }
    let detail = rows[1].join(" ");
    assert!(
        detail.contains("status 404, expected 200"),
        "rs2's detail says why:\n{health}"
    );

    let r = all_ok(&mut lab, 12, "rs2 down");
    assert_eq!((r.count("rs1"), r.count("rs2"), r.count("rs3")), (6, 0, 6));

    // It stays down: every later check fails the same way.
    std::thread::sleep(Duration::from_secs(2 * DELAY_LOOP));
    let ln = lab.admin.ok(&["-Ln"]);
    assert_eq!(dest_addrs(&ln), [rip80(0), rip80(2)], "{ln}");
    let health = lab.admin.ok(&["-L", "--health", "-n"]);
    assert_eq!(health_state(&health, &rip80(1)), "DOWN", "{health}");
    lab.stop();
}
