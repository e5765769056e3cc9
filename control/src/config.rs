//! The appliance configuration, read from a RON file (`rvsd --config FILE`).
//!
//! Unknown keys are errors, and every error names the file and, for syntax
//! and schema errors, the line and column. [`Config::load`] parses and then
//! validates, so a `Config` in hand is always usable.

use dataplane::addr::{Ipv4Cidr, MacAddr};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Default admin socket path.
pub const DEFAULT_ADMIN_SOCKET: &str = "/run/rvs/rvsd.sock";

/// The whole configuration of one `rvsd`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Extra EAL arguments (`--no-huge`, `-m 256`, `--file-prefix x`, ...).
    /// rvsd adds the lcore list itself from `workers`.
    #[serde(default)]
    pub eal: Vec<String>,
    /// The DPDK ports the appliance drives.
    pub interfaces: Vec<InterfaceConfig>,
    /// Static routes (connected routes come from interface addresses).
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Lcores: the control core and the workers.
    #[serde(default)]
    pub workers: WorkersConfig,
    /// Packet buffer pool.
    #[serde(default)]
    pub mempool: MempoolConfig,
    /// Path of the admin Unix socket.
    #[serde(default = "default_admin_socket")]
    pub admin_socket: PathBuf,
    /// Group whose members may use the admin socket (mode 0660, owned by
    /// that group); without it the socket is 0600, for root and rvsd's user.
    #[serde(default)]
    pub admin_group: Option<String>,
    /// Virtual services with their dests, applied at start and on SIGHUP
    /// exactly as the equivalent `rvsadm -A`/`-a` commands would be.
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    /// FullNAT local addresses (LIPs), `a.b.c.d`.
    #[serde(default)]
    pub laddrs: Vec<String>,
    /// Conn timeouts, as `ipvsadm --set tcp tcpfin udp`.
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    /// IPVS's `expire_nodest_conn` sysctl: drop a removed dest's conns at
    /// their next packet instead of letting them run on.
    #[serde(default)]
    pub expire_nodest_conn: bool,
    /// Conn table capacity of each worker.
    #[serde(default = "default_max_conns")]
    pub max_conns: u32,
    /// Most dests (including removed ones whose conns still live) at any
    /// time: the size of the shared conn counters.
    #[serde(default = "default_max_dests")]
    pub max_dests: u32,
}

fn default_max_conns() -> u32 {
    65_536
}

fn default_max_dests() -> u32 {
    4096
}

/// The largest `max_dests`: the counters take 8 bytes per worker and slot.
pub const MAX_DEST_SLOTS: u32 = 1 << 20;

/// One virtual service: exactly one of `tcp`, `udp` (`VIP:port`) or `mark`.
///
/// It serializes too (`rvsadm --import-keepalived` writes services as RON),
/// leaving out what is at its default.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// `-t VIP:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    /// `-u VIP:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<String>,
    /// `-f MARK`; packets get the mark from `rules`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<u32>,
    /// The classification rules of a mark service (what iptables mangle
    /// rules do for IPVS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<MarkRuleConfig>,
    /// `-s`, default `wlc`.
    #[serde(default = "default_scheduler")]
    pub scheduler: String,
    /// `-b`: ipvsadm's comma-separated flag list (`sh-port,sh-fallback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sched_flags: Option<String>,
    /// `-p`: persistence timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent: Option<u32>,
    /// `-M`: persistence netmask, `a.b.c.d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netmask: Option<String>,
    /// The real servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dests: Vec<DestConfig>,
    /// Health checks (keepalived's `virtual_server` keys from here on):
    /// seconds between checks of each dest (keepalived's default 60); a
    /// dest's `check` may set its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_loop: Option<u32>,
    /// Sum of the weights of the up dests below which the service has lost
    /// quorum (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u32>,
    /// Quorum is regained at `quorum + hysteresis` and lost below
    /// `quorum - hysteresis`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hysteresis: u32,
    /// Dests start down and enter the pool after their first good check.
    #[serde(default, skip_serializing_if = "is_false")]
    pub alpha: bool,
    /// When the service goes away, run the down notifies of its up dests
    /// and its `quorum_down`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub omega: bool,
    /// A failed dest stays in the table with weight 0 instead of being
    /// removed (every dest; a dest may override it).
    #[serde(default, skip_serializing_if = "is_false")]
    pub inhibit_on_failure: bool,
    /// `RIP:port` put in the table, as the only dest, while the service
    /// has lost quorum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_server: Option<String>,
    /// Forwarding method of the sorry server (keepalived's
    /// `sorry_server_lvs_method`); default that of the first dest, else
    /// `dr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_method: Option<MethodConfig>,
    /// Command run when the service gains quorum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_up: Option<String>,
    /// Command run when the service loses quorum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_down: Option<String>,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn is_default_method(m: &MethodConfig) -> bool {
    *m == MethodConfig::default()
}

fn is_default_weight(w: &u32) -> bool {
    *w == default_weight()
}

fn default_scheduler() -> String {
    crate::admin::DEFAULT_SCHEDULER.to_owned()
}

/// A mark rule: packets of `protocol` to `vip` (an address or a prefix)
/// whose destination port is in `ports` (all when empty) get the mark.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRuleConfig {
    /// `a.b.c.d` or `a.b.c.d/len`.
    pub vip: String,
    /// `tcp` or `udp`.
    pub protocol: ProtocolConfig,
    /// Ports and ranges: `"443"`, `"8000-8099"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
}

/// A transport protocol in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolConfig {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// A real server.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DestConfig {
    /// `RIP` or `RIP:port` (the port defaults to the service's).
    pub rip: String,
    /// `-w`, default 1.
    #[serde(default = "default_weight", skip_serializing_if = "is_default_weight")]
    pub weight: u32,
    /// Forwarding method, default `dr` (ipvsadm's `-g`).
    #[serde(default, skip_serializing_if = "is_default_method")]
    pub method: MethodConfig,
    /// `-x`, 0 = none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub u_threshold: u32,
    /// `-y`, 0 = none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l_threshold: u32,
    /// The health check (keepalived's `TCP_CHECK`, `HTTP_GET`, ...); a dest
    /// without one is always up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckConfig>,
    /// Overrides the service's `inhibit_on_failure` for this dest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inhibit_on_failure: Option<bool>,
    /// Command run when the dest comes up (keepalived's `notify_up`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_up: Option<String>,
    /// Command run when the dest goes down (keepalived's `notify_down`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_down: Option<String>,
}

/// Which checker a dest's `check` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKindConfig {
    /// keepalived's `TCP_CHECK`: a TCP connect.
    Tcp,
    /// `HTTP_GET`: GET each url, check status (and body MD5).
    Http,
    /// `SSL_GET`: the same over TLS.
    Https,
    /// `UDP_CHECK`: a datagram, and no ICMP port unreachable (or a reply).
    Udp,
    /// `MISC_CHECK`: a script's exit status.
    Misc,
    /// `PING_CHECK`: ICMP echo.
    Ping,
}

/// One `url` block of an HTTP or HTTPS check.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UrlConfig {
    /// The path to GET.
    pub path: String,
    /// The status expected (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// MD5 of the body in hex, as keepalived's `genhash` prints it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A dest's health check: keepalived's checker keys. Keys that do not
/// belong to `kind` are refused when the config is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// The checker.
    pub kind: CheckKindConfig,
    /// Address to check instead of the RIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ip: Option<String>,
    /// Port to check instead of the dest's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_port: Option<u16>,
    /// Seconds a connect (and the whole exchange) may take (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<u32>,
    /// Seconds between checks; default the service's `delay_loop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_loop: Option<u32>,
    /// Failed checks retried before an up dest is declared down (keepalived
    /// `retry`/`nb_get_retry`, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u32>,
    /// Seconds between those retries (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_before_retry: Option<u32>,
    /// The first check runs after a random delay of up to this many
    /// seconds (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<u32>,
    /// `http`/`https`: the urls; every one must pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<UrlConfig>,
    /// `http`/`https`: the Host header (and the TLS server name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtualhost: Option<String>,
    /// `udp`: the datagram to send, in hex (default one zero byte).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// `udp`: a reply is required; when not empty, it must start with
    /// these bytes (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_reply: Option<String>,
    /// `misc`: the command (path and arguments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misc_path: Option<String>,
    /// `misc`: seconds the command may run (default the delay loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misc_timeout: Option<u32>,
    /// `misc`: exit status 2 to 255 sets the weight to status - 2.
    #[serde(default, skip_serializing_if = "is_false")]
    pub misc_dynamic: bool,
}

fn default_weight() -> u32 {
    1
}

/// A forwarding method in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodConfig {
    /// `-m`.
    Nat,
    /// `-g`.
    #[default]
    Dr,
    /// `-i`.
    Tun,
    /// `--fullnat`.
    FullNat,
}

/// Conn timeouts in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// Established TCP (kernel default 900).
    #[serde(default = "default_tcp_timeout")]
    pub tcp: u32,
    /// TCP after a FIN (kernel default 120).
    #[serde(default = "default_tcpfin_timeout")]
    pub tcpfin: u32,
    /// UDP (kernel default 300).
    #[serde(default = "default_udp_timeout")]
    pub udp: u32,
}

fn default_tcp_timeout() -> u32 {
    900
}

fn default_tcpfin_timeout() -> u32 {
    120
}

fn default_udp_timeout() -> u32 {
    300
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        TimeoutsConfig {
            tcp: default_tcp_timeout(),
            tcpfin: default_tcpfin_timeout(),
            udp: default_udp_timeout(),
        }
    }
}

fn default_admin_socket() -> PathBuf {
    PathBuf::from(DEFAULT_ADMIN_SOCKET)
}

/// One DPDK port.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    /// Operator's name for the port (`lb0`).
    pub name: String,
    /// DPDK device: a virtual device with its arguments
    /// (`net_af_packet0,iface=veth0`, `net_ring0`, `net_tap0,iface=rvs0`) or
    /// the name of a probed device (a PCI address like `0000:03:00.0`).
    pub device: String,
    /// The director's addresses on this link, `a.b.c.d/len`.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// IP MTU of the link.
    #[serde(default = "default_mtu")]
    pub mtu: u16,
    /// Receive descriptors per queue.
    #[serde(default = "default_descriptors")]
    pub rx_descriptors: u16,
    /// Transmit descriptors per queue.
    #[serde(default = "default_descriptors")]
    pub tx_descriptors: u16,
    /// Overrides the MAC address the device reports.
    #[serde(default)]
    pub mac: Option<String>,
    /// Name of this port's kernel twin (the exception path): a `net_tap`
    /// interface with the port's MAC through which traffic rvs does not
    /// handle itself reaches the kernel (SSH to the DIP, routing protocols,
    /// health checks) and the kernel's own packets leave by this port.
    #[serde(default)]
    pub kernel: Option<String>,
}

fn default_mtu() -> u16 {
    1500
}

fn default_descriptors() -> u16 {
    1024
}

/// A static route.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Destination, `a.b.c.d/len` (`0.0.0.0/0` for the default route).
    pub prefix: String,
    /// Next-hop router; absent for a destination on the link itself.
    #[serde(default)]
    pub via: Option<String>,
    /// Egress interface, by `name`.
    pub interface: String,
    /// Preferred source address (a DIP of that interface).
    #[serde(default)]
    pub src: Option<String>,
    /// Lower wins among routes to the same prefix.
    #[serde(default)]
    pub metric: u32,
}

/// A route with its addresses parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedRoute {
    /// Destination prefix.
    pub prefix: Ipv4Cidr,
    /// Next hop.
    pub via: Option<std::net::Ipv4Addr>,
    /// Preferred source.
    pub src: Option<std::net::Ipv4Addr>,
    /// Metric.
    pub metric: u32,
}

impl RouteConfig {
    /// Parses the addresses.
    pub fn parse(&self) -> Result<ParsedRoute, String> {
        let prefix = self
            .prefix
            .parse::<Ipv4Cidr>()
            .map_err(|e| format!("route {}: {e}", self.prefix))?;
        let addr = |what: &str, v: &Option<String>| {
            v.as_deref()
                .map(|a| {
                    a.parse::<std::net::Ipv4Addr>().map_err(|_| {
                        format!("route {}: {what} `{a}` is not an IPv4 address", self.prefix)
                    })
                })
                .transpose()
        };
        Ok(ParsedRoute {
            prefix,
            via: addr("via", &self.via)?,
            src: addr("src", &self.src)?,
            metric: self.metric,
        })
    }
}

/// Which lcores run what.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersConfig {
    /// The control core's lcore (EAL main lcore).
    #[serde(default)]
    pub main_lcore: u32,
    /// One pinned poll-mode worker per lcore listed here.
    #[serde(default = "default_worker_lcores")]
    pub lcores: Vec<u32>,
    /// The CPU each worker lcore is pinned to, in `lcores` order; by default
    /// lcore N runs on CPU N. Lets tests run more workers than CPUs.
    #[serde(default)]
    pub cpus: Option<Vec<u32>>,
    /// The CPU of the control core; by default `main_lcore`.
    #[serde(default)]
    pub main_cpu: Option<u32>,
    /// Packets per rx burst.
    #[serde(default = "default_burst")]
    pub burst: u16,
    /// Microseconds a worker sleeps after an empty poll round; 0 (the
    /// default) is pure poll mode. Only for shared test machines.
    #[serde(default)]
    pub idle_sleep_us: u32,
}

fn default_worker_lcores() -> Vec<u32> {
    vec![1]
}

fn default_burst() -> u16 {
    32
}

impl Default for WorkersConfig {
    fn default() -> Self {
        WorkersConfig {
            main_lcore: 0,
            lcores: default_worker_lcores(),
            cpus: None,
            main_cpu: None,
            burst: default_burst(),
            idle_sleep_us: 0,
        }
    }
}

/// The mbuf pool.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MempoolConfig {
    /// Number of mbufs (2^n - 1 is the most efficient size).
    #[serde(default = "default_mbufs")]
    pub mbufs: u32,
    /// Per-lcore cache size.
    #[serde(default = "default_cache")]
    pub cache: u32,
}

fn default_mbufs() -> u32 {
    8191
}

fn default_cache() -> u32 {
    256
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            mbufs: default_mbufs(),
            cache: default_cache(),
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// RON syntax error or a key/value that does not fit the schema.
    #[error("{path}:{line}:{col}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// The file parses but says something impossible.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// EAL options that rvsd derives from `workers`; setting them in `eal` too
/// would leave two sources of truth.
const EAL_LCORE_OPTIONS: &[&str] = &["-l", "-c", "--lcores", "--main-lcore", "--master-lcore"];

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates `text`; `path` only labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        // implicit_some: operators write `cpus: [1, 1]`, not `cpus: Some([1, 1])`.
        let options = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let config: Config = options.from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            line: e.position.line,
            col: e.position.col,
            message: e.code.to_string(),
        })?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.interfaces.is_empty() {
            return Err("no interfaces: add at least one to `interfaces`".into());
        }
        let mut names = HashSet::new();
        let mut devices = HashSet::new();
        for iface in &self.interfaces {
            if iface.name.is_empty() {
                return Err("an interface has an empty `name`".into());
            }
            if !names.insert(iface.name.as_str()) {
                return Err(format!("interface name `{}` is used twice", iface.name));
            }
            let dev = iface.device_name();
            if dev.is_empty() {
                return Err(format!("interface `{}`: `device` is empty", iface.name));
            }
            if let Some(k) = &iface.kernel {
                if k.is_empty() || k.len() > 15 || k.contains(['/', ' ', ',']) {
                    return Err(format!(
                        "interface `{}`: kernel twin name `{k}` must be 1 to 15 characters without '/', ' ' or ','",
                        iface.name
                    ));
                }
            }
            if !devices.insert(dev) {
                return Err(format!(
                    "interface `{}`: device `{dev}` is used twice",
                    iface.name
                ));
            }
            iface
                .cidrs()
                .map_err(|e| format!("interface `{}`: {e}", iface.name))?;
            iface
                .mac_override()
                .map_err(|e| format!("interface `{}`: {e}", iface.name))?;
            if !(68..=9600).contains(&iface.mtu) {
                return Err(format!(
                    "interface `{}`: mtu {} is out of range (68 to 9600)",
                    iface.name, iface.mtu
                ));
            }
            if iface.rx_descriptors == 0 || iface.tx_descriptors == 0 {
                return Err(format!(
                    "interface `{}`: descriptor counts must be positive",
                    iface.name
                ));
            }
        }
        for r in &self.routes {
            r.parse()?;
            if !names.contains(r.interface.as_str()) {
                return Err(format!(
                    "route {}: no interface named `{}`",
                    r.prefix, r.interface
                ));
            }
        }
        let w = &self.workers;
        if w.lcores.is_empty() {
            return Err("workers.lcores is empty: give at least one worker lcore".into());
        }
        let mut seen = HashSet::new();
        for l in &w.lcores {
            if *l == w.main_lcore {
                return Err(format!(
                    "workers.lcores lists lcore {l}, which is the control core (workers.main_lcore)"
                ));
            }
            if !seen.insert(*l) {
                return Err(format!("workers.lcores lists lcore {l} twice"));
            }
        }
        if let Some(cpus) = &w.cpus {
            if cpus.len() != w.lcores.len() {
                return Err(format!(
                    "workers.cpus has {} entries, workers.lcores has {}: give one CPU per worker",
                    cpus.len(),
                    w.lcores.len()
                ));
            }
        }
        if w.burst == 0 || w.burst > 512 {
            return Err(format!(
                "workers.burst {} is out of range (1 to 512)",
                w.burst
            ));
        }
        if let Some(opt) = self.eal.iter().find(|a| {
            EAL_LCORE_OPTIONS
                .iter()
                .any(|o| a.as_str() == *o || a.starts_with(&format!("{o}=")))
        }) {
            return Err(format!(
                "eal: `{opt}` is set from `workers` by rvsd; remove it from `eal`"
            ));
        }
        if self.max_conns == 0 {
            return Err("max_conns must be positive".into());
        }
        if self.max_dests == 0 || self.max_dests > MAX_DEST_SLOTS {
            return Err(format!(
                "max_dests {} is out of range (1 to {MAX_DEST_SLOTS})",
                self.max_dests
            ));
        }
        if let Some(g) = &self.admin_group {
            if g.is_empty() {
                return Err("admin_group is empty: name a group or leave it out".into());
            }
        }
        // The services go through the same checks as rvsadm's requests.
        let part = crate::reload::ServicePart::from_config(self)?;
        let mut state = crate::state::State::new(crate::state::Limits {
            workers: self.workers.lcores.len(),
            max_dests: self.max_dests,
        });
        crate::reload::load(&mut state, &part)?;
        // Health checks: scripts must exist and be executable now, not at
        // the first check.
        crate::health::plan::Plan::from_config(self)?;
        if self.mempool.mbufs < 64 {
            return Err(format!(
                "mempool.mbufs {} is too small (at least 64)",
                self.mempool.mbufs
            ));
        }
        Ok(())
    }

    /// The lcore map for EAL's `--lcores`: `lcore@cpu` for the control core
    /// first, then the workers.
    pub fn eal_lcore_list(&self) -> String {
        let w = &self.workers;
        let main = (w.main_lcore, w.main_cpu.unwrap_or(w.main_lcore));
        let cpus = w.cpus.clone().unwrap_or_else(|| w.lcores.clone());
        std::iter::once(main)
            .chain(w.lcores.iter().copied().zip(cpus))
            .map(|(l, c)| format!("{l}@{c}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl InterfaceConfig {
    /// The device name: `device` up to its first comma.
    pub fn device_name(&self) -> &str {
        self.device.split(',').next().unwrap_or("").trim()
    }

    /// The device arguments: what follows the first comma of `device`.
    pub fn device_args(&self) -> &str {
        self.device.split_once(',').map_or("", |(_, a)| a.trim())
    }

    /// True if `device` names a virtual device that rvsd creates itself.
    pub fn is_vdev(&self) -> bool {
        self.device_name().starts_with("net_")
    }

    /// The parsed addresses.
    pub fn cidrs(&self) -> Result<Vec<Ipv4Cidr>, String> {
        self.addresses
            .iter()
            .map(|a| {
                a.parse::<Ipv4Cidr>()
                    .map_err(|e| format!("address `{a}`: {e}"))
            })
            .collect()
    }

    /// The MAC override, if any.
    pub fn mac_override(&self) -> Result<Option<MacAddr>, String> {
        self.mac
            .as_deref()
            .map(|m| m.parse::<MacAddr>().map_err(|e| format!("mac `{m}`: {e}")))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
(
    eal: ["--no-huge", "-m", "256", "--no-pci", "--file-prefix", "rvs-test"],
    interfaces: [
        (name: "lb0", device: "net_af_packet0,iface=veth0", addresses: ["198.18.0.1/24"]),
    ],
    workers: (main_lcore: 0, lcores: [1]),
    admin_socket: "/tmp/rvs.sock",
)
"#;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s, Path::new("test.ron"))
    }

    #[test]
    fn parses_a_good_config() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.interfaces[0].device_name(), "net_af_packet0");
        assert_eq!(c.interfaces[0].device_args(), "iface=veth0");
        assert!(c.interfaces[0].is_vdev());
        assert_eq!(c.interfaces[0].mtu, 1500);
        assert_eq!(c.eal_lcore_list(), "0@0,1@1");
        let two = parse(&GOOD.replace("lcores: [1]", "lcores: [1, 2], cpus: [1, 1]")).unwrap();
        assert_eq!(two.eal_lcore_list(), "0@0,1@1,2@1");
        let main_cpu =
            parse(&GOOD.replace("main_lcore: 0,", "main_lcore: 0, main_cpu: 1,")).unwrap();
        assert_eq!(main_cpu.workers.main_cpu, Some(1));
        assert_eq!(c.admin_socket, PathBuf::from("/tmp/rvs.sock"));
        assert_eq!(c.mempool.mbufs, 8191);
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let bad = GOOD.replace("admin_socket:", "admin_sokcet:");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(e.starts_with("test.ron:8:"), "{e}");
        assert!(e.contains("admin_sokcet"), "{e}");
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let bad = GOOD.replace("\"lb0\", device", "\"lb0\" device");
        let e = parse(&bad).unwrap_err();
        assert!(matches!(e, ConfigError::Parse { line: 5, .. }), "{e}");
    }

    #[test]
    fn refuses_bad_values() {
        for (from, to, want) in [
            ("198.18.0.1/24", "198.18.0.1/40", "prefix length"),
            ("lcores: [1]", "lcores: [0]", "control core"),
            ("lcores: [1]", "lcores: []", "at least one worker"),
            ("lcores: [1]", "lcores: [1, 2], cpus: [1]", "one CPU per worker"),
            ("\"--no-pci\"", "\"-l\", \"0-1\"", "set from `workers`"),
            ("net_af_packet0,iface=veth0", "", "`device` is empty"),
            ("workers:", "routes: [(prefix: \"0.0.0.0/0\", via: \"198.18.0.254\", interface: \"lb9\")], workers:", "no interface named `lb9`"),
            ("workers:", "routes: [(prefix: \"0.0.0.0/0\", via: \"198.18.0\", interface: \"lb0\")], workers:", "not an IPv4 address"),
        ] {
            let e = parse(&GOOD.replace(from, to)).unwrap_err();
            assert!(matches!(e, ConfigError::Invalid { .. }), "{e}");
            assert!(e.to_string().contains(want), "{e} should say {want}");
        }
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let e = Config::load(Path::new("/nonexistent/rvs.ron")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read config /nonexistent/rvs.ron"),
            "{e}"
        );
    }
}
