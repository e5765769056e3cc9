//! rvsadm against ipvsadm 1.31: every command and option, every error
//! message, the output layouts (expected strings written from ipvsadm's
//! printf formats), the `-S` -> `-R` round trip, and whole runs against a
//! stand-in daemon.

use crate::app::{run, take_socket_option, Streams};
use crate::client::{ClientError, Transport};
use crate::format::{self, Format};
use crate::names::NameDb;
use crate::parse::{parse, restore_lines, Command, List, ListWhat, ParseError};
use control::admin::*;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const HOSTS: &str = "10.0.0.1 www\n10.0.0.9 a-very-long-host-name.example.com\n10.0.0.8 another-quite-long-name.example.org\n";
const SERVICES: &str = "http 80/tcp www\ndomain 53/udp\nhttps 443/tcp\n";

fn db() -> NameDb {
    NameDb::from_texts(HOSTS, SERVICES)
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

fn p(line: &str) -> Result<Command, ParseError> {
    parse(&words(line), &db(), false)
}

fn fail_msg(line: &str) -> String {
    match p(line) {
        Err(ParseError::Fail(m)) => m,
        other => panic!("{line}: expected a fail() error, got {other:?}"),
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn tcp(vip: IpAddr, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        vip,
        port,
    }
}

fn udp(vip: IpAddr, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Udp,
        vip,
        port,
    }
}

fn spec(key: ServiceKey, sched: &str) -> ServiceSpec {
    ServiceSpec {
        key,
        scheduler: sched.into(),
        persistent: None,
        netmask: PersistMask::host(key.is_ipv6()),
        one_packet: false,
        sched_flags: SchedFlags::default(),
    }
}

fn dest(rip: IpAddr, port: u16, fwd: FwdMethod, weight: u32) -> DestSpec {
    DestSpec {
        rip,
        port,
        fwd,
        weight,
        u_threshold: 0,
        l_threshold: 0,
    }
}

fn list(what: ListWhat, format: Format) -> Command {
    Command::List(List { what, format })
}

// ---------------------------------------------------------------- services

#[test]
fn add_service_forms() {
    let want = Command::AddService(spec(tcp(v4(10, 0, 0, 1), 80), "rr"));
    for line in [
        "-A -t 10.0.0.1:80 -s rr",
        "-At 10.0.0.1:80 -srr",
        "-At10.0.0.1:80 -s rr",
        "--add-service --tcp-service 10.0.0.1:80 --scheduler rr",
        "--add-service --tcp-service=10.0.0.1:80 --scheduler=rr",
        "-A -t www:http -s rr",
        "-A -t www:www -s rr",
        "-A -t 10.1:80 -s rr",
        "-A -s rr -t 10.0.0.1:80 --sort",
    ] {
        assert_eq!(p(line), Ok(want.clone()), "{line}");
    }
    assert_eq!(
        p("-A -t 10.0.0.1:80"),
        Ok(Command::AddService(spec(tcp(v4(10, 0, 0, 1), 80), "wlc")))
    );
    assert_eq!(
        p("-E -u 10.0.0.1:domain -s sed"),
        Ok(Command::EditService(spec(udp(v4(10, 0, 0, 1), 53), "sed")))
    );
}

#[test]
fn persistence_and_netmask() {
    let key = tcp(v4(10, 0, 0, 1), 0);
    let mut s = spec(key, "wlc");
    s.persistent = Some(360);
    // -p without a value is ipvsadm's IPVS_SVC_PERSISTENT_TIMEOUT, 6*60.
    assert_eq!(p("-A -t 10.0.0.1:0 -p"), Ok(Command::AddService(s.clone())));
    assert_eq!(p("-A -t 10.0.0.1 -p"), Ok(Command::AddService(s.clone())));
    assert_eq!(
        p("-A -t 10.0.0.1 -p -s wlc"),
        Ok(Command::AddService(s.clone()))
    );
    s.persistent = Some(600);
    s.netmask = PersistMask::V4(Ipv4Addr::new(255, 255, 255, 0));
    assert_eq!(
        p("-A -t 10.0.0.1 -p 600 -M 255.255.255.0"),
        Ok(Command::AddService(s.clone()))
    );
    assert_eq!(
        p("-A -t 10.0.0.1 --persistent=600 --netmask 255.255.255.0"),
        Ok(Command::AddService(s.clone()))
    );
    assert_eq!(
        p("-A -t 10.0.0.1 -p600 -M255.255.255.0"),
        Ok(Command::AddService(s))
    );
    assert_eq!(
        fail_msg("-A -t 10.0.0.1:0"),
        "Zero port specified for non-persistent service"
    );
    assert_eq!(
        fail_msg("-A -t 10.0.0.1:80 -p 0"),
        "invalid timeout value `0' specified"
    );
    assert_eq!(
        fail_msg("-A -t 10.0.0.1:80 -p 2678401"),
        "invalid timeout value `2678401' specified"
    );
    assert!(p("-A -t 10.0.0.1:80 -p 2678400").is_ok());
    assert_eq!(
        fail_msg("-A -t 10.0.0.1:80 -p -M not/a/mask"),
        "illegal virtual server persistent mask specified"
    );
}

#[test]
fn ipv6_services() {
    let vip = IpAddr::V6("2001:db8::1".parse::<Ipv6Addr>().unwrap());
    let mut s = spec(tcp(vip, 80), "rr");
    assert_eq!(
        p("-A -t [2001:db8::1]:80 -s rr"),
        Ok(Command::AddService(s.clone()))
    );
    s.persistent = Some(360);
    s.netmask = PersistMask::V6(64);
    assert_eq!(
        p("-A -t [2001:db8::1]:80 -s rr -p -M 64"),
        Ok(Command::AddService(s))
    );
    assert_eq!(
        fail_msg("-A -t [2001:db8::1]:80 -p -M 129"),
        "illegal ipv6 netmask specified"
    );
    assert_eq!(
        fail_msg("-A -t [2001:db8::1] -s rr"),
        "illegal virtual server address[:port] specified"
    );
    assert_eq!(
        fail_msg("-a -t [2001:db8::1]:80 -r 10.0.0.2 -m"),
        "Different address family is allowed only for tunneling servers"
    );
    assert!(matches!(
        p("-a -t [2001:db8::1]:80 -r 10.0.0.2 -i"),
        Ok(Command::AddDest { .. })
    ));
}

#[test]
fn fwmark_services_and_sched_flags() {
    let mut s = spec(
        ServiceKey::Fwmark {
            mark: 5,
            ipv6: true,
        },
        "sh",
    );
    s.sched_flags = SchedFlags {
        flag1: true,
        flag2: true,
        flag3: false,
    };
    assert_eq!(
        p("-A -f 5 -6 -s sh -b sh-port,sh-fallback"),
        Ok(Command::AddService(s))
    );
    let mut s = spec(
        ServiceKey::Fwmark {
            mark: 1,
            ipv6: false,
        },
        "rr",
    );
    s.sched_flags.flag3 = true;
    assert_eq!(p("-A -f 1 -s rr -b flag-3"), Ok(Command::AddService(s)));
    assert_eq!(
        fail_msg("-A -f 1 -s rr -b sh-port"),
        "incompatible scheduler flag `sh-port'"
    );
    // No -s: the flags are checked against the default scheduler, wlc.
    assert_eq!(
        fail_msg("-A -f 1 -b mh-port"),
        "incompatible scheduler flag `mh-port'"
    );
    assert!(p("-A -f 1 -s mh -b mh-port,mh-fallback").is_ok());
    assert_eq!(
        fail_msg("-A -f 1 -b bogus"),
        "invalid scheduler flag `bogus'"
    );
    assert_eq!(fail_msg("-A -f 0"), "invalid fwmark value `0' specified");
    assert_eq!(fail_msg("-A -f x1"), "invalid fwmark value `x1' specified");
    assert_eq!(
        fail_msg("-A -f 4294967296"),
        "invalid fwmark value `4294967296' specified"
    );
    assert_eq!(fail_msg("-A -t 10.0.0.1:80 -6"), "-6 used before -f\n");
}

#[test]
fn one_packet_scheduling() {
    let mut s = spec(udp(v4(10, 0, 0, 1), 53), "wlc");
    s.one_packet = true;
    assert_eq!(
        p("-A -u 10.0.0.1:53 -o"),
        Ok(Command::AddService(s.clone()))
    );
    assert_eq!(p("-A -u 10.0.0.1:53 --ops"), Ok(Command::AddService(s)));
    assert_eq!(
        fail_msg("-A -t 10.0.0.1:80 -o"),
        "One-Packet Scheduling is only for UDP virtual services"
    );
}

#[test]
fn bad_service_addresses() {
    for line in [
        "-A -t 80",
        "-A -t nohost:80",
        "-A -t 10.0.0.1:65536",
        "-A -t 10.0.0.1:nosuchservice",
        "-A -t 10.0.0.1:domain",
        "-A -t 999.0.0.1:80",
    ] {
        assert_eq!(
            fail_msg(line),
            "illegal virtual server address[:port] specified",
            "{line}"
        );
    }
}

#[test]
fn delete_clear_zero() {
    let k = tcp(v4(10, 0, 0, 1), 80);
    assert_eq!(p("-D -t 10.0.0.1:80"), Ok(Command::DelService(k)));
    assert_eq!(
        p("--delete-service -t 10.0.0.1:80"),
        Ok(Command::DelService(k))
    );
    assert_eq!(p("-C"), Ok(Command::Clear));
    assert_eq!(p("--clear"), Ok(Command::Clear));
    assert_eq!(p("-Z"), Ok(Command::Zero(None)));
    assert_eq!(p("-Z -t 10.0.0.1:80"), Ok(Command::Zero(Some(k))));
    assert_eq!(
        fail_msg("-D"),
        "You need to supply the 'service-address' option for the 'delete-service' command"
    );
    assert_eq!(
        fail_msg("-C -n"),
        "Illegal 'numeric' option with the 'flush' command"
    );
    assert_eq!(
        fail_msg("-D -t 10.0.0.1:80 -s rr"),
        "Illegal 'scheduler' option with the 'delete-service' command"
    );
    assert_eq!(
        fail_msg("-Z -t 10.0.0.1:80 --stats"),
        "Illegal 'stats' option with the 'zero' command"
    );
    assert_eq!(
        fail_msg("-A -t 10.0.0.1:80 -w 3"),
        "Illegal 'weight' option with the 'add-service' command"
    );
}

// ------------------------------------------------------------------- dests

#[test]
fn add_edit_delete_dest() {
    let k = tcp(v4(10, 0, 0, 1), 80);
    let r = v4(10, 0, 0, 2);
    // No port: the service port is copied.
    assert_eq!(
        p("-a -t 10.0.0.1:80 -r 10.0.0.2 -m -w 3"),
        Ok(Command::AddDest {
            service: k,
            dest: dest(r, 80, FwdMethod::Masq, 3)
        })
    );
    // NAT may map ports.
    assert_eq!(
        p("-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m"),
        Ok(Command::AddDest {
            service: k,
            dest: dest(r, 8080, FwdMethod::Masq, 1)
        })
    );
    // DR (the default) and TUN keep the service port.
    assert_eq!(
        p("-a -t 10.0.0.1:80 -r 10.0.0.2:8080"),
        Ok(Command::AddDest {
            service: k,
            dest: dest(r, 80, FwdMethod::Route, 1)
        })
    );
    assert_eq!(
        p("--add-server -t 10.0.0.1:80 --real-server 10.0.0.2:8080 --ipip"),
        Ok(Command::AddDest {
            service: k,
            dest: dest(r, 80, FwdMethod::Tunnel, 1)
        })
    );
    assert_eq!(
        p("-a -t 10.0.0.1:80 -r 10.0.0.2:8080 --gatewaying"),
        Ok(Command::AddDest {
            service: k,
            dest: dest(r, 80, FwdMethod::Route, 1)
        })
    );
    assert_eq!(
        p("-a -t 10.0.0.1:80 -r 10.0.0.2:8080 --fullnat -w 0"),
        Ok(Command::AddDest {
            service: k,
            dest: dest(r, 8080, FwdMethod::FullNat, 0)
        })
    );
    let mut d = dest(r, 8080, FwdMethod::Masq, 65535);
    d.u_threshold = 100;
    d.l_threshold = 50;
    assert_eq!(
        p("-e -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 65535 -x 100 -y 50"),
        Ok(Command::EditDest {
            service: k,
            dest: d
        })
    );
    assert_eq!(
        p("-d -t 10.0.0.1:80 -r 10.0.0.2:81"),
        Ok(Command::DelDest {
            service: k,
            rip: r,
            port: 81
        })
    );
    assert_eq!(
        p("-d -t 10.0.0.1:80 -r 10.0.0.2"),
        Ok(Command::DelDest {
            service: k,
            rip: r,
            port: 80
        })
    );
    // fwmark services: ports are left alone.
    assert_eq!(
        p("-a -f 3 -r 10.0.0.2:8080 -g"),
        Ok(Command::AddDest {
            service: ServiceKey::Fwmark {
                mark: 3,
                ipv6: false
            },
            dest: dest(r, 8080, FwdMethod::Route, 1)
        })
    );
}

#[test]
fn dest_errors() {
    assert_eq!(
        fail_msg("-a -t 10.0.0.1:80 -r 10.0.0.2 -w 65536"),
        "illegal weight specified"
    );
    assert_eq!(
        fail_msg("-a -t 10.0.0.1:80 -r 10.0.0.2 -w x"),
        "illegal weight specified"
    );
    assert_eq!(
        fail_msg("-a -t 10.0.0.1:80 -r 10.0.0.2 -x -1"),
        "illegal u_threshold specified"
    );
    assert_eq!(
        fail_msg("-a -t 10.0.0.1:80 -r 10.0.0.2 -y 2147483648"),
        "illegal l_threshold specified"
    );
    assert_eq!(
        fail_msg("-a -t 10.0.0.1:80"),
        "You need to supply the 'real-server' option for the 'add-server' command"
    );
    assert_eq!(
        fail_msg("-a -r 10.0.0.2"),
        "You need to supply the 'service-address' option for the 'add-server' command"
    );
    assert_eq!(
        fail_msg("-a -t 10.0.0.1:80 -r nohost"),
        "illegal real server address[:port] specified"
    );
    assert_eq!(
        fail_msg("-a -t 10.0.0.1:80 -r 10.0.0.2 -m -g"),
        "multiple 'forwarding-method' options specified"
    );
    assert_eq!(
        fail_msg("-a -t 10.0.0.1:80 -r 10.0.0.2 -m --fullnat"),
        "multiple 'forwarding-method' options specified"
    );
    assert_eq!(
        fail_msg("-d -t 10.0.0.1:80 -r 10.0.0.2 -w 2"),
        "Illegal 'weight' option with the 'delete-server' command"
    );
    assert_eq!(
        fail_msg("-a -t 10.0.0.1:80 -r 10.0.0.2 -s rr"),
        "Illegal 'scheduler' option with the 'add-server' command"
    );
    assert_eq!(
        fail_msg("-A -t 10.0.0.1:80 -t 10.0.0.2:80"),
        "multiple 'service-address' options specified"
    );
}

// ---------------------------------------------------------------- listings

#[test]
fn list_forms() {
    let n = Format {
        numeric: true,
        ..Format::default()
    };
    assert_eq!(p("-L"), Ok(list(ListWhat::All, Format::default())));
    assert_eq!(p("-l"), Ok(list(ListWhat::All, Format::default())));
    assert_eq!(p("-Ln"), Ok(list(ListWhat::All, n)));
    assert_eq!(p("--list --numeric"), Ok(list(ListWhat::All, n)));
    assert_eq!(
        parse(&[], &db(), false),
        Ok(list(ListWhat::All, Format::default()))
    );
    let all = Format {
        numeric: true,
        stats: true,
        rate: true,
        thresholds: true,
        persistent_conn: true,
        nosort: true,
        exact: true,
        tun_info: true,
    };
    assert_eq!(
        p("-L -n --stats --rate --thresholds --persistent-conn --nosort --exact --tun-info"),
        Ok(list(ListWhat::All, all))
    );
    assert_eq!(
        p("-Ln -t 10.0.0.1:80"),
        Ok(list(ListWhat::Service(tcp(v4(10, 0, 0, 1), 80)), n))
    );
    assert_eq!(p("-Lnc"), Ok(list(ListWhat::Conns, n)));
    assert_eq!(
        p("-L --timeout"),
        Ok(list(ListWhat::Timeouts, Format::default()))
    );
    assert_eq!(
        p("-L --daemon"),
        Ok(list(ListWhat::Daemon, Format::default()))
    );
    assert_eq!(
        p("-L --interfaces"),
        Ok(list(ListWhat::Interfaces, Format::default()))
    );
    assert_eq!(
        p("-L --routes"),
        Ok(list(ListWhat::Routes, Format::default()))
    );
    assert_eq!(
        p("-L --neighbours"),
        Ok(list(ListWhat::Neighbours, Format::default()))
    );
    assert_eq!(p("-L --laddrs -n"), Ok(list(ListWhat::LocalAddrs, n)));
    assert_eq!(
        p("-L --health"),
        Ok(list(ListWhat::Health, Format::default()))
    );
    assert_eq!(
        fail_msg("-L -c --stats"),
        "options conflicts in the list command"
    );
    assert_eq!(
        fail_msg("-L --timeout --persistent-conn"),
        "options conflicts in the list command"
    );
    assert_eq!(
        fail_msg("-L --routes --rate"),
        "options conflicts in the list command"
    );
    assert_eq!(
        fail_msg("-L -c --timeout"),
        "The option 'timeout' conflicts with the 'connection' option in the 'list' command"
    );
    assert_eq!(
        fail_msg("-L -c -t 10.0.0.1:80"),
        "The option 'service-address' conflicts with the 'connection' option in the 'list' command"
    );
    assert_eq!(
        fail_msg("-L -s rr"),
        "Illegal 'scheduler' option with the 'list' command"
    );
    assert_eq!(
        fail_msg("-L -b flag-1"),
        "Illegal 'sched-flags' option with the 'list' command"
    );
    assert_eq!(fail_msg("-L -n -n"), "multiple 'numeric' options specified");
}

#[test]
fn save_restore_set_help_version() {
    assert_eq!(p("-S"), Ok(Command::Save { numeric: false }));
    assert_eq!(p("-Sn"), Ok(Command::Save { numeric: true }));
    assert_eq!(p("--save -n"), Ok(Command::Save { numeric: true }));
    assert_eq!(
        fail_msg("-S --stats"),
        "Illegal 'stats' option with the 'save' command"
    );
    assert_eq!(p("-R"), Ok(Command::Restore));
    assert_eq!(p("--restore"), Ok(Command::Restore));
    assert_eq!(parse(&words("-R"), &db(), true), Err(ParseError::TryHelp));
    assert_eq!(
        p("--set 900 120 300"),
        Ok(Command::SetTimeouts(Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        }))
    );
    assert_eq!(
        p("--set 0 0 0"),
        Ok(Command::SetTimeouts(Timeouts::default()))
    );
    assert_eq!(
        fail_msg("--set 900 120"),
        "--set option requires 3 timeout values"
    );
    assert_eq!(
        fail_msg("--set 900 x 300"),
        "invalid timeout value `x' specified"
    );
    assert_eq!(fail_msg("--set 900 120 300 4"), "unexpected argument 4");
    assert_eq!(p("-h"), Ok(Command::Help));
    assert_eq!(p("--help"), Ok(Command::Help));
    assert_eq!(p("-v"), Ok(Command::Version));
    assert_eq!(p("--version"), Ok(Command::Version));
}

#[test]
fn option_scanning_errors() {
    // The command must come first.
    assert_eq!(p("-n -L"), Err(ParseError::TryHelp));
    assert_eq!(p("foo"), Err(ParseError::TryHelp));
    assert_eq!(p("-t 10.0.0.1:80 -A"), Err(ParseError::TryHelp));
    assert_eq!(p("--bogus"), Err(ParseError::TryHelp));
    // A second command is an invalid option.
    assert_eq!(fail_msg("-L -A"), "invalid option `-A'");
    assert_eq!(fail_msg("-LA"), "invalid option `-LA'");
    assert_eq!(fail_msg("-L extra"), "unexpected argument extra");
    assert_eq!(fail_msg("-C -- -n"), "unexpected argument -n");
    assert_eq!(
        p("-L --bogus"),
        Err(ParseError::Popt {
            word: "--bogus".into(),
            reason: "unknown option"
        })
    );
    assert_eq!(
        p("-Lq"),
        Err(ParseError::Popt {
            word: "-Lq".into(),
            reason: "unknown option"
        })
    );
    assert_eq!(
        p("-A -t"),
        Err(ParseError::Popt {
            word: "-t".into(),
            reason: "missing argument"
        })
    );
    assert_eq!(
        p("-L --numeric=1"),
        Err(ParseError::Popt {
            word: "--numeric=1".into(),
            reason: "option does not take an argument"
        })
    );
    for line in [
        "--start-daemon master",
        "-A -t 10.0.0.1:80 --pe sip",
        "-A --sctp-service 10.0.0.1:80",
        "-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue",
        "-L --syncid 3",
    ] {
        assert!(matches!(p(line), Err(ParseError::Unsupported(_))), "{line}");
    }
}

#[test]
fn error_rendering_and_exit_codes() {
    assert_eq!(
        ParseError::TryHelp.render("/sbin/rvsadm"),
        "Try `/sbin/rvsadm -h' or '/sbin/rvsadm --help' for more information.\n"
    );
    assert_eq!(ParseError::TryHelp.exit_code(), 255);
    let popt = ParseError::Popt {
        word: "--bogus".into(),
        reason: "unknown option",
    };
    assert_eq!(popt.render("rvsadm"), "--bogus: unknown option\n");
    assert_eq!(popt.exit_code(), 255);
    let f = ParseError::Fail("illegal weight specified".into());
    assert_eq!(f.render("rvsadm"), "illegal weight specified\n");
    assert_eq!(f.exit_code(), 2);
}

#[test]
fn commands_map_to_requests() {
    let k = tcp(v4(10, 0, 0, 1), 80);
    let cases: Vec<(&str, Option<Request>)> = vec![
        ("-C", Some(Request::Clear)),
        ("-L", Some(Request::ListServices { service: None })),
        ("-S", Some(Request::ListServices { service: None })),
        (
            "-L -t 10.0.0.1:80",
            Some(Request::ListServices { service: Some(k) }),
        ),
        ("-Lc", Some(Request::ListConns)),
        ("-L --timeout", Some(Request::GetTimeouts)),
        ("-L --daemon", None),
        ("-L --interfaces", Some(Request::ListInterfaces)),
        ("-L --routes", Some(Request::ListRoutes)),
        ("-L --neighbours", Some(Request::ListNeighbours)),
        ("-L --laddrs", Some(Request::ListLocalAddrs)),
        ("-L --health", Some(Request::HealthStatus)),
        ("-Z", Some(Request::Zero { service: None })),
        ("-D -t 10.0.0.1:80", Some(Request::DelService(k))),
        ("-h", None),
        ("-R", None),
    ];
    for (line, want) in cases {
        assert_eq!(p(line).unwrap().request(), want, "{line}");
    }
}

// ------------------------------------------------------------------ format

fn ds(rip: IpAddr, port: u16, fwd: FwdMethod, weight: u32, act: u32, inact: u32) -> Dest {
    Dest {
        spec: dest(rip, port, fwd, weight),
        active_conns: act,
        inact_conns: inact,
        persist_conns: 0,
        stats: Stats::default(),
        rates: Rates::default(),
    }
}

fn sample() -> Vec<Service> {
    let mut web = spec(tcp(v4(10, 0, 0, 1), 80), "rr");
    web.persistent = Some(360);
    web.netmask = PersistMask::V4(Ipv4Addr::new(255, 255, 255, 0));
    let mut mark = spec(
        ServiceKey::Fwmark {
            mark: 7,
            ipv6: false,
        },
        "sh",
    );
    mark.sched_flags = SchedFlags {
        flag1: true,
        flag2: true,
        flag3: false,
    };
    // Out of order on purpose: the listing sorts.
    vec![
        Service {
            spec: mark,
            stats: Stats::default(),
            rates: Rates::default(),
            dests: vec![ds(v4(10, 0, 0, 4), 0, FwdMethod::FullNat, 0, 1, 2)],
        },
        Service {
            spec: web,
            stats: Stats::default(),
            rates: Rates::default(),
            dests: vec![
                ds(v4(10, 0, 0, 3), 80, FwdMethod::Route, 1, 0, 0),
                ds(v4(10, 0, 0, 2), 8080, FwdMethod::Masq, 3, 12, 345),
            ],
        },
    ]
}

fn numeric() -> Format {
    Format {
        numeric: true,
        ..Format::default()
    }
}

#[test]
fn list_numeric_matches_ipvsadm() {
    let want = "IP Virtual Server version 1.2.1 (size=4096)\n\
Prot LocalAddress:Port Scheduler Flags\n\
\x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
TCP  10.0.0.1:80 rr persistent 360 mask 255.255.255.0\n\
\x20 -> 10.0.0.2:8080                Masq    3      12         345       \n\
\x20 -> 10.0.0.3:80                  Route   1      0          0         \n\
FWM  7 sh (sh-fallback,sh-port)\n\
\x20 -> 10.0.0.4:0                   FullNat 0      1          2         \n";
    assert_eq!(format::list_all(4096, &sample(), &numeric(), &db()), want);
}

#[test]
fn nosort_keeps_daemon_order() {
    let f = Format {
        numeric: true,
        nosort: true,
        ..Format::default()
    };
    let out = format::list_all(4096, &sample(), &f, &db());
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[3].starts_with("FWM  7 sh"));
    assert!(lines[5].starts_with("TCP  10.0.0.1:80 rr"));
    assert!(lines[6].starts_with("  -> 10.0.0.3:80"));
}

#[test]
fn list_one_service_has_no_version_header() {
    let svc = &sample()[1];
    let out = format::list_service(svc, &numeric(), &db());
    assert!(out.starts_with("Prot LocalAddress:Port Scheduler Flags\n"));
    assert_eq!(out.lines().count(), 5);
}

#[test]
fn names_are_resolved_and_cut_without_n() {
    let mut s = spec(tcp(v4(10, 0, 0, 1), 80), "rr");
    let svc = Service {
        spec: s.clone(),
        stats: Stats::default(),
        rates: Rates::default(),
        dests: vec![ds(v4(10, 0, 0, 3), 443, FwdMethod::Masq, 1, 0, 0)],
    };
    let out = format::list_service(&svc, &Format::default(), &db());
    assert!(out.contains("\nTCP  www:http rr\n"), "{out}");
    assert!(out.contains("\n  -> 10.0.0.3:https "), "{out}");

    s.key = tcp(v4(10, 0, 0, 9), 80);
    let svc = Service {
        spec: s,
        stats: Stats::default(),
        rates: Rates::default(),
        dests: vec![ds(v4(10, 0, 0, 8), 80, FwdMethod::Route, 1, 0, 0)],
    };
    let mut out = String::new();
    format::service_entry(&mut out, &svc, &Format::default(), false, &db());
    assert_eq!(
        out,
        "TCP  a-very-long-host-name.exampl rr\n  -> another-quite-long-name.exam Route   1      0          0         \n"
    );
}

#[test]
fn stats_listing_scales_numbers() {
    let mut svc = sample()[1].clone();
    svc.stats = Stats {
        conns: 123_456_789,
        inpkts: 99_999_999,
        outpkts: 1_500_000_000,
        inbytes: 250_000_000_000,
        outbytes: 123_456_789_012_345_678,
    };
    svc.dests.truncate(1);
    svc.dests[0].spec.rip = v4(10, 0, 0, 2);
    svc.dests[0].spec.port = 8080;
    svc.dests[0].stats = Stats {
        conns: 1,
        inpkts: 2,
        outpkts: 3,
        inbytes: 4,
        outbytes: 5,
    };
    let f = Format {
        numeric: true,
        stats: true,
        ..Format::default()
    };
    assert_eq!(
        format::list_service(&svc, &f, &db()),
        "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n  -> RemoteAddress:Port\nTCP  10.0.0.1:80                   123456K 99999999    1500M     250G  123456T\n  -> 10.0.0.2:8080                       1        2        3        4        5\n"
    );
    let mut out = String::new();
    let exact = Format { exact: true, ..f };
    format::service_entry(&mut out, &svc, &exact, false, &db());
    assert_eq!(
        out.lines().next().unwrap(),
        "TCP  10.0.0.1:80                  123456789 99999999 1500000000 250000000000 123456789012345678"
    );
}

#[test]
fn largenum_boundaries() {
    let cases = [
        (0, "        0"),
        (99_999_999, " 99999999"),
        (100_000_000, "  100000K"),
        (999_999_999, "  999999K"),
        (1_000_000_000, "    1000M"),
        (99_999_999_999, "   99999M"),
        (100_000_000_000, "     100G"),
        (99_999_999_999_999, "   99999G"),
        (100_000_000_000_000, "     100T"),
    ];
    for (n, want) in cases {
        let mut s = String::new();
        format::largenum(&mut s, n, false);
        assert_eq!(s, want, "{n}");
    }
    let mut s = String::new();
    format::largenum(&mut s, 12_345_678, true);
    format::largenum(&mut s, 123_456_789, true);
    assert_eq!(s, " 12345678 123456789");
}

fn udp_sample() -> Service {
    let mut d = ds(v4(10, 0, 0, 2), 53, FwdMethod::Tunnel, 2, 7, 8);
    d.spec.u_threshold = 100;
    d.spec.l_threshold = 50;
    d.persist_conns = 9;
    d.rates = Rates {
        cps: 1,
        inpps: 2,
        outpps: 300_000_000,
        inbps: 400_000_000,
        outbps: 5,
    };
    Service {
        spec: spec(udp(v4(10, 0, 0, 1), 53), "rr"),
        stats: Stats::default(),
        rates: Rates {
            cps: 10,
            inpps: 20,
            outpps: 30,
            inbps: 400_000_000,
            outbps: 5,
        },
        dests: vec![d],
    }
}

#[test]
fn rate_thresholds_persistent_conn_tun_info_listings() {
    let svc = udp_sample();
    let f = |m: fn(&mut Format)| {
        let mut f = numeric();
        m(&mut f);
        format::list_service(&svc, &f, &db())
    };
    assert_eq!(
        f(|f| f.rate = true),
        "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n  -> RemoteAddress:Port\nUDP  10.0.0.1:53                        10       20       30  400000K        5\n  -> 10.0.0.2:53                         1        2 300000000  400000K        5\n"
    );
    assert_eq!(
        f(|f| f.thresholds = true),
        "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n  -> RemoteAddress:Port\nUDP  10.0.0.1:53 rr\n  -> 10.0.0.2:53                  100        50         7          8         \n"
    );
    assert_eq!(
        f(|f| f.persistent_conn = true),
        "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n  -> RemoteAddress:Port\nUDP  10.0.0.1:53 rr\n  -> 10.0.0.2:53                  2         9           7          8         \n"
    );
    assert_eq!(
        f(|f| f.tun_info = true),
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\nUDP  10.0.0.1:53 rr\n  -> 10.0.0.2:53                  Tunnel  ipip          2      7          8         \n"
    );
}

#[test]
fn conn_listing_matches_ipvsadm() {
    let conns = vec![
        ConnEntry {
            protocol: ConnProtocol::Tcp,
            expires: 899,
            state: "ESTABLISHED".into(),
            cip: v4(192, 0, 2, 10),
            cport: 40000,
            vip: v4(10, 0, 0, 1),
            vport: 80,
            rip: v4(10, 0, 0, 2),
            rport: 8080,
        },
        ConnEntry {
            protocol: ConnProtocol::Udp,
            expires: 6005,
            state: "UDP".into(),
            cip: v4(192, 0, 2, 11),
            cport: 53000,
            vip: v4(10, 0, 0, 1),
            vport: 53,
            rip: v4(10, 0, 0, 2),
            rport: 53,
        },
    ];
    assert_eq!(
        format::conns(&conns, &numeric(), &db()),
        "IPVS connection entries\npro expire state       source             virtual            destination\nTCP 14:59  ESTABLISHED 192.0.2.10:40000   10.0.0.1:80        10.0.0.2:8080\nUDP 100:05 UDP         192.0.2.11:53000   10.0.0.1:53        10.0.0.2:53\n"
    );
    let pc = Format {
        persistent_conn: true,
        ..numeric()
    };
    assert!(format::conns(&[], &pc, &db()).ends_with(
        "pro expire state       source             virtual            destination        pe name          pe_data\n"
    ));
    let named = format::conns(&conns[..1], &Format::default(), &db());
    assert!(named.contains(" www:http "), "{named}");
}

#[test]
fn template_rows_match_ipvsadm() {
    // The templates IPVS makes for a port service, a port-0 service and a
    // firewall-mark service (mark 7), as /proc/net/ip_vs_conn gives them to
    // ipvsadm: state NONE, client port 0; IP and the mark as an address for
    // the mark service.
    let template = |protocol, vip, vport, rport| ConnEntry {
        protocol,
        expires: 359,
        state: "NONE".into(),
        cip: v4(192, 0, 2, 10),
        cport: 0,
        vip,
        vport,
        rip: v4(10, 0, 0, 2),
        rport,
    };
    let rows = [
        template(ConnProtocol::Tcp, v4(10, 0, 0, 1), 80, 8080),
        template(ConnProtocol::Tcp, v4(10, 0, 0, 1), 0, 0),
        template(ConnProtocol::Ip, v4(0, 0, 0, 7), 0, 0),
    ];
    assert_eq!(
        format::conns(&rows, &numeric(), &db()),
        "IPVS connection entries\npro expire state       source             virtual            destination\n\
         TCP 05:59  NONE        192.0.2.10:0       10.0.0.1:80        10.0.0.2:8080\n\
         TCP 05:59  NONE        192.0.2.10:0       10.0.0.1:0         10.0.0.2:0\n\
         IP  05:59  NONE        192.0.2.10:0       0.0.0.7:0          10.0.0.2:0\n"
    );
    // Without -n the hosts are named, but an IP row's ports are not (no
    // protocol to look them up under).
    let ip80 = template(ConnProtocol::Ip, v4(10, 0, 0, 1), 80, 80);
    let named = format::conns(&[ip80], &Format::default(), &db());
    assert!(named.contains(" www:80 "), "{named}");
}

#[test]
fn timeout_and_save_output() {
    assert_eq!(
        format::timeouts(&Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        }),
        "Timeout (tcp tcpfin udp): 900 120 300\n"
    );
    assert_eq!(
        format::save(&sample(), true, &db()),
        "-A -t 10.0.0.1:80 -s rr -p 360 -M 255.255.255.0\n\
-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 3\n\
-a -t 10.0.0.1:80 -r 10.0.0.3:80 -g -w 1\n\
-A -f 7 -s sh -b sh-fallback,sh-port\n\
-a -f 7 -r 10.0.0.4:0 --fullnat -w 0\n"
    );
    // Without -n, -S names hosts and ports too (ipvsadm-save passes -n).
    assert!(format::save(&sample(), false, &db()).starts_with("-A -t www:http -s rr"));
    let mut v6 = spec(
        ServiceKey::Fwmark {
            mark: 2,
            ipv6: true,
        },
        "wrr",
    );
    v6.persistent = Some(100);
    v6.netmask = PersistMask::V6(64);
    v6.one_packet = true;
    let svc = Service {
        spec: v6,
        stats: Stats::default(),
        rates: Rates::default(),
        dests: vec![],
    };
    assert_eq!(
        format::save(std::slice::from_ref(&svc), true, &db()),
        "-A -f 2 -6 -s wrr -p 100 -M 64 -o\n"
    );
    let mut out = String::new();
    format::service_entry(&mut out, &svc, &numeric(), false, &db());
    assert_eq!(out, "FWM  2 IPv6 wrr persistent 100 mask 64 ops\n");
}

#[test]
fn extension_listings() {
    let out = format::interfaces(&[InterfaceEntry {
        name: "wan0".into(),
        port: 0,
        mac: [2, 0, 0, 0, 0, 1],
        mtu: 1500,
        link_up: true,
        addrs: vec![
            (Ipv4Addr::new(10, 0, 0, 1), 24),
            (Ipv4Addr::new(10, 0, 0, 5), 32),
        ],
        rx_packets: 10,
        tx_packets: 20,
        dropped: 0,
    }]);
    assert_eq!(out.lines().count(), 2);
    assert!(out
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("wan0                0 02:00:00:00:00:01  1500 up  "));
    assert!(out.ends_with(" 10.0.0.1/24,10.0.0.5/32\n"));
    let out = format::routes(&[RouteEntry {
        prefix: Ipv4Addr::UNSPECIFIED,
        prefix_len: 0,
        gateway: Some(Ipv4Addr::new(10, 0, 0, 254)),
        interface: "wan0".into(),
    }]);
    assert_eq!(
        out,
        "Destination        Gateway         Interface\n0.0.0.0/0          10.0.0.254      wan0\n"
    );
    let out = format::neighbours(&[NeighbourEntry {
        ip: Ipv4Addr::new(10, 0, 0, 254),
        mac: None,
        interface: "wan0".into(),
        state: "INCOMPLETE".into(),
        age_secs: 3,
    }]);
    assert!(out.starts_with("Address         HWaddress         Interface        State      Age\n"));
    assert!(out.ends_with("10.0.0.254      (incomplete)      wan0             INCOMPLETE 3\n"));
    let out = format::neighbours(&[NeighbourEntry {
        ip: Ipv4Addr::new(10, 0, 0, 11),
        mac: Some([0x52, 0x54, 0, 0, 0, 0x0b]),
        interface: "server".into(),
        state: "REACHABLE".into(),
        age_secs: 12,
    }]);
    assert!(
        out.ends_with("10.0.0.11       52:54:00:00:00:0b server           REACHABLE  12\n"),
        "{out}"
    );
    let out = format::local_addrs(
        &[LocalAddrEntry {
            service: tcp(v4(10, 0, 0, 1), 80),
            lip: Ipv4Addr::new(10, 1, 0, 1),
            ports_in_use: 3,
        }],
        true,
        &db(),
    );
    assert!(out.ends_with("TCP  10.0.0.1:80                  10.1.0.1        3\n"));
    let out = format::health(
        &[HealthEntry {
            service: tcp(v4(10, 0, 0, 1), 80),
            rip: v4(10, 0, 0, 2),
            port: 80,
            checker: "tcp".into(),
            state: HealthState::Down,
            streak: 3,
            detail: "connection refused".into(),
        }],
        true,
        &db(),
    );
    assert!(
        out.contains(" 10.0.0.2:80                  tcp     DOWN    3      connection refused\n")
    );
}

// -------------------------------------------------------- save <-> restore

fn arb_key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        (any::<bool>(), any::<u32>(), any::<u16>()).prop_map(|(t, ip, port)| ServiceKey::Addr {
            protocol: if t { Protocol::Tcp } else { Protocol::Udp },
            vip: IpAddr::V4(Ipv4Addr::from(ip)),
            port,
        }),
        (any::<bool>(), any::<u128>(), any::<u16>()).prop_map(|(t, ip, port)| ServiceKey::Addr {
            protocol: if t { Protocol::Tcp } else { Protocol::Udp },
            vip: IpAddr::V6(Ipv6Addr::from(ip)),
            port,
        }),
        (1u32.., any::<bool>()).prop_map(|(mark, ipv6)| ServiceKey::Fwmark { mark, ipv6 }),
    ]
}

fn arb_service() -> impl Strategy<Value = Service> {
    (
        arb_key(),
        prop::sample::select(vec!["rr", "wrr", "lc", "wlc", "sh", "mh", "twos"]),
        prop::option::of(1u32..=MAX_TIMEOUT),
        any::<u32>(),
        1u8..=128,
        any::<(bool, bool, bool, bool)>(),
        prop::collection::vec(
            (
                any::<u32>(),
                any::<u128>(),
                any::<u16>(),
                0usize..4,
                0u32..=65535,
            ),
            0..4,
        ),
    )
        .prop_map(
            |(key, sched, persistent, mask, prefix, (f1, f2, f3, ops), raw)| {
                // Zero-port address services must be persistent to be legal.
                let persistent = match key {
                    ServiceKey::Addr { port: 0, .. } => persistent.or(Some(360)),
                    _ => persistent,
                };
                let netmask = match (persistent, key.is_ipv6()) {
                    (None, v6) => PersistMask::host(v6),
                    (Some(_), false) => PersistMask::V4(Ipv4Addr::from(mask)),
                    (Some(_), true) => PersistMask::V6(prefix),
                };
                // sh and mh have names for flag-1 and flag-2 only.
                let sched_flags = SchedFlags {
                    flag1: f1,
                    flag2: f2,
                    flag3: f3 && sched != "sh" && sched != "mh",
                };
                let one_packet = ops
                    && !matches!(
                        key,
                        ServiceKey::Addr {
                            protocol: Protocol::Tcp,
                            ..
                        }
                    );
                let mut dests: Vec<Dest> = Vec::new();
                for (ip4, ip6, port, fwd, weight) in raw {
                    let fwd = [
                        FwdMethod::Masq,
                        FwdMethod::Route,
                        FwdMethod::Tunnel,
                        FwdMethod::FullNat,
                    ][fwd];
                    let rip = if key.is_ipv6() {
                        IpAddr::V6(Ipv6Addr::from(ip6))
                    } else {
                        IpAddr::V4(Ipv4Addr::from(ip4))
                    };
                    let port = match key {
                        ServiceKey::Addr { port: vport, .. } if fwd.keeps_port() => vport,
                        _ => port,
                    };
                    if dests
                        .iter()
                        .any(|d| d.spec.rip == rip && d.spec.port == port)
                    {
                        continue;
                    }
                    dests.push(ds(rip, port, fwd, weight, 0, 0));
                }
                Service {
                    spec: ServiceSpec {
                        key,
                        scheduler: sched.to_owned(),
                        persistent,
                        netmask,
                        one_packet,
                        sched_flags,
                    },
                    stats: Stats::default(),
                    rates: Rates::default(),
                    dests,
                }
            },
        )
}

proptest! {
    #[test]
    fn save_output_parses_back_to_the_same_commands(svcs in prop::collection::vec(arb_service(), 0..4)) {
        let text = format::save(&svcs, true, &db());
        let parsed: Vec<Command> = restore_lines(&text)
            .iter()
            .map(|w| parse(w, &db(), true))
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let mut sorted: Vec<&Service> = svcs.iter().collect();
        sorted.sort_by_key(|s| s.spec.key.sort_key());
        let mut want = Vec::new();
        for s in sorted {
            want.push(Command::AddService(s.spec.clone()));
            let mut dests: Vec<&Dest> = s.dests.iter().collect();
            dests.sort_by_key(|d| (d.spec.rip, d.spec.port));
            for d in dests {
                want.push(Command::AddDest { service: s.spec.key, dest: d.spec });
            }
        }
        prop_assert_eq!(parsed, want, "{}", text);
    }

    #[test]
    fn parser_never_panics(line in prop::collection::vec(
        prop::sample::select(vec![
            "-A", "-E", "-D", "-C", "-R", "-S", "-a", "-e", "-d", "-L", "-Z", "--set",
            "-t", "-u", "-f", "-s", "-p", "-M", "-r", "-g", "-i", "-m", "--fullnat", "-w",
            "-x", "-y", "-n", "-c", "--stats", "--rate", "--exact", "--timeout", "-6",
            "10.0.0.1:80", "[::1]:80", "80", "rr", "255.255.255.0", "x", "-", "--", "-Ln",
            "-p300", "--weight=3", "sh-port", "-b", "0", "65536", "www:http", "[", "]:",
        ]),
        0..10,
    )) {
        let args: Vec<String> = line.iter().map(|s| (*s).to_owned()).collect();
        let _ = parse(&args, &db(), false);
    }
}

#[test]
fn ipvsadm_save_file_restores() {
    let file = "\
# written by ipvsadm-save -n
-A -t 192.168.1.100:80 -s wlc -p 300
-a -t 192.168.1.100:80 -r 192.168.1.11:80 -g -w 1
-a -t 192.168.1.100:80 -r 192.168.1.12:80 -g -w 2

-A -u 192.168.1.100:53 -s rr
-a -u 192.168.1.100:53 -r 192.168.1.11:53 -m -w 1
ipvsadm -A -f 1 -s sh -b sh-port
-a -f 1 -r 192.168.1.13:0 -g -w 1\r
";
    let lines = restore_lines(file);
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[5], words("-A -f 1 -s sh -b sh-port"));
    let cmds: Vec<Command> = lines
        .iter()
        .map(|w| parse(w, &db(), true).unwrap())
        .collect();
    let web = tcp(v4(192, 168, 1, 100), 80);
    let mut web_spec = spec(web, "wlc");
    web_spec.persistent = Some(300);
    assert_eq!(cmds[0], Command::AddService(web_spec));
    assert_eq!(
        cmds[2],
        Command::AddDest {
            service: web,
            dest: dest(v4(192, 168, 1, 12), 80, FwdMethod::Route, 2)
        }
    );
    assert_eq!(
        cmds[6],
        Command::AddDest {
            service: ServiceKey::Fwmark {
                mark: 1,
                ipv6: false
            },
            dest: dest(v4(192, 168, 1, 13), 0, FwdMethod::Route, 1)
        }
    );
}

// --------------------------------------------------------------- whole runs

/// How the stand-in daemon answers a request.
type Answer = Box<dyn FnMut(&Request) -> Result<Response, ClientError>>;

/// A stand-in rvsd: records requests, answers from a script.
struct FakeDaemon {
    seen: Vec<Request>,
    answer: Answer,
}

impl Transport for FakeDaemon {
    fn call(&mut self, request: Request) -> Result<Response, ClientError> {
        let r = (self.answer)(&request);
        self.seen.push(request);
        r
    }
}

fn fake(answer: impl FnMut(&Request) -> Result<Response, ClientError> + 'static) -> FakeDaemon {
    FakeDaemon {
        seen: Vec::new(),
        answer: Box::new(answer),
    }
}

fn run_line(line: &str, stdin: &str, daemon: &mut FakeDaemon) -> (i32, String, String) {
    let mut args = vec!["rvsadm".to_owned()];
    args.extend(words(line));
    let mut input = stdin.as_bytes();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run(
        &args,
        daemon,
        &db(),
        &mut Streams {
            stdin: &mut input,
            out: &mut out,
            err: &mut err,
        },
    );
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn run_lists_through_the_daemon() {
    let mut d = fake(|_| {
        Ok(Response::Services {
            conn_table_size: 4096,
            services: sample(),
        })
    });
    let (code, out, err) = run_line("-Ln", "", &mut d);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, format::list_all(4096, &sample(), &numeric(), &db()));
    assert_eq!(d.seen, vec![Request::ListServices { service: None }]);
    let (code, out, _) = run_line("-S -n", "", &mut d);
    assert_eq!(code, 0);
    assert!(out.starts_with("-A -t 10.0.0.1:80 -s rr -p 360"));
}

#[test]
fn run_reports_daemon_errors_like_ipvsadm() {
    let mut d = fake(|r| {
        Ok(Response::Error(match r {
            Request::AddDest { .. } => AdminError::ServiceNotDefined,
            _ => AdminError::NoSuchService,
        }))
    });
    let (code, out, err) = run_line("-a -t 10.0.0.1:80 -r 10.0.0.2", "", &mut d);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (255, "", "Service not defined\n")
    );
    let (code, _, err) = run_line("-L -t 10.0.0.1:80", "", &mut d);
    assert_eq!((code, err.as_str()), (1, "No such service\n"));
}

#[test]
fn run_without_daemon_says_so_and_exits_2() {
    let mut d = fake(|_| {
        Err(ClientError::Connect {
            path: "/run/rvs/rvsd.sock".into(),
            reason: "No such file or directory".into(),
            not_running: true,
        })
    });
    let (code, out, err) = run_line("-L", "", &mut d);
    assert_eq!(code, 2);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "rvsadm: cannot reach rvsd at /run/rvs/rvsd.sock: No such file or directory (is rvsd running?)\n"
    );
}

#[test]
fn run_help_version_and_parse_errors_need_no_daemon() {
    let mut d = fake(|_| panic!("no request expected"));
    let (code, out, _) = run_line("-h", "", &mut d);
    assert_eq!(code, 0);
    assert!(out.contains("Usage:\n  rvsadm -A|E virtual-service"));
    assert!(out.contains("rvs extensions"));
    assert!(out.contains("--fullnat"));
    let (code, out, _) = run_line("-v", "", &mut d);
    assert_eq!(code, 0);
    assert!(out.starts_with("rvsadm v"));
    let (code, _, err) = run_line("-a -t 10.0.0.1:80 -r 10.0.0.2 -w 99999", "", &mut d);
    assert_eq!((code, err.as_str()), (2, "illegal weight specified\n"));
    let (code, _, err) = run_line("-n", "", &mut d);
    assert_eq!(
        (code, err.as_str()),
        (
            255,
            "Try `rvsadm -h' or 'rvsadm --help' for more information.\n"
        )
    );
    let (code, out, err) = run_line("-L --daemon", "", &mut d);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    assert!(d.seen.is_empty());
}

#[test]
fn run_restore_sends_each_line_and_stops_on_bad_input() {
    let mut d = fake(|r| {
        Ok(match r {
            Request::AddService(s) if s.scheduler == "lc" => {
                Response::Error(AdminError::ServiceExists)
            }
            _ => Response::Done,
        })
    });
    let input =
        "-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.2:80 -s lc\n-a -t 10.0.0.1:80 -r 10.0.0.3 -m\n";
    let (code, _, err) = run_line("-R", input, &mut d);
    // A refused change is reported and the restore goes on.
    assert_eq!(err, "Service already exists\n");
    assert_eq!(code, 0);
    assert_eq!(d.seen.len(), 3);

    d.seen.clear();
    let input = "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.3 -w nine\n-C\n";
    let (code, _, err) = run_line("-R", input, &mut d);
    assert_eq!((code, err.as_str()), (2, "illegal weight specified\n"));
    assert_eq!(d.seen.len(), 1);

    d.seen.clear();
    let (code, _, _) = run_line("-R", "-R\n-C\n", &mut d);
    assert_eq!(code, 255);
    assert!(d.seen.is_empty());
}

#[test]
fn socket_option_is_taken_anywhere() {
    let args = words("rvsadm -L --socket /tmp/x.sock -n");
    let (rest, sock) = take_socket_option(&args).unwrap();
    assert_eq!(rest, words("rvsadm -L -n"));
    assert_eq!(sock.as_deref(), Some("/tmp/x.sock"));
    let (rest, sock) = take_socket_option(&words("rvsadm --socket=/s -C")).unwrap();
    assert_eq!((rest, sock.as_deref()), (words("rvsadm -C"), Some("/s")));
    assert!(take_socket_option(&words("rvsadm -L --socket")).is_err());
}
