//! Config services into the state, and SIGHUP reloads as differences.

use super::*;
use crate::config::ConfigError;
use crate::state::{Limits, ServiceEntry};
use std::path::Path;
use std::sync::Arc;

const BASE: &str = r#"
(
    interfaces: [(name: "lb0", device: "net_ring0", addresses: ["198.18.0.1/24"])],
    laddrs: ["198.18.0.100"],
    timeouts: (tcp: 600),
    max_dests: 8,
    services: [
        (
            tcp: "198.18.1.1:80",
            scheduler: "rr",
            dests: [
                (rip: "10.0.0.2:8080", method: nat, weight: 3),
                (rip: "10.0.0.3", method: dr),
            ],
        ),
        (
            udp: "198.18.1.1:53",
            scheduler: "sh",
            sched_flags: "sh-port",
            persistent: 60,
            netmask: "255.255.255.0",
            dests: [(rip: "10.0.0.4:53", method: fullnat, u_threshold: 10, l_threshold: 5)],
        ),
        (
            mark: 7,
            rules: [(vip: "198.18.2.0/24", protocol: tcp, ports: ["443", "8000-8099"])],
            dests: [(rip: "10.0.0.5", method: tun)],
        ),
    ],
)
"#;

fn config(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("rvsd.ron"))
}

fn part(text: &str) -> ServicePart {
    ServicePart::from_config(&config(text).unwrap()).unwrap()
}

fn state() -> State {
    State::new(Limits {
        workers: 1,
        max_dests: 8,
    })
}

fn tcp80() -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        vip: "198.18.1.1".parse().unwrap(),
        port: 80,
    }
}

fn udp53() -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Udp,
        vip: "198.18.1.1".parse().unwrap(),
        port: 53,
    }
}

fn slots(s: &ServiceEntry) -> Vec<(IpAddr, u32)> {
    s.dests.iter().map(|d| (d.spec.rip, d.slot)).collect()
}

#[test]
fn loads_services_like_rvsadm_requests() {
    let mut st = state();
    let p = part(BASE);
    let sum = load(&mut st, &p).unwrap();
    assert_eq!(sum.services_added, 3);
    assert_eq!(st.service_count(), 3);
    let web = st.service(&tcp80()).unwrap();
    // Config order is kept in the listing.
    let rips: Vec<String> = web.dests.iter().map(|d| d.spec.rip.to_string()).collect();
    assert_eq!(rips, ["10.0.0.2", "10.0.0.3"]);
    assert_eq!(web.dests[0].spec.port, 8080);
    assert_eq!(web.dests[0].spec.weight, 3);
    assert_eq!(web.dests[1].spec.port, 80, "DR dest takes the virtual port");
    let dns = st.service(&udp53()).unwrap();
    assert!(dns.spec.sched_flags.flag2);
    assert_eq!(dns.spec.persistent, Some(60));
    assert_eq!(dns.dests[0].spec.fwd, FwdMethod::FullNat);
    assert_eq!(st.shown_timeouts().tcp, 600);
    assert_eq!(st.shown_timeouts().udp, 300);
    let snap = st.snapshot(1, &crate::state::BaseParts::default()).unwrap();
    assert_eq!(snap.services.marks().len(), 1);
    assert_eq!(snap.services.marks()[0].ports, vec![443..=443, 8000..=8099]);
    assert_eq!(snap.laddrs, vec![Ipv4Addr::new(198, 18, 0, 100)]);
}

#[test]
fn reload_touches_only_the_differences() {
    let mut st = state();
    let old = part(BASE);
    load(&mut st, &old).unwrap();
    let dns_seed = Arc::clone(&st.service(&udp53()).unwrap().seed);
    let dns_slots = slots(st.service(&udp53()).unwrap());
    let web_slots = slots(st.service(&tcp80()).unwrap());
    let free = st.free_slots();
    // 10.0.0.3 leaves tcp/80, 10.0.0.2 gets weight 5; udp/53 untouched.
    let text = BASE
        .replace("                (rip: \"10.0.0.3\", method: dr),\n", "")
        .replace("weight: 3", "weight: 5");
    let new = part(&text);
    let sum = reload(&mut st, &old, &new).unwrap();
    assert_eq!(sum.dests_changed, 2);
    assert_eq!(sum.services_added + sum.services_removed, 0);
    let dns = st.service(&udp53()).unwrap();
    assert!(
        Arc::ptr_eq(&dns_seed, &dns.seed),
        "untouched service keeps its seed"
    );
    assert_eq!(slots(dns), dns_slots);
    let web = st.service(&tcp80()).unwrap();
    assert_eq!(web.dests.len(), 1);
    assert_eq!(
        web.dests[0].slot, web_slots[0].1,
        "edited dest keeps its slot"
    );
    assert_eq!(web.dests[0].spec.weight, 5);
    // The removed dest's slot is free again once its conns are gone (none).
    st.purge_trash();
    assert_eq!(st.free_slots(), free + 1);
    // Removing a service from the config removes it from the state.
    let text = BASE.replace("mark: 7,", "mark: 8,");
    let sum = reload(&mut st, &old, &part(&text)).unwrap();
    assert_eq!((sum.services_added, sum.services_removed), (1, 1));
    assert!(st
        .service(&ServiceKey::Fwmark {
            mark: 7,
            ipv6: false
        })
        .is_none());
    assert!(st.mark_rules().contains_key(&8) && !st.mark_rules().contains_key(&7));
}

#[test]
fn reload_is_all_or_nothing() {
    let mut st = state();
    let old = part(BASE);
    load(&mut st, &old).unwrap();
    let mut new = old.clone();
    let bad = DestSpec {
        rip: "10.0.0.9".parse().unwrap(),
        weight: 70_000,
        ..new.services[0].dests[0]
    };
    new.services[0].dests.push(bad);
    new.services[0].dests[0].weight = 9;
    new.services.remove(1);
    let e = reload(&mut st, &old, &new).unwrap_err();
    assert!(e.contains("service TCP 198.18.1.1:80"), "{e}");
    assert!(e.contains("illegal weight"), "{e}");
    assert!(st.service(&udp53()).is_some(), "nothing applied");
    assert_eq!(st.service(&tcp80()).unwrap().dests[0].spec.weight, 3);
}

#[test]
fn rvsadm_services_survive_a_reload() {
    let mut st = state();
    let old = part(BASE);
    load(&mut st, &old).unwrap();
    let extra = ServiceKey::Addr {
        protocol: Protocol::Tcp,
        vip: "198.18.1.9".parse().unwrap(),
        port: 22,
    };
    st.add_service(&ServiceSpec {
        key: extra,
        scheduler: "wlc".into(),
        persistent: None,
        netmask: PersistMask::host(false),
        one_packet: false,
        sched_flags: AdminFlags::default(),
    })
    .unwrap();
    let sum = reload(&mut st, &old, &old).unwrap();
    assert!(sum.is_empty(), "{sum:?}");
    assert!(st.service(&extra).is_some());
}

#[test]
fn config_errors_name_the_service_or_the_position() {
    let e = config(&BASE.replace("weight: 3", "weight: 70000"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("service TCP 198.18.1.1:80") && e.contains("illegal weight"),
        "{e}"
    );
    let e = config(&BASE.replace("scheduler: \"rr\"", "scheduler: \"rrr\""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown scheduler \"rrr\""), "{e}");
    let e = config(&BASE.replace("method: nat,", "methd: nat,")).unwrap_err();
    assert!(
        matches!(e, ConfigError::Parse { line: 12, .. }),
        "unknown dest key at its line: {e}"
    );
    assert!(e.to_string().contains("methd"), "{e}");
    let e = config(&BASE.replace(
        "tcp: \"198.18.1.1:80\",",
        "tcp: \"198.18.1.1:80\", udp: \"198.18.1.1:80\",",
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("exactly one of"), "{e}");
    let e = config(&BASE.replace("laddrs: [\"198.18.0.100\"],", ""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("FullNAT needs local addresses"), "{e}");
    let e = config(&BASE.replace("\"8000-8099\"", "\"8099-8000\""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("8099-8000"), "{e}");
    let e = config(&BASE.replace("max_dests: 8", "max_dests: 2"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_dests"), "{e}");
}
