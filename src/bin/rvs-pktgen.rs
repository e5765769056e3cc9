//! `rvs-pktgen`: rvs's DPDK traffic generator and sink (see `rvs::pktgen`).
//!
//! Sends TCP or UDP flows from many client addresses and ports out of one
//! DPDK port and counts what arrives on another, then prints one JSON object
//! on stdout. Three phases:
//! 1. probe: batches of packets from spare flows until one batch comes
//!    through whole, so the device under test has resolved its next hops;
//! 2. setup: the first packet of every flow once (a SYN for TCP), timed at
//!    the sink: new connections per second;
//! 3. steady: packets of the open flows in turn, for `--secs` or `--count`,
//!    then a drain: forwarded packets per second and loss.
//!
//! Progress goes to stderr. Exit status 1 on bad arguments or a failed
//! start, 3 when the probe never came through.

use anyhow::{bail, Context, Result};
use dataplane::addr::MacAddr;
use rvs::dpdk::{Eal, Mempool, Port};
use rvs::pktgen::{FlowSet, Generator, Kind, Plan, Proto, Side};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: rvs-pktgen [OPTIONS] -- EAL-ARGS...

  --tx-dev DEV[,ARGS]   virtual device to send on (e.g. net_memif0,role=server,socket=/run/x.sock)
  --rx-dev DEV[,ARGS]   virtual device to count on (default: the tx device)
  --proto udp|tcp       transport (udp); TCP opens each flow with a SYN
  --frame BYTES         frame length without FCS, 60..1514 (64)
  --flows N             distinct flows (1000)
  --clients IP          first client address (198.18.16.1)
  --client-count N      client addresses (4096)
  --sport PORT          first client port (1024)
  --dst IP:PORT         destination, the VIP (198.18.0.100:80)
  --dst-mac MAC         send to this MAC instead of resolving the destination by ARP
  --secs S              steady phase length (5)
  --count N             steady phase: exactly N packets instead of --secs
  --rate PPS            cap on the sending rate (default: as fast as the port takes)
  --no-setup            skip the setup phase (flows open on their first steady packet)
  --link-timeout S      wait this long for links and ARP (10)
  --mbufs N             mbufs in the pool (32767)";

struct Args {
    tx_dev: String,
    rx_dev: Option<String>,
    proto: Proto,
    frame: usize,
    flows: u32,
    clients: Ipv4Addr,
    client_count: u32,
    sport: u16,
    dst: SocketAddrV4,
    dst_mac: Option<MacAddr>,
    secs: f64,
    count: Option<u64>,
    rate: Option<f64>,
    setup: bool,
    link_timeout: Duration,
    mbufs: u32,
    eal: Vec<String>,
}

fn value<T: std::str::FromStr>(it: &mut impl Iterator<Item = String>, flag: &str) -> Result<T> {
    let v = it.next().with_context(|| format!("{flag} needs a value"))?;
    v.parse()
        .map_err(|_| anyhow::anyhow!("{flag}: cannot read `{v}`"))
}

fn parse_args() -> Result<Option<Args>> {
    let mut a = Args {
        tx_dev: String::new(),
        rx_dev: None,
        proto: Proto::Udp,
        frame: 64,
        flows: 1000,
        clients: Ipv4Addr::new(198, 18, 16, 1),
        client_count: 4096,
        sport: 1024,
        dst: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 100), 80),
        dst_mac: None,
        secs: 5.0,
        count: None,
        rate: None,
        setup: true,
        link_timeout: Duration::from_secs(10),
        mbufs: 32767,
        eal: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--tx-dev" => a.tx_dev = value(&mut it, &flag)?,
            "--rx-dev" => a.rx_dev = Some(value(&mut it, &flag)?),
            "--proto" => {
                a.proto = match value::<String>(&mut it, &flag)?.as_str() {
                    "udp" => Proto::Udp,
                    "tcp" => Proto::Tcp,
                    other => bail!("--proto: `{other}` is neither udp nor tcp"),
                }
            }
            "--frame" => a.frame = value(&mut it, &flag)?,
            "--flows" => a.flows = value(&mut it, &flag)?,
            "--clients" => a.clients = value(&mut it, &flag)?,
            "--client-count" => a.client_count = value(&mut it, &flag)?,
            "--sport" => a.sport = value(&mut it, &flag)?,
            "--dst" => a.dst = value(&mut it, &flag)?,
            "--dst-mac" => {
                let s: String = value(&mut it, &flag)?;
                a.dst_mac = Some(
                    s.parse()
                        .map_err(|_| anyhow::anyhow!("--dst-mac: `{s}` is not a MAC"))?,
                );
            }
            "--secs" => a.secs = value(&mut it, &flag)?,
            "--count" => a.count = Some(value(&mut it, &flag)?),
            "--rate" => a.rate = Some(value(&mut it, &flag)?),
            "--no-setup" => a.setup = false,
            "--link-timeout" => a.link_timeout = Duration::from_secs_f64(value(&mut it, &flag)?),
            "--mbufs" => a.mbufs = value(&mut it, &flag)?,
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "--" => {
                a.eal = it.by_ref().collect();
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    if a.tx_dev.is_empty() {
        bail!("--tx-dev is required\n{USAGE}");
    }
    if !(a.secs.is_finite() && a.secs > 0.0) {
        bail!("--secs must be a positive number of seconds");
    }
    if a.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--rate must be a positive number of packets per second");
    }
    if a.sport < 64 {
        bail!("--sport must be 64 or more: the ports below the first are the probe flows'");
    }
    Ok(Some(a))
}

fn open(dev: &str, pool: &Mempool) -> Result<(Port, Side)> {
    let (name, args) = dev.split_once(',').unwrap_or((dev, ""));
    let mut port = Port::create_vdev(name, args).with_context(|| format!("creating {dev}"))?;
    port.configure(1, 1024, 1024, pool)?;
    port.start()?;
    let mac = port.mac()?;
    let queue = port.queue(0).context("queue 0")?;
    Ok((port, Side { queue, mac }))
}

fn wait_link(port: &Port, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    while !port.link().up {
        if start.elapsed() > timeout {
            bail!(
                "{}: link still down after {:.0} s (is the peer running?)",
                port.name(),
                timeout.as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn rate(n: u64, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("rvs-pktgen: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run() -> Result<i32> {
    let Some(a) = parse_args()? else {
        return Ok(0);
    };
    let eal = Eal::init(&a.eal).context("EAL")?;
    let pool = Mempool::new("pktgen", a.mbufs, 256, 2048 + 128)?;
    let (tx_port, tx) = open(&a.tx_dev, &pool)?;
    let rx_port = match &a.rx_dev {
        Some(d) => Some(open(d, &pool)?),
        None => None,
    };
    eprintln!("rvs-pktgen: ports started");
    let flows = FlowSet {
        proto: a.proto,
        frame_len: a.frame,
        flows: a.flows,
        clients: a.clients,
        client_count: a.client_count,
        sport_base: a.sport,
        dst: *a.dst.ip(),
        dport: a.dst.port(),
        src_mac: tx.mac,
        dst_mac: a.dst_mac.unwrap_or(MacAddr([0xff; 6])),
    };
    let mut g = Generator::new(&pool, tx, rx_port.as_ref().map(|p| p.1), flows)
        .map_err(anyhow::Error::msg)?;
    wait_link(&tx_port, a.link_timeout)?;
    if let Some((p, _)) = &rx_port {
        wait_link(p, a.link_timeout)?;
    }
    eprintln!("rvs-pktgen: links up");
    if a.dst_mac.is_none() {
        let mac = g
            .resolve(a.clients, *a.dst.ip(), a.link_timeout)
            .with_context(|| format!("no ARP reply for {}", a.dst.ip()))?;
        eprintln!("rvs-pktgen: {} is at {mac}", a.dst.ip());
        g.set_dst_mac(mac);
    }

    // 1. Probe with flows of their own: client ports just below the first.
    let probe_flows = FlowSet {
        sport_base: a.sport - 32,
        flows: 32,
        ..g.flows().clone()
    };
    let mut p = Generator::new(&pool, tx, rx_port.as_ref().map(|p| p.1), probe_flows)
        .map_err(anyhow::Error::msg)?;
    if !p.probe(0, 8, a.link_timeout) {
        eprintln!(
            "rvs-pktgen: no batch of probes came through in {:?}",
            a.link_timeout
        );
        println!(
            "{{\"ok\":false,\"error\":\"probe\",\"probe_received\":{},\"back\":{}}}",
            p.sink.packets, p.back.packets
        );
        return Ok(3);
    }
    p.drain(Duration::from_millis(50), Duration::from_secs(1));
    drop(p);
    g.drain(Duration::from_millis(50), Duration::from_secs(1));
    eprintln!("rvs-pktgen: probes through");

    // 2. Setup: every flow's first packet once.
    let mut setup = String::from("null");
    if a.setup {
        let (s, t0) = g.phase(
            Kind::First,
            Plan {
                count: Some(u64::from(a.flows)),
                duration: Some(Duration::from_secs(120)),
                rate: a.rate,
            },
        );
        let got = g.sink.packets;
        // From the first send to the last arrival.
        let span = g
            .sink
            .last
            .map_or(s.secs, |l| l.duration_since(t0).as_secs_f64().max(1e-9));
        eprintln!(
            "rvs-pktgen: setup: {} flows sent in {:.3} s, {} arrived ({:.0}/s)",
            s.packets,
            s.secs,
            got,
            rate(got, span)
        );
        setup = format!(
            "{{\"sent\":{},\"received\":{},\"secs\":{:.6},\"per_sec\":{:.1},\"dests\":{}}}",
            s.packets,
            got,
            span,
            rate(got, span),
            g.sink.dests_json()
        );
    }

    // 3. Steady.
    let (s, _) = g.phase(
        Kind::Next,
        Plan {
            count: a.count,
            duration: if a.count.is_some() {
                Some(Duration::from_secs(600))
            } else {
                Some(Duration::from_secs_f64(a.secs))
            },
            rate: a.rate,
        },
    );
    let got = g.sink.packets;
    let lost = s.packets.saturating_sub(got);
    eprintln!(
        "rvs-pktgen: steady: {} sent in {:.3} s ({:.3} Mpps), {} arrived ({:.3} Mpps), loss {:.4} %",
        s.packets,
        s.secs,
        rate(s.packets, s.secs) / 1e6,
        got,
        rate(got, s.secs) / 1e6,
        100.0 * lost as f64 / (s.packets.max(1)) as f64
    );
    println!(
        "{{\"ok\":true,\"proto\":\"{}\",\"frame\":{},\"flows\":{},\"setup\":{setup},\
         \"steady\":{{\"sent\":{},\"received\":{},\"secs\":{:.6},\"tx_pps\":{:.1},\"rx_pps\":{:.1},\
         \"loss\":{:.6},\"rx_bytes\":{},\"src_rewritten\":{},\"ipip\":{},\"other\":{},\
         \"arp_answered\":{},\"back\":{},\"dests\":{}}}}}",
        a.proto.name(),
        a.frame,
        a.flows,
        s.packets,
        got,
        s.secs,
        rate(s.packets, s.secs),
        rate(got, s.secs),
        lost as f64 / (s.packets.max(1)) as f64,
        g.sink.bytes,
        g.sink.src_rewritten,
        g.sink.ipip,
        g.sink.other,
        g.sink.arp_answered,
        g.back.packets,
        g.sink.dests_json()
    );
    drop(g);
    drop(rx_port);
    drop(tx_port);
    drop(pool);
    drop(eal);
    Ok(0)
}
