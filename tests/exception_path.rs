//! The exception path: rvsd gives its port a kernel twin (a tap interface
//! with the port's MAC); what the kernel sends through it leaves by the
//! port, and what comes back for the kernel (ARP replies, ICMP and TCP to the
//! DIP that no service claims) reaches it through the twin.

mod common;

use common::{eal_args, ifname, require_root, Netns, Rvsd};
use std::time::Duration;

/// In the client: accept one TCP connection on 198.18.0.2:2222 and greet it.
const PY_ECHO_ONCE: &str = "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('198.18.0.2', 2222)); s.listen(1); s.settimeout(10)\nc,_=s.accept(); c.sendall(b'hello from the client'); c.close()";
/// In the LB's kernel: connect to the client and print what it says.
const PY_CONNECT: &str = "import socket\ns=socket.create_connection(('198.18.0.2', 2222), timeout=5)\nprint(s.recv(100).decode())";

#[test]
fn kernel_twin_carries_the_kernels_traffic_out_of_the_port() {
    require_root();
    let pid = std::process::id();
    let mut ns = Netns::new();
    let lb = ns.add(&format!("rvs-exc-lb-{pid}"));
    let cl = ns.add(&format!("rvs-exc-cl-{pid}"));
    let (lb_if, cl_if, twin) = (ifname("xl"), ifname("xc"), ifname("xk"));
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
    let lb_mac = ns.mac(&lb, &lb_if);

    let config = format!(
        r#"(
    eal: {eal},
    interfaces: [(name: "lb0", device: "net_af_packet0,iface={lb_if}", addresses: ["198.18.0.1/24"], kernel: "{twin}")],
    workers: (lcores: [1], idle_sleep_us: 50),
    admin_socket: "/tmp/rvs-exc-{pid}.sock",
)"#,
        eal = eal_args("exc")
    );
    let mut rvsd = Rvsd::start(Some(&lb), "exc", &config);
    assert!(
        rvsd.wait_for("rvsd running", Duration::from_secs(30)),
        "{}",
        rvsd.log()
    );

    // The twin exists in rvsd's namespace, with the port's MAC.
    assert_eq!(
        ns.mac(&lb, &twin),
        lb_mac,
        "the twin carries the port's MAC"
    );
    // rvsd gives the twin the port's DIP and brings it up.
    let addrs = common::must(&["ip", "-n", &lb, "-o", "addr", "show", "dev", &twin]);
    assert!(
        addrs.contains("198.18.0.1/24"),
        "the twin holds the DIP: {addrs}"
    );

    // The LB kernel pings the client: its ARP request for 198.18.0.2 leaves
    // through the twin and the port, so the client learns 198.18.0.1 at the
    // port's MAC (a request for one of its own addresses, which Linux learns
    // from; rvsd's gratuitous ARP alone would not create the entry).
    let ping = ns.exec(
        &lb,
        &["ping", "-c", "3", "-i", "0.3", "-W", "2", "198.18.0.2"],
    );
    let (seen, neigh) = ns.wait_neigh(&cl, "198.18.0.1", &lb_mac, Duration::from_secs(3));
    assert!(
        seen,
        "client never heard the LB kernel: {neigh:?}\n{}",
        rvsd.log()
    );

    // The round trip: the client's ARP reply and echo replies come back to
    // the kernel through the twin.
    let text = String::from_utf8_lossy(&ping.stdout);
    assert!(
        ping.status.success(),
        "the LB kernel's ping failed: {text}\n{}",
        rvsd.log()
    );
    // And a TCP conversation of the kernel's: the client's nc answers.
    let server = std::process::Command::new("ip")
        .args(["netns", "exec", &cl, "python3", "-c", PY_ECHO_ONCE])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("client listener");
    std::thread::sleep(Duration::from_millis(300));
    let got = ns.exec(&lb, &["python3", "-c", PY_CONNECT]);
    let mut server = server;
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "hello from the client",
        "{}",
        rvsd.log()
    );

    let status = rvsd.terminate(Duration::from_secs(15)).expect("rvsd exits");
    let log = rvsd.log();
    assert!(status.success(), "{log}");
    assert!(log.contains("kernel twin up"), "{log}");
}
