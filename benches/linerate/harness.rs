//! One line-rate run: `rvs-pktgen` (memif server on two sockets: the client
//! side and the server side) feeding a device under test (rvsd with one
//! service, or dpdk-testpmd's io forwarding: the I/O ceiling) that is memif
//! client on both, and counting what comes out. Shared by
//! `benches/linerate/main.rs` and `tests/linerate.rs`.
//!
//! CPUs: the generator runs on CPU 0, the device under test's forwarding
//! lcore on CPU 1 (rvsd's worker, testpmd's forwarding core); the control
//! lcores of both sit on CPU 0 and mostly sleep.

#![allow(dead_code)] // each includer uses a part

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const VIP: &str = "198.18.0.100";
pub const RIPS: [&str; 3] = ["198.19.0.11", "198.19.0.12", "198.19.0.13"];
/// FullNAT local addresses: each serves 64 K ports per (RIP, port), so 8 of
/// them hold 1 M conns over 3 real servers with room to spare.
pub const LIPS: [&str; 8] = [
    "198.19.0.21",
    "198.19.0.22",
    "198.19.0.23",
    "198.19.0.24",
    "198.19.0.25",
    "198.19.0.26",
    "198.19.0.27",
    "198.19.0.28",
];

/// What forwards between the generator's two ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dut {
    /// rvsd with one service over three real servers, by this method.
    Rvs(&'static str),
    /// dpdk-testpmd, io forwarding: the harness's ceiling.
    Testpmd,
}

impl Dut {
    pub fn name(self) -> &'static str {
        match self {
            Dut::Rvs(m) => m,
            Dut::Testpmd => "io",
        }
    }
}

/// One run's parameters.
#[derive(Debug, Clone)]
pub struct Spec {
    pub dut: Dut,
    pub proto: &'static str,
    pub frame: usize,
    pub flows: u32,
    pub secs: f64,
    /// Steady phase: exactly this many packets instead of `secs`.
    pub count: Option<u64>,
    /// Sending rate cap, packets per second.
    pub rate: Option<f64>,
}

/// The binaries a run needs.
#[derive(Debug, Clone)]
pub struct Bins {
    pub pktgen: PathBuf,
    pub rvsd: PathBuf,
    pub testpmd: PathBuf,
}

/// A child process killed (SIGTERM, then SIGKILL) when dropped.
struct Proc {
    child: Child,
    label: String,
    log: PathBuf,
}

impl Proc {
    fn spawn(label: &str, cmd: &mut Command, log: PathBuf) -> Result<Proc, String> {
        let f = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let f2 = f.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(f2)
            .spawn()
            .map_err(|e| format!("starting {label}: {e}"))?;
        Ok(Proc {
            child,
            label: label.into(),
            log,
        })
    }

    fn signal(&self, sig: i32) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // std sends only SIGKILL; the kill command sends the others and
            // keeps this file free of unsafe code.
            let _ = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(pid.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Waits up to `t` for exit; None if still running.
    fn wait_for(&mut self, t: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if start.elapsed() >= t {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM (or `sig`), a grace period, then SIGKILL.
    fn stop(&mut self, sig: i32) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        self.signal(sig);
        if self.wait_for(Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(15);
    }
}

/// A scratch directory removed on drop, unless `RVS_LINERATE_KEEP=1`.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var("RVS_LINERATE_KEEP").is_ok_and(|v| v == "1") {
            eprintln!("linerate: kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// rvsd's configuration for `spec` with sockets under `dir`.
pub fn rvsd_config(spec: &Spec, method: &str, dir: &Path, prefix: &str) -> String {
    let mut server_addrs = String::from("\"198.19.0.1/24\"");
    let mut laddrs = String::new();
    if method == "fullnat" {
        for (i, l) in LIPS.iter().enumerate() {
            let _ = write!(server_addrs, ", \"{l}/32\"");
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(laddrs, "{sep}\"{l}\"");
        }
    }
    let dests: Vec<String> = RIPS
        .iter()
        .map(|r| format!("(rip: \"{r}:80\", weight: 1, method: {method})"))
        .collect();
    // Room for every flow plus the probes, with slack for the hash table.
    let max_conns = (u64::from(spec.flows) * 5 / 4 + 4096).max(65536);
    format!(
        "(\n    eal: [\"--no-huge\", \"-m\", \"1024\", \"--no-pci\", \"--file-prefix\", \"{prefix}\", \"--log-level\", \"warning\"],\n    \
         interfaces: [\n        \
         (name: \"client\", device: \"net_memif0,role=client,socket={d}/client.sock,id=0\", addresses: [\"198.18.0.1/16\", \"{VIP}/32\"]),\n        \
         (name: \"server\", device: \"net_memif1,role=client,socket={d}/server.sock,id=0\", addresses: [{server_addrs}]),\n    ],\n    \
         workers: (main_lcore: 0, lcores: [1], cpus: [1], main_cpu: 0),\n    \
         mempool: (mbufs: 65535, cache: 256),\n    \
         admin_socket: \"{d}/rvsd.sock\",\n    \
         services: [({proto}: \"{VIP}:80\", scheduler: \"rr\", dests: [{dests}])],\n    \
         laddrs: [{laddrs}],\n    \
         max_conns: {max_conns},\n)\n",
        d = dir.display(),
        proto = spec.proto,
        dests = dests.join(", "),
    )
}

/// Runs `spec`; returns rvs-pktgen's JSON report.
pub fn run(spec: &Spec, bins: &Bins, tag: &str) -> Result<serde_json::Value, String> {
    let dir = std::env::temp_dir().join(format!("rvs-lr-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let scratch = Scratch(dir.clone());
    let prefix = format!("lr{}{tag}", std::process::id());

    let mut gen = Command::new(&bins.pktgen);
    gen.arg("--tx-dev")
        .arg(format!(
            "net_memif0,role=server,socket={}/client.sock,id=0",
            dir.display()
        ))
        .arg("--rx-dev")
        .arg(format!(
            "net_memif1,role=server,socket={}/server.sock,id=0",
            dir.display()
        ))
        .args(["--proto", spec.proto])
        .args(["--frame", &spec.frame.to_string()])
        .args(["--flows", &spec.flows.to_string()])
        .args(["--dst", &format!("{VIP}:80")])
        .args(["--secs", &spec.secs.to_string()])
        .args(["--link-timeout", "20"]);
    if let Some(c) = spec.count {
        gen.args(["--count", &c.to_string()]);
    }
    if let Some(r) = spec.rate {
        gen.args(["--rate", &r.to_string()]);
    }
    if spec.dut == Dut::Testpmd {
        // testpmd answers no ARP: any MAC goes through io forwarding.
        gen.args(["--dst-mac", "02:00:00:00:00:01"]);
    }
    gen.args(["--", "-l", "0", "--no-huge", "-m", "1024", "--no-pci"])
        .args([
            "--file-prefix",
            &format!("{prefix}g"),
            "--log-level",
            "warning",
        ]);
    let mut gen = Proc::spawn("rvs-pktgen", &mut gen, dir.join("pktgen.log"))?;
    // The memif sockets (abstract by default in DPDK 22.11) listen once the
    // generator's ports are started.
    let start = Instant::now();
    while !gen.log().contains("rvs-pktgen: ports started") {
        if start.elapsed() > Duration::from_secs(20) {
            return Err(format!(
                "rvs-pktgen did not start its ports:\n{}",
                gen.log()
            ));
        }
        if let Ok(Some(s)) = gen.child.try_wait() {
            return Err(format!("rvs-pktgen exited ({s}):\n{}", gen.log()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut dut = match spec.dut {
        Dut::Rvs(method) => {
            let cfg = dir.join("rvsd.ron");
            std::fs::write(&cfg, rvsd_config(spec, method, &dir, &format!("{prefix}d")))
                .map_err(|e| e.to_string())?;
            let mut c = Command::new(&bins.rvsd);
            let log = std::env::var("RVS_LINERATE_LOG").unwrap_or_else(|_| "warn".into());
            c.arg("--config").arg(&cfg).env("RVS_LOG", log);
            Proc::spawn("rvsd", &mut c, dir.join("dut.log"))?
        }
        Dut::Testpmd => {
            let mut c = Command::new(&bins.testpmd);
            c.args(["-l", "0,1", "--no-huge", "-m", "1024", "--no-pci"])
                .args([
                    "--file-prefix",
                    &format!("{prefix}d"),
                    "--log-level",
                    "warning",
                ])
                .arg("--vdev")
                .arg(format!(
                    "net_memif0,role=client,socket={}/client.sock,id=0",
                    dir.display()
                ))
                .arg("--vdev")
                .arg(format!(
                    "net_memif1,role=client,socket={}/server.sock,id=0",
                    dir.display()
                ))
                .args(["--", "--forward-mode=io", "--total-num-mbufs=32768"])
                .args(["--nb-cores=1", "--stats-period", "1"]);
            Proc::spawn("dpdk-testpmd", &mut c, dir.join("dut.log"))?
        }
    };

    // Setup of 1 M flows at the slowest plausible rate, the steady phase,
    // start-up and drains.
    let bound = Duration::from_secs_f64(spec.secs + 90.0 + f64::from(spec.flows) / 100_000.0);
    let status = gen.wait_for(bound);
    let dut_alive = matches!(dut.child.try_wait(), Ok(None));
    dut.stop(if spec.dut == Dut::Testpmd { 2 } else { 15 });
    let out = gen.log();
    let Some(status) = status else {
        return Err(format!(
            "rvs-pktgen still running after {bound:?}\n--- pktgen\n{out}\n--- {}\n{}",
            dut.label,
            dut.log()
        ));
    };
    let report = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    match report {
        Some(v) if status.success() && v["ok"] == serde_json::Value::Bool(true) => {
            if !dut_alive {
                return Err(format!(
                    "{} exited during the run\n{}",
                    dut.label,
                    dut.log()
                ));
            }
            drop(scratch);
            Ok(v)
        }
        _ => Err(format!(
            "rvs-pktgen failed ({status})\n--- pktgen\n{out}\n--- {}\n{}",
            dut.label,
            dut.log()
        )),
    }
}
