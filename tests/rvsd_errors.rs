//! Bad input to rvsd gets one clear `rvsd: ...` line naming the cause and a
//! non-zero exit: never a panic, never a hang.

mod common;

use common::{eal_args, Rvsd};
use std::time::Duration;

/// Runs rvsd on `config` (outside any namespace: these fail before any
/// traffic) and returns its exit code and the `rvsd:` error line.
fn fails(tag: &str, config: &str) -> (i32, String) {
    fails_in(None, tag, config)
}

fn fails_in(ns: Option<&str>, tag: &str, config: &str) -> (i32, String) {
    let mut rvsd = Rvsd::start(ns, tag, config);
    let status = rvsd
        .wait_exit(Duration::from_secs(60))
        .expect("rvsd exits by itself");
    let log = rvsd.log();
    assert!(!log.contains("panicked"), "rvsd panicked:\n{log}");
    let line = log
        .lines()
        .rfind(|l| l.starts_with("rvsd: "))
        .unwrap_or_else(|| panic!("no `rvsd:` error line in:\n{log}"))
        .to_owned();
    (status.code().unwrap_or(-1), line)
}

fn config(tag: &str, eal_extra: &str, device: &str, workers: &str) -> String {
    let eal = eal_args(tag);
    let eal = if eal_extra.is_empty() {
        eal
    } else {
        eal.replacen('[', &format!("[{eal_extra}, "), 1)
    };
    format!(
        r#"(
    eal: {eal},
    interfaces: [(name: "lb0", device: "{device}", addresses: ["198.18.0.1/24"])],
    workers: {workers},
)"#
    )
}

#[test]
fn missing_config_file() {
    let out = common::run(&[common::rvsd_bin(), "--config", "/nonexistent/rvs.ron"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("rvsd: cannot read config /nonexistent/rvs.ron"),
        "{err}"
    );
}

#[test]
fn no_arguments_says_what_is_needed() {
    let out = common::run(&[common::rvsd_bin()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config FILE is required"));
}

#[test]
fn unknown_key_gives_line_and_column() {
    let c = config("unknown", "", "net_null0", "(lcores: [1])").replace("workers:", "wrokers:");
    let (code, line) = fails("unknown", &c);
    assert_eq!(code, 1);
    assert!(line.contains(":4:") && line.contains("wrokers"), "{line}");
}

#[test]
fn invalid_ron_syntax() {
    let (code, line) = fails(
        "syntax",
        "(interfaces: [(name: \"x\" device: \"net_null0\")])",
    );
    assert_eq!(code, 1);
    assert!(line.contains(":1:"), "{line}");
}

#[test]
fn bad_device_args() {
    let c = config(
        "baddev",
        "",
        "net_af_packet0,iface=rvs-no-such-if",
        "(lcores: [1])",
    );
    let (code, line) = fails("baddev", &c);
    assert_eq!(code, 1);
    assert!(
        line.contains("interface lb0") && line.contains("cannot create device net_af_packet0"),
        "{line}"
    );
}

#[test]
fn eal_that_fails_to_start() {
    let c = config(
        "badeal",
        r#""--no-such-eal-option""#,
        "net_null0",
        "(lcores: [1])",
    );
    let (code, line) = fails("badeal", &c);
    assert_eq!(code, 1);
    assert!(line.contains("EAL failed to start"), "{line}");
}

#[test]
fn port_that_fails_to_configure() {
    // Two workers need two queue pairs; net_af_packet has one unless told
    // `qpairs=2`. It binds to `lo` of a namespace made for this test.
    common::require_root();
    let mut ns = common::Netns::new();
    let name = ns.add(&format!("rvs-badport-{}", std::process::id()));
    let c = config(
        "badport",
        "",
        "net_af_packet0,iface=lo",
        "(lcores: [1, 2], cpus: [1, 1])",
    );
    let (code, line) = fails_in(Some(&name), "badport", &c);
    assert_eq!(code, 1);
    assert!(
        line.contains("interface lb0") && line.contains("queue pairs") && line.contains("qpairs=N"),
        "{line}"
    );
}

#[test]
fn check_mode_validates_without_starting() {
    let path = std::env::temp_dir().join(format!("rvs-check-{}.ron", std::process::id()));
    std::fs::write(&path, config("check", "", "net_null0", "(lcores: [1])")).unwrap();
    let out = common::run(&[
        common::rvsd_bin(),
        "--config",
        path.to_str().unwrap(),
        "--check",
    ]);
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration is valid"));
}
