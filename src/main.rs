//! `rvsd --config FILE.ron`: the rvs appliance daemon.
//!
//! Starts EAL, creates the mbuf pool, brings up every configured port with one
//! queue pair per worker, launches one pinned poll-mode worker per configured
//! lcore and waits for SIGINT/SIGTERM. On a signal it stops the workers, stops
//! and closes the ports, cleans EAL up and exits 0. Every failure is one
//! `rvsd: ...` line on stderr and a non-zero exit.

use anyhow::{bail, Context, Result};
use control::config::Config;
use control::health::apply;
use control::health::engine::{Engine, EngineOptions};
use control::health::plan::Plan;
use control::publish;
use control::reload::{self, ServicePart};
use control::server::AdminServer;
use control::state::{BaseParts, Limits, State};
use control::stats::StatsTable;
use dataplane::snapshot::Interface;
use dataplane::stack::route::Route;
use dataplane::worker::WorkerConfig;
use rvs::daemon::ControlCore;
use rvs::dpdk::{self, Eal, Mempool, Port, PortOptions, TscClock};
use rvs::worker::{self, Exported, WorkerSetup};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const USAGE: &str = "\
usage: rvsd --config FILE.ron [--check]
       rvsd --version

  --config FILE   the appliance configuration (RON)
  --check         parse and validate the configuration, then exit
  --version       print the rvsd and DPDK versions";

/// Data room per mbuf: DPDK's default (2048 bytes + headroom).
const DATA_ROOM: u16 = 2048 + 128;

struct Args {
    config: PathBuf,
    check: bool,
}

fn parse_args() -> Result<Option<Args>> {
    let mut config = None;
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" | "-c" => {
                config = Some(PathBuf::from(
                    args.next().context("--config needs a file name")?,
                ));
            }
            s if s.starts_with("--config=") => {
                config = Some(PathBuf::from(&s["--config=".len()..]))
            }
            "--check" => check = true,
            "--version" | "-V" => {
                println!(
                    "rvsd {} ({}, {} build) against DPDK {}",
                    env!("CARGO_PKG_VERSION"),
                    env!("RVS_GIT_COMMIT"),
                    env!("RVS_BUILD_PROFILE"),
                    dpdk_sys::DPDK_VERSION
                );
                return Ok(None);
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    let config = config.with_context(|| format!("--config FILE is required\n{USAGE}"))?;
    Ok(Some(Args { config, check }))
}

/// Brings the kernel twin `name` up with the port's DIPs (its connected
/// prefixes; /32 VIPs stay with the dataplane), so ordinary sockets on the
/// appliance (health checks, SSH, routing daemons) use the port.
fn configure_twin(name: &str, cidrs: &[dataplane::addr::Ipv4Cidr]) -> Result<()> {
    let ip = |args: &[&str]| -> Result<()> {
        let out = std::process::Command::new("ip")
            .args(args)
            .output()
            .context("cannot run `ip` (iproute2) to configure the kernel twin")?;
        if !out.status.success() {
            bail!(
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    };
    for c in cidrs.iter().filter(|c| c.prefix_len < 32) {
        ip(&["addr", "replace", &c.to_string(), "dev", name])?;
    }
    ip(&["link", "set", name, "up"])
}

/// NIC steering of FullNAT replies (DESIGN.md, "Reply ownership"): on every
/// data port (LIPs belong to no one interface), rte_flow rules send a reply
/// to LIP:lport straight to the queue of the worker that owns the lport. A
/// port that refuses them, or a worker count that is not a power of two,
/// leaves the replies to the software redirect rings, which is logged once
/// per interface. Installed at start only: LIPs a SIGHUP reload adds are
/// not steered, and rules of removed LIPs stay until exit; both are harmless
/// (any worker that receives a reply it does not own redirects it) and
/// cost only the redirect hop.
fn steer_fullnat_replies(ports: &mut [Port], names: &[String], lips: &[Ipv4Addr], workers: u16) {
    if lips.is_empty() || workers <= 1 {
        return;
    }
    let plan = dataplane::fwd::fullnat_steering_plan(lips, workers);
    for (port, name) in ports.iter_mut().zip(names) {
        if plan.is_empty() {
            tracing::info!(
                "interface {name}: no rte_flow steering ({workers} workers is not a power of \
                 two), FullNAT replies go through the redirect rings"
            );
            continue;
        }
        match port.steer(&plan) {
            Ok(n) => tracing::info!(
                "interface {name}: {n} rte_flow rules steer FullNAT replies to their owners' queues"
            ),
            Err(e) => tracing::info!(
                "interface {name}: no rte_flow steering ({e}), FullNAT replies go through the \
                 redirect rings"
            ),
        }
    }
}

/// 64 random bits from the kernel, for the conn hash secrets; the clock if
/// /dev/urandom cannot be read.
fn random_seed() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)) {
        Ok(()) => u64::from_le_bytes(b),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| {
                u64::from(d.subsec_nanos()) ^ d.as_secs().rotate_left(32)
            }),
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RVS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run() {
        Ok(()) => {}
        Err(e) => {
            eprintln!("rvsd: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run() -> Result<()> {
    let Some(args) = parse_args()? else {
        return Ok(());
    };
    let config = Config::load(&args.config)?;
    if args.check {
        println!("{}: configuration is valid", args.config.display());
        return Ok(());
    }

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install signal handlers")?;
    }
    // SIGHUP re-reads the config file and applies only the difference.
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))
        .context("cannot install signal handlers")?;

    let mut eal_args = vec!["--lcores".to_owned(), config.eal_lcore_list()];
    eal_args.push("--main-lcore".into());
    eal_args.push(config.workers.main_lcore.to_string());
    eal_args.extend(config.eal.iter().cloned());
    tracing::info!(args = ?eal_args, "starting EAL");
    // Declaration order is teardown order in reverse: ports drop before the
    // pool, and the pool before EAL.
    let eal = Eal::init(&eal_args)?;
    tracing::info!(version = %Eal::version(), "EAL started");
    let pool = Mempool::new(
        "rvs_mbufs",
        config.mempool.mbufs,
        config.mempool.cache,
        DATA_ROOM,
    )?;

    let nworkers = u16::try_from(config.workers.lcores.len()).context("too many workers")?;
    let mut ports = Vec::with_capacity(config.interfaces.len());
    let mut interfaces = Vec::with_capacity(config.interfaces.len());
    let mut twins: Vec<(u16, Port)> = Vec::new();
    for ic in &config.interfaces {
        let ctx = || format!("interface {}", ic.name);
        let mut port = if ic.is_vdev() {
            Port::create_vdev(ic.device_name(), ic.device_args())
        } else {
            Port::find(ic.device_name())
        }
        .with_context(ctx)?;
        port.configure_with(
            nworkers,
            ic.rx_descriptors,
            ic.tx_descriptors,
            &pool,
            PortOptions { rss: true },
        )
        .with_context(ctx)?;
        if !port.set_mtu(ic.mtu) {
            tracing::debug!(interface = %ic.name, mtu = ic.mtu, "driver keeps its own MTU");
        }
        port.start().with_context(ctx)?;
        let mac = match ic
            .mac_override()
            .map_err(anyhow::Error::msg)
            .with_context(ctx)?
        {
            Some(mac) => mac,
            None => port.mac().with_context(ctx)?,
        };
        let addrs = ic.cidrs().map_err(anyhow::Error::msg).with_context(ctx)?;
        let link = port.link();
        tracing::info!(
            interface = %ic.name, port = port.id(), device = %ic.device, %mac,
            link_up = link.up, speed_mbps = link.speed_mbps,
            addresses = ?ic.addresses, rx = %port.rx_spread(), "port up"
        );
        if let Some(kname) = &ic.kernel {
            // The exception path: a tap interface in the kernel with the
            // port's MAC, one queue pair per worker like the port, and no
            // RSS (DPDK's default configuration).
            let vdev = format!("net_tap{}", twins.len());
            let args = format!("iface={kname},mac={mac}");
            let mut twin = Port::create_vdev(&vdev, &args).with_context(ctx)?;
            twin.configure(nworkers, 512, 512, &pool)
                .with_context(ctx)?;
            twin.start().with_context(ctx)?;
            configure_twin(
                kname,
                &ic.cidrs().map_err(anyhow::Error::msg).with_context(ctx)?,
            )
            .with_context(ctx)?;
            tracing::info!(interface = %ic.name, kernel = %kname, twin_port = twin.id(), "kernel twin up");
            twins.push((port.id(), twin));
        }
        interfaces.push(Interface {
            port: port.id(),
            name: ic.name.clone(),
            mac,
            mtu: ic.mtu,
            addrs,
        });
        ports.push(port);
    }
    let mut routes = Vec::with_capacity(config.routes.len());
    for rc in &config.routes {
        let r = rc.parse().map_err(anyhow::Error::msg)?;
        let port = interfaces
            .iter()
            .find(|i| i.name == rc.interface)
            .map(|i| i.port)
            .with_context(|| {
                format!("route {}: no interface named `{}`", rc.prefix, rc.interface)
            })?;
        routes.push(Route {
            prefix: r.prefix,
            gateway: r.via,
            port,
            src: r.src,
            metric: r.metric,
        });
    }
    // The service table: the config's services applied through the same
    // path as rvsadm's commands.
    let nworkers_usize = config.workers.lcores.len();
    let part = ServicePart::from_config(&config).map_err(anyhow::Error::msg)?;
    let mut state = State::new(Limits {
        workers: nworkers_usize,
        max_dests: config.max_dests,
    });
    reload::load(&mut state, &part).map_err(anyhow::Error::msg)?;
    // Health checks: the engine's view at start (alpha dests out, a sorry
    // server in) is applied before the first snapshot.
    let plan = Plan::from_config(&config).map_err(anyhow::Error::msg)?;
    let (health, initial) = Engine::start(&plan, EngineOptions::default())
        .context("cannot start the health checker")?;
    apply::apply_all(&mut state, &initial);
    let base = BaseParts { interfaces, routes };
    let snapshot = Arc::new(
        state
            .snapshot(1, &base)
            .context("building the first snapshot")?,
    );
    let names: Vec<String> = config.interfaces.iter().map(|i| i.name.clone()).collect();
    steer_fullnat_replies(&mut ports, &names, &snapshot.laddrs, nworkers);
    let server = AdminServer::bind(&config.admin_socket, config.admin_group.as_deref())
        .with_context(|| format!("admin socket {}", config.admin_socket.display()))?;
    tracing::info!(socket = %config.admin_socket.display(), services = state.service_count(), "admin socket ready");

    let clock = TscClock::new(&eal);
    let reports = Mutex::new(Vec::new());
    let (dump_tx, dump_rx): (Vec<_>, Vec<_>) = (0..nworkers_usize)
        .map(|_| crossbeam_channel::bounded::<worker::ConnDump>(1))
        .unzip();
    let mut dump_rx = dump_rx.into_iter();
    let exports: Vec<Mutex<Exported>> = (0..nworkers_usize)
        .map(|_| Mutex::new(Exported::default()))
        .collect();
    let seed_base = random_seed();
    let redirect = (0..config.workers.lcores.len())
        .map(|i| dpdk::Ring::new_multi_producer(&format!("rvs_redirect{i}"), 4096))
        .collect::<Result<Vec<_>, _>>()?;
    let (publisher, subscribers) =
        publish::channel(config.workers.lcores.len(), 4, Arc::clone(&snapshot));
    let ((), statuses) = dpdk::scope(|s| {
        for ((i, &lcore), updates) in config.workers.lcores.iter().enumerate().zip(subscribers) {
            let id = u16::try_from(i).unwrap_or(u16::MAX);
            let queues = ports.iter().filter_map(|p| p.queue(id)).collect();
            let kernel = twins
                .iter()
                .filter_map(|(phys, t)| Some((*phys, t.queue(id)?)))
                .collect();
            let mut wcfg = WorkerConfig::new(id);
            wcfg.workers = nworkers;
            wcfg.conn_capacity = config.max_conns;
            wcfg.template_capacity = (config.max_conns / 4).max(1024);
            // A secret per worker keys its conn hash, so clients cannot aim
            // conns at one probe chain.
            wcfg.seed = seed_base
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(u32::from(id));
            let setup = WorkerSetup {
                id,
                lcore,
                config: wcfg,
                export: &exports[i],
                dumps: dump_rx
                    .next()
                    .unwrap_or_else(|| crossbeam_channel::bounded(1).1),
                queues,
                snapshot: Arc::clone(&snapshot),
                burst: config.workers.burst,
                idle_sleep: Duration::from_micros(u64::from(config.workers.idle_sleep_us)),
                clock,
                updates,
                pool: &pool,
                redirect: &redirect,
                kernel,
            };
            let (stop, reports) = (&*stop, &reports);
            let launched = s.launch(lcore, move || {
                let report = worker::run(setup, stop);
                if let Ok(mut r) = reports.lock() {
                    r.push(report);
                }
                0
            });
            if let Err(e) = launched {
                tracing::error!("{e}");
                stop.store(true, Ordering::SeqCst);
                return;
            }
        }
        tracing::info!(
            workers = config.workers.lcores.len(),
            generation = publisher.current().generation,
            "rvsd running"
        );
        let mut core = ControlCore {
            state,
            stats: StatsTable::new(),
            publisher,
            base,
            part,
            config_path: args.config.clone(),
            server,
            ports: &ports,
            conn_capacity: config
                .max_conns
                .saturating_mul(u32::try_from(nworkers_usize).unwrap_or(u32::MAX)),
            generation: 1,
            health,
            exports: &exports,
            dumps: dump_tx,
        };
        core.run(&stop, &hup);
        tracing::info!("stopping");
    });
    for (lcore, status) in statuses {
        if status != 0 {
            tracing::error!(lcore, status, "worker ended abnormally");
        }
    }
    for r in reports.into_inner().unwrap_or_default() {
        tracing::info!(
            worker = r.id,
            rx = r.shell.rx,
            tx = r.shell.tx,
            drops = r.dataplane.drops.total(),
            "worker totals"
        );
    }
    for p in &ports {
        let st = p.stats();
        tracing::info!(
            port = p.id(),
            ipackets = st.ipackets,
            opackets = st.opackets,
            imissed = st.imissed,
            "port totals"
        );
    }
    drop(twins);
    drop(ports);
    drop(redirect);
    drop(pool);
    drop(eal);
    tracing::info!("rvsd stopped");
    Ok(())
}
