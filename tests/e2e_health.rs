//! End to end: a real server whose daemon dies, with and without health
//! checks, side by side in one rvsd (two services over the same three RSs).
//!
//! Without checks rvs does what IPVS does: nothing. The dead RS stays in the
//! table and rr keeps giving it every third conn, which fails (the RS
//! answers the SYN with a RST), as in the LVS notes' troubleshooting.
//! With keepalived-style TCP checks (run by rvsd from its own namespace,
//! through the server port's kernel twin), the dead RS is removed from the
//! service within delay_loop x (retry + 1) + connect_timeout, every request
//! then succeeds, and the RS comes back after its first good check once its
//! daemon runs again.

mod common;

use common::e2e::{dest_rows, Lab, LabConfig, VIP2};
use common::topo::{Method, Replies, CIPS, RIPS, VIP};
use std::time::{Duration, Instant};

/// Seconds between checks, retries and connect timeout of the checks.
const DELAY_LOOP: u64 = 1;
const RETRY: u64 = 1;
const CONNECT_TIMEOUT: u64 = 1;
/// Slack over the keepalived bound for the control loop, the snapshot
/// publish and a loaded 2-core test machine.
const SLACK: Duration = Duration::from_secs(3);

/// Indices of the failed requests of `r`.
fn failed_indices(r: &Replies) -> Vec<usize> {
    r.lines
        .iter()
        .filter(|l| l.split_whitespace().nth(2) == Some("err"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect()
}

#[test]
fn a_dead_rs_fails_every_third_request_without_checks_and_is_removed_with_them() {
    let plain = |port: u16| -> String {
        RIPS.iter()
            .map(|r| format!(r#"(rip: "{r}:{port}", method: nat)"#))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let checked: String = RIPS
        .iter()
        .map(|r| {
            format!(
                r#"(rip: "{r}:80", method: nat, check: (kind: tcp, connect_timeout: {CONNECT_TIMEOUT}, retry: {RETRY}, delay_before_retry: 1))"#
            )
        })
        .collect::<Vec<_>>()
        .join(",\n            ");
    let services = format!(
        r#"services: [
        (tcp: "{VIP}:80", scheduler: "rr", dests: [{plain}]),
        (tcp: "{VIP2}:80", scheduler: "rr", delay_loop: {DELAY_LOOP}, dests: [
            {checked}
        ]),
    ],"#,
        plain = plain(80)
    );
    let mut lab = Lab::start(
        "e2ehc",
        &LabConfig {
            method: Method::Nat,
            extra_vips: &[VIP2],
            server_twin: true,
            extra: &services,
        },
    );
    let checked_svc = format!("TCP  {VIP2}:80");
    let dests_of = |out: &str| -> Vec<String> {
        dest_rows(out, &checked_svc)
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    };

    // Every check passes: all three RSs are UP and serve.
    let (ok, health) =
        lab.admin
            .wait_until(&["-L", "--health", "-n"], Duration::from_secs(10), |out| {
                out.lines().filter(|l| l.contains(" UP ")).count() == 3
            });
    assert!(ok, "three dests UP:\n{health}\n{}", lab.diag());
    let r = lab.t.http(CIPS[0], VIP2, 80, 6);
    assert_eq!(r.ok(), 6, "{:?}\n{}", r.errors, lab.diag());

    // rs2's daemon dies.
    lab.t.stop_server(1);
    let died = Instant::now();

    // Without checks (IPVS alone): rs2 still listed, every third conn
    // fails, the other two RSs answer theirs.
    let r = lab.t.http(CIPS[0], VIP, 80, 12);
    let failed = failed_indices(&r);
    assert_eq!(
        (r.count("rs1"), r.count("rs2"), r.count("rs3"), failed.len()),
        (4, 0, 4, 4),
        "rr still schedules the dead rs2: {:?}",
        r.lines
    );
    assert!(
        failed.iter().all(|i| i % 3 == failed[0] % 3),
        "every third request fails: {:?}",
        r.lines
    );
    let ln = lab.admin.ok(&["-Ln"]);
    assert_eq!(
        dest_rows(&ln, &format!("TCP  {VIP}:80")).len(),
        3,
        "without checks the dead RS stays:\n{ln}"
    );

    // With checks: rs2 leaves the service within the keepalived bound.
    let bound = Duration::from_secs(DELAY_LOOP * (RETRY + 1) + CONNECT_TIMEOUT);
    let rip2 = format!("{}:80", RIPS[1]);
    let (gone, ln) =
        lab.admin
            .wait_until(&["-Ln"], bound + SLACK + Duration::from_secs(5), |out| {
                let d = dests_of(out);
                d.len() == 2 && !d.contains(&rip2)
            });
    let took = died.elapsed();
    assert!(gone, "rs2 removed from {VIP2}:80:\n{ln}\n{}", lab.diag());
    assert!(
        took <= bound + SLACK,
        "rs2 removed after {took:?}, bound {bound:?} (+{SLACK:?} slack)"
    );
    let health = lab.admin.ok(&["-L", "--health", "-n"]);
    assert!(
        health
            .lines()
            .any(|l| l.contains(&rip2) && l.contains(" DOWN ")),
        "{health}"
    );
    let r = lab.t.http(CIPS[0], VIP2, 80, 12);
    assert_eq!(
        (r.ok(), r.count("rs1"), r.count("rs3")),
        (12, 6, 6),
        "with rs2 out every request succeeds: {:?}",
        r.lines
    );

    // rs2's daemon is back: one good check returns it to the service.
    lab.t.start_server(1);
    let back = Duration::from_secs(DELAY_LOOP + CONNECT_TIMEOUT) + SLACK;
    let (ok, ln) = lab
        .admin
        .wait_until(&["-Ln"], back, |out| dests_of(out).contains(&rip2));
    assert!(
        ok,
        "rs2 back in {VIP2}:80 within {back:?}:\n{ln}\n{}",
        lab.diag()
    );
    let r = lab.t.http(CIPS[0], VIP2, 80, 12);
    assert_eq!(r.ok(), 12, "{:?}", r.errors);
    for rs in ["rs1", "rs2", "rs3"] {
        assert_eq!(r.count(rs), 4, "rs2 takes its share again: {:?}", r.per_rs);
    }
    lab.stop();
}
