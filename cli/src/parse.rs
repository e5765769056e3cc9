//! ipvsadm 1.31's command line, parsed into typed commands.
//!
//! The rules are ipvsadm's, checked against its source (`parse_options`,
//! `process_options`, `generic_opt_check`):
//!
//! - options are scanned in order, popt style: short options cluster
//!   (`-Ln`), a short option's argument may be attached (`-t10.0.0.1:80`),
//!   long options take `--opt value` or `--opt=value`, `-p`'s argument is
//!   optional (taken only when the next word does not start with `-`);
//! - the first option must be the command, otherwise "Try `ipvsadm -h' ...";
//!   a second command later on is an "invalid option";
//! - each option is checked as it is met (so the first bad one reports), then
//!   the command/option table (`commands_v_options`), then the per-command
//!   rules (zero port needs persistence, DR/TUN dests keep the service port);
//! - error messages are ipvsadm's, word for word; `fail()` exits 2, popt's
//!   errors and the "Try" line exit 255 (ipvsadm returns -1 from main).
//!
//! `-p` without a value means 360 seconds: ipvsadm's `parse_timeout` returns
//! `IPVS_SVC_PERSISTENT_TIMEOUT`, which libipvs defines as `6*60`.
//!
//! rvs extensions (no LVS word for them): `--fullnat` (long only: `-b` is
//! ipvsadm's `--sched-flags`) selects FullNAT forwarding; `-L` accepts
//! `--interfaces`, `--routes`, `--neighbours`, `--laddrs` and `--health`.
//! ipvsadm options for features rvs does not have (the sync daemon, SCTP,
//! persistence engines, GUE/GRE tunnels) are refused with one clear line.

use crate::format::Format;
use crate::names::{inet_aton, Resolver};
use control::admin::{
    DestSpec, FwdMethod, PersistMask, Protocol, Request, SchedFlags, ServiceKey, ServiceSpec,
    Timeouts, DEFAULT_PERSISTENT_TIMEOUT, DEFAULT_SCHEDULER, MAX_TIMEOUT,
};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `-A`.
    AddService(ServiceSpec),
    /// `-E`.
    EditService(ServiceSpec),
    /// `-D`.
    DelService(ServiceKey),
    /// `-C`.
    Clear,
    /// `-a`.
    AddDest {
        /// The service.
        service: ServiceKey,
        /// The dest.
        dest: DestSpec,
    },
    /// `-e`.
    EditDest {
        /// The service.
        service: ServiceKey,
        /// The dest.
        dest: DestSpec,
    },
    /// `-d`.
    DelDest {
        /// The service.
        service: ServiceKey,
        /// Dest address.
        rip: IpAddr,
        /// Dest port.
        port: u16,
    },
    /// `-L`/`-l` (and no arguments at all).
    List(List),
    /// `-S [-n]`.
    Save {
        /// `-n`.
        numeric: bool,
    },
    /// `-R`: read commands from stdin.
    Restore,
    /// `-Z [service]`.
    Zero(Option<ServiceKey>),
    /// `--set tcp tcpfin udp`.
    SetTimeouts(Timeouts),
    /// `-h`/`--help`.
    Help,
    /// `-v`/`--version`.
    Version,
}

/// What `-L` lists, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct List {
    /// The listing.
    pub what: ListWhat,
    /// Output options.
    pub format: Format,
}

/// The listings `-L` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListWhat {
    /// Every service.
    All,
    /// One service.
    Service(ServiceKey),
    /// `-c`: conns.
    Conns,
    /// `--timeout`.
    Timeouts,
    /// `--daemon`: the sync daemons (rvs has none, so this lists nothing).
    Daemon,
    /// `--interfaces` (rvs).
    Interfaces,
    /// `--routes` (rvs).
    Routes,
    /// `--neighbours` (rvs).
    Neighbours,
    /// `--laddrs` (rvs): FullNAT local addresses.
    LocalAddrs,
    /// `--health` (rvs): dest health checks.
    Health,
}

impl Command {
    /// The request this command sends to rvsd, if it needs the daemon.
    pub fn request(&self) -> Option<Request> {
        Some(match self {
            Command::AddService(s) => Request::AddService(s.clone()),
            Command::EditService(s) => Request::EditService(s.clone()),
            Command::DelService(k) => Request::DelService(*k),
            Command::Clear => Request::Clear,
            Command::AddDest { service, dest } => Request::AddDest {
                service: *service,
                dest: *dest,
            },
            Command::EditDest { service, dest } => Request::EditDest {
                service: *service,
                dest: *dest,
            },
            Command::DelDest { service, rip, port } => Request::DelDest {
                service: *service,
                rip: *rip,
                port: *port,
            },
            Command::List(l) => match l.what {
                ListWhat::All => Request::ListServices { service: None },
                ListWhat::Service(k) => Request::ListServices { service: Some(k) },
                ListWhat::Conns => Request::ListConns,
                ListWhat::Timeouts => Request::GetTimeouts,
                ListWhat::Daemon => return None,
                ListWhat::Interfaces => Request::ListInterfaces,
                ListWhat::Routes => Request::ListRoutes,
                ListWhat::Neighbours => Request::ListNeighbours,
                ListWhat::LocalAddrs => Request::ListLocalAddrs,
                ListWhat::Health => Request::HealthStatus,
            },
            Command::Save { .. } => Request::ListServices { service: None },
            Command::Zero(k) => Request::Zero { service: *k },
            Command::SetTimeouts(t) => Request::SetTimeouts(*t),
            Command::Restore | Command::Help | Command::Version => return None,
        })
    }
}

/// Why a command line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// No command first: ipvsadm prints only the "Try ... -h" line.
    TryHelp,
    /// popt refused an option ("-t: missing argument", "--foo: unknown
    /// option").
    Popt {
        /// The argument word as typed.
        word: String,
        /// popt's reason.
        reason: &'static str,
    },
    /// ipvsadm's `fail(2, ...)`: one line with the message.
    Fail(String),
    /// An ipvsadm option for a feature rvs does not have.
    Unsupported(String),
}

impl ParseError {
    /// The exit status ipvsadm uses for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            ParseError::TryHelp | ParseError::Popt { .. } => 255,
            ParseError::Fail(_) | ParseError::Unsupported(_) => 2,
        }
    }

    /// The text printed on stderr (with its final newline), `program` being
    /// argv\[0\].
    pub fn render(&self, program: &str) -> String {
        match self {
            ParseError::TryHelp => {
                format!("Try `{program} -h' or '{program} --help' for more information.\n")
            }
            ParseError::Popt { word, reason } => format!("{word}: {reason}\n"),
            ParseError::Fail(m) => format!("{m}\n"),
            ParseError::Unsupported(m) => {
                format!("{}: {m}\n", program.rsplit('/').next().unwrap_or(program))
            }
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render("rvsadm").trim_end())
    }
}

impl std::error::Error for ParseError {}

fn fail(msg: impl Into<String>) -> ParseError {
    ParseError::Fail(msg.into())
}

/// The commands, in ipvsadm's `cmdnames` wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Add,
    Edit,
    Del,
    Flush,
    List,
    AddDest,
    DelDest,
    EditDest,
    SetTimeout,
    Restore,
    Save,
    Zero,
}

impl Cmd {
    fn name(self) -> &'static str {
        match self {
            Cmd::Add => "add-service",
            Cmd::Edit => "edit-service",
            Cmd::Del => "delete-service",
            Cmd::Flush => "flush",
            Cmd::List => "list",
            Cmd::AddDest => "add-server",
            Cmd::DelDest => "delete-server",
            Cmd::EditDest => "edit-server",
            Cmd::SetTimeout => "set",
            Cmd::Restore => "restore",
            Cmd::Save => "save",
            Cmd::Zero => "zero",
        }
    }
}

/// The options that take part in the command/option table, in ipvsadm's
/// `optnames` order (the order decides which error is reported first), then
/// rvs's listing extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Numeric,
    Connection,
    Service,
    Scheduler,
    Persistent,
    Netmask,
    Server,
    Forward,
    Weight,
    UThreshold,
    LThreshold,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Exact,
    Ops,
    SchedFlags,
    TunInfo,
    Interfaces,
    Routes,
    Neighbours,
    LocalAddrs,
    Health,
}

const ALL_OPTS: [Opt; 27] = [
    Opt::Numeric,
    Opt::Connection,
    Opt::Service,
    Opt::Scheduler,
    Opt::Persistent,
    Opt::Netmask,
    Opt::Server,
    Opt::Forward,
    Opt::Weight,
    Opt::UThreshold,
    Opt::LThreshold,
    Opt::Timeout,
    Opt::Daemon,
    Opt::Stats,
    Opt::Rate,
    Opt::Thresholds,
    Opt::PersistentConn,
    Opt::NoSort,
    Opt::Exact,
    Opt::Ops,
    Opt::SchedFlags,
    Opt::TunInfo,
    Opt::Interfaces,
    Opt::Routes,
    Opt::Neighbours,
    Opt::LocalAddrs,
    Opt::Health,
];

impl Opt {
    fn name(self) -> &'static str {
        match self {
            Opt::Numeric => "numeric",
            Opt::Connection => "connection",
            Opt::Service => "service-address",
            Opt::Scheduler => "scheduler",
            Opt::Persistent => "persistent",
            Opt::Netmask => "netmask",
            Opt::Server => "real-server",
            Opt::Forward => "forwarding-method",
            Opt::Weight => "weight",
            Opt::UThreshold => "u-threshold",
            Opt::LThreshold => "l-threshold",
            Opt::Timeout => "timeout",
            Opt::Daemon => "daemon",
            Opt::Stats => "stats",
            Opt::Rate => "rate",
            Opt::Thresholds => "thresholds",
            Opt::PersistentConn => "persistent-conn",
            Opt::NoSort => "nosort",
            Opt::Exact => "exact",
            Opt::Ops => "ops",
            Opt::SchedFlags => "sched-flags",
            Opt::TunInfo => "tun-info",
            Opt::Interfaces => "interfaces",
            Opt::Routes => "routes",
            Opt::Neighbours => "neighbours",
            Opt::LocalAddrs => "laddrs",
            Opt::Health => "health",
        }
    }

    fn bit(self) -> u64 {
        1u64 << (self as u32)
    }
}

/// ipvsadm's `commands_v_options` restricted to the options rvs has:
/// '+' compulsory, 'x' illegal, '1' exclusive, ' ' optional.
fn rule(cmd: Cmd, opt: Opt) -> char {
    use Opt::*;
    match cmd {
        Cmd::Add | Cmd::Edit => match opt {
            Service => '+',
            Scheduler | Persistent | Netmask | Ops | SchedFlags => ' ',
            _ => 'x',
        },
        Cmd::Del => match opt {
            Service => '+',
            _ => 'x',
        },
        Cmd::List => match opt {
            Numeric | Stats | Rate | Thresholds | PersistentConn | NoSort | Exact | TunInfo => ' ',
            Connection | Service | Timeout | Daemon | Interfaces | Routes | Neighbours
            | LocalAddrs | Health => '1',
            _ => 'x',
        },
        Cmd::AddDest | Cmd::EditDest => match opt {
            Service | Server => '+',
            Forward | Weight | UThreshold | LThreshold => ' ',
            _ => 'x',
        },
        Cmd::DelDest => match opt {
            Service | Server => '+',
            _ => 'x',
        },
        Cmd::Save => match opt {
            Numeric => ' ',
            _ => 'x',
        },
        Cmd::Zero => match opt {
            Service => ' ',
            _ => 'x',
        },
        Cmd::Flush | Cmd::SetTimeout | Cmd::Restore => 'x',
    }
}

fn generic_opt_check(cmd: Cmd, options: u64) -> Result<(), ParseError> {
    let mut first_exclusive: Option<Opt> = None;
    for opt in ALL_OPTS {
        let r = rule(cmd, opt);
        if options & opt.bit() == 0 {
            if r == '+' {
                return Err(fail(format!(
                    "You need to supply the '{}' option for the '{}' command",
                    opt.name(),
                    cmd.name()
                )));
            }
            continue;
        }
        if r == 'x' {
            return Err(fail(format!(
                "Illegal '{}' option with the '{}' command",
                opt.name(),
                cmd.name()
            )));
        }
        if r == '1' {
            match first_exclusive {
                None => first_exclusive = Some(opt),
                Some(last) => {
                    return Err(fail(format!(
                        "The option '{}' conflicts with the '{}' option in the '{}' command",
                        opt.name(),
                        last.name(),
                        cmd.name()
                    )))
                }
            }
        }
    }
    Ok(())
}

/// The options popt knows, by what they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Cmd(Cmd),
    Help,
    Version,
    Tcp,
    Udp,
    Fwmark,
    Scheduler,
    Persistent,
    Netmask,
    Server,
    Masq,
    Ipip,
    Gatewaying,
    FullNat,
    Weight,
    UThreshold,
    LThreshold,
    Numeric,
    Connection,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Sort,
    Exact,
    Ipv6,
    Ops,
    SchedFlags,
    TunInfo,
    Interfaces,
    Routes,
    Neighbours,
    LocalAddrs,
    Health,
    /// An ipvsadm option for a feature rvs lacks; the text says which.
    Unsupported(&'static str),
    /// An ipvsadm command for a feature rvs lacks (`--start-daemon`).
    UnsupportedCmd(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArgKind {
    None,
    Required,
    Optional,
}

struct OptDef {
    long: &'static str,
    short: Option<char>,
    arg: ArgKind,
    tag: Tag,
}

const fn def(long: &'static str, short: Option<char>, arg: ArgKind, tag: Tag) -> OptDef {
    OptDef {
        long,
        short,
        arg,
        tag,
    }
}

const DAEMON_MSG: &str = "the connection sync daemon is not supported by rvs";
const TUN_MSG: &str = "GUE and GRE tunnels are not supported by rvs (tunnels are ipip)";

/// ipvsadm 1.31's popt option table, plus rvs's extensions.
const OPTIONS: &[OptDef] = &[
    def("add-service", Some('A'), ArgKind::None, Tag::Cmd(Cmd::Add)),
    def(
        "edit-service",
        Some('E'),
        ArgKind::None,
        Tag::Cmd(Cmd::Edit),
    ),
    def(
        "delete-service",
        Some('D'),
        ArgKind::None,
        Tag::Cmd(Cmd::Del),
    ),
    def("clear", Some('C'), ArgKind::None, Tag::Cmd(Cmd::Flush)),
    def("list", Some('L'), ArgKind::None, Tag::Cmd(Cmd::List)),
    def("list", Some('l'), ArgKind::None, Tag::Cmd(Cmd::List)),
    def("zero", Some('Z'), ArgKind::None, Tag::Cmd(Cmd::Zero)),
    def(
        "add-server",
        Some('a'),
        ArgKind::None,
        Tag::Cmd(Cmd::AddDest),
    ),
    def(
        "edit-server",
        Some('e'),
        ArgKind::None,
        Tag::Cmd(Cmd::EditDest),
    ),
    def(
        "delete-server",
        Some('d'),
        ArgKind::None,
        Tag::Cmd(Cmd::DelDest),
    ),
    def("set", None, ArgKind::None, Tag::Cmd(Cmd::SetTimeout)),
    def("help", Some('h'), ArgKind::None, Tag::Help),
    def("version", Some('v'), ArgKind::None, Tag::Version),
    def("restore", Some('R'), ArgKind::None, Tag::Cmd(Cmd::Restore)),
    def("save", Some('S'), ArgKind::None, Tag::Cmd(Cmd::Save)),
    def(
        "start-daemon",
        None,
        ArgKind::Required,
        Tag::UnsupportedCmd(DAEMON_MSG),
    ),
    def(
        "stop-daemon",
        None,
        ArgKind::Required,
        Tag::UnsupportedCmd(DAEMON_MSG),
    ),
    def("tcp-service", Some('t'), ArgKind::Required, Tag::Tcp),
    def("udp-service", Some('u'), ArgKind::Required, Tag::Udp),
    def(
        "sctp-service",
        None,
        ArgKind::Required,
        Tag::Unsupported("SCTP services are not supported by rvs"),
    ),
    def("fwmark-service", Some('f'), ArgKind::Required, Tag::Fwmark),
    def("scheduler", Some('s'), ArgKind::Required, Tag::Scheduler),
    def("persistent", Some('p'), ArgKind::Optional, Tag::Persistent),
    def("netmask", Some('M'), ArgKind::Required, Tag::Netmask),
    def("real-server", Some('r'), ArgKind::Required, Tag::Server),
    def("masquerading", Some('m'), ArgKind::None, Tag::Masq),
    def("ipip", Some('i'), ArgKind::None, Tag::Ipip),
    def("gatewaying", Some('g'), ArgKind::None, Tag::Gatewaying),
    def("fullnat", None, ArgKind::None, Tag::FullNat),
    def("weight", Some('w'), ArgKind::Required, Tag::Weight),
    def("u-threshold", Some('x'), ArgKind::Required, Tag::UThreshold),
    def("l-threshold", Some('y'), ArgKind::Required, Tag::LThreshold),
    def("numeric", Some('n'), ArgKind::None, Tag::Numeric),
    def("connection", Some('c'), ArgKind::None, Tag::Connection),
    def(
        "mcast-interface",
        None,
        ArgKind::Required,
        Tag::Unsupported(DAEMON_MSG),
    ),
    def(
        "syncid",
        None,
        ArgKind::Required,
        Tag::Unsupported(DAEMON_MSG),
    ),
    def("timeout", None, ArgKind::None, Tag::Timeout),
    def("daemon", None, ArgKind::None, Tag::Daemon),
    def("stats", None, ArgKind::None, Tag::Stats),
    def("rate", None, ArgKind::None, Tag::Rate),
    def("thresholds", None, ArgKind::None, Tag::Thresholds),
    def("persistent-conn", None, ArgKind::None, Tag::PersistentConn),
    def("nosort", None, ArgKind::None, Tag::NoSort),
    def("sort", None, ArgKind::None, Tag::Sort),
    def("exact", Some('X'), ArgKind::None, Tag::Exact),
    def("ipv6", Some('6'), ArgKind::None, Tag::Ipv6),
    def("ops", Some('o'), ArgKind::None, Tag::Ops),
    def(
        "pe",
        None,
        ArgKind::Required,
        Tag::Unsupported("persistence engines (--pe) are not supported by rvs"),
    ),
    def("sched-flags", Some('b'), ArgKind::Required, Tag::SchedFlags),
    def(
        "mcast-group",
        None,
        ArgKind::Required,
        Tag::Unsupported(DAEMON_MSG),
    ),
    def(
        "mcast-port",
        None,
        ArgKind::Required,
        Tag::Unsupported(DAEMON_MSG),
    ),
    def(
        "mcast-ttl",
        None,
        ArgKind::Required,
        Tag::Unsupported(DAEMON_MSG),
    ),
    def(
        "sync-maxlen",
        None,
        ArgKind::Required,
        Tag::Unsupported(DAEMON_MSG),
    ),
    def("tun-info", None, ArgKind::None, Tag::TunInfo),
    def(
        "tun-type",
        None,
        ArgKind::Required,
        Tag::Unsupported(TUN_MSG),
    ),
    def(
        "tun-port",
        None,
        ArgKind::Required,
        Tag::Unsupported(TUN_MSG),
    ),
    def("tun-nocsum", None, ArgKind::None, Tag::Unsupported(TUN_MSG)),
    def("tun-csum", None, ArgKind::None, Tag::Unsupported(TUN_MSG)),
    def(
        "tun-remcsum",
        None,
        ArgKind::None,
        Tag::Unsupported(TUN_MSG),
    ),
    def("interfaces", None, ArgKind::None, Tag::Interfaces),
    def("routes", None, ArgKind::None, Tag::Routes),
    def("neighbours", None, ArgKind::None, Tag::Neighbours),
    def("laddrs", None, ArgKind::None, Tag::LocalAddrs),
    def("health", None, ArgKind::None, Tag::Health),
];

/// One scanned option: what it is, the word it came from, its argument.
struct Event {
    tag: Tag,
    word: String,
    arg: Option<String>,
}

/// A popt-style scanner over argv (without argv\[0\]).
struct Scanner<'a> {
    args: &'a [String],
    next: usize,
    /// Remaining characters of a short-option cluster, and its word.
    cluster: Option<(String, String)>,
    leftovers: Vec<String>,
    only_args: bool,
}

type PoptFailure = (String, &'static str);

impl<'a> Scanner<'a> {
    fn new(args: &'a [String]) -> Self {
        Scanner {
            args,
            next: 0,
            cluster: None,
            leftovers: Vec::new(),
            only_args: false,
        }
    }

    /// The next option, `Ok(None)` at the end, or popt's failure.
    fn next_opt(&mut self) -> Result<Option<Event>, PoptFailure> {
        loop {
            if let Some((rest, word)) = self.cluster.take() {
                let mut chars = rest.chars();
                let Some(c) = chars.next() else { continue };
                let rest: String = chars.collect();
                let Some(d) = OPTIONS.iter().find(|d| d.short == Some(c)) else {
                    return Err((word, "unknown option"));
                };
                let arg = match d.arg {
                    ArgKind::None => {
                        if !rest.is_empty() {
                            self.cluster = Some((rest, word.clone()));
                        }
                        None
                    }
                    _ if !rest.is_empty() => {
                        // popt takes the rest of the cluster as the argument,
                        // skipping one '=' ("-w=3").
                        Some(rest.strip_prefix('=').unwrap_or(&rest).to_owned())
                    }
                    ArgKind::Required => match self.args.get(self.next) {
                        Some(a) => {
                            self.next += 1;
                            Some(a.clone())
                        }
                        None => return Err((word, "missing argument")),
                    },
                    ArgKind::Optional => self.optional_arg(),
                };
                return Ok(Some(Event {
                    tag: d.tag,
                    word,
                    arg,
                }));
            }
            let Some(word) = self.args.get(self.next).cloned() else {
                return Ok(None);
            };
            self.next += 1;
            if self.only_args || word == "-" || !word.starts_with('-') {
                self.leftovers.push(word);
                continue;
            }
            if word == "--" {
                self.only_args = true;
                continue;
            }
            if let Some(long) = word.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_owned())),
                    None => (long, None),
                };
                let Some(d) = OPTIONS.iter().find(|d| d.long == name) else {
                    return Err((word, "unknown option"));
                };
                let arg = match (d.arg, inline) {
                    (ArgKind::None, Some(_)) => {
                        return Err((word, "option does not take an argument"))
                    }
                    (ArgKind::None, None) => None,
                    (_, Some(v)) => Some(v),
                    (ArgKind::Required, None) => match self.args.get(self.next) {
                        Some(a) => {
                            self.next += 1;
                            Some(a.clone())
                        }
                        None => return Err((word, "missing argument")),
                    },
                    (ArgKind::Optional, None) => self.optional_arg(),
                };
                return Ok(Some(Event {
                    tag: d.tag,
                    word,
                    arg,
                }));
            }
            self.cluster = Some((word[1..].to_owned(), word));
        }
    }

    /// An optional argument is the next word unless it looks like an option.
    fn optional_arg(&mut self) -> Option<String> {
        match self.args.get(self.next) {
            Some(a) if !a.starts_with('-') => {
                self.next += 1;
                Some(a.clone())
            }
            _ => None,
        }
    }
}

/// `string_to_number`: a whole `strtol` number within `min..=max`.
fn string_to_number(s: &str, min: i64, max: i64) -> Option<i64> {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = digits.parse().ok()?;
    let v = if neg { -v } else { v };
    (min..=max).contains(&v).then_some(v)
}

fn to_u32(v: i64) -> u32 {
    // Callers bound v to 0..=u32::MAX through string_to_number's range.
    u32::try_from(v).unwrap_or(0)
}

/// `atoi`: leading whitespace, optional sign, digits; 0 when none.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = rest
        .chars()
        .take_while(char::is_ascii_digit)
        .take(12)
        .collect();
    let v: i64 = digits.parse().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

fn parse_timeout(s: &str, min: u32) -> Result<u32, ParseError> {
    string_to_number(s, i64::from(min), i64::from(MAX_TIMEOUT))
        .map(to_u32)
        .ok_or_else(|| fail(format!("invalid timeout value `{s}' specified")))
}

fn parse_fwmark(s: &str) -> Result<u32, ParseError> {
    string_to_number(s, 1, i64::from(u32::MAX))
        .map(to_u32)
        .ok_or_else(|| fail(format!("invalid fwmark value `{s}' specified")))
}

/// What `parse_service` found: the address and the port if one was given.
struct AddrPort {
    addr: IpAddr,
    port: Option<u16>,
}

/// `parse_service`: host\[:port\], \[v6\]:port or a bare v6 address; names
/// resolve through `resolver`, the port name for `proto`.
fn parse_addr_port(
    buf: &str,
    proto: Option<Protocol>,
    resolver: &dyn Resolver,
) -> Option<AddrPort> {
    if buf.bytes().all(|b| b.is_ascii_digit()) {
        // A bare number is refused (str_is_digit), even "" .
        return None;
    }
    let (host, port_text) = if let Some(inner) = buf.strip_prefix('[') {
        let (h, after) = inner.split_once(']')?;
        (h, Some(after.strip_prefix(':')?))
    } else if buf.parse::<Ipv6Addr>().is_ok() {
        (buf, None)
    } else {
        match buf.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (buf, None),
        }
    };
    let addr = if let Ok(v6) = host.parse::<Ipv6Addr>() {
        IpAddr::V6(v6)
    } else if buf.starts_with('[') {
        // Brackets only frame IPv6 addresses.
        return None;
    } else {
        IpAddr::V4(inet_aton(host).or_else(|| resolver.host_to_addr(host))?)
    };
    let port = match port_text {
        None => None,
        Some(p) => Some(match string_to_number(p, 0, 65535) {
            Some(n) => u16::try_from(n).ok()?,
            None => resolver.service_to_port(p, proto?)?,
        }),
    };
    Some(AddrPort { addr, port })
}

/// The service as the scanner builds it, before the per-command checks.
#[derive(Default)]
struct Draft {
    key: Option<ServiceKey>,
    /// `-t`/`-u` protocol; fwmark services use TCP for port names.
    proto: Option<Protocol>,
    scheduler: String,
    persistent: Option<u32>,
    netmask: Option<PersistMask>,
    one_packet: bool,
    sched_flags_arg: Option<String>,
    rip: Option<IpAddr>,
    rport: u16,
    fwd: Option<FwdMethod>,
    weight: u32,
    u_threshold: u32,
    l_threshold: u32,
    format: Format,
}

impl Draft {
    fn svc_port(&self) -> u16 {
        self.key.map_or(0, |k| k.port())
    }

    fn svc_is_v6(&self) -> bool {
        self.key.is_some_and(|k| k.is_ipv6())
    }
}

fn set_option(options: &mut u64, opt: Opt) -> Result<(), ParseError> {
    if *options & opt.bit() != 0 {
        return Err(fail(format!("multiple '{}' options specified", opt.name())));
    }
    *options |= opt.bit();
    Ok(())
}

/// `parse_sched_flags`: comma-separated names, some only for `sh`/`mh`.
fn parse_sched_flags(sched: &str, arg: &str) -> Result<SchedFlags, ParseError> {
    let sched = if sched.is_empty() {
        DEFAULT_SCHEDULER
    } else {
        sched
    };
    let mut flags = SchedFlags::default();
    let mut any = false;
    for flag in arg.split(',').filter(|f| !f.is_empty()) {
        any = true;
        let only_for = |s: &str| {
            if sched == s {
                Ok(())
            } else {
                Err(fail(format!("incompatible scheduler flag `{flag}'")))
            }
        };
        match flag {
            "flag-1" => flags.flag1 = true,
            "flag-2" => flags.flag2 = true,
            "flag-3" => flags.flag3 = true,
            "sh-fallback" => {
                only_for("sh")?;
                flags.flag1 = true;
            }
            "sh-port" => {
                only_for("sh")?;
                flags.flag2 = true;
            }
            "mh-fallback" => {
                only_for("mh")?;
                flags.flag1 = true;
            }
            "mh-port" => {
                only_for("mh")?;
                flags.flag2 = true;
            }
            _ => return Err(fail(format!("invalid scheduler flag `{flag}'"))),
        }
    }
    if !any {
        return Err(fail(format!("invalid scheduler flag `{arg}'")));
    }
    Ok(flags)
}

/// Parses one ipvsadm command line. `args` excludes argv\[0\];
/// `reading_stdin` is set for lines read by `-R` (a nested `-R` is refused,
/// as ipvsadm does to avoid an endless loop).
pub fn parse(
    args: &[String],
    resolver: &dyn Resolver,
    reading_stdin: bool,
) -> Result<Command, ParseError> {
    if args.is_empty() {
        // ipvsadm with no argument lists the table.
        return Ok(Command::List(List {
            what: ListWhat::All,
            format: Format::default(),
        }));
    }
    let mut sc = Scanner::new(args);
    let first = match sc.next_opt() {
        Ok(Some(ev)) => ev,
        Ok(None) | Err(_) => return Err(ParseError::TryHelp),
    };
    let cmd = match first.tag {
        Tag::Cmd(c) => c,
        Tag::Help => return Ok(Command::Help),
        Tag::Version => return Ok(Command::Version),
        Tag::UnsupportedCmd(m) => return Err(ParseError::Unsupported(m.to_owned())),
        _ => return Err(ParseError::TryHelp),
    };

    let mut d = Draft {
        weight: 1,
        ..Draft::default()
    };
    let mut options: u64 = 0;
    loop {
        let ev = match sc.next_opt() {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err((word, reason)) => return Err(ParseError::Popt { word, reason }),
        };
        let arg = ev.arg.clone().unwrap_or_default();
        match ev.tag {
            Tag::Tcp | Tag::Udp => {
                set_option(&mut options, Opt::Service)?;
                let protocol = if ev.tag == Tag::Tcp {
                    Protocol::Tcp
                } else {
                    Protocol::Udp
                };
                d.proto = Some(protocol);
                let ap = parse_addr_port(&arg, Some(protocol), resolver)
                    .ok_or_else(|| fail("illegal virtual server address[:port] specified"))?;
                d.key = Some(ServiceKey::Addr {
                    protocol,
                    vip: ap.addr,
                    port: ap.port.unwrap_or(0),
                });
            }
            Tag::Fwmark => {
                set_option(&mut options, Opt::Service)?;
                d.proto = Some(Protocol::Tcp);
                d.key = Some(ServiceKey::Fwmark {
                    mark: parse_fwmark(&arg)?,
                    ipv6: false,
                });
            }
            Tag::Scheduler => {
                set_option(&mut options, Opt::Scheduler)?;
                // IP_VS_SCHEDNAME_MAXLEN is 16 with the NUL.
                d.scheduler = arg.chars().take(15).collect();
            }
            Tag::Persistent => {
                set_option(&mut options, Opt::Persistent)?;
                d.persistent = Some(match &ev.arg {
                    None => DEFAULT_PERSISTENT_TIMEOUT,
                    Some(a) => parse_timeout(a, 1)?,
                });
            }
            Tag::Netmask => {
                set_option(&mut options, Opt::Netmask)?;
                if d.svc_is_v6() {
                    let p = atoi(&arg);
                    if !(1..=128).contains(&p) {
                        return Err(fail("illegal ipv6 netmask specified"));
                    }
                    d.netmask = Some(PersistMask::V6(u8::try_from(p).unwrap_or(128)));
                } else {
                    let m = inet_aton(&arg)
                        .or_else(|| resolver.host_to_addr(&arg))
                        .ok_or_else(|| fail("illegal virtual server persistent mask specified"))?;
                    d.netmask = Some(PersistMask::V4(m));
                }
            }
            Tag::Server => {
                set_option(&mut options, Opt::Server)?;
                let ap = parse_addr_port(&arg, d.proto, resolver)
                    .ok_or_else(|| fail("illegal real server address[:port] specified"))?;
                d.rip = Some(ap.addr);
                // "copy vport to dport if not specified"
                d.rport = ap.port.unwrap_or_else(|| d.svc_port());
            }
            Tag::Masq | Tag::Ipip | Tag::Gatewaying | Tag::FullNat => {
                set_option(&mut options, Opt::Forward)?;
                d.fwd = Some(match ev.tag {
                    Tag::Masq => FwdMethod::Masq,
                    Tag::Ipip => FwdMethod::Tunnel,
                    Tag::FullNat => FwdMethod::FullNat,
                    _ => FwdMethod::Route,
                });
            }
            Tag::Weight => {
                set_option(&mut options, Opt::Weight)?;
                d.weight = string_to_number(&arg, 0, 65535)
                    .map(to_u32)
                    .ok_or_else(|| fail("illegal weight specified"))?;
            }
            Tag::UThreshold => {
                set_option(&mut options, Opt::UThreshold)?;
                d.u_threshold = string_to_number(&arg, 0, i64::from(i32::MAX))
                    .map(to_u32)
                    .ok_or_else(|| fail("illegal u_threshold specified"))?;
            }
            Tag::LThreshold => {
                set_option(&mut options, Opt::LThreshold)?;
                d.l_threshold = string_to_number(&arg, 0, i64::from(i32::MAX))
                    .map(to_u32)
                    .ok_or_else(|| fail("illegal l_threshold specified"))?;
            }
            Tag::Connection => set_option(&mut options, Opt::Connection)?,
            Tag::Numeric => {
                set_option(&mut options, Opt::Numeric)?;
                d.format.numeric = true;
            }
            Tag::Timeout => set_option(&mut options, Opt::Timeout)?,
            Tag::Daemon => set_option(&mut options, Opt::Daemon)?,
            Tag::Stats => {
                set_option(&mut options, Opt::Stats)?;
                d.format.stats = true;
            }
            Tag::Rate => {
                set_option(&mut options, Opt::Rate)?;
                d.format.rate = true;
            }
            Tag::Thresholds => {
                set_option(&mut options, Opt::Thresholds)?;
                d.format.thresholds = true;
            }
            Tag::PersistentConn => {
                set_option(&mut options, Opt::PersistentConn)?;
                d.format.persistent_conn = true;
            }
            Tag::NoSort => {
                set_option(&mut options, Opt::NoSort)?;
                d.format.nosort = true;
            }
            // "Sort is the default, this is a no-op for compatibility".
            Tag::Sort => {}
            Tag::Exact => {
                set_option(&mut options, Opt::Exact)?;
                d.format.exact = true;
            }
            Tag::Ipv6 => match d.key {
                Some(ServiceKey::Fwmark { mark, .. }) => {
                    d.key = Some(ServiceKey::Fwmark { mark, ipv6: true });
                    d.netmask = Some(PersistMask::V6(128));
                }
                // ipvsadm's message carries its own newline.
                _ => return Err(fail("-6 used before -f\n")),
            },
            Tag::Ops => {
                set_option(&mut options, Opt::Ops)?;
                d.one_packet = true;
            }
            Tag::SchedFlags => {
                set_option(&mut options, Opt::SchedFlags)?;
                d.sched_flags_arg = Some(arg);
            }
            Tag::TunInfo => {
                set_option(&mut options, Opt::TunInfo)?;
                d.format.tun_info = true;
            }
            Tag::Interfaces => set_option(&mut options, Opt::Interfaces)?,
            Tag::Routes => set_option(&mut options, Opt::Routes)?,
            Tag::Neighbours => set_option(&mut options, Opt::Neighbours)?,
            Tag::LocalAddrs => set_option(&mut options, Opt::LocalAddrs)?,
            Tag::Health => set_option(&mut options, Opt::Health)?,
            Tag::Unsupported(m) => return Err(ParseError::Unsupported(m.to_owned())),
            Tag::Cmd(_) | Tag::Help | Tag::Version | Tag::UnsupportedCmd(_) => {
                return Err(fail(format!("invalid option `{}'", ev.word)))
            }
        }
    }

    let mut leftovers = std::mem::take(&mut sc.leftovers).into_iter();
    let mut timeouts = Timeouts::default();
    if cmd == Cmd::SetTimeout {
        match (leftovers.next(), leftovers.next(), leftovers.next()) {
            (Some(tcp), Some(fin), Some(udp)) => {
                timeouts = Timeouts {
                    tcp: parse_timeout(&tcp, 0)?,
                    tcp_fin: parse_timeout(&fin, 0)?,
                    udp: parse_timeout(&udp, 0)?,
                };
            }
            _ => return Err(fail("--set option requires 3 timeout values")),
        }
    }
    if let Some(extra) = leftovers.next() {
        return Err(fail(format!("unexpected argument {extra}")));
    }
    let sched_flags = match &d.sched_flags_arg {
        Some(a) => parse_sched_flags(&d.scheduler, a)?,
        None => SchedFlags::default(),
    };

    generic_opt_check(cmd, options)?;

    let key = d.key;
    match cmd {
        Cmd::Add | Cmd::Edit => {
            let key = key.ok_or_else(|| fail("missing service"))?;
            if matches!(key, ServiceKey::Addr { port: 0, .. }) && d.persistent.is_none() {
                return Err(fail("Zero port specified for non-persistent service"));
            }
            if d.one_packet
                && !matches!(
                    key,
                    ServiceKey::Fwmark { .. }
                        | ServiceKey::Addr {
                            protocol: Protocol::Udp,
                            ..
                        }
                )
            {
                return Err(fail(
                    "One-Packet Scheduling is only for UDP virtual services",
                ));
            }
            let spec = ServiceSpec {
                key,
                scheduler: if d.scheduler.is_empty() {
                    DEFAULT_SCHEDULER.to_owned()
                } else {
                    d.scheduler.clone()
                },
                persistent: d.persistent,
                netmask: final_netmask(key, d.netmask),
                one_packet: d.one_packet,
                sched_flags,
            };
            Ok(if cmd == Cmd::Add {
                Command::AddService(spec)
            } else {
                Command::EditService(spec)
            })
        }
        Cmd::Del => Ok(Command::DelService(
            key.ok_or_else(|| fail("missing service"))?,
        )),
        Cmd::Flush => Ok(Command::Clear),
        Cmd::AddDest | Cmd::EditDest | Cmd::DelDest => {
            let service = key.ok_or_else(|| fail("missing service"))?;
            let rip = d.rip.ok_or_else(|| fail("missing real server"))?;
            let fwd = d.fwd.unwrap_or(FwdMethod::Route);
            if cmd == Cmd::DelDest {
                return Ok(Command::DelDest {
                    service,
                    rip,
                    port: d.rport,
                });
            }
            let mut port = d.rport;
            // DR and TUN cannot change the port; "Don't worry about this if
            // fwmark is used".
            if matches!(service, ServiceKey::Addr { .. }) && fwd.keeps_port() {
                port = service.port();
            }
            if rip.is_ipv6() != service.is_ipv6() && fwd != FwdMethod::Tunnel {
                return Err(fail(
                    "Different address family is allowed only for tunneling servers",
                ));
            }
            let dest = DestSpec {
                rip,
                port,
                fwd,
                weight: d.weight,
                u_threshold: d.u_threshold,
                l_threshold: d.l_threshold,
            };
            Ok(if cmd == Cmd::AddDest {
                Command::AddDest { service, dest }
            } else {
                Command::EditDest { service, dest }
            })
        }
        Cmd::List => {
            let conflicting_format = options
                & (Opt::Stats.bit()
                    | Opt::Rate.bit()
                    | Opt::Thresholds.bit()
                    | Opt::PersistentConn.bit())
                != 0;
            let non_service_listing = options
                & (Opt::Connection.bit()
                    | Opt::Timeout.bit()
                    | Opt::Daemon.bit()
                    | Opt::Interfaces.bit()
                    | Opt::Routes.bit()
                    | Opt::Neighbours.bit()
                    | Opt::LocalAddrs.bit()
                    | Opt::Health.bit())
                != 0;
            let c_or_t = options & (Opt::Connection.bit() | Opt::Timeout.bit() | Opt::Daemon.bit());
            let stats_like = options & (Opt::Stats.bit() | Opt::Rate.bit() | Opt::Thresholds.bit());
            let timeout_like = options & (Opt::Timeout.bit() | Opt::Daemon.bit());
            // ipvsadm's own rule, then the same rule for rvs's listings.
            if (c_or_t != 0 && stats_like != 0)
                || (timeout_like != 0 && options & Opt::PersistentConn.bit() != 0)
                || (non_service_listing && c_or_t == 0 && conflicting_format)
            {
                return Err(fail("options conflicts in the list command"));
            }
            let has = |o: Opt| options & o.bit() != 0;
            let what = if has(Opt::Connection) {
                ListWhat::Conns
            } else if let Some(k) = key {
                ListWhat::Service(k)
            } else if has(Opt::Timeout) {
                ListWhat::Timeouts
            } else if has(Opt::Daemon) {
                ListWhat::Daemon
            } else if has(Opt::Interfaces) {
                ListWhat::Interfaces
            } else if has(Opt::Routes) {
                ListWhat::Routes
            } else if has(Opt::Neighbours) {
                ListWhat::Neighbours
            } else if has(Opt::LocalAddrs) {
                ListWhat::LocalAddrs
            } else if has(Opt::Health) {
                ListWhat::Health
            } else {
                ListWhat::All
            };
            Ok(Command::List(List {
                what,
                format: d.format,
            }))
        }
        Cmd::SetTimeout => Ok(Command::SetTimeouts(timeouts)),
        Cmd::Restore => {
            if reading_stdin {
                Err(ParseError::TryHelp)
            } else {
                Ok(Command::Restore)
            }
        }
        Cmd::Save => Ok(Command::Save {
            numeric: d.format.numeric,
        }),
        Cmd::Zero => Ok(Command::Zero(key)),
    }
}

/// The persistence mask the kernel ends up with: the `-M` value of the
/// service's family, else the per-host default.
fn final_netmask(key: ServiceKey, given: Option<PersistMask>) -> PersistMask {
    match (key.is_ipv6(), given) {
        (false, Some(m @ PersistMask::V4(_))) | (true, Some(m @ PersistMask::V6(_))) => m,
        (v6, _) => PersistMask::host(v6),
    }
}

/// Splits `-R` input into command lines the way ipvsadm's config_stream
/// does: words separated by blanks, one command per line, the word
/// `ipvsadm` (and `rvsadm`) dropped wherever it appears, empty lines
/// skipped. Text from a word starting with `#` to the end of the line is a
/// comment (what config_stream documents; its scanner never actually sees
/// the `#`, a bug rvsadm does not copy).
pub fn restore_lines(input: &str) -> Vec<Vec<String>> {
    input
        .lines()
        .filter_map(|line| {
            let words: Vec<String> = line
                .split([' ', '\t', '\r'])
                .filter(|w| !w.is_empty())
                .take_while(|w| !w.starts_with('#'))
                .filter(|w| *w != "ipvsadm" && *w != "rvsadm")
                .map(str::to_owned)
                .collect();
            (!words.is_empty()).then_some(words)
        })
        .collect()
}
