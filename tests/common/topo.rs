//! The end-to-end test topology: clients, a director namespace for rvsd, a
//! server segment with three real servers, and a return path that bypasses
//! the director, for the four forwarding methods (NAT, FullNAT, DR, TUN).
//!
//! ```text
//!                 client namespace "cl"
//!   cl-front 198.18.0.2/24, 198.18.0.3/24     cl-back 198.18.1.2/24
//!        │  requests to VIP 198.18.0.100           ▲  DR and TUN replies
//!        │  (and NAT/FullNAT replies back)         │  (VIP -> CIP), never
//!        ▼                                         │  through rvsd
//!   ┌─ lb namespace "lb" ───────────────┐          │
//!   │ lb-client   (rvsd: net_af_packet0)│          │
//!   │ lb-server   (rvsd: net_af_packet1)│          │
//!   │ no kernel addresses on either     │          │
//!   └─────┬─────────────────────────────┘          │
//!         │ server segment 198.19.0.0/24           │
//!   ┌─ switch/router namespace "sw" ───────────────┴───────────┐
//!   │ sw-lb ─┐                              sw-cl 198.18.1.1/24 │
//!   │        br0 198.19.0.254/24  ── ip_forward ── route        │
//!   │ sw-rs1 ┤ sw-rs2 ┤ sw-rs3 ┘      198.18.0.0/24 via cl-back │
//!   └───┬────────┬────────┬─────────────────────────────────────┘
//!     rs1      rs2      rs3      namespaces "rs1".."rs3", eth0
//!   .11/24   .12/24   .13/24     (198.19.0.11-13)
//! ```
//!
//! rvsd's ports are `lb-client` (DIP 198.18.0.1, VIP 198.18.0.100, on the
//! clients' link, so the client finds the VIP by ARP) and `lb-server`
//! (DIP 198.19.0.1, FullNAT LIPs 198.19.0.5-6), both veths with checksum
//! offload off and no kernel addresses: rvsd owns them through af_packet.
//! The server segment is a bridge in namespace "sw", which is also a plain
//! router (198.19.0.254) with a second link to the client. Per method
//! (`Topology::set_method`):
//! - NAT: the RS's default route is the DIP, so replies return through rvsd.
//! - FullNAT: no default route at all; the RS only answers the LIPs, on-link.
//! - DR: VIP on `lo`, `arp_ignore=1`, `arp_announce=2`; default route via the
//!   router, so replies go RS -> sw -> cl-back, bypassing rvsd.
//! - TUN: `scripts/topo/ipip-decap.py` holds the VIP on a TUN device and
//!   unwraps IPIP (this kernel has no ipip module); replies as for DR.
//!
//! Without rvsd, `kernel_router` makes the lb namespace a plain router, and
//! `route_vip_to` (DR: the kernel forwards to the RS's MAC, IP unchanged) and
//! `start_encap` (TUN: `scripts/topo/ipip-encap.py`) stand in for the
//! director, so the topology itself can be tested (tests/topology.rs).
//!
//! Namespaces are named `rvs-<tag>-<role>-<pid>`; interface names are fixed
//! (each lives in a namespace of its own test). Dropping the `Topology`
//! stops every process it started, then deletes every namespace. IPv6 is
//! off everywhere, so no router solicitations or MLD reach rvsd's ports.

use super::{must, run, Netns};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Client addresses (CIPs), both on `cl-front`.
pub const CIPS: [&str; 2] = ["198.18.0.2", "198.18.0.3"];
/// The client network, as the real servers and the router see it.
pub const CLIENT_NET: &str = "198.18.0.0/24";
/// The director's address on the clients' link.
pub const DIP_CLIENT: &str = "198.18.0.1";
/// The virtual service address, on the clients' link (answered by rvsd's ARP).
pub const VIP: &str = "198.18.0.100";
/// The director's address on the server segment (the NAT RS's gateway).
pub const DIP_SERVER: &str = "198.19.0.1";
/// FullNAT local addresses, on the server segment.
pub const LIPS: [&str; 2] = ["198.19.0.5", "198.19.0.6"];
/// The server segment.
pub const SERVER_NET: &str = "198.19.0.0/24";
/// Real-server addresses, rs1..rs3.
pub const RIPS: [&str; 3] = ["198.19.0.11", "198.19.0.12", "198.19.0.13"];
/// The return-path router on the server segment (DR and TUN gateway).
pub const ROUTER_SERVER: &str = "198.19.0.254";
/// The router's address on the return link (`sw-cl`).
pub const ROUTER_CLIENT: &str = "198.18.1.1";
/// The client's address on the return link (`cl-back`).
pub const CLIENT_BACK: &str = "198.18.1.2";
/// HTTP ports every real server listens on (80, and 8080 for port mapping).
pub const HTTP_PORTS: [u16; 2] = [80, 8080];
/// The UDP echo port of every real server.
pub const UDP_PORT: u16 = 5353;
/// Size of `GET /big` (scripts/topo/rs-server.py `big_body`).
pub const BIG_BYTES: u64 = 4 << 20;
/// sha256 of `GET /big` (`rs-server.py --print-big-sha256`).
pub const BIG_SHA256: &str = "931b8b883a3f86a9e187c538abeb95490596b23d7440d3a898472a07ce0c5169";

/// Interface names (fixed: each namespace belongs to one test).
pub const LB_CLIENT_IF: &str = "lb-client";
pub const LB_SERVER_IF: &str = "lb-server";
pub const CLIENT_FRONT_IF: &str = "cl-front";
pub const CLIENT_BACK_IF: &str = "cl-back";
pub const RS_IF: &str = "eth0";
pub const BRIDGE: &str = "br0";

/// How long a helper process may take to say "ready".
const READY_LIMIT: Duration = Duration::from_secs(15);

/// Path of a script in scripts/topo.
pub fn script(name: &str) -> String {
    format!("{}/scripts/topo/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The LVS forwarding methods, as a real server must be set up for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Masquerading (`-m`): replies return through the director.
    Nat,
    /// FullNAT (`-b`): the RS sees a LIP as the client.
    FullNat,
    /// Gatewaying (`-g`): VIP on lo, replies bypass the director.
    Dr,
    /// IPIP tunnelling (`-i`): user-space decapsulation, replies bypass.
    Tun,
}

/// One real server.
pub struct RealServer {
    /// `rs1`, `rs2`, `rs3`: what its servers answer.
    pub name: String,
    /// Its namespace.
    pub ns: String,
    /// Its address on `eth0`.
    pub rip: &'static str,
    /// The method it is set up for, once `set_method` ran.
    pub method: Option<Method>,
}

/// A process started in a namespace; dropping it stops it.
struct Proc {
    label: String,
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Proc {
    /// Starts `args` in `ns` and waits (bounded) for a stdout line starting
    /// with "ready". Panics with its output when it exits or never gets
    /// ready; the caller has already stored nothing, so this drop kills it.
    fn start(label: &str, ns: &str, args: &[&str]) -> Proc {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let (tx, lines) = mpsc::channel();
        let streams: [Option<Box<dyn Read + Send>>; 2] = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ];
        for stream in streams.into_iter().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut proc = Proc {
            label: label.to_owned(),
            child: Some(child),
            lines,
            log: Vec::new(),
        };
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                panic!("{label} not ready after {READY_LIMIT:?}:\n{}", proc.log());
            };
            match proc
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(line) => {
                    let ready = line.starts_with("ready");
                    proc.log.push(line);
                    if ready {
                        return proc;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("{label} exited before it was ready:\n{}", proc.log());
                }
            }
        }
    }

    /// Everything it printed so far (stdout and stderr).
    fn log(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        self.log.join("\n")
    }

    /// Whether it still runs.
    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // `ip netns exec` execs the command in place: the pid is the tool's.
        // SIGTERM first so it logs its counters; SIGKILL after 3 s.
        let _ = run(&["kill", "-TERM", &child.id().to_string()]);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// What a run of `client.py http` or `client.py udp` saw.
#[derive(Debug, Default)]
pub struct Replies {
    /// The tool's lines, as printed.
    pub lines: Vec<String>,
    /// Answers per real-server name.
    pub per_rs: BTreeMap<String, usize>,
    /// The lines of failed requests.
    pub errors: Vec<String>,
}

impl Replies {
    /// Parses `<kind> <i> ok <rs> <ms>` and `<kind> <i> err <reason>` lines.
    pub fn parse(lines: Vec<String>) -> Replies {
        let mut r = Replies::default();
        for line in &lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [_, _, "ok", rs, ..] => *r.per_rs.entry((*rs).to_owned()).or_default() += 1,
                _ => r.errors.push(line.clone()),
            }
        }
        r.lines = lines;
        r
    }

    /// Answered requests.
    pub fn ok(&self) -> usize {
        self.per_rs.values().sum()
    }

    /// Answers from real server `rs`.
    pub fn count(&self, rs: &str) -> usize {
        self.per_rs.get(rs).copied().unwrap_or(0)
    }
}

/// A `client.py get` download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The real server that sent it.
    pub rs: String,
    /// Bytes received.
    pub bytes: u64,
    /// Their sha256, hex.
    pub sha256: String,
}

/// The whole topology. Fields are public for tests that need the names.
pub struct Topology {
    /// The client namespace.
    pub client: String,
    /// The director's namespace (rvsd runs here).
    pub lb: String,
    /// The switch and return-path router namespace.
    pub sw: String,
    /// rs1, rs2, rs3.
    pub rs: Vec<RealServer>,
    procs: Vec<Proc>,
    // Declared last: dropped after `Drop::drop` stopped the processes, which
    // would otherwise keep the namespaces alive.
    netns: Netns,
}

/// Sets sysctls (`key=value`) inside `ns`.
fn sysctl(ns: &str, settings: &[&str]) {
    let mut args = vec!["ip", "netns", "exec", ns, "sysctl", "-qw"];
    args.extend_from_slice(settings);
    must(&args);
}

impl Topology {
    /// Builds every namespace, link, address and route that does not depend
    /// on the forwarding method. `tag` names the test (short, `[a-z0-9-]`).
    pub fn build(tag: &str) -> Topology {
        let pid = std::process::id();
        // Created first: a panic below still deletes what exists so far.
        let mut netns = Netns::new();
        let mut add = |role: &str| {
            let ns = netns.add(&format!("rvs-{tag}-{role}-{pid}"));
            sysctl(
                &ns,
                &[
                    "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1",
                ],
            );
            ns
        };
        let client = add("cl");
        let lb = add("lb");
        let sw = add("sw");
        let rs: Vec<RealServer> = RIPS
            .iter()
            .enumerate()
            .map(|(i, rip)| {
                let name = format!("rs{}", i + 1);
                RealServer {
                    ns: add(&name),
                    name,
                    rip,
                    method: None,
                }
            })
            .collect();

        // The client's two links, the director's two ports.
        netns.veth(CLIENT_FRONT_IF, &client, LB_CLIENT_IF, &lb);
        netns.veth(LB_SERVER_IF, &lb, "sw-lb", &sw);
        netns.veth("sw-cl", &sw, CLIENT_BACK_IF, &client);
        for r in &rs {
            netns.veth(&format!("sw-{}", r.name), &sw, RS_IF, &r.ns);
        }

        // The server segment: a bridge without STP, so ports forward at once.
        must(&["ip", "-n", &sw, "link", "add", BRIDGE, "type", "bridge"]);
        must(&["ip", "-n", &sw, "link", "set", BRIDGE, "up"]);
        let ports =
            std::iter::once("sw-lb".to_owned()).chain(rs.iter().map(|r| format!("sw-{}", r.name)));
        for port in ports {
            must(&["ip", "-n", &sw, "link", "set", &port, "master", BRIDGE]);
        }

        // The return-path router.
        let addr = |ns: &str, cidr: &str, dev: &str| {
            must(&["ip", "-n", ns, "addr", "add", cidr, "dev", dev])
        };
        addr(&sw, &format!("{ROUTER_SERVER}/24"), BRIDGE);
        addr(&sw, &format!("{ROUTER_CLIENT}/24"), "sw-cl");
        must(&[
            "ip",
            "-n",
            &sw,
            "route",
            "add",
            CLIENT_NET,
            "via",
            CLIENT_BACK,
        ]);
        // DR/TUN replies come from the VIP, which this router reaches
        // through cl-back, not through br0: no reverse-path filtering.
        sysctl(
            &sw,
            &[
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ],
        );

        // The client: requests leave by cl-front, DR/TUN replies arrive on
        // cl-back (from the VIP, whose route is cl-front: rp_filter off).
        for cip in CIPS {
            addr(&client, &format!("{cip}/24"), CLIENT_FRONT_IF);
        }
        addr(&client, &format!("{CLIENT_BACK}/24"), CLIENT_BACK_IF);
        sysctl(
            &client,
            &[
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ],
        );

        for r in &rs {
            addr(&r.ns, &format!("{}/24", r.rip), RS_IF);
        }

        Topology {
            client,
            lb,
            sw,
            rs,
            procs: Vec::new(),
            netns,
        }
    }

    /// Sets real server `i` (0-based) up for `method` (once per RS). For TUN
    /// this starts its IPIP decapsulator.
    pub fn set_method(&mut self, i: usize, method: Method) {
        let r = &self.rs[i];
        assert!(
            r.method.is_none(),
            "{} is already set up for {:?}",
            r.name,
            r.method
        );
        let ns = r.ns.clone();
        let bypass = [
            // RFC 1812 / LVS-DR habits: answer ARP only for addresses on the
            // receiving device, announce only the device's own address, so
            // the VIP never leaks onto the server segment.
            "net.ipv4.conf.all.arp_ignore=1",
            "net.ipv4.conf.all.arp_announce=2",
            "net.ipv4.conf.eth0.arp_ignore=1",
            "net.ipv4.conf.eth0.arp_announce=2",
            // Packets to the VIP arrive on eth0 (DR) or the TUN device, while
            // the route to the client is the router: no rp_filter.
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
            "net.ipv4.conf.eth0.rp_filter=0",
            "net.ipv4.conf.lo.rp_filter=0",
        ];
        match method {
            Method::Nat => {
                must(&[
                    "ip", "-n", &ns, "route", "replace", "default", "via", DIP_SERVER,
                ]);
            }
            Method::FullNat => {}
            Method::Dr => {
                sysctl(&ns, &bypass);
                must(&[
                    "ip",
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{VIP}/32"),
                    "dev",
                    "lo",
                ]);
                must(&[
                    "ip",
                    "-n",
                    &ns,
                    "route",
                    "replace",
                    "default",
                    "via",
                    ROUTER_SERVER,
                ]);
            }
            Method::Tun => {
                sysctl(&ns, &bypass);
                must(&[
                    "ip",
                    "-n",
                    &ns,
                    "route",
                    "replace",
                    "default",
                    "via",
                    ROUTER_SERVER,
                ]);
                let decap = script("ipip-decap.py");
                let label = format!("ipip-decap {}", self.rs[i].name);
                let p = Proc::start(
                    &label,
                    &ns,
                    &["python3", &decap, "--dev", "vip0", "--vip", VIP],
                );
                self.procs.push(p);
            }
        }
        self.rs[i].method = Some(method);
    }

    /// Sets every real server up for `method`.
    pub fn set_method_all(&mut self, method: Method) {
        for i in 0..self.rs.len() {
            self.set_method(i, method);
        }
    }

    /// Starts scripts/topo/rs-server.py in every real server: HTTP on
    /// `HTTP_PORTS`, UDP echo on `UDP_PORT`, each answer naming the RS.
    pub fn start_servers(&mut self) {
        for i in 0..self.rs.len() {
            self.start_server(i);
        }
    }

    /// Starts real server `i`'s (0-based) rs-server.py, as `start_servers`
    /// does for every RS; again after `stop_server`, to bring it back.
    pub fn start_server(&mut self, i: usize) {
        let server = script("rs-server.py");
        let (h0, h1, u) = (
            HTTP_PORTS[0].to_string(),
            HTTP_PORTS[1].to_string(),
            UDP_PORT.to_string(),
        );
        let (name, ns) = (self.rs[i].name.clone(), self.rs[i].ns.clone());
        let label = format!("rs-server {name}");
        assert!(
            !self.procs.iter().any(|p| p.label == label),
            "{label} already runs"
        );
        let args = [
            "python3", &server, "--name", &name, "--http", &h0, "--http", &h1, "--udp", &u,
        ];
        let p = Proc::start(&label, &ns, &args);
        self.procs.push(p);
    }

    /// Stops real server `i`'s rs-server.py (SIGTERM, then SIGKILL) and
    /// waits until it is gone: the RS is up but nothing listens, so a SYN
    /// to it gets a RST, as when a real server's daemon dies.
    pub fn stop_server(&mut self, i: usize) {
        let label = format!("rs-server {}", self.rs[i].name);
        let before = self.procs.len();
        // Dropping the Proc terminates it and reaps it before returning.
        self.procs.retain(|p| p.label != label);
        assert_eq!(self.procs.len() + 1, before, "{label} was not running");
    }

    /// Without rvsd only: makes the lb namespace a plain kernel router with
    /// the DIPs on its veths, and routes the client to the server segment
    /// and the VIP through it.
    pub fn kernel_router(&self) {
        let lb = &self.lb;
        must(&[
            "ip",
            "-n",
            lb,
            "addr",
            "add",
            &format!("{DIP_CLIENT}/24"),
            "dev",
            LB_CLIENT_IF,
        ]);
        must(&[
            "ip",
            "-n",
            lb,
            "addr",
            "add",
            &format!("{DIP_SERVER}/24"),
            "dev",
            LB_SERVER_IF,
        ]);
        sysctl(
            lb,
            &[
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ],
        );
        let cl = &self.client;
        must(&[
            "ip", "-n", cl, "route", "add", SERVER_NET, "via", DIP_CLIENT,
        ]);
        must(&[
            "ip",
            "-n",
            cl,
            "route",
            "add",
            &format!("{VIP}/32"),
            "via",
            DIP_CLIENT,
        ]);
    }

    /// Without rvsd only (after `kernel_router`): DR done by the kernel. The
    /// lb namespace routes VIP/32 via `rip`, so it forwards client -> VIP
    /// packets to that RS's MAC with the IP header unchanged, as `-g` does.
    pub fn route_vip_to(&self, rip: &str) {
        must(&[
            "ip",
            "-n",
            &self.lb,
            "route",
            "replace",
            &format!("{VIP}/32"),
            "via",
            rip,
            "dev",
            LB_SERVER_IF,
        ]);
    }

    /// Without rvsd only (after `kernel_router`): TUN done by
    /// scripts/topo/ipip-encap.py in the lb namespace, which tunnels every
    /// packet for the VIP to one of `rips` (by a hash of its flow).
    pub fn start_encap(&mut self, rips: &[&str]) {
        self.stop_encap();
        let encap = script("ipip-encap.py");
        let mut args = vec!["python3", encap.as_str(), "--dev", "enc0", "--vip", VIP];
        for rip in rips {
            args.extend_from_slice(&["--rip", rip]);
        }
        let p = Proc::start("ipip-encap", &self.lb, &args);
        self.procs.push(p);
    }

    /// Stops the encapsulator started by `start_encap` (its device and route
    /// go with it).
    pub fn stop_encap(&mut self) {
        self.procs.retain(|p| p.label != "ipip-encap");
    }

    /// Runs scripts/topo/client.py in the client namespace with `args`
    /// (`http --dst ... -n 10`, see the script), bounded by `limit`, and
    /// returns its lines.
    pub fn client(&self, args: &[&str], limit: Duration) -> Vec<String> {
        self.client_in(&self.client, args, limit)
    }

    /// `client` run in namespace `ns` instead (e.g. the lb namespace, to
    /// play a FullNAT LIP without rvsd).
    pub fn client_in(&self, ns: &str, args: &[&str], limit: Duration) -> Vec<String> {
        let secs = limit.as_secs().max(1).to_string();
        let tool = script("client.py");
        let mut full = vec![
            "ip", "netns", "exec", ns, "timeout", "-k", "2", &secs, "python3", &tool,
        ];
        full.extend_from_slice(args);
        let out = run(&full);
        let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if lines.is_empty() {
            // The tool itself failed (bad arguments, a traceback, timeout):
            // one err line that says why.
            let why = format!("{:?} {}", out.status.code(), stderr.trim());
            return vec![format!(
                "client err {}",
                why.split_whitespace().collect::<Vec<_>>().join("_")
            )];
        }
        lines
    }

    /// `n` HTTP GET / from `src` to `dst:port`, each a new connection.
    pub fn http(&self, src: &str, dst: &str, port: u16, n: usize) -> Replies {
        let (port_s, n_s) = (port.to_string(), n.to_string());
        let args = [
            "http",
            "--src",
            src,
            "--dst",
            dst,
            "--port",
            &port_s,
            "-n",
            &n_s,
            "--timeout",
            "3",
        ];
        Replies::parse(self.client(&args, bound(3, n)))
    }

    /// `n` UDP requests from `src` to `dst:port`, each from a new port.
    pub fn udp(&self, src: &str, dst: &str, port: u16, n: usize) -> Replies {
        let (port_s, n_s) = (port.to_string(), n.to_string());
        let args = [
            "udp",
            "--src",
            src,
            "--dst",
            dst,
            "--port",
            &port_s,
            "-n",
            &n_s,
            "--timeout",
            "2",
        ];
        Replies::parse(self.client(&args, bound(2, n)))
    }

    /// Downloads `/big` from `dst:port`; Err holds the tool's line.
    pub fn download(&self, src: &str, dst: &str, port: u16) -> Result<Download, String> {
        let port = port.to_string();
        let args = [
            "get",
            "--src",
            src,
            "--dst",
            dst,
            "--port",
            &port,
            "--path",
            "/big",
            "--timeout",
            "20",
        ];
        let lines = self.client(&args, Duration::from_secs(30));
        let line = lines.last().cloned().unwrap_or_default();
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["get", "ok", rs, bytes, sha256, ..] => Ok(Download {
                rs: (*rs).to_owned(),
                bytes: bytes.parse().map_err(|_| line.clone())?,
                sha256: (*sha256).to_owned(),
            }),
            _ => Err(lines.join("\n")),
        }
    }

    /// Runs `args` inside `ns`.
    pub fn exec(&self, ns: &str, args: &[&str]) -> std::process::Output {
        self.netns.exec(ns, args)
    }

    /// Process ids of the helpers started so far (servers, decapsulators).
    pub fn pids(&self) -> Vec<u32> {
        self.procs
            .iter()
            .filter_map(|p| p.child.as_ref().map(Child::id))
            .collect()
    }

    /// The MAC address of `dev` in `ns`.
    pub fn mac(&self, ns: &str, dev: &str) -> String {
        self.netns.mac(ns, dev)
    }

    /// A counter of `dev` in `ns` (`rx_bytes`, `tx_packets`, ...).
    pub fn link_stat(&self, ns: &str, dev: &str, stat: &str) -> u64 {
        let path = format!("/sys/class/net/{dev}/statistics/{stat}");
        let out = must(&["ip", "netns", "exec", ns, "cat", &path]);
        out.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{path} in {ns}: {out:?}: {e}"))
    }

    /// rvsd's device for the client-side port.
    pub fn lb_client_device(&self) -> String {
        format!("net_af_packet0,iface={LB_CLIENT_IF}")
    }

    /// rvsd's device for the server-side port.
    pub fn lb_server_device(&self) -> String {
        format!("net_af_packet1,iface={LB_SERVER_IF}")
    }

    /// The `interfaces: [...]` entry of an rvsd config for this topology:
    /// port "client" (DIP, VIP) and port "server" (DIP and `server_extra`,
    /// e.g. `LIPS` as /32 for FullNAT).
    pub fn rvsd_interfaces(&self, server_extra: &[&str]) -> String {
        let extra: String = server_extra
            .iter()
            .map(|a| format!(", \"{a}/32\""))
            .collect();
        format!(
            "interfaces: [\n        (name: \"client\", device: \"{}\", addresses: [\"{DIP_CLIENT}/24\", \"{VIP}/32\"]),\n        (name: \"server\", device: \"{}\", addresses: [\"{DIP_SERVER}/24\"{extra}]),\n    ],",
            self.lb_client_device(),
            self.lb_server_device()
        )
    }

    /// Output of every helper process so far, and which still run: for
    /// assertion messages.
    pub fn logs(&mut self) -> String {
        let mut text = String::new();
        for p in &mut self.procs {
            let state = if p.running() { "running" } else { "exited" };
            let log = p.log();
            text.push_str(&format!("--- {} ({state})\n{log}\n", p.label));
        }
        text
    }
}

/// A bound for `n` requests of at most `per_request_s` seconds each, plus
/// the tool's start-up.
fn bound(per_request_s: u64, n: usize) -> Duration {
    let n = u64::try_from(n).unwrap_or(u64::MAX);
    Duration::from_secs(per_request_s.saturating_mul(n).saturating_add(10))
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Processes first: a process inside a namespace keeps it alive.
        self.procs.clear();
    }
}
