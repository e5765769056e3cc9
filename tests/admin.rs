//! rvsadm against a running rvsd over the admin socket: ipvsadm's commands
//! change the service table live, errors read like ipvsadm's, -S output
//! restores with -R, SIGHUP applies the config file's difference, and the
//! socket is private (0600) and survives garbage.
//!
//! rvsd runs on a `net_ring` port (in-process rings: no traffic leaves it).

mod common;

use common::{eal_args, Rvsd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The rvsadm binary of this build (built on demand: it belongs to the
/// rvs-cli package, whose binaries cargo does not build for rvs's tests).
fn rvsadm_bin() -> PathBuf {
    let dir = Path::new(common::rvsd_bin())
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
        assert!(st.success());
    }
    bin
}

struct Admin {
    socket: String,
}

impl Admin {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(rvsadm_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run rvsadm")
    }

    fn ok(&self, args: &[&str]) -> String {
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

    fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        assert!(!out.status.success(), "rvsadm {args:?} should fail");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn restore(&self, input: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(rvsadm_bin())
            .args(["--socket", &self.socket, "-R"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("rvsadm -R");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        child.wait_with_output().expect("rvsadm -R")
    }
}

fn config(tag: &str, socket: &str, services: &str) -> String {
    format!(
        r#"(
    eal: {eal},
    interfaces: [(name: "lb0", device: "net_ring0", addresses: ["198.18.0.1/24"])],
    laddrs: ["198.18.0.200"],
    workers: (main_lcore: 0, lcores: [1], idle_sleep_us: 100),
    admin_socket: "{socket}",
    services: [{services}],
)"#,
        eal = eal_args(tag)
    )
}

const WEB: &str = r#"(tcp: "198.18.1.1:80", scheduler: "rr", dests: [(rip: "198.19.0.11:80", method: nat, weight: 1)])"#;

#[test]
fn ipvsadm_commands_change_the_running_table() {
    let dir = std::env::temp_dir().join(format!("rvs-admin-{}", std::process::id()));
    let socket = dir.join("rvsd.sock").to_string_lossy().into_owned();
    let mut rvsd = Rvsd::start(None, "admin", &config("admin", &socket, WEB));
    assert!(
        rvsd.wait_for("rvsd running", Duration::from_secs(30)),
        "rvsd did not start:\n{}",
        rvsd.log()
    );
    let admin = Admin {
        socket: socket.clone(),
    };

    // The socket is private to root.
    let mode = std::fs::metadata(&socket)
        .expect("socket exists")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o}");

    // The config's service, in ipvsadm's format.
    let list = admin.ok(&["-Ln"]);
    let lines: Vec<&str> = list.lines().collect();
    assert!(
        lines[0].starts_with("IP Virtual Server version 1.2.1 (size="),
        "{list}"
    );
    assert_eq!(lines[1], "Prot LocalAddress:Port Scheduler Flags");
    assert_eq!(
        lines[2].trim_end(),
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"
    );
    assert_eq!(lines[3].trim_end(), "TCP  198.18.1.1:80 rr");
    assert!(
        lines[4].starts_with("  -> 198.19.0.11:80") && lines[4].contains("Masq    1"),
        "{list}"
    );

    // Live changes, as with ipvsadm.
    admin.ok(&["-A", "-u", "198.18.1.1:53", "-s", "wrr"]);
    admin.ok(&[
        "-a",
        "-u",
        "198.18.1.1:53",
        "-r",
        "198.19.0.12:5353",
        "-m",
        "-w",
        "2",
    ]);
    admin.ok(&[
        "-a",
        "-u",
        "198.18.1.1:53",
        "-r",
        "198.19.0.13:5353",
        "--fullnat",
        "-w",
        "3",
    ]);
    admin.ok(&[
        "-e",
        "-t",
        "198.18.1.1:80",
        "-r",
        "198.19.0.11:80",
        "-m",
        "-w",
        "0",
    ]);
    let list = admin.ok(&["-Ln"]);
    assert!(list.contains("UDP  198.18.1.1:53 wrr"), "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("  -> 198.19.0.13:5353") && l.contains("FullNat 3")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with("  -> 198.19.0.11:80") && l.contains("Masq    0")),
        "{list}"
    );

    // The conn listing asks every worker; none has conns yet.
    let conns = admin.ok(&["-Lnc"]);
    assert_eq!(
        conns.lines().next(),
        Some("IPVS connection entries"),
        "{conns}"
    );
    assert_eq!(conns.lines().count(), 2, "header lines only: {conns}");

    // ipvsadm's errors and a non-zero exit.
    let (code, err) = admin.fails(&["-a", "-u", "198.18.1.1:53", "-r", "198.19.0.12:5353", "-m"]);
    assert!(
        code != 0 && err.contains("Destination already exists"),
        "{code} {err}"
    );
    let (_, err) = admin.fails(&["-D", "-t", "198.18.9.9:80"]);
    assert!(err.contains("No such service"), "{err}");
    let (_, err) = admin.fails(&["-a", "-t", "198.18.9.9:80", "-r", "198.19.0.11"]);
    assert!(err.contains("Service not defined"), "{err}");

    // -S then -C then -R gives back the same table.
    let before = admin.ok(&["-Ln"]);
    let saved = admin.ok(&["-S", "-n"]);
    assert!(saved.contains("-A -u 198.18.1.1:53 -s wrr"), "{saved}");
    admin.ok(&["-C"]);
    assert_eq!(admin.ok(&["-Ln"]).lines().count(), 3, "cleared");
    let out = admin.restore(&saved);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(admin.ok(&["-Ln"]), before);

    // Garbage on the socket gets an error and rvsd keeps serving.
    {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(&[0, 0, 0, 5, b'(', b'(', b'(', 0xff, 0xfe])
            .unwrap();
        let mut reply = [0u8; 4];
        s.read_exact(&mut reply).expect("an error reply");
    }
    assert_eq!(admin.ok(&["-Ln"]), before);

    // SIGHUP: the config file now holds a different service set.
    let new_cfg = config(
        "admin",
        &socket,
        r#"(tcp: "198.18.1.1:80", scheduler: "wlc", dests: [(rip: "198.19.0.11:80", method: nat, weight: 5)]),
           (tcp: "198.18.1.2:443", scheduler: "sh", dests: [(rip: "198.19.0.12:443", method: dr)])"#,
    );
    std::fs::write(&rvsd.config_path, &new_cfg).unwrap();
    common::must(&["kill", "-HUP", &rvsd.pid().to_string()]);
    assert!(
        rvsd.wait_for("reload applied", Duration::from_secs(10)),
        "{}",
        rvsd.log()
    );
    let list = admin.ok(&["-Ln"]);
    assert!(list.contains("TCP  198.18.1.1:80 wlc"), "{list}");
    assert!(list.contains("TCP  198.18.1.2:443 sh"), "{list}");
    // Services added by rvsadm are not the file's to remove.
    assert!(list.contains("UDP  198.18.1.1:53 wrr"), "{list}");

    // A broken config changes nothing.
    std::fs::write(
        &rvsd.config_path,
        new_cfg.replace("scheduler: \"sh\"", "scheduler: \"nope\""),
    )
    .unwrap();
    common::must(&["kill", "-HUP", &rvsd.pid().to_string()]);
    assert!(
        rvsd.wait_for("reload refused", Duration::from_secs(10)),
        "{}",
        rvsd.log()
    );
    assert_eq!(admin.ok(&["-Ln"]), list);

    let status = rvsd.terminate(Duration::from_secs(15)).expect("rvsd exits");
    assert!(status.success(), "{}", rvsd.log());
    assert!(
        !Path::new(&socket).exists(),
        "the socket is removed at exit"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
