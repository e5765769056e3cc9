//! Import of keepalived.conf's LVS part: `virtual_server` blocks with their
//! `real_server`s and checkers become rvs config services
//! ([`ServiceConfig`], written out as RON that [`crate::config::Config`]
//! reads back), so an operator moving from keepalived + IPVS to rvs starts
//! from the same pool and the same health checks.
//!
//! What rvs has no word for is reported by name and line, never dropped
//! silently: VRRP (`vrrp_instance`, `vrrp_sync_group`, `vrrp_script`; rvs
//! does not fail over by itself yet), `global_defs` (mail alerts, router
//! id), `virtual_server_group`, `include`, checkers rvs lacks
//! (`SMTP_CHECK`, `DNS_CHECK`, `BFD_CHECK`, `FILE_CHECK`) and keys like
//! `bindto` or `ha_suspend`.
//!
//! The syntax is keepalived's: one keyword per line with its arguments,
//! `{ ... }` blocks, `!` and `#` comments, double-quoted strings (the
//! typographic quotes that copy-pasted configs carry are read as quotes
//! too). Timers may be fractional in keepalived; rvs counts whole seconds,
//! so they are rounded up, with a note.

use crate::config::{
    CheckConfig, CheckKindConfig, DestConfig, MethodConfig, ServiceConfig, UrlConfig,
};
use std::fmt;

/// Something of the input that the import could not carry over (or
/// changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// 1-based line.
    pub line: usize,
    /// What and why.
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A keepalived.conf that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ImportError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The services.
    pub services: Vec<ServiceConfig>,
    /// What was skipped or changed, in file order.
    pub notes: Vec<Note>,
}

impl Import {
    /// The `services: [...],` block of an rvs config.
    pub fn to_ron(&self) -> Result<String, String> {
        let pretty = ron::ser::PrettyConfig::new()
            .struct_names(false)
            .extensions(ron::extensions::Extensions::IMPLICIT_SOME);
        let text = ron::ser::to_string_pretty(&self.services, pretty)
            .map_err(|e| format!("cannot write RON: {e}"))?;
        // The serializer announces implicit_some in a header; rvs's config
        // reader has it on anyway, and the block goes inside a config.
        let body: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("#![enable("))
            .collect();
        Ok(format!("services: {},\n", body.join("\n")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<(usize, Tok)>, ImportError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let mut chars = line.chars().peekable();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
            } else if c == '!' || c == '#' {
                break;
            } else if c == '{' {
                chars.next();
                out.push((n, Tok::Open));
            } else if c == '}' {
                chars.next();
                out.push((n, Tok::Close));
            } else if is_quote(c) {
                chars.next();
                let mut w = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if is_quote(c) {
                        closed = true;
                        break;
                    }
                    w.push(c);
                }
                if !closed {
                    return Err(ImportError {
                        line: n,
                        message: "unterminated quoted string".into(),
                    });
                }
                out.push((n, Tok::Word(w)));
            } else {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '{' || c == '}' || is_quote(c) {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push((n, Tok::Word(w)));
            }
        }
    }
    Ok(out)
}

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201c}' | '\u{201d}')
}

#[derive(Debug, Clone)]
struct Node {
    key: String,
    args: Vec<String>,
    line: usize,
    block: Option<Vec<Node>>,
}

fn parse_nodes(
    toks: &[(usize, Tok)],
    pos: &mut usize,
    nested: Option<(usize, &str)>,
) -> Result<Vec<Node>, ImportError> {
    let mut nodes = Vec::new();
    while let Some((line, tok)) = toks.get(*pos) {
        let line = *line;
        match tok {
            Tok::Close => {
                *pos += 1;
                if nested.is_some() {
                    return Ok(nodes);
                }
                return Err(ImportError {
                    line,
                    message: "`}` without a block to close".into(),
                });
            }
            Tok::Open => {
                return Err(ImportError {
                    line,
                    message: "`{` without a keyword before it".into(),
                })
            }
            Tok::Word(key) => {
                *pos += 1;
                let mut args = Vec::new();
                while let Some((l, Tok::Word(w))) = toks.get(*pos) {
                    if *l != line {
                        break;
                    }
                    args.push(w.clone());
                    *pos += 1;
                }
                let block = if let Some((_, Tok::Open)) = toks.get(*pos) {
                    *pos += 1;
                    Some(parse_nodes(toks, pos, Some((line, key)))?)
                } else {
                    None
                };
                nodes.push(Node {
                    key: key.clone(),
                    args,
                    line,
                    block,
                });
            }
        }
    }
    match nested {
        Some((line, key)) => Err(ImportError {
            line,
            message: format!("the `{key}` block is not closed"),
        }),
        None => Ok(nodes),
    }
}

/// Reads keepalived.conf text.
pub fn import(text: &str) -> Result<Import, ImportError> {
    let toks = tokenize(text)?;
    let mut pos = 0;
    let nodes = parse_nodes(&toks, &mut pos, None)?;
    let mut cx = Cx { notes: Vec::new() };
    let mut services = Vec::new();
    for n in &nodes {
        match n.key.as_str() {
            "virtual_server" => {
                if let Some(s) = cx.virtual_server(n)? {
                    services.push(s);
                }
            }
            k if k.starts_with("vrrp_") => cx.note(
                n.line,
                format!("unsupported key `{k}`: rvs does not do VRRP (skipped)"),
            ),
            "global_defs" => cx.note(
                n.line,
                "skipped `global_defs`: mail alerts and daemon settings have no rvs equivalent",
            ),
            "virtual_server_group" => cx.note(
                n.line,
                "unsupported key `virtual_server_group`: list each service on its own",
            ),
            "include" => cx.note(
                n.line,
                "unsupported key `include`: import each included file by itself",
            ),
            k => cx.unsupported(n.line, k, "(skipped)"),
        }
    }
    Ok(Import {
        services,
        notes: cx.notes,
    })
}

/// Checker settings inherited from the virtual and real server levels
/// (keepalived 2 lets both set them).
#[derive(Debug, Clone, Default)]
struct Defaults {
    connect_timeout: Option<u32>,
    retry: Option<u32>,
    delay_before_retry: Option<u32>,
    warmup: Option<u32>,
    delay_loop: Option<u32>,
    virtualhost: Option<String>,
}

struct Cx {
    notes: Vec<Note>,
}

impl Cx {
    fn note(&mut self, line: usize, message: impl Into<String>) {
        self.notes.push(Note {
            line,
            message: message.into(),
        });
    }

    fn unsupported(&mut self, line: usize, key: &str, why: &str) {
        self.note(line, format!("unsupported key `{key}` {why}"));
    }

    fn arg<'a>(&self, n: &'a Node, i: usize) -> Result<&'a str, ImportError> {
        n.args
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| ImportError {
                line: n.line,
                message: format!("`{}` needs a value", n.key),
            })
    }

    fn num<T: std::str::FromStr>(&self, n: &Node) -> Result<T, ImportError> {
        let v = self.arg(n, 0)?;
        v.parse().map_err(|_| ImportError {
            line: n.line,
            message: format!("`{}`: `{v}` is not a number in range", n.key),
        })
    }

    /// A timer in seconds, rounded up to whole seconds.
    fn secs(&mut self, n: &Node) -> Result<u32, ImportError> {
        let v = self.arg(n, 0)?;
        let f: f64 = v.parse().map_err(|_| ImportError {
            line: n.line,
            message: format!("`{}`: `{v}` is not a number of seconds", n.key),
        })?;
        if !(0.0..=f64::from(u32::MAX)).contains(&f) {
            return Err(ImportError {
                line: n.line,
                message: format!("`{}`: {v} seconds is out of range", n.key),
            });
        }
        let whole = f.ceil();
        if whole != f {
            self.note(
                n.line,
                format!(
                    "`{} {v}` rounded up to {whole} s: rvs counts whole seconds",
                    n.key
                ),
            );
        }
        // In range (checked above) and integral (ceil).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(whole as u32)
    }

    fn flag(&mut self, n: &Node) -> bool {
        // keepalived: a bare keyword switches on; `false`/`no`/`off` off.
        !matches!(
            n.args.first().map(|a| a.to_ascii_lowercase()).as_deref(),
            Some("false" | "no" | "off" | "0")
        )
    }

    fn method(&self, n: &Node) -> Result<MethodConfig, ImportError> {
        match self.arg(n, 0)?.to_ascii_uppercase().as_str() {
            "NAT" => Ok(MethodConfig::Nat),
            "DR" => Ok(MethodConfig::Dr),
            "TUN" => Ok(MethodConfig::Tun),
            other => Err(ImportError {
                line: n.line,
                message: format!("`{}`: `{other}` is not NAT, DR or TUN", n.key),
            }),
        }
    }

    fn command(&self, n: &Node) -> Result<String, ImportError> {
        if n.args.is_empty() {
            return Err(ImportError {
                line: n.line,
                message: format!("`{}` needs a command", n.key),
            });
        }
        // A quoted command came in as one word; a bare one as several.
        Ok(n.args.join(" "))
    }

    fn defaults(&mut self, n: &Node, d: &mut Defaults) -> Result<bool, ImportError> {
        match n.key.as_str() {
            "connect_timeout" => d.connect_timeout = Some(self.secs(n)?),
            "retry" | "nb_get_retry" => d.retry = Some(self.num(n)?),
            "delay_before_retry" => d.delay_before_retry = Some(self.secs(n)?),
            "warmup" => d.warmup = Some(self.secs(n)?),
            "delay_loop" => d.delay_loop = Some(self.secs(n)?),
            "virtualhost" => d.virtualhost = Some(self.arg(n, 0)?.to_owned()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn virtual_server(&mut self, n: &Node) -> Result<Option<ServiceConfig>, ImportError> {
        let empty = Vec::new();
        let body = n.block.as_ref().unwrap_or(&empty);
        let (addr, mark) = match n.args.first().map(String::as_str) {
            Some("fwmark") => {
                let m: u32 = self.arg(n, 1)?.parse().map_err(|_| ImportError {
                    line: n.line,
                    message: "`virtual_server fwmark` needs a mark number".into(),
                })?;
                self.note(
                    n.line,
                    format!("virtual_server fwmark {m}: add the `rules` that give packets mark {m} (what iptables mangle rules do for IPVS)"),
                );
                (None, Some(m))
            }
            Some("group") => {
                self.note(
                    n.line,
                    "unsupported key `virtual_server group`: virtual_server_group is not supported (skipped)",
                );
                return Ok(None);
            }
            Some(ip) => {
                let port = self.arg(n, 1)?;
                let sa = format!("{ip}:{port}");
                if sa.parse::<std::net::SocketAddr>().is_err() {
                    return Err(ImportError {
                        line: n.line,
                        message: format!("virtual_server `{ip} {port}` is not an address and port"),
                    });
                }
                (Some(sa), None)
            }
            None => {
                return Err(ImportError {
                    line: n.line,
                    message: "virtual_server needs IP PORT or fwmark N".into(),
                })
            }
        };
        let mut s = ServiceConfig {
            tcp: None,
            udp: None,
            mark,
            rules: Vec::new(),
            scheduler: crate::admin::DEFAULT_SCHEDULER.to_owned(),
            sched_flags: None,
            persistent: None,
            netmask: None,
            dests: Vec::new(),
            delay_loop: None,
            quorum: None,
            hysteresis: 0,
            alpha: false,
            omega: false,
            inhibit_on_failure: false,
            sorry_server: None,
            sorry_method: None,
            quorum_up: None,
            quorum_down: None,
        };
        let mut udp = false;
        let mut method = None;
        let mut defaults = Defaults::default();
        let mut real = Vec::new();
        for k in body {
            if self.defaults(k, &mut defaults)? {
                continue;
            }
            match k.key.as_str() {
                "lb_algo" | "lvs_sched" => s.scheduler = self.arg(k, 0)?.to_owned(),
                "lb_kind" | "lvs_method" => method = Some(self.method(k)?),
                "persistence_timeout" => s.persistent = Some(self.num(k)?),
                "persistence_granularity" => s.netmask = Some(self.arg(k, 0)?.to_owned()),
                "protocol" => match self.arg(k, 0)?.to_ascii_uppercase().as_str() {
                    "TCP" => udp = false,
                    "UDP" => udp = true,
                    other => {
                        self.note(
                            k.line,
                            format!("unsupported protocol `{other}`: rvs serves TCP and UDP (service skipped)"),
                        );
                        return Ok(None);
                    }
                },
                "quorum" => s.quorum = Some(self.num(k)?),
                "hysteresis" => s.hysteresis = self.num(k)?,
                "alpha" => s.alpha = self.flag(k),
                "omega" => s.omega = self.flag(k),
                "inhibit_on_failure" => s.inhibit_on_failure = self.flag(k),
                "sorry_server" => {
                    s.sorry_server = Some(format!("{}:{}", self.arg(k, 0)?, self.arg(k, 1)?));
                }
                "sorry_server_lvs_method" => s.sorry_method = Some(self.method(k)?),
                "quorum_up" => s.quorum_up = Some(self.command(k)?),
                "quorum_down" => s.quorum_down = Some(self.command(k)?),
                "real_server" => real.push(k),
                "nat_mask" => self.note(
                    k.line,
                    "unsupported key `nat_mask`: IPVS never used it (ignored)",
                ),
                other => self.unsupported(k.line, other, "in virtual_server (ignored)"),
            }
        }
        if let Some(a) = addr {
            if udp {
                s.udp = Some(a);
            } else {
                s.tcp = Some(a);
            }
        }
        let method = match method {
            Some(m) => m,
            None => {
                self.note(
                    n.line,
                    "no lb_kind: keepalived's default NAT is written out",
                );
                MethodConfig::Nat
            }
        };
        s.delay_loop = defaults.delay_loop;
        for r in real {
            s.dests.push(self.real_server(r, method, &defaults)?);
        }
        Ok(Some(s))
    }

    fn real_server(
        &mut self,
        n: &Node,
        method: MethodConfig,
        vs: &Defaults,
    ) -> Result<DestConfig, ImportError> {
        let ip = self.arg(n, 0)?;
        let rip = match n.args.get(1) {
            Some(port) => format!("{ip}:{port}"),
            None => ip.to_owned(),
        };
        let mut d = DestConfig {
            rip,
            weight: 1,
            method,
            u_threshold: 0,
            l_threshold: 0,
            check: None,
            inhibit_on_failure: None,
            notify_up: None,
            notify_down: None,
        };
        let mut defaults = vs.clone();
        defaults.delay_loop = None;
        let empty = Vec::new();
        let mut checkers = Vec::new();
        for k in n.block.as_ref().unwrap_or(&empty) {
            if self.defaults(k, &mut defaults)? {
                continue;
            }
            match k.key.as_str() {
                "weight" => d.weight = self.num(k)?,
                "inhibit_on_failure" => d.inhibit_on_failure = Some(self.flag(k)),
                "notify_up" => d.notify_up = Some(self.command(k)?),
                "notify_down" => d.notify_down = Some(self.command(k)?),
                "uthreshold" => d.u_threshold = self.num(k)?,
                "lthreshold" => d.l_threshold = self.num(k)?,
                "lvs_method" | "lb_kind" => d.method = self.method(k)?,
                "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "UDP_CHECK" | "MISC_CHECK"
                | "PING_CHECK" => checkers.push(k),
                c @ ("SMTP_CHECK" | "DNS_CHECK" | "BFD_CHECK" | "FILE_CHECK") => self.unsupported(
                    k.line,
                    c,
                    "(not a checker rvs has; the real server is left unchecked by it)",
                ),
                other => self.unsupported(k.line, other, "in real_server (ignored)"),
            }
        }
        for extra in checkers.iter().skip(1) {
            self.note(
                extra.line,
                format!(
                    "second checker `{}` on one real server: rvs runs one check per dest (ignored)",
                    extra.key
                ),
            );
        }
        if let Some(c) = checkers.first() {
            d.check = Some(self.checker(c, &defaults)?);
        }
        Ok(d)
    }

    fn checker(&mut self, n: &Node, inherited: &Defaults) -> Result<CheckConfig, ImportError> {
        let kind = match n.key.as_str() {
            "TCP_CHECK" => CheckKindConfig::Tcp,
            "HTTP_GET" => CheckKindConfig::Http,
            "SSL_GET" => CheckKindConfig::Https,
            "UDP_CHECK" => CheckKindConfig::Udp,
            "MISC_CHECK" => CheckKindConfig::Misc,
            _ => CheckKindConfig::Ping,
        };
        let mut d = inherited.clone();
        let mut c = CheckConfig {
            kind,
            connect_ip: None,
            connect_port: None,
            connect_timeout: None,
            delay_loop: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            urls: Vec::new(),
            virtualhost: None,
            payload: None,
            require_reply: None,
            misc_path: None,
            misc_timeout: None,
            misc_dynamic: false,
        };
        let empty = Vec::new();
        for k in n.block.as_ref().unwrap_or(&empty) {
            if self.defaults(k, &mut d)? {
                continue;
            }
            match k.key.as_str() {
                "connect_ip" => c.connect_ip = Some(self.arg(k, 0)?.to_owned()),
                "connect_port" => c.connect_port = Some(self.num(k)?),
                "url" => {
                    if let Some(u) = self.url(k)? {
                        c.urls.push(u);
                    }
                }
                "misc_path" => c.misc_path = Some(self.command(k)?),
                "misc_timeout" => c.misc_timeout = Some(self.secs(k)?),
                "misc_dynamic" => c.misc_dynamic = self.flag(k),
                "payload" => c.payload = Some(k.args.concat()),
                "require_reply" => c.require_reply = Some(k.args.concat()),
                other => self.unsupported(k.line, other, &format!("in {} (ignored)", n.key)),
            }
        }
        let http = matches!(kind, CheckKindConfig::Http | CheckKindConfig::Https);
        let on_network = !matches!(kind, CheckKindConfig::Misc);
        c.connect_timeout = d.connect_timeout.filter(|_| on_network);
        c.retry = d.retry;
        c.delay_before_retry = d.delay_before_retry;
        c.warmup = d.warmup;
        c.delay_loop = d.delay_loop;
        c.virtualhost = d.virtualhost.filter(|_| http);
        if kind == CheckKindConfig::Misc && c.misc_path.is_none() {
            return Err(ImportError {
                line: n.line,
                message: "MISC_CHECK without misc_path".into(),
            });
        }
        if http && c.urls.is_empty() {
            return Err(ImportError {
                line: n.line,
                message: format!("{} without a url block", n.key),
            });
        }
        Ok(c)
    }

    fn url(&mut self, n: &Node) -> Result<Option<UrlConfig>, ImportError> {
        let mut path = None;
        let mut status_code = None;
        let mut digest = None;
        let empty = Vec::new();
        for k in n.block.as_ref().unwrap_or(&empty) {
            match k.key.as_str() {
                "path" => path = Some(self.arg(k, 0)?.to_owned()),
                "digest" => digest = Some(self.arg(k, 0)?.to_owned()),
                "status_code" => match self.arg(k, 0)?.parse::<u16>() {
                    Ok(v) => status_code = Some(v),
                    Err(_) => self.note(
                        k.line,
                        format!(
                            "unsupported value `status_code {}`: rvs takes one status code (200 used)",
                            k.args.join(" ")
                        ),
                    ),
                },
                other => self.unsupported(k.line, other, "in url (ignored)"),
            }
        }
        match path {
            Some(path) => Ok(Some(UrlConfig {
                path,
                status_code,
                digest,
            })),
            None => {
                self.note(n.line, "url block without path (skipped)");
                Ok(None)
            }
        }
    }
}
