//! A running end-to-end lab for the scenario tests (`tests/e2e_*.rs`): the
//! topology of `topo.rs` with its real servers, rvsd in the director
//! namespace, and `rvsadm` pointed at rvsd's admin socket.
//!
//! The lab owns everything it started: dropping it kills rvsd, stops the
//! servers and deletes the namespaces, so a failed assertion cleans up too.
//! Every wait is bounded and every failure message carries the logs.

use super::topo::{Method, Topology, DIP_CLIENT, DIP_SERVER, LIPS, VIP};
use super::{eal_args, require_root, Rvsd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// More virtual addresses on rvsd's client-side port, next to `VIP`, for
/// tests that need several services apart from each other.
pub const VIP2: &str = "198.18.0.101";
/// A third virtual address.
pub const VIP3: &str = "198.18.0.102";

/// Name of the kernel twin of rvsd's server-side port (the exception path
/// health checks leave by); fixed, since each lab has its own namespace.
pub const SERVER_TWIN: &str = "lbk0";

/// The rvsadm binary of this build (built on demand: it belongs to the
/// rvs-cli package, whose binaries cargo does not build for rvs's tests).
pub fn rvsadm_bin() -> PathBuf {
    let dir = Path::new(super::rvsd_bin())
        .parent()
        .expect("target dir")
        .to_owned();
    let bin = dir.join("rvsadm");
    if !bin.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "rvs-cli", "--bin", "rvsadm"])
            .env("CARGO_TARGET_DIR", dir.parent().expect("target root"))
            .status()
            .expect("cargo build rvsadm");
        assert!(st.success(), "cannot build rvsadm");
    }
    bin
}

/// `rvsadm --socket S ...`.
pub struct Admin {
    /// rvsd's admin socket.
    pub socket: String,
}

impl Admin {
    /// Runs rvsadm with `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(rvsadm_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run rvsadm")
    }

    /// Runs rvsadm, which must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rvsadm {args:?} failed ({:?}): {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs each line of `script` (ipvsadm arguments, split at spaces).
    pub fn script(&self, script: &str) {
        for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let args: Vec<&str> = line.split_whitespace().collect();
            self.ok(&args);
        }
    }

    /// Polls `rvsadm args` (at most `limit`) until `done` holds for its
    /// output; returns the last output and whether it held.
    pub fn wait_until(
        &self,
        args: &[&str],
        limit: Duration,
        done: impl Fn(&str) -> bool,
    ) -> (bool, String) {
        let deadline = Instant::now() + limit;
        loop {
            let out = self.ok(args);
            if done(&out) {
                return (true, out);
            }
            if Instant::now() >= deadline {
                return (false, out);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// What a lab's rvsd config holds besides the two ports.
pub struct LabConfig<'a> {
    /// The method every real server is set up for.
    pub method: Method,
    /// Virtual addresses on the client-side port besides `VIP`.
    pub extra_vips: &'a [&'a str],
    /// Whether the server-side port gets its kernel twin (`SERVER_TWIN`).
    pub server_twin: bool,
    /// More top-level keys, verbatim (`services: [...]`, `timeouts: ...`).
    pub extra: &'a str,
}

/// The topology, rvsd and rvsadm. Fields drop in order: rvsd first, then
/// the servers and namespaces.
pub struct Lab {
    /// rvsd, in `t.lb`.
    pub rvsd: Rvsd,
    /// rvsadm on rvsd's socket.
    pub admin: Admin,
    /// The namespaces and real servers.
    pub t: Topology,
}

impl Lab {
    /// Builds the topology (tag: short, `[a-z0-9]`), sets every RS up for
    /// `cfg.method`, starts the servers and rvsd, and waits until rvsd runs.
    pub fn start(tag: &str, cfg: &LabConfig) -> Lab {
        require_root();
        let mut t = Topology::build(tag);
        t.set_method_all(cfg.method);
        t.start_servers();
        let socket = format!("/tmp/rvs-e2e-{tag}-{}.sock", std::process::id());
        let vips: String = std::iter::once(VIP)
            .chain(cfg.extra_vips.iter().copied())
            .map(|v| format!(", \"{v}/32\""))
            .collect();
        let lips: String = LIPS.iter().map(|l| format!(", \"{l}/32\"")).collect();
        let twin = if cfg.server_twin {
            format!(", kernel: \"{SERVER_TWIN}\"")
        } else {
            String::new()
        };
        let config = format!(
            r#"(
    eal: {eal},
    interfaces: [
        (name: "client", device: "{client_dev}", addresses: ["{DIP_CLIENT}/24"{vips}]),
        (name: "server", device: "{server_dev}", addresses: ["{DIP_SERVER}/24"{lips}]{twin}),
    ],
    laddrs: [{laddrs}],
    workers: (lcores: [1], idle_sleep_us: 50),
    admin_socket: "{socket}",
    {extra}
)"#,
            eal = eal_args(tag),
            client_dev = t.lb_client_device(),
            server_dev = t.lb_server_device(),
            laddrs = LIPS
                .iter()
                .map(|l| format!("\"{l}\""))
                .collect::<Vec<_>>()
                .join(", "),
            extra = cfg.extra,
        );
        let mut rvsd = Rvsd::start(Some(&t.lb), tag, &config);
        assert!(
            rvsd.wait_for("rvsd running", Duration::from_secs(30)),
            "rvsd did not start:\n{config}\n{}",
            rvsd.log()
        );
        Lab {
            rvsd,
            admin: Admin { socket },
            t,
        }
    }

    /// The helpers' and rvsd's logs, for assertion messages.
    pub fn diag(&mut self) -> String {
        format!(
            "{}\n--- rvsd\n{}\n--- rvsadm -Ln\n{}",
            self.t.logs(),
            self.rvsd.log(),
            String::from_utf8_lossy(&self.admin.run(&["-Ln"]).stdout)
        )
    }

    /// Stops rvsd with SIGTERM; it must exit cleanly.
    pub fn stop(mut self) {
        let status = self.rvsd.terminate(Duration::from_secs(15));
        let log = self.rvsd.log();
        let status = status.unwrap_or_else(|| panic!("rvsd did not exit on SIGTERM:\n{log}"));
        assert!(status.success(), "rvsd exited with {status}:\n{log}");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // rvsd removes its socket when it exits cleanly, not when killed.
        let _ = std::fs::remove_file(&self.admin.socket);
    }
}

/// The dest lines (`  -> RIP:port ...`) of service `name` (as `-Ln` prints
/// it, e.g. `TCP  198.18.0.100:80`) in a listing, split into words.
pub fn dest_rows(listing: &str, name: &str) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut inside = false;
    for line in listing.lines() {
        if line.starts_with("  ->") {
            if inside {
                rows.push(line.split_whitespace().skip(1).map(str::to_owned).collect());
            }
        } else {
            // A service line: `TCP  VIP:port ...`, `FWM  7 ...`.
            let words: Vec<&str> = line.split_whitespace().collect();
            inside = words.len() >= 2 && format!("{}  {}", words[0], words[1]) == name;
        }
    }
    // The title's `  -> RemoteAddress:Port` line is no dest.
    rows.retain(|r| r.first().is_some_and(|a| a != "RemoteAddress:Port"));
    rows
}

/// The numbers of service `name`'s own line (after its name) in a listing.
pub fn service_row(listing: &str, name: &str) -> Vec<u64> {
    listing
        .lines()
        .find(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() >= 2 && format!("{}  {}", w[0], w[1]) == name
        })
        .map(|l| {
            l.split_whitespace()
                .skip(2)
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}
