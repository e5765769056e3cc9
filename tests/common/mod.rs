//! Helpers for tests that run rvsd in network namespaces they create.
//!
//! Every namespace and process made here is removed by `Drop`, so a failing
//! assertion (a panic) still cleans up. Names carry the test's name and the
//! process id, so tests in parallel never collide. Every wait is bounded.

#![allow(dead_code)]

pub mod e2e;
pub mod topo;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs a command and returns its output; panics with the command line and
/// its stderr when it cannot be started.
pub fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

/// Runs a command that must succeed.
pub fn must(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails the test unless it runs as root (namespaces need it).
pub fn require_root() {
    let uid = must(&["id", "-u"]);
    assert_eq!(
        uid.trim(),
        "0",
        "network-namespace tests must run as root (sudo)"
    );
}

/// A set of namespaces owned by one test. Dropping it deletes them (and with
/// them every veth inside).
pub struct Netns {
    names: Vec<String>,
}

impl Netns {
    /// An empty set.
    pub fn new() -> Self {
        Netns { names: Vec::new() }
    }

    /// Creates namespace `name` with `lo` up.
    pub fn add(&mut self, name: &str) -> String {
        let _ = run(&["ip", "netns", "del", name]);
        must(&["ip", "netns", "add", name]);
        self.names.push(name.to_owned());
        must(&["ip", "-n", name, "link", "set", "lo", "up"]);
        name.to_owned()
    }

    /// A veth pair `a` (in `ns_a`) <-> `b` (in `ns_b`), both up, with
    /// checksum offload off (a veth peer may otherwise hand out packets with
    /// unfinished checksums).
    pub fn veth(&self, a: &str, ns_a: &str, b: &str, ns_b: &str) {
        must(&[
            "ip", "link", "add", a, "netns", ns_a, "type", "veth", "peer", "name", b, "netns", ns_b,
        ]);
        for (dev, ns) in [(a, ns_a), (b, ns_b)] {
            must(&["ip", "-n", ns, "link", "set", dev, "up"]);
            let _ = run(&[
                "ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", "rx", "off",
            ]);
        }
    }

    /// Runs `args` inside `ns`.
    pub fn exec(&self, ns: &str, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Waits (at most `limit`) until `ns` holds a neighbour entry for `ip`
    /// with `mac`; returns the last `ip neigh show` output and whether it
    /// matched.
    pub fn wait_neigh(&self, ns: &str, ip: &str, mac: &str, limit: Duration) -> (bool, String) {
        let deadline = Instant::now() + limit;
        loop {
            let shown = must(&["ip", "-n", ns, "neigh", "show", ip]);
            if shown.contains(mac) {
                return (true, shown);
            }
            if Instant::now() >= deadline {
                return (false, shown);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The MAC address of `dev` in `ns`.
    pub fn mac(&self, ns: &str, dev: &str) -> String {
        let out = must(&["ip", "-n", ns, "-o", "link", "show", dev]);
        let after = out.split("link/ether ").nth(1).expect("an Ethernet device");
        after
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for n in self.names.drain(..).rev() {
            let _ = run(&["ip", "netns", "del", &n]);
        }
    }
}

/// An rvsd process. Dropping it kills it if it still runs.
pub struct Rvsd {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
    pub config_path: PathBuf,
}

/// Path of the rvsd binary built for these tests.
pub fn rvsd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rvsd")
}

impl Rvsd {
    /// Writes `config` to a temporary file and starts rvsd on it inside `ns`
    /// (or in the current namespace when `ns` is None).
    pub fn start(ns: Option<&str>, tag: &str, config: &str) -> Rvsd {
        let config_path =
            std::env::temp_dir().join(format!("rvs-test-{tag}-{}.ron", std::process::id()));
        std::fs::write(&config_path, config).expect("write config");
        let cfg = config_path.to_string_lossy().into_owned();
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, rvsd_bin(), "--config", &cfg]);
                c
            }
            None => {
                let mut c = Command::new(rvsd_bin());
                c.args(["--config", &cfg]);
                c
            }
        };
        let mut child = cmd
            .env("RVS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rvsd");
        let (tx, lines) = mpsc::channel();
        for stream in [
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Rvsd {
            child: Some(child),
            lines,
            log: Vec::new(),
            config_path,
        }
    }

    /// Waits (at most `limit`) for a log line containing `needle`. Returns
    /// false if rvsd exits or time runs out first.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        if self.log.iter().any(|l| l.contains(needle)) {
            return true;
        }
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(line) => {
                    let hit = line.contains(needle);
                    self.log.push(line);
                    if hit {
                        return true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
        false
    }

    /// The process id (rvsd's own: `ip netns exec` execs it in place).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Everything rvsd printed so far.
    pub fn log(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        self.log.join("\n")
    }

    /// Sends SIGTERM and waits (at most `limit`) for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        // `ip netns exec` execs rvsd in place, so the child pid is rvsd's.
        let _ = run(&["kill", "-TERM", &child.id().to_string()]);
        self.wait_exit(limit)
    }

    /// Waits (at most `limit`) for rvsd to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                self.child = None;
                // Let the reader threads drain what is left.
                std::thread::sleep(Duration::from_millis(50));
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Rvsd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.config_path);
    }
}

/// EAL arguments for a test instance: no hugepages, no PCI, a private file
/// prefix, and quiet EAL logs.
pub fn eal_args(tag: &str) -> String {
    format!(
        r#"["--no-huge", "-m", "128", "--no-pci", "--no-shconf", "--file-prefix", "rvs-{tag}-{pid}", "--log-level", "lib.eal:warning"]"#,
        pid = std::process::id()
    )
}

/// A short name unique to this process, for interfaces (at most 15 bytes).
pub fn ifname(role: &str) -> String {
    let name = format!("rv{}{}", std::process::id() % 100_000, role);
    name.chars().take(15).collect()
}
