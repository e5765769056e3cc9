//! keepalived.conf import: samples like those operators run (keepalived with
//! LVS-DR and a sorry server, a firewall-mark service, NAT with every
//! health key) become rvs services that the rvs config reader takes back,
//! and what rvs has no word for is named with its line.

use control::admin::ServiceKey;
use control::config::{CheckKindConfig, Config, MethodConfig};
use control::health::plan::Plan;
use control::keepalived::{import, Import};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

/// The imported block inside a minimal rvs config, parsed back.
fn round_trip(imp: &Import) -> Config {
    let block = imp.to_ron().unwrap();
    assert!(block.starts_with("services: ["), "{block}");
    let text = format!(
        "(\n    interfaces: [(name: \"lb0\", device: \"net_ring0\", addresses: [\"198.18.0.1/24\"])],\n    laddrs: [\"198.18.0.2\"],\n    {block})\n"
    );
    let c =
        Config::parse(&text, Path::new("imported.ron")).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(c.services, imp.services, "RON round trip changes nothing");
    c
}

fn has_note(imp: &Import, line: usize, words: &str) -> bool {
    imp.notes
        .iter()
        .any(|n| n.line == line && n.message.contains(words))
}

#[test]
fn dr_with_sorry_server_and_http_get() {
    let imp = import(&fixture("keepalived_dr.conf")).unwrap();
    assert_eq!(imp.services.len(), 1);
    let s = &imp.services[0];
    assert_eq!(s.tcp.as_deref(), Some("172.16.0.10:80"));
    assert_eq!(s.scheduler, "rr");
    assert_eq!(s.delay_loop, Some(3));
    assert_eq!(s.sorry_server.as_deref(), Some("127.0.0.1:80"));
    assert_eq!(s.dests.len(), 2);
    let d = &s.dests[0];
    assert_eq!(d.rip, "172.16.0.11:80");
    assert_eq!(d.method, MethodConfig::Dr);
    let c = d.check.as_ref().unwrap();
    assert_eq!(c.kind, CheckKindConfig::Http);
    assert_eq!(c.urls[0].path, "/");
    assert_eq!(c.urls[0].status_code, Some(200));
    assert_eq!(
        (c.connect_timeout, c.retry, c.delay_before_retry),
        (Some(1), Some(3), Some(1))
    );
    assert!(has_note(&imp, 2, "global_defs"), "{:?}", imp.notes);
    assert!(
        has_note(
            &imp,
            13,
            "unsupported key `vrrp_instance`: rvs does not do VRRP"
        ),
        "{:?}",
        imp.notes
    );
    let c = round_trip(&imp);
    let plan = Plan::from_config(&c).unwrap();
    let sp = &plan.services[0];
    assert_eq!(sp.dests[0].check.as_ref().unwrap().timing.retry, 3);
    assert!(sp.sorry.is_some());
}

#[test]
fn fwmark_service() {
    let imp = import(&fixture("keepalived_fwmark.conf")).unwrap();
    let s = &imp.services[0];
    assert_eq!(s.mark, Some(3));
    assert_eq!(s.tcp, None);
    assert_eq!(
        s.dests[1].check.as_ref().unwrap().urls[0].digest.as_deref(),
        Some("9e107d9d372bb6826bd81d3542a419d6")
    );
    assert!(has_note(&imp, 2, "rules"), "{:?}", imp.notes);
    assert!(
        has_note(&imp, 6, "unsupported key `nat_mask`"),
        "{:?}",
        imp.notes
    );
    let c = round_trip(&imp);
    let plan = Plan::from_config(&c).unwrap();
    assert_eq!(
        plan.services[0].key,
        ServiceKey::Fwmark {
            mark: 3,
            ipv6: false
        }
    );
}

#[test]
fn nat_with_every_health_key() {
    let imp = import(&fixture("keepalived_nat.conf")).unwrap();
    assert_eq!(imp.services.len(), 2, "the group service is skipped");
    let s = &imp.services[0];
    assert_eq!(s.persistent, Some(600));
    assert_eq!(s.netmask.as_deref(), Some("255.255.255.0"));
    assert_eq!(
        (s.quorum, s.hysteresis, s.alpha, s.omega),
        (Some(2), 1, true, true)
    );
    assert_eq!(s.quorum_up.as_deref(), Some("/bin/true quorum up"));
    let ssl = &s.dests[0];
    assert_eq!(ssl.weight, 100);
    assert_eq!(ssl.inhibit_on_failure, Some(true));
    assert_eq!(ssl.notify_up.as_deref(), Some("/bin/true up 172.18.1.11"));
    let c = ssl.check.as_ref().unwrap();
    assert_eq!(c.kind, CheckKindConfig::Https);
    assert_eq!(c.delay_before_retry, Some(2), "1.5 rounded up");
    let tcp = s.dests[1].check.as_ref().unwrap();
    assert_eq!(
        (tcp.kind, tcp.connect_port, tcp.warmup),
        (CheckKindConfig::Tcp, Some(6444), Some(5))
    );
    let misc = s.dests[2].check.as_ref().unwrap();
    assert_eq!(misc.misc_path.as_deref(), Some("/bin/true 172.18.1.13"));
    assert!(misc.misc_dynamic);
    let u = &imp.services[1];
    assert_eq!(u.udp.as_deref(), Some("10.23.8.80:53"));
    let uc = u.dests[0].check.as_ref().unwrap();
    assert_eq!(
        (uc.payload.as_deref(), uc.require_reply.as_deref()),
        (Some("00ff"), Some(""))
    );
    assert_eq!(
        u.dests[1].check.as_ref().unwrap().kind,
        CheckKindConfig::Ping
    );
    for (line, words) in [
        (14, "unsupported key `ha_suspend`"),
        (28, "1.5` rounded up"),
        (29, "unsupported key `bindto`"),
        (39, "unsupported key `SMTP_CHECK`"),
        (69, "virtual_server_group"),
        (73, "virtual_server group"),
    ] {
        assert!(
            has_note(&imp, line, words),
            "line {line}: {words}: {:?}",
            imp.notes
        );
    }
    let c = round_trip(&imp);
    let plan = Plan::from_config(&c).unwrap();
    assert_eq!(plan.services.len(), 2);
    assert!(plan.services[0].alpha);
}

#[test]
fn syntax_errors_name_the_line() {
    let e = import("virtual_server 10.0.0.1 80 {\n  lb_algo rr\n").unwrap_err();
    assert_eq!(e.line, 1);
    assert!(e.message.contains("not closed"), "{e}");
    let e = import("virtual_server 10.0.0.1 80 {\n  real_server 10.0.0.2 80 {\n weight x\n }\n}\n")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 3: `weight`: `x` is not a number in range"
    );
    let e = import("}\n").unwrap_err();
    assert_eq!(e.line, 1);
    let e = import("virtual_server 10.0.0.1 {\n}\n").unwrap_err();
    assert!(e.message.contains("needs a value"), "{e}");
    let imp = import("foo bar\n").unwrap();
    assert!(has_note(&imp, 1, "unsupported key `foo`"));
}
