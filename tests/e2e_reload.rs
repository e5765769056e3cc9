//! End to end: SIGHUP re-reads rvsd's config file and applies only the
//! difference, without losing conns.
//!
//! What is asserted, with real clients through rvsd (NAT):
//! - a conn established before the reload keeps flowing to the RS it was
//!   scheduled to, even when the reload changes the service's scheduler and
//!   sets that very RS's weight to 0 (IPVS semantics: a weight only steers
//!   new conns);
//! - conns opened while the reload happens are all answered;
//! - new conns follow the new config at once (wrr with the new weights, the
//!   weight-0 dest gets none, the added service answers);
//! - a config that fails validation changes nothing: the listing is
//!   identical even though the broken file also changed a valid weight (a
//!   reload is all or nothing), and the held conn still works.

mod common;

use common::e2e::{dest_rows, Lab, LabConfig, VIP2};
use common::topo::{script, Method, Replies, CIPS, RIPS, VIP};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long one held-conn exchange may take.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);

/// A keep-alive HTTP conn from CIP 1 to VIP:80 held open by a python
/// client: it sends one request at start and one more for each line on its
/// stdin, always on the same socket, and prints `held <i> ok <rs> <lport>`
/// (or `held <i> err <why>`, then exits). It exits when its stdin closes.
struct HeldConn {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl HeldConn {
    fn open(ns: &str) -> HeldConn {
        let code = format!(
            r#"
import socket, sys
s = socket.create_connection(("{VIP}", 80), timeout=5, source_address=("{cip}", 0))
f = s.makefile("rb")
lport = s.getsockname()[1]
i = 0
while True:
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\nConnection: keep-alive\r\n\r\n")
        status = f.readline().split()
        if len(status) < 2 or status[1] != b"200":
            raise RuntimeError("status_" + repr(status))
        n, rs = 0, "?"
        while True:
            h = f.readline().strip()
            if not h:
                break
            k, _, v = h.decode().partition(":")
            if k.lower() == "content-length":
                n = int(v)
            elif k.lower() == "x-rs":
                rs = v.strip()
        f.read(n)
        print("held", i, "ok", rs, lport, flush=True)
    except Exception as e:
        print("held", i, "err", type(e).__name__, flush=True)
        break
    i += 1
    if not sys.stdin.readline():
        break
"#,
            cip = CIPS[1]
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", &code])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the held conn");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        HeldConn {
            child,
            stdin,
            lines,
        }
    }

    /// The next answer line, bounded; "none" when there was none in time.
    fn answer(&self) -> String {
        self.lines
            .recv_timeout(EXCHANGE_LIMIT)
            .unwrap_or_else(|_| "none".to_owned())
    }

    /// Asks for one more request on the held conn and returns its line.
    fn again(&mut self) -> String {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(b"\n").and_then(|()| stdin.flush());
        }
        self.answer()
    }
}

impl Drop for HeldConn {
    fn drop(&mut self) {
        // Closing stdin ends the client; kill it in case it is stuck.
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(rs, local port)` of an `ok` line of the held conn, or None.
fn held_ok(line: &str) -> Option<(String, String)> {
    match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["held", _, "ok", rs, lport] => Some(((*rs).to_owned(), (*lport).to_owned())),
        _ => None,
    }
}

/// A listing without its conn counters: service lines whole, dest lines
/// as address, forwarding method and weight.
fn shape(listing: &str) -> Vec<String> {
    listing
        .lines()
        .map(|l| {
            if l.starts_with("  ->") {
                l.split_whitespace().take(4).collect::<Vec<_>>().join(" ")
            } else {
                l.to_owned()
            }
        })
        .collect()
}

/// `(RIP:port, weight)` of each dest of service `name` in a listing.
fn weights(listing: &str, name: &str) -> Vec<(String, String)> {
    dest_rows(listing, name)
        .into_iter()
        .map(|r| (r[0].clone(), r.get(2).cloned().unwrap_or_default()))
        .collect()
}

/// A NAT dest line of the config.
fn dest(rip: &str, weight: u32) -> String {
    format!(r#"(rip: "{rip}:80", method: nat, weight: {weight})"#)
}

/// The index (0-based) of real server `name` (`rs1`..`rs3`).
fn rs_index(name: &str) -> usize {
    ["rs1", "rs2", "rs3"]
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("no real server {name}"))
}

/// `n` requests on new conns to `vip`, all answered.
fn all_ok(lab: &mut Lab, vip: &str, n: usize, what: &str) -> Replies {
    let r = lab.t.http(CIPS[0], vip, 80, n);
    if r.ok() != n {
        panic!("{what}: {:?}\n{:?}\n{}", r.errors, r.lines, lab.diag());
    }
    r
}

/// Sends SIGHUP to rvsd and waits for the log line `needle`, which must be
/// the `nth` (1-based) such line.
fn hup(lab: &mut Lab, needle: &str, nth: usize) {
    common::must(&["kill", "-HUP", &lab.rvsd.pid().to_string()]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = lab.rvsd.log();
        if log.lines().filter(|l| l.contains(needle)).count() >= nth {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no `{needle}` (#{nth}) after SIGHUP:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_applies_the_difference_and_established_conns_keep_flowing() {
    let svc = format!("TCP  {VIP}:80");
    let svc2 = format!("TCP  {VIP2}:80");
    let old_services = format!(
        "services: [\n        (tcp: \"{VIP}:80\", scheduler: \"rr\", dests: [{}, {}, {}]),\n    ],",
        dest(RIPS[0], 1),
        dest(RIPS[1], 1),
        dest(RIPS[2], 1)
    );
    let mut lab = Lab::start(
        "e2ereload",
        &LabConfig {
            method: Method::Nat,
            extra_vips: &[VIP2],
            server_twin: false,
            extra: &old_services,
        },
    );
    let r = all_ok(&mut lab, VIP, 6, "before the reload");
    assert_eq!((r.count("rs1"), r.count("rs2"), r.count("rs3")), (2, 2, 2));

    // The held conn: its first answer says which RS it is bound to.
    let mut held = HeldConn::open(&lab.t.client);
    let first = held.answer();
    let Some((held_rs, held_port)) = held_ok(&first) else {
        panic!("held conn, first request: {first}\n{}", lab.diag());
    };
    let x = rs_index(&held_rs);
    let (y, z) = ((x + 1) % 3, (x + 2) % 3);

    // The new file: wrr, the held conn's RS at weight 0, the others 2 and 1;
    // and a second service on VIP2 (rs of index y and z, rr).
    let new_services = format!(
        "services: [\n        (tcp: \"{VIP}:80\", scheduler: \"wrr\", dests: [{}, {}, {}]),\n        (tcp: \"{VIP2}:80\", scheduler: \"rr\", dests: [{}, {}]),\n    ],",
        dest(RIPS[x], 0),
        dest(RIPS[y], 2),
        dest(RIPS[z], 1),
        dest(RIPS[y], 1),
        dest(RIPS[z], 1),
    );
    let old_file = std::fs::read_to_string(&lab.rvsd.config_path).expect("read the config");
    let new_file = old_file.replace(&old_services, &new_services);
    assert_ne!(old_file, new_file, "the services block is in the file");
    std::fs::write(&lab.rvsd.config_path, &new_file).expect("write the config");

    // SIGHUP while a client opens conns, one every 50 ms: none is lost.
    let traffic = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.t.client,
            "timeout",
            "-k",
            "2",
            "30",
            "python3",
        ])
        .arg(script("client.py"))
        .args([
            "http", "--src", CIPS[0], "--dst", VIP, "--port", "80", "-n", "30",
        ])
        .args(["--interval", "0.05", "--timeout", "3"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client");
    std::thread::sleep(Duration::from_millis(300));
    common::must(&["kill", "-HUP", &lab.rvsd.pid().to_string()]);
    let out = traffic.wait_with_output().expect("the client's output");
    let during: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        lab.rvsd.wait_for("reload applied", Duration::from_secs(10)),
        "{}",
        lab.rvsd.log()
    );
    let r = Replies::parse(during);
    assert_eq!(
        r.ok(),
        30,
        "conns opened during the reload: {:?} {}\n{}",
        r.lines,
        String::from_utf8_lossy(&out.stderr),
        lab.diag()
    );

    // The table is the new file's.
    let ln = lab.admin.ok(&["-Ln"]);
    assert!(ln.contains(&format!("{svc} wrr")), "{ln}");
    assert!(ln.contains(&format!("{svc2} rr")), "{ln}");
    let rip = |i: usize, w: &str| (format!("{}:80", RIPS[i]), w.to_owned());
    let mut want = vec![rip(x, "0"), rip(y, "2"), rip(z, "1")];
    want.sort();
    assert_eq!(weights(&ln, &svc), want, "{ln}");
    let mut want2 = vec![rip(y, "1"), rip(z, "1")];
    want2.sort();
    assert_eq!(weights(&ln, &svc2), want2, "{ln}");

    // The held conn is still served by its RS, on the same socket, although
    // that RS now has weight 0.
    let second = held.again();
    assert_eq!(
        held_ok(&second),
        Some((held_rs.clone(), held_port.clone())),
        "held conn after the reload: {second}\n{}",
        lab.diag()
    );

    // New conns: wrr 2:1 over y and z, none to the weight-0 RS; the added
    // service answers, rr over its two.
    let names = |i: usize| format!("rs{}", i + 1);
    let r = all_ok(&mut lab, VIP, 12, "after the reload");
    assert_eq!(
        (r.count(&names(x)), r.count(&names(y)), r.count(&names(z))),
        (0, 8, 4),
        "{:?}",
        r.per_rs
    );
    let r = all_ok(&mut lab, VIP2, 6, "the added service");
    assert_eq!(
        (r.count(&names(y)), r.count(&names(z))),
        (3, 3),
        "{:?}",
        r.per_rs
    );

    // A broken file: a valid weight change next to an unknown scheduler.
    // Nothing of it is applied.
    let before = lab.admin.ok(&["-Ln"]);
    let broken = new_file
        .replace(&dest(RIPS[z], 1), &dest(RIPS[z], 5))
        .replace(
            &format!("(tcp: \"{VIP2}:80\", scheduler: \"rr\""),
            &format!("(tcp: \"{VIP2}:80\", scheduler: \"nope\""),
        );
    assert_ne!(broken, new_file);
    std::fs::write(&lab.rvsd.config_path, &broken).expect("write the config");
    hup(&mut lab, "reload refused", 1);
    let after = lab.admin.ok(&["-Ln"]);
    assert_eq!(
        shape(&after),
        shape(&before),
        "a refused reload changes nothing:\n{before}\n{after}"
    );
    let third = held.again();
    assert_eq!(
        held_ok(&third),
        Some((held_rs, held_port)),
        "held conn after the refused reload: {third}\n{}",
        lab.diag()
    );
    let r = all_ok(&mut lab, VIP, 12, "after the refused reload");
    assert_eq!(
        (r.count(&names(x)), r.count(&names(y)), r.count(&names(z))),
        (0, 8, 4),
        "{:?}",
        r.per_rs
    );

    // The same file again: nothing differs, nothing changes.
    std::fs::write(&lab.rvsd.config_path, &new_file).expect("write the config");
    hup(&mut lab, "reload: configuration unchanged", 1);
    assert_eq!(shape(&lab.admin.ok(&["-Ln"])), shape(&before));
    drop(held);
    lab.stop();
}
