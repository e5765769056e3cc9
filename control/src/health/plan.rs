//! The health checks the config asks for, parsed and validated.
//!
//! [`Plan::from_config`] runs when the config is loaded (and on every
//! reload), so everything that can be known before the first check is
//! checked here: addresses, ports, hex payloads, MD5 digests, and that
//! every script (`misc_path`, `notify_up`, `notify_down`, `quorum_up`,
//! `quorum_down`) exists and is executable. Defaults are keepalived's:
//! `delay_loop` 60 s, `connect_timeout` 5 s, `retry` 1, `delay_before_retry`
//! 1 s, `warmup` 0, `quorum` 1, `status_code` 200, `misc_timeout` the delay
//! loop.

use crate::admin::{DestSpec, FwdMethod, ServiceKey};
use crate::config::{CheckConfig, CheckKindConfig, Config, MethodConfig, ServiceConfig};
use crate::reload::ServicePart;
use crate::state::{dest_label, key_label};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// keepalived's default `delay_loop`.
pub const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);
/// keepalived's default `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// keepalived's default `retry` (`nb_get_retry`).
pub const DEFAULT_RETRY: u32 = 1;
/// keepalived's default `delay_before_retry`.
pub const DEFAULT_DELAY_BEFORE_RETRY: Duration = Duration::from_secs(1);
/// keepalived's default `status_code`.
pub const DEFAULT_STATUS_CODE: u16 = 200;

/// Every service that has something to check.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The services, in config order.
    pub services: Vec<ServicePlan>,
}

/// One service's health settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    /// The service.
    pub key: ServiceKey,
    /// Up weight needed to keep quorum.
    pub quorum: u32,
    /// Hysteresis around `quorum`.
    pub hysteresis: u32,
    /// Dests start down.
    pub alpha: bool,
    /// Down notifies when the service goes away.
    pub omega: bool,
    /// The sorry server (its port already forced for DR/TUN).
    pub sorry: Option<DestSpec>,
    /// Run on quorum gained.
    pub quorum_up: Option<Command>,
    /// Run on quorum lost.
    pub quorum_down: Option<Command>,
    /// Every dest of the service in config order (unchecked ones too: they
    /// count towards quorum).
    pub dests: Vec<DestPlan>,
}

/// One dest's health settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestPlan {
    /// The dest as the table keeps it (DR/TUN port forced to the virtual
    /// port), with its configured weight.
    pub spec: DestSpec,
    /// Its check; `None`: always up.
    pub check: Option<CheckSpec>,
    /// Weight 0 instead of removal when down.
    pub inhibit: bool,
    /// Run when it comes up.
    pub notify_up: Option<Command>,
    /// Run when it goes down.
    pub notify_down: Option<Command>,
}

/// A check: what to probe, where, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    /// The probe.
    pub probe: Probe,
    /// Where (connect_ip/connect_port or the dest).
    pub target: SocketAddr,
    /// When.
    pub timing: Timing,
}

/// keepalived's checker timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The bound on one probe (connect and exchange).
    pub connect_timeout: Duration,
    /// Between checks.
    pub delay_loop: Duration,
    /// Failed checks retried before an up dest goes down.
    pub retry: u32,
    /// Between retries.
    pub delay_before_retry: Duration,
    /// The first check waits a random time up to this.
    pub warmup: Duration,
}

impl Timing {
    /// The latest a dest that stops answering right after a good check is
    /// declared down: the next check after `delay_loop`, then `retry`
    /// retries `delay_before_retry` apart, each taking up to
    /// `connect_timeout`.
    pub fn down_bound(&self) -> Duration {
        let attempt = self.connect_timeout + self.delay_before_retry;
        self.delay_loop + self.connect_timeout + attempt * self.retry
    }
}

/// What a check does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `TCP_CHECK`.
    Tcp,
    /// `HTTP_GET` (`tls: false`) and `SSL_GET` (`tls: true`).
    Http {
        /// Over TLS.
        tls: bool,
        /// Every url must pass.
        urls: Vec<Url>,
        /// Host header and TLS server name.
        virtualhost: Option<String>,
    },
    /// `UDP_CHECK`.
    Udp {
        /// The datagram.
        payload: Vec<u8>,
        /// `Some`: a reply is needed, starting with these bytes.
        require_reply: Option<Vec<u8>>,
    },
    /// `MISC_CHECK`.
    Misc {
        /// The script.
        command: Command,
        /// How long it may run.
        timeout: Duration,
        /// `misc_dynamic`.
        dynamic: bool,
    },
    /// `PING_CHECK`.
    Ping,
}

impl Probe {
    /// The kind as listings show it.
    pub fn name(&self) -> &'static str {
        match self {
            Probe::Tcp => "tcp",
            Probe::Http { tls: false, .. } => "http",
            Probe::Http { tls: true, .. } => "https",
            Probe::Udp { .. } => "udp",
            Probe::Misc { .. } => "misc",
            Probe::Ping => "ping",
        }
    }
}

/// One url of an HTTP check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Path to GET.
    pub path: String,
    /// Expected status.
    pub status_code: u16,
    /// Expected MD5 of the body, lower-case hex.
    pub digest: Option<String>,
}

/// A command line as keepalived takes it: a program and its arguments,
/// split at blanks, double quotes grouping words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The program, resolved to a path.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// The line as written, for logs.
    pub line: String,
}

impl Command {
    /// Splits `line` and checks that the program exists and is executable
    /// (a bare name is looked up in `PATH`).
    pub fn parse(line: &str) -> Result<Command, String> {
        let words = split_words(line)?;
        let mut it = words.into_iter();
        let first = it.next().ok_or_else(|| "the command is empty".to_owned())?;
        let program = resolve(&first)?;
        Ok(Command {
            program,
            args: it.collect(),
            line: line.to_owned(),
        })
    }
}

fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err(format!("unbalanced double quote in `{line}`"));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn resolve(program: &str) -> Result<PathBuf, String> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        check_executable(&p)?;
        return Ok(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| check_executable(p).is_ok())
        .ok_or_else(|| format!("`{program}` is not an executable found in PATH"))
}

fn check_executable(p: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(p)
        .map_err(|e| format!("script `{}` cannot be used: {e}", p.display()))?;
    if !meta.is_file() {
        return Err(format!("script `{}` is not a regular file", p.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!(
            "script `{}` is not executable (chmod +x it)",
            p.display()
        ));
    }
    Ok(())
}

fn secs(v: u32) -> Duration {
    Duration::from_secs(u64::from(v))
}

/// Parses hex (`"0a1B"`, blanks allowed between bytes).
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err(format!("`{s}` is not hex: odd number of digits"));
    }
    digits
        .chunks(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|t| u8::from_str_radix(t, 16).ok())
                .ok_or_else(|| format!("`{s}` is not hex"))
        })
        .collect()
}

fn method(m: MethodConfig) -> FwdMethod {
    match m {
        MethodConfig::Nat => FwdMethod::Masq,
        MethodConfig::Dr => FwdMethod::Route,
        MethodConfig::Tun => FwdMethod::Tunnel,
        MethodConfig::FullNat => FwdMethod::FullNat,
    }
}

/// The port the table keeps a dest under (DR and TUN take the virtual
/// port of an address service, as `State` does).
fn table_port(key: &ServiceKey, fwd: FwdMethod, port: u16) -> u16 {
    match key {
        ServiceKey::Addr { port: vport, .. } if fwd.keeps_port() => *vport,
        _ => port,
    }
}

impl Plan {
    /// The plan of `config`'s services: those with a check, a sorry server
    /// or a quorum script.
    pub fn from_config(config: &Config) -> Result<Plan, String> {
        let part = ServicePart::from_config(config)?;
        let mut services = Vec::new();
        for (i, (sc, ps)) in config.services.iter().zip(&part.services).enumerate() {
            let label = key_label(&ps.spec.key);
            let p = service_plan(sc, ps.spec.key, &ps.dests)
                .map_err(|e| format!("services[{i}]: service {label}: {e}"))?;
            if let Some(p) = p {
                services.push(p);
            }
        }
        Ok(Plan { services })
    }

    /// The plan of the service `key`.
    pub fn service(&self, key: &ServiceKey) -> Option<&ServicePlan> {
        self.services.iter().find(|s| s.key == *key)
    }
}

fn command(what: &str, line: &Option<String>) -> Result<Option<Command>, String> {
    line.as_deref()
        .map(|l| Command::parse(l).map_err(|e| format!("{what}: {e}")))
        .transpose()
}

fn service_plan(
    sc: &ServiceConfig,
    key: ServiceKey,
    dests: &[DestSpec],
) -> Result<Option<ServicePlan>, String> {
    let has_check = sc.dests.iter().any(|d| d.check.is_some());
    let any_health = has_check
        || sc.sorry_server.is_some()
        || sc.quorum_up.is_some()
        || sc.quorum_down.is_some()
        || sc
            .dests
            .iter()
            .any(|d| d.notify_up.is_some() || d.notify_down.is_some());
    let delay_loop = sc.delay_loop.map_or(DEFAULT_DELAY_LOOP, secs);
    if sc.delay_loop == Some(0) {
        return Err("delay_loop must be at least 1 second".into());
    }
    if !any_health {
        if sc.alpha || sc.omega || sc.inhibit_on_failure || sc.quorum.is_some() {
            return Err(
                "alpha, omega, quorum and inhibit_on_failure need a `check` on a dest or a sorry_server"
                    .into(),
            );
        }
        return Ok(None);
    }
    let sorry = match &sc.sorry_server {
        None => None,
        Some(s) => {
            let sa: SocketAddr = s
                .parse()
                .map_err(|_| format!("sorry_server `{s}` is not RIP:port"))?;
            let fwd = method(
                sc.sorry_method
                    .or_else(|| sc.dests.first().map(|d| d.method))
                    .unwrap_or_default(),
            );
            let port = table_port(&key, fwd, sa.port());
            if dests
                .iter()
                .any(|d| d.rip == sa.ip() && table_port(&key, d.fwd, d.port) == port)
            {
                return Err(format!("sorry_server {s} is also one of the dests"));
            }
            Some(DestSpec {
                rip: sa.ip(),
                port,
                fwd,
                weight: 1,
                u_threshold: 0,
                l_threshold: 0,
            })
        }
    };
    let mut out = Vec::with_capacity(dests.len());
    for (dc, d) in sc.dests.iter().zip(dests) {
        let at = |e: String| format!("dest {}: {e}", dest_label(d.rip, d.port));
        let check = dc
            .check
            .as_ref()
            .map(|c| check_spec(c, d, delay_loop))
            .transpose()
            .map_err(|e| at(format!("check: {e}")))?;
        let mut spec = *d;
        spec.port = table_port(&key, d.fwd, d.port);
        out.push(DestPlan {
            spec,
            check,
            inhibit: dc.inhibit_on_failure.unwrap_or(sc.inhibit_on_failure),
            notify_up: command("notify_up", &dc.notify_up).map_err(at)?,
            notify_down: command("notify_down", &dc.notify_down).map_err(at)?,
        });
    }
    Ok(Some(ServicePlan {
        key,
        quorum: sc.quorum.unwrap_or(1),
        hysteresis: sc.hysteresis,
        alpha: sc.alpha,
        omega: sc.omega,
        sorry,
        quorum_up: command("quorum_up", &sc.quorum_up)?,
        quorum_down: command("quorum_down", &sc.quorum_down)?,
        dests: out,
    }))
}

fn check_spec(c: &CheckConfig, d: &DestSpec, delay_loop: Duration) -> Result<CheckSpec, String> {
    let ip: IpAddr = match &c.connect_ip {
        Some(a) => a
            .parse()
            .map_err(|_| format!("connect_ip `{a}` is not an IP address"))?,
        None => d.rip,
    };
    let port = c.connect_port.unwrap_or(d.port);
    let timing = Timing {
        connect_timeout: c.connect_timeout.map_or(DEFAULT_CONNECT_TIMEOUT, secs),
        delay_loop: c.delay_loop.map_or(delay_loop, secs),
        retry: c.retry.unwrap_or(DEFAULT_RETRY),
        delay_before_retry: c
            .delay_before_retry
            .map_or(DEFAULT_DELAY_BEFORE_RETRY, secs),
        warmup: c.warmup.map_or(Duration::ZERO, secs),
    };
    if timing.connect_timeout.is_zero() || timing.delay_loop.is_zero() {
        return Err("connect_timeout and delay_loop must be at least 1 second".into());
    }
    let kind = c.kind;
    // Keys of one checker set on another are mistakes worth a clear line.
    let foreign: &[(&str, bool)] = &[
        ("urls", !c.urls.is_empty()),
        ("virtualhost", c.virtualhost.is_some()),
        ("payload", c.payload.is_some()),
        ("require_reply", c.require_reply.is_some()),
        ("misc_path", c.misc_path.is_some()),
        ("misc_timeout", c.misc_timeout.is_some()),
        ("misc_dynamic", c.misc_dynamic),
        ("connect_ip", c.connect_ip.is_some()),
        ("connect_port", c.connect_port.is_some()),
    ];
    let allowed: &[&str] = match kind {
        CheckKindConfig::Tcp => &["connect_ip", "connect_port"],
        CheckKindConfig::Http | CheckKindConfig::Https => {
            &["connect_ip", "connect_port", "urls", "virtualhost"]
        }
        CheckKindConfig::Udp => &["connect_ip", "connect_port", "payload", "require_reply"],
        CheckKindConfig::Misc => &["misc_path", "misc_timeout", "misc_dynamic"],
        CheckKindConfig::Ping => &["connect_ip"],
    };
    if let Some((k, _)) = foreign.iter().find(|(k, set)| *set && !allowed.contains(k)) {
        return Err(format!("`{k}` does not apply to a {kind:?} check").to_lowercase());
    }
    let needs_port = !matches!(kind, CheckKindConfig::Misc | CheckKindConfig::Ping);
    if needs_port && port == 0 {
        return Err("no port to check: give the dest as RIP:port or set connect_port".into());
    }
    let probe = match kind {
        CheckKindConfig::Tcp => Probe::Tcp,
        CheckKindConfig::Http | CheckKindConfig::Https => {
            if c.urls.is_empty() {
                return Err("an http/https check needs at least one entry in `urls`".into());
            }
            let urls = c
                .urls
                .iter()
                .map(|u| {
                    if !u.path.starts_with('/') {
                        return Err(format!("url path `{}` must start with '/'", u.path));
                    }
                    if u.path.contains(['\r', '\n', ' ']) {
                        return Err(format!("url path `{}` has blanks", u.path));
                    }
                    let digest = match &u.digest {
                        Some(h) => {
                            let bytes = parse_hex(h)?;
                            if bytes.len() != 16 {
                                return Err(format!("digest `{h}` is not an MD5 (32 hex digits)"));
                            }
                            Some(h.to_ascii_lowercase())
                        }
                        None => None,
                    };
                    Ok(Url {
                        path: u.path.clone(),
                        status_code: u.status_code.unwrap_or(DEFAULT_STATUS_CODE),
                        digest,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Probe::Http {
                tls: kind == CheckKindConfig::Https,
                urls,
                virtualhost: c.virtualhost.clone(),
            }
        }
        CheckKindConfig::Udp => Probe::Udp {
            payload: match &c.payload {
                Some(h) => parse_hex(h)?,
                None => vec![0],
            },
            require_reply: c.require_reply.as_deref().map(parse_hex).transpose()?,
        },
        CheckKindConfig::Misc => {
            let line = c
                .misc_path
                .as_deref()
                .ok_or_else(|| "a misc check needs `misc_path`".to_owned())?;
            Probe::Misc {
                command: Command::parse(line).map_err(|e| format!("misc_path: {e}"))?,
                timeout: c.misc_timeout.map_or(timing.delay_loop, secs),
                dynamic: c.misc_dynamic,
            }
        }
        CheckKindConfig::Ping => Probe::Ping,
    };
    Ok(CheckSpec {
        probe,
        target: SocketAddr::new(ip, port),
        timing,
    })
}
